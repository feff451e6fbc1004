/* signing: the station's signing identity as its configuration names it. The key and
 * certificate are the ones [signing] names, or by default the station's own in
 * STATE_DIR/keys/ (made by `keys init`, keys.h). Exports and checkpoints load it;
 * status shows it.
 *
 * Ownership: conf is borrowed for the call; what is returned belongs to the caller. */
#ifndef EVD_SIGNING_H
#define EVD_SIGNING_H

#include <jansson.h>

#include "conf.h"
#include "err.h"
#include "keys.h"

/* The signing key and certificate of conf; *ret (evd_keys_free) only on success. err
 * says what to do when the station has none yet. */
int evd_signing_load(const struct evd_conf *conf, struct evd_keys **ret, struct evd_err *err);

/* {key, cert, fingerprint, subject} (caller owns; fingerprint and subject null when no
 * key loads, and a warning saying why then goes into warnings, which may be NULL). */
json_t *evd_signing_status(const struct evd_conf *conf, json_t *warnings);

#endif
