/* libFuzzer target for lib/media: any bytes, probed as a stored file, must give either
 * a well-formed result or one of the documented errors, within the limits.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *         -std=c11 -D_GNU_SOURCE -Ilib tests/fuzz/fuzz_media.c lib/media.c lib/err.c \
 *         lib/util.c $(pkg-config --cflags --libs libavformat libavcodec libavutil \
 *         jansson libcrypto) -lpthread -lm -o fuzz_media
 *   tests/fuzz/media_seeds.sh SEEDS && ./fuzz_media -max_total_time=20 -max_len=65536 SEEDS */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
        if (!ok)
                abort();
}

static void check_result(const json_t *m)
{
        static const char *const verdicts[] = { "ok", "truncated", "corrupt", "not-media" };
        const json_t *log = json_object_get(m, "log"), *streams = json_object_get(m, "streams");
        const json_t *v, *reason = json_object_get(m, "integrity_reason");
        const char *integrity = json_string_value(json_object_get(m, "integrity"));
        bool known = false;
        size_t i;

        check(json_is_object(m) && json_object_size(m) == 7);
        check(json_object_get(m, "container") && json_object_get(m, "duration_s") &&
              json_object_get(m, "creation_time"));
        check(integrity != NULL);
        for (i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
                known |= strcmp(integrity, verdicts[i]) == 0;
        check(known);
        check(strcmp(integrity, "ok") == 0 ? json_is_null(reason) : json_is_string(reason));
        check(json_is_array(streams) && json_array_size(streams) <= EVD_MEDIA_MAX_STREAMS);
        json_array_foreach(streams, i, v) check(json_is_integer(json_object_get(v, "index")) &&
                                                json_is_string(json_object_get(v, "type")) &&
                                                json_is_string(json_object_get(v, "codec")));
        check(json_is_array(log) && json_array_size(log) <= EVD_MEDIA_LOG_LINES);
        json_array_foreach(log, i, v)
                check(json_is_string(v) && json_string_length(v) <= EVD_MEDIA_LOG_LINE_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static int fd = -1;
        const struct evd_media_limits lim = {
                .max_ms = 5000,
                .probesize = 1 << 20,
                .analyze_us = 1000000,
                .max_packets = 100000,
        };
        struct evd_err err = { 0 };
        json_t *m = NULL;
        char *text;
        int rc;

        if (fd < 0) {
                fd = memfd_create("fuzz_media", MFD_CLOEXEC);
                check(fd >= 0);
        }
        check(ftruncate(fd, 0) == 0);
        check(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);

        rc = evd_media_probe(fd, &lim, &m, &err);
        if (rc < 0) {
                /* Only the limits may stop a probe of a readable file. */
                check(rc == -ETIMEDOUT || rc == -E2BIG || rc == -ENOMEM);
                check(err.code == rc && err.text[0] != '\0');
                return 0;
        }
        check_result(m);
        text = json_dumps(m, JSON_COMPACT);
        check(text != NULL);
        free(text);
        json_decref(m);
        return 0;
}
