/* libFuzzer target: the file-name sanitiser. Whatever the bytes, the display form is
 * valid UTF-8 with no control characters, and fits the documented bound. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        size_t cap = EVD_NAME_ESCAPED_MAX(size);
        char *out = malloc(cap);
        int n;

        if (!out)
                return 0;
        n = evd_name_escape((const char *)data, size, out, cap);
        if (n < 0 || (size_t)n != strlen(out) || !evd_name_is_utf8(out, (size_t)n))
                abort();
        for (int i = 0; i < n; i++)
                if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
                        abort();
        /* Valid UTF-8 without controls or backslashes comes through unchanged. */
        if (evd_name_is_utf8((const char *)data, size) && !memchr(data, '\\', size) &&
            (size_t)n == size && memcmp(out, data, size) != 0)
                abort();
        /* A buffer too small is refused, never overrun. */
        if (size > 0) {
                char small[8];

                (void)evd_name_escape((const char *)data, size, small, sizeof(small));
                if (!memchr(small, '\0', sizeof(small)))
                        abort();
        }
        free(out);
        return 0;
}
