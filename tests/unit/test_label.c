/* label: case numbers as written on decisions, free text checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "label.h"

static void case_numbers(void **state)
{
        static const char *const good[] = {
                "X罚〔2026〕17号",
                "京公（朝）行罚决字〔2026〕123号",
                "(2026)京0105刑初123号",
                "沪市监处〔2026〕3100002号",
                "A[2026]1号",
        };
        static const char *const bad[] = {
                "17", "X罚2026-17",        "〔2026〕号",        "X罚〔26〕17号", "X罚〔2026〕17",
                "",   "X罚〔2026〕17号\n", "X罚\t〔2026〕17号",
        };
        struct evd_conf c;
        struct evd_err err = { 0 };

        (void)state;
        evd_conf_defaults(&c);
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                if (evd_label_check_case(&c, good[i], &err) != 0)
                        fail_msg("refused %s: %s", good[i], err.text);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (evd_label_check_case(&c, bad[i], &err) != -EINVAL)
                        fail_msg("accepted '%s'", bad[i]);
        /* A station may set its own pattern. */
        (void)snprintf(c.case_pattern, sizeof(c.case_pattern), "^CASE-[0-9]+$");
        assert_int_equal(evd_label_check_case(&c, "CASE-42", &err), 0);
        assert_int_equal(evd_label_check_case(&c, "X罚〔2026〕17号", &err), -EINVAL);
        assert_non_null(strstr(err.text, "does not look like one"));
}

/* One case, one spelling: the ways a tired clerk types a case number all come out as
 * the form official documents use. */
static void case_numbers_normalised(void **state)
{
        static const struct {
                const char *typed, *canonical;
        } cases[] = {
                { "硚人社罚〔2026〕17号", "硚人社罚〔2026〕17号" },
                { "硚人社罚[2026]17号", "硚人社罚〔2026〕17号" },
                { "硚人社罚【2026】17号", "硚人社罚〔2026〕17号" },
                { "硚人社罚［2026］17号", "硚人社罚〔2026〕17号" },
                { "硚人社罚(2026)17号", "硚人社罚〔2026〕17号" },
                { "硚人社罚（2026）17号", "硚人社罚〔2026〕17号" },
                { "硚人社罚﹝2026﹞17号", "硚人社罚〔2026〕17号" },
                { "硚人社罚〔２０２６〕１７号", "硚人社罚〔2026〕17号" },
                { "  硚人社罚[2026]17号\u3000", "硚人社罚〔2026〕17号" },
                /* Brackets that do not hold a year are the clerk's own. */
                { "京公（朝）行罚决字[2026]123号", "京公（朝）行罚决字〔2026〕123号" },
        };
        struct evd_conf c;
        struct evd_err err = { 0 };
        char out[EVD_LABEL_CASE_MAX + 1];

        (void)state;
        evd_conf_defaults(&c);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                if (evd_label_normalise_case(&c, cases[i].typed, out, sizeof(out), &err) != 0)
                        fail_msg("refused '%s': %s", cases[i].typed, err.text);
                assert_string_equal(out, cases[i].canonical);
        }
        assert_int_equal(evd_label_normalise_case(&c, "   ", out, sizeof(out), &err), -EINVAL);
        assert_int_equal(evd_label_normalise_case(&c, "X罚2026-17", out, sizeof(out), &err),
                         -EINVAL);
        assert_int_equal(evd_label_normalise_case(&c, "X罚[2026]17号\n", out, sizeof(out), &err),
                         -EINVAL);
        assert_int_equal(evd_label_normalise_case(&c, "bad\xff", out, sizeof(out), &err), -EINVAL);
        assert_int_equal(evd_label_normalise_case(&c, "X罚[2026]17号", out, 8, &err),
                         -ENAMETOOLONG);
}

static void text(void **state)
{
        struct evd_err err = { 0 };
        char longer[300];

        (void)state;
        assert_int_equal(evd_label_check_text("party", "张三", 256, false, &err), 0);
        assert_int_equal(evd_label_check_text("party", "", 256, false, &err), -EINVAL);
        assert_string_equal(err.text, "party is empty");
        assert_int_equal(evd_label_check_text("party", "a\x1b[2Jb", 256, false, &err), -EINVAL);
        assert_int_equal(evd_label_check_text("note", "line one\nline two", 256, true, &err), 0);
        assert_int_equal(evd_label_check_text("party", "line one\nline two", 256, false, &err),
                         -EINVAL);
        assert_int_equal(evd_label_check_text("party", "bad\xff", 256, false, &err), -EINVAL);
        memset(longer, 'x', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = '\0';
        assert_int_equal(evd_label_check_text("party", longer, 256, false, &err), -EINVAL);
        assert_non_null(strstr(err.text, "longer than 256 bytes"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(case_numbers),
                cmocka_unit_test(case_numbers_normalised),
                cmocka_unit_test(text),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
