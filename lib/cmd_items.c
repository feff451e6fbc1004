/* items, show, audit: read the catalog and the audit log. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "item.h"
#include "label.h"
#include "station_internal.h"

#define AUDIT_LIST_MAX 100000

struct list_ctx {
        json_t *out;
        size_t max;
        bool more; /* one more matched past max */
};

static int collect(json_t *item, void *p)
{
        struct list_ctx *l = p;

        if (json_array_size(l->out) >= l->max) {
                l->more = true;
                return 1;
        }
        return json_array_append(l->out, item) < 0 ? -ENOMEM : 0;
}

/* A whole number argument in [lo, hi]; *ret left as it is when absent. */
static int arg_count(const json_t *args, const char *key, json_int_t lo, json_int_t hi,
                     json_int_t *ret, bool *has, struct evd_err *err)
{
        const json_t *v = json_object_get(args, key);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
                return evd_err_set(err, -EINVAL,
                                   "argument \"%s\" must be a whole number from %lld to %lld", key,
                                   (long long)lo, (long long)hi);
        *ret = json_integer_value(v);
        *has = true;
        return 0;
}

/* One page in recording-time order (catalog.h), in a snapshot of its own. */
static int items_page(struct evd_station *s, const struct evd_item_filter *f, uint64_t after,
                      struct list_ctx *l, struct evd_err *err)
{
        struct evd_txn txn;
        int r = evd_catalog_read_begin(s->catalog, &txn);

        if (r == 0) {
                r = evd_catalog_items_page(&txn, f, after, collect, l);
                evd_catalog_read_end(&txn);
        }
        if (r == -ENOENT && after)
                return evd_err_set(err, r, "no item %llu to list after", (unsigned long long)after);
        if (r < 0)
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        return 0;
}

int evd_cmd_items(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                  struct evd_err *err)
{
        struct evd_station *s = ud;
        struct evd_item_filter f = { .now = evd_clock_now() };
        struct list_ctx l = { .out = json_array(), .max = EVD_ITEMS_UNPAGED_MAX };
        json_int_t limit = EVD_ITEMS_PAGE_MAX, after = 0;
        bool paged = false;
        char case_buf[EVD_LABEL_CASE_MAX * 2];
        struct evd_conf conf;
        json_t *last;
        int r;

        (void)req;
        evd_station_conf(s, &conf);
        if ((r = evd_arg_string(args, "case", false, &f.case_no, err)) < 0 ||
            (f.case_no && (r = evd_label_normalise_case(&conf, f.case_no, case_buf,
                                                        sizeof(case_buf), err)) < 0) ||
            (r = evd_arg_string(args, "integrity", false, &f.integrity, err)) < 0 ||
            (r = evd_arg_string(args, "recorder", false, &f.recorder, err)) < 0 ||
            (r = evd_arg_string(args, "handler", false, &f.handler, err)) < 0 ||
            (r = evd_arg_bool(args, "late", &f.late, err)) < 0 ||
            (r = evd_arg_bool(args, "unlabeled", &f.unlabeled, err)) < 0 ||
            (r = evd_arg_bool(args, "overdue", &f.overdue, err)) < 0 ||
            (r = evd_arg_time(args, "since", &f.has_since, &f.since, err)) < 0 ||
            (r = evd_arg_time(args, "until", &f.has_until, &f.until, err)) < 0 ||
            (r = arg_count(args, "limit", 1, EVD_ITEMS_PAGE_MAX, &limit, &paged, err)) < 0 ||
            (r = arg_count(args, "after", 1, INT64_MAX, &after, &paged, err)) < 0)
                goto fail;
        if (f.case_no)
                f.case_no = case_buf;
        if (f.integrity && strcmp(f.integrity, "truncated") != 0 &&
            strcmp(f.integrity, "corrupt") != 0 && strcmp(f.integrity, "not-media") != 0) {
                r = evd_err_set(err, -EINVAL, "--integrity is truncated, corrupt or not-media");
                goto fail;
        }
        if (!l.out) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        if (paged)
                l.max = (size_t)limit;
        r = items_page(s, &f, (uint64_t)after, &l, err);
        if (r < 0)
                goto fail;
        if (!paged && l.more) {
                r = evd_err_set(err, -E2BIG,
                                "more than %d items match: ask for pages (limit, after), as "
                                "evidockctl items does",
                                EVD_ITEMS_UNPAGED_MAX);
                goto fail;
        }
        if (!paged) {
                *ret = l.out;
                return 0;
        }
        /* next: the cursor for the page after this one, null when this is the last. */
        last = json_array_get(l.out, json_array_size(l.out) - 1);
        *ret = json_pack("{so sO}", "items", l.out, "next",
                         l.more ? json_object_get(last, "id") : json_null());
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
fail:
        json_decref(l.out);
        return r;
}

int evd_cmd_show(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                 struct evd_err *err)
{
        struct evd_station *s = ud;
        struct evd_txn txn;
        const char *ref = NULL;
        json_t *item = NULL;
        uint64_t id = 0;
        int r;

        (void)req;
        if ((r = evd_arg_string(args, "item", true, &ref, err)) < 0)
                return r;
        r = evd_catalog_read_begin(s->catalog, &txn);
        if (r < 0)
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        r = evd_resolve_item(&txn, ref, &id, err);
        if (r == 0)
                r = evd_catalog_item_get(&txn, id, &item);
        evd_catalog_read_end(&txn);
        if (r < 0)
                return err->code ? r : evd_err_set(err, r, "catalog: %s", strerror(-r));
        *ret = item;
        return 0;
}

/* ---- audit ---- */

int evd_cmd_audit(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                  struct evd_err *err)
{
        struct evd_station *s = ud;
        struct list_ctx l = { .out = json_array(), .max = AUDIT_LIST_MAX };
        json_t *from = json_object_get(args, "from_seq");
        int64_t since = INT64_MIN;
        bool has_since;
        int r;

        (void)req;
        if ((r = evd_arg_time(args, "since", &has_since, &since, err)) < 0)
                goto fail;
        if (!has_since)
                since = INT64_MIN;
        if (from && (!json_is_integer(from) || json_integer_value(from) < 0)) {
                r = evd_err_set(err, -EINVAL, "argument \"from_seq\" must be a whole number");
                goto fail;
        }
        r = evd_audit_each_snapshot(s->catalog, from ? (uint64_t)json_integer_value(from) : 0,
                                    since, collect, &l);
        if (r < 0) {
                r = evd_err_set(err, r, "audit log: %s", strerror(-r));
                goto fail;
        }
        *ret = l.out;
        return 0;
fail:
        json_decref(l.out);
        return r;
}
