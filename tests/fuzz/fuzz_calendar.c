/* libFuzzer target: the calendar file parser, and queries on whatever it accepts.
 *
 * Build and run (from the repository root):
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *         -fno-sanitize-recover=all -Ilib -o build/fuzz_calendar tests/fuzz/fuzz_calendar.c \
 *         lib/calendar.c lib/err.c lib/util.c lib/name.c -lcrypto
 *   mkdir -p build/fuzz-calendar-corpus && cp config/calendar/cn-2026.txt
 * build/fuzz-calendar-corpus/
 *   build/fuzz_calendar -max_total_time=20 -dict=tests/fuzz/calendar.dict \
 *         build/fuzz-calendar-corpus
 *
 * Besides memory errors it checks: a refusal names the file and a line, is valid UTF-8
 * and leaves the calendar empty; an accepted file answers every day of its first year as
 * known, and a deadline lands on the last second of a working day after the recording. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "name.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        if (setenv("TZ", "Asia/Shanghai", 1) != 0)
                abort();
        tzset();
        return 0;
}

static void check(bool ok, const char *what)
{
        if (!ok) {
                fprintf(stderr, "fuzz_calendar: %s\n", what);
                abort();
        }
}

/* A date string made of the first bytes: parse_date must accept only what it would
 * print back the same way. */
static void fuzz_date(const uint8_t *data, size_t size)
{
        char s[16], back[16];
        size_t n = size < 12 ? size : 12;
        int y, m, d;

        memcpy(s, data, n);
        s[n] = '\0';
        if (evd_calendar_parse_date(s, &y, &m, &d) < 0)
                return;
        (void)snprintf(back, sizeof(back), "%04d-%02d-%02d", y, m, d);
        check(strcmp(s, back) == 0, "parse_date accepted a non-canonical date");
}

static void query(const struct evd_calendar *cal, const uint8_t *data, size_t size)
{
        struct evd_calendar_day day;
        int years[EVD_CALENDAR_YEARS_MAX], n_years, year;
        uint32_t seed = 0;
        struct tm tm = { 0 };
        int64_t deadline;
        time_t recorded;
        bool known;

        n_years = evd_calendar_years(cal, years, EVD_CALENDAR_YEARS_MAX);
        check(n_years >= 1 && n_years <= EVD_CALENDAR_YEARS_MAX, "years out of bounds");
        for (int i = 1; i < n_years; i++)
                check(years[i - 1] < years[i], "years not ascending");
        year = years[0];
        for (int m = 1; m <= 12; m++)
                for (int d = 1; d <= 31; d++) {
                        int r = evd_calendar_day(cal, year, m, d, &day);

                        if (r < 0)
                                continue; /* 31 April and the like */
                        check(day.known, "a day of a declared year is not known");
                        check(evd_name_is_utf8(day.reason, strlen(day.reason)),
                              "reason is not UTF-8");
                        check(day.working_day ? strncmp(day.reason, "weekday", 7) == 0 ||
                                                        strncmp(day.reason, "adjusted", 8) == 0
                                              : strncmp(day.reason, "weekend", 7) == 0 ||
                                                        strncmp(day.reason, "holiday", 7) == 0,
                              "reason disagrees with working_day");
                }

        /* One deadline, from a day of the first year picked by the input. */
        for (size_t i = 0; i < size; i++)
                seed = seed * 31 + data[i];
        tm.tm_year = year - 1900;
        tm.tm_mon = (int)(seed % 12);
        tm.tm_mday = 1 + (int)(seed / 12 % 28);
        tm.tm_hour = (int)(seed / 336 % 24);
        tm.tm_isdst = -1;
        recorded = mktime(&tm);
        if (evd_calendar_deadline(cal, recorded, 1 + (int)(seed % 5), &deadline, &known) == 0) {
                time_t t = (time_t)deadline;
                struct tm end;

                check(deadline > (int64_t)recorded, "deadline before the recording");
                check(localtime_r(&t, &end) != NULL, "deadline not a time");
                check(end.tm_hour == 23 && end.tm_min == 59 && end.tm_sec == 59,
                      "deadline is not the end of a day");
                check(evd_calendar_day(cal, end.tm_year + 1900, end.tm_mon + 1, end.tm_mday,
                                       &day) == 0 &&
                              day.working_day,
                      "deadline day is not a working day");
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct evd_calendar *cal;
        struct evd_err err = { 0 };
        int r;

        fuzz_date(data, size);
        if (evd_calendar_new(&cal) < 0)
                abort();
        r = evd_calendar_add_text(cal, "fuzz", (const char *)data, size, &err);
        if (r < 0) {
                check(err.code == r, "error code differs from the return");
                check(strncmp(err.text, "fuzz:", 5) == 0, "error does not name the file");
                check(evd_name_is_utf8(err.text, strlen(err.text)), "error is not UTF-8");
                check(evd_calendar_years(cal, NULL, 0) == 0, "refused file left years behind");
        } else {
                query(cal, data, size);
        }
        evd_calendar_free(cal);
        return 0;
}
