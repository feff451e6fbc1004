/* ctl_reports: the results that --format can also turn into CSV or HTML for other
 * programs: the access register (access-log) and the compliance report (report, laid out
 * by ctl_annual.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

#define STR(obj, key) json_string_value(json_object_get((obj), (key)))
#define INT(obj, key) json_integer_value(json_object_get((obj), (key)))

/* ---- access-log ---- */

/* s + sep + add, freeing s (NULL stays NULL on failure). */
static char *join(char *s, const char *sep, const char *add)
{
        char *out = NULL;

        if (asprintf(&out, "%s%s%s", s ? s : "", s ? sep : "", add) < 0)
                out = NULL;
        free(s);
        return out;
}

/* A register row's fields: an export is a copy by its extractor of its items onto
 * its images. Caller decrefs. */
static json_t *access_row(const json_t *e)
{
        const json_t *d = json_object_get(e, "details"), *v;
        char *shas = NULL, *paths = NULL, id[32];
        json_t *row;
        size_t i;

        if (strcmp(STR(e, "event") ?: "", "export.done") != 0) {
                row = json_deep_copy(d);
                if (row) {
                        (void)snprintf(id, sizeof(id), "%lld", INT(d, "id"));
                        (void)json_object_set_new(row, "id", json_string(id));
                }
                return row;
        }
        json_array_foreach(json_object_get(d, "volumes"), i, v)
        {
                shas = join(shas, " ", STR(v, "sha256") ?: "?");
                paths = join(paths, " ", STR(v, "path") ?: "?");
        }
        (void)snprintf(id, sizeof(id), "%zu items", json_array_size(json_object_get(d, "items")));
        row = json_pack("{ss ss* sO* sO* sO* ss* sO*}", "id", id, "sha256", shas, "requester",
                        json_object_get(d, "extractor"), "approver", json_object_get(d, "approver"),
                        "reason", json_object_get(d, "reason"), "copy_to", paths, "purpose",
                        json_object_get(d, "purpose"));
        free(shas);
        free(paths);
        return row;
}

/* What kind of access a register row is: 调阅 (viewed), 复制 (copied), 导出 (exported). */
static const char *access_kind(const json_t *e)
{
        if (strcmp(STR(e, "event") ?: "", "export.done") == 0)
                return "导出";
        return STR(json_object_get(e, "details"), "copy_to") ? "复制" : "调阅";
}

static void access_csv(FILE *out, const json_t *e, const json_t *d)
{
        static const char *const fields[] = { "requester", "approver", "reason", "copy_to" };

        char local[EVD_TIME_LOCAL_STR];

        fprintf(out, "%lld,%s,%s,", INT(e, "seq"), STR(e, "time") ?: "",
                ctl_local_time(STR(e, "time") ?: "", local));
        ctl_put_csv(out, STR(json_object_get(e, "actor"), "name"));
        fprintf(out, ",%s,%s,%s", STR(e, "event") ?: "", STR(d, "id") ?: "?",
                STR(d, "sha256") ?: "");
        for (size_t k = 0; k < EVD_ARRAY_SIZE(fields); k++) {
                fputc(',', out);
                ctl_put_csv(out, STR(d, fields[k]));
        }
        fprintf(out, ",%s,%s\n", access_kind(e), STR(d, "purpose") ?: "internal");
}

static const struct ctl_col access_cols_default[] = {
        { "SEQ", 6, false },    { "TIME", 25, false },      { "OPERATOR", 12, false },
        { "EVENT", 14, false }, { "KIND", 4, false },       { "PURPOSE", 10, false },
        { "ITEM", 6, false },   { "REQUESTER", 16, false }, { "APPROVER", 16, false },
        { "REASON", 0, false },
};

static void access_table(FILE *out, const struct ctl_col *cols, const json_t *e, const json_t *d)
{
        char seq[32], local[EVD_TIME_LOCAL_STR];

        (void)snprintf(seq, sizeof(seq), "%lld", INT(e, "seq"));
        ctl_table_text(out, &cols[0], seq);
        ctl_table_text(out, &cols[1], ctl_local_time(STR(e, "time") ?: "", local));
        ctl_table_cell(out, &cols[2], STR(json_object_get(e, "actor"), "name"));
        ctl_table_text(out, &cols[3], STR(e, "event") ?: "");
        ctl_table_text(out, &cols[4], access_kind(e));
        /* entries from before --purpose were internal use */
        ctl_table_text(out, &cols[5], STR(d, "purpose") ?: "internal");
        ctl_table_text(out, &cols[6], STR(d, "id") ?: "?");
        ctl_table_cell(out, &cols[7], STR(d, "requester"));
        ctl_table_cell(out, &cols[8], STR(d, "approver"));
        ctl_table_cell(out, &cols[9], STR(d, "reason") ?: "");
        fprintf(out, "\n");
}

int ctl_print_access_log(struct ctl *ctx, const json_t *r)
{
        bool csv = ctx->format == CTL_FMT_CSV;
        struct ctl_col access_cols[EVD_ARRAY_SIZE(access_cols_default)];
        size_t i;
        json_t *e;

        memcpy(access_cols, access_cols_default, sizeof(access_cols));
        json_array_foreach(r, i, e)
        {
                json_t *d = access_row(e);

                ctl_table_widen(&access_cols[2], STR(json_object_get(e, "actor"), "name"));
                ctl_table_widen(&access_cols[7], STR(d, "requester"));
                ctl_table_widen(&access_cols[8], STR(d, "approver"));
                json_decref(d);
        }
        if (csv) {
                ctl_csv_begin(ctx->out);
                fprintf(ctx->out, "seq,time,local_time,operator,event,item,sha256,requester,"
                                  "approver,reason,copy_to,kind,purpose\n");
        } else
                ctl_table_head(ctx->out, access_cols, EVD_ARRAY_SIZE(access_cols));
        json_array_foreach(r, i, e)
        {
                json_t *d = access_row(e);

                if (csv)
                        access_csv(ctx->out, e, d);
                else
                        access_table(ctx->out, access_cols, e, d);
                json_decref(d);
        }
        return 0;
}

/* ---- report ---- */

int ctl_print_report(struct ctl *ctx, const json_t *r)
{
        ctl_annual_print(ctx->out, r, ctx->format);
        return 0;
}
