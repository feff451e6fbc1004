#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deliver.h"
#include "log.h"

struct conn;

#define TRIM_AFTER_MS 200 /* a request this long gives its memory back after it (trim_soon) */

struct evd_request {
        uv_work_t work;
        struct conn *conn;
        const struct evd_control_command *cmd;
        json_t *args;
        json_t *result;
        struct evd_err err;
        int rc;
        bool long_run;          /* it ran TRIM_AFTER_MS or more */
        int sock;               /* a dup of the connection's socket, for fds the command asks for */
        struct evd_actor actor; /* the unix caller, or the session's account */
        enum evd_role role;
        char token[EVD_CONTROL_TOKEN_MAX]; /* "" when none */
};

struct conn {
        uv_pipe_t pipe;
        struct evd_control *control;
        struct conn *next; /* in control->conns */
        struct evd_actor actor;
        enum evd_role role;
        bool replicator; /* may call the replicator's commands (and only those) */
        char *buf;       /* bytes read and not yet taken as lines; grows up to a line */
        size_t len, cap;
        uint64_t last_ms; /* uv_now when the last complete request came, or accept */
        int strikes;      /* refused or malformed requests */
        bool busy;        /* a request is running: lines wait, reading pauses */
        bool throttled;   /* replies wait for the client to read them: reading pauses */
        bool closing;     /* uv_close called */
        int refs;         /* the handle, plus each queued line and running request */
};

/* Refusal summaries handed to a pool thread for on_refused. */
struct flush {
        uv_work_t work;
        struct evd_control *control;
        size_t n;
        struct evd_refusal items[EVD_REFUSALS_UIDS_MAX + 1];
};

/* A line to write, handed from a pool thread to the loop. */
struct outline {
        struct outline *next;
        struct conn *conn;
        char *text;
};

struct evd_control {
        uv_loop_t *loop;
        uv_pipe_t server;
        uv_async_t wake;
        char path[108];
        bool made_socket;
        const struct evd_control_command *commands;
        size_t n_commands;
        struct evd_control_roles roles;
        void *userdata;
        void (*on_refused)(void *, const struct evd_refusal *);
        struct evd_refusals *refusals;
        struct evd_control_limits limits;
        uv_timer_t tick; /* idle connections, refusals due */
        bool flushing;   /* a flush of refusals runs */
        uv_work_t trim;  /* memory given back after a long request */
        bool trimming;
        evd_control_token_fn token_fn; /* session tokens: NULL takes each as expired */
        void *token_userdata;
        struct conn *conns;
        int n_conns;
        pthread_mutex_t lock; /* guards outbox */
        struct outline *outbox, **outbox_tail;
        int handles; /* open uv handles (server, wake, tick) */
        int inflight;
        bool closing;
};

static void control_maybe_free(struct evd_control *c);

const char *evd_role_name(enum evd_role role)
{
        switch (role) {
        case EVD_ROLE_CLERK:
                return "clerk";
        case EVD_ROLE_ARCHIVIST:
                return "archivist";
        case EVD_ROLE_ADMIN:
                return "admin";
        case EVD_ROLE_REPLICATOR:
                return "replicator";
        default:
                return "none";
        }
}

enum evd_role evd_control_role_of(uid_t uid, const struct evd_control_roles *roles)
{
        struct passwd pw, *pwp = NULL;
        enum evd_role best = EVD_ROLE_NONE;
        gid_t groups[256];
        int n = (int)EVD_ARRAY_SIZE(groups);
        char buf[4096];

        if (uid == 0)
                return EVD_ROLE_ADMIN;
        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp)
                return EVD_ROLE_NONE;
        if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
                n = (int)EVD_ARRAY_SIZE(groups);
        for (int i = 0; i < n; i++) {
                struct group gr, *grp = NULL;
                char gbuf[4096];

                if (getgrgid_r(groups[i], &gr, gbuf, sizeof(gbuf), &grp) != 0 || !grp)
                        continue;
                if (roles->admin && strcmp(gr.gr_name, roles->admin) == 0)
                        best = EVD_ROLE_ADMIN;
                else if (roles->archivist && strcmp(gr.gr_name, roles->archivist) == 0 &&
                         best < EVD_ROLE_ARCHIVIST)
                        best = EVD_ROLE_ARCHIVIST;
                else if (roles->clerk && strcmp(gr.gr_name, roles->clerk) == 0 &&
                         best < EVD_ROLE_CLERK)
                        best = EVD_ROLE_CLERK;
        }
        return best;
}

bool evd_control_is_replicator(uid_t uid, const struct evd_control_roles *roles)
{
        struct passwd pw, *pwp = NULL;
        gid_t groups[256];
        int n = (int)EVD_ARRAY_SIZE(groups);
        char buf[4096];

        if (uid == 0)
                return true;
        if (!roles->replicator || getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp)
                return false;
        if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
                n = (int)EVD_ARRAY_SIZE(groups);
        for (int i = 0; i < n; i++) {
                struct group gr, *grp = NULL;
                char gbuf[4096];

                if (getgrgid_r(groups[i], &gr, gbuf, sizeof(gbuf), &grp) == 0 && grp &&
                    strcmp(gr.gr_name, roles->replicator) == 0)
                        return true;
        }
        return false;
}

static void conn_unref(struct conn *conn)
{
        struct evd_control *c = conn->control;

        if (--conn->refs > 0)
                return;
        free(conn->buf);
        free(conn);
        c->n_conns--;
        control_maybe_free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
        conn_unref(h->data);
}

static void conn_close(struct conn *conn)
{
        struct conn **pp;

        if (conn->closing)
                return;
        conn->closing = true;
        for (pp = &conn->control->conns; *pp; pp = &(*pp)->next)
                if (*pp == conn) {
                        *pp = conn->next;
                        break;
                }
        uv_close((uv_handle_t *)&conn->pipe, on_conn_closed);
}

static size_t conn_queued(struct conn *conn)
{
        return uv_stream_get_write_queue_size((const uv_stream_t *)&conn->pipe);
}

static void conn_resume(struct conn *conn);

static void on_written(uv_write_t *w, int status)
{
        struct conn *conn = w->handle->data;

        free(w->data);
        free(w);
        /* A client gone away: nothing to do. One that read its replies is read again. */
        if (status == 0 && conn->throttled && !conn->closing &&
            conn_queued(conn) <= conn->control->limits.queue_soft / 2) {
                conn->throttled = false;
                conn_resume(conn);
        }
}

/* Write text + "\n" (text taken). Loop thread only. */
static void conn_send(struct conn *conn, char *text)
{
        size_t len = strlen(text);
        uv_write_t *w;
        uv_buf_t b;
        char *line;

        if (conn->closing) {
                free(text);
                return;
        }
        if (conn_queued(conn) > conn->control->limits.queue_hard) {
                /* Not read for so long that the replies would grow without bound. */
                free(text);
                conn_close(conn);
                return;
        }
        line = realloc(text, len + 2);
        w = malloc(sizeof(*w));
        if (!line || !w) {
                free(line ? line : text);
                free(w);
                conn_close(conn);
                return;
        }
        line[len] = '\n';
        line[len + 1] = '\0';
        w->data = line;
        b = uv_buf_init(line, (unsigned)len + 1);
        if (uv_write(w, (uv_stream_t *)&conn->pipe, &b, 1, on_written) < 0) {
                free(line);
                free(w);
                conn_close(conn);
        }
}

static void send_json(struct conn *conn, json_t *j)
{
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

        json_decref(j);
        if (text)
                conn_send(conn, text);
}

static void send_error(struct conn *conn, int code, const char *msg)
{
        send_json(conn, json_pack("{sb ss si}", "ok", 0, "error", msg, "errno", -code));
}

int evd_request_receive_fd(struct evd_request *req, json_t *ask, int *ret_fd, struct evd_err *err)
{
        *ret_fd = -1;
        if (!ask)
                return evd_err_set(err, -ENOMEM, "out of memory");
        evd_request_progress(req, json_pack("{so}", "need_fd", ask));
        return evd_deliver_receive(req->sock, EVD_DELIVER_WAIT_MS, ret_fd, err);
}

bool evd_request_client_gone(const struct evd_request *req)
{
        return evd_deliver_peer_gone(req->sock);
}

void evd_request_progress(struct evd_request *req, json_t *progress)
{
        struct evd_control *c = req->conn->control;
        json_t *line = json_pack("{so}", "progress", progress);
        struct outline *o;
        char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;

        json_decref(line);
        o = text ? malloc(sizeof(*o)) : NULL;
        if (!o) {
                free(text);
                return;
        }
        o->next = NULL;
        o->conn = req->conn; /* kept alive: the running request holds a reference */
        o->text = text;
        pthread_mutex_lock(&c->lock);
        *c->outbox_tail = o;
        c->outbox_tail = &o->next;
        pthread_mutex_unlock(&c->lock);
        (void)uv_async_send(&c->wake);
}

/* Write the progress lines the pool threads left. */
static void flush_outbox(struct evd_control *c)
{
        struct outline *o;

        pthread_mutex_lock(&c->lock);
        o = c->outbox;
        c->outbox = NULL;
        c->outbox_tail = &c->outbox;
        pthread_mutex_unlock(&c->lock);
        while (o) {
                struct outline *next = o->next;

                conn_send(o->conn, o->text);
                free(o);
                o = next;
        }
}

static void on_wake(uv_async_t *a)
{
        flush_outbox(a->data);
}

const struct evd_actor *evd_request_actor(const struct evd_request *req)
{
        return &req->actor;
}

enum evd_role evd_request_role(const struct evd_request *req)
{
        return req->role;
}

/* ---- session tokens ---- */

void evd_control_set_tokens(struct evd_control *c, evd_control_token_fn fn, void *userdata)
{
        c->token_fn = fn;
        c->token_userdata = userdata;
}

const char *evd_request_token(const struct evd_request *req)
{
        return req->token[0] ? req->token : NULL;
}

/* Who a request runs as: the unix caller, or the account of its token (0), or nobody
 * when the token is not a live session (<0). */
static int request_identity(struct evd_control *c, const struct conn *conn, const char *token,
                            struct evd_actor *actor, enum evd_role *role)
{
        *actor = conn->actor;
        *role = conn->role;
        if (!token[0])
                return 0;
        *role = EVD_ROLE_NONE;
        if (c->token_fn && c->token_fn(c->token_userdata, token, actor, role) == 0)
                return 0;
        *actor = conn->actor;
        *role = EVD_ROLE_NONE;
        return -EACCES;
}

/* Count a refusal per unix uid (refusals.h); one of a session names its account. */
static void refusal_note(struct evd_control *c, const struct conn *conn,
                         const struct evd_actor *actor, const char *cmd, const char *why)
{
        char noted[EVD_ACTOR_NAME_MAX + 200];

        if (strcmp(actor->name, conn->actor.name) == 0) {
                evd_refusals_note(c->refusals, actor, cmd, why, (int64_t)time(NULL));
                return;
        }
        (void)snprintf(noted, sizeof(noted), "%s: %s", actor->name, why);
        evd_refusals_note(c->refusals, &conn->actor, cmd, noted, (int64_t)time(NULL));
}

static uint64_t mono_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void work_run(uv_work_t *w)
{
        struct evd_request *req = w->data;
        uint64_t t0 = mono_ms();

        req->rc = req->cmd->run(req->conn->control->userdata, req, req->args, &req->result,
                                &req->err);
        req->long_run = mono_ms() - t0 >= TRIM_AFTER_MS;
}

/* A request that ran long (a scan of the catalogue, a report) leaves what it freed in
 * the arena of its pool thread, where glibc keeps it: given back to the system on a
 * pool thread once its reply is out, the daemon does not stay at its largest request's
 * size (issue 16: RSS). One trim at a time. */
static void trim_run(uv_work_t *w)
{
        (void)w;
        (void)malloc_trim(0);
}

static void trim_done(uv_work_t *w, int status)
{
        struct evd_control *c = w->data;

        (void)status;
        c->trimming = false;
        c->inflight--;
        control_maybe_free(c);
}

static void trim_soon(struct evd_control *c)
{
        if (c->trimming || c->closing)
                return;
        c->trim.data = c;
        if (uv_queue_work(c->loop, &c->trim, trim_run, trim_done) == 0) {
                c->trimming = true;
                c->inflight++;
        }
}

static void take_lines(struct conn *conn);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* Take the lines read, then read more unless a request runs or replies wait. */
static void conn_resume(struct conn *conn)
{
        take_lines(conn);
        if (!conn->busy && !conn->closing && !conn->throttled)
                (void)uv_read_start((uv_stream_t *)&conn->pipe, on_alloc, on_read);
}

static void work_done(uv_work_t *w, int status)
{
        struct evd_request *req = w->data;
        struct conn *conn = req->conn;
        struct evd_control *c = conn->control;

        /* Progress lines queued before the result go out first. */
        flush_outbox(c);
        if (status < 0) {
                send_error(conn, -ECANCELED, "request cancelled");
        } else if (req->rc < 0) {
                send_error(conn, req->rc, req->err.text[0] ? req->err.text : strerror(-req->rc));
        } else {
                send_json(conn, json_pack("{sb so}", "ok", 1, "result",
                                          req->result ? req->result : json_null()));
                req->result = NULL;
        }
        json_decref(req->result);
        json_decref(req->args);
        if (req->sock >= 0)
                (void)close(req->sock);
        if (req->long_run)
                trim_soon(c);
        explicit_bzero(req->token, sizeof(req->token));
        free(req);
        c->inflight--;
        conn->busy = false;
        conn->last_ms = uv_now(c->loop); /* idle from the end of its last request */
        if (!conn->closing)
                conn_resume(conn);
        conn_unref(conn);
}

static const struct evd_control_command *find_command(struct evd_control *c, const char *name)
{
        for (size_t i = 0; i < c->n_commands; i++)
                if (strcmp(c->commands[i].name, name) == 0)
                        return &c->commands[i];
        return NULL;
}

/* The session token of request j, if any, into ret_token (size bytes; NULL: ignored). */
static int parse_token(const json_t *j, char *ret_token, size_t size, struct evd_err *err)
{
        const json_t *t = json_object_get(j, "token");

        if (!t || !ret_token)
                return 0;
        if (!json_is_string(t) || json_string_length(t) == 0 ||
            json_string_length(t) >= EVD_CONTROL_TOKEN_MAX || json_string_length(t) >= size ||
            strlen(json_string_value(t)) != json_string_length(t))
                return evd_err_set(err, -EINVAL, "\"token\" must be a session token string");
        memcpy(ret_token, json_string_value(t), json_string_length(t) + 1);
        return 0;
}

static int parse_line(const char *line, size_t len, char *ret_cmd, size_t cmd_size,
                      json_t **ret_args, char *ret_token, size_t token_size, struct evd_err *err)
{
        json_error_t jerr;
        json_t *j, *args;
        const char *name;
        int r = 0;

        if (len > EVD_CONTROL_LINE_MAX)
                return evd_err_set(err, -E2BIG, "request line longer than %d bytes",
                                   EVD_CONTROL_LINE_MAX);
        j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                return evd_err_set(err, -EINVAL, "request is not valid JSON");
        if (!json_is_object(j)) {
                r = evd_err_set(err, -EINVAL, "request is not a JSON object");
                goto out;
        }
        name = json_string_value(json_object_get(j, "cmd"));
        args = json_object_get(j, "args");
        if (!name) {
                r = evd_err_set(err, -EINVAL, "request has no \"cmd\" string");
                goto out;
        }
        if (args && !json_is_object(args)) {
                r = evd_err_set(err, -EINVAL, "\"args\" must be an object");
                goto out;
        }
        if (evd_snprintf(ret_cmd, cmd_size, "%s", name) < 0) {
                r = evd_err_set(err, -EOPNOTSUPP, "unknown command");
                goto out;
        }
        if ((r = parse_token(j, ret_token, token_size, err)) < 0)
                goto out;
        *ret_args = args ? json_incref(args) : json_object();
        if (!*ret_args)
                r = evd_err_set(err, -ENOMEM, "out of memory");
out:
        json_decref(j);
        return r;
}

/* Answer a refused or malformed request; past the limit, close the connection. */
static void conn_strike(struct conn *conn, int code, const char *why)
{
        send_error(conn, code, why);
        if (++conn->strikes < conn->control->limits.refusals_max)
                return;
        send_error(conn, -EPERM, "too many refused requests: closing the connection");
        conn_close(conn);
}

int evd_control_parse_request(const char *line, size_t len, char *ret_cmd, size_t cmd_size,
                              json_t **ret_args, struct evd_err *err)
{
        return parse_line(line, len, ret_cmd, cmd_size, ret_args, NULL, 0, err);
}

/* Handle one request line; may start a request (conn->busy). */
static void handle_line(struct conn *conn, const char *line, size_t len)
{
        struct evd_control *c = conn->control;
        const struct evd_control_command *cmd;
        struct evd_err err = { 0 };
        struct evd_request *req;
        json_t *args = NULL;
        char name[64], why[160], token[EVD_CONTROL_TOKEN_MAX] = "";
        uv_os_fd_t fd = -1;
        struct evd_actor actor;
        enum evd_role role;
        bool expired;

        if (parse_line(line, len, name, sizeof(name), &args, token, sizeof(token), &err) < 0) {
                conn_strike(conn, err.code, err.text);
                return;
        }
        expired = request_identity(c, conn, token, &actor, &role) < 0;
        cmd = find_command(c, name);
        if (!cmd) {
                conn_strike(conn, -EOPNOTSUPP, "unknown command");
                goto out;
        }
        /* A session token never carries the replicator's role apart. */
        if (cmd->role == EVD_ROLE_REPLICATOR ? !conn->replicator || token[0] : role < cmd->role) {
                if (expired)
                        (void)snprintf(why, sizeof(why), "session expired: sign in again");
                else
                        (void)snprintf(why, sizeof(why), "permission denied: %s needs the %s role",
                                       name, evd_role_name(cmd->role));
                /* Counted in memory only: the audit entry is written off the loop. */
                refusal_note(c, conn, &actor, name, why);
                conn_strike(conn, -EPERM, why);
                goto out;
        }
        req = calloc(1, sizeof(*req));
        if (!req) {
                send_error(conn, -ENOMEM, "out of memory");
                goto out;
        }
        req->conn = conn;
        req->cmd = cmd;
        req->actor = actor;
        req->role = role;
        memcpy(req->token, token, sizeof(token));
        req->args = args;
        args = NULL;
        req->work.data = req;
        /* The command's own handle on the socket: the connection's may be closed (by a
         * failed write) while the command still waits on it for a file descriptor. */
        req->sock = uv_fileno((uv_handle_t *)&conn->pipe, &fd) == 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3)
                                                                    : -1;
        if (uv_queue_work(c->loop, &req->work, work_run, work_done) < 0) {
                json_decref(req->args);
                if (req->sock >= 0)
                        (void)close(req->sock);
                free(req);
                send_error(conn, -EAGAIN, "cannot run the request now");
                goto out;
        }
        conn->busy = true;
        conn->refs++;
        c->inflight++;
        (void)uv_read_stop((uv_stream_t *)&conn->pipe);
out:
        explicit_bzero(token, sizeof(token));
        json_decref(args);
}

#define CONN_BUF_MIN 4096

/* Take whole lines from the buffer until a request is running, or until the client
 * has more replies waiting than it may (then reading stops until it reads them). */
static void take_lines(struct conn *conn)
{
        while (!conn->busy && !conn->closing && conn->len > 0) {
                char *nl = memchr(conn->buf, '\n', conn->len);
                size_t used;

                if (!nl)
                        break;
                if (conn_queued(conn) > conn->control->limits.queue_soft) {
                        conn->throttled = true;
                        (void)uv_read_stop((uv_stream_t *)&conn->pipe);
                        break;
                }
                used = (size_t)(nl - conn->buf) + 1;
                conn->last_ms = uv_now(conn->control->loop);
                if (used > 1)
                        handle_line(conn, conn->buf, used - 1);
                memmove(conn->buf, conn->buf + used, conn->len - used);
                conn->len -= used;
        }
        /* A long line once read does not keep its buffer. */
        if (conn->cap > 4 * CONN_BUF_MIN && conn->len <= CONN_BUF_MIN) {
                char *small = realloc(conn->buf, CONN_BUF_MIN);

                if (small) {
                        conn->buf = small;
                        conn->cap = CONN_BUF_MIN;
                }
        }
}

/* Room to read into: the buffer grows as a line does, up to one line and a byte. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct conn *conn = h->data;
        size_t room;

        (void)suggested;
        if (conn->len == conn->cap && conn->cap < EVD_CONTROL_LINE_MAX + 1) {
                size_t cap = conn->cap ? conn->cap * 2 : CONN_BUF_MIN;
                char *grown;

                if (cap > EVD_CONTROL_LINE_MAX + 1)
                        cap = EVD_CONTROL_LINE_MAX + 1;
                grown = realloc(conn->buf, cap);
                if (grown) {
                        conn->buf = grown;
                        conn->cap = cap;
                }
        }
        room = conn->cap - conn->len;
        buf->base = conn->buf ? conn->buf + conn->len : NULL;
        buf->len = room > 65536 ? 65536 : room; /* 0: UV_ENOBUFS, and the client is closed */
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
        struct conn *conn = s->data;

        (void)buf;
        if (n < 0) {
                conn_close(conn);
                return;
        }
        conn->len += (size_t)n;
        take_lines(conn);
        if (!conn->closing && conn->len > EVD_CONTROL_LINE_MAX) {
                /* No newline within the limit: answer once and drop the connection, as
                 * there is no way to find where the next request starts. */
                send_error(conn, -E2BIG, "request line longer than 262144 bytes");
                conn->len = 0;
                conn_close(conn);
        }
}

/* Whether a new connection from uid with role fits the limits; -EMFILE with why if
 * not. Connections being closed no longer count. */
static int admit(struct evd_control *c, const struct conn *conn, char *why, size_t size)
{
        const struct evd_control_limits *l = &c->limits;
        int all = 0, same_uid = 0;

        for (const struct conn *o = c->conns; o; o = o->next) {
                all++;
                if (o->actor.uid == conn->actor.uid)
                        same_uid++;
        }
        if (all >= l->clients_max) {
                (void)snprintf(why, size, "too many clients connected");
                return -EMFILE;
        }
        if (conn->role >= EVD_ROLE_ADMIN)
                return 0;
        if (all >= l->clients_max - l->admin_reserved) {
                (void)snprintf(why, size, "too many clients connected (the rest kept for admins)");
                return -EMFILE;
        }
        if (same_uid >= l->per_uid_max) {
                (void)snprintf(why, size, "too many connections from uid %u (at most %d)",
                               (unsigned)conn->actor.uid, l->per_uid_max);
                return -EMFILE;
        }
        return 0;
}

/* Who is calling: uid, name, role, from SO_PEERCRED. */
static int identify(struct evd_control *c, struct conn *conn)
{
        struct ucred cred;
        socklen_t credlen = sizeof(cred);
        struct passwd pw, *pwp = NULL;
        char pwbuf[4096];
        uv_os_fd_t fd;

        if (uv_fileno((uv_handle_t *)&conn->pipe, &fd) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0)
                return -errno;
        conn->actor.uid = (uint32_t)cred.uid;
        if (getpwuid_r(cred.uid, &pw, pwbuf, sizeof(pwbuf), &pwp) == 0 && pwp)
                (void)snprintf(conn->actor.name, sizeof(conn->actor.name), "%s", pw.pw_name);
        else
                (void)snprintf(conn->actor.name, sizeof(conn->actor.name), "uid %u",
                               (unsigned)cred.uid);
        conn->role = evd_control_role_of(cred.uid, &c->roles);
        conn->replicator = evd_control_is_replicator(cred.uid, &c->roles);
        return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
        struct evd_control *c = server->data;
        struct conn *conn;
        char why[128];
        int r;

        if (status < 0)
                return;
        conn = calloc(1, sizeof(*conn));
        if (!conn)
                return;
        conn->control = c;
        conn->refs = 1;
        conn->last_ms = uv_now(c->loop);
        c->n_conns++;
        (void)uv_pipe_init(c->loop, &conn->pipe, 0);
        conn->pipe.data = conn;
        if (uv_accept(server, (uv_stream_t *)&conn->pipe) < 0 || identify(c, conn) < 0) {
                conn->closing = true;
                uv_close((uv_handle_t *)&conn->pipe, on_conn_closed);
                return;
        }
        r = admit(c, conn, why, sizeof(why));
        conn->next = c->conns;
        c->conns = conn;
        if (r < 0) {
                evd_refusals_note(c->refusals, &conn->actor, "(connect)", why, (int64_t)time(NULL));
                send_error(conn, r, why);
                conn_close(conn);
                return;
        }
        (void)uv_read_start((uv_stream_t *)&conn->pipe, on_alloc, on_read);
}

static void flush_run(uv_work_t *w)
{
        struct flush *f = w->data;

        for (size_t i = 0; i < f->n; i++)
                f->control->on_refused(f->control->userdata, &f->items[i]);
}

static void flush_done(uv_work_t *w, int status)
{
        struct flush *f = w->data;
        struct evd_control *c = f->control;

        (void)status;
        free(f);
        c->flushing = false;
        c->inflight--;
        control_maybe_free(c);
}

/* Hand the refusal summaries due (all of them when all) to a pool thread. */
static void flush_refusals(struct evd_control *c, bool all)
{
        int64_t now = (int64_t)time(NULL);
        struct flush *f;

        if (!evd_refusals_due(c->refusals, now) && !all)
                return;
        f = malloc(sizeof(*f));
        if (!f)
                return; /* kept in the table: tried again at the next tick */
        f->control = c;
        f->work.data = f;
        f->n = evd_refusals_take(c->refusals, now, all, f->items, EVD_ARRAY_SIZE(f->items));
        if (f->n == 0 || !c->on_refused ||
            uv_queue_work(c->loop, &f->work, flush_run, flush_done) < 0) {
                free(f);
                return;
        }
        c->flushing = true;
        c->inflight++;
}

/* Once a tick: close idle connections, audit the refusals due. */
static void on_tick(uv_timer_t *t)
{
        struct evd_control *c = t->data;
        uint64_t now = uv_now(c->loop);
        struct conn *conn = c->conns, *next;
        char why[96];

        for (; conn; conn = next) {
                next = conn->next; /* conn_close unlinks conn */
                if (conn->busy || now - conn->last_ms < c->limits.idle_ms)
                        continue;
                (void)snprintf(why, sizeof(why), "no request for %llu s: closing the connection",
                               (unsigned long long)(c->limits.idle_ms / 1000));
                send_error(conn, -ETIMEDOUT, why);
                conn_close(conn);
        }
        if (!c->flushing)
                flush_refusals(c, false);
}

void evd_control_limits_default(struct evd_control_limits *ret)
{
        *ret = (struct evd_control_limits){
                .clients_max = EVD_CONTROL_CLIENTS_MAX,
                .admin_reserved = EVD_CONTROL_ADMIN_RESERVED,
                .per_uid_max = EVD_CONTROL_PER_UID_MAX,
                .refusals_max = EVD_CONTROL_REFUSALS_MAX,
                .idle_ms = EVD_CONTROL_IDLE_MS,
                .queue_soft = EVD_CONTROL_QUEUE_SOFT,
                .queue_hard = EVD_CONTROL_QUEUE_HARD,
        };
}

void evd_control_set_limits(struct evd_control *c, const struct evd_control_limits *limits)
{
        uint64_t every;

        c->limits = *limits;
        /* Idle connections are found within a quarter of the timeout, at most a second. */
        every = c->limits.idle_ms / 4;
        every = every < 10 ? 10 : every > 1000 ? 1000 : every;
        (void)uv_timer_start(&c->tick, on_tick, every, every);
}

int evd_control_new(uv_loop_t *loop, const char *path, int listen_fd,
                    const struct evd_control_command *commands, size_t n_commands,
                    const struct evd_control_roles *roles, void *userdata,
                    void (*on_refused)(void *userdata, const struct evd_refusal *refusal),
                    struct evd_control **ret, struct evd_err *err)
{
        struct evd_control *c = calloc(1, sizeof(*c));
        struct evd_control_limits limits;
        struct stat st;
        int r;

        if (c && !(c->refusals = evd_refusals_new())) {
                free(c);
                c = NULL;
        }
        if (!c)
                return evd_err_set(err, -ENOMEM, "out of memory");
        c->loop = loop;
        c->commands = commands;
        c->n_commands = n_commands;
        c->roles = *roles;
        c->userdata = userdata;
        c->on_refused = on_refused;
        c->outbox_tail = &c->outbox;
        pthread_mutex_init(&c->lock, NULL);
        if (evd_snprintf(c->path, sizeof(c->path), "%s", path) < 0) {
                evd_refusals_free(c->refusals);
                free(c);
                return evd_err_set(err, -ENAMETOOLONG, "%s: too long for a socket", path);
        }
        (void)uv_pipe_init(loop, &c->server, 0);
        c->server.data = c;
        c->handles++;
        if (listen_fd >= 0) {
                r = uv_pipe_open(&c->server, listen_fd);
        } else {
                /* A socket left by a crash is replaced; anything else is not touched. */
                if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                        (void)unlink(path);
                r = uv_pipe_bind(&c->server, path);
                if (r == 0) {
                        c->made_socket = true;
                        /* Anyone may connect: each caller is identified by SO_PEERCRED
                         * and refused (and audited) unless its groups give it a role. */
                        (void)chmod(path, 0666);
                }
        }
        /* A deep backlog: a flood of callers must not fill the queue an admin's connect
         * waits in; the per-uid limits turn the flood away once it is accepted. */
        if (r == 0)
                r = uv_listen((uv_stream_t *)&c->server, SOMAXCONN, on_connection);
        if (r < 0) {
                (void)evd_err_set(err, r, "control socket %s: %s", path, uv_strerror(r));
                c->closing = true;
                uv_close((uv_handle_t *)&c->server, NULL);
                /* The loop frees nothing of ours: the handle's memory must outlive the
                 * close, so the struct is leaked here only until the loop runs it. */
                (void)uv_run(loop, UV_RUN_NOWAIT);
                pthread_mutex_destroy(&c->lock);
                evd_refusals_free(c->refusals);
                free(c);
                return r;
        }
        (void)uv_async_init(loop, &c->wake, on_wake);
        c->wake.data = c;
        c->handles++;
        (void)uv_timer_init(loop, &c->tick);
        c->tick.data = c;
        c->handles++;
        evd_control_limits_default(&limits);
        evd_control_set_limits(c, &limits);
        *ret = c;
        return 0;
}

static void control_maybe_free(struct evd_control *c)
{
        if (!c->closing || c->handles > 0 || c->inflight > 0 || c->n_conns > 0)
                return;
        flush_outbox(c);
        pthread_mutex_destroy(&c->lock);
        evd_refusals_free(c->refusals);
        free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
        struct evd_control *c = h->data;

        c->handles--;
        control_maybe_free(c);
}

void evd_control_free(struct evd_control *c)
{
        if (!c)
                return;
        c->closing = true;
        if (c->made_socket)
                (void)unlink(c->path);
        while (c->conns)
                conn_close(c->conns);
        /* What is still counted is audited before the loop ends. */
        flush_refusals(c, true);
        uv_close((uv_handle_t *)&c->server, on_handle_closed);
        uv_close((uv_handle_t *)&c->wake, on_handle_closed);
        uv_close((uv_handle_t *)&c->tick, on_handle_closed);
}
