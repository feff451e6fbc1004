#include "signing.h"

#include <errno.h>
#include <string.h>

#include "original.h" /* EVD_PATH_MAX */
#include "util.h"

static int key_paths(const struct evd_conf *conf, char *key, char *cert, size_t n)
{
        if (evd_snprintf(key, n, "%s", conf->signing_key) < 0 ||
            evd_snprintf(cert, n, "%s", conf->signing_cert) < 0)
                return -ENAMETOOLONG;
        if (!key[0] && evd_snprintf(key, n, "%s/keys/%s", conf->state_dir, EVD_KEYS_KEY_FILE) < 0)
                return -ENAMETOOLONG;
        if (!cert[0] &&
            evd_snprintf(cert, n, "%s/keys/%s", conf->state_dir, EVD_KEYS_CERT_FILE) < 0)
                return -ENAMETOOLONG;
        return 0;
}

int evd_signing_load(const struct evd_conf *conf, struct evd_keys **ret, struct evd_err *err)
{
        char key[EVD_PATH_MAX], cert[EVD_PATH_MAX];
        int r;

        if (key_paths(conf, key, cert, sizeof(key)) < 0)
                return evd_err_set(err, -ENAMETOOLONG, "signing key path too long");
        r = evd_keys_load(key, cert, ret, err);
        if (r == -ENOENT && !conf->signing_key[0])
                return evd_err_set(err, r,
                                   "the station has no signing key yet: an admin must run "
                                   "`evidockctl keys init` (or set [signing] key and cert)");
        if (r < 0) {
                char text[EVD_ERR_TEXT_MAX];

                memcpy(text, err->text, sizeof(text));
                return evd_err_set(err, r, "signing key: %s", text);
        }
        return 0;
}

json_t *evd_signing_status(const struct evd_conf *conf, json_t *warnings)
{
        char key[EVD_PATH_MAX], cert[EVD_PATH_MAX], fp[EVD_SHA256_HEX];
        char subject[EVD_KEYS_SUBJECT_MAX];
        struct evd_err err = { 0 };
        struct evd_keys *keys = NULL;
        json_t *out;

        if (key_paths(conf, key, cert, sizeof(key)) < 0)
                return json_null();
        if (evd_signing_load(conf, &keys, &err) < 0) {
                (void)json_array_append_new(warnings, json_string(err.text));
                return json_pack("{ss ss sn sn}", "key", key, "cert", cert, "fingerprint",
                                 "subject");
        }
        evd_keys_fingerprint(evd_keys_cert(keys), fp);
        evd_keys_subject(evd_keys_cert(keys), subject);
        evd_keys_free(keys);
        out = json_pack("{ss ss ss ss}", "key", key, "cert", cert, "fingerprint", fp, "subject",
                        subject);
        return out ? out : json_null();
}
