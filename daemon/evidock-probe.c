/* evidock-probe: the sandboxed parser of untrusted bytes (see lib/probe.h).
 *
 *   evidock-probe list [EXT...]   list a recorder's FAT/exFAT files, with their extents
 *   evidock-probe media           probe a stored recording with libavformat
 *   evidock-probe media-serve     the same for one fd after another, received over the
 *                                 socket at fd 3 (SCM_RIGHTS), each answered on it
 *
 * The input is fd 3, already open read-only by evidockd (a block device or an image
 * for "list", a stored object for "media"); the answer (probe_msg.h) goes to fd 4. A
 * lister started ahead of its dock gets a socket at fd 3 instead, and the device over
 * it (SCM_RIGHTS) once the dock's disk has appeared.
 * Before reading a byte of the input the helper closes every other fd, sets
 * RLIMIT_AS/CPU/NOFILE/FSIZE/CORE, gives up root (to nobody) or checks that it holds no
 * capability, sets PR_SET_NO_NEW_PRIVS and loads a seccomp filter: reads, memory,
 * time, ioctl BLKGETSIZE64/BLKSSZGET on fd 3, writes to fd 4 and exit only; exec,
 * sockets and ptrace kill it, anything else (open, ...) fails with EPERM. A parser
 * bug then reaches nothing: no other file, no key, no catalog. Exit status 0 when an
 * answer was written (an error answer included), 2 otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "media.h"
#include "probe_msg.h"
#include "source.h"
#include "source_deleted.h"
#include "util.h"

#define IN_FD 3
#define OUT_FD 4
#define NOBODY 65534
#define AS_LIMIT (256ull << 20) /* address space: libraries, TSK, FFmpeg (probe.h) */
#define CPU_LIMIT_S 600         /* evidockd's wall-clock deadline comes first */

static int set_limit(int res, rlim_t v)
{
        const struct rlimit rl = { .rlim_cur = v, .rlim_max = v };

        return setrlimit(res, &rl);
}

static int limits(void)
{
        int r = 0;

        r |= set_limit(RLIMIT_CPU, CPU_LIMIT_S);
        r |= set_limit(RLIMIT_NOFILE, OUT_FD + 1);
        r |= set_limit(RLIMIT_FSIZE, 0);
        r |= set_limit(RLIMIT_CORE, 0);
#if !defined(__SANITIZE_ADDRESS__) /* ASan reserves terabytes of address space */
        r |= set_limit(RLIMIT_AS, AS_LIMIT);
#endif
        return r;
}

/* No capability left in any set, whatever the daemon held. */
static int drop_privileges(void)
{
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2];

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -1;
        if (geteuid() == 0 || getuid() == 0) {
                /* Leaving root clears every capability. */
                if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                    setresuid(NOBODY, NOBODY, NOBODY) < 0)
                        return -1;
        }
        (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        if (syscall(SYS_capget, &h, d) < 0)
                return -1;
        if (d[0].permitted | d[1].permitted | d[0].effective | d[1].effective | d[0].inheritable |
            d[1].inheritable) {
                memset(d, 0, sizeof(d));
                if (syscall(SYS_capset, &h, d) < 0)
                        return -1;
        }
        return 0;
}

static int allow(scmp_filter_ctx ctx, int nr)
{
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
}

static int filter(bool serve)
{
        static const int allowed[] = {
                SCMP_SYS(read),         SCMP_SYS(pread64),        SCMP_SYS(readv),
                SCMP_SYS(preadv),       SCMP_SYS(lseek),          SCMP_SYS(fstat),
                SCMP_SYS(newfstatat),   SCMP_SYS(statx),          SCMP_SYS(fcntl),
                SCMP_SYS(close),        SCMP_SYS(mmap),           SCMP_SYS(munmap),
                SCMP_SYS(mremap),       SCMP_SYS(mprotect),       SCMP_SYS(brk),
                SCMP_SYS(madvise),      SCMP_SYS(futex),          SCMP_SYS(clock_gettime),
                SCMP_SYS(gettimeofday), SCMP_SYS(getrandom),      SCMP_SYS(sched_getaffinity),
                SCMP_SYS(sched_yield),  SCMP_SYS(getpid),         SCMP_SYS(gettid),
                SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
                SCMP_SYS(exit),         SCMP_SYS(exit_group),     SCMP_SYS(restart_syscall),
        };
        static const int killed[] = { SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(ptrace),
                                      SCMP_SYS(socket), SCMP_SYS(connect),  SCMP_SYS(fork),
                                      SCMP_SYS(vfork),  SCMP_SYS(clone),    SCMP_SYS(clone3) };
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
        int r = ctx ? 0 : -ENOMEM;

        for (size_t i = 0; r == 0 && i < EVD_ARRAY_SIZE(allowed); i++)
                r = allow(ctx, allowed[i]);
        for (size_t i = 0; r == 0 && i < EVD_ARRAY_SIZE(killed); i++)
                r = seccomp_rule_add(ctx, SCMP_ACT_KILL, killed[i], 0);
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(write), 1,
                                     SCMP_A0(SCMP_CMP_EQ, OUT_FD));
        if (r == 0 && serve) /* media-serve: requests and answers on its socket */
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(recvmsg), 1,
                                     SCMP_A0(SCMP_CMP_EQ, IN_FD));
        if (r == 0 && serve)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1,
                                     SCMP_A0(SCMP_CMP_EQ, IN_FD));
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
                                     SCMP_A0(SCMP_CMP_EQ, IN_FD),
                                     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)BLKGETSIZE64));
        if (r == 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
                                     SCMP_A0(SCMP_CMP_EQ, IN_FD),
                                     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)BLKSSZGET));
        if (r == 0) /* abort() signals itself */
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                                     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
        if (r == 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        return r;
}

static int answer(json_t *msg)
{
        char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
        int r = text ? evd_write_full(OUT_FD, text, strlen(text)) : -ENOMEM;

        free(text);
        json_decref(msg);
        return r < 0 ? 2 : 0;
}

static int list(char **exts, size_t n_exts)
{
        struct evd_source_list *files = NULL;
        struct evd_source *src = NULL;
        struct evd_err err = { 0 };
        json_t *msg, *deleted = NULL;
        int r;

        r = evd_source_open_fd(IN_FD, "recorder", &src, &err);
        if (r == 0)
                r = evd_source_list(src, (const char *const *)exts, n_exts, NULL, &files, &err);
        /* 第三十一条(三): what was deleted on the device, named beside the listing. */
        if (r == 0)
                r = evd_source_list_deleted(src, (const char *const *)exts, n_exts, &deleted, &err);
        if (r == 0)
                r = evd_source_list_map(src, files, &err);
        msg = r < 0 ? evd_probe_msg_error(r, err.text)
                    : evd_probe_msg_listing(files, evd_source_partition_count(src));
        if (msg && deleted)
                (void)json_object_set_new(msg, "deleted", deleted);
        else
                json_decref(deleted);
        evd_source_list_free(files);
        evd_source_free(src);
        return answer(msg);
}

/* An fd sent with one byte (SCM_RIGHTS) on the socket at IN_FD: 1 and *ret_fd, 0 at
 * EOF, -1 for anything else. */
static int receive_fd(int *ret_fd)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        char byte;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr msg = { .msg_iov = &iov,
                              .msg_iovlen = 1,
                              .msg_control = u.buf,
                              .msg_controllen = sizeof(u.buf) };
        struct cmsghdr *c;
        ssize_t n = recvmsg(IN_FD, &msg, MSG_CMSG_CLOEXEC);

        if (n == 0)
                return 0;
        c = CMSG_FIRSTHDR(&msg);
        if (n != 1 || !c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
                return -1;
        memcpy(ret_fd, CMSG_DATA(c), sizeof(*ret_fd));
        return 1;
}

/* Probe one file after another: each request is an fd on the socket at fd 3
 * (receive_fd); the answer is one message back. Ends at EOF. */
static int media_serve(void)
{
        for (;;) {
                struct evd_err err = { 0 };
                json_t *m = NULL, *answer_msg;
                char *text;
                int fd = -1, r = receive_fd(&fd);

                if (r <= 0)
                        return r == 0 ? 0 : 2;
                r = evd_media_probe(fd, NULL, &m, &err);
                (void)close(fd);
                answer_msg = r < 0 ? evd_probe_msg_error(r, err.text) : evd_probe_msg_media(m);
                text = answer_msg ? json_dumps(answer_msg, JSON_COMPACT) : NULL;
                json_decref(answer_msg);
                if (!text || send(IN_FD, text, strlen(text), MSG_NOSIGNAL) < 0) {
                        free(text);
                        return 2;
                }
                free(text);
        }
}

/* A lister started ahead of its dock (probe.h) has a socket at fd 3 and waits there for
 * the device, linked and ready; the device then takes fd 3's place. Trusted input from
 * evidockd, taken before the sandbox is entered: nothing of the device is read yet. */
static int take_device(void)
{
        struct stat st;
        int fd = -1;

        if (fstat(IN_FD, &st) < 0)
                return -1;
        if (!S_ISSOCK(st.st_mode))
                return 0; /* fd 3 is the device already */
        if (receive_fd(&fd) != 1)
                return -1;
        if (dup2(fd, IN_FD) < 0) {
                (void)close(fd);
                return -1;
        }
        return close(fd);
}

static int media(void)
{
        struct evd_err err = { 0 };
        json_t *m = NULL;
        int r = evd_media_probe(IN_FD, NULL, &m, &err);

        return answer(r < 0 ? evd_probe_msg_error(r, err.text) : evd_probe_msg_media(m));
}

int main(int argc, char **argv)
{
        bool is_list = argc >= 2 && strcmp(argv[1], "list") == 0;
        bool serve = argc == 2 && strcmp(argv[1], "media-serve") == 0;

        if (argc < 2 || (!is_list && !serve && !(strcmp(argv[1], "media") == 0 && argc == 2))) {
                (void)fprintf(stderr, "usage: evidock-probe list [EXT...] | media "
                                      "(input on fd 3, answer on fd 4)\n");
                return 2;
        }
        if (fcntl(IN_FD, F_GETFD) < 0 || (!serve && fcntl(OUT_FD, F_GETFD) < 0)) {
                (void)fprintf(stderr, "evidock-probe: fds 3 and 4 must be open\n");
                return 2;
        }
        if (syscall(SYS_close_range, serve ? IN_FD + 1 : OUT_FD + 1, ~0u, 0) < 0) {
                (void)fprintf(stderr, "evidock-probe: close_range: %s\n", strerror(errno));
                return 2;
        }
        if (is_list && take_device() < 0) {
                (void)fprintf(stderr, "evidock-probe: no device came on fd 3\n");
                return 2;
        }
        tzset(); /* FAT times are local: read the zone before open() is refused */
        if (limits() < 0 || drop_privileges() < 0 || filter(serve) < 0) {
                (void)fprintf(stderr, "evidock-probe: cannot enter the sandbox: %s\n",
                              strerror(errno));
                return 2;
        }
        if (getenv("EVIDOCK_PROBE_TEST_SYSCALL")) /* tests: the filter holds */
                return answer(evd_probe_msg_error(-EPERM, open("/etc/passwd", O_RDONLY) < 0
                                                                  ? "open refused"
                                                                  : "open allowed"));
        if (serve)
                return media_serve();
        return is_list ? list(argv + 2, (size_t)argc - 2) : media();
}
