/* ctl_session: evidockctl's side of the control socket: find it, connect, send one
 * JSON request a line, show the progress lines evidockd sends back on a terminal, and
 * hand over the final reply's result. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "err.h"
#include "util.h"

/* --socket, else control_socket of -c FILE, else of the default configuration (its
 * defaults when there is none). NULL after saying why. */
static const char *socket_path(const struct ctl *ctx, char *buf, size_t n)
{
        struct evd_conf conf;
        struct evd_err err = { 0 };
        int r;

        if (ctx->socket)
                return ctx->socket;
        r = evd_conf_load(ctx->conf_path ? ctx->conf_path : EVD_CONF_DEFAULT_PATH, &conf, &err);
        if (r == -ENOENT && !ctx->conf_path)
                evd_conf_defaults(&conf);
        else if (r < 0) {
                fprintf(stderr, "evidockctl: %s\n", err.text);
                return NULL;
        }
        (void)snprintf(buf, n, "%s", conf.control_socket);
        return buf;
}

static int connect_to(const char *path, struct ctl_session *ret)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "evidockctl: socket path too long: %s\n", path);
                return -ENAMETOOLONG;
        }
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int e = errno;

                fprintf(stderr, "evidockctl: cannot reach evidockd at %s: %s\n", path, strerror(e));
                if (fd >= 0)
                        (void)close(fd);
                return -e;
        }
        ret->fd = fd;
        ret->in = fdopen(dup(fd), "r");
        if (!ret->in) {
                ret->fd = -1;
                (void)close(fd);
                return -errno;
        }
        return 0;
}

int ctl_connect(struct ctl *ctx)
{
        char buf[EVD_CONF_PATH_MAX];
        const char *path = socket_path(ctx, buf, sizeof(buf));

        if (!path || connect_to(path, &ctx->session) < 0)
                return 1;
        return 0;
}

void ctl_disconnect(struct ctl *ctx)
{
        if (ctx->session.in)
                (void)fclose(ctx->session.in);
        if (ctx->session.fd >= 0)
                (void)close(ctx->session.fd);
        ctx->session.in = NULL;
        ctx->session.fd = -1;
}

/* Progress of an export: a bar per volume. */
static void progress_volume(const json_t *p)
{
        json_int_t done = json_integer_value(json_object_get(p, "bytes_done"));
        json_int_t total = json_integer_value(json_object_get(p, "bytes_total"));
        int filled = total > 0 && done >= 0 && done <= total ? (int)(done * 30 / total) : 0;
        char bar[31], a[32], b[32];

        memset(bar, '#', (size_t)filled);
        memset(bar + filled, '-', (size_t)(30 - filled));
        bar[30] = '\0';
        fprintf(stderr, "\rvolume %lld of %lld [%s] %3d%%  %s of %s   ",
                json_integer_value(json_object_get(p, "volume")),
                json_integer_value(json_object_get(p, "volumes")), bar,
                total > 0 ? (int)(done * 100 / total) : 0, ctl_human_size((uint64_t)done, a),
                ctl_human_size((uint64_t)total, b));
}

/* One progress line, over the last, when people watch stderr. */
static void progress_line(const struct ctl *ctx, const json_t *p)
{
        json_t *bt = json_object_get(p, "bytes_total");
        char a[32], b[32];

        if (!isatty(STDERR_FILENO) || ctx->json)
                return;
        if (json_object_get(p, "volume"))
                progress_volume(p);
        else if (bt)
                fprintf(stderr, "\r%lld/%lld files, %s of %s   ",
                        json_integer_value(json_object_get(p, "files_done")),
                        json_integer_value(json_object_get(p, "files_total")),
                        ctl_human_size(
                                (uint64_t)json_integer_value(json_object_get(p, "bytes_done")), a),
                        ctl_human_size((uint64_t)json_integer_value(bt), b));
        else
                fprintf(stderr, "\r%lld items checked, %s   ",
                        json_integer_value(json_object_get(p, "items_checked")),
                        ctl_human_size(
                                (uint64_t)json_integer_value(json_object_get(p, "bytes_checked")),
                                a));
        fflush(stderr);
}

static int send_request(struct ctl *ctx, const char *wire, json_t *args)
{
        json_t *req = json_pack("{ss sO}", "cmd", wire, "args", args);
        char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
        int rc = 0;

        json_decref(req);
        if (!text || evd_write_full(ctx->session.fd, text, strlen(text)) < 0 ||
            evd_write_full(ctx->session.fd, "\n", 1) < 0) {
                fprintf(stderr, "evidockctl: cannot send the request: %s\n", strerror(errno));
                rc = 1;
        }
        free(text);
        return rc;
}

int ctl_request(struct ctl *ctx, const char *wire, json_t *args, json_t **ret_result)
{
        char *line = NULL;
        size_t cap = 0;
        bool progressed = false;
        int rc = 1;

        if (send_request(ctx, wire, args) != 0)
                return 1;
        while (getline(&line, &cap, ctx->session.in) > 0) {
                json_t *reply = json_loads(line, 0, NULL), *p;

                if (!reply) {
                        fprintf(stderr, "evidockctl: unreadable reply from evidockd\n");
                        break;
                }
                if ((p = json_object_get(reply, "progress")) && json_object_get(p, "need_fd")) {
                        int bad = ctl_deliver_answer(ctx, json_object_get(p, "need_fd"));

                        json_decref(reply);
                        if (bad)
                                break;
                        continue;
                }
                if (p) {
                        progress_line(ctx, p);
                        progressed = true;
                        json_decref(reply);
                        continue;
                }
                if (progressed && isatty(STDERR_FILENO) && !ctx->json)
                        fprintf(stderr, "\r\033[K");
                if (json_is_true(json_object_get(reply, "ok"))) {
                        *ret_result = json_incref(json_object_get(reply, "result"));
                        rc = 0;
                } else {
                        fprintf(stderr, "evidockctl: %s\n",
                                json_string_value(json_object_get(reply, "error")) ?: "failed");
                }
                json_decref(reply);
                free(line);
                return rc;
        }
        free(line);
        fprintf(stderr, "evidockctl: evidockd closed the connection\n");
        return 1;
}
