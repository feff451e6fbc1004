#include "station.h"
#include "station_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "clock.h"
#include "dirsource.h"
#include "dock.h"
#include "item.h"
#include "checkpoint.h"
#include "sequence.h"

#define ITEMS_LIST_MAX 1000000
#define AUDIT_LIST_MAX 100000
#define PROGRESS_INTERVAL_MS 500

static const struct evd_actor station_actor = { .uid = 0, .name = "evidockd" };

struct seq_ctx {
        const char *recorder, *pattern;
};

static int seq_fn(struct evd_txn *txn, void *p)
{
        struct seq_ctx *c = p;

        return evd_sequence_check(txn, c->recorder, c->pattern, &station_actor, NULL);
}

void evd_station_sequence_check(struct evd_station *s, const char *recorder)
{
        struct evd_conf conf;
        struct seq_ctx c = { .recorder = recorder };
        struct evd_err err = { 0 };

        evd_station_conf(s, &conf);
        c.pattern = conf.sequence_pattern;
        if (conf.sequence_pattern[0])
                (void)evd_catalog_write(s->catalog, seq_fn, &c, &err);
}

static bool ingest_busy(void *userdata)
{
        struct evd_station *s = userdata;

        return evd_ingest_busy(s->ingest);
}

int evd_station_new(const struct evd_conf *conf, struct evd_station **ret, struct evd_err *err)
{
        struct evd_station *s = calloc(1, sizeof(*s));
        char dir[EVD_CONF_PATH_MAX + 16];
        int r;

        if (!s)
                return evd_err_set(err, -ENOMEM, "out of memory");
        pthread_mutex_init(&s->lock, NULL);
        s->conf = *conf;
        r = evd_calendar_new(&s->calendar);
        if (r < 0) {
                (void)evd_err_set(err, r, "out of memory");
                goto fail;
        }
        for (int i = 0; i < conf->n_calendar_files; i++) {
                r = evd_calendar_add_file(s->calendar, conf->calendar_files[i], err);
                if (r < 0)
                        goto fail;
        }
        r = evd_store_open(conf->state_dir, &s->store, err);
        if (r < 0)
                goto fail;
        (void)snprintf(dir, sizeof(dir), "%s/catalog", conf->state_dir);
        r = evd_catalog_open(dir, 0, &s->catalog, err);
        if (r < 0)
                goto fail;
        r = evd_ingest_new(s->store, s->catalog, conf->parallel_copies, &s->ingest, err);
        if (r < 0)
                goto fail;
        r = evd_scrub_start(s->store, s->catalog, conf, ingest_busy, s, &s->scrub, err);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        evd_station_free(s);
        return r;
}

void evd_station_stop(struct evd_station *s)
{
        struct evd_ingest_job *jobs[IMPORTS_MAX];
        int n = 0;

        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        atomic_store(&s->cancel_exports, true);
        for (int i = 0; i < IMPORTS_MAX; i++)
                if (s->imports[i] && !s->imports[i]->done)
                        jobs[n++] = s->imports[i]->job;
        pthread_mutex_unlock(&s->lock);
        evd_scrub_stop(s->scrub);
        s->scrub = NULL;
        /* Outside the lock: cancelling may finish the job and call back into us. */
        for (int i = 0; i < n; i++)
                evd_ingest_job_cancel(jobs[i]);
}

void evd_station_free(struct evd_station *s)
{
        if (!s)
                return;
        evd_scrub_stop(s->scrub);
        evd_ingest_free(s->ingest);
        evd_catalog_free(s->catalog);
        evd_store_free(s->store);
        evd_calendar_free(s->calendar);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

int evd_station_reload(struct evd_station *s, const struct evd_conf *conf, struct evd_err *err)
{
        struct evd_conf next = *conf;
        bool kept = false;

        pthread_mutex_lock(&s->lock);
        if (strcmp(next.state_dir, s->conf.state_dir) != 0 ||
            strcmp(next.timezone, s->conf.timezone) != 0 ||
            strcmp(next.control_socket, s->conf.control_socket) != 0 ||
            next.parallel_copies != s->conf.parallel_copies ||
            memcmp(next.calendar_files, s->conf.calendar_files, sizeof(next.calendar_files)) != 0 ||
            next.n_calendar_files != s->conf.n_calendar_files) {
                memcpy(next.state_dir, s->conf.state_dir, sizeof(next.state_dir));
                memcpy(next.timezone, s->conf.timezone, sizeof(next.timezone));
                memcpy(next.control_socket, s->conf.control_socket, sizeof(next.control_socket));
                next.parallel_copies = s->conf.parallel_copies;
                memcpy(next.calendar_files, s->conf.calendar_files, sizeof(next.calendar_files));
                next.n_calendar_files = s->conf.n_calendar_files;
                kept = true;
        }
        s->conf = next;
        pthread_mutex_unlock(&s->lock);
        if (kept)
                return evd_err_set(err, -EAGAIN,
                                   "state_dir, control_socket, timezone, "
                                   "parallel_copies and calendar files take "
                                   "effect at the next start");
        return 0;
}

struct audit_ctx {
        const struct evd_actor *actor;
        const char *event, *subject;
        const json_t *details;
};

static int audit_fn(struct evd_txn *txn, void *p)
{
        struct audit_ctx *a = p;

        return evd_audit_append(txn, a->actor, a->event, a->subject, a->details, NULL);
}

int evd_station_audit(struct evd_station *s, const struct evd_actor *actor, const char *event,
                      const char *subject, const json_t *details)
{
        struct audit_ctx a = { actor ? actor : &station_actor, event, subject, details };
        struct evd_err err = { 0 };

        return evd_catalog_write(s->catalog, audit_fn, &a, &err);
}

void evd_station_conf(struct evd_station *s, struct evd_conf *ret)
{
        pthread_mutex_lock(&s->lock);
        *ret = s->conf;
        pthread_mutex_unlock(&s->lock);
}

/* An item by id ("17") or sha256 prefix (12+ hex digits). */
int evd_resolve_item(struct evd_txn *txn, const char *ref, uint64_t *ret_id, struct evd_err *err)
{
        size_t len = strlen(ref);
        int r;

        if (len >= 12 && evd_is_hex(ref, 12)) {
                r = evd_catalog_item_by_sha(txn, ref, ret_id);
                if (r == -EEXIST)
                        return evd_err_set(err, r, "%s: more than one item has this sha256 prefix",
                                           ref);
                if (r < 0)
                        return evd_err_set(err, r, "%s: no such item", ref);
                return 0;
        }
        if (len > 0 && len < 12 && strspn(ref, "0123456789") == len) {
                json_t *item;

                *ret_id = strtoull(ref, NULL, 10);
                r = evd_catalog_item_get(txn, *ret_id, &item);
                if (r < 0)
                        return evd_err_set(err, r, "%s: no such item", ref);
                json_decref(item);
                return 0;
        }
        return evd_err_set(err, -EINVAL,
                           "'%s' is neither an item id nor a sha256 prefix of 12+ hex digits", ref);
}

/* ---- status ---- */

static json_t *import_status(struct import *imp)
{
        struct evd_ingest_progress p;

        evd_ingest_job_progress(imp->job, &p);
        return json_pack("{ss sI sI sI sI sI sI}", "dir", imp->dir, "files_total",
                         (json_int_t)p.files_total, "files_done",
                         (json_int_t)p.files_stored + (json_int_t)p.files_duplicate +
                                 (json_int_t)p.files_skipped,
                         "files_failed", (json_int_t)p.files_failed, "bytes_total",
                         (json_int_t)p.bytes_total, "bytes_done", (json_int_t)p.bytes_done,
                         "files_stored", (json_int_t)p.files_stored);
}

static const char *folder_of(const json_t *gap)
{
        const char *f = json_string_value(json_object_get(gap, "folder"));

        return f && f[0] ? f : "/";
}

/* Registered recorders not docked for more than deadline_working_days working days:
 * their recordings may be waiting past the storage deadline. */
static void add_recorder_warnings(struct evd_station *s, struct evd_txn *txn,
                                  const struct evd_conf *conf, json_t *warnings)
{
        int64_t now = evd_clock_now();
        MDB_cursor *cur;
        MDB_val k, v;
        int rc;

        if (mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_RECORDERS), &cur) != 0)
                return;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
                const char *seen = json_string_value(json_object_get(rec, "last_seen"));
                int64_t last, deadline;
                bool known;
                char w[300];

                if (!seen)
                        seen = json_string_value(json_object_get(rec, "registered_at"));
                if (seen && evd_time_parse(seen, &last) == 0 &&
                    evd_calendar_deadline(s->calendar, last, conf->deadline_working_days, &deadline,
                                          &known) == 0 &&
                    now > deadline) {
                        (void)snprintf(w, sizeof(w),
                                       "recorder %s has not been docked since %s (more than %d "
                                       "working days)",
                                       json_string_value(json_object_get(rec, "serial")) ?: "?",
                                       seen, conf->deadline_working_days);
                        (void)json_array_append_new(warnings, json_string(w));
                }
                json_decref(rec);
        }
        mdb_cursor_close(cur);
}

static int cmd_status(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                      struct evd_err *err)
{
        struct evd_station *s = ud;
        uint64_t items = 0, map = 0, free_bytes = 0;
        json_t *imports = json_array(), *warnings = json_array(), *out, *scrub, *alarm;
        struct evd_conf conf;
        struct evd_txn txn;
        size_t k;

        (void)req;
        (void)args;
        evd_station_conf(s, &conf);
        (void)evd_catalog_stat(s->catalog, &items, &map);
        (void)evd_store_free_bytes(s->store, &free_bytes);
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < IMPORTS_MAX; i++)
                if (s->imports[i] && !s->imports[i]->done)
                        (void)json_array_append_new(imports, import_status(s->imports[i]));
        pthread_mutex_unlock(&s->lock);
        {
                uint64_t seen;

                if (evd_ingest_paused(s->ingest, &seen)) {
                        char w[200];

                        (void)snprintf(w, sizeof(w),
                                       "store nearly full: copying paused (%llu MiB free, reserve "
                                       "%d MiB); it resumes by itself when space returns",
                                       (unsigned long long)(seen >> 20), conf.reserve_mb);
                        (void)json_array_append_new(warnings, json_string(w));
                }
        }
        if (!evd_store_immutable(s->store))
                (void)json_array_append_new(
                        warnings, json_string("write-once is enforced by file permissions only: "
                                              "the immutable flag is not available "
                                              "(CAP_LINUX_IMMUTABLE or filesystem support "
                                              "missing)"));
        {
                time_t now = (time_t)evd_clock_now();
                struct tm tm;

                if (localtime_r(&now, &tm) &&
                    !evd_calendar_covers(s->calendar, tm.tm_year + 1900)) {
                        char w[200];

                        (void)snprintf(w, sizeof(w),
                                       "no working-day calendar for %d: Monday-Friday assumed "
                                       "for deadlines; add one to [calendar] files",
                                       tm.tm_year + 1900);
                        (void)json_array_append_new(warnings, json_string(w));
                }
        }
        if (evd_catalog_read_begin(s->catalog, &txn) == 0) {
                json_t *gaps = evd_sequence_unexplained(&txn), *g;

                add_recorder_warnings(s, &txn, &conf, warnings);
                evd_catalog_read_end(&txn);
                json_array_foreach(gaps, k, g)
                {
                        char w[600];

                        (void)snprintf(w, sizeof(w),
                                       "recorder %s: file numbers %lld to %lld missing in %s "
                                       "between items %lld and %lld; explain with evidockctl note",
                                       json_string_value(json_object_get(g, "recorder")) ?: "?",
                                       json_integer_value(json_object_get(g, "missing_from")),
                                       json_integer_value(json_object_get(g, "missing_to")),
                                       folder_of(g),
                                       json_integer_value(json_object_get(g, "before_id")),
                                       json_integer_value(json_object_get(g, "after_id")));
                        (void)json_array_append_new(warnings, json_string(w));
                }
                json_decref(gaps);
        }
        scrub = evd_scrub_status(s->scrub, s->catalog);
        json_array_foreach(json_object_get(scrub, "alarms"), k, alarm)
        {
                char w[EVD_ERR_TEXT_MAX + 64];

                (void)snprintf(w, sizeof(w), "ALARM: item %lld failed its fixity check: %s",
                               json_integer_value(json_object_get(alarm, "id")),
                               json_string_value(json_object_get(alarm, "error")) ?: "?");
                (void)json_array_append_new(warnings, json_string(w));
        }
        out = json_pack("{ss ss ss ss sI s[] so sI sI so so*}", "version", EVD_VERSION, "station",
                        conf.name, "state_dir", conf.state_dir, "write_once",
                        evd_store_immutable(s->store) ? "immutable" : "permissions", "free_bytes",
                        (json_int_t)free_bytes, "docks", "imports", imports, "items_total",
                        (json_int_t)items, "catalog_map_bytes", (json_int_t)map, "warnings",
                        warnings, "scrub", scrub);
        if (out) /* the archive's lag (cmd_replication.c) */
                (void)json_object_set_new(
                        out, "replication",
                        evd_station_replication_status(s, &conf, false, warnings));
        if (out) /* the signing key (cmd_keys.c), or a warning that there is none */
                (void)json_object_set_new(out, "signing",
                                          evd_station_signing_status(&conf, warnings));
        if (!out)
                return evd_err_set(err, -ENOMEM, "out of memory");
        /* The docks present, and their warnings (dock.h). */
        pthread_mutex_lock(&s->lock);
        evd_docks_status(s->docks, json_object_get(out, "docks"), json_object_get(out, "warnings"));
        pthread_mutex_unlock(&s->lock);
        *ret = out;
        return 0;
}

/* ---- import ---- */

static void import_done(struct evd_ingest_job *job, void *ud)
{
        struct evd_station *s = ud;

        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < IMPORTS_MAX; i++)
                if (s->imports[i] && s->imports[i]->job == job) {
                        s->imports[i]->done = true;
                        pthread_cond_broadcast(&s->imports[i]->done_cond);
                }
        pthread_mutex_unlock(&s->lock);
}

static int add_import(struct evd_station *s, struct import *imp, struct evd_err *err)
{
        int r = evd_err_set(err, -EBUSY, "too many imports running (at most %d)", IMPORTS_MAX);

        pthread_mutex_lock(&s->lock);
        if (s->stopping) {
                r = evd_err_set(err, -ESHUTDOWN, "the station is stopping");
        } else {
                for (int i = 0; i < IMPORTS_MAX; i++)
                        if (!s->imports[i]) {
                                s->imports[i] = imp;
                                r = 0;
                                break;
                        }
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

static void remove_import(struct evd_station *s, struct import *imp)
{
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < IMPORTS_MAX; i++)
                if (s->imports[i] == imp)
                        s->imports[i] = NULL;
        pthread_mutex_unlock(&s->lock);
}

/* Wait for the import's job, sending progress lines meanwhile. */
static void wait_import(struct evd_station *s, struct evd_request *req, struct import *imp)
{
        pthread_mutex_lock(&s->lock);
        while (!imp->done) {
                struct timespec until;

                (void)clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += PROGRESS_INTERVAL_MS * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                (void)pthread_cond_timedwait(&imp->done_cond, &s->lock, &until);
                if (!imp->done) {
                        json_t *p = import_status(imp);

                        pthread_mutex_unlock(&s->lock);
                        if (p)
                                evd_request_progress(req, p);
                        pthread_mutex_lock(&s->lock);
                }
        }
        pthread_mutex_unlock(&s->lock);
}

static int cmd_import(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                      struct evd_err *err)
{
        struct evd_station *s = ud;
        const char *dir = NULL, *recorder = NULL;
        struct evd_dirsource *src = NULL;
        struct evd_original *files = NULL;
        struct import *imp = NULL;
        json_t *notes = json_array(), *report = NULL, *started;
        struct evd_conf conf;
        size_t n = 0;
        int r;

        if ((r = evd_arg_string(args, "dir", true, &dir, err)) < 0 ||
            (r = evd_arg_string(args, "recorder", true, &recorder, err)) < 0 ||
            (r = evd_arg_serial(recorder, err)) < 0)
                goto out;
        if (strlen(dir) >= EVD_PATH_MAX) {
                r = evd_err_set(err, -ENAMETOOLONG, "folder path too long");
                goto out;
        }
        evd_station_conf(s, &conf);
        r = evd_dirsource_open(dir, &src, err);
        if (r < 0)
                goto out;
        r = evd_dirsource_list(src, &conf, notes, &files, &n, err);
        if (r < 0)
                goto out;
        imp = calloc(1, sizeof(*imp));
        if (!imp) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        pthread_cond_init(&imp->done_cond, NULL);
        (void)snprintf(imp->dir, sizeof(imp->dir), "%s", dir);
        imp->job = evd_ingest_job_new("import", recorder, evd_request_actor(req), &conf,
                                      &evd_dirsource_ops, src, files, n, 0, s->calendar);
        files = NULL; /* taken by the job */
        if (!imp->job) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        r = add_import(s, imp, err);
        if (r < 0)
                goto out;
        started = json_pack("{ss ss sI sI}", "dir", dir, "recorder", recorder, "files",
                            (json_int_t)n, "skipped_entries", (json_int_t)json_array_size(notes));
        (void)evd_station_audit(s, evd_request_actor(req), "import.started", recorder, started);
        json_decref(started);
        evd_ingest_submit(s->ingest, imp->job, import_done, s);
        wait_import(s, req, imp);
        remove_import(s, imp);
        evd_station_sequence_check(s, recorder);
        report = evd_ingest_job_report(imp->job);
        if (!report) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        (void)json_object_set_new(report, "dir", json_string(dir));
        (void)json_object_set(report, "skipped_entries", notes);
        *ret = report;
        r = 0;
out:
        if (imp) {
                evd_ingest_job_free(imp->job);
                pthread_cond_destroy(&imp->done_cond);
                free(imp);
        }
        evd_originals_free(files, n);
        evd_dirsource_free(src);
        json_decref(notes);
        return r;
}

/* ---- items, show ---- */

struct list_ctx {
        json_t *out;
        size_t max;
};

static int collect(json_t *item, void *p)
{
        struct list_ctx *l = p;

        if (json_array_size(l->out) >= l->max)
                return 1;
        return json_array_append(l->out, item) < 0 ? -ENOMEM : 0;
}

static int cmd_items(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                     struct evd_err *err)
{
        struct evd_station *s = ud;
        struct evd_item_filter f = { .now = evd_clock_now() };
        struct list_ctx l = { .out = json_array(), .max = ITEMS_LIST_MAX };
        int r;

        (void)req;
        if ((r = evd_arg_string(args, "case", false, &f.case_no, err)) < 0 ||
            (r = evd_arg_string(args, "recorder", false, &f.recorder, err)) < 0 ||
            (r = evd_arg_string(args, "handler", false, &f.handler, err)) < 0 ||
            (r = evd_arg_bool(args, "late", &f.late, err)) < 0 ||
            (r = evd_arg_bool(args, "unlabeled", &f.unlabeled, err)) < 0 ||
            (r = evd_arg_bool(args, "overdue", &f.overdue, err)) < 0 ||
            (r = evd_arg_time(args, "since", &f.has_since, &f.since, err)) < 0 ||
            (r = evd_arg_time(args, "until", &f.has_until, &f.until, err)) < 0)
                goto fail;
        if (!l.out) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        r = evd_catalog_items_snapshot(s->catalog, &f, collect, &l);
        if (r < 0) {
                r = evd_err_set(err, r, "catalog: %s", strerror(-r));
                goto fail;
        }
        *ret = l.out;
        return 0;
fail:
        json_decref(l.out);
        return r;
}

static int cmd_show(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                    struct evd_err *err)
{
        struct evd_station *s = ud;
        struct evd_txn txn;
        const char *ref = NULL;
        json_t *item = NULL;
        uint64_t id = 0;
        int r;

        (void)req;
        if ((r = evd_arg_string(args, "item", true, &ref, err)) < 0)
                return r;
        r = evd_catalog_read_begin(s->catalog, &txn);
        if (r < 0)
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        r = evd_resolve_item(&txn, ref, &id, err);
        if (r == 0)
                r = evd_catalog_item_get(&txn, id, &item);
        evd_catalog_read_end(&txn);
        if (r < 0)
                return err->code ? r : evd_err_set(err, r, "catalog: %s", strerror(-r));
        *ret = item;
        return 0;
}

/* ---- audit ---- */

static int cmd_audit(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                     struct evd_err *err)
{
        struct evd_station *s = ud;
        struct list_ctx l = { .out = json_array(), .max = AUDIT_LIST_MAX };
        json_t *from = json_object_get(args, "from_seq");
        int64_t since = INT64_MIN;
        bool has_since;
        int r;

        (void)req;
        if ((r = evd_arg_time(args, "since", &has_since, &since, err)) < 0)
                goto fail;
        if (!has_since)
                since = INT64_MIN;
        if (from && (!json_is_integer(from) || json_integer_value(from) < 0)) {
                r = evd_err_set(err, -EINVAL, "argument \"from_seq\" must be a whole number");
                goto fail;
        }
        r = evd_audit_each_snapshot(s->catalog, from ? (uint64_t)json_integer_value(from) : 0,
                                    since, collect, &l);
        if (r < 0) {
                r = evd_err_set(err, r, "audit log: %s", strerror(-r));
                goto fail;
        }
        *ret = l.out;
        return 0;
fail:
        json_decref(l.out);
        return r;
}

/* ---- verify ---- */

struct store_check {
        struct evd_station *s;
        struct evd_request *req;
        json_t *bad;
        uint64_t checked, bytes;
        uint64_t last_progress_ns;
};

static int check_object(json_t *item, void *p)
{
        struct store_check *c = p;
        const char *hex = json_string_value(json_object_get(item, "sha256"));
        uint64_t size = (uint64_t)json_integer_value(json_object_get(item, "size"));
        uint8_t sha[EVD_SHA256_LEN];
        struct evd_err err = { 0 };
        uint64_t now;

        if (json_object_get(item, "purged"))
                return 0; /* its object was deleted on purpose, and audited */
        if (!hex || evd_unhex(hex, sha, sizeof(sha)) < 0) {
                (void)evd_err_set(&err, -EBADMSG, "catalog record has no valid sha256");
        } else {
                (void)evd_store_verify_object(c->s->store, sha, size, &err);
        }
        c->checked++;
        c->bytes += size;
        if (err.code)
                (void)json_array_append_new(c->bad, json_pack("{sO ss ss}", "id",
                                                              json_object_get(item, "id"), "sha256",
                                                              hex ? hex : "", "error", err.text));
        now = evd_clock_mono_ns();
        if (now - c->last_progress_ns > PROGRESS_INTERVAL_MS * 1000000ull) {
                c->last_progress_ns = now;
                evd_request_progress(c->req,
                                     json_pack("{sI sI}", "items_checked", (json_int_t)c->checked,
                                               "bytes_checked", (json_int_t)c->bytes));
        }
        return 0;
}

/* Items are read in one snapshot; the objects are hashed outside any transaction so
 * that a long check never holds the catalog. */
static int collect_all(json_t *item, void *p)
{
        json_t *slim =
                json_pack("{sO sO sO}", "id", json_object_get(item, "id"), "sha256",
                          json_object_get(item, "sha256"), "size", json_object_get(item, "size"));

        if (slim && json_object_get(item, "purged"))
                (void)json_object_set(slim, "purged", json_object_get(item, "purged"));
        return slim && json_array_append_new(p, slim) == 0 ? 0 : -ENOMEM;
}

static int verify_store(struct evd_station *s, struct evd_request *req, json_t **ret,
                        struct evd_err *err)
{
        struct store_check c = { .s = s, .req = req, .bad = json_array() };
        struct evd_item_filter all = { 0 };
        json_t *items = json_array(), *it;
        size_t i;
        int r;

        if (!items || !c.bad) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        r = evd_catalog_items_snapshot(s->catalog, &all, collect_all, items);
        if (r < 0) {
                r = evd_err_set(err, r, "catalog: %s", strerror(-r));
                goto out;
        }
        json_array_foreach(items, i, it)
        {
                (void)check_object(it, &c);
        }
        *ret = json_pack("{sb sI sI sO}", "ok", json_array_size(c.bad) == 0, "items_checked",
                         (json_int_t)c.checked, "bytes_checked", (json_int_t)c.bytes, "bad", c.bad);
        r = *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
out:
        json_decref(items);
        json_decref(c.bad);
        return r;
}

/* The chain from the first entry, then every signed checkpoint over it. */
static int verify_audit(struct evd_station *s, json_t **ret, struct evd_err *err)
{
        struct evd_err bad = { 0 }, keyerr = { 0 };
        struct evd_keys *keys = NULL;
        struct evd_conf conf;
        struct evd_txn txn;
        uint64_t count = 0, checkpoints = 0, latest = 0;
        int r;

        evd_station_conf(s, &conf);
        /* Without the station key the checkpoints' hashes are still checked. */
        (void)evd_station_keys_load(&conf, &keys, &keyerr);
        r = evd_catalog_read_begin(s->catalog, &txn);
        if (r < 0) {
                evd_keys_free(keys);
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        }
        r = evd_audit_verify(&txn, &count, &bad);
        if (r == 0)
                r = evd_checkpoint_verify(&txn, keys ? evd_keys_cert(keys) : NULL, &checkpoints,
                                          &latest, &bad);
        evd_catalog_read_end(&txn);
        if (r < 0 && r != -EBADMSG) {
                evd_keys_free(keys);
                return evd_err_set(err, r, "%s", bad.text);
        }
        *ret = json_pack("{sb sI sI sI sb ss?}", "ok", r == 0, "entries", (json_int_t)count,
                         "checkpoints", (json_int_t)checkpoints, "latest_checkpoint",
                         (json_int_t)latest, "signatures_checked", keys != NULL, "error",
                         r == 0 ? NULL : bad.text);
        evd_keys_free(keys);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
}

int evd_station_checkpoint(struct evd_station *s, bool force, json_t **ret, struct evd_err *err)
{
        struct evd_keys *keys = NULL;
        struct evd_conf conf;
        int r;

        *ret = NULL;
        if (!evd_checkpoint_due(s->catalog, evd_clock_now(), force))
                return 0;
        evd_station_conf(s, &conf);
        r = evd_station_keys_load(&conf, &keys, err);
        if (r < 0)
                return r;
        r = evd_checkpoint_make(s->catalog, keys, conf.name, &station_actor, ret, err);
        evd_keys_free(keys);
        return r;
}

static int cmd_verify(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                      struct evd_err *err)
{
        struct evd_station *s = ud;
        json_t *out = json_object(), *part = NULL;
        bool do_store = false, do_audit = false, ok = true;
        int r;

        if ((r = evd_arg_bool(args, "store", &do_store, err)) < 0 ||
            (r = evd_arg_bool(args, "audit", &do_audit, err)) < 0)
                goto fail;
        if (!do_store && !do_audit)
                do_store = do_audit = true;
        if (do_audit) {
                if ((r = verify_audit(s, &part, err)) < 0)
                        goto fail;
                ok = ok && json_is_true(json_object_get(part, "ok"));
                (void)json_object_set_new(out, "audit", part);
        }
        if (do_store) {
                if ((r = verify_store(s, req, &part, err)) < 0)
                        goto fail;
                ok = ok && json_is_true(json_object_get(part, "ok"));
                (void)json_object_set_new(out, "store", part);
        }
        (void)json_object_set_new(out, "ok", json_boolean(ok));
        (void)evd_station_audit(s, evd_request_actor(req), ok ? "verify.ok" : "verify.failed", "",
                                out);
        *ret = out;
        return 0;
fail:
        json_decref(out);
        return r;
}

void evd_station_summary(struct evd_station *s, char *buf, size_t n)
{
        uint64_t free_bytes = 0, done = 0, total = 0;
        char docks[160] = "";
        int active = 0;

        (void)evd_store_free_bytes(s->store, &free_bytes);
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < IMPORTS_MAX; i++) {
                struct evd_ingest_progress p;

                if (!s->imports[i] || s->imports[i]->done)
                        continue;
                evd_ingest_job_progress(s->imports[i]->job, &p);
                active++;
                done += p.bytes_done;
                total += p.bytes_total;
        }
        evd_docks_summary(s->docks, docks, sizeof(docks));
        pthread_mutex_unlock(&s->lock);
        if (docks[0])
                (void)snprintf(buf, n, "%s; %llu GB free", docks,
                               (unsigned long long)(free_bytes >> 30));
        else if (active)
                (void)snprintf(buf, n, "%d import(s): %llu of %llu MB; %llu GB free", active,
                               (unsigned long long)(done >> 20), (unsigned long long)(total >> 20),
                               (unsigned long long)(free_bytes >> 30));
        else
                (void)snprintf(buf, n, "idle; %llu GB free",
                               (unsigned long long)(free_bytes >> 30));
}

/* ---- calendar ---- */

static int cmd_calendar(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                        struct evd_err *err)
{
        struct evd_station *s = ud;
        struct evd_calendar_day day;
        const char *date = NULL;
        int y, m, d, r;

        (void)req;
        if ((r = evd_arg_string(args, "date", true, &date, err)) < 0)
                return r;
        if (evd_calendar_parse_date(date, &y, &m, &d) < 0)
                return evd_err_set(err, -EINVAL, "'%s' is not a date (YYYY-MM-DD)", date);
        r = evd_calendar_day(s->calendar, y, m, d, &day);
        if (r < 0)
                return evd_err_set(err, r, "%s: outside the calendar", date);
        *ret = json_pack("{ss sb ss sb}", "date", date, "working_day", day.working_day, "reason",
                         day.reason, "known", day.known);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
}

const struct evd_control_command evd_station_commands[] = {
        { "calendar", EVD_ROLE_CLERK, cmd_calendar },
        { "label", EVD_ROLE_CLERK, evd_cmd_label },
        { "note", EVD_ROLE_CLERK, evd_cmd_note },
        { "recorder.add", EVD_ROLE_ADMIN, evd_cmd_recorder_add },
        { "recorder.assign", EVD_ROLE_ADMIN, evd_cmd_recorder_assign },
        { "recorder.list", EVD_ROLE_ADMIN, evd_cmd_recorder_list },
        { "hold", EVD_ROLE_ADMIN, evd_cmd_hold },
        { "release", EVD_ROLE_ADMIN, evd_cmd_release },
        { "evidence", EVD_ROLE_ADMIN, evd_cmd_evidence },
        { "export", EVD_ROLE_ARCHIVIST, evd_cmd_export },
        { "keys.init", EVD_ROLE_ADMIN, evd_cmd_keys_init },
        { "access", EVD_ROLE_ARCHIVIST, evd_cmd_access },
        { "access-log", EVD_ROLE_ARCHIVIST, evd_cmd_access_log },
        { "purge", EVD_ROLE_ADMIN, evd_cmd_purge },
        { "report", EVD_ROLE_ARCHIVIST, evd_cmd_report },
        { "replicated", EVD_ROLE_REPLICATOR, evd_cmd_replicated },
        { "replication", EVD_ROLE_CLERK, evd_cmd_replication },
        { "status", EVD_ROLE_CLERK, cmd_status },
        { "items", EVD_ROLE_CLERK, cmd_items },
        { "show", EVD_ROLE_CLERK, cmd_show },
        { "audit", EVD_ROLE_ARCHIVIST, cmd_audit },
        { "verify", EVD_ROLE_ARCHIVIST, cmd_verify },
        { "import", EVD_ROLE_ADMIN, cmd_import },
};

const size_t evd_station_n_commands = EVD_ARRAY_SIZE(evd_station_commands);
