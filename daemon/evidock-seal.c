/* evidock-seal: sets and clears the immutable flag of stored objects for evidockd,
 * which holds no capability of its own (lib/seal.h says what it checks).
 *
 *   evidock-seal STATE_DIR                 socket-activated (evidock-seal.socket)
 *   evidock-seal STATE_DIR --listen PATH   its own socket (tests; PATH made 0600)
 *
 * It serves one connection at a time (only evidockd's user is answered, and that user
 * keeps one connection), closes a connection idle for a minute, and never exits on a
 * bad request. It links nothing but libc. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "seal.h"

#define IDLE_MS 60000
#define LISTEN_FD 3 /* SD_LISTEN_FDS_START */

/* The socket systemd passed (LISTEN_PID is us, LISTEN_FDS at least 1), else -1. */
static int inherited_socket(void)
{
        const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

        if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid() || strtol(fds, NULL, 10) < 1)
                return -1;
        (void)unsetenv("LISTEN_PID");
        (void)unsetenv("LISTEN_FDS");
        (void)unsetenv("LISTEN_FDNAMES");
        return LISTEN_FD;
}

static int listen_on(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        mode_t old;
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void)unlink(path);
        old = umask(0177);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        (void)umask(old);
        if (r < 0 || listen(fd, 16) < 0) {
                r = -errno;
                (void)close(fd);
                return r;
        }
        return fd;
}

int main(int argc, char **argv)
{
        char state_dir[PATH_MAX];
        int lfd;

        if ((argc != 2 && argc != 4) || (argc == 4 && strcmp(argv[2], "--listen") != 0)) {
                fprintf(stderr, "usage: evidock-seal STATE_DIR [--listen SOCKET]\n");
                return 2;
        }
        /* Nobody of our uid may read our memory or ptrace the capability away. */
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        (void)signal(SIGPIPE, SIG_IGN);
        if (!realpath(argv[1], state_dir)) {
                fprintf(stderr, "evidock-seal: %s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        lfd = argc == 4 ? listen_on(argv[3]) : inherited_socket();
        if (lfd < 0) {
                fprintf(stderr, "evidock-seal: %s\n",
                        argc == 4 ? strerror(-lfd)
                                  : "no socket passed (run by evidock-seal.socket, or --listen)");
                return 1;
        }
        for (;;) {
                int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                int r;

                if (conn < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        fprintf(stderr, "evidock-seal: accept: %s\n", strerror(errno));
                        return 1;
                }
                r = evd_seal_serve(conn, state_dir, IDLE_MS);
                if (r < 0)
                        fprintf(stderr, "evidock-seal: connection ended: %s\n", strerror(-r));
                (void)close(conn);
        }
}
