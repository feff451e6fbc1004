/* copy: stream one original into the store's tmp/, proving the copy exact.
 *
 * A reader thread fills a small ring of 1 MiB blocks while the calling thread hashes
 * (SHA-256, OpenSSL EVP) and writes them, so reading overlaps hashing and writing.
 * Then: fdatasync, drop the copy's cached pages, re-read it from disk (one block at a
 * time when the copy's ring is limited to two blocks) and compare the
 * hash (and, with EVD_VERIFY_SOURCE_DESTINATION, read the source again too). Memory
 * per copy is bounded (EVD_COPY_BLOCKS blocks) whatever the file size; a copy that
 * waits on its source (a USB bus) allocates two. Blocking: call
 * it from a worker thread, never from the event loop. */
#ifndef EVD_COPY_H
#define EVD_COPY_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "err.h"
#include "hash.h"
#include "store.h"

#define EVD_COPY_BLOCK EVD_HASH_BLOCK /* the source re-hash reuses a ring block */
#define EVD_COPY_BLOCKS 4

struct evd_copy_result {
        uint8_t sha256[EVD_SHA256_LEN];
        uint64_t size;
        char tmp_name[EVD_STORE_TMPNAME_MAX]; /* a verified file in tmp/, to publish */
};

/* How a copy runs; zero/NULL members are off. */
struct evd_copy_opts {
        enum evd_verify_mode verify;
        _Atomic uint64_t *bytes_done; /* grows as blocks are written */
        const atomic_bool *cancel;    /* aborts the copy with -ECANCELED when set */
        /* Called once, on the copy's thread, when the source is read for the last time
         * (so that another copy may start reading it while this one syncs and
         * verifies), unless the copy fails before then. */
        void (*source_done)(void *userdata);
        void *userdata;
        unsigned max_blocks; /* ring blocks at most, 2..EVD_COPY_BLOCKS (0: the most) */
};

/* Copy everything the reader gives into a new tmp/ file and verify it. On success
 * *ret holds the hash, size and tmp name (the caller publishes or discards it); on
 * failure nothing is left in tmp/. opts borrowed for the call. */
int evd_copy_run(struct evd_store *store, const struct evd_reader *reader,
                 const struct evd_copy_opts *opts, struct evd_copy_result *ret,
                 struct evd_err *err);

/* Copy a stored object (src_fd, from offset 0) into dst_fd, hashing as it goes, then
 * fdatasync, drop the pages and re-read dst (open read-write) to prove it equals
 * sha256. For copies
 * that leave the store (access --copy-to, disc staging). -EIO when it differs. */
int evd_copy_out(int src_fd, int dst_fd, const uint8_t sha256[EVD_SHA256_LEN], struct evd_err *err);

#endif
