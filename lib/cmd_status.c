/* status: what the station is doing and what needs someone's attention (warnings);
 * and the one-line summary the daemon hands to systemd. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "casefile.h"
#include "clock.h"
#include "item.h"
#include "label.h"
#include "recorder.h"
#include "sequence.h"
#include "signing.h"
#include "station_internal.h"

#define EVD_STATUS_RATE_DAYS 7    /* the recent rate of storing: a week */
#define EVD_STATUS_DAMAGED_MAX 20 /* damaged items named one by one */

static const char *folder_of(const json_t *gap)
{
        const char *f = json_string_value(json_object_get(gap, "folder"));

        return f && f[0] ? f : "/";
}

/* Registered recorders not docked for more than deadline_working_days working days:
 * their recordings may be waiting past the storage deadline; and those whose clock was
 * last found fast beyond [usb] clock_tolerance. */
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
                /* 第三十一条(三): recordings deleted on the device (recorder.h). */
                if (json_integer_value(json_object_get(json_object_get(rec, "deleted_on_device"),
                                                       "new")) > 0) {
                        (void)snprintf(w, sizeof(w),
                                       "recorder %s: %lld recording(s) deleted on the device "
                                       "since its last dock",
                                       json_string_value(json_object_get(rec, "serial")) ?: "?",
                                       (long long)json_integer_value(json_object_get(
                                               json_object_get(rec, "deleted_on_device"), "new")));
                        (void)json_array_append_new(warnings, json_string(w));
                }
                if (evd_recorder_clock_off(rec, conf)) {
                        (void)snprintf(w, sizeof(w),
                                       "recorder %s: its clock was found %lld s fast at its %s of "
                                       "%s; reset it (第七条)",
                                       json_string_value(json_object_get(rec, "serial")) ?: "?",
                                       json_integer_value(json_object_get(rec, "clock_ahead_s")),
                                       json_string_value(json_object_get(rec, "clock_checked_by"))
                                               ?: "dock",
                                       json_string_value(json_object_get(rec, "clock_checked_at"))
                                               ?: "?");
                        (void)json_array_append_new(warnings, json_string(w));
                }
                json_decref(rec);
        }
        mdb_cursor_close(cur);
}

/* Copies wait for space on the store. */
static void warn_store_paused(struct evd_station *s, const struct evd_conf *conf, json_t *warnings)
{
        uint64_t seen;
        char w[200];

        if (!evd_ingest_paused(s->ingest, &seen))
                return;
        (void)snprintf(w, sizeof(w),
                       "store nearly full: copying paused (%llu MiB free, reserve "
                       "%d MiB); it resumes by itself when space returns",
                       (unsigned long long)(seen >> 20), conf->reserve_mb);
        (void)json_array_append_new(warnings, json_string(w));
}

/* Write-once rests on file permissions alone. */
static void warn_not_immutable(struct evd_station *s, json_t *warnings)
{
        if (!evd_store_immutable(s->store))
                (void)json_array_append_new(
                        warnings, json_string("write-once is enforced by file permissions only: "
                                              "the immutable flag is not available "
                                              "(CAP_LINUX_IMMUTABLE or filesystem support "
                                              "missing)"));
}

/* Gaps in a recorder's file numbering that nobody has explained yet. */
static void warn_sequence_gaps(struct evd_txn *txn, json_t *warnings)
{
        json_t *gaps = evd_sequence_unexplained(txn), *g;
        size_t k;

        json_array_foreach(gaps, k, g)
        {
                long long from = json_integer_value(json_object_get(g, "missing_from"));
                long long to = json_integer_value(json_object_get(g, "missing_to"));
                long long a = json_integer_value(json_object_get(g, "before_id"));
                long long b = json_integer_value(json_object_get(g, "after_id"));
                char w[600], numbers[64];

                if (from == to)
                        (void)snprintf(numbers, sizeof(numbers), "file number %lld", from);
                else
                        (void)snprintf(numbers, sizeof(numbers), "file numbers %lld to %lld", from,
                                       to);
                (void)snprintf(w, sizeof(w),
                               "recorder %s: %s missing in %s between items %lld and %lld; "
                               "explain with evidockctl note",
                               json_string_value(json_object_get(g, "recorder")) ?: "?", numbers,
                               folder_of(g), a < b ? a : b, a < b ? b : a);
                (void)json_array_append_new(warnings, json_string(w));
        }
        json_decref(gaps);
}

/* Holes within a stage of a case that nobody has explained (casefile.h): the per-case
 * list the edits keep, not the items. A gap no longer than today's [labels]
 * gap_tolerance (raised since) is not counted. */
static void warn_stage_gaps(struct evd_txn *txn, const struct evd_conf *conf, json_t *warnings)
{
        json_t *all = evd_casefile_stage_gaps(txn), *list, *g;
        const char *case_no;
        size_t k;

        json_object_foreach(all, case_no, list)
        {
                long long n = 0;
                char w[EVD_LABEL_CASE_MAX + 160];

                json_array_foreach(list, k, g)
                {
                        n += json_integer_value(json_object_get(g, "seconds")) >
                             conf->gap_tolerance_s;
                }
                if (n == 0)
                        continue;
                (void)snprintf(w, sizeof(w),
                               "case %s: %lld unexplained gap(s) within a stage; see evidockctl "
                               "case timeline, explain with evidockctl note",
                               case_no, n);
                (void)json_array_append_new(warnings, json_string(w));
        }
        json_decref(all);
}

/* Recordings stored damaged (truncated, corrupt, not media) that nobody has noted. */
static void warn_damaged(struct evd_txn *txn, json_t *warnings)
{
        size_t total = 0;
        json_t *all = evd_item_integrity_unnoted(txn, EVD_STATUS_DAMAGED_MAX, &total), *v;
        const char *id;

        json_object_foreach(all, id, v)
        {
                char w[200];

                (void)snprintf(w, sizeof(w),
                               "item %s was stored %s; say what happened with evidockctl note %s",
                               id, json_string_value(v) ?: "damaged", id);
                (void)json_array_append_new(warnings, json_string(w));
        }
        if (total > EVD_STATUS_DAMAGED_MAX) {
                char w[200];

                (void)snprintf(w, sizeof(w),
                               "and %zu more items stored damaged: evidockctl items --integrity "
                               "truncated|corrupt|not-media lists them",
                               total - EVD_STATUS_DAMAGED_MAX);
                (void)json_array_append_new(warnings, json_string(w));
        }
        json_decref(all);
}

/* Items whose stored copy failed its fixity check (scrub.h). */
static void warn_scrub_alarms(const json_t *scrub, json_t *warnings)
{
        const json_t *alarm;
        size_t k;

        json_array_foreach(json_object_get(scrub, "alarms"), k, alarm)
        {
                char w[EVD_ERR_TEXT_MAX + 64];

                (void)snprintf(w, sizeof(w), "ALARM: item %lld failed its fixity check: %s",
                               json_integer_value(json_object_get(alarm, "id")),
                               json_string_value(json_object_get(alarm, "error")) ?: "?");
                (void)json_array_append_new(warnings, json_string(w));
        }
}

/* Item records a purge found edited behind the audit log (cmd_purge.c). */
static void warn_catalog_alarms(struct evd_txn *txn, json_t *warnings)
{
        json_t *alarms = NULL, *a;
        size_t k;

        if (evd_catalog_json_get(txn, EVD_DB_META, "catalog_alarms", &alarms) < 0)
                return;
        json_array_foreach(alarms, k, a)
        {
                char w[EVD_ERR_TEXT_MAX + 96];

                (void)snprintf(w, sizeof(w),
                               "ALARM: item %lld: its record disagrees with the audit log (%s); "
                               "not purged",
                               json_integer_value(json_object_get(a, "id")),
                               json_string_value(json_object_get(a, "error")) ?: "?");
                (void)json_array_append_new(warnings, json_string(w));
        }
        json_decref(alarms);
}

/* A metadata-only restore whose objects are still to come (scrub.h): the count its
 * marker holds, no scan. */
static void warn_restore_pending(struct evd_txn *txn, json_t *warnings)
{
        json_t *mark = NULL;
        char w[200];

        if (evd_catalog_json_get(txn, EVD_DB_META, EVD_RESTORE_PENDING_KEY, &mark) < 0)
                return;
        (void)snprintf(w, sizeof(w),
                       "%lld objects not yet restored from the archive (since %s): run restore "
                       "--from-remote --objects",
                       (long long)json_integer_value(json_object_get(mark, "objects")),
                       json_string_value(json_object_get(mark, "since")) ?: "?");
        (void)json_array_append_new(warnings, json_string(w));
        json_decref(mark);
}

int evd_cmd_status(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                   struct evd_err *err)
{
        struct evd_station *s = ud;
        uint64_t items = 0, map = 0, free_bytes = 0, rate = 0;
        json_t *imports = json_array(), *warnings = json_array(), *out, *scrub;
        json_t *clock = json_object(); /* the automatic purge's clock check */
        struct evd_conf conf;
        struct evd_txn txn;

        (void)req;
        (void)args;
        evd_station_conf(s, &conf);
        (void)evd_catalog_stat(s->catalog, &items, &map);
        (void)evd_store_free_bytes(s->store, &free_bytes);
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < IMPORTS_MAX; i++)
                if (s->imports[i] && !s->imports[i]->done)
                        (void)json_array_append_new(imports,
                                                    evd_station_import_status(s->imports[i]));
        pthread_mutex_unlock(&s->lock);
        warn_store_paused(s, &conf, warnings);
        warn_not_immutable(s, warnings);
        evd_station_calendar_warnings(s, warnings); /* cmd_calendar.c */
        if (evd_catalog_read_begin(s->catalog, &txn) == 0) {
                add_recorder_warnings(s, &txn, &conf, warnings);
                warn_sequence_gaps(&txn, warnings);
                warn_stage_gaps(&txn, &conf, warnings);
                evd_station_purge_clock_warning(&txn, warnings, clock);
                evd_station_case_warnings(s, &txn, &conf, warnings); /* cmd_case.c */
                warn_catalog_alarms(&txn, warnings);
                warn_damaged(&txn, warnings);
                warn_restore_pending(&txn, warnings);
                rate = evd_item_daily_rate(&txn, evd_clock_now(), EVD_STATUS_RATE_DAYS);
                evd_catalog_read_end(&txn);
        }
        /* Under the lock: stop takes s->scrub away (and frees it) under it. */
        pthread_mutex_lock(&s->lock);
        scrub = evd_scrub_status(s->scrub, s->catalog);
        pthread_mutex_unlock(&s->lock);
        warn_scrub_alarms(scrub, warnings);
        out = json_pack("{ss ss ss ss sI s[] so sI sI so so*}", "version", EVD_VERSION, "station",
                        conf.name, "state_dir", conf.state_dir, "write_once",
                        evd_store_immutable(s->store) ? "immutable" : "permissions", "free_bytes",
                        (json_int_t)free_bytes, "docks", "imports", imports, "items_total",
                        (json_int_t)items, "catalog_map_bytes", (json_int_t)map, "warnings",
                        warnings, "scrub", scrub);
        if (out) /* how well the catalogue's group commits share their syncs */
                (void)json_object_set_new(out, "catalog_commits",
                                          json_pack("{sI sI}", "group_commits",
                                                    (json_int_t)atomic_load(&s->group_commits),
                                                    "grouped_writes",
                                                    (json_int_t)atomic_load(&s->grouped_writes)));
        if (out) /* the automatic purge's last clock check (cmd_purge_clock.c) */
                (void)json_object_set(out, "purge_clock", clock);
        json_decref(clock);
        if (out) /* exports being built (cmd_export.c) */
                (void)json_object_set_new(
                        out, "exports_running",
                        json_integer((json_int_t)atomic_load(&s->exports_running)));
        if (out) /* the archive's lag (cmd_replication.c) */
                (void)json_object_set_new(
                        out, "replication",
                        evd_station_replication_status(s, &conf, false, warnings));
        if (out) { /* for people: the zone of their times, and how long the space lasts */
                (void)json_object_set_new(out, "timezone", json_string(conf.timezone));
                (void)json_object_set_new(out, "stored_bytes_per_day",
                                          json_integer((json_int_t)rate));
                (void)json_object_set_new(out, "days_left",
                                          rate ? json_integer((json_int_t)(free_bytes / rate))
                                               : json_null());
        }
        if (out) /* the signing key (signing.h), or a warning that there is none */
                (void)json_object_set_new(out, "signing", evd_signing_status(&conf, warnings));
        if (!out)
                return evd_err_set(err, -ENOMEM, "out of memory");
        /* The docks present, and their warnings (registered by whoever runs them). */
        pthread_mutex_lock(&s->lock);
        if (s->docks.status)
                s->docks.status(s->docks.userdata, json_object_get(out, "docks"),
                                json_object_get(out, "warnings"));
        pthread_mutex_unlock(&s->lock);
        *ret = out;
        return 0;
}

int evd_cmd_timezone(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                     struct evd_err *err)
{
        struct evd_conf conf;

        (void)req;
        (void)args;
        evd_station_conf(ud, &conf);
        *ret = json_pack("{ss}", "timezone", conf.timezone);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
}

/* The archive's lag, counted at most every 15 s (a catalogue scan). */
static void repl_summary(struct evd_station *s, char *buf, size_t n)
{
        uint64_t now = evd_clock_mono_ns();
        char line[128];
        struct evd_conf conf;
        size_t len = strlen(buf);

        pthread_mutex_lock(&s->lock);
        conf = s->conf;
        bool fresh = s->repl_line_ns && now - s->repl_line_ns < 15000000000ull;

        (void)snprintf(line, sizeof(line), "%s", s->repl_line);
        pthread_mutex_unlock(&s->lock);
        if (!fresh) {
                evd_station_replication_summary(s, &conf, line, sizeof(line));
                pthread_mutex_lock(&s->lock);
                (void)snprintf(s->repl_line, sizeof(s->repl_line), "%s", line);
                s->repl_line_ns = now;
                pthread_mutex_unlock(&s->lock);
        }
        if (line[0] && len < n)
                (void)snprintf(buf + len, n - len, "; %s", line);
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
        if (s->docks.summary)
                s->docks.summary(s->docks.userdata, docks, sizeof(docks));
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
        repl_summary(s, buf, n);
}
