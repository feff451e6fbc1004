#include "conf.h"

#include <ctype.h>
#include <fcntl.h>
#include <errno.h>
#include <ini.h>
#include <regex.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "name.h"
#include "util.h"

struct parse_ctx {
        struct evd_conf *conf;
        char reason[256];
        bool seen_verify;
        FILE *f;
        int line;         /* lines handed to inih so far */
        int section_line; /* the line of an unknown [section], or 0 */
};

void evd_conf_defaults(struct evd_conf *conf)
{
        static const char *const exts[] = { "mp4", "mov", "avi",  "mts", "ts",
                                            "mkv", "jpg", "jpeg", "png", "heic",
                                            "wav", "mp3", "aac",  "amr", "m4a" };
        /* 第十八条 and the articles on inquiry, sampling, sealing, service, enforcement. */
        static const char *const stages[] = { "现场检查", "询问", "抽样取证", "先行登记保存",
                                              "查封扣押", "送达", "公告送达", "强制执行" };

        memset(conf, 0, sizeof(*conf));
        (void)evd_snprintf(conf->name, sizeof(conf->name), "evidock");
        (void)evd_snprintf(conf->state_dir, sizeof(conf->state_dir), "/var/lib/evidock");
        (void)evd_snprintf(conf->control_socket, sizeof(conf->control_socket),
                           "/run/evidock/control.sock");
        (void)evd_snprintf(conf->timezone, sizeof(conf->timezone), "Asia/Shanghai");
        conf->settle_seconds = 10;
        conf->clock_tolerance_s = 300;
        for (size_t i = 0; i < EVD_ARRAY_SIZE(exts); i++)
                (void)evd_snprintf(conf->extensions[i], EVD_CONF_EXT_MAX, "%s", exts[i]);
        conf->n_extensions = (int)EVD_ARRAY_SIZE(exts);
        conf->parallel_copies = 4;
        conf->verify = EVD_VERIFY_DESTINATION;
        (void)evd_snprintf(conf->filename_time_patterns[0], EVD_CONF_NAME_MAX, "YYYYMMDD_HHMMSS");
        conf->n_filename_time_patterns = 1;
        conf->deadline_working_days = 2;
        conf->reserve_mb = 1024;
        conf->retention_default = (struct evd_period){ .months = 6 };
        conf->retention_case = (struct evd_period){ .months = 24 };
        conf->retention_evidence = (struct evd_period){ .permanent = true };
        conf->grace = (struct evd_period){ .days = 30 };
        conf->scrub_interval = (struct evd_period){ .days = 30 };
        conf->scrub_mb_per_s = 50;
        (void)evd_snprintf(conf->case_pattern, sizeof(conf->case_pattern), "%s",
                           EVD_CONF_CASE_PATTERN);
        for (size_t i = 0; i < EVD_ARRAY_SIZE(stages); i++)
                (void)evd_snprintf(conf->stages[i], EVD_CONF_NAME_MAX, "%s", stages[i]);
        conf->n_stages = (int)EVD_ARRAY_SIZE(stages);
        conf->gap_tolerance_s = 120;
        (void)evd_snprintf(conf->group_clerk, EVD_CONF_NAME_MAX, "evidock-clerk");
        (void)evd_snprintf(conf->group_archivist, EVD_CONF_NAME_MAX, "evidock-archivist");
        (void)evd_snprintf(conf->group_admin, EVD_CONF_NAME_MAX, "evidock-admin");
        (void)evd_snprintf(conf->group_replicator, EVD_CONF_NAME_MAX, "evidock-replicator");
        (void)evd_snprintf(conf->repl.region, EVD_CONF_NAME_MAX, "us-east-1");
        conf->repl.parallel = 2;
        conf->repl.part_size_mb = 64;
        conf->repl.alarm_after_s = 24 * 3600;
        conf->repl.reconcile_s = 24 * 3600;
        conf->repl.sample_per_day = 10;
        conf->repl.audit_retention = (struct evd_period){ .months = 30 * 12 };
        (void)evd_snprintf(conf->console_listen, EVD_CONF_NAME_MAX, "127.0.0.1:8080");
}

static int fail(struct parse_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record why this line is refused; returns 0 so that inih stops at it. */
static int fail(struct parse_ctx *ctx, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(ctx->reason, sizeof(ctx->reason), fmt, ap);
        va_end(ap);
        return 0;
}

static int parse_int(struct parse_ctx *ctx, const char *value, int lo, int hi, int *ret)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < lo || v > hi) {
                (void)snprintf(ctx->reason, sizeof(ctx->reason),
                               "'%s' is not a whole number from %d to %d", value, lo, hi);
                return 0;
        }
        *ret = (int)v;
        return 1;
}

static int parse_string(struct parse_ctx *ctx, const char *value, char *out, size_t n)
{
        size_t len = strlen(value);

        if (value[0] == '\0')
                return fail(ctx, "a value is required");
        /* What is accepted must read back the same from evidockd -n: no control
         * characters, valid UTF-8, and no leading ';' (it would read as a comment). */
        if (value[0] == ';')
                return fail(ctx, "a value may not begin with ';'");
        if (!evd_name_is_utf8(value, len))
                return fail(ctx, "value is not valid UTF-8");
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
                        return fail(ctx, "value holds a control character");
        if (evd_snprintf(out, n, "%s", value) < 0)
                return fail(ctx, "value too long ('%.40s...')", value);
        return 1;
}

static int parse_abs_path(struct parse_ctx *ctx, const char *value, char *out, size_t n)
{
        if (value[0] != '/')
                return fail(ctx, "'%s' is not an absolute path", value);
        return parse_string(ctx, value, out, n);
}

/* Split a space- or comma-separated list; calls each for every word. */
static int parse_list(struct parse_ctx *ctx, const char *value,
                      int (*each)(struct parse_ctx *, const char *, int), int max, int *count)
{
        char word[EVD_CONF_PATH_MAX];
        const char *p = value;

        *count = 0;
        while (*p) {
                size_t len;

                while (*p == ' ' || *p == ',' || *p == '\t')
                        p++;
                if (!*p)
                        break;
                len = strcspn(p, " ,\t");
                if (len >= sizeof(word))
                        return fail(ctx, "list item too long ('%.40s...')", p);
                if (*count >= max)
                        return fail(ctx, "too many items in list (at most %d)", max);
                memcpy(word, p, len);
                word[len] = '\0';
                if (!each(ctx, word, *count))
                        return 0;
                (*count)++;
                p += len;
        }
        return 1;
}

static int each_extension(struct parse_ctx *ctx, const char *word, int i)
{
        char *out = ctx->conf->extensions[i];
        size_t len = strlen(word);

        if (word[0] == '.')
                word++, len--;
        if (len == 0 || len >= EVD_CONF_EXT_MAX)
                return fail(ctx, "bad extension '%s'", word);
        for (size_t k = 0; k < len; k++) {
                if (!isalnum((unsigned char)word[k]))
                        return fail(ctx, "bad extension '%s': letters and digits only", word);
                out[k] = (char)tolower((unsigned char)word[k]);
        }
        out[len] = '\0';
        return 1;
}

/* A name in a list of names (stages, heads, security): printable UTF-8. */
static int each_name(struct parse_ctx *ctx, const char *word, char *out)
{
        size_t len = strlen(word);

        if (len >= EVD_CONF_NAME_MAX)
                return fail(ctx, "name too long ('%.40s...')", word);
        if (!evd_name_is_utf8(word, len))
                return fail(ctx, "'%s' is not valid UTF-8", word);
        for (size_t k = 0; k < len; k++)
                if ((unsigned char)word[k] < 0x20 || word[k] == 0x7f)
                        return fail(ctx, "a name holds a control character");
        memcpy(out, word, len + 1);
        return 1;
}

static int each_stage(struct parse_ctx *ctx, const char *word, int i)
{
        return each_name(ctx, word, ctx->conf->stages[i]);
}

static int each_required_stage(struct parse_ctx *ctx, const char *word, int i)
{
        if (!evd_conf_listed(ctx->conf->stages, ctx->conf->n_stages, word))
                return fail(ctx,
                            "required stage '%s' is not one of [labels] stages (list "
                            "stages first)",
                            word);
        return each_name(ctx, word, ctx->conf->required_stages[i]);
}

static int each_head(struct parse_ctx *ctx, const char *word, int i)
{
        return each_name(ctx, word, ctx->conf->heads[i]);
}

static int each_security(struct parse_ctx *ctx, const char *word, int i)
{
        return each_name(ctx, word, ctx->conf->security[i]);
}

static int each_usb_allow(struct parse_ctx *ctx, const char *word, int i)
{
        uint8_t id[4];
        char hex[9];

        /* "1d6b:0104": four hex digits, a colon, four hex digits. */
        if (strlen(word) != 9 || word[4] != ':')
                return fail(ctx, "'%s' is not VID:PID in hex (e.g. 1d6b:0104)", word);
        memcpy(hex, word, 4);
        memcpy(hex + 4, word + 5, 5);
        if (evd_unhex(hex, id, sizeof(id)) < 0)
                return fail(ctx, "'%s' is not VID:PID in hex (e.g. 1d6b:0104)", word);
        ctx->conf->usb_allow[i] =
                (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
        return 1;
}

static int each_pattern(struct parse_ctx *ctx, const char *word, int i)
{
        /* The recording time's fields: MM after YYYY is the month, after HH the minute. */
        if (strlen(word) >= EVD_CONF_NAME_MAX)
                return fail(ctx, "pattern too long ('%.40s...')", word);
        if (!strstr(word, "YYYY") || !strstr(word, "MM") || !strstr(word, "DD") ||
            !strstr(word, "HH") || !strstr(word, "SS"))
                return fail(ctx, "pattern '%s' needs YYYY, MM, DD, HH, MM and SS", word);
        (void)snprintf(ctx->conf->filename_time_patterns[i], EVD_CONF_NAME_MAX, "%s", word);
        return 1;
}

static int each_calendar(struct parse_ctx *ctx, const char *word, int i)
{
        return parse_abs_path(ctx, word, ctx->conf->calendar_files[i], EVD_CONF_PATH_MAX);
}

static int parse_retention(struct parse_ctx *ctx, const char *name, const char *value,
                           struct evd_period *out, bool floor)
{
        struct evd_period p;

        if (evd_period_parse(value, &p) < 0)
                return fail(ctx,
                            "'%s' is not a period (e.g. '6 months', '90 days', "
                            "'2 years', 'permanent')",
                            value);
        if (floor && !p.permanent && p.months < EVD_RETENTION_FLOOR_MONTHS) {
                (void)snprintf(ctx->reason, sizeof(ctx->reason),
                               "%s retention '%s' is under the 3-month floor "
                               "(recordings must be kept at least 3 months)",
                               name, value);
                return 0;
        }
        *out = p;
        return 1;
}

/* A valid extended regular expression with at least one group. */
static bool regex_with_group(const char *value)
{
        regex_t re;
        bool ok;

        if (regcomp(&re, value, REG_EXTENDED) != 0)
                return false;
        ok = re.re_nsub >= 1;
        regfree(&re);
        return ok;
}

/* A time zone the system's zone database has: a relative name without "..", naming a
 * TZif file under $TZDIR or /usr/share/zoneinfo. glibc takes any other name silently as
 * UTC, which would shift every file-name time and deadline without a word. */
static bool known_timezone(const char *tz)
{
        const char *dir = getenv("TZDIR");
        char path[PATH_MAX], magic[4];
        ssize_t n;
        int fd;

        if (!tz[0] || tz[0] == '/' || strstr(tz, "..") || strlen(tz) > 64)
                return false;
        if (evd_snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo",
                         tz) < 0)
                return false;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0 && errno == ELOOP) /* zone links such as Asia/Chongqing */
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return false;
        n = evd_read_full(fd, magic, sizeof(magic));
        (void)close(fd);
        return n == (ssize_t)sizeof(magic) && memcmp(magic, "TZif", 4) == 0;
}

/* A section's keys: 1 taken, 0 refused (ctx->reason says why), -1 no such key. */
typedef int (*section_fn)(struct parse_ctx *ctx, const char *name, const char *value);

#define KEY(k) (strcmp(name, k) == 0)

static int on_station(struct parse_ctx *ctx, const char *name, const char *value)
{
        struct evd_conf *c = ctx->conf;

        if (KEY("name"))
                return parse_string(ctx, value, c->name, sizeof(c->name));
        if (KEY("state_dir"))
                return parse_abs_path(ctx, value, c->state_dir, sizeof(c->state_dir));
        if (KEY("control_socket")) {
                if (strlen(value) >= 108)
                        return fail(ctx,
                                    "control_socket '%s' is longer than a unix socket "
                                    "path may be (107 bytes)",
                                    value);
                return parse_abs_path(ctx, value, c->control_socket, sizeof(c->control_socket));
        }
        if (KEY("timezone")) {
                if (!known_timezone(value))
                        return fail(ctx,
                                    "unknown time zone '%s' (not in the system's zone "
                                    "database; for China: Asia/Shanghai)",
                                    value);
                return parse_string(ctx, value, c->timezone, sizeof(c->timezone));
        }
        return -1;
}

static int parse_duration(struct parse_ctx *ctx, const char *value, bool may_be_off, int64_t *ret);

static int on_usb(struct parse_ctx *ctx, const char *name, const char *value)
{
        struct evd_conf *c = ctx->conf;

        if (KEY("allow"))
                return parse_list(ctx, value, each_usb_allow, EVD_CONF_LIST_MAX, &c->n_usb_allow);
        if (KEY("settle_seconds"))
                return parse_int(ctx, value, 1, 600, &c->settle_seconds);
        if (KEY("clock_tolerance"))
                return parse_duration(ctx, value, false, &c->clock_tolerance_s);
        return -1;
}

static int on_ingest(struct parse_ctx *ctx, const char *name, const char *value)
{
        struct evd_conf *c = ctx->conf;

        if (KEY("extensions")) {
                if (!parse_list(ctx, value, each_extension, EVD_CONF_LIST_MAX, &c->n_extensions))
                        return 0;
                return c->n_extensions > 0 ? 1 : fail(ctx, "no extensions given");
        }
        if (KEY("parallel_copies"))
                return parse_int(ctx, value, 1, 16, &c->parallel_copies);
        if (KEY("verify")) {
                if (strcmp(value, "destination") == 0)
                        c->verify = EVD_VERIFY_DESTINATION;
                else if (strcmp(value, "source+destination") == 0)
                        c->verify = EVD_VERIFY_SOURCE_DESTINATION;
                else
                        return fail(ctx,
                                    "verify '%s' is neither 'destination' nor "
                                    "'source+destination'",
                                    value);
                return 1;
        }
        if (KEY("filename_time_patterns"))
                return parse_list(ctx, value, each_pattern, EVD_CONF_LIST_MAX,
                                  &c->n_filename_time_patterns);
        if (KEY("sequence_pattern")) {
                if (value[0] && !regex_with_group(value))
                        return fail(ctx,
                                    "sequence_pattern '%s' must be an extended regular "
                                    "expression with a group for the file number",
                                    value);
                if (evd_snprintf(c->sequence_pattern, sizeof(c->sequence_pattern), "%s", value) < 0)
                        return fail(ctx, "sequence_pattern too long");
                return 1;
        }
        if (KEY("reserve_mb"))
                return parse_int(ctx, value, 0, 10000000, &c->reserve_mb);
        if (KEY("deadline_working_days"))
                return parse_int(ctx, value, 1, 30, &c->deadline_working_days);
        return -1;
}

static int on_retention(struct parse_ctx *ctx, const char *name, const char *value)
{
        struct evd_conf *c = ctx->conf;

        if (KEY("default"))
                return parse_retention(ctx, "default", value, &c->retention_default, true);
        if (KEY("case"))
                return parse_retention(ctx, "case", value, &c->retention_case, true);
        if (KEY("evidence"))
                return parse_retention(ctx, "evidence", value, &c->retention_evidence, true);
        if (KEY("purge")) {
                if (strcmp(value, "manual") != 0 && strcmp(value, "auto") != 0)
                        return fail(ctx, "purge '%s' is neither 'manual' nor 'auto'", value);
                c->purge_auto = strcmp(value, "auto") == 0;
                return 1;
        }
        if (KEY("grace"))
                return parse_retention(ctx, "grace", value, &c->grace, false);
        return -1;
}

static int on_scrub(struct parse_ctx *ctx, const char *name, const char *value)
{
        struct evd_conf *c = ctx->conf;

        if (KEY("interval")) {
                if (strcmp(value, "off") == 0) {
                        c->scrub_off = true;
                        return 1;
                }
                c->scrub_off = false;
                if (evd_period_parse(value, &c->scrub_interval) < 0 ||
                    c->scrub_interval.permanent ||
                    (c->scrub_interval.months == 0 && c->scrub_interval.days == 0))
                        return fail(ctx,
                                    "interval '%s' is not a period of days or months, or "
                                    "'off'",
                                    value);
                return 1;
        }
        if (KEY("bandwidth_mb"))
                return parse_int(ctx, value, 1, 10000, &c->scrub_mb_per_s);
        return -1;
}

static int parse_duration(struct parse_ctx *ctx, const char *value, bool may_be_off, int64_t *ret);

static int on_labels(struct parse_ctx *ctx, const char *name, const char *value)
{
        struct evd_conf *c = ctx->conf;

        if (KEY("case_pattern")) {
                regex_t re;

                if (regcomp(&re, value, REG_EXTENDED | REG_NOSUB) != 0)
                        return fail(ctx,
                                    "case_pattern '%s' is not a valid extended regular "
                                    "expression",
                                    value);
                regfree(&re);
                return parse_string(ctx, value, c->case_pattern, sizeof(c->case_pattern));
        }
        if (KEY("stages")) {
                c->n_required_stages = 0; /* they must be among the new stages */
                return parse_list(ctx, value, each_stage, EVD_CONF_LIST_MAX, &c->n_stages);
        }
        if (KEY("required_stages"))
                return parse_list(ctx, value, each_required_stage, EVD_CONF_LIST_MAX,
                                  &c->n_required_stages);
        if (KEY("gap_tolerance"))
                return parse_duration(ctx, value, false, &c->gap_tolerance_s);
        return -1;
}

static int on_calendar(struct parse_ctx *ctx, const char *name, const char *value)
{
        struct evd_conf *c = ctx->conf;

        if (KEY("files")) {
                c->calendar_set = true;
                return parse_list(ctx, value, each_calendar, EVD_CONF_LIST_MAX,
                                  &c->n_calendar_files);
        }
        return -1;
}

static int on_signing(struct parse_ctx *ctx, const char *name, const char *value)
{
        struct evd_conf *c = ctx->conf;

        if (KEY("key"))
                return parse_abs_path(ctx, value, c->signing_key, sizeof(c->signing_key));
        if (KEY("cert"))
                return parse_abs_path(ctx, value, c->signing_cert, sizeof(c->signing_cert));
        return -1;
}

static int on_roles(struct parse_ctx *ctx, const char *name, const char *value)
{
        struct evd_conf *c = ctx->conf;

        if (KEY("clerk"))
                return parse_string(ctx, value, c->group_clerk, sizeof(c->group_clerk));
        if (KEY("archivist"))
                return parse_string(ctx, value, c->group_archivist, sizeof(c->group_archivist));
        if (KEY("admin"))
                return parse_string(ctx, value, c->group_admin, sizeof(c->group_admin));
        if (KEY("replicator"))
                return parse_string(ctx, value, c->group_replicator, sizeof(c->group_replicator));
        if (KEY("heads"))
                return parse_list(ctx, value, each_head, EVD_CONF_LIST_MAX, &c->n_heads);
        if (KEY("security"))
                return parse_list(ctx, value, each_security, EVD_CONF_LIST_MAX, &c->n_security);
        return -1;
}

static int parse_duration(struct parse_ctx *ctx, const char *value, bool may_be_off, int64_t *ret)
{
        if (may_be_off && strcmp(value, "off") == 0) {
                *ret = 0;
                return 1;
        }
        if (evd_duration_parse(value, ret) < 0)
                return fail(ctx, "'%s' is not a duration like '24 h', '30 min' or '2 days'%s",
                            value, may_be_off ? ", or 'off'" : "");
        return 1;
}

/* The host of an http:// URL (after the scheme) is 127.x.x.x, [::1] or localhost. */
static bool http_host_is_loopback(const char *host)
{
        static const char *const loopback[] = { "127.", "[::1]", "localhost" };

        for (size_t i = 0; i < EVD_ARRAY_SIZE(loopback); i++) {
                size_t n = strlen(loopback[i]);

                if (strncmp(host, loopback[i], n) != 0)
                        continue;
                if (i == 0) /* digits and dots up to the port or path */
                        n += strspn(host + n, "0123456789.");
                if (host[n] == '\0' || host[n] == ':' || host[n] == '/')
                        return true;
        }
        return false;
}

/* [replication]: what evidock-replicate reads (evidockd only shows its lag). */
static int on_replication(struct parse_ctx *ctx, const char *name, const char *value)
{
        struct evd_conf_replication *r = &ctx->conf->repl;

        r->on = true;
        if (strcmp(name, "endpoint") == 0) {
                if (strncmp(value, "https://", 8) != 0 &&
                    (strncmp(value, "http://", 7) != 0 || !http_host_is_loopback(value + 7)))
                        return fail(ctx,
                                    "endpoint '%s' is not an https:// URL (plain http:// only "
                                    "to a loopback address)",
                                    value);
                return parse_string(ctx, value, r->endpoint, sizeof(r->endpoint));
        }
        if (strcmp(name, "bucket") == 0)
                return parse_string(ctx, value, r->bucket, sizeof(r->bucket));
        if (strcmp(name, "prefix") == 0) {
                if (strchr(value, '/') || strcmp(value, ".") == 0 || strcmp(value, "..") == 0)
                        return fail(ctx, "prefix '%s' may not hold '/' or be . or ..", value);
                return parse_string(ctx, value, r->prefix, sizeof(r->prefix));
        }
        if (strcmp(name, "region") == 0)
                return parse_string(ctx, value, r->region, sizeof(r->region));
        if (strcmp(name, "credentials") == 0)
                return parse_abs_path(ctx, value, r->credentials, sizeof(r->credentials));
        if (strcmp(name, "ca_file") == 0)
                return parse_abs_path(ctx, value, r->ca_file, sizeof(r->ca_file));
        if (strcmp(name, "bandwidth_mb") == 0)
                return parse_int(ctx, value, 0, 100000, &r->bandwidth_mb);
        if (strcmp(name, "parallel") == 0)
                return parse_int(ctx, value, 1, 16, &r->parallel);
        if (strcmp(name, "part_size") == 0) /* MiB */
                return parse_int(ctx, value, 5, 5120, &r->part_size_mb);
        if (strcmp(name, "alarm_after") == 0)
                return parse_duration(ctx, value, false, &r->alarm_after_s);
        if (strcmp(name, "reconcile") == 0)
                return parse_duration(ctx, value, true, &r->reconcile_s);
        if (strcmp(name, "sample_per_day") == 0)
                return parse_int(ctx, value, 0, 1000000, &r->sample_per_day);
        if (strcmp(name, "audit_retention") == 0)
                return parse_retention(ctx, "audit_retention", value, &r->audit_retention, true);
        return -1;
}

/* [console]: evidock-console's listener. */
static int on_console(struct parse_ctx *ctx, const char *name, const char *value)
{
        struct evd_conf *c = ctx->conf;

        if (KEY("listen"))
                return parse_string(ctx, value, c->console_listen, sizeof(c->console_listen));
        if (KEY("tls_cert"))
                return parse_abs_path(ctx, value, c->console_tls_cert, sizeof(c->console_tls_cert));
        if (KEY("tls_key"))
                return parse_abs_path(ctx, value, c->console_tls_key, sizeof(c->console_tls_key));
        return -1;
}

/* "127.x.x.x:PORT", "[::1]:PORT" or "localhost:PORT": the station's own screen. */
static bool listen_is_loopback(const char *listen)
{
        return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]:", 6) == 0 ||
               strncmp(listen, "localhost:", 10) == 0;
}

/* The sections evd_conf_load knows, each with its keys; any other is refused at its
 * own line (read_line). */
static const struct {
        const char *name;
        section_fn keys;
} sections[] = {
        { "station", on_station },         { "usb", on_usb },         { "ingest", on_ingest },
        { "retention", on_retention },     { "scrub", on_scrub },     { "labels", on_labels },
        { "calendar", on_calendar },       { "signing", on_signing }, { "roles", on_roles },
        { "replication", on_replication }, { "console", on_console },
};

static section_fn section_keys(const char *section)
{
        for (size_t i = 0; i < EVD_ARRAY_SIZE(sections); i++)
                if (strcmp(section, sections[i].name) == 0)
                        return sections[i].keys;
        return NULL;
}

static bool known_section(const char *section)
{
        return section_keys(section) != NULL;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
        struct parse_ctx *ctx = user;
        section_fn keys = section_keys(section);
        int r;

        if (!name || !keys) /* a bare [section] line: read_line checks the name */
                return 1;
        r = keys(ctx, name, value);
        if (r >= 0)
                return r;
        return fail(ctx, "unknown key '%s' in [%s]", name, section);
}

/* inih's line reader: also refuses an unknown [section] at its own line (inih names
 * sections only with their keys, at a later line, and never an empty one). */
static char *read_line(char *str, int num, void *stream)
{
        struct parse_ctx *ctx = stream;
        const char *p, *end;

        if (!fgets(str, num, ctx->f))
                return NULL;
        ctx->line++;
        p = str + strspn(str, " \t");
        end = strchr(p, ']');
        if (*p == '[' && end) {
                size_t len = (size_t)(end - p - 1);
                char name[64];

                if (len < sizeof(name)) {
                        memcpy(name, p + 1, len);
                        name[len] = '\0';
                }
                if (len >= sizeof(name) || !known_section(name)) {
                        (void)fail(ctx, "unknown section [%.*s]", (int)len, p + 1);
                        ctx->section_line = ctx->line;
                        return NULL; /* ends the parse here */
                }
        }
        return str;
}

int evd_conf_load(const char *path, struct evd_conf *ret_conf, struct evd_err *err)
{
        struct evd_conf conf;
        struct parse_ctx ctx = { .conf = &conf };
        int line;

        evd_conf_defaults(&conf);
        ctx.f = fopen(path, "re");
        if (!ctx.f)
                return evd_err_set(err, -errno, "%s: %s", path, strerror(errno));
        line = ini_parse_stream(read_line, &ctx, on_key, &ctx);
        if (line == 0 && ferror(ctx.f))
                line = -1;
        (void)fclose(ctx.f);
        if (line == 0 && ctx.section_line)
                line = ctx.section_line;
        if (line != 0) {
                if (line < 0)
                        return evd_err_set(err, -EIO, "%s: cannot read", path);
                return evd_err_set(err, -EINVAL, "%s:%d: %s", path, line,
                                   ctx.reason[0] ? ctx.reason : "syntax error");
        }
        if (conf.repl.on && (!conf.repl.endpoint[0] || !conf.repl.bucket[0]))
                return evd_err_set(err, -EINVAL, "%s: [replication] needs an endpoint and a bucket",
                                   path);
        if (!listen_is_loopback(conf.console_listen) &&
            (!conf.console_tls_cert[0] || !conf.console_tls_key[0]))
                return evd_err_set(err, -EINVAL,
                                   "%s: [console] listen %s is not loopback: it needs tls_cert "
                                   "and tls_key",
                                   path, conf.console_listen);
        *ret_conf = conf;
        return 0;
}

int evd_duration_parse(const char *s, int64_t *ret)
{
        static const struct {
                const char *unit;
                int64_t seconds;
        } units[] = { { "s", 1 },       { "sec", 1 },      { "second", 1 },   { "seconds", 1 },
                      { "min", 60 },    { "minute", 60 },  { "minutes", 60 }, { "h", 3600 },
                      { "hour", 3600 }, { "hours", 3600 }, { "d", 86400 },    { "day", 86400 },
                      { "days", 86400 } };
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || v <= 0 || v > 100000)
                return -EINVAL;
        while (*end == ' ')
                end++;
        for (size_t i = 0; i < EVD_ARRAY_SIZE(units); i++)
                if (strcmp(end, units[i].unit) == 0) {
                        *ret = v * units[i].seconds;
                        return 0;
                }
        return -EINVAL;
}

int evd_period_parse(const char *s, struct evd_period *ret)
{
        struct evd_period p = { 0 };
        const char *q = s;
        bool any = false;

        if (strcmp(s, "permanent") == 0) {
                ret->permanent = true;
                ret->months = ret->days = 0;
                return 0;
        }
        while (*q) {
                char *end;
                long v;
                size_t ulen;

                while (*q == ' ')
                        q++;
                if (!*q)
                        break;
                errno = 0;
                v = strtol(q, &end, 10);
                if (errno || end == q || v < 0 || v > 10000)
                        return -EINVAL;
                q = end;
                while (*q == ' ')
                        q++;
                ulen = strcspn(q, " 0123456789");
                if ((ulen == 1 && *q == 'd') || (ulen == 3 && !strncmp(q, "day", 3)) ||
                    (ulen == 4 && !strncmp(q, "days", 4)))
                        p.days += (int)v;
                else if ((ulen == 1 && *q == 'm') || (ulen == 5 && !strncmp(q, "month", 5)) ||
                         (ulen == 6 && !strncmp(q, "months", 6)))
                        p.months += (int)v;
                else if ((ulen == 1 && *q == 'y') || (ulen == 4 && !strncmp(q, "year", 4)) ||
                         (ulen == 5 && !strncmp(q, "years", 5)))
                        p.months += 12 * (int)v;
                else
                        return -EINVAL;
                q += ulen;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret = p;
        return 0;
}

void evd_period_format(const struct evd_period *p, char *out, size_t n)
{
        if (p->permanent)
                (void)snprintf(out, n, "permanent");
        else if (p->days == 0)
                (void)snprintf(out, n, "%d months", p->months);
        else if (p->months == 0)
                (void)snprintf(out, n, "%d days", p->days);
        else
                (void)snprintf(out, n, "%d months %d days", p->months, p->days);
}

bool evd_conf_wants_extension(const struct evd_conf *conf, const char *ext)
{
        for (int i = 0; i < conf->n_extensions; i++)
                if (strcasecmp(conf->extensions[i], ext) == 0)
                        return true;
        return false;
}

bool evd_conf_listed(const char (*list)[EVD_CONF_NAME_MAX], int n, const char *name)
{
        for (int i = 0; i < n; i++)
                if (strcmp(list[i], name) == 0)
                        return true;
        return false;
}

void evd_conf_print(const struct evd_conf *c, FILE *out)
{
        char buf[64];

        fprintf(out, "[station]\nname = %s\nstate_dir = %s\ncontrol_socket = %s\ntimezone = %s\n",
                c->name, c->state_dir, c->control_socket, c->timezone);
        fprintf(out, "\n[usb]\nallow =");
        for (int i = 0; i < c->n_usb_allow; i++)
                fprintf(out, " %04x:%04x", c->usb_allow[i] >> 16, c->usb_allow[i] & 0xffff);
        fprintf(out, "\nsettle_seconds = %d\nclock_tolerance = %lld s\n", c->settle_seconds,
                (long long)c->clock_tolerance_s);
        fprintf(out, "\n[ingest]\nextensions =");
        for (int i = 0; i < c->n_extensions; i++)
                fprintf(out, " %s", c->extensions[i]);
        fprintf(out,
                "\nparallel_copies = %d\nverify = %s\nfilename_time_patterns =", c->parallel_copies,
                c->verify == EVD_VERIFY_DESTINATION ? "destination" : "source+destination");
        for (int i = 0; i < c->n_filename_time_patterns; i++)
                fprintf(out, " %s", c->filename_time_patterns[i]);
        fprintf(out, "\ndeadline_working_days = %d\n", c->deadline_working_days);
        fprintf(out, "sequence_pattern = %s\n", c->sequence_pattern);
        fprintf(out, "reserve_mb = %d\n", c->reserve_mb);
        fprintf(out, "\n[retention]\n");
        evd_period_format(&c->retention_default, buf, sizeof(buf));
        fprintf(out, "default = %s\n", buf);
        evd_period_format(&c->retention_case, buf, sizeof(buf));
        fprintf(out, "case = %s\n", buf);
        evd_period_format(&c->retention_evidence, buf, sizeof(buf));
        fprintf(out, "evidence = %s\n", buf);
        evd_period_format(&c->grace, buf, sizeof(buf));
        fprintf(out, "grace = %s\n", buf);
        fprintf(out, "purge = %s\n", c->purge_auto ? "auto" : "manual");
        evd_period_format(&c->scrub_interval, buf, sizeof(buf));
        fprintf(out, "\n[scrub]\ninterval = %s\nbandwidth_mb = %d\n", c->scrub_off ? "off" : buf,
                c->scrub_mb_per_s);
        fprintf(out, "\n[labels]\ncase_pattern = %s\nstages =", c->case_pattern);
        for (int i = 0; i < c->n_stages; i++)
                fprintf(out, " %s", c->stages[i]);
        fprintf(out, "\nrequired_stages =");
        for (int i = 0; i < c->n_required_stages; i++)
                fprintf(out, " %s", c->required_stages[i]);
        fprintf(out, "\ngap_tolerance = %lld s\n", (long long)c->gap_tolerance_s);
        fprintf(out, "\n[calendar]\n%s", c->calendar_set ? "files =" : "");
        for (int i = 0; i < c->n_calendar_files; i++)
                fprintf(out, " %s", c->calendar_files[i]);
        fprintf(out, "%s\n[signing]\n", c->calendar_set ? "\n" : "");
        if (c->signing_key[0] || c->signing_cert[0]) {
                /* Each printed only when set: an empty path does not read back. */
                if (c->signing_key[0])
                        fprintf(out, "key = %s\n", c->signing_key);
                if (c->signing_cert[0])
                        fprintf(out, "cert = %s\n", c->signing_cert);
        } else {
                /* Not the path itself: a state_dir near inih's 200-byte line limit would
                 * make this comment too long to read back. */
                fprintf(out, "# key and cert: the station's own, in STATE_DIR/keys/\n");
        }
        fprintf(out, "\n[roles]\nclerk = %s\narchivist = %s\nadmin = %s\nreplicator = %s\n",
                c->group_clerk, c->group_archivist, c->group_admin, c->group_replicator);
        fprintf(out, "heads =");
        for (int i = 0; i < c->n_heads; i++)
                fprintf(out, " %s", c->heads[i]);
        fprintf(out, "\nsecurity =");
        for (int i = 0; i < c->n_security; i++)
                fprintf(out, " %s", c->security[i]);
        fprintf(out, "\n");
        fprintf(out, "\n[console]\nlisten = %s\n", c->console_listen);
        if (c->console_tls_cert[0])
                fprintf(out, "tls_cert = %s\n", c->console_tls_cert);
        if (c->console_tls_key[0])
                fprintf(out, "tls_key = %s\n", c->console_tls_key);
        if (!c->repl.on)
                return;
        const struct evd_conf_replication *r = &c->repl;

        evd_period_format(&r->audit_retention, buf, sizeof(buf));
        fprintf(out,
                "\n[replication]\nendpoint = %s\nbucket = %s\nprefix = %s\nregion = %s\n"
                "bandwidth_mb = %d\nparallel = %d\npart_size = %d\nalarm_after = %lld s\n"
                "sample_per_day = %d\naudit_retention = %s\n",
                r->endpoint, r->bucket, r->prefix[0] ? r->prefix : c->name, r->region,
                r->bandwidth_mb, r->parallel, r->part_size_mb, (long long)r->alarm_after_s,
                r->sample_per_day, buf);
        if (r->reconcile_s)
                fprintf(out, "reconcile = %lld s\n", (long long)r->reconcile_s);
        else
                fprintf(out, "reconcile = off\n");
        if (r->credentials[0])
                fprintf(out, "credentials = %s\n", r->credentials);
        if (r->ca_file[0])
                fprintf(out, "ca_file = %s\n", r->ca_file);
}
