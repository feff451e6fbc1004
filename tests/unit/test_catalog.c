/* catalog and audit: item round trips, indexes, map growth, schema, the hash chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <time.h>

#include "audit.h"
#include "catalog.h"
#include "item.h"
#include "testutil.h"

static const struct evd_actor tester = { .uid = 1000, .name = "tester" };

struct put_ctx {
        json_t *item;
        const char *event;
};

static int put_fn(struct evd_txn *txn, void *p)
{
        struct put_ctx *c = p;
        int r = evd_catalog_item_put(txn, c->item);

        if (r == 0)
                r = evd_audit_append(txn, &tester, c->event, "item", c->item, NULL);
        return r;
}

static json_t *make_item(const char *sha, const char *recorder, const char *recorded_at)
{
        return json_pack("{ss sI ss ss s{sn sn sn} ss}", "sha256", sha, "size", (json_int_t)1,
                         "recorder", recorder, "recorded_at", recorded_at, "labels", "case_no",
                         "party", "handler", "original_path", "DCIM/x.mp4");
}

static int count_cb(json_t *item, void *p)
{
        (void)item;
        (*(int *)p)++;
        return 0;
}

static int count(struct evd_catalog *c, const struct evd_item_filter *f)
{
        struct evd_txn t;
        int n = 0;

        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        assert_int_equal(evd_catalog_items_each(&t, f, count_cb, &n), 0);
        evd_catalog_read_end(&t);
        return n;
}

static void items_and_indexes(void **state)
{
        char *dir = tu_tempdir();
        struct evd_catalog *c;
        struct evd_err err = { 0 };
        struct evd_txn t;
        uint64_t id;
        json_t *got;
        struct put_ctx p;
        const char *shas[3] = {
                "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000001",
                "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000002",
                "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000003",
        };

        (void)state;
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        for (int i = 0; i < 3; i++) {
                p.item = make_item(shas[i], i < 2 ? "REC1" : "REC2",
                                   i == 0 ? "2026-11-01T08:00:00Z" : "2026-11-20T08:00:00Z");
                p.event = "item.stored";
                assert_int_equal(evd_catalog_write(c, put_fn, &p, &err), 0);
                assert_int_equal(json_integer_value(json_object_get(p.item, "id")), i + 1);
                json_decref(p.item);
        }
        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        assert_int_equal(evd_catalog_item_by_sha(&t, "bbbbbbbbbbbb", &id), 0);
        assert_int_equal(id, 3);
        assert_int_equal(evd_catalog_item_by_sha(&t, "aaaaaaaaaaaa", &id), -EEXIST);
        assert_int_equal(evd_catalog_item_by_sha(
                                 &t,
                                 "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000002",
                                 &id),
                         0);
        assert_int_equal(id, 2);
        assert_int_equal(evd_catalog_item_by_sha(&t, "cccccccccccc", &id), -ENOENT);
        assert_int_equal(evd_catalog_item_by_sha(&t, "abc", &id), -EINVAL);
        assert_int_equal(evd_catalog_item_get(&t, 2, &got), 0);
        assert_string_equal(json_string_value(json_object_get(got, "sha256")), shas[1]);
        assert_int_equal(evd_catalog_item_get(&t, 99, &got), -ENOENT);
        evd_catalog_read_end(&t);

        assert_int_equal(count(c, &(struct evd_item_filter){ .recorder = "REC1" }), 2);
        assert_int_equal(count(c, &(struct evd_item_filter){ .recorder = "REC3" }), 0);
        int64_t nov10;

        assert_int_equal(evd_time_parse("2026-11-10", &nov10), 0);
        assert_int_equal(count(c, &(struct evd_item_filter){ .has_since = true, .since = nov10 }),
                         2);
        assert_int_equal(count(c, &(struct evd_item_filter){ .has_until = true, .until = nov10 }),
                         1);
        assert_int_equal(count(c, &(struct evd_item_filter){ .unlabeled = true }), 3);

        /* Label item 2: the case index follows, and moves when the label changes. */
        json_object_set_new(json_object_get(got, "labels"), "case_no",
                            json_string("X罚〔2026〕17号"));
        json_object_set_new(json_object_get(got, "labels"), "party", json_string("张三"));
        p.item = got;
        p.event = "item.labelled";
        assert_int_equal(evd_catalog_write(c, put_fn, &p, &err), 0);
        assert_int_equal(count(c, &(struct evd_item_filter){ .case_no = "X罚〔2026〕17号" }), 1);
        assert_int_equal(count(c, &(struct evd_item_filter){ .unlabeled = true }), 2);
        json_object_set_new(json_object_get(got, "labels"), "case_no",
                            json_string("X罚〔2026〕18号"));
        assert_int_equal(evd_catalog_write(c, put_fn, &p, &err), 0);
        assert_int_equal(count(c, &(struct evd_item_filter){ .case_no = "X罚〔2026〕17号" }), 0);
        assert_int_equal(count(c, &(struct evd_item_filter){ .case_no = "X罚〔2026〕18号" }), 1);
        json_decref(got);

        /* Sources: exact bytes, size and time all count. */
        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        evd_catalog_read_end(&t);
        evd_catalog_free(c);
        tu_rmtree(dir);
}

static int source_fn(struct evd_txn *txn, void *p)
{
        (void)p;
        return evd_catalog_source_put(txn, "REC1", "a\nb\xff", 4, 10, 20, 7);
}

static void sources(void **state)
{
        char *dir = tu_tempdir();
        struct evd_catalog *c;
        struct evd_err err = { 0 };
        struct evd_txn t;
        uint64_t id = 0;

        (void)state;
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        assert_int_equal(evd_catalog_write(c, source_fn, NULL, &err), 0);
        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        assert_int_equal(evd_catalog_source_get(&t, "REC1", "a\nb\xff", 4, 10, 20, &id), 0);
        assert_int_equal(id, 7);
        assert_int_equal(evd_catalog_source_get(&t, "REC1", "a\nb\xff", 4, 11, 20, &id), -ENOENT);
        assert_int_equal(evd_catalog_source_get(&t, "REC1", "a\nb\xff", 4, 10, 21, &id), -ENOENT);
        assert_int_equal(evd_catalog_source_get(&t, "REC2", "a\nb\xff", 4, 10, 20, &id), -ENOENT);
        assert_int_equal(evd_catalog_source_get(&t, "REC1", "a\nb", 3, 10, 20, &id), -ENOENT);
        evd_catalog_read_end(&t);
        evd_catalog_free(c);
        tu_rmtree(dir);
}

/* A map far too small for what is written grows by itself, and nothing is lost. */
static void map_grows(void **state)
{
        char *dir = tu_tempdir(), sha[65];
        struct evd_catalog *c;
        struct evd_err err = { 0 };
        struct put_ctx p = { .event = "item.stored" };
        uint64_t items, map;

        (void)state;
        assert_int_equal(evd_catalog_open(dir, 128 * 1024, &c, &err), 0);
        for (int i = 0; i < 2000; i++) {
                (void)snprintf(sha, sizeof(sha), "%064x", i + 1);
                p.item = make_item(sha, "REC1", "2026-11-20T08:00:00Z");
                assert_int_equal(evd_catalog_write(c, put_fn, &p, &err), 0);
                json_decref(p.item);
        }
        assert_int_equal(evd_catalog_stat(c, &items, &map), 0);
        assert_int_equal(items, 2000);
        assert_true(map > 128 * 1024);
        evd_catalog_free(c);
        tu_rmtree(dir);
}

static int bump_schema(struct evd_txn *txn, void *p)
{
        uint8_t v[8];
        MDB_val k = { 6, "schema" }, val = { 8, v };

        evd_be64_put(v, *(uint64_t *)p);
        return evd_txn_put(txn, EVD_DB_META, &k, &val, 0);
}

static uint64_t schema_of(struct evd_catalog *c)
{
        struct evd_txn t;
        MDB_val k = { 6, "schema" }, v;
        uint64_t n;

        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        assert_int_equal(mdb_get(t.txn, evd_txn_dbi(&t, EVD_DB_META), &k, &v), 0);
        n = evd_be64_get(v.mv_data);
        evd_catalog_read_end(&t);
        return n;
}

static void schema_is_checked(void **state)
{
        char *dir = tu_tempdir();
        struct evd_catalog *c;
        struct evd_err err = { 0 };
        uint64_t two = 2, future = 99;

        (void)state;
        /* schema 2 (items stored whole) is read as it is, and marked 3 */
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        assert_int_equal(schema_of(c), EVD_CATALOG_SCHEMA);
        assert_int_equal(evd_catalog_write(c, bump_schema, &two, &err), 0);
        evd_catalog_free(c);
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        assert_int_equal(schema_of(c), 3);
        assert_int_equal(evd_catalog_write(c, bump_schema, &future, &err), 0);
        evd_catalog_free(c);
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), -EPROTO);
        assert_non_null(strstr(err.text, "schema version 99"));
        tu_rmtree(dir);
}

/* Rewind the id counter to 1 and drop item 2's record: the next new item gets id 2,
 * below the highest stored, where an appending put is refused (MDB_KEYEXIST). */
static int rewind_fn(struct evd_txn *txn, void *p)
{
        uint8_t key[8];
        MDB_val k = { 8, key };
        int r;

        (void)p;
        evd_be64_put(key, 2);
        r = evd_txn_del(txn, EVD_DB_ITEMS, &k, NULL);
        return r < 0 ? r : evd_catalog_counter_add(txn, "next_item_id", -3, NULL);
}

static int ids_cb(json_t *item, void *p)
{
        char *ids = p;
        size_t n = strlen(ids);

        ids[n] = (char)('0' + json_integer_value(json_object_get(item, "id")));
        ids[n + 1] = json_string_value(json_object_get(item, "sha256"))[63];
        ids[n + 2] = '\0';
        return 0;
}

static void new_id_below_the_highest(void **state)
{
        char *dir = tu_tempdir(), sha[80], ids[32] = ""; /* sha: 64 hex digits */
        struct evd_catalog *c;
        struct evd_err err = { 0 };
        struct evd_txn t;
        struct put_ctx p = { .event = "item.stored" };
        json_t *got;

        (void)state;
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        for (int i = 1; i <= 5; i++) {
                (void)snprintf(sha, sizeof(sha), "%063d%d", 0, i % 5);
                p.item = make_item(sha, "REC1", "2026-11-01T08:00:00Z");
                if (i == 5)
                        assert_int_equal(evd_catalog_write(c, rewind_fn, NULL, &err), 0);
                assert_int_equal(evd_catalog_write(c, put_fn, &p, &err), 0);
                assert_int_equal(json_integer_value(json_object_get(p.item, "id")), i < 5 ? i : 2);
                json_decref(p.item);
        }
        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        assert_int_equal(evd_catalog_item_get(&t, 2, &got), 0);
        assert_string_equal(json_string_value(json_object_get(got, "sha256")) + 63, "0");
        json_decref(got);
        /* In id order, each with its own record: 1..4, item 2 the new one. */
        assert_int_equal(evd_catalog_items_from(&t, 1, 10, ids_cb, ids, NULL), 0);
        assert_string_equal(ids, "11203344");
        evd_catalog_read_end(&t);
        evd_catalog_free(c);
        tu_rmtree(dir);
}

struct tamper {
        uint64_t seq;
        const char *from, *to; /* replace in the stored text; NULL to delete the entry */
};

static int tamper_fn(struct evd_txn *txn, void *p)
{
        struct tamper *t = p;
        uint8_t key[8];
        MDB_val k = { 8, key }, v;
        char *text, *at;
        int r;

        evd_be64_put(key, t->seq);
        if (!t->from)
                return evd_txn_del(txn, EVD_DB_AUDIT, &k, NULL);
        assert_int_equal(mdb_get(txn->txn, evd_txn_dbi(txn, EVD_DB_AUDIT), &k, &v), 0);
        text = strndup(v.mv_data, v.mv_size);
        at = strstr(text, t->from);
        assert_non_null(at);
        memcpy(at, t->to, strlen(t->to)); /* same length */
        v.mv_data = text;
        r = evd_txn_put(txn, EVD_DB_AUDIT, &k, &v, 0);
        free(text);
        return r;
}

static int append_fn(struct evd_txn *txn, void *p)
{
        json_t *d = json_pack("{si ss}", "n", *(int *)p, "path", "DCIM/视频.mp4");
        int r = evd_audit_append(txn, &tester, "test.event", "subject", d, NULL);

        json_decref(d);
        return r;
}

static void audit_chain(void **state)
{
        char *dir = tu_tempdir();
        struct evd_catalog *c;
        struct evd_err err = { 0 };
        struct evd_txn t;
        uint64_t n = 0, seq;
        uint8_t head[EVD_SHA256_LEN];
        struct tamper edit = { 3, "\"n\":2", "\"n\":9" }, drop = { 5, NULL, NULL };

        (void)state;
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        for (int i = 0; i < 6; i++)
                assert_int_equal(evd_catalog_write(c, append_fn, &i, &err), 0);
        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        assert_int_equal(evd_audit_verify(&t, &n, &err), 0);
        assert_int_equal(n, 6);
        assert_int_equal(evd_audit_head(&t, &seq, head), 0);
        assert_int_equal(seq, 6);
        evd_catalog_read_end(&t);

        /* An edited entry is named. */
        assert_int_equal(evd_catalog_write(c, tamper_fn, &edit, &err), 0);
        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        assert_int_equal(evd_audit_verify(&t, &n, &err), -EBADMSG);
        evd_catalog_read_end(&t);
        assert_non_null(strstr(err.text, "audit entry 3: content does not match its hash"));
        edit = (struct tamper){ 3, "\"n\":9", "\"n\":2" };
        assert_int_equal(evd_catalog_write(c, tamper_fn, &edit, &err), 0);

        /* A removed entry is named. */
        assert_int_equal(evd_catalog_write(c, tamper_fn, &drop, &err), 0);
        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        assert_int_equal(evd_audit_verify(&t, &n, &err), -EBADMSG);
        evd_catalog_read_end(&t);
        assert_non_null(strstr(err.text, "audit entry 5: missing"));
        evd_catalog_free(c);
        tu_rmtree(dir);
}

/* Entries of three kinds; the second kind's details name the first kind's event. */
static int kinds_fn(struct evd_txn *txn, void *p)
{
        static const char *const events[] = { "item.accessed", "item.labelled", "station.started" };
        int i = *(int *)p;
        json_t *d = json_pack("{si ss}", "n", i, "note", "not an item.accessed entry");
        int r = evd_audit_append(txn, &tester, events[i % 3], "item:1", d, NULL);

        json_decref(d);
        return r;
}

static int seqs_cb(json_t *e, void *p)
{
        json_t *seqs = p;

        return json_array_append(seqs, json_object_get(e, "seq"));
}

static void audit_by_event(void **state)
{
        static const char *const wanted[] = { "item.accessed", "station.started" };
        char *dir = tu_tempdir();
        struct evd_catalog *c;
        struct evd_err err = { 0 };
        struct evd_txn t;
        json_t *seqs = json_array(), *e = NULL;
        char *text;

        (void)state;
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        for (int i = 0; i < 9; i++)
                assert_int_equal(evd_catalog_write(c, kinds_fn, &i, &err), 0);
        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        /* Those two kinds only, in order, the labelled ones (whose bytes hold the name
         * "item.accessed" too) left out; from a seq on. */
        assert_int_equal(evd_audit_each_event(&t, 0, INT64_MIN, wanted, 2, seqs_cb, seqs), 0);
        text = json_dumps(seqs, JSON_COMPACT);
        assert_string_equal(text, "[1,3,4,6,7,9]");
        free(text);
        json_array_clear(seqs);
        assert_int_equal(evd_audit_each_event(&t, 5, INT64_MIN, wanted, 1, seqs_cb, seqs), 0);
        assert_int_equal(json_array_size(seqs), 1);
        assert_int_equal(json_integer_value(json_array_get(seqs, 0)), 7);
        /* One entry by its seq; none past the head. */
        assert_int_equal(evd_audit_get(&t, 5, &e), 0);
        assert_string_equal(json_string_value(json_object_get(e, "event")), "item.labelled");
        json_decref(e);
        assert_int_equal(evd_audit_get(&t, 10, &e), -ENOENT);
        evd_catalog_read_end(&t);
        json_decref(seqs);
        evd_catalog_free(c);
        tu_rmtree(dir);
}

/* Entries about item:1, item:12, item:2 and dock:2, one after another; the dock's entry
 * names item:2 in its details. */
static int subjects_fn(struct evd_txn *txn, void *p)
{
        static const char *const subjects[] = { "item:1", "item:12", "item:2", "dock:2" };
        int i = *(int *)p;
        json_t *d = json_pack("{si ss}", "n", i, "subject", "item:2");
        int r = evd_audit_append(txn, &tester, "test.event", subjects[i % 4], d, NULL);

        json_decref(d);
        return r;
}

static void audit_by_item(void **state)
{
        static const uint64_t ids[] = { 12, 2 }; /* in any order */
        char *dir = tu_tempdir(), *text;
        struct evd_catalog *c;
        struct evd_err err = { 0 };
        struct evd_txn t;
        json_t *seqs = json_array();

        (void)state;
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        for (int i = 0; i < 8; i++)
                assert_int_equal(evd_catalog_write(c, subjects_fn, &i, &err), 0);
        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        /* item:12's and item:2's, never item:1's (nor item:12's for its prefix); the
         * dock's are passed on too, their details naming item:2 (each checks). */
        assert_int_equal(evd_audit_each_item(&t, ids, 2, seqs_cb, seqs), 0);
        text = json_dumps(seqs, JSON_COMPACT);
        assert_string_equal(text, "[2,3,4,6,7,8]");
        free(text);
        evd_catalog_read_end(&t);
        json_decref(seqs);
        evd_catalog_free(c);
        tu_rmtree(dir);
}

static void item_paths(void **state)
{
        json_t *o = json_object();
        const char *b64;

        (void)state;
        assert_int_equal(evd_item_set_path(o, "p", "视频\n.mp4", 11), 0);
        assert_string_equal(json_string_value(json_object_get(o, "p")), "视频\n.mp4");
        assert_null(json_object_get(o, "p_b64"));
        assert_int_equal(evd_item_set_path(o, "q", "a\xff", 2), 0);
        assert_string_equal(json_string_value(json_object_get(o, "q")), "a\\xff");
        b64 = json_string_value(json_object_get(o, "q_b64"));
        assert_non_null(b64);
        assert_string_equal(b64, "Yf8=");
        json_decref(o);
}

/* Recording times in file names, in station local time (UTC here). */
static void filename_times(void **state)
{
        int64_t t;
        char buf[EVD_TIME_STR];

        (void)state;
        assert_int_equal(
                evd_item_filename_time("DCIM/VID_20261120_091500.MP4", 28, "YYYYMMDD_HHMMSS", &t),
                0);
        evd_time_format(t, buf);
        assert_string_equal(buf, "2026-11-20T09:15:00Z");
        assert_int_equal(
                evd_item_filename_time("2026-11-20 09.15.07.mp4", 23, "YYYY-MM-DD HH.MM.SS", &t),
                0);
        evd_time_format(t, buf);
        assert_string_equal(buf, "2026-11-20T09:15:07Z");
        /* No match, impossible fields, a directory part that must not count. */
        assert_int_equal(evd_item_filename_time("CLIP0001.MP4", 12, "YYYYMMDD_HHMMSS", &t),
                         -ENOENT);
        assert_int_equal(evd_item_filename_time("20261340_091500.mp4", 19, "YYYYMMDD_HHMMSS", &t),
                         -ENOENT);
        assert_int_equal(
                evd_item_filename_time("20261120_091500/clip.mp4", 24, "YYYYMMDD_HHMMSS", &t),
                -ENOENT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(items_and_indexes), cmocka_unit_test(sources),
                cmocka_unit_test(map_grows),         cmocka_unit_test(schema_is_checked),
                cmocka_unit_test(audit_chain),       cmocka_unit_test(audit_by_event),
                cmocka_unit_test(audit_by_item),     cmocka_unit_test(item_paths),
                cmocka_unit_test(filename_times),    cmocka_unit_test(new_id_below_the_highest),
        };

        (void)setenv("TZ", "UTC", 1);
        tzset();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
