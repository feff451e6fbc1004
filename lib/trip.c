#include "trip.h"

#include <errno.h>
#include <string.h>
#include <time.h>

int evd_trip_list(struct evd_txn *txn, json_t **ret)
{
        json_t *list = NULL;
        int r = evd_catalog_json_get(txn, EVD_DB_META, "trips", &list);

        if (r == -ENOENT)
                list = json_array();
        else if (r < 0)
                return r;
        if (!json_is_array(list)) {
                json_decref(list);
                return list ? -EBADMSG : -ENOMEM;
        }
        *ret = list;
        return 0;
}

int evd_trip_store(struct evd_txn *txn, const json_t *trips)
{
        return evd_catalog_json_put(txn, EVD_DB_META, "trips", trips);
}

int evd_trip_local(const char *date, int hour, int64_t *ret)
{
        struct tm tm = { .tm_isdst = -1, .tm_hour = hour };
        time_t t;

        if (!date || evd_calendar_parse_date(date, &tm.tm_year, &tm.tm_mon, &tm.tm_mday) < 0)
                return -EINVAL;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        t = mktime(&tm);
        if (t == (time_t)-1)
                return -EINVAL;
        *ret = (int64_t)t;
        return 0;
}

/* The last second of a local day. */
static int day_end(const char *date, int64_t *ret)
{
        struct tm tm = { .tm_isdst = -1 };
        time_t t;

        if (evd_calendar_parse_date(date, &tm.tm_year, &tm.tm_mon, &tm.tm_mday) < 0)
                return -EINVAL;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        tm.tm_mday += 1; /* the next midnight, minus a second */
        t = mktime(&tm);
        if (t == (time_t)-1)
                return -EINVAL;
        *ret = (int64_t)t - 1;
        return 0;
}

int evd_trip_span(const json_t *trip, struct evd_policy_trip *ret)
{
        const char *from = json_string_value(json_object_get(trip, "from"));
        const char *to = json_string_value(json_object_get(trip, "to"));
        const char *back = json_string_value(json_object_get(trip, "returned"));
        json_int_t id = json_integer_value(json_object_get(trip, "id"));

        /* Recordings up to the return are covered: the trip may end early or late. */
        if (!back)
                back = to;
        if (id <= 0 || evd_trip_local(from, 0, &ret->from) < 0 || !back ||
            day_end(back, &ret->until) < 0 || evd_trip_local(back, 12, &ret->returned) < 0)
                return -EINVAL;
        ret->id = (uint64_t)id;
        return 0;
}

static bool trip_matches(const json_t *trip, const json_t *item)
{
        const json_t *labels = json_object_get(item, "labels");
        const char *rec = json_string_value(json_object_get(trip, "recorder"));
        const char *handler = json_string_value(json_object_get(trip, "handler_id"));
        const char *v;

        if (rec)
                return (v = json_string_value(json_object_get(item, "recorder"))) &&
                       strcmp(v, rec) == 0;
        if (!handler)
                return false;
        return ((v = json_string_value(json_object_get(labels, "handler_id"))) &&
                strcmp(v, handler) == 0) ||
               ((v = json_string_value(json_object_get(labels, "handler"))) &&
                strcmp(v, handler) == 0);
}

int evd_trip_item_deadline(const json_t *trips, const json_t *item, const struct evd_conf *conf,
                           const struct evd_calendar *cal, struct evd_policy_deadline *ret)
{
        struct evd_policy_trip spans[EVD_TRIP_MATCH_MAX];
        int64_t recorded, docked;
        const json_t *trip;
        size_t i, n = 0;

        if (evd_time_parse(json_string_value(json_object_get(item, "recorded_at")) ?: "",
                           &recorded) < 0 ||
            evd_time_parse(json_string_value(json_object_get(item, "ingested_at")) ?: "", &docked) <
                    0)
                return -EINVAL;
        json_array_foreach(trips, i, trip)
        {
                if (n < EVD_TRIP_MATCH_MAX && trip_matches(trip, item) &&
                    evd_trip_span(trip, &spans[n]) == 0)
                        n++;
        }
        return evd_policy_deadline(cal, conf->deadline_working_days, recorded, docked,
                                   json_is_true(json_object_get(item, "clock_suspect")), spans, n,
                                   ret);
}

static int collect_id(json_t *item, void *p)
{
        return json_array_append(p, json_object_get(item, "id")) < 0 ? -ENOMEM : 0;
}

/* Recompute one item; store and audit it when its deadline moved. */
static int refresh_one(struct evd_txn *txn, const json_t *trips, const struct evd_conf *conf,
                       const struct evd_calendar *cal, uint64_t id, const struct evd_actor *actor,
                       json_t *moved)
{
        struct evd_policy_deadline d;
        char subject[EVD_AUDIT_SUBJECT_MAX];
        json_t *item = NULL, *details = NULL, *old;
        int r;

        r = evd_catalog_item_get(txn, id, &item);
        if (r < 0)
                return r;
        if (json_object_get(item, "purged") ||
            evd_trip_item_deadline(trips, item, conf, cal, &d) < 0)
                goto out; /* nothing to keep on time, or no time to count from */
        old = json_pack("{sO* sO*}", "deadline", json_object_get(item, "deadline"), "deadline_rule",
                        json_object_get(item, "deadline_rule"));
        if (!old) {
                r = -ENOMEM;
                goto out;
        }
        if (evd_policy_set_deadline(item, &d) == 0) {
                json_decref(old);
                goto out;
        }
        details = json_pack("{sI so sO sO sO}", "id", (json_int_t)id, "old", old, "deadline",
                            json_object_get(item, "deadline"), "deadline_rule",
                            json_object_get(item, "deadline_rule"), "late",
                            json_object_get(item, "late"));
        if (details && d.trip)
                (void)json_object_set_new(details, "trip", json_integer((json_int_t)d.trip));
        r = details ? evd_catalog_item_put(txn, item) : -ENOMEM;
        evd_audit_item_subject(subject, id);
        if (r == 0)
                r = evd_audit_append(txn, actor, "item.deadline", subject, details, NULL);
        if (r == 0 && moved)
                r = json_array_append_new(moved, json_integer((json_int_t)id)) < 0 ? -ENOMEM : 0;
out:
        json_decref(details);
        json_decref(item);
        return r;
}

int evd_trip_refresh(struct evd_txn *txn, const struct evd_conf *conf,
                     const struct evd_calendar *cal, const char *recorder, int64_t since,
                     int64_t until, const struct evd_actor *actor, json_t *moved)
{
        struct evd_item_filter f = { .recorder = recorder };
        json_t *ids = json_array(), *trips = NULL, *idj;
        size_t i;
        int r;

        if (!recorder) {
                f.has_since = f.has_until = true;
                f.since = since;
                f.until = until;
        }
        r = ids ? evd_trip_list(txn, &trips) : -ENOMEM;
        /* Ids first: the items are rewritten as we go. */
        if (r == 0)
                r = evd_catalog_items_each(txn, &f, collect_id, ids);
        json_array_foreach(ids, i, idj)
        {
                if (r < 0)
                        break;
                r = refresh_one(txn, trips, conf, cal, (uint64_t)json_integer_value(idj), actor,
                                moved);
        }
        json_decref(trips);
        json_decref(ids);
        return r;
}
