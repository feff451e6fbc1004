#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int evd_buf_add(struct evd_buf *b, const void *p, size_t n)
{
        if (b->error)
                return b->error;
        if (n > b->max - b->len) {
                b->error = -EFBIG;
                return b->error;
        }
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                char *d;

                while (cap < b->len + n + 1)
                        cap *= 2;
                d = realloc(b->data, cap);
                if (!d) {
                        b->error = -ENOMEM;
                        return b->error;
                }
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int evd_buf_str(struct evd_buf *b, const char *s)
{
        return evd_buf_add(b, s, strlen(s));
}

int evd_buf_printf(struct evd_buf *b, const char *fmt, ...)
{
        char small[1024];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0) {
                b->error = b->error ? b->error : -EINVAL;
                return b->error;
        }
        if ((size_t)n < sizeof(small))
                return evd_buf_add(b, small, (size_t)n);
        {
                char *big = malloc((size_t)n + 1);

                if (!big) {
                        b->error = b->error ? b->error : -ENOMEM;
                        return b->error;
                }
                va_start(ap, fmt);
                (void)vsnprintf(big, (size_t)n + 1, fmt, ap);
                va_end(ap);
                (void)evd_buf_add(b, big, (size_t)n);
                free(big);
        }
        return b->error;
}

void evd_buf_free(struct evd_buf *b)
{
        free(b->data);
        memset(b, 0, sizeof(*b));
}
