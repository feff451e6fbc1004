/* verify: check the store's objects against their hashes (and that every object
 * belongs to an item; stray objects and tmp/ leftovers are named, not failed), the audit log
 * against its chain and checkpoints, and every item record against what the audit log says it must
 * hold (ledger.h); and the checkpoints that seal the log. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "clock.h"
#include "item.h"
#include "ledger.h"
#include "signing.h"
#include "station_internal.h"

struct store_check {
        struct evd_station *s;
        struct evd_request *req;
        json_t *bad;
        json_t *stray_list; /* objects no item holds: reported, not a failure (a crash
                             * between publish and commit leaves one; `clean` removes) */
        json_t *leftovers;  /* tmp/ files no copy in flight owns: likewise */
        json_t *damaged;    /* scrub checks ({id, sha256, ok, error}) to record */
        json_t *pending;    /* items whose object a metadata-only restore left to come
                             * (scrub.h): named apart, not damage */
        bool restore_pending;
        uint8_t *live; /* the sha256 of every live item, sorted */
        size_t n_live;
        uint64_t checked, bytes, strays;
        uint64_t last_progress_ns;
};

static int check_object(json_t *item, void *p)
{
        struct store_check *c = p;
        const char *hex = json_string_value(json_object_get(item, "sha256"));
        uint64_t size = (uint64_t)json_integer_value(json_object_get(item, "size"));
        uint8_t sha[EVD_SHA256_LEN];
        struct evd_err err = { 0 };
        uint64_t now;

        if (json_object_get(item, "purged"))
                return 0; /* its object was deleted on purpose, and audited */
        if (!hex || evd_unhex(hex, sha, sizeof(sha)) < 0) {
                (void)evd_err_set(&err, -EBADMSG, "catalog record has no valid sha256");
        } else {
                (void)evd_store_verify_object(c->s->store, sha, size, &err);
        }
        c->checked++;
        c->bytes += size;
        if (err.code == -ENOENT && c->restore_pending) {
                (void)json_array_append_new(
                        c->pending,
                        json_pack("{sO ss}", "id", json_object_get(item, "id"), "sha256", hex));
                evd_err_clear(&err);
        }
        if (err.code)
                (void)json_array_append_new(c->bad, json_pack("{sO ss ss}", "id",
                                                              json_object_get(item, "id"), "sha256",
                                                              hex ? hex : "", "error", err.text));
        if (err.code == -EBADMSG || err.code == -ENOENT)
                (void)json_array_append_new(c->damaged,
                                            json_pack("{sO ss sb ss}", "id",
                                                      json_object_get(item, "id"), "sha256",
                                                      hex ? hex : "", "ok", 0, "error", err.text));
        now = evd_clock_mono_ns();
        if (now - c->last_progress_ns > EVD_PROGRESS_INTERVAL_MS * 1000000ull) {
                c->last_progress_ns = now;
                evd_request_progress(c->req,
                                     json_pack("{sI sI}", "items_checked", (json_int_t)c->checked,
                                               "bytes_checked", (json_int_t)c->bytes));
        }
        return 0;
}

/* Items are read in one snapshot; the objects are hashed outside any transaction so
 * that a long check never holds the catalog. */
static int collect_all(json_t *item, void *p)
{
        json_t *slim =
                json_pack("{sO sO sO}", "id", json_object_get(item, "id"), "sha256",
                          json_object_get(item, "sha256"), "size", json_object_get(item, "size"));

        if (slim && json_object_get(item, "purged"))
                (void)json_object_set(slim, "purged", json_object_get(item, "purged"));
        return slim && json_array_append_new(p, slim) == 0 ? 0 : -ENOMEM;
}

static int sha_cmp(const void *a, const void *b)
{
        return memcmp(a, b, EVD_SHA256_LEN);
}

/* The contents live items hold, sorted, to find objects no item holds. */
static int live_shas(json_t *items, struct store_check *c)
{
        json_t *it;
        size_t i;

        c->live = malloc(json_array_size(items) * EVD_SHA256_LEN + 1);
        if (!c->live)
                return -ENOMEM;
        json_array_foreach(items, i, it)
        {
                const char *hex = json_string_value(json_object_get(it, "sha256"));

                if (!json_object_get(it, "purged") && hex &&
                    evd_unhex(hex, c->live + c->n_live * EVD_SHA256_LEN, EVD_SHA256_LEN) == 0)
                        c->n_live++;
        }
        if (c->n_live) /* qsort and bsearch take no NULL array, even empty */
                qsort(c->live, c->n_live, EVD_SHA256_LEN, sha_cmp);
        return 0;
}

/* Whether a live item holds sha now (a fresh look, under the content's lock: an ingest
 * between publishing an object and committing its item holds that lock). */
static bool held_now(struct evd_station *s, const uint8_t sha[EVD_SHA256_LEN])
{
        char hex[EVD_SHA256_HEX];
        struct evd_txn txn;
        uint64_t id;
        int fd, r = -ENOENT;

        evd_hex(sha, EVD_SHA256_LEN, hex);
        evd_store_lock(s->store, sha);
        if (evd_catalog_read_begin(s->catalog, &txn) == 0) {
                json_t *item = NULL;

                r = evd_catalog_item_by_sha(&txn, hex, &id);
                if (r == 0 && (r = evd_catalog_item_get(&txn, id, &item)) == 0 &&
                    json_object_get(item, "purged"))
                        r = -ENOENT;
                json_decref(item);
                evd_catalog_read_end(&txn);
        }
        if (r < 0 && evd_store_open_object(s->store, sha, &fd) == 0)
                (void)close(fd);
        else
                r = 0; /* held, or gone meanwhile (a purge) */
        evd_store_unlock(s->store, sha);
        return r == 0;
}

static int check_stray(const uint8_t sha[EVD_SHA256_LEN], void *p)
{
        struct store_check *c = p;
        char hex[EVD_SHA256_HEX];

        if ((c->n_live && bsearch(sha, c->live, c->n_live, EVD_SHA256_LEN, sha_cmp)) ||
            held_now(c->s, sha))
                return 0;
        evd_hex(sha, EVD_SHA256_LEN, hex);
        c->strays++;
        return json_array_append_new(c->stray_list, json_pack("{ss ss}", "object", hex, "error",
                                                              "an object no item holds (stray)")) <
                               0
                       ? -ENOMEM
                       : 0;
}

/* A file in tmp/ no running copy owns: reported, not a failure; `clean` removes it. */
static int check_leftover(const char *name, uint64_t size, int64_t mtime, void *p)
{
        struct store_check *c = p;
        char when[EVD_TIME_STR];

        evd_time_format((time_t)mtime, when);
        return json_array_append_new(c->leftovers,
                                     json_pack("{ss sI ss ss}", "name", name, "size",
                                               (json_int_t)size, "mtime", when, "error",
                                               "a copy no running ingest owns (tmp leftover)")) < 0
                       ? -ENOMEM
                       : 0;
}

/* Damage verify found is recorded as the scrub would: fixity "damaged", an alarm in
 * status until the object is repaired. */
static int record_damage(struct evd_txn *txn, void *p)
{
        json_t *check;
        size_t i;
        int r = 0;

        json_array_foreach((json_t *)p, i, check)
        {
                if ((r = evd_scrub_mark_damaged(txn, check)) < 0)
                        break;
        }
        return r;
}

struct catalog_check {
        struct evd_ledger *ledger;
        json_t *bad;
        uint64_t checked;
};

static int check_record(json_t *item, void *p)
{
        struct catalog_check *c = p;
        char why[512];

        c->checked++;
        evd_ledger_seen(c->ledger, (uint64_t)json_integer_value(json_object_get(item, "id")));
        if (evd_ledger_check(c->ledger, item, why, sizeof(why)) == 0)
                return 0;
        return json_array_append_new(c->bad, json_pack("{sO ss}", "id", json_object_get(item, "id"),
                                                       "error", why)) < 0
                       ? -ENOMEM
                       : 0;
}

/* check_record on the record's text where it certainly agrees; else parsed. */
static int check_record_quick(const char *text, size_t n, void *p)
{
        struct catalog_check *c = p;
        uint64_t id;

        if (evd_ledger_check_raw(c->ledger, text, n, &id) != 0)
                return EVD_CATALOG_PARSE;
        c->checked++;
        evd_ledger_seen(c->ledger, id);
        return 0;
}

/* Every item record against the audit log's account of it, in one snapshot. */
static int verify_catalog(struct evd_station *s, json_t **ret, struct evd_err *err)
{
        struct catalog_check c = { .bad = json_array() };
        uint64_t entries = 0;
        struct evd_txn txn;
        int r;

        if (!c.bad)
                return evd_err_set(err, -ENOMEM, "out of memory");
        r = evd_catalog_read_begin(s->catalog, &txn);
        if (r < 0) {
                json_decref(c.bad);
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        }
        r = evd_ledger_replay(&txn, &c.ledger, &entries, err);
        if (r == 0) {
                r = evd_catalog_items_each_quick(&txn, check_record_quick, check_record, &c);
                if (r == 0)
                        (void)evd_ledger_missing(c.ledger, c.bad);
                else
                        (void)evd_err_set(err, r, "catalog: %s", strerror(-r));
        }
        evd_catalog_read_end(&txn);
        evd_ledger_free(c.ledger);
        if (r == 0) {
                *ret = json_pack("{sb sI sI sO}", "ok", json_array_size(c.bad) == 0,
                                 "items_checked", (json_int_t)c.checked, "entries_replayed",
                                 (json_int_t)entries, "bad", c.bad);
                r = *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
        }
        json_decref(c.bad);
        return r;
}

static int verify_store(struct evd_station *s, struct evd_request *req, json_t **ret,
                        struct evd_err *err)
{
        struct store_check c = { .s = s,
                                 .req = req,
                                 .bad = json_array(),
                                 .damaged = json_array(),
                                 .pending = json_array(),
                                 .stray_list = json_array(),
                                 .leftovers = json_array() };
        struct evd_item_filter all = { 0 };
        json_t *items = json_array(), *it;
        size_t i;
        int r;

        if (!items || !c.bad || !c.damaged || !c.pending || !c.stray_list || !c.leftovers) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        c.restore_pending = evd_scrub_restore_pending(s->catalog);
        r = evd_catalog_items_snapshot(s->catalog, &all, collect_all, items);
        if (r < 0) {
                r = evd_err_set(err, r, "catalog: %s", strerror(-r));
                goto out;
        }
        json_array_foreach(items, i, it)
        {
                (void)check_object(it, &c);
        }
        r = live_shas(items, &c);
        if (r == 0)
                r = evd_store_each_object(s->store, check_stray, &c);
        if (r == 0)
                r = evd_store_each_tmp_leftover(s->store, check_leftover, &c);
        if (r < 0) {
                r = evd_err_set(err, r, "store: %s", strerror(-r));
                goto out;
        }
        if (json_array_size(c.damaged) > 0)
                (void)evd_catalog_write(s->catalog, record_damage, c.damaged, err);
        evd_err_clear(err);
        *ret = json_pack("{sb sI sI sI sO}", "ok", json_array_size(c.bad) == 0, "items_checked",
                         (json_int_t)c.checked, "bytes_checked", (json_int_t)c.bytes, "stray_count",
                         (json_int_t)c.strays, "bad", c.bad);
        if (*ret) {
                (void)json_object_set(*ret, "stray_objects", c.stray_list);
                (void)json_object_set(*ret, "tmp_leftovers", c.leftovers);
                (void)json_object_set_new(*ret, "pending_restore",
                                          json_integer((json_int_t)json_array_size(c.pending)));
                (void)json_object_set(*ret, "pending_restore_items", c.pending);
        }
        r = *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
out:
        json_decref(items);
        json_decref(c.bad);
        json_decref(c.damaged);
        json_decref(c.pending);
        json_decref(c.stray_list);
        json_decref(c.leftovers);
        free(c.live);
        return r;
}

/* The chain from the first entry, every signed checkpoint over it, the seals as the
 * log shows them, and the anchors (checkpoints kept elsewhere) the caller brought. */
static int verify_audit(struct evd_station *s, const json_t *anchors, json_t **ret,
                        struct evd_err *err)
{
        struct evd_err bad = { 0 }, keyerr = { 0 };
        struct evd_keys *keys = NULL;
        struct evd_conf conf;
        struct evd_txn txn;
        uint64_t count = 0, checkpoints = 0, latest = 0;
        bool sealing = false;
        int r;

        evd_station_conf(s, &conf);
        (void)evd_signing_load(&conf, &keys, &keyerr);
        r = evd_catalog_read_begin(s->catalog, &txn);
        if (r < 0) {
                evd_keys_free(keys);
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        }
        r = evd_audit_verify(&txn, &count, &bad);
        if (r == 0)
                r = evd_checkpoint_verify(&txn, keys ? evd_keys_cert(keys) : NULL, &checkpoints,
                                          &latest, &bad);
        if (r == 0)
                r = evd_checkpoint_verify_log(&txn, conf.signing_key[0] != '\0', &sealing, &bad);
        /* A station that seals its log cannot be checked without its certificate. */
        if (r == 0 && !keys && (sealing || checkpoints > 0))
                r = evd_err_set(&bad, -EBADMSG,
                                "the station's signing key or certificate is missing (%s): the "
                                "checkpoints cannot be checked",
                                keyerr.text);
        if (r == 0 && anchors)
                r = evd_checkpoint_check_anchors(&txn, anchors, &bad);
        evd_catalog_read_end(&txn);
        if (r < 0 && r != -EBADMSG) {
                evd_keys_free(keys);
                return evd_err_set(err, r, "%s", bad.text);
        }
        *ret = json_pack("{sb sI sI sI sb sb sI ss?}", "ok", r == 0, "entries", (json_int_t)count,
                         "checkpoints", (json_int_t)checkpoints, "latest_checkpoint",
                         (json_int_t)latest, "signatures_checked", keys != NULL, "sealing", sealing,
                         "anchors_checked", (json_int_t)json_array_size(anchors), "error",
                         r == 0 ? NULL : bad.text);
        evd_keys_free(keys);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
}

/* verify_catalog on a thread of its own, beside the chain check: both read the whole
 * audit log, each in its own snapshot. */
struct catalog_job {
        struct evd_station *s;
        json_t *part;
        struct evd_err err;
        int r;
};

static void *catalog_main(void *p)
{
        struct catalog_job *j = p;

        j->r = verify_catalog(j->s, &j->part, &j->err);
        return NULL;
}

/* The audit log (its chain, seals and anchors) and the catalogue against it, at once
 * where a thread can be had: out gets "audit" and "catalog"; *ok is anded with both. */
static int verify_log_and_catalog(struct evd_station *s, const json_t *anchors, json_t *out,
                                  bool *ok, struct evd_err *err)
{
        struct catalog_job job = { .s = s };
        json_t *part = NULL;
        pthread_t thread;
        bool threaded = pthread_create(&thread, NULL, catalog_main, &job) == 0;
        int r = verify_audit(s, anchors, &part, err);

        if (threaded)
                (void)pthread_join(thread, NULL);
        else
                job.r = verify_catalog(s, &job.part, &job.err);
        if (r == 0) {
                *ok = *ok && json_is_true(json_object_get(part, "ok"));
                (void)json_object_set_new(out, "audit", part);
                r = job.r;
                if (r < 0)
                        *err = job.err;
        }
        if (r == 0) {
                *ok = *ok && json_is_true(json_object_get(job.part, "ok"));
                (void)json_object_set_new(out, "catalog", job.part);
        } else {
                json_decref(job.part);
        }
        return r;
}

/* audit.checkpoints: every seal, to be kept away from the station. */
int evd_cmd_audit_checkpoints(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                              struct evd_err *err)
{
        struct evd_station *s = ud;
        struct evd_txn txn;
        int r;

        (void)req;
        (void)args;
        r = evd_catalog_read_begin(s->catalog, &txn);
        if (r < 0)
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        r = evd_checkpoint_list(&txn, ret);
        evd_catalog_read_end(&txn);
        return r < 0 ? evd_err_set(err, r, "checkpoints: %s", strerror(-r)) : 0;
}

/* The anchors as sent: a list of {seq, head}. */
static int check_anchor_args(const json_t *anchors, struct evd_err *err)
{
        const json_t *a;
        size_t i;

        if (!json_is_array(anchors))
                return evd_err_set(err, -EINVAL, "\"anchors\" must be a list");
        json_array_foreach(anchors, i, a)
        {
                const char *head = json_string_value(json_object_get(a, "head"));

                if (!json_is_integer(json_object_get(a, "seq")) || !head || strlen(head) != 64 ||
                    !evd_is_hex(head, 64))
                        return evd_err_set(err, -EINVAL,
                                           "anchor %zu: needs seq and a 64-digit head", i + 1);
        }
        return 0;
}

int evd_station_checkpoint(struct evd_station *s, bool force, json_t **ret, struct evd_err *err)
{
        struct evd_keys *keys = NULL;
        struct evd_conf conf;
        int r;

        *ret = NULL;
        if (!evd_checkpoint_due(s->catalog, evd_clock_now(), force))
                return 0;
        evd_station_conf(s, &conf);
        r = evd_signing_load(&conf, &keys, err);
        if (r < 0)
                return r;
        r = evd_checkpoint_make(s->catalog, keys, conf.name, &evd_station_actor, ret, err);
        evd_keys_free(keys);
        return r;
}

int evd_cmd_verify(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                   struct evd_err *err)
{
        struct evd_station *s = ud;
        json_t *out = json_object(), *part = NULL;
        const json_t *anchors = json_object_get(args, "anchors");
        bool do_store = false, do_audit = false, ok = true;
        int r;

        if ((r = evd_arg_bool(args, "store", &do_store, err)) < 0 ||
            (r = evd_arg_bool(args, "audit", &do_audit, err)) < 0 ||
            (anchors && (r = check_anchor_args(anchors, err)) < 0))
                goto fail;
        if (anchors)
                do_audit = true;
        if (!do_store && !do_audit)
                do_store = do_audit = true;
        if (do_audit && (r = verify_log_and_catalog(s, anchors, out, &ok, err)) < 0)
                goto fail;
        if (do_store) {
                if ((r = verify_store(s, req, &part, err)) < 0)
                        goto fail;
                ok = ok && json_is_true(json_object_get(part, "ok"));
                (void)json_object_set_new(out, "store", part);
        }
        (void)json_object_set_new(out, "ok", json_boolean(ok));
        (void)evd_station_audit(s, evd_request_actor(req), ok ? "verify.ok" : "verify.failed", "",
                                out);
        *ret = out;
        return 0;
fail:
        json_decref(out);
        return r;
}
