#include "err.h"

#include <stdio.h>
#include <string.h>

int evd_err_set(struct evd_err *err, int code, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return code;
        err->code = code;
        va_start(ap, fmt);
        /* A truncated message is still a useful message: keep what fits. */
        (void)vsnprintf(err->text, sizeof(err->text), fmt, ap);
        va_end(ap);
        return code;
}

void evd_err_clear(struct evd_err *err)
{
        if (!err)
                return;
        err->code = 0;
        err->text[0] = '\0';
}
