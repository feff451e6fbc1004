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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(month_ends_and_leap_years),
                cmocka_unit_test(retention_classes),
                cmocka_unit_test(purge_eligibility),
        };

        (void)setenv("TZ", "Asia/Shanghai", 1);
        tzset();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
