#include "checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* The signed text: plain lines, so that anyone can check it with openssl cms. */
static int checkpoint_text(const char *station, uint64_t seq, const char *head, const char *time,
                           char *out, size_t n)
{
        return evd_snprintf(out, n,
                            "evidock audit checkpoint\nstation: %s\nseq: %llu\nhead: %s\n"
                            "time: %s\n",
                            station, (unsigned long long)seq, head, time);
}

static int latest(struct evd_txn *txn, json_t **ret)
{
        MDB_cursor *cur;
        MDB_val k, v;
        int rc;

        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_CHECKPOINTS), &cur);
        if (rc)
                return evd_mdb_errno(rc);
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (rc == 0) {
                *ret = json_loadb(v.mv_data, v.mv_size, 0, NULL);
                if (!*ret)
                        rc = MDB_CORRUPTED;
        }
        mdb_cursor_close(cur);
        return evd_mdb_errno(rc);
}

bool evd_checkpoint_due(struct evd_catalog *catalog, int64_t now, bool force)
{
        uint8_t hash[EVD_SHA256_LEN];
        struct evd_txn txn;
        json_t *last = NULL;
        uint64_t seq = 0, last_seq = 0;
        int64_t last_time = 0;
        bool due = false;

        if (evd_catalog_read_begin(catalog, &txn) < 0)
                return false;
        if (evd_audit_head(&txn, &seq, hash) == 0) {
                if (latest(&txn, &last) == 0) {
                        last_seq = (uint64_t)json_integer_value(json_object_get(last, "seq"));
                        (void)evd_time_parse(json_string_value(json_object_get(last, "time")) ?: "",
                                             &last_time);
                        json_decref(last);
                }
                /* The checkpoint's own audit entry is not news. */
                if (seq > last_seq + 1)
                        due = force || seq - last_seq >= EVD_CHECKPOINT_ENTRIES ||
                              now - last_time >= EVD_CHECKPOINT_MINUTES * 60;
        }
        evd_catalog_read_end(&txn);
        return due;
}

struct make_ctx {
        const struct evd_keys *keys;
        const char *station;
        const struct evd_actor *actor;
        json_t *record;
        struct evd_err *err;
};

static int make_fn(struct evd_txn *txn, void *p)
{
        struct make_ctx *c = p;
        uint8_t hash[EVD_SHA256_LEN], key[8], *sig = NULL;
        char head[EVD_SHA256_HEX], now[EVD_TIME_STR], fp[EVD_SHA256_HEX], text[512];
        MDB_val k = { 8, key }, v;
        size_t sig_len = 0;
        uint64_t seq;
        char *b64 = NULL, *dump = NULL;
        json_t *details = NULL;
        int r;

        json_decref(c->record);
        c->record = NULL;
        r = evd_audit_head(txn, &seq, hash);
        if (r < 0)
                return r;
        evd_hex(hash, sizeof(hash), head);
        evd_time_format(evd_clock_now(), now);
        if (checkpoint_text(c->station, seq, head, now, text, sizeof(text)) < 0)
                return evd_err_set(c->err, -ENAMETOOLONG, "station name too long");
        r = evd_keys_cms_sign(c->keys, text, strlen(text), &sig, &sig_len, c->err);
        if (r < 0)
                return r;
        evd_keys_fingerprint(evd_keys_cert(c->keys), fp);
        b64 = evd_b64_encode(sig, sig_len);
        c->record =
                json_pack("{sI ss ss ss ss ss}", "seq", (json_int_t)seq, "head", head, "time", now,
                          "station", c->station, "cert_sha256", fp, "signature", b64 ? b64 : "");
        dump = c->record ? json_dumps(c->record, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (!b64 || !dump) {
                r = -ENOMEM;
                goto out;
        }
        evd_be64_put(key, seq);
        v = (MDB_val){ strlen(dump), dump };
        r = evd_txn_put(txn, EVD_DB_CHECKPOINTS, &k, &v, 0);
        details = json_pack("{sI ss ss}", "seq", (json_int_t)seq, "head", head, "cert_sha256", fp);
        if (r == 0)
                r = details ? evd_audit_append(txn, c->actor, "audit.checkpoint", "", details, NULL)
                            : -ENOMEM;
out:
        json_decref(details);
        free(dump);
        free(b64);
        free(sig);
        return r;
}

int evd_checkpoint_make(struct evd_catalog *catalog, const struct evd_keys *keys,
                        const char *station, const struct evd_actor *actor, json_t **ret,
                        struct evd_err *err)
{
        struct make_ctx c = { .keys = keys, .station = station, .actor = actor, .err = err };
        int r = evd_catalog_write(catalog, make_fn, &c, err);

        if (r < 0 || !ret) {
                json_decref(c.record);
                return r;
        }
        (void)json_object_del(c.record, "signature");
        (void)json_object_del(c.record, "station");
        *ret = c.record;
        return 0;
}

/* The hash the audit entry seq carries now; -ENOENT when it is gone. */
static int entry_hash(struct evd_txn *txn, uint64_t seq, char out[EVD_SHA256_HEX])
{
        uint8_t key[8];
        MDB_val k = { 8, key }, v;
        json_t *e;
        int rc;

        evd_be64_put(key, seq);
        rc = mdb_get(txn->txn, evd_txn_dbi(txn, EVD_DB_AUDIT), &k, &v);
        if (rc)
                return evd_mdb_errno(rc);
        e = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        (void)snprintf(out, EVD_SHA256_HEX, "%s",
                       json_string_value(json_object_get(e, "hash")) ?: "");
        json_decref(e);
        return 0;
}

static int check_one(struct evd_txn *txn, json_t *cp, X509 *cert, struct evd_err *err)
{
        uint64_t seq = (uint64_t)json_integer_value(json_object_get(cp, "seq"));
        const char *head = json_string_value(json_object_get(cp, "head")) ?: "";
        const char *b64 = json_string_value(json_object_get(cp, "signature")) ?: "";
        char text[512], now_hash[EVD_SHA256_HEX];
        uint8_t *sig = NULL;
        size_t sig_len;
        int r;

        if (checkpoint_text(json_string_value(json_object_get(cp, "station")) ?: "", seq, head,
                            json_string_value(json_object_get(cp, "time")) ?: "", text,
                            sizeof(text)) < 0)
                return evd_err_set(err, -EBADMSG, "checkpoint %llu: unreadable",
                                   (unsigned long long)seq);
        if (cert) {
                if (evd_b64_decode(b64, &sig, &sig_len) < 0)
                        return evd_err_set(err, -EBADMSG, "checkpoint %llu: signature unreadable",
                                           (unsigned long long)seq);
                r = evd_keys_cms_verify(sig, sig_len, text, strlen(text), cert, NULL, err);
                free(sig);
                if (r < 0) {
                        char why[EVD_ERR_TEXT_MAX];

                        memcpy(why, err->text, sizeof(why));
                        return evd_err_set(err, -EBADMSG,
                                           "checkpoint %llu: signature does not verify (%s)",
                                           (unsigned long long)seq, why);
                }
        }
        r = entry_hash(txn, seq, now_hash);
        if (r == -ENOENT)
                return evd_err_set(err, -EBADMSG,
                                   "checkpoint %llu: audit entry %llu is gone: the log was cut "
                                   "short",
                                   (unsigned long long)seq, (unsigned long long)seq);
        if (r < 0)
                return evd_err_set(err, r, "audit entry %llu: %s", (unsigned long long)seq,
                                   strerror(-r));
        if (strcmp(now_hash, head) != 0)
                return evd_err_set(err, -EBADMSG,
                                   "checkpoint %llu: audit entry %llu no longer has the hash "
                                   "that was signed: history up to it was rewritten",
                                   (unsigned long long)seq, (unsigned long long)seq);
        return 0;
}

int evd_checkpoint_verify(struct evd_txn *txn, X509 *cert, uint64_t *ret_count,
                          uint64_t *ret_latest, struct evd_err *err)
{
        uint64_t count = 0, last = 0;
        MDB_cursor *cur;
        MDB_val k, v;
        int rc, r = 0;

        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_CHECKPOINTS), &cur);
        if (rc)
                return evd_err_set(err, evd_mdb_errno(rc), "checkpoints: %s", mdb_strerror(rc));
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                json_t *cp = json_loadb(v.mv_data, v.mv_size, 0, NULL);

                if (!cp) {
                        r = evd_err_set(err, -EBADMSG, "a checkpoint record is unreadable");
                        break;
                }
                r = check_one(txn, cp, cert, err);
                last = (uint64_t)json_integer_value(json_object_get(cp, "seq"));
                count++;
                json_decref(cp);
        }
        mdb_cursor_close(cur);
        if (r < 0)
                return r;
        *ret_count = count;
        *ret_latest = last;
        return 0;
}
