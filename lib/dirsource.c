#include "dirsource.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "item.h"

struct evd_dirsource {
        int root_fd;
};

struct list_ctx {
        const struct evd_conf *conf;
        json_t *notes;
        struct evd_original *files;
        size_t n, cap;
        struct evd_err *err;
};

void evd_originals_free(struct evd_original *orig, size_t n)
{
        if (!orig)
                return;
        for (size_t i = 0; i < n; i++)
                free(orig[i].path);
        free(orig);
}

int evd_dirsource_open(const char *dir, struct evd_dirsource **ret, struct evd_err *err)
{
        struct evd_dirsource *src;
        int fd;

        if (dir[0] != '/')
                return evd_err_set(err, -EINVAL, "%s: not an absolute path", dir);
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return evd_err_set(err, -errno, "%s: %s", dir, strerror(errno));
        src = calloc(1, sizeof(*src));
        if (!src) {
                (void)close(fd);
                return evd_err_set(err, -ENOMEM, "out of memory");
        }
        src->root_fd = fd;
        *ret = src;
        return 0;
}

void evd_dirsource_free(struct evd_dirsource *src)
{
        if (!src)
                return;
        (void)close(src->root_fd);
        free(src);
}

static void note(struct list_ctx *ctx, const char *path, size_t len, const char *reason)
{
        json_t *n = json_pack("{ss}", "reason", reason);

        if (n && evd_item_set_path(n, "path", path, len) == 0)
                (void)json_array_append(ctx->notes, n);
        json_decref(n);
}

static bool wanted(const struct evd_conf *conf, const char *name)
{
        const char *dot = strrchr(name, '.');

        return dot && dot != name && evd_conf_wants_extension(conf, dot + 1);
}

static int add_file(struct list_ctx *ctx, const char *path, size_t len, const struct stat *st)
{
        struct evd_original *o;

        if (ctx->n >= EVD_DIRSOURCE_MAX_FILES)
                return evd_err_set(ctx->err, -E2BIG, "more than %d files to import",
                                   EVD_DIRSOURCE_MAX_FILES);
        if (ctx->n == ctx->cap) {
                size_t cap = ctx->cap ? ctx->cap * 2 : 256;
                struct evd_original *f = realloc(ctx->files, cap * sizeof(*f));

                if (!f)
                        return evd_err_set(ctx->err, -ENOMEM, "out of memory");
                ctx->files = f;
                ctx->cap = cap;
        }
        o = &ctx->files[ctx->n];
        o->path = strndup(path, len);
        if (!o->path)
                return evd_err_set(ctx->err, -ENOMEM, "out of memory");
        o->path_len = len;
        o->size = (uint64_t)st->st_size;
        o->mtime = (int64_t)st->st_mtim.tv_sec;
        o->handle = 0;
        ctx->n++;
        return 0;
}

/* Walk the open folder dfd, whose path from the root is prefix (len bytes). */
static int walk(struct list_ctx *ctx, int dfd, char *prefix, size_t len, int depth)
{
        struct dirent *de;
        DIR *d;
        int r = 0;

        d = fdopendir(dfd);
        if (!d) {
                (void)close(dfd);
                return evd_err_set(ctx->err, -errno, "cannot read a folder: %s", strerror(errno));
        }
        while (r == 0 && (errno = 0, de = readdir(d))) {
                size_t nlen = strlen(de->d_name), plen = len + (len ? 1 : 0) + nlen;
                struct stat st;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (plen >= EVD_PATH_MAX) {
                        note(ctx, prefix, len, "path longer than 4096 bytes: skipped");
                        continue;
                }
                if (len)
                        prefix[len] = '/';
                memcpy(prefix + len + (len ? 1 : 0), de->d_name, nlen + 1);
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        note(ctx, prefix, plen, strerror(errno));
                } else if (S_ISDIR(st.st_mode)) {
                        int sub;

                        if (depth >= EVD_DIRSOURCE_MAX_DEPTH) {
                                note(ctx, prefix, plen, "folder nested too deep: skipped");
                        } else if ((sub = openat(dirfd(d), de->d_name,
                                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
                                   0) {
                                note(ctx, prefix, plen, strerror(errno));
                        } else {
                                r = walk(ctx, sub, prefix, plen, depth + 1);
                        }
                } else if (S_ISLNK(st.st_mode)) {
                        note(ctx, prefix, plen, "symbolic link: not followed");
                } else if (!S_ISREG(st.st_mode)) {
                        note(ctx, prefix, plen,
                             "not a regular file (FIFO, device or socket): skipped");
                } else if (wanted(ctx->conf, de->d_name)) {
                        r = add_file(ctx, prefix, plen, &st);
                }
                prefix[len] = '\0';
        }
        if (r == 0 && errno != 0)
                r = evd_err_set(ctx->err, -errno, "cannot read a folder: %s", strerror(errno));
        (void)closedir(d);
        return r;
}

static int by_path(const void *a, const void *b)
{
        const struct evd_original *x = a, *y = b;
        size_t n = x->path_len < y->path_len ? x->path_len : y->path_len;
        int c = memcmp(x->path, y->path, n);

        return c ? c : (x->path_len > y->path_len) - (x->path_len < y->path_len);
}

int evd_dirsource_list(struct evd_dirsource *src, const struct evd_conf *conf, json_t *notes,
                       struct evd_original **ret, size_t *ret_n, struct evd_err *err)
{
        struct list_ctx ctx = { .conf = conf, .notes = notes, .err = err };
        char *prefix = malloc(EVD_PATH_MAX + 1);
        int dfd, r;

        if (!prefix)
                return evd_err_set(err, -ENOMEM, "out of memory");
        prefix[0] = '\0';
        dfd = openat(src->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                free(prefix);
                return evd_err_set(err, -errno, "cannot open the folder: %s", strerror(errno));
        }
        r = walk(&ctx, dfd, prefix, 0, 0);
        free(prefix);
        if (r < 0) {
                evd_originals_free(ctx.files, ctx.n);
                return r;
        }
        if (ctx.n > 1)
                qsort(ctx.files, ctx.n, sizeof(*ctx.files), by_path);
        *ret = ctx.files;
        *ret_n = ctx.n;
        return 0;
}

/* Open path below root one component at a time, never following a link. */
static int open_beneath(int root_fd, const char *path, int *ret_fd)
{
        char *copy = strdup(path), *p, *slash;
        int dfd, fd;

        if (!copy)
                return -ENOMEM;
        dfd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        for (p = copy; dfd >= 0 && (slash = strchr(p, '/')); p = slash + 1) {
                int next;

                *slash = '\0';
                next = openat(dfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                (void)close(dfd);
                dfd = next;
        }
        if (dfd < 0) {
                int r = errno == ELOOP || errno == ENOTDIR ? -ELOOP : -errno;

                free(copy);
                return r;
        }
        /* O_NONBLOCK: a file swapped for a FIFO must not hang the open. */
        fd = openat(dfd, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        (void)close(dfd);
        free(copy);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

static ssize_t fd_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
        return evd_pread_full((int)(intptr_t)ctx, buf, len, (off_t)off);
}

static int dir_open(void *source, const struct evd_original *orig, struct evd_reader *ret_reader,
                    void **ret_state, struct evd_err *err)
{
        struct evd_dirsource *src = source;
        struct stat st;
        int fd = -1, r;

        r = open_beneath(src->root_fd, orig->path, &fd);
        if (r < 0)
                return evd_err_set(err, r, "cannot open: %s",
                                   r == -ENOENT  ? "it vanished"
                                   : r == -ELOOP ? "a link was put in its place"
                                                 : strerror(-r));
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                (void)close(fd);
                return evd_err_set(err, -EINVAL, "no longer a regular file");
        }
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        ret_reader->pread = fd_pread;
        ret_reader->ctx = (void *)(intptr_t)fd;
        *ret_state = (void *)(intptr_t)fd;
        return 0;
}

static void dir_close(void *source, void *state)
{
        (void)source;
        (void)close((int)(intptr_t)state);
}

const struct evd_source_ops evd_dirsource_ops = { .open = dir_open, .close = dir_close };
