/* ctl_calendar: calendar import FILE. The client reads the file and sends its text:
 * evidockd never opens a path the caller names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "ctl.h"

int ctl_run_calendar_import(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        const char *path = json_string_value(json_object_get(args, "file"));
        char *buf = malloc(EVD_CALENDAR_FILE_MAX + 1);
        FILE *f = path ? fopen(path, "rb") : NULL;
        size_t n = 0;
        json_t *text;
        int rc = 1;

        if (!buf || !f) {
                ctl_say(cmd, "%s: %s", path ? path : "FILE", strerror(buf ? errno : ENOMEM));
                goto out;
        }
        n = fread(buf, 1, EVD_CALENDAR_FILE_MAX + 1, f);
        if (ferror(f)) {
                ctl_say(cmd, "%s: cannot be read", path);
                goto out;
        }
        if (n > EVD_CALENDAR_FILE_MAX) {
                ctl_say(cmd, "%s: larger than %d bytes, too big for a calendar", path,
                        EVD_CALENDAR_FILE_MAX);
                goto out;
        }
        text = json_stringn(buf, n);
        if (!text) {
                ctl_say(cmd, "%s: not UTF-8 text", path);
                goto out;
        }
        (void)json_object_set_new(args, "text", text);
        (void)json_object_set_new(args, "name", json_string(path));
        (void)json_object_del(args, "file");
        rc = ctl_run_request(ctx, cmd, args);
out:
        if (f)
                (void)fclose(f);
        free(buf);
        return rc;
}
