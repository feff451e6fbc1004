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
 *              could not be copied (each audited by the engine); the daemon goes on.
 *              When the sandboxed lister crashed, hung or lied on it (probe.h:
 *              evd_probe_blames_input), the recorder's record remembers it with the
 *              plug-in (USB port and device number; recorder.h): while it stays
 *              plugged in, a restarted daemon fails its dock at once with that reason
 *              (one dock.failed) instead of listing it again; its departure forgets it.
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
 * at once (EVD_DOCK_PARALLEL_SMALL of small files, with as many workers: ingest.h);
 * the ingest engine keeps workers enough for every dock to have two, and lets
 * one file of each read the recorder once parallel_copies docks are busy while the
 * other syncs and verifies what it read (ingest.h), so each dock reads at its bus's
 * speed whatever the others do. Measured (tests/bench/docks.py, 8 recorders throttled
 * to 36.7 MB/s, 2-core VM shared with other work): aggregate 82 -> 163 MB/s, the
 * plain-copy peer (dd direct + fdatasync + read back, at once) 144 MB/s: the store's
 * disk is what bounds it there. Alone, a dock copies up to 4 files at once (about
 * 410 MB/s on the 2-core VM, tests/bench/dock.sh).
 *
 * Inputs. The docks know nothing of the station: they get a narrow environment
 * (struct evd_dock_env): the catalog they record sessions in, the ingest engine that
 * copies, the calendar for deadlines, a function that returns the configuration in
 * force, and how to reach a recorder's disk. Whoever runs both (evidockd) tells the
 * station how to show the docks (evd_docks_status, evd_docks_summary).
 *
 * Ownership: the loop and everything env points to are borrowed and must outlive the
 * docks. */
#ifndef EVD_DOCK_H
#define EVD_DOCK_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#include "blockdev.h"
#include "calendar.h"
#include "catalog.h"
#include "conf.h"
#include "err.h"
#include "ingest.h"
#include "original.h"
#include "usbwatch.h"

#define EVD_DOCKS_MAX 64          /* sessions at once (present or ending) */
#define EVD_DOCK_PARALLEL 4       /* files of one dock copied at once */
#define EVD_DOCK_PARALLEL_SMALL 8 /* the same, for a recorder of small files */

struct evd_docks;

/* Messages for the daemon's log: priority as syslog's (LOG_ERR ... LOG_DEBUG). Called
 * from the loop thread or a copy worker. */
typedef void (*evd_docks_log_fn)(int priority, const char *text, void *userdata);

/* How a session reaches the recorder's disk: blockdev.h and source.h in the daemon
 * (env.disk NULL), fakes in tests. */
struct evd_dock_disk_ops {
        /* Loop thread: wait for the disk under usb_syspath as evd_blockdev_wait_start
         * does (cb once, on the loop, never inside this call). *ret_wait is what
         * wait_cancel takes; valid until cb runs or the wait is cancelled. */
        int (*wait_start)(uv_loop_t *loop, const char *usb_syspath, uint64_t settle_ms,
                          evd_blockdev_wait_cb cb, void *userdata, void **ret_wait,
                          struct evd_err *err);
        /* Loop thread: stop a wait whose cb has not run; cb is then never called. */
        void (*wait_cancel)(void *wait);
        /* Off the loop, when a registered recorder has docked and its disk is still
         * to come: get ready to list it with exts (real disk: helpers started ahead;
         * probe.h). May be NULL. */
        void (*prepare)(struct evd_ingest *ingest, const char *const *exts, size_t n_exts);
        /* Off the loop: open node read-only and list the originals (ingest: the engine
         * the docks were given, whose helpers list; probe.h) whose extension is
         * one of exts, each path naming the file alone on this recorder. On success
         * *ret_disk (for read and close) and *ret_files (taken by the caller) are set,
         * and *ret_deleted (taken; may be left NULL) to the deleted recordings found on
         * the device (source_deleted.h). */
        int (*scan)(struct evd_ingest *ingest, const char *node, const char *const *exts,
                    size_t n_exts, void **ret_disk, struct evd_original **ret_files, size_t *ret_n,
                    json_t **ret_deleted, struct evd_err *err);
        /* How the ingest engine reads a disk that scan returned. */
        const struct evd_source_ops *read;
        /* Any thread: close a disk that scan returned; accepts NULL. */
        void (*close)(void *disk);
};

/* The recorder's real disk: blockdev.h, the sandboxed lister and source.h (dock_disk.c). */
extern const struct evd_dock_disk_ops evd_dock_real_disk;

/* What the docks work with (all borrowed; see Ownership). */
struct evd_dock_env {
        struct evd_catalog *catalog;         /* session records, audit, recorder registry */
        struct evd_ingest *ingest;           /* copies the recordings */
        const struct evd_calendar *calendar; /* deadlines of the items; may be NULL */
        /* The configuration in force (it may change at a reload); any thread. */
        void (*conf)(void *userdata, struct evd_conf *ret);
        void *conf_userdata;
        evd_docks_log_fn log; /* may be NULL */
        void *log_userdata;
        const struct evd_dock_disk_ops *disk; /* NULL: the recorder's real block device */
};

/* Make the docks on loop with env (copied; what it points to is borrowed). No USB is
 * watched yet: evd_docks_watch starts that, and evd_docks_arrival/departure take
 * events from elsewhere. *ret set only on success. */
int evd_docks_new(uv_loop_t *loop, const struct evd_dock_env *env, struct evd_docks **ret,
                  struct evd_err *err);

/* Start watching USB (usbwatch.h), which calls evd_docks_arrival and _departure. When
 * libusb cannot watch (no hotplug support), docking is off: status warns and the log
 * says why; the error is returned too, for information. */
int evd_docks_watch(struct evd_docks *docks);

/* A device arrived, or left, as usbwatch reports it (each departure matches one
 * earlier arrival; a departure of a device never seen is ignored). Loop thread. */
void evd_docks_arrival(struct evd_docks *docks, const struct evd_usb_device *dev);
void evd_docks_departure(struct evd_docks *docks, const struct evd_usb_device *dev);

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

/* Append one object per rejected device still plugged in to out (borrowed):
 * {port, serial, vid_pid, reason}; the serial as shown in logs (escaped). Any thread. */
void evd_docks_rejected(struct evd_docks *docks, json_t *out);

/* Append to out (borrowed) the board object of each dock interrupted by its recorder
 * leaving, kept for 10 minutes after or until another recorder docks on its port (the
 * sessions themselves are gone from status by then). Any thread. */
void evd_docks_left(struct evd_docks *docks, json_t *out);

/* One line on the docks for sd_notify STATUS= ("" when none). Any thread. */
void evd_docks_summary(struct evd_docks *docks, char *buf, size_t n);

#endif
