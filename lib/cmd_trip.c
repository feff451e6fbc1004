/* Station commands on trips (trip.h): add, list, end. Each change and every deadline
 * it moves commit in one transaction with their audit entries. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "label.h"
#include "trip.h"
#include "station_internal.h"

#define TRIP_ID_MAX 64 /* bytes in a handler id */

struct trip_ctx {
        struct evd_station *s;
        const struct evd_actor *actor;
        const struct evd_conf *conf;
        json_t *trip;     /* to add (borrowed) */
        uint64_t id;      /* to end */
        const char *back; /* its return date */
        json_t *moved;    /* items whose deadline moved */
        struct evd_err *err;
};

/* The instants whose deadlines a trip's change may move: from its first day to the
 * later of its old and new end. */
static int refresh_span(struct trip_ctx *c, struct evd_txn *txn, const json_t *before,
                        const json_t *after)
{
        struct evd_policy_trip a, b;

        if (evd_trip_span(after, &b) < 0)
                return -EBADMSG;
        if (before && evd_trip_span(before, &a) == 0 && a.until > b.until)
                b.until = a.until;
        return evd_trip_refresh(txn, c->conf, c->s->calendar, NULL, b.from, b.until, c->actor,
                                c->moved);
}

static int add_fn(struct evd_txn *txn, void *p)
{
        struct trip_ctx *c = p;
        json_t *trips = NULL;
        uint64_t id;
        char subject[48];
        int r;

        json_array_clear(c->moved);
        r = evd_trip_list(txn, &trips);
        if (r < 0)
                return r;
        if (json_array_size(trips) >= EVD_TRIPS_MAX) {
                json_decref(trips);
                return evd_err_set(c->err, -ENOSPC, "%d trips are kept already", EVD_TRIPS_MAX);
        }
        r = evd_catalog_next_id(txn, "trip", &id);
        if (r == 0) {
                (void)json_object_set_new(c->trip, "id", json_integer((json_int_t)id));
                r = json_array_append(trips, c->trip) < 0 ? -ENOMEM : evd_trip_store(txn, trips);
        }
        (void)snprintf(subject, sizeof(subject), "trip:%llu", (unsigned long long)id);
        if (r == 0)
                r = evd_audit_append(txn, c->actor, "trip.added", subject, c->trip, NULL);
        if (r == 0)
                r = refresh_span(c, txn, NULL, c->trip);
        c->id = id;
        json_decref(trips);
        return r;
}

/* Whether the trip was entered after its first day was over. */
static bool after_the_fact(const char *from, int64_t now)
{
        int64_t start;

        return evd_trip_local(from, 0, &start) == 0 && now >= start + 24 * 3600;
}

int evd_cmd_trip_add(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                     struct evd_err *err)
{
        struct evd_station *s = ud;
        const char *handler = NULL, *recorder = NULL, *from, *to, *kind, *note = NULL;
        struct trip_ctx c = { .s = s, .actor = evd_request_actor(req), .err = err };
        struct evd_conf conf;
        char now_s[EVD_TIME_STR];
        int64_t now = evd_clock_now(), f, t;
        int r;

        evd_station_conf(s, &conf);
        c.conf = &conf;
        if ((r = evd_arg_string(args, "handler", false, &handler, err)) < 0 ||
            (r = evd_arg_string(args, "recorder", false, &recorder, err)) < 0 ||
            (r = evd_arg_string(args, "from", true, &from, err)) < 0 ||
            (r = evd_arg_string(args, "to", true, &to, err)) < 0 ||
            (r = evd_arg_string(args, "kind", true, &kind, err)) < 0 ||
            (r = evd_arg_string(args, "note", false, &note, err)) < 0)
                return r;
        if ((handler != NULL) == (recorder != NULL))
                return evd_err_set(err, -EINVAL,
                                   "name a handler (--handler ID) or a recorder "
                                   "(--recorder SERIAL), one of them");
        if ((handler &&
             (r = evd_label_check_text("handler", handler, TRIP_ID_MAX, false, err)) < 0) ||
            (recorder && (r = evd_arg_serial(recorder, err)) < 0) ||
            (note && (r = evd_label_check_text("note", note, EVD_LABEL_TEXT_MAX, true, err)) < 0))
                return r;
        if (strcmp(kind, "continuous") != 0 && strcmp(kind, "away") != 0 &&
            strcmp(kind, "remote") != 0)
                return evd_err_set(err, -EINVAL,
                                   "--kind is continuous, away or remote (第二十五条: continuous "
                                   "work, away from the office, remote areas)");
        if (evd_trip_local(from, 0, &f) < 0 || evd_trip_local(to, 0, &t) < 0)
                return evd_err_set(err, -EINVAL, "--from and --to take dates, YYYY-MM-DD");
        if (t < f)
                return evd_err_set(err, -EINVAL, "the trip ends (%s) before it begins (%s)", to,
                                   from);
        if (t - f > 366LL * 24 * 3600)
                return evd_err_set(err, -EINVAL, "a trip lasts at most a year");
        evd_time_format(now, now_s);
        c.trip = json_pack("{ss* ss* ss ss ss ss* ss ss sb}", "handler_id", handler, "recorder",
                           recorder, "from", from, "to", to, "kind", kind, "note", note, "added_at",
                           now_s, "added_by", c.actor->name, "after_the_fact",
                           after_the_fact(from, now));
        c.moved = json_array();
        r = c.trip && c.moved ? evd_catalog_write(s->catalog, add_fn, &c, err)
                              : evd_err_set(err, -ENOMEM, "out of memory");
        if (r == 0) {
                (void)json_object_set(c.trip, "deadlines_moved", c.moved);
                *ret = json_incref(c.trip);
        }
        json_decref(c.trip);
        json_decref(c.moved);
        return r;
}

int evd_cmd_trip_list(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                      struct evd_err *err)
{
        struct evd_station *s = ud;
        struct evd_txn txn;
        json_t *trips = NULL;
        int r;

        (void)req;
        (void)args;
        r = evd_catalog_read_begin(s->catalog, &txn);
        if (r == 0) {
                r = evd_trip_list(&txn, &trips);
                evd_catalog_read_end(&txn);
        }
        if (r < 0)
                return evd_err_set(err, r, "catalog: %s", strerror(-r));
        *ret = json_pack("{so}", "trips", trips);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
}

static int end_fn(struct evd_txn *txn, void *p)
{
        struct trip_ctx *c = p;
        json_t *trips = NULL, *trip, *before = NULL, *details;
        char subject[48], now_s[EVD_TIME_STR];
        size_t i;
        int64_t from, back;
        int r;

        json_array_clear(c->moved);
        r = evd_trip_list(txn, &trips);
        if (r < 0)
                return r;
        c->trip = NULL;
        json_array_foreach(trips, i, trip)
        {
                if ((uint64_t)json_integer_value(json_object_get(trip, "id")) == c->id)
                        c->trip = trip;
        }
        if (!c->trip) {
                json_decref(trips);
                return evd_err_set(c->err, -ENOENT, "no trip %llu", (unsigned long long)c->id);
        }
        if (evd_trip_local(json_string_value(json_object_get(c->trip, "from")), 0, &from) < 0 ||
            evd_trip_local(c->back, 0, &back) < 0 || back < from) {
                json_decref(trips);
                return evd_err_set(c->err, -EINVAL, "the return (%s) comes before the trip began",
                                   c->back);
        }
        before = json_deep_copy(c->trip);
        evd_time_format(evd_clock_now(), now_s);
        (void)json_object_set_new(c->trip, "returned", json_string(c->back));
        (void)json_object_set_new(c->trip, "ended_at", json_string(now_s));
        (void)json_object_set_new(c->trip, "ended_by", json_string(c->actor->name));
        r = before ? evd_trip_store(txn, trips) : -ENOMEM;
        (void)snprintf(subject, sizeof(subject), "trip:%llu", (unsigned long long)c->id);
        details = json_pack("{sI ss sO}", "id", (json_int_t)c->id, "returned", c->back,
                            "was_returned", json_object_get(before, "returned") ?: json_null());
        if (r == 0)
                r = details ? evd_audit_append(txn, c->actor, "trip.ended", subject, details, NULL)
                            : -ENOMEM;
        if (r == 0)
                r = refresh_span(c, txn, before, c->trip);
        c->trip = r == 0 ? json_incref(c->trip) : NULL;
        json_decref(details);
        json_decref(before);
        json_decref(trips);
        return r;
}

int evd_cmd_trip_end(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                     struct evd_err *err)
{
        struct evd_station *s = ud;
        struct trip_ctx c = { .s = s, .actor = evd_request_actor(req), .err = err };
        struct evd_conf conf;
        const char *id;
        char *end;
        int r;

        evd_station_conf(s, &conf);
        c.conf = &conf;
        if ((r = evd_arg_string(args, "id", true, &id, err)) < 0 ||
            (r = evd_arg_string(args, "returned", true, &c.back, err)) < 0)
                return r;
        c.id = strtoull(id, &end, 10);
        if (!id[0] || *end || c.id == 0)
                return evd_err_set(err, -EINVAL, "'%s' is not a trip number", id);
        c.moved = json_array();
        r = c.moved ? evd_catalog_write(s->catalog, end_fn, &c, err)
                    : evd_err_set(err, -ENOMEM, "out of memory");
        if (r == 0) {
                (void)json_object_set(c.trip, "deadlines_moved", c.moved);
                *ret = c.trip;
        }
        json_decref(c.moved);
        return r;
}
