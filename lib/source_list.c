/* source_list: the listing walk of source.h (evd_source_list): every FAT/exFAT
 * directory of an opened source, under its lock, with the limits and damage checks
 * source.h describes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tsk/libtsk.h>

#include "name.h"
#include "source.h"
#include "source_internal.h"
#include "util.h"

#define DEFAULT_MAX_FILES 100000
#define DEFAULT_MAX_ENTRIES 1000000
#define DEFAULT_MAX_PATH 4096
#define DEFAULT_MAX_DEPTH 32
#define MAX_EXTS 64
#define SHOWN_PATH_MAX 160 /* bytes of a path quoted in an error message */

/* TSK names the FAT/exFAT volume label entry "LABEL (Volume Label Entry)". */
#define LABEL_SUFFIX "(Volume Label Entry)"

/* Root entries that TSK makes up ($MBR, $FAT1, $FAT2, $OrphanFiles are also typed
 * virtual) or that are exFAT system records shown as files (tsk_exfatfs.h). */
static const char *const special_names[] = {
        "$MBR",          "$FAT1",        "$FAT2",    "$OrphanFiles",          "$ALLOC_BITMAP",
        "$UPCASE_TABLE", "$VOLUME_GUID", "$TEX_FAT", "$ACCESS_CONTROL_TABLE", "$EMPTY_VOLUME_LABEL",
};

/* A path as people may see it in a message: escaped, cut with "...". */
static void show_path(const char *path, size_t len, char *out, size_t outsz)
{
        size_t n;

        if (len == 0) {
                (void)snprintf(out, outsz, "the root directory");
                return;
        }
        (void)evd_name_escape(path, len > SHOWN_PATH_MAX ? SHOWN_PATH_MAX : len, out, outsz);
        n = strlen(out);
        if (len > SHOWN_PATH_MAX && n + 4 <= outsz)
                memcpy(out + n, "...", 4);
}

/* ---- listing ---- */

/* Directories already entered, by metadata address: a second visit means a loop or a
 * cross-linked directory. Open addressing; grows at half full. */
struct inum_set {
        uint64_t *slot; /* value + 1; 0 = empty */
        size_t cap, n;
};

static uint64_t mix(uint64_t x)
{
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        return x;
}

/* 1 if added, 0 if it was there, -ENOMEM. */
static int inum_set_add(struct inum_set *s, uint64_t v)
{
        if (2 * (s->n + 1) > s->cap) {
                size_t cap = s->cap ? 2 * s->cap : 64;
                uint64_t *slot = calloc(cap, sizeof(*slot));

                if (!slot)
                        return -ENOMEM;
                for (size_t i = 0; i < s->cap; i++) {
                        size_t j;

                        if (!s->slot[i])
                                continue;
                        for (j = mix(s->slot[i]) & (cap - 1); slot[j]; j = (j + 1) & (cap - 1))
                                ;
                        slot[j] = s->slot[i];
                }
                free(s->slot);
                s->slot = slot;
                s->cap = cap;
        }
        for (size_t j = mix(v + 1) & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
                if (s->slot[j] == v + 1)
                        return 0;
                if (!s->slot[j]) {
                        s->slot[j] = v + 1;
                        s->n++;
                        return 1;
                }
        }
}

struct walk {
        TSK_FS_INFO *fs;
        unsigned partition;
        struct evd_source_limits lim;
        char exts[MAX_EXTS][EVD_SOURCE_EXT_MAX]; /* lower case, no dot */
        size_t n_exts;
        struct evd_source_list *list;
        size_t cap;
        size_t entries;
        char *path; /* lim.max_path + 1 bytes */
        struct inum_set dirs;
        struct evd_err *err;
};

static char lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool ext_wanted(const struct walk *w, const char *name)
{
        const char *dot = strrchr(name, '.');

        if (w->n_exts == 0)
                return true;
        if (!dot || dot == name)
                return false; /* ".mp4" is a hidden file with no extension */
        dot++;
        for (size_t i = 0; i < w->n_exts; i++) {
                const char *e = w->exts[i];
                size_t k = 0;

                while (e[k] && dot[k] && lower(dot[k]) == e[k])
                        k++;
                if (!e[k] && !dot[k])
                        return true;
        }
        return false;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Entries that are not files a recorder wrote. */
static bool skipped(const TSK_FS_NAME *name, unsigned depth)
{
        if (!(name->flags & TSK_FS_NAME_FLAG_ALLOC))
                return true; /* deleted */
        if (name->type == TSK_FS_NAME_TYPE_VIRT || name->type == TSK_FS_NAME_TYPE_VIRT_DIR)
                return true;
        if (!name->name || !name->name[0] || strcmp(name->name, ".") == 0 ||
            strcmp(name->name, "..") == 0)
                return true;
        if (ends_with(name->name, LABEL_SUFFIX))
                return true;
        if (depth == 0 && name->name[0] == '$')
                for (size_t i = 0; i < EVD_ARRAY_SIZE(special_names); i++)
                        if (strcmp(name->name, special_names[i]) == 0)
                                return true;
        return false;
}

/* TSK 4.11 drops the last slot of a FAT long name that needs 16 or more slots of 13
 * UTF-16 units: a name cut that way is 195, 208, ... units long. */
static bool name_maybe_cut(const char *name)
{
        size_t units = 0;

        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
                if ((*p & 0xc0) != 0x80)
                        units++;
                if ((*p & 0xf8) == 0xf0)
                        units++; /* a surrogate pair */
        }
        return units >= 15 * 13 && units % 13 == 0;
}

/* Append name to w->path at len ("/name" below the root); returns the new length or
 * -ENAMETOOLONG. */
static int path_push(struct walk *w, size_t len, const char *name)
{
        size_t n = strlen(name);
        char shown[EVD_NAME_ESCAPED_MAX(SHOWN_PATH_MAX) + 4];

        size_t sep = len ? 1 : 0;

        if (n >= w->lim.max_path || len + sep + n > w->lim.max_path) {
                show_path(w->path, len, shown, sizeof(shown));
                return evd_err_set(w->err, -ENAMETOOLONG,
                                   "path longer than %zu bytes under %s (partition %u)",
                                   w->lim.max_path, shown, w->partition);
        }
        if (sep)
                w->path[len] = '/';
        memcpy(w->path + len + sep, name, n + 1);
        return (int)(len + sep + n);
}

static int keep_file(struct walk *w, const TSK_FS_FILE *file, size_t path_len, bool slash)
{
        struct evd_source_file *f;

        if (w->list->n == w->lim.max_files)
                return evd_err_set(w->err, -E2BIG,
                                   "more than %zu recordings on the device (listing limit)",
                                   w->lim.max_files);
        if (w->list->n == w->cap) {
                size_t cap = w->cap ? 2 * w->cap : 64;
                struct evd_source_file *files;

                if (cap > w->lim.max_files)
                        cap = w->lim.max_files;
                files = realloc(w->list->files, cap * sizeof(*files));
                if (!files)
                        return evd_err_set(w->err, -ENOMEM, "out of memory");
                w->list->files = files;
                w->cap = cap;
        }
        f = &w->list->files[w->list->n];
        memset(f, 0, sizeof(*f));
        f->path = malloc(path_len + 1);
        if (!f->path)
                return evd_err_set(w->err, -ENOMEM, "out of memory");
        memcpy(f->path, w->path, path_len + 1);
        f->path_len = path_len;
        f->size = file->meta->size < 0 ? 0 : (uint64_t)file->meta->size;
        f->mtime = (int64_t)file->meta->mtime;
        f->partition = w->partition;
        f->inum = file->meta->addr;
        f->ambiguous = slash;
        w->list->n++;
        return 0;
}

static int entry_damaged(struct walk *w, size_t len)
{
        char shown[EVD_NAME_ESCAPED_MAX(SHOWN_PATH_MAX) + 4];

        show_path(w->path, len, shown, sizeof(shown));
        return evd_source_tsk_fail(w->err, -EUCLEAN,
                                   "filesystem damaged: cannot read the entry of %s (partition %u)",
                                   shown, w->partition);
}

static int walk_dir(struct walk *w, TSK_INUM_T dir_inum, size_t len, unsigned depth, bool slash);

/* Entry i of dir (path w->path[0..len), depth levels down): enter a subdirectory, keep a
 * regular file with a wanted extension, pass over anything else. */
static int visit(struct walk *w, TSK_FS_DIR *dir, size_t i, const TSK_FS_NAME *name, size_t len,
                 unsigned depth, bool slash)
{
        TSK_FS_NAME_TYPE_ENUM type = name->type;
        TSK_FS_FILE *file = NULL;
        bool ambiguous;
        int sub, r = 0;

        if (type == TSK_FS_NAME_TYPE_UNDEF) { /* the name does not say: ask the metadata */
                file = tsk_fs_dir_get(dir, i);
                if (!file || !file->meta) {
                        tsk_fs_file_close(file);
                        return entry_damaged(w, len);
                }
                if (file->meta->type == TSK_FS_META_TYPE_DIR)
                        type = TSK_FS_NAME_TYPE_DIR;
                else if (file->meta->type == TSK_FS_META_TYPE_REG)
                        type = TSK_FS_NAME_TYPE_REG;
        }
        if (type != TSK_FS_NAME_TYPE_DIR && type != TSK_FS_NAME_TYPE_REG)
                goto out;
        ambiguous = slash || strchr(name->name, '/') || name_maybe_cut(name->name);
        if (type == TSK_FS_NAME_TYPE_REG && !ext_wanted(w, name->name)) {
                /* A long name TSK cut short lost its extension; the 8.3 name kept it. */
                if (!name->shrt_name || !name->shrt_name[0] || !ext_wanted(w, name->shrt_name))
                        goto out;
                ambiguous = true;
        }
        if ((sub = path_push(w, len, name->name)) < 0) {
                r = sub;
                goto out;
        }
        if (type == TSK_FS_NAME_TYPE_DIR) {
                r = walk_dir(w, name->meta_addr, (size_t)sub, depth + 1, ambiguous);
        } else {
                if (!file)
                        file = tsk_fs_dir_get(dir, i);
                if (!file || !file->meta)
                        r = entry_damaged(w, (size_t)sub);
                else if (file->meta->type == TSK_FS_META_TYPE_REG)
                        r = keep_file(w, file, (size_t)sub, ambiguous);
        }
        w->path[len] = '\0';
out:
        tsk_fs_file_close(file);
        return r;
}

/* List directory dir_inum, whose path is w->path[0..len), depth levels below the root.
 * slash: the path is ambiguous already (see visit). */
static int walk_dir(struct walk *w, TSK_INUM_T dir_inum, size_t len, unsigned depth, bool slash)
{
        char shown[EVD_NAME_ESCAPED_MAX(SHOWN_PATH_MAX) + 4];
        TSK_FS_DIR *dir;
        size_t n;
        int r;

        if (depth > w->lim.max_depth) {
                show_path(w->path, len, shown, sizeof(shown));
                return evd_err_set(w->err, -ELOOP,
                                   "directories nested deeper than %u levels at %s "
                                   "(partition %u)",
                                   w->lim.max_depth, shown, w->partition);
        }
        if ((r = inum_set_add(&w->dirs, dir_inum)) <= 0) {
                if (r < 0)
                        return evd_err_set(w->err, r, "out of memory");
                show_path(w->path, len, shown, sizeof(shown));
                return evd_err_set(w->err, -EUCLEAN,
                                   "filesystem damaged: directory %s is reached twice "
                                   "(loop or cross-link, partition %u)",
                                   shown, w->partition);
        }
        dir = tsk_fs_dir_open_meta(w->fs, dir_inum);
        if (!dir) {
                show_path(w->path, len, shown, sizeof(shown));
                return evd_source_tsk_fail(
                        w->err, -EUCLEAN,
                        "filesystem damaged: cannot read directory %s (partition %u)", shown,
                        w->partition);
        }
        n = tsk_fs_dir_getsize(dir);
        if (n > w->lim.max_entries - w->entries) {
                tsk_fs_dir_close(dir);
                return evd_err_set(w->err, -E2BIG,
                                   "more than %zu directory entries on the device (listing "
                                   "limit)",
                                   w->lim.max_entries);
        }
        w->entries += n;
        r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
                const TSK_FS_NAME *name = tsk_fs_dir_get_name(dir, i);

                if (name && !skipped(name, depth))
                        r = visit(w, dir, i, name, len, depth, slash);
        }
        tsk_fs_dir_close(dir);
        return r;
}

/* Order of two files (indexes into the array arg) by path bytes. */
static int cmp_path(const void *a, const void *b, void *arg)
{
        const struct evd_source_file *files = arg;
        const struct evd_source_file *x = &files[*(const size_t *)a];
        const struct evd_source_file *y = &files[*(const size_t *)b];
        size_t n = x->path_len < y->path_len ? x->path_len : y->path_len;
        int c = memcmp(x->path, y->path, n);

        if (c)
                return c;
        return x->path_len < y->path_len ? -1 : x->path_len > y->path_len;
}

/* Mark files of one partition (files[0..n), n >= 2) whose paths are equal. */
static int mark_duplicates(struct evd_source_file *files, size_t n)
{
        size_t *idx = malloc(n * sizeof(*idx));

        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                idx[i] = i;
        qsort_r(idx, n, sizeof(*idx), cmp_path, files);
        for (size_t i = 1; i < n; i++)
                if (cmp_path(&idx[i - 1], &idx[i], files) == 0)
                        files[idx[i - 1]].ambiguous = files[idx[i]].ambiguous = true;
        free(idx);
        return 0;
}

static int set_exts(struct walk *w, const char *const *exts, size_t n_exts, struct evd_err *err)
{
        if (n_exts > MAX_EXTS)
                return evd_err_set(err, -EINVAL, "more than %d extensions", MAX_EXTS);
        for (size_t i = 0; i < n_exts; i++) {
                const char *e = exts[i];
                size_t k;

                if (!e)
                        return evd_err_set(err, -EINVAL, "extension %zu missing", i);
                if (e[0] == '.')
                        e++;
                for (k = 0; e[k]; k++) {
                        unsigned char c = (unsigned char)e[k];

                        if (k + 1 >= EVD_SOURCE_EXT_MAX || c <= 0x20 || c >= 0x7f || c == '.' ||
                            c == '/')
                                return evd_err_set(err, -EINVAL,
                                                   "bad extension (ASCII, no dot inside, "
                                                   "at most %d bytes): extension %zu",
                                                   EVD_SOURCE_EXT_MAX - 1, i);
                        w->exts[i][k] = lower(e[k]);
                }
                if (k == 0)
                        return evd_err_set(err, -EINVAL, "empty extension");
                w->exts[i][k] = '\0';
        }
        w->n_exts = n_exts;
        return 0;
}

static int walk_partition(struct walk *w, unsigned idx, TSK_FS_INFO *fs)
{
        size_t first = w->list->n;
        int r;

        w->fs = fs;
        w->partition = idx;
        w->path[0] = '\0';
        free(w->dirs.slot);
        memset(&w->dirs, 0, sizeof(w->dirs));
        tsk_error_reset();
        if ((r = walk_dir(w, fs->root_inum, 0, 0, false)) < 0)
                return r;
        if (w->list->n - first > 1 &&
            mark_duplicates(w->list->files + first, w->list->n - first) < 0)
                return evd_err_set(w->err, -ENOMEM, "out of memory");
        return 0;
}

int evd_source_list(struct evd_source *src, const char *const *exts, size_t n_exts,
                    const struct evd_source_limits *limits, struct evd_source_list **ret,
                    struct evd_err *err)
{
        struct walk *w;
        int r = 0;

        w = calloc(1, sizeof(*w));
        if (!w)
                return evd_err_set(err, -ENOMEM, "out of memory");
        if (limits)
                w->lim = *limits;
        if (!w->lim.max_files)
                w->lim.max_files = DEFAULT_MAX_FILES;
        if (!w->lim.max_entries)
                w->lim.max_entries = DEFAULT_MAX_ENTRIES;
        if (!w->lim.max_path)
                w->lim.max_path = DEFAULT_MAX_PATH;
        if (!w->lim.max_depth)
                w->lim.max_depth = DEFAULT_MAX_DEPTH;
        w->err = err;
        if ((r = set_exts(w, exts, n_exts, err)) < 0)
                goto out;
        w->path = malloc(w->lim.max_path + 1);
        w->list = calloc(1, sizeof(*w->list));
        if (!w->path || !w->list) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }

        pthread_mutex_lock(&src->lock);
        for (unsigned i = 0; i < src->n_fs && r == 0; i++)
                r = walk_partition(w, i, src->fs[i]);
        tsk_error_reset();
        pthread_mutex_unlock(&src->lock);
        if (r == 0) {
                *ret = w->list;
                w->list = NULL;
        }
out:
        evd_source_list_free(w->list);
        free(w->dirs.slot);
        free(w->path);
        free(w);
        return r;
}

int evd_source_each_fs(struct evd_source *src, int (*fn)(void *fs, unsigned idx, void *ud),
                       void *ud)
{
        int r = 0;

        pthread_mutex_lock(&src->lock);
        for (unsigned i = 0; i < src->n_fs && r == 0; i++)
                r = fn(src->fs[i], i, ud);
        pthread_mutex_unlock(&src->lock);
        return r;
}
