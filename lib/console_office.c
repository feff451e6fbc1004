/* The office's handlers of the web console (console_internal.h): export and access
 * copies delivered to the browser, the access register, compliance, audit with verify,
 * admin, and the signed-in board's station status.
 *
 * Files for the browser: when evidockd asks for an output ("need_fd", deliver.h), the
 * console makes an unnamed file of its own (O_TMPFILE in the spool folder, else a
 * memfd: both are empty regular files open for reading and writing, which is what the
 * daemon checks) and passes it; once the request succeeds the file waits in the
 * downloads table for the session that made it, fetched once (streamed from the file
 * by libmicrohttpd) or dropped after an hour. Nothing is ever named on disk, so a
 * crash leaves nothing behind. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "console_internal.h"
#include "deliver.h"
#include "station.h"
#include "util.h"

#define EXPORT_TIMEOUT_MS (10 * 60 * 1000) /* for each reply line of a long request */
#define FILES_MAX 32                       /* files of one request (volumes, a copy) */
#define ACCESS_ROWS EVD_ITEMS_PAGE_MAX     /* the newest entries the access register shows */

/* ---- downloads ---- */

static int spool_file(struct evd_console *c)
{
        int fd = open(c->spool, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

        if (fd < 0)
                fd = memfd_create("evidock-download", MFD_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static void slot_clear(struct evd_console_download *d)
{
        if (d->fd >= 0)
                (void)close(d->fd);
        memset(d, 0, sizeof(*d));
        d->fd = -1;
}

/* Keep fd (taken) for session sid as name; its id into id. -EBUSY when full. */
static int download_add(struct evd_console *c, const char *sid, const char *name, int fd,
                        char id[EVD_WEB_ID_LEN + 1])
{
        int64_t now = evd_clock_now();
        int r = -EBUSY;

        if (evd_web_random_id(id) < 0) {
                (void)close(fd);
                return -EIO;
        }
        pthread_mutex_lock(&c->pool_lock);
        for (size_t i = 0; i < EVD_CONSOLE_DOWNLOADS_MAX; i++)
                if (c->downloads[i].fd >= 0 && c->downloads[i].expires <= now)
                        slot_clear(&c->downloads[i]);
        for (size_t i = 0; i < EVD_CONSOLE_DOWNLOADS_MAX && r < 0; i++) {
                struct evd_console_download *d = &c->downloads[i];

                if (d->fd >= 0)
                        continue;
                memcpy(d->id, id, EVD_WEB_ID_LEN + 1);
                (void)snprintf(d->sid, sizeof(d->sid), "%s", sid);
                (void)snprintf(d->name, sizeof(d->name), "%s", name);
                d->fd = fd;
                d->expires = now + EVD_CONSOLE_DOWNLOAD_TTL_S;
                r = 0;
        }
        pthread_mutex_unlock(&c->pool_lock);
        if (r < 0)
                (void)close(fd);
        return r;
}

/* Take the download id of session sid: its fd (the caller's) and name. */
static int download_take(struct evd_console *c, const char *sid, const char *id, char *name,
                         size_t n)
{
        int64_t now = evd_clock_now();
        int fd = -ENOENT;

        pthread_mutex_lock(&c->pool_lock);
        for (size_t i = 0; i < EVD_CONSOLE_DOWNLOADS_MAX; i++) {
                struct evd_console_download *d = &c->downloads[i];

                if (d->fd < 0 || !evd_web_token_equal(d->id, id) ||
                    !evd_web_token_equal(d->sid, sid) || d->expires <= now)
                        continue;
                fd = d->fd;
                d->fd = -1;
                (void)snprintf(name, n, "%s", d->name);
                slot_clear(d);
                break;
        }
        pthread_mutex_unlock(&c->pool_lock);
        return fd;
}

void evd_console_downloads_free(struct evd_console *c)
{
        for (size_t i = 0; i < EVD_CONSOLE_DOWNLOADS_MAX; i++)
                if (c->downloads[i].fd >= 0)
                        slot_clear(&c->downloads[i]);
}

static enum MHD_Result h_download(struct ctx *x)
{
        char name[256];
        struct evd_buf cd = { .max = 4096 };
        struct MHD_Response *resp;
        struct stat st;
        int fd = download_take(x->c, x->session.id, x->param, name, sizeof(name));

        if (fd < 0)
                return evd_console_message(x, MHD_HTTP_NOT_FOUND, EVD_MSG_NOT_FOUND, x->path);
        if (fstat(fd, &st) < 0 || evd_web_content_disposition(&cd, name) < 0 || cd.error ||
            !(resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd))) {
                (void)close(fd);
                evd_buf_free(&cd);
                return MHD_NO;
        }
        (void)MHD_add_response_header(resp, "Content-Disposition", cd.data);
        (void)MHD_add_response_header(resp, "Cache-Control", "no-store");
        evd_buf_free(&cd);
        return evd_console_respond(x, MHD_HTTP_OK, "application/octet-stream", NULL, resp);
}

/* ---- requests that make files ---- */

struct files {
        struct evd_console *c;
        struct evd_ctl *ctl;
        int fd[FILES_MAX];
        char name[FILES_MAX][256]; /* the daemon's proposed name (a copy), or "" */
        size_t n;
};

static void files_close(struct files *f)
{
        for (size_t i = 0; i < f->n; i++)
                if (f->fd[i] >= 0)
                        (void)close(f->fd[i]);
        f->n = 0;
}

/* A "need_fd" progress line: make a file and pass it (or 'N' when none can be made). */
static void on_progress(void *p, const json_t *progress)
{
        struct files *f = p;
        const json_t *need = json_object_get(progress, "need_fd");
        const char *name = json_string_value(json_object_get(need, "name"));
        int fd = -1;

        if (!need)
                return;
        if (f->n < FILES_MAX && (fd = spool_file(f->c)) >= 0) {
                f->fd[f->n] = fd;
                (void)snprintf(f->name[f->n], sizeof(f->name[f->n]), "%s", name ? name : "");
                f->n++;
        }
        (void)evd_deliver_send(evd_ctl_fd(f->ctl), fd);
}

/* Run cmd with "fds": true as the signed-in person, collecting the files made. */
static int ask_files(struct ctx *x, const char *cmd, json_t *args, struct files *f, json_t **ret,
                     struct evd_err *err)
{
        int r = evd_console_ctl_get(x->c, &f->ctl, err);

        if (r < 0)
                return r;
        (void)json_object_set_new(args, "fds", json_true());
        r = evd_ctl_request(f->ctl, cmd, args, x->session.token, EXPORT_TIMEOUT_MS, on_progress, f,
                            ret, err);
        evd_console_ctl_put(x->c, f->ctl);
        f->ctl = NULL;
        if (r < 0)
                files_close(f);
        return r;
}

/* A file name for the browser from s: no '/', no control characters. */
static void safe_name(char *s)
{
        for (unsigned char *p = (unsigned char *)s; *p; p++)
                if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\' || *p == '"')
                        *p = '_';
}

/* Hand the files over to the downloads table; a link {href, name, size} each. */
static json_t *files_publish(struct ctx *x, struct files *f, const char *base)
{
        json_t *links = json_array();

        for (size_t i = 0; i < f->n; i++) {
                char id[EVD_WEB_ID_LEN + 1], name[256], href[80];
                struct stat st = { 0 };

                if (f->name[i][0])
                        (void)snprintf(name, sizeof(name), "%s", f->name[i]);
                else if (f->n == 1)
                        (void)evd_snprintf(name, sizeof(name), "%s.iso", base);
                else
                        (void)evd_snprintf(name, sizeof(name), "%s-%zu.iso", base, i + 1);
                safe_name(name);
                (void)fstat(f->fd[i], &st);
                if (download_add(x->c, x->session.id, name, f->fd[i], id) < 0)
                        continue;
                (void)snprintf(href, sizeof(href), "/download/%s", id);
                (void)json_array_append_new(links, json_pack("{ss ss sI}", "href", href, "name",
                                                             name, "size", (json_int_t)st.st_size));
        }
        f->n = 0;
        return links;
}

static void set_text(json_t *args, const struct evd_web_form *form, const char *key)
{
        const char *v = evd_web_form_get(form, key);

        if (v && v[0])
                (void)json_object_set_new(args, key, json_string(v));
}

/* "17 18 19" or "17,18" into a list of strings. */
static json_t *id_list(const char *s)
{
        json_t *list = json_array();
        char buf[EVD_WEB_VALUE_MAX], *save = NULL;

        (void)snprintf(buf, sizeof(buf), "%s", s ? s : "");
        for (char *t = strtok_r(buf, " ,，、\t\r\n", &save); t && list;
             t = strtok_r(NULL, " ,，、\t\r\n", &save))
                (void)json_array_append_new(list, json_string(t));
        return list;
}

static enum MHD_Result h_export(struct ctx *x)
{
        const char *what = evd_web_form_get(&x->form, "what");
        const char *case_no = evd_web_form_get(&x->form, "case");
        bool by_case = !what || strcmp(what, "items") != 0;
        struct files f = { .c = x->c };
        struct evd_err err = { 0 };
        json_t *args = json_object(), *done = NULL, *links;
        char base[200], out[600];
        int r;

        set_text(args, &x->form, "maker");
        set_text(args, &x->form, "extractor");
        set_text(args, &x->form, "approver");
        set_text(args, &x->form, "reason");
        set_text(args, &x->form, "media");
        if (by_case) {
                set_text(args, &x->form, "case");
                (void)snprintf(base, sizeof(base), "%s", case_no && case_no[0] ? case_no : "case");
        } else {
                (void)json_object_set_new(args, "items",
                                          id_list(evd_web_form_get(&x->form, "items")));
                (void)snprintf(base, sizeof(base), "export");
        }
        safe_name(base);
        (void)snprintf(out, sizeof(out), "%s/%s.iso", x->c->spool, base);
        (void)json_object_set_new(args, "out", json_string(out));
        r = ask_files(x, "export", args, &f, &done, &err);
        json_decref(args);
        if (r < 0) {
                evd_page_export(&x->out, &x->view, &x->form,
                                r == -EBUSY ? evd_msg(x->view.lang, EVD_MSG_BUSY) : err.text, NULL,
                                NULL);
                return evd_console_html(x, r == -EPERM || r == -EACCES ? MHD_HTTP_FORBIDDEN
                                                                       : MHD_HTTP_BAD_REQUEST);
        }
        if (json_string_value(json_object_get(done, "case"))) { /* normalised */
                (void)snprintf(base, sizeof(base), "%s",
                               json_string_value(json_object_get(done, "case")));
                safe_name(base);
        }
        links = files_publish(x, &f, base);
        evd_page_export(&x->out, &x->view, &x->form, NULL, done, links);
        json_decref(links);
        json_decref(done);
        return evd_console_html(x, MHD_HTTP_OK);
}

/* ---- the access register ---- */

/* access-log's audit entries as rows for people. */
static json_t *access_rows(const json_t *log, enum evd_lang lang)
{
        json_t *rows = json_array(), *e;
        size_t i;

        json_array_foreach(log, i, e)
        {
                const json_t *d = json_object_get(e, "details");
                bool export = strcmp(json_string_value(json_object_get(e, "event")) ?: "",
                                     "export.done") == 0;
                bool copy = json_is_string(json_object_get(d, "copy_to"));
                const char *kind = evd_msg(lang, export ? EVD_MSG_K_EXPORTED
                                                 : copy ? EVD_MSG_K_COPIED
                                                        : EVD_MSG_K_VIEWED);
                json_t *item = json_object_get(d, "id");

                if (export)
                        item = json_object_get(d, "case") ?: json_object_get(d, "items");
                (void)json_array_insert_new(
                        rows, 0,
                        json_pack("{sO? ss sO? sO? sO? sO? sO?}", "time",
                                  json_object_get(e, "time"), "kind", kind, "item", item,
                                  "requester",
                                  json_object_get(d, export ? "extractor" : "requester"),
                                  "approver", json_object_get(d, "approver"), "reason",
                                  json_object_get(d, "reason"), "by",
                                  json_object_get(json_object_get(e, "actor"), "name")));
        }
        return rows;
}

/* One page of the audit log or the access register (station.h), newest first:
 * q's filters with limit; *ret (the caller's) the reply {items, next}. */
static int ask_log(struct ctx *x, const char *cmd, json_t *q, json_int_t limit, json_t **ret,
                   struct evd_err *err)
{
        if (!q)
                return evd_err_set(err, -ENOMEM, "out of memory");
        (void)json_object_set_new(q, "limit", json_integer(limit));
        if (!json_object_get(q, "after"))
                (void)json_object_set_new(q, "newest_first", json_true());
        return evd_console_ask(x, cmd, q, ret, err);
}

static enum MHD_Result access_page(struct ctx *x, unsigned status, const char *error,
                                   const char *done, const char *link)
{
        struct evd_err err = { 0 };
        json_t *q = json_object(), *page = NULL, *log, *rows;
        int r = ask_log(x, "access-log", q, ACCESS_ROWS, &page, &err);
        size_t n;

        json_decref(q);
        if (r < 0 && !error)
                return evd_console_failed(x, r, &err);
        /* access_rows takes the log oldest first */
        log = json_array();
        n = json_array_size(json_object_get(page, "items"));
        for (size_t i = n; log && i > 0; i--)
                (void)json_array_append(log, json_array_get(json_object_get(page, "items"), i - 1));
        json_decref(page);
        rows = access_rows(log, x->view.lang);
        evd_page_access(&x->out, &x->view, &x->form, error, done, link, rows);
        json_decref(rows);
        json_decref(log);
        return evd_console_html(x, status);
}

static enum MHD_Result h_access(struct ctx *x)
{
        const char *kind = evd_web_form_get(&x->form, "kind");
        bool copy = kind && strcmp(kind, "copy") == 0;
        struct files f = { .c = x->c };
        struct evd_err err = { 0 };
        json_t *args = json_object(), *done = NULL, *links = NULL;
        enum MHD_Result ret;
        char what[64];
        int r;

        set_text(args, &x->form, "item");
        set_text(args, &x->form, "requester");
        set_text(args, &x->form, "approver");
        set_text(args, &x->form, "reason");
        if (copy) {
                (void)json_object_set_new(args, "copy_to", json_string(x->c->spool));
                r = ask_files(x, "access", args, &f, &done, &err);
        } else {
                r = evd_console_ask(x, "access", args, &done, &err);
        }
        json_decref(args);
        if (r < 0)
                return access_page(x, r == -EPERM ? MHD_HTTP_FORBIDDEN : MHD_HTTP_BAD_REQUEST,
                                   err.code ? err.text : strerror(-r), NULL, NULL);
        json_decref(done);
        if (copy)
                links = files_publish(x, &f, "copy");
        (void)snprintf(what, sizeof(what), "%s", evd_web_form_get(&x->form, "item") ?: "");
        evd_web_form_free(&x->form);
        ret = access_page(x, MHD_HTTP_OK, NULL, what,
                          json_string_value(json_object_get(json_array_get(links, 0), "href")));
        json_decref(links);
        return ret;
}

/* ---- compliance ---- */

/* A report's per-handler rows in either shape (by_handler: handler, items; handlers:
 * handler, recordings) as [{name, total, on_time}]. */
static json_t *handler_rows(const json_t *report)
{
        const json_t *list = json_object_get(report, "handlers"), *r;
        bool annual = list != NULL;
        json_t *out = json_array();
        size_t i;

        if (!list)
                list = json_object_get(report, "by_handler");
        json_array_foreach(list, i, r)
        {
                const char *name = json_string_value(json_object_get(r, "handler"));

                (void)json_array_append_new(
                        out, json_pack("{ss sO? sO?}", "name",
                                       name && strcmp(name, "(no handler)") != 0 ? name : "",
                                       "total", json_object_get(r, annual ? "recordings" : "items"),
                                       "on_time", json_object_get(r, "on_time")));
        }
        return out;
}

/* The year's months [{month, total, on_time}]: the report's own months when it gives
 * them, else one report a month (up to the current one). */
static int month_rows(struct ctx *x, int year, const json_t *report, json_t **ret,
                      struct evd_err *err)
{
        const json_t *months = json_object_get(report, "months"), *m;
        json_t *out = json_array();
        int64_t now = evd_clock_now();
        struct tm tm;
        time_t t = (time_t)now;
        size_t i;
        int r = 0;

        (void)localtime_r(&t, &tm);
        json_array_foreach(months, i, m)(void) json_array_append_new(
                out, json_pack("{sO? sO? sO?}", "month", json_object_get(m, "month"), "total",
                               json_object_get(m, "recordings"), "on_time",
                               json_object_get(m, "on_time")));
        for (int mo = 1; !months && mo <= 12 && r == 0; mo++) {
                static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
                char from[40], to[40], label[40];
                json_t *args, *rep = NULL;
                int last = mdays[mo - 1];

                if (year > tm.tm_year + 1900 || (year == tm.tm_year + 1900 && mo > tm.tm_mon + 1))
                        break;
                if (mo == 2 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
                        last = 28;
                (void)snprintf(from, sizeof(from), "%04d-%02d-01", year, mo);
                (void)snprintf(to, sizeof(to), "%04d-%02d-%02d", year, mo, last);
                (void)snprintf(label, sizeof(label), "%04d-%02d", year, mo);
                args = json_pack("{ss ss}", "from", from, "to", to);
                r = evd_console_ask(x, "report", args, &rep, err);
                json_decref(args);
                if (r == 0) {
                        json_t *rows = handler_rows(rep), *row;
                        json_int_t total = 0, on_time = 0;
                        size_t k;

                        json_array_foreach(rows, k, row)
                        {
                                total += json_integer_value(json_object_get(row, "total"));
                                on_time += json_integer_value(json_object_get(row, "on_time"));
                        }
                        (void)json_array_append_new(out,
                                                    json_pack("{ss sI sI}", "month", label, "total",
                                                              total, "on_time", on_time));
                        json_decref(rows);
                }
                json_decref(rep);
        }
        if (r < 0) {
                json_decref(out);
                return r;
        }
        *ret = out;
        return 0;
}

static enum MHD_Result h_compliance(struct ctx *x)
{
        const char *y = evd_web_form_get(&x->form, "year");
        time_t t = (time_t)evd_clock_now();
        struct evd_err err = { 0 };
        json_t *args, *report = NULL, *late = NULL, *overdue = NULL, *months = NULL, *handlers;
        char from[40], to[40];
        struct tm tm;
        int year, r;

        (void)localtime_r(&t, &tm);
        year = tm.tm_year + 1900;
        if (y && strlen(y) == 4 && strspn(y, "0123456789") == 4)
                year = (int)strtol(y, NULL, 10);
        if (year < 2000 || year > 2200)
                year = tm.tm_year + 1900;
        (void)snprintf(from, sizeof(from), "%04d-01-01", year);
        (void)snprintf(to, sizeof(to), "%04d-12-31", year);
        args = json_pack("{ss ss}", "from", from, "to", to);
        r = evd_console_ask(x, "report", args, &report, &err);
        if (r == 0)
                r = month_rows(x, year, report, &months, &err);
        (void)json_object_del(args, "from");
        (void)json_object_del(args, "to");
        (void)json_object_set_new(args, "since", json_string(from));
        (void)json_object_set_new(args, "until", json_string(to));
        (void)json_object_set_new(args, "late", json_true());
        if (r == 0)
                r = evd_console_ask(x, "items", args, &late, &err);
        (void)json_object_del(args, "late");
        (void)json_object_set_new(args, "overdue", json_true());
        if (r == 0)
                r = evd_console_ask(x, "items", args, &overdue, &err);
        json_decref(args);
        if (r < 0) {
                json_decref(report);
                json_decref(late);
                json_decref(months);
                return evd_console_failed(x, r, &err);
        }
        handlers = handler_rows(report);
        evd_page_compliance(&x->out, &x->view, year, months, handlers, late, overdue);
        json_decref(handlers);
        json_decref(months);
        json_decref(report);
        json_decref(late);
        json_decref(overdue);
        return evd_console_html(x, MHD_HTTP_OK);
}

/* ---- audit ---- */

/* The audit page's cursor key (before or after): absent or empty 0, else a seq;
 * -EINVAL for anything else. */
static int form_seq(const struct evd_web_form *q, const char *key, json_int_t *ret)
{
        const char *v = evd_web_form_get(q, key);
        char *end = NULL;
        unsigned long long n;

        *ret = 0;
        if (!v || !v[0])
                return 0;
        if (v[0] < '0' || v[0] > '9')
                return -EINVAL;
        errno = 0;
        n = strtoull(v, &end, 10);
        if (errno || *end || n == 0 || n > INT64_MAX)
                return -EINVAL;
        *ret = (json_int_t)n;
        return 0;
}

/* The daemon's audit request for the page the form asks for: its filters and cursor. */
static json_t *audit_query(const struct evd_web_form *f, json_int_t before, json_int_t after)
{
        static const char *const keys[][2] = {
                { "since", "since" }, { "event", "event" }, { "actor", "actor" }, { "q", "text" }
        };
        json_t *q = json_object();

        for (size_t i = 0; q && i < sizeof(keys) / sizeof(keys[0]); i++) {
                const char *v = evd_web_form_get(f, keys[i][0]);

                if (v && v[0])
                        (void)json_object_set_new(q, keys[i][1], json_string(v));
        }
        if (q && before)
                (void)json_object_set_new(q, "before", json_integer(before));
        else if (q && after)
                (void)json_object_set_new(q, "after", json_integer(after));
        return q;
}

/* One page, newest first, in *ret; the cursors of the newer and the older pages (0:
 * none). A page after a seq (the "newer" link) is read oldest first and turned round;
 * when it reaches the newest entry the newest page is shown instead. */
static int audit_entries(struct ctx *x, json_int_t before, json_int_t after, json_t **ret,
                         json_int_t *newer, json_int_t *older, struct evd_err *err)
{
        json_t *q = audit_query(&x->form, before, after), *page = NULL, *items, *out;
        int r = ask_log(x, "audit", q, EVD_AUDIT_PAGE_SIZE, &page, err);
        size_t n;

        json_decref(q);
        if (r == 0 && after && !json_is_integer(json_object_get(page, "next"))) {
                json_decref(page);
                page = NULL;
                return audit_entries(x, 0, 0, ret, newer, older, err);
        }
        if (r < 0 || !(out = json_array())) {
                json_decref(page);
                return r < 0 ? r : evd_err_set(err, -ENOMEM, "out of memory");
        }
        items = json_object_get(page, "items");
        n = json_array_size(items);
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(items, after ? n - 1 - i : i);
                /* The actor as people know it: its name (web:NAME, or the unix user). */
                json_t *name = json_object_get(json_object_get(e, "actor"), "name");

                if (name)
                        (void)json_object_set(e, "actor", name);
                (void)json_array_append(out, e);
        }
        n = json_array_size(out);
        *newer = (before || after) && n
                         ? json_integer_value(json_object_get(json_array_get(out, 0), "seq"))
                         : 0;
        *older = after && n ? json_integer_value(json_object_get(json_array_get(out, n - 1), "seq"))
                 : json_is_integer(json_object_get(page, "next"))
                         ? json_integer_value(json_object_get(page, "next"))
                         : 0;
        json_decref(page);
        *ret = out;
        return 0;
}

/* The audit page: one page of the daemon's audit, newest first, asked for with the
 * form's filters and cursor (before: older pages, after: newer ones). */
static enum MHD_Result h_audit(struct ctx *x, bool verify)
{
        struct evd_err err = { 0 };
        json_t *shown = NULL, *verdict = NULL;
        json_int_t before, after, newer = 0, older = 0;
        int r = 0;

        if (form_seq(&x->form, "before", &before) < 0 || form_seq(&x->form, "after", &after) < 0 ||
            (before && after))
                return evd_console_message(x, MHD_HTTP_BAD_REQUEST, EVD_MSG_FAILED,
                                           "before, after: one audit entry number");
        if (verify)
                r = evd_console_ask(x, "verify", NULL, &verdict, &err);
        if (r == 0)
                r = audit_entries(x, before, after, &shown, &newer, &older, &err);
        if (r < 0) {
                json_decref(verdict);
                return evd_console_failed(x, r, &err);
        }
        evd_page_audit(&x->out, &x->view, &x->form, shown, newer, older, verdict);
        json_decref(shown);
        json_decref(verdict);
        return evd_console_html(x, MHD_HTTP_OK);
}

/* ---- admin ---- */

/* user.list's rows with a state for people. */
static void user_states(json_t *users)
{
        json_t *u;
        size_t i;

        json_array_foreach(users, i, u)
        {
                const char *state = json_is_true(json_object_get(u, "disabled")) ? "disabled"
                                    : json_is_true(json_object_get(u, "locked")) ? "locked"
                                    : !json_is_true(json_object_get(u, "has_password"))
                                            ? "no-password"
                                            : "active";

                (void)json_object_set_new(u, "state", json_string(state));
        }
}

static enum MHD_Result admin_page(struct ctx *x, unsigned status, const char *error,
                                  const json_t *done)
{
        struct evd_err err = { 0 };
        json_t *recorders = NULL, *users = NULL;
        int r = evd_console_ask(x, "recorder.list", NULL, &recorders, &err);

        if (r == 0)
                r = evd_console_ask(x, "user.list", NULL, &users, &err);
        if (r < 0) {
                json_decref(recorders);
                return evd_console_failed(x, r, &err);
        }
        user_states(users);
        evd_page_admin(&x->out, &x->view, recorders, users, error, done);
        json_decref(recorders);
        json_decref(users);
        return evd_console_html(x, status);
}

/* The account forms: the daemon's user.passwd and user.disable. A password is taken
 * from the POST body only (a query string lands in logs and history): one in the URL
 * is refused. Neither the password nor its hash is logged or shown again. */
static int admin_account(struct ctx *x, const char *what, json_t *args, const char **cmd)
{
        if (strcmp(what, "passwd") == 0) {
                if (MHD_lookup_connection_value(x->conn, MHD_GET_ARGUMENT_KIND, "password"))
                        return -EINVAL;
                set_text(args, &x->form, "password");
                *cmd = "user.passwd";
        } else {
                *cmd = "user.disable";
        }
        set_text(args, &x->form, "name");
        return 0;
}

static enum MHD_Result h_admin_run(struct ctx *x)
{
        const char *what = x->param, *cmd = what;
        struct evd_err err = { 0 };
        json_t *args = json_object(), *done = NULL;
        enum MHD_Result ret;
        int r;

        if (strcmp(what, "hold") == 0 || strcmp(what, "release") == 0 ||
            strcmp(what, "evidence") == 0) {
                (void)json_object_set_new(args, "items",
                                          id_list(evd_web_form_get(&x->form, "items")));
                set_text(args, &x->form, strcmp(what, "evidence") == 0 ? "case" : "reason");
                if (evd_web_form_get(&x->form, "also"))
                        (void)json_object_set_new(args, "also", json_true());
        } else if (strcmp(what, "purge") == 0) {
                set_text(args, &x->form, "approver");
                set_text(args, &x->form, "reason");
                if (evd_web_form_get(&x->form, "dry_run"))
                        (void)json_object_set_new(args, "dry_run", json_true());
        } else if (strcmp(what, "passwd") == 0 || strcmp(what, "disable") == 0) {
                if (admin_account(x, what, args, &cmd) < 0) {
                        json_decref(args);
                        return evd_console_message(x, MHD_HTTP_BAD_REQUEST, EVD_MSG_FAILED,
                                                   "a password goes in the form, not the URL");
                }
        } else {
                json_decref(args);
                return evd_console_message(x, MHD_HTTP_NOT_FOUND, EVD_MSG_NOT_FOUND, x->path);
        }
        r = evd_console_ask(x, cmd, args, &done, &err);
        json_decref(args);
        if (r == -EBUSY)
                return evd_console_failed(x, r, &err);
        ret = admin_page(x, r < 0 ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_OK,
                         r < 0 ? (err.code ? err.text : strerror(-r)) : NULL, r < 0 ? NULL : done);
        json_decref(done);
        return ret;
}

/* ---- the signed-in board: status's health ---- */

static enum MHD_Result h_board_status(struct ctx *x)
{
        struct evd_err err = { 0 };
        json_t *status = NULL, *out;
        char *text;
        int r = evd_console_ask(x, "status", NULL, &status, &err);

        if (r < 0)
                out = json_pack("{ss}", "error", err.code ? err.text : strerror(-r));
        else
                out = json_pack("{sO? sO? sO? sO? sO?}", "free_bytes",
                                json_object_get(status, "free_bytes"), "days_left",
                                json_object_get(status, "days_left"), "stored_bytes_per_day",
                                json_object_get(status, "stored_bytes_per_day"), "replication",
                                json_object_get(status, "replication"), "warnings",
                                json_object_get(status, "warnings"));
        json_decref(status);
        text = out ? json_dumps(out, JSON_COMPACT) : NULL;
        json_decref(out);
        if (!text)
                return MHD_NO;
        evd_buf_free(&x->out);
        x->out.max = 1 << 20;
        evd_buf_str(&x->out, text);
        free(text);
        if (x->out.error)
                return MHD_NO;
        return evd_console_respond(x, MHD_HTTP_OK, "application/json", NULL, NULL);
}

bool evd_console_office(struct ctx *x, enum MHD_Result *ret)
{
        switch (x->page) {
        case EVD_PAGE_EXPORT:
                evd_page_export(&x->out, &x->view, &x->form, NULL, NULL, NULL);
                *ret = evd_console_html(x, MHD_HTTP_OK);
                return true;
        case EVD_PAGE_EXPORT_RUN:
                *ret = h_export(x);
                return true;
        case EVD_PAGE_DOWNLOAD:
                *ret = h_download(x);
                return true;
        case EVD_PAGE_ACCESS:
                *ret = access_page(x, MHD_HTTP_OK, NULL, NULL, NULL);
                return true;
        case EVD_PAGE_ACCESS_RUN:
                *ret = h_access(x);
                return true;
        case EVD_PAGE_COMPLIANCE:
                *ret = h_compliance(x);
                return true;
        case EVD_PAGE_AUDIT:
        case EVD_PAGE_VERIFY:
                *ret = h_audit(x, x->page == EVD_PAGE_VERIFY);
                return true;
        case EVD_PAGE_ADMIN:
                *ret = admin_page(x, MHD_HTTP_OK, NULL, NULL);
                return true;
        case EVD_PAGE_ADMIN_RUN:
                *ret = h_admin_run(x);
                return true;
        case EVD_PAGE_BOARD_STATUS:
                *ret = h_board_status(x);
                return true;
        default:
                return false;
        }
}
