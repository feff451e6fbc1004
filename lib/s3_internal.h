/* s3_internal: what the S3 client's files (s3.c: encoding, requests, writes, the client;
 * s3_read.c: reads, locks, bucket checks, listing) share. For those files only. */
#ifndef EVD_S3_INTERNAL_H
#define EVD_S3_INTERNAL_H

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "s3.h"

#define REPLY_MAX (8u << 20)
#define URL_MAX (EVD_S3_KEY_MAX * 3 + 2048)
#define QUERY_MAX 4096
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define DIGEST_BLOCK (1u << 20)

struct evd_s3 {
        CURL *curl;
        char *endpoint, *bucket, *userpwd, *sigv4, *ca_file;
        uint64_t max_send_bps, part_size;
        long stall_seconds;
};

/* One request and what came back. */
struct xfer {
        const char *verb, *key, *query; /* key may be NULL (the bucket); query without '?' */
        const struct evd_s3_body *body; /* NULL: no body */
        struct evd_s3_body own_body;    /* a small body of the request's own (send_xml) */
        uint64_t sent;                  /* body bytes handed to curl */
        struct curl_slist *headers;
        /* response */
        long status;
        struct evd_buf reply;
        int out_fd;           /* a GET into a file, or -1 */
        EVP_MD_CTX *out_hash; /* hashes a GET's body when set */
        uint64_t out_size, out_max;
        int out_error;
        struct evd_s3_object obj; /* from the headers */
        bool have_length;
};

#define XFER(v, k, q)                                                                              \
        {                                                                                          \
                .verb = (v), .key = (k), .query = (q), .out_fd = -1                                \
        }

/* The query string of n_pairs key/value pairs kv (a NULL value drops its pair), keys
 * sorted as SigV4 wants: 0, or -ENAMETOOLONG. */
int evd_s3__build_query(char *out, size_t n, const char *const *kv, size_t n_pairs);

/* Run x against s3: 0 for a 2xx reply, else -errno with the S3 error in err. */
int evd_s3__perform(struct evd_s3 *s3, struct xfer *x, struct evd_err *err);

/* Send xml (borrowed) as the body of verb on key?query, with its digests. */
int evd_s3__send_xml(struct evd_s3 *s3, const char *verb, const char *key, const char *query,
                     const char *xml, struct xfer *x, struct evd_err *err);

/* Free what x holds (its headers and reply). */
void evd_s3__xfer_done(struct xfer *x);

#endif
