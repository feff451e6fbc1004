/* s3: a small S3 client for an Object Lock archive (libcurl with its AWS SigV4 signing,
 * OpenSSL for MD5 and SHA-256).
 *
 * Path-style requests to one bucket at one endpoint: https with certificate
 * verification (ca_file for a private CA), or http to a loopback address only. Every
 * request with a body carries Content-MD5 and x-amz-content-sha256 (the body's SHA-256,
 * which the caller may already know), so the server refuses a body corrupted in
 * transit. Bodies above part_size go up as multipart uploads with Content-MD5 per part.
 * When a lock is asked for, evd_s3_put returns only after the retention and legal hold
 * were set and read back (Ceph 16 ignores lock headers on multipart uploads).
 *
 * Sub-resources are written with an empty value ("?retention="), query keys sorted and
 * object keys percent-encoded per path segment: curl 7.88 signs nothing else correctly.
 * Failures return -errno with err saying "S3 VERB key: HTTP status Code: message".
 *
 * One struct evd_s3 is one connection: use it from one thread at a time. */
#ifndef EVD_S3_H
#define EVD_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "util.h"

#define EVD_S3_KEY_MAX 1024
#define EVD_S3_VERSION_MAX 256
#define EVD_S3_ETAG_MAX 128
#define EVD_S3_PART_MIN (5ull << 20)
#define EVD_S3_PART_DEFAULT (64ull << 20)
/* The longest retain-until to ask for ("permanent", with a legal hold): Ceph 16 keeps
 * times in 32 unsigned bits and wraps anything later, 2106-02-07T06:28:15Z. */
#define EVD_S3_RETAIN_MAX 4294967295LL

struct evd_s3_config {
        const char *endpoint;   /* "https://host[:port]", or "http://127.0.0.1[:port]" */
        const char *bucket;     /* path-style: endpoint/bucket/key */
        const char *region;     /* signing region ("default" for a Ceph default zonegroup) */
        const char *access_key; /* the credentials, copied by evd_s3_new */
        const char *secret_key;
        const char *ca_file;   /* NULL or "": the system's CAs */
        uint64_t max_send_bps; /* 0: no cap */
        uint64_t part_size;    /* multipart above this (0: EVD_S3_PART_DEFAULT) */
        int stall_seconds;     /* give up when nothing moves this long (0: 60) */
};

enum evd_s3_mode {
        EVD_S3_MODE_NONE,
        EVD_S3_MODE_GOVERNANCE,
        EVD_S3_MODE_COMPLIANCE,
};

struct evd_s3_lock {
        enum evd_s3_mode mode;
        int64_t retain_until; /* seconds since the epoch, with a mode */
        bool legal_hold;
};

/* What the server said of an object version. */
struct evd_s3_object {
        uint64_t size;
        char etag[EVD_S3_ETAG_MAX]; /* without its quotes */
        char version_id[EVD_S3_VERSION_MAX];
        struct evd_s3_lock lock; /* from HEAD only */
};

/* A body to send: bytes in memory (fd < 0), or size bytes of fd from offset (read with
 * pread, the fd's offset unused). sha256, when set, is what the body must hash to:
 * a body that does not (a local object gone bad) is refused with -EIO before any byte
 * is sent. All borrowed. */
struct evd_s3_body {
        int fd;
        uint64_t offset, size;
        const void *data;
        const uint8_t *sha256;
        const char *content_type; /* NULL: application/octet-stream */
};

struct evd_s3;

/* Check an endpoint's form: https, or http only to 127.0.0.0/8, ::1 or localhost; no
 * path. -EINVAL with the reason. */
int evd_s3_endpoint_check(const char *endpoint, struct evd_err *err);

/* A client for cfg (strings copied). */
int evd_s3_new(const struct evd_s3_config *cfg, struct evd_s3 **ret, struct evd_err *err);

/* Free s3 (accepts NULL); the secret is wiped. */
void evd_s3_free(struct evd_s3 *s3);

/* Store body at key, with lock (NULL: none). ret (may be NULL) gets version and ETag. */
int evd_s3_put(struct evd_s3 *s3, const char *key, const struct evd_s3_body *body,
               const struct evd_s3_lock *lock, struct evd_s3_object *ret, struct evd_err *err);

/* Read key (version NULL: the latest) into fd (or only hash it when fd < 0): its SHA-256
 * and size. At most max_size bytes (0: no limit), -EFBIG past it. */
int evd_s3_get(struct evd_s3 *s3, const char *key, const char *version, int fd, uint64_t max_size,
               uint8_t ret_sha256[EVD_SHA256_LEN], uint64_t *ret_size, struct evd_err *err);

/* Read key into memory: *ret_data (caller frees; NUL-terminated) of at most max bytes. */
int evd_s3_get_mem(struct evd_s3 *s3, const char *key, const char *version, size_t max,
                   char **ret_data, size_t *ret_len, struct evd_err *err);

/* HEAD: size, ETag, version and lock of key (version NULL: the latest); -ENOENT absent. */
int evd_s3_head(struct evd_s3 *s3, const char *key, const char *version, struct evd_s3_object *ret,
                struct evd_err *err);

/* Delete one version of key (version NULL: add a delete marker). */
int evd_s3_delete(struct evd_s3 *s3, const char *key, const char *version, struct evd_err *err);

/* Retention and legal hold of one version. Setting a retention that shortens one
 * under COMPLIANCE is refused by the server (-EACCES). */
int evd_s3_set_retention(struct evd_s3 *s3, const char *key, const char *version,
                         enum evd_s3_mode mode, int64_t retain_until, struct evd_err *err);
int evd_s3_get_retention(struct evd_s3 *s3, const char *key, const char *version,
                         enum evd_s3_mode *ret_mode, int64_t *ret_until, struct evd_err *err);
int evd_s3_set_legal_hold(struct evd_s3 *s3, const char *key, const char *version, bool on,
                          struct evd_err *err);
int evd_s3_get_legal_hold(struct evd_s3 *s3, const char *key, const char *version, bool *ret_on,
                          struct evd_err *err);

/* Bucket checks: versioning enabled; Object Lock enabled. */
int evd_s3_bucket_versioning(struct evd_s3 *s3, bool *ret_enabled, struct evd_err *err);
int evd_s3_bucket_object_lock(struct evd_s3 *s3, bool *ret_enabled, struct evd_err *err);

/* One entry of a listing (borrowed for the callback's duration). */
struct evd_s3_entry {
        const char *key;
        uint64_t size;
        const char *etag;
};

/* ListObjectsV2 under prefix, following continuation tokens: each(ud, entry) for every
 * key, in the server's order; a non-zero return from each stops and is returned. */
int evd_s3_list(struct evd_s3 *s3, const char *prefix,
                int (*each)(void *ud, const struct evd_s3_entry *entry), void *ud,
                struct evd_err *err);

/* One version of a key, or a delete marker (borrowed for the callback's duration). */
struct evd_s3_version {
        const char *key;
        const char *version_id;
        const char *etag; /* without its quotes; "" for a delete marker */
        uint64_t size;
        int64_t modified_ms; /* LastModified, milliseconds since the epoch */
        bool latest;         /* IsLatest */
        bool delete_marker;
};

/* ListObjectVersions under prefix (GET ?versions=), following key-marker and
 * version-id-marker: each(ud, version) for every version of every key (the server lists
 * a key's versions newest first), then for the page's delete markers; a non-zero return
 * from each stops and is returned. */
int evd_s3_list_versions(struct evd_s3 *s3, const char *prefix,
                         int (*each)(void *ud, const struct evd_s3_version *v), void *ud,
                         struct evd_err *err);

/* The ETag the server gives body when this client uploads it: its MD5, or for a
 * multipart upload the MD5 of the parts' MD5s and "-N". Reads the body once. */
int evd_s3_etag_of(struct evd_s3 *s3, const struct evd_s3_body *body, char ret[EVD_S3_ETAG_MAX]);

/* Pure parts, for tests. Percent-encode key per path segment ('/' kept; RFC 3986
 * unreserved kept) into out (n bytes); -ENAMETOOLONG, or -EINVAL for an empty key, an
 * empty segment or a "." / ".." segment. */
int evd_s3_encode_key(const char *key, char *out, size_t n);

/* Percent-encode a query value (everything but unreserved). */
int evd_s3_encode_query(const char *value, char *out, size_t n);

/* One page of a ListVersionsResult (xml, len bytes, untrusted) to each, as
 * evd_s3_list_versions does: 0, each's non-zero return, or -EPROTO for an entry not
 * understood. */
int evd_s3_versions_page(const char *xml, size_t len,
                         int (*each)(void *ud, const struct evd_s3_version *v), void *ud);

/* An S3 time ("2026-03-01T10:00:00.123Z", the fraction optional) in milliseconds since
 * the epoch; -EINVAL otherwise. */
int evd_s3_time_parse_ms(const char *s, int64_t *ret);

/* The errno for an HTTP status and S3 error code (code may be ""). */
int evd_s3_errno(long status, const char *code);

/* Mode names: "COMPLIANCE", "GOVERNANCE", "" for none; parse returns -EINVAL. */
const char *evd_s3_mode_name(enum evd_s3_mode mode);
int evd_s3_mode_parse(const char *s, enum evd_s3_mode *ret);

#endif
