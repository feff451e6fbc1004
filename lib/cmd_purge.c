/* Purge (第二十六条, 第二十八条): the only way an object leaves the store. An item is
 * deleted only after its retain_until plus the grace period, never while held or
 * marked as evidence. The catalogue records the purge (and its audit entry) before
 * the object is unlinked, so a crash in between leaves an orphan object, never an
 * item without its object. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "label.h"
#include "policy.h"
#include "station_internal.h"

#define PURGE_MAX 100000

struct scan_ctx {
        const struct evd_conf *conf;
        int64_t now;
        json_t *eligible; /* [{id, sha256, size, retain_until}] */
        json_t *kept;     /* {reason: count} */
};

static int scan_item(json_t *item, void *p)
{
        struct scan_ctx *c = p;
        char buf[128];
        const char *why = evd_policy_purge_blocker(item, c->conf, c->now, buf, sizeof(buf));

        if (why) {
                /* Count by kind of reason, without the date in it. */
                const char *kind = strncmp(why, "kept until", 10) == 0 ? "within retention" : why;
                json_t *n = json_object_get(c->kept, kind);

                (void)json_object_set_new(c->kept, kind,
                                          json_integer(n ? json_integer_value(n) + 1 : 1));
                return 0;
        }
        if (json_array_size(c->eligible) >= PURGE_MAX)
                return 1;
        return json_array_append_new(c->eligible,
                                     json_pack("{sO sO sO sO}", "id", json_object_get(item, "id"),
                                               "sha256", json_object_get(item, "sha256"), "size",
                                               json_object_get(item, "size"), "retain_until",
                                               json_object_get(item, "retain_until"))) < 0
                       ? -ENOMEM
                       : 0;
}

struct purge_one {
        const struct evd_actor *actor;
        const struct evd_conf *conf;
        uint64_t id;
        int64_t now;
        const char *approver, *reason;
        bool done;
};

/* Mark one item purged, checking again inside the transaction: it may have been put
 * on hold since the scan. */
static int purge_txn(struct evd_txn *txn, void *p)
{
        struct purge_one *c = p;
        json_t *item = NULL, *details;
        char buf[128], now[EVD_TIME_STR], subject[EVD_AUDIT_SUBJECT_MAX];
        int r;

        c->done = false;
        r = evd_catalog_item_get(txn, c->id, &item);
        if (r < 0)
                return r;
        if (evd_policy_purge_blocker(item, c->conf, c->now, buf, sizeof(buf))) {
                json_decref(item);
                return 0;
        }
        evd_time_format(c->now, now);
        (void)json_object_set_new(item, "purged",
                                  json_pack("{ss ss ss ss}", "at", now, "by", c->actor->name,
                                            "approver", c->approver, "reason", c->reason));
        details = json_pack("{sI sO sO sO ss ss}", "id", (json_int_t)c->id, "sha256",
                            json_object_get(item, "sha256"), "size", json_object_get(item, "size"),
                            "retain_until", json_object_get(item, "retain_until"), "approver",
                            c->approver, "reason", c->reason);
        r = details ? evd_catalog_item_put(txn, item) : -ENOMEM;
        evd_audit_item_subject(subject, c->id);
        if (r == 0)
                r = evd_audit_append(txn, c->actor, "item.purged", subject, details, NULL);
        json_decref(details);
        json_decref(item);
        c->done = r == 0;
        return r;
}

int evd_station_purge(struct evd_station *s, const struct evd_actor *actor, const char *approver,
                      const char *reason, bool dry_run, json_t **ret, struct evd_err *err)
{
        struct evd_conf conf;
        struct scan_ctx scan = { .conf = &conf, .now = evd_clock_now() };
        struct evd_item_filter all = { 0 };
        json_t *purged = json_array(), *failed = json_array(), *e, *summary;
        size_t i;
        int r;

        if (!actor) /* the automatic purge: the station itself */
                actor = &evd_station_actor;
        evd_station_conf(s, &conf);
        scan.eligible = json_array();
        scan.kept = json_object();
        if (!purged || !failed || !scan.eligible || !scan.kept) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        r = evd_catalog_items_snapshot(s->catalog, &all, scan_item, &scan);
        if (r < 0) {
                r = evd_err_set(err, r, "catalog: %s", strerror(-r));
                goto out;
        }
        if (dry_run) {
                summary = json_pack("{sO sO sI}", "eligible", scan.eligible, "kept", scan.kept,
                                    "eligible_count", (json_int_t)json_array_size(scan.eligible));
                e = json_pack("{sI ss ss}", "eligible", (json_int_t)json_array_size(scan.eligible),
                              "approver", approver, "reason", reason);
                (void)evd_station_audit(s, actor, "purge.dry_run", "", e);
                json_decref(e);
                *ret = summary;
                r = summary ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        json_array_foreach(scan.eligible, i, e)
        {
                struct purge_one one = { .actor = actor,
                                         .conf = &conf,
                                         .now = scan.now,
                                         .id = (uint64_t)json_integer_value(
                                                 json_object_get(e, "id")),
                                         .approver = approver,
                                         .reason = reason };
                uint8_t sha[EVD_SHA256_LEN];
                struct evd_err perr = { 0 };

                r = evd_catalog_write(s->catalog, purge_txn, &one, &perr);
                if (r == 0 && one.done &&
                    evd_unhex(json_string_value(json_object_get(e, "sha256")) ?: "", sha,
                              sizeof(sha)) == 0)
                        r = evd_store_purge(s->store, sha, &perr);
                if (r < 0) {
                        (void)json_object_set_new(e, "error", json_string(perr.text));
                        (void)json_array_append(failed, e);
                } else if (one.done) {
                        (void)json_array_append(purged, e);
                }
        }
        *ret = json_pack("{sO sO sO}", "purged", purged, "failed", failed, "kept", scan.kept);
        r = *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
out:
        json_decref(purged);
        json_decref(failed);
        json_decref(scan.eligible);
        json_decref(scan.kept);
        return r;
}

int evd_cmd_purge(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                  struct evd_err *err)
{
        const char *approver = NULL, *reason = NULL;
        bool dry_run = false;
        int r;

        if ((r = evd_arg_string(args, "approver", true, &approver, err)) < 0 ||
            (r = evd_label_check_text("approver", approver, 128, false, err)) < 0 ||
            (r = evd_arg_string(args, "reason", true, &reason, err)) < 0 ||
            (r = evd_label_check_text("reason", reason, EVD_LABEL_TEXT_MAX, true, err)) < 0 ||
            (r = evd_arg_bool(args, "dry_run", &dry_run, err)) < 0)
                return r;
        return evd_station_purge(ud, evd_request_actor(req), approver, reason, dry_run, ret, err);
}
