/* evidock-replicate: copies the station's recordings and their records into an S3
 * Object Lock bucket (COMPLIANCE) and reports each confirmed copy to evidockd.
 *
 * A process of its own: it holds the S3 credentials and is the only part of the
 * station with network access; it reads the catalogue and the objects read-only and
 * writes nothing local. Its logic is lib/replicate.c. Without a [replication] section
 * it has nothing to do and exits 0. A bucket that cannot keep the promise (no
 * versioning, no Object Lock, or it deletes a COMPLIANCE object) is refused: exit 1. */
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

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
        (void)sig;
        stop = 1;
}

/* Sleep ms milliseconds, or less when a signal comes. */
static void nap(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        (void)nanosleep(&ts, NULL);
}

static int run(struct evd_replicate *r)
{
        struct evd_err err = { 0 };
        long backoff_ms = 0;
        size_t done, waiting;

        while (!stop) {
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
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
                                              { "help", no_argument, NULL, 'h' },
                                              { 0 } };
        const char *path = EVD_CONF_DEFAULT_PATH;
        char access[EVD_REPLICATE_SECRET_MAX], secret[EVD_REPLICATE_SECRET_MAX];
        struct evd_replicate *r = NULL;
        struct evd_err err = { 0 };
        struct evd_conf conf;
        struct sigaction sa = { .sa_handler = on_stop };
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
        if (evd_conf_load(path, &conf, &err) < 0) {
                evd_log_err("%s", err.text);
                return 1;
        }
        if (!conf.repl.on) {
                evd_log_notice("%s has no [replication] section: nothing to replicate", path);
                return 0;
        }
        (void)sigaction(SIGTERM, &sa, NULL);
        (void)sigaction(SIGINT, &sa, NULL);
        (void)signal(SIGPIPE, SIG_IGN);
        srand((unsigned)time(NULL) ^ (unsigned)getpid());
        rc = evd_replicate_credentials(&conf, access, secret, &err);
        if (rc == 0)
                rc = evd_replicate_new(&conf, access, secret, &r, &err);
        explicit_bzero(secret, sizeof(secret));
        if (rc == 0)
                rc = evd_replicate_check_bucket(r, &err);
        if (rc < 0) {
                evd_log_err("refusing to replicate: %s", err.text);
                evd_replicate_free(r);
                return 1;
        }
        evd_log_notice("replicating to %s bucket %s", conf.repl.endpoint, conf.repl.bucket);
        rc = run(r);
        evd_replicate_free(r);
        return rc;
}
