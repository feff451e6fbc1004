#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "name.h"
#include "publish.h"

#define PATH_BUF 4096
#define HMAC_LEN 32         /* HMAC-SHA-256 output */
#define EC_BYTES_MAX 66     /* P-521 */
#define RFC6979_ROUNDS 1000 /* each round fails with probability ~2^-128 */

struct evd_keys {
        EVP_PKEY *pkey;
        X509 *cert;
        char *cert_pem; /* NUL-terminated */
        size_t cert_pem_len;
};

/* Turn the newest OpenSSL error into err's text and empty the queue. */
static int ssl_fail(struct evd_err *err, int code, const char *what)
{
        unsigned long e = ERR_peek_last_error();
        char buf[256] = "";

        if (e)
                ERR_error_string_n(e, buf, sizeof(buf));
        ERR_clear_error();
        return evd_err_set(err, code, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

/* Put prefix and ": " before err's text (which cannot be an argument of its own
 * evd_err_set: the buffers would overlap). */
static int err_prefix(struct evd_err *err, int code, const char *prefix)
{
        char text[EVD_ERR_TEXT_MAX];

        if (!err)
                return code;
        memcpy(text, err->text, sizeof(text));
        text[sizeof(text) - 1] = '\0';
        return evd_err_set(err, code, "%s: %s", prefix, text);
}

/* A PEM password callback that refuses: an encrypted key is an error, never a prompt
 * on whatever terminal the daemon happens to have. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
        (void)buf;
        (void)size;
        (void)rwflag;
        (void)u;
        return -1;
}

/* Read a whole small file (at most max bytes) into a malloc'd NUL-terminated buffer. */
static int read_small_file(const char *path, size_t max, char **ret_buf, size_t *ret_len,
                           struct stat *ret_st, struct evd_err *err)
{
        struct stat st;
        ssize_t n;
        char *buf;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                return evd_err_set(err, r, "%s: %s", path, strerror(-r));
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                (void)close(fd);
                return evd_err_set(err, r, "%s: %s", path, strerror(-r));
        }
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
                (void)close(fd);
                return evd_err_set(err, -EINVAL, "%s: not a regular file of at most %zu bytes",
                                   path, max);
        }
        buf = malloc((size_t)st.st_size + 1);
        if (!buf) {
                (void)close(fd);
                return evd_err_set(err, -ENOMEM, "out of memory");
        }
        n = evd_read_full(fd, buf, (size_t)st.st_size);
        (void)close(fd);
        if (n < 0) {
                free(buf);
                return evd_err_set(err, (int)n, "%s: %s", path, strerror((int)-n));
        }
        buf[n] = '\0';
        *ret_buf = buf;
        *ret_len = (size_t)n;
        if (ret_st)
                *ret_st = st;
        return 0;
}

/* Copy what a memory BIO holds into a malloc'd NUL-terminated string. */
static int bio_take(BIO *bio, char **ret, size_t *ret_len)
{
        char *data, *copy;
        long n = BIO_get_mem_data(bio, &data);

        if (n < 0)
                return -EIO;
        copy = malloc((size_t)n + 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, data, (size_t)n);
        copy[n] = '\0';
        *ret = copy;
        *ret_len = (size_t)n;
        return 0;
}

static int cert_to_pem(X509 *cert, char **ret, size_t *ret_len)
{
        BIO *bio = BIO_new(BIO_s_mem());
        int r;

        if (!bio)
                return -ENOMEM;
        if (PEM_write_bio_X509(bio, cert) != 1)
                r = -EIO;
        else
                r = bio_take(bio, ret, ret_len);
        BIO_free(bio);
        ERR_clear_error();
        return r;
}

void evd_keys_fingerprint(X509 *cert, char out[EVD_SHA256_HEX])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != EVD_SHA256_LEN) {
                ERR_clear_error();
                memset(out, '0', EVD_SHA256_HEX - 1);
                out[EVD_SHA256_HEX - 1] = '\0';
                return;
        }
        evd_hex(md, n, out);
}

void evd_keys_subject(X509 *cert, char out[EVD_KEYS_SUBJECT_MAX])
{
        BIO *bio = BIO_new(BIO_s_mem());
        char *data;
        long n;

        out[0] = '\0';
        if (!bio)
                return;
        /* RFC 2253 order and separators, but UTF-8 kept as it is (not \XX escaped). */
        if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
                               XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
                n = BIO_get_mem_data(bio, &data);
                if (n > 0) {
                        size_t len = (size_t)n < EVD_KEYS_SUBJECT_MAX - 1
                                             ? (size_t)n
                                             : EVD_KEYS_SUBJECT_MAX - 1;

                        memcpy(out, data, len);
                        out[len] = '\0';
                }
        }
        BIO_free(bio);
        ERR_clear_error();
}

int evd_keys_cert_parse(const void *pem, size_t len, X509 **ret_cert, struct evd_err *err)
{
        BIO *bio;
        X509 *cert;

        if (len > EVD_KEYS_FILE_MAX)
                return evd_err_set(err, -EINVAL, "certificate too large");
        bio = BIO_new_mem_buf(pem, (int)len);
        if (!bio)
                return evd_err_set(err, -ENOMEM, "out of memory");
        cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
        if (!cert)
                return ssl_fail(err, -EINVAL, "not a PEM certificate");
        ERR_clear_error();
        *ret_cert = cert;
        return 0;
}

int evd_keys_cert_load(const char *path, X509 **ret_cert, struct evd_err *err)
{
        char *buf = NULL;
        size_t len = 0;
        int r;

        r = read_small_file(path, EVD_KEYS_FILE_MAX, &buf, &len, NULL, err);
        if (r < 0)
                return r;
        r = evd_keys_cert_parse(buf, len, ret_cert, err);
        free(buf);
        if (r < 0)
                return err_prefix(err, r, path);
        return 0;
}

/* Can this key make CMS signatures here? EC on the NIST prime curves, or RSA >= 2048. */
static int check_key_type(EVP_PKEY *pkey, struct evd_err *err)
{
        int type = EVP_PKEY_get_base_id(pkey);

        if (type == EVP_PKEY_EC) {
                char group[80];
                size_t glen = 0;
                int nid;

                if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                   sizeof(group), &glen) != 1)
                        return ssl_fail(err, -ENOTSUP, "EC key without a named curve");
                nid = OBJ_sn2nid(group);
                if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1 && nid != NID_secp521r1)
                        return evd_err_set(err, -ENOTSUP,
                                           "EC curve %s not supported (use P-256, P-384 or P-521)",
                                           group);
                return 0;
        }
        if (type == EVP_PKEY_RSA) {
                if (EVP_PKEY_get_bits(pkey) < 2048)
                        return evd_err_set(err, -ENOTSUP, "RSA key of %d bits is too short",
                                           EVP_PKEY_get_bits(pkey));
                return 0;
        }
        return evd_err_set(err, -ENOTSUP,
                           "key type %s cannot sign CMS here (OpenSSL 3.0 CMS needs EC or RSA; "
                           "Ed25519 does not work)",
                           OBJ_nid2sn(type));
}

int evd_keys_load(const char *key_path, const char *cert_path, struct evd_keys **ret_keys,
                  struct evd_err *err)
{
        struct evd_keys *keys;
        struct stat st = { 0 };
        char *buf = NULL;
        size_t len = 0;
        BIO *bio;
        int r;

        keys = calloc(1, sizeof(*keys));
        if (!keys)
                return evd_err_set(err, -ENOMEM, "out of memory");

        r = read_small_file(key_path, EVD_KEYS_FILE_MAX, &buf, &len, &st, err);
        if (r < 0)
                goto fail;
        if (st.st_mode & (S_IWGRP | S_IROTH | S_IWOTH)) {
                r = evd_err_set(err, -EPERM,
                                "%s: mode %04o lets others read or change the signing key "
                                "(chmod 0600 it)",
                                key_path, (unsigned)(st.st_mode & 07777));
                goto fail;
        }
        bio = BIO_new_mem_buf(buf, (int)len);
        if (!bio) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        keys->pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
        OPENSSL_cleanse(buf, len);
        free(buf);
        buf = NULL;
        if (!keys->pkey) {
                r = ssl_fail(err, -EINVAL, "not an unencrypted PEM private key");
                r = err_prefix(err, r, key_path);
                goto fail;
        }
        r = check_key_type(keys->pkey, err);
        if (r < 0) {
                r = err_prefix(err, r, key_path);
                goto fail;
        }

        r = evd_keys_cert_load(cert_path, &keys->cert, err);
        if (r < 0)
                goto fail;
        if (X509_check_private_key(keys->cert, keys->pkey) != 1) {
                ERR_clear_error();
                r = evd_err_set(err, -EINVAL, "%s does not belong to the key %s", cert_path,
                                key_path);
                goto fail;
        }
        if ((X509_get_extension_flags(keys->cert) & EXFLAG_KUSAGE) &&
            !(X509_get_key_usage(keys->cert) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))) {
                r = evd_err_set(err, -EINVAL, "%s: key usage does not allow digital signatures",
                                cert_path);
                goto fail;
        }
        r = cert_to_pem(keys->cert, &keys->cert_pem, &keys->cert_pem_len);
        if (r < 0) {
                r = evd_err_set(err, r, "cannot encode the certificate");
                goto fail;
        }
        ERR_clear_error();
        *ret_keys = keys;
        return 0;
fail:
        if (buf) {
                OPENSSL_cleanse(buf, len);
                free(buf);
        }
        evd_keys_free(keys);
        ERR_clear_error();
        return r;
}

void evd_keys_free(struct evd_keys *keys)
{
        if (!keys)
                return;
        EVP_PKEY_free(keys->pkey);
        X509_free(keys->cert);
        free(keys->cert_pem);
        free(keys);
}

X509 *evd_keys_cert(const struct evd_keys *keys)
{
        return keys->cert;
}

const char *evd_keys_cert_pem(const struct evd_keys *keys, size_t *ret_len)
{
        if (ret_len)
                *ret_len = keys->cert_pem_len;
        return keys->cert_pem;
}

/* ---- making a station identity ---- */

static bool path_exists(const char *path, int *ret_errno)
{
        struct stat st;

        if (lstat(path, &st) == 0)
                return true;
        *ret_errno = errno;
        return errno != ENOENT;
}

/* Write data to dir/name, which must not exist: a temporary file, synced, then
 * published (never replacing an existing file) and the directory synced. */
static int publish_new(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
                       struct evd_err *err)
{
        char tmp[PATH_BUF], final[PATH_BUF];
        bool named = false;
        int fd, r;

        if (evd_snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) < 0 ||
            evd_snprintf(final, sizeof(final), "%s/%s", dir, name) < 0)
                return evd_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                return evd_err_set(err, r, "%s: cannot create a file: %s", dir, strerror(-r));
        }
        r = fchmod(fd, mode) < 0 ? -errno : 0;
        if (r == 0)
                r = evd_write_full(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0)
                r = evd_publish(AT_FDCWD, tmp, final, &named);
        /* All or nothing: a file named but not synced into its directory goes too. */
        if (!named)
                (void)unlink(tmp);
        else if (r < 0)
                (void)unlink(final);
        if (r < 0)
                return evd_err_set(err, r, "%s: %s", final, strerror(-r));
        return 0;
}

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
        X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
        int ok;

        if (!ext)
                return -EIO;
        ok = X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
        return ok == 1 ? 0 : -EIO;
}

static X509 *make_cert(EVP_PKEY *pkey, const char *common_name, int64_t now)
{
        X509 *cert = X509_new();
        BIGNUM *serial = BN_new();
        X509V3_CTX ctx;
        X509_NAME *name;
        time_t t = (time_t)now;

        if (!cert || !serial)
                goto fail;
        if (X509_set_version(cert, X509_VERSION_3) != 1)
                goto fail;
        /* 127 random bits, top bit set: positive, 16 bytes of DER, never zero. */
        if (BN_rand(serial, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
            !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)))
                goto fail;
        name = X509_get_subject_name(cert);
        if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                       (const unsigned char *)common_name, -1, -1, 0) != 1 ||
            X509_set_issuer_name(cert, name) != 1)
                goto fail;
        if (!ASN1_TIME_set(X509_getm_notBefore(cert), t) ||
            !ASN1_TIME_adj(X509_getm_notAfter(cert), t, EVD_KEYS_VALID_DAYS, 0))
                goto fail;
        if (X509_set_pubkey(cert, pkey) != 1)
                goto fail;
        X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
        if (add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
            add_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature") < 0 ||
            add_ext(cert, &ctx, NID_subject_key_identifier, "hash") < 0 ||
            add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always") < 0)
                goto fail;
        if (X509_sign(cert, pkey, EVP_sha256()) <= 0)
                goto fail;
        BN_free(serial);
        return cert;
fail:
        BN_free(serial);
        X509_free(cert);
        return NULL;
}

/* Common name: UTF-8 text of 1..64 characters without control characters. */
static bool valid_common_name(const char *cn)
{
        size_t len = strlen(cn), chars = 0;

        if (len == 0 || !evd_name_is_utf8(cn, len))
                return false;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)cn[i];

                if (c < 0x20 || c == 0x7f)
                        return false;
                if ((c & 0xc0) != 0x80)
                        chars++;
        }
        return chars <= EVD_KEYS_CN_MAX;
}

int evd_keys_init(const char *dir, const char *common_name, int64_t now, struct evd_err *err)
{
        char key_path[PATH_BUF], cert_path[PATH_BUF];
        char *key_pem = NULL, *cert_pem = NULL;
        size_t key_len = 0, cert_len = 0;
        EVP_PKEY *pkey = NULL;
        X509 *cert = NULL;
        BIO *bio = NULL;
        int r, e = 0;

        if (!valid_common_name(common_name))
                return evd_err_set(err, -EINVAL,
                                   "station name must be 1 to %d characters of UTF-8 text",
                                   EVD_KEYS_CN_MAX);
        if (evd_snprintf(key_path, sizeof(key_path), "%s/%s", dir, EVD_KEYS_KEY_FILE) < 0 ||
            evd_snprintf(cert_path, sizeof(cert_path), "%s/%s", dir, EVD_KEYS_CERT_FILE) < 0)
                return evd_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                r = -errno;
                return evd_err_set(err, r, "%s: %s", dir, strerror(-r));
        }
        if (path_exists(key_path, &e) || path_exists(cert_path, &e)) {
                if (e && e != ENOENT)
                        return evd_err_set(err, -e, "%s: %s", dir, strerror(e));
                return evd_err_set(err, -EEXIST,
                                   "%s already holds a station key or certificate; "
                                   "refusing to replace it",
                                   dir);
        }

        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (!pkey) {
                r = ssl_fail(err, -EIO, "cannot generate an EC P-256 key");
                goto out;
        }
        cert = make_cert(pkey, common_name, now);
        if (!cert) {
                r = ssl_fail(err, -EIO, "cannot make the station certificate");
                goto out;
        }
        bio = BIO_new(BIO_s_secmem());
        if (!bio || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
            bio_take(bio, &key_pem, &key_len) < 0 || cert_to_pem(cert, &cert_pem, &cert_len) < 0) {
                r = ssl_fail(err, -EIO, "cannot encode the key and certificate");
                goto out;
        }

        r = publish_new(dir, EVD_KEYS_KEY_FILE, key_pem, key_len, 0600, err);
        if (r < 0)
                goto out;
        r = publish_new(dir, EVD_KEYS_CERT_FILE, cert_pem, cert_len, 0644, err);
        if (r < 0)
                (void)unlink(key_path);
out:
        if (key_pem) {
                OPENSSL_cleanse(key_pem, key_len);
                free(key_pem);
        }
        free(cert_pem);
        BIO_free(bio);
        X509_free(cert);
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return r;
}

/* ---- deterministic ECDSA (RFC 6979, section 3.2, with HMAC-SHA-256) ---- */

/* out = HMAC-SHA-256(key, a || sep || b || c), sep skipped when < 0. */
static int hmac4(const uint8_t key[HMAC_LEN], const uint8_t *a, size_t alen, int sep,
                 const uint8_t *b, size_t blen, const uint8_t *c, size_t clen,
                 uint8_t out[HMAC_LEN])
{
        uint8_t msg[HMAC_LEN + 1 + 2 * EC_BYTES_MAX];
        size_t n = 0, outlen = 0;

        if (alen + 1 + blen + clen > sizeof(msg))
                return -EINVAL;
        memcpy(msg + n, a, alen);
        n += alen;
        if (sep >= 0)
                msg[n++] = (uint8_t)sep;
        if (blen)
                memcpy(msg + n, b, blen);
        n += blen;
        if (clen)
                memcpy(msg + n, c, clen);
        n += clen;
        if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, HMAC_LEN, msg, n, out, HMAC_LEN,
                       &outlen) ||
            outlen != HMAC_LEN) {
                OPENSSL_cleanse(msg, sizeof(msg));
                return -EIO;
        }
        OPENSSL_cleanse(msg, sizeof(msg));
        return 0;
}

/* bits2int: the leftmost qlen bits of len bytes, as an integer. */
static int bits2int(BIGNUM *out, const uint8_t *in, size_t len, int qlen)
{
        if (!BN_bin2bn(in, (int)len, out))
                return -ENOMEM;
        if ((int)(len * 8) > qlen && !BN_rshift(out, out, (int)(len * 8) - qlen))
                return -ENOMEM;
        return 0;
}

/* The nonce generator of RFC 6979 3.2 (HMAC_DRBG with HMAC-SHA-256), seeded with the
 * private key and the message. */
struct nonce_gen {
        uint8_t K[HMAC_LEN], V[HMAC_LEN];
        int qlen;   /* bits of the group order */
        int rounds; /* candidates made so far */
};

/* Steps b to g: seed from x octets and h1 octets (rolen bytes each). */
static int nonce_init(struct nonce_gen *g, const uint8_t *xo, const uint8_t *ho, size_t rolen,
                      int qlen)
{
        g->qlen = qlen;
        g->rounds = 0;
        memset(g->V, 0x01, sizeof(g->V));
        memset(g->K, 0x00, sizeof(g->K));
        if (hmac4(g->K, g->V, HMAC_LEN, 0x00, xo, rolen, ho, rolen, g->K) < 0 ||
            hmac4(g->K, g->V, HMAC_LEN, -1, NULL, 0, NULL, 0, g->V) < 0 ||
            hmac4(g->K, g->V, HMAC_LEN, 0x01, xo, rolen, ho, rolen, g->K) < 0 ||
            hmac4(g->K, g->V, HMAC_LEN, -1, NULL, 0, NULL, 0, g->V) < 0)
                return -EIO;
        return 0;
}

/* Step h: the next nonce 1 <= k < q into k. Every call but the first first moves the
 * generator on (K = HMAC_K(V || 0x00), V = HMAC_K(V)), as a candidate out of range or
 * a signature with r or s zero asks. -EIO after RFC6979_ROUNDS candidates. */
static int nonce_next(struct nonce_gen *g, const BIGNUM *q, BIGNUM *k)
{
        uint8_t T[3 * HMAC_LEN];
        int r = -EIO;

        while (g->rounds < RFC6979_ROUNDS) {
                size_t tlen = 0;

                if (g->rounds++ > 0 &&
                    (hmac4(g->K, g->V, HMAC_LEN, 0x00, NULL, 0, NULL, 0, g->K) < 0 ||
                     hmac4(g->K, g->V, HMAC_LEN, -1, NULL, 0, NULL, 0, g->V) < 0))
                        break;
                while (tlen * 8 < (size_t)g->qlen) {
                        if (hmac4(g->K, g->V, HMAC_LEN, -1, NULL, 0, NULL, 0, g->V) < 0)
                                goto out;
                        memcpy(T + tlen, g->V, HMAC_LEN);
                        tlen += HMAC_LEN;
                }
                if (bits2int(k, T, tlen, g->qlen) < 0)
                        break;
                if (!BN_is_zero(k) && BN_cmp(k, q) < 0) {
                        r = 0;
                        break;
                }
        }
out:
        OPENSSL_cleanse(T, sizeof(T));
        return r;
}

/* An EC private key taken apart: its group, order and secret scalar. */
struct ec_priv {
        EC_GROUP *group;
        const BIGNUM *q; /* borrowed from group */
        BIGNUM *x;       /* cleared when freed */
        int qlen;
        size_t rolen; /* bytes of the order */
};

static void ec_priv_free(struct ec_priv *key)
{
        EC_GROUP_free(key->group);
        BN_clear_free(key->x);
}

/* -EINVAL (err set) when pkey is not an EC private key; -EIO when it is an unusable
 * one. key is filled as far as it got: free it with ec_priv_free. */
static int ec_priv_get(EVP_PKEY *pkey, struct ec_priv *key, struct evd_err *err)
{
        char gname[80];
        size_t glen = 0;

        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
            EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, gname, sizeof(gname),
                                           &glen) != 1 ||
            EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &key->x) != 1) {
                ERR_clear_error();
                return evd_err_set(err, -EINVAL, "not an EC private key");
        }
        key->group = EC_GROUP_new_by_curve_name(OBJ_sn2nid(gname));
        if (!key->group)
                return -EIO;
        key->q = EC_GROUP_get0_order(key->group);
        key->qlen = BN_num_bits(key->q);
        key->rolen = (size_t)(key->qlen + 7) / 8;
        if (key->rolen > EC_BYTES_MAX || BN_cmp(key->x, key->q) >= 0)
                return -EIO;
        return 0;
}

/* r = (kG).x mod q; s = k^-1 (e + x r) mod q, with k^-1 = k^(q-2) in constant time.
 * 0, 1 when r or s came out zero (take the next nonce), or -EIO. */
static int sign_with(const struct ec_priv *key, const BIGNUM *e, BIGNUM *k, BIGNUM *r, BIGNUM *s,
                     BN_CTX *ctx)
{
        EC_POINT *R = EC_POINT_new(key->group);
        BIGNUM *rx = BN_new(), *qm2 = BN_new(), *kinv = BN_secure_new(), *t = BN_secure_new();
        int rc = -EIO;

        if (!R || !rx || !qm2 || !kinv || !t || !BN_copy(qm2, key->q) || !BN_sub_word(qm2, 2))
                goto out;
        BN_set_flags(k, BN_FLG_CONSTTIME);
        if (!EC_POINT_mul(key->group, R, k, NULL, NULL, ctx) ||
            !EC_POINT_get_affine_coordinates(key->group, R, rx, NULL, ctx) ||
            !BN_nnmod(r, rx, key->q, ctx) ||
            !BN_mod_exp_mont_consttime(kinv, k, qm2, key->q, ctx, NULL) ||
            !BN_mod_mul(t, key->x, r, key->q, ctx) || !BN_mod_add(t, t, e, key->q, ctx) ||
            !BN_mod_mul(s, kinv, t, key->q, ctx))
                goto out;
        rc = BN_is_zero(r) || BN_is_zero(s) ? 1 : 0;
out:
        EC_POINT_free(R);
        BN_free(rx);
        BN_free(qm2);
        BN_clear_free(kinv);
        BN_clear_free(t);
        return rc;
}

/* The DER ECDSA-Sig-Value of (r, s), taking them, into a malloc'd *ret_sig. */
static int sig_der(BIGNUM *r, BIGNUM *s, uint8_t **ret_sig, size_t *ret_len)
{
        ECDSA_SIG *sig = ECDSA_SIG_new();
        unsigned char *der = NULL;
        int n, rc = -EIO;

        if (!sig || ECDSA_SIG_set0(sig, r, s) != 1) {
                ECDSA_SIG_free(sig);
                BN_free(r);
                BN_free(s);
                return -EIO;
        }
        n = i2d_ECDSA_SIG(sig, &der);
        if (n > 0) {
                *ret_sig = malloc((size_t)n);
                rc = *ret_sig ? 0 : -ENOMEM;
        }
        if (rc == 0) {
                memcpy(*ret_sig, der, (size_t)n);
                *ret_len = (size_t)n;
        }
        OPENSSL_free(der);
        ECDSA_SIG_free(sig);
        return rc;
}

int evd_keys_ecdsa_sign(EVP_PKEY *pkey, const uint8_t *digest, size_t digest_len, uint8_t **ret_sig,
                        size_t *ret_len, struct evd_err *err)
{
        struct ec_priv key = { 0 };
        struct nonce_gen g = { 0 };
        uint8_t xo[EC_BYTES_MAX], ho[EC_BYTES_MAX];
        BIGNUM *e = BN_new(), *k = BN_secure_new(), *r = BN_new(), *s = BN_new();
        BN_CTX *ctx = BN_CTX_secure_new();
        int rc;

        rc = ec_priv_get(pkey, &key, err);
        if (rc == -EINVAL)
                goto out;
        if (digest_len == 0 || digest_len > 2 * EC_BYTES_MAX) {
                rc = evd_err_set(err, -EINVAL, "bad digest length %zu", digest_len);
                goto out;
        }
        if (rc < 0 || !e || !k || !r || !s || !ctx) {
                rc = -EIO;
                goto out;
        }
        /* e = bits2int(H(m)); h1 octets = int2octets(e mod q); x octets = int2octets(x). */
        rc = -EIO;
        if (bits2int(e, digest, digest_len, key.qlen) < 0 ||
            (BN_cmp(e, key.q) >= 0 && !BN_sub(e, e, key.q)) ||
            BN_bn2binpad(key.x, xo, (int)key.rolen) < 0 ||
            BN_bn2binpad(e, ho, (int)key.rolen) < 0 ||
            nonce_init(&g, xo, ho, key.rolen, key.qlen) < 0)
                goto out;
        do {
                rc = nonce_next(&g, key.q, k);
                if (rc == 0)
                        rc = sign_with(&key, e, k, r, s, ctx);
        } while (rc == 1);
        if (rc == 0) {
                rc = sig_der(r, s, ret_sig, ret_len);
                r = s = NULL; /* taken by sig_der */
        }
out:
        OPENSSL_cleanse(&g, sizeof(g));
        OPENSSL_cleanse(xo, sizeof(xo));
        ec_priv_free(&key);
        BN_clear_free(k);
        BN_free(e);
        BN_free(r);
        BN_free(s);
        BN_CTX_free(ctx);
        if (rc == -EINVAL)
                return rc;
        if (rc < 0 && rc != -ENOMEM)
                return ssl_fail(err, rc, "ECDSA signing failed");
        if (rc < 0)
                return evd_err_set(err, rc, "out of memory");
        ERR_clear_error();
        return 0;
}

/* ---- CMS ---- */

int evd_keys_cms_sign(const struct evd_keys *keys, const void *data, size_t len, uint8_t **ret_der,
                      size_t *ret_len, struct evd_err *err)
{
        const unsigned int flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL;
        CMS_ContentInfo *cms = NULL;
        CMS_SignerInfo *si;
        uint8_t *sig = NULL, *der = NULL, *p;
        size_t sig_len = 0;
        BIO *in = NULL;
        int r, n;

        if (len > INT_MAX)
                return evd_err_set(err, -EFBIG, "content too large to sign");
        in = BIO_new_mem_buf(data, (int)len);
        cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
        if (!in || !cms) {
                r = ssl_fail(err, -EIO, "cannot start a CMS signature");
                goto out;
        }
        /* No signed attributes: no signing time, so the same content gives the same
         * signature; the signature then covers the content's digest directly. */
        si = CMS_add1_signer(cms, keys->cert, keys->pkey, EVP_sha256(), flags | CMS_NOATTR);
        if (!si || CMS_final(cms, in, NULL, CMS_DETACHED | CMS_BINARY) != 1) {
                r = ssl_fail(err, -EIO, "CMS signing failed");
                goto out;
        }
        if (EVP_PKEY_get_base_id(keys->pkey) == EVP_PKEY_EC) {
                /* Replace OpenSSL's randomised ECDSA value by the RFC 6979 one. */
                uint8_t md[EVP_MAX_MD_SIZE];
                unsigned int md_len = 0;
                ASN1_OCTET_STRING *os = CMS_SignerInfo_get0_signature(si);

                if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 || !os) {
                        r = ssl_fail(err, -EIO, "SHA-256 failed");
                        goto out;
                }
                r = evd_keys_ecdsa_sign(keys->pkey, md, md_len, &sig, &sig_len, err);
                if (r < 0)
                        goto out;
                if (ASN1_STRING_set(os, sig, (int)sig_len) != 1) {
                        r = ssl_fail(err, -ENOMEM, "out of memory");
                        goto out;
                }
        }
        n = i2d_CMS_ContentInfo(cms, NULL);
        if (n <= 0) {
                r = ssl_fail(err, -EIO, "cannot encode the CMS signature");
                goto out;
        }
        der = malloc((size_t)n);
        if (!der) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        p = der;
        if (i2d_CMS_ContentInfo(cms, &p) != n) {
                r = ssl_fail(err, -EIO, "cannot encode the CMS signature");
                goto out;
        }
        /* Never hand out a signature that does not check. */
        r = evd_keys_cms_verify(der, (size_t)n, data, len, keys->cert, NULL, err);
        if (r < 0) {
                r = err_prefix(err, -EIO, "the signature just made does not verify");
                goto out;
        }
        *ret_der = der;
        *ret_len = (size_t)n;
        der = NULL;
        r = 0;
out:
        free(der);
        free(sig);
        CMS_ContentInfo_free(cms);
        BIO_free(in);
        ERR_clear_error();
        return r;
}

int evd_keys_cms_signer(const uint8_t *der, size_t der_len, X509 **ret)
{
        const unsigned char *p = der;
        CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
        STACK_OF(X509) *certs = cms ? CMS_get1_certs(cms) : NULL;
        int r = -EBADMSG;

        if (certs && sk_X509_num(certs) > 0) {
                *ret = sk_X509_value(certs, 0);
                (void)X509_up_ref(*ret);
                r = 0;
        }
        sk_X509_pop_free(certs, X509_free);
        CMS_ContentInfo_free(cms);
        return r;
}

int evd_keys_cms_verify(const uint8_t *der, size_t der_len, const void *data, size_t len,
                        X509 *trusted, char signer_subject[EVD_KEYS_SUBJECT_MAX],
                        struct evd_err *err)
{
        const unsigned char *p = der;
        CMS_ContentInfo *cms = NULL;
        X509_STORE *store = NULL;
        STACK_OF(X509) *signers = NULL;
        ASN1_OCTET_STRING **content;
        BIO *in = NULL;
        int r;

        if (der_len > INT_MAX || len > INT_MAX)
                return evd_err_set(err, -EFBIG, "signature or content too large");
        cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
        if (!cms || p != der + der_len) {
                r = ssl_fail(err, -EINVAL, "not a DER CMS signature");
                goto out;
        }
        content = CMS_get0_content(cms);
        if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed || !content || *content) {
                r = evd_err_set(err, -EINVAL, "not a detached CMS SignedData");
                goto out;
        }
        store = X509_STORE_new();
        in = BIO_new_mem_buf(data, (int)len);
        if (!store || !in || X509_STORE_add_cert(store, trusted) != 1) {
                r = ssl_fail(err, -ENOMEM, "out of memory");
                goto out;
        }
        /* Trust exactly this certificate, even when it is not a self-signed root; do not
         * reject it for having expired since the signing, nor for its purposes. */
        (void)X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME);
        (void)X509_STORE_set_purpose(store, X509_PURPOSE_ANY);
        if (CMS_verify(cms, NULL, store, in, NULL, CMS_BINARY) != 1) {
                r = ssl_fail(err, -EBADMSG, "signature does not verify");
                goto out;
        }
        if (signer_subject) {
                signers = CMS_get0_signers(cms);
                signer_subject[0] = '\0';
                if (signers && sk_X509_num(signers) > 0)
                        evd_keys_subject(sk_X509_value(signers, 0), signer_subject);
        }
        r = 0;
out:
        sk_X509_free(signers);
        BIO_free(in);
        X509_STORE_free(store);
        CMS_ContentInfo_free(cms);
        ERR_clear_error();
        return r;
}
