/* casefile and catalog_stage: the stage gaps kept in META "stage_gaps" as items move
 * between cases, change stage, get notes and new recording times stay equal to a
 * brute-force recomputation (evd_casefile_timeline over every item of every case);
 * a catalogue from before the by_case_stage index gets it built at start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>

#include "casefile.h"
#include "catalog_stage.h"
#include "catalog.h"
#include "testutil.h"

#define N_ITEMS 80
#define TOLERANCE 60

static const char *const cases[] = { "X罚〔2026〕1号", "X罚〔2026〕2号", "X罚〔2026〕3号",
                                     "X罚〔2026〕4号" };
static const char *const stages[] = { "现场检查", "询问", "送达" };

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (uint32_t)(rng >> 11);
}

/* A recording time on one morning, on a coarse grid so that starts and ends tie. */
static json_t *some_time(void)
{
        char t[32];
        unsigned s = (rnd() % 60) * 120;

        if (rnd() % 20 == 0)
                return json_null(); /* no recording time: not on the timeline */
        (void)snprintf(t, sizeof(t), "2026-03-02T%02u:%02u:%02uZ", 8 + s / 3600, s / 60 % 60,
                       s % 60);
        return json_string(t);
}

static void randomise(json_t *item, int what)
{
        json_t *labels = json_object_get(item, "labels");

        if (what == 0 || what == 4) { /* a case, or none */
                unsigned c = rnd() % 5;

                (void)json_object_set_new(labels, "case_no",
                                          c < 4 ? json_string(cases[c]) : json_null());
        }
        if (what == 1 || what == 4) { /* a stage, or none */
                unsigned s = rnd() % 4;

                if (s < 3)
                        (void)json_object_set_new(item, "stage", json_string(stages[s]));
                else
                        (void)json_object_del(item, "stage");
        }
        if (what == 2 && rnd() % 3 == 0) /* a note explains its gaps */
                (void)json_array_append_new(json_object_get(item, "notes"),
                                            json_pack("{ss}", "text", "battery"));
        if (what == 3 || what == 4) {
                json_t *t = some_time();

                if (json_is_null(t))
                        (void)json_object_del(item, "recorded_at");
                else
                        (void)json_object_set(item, "recorded_at", t);
                json_decref(t);
                (void)json_object_set_new(
                        json_object_get(item, "media"), "duration_s",
                        json_real(rnd() % 4 == 0 ? 0.0 : (double)(rnd() % 600) + 0.4));
        }
}

static int add_items(struct evd_txn *txn, void *p)
{
        json_t *all =
                json_pack("{sb sb sb sb}", cases[0], 1, cases[1], 1, cases[2], 1, cases[3], 1);
        int r = all ? 0 : -ENOMEM;

        (void)p;
        for (int i = 0; i < N_ITEMS && r == 0; i++) {
                char sha[65];
                json_t *item;

                (void)snprintf(sha, sizeof(sha), "%064x", i + 1);
                item = json_pack("{ss sI ss ss s{sn sn sn} s{sf} s[]}", "sha256", sha, "size",
                                 (json_int_t)1, "recorder", "BWC1", "original_path", "x.mp4",
                                 "labels", "case_no", "party", "handler", "media", "duration_s",
                                 0.0, "notes");
                randomise(item, 4);
                r = evd_catalog_item_put(txn, item);
                json_decref(item);
        }
        if (r == 0)
                r = evd_casefile_stage_recheck(txn, all, TOLERANCE);
        json_decref(all);
        return r;
}

/* One edit as cmd_records.c makes it: the cases the item leaves and joins rechecked. */
static int edit_one(struct evd_txn *txn, void *p)
{
        uint64_t id = 1 + rnd() % N_ITEMS;
        json_t *item = NULL, *touched = json_object();
        const char *no;
        int r = evd_catalog_item_get(txn, id, &item);

        (void)p;
        assert_int_equal(r, 0);
        if ((no = json_string_value(json_object_get(json_object_get(item, "labels"), "case_no"))))
                (void)json_object_set_new(touched, no, json_true());
        randomise(item, (int)(rnd() % 5));
        if ((no = json_string_value(json_object_get(json_object_get(item, "labels"), "case_no"))))
                (void)json_object_set_new(touched, no, json_true());
        r = evd_catalog_item_put(txn, item);
        if (r == 0)
                r = evd_casefile_stage_recheck(txn, touched, TOLERANCE);
        json_decref(item);
        json_decref(touched);
        return r;
}

static int group(json_t *item, void *by_case)
{
        const char *no =
                json_string_value(json_object_get(json_object_get(item, "labels"), "case_no"));

        if (!no)
                return 0;
        if (!json_object_get(by_case, no))
                (void)json_object_set_new(by_case, no, json_array());
        return json_array_append(json_object_get(by_case, no), item);
}

/* The brute force: every case's items through evd_casefile_timeline. */
static json_t *brute_force(struct evd_txn *txn)
{
        struct evd_item_filter all = { 0 };
        json_t *by_case = json_object(), *out = json_object(), *items, *g;
        const char *no;
        size_t i;

        assert_int_equal(evd_catalog_items_each(txn, &all, group, by_case), 0);
        json_object_foreach(by_case, no, items)
        {
                json_t *tl = evd_casefile_timeline(items, TOLERANCE), *open = json_array();

                json_array_foreach(json_object_get(tl, "gaps"), i,
                                   g) if (!json_is_true(json_object_get(g, "explained")))(void)
                        json_array_append(open, g);
                if (json_array_size(open))
                        (void)json_object_set(out, no, open);
                json_decref(open);
                json_decref(tl);
        }
        json_decref(by_case);
        return out;
}

static void assert_kept_right(struct evd_catalog *c, size_t *ret_gaps)
{
        struct evd_txn t;
        json_t *want, *have;

        assert_int_equal(evd_catalog_read_begin(c, &t), 0);
        want = brute_force(&t);
        have = evd_casefile_stage_gaps(&t);
        evd_catalog_read_end(&t);
        if (!json_equal(want, have)) {
                char *a = json_dumps(want, JSON_INDENT(1)), *b = json_dumps(have, JSON_INDENT(1));

                fprintf(stderr, "brute force:\n%s\nkept:\n%s\n", a, b);
                free(a);
                free(b);
                fail();
        }
        if (ret_gaps) {
                const char *no;
                json_t *list;

                json_object_foreach(have, no, list) *ret_gaps += json_array_size(list);
        }
        json_decref(want);
        json_decref(have);
}

static void relabelling_keeps_gaps(void **state)
{
        char *dir = tu_tempdir();
        struct evd_catalog *c;
        struct evd_err err = { 0 };
        size_t gaps = 0;

        (void)state;
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        assert_int_equal(evd_casefile_stage_ready(c, TOLERANCE, &err), 0);
        assert_int_equal(evd_catalog_write(c, add_items, NULL, &err), 0);
        assert_kept_right(c, &gaps);
        for (int i = 0; i < 400; i++) {
                assert_int_equal(evd_catalog_write(c, edit_one, NULL, &err), 0);
                assert_kept_right(c, &gaps);
        }
        assert_true(gaps > 100); /* the walk went through cases with gaps, many times */
        evd_catalog_free(c);
        tu_rmtree(dir);
}

/* A catalogue from before the index: by_case_stage empty, no "stage_index" mark. */
static int forget_index(struct evd_txn *txn, void *p)
{
        MDB_val k = { 11, "stage_index" };

        (void)p;
        assert_int_equal(mdb_drop(txn->txn, evd_txn_dbi(txn, EVD_DB_BY_CASE_STAGE), 0), 0);
        return evd_txn_del(txn, EVD_DB_META, &k, NULL);
}

static int count_index(struct evd_txn *txn, void *p)
{
        MDB_stat st;

        assert_int_equal(mdb_stat(txn->txn, evd_txn_dbi(txn, EVD_DB_BY_CASE_STAGE), &st), 0);
        *(size_t *)p = st.ms_entries;
        return 0;
}

static void old_catalogue_indexed_at_start(void **state)
{
        char *dir = tu_tempdir();
        struct evd_catalog *c;
        struct evd_err err = { 0 };
        size_t before = 0, gone = 1, after = 0;

        (void)state;
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        assert_int_equal(evd_casefile_stage_ready(c, TOLERANCE, &err), 0);
        assert_int_equal(evd_catalog_write(c, add_items, NULL, &err), 0);
        assert_int_equal(evd_catalog_write(c, count_index, &before, &err), 0);
        assert_true(before > 0);
        assert_int_equal(evd_catalog_write(c, forget_index, NULL, &err), 0);
        assert_int_equal(evd_catalog_write(c, count_index, &gone, &err), 0);
        assert_int_equal(gone, 0);
        assert_int_equal(evd_casefile_stage_ready(c, TOLERANCE, &err), 0);
        assert_int_equal(evd_catalog_write(c, count_index, &after, &err), 0);
        assert_int_equal(after, before);
        for (int i = 0; i < 50; i++)
                assert_int_equal(evd_catalog_write(c, edit_one, NULL, &err), 0);
        assert_kept_right(c, NULL);
        evd_catalog_free(c);
        tu_rmtree(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(relabelling_keeps_gaps),
                cmocka_unit_test(old_catalogue_indexed_at_start),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
