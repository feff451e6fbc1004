#include "audit.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

void evd_audit_item_subject(char buf[static EVD_AUDIT_SUBJECT_MAX], uint64_t id)
{
        (void)snprintf(buf, EVD_AUDIT_SUBJECT_MAX, "item:%" PRIu64, id); /* always fits */
}

/* The canonical encoding that is hashed: compact, sorted keys, ASCII. */
static int entry_hash(const json_t *entry, uint8_t out[EVD_SHA256_LEN])
{
        json_t *copy = json_copy((json_t *)entry);
        char *text;
        int r = 0;

        if (!copy)
                return -ENOMEM;
        (void)json_object_del(copy, "hash");
        text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        json_decref(copy);
        if (!text)
                return -ENOMEM;
        if (!EVP_Digest(text, strlen(text), out, NULL, EVP_sha256(), NULL))
                r = -EIO;
        free(text);
        return r;
}

int evd_audit_entry_hash(const json_t *entry, uint8_t out[EVD_SHA256_LEN])
{
        return entry_hash(entry, out);
}

/* The last entry's seq, hash and time (INT64_MIN when it has none that parses). */
static int head_entry(struct evd_txn *txn, uint64_t *ret_seq, uint8_t ret_hash[EVD_SHA256_LEN],
                      int64_t *ret_time)
{
        MDB_cursor *cur;
        MDB_val k, v;
        json_t *e;
        int rc, r;

        *ret_time = INT64_MIN;
        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_AUDIT), &cur);
        if (rc)
                return evd_mdb_errno(rc);
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (rc == MDB_NOTFOUND) {
                mdb_cursor_close(cur);
                *ret_seq = 0;
                memset(ret_hash, 0, EVD_SHA256_LEN);
                return 0;
        }
        if (rc) {
                mdb_cursor_close(cur);
                return evd_mdb_errno(rc);
        }
        e = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        mdb_cursor_close(cur);
        if (!e)
                return -EBADMSG;
        r = evd_unhex(json_string_value(json_object_get(e, "hash")) ?: "", ret_hash,
                      EVD_SHA256_LEN);
        if (r == 0)
                *ret_seq = evd_be64_get(k.mv_data);
        if (evd_time_parse(json_string_value(json_object_get(e, "time")) ?: "", ret_time) < 0)
                *ret_time = INT64_MIN;
        json_decref(e);
        return r < 0 ? -EBADMSG : 0;
}

int evd_audit_head(struct evd_txn *txn, uint64_t *ret_seq, uint8_t ret_hash[EVD_SHA256_LEN])
{
        int64_t t;

        return head_entry(txn, ret_seq, ret_hash, &t);
}

/* The time index (audit.h): META EVD_AUDIT_TIMES_KEY once the log is kept from its first
 * entry, "audit_back:SEQ" where the time went back, "audit_run:SEQ" at each start or stop,
 * SEQ in 20 digits so that byte order is numeric order. */
#define BACK_PREFIX "audit_back:"
#define RUN_PREFIX "audit_run:"

static int mark_seq(struct evd_txn *txn, const char *prefix, uint64_t seq)
{
        char key[32];
        MDB_val k = { 0, key }, v = { 0, (void *)"" };

        k.mv_size = (size_t)snprintf(key, sizeof(key), "%s%020" PRIu64, prefix, seq);
        return evd_txn_put(txn, EVD_DB_META, &k, &v, 0);
}

/* The seq the index is complete through (EVD_AUDIT_TIMES_KEY), 0 when there is none. */
static uint64_t index_through(struct evd_txn *txn)
{
        MDB_val k = { strlen(EVD_AUDIT_TIMES_KEY), (void *)EVD_AUDIT_TIMES_KEY }, v;

        return mdb_get(txn->txn, evd_txn_dbi(txn, EVD_DB_META), &k, &v) == 0 && v.mv_size == 8
                       ? evd_be64_get(v.mv_data)
                       : 0;
}

/* Entry seq noted in the index, which goes on only from the entry before: a log
 * appended to without it (an older evidockd, a restore) keeps a stale index, which
 * readers then leave aside. */
static int index_time(struct evd_txn *txn, uint64_t seq, int64_t head_time, int64_t now,
                      const char *event)
{
        uint8_t through[8];
        MDB_val k = { strlen(EVD_AUDIT_TIMES_KEY), (void *)EVD_AUDIT_TIMES_KEY },
                v = { 8, through };
        int r = 0;

        if (seq != 1 && index_through(txn) != seq - 1)
                return 0;
        evd_be64_put(through, seq);
        r = evd_txn_put(txn, EVD_DB_META, &k, &v, 0);
        if (r == 0 && seq != 1 && (now < head_time || head_time == INT64_MIN))
                r = mark_seq(txn, BACK_PREFIX, seq);
        if (r == 0 &&
            (strcmp(event, "station.started") == 0 || strcmp(event, "station.stopped") == 0))
                r = mark_seq(txn, RUN_PREFIX, seq);
        return r;
}

int evd_audit_append(struct evd_txn *txn, const struct evd_actor *actor, const char *event,
                     const char *subject, const json_t *details, uint64_t *ret_seq)
{
        uint8_t prev[EVD_SHA256_LEN], hash[EVD_SHA256_LEN], key[8];
        char prevhex[EVD_SHA256_HEX], hashhex[EVD_SHA256_HEX], now[EVD_TIME_STR];
        MDB_val k = { 8, key }, v;
        uint64_t seq = 0;
        int64_t head_time, t = evd_clock_now();
        json_t *e;
        char *text;
        int r;

        r = head_entry(txn, &seq, prev, &head_time);
        if (r < 0)
                return r;
        seq++;
        evd_hex(prev, sizeof(prev), prevhex);
        evd_time_format(t, now);
        e = json_pack("{sI s{sIss} ss ss ss ss}", "seq", (json_int_t)seq, "actor", "uid",
                      (json_int_t)actor->uid, "name", actor->name, "time", now, "event", event,
                      "subject", subject ? subject : "", "prev", prevhex);
        if (!e)
                return -EINVAL; /* a string that is not UTF-8 */
        if (json_object_set(e, "details", details ? (json_t *)details : json_null()) < 0) {
                json_decref(e);
                return -ENOMEM;
        }
        r = entry_hash(e, hash);
        if (r < 0)
                goto out;
        evd_hex(hash, sizeof(hash), hashhex);
        if (json_object_set_new(e, "hash", json_string(hashhex)) < 0) {
                r = -ENOMEM;
                goto out;
        }
        text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        if (!text) {
                r = -ENOMEM;
                goto out;
        }
        evd_be64_put(key, seq);
        v = (MDB_val){ strlen(text), text };
        r = evd_txn_put(txn, EVD_DB_AUDIT, &k, &v, MDB_APPEND);
        free(text);
        if (r == 0)
                r = index_time(txn, seq, head_time, t, event);
        if (r == 0 && ret_seq)
                *ret_seq = seq;
out:
        json_decref(e);
        return r;
}

/* The chain checked on an entry's stored bytes, without parsing it: true when v is
 * entry seq, chains to prevhex and matches its hash, its hash then in ret_hash. The
 * canonical encoding (compact, keys sorted) holds the entry's own hash as the last
 * ',"hash":"' (only prev, seq, subject and time follow it, and no JSON string holds an
 * unescaped quote), followed by ',"prev":"HEX","seq":N,'; what is hashed is the same
 * text without ',"hash":"HEX"'. Anything else (false) goes to the parsing check, which
 * names what is wrong. */
static bool chain_ok_raw(EVP_MD_CTX *ctx, const EVP_MD *md, const MDB_val *v, uint64_t seq,
                         const char *prevhex, uint8_t ret_hash[EVD_SHA256_LEN])
{
        static const char hkey[] = ",\"hash\":\"", pkey[] = "\",\"prev\":\"",
                          skey[] = "\",\"seq\":";
        const char *text = v->mv_data, *at = NULL, *p, *end = text + v->mv_size, *q;
        uint8_t hash[EVD_SHA256_LEN];
        unsigned int len = 0;
        char num[24], hex[EVD_SHA256_HEX];
        bool ok;

        /* the last one: looked for from the end, where it is */
        for (q = end; (q = memrchr(text, ',', (size_t)(q - text)));)
                if ((size_t)(end - q) >= sizeof(hkey) - 1 &&
                    memcmp(q, hkey, sizeof(hkey) - 1) == 0) {
                        at = q;
                        break;
                }
        if (!at)
                return false;
        p = at + sizeof(hkey) - 1; /* the hash's hex */
        if ((size_t)(end - p) < 4 * EVD_SHA256_LEN + sizeof(pkey) - 1 + sizeof(skey) - 1 + 2)
                return false;
        memcpy(hex, p, 2 * EVD_SHA256_LEN);
        hex[2 * EVD_SHA256_LEN] = '\0';
        q = p + 2 * EVD_SHA256_LEN; /* '","prev":"' */
        if (memcmp(q, pkey, sizeof(pkey) - 1) != 0 ||
            memcmp(q + sizeof(pkey) - 1, prevhex, 2 * EVD_SHA256_LEN) != 0 ||
            evd_unhex(hex, ret_hash, EVD_SHA256_LEN) < 0)
                return false;
        q += sizeof(pkey) - 1 + 2 * EVD_SHA256_LEN;
        len = (unsigned int)snprintf(num, sizeof(num), "%" PRIu64 ",", seq);
        if (memcmp(q, skey, sizeof(skey) - 1) != 0 || (size_t)(end - q) < sizeof(skey) - 1 + len ||
            memcmp(q + sizeof(skey) - 1, num, len) != 0)
                return false;
        ok = ctx && md && EVP_DigestInit_ex(ctx, md, NULL) &&
             EVP_DigestUpdate(ctx, text, (size_t)(at - text)) &&
             EVP_DigestUpdate(ctx, p + 2 * EVD_SHA256_LEN + 1,
                              (size_t)(end - (p + 2 * EVD_SHA256_LEN + 1))) &&
             EVP_DigestFinal_ex(ctx, hash, &len);
        return ok && memcmp(hash, ret_hash, sizeof(hash)) == 0;
}

int evd_audit_verify(struct evd_txn *txn, uint64_t *ret_count, struct evd_err *err)
{
        uint8_t prev[EVD_SHA256_LEN] = { 0 }, hash[EVD_SHA256_LEN], stored[EVD_SHA256_LEN];
        char prevhex[EVD_SHA256_HEX];
        uint64_t expect = 1;
        MDB_cursor *cur;
        MDB_val k, v;
        /* fetched once for the whole log (a failure only sends entries to the parsing
         * check) */
        EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int rc, r = 0;

        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_AUDIT), &cur);
        if (rc) {
                EVP_MD_CTX_free(ctx);
                EVP_MD_free(md);
                return evd_err_set(err, evd_mdb_errno(rc), "audit: %s", mdb_strerror(rc));
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), expect++) {
                uint64_t seq = k.mv_size == 8 ? evd_be64_get(k.mv_data) : 0;
                json_t *e;
                const char *h, *p;

                evd_hex(prev, sizeof(prev), prevhex);
                if (seq == expect && chain_ok_raw(ctx, md, &v, seq, prevhex, stored)) {
                        memcpy(prev, stored, sizeof(prev));
                        continue;
                }
                e = json_loadb(v.mv_data, v.mv_size, 0, NULL);
                if (seq != expect) {
                        r = evd_err_set(err, -EBADMSG,
                                        "audit entry %llu: missing (the next entry is %llu): "
                                        "entries were removed",
                                        (unsigned long long)expect, (unsigned long long)seq);
                        json_decref(e);
                        break;
                }
                if (!e) {
                        r = evd_err_set(err, -EBADMSG, "audit entry %llu: not valid JSON",
                                        (unsigned long long)seq);
                        break;
                }
                h = json_string_value(json_object_get(e, "hash"));
                p = json_string_value(json_object_get(e, "prev"));
                if (json_integer_value(json_object_get(e, "seq")) != (json_int_t)seq) {
                        r = evd_err_set(err, -EBADMSG, "audit entry %llu: its seq was changed",
                                        (unsigned long long)seq);
                } else if (!p || strcmp(p, prevhex) != 0) {
                        r = evd_err_set(err, -EBADMSG,
                                        "audit entry %llu: does not chain to entry %llu "
                                        "(an entry was removed or replaced)",
                                        (unsigned long long)seq, (unsigned long long)seq - 1);
                } else if (!h || evd_unhex(h, stored, sizeof(stored)) < 0 ||
                           (r = entry_hash(e, hash)) < 0 ||
                           memcmp(hash, stored, sizeof(hash)) != 0) {
                        r = evd_err_set(err, r < 0 ? r : -EBADMSG,
                                        "audit entry %llu: content does not match its hash "
                                        "(the entry was edited)",
                                        (unsigned long long)seq);
                }
                json_decref(e);
                if (r < 0)
                        break;
                memcpy(prev, stored, sizeof(prev));
        }
        mdb_cursor_close(cur);
        EVP_MD_CTX_free(ctx);
        EVP_MD_free(md);
        if (r < 0)
                return r;
        if (rc != MDB_NOTFOUND)
                return evd_err_set(err, evd_mdb_errno(rc), "audit: %s", mdb_strerror(rc));
        *ret_count = expect - 1;
        return 0;
}

/* Which entries a scan wants, decided on their stored bytes where that is certain, so
 * that the others are passed over unparsed. It relies on the canonical encoding
 * (compact, keys sorted): an event name is held as a JSON string as it is (event names
 * are plain ASCII), and the last "subject" key is the entry's own (only "time" follows
 * it, and a JSON string cannot hold an unescaped quote). */
struct wanted {
        const char *const *events; /* NULL: any event */
        size_t n_events;
        char quoted[EVD_AUDIT_EVENTS_MAX][EVD_AUDIT_EVENT_MAX + 3]; /* "\"NAME\"", once */
        size_t quoted_len[EVD_AUDIT_EVENTS_MAX]; /* 0: a name too long to look for */
        const uint64_t *ids; /* NULL: any subject; else "item:ID" with ID in ids, sorted */
        size_t n_ids;
        bool back; /* newest first, from the entry before from_seq */
};

static bool may_be_event(const MDB_val *v, const struct wanted *w)
{
        for (size_t i = 0; i < w->n_events; i++)
                if (w->quoted_len[i] == 0 ||
                    memmem(v->mv_data, v->mv_size, w->quoted[i], w->quoted_len[i]))
                        return true;
        return false;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

/* Whether the entry's subject may be "item:ID" for one of w->ids. */
static bool may_be_about(const MDB_val *v, const struct wanted *w)
{
        static const char key[] = "\"subject\":\"item:";
        const char *p = v->mv_data, *end = p + v->mv_size, *last = NULL, *at;
        uint64_t id = 0;

        while ((at = memmem(p, (size_t)(end - p), key, sizeof(key) - 1))) {
                last = at + sizeof(key) - 1;
                p = last;
        }
        if (!last || last == end || *last < '0' || *last > '9')
                return false;
        for (at = last; at < end && *at >= '0' && *at <= '9' && id <= UINT64_MAX / 10 - 1; at++)
                id = id * 10 + (uint64_t)(*at - '0');
        return at < end && *at == '"' && bsearch(&id, w->ids, w->n_ids, sizeof(id), cmp_u64);
}

static bool is_event(const json_t *e, const struct wanted *w)
{
        const char *ev = json_string_value(json_object_get(e, "event")) ?: "";

        if (!w->events)
                return true;
        for (size_t i = 0; i < w->n_events; i++)
                if (strcmp(ev, w->events[i]) == 0)
                        return true;
        return false;
}

static int each_entry(struct evd_txn *txn, uint64_t from_seq, int64_t since, const struct wanted *w,
                      int (*each)(json_t *entry, void *ctx), void *ctx)
{
        uint8_t key[8];
        MDB_cursor *cur;
        MDB_val k = { 8, key }, v;
        int rc, r = 0;

        evd_be64_put(key, from_seq);
        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_AUDIT), &cur);
        if (rc)
                return evd_mdb_errno(rc);
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (w->back) /* the entry before from_seq: the last one when from_seq is past it */
                rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
        for (; rc == 0 && r == 0; rc = mdb_cursor_get(cur, &k, &v, w->back ? MDB_PREV : MDB_NEXT)) {
                json_t *e;
                const char *t;
                int64_t when;

                if ((w->events && !may_be_event(&v, w)) || (w->ids && !may_be_about(&v, w)))
                        continue;
                e = json_loadb(v.mv_data, v.mv_size, 0, NULL);
                if (!e) {
                        r = -EBADMSG;
                        break;
                }
                t = json_string_value(json_object_get(e, "time"));
                if (is_event(e, w) &&
                    (since == INT64_MIN || (t && evd_time_parse(t, &when) == 0 && when >= since)))
                        r = each(e, ctx);
                json_decref(e);
        }
        mdb_cursor_close(cur);
        return r < 0 ? r : 0;
}

/* w looks for events[0..n_events) only, each quoted once for may_be_event. */
static int want_events(struct wanted *w, const char *const *events, size_t n_events)
{
        if (n_events > EVD_AUDIT_EVENTS_MAX)
                return -E2BIG;
        w->events = events;
        w->n_events = n_events;
        for (size_t i = 0; i < n_events; i++) {
                int len = snprintf(w->quoted[i], sizeof(w->quoted[i]), "\"%s\"", events[i]);

                w->quoted_len[i] = len > 0 && (size_t)len < sizeof(w->quoted[i]) ? (size_t)len : 0;
        }
        return 0;
}

int evd_audit_each(struct evd_txn *txn, uint64_t from_seq, int64_t since,
                   int (*each)(json_t *entry, void *ctx), void *ctx)
{
        const struct wanted all = { 0 };

        return each_entry(txn, from_seq, since, &all, each, ctx);
}

int evd_audit_each_event(struct evd_txn *txn, uint64_t from_seq, int64_t since,
                         const char *const *events, size_t n_events,
                         int (*each)(json_t *entry, void *ctx), void *ctx)
{
        struct wanted w = { 0 };
        int r = want_events(&w, events, n_events);

        return r < 0 ? r : each_entry(txn, from_seq, since, &w, each, ctx);
}

int evd_audit_each_back(struct evd_txn *txn, uint64_t before_seq, int64_t since,
                        const char *const *events, size_t n_events,
                        int (*each)(json_t *entry, void *ctx), void *ctx)
{
        struct wanted w = { .back = true };
        int r = events ? want_events(&w, events, n_events) : 0;

        return r < 0 ? r : each_entry(txn, before_seq, since, &w, each, ctx);
}

int evd_audit_each_item(struct evd_txn *txn, const uint64_t *ids, size_t n_ids,
                        int (*each)(json_t *entry, void *ctx), void *ctx)
{
        uint64_t *sorted;
        struct wanted w;
        int r;

        if (n_ids == 0)
                return 0;
        sorted = malloc(n_ids * sizeof(*sorted));
        if (!sorted)
                return -ENOMEM;
        memcpy(sorted, ids, n_ids * sizeof(*sorted));
        qsort(sorted, n_ids, sizeof(*sorted), cmp_u64);
        w = (struct wanted){ .ids = sorted, .n_ids = n_ids };
        r = each_entry(txn, 0, INT64_MIN, &w, each, ctx);
        free(sorted);
        return r;
}

int evd_audit_get(struct evd_txn *txn, uint64_t seq, json_t **ret)
{
        uint8_t key[8];
        MDB_val k = { 8, key }, v;
        int rc;

        evd_be64_put(key, seq);
        rc = mdb_get(txn->txn, evd_txn_dbi(txn, EVD_DB_AUDIT), &k, &v);
        if (rc)
                return evd_mdb_errno(rc);
        *ret = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        return *ret ? 0 : -EBADMSG;
}

int evd_audit_each_snapshot(struct evd_catalog *catalog, uint64_t from_seq, int64_t since,
                            int (*each)(json_t *entry, void *ctx), void *ctx)
{
        struct evd_txn txn;
        int r = evd_catalog_read_begin(catalog, &txn);

        if (r < 0)
                return r;
        r = evd_audit_each(&txn, from_seq, since, each, ctx);
        evd_catalog_read_end(&txn);
        return r;
}

/* The time of entry seq: -ENOENT when there is none, -EBADMSG when it has no time. */
static int entry_time(struct evd_txn *txn, uint64_t seq, int64_t *ret)
{
        json_t *e = NULL;
        int r = evd_audit_get(txn, seq, &e);

        if (r == 0 && evd_time_parse(json_string_value(json_object_get(e, "time")) ?: "", ret) < 0)
                r = -EBADMSG;
        json_decref(e);
        return r;
}

/* The first seq in [a, b] whose time is after t (b + 1 when none), times in order there. */
static int first_after(struct evd_txn *txn, uint64_t a, uint64_t b, int64_t t, uint64_t *ret)
{
        uint64_t lo = a, hi = b + 1;

        while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;
                int64_t when;
                int r = entry_time(txn, mid, &when);

                if (r < 0)
                        return r;
                if (when > t)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        *ret = lo;
        return 0;
}

/* The seq after the META key k that starts with prefix, or 0 at the end of them. */
static uint64_t key_seq(const MDB_val *k, const char *prefix)
{
        const char *d = k->mv_data;
        size_t n = strlen(prefix);
        uint64_t seq = 0;

        if (k->mv_size != n + 20 || memcmp(d, prefix, n) != 0)
                return 0;
        /* exactly the 20 digits: a key's bytes are not NUL-terminated */
        for (size_t i = n; i < n + 20; i++) {
                if (d[i] < '0' || d[i] > '9')
                        return 0;
                seq = seq * 10 + (uint64_t)(d[i] - '0');
        }
        return seq;
}

int evd_audit_span(struct evd_txn *txn, int64_t from, int64_t to, uint64_t *ret_first,
                   uint64_t *ret_last)
{
        MDB_val k = { strlen(EVD_AUDIT_TIMES_KEY), (void *)EVD_AUDIT_TIMES_KEY }, v;
        uint8_t hash[EVD_SHA256_LEN];
        uint64_t head = 0, a = 1, first, last = 0;
        MDB_cursor *cur;
        int rc, r;

        if ((r = evd_audit_head(txn, &head, hash)) < 0)
                return r;
        first = head + 1;
        if (head && index_through(txn) != head)
                return -ENOENT;
        if ((rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_META), &cur)) != 0)
                return evd_mdb_errno(rc);
        k = (MDB_val){ strlen(BACK_PREFIX), (void *)BACK_PREFIX };
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        /* Each stretch between two steps back is in time order: search each. */
        while (r == 0 && a <= head) {
                uint64_t next = rc == 0 ? key_seq(&k, BACK_PREFIX) : 0, b, s, e;

                b = next > a && next <= head ? next - 1 : head;
                if ((r = first_after(txn, a, b, from - 1, &s)) < 0 ||
                    (r = first_after(txn, a, b, to, &e)) < 0)
                        break;
                if (s <= b && s < first)
                        first = s;
                if (e > a && e - 1 > last)
                        last = e - 1;
                a = b + 1;
                if (next && next <= b + 1)
                        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
        if (r < 0)
                return r;
        *ret_first = first;
        *ret_last = last;
        return 0;
}

int evd_audit_run_near(struct evd_txn *txn, uint64_t seq, bool back, json_t **ret)
{
        char key[32];
        MDB_val k = { 0, key }, v;
        MDB_cursor *cur;
        int rc, r = -ENOENT;

        k.mv_size = (size_t)snprintf(key, sizeof(key), "%s%020" PRIu64, RUN_PREFIX, seq);
        if ((rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_META), &cur)) != 0)
                return evd_mdb_errno(rc);
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (back)
                rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
        else if (rc == 0 && key_seq(&k, RUN_PREFIX) == seq)
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        for (; rc == 0 && r == -ENOENT;
             rc = mdb_cursor_get(cur, &k, &v, back ? MDB_PREV : MDB_NEXT)) {
                uint64_t s = key_seq(&k, RUN_PREFIX);
                json_t *e = NULL;
                int64_t t;

                if (s == 0)
                        break;
                if (evd_audit_get(txn, s, &e) == 0 &&
                    evd_time_parse(json_string_value(json_object_get(e, "time")) ?: "", &t) == 0) {
                        *ret = e;
                        r = 0;
                } else {
                        json_decref(e);
                }
        }
        mdb_cursor_close(cur);
        return r;
}
