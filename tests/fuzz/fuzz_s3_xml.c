/* libFuzzer target: the S3 reply scanner. Whatever the bytes, it reads only within them
 * (ASan checks), terminates, and what it returns lies inside the input and fits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const names[] = { "Code", "Contents", "Key",      "ETag",
                                             "Size", "Status",   "UploadId", "RetainUntilDate" };
        const char *in;
        char *copy = malloc(size ? size : 1), out[64];
        size_t il;

        if (!copy)
                return 0;
        memcpy(copy, data, size); /* an exact-size heap copy: ASan sees any overread */
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
                size_t pos = 0, last = 0;

                while (evd_s3xml_next(copy, size, &pos, names[k], &in, &il)) {
                        if (in < copy || in + il > copy + size || pos <= last || pos > size)
                                abort();
                        last = pos;
                        int r = evd_s3xml_text(in, il, "Key", out, sizeof(out));

                        if (r == 0 && strlen(out) >= sizeof(out))
                                abort();
                }
                if (evd_s3xml_text(copy, size, names[k], out, sizeof(out)) == 0 &&
                    strlen(out) >= sizeof(out))
                        abort();
        }
        free(copy);
        return 0;
}
