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
#include "source_internal.h"
#include "util.h"

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

/* A file's extents as the sandboxed lister gave them (probe.h), sorted by (partition,
 * inum) for evd_source_reader_open on a mapped source. */
struct mapped_file {
        unsigned partition;
        uint64_t inum, size;
        struct evd_source_extent *extents; /* owned */
        size_t n_extents;
        char *error; /* owned; why the file cannot be read, or NULL */
};

struct evd_source_reader {
        struct evd_source *src;
        TSK_FS_FILE *file;
        uint64_t size;
        unsigned partition;
        uint64_t inum;
        struct evd_source_extent *extents; /* NULL: read through TSK (data kept in the entry) */
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
int evd_source_tsk_fail(struct evd_err *err, int code, const char *fmt, ...)
{
        char msg[EVD_ERR_TEXT_MAX], detail[EVD_ERR_TEXT_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap); /* cut to fit */
        va_end(ap);
        tsk_text(detail, sizeof(detail));
        return evd_err_set(err, code, "%s: %s", msg, detail);
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

static struct evd_source *source_new(struct evd_err *err)
{
        struct evd_source *src = calloc(1, sizeof(*src));
        int r;

        if (!src) {
                (void)evd_err_set(err, -ENOMEM, "out of memory");
                return NULL;
        }
        src->fd = src->direct_fd = -1;
        if ((r = pthread_mutex_init(&src->lock, NULL)) != 0) {
                free(src);
                (void)evd_err_set(err, -r, "cannot create a lock");
                return NULL;
        }
        return src;
}

/* The size of src->fd, and its check: not empty, not too large. */
static int source_size(struct evd_source *src, const char *path, unsigned *ret_sector,
                       struct evd_err *err)
{
        int r = device_size(src->fd, path, &src->size, ret_sector, err);

        if (r < 0)
                return r;
        if (src->size == 0)
                return evd_err_set(err, -ENOMEDIUM, "%s: no medium (size 0)", path);
        if (src->size > (uint64_t)INT64_MAX)
                return evd_err_set(err, -EFBIG, "%s: device too large", path);
        return 0;
}

/* Set up TSK on src->fd (size known) and open its filesystems. */
static int source_tsk(struct evd_source *src, const char *path, unsigned sector,
                      struct evd_err *err)
{
        int r = 0;

        src->img = calloc(1, sizeof(*src->img));
        if (!src->img)
                return evd_err_set(err, -ENOMEM, "out of memory");
        src->img->fd = src->fd;
        src->img->direct_fd = src->direct_fd;
        src->img->size = src->size;

        pthread_mutex_lock(&src->lock);
        tsk_error_reset();
        if (!tsk_img_open_external(src->img, (TSK_OFF_T)src->size, sector, img_read, img_close,
                                   img_imgstat)) {
                free(src->img);
                src->img = NULL;
                r = evd_source_tsk_fail(err, -EIO, "%s: cannot set up the image layer", path);
                goto out;
        }
        if ((r = open_partitions(src, err)) < 0)
                goto out;
        if (src->n_fs == 0) {
                /* No partition table, or one without FAT: a "superfloppy" at offset 0. */
                TSK_FS_INFO *fs = tsk_fs_open_img(&src->img->info, 0, TSK_FS_TYPE_FAT_DETECT);

                if (!fs)
                        r = evd_source_tsk_fail(err, -EMEDIUMTYPE,
                                                "%s: no FAT or exFAT filesystem found", path);
                else
                        r = add_fs(src, fs, err);
        }
out:
        pthread_mutex_unlock(&src->lock);
        return r;
}

int evd_source_open(const char *path, struct evd_source **ret, struct evd_err *err)
{
        struct evd_source *src = source_new(err);
        unsigned sector = 512;
        int r;

        if (!src)
                return -ENOMEM;
        src->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (src->fd < 0) {
                r = evd_err_set(err, -errno, "%s: %m", path);
                goto fail;
        }
        if ((r = source_size(src, path, &sector, err)) < 0)
                goto fail;
        src->direct_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_DIRECT); /* or -1 */
        if ((r = source_tsk(src, path, sector, err)) < 0)
                goto fail;
        *ret = src;
        return 0;
fail:
        evd_source_free(src);
        return r;
}

int evd_source_open_fd(int fd, const char *name, struct evd_source **ret, struct evd_err *err)
{
        struct evd_source *src = source_new(err);
        unsigned sector = 512;
        int r;

        if (!src) {
                (void)close(fd);
                return -ENOMEM;
        }
        src->fd = fd;
        if ((r = source_size(src, name, &sector, err)) < 0 ||
            (r = source_tsk(src, name, sector, err)) < 0) {
                evd_source_free(src);
                return r;
        }
        *ret = src;
        return 0;
}

int evd_source_device_open(const char *path, int *ret_fd, uint64_t *ret_size, struct evd_err *err)
{
        struct evd_source *src = source_new(err);
        unsigned sector = 512;
        int r;

        if (!src)
                return -ENOMEM;
        src->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (src->fd < 0)
                r = evd_err_set(err, -errno, "%s: %m", path);
        else if ((r = source_size(src, path, &sector, err)) == 0) {
                *ret_fd = src->fd;
                *ret_size = src->size;
                src->fd = -1;
        }
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
        if (src->img && src->mapped)
                free(src->img); /* never given to TSK */
        else if (src->img)
                tsk_img_close(&src->img->info); /* frees src->img */
        if (src->fd >= 0)
                (void)close(src->fd);
        if (src->direct_fd >= 0)
                (void)close(src->direct_fd);
        for (size_t i = 0; i < src->n_map; i++) {
                free(src->map[i].extents);
                free(src->map[i].error);
        }
        free(src->map);
        pthread_mutex_destroy(&src->lock);
        free(src);
}

uint64_t evd_source_size(const struct evd_source *src)
{
        return src->size;
}

unsigned evd_source_partition_count(const struct evd_source *src)
{
        return src->mapped ? src->n_parts : src->n_fs;
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

void evd_source_list_free(struct evd_source_list *list)
{
        if (!list)
                return;
        for (size_t i = 0; i < list->n; i++) {
                free(list->files[i].path);
                free(list->files[i].extents);
                free(list->files[i].error);
        }
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
                return evd_source_tsk_fail(err, -EUCLEAN,
                                           "filesystem damaged: no data for inode %llu",
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
                struct evd_source_extent *e = &r->extents[r->n_extents];

                if (run->offset * bs != pos)
                        break;
                if (len > r->size - pos)
                        len = r->size - pos;
                *e = (struct evd_source_extent){ .file_off = pos, .dev_off = dev, .len = len };
                if (run->flags & TSK_FS_ATTR_RUN_FLAG_SPARSE || pos >= init) {
                        e->zero = true;
                } else if (len > init - pos) {
                        e->len = init - pos;
                        e[1] = (struct evd_source_extent){ .file_off = init,
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

static int cmp_mapped(const void *a, const void *b)
{
        const struct mapped_file *x = a, *y = b;

        if (x->partition != y->partition)
                return x->partition < y->partition ? -1 : 1;
        return x->inum < y->inum ? -1 : x->inum > y->inum;
}

/* A reader of a mapped source's file: a copy of its extents. */
static int mapped_reader_open(struct evd_source *src, const struct evd_source_file *file,
                              struct evd_source_reader **ret, struct evd_err *err)
{
        const struct mapped_file key = { .partition = file->partition, .inum = file->inum };
        const struct mapped_file *m = bsearch(&key, src->map, src->n_map, sizeof(key), cmp_mapped);
        struct evd_source_reader *r;

        if (!m || m->size != file->size)
                return evd_err_set(err, -ESTALE, "inode %llu is not the listed file of %llu bytes",
                                   (unsigned long long)file->inum, (unsigned long long)file->size);
        if (m->error)
                return evd_err_set(err, -EUCLEAN, "%s", m->error);
        r = calloc(1, sizeof(*r));
        if (!r || (m->n_extents && !(r->extents = calloc(m->n_extents, sizeof(*r->extents))))) {
                free(r);
                return evd_err_set(err, -ENOMEM, "out of memory");
        }
        if (m->n_extents)
                memcpy(r->extents, m->extents, m->n_extents * sizeof(*r->extents));
        r->n_extents = m->n_extents;
        r->src = src;
        r->size = m->size;
        r->partition = m->partition;
        r->inum = m->inum;
        *ret = r;
        return 0;
}

/* The lister's extents of f make sense: in file order from 0, covering its size, each on
 * a device of size bytes. */
static int check_extents(const struct evd_source_file *f, uint64_t size, struct evd_err *err)
{
        uint64_t pos = 0;

        if (f->error && f->n_extents)
                return evd_err_set(err, -EBADMSG, "a file has both extents and an error");
        if (f->error)
                return 0;
        if (f->size > 0 && f->n_extents == 0)
                return evd_err_set(err, -EBADMSG, "a file of %llu bytes has no extents",
                                   (unsigned long long)f->size);
        for (size_t i = 0; i < f->n_extents; i++) {
                const struct evd_source_extent *e = &f->extents[i];

                if (e->file_off != pos || e->len == 0 || e->len > f->size - pos)
                        return evd_err_set(err, -EBADMSG,
                                           "the extents of inode %llu do not cover its %llu "
                                           "bytes in order",
                                           (unsigned long long)f->inum,
                                           (unsigned long long)f->size);
                if (!e->zero && (e->dev_off > size || e->len > size - e->dev_off))
                        return evd_err_set(err, -EBADMSG,
                                           "an extent of inode %llu lies past the end of the "
                                           "device (%llu bytes at offset %llu, device of %llu)",
                                           (unsigned long long)f->inum, (unsigned long long)e->len,
                                           (unsigned long long)e->dev_off,
                                           (unsigned long long)size);
                pos += e->len;
        }
        if (pos != f->size)
                return evd_err_set(err, -EBADMSG,
                                   "the extents of inode %llu cover %llu of its "
                                   "%llu bytes",
                                   (unsigned long long)f->inum, (unsigned long long)pos,
                                   (unsigned long long)f->size);
        return 0;
}

/* Take the extents and errors of list into src->map, checked. */
static int take_map(struct evd_source *src, struct evd_source_list *list, struct evd_err *err)
{
        int r;

        src->map = calloc(list->n ? list->n : 1, sizeof(*src->map));
        if (!src->map)
                return evd_err_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < list->n; i++) {
                struct evd_source_file *f = &list->files[i];
                struct mapped_file *m = &src->map[src->n_map];

                if (f->partition >= src->n_parts)
                        return evd_err_set(err, -EBADMSG, "a file on partition %u of %u",
                                           f->partition, src->n_parts);
                if ((r = check_extents(f, src->size, err)) < 0)
                        return r;
                *m = (struct mapped_file){ .partition = f->partition,
                                           .inum = f->inum,
                                           .size = f->size,
                                           .extents = f->extents,
                                           .n_extents = f->n_extents,
                                           .error = f->error };
                f->extents = NULL;
                f->n_extents = 0;
                f->error = NULL;
                src->n_map++;
        }
        qsort(src->map, src->n_map, sizeof(*src->map), cmp_mapped);
        for (size_t i = 1; i < src->n_map; i++)
                if (cmp_mapped(&src->map[i - 1], &src->map[i]) == 0)
                        return evd_err_set(err, -EBADMSG,
                                           "inode %llu of partition %u is listed "
                                           "twice",
                                           (unsigned long long)src->map[i].inum,
                                           src->map[i].partition);
        return 0;
}

int evd_source_open_mapped(const char *path, unsigned n_parts, struct evd_source_list *list,
                           struct evd_source **ret, struct evd_err *err)
{
        struct evd_source *src = source_new(err);
        unsigned sector = 512;
        int r;

        if (!src)
                return -ENOMEM;
        src->mapped = true;
        src->n_parts = n_parts;
        src->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (src->fd < 0) {
                r = evd_err_set(err, -errno, "%s: %m", path);
                goto fail;
        }
        if ((r = source_size(src, path, &sector, err)) < 0)
                goto fail;
        src->direct_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_DIRECT); /* or -1 */
        if (n_parts == 0 || n_parts > EVD_SOURCE_MAX_PARTITIONS) {
                r = evd_err_set(err, -EBADMSG, "%u partitions", n_parts);
                goto fail;
        }
        src->img = calloc(1, sizeof(*src->img));
        if (!src->img) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        src->img->fd = src->fd;
        src->img->direct_fd = src->direct_fd;
        src->img->size = src->size;
        if ((r = take_map(src, list, err)) < 0)
                goto fail;
        *ret = src;
        return 0;
fail:
        evd_source_free(src);
        return r;
}

int evd_source_list_map(struct evd_source *src, struct evd_source_list *list, struct evd_err *err)
{
        for (size_t i = 0; i < list->n; i++) {
                struct evd_source_file *f = &list->files[i];
                struct evd_source_reader *r = NULL;
                struct evd_err why = { 0 };
                int rc = evd_source_reader_open(src, f, &r, &why);

                if (rc == -ENOMEM)
                        return evd_err_set(err, rc, "%s", why.text);
                if (rc == 0 && r && f->size > 0 && !r->extents)
                        rc = evd_err_set(&why, -EUCLEAN, "inode %llu: data not in clusters",
                                         (unsigned long long)f->inum);
                if (rc < 0 || !r) {
                        f->error = strdup(why.text);
                        if (!f->error) {
                                evd_source_reader_free(r);
                                return evd_err_set(err, -ENOMEM, "out of memory");
                        }
                } else {
                        f->extents = r->extents;
                        f->n_extents = r->n_extents;
                        r->extents = NULL;
                }
                evd_source_reader_free(r);
        }
        return 0;
}

int evd_source_reader_open(struct evd_source *src, const struct evd_source_file *file,
                           struct evd_source_reader **ret, struct evd_err *err)
{
        struct evd_source_reader *r;
        TSK_FS_FILE *f;
        int rc;

        if (src->mapped)
                return mapped_reader_open(src, file, ret, err);
        if (file->partition >= src->n_fs)
                return evd_err_set(err, -EINVAL, "no partition %u on this device", file->partition);
        r = calloc(1, sizeof(*r));
        if (!r)
                return evd_err_set(err, -ENOMEM, "out of memory");

        pthread_mutex_lock(&src->lock);
        tsk_error_reset();
        f = tsk_fs_file_open_meta(src->fs[file->partition], NULL, (TSK_INUM_T)file->inum);
        if (!f) {
                rc = evd_source_tsk_fail(err, -EUCLEAN,
                                         "filesystem damaged: cannot open inode %llu",
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
static const struct evd_source_extent *extent_at(const struct evd_source_reader *r, uint64_t off)
{
        size_t lo = 0, hi = r->n_extents;
        const struct evd_source_extent *e = &r->extents[r->hint];

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
                const struct evd_source_extent *e = extent_at(r, off + done);
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
        if (r->src->mapped)
                return evd_err_set(&r->err, -EIO, "inode %llu: no extents",
                                   (unsigned long long)r->inum);

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
                n = evd_source_tsk_fail(
                        &r->err, -EIO,
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
        if (r->file) {
                pthread_mutex_lock(&r->src->lock);
                tsk_fs_file_close(r->file);
                pthread_mutex_unlock(&r->src->lock);
        }
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
