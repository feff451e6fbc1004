/* dock: docking sessions. A recorder plugged in over USB is identified, its storage
 * listed read-only and its new recordings ingested, with nobody at the station.
 *
 * One session per arrival that usbwatch reports (hubs aside), on the loop thread:
 *
 *   arrival -> VID:PID in [usb] allow? serial usable and registered as a recorder?
 *              no: "rejected": logged, audited (dock.rejected), shown in status
 *              warnings until it leaves; its block device is never opened.
 *   docked   -> wait for its block node (blockdev, at most [usb] settle_seconds;
 *              a timeout ends the session "failed" with the reason)
 *   scanning -> open it read-only and list its originals (source.h), off the loop
 *   copying  -> an ingest job of kind "dock" over those originals; files already
 *              stored from this recorder (same path, size and time) are skipped
 *   done     -> every file stored: "safe to remove"
 *   failed   -> no block node, a filesystem that cannot be read, or files that
 *              could not be copied (each audited by the engine); the daemon goes on
 *   interrupted -> it left (or the station stopped) before the end: the job is
 *              cancelled, the file in flight abandoned without trace; the next dock
 *              resumes, as stored files are skipped.
 *
 * Each session is one record in the catalog's "docks" database, keyed by its id
 * (16 decimal digits), written with its audit entry in one transaction when the
 * session is accepted (dock.accepted) and again when it ends (dock.ended, or
 * dock.rejected / dock.failed). The record: {id, serial, port, vid_pid, docked_at,
 * ended_at, outcome, error, node, files_found, files_stored, files_duplicate,
 * files_skipped, files_failed, bytes_total, bytes_done}.
 *
 * Nothing here blocks the loop: catalog writes, the listing and cancellation run in
 * libuv's thread pool, copies in the ingest engine's workers; a job's end comes back
 * to the loop through a uv_async. Per dock at most EVD_DOCK_PARALLEL files are copied
 * at once (and never more than [ingest] parallel_copies over all docks, shared in
 * turn): source.h serialises the reads of one device, so one file is read while the
 * others are hashed, synced and re-read from the store, which is where a copy spends
 * most of its time. Measured on a 2-core VM (tests/bench/dock.sh, 2 GiB): 2 files at
 * once gave about 230 MB/s, 4 about 410 MB/s (both cores busy).
 *
 * Ownership: the loop and station are borrowed and must outlive the docks. */
#ifndef EVD_DOCK_H
#define EVD_DOCK_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#include "err.h"

#define EVD_DOCKS_MAX 64    /* sessions at once (present or ending) */
#define EVD_DOCK_PARALLEL 4 /* files of one dock copied at once */

struct evd_station;
struct evd_docks;

/* Messages for the daemon's log: priority as syslog's (LOG_ERR ... LOG_DEBUG). Called
 * from the loop thread or a copy worker. */
typedef void (*evd_docks_log_fn)(int priority, const char *text, void *userdata);

/* Start watching USB on loop for station, and register with the station so that its
 * status and summary show the docks. When libusb cannot watch (no hotplug support),
 * the docks still start: docking is off, status warns and log says why. *ret set
 * only on success. */
int evd_docks_new(uv_loop_t *loop, struct evd_station *station, evd_docks_log_fn log,
                  void *log_userdata, struct evd_docks **ret, struct evd_err *err);

/* Stop: no more arrivals; every session still running is interrupted. The loop must
 * go on running until the sessions have ended and the handles are closed. */
void evd_docks_stop(struct evd_docks *docks);

/* Free after the loop has run out; accepts NULL. */
void evd_docks_free(struct evd_docks *docks);

/* Append one object per session to docks_out ({serial, state, files_total,
 * files_done, bytes_total, bytes_done, rate_bps, port, session, vid_pid, docked_at,
 * files_failed, error, safe_to_remove}) and a line per rejected device or problem to
 * warnings (both borrowed). Any thread. */
void evd_docks_status(struct evd_docks *docks, json_t *docks_out, json_t *warnings);

/* One line on the docks for sd_notify STATUS= ("" when none). Any thread. */
void evd_docks_summary(struct evd_docks *docks, char *buf, size_t n);

#endif
