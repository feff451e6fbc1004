#include "console_pages.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const struct evd_web_route evd_console_routes[] = {
        { "GET", "/", EVD_PAGE_ROOT },
        { "GET", "/board", EVD_PAGE_BOARD },
        { "GET", "/board/events", EVD_PAGE_EVENTS },
        { "GET", "/static/*", EVD_PAGE_STATIC },
        { "GET", "/lang/*", EVD_PAGE_LANG },
        { "GET", "/login", EVD_PAGE_LOGIN_FORM },
        { "POST", "/login", EVD_PAGE_LOGIN },
        { "POST", "/logout", EVD_PAGE_LOGOUT },
        { "GET", "/items", EVD_PAGE_ITEMS },
        { "GET", "/items/*", EVD_PAGE_ITEM },
        { "GET", "/label", EVD_PAGE_LABEL_FORM },
        { "POST", "/label", EVD_PAGE_LABEL },
        { "GET", "/export", EVD_PAGE_EXPORT },
        { "GET", "/access", EVD_PAGE_ACCESS },
        { "GET", "/compliance", EVD_PAGE_COMPLIANCE },
        { "GET", "/audit", EVD_PAGE_AUDIT },
        { "GET", "/admin", EVD_PAGE_ADMIN },
        { "POST", "/export", EVD_PAGE_EXPORT_RUN },
        { "GET", "/download/*", EVD_PAGE_DOWNLOAD },
        { "POST", "/access", EVD_PAGE_ACCESS_RUN },
        { "POST", "/audit", EVD_PAGE_VERIFY },
        { "POST", "/admin/*", EVD_PAGE_ADMIN_RUN },
        { "GET", "/board/status", EVD_PAGE_BOARD_STATUS },
};

const size_t evd_console_n_routes = sizeof(evd_console_routes) / sizeof(evd_console_routes[0]);

const char *evd_page_role(enum evd_page page)
{
        switch (page) {
        case EVD_PAGE_ITEMS:
        case EVD_PAGE_ITEM:
        case EVD_PAGE_LABEL_FORM:
        case EVD_PAGE_LABEL:
        case EVD_PAGE_BOARD_STATUS:
                return "clerk";
        case EVD_PAGE_EXPORT:
        case EVD_PAGE_ACCESS:
        case EVD_PAGE_COMPLIANCE:
        case EVD_PAGE_AUDIT:
        case EVD_PAGE_EXPORT_RUN:
        case EVD_PAGE_DOWNLOAD:
        case EVD_PAGE_ACCESS_RUN:
        case EVD_PAGE_VERIFY:
                return "archivist";
        case EVD_PAGE_ADMIN:
        case EVD_PAGE_ADMIN_RUN:
                return "admin";
        default:
                return NULL;
        }
}

static int role_rank(const char *role)
{
        static const char *const names[] = { "clerk", "archivist", "admin" };

        for (int i = 0; role && i < 3; i++)
                if (strcmp(role, names[i]) == 0)
                        return i + 1;
        return 0;
}

bool evd_page_role_ok(const char *role, const char *need)
{
        return !need || (role_rank(role) > 0 && role_rank(role) >= role_rank(need));
}

/* ---- the frame ---- */

static void text(struct evd_buf *b, const char *s)
{
        (void)evd_web_text(b, s ? s : "");
}

static void msg(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg m)
{
        text(b, evd_msg(v->lang, m));
}

static void csrf_field(struct evd_buf *b, const char *csrf)
{
        evd_buf_str(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
        text(b, csrf);
        evd_buf_str(b, "\">");
}

static void nav_link(struct evd_buf *b, const struct evd_page_view *v, const char *href,
                     enum evd_msg m, enum evd_page page)
{
        if (!evd_page_role_ok(v->role, evd_page_role(page)))
                return;
        evd_buf_printf(b, "<a href=\"%s\"%s>", href,
                       v->path && strncmp(v->path, href, strlen(href)) == 0 ? " class=\"on\"" : "");
        msg(b, v, m);
        evd_buf_str(b, "</a>");
}

void evd_page_begin(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg title)
{
        evd_buf_printf(b,
                       "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
                       "<meta name=\"viewport\" content=\"width=device-width\">"
                       "<link rel=\"stylesheet\" href=\"/static/app.css\">"
                       "<script src=\"/static/app.js\" defer></script><title>",
                       v->lang == EVD_LANG_EN ? "en" : "zh-CN");
        msg(b, v, title);
        evd_buf_str(b, " - ");
        msg(b, v, EVD_MSG_TITLE);
        evd_buf_str(b, "</title></head><body><header><nav>");
        nav_link(b, v, "/board", EVD_MSG_NAV_BOARD, EVD_PAGE_BOARD);
        if (v->user) {
                nav_link(b, v, "/items", EVD_MSG_NAV_ITEMS, EVD_PAGE_ITEMS);
                nav_link(b, v, "/label", EVD_MSG_NAV_LABEL, EVD_PAGE_LABEL_FORM);
                nav_link(b, v, "/export", EVD_MSG_NAV_EXPORT, EVD_PAGE_EXPORT);
                nav_link(b, v, "/access", EVD_MSG_NAV_ACCESS, EVD_PAGE_ACCESS);
                nav_link(b, v, "/compliance", EVD_MSG_NAV_COMPLIANCE, EVD_PAGE_COMPLIANCE);
                nav_link(b, v, "/audit", EVD_MSG_NAV_AUDIT, EVD_PAGE_AUDIT);
                nav_link(b, v, "/admin", EVD_MSG_NAV_ADMIN, EVD_PAGE_ADMIN);
        }
        evd_buf_str(b, "</nav><div class=\"who\">");
        if (v->user) {
                evd_buf_str(b, "<span class=\"user\">");
                text(b, v->user);
                evd_buf_str(b, "</span><form method=\"post\" action=\"/logout\">");
                csrf_field(b, v->csrf);
                evd_buf_str(b, "<button type=\"submit\">");
                msg(b, v, EVD_MSG_SIGN_OUT);
                evd_buf_str(b, "</button></form>");
        } else {
                evd_buf_str(b, "<a href=\"/login\">");
                msg(b, v, EVD_MSG_SIGN_IN);
                evd_buf_str(b, "</a>");
        }
        evd_buf_printf(
                b, " <a id=\"lang\" href=\"/lang/%s?next=", v->lang == EVD_LANG_EN ? "zh" : "en");
        (void)evd_web_urlencode(b, v->path ? v->path : "/");
        evd_buf_str(b, "\">");
        msg(b, v, EVD_MSG_LANG_OTHER);
        evd_buf_str(b, "</a></div></header><main>");
}

void evd_page_end(struct evd_buf *b)
{
        evd_buf_str(b, "</main></body></html>\n");
}

void evd_page_message(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg title,
                      const char *line)
{
        evd_page_begin(b, v, title);
        evd_buf_str(b, "<h1>");
        msg(b, v, title);
        evd_buf_str(b, "</h1><p class=\"message\">");
        text(b, line);
        evd_buf_str(b, "</p>");
        evd_page_end(b);
}

/* ---- board ---- */

void evd_page_board(struct evd_buf *b, const struct evd_page_view *v)
{
        static const struct {
                const char *attr;
                enum evd_msg m;
        } strings[] = {
                { "safe", EVD_MSG_SAFE },
                { "docked", EVD_MSG_ST_DOCKED },
                { "scanning", EVD_MSG_ST_SCANNING },
                { "copying", EVD_MSG_ST_COPYING },
                { "done", EVD_MSG_ST_DONE },
                { "interrupted", EVD_MSG_ST_INTERRUPTED },
                { "failed", EVD_MSG_ST_FAILED },
                { "port", EVD_MSG_PORT },
                { "serial", EVD_MSG_SERIAL },
                { "holder", EVD_MSG_HOLDER },
                { "files", EVD_MSG_FILES },
                { "rate", EVD_MSG_RATE },
                { "left", EVD_MSG_TIME_LEFT },
                { "rejected", EVD_MSG_REJECTED },
                { "nodocks", EVD_MSG_NO_DOCKS },
                { "health", EVD_MSG_HEALTH },
                { "free", EVD_MSG_FREE_SPACE },
                { "items", EVD_MSG_ITEMS_TOTAL },
                { "scrub", EVD_MSG_SCRUB },
                { "scruboff", EVD_MSG_SCRUB_OFF },
                { "scrubrun", EVD_MSG_SCRUB_RUNNING },
                { "scrubidle", EVD_MSG_SCRUB_IDLE },
                { "alarms", EVD_MSG_ALARMS },
                { "warnings", EVD_MSG_WARNINGS },
                { "offline", EVD_MSG_OFFLINE },
                { "daysleft", EVD_MSG_DAYS_LEFT },
                { "replication", EVD_MSG_REPLICATION },
        };

        evd_page_begin(b, v, EVD_MSG_NAV_BOARD);
        evd_buf_str(b, "<div id=\"board\" data-events=\"/board/events\"");
        if (v->user) /* signed in: status's days left, replication and every warning */
                evd_buf_str(b, " data-status=\"/board/status\"");
        for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
                evd_buf_printf(b, " data-m-%s=\"", strings[i].attr);
                msg(b, v, strings[i].m);
                evd_buf_str(b, "\"");
        }
        evd_buf_str(b, "><div id=\"status\" class=\"offline\" hidden></div>"
                       "<section id=\"docks\" class=\"cards\"></section>"
                       "<section id=\"health\"></section><section id=\"station\"></section>"
                       "</div>");
        evd_page_end(b);
}

/* ---- sign-in ---- */

void evd_page_login(struct evd_buf *b, const struct evd_page_view *v, const char *csrf,
                    const char *next, const char *error)
{
        evd_page_begin(b, v, EVD_MSG_SIGN_IN);
        evd_buf_str(b, "<h1>");
        msg(b, v, EVD_MSG_SIGN_IN);
        evd_buf_str(b, "</h1>");
        if (error) {
                evd_buf_str(b, "<p class=\"error\" id=\"login-error\">");
                text(b, error);
                evd_buf_str(b, "</p>");
        }
        evd_buf_str(b, "<form method=\"post\" action=\"/login\" class=\"login\">");
        csrf_field(b, csrf);
        evd_buf_str(b, "<input type=\"hidden\" name=\"next\" value=\"");
        text(b, next);
        evd_buf_str(b, "\"><label>");
        msg(b, v, EVD_MSG_USER);
        evd_buf_str(b, "<input name=\"user\" autocomplete=\"username\" required></label><label>");
        msg(b, v, EVD_MSG_PASSWORD);
        evd_buf_str(b,
                    "<input name=\"password\" type=\"password\" autocomplete=\"current-password\" "
                    "required></label><button type=\"submit\">");
        msg(b, v, EVD_MSG_SIGN_IN);
        evd_buf_str(b, "</button></form>");
        evd_page_end(b);
}

/* ---- items ---- */

static const char *str(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

/* A JSON value shown as text: strings as they are, numbers, yes/no; objects and
 * arrays as compact JSON (escaped like everything else). */
static void value(struct evd_buf *b, const struct evd_page_view *v, const json_t *j)
{
        char *dump;

        if (!j || json_is_null(j))
                return;
        if (json_is_string(j))
                text(b, json_string_value(j));
        else if (json_is_integer(j))
                evd_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        else if (json_is_real(j))
                evd_buf_printf(b, "%.3f", json_real_value(j));
        else if (json_is_boolean(j))
                msg(b, v, json_is_true(j) ? EVD_MSG_YES : EVD_MSG_NO);
        else if ((dump = json_dumps(j, JSON_COMPACT))) {
                text(b, dump);
                free(dump);
        }
}

static void size_text(struct evd_buf *b, json_int_t n)
{
        if (n >= 1 << 30)
                evd_buf_printf(b, "%.1f GiB", (double)n / (1 << 30));
        else if (n >= 1 << 20)
                evd_buf_printf(b, "%.1f MiB", (double)n / (1 << 20));
        else
                evd_buf_printf(b, "%.1f KiB", (double)n / 1024);
}

static void filter_input(struct evd_buf *b, const struct evd_page_view *v,
                         const struct evd_web_form *q, const char *name, enum evd_msg m,
                         const char *type)
{
        evd_buf_str(b, "<label>");
        msg(b, v, m);
        evd_buf_printf(b, "<input name=\"%s\" type=\"%s\" value=\"", name, type);
        text(b, evd_web_form_get(q, name));
        evd_buf_str(b, "\"></label>");
}

static void filter_check(struct evd_buf *b, const struct evd_page_view *v,
                         const struct evd_web_form *q, const char *name, enum evd_msg m)
{
        evd_buf_printf(b,
                       "<label class=\"check\"><input type=\"checkbox\" name=\"%s\" value=\"1\"%s>",
                       name, evd_web_form_get(q, name) ? " checked" : "");
        msg(b, v, m);
        evd_buf_str(b, "</label>");
}

/* The query again from the cursor after (0: the first page), for the pager links. */
static void page_link(struct evd_buf *b, const struct evd_web_form *q, json_int_t after)
{
        bool first = true;

        evd_buf_str(b, "/items");
        for (size_t i = 0; i < q->n; i++) {
                if (strcmp(q->f[i].name, "after") == 0 || strcmp(q->f[i].name, "page") == 0)
                        continue;
                evd_buf_str(b, first ? "?" : "&amp;");
                first = false;
                (void)evd_web_urlencode(b, q->f[i].name);
                evd_buf_str(b, "=");
                (void)evd_web_urlencode(b, q->f[i].value);
        }
        if (after > 0)
                evd_buf_printf(b, "%safter=%" JSON_INTEGER_FORMAT, first ? "?" : "&amp;", after);
}

static void items_filters(struct evd_buf *b, const struct evd_page_view *v,
                          const struct evd_web_form *q)
{
        evd_buf_str(b, "<form method=\"get\" action=\"/items\" class=\"filters\">");
        filter_input(b, v, q, "case", EVD_MSG_F_CASE, "text");
        filter_input(b, v, q, "recorder", EVD_MSG_SERIAL, "text");
        filter_input(b, v, q, "handler", EVD_MSG_F_HANDLER, "text");
        filter_input(b, v, q, "since", EVD_MSG_F_SINCE, "date");
        filter_input(b, v, q, "until", EVD_MSG_F_UNTIL, "date");
        filter_check(b, v, q, "late", EVD_MSG_F_LATE);
        filter_check(b, v, q, "overdue", EVD_MSG_F_OVERDUE);
        filter_check(b, v, q, "unlabeled", EVD_MSG_F_UNLABELED);
        evd_buf_str(b, "<button type=\"submit\">");
        msg(b, v, EVD_MSG_FILTER);
        evd_buf_str(b, "</button></form>");
}

static void local_time(struct evd_buf *b, const char *t);

static void item_row(struct evd_buf *b, const struct evd_page_view *v, const json_t *it)
{
        const json_t *labels = json_object_get(it, "labels");
        json_int_t id = json_integer_value(json_object_get(it, "id"));

        evd_buf_printf(
                b,
                "<tr><td><input type=\"checkbox\" name=\"item\" value=\"%" JSON_INTEGER_FORMAT
                "\"></td><td><a href=\"/items/%" JSON_INTEGER_FORMAT "\">%" JSON_INTEGER_FORMAT
                "</a></td><td>",
                id, id, id);
        local_time(b, str(it, "recorded_at"));
        evd_buf_str(b, "</td><td>");
        text(b, str(it, "recorder"));
        evd_buf_str(b, "</td><td class=\"path\">");
        text(b, str(it, "original_path"));
        evd_buf_str(b, "</td><td>");
        size_text(b, json_integer_value(json_object_get(it, "size")));
        evd_buf_str(b, "</td><td>");
        text(b, str(labels, "case_no"));
        evd_buf_str(b, "</td><td>");
        text(b, str(labels, "handler"));
        evd_buf_str(b, "</td><td>");
        if (json_is_true(json_object_get(it, "late")))
                msg(b, v, EVD_MSG_F_LATE);
        evd_buf_str(b, "</td></tr>");
}

/* The pager: the first page (when this is not it), the count on this page and the next
 * page's cursor (when there is one). */
static void items_pager(struct evd_buf *b, const struct evd_page_view *v,
                        const struct evd_web_form *q, size_t n, const json_t *next)
{
        const char *after = evd_web_form_get(q, "after");

        evd_buf_str(b, "<p class=\"pager\">");
        if (after && after[0]) {
                evd_buf_str(b, "<a rel=\"first\" id=\"first-page\" href=\"");
                page_link(b, q, 0);
                evd_buf_str(b, "\">");
                msg(b, v, EVD_MSG_FIRST);
                evd_buf_str(b, "</a> ");
        }
        evd_buf_printf(b, "<span id=\"pageno\">%zu ", n);
        msg(b, v, EVD_MSG_TOTAL);
        evd_buf_str(b, "</span> ");
        if (json_is_integer(next) && json_integer_value(next) > 0) {
                evd_buf_str(b, "<a rel=\"next\" id=\"next-page\" href=\"");
                page_link(b, q, json_integer_value(next));
                evd_buf_str(b, "\">");
                msg(b, v, EVD_MSG_NEXT);
                evd_buf_str(b, "</a>");
        }
        evd_buf_str(b, "</p>");
}

void evd_page_items(struct evd_buf *b, const struct evd_page_view *v, const struct evd_web_form *q,
                    const json_t *page)
{
        static const enum evd_msg heads[] = { EVD_MSG_F_ID,      EVD_MSG_F_RECORDED, EVD_MSG_SERIAL,
                                              EVD_MSG_F_FILE,    EVD_MSG_F_SIZE,     EVD_MSG_F_CASE,
                                              EVD_MSG_F_HANDLER, EVD_MSG_F_LATE };
        const json_t *items = json_object_get(page, "items");
        size_t n = json_array_size(items);

        evd_page_begin(b, v, EVD_MSG_NAV_ITEMS);
        items_filters(b, v, q);
        evd_buf_str(b, "<form method=\"get\" action=\"/label\"><table "
                       "class=\"items\"><thead><tr><th></th>");
        for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
                evd_buf_str(b, "<th>");
                msg(b, v, heads[i]);
                evd_buf_str(b, "</th>");
        }
        evd_buf_str(b, "</tr></thead><tbody>");
        for (size_t i = 0; i < n && i < EVD_PAGE_SIZE; i++)
                item_row(b, v, json_array_get(items, i));
        evd_buf_str(b, "</tbody></table>");
        if (n == 0) {
                evd_buf_str(b, "<p class=\"empty\">");
                msg(b, v, EVD_MSG_NONE_FOUND);
                evd_buf_str(b, "</p>");
        }
        items_pager(b, v, q, n < EVD_PAGE_SIZE ? n : EVD_PAGE_SIZE, json_object_get(page, "next"));
        evd_buf_str(b, "<button type=\"submit\">");
        msg(b, v, EVD_MSG_NAV_LABEL);
        evd_buf_str(b, "</button></form>");
        evd_page_end(b);
}

static void field_row(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg m,
                      const json_t *j)
{
        evd_buf_str(b, "<tr><th>");
        msg(b, v, m);
        evd_buf_str(b, "</th><td>");
        value(b, v, j);
        evd_buf_str(b, "</td></tr>");
}

/* A time the daemon gives (RFC 3339 UTC) shown in the station's zone (the process's
 * TZ, set from [station] timezone), the daemon's own text kept in datetime; a time
 * that does not parse is shown as it is. */
static void local_time(struct evd_buf *b, const char *t)
{
        char local[EVD_TIME_LOCAL_STR];
        int64_t secs;

        if (!t)
                return;
        evd_buf_str(b, "<time datetime=\"");
        text(b, t);
        evd_buf_str(b, "\">");
        if (evd_time_parse(t, &secs) == 0) {
                evd_time_format_local(secs, local);
                text(b, local);
        } else {
                text(b, t);
        }
        evd_buf_str(b, "</time>");
}

/* A field row whose value is a time, shown in the station's zone; none: no row. */
static void time_row(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg m,
                     const char *t)
{
        if (!t)
                return;
        evd_buf_str(b, "<tr><th>");
        msg(b, v, m);
        evd_buf_str(b, "</th><td>");
        local_time(b, t);
        evd_buf_str(b, "</td></tr>");
}

/* A section's title and its table's head: heads[k] for column k, or, where heads[k] is
 * EVD_MSG_COUNT, the literal keys[k] (keys may be NULL when none is). */
static void section_head(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg m,
                         const char *id, const enum evd_msg *heads, const char *const *keys,
                         size_t n)
{
        evd_buf_str(b, "<h2>");
        msg(b, v, m);
        evd_buf_printf(b, "</h2><table class=\"list\" id=\"%s\"><thead><tr>", id);
        for (size_t k = 0; k < n; k++) {
                evd_buf_str(b, "<th>");
                if (heads[k] == EVD_MSG_COUNT && keys)
                        text(b, keys[k]);
                else
                        msg(b, v, heads[k]);
                evd_buf_str(b, "</th>");
        }
        evd_buf_str(b, "</tr></thead><tbody>");
}

/* Where else the same bytes were found: recorder, path, size, the file's time and when
 * the station saw it (evd_item_occurrence's record). */
static void occurrences_section(struct evd_buf *b, const struct evd_page_view *v,
                                const json_t *list)
{
        static const enum evd_msg heads[] = { EVD_MSG_SERIAL, EVD_MSG_F_FILE, EVD_MSG_F_SIZE,
                                              EVD_MSG_O_MTIME, EVD_MSG_O_SEEN };
        const json_t *o;
        size_t i;

        if (json_array_size(list) == 0)
                return;
        section_head(b, v, EVD_MSG_F_OCCURRENCES, "occurrences", heads, NULL,
                     sizeof(heads) / sizeof(heads[0]));
        json_array_foreach(list, i, o)
        {
                evd_buf_str(b, "<tr><td>");
                text(b, str(o, "recorder"));
                evd_buf_str(b, "</td><td class=\"path\">");
                text(b, str(o, "original_path"));
                evd_buf_str(b, "</td><td>");
                if (json_is_integer(json_object_get(o, "size")))
                        size_text(b, json_integer_value(json_object_get(o, "size")));
                evd_buf_str(b, "</td><td>");
                local_time(b, str(o, "mtime"));
                evd_buf_str(b, "</td><td>");
                local_time(b, str(o, "seen_at"));
                evd_buf_str(b, "</td></tr>");
        }
        evd_buf_str(b, "</tbody></table>");
}

/* The notes (`note`): when in the station's zone, who, and the text as typed (line
 * breaks kept by the style sheet). */
static void notes_section(struct evd_buf *b, const struct evd_page_view *v, const json_t *list)
{
        static const enum evd_msg heads[] = { EVD_MSG_A_TIME, EVD_MSG_N_BY, EVD_MSG_N_TEXT };
        const json_t *n;
        size_t i;

        if (json_array_size(list) == 0)
                return;
        section_head(b, v, EVD_MSG_F_NOTES, "notes", heads, NULL, sizeof(heads) / sizeof(heads[0]));
        json_array_foreach(list, i, n)
        {
                evd_buf_str(b, "<tr><td>");
                local_time(b, str(n, "time"));
                evd_buf_str(b, "</td><td>");
                text(b, str(n, "by"));
                evd_buf_str(b, "</td><td class=\"note\">");
                if (json_is_string(n)) /* a note kept as bare text */
                        text(b, json_string_value(n));
                else
                        text(b, str(n, "text"));
                evd_buf_str(b, "</td></tr>");
        }
        evd_buf_str(b, "</tbody></table>");
}

static void item_link(struct evd_buf *b, const json_t *id)
{
        if (json_is_integer(id))
                evd_buf_printf(b,
                               "<a href=\"/items/%" JSON_INTEGER_FORMAT "\">%" JSON_INTEGER_FORMAT
                               "</a>",
                               json_integer_value(id), json_integer_value(id));
}

/* The gaps in the recorder's file numbering next to this item (sequence.c): the
 * folder, the missing numbers, the items either side and whether a note explains it. */
static void gaps_section(struct evd_buf *b, const struct evd_page_view *v, const json_t *list)
{
        static const enum evd_msg heads[] = { EVD_MSG_G_FOLDER, EVD_MSG_G_MISSING,
                                              EVD_MSG_G_BETWEEN, EVD_MSG_G_EXPLAINED };
        const json_t *g;
        size_t i;

        if (json_array_size(list) == 0)
                return;
        section_head(b, v, EVD_MSG_F_GAPS, "gaps", heads, NULL, sizeof(heads) / sizeof(heads[0]));
        json_array_foreach(list, i, g)
        {
                const json_t *from = json_object_get(g, "missing_from"),
                             *to = json_object_get(g, "missing_to");
                bool explained = json_is_true(json_object_get(g, "explained"));

                evd_buf_str(b, "<tr><td class=\"path\">");
                text(b, str(g, "folder"));
                evd_buf_str(b, "</td><td class=\"missing\">");
                if (json_is_integer(from))
                        evd_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(from));
                if (json_is_integer(to) && json_integer_value(to) != json_integer_value(from))
                        evd_buf_printf(b, "–%" JSON_INTEGER_FORMAT, json_integer_value(to));
                evd_buf_str(b, "</td><td class=\"between\">");
                item_link(b, json_object_get(g, "before_id"));
                evd_buf_str(b, " – ");
                item_link(b, json_object_get(g, "after_id"));
                evd_buf_printf(b, "</td><td class=\"%s\">",
                               explained ? "explained" : "unexplained");
                msg(b, v, explained ? EVD_MSG_G_EXPLAINED : EVD_MSG_G_UNEXPLAINED);
                evd_buf_str(b, "</td></tr>");
        }
        evd_buf_str(b, "</tbody></table>");
}

void evd_page_text(struct evd_buf *b, const char *s)
{
        text(b, s);
}

void evd_page_value(struct evd_buf *b, const struct evd_page_view *v, const json_t *j)
{
        value(b, v, j);
}

void evd_page_csrf(struct evd_buf *b, const char *csrf)
{
        csrf_field(b, csrf);
}

void evd_page_size(struct evd_buf *b, json_int_t n)
{
        size_text(b, n);
}

/* A word from the message table for a value the daemon names (NULL: unknown). */
static const char *named(const struct evd_page_view *v, const char *name)
{
        static const struct {
                const char *name;
                enum evd_msg m;
        } words[] = { { "ok", EVD_MSG_I_OK },
                      { "truncated", EVD_MSG_I_TRUNCATED },
                      { "corrupt", EVD_MSG_I_CORRUPT },
                      { "not-media", EVD_MSG_I_NOT_MEDIA },
                      { "container", EVD_MSG_TS_CONTAINER },
                      { "filename", EVD_MSG_TS_FILENAME },
                      { "filesystem", EVD_MSG_TS_FILESYSTEM } };

        for (size_t i = 0; name && i < sizeof(words) / sizeof(words[0]); i++)
                if (strcmp(name, words[i].name) == 0)
                        return evd_msg(v->lang, words[i].m);
        return NULL;
}

/* A named value translated (or as it is, when the table has no word for it). */
static void named_row(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg m,
                      const char *id, const char *name)
{
        evd_buf_printf(b, "<tr id=\"%s\"><th>", id);
        msg(b, v, m);
        evd_buf_printf(b, "</th><td data-value=\"");
        text(b, name);
        evd_buf_str(b, "\">");
        text(b, named(v, name) ?: name);
        evd_buf_str(b, "</td></tr>");
}

static void dl_term(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg m)
{
        evd_buf_str(b, "<dt>");
        msg(b, v, m);
        evd_buf_str(b, "</dt><dd>");
}

static void stream_facts(struct evd_buf *b, const json_t *st)
{
        const json_t *w = json_object_get(st, "width"), *h = json_object_get(st, "height");
        const json_t *fps = json_object_get(st, "frame_rate");
        const json_t *hz = json_object_get(st, "sample_rate"),
                     *ch = json_object_get(st, "channels");

        text(b, str(st, "type"));
        evd_buf_str(b, " ");
        text(b, str(st, "codec"));
        if (json_is_integer(w) && json_is_integer(h))
                evd_buf_printf(b, ", %" JSON_INTEGER_FORMAT "×%" JSON_INTEGER_FORMAT,
                               json_integer_value(w), json_integer_value(h));
        if (json_is_number(fps))
                evd_buf_printf(b, ", %.3g fps", json_number_value(fps));
        if (json_is_integer(hz))
                evd_buf_printf(b, ", %" JSON_INTEGER_FORMAT " Hz", json_integer_value(hz));
        if (json_is_integer(ch))
                evd_buf_printf(b, ", %" JSON_INTEGER_FORMAT " ch", json_integer_value(ch));
}

/* The media facts as a definition list: container, duration, streams, the verdict's
 * reason and FFmpeg's log. */
static void media_facts(struct evd_buf *b, const struct evd_page_view *v, const json_t *media)
{
        const json_t *e;
        size_t i;

        evd_buf_str(b, "<tr><th>");
        msg(b, v, EVD_MSG_F_MEDIA);
        evd_buf_str(b, "</th><td><dl class=\"media\" id=\"media\">");
        if (str(media, "container")) {
                dl_term(b, v, EVD_MSG_MF_CONTAINER);
                text(b, str(media, "container"));
                evd_buf_str(b, "</dd>");
        }
        if (json_is_number(json_object_get(media, "duration_s"))) {
                dl_term(b, v, EVD_MSG_MF_DURATION);
                evd_buf_printf(b, "%.3f s",
                               json_number_value(json_object_get(media, "duration_s")));
                evd_buf_str(b, "</dd>");
        }
        if (str(media, "creation_time")) {
                dl_term(b, v, EVD_MSG_MF_CREATED);
                text(b, str(media, "creation_time"));
                evd_buf_str(b, "</dd>");
        }
        json_array_foreach(json_object_get(media, "streams"), i, e)
        {
                evd_buf_str(b, "<dt>");
                msg(b, v, EVD_MSG_MF_STREAM);
                evd_buf_printf(b, " %zu</dt><dd>", i);
                stream_facts(b, e);
                evd_buf_str(b, "</dd>");
        }
        if (json_is_boolean(json_object_get(media, "no_audio"))) {
                dl_term(b, v, EVD_MSG_MF_NO_AUDIO);
                value(b, v, json_object_get(media, "no_audio"));
                evd_buf_str(b, "</dd>");
        }
        if (str(media, "integrity_reason")) {
                dl_term(b, v, EVD_MSG_MF_REASON);
                text(b, str(media, "integrity_reason"));
                evd_buf_str(b, "</dd>");
        }
        json_array_foreach(json_object_get(media, "log"), i, e)
        {
                dl_term(b, v, EVD_MSG_MF_LOG);
                value(b, v, e);
                evd_buf_str(b, "</dd>");
        }
        evd_buf_str(b, "</dl></td></tr>");
}

/* The hold: yes/no, and who placed it, when and why. */
static void hold_row(struct evd_buf *b, const struct evd_page_view *v, const json_t *it)
{
        const json_t *info = json_object_get(it, "hold_info");

        evd_buf_str(b, "<tr id=\"hold\"><th>");
        msg(b, v, EVD_MSG_F_HOLD);
        evd_buf_str(b, "</th><td>");
        value(b, v, json_object_get(it, "hold"));
        if (json_is_true(json_object_get(it, "hold")) && json_is_object(info)) {
                evd_buf_str(b, "<dl class=\"hold\">");
                dl_term(b, v, EVD_MSG_U_ACTOR);
                text(b, str(info, "by"));
                evd_buf_str(b, "</dd>");
                dl_term(b, v, EVD_MSG_A_TIME);
                local_time(b, str(info, "time"));
                evd_buf_str(b, "</dd>");
                dl_term(b, v, EVD_MSG_X_REASON);
                evd_buf_str(b, "<span id=\"hold-reason\">");
                text(b, str(info, "reason"));
                evd_buf_str(b, "</span></dd></dl>");
        }
        evd_buf_str(b, "</td></tr>");
}

static void evidence_row(struct evd_buf *b, const struct evd_page_view *v, const json_t *it)
{
        const json_t *c;
        size_t i;

        evd_buf_str(b, "<tr id=\"evidence\"><th>");
        msg(b, v, EVD_MSG_F_EVIDENCE);
        evd_buf_str(b, "</th><td>");
        value(b, v, json_object_get(it, "evidence"));
        json_array_foreach(json_object_get(it, "evidence_cases"), i, c)
        {
                evd_buf_str(b, i ? ", " : ": ");
                value(b, v, c);
        }
        evd_buf_str(b, "</td></tr>");
}

/* A titled section of objects, one row each: keys[i] under heads[i]; none: nothing. */
static void object_table(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg title,
                         const char *id, const json_t *rows, const char *const *keys,
                         const enum evd_msg *heads, size_t n)
{
        const json_t *row;
        size_t i;

        if (json_array_size(rows) == 0)
                return;
        section_head(b, v, title, id, heads, keys, n);
        json_array_foreach(rows, i, row)
        {
                evd_buf_str(b, "<tr>");
                for (size_t k = 0; k < n; k++) {
                        const char *dot = strchr(keys[k], '.');
                        const json_t *cell =
                                dot ? json_object_get(json_object_get(row, "actor"), dot + 1)
                                    : json_object_get(row, keys[k]);

                        evd_buf_str(b, "<td>");
                        if (strcmp(keys[k], "time") == 0 && json_is_string(cell))
                                local_time(b, json_string_value(cell));
                        else
                                value(b, v, cell);
                        evd_buf_str(b, "</td>");
                }
                evd_buf_str(b, "</tr>");
        }
        evd_buf_str(b, "</tbody></table>");
}

static void exports_section(struct evd_buf *b, const struct evd_page_view *v, const json_t *ex)
{
        static const char *const keys[] = { "time",      "volume",   "volumes",     "maker",
                                            "extractor", "approver", "image_sha256" };
        static const enum evd_msg heads[] = { EVD_MSG_A_TIME,      EVD_MSG_X_VOLUME,
                                              EVD_MSG_C_TOTAL,     EVD_MSG_X_MAKER,
                                              EVD_MSG_X_EXTRACTOR, EVD_MSG_X_APPROVER,
                                              EVD_MSG_COUNT };

        object_table(b, v, EVD_MSG_F_EXPORTS, "exports", ex, keys, heads,
                     sizeof(keys) / sizeof(keys[0]));
}

/* The item's own audit entries (audit --item), oldest first. */
static void history_section(struct evd_buf *b, const struct evd_page_view *v, const json_t *history)
{
        static const char *const keys[] = { "seq", "time", "event", "actor.name", "details" };
        static const enum evd_msg heads[] = { EVD_MSG_COUNT, EVD_MSG_A_TIME, EVD_MSG_U_EVENT,
                                              EVD_MSG_U_ACTOR, EVD_MSG_U_DETAILS };

        object_table(b, v, EVD_MSG_F_HISTORY, "history", history, keys, heads,
                     sizeof(keys) / sizeof(keys[0]));
}

/* The fields a clerk labels and an archivist keeps. */
static void item_case_fields(struct evd_buf *b, const struct evd_page_view *v, const json_t *it)
{
        const json_t *labels = json_object_get(it, "labels");

        field_row(b, v, EVD_MSG_F_CASE, json_object_get(labels, "case_no"));
        field_row(b, v, EVD_MSG_F_PARTY, json_object_get(labels, "party"));
        field_row(b, v, EVD_MSG_F_HANDLER, json_object_get(labels, "handler"));
        field_row(b, v, EVD_MSG_F_STAGE, json_object_get(it, "stage"));
        time_row(b, v, EVD_MSG_F_LABELLED, str(it, "labelled_at"));
        field_row(b, v, EVD_MSG_F_LABEL_LATE, json_object_get(it, "label_late"));
        field_row(b, v, EVD_MSG_F_RETAIN, json_object_get(it, "retain_until"));
        hold_row(b, v, it);
        evidence_row(b, v, it);
        field_row(b, v, EVD_MSG_F_SECRET, json_object_get(it, "secret"));
}

void evd_page_item(struct evd_buf *b, const struct evd_page_view *v, const json_t *it,
                   const json_t *history)
{
        const json_t *media = json_object_get(it, "media");

        evd_page_begin(b, v, EVD_MSG_NAV_ITEMS);
        evd_buf_printf(
                b, "<h1>%s %" JSON_INTEGER_FORMAT "</h1><table class=\"fields\" id=\"item\">",
                evd_msg(v->lang, EVD_MSG_F_ID), json_integer_value(json_object_get(it, "id")));
        field_row(b, v, EVD_MSG_F_FILE, json_object_get(it, "original_path"));
        field_row(b, v, EVD_MSG_SERIAL, json_object_get(it, "recorder"));
        time_row(b, v, EVD_MSG_F_RECORDED, str(it, "recorded_at"));
        if (str(it, "time_source"))
                named_row(b, v, EVD_MSG_F_TIME_SOURCE, "time-source", str(it, "time_source"));
        field_row(b, v, EVD_MSG_F_CLOCK_SUSPECT, json_object_get(it, "clock_suspect"));
        time_row(b, v, EVD_MSG_F_INGESTED, str(it, "ingested_at"));
        time_row(b, v, EVD_MSG_F_DEADLINE, str(it, "deadline"));
        field_row(b, v, EVD_MSG_F_LATE, json_object_get(it, "late"));
        field_row(b, v, EVD_MSG_F_SIZE, json_object_get(it, "size"));
        item_case_fields(b, v, it);
        time_row(b, v, EVD_MSG_F_VERIFIED, str(it, "verified_at"));
        if (str(media, "integrity"))
                named_row(b, v, EVD_MSG_F_INTEGRITY, "integrity", str(media, "integrity"));
        if (json_is_object(media))
                media_facts(b, v, media);
        evd_buf_str(b, "<tr><th>sha256</th><td class=\"hash\">");
        text(b, str(it, "sha256"));
        evd_buf_str(b, "</td></tr></table>");
        exports_section(b, v, json_object_get(it, "exports"));
        occurrences_section(b, v, json_object_get(it, "occurrences"));
        notes_section(b, v, json_object_get(it, "notes"));
        gaps_section(b, v, json_object_get(it, "sequence_gaps"));
        history_section(b, v, history);
        evd_page_end(b);
}

/* ---- label ---- */

static void label_input(struct evd_buf *b, const struct evd_page_view *v,
                        const struct evd_web_form *values, const char *name, enum evd_msg m,
                        const char *field, const char *error, const char *extra)
{
        evd_buf_printf(b, "<p class=\"field\"><label for=\"f-%s\">", name);
        msg(b, v, m);
        evd_buf_printf(b, "</label><input id=\"f-%s\" name=\"%s\" value=\"", name, name);
        text(b, evd_web_form_get(values, name));
        evd_buf_printf(b, "\"%s><span class=\"error\" id=\"e-%s\">", extra, name);
        if (field && error && strcmp(field, name) == 0)
                text(b, error);
        evd_buf_str(b, "</span></p>");
}

void evd_page_label(struct evd_buf *b, const struct evd_page_view *v, const char *case_pattern,
                    const struct evd_web_form *values, const char *field, const char *error,
                    const json_t *done)
{
        const char *item;

        evd_page_begin(b, v, EVD_MSG_NAV_LABEL);
        evd_buf_str(b, "<h1>");
        msg(b, v, EVD_MSG_NAV_LABEL);
        evd_buf_str(b, "</h1>");
        if (done) {
                evd_buf_str(b, "<p class=\"ok\" id=\"label-done\">");
                msg(b, v, EVD_MSG_LABEL_DONE);
                evd_buf_printf(b, ": %zu</p>", json_array_size(json_object_get(done, "items")));
        }
        if (error && !field) {
                evd_buf_str(b, "<p class=\"error\" id=\"label-error\">");
                text(b, error);
                evd_buf_str(b, "</p>");
        }
        evd_buf_str(b, "<form method=\"post\" action=\"/label\" id=\"label-form\" data-pattern=\"");
        text(b, case_pattern);
        evd_buf_str(b, "\" data-bad=\"");
        msg(b, v, EVD_MSG_CASE_BAD);
        evd_buf_str(b, "\">");
        csrf_field(b, v->csrf);
        evd_buf_str(b, "<p class=\"help\">");
        msg(b, v, EVD_MSG_LABEL_HELP);
        evd_buf_str(b, "</p><ul class=\"chosen\">");
        for (size_t i = 0; (item = evd_web_form_get_nth(values, "item", i)); i++) {
                evd_buf_str(b,
                            "<li><label><input type=\"checkbox\" name=\"item\" checked value=\"");
                text(b, item);
                evd_buf_str(b, "\">");
                text(b, item);
                evd_buf_str(b, "</label></li>");
        }
        evd_buf_str(b, "</ul><span class=\"error\" id=\"e-items\">");
        if (field && error && strcmp(field, "items") == 0)
                text(b, error);
        evd_buf_str(b, "</span>");
        label_input(b, v, values, "session", EVD_MSG_F_SESSION, field, error,
                    " inputmode=\"numeric\"");
        label_input(b, v, values, "case", EVD_MSG_F_CASE, field, error, " required");
        label_input(b, v, values, "party", EVD_MSG_F_PARTY, field, error, " required");
        label_input(b, v, values, "handler", EVD_MSG_F_HANDLER, field, error, "");
        evd_buf_str(b, "<button type=\"submit\">");
        msg(b, v, EVD_MSG_LABEL_SUBMIT);
        evd_buf_str(b, "</button></form>");
        evd_page_end(b);
}
