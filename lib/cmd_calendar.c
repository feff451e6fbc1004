/* calendar: whether a date is a working day, and why. */
#include <errno.h>

#include "calendar.h"
#include "station_internal.h"

int evd_cmd_calendar(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
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
