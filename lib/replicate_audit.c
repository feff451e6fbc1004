/* replicate_audit: the audit log's sealed segments into the archive (see replicate.h).
 *
 * Checkpoint k (checkpoint.h) seals entries S(k-1)+1 .. S(k); that segment goes up as
 * PREFIX/audit/F-L.jsonl (the entries as stored, one a line), F-L.checkpoint (the text
 * the checkpoint signed) and F-L.p7s (its detached CMS signature, DER, the signer's
 * certificate inside), the .p7s last: a segment counts as sealed in the archive once
 * its .p7s is there. The signer's certificate also goes to PREFIX/certs/<sha256>.pem.
 * All under COMPLIANCE until now + [replication] audit_retention. */
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "catalog.h"
#include "checkpoint.h"
#include "clock.h"
#include "keys.h"
#include "policy.h"
#include "replicate.h"
#include "s3.h"

#define SEGMENTS_PER_PASS 16
#define SEGMENT_MAX (256u << 20)

struct segment {
        uint64_t first, last;
        json_t *cp;          /* the checkpoint record, owned */
        struct evd_buf text; /* the entries, one a line */
};

struct sealed_scan {
        const char *dir; /* "PREFIX/audit/" */
        uint64_t last;
};

int evd_replicate_segment_name(const char *name, uint64_t *ret_first, uint64_t *ret_last,
                               const char **ret_ext)
{
        char *end;

        if (*name < '1' || *name > '9')
                return -EINVAL;
        errno = 0;
        *ret_first = strtoull(name, &end, 10);
        if (errno || *end != '-' || end[1] < '1' || end[1] > '9')
                return -EINVAL;
        *ret_last = strtoull(end + 1, &end, 10);
        if (errno || *end != '.' || *ret_last < *ret_first || strchr(end + 1, '/'))
                return -EINVAL;
        *ret_ext = end + 1;
        return 0;
}

static int sealed_each(void *ud, const struct evd_s3_entry *e)
{
        struct sealed_scan *s = ud;
        uint64_t f, l;
        const char *ext;

        if (evd_replicate_segment_name(e->key + strlen(s->dir), &f, &l, &ext) == 0 &&
            strcmp(ext, "p7s") == 0 && l > s->last)
                s->last = l;
        return 0;
}

int evd_replicate_audit_sealed(struct evd_s3 *s3, const char *prefix, uint64_t *ret_last,
                               struct evd_err *err)
{
        char dir[EVD_S3_KEY_MAX];
        struct sealed_scan s = { .dir = dir };
        int r;

        (void)snprintf(dir, sizeof(dir), "%s/audit/", prefix);
        r = evd_s3_list(s3, dir, sealed_each, &s, err);
        if (r == 0)
                *ret_last = s.last;
        return r;
}

/* The entries first..last, as stored, into seg->text. */
static int segment_text(struct evd_txn *txn, struct segment *seg)
{
        MDB_cursor *cur;
        MDB_val k, v;
        uint8_t key[8];
        uint64_t want = seg->first;
        int rc;

        seg->text.max = SEGMENT_MAX;
        evd_be64_put(key, seg->first);
        k = (MDB_val){ 8, key };
        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_AUDIT), &cur);
        if (rc)
                return evd_mdb_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && want <= seg->last;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), want++) {
                if (k.mv_size != 8 || evd_be64_get(k.mv_data) != want)
                        break;
                (void)evd_buf_add(&seg->text, v.mv_data, v.mv_size);
                (void)evd_buf_add(&seg->text, "\n", 1);
        }
        mdb_cursor_close(cur);
        if (want <= seg->last)
                return -EBADMSG; /* an entry under a checkpoint is gone: not ours to seal */
        return seg->text.error;
}

/* Up to SEGMENTS_PER_PASS segments after sealed, read in one snapshot. */
static int collect_segments(struct evd_catalog *catalog, uint64_t sealed, struct segment *segs,
                            size_t *ret_n)
{
        struct evd_txn txn;
        MDB_cursor *cur;
        MDB_val k, v;
        uint64_t prev = 0;
        size_t n = 0;
        int rc, r = 0;

        *ret_n = 0;
        r = evd_catalog_read_begin(catalog, &txn);
        if (r < 0)
                return r;
        rc = mdb_cursor_open(txn.txn, evd_txn_dbi(&txn, EVD_DB_CHECKPOINTS), &cur);
        if (rc) {
                evd_catalog_read_end(&txn);
                return evd_mdb_errno(rc);
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < SEGMENTS_PER_PASS && !r;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                json_t *cp = json_loadb(v.mv_data, v.mv_size, 0, NULL);
                uint64_t seq = (uint64_t)json_integer_value(json_object_get(cp, "seq"));

                if (cp && seq > sealed && seq > prev) {
                        segs[n] = (struct segment){ .first = prev + 1, .last = seq, .cp = cp };
                        r = segment_text(&txn, &segs[n++]);
                } else {
                        json_decref(cp);
                }
                prev = seq > prev ? seq : prev;
        }
        mdb_cursor_close(cur);
        evd_catalog_read_end(&txn);
        *ret_n = n;
        return r;
}

/* The signer's certificate from a CMS signature, PEM, and its fingerprint. */
static int signer_pem(const uint8_t *der, size_t len, char **ret_pem, char fp[EVD_SHA256_HEX])
{
        BIO *bio = BIO_new(BIO_s_mem());
        X509 *cert = NULL;
        char *data;
        long n;
        int r = evd_keys_cms_signer(der, len, &cert);

        if (r == 0 && bio && PEM_write_bio_X509(bio, cert)) {
                evd_keys_fingerprint(cert, fp);
                n = BIO_get_mem_data(bio, &data);
                *ret_pem = n > 0 ? strndup(data, (size_t)n) : NULL;
                r = *ret_pem ? 0 : -ENOMEM;
        } else if (r == 0) {
                r = -ENOMEM;
        }
        BIO_free(bio);
        X509_free(cert);
        return r;
}

static int put_text(struct evd_s3 *s3, const char *key, const void *data, size_t len,
                    const struct evd_s3_lock *lock, struct evd_err *err)
{
        struct evd_s3_body body = { .fd = -1, .data = data, .size = len };

        return evd_s3_put(s3, key, &body, lock, NULL, err);
}

static int upload_segment(struct evd_s3 *s3, const char *prefix, struct segment *seg,
                          const struct evd_s3_lock *lock, struct evd_err *err)
{
        char key[EVD_S3_KEY_MAX], text[512], fp[EVD_SHA256_HEX], *pem = NULL;
        const char *b64 = json_string_value(json_object_get(seg->cp, "signature")) ?: "";
        uint8_t *sig = NULL;
        size_t sig_len = 0;
        struct evd_s3_object o;
        int r;

        if (evd_checkpoint_text_of(seg->cp, text, sizeof(text)) < 0 ||
            evd_b64_decode(b64, &sig, &sig_len) < 0 || signer_pem(sig, sig_len, &pem, fp) < 0) {
                free(sig);
                return evd_err_set(err, -EBADMSG, "checkpoint %" PRIu64 " is unreadable",
                                   seg->last);
        }
        (void)snprintf(key, sizeof(key), "%s/certs/%s.pem", prefix, fp);
        r = evd_s3_head(s3, key, NULL, &o, err);
        if (r == -ENOENT)
                r = pem ? put_text(s3, key, pem, strlen(pem), lock, err) : -ENOMEM;
        (void)snprintf(key, sizeof(key), "%s/audit/%" PRIu64 "-%" PRIu64 ".jsonl", prefix,
                       seg->first, seg->last);
        if (r == 0)
                r = put_text(s3, key, seg->text.data, seg->text.len, lock, err);
        (void)snprintf(key, sizeof(key), "%s/audit/%" PRIu64 "-%" PRIu64 ".checkpoint", prefix,
                       seg->first, seg->last);
        if (r == 0)
                r = put_text(s3, key, text, strlen(text), lock, err);
        (void)snprintf(key, sizeof(key), "%s/audit/%" PRIu64 "-%" PRIu64 ".p7s", prefix, seg->first,
                       seg->last);
        if (r == 0)
                r = put_text(s3, key, sig, sig_len, lock, err);
        free(sig);
        free(pem);
        return r;
}

int evd_replicate_audit(struct evd_s3 *s3, struct evd_catalog *catalog, const char *prefix,
                        const struct evd_period *retention, uint64_t *sealed, size_t *ret_uploaded,
                        struct evd_err *err)
{
        struct segment segs[SEGMENTS_PER_PASS];
        struct evd_s3_lock lock = { .mode = EVD_S3_MODE_COMPLIANCE };
        size_t n = 0, done = 0;
        int r;

        *ret_uploaded = 0;
        if (*sealed == UINT64_MAX && (r = evd_replicate_audit_sealed(s3, prefix, sealed, err)) < 0)
                return r;
        if (retention->permanent ||
            evd_policy_add_period(evd_clock_now(), retention, &lock.retain_until) < 0 ||
            lock.retain_until > EVD_S3_RETAIN_MAX) {
                lock.retain_until = EVD_S3_RETAIN_MAX;
                lock.legal_hold = retention->permanent;
        }
        r = collect_segments(catalog, *sealed, segs, &n);
        if (r < 0)
                (void)evd_err_set(err, r, "audit log: %s", strerror(-r));
        for (size_t i = 0; r == 0 && i < n; i++) {
                r = upload_segment(s3, prefix, &segs[i], &lock, err);
                if (r == 0) {
                        *sealed = segs[i].last;
                        done++;
                }
        }
        for (size_t i = 0; i < n; i++) {
                json_decref(segs[i].cp);
                evd_buf_free(&segs[i].text);
        }
        *ret_uploaded = done;
        return r;
}
