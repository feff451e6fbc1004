/* The archive's backlog (backlog.h): after items are catalogued, relabelled,
 * confirmed, failed and queued again in random order, its figures equal a count
 * the test keeps itself; a catalogue from before the backlog is filled once at
 * ready, and a second ready changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "catalog.h"
#include "util.h"
#include "testutil.h"

#define N 400
#define BASE_TIME 1767225600 /* 2026-01-01T00:00:00Z */

struct model {
        uint64_t id[N];
        int64_t at[N], size[N];
        int state[N]; /* 0 none, 1 pending, 2 purged (its record alone), 3 confirmed */
        bool failing[N];
};

struct step {
        struct model *m;
        bool note; /* tell the backlog (false: a catalogue from before it) */
        unsigned seed;
};

static unsigned next(unsigned *s)
{
        *s = *s * 1103515245u + 12345u;
        return *s >> 8;
}

static int put_items(struct evd_txn *txn, void *p)
{
        struct model *m = p;
        char sha[65], at[EVD_TIME_STR];

        for (int i = 0; i < N; i++) {
                json_t *item;
                int r;

                (void)snprintf(sha, sizeof(sha), "%064x", i + 1);
                evd_time_format(m->at[i], at);
                item = json_pack("{ss sI ss ss}", "sha256", sha, "size", (json_int_t)m->size[i],
                                 "ingested_at", at, "recorder", "R1");
                r = evd_catalog_item_put(txn, item);
                m->id[i] = (uint64_t)json_integer_value(json_object_get(item, "id"));
                json_decref(item);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Random replication records and relabels, as cmd_replication writes them. */
static int churn(struct evd_txn *txn, void *p)
{
        static const char *const states[] = { "", "pending", "purged", "confirmed" };
        struct step *st = p;
        struct model *m = st->m;

        for (int n = 0; n < 3 * N; n++) {
                int i = (int)(next(&st->seed) % N), what = (int)(next(&st->seed) % 5), r;
                char key[24];
                json_t *rec, *item = NULL;

                if (what == 4) { /* a relabel: the item is put again */
                        if (evd_catalog_item_get(txn, m->id[i], &item) < 0)
                                return -EIO;
                        (void)json_object_set_new(item, "labels", json_pack("{si}", "n", n));
                        r = evd_catalog_item_put(txn, item);
                        json_decref(item);
                        if (r < 0)
                                return r;
                        continue;
                }
                m->state[i] = what == 0 ? (m->state[i] ? m->state[i] : 1) : what;
                m->failing[i] = what == 0;
                rec = json_pack("{ss so}", "state", states[m->state[i]], "last_error",
                                what == 0 ? json_string("503 Slow Down") : json_null());
                (void)snprintf(key, sizeof(key), "%llu", (unsigned long long)m->id[i]);
                r = evd_catalog_json_put(txn, EVD_DB_REPLICATION, key, rec);
                if (r == 0 && st->note)
                        r = evd_backlog_note(txn, m->id[i], rec);
                json_decref(rec);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int confirm_all(struct evd_txn *txn, void *p)
{
        struct model *m = p;
        json_t *rec = json_pack("{ss sn}", "state", "confirmed", "last_error");
        char key[24];
        int r = 0;

        for (int i = 0; i < N && r == 0; i++) {
                m->state[i] = 3;
                m->failing[i] = false;
                (void)snprintf(key, sizeof(key), "%llu", (unsigned long long)m->id[i]);
                r = evd_catalog_json_put(txn, EVD_DB_REPLICATION, key, rec);
                if (r == 0)
                        r = evd_backlog_note(txn, m->id[i], rec);
        }
        json_decref(rec);
        return r;
}

static void check(struct evd_catalog *c, const struct model *m)
{
        struct evd_backlog want = { .items = N }, got;
        struct evd_txn txn;

        for (int i = 0; i < N; i++) {
                if (m->state[i] != 3 && m->state[i] != 2) {
                        want.pending++;
                        want.pending_bytes += (uint64_t)m->size[i];
                        if (!want.oldest || m->at[i] < want.oldest)
                                want.oldest = m->at[i];
                }
                want.failing += m->failing[i];
        }
        assert_int_equal(evd_catalog_read_begin(c, &txn), 0);
        assert_int_equal(evd_backlog_get(&txn, &got), 0);
        evd_catalog_read_end(&txn);
        assert_int_equal(got.items, want.items);
        assert_int_equal(got.pending, want.pending);
        assert_int_equal(got.pending_bytes, want.pending_bytes);
        assert_int_equal(got.oldest, want.oldest);
        assert_int_equal(got.failing, want.failing);
}

static struct model *model_new(void)
{
        struct model *m = calloc(1, sizeof(*m));
        unsigned s = 7;

        assert_non_null(m);
        for (int i = 0; i < N; i++) {
                m->at[i] = BASE_TIME + (int64_t)(next(&s) % (300 * 86400));
                m->size[i] = 1 + (int64_t)(next(&s) % 100000000);
        }
        return m;
}

static void test_kept_as_it_changes(void **state)
{
        char *dir = tu_tempdir();
        struct model *m = model_new();
        struct step st = { .m = m, .note = true, .seed = 42 };
        struct evd_catalog *c = NULL;
        struct evd_err err = { 0 };

        (void)state;
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        assert_int_equal(evd_backlog_ready(c, &err), 0);
        assert_int_equal(evd_catalog_write(c, put_items, m, &err), 0);
        check(c, m); /* every new item pending */
        for (int round = 0; round < 4; round++) {
                assert_int_equal(evd_catalog_write(c, churn, &st, &err), 0);
                check(c, m);
        }
        assert_int_equal(evd_catalog_write(c, confirm_all, m, &err), 0);
        check(c, m); /* nothing pending, no oldest */
        evd_catalog_free(c);
        free(m);
        tu_rmtree(dir);
}

/* Drop what the backlog keeps: the catalogue as a station before it left it. */
static int forget(struct evd_txn *txn, void *unused)
{
        const char *flags[] = { EVD_BACKLOG_FLAG, EVD_BACKLOG_FAILING };
        const char *meta[] = { EVD_BACKLOG_BYTES, EVD_BACKLOG_READY };
        MDB_val k;
        int r;

        (void)unused;
        for (int i = 0; i < 2; i++) {
                k = (MDB_val){ strlen(flags[i]), (void *)flags[i] };
                if ((r = evd_txn_del(txn, EVD_DB_BY_FLAG, &k, NULL)) < 0 && r != -ENOENT)
                        return r;
                k = (MDB_val){ strlen(meta[i]), (void *)meta[i] };
                if ((r = evd_txn_del(txn, EVD_DB_META, &k, NULL)) < 0 && r != -ENOENT)
                        return r;
        }
        return 0;
}

static void test_filled_once_from_an_older_catalogue(void **state)
{
        char *dir = tu_tempdir();
        struct model *m = model_new();
        struct step st = { .m = m, .note = false, .seed = 9 };
        struct evd_catalog *c = NULL;
        struct evd_err err = { 0 };

        (void)state;
        assert_int_equal(evd_catalog_open(dir, 0, &c, &err), 0);
        assert_int_equal(evd_catalog_write(c, put_items, m, &err), 0);
        assert_int_equal(evd_catalog_write(c, churn, &st, &err), 0);
        assert_int_equal(evd_catalog_write(c, forget, NULL, &err), 0);
        assert_int_equal(evd_backlog_ready(c, &err), 0);
        check(c, m);
        assert_int_equal(evd_backlog_ready(c, &err), 0); /* no second count */
        check(c, m);
        evd_catalog_free(c);
        free(m);
        tu_rmtree(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kept_as_it_changes),
                cmocka_unit_test(test_filled_once_from_an_older_catalogue),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
