/* s3 and s3xml, the pure parts: key and query encoding, endpoints, error mapping, and the
 * XML scanner on real and hostile replies. The client itself is tested against a real
 * Ceph RGW in tests/e2e/test_s3.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "s3.h"
#include "s3xml.h"

static void key(const char *in, int want_r, const char *want)
{
        char out[256];

        assert_int_equal(evd_s3_encode_key(in, out, sizeof(out)), want_r);
        if (want)
                assert_string_equal(out, want);
}

static void keys(void **state)
{
        char small[6], q[64];

        (void)state;
        key("e2e/objects/ab/cd/abcdef", 0, "e2e/objects/ab/cd/abcdef");
        key("a b/ü+x", 0, "a%20b/%C3%BC%2Bx");
        key("x~y_z-1.2", 0, "x~y_z-1.2");
        key("a?b=c&d#e%", 0, "a%3Fb%3Dc%26d%23e%25");
        key("", -EINVAL, NULL);
        key("a//b", -EINVAL, NULL);
        key("/a", -EINVAL, NULL);
        key("a/", -EINVAL, NULL);
        key("a/../b", -EINVAL, NULL);
        key("./b", -EINVAL, NULL);
        key("a/.../b", 0, "a/.../b");
        assert_int_equal(evd_s3_encode_key("abcdef", small, sizeof(small)), -ENAMETOOLONG);
        assert_int_equal(evd_s3_encode_key("ü", small, 6), -ENAMETOOLONG); /* 6 + NUL */
        assert_int_equal(evd_s3_encode_query("a/b c=", q, sizeof(q)), 0);
        assert_string_equal(q, "a%2Fb%20c%3D");
}

static void endpoints(void **state)
{
        struct evd_err err;

        (void)state;
        assert_int_equal(evd_s3_endpoint_check("https://s3.example.org", &err), 0);
        assert_int_equal(evd_s3_endpoint_check("https://10.0.0.1:8443/", &err), 0);
        assert_int_equal(evd_s3_endpoint_check("http://127.0.0.1:7480", &err), 0);
        assert_int_equal(evd_s3_endpoint_check("http://127.8.9.1", &err), 0);
        assert_int_equal(evd_s3_endpoint_check("http://localhost:80", &err), 0);
        assert_int_equal(evd_s3_endpoint_check("http://[::1]:7480", &err), 0);
        assert_int_equal(evd_s3_endpoint_check("http://10.0.0.1:7480", &err), -EINVAL);
        assert_non_null(strstr(err.text, "loopback"));
        assert_int_equal(evd_s3_endpoint_check("http://127.0.0.1.evil.org", &err), -EINVAL);
        assert_int_equal(evd_s3_endpoint_check("http://localhost.evil.org", &err), -EINVAL);
        assert_int_equal(evd_s3_endpoint_check("http://user@127.0.0.1", &err), -EINVAL);
        assert_int_equal(evd_s3_endpoint_check("ftp://127.0.0.1", &err), -EINVAL);
        assert_int_equal(evd_s3_endpoint_check("https://h/bucket", &err), -EINVAL);
        assert_int_equal(evd_s3_endpoint_check("https://h:x", &err), -EINVAL);
        assert_int_equal(evd_s3_endpoint_check("https://", &err), -EINVAL);
        assert_int_equal(evd_s3_endpoint_check("https://[::1", &err), -EINVAL);
}

static void errnos(void **state)
{
        (void)state;
        assert_int_equal(evd_s3_errno(400, "BadDigest"), -EBADMSG);
        assert_int_equal(evd_s3_errno(400, "XAmzContentSHA256Mismatch"), -EBADMSG);
        assert_int_equal(evd_s3_errno(403, "AccessDenied"), -EACCES);
        assert_int_equal(evd_s3_errno(404, "NoSuchKey"), -ENOENT);
        assert_int_equal(evd_s3_errno(503, "SlowDown"), -EAGAIN);
        assert_int_equal(evd_s3_errno(500, ""), -EAGAIN);
        assert_int_equal(evd_s3_errno(400, "InvalidRequest"), -EINVAL);
        assert_int_equal(evd_s3_errno(409, "BucketNotEmpty"), -EBUSY);
}

static const char ERROR_REPLY[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>"
        "<Message>forbidden &amp; &lt;locked&gt; &#x4E2D;&#25991;</Message></Error>";

static const char LIST_REPLY[] =
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<IsTruncated>true</IsTruncated><Contents><Key>a&amp;b</Key><Size>3</Size>"
        "<ETag>&quot;x&quot;</ETag></Contents><Contents><Key>c</Key><Size>0</Size></Contents>"
        "<NextContinuationToken>t/1=</NextContinuationToken></ListBucketResult>";

static void xml(void **state)
{
        char out[64];
        const char *in;
        size_t il, pos = 0, n = 0;

        (void)state;
        assert_int_equal(evd_s3xml_text(ERROR_REPLY, strlen(ERROR_REPLY), "Code", out, 64), 0);
        assert_string_equal(out, "AccessDenied");
        assert_int_equal(evd_s3xml_text(ERROR_REPLY, strlen(ERROR_REPLY), "Message", out, 64), 0);
        assert_string_equal(out, "forbidden & <locked> 中文");
        assert_int_equal(evd_s3xml_text(ERROR_REPLY, strlen(ERROR_REPLY), "Nope", out, 64),
                         -ENOENT);
        assert_int_equal(evd_s3xml_text(ERROR_REPLY, strlen(ERROR_REPLY), "Message", out, 8),
                         -ENAMETOOLONG);
        /* a reply cut short is not read past its end */
        assert_int_equal(evd_s3xml_text(ERROR_REPLY, 60, "Code", out, 64), -ENOENT);
        while (evd_s3xml_next(LIST_REPLY, strlen(LIST_REPLY), &pos, "Contents", &in, &il)) {
                assert_int_equal(evd_s3xml_text(in, il, "Key", out, 64), 0);
                assert_string_equal(out, n == 0 ? "a&b" : "c");
                n++;
        }
        assert_int_equal(n, 2);
        assert_int_equal(evd_s3xml_text(LIST_REPLY, strlen(LIST_REPLY), "ETag", out, 64), 0);
        assert_string_equal(out, "\"x\"");
        /* namespace prefixes, attributes, empty and self-closed elements, nesting */
        const char *odd = "<s3:Status a='>'>ON</s3:Status><E></E><F/><N><N>in</N></N>";

        assert_int_equal(evd_s3xml_text(odd, strlen(odd), "Status", out, 64), 0);
        assert_string_equal(out, "ON");
        assert_int_equal(evd_s3xml_text(odd, strlen(odd), "E", out, 64), 0);
        assert_string_equal(out, "");
        assert_int_equal(evd_s3xml_text(odd, strlen(odd), "F", out, 64), 0);
        assert_int_equal(evd_s3xml_text(odd, strlen(odd), "N", out, 64), -EINVAL);
        pos = 0;
        assert_true(evd_s3xml_next(odd, strlen(odd), &pos, "N", &in, &il));
        assert_int_equal(il, strlen("<N>in</N>"));
        /* hostile references */
        const char *bad[] = { "<C>&#0;</C>",  "<C>&#xD800;</C>", "<C>&#x110000;</C>",
                              "<C>&foo;</C>", "<C>&#;</C>",      "<C>&#123456789;</C>",
                              "<C>&amp</C>" };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(evd_s3xml_text(bad[i], strlen(bad[i]), "C", out, 64), -EINVAL);
        assert_int_equal(evd_s3xml_text("<C>x", 4, "C", out, 64), -ENOENT);
        assert_int_equal(evd_s3xml_text("<C", 2, "C", out, 64), -ENOENT);
        assert_int_equal(evd_s3xml_escape("a<b>&\"'", out, 64), 0);
        assert_string_equal(out, "a&lt;b&gt;&amp;&quot;&apos;");
        assert_int_equal(evd_s3xml_escape("&&&", out, 8), -ENAMETOOLONG);
}

static void modes(void **state)
{
        enum evd_s3_mode m;

        (void)state;
        assert_int_equal(evd_s3_mode_parse("COMPLIANCE", &m), 0);
        assert_int_equal(m, EVD_S3_MODE_COMPLIANCE);
        assert_string_equal(evd_s3_mode_name(m), "COMPLIANCE");
        assert_int_equal(evd_s3_mode_parse("compliance", &m), -EINVAL);
}

struct seen {
        char text[512];
        int n;
};

static int saw(void *ud, const struct evd_s3_version *v)
{
        struct seen *s = ud;
        size_t o = strlen(s->text);

        (void)snprintf(s->text + o, sizeof(s->text) - o, "%s|%s|%s|%llu|%lld|%d%d;", v->key,
                       v->version_id, v->etag, (unsigned long long)v->size,
                       (long long)v->modified_ms, v->latest, v->delete_marker);
        return ++s->n == 99 ? 7 : 0;
}

static void versions(void **state)
{
        static const char page[] =
                "<?xml version=\"1.0\"?><ListVersionsResult xmlns=\"x\"><Name>b</Name>"
                "<IsTruncated>true</IsTruncated><NextKeyMarker>p/b</NextKeyMarker>"
                "<NextVersionIdMarker>v3</NextVersionIdMarker>"
                "<Version><Key>p/a</Key><VersionId>v2</VersionId><IsLatest>true</IsLatest>"
                "<LastModified>2026-03-01T10:00:01.250Z</LastModified><ETag>&quot;e2&quot;</ETag>"
                "<Size>5</Size></Version>"
                "<DeleteMarker><Key>p/b</Key><VersionId>m1</VersionId><IsLatest>true</IsLatest>"
                "<LastModified>2026-03-01T10:00:02Z</LastModified></DeleteMarker>"
                "<Version><Key>p/a</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest>"
                "<LastModified>2026-03-01T10:00:00.5Z</LastModified><ETag>\"e1\"</ETag>"
                "<Size>4</Size></Version></ListVersionsResult>";
        struct seen s = { "", 0 };
        int64_t ms;

        (void)state;
        assert_int_equal(evd_s3_versions_page(page, sizeof(page) - 1, saw, &s), 0);
        assert_string_equal(s.text, "p/a|v2|e2|5|1772359201250|10;"
                                    "p/a|v1|e1|4|1772359200500|00;"
                                    "p/b|m1||0|1772359202000|11;");
        /* hostile: no key, no version id, a negative size, a bad time */
        static const char *const bad[] = {
                "<Version><VersionId>v</VersionId><IsLatest>true</IsLatest><LastModified>"
                "2026-03-01T10:00:00Z</LastModified><Size>1</Size></Version>",
                "<Version><Key>k</Key><IsLatest>true</IsLatest><LastModified>"
                "2026-03-01T10:00:00Z</LastModified><Size>1</Size></Version>",
                "<Version><Key>k</Key><VersionId>v</VersionId><IsLatest>true</IsLatest>"
                "<LastModified>2026-03-01T10:00:00Z</LastModified><Size>-1</Size></Version>",
                "<Version><Key>k</Key><VersionId>v</VersionId><IsLatest>true</IsLatest>"
                "<LastModified>yesterday</LastModified><Size>1</Size></Version>",
                "<DeleteMarker><Key>k</Key><VersionId>v</VersionId></DeleteMarker>",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(evd_s3_versions_page(bad[i], strlen(bad[i]), saw, &s), -EPROTO);
        assert_int_equal(evd_s3_versions_page(NULL, 0, saw, &s), 0);
        assert_int_equal(evd_s3_time_parse_ms("2026-03-01T10:00:00Z", &ms), 0);
        assert_int_equal(ms, 1772359200000LL);
        assert_int_equal(evd_s3_time_parse_ms("2026-03-01T10:00:00.123456Z", &ms), 0);
        assert_int_equal(ms, 1772359200123LL);
        assert_int_equal(evd_s3_time_parse_ms("2026-03-01T10:00:00.Z", &ms), -EINVAL);
        assert_int_equal(evd_s3_time_parse_ms("2026-03-01T10:00:00.1", &ms), -EINVAL);
        assert_int_equal(evd_s3_time_parse_ms("2026-03-01T10:00:00.1Zx", &ms), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(keys), cmocka_unit_test(endpoints), cmocka_unit_test(errnos),
                cmocka_unit_test(xml),  cmocka_unit_test(modes),     cmocka_unit_test(versions),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
