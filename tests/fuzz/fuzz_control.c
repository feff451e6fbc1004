/* libFuzzer target: the control protocol's request parser. Any line is either a
 * command name with an argument object, or refused with a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct evd_err err = { 0 };
        json_t *args = NULL;
        char cmd[64];
        int r;

        r = evd_control_parse_request((const char *)data, size, cmd, sizeof(cmd), &args, &err);
        if (r < 0) {
                if (args || err.code != r || err.text[0] == '\0')
                        abort();
                return 0;
        }
        if (!json_is_object(args) || strlen(cmd) >= sizeof(cmd))
                abort();
        json_decref(args);
        return 0;
}
