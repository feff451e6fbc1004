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

int evd_checkpoint_text_of(const json_t *cp, char *out, size_t n)
{
        return checkpoint_text(json_string_value(json_object_get(cp, "station")) ?: "",
                               (uint64_t)json_integer_value(json_object_get(cp, "seq")),
                               json_string_value(json_object_get(cp, "head")) ?: "",
                               json_string_value(json_object_get(cp, "time")) ?: "", out, n);
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

/* ---- the seals as the log shows them ---- */

struct seal_scan {
        struct evd_txn *txn;
        bool sealing;
        uint64_t since_seal;     /* entries since the last checkpoint entry */
        uint64_t first_unsealed; /* seq of the first entry after it (0: none yet) */
        int64_t first_time;      /* that entry's time */
        int64_t last_time;       /* the last entry's time */
        uint64_t *sealed;        /* the seqs checkpoint entries name, in order */
        size_t n_sealed, cap;
        struct evd_err *err;
};

static int note_sealed(struct seal_scan *c, uint64_t seq)
{
        if (c->n_sealed == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 64;
                uint64_t *n = realloc(c->sealed, cap * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                c->sealed = n;
                c->cap = cap;
        }
        c->sealed[c->n_sealed++] = seq;
        return 0;
}

/* An audit.checkpoint entry: its signed record must be there with the same head. */
static int seal_entry(struct seal_scan *c, uint64_t at, const json_t *e)
{
        const json_t *d = json_object_get(e, "details");
        uint64_t seq = (uint64_t)json_integer_value(json_object_get(d, "seq"));
        const char *head = json_string_value(json_object_get(d, "head")) ?: "";
        uint8_t key[8];
        MDB_val k = { 8, key }, v;
        json_t *rec;
        bool same;
        int rc;

        evd_be64_put(key, seq);
        rc = mdb_get(c->txn->txn, evd_txn_dbi(c->txn, EVD_DB_CHECKPOINTS), &k, &v);
        if (rc == MDB_NOTFOUND)
                return evd_err_set(c->err, -EBADMSG,
                                   "audit entry %llu: checkpoint %llu has no signed record: the "
                                   "checkpoints were removed",
                                   (unsigned long long)at, (unsigned long long)seq);
        if (rc)
                return evd_err_set(c->err, evd_mdb_errno(rc), "checkpoints: %s", mdb_strerror(rc));
        rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        same = rec && strcmp(json_string_value(json_object_get(rec, "head")) ?: "", head) == 0;
        json_decref(rec);
        if (!same)
                return evd_err_set(c->err, -EBADMSG,
                                   "audit entry %llu: checkpoint %llu's signed record seals "
                                   "another head",
                                   (unsigned long long)at, (unsigned long long)seq);
        return note_sealed(c, seq);
}

static int seal_step(struct seal_scan *c, uint64_t seq, const MDB_val *v)
{
        static const char cp[] = "\"event\":\"audit.checkpoint\"";
        static const char keys[] = "\"event\":\"keys.created\"";
        static const char tm[] = "\"time\":\"";
        const char *t = NULL, *next, *end = (const char *)v->mv_data + v->mv_size;
        char when[EVD_TIME_STR] = "";
        int64_t at = 0;
        int r = 0;

        /* The entry's own time is its last key (sorted): details may hold others. The
         * last is looked for from the end, where it is. */
        for (next = end;
             (next = memrchr(v->mv_data, '"', (size_t)(next - (const char *)v->mv_data)));)
                if ((size_t)(end - next) >= sizeof(tm) - 1 &&
                    memcmp(next, tm, sizeof(tm) - 1) == 0) {
                        t = next;
                        break;
                }
        if (t && (size_t)(end - t) > sizeof(tm) + 20) {
                t += sizeof(tm) - 1;
                (void)snprintf(when, sizeof(when), "%.*s", (int)strcspn(t, "\""), t);
                if (evd_time_parse(when, &at) == 0)
                        c->last_time = at;
        }
        if (memmem(v->mv_data, v->mv_size, cp, sizeof(cp) - 1)) {
                json_t *e = json_loadb(v->mv_data, v->mv_size, 0, NULL);

                r = e ? seal_entry(c, seq, e) : 0;
                json_decref(e);
                c->sealing = true;
                c->since_seal = 0;
                c->first_unsealed = 0;
                return r;
        }
        if (!c->sealing && memmem(v->mv_data, v->mv_size, keys, sizeof(keys) - 1))
                c->sealing = true;
        if (!c->sealing)
                return 0;
        if (c->first_unsealed == 0) {
                c->first_unsealed = seq;
                c->first_time = c->last_time;
        }
        if (++c->since_seal > EVD_CHECKPOINT_SLACK_ENTRIES)
                return evd_err_set(c->err, -EBADMSG,
                                   "audit entries %llu to %llu: more than %d entries without a "
                                   "checkpoint: checkpoints were removed",
                                   (unsigned long long)c->first_unsealed, (unsigned long long)seq,
                                   EVD_CHECKPOINT_SLACK_ENTRIES);
        return 0;
}

static int u64_cmp(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

/* Every signed record must have the audit entry that announced it. */
static int records_announced(struct seal_scan *c)
{
        MDB_cursor *cur;
        MDB_val k, v;
        int rc, r = 0;

        if (c->n_sealed) /* qsort's array may not be NULL, even empty */
                qsort(c->sealed, c->n_sealed, sizeof(*c->sealed), u64_cmp);
        rc = mdb_cursor_open(c->txn->txn, evd_txn_dbi(c->txn, EVD_DB_CHECKPOINTS), &cur);
        if (rc)
                return evd_err_set(c->err, evd_mdb_errno(rc), "checkpoints: %s", mdb_strerror(rc));
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                uint64_t seq = k.mv_size == 8 ? evd_be64_get(k.mv_data) : 0;

                if (!c->n_sealed || !bsearch(&seq, c->sealed, c->n_sealed, sizeof(seq), u64_cmp))
                        r = evd_err_set(c->err, -EBADMSG,
                                        "checkpoint %llu: no audit.checkpoint entry announces "
                                        "it: the log was rewritten",
                                        (unsigned long long)seq);
        }
        mdb_cursor_close(cur);
        return r;
}

int evd_checkpoint_verify_log(struct evd_txn *txn, bool key_expected, bool *ret_sealing,
                              struct evd_err *err)
{
        struct seal_scan c = { .txn = txn, .sealing = key_expected, .err = err };
        MDB_cursor *cur;
        MDB_val k, v;
        int rc, r = 0;

        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_AUDIT), &cur);
        if (rc)
                return evd_err_set(err, evd_mdb_errno(rc), "audit: %s", mdb_strerror(rc));
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
                r = seal_step(&c, k.mv_size == 8 ? evd_be64_get(k.mv_data) : 0, &v);
        mdb_cursor_close(cur);
        if (r == 0 && c.first_unsealed &&
            c.last_time - c.first_time > EVD_CHECKPOINT_SLACK_MINUTES * 60)
                r = evd_err_set(err, -EBADMSG,
                                "audit entries from %llu on span more than %d minutes without a "
                                "checkpoint: checkpoints were removed",
                                (unsigned long long)c.first_unsealed, EVD_CHECKPOINT_SLACK_MINUTES);
        if (r == 0)
                r = records_announced(&c);
        free(c.sealed);
        *ret_sealing = c.sealing;
        return r;
}

int evd_checkpoint_list(struct evd_txn *txn, json_t **ret)
{
        json_t *out = json_array();
        MDB_cursor *cur;
        MDB_val k, v;
        int rc;

        if (!out)
                return -ENOMEM;
        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_CHECKPOINTS), &cur);
        for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                json_t *cp = json_loadb(v.mv_data, v.mv_size, 0, NULL);

                if (cp)
                        (void)json_array_append_new(
                                out,
                                json_pack("{sO sO sO sO sO}", "seq", json_object_get(cp, "seq"),
                                          "head", json_object_get(cp, "head"), "time",
                                          json_object_get(cp, "time"), "cert_sha256",
                                          json_object_get(cp, "cert_sha256"), "signature",
                                          json_object_get(cp, "signature")));
                json_decref(cp);
        }
        if (cur)
                mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND) {
                json_decref(out);
                return evd_mdb_errno(rc);
        }
        *ret = out;
        return 0;
}

int evd_checkpoint_check_anchors(struct evd_txn *txn, const json_t *anchors, struct evd_err *err)
{
        const json_t *a;
        size_t i;

        json_array_foreach(anchors, i, a)
        {
                uint64_t seq = (uint64_t)json_integer_value(json_object_get(a, "seq"));
                const char *head = json_string_value(json_object_get(a, "head")) ?: "";
                char now[EVD_SHA256_HEX];
                int r = entry_hash(txn, seq, now);

                if (r == -ENOENT)
                        return evd_err_set(err, -EBADMSG,
                                           "anchor %llu: audit entry %llu is gone: the log was "
                                           "cut short",
                                           (unsigned long long)seq, (unsigned long long)seq);
                if (r < 0)
                        return evd_err_set(err, r, "audit entry %llu: %s", (unsigned long long)seq,
                                           strerror(-r));
                if (strcmp(now, head) != 0)
                        return evd_err_set(err, -EBADMSG,
                                           "anchor %llu: audit entry %llu no longer has the hash "
                                           "kept elsewhere: the log was rewritten",
                                           (unsigned long long)seq, (unsigned long long)seq);
        }
        return 0;
}
