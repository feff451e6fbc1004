/* hash: a source of bytes read by offset, and its SHA-256.
 *
 * Originals (a file in a folder, a file on a recorder's raw storage) and stored
 * objects are all read through struct evd_reader, so one loop hashes them all. */
#ifndef EVD_HASH_H
#define EVD_HASH_H

#include <stdint.h>
#include <sys/types.h>

#include "util.h"

#define EVD_HASH_BLOCK (1u << 20)

/* Where the bytes come from: pread-like, returning bytes read (0 at the end) or
 * -errno. Called from one thread at a time. */
struct evd_reader {
        ssize_t (*pread)(void *ctx, void *buf, size_t len, uint64_t off);
        void *ctx;
};

/* struct evd_reader.pread for a file: ctx points to its fd (an int). Reads past the page
 * cache when O_DIRECT is on for the fd (evd_dio_pread). */
ssize_t evd_fd_pread(void *ctx, void *buf, size_t len, uint64_t off);

/* SHA-256 of everything the reader gives from offset 0, in EVD_HASH_BLOCK reads into
 * buf (EVD_HASH_BLOCK bytes, or NULL to use a buffer of its own); *ret_size gets the
 * byte count. */
int evd_sha256_reader(const struct evd_reader *reader, uint8_t *buf,
                      uint8_t ret_sha256[EVD_SHA256_LEN], uint64_t *ret_size);

/* The same for a file open for reading (from offset 0; the fd's offset is unused),
 * read past the page cache where the filesystem allows (dio.h). buf is as above, and
 * must be aligned for direct I/O (evd_dio_alloc) when given. */
int evd_sha256_fd(int fd, uint8_t *buf, uint8_t ret_sha256[EVD_SHA256_LEN], uint64_t *ret_size);

#endif
