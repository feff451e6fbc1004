/* Unit tests of keys: station identity, loading, RFC 6979 ECDSA, CMS signatures checked
 * by the openssl command-line tool. Fixtures are made at test time in a mkdtemp dir. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "keys.h"

#define NOW 1795000000 /* 2026-11-18 */

struct fix {
        char dir[128];
};

static int setup(void **state)
{
        struct fix *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "%s/evd-keys-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(f->dir)) {
                free(f);
                return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fix *f = *state;
        char cmd[256];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static void path(const struct fix *f, char *out, size_t n, const char *fmt, ...)
{
        char rel[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(rel, sizeof(rel), fmt, ap);
        va_end(ap);
        assert_true((size_t)snprintf(out, n, "%s/%s", f->dir, rel) < n);
}

/* Run a shell command; returns its exit status. */
static int run(const char *fmt, ...)
{
        char cmd[2048];
        va_list ap;
        int st;

        va_start(ap, fmt);
        assert_true((size_t)vsnprintf(cmd, sizeof(cmd), fmt, ap) < sizeof(cmd));
        va_end(ap);
        st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static size_t slurp(const char *p, char *buf, size_t n)
{
        FILE *fp = fopen(p, "rb");
        size_t got;

        assert_non_null(fp);
        got = fread(buf, 1, n, fp);
        fclose(fp);
        return got;
}

static void spit(const char *p, const void *data, size_t n)
{
        FILE *fp = fopen(p, "wb");

        assert_non_null(fp);
        assert_int_equal(fwrite(data, 1, n, fp), n);
        assert_int_equal(fclose(fp), 0);
}

static struct evd_keys *init_and_load(const char *dir, const char *cn)
{
        char kp[512], cp[512];
        struct evd_keys *keys = NULL;
        struct evd_err err = { 0 };

        assert_int_equal(evd_keys_init(dir, cn, NOW, &err), 0);
        snprintf(kp, sizeof(kp), "%s/%s", dir, EVD_KEYS_KEY_FILE);
        snprintf(cp, sizeof(cp), "%s/%s", dir, EVD_KEYS_CERT_FILE);
        assert_int_equal(evd_keys_load(kp, cp, &keys, &err), 0);
        assert_non_null(keys);
        return keys;
}

static void test_init_makes_key_and_cert(void **state)
{
        struct fix *f = *state;
        char dir[256], kp[512], cp[512], subj[EVD_KEYS_SUBJECT_MAX], fp[EVD_SHA256_HEX];
        struct evd_keys *keys;
        struct stat st;
        int days = -1, secs = -1;
        X509 *cert;

        path(f, dir, sizeof(dir), "keys");
        keys = init_and_load(dir, "执法记录仪证据站 01");
        snprintf(kp, sizeof(kp), "%s/%s", dir, EVD_KEYS_KEY_FILE);
        snprintf(cp, sizeof(cp), "%s/%s", dir, EVD_KEYS_CERT_FILE);

        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(stat(kp, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(stat(cp, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);

        cert = evd_keys_cert(keys);
        assert_true(X509_get_extension_flags(cert) & EXFLAG_KUSAGE);
        assert_int_equal(X509_get_key_usage(cert), KU_DIGITAL_SIGNATURE);
        assert_int_equal(X509_check_ca(cert), 0);
        assert_int_equal(
                ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)),
                1);
        assert_int_equal(days, EVD_KEYS_VALID_DAYS);
        assert_int_equal(secs, 0);
        assert_int_equal(X509_cmp_time(X509_get0_notBefore(cert), &(time_t){ NOW - 1 }), 1);
        assert_int_equal(X509_cmp_time(X509_get0_notBefore(cert), &(time_t){ NOW + 1 }), -1);
        evd_keys_subject(cert, subj);
        assert_string_equal(subj, "CN=执法记录仪证据站 01");
        assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(cert)), 256);

        /* Tools we did not write agree: the key is a valid P-256 key, the certificate
         * says so, and its fingerprint is ours. */
        assert_int_equal(run("openssl pkey -in '%s' -noout -check >/dev/null 2>&1", kp), 0);
        assert_int_equal(
                run("openssl x509 -in '%s' -noout -text | grep -q 'Digital Signature'", cp), 0);
        assert_int_equal(run("openssl x509 -in '%s' -noout -text | grep -q 'prime256v1'", cp), 0);
        evd_keys_fingerprint(cert, fp);
        assert_int_equal(run("openssl x509 -in '%s' -noout -fingerprint -sha256 | tr -d : | "
                             "tr A-F a-f | grep -q '=%s$'",
                             cp, fp),
                         0);
        evd_keys_free(keys);
}

static void test_init_refuses_to_overwrite(void **state)
{
        struct fix *f = *state;
        char dir[256], kp[512], cp[512], before[4096], after[4096];
        struct evd_err err = { 0 };
        size_t n1, n2;

        path(f, dir, sizeof(dir), "k");
        assert_int_equal(evd_keys_init(dir, "station", NOW, &err), 0);
        snprintf(kp, sizeof(kp), "%s/%s", dir, EVD_KEYS_KEY_FILE);
        snprintf(cp, sizeof(cp), "%s/%s", dir, EVD_KEYS_CERT_FILE);
        n1 = slurp(kp, before, sizeof(before));

        assert_int_equal(evd_keys_init(dir, "station", NOW, &err), -EEXIST);
        assert_int_equal(err.code, -EEXIST);
        assert_non_null(strstr(err.text, "refusing"));
        n2 = slurp(kp, after, sizeof(after));
        assert_int_equal(n1, n2);
        assert_memory_equal(before, after, n1);

        /* Only the certificate left: still refused, and no key is made beside it. */
        assert_int_equal(unlink(kp), 0);
        assert_int_equal(evd_keys_init(dir, "station", NOW, &err), -EEXIST);
        assert_int_equal(access(kp, F_OK), -1);
        /* Nothing left behind in the directory but the certificate. */
        assert_int_equal(run("test $(ls -A '%s' | wc -l) -eq 1", dir), 0);
        (void)cp;
}

static void test_init_bad_names(void **state)
{
        struct fix *f = *state;
        char dir[256], long_cn[80];
        struct evd_err err = { 0 };

        path(f, dir, sizeof(dir), "bad");
        assert_int_equal(evd_keys_init(dir, "", NOW, &err), -EINVAL);
        assert_int_equal(evd_keys_init(dir, "a\nb", NOW, &err), -EINVAL);
        assert_int_equal(evd_keys_init(dir, "bad\xff", NOW, &err), -EINVAL);
        memset(long_cn, 'x', 65);
        long_cn[65] = '\0';
        assert_int_equal(evd_keys_init(dir, long_cn, NOW, &err), -EINVAL);
        long_cn[64] = '\0';
        assert_int_equal(evd_keys_init(dir, long_cn, NOW, &err), 0);
}

static void test_load_mismatch_and_errors(void **state)
{
        struct fix *f = *state;
        char a[256], b[256], ka[512], cb[512], p[512], p2[512];
        struct evd_keys *keys = NULL;
        struct evd_err err = { 0 };

        path(f, a, sizeof(a), "a");
        path(f, b, sizeof(b), "b");
        assert_int_equal(evd_keys_init(a, "A", NOW, &err), 0);
        assert_int_equal(evd_keys_init(b, "B", NOW, &err), 0);
        snprintf(ka, sizeof(ka), "%s/%s", a, EVD_KEYS_KEY_FILE);
        snprintf(cb, sizeof(cb), "%s/%s", b, EVD_KEYS_CERT_FILE);

        assert_int_equal(evd_keys_load(ka, cb, &keys, &err), -EINVAL);
        assert_null(keys);
        assert_non_null(strstr(err.text, "does not belong"));

        path(f, p, sizeof(p), "missing.pem");
        assert_int_equal(evd_keys_load(p, cb, &keys, &err), -ENOENT);
        assert_int_equal(evd_keys_load(ka, p, &keys, &err), -ENOENT);

        path(f, p, sizeof(p), "garbage.pem");
        spit(p, "not a key\n", 10);
        assert_int_equal(chmod(p, 0600), 0);
        assert_int_equal(evd_keys_load(p, cb, &keys, &err), -EINVAL);
        assert_int_equal(evd_keys_load(ka, p, &keys, &err), -EINVAL);

        /* A key others can read is refused. */
        assert_int_equal(chmod(ka, 0644), 0);
        snprintf(p2, sizeof(p2), "%s/%s", a, EVD_KEYS_CERT_FILE);
        assert_int_equal(evd_keys_load(ka, p2, &keys, &err), -EPERM);
        assert_non_null(strstr(err.text, "0644"));
        assert_int_equal(chmod(ka, 0640), 0);
        assert_int_equal(evd_keys_load(ka, p2, &keys, &err), 0);
        evd_keys_free(keys);
        keys = NULL;

        /* An encrypted key is an error, not a passphrase prompt. */
        path(f, p, sizeof(p), "enc.pem");
        assert_int_equal(run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
                             "-aes256 -pass pass:secret -out '%s' 2>/dev/null </dev/null && "
                             "chmod 600 '%s'",
                             p, p),
                         0);
        assert_int_equal(evd_keys_load(p, p2, &keys, &err), -EINVAL);

        /* Ed25519 cannot sign CMS in OpenSSL 3.0; a short RSA key is too weak. */
        path(f, p, sizeof(p), "ed.key");
        path(f, p2, sizeof(p2), "ed.crt");
        assert_int_equal(run("openssl req -x509 -newkey ed25519 -nodes -keyout '%s' -out '%s' "
                             "-subj /CN=ed -days 30 2>/dev/null && chmod 600 '%s'",
                             p, p2, p),
                         0);
        assert_int_equal(evd_keys_load(p, p2, &keys, &err), -ENOTSUP);
        assert_non_null(strstr(err.text, "ED25519"));
        path(f, p, sizeof(p), "rsa1024.key");
        path(f, p2, sizeof(p2), "rsa1024.crt");
        assert_int_equal(run("openssl req -x509 -newkey rsa:1024 -nodes -keyout '%s' -out '%s' "
                             "-subj /CN=r -days 30 2>/dev/null && chmod 600 '%s'",
                             p, p2, p),
                         0);
        assert_int_equal(evd_keys_load(p, p2, &keys, &err), -ENOTSUP);

        /* A certificate whose key usage forbids signing. */
        path(f, p, sizeof(p), "ke.key");
        path(f, p2, sizeof(p2), "ke.crt");
        assert_int_equal(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                             "-nodes -keyout '%s' -out '%s' -subj /CN=k -days 30 "
                             "-addext keyUsage=critical,keyAgreement 2>/dev/null && chmod 600 '%s'",
                             p, p2, p),
                         0);
        assert_int_equal(evd_keys_load(p, p2, &keys, &err), -EINVAL);
        assert_non_null(strstr(err.text, "key usage"));
        assert_null(keys);
}

/* RFC 6979 A.2.5: P-256, SHA-256, messages "sample" and "test". */
static EVP_PKEY *rfc6979_key(void)
{
        static const char x_hex[] =
                "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721";
        static const char pub_hex[] =
                "0460FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
                "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299";
        unsigned char pub[65];
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM *params;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        EVP_PKEY *pkey = NULL;
        BIGNUM *x = NULL;

        assert_non_null(bld);
        assert_non_null(ctx);
        assert_int_equal(evd_unhex(pub_hex, pub, sizeof(pub)), 0);
        assert_true(BN_hex2bn(&x, x_hex) > 0);
        assert_int_equal(
                OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0),
                1);
        assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, x), 1);
        assert_int_equal(
                OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)),
                1);
        params = OSSL_PARAM_BLD_to_param(bld);
        assert_non_null(params);
        assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
        assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params), 1);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(bld);
        EVP_PKEY_CTX_free(ctx);
        BN_free(x);
        return pkey;
}

static void check_vector_md(EVP_PKEY *pkey, const EVP_MD *mdtype, const char *msg,
                            const char *r_hex, const char *s_hex)
{
        uint8_t md[EVP_MAX_MD_SIZE], *sig = NULL;
        const unsigned char *p;
        unsigned int mdlen = 0;
        size_t siglen = 0;
        struct evd_err err = { 0 };
        const BIGNUM *r, *s;
        ECDSA_SIG *es;
        char *rh, *sh;

        assert_int_equal(EVP_Digest(msg, strlen(msg), md, &mdlen, mdtype, NULL), 1);
        assert_int_equal(evd_keys_ecdsa_sign(pkey, md, mdlen, &sig, &siglen, &err), 0);
        p = sig;
        es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
        assert_non_null(es);
        ECDSA_SIG_get0(es, &r, &s);
        rh = BN_bn2hex(r);
        sh = BN_bn2hex(s);
        /* BN_bn2hex drops leading zero bytes: compare as numbers. */
        assert_string_equal(rh, r_hex[0] == '0' && r_hex[1] == '0' ? r_hex + 2 : r_hex);
        assert_string_equal(sh, s_hex[0] == '0' && s_hex[1] == '0' ? s_hex + 2 : s_hex);
        OPENSSL_free(rh);
        OPENSSL_free(sh);
        ECDSA_SIG_free(es);
        free(sig);
}

static void check_vector(EVP_PKEY *pkey, const char *msg, const char *r_hex, const char *s_hex)
{
        check_vector_md(pkey, EVP_sha256(), msg, r_hex, s_hex);
}

static void test_rfc6979_vectors(void **state)
{
        EVP_PKEY *pkey = rfc6979_key();
        struct evd_err err = { 0 };
        uint8_t md[32] = { 0 }, *sig = NULL;
        size_t siglen;

        (void)state;
        check_vector(pkey, "sample",
                     "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
                     "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8");
        check_vector(pkey, "test",
                     "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
                     "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083");
        /* A digest shorter than the order, and one longer (bits2int truncates it), the
         * nonces still from HMAC-SHA-256 (RFC 6979's own vectors for these hashes use
         * HMAC with the same hash): answers of an independent Python implementation of
         * RFC 6979 3.2 that reproduces the vectors above. */
        check_vector_md(pkey, EVP_sha1(), "sample",
                        "3EB8DDC0AC1950F0B92A1456308BC78543A8A76FEE7E30CB95DD85EC5C92A6A6",
                        "D959BAE95C09890E31B848DA6ACB2B43E78CA545858900B67743EF3650061EF6");
        check_vector_md(pkey, EVP_sha512(), "sample",
                        "962705D612647B04822C6060F31270F4B4CD703F6BA8FC1308C2A562EE600FC0",
                        "AF713DC0B1A1423422198A0EDBCE3B096F25C8E47D80988880FF472E579AB61F");
        EVP_PKEY_free(pkey);

        /* Not an EC key. */
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        assert_non_null(pkey);
        assert_int_equal(evd_keys_ecdsa_sign(pkey, md, sizeof(md), &sig, &siglen, &err), -EINVAL);
        EVP_PKEY_free(pkey);
}

/* Sign with our code, check with `openssl cms -verify` and with ours. */
static void sign_and_check(struct fix *f, struct evd_keys *keys, const char *cert_path)
{
        static const char content[] = "abc  data/R1/x.mp4\n\x01\xff binary too\r\n";
        uint8_t *der = NULL, *der2 = NULL;
        size_t len = 0, len2 = 0;
        struct evd_err err = { 0 };
        char sig_p[512], content_p[512], subj[EVD_KEYS_SUBJECT_MAX];

        assert_int_equal(evd_keys_cms_sign(keys, content, sizeof(content) - 1, &der, &len, &err),
                         0);
        path(f, sig_p, sizeof(sig_p), "sig.p7s");
        path(f, content_p, sizeof(content_p), "content.bin");
        spit(sig_p, der, len);
        spit(content_p, content, sizeof(content) - 1);
        assert_int_equal(run("openssl cms -verify -binary -inform DER -in '%s' -content '%s' "
                             "-CAfile '%s' -purpose any -out /dev/null 2>/dev/null",
                             sig_p, content_p, cert_path),
                         0);
        /* The tool also refuses other content. */
        spit(content_p, "abd", 3);
        assert_int_not_equal(run("openssl cms -verify -binary -inform DER -in '%s' -content '%s' "
                                 "-CAfile '%s' -purpose any -out /dev/null 2>/dev/null",
                                 sig_p, content_p, cert_path),
                             0);

        /* Deterministic: the same content signs to the same bytes. */
        assert_int_equal(evd_keys_cms_sign(keys, content, sizeof(content) - 1, &der2, &len2, &err),
                         0);
        assert_int_equal(len, len2);
        assert_memory_equal(der, der2, len);

        assert_int_equal(evd_keys_cms_verify(der, len, content, sizeof(content) - 1,
                                             evd_keys_cert(keys), subj, &err),
                         0);
        assert_int_equal(strncmp(subj, "CN=", 3), 0);
        assert_int_equal(evd_keys_cms_verify(der, len, content, sizeof(content) - 2,
                                             evd_keys_cert(keys), NULL, &err),
                         -EBADMSG);
        der[len - 1] ^= 0x01;
        assert_int_not_equal(evd_keys_cms_verify(der, len, content, sizeof(content) - 1,
                                                 evd_keys_cert(keys), NULL, &err),
                             0);
        assert_int_equal(evd_keys_cms_verify((const uint8_t *)"junk", 4, content, 3,
                                             evd_keys_cert(keys), NULL, &err),
                         -EINVAL);
        free(der);
        free(der2);
}

static void test_cms_ecdsa(void **state)
{
        struct fix *f = *state;
        char a[256], b[256], cp[512];
        struct evd_keys *ka, *kb;
        struct evd_err err = { 0 };
        uint8_t *der = NULL;
        size_t len = 0;

        path(f, a, sizeof(a), "a");
        path(f, b, sizeof(b), "b");
        ka = init_and_load(a, "station A");
        kb = init_and_load(b, "station B");
        snprintf(cp, sizeof(cp), "%s/%s", a, EVD_KEYS_CERT_FILE);
        sign_and_check(f, ka, cp);

        /* Signed by A, checked against B's certificate: refused. */
        assert_int_equal(evd_keys_cms_sign(ka, "x", 1, &der, &len, &err), 0);
        assert_int_equal(evd_keys_cms_verify(der, len, "x", 1, evd_keys_cert(kb), NULL, &err),
                         -EBADMSG);
        free(der);
        evd_keys_free(ka);
        evd_keys_free(kb);
}

static void test_cms_rsa(void **state)
{
        struct fix *f = *state;
        char kp[512], cp[512];
        struct evd_keys *keys = NULL;
        struct evd_err err = { 0 };

        path(f, kp, sizeof(kp), "org.key");
        path(f, cp, sizeof(cp), "org.crt");
        assert_int_equal(run("openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' "
                             "-subj '/CN=某区执法局' -days 30 "
                             "-addext keyUsage=critical,digitalSignature 2>/dev/null && "
                             "chmod 600 '%s'",
                             kp, cp, kp),
                         0);
        assert_int_equal(evd_keys_load(kp, cp, &keys, &err), 0);
        sign_and_check(f, keys, cp);
        evd_keys_free(keys);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_init_makes_key_and_cert, setup, teardown),
                cmocka_unit_test_setup_teardown(test_init_refuses_to_overwrite, setup, teardown),
                cmocka_unit_test_setup_teardown(test_init_bad_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_mismatch_and_errors, setup, teardown),
                cmocka_unit_test(test_rfc6979_vectors),
                cmocka_unit_test_setup_teardown(test_cms_ecdsa, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cms_rsa, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
