/* Unit tests of the calendar module: dates, China's 2026 calendar as shipped, storage
 * deadlines (第二十五条), and every way a calendar file can be refused.
 *
 * Run from the repository root: it loads config/calendar/cn-202[456].txt. Expected days and
 * times are worked out here from the State Council notice and with timegm/gmtime_r and
 * evd_time_parse, not with the module's own date arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "calendar.h"
#include "util.h"

#define SHIPPED "config/calendar/cn-2026.txt"

static char tmpdir[] = "/tmp/evd-test-calendar-XXXXXX";

static int setup_dir(void **state)
{
        (void)state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
        DIR *dir = opendir(tmpdir);
        struct dirent *e;
        char path[512];

        (void)state;
        if (!dir)
                return -1;
        while ((e = readdir(dir))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                if (evd_snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name) == 0)
                        (void)unlink(path);
        }
        (void)closedir(dir);
        return rmdir(tmpdir);
}

/* Write len bytes into tmpdir/name; the path goes into out (256 bytes). */
static void write_file(const char *name, const char *data, size_t len, char *out)
{
        FILE *f;

        assert_int_equal(evd_snprintf(out, 256, "%s/%s", tmpdir, name), 0);
        f = fopen(out, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

/* Seconds of an RFC 3339 time. */
static int64_t at(const char *s)
{
        int64_t t = 0;

        assert_int_equal(evd_time_parse(s, &t), 0);
        return t;
}

static struct evd_calendar *load_shipped(void)
{
        const char *paths[] = { SHIPPED };
        struct evd_calendar *cal = NULL;
        struct evd_err err = { 0 };
        int r = evd_calendar_load(paths, 1, &cal, &err);

        if (r < 0)
                fail_msg("loading %s: %s", SHIPPED, err.text);
        assert_non_null(cal);
        return cal;
}

static void check_day(const struct evd_calendar *cal, const char *date, bool working, bool known,
                      const char *reason)
{
        struct evd_calendar_day day;
        int y, m, d;

        assert_int_equal(evd_calendar_parse_date(date, &y, &m, &d), 0);
        assert_int_equal(evd_calendar_day(cal, y, m, d, &day), 0);
        if (day.working_day != working || day.known != known || strcmp(day.reason, reason) != 0)
                fail_msg("%s: got working=%d known=%d '%s', want working=%d known=%d '%s'", date,
                         day.working_day, day.known, day.reason, working, known, reason);
}

static void test_parse_date(void **state)
{
        static const char *const bad[] = {
                "2026-02-30",  "2026-02-29",       "2025-13-01",
                "2025-00-10",  "2025-01-00",       "2025-04-31",
                "1900-02-29",  "0000-01-01",       "2026-1-01",
                "2026-01-1",   "26-01-01",         "2026/01/01",
                " 2026-01-01", "2026-01-01 ",      "2026-01-01\n",
                "+026-01-01",  "2026-01-01T00:00", "",
                "2026-0a-01",  "２０２６-01-01",
        };
        int y = 0, m = 0, d = 0;

        (void)state;
        assert_int_equal(evd_calendar_parse_date("2026-10-01", &y, &m, &d), 0);
        assert_int_equal(y, 2026);
        assert_int_equal(m, 10);
        assert_int_equal(d, 1);
        assert_int_equal(evd_calendar_parse_date("2024-02-29", &y, &m, &d), 0);
        assert_int_equal(d, 29);
        assert_int_equal(evd_calendar_parse_date("2000-02-29", &y, &m, &d), 0);
        assert_int_equal(evd_calendar_parse_date("0001-01-01", &y, &m, &d), 0);
        assert_int_equal(evd_calendar_parse_date("9999-12-31", &y, &m, &d), 0);
        assert_int_equal(y, 9999);
        for (size_t i = 0; i < EVD_ARRAY_SIZE(bad); i++) {
                y = m = d = -1;
                if (evd_calendar_parse_date(bad[i], &y, &m, &d) != -EINVAL)
                        fail_msg("'%s' was accepted", bad[i]);
                /* Outputs are untouched on failure. */
                assert_int_equal(y, -1);
                assert_int_equal(m, -1);
                assert_int_equal(d, -1);
        }
        assert_int_equal(evd_calendar_parse_date(NULL, &y, &m, &d), -EINVAL);
}

/* Without files: Monday-Friday, and nothing is known. Weekdays agree with gmtime_r over a
 * long span, leap years and centuries included. */
static void test_empty_calendar(void **state)
{
        struct evd_calendar *cal = NULL;
        struct evd_calendar_day day;
        struct evd_err err = { 0 };
        int years[4];

        (void)state;
        assert_int_equal(evd_calendar_load(NULL, 0, &cal, &err), 0);
        assert_non_null(cal);
        assert_false(evd_calendar_covers(cal, 2026));
        assert_int_equal(evd_calendar_years(cal, years, 4), 0);
        check_day(cal, "2026-10-01", true, false,
                  "weekday (no calendar for 2026: Monday-Friday assumed)");
        check_day(cal, "2026-10-03", false, false,
                  "weekend (no calendar for 2026: Monday-Friday assumed)");
        check_day(NULL, "2026-10-04", false, false,
                  "weekend (no calendar for 2026: Monday-Friday assumed)");

        for (int64_t t = at("0001-01-01T12:00:00Z"); t < at("9999-12-31T00:00:00Z");
             t += 86400 * 97) {
                time_t tt = (time_t)t;
                struct tm tm;

                assert_non_null(gmtime_r(&tt, &tm));
                assert_int_equal(
                        evd_calendar_day(cal, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, &day),
                        0);
                assert_int_equal(day.working_day, tm.tm_wday != 0 && tm.tm_wday != 6);
        }
        for (int64_t t = at("1999-01-01T12:00:00Z"); t < at("2101-01-01T00:00:00Z"); t += 86400) {
                time_t tt = (time_t)t;
                struct tm tm;

                assert_non_null(gmtime_r(&tt, &tm));
                assert_int_equal(
                        evd_calendar_day(cal, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, &day),
                        0);
                assert_int_equal(day.working_day, tm.tm_wday != 0 && tm.tm_wday != 6);
                assert_false(day.known);
        }
        assert_int_equal(evd_calendar_day(cal, 2026, 2, 29, &day), -EINVAL);
        assert_int_equal(evd_calendar_day(cal, 2026, 13, 1, &day), -EINVAL);
        assert_int_equal(evd_calendar_day(cal, 0, 1, 1, &day), -EINVAL);
        assert_int_equal(evd_calendar_day(cal, 10000, 1, 1, &day), -EINVAL);
        assert_int_equal(evd_calendar_load(NULL, -1, &cal, &err), -EINVAL);
        evd_calendar_free(cal);
        evd_calendar_free(NULL);
}

/* One year's arrangement as the State Council's notice gives it, written out again
 * independently of the shipped file, with the notice's own totals. */
struct holiday_span {
        const char *from, *to, *reason;
};

struct adjusted_workday {
        const char *date, *reason;
        int wday; /* 0 Sunday, 6 Saturday: the notice names it */
};

struct notice {
        int year;
        const char *path;
        const struct holiday_span *holidays;
        size_t n_holidays;
        const struct adjusted_workday *workdays;
        size_t n_workdays;
        int holiday_days, working_days;
};

/* 国办发明电〔2023〕7号. */
static const struct holiday_span holidays_2024[] = {
        { "2024-01-01", "2024-01-01", "holiday: 元旦" },
        { "2024-02-10", "2024-02-17", "holiday: 春节" },
        { "2024-04-04", "2024-04-06", "holiday: 清明节" },
        { "2024-05-01", "2024-05-05", "holiday: 劳动节" },
        { "2024-06-10", "2024-06-10", "holiday: 端午节" },
        { "2024-09-15", "2024-09-17", "holiday: 中秋节" },
        { "2024-10-01", "2024-10-07", "holiday: 国庆节" },
};

static const struct adjusted_workday workdays_2024[] = {
        { "2024-02-04", "adjusted workday: 春节调休", 0 },
        { "2024-02-18", "adjusted workday: 春节调休", 0 },
        { "2024-04-07", "adjusted workday: 清明节调休", 0 },
        { "2024-04-28", "adjusted workday: 劳动节调休", 0 },
        { "2024-05-11", "adjusted workday: 劳动节调休", 6 },
        { "2024-09-14", "adjusted workday: 中秋节调休", 6 },
        { "2024-09-29", "adjusted workday: 国庆节调休", 0 },
        { "2024-10-12", "adjusted workday: 国庆节调休", 6 },
};

/* 国办发明电〔2024〕12号 (the first year of the revised holiday measures: New Year's Eve of
 * the Spring Festival and 2 May are holidays of their own). */
static const struct holiday_span holidays_2025[] = {
        { "2025-01-01", "2025-01-01", "holiday: 元旦" },
        { "2025-01-28", "2025-02-04", "holiday: 春节" },
        { "2025-04-04", "2025-04-06", "holiday: 清明节" },
        { "2025-05-01", "2025-05-05", "holiday: 劳动节" },
        { "2025-05-31", "2025-06-02", "holiday: 端午节" },
        { "2025-10-01", "2025-10-08", "holiday: 国庆节、中秋节" },
};

static const struct adjusted_workday workdays_2025[] = {
        { "2025-01-26", "adjusted workday: 春节调休", 0 },
        { "2025-02-08", "adjusted workday: 春节调休", 6 },
        { "2025-04-27", "adjusted workday: 劳动节调休", 0 },
        { "2025-09-28", "adjusted workday: 国庆节调休", 0 },
        { "2025-10-11", "adjusted workday: 国庆节调休", 6 },
};

static const struct holiday_span holidays_2026[] = {
        { "2026-01-01", "2026-01-03", "holiday: 元旦" },
        { "2026-02-15", "2026-02-23", "holiday: 春节" },
        { "2026-04-04", "2026-04-06", "holiday: 清明节" },
        { "2026-05-01", "2026-05-05", "holiday: 劳动节" },
        { "2026-06-19", "2026-06-21", "holiday: 端午节" },
        { "2026-09-25", "2026-09-27", "holiday: 中秋节" },
        { "2026-10-01", "2026-10-07", "holiday: 国庆节" },
};

static const struct adjusted_workday workdays_2026[] = {
        { "2026-01-04", "adjusted workday: 元旦调休", 0 },
        { "2026-02-14", "adjusted workday: 春节调休", 6 },
        { "2026-02-28", "adjusted workday: 春节调休", 6 },
        { "2026-05-09", "adjusted workday: 劳动节调休", 6 },
        { "2026-09-20", "adjusted workday: 国庆节调休", 0 },
        { "2026-10-10", "adjusted workday: 国庆节调休", 6 },
};

/* Working days: the year's weekdays (262 in 2024, 261 in 2025 and 2026), less the
 * holidays that fall on one (19, 18, 19), plus the adjusted workdays. */
static const struct notice notices[] = {
        { 2024, "config/calendar/cn-2024.txt", holidays_2024, EVD_ARRAY_SIZE(holidays_2024),
          workdays_2024, EVD_ARRAY_SIZE(workdays_2024), 28, 262 - 19 + 8 },
        { 2025, "config/calendar/cn-2025.txt", holidays_2025, EVD_ARRAY_SIZE(holidays_2025),
          workdays_2025, EVD_ARRAY_SIZE(workdays_2025), 28, 261 - 18 + 5 },
        { 2026, SHIPPED, holidays_2026, EVD_ARRAY_SIZE(holidays_2026), workdays_2026,
          EVD_ARRAY_SIZE(workdays_2026), 33, 261 - 19 + 6 },
};

/* What the notice says of date (tm its weekday): working or not, and the reason. */
static const char *notice_day(const struct notice *n, const char *date, const struct tm *tm,
                              bool *ret_working, int *holiday_days, int *adjusted)
{
        const char *reason = NULL;
        bool working = tm->tm_wday != 0 && tm->tm_wday != 6;

        for (size_t k = 0; k < n->n_holidays; k++)
                if (strcmp(date, n->holidays[k].from) >= 0 &&
                    strcmp(date, n->holidays[k].to) <= 0) {
                        reason = n->holidays[k].reason;
                        working = false;
                        (*holiday_days)++;
                }
        for (size_t k = 0; k < n->n_workdays; k++)
                if (strcmp(date, n->workdays[k].date) == 0) {
                        assert_null(reason);
                        assert_int_equal(tm->tm_wday, n->workdays[k].wday);
                        reason = n->workdays[k].reason;
                        working = true;
                        (*adjusted)++;
                }
        *ret_working = working;
        return reason ? reason : working ? "weekday" : "weekend";
}

/* Every day of one year's shipped file against its notice: each holiday day, each
 * adjusted workday, and every plain weekday and weekend. */
static void check_every_day(const struct notice *n)
{
        const char *paths[] = { n->path };
        struct evd_calendar *cal = NULL;
        struct evd_err err = { 0 };
        int working = 0, holiday_days = 0, adjusted = 0, years[4];
        int days = (n->year % 4 == 0 && (n->year % 100 != 0 || n->year % 400 == 0)) ? 366 : 365;
        char noon[32];

        if (evd_calendar_load(paths, 1, &cal, &err) < 0)
                fail_msg("loading %s: %s", n->path, err.text);
        assert_true(evd_calendar_covers(cal, n->year));
        assert_false(evd_calendar_covers(cal, n->year - 1));
        assert_false(evd_calendar_covers(cal, n->year + 1));
        assert_int_equal(evd_calendar_years(cal, years, 4), 1);
        assert_int_equal(years[0], n->year);
        assert_int_equal(evd_snprintf(noon, sizeof(noon), "%d-01-01T12:00:00Z", n->year), 0);
        for (int i = 0; i < days; i++) {
                time_t t = (time_t)(at(noon) + (int64_t)i * 86400);
                bool want_working;
                const char *want_reason;
                char date[16];
                struct tm tm;

                assert_non_null(gmtime_r(&t, &tm));
                assert_int_equal(tm.tm_year + 1900, n->year);
                assert_true(strftime(date, sizeof(date), "%Y-%m-%d", &tm) == 10);
                want_reason = notice_day(n, date, &tm, &want_working, &holiday_days, &adjusted);
                check_day(cal, date, want_working, true, want_reason);
                working += want_working;
        }
        assert_int_equal(holiday_days, n->holiday_days);
        assert_int_equal(adjusted, (int)n->n_workdays);
        assert_int_equal(working, n->working_days);
        evd_calendar_free(cal);
}

static void test_shipped_every_day_2024(void **state)
{
        (void)state;
        check_every_day(&notices[0]);
}

static void test_shipped_every_day_2025(void **state)
{
        (void)state;
        check_every_day(&notices[1]);
}

static void test_shipped_every_day_2026(void **state)
{
        (void)state;
        check_every_day(&notices[2]);
}

/* The three years loaded together: a deadline runs across the year's end. */
static void test_shipped_years_together(void **state)
{
        const char *paths[] = { notices[0].path, notices[1].path, notices[2].path };
        struct evd_calendar *cal = NULL;
        struct evd_err err = { 0 };
        int64_t deadline = 0;
        bool known = false;
        int years[4];

        (void)state;
        if (evd_calendar_load(paths, 3, &cal, &err) < 0)
                fail_msg("loading: %s", err.text);
        assert_int_equal(evd_calendar_years(cal, years, 4), 3);
        /* Tuesday 2024-12-31: Friday 3 January 2025 (New Year's Day is a holiday). */
        assert_int_equal(
                evd_calendar_deadline(cal, at("2024-12-31T10:00:00+08:00"), 2, &deadline, &known),
                0);
        assert_true(known);
        assert_int_equal(deadline, at("2025-01-03T23:59:59+08:00"));
        /* Monday 2025-01-27, the eve of the Spring Festival: Thursday 6 February (the first
         * two working days after the holiday, 5 and 6 February). */
        assert_int_equal(
                evd_calendar_deadline(cal, at("2025-01-27T10:00:00+08:00"), 2, &deadline, &known),
                0);
        assert_int_equal(deadline, at("2025-02-06T23:59:59+08:00"));
        evd_calendar_free(cal);
}

/* Each kind of weekend and weekday, spelled out. */
static void test_shipped_weekend_kinds(void **state)
{
        struct evd_calendar *cal = load_shipped();

        (void)state;
        check_day(cal, "2026-01-10", false, true, "weekend");                     /* Saturday */
        check_day(cal, "2026-01-11", false, true, "weekend");                     /* Sunday */
        check_day(cal, "2026-10-03", false, true, "holiday: 国庆节");             /* Saturday */
        check_day(cal, "2026-10-04", false, true, "holiday: 国庆节");             /* Sunday */
        check_day(cal, "2026-10-10", true, true, "adjusted workday: 国庆节调休"); /* Sat */
        check_day(cal, "2026-09-20", true, true, "adjusted workday: 国庆节调休"); /* Sun */
        check_day(cal, "2026-01-04", true, true, "adjusted workday: 元旦调休");   /* Sun */
        check_day(cal, "2026-10-01", false, true, "holiday: 国庆节");             /* Thursday */
        check_day(cal, "2026-02-16", false, true, "holiday: 春节");               /* Monday */
        check_day(cal, "2026-10-08", true, true, "weekday");                      /* Thursday */
        check_day(cal, "2026-12-31", true, true, "weekday");
        check_day(cal, "2025-12-31", true, false,
                  "weekday (no calendar for 2025: Monday-Friday assumed)");
        check_day(cal, "2027-01-01", true, false,
                  "weekday (no calendar for 2027: Monday-Friday assumed)");
        check_day(cal, "2027-01-02", false, false,
                  "weekend (no calendar for 2027: Monday-Friday assumed)");
        evd_calendar_free(cal);
}

struct deadline_case {
        const char *recorded, *deadline;
        int n;
        bool known;
};

static void check_deadlines(const struct evd_calendar *cal, const struct deadline_case *c, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                int64_t got = 0;
                bool known = !c[i].known;
                char got_s[EVD_TIME_STR], want_s[EVD_TIME_STR];
                int r = evd_calendar_deadline(cal, at(c[i].recorded), c[i].n, &got, &known);

                if (r < 0)
                        fail_msg("%s: error %d", c[i].recorded, r);
                evd_time_format(got, got_s);
                evd_time_format(at(c[i].deadline), want_s);
                if (got != at(c[i].deadline) || known != c[i].known)
                        fail_msg("recorded %s +%d: deadline %s known=%d, want %s (%s) known=%d",
                                 c[i].recorded, c[i].n, got_s, known, want_s, c[i].deadline,
                                 c[i].known);
        }
}

static void test_deadline_national_day(void **state)
{
        static const struct deadline_case cases[] = {
                /* Wednesday before: Oct 1-7 rest, Oct 8 Thu (1), Oct 9 Fri (2). */
                { "2026-09-30T10:00:00+08:00", "2026-10-09T23:59:59+08:00", 2, true },
                /* Tuesday: Sep 30 (1), Oct 8 (2). */
                { "2026-09-29T10:00:00+08:00", "2026-10-08T23:59:59+08:00", 2, true },
                /* During the holiday: Oct 8 (1), Oct 9 (2). */
                { "2026-10-03T15:00:00+08:00", "2026-10-09T23:59:59+08:00", 2, true },
                /* Friday Oct 9: Sat Oct 10 is worked (1), Mon Oct 12 (2). */
                { "2026-10-09T10:00:00+08:00", "2026-10-12T23:59:59+08:00", 2, true },
                /* On the adjusted Saturday: Mon Oct 12 (1), Tue Oct 13 (2). */
                { "2026-10-10T10:00:00+08:00", "2026-10-13T23:59:59+08:00", 2, true },
                /* Mid-Autumn and National Day: Sep 24 Thu -> Sep 28 Mon (1), 29 (2). */
                { "2026-09-24T10:00:00+08:00", "2026-09-29T23:59:59+08:00", 2, true },
                /* Sep 19 Sat -> Sep 20 Sun is worked (1), Sep 21 Mon (2). */
                { "2026-09-19T10:00:00+08:00", "2026-09-21T23:59:59+08:00", 2, true },
                { "2026-09-30T10:00:00+08:00", "2026-10-08T23:59:59+08:00", 1, true },
                { "2026-09-30T10:00:00+08:00", "2026-10-13T23:59:59+08:00", 5, true },
        };
        struct evd_calendar *cal = load_shipped();

        (void)state;
        check_deadlines(cal, cases, EVD_ARRAY_SIZE(cases));
        evd_calendar_free(cal);
}

static void test_deadline_spring_festival(void **state)
{
        static const struct deadline_case cases[] = {
                /* Fri Feb 13: Sat Feb 14 is worked (1), Feb 15-23 rest, Tue Feb 24 (2). */
                { "2026-02-13T09:00:00+08:00", "2026-02-24T23:59:59+08:00", 2, true },
                /* Thu Feb 12: Feb 13 (1), Feb 14 (2). */
                { "2026-02-12T09:00:00+08:00", "2026-02-14T23:59:59+08:00", 2, true },
                /* On the adjusted Saturday: Feb 24 (1), Feb 25 (2). */
                { "2026-02-14T09:00:00+08:00", "2026-02-25T23:59:59+08:00", 2, true },
                /* New Year's Eve (Feb 16): Feb 24, 25. */
                { "2026-02-16T20:00:00+08:00", "2026-02-25T23:59:59+08:00", 2, true },
                /* Fri Feb 27: Sat Feb 28 is worked (1), Mon Mar 2 (2). */
                { "2026-02-27T09:00:00+08:00", "2026-03-02T23:59:59+08:00", 2, true },
        };
        struct evd_calendar *cal = load_shipped();

        (void)state;
        check_deadlines(cal, cases, EVD_ARRAY_SIZE(cases));
        evd_calendar_free(cal);
}

static void test_deadline_year_boundary(void **state)
{
        static const struct deadline_case cases[] = {
                /* Dec 31 2025: Jan 1-3 rest, Sun Jan 4 is worked (1), Mon Jan 5 (2); only
                 * 2026 days are looked at, so the answer is known. */
                { "2025-12-31T10:00:00+08:00", "2026-01-05T23:59:59+08:00", 2, true },
                /* 23:59 local on Dec 31 2025 is still Dec 31. */
                { "2025-12-31T23:59:00+08:00", "2026-01-05T23:59:59+08:00", 2, true },
                /* Dec 30 2025: Dec 31 (1, no 2025 calendar), Jan 4 (2): not known. */
                { "2025-12-30T10:00:00+08:00", "2026-01-04T23:59:59+08:00", 2, false },
                /* Dec 30 2026: Dec 31 (1), Jan 1 2027 Friday assumed worked (2). */
                { "2026-12-30T10:00:00+08:00", "2027-01-01T23:59:59+08:00", 2, false },
                { "2026-12-30T10:00:00+08:00", "2026-12-31T23:59:59+08:00", 1, true },
        };
        struct evd_calendar *cal = load_shipped();

        (void)state;
        check_deadlines(cal, cases, EVD_ARRAY_SIZE(cases));
        evd_calendar_free(cal);
}

/* The local day of the recording counts, not the UTC day, and not the next day. */
static void test_deadline_local_day(void **state)
{
        static const struct deadline_case cases[] = {
                /* 23:59:59 on Friday Oct 9 is Oct 9: Oct 10 (1), Oct 12 (2). */
                { "2026-10-09T23:59:00+08:00", "2026-10-12T23:59:59+08:00", 2, true },
                { "2026-10-09T23:59:59+08:00", "2026-10-12T23:59:59+08:00", 2, true },
                /* One second later it is Saturday Oct 10: Oct 12 (1), Oct 13 (2). */
                { "2026-10-10T00:00:00+08:00", "2026-10-13T23:59:59+08:00", 2, true },
                /* 16:30 UTC on Oct 9 is 00:30 on Oct 10 in Shanghai. */
                { "2026-10-09T16:30:00Z", "2026-10-13T23:59:59+08:00", 2, true },
                /* 15:59 UTC on Oct 9 is 23:59 on Oct 9 in Shanghai. */
                { "2026-10-09T15:59:00Z", "2026-10-12T23:59:59+08:00", 2, true },
                /* 00:00 local counts for that day too. */
                { "2026-10-09T00:00:00+08:00", "2026-10-12T23:59:59+08:00", 2, true },
        };
        struct evd_calendar *cal = load_shipped();

        (void)state;
        check_deadlines(cal, cases, EVD_ARRAY_SIZE(cases));
        evd_calendar_free(cal);
}

static void test_deadline_outside_year(void **state)
{
        static const struct deadline_case cases[] = {
                /* Fri Mar 5 2027: Mon Mar 8 (1), Tue Mar 9 (2), Monday-Friday assumed. */
                { "2027-03-05T10:00:00+08:00", "2027-03-09T23:59:59+08:00", 2, false },
                { "2027-03-03T10:00:00+08:00", "2027-03-05T23:59:59+08:00", 2, false },
                /* 2025 has no calendar: Oct 1 2025 is assumed worked. */
                { "2025-09-30T10:00:00+08:00", "2025-10-02T23:59:59+08:00", 2, false },
        };
        struct evd_calendar *cal = load_shipped();

        (void)state;
        check_deadlines(cal, cases, EVD_ARRAY_SIZE(cases));
        /* No calendar at all: never known. */
        check_deadlines(NULL, cases, EVD_ARRAY_SIZE(cases));
        evd_calendar_free(cal);
}

static void test_deadline_bad_args(void **state)
{
        struct evd_calendar *cal = load_shipped();
        int64_t deadline = 12345;
        bool known = true;

        (void)state;
        assert_int_equal(
                evd_calendar_deadline(cal, at("2026-10-01T00:00:00Z"), 0, &deadline, &known),
                -EINVAL);
        assert_int_equal(
                evd_calendar_deadline(cal, at("2026-10-01T00:00:00Z"), -2, &deadline, &known),
                -EINVAL);
        assert_int_equal(evd_calendar_deadline(cal, at("2026-10-01T00:00:00Z"),
                                               EVD_CALENDAR_DEADLINE_MAX + 1, &deadline, &known),
                         -EINVAL);
        assert_int_equal(evd_calendar_deadline(cal, INT64_MAX, 2, &deadline, &known), -ERANGE);
        assert_int_equal(evd_calendar_deadline(cal, INT64_MIN, 2, &deadline, &known), -ERANGE);
        assert_int_equal(
                evd_calendar_deadline(cal, at("9999-12-31T10:00:00Z"), 2, &deadline, &known),
                -ERANGE);
        /* Outputs untouched on failure. */
        assert_int_equal(deadline, 12345);
        assert_true(known);
        /* The most days allowed still works. */
        assert_int_equal(evd_calendar_deadline(cal, at("2026-01-01T00:00:00Z"),
                                               EVD_CALENDAR_DEADLINE_MAX, &deadline, &known),
                         0);
        assert_false(known);
        evd_calendar_free(cal);
}

/* In a zone with daylight saving, the deadline is still 23:59:59 local on its day. */
static void test_deadline_dst_zone(void **state)
{
        static const struct deadline_case cases[] = {
                /* New York springs forward on Sun 2026-03-08. */
                { "2026-03-06T12:00:00-05:00", "2026-03-10T23:59:59-04:00", 2, false },
                { "2026-03-05T12:00:00-05:00", "2026-03-09T23:59:59-04:00", 2, false },
                /* ... and falls back on Sun 2026-11-01. */
                { "2026-10-29T12:00:00-04:00", "2026-11-02T23:59:59-05:00", 2, false },
                /* 23:30 local on Fri 2026-03-06 is already Saturday in UTC. */
                { "2026-03-07T04:30:00Z", "2026-03-10T23:59:59-04:00", 2, false },
        };

        (void)state;
        assert_int_equal(setenv("TZ", "America/New_York", 1), 0);
        tzset();
        check_deadlines(NULL, cases, EVD_ARRAY_SIZE(cases));
        assert_int_equal(setenv("TZ", "Asia/Shanghai", 1), 0);
        tzset();
}

/* ---- refused files ---- */

struct bad_case {
        const char *text;
        size_t len; /* 0: strlen */
        int line;   /* 0: a file-level error "path: ..." */
        const char *reason;
};

static void check_refused(const struct bad_case *c, int index)
{
        struct evd_calendar *cal = (struct evd_calendar *)0x1;
        struct evd_err err = { 0 };
        char path[256], name[32], prefix[300];
        size_t len = c->len ? c->len : strlen(c->text);
        const char *paths[1] = { path };
        int r;

        assert_int_equal(evd_snprintf(name, sizeof(name), "bad%d.txt", index), 0);
        write_file(name, c->text, len, path);
        r = evd_calendar_load(paths, 1, &cal, &err);
        if (r != -EINVAL)
                fail_msg("case %d: got %d, want -EINVAL (%s)", index, r, err.text);
        assert_ptr_equal(cal, (struct evd_calendar *)0x1); /* *ret untouched */
        assert_int_equal(err.code, -EINVAL);
        if (c->line)
                assert_int_equal(evd_snprintf(prefix, sizeof(prefix), "%s:%d: ", path, c->line), 0);
        else
                assert_int_equal(evd_snprintf(prefix, sizeof(prefix), "%s: ", path), 0);
        if (strncmp(err.text, prefix, strlen(prefix)) != 0 || !strstr(err.text, c->reason))
                fail_msg("case %d: error '%s', want '%s...%s'", index, err.text, prefix, c->reason);
        (void)unlink(path);
}

#define NUL_LINE "year 2026\nholi\0day 2026-10-01 x\n"

static void test_bad_lines(void **state)
{
        static const struct bad_case cases[] = {
                { "year 2026\nfoo 2026-01-01 x\n", 0, 2,
                  "unknown statement 'foo' (expected 'year', 'holiday' or 'workday')" },
                { "YEAR 2026\n", 0, 1, "unknown statement 'YEAR'" },
                { "year 2026\nholiday 2026-10-01\n", 0, 2,
                  "'holiday' takes a date or a range and a name" },
                { "year 2026\nworkday\n", 0, 2, "'workday' takes a date or a range and a name" },
                { "year 2026\nholiday 2026-02-30 x\n", 0, 2,
                  "'2026-02-30' is not a date (YYYY-MM-DD, a day that exists)" },
                { "year 2026\nholiday 2026-1-1 x\n", 0, 2, "'2026-1-1' is not a date" },
                { "year 2026\nholiday 2026-10-01...2026-10-02 x\n", 0, 2,
                  "'.2026-10-02' is not a date" },
                { "year 2026\nholiday 2026-10-01.. x\n", 0, 2, "'' is not a date" },
                { "year 2026\nholiday 2026-10-07..2026-10-01 x\n", 0, 2,
                  "range 2026-10-07..2026-10-01 ends before it starts" },
                { "year 2026\nholiday 2026-01-01..2026-02-01 x\n", 0, 2,
                  "range 2026-01-01..2026-02-01 is longer than 31 days" },
                { "year 2026\nworkday 2026-10-09 x\n", 0, 2,
                  "2026-10-09 is a Friday, a working day anyway" },
                { "year 2026\n\nworkday 2026-10-10..2026-10-12 x\n", 0, 3,
                  "2026-10-12 is a Monday, a working day anyway" },
                { "holiday 2026-10-01 x\nyear 2026\n", 0, 1,
                  "2026-10-01 is in 2026, which this file does not declare (put 'year 2026' "
                  "above this line)" },
                { "year 2026\n\n# c\nholiday 2027-01-01 x\n", 0, 4,
                  "2027-01-01 is in 2027, which this file does not declare" },
                { "year 2026\nholiday 2026-12-31..2027-01-01 x\n", 0, 2,
                  "2027-01-01 is in 2027, which this file does not declare" },
                { "year 2026\nholiday 2026-10-01..2026-10-07 a\nholiday 2026-10-05 b\n", 0, 3,
                  "2026-10-05 is already declared a holiday on line 2" },
                { "year 2026\nworkday 2026-10-10 a\nholiday 2026-10-10 b\n", 0, 3,
                  "2026-10-10 is already declared a workday on line 2" },
                { "year 2026\nholiday 2026-10-10 a\nworkday 2026-10-10 b\n", 0, 3,
                  "2026-10-10 is already declared a holiday on line 2" },
                { "year 2026\nyear 2026\n", 0, 2, "year 2026 is already declared on line 1" },
                { "year 26\n", 0, 1, "'year' takes one four-digit year" },
                { "year 2026 2027\n", 0, 1, "'year' takes one four-digit year" },
                { "year\n", 0, 1, "'year' takes one four-digit year" },
                { "year 1969\n", 0, 1, "year 1969 is outside 1970..9999" },
                { "year 2026\nholiday 2026-10-01 \xff\n", 0, 2, "line is not valid UTF-8" },
                { "year 2026\nholiday 2026-10-01 \xc0\xaf\n", 0, 2, "line is not valid UTF-8" },
                { "year 2026\nholiday 2026-10-01 a\x01z\n", 0, 2,
                  "line holds control character 0x01" },
                { "year 2026\nholiday 2026-10-01 a\rz\n", 0, 2,
                  "line holds control character 0x0d" },
                { "year 2026\nholiday 2026-10-01 a\x7f\n", 0, 2,
                  "line holds control character 0x7f" },
                { NUL_LINE, sizeof(NUL_LINE) - 1, 2, "line holds a NUL byte" },
                { "year 2026\nholiday 2026-10-01 "
                  "01234567890123456789012345678901234567890123456789012345678901234\n",
                  0, 2, "name is longer than 64 bytes" },
                { "", 0, 0, "declares no year (a calendar file needs a 'year YYYY' line" },
                { "# only a comment\n\n", 0, 0, "declares no year" },
        };

        (void)state;
        for (size_t i = 0; i < EVD_ARRAY_SIZE(cases); i++)
                check_refused(&cases[i], (int)i);
}

/* Each limit: the largest thing allowed loads, one more is refused at its line. */
static void test_limits(void **state)
{
        struct evd_calendar *cal = NULL;
        struct evd_err err = { 0 };
        char *text = malloc(EVD_CALENDAR_FILE_MAX + 2);
        char line[EVD_CALENDAR_LINE_MAX + 2], name[EVD_CALENDAR_NAME_MAX + 1];
        struct evd_calendar_day day;
        size_t len;

        (void)state;
        assert_non_null(text);

        /* A line of exactly EVD_CALENDAR_LINE_MAX bytes, and one more. */
        memset(line, 'x', sizeof(line));
        line[0] = '#';
        line[EVD_CALENDAR_LINE_MAX] = '\0';
        len = (size_t)snprintf(text, EVD_CALENDAR_FILE_MAX, "year 2026\n%s\n", line);
        assert_int_equal(evd_calendar_new(&cal), 0);
        assert_int_equal(evd_calendar_add_text(cal, "mem", text, len, &err), 0);
        evd_calendar_free(cal);
        line[EVD_CALENDAR_LINE_MAX] = 'x';
        line[EVD_CALENDAR_LINE_MAX + 1] = '\0';
        len = (size_t)snprintf(text, EVD_CALENDAR_FILE_MAX, "year 2026\n%s\n", line);
        assert_int_equal(evd_calendar_new(&cal), 0);
        assert_int_equal(evd_calendar_add_text(cal, "mem", text, len, &err), -EINVAL);
        assert_string_equal(err.text, "mem:2: line is longer than 256 bytes");
        evd_calendar_free(cal);

        /* A name of exactly EVD_CALENDAR_NAME_MAX bytes: 16 three-byte characters and 16
         * letters; its reason fits whole. */
        len = 0;
        for (int i = 0; i < 16; i++) {
                memcpy(name + len, "节", 3);
                len += 3;
        }
        memset(name + len, 'a', 16);
        name[64] = '\0';
        len = (size_t)snprintf(text, EVD_CALENDAR_FILE_MAX, "year 2026\nworkday 2026-10-11 %s\n",
                               name);
        assert_int_equal(evd_calendar_new(&cal), 0);
        assert_int_equal(evd_calendar_add_text(cal, "mem", text, len, &err), 0);
        assert_int_equal(evd_calendar_day(cal, 2026, 10, 11, &day), 0);
        assert_true(day.working_day);
        assert_string_equal(day.reason + strlen("adjusted workday: "), name);
        evd_calendar_free(cal);

        /* A range of exactly EVD_CALENDAR_RANGE_MAX days. */
        len = (size_t)snprintf(text, EVD_CALENDAR_FILE_MAX,
                               "year 2026\nholiday 2026-07-01..2026-07-31 summer\n");
        assert_int_equal(evd_calendar_new(&cal), 0);
        assert_int_equal(evd_calendar_add_text(cal, "mem", text, len, &err), 0);
        assert_int_equal(evd_calendar_day(cal, 2026, 7, 31, &day), 0);
        assert_false(day.working_day);
        assert_int_equal(evd_calendar_day(cal, 2026, 8, 3, &day), 0);
        assert_true(day.working_day);
        evd_calendar_free(cal);

        /* EVD_CALENDAR_ENTRIES_MAX statements in a year, then one more. */
        len = (size_t)snprintf(text, EVD_CALENDAR_FILE_MAX, "year 2026\n");
        for (int i = 0; i <= EVD_CALENDAR_ENTRIES_MAX; i++) {
                time_t t = (time_t)(at("2026-01-01T00:00:00Z") + (int64_t)i * 86400);
                struct tm tm;

                assert_non_null(gmtime_r(&t, &tm));
                len += strftime(text + len, 64, "holiday %Y-%m-%d h", &tm);
                len += (size_t)snprintf(text + len, 16, "%d\n", i);
        }
        assert_int_equal(evd_calendar_new(&cal), 0);
        assert_int_equal(evd_calendar_add_text(cal, "mem", text, len, &err), -EINVAL);
        assert_string_equal(err.text, "mem:130: too many holiday and workday lines for 2026 "
                                      "(at most 128)");
        assert_false(evd_calendar_covers(cal, 2026));
        /* Without the last line it loads, and the 128th holiday has its own name. */
        len = (size_t)(strrchr(text, 'h') - text);
        len = (size_t)((const char *)memrchr(text, '\n', len) - text) + 1;
        assert_int_equal(evd_calendar_add_text(cal, "mem", text, len, &err), 0);
        assert_int_equal(evd_calendar_day(cal, 2026, 5, 8, &day), 0); /* day 128 */
        assert_string_equal(day.reason, "holiday: h127");
        evd_calendar_free(cal);

        /* EVD_CALENDAR_YEARS_MAX years, then one more. */
        len = 0;
        for (int i = 0; i <= EVD_CALENDAR_YEARS_MAX; i++)
                len += (size_t)snprintf(text + len, 16, "year %d\n", 2000 + i);
        assert_int_equal(evd_calendar_new(&cal), 0);
        assert_int_equal(evd_calendar_add_text(cal, "mem", text, len, &err), -EINVAL);
        assert_string_equal(err.text, "mem:65: too many years: at most 64 in all calendar files");
        assert_int_equal(evd_calendar_add_text(cal, "mem", text, len - strlen("year 2064\n"), &err),
                         0);
        assert_int_equal(evd_calendar_years(cal, NULL, 0), 64);
        assert_true(evd_calendar_covers(cal, 2063));
        assert_false(evd_calendar_covers(cal, 2064));
        /* ... and the 65th year in another file is refused too. */
        assert_int_equal(evd_calendar_add_text(cal, "more", "year 2100\n", 10, &err), -EINVAL);
        assert_string_equal(err.text, "more:1: too many years: at most 64 in all calendar files");
        evd_calendar_free(cal);

        /* A file of exactly EVD_CALENDAR_FILE_MAX bytes loads; one byte more does not. */
        len = (size_t)snprintf(text, EVD_CALENDAR_FILE_MAX, "year 2026\n");
        while (len < EVD_CALENDAR_FILE_MAX) {
                size_t n = EVD_CALENDAR_FILE_MAX - len > 200 ? 200 : EVD_CALENDAR_FILE_MAX - len;

                memset(text + len, '#', n - 1);
                text[len + n - 1] = '\n';
                len += n;
        }
        assert_int_equal(evd_calendar_new(&cal), 0);
        assert_int_equal(evd_calendar_add_text(cal, "mem", text, len, &err), 0);
        text[len] = '\n';
        assert_int_equal(evd_calendar_add_text(cal, "mem2", text, len + 1, &err), -EFBIG);
        assert_string_equal(err.text, "mem2: larger than 65536 bytes, too big for a calendar");
        evd_calendar_free(cal);
        {
                char path[256];
                const char *paths[1] = { path };

                write_file("big.txt", text, len + 1, path);
                assert_int_equal(evd_calendar_load(paths, 1, &cal, &err), -EFBIG);
                assert_non_null(strstr(err.text, "big.txt: larger than 65536 bytes"));
                write_file("max.txt", text, len, path);
                cal = NULL;
                assert_int_equal(evd_calendar_load(paths, 1, &cal, &err), 0);
                assert_true(evd_calendar_covers(cal, 2026));
                evd_calendar_free(cal);
        }
        free(text);
}

static void test_file_errors(void **state)
{
        struct evd_calendar *cal = NULL;
        struct evd_err err = { 0 };
        char path[256];
        const char *paths[1] = { path };

        (void)state;
        assert_int_equal(evd_snprintf(path, sizeof(path), "%s/missing.txt", tmpdir), 0);
        assert_int_equal(evd_calendar_load(paths, 1, &cal, &err), -ENOENT);
        assert_null(cal);
        assert_non_null(strstr(err.text, "missing.txt: No such file or directory"));

        assert_int_equal(evd_snprintf(path, sizeof(path), "%s", tmpdir), 0);
        assert_int_equal(evd_calendar_load(paths, 1, &cal, &err), -EINVAL);
        assert_non_null(strstr(err.text, ": not a regular file"));

        /* A FIFO is refused at once, without waiting for a writer. */
        assert_int_equal(evd_snprintf(path, sizeof(path), "%s/fifo", tmpdir), 0);
        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(evd_calendar_load(paths, 1, &cal, &err), -EINVAL);
        assert_non_null(strstr(err.text, "fifo: not a regular file"));
        assert_null(cal);

        assert_int_equal(evd_calendar_new(&cal), 0);
        assert_int_equal(evd_calendar_add_text(cal, "mem", NULL, 5, &err), -EINVAL);
        assert_int_equal(evd_calendar_add_text(cal, "mem", NULL, 0, &err), -EINVAL);
        assert_string_equal(err.text, "mem: declares no year (a calendar file needs a 'year "
                                      "YYYY' line before its days)");
        assert_int_equal(evd_calendar_add_file(cal, NULL, &err), -EINVAL);
        evd_calendar_free(cal);
}

/* Two files may not both declare a year; the message points at both. */
static void test_duplicate_year_across_files(void **state)
{
        static const char a[] = "year 2026\nholiday 2026-10-01 a\n";
        static const char b[] = "# second\nyear 2027\nyear 2026\n";
        struct evd_calendar *cal = NULL;
        struct evd_err err = { 0 };
        char pa[256], pb[256], want[600];
        const char *paths[2] = { pa, pb };

        (void)state;
        write_file("a.txt", a, sizeof(a) - 1, pa);
        write_file("b.txt", b, sizeof(b) - 1, pb);
        assert_int_equal(evd_calendar_load(paths, 2, &cal, &err), -EINVAL);
        assert_null(cal);
        assert_int_equal(evd_snprintf(want, sizeof(want),
                                      "%s:3: year 2026 is already declared at %s:1 (one file "
                                      "per year)",
                                      pb, pa),
                         0);
        assert_string_equal(err.text, want);
        /* The shipped file and a copy of it, too. */
        paths[0] = SHIPPED;
        paths[1] = SHIPPED;
        assert_int_equal(evd_calendar_load(paths, 2, &cal, &err), -EINVAL);
        assert_non_null(strstr(err.text, "year 2026 is already declared at " SHIPPED ":"));
}

/* A refused file leaves the calendar exactly as it was. */
static void test_failed_add_keeps_calendar(void **state)
{
        static const char bad[] = "year 2027\nyear 2028\nholiday 2027-01-01 元旦\nbogus\n";
        struct evd_calendar *cal = load_shipped();
        struct evd_err err = { 0 };
        int years[4];

        (void)state;
        assert_int_equal(evd_calendar_add_text(cal, "bad", bad, sizeof(bad) - 1, &err), -EINVAL);
        assert_string_equal(err.text, "bad:4: unknown statement 'bogus' (expected 'year', "
                                      "'holiday' or 'workday')");
        assert_int_equal(evd_calendar_years(cal, years, 4), 1);
        assert_false(evd_calendar_covers(cal, 2027));
        assert_false(evd_calendar_covers(cal, 2028));
        check_day(cal, "2027-01-01", true, false,
                  "weekday (no calendar for 2027: Monday-Friday assumed)");
        check_day(cal, "2026-10-01", false, true, "holiday: 国庆节");
        evd_calendar_free(cal);
}

/* What a hand-edited file may look like: BOM, CRLF, tabs, comments, names with spaces, no
 * final newline, a range across New Year, several years and files. */
static void test_good_variants(void **state)
{
        static const char y2027[] = "\xef\xbb\xbf# 2027, test data only\r\n"
                                    "year 2027\r\n"
                                    "\tholiday\t2027-01-01\t New Year's Day  # 元旦\r\n"
                                    "   \r\n"
                                    "workday 2027-01-02..2027-01-03 two days worked\r\n"
                                    "holiday 2027-12-31 跨年\n"
                                    "year 2028\n"
                                    "holiday 2028-01-01..2028-01-02 跨年";
        static const char across[] = "year 2031\nyear 2030\nholiday 2030-12-31..2031-01-02 跨年\n";
        struct evd_calendar *cal = NULL;
        struct evd_err err = { 0 };
        char path[256];
        const char *paths[2] = { path, SHIPPED };
        int years[8];
        int64_t deadline;
        bool known;

        (void)state;
        write_file("cn-2027.txt", y2027, sizeof(y2027) - 1, path);
        if (evd_calendar_load(paths, 2, &cal, &err) < 0)
                fail_msg("%s", err.text);
        assert_int_equal(evd_calendar_years(cal, years, 8), 3);
        assert_int_equal(years[0], 2026);
        assert_int_equal(years[1], 2027);
        assert_int_equal(years[2], 2028);
        assert_int_equal(evd_calendar_years(cal, years, 1), 3);
        check_day(cal, "2027-01-01", false, true, "holiday: New Year's Day");
        check_day(cal, "2027-01-02", true, true, "adjusted workday: two days worked");
        check_day(cal, "2027-01-03", true, true, "adjusted workday: two days worked");
        check_day(cal, "2027-01-04", true, true, "weekday");
        check_day(cal, "2027-12-31", false, true, "holiday: 跨年");
        check_day(cal, "2028-01-02", false, true, "holiday: 跨年");
        check_day(cal, "2028-01-03", true, true, "weekday");
        check_day(cal, "2026-10-01", false, true, "holiday: 国庆节");

        /* With 2027 loaded, the deadline across New Year is known. Dec 30 2026: Dec 31
         * (1), Jan 1 rest, Jan 2 Saturday worked (2). */
        assert_int_equal(
                evd_calendar_deadline(cal, at("2026-12-30T10:00:00+08:00"), 2, &deadline, &known),
                0);
        assert_int_equal(deadline, at("2027-01-02T23:59:59+08:00"));
        assert_true(known);
        /* Dec 30 2027 (Thu): Dec 31 rest, Jan 1-2 2028 rest, Mon Jan 3 (1), Jan 4 (2). */
        assert_int_equal(
                evd_calendar_deadline(cal, at("2027-12-30T10:00:00+08:00"), 2, &deadline, &known),
                0);
        assert_int_equal(deadline, at("2028-01-04T23:59:59+08:00"));
        assert_true(known);
        evd_calendar_free(cal);

        /* A range across New Year inside one file, both years declared. */
        assert_int_equal(evd_calendar_new(&cal), 0);
        assert_int_equal(evd_calendar_add_text(cal, "x", across, strlen(across), &err), 0);
        check_day(cal, "2030-12-31", false, true, "holiday: 跨年");
        check_day(cal, "2031-01-02", false, true, "holiday: 跨年");
        assert_int_equal(evd_calendar_years(cal, years, 8), 2);
        assert_int_equal(years[0], 2030);
        evd_calendar_free(cal);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_date),
                cmocka_unit_test(test_empty_calendar),
                cmocka_unit_test(test_shipped_every_day_2024),
                cmocka_unit_test(test_shipped_every_day_2025),
                cmocka_unit_test(test_shipped_every_day_2026),
                cmocka_unit_test(test_shipped_years_together),
                cmocka_unit_test(test_shipped_weekend_kinds),
                cmocka_unit_test(test_deadline_national_day),
                cmocka_unit_test(test_deadline_spring_festival),
                cmocka_unit_test(test_deadline_year_boundary),
                cmocka_unit_test(test_deadline_local_day),
                cmocka_unit_test(test_deadline_outside_year),
                cmocka_unit_test(test_deadline_bad_args),
                cmocka_unit_test(test_deadline_dst_zone),
                cmocka_unit_test(test_bad_lines),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_file_errors),
                cmocka_unit_test(test_duplicate_year_across_files),
                cmocka_unit_test(test_failed_add_keeps_calendar),
                cmocka_unit_test(test_good_variants),
        };

        if (setenv("TZ", "Asia/Shanghai", 1) != 0)
                return 1;
        tzset();
        return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
