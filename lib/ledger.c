#include "ledger.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDS_MAX (1ull << 32) /* a next_item_id past this is not a catalogue's */

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
};

void evd_ledger_free(struct evd_ledger *ledger)
{
        if (!ledger)
                return;
        free(ledger->slots);
        json_decref(ledger->problems);
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

static uint64_t labels_hash(const json_t *labels)
{
        uint8_t md[EVD_SHA256_LEN];
        char *text = json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII |
                                                JSON_ENCODE_ANY);

        if (!text)
                return 0;
        (void)EVP_Digest(text, strlen(text), md, NULL, EVP_sha256(), NULL);
        free(text);
        return evd_be64_get(md);
}

static void problem(struct evd_ledger *l, uint64_t id, uint64_t seq, const char *what)
{
        char text[256];

        (void)snprintf(text, sizeof(text), "audit entry %llu: %s", (unsigned long long)seq, what);
        if (json_array_size(l->problems) < 1000)
                (void)json_array_append_new(
                        l->problems, json_pack("{sI ss}", "id", (json_int_t)id, "error", text));
}

/* What one item.* entry does to its item's slot. */
static void apply(struct evd_ledger *l, uint64_t seq, const json_t *e)
{
        const char *ev = json_string_value(json_object_get(e, "event")) ?: "";
        const json_t *d = json_object_get(e, "details"), *v;
        uint64_t id = (uint64_t)json_integer_value(json_object_get(d, "id"));
        bool protective = true;
        struct slot *s;

        if (strcmp(ev, "item.stored") != 0 && strcmp(ev, "item.held") != 0 &&
            strcmp(ev, "item.released") != 0 && strcmp(ev, "item.evidence") != 0 &&
            strcmp(ev, "item.labelled") != 0 && strcmp(ev, "item.noted") != 0 &&
            strcmp(ev, "item.purged") != 0)
                protective = false;
        if (!protective)
                return;
        if (id == 0 || id > l->n) {
                problem(l, id, seq, "names an item the catalogue never had");
                return;
        }
        s = &l->slots[id];
        if (strcmp(ev, "item.stored") == 0) {
                s->flags |= F_STORED;
                s->stored_seq = seq;
                if (json_is_true(json_object_get(d, "hold")))
                        s->flags |= F_HOLD;
                if (json_is_true(json_object_get(d, "evidence")))
                        s->flags |= F_EVIDENCE;
                if ((v = json_object_get(d, "labels"))) {
                        s->labels = labels_hash(v);
                        s->flags |= F_LABELS;
                }
        } else if (strcmp(ev, "item.held") == 0) {
                s->flags |= F_HOLD;
        } else if (strcmp(ev, "item.released") == 0) {
                s->flags &= (uint8_t)~F_HOLD;
        } else if (strcmp(ev, "item.evidence") == 0) {
                s->flags |= F_EVIDENCE;
        } else if (strcmp(ev, "item.labelled") == 0 && (v = json_object_get(d, "new"))) {
                s->labels = labels_hash(v);
                s->flags |= F_LABELS;
        } else if (strcmp(ev, "item.purged") == 0) {
                s->flags |= F_PURGED;
        }
        if ((v = json_object_get(d, "retain_until"))) {
                if (retain_value(v, &s->retain) == 0)
                        s->flags |= F_RETAIN;
                else
                        problem(l, id, seq, "unreadable retain_until");
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

        if (!l || !(l->problems = json_array())) {
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
                json_t *e;

                entries++;
                /* Sorted keys, compact: an item event's name is there literally. */
                if (!memmem(v.mv_data, v.mv_size, mark, sizeof(mark) - 1))
                        continue;
                e = json_loadb(v.mv_data, v.mv_size, 0, NULL);
                if (!e)
                        continue; /* evd_audit_verify names it */
                apply(l, k.mv_size == 8 ? evd_be64_get(k.mv_data) : 0, e);
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
        if ((s->flags & F_LABELS) && labels_hash(json_object_get(item, "labels")) != s->labels)
                say(why, n, &used, "labels differ from the audit log's");
        return used ? -EBADMSG : 0;
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
