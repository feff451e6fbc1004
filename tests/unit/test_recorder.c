/* recorder: who held a recorder when. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "recorder.h"
#include "util.h"

static int64_t at(const char *s)
{
        int64_t t;

        assert_int_equal(evd_time_parse(s, &t), 0);
        return t;
}

static const char *holder(const json_t *rec, const char *when)
{
        const json_t *a = evd_recorder_assignment_at(rec, at(when));

        return a ? json_string_value(json_object_get(a, "handler_name")) : NULL;
}

static void assignments(void **state)
{
        json_t *rec = json_pack("{ss s[]}", "serial", "BWC-1", "assignments");

        (void)state;
        assert_null(evd_recorder_assignment_at(rec, at("2026-01-01")));
        assert_int_equal(evd_recorder_add_assignment(rec, "2", "王五", at("2026-06-01")), 0);
        assert_int_equal(evd_recorder_add_assignment(rec, "1", "李四", at("2026-01-01")), 0);
        assert_int_equal(evd_recorder_add_assignment(rec, "3", "赵六", at("2026-09-01")), 0);
        /* Kept in order of "since", whatever order they were entered in. */
        assert_string_equal(holder(rec, "2025-06-01"), "李四"); /* the first covers before */
        assert_string_equal(holder(rec, "2026-01-01"), "李四");
        assert_string_equal(holder(rec, "2026-05-31T23:59:59Z"), "李四");
        assert_string_equal(holder(rec, "2026-06-01"), "王五");
        assert_string_equal(holder(rec, "2026-08-31"), "王五");
        assert_string_equal(holder(rec, "2027-01-01"), "赵六");
        assert_int_equal(json_array_size(json_object_get(rec, "assignments")), 3);
        json_decref(rec);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(assignments),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
