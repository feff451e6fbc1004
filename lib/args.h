/* args: typed access to the JSON arguments of a control request, each failure with
 * a clear message naming the argument. */
#ifndef EVD_ARGS_H
#define EVD_ARGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define EVD_ARG_SERIAL_MAX 64 /* recorder serials, with the NUL */

/* args[key] as a string (borrowed from args) into *ret; NULL when absent and not
 * required. -EINVAL when required and absent, or not a string. */
int evd_arg_string(const json_t *args, const char *key, bool required, const char **ret,
                   struct evd_err *err);

/* args[key] as a time, as evd_time_parse_local reads it in the station's time zone: a
 * date is that whole local day, so under a key named "until" or "to" (the end of a
 * range) it means the day's last second, elsewhere its first; a time without an offset
 * is local. *has says whether it was given. */
int evd_arg_time(const json_t *args, const char *key, bool *has, int64_t *ret, struct evd_err *err);

/* args[key] as true/false; absent is false. */
int evd_arg_bool(const json_t *args, const char *key, bool *ret, struct evd_err *err);

/* A recorder serial: 1 to 63 letters, digits and - _ . : (safe in paths and logs). */
int evd_arg_serial(const char *serial, struct evd_err *err);

#endif
