/* control: the daemon's admin socket. JSON lines over a unix stream socket.
 *
 * A request is one line, at most EVD_CONTROL_LINE_MAX bytes:
 *     {"cmd": "items", "args": {...}}
 * and gets zero or more progress lines, then exactly one final line:
 *     {"progress": {...}}
 *     {"ok": true, "result": ...}   or   {"ok": false, "error": "one line", "errno": N}
 * Requests on one connection are answered in order. The caller is identified by
 * SO_PEERCRED; its unix groups give its role. Commands run on the libuv thread pool,
 * never on the loop; a bad line gets an error reply and harms nothing else. */
#ifndef EVD_CONTROL_H
#define EVD_CONTROL_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "audit.h"
#include "err.h"
#include "refusals.h"

#define EVD_CONTROL_LINE_MAX (256 * 1024)

/* What clients may take of the daemon. Connections are counted per uid at accept, when
 * the role is known: past clients_max, or past clients_max - admin_reserved for anyone
 * but an admin, or past per_uid_max from one uid that is not an admin, a connection
 * gets one error line and is closed. A connection is closed after refusals_max refused
 * or malformed requests, and when it has had no complete request for idle_ms while
 * none of its requests runs (a running import or export is never cut). Backpressure:
 * while more than queue_soft bytes of replies wait for the client to read them, its
 * requests are not read; a client with more than queue_hard waiting is closed. */
struct evd_control_limits {
        int clients_max, admin_reserved, per_uid_max, refusals_max;
        uint64_t idle_ms;
        size_t queue_soft, queue_hard;
};

#define EVD_CONTROL_CLIENTS_MAX 64
#define EVD_CONTROL_ADMIN_RESERVED 8
#define EVD_CONTROL_PER_UID_MAX 16
#define EVD_CONTROL_REFUSALS_MAX 16
#define EVD_CONTROL_IDLE_MS (120 * 1000)
#define EVD_CONTROL_QUEUE_SOFT (64 * 1024)
#define EVD_CONTROL_QUEUE_HARD (1024 * 1024)

enum evd_role {
        EVD_ROLE_NONE,
        EVD_ROLE_CLERK,
        EVD_ROLE_ARCHIVIST,
        EVD_ROLE_ADMIN,
        /* A role apart, for evidock-replicate: it may call only the commands that name
         * it, and only it (and root) may call them; admin does not imply it. */
        EVD_ROLE_REPLICATOR,
};

const char *evd_role_name(enum evd_role role);

struct evd_request;

/* A command: run(userdata, req, args, &result, err) on a pool thread; args borrowed;
 * on 0 *ret_result (may stay NULL for null) is taken and sent. */
struct evd_control_command {
        const char *name;
        enum evd_role role; /* least role allowed */
        int (*run)(void *userdata, struct evd_request *req, const json_t *args, json_t **ret_result,
                   struct evd_err *err);
};

/* Unix group names that map to roles. */
struct evd_control_roles {
        const char *clerk, *archivist, *admin;
        const char *replicator; /* may be NULL: nobody but root has that role */
};

struct evd_control;

/* Listen on path (created, mode 0666), or on listen_fd when >= 0 (socket
 * activation), with the default limits. commands (borrowed, static) are looked up by
 * name. Refused requests (and connections refused for the limits, as "(connect)") are
 * counted in memory per uid (refusals.h); on_refused (may be NULL) gets each summary
 * (borrowed) on a pool thread, never on the loop, to audit it: a uid's first refusal
 * within a second, the rest once a minute, anything left when the control stops. */
int evd_control_new(uv_loop_t *loop, const char *path, int listen_fd,
                    const struct evd_control_command *commands, size_t n_commands,
                    const struct evd_control_roles *roles, void *userdata,
                    void (*on_refused)(void *userdata, const struct evd_refusal *refusal),
                    struct evd_control **ret, struct evd_err *err);

/* The limits above, and a change of them for connections accepted from now on. */
void evd_control_limits_default(struct evd_control_limits *ret);
void evd_control_set_limits(struct evd_control *control, const struct evd_control_limits *limits);

/* Stop listening and close every connection; the socket file is removed when we
 * made it. Requests still running finish and their replies are dropped. */
void evd_control_free(struct evd_control *control);

/* Who sent the request, and with which role: the unix caller, or the account of the
 * session token it carried (see evd_control_set_tokens). */
const struct evd_actor *evd_request_actor(const struct evd_request *req);
enum evd_role evd_request_role(const struct evd_request *req);

/* ---- session tokens (the web console's signed-in people) ---- */

#define EVD_CONTROL_TOKEN_MAX 128 /* with the NUL */

/* A request may carry "token": "..." next to "cmd" and "args". fn resolves it on the
 * loop thread (it must not block): 0 with *actor (pre-filled with the unix caller) and
 * *role set to the account's, which the request then runs with whatever the unix
 * caller's role; <0 for a token that is unknown or expired: the request runs with no
 * role, and one whose command needs a role is refused with "session expired: sign in
 * again". Without fn every token is taken as expired. userdata is fn's. */
typedef int (*evd_control_token_fn)(void *userdata, const char *token, struct evd_actor *actor,
                                    enum evd_role *role);
void evd_control_set_tokens(struct evd_control *control, evd_control_token_fn fn, void *userdata);

/* The token the request carried, or NULL (for login and logout). Borrowed. */
const char *evd_request_token(const struct evd_request *req);

/* Send a progress line (progress taken); callable from the command's thread. */
void evd_request_progress(struct evd_request *req, json_t *progress);

/* Ask the client for an output file it made: sends {"progress": {"need_fd": ask}}
 * (ask taken) and waits for its answer on the same connection, one byte with the fd
 * attached (deliver.h). *ret_fd is the caller's; not yet checked (evd_deliver_check_
 * output). Command thread only; -errno with err saying why. */
int evd_request_receive_fd(struct evd_request *req, json_t *ask, int *ret_fd, struct evd_err *err);

/* Whether the request's client has hung up (a command may then give up). */
bool evd_request_client_gone(const struct evd_request *req);

/* Parse one request line (len bytes, no newline): its command name into ret_cmd
 * (cmd_size bytes) and its arguments (caller owns; an empty object when absent).
 * -EINVAL with a reason for anything but {"cmd": string, "args": object}. */
int evd_control_parse_request(const char *line, size_t len, char *ret_cmd, size_t cmd_size,
                              json_t **ret_args, struct evd_err *err);

/* The role of a uid given the group names (root is admin). */
enum evd_role evd_control_role_of(uid_t uid, const struct evd_control_roles *roles);

/* Whether a uid has the replicator role (root has). */
bool evd_control_is_replicator(uid_t uid, const struct evd_control_roles *roles);

#endif
