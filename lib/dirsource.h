/* dirsource: a folder of recordings as a source (`evidockctl import DIR`).
 *
 * The walk never leaves DIR: symbolic links are not followed (noted and skipped),
 * nor are FIFOs, devices and sockets; every open goes component by component with
 * O_NOFOLLOW from DIR's own descriptor, so a folder swapped for a link mid-import
 * cannot redirect a read. Files are chosen by the configured extensions. */
#ifndef EVD_DIRSOURCE_H
#define EVD_DIRSOURCE_H

#include <jansson.h>

#include "conf.h"
#include "original.h"

#define EVD_DIRSOURCE_MAX_FILES 1000000
#define EVD_DIRSOURCE_MAX_DEPTH 64

struct evd_dirsource;

/* Open dir (an absolute path). *ret set only on success. */
int evd_dirsource_open(const char *dir, struct evd_dirsource **ret, struct evd_err *err);
void evd_dirsource_free(struct evd_dirsource *src);

/* List the originals under the folder wanted by conf's extensions, sorted by path.
 * Skipped entries (links, special files, unreadable folders) are appended to notes
 * (borrowed array) as {"path","path_b64","reason"}. *ret (caller frees with
 * evd_originals_free) and *ret_n set only on success. */
int evd_dirsource_list(struct evd_dirsource *src, const struct evd_conf *conf, json_t *notes,
                       struct evd_original **ret, size_t *ret_n, struct evd_err *err);

/* The ops to read its originals with; the source pointer is the evd_dirsource. */
extern const struct evd_source_ops evd_dirsource_ops;

#endif
