/* probe_msg: the messages of the sandboxed parser (daemon/evidock-probe.c, probe.h).
 *
 * The helper answers with one JSON object (at most EVD_PROBE_MSG_MAX bytes), written to
 * its reply pipe; nothing else it writes is read. Every answer has "v": 1 and exactly one
 * of:
 *   "error": -errno, "text": "why"      the helper's own failure (no such filesystem,
 *                                       damage, a listing limit, a media probe limit)
 *   "partitions": N, "files": [...]     a recorder's listing: N filesystems (1..16) and
 *                                       per file {"path_hex", "size", "mtime",
 *                                       "partition", "inum", "ambiguous", and either
 *                                       "extents": [[file_off, dev_off, len, zero], ...]
 *                                       or "error": "text"}
 *   "media": {...}                      a media probe result as media.h describes it
 * Paths travel in hex: they are the recorder's bytes, not always UTF-8.
 *
 * Decoding is pure (no I/O) and treats the bytes as hostile: any answer that is not
 * exactly that shape, within the listing limits of source.h and the media limits of
 * media.h, is -EBADMSG with a reason. Texts from the helper are escaped and cut before
 * they reach an evd_err. Extents are checked against the device by
 * evd_source_open_mapped (source.h), not here. */
#ifndef EVD_PROBE_MSG_H
#define EVD_PROBE_MSG_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"
#include "source.h"

#define EVD_PROBE_MSG_MAX (64u << 20)      /* bytes of one answer */
#define EVD_PROBE_MEDIA_MSG_MAX (1u << 20) /* bytes of a media answer */
#define EVD_PROBE_MSG_FILES_MAX 100000     /* files in a listing (source.h's default) */
#define EVD_PROBE_MSG_EXTENTS_MAX 1000000  /* extents in a listing, all files */
#define EVD_PROBE_MSG_PATH_MAX 4096        /* bytes of a path */
#define EVD_PROBE_MSG_TEXT_MAX 300         /* bytes of a helper's text kept */

/* Encoders, for the helper. Each returns a new object (json_decref), NULL on ENOMEM. */
json_t *evd_probe_msg_error(int code, const char *text);
json_t *evd_probe_msg_listing(const struct evd_source_list *list, unsigned partitions);
json_t *evd_probe_msg_media(json_t *media); /* media is taken */

/* The deleted recordings of a listing answer (the helper sets msg's "deleted" to what
 * evd_source_list_deleted gave; source_deleted.h), checked as hostile: into *ret a new
 * object {"entries": [{path, partition, size, mtime, crtime, atime}...], "more"} the
 * caller owns, or NULL when the answer has none. -EBADMSG with the reason. */
int evd_probe_msg_deleted_decode(const char *data, size_t len, json_t **ret, struct evd_err *err);

/* Decode a listing answer of len bytes. On success *ret (evd_source_list_free) holds the
 * files with their extents or errors, and *ret_parts the filesystem count. A helper's
 * own error comes back as its code (a negative errno; -EIO if it gave another number
 * or one of those probe.h keeps for a misbehaving helper) with its text in err; anything malformed
 * is -EBADMSG. */
int evd_probe_msg_listing_decode(const char *data, size_t len, struct evd_source_list **ret,
                                 unsigned *ret_parts, struct evd_err *err);

/* Decode a media answer: *ret (json_decref) is a new object with exactly the keys and
 * bounds of media.h. Errors as for the listing. */
int evd_probe_msg_media_decode(const char *data, size_t len, json_t **ret, struct evd_err *err);

#endif
