/* The office's pages of the web console (console_pages.h): export, access register,
 * compliance (charts as inline SVG: presentation attributes, no style, so that the
 * Content-Security-Policy holds), audit and admin. Every value is escaped. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "console_pages.h"

static void msg(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg m)
{
        evd_page_text(b, evd_msg(v->lang, m));
}

static const char *str(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

static void h(struct evd_buf *b, const struct evd_page_view *v, const char *tag, enum evd_msg m)
{
        evd_buf_printf(b, "<%s>", tag);
        msg(b, v, m);
        evd_buf_printf(b, "</%s>", tag);
}

static void error_line(struct evd_buf *b, const char *id, const char *error)
{
        if (!error)
                return;
        evd_buf_printf(b, "<p class=\"error\" id=\"%s\">", id);
        evd_page_text(b, error);
        evd_buf_str(b, "</p>");
}

/* <p class=field><label>M<input name=NAME value=...></label></p> */
static void input(struct evd_buf *b, const struct evd_page_view *v, const struct evd_web_form *f,
                  const char *name, enum evd_msg m, const char *extra)
{
        evd_buf_printf(b, "<p class=\"field\"><label for=\"f-%s\">", name);
        msg(b, v, m);
        evd_buf_printf(b, "</label><input id=\"f-%s\" name=\"%s\" value=\"", name, name);
        evd_page_text(b, evd_web_form_get(f, name));
        evd_buf_printf(b, "\"%s></p>", extra);
}

static void radio(struct evd_buf *b, const struct evd_page_view *v, const struct evd_web_form *f,
                  const char *name, const char *value, enum evd_msg m, bool dflt)
{
        const char *now = evd_web_form_get(f, name);
        bool on = now ? strcmp(now, value) == 0 : dflt;

        evd_buf_printf(b,
                       "<label class=\"check\"><input type=\"radio\" name=\"%s\" value=\"%s\" "
                       "id=\"r-%s-%s\"%s>",
                       name, value, name, value, on ? " checked" : "");
        msg(b, v, m);
        evd_buf_str(b, "</label>");
}

static void submit(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg m)
{
        evd_buf_str(b, "<p><button type=\"submit\">");
        msg(b, v, m);
        evd_buf_str(b, "</button></p>");
}

/* A table of rows (objects) with the given keys as columns. */
static void table(struct evd_buf *b, const struct evd_page_view *v, const char *id,
                  const json_t *rows, const char *const *keys, const enum evd_msg *heads, size_t n)
{
        const json_t *row;
        size_t i;

        evd_buf_printf(b, "<table class=\"list\" id=\"%s\"><thead><tr>", id);
        for (size_t k = 0; k < n; k++)
                h(b, v, "th", heads[k]);
        evd_buf_str(b, "</tr></thead><tbody>");
        json_array_foreach(rows, i, row)
        {
                evd_buf_str(b, "<tr>");
                for (size_t k = 0; k < n; k++) {
                        evd_buf_str(b, "<td>");
                        evd_page_value(b, v, json_object_get(row, keys[k]));
                        evd_buf_str(b, "</td>");
                }
                evd_buf_str(b, "</tr>");
        }
        evd_buf_str(b, "</tbody></table>");
}

/* ---- export ---- */

void evd_page_export(struct evd_buf *b, const struct evd_page_view *v, const struct evd_web_form *f,
                     const char *error, const json_t *done, const json_t *links)
{
        static const char *const media[] = { "cd", "dvd", "dvd-dl", "bd25", "bd50" };
        const char *chosen = evd_web_form_get(f, "media");
        const json_t *link;
        size_t i;

        evd_page_begin(b, v, EVD_MSG_NAV_EXPORT);
        h(b, v, "h1", EVD_MSG_NAV_EXPORT);
        error_line(b, "export-error", error);
        if (done) {
                evd_buf_str(b, "<section class=\"ok\" id=\"export-done\"><p>");
                msg(b, v, EVD_MSG_X_DONE);
                evd_buf_str(b, "</p><ol class=\"downloads\">");
                json_array_foreach(links, i, link)
                {
                        evd_buf_str(b, "<li><a class=\"download\" href=\"");
                        evd_page_text(b, str(link, "href"));
                        evd_buf_str(b, "\">");
                        msg(b, v, EVD_MSG_DOWNLOAD);
                        evd_buf_str(b, " ");
                        evd_page_text(b, str(link, "name"));
                        evd_buf_str(b, "</a> (");
                        evd_page_size(b, json_integer_value(json_object_get(link, "size")));
                        evd_buf_str(b, ")</li>");
                }
                evd_buf_str(b, "</ol></section>");
        }
        evd_buf_str(b, "<form method=\"post\" action=\"/export\" id=\"export-form\">");
        evd_page_csrf(b, v->csrf);
        evd_buf_str(b, "<p class=\"field\">");
        radio(b, v, f, "what", "case", EVD_MSG_X_CASE, true);
        radio(b, v, f, "what", "items", EVD_MSG_X_ITEMS, false);
        evd_buf_str(b, "</p>");
        input(b, v, f, "case", EVD_MSG_F_CASE, "");
        input(b, v, f, "items", EVD_MSG_M_ITEMS, " inputmode=\"numeric\"");
        input(b, v, f, "maker", EVD_MSG_X_MAKER, " required");
        input(b, v, f, "extractor", EVD_MSG_X_EXTRACTOR, " required");
        input(b, v, f, "approver", EVD_MSG_X_APPROVER, " required");
        input(b, v, f, "reason", EVD_MSG_X_REASON, " required");
        evd_buf_str(b, "<p class=\"field\"><label for=\"f-media\">");
        msg(b, v, EVD_MSG_X_MEDIUM);
        evd_buf_str(b, "</label><select id=\"f-media\" name=\"media\"><option value=\"\">");
        msg(b, v, EVD_MSG_X_ONE);
        evd_buf_str(b, "</option>");
        for (size_t k = 0; k < sizeof(media) / sizeof(media[0]); k++)
                evd_buf_printf(b, "<option%s>%s</option>",
                               chosen && strcmp(chosen, media[k]) == 0 ? " selected" : "",
                               media[k]);
        evd_buf_str(b, "</select></p>");
        submit(b, v, EVD_MSG_X_SUBMIT);
        evd_buf_str(b, "</form>");
        evd_page_end(b);
}

/* ---- access register ---- */

void evd_page_access(struct evd_buf *b, const struct evd_page_view *v, const struct evd_web_form *f,
                     const char *error, const char *done, const char *link, const json_t *log)
{
        static const char *const keys[] = { "time",     "kind",   "item", "requester",
                                            "approver", "reason", "by" };
        static const enum evd_msg heads[] = { EVD_MSG_A_TIME,     EVD_MSG_A_KIND,
                                              EVD_MSG_A_ITEM,     EVD_MSG_A_REQUESTER,
                                              EVD_MSG_X_APPROVER, EVD_MSG_X_REASON,
                                              EVD_MSG_A_BY };

        evd_page_begin(b, v, EVD_MSG_NAV_ACCESS);
        h(b, v, "h1", EVD_MSG_NAV_ACCESS);
        error_line(b, "access-error", error);
        if (done) {
                evd_buf_str(b, "<p class=\"ok\" id=\"access-done\">");
                msg(b, v, EVD_MSG_A_DONE);
                evd_buf_str(b, ": ");
                evd_page_text(b, done);
                if (link) {
                        evd_buf_str(b, " <a class=\"download\" href=\"");
                        evd_page_text(b, link);
                        evd_buf_str(b, "\">");
                        msg(b, v, EVD_MSG_DOWNLOAD);
                        evd_buf_str(b, "</a>");
                }
                evd_buf_str(b, "</p>");
        }
        evd_buf_str(b, "<form method=\"post\" action=\"/access\" id=\"access-form\">");
        evd_page_csrf(b, v->csrf);
        input(b, v, f, "item", EVD_MSG_A_ITEM, " required inputmode=\"numeric\"");
        evd_buf_str(b, "<p class=\"field\">");
        radio(b, v, f, "kind", "view", EVD_MSG_A_VIEW, true);
        radio(b, v, f, "kind", "copy", EVD_MSG_A_COPY, false);
        evd_buf_str(b, "</p>");
        input(b, v, f, "requester", EVD_MSG_A_REQUESTER, " required");
        input(b, v, f, "approver", EVD_MSG_X_APPROVER, " required");
        input(b, v, f, "reason", EVD_MSG_X_REASON, " required");
        submit(b, v, EVD_MSG_A_SUBMIT);
        evd_buf_str(b, "</form>");
        h(b, v, "h2", EVD_MSG_A_LOG);
        table(b, v, "access-log", log, keys, heads, sizeof(keys) / sizeof(keys[0]));
        evd_page_end(b);
}

/* ---- compliance ---- */

static json_int_t num(const json_t *o, const char *key)
{
        return json_integer_value(json_object_get(o, key));
}

static int pct(const json_t *row)
{
        json_int_t total = num(row, "total");

        return total > 0 ? (int)(num(row, "on_time") * 100 / total) : -1;
}

/* Vertical bars, one per month: the on-time rate in percent (none for a month with no
 * recordings), with the 100% line. */
static void month_chart(struct evd_buf *b, const json_t *months)
{
        size_t n = json_array_size(months), i;
        const int w = 640, hgt = 220, left = 36, bottom = 24, top = 10;
        int slot = n ? (w - left) / (int)n : 1;
        const json_t *m;

        evd_buf_printf(
                b,
                "<svg class=\"chart\" id=\"chart-months\" viewBox=\"0 0 %d %d\" width=\"%d\" "
                "height=\"%d\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">",
                w, hgt, w, hgt);
        for (int p = 0; p <= 100; p += 50) {
                int y = top + (hgt - top - bottom) * (100 - p) / 100;

                evd_buf_printf(b,
                               "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#bbb\" "
                               "stroke-width=\"1\"/><text x=\"2\" y=\"%d\" font-size=\"11\">%d%%"
                               "</text>",
                               left, y, w, y, y + 4, p);
        }
        json_array_foreach(months, i, m)
        {
                int p = pct(m), x = left + (int)i * slot + slot / 6;
                int bh = p < 0 ? 0 : (hgt - top - bottom) * p / 100;
                const char *label = str(m, "month");

                if (p >= 0)
                        evd_buf_printf(b,
                                       "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%d\" "
                                       "height=\"%d\" fill=\"%s\"><title>%d%%</title></rect>",
                                       x, hgt - bottom - bh, slot * 2 / 3, bh,
                                       p >= 95   ? "#2e7d32"
                                       : p >= 80 ? "#f9a825"
                                                 : "#c62828",
                                       p);
                evd_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"11\">", x, hgt - 8);
                evd_page_text(b, label && strlen(label) >= 7 ? label + 5 : label);
                evd_buf_str(b, "</text>");
        }
        evd_buf_str(b, "</svg>");
}

/* Horizontal bars, one per handler. */
static void handler_chart(struct evd_buf *b, const struct evd_page_view *v, const json_t *rows)
{
        size_t n = json_array_size(rows), i;
        const int w = 640, row_h = 22, left = 160;
        const json_t *r;

        evd_buf_printf(b,
                       "<svg class=\"chart\" id=\"chart-handlers\" viewBox=\"0 0 %d %zu\" "
                       "width=\"%d\" height=\"%zu\" role=\"img\" "
                       "xmlns=\"http://www.w3.org/2000/svg\">",
                       w, n * row_h + 4, w, n * row_h + 4);
        json_array_foreach(rows, i, r)
        {
                int p = pct(r), y = (int)i * row_h + 2;
                const char *name = str(r, "name");

                evd_buf_printf(b, "<text x=\"0\" y=\"%d\" font-size=\"12\">", y + 15);
                if (name && name[0])
                        evd_page_text(b, name);
                else
                        msg(b, v, EVD_MSG_C_NOBODY);
                evd_buf_str(b, "</text>");
                if (p >= 0)
                        evd_buf_printf(b,
                                       "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%d\" "
                                       "height=\"16\" fill=\"%s\"/><text x=\"%d\" y=\"%d\" "
                                       "font-size=\"12\">%d%% (%" JSON_INTEGER_FORMAT
                                       "/%" JSON_INTEGER_FORMAT ")</text>",
                                       left, y, (w - left - 110) * p / 100,
                                       p >= 95   ? "#2e7d32"
                                       : p >= 80 ? "#f9a825"
                                                 : "#c62828",
                                       left + (w - left - 110) * p / 100 + 4, y + 13, p,
                                       num(r, "on_time"), num(r, "total"));
        }
        evd_buf_str(b, "</svg>");
}

static void item_list(struct evd_buf *b, const struct evd_page_view *v, const char *id,
                      const json_t *items, bool overdue)
{
        static const enum evd_msg heads[] = { EVD_MSG_F_ID,       EVD_MSG_F_RECORDED,
                                              EVD_MSG_F_INGESTED, EVD_MSG_F_DEADLINE,
                                              EVD_MSG_SERIAL,     EVD_MSG_F_HANDLER };
        const json_t *it;
        size_t i;

        evd_buf_printf(b, "<table class=\"list\" id=\"%s\"><thead><tr>", id);
        for (size_t k = 0; k < sizeof(heads) / sizeof(heads[0]); k++)
                h(b, v, "th", heads[k]);
        evd_buf_str(b, "</tr></thead><tbody>");
        json_array_foreach(items, i, it)
        {
                json_int_t n = num(it, "id");
                const char *handler = str(json_object_get(it, "labels"), "handler");

                if (i >= 200)
                        break;
                evd_buf_printf(b,
                               "<tr><td><a href=\"/items/%" JSON_INTEGER_FORMAT
                               "\">%" JSON_INTEGER_FORMAT "</a></td><td>",
                               n, n);
                evd_page_text(b, str(it, "recorded_at"));
                evd_buf_str(b, "</td><td>");
                evd_page_text(b, overdue ? "" : str(it, "ingested_at"));
                evd_buf_str(b, "</td><td>");
                evd_page_text(b, str(it, "deadline"));
                evd_buf_str(b, "</td><td>");
                evd_page_text(b, str(it, "recorder"));
                evd_buf_str(b, "</td><td>");
                evd_page_text(b, handler ? handler : str(it, "handler"));
                evd_buf_str(b, "</td></tr>");
        }
        evd_buf_printf(b, "</tbody></table><p class=\"count\">%zu</p>", json_array_size(items));
}

void evd_page_compliance(struct evd_buf *b, const struct evd_page_view *v, int year,
                         const json_t *months, const json_t *handlers, const json_t *late,
                         const json_t *overdue)
{
        static const char *const keys[] = { "name", "total", "on_time", "rate" };
        static const enum evd_msg heads[] = { EVD_MSG_F_HANDLER, EVD_MSG_C_TOTAL, EVD_MSG_C_ON_TIME,
                                              EVD_MSG_C_RATE };
        json_t *rows = json_deep_copy(handlers), *r;
        size_t i;

        evd_page_begin(b, v, EVD_MSG_NAV_COMPLIANCE);
        evd_buf_printf(b, "<h1>%d ", year);
        msg(b, v, EVD_MSG_NAV_COMPLIANCE);
        evd_buf_str(b, "</h1><form method=\"get\" action=\"/compliance\" class=\"filters "
                       "noprint\"><label>");
        msg(b, v, EVD_MSG_C_YEAR);
        evd_buf_printf(b, "<input name=\"year\" value=\"%d\" inputmode=\"numeric\"></label>", year);
        evd_buf_str(b, "<button type=\"submit\">");
        msg(b, v, EVD_MSG_FILTER);
        evd_buf_str(b, "</button> <button type=\"button\" id=\"print\">");
        msg(b, v, EVD_MSG_C_PRINT);
        evd_buf_str(b, "</button></form>");
        h(b, v, "h2", EVD_MSG_C_RATE_MONTH);
        month_chart(b, months);
        h(b, v, "h2", EVD_MSG_C_RATE_HANDLER);
        handler_chart(b, v, handlers);
        json_array_foreach(rows, i, r)
        {
                int p = pct(r);
                char t[16];

                (void)snprintf(t, sizeof(t), p < 0 ? "-" : "%d%%", p);
                (void)json_object_set_new(r, "rate", json_string(t));
        }
        table(b, v, "handlers", rows, keys, heads, sizeof(keys) / sizeof(keys[0]));
        json_decref(rows);
        evd_buf_str(b, "<section class=\"pagebreak\">");
        h(b, v, "h2", EVD_MSG_C_LATE_LIST);
        item_list(b, v, "late", late, false);
        h(b, v, "h2", EVD_MSG_C_OVERDUE_LIST);
        item_list(b, v, "overdue", overdue, true);
        evd_buf_str(b, "</section>");
        evd_page_end(b);
}

/* ---- audit ---- */

/* The audit page's link with the filters of q and one cursor: key (before or after) n. */
static void audit_link(struct evd_buf *b, const struct evd_web_form *q, const char *key,
                       json_int_t n)
{
        evd_buf_str(b, "/audit?");
        for (size_t i = 0; i < q->n; i++) {
                if (strcmp(q->f[i].name, "before") == 0 || strcmp(q->f[i].name, "after") == 0 ||
                    strcmp(q->f[i].name, "page") == 0 || strcmp(q->f[i].name, "csrf") == 0)
                        continue;
                (void)evd_web_urlencode(b, q->f[i].name);
                evd_buf_str(b, "=");
                (void)evd_web_urlencode(b, q->f[i].value);
                evd_buf_str(b, "&amp;");
        }
        evd_buf_printf(b, "%s=%lld", key, (long long)n);
}

static void audit_filters(struct evd_buf *b, const struct evd_page_view *v,
                          const struct evd_web_form *q)
{
        static const struct {
                const char *name, *type;
                enum evd_msg m;
        } f[] = { { "since", "date", EVD_MSG_F_SINCE },
                  { "event", "text", EVD_MSG_U_EVENT },
                  { "actor", "text", EVD_MSG_U_ACTOR },
                  { "q", "text", EVD_MSG_U_SEARCH } };

        evd_buf_str(b, "<form method=\"get\" action=\"/audit\" class=\"filters\">");
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
                evd_buf_str(b, "<label>");
                msg(b, v, f[i].m);
                evd_buf_printf(b, "<input name=\"%s\" type=\"%s\" value=\"", f[i].name, f[i].type);
                evd_page_text(b, evd_web_form_get(q, f[i].name));
                evd_buf_str(b, "\"></label>");
        }
        evd_buf_str(b, "<button type=\"submit\">");
        msg(b, v, EVD_MSG_FILTER);
        evd_buf_str(b, "</button></form><form method=\"post\" action=\"/audit\" id=\"verify\">");
        evd_page_csrf(b, v->csrf);
        evd_buf_str(b, "<button type=\"submit\">");
        msg(b, v, EVD_MSG_U_VERIFY);
        evd_buf_str(b, "</button></form>");
}

static void verdict_box(struct evd_buf *b, const struct evd_page_view *v, const json_t *verdict)
{
        bool ok = json_is_true(json_object_get(verdict, "ok"));
        char *dump = json_dumps(verdict, JSON_INDENT(1) | JSON_SORT_KEYS);

        evd_buf_printf(b, "<section id=\"verdict\" class=\"%s\"><h2>", ok ? "ok" : "error");
        msg(b, v, ok ? EVD_MSG_U_OK : EVD_MSG_U_BAD);
        evd_buf_str(b, "</h2><details><summary>");
        msg(b, v, EVD_MSG_U_DETAILS);
        evd_buf_str(b, "</summary><pre>");
        evd_page_text(b, dump);
        evd_buf_str(b, "</pre></details></section>");
        free(dump);
}

void evd_page_audit(struct evd_buf *b, const struct evd_page_view *v, const struct evd_web_form *q,
                    const json_t *entries, json_int_t newer, json_int_t older,
                    const json_t *verdict)
{
        static const char *const keys[] = { "seq", "time", "event", "actor", "subject", "details" };
        static const enum evd_msg heads[] = {
                EVD_MSG_F_ID,    EVD_MSG_A_TIME,    EVD_MSG_U_EVENT,
                EVD_MSG_U_ACTOR, EVD_MSG_U_SUBJECT, EVD_MSG_U_DETAILS
        };
        size_t n = json_array_size(entries);

        evd_page_begin(b, v, EVD_MSG_NAV_AUDIT);
        h(b, v, "h1", EVD_MSG_NAV_AUDIT);
        if (verdict)
                verdict_box(b, v, verdict);
        audit_filters(b, v, q);
        table(b, v, "audit", entries, keys, heads, sizeof(keys) / sizeof(keys[0]));
        evd_buf_str(b, "<p class=\"pager\">");
        if (newer > 0) {
                evd_buf_str(b, "<a rel=\"prev\" href=\"");
                audit_link(b, q, "after", newer);
                evd_buf_str(b, "\">");
                msg(b, v, EVD_MSG_PREV);
                evd_buf_str(b, "</a> ");
        }
        evd_buf_str(b, "<span id=\"pageno\">");
        if (n)
                evd_buf_printf(b, "%lld - %lld",
                               (long long)json_integer_value(
                                       json_object_get(json_array_get(entries, 0), "seq")),
                               (long long)json_integer_value(
                                       json_object_get(json_array_get(entries, n - 1), "seq")));
        evd_buf_str(b, "</span> ");
        if (older > 0) {
                evd_buf_str(b, "<a rel=\"next\" href=\"");
                audit_link(b, q, "before", older);
                evd_buf_str(b, "\">");
                msg(b, v, EVD_MSG_NEXT);
                evd_buf_str(b, "</a>");
        }
        evd_buf_str(b, "</p>");
        evd_page_end(b);
}

/* ---- admin ---- */

static void admin_form(struct evd_buf *b, const struct evd_page_view *v, const char *action,
                       enum evd_msg title, const char *const *fields, const enum evd_msg *labels,
                       size_t n)
{
        evd_buf_printf(b,
                       "<form method=\"post\" action=\"/admin/%s\" id=\"form-%s\" "
                       "class=\"admin\"><h3>",
                       action, action);
        msg(b, v, title);
        evd_buf_str(b, "</h3>");
        evd_page_csrf(b, v->csrf);
        for (size_t i = 0; i < n; i++) {
                bool check = strcmp(fields[i], "dry_run") == 0 || strcmp(fields[i], "also") == 0;

                evd_buf_printf(b, "<p class=\"field\"><label>");
                if (check)
                        evd_buf_printf(b, "<input type=\"checkbox\" name=\"%s\" value=\"1\"%s> ",
                                       fields[i],
                                       strcmp(fields[i], "dry_run") == 0 ? " checked" : "");
                msg(b, v, labels[i]);
                if (strcmp(fields[i], "password") == 0)
                        evd_buf_str(b, "<input name=\"password\" type=\"password\" "
                                       "autocomplete=\"new-password\" required>");
                else if (!check)
                        evd_buf_printf(b, "<input name=\"%s\" required>", fields[i]);
                evd_buf_str(b, "</label></p>");
        }
        submit(b, v, EVD_MSG_M_SUBMIT);
        evd_buf_str(b, "</form>");
}

/* Each recorder with its holders over time, one line each. */
static void recorders_table(struct evd_buf *b, const struct evd_page_view *v, const json_t *recs)
{
        const json_t *r, *a;
        size_t i, k;

        evd_buf_str(b, "<table class=\"list\" id=\"recorders\"><thead><tr>");
        h(b, v, "th", EVD_MSG_SERIAL);
        h(b, v, "th", EVD_MSG_HOLDER);
        evd_buf_str(b, "</tr></thead><tbody>");
        json_array_foreach(recs, i, r)
        {
                evd_buf_str(b, "<tr><td>");
                evd_page_text(b, str(r, "serial"));
                evd_buf_str(b, "</td><td><ul>");
                json_array_foreach(json_object_get(r, "assignments"), k, a)
                {
                        evd_buf_str(b, "<li>");
                        evd_page_text(b, str(a, "handler_name"));
                        evd_buf_str(b, " (");
                        evd_page_text(b, str(a, "handler_id"));
                        evd_buf_str(b, ") ");
                        evd_page_text(b, str(a, "since"));
                        evd_buf_str(b, "</li>");
                }
                evd_buf_str(b, "</ul></td></tr>");
        }
        evd_buf_str(b, "</tbody></table>");
}

void evd_page_admin(struct evd_buf *b, const struct evd_page_view *v, const json_t *recorders,
                    const json_t *users, const char *error, const json_t *done)
{
        static const char *const ukeys[] = { "name", "role", "state", "created" };
        static const enum evd_msg uheads[] = { EVD_MSG_USER, EVD_MSG_M_ROLE, EVD_MSG_M_STATE,
                                               EVD_MSG_A_TIME };
        static const char *const hold[] = { "items", "reason" };
        static const enum evd_msg hold_l[] = { EVD_MSG_M_ITEMS, EVD_MSG_X_REASON };
        static const char *const ev[] = { "items", "case", "also" };
        static const enum evd_msg ev_l[] = { EVD_MSG_M_ITEMS, EVD_MSG_F_CASE, EVD_MSG_M_ALSO };
        static const char *const account[] = { "name", "password" };
        static const enum evd_msg account_l[] = { EVD_MSG_USER, EVD_MSG_M_NEW_PASSWORD };
        static const char *const purge[] = { "approver", "reason", "dry_run" };
        static const enum evd_msg purge_l[] = { EVD_MSG_X_APPROVER, EVD_MSG_X_REASON,
                                                EVD_MSG_M_DRY_RUN };

        evd_page_begin(b, v, EVD_MSG_NAV_ADMIN);
        h(b, v, "h1", EVD_MSG_NAV_ADMIN);
        error_line(b, "admin-error", error);
        if (done) {
                char *dump = json_dumps(done, JSON_INDENT(1) | JSON_SORT_KEYS);

                evd_buf_str(b, "<section class=\"ok\" id=\"admin-done\"><h2>");
                msg(b, v, EVD_MSG_M_DONE);
                evd_buf_str(b, "</h2><pre>");
                evd_page_text(b, dump);
                evd_buf_str(b, "</pre></section>");
                free(dump);
        }
        h(b, v, "h2", EVD_MSG_M_RECORDERS);
        recorders_table(b, v, recorders);
        h(b, v, "h2", EVD_MSG_M_ACCOUNTS);
        table(b, v, "accounts", users, ukeys, uheads, sizeof(ukeys) / sizeof(ukeys[0]));
        evd_buf_str(b, "<div class=\"forms\">");
        admin_form(b, v, "hold", EVD_MSG_M_HOLD, hold, hold_l, 2);
        admin_form(b, v, "release", EVD_MSG_M_RELEASE, hold, hold_l, 2);
        admin_form(b, v, "evidence", EVD_MSG_M_EVIDENCE, ev, ev_l, 3);
        admin_form(b, v, "purge", EVD_MSG_M_PURGE, purge, purge_l, 3);
        admin_form(b, v, "passwd", EVD_MSG_M_PASSWD, account, account_l, 2);
        admin_form(b, v, "disable", EVD_MSG_M_DISABLE, account, account_l, 1);
        evd_buf_str(b, "</div>");
        evd_page_end(b);
}
