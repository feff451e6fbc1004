/* items, show, audit: read the catalog and the audit log. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "item.h"
#include "label.h"
#include "station_internal.h"

#define ITEMS_LIST_MAX 1000000
#define AUDIT_LIST_MAX 100000

struct list_ctx {
        json_t *out;
        size_t max;
};

static int collect(json_t *item, void *p)
{
        struct list_ctx *l = p;

        if (json_array_size(l->out) >= l->max)
                return 1;
        return json_array_append(l->out, item) < 0 ? -ENOMEM : 0;
}

static int64_t recorded(const json_t *item)
{
        int64_t t = INT64_MIN;

        (void)evd_time_parse(json_string_value(json_object_get(item, "recorded_at")) ?: "", &t);
        return t;
}

struct sorted {
        json_t *item;
};

static int by_recording(const void *a, const void *b)
{
        const json_t *x = ((const struct sorted *)a)->item, *y = ((const struct sorted *)b)->item;
        int64_t tx = recorded(x), ty = recorded(y);
        json_int_t ix = json_integer_value(json_object_get(x, "id"));
        json_int_t iy = json_integer_value(json_object_get(y, "id"));

        if (tx != ty)
                return tx < ty ? -1 : 1;
        return (ix > iy) - (ix < iy);
}

/* items come in recording-time order (then id), whichever index found them. */
static void sort_by_recording(json_t *list)
{
        size_t n = json_array_size(list);
        struct sorted *v = n ? calloc(n, sizeof(*v)) : NULL;

        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                v[i].item = json_incref(json_array_get(list, i));
        qsort(v, n, sizeof(*v), by_recording);
        json_array_clear(list);
        for (size_t i = 0; i < n; i++)
                (void)json_array_append_new(list, v[i].item);
        free(v);
}

int evd_cmd_items(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                  struct evd_err *err)
{
        struct evd_station *s = ud;
        struct evd_item_filter f = { .now = evd_clock_now() };
        struct list_ctx l = { .out = json_array(), .max = ITEMS_LIST_MAX };
        char case_buf[EVD_LABEL_CASE_MAX * 2];
        struct evd_conf conf;
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
            (r = evd_arg_time(args, "until", &f.has_until, &f.until, err)) < 0)
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
        r = evd_catalog_items_snapshot(s->catalog, &f, collect, &l);
        if (r < 0) {
                r = evd_err_set(err, r, "catalog: %s", strerror(-r));
                goto fail;
        }
        sort_by_recording(l.out);
        *ret = l.out;
        return 0;
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
