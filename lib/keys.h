/* keys: the station's signing key and certificate, and the CMS signatures made with them.
 *
 * A station signs what it hands out (disc images, audit checkpoints) with a key of its
 * own: an ECDSA P-256 key and a self-signed X.509 certificate made once by
 * evd_keys_init, kept in STATE_DIR/keys/. An organisation may configure its own key and
 * certificate ([signing] key, cert) instead; evd_keys_load takes either. Signatures are
 * CMS (RFC 5652) SignedData, detached, DER, so that `openssl cms -verify` checks them on
 * any machine without evidock.
 *
 * Signatures are deterministic: ECDSA nonces come from RFC 6979 (OpenSSL 3.0 has no
 * deterministic ECDSA of its own) and the SignerInfo carries no signed attributes (no
 * signing time), so the same content signed with the same key gives the same bytes and
 * a disc image rebuilt from the same input is byte-identical. RSA keys (PKCS #1 v1.5)
 * are deterministic by nature. Ed25519 cannot sign CMS in OpenSSL 3.0 and is refused.
 *
 * Errors: -errno, with a user-facing message in struct evd_err. Nothing is printed.
 * The OpenSSL error queue is left empty on return. */
#ifndef EVD_KEYS_H
#define EVD_KEYS_H

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "util.h"

#define EVD_KEYS_KEY_FILE "station.key"  /* PEM, mode 0600 */
#define EVD_KEYS_CERT_FILE "station.crt" /* PEM, mode 0644 */
#define EVD_KEYS_VALID_DAYS 3653         /* ten years, with two leap days */
#define EVD_KEYS_CN_MAX 64               /* X.509 upper bound of a common name */
#define EVD_KEYS_FILE_MAX (256 * 1024)   /* largest key or certificate file read */
#define EVD_KEYS_SUBJECT_MAX 256

/* A loaded key and its certificate. Opaque; free with evd_keys_free. */
struct evd_keys;

/* Make a new station identity in dir (created with mode 0700 if missing): an ECDSA
 * P-256 private key, PEM (PKCS #8), in dir/station.key with mode 0600, and a
 * self-signed certificate, PEM, in dir/station.crt: subject CN=common_name (UTF-8,
 * 1..64 characters), valid from now for EVD_KEYS_VALID_DAYS days, random 127-bit
 * serial, basicConstraints CA:FALSE, keyUsage critical digitalSignature, subject and
 * authority key identifiers. Both files are written to temporary names, synced and
 * published (evd_publish: never replacing a file, the directory synced).
 * Returns -EEXIST (touching nothing) when either file exists already. */
int evd_keys_init(const char *dir, const char *common_name, int64_t now, struct evd_err *err);

/* Load a private key (PEM, unencrypted) and its certificate (PEM) and check that they
 * belong together. The key must be EC (P-256, P-384 or P-521) or RSA of at least 2048
 * bits, and the key file must not be writable by group or others nor readable by
 * others. A certificate with a keyUsage extension must allow digitalSignature.
 * -ENOENT/-EACCES when a file cannot be opened, -EINVAL when it is not what it should
 * be, -EPERM for a key file others can read, -ENOTSUP for an unusable key type.
 * *ret_keys is set only on success. */
int evd_keys_load(const char *key_path, const char *cert_path, struct evd_keys **ret_keys,
                  struct evd_err *err);

/* Free; accepts NULL. */
void evd_keys_free(struct evd_keys *keys);

/* The certificate, borrowed: valid while keys lives. */
X509 *evd_keys_cert(const struct evd_keys *keys);

/* The certificate in PEM form, borrowed (NUL-terminated, *ret_len bytes without the
 * NUL): valid while keys lives. */
const char *evd_keys_cert_pem(const struct evd_keys *keys, size_t *ret_len);

/* SHA-256 fingerprint of the certificate's DER as lower-case hex (what
 * `openssl x509 -noout -fingerprint -sha256` prints, without the colons). */
void evd_keys_fingerprint(X509 *cert, char out[EVD_SHA256_HEX]);

/* The certificate's subject as one line of UTF-8 ("CN=...") into out. */
void evd_keys_subject(X509 *cert, char out[EVD_KEYS_SUBJECT_MAX]);

/* Read a certificate from a PEM file. *ret_cert (free with X509_free) only on success. */
int evd_keys_cert_load(const char *path, X509 **ret_cert, struct evd_err *err);

/* Parse a certificate from PEM bytes in memory. */
int evd_keys_cert_parse(const void *pem, size_t len, X509 **ret_cert, struct evd_err *err);

/* Deterministic ECDSA (RFC 6979 with HMAC-SHA-256) of a message digest with an EC
 * private key: the DER ECDSA-Sig-Value goes to *ret_sig (malloc'd, free with free())
 * and its length to *ret_len. A digest longer than the group order is truncated as
 * ECDSA prescribes. -EINVAL when pkey is not an EC private key. */
int evd_keys_ecdsa_sign(EVP_PKEY *pkey, const uint8_t *digest, size_t digest_len, uint8_t **ret_sig,
                        size_t *ret_len, struct evd_err *err);

/* Sign len bytes at data: a detached CMS SignedData (SHA-256, signer certificate
 * included, no signed attributes), DER, in *ret_der (malloc'd, free with free()). The
 * signature is checked against the certificate before it is returned. */
int evd_keys_cms_sign(const struct evd_keys *keys, const void *data, size_t len, uint8_t **ret_der,
                      size_t *ret_len, struct evd_err *err);

/* The first certificate a CMS signature (DER) carries: *ret (X509_free) on success,
 * -EBADMSG when it carries none or is not CMS. */
int evd_keys_cms_signer(const uint8_t *der, size_t der_len, X509 **ret);

/* Check a detached CMS signature (DER) over data, trusting exactly the certificate
 * trusted (borrowed): the signer must be that certificate or chain up to it through
 * certificates carried in the signature. Certificate validity times and purposes are
 * not checked (a disc must stay checkable after its station certificate expires).
 * 0 when valid, -EBADMSG when not (err says why), -EINVAL for input that is not CMS.
 * signer_subject (may be NULL) gets the signer's subject on success. */
int evd_keys_cms_verify(const uint8_t *der, size_t der_len, const void *data, size_t len,
                        X509 *trusted, char signer_subject[EVD_KEYS_SUBJECT_MAX],
                        struct evd_err *err);

#endif
