/* policy: calendar-month retention at month ends and in leap years, retention classes,
 * never decreasing, and purge eligibility. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdio.h>

#include "policy.h"
#include "util.h"

static int64_t at(const char *s)
{
        int64_t t;

        assert_int_equal(evd_time_parse(s, &t), 0);
        return t;
}

static void expect_add(const char *from, int months, int days, const char *want)
{
        struct evd_period p = { .months = months, .days = days };
        char got[EVD_TIME_STR];
        int64_t t;

        assert_int_equal(evd_policy_add_period(at(from), &p, &t), 0);
        evd_time_format(t, got);
        if (strcmp(got, want) != 0)
                fail_msg("%s + %d months %d days = %s, want %s", from, months, days, got, want);
}

static void month_ends_and_leap_years(void **state)
{
        (void)state;
        /* Local (Asia/Shanghai, UTC+8) midday, shown in UTC. */
        expect_add("2026-01-31T04:00:00Z", 3, 0, "2026-04-30T04:00:00Z");
        expect_add("2026-01-31T04:00:00Z", 1, 0, "2026-02-28T04:00:00Z");
        expect_add("2028-01-31T04:00:00Z", 1, 0, "2028-02-29T04:00:00Z");
        expect_add("2028-02-29T04:00:00Z", 12, 0, "2029-02-28T04:00:00Z");
        expect_add("2028-02-29T04:00:00Z", 48, 0, "2032-02-29T04:00:00Z");
        expect_add("2026-08-31T04:00:00Z", 6, 0, "2027-02-28T04:00:00Z");
        expect_add("2026-11-27T04:00:00Z", 3, 0, "2027-02-27T04:00:00Z");
        expect_add("2026-12-31T04:00:00Z", 2, 0, "2027-02-28T04:00:00Z");
        expect_add("2026-11-27T04:00:00Z", 0, 30, "2026-12-27T04:00:00Z");
        expect_add("2026-01-31T04:00:00Z", 1, 1, "2026-03-01T04:00:00Z");
        /* The local date decides: 23:30 on Jan 31 in Beijing is 15:30Z. */
        expect_add("2026-01-31T15:30:00Z", 1, 0, "2026-02-28T15:30:00Z");
        {
                struct evd_period perm = { .permanent = true };
                int64_t t;

                assert_int_equal(evd_policy_add_period(0, &perm, &t), -EINVAL);
        }
}

static json_t *item(const char *ingested, const char *retain, const char *case_no, bool evidence,
                    bool hold)
{
        return json_pack("{ss so s{so} sb sb}", "ingested_at", ingested, "retain_until",
                         retain ? json_string(retain) : json_null(), "labels", "case_no",
                         case_no ? json_string(case_no) : json_null(), "evidence", evidence, "hold",
                         hold);
}

static void retention_classes(void **state)
{
        struct evd_conf c;
        json_t *it;

        (void)state;
        evd_conf_defaults(&c); /* default 6 months, case 24, evidence permanent */
        it = item("2026-01-31T04:00:00Z", NULL, NULL, false, false);
        json_object_del(it, "retain_until");
        assert_int_equal(evd_policy_update_retention(it, &c), 1);
        assert_string_equal(json_string_value(json_object_get(it, "retain_until")),
                            "2026-07-31T04:00:00Z");
        assert_int_equal(evd_policy_update_retention(it, &c), 0);
        json_object_set_new(json_object_get(it, "labels"), "case_no",
                            json_string("X罚〔2026〕1号"));
        assert_int_equal(evd_policy_update_retention(it, &c), 1);
        assert_string_equal(json_string_value(json_object_get(it, "retain_until")),
                            "2028-01-31T04:00:00Z");
        /* Lower classes later: the date stays. */
        c.retention_case.months = 3;
        c.retention_default.months = 3;
        assert_int_equal(evd_policy_update_retention(it, &c), 0);
        assert_string_equal(json_string_value(json_object_get(it, "retain_until")),
                            "2028-01-31T04:00:00Z");
        /* Evidence is permanent, and permanent stays permanent. */
        json_object_set_new(it, "evidence", json_true());
        assert_int_equal(evd_policy_update_retention(it, &c), 1);
        assert_true(json_is_null(json_object_get(it, "retain_until")));
        json_object_set_new(it, "evidence", json_false());
        assert_int_equal(evd_policy_update_retention(it, &c), 0);
        assert_true(json_is_null(json_object_get(it, "retain_until")));
        json_decref(it);
}

static void purge_eligibility(void **state)
{
        struct evd_conf c;
        char buf[128];
        json_t *it;

        (void)state;
        evd_conf_defaults(&c); /* grace 30 days */
        it = item("2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z", NULL, false, false);
        assert_non_null(evd_policy_purge_blocker(it, &c, at("2026-07-15T00:00:00Z"), buf, 128));
        assert_non_null(strstr(buf, "kept until 2026-07-31"));
        assert_null(evd_policy_purge_blocker(it, &c, at("2026-08-01T00:00:00Z"), buf, 128));
        json_object_set_new(it, "hold", json_true());
        assert_string_equal(evd_policy_purge_blocker(it, &c, at("2030-01-01T00:00:00Z"), buf, 128),
                            "held");
        json_object_set_new(it, "hold", json_false());
        json_object_set_new(it, "evidence", json_true());
        assert_string_equal(evd_policy_purge_blocker(it, &c, at("2030-01-01T00:00:00Z"), buf, 128),
                            "marked as evidence");
        json_object_set_new(it, "evidence", json_false());
        json_object_set_new(it, "retain_until", json_null());
        assert_string_equal(evd_policy_purge_blocker(it, &c, at("2030-01-01T00:00:00Z"), buf, 128),
                            "kept permanently");
        json_object_set_new(it, "purged", json_object());
        assert_string_equal(evd_policy_purge_blocker(it, &c, at("2030-01-01T00:00:00Z"), buf, 128),
                            "purged already");
        json_decref(it);
}

/* ---- storage deadlines and the field-work exception ---- */

static struct evd_calendar *load_cal(bool with_2027)
{
        static const char y2027[] = "year 2027\nholiday 2027-01-01..2027-01-03 元旦\n";
        const char *paths[] = { "config/calendar/cn-2026.txt" };
        struct evd_calendar *cal = NULL;
        struct evd_err err = { 0 };

        assert_int_equal(evd_calendar_load(paths, 1, &cal, &err), 0);
        if (with_2027)
                assert_int_equal(evd_calendar_add_text(cal, "2027", y2027, strlen(y2027), &err), 0);
        return cal;
}

/* Local date and time in Beijing as seconds since the epoch. */
static int64_t local(const char *date, int hour)
{
        struct tm tm = { .tm_isdst = -1, .tm_hour = hour };

        assert_int_equal(sscanf(date, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday), 3);
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        return (int64_t)mktime(&tm);
}

static void expect_due(const struct evd_policy_deadline *d, const char *date, const char *rule)
{
        if (d->deadline != local(date, 23) + 3599) {
                char got[EVD_TIME_STR];

                evd_time_format(d->deadline, got);
                fail_msg("due %s, want the end of %s", got, date);
        }
        assert_string_equal(d->rule, rule);
}

static void trip_over_national_day(void **state)
{
        struct evd_calendar *cal = load_cal(false);
        struct evd_policy_trip trip = { .id = 7,
                                        .from = local("2026-09-28", 0),
                                        .until = local("2026-10-09", 23) + 3599,
                                        .returned = local("2026-10-09", 12) };
        struct evd_policy_deadline d;

        (void)state;
        /* Recorded on 30 September during the trip: 2 working days end on 9 October (the
         * holiday runs 1-7 October); the first working day after the return on 9 October
         * is Saturday 10 October, an adjusted workday. */
        assert_int_equal(evd_policy_deadline(cal, 2, local("2026-09-30", 10),
                                             local("2026-10-11", 9), false, &trip, 1, &d),
                         0);
        expect_due(&d, "2026-10-10", "1 working day after return, trip 7");
        assert_int_equal(d.trip, 7);
        assert_true(d.known);
        /* Without the trip, or recorded outside it: 2 working days. */
        assert_int_equal(
                evd_policy_deadline(cal, 2, local("2026-09-30", 10), 0, false, NULL, 0, &d), 0);
        expect_due(&d, "2026-10-09", "2 working days");
        assert_int_equal(d.trip, 0);
        assert_int_equal(
                evd_policy_deadline(cal, 2, local("2026-09-25", 10), 0, false, &trip, 1, &d), 0);
        expect_due(&d, "2026-09-29", "2 working days");
        /* A trip whose return comes before the 2-working-day deadline moves nothing. */
        trip.returned = local("2026-09-30", 12);
        trip.until = local("2026-09-30", 23) + 3599;
        assert_int_equal(
                evd_policy_deadline(cal, 2, local("2026-09-30", 10), 0, false, &trip, 1, &d), 0);
        expect_due(&d, "2026-10-09", "2 working days");
        /* A suspect clock: counted from the docking day, trips aside. */
        assert_int_equal(evd_policy_deadline(cal, 2, local("2026-09-30", 10),
                                             local("2026-10-12", 9), true, &trip, 1, &d),
                         0);
        expect_due(&d, "2026-10-14", "2 working days from docking (clock suspect)");
        evd_calendar_free(cal);
}

static void trip_at_year_end(void **state)
{
        struct evd_policy_trip trip = { .id = 3,
                                        .from = local("2026-12-28", 0),
                                        .until = local("2026-12-31", 23) + 3599,
                                        .returned = local("2026-12-31", 12) };
        struct evd_policy_deadline d;
        struct evd_calendar *cal = load_cal(false);

        (void)state;
        /* No 2027 calendar: Friday 1 January is taken as a working day, and said so. */
        assert_int_equal(
                evd_policy_deadline(cal, 2, local("2026-12-28", 10), 0, false, &trip, 1, &d), 0);
        expect_due(&d, "2027-01-01", "1 working day after return, trip 3");
        assert_false(d.known);
        evd_calendar_free(cal);
        /* With it: New Year's Day is a holiday, the next working day Monday 4 January. */
        cal = load_cal(true);
        assert_int_equal(
                evd_policy_deadline(cal, 2, local("2026-12-28", 10), 0, false, &trip, 1, &d), 0);
        expect_due(&d, "2027-01-04", "1 working day after return, trip 3");
        assert_true(d.known);
        /* Recorded on 30 December: 2 working days end on 4 January too, so the trip
         * does not move it and the 2-day rule is named. */
        assert_int_equal(
                evd_policy_deadline(cal, 2, local("2026-12-30", 10), 0, false, &trip, 1, &d), 0);
        expect_due(&d, "2027-01-04", "2 working days");
        evd_calendar_free(cal);
}

static void deadline_fields(void **state)
{
        json_t *it = json_pack("{ss ss}", "ingested_at", "2026-10-10T08:00:00Z", "labelled_at",
                               "2026-10-12T08:00:00Z");
        struct evd_policy_deadline d = { .deadline = local("2026-10-09", 23) + 3599,
                                         .known = true,
                                         .rule = "2 working days" };

        (void)state;
        assert_int_equal(evd_policy_set_deadline(it, &d), 1);
        assert_true(json_is_true(json_object_get(it, "late")));
        assert_true(json_is_true(json_object_get(it, "label_late")));
        assert_int_equal(evd_policy_set_deadline(it, &d), 0);
        d.deadline = local("2026-10-12", 23) + 3599;
        (void)snprintf(d.rule, sizeof(d.rule), "1 working day after return, trip 1");
        assert_int_equal(evd_policy_set_deadline(it, &d), 1);
        assert_true(json_is_false(json_object_get(it, "late")));
        assert_true(json_is_false(json_object_get(it, "label_late")));
        assert_string_equal(json_string_value(json_object_get(it, "deadline_rule")),
                            "1 working day after return, trip 1");
        json_decref(it);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(month_ends_and_leap_years),
                cmocka_unit_test(retention_classes),
                cmocka_unit_test(purge_eligibility),
                cmocka_unit_test(trip_over_national_day),
                cmocka_unit_test(trip_at_year_end),
                cmocka_unit_test(deadline_fields),
        };

        (void)setenv("TZ", "Asia/Shanghai", 1);
        tzset();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
