/* original: an original recording as a source (a folder, a recorder's filesystem)
 * lists it, and the small interface through which the ingest engine reads it. */
#ifndef EVD_ORIGINAL_H
#define EVD_ORIGINAL_H

#include <stddef.h>
#include <stdint.h>

#include "copy.h"
#include "err.h"

#define EVD_PATH_MAX 4096

struct evd_original {
        char *path; /* exact bytes as the source names it, relative to its root,
                     * NUL-terminated after path_len (the bytes hold no NUL) */
        size_t path_len;
        uint64_t size;   /* when listed */
        int64_t mtime;   /* seconds since the epoch */
        uint64_t handle; /* the source's own reference (inode address, partition...) */
};

/* What a source provides to the ingest engine. open is called from worker threads,
 * possibly at once for different originals; close gets what open returned. */
struct evd_source_ops {
        int (*open)(void *source, const struct evd_original *orig, struct evd_reader *ret_reader,
                    void **ret_state, struct evd_err *err);
        void (*close)(void *source, void *state);
};

/* Free an array of n originals and their paths; accepts NULL. */
void evd_originals_free(struct evd_original *orig, size_t n);

#endif
