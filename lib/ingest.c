#include "ingest.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "copy.h"
#include "item.h"
#include "trip.h"
#include "media.h"
#include "probe.h"
#include "recorder.h"
#include "scrub.h"

struct evd_ingest_job {
        struct evd_ingest_job *next_job; /* in the engine's list while queued */
        struct evd_ingest *engine;
        char kind[16];
        char recorder[EVD_RECORDER_MAX];
        struct evd_actor actor;
        struct evd_conf conf;
        const struct evd_calendar *calendar;
        uint64_t session; /* dock session, 0 for none */
        const struct evd_source_ops *ops;
        void *source;
        struct evd_original *files;
        size_t n, next; /* next: the first file no worker has taken (engine lock) */
        int active;     /* workers on this job (engine lock) */
        int reading;    /* of them, those reading the source (engine lock) */
        int max_parallel;
        bool small;    /* small files: see EVD_INGEST_SMALL_FILE */
        bool finished; /* engine lock */
        atomic_bool cancel;
        _Atomic uint64_t stored, duplicate, skipped, failed, bytes_done;
        int64_t listed_at;             /* when the originals were listed */
        _Atomic int64_t clock_ahead_s; /* the most a recording proved the clock fast */
        uint64_t bytes_total;
        json_t *failures; /* engine lock */
        json_t *new_ids;  /* ids of the items this job stored (engine lock) */
        json_t *damaged;  /* {"truncated": n, "corrupt": n, "not-media": n} (engine lock) */
        void (*on_done)(struct evd_ingest_job *, void *);
        void *userdata;
};

struct evd_ingest {
        struct evd_store *store;
        struct evd_catalog *catalog;
        pthread_mutex_t lock;
        pthread_cond_t work;   /* a job was queued, or stopping */
        pthread_cond_t source; /* a copy stopped reading its source, or a job was cancelled */
        int base_workers;      /* parallel_copies */
        struct evd_ingest_job *jobs;
        struct evd_ingest_job *turn; /* whose turn it is: fairness between jobs */
        bool stopping;
        uint64_t claimed;                  /* room granted to copies in flight (lock) */
        atomic_int paused;                 /* workers waiting for disk space */
        _Atomic uint64_t free_when_paused; /* free bytes seen then */
        int n_workers;                     /* started so far (engine lock); never shrinks */
        pthread_t workers[EVD_INGEST_WORKERS_MAX];
        struct evd_probes *probes; /* the sandboxed parsers (probe.h), for docks too */
};

enum outcome { STORED, DUPLICATE, SKIPPED };

struct commit_ctx {
        struct evd_ingest_job *job;
        const struct evd_original *orig;
        const struct evd_copy_result *copy;
        const json_t *media;
        int64_t now;
        enum outcome outcome;
        uint64_t id;
        const char *quarantined; /* "" or where a damaged object went (evd_store_publish) */
        bool published;          /* the object was written now, not found whole */
        char integrity[16];      /* the stored copy's verdict (media.h), "" when unknown */
};

static int audit_item(struct evd_txn *txn, struct commit_ctx *c, const char *event,
                      const json_t *item)
{
        json_t *d = json_pack("{sO sO sO ss}", "id", json_object_get(item, "id"), "sha256",
                              json_object_get(item, "sha256"), "size",
                              json_object_get(item, "size"), "recorder", c->job->recorder);
        char subject[EVD_AUDIT_SUBJECT_MAX];
        int r;

        if (!d)
                return -ENOMEM;
        r = evd_item_set_path(d, "original_path", c->orig->path, c->orig->path_len);
        /* What protects the new item, so that the log alone can say what its record
         * must hold (verify replays it: ledger.h). */
        if (r == 0 && strcmp(event, "item.stored") == 0)
                r = json_object_update_missing_new(
                            d, json_pack("{sO sO sO sO}", "retain_until",
                                         json_object_get(item, "retain_until"), "hold",
                                         json_object_get(item, "hold"), "evidence",
                                         json_object_get(item, "evidence"), "labels",
                                         json_object_get(item, "labels"))) < 0
                            ? -ENOMEM
                            : 0;
        evd_audit_item_subject(subject, c->id);
        if (r == 0)
                r = evd_audit_append(txn, &c->job->actor, event, subject, d, NULL);
        json_decref(d);
        return r;
}

/* How far the recorder's clock is provably fast (第七条): a recording cannot end (start
 * plus duration), nor its file be written, after the station listed it. 0 when no
 * time of the item lies in the future. */
static int64_t clock_ahead(const json_t *item, const struct evd_original *o, int64_t listed,
                           int64_t recorded)
{
        const json_t *d = json_object_get(json_object_get(item, "media"), "duration_s");
        double seconds = json_is_number(d) ? json_number_value(d) : 0;
        int64_t end = recorded + (seconds > 0 && seconds < 1e7 ? (int64_t)seconds : 0);
        int64_t latest = end > o->mtime ? end : o->mtime;

        return latest > listed ? latest - listed : 0;
}

static void note_clock_ahead(struct evd_ingest_job *job, json_t *item, int64_t ahead)
{
        int64_t seen = atomic_load(&job->clock_ahead_s);

        if (ahead <= 0)
                return;
        (void)json_object_set_new(item, "clock_ahead_s", json_integer(ahead));
        while (ahead > seen && !atomic_compare_exchange_weak(&job->clock_ahead_s, &seen, ahead))
                ;
}

/* The handler is whoever held the recorder when the recording was made; a time after
 * the listing or before the recorder was registered makes the clock suspect (第七条). */
static int set_handler(struct evd_txn *txn, struct commit_ctx *c, json_t *item)
{
        json_t *labels = json_object_get(item, "labels"), *rec = NULL;
        const json_t *a;
        int64_t registered, recorded = c->orig->mtime;
        bool suspect;
        int r;

        (void)evd_time_parse(json_string_value(json_object_get(item, "recorded_at")) ?: "",
                             &recorded);
        suspect = recorded > c->now + EVD_INGEST_CLOCK_SLACK;
        {
                int64_t ahead = clock_ahead(item, c->orig, c->job->listed_at, recorded);

                note_clock_ahead(c->job, item, ahead);
                suspect = suspect || ahead > c->job->conf.clock_tolerance_s;
        }

        r = evd_recorder_get(txn, c->job->recorder, &rec);
        if (r == -ENOENT)
                goto out;
        if (r < 0)
                return r;
        a = evd_recorder_assignment_at(rec, recorded);
        if (a) {
                (void)json_object_set(labels, "handler", json_object_get(a, "handler_name"));
                (void)json_object_set(labels, "handler_id", json_object_get(a, "handler_id"));
        }
        /* In service since its registration, or since a first assignment dated earlier. */
        a = json_array_get(json_object_get(rec, "assignments"), 0);
        if (evd_time_parse(json_string_value(json_object_get(a, "since")) ?: "", &registered) ==
                    0 &&
            recorded < registered - EVD_INGEST_CLOCK_SLACK)
                suspect = true;
        json_decref(rec);
out:
        (void)json_object_set_new(item, "clock_suspect", json_boolean(suspect));
        return 0;
}

/* The deadline by the rule that applies (trip.h), now that clock_suspect is known. */
static int set_deadline(struct evd_txn *txn, struct commit_ctx *c, json_t *item)
{
        struct evd_policy_deadline d;
        json_t *trips = NULL;
        int r = evd_trip_list(txn, &trips);

        if (r < 0)
                return r;
        if (evd_trip_item_deadline(trips, item, &c->job->conf, c->job->calendar, &d) == 0)
                (void)evd_policy_set_deadline(item, &d);
        json_decref(trips);
        return 0;
}

/* The object of a live item was damaged (moved to quarantine/) or missing, and this
 * verified copy took its place: the item is whole again. */
static int commit_repair(struct evd_txn *txn, struct commit_ctx *c)
{
        char hex[EVD_SHA256_HEX], subject[EVD_AUDIT_SUBJECT_MAX], now[EVD_TIME_STR];
        json_t *item = NULL, *d;
        uint64_t id;
        int r;

        evd_hex(c->copy->sha256, EVD_SHA256_LEN, hex);
        r = evd_catalog_item_by_sha(txn, hex, &id);
        if (r == -ENOENT)
                return 0; /* no live item had these bytes: stored as new below */
        if (r == 0)
                r = evd_catalog_item_get(txn, id, &item);
        if (r < 0)
                return r;
        evd_time_format(c->now, now);
        (void)json_object_set_new(item, "fixity", json_string("ok"));
        (void)json_object_set_new(item, "checked_at", json_string(now));
        r = evd_catalog_item_put(txn, item);
        json_decref(item);
        d = json_pack("{sI ss ss ss ss}", "id", (json_int_t)id, "sha256", hex, "recorder",
                      c->job->recorder, "was", c->quarantined[0] ? "damaged" : "missing",
                      "quarantined", c->quarantined);
        evd_audit_item_subject(subject, id);
        if (r == 0)
                r = d ? evd_item_set_path(d, "original_path", c->orig->path, c->orig->path_len)
                      : -ENOMEM;
        if (r == 0)
                r = evd_audit_append(txn, &c->job->actor, "item.repaired", subject, d, NULL);
        if (r == 0)
                r = evd_scrub_alarm_clear(txn, id);
        json_decref(d);
        return r;
}

/* The catalog transaction that makes a verified copy "stored" (invariant 1 and 2). */
static int commit_file(struct evd_txn *txn, void *p)
{
        struct commit_ctx *c = p;
        const struct evd_original *o = c->orig;
        char hex[EVD_SHA256_HEX];
        json_t *item = NULL;
        int r;

        if (c->published && (r = commit_repair(txn, c)) < 0)
                return r;
        r = evd_catalog_source_get(txn, c->job->recorder, o->path, o->path_len, o->size, o->mtime,
                                   &c->id);
        if (r == 0) {
                c->outcome = SKIPPED; /* another job stored it meanwhile */
                return 0;
        }
        if (r != -ENOENT)
                return r;
        evd_hex(c->copy->sha256, EVD_SHA256_LEN, hex);
        r = evd_catalog_item_by_sha(txn, hex, &c->id);
        if (r == 0) {
                json_t *occ = evd_item_occurrence(c->job->recorder, o, c->now);

                r = occ ? evd_catalog_item_get(txn, c->id, &item) : -ENOMEM;
                if (r == 0 && !evd_item_has_occurrence(item, occ)) {
                        r = json_array_append(json_object_get(item, "occurrences"), occ) < 0
                                    ? -ENOMEM
                                    : evd_catalog_item_put(txn, item);
                        if (r == 0)
                                r = audit_item(txn, c, "item.duplicate", item);
                }
                json_decref(occ);
                c->outcome = DUPLICATE;
        } else if (r == -ENOENT) {
                item = evd_item_new(c->job->recorder, o, c->copy->sha256, c->copy->size, c->now,
                                    &c->job->conf, c->job->calendar, c->media);
                if (item && c->job->session)
                        (void)json_object_set_new(item, "dock_session",
                                                  json_integer((json_int_t)c->job->session));
                r = item ? set_handler(txn, c, item) : -ENOMEM;
                if (r == 0) /* the clock and the handler known: trips may move it */
                        r = set_deadline(txn, c, item);
                if (r == 0)
                        r = evd_catalog_item_put(txn, item);
                if (r == 0) {
                        c->id = (uint64_t)json_integer_value(json_object_get(item, "id"));
                        r = audit_item(txn, c, "item.stored", item);
                }
                if (r == 0)
                        r = evd_item_integrity_flag(txn, item);
                if (r == 0)
                        r = evd_item_daily_add(txn, c->now, c->copy->size);
                c->outcome = STORED;
        }
        json_decref(item);
        if (r < 0)
                return r;
        return evd_catalog_source_put(txn, c->job->recorder, o->path, o->path_len, o->size,
                                      o->mtime, c->id);
}

/* A new item of the job: its id, and its damage counted when the probe found any. */
static void count_stored(struct evd_ingest *e, struct evd_ingest_job *job,
                         const struct commit_ctx *c)
{
        pthread_mutex_lock(&e->lock);
        (void)json_array_append_new(job->new_ids, json_integer((json_int_t)c->id));
        if (c->integrity[0] && strcmp(c->integrity, "ok") != 0) {
                json_t *n = json_object_get(job->damaged, c->integrity);

                (void)json_object_set_new(job->damaged, c->integrity,
                                          json_integer(json_integer_value(n) + 1));
        }
        pthread_mutex_unlock(&e->lock);
}

struct failure_ctx {
        struct evd_ingest_job *job;
        json_t *details;
};

static int commit_failure(struct evd_txn *txn, void *p)
{
        struct failure_ctx *f = p;

        return evd_audit_append(txn, &f->job->actor, "ingest.file_failed", f->job->recorder,
                                f->details, NULL);
}

static void fail_file(struct evd_ingest *e, struct evd_ingest_job *job,
                      const struct evd_original *o, const char *reason)
{
        json_t *d = json_pack("{ss ss}", "recorder", job->recorder, "reason", reason);
        struct failure_ctx f = { .job = job, .details = d };
        struct evd_err err = { 0 };

        atomic_fetch_add(&job->failed, 1);
        if (!d || evd_item_set_path(d, "original_path", o->path, o->path_len) < 0) {
                json_decref(d);
                return;
        }
        /* Failing to audit a failure leaves the failure in the job's report. */
        (void)evd_catalog_write(e->catalog, commit_failure, &f, &err);
        pthread_mutex_lock(&e->lock);
        if (json_array_size(job->failures) < EVD_INGEST_FAILURES_MAX)
                (void)json_array_append(job->failures, d);
        pthread_mutex_unlock(&e->lock);
        json_decref(d);
}

/* The source's reader, counting into the job's progress how far into the file it has
 * read, so that a second pass over the source (verify = source+destination) adds
 * nothing. */
struct counting_reader {
        struct evd_reader inner;
        struct evd_ingest_job *job;
        uint64_t counted; /* the furthest byte read, added by this file: taken back when
                           * it ends */
};

static ssize_t counting_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
        struct counting_reader *c = ctx;
        ssize_t n = c->inner.pread(c->inner.ctx, buf, len, off);

        if (n > 0 && off + (uint64_t)n > c->counted) {
                atomic_fetch_add(&c->job->bytes_done, off + (uint64_t)n - c->counted);
                c->counted = off + (uint64_t)n;
        }
        return n;
}

/* What the stored copy is (media.h); a probe that could not finish is recorded as such:
 * the recording is stored all the same. */
static json_t *probe(struct evd_ingest *e, const uint8_t sha256[EVD_SHA256_LEN])
{
        struct evd_err err = { 0 };
        json_t *media = NULL;
        int fd, r;

        r = evd_store_open_object(e->store, sha256, &fd);
        if (r == 0) {
                r = evd_probe_media(e->probes, fd, &media, &err); /* in the sandbox */
                (void)close(fd);
        } else {
                (void)evd_err_set(&err, r, "cannot open the stored copy: %s", strerror(-r));
        }
        if (r < 0)
                media = json_pack("{sn sn s[] sn sn ss}", "container", "duration_s", "streams",
                                  "creation_time", "integrity", "probe_error", err.text);
        return media;
}

/* A copy's turn to read its job's source. */
struct source_turn {
        struct evd_ingest_job *job;
        bool held;
};

/* Copies of one job that may read its source at once: all of parallel_copies while it
 * is alone, one each when there are as many jobs (docks) as that. The job's other
 * workers sync and verify what they read meanwhile; a dock's bus is never idle and
 * the copies waiting for it hold no memory. Lock held. */
static int readers_allowed(const struct evd_ingest *e)
{
        int jobs = 0;

        for (const struct evd_ingest_job *j = e->jobs; j; j = j->next_job)
                jobs += j->next < j->n || j->active > 0;
        return jobs > 1 ? (e->base_workers / jobs > 1 ? e->base_workers / jobs : 1)
                        : e->base_workers;
}

/* Wait for a turn to read; *ret_blocks gets how deep the copy's ring may be: with a
 * reader per job the store is what everyone waits for, and deeper rings would only
 * hold memory (tests/bench/docks.py). */
static int source_acquire(struct evd_ingest *e, struct source_turn *t, unsigned *ret_blocks)
{
        struct evd_ingest_job *job = t->job;
        int r = 0;

        pthread_mutex_lock(&e->lock);
        while (!atomic_load(&job->cancel) && job->reading >= readers_allowed(e))
                pthread_cond_wait(&e->source, &e->lock);
        if (atomic_load(&job->cancel)) {
                r = -ECANCELED;
        } else {
                job->reading++;
                t->held = true;
                *ret_blocks = readers_allowed(e) == 1 ? 2 : 0;
        }
        pthread_mutex_unlock(&e->lock);
        return r;
}

static void source_release(void *p)
{
        struct source_turn *t = p;
        struct evd_ingest *e = t->job->engine;

        if (!t->held)
                return;
        pthread_mutex_lock(&e->lock);
        t->job->reading--;
        t->held = false;
        pthread_cond_broadcast(&e->source);
        pthread_mutex_unlock(&e->lock);
}

/* Copy, verify, publish, probe and catalogue one original. */
static int store_one(struct evd_ingest *e, struct evd_ingest_job *job, const struct evd_original *o,
                     struct commit_ctx *c, uint64_t *counted, struct evd_err *err)
{
        struct counting_reader counting = { .job = job };
        struct evd_reader reader = { .pread = counting_pread, .ctx = &counting };
        struct evd_copy_result res;
        char quarantined[EVD_STORE_PATH_MAX] = "";
        void *state = NULL;
        json_t *media;
        bool existed;
        int r;

        struct source_turn turn = { .job = job };
        struct evd_copy_opts opts = { .verify = job->conf.verify,
                                      .cancel = &job->cancel,
                                      .source_done = source_release,
                                      .userdata = &turn };

        r = source_acquire(e, &turn, &opts.max_blocks);
        if (r < 0)
                return r;
        r = job->ops->open(job->source, o, &counting.inner, &state, err);
        if (r == 0) {
                r = evd_copy_run(e->store, &reader, &opts, &res, err);
                job->ops->close(job->source, state);
        }
        source_release(&turn); /* when the copy failed before its last read */
        *counted = counting.counted;
        if (r < 0)
                return r;
        /* From finding the object to committing its item, no purge of the same bytes
         * may run (it would unlink the object under the new item). */
        evd_store_lock(e->store, res.sha256);
        r = evd_store_publish(e->store, res.tmp_name, res.sha256, &existed, quarantined, err);
        if (r < 0) {
                evd_store_unlock(e->store, res.sha256);
                evd_store_tmp_discard(e->store, res.tmp_name); /* gone already if moved */
                return r;
        }
        evd_test_gate("EVIDOCK_TEST_INGEST_GATE");
        c->copy = &res;
        c->published = !existed;
        c->quarantined = quarantined;
        c->media = media = probe(e, res.sha256);
        c->now = evd_clock_now();
        (void)snprintf(c->integrity, sizeof(c->integrity), "%s",
                       json_string_value(json_object_get(media, "integrity")) ?: "");
        /* With the other copies' commits of the moment: one sync for all (catalog.h). */
        r = evd_catalog_write_grouped(e->catalog, commit_file, c, err);
        evd_store_unlock(e->store, res.sha256);
        json_decref(media);
        c->copy = NULL;
        return r;
}

struct pause_ctx {
        struct evd_ingest_job *job;
        const char *event;
        uint64_t free_bytes, needed;
};

static int audit_pause(struct evd_txn *txn, void *p)
{
        struct pause_ctx *c = p;
        json_t *d = json_pack("{sI sI sI}", "free_bytes", (json_int_t)c->free_bytes, "needed_bytes",
                              (json_int_t)c->needed, "reserve_bytes",
                              (json_int_t)c->job->conf.reserve_mb << 20);
        int r = d ? evd_audit_append(txn, &c->job->actor, c->event, c->job->recorder, d, NULL)
                  : -ENOMEM;

        json_decref(d);
        return r;
}

/* Room for size bytes above the reserve and above what copies in flight were granted
 * (they may not have written it yet: eight docks starting together would each see the
 * same free space), claimed for this copy when there is. */
static bool claim_space(struct evd_ingest *e, uint64_t size, struct pause_ctx *c)
{
        bool ok;

        pthread_mutex_lock(&e->lock);
        ok = evd_store_free_bytes(e->store, &c->free_bytes) < 0 ||
             (c->free_bytes >= c->needed && c->free_bytes - c->needed >= e->claimed);
        if (ok)
                e->claimed += size;
        pthread_mutex_unlock(&e->lock);
        return ok;
}

static void release_space(struct evd_ingest *e, uint64_t size)
{
        pthread_mutex_lock(&e->lock);
        e->claimed -= size;
        pthread_mutex_unlock(&e->lock);
}

/* Wait until the store has room for size bytes above the reserve (claim_space), or the
 * job is cancelled (-ECANCELED). The pause and the resumption are audited and shown in
 * status; the recorder is left as it is meanwhile. On 0 the room is claimed: the
 * caller gives it back with release_space. */
static int wait_for_space(struct evd_ingest *e, struct evd_ingest_job *job, uint64_t size)
{
        struct pause_ctx c = { .job = job,
                               .needed = size + ((uint64_t)job->conf.reserve_mb << 20) };
        struct evd_err err = { 0 };
        bool paused = false;

        for (;;) {
                if (atomic_load(&job->cancel))
                        return -ECANCELED;
                if (claim_space(e, size, &c))
                        break;
                if (!paused) {
                        paused = true;
                        atomic_fetch_add(&e->paused, 1);
                        atomic_store(&e->free_when_paused, c.free_bytes);
                        c.event = "ingest.paused_disk_full";
                        (void)evd_catalog_write(e->catalog, audit_pause, &c, &err);
                }
                (void)usleep(EVD_INGEST_SPACE_POLL_MS * 1000);
        }
        if (paused) {
                atomic_fetch_sub(&e->paused, 1);
                c.event = "ingest.resumed";
                (void)evd_catalog_write(e->catalog, audit_pause, &c, &err);
        }
        return 0;
}

/* Whether item id's stored copy was found damaged or missing (and not repaired). */
static bool item_damaged(struct evd_txn *txn, uint64_t id)
{
        json_t *item = NULL;
        bool bad;

        if (evd_catalog_item_get(txn, id, &item) < 0)
                return false;
        bad = !json_object_get(item, "purged") &&
              strcmp(json_string_value(json_object_get(item, "fixity")) ?: "", "damaged") == 0;
        json_decref(item);
        return bad;
}

static void process(struct evd_ingest *e, struct evd_ingest_job *job, const struct evd_original *o)
{
        struct commit_ctx c = { .job = job, .orig = o };
        struct evd_err err = { 0 };
        struct evd_txn txn;
        uint64_t id, counted = 0;
        int r;

        /* Already stored from this recorder and path, same size and time: skip it
         * without reading it. */
        if (evd_catalog_read_begin(e->catalog, &txn) == 0) {
                r = evd_catalog_source_get(&txn, job->recorder, o->path, o->path_len, o->size,
                                           o->mtime, &id);
                if (r == 0 && item_damaged(&txn, id))
                        r = -EAGAIN; /* read it again: it may repair the stored copy */
                evd_catalog_read_end(&txn);
                if (r == 0) {
                        atomic_fetch_add(&job->skipped, 1);
                        atomic_fetch_add(&job->bytes_done, o->size);
                        return;
                }
        }
        /* A full disk is waited out, not failed: the copy starts again once there is
         * room (a copy that ran out of space mid-way left nothing behind). */
        for (int tries = 0;; tries++) {
                evd_err_clear(&err);
                atomic_fetch_sub(&job->bytes_done, counted); /* what a failed try read */
                counted = 0;
                r = wait_for_space(e, job, o->size);
                if (r == 0) {
                        evd_test_gate("EVIDOCK_TEST_SPACE_GATE");
                        r = store_one(e, job, o, &c, &counted, &err);
                        release_space(e, o->size);
                }
                /* Out of space although the reserve looked free (another writer, or the
                 * catalogue at its largest): look again a while, then give up. */
                if (r != -ENOSPC || atomic_load(&job->cancel) || tries >= EVD_INGEST_SPACE_TRIES)
                        break;
                (void)usleep(EVD_INGEST_SPACE_POLL_MS * 1000);
        }
        /* Count the listed size, whatever was read, so that progress ends at 100%
         * (several files run at once: adjust by this file's own count). */
        if (counted <= o->size)
                atomic_fetch_add(&job->bytes_done, o->size - counted);
        else
                atomic_fetch_sub(&job->bytes_done, counted - o->size);
        if (r == 0 && c.outcome == STORED)
                count_stored(e, job, &c);
        if (r == 0) {
                atomic_fetch_add(c.outcome == STORED      ? &job->stored
                                 : c.outcome == DUPLICATE ? &job->duplicate
                                                          : &job->skipped,
                                 1);
                return;
        }
        if (r == -ECANCELED || (r == -ENOSPC && atomic_load(&job->cancel)))
                return;
        fail_file(e, job, o, err.text[0] ? err.text : strerror(-r));
}

/* What this dock or import proved of the recorder's clock, on its record: the newest
 * recordings speak for the clock as it is now, so a job that stored recordings
 * replaces the finding (a clock reset since shows 0). Beyond the tolerance it is
 * audited as recorder.clock_fast. */
static int record_clock(struct evd_txn *txn, struct evd_ingest_job *job, json_t *rec,
                        const char *now)
{
        int64_t ahead = atomic_load(&job->clock_ahead_s);
        json_t *d;
        int r;

        if (atomic_load(&job->stored) == 0 && ahead == 0)
                return 0;
        (void)json_object_set_new(rec, "clock_ahead_s", json_integer(ahead));
        (void)json_object_set_new(rec, "clock_checked_at", json_string(now));
        (void)json_object_set_new(rec, "clock_checked_by", json_string(job->kind));
        if (ahead <= job->conf.clock_tolerance_s)
                return 0;
        d = json_pack("{ss sI sI ss sI}", "serial", job->recorder, "clock_ahead_s",
                      (json_int_t)ahead, "clock_tolerance_s",
                      (json_int_t)job->conf.clock_tolerance_s, "found_by", job->kind, "session",
                      (json_int_t)job->session);
        r = d ? evd_audit_append(txn, &job->actor, "recorder.clock_fast", job->recorder, d, NULL)
              : -ENOMEM;
        json_decref(d);
        return r;
}

/* A registered recorder was just docked or imported: when, for the not-docked warning. */
static int mark_seen(struct evd_txn *txn, struct evd_ingest_job *job)
{
        char now[EVD_TIME_STR];
        json_t *rec = NULL;
        int r;

        r = evd_recorder_get(txn, job->recorder, &rec);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        evd_time_format(evd_clock_now(), now);
        (void)json_object_set_new(rec, "last_seen", json_string(now));
        r = record_clock(txn, job, rec, now);
        if (r == 0)
                r = evd_recorder_put(txn, rec);
        json_decref(rec);
        return r;
}

static int audit_summary(struct evd_txn *txn, void *p)
{
        struct evd_ingest_job *job = p;
        char event[32];
        json_t *d = evd_ingest_job_report(job);
        int r;

        if (!d)
                return -ENOMEM;
        (void)json_object_del(d, "failures");
        (void)json_object_del(d, "new_ids"); /* each has its item.stored entry */
        r = mark_seen(txn, job);
        if (r < 0) {
                json_decref(d);
                return r;
        }
        (void)snprintf(event, sizeof(event), "%s.%s", job->kind,
                       atomic_load(&job->cancel) ? "interrupted" : "done");
        r = evd_audit_append(txn, &job->actor, event, job->recorder, d, NULL);
        json_decref(d);
        return r;
}

static void finish(struct evd_ingest *e, struct evd_ingest_job *job)
{
        struct evd_err err = { 0 };

        (void)evd_catalog_write(e->catalog, audit_summary, job, &err);
        if (job->on_done)
                job->on_done(job, job->userdata);
}

static bool has_work(const struct evd_ingest_job *j)
{
        return j->next < j->n && !atomic_load(&j->cancel);
}

/* Workers the pool keeps for a job with files left: more for a job of small files
 * whose max_parallel allows more. */
static int job_workers(const struct evd_ingest_job *j)
{
        return j->small && j->max_parallel > EVD_INGEST_JOB_WORKERS ? j->max_parallel
                                                                    : EVD_INGEST_JOB_WORKERS;
}

/* The next job with a file to hand out: of those below their bound, the one with the
 * fewest workers, so that every job gets a worker before any gets a second (a dock
 * reads at its bus's speed whatever the others do); ties go in turn. Lock held. */
static struct evd_ingest_job *pick(struct evd_ingest *e)
{
        struct evd_ingest_job *start = e->turn ? e->turn : e->jobs, *j = start, *best = NULL;

        if (!j)
                return NULL;
        do {
                if (has_work(j) && (j->max_parallel == 0 || j->active < j->max_parallel) &&
                    (!best || j->active < best->active))
                        best = j;
                j = j->next_job ? j->next_job : e->jobs;
        } while (j != start);
        if (best)
                e->turn = best->next_job ? best->next_job : e->jobs;
        return best;
}

static void *worker_main(void *arg);

/* Enough workers for every job with files left to have EVD_INGEST_JOB_WORKERS of them
 * (a copy of one file waits mostly on its source: one slow bus must not hold up the
 * others), or its max_parallel for a job of small files (job_workers), and never fewer
 * than parallel_copies; at most EVD_INGEST_WORKERS_MAX. Lock held. */
static void grow(struct evd_ingest *e)
{
        int want = 0;

        for (const struct evd_ingest_job *j = e->jobs; j; j = j->next_job)
                if (has_work(j))
                        want += job_workers(j);
        if (want > EVD_INGEST_WORKERS_MAX)
                want = EVD_INGEST_WORKERS_MAX;
        while (e->n_workers < want &&
               pthread_create(&e->workers[e->n_workers], NULL, worker_main, e) == 0)
                e->n_workers++;
}

static void unlink_job(struct evd_ingest *e, struct evd_ingest_job *job)
{
        struct evd_ingest_job **pp;

        for (pp = &e->jobs; *pp; pp = &(*pp)->next_job)
                if (*pp == job) {
                        *pp = job->next_job;
                        break;
                }
        if (e->turn == job)
                e->turn = job->next_job ? job->next_job : e->jobs;
}

/* Is the job complete now? Lock held; unlinks it when so. */
static bool take_finished(struct evd_ingest *e, struct evd_ingest_job *job)
{
        if (job->finished || job->active > 0)
                return false;
        if (job->next < job->n && !atomic_load(&job->cancel))
                return false;
        job->finished = true;
        unlink_job(e, job);
        return true;
}

static void *worker_main(void *arg)
{
        struct evd_ingest *e = arg;

        /* Named, so that an operator (or a fault-injection test) can find the copiers. */
        (void)pthread_setname_np(pthread_self(), "evd-copy");

        pthread_mutex_lock(&e->lock);
        while (!e->stopping) {
                struct evd_ingest_job *job = pick(e);
                size_t i;

                if (!job) {
                        pthread_cond_wait(&e->work, &e->lock);
                        continue;
                }
                i = job->next++;
                job->active++;
                pthread_mutex_unlock(&e->lock);
                process(e, job, &job->files[i]);
                pthread_mutex_lock(&e->lock);
                job->active--;
                if (take_finished(e, job)) {
                        pthread_mutex_unlock(&e->lock);
                        finish(e, job);
                        pthread_mutex_lock(&e->lock);
                }
        }
        pthread_mutex_unlock(&e->lock);
        return NULL;
}

int evd_ingest_new(struct evd_store *store, struct evd_catalog *catalog, int n_workers,
                   struct evd_ingest **ret, struct evd_err *err)
{
        struct evd_ingest *e = calloc(1, sizeof(*e));

        if (!e || n_workers < 1)
                goto nomem;
        if (n_workers > EVD_INGEST_WORKERS_MAX)
                n_workers = EVD_INGEST_WORKERS_MAX;
        e->store = store;
        e->catalog = catalog;
        e->base_workers = n_workers;
        if (evd_probes_new(0, &e->probes) < 0)
                goto nomem;
        pthread_mutex_init(&e->lock, NULL);
        pthread_cond_init(&e->work, NULL);
        pthread_cond_init(&e->source, NULL);
        for (; e->n_workers < n_workers; e->n_workers++) {
                if (pthread_create(&e->workers[e->n_workers], NULL, worker_main, e) != 0) {
                        evd_ingest_free(e);
                        return evd_err_set(err, -EAGAIN, "cannot start copy workers");
                }
        }
        *ret = e;
        return 0;
nomem:
        if (e)
                evd_probes_free(e->probes);
        free(e);
        return evd_err_set(err, -ENOMEM, "out of memory");
}

bool evd_ingest_paused(struct evd_ingest *e, uint64_t *ret_free_bytes)
{
        if (atomic_load(&e->paused) == 0)
                return false;
        *ret_free_bytes = atomic_load(&e->free_when_paused);
        return true;
}

bool evd_ingest_busy(struct evd_ingest *e)
{
        bool busy;

        pthread_mutex_lock(&e->lock);
        busy = e->jobs != NULL;
        pthread_mutex_unlock(&e->lock);
        return busy;
}

void evd_ingest_free(struct evd_ingest *e)
{
        struct evd_ingest_job *finished = NULL, *j;

        if (!e)
                return;
        pthread_mutex_lock(&e->lock);
        for (j = e->jobs; j; j = j->next_job)
                atomic_store(&j->cancel, true);
        e->stopping = true;
        pthread_cond_broadcast(&e->work);
        pthread_cond_broadcast(&e->source);
        pthread_mutex_unlock(&e->lock);
        for (int i = 0; i < e->n_workers; i++)
                (void)pthread_join(e->workers[i], NULL);
        /* Jobs still queued end as interrupted, so their owners hear of them. */
        while (e->jobs) {
                j = e->jobs;
                j->finished = true;
                unlink_job(e, j);
                j->next_job = finished;
                finished = j;
        }
        while (finished) {
                j = finished;
                finished = j->next_job;
                finish(e, j);
        }
        pthread_cond_destroy(&e->work);
        pthread_cond_destroy(&e->source);
        pthread_mutex_destroy(&e->lock);
        evd_probes_free(e->probes);
        free(e);
}

struct evd_probes *evd_ingest_probes(struct evd_ingest *e)
{
        return e->probes;
}

struct evd_ingest_job *evd_ingest_job_new(const char *kind, const char *recorder,
                                          const struct evd_actor *actor,
                                          const struct evd_conf *conf,
                                          const struct evd_source_ops *ops, void *source,
                                          struct evd_original *originals, size_t n,
                                          int max_parallel, const struct evd_calendar *calendar)
{
        struct evd_ingest_job *job = calloc(1, sizeof(*job));

        if (job) {
                job->new_ids = json_array();
                job->damaged = json_object();
        }
        if (!job || !(job->failures = json_array()) || !job->new_ids || !job->damaged) {
                free(job);
                evd_originals_free(originals, n);
                return NULL;
        }
        (void)snprintf(job->kind, sizeof(job->kind), "%s", kind);
        (void)snprintf(job->recorder, sizeof(job->recorder), "%s", recorder);
        job->actor = *actor;
        job->conf = *conf;
        job->calendar = calendar;
        job->ops = ops;
        job->source = source;
        job->files = originals;
        job->n = n;
        job->max_parallel = max_parallel;
        job->listed_at = evd_clock_now();
        for (size_t i = 0; i < n; i++)
                job->bytes_total += originals[i].size;
        job->small = evd_ingest_small_files(originals, n);
        return job;
}

bool evd_ingest_small_files(const struct evd_original *originals, size_t n)
{
        uint64_t total = 0;

        for (size_t i = 0; i < n; i++)
                total += originals[i].size;
        return n > 0 && total / n <= EVD_INGEST_SMALL_FILE;
}

void evd_ingest_job_set_session(struct evd_ingest_job *job, uint64_t session)
{
        job->session = session;
}

void evd_ingest_submit(struct evd_ingest *e, struct evd_ingest_job *job,
                       void (*on_done)(struct evd_ingest_job *, void *), void *userdata)
{
        bool empty;

        job->engine = e;
        job->on_done = on_done;
        job->userdata = userdata;
        pthread_mutex_lock(&e->lock);
        empty = job->n == 0;
        if (empty) {
                job->finished = true;
        } else {
                job->next_job = e->jobs;
                e->jobs = job;
                grow(e);
                pthread_cond_broadcast(&e->work);
        }
        pthread_mutex_unlock(&e->lock);
        if (empty)
                finish(e, job);
}

void evd_ingest_job_cancel(struct evd_ingest_job *job)
{
        struct evd_ingest *e = job->engine;
        bool done = false;

        atomic_store(&job->cancel, true);
        if (!e)
                return;
        pthread_mutex_lock(&e->lock);
        done = take_finished(e, job);
        pthread_cond_broadcast(&e->source); /* its copies waiting to read give up */
        pthread_mutex_unlock(&e->lock);
        if (done)
                finish(e, job);
}

void evd_ingest_job_progress(struct evd_ingest_job *job, struct evd_ingest_progress *ret)
{
        ret->files_total = job->n;
        ret->files_stored = atomic_load(&job->stored);
        ret->files_duplicate = atomic_load(&job->duplicate);
        ret->files_skipped = atomic_load(&job->skipped);
        ret->files_failed = atomic_load(&job->failed);
        ret->bytes_total = job->bytes_total;
        ret->bytes_done = atomic_load(&job->bytes_done);
        ret->clock_ahead_s = atomic_load(&job->clock_ahead_s);
        if (job->engine)
                pthread_mutex_lock(&job->engine->lock);
        ret->finished = job->engine && job->finished;
        ret->damaged_truncated =
                (uint64_t)json_integer_value(json_object_get(job->damaged, "truncated"));
        ret->damaged_corrupt =
                (uint64_t)json_integer_value(json_object_get(job->damaged, "corrupt"));
        ret->damaged_not_media =
                (uint64_t)json_integer_value(json_object_get(job->damaged, "not-media"));
        if (job->engine)
                pthread_mutex_unlock(&job->engine->lock);
}

json_t *evd_ingest_damaged_json(const struct evd_ingest_progress *p)
{
        const struct {
                const char *kind;
                uint64_t n;
        } counts[] = { { "truncated", p->damaged_truncated },
                       { "corrupt", p->damaged_corrupt },
                       { "not-media", p->damaged_not_media } };
        json_t *o = json_object();

        for (size_t i = 0; o && i < EVD_ARRAY_SIZE(counts); i++)
                if (counts[i].n > 0)
                        (void)json_object_set_new(o, counts[i].kind,
                                                  json_integer((json_int_t)counts[i].n));
        return o;
}

json_t *evd_ingest_job_report(struct evd_ingest_job *job)
{
        struct evd_ingest_progress p;
        json_t *failures, *new_ids, *damaged;

        evd_ingest_job_progress(job, &p);
        if (job->engine)
                pthread_mutex_lock(&job->engine->lock);
        failures = json_deep_copy(job->failures);
        new_ids = json_deep_copy(job->new_ids);
        damaged = json_deep_copy(job->damaged);
        if (job->engine)
                pthread_mutex_unlock(&job->engine->lock);
        return json_pack(
                "{so so ss sI sI sI sI sI sI sI sI sb so}", "new_ids",
                new_ids ? new_ids : json_array(), "damaged", damaged ? damaged : json_object(),
                "recorder", job->recorder, "files_total", (json_int_t)p.files_total, "files_stored",
                (json_int_t)p.files_stored, "files_duplicate", (json_int_t)p.files_duplicate,
                "files_skipped", (json_int_t)p.files_skipped, "files_failed",
                (json_int_t)p.files_failed, "files_not_copied",
                (json_int_t)(p.files_total - p.files_stored - p.files_duplicate - p.files_skipped -
                             p.files_failed),
                "bytes_total", (json_int_t)p.bytes_total, "clock_ahead_s",
                (json_int_t)p.clock_ahead_s, "interrupted", atomic_load(&job->cancel), "failures",
                failures ? failures : json_array());
}

void evd_ingest_job_free(struct evd_ingest_job *job)
{
        if (!job)
                return;
        evd_originals_free(job->files, job->n);
        json_decref(job->failures);
        json_decref(job->new_ids);
        json_decref(job->damaged);
        free(job);
}
