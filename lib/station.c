/* station: start, stop and reload; the audit entries and configuration the command
 * files share; and the command table (each command lives in its cmd_*.c). */
#include "station.h"
#include "station_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "casefile.h"
#include "calendar.h"
#include "sequence.h"
#include "trip.h"

const struct evd_actor evd_station_actor = { .uid = 0, .name = "evidockd" };

struct seq_ctx {
        const char *recorder, *pattern;
        const struct evd_conf *conf;
        const struct evd_calendar *cal;
};

static int seq_fn(struct evd_txn *txn, void *p)
{
        struct seq_ctx *c = p;
        int r = evd_sequence_check(txn, c->recorder, c->pattern, &evd_station_actor, NULL);

        /* A clock found suspect counts its deadlines from docking (trip.h). */
        return r < 0 ? r
                     : evd_trip_refresh(txn, c->conf, c->cal, c->recorder, 0, 0, &evd_station_actor,
                                        NULL);
}

void evd_station_sequence_check(struct evd_station *s, const char *recorder)
{
        struct evd_conf conf;
        struct seq_ctx c = { .recorder = recorder, .conf = &conf, .cal = s->calendar };
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

/* After each group commit, before its writers return (a test's debugger stops here
 * to kill -9 between the commit and the replies). */
static void group_committed(void *userdata, size_t writes)
{
        struct evd_station *s = userdata;

        atomic_fetch_add(&s->group_commits, 1);
        atomic_fetch_add(&s->grouped_writes, writes);
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
        r = evd_station_calendar_load(s, err);
        if (r < 0)
                goto fail;
        r = evd_store_open(conf->state_dir, &s->store, err);
        if (r < 0)
                goto fail;
        (void)snprintf(dir, sizeof(dir), "%s/catalog", conf->state_dir);
        r = evd_catalog_open(dir, 0, &s->catalog, err);
        if (r < 0)
                goto fail;
        evd_catalog_set_after_commit(s->catalog, group_committed, s);
        r = evd_backlog_ready(s->catalog, err);
        if (r == 0) /* the cases' stage gaps, kept for status (casefile.h) */
                r = evd_casefile_stage_ready(s->catalog, conf->gap_tolerance_s, err);
        if (r < 0)
                goto fail;
        r = evd_ingest_new(s->store, s->catalog, conf->parallel_copies, &s->ingest, err);
        if (r < 0)
                goto fail;
        r = evd_scrub_start(s->store, s->catalog, conf, ingest_busy, s, &s->scrub, err);
        if (r < 0)
                goto fail;
        r = evd_station_users_new(&s->users);
        if (r < 0) {
                (void)evd_err_set(err, r, "out of memory");
                goto fail;
        }
        *ret = s;
        return 0;
fail:
        evd_station_free(s);
        return r;
}

void evd_station_stop(struct evd_station *s)
{
        struct evd_ingest_job *jobs[IMPORTS_MAX];
        struct evd_scrub *scrub;
        int n = 0;

        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        /* Taken under the lock: status reads it under the lock too (never freed under
         * a reader). */
        scrub = s->scrub;
        s->scrub = NULL;
        atomic_store(&s->cancel_exports, true);
        for (int i = 0; i < IMPORTS_MAX; i++)
                if (s->imports[i] && !s->imports[i]->done)
                        jobs[n++] = s->imports[i]->job;
        pthread_mutex_unlock(&s->lock);
        evd_scrub_stop(scrub);
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
        evd_station_users_free(s->users);
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
            next.n_calendar_files != s->conf.n_calendar_files ||
            next.calendar_set != s->conf.calendar_set) {
                memcpy(next.state_dir, s->conf.state_dir, sizeof(next.state_dir));
                memcpy(next.timezone, s->conf.timezone, sizeof(next.timezone));
                memcpy(next.control_socket, s->conf.control_socket, sizeof(next.control_socket));
                next.parallel_copies = s->conf.parallel_copies;
                memcpy(next.calendar_files, s->conf.calendar_files, sizeof(next.calendar_files));
                next.n_calendar_files = s->conf.n_calendar_files;
                next.calendar_set = s->conf.calendar_set;
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
        struct audit_ctx a = { actor ? actor : &evd_station_actor, event, subject, details };
        struct evd_err err = { 0 };

        return evd_catalog_write(s->catalog, audit_fn, &a, &err);
}

void evd_station_set_docks(struct evd_station *s, const struct evd_station_docks *docks)
{
        pthread_mutex_lock(&s->lock);
        if (docks)
                s->docks = *docks;
        else
                memset(&s->docks, 0, sizeof(s->docks));
        pthread_mutex_unlock(&s->lock);
}

struct evd_catalog *evd_station_catalog(struct evd_station *s)
{
        return s->catalog;
}

struct evd_ingest *evd_station_ingest(struct evd_station *s)
{
        return s->ingest;
}

const struct evd_calendar *evd_station_calendar(struct evd_station *s)
{
        return s->calendar;
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

const struct evd_control_command evd_station_commands[] = {
        { "board", EVD_ROLE_NONE, evd_cmd_board },
        { "calendar", EVD_ROLE_CLERK, evd_cmd_calendar },
        { "calendar.import", EVD_ROLE_ADMIN, evd_cmd_calendar_import },
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
        { "clean", EVD_ROLE_ADMIN, evd_cmd_clean },
        { "report", EVD_ROLE_ARCHIVIST, evd_cmd_report },
        { "replicated", EVD_ROLE_REPLICATOR, evd_cmd_replicated },
        { "replication", EVD_ROLE_CLERK, evd_cmd_replication },
        { "reconciled", EVD_ROLE_REPLICATOR, evd_cmd_reconciled },
        { "bucket-checked", EVD_ROLE_REPLICATOR, evd_cmd_bucket_checked },
        { "status", EVD_ROLE_CLERK, evd_cmd_status },
        { "timezone", EVD_ROLE_NONE, evd_cmd_timezone },
        { "keys.show", EVD_ROLE_CLERK, evd_cmd_keys_show },
        { "recorder.fix", EVD_ROLE_ADMIN, evd_cmd_item_recorder },
        { "items", EVD_ROLE_CLERK, evd_cmd_items },
        { "show", EVD_ROLE_CLERK, evd_cmd_show },
        { "audit", EVD_ROLE_ARCHIVIST, evd_cmd_audit },
        { "audit.checkpoints", EVD_ROLE_ARCHIVIST, evd_cmd_audit_checkpoints },
        { "verify", EVD_ROLE_ARCHIVIST, evd_cmd_verify },
        { "import", EVD_ROLE_ADMIN, evd_cmd_import },
        { "user.add", EVD_ROLE_ADMIN, evd_cmd_user_add },
        { "user.passwd", EVD_ROLE_ADMIN, evd_cmd_user_passwd },
        { "user.disable", EVD_ROLE_ADMIN, evd_cmd_user_disable },
        { "user.list", EVD_ROLE_ADMIN, evd_cmd_user_list },
        { "login", EVD_ROLE_NONE, evd_cmd_login },
        { "logout", EVD_ROLE_NONE, evd_cmd_logout },
        { "trip.add", EVD_ROLE_CLERK, evd_cmd_trip_add },
        { "trip.list", EVD_ROLE_CLERK, evd_cmd_trip_list },
        { "trip.end", EVD_ROLE_CLERK, evd_cmd_trip_end },
        { "case.close", EVD_ROLE_CLERK, evd_cmd_case_close },
        { "case.filed", EVD_ROLE_CLERK, evd_cmd_case_filed },
        { "case.list", EVD_ROLE_CLERK, evd_cmd_case_list },
        { "case.show", EVD_ROLE_CLERK, evd_cmd_case_show },
        { "case.timeline", EVD_ROLE_CLERK, evd_cmd_case_timeline },
        { "secret", EVD_ROLE_ADMIN, evd_cmd_secret },
};

const size_t evd_station_n_commands = EVD_ARRAY_SIZE(evd_station_commands);
