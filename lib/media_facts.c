/* media facts: reading a probe's result (media.h) without FFmpeg, so that the daemon,
 * which never probes a file itself (the sandboxed evidock-probe does), does not load
 * libavformat and the libraries behind it (issue 16: its memory at 8 docks). */
#include <errno.h>

#include "media.h"
#include "util.h"

int evd_media_creation_time(const json_t *media, int64_t *ret)
{
        const json_t *v = json_object_get(media, "creation_time");
        int64_t t;

        if (!v || json_is_null(v))
                return -ENOENT;
        if (!json_is_string(v) || evd_time_parse(json_string_value(v), &t) < 0)
                return -EINVAL;
        *ret = t;
        return 0;
}
