#include "ctlclient.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

struct evd_ctl {
        int fd;
        bool broken;
        char *buf; /* bytes read and not yet used: buf[0..len) */
        size_t len, cap;
};

int evd_ctl_connect(const char *path, struct evd_ctl **ret, struct evd_err *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct evd_ctl *c;
        int fd, e;

        if (strlen(path) >= sizeof(sa.sun_path))
                return evd_err_set(err, -ENAMETOOLONG, "%s: too long for a socket", path);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return evd_err_set(err, -errno, "socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                e = errno;
                (void)close(fd);
                return evd_err_set(err, -e, "cannot reach evidockd at %s: %s", path, strerror(e));
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                (void)close(fd);
                return evd_err_set(err, -ENOMEM, "out of memory");
        }
        c->fd = fd;
        *ret = c;
        return 0;
}

void evd_ctl_close(struct evd_ctl *c)
{
        if (!c)
                return;
        (void)close(c->fd);
        free(c->buf);
        free(c);
}

int evd_ctl_fd(const struct evd_ctl *c)
{
        return c->fd;
}

bool evd_ctl_broken(const struct evd_ctl *c)
{
        return c->broken;
}

static int broken(struct evd_ctl *c, int code, const char *why, struct evd_err *err)
{
        c->broken = true;
        return evd_err_set(err, code, "evidockd: %s", why);
}

/* Wait for a whole line at the start of c->buf: NUL-terminated in place, its length
 * in *ret_len; the caller consumes it (consume) once parsed. */
static int read_line(struct evd_ctl *c, int timeout_ms, size_t *ret_len, struct evd_err *err)
{
        for (;;) {
                char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
                struct pollfd p = { .fd = c->fd, .events = POLLIN };
                ssize_t n;

                if (nl) {
                        *nl = '\0';
                        *ret_len = (size_t)(nl - c->buf);
                        return 0;
                }
                if (c->len >= EVD_CTL_REPLY_MAX)
                        return broken(c, -EPROTO, "reply line too long", err);
                if (c->cap - c->len < 65536) {
                        size_t cap = c->cap ? c->cap * 2 : 65536;
                        char *nb = realloc(c->buf, cap + 1);

                        if (!nb)
                                return broken(c, -ENOMEM, "out of memory", err);
                        c->buf = nb;
                        c->cap = cap;
                }
                n = poll(&p, 1, timeout_ms);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n == 0)
                        return broken(c, -ETIMEDOUT, "no reply in time", err);
                n = read(c->fd, c->buf + c->len, c->cap - c->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return broken(c, -EPIPE, "the connection closed", err);
                c->len += (size_t)n;
        }
}

static void consume(struct evd_ctl *c, size_t line_len)
{
        size_t used = line_len + 1;

        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
}

int evd_ctl_parse_reply(const char *line, size_t len, json_t **ret_progress, json_t **ret_result,
                        struct evd_err *err)
{
        json_t *j = json_loadb(line, len, 0, NULL), *v;
        int r;

        if (!json_is_object(j)) {
                json_decref(j);
                return evd_err_set(err, -EPROTO, "evidockd: unreadable reply");
        }
        if ((v = json_object_get(j, "progress"))) {
                *ret_progress = json_incref(v);
                r = 1;
        } else if (json_is_true(json_object_get(j, "ok"))) {
                v = json_object_get(j, "result");
                *ret_result = v ? json_incref(v) : json_null();
                r = 0;
        } else if (json_is_false(json_object_get(j, "ok"))) {
                json_int_t e = json_integer_value(json_object_get(j, "errno"));
                const char *why = json_string_value(json_object_get(j, "error"));

                /* The daemon sends the errno positive (control.c); accept either sign. */
                if (e > 0 && e < 4096)
                        e = -e;
                r = evd_err_set(err, e < 0 && e > -4096 ? (int)e : -EIO, "%s",
                                why ? why : "failed");
        } else {
                r = evd_err_set(err, -EPROTO, "evidockd: unreadable reply");
        }
        json_decref(j);
        return r;
}

static int send_request(struct evd_ctl *c, const char *cmd, const json_t *args, const char *token,
                        struct evd_err *err)
{
        json_t *a = args ? json_incref((json_t *)args) : json_object();
        json_t *req = json_pack("{ss so}", "cmd", cmd, "args", a); /* takes a */
        char *text;
        int r;

        if (req && token)
                (void)json_object_set_new(req, "token", json_string(token));
        text = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        if (!text)
                return evd_err_set(err, -ENOMEM, "out of memory");
        r = evd_write_full(c->fd, text, strlen(text));
        if (r == 0)
                r = evd_write_full(c->fd, "\n", 1);
        free(text);
        return r < 0 ? broken(c, -EPIPE, "cannot send the request", err) : 0;
}

int evd_ctl_request(struct evd_ctl *c, const char *cmd, const json_t *args, const char *token,
                    int timeout_ms, evd_ctl_progress_fn on_progress, void *userdata,
                    json_t **ret_result, struct evd_err *err)
{
        int r;

        if (c->broken)
                return evd_err_set(err, -EPIPE, "evidockd: the connection is broken");
        if ((r = send_request(c, cmd, args, token, err)) < 0)
                return r;
        for (;;) {
                json_t *progress = NULL;
                size_t len = 0;

                if ((r = read_line(c, timeout_ms, &len, err)) < 0)
                        return r;
                r = evd_ctl_parse_reply(c->buf, len, &progress, ret_result, err);
                consume(c, len);
                if (r == -EPROTO)
                        c->broken = true;
                if (r != 1)
                        return r;
                if (on_progress)
                        on_progress(userdata, progress);
                json_decref(progress);
        }
}
