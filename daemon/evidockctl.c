/* evidockctl: the admin client of evidockd. Turns a command line into one JSON
 * request on the control socket, shows progress, prints the result for people
 * (tables) or scripts (--json). Exit 0 on success, 1 when refused or failed (a
 * one-line reason on stderr), 2 on bad usage. The parts are described in ctl.h. */
#include <stdio.h>

#include "ctl.h"

/* Run cmd with its parsed args: in the client, or connected to evidockd. --format is
 * judged once connected, so an unreachable daemon is what a run reports first. */
static int run(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        int rc;

        if (cmd->local)
                return cmd->run(ctx, cmd, args);
        if (ctl_connect(ctx) != 0)
                return 1;
        rc = ctl_args_format(ctx, cmd, args);
        if (rc == 0)
                rc = (cmd->run ? cmd->run : ctl_run_request)(ctx, cmd, args);
        ctl_disconnect(ctx);
        return rc;
}

int main(int argc, char **argv)
{
        struct ctl ctx = { .format = CTL_FMT_TABLE, .out = stdout, .session = { .fd = -1 } };
        const struct ctl_command *cmd;
        json_t *args;
        int i, words, rc;

        rc = ctl_args_global(&ctx, argc, argv, &i);
        if (rc >= 0)
                return rc;
        cmd = ctl_command_find(argc - i, argv + i, &words);
        if (!cmd) {
                ctl_command_unknown(argc - i, argv + i, stderr);
                return 2;
        }
        args = json_object();
        rc = ctl_args_parse(&ctx, cmd, argc - i - words, argv + i + words, args);
        if (rc == 0)
                rc = run(&ctx, cmd, args);
        json_decref(args);
        return rc;
}
