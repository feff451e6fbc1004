#include "policy.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
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
        json_t *until = json_object_get(item, "retain_until");
        char when[EVD_TIME_STR];
        int64_t t, end;

        if (json_object_get(item, "purged"))
                return "purged already";
        if (json_is_true(json_object_get(item, "hold")))
                return "held";
        if (json_is_true(json_object_get(item, "evidence")))
                return "marked as evidence";
        if (!json_is_string(until))
                return "kept permanently";
        if (evd_time_parse(json_string_value(until), &t) < 0 ||
            evd_policy_add_period(t, &conf->grace, &end) < 0)
                return "retention date unreadable";
        if (now <= end) {
                evd_time_format(end, when);
                (void)snprintf(buf, n, "kept until %s (retain_until plus grace)", when);
                return buf;
        }
        return NULL;
}
