/* ingest: the engine that copies originals into the store and catalogues them.
 *
 * A job is a list of originals from one source (a folder, a docked recorder) on
 * behalf of one recorder. A pool of worker threads takes files from the jobs, each
 * file to the job with the fewest workers on it, so several docks share the copy
 * bandwidth fairly. The pool starts with parallel_copies workers and grows so that
 * every job with files left has EVD_INGEST_JOB_WORKERS, or up to its max_parallel for
 * small files (EVD_INGEST_SMALL_FILE; at most EVD_INGEST_WORKERS_MAX
 * in all): a dock's copy waits mostly on its USB bus, and eight buses read at once
 * only when eight copies run at once (tests/bench/docks.py). For each
 * file a worker: skips it when the catalog already holds that (recorder, path, size,
 * mtime); copies and verifies it (copy.h); publishes the object (store.h); and in one
 * catalog transaction adds the item, or a new occurrence of identical content, with
 * its audit entry. A failed file is reported and audited; the rest go on.
 * No function here runs on, or blocks, the event loop. */
#ifndef EVD_INGEST_H
#define EVD_INGEST_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "audit.h"
#include "calendar.h"
#include "catalog.h"
#include "conf.h"
#include "original.h"
#include "store.h"

#define EVD_RECORDER_MAX 64
#define EVD_INGEST_FAILURES_MAX 1000  /* failures listed in a report; all are audited */
#define EVD_INGEST_CLOCK_SLACK 300    /* seconds a recorder's clock may be ahead */
#define EVD_INGEST_SPACE_POLL_MS 1000 /* how often a paused copy looks for space */
#define EVD_INGEST_SPACE_TRIES 60     /* copies of one file that may run out of space */
#define EVD_INGEST_JOB_WORKERS                                                                     \
        2                         /* workers the pool keeps per job: one file read                 \
                                   * while the last is synced and verified */
#define EVD_INGEST_WORKERS_MAX 32 /* workers at most, whatever the jobs */
/* A job of small files (EVD_INGEST_SMALL_FILE bytes or less on average) keeps as many
 * workers as its max_parallel allows, not EVD_INGEST_JOB_WORKERS: each file waits
 * mostly on syncs (its copy, its folder, the catalogue), not on its source, and many
 * in flight share those syncs; each holds at most one ring block, mostly untouched. */
#define EVD_INGEST_SMALL_FILE (256u << 10)
#define EVD_INGEST_SMALL_PARALLEL 8 /* an import of small files: its max_parallel */

struct evd_ingest;
struct evd_ingest_job;

/* Counters of a job, read at any time from any thread. */
struct evd_ingest_progress {
        uint64_t files_total, files_stored, files_duplicate, files_skipped, files_failed;
        uint64_t bytes_total, bytes_done;
        int64_t clock_ahead_s; /* the recorder's clock proved this far fast (0: not) */
        /* Items stored whose probe found them damaged, by kind (evd_ingest_job_report). */
        uint64_t damaged_truncated, damaged_corrupt, damaged_not_media;
        bool finished;
};

/* p's damaged counts as {"truncated": n, "corrupt": n, "not-media": n}, only those not
 * zero (caller owns; an empty object when none; NULL without memory). */
json_t *evd_ingest_damaged_json(const struct evd_ingest_progress *p);

/* Start n_workers threads (more as jobs come: see above). Borrowed pointers must outlive the
 * engine. */
int evd_ingest_new(struct evd_store *store, struct evd_catalog *catalog, int n_workers,
                   struct evd_ingest **ret, struct evd_err *err);

/* True while copies wait for space on the store (free bytes seen then). */
bool evd_ingest_paused(struct evd_ingest *ingest, uint64_t *ret_free_bytes);

/* True while any job is queued or running (background work yields to ingest). */
bool evd_ingest_busy(struct evd_ingest *ingest);

/* The engine's sandboxed parsers (probe.h), shared with docking: valid until
 * evd_ingest_free. */
struct evd_probes;
struct evd_probes *evd_ingest_probes(struct evd_ingest *ingest);

/* Cancel every job, wait for the workers and free; accepts NULL. */
void evd_ingest_free(struct evd_ingest *ingest);

/* A job over originals (taken: freed with the job) read through ops/source
 * (borrowed until on_done has been called). conf is copied; calendar (may be NULL)
 * is borrowed for the job's life. kind names the job in the
 * audit log ("import", "dock"). max_parallel bounds the workers on this job at once
 * (0: no bound). The job's originals count as listed now: a recording that ends later
 * proves the recorder's clock fast ("clock_ahead_s" on the item, the job's report and
 * the recorder's record; recorder.clock_fast audited past conf's clock_tolerance_s). */
struct evd_ingest_job *evd_ingest_job_new(const char *kind, const char *recorder,
                                          const struct evd_actor *actor,
                                          const struct evd_conf *conf,
                                          const struct evd_source_ops *ops, void *source,
                                          struct evd_original *originals, size_t n,
                                          int max_parallel, const struct evd_calendar *calendar);

/* Whether originals are small files on average (EVD_INGEST_SMALL_FILE). */
bool evd_ingest_small_files(const struct evd_original *originals, size_t n);

/* Record session (a dock session id) in the items the job stores ("dock_session"). */
void evd_ingest_job_set_session(struct evd_ingest_job *job, uint64_t session);

/* Queue the job. on_done(job, userdata) is called once, from a worker thread (or
 * from this call when the job is empty), after the job's summary is audited. */
void evd_ingest_submit(struct evd_ingest *ingest, struct evd_ingest_job *job,
                       void (*on_done)(struct evd_ingest_job *, void *), void *userdata);

/* Ask the job to stop: files not started are left; the one in flight is abandoned
 * without trace. */
void evd_ingest_job_cancel(struct evd_ingest_job *job);

void evd_ingest_job_progress(struct evd_ingest_job *job, struct evd_ingest_progress *ret);

/* The job's outcome (caller owns): counts, per-file failures with reasons, the ids of
 * the items it stored (new_ids) and how many of those the probe found damaged
 * ({"truncated": n, "corrupt": n, "not-media": n}, only those found). Call after
 * on_done. */
json_t *evd_ingest_job_report(struct evd_ingest_job *job);

/* Free a finished (or never submitted) job; accepts NULL. */
void evd_ingest_job_free(struct evd_ingest_job *job);

#endif
