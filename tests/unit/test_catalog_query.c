/* catalog queries at scale (issue 16): on a catalogue of 50,000 items, every filter
 * served by an index, paged with the "after" cursor at two page sizes, gives exactly
 * what a brute-force scan of the items the test made gives, in recording-time order;
 * and a catalogue of schema 1 is re-indexed when opened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "util.h"
#include "testutil.h"

#define N_ITEMS 50000
#define BATCH 5000
#define BASE_TIME 1735689600 /* 2025-01-01T00:00:00Z */
#define SPAN (2 * 365 * 86400)

/* What the test made, kept apart from the catalogue: the brute force reads this. */
struct made {
        uint64_t id;
        int64_t t;                      /* INT64_MIN: no recording time */
        int recorder, case_no, handler; /* -1: none */
        bool party, late;
        int64_t deadline;
};

struct fixture {
        char *dir;
        struct evd_catalog *c;
        struct made *m;
};

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

static json_t *item_json(const struct made *m, size_t i)
{
        char sha[65], t[EVD_TIME_STR], deadline[EVD_TIME_STR], rec[16], cs[16], h[16];
        json_t *item, *labels;

        (void)snprintf(sha, sizeof(sha), "%064zx", i + 1);
        (void)snprintf(rec, sizeof(rec), "R%03d", m->recorder);
        (void)snprintf(cs, sizeof(cs), "C%04d", m->case_no);
        (void)snprintf(h, sizeof(h), "H%03d", m->handler);
        evd_time_format(m->deadline, deadline);
        labels = json_pack("{so? so? so?}", "case_no", m->case_no >= 0 ? json_string(cs) : NULL,
                           "party", m->party ? json_string("witness") : NULL, "handler",
                           m->handler >= 0 ? json_string(h) : NULL);
        item = json_pack("{ss sI ss so sb ss ss}", "sha256", sha, "size", (json_int_t)1000,
                         "recorder", rec, "labels", labels, "late", m->late, "deadline", deadline,
                         "original_path", "DCIM/100MEDIA/VID.MP4");
        if (item && m->t != INT64_MIN) {
                evd_time_format(m->t, t);
                (void)json_object_set_new(item, "recorded_at", json_string(t));
        }
        return item;
}

struct batch {
        struct made *m;
        size_t from, to;
};

static int put_batch(struct evd_txn *txn, void *p)
{
        struct batch *b = p;

        for (size_t i = b->from; i < b->to; i++) {
                json_t *item = item_json(&b->m[i], i);
                int r = item ? evd_catalog_item_put(txn, item) : -ENOMEM;

                if (r == 0)
                        b->m[i].id = (uint64_t)json_integer_value(json_object_get(item, "id"));
                json_decref(item);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int setup(void **state)
{
        struct fixture *fx = calloc(1, sizeof(*fx));
        struct evd_err err = { 0 };

        assert_non_null(fx);
        fx->dir = tu_tempdir();
        fx->m = calloc(N_ITEMS, sizeof(*fx->m));
        assert_non_null(fx->m);
        for (size_t i = 0; i < N_ITEMS; i++) {
                struct made *m = &fx->m[i];

                /* Many items share a second, so that ties go by id. */
                m->t = rnd() % 100 == 0 ? INT64_MIN
                                        : BASE_TIME + (int64_t)(rnd() % (SPAN / 60)) * 60;
                m->recorder = (int)(rnd() % 50);
                m->case_no = rnd() % 3 ? (int)(rnd() % 500) : -1;
                m->party = rnd() % 4 != 0;
                m->handler = rnd() % 10 ? (int)(rnd() % 100) : -1;
                m->late = rnd() % 10 == 0;
                m->deadline = (m->t == INT64_MIN ? BASE_TIME : m->t) + 3 * 86400;
        }
        assert_int_equal(evd_catalog_open(fx->dir, 0, &fx->c, &err), 0);
        for (size_t from = 0; from < N_ITEMS; from += BATCH) {
                struct batch b = { fx->m, from, from + BATCH };

                if (evd_catalog_write(fx->c, put_batch, &b, &err) < 0)
                        fail_msg("%s", err.text);
        }
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *fx = *state;

        evd_catalog_free(fx->c);
        tu_rmtree(fx->dir);
        free(fx->m);
        free(fx);
        return 0;
}

/* ---- the brute force ---- */

/* Is want the name prefix (R, C or H) with v in digits (3, or 4 for cases)? */
static bool is(const char *want, char prefix, int v)
{
        char s[16];

        if (v < 0)
                return false;
        (void)snprintf(s, sizeof(s), prefix == 'C' ? "%c%04d" : "%c%03d", prefix, v);
        return strcmp(s, want) == 0;
}

static bool matches(const struct made *m, const struct evd_item_filter *f)
{
        bool unlabeled = m->case_no < 0 || !m->party;

        if (f->recorder && !is(f->recorder, 'R', m->recorder))
                return false;
        if (f->case_no && !is(f->case_no, 'C', m->case_no))
                return false;
        if (f->handler && !is(f->handler, 'H', m->handler))
                return false;
        if (f->late && !m->late)
                return false;
        if (f->unlabeled && !unlabeled)
                return false;
        if (f->overdue && (!unlabeled || f->now <= m->deadline))
                return false;
        if ((f->has_since || f->has_until) &&
            (m->t == INT64_MIN || (f->has_since && m->t < f->since) ||
             (f->has_until && m->t > f->until)))
                return false;
        return true;
}

static int by_time_then_id(const void *a, const void *b)
{
        const struct made *x = *(const struct made *const *)a, *y = *(const struct made *const *)b;

        if (x->t != y->t)
                return x->t < y->t ? -1 : 1;
        return (x->id > y->id) - (x->id < y->id);
}

/* The ids a brute-force scan gives, in recording-time order then id. */
static size_t expected(const struct fixture *fx, const struct evd_item_filter *f, uint64_t *out)
{
        const struct made **v = calloc(N_ITEMS, sizeof(*v));
        size_t n = 0;

        assert_non_null(v);
        for (size_t i = 0; i < N_ITEMS; i++)
                if (matches(&fx->m[i], f))
                        v[n++] = &fx->m[i];
        qsort(v, n, sizeof(*v), by_time_then_id);
        for (size_t i = 0; i < n; i++)
                out[i] = v[i]->id;
        free(v);
        return n;
}

/* ---- the pages ---- */

struct page {
        uint64_t *ids;
        size_t n, max;
        bool more;
};

static int take(json_t *item, void *p)
{
        struct page *pg = p;

        if (pg->n == pg->max) {
                pg->more = true;
                return 1;
        }
        pg->ids[pg->n++] = (uint64_t)json_integer_value(json_object_get(item, "id"));
        return 0;
}

/* Every page of size per_page, each in a snapshot of its own, after the last id. */
static size_t paged(struct evd_catalog *c, const struct evd_item_filter *f, size_t per_page,
                    uint64_t *out)
{
        uint64_t after = 0;
        size_t total = 0;

        for (;;) {
                struct page pg = { .ids = out + total, .max = per_page };
                struct evd_txn t;

                assert_int_equal(evd_catalog_read_begin(c, &t), 0);
                assert_int_equal(evd_catalog_items_page(&t, f, after, take, &pg), 0);
                evd_catalog_read_end(&t);
                total += pg.n;
                if (!pg.more)
                        return total;
                assert_int_equal(pg.n, per_page);
                after = out[total - 1];
        }
}

static void check(const struct fixture *fx, const struct evd_item_filter *f)
{
        uint64_t *want_ids = calloc(N_ITEMS, sizeof(*want_ids));
        uint64_t *got = calloc(N_ITEMS + 1, sizeof(*got));
        size_t n = expected(fx, f, want_ids);
        const size_t sizes[] = { 1000, 37 };

        assert_non_null(want_ids);
        assert_non_null(got);
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                size_t m = paged(fx->c, f, sizes[s], got);

                if (m != n)
                        fail_msg("%zu items paged by %zu, %zu by brute force", m, sizes[s], n);
                assert_memory_equal(got, want_ids, n * sizeof(*got));
        }
        free(want_ids);
        free(got);
}

static void filters_match_brute_force(void **state)
{
        struct fixture *fx = *state;
        const int64_t mid = BASE_TIME + SPAN / 2;
        const struct evd_item_filter filters[] = {
                { 0 },
                { .recorder = "R007" },
                { .case_no = "C0042" },
                { .handler = "H013" },
                { .unlabeled = true },
                { .late = true },
                { .overdue = true, .now = mid },
                { .has_since = true, .since = mid, .has_until = true, .until = mid + 86400 * 30 },
                { .recorder = "R007",
                  .has_since = true,
                  .since = mid,
                  .has_until = true,
                  .until = mid + 86400 * 60 },
                { .handler = "H013", .late = true },
                { .case_no = "C0042", .unlabeled = true },
                { .recorder = "R999" },
        };

        for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
                check(fx, &filters[i]);
}

static void cursor_must_name_an_item(void **state)
{
        struct fixture *fx = *state;
        struct evd_item_filter f = { 0 };
        uint64_t id;
        struct page pg = { .ids = &id, .max = 1 };
        struct evd_txn t;

        assert_int_equal(evd_catalog_read_begin(fx->c, &t), 0);
        assert_int_equal(evd_catalog_items_page(&t, &f, N_ITEMS + 10, take, &pg), -ENOENT);
        evd_catalog_read_end(&t);
}

/* Schema 1: the indexes as they were (here: emptied, as a stand-in for the old
 * format), re-made when the catalogue is opened. */
static int downgrade(struct evd_txn *txn, void *p)
{
        uint8_t v1[8];
        MDB_val k = { 6, "schema" }, v = { 8, v1 };

        (void)p;
        evd_be64_put(v1, 1);
        if (mdb_drop(txn->txn, evd_txn_dbi(txn, EVD_DB_BY_FLAG), 0) ||
            mdb_drop(txn->txn, evd_txn_dbi(txn, EVD_DB_BY_RECORDER), 0) ||
            mdb_drop(txn->txn, evd_txn_dbi(txn, EVD_DB_BY_TIME), 0))
                return -EIO;
        return evd_txn_put(txn, EVD_DB_META, &k, &v, 0);
}

static void schema_1_is_reindexed(void **state)
{
        struct fixture *fx = *state;
        struct evd_err err = { 0 };
        const struct evd_item_filter filters[] = {
                { 0 }, { .recorder = "R007" }, { .unlabeled = true }, { .late = true }
        };

        assert_int_equal(evd_catalog_write(fx->c, downgrade, NULL, &err), 0);
        evd_catalog_free(fx->c);
        assert_int_equal(evd_catalog_open(fx->dir, 0, &fx->c, &err), 0);
        for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
                check(fx, &filters[i]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(filters_match_brute_force),
                cmocka_unit_test(cursor_must_name_an_item),
                cmocka_unit_test(schema_1_is_reindexed),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
