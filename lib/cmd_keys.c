/* The station's signing identity: `keys init` makes it, status shows it, exports load
 * it. The key and certificate are the ones [signing] names, or by default the
 * station's own in STATE_DIR/keys/ (keys.h). */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "keys.h"
#include "station_internal.h"

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

int evd_station_keys_load(const struct evd_conf *conf, struct evd_keys **ret, struct evd_err *err)
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

json_t *evd_station_signing_status(const struct evd_conf *conf, json_t *warnings)
{
        char key[EVD_PATH_MAX], cert[EVD_PATH_MAX], fp[EVD_SHA256_HEX];
        char subject[EVD_KEYS_SUBJECT_MAX];
        struct evd_err err = { 0 };
        struct evd_keys *keys = NULL;
        json_t *out;

        if (key_paths(conf, key, cert, sizeof(key)) < 0)
                return json_null();
        if (evd_station_keys_load(conf, &keys, &err) < 0) {
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

int evd_cmd_keys_init(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                      struct evd_err *err)
{
        struct evd_station *s = ud;
        char dir[EVD_PATH_MAX];
        struct evd_conf conf;
        json_t *out, *details;
        int r;

        (void)args;
        evd_station_conf(s, &conf);
        if (conf.signing_key[0])
                return evd_err_set(err, -EEXIST,
                                   "[signing] key names the key this station signs with (%s); "
                                   "keys init makes only the station's own",
                                   conf.signing_key);
        if (evd_snprintf(dir, sizeof(dir), "%s/keys", conf.state_dir) < 0)
                return evd_err_set(err, -ENAMETOOLONG, "state_dir too long");
        r = evd_keys_init(dir, conf.name, evd_clock_now(), err);
        if (r < 0)
                return r;
        out = evd_station_signing_status(&conf, NULL);
        details = json_deep_copy(out);
        (void)evd_station_audit(s, evd_request_actor(req), "keys.created", "", details);
        json_decref(details);
        if (!out || !json_is_string(json_object_get(out, "fingerprint"))) {
                json_decref(out);
                return evd_err_set(err, -EIO, "the new key cannot be loaded");
        }
        *ret = out;
        return 0;
}
