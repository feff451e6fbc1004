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
                { "START", 20, false },  { "END", 20, false },   { "ITEM", 6, true },
                { "LANE", 4, true },     { "STAGE", 14, false }, { "RECORDER", 14, false },
                { "HANDLER", 0, false },
        };
        FILE *out = ctx->out;
        const json_t *c;
        size_t i;

        ctl_table_head(out, cols, EVD_ARRAY_SIZE(cols));
        json_array_foreach(json_object_get(r, "clips"), i, c)
        {
                char n[24], lane[24];

                (void)snprintf(n, sizeof(n), "%lld", INT(c, "id"));
                (void)snprintf(lane, sizeof(lane), "%lld", INT(c, "lane") + 1);
                ctl_table_text(out, &cols[0], STR(c, "start"));
                ctl_table_text(out, &cols[1], STR(c, "end"));
                ctl_table_text(out, &cols[2], n);
                ctl_table_text(out, &cols[3], lane);
                ctl_table_cell(out, &cols[4], STR(c, "stage"));
                ctl_table_cell(out, &cols[5], STR(c, "recorder"));
                ctl_table_cell(out, &cols[6], STR(c, "handler"));
                fprintf(out, "\n");
        }
        json_array_foreach(json_object_get(r, "gaps"), i, c)
        {
                fprintf(out, "%s: %lld s without recording in stage ",
                        json_is_true(json_object_get(c, "explained")) ? "gap (explained)" : "GAP",
                        INT(c, "seconds"));
                ctl_put_safe(STR(c, "stage") ?: "?", out);
                fprintf(out, " between items %lld and %lld (%s to %s)%s\n", INT(c, "after_id"),
                        INT(c, "before_id"), STR(c, "from") ?: "?", STR(c, "to") ?: "?",
                        json_is_true(json_object_get(c, "explained"))
                                ? ""
                                : "; explain with evidockctl note");
        }
        return 0;
}
