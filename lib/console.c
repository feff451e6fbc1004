#include "console.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "console_internal.h"
#include "console_pages.h"
#include "ctlclient.h"
#include "name.h"
#include "util.h"
#include "web.h"

#define SESSIONS_MAX 256
#define IDLE_S (30 * 60)
#define ABSOLUTE_S (8 * 60 * 60)
#define CTL_TIMEOUT_MS 30000
#define BOARD_TIMEOUT_MS 5000
#define KEEPALIVE_MS 15000
#define WARNINGS_EVERY 25 /* board polls between two with the full warnings */
#define COOKIE_SESSION "evd_session"
#define COOKIE_PRE "evd_pre"
#define COOKIE_LANG "evd_lang"

static const char csp[] = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                          "form-action 'self'";

/* One HTTP request in progress: the body of a POST. */
struct request {
        struct evd_buf body;
        bool too_big;
};

/* ---- the board poller ---- */

static void deadline_in(struct timespec *ts, int ms)
{
        (void)clock_gettime(CLOCK_MONOTONIC, ts);
        ts->tv_sec += ms / 1000;
        ts->tv_nsec += (long)(ms % 1000) * 1000000;
        if (ts->tv_nsec >= 1000000000) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000;
        }
}

/* Publish text (taken) when it differs from the board the listeners have. */
static void publish(struct evd_console *c, char *text)
{
        pthread_mutex_lock(&c->lock);
        if (!c->board || strcmp(c->board, text) != 0) {
                free(c->board);
                c->board = text;
                text = NULL;
                c->gen++;
                pthread_cond_broadcast(&c->changed);
        }
        pthread_mutex_unlock(&c->lock);
        free(text);
}

/* One poll: the board, with the warnings kept from the last full poll. */
static void poll_once(struct evd_console *c, struct evd_ctl **ctl, json_t **warnings, unsigned *n)
{
        struct evd_err err = { 0 };
        json_t *args = json_pack("{sb}", "warnings", *n % WARNINGS_EVERY == 0), *board = NULL;
        json_t *health;
        int r = 0;

        if (!*ctl)
                r = evd_ctl_connect(c->socket_path, ctl, &err);
        if (r == 0)
                r = evd_ctl_request(*ctl, "board", args, NULL, BOARD_TIMEOUT_MS, NULL, NULL, &board,
                                    &err);
        json_decref(args);
        if (r < 0) {
                if (*ctl && evd_ctl_broken(*ctl)) {
                        evd_ctl_close(*ctl);
                        *ctl = NULL;
                }
                board = json_pack("{sb}", "offline", true); /* the reason stays here */
                *n = 0;                                     /* ask for everything once it is back */
        } else {
                health = json_object_get(board, "health");
                if (*n % WARNINGS_EVERY == 0) {
                        json_decref(*warnings);
                        *warnings = json_incref(json_object_get(health, "warnings"));
                } else if (*warnings && health) {
                        (void)json_object_set(health, "warnings", *warnings);
                }
                (void)json_object_del(board, "time");
                (*n)++;
        }
        if (board) {
                char *text = json_dumps(board, JSON_COMPACT);

                if (text)
                        publish(c, text);
                json_decref(board);
        }
}

static void *poller_main(void *p)
{
        struct evd_console *c = p;
        struct evd_ctl *ctl = NULL;
        json_t *warnings = NULL;
        unsigned n = 0;

        pthread_mutex_lock(&c->lock);
        while (!c->stopping) {
                struct timespec ts;

                if (c->listeners == 0) {
                        /* Nobody watches: no connection, no polls. */
                        evd_ctl_close(ctl);
                        ctl = NULL;
                        n = 0;
                        pthread_cond_wait(&c->wake, &c->lock);
                        continue;
                }
                pthread_mutex_unlock(&c->lock);
                poll_once(c, &ctl, &warnings, &n);
                pthread_mutex_lock(&c->lock);
                deadline_in(&ts, c->poll_ms);
                while (!c->stopping && c->listeners > 0 &&
                       pthread_cond_timedwait(&c->wake, &c->lock, &ts) != ETIMEDOUT)
                        ;
        }
        pthread_mutex_unlock(&c->lock);
        evd_ctl_close(ctl);
        json_decref(warnings);
        return NULL;
}

/* ---- server-sent events ---- */

struct listener {
        struct evd_console *c;
        uint64_t seen;
        char *pending; /* an event not yet all sent */
        size_t len, off;
};

/* Wait for a new board (or the keep-alive time) and make it the pending event. */
static int next_event(struct listener *l)
{
        struct evd_console *c = l->c;
        struct timespec ts;
        int r = 0;

        deadline_in(&ts, KEEPALIVE_MS);
        pthread_mutex_lock(&c->lock);
        while (!c->stopping && (c->gen == l->seen || !c->board) && r != ETIMEDOUT)
                r = pthread_cond_timedwait(&c->changed, &c->lock, &ts);
        free(l->pending);
        l->pending = NULL;
        if (c->stopping) {
                pthread_mutex_unlock(&c->lock);
                return -ESHUTDOWN;
        }
        if (c->gen != l->seen && c->board) {
                size_t n = strlen(c->board) + 16;

                l->pending = malloc(n);
                if (l->pending)
                        (void)snprintf(l->pending, n, "data: %s\n\n", c->board);
                l->seen = c->gen;
        } else {
                l->pending = strdup(": keep-alive\n\n");
        }
        pthread_mutex_unlock(&c->lock);
        if (!l->pending)
                return -ENOMEM;
        l->len = strlen(l->pending);
        l->off = 0;
        return 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct listener *l = cls;
        size_t n;

        (void)pos;
        if ((!l->pending || l->off == l->len) && next_event(l) < 0)
                return MHD_CONTENT_READER_END_OF_STREAM;
        n = l->len - l->off < max ? l->len - l->off : max;
        memcpy(buf, l->pending + l->off, n);
        l->off += n;
        return (ssize_t)n;
}

static void sse_free(void *cls)
{
        struct listener *l = cls;

        pthread_mutex_lock(&l->c->lock);
        l->c->listeners--;
        pthread_mutex_unlock(&l->c->lock);
        free(l->pending);
        free(l);
}

/* ---- responses ---- */

static void set_cookie(struct ctx *x, const char *name, const char *value, int max_age)
{
        for (size_t i = 0; i < 3; i++) {
                if (x->cookie[i][0])
                        continue;
                (void)snprintf(x->cookie[i], sizeof(x->cookie[i]),
                               "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s%d", name, value,
                               x->c->tls ? "; Secure" : "", max_age >= 0 ? "; Max-Age=" : "",
                               max_age >= 0 ? max_age : 0);
                if (max_age < 0) /* a session cookie: no Max-Age (strip the trailing 0) */
                        x->cookie[i][strlen(x->cookie[i]) - 1] = '\0';
                return;
        }
}

enum MHD_Result evd_console_respond(struct ctx *x, unsigned status, const char *ctype,
                                    const char *location, struct MHD_Response *resp)
{
        enum MHD_Result r;

        if (!resp) {
                resp = MHD_create_response_from_buffer(x->out.len, x->out.data,
                                                       MHD_RESPMEM_MUST_COPY);
                if (!resp)
                        return MHD_NO;
        }
        (void)MHD_add_response_header(resp, "Content-Security-Policy", csp);
        (void)MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        (void)MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        (void)MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
        if (ctype)
                (void)MHD_add_response_header(resp, "Content-Type", ctype);
        if (location)
                (void)MHD_add_response_header(resp, "Location", location);
        for (size_t i = 0; i < 3; i++)
                if (x->cookie[i][0])
                        (void)MHD_add_response_header(resp, "Set-Cookie", x->cookie[i]);
        r = MHD_queue_response(x->conn, status, resp);
        MHD_destroy_response(resp);
        return r;
}

enum MHD_Result evd_console_html(struct ctx *x, unsigned status)
{
        if (x->out.error)
                return MHD_NO;
        return evd_console_respond(x, status, "text/html; charset=utf-8", NULL, NULL);
}

enum MHD_Result evd_console_redirect(struct ctx *x, const char *to)
{
        evd_buf_free(&x->out);
        return evd_console_respond(x, MHD_HTTP_SEE_OTHER, NULL, to, NULL);
}

enum MHD_Result evd_console_message(struct ctx *x, unsigned status, enum evd_msg title,
                                    const char *line)
{
        evd_buf_free(&x->out);
        x->out.max = 1 << 20;
        evd_page_message(&x->out, &x->view, title, line);
        return evd_console_html(x, status);
}

/* A safe place to go after sign-in: our own absolute path, nothing else. */
static const char *local_next(const char *next)
{
        if (!next || next[0] != '/' || next[1] == '/' || next[1] == '\\' || strchr(next, '\r') ||
            strchr(next, '\n') || strlen(next) > 512)
                return "/board";
        return next;
}

/* The same origin, when the browser says where the request comes from. */
static bool origin_ok(struct ctx *x)
{
        const char *origin = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Origin");
        const char *host = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Host");
        char want[300];

        if (!origin)
                return true;
        if (!host)
                return false;
        (void)snprintf(want, sizeof(want), "%s://%s", x->c->tls ? "https" : "http", host);
        return strcmp(origin, want) == 0;
}

/* Ask the daemon with token (NULL for none); the daemon decides. */
/* ---- the daemon connection pool (console_internal.h) ---- */

int evd_console_ctl_get(struct evd_console *c, struct evd_ctl **ret, struct evd_err *err)
{
        struct evd_ctl *ctl = NULL;
        int64_t now = evd_clock_now();
        struct timespec ts;
        int w = 0, r;

        deadline_in(&ts, EVD_CONSOLE_CTL_WAIT_MS);
        pthread_mutex_lock(&c->pool_lock);
        while (c->pool_busy >= EVD_CONSOLE_CTL_MAX && w != ETIMEDOUT)
                w = pthread_cond_timedwait(&c->pool_free, &c->pool_lock, &ts);
        if (c->pool_busy >= EVD_CONSOLE_CTL_MAX) {
                pthread_mutex_unlock(&c->pool_lock);
                return evd_err_set(err, -EBUSY, "the station is busy: try again in a moment");
        }
        c->pool_busy++;
        if (c->pool_busy > c->pool_peak)
                c->pool_peak = c->pool_busy;
        /* The newest idle connection, if it has not idled too long; older ones go. */
        while (c->n_idle > 0 && !ctl) {
                c->n_idle--;
                if (now - c->idle_since[c->n_idle] < EVD_CONSOLE_CTL_IDLE_S)
                        ctl = c->idle[c->n_idle];
                else
                        evd_ctl_close(c->idle[c->n_idle]);
        }
        pthread_mutex_unlock(&c->pool_lock);
        if (!ctl && (r = evd_ctl_connect(c->socket_path, &ctl, err)) < 0) {
                evd_console_ctl_put(c, NULL);
                return r;
        }
        *ret = ctl;
        return 0;
}

void evd_console_ctl_put(struct evd_console *c, struct evd_ctl *ctl)
{
        pthread_mutex_lock(&c->pool_lock);
        c->pool_busy--;
        if (ctl && !evd_ctl_broken(ctl) && c->n_idle < EVD_CONSOLE_CTL_MAX && !c->stopping) {
                c->idle[c->n_idle] = ctl;
                c->idle_since[c->n_idle++] = evd_clock_now();
                ctl = NULL;
        }
        pthread_cond_signal(&c->pool_free);
        pthread_mutex_unlock(&c->pool_lock);
        evd_ctl_close(ctl);
}

int evd_console_ask_as(struct ctx *x, const char *token, const char *cmd, const json_t *args,
                       json_t **ret, struct evd_err *err)
{
        struct evd_ctl *ctl = NULL;
        int r = evd_console_ctl_get(x->c, &ctl, err);

        if (r < 0)
                return r;
        r = evd_ctl_request(ctl, cmd, args, token, CTL_TIMEOUT_MS, NULL, NULL, ret, err);
        evd_console_ctl_put(x->c, ctl);
        return r;
}

/* Ask the daemon as the signed-in person (their token), or as nobody. */
int evd_console_ask(struct ctx *x, const char *cmd, const json_t *args, json_t **ret,
                    struct evd_err *err)
{
        return evd_console_ask_as(x, x->signed_in ? x->session.token : NULL, cmd, args, ret, err);
}

/* ---- handlers ---- */

static const char *content_type(const char *name)
{
        const char *dot = strrchr(name, '.');

        if (dot && strcmp(dot, ".css") == 0)
                return "text/css; charset=utf-8";
        if (dot && strcmp(dot, ".js") == 0)
                return "text/javascript; charset=utf-8";
        if (dot && strcmp(dot, ".svg") == 0)
                return "image/svg+xml";
        return "application/octet-stream";
}

static enum MHD_Result h_static(struct ctx *x)
{
        for (size_t i = 0; i < x->c->n_assets; i++) {
                const struct evd_console_asset *a = &x->c->assets[i];
                struct MHD_Response *resp;

                if (strcmp(a->name, x->param) != 0)
                        continue;
                resp = MHD_create_response_from_buffer(a->len, (void *)a->data,
                                                       MHD_RESPMEM_PERSISTENT);
                if (!resp)
                        return MHD_NO;
                (void)MHD_add_response_header(resp, "Cache-Control", "no-cache");
                return evd_console_respond(x, MHD_HTTP_OK, content_type(a->name), NULL, resp);
        }
        return evd_console_message(x, MHD_HTTP_NOT_FOUND, EVD_MSG_NOT_FOUND, x->path);
}

static enum MHD_Result h_lang(struct ctx *x)
{
        if (strcmp(x->param, "en") != 0 && strcmp(x->param, "zh") != 0)
                return evd_console_message(x, MHD_HTTP_NOT_FOUND, EVD_MSG_NOT_FOUND, x->path);
        set_cookie(x, COOKIE_LANG, x->param, 365 * 86400);
        return evd_console_redirect(x, local_next(evd_web_form_get(&x->form, "next")));
}

static enum MHD_Result h_events(struct ctx *x)
{
        struct listener *l = calloc(1, sizeof(*l));
        struct MHD_Response *resp;

        if (!l)
                return MHD_NO;
        l->c = x->c;
        pthread_mutex_lock(&x->c->lock);
        x->c->listeners++;
        pthread_cond_signal(&x->c->wake);
        pthread_mutex_unlock(&x->c->lock);
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, l,
                                                 sse_free);
        if (!resp) {
                sse_free(l);
                return MHD_NO;
        }
        (void)MHD_add_response_header(resp, "Cache-Control", "no-store");
        return evd_console_respond(x, MHD_HTTP_OK, "text/event-stream; charset=utf-8", NULL, resp);
}

static enum MHD_Result login_form(struct ctx *x, unsigned status, const char *error)
{
        char pre[EVD_WEB_ID_LEN + 1];
        const char *cookies = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Cookie");

        /* The form's CSRF token before sign-in: a random value in a SameSite=Strict
         * cookie that the form must repeat (double submit). */
        if (evd_web_cookie(cookies, COOKIE_PRE, pre, sizeof(pre)) < 0 ||
            strlen(pre) != EVD_WEB_ID_LEN) {
                if (evd_web_random_id(pre) < 0)
                        return MHD_NO;
                set_cookie(x, COOKIE_PRE, pre, -1);
        }
        evd_page_login(&x->out, &x->view, pre, local_next(evd_web_form_get(&x->form, "next")),
                       error);
        return evd_console_html(x, status);
}

static void client_address(struct MHD_Connection *conn, char *out, size_t n)
{
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;

        (void)snprintf(out, n, "?");
        if (sa && sa->sa_family == AF_INET)
                (void)inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                                out, (socklen_t)n);
        else if (sa && sa->sa_family == AF_INET6)
                (void)inet_ntop(AF_INET6,
                                &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                                (socklen_t)n);
}

static enum MHD_Result h_login(struct ctx *x)
{
        const char *cookies = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Cookie");
        const char *user = evd_web_form_get(&x->form, "user");
        const char *password = evd_web_form_get(&x->form, "password");
        struct evd_err err = { 0 };
        struct evd_web_session s;
        char pre[EVD_WEB_ID_LEN + 1] = "", client[64];
        json_t *args, *res = NULL;
        int r;

        if (evd_web_cookie(cookies, COOKIE_PRE, pre, sizeof(pre)) < 0 || !origin_ok(x) ||
            !evd_web_token_equal(pre, evd_web_form_get(&x->form, "csrf")))
                return evd_console_message(x, MHD_HTTP_FORBIDDEN, EVD_MSG_FORBIDDEN,
                                           evd_msg(x->view.lang, EVD_MSG_BAD_CSRF));
        if (!user || !password || !user[0])
                return login_form(x, MHD_HTTP_BAD_REQUEST,
                                  evd_msg(x->view.lang, EVD_MSG_BAD_LOGIN));
        client_address(x->conn, client, sizeof(client));
        args = json_pack("{ss ss ss}", "user", user, "password", password, "client", client);
        r = args ? evd_console_ask(x, "login", args, &res, &err) : -ENOMEM;
        json_decref(args);
        if (r == 0 && (!json_string_value(json_object_get(res, "token")) ||
                       !json_string_value(json_object_get(res, "role"))))
                r = evd_err_set(&err, -EPROTO, "evidockd: login gave no token");
        if (r == 0) {
                const char *token = json_string_value(json_object_get(res, "token"));

                r = evd_web_session_add(x->c->sessions, token, user,
                                        json_string_value(json_object_get(res, "role")),
                                        evd_clock_now(), &s);
                if (r < 0) { /* no room for it here: the daemon forgets it too */
                        json_t *bye = NULL;
                        struct evd_err ignored = { 0 };

                        (void)evd_console_ask_as(x, token, "logout", NULL, &bye, &ignored);
                        json_decref(bye);
                }
        }
        json_decref(res);
        if (r < 0) {
                char why[EVD_ERR_TEXT_MAX + 64];

                /* A refusal never says which part was wrong, nor whether the account
                 * is locked (the daemon answers all alike): the page says what five
                 * failures do. */
                if (r == -EACCES)
                        (void)snprintf(why, sizeof(why), "%s",
                                       evd_msg(x->view.lang, EVD_MSG_BAD_LOGIN_TEXT));
                else
                        (void)snprintf(why, sizeof(why), "%s: %s",
                                       evd_msg(x->view.lang, EVD_MSG_BAD_LOGIN),
                                       err.code ? err.text : strerror(-r));
                return login_form(x, MHD_HTTP_UNAUTHORIZED, why);
        }
        set_cookie(x, COOKIE_SESSION, s.id, -1);
        explicit_bzero(&s, sizeof(s));
        return evd_console_redirect(x, local_next(evd_web_form_get(&x->form, "next")));
}

static enum MHD_Result h_logout(struct ctx *x)
{
        struct evd_web_session s;
        json_t *res = NULL;
        struct evd_err err = { 0 };

        if (evd_web_session_remove(x->c->sessions, x->session.id, &s) == 0) {
                (void)evd_console_ask(x, "logout", NULL, &res, &err);
                json_decref(res);
                explicit_bzero(&s, sizeof(s));
        }
        set_cookie(x, COOKIE_SESSION, "", 0);
        return evd_console_redirect(x, "/board");
}

enum MHD_Result evd_console_failed(struct ctx *x, int r, const struct evd_err *err)
{
        unsigned status = r == -EPERM || r == -EACCES ? MHD_HTTP_FORBIDDEN
                          : r == -ENOENT              ? MHD_HTTP_NOT_FOUND
                          : r == -EINVAL              ? MHD_HTTP_BAD_REQUEST
                          : r == -EBUSY               ? MHD_HTTP_SERVICE_UNAVAILABLE
                                                      : MHD_HTTP_BAD_GATEWAY;

        return evd_console_message(x, status, EVD_MSG_FAILED, err->code ? err->text : strerror(-r));
}

/* The items page's cursor: absent or empty (the first page, 0), else an item id. */
static int items_after(const struct evd_web_form *q, json_int_t *ret)
{
        const char *after = evd_web_form_get(q, "after");
        char *end = NULL;
        unsigned long long v;

        *ret = 0;
        if (!after || !after[0])
                return 0;
        if (after[0] < '0' || after[0] > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(after, &end, 10);
        if (errno || *end || v == 0 || v > INT64_MAX)
                return -EINVAL;
        *ret = (json_int_t)v;
        return 0;
}

/* One page of items from the daemon's cursor (`items` with limit and after): the
 * console never holds more than a page. */
static enum MHD_Result h_items(struct ctx *x)
{
        static const char *const strings[] = { "case", "recorder", "handler", "since", "until" };
        static const char *const flags[] = { "late", "unlabeled", "overdue" };
        struct evd_err err = { 0 };
        json_t *args = json_pack("{si}", "limit", EVD_PAGE_SIZE), *page = NULL;
        json_int_t after;
        int r;

        if (items_after(&x->form, &after) < 0) {
                json_decref(args);
                return evd_console_message(x, MHD_HTTP_BAD_REQUEST, EVD_MSG_FAILED,
                                           "after: an item number");
        }
        if (args && after)
                (void)json_object_set_new(args, "after", json_integer(after));
        for (size_t i = 0; args && i < sizeof(strings) / sizeof(strings[0]); i++) {
                const char *v = evd_web_form_get(&x->form, strings[i]);

                if (v && v[0])
                        (void)json_object_set_new(args, strings[i], json_string(v));
        }
        for (size_t i = 0; args && i < sizeof(flags) / sizeof(flags[0]); i++)
                if (evd_web_form_get(&x->form, flags[i]))
                        (void)json_object_set_new(args, flags[i], json_true());
        r = args ? evd_console_ask(x, "items", args, &page, &err) : -ENOMEM;
        json_decref(args);
        if (r == 0 && !json_is_array(json_object_get(page, "items")))
                r = evd_err_set(&err, -EPROTO, "evidockd: items gave no page");
        if (r < 0) {
                json_decref(page);
                return evd_console_failed(x, r, &err);
        }
        evd_page_items(&x->out, &x->view, &x->form, page);
        json_decref(page);
        return evd_console_html(x, MHD_HTTP_OK);
}

#define ITEM_HISTORY_MAX 1000 /* the daemon's largest page of the log */

/* The item's own audit entries (the daemon's audit --item, archivist and up), or NULL
 * when this account may not read the log or the daemon could not answer: the item page
 * is shown without them. */
static json_t *item_history(struct ctx *x, json_int_t id)
{
        struct evd_err err = { 0 };
        json_t *args, *page = NULL, *entries;
        char ref[24];

        if (!evd_page_role_ok(x->view.role, "archivist"))
                return NULL;
        (void)snprintf(ref, sizeof(ref), "%" JSON_INTEGER_FORMAT, id);
        args = json_pack("{ss sI}", "item", ref, "limit", (json_int_t)ITEM_HISTORY_MAX);
        if (!args || evd_console_ask(x, "audit", args, &page, &err) < 0) {
                json_decref(args);
                return NULL;
        }
        json_decref(args);
        entries = json_incref(json_object_get(page, "items"));
        json_decref(page);
        return entries;
}

static enum MHD_Result h_item(struct ctx *x)
{
        struct evd_err err = { 0 };
        json_t *args = json_pack("{ss}", "item", x->param), *item = NULL, *history;
        int r = args ? evd_console_ask(x, "show", args, &item, &err) : -ENOMEM;

        json_decref(args);
        if (r < 0)
                return evd_console_failed(x, r, &err);
        history = item_history(x, json_integer_value(json_object_get(item, "id")));
        evd_page_item(&x->out, &x->view, item, history);
        json_decref(history);
        json_decref(item);
        return evd_console_html(x, MHD_HTTP_OK);
}

/* Which field a refusal of `label` is about, from the daemon's reason. */
static const char *label_field(const char *why)
{
        if (strstr(why, "case"))
                return "case";
        if (strstr(why, "party"))
                return "party";
        if (strstr(why, "handler"))
                return "handler";
        if (strstr(why, "session"))
                return "session";
        if (strstr(why, "item"))
                return "items";
        return NULL;
}

static enum MHD_Result h_label(struct ctx *x)
{
        const char *session = evd_web_form_get(&x->form, "session");
        const char *handler = evd_web_form_get(&x->form, "handler");
        json_t *args, *list = json_array(), *done = NULL;
        struct evd_err err = { 0 };
        const char *item;
        int r;

        for (size_t i = 0; list && (item = evd_web_form_get_nth(&x->form, "item", i)); i++)
                (void)json_array_append_new(list, json_string(item));
        if (json_array_size(list) == 0 && !(session && session[0])) {
                json_decref(list);
                evd_page_label(&x->out, &x->view, x->c->case_pattern, &x->form, "items",
                               evd_msg(x->view.lang, EVD_MSG_CHOOSE), NULL);
                return evd_console_html(x, MHD_HTTP_BAD_REQUEST);
        }
        args = json_pack("{so ss ss}", "items", list, "case",
                         evd_web_form_get(&x->form, "case") ?: "", "party",
                         evd_web_form_get(&x->form, "party") ?: "");
        if (args && session && session[0])
                (void)json_object_set_new(args, "session", json_string(session));
        if (args && handler && handler[0])
                (void)json_object_set_new(args, "handler", json_string(handler));
        r = args ? evd_console_ask(x, "label", args, &done, &err) : -ENOMEM;
        json_decref(args);
        if (r == -EINVAL || r == -ENOENT || r == -E2BIG) {
                evd_page_label(&x->out, &x->view, x->c->case_pattern, &x->form,
                               label_field(err.text), err.text, NULL);
                return evd_console_html(x, MHD_HTTP_BAD_REQUEST);
        }
        if (r < 0)
                return evd_console_failed(x, r, &err);
        evd_web_form_free(&x->form);
        evd_page_label(&x->out, &x->view, x->c->case_pattern, &x->form, NULL, NULL, done);
        json_decref(done);
        return evd_console_html(x, MHD_HTTP_OK);
}

static enum MHD_Result handle(struct ctx *x)
{
        switch (x->page) {
        case EVD_PAGE_ROOT:
                return evd_console_redirect(x, "/board");
        case EVD_PAGE_STATIC:
                return h_static(x);
        case EVD_PAGE_LANG:
                return h_lang(x);
        case EVD_PAGE_BOARD:
                evd_page_board(&x->out, &x->view);
                return evd_console_html(x, MHD_HTTP_OK);
        case EVD_PAGE_EVENTS:
                return h_events(x);
        case EVD_PAGE_LOGIN_FORM:
                return login_form(x, MHD_HTTP_OK, NULL);
        case EVD_PAGE_LOGIN:
                return h_login(x);
        case EVD_PAGE_LOGOUT:
                return h_logout(x);
        case EVD_PAGE_ITEMS:
                return h_items(x);
        case EVD_PAGE_ITEM:
                return h_item(x);
        case EVD_PAGE_LABEL_FORM:
                evd_page_label(&x->out, &x->view, x->c->case_pattern, &x->form, NULL, NULL, NULL);
                return evd_console_html(x, MHD_HTTP_OK);
        case EVD_PAGE_LABEL:
                return h_label(x);
        default: {
                enum MHD_Result ret = MHD_NO;

                if (evd_console_office(x, &ret))
                        return ret;
                return evd_console_message(x, MHD_HTTP_NOT_FOUND, EVD_MSG_NOT_FOUND,
                                           evd_msg(x->view.lang, EVD_MSG_NOT_YET));
        }
        }
}

/* ---- the request ---- */

static enum MHD_Result add_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
        (void)kind;
        if (key && evd_name_is_utf8(key, strlen(key)) &&
            (!value || evd_name_is_utf8(value, strlen(value))) &&
            strlen(value ? value : "") < EVD_WEB_VALUE_MAX)
                (void)evd_web_form_add(cls, key, value ? value : "");
        return MHD_YES;
}

/* Who is asking, in which language, and with what: fills x; an HTTP status to refuse
 * with, or 0. */
static unsigned prepare(struct ctx *x, struct request *rq)
{
        const char *cookies = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Cookie");
        const char *ctype = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Content-Type");
        char lang[8] = "", sid[EVD_WEB_ID_LEN + 8] = "";

        (void)evd_web_cookie(cookies, COOKIE_LANG, lang, sizeof(lang));
        x->view.lang = evd_msg_lang(lang);
        x->view.path = x->path;
        if (evd_web_cookie(cookies, COOKIE_SESSION, sid, sizeof(sid)) == 0 &&
            evd_web_session_get(x->c->sessions, sid, evd_clock_now(), &x->session) == 0) {
                x->signed_in = true;
                x->view.user = x->session.user;
                x->view.role = x->session.role;
                x->view.csrf = x->session.csrf;
        }
        (void)MHD_get_connection_values(x->conn, MHD_GET_ARGUMENT_KIND, add_query, &x->form);
        if (rq->too_big)
                return MHD_HTTP_CONTENT_TOO_LARGE;
        if (strcmp(x->method, "POST") == 0) {
                if (!ctype || strncmp(ctype, "application/x-www-form-urlencoded", 33) != 0)
                        return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
                if (evd_web_form_parse(rq->body.data ? rq->body.data : "", rq->body.len, &x->form) <
                    0)
                        return MHD_HTTP_BAD_REQUEST;
        }
        return 0;
}

/* Sign-in, role and CSRF: false to go on, or true with the refusal queued in *ret. */
static bool refused(struct ctx *x, enum MHD_Result *ret)
{
        const char *need = evd_page_role(x->page);
        bool public_page = x->page == EVD_PAGE_ROOT || x->page == EVD_PAGE_STATIC ||
                           x->page == EVD_PAGE_LANG || x->page == EVD_PAGE_LOGIN_FORM ||
                           x->page == EVD_PAGE_LOGIN;
        bool board = x->page == EVD_PAGE_BOARD || x->page == EVD_PAGE_EVENTS;

        if (public_page || (board && (x->c->loopback || x->signed_in)))
                return false;
        if (!x->signed_in) {
                struct evd_buf to = { .max = 2048 };

                evd_buf_str(&to, "/login?next=");
                (void)evd_web_urlencode(&to, x->page == EVD_PAGE_EVENTS ? "/board" : x->path);
                *ret = to.error ? MHD_NO : evd_console_redirect(x, to.data);
                evd_buf_free(&to);
                return true;
        }
        if (!evd_page_role_ok(x->session.role, need)) {
                *ret = evd_console_message(x, MHD_HTTP_FORBIDDEN, EVD_MSG_FORBIDDEN,
                                           evd_msg(x->view.lang, EVD_MSG_FORBIDDEN_TEXT));
                return true;
        }
        if (strcmp(x->method, "POST") == 0 &&
            (!origin_ok(x) ||
             !evd_web_token_equal(x->session.csrf, evd_web_form_get(&x->form, "csrf")))) {
                *ret = evd_console_message(x, MHD_HTTP_FORBIDDEN, EVD_MSG_FORBIDDEN,
                                           evd_msg(x->view.lang, EVD_MSG_BAD_CSRF));
                return true;
        }
        return false;
}

static enum MHD_Result dispatch(struct evd_console *c, struct MHD_Connection *conn, const char *url,
                                const char *method, struct request *rq)
{
        struct ctx *x = calloc(1, sizeof(*x));
        enum MHD_Result ret = MHD_NO;
        unsigned status;
        int id;

        if (!x)
                return MHD_NO;
        x->c = c;
        x->conn = conn;
        x->method = method;
        x->path = url;
        x->out.max = 32u << 20;
        id = evd_web_route(evd_console_routes, evd_console_n_routes, method, url, x->param,
                           sizeof(x->param));
        status = prepare(x, rq);
        if (id == -EOPNOTSUPP)
                ret = evd_console_message(x, MHD_HTTP_METHOD_NOT_ALLOWED, EVD_MSG_NOT_FOUND, url);
        else if (id < 0)
                ret = evd_console_message(x, MHD_HTTP_NOT_FOUND, EVD_MSG_NOT_FOUND, url);
        else if (status)
                ret = evd_console_message(x, status, EVD_MSG_FAILED, "bad request");
        else {
                x->page = (enum evd_page)id;
                if (!refused(x, &ret))
                        ret = handle(x);
        }
        evd_web_form_free(&x->form);
        evd_buf_free(&x->out);
        explicit_bzero(&x->session, sizeof(x->session));
        free(x);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
        struct request *rq = *con_cls;

        (void)version;
        if (!rq) {
                rq = calloc(1, sizeof(*rq));
                if (!rq)
                        return MHD_NO;
                rq->body.max = EVD_WEB_BODY_MAX;
                *con_cls = rq;
                return MHD_YES;
        }
        if (*upload_data_size) {
                if (!rq->too_big && evd_buf_add(&rq->body, upload_data, *upload_data_size) < 0)
                        rq->too_big = true;
                *upload_data_size = 0;
                return MHD_YES;
        }
        return dispatch(cls, conn, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        struct request *rq = *con_cls;

        (void)cls;
        (void)conn;
        (void)toe;
        if (!rq)
                return;
        if (rq->body.data)
                explicit_bzero(rq->body.data, rq->body.len); /* may hold a password */
        evd_buf_free(&rq->body);
        free(rq);
        *con_cls = NULL;
}

/* ---- start and stop ---- */

static int read_pem(const char *path, char **ret, struct evd_err *err)
{
        FILE *f = fopen(path, "re");
        char *text = calloc(1, 1 << 20);
        size_t n;

        if (!f || !text) {
                int e = f ? ENOMEM : errno;

                if (f)
                        (void)fclose(f);
                free(text);
                return evd_err_set(err, -e, "%s: %s", path, strerror(e));
        }
        n = fread(text, 1, (1 << 20) - 1, f);
        (void)fclose(f);
        if (n == 0 || n >= (1 << 20) - 1) {
                free(text);
                return evd_err_set(err, -EINVAL, "%s: not a PEM file of a sensible size", path);
        }
        *ret = text;
        return 0;
}

static void console_free(struct evd_console *c)
{
        if (c->poller_started) {
                pthread_mutex_lock(&c->lock);
                c->stopping = true;
                pthread_cond_broadcast(&c->wake);
                pthread_cond_broadcast(&c->changed);
                pthread_mutex_unlock(&c->lock);
        }
        if (c->mhd)
                MHD_stop_daemon(c->mhd);
        if (c->poller_started)
                (void)pthread_join(c->poller, NULL);
        while (c->n_idle > 0)
                evd_ctl_close(c->idle[--c->n_idle]);
        evd_console_downloads_free(c);
        pthread_cond_destroy(&c->pool_free);
        pthread_mutex_destroy(&c->pool_lock);
        free(c->spool);
        pthread_cond_destroy(&c->wake);
        pthread_cond_destroy(&c->changed);
        pthread_mutex_destroy(&c->lock);
        evd_web_sessions_free(c->sessions);
        free(c->socket_path);
        free(c->case_pattern);
        if (c->key_pem)
                explicit_bzero(c->key_pem, strlen(c->key_pem));
        free(c->key_pem);
        free(c->cert_pem);
        free(c->board);
        free(c);
}

static int console_init(struct evd_console *c, const struct evd_console_options *o,
                        struct evd_err *err)
{
        pthread_condattr_t ca;

        pthread_mutex_init(&c->lock, NULL);
        (void)pthread_condattr_init(&ca);
        (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&c->wake, &ca);
        pthread_cond_init(&c->changed, &ca);
        pthread_mutex_init(&c->pool_lock, NULL);
        pthread_cond_init(&c->pool_free, &ca);
        (void)pthread_condattr_destroy(&ca);
        for (size_t i = 0; i < EVD_CONSOLE_DOWNLOADS_MAX; i++)
                c->downloads[i].fd = -1;
        c->spool = strdup(o->spool && o->spool[0] ? o->spool : "/var/tmp");
        c->socket_path = strdup(o->control_socket);
        c->case_pattern = strdup(o->case_pattern ? o->case_pattern : "");
        c->assets = o->assets;
        c->n_assets = o->n_assets;
        c->poll_ms = o->poll_ms > 0 ? o->poll_ms : 200;
        if (!c->socket_path || !c->case_pattern || !c->spool ||
            evd_web_sessions_new(SESSIONS_MAX, IDLE_S, ABSOLUTE_S, &c->sessions) < 0)
                return evd_err_set(err, -ENOMEM, "out of memory");
        if (o->tls_cert && o->tls_cert[0]) {
                int r;

                if ((r = read_pem(o->tls_cert, &c->cert_pem, err)) < 0 ||
                    (r = read_pem(o->tls_key, &c->key_pem, err)) < 0)
                        return r;
                c->tls = true;
        }
        return 0;
}

int evd_console_start(const struct evd_console_options *o, struct evd_console **ret,
                      struct evd_err *err)
{
        struct evd_console *c = calloc(1, sizeof(*c));
        struct sockaddr_storage addr;
        socklen_t addr_len;
        unsigned flags =
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
        unsigned max = o->max_connections ? o->max_connections : 64;
        int r;

        if (!c)
                return evd_err_set(err, -ENOMEM, "out of memory");
        if ((r = console_init(c, o, err)) < 0)
                goto fail;
        if (evd_web_parse_listen(o->listen, &addr, &addr_len, &c->loopback) < 0) {
                r = evd_err_set(err, -EINVAL, "listen '%s' is not ADDRESS:PORT", o->listen);
                goto fail;
        }
        if (!c->loopback && !c->tls) {
                r = evd_err_set(err, -EINVAL,
                                "listen %s is not loopback: it needs tls_cert and "
                                "tls_key",
                                o->listen);
                goto fail;
        }
        if (addr.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        if (c->tls)
                flags |= MHD_USE_TLS;
        if (pthread_create(&c->poller, NULL, poller_main, c) != 0) {
                r = evd_err_set(err, -EAGAIN, "cannot start the board poller");
                goto fail;
        }
        c->poller_started = true;
        c->mhd = MHD_start_daemon(
                flags, 0, NULL, NULL, on_request, c, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                MHD_OPTION_CONNECTION_LIMIT, max, MHD_OPTION_PER_IP_CONNECTION_LIMIT, max / 2,
                MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                (size_t)(64 * 1024), MHD_OPTION_NOTIFY_COMPLETED, on_completed, c,
                c->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, c->cert_pem,
                MHD_OPTION_HTTPS_MEM_KEY, c->key_pem, MHD_OPTION_END);
        if (!c->mhd) {
                r = evd_err_set(err, -EADDRNOTAVAIL, "cannot listen on %s", o->listen);
                goto fail;
        }
        *ret = c;
        return 0;
fail:
        console_free(c);
        return r;
}

void evd_console_stop(struct evd_console *c)
{
        if (c)
                console_free(c);
}
