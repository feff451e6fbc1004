/* libFuzzer target: the daemon's decoding of the sandboxed parser's answers (probe_msg.h).
 * Whatever the bytes, decoding gives a listing or media result within the documented
 * bounds, or an error with a reason; never a crash, a leak or an unescaped text. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media.h"
#include "probe_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
        if (!ok)
                abort();
}

static void check_err(const struct evd_err *err, int rc)
{
        check(rc < 0 && err->code == rc && err->text[0] != '\0');
        for (const char *p = err->text; *p; p++)
                check((unsigned char)*p >= 0x20 && *p != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct evd_source_list *list = NULL;
        struct evd_err err = { 0 };
        unsigned parts = 0;
        json_t *m = NULL;
        int rc;

        rc = evd_probe_msg_listing_decode((const char *)data, size, &list, &parts, &err);
        if (rc == 0) {
                check(parts >= 1 && parts <= EVD_SOURCE_MAX_PARTITIONS);
                check(list->n <= EVD_PROBE_MSG_FILES_MAX);
                for (size_t i = 0; i < list->n; i++) {
                        const struct evd_source_file *f = &list->files[i];

                        check(f->path_len > 0 && f->path_len <= EVD_PROBE_MSG_PATH_MAX);
                        check(strlen(f->path) == f->path_len && f->partition < parts);
                        check(!f->error || f->n_extents == 0);
                }
                evd_source_list_free(list);
        } else {
                check(list == NULL);
                check_err(&err, rc);
        }
        memset(&err, 0, sizeof(err));
        rc = evd_probe_msg_media_decode((const char *)data, size, &m, &err);
        if (rc == 0) {
                check(json_is_object(m) && json_object_size(m) == 7);
                check(json_array_size(json_object_get(m, "streams")) <= EVD_MEDIA_MAX_STREAMS);
                json_decref(m);
        } else {
                check(m == NULL);
                check_err(&err, rc);
        }
        return 0;
}
