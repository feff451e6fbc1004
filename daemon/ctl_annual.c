/* ctl_annual: the compliance report for people (ctl.h). Recordings per month and per
 * handler as charts, the months and handlers as tables, the approvers, gaps and alarms;
 * CSV with one header and a section column (month, handler, total, approver,
 * deadline_rule). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "name.h"
#include "util.h"

/* The counters of a month or a handler, as evd_cmd_report names them, with the
 * headings people read. */
struct column {
        const char *key, *zh, *short_en;
        bool months_only; /* not counted per handler */
};

static const struct column counters[] = {
        { "recordings", "存储录像", "rec", false },
        { "on_time", "按时存储", "ontime", false },
        { "late", "逾期存储", "late", false },
        { "unlabelled_overdue", "逾期未标注", "unlab", false },
        { "sequence_gaps", "未说明缺口", "gaps", false },
        { "stage_gaps", "阶段间断", "stgaps", false },
        { "clock_suspect", "时钟存疑", "clock", false },
        { "accesses_view", "调阅", "view", false },
        { "accesses_copy", "复制", "copy", false },
        { "accesses_export", "刻录导出", "export", false },
        { "purges", "到期删除", "purge", false },
        { "holds", "保全冻结", "hold", false },
        { "fixity_alarms", "完整性告警", "alarm", false },
        { "case_files_on_time", "按期立卷", "case_ok", false },
        { "case_files_overdue", "逾期立卷", "case_late", false },
        { "trips", "外出执法", "trips", true },
        { "trips_after_the_fact", "事后补登外出", "trip_late", true },
};

static json_int_t num(const json_t *o, const char *key)
{
        return json_integer_value(json_object_get(o, key));
}

/* ---- escaping ---- */

/* s as display text (ctl_escaped); caller frees. */
static char *shown(const char *s)
{
        return ctl_escaped(s ? s : "", strlen(s ? s : ""));
}

static void put_html(FILE *out, const char *s)
{
        ctl_put_html(out, s ? s : "");
}

/* A CSV field: quoted, quotes doubled; a leading = + - @ gets a quote mark before it
 * so that a spreadsheet takes a hostile name as text, not as a formula. */
static void put_csv(FILE *out, const char *s)
{
        char *safe = shown(s);
        const char *p = safe ? safe : "?";

        fputc('"', out);
        if (*p && strchr("=+-@", *p))
                fputc('\'', out);
        for (; *p; p++) {
                if (*p == '"')
                        fputc('"', out);
                fputc(*p, out);
        }
        fputc('"', out);
        free(safe);
}

/* A time from evidockd in the station's zone (ctl_local_time), as HTML. */
static void put_time(FILE *out, const char *utc)
{
        char buf[EVD_TIME_LOCAL_STR];

        put_html(out, utc ? ctl_local_time(utc, buf) : "-");
}

/* HTML text cut to about columns display columns (an ellipsis when cut): for chart
 * labels; the tables show the whole name. */
static void put_label(FILE *out, const char *s, size_t columns)
{
        size_t len = strlen(s), at = 0, w = 0;
        char *cut;

        while (at < len) {
                uint32_t cp;
                size_t n = evd_name_utf8_next((const unsigned char *)s + at, len - at, &cp);

                n = n ? n : 1;
                w += evd_name_display_width(s + at, n);
                if (w > columns)
                        break;
                at += n;
        }
        cut = at < len ? strndup(s, at) : NULL;
        put_html(out, cut ? cut : s);
        if (cut)
                fputs("…", out);
        free(cut);
}

/* A cell of a terminal table: escaped, padded to width columns (wide characters
 * count two). */
static void put_cell(FILE *out, const char *s, int width)
{
        char *safe = shown(s ? s : "-");
        size_t w = safe ? evd_name_display_width(safe, strlen(safe)) : 1;

        fputs(safe ? safe : "?", out);
        for (; (int)w < width; w++)
                fputc(' ', out);
        fputc(' ', out);
        free(safe);
}

/* ---- table ---- */

static void table_rows(FILE *out, const json_t *list, const char *key, const char *title,
                       bool availability)
{
        const json_t *row;
        size_t i;

        fprintf(out, "%-20s", title);
        for (size_t k = 0; k < EVD_ARRAY_SIZE(counters); k++)
                if (availability || !counters[k].months_only)
                        fprintf(out, " %7s", counters[k].short_en);
        fprintf(out, availability ? " %7s\n" : "\n", "up%");
        json_array_foreach(list, i, row)
        {
                const json_t *v = json_object_get(row, "availability_pct");

                put_cell(out, json_string_value(json_object_get(row, key)) ?: "(none)", 19);
                for (size_t k = 0; k < EVD_ARRAY_SIZE(counters); k++)
                        if (availability || !counters[k].months_only)
                                fprintf(out, " %7lld", (long long)num(row, counters[k].key));
                if (availability && json_is_number(v))
                        fprintf(out, " %7.2f", json_number_value(v));
                else if (availability)
                        fprintf(out, " %7s", "-");
                fputc('\n', out);
        }
}

static void print_table(FILE *out, const json_t *r)
{
        const json_t *row, *period = json_object_get(r, "period");
        char from[EVD_TIME_LOCAL_STR], to[EVD_TIME_LOCAL_STR];
        size_t i;

        fprintf(out, "period %s .. %s (%s)\n\n",
                ctl_local_time(json_string_value(json_object_get(period, "from")) ?: "?", from),
                ctl_local_time(json_string_value(json_object_get(period, "to")) ?: "?", to),
                json_string_value(json_object_get(r, "timezone")) ?: "?");
        table_rows(out, json_object_get(r, "months"), "month", "month", true);
        fputc('\n', out);
        table_rows(out, json_object_get(r, "handlers"), "handler", "handler", false);
        fprintf(out, "\n%-20s %7s %7s %7s %7s %7s %7s %7s\n", "recorder", "items", "on_time",
                "late", "labelled", "unlab", "overdue", "ontime%");
        json_array_foreach(json_object_get(r, "by_recorder"), i, row)
        {
                put_cell(out, json_string_value(json_object_get(row, "recorder")), 19);
                fprintf(out, " %7lld %7lld %7lld %7lld %7lld %7lld %7lld\n",
                        (long long)num(row, "items"), (long long)num(row, "on_time"),
                        (long long)num(row, "late"), (long long)num(row, "labelled"),
                        (long long)num(row, "unlabeled"), (long long)num(row, "overdue"),
                        (long long)num(row, "on_time_pct"));
        }
}

/* ---- CSV: one header, a section column ---- */

static void csv_row(FILE *out, const char *section, const char *name, const json_t *row,
                    bool availability)
{
        const json_t *v = json_object_get(row, "availability_pct");

        fprintf(out, "%s,", section);
        put_csv(out, name ? name : "");
        for (size_t k = 0; k < EVD_ARRAY_SIZE(counters); k++) {
                if (json_object_get(row, counters[k].key))
                        fprintf(out, ",%lld", (long long)num(row, counters[k].key));
                else
                        fputc(',', out);
        }
        if (availability)
                fprintf(out, ",%lld,%lld,", (long long)num(row, "uptime_s"),
                        (long long)num(row, "period_s"));
        else
                fputs(",,,", out);
        if (availability && json_is_number(v))
                fprintf(out, "%.2f", json_number_value(v));
        fputs("\r\n", out);
}

static void print_csv(FILE *out, const json_t *r)
{
        const json_t *row;
        size_t i;

        ctl_csv_begin(out);
        fputs("section,name", out);
        for (size_t k = 0; k < EVD_ARRAY_SIZE(counters); k++)
                fprintf(out, ",%s", counters[k].key);
        fputs(",uptime_s,period_s,availability_pct\r\n", out);
        json_array_foreach(json_object_get(r, "months"), i, row)
        {
                csv_row(out, "month", json_string_value(json_object_get(row, "month")), row, true);
        }
        json_array_foreach(json_object_get(r, "handlers"), i, row)
        {
                csv_row(out, "handler", json_string_value(json_object_get(row, "handler")), row,
                        false);
        }
        csv_row(out, "total", "", json_object_get(r, "totals"), false);
        json_array_foreach(json_object_get(r, "approvers"), i, row)
        {
                csv_row(out, "approver", json_string_value(json_object_get(row, "approver")), row,
                        false);
        }
        json_array_foreach(json_object_get(r, "deadline_rules"), i, row)
        {
                csv_row(out, "deadline_rule", json_string_value(json_object_get(row, "rule")), row,
                        false);
        }
}

/* ---- HTML ---- */

static const char style[] =
        "body{font-family:'Noto Sans CJK SC','Noto Sans SC','Source Han Sans SC',sans-serif;"
        "color:#1d2733;margin:28px auto;max-width:1120px;font-size:14px;line-height:1.45}\n"
        "h1{font-size:26px;margin:0 0 4px;letter-spacing:1px}\n"
        "h2{font-size:17px;margin:22px 0 8px;padding:3px 0 3px 9px;border-left:5px solid #2f5d8a;"
        "background:#eef3f8}\n"
        ".sub{color:#556;margin:0 0 14px}\n"
        ".kpis{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0}\n"
        ".kpi{flex:1 1 120px;border:1px solid #c9d5e2;border-radius:6px;padding:6px 10px}\n"
        ".kpi b{display:block;font-size:22px;color:#2f5d8a}\n"
        ".kpi.bad b{color:#b3261e}\n"
        "table{border-collapse:collapse;width:100%;font-size:12px;margin:4px 0}\n"
        "th,td{border:1px solid #c9d5e2;padding:2px 5px;text-align:right}\n"
        "th{background:#eef3f8;font-weight:600}\n"
        "td.name,th.name{text-align:left;max-width:220px;overflow-wrap:anywhere}\n"
        "tr.total td{font-weight:700;background:#f6f8fa}\n"
        ".charts{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}\n"
        "svg text{font-size:11px;fill:#334}\n"
        ".on_time{fill:#3c8d5a}.late{fill:#c0392b}.undetermined{fill:#9aa5b1}"
        ".avail{fill:#2f5d8a}.axis{stroke:#889;stroke-width:1}\n"
        ".legend span{display:inline-block;width:11px;height:11px;margin:0 4px 0 12px;"
        "vertical-align:-1px}\n"
        ".note{color:#556;font-size:12px}\n"
        "@page{size:A4;margin:12mm}\n"
        "@media print{body{margin:0;max-width:none;font-size:10.5pt}h2{break-after:avoid}"
        "section,table,svg{break-inside:avoid}.kpi{border-color:#999}}\n";

static void html_head(FILE *out, const json_t *r)
{
        const json_t *period = json_object_get(r, "period");
        const json_t *year = json_object_get(r, "year");

        fputs("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\n"
              "<meta name=\"viewport\" content=\"width=device-width\">\n<title>",
              out);
        put_html(out, json_string_value(json_object_get(r, "station")));
        fputs(" 执法音像记录运行报告</title>\n<style>\n", out);
        fputs(style, out);
        fputs("</style></head>\n<body>\n<h1>执法全过程音像记录", out);
        if (year)
                fprintf(out, " %lld 年度",
                        (long long)(json_is_integer(year)
                                            ? json_integer_value(year)
                                            : strtoll(json_string_value(year) ?: "0", NULL, 10)));
        fputs("运行报告</h1>\n<p class=\"sub\">站点：", out);
        put_html(out, json_string_value(json_object_get(r, "station")));
        fputs("　统计期间：", out);
        put_html(out, json_string_value(json_object_get(period, "first_day")));
        fputs(" 至 ", out);
        put_html(out, json_string_value(json_object_get(period, "last_day")));
        fputs("（", out);
        put_html(out, json_string_value(json_object_get(r, "timezone")));
        fputs("）　生成时间：", out);
        put_time(out, json_string_value(json_object_get(r, "generated_at")));
        fputs("</p>\n", out);
}

static void kpi(FILE *out, const char *title, const char *value, bool bad)
{
        fprintf(out, "<div class=\"kpi%s\"><b>%s</b>%s</div>\n", bad ? " bad" : "", value, title);
}

/* The year's availability: the months' uptime over the months' watched time. */
static void html_kpis(FILE *out, const json_t *r)
{
        const json_t *t = json_object_get(r, "totals"), *m;
        json_int_t up = 0, period = 0;
        char v[64];
        size_t i;

        json_array_foreach(json_object_get(r, "months"), i, m)
        {
                up += num(m, "uptime_s");
                period += num(m, "period_s");
        }
        fputs("<section class=\"kpis\">\n", out);
        (void)snprintf(v, sizeof(v), "%lld", (long long)num(t, "recordings"));
        kpi(out, "存储录像", v, false);
        if (num(t, "on_time") + num(t, "late") > 0)
                (void)snprintf(v, sizeof(v), "%.1f%%",
                               100.0 * (double)num(t, "on_time") /
                                       (double)(num(t, "on_time") + num(t, "late")));
        else
                (void)snprintf(v, sizeof(v), "-");
        kpi(out, "按时存储率", v, num(t, "late") > 0);
        (void)snprintf(v, sizeof(v), "%lld", (long long)num(t, "unlabelled_overdue"));
        kpi(out, "逾期未标注", v, num(t, "unlabelled_overdue") > 0);
        (void)snprintf(v, sizeof(v), "%lld", (long long)num(t, "sequence_gaps"));
        kpi(out, "未说明缺口", v, num(t, "sequence_gaps") > 0);
        (void)snprintf(v, sizeof(v), "%lld / %lld / %lld", (long long)num(t, "accesses_view"),
                       (long long)num(t, "accesses_copy"), (long long)num(t, "accesses_export"));
        kpi(out, "调阅 / 复制 / 导出", v, false);
        (void)snprintf(v, sizeof(v), "%lld", (long long)num(t, "fixity_alarms"));
        kpi(out, "完整性告警", v, num(t, "fixity_alarms") > 0);
        if (period > 0)
                (void)snprintf(v, sizeof(v), "%.2f%%", 100.0 * (double)up / (double)period);
        else
                (void)snprintf(v, sizeof(v), "-");
        kpi(out, "站点在线率", v, false);
        fputs("</section>\n", out);
}

/* One bar segment: value at scale (pixels per unit), data-* for whoever checks it. */
static double bar(FILE *out, const char *cls, const char *label, double x, double base, double w,
                  json_int_t value, double scale, bool vertical)
{
        double len = (double)value * scale;

        if (vertical)
                fprintf(out,
                        "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                        "height=\"%.2f\" data-value=\"%lld\" data-label=\"",
                        cls, x, base - len, w, len, (long long)value);
        else
                fprintf(out,
                        "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                        "height=\"%.2f\" data-value=\"%lld\" data-label=\"",
                        cls, base, x, len, w, (long long)value);
        put_html(out, label);
        fputs("\"><title>", out);
        put_html(out, label);
        fprintf(out, " %s %lld</title></rect>\n", cls, (long long)value);
        return len;
}

static json_int_t max_of(const json_t *list, const char *key)
{
        json_int_t m = 0;
        const json_t *row;
        size_t i;

        json_array_foreach(list, i, row)
        {
                if (num(row, key) > m)
                        m = num(row, key);
        }
        return m;
}

/* Recordings per month: a bar each, on time, late and undetermined stacked. */
static void chart_months(FILE *out, const json_t *months)
{
        json_int_t max = max_of(months, "recordings");
        size_t n = json_array_size(months), i;
        double h = CTL_ANNUAL_BAR_MAX, slot = n ? 660.0 / (double)n : 0, top = 18, base = top + h;
        double scale = max ? h / (double)max : 0;
        const json_t *m;

        fprintf(out,
                "<svg class=\"chart\" id=\"chart-months\" width=\"700\" height=\"%.0f\" "
                "viewBox=\"0 0 700 %.0f\" data-max=\"%lld\" data-bar-max=\"%d\" "
                "role=\"img\" aria-label=\"每月存储录像\">\n",
                base + 24, base + 24, (long long)max, CTL_ANNUAL_BAR_MAX);
        fprintf(out, "<line class=\"axis\" x1=\"30\" y1=\"%.2f\" x2=\"695\" y2=\"%.2f\"/>\n", base,
                base);
        fprintf(out, "<text x=\"2\" y=\"%.2f\">%lld</text><text x=\"2\" y=\"%.2f\">0</text>\n",
                top + 4, (long long)max, base);
        json_array_foreach(months, i, m)
        {
                const char *label = json_string_value(json_object_get(m, "month")) ?: "";
                json_int_t rest = num(m, "recordings") - num(m, "on_time") - num(m, "late");
                double x = 34 + (double)i * slot, w = slot * 0.62, y = base;

                y -= bar(out, "on_time", label, x, y, w, num(m, "on_time"), scale, true);
                y -= bar(out, "late", label, x, y, w, num(m, "late"), scale, true);
                y -= bar(out, "undetermined", label, x, y, w, rest > 0 ? rest : 0, scale, true);
                if (num(m, "recordings"))
                        fprintf(out,
                                "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%lld</text>\n",
                                x + w / 2, y - 3, (long long)num(m, "recordings"));
                fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", x + w / 2,
                        base + 15);
                put_html(out, strlen(label) == 7 ? label + 5 : label);
                fputs("月</text>\n", out);
        }
        fputs("</svg>\n", out);
}

/* Station availability per month, in percent of the month watched. */
static void chart_availability(FILE *out, const json_t *months)
{
        size_t n = json_array_size(months), i;
        double h = 100, slot = n ? 330.0 / (double)n : 0, top = 14, base = top + h;
        const json_t *m;

        fprintf(out,
                "<svg class=\"chart\" id=\"chart-availability\" width=\"370\" "
                "height=\"%.0f\" viewBox=\"0 0 370 %.0f\" data-bar-max=\"100\" role=\"img\" "
                "aria-label=\"站点在线率\">\n",
                base + 24, base + 24);
        fprintf(out,
                "<line class=\"axis\" x1=\"30\" y1=\"%.2f\" x2=\"366\" y2=\"%.2f\"/>\n"
                "<text x=\"0\" y=\"%.2f\">100%%</text><text x=\"14\" y=\"%.2f\">0</text>\n",
                base, base, top + 4, base);
        json_array_foreach(months, i, m)
        {
                const json_t *pct = json_object_get(m, "availability_pct");
                const char *label = json_string_value(json_object_get(m, "month")) ?: "";
                double x = 34 + (double)i * slot, w = slot * 0.62, len;

                len = json_is_number(pct) ? json_number_value(pct) : 0;
                fprintf(out,
                        "<rect class=\"avail\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                        "height=\"%.2f\" data-label=\"",
                        x, base - len, w, len);
                put_html(out, label);
                fputs("\" data-value=\"", out);
                if (json_is_number(pct))
                        fprintf(out, "%.2f", json_number_value(pct));
                fputs("\"><title>", out);
                put_html(out, label);
                fputs("</title></rect>\n", out);
                fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", x + w / 2,
                        base + 15);
                put_html(out, strlen(label) == 7 ? label + 5 : label);
                fputs("</text>\n", out);
        }
        fputs("</svg>\n", out);
}

/* A row per handler: recordings on time, late and undetermined side by side. */
static void chart_handlers(FILE *out, const json_t *handlers)
{
        json_int_t max = max_of(handlers, "recordings");
        size_t n = json_array_size(handlers), i;
        double row = 22, left = 200, width = 500, scale = max ? width / (double)max : 0;
        const json_t *h;

        fprintf(out,
                "<svg class=\"chart\" id=\"chart-handlers\" width=\"740\" height=\"%.0f\" "
                "viewBox=\"0 0 740 %.0f\" data-max=\"%lld\" data-bar-max=\"500\" role=\"img\" "
                "aria-label=\"承办人存储录像\">\n",
                (double)n * row + 8, (double)n * row + 8, (long long)max);
        json_array_foreach(handlers, i, h)
        {
                const char *name = json_string_value(json_object_get(h, "handler"));
                json_int_t rest = num(h, "recordings") - num(h, "on_time") - num(h, "late");
                double y = 4 + (double)i * row, x = left;

                fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">", left - 6, y + 13);
                put_label(out, name ? name : "（未指定承办人）", 26);
                fputs("</text>\n", out);
                x += bar(out, "on_time", name ? name : "", y, x, 15, num(h, "on_time"), scale,
                         false);
                x += bar(out, "late", name ? name : "", y, x, 15, num(h, "late"), scale, false);
                x += bar(out, "undetermined", name ? name : "", y, x, 15, rest > 0 ? rest : 0,
                         scale, false);
                fprintf(out, "<text x=\"%.2f\" y=\"%.2f\">%lld</text>\n", x + 4, y + 13,
                        (long long)num(h, "recordings"));
        }
        fputs("</svg>\n", out);
}

static void html_table(FILE *out, const json_t *list, const char *key, const char *title,
                       const json_t *total, bool availability)
{
        const json_t *row;
        size_t i;

        fprintf(out, "<table><tr><th class=\"name\">%s</th>", title);
        for (size_t k = 0; k < EVD_ARRAY_SIZE(counters); k++)
                if (availability || !counters[k].months_only)
                        fprintf(out, "<th>%s</th>", counters[k].zh);
        fputs(availability ? "<th>在线率</th></tr>\n" : "</tr>\n", out);
        for (i = 0; i <= json_array_size(list); i++) {
                const json_t *v;

                row = i < json_array_size(list) ? json_array_get(list, i) : total;
                if (!row)
                        break;
                fputs(row == total ? "<tr class=\"total\"><td class=\"name\">合计"
                                   : "<tr><td class=\"name\">",
                      out);
                if (row != total) {
                        const char *name = json_string_value(json_object_get(row, key));

                        put_html(out, name ? name : "（未指定承办人）");
                }
                fputs("</td>", out);
                for (size_t k = 0; k < EVD_ARRAY_SIZE(counters); k++)
                        if (availability || !counters[k].months_only)
                                fprintf(out, "<td>%lld</td>", (long long)num(row, counters[k].key));
                v = json_object_get(row, "availability_pct");
                if (availability && json_is_number(v))
                        fprintf(out, "<td>%.2f%%</td>", json_number_value(v));
                else if (availability)
                        fputs("<td>-</td>", out);
                fputs("</tr>\n", out);
        }
        fputs("</table>\n", out);
}

static void html_approvers(FILE *out, const json_t *r)
{
        const json_t *row;
        size_t i;

        fputs("<h2>六、调阅、复制与导出的审批（第二十七条）</h2>\n", out);
        if (json_array_size(json_object_get(r, "approvers")) == 0) {
                fputs("<p>本期无调阅、复制或导出。</p>\n", out);
                return;
        }
        fputs("<table><tr><th class=\"name\">审批人</th><th>调阅</th><th>复制</th>"
              "<th>刻录导出</th></tr>\n",
              out);
        json_array_foreach(json_object_get(r, "approvers"), i, row)
        {
                fputs("<tr><td class=\"name\">", out);
                put_html(out, json_string_value(json_object_get(row, "approver")));
                fprintf(out, "</td><td>%lld</td><td>%lld</td><td>%lld</td></tr>\n",
                        (long long)num(row, "accesses_view"), (long long)num(row, "accesses_copy"),
                        (long long)num(row, "accesses_export"));
        }
        fputs("</table>\n", out);
}

/* Trips entered after their first day: the field-work exception claimed afterwards. */
static void html_late_trips(FILE *out, const json_t *trips)
{
        static const char *const keys[] = { "handler_id", "recorder", "from",     "to",
                                            "kind",       "added_at", "added_by", "note" };
        const json_t *t;
        size_t i;

        fputs("<h2>九、事后补登的外出执法（第二十五条第三款）</h2>\n", out);
        if (json_array_size(trips) == 0) {
                fputs("<p>无。</p>\n", out);
                return;
        }
        fputs("<table><tr><th>编号</th><th class=\"name\">承办人编号</th><th class=\"name\">"
              "记录仪</th><th>起</th><th>止</th><th>类型</th><th>登记时间</th>"
              "<th class=\"name\">登记人</th><th class=\"name\">说明</th></tr>\n",
              out);
        json_array_foreach(trips, i, t)
        {
                fprintf(out, "<tr><td>%lld</td>", (long long)num(t, "id"));
                for (size_t k = 0; k < EVD_ARRAY_SIZE(keys); k++) {
                        fputs(k == 2 || k == 3 || k == 4 || k == 5 ? "<td>" : "<td class=\"name\">",
                              out);
                        if (k == 5)
                                put_time(out, json_string_value(json_object_get(t, keys[k])));
                        else
                                put_html(out,
                                         json_string_value(json_object_get(t, keys[k])) ?: "-");
                        fputs("</td>", out);
                }
                fputs("</tr>\n", out);
        }
        fputs("</table>\n", out);
}

static void html_lists(FILE *out, const json_t *r)
{
        const json_t *e;
        size_t i;

        fputs("<h2>七、未说明的文件编号缺口（第七条）</h2>\n", out);
        if (json_array_size(json_object_get(r, "sequence_gaps")) == 0)
                fputs("<p>无。</p>\n", out);
        else
                fputs("<table><tr><th class=\"name\">记录仪</th><th class=\"name\">目录</th>"
                      "<th>缺少编号</th></tr>\n",
                      out);
        json_array_foreach(json_object_get(r, "sequence_gaps"), i, e)
        {
                fputs("<tr><td class=\"name\">", out);
                put_html(out, json_string_value(json_object_get(e, "recorder")));
                fputs("</td><td class=\"name\">", out);
                put_html(out, json_string_value(json_object_get(e, "folder")));
                fprintf(out, "</td><td>%lld–%lld</td></tr>\n", (long long)num(e, "missing_from"),
                        (long long)num(e, "missing_to"));
        }
        if (json_array_size(json_object_get(r, "sequence_gaps")))
                fputs("</table>\n", out);
        fputs("<h2>八、完整性告警（第三十一条第四项）</h2>\n", out);
        if (json_array_size(json_object_get(r, "fixity_alarms")) == 0)
                fputs("<p>无。</p>\n", out);
        json_array_foreach(json_object_get(r, "fixity_alarms"), i, e)
        {
                fputs(i ? "" : "<ul>\n", out);
                fputs("<li>", out);
                put_time(out, json_string_value(json_object_get(e, "time")));
                fputs(" ", out);
                put_html(out, json_string_value(json_object_get(e, "item")));
                fputs("：", out);
                put_html(out, json_string_value(
                                      json_object_get(json_object_get(e, "details"), "error")));
                fputs("</li>\n", out);
        }
        if (json_array_size(json_object_get(r, "fixity_alarms")))
                fputs("</ul>\n", out);
        html_late_trips(out, json_object_get(r, "trips_after_the_fact"));
}

static void print_html(FILE *out, const json_t *r)
{
        html_head(out, r);
        html_kpis(out, r);
        fputs("<h2>一、每月存储录像与站点在线率（第二十五条、第三十条）</h2>\n"
              "<p class=\"legend\"><span class=\"on_time\" style=\"background:#3c8d5a\"></span>"
              "按时存储<span style=\"background:#c0392b\"></span>逾期存储"
              "<span style=\"background:#9aa5b1\"></span>未能判定（无工作日历）"
              "<span style=\"background:#2f5d8a\"></span>在线率</p>\n<div class=\"charts\">\n",
              out);
        chart_months(out, json_object_get(r, "months"));
        chart_availability(out, json_object_get(r, "months"));
        fputs("</div>\n<h2>二、各承办人存储录像</h2>\n", out);
        chart_handlers(out, json_object_get(r, "handlers"));
        fputs("<h2>三、月度明细</h2>\n", out);
        html_table(out, json_object_get(r, "months"), "month", "月份", json_object_get(r, "totals"),
                   true);
        fputs("<h2>四、承办人明细</h2>\n", out);
        html_table(out, json_object_get(r, "handlers"), "handler", "承办人",
                   json_object_get(r, "totals"), false);
        fputs("<h2>五、说明</h2>\n<p class=\"note\">录像按录制时间计入月份，调阅、复制、导出、"
              "删除、保全与告警按发生时间计入月份。按时与逾期依适用的存储期限判定"
              "（第二十五条：制作完成后2个工作日内存储）；逾期未标注指超过期限仍缺案号或当事人的录"
              "像。"
              "时钟存疑指录制时间与编号顺序、登记时间或接入时间相矛盾的录像。在线率依审计日志中"
              "守护进程的启动与停止记录计算，自首次启动起算。案卷按应立卷之日（执法行为终结后30日，"
              "第二十五条）计入月份；外出执法按开始日期计入，事后补登的另列于第九部分。</"
              "p>\n",
              out);
        html_approvers(out, r);
        html_lists(out, r);
        fputs("</body></html>\n", out);
}

void ctl_annual_print(FILE *out, const json_t *r, enum ctl_format format)
{
        if (format == CTL_FMT_CSV)
                print_csv(out, r);
        else if (format == CTL_FMT_HTML)
                print_html(out, r);
        else
                print_table(out, r);
}
