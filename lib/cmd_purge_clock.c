/* The clock an automatic purge trusts (issue 12, item 8). Retention deadlines are
 * wall-clock times: a clock set back or jumped forward would delete recordings early.
 * Before each automatic purge the wall clock is checked against the latest time of
 * the last 1,000 audit entries (it may not be earlier) and against the previous check (at most a
 * day more than the purge interval apart). A failed check is an alarm, not a purge: one
 * "purge.clock_alarm" audit entry, and a status warning until a check passes. The
 * time of each check is kept in the catalogue's meta ("purge_clock"). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "station_internal.h"

#define CLOCK_META "purge_clock"
#define CLOCK_JUMP_MAX (24 * 3600) /* beyond the interval between checks */
#define CLOCK_ENTRIES 1000         /* the last entries whose times are looked at */

struct clock_check {
        int64_t now, interval;
        char alarm[256];
};

/* The latest time among the entries: the newest by number may be the daemon's own
 * start, written with the clock being checked. */
static int newest_time(json_t *entry, void *p)
{
        int64_t *newest = p, t;

        if (evd_time_parse(json_string_value(json_object_get(entry, "time")) ?: "", &t) == 0 &&
            t > *newest)
                *newest = t;
        return 0;
}

static int clock_txn(struct evd_txn *txn, void *p)
{
        struct clock_check *c = p;
        json_t *meta = NULL, *details;
        int64_t newest = INT64_MIN, last = INT64_MIN;
        char now_s[EVD_TIME_STR], other[EVD_TIME_STR];
        uint64_t seq = 0;
        uint8_t hash[EVD_SHA256_LEN];
        int r;

        c->alarm[0] = '\0';
        evd_time_format(c->now, now_s);
        r = evd_audit_head(txn, &seq, hash);
        if (r == 0 && seq > 0)
                r = evd_audit_each(txn, seq > CLOCK_ENTRIES ? seq - CLOCK_ENTRIES + 1 : 1,
                                   INT64_MIN, newest_time, &newest);
        if (r < 0)
                return r;
        if (evd_catalog_json_get(txn, EVD_DB_META, CLOCK_META, &meta) == 0)
                (void)evd_time_parse(json_string_value(json_object_get(meta, "checked_at")) ?: "",
                                     &last);
        json_decref(meta);
        if (newest != INT64_MIN && c->now < newest) {
                evd_time_format(newest, other);
                (void)snprintf(c->alarm, sizeof(c->alarm),
                               "the wall clock (%s) is earlier than the newest audit entry (%s)",
                               now_s, other);
        } else if (last != INT64_MIN && c->now - last > c->interval + CLOCK_JUMP_MAX) {
                evd_time_format(last, other);
                (void)snprintf(c->alarm, sizeof(c->alarm),
                               "the wall clock (%s) jumped forward by more than a day since the "
                               "last check (%s)",
                               now_s, other);
        }
        meta = json_pack("{ss ss*}", "checked_at", now_s, "alarm", c->alarm[0] ? c->alarm : NULL);
        r = meta ? evd_catalog_json_put(txn, EVD_DB_META, CLOCK_META, meta) : -ENOMEM;
        json_decref(meta);
        if (r < 0 || !c->alarm[0])
                return r;
        details = json_pack("{ss}", "why", c->alarm);
        r = details ? evd_audit_append(txn, &evd_station_actor, "purge.clock_alarm", "", details,
                                       NULL)
                    : -ENOMEM;
        json_decref(details);
        return r;
}

int evd_station_purge_clock_ok(struct evd_station *s, int64_t interval, struct evd_err *err)
{
        struct clock_check c = { .now = evd_clock_now(), .interval = interval };
        int r = evd_catalog_write(s->catalog, clock_txn, &c, err);

        if (r < 0)
                return err->code ? r : evd_err_set(err, r, "catalog: %s", strerror(-r));
        if (c.alarm[0])
                return evd_err_set(err, -ETIME, "no automatic purge: %s", c.alarm);
        return 0;
}

void evd_station_purge_clock_warning(struct evd_txn *txn, json_t *warnings, json_t *clock)
{
        json_t *meta = NULL;
        const char *alarm;
        char w[320];

        if (evd_catalog_json_get(txn, EVD_DB_META, CLOCK_META, &meta) < 0)
                return;
        alarm = json_string_value(json_object_get(meta, "alarm"));
        if (clock && json_object_get(meta, "checked_at"))
                (void)json_object_set(clock, "checked_at", json_object_get(meta, "checked_at"));
        if (alarm) {
                (void)snprintf(w, sizeof(w), "automatic purge withheld: %s; check the clock",
                               alarm);
                (void)json_array_append_new(warnings, json_string(w));
        }
        json_decref(meta);
}
