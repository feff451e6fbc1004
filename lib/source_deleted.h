/* source_deleted: the deleted directory entries of a recorder's FAT or exFAT
 * filesystems whose names have a recording extension (第三十一条(三) sanctions deleting
 * records). Listed only: nothing is recovered, nothing is written (the source is read
 * only, source.h). Part of the lister: it moves with evd_source_list wherever that
 * runs, and its result travels beside the listing.
 *
 * What the filesystems keep (TSK 4.11, tsk_fs_dir_walk with
 * TSK_FS_DIR_WALK_FLAG_UNALLOC): FAT overwrites the first byte of a deleted 8.3 name
 * (TSK shows it as '_') but keeps the long name, size and times; exFAT keeps name, size
 * and times, clearing only the in-use bit. A deleted entry whose slot was reused is gone.
 */
#ifndef EVD_SOURCE_DELETED_H
#define EVD_SOURCE_DELETED_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"
#include "source.h"

#define EVD_SOURCE_DELETED_MAX 1000 /* entries reported; past it "more": true */

/* The deleted entries of src with one of the n_exts extensions (as evd_source_list takes
 * them; 0 takes every deleted file) into *ret, a new JSON object the caller owns:
 * {"entries": [{"path", "partition", "size", "mtime", "crtime", "atime"}...],
 *  "more": bool}; times are RFC 3339 UTC strings or null where the filesystem keeps none.
 * A directory that cannot be walked is not an error here (the listing reports damage):
 * what could be read is returned. -ENOMEM. Blocking: like evd_source_list. */
int evd_source_list_deleted(struct evd_source *src, const char *const *exts, size_t n_exts,
                            json_t **ret, struct evd_err *err);

#endif
