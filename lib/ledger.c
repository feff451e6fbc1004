#include "ledger.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "jscan.h"

#define IDS_MAX (1ull << 32) /* a next_item_id past this is not a catalogue's */
#define LABELS_TEXT_MAX 4096 /* longer labels are hashed from their parsed form */

enum {
        F_STORED = 1 << 0,
        F_HOLD = 1 << 1,
        F_EVIDENCE = 1 << 2,
        F_PURGED = 1 << 3,
        F_RETAIN = 1 << 4, /* retain is known from the log */
        F_LABELS = 1 << 5, /* labels is known from the log */
        F_SEEN = 1 << 6,   /* a record was found in the catalogue */
};

struct slot {
        int64_t retain;  /* INT64_MAX: kept permanently (null) */
        uint64_t labels; /* the first 8 bytes of SHA-256 over the canonical labels */
        uint64_t stored_seq;
        uint8_t flags;
};

struct evd_ledger {
        struct slot *slots; /* [0, n]; slot 0 unused */
        uint64_t n;
        json_t *problems; /* [{id, error}] found while replaying */
        EVP_MD *sha256;   /* fetched once: the labels' hashes */
        EVP_MD_CTX *ctx;
};

void evd_ledger_free(struct evd_ledger *ledger)
{
        if (!ledger)
                return;
        free(ledger->slots);
        json_decref(ledger->problems);
        EVP_MD_CTX_free(ledger->ctx);
        EVP_MD_free(ledger->sha256);
        free(ledger);
}

static int retain_value(const json_t *v, int64_t *ret)
{
        if (json_is_null(v)) {
                *ret = INT64_MAX;
                return 0;
        }
        return json_is_string(v) ? evd_time_parse(json_string_value(v), ret) : -EINVAL;
}

/* retain_value on a value's text: EVD_JSCAN_UNSURE where the two could differ. */
static int retain_raw(struct evd_jscan_span v, int64_t *ret)
{
        char text[128];
        int r;

        if (evd_jscan_is_null(v)) {
                *ret = INT64_MAX;
                return 0;
        }
        r = evd_jscan_string(v, text, sizeof(text));
        return r == 0 ? evd_time_parse(text, ret) : r;
}

/* The first 8 bytes of SHA-256 over text, with the ledger's digest (fetched once). */
static uint64_t text_hash(const struct evd_ledger *l, const char *text, size_t n)
{
        uint8_t md[EVP_MAX_MD_SIZE];

        if (!EVP_DigestInit_ex(l->ctx, l->sha256, NULL) || !EVP_DigestUpdate(l->ctx, text, n) ||
            !EVP_DigestFinal_ex(l->ctx, md, NULL))
                return 0;
        return evd_be64_get(md);
}

static uint64_t labels_hash(const struct evd_ledger *l, const json_t *labels)
{
        char *text = json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII |
                                                JSON_ENCODE_ANY);
        uint64_t h;

        if (!text)
                return 0;
        h = text_hash(l, text, strlen(text));
        free(text);
        return h;
}

/* labels_hash on a value's text (absent: 0, as json_dumps(NULL) gives nothing). */
static int labels_hash_raw(const struct evd_ledger *l, struct evd_jscan_span v, uint64_t *ret)
{
        char text[LABELS_TEXT_MAX];
        size_t n;

        if (!v.p) {
                *ret = 0;
                return 0;
        }
        if (evd_jscan_canonical(v, text, sizeof(text), &n) < 0)
                return EVD_JSCAN_UNSURE;
        *ret = text_hash(l, text, n);
        return 0;
}

static void problem(struct evd_ledger *l, uint64_t id, uint64_t seq, const char *what)
{
        char text[256];

        (void)snprintf(text, sizeof(text), "audit entry %llu: %s", (unsigned long long)seq, what);
        if (json_array_size(l->problems) < 1000)
                (void)json_array_append_new(
                        l->problems, json_pack("{sI ss}", "id", (json_int_t)id, "error", text));
}

/* What one item.* entry says, read either from its parsed form or from its text. */
enum change_kind {
        C_NONE,
        C_STORED,
        C_HELD,
        C_RELEASED,
        C_EVIDENCE,
        C_LABELLED,
        C_NOTED,
        C_PURGED
};

struct change {
        enum change_kind kind;
        uint64_t id;
        bool hold, evidence; /* item.stored's */
        bool has_labels;     /* item.stored's "labels" or item.labelled's "new" */
        uint64_t labels;
        bool has_retain; /* "retain_until" is there */
        int retain_rc;   /* retain_value's result */
        int64_t retain;
};

static enum change_kind kind_of(const char *ev)
{
        static const char *const names[] = { "item.stored",   "item.held",     "item.released",
                                             "item.evidence", "item.labelled", "item.noted",
                                             "item.purged" };

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(ev, names[i]) == 0)
                        return (enum change_kind)(C_STORED + i);
        return C_NONE;
}

static void change_of_json(const struct evd_ledger *l, const json_t *e, struct change *c)
{
        const json_t *d = json_object_get(e, "details"), *v;

        *c = (struct change){ .kind = kind_of(json_string_value(json_object_get(e, "event"))
                                                      ?: "") };
        c->id = (uint64_t)json_integer_value(json_object_get(d, "id"));
        c->hold = json_is_true(json_object_get(d, "hold"));
        c->evidence = json_is_true(json_object_get(d, "evidence"));
        v = json_object_get(d, c->kind == C_STORED ? "labels" : "new");
        if (v && (c->kind == C_STORED || c->kind == C_LABELLED)) {
                c->has_labels = true;
                c->labels = labels_hash(l, v);
        }
        if ((v = json_object_get(d, "retain_until"))) {
                c->has_retain = true;
                c->retain_rc = retain_value(v, &c->retain);
        }
}

/* change_of_json on the entry's text: EVD_JSCAN_UNSURE where the entry must be parsed
 * instead (jscan.h). */
static int change_of_raw(const struct evd_ledger *l, const char *text, size_t n, struct change *c)
{
        static const char *const top[] = { "details", "event" };
        static const char *const fields[] = { "evidence", "hold", "id",
                                              "labels",   "new",  "retain_until" };
        struct evd_jscan_span t[2], f[6], labels;
        char ev[EVD_AUDIT_EVENT_MAX];
        int64_t id = 0;
        int r;

        *c = (struct change){ 0 };
        if (evd_jscan_valid_fields(text, n, top, 2, t) < 0)
                return EVD_JSCAN_UNSURE;
        r = evd_jscan_string(t[1], ev, sizeof(ev));
        if (r == EVD_JSCAN_UNSURE && !memchr(t[1].p, '\\', t[1].n))
                r = -EINVAL; /* too long to be an item event */
        if (r == EVD_JSCAN_UNSURE)
                return r;
        c->kind = r == 0 ? kind_of(ev) : C_NONE;
        if (c->kind == C_NONE || !evd_jscan_is_object(t[0]))
                return 0; /* no details: id 0 */
        if (evd_jscan_fields(t[0], fields, 6, f) < 0)
                return EVD_JSCAN_UNSURE;
        (void)evd_jscan_int(f[2], &id);
        c->id = (uint64_t)id;
        c->hold = evd_jscan_is_true(f[1]);
        c->evidence = evd_jscan_is_true(f[0]);
        labels = c->kind == C_STORED ? f[3] : f[4];
        if (labels.p && (c->kind == C_STORED || c->kind == C_LABELLED)) {
                c->has_labels = true;
                if (labels_hash_raw(l, labels, &c->labels) < 0)
                        return EVD_JSCAN_UNSURE;
        }
        if (f[5].p) {
                c->has_retain = true;
                c->retain_rc = retain_raw(f[5], &c->retain);
                if (c->retain_rc == EVD_JSCAN_UNSURE)
                        return EVD_JSCAN_UNSURE;
        }
        return 0;
}

/* What one item.* entry does to its item's slot. */
static void apply(struct evd_ledger *l, uint64_t seq, const struct change *c)
{
        struct slot *s;

        if (c->kind == C_NONE)
                return;
        if (c->id == 0 || c->id > l->n) {
                problem(l, c->id, seq, "names an item the catalogue never had");
                return;
        }
        s = &l->slots[c->id];
        switch (c->kind) {
        case C_STORED:
                s->flags |= F_STORED;
                s->stored_seq = seq;
                if (c->hold)
                        s->flags |= F_HOLD;
                if (c->evidence)
                        s->flags |= F_EVIDENCE;
                break;
        case C_HELD:
                s->flags |= F_HOLD;
                break;
        case C_RELEASED:
                s->flags &= (uint8_t)~F_HOLD;
                break;
        case C_EVIDENCE:
                s->flags |= F_EVIDENCE;
                break;
        case C_PURGED:
                s->flags |= F_PURGED;
                break;
        default:
                break;
        }
        if (c->has_labels) {
                s->labels = c->labels;
                s->flags |= F_LABELS;
        }
        if (c->has_retain) {
                if (c->retain_rc == 0) {
                        s->retain = c->retain;
                        s->flags |= F_RETAIN;
                } else {
                        problem(l, c->id, seq, "unreadable retain_until");
                }
        }
}

static int last_id(struct evd_txn *txn, uint64_t *ret)
{
        MDB_val k = { 12, "next_item_id" }, v;
        int rc = mdb_get(txn->txn, evd_txn_dbi(txn, EVD_DB_META), &k, &v);

        *ret = 0;
        if (rc == MDB_NOTFOUND)
                return 0;
        if (rc)
                return evd_mdb_errno(rc);
        if (v.mv_size != 8)
                return -EBADMSG;
        *ret = evd_be64_get(v.mv_data);
        return 0;
}

int evd_ledger_replay(struct evd_txn *txn, struct evd_ledger **ret, uint64_t *ret_entries,
                      struct evd_err *err)
{
        static const char mark[] = "\"event\":\"item.";
        struct evd_ledger *l = calloc(1, sizeof(*l));
        uint64_t entries = 0;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int rc, r;

        if (!l || !(l->problems = json_array()) ||
            !(l->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) || !(l->ctx = EVP_MD_CTX_new())) {
                evd_ledger_free(l);
                return evd_err_set(err, -ENOMEM, "out of memory");
        }
        r = last_id(txn, &l->n);
        if (r < 0 || l->n >= IDS_MAX) {
                evd_ledger_free(l);
                return evd_err_set(err, r < 0 ? r : -EBADMSG,
                                   "catalogue: the item counter is unreadable");
        }
        l->slots = calloc(l->n + 1, sizeof(*l->slots));
        rc = l->slots ? mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_AUDIT), &cur) : ENOMEM;
        for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                uint64_t seq = k.mv_size == 8 ? evd_be64_get(k.mv_data) : 0;
                struct change c;
                json_t *e;

                entries++;
                /* Sorted keys, compact: an item event's name is there literally. */
                if (!memmem(v.mv_data, v.mv_size, mark, sizeof(mark) - 1))
                        continue;
                if (change_of_raw(l, v.mv_data, v.mv_size, &c) == 0) {
                        apply(l, seq, &c);
                        continue;
                }
                e = json_loadb(v.mv_data, v.mv_size, 0, NULL);
                if (!e)
                        continue; /* evd_audit_verify names it */
                change_of_json(l, e, &c);
                apply(l, seq, &c);
                json_decref(e);
        }
        if (cur)
                mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND) {
                evd_ledger_free(l);
                return evd_err_set(err, evd_mdb_errno(rc), "audit: %s", mdb_strerror(rc));
        }
        if (ret_entries)
                *ret_entries = entries;
        *ret = l;
        return 0;
}

void evd_ledger_seen(struct evd_ledger *ledger, uint64_t id)
{
        if (id > 0 && id <= ledger->n)
                ledger->slots[id].flags |= F_SEEN;
}

static void say(char *why, size_t n, size_t *used, const char *text)
{
        int w = snprintf(why + *used, n - *used, "%s%s", *used ? "; " : "", text);

        if (w > 0 && (size_t)w < n - *used)
                *used += (size_t)w;
}

static void check_flag(const json_t *item, const char *field, bool want, char *why, size_t n,
                       size_t *used)
{
        bool have = json_is_true(json_object_get(item, field));
        char text[96];

        if (have == want)
                return;
        (void)snprintf(text, sizeof(text), "%s is %s, the audit log says %s", field,
                       have ? "true" : "false", want ? "true" : "false");
        say(why, n, used, text);
}

int evd_ledger_check(const struct evd_ledger *ledger, const json_t *item, char *why, size_t n)
{
        uint64_t id = (uint64_t)json_integer_value(json_object_get(item, "id"));
        const json_t *until = json_object_get(item, "retain_until");
        const struct slot *s = id > 0 && id <= ledger->n ? &ledger->slots[id] : NULL;
        size_t used = 0;
        int64_t t;

        why[0] = '\0';
        if (!s || !(s->flags & F_STORED)) {
                (void)snprintf(why, n, "no item.stored entry in the audit log for this record");
                return -EBADMSG;
        }
        if (!json_object_get(item, "purged") != !(s->flags & F_PURGED))
                say(why, n, &used,
                    s->flags & F_PURGED ? "the audit log says purged, the record does not"
                                        : "the record says purged, the audit log does not");
        check_flag(item, "hold", s->flags & F_HOLD, why, n, &used);
        check_flag(item, "evidence", s->flags & F_EVIDENCE, why, n, &used);
        if ((s->flags & F_RETAIN) && (retain_value(until, &t) < 0 || t != s->retain)) {
                char text[160], want[EVD_TIME_STR] = "null (permanent)";

                if (s->retain != INT64_MAX)
                        evd_time_format(s->retain, want);
                (void)snprintf(text, sizeof(text), "retain_until is %s, the audit log says %s",
                               json_is_string(until) ? json_string_value(until) : "null", want);
                say(why, n, &used, text);
        }
        if ((s->flags & F_LABELS) &&
            labels_hash(ledger, json_object_get(item, "labels")) != s->labels)
                say(why, n, &used, "labels differ from the audit log's");
        return used ? -EBADMSG : 0;
}

int evd_ledger_check_raw(const struct evd_ledger *ledger, const char *rec, size_t n,
                         uint64_t *ret_id)
{
        static const char *const keys[] = { "evidence", "hold",   "id",
                                            "labels",   "purged", "retain_until" };
        struct evd_jscan_span f[6];
        const struct slot *s;
        uint64_t labels;
        int64_t id, t;

        if (evd_jscan_valid_fields(rec, n, keys, 6, f) < 0 || evd_jscan_int(f[2], &id) < 0)
                return 1;
        *ret_id = (uint64_t)id;
        s = id > 0 && (uint64_t)id <= ledger->n ? &ledger->slots[id] : NULL;
        if (!s || !(s->flags & F_STORED) || !f[4].p != !(s->flags & F_PURGED) ||
            evd_jscan_is_true(f[1]) != !!(s->flags & F_HOLD) ||
            evd_jscan_is_true(f[0]) != !!(s->flags & F_EVIDENCE))
                return 1;
        if ((s->flags & F_RETAIN) && (retain_raw(f[5], &t) != 0 || t != s->retain))
                return 1;
        if ((s->flags & F_LABELS) &&
            (labels_hash_raw(ledger, f[3], &labels) < 0 || labels != s->labels))
                return 1;
        return 0;
}

size_t evd_ledger_missing(const struct evd_ledger *ledger, json_t *bad)
{
        size_t count = json_array_size(ledger->problems);

        (void)json_array_extend(bad, ledger->problems);
        for (uint64_t id = 1; id <= ledger->n; id++) {
                const struct slot *s = &ledger->slots[id];
                char text[128];

                if (!(s->flags & F_STORED) || (s->flags & F_SEEN))
                        continue;
                (void)snprintf(text, sizeof(text),
                               "stored (audit entry %llu) but its catalogue record is gone",
                               (unsigned long long)s->stored_seq);
                (void)json_array_append_new(
                        bad, json_pack("{sI ss}", "id", (json_int_t)id, "error", text));
                count++;
        }
        return count;
}
