/* Unit tests for the control socket's limits (control.h) and the refusal summaries
 * (refusals.h): per-uid connections and the slots kept for admins, a connection closed
 * after repeated refusals, the idle timeout (a running request is never cut),
 * backpressure on replies nobody reads, and refusals audited as per-uid summaries.
 * A real socket served by a real libuv loop on a thread of its own; callers without a
 * role are forked children that drop to uids no group gives a role. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "refusals.h"
#include "testutil.h"

#define NOBODY 65534
#define NOBODY2 65533
#define NOBODY3 65532
#define BIG_REPLY (32 * 1024)

struct server {
        char *dir;
        char path[256];
        pthread_t thread;
        uv_loop_t loop;
        uv_async_t stop;
        struct evd_control *control;
        struct evd_control_limits limits;
        pthread_mutex_t lock;
        pthread_cond_t ready_cond;
        bool ready;
        /* What on_refused was given. */
        struct evd_refusal refused[16];
        size_t n_refused;
};

static atomic_int big_runs;

static int cmd_ping(void *u, struct evd_request *req, const json_t *args, json_t **ret,
                    struct evd_err *err)
{
        (void)u, (void)req, (void)args, (void)err;
        *ret = json_string("pong");
        return 0;
}

static int cmd_big(void *u, struct evd_request *req, const json_t *args, json_t **ret,
                   struct evd_err *err)
{
        static char text[BIG_REPLY];

        (void)u, (void)req, (void)args, (void)err;
        memset(text, 'b', sizeof(text) - 1);
        atomic_fetch_add(&big_runs, 1);
        *ret = json_string(text);
        return 0;
}

/* Runs past the idle timeout, or sends 2 MB of progress nobody reads. */
static int cmd_slow(void *u, struct evd_request *req, const json_t *args, json_t **ret,
                    struct evd_err *err)
{
        (void)u, (void)err;
        if (json_is_true(json_object_get(args, "chatty"))) {
                char text[1024];

                memset(text, 'p', sizeof(text) - 1);
                text[sizeof(text) - 1] = '\0';
                for (int i = 0; i < 2048; i++)
                        evd_request_progress(req, json_pack("{ss}", "p", text));
        } else {
                (void)usleep(800 * 1000);
        }
        *ret = json_string("done");
        return 0;
}

static int cmd_secret(void *u, struct evd_request *req, const json_t *args, json_t **ret,
                      struct evd_err *err)
{
        (void)u, (void)req, (void)args, (void)err;
        *ret = json_string("secret");
        return 0;
}

/* Who the request runs as: {name, role, token}. */
static int cmd_whoami(void *u, struct evd_request *req, const json_t *args, json_t **ret,
                      struct evd_err *err)
{
        const char *token = evd_request_token(req);

        (void)u, (void)args, (void)err;
        *ret = json_pack("{ss ss ss}", "name", evd_request_actor(req)->name, "role",
                         evd_role_name(evd_request_role(req)), "token", token ? token : "");
        return 0;
}

/* Sessions as the daemon's would give them: one live token, a clerk's. */
static int token_fn(void *userdata, const char *token, struct evd_actor *actor, enum evd_role *role)
{
        (void)userdata;
        if (strcmp(token, "live-clerk") != 0)
                return -ENOENT;
        (void)snprintf(actor->name, sizeof(actor->name), "web:张三");
        *role = EVD_ROLE_CLERK;
        return 0;
}

static const struct evd_control_command commands[] = {
        { "whoami", EVD_ROLE_NONE, cmd_whoami },  { "ping", EVD_ROLE_NONE, cmd_ping },
        { "big", EVD_ROLE_NONE, cmd_big },        { "slow", EVD_ROLE_NONE, cmd_slow },
        { "secret", EVD_ROLE_ADMIN, cmd_secret },
};

static void on_refused(void *userdata, const struct evd_refusal *r)
{
        struct server *s = userdata;

        pthread_mutex_lock(&s->lock);
        if (s->n_refused < EVD_ARRAY_SIZE(s->refused))
                s->refused[s->n_refused++] = *r;
        pthread_mutex_unlock(&s->lock);
}

static void on_stop(uv_async_t *a)
{
        struct server *s = a->data;

        evd_control_free(s->control);
        uv_close((uv_handle_t *)&s->stop, NULL);
}

static void *serve(void *p)
{
        struct server *s = p;
        struct evd_control_roles roles = { .clerk = "evd-unit-no-such-group" };
        struct evd_err err = { 0 };

        assert_int_equal(uv_loop_init(&s->loop), 0);
        assert_int_equal(evd_control_new(&s->loop, s->path, -1, commands, EVD_ARRAY_SIZE(commands),
                                         &roles, s, on_refused, &s->control, &err),
                         0);
        evd_control_set_limits(s->control, &s->limits);
        evd_control_set_tokens(s->control, token_fn, s);
        (void)uv_async_init(&s->loop, &s->stop, on_stop);
        s->stop.data = s;
        pthread_mutex_lock(&s->lock);
        s->ready = true;
        pthread_cond_signal(&s->ready_cond);
        pthread_mutex_unlock(&s->lock);
        (void)uv_run(&s->loop, UV_RUN_DEFAULT);
        (void)uv_loop_close(&s->loop);
        return NULL;
}

static struct server *server_start(uint64_t idle_ms)
{
        struct server *s = calloc(1, sizeof(*s));

        assert_non_null(s);
        s->dir = tu_tempdir();
        (void)snprintf(s->path, sizeof(s->path), "%s/ctl.sock", s->dir);
        (void)chmod(s->dir, 0755);
        s->limits = (struct evd_control_limits){ .clients_max = 8,
                                                 .admin_reserved = 2,
                                                 .per_uid_max = 3,
                                                 .refusals_max = 4,
                                                 .idle_ms = idle_ms,
                                                 .queue_soft = 16 * 1024,
                                                 .queue_hard = 256 * 1024 };
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->ready_cond, NULL);
        assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
        pthread_mutex_lock(&s->lock);
        while (!s->ready)
                pthread_cond_wait(&s->ready_cond, &s->lock);
        pthread_mutex_unlock(&s->lock);
        return s;
}

/* Stop the control (which audits what is still counted) and the loop. */
static void server_stop(struct server *s)
{
        (void)uv_async_send(&s->stop);
        assert_int_equal(pthread_join(s->thread, NULL), 0);
}

static void server_free(struct server *s)
{
        tu_rmtree(s->dir);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->ready_cond);
        free(s);
}

static int cl_connect(const struct server *s)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (strlen(s->path) >= sizeof(sa.sun_path))
                abort();
        memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                abort();
        return fd;
}

/* One reply line into buf (NUL-terminated, cut to size); -1 on EOF or after 20 s. */
static int cl_line(int fd, char *buf, size_t size)
{
        size_t n = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                char ch;

                if (poll(&p, 1, 20000) != 1 || read(fd, &ch, 1) != 1)
                        return -1;
                if (ch == '\n')
                        break;
                if (n + 1 < size)
                        buf[n++] = ch;
        }
        buf[n] = '\0';
        return 0;
}

/* A connection turned away may be closed before the request is sent: its one error
 * line is still there to read. */
static void cl_send(int fd, const char *text)
{
        (void)send(fd, text, strlen(text), MSG_NOSIGNAL);
}

/* A request and its final line: 0, or -1 when the connection was closed first. */
static int cl_request(int fd, const char *line, char *reply, size_t size)
{
        cl_send(fd, line);
        while (cl_line(fd, reply, size) == 0)
                if (!strstr(reply, "\"progress\""))
                        return 0;
        return -1;
}

static bool cl_eof(int fd)
{
        char buf[256];

        while (cl_line(fd, buf, sizeof(buf)) == 0)
                ;
        return true;
}

/* A child that drops to uid, opens n connections, pings on each and writes what each
 * got ('p' pong, 'u' per-uid limit, 'a' admin slots, 'f' full, '?' other) to
 * report; it holds them until hold is closed. */
static pid_t child_connect(struct server *s, uid_t uid, int n, int report, const int hold[2])
{
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid > 0)
                return pid;
        (void)close(hold[1]); /* EOF when the parent closes its end */
        if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
                _exit(2);
        for (int i = 0; i < n; i++) {
                char reply[512], c = '?';
                int fd = cl_connect(s);

                if (cl_request(fd, "{\"cmd\": \"ping\"}\n", reply, sizeof(reply)) == 0) {
                        if (strstr(reply, "pong"))
                                c = 'p';
                        else if (strstr(reply, "connections from uid"))
                                c = 'u';
                        else if (strstr(reply, "kept for admins"))
                                c = 'a';
                        else if (strstr(reply, "too many clients"))
                                c = 'f';
                }
                if (write(report, &c, 1) != 1)
                        _exit(3);
        }
        (void)read(hold[0], &n, 1);
        _exit(0);
}

static void child_report(int fd, int n, char *out)
{
        for (int i = 0; i < n; i++)
                if (read(fd, &out[i], 1) != 1)
                        fail_msg("child gave no report");
        out[n] = '\0';
}

static void child_reap(pid_t pid)
{
        int status;

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Each uid but an admin's gets per_uid_max connections; the last slots are kept for
 * admins; the whole is bounded even for them. */
static void per_uid_and_admin_slots(void **state)
{
        struct server *s = server_start(60 * 1000);
        int report[2], hold[2], fds[3];
        char got[8], reply[512];
        pid_t a, b, c;

        (void)state;
        assert_int_equal(pipe(report), 0);
        assert_int_equal(pipe(hold), 0);
        a = child_connect(s, NOBODY, 5, report[1], hold);
        child_report(report[0], 5, got);
        assert_string_equal(got, "pppuu"); /* 3 from one uid, the rest turned away */
        b = child_connect(s, NOBODY2, 3, report[1], hold);
        child_report(report[0], 3, got);
        assert_string_equal(got, "ppp"); /* 6 held: 8 less the 2 kept for admins */
        c = child_connect(s, NOBODY3, 1, report[1], hold);
        child_report(report[0], 1, got);
        assert_string_equal(got, "a");
        /* Root is an admin: the two kept slots are its, then nobody gets in. */
        for (int i = 0; i < 3; i++) {
                fds[i] = cl_connect(s);
                assert_int_equal(cl_request(fds[i], "{\"cmd\": \"ping\"}\n", reply, sizeof(reply)),
                                 0);
                assert_non_null(strstr(reply, i < 2 ? "pong" : "too many clients connected"));
        }
        for (int i = 0; i < 3; i++)
                (void)close(fds[i]);
        (void)close(hold[1]);
        child_reap(a);
        child_reap(b);
        child_reap(c);
        (void)close(hold[0]);
        (void)close(report[0]);
        (void)close(report[1]);
        server_stop(s);
        /* Turned away at connect: counted as refusals of "(connect)". */
        uint64_t connects = 0;
        for (size_t i = 0; i < s->n_refused; i++)
                for (size_t j = 0; j < s->refused[i].n_commands; j++)
                        if (strcmp(s->refused[i].commands[j].name, "(connect)") == 0)
                                connects += s->refused[i].commands[j].count;
        assert_int_equal(connects, 2 + 1 + 1); /* per uid, admin slots, full (root) */
        server_free(s);
}

/* A caller without a role is refused, the refusals are summed per uid, and after
 * refusals_max the connection is closed. */
static void refusals_close_and_are_summed(void **state)
{
        struct server *s = server_start(60 * 1000);
        char reply[512];
        int status;
        pid_t pid;

        (void)state;
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd, ok = 0;

                if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                        _exit(2);
                fd = cl_connect(s);
                for (int i = 0; i < 10; i++)
                        cl_send(fd, "{\"cmd\": \"secret\"}\n");
                while (cl_line(fd, reply, sizeof(reply)) == 0)
                        ok += strstr(reply, "permission denied: secret needs the admin role") != 0;
                /* 4 refusals, then one line saying why, then EOF */
                _exit(ok == 4 && strstr(reply, "too many refused requests") ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        server_stop(s);
        uint64_t total = 0;
        for (size_t i = 0; i < s->n_refused; i++) {
                assert_int_equal(s->refused[i].actor.uid, NOBODY);
                assert_int_equal(s->refused[i].n_commands, 1);
                assert_string_equal(s->refused[i].commands[0].name, "secret");
                total += s->refused[i].count;
        }
        assert_int_equal(total, 4);
        assert_true(s->n_refused >= 1 && s->n_refused <= 2);
        server_free(s);
}

/* A session token gives the request its account's role and actor, whatever the unix
 * caller (here root, an admin); a stale one leaves it no role; a malformed one is an
 * error. A refusal under a session is counted for the unix uid, naming the account. */
static void session_tokens(void **state)
{
        static const struct {
                const char *line, *want;
        } cases[] = {
                { "{\"cmd\": \"whoami\"}\n",
                  "\"name\":\"root\",\"role\":\"admin\",\"token\":\"\"" },
                { "{\"cmd\": \"whoami\", \"token\": \"live-clerk\"}\n",
                  "\"name\":\"web:张三\",\"role\":\"clerk\",\"token\":\"live-clerk\"" },
                { "{\"cmd\": \"secret\"}\n", "\"secret\"" },
                { "{\"cmd\": \"secret\", \"token\": \"live-clerk\"}\n",
                  "permission denied: secret needs the admin role" },
                { "{\"cmd\": \"secret\", \"token\": \"stale\"}\n",
                  "session expired: sign in again" },
                { "{\"cmd\": \"whoami\", \"token\": \"stale\"}\n", "\"role\":\"none\"" },
                { "{\"cmd\": \"ping\", \"token\": 17}\n", "must be a session token string" },
                { "{\"cmd\": \"ping\", \"token\": \"\"}\n", "must be a session token string" },
        };
        struct server *s = server_start(60 * 1000);
        char reply[512], *big = malloc(4096);
        int fd;

        (void)state;
        assert_non_null(big);
        for (size_t i = 0; i < EVD_ARRAY_SIZE(cases); i++) {
                fd = cl_connect(s); /* a fresh one each: refusals close after a few */
                assert_int_equal(cl_request(fd, cases[i].line, reply, sizeof(reply)), 0);
                if (!strstr(reply, cases[i].want))
                        fail_msg("%s -> %s, want %s", cases[i].line, reply, cases[i].want);
                (void)close(fd);
        }
        (void)snprintf(big, 4096, "{\"cmd\": \"ping\", \"token\": \"%0200d\"}\n", 0);
        fd = cl_connect(s);
        assert_int_equal(cl_request(fd, big, reply, sizeof(reply)), 0);
        assert_non_null(strstr(reply, "must be a session token string"));
        (void)close(fd);
        free(big);
        server_stop(s);
        assert_int_equal(s->n_refused, 1);
        assert_int_equal(s->refused[0].actor.uid, 0);
        assert_int_equal(s->refused[0].count, 2);
        assert_non_null(strstr(s->refused[0].reason, "session expired")); /* the latest */
        server_free(s);
}

/* A connection with no request for idle_ms is closed; one whose request runs longer
 * than that is not. */
static void idle_connections_close(void **state)
{
        struct server *s = server_start(300);
        char reply[512];
        int idle = cl_connect(s), busy = cl_connect(s);

        (void)state;
        assert_int_equal(cl_request(busy, "{\"cmd\": \"slow\"}\n", reply, sizeof(reply)), 0);
        assert_non_null(strstr(reply, "done"));
        assert_int_equal(cl_line(idle, reply, sizeof(reply)), 0);
        assert_non_null(strstr(reply, "no request for"));
        assert_true(cl_eof(idle));
        (void)close(idle);
        (void)close(busy);
        server_stop(s);
        server_free(s);
}

/* Wait until f's counter has not moved for 300 ms; its value then. */
static int settled(atomic_int *v)
{
        int last = -1, now = atomic_load(v);

        while (now != last) {
                last = now;
                (void)usleep(300 * 1000);
                now = atomic_load(v);
        }
        return now;
}

/* A client that does not read its replies is not read either, until it reads them;
 * one whose replies pile up past the hard cap is closed. */
static void backpressure(void **state)
{
        struct server *s = server_start(60 * 1000);
        char reply[BIG_REPLY + 256];
        int fd = cl_connect(s), got = 0, ran;

        (void)state;
        atomic_store(&big_runs, 0);
        for (int i = 0; i < 100; i++)
                cl_send(fd, "{\"cmd\": \"big\"}\n");
        /* 100 x 32 KiB asked for: only what fits the socket and the soft cap is run. */
        ran = settled(&big_runs);
        assert_true(ran < 40);
        while (got < 100 && cl_line(fd, reply, sizeof(reply)) == 0)
                got += strstr(reply, "\"ok\": true") || strstr(reply, "\"ok\":true");
        assert_int_equal(got, 100);
        assert_int_equal(atomic_load(&big_runs), 100);
        /* 2 MiB of progress from a running request, never read: the client is closed
         * and its final reply never comes. */
        cl_send(fd, "{\"cmd\": \"slow\", \"args\": {\"chatty\": true}}\n");
        {
                struct pollfd p = { .fd = fd, .events = POLLRDHUP };

                assert_int_equal(poll(&p, 1, 20000), 1); /* closed while nothing was read */
        }
        got = 0;
        while (cl_line(fd, reply, sizeof(reply)) == 0)
                got += strstr(reply, "done") != NULL;
        assert_int_equal(got, 0);
        (void)close(fd);
        server_stop(s);
        server_free(s);
}

/* ---- the summaries alone ---- */

static void summaries_per_uid_and_minute(void **state)
{
        struct evd_refusals *r = evd_refusals_new();
        struct evd_actor alice = { 1001, "alice" }, bob = { 1002, "bob" };
        struct evd_refusal out[EVD_REFUSALS_UIDS_MAX + 1];
        char subject[16];
        json_t *details;

        (void)state;
        assert_non_null(r);
        assert_false(evd_refusals_due(r, 1000));
        evd_refusals_note(r, &alice, "purge", "no", 1000);
        assert_true(evd_refusals_due(r, 1000)); /* the first at once */
        assert_int_equal(evd_refusals_take(r, 1000, false, out, 8), 1);
        assert_int_equal(out[0].count, 1);
        /* The rest of the minute: counted, due when it ends. */
        for (int i = 0; i < 500; i++)
                evd_refusals_note(r, &alice, i % 2 ? "purge" : "items", "no", 1001 + i / 10);
        evd_refusals_note(r, &bob, "items", "no", 1030);
        assert_int_equal(evd_refusals_take(r, 1040, false, out, 8), 1); /* bob's first */
        assert_int_equal(out[0].actor.uid, 1002);
        assert_int_equal(evd_refusals_take(r, 1059, false, out, 8), 0);
        assert_int_equal(evd_refusals_take(r, 1060, false, out, 8), 1);
        assert_int_equal(out[0].actor.uid, 1001);
        assert_int_equal(out[0].count, 500);
        assert_int_equal(out[0].first, 1001);
        assert_int_equal(out[0].last, 1050);
        assert_int_equal(out[0].n_commands, 2);
        assert_string_equal(evd_refusal_subject(&out[0], subject, sizeof(subject)), "items,purge");
        details = evd_refusal_details(&out[0]);
        assert_int_equal(json_integer_value(json_object_get(details, "count")), 500);
        assert_int_equal(
                json_integer_value(json_object_get(json_object_get(details, "commands"), "items")),
                250);
        json_decref(details);
        /* A quiet minute forgets the uid: its next refusal is due at once again. */
        assert_int_equal(evd_refusals_take(r, 1200, false, out, 8), 0);
        evd_refusals_note(r, &alice, "purge", "no", 1201);
        assert_int_equal(evd_refusals_take(r, 1201, false, out, 8), 1);
        /* all: everything counted, whatever the time. */
        evd_refusals_note(r, &alice, "purge", "no", 1202);
        assert_int_equal(evd_refusals_take(r, 1202, true, out, 8), 1);
        evd_refusals_free(r);
}

static void summaries_are_bounded(void **state)
{
        struct evd_refusals *r = evd_refusals_new();
        struct evd_refusal out[EVD_REFUSALS_UIDS_MAX + 1];
        char name[32], subject[20];
        size_t n;

        (void)state;
        /* 1,000 uids: 64 slots and one for all the others. */
        for (uint32_t uid = 0; uid < 1000; uid++) {
                struct evd_actor a = { 5000 + uid, "" };

                evd_refusals_note(r, &a, "items", "no", 1000);
        }
        n = evd_refusals_take(r, 1000, false, out, EVD_ARRAY_SIZE(out));
        assert_int_equal(n, EVD_REFUSALS_UIDS_MAX + 1);
        assert_int_equal(out[n - 1].actor.uid, EVD_REFUSALS_OVERFLOW_UID);
        assert_int_equal(out[n - 1].count, 1000 - EVD_REFUSALS_UIDS_MAX);
        /* 40 command names: the first 32 by name, the others counted together. */
        for (int i = 0; i < 40; i++) {
                struct evd_actor a = { 5000, "" };

                (void)snprintf(name, sizeof(name), "cmd%d", i);
                evd_refusals_note(r, &a, name, "no", 1061);
        }
        n = evd_refusals_take(r, 1061, true, out, EVD_ARRAY_SIZE(out));
        assert_int_equal(n, 1);
        assert_int_equal(out[0].n_commands, EVD_REFUSALS_COMMANDS_MAX);
        assert_int_equal(out[0].other_commands, 40 - EVD_REFUSALS_COMMANDS_MAX);
        /* A subject too long is cut at a whole name. */
        assert_string_equal(evd_refusal_subject(&out[0], subject, sizeof(subject)),
                            "cmd0,cmd1,cmd2,cmd3");
        evd_refusals_free(r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(summaries_per_uid_and_minute),
                cmocka_unit_test(summaries_are_bounded),
                cmocka_unit_test(per_uid_and_admin_slots),
                cmocka_unit_test(refusals_close_and_are_summed),
                cmocka_unit_test(idle_connections_close),
                cmocka_unit_test(backpressure),
                cmocka_unit_test(session_tokens),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
