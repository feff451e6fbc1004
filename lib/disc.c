/* disc: what the disc module's files share (see disc_internal.h for the layout), and
 * the media sizes and volume plans of disc.h. */
#include "disc_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "name.h"

static pthread_mutex_t disc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t disc_once = PTHREAD_ONCE_INIT;
static int disc_init_result;

/* libisofs: initialise once, without touching the locale; names are UTF-8 whatever the
 * daemon's locale; messages are neither printed nor queued (we report errors
 * ourselves). Never finished: other threads may still use it. */
static void disc_global_init(void)
{
        int r = iso_init_with_flag(1);

        if (r < 0) {
                disc_init_result = -EIO;
                return;
        }
        (void)iso_set_local_charset("UTF-8", 0);
        (void)iso_set_msgs_severities("NEVER", "NEVER", "evidock");
        disc_init_result = 0;
}

int evd_disc_enter(struct evd_err *err)
{
        (void)pthread_once(&disc_once, disc_global_init);
        if (disc_init_result < 0)
                return evd_err_set(err, disc_init_result, "libisofs cannot be initialised");
        (void)pthread_mutex_lock(&disc_lock);
        return 0;
}

void evd_disc_leave(void)
{
        (void)pthread_mutex_unlock(&disc_lock);
}

int evd_disc_iso_fail(struct evd_err *err, int code, const char *what, int iso_code)
{
        return evd_err_set(err, code, "%s: %s", what, iso_error_to_msg(iso_code));
}

/* ---- media ---- */

int evd_disc_media_bytes(const char *name, uint64_t *ret_bytes)
{
        static const struct {
                const char *name;
                uint64_t bytes;
        } media[] = {
                { "cd", EVD_DISC_CD_BYTES },         { "dvd", EVD_DISC_DVD_BYTES },
                { "dvd-dl", EVD_DISC_DVD_DL_BYTES }, { "bd25", EVD_DISC_BD25_BYTES },
                { "bd50", EVD_DISC_BD50_BYTES },
        };
        uint64_t v = 0;

        for (size_t i = 0; i < EVD_ARRAY_SIZE(media); i++)
                if (strcasecmp(name, media[i].name) == 0) {
                        *ret_bytes = media[i].bytes;
                        return 0;
                }
        if (!*name)
                return -EINVAL;
        for (const char *p = name; *p; p++) {
                if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
                        return -EINVAL;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (v < (1u << 20))
                return -EINVAL;
        *ret_bytes = v;
        return 0;
}

/* ---- volume plan ---- */

int evd_disc_plan(const uint64_t *sizes, const char *const *names, size_t n, uint64_t capacity,
                  uint64_t reserve, size_t *ret_volume_of, size_t *ret_volumes, struct evd_err *err)
{
        uint64_t usable, *used = NULL;
        size_t *count = NULL, nvol = 0;

        if (n == 0)
                return evd_err_set(err, -EINVAL, "no items to export");
        if (capacity <= EVD_DISC_FIXED_OVERHEAD || reserve >= capacity - EVD_DISC_FIXED_OVERHEAD)
                return evd_err_set(err, -EINVAL,
                                   "a medium of %" PRIu64 " bytes cannot hold a bag with %" PRIu64
                                   " bytes of tag files",
                                   capacity, reserve);
        usable = capacity - EVD_DISC_FIXED_OVERHEAD - reserve;
        used = calloc(n, sizeof(*used));
        count = calloc(n, sizeof(*count));
        if (!used || !count) {
                free(used);
                free(count);
                return evd_err_set(err, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                uint64_t cost;
                size_t v;

                if (sizes[i] > UINT64_MAX - 2 * EVD_DISC_ITEM_OVERHEAD ||
                    (cost = (sizes[i] + EVD_DISC_BLOCK - 1) / EVD_DISC_BLOCK * EVD_DISC_BLOCK +
                            EVD_DISC_ITEM_OVERHEAD) > usable) {
                        char shown[EVD_NAME_ESCAPED_MAX(128)];

                        if (names && names[i])
                                (void)evd_name_escape(names[i], strlen(names[i]), shown,
                                                      sizeof(shown));
                        else
                                (void)snprintf(shown, sizeof(shown), "item %zu", i + 1);
                        free(used);
                        free(count);
                        return evd_err_set(err, -EFBIG,
                                           "%s (%" PRIu64 " bytes) does not fit on a medium of "
                                           "%" PRIu64 " bytes (%" PRIu64 " usable)",
                                           shown, sizes[i], capacity, usable);
                }
                for (v = 0; v < nvol; v++)
                        if (used[v] + cost <= usable && count[v] < EVD_DISC_ITEMS_MAX)
                                break;
                if (v == nvol)
                        nvol++;
                used[v] += cost;
                count[v]++;
                ret_volume_of[i] = v;
        }
        free(used);
        free(count);
        *ret_volumes = nvol;
        return 0;
}
