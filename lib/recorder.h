/* recorder: the registry of body-worn recorders and who held each one when.
 *
 * A record is JSON in the catalog's "recorders" database, keyed by serial:
 *   {"serial", "model", "unit", "registered_at",
 *    "assignments": [{"handler_id", "handler_name", "since"}],   (oldest first)
 *    "last_seen", "clock_ahead_s", "clock_checked_at", "clock_checked_by",
 *    "lister_failed": {"plug", "reason", "dock", "at"}}
 * (the four clock and sighting fields set at each dock or import, ingest.h;
 * "lister_failed" while the recorder that crashed the lister stays plugged in, dock.h).
 * A recording's handler is whoever held its recorder when it was made: the last
 * assignment whose "since" is not after the recording time (the first assignment
 * also covers anything earlier). */
#ifndef EVD_RECORDER_H
#define EVD_RECORDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "catalog.h"
#include "conf.h"

#define EVD_HANDLER_MAX 128 /* bytes in a handler id or name */

/* The record of serial (caller owns) into *ret; -ENOENT when not registered. */
int evd_recorder_get(struct evd_txn *txn, const char *serial, json_t **ret);

/* Store a record (borrowed) under its "serial". */
int evd_recorder_put(struct evd_txn *txn, const json_t *record);

/* The assignment (borrowed from record) in force at t, or NULL when none. */
const json_t *evd_recorder_assignment_at(const json_t *record, int64_t t);

/* Whether the recorder's clock was last found fast by more than conf's
 * clock_tolerance_s (第七条: reset it). */
bool evd_recorder_clock_off(const json_t *record, const struct evd_conf *conf);

/* Insert an assignment keeping them ordered by "since". */
int evd_recorder_add_assignment(json_t *record, const char *handler_id, const char *handler_name,
                                int64_t since);

/* 第三十一条(三): the deleted recordings found at dock dock_id on serial's device
 * (found: source_deleted.h's object, borrowed). Those not seen at an earlier dock (by
 * path, partition, size and mtime) are audited as "dock.deleted_on_device" by actor
 * (borrowed), and the record's "deleted_on_device" says how many were new at this dock
 * ({"new", "dock", "at", "seen": [...]}: status warns while "new" is not 0). An
 * unregistered serial: nothing. */
int evd_recorder_note_deleted(struct evd_txn *txn, const char *serial, uint64_t dock_id,
                              const json_t *found, const struct evd_actor *actor);

/* The sandboxed lister crashed, hung or lied on serial's device at dock dock_id (reason
 * borrowed): remember it in its record with plug, the plug-in it happened on (dock.c:
 * "PORT#DEVNUM"), so that it is not listed again until it is unplugged. An unregistered
 * serial: nothing. */
int evd_recorder_lister_mark(struct evd_txn *txn, const char *serial, const char *plug,
                             uint64_t dock_id, const char *reason);

/* Whether record (a recorder's, borrowed) bears a lister mark set on plug: 1 with why
 * (n bytes) saying so for people ("not read again: the lister failed on it: REASON;
 * undock it to retry"); 0 when not, a mark set on another plug-in being forgotten (the
 * recorder was unplugged while nobody watched); or -errno. */
int evd_recorder_lister_check(struct evd_txn *txn, const json_t *record, const char *plug,
                              char *why, size_t n);

/* Forget serial's lister mark (none, or an unregistered serial: nothing). */
int evd_recorder_lister_unmark(struct evd_txn *txn, const char *serial);

/* The registered serials nearest to serial (a typo?), comma-separated into near (n
 * bytes); "" when none is near. For "did you mean" in refusals. */
void evd_recorder_near(struct evd_txn *txn, const char *serial, char *near, size_t n);

#endif
