/* source_internal: what source.c and source_list.c (the listing walk) share. Not for
 * use outside the source module. */
#ifndef EVD_SOURCE_INTERNAL_H
#define EVD_SOURCE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <tsk/libtsk.h>

#include "source.h"

struct img;
struct mapped_file;

struct evd_source {
        pthread_mutex_t lock; /* around every TSK call on this source */
        int fd, direct_fd;
        struct img *img;
        TSK_VS_INFO *vs;
        TSK_FS_INFO *fs[EVD_SOURCE_MAX_PARTITIONS];
        unsigned n_fs;
        /* A mapped source (evd_source_open_mapped): no TSK, files read from extents. */
        bool mapped;
        uint64_t size;
        unsigned n_parts;
        struct mapped_file *map;
        size_t n_map;
};

/* evd_err_set with TSK's last error text (escaped) appended; clears TSK's error. */
int evd_source_tsk_fail(struct evd_err *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif
