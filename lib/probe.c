#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "probe_msg.h"

#define HELPER_IN_FD 3
#define HELPER_OUT_FD 4
#define FIRST_FREE_FD 5 /* the helper's fds are made above its own */
#define ARGS_MAX 72     /* "list", 64 extensions, NULL */
#define READ_CHUNK (64 * 1024)

extern char **environ;

/* Whether the helper watched by pidfd has ended: one waiting for work that ended
 * (killed, out of memory) is not given any, so no input is blamed for it. */
static bool helper_ended(int pidfd)
{
        struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

        return poll(&pfd, 1, 0) != 0;
}

/* One run of the helper. */
struct run {
        pid_t pid;
        int pidfd, out; /* pidfd: -1 once reaped */
        int status;
        char *data; /* the answer */
        size_t len, cap;
};

/* A lister started ahead (evd_probes_prepare): linked and waiting for the device
 * on its socket (evidock-probe.c), for a listing of the extensions in key. */
struct spare {
        struct run run;
        int sock;
        char *key; /* the extensions, each followed by '\n' */
};

/* A helper serving media probes ("media-serve"), one file after another. */
struct server {
        pid_t pid;
        int pidfd, sock;
        unsigned served;
};

struct evd_probes {
        pthread_mutex_t lock;
        pthread_cond_t turn;
        unsigned running, max;
        struct server *idle; /* max of them; n_idle waiting for work */
        unsigned n_idle;
        struct spare *spares; /* max of them; n_spares listers started ahead */
        unsigned n_spares;
};

static int serve_stop(struct server *h);
static int send_fd(int sock, int fd);
static void spare_drop(struct spare *sp);
static int crash_text(int status, struct evd_err *err);

int evd_probes_new(unsigned max_running, struct evd_probes **ret)
{
        struct evd_probes *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->max = max_running ? max_running : EVD_PROBE_MAX_RUNNING;
        p->idle = calloc(p->max, sizeof(*p->idle));
        p->spares = calloc(p->max, sizeof(*p->spares));
        if (!p->idle || !p->spares) {
                free(p->idle);
                free(p->spares);
                free(p);
                return -ENOMEM;
        }
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->turn, NULL);
        *ret = p;
        return 0;
}

void evd_probes_free(struct evd_probes *p)
{
        if (!p)
                return;
        for (unsigned i = 0; i < p->n_idle; i++)
                (void)serve_stop(&p->idle[i]);
        for (unsigned i = 0; i < p->n_spares; i++)
                spare_drop(&p->spares[i]);
        free(p->idle);
        free(p->spares);
        pthread_cond_destroy(&p->turn);
        pthread_mutex_destroy(&p->lock);
        free(p);
}

static void take_turn(struct evd_probes *p)
{
        pthread_mutex_lock(&p->lock);
        while (p->running >= p->max)
                pthread_cond_wait(&p->turn, &p->lock);
        p->running++;
        pthread_mutex_unlock(&p->lock);
}

static void end_turn(struct evd_probes *p)
{
        pthread_mutex_lock(&p->lock);
        p->running--;
        pthread_cond_signal(&p->turn);
        pthread_mutex_unlock(&p->lock);
}

/* The helper's path: $EVIDOCK_PROBE, else next to this program. */
static int program(char *out, size_t n, struct evd_err *err)
{
        const char *env = getenv("EVIDOCK_PROBE");
        char self[PATH_MAX];
        ssize_t len;
        char *slash;

        if (env && *env) {
                if (snprintf(out, n, "%s", env) >= (int)n)
                        return evd_err_set(err, -ENAMETOOLONG, "EVIDOCK_PROBE is too long");
                return 0;
        }
        len = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (len < 0)
                return evd_err_set(err, -errno, "cannot find this program: %m");
        self[len] = '\0';
        slash = strrchr(self, '/');
        if (slash)
                *slash = '\0';
        if (snprintf(out, n, "%s/%s", slash ? self : ".", EVD_PROBE_PROGRAM) >= (int)n)
                return evd_err_set(err, -ENAMETOOLONG, "the probe's path is too long");
        if (access(out, X_OK) < 0)
                return evd_err_set(err, -ENOENT, "%s: %m (the sandboxed parser)", out);
        return 0;
}

static unsigned deadline_ms(unsigned dflt)
{
        const char *env = getenv("EVIDOCK_PROBE_DEADLINE_MS");
        char *end;
        unsigned long v;

        if (!env || !*env)
                return dflt;
        errno = 0;
        v = strtoul(env, &end, 10);
        return errno || *end || v == 0 || v > UINT_MAX ? dflt : (unsigned)v;
}

/* The daemon's environment without LD_PRELOAD (a test harness's preload library,
 * umockdev's, talks over sockets the helper may not open), and with sanitizer builds'
 * leak check off: LeakSanitizer's check at exit starts a tracer (clone, ptrace) that
 * the seccomp filter kills, so an ASan build of the helper would die of SIGSYS. The
 * variable means nothing to a normal build. A new array (free it; the strings are
 * environ's), or NULL when out of memory. */
static char **helper_env(void)
{
        size_t n = 0, k = 0;
        char **envp;

        while (environ[n])
                n++;
        envp = calloc(n + 2, sizeof(*envp));
        if (!envp)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 &&
                    strncmp(environ[i], "ASAN_OPTIONS=", 13) != 0)
                        envp[k++] = environ[i];
        envp[k++] = (char *)"ASAN_OPTIONS=detect_leaks=0";
        envp[k] = NULL;
        return envp;
}

/* In the child, between fork and exec: async-signal-safe calls only, and no open():
 * a preloaded wrapper of it (umockdev's, in the tests) takes a lock that another
 * thread may have held at fork, so the parent opens /dev/null (nul) beforehand. */
static void child(int nul, int in, int out, const char *path, char *const *argv, char *const *envp)
{
        const struct rlimit no_core = { 0, 0 };

        (void)setpgid(0, 0);
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        (void)setrlimit(RLIMIT_CORE, &no_core); /* a crash leaves no core to write */
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(in, HELPER_IN_FD) < 0 ||
            (out >= 0 && dup2(out, HELPER_OUT_FD) < 0))
                _exit(126);
        (void)execve(path, argv, envp);
        _exit(127);
}

static int start(struct run *run, int fd, char *const *argv, struct evd_err *err)
{
        char path[PATH_MAX], **envp;
        int pipefd[2] = { -1, -1 }, in = -1, out = -1, nul = -1, r;

        if ((r = program(path, sizeof(path), err)) < 0)
                return r;
        envp = helper_env();
        if (!envp)
                return evd_err_set(err, -ENOMEM, "out of memory");
        nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        in = fcntl(fd, F_DUPFD_CLOEXEC, FIRST_FREE_FD);
        if (nul < 0 || in < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
                r = evd_err_set(err, -errno, "cannot start the probe: %m");
                goto out;
        }
        out = fcntl(pipefd[1], F_DUPFD_CLOEXEC, FIRST_FREE_FD);
        if (out < 0) {
                r = evd_err_set(err, -errno, "cannot start the probe: %m");
                goto out;
        }
        run->pid = fork();
        if (run->pid == 0)
                child(nul, in, out, path, argv, envp);
        if (run->pid < 0) {
                r = evd_err_set(err, -errno, "cannot start the probe: %m");
                goto out;
        }
        run->pidfd = (int)syscall(SYS_pidfd_open, run->pid, 0);
        if (run->pidfd < 0) { /* cannot wait with a deadline: give up on it */
                r = evd_err_set(err, -errno, "cannot watch the probe: %m");
                (void)kill(-run->pid, SIGKILL);
                (void)waitpid(run->pid, NULL, 0);
                goto out;
        }
        run->out = pipefd[0];
        pipefd[0] = -1;
        r = 0;
out:
        if (pipefd[0] >= 0)
                (void)close(pipefd[0]);
        if (pipefd[1] >= 0)
                (void)close(pipefd[1]);
        if (in >= 0)
                (void)close(in);
        if (out >= 0)
                (void)close(out);
        if (nul >= 0)
                (void)close(nul);
        free(envp);
        return r;
}

/* Read what is there; -EMSGSIZE past the cap, 1 at EOF. */
static int take_output(struct run *run)
{
        ssize_t n;

        if (run->cap - run->len < READ_CHUNK) {
                size_t cap = run->cap ? 2 * run->cap : 2 * READ_CHUNK;
                char *d;

                if (cap > EVD_PROBE_MSG_MAX + READ_CHUNK)
                        cap = EVD_PROBE_MSG_MAX + READ_CHUNK;
                if (cap - run->len < READ_CHUNK / 2)
                        return -EMSGSIZE;
                d = realloc(run->data, cap);
                if (!d)
                        return -ENOMEM;
                run->data = d;
                run->cap = cap;
        }
        n = read(run->out, run->data + run->len, run->cap - run->len);
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : -errno;
        run->len += (size_t)n;
        if (run->len > EVD_PROBE_MSG_MAX)
                return -EMSGSIZE;
        return n == 0;
}

/* Wait for the answer and the helper's end, up to ms. */
static int wait_for(struct run *run, unsigned ms, struct evd_err *err)
{
        uint64_t end = evd_clock_mono_ns() + (uint64_t)ms * 1000000;
        bool eof = false;
        siginfo_t si;
        int r = 0;

        while (!eof || run->pidfd >= 0) {
                struct pollfd fds[2] = { { .fd = eof ? -1 : run->out, .events = POLLIN },
                                         { .fd = run->pidfd, .events = POLLIN } };
                uint64_t now = evd_clock_mono_ns();

                if (now >= end) {
                        r = evd_err_set(err, -ETIMEDOUT, "probe timed out after %u s",
                                        (ms + 999) / 1000);
                        break;
                }
                if (poll(fds, 2, (int)((end - now + 999999) / 1000000)) < 0 && errno != EINTR) {
                        r = evd_err_set(err, -errno, "waiting for the probe: %m");
                        break;
                }
                if (fds[0].revents && (r = take_output(run)) != 0) {
                        if (r < 0) {
                                r = evd_err_set(err, r,
                                                r == -EMSGSIZE ? "the probe answered more than "
                                                                 "the limit"
                                                               : "reading the probe's answer");
                                break;
                        }
                        eof = true;
                        r = 0;
                }
                memset(&si, 0, sizeof(si));
                if (fds[1].revents &&
                    waitid(P_PIDFD, (id_t)run->pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid) {
                        run->status =
                                si.si_code == CLD_EXITED ? si.si_status << 8 : si.si_status & 0x7f;
                        (void)close(run->pidfd);
                        run->pidfd = -1;
                        eof |= si.si_code != CLD_EXITED; /* its answer is of no use */
                }
        }
        return r;
}

static void finish(struct run *run)
{
        if (run->pidfd >= 0) {
                (void)kill(-run->pid, SIGKILL); /* its group: a script's children too */
                (void)kill(run->pid, SIGKILL);
                (void)waitid(P_PIDFD, (id_t)run->pidfd, &(siginfo_t){ 0 }, WEXITED);
                (void)close(run->pidfd);
                run->pidfd = -1;
        } else if (run->pid > 0) {
                (void)kill(-run->pid, SIGKILL); /* what it left behind */
        }
        if (run->out >= 0)
                (void)close(run->out);
        run->out = -1;
}

/* ---- listings: a helper per recorder, started ahead of its disk ---- */

static void spare_drop(struct spare *sp)
{
        finish(&sp->run);
        if (sp->sock >= 0)
                (void)close(sp->sock);
        free(sp->key);
        free(sp->run.data);
        *sp = (struct spare){ .run = { .pid = -1, .pidfd = -1, .out = -1 }, .sock = -1 };
}

/* The extensions as one string, which tells whether a spare fits a listing. */
static char *exts_key(const char *const *exts, size_t n_exts)
{
        size_t len = 1;
        char *key, *at;

        for (size_t i = 0; i < n_exts; i++)
                len += strlen(exts[i]) + 1;
        key = at = calloc(1, len);
        if (!key)
                return NULL;
        for (size_t i = 0; i < n_exts; i++) {
                size_t n = strlen(exts[i]);

                memcpy(at, exts[i], n);
                at[n] = '\n';
                at += n + 1;
        }
        return key;
}

/* Start a lister for exts that waits for its device on a socket. */
static int spare_start(const char *const *exts, size_t n_exts, struct spare *sp,
                       struct evd_err *err)
{
        const char *argv[ARGS_MAX] = { EVD_PROBE_PROGRAM, "list" };
        int sv[2], r;

        *sp = (struct spare){ .run = { .pid = -1, .pidfd = -1, .out = -1 }, .sock = -1 };
        if (n_exts > ARGS_MAX - 3)
                return evd_err_set(err, -EINVAL, "more than %d extensions", ARGS_MAX - 3);
        for (size_t i = 0; i < n_exts; i++)
                argv[2 + i] = exts[i];
        if (!(sp->key = exts_key(exts, n_exts)))
                return evd_err_set(err, -ENOMEM, "out of memory");
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                r = evd_err_set(err, -errno, "cannot start the probe: %m");
                spare_drop(sp);
                return r;
        }
        r = start(&sp->run, sv[1], (char *const *)argv, err);
        (void)close(sv[1]);
        sp->sock = sv[0];
        if (r < 0)
                spare_drop(sp);
        return r;
}

/* A live spare for key into *ret (1), or 0. Spares for other extensions (the
 * configuration changed) and ended ones are dropped on the way. */
static int spare_take(struct evd_probes *p, const char *key, struct spare *ret)
{
        for (;;) {
                bool any;

                pthread_mutex_lock(&p->lock);
                any = p->n_spares > 0;
                if (any)
                        *ret = p->spares[--p->n_spares];
                pthread_mutex_unlock(&p->lock);
                if (!any)
                        return 0;
                if (strcmp(ret->key, key) == 0 && !helper_ended(ret->run.pidfd))
                        return 1;
                spare_drop(ret);
        }
}

/* Start a lister for exts, unless max of them wait already. */
static void spare_add(struct evd_probes *p, const char *const *exts, size_t n_exts)
{
        struct evd_err err = { 0 };
        struct spare sp;
        bool kept = false;

        pthread_mutex_lock(&p->lock);
        kept = p->n_spares >= p->max; /* enough are waiting */
        pthread_mutex_unlock(&p->lock);
        if (kept || spare_start(exts, n_exts, &sp, &err) < 0)
                return; /* the listing starts one itself, and says why if it cannot */
        pthread_mutex_lock(&p->lock);
        if (p->n_spares < p->max) {
                p->spares[p->n_spares++] = sp;
                kept = true;
        }
        pthread_mutex_unlock(&p->lock);
        if (!kept)
                spare_drop(&sp);
}

/* List the device open on fd with a spare, or a helper started now; on success
 * *ret_data/len hold its answer. */
static int run_lister(struct evd_probes *p, int fd, const char *const *exts, size_t n_exts,
                      char **ret_data, size_t *ret_len, struct evd_err *err)
{
        char *key = exts_key(exts, n_exts);
        struct spare sp;
        int r = 0;

        if (!key)
                return evd_err_set(err, -ENOMEM, "out of memory");
        take_turn(p);
        if (!spare_take(p, key, &sp))
                r = spare_start(exts, n_exts, &sp, err);
        free(key);
        if (r == 0) {
                (void)send_fd(sp.sock, fd); /* one that died meanwhile says how when waited for */
                r = wait_for(&sp.run, deadline_ms(EVD_PROBE_LIST_MS), err);
                if (r == 0 && sp.run.status)
                        r = crash_text(sp.run.status, err);
                if (r == 0) {
                        *ret_data = sp.run.data;
                        *ret_len = sp.run.len;
                        sp.run.data = NULL;
                }
                spare_drop(&sp);
        }
        end_turn(p);
        return r;
}

int evd_probe_list(struct evd_probes *p, const char *node, const char *const *exts, size_t n_exts,
                   struct evd_source **ret_src, struct evd_source_list **ret_list,
                   json_t **ret_deleted, struct evd_err *err)
{
        json_t *deleted = NULL;
        struct evd_source_list *list = NULL;
        char *data = NULL;
        size_t len = 0;
        unsigned parts = 0;
        uint64_t size;
        int fd, r;

        if ((r = evd_source_device_open(node, &fd, &size, err)) < 0)
                return r;
        r = run_lister(p, fd, exts, n_exts, &data, &len, err);
        (void)close(fd);
        if (r == 0)
                r = evd_probe_msg_listing_decode(data, len, &list, &parts, err);
        if (r == 0 && ret_deleted)
                r = evd_probe_msg_deleted_decode(data, len, &deleted, err);
        free(data);
        if (r == 0 && (r = evd_source_open_mapped(node, parts, list, ret_src, err)) < 0 &&
            r == -EBADMSG) {
                char why[EVD_ERR_TEXT_MAX];

                memcpy(why, err->text, sizeof(why));
                (void)evd_err_set(err, r, "the probe's answer is nonsense: %s", why);
        }
        if (r < 0) {
                evd_source_list_free(list);
                json_decref(deleted);
                return r;
        }
        *ret_list = list;
        if (ret_deleted)
                *ret_deleted = deleted;
        return 0;
}

bool evd_probe_blames_input(int r)
{
        return r == -ECHILD || r == -ETIMEDOUT || r == -EBADMSG || r == -EMSGSIZE;
}

/* ---- media probes: a helper serves many files ---- */

/* Start a media server: fd 3 its end of a SOCK_SEQPACKET pair. */
static int serve_start(struct server *h, struct evd_err *err)
{
        char *const argv[] = { (char *)EVD_PROBE_PROGRAM, (char *)"media-serve", NULL };
        char path[PATH_MAX], **envp = NULL;
        int sv[2] = { -1, -1 }, theirs = -1, nul = -1, r;

        *h = (struct server){ .pid = -1, .pidfd = -1, .sock = -1 };
        if ((r = program(path, sizeof(path), err)) < 0)
                return r;
        envp = helper_env();
        if (!envp)
                return evd_err_set(err, -ENOMEM, "out of memory");
        nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nul < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
            (theirs = fcntl(sv[1], F_DUPFD_CLOEXEC, FIRST_FREE_FD)) < 0) {
                r = evd_err_set(err, -errno, "cannot start the probe: %m");
                goto out;
        }
        h->pid = fork();
        if (h->pid == 0)
                child(nul, theirs, -1, path, argv, envp);
        if (h->pid < 0 || (h->pidfd = (int)syscall(SYS_pidfd_open, h->pid, 0)) < 0) {
                r = evd_err_set(err, -errno, "cannot start the probe: %m");
                if (h->pid > 0) {
                        (void)kill(h->pid, SIGKILL);
                        (void)waitpid(h->pid, NULL, 0);
                }
                goto out;
        }
        h->sock = sv[0];
        sv[0] = -1;
        r = 0;
out:
        for (int i = 0; i < 2; i++)
                if (sv[i] >= 0)
                        (void)close(sv[i]);
        if (theirs >= 0)
                (void)close(theirs);
        if (nul >= 0)
                (void)close(nul);
        free(envp);
        return r;
}

/* Kill and reap a server; returns its wait status. */
static int serve_stop(struct server *h)
{
        siginfo_t si = { 0 };
        int status = 0;

        if (h->pidfd >= 0) {
                (void)kill(-h->pid, SIGKILL);
                (void)kill(h->pid, SIGKILL);
                if (waitid(P_PIDFD, (id_t)h->pidfd, &si, WEXITED) == 0)
                        status = si.si_code == CLD_EXITED ? si.si_status << 8 : si.si_status & 0x7f;
                (void)close(h->pidfd);
        }
        if (h->sock >= 0)
                (void)close(h->sock);
        *h = (struct server){ .pid = -1, .pidfd = -1, .sock = -1 };
        return status;
}

static int send_fd(int sock, int fd)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        char byte = 'm';
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr msg = { .msg_iov = &iov,
                              .msg_iovlen = 1,
                              .msg_control = u.buf,
                              .msg_controllen = sizeof(u.buf) };
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

        memset(&u, 0, sizeof(u));
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

/* One request to a running server: its answer in *ret (malloc'd, *ret_len bytes). */
static int serve_one(struct server *h, int fd, unsigned ms, char **ret, size_t *ret_len,
                     struct evd_err *err)
{
        uint64_t end = evd_clock_mono_ns() + (uint64_t)ms * 1000000;
        char *buf = malloc(EVD_PROBE_MEDIA_MSG_MAX + 1);
        ssize_t n;
        int r;

        if (!buf)
                return evd_err_set(err, -ENOMEM, "out of memory");
        if ((r = send_fd(h->sock, fd)) < 0) {
                free(buf);
                return evd_err_set(err, -ECHILD, "probe failed: it took no request (%s)",
                                   strerror(-r));
        }
        for (;;) {
                struct pollfd fds[2] = { { .fd = h->sock, .events = POLLIN },
                                         { .fd = h->pidfd, .events = POLLIN } };
                uint64_t now = evd_clock_mono_ns();

                if (now >= end) {
                        free(buf);
                        return evd_err_set(err, -ETIMEDOUT, "probe timed out after %u s",
                                           (ms + 999) / 1000);
                }
                if (poll(fds, 2, (int)((end - now + 999999) / 1000000)) < 0 && errno != EINTR) {
                        free(buf);
                        return evd_err_set(err, -errno, "waiting for the probe: %m");
                }
                if (fds[0].revents & POLLIN)
                        break;
                if (fds[0].revents || fds[1].revents) { /* it died: serve_stop says how */
                        free(buf);
                        return -ECHILD;
                }
        }
        n = recv(h->sock, buf, EVD_PROBE_MEDIA_MSG_MAX + 1, MSG_TRUNC);
        if (n <= 0) { /* it went away (ECONNRESET): serve_stop says how */
                free(buf);
                return -ECHILD;
        }
        if ((size_t)n > EVD_PROBE_MEDIA_MSG_MAX) {
                free(buf);
                return evd_err_set(err, -EMSGSIZE, "the probe answered more than the limit");
        }
        *ret = buf;
        *ret_len = (size_t)n;
        return 0;
}

static int crash_text(int status, struct evd_err *err)
{
        int sig = status & 0x7f;
        const char *name = sig ? sigabbrev_np(sig) : NULL;

        if (sig)
                return evd_err_set(err, -ECHILD, "probe crashed: signal %d%s%s%s", sig,
                                   name ? " (SIG" : "", name ? name : "", name ? ")" : "");
        if (status >> 8 == 126 || status >> 8 == 127) /* child(): no exec */
                return evd_err_set(err, -ENOEXEC, "cannot start the probe (exit status %d)",
                                   status >> 8);
        return evd_err_set(err, -ECHILD, "probe failed: exit status %d", status >> 8);
}

/* Start media helpers until max of them wait for work, or run. */
static void media_warm(struct evd_probes *p)
{
        for (;;) {
                struct evd_err err = { 0 };
                struct server h;
                bool enough;

                pthread_mutex_lock(&p->lock);
                enough = p->n_idle + p->running >= p->max;
                pthread_mutex_unlock(&p->lock);
                if (enough || serve_start(&h, &err) < 0)
                        return;
                pthread_mutex_lock(&p->lock);
                enough = p->n_idle >= p->max;
                if (!enough)
                        p->idle[p->n_idle++] = h;
                pthread_mutex_unlock(&p->lock);
                if (enough) {
                        (void)serve_stop(&h);
                        return;
                }
        }
}

void evd_probes_prepare(struct evd_probes *p, const char *const *exts, size_t n_exts)
{
        spare_add(p, exts, n_exts);
        media_warm(p);
}

int evd_probe_media(struct evd_probes *p, int fd, json_t **ret_media, struct evd_err *err)
{
        struct server h = { .pid = -1, .pidfd = -1, .sock = -1 };
        char *data = NULL;
        size_t len = 0;
        bool kept;
        int r = 0;

        take_turn(p);
        do {
                pthread_mutex_lock(&p->lock);
                kept = p->n_idle > 0;
                if (kept)
                        h = p->idle[--p->n_idle];
                pthread_mutex_unlock(&p->lock);
                if (kept && helper_ended(h.pidfd))
                        (void)serve_stop(&h);
        } while (kept && h.pid < 0);
        if (h.pid < 0)
                r = serve_start(&h, err);
        if (r == 0)
                r = serve_one(&h, fd, deadline_ms(EVD_PROBE_MEDIA_MS), &data, &len, err);
        if (r == -ECHILD && h.pid > 0) {
                r = crash_text(serve_stop(&h), err);
        } else if (r < 0 || ++h.served >= EVD_PROBE_SERVE_FILES) {
                (void)serve_stop(&h); /* a fresh one for the next files */
        } else {
                pthread_mutex_lock(&p->lock);
                kept = p->n_idle < p->max; /* not when warmed up meanwhile */
                if (kept)
                        p->idle[p->n_idle++] = h;
                pthread_mutex_unlock(&p->lock);
                if (!kept)
                        (void)serve_stop(&h);
        }
        end_turn(p);
        if (r == 0)
                r = evd_probe_msg_media_decode(data, len, ret_media, err);
        free(data);
        return r;
}
