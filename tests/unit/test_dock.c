/* dock: the docking state machine, driven without USB. Arrivals and departures go in
 * through evd_docks_arrival/_departure on the test's own loop; the recorder's disk is a
 * fake (struct evd_dock_disk_ops) whose scan and reads can be held at a gate; the
 * catalog, store and ingest engine are real, in a temporary folder. Each test waits for
 * events (a state in status, an audit entry), never for a fixed time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "catalog.h"
#include "clock.h"
#include "dock.h"
#include "ingest.h"
#include "recorder.h"
#include "store.h"
#include "testutil.h"

#define VID 0x1d6b
#define PID 0x0104
#define SERIAL "REC0001"
#define N_FILES 3
#define FILE_SIZE (256 * 1024)
#define WAIT_MS 60000 /* generous: the machine may be loaded */

/* A gate a fake step waits at until the test opens it. */
struct gate {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool armed, entered, open;
};

struct fixture {
        char *dir;
        uv_loop_t loop;
        struct evd_store *store;
        struct evd_catalog *catalog;
        struct evd_ingest *ingest;
        struct evd_conf conf;
        struct evd_docks *docks;
        struct evd_dock_env env;
        struct gate scan_gate, read_gate;
        atomic_int waits, scans, closes;
        atomic_int scan_error; /* scan fails with this code when not 0 */
        struct evd_original files[N_FILES];
};

/* ---- gates ---- */

static void gate_init(struct gate *g)
{
        pthread_mutex_init(&g->lock, NULL);
        pthread_cond_init(&g->cond, NULL);
}

/* Called off the loop by a fake step: note it got here, then wait while armed. */
static void gate_pass(struct gate *g)
{
        pthread_mutex_lock(&g->lock);
        g->entered = true;
        while (g->armed && !g->open)
                pthread_cond_wait(&g->cond, &g->lock);
        pthread_mutex_unlock(&g->lock);
}

static bool gate_entered(void *p)
{
        struct gate *g = p;
        bool e;

        pthread_mutex_lock(&g->lock);
        e = g->entered;
        pthread_mutex_unlock(&g->lock);
        return e;
}

static void gate_open(struct gate *g)
{
        pthread_mutex_lock(&g->lock);
        g->open = true;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
}

/* ---- the fake disk ---- */

struct fake_wait {
        uv_timer_t timer;
        evd_blockdev_wait_cb cb;
        void *userdata;
};

static void wait_closed(uv_handle_t *h)
{
        free(h->data);
}

static void wait_fire(uv_timer_t *t)
{
        struct fake_wait *w = t->data;
        struct evd_blockdev_disk disk = { .node = "/dev/fake0", .size_bytes = 1 << 30 };
        struct evd_err err = { 0 };

        w->cb(0, &disk, 1, &err, w->userdata);
        uv_close((uv_handle_t *)&w->timer, wait_closed);
}

static struct fixture *g_fx; /* the fake disk's callbacks have no userdata of their own */

static int fake_wait_start(uv_loop_t *loop, const char *usb_syspath, uint64_t settle_ms,
                           evd_blockdev_wait_cb cb, void *userdata, void **ret_wait,
                           struct evd_err *err)
{
        struct fake_wait *w = calloc(1, sizeof(*w));

        (void)usb_syspath;
        (void)settle_ms;
        (void)err;
        assert_non_null(w);
        atomic_fetch_add(&g_fx->waits, 1);
        w->cb = cb;
        w->userdata = userdata;
        (void)uv_timer_init(loop, &w->timer);
        w->timer.data = w;
        (void)uv_timer_start(&w->timer, wait_fire, 0, 0); /* never inside this call */
        *ret_wait = w;
        return 0;
}

static void fake_wait_cancel(void *wait)
{
        struct fake_wait *w = wait;

        (void)uv_timer_stop(&w->timer);
        uv_close((uv_handle_t *)&w->timer, wait_closed);
}

static int fake_scan(struct evd_ingest *ingest, const char *node, const char *const *exts,
                     size_t n_exts, void **ret_disk, struct evd_original **ret_files, size_t *ret_n,
                     json_t **ret_deleted, struct evd_err *err)
{
        struct evd_original *files = calloc(N_FILES, sizeof(*files));

        (void)ingest;
        (void)ret_deleted;
        /* Off the loop: no cmocka asserts here (they cannot unwind another thread). */
        (void)exts;
        (void)n_exts;
        if (!files || strcmp(node, "/dev/fake0") != 0)
                abort();
        atomic_fetch_add(&g_fx->scans, 1);
        gate_pass(&g_fx->scan_gate);
        if (atomic_load(&g_fx->scan_error)) {
                free(files);
                return evd_err_set(err, atomic_load(&g_fx->scan_error),
                                   atomic_load(&g_fx->scan_error) == -ECHILD
                                           ? "probe crashed: signal 11 (SIGSEGV)"
                                           : "not a filesystem it knows");
        }
        for (size_t i = 0; i < N_FILES; i++) {
                files[i] = g_fx->files[i];
                files[i].path = strdup(g_fx->files[i].path);
                if (!files[i].path)
                        return evd_err_set(err, -ENOMEM, "out of memory");
        }
        *ret_disk = g_fx;
        *ret_files = files;
        *ret_n = N_FILES;
        return 0;
}

static void fake_close(void *disk)
{
        if (disk)
                atomic_fetch_add(&g_fx->closes, 1);
}

struct fake_file {
        uint64_t handle, size;
};

/* Content that differs from file to file: byte at off is (handle * 7 + off) mod 251. */
static ssize_t fake_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
        struct fake_file *f = ctx;
        uint8_t *b = buf;

        gate_pass(&g_fx->read_gate);
        if (off >= f->size)
                return 0;
        if (len > f->size - off)
                len = (size_t)(f->size - off);
        for (size_t i = 0; i < len; i++)
                b[i] = (uint8_t)((f->handle * 7 + off + i) % 251);
        return (ssize_t)len;
}

static int fake_open(void *source, const struct evd_original *orig, struct evd_reader *ret_reader,
                     void **ret_state, struct evd_err *err)
{
        struct fake_file *f = calloc(1, sizeof(*f));

        (void)source;
        if (!f)
                return evd_err_set(err, -ENOMEM, "out of memory");
        f->handle = orig->handle;
        f->size = orig->size;
        ret_reader->pread = fake_pread;
        ret_reader->ctx = f;
        *ret_state = f;
        return 0;
}

static void fake_read_close(void *source, void *state)
{
        (void)source;
        free(state);
}

static const struct evd_source_ops fake_read = { .open = fake_open, .close = fake_read_close };

static const struct evd_dock_disk_ops fake_disk = {
        .wait_start = fake_wait_start,
        .wait_cancel = fake_wait_cancel,
        .scan = fake_scan,
        .read = &fake_read,
        .close = fake_close,
};

/* ---- the environment ---- */

static void conf_fn(void *userdata, struct evd_conf *ret)
{
        struct fixture *fx = userdata;

        *ret = fx->conf;
}

static int register_fn(struct evd_txn *txn, void *p)
{
        json_t *rec =
                json_pack("{ss ss ss ss s[]}", "serial", (const char *)p, "model", "test", "unit",
                          "unit 1", "registered_at", "2026-01-01T00:00:00+08:00", "assignments");
        int r = rec ? evd_recorder_put(txn, rec) : -ENOMEM;

        json_decref(rec);
        return r;
}

static int setup(void **state)
{
        struct fixture *fx = calloc(1, sizeof(*fx));
        struct evd_dock_env env = { 0 };
        struct evd_err err = { 0 };
        char path[600];

        assert_non_null(fx);
        g_fx = fx;
        fx->dir = tu_tempdir();
        gate_init(&fx->scan_gate);
        gate_init(&fx->read_gate);
        assert_int_equal(uv_loop_init(&fx->loop), 0);
        assert_int_equal(evd_store_open(fx->dir, &fx->store, &err), 0);
        (void)snprintf(path, sizeof(path), "%s/catalog", fx->dir);
        assert_int_equal(evd_catalog_open(path, 0, &fx->catalog, &err), 0);
        assert_int_equal(evd_ingest_new(fx->store, fx->catalog, 2, &fx->ingest, &err), 0);
        assert_int_equal(evd_catalog_write(fx->catalog, register_fn, SERIAL, &err), 0);
        evd_conf_defaults(&fx->conf);
        fx->conf.reserve_mb = 0;
        fx->conf.usb_allow[0] = (uint32_t)VID << 16 | PID;
        fx->conf.n_usb_allow = 1;
        for (size_t i = 0; i < N_FILES; i++) {
                char name[64];

                (void)snprintf(name, sizeof(name), "DCIM/100REC/REC%04zu.MP4", i + 1);
                fx->files[i].path = strdup(name);
                fx->files[i].path_len = strlen(name);
                fx->files[i].size = FILE_SIZE + i;
                fx->files[i].mtime = evd_clock_now() - 3600;
                fx->files[i].handle = i + 1;
        }
        env.catalog = fx->catalog;
        env.ingest = fx->ingest;
        env.conf = conf_fn;
        env.conf_userdata = fx;
        env.disk = &fake_disk;
        fx->env = env;
        assert_int_equal(evd_docks_new(&fx->loop, &env, &fx->docks, &err), 0);
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *fx = *state;

        gate_open(&fx->scan_gate);
        gate_open(&fx->read_gate);
        evd_docks_stop(fx->docks);
        (void)uv_run(&fx->loop, UV_RUN_DEFAULT); /* until every session and handle is gone */
        evd_docks_free(fx->docks);
        evd_ingest_free(fx->ingest);
        evd_catalog_free(fx->catalog);
        evd_store_free(fx->store);
        assert_int_equal(uv_loop_close(&fx->loop), 0);
        for (size_t i = 0; i < N_FILES; i++)
                free(fx->files[i].path);
        tu_rmtree(fx->dir);
        free(fx);
        g_fx = NULL;
        return 0;
}

/* ---- waiting for events ---- */

static void tick(uv_timer_t *t)
{
        (void)t; /* wakes the loop so that conditions set by other threads are seen */
}

/* Run the loop until pred(ctx) holds; fail after WAIT_MS. */
static void run_until(struct fixture *fx, bool (*pred)(void *), void *ctx)
{
        uint64_t deadline = evd_clock_mono_ns() + (uint64_t)WAIT_MS * 1000000u;
        uv_timer_t t;

        (void)uv_timer_init(&fx->loop, &t);
        (void)uv_timer_start(&t, tick, 5, 5);
        while (!pred(ctx) && evd_clock_mono_ns() < deadline)
                (void)uv_run(&fx->loop, UV_RUN_ONCE);
        uv_close((uv_handle_t *)&t, NULL);
        (void)uv_run(&fx->loop, UV_RUN_NOWAIT);
        assert_true(pred(ctx));
}

static struct evd_usb_device device(const char *serial, uint16_t vid, uint16_t pid)
{
        struct evd_usb_device dev = { .vid = vid, .pid = pid, .bus = 1, .devnum = 5 };

        (void)snprintf(dev.port_path, sizeof(dev.port_path), "1-3");
        (void)snprintf(dev.syspath, sizeof(dev.syspath), "/sys/devices/fake/usb1/1-3");
        dev.serial_state = EVD_USB_SERIAL_OK;
        (void)snprintf(dev.serial, sizeof(dev.serial), "%s", serial);
        (void)snprintf(dev.serial_shown, sizeof(dev.serial_shown), "%s", serial);
        return dev;
}

/* status of the docks: {docks: [...], warnings: [...]} (caller owns). */
static json_t *status(struct fixture *fx)
{
        json_t *docks = json_array(), *warnings = json_array();

        evd_docks_status(fx->docks, docks, warnings);
        return json_pack("{so so}", "docks", docks, "warnings", warnings);
}

struct state_wait {
        struct fixture *fx;
        const char *state;
};

static bool in_state(void *p)
{
        struct state_wait *w = p;
        json_t *st = status(w->fx);
        const char *s = json_string_value(
                json_object_get(json_array_get(json_object_get(st, "docks"), 0), "state"));
        bool yes = s && strcmp(s, w->state) == 0;

        json_decref(st);
        return yes;
}

static void wait_state(struct fixture *fx, const char *state)
{
        struct state_wait w = { fx, state };

        run_until(fx, in_state, &w);
}

struct events {
        const char *prefix;
        json_t *found; /* details of each entry whose event starts with prefix */
};

static int collect_event(json_t *entry, void *p)
{
        struct events *e = p;
        const char *ev = json_string_value(json_object_get(entry, "event"));
        json_t *d = json_deep_copy(json_object_get(entry, "details"));

        if (ev && strncmp(ev, e->prefix, strlen(e->prefix)) == 0) {
                (void)json_object_set_new(d, "event", json_string(ev));
                (void)json_array_append(e->found, d);
        }
        json_decref(d);
        return 0;
}

/* Details of the audit entries whose event starts with prefix, oldest first. */
static json_t *audited(struct fixture *fx, const char *prefix)
{
        struct events e = { prefix, json_array() };

        assert_int_equal(evd_audit_each_snapshot(fx->catalog, 0, INT64_MIN, collect_event, &e), 0);
        return e.found;
}

struct ended_wait {
        struct fixture *fx;
        const char *event;
};

static bool has_event(void *p)
{
        struct ended_wait *w = p;
        json_t *found = audited(w->fx, w->event);
        bool yes = json_array_size(found) > 0;

        json_decref(found);
        return yes;
}

/* Wait for the audit entry event (exact) and return its details (caller owns). */
static json_t *wait_event(struct fixture *fx, const char *event)
{
        struct ended_wait w = { fx, event };
        json_t *found, *d;

        run_until(fx, has_event, &w);
        found = audited(fx, event);
        assert_int_equal(json_array_size(found), 1);
        d = json_incref(json_array_get(found, 0));
        json_decref(found);
        return d;
}

static bool no_sessions(void *p)
{
        struct fixture *fx = p;
        json_t *st = status(fx);
        bool none = json_array_size(json_object_get(st, "docks")) == 0 &&
                    json_array_size(json_object_get(st, "warnings")) == 0;

        json_decref(st);
        return none;
}

static bool has_warning(void *p)
{
        struct fixture *fx = p;
        json_t *st = status(fx);
        bool yes = json_array_size(json_object_get(st, "warnings")) > 0;

        json_decref(st);
        return yes;
}

static uint64_t items(struct fixture *fx)
{
        uint64_t n = 0, map = 0;

        assert_int_equal(evd_catalog_stat(fx->catalog, &n, &map), 0);
        return n;
}

static const char *str(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

/* ---- tests ---- */

/* A registered recorder with an allowed VID:PID: every file is stored, the session
 * says "safe to remove", and the record and items name the session. */
static void docks_and_copies_everything(void **state)
{
        struct fixture *fx = *state;
        struct evd_usb_device dev = device(SERIAL, VID, PID);
        json_t *end, *st;

        evd_docks_arrival(fx->docks, &dev);
        wait_state(fx, "done");
        end = wait_event(fx, "dock.ended");
        assert_string_equal(str(end, "outcome"), "done");
        assert_int_equal(json_integer_value(json_object_get(end, "files_stored")), N_FILES);
        assert_int_equal(items(fx), N_FILES);
        st = status(fx);
        assert_true(json_is_true(json_object_get(json_array_get(json_object_get(st, "docks"), 0),
                                                 "safe_to_remove")));
        json_decref(st);
        json_decref(end);
        evd_docks_departure(fx->docks, &dev);
        run_until(fx, no_sessions, fx);
        assert_int_equal(atomic_load(&fx->closes), 1);
}

/* The same device reported twice: one session, one scan, one accepted record. */
static void arrival_twice_is_one_session(void **state)
{
        struct fixture *fx = *state;
        struct evd_usb_device dev = device(SERIAL, VID, PID);
        json_t *accepted, *st, *end;

        evd_docks_arrival(fx->docks, &dev);
        evd_docks_arrival(fx->docks, &dev);
        wait_state(fx, "done");
        evd_docks_arrival(fx->docks, &dev); /* again, once it is done */
        end = wait_event(fx, "dock.ended");
        st = status(fx);
        assert_int_equal(json_array_size(json_object_get(st, "docks")), 1);
        accepted = audited(fx, "dock.accepted");
        assert_int_equal(json_array_size(accepted), 1);
        assert_int_equal(atomic_load(&fx->scans), 1);
        assert_int_equal(atomic_load(&fx->waits), 1);
        json_decref(accepted);
        json_decref(st);
        json_decref(end);
}

/* A departure nobody arrived for changes nothing and records nothing. */
static void departure_without_arrival_is_ignored(void **state)
{
        struct fixture *fx = *state;
        struct evd_usb_device dev = device(SERIAL, VID, PID), other = dev;
        json_t *accepted, *ended;

        evd_docks_departure(fx->docks, &dev);
        assert_true(no_sessions(fx));
        /* Docked, then a departure for another device number on the same port. */
        evd_docks_arrival(fx->docks, &dev);
        wait_state(fx, "done");
        other.devnum = 9;
        evd_docks_departure(fx->docks, &other);
        assert_true(in_state(&(struct state_wait){ fx, "done" }));
        accepted = audited(fx, "dock.accepted");
        ended = audited(fx, "dock.ended");
        assert_int_equal(json_array_size(accepted), 1);
        assert_int_equal(json_array_size(ended), 1);
        json_decref(accepted);
        json_decref(ended);
}

/* Pulled while its disk is being listed: nothing is copied, the session ends
 * "interrupted", and the disk is closed. */
static void pulled_during_scan(void **state)
{
        struct fixture *fx = *state;
        struct evd_usb_device dev = device(SERIAL, VID, PID);
        json_t *end;

        fx->scan_gate.armed = true;
        evd_docks_arrival(fx->docks, &dev);
        run_until(fx, gate_entered, &fx->scan_gate);
        assert_true(in_state(&(struct state_wait){ fx, "scanning" }));
        evd_docks_departure(fx->docks, &dev);
        gate_open(&fx->scan_gate);
        end = wait_event(fx, "dock.ended");
        assert_string_equal(str(end, "outcome"), "interrupted");
        assert_string_equal(str(end, "error"), "it left before copying began");
        run_until(fx, no_sessions, fx);
        assert_int_equal(items(fx), 0);
        assert_int_equal(atomic_load(&fx->closes), 1);
        json_decref(end);
}

struct card_wait {
        struct fixture *fx;
        const char *port;
};

/* Whether the board holds an interrupted dock's card for w->port (the session's end
 * has run: it is freed after it leaves status). */
static bool has_card(void *p)
{
        const struct card_wait *w = p;
        json_t *cards = json_array(), *c;
        bool found = false;
        size_t i;

        evd_docks_left(w->fx->docks, cards);
        json_array_foreach(cards, i, c)
        {
                found = found || strcmp(str(c, "port"), w->port) == 0;
        }
        json_decref(cards);
        return found;
}

/* A recorder on port, pulled while its disk is scanned: an interrupted dock. */
static void interrupt_on(struct fixture *fx, const char *port, uint8_t devnum)
{
        struct evd_usb_device dev = device(SERIAL, VID, PID);

        (void)snprintf(dev.port_path, sizeof(dev.port_path), "%s", port);
        dev.devnum = devnum;
        pthread_mutex_lock(&fx->scan_gate.lock);
        fx->scan_gate.armed = true;
        fx->scan_gate.entered = fx->scan_gate.open = false;
        pthread_mutex_unlock(&fx->scan_gate.lock);
        evd_docks_arrival(fx->docks, &dev);
        run_until(fx, gate_entered, &fx->scan_gate);
        evd_docks_departure(fx->docks, &dev);
        gate_open(&fx->scan_gate);
        run_until(fx, has_card, &(struct card_wait){ fx, port });
}

/* The ports of the interrupted docks' cards on the board, joined by spaces. */
static void left_ports(struct fixture *fx, char *out, size_t n)
{
        json_t *cards = json_array(), *c;
        size_t i, len = 0;

        evd_docks_left(fx->docks, cards);
        out[0] = '\0';
        json_array_foreach(cards, i, c)
        {
                assert_string_equal(str(c, "state"), "interrupted");
                len += (size_t)snprintf(out + len, n - len, "%s%s", len ? " " : "", str(c, "port"));
        }
        json_decref(cards);
}

/* Interrupted docks keep their cards for the board, each until its port docks again;
 * a new card takes a free slot, never a live card's (a slot freed by a redock holds a
 * later time than the older cards beside it). */
static void interrupted_cards_stay_until_their_port_docks(void **state)
{
        struct fixture *fx = *state;
        struct evd_usb_device dev = device(SERIAL, VID, PID);
        char ports[64];

        interrupt_on(fx, "1-1", 11);
        interrupt_on(fx, "1-2", 12);
        (void)snprintf(dev.port_path, sizeof(dev.port_path), "1-2");
        dev.devnum = 13;
        fx->scan_gate.armed = false;
        evd_docks_arrival(fx->docks, &dev); /* 1-2 docks again and finishes */
        wait_state(fx, "done");
        left_ports(fx, ports, sizeof(ports));
        assert_string_equal(ports, "1-1");
        evd_docks_departure(fx->docks, &dev);
        run_until(fx, no_sessions, fx);
        interrupt_on(fx, "1-4", 14);
        left_ports(fx, ports, sizeof(ports));
        assert_non_null(strstr(ports, "1-1"));
        assert_non_null(strstr(ports, "1-4"));
        assert_int_equal(strlen(ports), strlen("1-1 1-4"));
}

/* Pulled while a file is being read: the job is cancelled, the file in flight
 * abandoned, the session ends "interrupted"; a later dock resumes and finishes. */
static void pulled_during_copy(void **state)
{
        struct fixture *fx = *state;
        struct evd_usb_device dev = device(SERIAL, VID, PID);
        json_t *end, *ends;

        fx->read_gate.armed = true;
        evd_docks_arrival(fx->docks, &dev);
        run_until(fx, gate_entered, &fx->read_gate);
        assert_true(in_state(&(struct state_wait){ fx, "copying" }));
        evd_docks_departure(fx->docks, &dev);
        gate_open(&fx->read_gate);
        end = wait_event(fx, "dock.ended");
        assert_string_equal(str(end, "outcome"), "interrupted");
        assert_string_equal(str(end, "error"), "it left before every file was copied");
        run_until(fx, no_sessions, fx);
        assert_true(items(fx) < N_FILES);
        assert_int_equal(atomic_load(&fx->closes), 1);
        json_decref(end);

        dev.devnum = 6; /* plugged in again */
        evd_docks_arrival(fx->docks, &dev);
        wait_state(fx, "done");
        assert_int_equal(items(fx), N_FILES);
        ends = audited(fx, "dock.ended");
        assert_int_equal(json_array_size(ends), 2);
        assert_string_equal(str(json_array_get(ends, 1), "outcome"), "done");
        json_decref(ends);
}

/* A VID:PID outside [usb] allow: rejected at once, its disk never looked for. */
static void rejects_device_not_allowed(void **state)
{
        struct fixture *fx = *state;
        struct evd_usb_device dev = device(SERIAL, 0x0781, 0x5581);
        json_t *rej, *st;

        evd_docks_arrival(fx->docks, &dev);
        rej = wait_event(fx, "dock.rejected");
        assert_string_equal(str(rej, "outcome"), "rejected");
        assert_non_null(strstr(str(rej, "error"), "0781:5581 is not in [usb] allow"));
        st = status(fx);
        assert_int_equal(json_array_size(json_object_get(st, "docks")), 0);
        assert_non_null(
                strstr(json_string_value(json_array_get(json_object_get(st, "warnings"), 0)),
                       "rejected USB device 0781:5581"));
        assert_int_equal(atomic_load(&fx->waits), 0);
        assert_int_equal(atomic_load(&fx->scans), 0);
        json_decref(st);
        json_decref(rej);
        evd_docks_departure(fx->docks, &dev); /* the warning goes with it */
        run_until(fx, no_sessions, fx);
}

/* An allowed VID:PID whose serial is not a registered recorder: rejected after the
 * registry lookup, never read. */
static void rejects_unregistered_serial(void **state)
{
        struct fixture *fx = *state;
        struct evd_usb_device dev = device("STRANGER9", VID, PID);
        json_t *rej, *st;

        evd_docks_arrival(fx->docks, &dev);
        rej = wait_event(fx, "dock.rejected");
        assert_string_equal(str(rej, "serial"), "STRANGER9");
        assert_non_null(strstr(str(rej, "error"), "not registered as a recorder"));
        run_until(fx, has_warning, fx); /* shown as a warning, not as a dock */
        st = status(fx);
        assert_non_null(
                strstr(json_string_value(json_array_get(json_object_get(st, "warnings"), 0)),
                       "serial STRANGER9"));
        assert_int_equal(json_array_size(json_object_get(st, "docks")), 0);
        json_decref(st);
        assert_int_equal(atomic_load(&fx->waits), 0);
        assert_int_equal(atomic_load(&fx->scans), 0);
        assert_int_equal(items(fx), 0);
        json_decref(rej);
}

/* A device without a usable serial number is rejected the same way. */
static void rejects_device_without_serial(void **state)
{
        struct fixture *fx = *state;
        struct evd_usb_device dev = device("", VID, PID);
        json_t *rej;

        dev.serial_state = EVD_USB_SERIAL_NONE;
        evd_docks_arrival(fx->docks, &dev);
        rej = wait_event(fx, "dock.rejected");
        assert_string_equal(str(rej, "error"), "it has no serial number");
        assert_int_equal(atomic_load(&fx->scans), 0);
        json_decref(rej);
}

/* The daemon restarts: its docks stop, and new ones start on the same catalog. */
static void restart(struct fixture *fx)
{
        struct evd_err err = { 0 };

        evd_docks_stop(fx->docks);
        (void)uv_run(&fx->loop, UV_RUN_DEFAULT);
        evd_docks_free(fx->docks);
        assert_int_equal(evd_docks_new(&fx->loop, &fx->env, &fx->docks, &err), 0);
}

struct count_wait {
        struct fixture *fx;
        const char *event;
        size_t n;
};

static bool has_n_events(void *p)
{
        struct count_wait *w = p;
        json_t *found = audited(w->fx, w->event);
        bool yes = json_array_size(found) >= w->n;

        json_decref(found);
        return yes;
}

/* The recorder's lister mark (recorder.h), or NULL (caller owns). */
static json_t *lister_mark(struct fixture *fx)
{
        struct evd_txn txn;
        json_t *rec = NULL, *mark;

        assert_int_equal(evd_catalog_read_begin(fx->catalog, &txn), 0);
        assert_int_equal(evd_recorder_get(&txn, SERIAL, &rec), 0);
        evd_catalog_read_end(&txn);
        mark = json_incref(json_object_get(rec, "lister_failed"));
        json_decref(rec);
        return mark;
}

static bool unmarked(void *p)
{
        json_t *mark = lister_mark(p);
        bool none = mark == NULL;

        json_decref(mark);
        return none;
}

static const char *dock_error(struct fixture *fx, json_t **st)
{
        *st = status(fx);
        return str(json_array_get(json_object_get(*st, "docks"), 0), "error");
}

/* The lister crashed on the recorder: after a restart with it still plugged in, it is
 * not listed again but failed at once with the reason, audited once; its departure
 * forgets that, and the next dock lists it. */
static void lister_crash_is_not_retried_until_undocked(void **state)
{
        struct fixture *fx = *state;
        struct evd_usb_device dev = device(SERIAL, VID, PID);
        json_t *end, *st, *mark, *failed, *accepted;

        atomic_store(&fx->scan_error, -ECHILD);
        evd_docks_arrival(fx->docks, &dev);
        end = wait_event(fx, "dock.failed");
        assert_string_equal(str(end, "error"), "probe crashed: signal 11 (SIGSEGV)");
        mark = lister_mark(fx);
        assert_string_equal(str(mark, "plug"), "1-3#5");
        assert_string_equal(str(mark, "reason"), "probe crashed: signal 11 (SIGSEGV)");
        assert_int_equal(json_integer_value(json_object_get(mark, "dock")),
                         json_integer_value(json_object_get(end, "id")));
        json_decref(mark);
        json_decref(end);

        restart(fx);
        evd_docks_arrival(fx->docks, &dev); /* enumerated again: the same plug-in */
        run_until(fx, has_n_events, &(struct count_wait){ fx, "dock.failed", 2 });
        wait_state(fx, "failed");
        assert_string_equal(dock_error(fx, &st),
                            "not read again: the lister failed on it: probe crashed: signal 11 "
                            "(SIGSEGV); undock it to retry");
        json_decref(st);
        assert_int_equal(atomic_load(&fx->scans), 1);
        assert_int_equal(atomic_load(&fx->waits), 1); /* its disk was not even looked for */
        failed = audited(fx, "dock.failed");
        accepted = audited(fx, "dock.accepted");
        assert_int_equal(json_array_size(failed), 2);
        assert_int_equal(json_array_size(accepted), 1);
        assert_non_null(strstr(str(json_array_get(failed, 1), "error"), "not read again"));
        json_decref(failed);
        json_decref(accepted);

        /* And again: still not listed, a failure each time, nothing else. */
        restart(fx);
        evd_docks_arrival(fx->docks, &dev);
        run_until(fx, has_n_events, &(struct count_wait){ fx, "dock.failed", 3 });
        assert_int_equal(atomic_load(&fx->scans), 1);

        evd_docks_departure(fx->docks, &dev);
        run_until(fx, unmarked, fx); /* off the loop, once it left */
        atomic_store(&fx->scan_error, 0);
        dev.devnum = 6; /* plugged in again */
        evd_docks_arrival(fx->docks, &dev);
        wait_state(fx, "done");
        assert_int_equal(atomic_load(&fx->scans), 2);
        assert_int_equal(items(fx), N_FILES);
}

/* A mark from another plug-in (it was unplugged while the daemon was down) is forgotten
 * and the recorder listed; a filesystem the helper could not read (its own error, not a
 * misbehaving helper) marks nothing and is listed again after a restart. */
static void lister_mark_is_for_its_plug_in_and_its_failures_only(void **state)
{
        struct fixture *fx = *state;
        struct evd_usb_device dev = device(SERIAL, VID, PID);
        json_t *mark;

        atomic_store(&fx->scan_error, -ETIMEDOUT);
        evd_docks_arrival(fx->docks, &dev);
        json_decref(wait_event(fx, "dock.failed"));
        mark = lister_mark(fx);
        assert_non_null(mark);
        json_decref(mark);
        restart(fx); /* unplugged and plugged in again while it was down */
        atomic_store(&fx->scan_error, -EMEDIUMTYPE);
        dev.devnum = 7;
        evd_docks_arrival(fx->docks, &dev);
        run_until(fx, has_n_events, &(struct count_wait){ fx, "dock.failed", 2 });
        assert_int_equal(atomic_load(&fx->scans), 2);
        mark = lister_mark(fx);
        assert_null(mark);
        restart(fx);
        atomic_store(&fx->scan_error, 0);
        evd_docks_arrival(fx->docks, &dev); /* the same plug-in: listed again */
        wait_state(fx, "done");
        assert_int_equal(atomic_load(&fx->scans), 3);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(docks_and_copies_everything, setup, teardown),
                cmocka_unit_test_setup_teardown(arrival_twice_is_one_session, setup, teardown),
                cmocka_unit_test_setup_teardown(departure_without_arrival_is_ignored, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(pulled_during_scan, setup, teardown),
                cmocka_unit_test_setup_teardown(pulled_during_copy, setup, teardown),
                cmocka_unit_test_setup_teardown(interrupted_cards_stay_until_their_port_docks,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(rejects_device_not_allowed, setup, teardown),
                cmocka_unit_test_setup_teardown(rejects_unregistered_serial, setup, teardown),
                cmocka_unit_test_setup_teardown(rejects_device_without_serial, setup, teardown),
                cmocka_unit_test_setup_teardown(lister_crash_is_not_retried_until_undocked, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(
                        lister_mark_is_for_its_plug_in_and_its_failures_only, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
