/* name and util: display escaping of hostile file names, UTF-8 checks, times, hex,
 * base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "util.h"

static void escape(const char *in, size_t len, const char *want)
{
        char out[256];

        assert_true(evd_name_escape(in, len, out, sizeof(out)) >= 0);
        assert_string_equal(out, want);
}

static void names(void **state)
{
        char small[8];

        (void)state;
        escape("plain.mp4", 9, "plain.mp4");
        escape("视频.mp4", 10, "视频.mp4");
        escape("a\nb\tc\r", 6, "a\\nb\\tc\\r");
        escape("back\\slash", 10, "back\\\\slash");
        escape("\x1b[31m", 5, "\\x1b[31m");
        escape("bad\xff\xfe", 5, "bad\\xff\\xfe");
        escape("\xc2\x85", 2, "\\xc2\\x85");          /* C1 control NEL */
        escape("\xc0\xaf", 2, "\\xc0\\xaf");          /* overlong '/' */
        escape("\xed\xa0\x80", 3, "\\xed\\xa0\\x80"); /* a surrogate */
        escape("\x7f", 1, "\\x7f");
        escape("", 0, "");
        assert_int_equal(evd_name_escape("abcdefghij", 10, small, sizeof(small)), -ENAMETOOLONG);
        assert_non_null(memchr(small, '\0', sizeof(small)));
        assert_true(evd_name_is_utf8("视频", 6));
        assert_false(evd_name_is_utf8("\xe8\xa7", 2));
        assert_false(evd_name_is_utf8("a\0b", 3));
        assert_false(evd_name_is_utf8("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
}

static void times(void **state)
{
        char buf[EVD_TIME_STR];
        int64_t t;

        (void)state;
        assert_int_equal(evd_time_parse("2026-11-20T09:15:00Z", &t), 0);
        evd_time_format(t, buf);
        assert_string_equal(buf, "2026-11-20T09:15:00Z");
        assert_int_equal(evd_time_parse("2026-11-20T17:15:00+08:00", &t), 0);
        evd_time_format(t, buf);
        assert_string_equal(buf, "2026-11-20T09:15:00Z");
        assert_int_equal(evd_time_parse("2026-11-20T09:15:00.123Z", &t), 0);
        assert_int_equal(evd_time_parse("2026-11-20", &t), 0);
        evd_time_format(t, buf);
        assert_string_equal(buf, "2026-11-20T00:00:00Z");
        assert_int_equal(evd_time_parse("2026-02-30", &t), -EINVAL);
        assert_int_equal(evd_time_parse("2026-11-20T09:15", &t), -EINVAL);
        assert_int_equal(evd_time_parse("yesterday", &t), -EINVAL);
        assert_int_equal(evd_time_parse("2026-11-20T25:00:00Z", &t), -EINVAL);
        assert_int_equal(evd_time_parse("2026-11-20T09:15:00Z ", &t), -EINVAL);
}

static void hex_and_base64(void **state)
{
        uint8_t bytes[3] = { 0x00, 0xab, 0xff }, back[3];
        char hex[7];
        uint8_t *raw;
        size_t len;
        char *b64;

        (void)state;
        evd_hex(bytes, 3, hex);
        assert_string_equal(hex, "00abff");
        assert_int_equal(evd_unhex("00ABff", back, 3), 0);
        assert_memory_equal(back, bytes, 3);
        assert_int_equal(evd_unhex("00abf", back, 3), -EINVAL);
        assert_int_equal(evd_unhex("00abfg", back, 3), -EINVAL);
        assert_true(evd_is_hex("0123456789abCDEF", 12));
        assert_false(evd_is_hex("0123456789a", 12));
        b64 = evd_b64_encode("a\n\xff", 3);
        assert_string_equal(b64, "YQr/");
        assert_int_equal(evd_b64_decode(b64, &raw, &len), 0);
        assert_int_equal(len, 3);
        assert_memory_equal(raw, "a\n\xff", 3);
        free(raw);
        free(b64);
        assert_int_equal(evd_b64_decode("YQ==", &raw, &len), 0);
        assert_int_equal(len, 1);
        free(raw);
        assert_int_equal(evd_b64_decode("Y", &raw, &len), -EINVAL);
}

/* Columns as a terminal shows them: CJK and full-width take two. */
static void display_width(void **state)
{
        static const struct {
                const char *s;
                size_t width;
        } cases[] = {
                { "", 0 },
                { "abc", 3 },
                { "张伟", 4 },
                { "DSJ-0001", 8 },
                { "X罚〔2026〕17号", 15 },
                { "ＡＢ", 4 },
                { "e\xcc\x81", 1 },
                { "\xff\xfe", 2 },
                { "한글", 4 },
                { "调阅/复制", 9 },
        };

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                if (evd_name_display_width(cases[i].s, strlen(cases[i].s)) != cases[i].width)
                        fail_msg("'%s': %zu columns, want %zu", cases[i].s,
                                 evd_name_display_width(cases[i].s, strlen(cases[i].s)),
                                 cases[i].width);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(names),
                cmocka_unit_test(times),
                cmocka_unit_test(hex_and_base64),
                cmocka_unit_test(display_width),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
