/* evidock-replicate: copies the station's recordings and their records into an S3
 * Object Lock bucket (COMPLIANCE) and reports each confirmed copy to evidockd.
 *
 * A process of its own: it holds the S3 credentials and is the only part of the
 * station with network access; it reads the catalogue and the objects read-only and
 * writes nothing local. Its logic is lib/replicate.c. Without a [replication] section
 * it has nothing to do and exits 0. A bucket that cannot keep the promise (no
 * versioning, no Object Lock, or it deletes a COMPLIANCE object) is refused: evidockd is
 * told (it audits the refusal once and raises an alarm) and it exits 1. SIGHUP (systemctl
 * reload) reads the configuration again and checks the bucket again. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "replicate.h"

#define EVD_VERSION_R "0.1"

static volatile sig_atomic_t stop, reload;

static void on_signal(int sig)
{
        if (sig == SIGHUP)
                reload = 1;
        else
                stop = 1;
}

/* Sleep ms milliseconds, or less when a signal comes. */
static void nap(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        (void)nanosleep(&ts, NULL);
}

/* Replicate until a signal: 0 on SIGTERM or SIGINT, 1 on SIGHUP (reload). */
static int run(struct evd_replicate *r)
{
        struct evd_err err = { 0 };
        long backoff_ms = 0;
        size_t done, waiting;

        while (!stop && !reload) {
                if (!backoff_ms && !evd_replicate_has_work(r)) {
                        nap(200); /* the catalogue is polled: LMDB says when it changed */
                        continue;
                }
                int rc = evd_replicate_pass(r, &done, &waiting, &err);

                if (done)
                        evd_log_info("replicated %zu items, %zu waiting", done, waiting);
                if (rc < 0) {
                        backoff_ms = backoff_ms ? backoff_ms * 2 : 500;
                        if (backoff_ms > 60000)
                                backoff_ms = 60000;
                        evd_log_warning("replication paused %ld ms: %s", backoff_ms, err.text);
                        nap(backoff_ms / 2 + rand() % (backoff_ms / 2 + 1));
                } else {
                        backoff_ms = 0;
                        if (waiting && !done)
                                nap(200);
                }
        }
        return stop ? 0 : 1;
}

/* Read the configuration, make the replicator and check its bucket, telling evidockd
 * what the check found. 0 with *ret; 1 when there is nothing to replicate; -errno when
 * it cannot replicate (logged). */
static int start(const char *path, struct evd_replicate **ret)
{
        char access[EVD_REPLICATE_SECRET_MAX], secret[EVD_REPLICATE_SECRET_MAX];
        struct evd_replicate *r = NULL;
        struct evd_err err = { 0 }, e2 = { 0 };
        struct evd_conf conf;
        int rc;

        if (evd_conf_load(path, &conf, &err) < 0) {
                evd_log_err("%s", err.text);
                return -EINVAL;
        }
        if (!conf.repl.on) {
                evd_log_notice("%s has no [replication] section: nothing to replicate", path);
                return 1;
        }
        rc = evd_replicate_credentials(&conf, access, secret, &err);
        if (rc == 0)
                rc = evd_replicate_new(&conf, access, secret, &r, &err);
        explicit_bzero(secret, sizeof(secret));
        if (rc == 0) {
                rc = evd_replicate_check_bucket(r, &err);
                /* a refusal is the bucket's own (not the network's): evidockd keeps it */
                if ((rc == 0 || rc == -EPERM) &&
                    evd_replicate_report_bucket(r, rc ? err.text : NULL, &e2) < 0)
                        evd_log_warning("could not tell evidockd: %s", e2.text);
        }
        if (rc < 0) {
                evd_log_err("refusing to replicate: %s", err.text);
                evd_replicate_free(r);
                return rc;
        }
        evd_log_notice("replicating to %s bucket %s", conf.repl.endpoint, conf.repl.bucket);
        *ret = r;
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
                                              { "help", no_argument, NULL, 'h' },
                                              { 0 } };
        const char *path = EVD_CONF_DEFAULT_PATH;
        struct sigaction sa = { .sa_handler = on_signal };
        int c, rc;

        while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
                if (c == 'c') {
                        path = optarg;
                } else {
                        fprintf(c == 'h' ? stdout : stderr,
                                "usage: evidock-replicate [-c CONFIG]\n");
                        return c == 'h' ? 0 : 2;
                }
        }
        (void)sigaction(SIGTERM, &sa, NULL);
        (void)sigaction(SIGINT, &sa, NULL);
        (void)sigaction(SIGHUP, &sa, NULL);
        (void)signal(SIGPIPE, SIG_IGN);
        srand((unsigned)time(NULL) ^ (unsigned)getpid());
        do {
                struct evd_replicate *r = NULL;

                reload = 0;
                rc = start(path, &r);
                if (rc != 0)
                        return rc > 0 ? 0 : 1;
                rc = run(r);
                evd_replicate_free(r);
                if (rc)
                        evd_log_notice("reloading %s", path);
        } while (rc && !stop);
        return 0;
}
