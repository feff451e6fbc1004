/* keys.init and keys.show: make and show the station's own signing identity (signing.h says which
 * key the station signs with). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "keys.h"
#include "signing.h"
#include "station_internal.h"

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
        out = evd_signing_status(&conf, NULL);
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

#define CERT_PEM_MAX (64 * 1024)

/* keys show: the certificate a recipient of a disc checks it with (verify-disc --cert),
 * as PEM, with its fingerprint to read out over the telephone. */
int evd_cmd_keys_show(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                      struct evd_err *err)
{
        struct evd_conf conf;
        json_t *out, *warnings = json_array();
        const char *cert;
        char *pem = NULL;
        size_t n = 0;
        FILE *f;

        (void)req;
        (void)args;
        evd_station_conf(ud, &conf);
        out = evd_signing_status(&conf, warnings);
        cert = json_string_value(json_object_get(out, "cert"));
        if (!json_is_string(json_object_get(out, "fingerprint")) || !cert) {
                (void)evd_err_set(err, -ENOENT, "%s",
                                  json_string_value(json_array_get(warnings, 0))
                                          ?: "the station has no signing key (keys init)");
                json_decref(out);
                json_decref(warnings);
                return err->code;
        }
        json_decref(warnings);
        f = fopen(cert, "re");
        pem = f ? calloc(1, CERT_PEM_MAX + 1) : NULL;
        if (pem)
                n = fread(pem, 1, CERT_PEM_MAX, f);
        if (f)
                (void)fclose(f);
        if (!pem || n == 0 || n == CERT_PEM_MAX) {
                free(pem);
                json_decref(out);
                return evd_err_set(err, -EIO, "%s: cannot read the certificate", cert);
        }
        (void)json_object_set_new(out, "pem", json_string(pem));
        free(pem);
        *ret = out;
        return 0;
}
