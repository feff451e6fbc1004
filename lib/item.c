#include "item.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "name.h"
#include "media.h"
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

/* Match pattern at s (len bytes left); fill tm on success. */
static bool match_at(const char *s, size_t len, const char *pattern, struct tm *tm)
{
        bool hour_seen = false;
        size_t i = 0;

        for (const char *p = pattern; *p; i++) {
                int width = 0, *field = NULL, v = 0;

                if (strncmp(p, "YYYY", 4) == 0) {
                        width = 4;
                        field = &tm->tm_year;
                } else if (strncmp(p, "MM", 2) == 0) {
                        width = 2;
                        field = hour_seen ? &tm->tm_min : &tm->tm_mon;
                } else if (strncmp(p, "DD", 2) == 0) {
                        width = 2;
                        field = &tm->tm_mday;
                } else if (strncmp(p, "HH", 2) == 0) {
                        width = 2;
                        field = &tm->tm_hour;
                        hour_seen = true;
                } else if (strncmp(p, "SS", 2) == 0) {
                        width = 2;
                        field = &tm->tm_sec;
                }
                if (!field) {
                        if (i >= len || s[i] != *p)
                                return false;
                        p++;
                        continue;
                }
                for (int k = 0; k < width; k++, i++) {
                        if (i >= len || s[i] < '0' || s[i] > '9')
                                return false;
                        v = v * 10 + (s[i] - '0');
                }
                i--;
                *field = v;
                p += width;
        }
        return true;
}

int evd_item_filename_time(const char *name, size_t len, const char *pattern, int64_t *ret)
{
        const char *base = name;

        for (size_t i = 0; i < len; i++)
                if (name[i] == '/')
                        base = name + i + 1;
        len -= (size_t)(base - name);
        for (size_t start = 0; start < len; start++) {
                struct tm tm = { .tm_isdst = -1 };
                time_t t;

                if (!match_at(base + start, len - start, pattern, &tm))
                        continue;
                if (tm.tm_year < 1990 || tm.tm_year > 2200 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
                    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
                    tm.tm_sec > 60)
                        continue;
                tm.tm_year -= 1900;
                tm.tm_mon -= 1;
                t = mktime(&tm);
                if (t == (time_t)-1)
                        continue;
                *ret = (int64_t)t;
                return 0;
        }
        return -ENOENT;
}

/* Where the recording time comes from: the container, the name, or the filesystem. */
static const char *recording_time(const struct evd_original *orig, const struct evd_conf *conf,
                                  const json_t *media, int64_t *ret)
{
        /* Times before 2000 are a recorder's unset clock (0 = 1970 or 1904). */
        if (media && evd_media_creation_time(media, ret) == 0 && *ret >= 946684800)
                return "container";
        for (int i = 0; i < conf->n_filename_time_patterns; i++)
                if (evd_item_filename_time(orig->path, orig->path_len,
                                           conf->filename_time_patterns[i], ret) == 0)
                        return "filename";
        *ret = orig->mtime;
        return "filesystem";
}

/* 第七条 asks each recording to open with a spoken statement: a video without any
 * audio stream cannot hold one. */
static void flag_no_audio(json_t *media)
{
        bool video = false, audio = false;
        const json_t *st;
        size_t i;

        json_array_foreach(json_object_get(media, "streams"), i, st)
        {
                const char *type = json_string_value(json_object_get(st, "type")) ?: "";

                video |= strcmp(type, "video") == 0;
                audio |= strcmp(type, "audio") == 0;
        }
        (void)json_object_set_new(media, "no_audio", json_boolean(video && !audio));
}

json_t *evd_item_new(const char *recorder, const struct evd_original *orig,
                     const uint8_t sha256[EVD_SHA256_LEN], uint64_t size, int64_t now,
                     const struct evd_conf *conf, const struct evd_calendar *cal,
                     const json_t *media)
{
        char hex[EVD_SHA256_HEX];
        int64_t retain = 0, recorded = 0;
        const char *source = recording_time(orig, conf, media, &recorded);
        struct evd_policy_deadline d;
        json_t *item;
        bool kept = evd_policy_add_period(now, &conf->retention_default, &retain) == 0;
        /* 第二十五条: stored within N working days of the recording. */
        bool has_deadline = evd_policy_deadline(cal, conf->deadline_working_days, recorded, now,
                                                false, NULL, 0, &d) == 0;

        evd_hex(sha256, EVD_SHA256_LEN, hex);
        item = json_pack("{sn ss sI ss so so ss so so sn sn sb s{sn sn sn} so sb sb s[] sn sn sb "
                         "sn so s[] s[]}",
                         "id", "sha256", hex, "size", (json_int_t)size, "recorder", recorder,
                         "original_mtime", time_or_null(orig->mtime, true), "recorded_at",
                         time_or_null(recorded, true), "time_source", source, "ingested_at",
                         time_or_null(now, true), "verified_at", time_or_null(now, true),
                         "deadline", "late", "clock_suspect", 0, "labels", "case_no", "party",
                         "handler", "retain_until", time_or_null(retain, kept), "hold", 0,
                         "evidence", 0, "exports", "labelled_at", "label_late", "secret", 0,
                         "stage", "media", media ? json_deep_copy(media) : json_null(),
                         "occurrences", "notes");
        if (item && has_deadline)
                (void)evd_policy_set_deadline(item, &d);
        if (item && json_is_object(json_object_get(item, "media")))
                flag_no_audio(json_object_get(item, "media"));
        if (item && evd_item_set_path(item, "original_path", orig->path, orig->path_len) < 0) {
                json_decref(item);
                return NULL;
        }
        return item;
}

/* ---- damaged recordings waiting for a note ---- */

/* One META key an item: "damaged/" and the id as 20 digits, so that a range scan walks
 * them in id order; the value is the verdict. */
#define DAMAGED_PREFIX "damaged/"

static void damaged_key(uint64_t id, char key[32])
{
        (void)snprintf(key, 32, DAMAGED_PREFIX "%020llu", (unsigned long long)id);
}

const char *evd_item_integrity(const json_t *item)
{
        return json_string_value(json_object_get(json_object_get(item, "media"), "integrity"));
}

int evd_item_integrity_flag(struct evd_txn *txn, const json_t *item)
{
        const char *v = evd_item_integrity(item);
        char key[32];
        MDB_val k, val;

        if (!v || strcmp(v, "ok") == 0)
                return 0;
        damaged_key((uint64_t)json_integer_value(json_object_get(item, "id")), key);
        k = (MDB_val){ strlen(key), key };
        val = (MDB_val){ strlen(v), (void *)v };
        return evd_txn_put(txn, EVD_DB_META, &k, &val, 0);
}

int evd_item_integrity_noted(struct evd_txn *txn, uint64_t id)
{
        char key[32];
        MDB_val k;
        int r;

        damaged_key(id, key);
        k = (MDB_val){ strlen(key), key };
        r = evd_txn_del(txn, EVD_DB_META, &k, NULL);
        return r == -ENOENT ? 0 : r;
}

json_t *evd_item_integrity_unnoted(struct evd_txn *txn, size_t max, size_t *ret_total)
{
        json_t *out = json_object();
        MDB_cursor *cur;
        MDB_val k = { strlen(DAMAGED_PREFIX), DAMAGED_PREFIX }, v;
        size_t n = 0;
        int rc;

        *ret_total = 0;
        if (!out || mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_META), &cur) != 0)
                return out;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
             rc == 0 && k.mv_size > strlen(DAMAGED_PREFIX) && k.mv_size < 40 &&
             memcmp(k.mv_data, DAMAGED_PREFIX, strlen(DAMAGED_PREFIX)) == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                char id[40], verdict[32];
                size_t skip = strlen(DAMAGED_PREFIX), len = k.mv_size - skip;

                n++;
                if (n > max || v.mv_size >= sizeof(verdict))
                        continue;
                memcpy(id, (const char *)k.mv_data + skip, len);
                id[len] = '\0';
                memcpy(verdict, v.mv_data, v.mv_size);
                verdict[v.mv_size] = '\0';
                (void)snprintf(id, sizeof(id), "%llu", strtoull(id, NULL, 10));
                (void)json_object_set_new(out, id, json_string(verdict));
        }
        mdb_cursor_close(cur);
        *ret_total = n;
        return out;
}

/* ---- bytes stored a day, for the days of space left ---- */

#define DAILY_KEY "stored_bytes_by_day"
#define DAILY_DAYS 14 /* days kept */

static void day_key(int64_t t, char key[24])
{
        (void)snprintf(key, 24, "%lld", (long long)(t / 86400));
}

int evd_item_daily_add(struct evd_txn *txn, int64_t now, uint64_t size)
{
        json_t *all = NULL;
        const char *k;
        json_t *v, *tmp;
        char key[24];
        int r = evd_catalog_json_get(txn, EVD_DB_META, DAILY_KEY, &all);

        if (r == -ENOENT)
                all = json_object();
        else if (r < 0)
                return r;
        if (!all)
                return -ENOMEM;
        json_object_foreach_safe(all, tmp, k, v)
        {
                if (strtoll(k, NULL, 10) + DAILY_DAYS < now / 86400)
                        (void)json_object_del(all, k);
        }
        day_key(now, key);
        (void)json_object_set_new(
                all, key,
                json_integer(json_integer_value(json_object_get(all, key)) + (json_int_t)size));
        r = evd_catalog_json_put(txn, EVD_DB_META, DAILY_KEY, all);
        json_decref(all);
        return r;
}

uint64_t evd_item_daily_rate(struct evd_txn *txn, int64_t now, int days)
{
        json_t *all = NULL;
        uint64_t sum = 0;
        const char *k;
        json_t *v;

        if (evd_catalog_json_get(txn, EVD_DB_META, DAILY_KEY, &all) < 0)
                return 0;
        json_object_foreach(all, k, v)
        {
                if (strtoll(k, NULL, 10) + days > now / 86400)
                        sum += (uint64_t)json_integer_value(v);
        }
        json_decref(all);
        return days > 0 ? sum / (uint64_t)days : 0;
}
