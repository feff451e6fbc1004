/* console_pages: the web console's route table and its pages, rendered as HTML into a
 * buffer from what the daemon answered. Pure functions of their inputs: no server, no
 * socket, so that tests can render a page from hostile JSON and read the HTML.
 *
 * Every value is escaped (web.h); pages load only /static/ assets (no inline script or
 * style: the console sends Content-Security-Policy: default-src 'self'). Pointers
 * passed in are borrowed. */
#ifndef EVD_CONSOLE_PAGES_H
#define EVD_CONSOLE_PAGES_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "msg.h"
#include "web.h"

enum evd_page {
        EVD_PAGE_ROOT,
        EVD_PAGE_BOARD,
        EVD_PAGE_EVENTS,
        EVD_PAGE_STATIC,
        EVD_PAGE_LANG,
        EVD_PAGE_LOGIN_FORM,
        EVD_PAGE_LOGIN,
        EVD_PAGE_LOGOUT,
        EVD_PAGE_ITEMS,
        EVD_PAGE_ITEM,
        EVD_PAGE_LABEL_FORM,
        EVD_PAGE_LABEL,
        EVD_PAGE_EXPORT,
        EVD_PAGE_ACCESS,
        EVD_PAGE_COMPLIANCE,
        EVD_PAGE_AUDIT,
        EVD_PAGE_ADMIN,
        EVD_PAGE_EXPORT_RUN,
        EVD_PAGE_DOWNLOAD,
        EVD_PAGE_ACCESS_RUN,
        EVD_PAGE_VERIFY,
        EVD_PAGE_ADMIN_RUN,
        EVD_PAGE_BOARD_STATUS,
};

extern const struct evd_web_route evd_console_routes[];
extern const size_t evd_console_n_routes;

/* The least role a page needs: NULL for public pages, else "clerk", "archivist" or
 * "admin". */
const char *evd_page_role(enum evd_page page);

/* True when role (may be NULL) is at least need (NULL: anyone). */
bool evd_page_role_ok(const char *role, const char *need);

#define EVD_PAGE_SIZE 50 /* items per page */

/* Who is looking, for the frame of every page. */
struct evd_page_view {
        enum evd_lang lang;
        const char *path;               /* the page's own path, for the language switch */
        const char *user, *role, *csrf; /* NULL when not signed in */
};

/* A whole page: the frame around body_fn's output. */
void evd_page_begin(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg title);
void evd_page_end(struct evd_buf *b);

/* The board (its cards are drawn by board.js from /board/events). */
void evd_page_board(struct evd_buf *b, const struct evd_page_view *v);

/* The sign-in form; error (may be NULL) shown above it; next is where to go after. */
void evd_page_login(struct evd_buf *b, const struct evd_page_view *v, const char *csrf,
                    const char *next, const char *error);

/* The items page: filters (query, echoed), one page of items (page: the daemon's
 * paged `items` answer, {"items": [...], "next": ID or null}, in recording-time order)
 * and links to the first page (when query has "after") and to the next (the filters
 * kept, after=next). */
void evd_page_items(struct evd_buf *b, const struct evd_page_view *v,
                    const struct evd_web_form *query, const json_t *page);

/* One item, every field (media facts as a list, verdicts translated), its exports,
 * occurrences, notes (times in the process's zone, TZ) and sequence gaps as rows, and
 * history (may be NULL: not shown), the item's own audit entries (audit --item). */
void evd_page_item(struct evd_buf *b, const struct evd_page_view *v, const json_t *item,
                   const json_t *history);

/* The label form: values (the posted form or the query) fill it; field is the field
 * an error belongs to ("case", "party", "handler", "items"; NULL for none), error its
 * text; done (may be NULL) is the daemon's answer to a successful label. */
void evd_page_label(struct evd_buf *b, const struct evd_page_view *v, const char *case_pattern,
                    const struct evd_web_form *values, const char *field, const char *error,
                    const json_t *done);

/* Pieces for pages: s escaped (NULL as nothing); a JSON value as text; the hidden
 * CSRF field; a byte count. */
void evd_page_text(struct evd_buf *b, const char *s);
void evd_page_value(struct evd_buf *b, const struct evd_page_view *v, const json_t *j);
void evd_page_csrf(struct evd_buf *b, const char *csrf);
void evd_page_size(struct evd_buf *b, json_int_t n);

/* ---- the office's pages (console_office_pages.c) ---- */

/* The export form, with values (may be NULL) and an error (may be NULL); done (may be
 * NULL) is the daemon's answer, links the download paths of its volumes in order. */
void evd_page_export(struct evd_buf *b, const struct evd_page_view *v,
                     const struct evd_web_form *values, const char *error, const json_t *done,
                     const json_t *links);

/* The access register: the form (values, error), done/link after a registration (a
 * download path for a copy, or NULL), and the register (access-log's rows). */
void evd_page_access(struct evd_buf *b, const struct evd_page_view *v,
                     const struct evd_web_form *values, const char *error, const char *done,
                     const char *link, const json_t *log);

/* The compliance page for year: months [{month "YYYY-MM", total, on_time}], handlers
 * [{name, total, on_time}], late and overdue item lists. */
void evd_page_compliance(struct evd_buf *b, const struct evd_page_view *v, int year,
                         const json_t *months, const json_t *handlers, const json_t *late,
                         const json_t *overdue);

#define EVD_AUDIT_PAGE_SIZE 100 /* audit entries a page */

/* One page of audit entries (already filtered; newest first) with links to the newer
 * page (after=newer) and the older one (before=older), each 0 when there is none;
 * verdict (may be NULL) is verify's answer. */
void evd_page_audit(struct evd_buf *b, const struct evd_page_view *v,
                    const struct evd_web_form *query, const json_t *entries, json_int_t newer,
                    json_int_t older, const json_t *verdict);

/* The admin page: recorders, accounts, the forms (hold, release, evidence, purge, an
 * account's password, disabling an account); done (may be NULL) an answer to
 * show with its title, error (may be NULL). */
void evd_page_admin(struct evd_buf *b, const struct evd_page_view *v, const json_t *recorders,
                    const json_t *users, const char *error, const json_t *done);

/* A page with a title and one line of text (errors, pages not there yet). */
void evd_page_message(struct evd_buf *b, const struct evd_page_view *v, enum evd_msg title,
                      const char *text);

#endif
