/* policy: how long items are kept and by when they must be stored.
 *
 * Retention uses calendar months in the station's local time (the process TZ):
 * Jan 31 + 3 months = Apr 30; Feb 29 + 12 months = Feb 28. */
#ifndef EVD_POLICY_H
#define EVD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "conf.h"

/* t + period, as local calendar arithmetic (months first, the day clamped to the
 * month's end, then days). -EINVAL for a permanent period (no end). */
int evd_policy_add_period(int64_t t, const struct evd_period *period, int64_t *ret);

#include <jansson.h>

/* Bring item's retain_until up to what conf's retention classes require for it:
 * from its ingested_at, the longest of default, case (when it has a case number) and
 * evidence (when marked); JSON null when any of them is permanent. Never moves it
 * earlier (invariant 4). Returns 1 when it changed, 0 when not, -EINVAL on a broken
 * item. */
int evd_policy_update_retention(json_t *item, const struct evd_conf *conf);

/* Whether item may be purged at now: NULL when it may, else why not ("held",
 * "marked as evidence", "kept permanently", "kept until ... (with grace)", "purged
 * already"), written into buf (n bytes). */
const char *evd_policy_purge_blocker(const json_t *item, const struct evd_conf *conf, int64_t now,
                                     char *buf, size_t n);

/* What evd_policy_purge_blocker reads of an item (retain_until: NULL when it is not a
 * string; borrowed). */
struct evd_policy_protection {
        bool purged, hold, evidence;
        const char *retain_until;
};

/* evd_policy_purge_blocker on those fields, read by the caller. */
const char *evd_policy_purge_blocker_of(const struct evd_policy_protection *p,
                                        const struct evd_conf *conf, int64_t now, char *buf,
                                        size_t n);

/* ---- storage deadlines (第二十五条) ----
 *
 * A recording is due at the end of the n-th working day after its recording day. Where
 * its recorder's clock is suspect, the count starts from the day it was docked instead,
 * so that nobody is late on a wrong clock. A recording made during a trip (continuous
 * work, work away from the office, remote areas: third paragraph) is due at the later of
 * that and the end of the first working day after the trip's return date. */

#define EVD_POLICY_RULE_MAX 96

/* A trip as the deadline sees it: recordings from..until (inclusive) are covered, and
 * returned is any instant of the local return day. */
struct evd_policy_trip {
        uint64_t id;
        int64_t from, until, returned;
};

struct evd_policy_deadline {
        int64_t deadline;
        bool known;                     /* every day counted lies in a year the calendar declares */
        uint64_t trip;                  /* the trip that set it, 0: none */
        char rule[EVD_POLICY_RULE_MAX]; /* "2 working days", "1 working day after return,
                                         * trip 3", "2 working days from docking (clock
                                         * suspect)" */
};

/* The deadline of a recording made at recorded (docked at docked) under n_days working
 * days, the clock suspect or not, given the n_trips trips (borrowed) of its handler or
 * recorder, into *ret. cal may be NULL. -EINVAL/-ERANGE as evd_calendar_deadline. */
int evd_policy_deadline(const struct evd_calendar *cal, int n_days, int64_t recorded,
                        int64_t docked, bool clock_suspect, const struct evd_policy_trip *trips,
                        size_t n_trips, struct evd_policy_deadline *ret);

/* Bring item's deadline, deadline_rule, deadline_known, late and label_late up to date
 * with d (borrowed). Returns 1 when the deadline or its rule changed, else 0. */
int evd_policy_set_deadline(json_t *item, const struct evd_policy_deadline *d);

#endif
