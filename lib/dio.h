/* dio: direct I/O, reading and writing past the page cache.
 *
 * Copies are written, verified and read from recorders with O_DIRECT where the kernel
 * allows it. The verify then reads what the disk holds rather than a cached page, and
 * neither the recordings nor their copies churn the page cache (on a VM every fresh
 * page-cache page costs more than the copy into it). Every call falls back to buffered
 * I/O, for good on that fd, when the filesystem refuses O_DIRECT (tmpfs, some FUSE) or a
 * request is not aligned (the end of a file), so callers never need to care. */
#ifndef EVD_DIO_H
#define EVD_DIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Offsets, lengths and buffers of direct requests are multiples of this: it covers
 * every logical block size in use (512 and 4096). */
#define EVD_DIO_ALIGN 4096u

/* A buffer of len bytes aligned for direct I/O, or NULL; free() it. */
void *evd_dio_alloc(size_t len);

/* True when buf, len and off all suit a direct request. */
bool evd_dio_aligned(const void *buf, size_t len, uint64_t off);

/* Turn O_DIRECT on or off for fd's open file (shared with its dups). 0, or -EINVAL when
 * the filesystem does not do direct I/O, or -errno. */
int evd_dio_set(int fd, bool on);

/* True when O_DIRECT is on for fd. */
bool evd_dio_is_on(int fd);

/* pread for an fd that may have O_DIRECT on. Returns bytes read, 0 only at the end, or
 * -errno; it may return fewer bytes than asked before the end, so loop until 0. */
ssize_t evd_dio_pread(int fd, void *buf, size_t len, uint64_t off);

/* pwrite all of buf at off on an fd that may have O_DIRECT on: the aligned part goes
 * direct, and the first piece that cannot (a file's unaligned end) turns O_DIRECT off
 * for it and all that follows. 0 or -errno. */
int evd_dio_pwrite(int fd, const void *buf, size_t len, uint64_t off);

#endif
