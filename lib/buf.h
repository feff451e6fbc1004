/* buf: a growable, NUL-terminated text buffer with a size limit and a sticky error,
 * for documents built piece by piece (bag files, disc READMEs, audit histories): after
 * the first failure every call returns it, so callers may check once at the end. */
#ifndef EVD_BUF_H
#define EVD_BUF_H

#include <stddef.h>

struct evd_buf {
        char *data; /* owned; NUL-terminated after len bytes once anything was added */
        size_t len, cap;
        size_t max; /* the most it may hold: set it before use */
        int error;  /* 0, or the first -ENOMEM / -EFBIG / -EINVAL */
};

/* Append n bytes. Returns 0 or the buffer's (sticky) error. */
int evd_buf_add(struct evd_buf *b, const void *p, size_t n);

/* Append a NUL-terminated string. */
int evd_buf_str(struct evd_buf *b, const char *s);

/* Append printf-style text. */
int evd_buf_printf(struct evd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Free the text and clear the buffer (max too); accepts an empty one. */
void evd_buf_free(struct evd_buf *b);

#endif
