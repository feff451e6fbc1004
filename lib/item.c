#include "item.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "policy.h"

int evd_item_set_path(json_t *obj, const char *key, const char *bytes, size_t len)
{
        char b64key[64];
        char *shown, *b64;
        int r;

        if (evd_name_is_utf8(bytes, len))
                return json_object_set_new(obj, key, json_stringn(bytes, len)) < 0 ? -ENOMEM : 0;
        if (evd_snprintf(b64key, sizeof(b64key), "%s_b64", key) < 0)
                return -EINVAL;
        shown = malloc(EVD_NAME_ESCAPED_MAX(len));
        b64 = evd_b64_encode(bytes, len);
        if (!shown || !b64) {
                r = -ENOMEM;
                goto out;
        }
        (void)evd_name_escape(bytes, len, shown, EVD_NAME_ESCAPED_MAX(len));
        r = json_object_set_new(obj, key, json_string(shown)) < 0 ||
                            json_object_set_new(obj, b64key, json_string(b64)) < 0
                    ? -ENOMEM
                    : 0;
out:
        free(shown);
        free(b64);
        return r;
}

static json_t *time_or_null(int64_t t, bool ok)
{
        char buf[EVD_TIME_STR];

        if (!ok)
                return json_null();
        evd_time_format(t, buf);
        return json_string(buf);
}

json_t *evd_item_occurrence(const char *recorder, const struct evd_original *orig, int64_t now)
{
        json_t *o = json_pack("{ss sI so so}", "recorder", recorder, "size", (json_int_t)orig->size,
                              "mtime", time_or_null(orig->mtime, true), "seen_at",
                              time_or_null(now, true));

        if (o && evd_item_set_path(o, "original_path", orig->path, orig->path_len) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* Same recorder and same exact path. */
static bool same_place(const json_t *a, const json_t *b)
{
        static const char *const keys[] = { "recorder", "original_path", "original_path_b64" };

        for (size_t k = 0; k < EVD_ARRAY_SIZE(keys); k++)
                if (!json_equal(json_object_get(a, keys[k]), json_object_get(b, keys[k])) &&
                    (json_object_get(a, keys[k]) || json_object_get(b, keys[k])))
                        return false;
        return true;
}

bool evd_item_has_occurrence(const json_t *item, const json_t *occurrence)
{
        const json_t *o;
        size_t i;

        if (same_place(item, occurrence))
                return true;
        json_array_foreach(json_object_get(item, "occurrences"), i, o)
        {
                if (same_place(o, occurrence))
                        return true;
        }
        return false;
}

json_t *evd_item_new(const char *recorder, const struct evd_original *orig,
                     const uint8_t sha256[EVD_SHA256_LEN], uint64_t size, int64_t now,
                     const struct evd_conf *conf, const struct evd_calendar *cal)
{
        char hex[EVD_SHA256_HEX];
        int64_t retain = 0, deadline = 0;
        json_t *item;
        bool kept = evd_policy_add_period(now, &conf->retention_default, &retain) == 0;
        bool known = false;
        /* 第二十五条: stored within N working days of the recording. */
        bool has_deadline = evd_calendar_deadline(cal, orig->mtime, conf->deadline_working_days,
                                                  &deadline, &known) == 0;

        evd_hex(sha256, EVD_SHA256_LEN, hex);
        item = json_pack(
                "{sn ss sI ss so so ss so so so so sb s{sn sn sn} so sb sb s[] sn s[] s[]}", "id",
                "sha256", hex, "size", (json_int_t)size, "recorder", recorder, "original_mtime",
                time_or_null(orig->mtime, true), "recorded_at", time_or_null(orig->mtime, true),
                "time_source", "filesystem", "ingested_at", time_or_null(now, true), "verified_at",
                time_or_null(now, true), "deadline", time_or_null(deadline, has_deadline), "late",
                has_deadline ? json_boolean(now > deadline) : json_null(), "clock_suspect", 0,
                "labels", "case_no", "party", "handler", "retain_until", time_or_null(retain, kept),
                "hold", 0, "evidence", 0, "exports", "media", "occurrences", "notes");
        if (item && evd_item_set_path(item, "original_path", orig->path, orig->path_len) < 0) {
                json_decref(item);
                return NULL;
        }
        return item;
}
