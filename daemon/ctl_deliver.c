/* ctl_deliver: the files an export or a copy writes are made here, in the client, as
 * the user who runs it: evidockd never opens a path of its caller's. When evidockd
 * asks for one ("need_fd" progress line), the file is created in the output's folder
 * with O_CREAT|O_EXCL|O_NOFOLLOW (an existing file or a symlink is never followed nor
 * replaced), mode 0640 less the umask, and its descriptor is passed back on the same
 * connection (deliver.h). When the run fails, the files made are removed again (only
 * while their name still points at the very file made). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "deliver.h"
#include "util.h"

#define DELIVER_MADE_MAX 1000 /* files of one run: an export has at most 999 volumes */

struct made {
        char name[NAME_MAX + 1];
        dev_t dev;
        ino_t ino;
};

struct ctl_deliver {
        const struct ctl_command *cmd;
        int dirfd;
        char dir[PATH_MAX];
        const char *base; /* export: the output's file name; NULL: copies, named by evidockd */
        struct made made[DELIVER_MADE_MAX];
        size_t n_made;
};

/* The file name for a request: OUT.iso, or OUT-N.iso of a split export (the volume
 * numbers before the extension); for a copy the name evidockd proposes, when it is a
 * plain file name. -1 when there is none. */
static int file_name(const struct ctl_deliver *d, const json_t *need, char *out, size_t n)
{
        if (d->base) {
                json_int_t v = json_integer_value(json_object_get(need, "volume"));
                json_int_t nv = json_integer_value(json_object_get(need, "volumes"));
                const char *dot = strrchr(d->base, '.');

                if (v < 1 || nv < v)
                        return -1;
                if (nv == 1)
                        return evd_snprintf(out, n, "%s", d->base);
                if (dot && dot != d->base)
                        return evd_snprintf(out, n, "%.*s-%lld%s", (int)(dot - d->base), d->base,
                                            (long long)v, dot);
                return evd_snprintf(out, n, "%s-%lld", d->base, (long long)v);
        } else {
                const char *name = json_string_value(json_object_get(need, "name"));

                if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
                    strcmp(name, "..") == 0)
                        return -1;
                return evd_snprintf(out, n, "%s", name);
        }
}

int ctl_deliver_answer(struct ctl *ctx, const json_t *need)
{
        struct ctl_deliver *d = ctx->deliver;
        char name[NAME_MAX + 1];
        struct stat st;
        int fd = -1, r;

        if (!d || d->n_made >= DELIVER_MADE_MAX || file_name(d, need, name, sizeof(name)) < 0) {
                fprintf(stderr, "evidockctl: evidockd asked for an output file it may not have\n");
                return evd_deliver_send(ctx->session.fd, -1) < 0 ? 1 : 0;
        }
        fd = openat(d->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                    0640);
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "evidockctl: %s/", d->dir);
                ctl_put_safe(name, stderr);
                if (errno == EEXIST)
                        fprintf(stderr, " exists already: an output never replaces a file\n");
                else
                        fprintf(stderr, ": %s\n", strerror(errno));
                if (fd >= 0)
                        (void)close(fd);
                return evd_deliver_send(ctx->session.fd, -1) < 0 ? 1 : 0;
        }
        (void)snprintf(d->made[d->n_made].name, sizeof(d->made[d->n_made].name), "%s", name);
        d->made[d->n_made].dev = st.st_dev;
        d->made[d->n_made].ino = st.st_ino;
        d->n_made++;
        r = evd_deliver_send(ctx->session.fd, fd);
        (void)close(fd);
        return r < 0 ? 1 : 0;
}

/* Remove the files this run made, each only while its name is still that file. */
static void remove_made(struct ctl_deliver *d)
{
        for (size_t i = 0; i < d->n_made; i++) {
                struct stat st;

                if (fstatat(d->dirfd, d->made[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    st.st_dev == d->made[i].dev && st.st_ino == d->made[i].ino)
                        (void)unlinkat(d->dirfd, d->made[i].name, 0);
        }
}

/* export -o OUT and access --copy-to DIR: the request announces "fds": true and the
 * files are made as evidockd asks for them. */
int ctl_run_deliver(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        const char *out = json_string_value(json_object_get(args, "out"));
        const char *dir = json_string_value(json_object_get(args, "copy_to"));
        struct ctl_deliver *d;
        const char *slash;
        int rc;

        if (!out && !dir)
                return ctl_run_request(ctx, cmd, args);
        d = calloc(1, sizeof(*d));
        if (!d) {
                ctl_say(cmd, "out of memory");
                return 1;
        }
        d->cmd = cmd;
        if (out) {
                slash = strrchr(out, '/'); /* made absolute by the argument parser */
                d->base = slash ? slash + 1 : out;
                (void)snprintf(d->dir, sizeof(d->dir), "%.*s",
                               slash && slash != out ? (int)(slash - out) : 1, slash ? out : ".");
        } else {
                (void)snprintf(d->dir, sizeof(d->dir), "%s", dir);
        }
        d->dirfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d->dirfd < 0) {
                ctl_say(cmd, "%s: %s", d->dir, strerror(errno));
                free(d);
                return 1;
        }
        (void)json_object_set_new(args, "fds", json_true());
        ctx->deliver = d;
        rc = ctl_run_request(ctx, cmd, args);
        ctx->deliver = NULL;
        if (rc != 0)
                remove_made(d);
        (void)close(d->dirfd);
        free(d);
        return rc;
}
