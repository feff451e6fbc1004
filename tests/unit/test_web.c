/* web, console_pages, msg, ctlclient: escaping of hostile names, URL and form
 * decoding, cookies, the console's routes and the roles its pages need, sessions
 * (expiry, CSRF tokens, a full table), pages rendered from hostile JSON, and reply
 * lines of the control protocol. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console_pages.h"
#include "ctlclient.h"
#include "msg.h"
#include "web.h"

static char *escaped(const char *s)
{
        struct evd_buf b = { .max = 4096 };

        assert_int_equal(evd_web_text(&b, s), 0);
        return b.data ? b.data : strdup("");
}

static void escaping(void **state)
{
        char *t;

        (void)state;
        t = escaped("<img src=x onerror=alert(1)>.mp4");
        assert_string_equal(t, "&lt;img src=x onerror=alert(1)&gt;.mp4");
        free(t);
        t = escaped("a\"b'c&d");
        assert_string_equal(t, "a&quot;b&#39;c&amp;d");
        free(t);
        t = escaped("视频\x01\xff.mp4");
        assert_string_equal(t, "视频&#xFFFD;&#xFFFD;.mp4");
        free(t);
}

static void urls(void **state)
{
        struct evd_buf b = { .max = 4096 };
        char out[64];

        (void)state;
        assert_int_equal(evd_web_urldecode("a%20b+c", 7, true, out, sizeof(out)), 0);
        assert_string_equal(out, "a b c");
        assert_int_equal(evd_web_urldecode("%E8%A7%86", 9, false, out, sizeof(out)), 0);
        assert_string_equal(out, "视");
        assert_int_equal(evd_web_urldecode("%4", 2, false, out, sizeof(out)), -EINVAL);
        assert_int_equal(evd_web_urldecode("%zz", 3, false, out, sizeof(out)), -EINVAL);
        assert_int_equal(evd_web_urldecode("a%00b", 5, false, out, sizeof(out)), -EINVAL);
        assert_int_equal(evd_web_urldecode("%ff", 3, false, out, sizeof(out)), -EINVAL);
        assert_int_equal(evd_web_urldecode("abcdef", 6, false, out, 4), -ENAMETOOLONG);
        assert_int_equal(evd_web_urlencode(&b, "/a b?视"), 0);
        assert_string_equal(b.data, "%2Fa%20b%3F%E8%A7%86");
        evd_buf_free(&b);
        b.max = 4096;
        assert_int_equal(evd_web_content_disposition(&b, "X罚〔2026〕17号.iso"), 0);
        assert_non_null(strstr(b.data, "filename*=UTF-8''X%E7%BD%9A"));
        assert_null(strchr(b.data, '\n'));
        evd_buf_free(&b);
}

static void forms_and_cookies(void **state)
{
        struct evd_web_form f = { 0 };
        char big[EVD_WEB_BODY_MAX + 2], v[64];

        (void)state;
        assert_int_equal(evd_web_form_parse("item=1&item=2&case=X%E7%BD%9A&flag&&x=", 37, &f), 0);
        assert_string_equal(evd_web_form_get(&f, "item"), "1");
        assert_string_equal(evd_web_form_get_nth(&f, "item", 1), "2");
        assert_null(evd_web_form_get_nth(&f, "item", 2));
        assert_string_equal(evd_web_form_get(&f, "case"), "X罚");
        assert_string_equal(evd_web_form_get(&f, "flag"), "");
        assert_string_equal(evd_web_form_get(&f, "x"), "");
        evd_web_form_free(&f);
        assert_int_equal(evd_web_form_parse("a=%zz", 5, &f), -EINVAL);
        assert_int_equal(f.n, 0);
        assert_int_equal(evd_web_form_parse("=v", 2, &f), -EINVAL);
        memset(big, 'a', sizeof(big));
        assert_int_equal(evd_web_form_parse(big, sizeof(big), &f), -E2BIG);
        for (size_t i = 0; i + 1 < sizeof(big); i += 2)
                big[i + 1] = '&';
        assert_int_equal(evd_web_form_parse(big, 4 * EVD_WEB_FORM_MAX, &f), -E2BIG);
        assert_int_equal(f.n, 0);

        assert_int_equal(evd_web_cookie("a=1; evd_session=XYZ; b=2", "evd_session", v, sizeof(v)),
                         0);
        assert_string_equal(v, "XYZ");
        assert_int_equal(evd_web_cookie("xevd_session=1", "evd_session", v, sizeof(v)), -ENOENT);
        assert_int_equal(evd_web_cookie(NULL, "a", v, sizeof(v)), -ENOENT);
        assert_int_equal(evd_web_cookie("a=123456", "a", v, 4), -ENAMETOOLONG);
}

static int route(const char *method, const char *path, char *param)
{
        return evd_web_route(evd_console_routes, evd_console_n_routes, method, path, param, 65);
}

static void routing(void **state)
{
        char p[65];

        (void)state;
        assert_int_equal(route("GET", "/board", p), EVD_PAGE_BOARD);
        assert_int_equal(route("HEAD", "/board", p), EVD_PAGE_BOARD);
        assert_int_equal(route("GET", "/items/17", p), EVD_PAGE_ITEM);
        assert_string_equal(p, "17");
        assert_int_equal(route("GET", "/static/app.js", p), EVD_PAGE_STATIC);
        assert_string_equal(p, "app.js");
        assert_int_equal(route("GET", "/label", p), EVD_PAGE_LABEL_FORM);
        assert_int_equal(route("POST", "/label", p), EVD_PAGE_LABEL);
        assert_int_equal(route("DELETE", "/label", p), -EOPNOTSUPP);
        assert_int_equal(route("POST", "/board", p), -EOPNOTSUPP);
        assert_int_equal(route("GET", "/items/", p), -ENOENT);
        assert_int_equal(route("GET", "/items/1/2", p), -ENOENT);
        assert_int_equal(route("GET", "/static/../x", p), -ENOENT);
        assert_int_equal(route("GET", "/static/a<b", p), -ENOENT);
        assert_int_equal(route("GET", "/boardx", p), -ENOENT);
        assert_int_equal(route("GET", "", p), -ENOENT);

        /* Public pages need no role; the rest need the daemon's roles in order. */
        assert_null(evd_page_role(EVD_PAGE_BOARD));
        assert_true(evd_page_role_ok(NULL, evd_page_role(EVD_PAGE_BOARD)));
        assert_false(evd_page_role_ok(NULL, evd_page_role(EVD_PAGE_ITEMS)));
        assert_true(evd_page_role_ok("clerk", evd_page_role(EVD_PAGE_LABEL)));
        assert_false(evd_page_role_ok("clerk", evd_page_role(EVD_PAGE_EXPORT)));
        assert_true(evd_page_role_ok("archivist", evd_page_role(EVD_PAGE_EXPORT)));
        assert_false(evd_page_role_ok("archivist", evd_page_role(EVD_PAGE_ADMIN)));
        assert_true(evd_page_role_ok("admin", evd_page_role(EVD_PAGE_ADMIN)));
        assert_false(evd_page_role_ok("root", evd_page_role(EVD_PAGE_ITEMS)));
}

static void sessions(void **state)
{
        struct evd_web_sessions *ss;
        struct evd_web_session a, b, got;

        (void)state;
        assert_int_equal(evd_web_sessions_new(2, 30 * 60, 8 * 3600, &ss), 0);
        assert_int_equal(evd_web_session_add(ss, "tok-a", "张三", "clerk", 1000, &a), 0);
        assert_int_equal(strlen(a.id), EVD_WEB_ID_LEN);
        assert_int_equal(strlen(a.csrf), EVD_WEB_ID_LEN);
        assert_string_not_equal(a.id, a.csrf);
        assert_int_equal(evd_web_session_add(ss, "tok-b", "李四", "admin", 1000, &b), 0);
        assert_string_not_equal(a.id, b.id);
        /* Full of live sessions: refused, nobody evicted. */
        assert_int_equal(evd_web_session_add(ss, "tok-c", "王五", "clerk", 1001, &got), -EBUSY);
        assert_int_equal(evd_web_session_get(ss, a.id, 1500, &got), 0);
        assert_string_equal(got.token, "tok-a");
        assert_string_equal(got.user, "张三");
        /* The CSRF token is the session's own: another's, a prefix, empty: refused. */
        assert_true(evd_web_token_equal(got.csrf, a.csrf));
        assert_false(evd_web_token_equal(got.csrf, b.csrf));
        assert_false(evd_web_token_equal(got.csrf, ""));
        assert_false(evd_web_token_equal(got.csrf, NULL));
        assert_false(evd_web_token_equal("", ""));
        {
                char prefix[EVD_WEB_ID_LEN];

                memcpy(prefix, a.csrf, EVD_WEB_ID_LEN - 1);
                prefix[EVD_WEB_ID_LEN - 1] = '\0';
                assert_false(evd_web_token_equal(a.csrf, prefix));
        }
        /* Unknown and malformed ids. */
        assert_int_equal(evd_web_session_get(ss, "nope", 1500, &got), -ENOENT);
        assert_int_equal(evd_web_session_get(ss, NULL, 1500, &got), -ENOENT);
        /* Idle expiry: b was last used at 1000. */
        assert_int_equal(evd_web_session_get(ss, b.id, 1000 + 30 * 60, &got), -ENOENT);
        assert_int_equal(evd_web_sessions_count(ss, 1000 + 30 * 60), 1);
        /* Absolute expiry even when used all along. */
        for (int64_t t = 1500; t < 1000 + 8 * 3600; t += 20 * 60)
                assert_int_equal(evd_web_session_get(ss, a.id, t, &got), 0);
        assert_int_equal(evd_web_session_get(ss, a.id, 1000 + 8 * 3600, &got), -ENOENT);
        /* Logout removes, once. */
        assert_int_equal(evd_web_session_add(ss, "tok-d", "赵六", "clerk", 5000, &a), 0);
        assert_int_equal(evd_web_session_remove(ss, a.id, &got), 0);
        assert_string_equal(got.token, "tok-d");
        assert_int_equal(evd_web_session_remove(ss, a.id, NULL), -ENOENT);
        assert_int_equal(evd_web_session_get(ss, a.id, 5001, &got), -ENOENT);
        evd_web_sessions_free(ss);
}

static void listen_addresses(void **state)
{
        struct sockaddr_storage sa;
        socklen_t len;
        bool lo;

        (void)state;
        assert_int_equal(evd_web_parse_listen("127.0.0.1:8080", &sa, &len, &lo), 0);
        assert_true(lo);
        assert_int_equal(evd_web_parse_listen("[::1]:8080", &sa, &len, &lo), 0);
        assert_true(lo);
        assert_int_equal(evd_web_parse_listen("localhost:80", &sa, &len, &lo), 0);
        assert_true(lo);
        assert_int_equal(evd_web_parse_listen("0.0.0.0:443", &sa, &len, &lo), 0);
        assert_false(lo);
        assert_int_equal(evd_web_parse_listen("[::]:443", &sa, &len, &lo), 0);
        assert_false(lo);
        assert_int_equal(evd_web_parse_listen("127.0.0.1", &sa, &len, &lo), -EINVAL);
        assert_int_equal(evd_web_parse_listen("127.0.0.1:0", &sa, &len, &lo), -EINVAL);
        assert_int_equal(evd_web_parse_listen("127.0.0.1:70000", &sa, &len, &lo), -EINVAL);
        assert_int_equal(evd_web_parse_listen("example.org:80", &sa, &len, &lo), -EINVAL);
}

static void hostile_pages(void **state)
{
        const char *bad = "<img src=x onerror=alert(1)>.mp4";
        struct evd_page_view v = { .lang = EVD_LANG_EN,
                                   .path = "/items",
                                   .user = "<b>u</b>",
                                   .role = "clerk",
                                   .csrf = "C\"SRF" };
        json_t *item = json_pack("{sI ss ss ss s{ss ss} s[{ss ss ss}]}", "id", (json_int_t)7,
                                 "original_path", bad, "recorder", "<script>x</script>",
                                 "recorded_at", "2026-11-20T01:00:00Z", "labels", "case_no",
                                 "X罚〔2026〕1号", "party", "\"><svg onload=alert(1)>", "notes",
                                 "time", "<svg onload=alert(1)>", "by", "<script>", "text", bad);
        json_t *items = json_pack("{s[O] sI}", "items", item, "next", (json_int_t)7), *history;
        struct evd_web_form q = { 0 };
        struct evd_buf b = { .max = 1 << 20 };

        (void)state;
        assert_int_equal(evd_web_form_add(&q, "case", "\"><script>"), 0);
        evd_page_items(&b, &v, &q, items);
        /* The next page's link: the filter kept (escaped), the daemon's cursor. */
        assert_non_null(strstr(b.data, "href=\"/items?case=%22%3E%3Cscript%3E&amp;after=7\""));
        evd_page_item(&b, &v, item, NULL);
        assert_null(strstr(b.data, "id=\"history\"")); /* no history: not shown */
        /* The hostile note: its text, author and a time that is no time, all as text. */
        assert_non_null(
                strstr(b.data, "<td class=\"note\">&lt;img src=x onerror=alert(1)&gt;.mp4<"));
        assert_non_null(strstr(b.data, "&gt;</time></td><td>&lt;script&gt;</td>"));
        /* Media facts as a list with the verdict translated; history entries escaped. */
        (void)json_object_set_new(item, "media",
                                  json_pack("{ss ss s[{ss ss}]}", "integrity", "not-media",
                                            "container", bad, "streams", "type", "video", "codec",
                                            "<svg onload=alert(1)>"));
        (void)json_object_set_new(item, "hold", json_true());
        (void)json_object_set_new(item, "hold_info",
                                  json_pack("{ss ss ss}", "by", bad, "time", "2026-11-20T02:00:00Z",
                                            "reason", "<script>x</script>"));
        history = json_pack("[{sI ss ss s{ss} s{ss}}]", "seq", (json_int_t)3, "time",
                            "2026-11-20T02:00:00Z", "event", "item.held", "actor", "name",
                            "<script>", "details", "reason", bad);
        evd_page_item(&b, &v, item, history);
        assert_non_null(strstr(b.data, "data-value=\"not-media\">not a media file<"));
        assert_non_null(strstr(b.data, "<dl class=\"media\""));
        assert_non_null(strstr(b.data, "id=\"history\""));
        assert_non_null(strstr(b.data, "<td>item.held</td>"));
        assert_non_null(strstr(b.data, "id=\"hold-reason\">&lt;script&gt;x&lt;/script&gt;<"));
        json_decref(history);
        evd_page_label(&b, &v, "^x\"<$", &q, "case", "<i>bad</i>", NULL);
        assert_int_equal(b.error, 0);
        assert_null(strstr(b.data, "<img"));
        assert_null(strstr(b.data, "<script>"));
        assert_null(strstr(b.data, "<svg"));
        assert_null(strstr(b.data, "<b>u"));
        assert_null(strstr(b.data, "<i>bad"));
        assert_null(strstr(b.data, "C\"SRF"));
        assert_non_null(strstr(b.data, "&lt;img src=x onerror=alert(1)&gt;.mp4"));
        /* No inline script or style anywhere: the CSP forbids them. */
        assert_null(strstr(b.data, "<script>"));
        assert_null(strstr(b.data, " style="));
        evd_buf_free(&b);
        evd_web_form_free(&q);
        json_decref(items);
        json_decref(item);
}

/* Occurrences, notes and sequence gaps as rows a person reads (not JSON): times in the
 * station's zone, the note's text as typed (Chinese kept, markup escaped), the missing
 * numbers and the items either side. */
static void item_rows(void **state)
{
        const char *bad = "<img src=x onerror=alert(1)>.mp4";
        struct evd_page_view v = {
                .lang = EVD_LANG_ZH, .path = "/items/7", .user = "u", .role = "clerk", .csrf = "c"
        };
        json_t *item =
                json_pack("{sI ss ss s[{ss ss sI ss ss}] s[{ss ss ss}] s[{ss ss sI sI sI sI sb}]}",
                          "id", (json_int_t)7, "original_path", "DCIM/FILE0005.MP4", "recorder",
                          "SN-1", "occurrences", "recorder", "SN-2", "original_path", bad, "size",
                          (json_int_t)(3 << 20), "mtime", "2026-11-20T01:00:00Z", "seen_at",
                          "2026-11-21T16:30:00Z", "notes", "time", "2026-11-20T02:05:00Z", "by",
                          "web:<b>张三</b>", "text", "电池耗尽<script>alert(1)</script>\n第二行",
                          "sequence_gaps", "recorder", "SN-1", "folder", "DCIM/<i>/",
                          "missing_from", (json_int_t)3, "missing_to", (json_int_t)4, "before_id",
                          (json_int_t)6, "after_id", (json_int_t)7, "explained", 0);
        struct evd_buf b = { .max = 1 << 20 };
        char *old_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
        json_t *gap;

        (void)state;
        assert_non_null(item);
        (void)json_object_set_new(item, "deadline", json_string("2026-11-24T15:59:59Z"));
        (void)setenv("TZ", "Asia/Shanghai", 1);
        tzset();
        evd_page_item(&b, &v, item, NULL);
        /* The item's own times too: the deadline at the end of the local day. */
        assert_non_null(strstr(b.data, "<time datetime=\"2026-11-24T15:59:59Z\">2026-11-24 "
                                       "23:59 (+08:00)</time>"));
        assert_int_equal(b.error, 0);
        /* No JSON left on the page. */
        assert_null(strstr(b.data, "{&quot;"));
        assert_null(strstr(b.data, "&quot;missing_from"));
        /* Occurrence: recorder, path (escaped), size, times in +08:00. */
        assert_non_null(strstr(b.data, "id=\"occurrences\""));
        assert_non_null(strstr(b.data, "<td>SN-2</td><td class=\"path\">&lt;img src=x "
                                       "onerror=alert(1)&gt;.mp4</td><td>3.0 MiB</td>"));
        assert_non_null(strstr(b.data, "<time datetime=\"2026-11-20T01:00:00Z\">2026-11-20 "
                                       "09:00 (+08:00)</time>"));
        assert_non_null(strstr(b.data, ">2026-11-22 00:30 (+08:00)</time>"));
        /* Note: local time, author, text escaped with its Chinese and line break kept. */
        assert_non_null(strstr(b.data, ">2026-11-20 10:05 (+08:00)</time></td><td>web:&lt;b&gt;"
                                       "张三&lt;/b&gt;</td><td class=\"note\">电池耗尽&lt;script"
                                       "&gt;alert(1)&lt;/script&gt;\n第二行</td>"));
        /* Gap: folder, which numbers, between which items, not explained. */
        assert_non_null(strstr(b.data, "id=\"gaps\""));
        assert_non_null(strstr(b.data, "<td class=\"path\">DCIM/&lt;i&gt;/</td><td "
                                       "class=\"missing\">3–4</td><td class=\"between\"><a "
                                       "href=\"/items/6\">6</a> – <a href=\"/items/7\">7</a>"
                                       "</td><td class=\"unexplained\">未说明</td>"));
        assert_null(strstr(b.data, "<script>"));
        assert_null(strstr(b.data, "<img"));
        assert_null(strstr(b.data, "<b>"));
        assert_null(strstr(b.data, "<i>"));
        /* One number missing, explained; in English. */
        evd_buf_free(&b);
        b = (struct evd_buf){ .max = 1 << 20 };
        v.lang = EVD_LANG_EN;
        gap = json_array_get(json_object_get(item, "sequence_gaps"), 0);
        (void)json_object_set_new(gap, "missing_to", json_integer(3));
        (void)json_object_set_new(gap, "explained", json_true());
        evd_page_item(&b, &v, item, NULL);
        assert_non_null(strstr(b.data, "class=\"missing\">3</td>"));
        assert_non_null(strstr(b.data, "<td class=\"explained\">explained</td>"));
        assert_non_null(strstr(b.data, "<th>Written by</th>"));
        evd_buf_free(&b);
        json_decref(item);
        if (old_tz)
                (void)setenv("TZ", old_tz, 1);
        else
                (void)unsetenv("TZ");
        tzset();
        free(old_tz);
}

static void messages_and_replies(void **state)
{
        struct evd_err err = { 0 };
        json_t *p = NULL, *r = NULL;
        const char *line;

        (void)state;
        for (int m = 0; m < EVD_MSG_COUNT; m++) {
                assert_true(evd_msg(EVD_LANG_ZH, m)[0] != '\0');
                assert_true(evd_msg(EVD_LANG_EN, m)[0] != '\0');
        }
        assert_string_equal(evd_msg(EVD_LANG_ZH, EVD_MSG_SAFE), "可以拔出");
        assert_int_equal(evd_msg_lang("en"), EVD_LANG_EN);
        assert_int_equal(evd_msg_lang("xx"), EVD_LANG_ZH);
        assert_int_equal(evd_msg_lang(NULL), EVD_LANG_ZH);

        line = "{\"progress\": {\"n\": 1}}";
        assert_int_equal(evd_ctl_parse_reply(line, strlen(line), &p, &r, &err), 1);
        json_decref(p);
        line = "{\"ok\": true, \"result\": [1]}";
        assert_int_equal(evd_ctl_parse_reply(line, strlen(line), &p, &r, &err), 0);
        assert_true(json_is_array(r));
        json_decref(r);
        line = "{\"ok\": true}";
        assert_int_equal(evd_ctl_parse_reply(line, strlen(line), &p, &r, &err), 0);
        assert_true(json_is_null(r));
        line = "{\"ok\": false, \"error\": \"permission denied\", \"errno\": -1}";
        assert_int_equal(evd_ctl_parse_reply(line, strlen(line), &p, &r, &err), -EPERM);
        assert_string_equal(err.text, "permission denied");
        line = "{\"ok\": false, \"errno\": 5}";
        assert_int_equal(evd_ctl_parse_reply(line, strlen(line), &p, &r, &err), -EIO);
        line = "not json";
        assert_int_equal(evd_ctl_parse_reply(line, strlen(line), &p, &r, &err), -EPROTO);
        line = "[1]";
        assert_int_equal(evd_ctl_parse_reply(line, strlen(line), &p, &r, &err), -EPROTO);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(escaping),
                cmocka_unit_test(urls),
                cmocka_unit_test(forms_and_cookies),
                cmocka_unit_test(routing),
                cmocka_unit_test(sessions),
                cmocka_unit_test(listen_addresses),
                cmocka_unit_test(hostile_pages),
                cmocka_unit_test(item_rows),
                cmocka_unit_test(messages_and_replies),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
