#include "recorder.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "clock.h"
#include "name.h"
#include "util.h"

int evd_recorder_get(struct evd_txn *txn, const char *serial, json_t **ret)
{
        return evd_catalog_json_get(txn, EVD_DB_RECORDERS, serial, ret);
}

int evd_recorder_put(struct evd_txn *txn, const json_t *record)
{
        const char *serial = json_string_value(json_object_get(record, "serial"));

        if (!serial)
                return -EINVAL;
        return evd_catalog_json_put(txn, EVD_DB_RECORDERS, serial, record);
}

static int64_t since_of(const json_t *a)
{
        int64_t t = INT64_MIN;

        (void)evd_time_parse(json_string_value(json_object_get(a, "since")) ?: "", &t);
        return t;
}

const json_t *evd_recorder_assignment_at(const json_t *record, int64_t t)
{
        const json_t *list = json_object_get(record, "assignments"), *a, *found = NULL;
        size_t i;

        json_array_foreach(list, i, a)
        {
                if (since_of(a) <= t || i == 0)
                        found = a;
                else
                        break;
        }
        return found;
}

int evd_recorder_add_assignment(json_t *record, const char *handler_id, const char *handler_name,
                                int64_t since)
{
        json_t *list = json_object_get(record, "assignments"), *a;
        char buf[EVD_TIME_STR];
        size_t i, at;

        if (!json_is_array(list))
                return -EINVAL;
        evd_time_format(since, buf);
        a = json_pack("{ss ss ss}", "handler_id", handler_id, "handler_name", handler_name, "since",
                      buf);
        if (!a)
                return -EINVAL;
        at = json_array_size(list);
        for (i = 0; i < json_array_size(list); i++)
                if (since_of(json_array_get(list, i)) > since) {
                        at = i;
                        break;
                }
        return json_array_insert_new(list, at, a) < 0 ? -ENOMEM : 0;
}

#define SEEN_MAX 2000 /* deleted entries a recorder's record remembers */

static bool seen_before(const json_t *seen, const json_t *e)
{
        size_t i;
        json_t *s;

        json_array_foreach(seen, i, s)
        {
                if (json_equal(json_object_get(s, "path"), json_object_get(e, "path")) &&
                    json_equal(json_object_get(s, "partition"), json_object_get(e, "partition")) &&
                    json_equal(json_object_get(s, "size"), json_object_get(e, "size")) &&
                    json_equal(json_object_get(s, "mtime"), json_object_get(e, "mtime")))
                        return true;
        }
        return false;
}

int evd_recorder_note_deleted(struct evd_txn *txn, const char *serial, uint64_t dock_id,
                              const json_t *found, const struct evd_actor *actor)
{
        json_t *rec = NULL, *fresh = json_array(), *seen, *e, *note = NULL, *details = NULL;
        char subject[64], now[EVD_TIME_STR];
        size_t i;
        int r = fresh ? evd_recorder_get(txn, serial, &rec) : -ENOMEM;

        if (r == -ENOENT)
                r = 0;
        if (r < 0 || !rec)
                goto out;
        seen = json_object_get(json_object_get(rec, "deleted_on_device"), "seen");
        seen = json_is_array(seen) ? json_incref(seen) : json_array();
        json_array_foreach(json_object_get(found, "entries"), i, e)
        {
                if (!seen_before(seen, e)) {
                        (void)json_array_append(fresh, e);
                        if (json_array_size(seen) < SEEN_MAX)
                                (void)json_array_append(seen, e);
                }
        }
        evd_time_format(evd_clock_now(), now);
        note = json_pack("{sI sI ss so}", "new", (json_int_t)json_array_size(fresh), "dock",
                         (json_int_t)dock_id, "at", now, "seen", seen);
        r = note ? json_object_set_new(rec, "deleted_on_device", note) : -ENOMEM;
        if (r == 0)
                r = evd_recorder_put(txn, rec);
        if (r < 0 || json_array_size(fresh) == 0)
                goto out;
        (void)snprintf(subject, sizeof(subject), "dock:%llu", (unsigned long long)dock_id);
        details = json_pack("{ss sI sO sb}", "serial", serial, "dock", (json_int_t)dock_id,
                            "entries", fresh, "more", json_is_true(json_object_get(found, "more")));
        r = details ? evd_audit_append(txn, actor, "dock.deleted_on_device", subject, details, NULL)
                    : -ENOMEM;
out:
        json_decref(details);
        json_decref(fresh);
        json_decref(rec);
        return r;
}

int evd_recorder_lister_mark(struct evd_txn *txn, const char *serial, const char *plug,
                             uint64_t dock_id, const char *reason)
{
        char now[EVD_TIME_STR];
        json_t *rec = NULL, *mark;
        int r = evd_recorder_get(txn, serial, &rec);

        if (r < 0)
                return r == -ENOENT ? 0 : r;
        evd_time_format(evd_clock_now(), now);
        mark = json_pack("{ss ss sI ss}", "plug", plug, "reason", reason, "dock",
                         (json_int_t)dock_id, "at", now);
        r = mark ? json_object_set_new(rec, "lister_failed", mark) : -ENOMEM;
        if (r == 0)
                r = evd_recorder_put(txn, rec);
        json_decref(rec);
        return r < 0 ? r : 0;
}

int evd_recorder_lister_check(struct evd_txn *txn, const json_t *record, const char *plug,
                              char *why, size_t n)
{
        const json_t *mark = json_object_get(record, "lister_failed");
        const char *on = json_string_value(json_object_get(mark, "plug"));
        const char *serial = json_string_value(json_object_get(record, "serial"));

        if (!mark)
                return 0;
        if (!on || strcmp(on, plug) != 0)
                return serial ? evd_recorder_lister_unmark(txn, serial) : -EINVAL;
        (void)snprintf(why, n, "not read again: the lister failed on it: %s; undock it to retry",
                       json_string_value(json_object_get(mark, "reason")) ?: "(no reason kept)");
        return 1;
}

int evd_recorder_lister_unmark(struct evd_txn *txn, const char *serial)
{
        json_t *rec = NULL;
        int r = evd_recorder_get(txn, serial, &rec);

        if (r < 0)
                return r == -ENOENT ? 0 : r;
        if (json_object_del(rec, "lister_failed") == 0)
                r = evd_recorder_put(txn, rec);
        json_decref(rec);
        return r;
}

bool evd_recorder_clock_off(const json_t *record, const struct evd_conf *conf)
{
        return json_integer_value(json_object_get(record, "clock_ahead_s")) >
               conf->clock_tolerance_s;
}

void evd_recorder_near(struct evd_txn *txn, const char *serial, char *near, size_t n)
{
        size_t best = SIZE_MAX;
        MDB_cursor *cur;
        MDB_val k, v;
        int rc;

        near[0] = '\0';
        if (mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_RECORDERS), &cur) != 0)
                return;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                char known[EVD_ARG_SERIAL_MAX];

                if (k.mv_size >= sizeof(known))
                        continue;
                memcpy(known, k.mv_data, k.mv_size);
                known[k.mv_size] = '\0';
                if (!evd_name_is_near(serial, known) || evd_name_distance(serial, known) > best)
                        continue;
                if (evd_name_distance(serial, known) < best)
                        near[0] = '\0';
                best = evd_name_distance(serial, known);
                if (strlen(near) + k.mv_size + 3 < n)
                        (void)snprintf(near + strlen(near), n - strlen(near), "%s%s",
                                       near[0] ? ", " : "", known);
        }
        mdb_cursor_close(cur);
}
