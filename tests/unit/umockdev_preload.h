/* For unit tests that build a umockdev testbed in their own process: the testbed only
 * redirects /sys and /dev when libumockdev-preload is loaded, so main() calls this
 * first to re-execute the test with it in LD_PRELOAD (what umockdev-wrapper does). The
 * preload then comes before a sanitizer runtime, which ASan accepts only with
 * verify_asan_link_order=0: that is added to ASAN_OPTIONS. */
#ifndef EVD_TEST_UMOCKDEV_PRELOAD_H
#define EVD_TEST_UMOCKDEV_PRELOAD_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static void reexec_with_umockdev_preload(char **argv)
{
        const char *preload = getenv("LD_PRELOAD");
        const char *asan = getenv("ASAN_OPTIONS");
        char buf[1024];

        if (preload && strstr(preload, "libumockdev-preload"))
                return;
        if (evd_snprintf(buf, sizeof(buf), "libumockdev-preload.so.0%s%s", preload ? ":" : "",
                         preload ? preload : "") < 0 ||
            setenv("LD_PRELOAD", buf, 1) < 0)
                exit(1);
        if (evd_snprintf(buf, sizeof(buf), "%s%sverify_asan_link_order=0", asan ? asan : "",
                         asan && *asan ? ":" : "") < 0 ||
            setenv("ASAN_OPTIONS", buf, 1) < 0)
                exit(1);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "cannot re-execute under libumockdev-preload: %s\n", strerror(errno));
        exit(1);
}

#endif
