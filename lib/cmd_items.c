/* items, show, audit, access-log: read the catalog and the audit log, in pages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "item.h"
#include "label.h"
#include "station_internal.h"

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

/* The reply (station.h), taking l->out: unpaged the array of every match, or an error
 * when more matched than it may hold; paged {"items": [...], "next": the key of the
 * page's last one when more match, else null}. what names them and the command. */
static int page_reply(struct list_ctx *l, bool paged, const char *key, const char *what,
                      json_t **ret, struct evd_err *err)
{
        json_t *last;

        if (!paged && l->more) {
                json_decref(l->out);
                return evd_err_set(err, -E2BIG,
                                   "more than %d %s match: ask for pages (limit, after), as "
                                   "evidockctl %s does",
                                   EVD_ITEMS_UNPAGED_MAX, strcmp(what, "items") ? "entries" : what,
                                   what);
        }
        if (!paged) {
                *ret = l->out;
                return 0;
        }
        /* next: the cursor for the page after this one, null when this is the last. */
        last = json_array_get(l->out, json_array_size(l->out) - 1);
        *ret = json_pack("{so sO}", "items", l->out, "next",
                         l->more ? json_object_get(last, key) : json_null());
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
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
        return page_reply(&l, paged, "id", "items", ret, err);
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

/* ---- audit, access-log: the log in seq order, or newest first, paged as items are ---- */

struct log_ctx {
        struct list_ctx l;
        bool access_only; /* access-log: the item.accessed and export.done entries */
        bool back;        /* newest first (before, newest_first) */
        bool has_until;
        int64_t until;
        int64_t since;                    /* from when (INT64_MIN: the first entry) */
        const char *event, *actor, *text; /* substrings wanted, or NULL */
        uint64_t item; /* audit --item: that item's entries only (0: every entry) */
        uint64_t after;
        char subject[EVD_AUDIT_SUBJECT_MAX];
};

/* What access-log lists (item.accessed, export.done), looked for without parsing the
 * rest of the log. */
static const char *const access_events[] = { "item.accessed", "export.done" };

/* Whether have holds want (a filter not given: every entry). */
static bool holds(const char *have, const char *want)
{
        return !want || (have && strstr(have, want));
}

static int collect_log(json_t *e, void *p)
{
        struct log_ctx *c = p;
        const json_t *actor = json_object_get(e, "actor");
        int64_t t;

        /* the log is in time order: oldest first nothing past until matches, newest
         * first nothing before since */
        if (evd_time_parse(json_string_value(json_object_get(e, "time")) ?: "", &t) == 0) {
                if (c->has_until && t > c->until)
                        return c->back ? 0 : 1;
                if (c->back && t < c->since)
                        return 1;
        }
        if (!holds(json_string_value(json_object_get(e, "event")), c->event) ||
            !holds(json_string_value(json_object_get(actor, "name")), c->actor))
                return 0;
        if (c->text) {
                char *dump = json_dumps(e, JSON_COMPACT);
                bool ok = holds(dump, c->text);

                free(dump);
                if (!ok)
                        return 0;
        }
        return collect(e, &c->l);
}

/* audit --item: evd_audit_each_item sees every seq and a few entries about other
 * items; the page starts past c->after and holds c->subject's entries only. */
static int collect_item(json_t *e, void *p)
{
        struct log_ctx *c = p;
        int64_t t;

        if ((uint64_t)json_integer_value(json_object_get(e, "seq")) <= c->after ||
            strcmp(json_string_value(json_object_get(e, "subject")) ?: "", c->subject) != 0)
                return 0;
        if (c->since != INT64_MIN &&
            (evd_time_parse(json_string_value(json_object_get(e, "time")) ?: "", &t) < 0 ||
             t < c->since))
                return 0;
        return collect_log(e, c);
}

/* audit --item: item_ref's own entries after seq `after` (and since, as the log's other
 * pages), read through evd_audit_each_item, which leaves other items' entries
 * unparsed. */
static int item_page(struct evd_txn *txn, const char *item_ref, uint64_t after, int64_t since,
                     struct log_ctx *c, struct evd_err *err)
{
        int r = evd_resolve_item(txn, item_ref, &c->item, err);

        if (r < 0)
                return r;
        c->after = after;
        c->since = since;
        evd_audit_item_subject(c->subject, c->item);
        return evd_audit_each_item(txn, &c->item, 1, collect_item, c);
}

/* The entries after seq `after` (or, backward, before seq `cursor`: 0 from the newest),
 * in a snapshot of its own; a cursor past the log's end is an error (a cursor of
 * another station, or a log that was replaced). item_ref (may be NULL): that item's
 * entries only, oldest first. */
static int log_page(struct evd_station *s, uint64_t cursor, int64_t since, const char *item_ref,
                    struct log_ctx *c, struct evd_err *err)
{
        const char *const *events = c->access_only ? access_events : NULL;
        size_t n_events = c->access_only ? EVD_ARRAY_SIZE(access_events) : 0;
        uint8_t hash[EVD_SHA256_LEN];
        uint64_t head = 0;
        struct evd_txn txn;
        int r = evd_catalog_read_begin(s->catalog, &txn);

        if (r == 0) {
                r = evd_audit_head(&txn, &head, hash);
                if (r == 0 && (c->back ? cursor > head + 1 : cursor > head))
                        r = -ENOENT;
                else if (r == 0 && item_ref)
                        r = item_page(&txn, item_ref, cursor, since, c, err);
                else if (r == 0 && c->back)
                        r = evd_audit_each_back(&txn, cursor ? cursor : UINT64_MAX, INT64_MIN,
                                                events, n_events, collect_log, c);
                else if (r == 0 && events)
                        r = evd_audit_each_event(&txn, cursor + 1, since, events, n_events,
                                                 collect_log, c);
                else if (r == 0)
                        r = evd_audit_each(&txn, cursor + 1, since, collect_log, c);
                evd_catalog_read_end(&txn);
        }
        if (r == -ENOENT && !err->code)
                return evd_err_set(err, r, "no audit entry %llu to list %s (the log ends at %llu)",
                                   (unsigned long long)cursor, c->back ? "before" : "after",
                                   (unsigned long long)head);
        if (r < 0 && !err->code)
                return evd_err_set(err, r, "audit log: %s", strerror(-r));
        return r < 0 ? r : 0;
}

/* The filters both take: event, actor (its name) and text (anywhere in the entry),
 * each a substring. */
static int log_filters(const json_t *args, struct log_ctx *c, struct evd_err *err)
{
        int r;

        if ((r = evd_arg_string(args, "event", false, &c->event, err)) < 0 ||
            (r = evd_arg_string(args, "actor", false, &c->actor, err)) < 0 ||
            (r = evd_arg_string(args, "text", false, &c->text, err)) < 0)
                return r;
        if (c->event && !c->event[0])
                c->event = NULL;
        if (c->actor && !c->actor[0])
                c->actor = NULL;
        if (c->text && !c->text[0])
                c->text = NULL;
        return 0;
}

/* audit and access-log: since, until (access-log), limit and after (a seq) as items
 * takes them; from_seq (older clients) is after from_seq - 1; newest_first, or a
 * before cursor (a seq), read backward (next is then the cursor for before); event,
 * actor and text filter. */
static int log_list(struct evd_station *s, const json_t *args, bool access_only, json_t **ret,
                    struct evd_err *err)
{
        struct log_ctx c = { .l = { .out = json_array(), .max = EVD_ITEMS_UNPAGED_MAX },
                             .access_only = access_only };
        json_int_t limit = EVD_ITEMS_PAGE_MAX, after = 0, from = 0, before = 0;
        bool paged = false, has_from = false, has_since = false, forward = false;
        const char *item_ref = NULL;
        int64_t since = INT64_MIN;
        int r;

        if ((r = evd_arg_time(args, "since", &has_since, &since, err)) < 0 ||
            (!access_only && (r = evd_arg_string(args, "item", false, &item_ref, err)) < 0) ||
            (access_only && (r = evd_arg_time(args, "until", &c.has_until, &c.until, err)) < 0) ||
            (r = arg_count(args, "limit", 1, EVD_ITEMS_PAGE_MAX, &limit, &paged, err)) < 0 ||
            (r = arg_count(args, "after", 1, INT64_MAX, &after, &paged, err)) < 0 ||
            (r = arg_count(args, "from_seq", 0, INT64_MAX, &from, &has_from, err)) < 0 ||
            (r = arg_count(args, "before", 1, INT64_MAX, &before, &paged, err)) < 0 ||
            (r = evd_arg_bool(args, "newest_first", &c.back, err)) < 0 ||
            (!access_only && (r = evd_arg_string(args, "item", false, &item_ref, err)) < 0) ||
            (r = log_filters(args, &c, err)) < 0)
                goto fail;
        forward = after || has_from;
        c.back = c.back || before;
        if ((forward || item_ref) && c.back) {
                r = evd_err_set(err, -EINVAL,
                                "after and item read oldest first, before and newest_first newest "
                                "first: give one of them");
                goto fail;
        }
        if (!c.l.out) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        if (has_from && !after && from > 1)
                after = from - 1;
        if (paged)
                c.l.max = (size_t)limit;
        c.since = has_since ? since : INT64_MIN;
        r = log_page(s, (uint64_t)(c.back ? before : after), has_since ? since : INT64_MIN,
                     item_ref, &c, err);
        if (r < 0)
                goto fail;
        return page_reply(&c.l, paged, "seq", access_only ? "access-log" : "audit", ret, err);
fail:
        json_decref(c.l.out);
        return r;
}

int evd_cmd_audit(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                  struct evd_err *err)
{
        (void)req;
        return log_list(ud, args, false, ret, err);
}

int evd_cmd_access_log(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                       struct evd_err *err)
{
        (void)req;
        return log_list(ud, args, true, ret, err);
}
