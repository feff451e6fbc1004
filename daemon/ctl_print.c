/* ctl_print: evidockctl's output primitives: escaped strings, paths from their exact
 * bytes, JSON values, CSV and HTML fields, sizes, and the one table printer. */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "name.h"
#include "util.h"

/* Characters that reorder or break a line on a terminal without being controls: the
 * bidirectional embeddings, overrides and isolates, and the line and paragraph
 * separators. */
static bool reorders(uint32_t cp)
{
        return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 ||
               cp == 0x2029;
}

/* evd_name_escape's display form (controls escaped), with what reorders a line
 * written as "\u202E" too. Caller frees. */
char *ctl_escaped(const char *s, size_t len)
{
        size_t cap = EVD_NAME_ESCAPED_MAX(len) + 4, o = 0;
        char *buf = malloc(cap), *out = malloc(2 * cap);
        const unsigned char *p = (const unsigned char *)buf;

        if (!buf || !out) {
                free(buf);
                free(out);
                return NULL;
        }
        (void)evd_name_escape(s, len, buf, cap);
        for (size_t i = 0, n = strlen(buf); i < n;) {
                uint32_t cp;
                size_t k = evd_name_utf8_next(p + i, n - i, &cp);

                if (k == 3 && reorders(cp)) { /* 3 bytes become 6 characters */
                        o += (size_t)snprintf(out + o, 2 * cap - o, "\\u%04X", (unsigned)cp);
                        i += k;
                        continue;
                }
                for (k = k ? k : 1; k > 0; k--)
                        out[o++] = buf[i++];
        }
        out[o] = '\0';
        free(buf);
        return out;
}

void ctl_put_safe(const char *s, FILE *out)
{
        char *buf = ctl_escaped(s, strlen(s));

        if (buf)
                fputs(buf, out);
        free(buf);
}

void ctl_put_path(const json_t *obj, const char *key, FILE *out)
{
        char b64key[64];
        const char *b64;
        uint8_t *raw;
        size_t len;

        (void)snprintf(b64key, sizeof(b64key), "%s_b64", key);
        b64 = json_string_value(json_object_get(obj, b64key));
        if (b64 && evd_b64_decode(b64, &raw, &len) == 0) {
                char *buf = ctl_escaped((const char *)raw, len);

                if (buf)
                        fputs(buf, out);
                free(buf);
                free(raw);
                return;
        }
        ctl_put_safe(json_string_value(json_object_get(obj, key)) ?: "", out);
}

/* JSON text as jansson wrote it (UTF-8, C0 controls already escaped), with what could
 * still move a terminal's cursor or reorder a line escaped too: DEL, C1 controls and
 * the bidirectional overrides. Chinese is shown as typed. */
static void put_json_text(FILE *out, const char *text)
{
        const unsigned char *p = (const unsigned char *)text;
        size_t len = strlen(text);

        for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t n = evd_name_utf8_next(p + i, len - i, &cp);

                if (n == 0) { /* jansson writes valid UTF-8 only */
                        fprintf(out, "\\x%02X", p[i]);
                        i++;
                        continue;
                }
                if (cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || reorders(cp))
                        fprintf(out, "\\u%04X", (unsigned)cp);
                else
                        (void)fwrite(p + i, 1, n, out);
                i += n;
        }
}

const char *ctl_local_time(const char *utc, char buf[EVD_TIME_LOCAL_STR])
{
        int64_t t;

        if (!utc || strlen(utc) != 20 || utc[19] != 'Z' || evd_time_parse(utc, &t) < 0)
                return utc;
        evd_time_format_local(t, buf);
        return buf;
}

void ctl_put_value(const json_t *v, FILE *out)
{
        char *text;

        if (json_is_string(v)) {
                ctl_put_safe(json_string_value(v), out);
                return;
        }
        if (json_is_null(v) || !v) {
                fputs("-", out);
                return;
        }
        text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text)
                put_json_text(out, text);
        free(text);
}

/* Whether v is a list of objects only (shown as a list of field blocks). */
static bool list_of_objects(const json_t *v)
{
        const json_t *e;
        size_t i;

        if (!json_is_array(v) || json_array_size(v) == 0)
                return false;
        json_array_foreach(v, i, e)
        {
                if (!json_is_object(e))
                        return false;
        }
        return true;
}

static void put_fields(FILE *out, const json_t *obj, int indent, bool dash);

/* One field's value after "key: ": times local, names escaped, objects and lists of
 * objects as indented blocks, the rest as compact JSON. */
static void put_field_value(FILE *out, const json_t *obj, const char *key, const json_t *v,
                            int indent)
{
        if (json_is_string(v)) {
                char local[EVD_TIME_LOCAL_STR];
                const char *t = json_string_value(v);

                if (ctl_local_time(t, local) != t)
                        fputs(local, out);
                else
                        ctl_put_path(obj, key, out);
                fputc('\n', out);
                return;
        }
        if (json_is_object(v) && json_object_size(v) > 0) {
                fputc('\n', out);
                put_fields(out, v, indent + 2, false);
                return;
        }
        if (list_of_objects(v)) {
                const json_t *e;
                size_t i;

                fputc('\n', out);
                json_array_foreach(v, i, e)
                {
                        put_fields(out, e, indent + 4, true);
                }
                return;
        }
        ctl_put_value(v, out);
        fputc('\n', out);
}

/* obj's fields at indent; dash: the first one after "- " (an element of a list). */
static void put_fields(FILE *out, const json_t *obj, int indent, bool dash)
{
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)obj, key, v)
        {
                size_t klen = strlen(key);

                if (klen > 4 && strcmp(key + klen - 4, "_b64") == 0)
                        continue; /* shown through the field it belongs to */
                if (dash)
                        fprintf(out, "%*s- %s: ", indent - 2, "", key);
                else
                        fprintf(out, "%*s%s: ", indent, "", key);
                dash = false;
                put_field_value(out, obj, key, v, indent);
        }
}

void ctl_put_fields(FILE *out, const json_t *obj, int indent)
{
        put_fields(out, obj, indent, false);
}

void ctl_csv_begin(FILE *out)
{
        fputs("\xEF\xBB\xBF", out);
}

void ctl_put_csv(FILE *out, const char *s)
{
        char *safe = ctl_escaped(s ? s : "", strlen(s ? s : ""));

        fputc('"', out);
        for (const char *p = safe ? safe : ""; *p; p++) {
                if (*p == '"')
                        fputc('"', out);
                fputc(*p, out);
        }
        fputc('"', out);
        free(safe);
}

void ctl_put_html(FILE *out, const char *s)
{
        char *safe = ctl_escaped(s ? s : "", strlen(s ? s : ""));

        for (const char *p = safe ? safe : ""; *p; p++) {
                switch (*p) {
                case '<':
                        fputs("&lt;", out);
                        break;
                case '>':
                        fputs("&gt;", out);
                        break;
                case '&':
                        fputs("&amp;", out);
                        break;
                case '"':
                        fputs("&quot;", out);
                        break;
                case '\'':
                        fputs("&#39;", out);
                        break;
                default:
                        fputc(*p, out);
                }
        }
        free(safe);
}

void ctl_put_json(FILE *out, const json_t *doc)
{
        char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;

        fprintf(out, "%s\n", text ? text : "null");
        free(text);
}

const char *ctl_human_size(uint64_t n, char buf[32])
{
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double)n;
        int u = 0;

        while (v >= 1024 && u < 4) {
                v /= 1024;
                u++;
        }
        (void)snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", v, units[u]);
        return buf;
}

/* s padded with spaces to width terminal columns (汉字 take two), on the left or the
 * right; a wider s is not cut. */
static void put_width(FILE *out, const char *s, int width, bool right)
{
        size_t w = evd_name_display_width(s, strlen(s));
        int pad = w < (size_t)width ? width - (int)w : 0;

        if (right)
                fprintf(out, "%*s%s", pad, "", s);
        else
                fprintf(out, "%s%*s", s, pad, "");
}

/* The one place a cell is padded to its column. */
static void put_padded(FILE *out, const struct ctl_col *col, const char *s)
{
        if (col->width == 0) {
                fputs(s, out);
                return;
        }
        put_width(out, s, col->width, col->right);
        fputc(' ', out);
}

void ctl_table_head(FILE *out, const struct ctl_col *cols, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (i + 1 < n || cols[i].width == 0) {
                        put_padded(out, &cols[i], cols[i].title);
                        continue;
                }
                /* the last title of a table whose cells are all padded: no space after */
                put_width(out, cols[i].title, cols[i].width, cols[i].right);
        }
        fputc('\n', out);
}

void ctl_table_widen(struct ctl_col *col, const char *s)
{
        char *buf = ctl_escaped(s ? s : "-", strlen(s ? s : "-"));
        size_t w = buf ? evd_name_display_width(buf, strlen(buf)) : 0;

        if (col->width > 0 && w > (size_t)col->width && w < 200)
                col->width = (int)w;
        free(buf);
}

void ctl_table_head_cell(FILE *out, const struct ctl_col *col)
{
        put_padded(out, col, col->title);
}

void ctl_table_cell(FILE *out, const struct ctl_col *col, const char *s)
{
        char *buf = ctl_escaped(s ? s : "-", strlen(s ? s : "-"));

        put_padded(out, col, buf ? buf : "?");
        free(buf);
}

void ctl_table_text(FILE *out, const struct ctl_col *col, const char *s)
{
        put_padded(out, col, s);
}
