/* libFuzzer target for lib/source.c: open, list and read mutated FAT/exFAT images.
 *
 * A recorder image is mostly zeros, so the input is a sparse image, not the image itself:
 *   u32 size (little-endian; the image size, capped at 64 MiB)
 *   then runs until the input ends: u32 offset, u16 length, length bytes
 * Runs past the end are cut. The image goes into a memfd that evd_source_open reads as an
 * image file through /proc/self/fd. Seeds: tests/fuzz/fuzz_source_seeds.sh DIR.
 *
 * Build and run (from the repo root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -std=c11 -D_GNU_SOURCE -Ilib \
 *     tests/fuzz/fuzz_source.c lib/source.c lib/err.c lib/util.c lib/name.c \
 *     -ltsk -lcrypto -lpthread -o fuzz_source
 *   tests/fuzz/fuzz_source_seeds.sh corpus && ./fuzz_source -max_len=1048576 \
 *     -max_total_time=20 -timeout=10 -rss_limit_mb=2048 corpus */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "copy.h"
#include "source.h"
#include "util.h"

#define MAX_IMAGE (64u << 20)
#define MAX_READ (256u << 10) /* bytes read per input, over all files */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t le32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Write the sparse image in data into fd; 0, or -1 when the input is unusable. */
static int build(int fd, const uint8_t *data, size_t size)
{
        uint32_t img_size;
        size_t i = 4;

        if (size < 4)
                return -1;
        img_size = le32(data);
        if (img_size > MAX_IMAGE)
                img_size = MAX_IMAGE;
        if (ftruncate(fd, (off_t)img_size) < 0)
                return -1;
        while (i + 6 <= size) {
                uint32_t off = le32(data + i);
                size_t len = (size_t)data[i + 4] | (size_t)data[i + 5] << 8;

                i += 6;
                if (len > size - i)
                        len = size - i;
                if (off < img_size) {
                        size_t n = len < img_size - off ? len : img_size - off;

                        if (pwrite(fd, data + i, n, (off_t)off) != (ssize_t)n)
                                return -1;
                }
                i += len;
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const exts[] = { "mp4", "mov" };
        struct evd_source_limits lim = {
                .max_files = 1000, .max_entries = 20000, .max_path = 1024, .max_depth = 16
        };
        struct evd_source *src = NULL;
        struct evd_source_list *list = NULL;
        struct evd_err err;
        char path[64];
        uint8_t *buf = NULL;
        size_t budget = MAX_READ;
        int fd;

        fd = memfd_create("fuzz-image", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        if (build(fd, data, size) < 0 ||
            evd_snprintf(path, sizeof(path), "/proc/self/fd/%d", fd) < 0)
                goto out;
        if (evd_source_open(path, &src, &err) < 0) {
                if (err.code >= 0 || !err.text[0])
                        abort(); /* every failure carries -errno and a reason */
                goto out;
        }
        for (unsigned i = 0; i < evd_source_partition_count(src); i++) {
                struct evd_source_partition p;

                if (evd_source_partition_info(src, i, &p) < 0)
                        abort();
        }
        /* Every file, then only recordings: both paths through the filter. */
        for (int pass = 0; pass < 2; pass++) {
                if (evd_source_list(src, pass ? exts : NULL, pass ? 2 : 0, &lim, &list, &err) < 0) {
                        if (err.code >= 0 || !err.text[0])
                                abort();
                        continue;
                }
                if (!buf && !(buf = malloc(EVD_COPY_BLOCK)))
                        abort();
                for (size_t k = 0; k < list->n && budget > 0; k++) {
                        const struct evd_source_file *f = &list->files[k];
                        struct evd_source_reader *rd;
                        struct evd_reader reader;
                        uint64_t off = 0;
                        ssize_t n;

                        /* a leading '/' comes only from a name holding one */
                        if (f->path_len == 0 || f->path_len != strlen(f->path) ||
                            (f->path[0] == '/' && !f->ambiguous))
                                abort();
                        if (evd_source_reader_open(src, f, &rd, &err) < 0) {
                                if (err.code >= 0 || !err.text[0])
                                        abort();
                                continue;
                        }
                        evd_source_reader_fill(rd, &reader);
                        while (budget > 0) {
                                size_t want = budget < EVD_COPY_BLOCK ? budget : EVD_COPY_BLOCK;

                                n = reader.pread(reader.ctx, buf, want, off);
                                if (n <= 0) {
                                        if (n < 0 && !evd_source_reader_error(rd)->text[0])
                                                abort();
                                        break;
                                }
                                if ((size_t)n > want || off + (uint64_t)n > f->size)
                                        abort();
                                off += (uint64_t)n;
                                budget -= (size_t)n;
                        }
                        evd_source_reader_free(rd);
                }
                evd_source_list_free(list);
                list = NULL;
        }
out:
        free(buf);
        evd_source_free(src);
        close(fd);
        return 0;
}
