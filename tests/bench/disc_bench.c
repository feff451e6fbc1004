/* disc_bench: time evd_disc_build over files listed by sha256sum, for tests/bench/disc.sh.
 *
 *   disc_bench KEYDIR LIST OUT.iso
 *
 * LIST holds "<sha256>  <path>" lines (what sha256sum prints), so the hashes are known
 * beforehand as they are in the catalog. A station key is made in KEYDIR if missing.
 * Only evd_disc_build is timed. Prints "bytes=N files=N seconds=S image_sha256=H". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "disc.h"
#include "keys.h"
#include "util.h"

#define FILES_MAX 4096

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
        static struct evd_disc_item items[FILES_MAX];
        static char paths[FILES_MAX][512];
        char key[600], cert[600], line[1024], hex[EVD_SHA256_HEX];
        struct evd_keys *keys = NULL;
        struct evd_disc_result res;
        struct evd_err err = { 0 };
        uint64_t bytes = 0;
        size_t n = 0;
        double t0, t1;
        FILE *fp;

        if (argc != 4) {
                fprintf(stderr, "usage: %s KEYDIR LIST OUT.iso\n", argv[0]);
                return 2;
        }
        snprintf(key, sizeof(key), "%s/%s", argv[1], EVD_KEYS_KEY_FILE);
        snprintf(cert, sizeof(cert), "%s/%s", argv[1], EVD_KEYS_CERT_FILE);
        if (evd_keys_init(argv[1], "bench", (int64_t)time(NULL), &err) < 0 && err.code != -EEXIST) {
                fprintf(stderr, "keys: %s\n", err.text);
                return 1;
        }
        if (evd_keys_load(key, cert, &keys, &err) < 0) {
                fprintf(stderr, "keys: %s\n", err.text);
                return 1;
        }
        fp = fopen(argv[2], "r");
        if (!fp) {
                perror(argv[2]);
                return 1;
        }
        while (n < FILES_MAX && fgets(line, sizeof(line), fp)) {
                struct stat st;
                char *p;

                line[strcspn(line, "\n")] = '\0';
                if (strlen(line) < 67)
                        continue;
                memcpy(hex, line, 64);
                hex[64] = '\0';
                if (evd_snprintf(paths[n], sizeof(paths[n]), "%s", line + 66) < 0 ||
                    evd_unhex(hex, items[n].sha256, EVD_SHA256_LEN) < 0 ||
                    stat(paths[n], &st) < 0) {
                        fprintf(stderr, "bad line: %s\n", line);
                        return 1;
                }
                p = strrchr(paths[n], '/');
                items[n].src_path = paths[n];
                items[n].recorder = "BENCH";
                items[n].name = p ? p + 1 : paths[n];
                items[n].name_len = strlen(items[n].name);
                items[n].size = (uint64_t)st.st_size;
                bytes += items[n].size;
                n++;
        }
        fclose(fp);

        struct evd_disc_info info[] = { { "Case-Number", "BENCH-1" } };
        struct evd_disc_spec spec = {
                .volume_id = "BENCH",
                .extraction_time = (int64_t)time(NULL),
                .items = items,
                .n_items = n,
                .info = info,
                .n_info = 1,
                .keys = keys,
        };

        t0 = now();
        if (evd_disc_build(&spec, argv[3], &res, &err) < 0) {
                fprintf(stderr, "build: %s\n", err.text);
                return 1;
        }
        t1 = now();
        evd_hex(res.sha256, EVD_SHA256_LEN, hex);
        printf("bytes=%llu files=%zu seconds=%.3f image_sha256=%s\n", (unsigned long long)bytes, n,
               t1 - t0, hex);
        evd_keys_free(keys);
        return 0;
}
