/* s3: a small S3 client for an Object Lock archive (see s3.h). */
#include "s3.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "s3_internal.h"
#include "s3xml.h"

/* ---------------------------------------------------------------- pure parts */

static bool unreserved(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_' || c == '~';
}

static int encode(const char *s, bool keep_slash, char *out, size_t n)
{
        static const char hexd[] = "0123456789ABCDEF";
        size_t o = 0;

        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (unreserved(*p) || (keep_slash && *p == '/')) {
                        if (n - o <= 1)
                                return -ENAMETOOLONG;
                        out[o++] = (char)*p;
                } else {
                        if (n - o <= 3)
                                return -ENAMETOOLONG;
                        out[o++] = '%';
                        out[o++] = hexd[*p >> 4];
                        out[o++] = hexd[*p & 15];
                }
        }
        if (n == 0)
                return -ENAMETOOLONG;
        out[o] = '\0';
        return 0;
}

int evd_s3_encode_key(const char *key, char *out, size_t n)
{
        size_t len = strlen(key);

        if (len == 0 || len > EVD_S3_KEY_MAX)
                return len ? -ENAMETOOLONG : -EINVAL;
        for (const char *seg = key; seg;) {
                const char *slash = strchr(seg, '/');
                size_t l = slash ? (size_t)(slash - seg) : strlen(seg);

                if (l == 0 || (l == 1 && seg[0] == '.') || (l == 2 && !memcmp(seg, "..", 2)))
                        return -EINVAL;
                seg = slash ? slash + 1 : NULL;
        }
        return encode(key, true, out, n);
}

int evd_s3_encode_query(const char *value, char *out, size_t n)
{
        return encode(value, false, out, n);
}

int evd_s3_errno(long status, const char *code)
{
        static const char *const digest[] = { "BadDigest", "InvalidDigest",
                                              "XAmzContentSHA256Mismatch" };

        for (size_t i = 0; i < EVD_ARRAY_SIZE(digest); i++)
                if (strcmp(code, digest[i]) == 0)
                        return -EBADMSG;
        if (strcmp(code, "SlowDown") == 0 || status >= 500)
                return -EAGAIN;
        switch (status) {
        case 401:
        case 403:
                return -EACCES;
        case 404:
                return -ENOENT;
        case 409:
                return -EBUSY;
        case 411:
        case 413:
                return -EFBIG;
        default:
                return status >= 400 ? -EINVAL : -EIO;
        }
}

const char *evd_s3_mode_name(enum evd_s3_mode mode)
{
        switch (mode) {
        case EVD_S3_MODE_COMPLIANCE:
                return "COMPLIANCE";
        case EVD_S3_MODE_GOVERNANCE:
                return "GOVERNANCE";
        default:
                return "";
        }
}

int evd_s3_mode_parse(const char *s, enum evd_s3_mode *ret)
{
        if (strcmp(s, "COMPLIANCE") == 0)
                *ret = EVD_S3_MODE_COMPLIANCE;
        else if (strcmp(s, "GOVERNANCE") == 0)
                *ret = EVD_S3_MODE_GOVERNANCE;
        else if (!*s)
                *ret = EVD_S3_MODE_NONE;
        else
                return -EINVAL;
        return 0;
}

/* "k=v&k=v" from pairs (key, value; value "" for a sub-resource, NULL to leave the
 * pair out), keys sorted as SigV4 wants them, values percent-encoded. */
int evd_s3__build_query(char *out, size_t n, const char *const *kv, size_t n_pairs)
{
        size_t order[8], m = 0, o = 0;

        for (size_t i = 0; i < n_pairs && m < EVD_ARRAY_SIZE(order); i++)
                if (kv[2 * i + 1])
                        order[m++] = i;
        for (size_t i = 1; i < m; i++)
                for (size_t j = i; j > 0 && strcmp(kv[2 * order[j - 1]], kv[2 * order[j]]) > 0;
                     j--) {
                        size_t t = order[j];

                        order[j] = order[j - 1];
                        order[j - 1] = t;
                }
        out[0] = '\0';
        for (size_t i = 0; i < m; i++) {
                const char *k = kv[2 * order[i]];
                int r;

                if (evd_snprintf(out + o, n - o, "%s%s=", i ? "&" : "", k))
                        return -ENAMETOOLONG;
                o += strlen(out + o);
                r = evd_s3_encode_query(kv[2 * order[i] + 1], out + o, n - o);
                if (r < 0)
                        return r;
                o += strlen(out + o);
        }
        return 0;
}

int evd_s3_endpoint_check(const char *endpoint, struct evd_err *err)
{
        bool https = strncmp(endpoint, "https://", 8) == 0;
        const char *host = endpoint + (https ? 8 : 7);
        char name[256];
        size_t l;

        if (!https && strncmp(endpoint, "http://", 7) != 0)
                return evd_err_set(err, -EINVAL, "endpoint %s: not an https:// URL", endpoint);
        if (*host == '[') {
                const char *close = strchr(host, ']');

                if (!close)
                        return evd_err_set(err, -EINVAL, "endpoint %s: bad IPv6 address", endpoint);
                l = (size_t)(close - host) + 1;
        } else {
                l = strcspn(host, ":/?#@");
        }
        if (l == 0 || l >= sizeof(name))
                return evd_err_set(err, -EINVAL, "endpoint %s: no host", endpoint);
        memcpy(name, host, l);
        name[l] = '\0';
        const char *rest = host + l;

        if (*rest == ':') {
                rest++;
                if (!(*rest >= '0' && *rest <= '9'))
                        return evd_err_set(err, -EINVAL, "endpoint %s: bad port", endpoint);
                while (*rest >= '0' && *rest <= '9')
                        rest++;
        }
        if (*rest && strcmp(rest, "/") != 0)
                return evd_err_set(err, -EINVAL,
                                   "endpoint %s: only scheme, host and port (the bucket is "
                                   "set apart)",
                                   endpoint);
        if (!https) {
                struct in_addr a4;
                bool loop = strcmp(name, "localhost") == 0 || strcmp(name, "[::1]") == 0 ||
                            (inet_pton(AF_INET, name, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127);

                if (!loop)
                        return evd_err_set(err, -EINVAL,
                                           "endpoint %s: plain http is allowed to a loopback "
                                           "address only; use https",
                                           endpoint);
        }
        return 0;
}

/* ---------------------------------------------------------------- callbacks */

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
        struct xfer *x = ud;
        size_t len = size * n, vl;
        const char *colon = memchr(line, ':', len), *v;
        char value[EVD_S3_VERSION_MAX];

        if (len > 5 && memcmp(line, "HTTP/", 5) == 0) { /* a new block (after a 100) */
                const char *sp = memchr(line, ' ', len);

                x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
                return len;
        }
        if (!colon)
                return len;
        v = colon + 1;
        while (v < line + len && (*v == ' ' || *v == '\t'))
                v++;
        vl = (size_t)(line + len - v);
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
        if (vl >= sizeof(value))
                return len;
        memcpy(value, v, vl);
        value[vl] = '\0';
#define HDR(name) ((size_t)(colon - line) == strlen(name) && !strncasecmp(line, name, strlen(name)))
        if (HDR("etag")) {
                char *e = value + (value[0] == '"');

                e[strcspn(e, "\"")] = '\0';
                (void)evd_snprintf(x->obj.etag, sizeof(x->obj.etag), "%s", e);
        } else if (HDR("x-amz-version-id")) {
                (void)evd_snprintf(x->obj.version_id, sizeof(x->obj.version_id), "%s", value);
        } else if (HDR("content-length")) {
                x->obj.size = strtoull(value, NULL, 10);
                x->have_length = true;
        } else if (HDR("x-amz-object-lock-mode")) {
                (void)evd_s3_mode_parse(value, &x->obj.lock.mode);
        } else if (HDR("x-amz-object-lock-retain-until-date")) {
                (void)evd_time_parse(value, &x->obj.lock.retain_until);
        } else if (HDR("x-amz-object-lock-legal-hold")) {
                x->obj.lock.legal_hold = strcasecmp(value, "ON") == 0;
        }
#undef HDR
        return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
        struct xfer *x = ud;
        size_t len = size * n;

        if (x->status >= 300 || (x->out_fd < 0 && !x->out_hash))
                return evd_buf_add(&x->reply, data, len) ? 0 : len;
        x->out_size += len;
        if (x->out_max && x->out_size > x->out_max) {
                x->out_error = -EFBIG;
                return 0;
        }
        if (x->out_hash && EVP_DigestUpdate(x->out_hash, data, len) != 1) {
                x->out_error = -ENOMEM;
                return 0;
        }
        if (x->out_fd >= 0) {
                int r = evd_write_full(x->out_fd, data, len);

                if (r < 0) {
                        x->out_error = r;
                        return 0;
                }
        }
        return len;
}

static ssize_t body_read(const struct evd_s3_body *b, void *buf, size_t len, uint64_t at)
{
        if (at >= b->size)
                return 0;
        if (len > b->size - at)
                len = (size_t)(b->size - at);
        if (b->fd < 0) {
                memcpy(buf, (const char *)b->data + at, len);
                return (ssize_t)len;
        }
        ssize_t r = evd_pread_full(b->fd, buf, len, (off_t)(b->offset + at));

        return r == (ssize_t)len ? r : (r < 0 ? r : -EIO);
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
        struct xfer *x = ud;
        ssize_t r = body_read(x->body, buf, size * n, x->sent);

        if (r < 0)
                return CURL_READFUNC_ABORT;
        x->sent += (uint64_t)r;
        return (size_t)r;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
        struct xfer *x = ud;

        if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->body->size)
                return CURL_SEEKFUNC_FAIL;
        x->sent = (uint64_t)offset;
        return CURL_SEEKFUNC_OK;
}

/* ---------------------------------------------------------------- requests */

static int curl_errno(CURLcode c)
{
        switch (c) {
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
                return -EHOSTUNREACH;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
                return -EPROTO;
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
                return -ECONNRESET;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                return -EIO;
        }
}

static int add_header(struct xfer *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_header(struct xfer *x, const char *fmt, ...)
{
        char line[512];
        va_list ap;
        struct curl_slist *l;

        va_start(ap, fmt);
        int k = vsnprintf(line, sizeof(line), fmt, ap);

        va_end(ap);
        if (k < 0 || (size_t)k >= sizeof(line))
                return -ENAMETOOLONG;
        l = curl_slist_append(x->headers, line);
        if (!l)
                return -ENOMEM;
        x->headers = l;
        return 0;
}

static void setup(struct evd_s3 *s3, struct xfer *x, const char *url, char *errbuf)
{
        CURL *c = s3->curl;

        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
        if (s3->ca_file)
                curl_easy_setopt(c, CURLOPT_CAINFO, s3->ca_file);
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
        curl_easy_setopt(c, CURLOPT_USERPWD, s3->userpwd);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, s3->stall_seconds);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
        if (s3->max_send_bps)
                curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)s3->max_send_bps);
        if (strcmp(x->verb, "HEAD") == 0) {
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        } else if (strcmp(x->verb, "GET") != 0) {
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, x->verb);
        }
        if (x->body) {
                curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(c, CURLOPT_READDATA, x);
                curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
                curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
                curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->body->size);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->headers);
}

/* The server's error reply into err; returns the errno. */
static int reply_error(struct xfer *x, struct evd_err *err)
{
        char code[128] = "", msg[256] = "";
        const char *data = x->reply.data ? x->reply.data : "";

        (void)evd_s3xml_text(data, x->reply.len, "Code", code, sizeof(code));
        (void)evd_s3xml_text(data, x->reply.len, "Message", msg, sizeof(msg));
        return evd_err_set(err, evd_s3_errno(x->status, code), "S3 %s %s: HTTP %ld %s%s%s", x->verb,
                           x->key ? x->key : "(bucket)", x->status,
                           code[0] ? code : "(no error code)", msg[0] ? ": " : "", msg);
}

/* Run x against the bucket (and key); 0 for a 2xx reply. The caller frees x->reply and
 * x->headers (xfer_done). */
int evd_s3__perform(struct evd_s3 *s3, struct xfer *x, struct evd_err *err)
{
        char url[URL_MAX], ekey[EVD_S3_KEY_MAX * 3 + 1] = "", errbuf[CURL_ERROR_SIZE] = "";
        CURLcode c;
        int r;

        if (x->key && (r = evd_s3_encode_key(x->key, ekey, sizeof(ekey))) < 0)
                return evd_err_set(err, r, "S3 key %.200s: not a valid key", x->key);
        if (evd_snprintf(url, sizeof(url), "%s/%s%s%s%s%s", s3->endpoint, s3->bucket,
                         x->key ? "/" : "", ekey, x->query && *x->query ? "?" : "",
                         x->query ? x->query : ""))
                return evd_err_set(err, -ENAMETOOLONG, "S3 URL too long");
        if (!x->body || !x->body->sha256) {
                if ((r = add_header(x, "x-amz-content-sha256: %s", EMPTY_SHA256)) < 0)
                        return evd_err_set(err, r, "S3: no memory for headers");
        }
        x->reply.max = REPLY_MAX;
        x->status = 0;
        x->sent = 0;
        setup(s3, x, url, errbuf);
        c = curl_easy_perform(s3->curl);
        if (x->out_error)
                return evd_err_set(err, x->out_error, "S3 %s %s: %s", x->verb,
                                   x->key ? x->key : "(bucket)", strerror(-x->out_error));
        if (c != CURLE_OK)
                return evd_err_set(err, curl_errno(c), "S3 %s %s: %s", x->verb,
                                   x->key ? x->key : "(bucket)",
                                   errbuf[0] ? errbuf : curl_easy_strerror(c));
        curl_easy_getinfo(s3->curl, CURLINFO_RESPONSE_CODE, &x->status);
        if (x->status < 200 || x->status >= 300)
                return reply_error(x, err);
        /* CompleteMultipartUpload may say 200 and carry an error */
        if (strcmp(x->verb, "POST") == 0 && x->reply.len) {
                size_t pos = 0, il;
                const char *in;

                if (evd_s3xml_next(x->reply.data, x->reply.len, &pos, "Error", &in, &il))
                        return reply_error(x, err);
        }
        return 0;
}

void evd_s3__xfer_done(struct xfer *x)
{
        curl_slist_free_all(x->headers);
        x->headers = NULL;
        evd_buf_free(&x->reply);
}

/* MD5 and SHA-256 of bytes [from, from + len) of body. */
static int digest(const struct evd_s3_body *b, uint64_t from, uint64_t len, uint8_t md5[16],
                  uint8_t sha[EVD_SHA256_LEN], EVP_MD_CTX *whole)
{
        EVP_MD_CTX *m = EVP_MD_CTX_new(), *s = EVP_MD_CTX_new();
        uint8_t *buf = malloc(DIGEST_BLOCK);
        int r = -ENOMEM;

        if (!m || !s || !buf || EVP_DigestInit_ex(m, EVP_md5(), NULL) != 1 ||
            EVP_DigestInit_ex(s, EVP_sha256(), NULL) != 1)
                goto cleanup;
        for (uint64_t at = from; at < from + len;) {
                size_t want =
                        from + len - at > DIGEST_BLOCK ? DIGEST_BLOCK : (size_t)(from + len - at);
                ssize_t k = body_read(b, buf, want, at);

                if (k <= 0) {
                        r = k < 0 ? (int)k : -EIO;
                        goto cleanup;
                }
                if (EVP_DigestUpdate(m, buf, (size_t)k) != 1 ||
                    EVP_DigestUpdate(s, buf, (size_t)k) != 1 ||
                    (whole && EVP_DigestUpdate(whole, buf, (size_t)k) != 1))
                        goto cleanup;
                at += (uint64_t)k;
        }
        r = EVP_DigestFinal_ex(m, md5, NULL) == 1 && EVP_DigestFinal_ex(s, sha, NULL) == 1
                    ? 0
                    : -ENOMEM;
cleanup:
        free(buf);
        EVP_MD_CTX_free(m);
        EVP_MD_CTX_free(s);
        return r;
}

/* Content-MD5 and x-amz-content-sha256 headers for a body with these digests. */
static int digest_headers(struct xfer *x, const uint8_t md5[16], const uint8_t sha[32])
{
        char hex[EVD_SHA256_HEX], *b64 = evd_b64_encode(md5, 16);
        int r;

        if (!b64)
                return -ENOMEM;
        evd_hex(sha, EVD_SHA256_LEN, hex);
        r = add_header(x, "Content-MD5: %s", b64);
        if (r == 0)
                r = add_header(x, "x-amz-content-sha256: %s", hex);
        free(b64);
        return r;
}

/* Send a small XML document as the body of verb key?query. */
int evd_s3__send_xml(struct evd_s3 *s3, const char *verb, const char *key, const char *query,
                     const char *xml, struct xfer *x, struct evd_err *err)
{
        uint8_t md5[16], sha[EVD_SHA256_LEN];
        int r;

        *x = (struct xfer)XFER(verb, key, query);
        x->own_body =
                (struct evd_s3_body){ .fd = -1, .data = xml, .size = strlen(xml), .sha256 = sha };
        x->body = &x->own_body;
        r = digest(x->body, 0, x->body->size, md5, sha, NULL);
        if (r == 0)
                r = digest_headers(x, md5, sha);
        if (r == 0)
                r = add_header(x, "Content-Type: application/xml");
        if (r < 0)
                return evd_err_set(err, r, "S3 %s: %s", verb, strerror(-r));
        r = evd_s3__perform(s3, x, err);
        x->body = NULL;
        return r;
}

/* ---------------------------------------------------------------- objects */

static int lock_headers(struct xfer *x, const struct evd_s3_lock *lock)
{
        char until[EVD_TIME_STR];
        int r = 0;

        if (!lock)
                return 0;
        if (lock->mode != EVD_S3_MODE_NONE) {
                evd_time_format(lock->retain_until, until);
                r = add_header(x, "x-amz-object-lock-mode: %s", evd_s3_mode_name(lock->mode));
                if (r == 0)
                        r = add_header(x, "x-amz-object-lock-retain-until-date: %s", until);
        }
        if (r == 0 && lock->legal_hold)
                r = add_header(x, "x-amz-object-lock-legal-hold: ON");
        return r;
}

static int put_single(struct evd_s3 *s3, const char *key, const struct evd_s3_body *body,
                      const struct evd_s3_lock *lock, struct evd_s3_object *ret,
                      struct evd_err *err)
{
        uint8_t md5[16], sha[EVD_SHA256_LEN];
        char md5hex[33];
        struct evd_s3_body b = *body;
        struct xfer x = XFER("PUT", key, NULL);
        int r = digest(body, 0, body->size, md5, sha, NULL);

        if (r < 0) {
                evd_err_set(err, r, "S3 PUT %s: reading the body: %s", key, strerror(-r));
                goto cleanup;
        }
        if (body->sha256 && memcmp(sha, body->sha256, EVD_SHA256_LEN) != 0) {
                r = evd_err_set(err, -EIO,
                                "S3 PUT %s: the local bytes do not match their "
                                "SHA-256; nothing sent",
                                key);
                goto cleanup;
        }
        b.sha256 = sha;
        x.body = &b;
        r = digest_headers(&x, md5, sha);
        if (r == 0)
                r = add_header(&x, "Content-Type: %s",
                               body->content_type ? body->content_type
                                                  : "application/octet-stream");
        if (r == 0)
                r = lock_headers(&x, lock);
        if (r < 0) {
                evd_err_set(err, r, "S3 PUT %s: %s", key, strerror(-r));
                goto cleanup;
        }
        r = evd_s3__perform(s3, &x, err);
        if (r < 0)
                goto cleanup;
        evd_hex(md5, 16, md5hex);
        if (strcasecmp(x.obj.etag, md5hex) != 0) {
                r = evd_err_set(err, -EBADMSG, "S3 PUT %s: ETag %s is not the body's MD5 %s", key,
                                x.obj.etag, md5hex);
                goto cleanup;
        }
        *ret = x.obj;
cleanup:
        evd_s3__xfer_done(&x);
        return r;
}

static int multipart_start(struct evd_s3 *s3, const char *key, const struct evd_s3_body *body,
                           const struct evd_s3_lock *lock, char *upload_id, size_t n,
                           struct evd_err *err)
{
        struct xfer x = XFER("POST", key, "uploads=");
        int r = add_header(&x, "Content-Type: %s",
                           body->content_type ? body->content_type : "application/octet-stream");

        if (r == 0)
                r = lock_headers(&x, lock);
        if (r < 0)
                return evd_err_set(err, r, "S3 POST %s: %s", key, strerror(-r));
        r = evd_s3__perform(s3, &x, err);
        if (r == 0 && evd_s3xml_text(x.reply.data, x.reply.len, "UploadId", upload_id, n) < 0)
                r = evd_err_set(err, -EPROTO, "S3 POST %s?uploads: no UploadId in the reply", key);
        evd_s3__xfer_done(&x);
        return r;
}

static void multipart_abort(struct evd_s3 *s3, const char *key, const char *upload_id)
{
        const char *kv[] = { "uploadId", upload_id };
        char q[QUERY_MAX];
        struct xfer x = XFER("DELETE", key, q);

        if (evd_s3__build_query(q, sizeof(q), kv, 1) == 0)
                (void)evd_s3__perform(s3, &x, NULL);
        evd_s3__xfer_done(&x);
}

/* Upload part number part (1-based) of body and its ETag into etag. */
static int multipart_part(struct evd_s3 *s3, const char *key, const struct evd_s3_body *body,
                          const char *upload_id, int part, EVP_MD_CTX *whole, char *etag,
                          struct evd_err *err)
{
        uint64_t from = (uint64_t)(part - 1) * s3->part_size;
        uint64_t len = body->size - from < s3->part_size ? body->size - from : s3->part_size;
        uint8_t md5[16], sha[EVD_SHA256_LEN];
        char num[16], q[QUERY_MAX], md5hex[33];
        const char *kv[] = { "partNumber", num, "uploadId", upload_id };
        struct evd_s3_body b = { .fd = body->fd,
                                 .offset = body->offset + from,
                                 .size = len,
                                 .data = body->data ? (const char *)body->data + from : NULL,
                                 .sha256 = sha };
        struct xfer x = XFER("PUT", key, q);
        int r;

        (void)snprintf(num, sizeof(num), "%d", part);
        r = evd_s3__build_query(q, sizeof(q), kv, 2);
        if (r == 0)
                r = digest(body, from, len, md5, sha, whole);
        if (r == 0)
                r = digest_headers(&x, md5, sha);
        if (r < 0) {
                evd_err_set(err, r, "S3 PUT %s part %d: %s", key, part, strerror(-r));
                goto cleanup;
        }
        x.body = &b;
        r = evd_s3__perform(s3, &x, err);
        if (r < 0)
                goto cleanup;
        evd_hex(md5, 16, md5hex);
        if (strcasecmp(x.obj.etag, md5hex) != 0) {
                r = evd_err_set(err, -EBADMSG, "S3 PUT %s part %d: ETag %s is not its MD5", key,
                                part, x.obj.etag);
                goto cleanup;
        }
        (void)evd_snprintf(etag, EVD_S3_ETAG_MAX, "%s", x.obj.etag);
cleanup:
        evd_s3__xfer_done(&x);
        return r;
}

static int multipart_complete(struct evd_s3 *s3, const char *key, const char *upload_id,
                              const struct evd_buf *parts, struct evd_s3_object *ret,
                              struct evd_err *err)
{
        const char *kv[] = { "uploadId", upload_id };
        char q[QUERY_MAX];
        struct xfer x;
        int r = evd_s3__build_query(q, sizeof(q), kv, 1);

        if (r < 0)
                return evd_err_set(err, r, "S3 upload id too long");
        r = evd_s3__send_xml(s3, "POST", key, q, parts->data, &x, err);
        if (r == 0) {
                char etag[EVD_S3_ETAG_MAX];

                *ret = x.obj;
                if (evd_s3xml_text(x.reply.data, x.reply.len, "ETag", etag, sizeof(etag)) == 0) {
                        const char *e = etag + (etag[0] == '"');

                        (void)evd_snprintf(ret->etag, sizeof(ret->etag), "%.*s",
                                           (int)strcspn(e, "\""), e);
                }
        }
        evd_s3__xfer_done(&x);
        return r;
}

static int put_multipart(struct evd_s3 *s3, const char *key, const struct evd_s3_body *body,
                         const struct evd_s3_lock *lock, struct evd_s3_object *ret,
                         struct evd_err *err)
{
        char upload_id[512], etag[EVD_S3_ETAG_MAX];
        int parts = (int)((body->size + s3->part_size - 1) / s3->part_size), r;
        struct evd_buf xml = { .max = (size_t)parts * 256 + 256 };
        EVP_MD_CTX *whole = EVP_MD_CTX_new();
        uint8_t sha[EVD_SHA256_LEN];

        if (!whole || EVP_DigestInit_ex(whole, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(whole);
                return evd_err_set(err, -ENOMEM, "S3: no memory");
        }
        r = multipart_start(s3, key, body, lock, upload_id, sizeof(upload_id), err);
        if (r < 0)
                goto cleanup;
        evd_buf_str(&xml, "<CompleteMultipartUpload xmlns=\"" S3_NS "\">");
        for (int part = 1; part <= parts && r == 0; part++) {
                r = multipart_part(s3, key, body, upload_id, part, whole, etag, err);
                evd_buf_printf(&xml, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>",
                               part, etag);
        }
        if (r == 0 && body->sha256 &&
            (EVP_DigestFinal_ex(whole, sha, NULL) != 1 ||
             memcmp(sha, body->sha256, EVD_SHA256_LEN) != 0))
                r = evd_err_set(err, -EIO,
                                "S3 PUT %s: the local bytes do not match their "
                                "SHA-256; upload abandoned",
                                key);
        if (r == 0 && evd_buf_str(&xml, "</CompleteMultipartUpload>") < 0)
                r = evd_err_set(err, xml.error, "S3: no memory");
        if (r == 0)
                r = multipart_complete(s3, key, upload_id, &xml, ret, err);
        if (r == 0 && !ret->etag[0]) { /* Ceph 16 answers <ETag></ETag>: ask */
                struct evd_s3_object o;

                if (evd_s3_head(s3, key, ret->version_id, &o, err) == 0)
                        (void)evd_snprintf(ret->etag, sizeof(ret->etag), "%s", o.etag);
                evd_err_clear(err);
        }
        if (r < 0)
                multipart_abort(s3, key, upload_id);
cleanup:
        evd_buf_free(&xml);
        EVP_MD_CTX_free(whole);
        return r;
}

/* Set the lock on a fresh version when it is not there already, and read it back. */
static int ensure_lock(struct evd_s3 *s3, const char *key, const char *version,
                       const struct evd_s3_lock *lock, struct evd_err *err)
{
        enum evd_s3_mode mode = EVD_S3_MODE_NONE;
        int64_t until = 0;
        bool hold = false;
        int r;

        for (int round = 0; lock->mode != EVD_S3_MODE_NONE; round++) {
                r = evd_s3_get_retention(s3, key, version, &mode, &until, err);
                if (r < 0)
                        return r;
                if (mode == lock->mode && until >= lock->retain_until)
                        break;
                if (round)
                        return evd_err_set(err, -EIO,
                                           "S3 %s: retention read back is %s until %lld, not "
                                           "what was set",
                                           key, evd_s3_mode_name(mode), (long long)until);
                r = evd_s3_set_retention(s3, key, version, lock->mode, lock->retain_until, err);
                if (r < 0)
                        return r;
        }
        for (int round = 0; lock->legal_hold; round++) {
                r = evd_s3_get_legal_hold(s3, key, version, &hold, err);
                if (r < 0)
                        return r;
                if (hold)
                        break;
                if (round)
                        return evd_err_set(err, -EIO, "S3 %s: legal hold not on after setting it",
                                           key);
                r = evd_s3_set_legal_hold(s3, key, version, true, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int evd_s3_put(struct evd_s3 *s3, const char *key, const struct evd_s3_body *body,
               const struct evd_s3_lock *lock, struct evd_s3_object *ret, struct evd_err *err)
{
        struct evd_s3_object obj = { 0 };
        int r;

        if (body->size > s3->part_size)
                r = put_multipart(s3, key, body, lock, &obj, err);
        else
                r = put_single(s3, key, body, lock, &obj, err);
        if (r == 0 && lock && (lock->mode != EVD_S3_MODE_NONE || lock->legal_hold)) {
                if (!obj.version_id[0])
                        return evd_err_set(err, -EPROTO,
                                           "S3 PUT %s: no version id: is versioning on?", key);
                r = ensure_lock(s3, key, obj.version_id, lock, err);
        }
        obj.size = body->size;
        if (r == 0 && ret)
                *ret = obj;
        return r;
}

int evd_s3_etag_of(struct evd_s3 *s3, const struct evd_s3_body *body, char ret[EVD_S3_ETAG_MAX])
{
        uint8_t md5[16], sha[EVD_SHA256_LEN];
        EVP_MD_CTX *all;
        uint64_t parts;
        int r;

        if (body->size <= s3->part_size) {
                r = digest(body, 0, body->size, md5, sha, NULL);
                if (r == 0)
                        evd_hex(md5, 16, ret);
                return r;
        }
        all = EVP_MD_CTX_new();
        if (!all || EVP_DigestInit_ex(all, EVP_md5(), NULL) != 1) {
                EVP_MD_CTX_free(all);
                return -ENOMEM;
        }
        parts = (body->size + s3->part_size - 1) / s3->part_size;
        r = 0;
        for (uint64_t i = 0; i < parts && r == 0; i++) {
                uint64_t from = i * s3->part_size;
                uint64_t len =
                        body->size - from < s3->part_size ? body->size - from : s3->part_size;

                r = digest(body, from, len, md5, sha, NULL);
                if (r == 0 && EVP_DigestUpdate(all, md5, 16) != 1)
                        r = -ENOMEM;
        }
        if (r == 0 && EVP_DigestFinal_ex(all, md5, NULL) != 1)
                r = -ENOMEM;
        if (r == 0) {
                evd_hex(md5, 16, ret);
                (void)snprintf(ret + 32, EVD_S3_ETAG_MAX - 32, "-%llu", (unsigned long long)parts);
        }
        EVP_MD_CTX_free(all);
        return r;
}

/* ---------------------------------------------------------------- the client */

static char *dup_trim_slash(const char *s)
{
        char *d = strdup(s);
        size_t l = d ? strlen(d) : 0;

        if (l && d[l - 1] == '/')
                d[l - 1] = '\0';
        return d;
}

static bool bucket_ok(const char *b)
{
        size_t l = strlen(b);

        if (l < 3 || l > 63)
                return false;
        for (const char *p = b; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                      *p == '.'))
                        return false;
        return true;
}

int evd_s3_new(const struct evd_s3_config *cfg, struct evd_s3 **ret, struct evd_err *err)
{
        struct evd_s3 *s3;
        int r = evd_s3_endpoint_check(cfg->endpoint, err);

        if (r < 0)
                return r;
        if (!cfg->bucket || !bucket_ok(cfg->bucket))
                return evd_err_set(err, -EINVAL, "bucket %s: 3 to 63 of a-z 0-9 . -",
                                   cfg->bucket ? cfg->bucket : "(none)");
        if (!cfg->access_key || !*cfg->access_key || !cfg->secret_key || !*cfg->secret_key ||
            strchr(cfg->access_key, ':'))
                return evd_err_set(err, -EINVAL,
                                   "S3 credentials: an access key (no ':') and a "
                                   "secret key are needed");
        if (!cfg->region || !*cfg->region || strchr(cfg->region, ':'))
                return evd_err_set(err, -EINVAL, "S3 region: needed, without ':'");
        if (cfg->part_size && cfg->part_size < EVD_S3_PART_MIN)
                return evd_err_set(err, -EINVAL, "S3 part size: at least 5 MiB");
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return evd_err_set(err, -ENOMEM, "libcurl would not start");
        s3 = calloc(1, sizeof(*s3));
        if (!s3) {
                curl_global_cleanup();
                return evd_err_set(err, -ENOMEM, "S3: no memory");
        }
        s3->curl = curl_easy_init();
        s3->endpoint = dup_trim_slash(cfg->endpoint);
        s3->bucket = strdup(cfg->bucket);
        s3->ca_file = cfg->ca_file && *cfg->ca_file ? strdup(cfg->ca_file) : NULL;
        s3->max_send_bps = cfg->max_send_bps;
        s3->part_size = cfg->part_size ? cfg->part_size : EVD_S3_PART_DEFAULT;
        s3->stall_seconds = cfg->stall_seconds > 0 ? cfg->stall_seconds : 60;
        if (asprintf(&s3->userpwd, "%s:%s", cfg->access_key, cfg->secret_key) < 0)
                s3->userpwd = NULL;
        if (asprintf(&s3->sigv4, "aws:amz:%s:s3", cfg->region) < 0)
                s3->sigv4 = NULL;
        if (!s3->curl || !s3->endpoint || !s3->bucket || !s3->userpwd || !s3->sigv4 ||
            (cfg->ca_file && *cfg->ca_file && !s3->ca_file)) {
                evd_s3_free(s3);
                return evd_err_set(err, -ENOMEM, "S3: no memory");
        }
        *ret = s3;
        return 0;
}

void evd_s3_free(struct evd_s3 *s3)
{
        if (!s3)
                return;
        if (s3->curl)
                curl_easy_cleanup(s3->curl);
        if (s3->userpwd) {
                explicit_bzero(s3->userpwd, strlen(s3->userpwd));
                free(s3->userpwd);
        }
        free(s3->endpoint);
        free(s3->bucket);
        free(s3->ca_file);
        free(s3->sigv4);
        free(s3);
        curl_global_cleanup();
}
