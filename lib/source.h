/* source: list and read the original recordings on a recorder's raw storage, read-only.
 *
 * A docked recorder shows up as a block device holding FAT12/16/32 or exFAT, with or
 * without an MBR or GPT partition table. This module opens the device node (or an image
 * file: the same code, BLKGETSIZE64 is replaced by fstat) with O_RDONLY and hands The
 * Sleuth Kit (libtsk 4.11) its own pread()-based image layer, so nothing is ever mounted
 * and no code path can write to the recorder. It walks every FAT or exFAT filesystem it
 * finds, keeps the regular files whose extension is in a list, and reads them back in
 * blocks for the copy engine through struct evd_reader (copy.h).
 *
 * What TSK 4.11.1 gives, found by trying it (tests/unit/test_source.c pins each point):
 * - Times: FAT and exFAT store local wall-clock fields. TSK turns them into seconds with
 *   mktime() in the process's TZ at listing time (exFAT's UTC-offset byte is ignored),
 *   so evd_source_file.mtime is the wall-clock time read in the station's timezone (the
 *   process TZ), which is what the station wants. A date field of 0 gives 0; for an hour
 *   that a DST change repeats, mktime() picks one. FAT keeps even seconds only. exFAT
 *   keeps odd ones in a 10 ms field, but TSK adds that second only when the field is
 *   above 100, not at 100: an exFAT time of hh:mm:01.00 comes out as hh:mm:00. A TSK
 *   that changes either point (a later one uses timegm()) fails test_source on purpose.
 * - Names: TSK gives UTF-8 converted from the long (UTF-16) name, bytes kept exactly
 *   here, without normalisation. Where a FAT entry has only an 8.3 name, its non-ASCII
 *   bytes come back as '^' (two GBK short names can give the same path). A long name
 *   needing 16 or more slots (over 195 UTF-16 units) loses its last slot: the name is cut
 *   and its extension lost; such a file is still kept when its 8.3 name has a wanted
 *   extension. Both cases, and a '/' inside a name, set evd_source_file.ambiguous.
 * - Damage: TSK opens a filesystem that is larger than the device; a read then fails
 *   only when it reaches the missing part, and a file whose cluster chain loops reads as
 *   0 bytes with no error. Hence the checks in evd_source_reader_open. Any unreadable
 *   directory, loop or limit fails the whole listing: never a silently shorter list.
 * - Threads: TSK lets several threads read different files of one opened filesystem,
 *   each with its own TSK_FS_FILE (helgrind finds no race in TSK, only in glibc's mktime
 *   tz cache; hashes stay right), but every device read is serialised under the image's
 *   cache lock anyway. So TSK is used for the metadata only: opening a file for reading
 *   takes its cluster runs, and its data is then read straight from the device (large
 *   aligned reads with O_DIRECT, dio.h), several files at once, with exactly what
 *   tsk_fs_file_read would give (zeros for sparse runs and past exFAT's valid data
 *   length). This module takes one mutex per struct evd_source around each TSK call: it
 *   keeps TSK's per-thread error text and this module's count of failed device reads
 *   paired with the call that caused them.
 *
 * Errors: -errno and, for people, struct evd_err text. Typical codes: -ENOENT and the
 * like from open(2), -ENOTBLK (neither a block device nor a regular file), -ENOMEDIUM
 * (size 0), -EMEDIUMTYPE ("no FAT or exFAT filesystem found"), -EUCLEAN ("filesystem
 * damaged: ..."), -E2BIG (a listing limit), -ENAMETOOLONG (path limit), -ELOOP (depth
 * limit), -ESTALE (a file is no longer as listed), -EINVAL (bad argument), -EIO and the
 * device's errno (read errors), -ENOMEM. */
#ifndef EVD_SOURCE_H
#define EVD_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "original.h"

#define EVD_SOURCE_MAX_PARTITIONS 16 /* filesystems opened on one device, at most */
#define EVD_SOURCE_EXT_MAX 16        /* bytes in one extension, with its NUL */

/* Bounds of one listing. Zero in a field means its default. */
struct evd_source_limits {
        size_t max_files;   /* files kept (matching an extension), all partitions; 100000 */
        size_t max_entries; /* directory entries looked at, all partitions; 1000000 */
        size_t max_path;    /* bytes of a path with its '/'s, without the NUL; 4096 */
        unsigned max_depth; /* directory levels below the root; 32 */
};

/* Where a piece of a file is: bytes [file_off, file_off + len) of the file are at dev_off
 * on the device, or are zeros (a sparse run, or past the size the entry says was
 * written: exFAT's valid data length). */
struct evd_source_extent {
        uint64_t file_off, dev_off, len;
        bool zero;
};

/* One original recording on the device. */
struct evd_source_file {
        char *path;         /* "DCIM/100MEDIA/X.MP4": TSK's name bytes from the root down,
                             * joined by '/', NUL-terminated, owned by the list (relative to
                             * the root like struct evd_original's) */
        size_t path_len;    /* strlen(path) */
        uint64_t size;      /* bytes */
        int64_t mtime;      /* seconds since the epoch, FAT local time read in the process
                             * TZ (see above); 0 when the entry has no date */
        unsigned partition; /* index of its filesystem on this source (0 when unpartitioned) */
        uint64_t inum;      /* TSK metadata address, to reopen it with evd_source_reader_open */
        bool ambiguous;     /* the path may not name this file alone, or not rightly:
                             * another file of the partition has the same bytes, a name held
                             * a '/', or TSK may have cut a long name (see above). The caller
                             * must not key on the path alone (add the inum). */
        /* Filled by evd_source_list_map (in the sandboxed lister, probe.h) or by the
         * lister's answer; NULL/0 otherwise. Owned by the list. */
        struct evd_source_extent *extents; /* in file order, covering size exactly */
        size_t n_extents;
        char *error; /* why the file cannot be read (then no extents), or NULL */
};

struct evd_source_list {
        struct evd_source_file *files; /* n entries, in on-disk directory order */
        size_t n;
};

/* One opened filesystem. */
struct evd_source_partition {
        uint64_t offset;  /* bytes from the start of the device */
        uint64_t size;    /* bytes the filesystem claims */
        const char *type; /* "fat12", "fat16", "fat32", "exfat": static */
        bool truncated;   /* the filesystem claims more than the device holds */
};

struct evd_source;
struct evd_source_reader;

/* Open a block device node or an image file read-only (O_RDONLY|O_CLOEXEC; nothing is
 * ever written) and every FAT12/16/32 or exFAT filesystem on it: those in an MBR or GPT
 * partition table, else the one at offset 0. path is borrowed. On success *ret is a new
 * source the caller frees with evd_source_free. */
int evd_source_open(const char *path, struct evd_source **ret, struct evd_err *err);

/* As evd_source_open on fd (taken: closed by evd_source_free, also on failure), an
 * already-open read-only device or image; name is only for messages. No O_DIRECT
 * reads. For the sandboxed lister (daemon/evidock-probe.c). */
int evd_source_open_fd(int fd, const char *name, struct evd_source **ret, struct evd_err *err);

/* Fill every listed file's extents (or its error: damage found opening it, as
 * evd_source_reader_open says) so that another process can read it without TSK.
 * Returns -ENOMEM (err set) or 0. */
int evd_source_list_map(struct evd_source *src, struct evd_source_list *list, struct evd_err *err);

/* Open path read-only, as evd_source_open does, but without TSK: its files are read from
 * the extents of list (taken from it: its files keep their paths, lose their extents and
 * errors), found by a sandboxed lister that had n_parts filesystems. Each extent is
 * checked against the device size and each file's extents against its size; a listed
 * (partition, inum) twice or an extent off the device is -EBADMSG ("the lister's answer
 * ..."). evd_source_reader_open then takes a file's extents (-EUCLEAN with its error
 * when it has one). evd_source_partition_info is -ENOENT on such a source. */
int evd_source_open_mapped(const char *path, unsigned n_parts, struct evd_source_list *list,
                           struct evd_source **ret, struct evd_err *err);

/* Open path read-only (O_RDONLY|O_CLOEXEC) for a lister: its size and the fd, which
 * stays the caller's. */
int evd_source_device_open(const char *path, int *ret_fd, uint64_t *ret_size, struct evd_err *err);

/* Close everything. Accepts NULL. Every reader of src must be freed first. */
void evd_source_free(struct evd_source *src);

/* Device size in bytes. */
uint64_t evd_source_size(const struct evd_source *src);

/* Number of filesystems opened (at least 1), and facts about one of them. */
unsigned evd_source_partition_count(const struct evd_source *src);
int evd_source_partition_info(const struct evd_source *src, unsigned idx,
                              struct evd_source_partition *ret);

/* List the allocated regular files of every filesystem whose name ends in "." and one of
 * the n_exts extensions (at most 64, ASCII, compared without case, given with or without
 * the dot, e.g. "mp4", ".MOV"; -EINVAL otherwise; n_exts 0 keeps every regular file; a
 * name that is only ".mp4" has no extension, as for dirsource). Skips deleted entries,
 * the volume label entry, TSK's virtual entries ($MBR, $FAT1, $FAT2, $OrphanFiles) and
 * exFAT's system entries ($ALLOC_BITMAP, $UPCASE_TABLE, ...); a real file named
 * "$X.MP4" is kept. limits may be NULL for the defaults; exts and limits are only read
 * during the call. Exceeding a limit or finding damage is an error, never a silently
 * shorter list. On success *ret is a new list freed with evd_source_list_free.
 * Blocking: seconds on a full card. */
int evd_source_list(struct evd_source *src, const char *const *exts, size_t n_exts,
                    const struct evd_source_limits *limits, struct evd_source_list **ret,
                    struct evd_err *err);

/* Free a list. Accepts NULL. */
void evd_source_list_free(struct evd_source_list *list);

/* For source_deleted.c: fn(fs, idx, ud) on each opened filesystem (a TSK_FS_INFO *)
 * under src's lock, until one returns nonzero (returned). */
int evd_source_each_fs(struct evd_source *src, int (*fn)(void *fs, unsigned idx, void *ud),
                       void *ud);

/* Open one listed file for reading. src and file are borrowed: src must outlive the
 * reader; file may go after this call. Checks that the file is still a regular file of
 * the listed size (-ESTALE otherwise; -EINVAL for a partition src does not have) and
 * that its clusters cover its size and lie on the device (-EUCLEAN otherwise: a
 * truncated image, a looping cluster chain). *ret is freed with evd_source_reader_free. */
int evd_source_reader_open(struct evd_source *src, const struct evd_source_file *file,
                           struct evd_source_reader **ret, struct evd_err *err);

/* pread-like: up to len bytes of the file at off into buf. Returns the bytes read (len,
 * or less only at the end of the file), 0 at or past the end, or -errno: the device's
 * errno when a device read failed (-EIO, or e.g. -ENODEV once the recorder is pulled
 * out), -EIO for damage met while reading (TSK's text); the reason is in
 * evd_source_reader_error. A failed device read is never passed on as data, even where
 * TSK would swallow it. ctx is the struct evd_source_reader. Safe to call from any
 * thread; readers of the same source read in parallel. */
ssize_t evd_source_reader_pread(void *ctx, void *buf, size_t len, uint64_t off);

/* Point ret (struct evd_reader of copy.h) at evd_source_reader_pread and r. */
void evd_source_reader_fill(struct evd_source_reader *r, struct evd_reader *ret);

/* The reason for the reader's last failed read (code 0 when none). Valid until the next
 * read or free; read it from the thread that did the read or after joining it. */
const struct evd_err *evd_source_reader_error(const struct evd_source_reader *r);

/* Free a reader. Accepts NULL. */
void evd_source_reader_free(struct evd_source_reader *r);

/* For the ingest engine (original.h): the listed files as struct evd_original, in the
 * same order (originals[i] is list->files[i]; look there for .ambiguous), path, size and
 * mtime copied, handle = partition << 56 | inum. *ret (freed with evd_originals_free)
 * and *ret_n set only on success. */
int evd_source_originals(const struct evd_source_list *list, struct evd_original **ret,
                         size_t *ret_n, struct evd_err *err);

/* The ops that read those originals: the source pointer is the struct evd_source, the
 * state a struct evd_source_reader (open checks as evd_source_reader_open does). */
extern const struct evd_source_ops evd_source_original_ops;

#endif
