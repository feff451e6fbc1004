/* Export (第二十六条, 第二十七条): recordings used as evidence leave the station on a
 * disc image filed with the case: the originals byte for byte in a signed BagIt bag
 * (disc.h) noting maker 制作人, extractor 提取人 and extraction time 提取时间, which
 * anyone can check with standard tools.
 *
 * An export is an access, delivered to the caller and never to a path: the daemon
 * does not open, create, chown or even look at a file the caller names. For each
 * volume it asks the client for the file ("need_fd", control.h): evidockctl creates
 * OUT.iso (or OUT-1.iso, OUT-2.iso, ...) itself, with O_EXCL, refusing symlinks, under
 * its own uid and umask, and passes the descriptor; the daemon checks it (an empty
 * regular file open for writing, deliver.h) and writes the image into it. Then ONE
 * catalogue transaction appends the "export.done" audit entry and each item's
 * exports[] entry. A failed build, or a client gone before the commit, leaves no
 * record; the partial files are the client's to remove (it made them). Images are
 * built off the loop, on the request's pool thread; the disc module serialises
 * builds. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "buf.h"
#include "clock.h"
#include "deliver.h"
#include "disclose.h"
#include "disc.h"
#include "keys.h"
#include "label.h"
#include "signing.h"
#include "station_internal.h"

#define EXPORTS_MAX 4           /* exports running or waiting for the disc module */
#define EXPORT_ITEMS_MAX 100000 /* items in one export */
#define EXPORT_PERSON_MAX 128   /* bytes in maker, extractor, approver */
#define EXPORT_FUTURE_SLACK 300 /* an extraction time may be this far ahead of now */
#define EXPORT_VOLUMES_MAX 999  /* volumes of one series */
#define EXPORT_PROGRESS_MS 500  /* between progress lines */
#define EXPORT_JOIN_MAX 3000    /* bytes of a joined bag-info value */
#define EXPORT_TAG_SLACK 4096   /* per volume, on top of the tag files' estimate */
#define EXPORT_NAME_MAX 255     /* bytes in the output's file name */
#define HISTORY_FILE "audit-history.jsonl"
#define SERIES_FILE "series.json"
#define INFO_MAX 16

/* One item to export. */
struct ex_item {
        uint64_t id;
        json_t *item;    /* catalogue record (owned) */
        json_t *history; /* its audit entries, oldest first (owned array) */
        uint8_t sha256[EVD_SHA256_LEN];
        uint64_t size;
        char *name; /* the original's base name, exact bytes, NUL-terminated (owned) */
        size_t name_len;
        char src[EVD_PATH_MAX]; /* the stored object */
        size_t volume;          /* 0-based */
        char disc_path[EVD_DISC_PATH_MAX];
};

/* One image of the series. */
struct volume {
        char path[EVD_PATH_MAX]; /* its name as the client makes it, for the record only */
        size_t *idx;             /* indexes into the export's items (owned) */
        size_t n;
        struct evd_disc_result res;
};

struct export
{
        struct evd_station *s;
        struct evd_request *req;
        const struct evd_actor *actor;
        struct evd_conf conf;
        const char *case_no, *maker, *extractor, *approver, *reason, *out, *media;
        char case_buf[EVD_LABEL_CASE_MAX * 2]; /* case_no normalised */
        json_t *refs;
        struct evd_disclose disc; /* purpose and security approver (第二十九条) */
        json_t *cases;            /* a disclosure's case numbers, for its history (owned) */
        int64_t time;
        char time_str[EVD_TIME_STR];
        uint64_t capacity; /* 0: one volume, no limit */
        struct ex_item *items;
        size_t n;
        struct volume *vols;
        size_t nvol;
        char dir[EVD_PATH_MAX]; /* the output's directory */
        size_t cur_vol;         /* for progress */
        uint64_t last_progress_ns;
        atomic_bool cancel; /* the station stops, or the client went away */
        uint64_t audit_seq;
        struct evd_err *err;
};

static void export_free(struct export *x)
{
        json_decref(x->cases);
        for (size_t i = 0; x->items && i < x->n; i++) {
                json_decref(x->items[i].item);
                json_decref(x->items[i].history);
                free(x->items[i].name);
        }
        free(x->items);
        for (size_t v = 0; x->vols && v < x->nvol; v++)
                free(x->vols[v].idx);
        free(x->vols);
}

/* ---- arguments ---- */

static int parse_args(struct export *x, const json_t *args, struct evd_err *err)
{
        bool has_time = false;
        int64_t now = evd_clock_now();
        const char *base;
        int r;

        if ((r = evd_arg_string(args, "case", false, &x->case_no, err)) < 0 ||
            (r = evd_arg_string(args, "maker", true, &x->maker, err)) < 0 ||
            (r = evd_label_check_text("maker", x->maker, EXPORT_PERSON_MAX, false, err)) < 0 ||
            (r = evd_arg_string(args, "extractor", true, &x->extractor, err)) < 0 ||
            (r = evd_label_check_text("extractor", x->extractor, EXPORT_PERSON_MAX, false, err)) <
                    0 ||
            (r = evd_arg_string(args, "approver", true, &x->approver, err)) < 0 ||
            (r = evd_label_check_text("approver", x->approver, EXPORT_PERSON_MAX, false, err)) <
                    0 ||
            (r = evd_arg_string(args, "reason", true, &x->reason, err)) < 0 ||
            (r = evd_label_check_text("reason", x->reason, EVD_LABEL_TEXT_MAX, true, err)) < 0 ||
            (r = evd_arg_string(args, "out", true, &x->out, err)) < 0 ||
            (r = evd_arg_string(args, "media", false, &x->media, err)) < 0 ||
            (r = evd_arg_time(args, "time", &has_time, &x->time, err)) < 0 ||
            (r = evd_disclose_parse(args, &x->conf, x->approver, "export", &x->disc, err)) < 0)
                return r;
        x->refs = json_object_get(args, "items");
        if (x->refs && !json_is_array(x->refs))
                return evd_err_set(err, -EINVAL, "\"items\" must be a list");
        if ((x->case_no != NULL) == (json_array_size(x->refs) > 0))
                return evd_err_set(err, -EINVAL, "name the items to export, or a case (not both)");
        if (json_array_size(x->refs) > EXPORT_ITEMS_MAX)
                return evd_err_set(err, -E2BIG, "more than %d items", EXPORT_ITEMS_MAX);
        if (x->case_no) { /* one case, one spelling (label.h) */
                r = evd_label_normalise_case(&x->conf, x->case_no, x->case_buf, sizeof(x->case_buf),
                                             err);
                if (r < 0)
                        return r;
                x->case_no = x->case_buf;
        }
        if (x->media && evd_disc_media_bytes(x->media, &x->capacity) < 0)
                return evd_err_set(err, -EINVAL,
                                   "--media '%s' is neither cd, dvd, dvd-dl, bd25, bd50 nor a "
                                   "byte count of at least 1 MiB",
                                   x->media);
        if (!json_is_true(json_object_get(args, "fds")))
                return evd_err_set(err, -EINVAL,
                                   "an export is written into files the client makes and "
                                   "passes (\"fds\": true; evidockctl does)");
        if (!has_time)
                x->time = now;
        if (x->time > now + EXPORT_FUTURE_SLACK || x->time < 0)
                return evd_err_set(err, -EINVAL, "the extraction time may not lie in the future");
        evd_time_format(x->time, x->time_str);

        /* The output's name as the client makes it: for the record and the volume
         * names only; the daemon never opens it. */
        base = strrchr(x->out, '/');
        if (x->out[0] != '/' || !base || !base[1] || strcmp(base + 1, ".") == 0 ||
            strcmp(base + 1, "..") == 0)
                return evd_err_set(err, -EINVAL, "-o needs an absolute path to a file");
        if (strlen(base + 1) > EXPORT_NAME_MAX - 16 || (size_t)(base - x->out) >= sizeof(x->dir))
                return evd_err_set(err, -ENAMETOOLONG, "-o: path too long");
        if (base == x->out)
                (void)snprintf(x->dir, sizeof(x->dir), "/");
        else
                (void)snprintf(x->dir, sizeof(x->dir), "%.*s", (int)(base - x->out), x->out);
        return 0;
}

/* ---- selecting the items, with their audit history ---- */

static int collect_case(json_t *item, void *p)
{
        json_t *ids = p;

        if (json_array_size(ids) >= EXPORT_ITEMS_MAX)
                return -E2BIG;
        return json_array_append(ids, json_object_get(item, "id")) < 0 ? -ENOMEM : 0;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

static int cmp_item_id(const void *key, const void *elem)
{
        uint64_t id = *(const uint64_t *)key, other = ((const struct ex_item *)elem)->id;

        return id < other ? -1 : id > other;
}

/* The item ids asked for, sorted, without repeats. */
static int select_ids(struct export *x, struct evd_txn *txn, uint64_t **ret, size_t *ret_n,
                      struct evd_err *err)
{
        json_t *ids = json_array(), *v;
        uint64_t *out = NULL;
        size_t n = 0, i;
        int r = 0;

        if (!ids)
                return evd_err_set(err, -ENOMEM, "out of memory");
        if (x->case_no) {
                struct evd_item_filter f = { .case_no = x->case_no };

                r = evd_catalog_items_each(txn, &f, collect_case, ids);
                if (r == -E2BIG)
                        r = evd_err_set(err, r, "case %s has more than %d items", x->case_no,
                                        EXPORT_ITEMS_MAX);
                else if (r < 0)
                        r = evd_err_set(err, r, "catalog: %s", strerror(-r));
                else if (json_array_size(ids) == 0)
                        r = evd_err_set(err, -ENOENT, "no item is labelled with case %s",
                                        x->case_no);
        } else {
                json_array_foreach(x->refs, i, v)
                {
                        uint64_t id;

                        if (!json_is_string(v)) {
                                r = evd_err_set(err, -EINVAL, "items must be strings");
                                break;
                        }
                        r = evd_resolve_item(txn, json_string_value(v), &id, err);
                        if (r < 0)
                                break;
                        if (json_array_append_new(ids, json_integer((json_int_t)id)) < 0) {
                                r = evd_err_set(err, -ENOMEM, "out of memory");
                                break;
                        }
                }
        }
        if (r == 0) {
                out = calloc(json_array_size(ids) + 1, sizeof(*out));
                if (!out)
                        r = evd_err_set(err, -ENOMEM, "out of memory");
        }
        if (r == 0 && out) {
                json_array_foreach(ids, i, v)
                {
                        out[i] = (uint64_t)json_integer_value(v);
                }
                qsort(out, json_array_size(ids), sizeof(*out), cmp_u64);
                for (i = 0; i < json_array_size(ids); i++)
                        if (n == 0 || out[n - 1] != out[i])
                                out[n++] = out[i];
                *ret = out;
                *ret_n = n;
                out = NULL;
        }
        free(out);
        json_decref(ids);
        return r;
}

/* The base name of the item's original path, exact bytes (caller frees). */
static int original_name(const json_t *item, char **ret, size_t *ret_len)
{
        const char *b64 = json_string_value(json_object_get(item, "original_path_b64"));
        const char *path = json_string_value(json_object_get(item, "original_path"));
        uint8_t *raw = NULL;
        size_t len = 0;
        const char *p, *slash;
        char *name;

        if (b64) {
                if (evd_b64_decode(b64, &raw, &len) < 0)
                        return -EBADMSG;
                p = (const char *)raw;
        } else {
                p = path ? path : "";
                len = strlen(p);
        }
        slash = memrchr(p, '/', len);
        if (slash) {
                len -= (size_t)(slash + 1 - p);
                p = slash + 1;
        }
        name = malloc(len + 1);
        if (name) {
                memcpy(name, p, len);
                name[len] = '\0';
                /* A name with a NUL byte is no name at all: the disc module sees a
                 * shorter string and the catalogue keeps the exact bytes anyway. */
                *ret = name;
                *ret_len = strlen(name);
        }
        free(raw);
        return name ? 0 : -ENOMEM;
}

static int collect_history(json_t *entry, void *p)
{
        struct export *x = p;
        const char *subject = json_string_value(json_object_get(entry, "subject"));
        struct ex_item *it;
        uint64_t id;
        char *end;

        if (!subject || strncmp(subject, "item:", 5) != 0)
                return 0;
        id = strtoull(subject + 5, &end, 10);
        if (*end)
                return 0;
        it = bsearch(&id, x->items, x->n, sizeof(*x->items), cmp_item_id);
        if (!it || (x->disc.disclosure && !evd_disclose_keeps(entry, x->cases)))
                return 0;
        return json_array_append(it->history, entry) < 0 ? -ENOMEM : 0;
}

/* 第二十九条: every secret item needs the security approver; a disclosure's history
 * keeps the cases it discloses (the one named, or the items' own). */
static int disclosure_checks(struct export *x, struct evd_err *err)
{
        int r;

        x->cases = json_array();
        if (!x->cases)
                return evd_err_set(err, -ENOMEM, "out of memory");
        if (x->case_no && json_array_append_new(x->cases, json_string(x->case_no)) < 0)
                return evd_err_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < x->n; i++) {
                const json_t *c =
                        json_object_get(json_object_get(x->items[i].item, "labels"), "case_no");

                r = evd_disclose_check_secret(&x->disc, &x->conf, x->items[i].item, "export", err);
                if (r < 0)
                        return r;
                if (!x->case_no && json_is_string(c) &&
                    json_array_append(x->cases, (json_t *)c) < 0)
                        return evd_err_set(err, -ENOMEM, "out of memory");
        }
        return 0;
}

static int load_items(struct export *x, struct evd_txn *txn, struct evd_err *err)
{
        char purged[256] = "";
        size_t npurged = 0, n = 0;
        uint64_t *ids = NULL;
        int r;

        r = select_ids(x, txn, &ids, &n, err);
        if (r < 0)
                return r;
        x->items = calloc(n ? n : 1, sizeof(*x->items));
        if (!x->items) {
                free(ids);
                return evd_err_set(err, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                struct ex_item *it = &x->items[x->n];
                const char *hex;

                it->id = ids[i];
                r = evd_catalog_item_get(txn, it->id, &it->item);
                if (r < 0) {
                        r = evd_err_set(err, r, "item %" PRIu64 ": %s", it->id, strerror(-r));
                        goto out;
                }
                x->n++;
                it->history = json_array();
                if (!it->history) {
                        r = evd_err_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
                if (json_object_get(it->item, "purged")) {
                        size_t len = strlen(purged);

                        if (len < sizeof(purged) - 32)
                                (void)snprintf(purged + len, sizeof(purged) - len, "%s%" PRIu64,
                                               npurged ? ", " : "", it->id);
                        npurged++;
                        continue;
                }
                hex = json_string_value(json_object_get(it->item, "sha256"));
                if (!hex || evd_unhex(hex, it->sha256, sizeof(it->sha256)) < 0 ||
                    !json_is_string(json_object_get(it->item, "recorder")) ||
                    json_integer_value(json_object_get(it->item, "size")) < 0) {
                        r = evd_err_set(err, -EBADMSG, "item %" PRIu64 ": damaged catalogue record",
                                        it->id);
                        goto out;
                }
                it->size = (uint64_t)json_integer_value(json_object_get(it->item, "size"));
                r = original_name(it->item, &it->name, &it->name_len);
                if (r == 0)
                        r = evd_store_object_path(x->s->store, it->sha256, it->src,
                                                  sizeof(it->src));
                if (r < 0) {
                        r = evd_err_set(err, r, "item %" PRIu64 ": %s", it->id, strerror(-r));
                        goto out;
                }
        }
        if (npurged) {
                r = evd_err_set(err, -ENOENT,
                                "item%s %s%s purged: %s recording%s gone and cannot be "
                                "exported%s",
                                npurged > 1 ? "s" : "", purged, npurged > 1 ? " were" : " was",
                                npurged > 1 ? "their" : "its", npurged > 1 ? "s are" : " is",
                                x->case_no ? "; name the other items to export the rest" : "");
                goto out;
        }
        r = disclosure_checks(x, err);
        if (r < 0)
                goto out;
        /* The log is read for these items' entries only (the others unparsed). */
        r = evd_audit_each_item(txn, ids, n, collect_history, x);
        if (r < 0)
                r = evd_err_set(err, r, "audit log: %s", strerror(-r));
out:
        free(ids);
        return r;
}

/* An extraction time before the newest item was ingested would backdate the disc:
 * refused, naming that item. */
static int check_time(const struct export *x, struct evd_err *err)
{
        for (size_t i = 0; i < x->n; i++) {
                const char *at =
                        json_string_value(json_object_get(x->items[i].item, "ingested_at"));
                int64_t t;

                if (at && evd_time_parse(at, &t) == 0 && x->time < t)
                        return evd_err_set(err, -EINVAL,
                                           "the extraction time %s precedes the ingest of item "
                                           "%" PRIu64 " (%s): a disc may not be backdated",
                                           x->time_str, x->items[i].id, at);
        }
        return 0;
}

/* ---- what goes on each disc besides the recordings ---- */

/* The item as it goes into items.json: the catalogue record with its place on the
 * disc, without what records the station's own housekeeping rather than the recording
 * (other discs made of it, the last fixity check): the same recordings, labels and
 * extraction time then give the same image, byte for byte. Caller owns. */
static json_t *disc_item(const struct ex_item *it)
{
        json_t *o = json_deep_copy(it->item);

        if (!o)
                return NULL;
        (void)json_object_del(o, "exports");
        (void)json_object_del(o, "checked_at");
        (void)json_object_del(o, "fixity");
        if (json_object_set_new(o, "disc_path", json_string(it->disc_path)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* items.json of one volume. */
static char *make_items_json(const struct export *x, const struct volume *v, size_t vno)
{
        json_t *list = json_array(), *doc;
        char *text = NULL;

        for (size_t i = 0; list && i < v->n; i++)
                if (json_array_append_new(list, disc_item(&x->items[v->idx[i]])) < 0) {
                        json_decref(list);
                        return NULL;
                }
        doc = json_pack("{ss ss ss sI sI so}", "format", "evidock-items/1", "station", x->conf.name,
                        "extraction_time", x->time_str, "volume", (json_int_t)vno, "volumes",
                        (json_int_t)x->nvol, "items", list);
        if (doc)
                text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(doc);
        return text;
}

/* audit-history.jsonl of one volume: every audit entry about its items, one per line in
 * the station log's canonical form (compact, keys sorted, ASCII), so that each entry's
 * hash can be recomputed and matched with the station's log. */
static char *make_history(const struct export *x, const struct volume *v, size_t *ret_len)
{
        struct evd_buf out = { .max = SIZE_MAX };

        if (evd_buf_add(&out, "", 0) < 0)
                return NULL;
        for (size_t i = 0; i < v->n; i++) {
                const json_t *h = x->items[v->idx[i]].history, *e;
                size_t k;

                json_array_foreach(h, k, e)
                {
                        char *line =
                                json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);

                        if (!line || evd_buf_str(&out, line) < 0 ||
                            evd_buf_add(&out, "\n", 1) < 0) {
                                free(line);
                                evd_buf_free(&out);
                                return NULL;
                        }
                        free(line);
                }
        }
        *ret_len = out.len;
        return out.data;
}

/* series.json: the whole series, the same on every volume. */
static char *make_series(const struct export *x)
{
        json_t *vols = json_array(), *doc;
        char *text = NULL;

        for (size_t v = 0; vols && v < x->nvol; v++) {
                json_t *list = json_array();

                for (size_t i = 0; list && i < x->vols[v].n; i++) {
                        const struct ex_item *it = &x->items[x->vols[v].idx[i]];

                        if (json_array_append_new(
                                    list, json_pack("{sI sO sI ss}", "id", (json_int_t)it->id,
                                                    "sha256", json_object_get(it->item, "sha256"),
                                                    "size", (json_int_t)it->size, "disc_path",
                                                    it->disc_path)) < 0) {
                                json_decref(list);
                                list = NULL;
                        }
                }
                if (!list ||
                    json_array_append_new(vols, json_pack("{sI so}", "volume", (json_int_t)v + 1,
                                                          "items", list)) < 0) {
                        json_decref(vols);
                        return NULL;
                }
        }
        doc = json_pack("{ss ss ss* ss sI sI so}", "format", "evidock-series/1", "station",
                        x->conf.name, "case", x->case_no, "extraction_time", x->time_str, "volumes",
                        (json_int_t)x->nvol, "items", (json_int_t)x->n, "series", vols);
        if (doc)
                text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(doc);
        return text;
}

/* Distinct values of labels[key] over the export, in order, "; "-separated, or "-". */
static void join_labels(const struct export *x, const char *key, char *out, size_t outsz)
{
        json_t *seen = json_object();
        size_t len = 0, more = 0;

        out[0] = '\0';
        for (size_t i = 0; seen && i < x->n; i++) {
                const char *v = json_string_value(
                        json_object_get(json_object_get(x->items[i].item, "labels"), key));

                if (!v || !*v || json_object_get(seen, v))
                        continue;
                (void)json_object_set_new(seen, v, json_true());
                if (len + strlen(v) + 2 >= outsz - 32) {
                        more++;
                        continue;
                }
                len += (size_t)snprintf(out + len, outsz - len, "%s%s", len ? "; " : "", v);
        }
        if (more)
                (void)snprintf(out + len, outsz - len, "; ... (%zu more)", more);
        if (!out[0])
                (void)snprintf(out, outsz, "-");
        json_decref(seen);
}

/* ---- volumes ---- */

/* Plan the volumes and name their files: OUT.iso, or OUT-1.iso, OUT-2.iso, ... */
static int plan_volumes(struct export *x, uint64_t reserve, struct evd_err *err)
{
        size_t *vol_of = NULL, nvol = 1;
        uint64_t *sizes = NULL;
        char **names = NULL;
        int r = 0;

        if (x->capacity) {
                sizes = calloc(x->n, sizeof(*sizes));
                names = calloc(x->n, sizeof(*names));
                vol_of = calloc(x->n, sizeof(*vol_of));
                if (!sizes || !names || !vol_of) {
                        r = evd_err_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
                for (size_t i = 0; i < x->n; i++) {
                        sizes[i] = x->items[i].size;
                        if (asprintf(&names[i], "item %" PRIu64 " %s", x->items[i].id,
                                     x->items[i].name) < 0) {
                                names[i] = NULL;
                                r = evd_err_set(err, -ENOMEM, "out of memory");
                                goto out;
                        }
                }
                r = evd_disc_plan(sizes, (const char *const *)names, x->n, x->capacity, reserve,
                                  vol_of, &nvol, err);
                if (r < 0)
                        goto out;
                if (nvol > EXPORT_VOLUMES_MAX) {
                        r = evd_err_set(err, -E2BIG, "%zu volumes: at most %d in one export", nvol,
                                        EXPORT_VOLUMES_MAX);
                        goto out;
                }
        }
        x->vols = calloc(nvol, sizeof(*x->vols));
        if (!x->vols) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        x->nvol = nvol;
        for (size_t i = 0; i < x->n; i++) {
                x->items[i].volume = vol_of ? vol_of[i] : 0;
                x->vols[x->items[i].volume].n++;
        }
        for (size_t v = 0; v < nvol; v++) {
                x->vols[v].idx = calloc(x->vols[v].n ? x->vols[v].n : 1, sizeof(size_t));
                if (!x->vols[v].idx) {
                        r = evd_err_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
                x->vols[v].n = 0;
        }
        for (size_t i = 0; i < x->n; i++) {
                struct volume *v = &x->vols[x->items[i].volume];

                v->idx[v->n++] = i;
        }
        for (size_t v = 0; v < nvol; v++) {
                const char *base = strrchr(x->out, '/') + 1, *dot = strrchr(base, '.');
                struct volume *vol = &x->vols[v];
                char name[EXPORT_NAME_MAX + 1];

                if (nvol == 1)
                        r = evd_snprintf(name, sizeof(name), "%s", base);
                else if (dot && dot != base)
                        r = evd_snprintf(name, sizeof(name), "%.*s-%zu%s", (int)(dot - base), base,
                                         v + 1, dot);
                else
                        r = evd_snprintf(name, sizeof(name), "%s-%zu", base, v + 1);
                if (r == 0)
                        r = evd_snprintf(vol->path, sizeof(vol->path), "%s/%s",
                                         strcmp(x->dir, "/") == 0 ? "" : x->dir, name);
                if (r < 0) {
                        r = evd_err_set(err, -ENAMETOOLONG, "-o: path too long");
                        goto out;
                }
        }
        r = 0;
out:
        for (size_t i = 0; names && i < x->n; i++)
                free(names[i]);
        free(names);
        free(sizes);
        free(vol_of);
        return r;
}

/* The caller's tag files' size, estimated for the whole export: every volume holds at
 * most all of it. */
static uint64_t tags_estimate(const struct export *x)
{
        uint64_t bytes = EXPORT_TAG_SLACK;

        for (size_t i = 0; i < x->n; i++) {
                const json_t *e;
                size_t k;

                bytes += json_dumpb(x->items[i].item, NULL, 0, JSON_INDENT(2)) + 1024;
                json_array_foreach(x->items[i].history, k, e)
                {
                        bytes += json_dumpb(e, NULL, 0, JSON_COMPACT | JSON_ENSURE_ASCII) + 1;
                }
        }
        return bytes;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
        struct export *x = ctx;
        uint64_t now = evd_clock_mono_ns();
        json_t *p;

        if (atomic_load(&x->s->cancel_exports) || evd_request_client_gone(x->req))
                atomic_store(&x->cancel, true);
        if (done < total && now - x->last_progress_ns < EXPORT_PROGRESS_MS * 1000000ull)
                return;
        x->last_progress_ns = now;
        p = json_pack("{sI sI sI sI}", "volume", (json_int_t)x->cur_vol + 1, "volumes",
                      (json_int_t)x->nvol, "bytes_done", (json_int_t)done, "bytes_total",
                      (json_int_t)total);
        if (p)
                evd_request_progress(x->req, p);
}

/* The series' volume id: from the case number, or the items' common one. */
static void series_id(const struct export *x, char out[EVD_DISC_VOLID_MAX + 1])
{
        const char *case_no = x->case_no;

        if (!case_no) {
                /* The items' common case number, if they share one. */
                for (size_t i = 0; i < x->n; i++) {
                        const char *c = json_string_value(json_object_get(
                                json_object_get(x->items[i].item, "labels"), "case_no"));

                        if (!c || (case_no && strcmp(c, case_no) != 0)) {
                                case_no = NULL;
                                break;
                        }
                        case_no = c;
                }
        }
        evd_disc_volume_id(case_no ? case_no : "", out);
}

/* A volume's id: the series' id, with "_N" on each volume of a split export. */
static void volume_id(const struct export *x, size_t v, char out[EVD_DISC_VOLID_MAX + 1])
{
        char suffix[16];

        series_id(x, out);
        if (x->nvol > 1) {
                size_t slen = (size_t)snprintf(suffix, sizeof(suffix), "_%zu", v + 1);
                size_t keep = strlen(out);

                if (keep > EVD_DISC_VOLID_MAX - slen)
                        keep = EVD_DISC_VOLID_MAX - slen;
                memcpy(out + keep, suffix, slen + 1);
        }
}

static int build_volume(struct export *x, size_t v, const struct evd_keys *keys, const char *series,
                        struct evd_err *err)
{
        struct volume *vol = &x->vols[v];
        char case_s[EXPORT_JOIN_MAX], party[EXPORT_JOIN_MAX], handler[EXPORT_JOIN_MAX];
        char count[32], group[EVD_DISC_VOLID_MAX + EVD_TIME_STR + 8];
        char volid[EVD_DISC_VOLID_MAX + 1];
        struct evd_disc_item *ditems = calloc(vol->n ? vol->n : 1, sizeof(*ditems));
        struct evd_disc_info info[INFO_MAX];
        struct evd_disc_tag tags[3];
        char *items_json = make_items_json(x, vol, v + 1), *history = NULL;
        size_t n_info = 0, n_tags = 0, history_len = 0;
        struct evd_disc_spec spec = { 0 };
        int fd = -1, r;

        history = make_history(x, vol, &history_len);
        if (!ditems || !items_json || !history) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < vol->n; i++) {
                const struct ex_item *it = &x->items[vol->idx[i]];

                ditems[i].src_path = it->src;
                ditems[i].recorder = json_string_value(json_object_get(it->item, "recorder"));
                ditems[i].name = it->name;
                ditems[i].name_len = it->name_len;
                ditems[i].size = it->size;
                memcpy(ditems[i].sha256, it->sha256, EVD_SHA256_LEN);
        }
        if (x->case_no)
                (void)snprintf(case_s, sizeof(case_s), "%s", x->case_no);
        else
                join_labels(x, "case_no", case_s, sizeof(case_s));
        join_labels(x, "party", party, sizeof(party));
        join_labels(x, "handler", handler, sizeof(handler));
        (void)snprintf(count, sizeof(count), "%zu", vol->n);
        volume_id(x, v, volid);
        info[n_info++] = (struct evd_disc_info){ EVD_DISC_INFO_CASE, case_s };
        info[n_info++] = (struct evd_disc_info){ EVD_DISC_INFO_PARTY, party };
        info[n_info++] = (struct evd_disc_info){ EVD_DISC_INFO_HANDLER, handler };
        info[n_info++] = (struct evd_disc_info){ EVD_DISC_INFO_MAKER, x->maker };
        info[n_info++] = (struct evd_disc_info){ EVD_DISC_INFO_EXTRACTOR, x->extractor };
        info[n_info++] = (struct evd_disc_info){ EVD_DISC_INFO_EXTRACTED, x->time_str };
        info[n_info++] = (struct evd_disc_info){ EVD_DISC_INFO_APPROVER, x->approver };
        info[n_info++] = (struct evd_disc_info){ EVD_DISC_INFO_REASON, x->reason };
        info[n_info++] = (struct evd_disc_info){ "Purpose", x->disc.purpose };
        if (x->disc.security_approver)
                info[n_info++] =
                        (struct evd_disc_info){ "Security-Approver", x->disc.security_approver };
        info[n_info++] = (struct evd_disc_info){ EVD_DISC_INFO_STATION, x->conf.name };
        info[n_info++] = (struct evd_disc_info){ EVD_DISC_INFO_ITEMS, count };
        if (x->nvol > 1) {
                char base[EVD_DISC_VOLID_MAX + 1];

                series_id(x, base);
                (void)snprintf(group, sizeof(group), "%s %s", base, x->time_str);
                info[n_info++] = (struct evd_disc_info){ "Bag-Group-Identifier", group };
        }
        tags[n_tags++] = (struct evd_disc_tag){ "items.json", items_json, strlen(items_json) };
        tags[n_tags++] = (struct evd_disc_tag){ HISTORY_FILE, history, history_len };
        if (series)
                tags[n_tags++] = (struct evd_disc_tag){ SERIES_FILE, series, strlen(series) };

        spec.volume_id = volid;
        spec.extraction_time = x->time;
        spec.bagging_time = evd_clock_now(); /* the real signing date, whatever --time says */
        spec.items = ditems;
        spec.n_items = vol->n;
        spec.info = info;
        spec.n_info = n_info;
        spec.tags = tags;
        spec.n_tags = n_tags;
        spec.volume_no = (unsigned)(v + 1); /* "Bag-Count: 1 of 1" on a single disc too */
        spec.volume_count = (unsigned)x->nvol;
        spec.capacity = x->capacity;
        spec.keys = keys;
        spec.progress = on_progress;
        spec.progress_ctx = x;
        spec.cancel = &x->cancel;
        x->cur_vol = v;
        r = evd_request_receive_fd(
                x->req,
                json_pack("{sI sI}", "volume", (json_int_t)v + 1, "volumes", (json_int_t)x->nvol),
                &fd, err);
        if (r == 0)
                r = evd_deliver_check_output(fd, false, vol->path, err);
        if (r == 0)
                r = evd_disc_build_fd(&spec, fd, vol->path, &vol->res, err);
out:
        if (fd >= 0)
                (void)close(fd);
        free(ditems);
        free(items_json);
        free(history);
        return r;
}

/* Give every item its name on the disc of its volume before anything is built: the
 * series index lists them all. */
static int assign_names(struct export *x, struct evd_err *err)
{
        for (size_t v = 0; v < x->nvol; v++) {
                struct volume *vol = &x->vols[v];
                struct evd_disc_item *d = calloc(vol->n ? vol->n : 1, sizeof(*d));
                int r;

                if (!d)
                        return evd_err_set(err, -ENOMEM, "out of memory");
                for (size_t i = 0; i < vol->n; i++) {
                        const struct ex_item *it = &x->items[vol->idx[i]];

                        d[i].recorder = json_string_value(json_object_get(it->item, "recorder"));
                        d[i].name = it->name;
                        d[i].name_len = it->name_len;
                }
                r = evd_disc_assign_names(d, vol->n, err);
                for (size_t i = 0; r == 0 && i < vol->n; i++)
                        memcpy(x->items[vol->idx[i]].disc_path, d[i].disc_path,
                               sizeof(d[i].disc_path));
                free(d);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- registering ---- */

static json_t *volumes_json(const struct export *x)
{
        json_t *vols = json_array();

        for (size_t v = 0; vols && v < x->nvol; v++) {
                const struct volume *vol = &x->vols[v];
                json_t *ids = json_array(), *o;
                char hex[EVD_SHA256_HEX];

                for (size_t i = 0; ids && i < vol->n; i++)
                        if (json_array_append_new(
                                    ids, json_integer((json_int_t)x->items[vol->idx[i]].id)) < 0) {
                                json_decref(ids);
                                ids = NULL;
                        }
                evd_hex(vol->res.sha256, EVD_SHA256_LEN, hex);
                o = ids ? json_pack("{sI ss ss sI ss so}", "volume", (json_int_t)v + 1, "path",
                                    vol->path, "sha256", hex, "size", (json_int_t)vol->res.size,
                                    "volume_id", vol->res.volume_id, "items", ids)
                        : NULL;
                if (!o || json_array_append_new(vols, o) < 0) {
                        json_decref(vols);
                        return NULL;
                }
        }
        return vols;
}

/* The export's audit entry and each item's exports[] entry, in one transaction. */
static int register_export(struct evd_txn *txn, void *p)
{
        struct export *x = p;
        json_t *ids = json_array(), *details = NULL;
        char subject[EVD_LABEL_CASE_MAX + 8];
        int r = 0;

        for (size_t i = 0; ids && i < x->n; i++)
                if (json_array_append_new(ids, json_integer((json_int_t)x->items[i].id)) < 0) {
                        json_decref(ids);
                        ids = NULL;
                }
        if (ids)
                details = json_pack("{ss ss ss ss ss ss* ss* sI so so ss ss*}", "maker", x->maker,
                                    "extractor", x->extractor, "approver", x->approver, "reason",
                                    x->reason, "time", x->time_str, "case", x->case_no, "media",
                                    x->media, "capacity", (json_int_t)x->capacity, "items", ids,
                                    "volumes", volumes_json(x), "purpose", x->disc.purpose,
                                    "security_approver", x->disc.security_approver);
        if (!details || !json_is_array(json_object_get(details, "volumes"))) {
                json_decref(details);
                return -ENOMEM;
        }
        (void)snprintf(subject, sizeof(subject), "%s", x->case_no ? x->case_no : "");
        r = evd_audit_append(txn, x->actor, "export.done", subject, details, &x->audit_seq);
        json_decref(details);
        for (size_t i = 0; r == 0 && i < x->n; i++) {
                const struct ex_item *it = &x->items[i];
                const struct volume *vol = &x->vols[it->volume];
                json_t *item = NULL, *exports, *e;
                const char *case_no;
                char hex[EVD_SHA256_HEX];

                r = evd_catalog_item_get(txn, it->id, &item);
                if (r < 0)
                        return evd_err_set(x->err, r, "item %" PRIu64 " vanished during the export",
                                           it->id);
                if (json_object_get(item, "purged")) {
                        json_decref(item);
                        return evd_err_set(x->err, -ENOENT,
                                           "item %" PRIu64 " was purged during the export", it->id);
                }
                exports = json_object_get(item, "exports");
                if (!json_is_array(exports)) {
                        exports = json_array();
                        (void)json_object_set_new(item, "exports", exports);
                }
                evd_hex(vol->res.sha256, EVD_SHA256_LEN, hex);
                /* the case it went out for: the export's, else the item's own */
                case_no = x->case_no ? x->case_no
                                     : json_string_value(json_object_get(
                                               json_object_get(item, "labels"), "case_no"));
                e = json_pack("{ss ss sI sI ss ss ss ss ss sI ss ss*}", "time", x->time_str,
                              "image_sha256", hex, "volume", (json_int_t)it->volume + 1, "volumes",
                              (json_int_t)x->nvol, "path", vol->path, "disc_path", it->disc_path,
                              "maker", x->maker, "extractor", x->extractor, "approver", x->approver,
                              "audit_seq", (json_int_t)x->audit_seq, "volume_id",
                              vol->res.volume_id, "case_no", case_no);
                r = e && exports ? json_array_append_new(exports, e) : -ENOMEM;
                if (r == 0)
                        r = evd_catalog_item_put(txn, item);
                json_decref(item);
        }
        return r;
}

int evd_cmd_export(void *ud, struct evd_request *req, const json_t *args, json_t **ret,
                   struct evd_err *err)
{
        struct export x = { .s = ud, .req = req, .actor = evd_request_actor(req), .err = err };
        struct evd_keys *keys = NULL;
        char *series = NULL;
        struct evd_txn txn;
        json_t *vols;
        int r;

        evd_station_conf(x.s, &x.conf);
        r = parse_args(&x, args, err);
        if (r < 0)
                return r;
        if (atomic_fetch_add(&x.s->exports_running, 1) >= EXPORTS_MAX) {
                atomic_fetch_sub(&x.s->exports_running, 1);
                return evd_err_set(err, -EBUSY, "%d exports are running already; try again later",
                                   EXPORTS_MAX);
        }
        r = evd_signing_load(&x.conf, &keys, err);
        if (r < 0)
                goto out;
        r = evd_catalog_read_begin(x.s->catalog, &txn);
        if (r < 0) {
                r = evd_err_set(err, r, "catalog: %s", strerror(-r));
                goto out;
        }
        r = load_items(&x, &txn, err);
        evd_catalog_read_end(&txn);
        if (r == 0)
                r = check_time(&x, err);
        if (r < 0)
                goto out;
        r = plan_volumes(&x, tags_estimate(&x), err);
        if (r < 0)
                goto out;
        r = assign_names(&x, err);
        if (r < 0)
                goto out;
        if (x.nvol > 1) {
                series = make_series(&x);
                if (!series) {
                        r = evd_err_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
        }
        for (size_t v = 0; v < x.nvol; v++) {
                r = build_volume(&x, v, keys, series, err);
                if (r < 0)
                        goto out;
        }
        /* A client that hung up has no images to file: nothing is registered. */
        if (evd_request_client_gone(req)) {
                r = evd_err_set(err, -ECONNRESET, "the client went away; nothing is registered");
                goto out;
        }
        r = evd_catalog_write(x.s->catalog, register_export, &x, err);
        if (r < 0)
                goto out;
        vols = volumes_json(&x);
        *ret = vols ? json_pack("{so sI ss ss ss ss ss ss* sI ss}", "volumes", vols, "items",
                                (json_int_t)x.n, "extraction_time", x.time_str, "maker", x.maker,
                                "extractor", x.extractor, "approver", x.approver, "reason",
                                x.reason, "case", x.case_no, "audit_seq", (json_int_t)x.audit_seq,
                                "purpose", x.disc.purpose)
                    : NULL;
        r = *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
out:
        if (r < 0 && !err->code)
                (void)evd_err_set(err, r, "export failed: %s", strerror(-r));
        free(series);
        evd_keys_free(keys);
        export_free(&x);
        atomic_fetch_sub(&x.s->exports_running, 1);
        return r;
}
