/* ctl_user: the commands for the web console's accounts that need the client's help:
 * user passwd reads the password from the terminal with echo off (typed twice), or
 * one line of stdin when it is not a terminal, never from argv, and before connecting
 * (the daemon closes idle connections); user list prints the accounts (never a hash:
 * the daemon sends none). */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

#define STR(obj, key) json_string_value(json_object_get((obj), (key)))
#define PASSWORD_LINE 1026 /* the daemon takes at most 1024 bytes */

/* One line into buf (newline removed); on a terminal with echo off, after prompt. */
static void read_line(bool tty, const struct termios *old, const char *prompt, char *buf, size_t n)
{
        struct termios quiet = *old;

        if (tty) {
                fputs(prompt, stderr);
                quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
                quiet.c_lflag |= ICANON;
                (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        }
        if (!fgets(buf, (int)n, stdin))
                buf[0] = '\0';
        if (tty) {
                (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, old);
                fputc('\n', stderr);
        }
        buf[strcspn(buf, "\r\n")] = '\0';
}

int ctl_run_user_passwd(struct ctl *ctx, const struct ctl_command *cmd, json_t *args)
{
        const char *name = STR(args, "name") ?: "";
        struct termios old = { 0 };
        bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
        char pw[2][PASSWORD_LINE], prompt[256];
        int rc = 1;

        (void)snprintf(prompt, sizeof(prompt), "New password for %s: ", name);
        read_line(tty, &old, prompt, pw[0], sizeof(pw[0]));
        if (tty)
                read_line(tty, &old, "Again: ", pw[1], sizeof(pw[1]));
        if (!pw[0][0])
                ctl_say(cmd, "no password given");
        else if (tty && strcmp(pw[0], pw[1]) != 0)
                ctl_say(cmd, "the passwords differ");
        else if (json_object_set_new(args, "password", json_string(pw[0])) == 0 &&
                 ctl_connect(ctx) == 0) {
                rc = ctl_run_request(ctx, cmd, args);
                ctl_disconnect(ctx);
        }
        explicit_bzero(pw, sizeof(pw));
        return rc;
}

int ctl_print_users(struct ctl *ctx, const json_t *r)
{
        static const struct ctl_col cols[] = {
                { "NAME", 24, false },    { "ROLE", 10, false },   { "STATE", 12, false },
                { "CREATED", 25, false }, { "CHANGED", 0, false },
        };
        FILE *out = ctx->out;
        size_t i;
        json_t *u;

        ctl_table_head(out, cols, EVD_ARRAY_SIZE(cols));
        json_array_foreach(r, i, u)
        {
                const char *state = json_is_true(json_object_get(u, "disabled")) ? "disabled"
                                    : json_is_true(json_object_get(u, "locked")) ? "locked"
                                    : !json_is_true(json_object_get(u, "has_password"))
                                            ? "no-password"
                                            : "active";
                char created[EVD_TIME_LOCAL_STR], changed[EVD_TIME_LOCAL_STR];

                ctl_table_cell(out, &cols[0], STR(u, "name"));
                ctl_table_cell(out, &cols[1], STR(u, "role"));
                ctl_table_text(out, &cols[2], state);
                ctl_table_text(out, &cols[3], ctl_local_time(STR(u, "created") ?: "-", created));
                ctl_table_text(out, &cols[4], ctl_local_time(STR(u, "changed") ?: "-", changed));
                fprintf(out, "\n");
        }
        return 0;
}
