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

/* items: a request with "limit" (1..EVD_ITEMS_PAGE_MAX) or "after" (an item id) gets
 * {"items": [...], "next": id or null}, one page in recording-time order, next the
 * "after" of the page that follows; one without either gets the array of every match,
 * or an error when more than EVD_ITEMS_UNPAGED_MAX match. The daemon's memory is
 * bounded by a page whatever the catalogue holds. audit and access-log page the same
 * way and answer the same shape, in seq order: "after" and "next" are entry seqs. */
#define EVD_ITEMS_PAGE_MAX 1000
#define EVD_ITEMS_UNPAGED_MAX 10000

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

/* The session of a web console token (cmd_user.c), for evd_control_set_tokens: the
 * account as actor "web:NAME" and its role. Cheap and non-blocking: memory only. */
int evd_station_token(void *station, const char *token, struct evd_actor *actor,
                      enum evd_role *role);

/* A copy of the configuration in force. */
void evd_station_conf(struct evd_station *station, struct evd_conf *ret);

/* Delete every item past its retention and grace (not held, not evidence), after
 * recording each purge; with dry_run only list them. *ret: what was done. */
int evd_station_purge(struct evd_station *station, const struct evd_actor *actor,
                      const char *approver, const char *reason, bool dry_run, json_t **ret,
                      struct evd_err *err);

/* Whether the wall clock may be trusted for an automatic purge run every interval
 * seconds: not earlier than the newest audit entry, not jumped forward by more than a
 * day since the previous check. -ETIME with err saying why after auditing the alarm
 * ("purge.clock_alarm"; status warns until a check passes). Blocking: off the loop. */
int evd_station_purge_clock_ok(struct evd_station *station, int64_t interval, struct evd_err *err);

/* Seal the audit log with a signed checkpoint when one is due (force: whenever there
 * are new entries). *ret (caller owns) is the checkpoint made, or NULL when none was
 * due. Fails when the station has no signing key. Blocking: off the loop. */
int evd_station_checkpoint(struct evd_station *station, bool force, json_t **ret,
                           struct evd_err *err);

/* How the station shows docks it does not run itself (dock.h): status appends one
 * object per session to docks_out and its warnings to warnings (both borrowed);
 * summary writes one line ("" when none); rejected (may be NULL) appends one object per
 * refused device still plugged in, for the board; left (may be NULL) appends one object
 * per dock interrupted by its recorder leaving, kept a while for the board. Called from
 * any thread, under the station's lock. */
struct evd_station_docks {
        void (*status)(void *userdata, json_t *docks_out, json_t *warnings);
        void (*summary)(void *userdata, char *buf, size_t n);
        void *userdata;
        void (*rejected)(void *userdata, json_t *out);
        void (*left)(void *userdata, json_t *docks_out);
};

/* Register docks (copied; NULL: none any more). userdata must stay valid until it is
 * replaced: once this returns, the old one is no longer called. */
void evd_station_set_docks(struct evd_station *station, const struct evd_station_docks *docks);

/* What the docks work with (dock.h's struct evd_dock_env): the station's catalog,
 * ingest engine and calendar, valid until evd_station_free. */
struct evd_catalog *evd_station_catalog(struct evd_station *station);
struct evd_ingest *evd_station_ingest(struct evd_station *station);
const struct evd_calendar *evd_station_calendar(struct evd_station *station);

/* A line for sd_notify STATUS= (imports and docks in progress, free space). */
void evd_station_summary(struct evd_station *station, char *buf, size_t n);

#endif
