/* ctlclient: a client of evidockd's control socket, for programs that talk to the
 * daemon (the web console; the command line could use it too).
 *
 * One connection carries one request at a time: a JSON line
 *     {"cmd": CMD, "args": {...}, "token": "..."}     (token only when given)
 * then progress lines, then one final line (lib/control.h). Calls block, each read
 * bounded by a timeout, so a wedged daemon never hangs the caller for ever. A
 * connection that failed mid-request is broken: close it and connect again. */
#ifndef EVD_CTLCLIENT_H
#define EVD_CTLCLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "err.h"

/* The largest reply line accepted (item lists can be long). */
#define EVD_CTL_REPLY_MAX (64u << 20)

struct evd_ctl;

/* Connect to the socket at path; *ret (evd_ctl_close) only on success. */
int evd_ctl_connect(const char *path, struct evd_ctl **ret, struct evd_err *err);

/* Close and free; accepts NULL. */
void evd_ctl_close(struct evd_ctl *ctl);

/* True after a transport failure (the connection is of no further use). */
bool evd_ctl_broken(const struct evd_ctl *ctl);

/* The connection's socket (borrowed): to answer a "need_fd" progress line with a
 * descriptor (deliver.h) from the progress callback. */
int evd_ctl_fd(const struct evd_ctl *ctl);

/* Called with each progress object (borrowed) while a request runs. */
typedef void (*evd_ctl_progress_fn)(void *userdata, const json_t *progress);

/* Send cmd with args (borrowed; NULL for none) and token (NULL for none) and wait at
 * most timeout_ms for each reply line. On success *ret_result is the result (caller
 * owns; JSON null when the daemon gave none). A refusal returns the daemon's -errno
 * (-EPERM, -EINVAL, ...) with its reason in err; a transport failure returns -EPIPE,
 * -ETIMEDOUT or -EPROTO and breaks the connection. */
int evd_ctl_request(struct evd_ctl *ctl, const char *cmd, const json_t *args, const char *token,
                    int timeout_ms, evd_ctl_progress_fn on_progress, void *userdata,
                    json_t **ret_result, struct evd_err *err);

/* Parse one reply line (len bytes, no newline): 1 for a progress line (*ret_progress,
 * caller owns), 0 for a final success (*ret_result, caller owns), a negative errno for
 * a final refusal (reason in err), -EPROTO for anything else. */
int evd_ctl_parse_reply(const char *line, size_t len, json_t **ret_progress, json_t **ret_result,
                        struct evd_err *err);

#endif
