/* evidockd: the evidence docking station daemon. Wiring only: read the
 * configuration, open the station, serve the control socket on a libuv loop, tell
 * systemd how it goes, stop cleanly. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "catalog.h"
#include "conf.h"
#include "control.h"
#include "dock.h"
#include "log.h"
#include "station.h"

/* Above the control socket's line buffers (EVD_CONTROL_LINE_MAX, one per connection:
 * mapping each would slow accepting under a flood), below the copy buffers. */
#define EVD_MMAP_THRESHOLD (512 * 1024)

#define STATUS_INTERVAL_MS 5000
#define PURGE_FIRST_MS (60 * 1000)
#define CHECKPOINT_CHECK_MS (60 * 1000)
#define PURGE_INTERVAL_MS (24 * 3600 * 1000)

struct daemon;

/* Periodic work that blocks (disk, catalogue), run off the loop, one at a time. */
struct chore {
        uv_timer_t timer;
        uv_work_t work;
        bool busy;
        struct daemon *daemon;
        void (*run)(struct daemon *d);
};

struct daemon {
        uv_loop_t *loop;
        const char *conf_path;
        struct evd_station *station;
        struct evd_control *control;
        struct evd_docks *docks;
        uv_signal_t sigterm, sigint, sighup;
        uv_timer_t status_timer, watchdog_timer;
        struct chore purge, seal;
        bool watchdog;
        bool failed; /* the catalogue failed: exit 1 */
        bool stopping;
};

static void usage(FILE *out)
{
        fprintf(out, "Usage: evidockd [-c FILE] [-n] [-v]\n"
                     "Evidence docking station daemon: copies recordings into write-once storage,\n"
                     "verifies and catalogues them, and serves evidockctl on a unix socket.\n\n"
                     "  -c, --config FILE  configuration file (default " EVD_CONF_DEFAULT_PATH ")\n"
                     "  -n, --check        check the configuration, print it normalised, exit\n"
                     "  -v, --verbose      log debug messages\n"
                     "  -h, --help         this help\n"
                     "      --version      print the version\n");
}

static void stop(struct daemon *d);

static void on_status_timer(uv_timer_t *t)
{
        struct daemon *d = t->data;
        char line[256];

        /* A catalogue LMDB has given up on answers nothing until it is opened again:
         * stop with a failure, so that systemd (Restart=on-failure) starts the station
         * afresh rather than leave it refusing every request. */
        if (evd_catalog_failed(evd_station_catalog(d->station))) {
                evd_log_err("the catalogue failed (a write of its meta page failed): stopping "
                            "so that the station is started again");
                d->failed = true;
                stop(d);
                return;
        }

        evd_station_summary(d->station, line, sizeof(line));
        (void)sd_notifyf(0, "STATUS=%s", line);
}

static void on_watchdog_timer(uv_timer_t *t)
{
        (void)t;
        /* Sent from the loop itself: a loop that hangs stops the pings. */
        (void)sd_notify(0, "WATCHDOG=1");
}

/* [retention] purge = auto: once a day. */
static void purge(struct daemon *d)
{
        struct evd_err err = { 0 };
        struct evd_conf conf;
        json_t *result = NULL;

        evd_station_conf(d->station, &conf);
        if (!conf.purge_auto)
                return;
        if (evd_station_purge_clock_ok(d->station, PURGE_INTERVAL_MS / 1000, &err) < 0) {
                evd_log_err("%s", err.text);
                return;
        }
        if (evd_station_purge(d->station, NULL, "retention policy (purge = auto)",
                              "retention period and grace ended", false, &result, &err) < 0)
                evd_log_err("automatic purge failed: %s", err.text);
        else if (json_array_size(json_object_get(result, "purged")) > 0)
                evd_log_notice("automatic purge deleted %zu item(s)",
                               json_array_size(json_object_get(result, "purged")));
        json_decref(result);
}

/* Seal the audit log with a signed checkpoint (checkpoint.h) and copy it to the
 * journal. Blocking. */
static void checkpoint(struct daemon *d, bool force)
{
        struct evd_err err = { 0 };
        json_t *cp = NULL;

        if (evd_station_checkpoint(d->station, force, &cp, &err) < 0) {
                evd_log_debug("no audit checkpoint: %s", err.text);
                return;
        }
        if (cp)
                evd_log_notice("audit checkpoint: seq %lld head %s cert %s",
                               json_integer_value(json_object_get(cp, "seq")),
                               json_string_value(json_object_get(cp, "head")) ?: "?",
                               json_string_value(json_object_get(cp, "cert_sha256")) ?: "?");
        json_decref(cp);
}

static void seal_when_due(struct daemon *d)
{
        checkpoint(d, false);
}

static void chore_run(uv_work_t *w)
{
        struct chore *c = w->data;

        c->run(c->daemon);
}

static void chore_done(uv_work_t *w, int status)
{
        struct chore *c = w->data;

        (void)status;
        c->busy = false;
}

static void on_chore_timer(uv_timer_t *t)
{
        struct chore *c = t->data;

        if (c->busy || c->daemon->stopping)
                return;
        c->work.data = c;
        if (uv_queue_work(c->daemon->loop, &c->work, chore_run, chore_done) == 0)
                c->busy = true;
}

static void chore_start(struct daemon *d, struct chore *c, void (*run)(struct daemon *),
                        uint64_t first_ms, uint64_t every_ms)
{
        c->daemon = d;
        c->run = run;
        (void)uv_timer_init(d->loop, &c->timer);
        c->timer.data = c;
        (void)uv_timer_start(&c->timer, on_chore_timer, first_ms, every_ms);
}

static void stop(struct daemon *d)
{
        if (d->stopping)
                return;
        d->stopping = true;
        evd_log_notice("stopping");
        (void)sd_notify(0, "STOPPING=1");
        evd_station_stop(d->station);
        evd_docks_stop(d->docks);
        evd_control_free(d->control);
        d->control = NULL;
        uv_close((uv_handle_t *)&d->sigterm, NULL);
        uv_close((uv_handle_t *)&d->sigint, NULL);
        uv_close((uv_handle_t *)&d->sighup, NULL);
        uv_close((uv_handle_t *)&d->status_timer, NULL);
        uv_close((uv_handle_t *)&d->watchdog_timer, NULL);
        uv_close((uv_handle_t *)&d->purge.timer, NULL);
        uv_close((uv_handle_t *)&d->seal.timer, NULL);
}

static void reload(struct daemon *d)
{
        struct evd_conf conf;
        struct evd_err err = { 0 };
        json_t *details;
        int r;

        r = evd_conf_load(d->conf_path, &conf, &err);
        if (r < 0) {
                evd_log_err("reload refused, keeping the running configuration: %s", err.text);
                details = json_pack("{ss ss}", "file", d->conf_path, "error", err.text);
                (void)evd_station_audit(d->station, NULL, "config.reload_refused", "", details);
                json_decref(details);
                return;
        }
        r = evd_station_reload(d->station, &conf, &err);
        if (r < 0)
                evd_log_warning("reloaded %s; %s", d->conf_path, err.text);
        else
                evd_log_notice("reloaded %s", d->conf_path);
        details = json_pack("{ss}", "file", d->conf_path);
        (void)evd_station_audit(d->station, NULL, "config.reloaded", "", details);
        json_decref(details);
}

static void on_signal(uv_signal_t *h, int signum)
{
        struct daemon *d = h->data;

        if (signum == SIGHUP)
                reload(d);
        else
                stop(d);
}

static void on_dock_log(int priority, const char *text, void *userdata)
{
        (void)userdata;
        evd_log(priority, "%s", text);
}

/* Docks and station meet here: the docks get the station's catalog, engine, calendar
 * and configuration; the station shows the docks in status and STATUS=. */
static void station_conf(void *userdata, struct evd_conf *ret)
{
        evd_station_conf(userdata, ret);
}

static void docks_status(void *userdata, json_t *docks_out, json_t *warnings)
{
        evd_docks_status(userdata, docks_out, warnings);
}

static void docks_summary(void *userdata, char *buf, size_t n)
{
        evd_docks_summary(userdata, buf, n);
}

static void docks_rejected(void *userdata, json_t *out)
{
        evd_docks_rejected(userdata, out);
}

static void docks_left(void *userdata, json_t *out)
{
        evd_docks_left(userdata, out);
}

static void start_docks(struct daemon *d)
{
        const struct evd_dock_env env = { .catalog = evd_station_catalog(d->station),
                                          .ingest = evd_station_ingest(d->station),
                                          .calendar = evd_station_calendar(d->station),
                                          .conf = station_conf,
                                          .conf_userdata = d->station,
                                          .log = on_dock_log };
        struct evd_station_docks shown = { docks_status, docks_summary, NULL, docks_rejected,
                                           docks_left };
        struct evd_err err = { 0 };

        if (evd_docks_new(d->loop, &env, &d->docks, &err) < 0) {
                evd_log_err("docking is off: %s", err.text);
                d->docks = NULL;
                return;
        }
        shown.userdata = d->docks;
        evd_station_set_docks(d->station, &shown);
        (void)evd_docks_watch(d->docks);
}

/* One uid's refusals over a minute (control.h), on a pool thread: one audit entry. */
static void on_refused(void *userdata, const struct evd_refusal *refusal)
{
        json_t *details = evd_refusal_details(refusal);
        char subject[256];

        (void)evd_station_audit(userdata, &refusal->actor, "request.refused",
                                evd_refusal_subject(refusal, subject, sizeof(subject)), details);
        json_decref(details);
}

/* A listening unix stream socket handed over by systemd (evidockd.socket, or
 * systemd-socket-activate), or -1 to make our own. Others passed are closed. */
static int activated_socket(void)
{
        char **names = NULL;
        int n = sd_listen_fds_with_names(1, &names), fd = -1;

        for (int i = 0; i < n; i++) {
                int cand = SD_LISTEN_FDS_START + i;

                if (fd < 0 && sd_is_socket_unix(cand, SOCK_STREAM, 1, NULL, 0) > 0)
                        fd = cand;
                else
                        (void)close(cand);
                if (names)
                        free(names[i]);
        }
        free(names);
        return fd;
}

static int load_conf(const char *path, bool explicit, struct evd_conf *conf)
{
        struct evd_err err = { 0 };
        int r = evd_conf_load(path, conf, &err);

        if (r == -ENOENT && !explicit) {
                evd_conf_defaults(conf);
                return 0;
        }
        if (r < 0)
                fprintf(stderr, "evidockd: %s\n", err.text);
        return r;
}

/* Signals, the status and watchdog timers and the periodic chores, on d->loop. */
static void start_timers(struct daemon *d)
{
        uint64_t usec = 0;

        (void)uv_signal_init(d->loop, &d->sigterm);
        (void)uv_signal_init(d->loop, &d->sigint);
        (void)uv_signal_init(d->loop, &d->sighup);
        d->sigterm.data = d->sigint.data = d->sighup.data = d;
        (void)uv_signal_start(&d->sigterm, on_signal, SIGTERM);
        (void)uv_signal_start(&d->sigint, on_signal, SIGINT);
        (void)uv_signal_start(&d->sighup, on_signal, SIGHUP);
        (void)uv_timer_init(d->loop, &d->status_timer);
        (void)uv_timer_init(d->loop, &d->watchdog_timer);
        d->status_timer.data = d->watchdog_timer.data = d;
        chore_start(d, &d->seal, seal_when_due, CHECKPOINT_CHECK_MS, CHECKPOINT_CHECK_MS);
        chore_start(d, &d->purge, purge, PURGE_FIRST_MS, PURGE_INTERVAL_MS);
        (void)uv_timer_start(&d->status_timer, on_status_timer, STATUS_INTERVAL_MS,
                             STATUS_INTERVAL_MS);
        if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
                (void)uv_timer_start(&d->watchdog_timer, on_watchdog_timer, 0,
                                     usec / 2000 ? usec / 2000 : 1);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "config", required_argument, NULL, 'c' }, { "check", no_argument, NULL, 'n' },
                { "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },      { 0 }
        };
        struct daemon d = { .conf_path = EVD_CONF_DEFAULT_PATH };
        struct evd_control_roles roles;
        struct evd_err err = { 0 };
        struct evd_conf conf;
        bool check = false, explicit = false;
        json_t *details;
        int c, r;

        /* Copy buffers (1 MiB) always from mmap, so that a freed one goes back to the
         * system: glibc's sliding threshold would keep them in one heap per worker
         * thread, and with a worker per docked recorder that is the RSS (issue 16). */
        (void)mallopt(M_MMAP_THRESHOLD, EVD_MMAP_THRESHOLD);

        while ((c = getopt_long(argc, argv, "c:nvh", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        d.conf_path = optarg;
                        explicit = true;
                        break;
                case 'n':
                        check = true;
                        break;
                case 'v':
                        evd_log_set_max(LOG_DEBUG);
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("evidockd %s\n", EVD_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }
        if (load_conf(d.conf_path, explicit, &conf) < 0)
                return 1;
        if (check) {
                evd_conf_print(&conf, stdout);
                return 0;
        }

        /* Before any thread: local time is the station's, and commands get enough
         * pool threads that long imports do not hold up short queries. */
        (void)setenv("TZ", conf.timezone, 1);
        tzset();
        (void)setenv("UV_THREADPOOL_SIZE", "16", 0);
        (void)signal(SIGPIPE, SIG_IGN);

        r = evd_station_new(&conf, &d.station, &err);
        if (r < 0) {
                evd_log_err("cannot start: %s", err.text);
                return 1;
        }
        d.loop = uv_default_loop();
        roles = (struct evd_control_roles){ conf.group_clerk, conf.group_archivist,
                                            conf.group_admin, conf.group_replicator };
        r = evd_control_new(d.loop, conf.control_socket, activated_socket(), evd_station_commands,
                            evd_station_n_commands, &roles, d.station, on_refused, &d.control,
                            &err);
        if (r < 0) {
                evd_log_err("cannot start: %s", err.text);
                evd_station_free(d.station);
                return 1;
        }
        evd_control_set_tokens(d.control, evd_station_token, d.station);
        /* Docking: never fatal; without USB hotplug the station still serves. */
        start_docks(&d);
        start_timers(&d);

        details = json_pack("{ss ss}", "version", EVD_VERSION, "config", d.conf_path);
        (void)evd_station_audit(d.station, NULL, "station.started", conf.name, details);
        json_decref(details);
        evd_log_notice("evidockd %s ready on %s (state %s)", EVD_VERSION, conf.control_socket,
                       conf.state_dir);
        (void)sd_notify(0, "READY=1\nSTATUS=idle");

        (void)uv_run(d.loop, UV_RUN_DEFAULT);

        (void)evd_station_audit(d.station, NULL, "station.stopped", conf.name, NULL);
        /* The last thing written: a seal over everything before it. */
        checkpoint(&d, true);
        evd_station_set_docks(d.station, NULL);
        evd_docks_free(d.docks);
        evd_station_free(d.station);
        (void)uv_loop_close(d.loop);
        evd_log_notice("stopped");
        return d.failed ? 1 : 0;
}
