/* dock_disk: how a dock reaches the recorder's real disk (dock.h): blockdev.h finds
 * the block device, the sandboxed lister (probe.h) lists it, source.h reads the
 * originals from the extents it gave. */
#include "dock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "blockdev.h"
#include "probe.h"
#include "source.h"

static int real_wait_start(uv_loop_t *loop, const char *usb_syspath, uint64_t settle_ms,
                           evd_blockdev_wait_cb cb, void *userdata, void **ret_wait,
                           struct evd_err *err)
{
        struct evd_blockdev_wait *w;
        int r = evd_blockdev_wait_start(loop, usb_syspath, settle_ms, cb, userdata, &w, err);

        if (r == 0)
                *ret_wait = w;
        return r;
}

static void real_wait_cancel(void *wait)
{
        evd_blockdev_wait_cancel(wait);
}

/* Make each original's path a key that names it alone on this recorder, since the
 * catalog knows a stored file by (recorder, path, size, mtime): with several
 * partitions the path starts "pN/" (N counts filesystems from 0); a path source.h
 * calls ambiguous (the same bytes as another file's, a '/' inside a name, a long name
 * TSK may have cut) ends " [inode N]", N being its directory entry's address, which
 * stays the same from one dock to the next. */
static int key_paths(const struct evd_source *src, const struct evd_source_list *list,
                     struct evd_original *files, size_t n, struct evd_err *err)
{
        bool parts = evd_source_partition_count(src) > 1;

        for (size_t i = 0; i < n; i++) {
                char *path;
                int len;

                if (!parts && !list->files[i].ambiguous)
                        continue;
                if (parts)
                        len = asprintf(&path, "p%u/%s", list->files[i].partition, files[i].path);
                else
                        len = asprintf(&path, "%s", files[i].path);
                if (len >= 0 && list->files[i].ambiguous) {
                        char *more;
                        int l2 = asprintf(&more, "%s [inode %" PRIu64 "]", path,
                                          list->files[i].inum);

                        free(path);
                        path = l2 >= 0 ? more : NULL;
                        len = l2;
                }
                if (len < 0)
                        return evd_err_set(err, -ENOMEM, "out of memory");
                if ((size_t)len >= EVD_PATH_MAX) {
                        free(path);
                        return evd_err_set(err, -ENAMETOOLONG, "a path is longer than %d bytes",
                                           EVD_PATH_MAX - 1);
                }
                free(files[i].path);
                files[i].path = path;
                files[i].path_len = (size_t)len;
        }
        return 0;
}

static void real_prepare(struct evd_ingest *ingest, const char *const *exts, size_t n_exts)
{
        evd_probes_prepare(evd_ingest_probes(ingest), exts, n_exts);
}

static int real_scan(struct evd_ingest *ingest, const char *node, const char *const *exts,
                     size_t n_exts, void **ret_disk, struct evd_original **ret_files, size_t *ret_n,
                     json_t **ret_deleted, struct evd_err *err)
{
        struct evd_source *src = NULL;
        struct evd_source_list *list = NULL;
        struct evd_original *files = NULL;
        json_t *deleted = NULL;
        size_t n = 0;
        int r;

        /* Listed by the sandboxed parser (probe.h), with what was deleted on the device
         * (第三十一条(三)); the data is read here, from the extents it gave. */
        r = evd_probe_list(evd_ingest_probes(ingest), node, exts, n_exts, &src, &list, &deleted,
                           err);
        if (r == 0)
                r = evd_source_originals(list, &files, &n, err);
        if (r == 0)
                r = key_paths(src, list, files, n, err);
        evd_source_list_free(list);
        if (r < 0) {
                json_decref(deleted);
                evd_originals_free(files, n);
                evd_source_free(src);
                return r;
        }
        *ret_disk = src;
        *ret_files = files;
        *ret_n = n;
        *ret_deleted = deleted;
        return 0;
}

static void real_close(void *disk)
{
        evd_source_free(disk);
}

const struct evd_dock_disk_ops evd_dock_real_disk = {
        .wait_start = real_wait_start,
        .wait_cancel = real_wait_cancel,
        .prepare = real_prepare,
        .scan = real_scan,
        .read = &evd_source_original_ops,
        .close = real_close,
};
