/* remote: reading the archive back (what evidock-replicate put in the bucket): the
 * sealed audit segments, checked on their own (chain, seals, signatures) and against
 * a station's log (`verify --remote`); the item records of one station or all
 * (`remote list`); and the station's whole state (`restore --from-remote`, restore.c).
 *
 * Keys (replicate.h, replicate_audit.c): PREFIX/objects/ab/cd/<sha256>,
 * PREFIX/items/<id>.json, PREFIX/audit/F-L.{jsonl,checkpoint,p7s}, PREFIX/certs/<fp>.pem.
 * Reading needs read-only credentials only. Everything returned belongs to the caller. */
#ifndef EVD_REMOTE_H
#define EVD_REMOTE_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "s3.h"

struct evd_s3;
struct evd_remote;

/* A reader for conf's [replication] bucket: the keys from credentials (a file readable
 * by its owner only, owned by root or the caller), or NULL for conf's own (see
 * evd_replicate_credentials); prefix NULL for conf's (default the station name). */
int evd_remote_open(const struct evd_conf *conf, const char *credentials, const char *prefix,
                    struct evd_remote **ret, struct evd_err *err);
void evd_remote_free(struct evd_remote *rm);

/* Borrowed: the client and the prefix in use. */
struct evd_s3 *evd_remote_s3(struct evd_remote *rm);
const char *evd_remote_prefix(const struct evd_remote *rm);

/* Borrowed: what the reads so far found wrong in the bucket, ["KEY: what", ...]: newer
 * versions over a locked one ("a newer unlocked version exists"), delete markers, a
 * version read that is under no retention. The readers never read "the latest": a key
 * written once (audit segments, certificates, objects) at its oldest version, the one
 * replication locked; an item record (written again, locked, when its labels or hold
 * change) at its newest version under retention. */
const json_t *evd_remote_warnings(const struct evd_remote *rm);

/* The version of key (written once: an object, a certificate) to read: its oldest, into
 * vid; -ENOENT when the bucket has none. */
int evd_remote_version(struct evd_remote *rm, const char *key, char vid[EVD_S3_VERSION_MAX],
                       struct evd_err *err);

/* The sealed audit log in the archive, checked: segments contiguous from entry 1, each
 * entry's hash and chain, each segment's checkpoint naming its last entry's hash and
 * its signature valid under trusted (borrowed; NULL: the certificate the archive keeps
 * for it, PREFIX/certs/<fp>.pem, whose fingerprint goes into the result). *ret gets
 * {entries: [...], lines: ["raw", ...], checkpoints: [{seq, head, time, station,
 * cert_sha256, signature}], sealed_through, segments, cert_sha256}. -EBADMSG naming
 * the first thing wrong. */
int evd_remote_audit(struct evd_remote *rm, X509 *trusted, json_t **ret, struct evd_err *err);

/* Compare local audit entries (an array in seq order, from entry 1) with the
 * archive's (from evd_remote_audit): *ret gets {ok, sealed_through, compared,
 * first_difference: null or {seq, why}}. */
int evd_remote_audit_compare(const json_t *remote, const json_t *local, json_t **ret);

/* The item records in the bucket: station NULL for every prefix, else that one; case_no
 * NULL for all, else items whose case is that. *ret: [{station, item...}]. */
int evd_remote_items(struct evd_remote *rm, const char *station, const char *case_no, json_t **ret,
                     struct evd_err *err);

/* ---- restore.c ---- */

struct evd_restore_opts {
        bool metadata_only; /* the catalogue and audit log only; objects later: sets
                             * META restore_pending (scrub.h) in the same write */
        bool objects_only;  /* later: the objects a restored catalogue names and the
                             * store lacks (after metadata_only, or to retry); clears
                             * restore_pending when nothing is missing any more */
};

/* Rebuild the station of conf (its state dir must hold no catalogue yet, or an empty
 * one) from the archive: the audit log (checked as evd_remote_audit does, trusting
 * trusted or the archive's certificate), the items from their records, and each
 * object downloaded and re-hashed into the store. *ret reports exactly what came back
 * and what is missing. */
int evd_restore(const struct evd_conf *conf, struct evd_remote *rm, X509 *trusted,
                const struct evd_restore_opts *opts, json_t **ret, struct evd_err *err);

#endif
