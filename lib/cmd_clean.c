/* clean: an admin's explicit clean-up of what `verify --store` names without failing.
 * Stray objects (files in objects/ no live item holds: a crash between publish and
 * commit leaves one) are moved to quarantine/, never deleted, the immutable flag lifted
 * and set again the way the store seals (seal.h). tmp/ leftovers (files no copy in
 * flight owns) are removed. Each move or removal is done inside the catalogue write that
 * audits it ("store.stray_quarantined", "store.tmp_removed", with approver and reason):
 * a failed move or removal aborts its entry, and a stray is checked again there, under
 * its content's lock, so an ingest committing the same bytes meanwhile keeps them.
 * --dry-run lists what would be done and changes nothing. */
#include <errno.h>
#include <string.h>

#include "audit.h"
#include "label.h"
#include "station_internal.h"

struct clean {
        struct evd_station *s;
        const struct evd_actor *actor;
        const char *approver, *reason;
        json_t *strays;    /* [hex]: candidates */
        json_t *leftovers; /* [{name, size, mtime}] */
};

/* Does a live (not purged) item hold hex? */
static bool held(struct evd_txn *txn, const char *hex)
{
        json_t *item = NULL;
        uint64_t id;
        bool live;

        if (evd_catalog_item_by_sha(txn, hex, &id) < 0 || evd_catalog_item_get(txn, id, &item) < 0)
                return false;
        live = !json_object_get(item, "purged");
        json_decref(item);
        return live;
}

static int collect_stray(const uint8_t sha[EVD_SHA256_LEN], void *p)
{
        static const uint8_t zero[EVD_SHA256_LEN];
        struct clean *c = p;
        char hex[EVD_SHA256_HEX];
        struct evd_txn txn;
        bool h;

        if (memcmp(sha, zero, sizeof(zero)) == 0)
                return 0; /* not an object's name: not ours to move */
        evd_hex(sha, EVD_SHA256_LEN, hex);
        if (evd_catalog_read_begin(c->s->catalog, &txn) < 0)
                return -EIO;
        h = held(&txn, hex);
        evd_catalog_read_end(&txn);
        return h || json_array_append_new(c->strays, json_string(hex)) == 0 ? 0 : -ENOMEM;
}

static int collect_leftover(const char *name, uint64_t size, int64_t mtime, void *p)
{
        struct clean *c = p;
        char when[EVD_TIME_STR];

        evd_time_format(mtime, when);
        return json_array_append_new(c->leftovers, json_pack("{ss sI ss}", "name", name, "size",
                                                             (json_int_t)size, "mtime", when)) == 0
                       ? 0
                       : -ENOMEM;
}

struct one {
        struct clean *c;
        const char *hex; /* a stray, or NULL */
        json_t *tmp;     /* a leftover, or NULL (borrowed) */
        uint8_t sha[EVD_SHA256_LEN];
        char moved_to[EVD_STORE_PATH_MAX]; /* set once moved (a retried write moves nothing) */
        bool done, skipped;
        struct evd_err err;
};

static int clean_txn(struct evd_txn *txn, void *p)
{
        struct one *o = p;
        const char *name = json_string_value(json_object_get(o->tmp, "name"));
        json_t *details;
        int r;

        if (o->hex && !o->done) {
                if (held(txn, o->hex)) {
                        o->skipped = true; /* an item took it meanwhile */
                        return 0;
                }
                if ((r = evd_store_quarantine(o->c->s->store, o->sha, o->moved_to, &o->err)) < 0)
                        return r;
                o->done = true;
        } else if (o->tmp && !o->done) {
                r = evd_store_tmp_remove_leftover(o->c->s->store, name);
                if (r == -EBUSY || r == -ENOENT) {
                        o->skipped = true; /* a copy owns it now, or it went */
                        return 0;
                }
                if (r < 0)
                        return evd_err_set(&o->err, r, "tmp/%s: %s", name, strerror(-r));
                o->done = true;
        }
        details = o->hex ? json_pack("{ss ss ss ss}", "sha256", o->hex, "moved_to", o->moved_to,
                                     "approver", o->c->approver, "reason", o->c->reason)
                         : json_pack("{ss sO sO ss ss}", "name", name, "size",
                                     json_object_get(o->tmp, "size"), "mtime",
                                     json_object_get(o->tmp, "mtime"), "approver", o->c->approver,
                                     "reason", o->c->reason);
        if (!details)
                return -ENOMEM;
        r = evd_audit_append(txn, o->c->actor,
                             o->hex ? "store.stray_quarantined" : "store.tmp_removed", "store",
                             details, NULL);
        json_decref(details);
        return r;
}

/* Move or remove one thing in its own audited write; its outcome into done/failed. */
static void clean_one(struct clean *c, struct one *o, json_t *done, json_t *failed)
{
        struct evd_err err = { 0 };
        int r;

        o->c = c;
        if (o->hex) {
                (void)evd_unhex(o->hex, o->sha, sizeof(o->sha));
                evd_store_lock(c->s->store, o->sha);
        }
        r = evd_catalog_write(c->s->catalog, clean_txn, o, &err);
        if (o->hex)
                evd_store_unlock(c->s->store, o->sha);
        if (r < 0)
                (void)json_array_append_new(
                        failed,
                        json_pack("{ss ss}", o->hex ? "object" : "tmp",
                                  o->hex ? o->hex
                                         : json_string_value(json_object_get(o->tmp, "name")),
                                  "error", o->err.code ? o->err.text : err.text));
        else if (!o->skipped && o->hex)
                (void)json_array_append_new(
                        done, json_pack("{ss ss}", "object", o->hex, "moved_to", o->moved_to));
        else if (!o->skipped)
                (void)json_array_append(done, o->tmp);
}

static int clean_run(struct clean *c, bool dry_run, json_t **ret)
{
        json_t *moved = json_array(), *removed = json_array(), *failed = json_array(), *v;
        size_t i;

        if (!moved || !removed || !failed) {
                json_decref(moved);
                json_decref(removed);
                json_decref(failed);
                return -ENOMEM;
        }
        json_array_foreach(c->strays, i, v)
        {
                struct one o = { .hex = json_string_value(v) };

                if (dry_run)
                        (void)json_array_append_new(moved, json_pack("{sO}", "object", v));
                else
                        clean_one(c, &o, moved, failed);
        }
        json_array_foreach(c->leftovers, i, v)
        {
                struct one o = { .tmp = v };

                if (dry_run)
                        (void)json_array_append(removed, v);
                else
                        clean_one(c, &o, removed, failed);
        }
        *ret = json_pack("{sb so so so}", "dry_run", dry_run, "stray_objects", moved,
                         "tmp_leftovers", removed, "failed", failed);
        return *ret ? 0 : -ENOMEM;
}

int evd_cmd_clean(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                  struct evd_err *err)
{
        struct clean c = { .s = ud, .actor = evd_request_actor(req) };
        bool dry_run = false;
        int r;

        if ((r = evd_arg_string(args, "approver", true, &c.approver, err)) < 0 ||
            (r = evd_label_check_text("approver", c.approver, 128, false, err)) < 0 ||
            (r = evd_arg_string(args, "reason", true, &c.reason, err)) < 0 ||
            (r = evd_label_check_text("reason", c.reason, EVD_LABEL_TEXT_MAX, true, err)) < 0 ||
            (r = evd_arg_bool(args, "dry_run", &dry_run, err)) < 0)
                return r;
        c.strays = json_array();
        c.leftovers = json_array();
        if (!c.strays || !c.leftovers)
                r = evd_err_set(err, -ENOMEM, "out of memory");
        else if ((r = evd_store_each_object(c.s->store, collect_stray, &c)) < 0 ||
                 (r = evd_store_each_tmp_leftover(c.s->store, collect_leftover, &c)) < 0)
                r = evd_err_set(err, r, "store: %s", strerror(-r));
        else if ((r = clean_run(&c, dry_run, ret)) < 0)
                r = evd_err_set(err, r, "out of memory");
        json_decref(c.strays);
        json_decref(c.leftovers);
        return r;
}
