/* verify: check the store's objects against their hashes and the audit log against
 * its chain and checkpoints; and the checkpoints that seal the log. */
#include <errno.h>
#include <string.h>

#include "checkpoint.h"
#include "clock.h"
#include "item.h"
#include "signing.h"
#include "station_internal.h"

struct store_check {
        struct evd_station *s;
        struct evd_request *req;
        json_t *bad;
        uint64_t checked, bytes;
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
        if (err.code)
                (void)json_array_append_new(c->bad, json_pack("{sO ss ss}", "id",
                                                              json_object_get(item, "id"), "sha256",
                                                              hex ? hex : "", "error", err.text));
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

static int verify_store(struct evd_station *s, struct evd_request *req, json_t **ret,
                        struct evd_err *err)
{
        struct store_check c = { .s = s, .req = req, .bad = json_array() };
        struct evd_item_filter all = { 0 };
        json_t *items = json_array(), *it;
        size_t i;
        int r;

        if (!items || !c.bad) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        r = evd_catalog_items_snapshot(s->catalog, &all, collect_all, items);
        if (r < 0) {
                r = evd_err_set(err, r, "catalog: %s", strerror(-r));
                goto out;
        }
        json_array_foreach(items, i, it)
        {
                (void)check_object(it, &c);
        }
        *ret = json_pack("{sb sI sI sO}", "ok", json_array_size(c.bad) == 0, "items_checked",
                         (json_int_t)c.checked, "bytes_checked", (json_int_t)c.bytes, "bad", c.bad);
        r = *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
out:
        json_decref(items);
        json_decref(c.bad);
        return r;
}

/* The chain from the first entry, then every signed checkpoint over it. */
static int verify_audit(struct evd_station *s, json_t **ret, struct evd_err *err)
{
        struct evd_err bad = { 0 }, keyerr = { 0 };
        struct evd_keys *keys = NULL;
        struct evd_conf conf;
        struct evd_txn txn;
        uint64_t count = 0, checkpoints = 0, latest = 0;
        int r;

        evd_station_conf(s, &conf);
        /* Without the station key the checkpoints' hashes are still checked. */
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
        evd_catalog_read_end(&txn);
        if (r < 0 && r != -EBADMSG) {
                evd_keys_free(keys);
                return evd_err_set(err, r, "%s", bad.text);
        }
        *ret = json_pack("{sb sI sI sI sb ss?}", "ok", r == 0, "entries", (json_int_t)count,
                         "checkpoints", (json_int_t)checkpoints, "latest_checkpoint",
                         (json_int_t)latest, "signatures_checked", keys != NULL, "error",
                         r == 0 ? NULL : bad.text);
        evd_keys_free(keys);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
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
        bool do_store = false, do_audit = false, ok = true;
        int r;

        if ((r = evd_arg_bool(args, "store", &do_store, err)) < 0 ||
            (r = evd_arg_bool(args, "audit", &do_audit, err)) < 0)
                goto fail;
        if (!do_store && !do_audit)
                do_store = do_audit = true;
        if (do_audit) {
                if ((r = verify_audit(s, &part, err)) < 0)
                        goto fail;
                ok = ok && json_is_true(json_object_get(part, "ok"));
                (void)json_object_set_new(out, "audit", part);
        }
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
