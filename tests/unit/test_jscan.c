/* jscan: the raw field reader against jansson on the same text. Whatever jscan calls
 * valid, jansson must read; whatever it reads (a field, an integer, a canonical
 * encoding), jansson must read the same; hostile text (truncated, escaped quotes, keys
 * inside strings, huge numbers, "\u0000", bad UTF-8, duplicates, deep nesting) is
 * either read right or left to jansson ("unsure"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"

#define FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII | JSON_ENCODE_ANY)

static struct evd_jscan_span span(const char *s)
{
        return (struct evd_jscan_span){ s, strlen(s) };
}

/* The property every text must keep: jscan's answers are jansson's, or unsure. */
static void agrees(const char *text, size_t n)
{
        static const char *const keys[] = { "hold", "id", "labels", "retain_until" };
        struct evd_jscan_span f[4];
        json_t *j = json_loadb(text, n, 0, NULL);
        char canon[4096];
        size_t len;

        struct evd_jscan_span g[4];

        if (evd_jscan_valid_fields(text, n, keys, 4, g) == 0 && text[0] == '{') {
                /* one pass: as evd_jscan_valid then evd_jscan_fields (a span: no blanks before) */
                assert_int_equal(evd_jscan_valid(text, n), 0);
                assert_int_equal(evd_jscan_fields((struct evd_jscan_span){ text, n }, keys, 4, f),
                                 0);
                assert_memory_equal(f, g, sizeof(f));
        }
        if (evd_jscan_valid(text, n) != 0) {
                json_decref(j);
                return;
        }
        assert_non_null(j); /* valid for jscan: jansson reads it */
        if (evd_jscan_canonical((struct evd_jscan_span){ text, n }, canon, sizeof(canon), &len) ==
            0) {
                char *want = json_dumps(j, FLAGS);

                assert_non_null(want);
                assert_int_equal(len, strlen(want));
                assert_memory_equal(canon, want, len);
                free(want);
        }
        if (json_is_object(j) &&
            evd_jscan_fields((struct evd_jscan_span){ text, n }, keys, 4, f) == 0) {
                for (size_t i = 0; i < 4; i++) {
                        json_t *v = json_object_get(j, keys[i]);
                        int64_t x;
                        char s[256];
                        int r;

                        assert_true(!v == !f[i].p);
                        if (!v)
                                continue;
                        assert_int_equal(evd_jscan_is_true(f[i]), json_is_true(v));
                        assert_int_equal(evd_jscan_is_null(f[i]), json_is_null(v));
                        assert_int_equal(evd_jscan_int(f[i], &x) == 0, json_is_integer(v));
                        if (json_is_integer(v))
                                assert_true(x == json_integer_value(v));
                        r = evd_jscan_string(f[i], s, sizeof(s));
                        assert_int_equal(r != -EINVAL, json_is_string(v));
                        if (r == 0)
                                assert_string_equal(s, json_string_value(v));
                }
        }
        json_decref(j);
}

static void agrees_s(const char *text)
{
        agrees(text, strlen(text));
}

static void valid(const char *text, bool want)
{
        assert_int_equal(evd_jscan_valid(text, strlen(text)), want ? 0 : EVD_JSCAN_UNSURE);
        agrees_s(text);
}

static void hostile_text(void **state)
{
        char deep[200] = "", *p = deep;

        (void)state;
        valid("{}", true);
        valid("[]", true);
        valid(" { \"a\" : [ 1 , true , null , \"x\" ] } ", true);
        valid("{\"d\":300.0,\"e\":-0.5}", true);
        /* truncated */
        valid("{\"a\":\"b", false);
        valid("{\"a\":", false);
        valid("{\"a\"", false);
        valid("{\"a\":1,", false);
        valid("[1,2", false);
        valid("{\"a\":tru}", false);
        valid("{\"a\":\"\\u12\"}", false);
        valid("{\"a\":\"\\", false);
        /* not one object */
        valid("\"s\"", false);
        valid("12", false);
        valid("{}{}", false);
        valid("{}x", false);
        valid("{\"a\":1,}", false);
        valid("[1,]", false);
        valid("{\"a\" 1}", false);
        valid("{'a':1}", false);
        /* numbers: huge, reals jansson may refuse, leading zeros */
        valid("{\"id\":9223372036854775807}", true);
        valid("{\"id\":-9223372036854775808}", true);
        valid("{\"id\":9223372036854775808}", false);
        valid("{\"id\":-9223372036854775809}", false);
        valid("{\"id\":99999999999999999999999999999999}", false);
        valid("{\"id\":1e999}", false);
        valid("{\"id\":1e2}", false);
        valid("{\"id\":1.}", false);
        valid("{\"id\":.5}", false);
        valid("{\"id\":01}", false);
        valid("{\"id\":-}", false);
        valid("{\"id\":-0}", true);
        valid("{\"id\":1234567890123456789012345.5}", true);
        valid("{\"id\":12345678901234567890123456789012345.5}", false);
        /* strings jansson refuses, or reads otherwise */
        valid("{\"a\":\"\\u0000\"}", false);
        valid("{\"a\":\"\\uD800\"}", false);
        valid("{\"a\":\"\\uDC00\\uD800\"}", false);
        valid("{\"a\":\"\\uD83D\\uDE00\"}", true);
        valid("{\"a\":\"\\x41\"}", false);
        valid("{\"a\":\"tab\there\"}", false);
        valid("{\"a\":\"\xff\"}", false);
        valid("{\"a\":\"\xc0\xaf\"}", false);     /* overlong */
        valid("{\"a\":\"\xed\xa0\x80\"}", false); /* a surrogate in UTF-8 */
        valid("{\"a\":\"\xf4\x90\x80\x80\"}", false);
        valid("{\"a\":\"\xe8\xa7\"}", false); /* cut short */
        valid("{\"a\":\"视频\"}", true);
        assert_int_equal(evd_jscan_valid("{\"a\":\"x\0y\"}", 11), EVD_JSCAN_UNSURE);
        assert_int_equal(evd_jscan_valid("{\"a\":1}\0", 8), EVD_JSCAN_UNSURE);
        /* nesting past the limit */
        for (int i = 0; i < EVD_JSCAN_DEPTH + 2; i++)
                *p++ = '[';
        for (int i = 0; i < EVD_JSCAN_DEPTH + 2; i++)
                *p++ = ']';
        valid(deep, false);
}

static void fields(void **state)
{
        static const char *const keys[] = { "hold", "id" };
        struct evd_jscan_span f[2];
        char s[16];
        int64_t id;

        (void)state;
        /* keys inside strings and nested objects are not the object's own */
        assert_int_equal(evd_jscan_fields(span("{\"note\":\"\\\"hold\\\":true,\\\"id\\\":9\","
                                               "\"x\":{\"hold\":true},\"id\":7}"),
                                          keys, 2, f),
                         0);
        assert_null(f[0].p);
        assert_int_equal(evd_jscan_int(f[1], &id), 0);
        assert_int_equal(id, 7);
        agrees_s("{\"note\":\"\\\"hold\\\":true,\\\"id\\\":9\",\"x\":{\"hold\":true},\"id\":7}");
        /* an escaped quote, a backslash before the closing quote */
        assert_int_equal(evd_jscan_fields(span("{\"a\":\"\\\\\",\"hold\":\"say \\\"true\\\"\"}"),
                                          keys, 2, f),
                         0);
        assert_false(evd_jscan_is_true(f[0]));
        assert_int_equal(evd_jscan_string(f[0], s, sizeof(s)), EVD_JSCAN_UNSURE);
        /* a key twice (jansson keeps the last), a key written with escapes: unsure */
        assert_int_equal(evd_jscan_fields(span("{\"hold\":true,\"hold\":false}"), keys, 2, f),
                         EVD_JSCAN_UNSURE);
        assert_int_equal(evd_jscan_fields(span("{\"ho\\u006cd\":false,\"hold\":true}"), keys, 2, f),
                         EVD_JSCAN_UNSURE);
        /* a key twice that is not wanted is no matter */
        assert_int_equal(evd_jscan_fields(span("{\"x\":1,\"x\":2,\"id\":3}"), keys, 2, f), 0);
        assert_int_equal(evd_jscan_fields(span("[1]"), keys, 2, f), EVD_JSCAN_UNSURE);
        /* values of other kinds */
        assert_int_equal(evd_jscan_fields(span("{\"hold\":\"true\",\"id\":1.0}"), keys, 2, f), 0);
        assert_false(evd_jscan_is_true(f[0]));
        assert_int_equal(evd_jscan_int(f[1], &id), -EINVAL);
        assert_int_equal(evd_jscan_string(f[0], s, sizeof(s)), 0);
        assert_string_equal(s, "true");
        assert_int_equal(evd_jscan_string(span("\"a string too long\""), s, sizeof(s)),
                         EVD_JSCAN_UNSURE);
        assert_int_equal(evd_jscan_string(span("17"), s, sizeof(s)), -EINVAL);
}

static void canonical(void **state)
{
        char out[64];
        size_t len;

        (void)state;
        /* Python's json.dumps writes lower-case escapes; jansson upper-case */
        assert_int_equal(evd_jscan_canonical(span("{\"p\":\"\\u5f53\",\"c\":\"X\xe7\xbd\x9a\"}"),
                                             out, sizeof(out), &len),
                         0);
        assert_int_equal(len, strlen("{\"c\":\"X\\u7F5A\",\"p\":\"\\u5F53\"}"));
        assert_memory_equal(out, "{\"c\":\"X\\u7F5A\",\"p\":\"\\u5F53\"}", len);
        agrees_s("{\"p\":\"\\u5f53\",\"c\":\"X\xe7\xbd\x9a\",\"s\":\"\\/\\b\\u0001\\u007f\x7f\"}");
        agrees_s("{\"b\":[{\"z\":1,\"a\":[]},\"\xf0\x9f\x98\x80\"],\"a\":{}}");
        /* reals, a key twice, keys with escapes, too long: unsure */
        assert_int_equal(evd_jscan_canonical(span("{\"a\":1.5}"), out, sizeof(out), &len),
                         EVD_JSCAN_UNSURE);
        assert_int_equal(evd_jscan_canonical(span("{\"a\":1,\"a\":2}"), out, sizeof(out), &len),
                         EVD_JSCAN_UNSURE);
        assert_int_equal(evd_jscan_canonical(span("{\"\\u0061\":1}"), out, sizeof(out), &len),
                         EVD_JSCAN_UNSURE);
        assert_int_equal(evd_jscan_canonical(span("[\"0123456789012345678901234567890123456789"
                                                  "0123456789012345678901234567890123456789\"]"),
                                             out, sizeof(out), &len),
                         EVD_JSCAN_UNSURE);
        assert_int_equal(evd_jscan_canonical(span("null"), out, sizeof(out), &len), 0);
        assert_memory_equal(out, "null", 4);
}

/* Random strings and mutations of a real entry: the property holds on each. */
static void against_jansson(void **state)
{
        static const char entry[] =
                "{\"actor\":{\"name\":\"clerk\",\"uid\":1000},\"details\":{\"hold\":true,\"id\":1,"
                "\"labels\":{\"case_no\":\"X\\u7F5A\\u30142025\\u3015465\\u53F7\",\"party\":"
                "\"\\u5F53\"},\"retain_until\":\"2025-09-18T12:23:09Z\"},\"event\":\"item.stored\","
                "\"hold\":false,\"id\":12,\"labels\":{\"b\":\"\\\"q\\\"\",\"a\":[1,-2,null]},"
                "\"retain_until\":null,\"seq\":1}";
        static const char alphabet[] = "{}[]\":,\\u0aAfFeE.-+ tnlrsx\xe7\xbd\x9a\xff";
        char buf[sizeof(entry) + 8];

        (void)state;
        srand(16);
        agrees(entry, sizeof(entry) - 1);
        for (size_t n = 0; n < sizeof(entry) - 1; n++) /* every truncation */
                agrees(entry, n);
        for (int i = 0; i < 200000; i++) {
                size_t n = sizeof(entry) - 1;

                memcpy(buf, entry, n);
                for (int k = 1 + rand() % 3; k > 0; k--)
                        buf[(size_t)rand() % n] = alphabet[(size_t)rand() % (sizeof(alphabet) - 1)];
                agrees(buf, n);
        }
        for (int i = 0; i < 20000; i++) { /* strings jansson writes, read back */
                char s[24];
                json_t *j;
                char *text;
                size_t len = (size_t)rand() % sizeof(s);

                for (size_t k = 0; k < len; k++)
                        s[k] = (char)(1 + rand() % 255);
                j = json_pack("{s s%}", "k", s, len);
                if (!j)
                        continue; /* not UTF-8 */
                text = json_dumps(j, rand() % 2 ? JSON_COMPACT : JSON_COMPACT | JSON_ENSURE_ASCII);
                assert_int_equal(evd_jscan_valid(text, strlen(text)), 0);
                agrees_s(text);
                free(text);
                json_decref(j);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(hostile_text),
                cmocka_unit_test(fields),
                cmocka_unit_test(canonical),
                cmocka_unit_test(against_jansson),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
