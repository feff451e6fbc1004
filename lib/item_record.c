#include "item_record.h"

#include <stdbool.h>
#include <string.h>

#define RECORD_VERSION 1

enum def { NO_DEFAULT, DEF_FALSE, DEF_NULL, DEF_EMPTY };

/* evd_item_new's fields in its order (and the ones evd_policy_set_deadline and
 * evd_item_set_path add right after), each with the value that is left out. Version
 * RECORD_VERSION: a change to the defaults is a new version, and the old table stays
 * for the records written with it. */
static const struct {
        const char *key;
        enum def def;
} fields[] = {
        { "id", NO_DEFAULT },
        { "sha256", NO_DEFAULT },
        { "size", NO_DEFAULT },
        { "recorder", NO_DEFAULT },
        { "original_mtime", NO_DEFAULT },
        { "recorded_at", NO_DEFAULT },
        { "time_source", NO_DEFAULT },
        { "ingested_at", NO_DEFAULT },
        { "verified_at", NO_DEFAULT },
        { "deadline", NO_DEFAULT },
        { "late", DEF_FALSE },
        { "clock_suspect", DEF_FALSE },
        { "labels", NO_DEFAULT },
        { "retain_until", NO_DEFAULT },
        { "hold", DEF_FALSE },
        { "evidence", DEF_FALSE },
        { "exports", DEF_EMPTY },
        { "labelled_at", DEF_NULL },
        { "label_late", DEF_NULL },
        { "secret", DEF_FALSE },
        { "stage", DEF_NULL },
        { "media", NO_DEFAULT },
        { "occurrences", DEF_EMPTY },
        { "notes", DEF_EMPTY },
        { "deadline_rule", NO_DEFAULT },
        { "deadline_known", DEF_FALSE },
        { "original_path", NO_DEFAULT },
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static bool is_default(enum def def, const json_t *v)
{
        switch (def) {
        case DEF_FALSE:
                return json_is_false(v);
        case DEF_NULL:
                return json_is_null(v);
        case DEF_EMPTY:
                return json_is_array(v) && json_array_size(v) == 0;
        default:
                return false;
        }
}

static json_t *default_value(enum def def)
{
        switch (def) {
        case DEF_FALSE:
                return json_false();
        case DEF_NULL:
                return json_null();
        default:
                return json_array();
        }
}

static enum def field_def(const char *key)
{
        for (size_t i = 0; i < NFIELDS; i++)
                if (strcmp(fields[i].key, key) == 0)
                        return fields[i].def;
        return NO_DEFAULT;
}

char *evd_item_record_encode(const json_t *item)
{
        const char *key;
        json_t *rec, *v;
        char *text;

        for (size_t i = 0; i < NFIELDS; i++)
                if (fields[i].def != NO_DEFAULT && !json_object_get(item, fields[i].key))
                        return json_dumps(item, JSON_COMPACT); /* kept as it is */
        rec = json_object();
        if (!rec || json_object_set_new(rec, "~", json_integer(RECORD_VERSION)) < 0) {
                json_decref(rec);
                return NULL;
        }
        json_object_foreach((json_t *)item, key, v)
        {
                if (strcmp(key, "~") == 0 || is_default(field_def(key), v))
                        continue;
                if (json_object_set(rec, key, v) < 0) {
                        json_decref(rec);
                        return NULL;
                }
        }
        text = json_dumps(rec, JSON_COMPACT);
        json_decref(rec);
        return text;
}

json_t *evd_item_record_decode(const void *data, size_t len)
{
        json_t *rec = json_loadb(data, len, 0, NULL), *item, *version, *v;
        const char *key;

        if (!json_is_object(rec)) {
                json_decref(rec);
                return NULL;
        }
        version = json_object_get(rec, "~");
        if (!version)
                return rec; /* a record as it was stored */
        if (!json_is_integer(version) || json_integer_value(version) != RECORD_VERSION) {
                json_decref(rec);
                return NULL;
        }
        item = json_object();
        for (size_t i = 0; item && i < NFIELDS; i++) {
                v = json_object_get(rec, fields[i].key);
                if (v ? json_object_set(item, fields[i].key, v) < 0
                      : fields[i].def != NO_DEFAULT &&
                                    json_object_set_new(item, fields[i].key,
                                                        default_value(fields[i].def)) < 0) {
                        json_decref(item);
                        item = NULL;
                }
        }
        json_object_foreach(rec, key, v)
        {
                if (!item)
                        break;
                if (strcmp(key, "~") == 0 || json_object_get(item, key))
                        continue;
                if (json_object_set(item, key, v) < 0) {
                        json_decref(item);
                        item = NULL;
                }
        }
        json_decref(rec);
        return item;
}
