/* replicate: what evidock-replicate does, as a library: copies every item's object and
 * record into an S3 Object Lock bucket under COMPLIANCE, keeps their retention and legal
 * hold in step with the catalogue, and reports each confirmed copy to evidockd.
 *
 * It reads the catalogue read-only (another process: LMDB allows it) and the objects;
 * it writes nothing local. Keys: PREFIX/objects/ab/cd/<sha256> (retain-until = the
 * item's retain_until; permanent items, and held or evidence items, also get a legal
 * hold; permanent ones the longest retain-until the server keeps, EVD_S3_RETAIN_MAX) and
 * PREFIX/items/<id>.json (a new version at each change). The queue is the catalogue:
 * items whose replication record (cmd_replication.c) is not confirmed or is behind the
 * item. Items with the same bytes share one object: it keeps the longest retain-until
 * of them all and a legal hold while any of them asks for one. Retention is only ever
 * extended (PutObjectRetention); a hold is cleared only when the catalogue says so,
 * and the catalogue changes with its audit entry in one transaction, so a release
 * reaches the archive only after it is audited. A pass works on [replication] parallel
 * items at once, each over a connection of its own. Failures back off per item with jitter; a
 * failure to reach the endpoint ends the pass. The station never waits for any of this. */
#ifndef EVD_REPLICATE_H
#define EVD_REPLICATE_H

#include <stdbool.h>
#include <jansson.h>
#include <stddef.h>

#include "conf.h"
#include "err.h"

#define EVD_REPLICATE_SECRET_MAX 256

/* The S3 keys: from conf's [replication] credentials file, or when none is set from
 * $CREDENTIALS_DIRECTORY/s3 (systemd LoadCredential=). Lines "access_key = ..." and
 * "secret_key = ...". A configured file must be a regular file owned by root (or
 * by the caller) and readable by nobody but its owner; otherwise -EPERM with the reason. */
int evd_replicate_credentials(const struct evd_conf *conf, char *ret_access, char *ret_secret,
                              struct evd_err *err);

struct evd_replicate;

/* A replicator for conf (copied) with these keys (copied). */
int evd_replicate_new(const struct evd_conf *conf, const char *access_key, const char *secret_key,
                      struct evd_replicate **ret, struct evd_err *err);
void evd_replicate_free(struct evd_replicate *r);

/* Check that the bucket can keep the promise: versioning and Object Lock enabled, and
 * a test object under COMPLIANCE (kept a day) cannot be deleted. -EPERM with a clear
 * reason when it cannot; other -errno when the endpoint cannot be asked. */
int evd_replicate_check_bucket(struct evd_replicate *r, struct evd_err *err);

/* Tell evidockd what the check of the bucket found: refused (the reason), or NULL
 * when it was accepted. evidockd keeps it, audits it when it changes and raises an
 * alarm while the bucket is refused. */
int evd_replicate_report_bucket(struct evd_replicate *r, const char *refused, struct evd_err *err);

/* One pass over the catalogue: every item that needs it is copied or brought in step,
 * and reported. *ret_done items were confirmed, *ret_waiting still need work. A
 * failure to reach the endpoint or evidockd ends the pass with its -errno. */
int evd_replicate_pass(struct evd_replicate *r, size_t *ret_done, size_t *ret_waiting,
                       struct evd_err *err);

struct evd_s3;
struct evd_catalog;

/* The audit log's sealed segments (replicate_audit.c): upload those after *sealed
 * (UINT64_MAX: not known yet, the bucket is listed first), at most a few per call;
 * *sealed follows what is in the archive. */
int evd_replicate_audit(struct evd_s3 *s3, struct evd_catalog *catalog, const char *prefix,
                        const struct evd_period *retention, uint64_t *sealed, size_t *ret_uploaded,
                        struct evd_err *err);

/* A segment's file name "F-L.EXT" (after PREFIX/audit/): 0 with its numbers and *ext
 * pointing at EXT (no dot), -EINVAL for any other name. */
int evd_replicate_segment_name(const char *name, uint64_t *ret_first, uint64_t *ret_last,
                               const char **ret_ext);

/* The last entry sealed in the archive under prefix (0: none). */
int evd_replicate_audit_sealed(struct evd_s3 *s3, const char *prefix, uint64_t *ret_last,
                               struct evd_err *err);

/* Reconcile (replicate_reconcile.c): compare the bucket's objects and records under
 * prefix with the catalogue's confirmed items, and re-hash `sample` objects read in
 * full. *ret: {objects, checked, sampled, extra: [key...], problems: [{item, why}]}. */
int evd_replicate_reconcile(struct evd_s3 *s3, struct evd_catalog *catalog, const char *prefix,
                            size_t sample, json_t **ret, struct evd_err *err);

/* Whether the catalogue changed since the last pass, or a retry is due. */
bool evd_replicate_has_work(struct evd_replicate *r);

#endif
