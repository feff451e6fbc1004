#include "sequence.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define NUMBER_MAX 1000000000L

struct clip {
        uint64_t id;
        char *folder;
        long number;
        int64_t recorded;
        bool noted, suspect;
};

struct collect {
        regex_t re;
        struct clip *clips;
        size_t n, cap;
        int r;
};

static int collect_clip(json_t *item, void *p)
{
        struct collect *c = p;
        const char *path = json_string_value(json_object_get(item, "original_path"));
        const char *base;
        regmatch_t m[2];
        char digits[16];
        size_t len;

        if (!path || json_object_get(item, "purged"))
                return 0;
        base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        if (regexec(&c->re, base, 2, m, 0) != 0 || m[1].rm_so < 0)
                return 0;
        len = (size_t)(m[1].rm_eo - m[1].rm_so);
        if (len == 0 || len >= sizeof(digits))
                return 0;
        memcpy(digits, base + m[1].rm_so, len);
        digits[len] = '\0';
        if (strspn(digits, "0123456789") != len)
                return 0;
        if (c->n == c->cap) {
                size_t cap = c->cap ? 2 * c->cap : 64;
                struct clip *more = realloc(c->clips, cap * sizeof(*more));

                if (!more)
                        return -ENOMEM;
                c->clips = more;
                c->cap = cap;
        }
        c->clips[c->n] = (struct clip){
                .id = (uint64_t)json_integer_value(json_object_get(item, "id")),
                .folder = strndup(path, (size_t)(base - path)),
                .number = strtol(digits, NULL, 10),
                .noted = json_array_size(json_object_get(item, "notes")) > 0,
                .suspect = json_is_true(json_object_get(item, "clock_suspect")),
        };
        (void)evd_time_parse(json_string_value(json_object_get(item, "recorded_at")) ?: "",
                             &c->clips[c->n].recorded);
        if (!c->clips[c->n].folder)
                return -ENOMEM;
        c->n++;
        return 0;
}

static int by_folder_number(const void *a, const void *b)
{
        const struct clip *x = a, *y = b;
        int f = strcmp(x->folder, y->folder);

        if (f)
                return f;
        return (x->number > y->number) - (x->number < y->number);
}

/* Set item id's "sequence_gaps" to gaps (borrowed); audit when it changed. */
static int flag_item(struct evd_txn *txn, uint64_t id, json_t *gaps, const struct evd_actor *actor)
{
        json_t *item = NULL, *details, *old;
        char subject[EVD_AUDIT_SUBJECT_MAX];
        int r;

        r = evd_catalog_item_get(txn, id, &item);
        if (r < 0)
                return r;
        old = json_object_get(item, "sequence_gaps");
        if (old ? json_equal(old, gaps) : json_array_size(gaps) == 0) {
                json_decref(item);
                return 0;
        }
        (void)json_object_set(item, "sequence_gaps", gaps);
        r = evd_catalog_item_put(txn, item);
        details = json_pack("{sI sO}", "id", (json_int_t)id, "sequence_gaps", gaps);
        evd_audit_item_subject(subject, id);
        if (r == 0)
                r = evd_audit_append(txn, actor, "item.sequence_gap", subject, details, NULL);
        json_decref(details);
        json_decref(item);
        return r;
}

static int mark_suspect(struct evd_txn *txn, uint64_t id, uint64_t previous,
                        const struct evd_actor *actor)
{
        json_t *item = NULL, *details;
        char subject[EVD_AUDIT_SUBJECT_MAX];
        int r;

        r = evd_catalog_item_get(txn, id, &item);
        if (r < 0)
                return r;
        (void)json_object_set_new(item, "clock_suspect", json_true());
        r = evd_catalog_item_put(txn, item);
        details = json_pack("{sI ss sI}", "id", (json_int_t)id, "reason",
                            "recorded before the clip numbered ahead of it", "previous_id",
                            (json_int_t)previous);
        evd_audit_item_subject(subject, id);
        if (r == 0)
                r = evd_audit_append(txn, actor, "item.clock_suspect", subject, details, NULL);
        json_decref(details);
        json_decref(item);
        return r;
}

int evd_sequence_check(struct evd_txn *txn, const char *recorder, const char *pattern,
                       const struct evd_actor *actor, int *ret_gaps)
{
        struct evd_item_filter f = { .recorder = recorder };
        struct collect c = { 0 };
        json_t *all = NULL, *mine, *per_item;
        int gaps = 0, r;

        if (!pattern[0])
                return 0;
        if (regcomp(&c.re, pattern, REG_EXTENDED) != 0)
                return -EINVAL;
        per_item = json_object();
        mine = json_array();
        r = per_item && mine ? evd_catalog_items_each(txn, &f, collect_clip, &c) : -ENOMEM;
        if (r < 0)
                goto out;
        if (c.n > 1)
                qsort(c.clips, c.n, sizeof(*c.clips), by_folder_number);
        for (size_t i = 0; i < c.n; i++) {
                char key[32];

                (void)snprintf(key, sizeof(key), "%llu", (unsigned long long)c.clips[i].id);
                (void)json_object_set_new(per_item, key, json_array());
        }
        for (size_t i = 1; i < c.n; i++) {
                struct clip *a = &c.clips[i - 1], *b = &c.clips[i];
                char ka[32], kb[32];
                json_t *gap;

                if (strcmp(a->folder, b->folder) != 0 || b->number - a->number <= 1 ||
                    b->number - a->number > NUMBER_MAX)
                        continue;
                gaps++;
                gap = json_pack("{ss ss sI sI sI sI sb}", "recorder", recorder, "folder", a->folder,
                                "missing_from", (json_int_t)a->number + 1, "missing_to",
                                (json_int_t)b->number - 1, "before_id", (json_int_t)a->id,
                                "after_id", (json_int_t)b->id, "explained", a->noted || b->noted);
                (void)snprintf(ka, sizeof(ka), "%llu", (unsigned long long)a->id);
                (void)snprintf(kb, sizeof(kb), "%llu", (unsigned long long)b->id);
                (void)json_array_append(json_object_get(per_item, ka), gap);
                (void)json_array_append(json_object_get(per_item, kb), gap);
                (void)json_array_append_new(mine, gap);
        }
        /* A clip numbered after another but recorded well before it: one of the two
         * clocks was wrong (第七条: device clocks are calibrated). */
        for (size_t i = 1; i < c.n; i++) {
                struct clip *a = &c.clips[i - 1], *b = &c.clips[i];

                if (strcmp(a->folder, b->folder) == 0 && !b->suspect &&
                    b->recorded + EVD_SEQUENCE_CLOCK_BACK < a->recorded) {
                        r = mark_suspect(txn, b->id, a->id, actor);
                        if (r < 0)
                                goto out;
                }
        }
        {
                const char *key;
                json_t *list;

                json_object_foreach(per_item, key, list)
                {
                        r = flag_item(txn, strtoull(key, NULL, 10), list, actor);
                        if (r < 0)
                                goto out;
                }
        }
        if (evd_catalog_json_get(txn, EVD_DB_META, "sequence_gaps", &all) < 0)
                all = json_object();
        r = all ? 0 : -ENOMEM;
        if (r == 0) {
                (void)json_object_set(all, recorder, mine);
                r = evd_catalog_json_put(txn, EVD_DB_META, "sequence_gaps", all);
        }
        if (r == 0 && ret_gaps)
                *ret_gaps = gaps;
out:
        for (size_t i = 0; i < c.n; i++)
                free(c.clips[i].folder);
        free(c.clips);
        regfree(&c.re);
        json_decref(all);
        json_decref(mine);
        json_decref(per_item);
        return r;
}

json_t *evd_sequence_unexplained(struct evd_txn *txn)
{
        json_t *all = NULL, *out = json_array(), *list, *gap;
        const char *recorder;
        size_t i;

        if (!out || evd_catalog_json_get(txn, EVD_DB_META, "sequence_gaps", &all) < 0)
                return out;
        json_object_foreach(all, recorder, list)
        {
                json_array_foreach(list, i, gap)
                {
                        if (!json_is_true(json_object_get(gap, "explained")))
                                (void)json_array_append(out, gap);
                }
        }
        json_decref(all);
        return out;
}
