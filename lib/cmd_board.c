/* cmd_board: the public board, the one command open to callers with no role (the web
 * console's own unix user, the station's kiosk screen). It tells what a person standing
 * at the station may see: the docks, their progress and whether the recorder may be
 * pulled out, devices that were refused, and the station's health. No recording
 * content: no file names, no labels, no items.
 *
 *     {"cmd": "board", "args": {"warnings": true}}   ->
 *     {"station", "time", "docks": [{port, serial, holder, state, session, docked_at,
 *       files_done, files_total, files_failed, bytes_done, bytes_total, rate_bps,
 *       eta_s, safe_to_remove, error}], "rejected": [{port, serial, vid_pid, reason}],
 *      "health": {free_bytes, days_left, items_total, replication: {enabled, items,
 *       confirmed, pending, pending_bytes, oldest_pending_s, failing, alarms},
 *       scrub: {enabled, running, last_pass_done, alarms}, warnings: [...]}}
 *
 * A dock interrupted by its recorder leaving stays in "docks" (state "interrupted", with
 * its error) for 10 minutes, or until another recorder docks on its port.
 *
 * It is cheap enough to be asked five times a second: short catalogue reads for the
 * holders, the daily storing totals (days left) and the archive's backlog (kept as the
 * catalogue changes, not counted). The warnings of `status` (calendar, sequence gaps, overdue
 * recorders) cost a catalogue scan, so they come only when asked with "warnings": true; otherwise
 * only the docks' own warnings are given. */
#include "station_internal.h"

#include <errno.h>
#include <string.h>

#include "clock.h"
#include "item.h"
#include "recorder.h"

#define EVD_BOARD_RATE_DAYS 7 /* the recent rate of storing, as status's: a week */

/* The holder of each dock's recorder now, from the registry. */
static void add_holders(struct evd_station *s, json_t *docks)
{
        struct evd_txn txn;
        json_t *d;
        size_t i;

        if (json_array_size(docks) == 0 || evd_catalog_read_begin(s->catalog, &txn) < 0)
                return;
        json_array_foreach(docks, i, d)
        {
                const char *serial = json_string_value(json_object_get(d, "serial"));
                json_t *rec = NULL;
                const json_t *a;

                if (!serial || evd_recorder_get(&txn, serial, &rec) < 0)
                        continue;
                a = evd_recorder_assignment_at(rec, evd_clock_now());
                if (a && json_is_string(json_object_get(a, "handler_name")))
                        (void)json_object_set(d, "holder", json_object_get(a, "handler_name"));
                json_decref(rec);
        }
        evd_catalog_read_end(&txn);
}

/* Seconds left at the dock's rate, or null when it is not copying or has no rate. */
static void add_eta(json_t *d)
{
        json_int_t total = json_integer_value(json_object_get(d, "bytes_total"));
        json_int_t done = json_integer_value(json_object_get(d, "bytes_done"));
        json_int_t rate = json_integer_value(json_object_get(d, "rate_bps"));
        const char *state = json_string_value(json_object_get(d, "state"));

        if (state && strcmp(state, "copying") == 0 && rate > 0 && total >= done)
                (void)json_object_set_new(d, "eta_s",
                                          json_integer((total - done + rate - 1) / rate));
        else
                (void)json_object_set_new(d, "eta_s", json_null());
}

/* The warnings `status` gives, by running it (borrowing the caller's request). */
static json_t *status_warnings(struct evd_station *s, struct evd_request *req)
{
        struct evd_err err = { 0 };
        json_t *st = NULL, *w;

        if (evd_cmd_status(s, req, NULL, &st, &err) < 0 || !st)
                return NULL;
        w = json_incref(json_object_get(st, "warnings"));
        json_decref(st);
        return w;
}

/* The days the free space lasts at the last week's rate of storing (null with no rate),
 * as `status` says it: one small catalogue record. */
static json_t *days_left(struct evd_station *s, uint64_t free_bytes)
{
        struct evd_txn txn;
        uint64_t rate = 0;

        if (evd_catalog_read_begin(s->catalog, &txn) == 0) {
                rate = evd_item_daily_rate(&txn, evd_clock_now(), EVD_BOARD_RATE_DAYS);
                evd_catalog_read_end(&txn);
        }
        return rate ? json_integer((json_int_t)(free_bytes / rate)) : json_null();
}

/* The archive's lag, counts and durations only: not its endpoint or bucket, nor the
 * last reconciliation's findings (they name items); its alarms as a count. */
static json_t *replication(struct evd_station *s, const struct evd_conf *conf)
{
        static const char *const keep[] = { "enabled",         "items",   "pending",
                                            "pending_bytes",   "failing", "confirmed",
                                            "oldest_pending_s" };
        json_t *full = evd_station_replication_status(s, conf, false, NULL), *out = json_object();

        for (size_t i = 0; full && out && i < EVD_ARRAY_SIZE(keep); i++)
                if (json_object_get(full, keep[i]))
                        (void)json_object_set(out, keep[i], json_object_get(full, keep[i]));
        if (full && out)
                (void)json_object_set_new(
                        out, "alarms",
                        json_integer((json_int_t)json_array_size(json_object_get(full, "alarms"))));
        json_decref(full);
        return out;
}

static json_t *health(struct evd_station *s, struct evd_request *req, const struct evd_conf *conf,
                      bool all_warnings, json_t *dock_warnings)
{
        uint64_t free_bytes = 0, items = 0, map = 0;
        json_t *scrub = evd_scrub_status(s->scrub, s->catalog), *w = NULL, *out;

        (void)evd_store_free_bytes(s->store, &free_bytes);
        (void)evd_catalog_stat(s->catalog, &items, &map);
        if (all_warnings)
                w = status_warnings(s, req);
        if (!w)
                w = json_incref(dock_warnings);
        if (scrub) { /* the count of alarms only: their details name items */
                size_t n = json_array_size(json_object_get(scrub, "alarms"));

                (void)json_object_set_new(scrub, "alarms", json_integer((json_int_t)n));
        }
        out = json_pack("{sI so sI so* so* so*}", "free_bytes", (json_int_t)free_bytes, "days_left",
                        days_left(s, free_bytes), "items_total", (json_int_t)items, "replication",
                        replication(s, conf), "scrub", scrub, "warnings", w);
        return out;
}

int evd_cmd_board(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                  struct evd_err *err)
{
        struct evd_station *s = ud;
        json_t *docks = json_array(), *rejected = json_array(), *warnings = json_array(), *d;
        char now[EVD_TIME_STR];
        struct evd_conf conf;
        bool all = false;
        size_t i;
        int r;

        if ((r = evd_arg_bool(args, "warnings", &all, err)) < 0)
                goto fail;
        if (!docks || !rejected || !warnings) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        evd_station_conf(s, &conf);
        pthread_mutex_lock(&s->lock);
        if (s->docks.status)
                s->docks.status(s->docks.userdata, docks, warnings);
        if (s->docks.rejected)
                s->docks.rejected(s->docks.userdata, rejected);
        if (s->docks.left)
                s->docks.left(s->docks.userdata, docks);
        pthread_mutex_unlock(&s->lock);
        add_holders(s, docks);
        json_array_foreach(docks, i, d)
        {
                if (!json_object_get(d, "holder"))
                        (void)json_object_set_new(d, "holder", json_null());
                add_eta(d);
        }
        evd_time_format(evd_clock_now(), now);
        *ret = json_pack("{ss ss so so so*}", "station", conf.name, "time", now, "docks", docks,
                         "rejected", rejected, "health", health(s, req, &conf, all, warnings));
        json_decref(warnings);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
fail:
        json_decref(docks);
        json_decref(rejected);
        json_decref(warnings);
        return r;
}
