/* calendar: which days are working days under China's rules, and the storage deadline.
 *
 * 第二十五条 wants a recording stored and labelled within 2 working days. A working day is
 * Monday to Friday, except public holidays (rest days even on a weekday), plus adjusted
 * workdays (调休: a Saturday or Sunday that is worked). The State Council publishes each
 * year's arrangement; calendar files hold it, one or more years per file. For a year that
 * no loaded file declares, Monday-Friday is assumed and every answer says it is not known,
 * so that the caller can warn that the calendar needs updating.
 *
 * Calendar file format (UTF-8, one statement a line, '#' starts a comment):
 *     year 2026                                  declares a year the file covers, whole
 *     holiday 2026-10-01..2026-10-07 国庆节     rest days (a range, or one date)
 *     workday 2026-10-10 国庆节调休              a Saturday or Sunday that is worked
 * A year's line comes before its days. Each year is declared by one file only, each day
 * at most once. Bounds: EVD_CALENDAR_FILE_MAX bytes a file, EVD_CALENDAR_LINE_MAX bytes a
 * line, EVD_CALENDAR_NAME_MAX bytes a name, EVD_CALENDAR_RANGE_MAX days a range,
 * EVD_CALENDAR_ENTRIES_MAX statements a year, EVD_CALENDAR_YEARS_MAX years in all.
 * A bad line refuses the whole file with "file:line: reason".
 *
 * Local days are those of the process's time zone (TZ; the daemon sets it at start).
 * Any number of threads may query a calendar while another adds a file to it (a year
 * installed at run time): an addition is seen whole or not at all. */
#ifndef EVD_CALENDAR_H
#define EVD_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define EVD_CALENDAR_FILE_MAX (64 * 1024) /* bytes in one calendar file */
#define EVD_CALENDAR_LINE_MAX 256         /* bytes in one line, without its newline */
#define EVD_CALENDAR_NAME_MAX 64          /* bytes in a holiday or workday name */
#define EVD_CALENDAR_RANGE_MAX 31         /* days in one holiday or workday range */
#define EVD_CALENDAR_ENTRIES_MAX 128      /* holiday and workday statements per year */
#define EVD_CALENDAR_YEARS_MAX 64         /* years declared, over all files */
#define EVD_CALENDAR_YEAR_MIN 1970        /* years a file may declare */
#define EVD_CALENDAR_YEAR_MAX 9999
#define EVD_CALENDAR_DEADLINE_MAX 366 /* working days a deadline may count */
#define EVD_CALENDAR_REASON_MAX 96

struct evd_calendar;

struct evd_calendar_day {
        bool working_day;
        bool known; /* the date lies inside a year some loaded file declares */
        /* "weekday", "weekend", "holiday: 国庆节", "adjusted workday: 国庆节调休", or for a
         * year not loaded "weekday (no calendar for 2027: Monday-Friday assumed)". */
        char reason[EVD_CALENDAR_REASON_MAX];
};

/* An empty calendar into *ret: Monday-Friday, no year known. -ENOMEM. */
int evd_calendar_new(struct evd_calendar **ret);

/* Read the calendar file at path (borrowed) into cal. All or nothing: on any error cal is
 * as it was. -ENOENT/-EACCES/... when it cannot be opened ("path: reason"), -EFBIG past
 * EVD_CALENDAR_FILE_MAX, -EINVAL for a bad line ("path:line: reason") or a file that is
 * not a regular file or declares no year ("path: reason"), -ENOMEM. */
int evd_calendar_add_file(struct evd_calendar *cal, const char *path, struct evd_err *err);

/* The same for len bytes of calendar text (borrowed, need not be NUL-terminated); name
 * (borrowed) stands for the file in error messages. */
int evd_calendar_add_text(struct evd_calendar *cal, const char *name, const char *text, size_t len,
                          struct evd_err *err);

/* A new calendar into *ret from n_paths files (paths and the strings borrowed); with
 * n_paths 0 it is Monday-Friday only and knows no year. Errors as evd_calendar_add_file;
 * -EINVAL if n_paths is negative. *ret is set only on success. */
int evd_calendar_load(const char *const *paths, int n_paths, struct evd_calendar **ret,
                      struct evd_err *err);

/* Free cal; NULL is fine. */
void evd_calendar_free(struct evd_calendar *cal);

/* True when a loaded file declares year. cal may be NULL (the empty calendar). */
bool evd_calendar_covers(const struct evd_calendar *cal, int year);

/* Write the declared years in ascending order into years[0..max-1]; returns how many are
 * declared (which may be more than max). cal may be NULL. */
int evd_calendar_years(const struct evd_calendar *cal, int *years, int max);

/* What kind of day year-month-day is, into *ret. -EINVAL when the date does not exist or
 * the year is outside 1..9999. cal may be NULL (the empty calendar). */
int evd_calendar_day(const struct evd_calendar *cal, int year, int month, int day,
                     struct evd_calendar_day *ret);

/* The storage deadline of a recording made at recorded_at (seconds since the epoch): the
 * last second (23:59:59 local, the instant before the next local midnight) of the
 * n_working_days-th working day after the local day of recorded_at, into *ret_deadline.
 * *ret_known is false when a day looked at lies in a year no file declares (Monday-Friday
 * was assumed for it). The recording day itself never counts, worked or not.
 * -EINVAL when n_working_days is not 1..EVD_CALENDAR_DEADLINE_MAX, -ERANGE when
 * recorded_at or the deadline falls outside years 1..9999 or time_t. cal may be NULL. */
int evd_calendar_deadline(const struct evd_calendar *cal, int64_t recorded_at, int n_working_days,
                          int64_t *ret_deadline, bool *ret_known);

/* Parse exactly "YYYY-MM-DD" (four, two and two digits, nothing around them) of a date
 * that exists (2024-02-29 yes, 2026-02-30 no), year 0001..9999. -EINVAL otherwise; the
 * outputs are set only on success. */
int evd_calendar_parse_date(const char *s, int *ret_year, int *ret_month, int *ret_day);

#endif
