#include "scrub.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "clock.h"
#include "policy.h"

struct evd_scrub {
        struct evd_store *store;
        struct evd_catalog *catalog;
        struct evd_period interval;
        uint64_t bytes_per_s;
        bool (*busy)(void *);
        void *userdata;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stopping, running;
        uint64_t checked; /* this pass */
};

static const struct evd_actor scrub_actor = { .uid = 0, .name = "evidockd scrub" };

/* Sleep up to ms, or until stopped; returns true when stopping. */
static bool nap(struct evd_scrub *s, uint64_t ms)
{
        struct timespec until;
        bool stopping;

        (void)clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)(ms / 1000);
        until.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&s->lock);
        if (!s->stopping)
                (void)pthread_cond_timedwait(&s->wake, &s->lock, &until);
        stopping = s->stopping;
        pthread_mutex_unlock(&s->lock);
        return stopping;
}

static bool stopping(struct evd_scrub *s)
{
        bool v;

        pthread_mutex_lock(&s->lock);
        v = s->stopping;
        pthread_mutex_unlock(&s->lock);
        return v;
}

struct batch {
        struct evd_scrub *s;
        json_t *items;  /* [{id, sha256, size}] to check */
        json_t *checks; /* [{id, ok, error}] */
        uint64_t bytes;
        uint64_t next_id;
        bool pass_done;
};

static int take(json_t *item, void *p)
{
        struct batch *b = p;

        if (json_object_get(item, "purged"))
                return 0;
        return json_array_append_new(b->items,
                                     json_pack("{sO sO sO}", "id", json_object_get(item, "id"),
                                               "sha256", json_object_get(item, "sha256"), "size",
                                               json_object_get(item, "size"))) < 0
                       ? -ENOMEM
                       : 0;
}

/* Drop item id's alarm from the list alarms (META "scrub_alarms"). */
static void drop_alarm(json_t *alarms, uint64_t id)
{
        for (size_t k = 0; k < json_array_size(alarms); k++) {
                json_t *a = json_array_get(alarms, k);

                if ((uint64_t)json_integer_value(json_object_get(a, "id")) == id)
                        (void)json_array_remove(alarms, k--);
        }
}

static int alarm_update(struct evd_txn *txn, uint64_t id, json_t *check)
{
        json_t *alarms = NULL;
        int r;

        if (evd_catalog_json_get(txn, EVD_DB_META, "scrub_alarms", &alarms) < 0)
                alarms = json_array();
        if (!alarms)
                return -ENOMEM;
        drop_alarm(alarms, id);
        if (check && json_array_size(alarms) < EVD_SCRUB_ALARMS_MAX)
                (void)json_array_append(alarms, check);
        r = evd_catalog_json_put(txn, EVD_DB_META, "scrub_alarms", alarms);
        json_decref(alarms);
        return r;
}

int evd_scrub_alarm_clear(struct evd_txn *txn, uint64_t id)
{
        return alarm_update(txn, id, NULL);
}

int evd_scrub_mark_damaged(struct evd_txn *txn, json_t *check)
{
        uint64_t id = (uint64_t)json_integer_value(json_object_get(check, "id"));
        char now[EVD_TIME_STR];
        json_t *item = NULL;
        int r;

        evd_time_format(evd_clock_now(), now);
        (void)json_object_set_new(check, "time", json_string(now));
        r = evd_catalog_item_get(txn, id, &item);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        (void)json_object_set_new(item, "checked_at", json_string(now));
        (void)json_object_set_new(item, "fixity", json_string("damaged"));
        r = evd_catalog_item_put(txn, item);
        json_decref(item);
        return r < 0 ? r : alarm_update(txn, id, check);
}

/* Record a batch: checked_at on each item, alarms raised or cleared, progress. */
static int record_batch(struct evd_txn *txn, void *p)
{
        struct batch *b = p;
        json_t *alarms = NULL, *c, *state;
        char now[EVD_TIME_STR];
        size_t i, bad = 0;
        int r;

        evd_time_format(evd_clock_now(), now);
        if (evd_catalog_json_get(txn, EVD_DB_META, "scrub_alarms", &alarms) < 0)
                alarms = json_array();
        if (!alarms)
                return -ENOMEM;
        json_array_foreach(b->checks, i, c)
        {
                uint64_t id = (uint64_t)json_integer_value(json_object_get(c, "id"));
                bool ok = json_is_true(json_object_get(c, "ok"));
                json_t *item = NULL;

                /* Drop this item's old alarm; a new one replaces it. */
                drop_alarm(alarms, id);
                if (!ok) {
                        char subject[EVD_AUDIT_SUBJECT_MAX];

                        bad++;
                        (void)json_object_set_new(c, "time", json_string(now));
                        evd_audit_item_subject(subject, id);
                        r = evd_audit_append(txn, &scrub_actor, "scrub.alarm", subject, c, NULL);
                        if (r < 0)
                                goto out;
                        if (json_array_size(alarms) < EVD_SCRUB_ALARMS_MAX)
                                (void)json_array_append(alarms, c);
                }
                r = evd_catalog_item_get(txn, id, &item);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        goto out;
                (void)json_object_set_new(item, "checked_at", json_string(now));
                (void)json_object_set_new(item, "fixity", json_string(ok ? "ok" : "damaged"));
                r = evd_catalog_item_put(txn, item);
                json_decref(item);
                if (r < 0)
                        goto out;
        }
        r = evd_catalog_json_put(txn, EVD_DB_META, "scrub_alarms", alarms);
        if (r < 0)
                goto out;
        state = json_pack("{sI ss*}", "next_id", (json_int_t)b->next_id, "last_pass_done",
                          b->pass_done ? now : NULL);
        if (!b->pass_done) {
                json_t *old = NULL;

                if (evd_catalog_json_get(txn, EVD_DB_META, "scrub", &old) == 0) {
                        (void)json_object_set(state, "last_pass_done",
                                              json_object_get(old, "last_pass_done"));
                        json_decref(old);
                }
        }
        r = state ? evd_catalog_json_put(txn, EVD_DB_META, "scrub", state) : -ENOMEM;
        json_decref(state);
        if (r == 0 && json_array_size(b->checks) > 0) {
                json_t *d = json_pack("{sI sI sI}", "items", (json_int_t)json_array_size(b->checks),
                                      "bytes", (json_int_t)b->bytes, "damaged", (json_int_t)bad);

                r = evd_audit_append(txn, &scrub_actor, "scrub.checked", "", d, NULL);
                json_decref(d);
        }
        if (r == 0 && b->pass_done)
                r = evd_audit_append(txn, &scrub_actor, "scrub.pass_done", "", NULL, NULL);
out:
        json_decref(alarms);
        return r;
}

bool evd_scrub_restore_pending(struct evd_catalog *catalog)
{
        struct evd_txn txn;
        json_t *mark = NULL;
        bool set;

        if (evd_catalog_read_begin(catalog, &txn) < 0)
                return false;
        set = evd_catalog_json_get(&txn, EVD_DB_META, EVD_RESTORE_PENDING_KEY, &mark) == 0;
        json_decref(mark);
        evd_catalog_read_end(&txn);
        return set;
}

/* Hash one object at no more than the allowed rate. */
static void check_one(struct evd_scrub *s, struct batch *b, json_t *it)
{
        uint8_t sha[EVD_SHA256_LEN];
        uint64_t size = (uint64_t)json_integer_value(json_object_get(it, "size"));
        uint64_t t0 = evd_clock_mono_ns(), spent, due;
        struct evd_err err = { 0 };
        int r;

        r = evd_unhex(json_string_value(json_object_get(it, "sha256")) ?: "", sha, sizeof(sha));
        if (r == 0)
                r = evd_store_verify_object(s->store, sha, size, &err);
        else
                (void)evd_err_set(&err, r, "catalogue record has no valid sha256");
        if (r == -ENOENT && evd_scrub_restore_pending(s->catalog))
                return; /* still to come from the archive (restore --objects) */
        (void)json_array_append_new(b->checks,
                                    json_pack("{sO sO sb so*}", "id", json_object_get(it, "id"),
                                              "sha256", json_object_get(it, "sha256"), "ok", r == 0,
                                              "error", r == 0 ? NULL : json_string(err.text)));
        b->bytes += size;
        s->checked++;
        /* Bandwidth cap: stretch the time spent on this object to size / rate. */
        spent = evd_clock_mono_ns() - t0;
        due = size * 1000000000ull / s->bytes_per_s;
        if (due > spent)
                (void)nap(s, (due - spent) / 1000000u);
}

static int load_state(struct evd_scrub *s, uint64_t *next_id, int64_t *last_done)
{
        struct evd_txn txn;
        json_t *state = NULL;
        int r;

        *next_id = 0;
        *last_done = INT64_MIN;
        r = evd_catalog_read_begin(s->catalog, &txn);
        if (r < 0)
                return r;
        if (evd_catalog_json_get(&txn, EVD_DB_META, "scrub", &state) == 0) {
                *next_id = (uint64_t)json_integer_value(json_object_get(state, "next_id"));
                (void)evd_time_parse(json_string_value(json_object_get(state, "last_pass_done"))
                                             ?: "",
                                     last_done);
                json_decref(state);
        }
        evd_catalog_read_end(&txn);
        return 0;
}

static void *scrub_main(void *arg)
{
        struct evd_scrub *s = arg;

        while (!stopping(s)) {
                struct batch b = { .s = s };
                struct evd_err err = { 0 };
                struct evd_txn txn;
                uint64_t next_id;
                int64_t last_done, due;
                json_t *it;
                size_t i;

                if (load_state(s, &next_id, &last_done) < 0) {
                        (void)nap(s, 60000);
                        continue;
                }
                /* Between passes: wait until the next is due (a pass under way goes on). */
                if (next_id == 0 && last_done != INT64_MIN &&
                    evd_policy_add_period(last_done, &s->interval, &due) == 0 &&
                    evd_clock_now() < due) {
                        pthread_mutex_lock(&s->lock);
                        s->running = false;
                        s->checked = 0;
                        pthread_mutex_unlock(&s->lock);
                        (void)nap(s, 60000);
                        continue;
                }
                pthread_mutex_lock(&s->lock);
                s->running = true;
                pthread_mutex_unlock(&s->lock);
                b.items = json_array();
                b.checks = json_array();
                if (evd_catalog_read_begin(s->catalog, &txn) == 0) {
                        (void)evd_catalog_items_from(&txn, next_id ? next_id : 1, EVD_SCRUB_BATCH,
                                                     take, &b, &b.next_id);
                        evd_catalog_read_end(&txn);
                }
                b.pass_done = b.next_id == 0;
                json_array_foreach(b.items, i, it)
                {
                        while (s->busy && s->busy(s->userdata) && !stopping(s))
                                (void)nap(s, 1000);
                        if (stopping(s))
                                break;
                        check_one(s, &b, it);
                }
                if (!stopping(s))
                        (void)evd_catalog_write(s->catalog, record_batch, &b, &err);
                json_decref(b.items);
                json_decref(b.checks);
        }
        return NULL;
}

int evd_scrub_start(struct evd_store *store, struct evd_catalog *catalog,
                    const struct evd_conf *conf, bool (*busy)(void *), void *userdata,
                    struct evd_scrub **ret, struct evd_err *err)
{
        struct evd_scrub *s;

        if (conf->scrub_off) {
                *ret = NULL;
                return 0;
        }
        s = calloc(1, sizeof(*s));
        if (!s)
                return evd_err_set(err, -ENOMEM, "out of memory");
        s->store = store;
        s->catalog = catalog;
        s->interval = conf->scrub_interval;
        s->bytes_per_s = (uint64_t)conf->scrub_mb_per_s * 1000000u;
        s->busy = busy;
        s->userdata = userdata;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->wake, NULL);
        if (pthread_create(&s->thread, NULL, scrub_main, s) != 0) {
                pthread_cond_destroy(&s->wake);
                pthread_mutex_destroy(&s->lock);
                free(s);
                return evd_err_set(err, -EAGAIN, "cannot start the scrub thread");
        }
        *ret = s;
        return 0;
}

void evd_scrub_stop(struct evd_scrub *s)
{
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_broadcast(&s->wake);
        pthread_mutex_unlock(&s->lock);
        (void)pthread_join(s->thread, NULL);
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

json_t *evd_scrub_status(struct evd_scrub *s, struct evd_catalog *catalog)
{
        json_t *alarms = NULL, *state = NULL, *out;
        struct evd_txn txn;
        bool running = false;
        uint64_t checked = 0;

        if (evd_catalog_read_begin(catalog, &txn) == 0) {
                (void)evd_catalog_json_get(&txn, EVD_DB_META, "scrub_alarms", &alarms);
                (void)evd_catalog_json_get(&txn, EVD_DB_META, "scrub", &state);
                evd_catalog_read_end(&txn);
        }
        if (s) {
                pthread_mutex_lock(&s->lock);
                running = s->running;
                checked = s->checked;
                pthread_mutex_unlock(&s->lock);
        }
        out = json_pack("{sb sb sO sI so}", "enabled", s != NULL, "running", running,
                        "last_pass_done", json_object_get(state, "last_pass_done") ?: json_null(),
                        "checked_this_pass", (json_int_t)checked, "alarms",
                        alarms ? alarms : json_array());
        json_decref(state);
        return out;
}
