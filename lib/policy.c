#include "policy.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

static int days_in_month(int year, int mon0)
{
        static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

        return mon0 == 1 && leap ? 29 : days[mon0];
}

int evd_policy_add_period(int64_t t, const struct evd_period *period, int64_t *ret)
{
        time_t tt = (time_t)t, out;
        struct tm tm;
        int months, dim;

        if (period->permanent)
                return -EINVAL;
        if (!localtime_r(&tt, &tm))
                return -EINVAL;
        months = tm.tm_mon + period->months;
        tm.tm_year += months / 12;
        tm.tm_mon = months % 12;
        dim = days_in_month(tm.tm_year + 1900, tm.tm_mon);
        if (tm.tm_mday > dim)
                tm.tm_mday = dim;
        tm.tm_mday += period->days; /* mktime carries days into the next months */
        tm.tm_isdst = -1;
        out = mktime(&tm);
        if (out == (time_t)-1)
                return -EINVAL;
        *ret = (int64_t)out;
        return 0;
}

int evd_policy_update_retention(json_t *item, const struct evd_conf *conf)
{
        const json_t *labels = json_object_get(item, "labels");
        const char *ingested = json_string_value(json_object_get(item, "ingested_at"));
        json_t *current = json_object_get(item, "retain_until");
        const struct evd_period *classes[3] = { &conf->retention_default, NULL, NULL };
        int64_t from, want = INT64_MIN, have;
        char buf[EVD_TIME_STR];
        bool permanent = false;

        if (!ingested || evd_time_parse(ingested, &from) < 0)
                return -EINVAL;
        if (json_string_value(json_object_get(labels, "case_no")))
                classes[1] = &conf->retention_case;
        if (json_is_true(json_object_get(item, "evidence")))
                classes[2] = &conf->retention_evidence;
        for (int i = 0; i < 3; i++) {
                int64_t t;

                if (!classes[i])
                        continue;
                if (classes[i]->permanent) {
                        permanent = true;
                        continue;
                }
                if (evd_policy_add_period(from, classes[i], &t) < 0)
                        return -EINVAL;
                if (t > want)
                        want = t;
        }
        if (json_is_null(current) && json_object_get(item, "retain_until"))
                return 0; /* permanent already: nothing is longer */
        if (permanent) {
                (void)json_object_set_new(item, "retain_until", json_null());
                return 1;
        }
        if (json_is_string(current) && evd_time_parse(json_string_value(current), &have) == 0 &&
            have >= want)
                return 0;
        evd_time_format(want, buf);
        (void)json_object_set_new(item, "retain_until", json_string(buf));
        return 1;
}

const char *evd_policy_purge_blocker(const json_t *item, const struct evd_conf *conf, int64_t now,
                                     char *buf, size_t n)
{
        const struct evd_policy_protection p = {
                .purged = json_object_get(item, "purged") != NULL,
                .hold = json_is_true(json_object_get(item, "hold")),
                .evidence = json_is_true(json_object_get(item, "evidence")),
                .retain_until = json_string_value(json_object_get(item, "retain_until")),
        };

        return evd_policy_purge_blocker_of(&p, conf, now, buf, n);
}

const char *evd_policy_purge_blocker_of(const struct evd_policy_protection *p,
                                        const struct evd_conf *conf, int64_t now, char *buf,
                                        size_t n)
{
        char when[EVD_TIME_STR];
        int64_t t, end;

        if (p->purged)
                return "purged already";
        if (p->hold)
                return "held";
        if (p->evidence)
                return "marked as evidence";
        if (!p->retain_until)
                return "kept permanently";
        if (evd_time_parse(p->retain_until, &t) < 0 ||
            evd_policy_add_period(t, &conf->grace, &end) < 0)
                return "retention date unreadable";
        if (now <= end) {
                evd_time_format(end, when);
                (void)snprintf(buf, n, "kept until %s (retain_until plus grace)", when);
                return buf;
        }
        return NULL;
}

int evd_policy_deadline(const struct evd_calendar *cal, int n_days, int64_t recorded,
                        int64_t docked, bool clock_suspect, const struct evd_policy_trip *trips,
                        size_t n_trips, struct evd_policy_deadline *ret)
{
        struct evd_policy_deadline d = { .known = true };
        int r;

        r = evd_calendar_deadline(cal, clock_suspect ? docked : recorded, n_days, &d.deadline,
                                  &d.known);
        if (r < 0)
                return r;
        (void)snprintf(d.rule, sizeof(d.rule), "%d working day%s%s", n_days, n_days == 1 ? "" : "s",
                       clock_suspect ? " from docking (clock suspect)" : "");
        /* A wrong clock cannot place a recording inside a trip; docking comes after the
         * return anyway. */
        for (size_t i = 0; !clock_suspect && i < n_trips; i++) {
                int64_t due;
                bool known;

                if (recorded < trips[i].from || recorded > trips[i].until)
                        continue;
                r = evd_calendar_deadline(cal, trips[i].returned, 1, &due, &known);
                if (r < 0)
                        return r;
                if (due <= d.deadline)
                        continue;
                d.deadline = due;
                d.known = known;
                d.trip = trips[i].id;
                (void)snprintf(d.rule, sizeof(d.rule), "1 working day after return, trip %llu",
                               (unsigned long long)trips[i].id);
        }
        *ret = d;
        return 0;
}

/* Whether the time in item[key] is after t (false when absent or unreadable). */
static bool after(const json_t *item, const char *key, int64_t t)
{
        int64_t v;

        return evd_time_parse(json_string_value(json_object_get(item, key)) ?: "", &v) == 0 &&
               v > t;
}

int evd_policy_set_deadline(json_t *item, const struct evd_policy_deadline *d)
{
        const char *old_rule = json_string_value(json_object_get(item, "deadline_rule"));
        const char *old = json_string_value(json_object_get(item, "deadline"));
        char buf[EVD_TIME_STR];
        int changed;

        evd_time_format(d->deadline, buf);
        changed = !old || strcmp(old, buf) != 0 || !old_rule || strcmp(old_rule, d->rule) != 0;
        (void)json_object_set_new(item, "deadline", json_string(buf));
        (void)json_object_set_new(item, "deadline_rule", json_string(d->rule));
        (void)json_object_set_new(item, "deadline_known", json_boolean(d->known));
        (void)json_object_set_new(item, "late",
                                  json_boolean(after(item, "ingested_at", d->deadline)));
        if (json_is_string(json_object_get(item, "labelled_at")))
                (void)json_object_set_new(item, "label_late",
                                          json_boolean(after(item, "labelled_at", d->deadline)));
        return changed;
}
