/* s3_read: the S3 client's reads: objects, their retention and legal hold, the
 * bucket's versioning and Object Lock, and listing (see s3.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_internal.h"
#include "s3xml.h"

static int version_query(char *q, size_t n, const char *sub, const char *version)
{
        const char *kv[] = { sub, "", "versionId", version && *version ? version : NULL };

        return evd_s3__build_query(q, n, sub ? kv : kv + 2, sub ? 2 : 1);
}

int evd_s3_get(struct evd_s3 *s3, const char *key, const char *version, int fd, uint64_t max_size,
               uint8_t ret_sha256[EVD_SHA256_LEN], uint64_t *ret_size, struct evd_err *err)
{
        char q[QUERY_MAX];
        struct xfer x = XFER("GET", key, q);
        int r = version_query(q, sizeof(q), NULL, version);

        if (r < 0)
                return evd_err_set(err, r, "S3 version id too long");
        x.out_fd = fd;
        x.out_max = max_size;
        x.out_hash = EVP_MD_CTX_new();
        if (!x.out_hash || EVP_DigestInit_ex(x.out_hash, EVP_sha256(), NULL) != 1) {
                r = evd_err_set(err, -ENOMEM, "S3: no memory");
                goto cleanup;
        }
        r = evd_s3__perform(s3, &x, err);
        if (r < 0)
                goto cleanup;
        if (x.have_length && x.obj.size != x.out_size) {
                r = evd_err_set(err, -EIO, "S3 GET %s: %llu bytes, not the %llu announced", key,
                                (unsigned long long)x.out_size, (unsigned long long)x.obj.size);
                goto cleanup;
        }
        if (EVP_DigestFinal_ex(x.out_hash, ret_sha256, NULL) != 1) {
                r = evd_err_set(err, -ENOMEM, "S3: no memory");
                goto cleanup;
        }
        if (ret_size)
                *ret_size = x.out_size;
cleanup:
        EVP_MD_CTX_free(x.out_hash);
        evd_s3__xfer_done(&x);
        return r;
}

int evd_s3_get_mem(struct evd_s3 *s3, const char *key, const char *version, size_t max,
                   char **ret_data, size_t *ret_len, struct evd_err *err)
{
        char q[QUERY_MAX];
        struct xfer x = XFER("GET", key, q);
        int r = version_query(q, sizeof(q), NULL, version);

        if (r < 0)
                return evd_err_set(err, r, "S3 version id too long");
        r = evd_s3__perform(s3, &x, err);
        if (r == 0 && x.reply.len > max)
                r = evd_err_set(err, -EFBIG, "S3 GET %s: larger than %zu bytes", key, max);
        if (r == 0 && !x.reply.data && evd_buf_add(&x.reply, "", 0) < 0)
                r = evd_err_set(err, -ENOMEM, "S3: no memory");
        if (r == 0) {
                *ret_data = x.reply.data;
                *ret_len = x.reply.len;
                x.reply.data = NULL;
        }
        evd_s3__xfer_done(&x);
        return r;
}

int evd_s3_head(struct evd_s3 *s3, const char *key, const char *version, struct evd_s3_object *ret,
                struct evd_err *err)
{
        char q[QUERY_MAX];
        struct xfer x = XFER("HEAD", key, q);
        int r = version_query(q, sizeof(q), NULL, version);

        if (r < 0)
                return evd_err_set(err, r, "S3 version id too long");
        r = evd_s3__perform(s3, &x, err);
        if (r == 0)
                *ret = x.obj;
        evd_s3__xfer_done(&x);
        return r;
}

int evd_s3_delete(struct evd_s3 *s3, const char *key, const char *version, struct evd_err *err)
{
        char q[QUERY_MAX];
        struct xfer x = XFER("DELETE", key, q);
        int r = version_query(q, sizeof(q), NULL, version);

        if (r < 0)
                return evd_err_set(err, r, "S3 version id too long");
        r = evd_s3__perform(s3, &x, err);
        evd_s3__xfer_done(&x);
        return r;
}

/* True when code is one of the comma-separated codes. */
static bool code_in(const char *code, const char *codes)
{
        size_t l = strlen(code);

        for (const char *p = codes; l && *p;) {
                size_t k = strcspn(p, ",");

                if (k == l && memcmp(p, code, l) == 0)
                        return true;
                p += k + (p[k] == ',');
        }
        return false;
}

/* Servers say "none set" with different codes (Ceph 16 for a version without one). */
#define NO_LOCK "NoSuchObjectLockConfiguration,ObjectLockConfigurationNotFoundError"

/* GET bucket-or-key?sub=[&versionId=]: the text of element name into out; "" when it is
 * absent, or when the server answers 404 with one of absent_codes (nothing set). */
static int get_field(struct evd_s3 *s3, const char *key, const char *version, const char *sub,
                     const char *name, const char *absent_codes, char *out, size_t n,
                     struct evd_err *err)
{
        char q[QUERY_MAX], code[128] = "";
        struct xfer x = XFER("GET", key, q);
        int r = version_query(q, sizeof(q), sub, version);

        out[0] = '\0';
        if (r < 0)
                return evd_err_set(err, r, "S3 version id too long");
        r = evd_s3__perform(s3, &x, err);
        if (r < 0 && x.status == 404 && x.reply.len &&
            evd_s3xml_text(x.reply.data, x.reply.len, "Code", code, sizeof(code)) == 0 &&
            code_in(code, absent_codes)) {
                evd_err_clear(err);
                r = 0; /* none set: out stays "" */
        } else if (r == 0 && evd_s3xml_text(x.reply.data, x.reply.len, name, out, n) < 0) {
                out[0] = '\0';
        }
        evd_s3__xfer_done(&x);
        return r;
}

int evd_s3_set_retention(struct evd_s3 *s3, const char *key, const char *version,
                         enum evd_s3_mode mode, int64_t retain_until, struct evd_err *err)
{
        char q[QUERY_MAX], until[EVD_TIME_STR], xml[512];
        struct xfer x;
        int r = version_query(q, sizeof(q), "retention", version);

        if (r < 0)
                return evd_err_set(err, r, "S3 version id too long");
        evd_time_format(retain_until, until);
        (void)snprintf(xml, sizeof(xml),
                       "<Retention xmlns=\"" S3_NS "\"><Mode>%s</Mode>"
                       "<RetainUntilDate>%s</RetainUntilDate></Retention>",
                       evd_s3_mode_name(mode), until);
        r = evd_s3__send_xml(s3, "PUT", key, q, xml, &x, err);
        evd_s3__xfer_done(&x);
        return r;
}

int evd_s3_get_retention(struct evd_s3 *s3, const char *key, const char *version,
                         enum evd_s3_mode *ret_mode, int64_t *ret_until, struct evd_err *err)
{
        char mode[32], until[64];
        int r = get_field(s3, key, version, "retention", "Mode", NO_LOCK, mode, sizeof(mode), err);

        if (r < 0)
                return r;
        *ret_mode = EVD_S3_MODE_NONE;
        *ret_until = 0;
        if (!mode[0])
                return 0;
        r = get_field(s3, key, version, "retention", "RetainUntilDate",
                      "NoSuchObjectLockConfiguration", until, sizeof(until), err);
        if (r < 0)
                return r;
        if (evd_s3_mode_parse(mode, ret_mode) < 0 || evd_time_parse(until, ret_until) < 0)
                return evd_err_set(err, -EPROTO, "S3 %s: retention %s until %s: not understood",
                                   key, mode, until);
        return 0;
}

int evd_s3_set_legal_hold(struct evd_s3 *s3, const char *key, const char *version, bool on,
                          struct evd_err *err)
{
        char q[QUERY_MAX], xml[256];
        struct xfer x;
        int r = version_query(q, sizeof(q), "legal-hold", version);

        if (r < 0)
                return evd_err_set(err, r, "S3 version id too long");
        (void)snprintf(xml, sizeof(xml),
                       "<LegalHold xmlns=\"" S3_NS "\"><Status>%s</Status></LegalHold>",
                       on ? "ON" : "OFF");
        r = evd_s3__send_xml(s3, "PUT", key, q, xml, &x, err);
        evd_s3__xfer_done(&x);
        return r;
}

int evd_s3_get_legal_hold(struct evd_s3 *s3, const char *key, const char *version, bool *ret_on,
                          struct evd_err *err)
{
        char status[16];
        int r = get_field(s3, key, version, "legal-hold", "Status", NO_LOCK, status, sizeof(status),
                          err);

        if (r == 0)
                *ret_on = strcmp(status, "ON") == 0;
        return r;
}

int evd_s3_bucket_versioning(struct evd_s3 *s3, bool *ret_enabled, struct evd_err *err)
{
        char status[32];
        int r = get_field(s3, NULL, NULL, "versioning", "Status", "-", status, sizeof(status), err);

        if (r == 0)
                *ret_enabled = strcmp(status, "Enabled") == 0;
        return r;
}

int evd_s3_bucket_object_lock(struct evd_s3 *s3, bool *ret_enabled, struct evd_err *err)
{
        char status[32];
        int r = get_field(s3, NULL, NULL, "object-lock", "ObjectLockEnabled",
                          "ObjectLockConfigurationNotFoundError", status, sizeof(status), err);

        if (r == 0)
                *ret_enabled = strcmp(status, "Enabled") == 0;
        return r;
}

/* Call each for every <Contents> of one page. */
static int list_page(const char *xml, size_t len,
                     int (*each)(void *ud, const struct evd_s3_entry *entry), void *ud)
{
        const char *in;
        size_t il, pos = 0;

        while (evd_s3xml_next(xml, len, &pos, "Contents", &in, &il)) {
                char key[EVD_S3_KEY_MAX + 1], size[32], etag[EVD_S3_ETAG_MAX];
                char *e = etag, *end;

                if (evd_s3xml_text(in, il, "Key", key, sizeof(key)) < 0 ||
                    evd_s3xml_text(in, il, "Size", size, sizeof(size)) < 0)
                        return -EPROTO;
                if (evd_s3xml_text(in, il, "ETag", etag, sizeof(etag)) < 0)
                        etag[0] = '\0';
                if (*e == '"') {
                        e++;
                        e[strcspn(e, "\"")] = '\0';
                }
                errno = 0;
                unsigned long long sz = strtoull(size, &end, 10);

                if (errno || *end || end == size)
                        return -EPROTO;
                struct evd_s3_entry entry = { .key = key, .size = sz, .etag = e };
                int r = each(ud, &entry);

                if (r)
                        return r;
        }
        return 0;
}

int evd_s3_list(struct evd_s3 *s3, const char *prefix,
                int (*each)(void *ud, const struct evd_s3_entry *entry), void *ud,
                struct evd_err *err)
{
        char token[1024] = "", truncated[16], q[QUERY_MAX];
        int r;

        do {
                const char *kv[] = { "continuation-token",
                                     token[0] ? token : NULL,
                                     "list-type",
                                     "2",
                                     "prefix",
                                     prefix && *prefix ? prefix : NULL };
                struct xfer x = XFER("GET", NULL, q);

                r = evd_s3__build_query(q, sizeof(q), kv, 3);
                if (r < 0)
                        return evd_err_set(err, r, "S3 list: prefix or token too long");
                r = evd_s3__perform(s3, &x, err);
                if (r == 0) {
                        r = list_page(x.reply.data, x.reply.len, each, ud);
                        if (r == -EPROTO)
                                evd_err_set(err, r, "S3 list %s: a reply not understood", prefix);
                }
                if (r == 0 && (evd_s3xml_text(x.reply.data, x.reply.len, "IsTruncated", truncated,
                                              sizeof(truncated)) < 0 ||
                               strcmp(truncated, "true") != 0))
                        token[0] = '\0';
                else if (r == 0 &&
                         evd_s3xml_text(x.reply.data, x.reply.len, "NextContinuationToken", token,
                                        sizeof(token)) < 0)
                        r = evd_err_set(err, -EPROTO, "S3 list %s: truncated without a token",
                                        prefix);
                evd_s3__xfer_done(&x);
        } while (r == 0 && token[0]);
        return r;
}

int evd_s3_time_parse_ms(const char *s, int64_t *ret)
{
        char whole[64];
        const char *dot = strchr(s, '.');
        int64_t t, ms = 0;
        size_t digits = 0;

        if (!dot) {
                if (evd_time_parse(s, &t) < 0)
                        return -EINVAL;
                *ret = t * 1000;
                return 0;
        }
        if ((size_t)(dot - s) >= sizeof(whole) - 2)
                return -EINVAL;
        for (const char *p = dot + 1; *p >= '0' && *p <= '9'; p++, digits++)
                if (digits < 3)
                        ms = ms * 10 + (*p - '0');
        if (digits == 0 || strcmp(dot + 1 + digits, "Z") != 0)
                return -EINVAL;
        for (size_t d = digits; d < 3; d++)
                ms *= 10;
        (void)snprintf(whole, sizeof(whole), "%.*sZ", (int)(dot - s), s);
        if (evd_time_parse(whole, &t) < 0)
                return -EINVAL;
        *ret = t * 1000 + ms;
        return 0;
}

/* One <Version> or <DeleteMarker> (its content in, il bytes) to each. */
static int version_entry(const char *in, size_t il, bool marker,
                         int (*each)(void *ud, const struct evd_s3_version *v), void *ud)
{
        char key[EVD_S3_KEY_MAX + 1], vid[EVD_S3_VERSION_MAX], latest[16], when[64];
        char size[32] = "0", etag[EVD_S3_ETAG_MAX] = "", *e = etag, *end;
        struct evd_s3_version v = { .key = key, .version_id = vid, .delete_marker = marker };

        if (evd_s3xml_text(in, il, "Key", key, sizeof(key)) < 0 || !key[0] ||
            evd_s3xml_text(in, il, "VersionId", vid, sizeof(vid)) < 0 || !vid[0] ||
            evd_s3xml_text(in, il, "IsLatest", latest, sizeof(latest)) < 0 ||
            evd_s3xml_text(in, il, "LastModified", when, sizeof(when)) < 0 ||
            evd_s3_time_parse_ms(when, &v.modified_ms) < 0 ||
            (!marker && evd_s3xml_text(in, il, "Size", size, sizeof(size)) < 0))
                return -EPROTO;
        if (!marker && evd_s3xml_text(in, il, "ETag", etag, sizeof(etag)) < 0)
                etag[0] = '\0';
        if (*e == '"') {
                e++;
                e[strcspn(e, "\"")] = '\0';
        }
        errno = 0;
        v.size = strtoull(size, &end, 10);
        if (errno || *end || end == size || size[0] == '-')
                return -EPROTO;
        v.latest = strcmp(latest, "true") == 0;
        v.etag = e;
        return each(ud, &v);
}

int evd_s3_versions_page(const char *xml, size_t len,
                         int (*each)(void *ud, const struct evd_s3_version *v), void *ud)
{
        static const char *const names[] = { "Version", "DeleteMarker" };

        for (size_t k = 0; k < EVD_ARRAY_SIZE(names); k++) {
                const char *in;
                size_t il, pos = 0;

                while (evd_s3xml_next(xml, len, &pos, names[k], &in, &il)) {
                        int r = version_entry(in, il, k == 1, each, ud);

                        if (r)
                                return r;
                }
        }
        return 0;
}

/* Whether a versions page was truncated, and the markers to go on from. */
static int versions_next(const char *xml, size_t len, char *key, size_t kn, char *vid, size_t vn)
{
        char truncated[16];

        if (evd_s3xml_text(xml, len, "IsTruncated", truncated, sizeof(truncated)) < 0 ||
            strcmp(truncated, "true") != 0) {
                key[0] = vid[0] = '\0';
                return 0;
        }
        if (evd_s3xml_text(xml, len, "NextKeyMarker", key, kn) < 0 || !key[0])
                return -EPROTO;
        if (evd_s3xml_text(xml, len, "NextVersionIdMarker", vid, vn) < 0)
                vid[0] = '\0';
        return 0;
}

int evd_s3_list_versions(struct evd_s3 *s3, const char *prefix,
                         int (*each)(void *ud, const struct evd_s3_version *v), void *ud,
                         struct evd_err *err)
{
        char marker[EVD_S3_KEY_MAX + 1] = "", vmarker[EVD_S3_VERSION_MAX] = "", q[QUERY_MAX];
        char was[EVD_S3_KEY_MAX + 1], vwas[EVD_S3_VERSION_MAX];
        int r;

        do {
                memcpy(was, marker, sizeof(was));
                memcpy(vwas, vmarker, sizeof(vwas));
                const char *kv[] = { "key-marker",
                                     marker[0] ? marker : NULL,
                                     "prefix",
                                     prefix && *prefix ? prefix : NULL,
                                     "version-id-marker",
                                     marker[0] && vmarker[0] ? vmarker : NULL,
                                     "versions",
                                     "" };
                struct xfer x = XFER("GET", NULL, q);

                r = evd_s3__build_query(q, sizeof(q), kv, 4);
                if (r < 0)
                        return evd_err_set(err, r, "S3 list versions: prefix or marker too long");
                r = evd_s3__perform(s3, &x, err);
                if (r == 0)
                        r = evd_s3_versions_page(x.reply.data, x.reply.len, each, ud);
                if (r == 0 && versions_next(x.reply.data, x.reply.len, marker, sizeof(marker),
                                            vmarker, sizeof(vmarker)) < 0)
                        r = -EPROTO;
                if (r == 0 && marker[0] && strcmp(marker, was) == 0 && strcmp(vmarker, vwas) == 0)
                        r = -EPROTO; /* the same page again: it would never end */
                if (r == -EPROTO)
                        evd_err_set(err, r, "S3 list versions %s: a reply not understood",
                                    prefix ? prefix : "");
                evd_s3__xfer_done(&x);
        } while (r == 0 && marker[0]);
        return r;
}
