#include "probe_msg.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media.h"
#include "name.h"
#include "source_deleted.h"
#include "util.h"

#define SHORT_TEXT_MAX 64 /* bytes of a container, codec or stream type name */
#define REASON_MAX 1024   /* bytes of an integrity reason */

static const char *const verdicts[] = { "ok", "truncated", "corrupt", "not-media" };
static const char *const stream_types[] = { "video",    "audio",      "data",
                                            "subtitle", "attachment", "unknown" };

/* ---- encoding (the helper) ---- */

json_t *evd_probe_msg_error(int code, const char *text)
{
        return json_pack("{si si ss}", "v", 1, "error", code, "text", text ? text : "");
}

static json_t *file_json(const struct evd_source_file *f)
{
        char *hex = malloc(2 * f->path_len + 1);
        json_t *o, *ext;

        if (!hex)
                return NULL;
        evd_hex((const uint8_t *)f->path, f->path_len, hex);
        o = json_pack("{ss sI sI si sI sb}", "path_hex", hex, "size", (json_int_t)f->size, "mtime",
                      (json_int_t)f->mtime, "partition", (int)f->partition, "inum",
                      (json_int_t)f->inum, "ambiguous", f->ambiguous);
        free(hex);
        if (!o)
                return NULL;
        if (f->error) {
                if (json_object_set_new(o, "error", json_string(f->error)) < 0)
                        goto fail;
                return o;
        }
        ext = json_array();
        if (!ext || json_object_set_new(o, "extents", ext) < 0)
                goto fail;
        for (size_t i = 0; i < f->n_extents; i++) {
                const struct evd_source_extent *e = &f->extents[i];

                if (json_array_append_new(ext, json_pack("[IIIi]", (json_int_t)e->file_off,
                                                         (json_int_t)e->dev_off, (json_int_t)e->len,
                                                         e->zero ? 1 : 0)) < 0)
                        goto fail;
        }
        return o;
fail:
        json_decref(o);
        return NULL;
}

json_t *evd_probe_msg_listing(const struct evd_source_list *list, unsigned partitions)
{
        json_t *files = json_array();
        json_t *o = json_pack("{si si so}", "v", 1, "partitions", (int)partitions, "files", files);

        if (!o)
                return NULL;
        for (size_t i = 0; i < list->n; i++)
                if (json_array_append_new(files, file_json(&list->files[i])) < 0) {
                        json_decref(o);
                        return NULL;
                }
        return o;
}

json_t *evd_probe_msg_media(json_t *media)
{
        return json_pack("{si so}", "v", 1, "media", media);
}

/* ---- decoding (the daemon) ---- */

static int bad(struct evd_err *err, const char *what)
{
        return evd_err_set(err, -EBADMSG, "the probe's answer is malformed: %s", what);
}

/* A helper's text, escaped and cut, as an evd_err. */
static int helper_error(const json_t *msg, struct evd_err *err)
{
        const json_t *code = json_object_get(msg, "error");
        const char *text = json_string_value(json_object_get(msg, "text"));
        char shown[EVD_NAME_ESCAPED_MAX(EVD_PROBE_MSG_TEXT_MAX)];
        json_int_t c = json_integer_value(code);
        size_t len;

        if (!json_is_integer(code) || !text || json_object_size(msg) != 3)
                return bad(err, "an error without a code and a text");
        len = strlen(text);
        (void)evd_name_escape(text, len > EVD_PROBE_MSG_TEXT_MAX ? EVD_PROBE_MSG_TEXT_MAX : len,
                              shown, sizeof(shown));
        /* The codes that say the helper misbehaved are the daemon's (probe.h). */
        if (c >= 0 || c < -4095 || c == -EBADMSG || c == -ECHILD || c == -ETIMEDOUT ||
            c == -EMSGSIZE)
                c = -EIO;
        return evd_err_set(err, (int)c, "%s", shown[0] ? shown : "the probe gave no reason");
}

/* Parse data as one JSON object with "v": 1; an error answer comes back as its code. */
static int parse(const char *data, size_t len, json_t **ret, struct evd_err *err)
{
        json_error_t jerr;
        json_t *msg;
        int r;

        if (len > EVD_PROBE_MSG_MAX)
                return bad(err, "too long");
        msg = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!msg)
                return bad(err, "not JSON");
        if (!json_is_object(msg) || json_integer_value(json_object_get(msg, "v")) != 1 ||
            !json_is_integer(json_object_get(msg, "v"))) {
                json_decref(msg);
                return bad(err, "not a version 1 object");
        }
        if (json_object_get(msg, "error")) {
                r = helper_error(msg, err);
                json_decref(msg);
                return r;
        }
        *ret = msg;
        return 0;
}

/* A non-negative integer field of o, at most max. */
static bool get_u64(const json_t *o, const char *key, uint64_t max, uint64_t *ret)
{
        const json_t *v = json_object_get(o, key);

        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) > max)
                return false;
        *ret = (uint64_t)json_integer_value(v);
        return true;
}

static bool extent_from(const json_t *a, struct evd_source_extent *e)
{
        json_int_t v[4];

        if (!json_is_array(a) || json_array_size(a) != 4)
                return false;
        for (size_t i = 0; i < 4; i++) {
                const json_t *x = json_array_get(a, i);

                if (!json_is_integer(x) || json_integer_value(x) < 0)
                        return false;
                v[i] = json_integer_value(x);
        }
        if (v[3] > 1)
                return false;
        *e = (struct evd_source_extent){ .file_off = (uint64_t)v[0],
                                         .dev_off = (uint64_t)v[1],
                                         .len = (uint64_t)v[2],
                                         .zero = v[3] == 1 };
        return true;
}

/* The path of j into f (owned by the list once set). */
static int path_from(const json_t *j, struct evd_source_file *f, struct evd_err *err)
{
        const char *hex = json_string_value(json_object_get(j, "path_hex"));
        size_t n = hex ? strlen(hex) : 0;

        if (n == 0 || n % 2 || n / 2 > EVD_PROBE_MSG_PATH_MAX)
                return bad(err, "a path that is empty, too long or not hex");
        f->path = malloc(n / 2 + 1);
        if (!f->path)
                return evd_err_set(err, -ENOMEM, "out of memory");
        if (evd_unhex(hex, (uint8_t *)f->path, n / 2) < 0 || memchr(f->path, 0, n / 2))
                return bad(err, "a path that is not hex or holds a NUL");
        f->path[n / 2] = '\0';
        f->path_len = n / 2;
        return 0;
}

/* One file of a listing; *budget counts the extents left for the whole listing. */
static int file_from(const json_t *j, unsigned parts, struct evd_source_file *f, size_t *budget,
                     struct evd_err *err)
{
        const json_t *ext = json_object_get(j, "extents"), *amb = json_object_get(j, "ambiguous");
        const char *text = json_string_value(json_object_get(j, "error"));
        uint64_t part, mtime_abs;
        int r;

        if (!json_is_object(j) || json_object_size(j) != 7 || !json_is_boolean(amb) ||
            !(ext ? json_is_array(ext) : text != NULL))
                return bad(err, "a file entry of the wrong shape");
        if ((r = path_from(j, f, err)) < 0)
                return r;
        if (!json_is_integer(json_object_get(j, "mtime")))
                return bad(err, "a file time that is not a number");
        f->mtime = (int64_t)json_integer_value(json_object_get(j, "mtime"));
        mtime_abs = f->mtime < 0 ? 0 - (uint64_t)f->mtime : (uint64_t)f->mtime;
        if (mtime_abs > (UINT64_C(1) << 40) || !get_u64(j, "size", INT64_MAX, &f->size) ||
            !get_u64(j, "partition", parts - 1, &part) || !get_u64(j, "inum", INT64_MAX, &f->inum))
                return bad(err, "a file's size, time, partition or inode out of range");
        f->partition = (unsigned)part;
        f->ambiguous = json_is_true(amb);
        if (text) {
                char shown[EVD_NAME_ESCAPED_MAX(EVD_PROBE_MSG_TEXT_MAX)];
                size_t len = strlen(text);

                (void)evd_name_escape(text,
                                      len > EVD_PROBE_MSG_TEXT_MAX ? EVD_PROBE_MSG_TEXT_MAX : len,
                                      shown, sizeof(shown));
                f->error = strdup(shown);
                return f->error ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
        }
        if (json_array_size(ext) > *budget)
                return bad(err, "too many extents");
        *budget -= json_array_size(ext);
        f->n_extents = json_array_size(ext);
        f->extents = calloc(f->n_extents ? f->n_extents : 1, sizeof(*f->extents));
        if (!f->extents)
                return evd_err_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < f->n_extents; i++)
                if (!extent_from(json_array_get(ext, i), &f->extents[i]))
                        return bad(err, "an extent that is not four non-negative numbers");
        return 0;
}

int evd_probe_msg_listing_decode(const char *data, size_t len, struct evd_source_list **ret,
                                 unsigned *ret_parts, struct evd_err *err)
{
        struct evd_source_list *list = NULL;
        size_t budget = EVD_PROBE_MSG_EXTENTS_MAX;
        const json_t *files;
        json_t *msg = NULL;
        uint64_t parts;
        int r;

        if ((r = parse(data, len, &msg, err)) < 0)
                return r;
        files = json_object_get(msg, "files");
        if (json_object_size(msg) != 3 + (json_object_get(msg, "deleted") != NULL) ||
            !json_is_array(files) ||
            !get_u64(msg, "partitions", EVD_SOURCE_MAX_PARTITIONS, &parts) || parts == 0 ||
            json_array_size(files) > EVD_PROBE_MSG_FILES_MAX) {
                r = bad(err, "not a listing");
                goto out;
        }
        list = calloc(1, sizeof(*list));
        if (list)
                list->files = calloc(json_array_size(files) + 1, sizeof(*list->files));
        if (!list || !list->files) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < json_array_size(files); i++) {
                list->n++; /* freed with the list even when half filled */
                r = file_from(json_array_get(files, i), (unsigned)parts, &list->files[i], &budget,
                              err);
                if (r < 0)
                        goto out;
        }
        *ret = list;
        *ret_parts = (unsigned)parts;
        list = NULL;
out:
        evd_source_list_free(list);
        json_decref(msg);
        return r;
}

/* ---- media ---- */

static bool in_set(const char *s, const char *const *set, size_t n)
{
        for (size_t i = 0; s && i < n; i++)
                if (strcmp(s, set[i]) == 0)
                        return true;
        return false;
}

/* Printable ASCII of 1..max bytes. */
static bool short_text(const json_t *v, size_t max)
{
        const char *s = json_string_value(v);
        size_t n = s ? json_string_length(v) : 0;

        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < 0x20 || s[i] > 0x7e)
                        return false;
        return true;
}

static bool number_ok(const json_t *v, bool nullable)
{
        if (json_is_null(v))
                return nullable;
        return json_is_number(v) && isfinite(json_number_value(v)) && json_number_value(v) >= 0 &&
               json_number_value(v) < 1e12;
}

static bool stream_ok(const json_t *s)
{
        static const char *const optional[] = { "width", "height", "frame_rate", "sample_rate",
                                                "channels" };
        const char *key;
        const json_t *v;

        if (!json_is_object(s) || !json_is_integer(json_object_get(s, "index")) ||
            !number_ok(json_object_get(s, "index"), false) ||
            !in_set(json_string_value(json_object_get(s, "type")), stream_types,
                    EVD_ARRAY_SIZE(stream_types)) ||
            !short_text(json_object_get(s, "codec"), SHORT_TEXT_MAX))
                return false;
        json_object_foreach((json_t *)s, key, v)
        {
                if (strcmp(key, "index") == 0 || strcmp(key, "type") == 0 ||
                    strcmp(key, "codec") == 0)
                        continue;
                if (!in_set(key, optional, EVD_ARRAY_SIZE(optional)) ||
                    !number_ok(v, strcmp(key, "frame_rate") == 0))
                        return false;
        }
        return true;
}

/* The media object has exactly media.h's keys, each within its bounds. */
static bool media_ok(const json_t *m)
{
        const json_t *container = json_object_get(m, "container");
        const json_t *created = json_object_get(m, "creation_time");
        const json_t *reason = json_object_get(m, "integrity_reason");
        const json_t *streams = json_object_get(m, "streams"), *log = json_object_get(m, "log");
        const char *integrity = json_string_value(json_object_get(m, "integrity"));
        const json_t *v;
        int64_t t;
        size_t i;

        if (!json_is_object(m) || json_object_size(m) != 7 ||
            !(json_is_null(container) || short_text(container, SHORT_TEXT_MAX)) ||
            !number_ok(json_object_get(m, "duration_s"), true) ||
            !in_set(integrity, verdicts, EVD_ARRAY_SIZE(verdicts)))
                return false;
        if (!(json_is_null(created) || (short_text(created, EVD_TIME_STR) &&
                                        evd_time_parse(json_string_value(created), &t) == 0)))
                return false;
        if (strcmp(integrity, "ok") == 0 ? !json_is_null(reason) : !short_text(reason, REASON_MAX))
                return false;
        if (!json_is_array(streams) || json_array_size(streams) > EVD_MEDIA_MAX_STREAMS ||
            !json_is_array(log) || json_array_size(log) > EVD_MEDIA_LOG_LINES)
                return false;
        json_array_foreach(streams, i, v) if (!stream_ok(v)) return false;
        json_array_foreach(log, i, v) if (!short_text(v, EVD_MEDIA_LOG_LINE_MAX)) return false;
        return true;
}

int evd_probe_msg_media_decode(const char *data, size_t len, json_t **ret, struct evd_err *err)
{
        json_t *msg = NULL, *media;
        int r;

        if ((r = parse(data, len, &msg, err)) < 0)
                return r;
        media = json_object_get(msg, "media");
        if (json_object_size(msg) != 2 || !media_ok(media)) {
                json_decref(msg);
                return bad(err, "not a media result");
        }
        *ret = json_incref(media);
        json_decref(msg);
        return 0;
}

/* A time of a deleted entry: an RFC 3339 string or null. */
static bool deleted_time(const json_t *v)
{
        int64_t t;

        return json_is_null(v) ||
               (json_is_string(v) && evd_time_parse(json_string_value(v), &t) == 0);
}

static bool deleted_entry(const json_t *e)
{
        const char *path = json_string_value(json_object_get(e, "path"));
        uint64_t part, size;

        return json_object_size(e) == 6 && path && strlen(path) < EVD_PATH_MAX &&
               evd_name_is_utf8(path, strlen(path)) &&
               get_u64(e, "partition", EVD_SOURCE_MAX_PARTITIONS - 1, &part) &&
               get_u64(e, "size", UINT64_MAX >> 1, &size) &&
               deleted_time(json_object_get(e, "mtime")) &&
               deleted_time(json_object_get(e, "crtime")) &&
               deleted_time(json_object_get(e, "atime"));
}

int evd_probe_msg_deleted_decode(const char *data, size_t len, json_t **ret, struct evd_err *err)
{
        const json_t *d, *entries, *e;
        json_t *msg = NULL;
        size_t i;
        int r;

        *ret = NULL;
        if ((r = parse(data, len, &msg, err)) < 0)
                return r;
        d = json_object_get(msg, "deleted");
        entries = json_object_get(d, "entries");
        if (!d) {
                json_decref(msg);
                return 0;
        }
        if (json_object_size(d) != 2 || !json_is_array(entries) ||
            json_array_size(entries) > EVD_SOURCE_DELETED_MAX ||
            !json_is_boolean(json_object_get(d, "more"))) {
                json_decref(msg);
                return bad(err, "not a list of deleted entries");
        }
        json_array_foreach(entries, i, e)
        {
                if (!deleted_entry(e)) {
                        json_decref(msg);
                        return bad(err, "a deleted entry is not one");
                }
        }
        *ret = json_deep_copy(d);
        json_decref(msg);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
}
