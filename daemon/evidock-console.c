/* evidock-console: the station's web console (lib/console.h), a process of its own
 * with no access to the station's state: it talks to evidockd over the control socket.
 *
 *     evidock-console [-c FILE] [--listen ADDRESS:PORT]
 *
 * Reads [station] control_socket and timezone (times on the pages are the station's),
 * [labels] case_pattern and [console] from the configuration; --listen overrides [console] listen
 * (loopback only: other addresses come with TLS, from the configuration). Stops on SIGTERM or
 * SIGINT. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "console.h"
#include "web.h"

extern const struct evd_console_asset evd_console_assets[];
extern const size_t evd_console_n_assets;

static void usage(FILE *out)
{
        fprintf(out, "Usage: evidock-console [-c FILE] [--listen ADDRESS:PORT]\n");
}

int main(int argc, char **argv)
{
        const char *conf_path = EVD_CONF_DEFAULT_PATH, *listen = NULL;
        struct evd_console_options o = { .poll_ms = 200, .max_connections = 64 };
        struct evd_console *console = NULL;
        struct evd_err err = { 0 };
        struct evd_conf conf;
        sigset_t set;
        int sig = 0;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
                        conf_path = argv[++i];
                else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
                        listen = argv[++i];
                else if (strcmp(argv[i], "--help") == 0) {
                        usage(stdout);
                        return 0;
                } else {
                        usage(stderr);
                        return 2;
                }
        }
        if (evd_conf_load(conf_path, &conf, &err) < 0) {
                fprintf(stderr, "evidock-console: %s\n", err.text);
                return 1;
        }
        if (listen) {
                struct sockaddr_storage sa;
                socklen_t len;
                bool loopback = false;

                if (evd_web_parse_listen(listen, &sa, &len, &loopback) < 0 || !loopback) {
                        fprintf(stderr, "evidock-console: --listen takes a loopback "
                                        "ADDRESS:PORT (others go in [console] with TLS)\n");
                        return 2;
                }
        }
        /* Before any thread: local time on the pages is the station's. */
        (void)setenv("TZ", conf.timezone, 1);
        tzset();
        o.listen = listen ? listen : conf.console_listen;
        o.tls_cert = listen ? NULL : conf.console_tls_cert;
        o.tls_key = listen ? NULL : conf.console_tls_key;
        o.control_socket = conf.control_socket;
        o.case_pattern = conf.case_pattern;
        o.assets = evd_console_assets;
        o.n_assets = evd_console_n_assets;
        /* The signals are waited for here; every thread the console starts inherits
         * the blocked mask. */
        (void)sigemptyset(&set);
        (void)sigaddset(&set, SIGTERM);
        (void)sigaddset(&set, SIGINT);
        (void)pthread_sigmask(SIG_BLOCK, &set, NULL);
        (void)signal(SIGPIPE, SIG_IGN);
        if (evd_console_start(&o, &console, &err) < 0) {
                fprintf(stderr, "evidock-console: %s\n", err.text);
                return 1;
        }
        printf("evidock-console: listening on %s://%s/\n",
               o.tls_cert && o.tls_cert[0] ? "https" : "http", o.listen);
        fflush(stdout);
        while (sigwait(&set, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
                ;
        evd_console_stop(console);
        return 0;
}
