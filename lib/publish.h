/* publish: give a finished file its final name without ever replacing an existing one.
 *
 * Every file the station hands out or keeps for good (stored objects, station keys,
 * disc images, exported images) is written under a temporary name, synced, and then
 * published with evd_publish: rename(2) with RENAME_NOREPLACE, or, on a file system
 * that refuses that flag, link(2) to the final name (link never replaces either) and
 * unlink of the temporary name; then the final name's directory is synced, so that the
 * name survives a crash. An existing file of that name is never touched. */
#ifndef EVD_PUBLISH_H
#define EVD_PUBLISH_H

#include <stdbool.h>

/* Publish tmp (relative to the directory tmp_dirfd, or to the current directory with
 * AT_FDCWD; borrowed) as final (absolute, or relative to the current directory;
 * borrowed; on the same file system as tmp).
 * Returns 0 when final names the file and its directory is synced. -EEXIST when final
 * exists already: nothing is changed. Another -errno when the file cannot be named (tmp
 * left as it was: the caller removes or keeps it) or, with the file already named, when
 * the directory cannot be synced. *ret_named (may be NULL) says whether final names
 * the file now, whatever the return. */
int evd_publish(int tmp_dirfd, const char *tmp, const char *final, bool *ret_named);

#endif
