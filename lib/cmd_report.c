/* The compliance report (第二十五条): per handler and per recorder, over a range of
 * recording dates, how many recordings were stored in time and labelled. */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "station_internal.h"

struct report_ctx {
        int64_t now;
        json_t *by_handler, *by_recorder; /* name -> counters */
};

static void bump(json_t *table, const char *name, const json_t *item, int64_t now)
{
        json_t *row = json_object_get(table, name);
        const json_t *labels = json_object_get(item, "labels");
        bool labelled = json_string_value(json_object_get(labels, "case_no")) &&
                        json_string_value(json_object_get(labels, "party"));
        const char *deadline = json_string_value(json_object_get(item, "deadline"));
        int64_t d;
        const char *keys[4];
        int n = 0;

        if (!row) {
                row = json_pack("{si si si si si si}", "items", 0, "on_time", 0, "late", 0,
                                "labelled", 0, "unlabeled", 0, "overdue", 0);
                if (!row || json_object_set_new(table, name, row) < 0)
                        return;
        }
        keys[n++] = "items";
        if (json_is_true(json_object_get(item, "late")))
                keys[n++] = "late";
        else if (json_is_false(json_object_get(item, "late")))
                keys[n++] = "on_time";
        keys[n++] = labelled ? "labelled" : "unlabeled";
        if (!labelled && deadline && evd_time_parse(deadline, &d) == 0 && now > d)
                keys[n++] = "overdue";
        for (int i = 0; i < n; i++)
                (void)json_object_set_new(
                        row, keys[i],
                        json_integer(json_integer_value(json_object_get(row, keys[i])) + 1));
}

static int count_item(json_t *item, void *p)
{
        struct report_ctx *c = p;
        const char *handler =
                json_string_value(json_object_get(json_object_get(item, "labels"), "handler"));

        if (json_object_get(item, "purged"))
                return 0;
        bump(c->by_handler, handler ? handler : "(no handler)", item, c->now);
        bump(c->by_recorder, json_string_value(json_object_get(item, "recorder")) ?: "?", item,
             c->now);
        return 0;
}

/* {name: counters} into [{name, counters..., on_time_pct}] sorted by name. */
static json_t *rows(json_t *table, const char *key)
{
        json_t *out = json_array(), *row;
        const char *name;

        json_object_foreach(table, name, row)
        {
                json_int_t items = json_integer_value(json_object_get(row, "items"));
                json_int_t on_time = json_integer_value(json_object_get(row, "on_time"));
                json_t *r = json_deep_copy(row);

                (void)json_object_set_new(r, key, json_string(name));
                (void)json_object_set_new(r, "on_time_pct",
                                          json_integer(items ? on_time * 100 / items : 100));
                (void)json_array_append_new(out, r);
        }
        return out;
}

int evd_cmd_report(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                   struct evd_err *err)
{
        struct evd_station *s = ud;
        struct report_ctx c = { .now = evd_clock_now() };
        struct evd_item_filter f = { 0 };
        int r;

        (void)req;
        if ((r = evd_arg_time(args, "from", &f.has_since, &f.since, err)) < 0 ||
            (r = evd_arg_time(args, "to", &f.has_until, &f.until, err)) < 0)
                return r;
        if (f.has_until && strlen(json_string_value(json_object_get(args, "to"))) == 10)
                f.until += 86399; /* a date: the whole day */
        c.by_handler = json_object();
        c.by_recorder = json_object();
        r = evd_catalog_items_snapshot(s->catalog, &f, count_item, &c);
        if (r < 0) {
                json_decref(c.by_handler);
                json_decref(c.by_recorder);
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        }
        *ret = json_pack("{sO? sO? so so}", "from", json_object_get(args, "from"), "to",
                         json_object_get(args, "to"), "by_handler", rows(c.by_handler, "handler"),
                         "by_recorder", rows(c.by_recorder, "recorder"));
        json_decref(c.by_handler);
        json_decref(c.by_recorder);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
}
