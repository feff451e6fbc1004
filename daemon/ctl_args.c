/* ctl_args: evidockctl's command line: the global options, then a command's own
 * positionals and options, checked against its row in the command table and put into
 * the request's args. Paths are made absolute here: evidockd's working folder is not
 * ours. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "station.h"
#include "util.h"

void ctl_say(const struct ctl_command *c, const char *fmt, ...)
{
        char name[64];
        va_list ap;

        fprintf(stderr, "evidockctl %s: ", ctl_command_name(c, name, sizeof(name)));
        va_start(ap, fmt);
        (void)vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

int ctl_args_global(struct ctl *ctx, int argc, char **argv, int *ret_next)
{
        int i;

        for (i = 1; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "--json") == 0) {
                        ctx->json = true;
                } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
                        ctx->socket = argv[++i];
                } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
                        ctx->conf_path = argv[++i];
                } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                        ctl_usage(stdout);
                        return 0;
                } else if (strcmp(argv[i], "--version") == 0) {
                        printf("evidockctl %s\n", EVD_VERSION);
                        return 0;
                } else {
                        fprintf(stderr, "evidockctl: unknown option %s\n", argv[i]);
                        ctl_usage(stderr);
                        return 2;
                }
        }
        if (i >= argc) {
                ctl_usage(stderr);
                return 2;
        }
        *ret_next = i;
        return -1;
}

/* A file to be made (by the daemon, whose working folder is not ours): its folder must
 * exist and is made absolute. Caller frees; NULL after saying why. */
static char *new_path(const struct ctl_command *c, const char *path)
{
        const char *slash = strrchr(path, '/');
        char dir[PATH_MAX], full[PATH_MAX], *out = NULL;
        const char *base = slash ? slash + 1 : path;

        if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
                ctl_say(c, "%s: not a file name", path);
                return NULL;
        }
        if (evd_snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1,
                         slash ? (slash == path ? "/" : path) : ".") < 0 ||
            !realpath(dir, full)) {
                ctl_say(c, "%s: %s", dir, errno ? strerror(errno) : "path too long");
                return NULL;
        }
        if (asprintf(&out, "%s/%s", strcmp(full, "/") == 0 ? "" : full, base) < 0)
                return NULL;
        return out;
}

/* args[key] = value made what type says. Returns 0, or 1 (a path that is not there)
 * after saying why; a value that is not UTF-8 leaves args[key] unset. */
static int set_value(const struct ctl_command *c, json_t *args, const char *key,
                     enum ctl_arg_type type, const char *value)
{
        char full[PATH_MAX], *made;

        switch (type) {
        case CTL_ARG_PATH:
                if (!realpath(value, full)) {
                        ctl_say(c, "%s: %s", value, strerror(errno));
                        return 1;
                }
                (void)json_object_set_new(args, key, json_string(full));
                return 0;
        case CTL_ARG_NEWPATH:
                made = new_path(c, value);
                if (!made)
                        return 1;
                (void)json_object_set_new(args, key, json_string(made));
                free(made);
                return 0;
        default:
                (void)json_object_set_new(args, key, json_string(value));
                return 0;
        }
}

/* argv[*i], an option (--name, or -x for a one-letter name), with its value if it
 * takes one (*i moves past it). Returns 0, 1 or 2 (bad usage) after saying why. */
static int parse_option(const struct ctl_command *c, int argc, char **argv, int *i, json_t *args)
{
        const char *a = argv[*i], *name = a[1] == '-' ? a + 2 : a + 1;
        const struct ctl_opt *o = NULL;
        int rc;

        for (const struct ctl_opt *p = c->opts; p->name; p++)
                if (strcmp(p->name, name) == 0 && (a[1] == '-') == (strlen(p->name) > 1))
                        o = p;
        if (!o) {
                ctl_say(c, "unknown option %s", a);
                return 2;
        }
        if (o->type == CTL_ARG_FLAG) {
                (void)json_object_set_new(args, o->key, json_true());
                return 0;
        }
        if (*i + 1 >= argc) {
                ctl_say(c, "%s needs a value", a);
                return 2;
        }
        rc = set_value(c, args, o->key, o->type, argv[++*i]);
        if (rc)
                return rc;
        if (!json_object_get(args, o->key)) {
                ctl_say(c, "%s: value is not UTF-8", a);
                return 2;
        }
        return 0;
}

/* a, the command's npos-th positional. Returns 0, 1 or 2 (bad usage) after saying why. */
static int parse_positional(const struct ctl_command *c, const char *a, int npos, json_t *args)
{
        const char *key = c->pos.key;
        int rc;

        if (!key || (c->pos.max >= 0 && npos >= c->pos.max)) {
                ctl_say(c, "unexpected argument '%s'", a);
                return 2;
        }
        if (c->pos.type == CTL_ARG_LIST) {
                json_t *list = json_object_get(args, key);

                if (!list) {
                        list = json_array();
                        (void)json_object_set_new(args, key, list);
                }
                if (json_array_append_new(list, json_string(a)) < 0) {
                        ctl_say(c, "'%s' is not UTF-8", a);
                        return 2;
                }
        } else if ((rc = set_value(c, args, key, c->pos.type, a)) != 0) {
                return rc;
        }
        if (!json_object_get(args, key)) {
                ctl_say(c, "'%s' is not UTF-8", a);
                return 2;
        }
        return 0;
}

/* Take --json out of argv wherever it is: it may also follow the command. */
static int take_json(struct ctl *ctx, int argc, char **argv)
{
        for (int k = 0; k < argc; k++)
                if (strcmp(argv[k], "--json") == 0) {
                        ctx->json = true;
                        memmove(&argv[k], &argv[k + 1], (size_t)(argc - k - 1) * sizeof(char *));
                        argc--;
                        k--;
                }
        return argc;
}

int ctl_args_parse(struct ctl *ctx, const struct ctl_command *c, int argc, char **argv,
                   json_t *args)
{
        int npos = 0, rc;

        argc = take_json(ctx, argc, argv);
        for (int i = 0; i < argc; i++) {
                const char *a = argv[i];

                if ((strncmp(a, "--", 2) == 0 && a[2]) || (a[0] == '-' && a[1] && !a[2])) {
                        rc = parse_option(c, argc, argv, &i, args);
                        if (rc)
                                return rc;
                        continue;
                }
                if (strcmp(a, "--") == 0 && i + 1 < argc)
                        a = argv[++i];
                rc = parse_positional(c, a, npos, args);
                if (rc)
                        return rc;
                npos++;
        }
        if (npos < c->pos.min) {
                fprintf(stderr, "usage: evidockctl %s\n", c->usage);
                return 2;
        }
        for (const struct ctl_opt *p = c->opts; p->name; p++)
                if (p->required && !json_object_get(args, p->key)) {
                        ctl_say(c, "%s%s is required\nusage: evidockctl %s",
                                p->name[1] ? "--" : "-", p->name, c->usage);
                        return 2;
                }
        return 0;
}

/* The names --format knows, in the order its error message lists them. */
static const struct {
        const char *name;
        enum ctl_format format;
} format_names[] = {
        { "table", CTL_FMT_TABLE },
        { "csv", CTL_FMT_CSV },
        { "html", CTL_FMT_HTML },
        { "json", CTL_FMT_JSON },
};

int ctl_args_format(struct ctl *ctx, const struct ctl_command *c, json_t *args)
{
        const char *given = json_string_value(json_object_get(args, "format"));
        char list[64] = "";
        size_t n = 0, k = 0;

        if (!c->formats || !given)
                return 0;
        for (size_t i = 0; i < EVD_ARRAY_SIZE(format_names); i++)
                if ((c->formats & format_names[i].format) &&
                    strcmp(format_names[i].name, given) == 0) {
                        if (format_names[i].format == CTL_FMT_JSON)
                                ctx->json = true;
                        else
                                ctx->format = format_names[i].format;
                        (void)json_object_del(args, "format");
                        return 0;
                }
        for (size_t i = 0; i < EVD_ARRAY_SIZE(format_names); i++)
                n += (c->formats & format_names[i].format) != 0;
        for (size_t i = 0; i < EVD_ARRAY_SIZE(format_names); i++) {
                if (!(c->formats & format_names[i].format))
                        continue;
                k++;
                (void)evd_snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                                   k == 1   ? ""
                                   : k == n ? " or "
                                            : ", ",
                                   format_names[i].name);
        }
        ctl_say(c, "--format is %s", list);
        return 2;
}
