/* ingest: the engine's scheduling with a fake source whose reads can be held: copies
 * per job bounded, jobs served in turn, files of a job taken in order, a job's end
 * reported once (also when empty, failed in part, or cancelled). The store and the
 * catalog are real, in a temporary folder. Waits are on events, never fixed sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "catalog.h"
#include "clock.h"
#include "ingest.h"
#include "store.h"
#include "testutil.h"

#define FILES_MAX 16
#define FILE_SIZE (64 * 1024)
#define WAIT_S 60 /* generous: the machine may be loaded */
#define OPENS_MAX 64

static const struct evd_actor tester = { .uid = 1000, .name = "tester" };

/* A source: its files' contents are computed; reads wait while the source is held. */
struct source {
        struct fixture *fx;
        char name;              /* 'A', 'B': which job, in the order of opens */
        int active, max_active; /* fx->lock */
        uint64_t fail_handle;   /* open fails for this file (0: none) */
};

struct fixture {
        char *dir;
        struct evd_store *store;
        struct evd_catalog *catalog;
        struct evd_ingest *ingest;
        struct evd_conf conf;
        pthread_mutex_t lock;
        pthread_cond_t changed;
        bool held;
        int active;               /* reads in progress over all sources */
        char opens[OPENS_MAX][8]; /* "A1", "B3": each open in order */
        int n_opens;
        int done_calls;
};

struct open_file {
        struct source *src;
        uint64_t handle, size;
        bool entered;
};

static ssize_t fake_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
        struct open_file *f = ctx;
        struct fixture *fx = f->src->fx;
        uint8_t *b = buf;

        pthread_mutex_lock(&fx->lock);
        while (fx->held)
                pthread_cond_wait(&fx->changed, &fx->lock);
        pthread_mutex_unlock(&fx->lock);
        if (off >= f->size)
                return 0;
        if (len > f->size - off)
                len = (size_t)(f->size - off);
        for (size_t i = 0; i < len; i++)
                b[i] = (uint8_t)((f->handle * 13 + off + i) % 253);
        return (ssize_t)len;
}

/* On a copy worker: no cmocka asserts (they cannot unwind another thread). */
static int fake_open(void *source, const struct evd_original *orig, struct evd_reader *ret_reader,
                     void **ret_state, struct evd_err *err)
{
        struct source *src = source;
        struct fixture *fx = src->fx;
        struct open_file *f;

        if (orig->handle == src->fail_handle)
                return evd_err_set(err, -EIO, "the medium could not be read");
        f = calloc(1, sizeof(*f));
        if (!f)
                return evd_err_set(err, -ENOMEM, "out of memory");
        f->src = src;
        f->handle = orig->handle;
        f->size = orig->size;
        pthread_mutex_lock(&fx->lock);
        if (fx->n_opens < OPENS_MAX)
                (void)snprintf(fx->opens[fx->n_opens++], sizeof(fx->opens[0]), "%c%llu", src->name,
                               (unsigned long long)orig->handle);
        src->active++;
        fx->active++;
        if (src->active > src->max_active)
                src->max_active = src->active;
        pthread_cond_broadcast(&fx->changed);
        pthread_mutex_unlock(&fx->lock);
        ret_reader->pread = fake_pread;
        ret_reader->ctx = f;
        *ret_state = f;
        return 0;
}

static void fake_close(void *source, void *state)
{
        struct source *src = source;
        struct fixture *fx = src->fx;

        pthread_mutex_lock(&fx->lock);
        src->active--;
        fx->active--;
        pthread_cond_broadcast(&fx->changed);
        pthread_mutex_unlock(&fx->lock);
        free(state);
}

static const struct evd_source_ops fake_ops = { .open = fake_open, .close = fake_close };

static int setup(void **state)
{
        struct fixture *fx = calloc(1, sizeof(*fx));
        struct evd_err err = { 0 };
        char path[600];

        assert_non_null(fx);
        fx->dir = tu_tempdir();
        pthread_mutex_init(&fx->lock, NULL);
        pthread_cond_init(&fx->changed, NULL);
        assert_int_equal(evd_store_open(fx->dir, &fx->store, &err), 0);
        (void)snprintf(path, sizeof(path), "%s/catalog", fx->dir);
        assert_int_equal(evd_catalog_open(path, 0, &fx->catalog, &err), 0);
        evd_conf_defaults(&fx->conf);
        fx->conf.reserve_mb = 0;
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *fx = *state;

        pthread_mutex_lock(&fx->lock);
        fx->held = false;
        pthread_cond_broadcast(&fx->changed);
        pthread_mutex_unlock(&fx->lock);
        evd_ingest_free(fx->ingest);
        evd_catalog_free(fx->catalog);
        evd_store_free(fx->store);
        tu_rmtree(fx->dir);
        free(fx);
        return 0;
}

static void start_engine(struct fixture *fx, int workers)
{
        struct evd_err err = { 0 };

        assert_int_equal(evd_ingest_new(fx->store, fx->catalog, workers, &fx->ingest, &err), 0);
}

/* n originals named prefix/0001.MP4 ..., handles 1..n, sizes differing by one byte. */
static struct evd_original *originals(const char *prefix, size_t n)
{
        /* One recording time for the whole run: the same file listed again must look the
         * same (a later second would make it another file to the catalogue). */
        static int64_t recorded;
        struct evd_original *o = calloc(n, sizeof(*o));

        assert_non_null(o);
        if (!recorded)
                recorded = evd_clock_now() - 60;
        for (size_t i = 0; i < n; i++) {
                char name[64];

                (void)snprintf(name, sizeof(name), "%s/%04zu.MP4", prefix, i + 1);
                o[i].path = strdup(name);
                assert_non_null(o[i].path);
                o[i].path_len = strlen(name);
                o[i].size = FILE_SIZE + i;
                o[i].mtime = recorded;
                o[i].handle = i + 1;
        }
        return o;
}

static struct evd_ingest_job *job_over(struct fixture *fx, struct source *src, const char *prefix,
                                       size_t n, int max_parallel)
{
        struct evd_ingest_job *job =
                evd_ingest_job_new("import", "REC0001", &tester, &fx->conf, &fake_ops, src,
                                   originals(prefix, n), n, max_parallel, NULL);

        assert_non_null(job);
        return job;
}

static void on_done(struct evd_ingest_job *job, void *userdata)
{
        struct fixture *fx = userdata;

        (void)job;
        pthread_mutex_lock(&fx->lock);
        fx->done_calls++;
        pthread_cond_broadcast(&fx->changed);
        pthread_mutex_unlock(&fx->lock);
}

static void hold(struct fixture *fx, bool held)
{
        pthread_mutex_lock(&fx->lock);
        fx->held = held;
        pthread_cond_broadcast(&fx->changed);
        pthread_mutex_unlock(&fx->lock);
}

/* Wait (fx->lock held) until cond; fail after WAIT_S. */
#define WAIT_LOCKED(fx, cond)                                                                      \
        do {                                                                                       \
                struct timespec until_;                                                            \
                (void)clock_gettime(CLOCK_REALTIME, &until_);                                      \
                until_.tv_sec += WAIT_S;                                                           \
                while (!(cond))                                                                    \
                        if (pthread_cond_timedwait(&(fx)->changed, &(fx)->lock, &until_) != 0)     \
                                break;                                                             \
                assert_true(cond);                                                                 \
        } while (0)

static void wait_done_calls(struct fixture *fx, int n)
{
        pthread_mutex_lock(&fx->lock);
        WAIT_LOCKED(fx, fx->done_calls >= n);
        pthread_mutex_unlock(&fx->lock);
}

static void wait_active(struct fixture *fx, int n)
{
        pthread_mutex_lock(&fx->lock);
        WAIT_LOCKED(fx, fx->active == n);
        pthread_mutex_unlock(&fx->lock);
}

static json_int_t count(const json_t *report, const char *key)
{
        return json_integer_value(json_object_get(report, key));
}

struct events {
        const char *event;
        int n;
};

static int count_event(json_t *entry, void *p)
{
        struct events *e = p;
        const char *ev = json_string_value(json_object_get(entry, "event"));

        e->n += ev && strcmp(ev, e->event) == 0;
        return 0;
}

static int audited(struct fixture *fx, const char *event)
{
        struct events e = { event, 0 };

        assert_int_equal(evd_audit_each_snapshot(fx->catalog, 0, INT64_MIN, count_event, &e), 0);
        return e.n;
}

/* ---- tests ---- */

/* A job's end: on_done once, after every file; each stored, catalogued and audited;
 * the same files again are skipped without being read. */
static void job_completes_once(void **state)
{
        struct fixture *fx = *state;
        struct source src = { .fx = fx, .name = 'A' };
        struct evd_ingest_job *job;
        struct evd_ingest_progress p;
        json_t *report;
        uint64_t items = 0, map = 0;

        start_engine(fx, 2);
        job = job_over(fx, &src, "DCIM", 5, 0);
        evd_ingest_submit(fx->ingest, job, on_done, fx);
        wait_done_calls(fx, 1);
        evd_ingest_job_progress(job, &p);
        assert_true(p.finished);
        assert_int_equal(p.bytes_done, p.bytes_total);
        report = evd_ingest_job_report(job);
        assert_int_equal(count(report, "files_stored"), 5);
        assert_int_equal(count(report, "files_not_copied"), 0);
        assert_false(json_is_true(json_object_get(report, "interrupted")));
        json_decref(report);
        assert_int_equal(evd_catalog_stat(fx->catalog, &items, &map), 0);
        assert_int_equal(items, 5);
        assert_int_equal(audited(fx, "item.stored"), 5);
        assert_int_equal(audited(fx, "import.done"), 1);
        evd_ingest_job_free(job);
        assert_int_equal(fx->done_calls, 1);
        assert_int_equal(src.active, 0);

        fx->n_opens = 0;
        job = job_over(fx, &src, "DCIM", 5, 0);
        evd_ingest_submit(fx->ingest, job, on_done, fx);
        wait_done_calls(fx, 2);
        report = evd_ingest_job_report(job);
        assert_int_equal(count(report, "files_skipped"), 5);
        assert_int_equal(fx->n_opens, 0); /* not read at all */
        json_decref(report);
        evd_ingest_job_free(job);
}

/* An empty job ends inside submit. */
static void empty_job_ends_at_once(void **state)
{
        struct fixture *fx = *state;
        struct source src = { .fx = fx, .name = 'A' };
        struct evd_ingest_job *job;

        start_engine(fx, 1);
        job = evd_ingest_job_new("import", "REC0001", &tester, &fx->conf, &fake_ops, &src, NULL, 0,
                                 0, NULL);
        assert_non_null(job);
        evd_ingest_submit(fx->ingest, job, on_done, fx);
        assert_int_equal(fx->done_calls, 1);
        assert_false(evd_ingest_busy(fx->ingest));
        evd_ingest_job_free(job);
}

/* A job's max_parallel bounds its copies even when workers are free: the free
 * workers take another job's files meanwhile. */
static void parallel_copies_are_bounded(void **state)
{
        struct fixture *fx = *state;
        struct source a = { .fx = fx, .name = 'A' }, b = { .fx = fx, .name = 'B' };
        struct evd_ingest_job *ja, *jb;

        start_engine(fx, 4);
        hold(fx, true);
        ja = job_over(fx, &a, "A", 8, 2);
        evd_ingest_submit(fx->ingest, ja, on_done, fx);
        wait_active(fx, 2);
        assert_true(evd_ingest_busy(fx->ingest));
        jb = job_over(fx, &b, "B", 8, 0);
        evd_ingest_submit(fx->ingest, jb, on_done, fx);
        wait_active(fx, 4); /* the two idle workers went to B, not to A */
        pthread_mutex_lock(&fx->lock);
        assert_int_equal(a.active, 2);
        assert_int_equal(b.active, 2);
        pthread_mutex_unlock(&fx->lock);
        hold(fx, false);
        wait_done_calls(fx, 2);
        assert_int_equal(a.max_active, 2);
        assert_true(b.max_active >= 2 && b.max_active <= 4);
        assert_false(evd_ingest_busy(fx->ingest));
        evd_ingest_job_free(ja);
        evd_ingest_job_free(jb);
}

static int files_seen;

static int count_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        (void)path;
        (void)st;
        (void)ftw;
        files_seen += type == FTW_F;
        return 0;
}

/* Objects published so far (a file of objects/ab/cd/). */
static int objects_published(const struct fixture *fx)
{
        char path[600];

        (void)snprintf(path, sizeof(path), "%s/objects", fx->dir);
        files_seen = 0;
        assert_int_equal(nftw(path, count_file, 16, FTW_PHYS), 0);
        return files_seen;
}

/* A job of small files whose max_parallel allows more gets that many workers, not
 * EVD_INGEST_JOB_WORKERS, although the engine started with fewer: its files wait on
 * syncs, not on the source. Held at the gate after publishing, 8 are in flight. */
static void small_files_get_more_workers(void **state)
{
        struct fixture *fx = *state;
        struct source a = { .fx = fx, .name = 'A' };
        struct evd_ingest_job *ja;
        char gate[600];
        int n = 0;

        (void)snprintf(gate, sizeof(gate), "%s/gate", fx->dir);
        tu_write(gate, "", 0);
        assert_int_equal(setenv("EVIDOCK_TEST_INGEST_GATE", gate, 1), 0);
        start_engine(fx, 4);
        ja = job_over(fx, &a, "A", 16, 8);
        evd_ingest_submit(fx->ingest, ja, on_done, fx);
        for (int i = 0; i < WAIT_S * 100 && (n = objects_published(fx)) < 8; i++)
                (void)usleep(10000);
        assert_int_equal(n, 8);
        (void)usleep(200000); /* no ninth: the job's bound holds */
        assert_int_equal(objects_published(fx), 8);
        (void)unlink(gate);
        wait_done_calls(fx, 1);
        assert_int_equal(objects_published(fx), 16);
        assert_int_equal(unsetenv("EVIDOCK_TEST_INGEST_GATE"), 0);
        evd_ingest_job_free(ja);
}

/* Small files are small on average: one big file among them makes the job a big one
 * (it keeps EVD_INGEST_JOB_WORKERS, each with a full ring). */
static void small_files_are_told_by_their_average(void **state)
{
        struct evd_original o[4] = { { .size = 8 },
                                     { .size = 100 << 10 },
                                     { .size = 0 },
                                     { .size = 4 * EVD_INGEST_SMALL_FILE } };

        (void)state;
        assert_false(evd_ingest_small_files(o, 0));
        assert_true(evd_ingest_small_files(o, 3));
        assert_false(evd_ingest_small_files(o, 4));
        o[3].size = 4 * EVD_INGEST_SMALL_FILE - o[0].size - o[1].size;
        assert_true(evd_ingest_small_files(o, 4)); /* exactly the bound on average */
        o[3].size += 4;                            /* a byte more each, on average */
        assert_false(evd_ingest_small_files(o, 4));
}

/* Two jobs: the jobs take turns (B does not wait for all of A). Files are handed out in
 * list order, but each job now has workers of its own (EVD_INGEST_JOB_WORKERS), so two
 * files of one job may be opened in either order: only the turns are asserted. */
static void jobs_take_turns_in_order(void **state)
{
        struct fixture *fx = *state;
        struct source a = { .fx = fx, .name = 'A' }, b = { .fx = fx, .name = 'B' };
        struct evd_ingest_job *ja, *jb;

        start_engine(fx, 1);
        hold(fx, true);
        ja = job_over(fx, &a, "A", 4, 0);
        evd_ingest_submit(fx->ingest, ja, on_done, fx);
        wait_active(fx, 1); /* one file of A is being read */
        jb = job_over(fx, &b, "B", 4, 0);
        evd_ingest_submit(fx->ingest, jb, on_done, fx);
        wait_active(fx, 2); /* and one of B: a turn of B's own while A holds A's */
        hold(fx, false);
        wait_done_calls(fx, 2);
        assert_int_equal(fx->n_opens, 8);
        /* Positions of each job's opens: pa[0] its first, pa[3] its last. */
        int pa[4] = { 0 }, pb[4] = { 0 }, na = 0, nb = 0;

        for (int i = 0; i < fx->n_opens; i++) {
                if (fx->opens[i][0] == 'A' && na < 4)
                        pa[na++] = i;
                else if (fx->opens[i][0] == 'B' && nb < 4)
                        pb[nb++] = i;
        }
        assert_int_equal(na, 4);
        assert_int_equal(nb, 4);
        assert_int_equal(pa[0], 0); /* A was alone at first */
        assert_true(pb[0] < pa[3]); /* fairness: B does not wait for all of A */
        assert_true(pa[1] < pb[3]); /* nor A, once B is there, for all of B */
        evd_ingest_job_free(ja);
        evd_ingest_job_free(jb);
}

/* A file that cannot be read fails alone: reported with its reason and audited; the
 * others are stored. */
static void failed_file_is_reported(void **state)
{
        struct fixture *fx = *state;
        struct source src = { .fx = fx, .name = 'A', .fail_handle = 2 };
        struct evd_ingest_job *job;
        json_t *report, *failure;

        start_engine(fx, 2);
        job = job_over(fx, &src, "DCIM", 3, 0);
        evd_ingest_submit(fx->ingest, job, on_done, fx);
        wait_done_calls(fx, 1);
        report = evd_ingest_job_report(job);
        assert_int_equal(count(report, "files_stored"), 2);
        assert_int_equal(count(report, "files_failed"), 1);
        failure = json_array_get(json_object_get(report, "failures"), 0);
        assert_string_equal(json_string_value(json_object_get(failure, "original_path")),
                            "DCIM/0002.MP4");
        assert_non_null(
                strstr(json_string_value(json_object_get(failure, "reason")), "could not be read"));
        assert_int_equal(audited(fx, "ingest.file_failed"), 1);
        json_decref(report);
        evd_ingest_job_free(job);
}

/* Cancelled with a file in flight: files not started are left, the one in flight
 * leaves no item, on_done comes once and the report says interrupted. */
static void cancel_mid_job(void **state)
{
        struct fixture *fx = *state;
        struct source src = { .fx = fx, .name = 'A' };
        struct evd_ingest_job *job;
        json_t *report;
        uint64_t items = 0, map = 0;

        start_engine(fx, 1);
        hold(fx, true);
        job = job_over(fx, &src, "DCIM", 4, 0);
        evd_ingest_submit(fx->ingest, job, on_done, fx);
        wait_active(fx, 1);
        evd_ingest_job_cancel(job);
        assert_int_equal(fx->done_calls, 0); /* a file is still in flight */
        hold(fx, false);
        wait_done_calls(fx, 1);
        report = evd_ingest_job_report(job);
        assert_true(json_is_true(json_object_get(report, "interrupted")));
        assert_int_equal(count(report, "files_failed"), 0);
        assert_true(count(report, "files_not_copied") >= 3);
        assert_int_equal(evd_catalog_stat(fx->catalog, &items, &map), 0);
        assert_true(items <= 1);
        assert_int_equal(audited(fx, "import.interrupted"), 1);
        assert_int_equal(fx->n_opens, 1);
        json_decref(report);
        evd_ingest_job_free(job);
        assert_int_equal(fx->done_calls, 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(job_completes_once, setup, teardown),
                cmocka_unit_test_setup_teardown(empty_job_ends_at_once, setup, teardown),
                cmocka_unit_test_setup_teardown(parallel_copies_are_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(small_files_get_more_workers, setup, teardown),
                cmocka_unit_test(small_files_are_told_by_their_average),
                cmocka_unit_test_setup_teardown(jobs_take_turns_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(failed_file_is_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(cancel_mid_job, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
