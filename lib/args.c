#include "args.h"

#include <errno.h>
#include <string.h>

#include "util.h"

int evd_arg_string(const json_t *args, const char *key, bool required, const char **ret,
                   struct evd_err *err)
{
        json_t *v = json_object_get(args, key);

        if (!v || json_is_null(v)) {
                if (required) {
                        (void)evd_err_set(err, -EINVAL, "missing argument \"%s\"", key);
                        return -EINVAL;
                }
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v)) {
                (void)evd_err_set(err, -EINVAL, "argument \"%s\" must be a string", key);
                return -EINVAL;
        }
        *ret = json_string_value(v);
        return 0;
}

int evd_arg_time(const json_t *args, const char *key, bool *has, int64_t *ret, struct evd_err *err)
{
        const char *s = NULL;
        int r = evd_arg_string(args, key, false, &s, err);

        *has = false;
        if (r < 0 || !s)
                return r;
        if (evd_time_parse_local(s, strcmp(key, "until") == 0 || strcmp(key, "to") == 0, ret) < 0)
                return evd_err_set(err, -EINVAL,
                                   "%s: '%s' is not a time (YYYY-MM-DD, YYYY-MM-DD HH:MM in "
                                   "the station's time zone, or RFC 3339)",
                                   key, s);
        *has = true;
        return 0;
}

int evd_arg_bool(const json_t *args, const char *key, bool *ret, struct evd_err *err)
{
        json_t *v = json_object_get(args, key);

        if (!v || json_is_null(v)) {
                *ret = false;
                return 0;
        }
        if (!json_is_boolean(v))
                return evd_err_set(err, -EINVAL, "argument \"%s\" must be true or false", key);
        *ret = json_is_true(v);
        return 0;
}

/* Recorder serials: what a recorder reports, within reason for names and paths. */
int evd_arg_serial(const char *serial, struct evd_err *err)
{
        size_t len = strlen(serial);

        if (len == 0 || len >= EVD_ARG_SERIAL_MAX)
                return evd_err_set(err, -EINVAL, "recorder serial must be 1 to %d characters",
                                   EVD_ARG_SERIAL_MAX - 1);
        for (size_t i = 0; i < len; i++) {
                char c = serial[i];

                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      c == '-' || c == '_' || c == '.' || c == ':'))
                        return evd_err_set(err, -EINVAL,
                                           "recorder serial may hold letters, digits and - _ . : "
                                           "only");
        }
        return 0;
}
