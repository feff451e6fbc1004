/* station: the running station: its configuration, store, catalog and ingest engine,
 * and the commands of the control protocol that act on them.
 *
 * evidockd creates one station, hands evd_station_commands to the control socket and
 * frees it at exit; everything the daemon does goes through here. */
#ifndef EVD_STATION_H
#define EVD_STATION_H

#include <stdbool.h>
#include <stddef.h>

#include "audit.h"
#include "catalog.h"
#include "conf.h"
#include "control.h"
#include "ingest.h"
#include "store.h"

#define EVD_VERSION "0.1.0"

struct evd_station;

/* Open the store, the catalog and the engine for conf (copied). *ret set only on
 * success; err says what failed. */
int evd_station_new(const struct evd_conf *conf, struct evd_station **ret, struct evd_err *err);

/* Cancel running jobs (their requests answer as interrupted); call before the loop
 * drains at shutdown. */
void evd_station_stop(struct evd_station *station);

/* Free; accepts NULL. No request may still be running. */
void evd_station_free(struct evd_station *station);

/* Take a new configuration (after SIGHUP). Keys that need a restart (state_dir,
 * control_socket, parallel_copies, timezone) keep their old values, and err says so. */
int evd_station_reload(struct evd_station *station, const struct evd_conf *conf,
                       struct evd_err *err);

/* Write an audit entry from the station itself (start, stop, reload, refusals). */
int evd_station_audit(struct evd_station *station, const struct evd_actor *actor, const char *event,
                      const char *subject, const json_t *details);

/* The control commands (static table) and its length. */
extern const struct evd_control_command evd_station_commands[];
extern const size_t evd_station_n_commands;

/* A copy of the configuration in force. */
void evd_station_conf(struct evd_station *station, struct evd_conf *ret);

/* Delete every item past its retention and grace (not held, not evidence), after
 * recording each purge; with dry_run only list them. *ret: what was done. */
int evd_station_purge(struct evd_station *station, const struct evd_actor *actor,
                      const char *approver, const char *reason, bool dry_run, json_t **ret,
                      struct evd_err *err);

/* Seal the audit log with a signed checkpoint when one is due (force: whenever there
 * are new entries). *ret (caller owns) is the checkpoint made, or NULL when none was
 * due. Fails when the station has no signing key. Blocking: off the loop. */
int evd_station_checkpoint(struct evd_station *station, bool force, json_t **ret,
                           struct evd_err *err);

/* A line for sd_notify STATUS= (imports and docks in progress, free space). */
void evd_station_summary(struct evd_station *station, char *buf, size_t n);

#endif
