#include "casefile.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "catalog_stage.h"
#include "util.h"

#define KEY_MAX 300 /* "case:" and a case number (label.h: at most 256 bytes) */

int evd_casefile_get(struct evd_txn *txn, const char *case_no, json_t **ret)
{
        char key[KEY_MAX];

        if (evd_snprintf(key, sizeof(key), "case:%s", case_no) < 0)
                return -ENAMETOOLONG;
        return evd_catalog_json_get(txn, EVD_DB_META, key, ret);
}

int evd_casefile_put(struct evd_txn *txn, const json_t *rec)
{
        char key[KEY_MAX];

        if (evd_snprintf(key, sizeof(key), "case:%s",
                         json_string_value(json_object_get(rec, "case_no")) ?: "") < 0)
                return -ENAMETOOLONG;
        return evd_catalog_json_put(txn, EVD_DB_META, key, rec);
}

static int add_unique(json_t *list, const char *s)
{
        const json_t *v;
        size_t i;

        json_array_foreach(list, i, v)
        {
                if (strcmp(json_string_value(v), s) == 0)
                        return 0;
        }
        return json_array_append_new(list, json_string(s)) < 0 ? -ENOMEM : 0;
}

static int by_string(const void *a, const void *b)
{
        return strcmp(json_string_value(*(json_t *const *)a),
                      json_string_value(*(json_t *const *)b));
}

int evd_casefile_each_record(struct evd_txn *txn, int (*each)(const json_t *rec, void *ctx),
                             void *ctx)
{
        MDB_cursor *cur;
        MDB_val k = { 5, (void *)"case:" }, v;
        int rc, r = 0;

        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_META), &cur);
        if (rc)
                return evd_mdb_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
             rc == 0 && r == 0 && k.mv_size > 5 && memcmp(k.mv_data, "case:", 5) == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);

                if (rec && json_string_value(json_object_get(rec, "case_no")))
                        r = each(rec, ctx);
                json_decref(rec);
        }
        mdb_cursor_close(cur);
        return r < 0 ? r : 0;
}

static int add_record(const json_t *rec, void *out)
{
        return add_unique(out, json_string_value(json_object_get(rec, "case_no")));
}

/* The case numbers of the records under "case:" in META. */
static int from_records(struct evd_txn *txn, json_t *out)
{
        return evd_casefile_each_record(txn, add_record, out);
}

/* The case numbers of labelled items: one item per key of the case index. */
static int from_index(struct evd_txn *txn, json_t *out)
{
        MDB_cursor *cur;
        MDB_val k, v;
        int rc, r = 0;

        rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_BY_CASE), &cur);
        if (rc)
                return evd_mdb_errno(rc);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP)) {
                json_t *item = NULL;
                const char *no;

                /* The value is the item's place: (recording time, id), 8 bytes each. */
                if (v.mv_size != 16 ||
                    evd_catalog_item_get(txn, evd_be64_get((const uint8_t *)v.mv_data + 8), &item) <
                            0)
                        continue;
                no = json_string_value(json_object_get(json_object_get(item, "labels"), "case_no"));
                if (no)
                        r = add_unique(out, no);
                json_decref(item);
        }
        mdb_cursor_close(cur);
        return r;
}

int evd_casefile_numbers(struct evd_txn *txn, json_t **ret)
{
        json_t *out = json_array();
        int r = out ? from_records(txn, out) : -ENOMEM;

        if (r == 0)
                r = from_index(txn, out);
        if (r < 0) {
                json_decref(out);
                return r;
        }
        /* Sorted through a vector of the values, then put back. */
        {
                size_t n = json_array_size(out);
                json_t **v = calloc(n ? n : 1, sizeof(json_t *));

                if (!v) {
                        json_decref(out);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < n; i++)
                        v[i] = json_incref(json_array_get(out, i));
                qsort(v, n, sizeof(json_t *), by_string);
                json_array_clear(out);
                for (size_t i = 0; i < n; i++)
                        (void)json_array_append_new(out, v[i]);
                free(v);
        }
        *ret = out;
        return 0;
}

const char *evd_casefile_state(const json_t *rec, int64_t now)
{
        const char *due = json_string_value(json_object_get(rec, "due"));
        struct tm tm = { .tm_isdst = -1 };
        time_t end;

        if (json_is_string(json_object_get(rec, "filed_ref")))
                return "filed";
        if (!due)
                return "open";
        if (evd_calendar_parse_date(due, &tm.tm_year, &tm.tm_mon, &tm.tm_mday) < 0)
                return "closed";
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        tm.tm_mday += 1; /* due by the end of the day */
        end = mktime(&tm);
        return end != (time_t)-1 && now >= (int64_t)end ? "overdue" : "closed";
}

struct clip {
        const json_t *item;
        int64_t start, end;
        const char *stage;
        int lane;
};

static int by_start(const void *a, const void *b)
{
        const struct clip *x = a, *y = b;

        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        if (x->end != y->end) /* then by id: the by_case_stage index's order */
                return x->end < y->end ? -1 : 1;
        return (json_integer_value(json_object_get(x->item, "id")) >
                json_integer_value(json_object_get(y->item, "id"))) -
               (json_integer_value(json_object_get(x->item, "id")) <
                json_integer_value(json_object_get(y->item, "id")));
}

static json_t *time_json(int64_t t)
{
        char buf[EVD_TIME_STR];

        evd_time_format(t, buf);
        return json_string(buf);
}

static bool noted(const json_t *item)
{
        return json_array_size(json_object_get(item, "notes")) > 0;
}

/* The holes within one stage: clips (sorted by start) of that stage. */
static void stage_gaps(const struct clip *c, size_t n, const char *stage, int64_t tolerance,
                       json_t *gaps)
{
        const struct clip *last = NULL; /* the clip reaching furthest so far */

        for (size_t i = 0; i < n; i++) {
                if (!c[i].stage || strcmp(c[i].stage, stage) != 0)
                        continue;
                if (last && c[i].start - last->end > tolerance)
                        (void)json_array_append_new(
                                gaps,
                                json_pack("{ss sO sO so so sI sb}", "stage", stage, "after_id",
                                          json_object_get(last->item, "id"), "before_id",
                                          json_object_get(c[i].item, "id"), "from",
                                          time_json(last->end), "to", time_json(c[i].start),
                                          "seconds", (json_int_t)(c[i].start - last->end),
                                          "explained", noted(last->item) || noted(c[i].item)));
                if (!last || c[i].end > last->end)
                        last = &c[i];
        }
}

json_t *evd_casefile_timeline(const json_t *items, int64_t tolerance)
{
        size_t n = json_array_size(items), m = 0;
        struct clip *c = calloc(n ? n : 1, sizeof(*c));
        int64_t lane_end[64];
        json_t *clips = json_array(), *gaps = json_array(), *stages = json_array(), *out;
        int lanes = 0;

        if (!c || !clips || !gaps || !stages)
                goto fail;
        for (size_t i = 0; i < n; i++) {
                const json_t *it = json_array_get(items, i);
                double dur = json_real_value(
                        json_object_get(json_object_get(it, "media"), "duration_s"));

                if (evd_time_parse(json_string_value(json_object_get(it, "recorded_at")) ?: "",
                                   &c[m].start) < 0)
                        continue;
                c[m].item = it;
                c[m].end = c[m].start + (isfinite(dur) && dur > 0 ? (int64_t)llround(dur) : 0);
                c[m].stage = json_string_value(json_object_get(it, "stage"));
                m++;
        }
        qsort(c, m, sizeof(*c), by_start);
        for (size_t i = 0; i < m; i++) {
                int lane = 0;

                while (lane < lanes && lane_end[lane] > c[i].start)
                        lane++;
                if (lane == lanes && lanes < (int)EVD_ARRAY_SIZE(lane_end))
                        lanes++;
                if (lane == (int)EVD_ARRAY_SIZE(lane_end))
                        lane--; /* past 64 at once they share the last lane */
                lane_end[lane] = c[i].end > c[i].start ? c[i].end : c[i].start + 1;
                c[i].lane = lane;
                (void)json_array_append_new(
                        clips,
                        json_pack("{sO so so sO sO sO si}", "id", json_object_get(c[i].item, "id"),
                                  "start", time_json(c[i].start), "end", time_json(c[i].end),
                                  "stage", json_object_get(c[i].item, "stage") ?: json_null(),
                                  "recorder", json_object_get(c[i].item, "recorder"), "handler",
                                  json_object_get(json_object_get(c[i].item, "labels"), "handler")
                                          ?: json_null(),
                                  "lane", lane));
                if (c[i].stage && add_unique(stages, c[i].stage) < 0)
                        goto fail;
        }
        for (size_t s = 0; s < json_array_size(stages); s++)
                stage_gaps(c, m, json_string_value(json_array_get(stages, s)), tolerance, gaps);
        free(c);
        out = json_pack("{so so so si}", "clips", clips, "gaps", gaps, "stages", stages, "lanes",
                        lanes);
        return out;
fail:
        free(c);
        json_decref(clips);
        json_decref(gaps);
        json_decref(stages);
        return NULL;
}

#define STAGE_GAPS_KEY "stage_gaps"
#define STAGE_INDEX_KEY "stage_index" /* by_case_stage holds every item (catalog_stage.h) */

/* Put case_no's unexplained gaps, worked out again from the index, into all; *changed
 * set when they differ from what all held. */
static int stage_update(struct evd_txn *txn, json_t *all, const char *case_no, int64_t tolerance,
                        bool *changed)
{
        json_t *open = NULL, *had;
        int r = evd_catalog_stage_gaps(txn, case_no, tolerance, &open);

        if (r < 0)
                return r;
        had = json_object_get(all, case_no);
        if (json_array_size(open) == 0 && !had)
                ; /* nothing stored, nothing to store */
        else if (had && json_equal(had, open))
                ;
        else if (json_array_size(open) ? json_object_set(all, case_no, open) < 0
                                       : json_object_del(all, case_no) < 0)
                r = -ENOMEM;
        else
                *changed = true;
        json_decref(open);
        return r;
}

int evd_casefile_stage_recheck(struct evd_txn *txn, const json_t *cases, int64_t tolerance)
{
        json_t *all = NULL, *v;
        const char *no;
        bool changed = false;
        int r = 0;

        if (json_object_size(cases) == 0)
                return 0;
        if (evd_catalog_json_get(txn, EVD_DB_META, STAGE_GAPS_KEY, &all) < 0 ||
            !json_is_object(all)) {
                json_decref(all);
                all = json_object();
        }
        if (!all)
                return -ENOMEM;
        json_object_foreach((json_t *)cases, no, v)
        {
                if (r == 0)
                        r = stage_update(txn, all, no, tolerance, &changed);
        }
        if (r == 0 && changed)
                r = evd_catalog_json_put(txn, EVD_DB_META, STAGE_GAPS_KEY, all);
        json_decref(all);
        return r;
}

int evd_casefile_stage_check(struct evd_txn *txn, const char *case_no, int64_t tolerance)
{
        json_t *one = json_pack("{sb}", case_no, 1);
        int r = one ? evd_casefile_stage_recheck(txn, one, tolerance) : -ENOMEM;

        json_decref(one);
        return r;
}

json_t *evd_casefile_stage_gaps(struct evd_txn *txn)
{
        json_t *all = NULL;

        if (evd_catalog_json_get(txn, EVD_DB_META, STAGE_GAPS_KEY, &all) < 0 ||
            !json_is_object(all)) {
                json_decref(all);
                all = json_object();
        }
        return all;
}

struct stage_ready {
        int64_t tolerance;
};

static int stage_ready_txn(struct evd_txn *txn, void *p)
{
        const struct stage_ready *c = p;
        json_t *have = NULL, *gaps = NULL, *nos = NULL, *set = NULL, *no;
        size_t i;
        int r = 0;

        if (evd_catalog_json_get(txn, EVD_DB_META, STAGE_INDEX_KEY, &have) == 0 &&
            evd_catalog_json_get(txn, EVD_DB_META, STAGE_GAPS_KEY, &gaps) == 0) {
                json_decref(have);
                json_decref(gaps);
                return 0;
        }
        if (!have) { /* items stored before by_case_stage was kept: indexed once */
                r = evd_catalog_stage_build(txn);
                have = json_pack("{si}", "version", 1);
                if (r == 0)
                        r = have ? evd_catalog_json_put(txn, EVD_DB_META, STAGE_INDEX_KEY, have)
                                 : -ENOMEM;
        }
        /* every case's gaps worked out again from the index, from none */
        gaps = json_object();
        set = json_object();
        if (r == 0)
                r = gaps && set ? evd_catalog_json_put(txn, EVD_DB_META, STAGE_GAPS_KEY, gaps)
                                : -ENOMEM;
        if (r == 0)
                r = evd_casefile_numbers(txn, &nos);
        json_array_foreach(nos, i, no)
        {
                if (r == 0 && json_object_set(set, json_string_value(no), json_true()) < 0)
                        r = -ENOMEM;
        }
        if (r == 0)
                r = evd_casefile_stage_recheck(txn, set, c->tolerance);
        json_decref(have);
        json_decref(gaps);
        json_decref(nos);
        json_decref(set);
        return r;
}

int evd_casefile_stage_ready(struct evd_catalog *catalog, int64_t tolerance, struct evd_err *err)
{
        struct stage_ready c = { .tolerance = tolerance };

        return evd_catalog_write(catalog, stage_ready_txn, &c, err);
}
