/* import: copy a folder's recordings in on behalf of a recorder, with progress lines
 * while the ingest engine works. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dirsource.h"
#include "name.h"
#include "recorder.h"
#include "station_internal.h"

/* Progress of an import, for status and for its waiting request. */
json_t *evd_station_import_status(struct import *imp)
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
                until.tv_nsec += EVD_PROGRESS_INTERVAL_MS * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                (void)pthread_cond_timedwait(&imp->done_cond, &s->lock, &until);
                if (!imp->done) {
                        json_t *p = evd_station_import_status(imp);

                        pthread_mutex_unlock(&s->lock);
                        if (p)
                                evd_request_progress(req, p);
                        pthread_mutex_lock(&s->lock);
                }
        }
        pthread_mutex_unlock(&s->lock);
}

/* An import names a registered recorder, or says --allow-unregistered (import is an
 * admin's command): a typo would store recordings under a phantom recorder with no
 * holder. */
static int check_registered(struct evd_station *s, const char *serial, const json_t *args,
                            struct evd_err *err)
{
        char near[256];
        json_t *rec = NULL;
        struct evd_txn txn;
        bool allow = false;
        int r;

        if ((r = evd_arg_bool(args, "allow_unregistered", &allow, err)) < 0)
                return r;
        if ((r = evd_catalog_read_begin(s->catalog, &txn)) < 0)
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        r = evd_recorder_get(&txn, serial, &rec);
        json_decref(rec);
        if (r == -ENOENT)
                evd_recorder_near(&txn, serial, near, sizeof(near));
        evd_catalog_read_end(&txn);
        if (r != -ENOENT || allow)
                return r == -ENOENT ? 0 : r;
        if (near[0])
                return evd_err_set(err, -ENOENT, "recorder %s is not registered (did you mean %s?)",
                                   serial, near);
        return evd_err_set(err, -ENOENT,
                           "recorder %s is not registered (recorder add registers it; "
                           "--allow-unregistered imports all the same)",
                           serial);
}

int evd_cmd_import(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
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
            (r = evd_arg_serial(recorder, err)) < 0 ||
            (r = check_registered(s, recorder, args, err)) < 0)
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
        /* Unbounded, unless the files are small: then as many at once as have workers. */
        imp->job = evd_ingest_job_new(
                "import", recorder, evd_request_actor(req), &conf, &evd_dirsource_ops, src, files,
                n, evd_ingest_small_files(files, n) ? EVD_INGEST_SMALL_PARALLEL : 0, s->calendar);
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
        /* Nothing is copied that the log does not say was asked for. */
        r = evd_station_audit(s, evd_request_actor(req), "import.started", recorder, started);
        json_decref(started);
        if (r < 0) {
                remove_import(s, imp);
                r = evd_err_set(err, r, "cannot record the import in the audit log: %s",
                                strerror(-r));
                goto out;
        }
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
