/* ctl_cases: how evidockctl prints trips, case files and a case's timeline. */
#include <string.h>

#include "ctl.h"
#include "util.h"

#define STR(obj, key) json_string_value(json_object_get((obj), (key)))
#define INT(obj, key) json_integer_value(json_object_get((obj), (key)))

int ctl_print_trips(struct ctl *ctx, const json_t *r)
{
        static const struct ctl_col cols[] = {
                { "TRIP", 5, true },     { "WHO", 20, false }, { "KIND", 10, false },
                { "FROM", 10, false },   { "TO", 10, false },  { "RETURNED", 10, false },
                { "ENTERED", 0, false },
        };
        FILE *out = ctx->out;
        const json_t *t;
        size_t i;

        ctl_table_head(out, cols, EVD_ARRAY_SIZE(cols));
        json_array_foreach(json_object_get(r, "trips"), i, t)
        {
                char id[24];

                (void)snprintf(id, sizeof(id), "%lld", INT(t, "id"));
                ctl_table_text(out, &cols[0], id);
                ctl_table_cell(out, &cols[1], STR(t, "recorder") ?: STR(t, "handler_id"));
                ctl_table_cell(out, &cols[2], STR(t, "kind"));
                ctl_table_cell(out, &cols[3], STR(t, "from"));
                ctl_table_cell(out, &cols[4], STR(t, "to"));
                ctl_table_cell(out, &cols[5], STR(t, "returned"));
                ctl_table_text(out, &cols[6],
                               json_is_true(json_object_get(t, "after_the_fact")) ? "after the fact"
                                                                                  : "beforehand");
                fprintf(out, "\n");
        }
        return 0;
}

int ctl_print_cases(struct ctl *ctx, const json_t *r)
{
        static const struct ctl_col cols[] = {
                { "CASE", 32, false }, { "STATE", 8, false },    { "ENDED", 10, false },
                { "DUE", 10, false },  { "FILED AS", 0, false },
        };
        FILE *out = ctx->out;
        const json_t *c;
        size_t i;

        ctl_table_head(out, cols, EVD_ARRAY_SIZE(cols));
        json_array_foreach(json_object_get(r, "cases"), i, c)
        {
                ctl_table_cell(out, &cols[0], STR(c, "case_no"));
                ctl_table_cell(out, &cols[1], STR(c, "state"));
                ctl_table_cell(out, &cols[2], STR(c, "ended"));
                ctl_table_cell(out, &cols[3], STR(c, "due"));
                ctl_table_cell(out, &cols[4], STR(c, "filed_ref"));
                fprintf(out, "\n");
        }
        return 0;
}

/* One row a clip, indented by its lane so that clips filmed at once sit side by side;
 * then the holes. */
int ctl_print_timeline(struct ctl *ctx, const json_t *r)
{
        static const struct ctl_col cols[] = {
                { "START", 25, false },  { "END", 25, false },   { "ITEM", 6, true },
                { "LANE", 4, true },     { "STAGE", 14, false }, { "RECORDER", 14, false },
                { "HANDLER", 0, false },
        };
        FILE *out = ctx->out;
        const json_t *c;
        size_t i;

        ctl_table_head(out, cols, EVD_ARRAY_SIZE(cols));
        json_array_foreach(json_object_get(r, "clips"), i, c)
        {
                char n[24], lane[24], start[EVD_TIME_LOCAL_STR], end[EVD_TIME_LOCAL_STR];

                (void)snprintf(n, sizeof(n), "%lld", INT(c, "id"));
                (void)snprintf(lane, sizeof(lane), "%lld", INT(c, "lane") + 1);
                ctl_table_text(out, &cols[0], ctl_local_time(STR(c, "start") ?: "?", start));
                ctl_table_text(out, &cols[1], ctl_local_time(STR(c, "end") ?: "?", end));
                ctl_table_text(out, &cols[2], n);
                ctl_table_text(out, &cols[3], lane);
                ctl_table_cell(out, &cols[4], STR(c, "stage"));
                ctl_table_cell(out, &cols[5], STR(c, "recorder"));
                ctl_table_cell(out, &cols[6], STR(c, "handler"));
                fprintf(out, "\n");
        }
        json_array_foreach(json_object_get(r, "gaps"), i, c)
        {
                char from[EVD_TIME_LOCAL_STR], to[EVD_TIME_LOCAL_STR];

                fprintf(out, "%s: %lld s without recording in stage ",
                        json_is_true(json_object_get(c, "explained")) ? "gap (explained)" : "GAP",
                        INT(c, "seconds"));
                ctl_put_safe(STR(c, "stage") ?: "?", out);
                fprintf(out, " between items %lld and %lld (%s to %s)%s\n", INT(c, "after_id"),
                        INT(c, "before_id"), ctl_local_time(STR(c, "from") ?: "?", from),
                        ctl_local_time(STR(c, "to") ?: "?", to),
                        json_is_true(json_object_get(c, "explained"))
                                ? ""
                                : "; explain with evidockctl note");
        }
        return 0;
}

/* A time of the reply in the station's zone (the client's helper), "-" when none. */
static void put_time(FILE *out, const char *utc)
{
        char local[EVD_TIME_LOCAL_STR];

        ctl_put_safe(utc ? ctl_local_time(utc, local) : "-", out);
}

/* One line an item: id, recording time, recorder, handler, party, stage and its marks. */
static void put_case_item(FILE *out, const json_t *it)
{
        const json_t *labels = json_object_get(it, "labels");

        fprintf(out, "  item %lld  ", INT(it, "id"));
        put_time(out, STR(it, "recorded_at"));
        fputs("  ", out);
        ctl_put_safe(STR(it, "recorder") ?: "?", out);
        fputs("  handler ", out);
        ctl_put_safe(STR(labels, "handler") ?: "-", out);
        fputs("  party ", out);
        ctl_put_safe(STR(labels, "party") ?: "-", out);
        fputs("  stage ", out);
        ctl_put_safe(STR(it, "stage") ?: "-", out);
        if (STR(it, "deadline_rule")) {
                fputs("  (", out);
                ctl_put_safe(STR(it, "deadline_rule"), out);
                fputs(")", out);
        }
        fprintf(out, "%s%s%s%s%s%s\n", json_is_true(json_object_get(it, "late")) ? "  late" : "",
                json_is_true(json_object_get(it, "label_late")) ? "  labelled late" : "",
                json_is_true(json_object_get(it, "hold")) ? "  held" : "",
                json_is_true(json_object_get(it, "evidence")) ? "  evidence" : "",
                json_is_true(json_object_get(it, "secret")) ? "  secret" : "",
                json_object_get(it, "purged") ? "  purged" : "");
}

/* One line an access: when, which item, who asked, who approved, why. */
static void put_case_access(FILE *out, const json_t *e)
{
        const json_t *d = json_object_get(e, "details");

        fputs("  ", out);
        put_time(out, STR(e, "time"));
        fprintf(out, "  item %lld  requester ", INT(d, "id"));
        ctl_put_safe(STR(d, "requester") ?: "-", out);
        fputs("  approver ", out);
        ctl_put_safe(STR(d, "approver") ?: "-", out);
        fputs("  reason ", out);
        ctl_put_safe(STR(d, "reason") ?: "-", out);
        if (STR(d, "copy_to")) {
                fputs("  copied to ", out);
                ctl_put_safe(STR(d, "copy_to"), out);
        }
        if (STR(d, "purpose")) {
                fputs("  purpose ", out);
                ctl_put_safe(STR(d, "purpose"), out);
        }
        fputs("\n", out);
}

/* case show for people: the file's state, then its items, holds, accesses, exports and
 * the holes in its coverage one line each (--json gives the reply as it is). */
int ctl_print_case_show(struct ctl *ctx, const json_t *r)
{
        static const char *const head[] = { "case_no",   "state",    "ended",      "due",
                                            "filed_ref", "filed_at", "disc_export" };
        FILE *out = ctx->out;
        const json_t *v;
        size_t i;

        for (i = 0; i < EVD_ARRAY_SIZE(head); i++) {
                fprintf(out, "%s: ", head[i]);
                if (strcmp(head[i], "filed_at") == 0)
                        put_time(out, STR(r, head[i]));
                else
                        ctl_put_safe(STR(r, head[i]) ?: "-", out);
                fputs("\n", out);
        }
        fprintf(out, "items: %zu\n", json_array_size(json_object_get(r, "items")));
        json_array_foreach(json_object_get(r, "items"), i, v)
        {
                put_case_item(out, v);
        }
        fputs("holds:", out);
        json_array_foreach(json_object_get(r, "holds"), i, v)
        {
                fprintf(out, " %lld", (long long)json_integer_value(v));
        }
        fputs(json_array_size(json_object_get(r, "holds")) ? "\n" : " none\n", out);
        fprintf(out, "accesses: %zu\n", json_array_size(json_object_get(r, "accesses")));
        json_array_foreach(json_object_get(r, "accesses"), i, v)
        {
                put_case_access(out, v);
        }
        json_array_foreach(json_object_get(r, "exports"), i, v)
        {
                fputs("export: ", out);
                ctl_put_safe(STR(v, "path") ?: "?", out);
                fputs("  ", out);
                put_time(out, STR(v, "time"));
                fprintf(out, "  %s\n",
                        json_is_true(json_object_get(v, "verifies")) ? "verifies"
                        : json_is_true(json_object_get(v, "exists")) ? "FAILS"
                                                                     : "MISSING");
        }
        fputs("missing stages:", out);
        json_array_foreach(json_object_get(r, "missing_stages"), i, v)
        {
                fputs(" ", out);
                ctl_put_safe(json_string_value(v) ?: "?", out);
        }
        fputs(json_array_size(json_object_get(r, "missing_stages")) ? "\n" : " none\n", out);
        json_array_foreach(json_object_get(r, "stage_gaps"), i, v)
        {
                fprintf(out, "%s: %lld s without recording in stage ",
                        json_is_true(json_object_get(v, "explained")) ? "gap (explained)" : "GAP",
                        INT(v, "seconds"));
                ctl_put_safe(STR(v, "stage") ?: "?", out);
                fprintf(out, " between items %lld and %lld\n", INT(v, "after_id"),
                        INT(v, "before_id"));
        }
        return 0;
}
