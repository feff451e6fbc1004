/* store: write-once, content-addressed objects under STATE_DIR.
 *
 *   objects/ab/cd/abcd...   the sha256 hex of the content; mode 0444; immutable flag
 *                           ("immutable") set by this process when it holds
 *                           CAP_LINUX_IMMUTABLE, else by evidock-seal (seal.h), else only
 *                           the mode ("permissions")
 *   tmp/                    copies in flight, on the same filesystem; emptied at open;
 *                           anything else there is a leftover (verify, `clean`)
 *   quarantine/             objects that failed their hash, moved aside when a fresh
 *                           verified copy of the same content arrived, and stray objects
 *                           moved by `clean` (never deleted)
 *
 * An object appears in objects/ only once complete, durable and verified. Objects are
 * never modified; evd_store_purge is the only way one leaves. The interface is kept
 * narrow (put a verified file, open, verify, purge) so that a remote tier can sit
 * behind it later. All calls are thread-safe. */
#ifndef EVD_STORE_H
#define EVD_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "util.h"

#define EVD_STORE_TMPNAME_MAX 32
#define EVD_STORE_PATH_MAX 768 /* a path in the store, quarantine/ included */

struct evd_store;

/* Open (creating if need be) the store under state_dir, empty tmp/ and find out
 * whether the immutable flag can be used. *ret_store is set only on success. */
int evd_store_open(const char *state_dir, struct evd_store **ret_store, struct evd_err *err);

/* Close; accepts NULL. */
void evd_store_free(struct evd_store *store);

/* True when objects get FS_IMMUTABLE_FL, false when only mode 0444 protects them. */
bool evd_store_immutable(const struct evd_store *store);

/* Free bytes on the store's filesystem (for unprivileged writers). */
int evd_store_free_bytes(const struct evd_store *store, uint64_t *ret_bytes);

/* Create a new empty file in tmp/, opened read-write. Its name (for publish/discard)
 * goes to ret_name (EVD_STORE_TMPNAME_MAX bytes). */
int evd_store_tmp_create(struct evd_store *store, int *ret_fd, char *ret_name);

/* Remove a tmp/ file that will not be published. */
void evd_store_tmp_discard(struct evd_store *store, const char *name);

/* Move a complete, synced and verified tmp/ file into objects/ under sha256: mode
 * 0444, directory synced, immutable flag set. When the object exists already and
 * still hashes right, the tmp file is removed and *ret_existed is true (the existing
 * object is not touched). When it exists but fails its hash: with ret_quarantined
 * (EVD_STORE_PATH_MAX bytes) the damaged object is moved to quarantine/ (its new path goes
 * there) and the fresh copy takes its place; without, -EBADMSG. ret_quarantined gets ""
 * when nothing was moved. Either way on success the object is durable. */
int evd_store_publish(struct evd_store *store, const char *tmp_name,
                      const uint8_t sha256[EVD_SHA256_LEN], bool *ret_existed,
                      char *ret_quarantined, struct evd_err *err);

/* The object's path into buf. */
int evd_store_object_path(const struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN],
                          char *buf, size_t n);

/* Open the object read-only; -ENOENT when it is not there. */
int evd_store_open_object(const struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN],
                          int *ret_fd);

/* Re-read the object from disk and compare its hash and size: 0 when it matches,
 * -ENOENT when missing, -EBADMSG when the content differs (err says how). */
int evd_store_verify_object(const struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN],
                            uint64_t size, struct evd_err *err);

/* Delete an object at the end of its retention: clear the immutable flag, unlink,
 * sync the directory. The only way an object ever leaves the store; callers must
 * have committed (and audited) the purge first. -ENOENT when it is gone already. */
int evd_store_purge(struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN],
                    struct evd_err *err);

/* The per-content lock: held by an ingest from finding (or publishing) the object
 * until its item is committed, and by a purge from its commit until the unlink, so that
 * the two never interleave on the same bytes. One content at a time per thread. */
void evd_store_lock(struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN]);
void evd_store_unlock(struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN]);

/* Call each(sha256, ctx) for every file in objects/ (a name that is not a sha256 as all
 * zeros); each returns 0 to go on, else that value is returned. */
int evd_store_each_object(const struct evd_store *store,
                          int (*each)(const uint8_t sha256[EVD_SHA256_LEN], void *ctx), void *ctx);

/* Call each(name, size, mtime, ctx) for every entry in tmp/ that no copy in flight owns
 * (leftovers: tmp/ is emptied at open, so anything else there was left behind); each
 * returns 0 to go on, else that value is returned. */
int evd_store_each_tmp_leftover(struct evd_store *store,
                                int (*each)(const char *name, uint64_t size, int64_t mtime,
                                            void *ctx),
                                void *ctx);

/* Remove a tmp/ leftover by name: -EBUSY when a copy in flight owns it, -EINVAL for a
 * name that is not a plain file name. */
int evd_store_tmp_remove_leftover(struct evd_store *store, const char *name);

/* Move an object to quarantine/ (never deleted): the immutable flag lifted, renamed, set
 * again there; its new path into ret_path (EVD_STORE_PATH_MAX bytes). For stray objects
 * (`clean`): the caller holds the content's lock and has checked no item holds it. */
int evd_store_quarantine(struct evd_store *store, const uint8_t sha256[EVD_SHA256_LEN],
                         char *ret_path, struct evd_err *err);

#endif
