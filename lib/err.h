/* err: a user-facing error, carried from where it is found to where it is printed.
 *
 * Library calls return -errno and, where a person needs to know more, fill a
 * struct evd_err. The daemon or the client prints it once; the library never does. */
#ifndef EVD_ERR_H
#define EVD_ERR_H

#include <stdarg.h>

#define EVD_ERR_TEXT_MAX 512

struct evd_err {
        int code;                    /* negative errno, 0 when clear */
        char text[EVD_ERR_TEXT_MAX]; /* one line, no trailing newline */
};

/* Set err (may be NULL) to code and a printf-style message; returns code so that
 * callers can write `return evd_err_set(err, -EINVAL, "...")`. Truncates to fit. */
int evd_err_set(struct evd_err *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Clear err (may be NULL). */
void evd_err_clear(struct evd_err *err);

#endif
