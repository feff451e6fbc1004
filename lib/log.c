#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static atomic_int log_max = LOG_INFO;

void evd_log_set_max(int priority)
{
        atomic_store(&log_max, priority);
}

void evd_log(int priority, const char *fmt, ...)
{
        char line[2048];
        va_list ap;
        int n;

        if (priority > atomic_load(&log_max))
                return;
        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        /* One fprintf per line keeps lines whole when threads log at once. */
        (void)fprintf(stderr, "<%d>%s%s\n", priority, line, (size_t)n >= sizeof(line) ? "..." : "");
}
