#include "recorder.h"

#include <errno.h>

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
