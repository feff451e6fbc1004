#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <tsk/libtsk.h>
#include <unistd.h>

#include "copy.h"
#include "dio.h"
#include "name.h"
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

/* TSK's image layer over our own read-only fd. TSK casts the pointer it gets to
 * TSK_IMG_INFO, so that must come first. Reads happen under TSK's cache lock and, above
 * that, under evd_source.lock, so the fields after it need no lock of their own. */
struct img {
        TSK_IMG_INFO info;
        int fd;
        int direct_fd; /* the same device opened O_DIRECT, or -1 (dio.h) */
        uint64_t size;
        uint64_t read_errors; /* failed device reads so far */
        int last_errno;
        char last_text[128];
};

struct evd_source {
        pthread_mutex_t lock; /* around every TSK call on this source */
        int fd, direct_fd;
        struct img *img;
        TSK_VS_INFO *vs;
        TSK_FS_INFO *fs[EVD_SOURCE_MAX_PARTITIONS];
        unsigned n_fs;
};

/* Where a piece of a file is: bytes [file_off, file_off + len) of the file are at dev_off
 * on the device, or are zeros (a sparse run, or past the size the entry says was
 * written: exFAT's valid data length). */
struct extent {
        uint64_t file_off, dev_off, len;
        bool zero;
};

struct evd_source_reader {
        struct evd_source *src;
        TSK_FS_FILE *file;
        uint64_t size;
        unsigned partition;
        uint64_t inum;
        struct extent *extents; /* NULL: read through TSK (data kept in the entry) */
        size_t n_extents;
        size_t hint; /* extent of the last read: reads are mostly sequential */
        struct evd_err err;
};

/* TSK's message for its last error in this thread, escaped (it may quote names from the
 * image) and cut to fit; clears it. */
static void tsk_text(char *out, size_t n)
{
        const char *s = tsk_error_get();
        size_t len;

        if (!s || !*s)
                s = "no detail from TSK";
        len = strlen(s);
        while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
                len--;
        (void)evd_name_escape(s, len, out, n); /* a cut message is still useful */
        tsk_error_reset();
}

/* evd_err_set with TSK's text appended. */
static int fail_tsk(struct evd_err *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int fail_tsk(struct evd_err *err, int code, const char *fmt, ...)
{
        char msg[EVD_ERR_TEXT_MAX], detail[EVD_ERR_TEXT_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap); /* cut to fit */
        va_end(ap);
        tsk_text(detail, sizeof(detail));
        return evd_err_set(err, code, "%s: %s", msg, detail);
}

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

/* ---- the image layer ---- */

/* Read exactly len bytes at off from the device: large aligned reads (file data comes in
 * whole clusters) past the page cache, the rest, and any read the device refuses to do
 * direct, through it. Returns len, or -errno with a reason in why. Thread-safe. */
static ssize_t device_read(const struct img *img, void *buf, size_t len, uint64_t off, char *why,
                           size_t why_len)
{
        char text[64];
        ssize_t n = -EINVAL;

        if (off > img->size || len > img->size - off) {
                (void)snprintf(why, why_len, "offset %llu is past the end of the device",
                               (unsigned long long)off);
                return -EIO;
        }
        if (img->direct_fd >= 0 && evd_dio_aligned(buf, len, off))
                n = evd_pread_full(img->direct_fd, buf, len, (off_t)off);
        if (n == -EINVAL)
                n = evd_pread_full(img->fd, buf, len, (off_t)off);
        if (n >= 0 && (size_t)n == len)
                return n;
        (void)snprintf(why, why_len, "device read of %zu bytes at offset %llu: %s", len,
                       (unsigned long long)off,
                       n < 0 ? strerror_r((int)-n, text, sizeof(text)) : "device ended early");
        return n < 0 ? n : -EIO;
}

static ssize_t img_read(TSK_IMG_INFO *info, TSK_OFF_T off, char *buf, size_t len)
{
        struct img *img = (struct img *)info;
        ssize_t n;

        if (off < 0 || (uint64_t)off >= img->size) {
                tsk_error_reset();
                tsk_error_set_errno(TSK_ERR_IMG_READ_OFF);
                tsk_error_set_errstr("offset %lld is past the end of the device", (long long)off);
                return -1;
        }
        if (len > img->size - (uint64_t)off)
                len = (size_t)(img->size - (uint64_t)off);
        n = device_read(img, buf, len, (uint64_t)off, img->last_text, sizeof(img->last_text));
        if (n < 0) {
                img->read_errors++;
                img->last_errno = (int)-n;
                tsk_error_reset();
                tsk_error_set_errno(TSK_ERR_IMG_READ);
                tsk_error_set_errstr("%s", img->last_text);
                return -1;
        }
        return n;
}

static void img_close(TSK_IMG_INFO *info)
{
        free(info); /* the fd belongs to struct evd_source */
}

static void img_imgstat(TSK_IMG_INFO *info, FILE *f)
{
        (void)info; /* library code prints nothing */
        (void)f;
}

/* Size of what fd holds: BLKGETSIZE64 for a block device, fstat for an image file. */
static int device_size(int fd, const char *path, uint64_t *ret_size, unsigned *ret_sector,
                       struct evd_err *err)
{
        struct stat st;
        uint64_t size = 0;
        int sector = 512;

        if (fstat(fd, &st) < 0)
                return evd_err_set(err, -errno, "%s: %m", path);
        if (ioctl(fd, BLKGETSIZE64, &size) == 0) {
                if (ioctl(fd, BLKSSZGET, &sector) < 0 || sector < 512 || sector % 512 != 0)
                        sector = 512;
        } else if (S_ISREG(st.st_mode)) {
                size = (uint64_t)st.st_size;
        } else {
                return evd_err_set(err, -ENOTBLK, "%s: not a block device or image file", path);
        }
        *ret_size = size;
        *ret_sector = (unsigned)sector;
        return 0;
}

/* ---- opening ---- */

static const char *fs_type_name(TSK_FS_TYPE_ENUM t)
{
        switch (t) {
        case TSK_FS_TYPE_FAT12:
                return "fat12";
        case TSK_FS_TYPE_FAT16:
                return "fat16";
        case TSK_FS_TYPE_FAT32:
                return "fat32";
        case TSK_FS_TYPE_EXFAT:
                return "exfat";
        default:
                return "unknown";
        }
}

static int add_fs(struct evd_source *src, TSK_FS_INFO *fs, struct evd_err *err)
{
        if (src->n_fs == EVD_SOURCE_MAX_PARTITIONS) {
                tsk_fs_close(fs);
                return evd_err_set(err, -E2BIG, "more than %d FAT or exFAT partitions",
                                   EVD_SOURCE_MAX_PARTITIONS);
        }
        src->fs[src->n_fs++] = fs;
        return 0;
}

/* Open the FAT filesystems of the partition table, if there is one. Partitions holding
 * something else are passed over. GPT is tried before MBR, each by name:
 * TSK_VS_TYPE_DETECT on a GPT disk finds its protective MBR too and leaks that
 * partition list when it settles on GPT (TSK 4.11). */
static int open_partitions(struct evd_source *src, struct evd_err *err)
{
        src->vs = tsk_vs_open(&src->img->info, 0, TSK_VS_TYPE_GPT);
        if (!src->vs) {
                tsk_error_reset();
                src->vs = tsk_vs_open(&src->img->info, 0, TSK_VS_TYPE_DOS);
        }
        if (!src->vs) {
                tsk_error_reset(); /* no partition table: not an error */
                return 0;
        }
        for (TSK_PNUM_T i = 0; i < src->vs->part_count; i++) {
                const TSK_VS_PART_INFO *part = tsk_vs_part_get(src->vs, i);
                TSK_FS_INFO *fs;
                int r;

                if (!part || !(part->flags & TSK_VS_PART_FLAG_ALLOC))
                        continue;
                fs = tsk_fs_open_vol(part, TSK_FS_TYPE_FAT_DETECT);
                if (!fs) {
                        tsk_error_reset();
                        continue;
                }
                if ((r = add_fs(src, fs, err)) < 0)
                        return r;
        }
        return 0;
}

int evd_source_open(const char *path, struct evd_source **ret, struct evd_err *err)
{
        struct evd_source *src;
        uint64_t size = 0;
        unsigned sector = 512;
        int r;

        src = calloc(1, sizeof(*src));
        if (!src)
                return evd_err_set(err, -ENOMEM, "out of memory");
        src->fd = src->direct_fd = -1;
        if ((r = pthread_mutex_init(&src->lock, NULL)) != 0) {
                free(src);
                return evd_err_set(err, -r, "cannot create a lock");
        }
        src->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (src->fd < 0) {
                r = evd_err_set(err, -errno, "%s: %m", path);
                goto fail;
        }
        if ((r = device_size(src->fd, path, &size, &sector, err)) < 0)
                goto fail;
        src->direct_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_DIRECT); /* or -1 */
        if (size == 0) {
                r = evd_err_set(err, -ENOMEDIUM, "%s: no medium (size 0)", path);
                goto fail;
        }
        if (size > (uint64_t)INT64_MAX) {
                r = evd_err_set(err, -EFBIG, "%s: device too large", path);
                goto fail;
        }
        src->img = calloc(1, sizeof(*src->img));
        if (!src->img) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        src->img->fd = src->fd;
        src->img->direct_fd = src->direct_fd;
        src->img->size = size;

        pthread_mutex_lock(&src->lock);
        tsk_error_reset();
        if (!tsk_img_open_external(src->img, (TSK_OFF_T)size, sector, img_read, img_close,
                                   img_imgstat)) {
                free(src->img);
                src->img = NULL;
                r = fail_tsk(err, -EIO, "%s: cannot set up the image layer", path);
                goto fail_locked;
        }
        if ((r = open_partitions(src, err)) < 0)
                goto fail_locked;
        if (src->n_fs == 0) {
                /* No partition table, or one without FAT: a "superfloppy" at offset 0. */
                TSK_FS_INFO *fs = tsk_fs_open_img(&src->img->info, 0, TSK_FS_TYPE_FAT_DETECT);

                if (!fs) {
                        r = fail_tsk(err, -EMEDIUMTYPE, "%s: no FAT or exFAT filesystem found",
                                     path);
                        goto fail_locked;
                }
                if ((r = add_fs(src, fs, err)) < 0)
                        goto fail_locked;
        }
        pthread_mutex_unlock(&src->lock);
        *ret = src;
        return 0;

fail_locked:
        pthread_mutex_unlock(&src->lock);
fail:
        evd_source_free(src);
        return r;
}

void evd_source_free(struct evd_source *src)
{
        if (!src)
                return;
        for (unsigned i = 0; i < src->n_fs; i++)
                tsk_fs_close(src->fs[i]);
        if (src->vs)
                tsk_vs_close(src->vs);
        if (src->img)
                tsk_img_close(&src->img->info); /* frees src->img */
        if (src->fd >= 0)
                (void)close(src->fd);
        if (src->direct_fd >= 0)
                (void)close(src->direct_fd);
        pthread_mutex_destroy(&src->lock);
        free(src);
}

uint64_t evd_source_size(const struct evd_source *src)
{
        return src->img->size;
}

unsigned evd_source_partition_count(const struct evd_source *src)
{
        return src->n_fs;
}

int evd_source_partition_info(const struct evd_source *src, unsigned idx,
                              struct evd_source_partition *ret)
{
        const TSK_FS_INFO *fs;

        if (idx >= src->n_fs)
                return -ENOENT;
        fs = src->fs[idx];
        ret->offset = (uint64_t)fs->offset;
        ret->size = (uint64_t)fs->block_count * fs->block_size;
        ret->type = fs_type_name(fs->ftype);
        ret->truncated = fs->last_block_act < fs->last_block;
        return 0;
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
        return fail_tsk(w->err, -EUCLEAN,
                        "filesystem damaged: cannot read the entry of %s (partition %u)", shown,
                        w->partition);
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
                return fail_tsk(w->err, -EUCLEAN,
                                "filesystem damaged: cannot read directory %s (partition %u)",
                                shown, w->partition);
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

void evd_source_list_free(struct evd_source_list *list)
{
        if (!list)
                return;
        for (size_t i = 0; i < list->n; i++)
                free(list->files[i].path);
        free(list->files);
        free(list);
}

/* ---- reading ---- */

/* All of the file's clusters must lie on the device and cover its size. TSK 4.11 itself
 * fails a read only when it reaches a missing part ("Offset missing in partial image"),
 * and for a cluster chain that loops it reads 0 bytes with no error, which looks like the
 * end of the file; checking first refuses such a file before a byte of it is copied. */
static int check_runs(struct evd_source *src, TSK_FS_FILE *file, uint64_t size, struct evd_err *err)
{
        const TSK_FS_INFO *fs = file->fs_info;
        const TSK_FS_ATTR *attr;
        uint64_t blocks = 0, bs = fs->block_size;

        if (size == 0)
                return 0;
        attr = tsk_fs_file_attr_get(file);
        if (!attr)
                return fail_tsk(err, -EUCLEAN, "filesystem damaged: no data for inode %llu",
                                (unsigned long long)file->meta->addr);
        if (!(attr->flags & TSK_FS_ATTR_NONRES))
                return 0; /* resident data: nothing on the device to check */
        for (const TSK_FS_ATTR_RUN *run = attr->nrd.run; run; run = run->next) {
                uint64_t end;

                if (run->flags & TSK_FS_ATTR_RUN_FLAG_FILLER)
                        return evd_err_set(err, -EUCLEAN,
                                           "filesystem damaged: inode %llu has a gap in its "
                                           "cluster chain",
                                           (unsigned long long)file->meta->addr);
                blocks += run->len;
                if (run->flags & TSK_FS_ATTR_RUN_FLAG_SPARSE)
                        continue;
                end = run->addr + run->len;
                if (end < run->addr || bs == 0 || end > (UINT64_MAX - (uint64_t)fs->offset) / bs ||
                    (uint64_t)fs->offset + end * bs > src->img->size)
                        return evd_err_set(err, -EUCLEAN,
                                           "filesystem damaged: inode %llu lies past the end "
                                           "of the device (truncated image?)",
                                           (unsigned long long)file->meta->addr);
        }
        if (bs == 0 || blocks < (size + bs - 1) / bs)
                return evd_err_set(err, -EUCLEAN,
                                   "filesystem damaged: inode %llu has fewer clusters than its "
                                   "size needs",
                                   (unsigned long long)file->meta->addr);
        return 0;
}

/* Map the file's runs (already checked by check_runs) to extents, so that its data is
 * read straight from the device, in parallel with other files and without TSK's lock.
 * Data kept in the entry itself, or in a layout this does not know (compressed,
 * encrypted, skipped bytes: none of them FAT or exFAT), leaves r->extents NULL and is
 * read through TSK. The extents give exactly what tsk_fs_file_read gives: the runs in
 * order, zeros for sparse runs and past the initialised size. */
static int map_extents(struct evd_source_reader *r, struct evd_err *err)
{
        const TSK_FS_INFO *fs = r->file->fs_info;
        const TSK_FS_ATTR *attr = tsk_fs_file_attr_get(r->file);
        uint64_t bs = fs->block_size, pos = 0, init;
        size_t n = 0;

        if (r->size == 0 || !attr || !(attr->flags & TSK_FS_ATTR_NONRES) ||
            (attr->flags & (TSK_FS_ATTR_COMP | TSK_FS_ATTR_ENC)) || attr->nrd.skiplen != 0)
                return 0;
        for (const TSK_FS_ATTR_RUN *run = attr->nrd.run; run; run = run->next)
                if (run->flags & TSK_FS_ATTR_RUN_FLAG_ENCRYPTED || n++ > SIZE_MAX / 4)
                        return 0;
        if (n == 0)
                return 0; /* no runs: check_runs refused it unless empty */
        init = attr->nrd.initsize < 0 ? 0 : (uint64_t)attr->nrd.initsize;
        r->extents = calloc(2 * n, sizeof(*r->extents)); /* a run may split at init */
        if (!r->extents)
                return evd_err_set(err, -ENOMEM, "out of memory");
        for (const TSK_FS_ATTR_RUN *run = attr->nrd.run; run && pos < r->size; run = run->next) {
                uint64_t len = run->len * bs, dev = (uint64_t)fs->offset + run->addr * bs;
                struct extent *e = &r->extents[r->n_extents];

                if (run->offset * bs != pos)
                        break;
                if (len > r->size - pos)
                        len = r->size - pos;
                *e = (struct extent){ .file_off = pos, .dev_off = dev, .len = len };
                if (run->flags & TSK_FS_ATTR_RUN_FLAG_SPARSE || pos >= init) {
                        e->zero = true;
                } else if (len > init - pos) {
                        e->len = init - pos;
                        e[1] = (struct extent){ .file_off = init,
                                                .len = len - e->len,
                                                .zero = true };
                        r->n_extents++;
                }
                r->n_extents++;
                pos += len;
        }
        if (pos < r->size) {
                free(r->extents);
                r->extents = NULL;
                r->n_extents = 0;
                return evd_err_set(err, -EUCLEAN,
                                   "filesystem damaged: the clusters of inode %llu do not "
                                   "follow each other",
                                   (unsigned long long)r->inum);
        }
        return 0;
}

int evd_source_reader_open(struct evd_source *src, const struct evd_source_file *file,
                           struct evd_source_reader **ret, struct evd_err *err)
{
        struct evd_source_reader *r;
        TSK_FS_FILE *f;
        int rc;

        if (file->partition >= src->n_fs)
                return evd_err_set(err, -EINVAL, "no partition %u on this device", file->partition);
        r = calloc(1, sizeof(*r));
        if (!r)
                return evd_err_set(err, -ENOMEM, "out of memory");

        pthread_mutex_lock(&src->lock);
        tsk_error_reset();
        f = tsk_fs_file_open_meta(src->fs[file->partition], NULL, (TSK_INUM_T)file->inum);
        if (!f) {
                rc = fail_tsk(err, -EUCLEAN, "filesystem damaged: cannot open inode %llu",
                              (unsigned long long)file->inum);
                goto fail;
        }
        if (!f->meta || f->meta->type != TSK_FS_META_TYPE_REG ||
            f->meta->size != (TSK_OFF_T)file->size) {
                rc = evd_err_set(err, -ESTALE,
                                 "inode %llu is no longer the listed file of %llu bytes",
                                 (unsigned long long)file->inum, (unsigned long long)file->size);
                goto fail;
        }
        if ((rc = check_runs(src, f, file->size, err)) < 0)
                goto fail;
        r->src = src;
        r->file = f;
        r->size = file->size;
        r->partition = file->partition;
        r->inum = file->inum;
        if ((rc = map_extents(r, err)) < 0)
                goto fail;
        tsk_error_reset();
        pthread_mutex_unlock(&src->lock);
        *ret = r;
        return 0;

fail:
        tsk_fs_file_close(f);
        tsk_error_reset();
        pthread_mutex_unlock(&src->lock);
        free(r);
        return rc;
}

/* The extent holding byte off of the file (off < r->size), looked for at r->hint first. */
static const struct extent *extent_at(const struct evd_source_reader *r, uint64_t off)
{
        size_t lo = 0, hi = r->n_extents;
        const struct extent *e = &r->extents[r->hint];

        if (e->file_off <= off && off - e->file_off < e->len)
                return e;
        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;

                if (r->extents[mid].file_off <= off)
                        lo = mid;
                else
                        hi = mid;
        }
        return &r->extents[lo];
}

/* Read [off, off + len) of the file (within its size) from its extents. */
static ssize_t read_extents(struct evd_source_reader *r, uint8_t *buf, size_t len, uint64_t off)
{
        char why[128];

        for (size_t done = 0; done < len;) {
                const struct extent *e = extent_at(r, off + done);
                uint64_t in = off + done - e->file_off;
                size_t n = (size_t)(e->len - in < len - done ? e->len - in : len - done);
                ssize_t got;

                if (e->zero) {
                        memset(buf + done, 0, n);
                } else if ((got = device_read(r->src->img, buf + done, n, e->dev_off + in, why,
                                              sizeof(why))) < 0) {
                        return evd_err_set(&r->err, (int)got,
                                           "partition %u inode %llu offset %llu: %s", r->partition,
                                           (unsigned long long)r->inum,
                                           (unsigned long long)off + done, why);
                }
                done += n;
                r->hint = (size_t)(e - r->extents) + (done < len);
        }
        return (ssize_t)len;
}

ssize_t evd_source_reader_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
        struct evd_source_reader *r = ctx;
        struct img *img = r->src->img;
        uint64_t errors;
        ssize_t n;

        evd_err_clear(&r->err);
        if (off >= r->size || len == 0)
                return 0;
        if (len > r->size - off)
                len = (size_t)(r->size - off);
        if (len > (size_t)SSIZE_MAX)
                len = (size_t)SSIZE_MAX;
        if (r->extents)
                return read_extents(r, buf, len, off);

        pthread_mutex_lock(&r->src->lock);
        errors = img->read_errors;
        tsk_error_reset();
        n = tsk_fs_file_read(r->file, (TSK_OFF_T)off, buf, len, TSK_FS_FILE_READ_FLAG_NONE);
        /* TSK can swallow a failed device read (e.g. an unaligned read that fails comes
         * back as success): trust the count of failed reads, not only TSK's answer. */
        if (img->read_errors != errors) {
                n = -img->last_errno;
                evd_err_set(&r->err, (int)n, "partition %u inode %llu offset %llu: %s",
                            r->partition, (unsigned long long)r->inum, (unsigned long long)off,
                            img->last_text);
        } else if (n < 0) {
                n = fail_tsk(&r->err, -EIO,
                             "partition %u inode %llu offset %llu: filesystem damaged or "
                             "unreadable",
                             r->partition, (unsigned long long)r->inum, (unsigned long long)off);
        } else if (n == 0) {
                n = evd_err_set(&r->err, -EIO,
                                "partition %u inode %llu offset %llu: nothing read before "
                                "the end of the file",
                                r->partition, (unsigned long long)r->inum, (unsigned long long)off);
        }
        tsk_error_reset();
        pthread_mutex_unlock(&r->src->lock);
        return n;
}

void evd_source_reader_fill(struct evd_source_reader *r, struct evd_reader *ret)
{
        ret->pread = evd_source_reader_pread;
        ret->ctx = r;
}

const struct evd_err *evd_source_reader_error(const struct evd_source_reader *r)
{
        return &r->err;
}

void evd_source_reader_free(struct evd_source_reader *r)
{
        if (!r)
                return;
        pthread_mutex_lock(&r->src->lock);
        tsk_fs_file_close(r->file);
        pthread_mutex_unlock(&r->src->lock);
        free(r->extents);
        free(r);
}

/* ---- the ingest engine's interface ---- */

#define HANDLE_PART_SHIFT 56

/* As evd_originals_free (dirsource.c), kept here so that this module links alone. */
static void originals_free(struct evd_original *o, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(o[i].path);
        free(o);
}

int evd_source_originals(const struct evd_source_list *list, struct evd_original **ret,
                         size_t *ret_n, struct evd_err *err)
{
        struct evd_original *o = calloc(list->n ? list->n : 1, sizeof(*o));

        if (!o)
                return evd_err_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < list->n; i++) {
                const struct evd_source_file *f = &list->files[i];

                if (f->inum >> HANDLE_PART_SHIFT) {
                        originals_free(o, i);
                        return evd_err_set(err, -EOVERFLOW, "inode %llu too large for a handle",
                                           (unsigned long long)f->inum);
                }
                o[i].path = malloc(f->path_len + 1);
                if (!o[i].path) {
                        originals_free(o, i);
                        return evd_err_set(err, -ENOMEM, "out of memory");
                }
                memcpy(o[i].path, f->path, f->path_len + 1);
                o[i].path_len = f->path_len;
                o[i].size = f->size;
                o[i].mtime = f->mtime;
                o[i].handle = (uint64_t)f->partition << HANDLE_PART_SHIFT | f->inum;
        }
        *ret = o;
        *ret_n = list->n;
        return 0;
}

static int original_open(void *source, const struct evd_original *orig,
                         struct evd_reader *ret_reader, void **ret_state, struct evd_err *err)
{
        struct evd_source_file f = {
                .path = orig->path,
                .path_len = orig->path_len,
                .size = orig->size,
                .mtime = orig->mtime,
                .partition = (unsigned)(orig->handle >> HANDLE_PART_SHIFT),
                .inum = orig->handle & ((UINT64_C(1) << HANDLE_PART_SHIFT) - 1),
        };
        struct evd_source_reader *r = NULL;
        int rc;

        if ((rc = evd_source_reader_open(source, &f, &r, err)) < 0)
                return rc;
        evd_source_reader_fill(r, ret_reader);
        *ret_state = r;
        return 0;
}

static void original_close(void *source, void *state)
{
        (void)source;
        evd_source_reader_free(state);
}

const struct evd_source_ops evd_source_original_ops = { .open = original_open,
                                                        .close = original_close };
