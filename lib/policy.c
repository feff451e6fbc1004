#include "policy.h"

#include <errno.h>
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
