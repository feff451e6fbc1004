/* dock: docking sessions (see dock.h).
 *
 * Threads. The loop thread owns the session table's shape (adding and freeing
 * sessions) and every libuv handle. Steps that block run as uv_work (identify,
 * list, cancel, record the end) or in the ingest engine's workers (copies, and the
 * job's end, whose record is written right there). Fields that other threads read
 * (state, counters, error) are under docks->lock; a session is freed only on the
 * loop, once it has left and nothing runs on its behalf. */
#include "dock.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "blockdev.h"
#include "clock.h"
#include "ingest.h"
#include "probe.h"
#include "recorder.h"
#include "usbwatch.h"
#include "util.h"

#define USB_CLASS_HUB 0x09

enum state {
        ST_IDENTIFYING, /* registry lookup in flight */
        ST_REJECTED,
        ST_DOCKED, /* waiting for the block node */
        ST_SCANNING,
        ST_COPYING,
        ST_DONE,
        ST_INTERRUPTED,
        ST_FAILED,
};

static const char *const state_names[] = {
        [ST_IDENTIFYING] = "docked",      [ST_REJECTED] = "rejected", [ST_DOCKED] = "docked",
        [ST_SCANNING] = "scanning",       [ST_COPYING] = "copying",   [ST_DONE] = "done",
        [ST_INTERRUPTED] = "interrupted", [ST_FAILED] = "failed",
};

enum step { STEP_IDENTIFY, STEP_SCAN, STEP_END, STEP_UNMARK };

struct session {
        struct evd_docks *docks;
        /* Set at arrival (and id by the identify step), then read-only. */
        uint64_t id;
        char port[EVD_USB_PORT_PATH_MAX];
        uint8_t devnum;
        uint16_t vid, pid;
        char serial[EVD_USB_SERIAL_MAX + 1];
        char serial_shown[EVD_NAME_ESCAPED_MAX(EVD_USB_SERIAL_MAX)];
        char syspath[EVD_USB_SYSPATH_MAX];
        char plug[EVD_USB_PORT_PATH_MAX + 8]; /* "PORT#DEVNUM": this plug-in (recorder.h) */
        int64_t docked_at;
        char node[EVD_BLOCKDEV_NODE_MAX];

        /* docks->lock */
        enum state state;
        char error[EVD_ERR_TEXT_MAX];
        bool left;      /* departed, or the station is stopping */
        bool job_ended; /* the job's on_done has run */
        uint64_t copy_start_ns;
        uint64_t copy_end_ns;
        struct evd_ingest_progress final;

        /* Loop thread only. */
        uv_work_t work;
        enum step step;
        bool busy; /* work in flight */
        uv_work_t cancel_work;
        bool cancelling;
        bool reaped;          /* job and source freed */
        void *wait;           /* env.disk->wait_start's */
        enum state end_state; /* what STEP_END records */

        /* Handed from step to step; one owner at a time. */
        bool unregistered;             /* identify found no such recorder */
        bool marked;                   /* the lister failed on this plug-in: unmark at departure */
        bool lister_failed;            /* scan failed by the lister's fault: mark it */
        char reject[EVD_ERR_TEXT_MAX]; /* why identify turned the recorder away */
        void *src;                     /* env.disk->scan's */
        struct evd_ingest_job *job;
        size_t n_files;
};

/* An interrupted dock's card stays on the board this long after its recorder left, or
 * until another recorder docks on that port: an inspector who pulled too early sees
 * why, and that the dock must be done again. */
#define LEFT_CARD_NS (10ull * 60 * 1000000000ull)

struct left_card {
        char port[EVD_USB_PORT_PATH_MAX];
        json_t *card; /* the session's board object when it ended; NULL: none */
        uint64_t until_ns;
};

struct evd_docks {
        uv_loop_t *loop;
        struct evd_dock_env env;
        struct evd_usbwatch *watch;
        char usb_error[EVD_ERR_TEXT_MAX]; /* why docking is off, "" when on */
        uv_async_t async;                 /* a job ended */
        bool async_closed;
        bool stopping;
        pthread_mutex_t lock;
        struct session *sessions[EVD_DOCKS_MAX];
        struct left_card left_cards[EVD_DOCKS_MAX];
};

static const struct evd_actor dock_actor = { .uid = 0, .name = "evidockd" };

static void say(struct evd_docks *d, int priority, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void say(struct evd_docks *d, int priority, const char *fmt, ...)
{
        char text[EVD_ERR_TEXT_MAX + 256];
        va_list ap;

        if (!d->env.log)
                return;
        va_start(ap, fmt);
        (void)vsnprintf(text, sizeof(text), fmt, ap); /* a cut message is still worth it */
        va_end(ap);
        d->env.log(priority, text, d->env.log_userdata);
}

static void set_state(struct session *s, enum state st, const char *error)
{
        pthread_mutex_lock(&s->docks->lock);
        s->state = st;
        if (error)
                (void)snprintf(s->error, sizeof(s->error), "%s", error);
        pthread_mutex_unlock(&s->docks->lock);
}

static void set_id(struct session *s, uint64_t id)
{
        pthread_mutex_lock(&s->docks->lock);
        s->id = id;
        pthread_mutex_unlock(&s->docks->lock);
}

static bool has_left(struct session *s)
{
        bool left;

        pthread_mutex_lock(&s->docks->lock);
        left = s->left;
        pthread_mutex_unlock(&s->docks->lock);
        return left;
}

/* ---- the session record ---- */

struct record_ctx {
        struct session *s;
        const char *event;
        const char *outcome; /* NULL while the session runs */
        const char *error;
        const struct evd_ingest_progress *p;
        bool identify; /* look the recorder up first; may turn into a rejection */
        bool unregistered;
        bool marked;      /* identify found the lister's mark on this plug-in */
        const char *mark; /* remember that the lister failed on it, for this reason */
        uint64_t id;
        char reject[EVD_ERR_TEXT_MAX]; /* why an unregistered recorder was turned away */
};

static json_t *record_json(const struct record_ctx *c, uint64_t id)
{
        const struct session *s = c->s;
        const struct evd_ingest_progress *p = c->p;
        char vidpid[16], docked[EVD_TIME_STR], ended[EVD_TIME_STR];
        json_t *r;

        (void)snprintf(vidpid, sizeof(vidpid), "%04x:%04x", s->vid, s->pid);
        evd_time_format(s->docked_at, docked);
        r = json_pack("{sI ss ss ss ss ss? ss? ss}", "id", (json_int_t)id, "serial",
                      s->serial[0] ? s->serial : s->serial_shown, "port", s->port, "vid_pid",
                      vidpid, "docked_at", docked, "outcome", c->outcome, "error", c->error, "node",
                      s->node);
        if (!r)
                return NULL;
        if (c->outcome) {
                evd_time_format(evd_clock_now(), ended);
                (void)json_object_set_new(r, "ended_at", json_string(ended));
        }
        if (p) {
                (void)json_object_set_new(r, "files_found",
                                          json_integer((json_int_t)p->files_total));
                (void)json_object_set_new(r, "files_stored",
                                          json_integer((json_int_t)p->files_stored));
                (void)json_object_set_new(r, "files_duplicate",
                                          json_integer((json_int_t)p->files_duplicate));
                (void)json_object_set_new(r, "files_skipped",
                                          json_integer((json_int_t)p->files_skipped));
                (void)json_object_set_new(r, "files_failed",
                                          json_integer((json_int_t)p->files_failed));
                (void)json_object_set_new(r, "bytes_total",
                                          json_integer((json_int_t)p->bytes_total));
                (void)json_object_set_new(r, "bytes_done", json_integer((json_int_t)p->bytes_done));
                if (p->clock_ahead_s > 0)
                        (void)json_object_set_new(r, "clock_ahead_s",
                                                  json_integer((json_int_t)p->clock_ahead_s));
                (void)json_object_set_new(r, "damaged", evd_ingest_damaged_json(p));
        }
        return r;
}

/* In one write transaction: (look the recorder up,) the record and its audit entry. */
static int record_fn(struct evd_txn *txn, void *p)
{
        struct record_ctx *c = p;
        const char *event = c->event, *outcome = c->outcome, *error = c->error;
        char key[24], subject[32];
        json_t *rec = NULL, *record;
        int r;

        c->unregistered = c->marked = false;
        if (c->identify) {
                r = evd_recorder_get(txn, c->s->serial, &rec);
                if (r == 0) /* the lister failed on this plug-in: fail at once */
                        r = evd_recorder_lister_check(txn, rec, c->s->plug, c->reject,
                                                      sizeof(c->reject));
                c->marked = r > 0;
                r = r > 0 ? 0 : r;
                json_decref(rec);
                if (r == -ENOENT) {
                        char near[256];

                        evd_recorder_near(txn, c->s->serial, near, sizeof(near));
                        if (near[0])
                                (void)snprintf(c->reject, sizeof(c->reject),
                                               "recorder %.100s is not registered (did you mean "
                                               "%s?)",
                                               c->s->serial_shown, near);
                        else
                                (void)snprintf(c->reject, sizeof(c->reject),
                                               "serial number not registered as a recorder "
                                               "(evidockctl recorder add)");
                        c->unregistered = true;
                        event = "dock.rejected";
                        outcome = "rejected";
                        error = c->reject;
                } else if (r < 0) {
                        return r;
                } else if (c->marked) {
                        event = "dock.failed";
                        outcome = "failed";
                        error = c->reject;
                }
        }
        if (c->id == 0 || c->identify) {
                r = evd_catalog_next_id(txn, "dock", &c->id);
                if (r < 0)
                        return r;
        }
        (void)snprintf(key, sizeof(key), "%016" PRIu64, c->id);
        (void)snprintf(subject, sizeof(subject), "dock:%" PRIu64, c->id);
        {
                struct record_ctx shown = *c;

                shown.outcome = outcome;
                shown.error = error;
                record = record_json(&shown, c->id);
        }
        if (!record)
                return -ENOMEM;
        r = evd_catalog_json_put(txn, EVD_DB_DOCKS, key, record);
        if (r == 0)
                r = evd_audit_append(txn, &dock_actor, event, subject, record, NULL);
        if (r == 0 && c->mark)
                r = evd_recorder_lister_mark(txn, c->s->serial, c->s->plug, c->id, c->mark);
        json_decref(record);
        return r;
}

static int write_record(struct record_ctx *c, struct evd_err *err)
{
        return evd_catalog_write(c->s->docks->env.catalog, record_fn, c, err);
}

struct deleted_ctx {
        struct session *s;
        const json_t *found;
};

static int deleted_fn(struct evd_txn *txn, void *p)
{
        struct deleted_ctx *c = p;

        return evd_recorder_note_deleted(txn, c->s->serial, c->s->id, c->found, &dock_actor);
}

/* The deleted recordings scan found (taken): new ones audited, the recorder's count set
 * for status. A failure is logged; the dock goes on. */
static void record_deleted(struct session *s, json_t *found)
{
        struct deleted_ctx c = { .s = s, .found = found };
        struct evd_err err = { 0 };
        size_t n = json_array_size(json_object_get(found, "entries"));

        if (n > 0)
                say(s->docks, LOG_WARNING, "dock on %s: %zu deleted recording(s) on %s", s->port, n,
                    s->serial);
        if (evd_catalog_write(s->docks->env.catalog, deleted_fn, &c, &err) < 0)
                say(s->docks, LOG_ERR, "dock on %s: cannot record deleted recordings: %s", s->port,
                    err.text);
        json_decref(found);
}

/* ---- sessions ---- */

static void free_session(struct session *s)
{
        struct evd_docks *d = s->docks;

        pthread_mutex_lock(&d->lock);
        for (int i = 0; i < EVD_DOCKS_MAX; i++)
                if (d->sessions[i] == s)
                        d->sessions[i] = NULL;
        pthread_mutex_unlock(&d->lock);
        free(s);
}

static int n_sessions(struct evd_docks *d)
{
        int n = 0;

        pthread_mutex_lock(&d->lock);
        for (int i = 0; i < EVD_DOCKS_MAX; i++)
                n += d->sessions[i] != NULL;
        pthread_mutex_unlock(&d->lock);
        return n;
}

static void maybe_close(struct evd_docks *d)
{
        if (d->stopping && !d->async_closed && n_sessions(d) == 0) {
                d->async_closed = true;
                uv_close((uv_handle_t *)&d->async, NULL);
        }
}

static void queue_step(struct session *s, enum step step);

static json_t *session_json(const struct session *s, uint64_t now_ns);

/* The port's card of an interrupted dock, dropped. d->lock held. */
static void drop_left_card(struct evd_docks *d, const char *port)
{
        for (int i = 0; i < EVD_DOCKS_MAX; i++) {
                struct left_card *c = &d->left_cards[i];

                if (c->card && strcmp(c->port, port) == 0) {
                        json_decref(c->card);
                        c->card = NULL;
                }
        }
}

/* Whether a recorder is docked on port now (a session that has not left). d->lock
 * held. */
static bool port_docked(const struct evd_docks *d, const char *port)
{
        for (int i = 0; i < EVD_DOCKS_MAX; i++)
                if (d->sessions[i] && !d->sessions[i]->left &&
                    strcmp(d->sessions[i]->port, port) == 0)
                        return true;
        return false;
}

/* A session interrupted by its recorder leaving keeps its card on the board for a
 * while (LEFT_CARD_NS), in a free or the oldest slot, unless a recorder docked on its
 * port again before it ended (add_session drops the card when that comes after).
 * Loop thread. */
static void keep_left_card(const struct session *s)
{
        struct evd_docks *d = s->docks;
        uint64_t now = evd_clock_mono_ns();
        struct left_card *c = &d->left_cards[0];

        pthread_mutex_lock(&d->lock);
        if (s->state == ST_INTERRUPTED && !d->stopping && !port_docked(d, s->port)) {
                drop_left_card(d, s->port);
                for (int i = 1; i < EVD_DOCKS_MAX; i++) /* a free slot, else the oldest */
                        if (c->card &&
                            (!d->left_cards[i].card || d->left_cards[i].until_ns < c->until_ns))
                                c = &d->left_cards[i];
                json_decref(c->card);
                c->card = session_json(s, now);
                memcpy(c->port, s->port, sizeof(c->port));
                c->until_ns = now + LEFT_CARD_NS;
        }
        pthread_mutex_unlock(&d->lock);
}

/* Free the session when it has left and nothing runs for it any more. Loop thread. */
static void maybe_remove(struct session *s)
{
        struct evd_docks *d = s->docks;

        if (!has_left(s) || s->busy || s->cancelling || s->wait || s->job)
                return;
        if (s->marked && !d->stopping) { /* unplugged: the next dock lists it again */
                s->marked = false;
                queue_step(s, STEP_UNMARK);
                if (s->busy)
                        return;
        }
        keep_left_card(s);
        free_session(s);
        maybe_close(d);
}

/* The end of a session that got no job (rejected, failed, interrupted early). */
static void end_without_job(struct session *s, enum state st, const char *error)
{
        set_state(s, st, error);
        s->end_state = st;
        queue_step(s, STEP_END);
}

/* ---- steps off the loop ---- */

/* The configuration in force, and its recording extensions in exts. */
static size_t conf_exts(struct evd_docks *d, struct evd_conf *conf,
                        const char *exts[EVD_CONF_LIST_MAX])
{
        d->env.conf(d->env.conf_userdata, conf);
        for (int i = 0; i < conf->n_extensions; i++)
                exts[i] = conf->extensions[i];
        return (size_t)conf->n_extensions;
}

static void step_identify(struct session *s)
{
        struct record_ctx c = { .s = s, .event = "dock.accepted", .identify = true };
        const char *exts[EVD_CONF_LIST_MAX];
        struct evd_err err = { 0 };
        struct evd_conf conf;

        if (write_record(&c, &err) < 0) {
                set_state(s, ST_FAILED, err.text);
                return;
        }
        set_id(s, c.id);
        s->unregistered = c.unregistered;
        s->marked = c.marked;
        memcpy(s->reject, c.reject, sizeof(s->reject));
        /* Its disk takes a while to appear: have the lister ready by then. */
        if (!c.unregistered && !c.marked && s->docks->env.disk->prepare)
                s->docks->env.disk->prepare(s->docks->env.ingest, exts,
                                            conf_exts(s->docks, &conf, exts));
}

static void step_scan(struct session *s)
{
        struct evd_docks *d = s->docks;
        const char *exts[EVD_CONF_LIST_MAX];
        struct evd_original *files = NULL;
        struct evd_err err = { 0 };
        struct evd_conf conf;
        json_t *deleted = NULL;
        size_t n_exts = conf_exts(d, &conf, exts), n = 0;
        int r;

        r = d->env.disk->scan(d->env.ingest, s->node, exts, n_exts, &s->src, &files, &n, &deleted,
                              &err);
        if (r < 0) {
                s->src = NULL;
                s->lister_failed = evd_probe_blames_input(r);
                set_state(s, ST_FAILED, err.text);
                return;
        }
        if (deleted)
                record_deleted(s, deleted);
        s->n_files = n;
        s->job = evd_ingest_job_new(
                "dock", s->serial, &dock_actor, &conf, d->env.disk->read, s->src, files, n,
                evd_ingest_small_files(files, n) ? EVD_DOCK_PARALLEL_SMALL : EVD_DOCK_PARALLEL,
                d->env.calendar);
        if (!s->job) {
                d->env.disk->close(s->src);
                s->src = NULL;
                set_state(s, ST_FAILED, "out of memory");
                return;
        }
        /* Items remember the dock they came from, so that a clerk can label a dock. */
        evd_ingest_job_set_session(s->job, s->id);
}

static void step_end(struct session *s)
{
        struct record_ctx c = { .s = s, .id = s->id };
        struct evd_err err = { 0 };
        char error[EVD_ERR_TEXT_MAX];

        pthread_mutex_lock(&s->docks->lock);
        memcpy(error, s->error, sizeof(error));
        pthread_mutex_unlock(&s->docks->lock);
        c.outcome = state_names[s->end_state];
        c.error = error[0] ? error : NULL;
        c.event = s->end_state == ST_REJECTED ? "dock.rejected"
                  : s->end_state == ST_FAILED ? "dock.failed"
                                              : "dock.ended";
        c.mark = s->lister_failed ? c.error : NULL;
        if (write_record(&c, &err) < 0)
                say(s->docks, LOG_ERR, "dock on %s: cannot record its end: %s", s->port, err.text);
        else if (s->id == 0)
                set_id(s, c.id);
        s->marked |= s->lister_failed;
}

static int unmark_fn(struct evd_txn *txn, void *p)
{
        return evd_recorder_lister_unmark(txn, ((struct session *)p)->serial);
}

static void step_unmark(struct session *s)
{
        struct evd_err err = { 0 };

        if (evd_catalog_write(s->docks->env.catalog, unmark_fn, s, &err) < 0)
                say(s->docks, LOG_ERR,
                    "recorder %s: cannot forget that the lister failed on it: %s", s->serial_shown,
                    err.text);
}

static void work_run(uv_work_t *w)
{
        struct session *s = w->data;

        switch (s->step) {
        case STEP_IDENTIFY:
                step_identify(s);
                break;
        case STEP_SCAN:
                step_scan(s);
                break;
        case STEP_END:
                step_end(s);
                break;
        case STEP_UNMARK:
                step_unmark(s);
                break;
        }
}

static void on_disk(int status, const struct evd_blockdev_disk *disks, size_t n,
                    const struct evd_err *err, void *userdata);
static void on_job_done(struct evd_ingest_job *job, void *userdata);

static void after_identify(struct session *s)
{
        struct evd_docks *d = s->docks;
        struct evd_err err = { 0 };
        struct evd_conf conf;
        int r;

        if (s->state == ST_FAILED) {
                say(d, LOG_ERR, "dock on %s: recorder %s: %s", s->port, s->serial_shown, s->error);
                return;
        }
        if (s->marked) {
                set_state(s, ST_FAILED, s->reject);
                say(d, LOG_ERR, "dock %" PRIu64 ": recorder %s on %s: %s", s->id, s->serial_shown,
                    s->port, s->reject);
                return;
        }
        if (s->unregistered) {
                set_state(s, ST_REJECTED, s->reject);
                say(d, LOG_WARNING, "rejected USB device %04x:%04x serial %s on %s: %s; not read",
                    s->vid, s->pid, s->serial_shown, s->port, s->reject);
                return;
        }
        say(d, LOG_NOTICE, "dock %" PRIu64 ": recorder %s on %s", s->id, s->serial_shown, s->port);
        if (has_left(s)) {
                end_without_job(s, ST_INTERRUPTED, "it left before its disk was found");
                return;
        }
        set_state(s, ST_DOCKED, NULL);
        d->env.conf(d->env.conf_userdata, &conf);
        r = d->env.disk->wait_start(d->loop, s->syspath, (uint64_t)conf.settle_seconds * 1000,
                                    on_disk, s, &s->wait, &err);
        if (r < 0)
                end_without_job(s, ST_FAILED, err.text);
}

static void after_scan(struct session *s)
{
        struct evd_docks *d = s->docks;

        if (s->state == ST_FAILED) {
                say(d, LOG_ERR, "dock %" PRIu64 ": recorder %s: %s", s->id, s->serial_shown,
                    s->error);
                s->end_state = ST_FAILED;
                queue_step(s, STEP_END);
                return;
        }
        if (has_left(s) || s->n_files == 0) {
                bool left = has_left(s);

                evd_ingest_job_free(s->job);
                s->job = NULL;
                s->docks->env.disk->close(s->src);
                s->src = NULL;
                if (!left)
                        say(d, LOG_NOTICE,
                            "dock %" PRIu64 ": recorder %s: no recordings: safe to remove", s->id,
                            s->serial_shown);
                end_without_job(s, left ? ST_INTERRUPTED : ST_DONE,
                                left ? "it left before copying began" : NULL);
                return;
        }
        say(d, LOG_INFO, "dock %" PRIu64 ": recorder %s: %zu file(s) to look at", s->id,
            s->serial_shown, s->n_files);
        pthread_mutex_lock(&d->lock);
        s->state = ST_COPYING;
        s->copy_start_ns = evd_clock_mono_ns();
        pthread_mutex_unlock(&d->lock);
        /* Not empty: the engine will call on_job_done from a worker. */
        evd_ingest_submit(d->env.ingest, s->job, on_job_done, s);
}

static void work_done(uv_work_t *w, int status)
{
        struct session *s = w->data;

        (void)status;
        s->busy = false;
        switch (s->step) {
        case STEP_IDENTIFY:
                after_identify(s);
                break;
        case STEP_SCAN:
                after_scan(s);
                break;
        case STEP_END:
        case STEP_UNMARK:
                break;
        }
        maybe_remove(s);
}

static void queue_step(struct session *s, enum step step)
{
        int r;

        s->step = step;
        s->work.data = s;
        r = uv_queue_work(s->docks->loop, &s->work, work_run, work_done);
        if (r < 0) {
                /* Only fails on bad arguments: keep the session visible as failed. */
                set_state(s, ST_FAILED, uv_strerror(r));
                return;
        }
        s->busy = true;
}

/* ---- the copy's end: on a copy worker ---- */

static void on_job_done(struct evd_ingest_job *job, void *userdata)
{
        struct session *s = userdata;
        struct evd_docks *d = s->docks;
        struct evd_ingest_progress p;
        struct record_ctx c = { .s = s, .id = s->id, .event = "dock.ended" };
        struct evd_err err = { 0 };
        char error[EVD_ERR_TEXT_MAX] = "";
        enum state st = ST_DONE;
        json_t *report = NULL;
        bool left, stopping;

        evd_ingest_job_progress(job, &p);
        pthread_mutex_lock(&d->lock);
        left = s->left;
        stopping = d->stopping;
        pthread_mutex_unlock(&d->lock);
        if (left ||
            p.files_stored + p.files_duplicate + p.files_skipped + p.files_failed < p.files_total) {
                st = ST_INTERRUPTED;
                (void)snprintf(error, sizeof(error), "%s before every file was copied",
                               left && !stopping ? "it left" : "the station stopped");
        } else if (p.files_failed > 0) {
                const json_t *first;

                st = ST_FAILED;
                report = evd_ingest_job_report(job);
                first = json_array_get(json_object_get(report, "failures"), 0);
                (void)snprintf(
                        error, sizeof(error), "%" PRIu64 " file(s) could not be copied%s%s%s%s",
                        p.files_failed, first ? "; first: " : "",
                        first ? json_string_value(json_object_get(first, "original_path")) ?: "?"
                              : "",
                        first ? ": " : "",
                        first ? json_string_value(json_object_get(first, "reason")) ?: "" : "");
                json_decref(report);
        }
        c.outcome = state_names[st];
        c.error = error[0] ? error : NULL;
        c.p = &p;
        if (write_record(&c, &err) < 0)
                say(d, LOG_ERR, "dock %" PRIu64 ": cannot record its end: %s", s->id, err.text);
        if (st == ST_DONE)
                say(d, LOG_NOTICE,
                    "dock %" PRIu64 ": recorder %s: %" PRIu64 " stored, %" PRIu64
                    " already there: safe to remove",
                    s->id, s->serial_shown, p.files_stored + p.files_duplicate, p.files_skipped);
        else
                say(d, st == ST_FAILED ? LOG_ERR : LOG_WARNING,
                    "dock %" PRIu64 ": recorder %s: %s: %s", s->id, s->serial_shown,
                    state_names[st], error);
        pthread_mutex_lock(&d->lock);
        s->state = st;
        (void)snprintf(s->error, sizeof(s->error), "%s", error);
        s->final = p;
        s->job_ended = true;
        s->copy_end_ns = evd_clock_mono_ns();
        /* Under the lock: the loop closes the async only after it saw job_ended. */
        (void)uv_async_send(&d->async);
        pthread_mutex_unlock(&d->lock);
}

/* Loop thread: free the job and source of a session whose job ended, unless a
 * cancel still runs on it (cancel_done comes back here). */
static void reap(struct session *s)
{
        struct evd_ingest_job *job = NULL;

        pthread_mutex_lock(&s->docks->lock);
        if (s->job && s->job_ended && !s->reaped && !s->cancelling) {
                job = s->job;
                s->job = NULL; /* status no longer looks at it */
                s->reaped = true;
        }
        pthread_mutex_unlock(&s->docks->lock);
        if (!job)
                return;
        evd_ingest_job_free(job);
        s->docks->env.disk->close(s->src);
        s->src = NULL;
}

static void on_async(uv_async_t *handle)
{
        struct evd_docks *d = handle->data;
        struct session *ended[EVD_DOCKS_MAX];
        int n = 0;

        pthread_mutex_lock(&d->lock);
        for (int i = 0; i < EVD_DOCKS_MAX; i++) {
                struct session *s = d->sessions[i];

                if (s && s->job && s->job_ended && !s->reaped)
                        ended[n++] = s;
        }
        pthread_mutex_unlock(&d->lock);
        for (int i = 0; i < n; i++) {
                reap(ended[i]);
                maybe_remove(ended[i]);
        }
}

static void cancel_run(uv_work_t *w)
{
        struct session *s = w->data;

        evd_ingest_job_cancel(s->job);
}

static void cancel_done(uv_work_t *w, int status)
{
        struct session *s = w->data;

        (void)status;
        pthread_mutex_lock(&s->docks->lock);
        s->cancelling = false;
        pthread_mutex_unlock(&s->docks->lock);
        reap(s);
        maybe_remove(s);
}

/* ---- arrivals and departures (loop thread) ---- */

static void on_disk(int status, const struct evd_blockdev_disk *disks, size_t n,
                    const struct evd_err *err, void *userdata)
{
        struct session *s = userdata;

        s->wait = NULL;
        if (status < 0) {
                say(s->docks, LOG_ERR, "dock %" PRIu64 ": recorder %s: %s", s->id, s->serial_shown,
                    err->text);
                end_without_job(s, ST_FAILED, err->text);
                return;
        }
        (void)n;
        (void)snprintf(s->node, sizeof(s->node), "%s", disks[0].node);
        set_state(s, ST_SCANNING, NULL);
        queue_step(s, STEP_SCAN);
}

static struct session *add_session(struct evd_docks *d, const struct evd_usb_device *dev)
{
        struct session *s = calloc(1, sizeof(*s));
        int slot = -1;

        if (!s)
                return NULL;
        pthread_mutex_lock(&d->lock);
        for (int i = 0; i < EVD_DOCKS_MAX && slot < 0; i++)
                if (!d->sessions[i])
                        slot = i;
        if (slot >= 0) {
                d->sessions[slot] = s;
                drop_left_card(d, dev->port_path);
        }
        pthread_mutex_unlock(&d->lock);
        if (slot < 0) {
                free(s);
                return NULL;
        }
        s->docks = d;
        memcpy(s->port, dev->port_path, sizeof(s->port));
        s->devnum = dev->devnum;
        s->vid = dev->vid;
        s->pid = dev->pid;
        memcpy(s->serial, dev->serial, sizeof(s->serial));
        memcpy(s->serial_shown, dev->serial_shown, sizeof(s->serial_shown));
        if (!s->serial_shown[0])
                (void)snprintf(s->serial_shown, sizeof(s->serial_shown), "(none)");
        memcpy(s->syspath, dev->syspath, sizeof(s->syspath));
        (void)snprintf(s->plug, sizeof(s->plug), "%s#%u", s->port, (unsigned)s->devnum);
        s->docked_at = evd_clock_now();
        return s;
}

/* The session of the device on port with devnum that has not left, or NULL. */
static struct session *present(struct evd_docks *d, const struct evd_usb_device *dev)
{
        struct session *found = NULL;

        pthread_mutex_lock(&d->lock);
        for (int i = 0; i < EVD_DOCKS_MAX && !found; i++) {
                struct session *s = d->sessions[i];

                if (s && !s->left && s->devnum == dev->devnum &&
                    strcmp(s->port, dev->port_path) == 0)
                        found = s;
        }
        pthread_mutex_unlock(&d->lock);
        return found;
}

void evd_docks_arrival(struct evd_docks *d, const struct evd_usb_device *dev)
{
        struct evd_conf conf;
        struct session *s;
        char why[200];

        /* usbwatch reports each device once; one reported twice all the same (another
         * event source) keeps its one session. */
        if (d->stopping || dev->device_class == USB_CLASS_HUB || present(d, dev))
                return;
        s = add_session(d, dev);
        if (!s) {
                say(d, LOG_ERR, "USB device %04x:%04x on %s ignored: more than %d docks at once",
                    dev->vid, dev->pid, dev->port_path, EVD_DOCKS_MAX);
                return;
        }
        d->env.conf(d->env.conf_userdata, &conf);
        why[0] = '\0';
        if (!evd_usbwatch_allowed(conf.usb_allow, conf.n_usb_allow, dev->vid, dev->pid))
                (void)snprintf(why, sizeof(why), "VID:PID %04x:%04x is not in [usb] allow",
                               dev->vid, dev->pid);
        else if (dev->serial_state != EVD_USB_SERIAL_OK)
                (void)snprintf(why, sizeof(why), "%s",
                               dev->serial_state == EVD_USB_SERIAL_NONE ? "it has no serial number"
                               : dev->serial_state == EVD_USB_SERIAL_INVALID
                                       ? "its serial number is not usable"
                                       : "its serial number could not be read");
        else if (!dev->syspath[0])
                (void)snprintf(why, sizeof(why), "its sysfs entry is gone");
        if (why[0]) {
                say(d, LOG_WARNING, "rejected USB device %04x:%04x serial %s on %s: %s; not read",
                    dev->vid, dev->pid, s->serial_shown, dev->port_path, why);
                end_without_job(s, ST_REJECTED, why);
                return;
        }
        s->state = ST_IDENTIFYING;
        queue_step(s, STEP_IDENTIFY);
}

/* The session leaves: what happens depends on where it is. */
static void leave(struct session *s)
{
        bool cancel;

        pthread_mutex_lock(&s->docks->lock);
        s->left = true;
        cancel = s->job && !s->job_ended && !s->cancelling && s->state == ST_COPYING;
        if (cancel)
                s->cancelling = true;
        pthread_mutex_unlock(&s->docks->lock);
        if (s->wait) {
                s->docks->env.disk->wait_cancel(s->wait);
                s->wait = NULL;
                end_without_job(s, ST_INTERRUPTED, "it left before its disk was found");
        } else if (cancel) {
                s->cancel_work.data = s;
                if (uv_queue_work(s->docks->loop, &s->cancel_work, cancel_run, cancel_done) < 0) {
                        pthread_mutex_lock(&s->docks->lock);
                        s->cancelling = false;
                        pthread_mutex_unlock(&s->docks->lock);
                }
        }
        maybe_remove(s);
}

void evd_docks_departure(struct evd_docks *d, const struct evd_usb_device *dev)
{
        struct session *found = present(d, dev);

        if (!found)
                return; /* a hub, or a device ignored at arrival */
        say(d, LOG_INFO, "USB device %04x:%04x serial %s left %s", dev->vid, dev->pid,
            found->serial_shown, dev->port_path);
        leave(found);
}

static void on_usb_error(const struct evd_err *err, void *userdata)
{
        struct evd_docks *d = userdata;

        say(d, err->code == -EPIPE ? LOG_ERR : LOG_WARNING, "USB: %s", err->text);
        if (err->code == -EPIPE) {
                pthread_mutex_lock(&d->lock);
                (void)snprintf(d->usb_error, sizeof(d->usb_error), "%s", err->text);
                pthread_mutex_unlock(&d->lock);
        }
}

/* ---- public ---- */

static void on_arrival(const struct evd_usb_device *dev, void *userdata)
{
        evd_docks_arrival(userdata, dev);
}

static void on_departure(const struct evd_usb_device *dev, void *userdata)
{
        evd_docks_departure(userdata, dev);
}

int evd_docks_new(uv_loop_t *loop, const struct evd_dock_env *env, struct evd_docks **ret,
                  struct evd_err *err)
{
        struct evd_docks *d = calloc(1, sizeof(*d));
        int r;

        if (!d)
                return evd_err_set(err, -ENOMEM, "out of memory");
        d->loop = loop;
        d->env = *env;
        if (!d->env.disk)
                d->env.disk = &evd_dock_real_disk;
        pthread_mutex_init(&d->lock, NULL);
        r = uv_async_init(loop, &d->async, on_async);
        if (r < 0) {
                pthread_mutex_destroy(&d->lock);
                free(d);
                return evd_err_set(err, r, "uv_async_init: %s", uv_strerror(r));
        }
        d->async.data = d;
        *ret = d;
        return 0;
}

int evd_docks_watch(struct evd_docks *d)
{
        static const struct evd_usbwatch_callbacks cb = { .on_arrival = on_arrival,
                                                          .on_departure = on_departure,
                                                          .on_error = on_usb_error };
        struct evd_err usb_err = { 0 };
        int r;

        r = evd_usbwatch_new(d->loop, &cb, d, &d->watch, &usb_err);
        if (r < 0) {
                d->watch = NULL;
                pthread_mutex_lock(&d->lock);
                (void)snprintf(d->usb_error, sizeof(d->usb_error), "%s", usb_err.text);
                pthread_mutex_unlock(&d->lock);
                say(d, LOG_ERR, "docking is off: %s", usb_err.text);
        }
        return r;
}

void evd_docks_stop(struct evd_docks *d)
{
        struct session *all[EVD_DOCKS_MAX];
        int n = 0;

        if (!d || d->stopping)
                return;
        pthread_mutex_lock(&d->lock);
        d->stopping = true;
        pthread_mutex_unlock(&d->lock);
        evd_usbwatch_free(d->watch);
        d->watch = NULL;
        pthread_mutex_lock(&d->lock);
        for (int i = 0; i < EVD_DOCKS_MAX; i++)
                if (d->sessions[i] && !d->sessions[i]->left)
                        all[n++] = d->sessions[i];
        pthread_mutex_unlock(&d->lock);
        for (int i = 0; i < n; i++)
                leave(all[i]);
        maybe_close(d);
}

void evd_docks_free(struct evd_docks *d)
{
        if (!d)
                return;
        /* After the loop ran out every session is gone; free any left in an abort. */
        for (int i = 0; i < EVD_DOCKS_MAX; i++) {
                free(d->sessions[i]);
                json_decref(d->left_cards[i].card);
        }
        pthread_mutex_destroy(&d->lock);
        free(d);
}

static json_t *session_json(const struct session *s, uint64_t now_ns)
{
        struct evd_ingest_progress p = { 0 };
        char docked[EVD_TIME_STR], vidpid[16];
        uint64_t files_done, rate = 0;
        json_t *o;

        if (s->job_ended)
                p = s->final;
        else if (s->state == ST_COPYING && s->job)
                evd_ingest_job_progress(s->job, &p);
        files_done = p.files_stored + p.files_duplicate + p.files_skipped + p.files_failed;
        if (s->copy_start_ns) {
                uint64_t end = s->copy_end_ns ? s->copy_end_ns : now_ns;
                uint64_t ns = end > s->copy_start_ns ? end - s->copy_start_ns : 0;

                if (ns > 0)
                        rate = (uint64_t)((double)p.bytes_done * 1e9 / (double)ns);
        }
        evd_time_format(s->docked_at, docked);
        (void)snprintf(vidpid, sizeof(vidpid), "%04x:%04x", s->vid, s->pid);
        o = json_pack("{ss ss sI sI sI sI sI ss sI ss ss sI sb}", "serial", s->serial, "state",
                      state_names[s->state], "files_total", (json_int_t)p.files_total, "files_done",
                      (json_int_t)files_done, "bytes_total", (json_int_t)p.bytes_total,
                      "bytes_done", (json_int_t)p.bytes_done, "rate_bps", (json_int_t)rate, "port",
                      s->port, "session", (json_int_t)s->id, "vid_pid", vidpid, "docked_at", docked,
                      "files_failed", (json_int_t)p.files_failed, "safe_to_remove",
                      s->state == ST_DONE);
        if (o)
                (void)json_object_set_new(o, "damaged", evd_ingest_damaged_json(&p));
        if (o && s->error[0])
                (void)json_object_set_new(o, "error", json_string(s->error));
        if (o && s->state == ST_DONE)
                (void)json_object_set_new(o, "message", json_string("safe to remove"));
        return o;
}

void evd_docks_status(struct evd_docks *d, json_t *docks_out, json_t *warnings)
{
        uint64_t now = evd_clock_mono_ns();

        if (!d)
                return;
        pthread_mutex_lock(&d->lock);
        if (d->usb_error[0]) {
                char w[EVD_ERR_TEXT_MAX + 32];

                (void)snprintf(w, sizeof(w), "docking is off: %s", d->usb_error);
                (void)json_array_append_new(warnings, json_string(w));
        }
        for (int i = 0; i < EVD_DOCKS_MAX; i++) {
                const struct session *s = d->sessions[i];
                char w[2 * EVD_ERR_TEXT_MAX + 256];

                if (!s || s->left)
                        continue;
                if (s->state == ST_REJECTED) {
                        (void)snprintf(w, sizeof(w),
                                       "rejected USB device %04x:%04x serial %s on %s: %s; it is "
                                       "not read",
                                       s->vid, s->pid, s->serial_shown, s->port, s->error);
                        (void)json_array_append_new(warnings, json_string(w));
                        continue;
                }
                (void)json_array_append_new(docks_out, session_json(s, now));
                if (s->state == ST_FAILED) {
                        (void)snprintf(w, sizeof(w),
                                       "dock %" PRIu64 " (recorder %s on %s) failed: %s", s->id,
                                       s->serial_shown, s->port, s->error);
                        (void)json_array_append_new(warnings, json_string(w));
                }
        }
        pthread_mutex_unlock(&d->lock);
}

void evd_docks_rejected(struct evd_docks *d, json_t *out)
{
        if (!d)
                return;
        pthread_mutex_lock(&d->lock);
        for (int i = 0; i < EVD_DOCKS_MAX; i++) {
                const struct session *s = d->sessions[i];
                char vidpid[16];

                if (!s || s->left || s->state != ST_REJECTED)
                        continue;
                (void)snprintf(vidpid, sizeof(vidpid), "%04x:%04x", s->vid, s->pid);
                (void)json_array_append_new(out, json_pack("{ss ss ss ss}", "port", s->port,
                                                           "serial", s->serial_shown, "vid_pid",
                                                           vidpid, "reason", s->error));
        }
        pthread_mutex_unlock(&d->lock);
}

void evd_docks_left(struct evd_docks *d, json_t *out)
{
        uint64_t now = evd_clock_mono_ns();

        if (!d)
                return;
        pthread_mutex_lock(&d->lock);
        for (int i = 0; i < EVD_DOCKS_MAX; i++) {
                struct left_card *c = &d->left_cards[i];

                if (c->card && c->until_ns <= now) {
                        json_decref(c->card);
                        c->card = NULL;
                }
                if (c->card)
                        (void)json_array_append_new(out, json_deep_copy(c->card));
        }
        pthread_mutex_unlock(&d->lock);
}

void evd_docks_summary(struct evd_docks *d, char *buf, size_t n)
{
        size_t len = 0;
        int shown = 0;

        if (n)
                buf[0] = '\0';
        if (!d || n == 0)
                return;
        pthread_mutex_lock(&d->lock);
        for (int i = 0; i < EVD_DOCKS_MAX; i++) {
                const struct session *s = d->sessions[i];
                struct evd_ingest_progress p = { 0 };
                char part[200];

                if (!s || s->left || s->state == ST_REJECTED)
                        continue;
                if (s->job_ended)
                        p = s->final;
                else if (s->state == ST_COPYING && s->job)
                        evd_ingest_job_progress(s->job, &p);
                if (s->state == ST_COPYING) {
                        uint64_t files = p.files_stored + p.files_duplicate + p.files_skipped +
                                         p.files_failed;
                        uint64_t pct = p.bytes_total ? p.bytes_done * 100 / p.bytes_total : 0;

                        (void)snprintf(part, sizeof(part),
                                       "%.40s copying %" PRIu64 "/%" PRIu64 " files %" PRIu64 "%%",
                                       s->serial_shown, files, p.files_total, pct);
                } else
                        (void)snprintf(part, sizeof(part), "%.40s %s", s->serial_shown,
                                       s->state == ST_DONE ? "safe to remove"
                                                           : state_names[s->state]);
                if (evd_snprintf(buf + len, n - len, "%s%s", shown ? ", " : "dock: ", part) < 0)
                        break;
                len += strlen(buf + len);
                shown++;
        }
        pthread_mutex_unlock(&d->lock);
}
