/* evidockctl: the admin client of evidockd. Turns a command line into one JSON
 * request on the control socket, shows progress, prints the result for people
 * (tables) or scripts (--json). Exit 0 on success, 1 when refused or failed (a
 * one-line reason on stderr), 2 on bad usage. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "control.h"
#include "disc.h"
#include "name.h"
#include "station.h"
#include "util.h"

/* OPT_PATH: an existing file, made absolute; OPT_NEWPATH: one to be made, made absolute. */
enum opt_type { OPT_STRING, OPT_FLAG, OPT_PATH, OPT_NEWPATH };

struct opt {
        const char *name; /* without "--" */
        const char *key;  /* in args */
        enum opt_type type;
        bool required;
};

struct command {
        const char *name; /* "recorder add" is sent as "recorder.add" */
        const char *usage;
        const char *pos_key; /* the positional argument's key, or NULL */
        enum opt_type pos_type;
        int pos_min, pos_max; /* how many positionals; pos_max -1: a list under pos_key */
        struct opt opts[10];
        int (*print)(const json_t *result);
};

static bool json_out;

/* ---- printing ---- */

/* A string from the catalog with control characters and invalid bytes escaped,
 * so that a hostile file name cannot move the cursor or forge lines (caller frees). */
static char *safe_bytes(const char *s, size_t len)
{
        size_t cap = EVD_NAME_ESCAPED_MAX(len) + 4;
        char *buf = malloc(cap);

        if (buf)
                (void)evd_name_escape(s, len, buf, cap);
        return buf;
}

static void put_safe(const char *s, FILE *out)
{
        char *buf = safe_bytes(s, strlen(s));

        if (buf)
                fputs(buf, out);
        free(buf);
}

/* An original path: from its exact bytes when the catalog has them in base64. */
static void put_path(const json_t *obj, const char *key, FILE *out)
{
        char b64key[64];
        const char *b64;
        uint8_t *raw;
        size_t len;

        (void)snprintf(b64key, sizeof(b64key), "%s_b64", key);
        b64 = json_string_value(json_object_get(obj, b64key));
        if (b64 && evd_b64_decode(b64, &raw, &len) == 0) {
                char *buf = safe_bytes((const char *)raw, len);

                if (buf)
                        fputs(buf, out);
                free(buf);
                free(raw);
                return;
        }
        put_safe(json_string_value(json_object_get(obj, key)) ?: "", out);
}

/* A column of width w holding an escaped string. */
static void put_column(const char *s, int w)
{
        char *buf = safe_bytes(s ? s : "-", strlen(s ? s : "-"));

        printf("%-*s ", w, buf ? buf : "?");
        free(buf);
}

static void put_value(const json_t *v, FILE *out)
{
        char *text;

        if (json_is_string(v)) {
                put_safe(json_string_value(v), out);
                return;
        }
        if (json_is_null(v) || !v) {
                fputs("-", out);
                return;
        }
        text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
        if (text)
                fputs(text, out);
        free(text);
}

static void put_fields(const json_t *obj, int indent)
{
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)obj, key, v)
        {
                size_t klen = strlen(key);

                if (klen > 4 && strcmp(key + klen - 4, "_b64") == 0)
                        continue; /* shown through the field it belongs to */
                printf("%*s%s: ", indent, "", key);
                if (json_is_string(v)) {
                        put_path(obj, key, stdout);
                        printf("\n");
                        continue;
                }
                if (json_is_object(v) && json_object_size(v) > 0) {
                        printf("\n");
                        put_fields(v, indent + 2);
                        continue;
                }
                put_value(v, stdout);
                printf("\n");
        }
}

static int print_fields(const json_t *result)
{
        put_fields(result, 0);
        return 0;
}

static const char *human_size(uint64_t n, char buf[32])
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

/* status: the fields, then one line per dock with its progress. */
static int print_status(const json_t *result)
{
        json_t *rest = json_deep_copy(result), *d;
        size_t i;

        (void)json_object_del(rest, "docks");
        put_fields(rest, 0);
        json_decref(rest);
        json_array_foreach(json_object_get(result, "docks"), i, d)
        {
                uint64_t total = (uint64_t)json_integer_value(json_object_get(d, "bytes_total"));
                uint64_t done = (uint64_t)json_integer_value(json_object_get(d, "bytes_done"));
                char a[32], b[32];

                printf("dock %lld: recorder ",
                       (long long)json_integer_value(json_object_get(d, "session")));
                put_safe(json_string_value(json_object_get(d, "serial")) ?: "", stdout);
                printf(" on port %s: %s", json_string_value(json_object_get(d, "port")) ?: "?",
                       json_string_value(json_object_get(d, "state")) ?: "?");
                if (json_integer_value(json_object_get(d, "files_total")) > 0)
                        printf(", %lld of %lld files, %s of %s (%.0f%%), %.1f MB/s",
                               (long long)json_integer_value(json_object_get(d, "files_done")),
                               (long long)json_integer_value(json_object_get(d, "files_total")),
                               human_size(done, a), human_size(total, b),
                               total ? 100.0 * (double)done / (double)total : 100.0,
                               (double)json_integer_value(json_object_get(d, "rate_bps")) / 1e6);
                if (json_is_true(json_object_get(d, "safe_to_remove")))
                        printf(": safe to remove");
                if (json_string_value(json_object_get(d, "error"))) {
                        printf(": ");
                        put_safe(json_string_value(json_object_get(d, "error")), stdout);
                }
                printf("\n");
        }
        return 0;
}

static int print_items(const json_t *result)
{
        size_t i;
        json_t *it;

        if (json_array_size(result) == 0) {
                printf("no items\n");
                return 0;
        }
        printf("%-6s %-12s %10s %-20s %-16s %-20s %s\n", "ID", "SHA256", "SIZE", "RECORDED",
               "RECORDER", "CASE", "ORIGINAL PATH");
        json_array_foreach(result, i, it)
        {
                const char *sha = json_string_value(json_object_get(it, "sha256"));
                const char *case_no = json_string_value(
                        json_object_get(json_object_get(it, "labels"), "case_no"));
                char size[32];

                printf("%-6lld %-12.12s %10s %-20s ",
                       (long long)json_integer_value(json_object_get(it, "id")), sha ? sha : "",
                       human_size((uint64_t)json_integer_value(json_object_get(it, "size")), size),
                       json_string_value(json_object_get(it, "recorded_at")) ?: "-");
                put_column(json_string_value(json_object_get(it, "recorder")), 16);
                put_column(case_no, 20);
                put_path(it, "original_path", stdout);
                printf("\n");
        }
        return 0;
}

static int print_audit(const json_t *result)
{
        size_t i;
        json_t *e;

        json_array_foreach(result, i, e)
        {
                const json_t *actor = json_object_get(e, "actor");

                printf("%6lld %s ", (long long)json_integer_value(json_object_get(e, "seq")),
                       json_string_value(json_object_get(e, "time")) ?: "");
                put_safe(json_string_value(json_object_get(actor, "name")) ?: "?", stdout);
                printf(" %s ", json_string_value(json_object_get(e, "event")) ?: "");
                put_safe(json_string_value(json_object_get(e, "subject")) ?: "", stdout);
                printf(" ");
                put_value(json_object_get(e, "details"), stdout);
                printf("\n");
        }
        return 0;
}

static int print_verify(const json_t *result)
{
        const json_t *a = json_object_get(result, "audit"), *s = json_object_get(result, "store");
        size_t i;
        json_t *bad;

        if (a) {
                if (json_is_true(json_object_get(a, "ok")))
                        printf("audit log: ok, %lld entries chain from the first\n",
                               (long long)json_integer_value(json_object_get(a, "entries")));
                else
                        printf("audit log: FAILED: %s\n",
                               json_string_value(json_object_get(a, "error")) ?: "?");
        }
        if (s) {
                char size[32];

                printf("store: %s, %lld items checked (%s)\n",
                       json_is_true(json_object_get(s, "ok")) ? "ok" : "FAILED",
                       (long long)json_integer_value(json_object_get(s, "items_checked")),
                       human_size((uint64_t)json_integer_value(json_object_get(s, "bytes_checked")),
                                  size));
                json_array_foreach(json_object_get(s, "bad"), i, bad)
                {
                        printf("  item %lld: %s\n",
                               (long long)json_integer_value(json_object_get(bad, "id")),
                               json_string_value(json_object_get(bad, "error")) ?: "?");
                }
        }
        if (!json_is_true(json_object_get(result, "ok"))) {
                fprintf(stderr, "evidockctl: verification failed\n");
                return 1;
        }
        return 0;
}

static int print_import(const json_t *r)
{
        long long failed = json_integer_value(json_object_get(r, "files_failed"));
        size_t i;
        json_t *f;

        printf("%lld files: %lld stored, %lld duplicate content, %lld already stored, %lld failed",
               json_integer_value(json_object_get(r, "files_total")),
               json_integer_value(json_object_get(r, "files_stored")),
               json_integer_value(json_object_get(r, "files_duplicate")),
               json_integer_value(json_object_get(r, "files_skipped")), failed);
        if (json_is_true(json_object_get(r, "interrupted")))
                printf(" (interrupted: %lld not copied)",
                       json_integer_value(json_object_get(r, "files_not_copied")));
        printf("\n");
        json_array_foreach(json_object_get(r, "failures"), i, f)
        {
                printf("  failed: ");
                put_path(f, "original_path", stdout);
                printf(": %s\n", json_string_value(json_object_get(f, "reason")) ?: "?");
        }
        json_array_foreach(json_object_get(r, "skipped_entries"), i, f)
        {
                printf("  skipped: ");
                put_path(f, "path", stdout);
                printf(": %s\n", json_string_value(json_object_get(f, "reason")) ?: "?");
        }
        if (failed > 0 || json_is_true(json_object_get(r, "interrupted"))) {
                fprintf(stderr, "evidockctl: %lld file(s) not stored\n",
                        failed + json_integer_value(json_object_get(r, "files_not_copied")));
                return 1;
        }
        return 0;
}

static int print_calendar(const json_t *r)
{
        printf("%s: %s (%s)\n", json_string_value(json_object_get(r, "date")) ?: "?",
               json_is_true(json_object_get(r, "working_day")) ? "working day" : "rest day",
               json_string_value(json_object_get(r, "reason")) ?: "?");
        return 0;
}

static int print_done(const json_t *r)
{
        const json_t *items = json_object_get(r, "items");

        if (items)
                printf("%zu item(s) changed\n", json_array_size(items));
        else
                printf("done\n");
        return 0;
}

static int print_recorders(const json_t *r)
{
        size_t i, k;
        json_t *rec, *a;

        printf("%-20s %-16s %-16s %s\n", "SERIAL", "MODEL", "UNIT", "HANDLERS (since)");
        json_array_foreach(r, i, rec)
        {
                put_column(json_string_value(json_object_get(rec, "serial")), 20);
                put_column(json_string_value(json_object_get(rec, "model")), 16);
                put_column(json_string_value(json_object_get(rec, "unit")), 16);
                json_array_foreach(json_object_get(rec, "assignments"), k, a)
                {
                        printf("%s", k ? "; " : "");
                        put_safe(json_string_value(json_object_get(a, "handler_name")) ?: "?",
                                 stdout);
                        printf(" (");
                        put_safe(json_string_value(json_object_get(a, "handler_id")) ?: "?",
                                 stdout);
                        printf(", %s)", json_string_value(json_object_get(a, "since")) ?: "?");
                }
                printf("\n");
        }
        return 0;
}

static int print_access(const json_t *r)
{
        const char *copy = json_string_value(json_object_get(r, "copy_to"));

        printf("access to item %lld registered", json_integer_value(json_object_get(r, "id")));
        if (copy) {
                printf("; verified copy: ");
                put_safe(copy, stdout);
        }
        printf("\n");
        return 0;
}

/* A CSV field: quoted, quotes doubled, control characters escaped. */
static void put_csv(const char *s)
{
        char *safe = safe_bytes(s ? s : "", strlen(s ? s : ""));

        putchar('"');
        for (const char *p = safe ? safe : ""; *p; p++) {
                if (*p == '"')
                        putchar('"');
                putchar(*p);
        }
        putchar('"');
        free(safe);
}

static char access_log_format[8] = "table";

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

        if (strcmp(json_string_value(json_object_get(e, "event")) ?: "", "export.done") != 0) {
                row = json_deep_copy(d);
                if (row) {
                        (void)snprintf(id, sizeof(id), "%lld",
                                       json_integer_value(json_object_get(d, "id")));
                        (void)json_object_set_new(row, "id", json_string(id));
                }
                return row;
        }
        json_array_foreach(json_object_get(d, "volumes"), i, v)
        {
                shas = join(shas, " ", json_string_value(json_object_get(v, "sha256")) ?: "?");
                paths = join(paths, " ", json_string_value(json_object_get(v, "path")) ?: "?");
        }
        (void)snprintf(id, sizeof(id), "%zu items", json_array_size(json_object_get(d, "items")));
        row = json_pack("{ss ss* sO* sO* sO* ss*}", "id", id, "sha256", shas, "requester",
                        json_object_get(d, "extractor"), "approver", json_object_get(d, "approver"),
                        "reason", json_object_get(d, "reason"), "copy_to", paths);
        free(shas);
        free(paths);
        return row;
}

static int print_access_log(const json_t *r)
{
        static const char *const fields[] = { "requester", "approver", "reason", "copy_to" };
        bool csv = strcmp(access_log_format, "csv") == 0;
        size_t i;
        json_t *e;

        if (csv)
                printf("seq,time,operator,event,item,sha256,requester,approver,reason,copy_to\n");
        else
                printf("%-6s %-20s %-12s %-14s %-6s %-16s %-16s %s\n", "SEQ", "TIME", "OPERATOR",
                       "EVENT", "ITEM", "REQUESTER", "APPROVER", "REASON");
        json_array_foreach(r, i, e)
        {
                json_t *d = access_row(e);
                const char *op =
                        json_string_value(json_object_get(json_object_get(e, "actor"), "name"));
                const char *id = json_string_value(json_object_get(d, "id")) ?: "?";

                if (csv) {
                        printf("%lld,%s,", json_integer_value(json_object_get(e, "seq")),
                               json_string_value(json_object_get(e, "time")) ?: "");
                        put_csv(op);
                        printf(",%s,%s,%s", json_string_value(json_object_get(e, "event")) ?: "",
                               id, json_string_value(json_object_get(d, "sha256")) ?: "");
                        for (size_t k = 0; k < EVD_ARRAY_SIZE(fields); k++) {
                                putchar(',');
                                put_csv(json_string_value(json_object_get(d, fields[k])));
                        }
                        printf("\n");
                        json_decref(d);
                        continue;
                }
                printf("%-6lld %-20s ", json_integer_value(json_object_get(e, "seq")),
                       json_string_value(json_object_get(e, "time")) ?: "");
                put_column(op, 12);
                printf("%-14s %-6s ", json_string_value(json_object_get(e, "event")) ?: "", id);
                put_column(json_string_value(json_object_get(d, "requester")), 16);
                put_column(json_string_value(json_object_get(d, "approver")), 16);
                put_safe(json_string_value(json_object_get(d, "reason")) ?: "", stdout);
                printf("\n");
                json_decref(d);
        }
        return 0;
}

static int print_export(const json_t *r)
{
        const json_t *vols = json_object_get(r, "volumes");
        size_t i;
        json_t *v;

        printf("%lld item(s) exported to %zu image%s (extraction time %s):\n",
               json_integer_value(json_object_get(r, "items")), json_array_size(vols),
               json_array_size(vols) == 1 ? "" : "s",
               json_string_value(json_object_get(r, "extraction_time")) ?: "?");
        json_array_foreach(vols, i, v)
        {
                char size[32];

                printf("  ");
                put_safe(json_string_value(json_object_get(v, "path")) ?: "?", stdout);
                printf("\n    sha256 %s, %s, %zu item(s), volume id %s\n",
                       json_string_value(json_object_get(v, "sha256")) ?: "?",
                       human_size((uint64_t)json_integer_value(json_object_get(v, "size")), size),
                       json_array_size(json_object_get(v, "items")),
                       json_string_value(json_object_get(v, "volume_id")) ?: "?");
        }
        printf("registered as audit entry %lld\n",
               json_integer_value(json_object_get(r, "audit_seq")));
        return 0;
}

static int print_keys(const json_t *r)
{
        printf("station key: ");
        put_safe(json_string_value(json_object_get(r, "key")) ?: "?", stdout);
        printf("\ncertificate: ");
        put_safe(json_string_value(json_object_get(r, "cert")) ?: "?", stdout);
        printf("\nsubject:     ");
        put_safe(json_string_value(json_object_get(r, "subject")) ?: "?", stdout);
        printf("\nSHA-256 fingerprint: %s\n",
               json_string_value(json_object_get(r, "fingerprint")) ?: "?");
        return 0;
}

/* ---- verify-disc: in the client itself, so that it needs no daemon ---- */

static const char *const verdict_names[] = {
        [EVD_DISC_OK] = "OK",           [EVD_DISC_MISMATCH] = "MISMATCH",
        [EVD_DISC_MISSING] = "MISSING", [EVD_DISC_EXTRA] = "EXTRA",
        [EVD_DISC_BAD] = "BAD",
};

static void on_verdict(void *ctx, const char *path, enum evd_disc_verdict verdict,
                       const char *detail)
{
        json_t *files = ctx;

        if (json_out) {
                char *shown = safe_bytes(path, strlen(path));

                (void)json_array_append_new(
                        files, json_pack("{ss ss ss}", "path", shown ? shown : "?", "verdict",
                                         verdict_names[verdict], "detail", detail));
                free(shown);
                return;
        }
        printf("%-8s ", verdict_names[verdict]);
        put_safe(path, stdout);
        if (verdict != EVD_DISC_OK) {
                printf(": ");
                put_safe(detail, stdout);
        }
        printf("\n");
}

static int verify_disc(const json_t *args)
{
        const char *path = json_string_value(json_object_get(args, "image"));
        const char *cert = json_string_value(json_object_get(args, "cert"));
        struct evd_disc_summary sum = { 0 };
        struct evd_err err = { 0 };
        json_t *files = json_array();
        int r;

        r = evd_disc_verify(path, cert, on_verdict, files, &sum, &err);
        if (r < 0 && r != -EBADMSG) {
                fprintf(stderr, "evidockctl: %s\n", err.text);
                json_decref(files);
                return 1;
        }
        if (json_out) {
                json_t *doc = json_pack(
                        "{sb so s{sI sI sI sI sb ss* ss ss ss}}", "ok", r == 0, "files", files,
                        "summary", "files_checked", (json_int_t)sum.files_checked, "problems",
                        (json_int_t)sum.problems, "payload_files", (json_int_t)sum.payload_files,
                        "payload_bytes", (json_int_t)sum.payload_bytes, "signature_ok",
                        sum.signature_ok, "cert",
                        sum.cert_source == EVD_DISC_CERT_GIVEN      ? "given"
                        : sum.cert_source == EVD_DISC_CERT_EMBEDDED ? "embedded"
                                                                    : NULL,
                        "cert_sha256", sum.cert_sha256, "volume_id", sum.volume_id, "note",
                        sum.note);
                char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;

                printf("%s\n", text ? text : "null");
                free(text);
                json_decref(doc);
        } else {
                char size[32];

                json_decref(files);
                printf("volume %s: %llu recording(s), %s; %llu file(s) hashed\n", sum.volume_id,
                       (unsigned long long)sum.payload_files, human_size(sum.payload_bytes, size),
                       (unsigned long long)sum.files_checked);
                if (sum.note[0]) {
                        printf("signature: ");
                        put_safe(sum.note, stdout);
                        printf("\n");
                }
                printf("%s\n", r == 0 ? "disc OK: every file matches and the signature is valid"
                                      : "disc FAILED");
        }
        if (r < 0) {
                fprintf(stderr, "evidockctl: ");
                put_safe(err.text, stderr);
                fprintf(stderr, "\n");
                return 1;
        }
        return 0;
}

static int print_purge(const json_t *r)
{
        const json_t *list = json_object_get(r, "eligible");
        const char *key;
        size_t i;
        json_t *e, *v;

        if (list) {
                printf("%zu item(s) would be purged\n", json_array_size(list));
        } else {
                list = json_object_get(r, "purged");
                printf("%zu item(s) purged\n", json_array_size(list));
        }
        json_array_foreach(list, i, e)
        {
                printf("  item %lld %s (retained until %s)\n",
                       json_integer_value(json_object_get(e, "id")),
                       json_string_value(json_object_get(e, "sha256")) ?: "",
                       json_string_value(json_object_get(e, "retain_until")) ?: "-");
        }
        json_object_foreach((json_t *)json_object_get(r, "kept"), key, v)
        {
                printf("  kept: %lld %s\n", json_integer_value(v), key);
        }
        json_array_foreach(json_object_get(r, "failed"), i, e)
        {
                printf("  FAILED item %lld: %s\n", json_integer_value(json_object_get(e, "id")),
                       json_string_value(json_object_get(e, "error")) ?: "?");
        }
        if (json_array_size(json_object_get(r, "failed")) > 0) {
                fprintf(stderr, "evidockctl: some items could not be purged\n");
                return 1;
        }
        return 0;
}

static char report_format[8] = "table";

/* HTML text with the five special characters escaped. */
static void put_html(const char *s)
{
        char *safe = safe_bytes(s ? s : "", strlen(s ? s : ""));

        for (const char *p = safe ? safe : ""; *p; p++) {
                switch (*p) {
                case '<':
                        fputs("&lt;", stdout);
                        break;
                case '>':
                        fputs("&gt;", stdout);
                        break;
                case '&':
                        fputs("&amp;", stdout);
                        break;
                case '"':
                        fputs("&quot;", stdout);
                        break;
                case '\'':
                        fputs("&#39;", stdout);
                        break;
                default:
                        putchar(*p);
                }
        }
        free(safe);
}

static int print_report(const json_t *r)
{
        static const char *const cols[] = { "items",     "on_time", "late",       "labelled",
                                            "unlabeled", "overdue", "on_time_pct" };
        static const char *const groups[][2] = { { "by_handler", "handler" },
                                                 { "by_recorder", "recorder" } };
        bool csv = strcmp(report_format, "csv") == 0, html = strcmp(report_format, "html") == 0;
        size_t i;
        json_t *row;

        if (html)
                printf("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>evidock "
                       "compliance report</title></head><body>\n<h1>Storage deadline compliance "
                       "(第二十五条)</h1>\n");
        if (csv)
                printf("group,name,items,on_time,late,labelled,unlabeled,overdue,on_time_pct\n");
        for (size_t g = 0; g < EVD_ARRAY_SIZE(groups); g++) {
                if (html)
                        printf("<h2>%s</h2>\n<table border=\"1\">\n<tr><th>%s</th>", groups[g][1],
                               groups[g][1]);
                else if (!csv)
                        printf("%s%-24s", g ? "\n" : "", groups[g][1]);
                for (size_t k = 0; k < EVD_ARRAY_SIZE(cols) && !csv; k++)
                        printf(html ? "<th>%s</th>" : " %11s", cols[k]);
                if (!csv)
                        printf(html ? "</tr>\n" : "\n");
                json_array_foreach(json_object_get(r, groups[g][0]), i, row)
                {
                        const char *name = json_string_value(json_object_get(row, groups[g][1]));

                        if (csv) {
                                printf("%s,", groups[g][1]);
                                put_csv(name);
                        } else if (html) {
                                printf("<tr><td>");
                                put_html(name);
                                printf("</td>");
                        } else {
                                put_column(name, 24);
                        }
                        for (size_t k = 0; k < EVD_ARRAY_SIZE(cols); k++)
                                printf(csv    ? ",%lld"
                                       : html ? "<td>%lld</td>"
                                              : "%11lld ",
                                       json_integer_value(json_object_get(row, cols[k])));
                        printf(html ? "</tr>\n" : "\n");
                }
                if (html)
                        printf("</table>\n");
        }
        if (html)
                printf("</body></html>\n");
        return 0;
}

/* ---- the commands ---- */

static const struct command commands[] = {
        { "status", "status", NULL, OPT_STRING, 0, 0, { { 0 } }, print_status },
        { "import",
          "import DIR --recorder SERIAL",
          "dir",
          OPT_PATH,
          1,
          1,
          { { "recorder", "recorder", OPT_STRING, true } },
          print_import },
        { "items",
          "items [--case C] [--recorder S] [--handler H] [--late] [--unlabeled] [--overdue]\n"
          "                 [--since TIME] [--until TIME]",
          NULL,
          OPT_STRING,
          0,
          0,
          { { "case", "case", OPT_STRING, false },
            { "recorder", "recorder", OPT_STRING, false },
            { "handler", "handler", OPT_STRING, false },
            { "late", "late", OPT_FLAG, false },
            { "unlabeled", "unlabeled", OPT_FLAG, false },
            { "overdue", "overdue", OPT_FLAG, false },
            { "since", "since", OPT_STRING, false },
            { "until", "until", OPT_STRING, false } },
          print_items },
        { "show", "show ITEM", "item", OPT_STRING, 1, 1, { { 0 } }, print_fields },
        { "audit",
          "audit [--since TIME] [--follow]",
          NULL,
          OPT_STRING,
          0,
          0,
          { { "since", "since", OPT_STRING, false }, { "follow", "follow", OPT_FLAG, false } },
          print_audit },
        { "calendar", "calendar DATE", "date", OPT_STRING, 1, 1, { { 0 } }, print_calendar },
        { "recorder add",
          "recorder add SERIAL --handler-id ID --handler-name NAME [--model M] [--unit U]",
          "serial",
          OPT_STRING,
          1,
          1,
          { { "handler-id", "handler_id", OPT_STRING, true },
            { "handler-name", "handler_name", OPT_STRING, true },
            { "model", "model", OPT_STRING, false },
            { "unit", "unit", OPT_STRING, false },
            { "since", "since", OPT_STRING, false } },
          print_done },
        { "recorder assign",
          "recorder assign SERIAL --handler-id ID --handler-name NAME [--since TIME]",
          "serial",
          OPT_STRING,
          1,
          1,
          { { "handler-id", "handler_id", OPT_STRING, true },
            { "handler-name", "handler_name", OPT_STRING, true },
            { "since", "since", OPT_STRING, false } },
          print_done },
        { "recorder list", "recorder list", NULL, OPT_STRING, 0, 0, { { 0 } }, print_recorders },
        { "label",
          "label (ITEM... | --session N | --recorder S [--since T] [--until T]) --case C "
          "--party P [--handler NAME]",
          "items",
          OPT_STRING,
          0,
          -1,
          { { "case", "case", OPT_STRING, true },
            { "party", "party", OPT_STRING, true },
            { "handler", "handler", OPT_STRING, false },
            { "recorder", "recorder", OPT_STRING, false },
            { "session", "session", OPT_STRING, false },
            { "since", "since", OPT_STRING, false },
            { "until", "until", OPT_STRING, false } },
          print_done },
        { "note",
          "note ITEM --text TEXT",
          "items",
          OPT_STRING,
          1,
          1,
          { { "text", "text", OPT_STRING, true } },
          print_done },
        { "hold",
          "hold ITEM... --reason R",
          "items",
          OPT_STRING,
          1,
          -1,
          { { "reason", "reason", OPT_STRING, true } },
          print_done },
        { "release",
          "release ITEM... --reason R",
          "items",
          OPT_STRING,
          1,
          -1,
          { { "reason", "reason", OPT_STRING, true } },
          print_done },
        { "evidence",
          "evidence ITEM... --case C",
          "items",
          OPT_STRING,
          1,
          -1,
          { { "case", "case", OPT_STRING, true } },
          print_done },
        { "verify",
          "verify [--store] [--audit]",
          NULL,
          OPT_STRING,
          0,
          0,
          { { "store", "store", OPT_FLAG, false }, { "audit", "audit", OPT_FLAG, false } },
          print_verify },
        { "export",
          "export (--case C | ITEM...) --maker M --extractor E --approver A --reason R\n"
          "                  -o OUT.iso [--media cd|dvd|dvd-dl|bd25|bd50|BYTES] [--time TIME]",
          "items",
          OPT_STRING,
          0,
          -1,
          { { "case", "case", OPT_STRING, false },
            { "maker", "maker", OPT_STRING, true },
            { "extractor", "extractor", OPT_STRING, true },
            { "approver", "approver", OPT_STRING, true },
            { "reason", "reason", OPT_STRING, true },
            { "o", "out", OPT_NEWPATH, true },
            { "output", "out", OPT_NEWPATH, false },
            { "media", "media", OPT_STRING, false },
            { "time", "time", OPT_STRING, false } },
          print_export },
        { "verify-disc",
          "verify-disc ISO_OR_DEVICE [--cert CERT]",
          "image",
          OPT_PATH,
          1,
          1,
          { { "cert", "cert", OPT_PATH, false } },
          print_fields /* not used: runs in the client, see main */ },
        { "keys init", "keys init", NULL, OPT_STRING, 0, 0, { { 0 } }, print_keys },
        { "access",
          "access ITEM --requester NAME --approver NAME --reason R [--copy-to DIR]",
          "item",
          OPT_STRING,
          1,
          1,
          { { "requester", "requester", OPT_STRING, true },
            { "approver", "approver", OPT_STRING, true },
            { "reason", "reason", OPT_STRING, true },
            { "copy-to", "copy_to", OPT_PATH, false } },
          print_access },
        { "access-log",
          "access-log [--since TIME] [--until TIME] [--format table|csv|json]",
          NULL,
          OPT_STRING,
          0,
          0,
          { { "since", "since", OPT_STRING, false },
            { "until", "until", OPT_STRING, false },
            { "format", "format", OPT_STRING, false } },
          print_access_log },
        { "purge",
          "purge [--dry-run] --approver A --reason R",
          NULL,
          OPT_STRING,
          0,
          0,
          { { "dry-run", "dry_run", OPT_FLAG, false },
            { "approver", "approver", OPT_STRING, true },
            { "reason", "reason", OPT_STRING, true } },
          print_purge },
        { "report",
          "report [--from DATE] [--to DATE] [--format table|csv|html]",
          NULL,
          OPT_STRING,
          0,
          0,
          { { "from", "from", OPT_STRING, false },
            { "to", "to", OPT_STRING, false },
            { "format", "format", OPT_STRING, false } },
          print_report },
};

static void usage(FILE *out)
{
        fprintf(out, "Usage: evidockctl [--socket PATH | -c FILE] [--json] COMMAND [ARGS]\n"
                     "Talk to evidockd, the evidence docking station daemon.\n\nCommands:\n");
        for (size_t i = 0; i < EVD_ARRAY_SIZE(commands); i++)
                fprintf(out, "  evidockctl %s\n", commands[i].usage);
        fprintf(out, "\nOptions:\n"
                     "  --socket PATH  the daemon's control socket\n"
                     "  -c FILE        take control_socket from this configuration\n"
                     "                 (default " EVD_CONF_DEFAULT_PATH ")\n"
                     "  --json         print one JSON document instead of a table\n"
                     "  -h, --help     this help;  --version  the version\n\n"
                     "ITEM is an item id or a sha256 prefix of at least 12 hex digits.\n"
                     "export writes OUT.iso; when --media splits the export into volumes\n"
                     "(each a complete signed bag), they are OUT-1.iso, OUT-2.iso, ...\n"
                     "--time sets the extraction time written on the disc (default now): the\n"
                     "same items and time give the same image, byte for byte.\n"
                     "verify-disc checks an image or a disc drive (/dev/sr0) by itself, without\n"
                     "evidockd; --cert checks the signature against that certificate instead\n"
                     "of the one on the disc.\n"
                     "TIME is RFC 3339 (2026-11-20T09:15:00Z) or a date (2026-11-20, UTC).\n"
                     "Exit status: 0 done, 1 refused or failed, 2 bad usage.\n");
}

/* ---- talking to the daemon ---- */

struct session {
        FILE *in;
        int fd;
};

static int connect_daemon(const char *path, struct session *ret)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "evidockctl: socket path too long: %s\n", path);
                return -ENAMETOOLONG;
        }
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int e = errno;

                fprintf(stderr, "evidockctl: cannot reach evidockd at %s: %s\n", path, strerror(e));
                if (fd >= 0)
                        (void)close(fd);
                return -e;
        }
        ret->fd = fd;
        ret->in = fdopen(dup(fd), "r");
        if (!ret->in) {
                (void)close(fd);
                return -errno;
        }
        return 0;
}

static void progress_line(const json_t *p)
{
        json_t *bt = json_object_get(p, "bytes_total");
        char a[32], b[32];

        if (!isatty(STDERR_FILENO) || json_out)
                return;
        if (json_object_get(p, "volume")) {
                /* An export: a bar per volume. */
                json_int_t done = json_integer_value(json_object_get(p, "bytes_done"));
                json_int_t total = json_integer_value(bt);
                int filled = total > 0 && done >= 0 && done <= total ? (int)(done * 30 / total) : 0;
                char bar[31];

                memset(bar, '#', (size_t)filled);
                memset(bar + filled, '-', (size_t)(30 - filled));
                bar[30] = '\0';
                fprintf(stderr, "\rvolume %lld of %lld [%s] %3d%%  %s of %s   ",
                        json_integer_value(json_object_get(p, "volume")),
                        json_integer_value(json_object_get(p, "volumes")), bar,
                        total > 0 ? (int)(done * 100 / total) : 0, human_size((uint64_t)done, a),
                        human_size((uint64_t)total, b));
        } else if (bt)
                fprintf(stderr, "\r%lld/%lld files, %s of %s   ",
                        json_integer_value(json_object_get(p, "files_done")),
                        json_integer_value(json_object_get(p, "files_total")),
                        human_size((uint64_t)json_integer_value(json_object_get(p, "bytes_done")),
                                   a),
                        human_size((uint64_t)json_integer_value(bt), b));
        else
                fprintf(stderr, "\r%lld items checked, %s   ",
                        json_integer_value(json_object_get(p, "items_checked")),
                        human_size(
                                (uint64_t)json_integer_value(json_object_get(p, "bytes_checked")),
                                a));
        fflush(stderr);
}

/* Send one request and wait for its final line; *ret_result (caller owns) on success.
 * Returns 0, or 1 after printing the daemon's reason. */
static int request(struct session *s, const char *cmd, json_t *args, json_t **ret_result)
{
        json_t *req = json_pack("{ss sO}", "cmd", cmd, "args", args);
        char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
        char *line = NULL;
        size_t cap = 0;
        bool progressed = false;
        int rc = 1;

        json_decref(req);
        if (!text || evd_write_full(s->fd, text, strlen(text)) < 0 ||
            evd_write_full(s->fd, "\n", 1) < 0) {
                fprintf(stderr, "evidockctl: cannot send the request: %s\n", strerror(errno));
                free(text);
                return 1;
        }
        free(text);
        while (getline(&line, &cap, s->in) > 0) {
                json_t *reply = json_loads(line, 0, NULL), *p;

                if (!reply) {
                        fprintf(stderr, "evidockctl: unreadable reply from evidockd\n");
                        break;
                }
                if ((p = json_object_get(reply, "progress"))) {
                        progress_line(p);
                        progressed = true;
                        json_decref(reply);
                        continue;
                }
                if (progressed && isatty(STDERR_FILENO) && !json_out)
                        fprintf(stderr, "\r\033[K");
                if (json_is_true(json_object_get(reply, "ok"))) {
                        *ret_result = json_incref(json_object_get(reply, "result"));
                        rc = 0;
                } else {
                        fprintf(stderr, "evidockctl: %s\n",
                                json_string_value(json_object_get(reply, "error")) ?: "failed");
                }
                json_decref(reply);
                free(line);
                return rc;
        }
        free(line);
        fprintf(stderr, "evidockctl: evidockd closed the connection\n");
        return 1;
}

static int follow_audit(struct session *s, json_t *args)
{
        json_int_t next = 0;

        for (;;) {
                json_t *result = NULL, *e;
                size_t i;

                if (next > 0) {
                        (void)json_object_del(args, "since");
                        (void)json_object_set_new(args, "from_seq", json_integer(next));
                }
                if (request(s, "audit", args, &result) != 0)
                        return 1;
                json_array_foreach(result, i, e)
                {
                        next = json_integer_value(json_object_get(e, "seq")) + 1;
                }
                if (json_out) {
                        json_array_foreach(result, i, e)
                        {
                                char *text = json_dumps(e, JSON_COMPACT);

                                if (text)
                                        printf("%s\n", text);
                                free(text);
                        }
                } else {
                        (void)print_audit(result);
                }
                fflush(stdout);
                if (next == 0)
                        next = 1;
                json_decref(result);
                (void)sleep(1);
        }
}

static const char *socket_path(const char *given, const char *conf_path, char *buf, size_t n)
{
        struct evd_conf conf;
        struct evd_err err = { 0 };
        int r;

        if (given)
                return given;
        r = evd_conf_load(conf_path ? conf_path : EVD_CONF_DEFAULT_PATH, &conf, &err);
        if (r == -ENOENT && !conf_path)
                evd_conf_defaults(&conf);
        else if (r < 0) {
                fprintf(stderr, "evidockctl: %s\n", err.text);
                return NULL;
        }
        (void)snprintf(buf, n, "%s", conf.control_socket);
        return buf;
}

/* A file to be made (by the daemon, whose working folder is not ours): its folder must
 * exist and is made absolute. Caller frees; NULL after saying why. */
static char *new_path(const struct command *c, const char *path)
{
        const char *slash = strrchr(path, '/');
        char dir[PATH_MAX], full[PATH_MAX], *out = NULL;
        const char *base = slash ? slash + 1 : path;

        if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
                fprintf(stderr, "evidockctl %s: %s: not a file name\n", c->name, path);
                return NULL;
        }
        if (evd_snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1,
                         slash ? (slash == path ? "/" : path) : ".") < 0 ||
            !realpath(dir, full)) {
                fprintf(stderr, "evidockctl %s: %s: %s\n", c->name, dir,
                        errno ? strerror(errno) : "path too long");
                return NULL;
        }
        if (asprintf(&out, "%s/%s", strcmp(full, "/") == 0 ? "" : full, base) < 0)
                return NULL;
        return out;
}

/* Parse the command's own arguments into args. Returns 0 or 2 (usage). */
static int parse_args(const struct command *c, int argc, char **argv, json_t *args)
{
        int npos = 0;

        for (int i = 0; i < argc; i++) {
                const char *a = argv[i];
                const struct opt *o = NULL;

                /* --name, or -x for a one-letter option name */
                if ((strncmp(a, "--", 2) == 0 && a[2]) || (a[0] == '-' && a[1] && !a[2])) {
                        const char *name = a[1] == '-' ? a + 2 : a + 1;

                        for (const struct opt *p = c->opts; p->name; p++)
                                if (strcmp(p->name, name) == 0 &&
                                    (a[1] == '-') == (strlen(p->name) > 1))
                                        o = p;
                        if (!o) {
                                fprintf(stderr, "evidockctl %s: unknown option %s\n", c->name, a);
                                return 2;
                        }
                        if (o->type == OPT_FLAG) {
                                (void)json_object_set_new(args, o->key, json_true());
                                continue;
                        }
                        if (i + 1 >= argc) {
                                fprintf(stderr, "evidockctl %s: %s needs a value\n", c->name, a);
                                return 2;
                        }
                        if (o->type == OPT_PATH) {
                                char full[PATH_MAX];

                                if (!realpath(argv[++i], full)) {
                                        fprintf(stderr, "evidockctl %s: %s: %s\n", c->name, argv[i],
                                                strerror(errno));
                                        return 1;
                                }
                                (void)json_object_set_new(args, o->key, json_string(full));
                        } else if (o->type == OPT_NEWPATH) {
                                char *full = new_path(c, argv[++i]);

                                if (!full)
                                        return 1;
                                (void)json_object_set_new(args, o->key, json_string(full));
                                free(full);
                        } else {
                                (void)json_object_set_new(args, o->key, json_string(argv[++i]));
                        }
                        if (!json_object_get(args, o->key)) {
                                fprintf(stderr, "evidockctl %s: %s: value is not UTF-8\n", c->name,
                                        a);
                                return 2;
                        }
                        continue;
                }
                if (strcmp(a, "--") == 0 && i + 1 < argc)
                        a = argv[++i];
                if (!c->pos_key || (c->pos_max >= 0 && npos >= c->pos_max)) {
                        fprintf(stderr, "evidockctl %s: unexpected argument '%s'\n", c->name, a);
                        return 2;
                }
                if (c->pos_type == OPT_PATH) {
                        char full[PATH_MAX];

                        if (!realpath(a, full)) {
                                fprintf(stderr, "evidockctl %s: %s: %s\n", c->name, a,
                                        strerror(errno));
                                return 1;
                        }
                        (void)json_object_set_new(args, c->pos_key, json_string(full));
                } else if (c->pos_max < 0 || strcmp(c->pos_key, "items") == 0) {
                        json_t *list = json_object_get(args, c->pos_key);

                        if (!list) {
                                list = json_array();
                                (void)json_object_set_new(args, c->pos_key, list);
                        }
                        if (json_array_append_new(list, json_string(a)) < 0) {
                                fprintf(stderr, "evidockctl %s: '%s' is not UTF-8\n", c->name, a);
                                return 2;
                        }
                } else {
                        (void)json_object_set_new(args, c->pos_key, json_string(a));
                }
                if (!json_object_get(args, c->pos_key)) {
                        fprintf(stderr, "evidockctl %s: '%s' is not UTF-8\n", c->name, a);
                        return 2;
                }
                npos++;
        }
        if (npos < c->pos_min) {
                fprintf(stderr, "usage: evidockctl %s\n", c->usage);
                return 2;
        }
        for (const struct opt *p = c->opts; p->name; p++)
                if (p->required && !json_object_get(args, p->key)) {
                        fprintf(stderr, "evidockctl %s: %s%s is required\nusage: evidockctl %s\n",
                                c->name, p->name[1] ? "--" : "-", p->name, c->usage);
                        return 2;
                }
        return 0;
}

int main(int argc, char **argv)
{
        const char *sock = NULL, *conf_path = NULL, *path;
        const struct command *cmd = NULL;
        char pathbuf[EVD_CONF_PATH_MAX];
        struct session s;
        json_t *args, *result = NULL;
        int i, rc;

        for (i = 1; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "--json") == 0) {
                        json_out = true;
                } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
                        sock = argv[++i];
                } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
                        conf_path = argv[++i];
                } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                        usage(stdout);
                        return 0;
                } else if (strcmp(argv[i], "--version") == 0) {
                        printf("evidockctl %s\n", EVD_VERSION);
                        return 0;
                } else {
                        fprintf(stderr, "evidockctl: unknown option %s\n", argv[i]);
                        usage(stderr);
                        return 2;
                }
        }
        if (i >= argc) {
                usage(stderr);
                return 2;
        }
        for (size_t k = 0; k < EVD_ARRAY_SIZE(commands) && !cmd; k++) {
                const char *name = commands[k].name, *sp = strchr(name, ' ');

                if (!sp && strcmp(name, argv[i]) == 0) {
                        cmd = &commands[k];
                } else if (sp && i + 1 < argc && strncmp(name, argv[i], (size_t)(sp - name)) == 0 &&
                           argv[i][sp - name] == '\0' && strcmp(sp + 1, argv[i + 1]) == 0) {
                        cmd = &commands[k];
                        i++;
                }
        }
        if (!cmd) {
                fprintf(stderr, "evidockctl: unknown command '%s'\n", argv[i]);
                usage(stderr);
                return 2;
        }
        /* --json may also follow the command. */
        args = json_object();
        for (int k = i + 1; k < argc; k++)
                if (strcmp(argv[k], "--json") == 0) {
                        json_out = true;
                        memmove(&argv[k], &argv[k + 1], (size_t)(argc - k - 1) * sizeof(char *));
                        argc--;
                        k--;
                }
        rc = parse_args(cmd, argc - i - 1, argv + i + 1, args);
        if (rc) {
                json_decref(args);
                return rc;
        }
        if (strcmp(cmd->name, "verify-disc") == 0) { /* needs no daemon */
                rc = verify_disc(args);
                json_decref(args);
                return rc;
        }
        path = socket_path(sock, conf_path, pathbuf, sizeof(pathbuf));
        if (!path || connect_daemon(path, &s) < 0) {
                json_decref(args);
                return 1;
        }
        if (strcmp(cmd->name, "report") == 0 && json_object_get(args, "format")) {
                (void)snprintf(report_format, sizeof(report_format), "%s",
                               json_string_value(json_object_get(args, "format")));
                if (strcmp(report_format, "json") == 0) {
                        json_out = true;
                } else if (strcmp(report_format, "csv") != 0 &&
                           strcmp(report_format, "table") != 0 &&
                           strcmp(report_format, "html") != 0) {
                        fprintf(stderr,
                                "evidockctl report: --format is table, csv, html or json\n");
                        json_decref(args);
                        return 2;
                }
                (void)json_object_del(args, "format");
        }
        if (strcmp(cmd->name, "access-log") == 0 && json_object_get(args, "format")) {
                (void)snprintf(access_log_format, sizeof(access_log_format), "%s",
                               json_string_value(json_object_get(args, "format")));
                if (strcmp(access_log_format, "json") == 0) {
                        json_out = true;
                } else if (strcmp(access_log_format, "csv") != 0 &&
                           strcmp(access_log_format, "table") != 0) {
                        fprintf(stderr, "evidockctl access-log: --format is table, csv or json\n");
                        json_decref(args);
                        return 2;
                }
                (void)json_object_del(args, "format");
        }
        if (strcmp(cmd->name, "audit") == 0 && json_is_true(json_object_get(args, "follow"))) {
                (void)json_object_del(args, "follow");
                rc = follow_audit(&s, args);
        } else {
                (void)json_object_del(args, "follow");
                char wire[64];

                (void)snprintf(wire, sizeof(wire), "%s", cmd->name);
                for (char *p = wire; *p; p++)
                        if (*p == ' ')
                                *p = '.';
                rc = request(&s, wire, args, &result);
                if (rc == 0 && json_out) {
                        char *text = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);

                        printf("%s\n", text ? text : "null");
                        free(text);
                        if (strcmp(cmd->name, "verify") == 0 &&
                            !json_is_true(json_object_get(result, "ok")))
                                rc = 1;
                        if (strcmp(cmd->name, "import") == 0 &&
                            (json_integer_value(json_object_get(result, "files_failed")) > 0 ||
                             json_is_true(json_object_get(result, "interrupted"))))
                                rc = 1;
                } else if (rc == 0) {
                        rc = cmd->print(result);
                }
        }
        json_decref(result);
        json_decref(args);
        (void)fclose(s.in);
        (void)close(s.fd);
        return rc;
}
