#include "catalog_stage.h"
#include "catalog_internal.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define PREFIX_LEN 32  /* sha256 of the case number */
#define STAGE_MAX 400  /* bytes of a stage in a key (LMDB keys: at most 511) */
#define STAGES_MAX 256 /* stages of one case worked out */

/* The key of (case_no, stage) into key; its length, or 0 when the stage is too long. */
static size_t make_key(const char *case_no, const char *stage, uint8_t key[PREFIX_LEN + STAGE_MAX])
{
        size_t len = stage ? strnlen(stage, STAGE_MAX + 1) : 0;

        if (len > STAGE_MAX)
                return 0;
        (void)EVP_Digest(case_no, strlen(case_no), key, NULL, EVP_sha256(), NULL);
        memcpy(key + PREFIX_LEN, stage, len);
        return PREFIX_LEN + len;
}

int evd_catalog_stage_index(struct evd_txn *txn, const json_t *item, uint64_t id, bool del)
{
        const char *no =
                json_string_value(json_object_get(json_object_get(item, "labels"), "case_no"));
        const char *stage = json_string_value(json_object_get(item, "stage"));
        const char *rec = json_string_value(json_object_get(item, "recorded_at"));
        double dur = json_real_value(json_object_get(json_object_get(item, "media"), "duration_s"));
        uint8_t key[PREFIX_LEN + STAGE_MAX], val[EVD_CATALOG_STAGE_VAL_LEN],
                end[EVD_CATALOG_POS_LEN];
        MDB_val k = { 0, key }, v = { sizeof(val), val };
        int64_t start;

        if (!no || !no[0] || !stage || !rec || evd_time_parse(rec, &start) < 0 ||
            (k.mv_size = make_key(no, stage, key)) == 0)
                return 0;
        evd_catalog_pos_put(val, start, id); /* start, then the id after end */
        evd_catalog_pos_put(end, start + (isfinite(dur) && dur > 0 ? (int64_t)llround(dur) : 0), 0);
        memcpy(val + 16, val + 8, 8);
        memcpy(val + 8, end, 8);
        val[24] = json_array_size(json_object_get(item, "notes")) > 0;
        return del ? evd_txn_del(txn, EVD_DB_BY_CASE_STAGE, &k, &v)
                   : evd_txn_put(txn, EVD_DB_BY_CASE_STAGE, &k, &v, 0);
}

static int index_one(json_t *item, void *txn)
{
        return evd_catalog_stage_index(
                txn, item, (uint64_t)json_integer_value(json_object_get(item, "id")), false);
}

int evd_catalog_stage_build(struct evd_txn *txn)
{
        struct evd_item_filter all = { 0 };

        return evd_catalog_items_each(txn, &all, index_one, txn);
}

static json_t *time_json(int64_t t)
{
        char buf[EVD_TIME_STR];

        evd_time_format(t, buf);
        return json_string(buf);
}

static int64_t val_time(const uint8_t *p)
{
        return evd_catalog_pos_time(p);
}

/* One stage's clips (the values under its key, in order, the cursor on the first): its
 * unexplained gaps into gaps, as evd_casefile_timeline finds them (casefile.c). */
static int stage_walk(MDB_cursor *cur, MDB_val *k, MDB_val *v, const char *stage, int64_t tolerance,
                      json_t *gaps)
{
        const uint8_t *last = NULL; /* the clip reaching furthest so far */
        int rc;

        for (rc = 0; rc == 0; rc = mdb_cursor_get(cur, k, v, MDB_NEXT_DUP)) {
                const uint8_t *c = v->mv_data;
                int64_t start, last_end;

                if (v->mv_size != EVD_CATALOG_STAGE_VAL_LEN)
                        return -EBADMSG;
                start = val_time(c);
                last_end = last ? val_time(last + 8) : 0;
                if (last && start - last_end > tolerance && !last[24] && !c[24] &&
                    json_array_append_new(
                            gaps, json_pack("{ss sI sI so so sI sb}", "stage", stage, "after_id",
                                            (json_int_t)evd_be64_get(last + 16), "before_id",
                                            (json_int_t)evd_be64_get(c + 16), "from",
                                            time_json(last_end), "to", time_json(start), "seconds",
                                            (json_int_t)(start - last_end), "explained", 0)) < 0)
                        return -ENOMEM;
                if (!last || val_time(c + 8) > last_end)
                        last = c;
        }
        return rc == MDB_NOTFOUND ? 0 : evd_mdb_errno(rc);
}

struct stage_list {
        uint8_t first[EVD_CATALOG_STAGE_VAL_LEN];
        json_t *gaps;
};

static int by_first(const void *a, const void *b)
{
        return memcmp(((const struct stage_list *)a)->first, ((const struct stage_list *)b)->first,
                      EVD_CATALOG_STAGE_VAL_LEN);
}

int evd_catalog_stage_gaps(struct evd_txn *txn, const char *case_no, int64_t tolerance,
                           json_t **ret)
{
        uint8_t key[PREFIX_LEN + STAGE_MAX], prefix[PREFIX_LEN];
        struct stage_list *s = calloc(STAGES_MAX, sizeof(*s));
        json_t *out = json_array();
        MDB_cursor *cur = NULL;
        MDB_val k = { make_key(case_no, "", key), key }, v;
        size_t n = 0;
        int rc, r = s && out ? 0 : -ENOMEM;

        memcpy(prefix, key, PREFIX_LEN);
        if (r == 0 &&
            (rc = mdb_cursor_open(txn->txn, evd_txn_dbi(txn, EVD_DB_BY_CASE_STAGE), &cur)))
                r = evd_mdb_errno(rc);
        for (rc = r == 0 ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : MDB_NOTFOUND;
             r == 0 && rc == 0 && k.mv_size >= PREFIX_LEN &&
             memcmp(k.mv_data, prefix, PREFIX_LEN) == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP)) {
                char stage[STAGE_MAX + 1];

                if (n == STAGES_MAX || v.mv_size != EVD_CATALOG_STAGE_VAL_LEN) {
                        r = -EBADMSG;
                        break;
                }
                memcpy(stage, (const char *)k.mv_data + PREFIX_LEN, k.mv_size - PREFIX_LEN);
                stage[k.mv_size - PREFIX_LEN] = '\0';
                memcpy(s[n].first, v.mv_data, EVD_CATALOG_STAGE_VAL_LEN);
                s[n].gaps = json_array();
                r = s[n].gaps ? stage_walk(cur, &k, &v, stage, tolerance, s[n].gaps) : -ENOMEM;
                n++;
        }
        if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
                r = evd_mdb_errno(rc);
        if (cur)
                mdb_cursor_close(cur);
        /* The timeline lists the stages in the order of their first clip. */
        if (s)
                qsort(s, n, sizeof(*s), by_first);
        for (size_t i = 0; i < n; i++) {
                if (r == 0 && json_array_extend(out, s[i].gaps) < 0)
                        r = -ENOMEM;
                json_decref(s[i].gaps);
        }
        free(s);
        if (r < 0) {
                json_decref(out);
                return r;
        }
        *ret = out;
        return 0;
}
