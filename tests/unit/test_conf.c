/* conf: defaults, every key, normalised output, and refusals with file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>

#include "conf.h"
#include "testutil.h"

static char *dir;

static int load_text(const char *text, struct evd_conf *conf, struct evd_err *err)
{
        char path[600];

        (void)snprintf(path, sizeof(path), "%s/t.conf", dir);
        tu_write(path, text, strlen(text));
        return evd_conf_load(path, conf, err);
}

static void defaults_are_valid(void **state)
{
        struct evd_conf c;

        (void)state;
        evd_conf_defaults(&c);
        assert_string_equal(c.state_dir, "/var/lib/evidock");
        assert_int_equal(c.deadline_working_days, 2);
        assert_int_equal(c.retention_default.months, 6);
        assert_true(c.retention_evidence.permanent);
        assert_true(evd_conf_wants_extension(&c, "MP4"));
        assert_false(evd_conf_wants_extension(&c, "exe"));
        /* Stills, screenshots and phone recordings (截屏截图, 录音), in any case. */
        assert_true(evd_conf_wants_extension(&c, "png"));
        assert_true(evd_conf_wants_extension(&c, "HEIC"));
        assert_true(evd_conf_wants_extension(&c, "M4a"));
        assert_int_equal(c.n_stages, 8);
        assert_string_equal(c.stages[1], "询问");
        assert_int_equal(c.gap_tolerance_s, 120);
        assert_int_equal(c.n_heads, 0);
        assert_int_equal(c.n_security, 0);
}

static void stages_and_approvers(void **state)
{
        struct evd_conf c;
        struct evd_err err = { 0 };

        (void)state;
        assert_int_equal(load_text("[labels]\nstages = 询问 送达\nrequired_stages = 询问\n"
                                   "gap_tolerance = 5 min\n[roles]\nheads = 张局长, 李副局长\n"
                                   "security = 王保密\n",
                                   &c, &err),
                         0);
        assert_int_equal(c.n_stages, 2);
        assert_int_equal(c.n_required_stages, 1);
        assert_string_equal(c.required_stages[0], "询问");
        assert_int_equal(c.gap_tolerance_s, 300);
        assert_true(evd_conf_listed(c.heads, c.n_heads, "李副局长"));
        assert_false(evd_conf_listed(c.heads, c.n_heads, "王保密"));
        assert_true(evd_conf_listed(c.security, c.n_security, "王保密"));
        /* A required stage must be a stage. */
        assert_int_equal(load_text("[labels]\nrequired_stages = 开会\n", &c, &err), -EINVAL);
        assert_non_null(strstr(err.text, "t.conf:2"));
        assert_int_equal(load_text("[labels]\ngap_tolerance = soon\n", &c, &err), -EINVAL);
}

/* Print a (the normalised form), and load what was printed into b. */
static void reload_printed(const struct evd_conf *a, struct evd_conf *b)
{
        struct evd_err err = { 0 };
        char path[600];
        FILE *f;

        (void)snprintf(path, sizeof(path), "%s/norm.conf", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        evd_conf_print(a, f);
        fclose(f);
        assert_int_equal(evd_conf_load(path, b, &err), 0);
}

static void shipped_file_loads_and_round_trips(void **state)
{
        struct evd_conf a, b;
        struct evd_err err = { 0 };

        (void)state;
        assert_int_equal(evd_conf_load("config/evidock.conf", &a, &err), 0);
        reload_printed(&a, &b);
        assert_memory_equal(&a, &b, sizeof(a));
}

/* Only what is set is printed: a key without a cert reads back (found by fuzz_conf). */
static void signing_key_alone_round_trips(void **state)
{
        struct evd_conf a, b;
        struct evd_err err = { 0 };

        (void)state;
        assert_int_equal(load_text("[signing]\nkey = /srv/k.pem\n", &a, &err), 0);
        reload_printed(&a, &b);
        assert_string_equal(b.signing_key, "/srv/k.pem");
        assert_string_equal(b.signing_cert, "");
}

static void keys_are_read(void **state)
{
        struct evd_conf c;
        struct evd_err err = { 0 };

        (void)state;
        assert_int_equal(
                load_text("[station]\nstate_dir = /srv/ev\n[ingest]\n"
                          "extensions = .MOV, jpg\nparallel_copies = 4\n"
                          "verify = source+destination\n[usb]\nallow = 1d6b:0104 abcd:EF01\n"
                          "[retention]\ndefault = 1 year\ncase = 3 months 10 days\n",
                          &c, &err),
                0);
        assert_string_equal(c.state_dir, "/srv/ev");
        assert_int_equal(c.n_extensions, 2);
        assert_string_equal(c.extensions[0], "mov");
        assert_int_equal(c.parallel_copies, 4);
        assert_int_equal(c.verify, EVD_VERIFY_SOURCE_DESTINATION);
        assert_int_equal(c.n_usb_allow, 2);
        assert_int_equal(c.usb_allow[1], 0xabcdef01u);
        assert_int_equal(c.retention_default.months, 12);
        assert_int_equal(c.retention_case.months, 3);
        assert_int_equal(c.retention_case.days, 10);
        /* Zones the system's database has, links among them. */
        assert_int_equal(load_text("[station]\ntimezone = Asia/Chongqing\n", &c, &err), 0);
        assert_string_equal(c.timezone, "Asia/Chongqing");
        assert_int_equal(load_text("[station]\ntimezone = UTC\n", &c, &err), 0);
}

/* Each bad file is refused, naming its line and the reason. */
/* A configuration text that must be refused, and what its error must say. */
struct refusal {
        const char *text, *want;
};

/* Each of cases[0..n) refused with -EINVAL and an error holding its want. */
static void refused(const struct refusal *cases, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                struct evd_conf c;
                struct evd_err err = { 0 };

                assert_int_equal(load_text(cases[i].text, &c, &err), -EINVAL);
                if (!strstr(err.text, cases[i].want))
                        fail_msg("case %zu: '%s' does not contain '%s'", i, err.text,
                                 cases[i].want);
        }
}

static void bad_lines_are_refused(void **state)
{
        static const struct refusal cases[] = {
                { "[station]\nstate_dir = relative/path\n",
                  ":2: 'relative/path' is not an absolute" },
                { "[station]\n\nbogus = 1\n", ":3: unknown key 'bogus' in [station]" },
                { "[station]\nname = a\n\n[retension]\n# c\npurge = 30d\n",
                  ":4: unknown section [retension]" },
                { "[station]\nname = a\n  [empty]\n[usb]\n", ":3: unknown section [empty]" },
                { "[station]\ntimezone = Asia/Shangai\n", ":2: unknown time zone 'Asia/Shangai'" },
                { "[station]\ntimezone = ../../etc/passwd\n", ":2: unknown time zone" },
                { "[station]\ntimezone = /usr/share/zoneinfo/UTC\n", ":2: unknown time zone" },
                { "[station]\ntimezone = Asia\n", ":2: unknown time zone 'Asia'" },
                { "[ingest]\nparallel_copies = 0\n", ":2: '0' is not a whole number from 1 to 16" },
                { "[ingest]\nparallel_copies = 2x\n", ":2: '2x' is not a whole number" },
                { "[ingest]\nverify = maybe\n", ":2: verify 'maybe'" },
                { "[ingest]\nextensions = mp4 e$e\n", ":2: bad extension 'e$e'" },
                { "[usb]\nallow = 12345:1\n", ":2: '12345:1' is not VID:PID" },
                { "[retention]\ndefault = 2 months\n",
                  ":2: default retention '2 months' is under the 3-month floor" },
                { "[retention]\nevidence = 89 days\n",
                  ":2: evidence retention '89 days' is under the 3-month floor" },
                { "[retention]\ncase = forever\n", ":2: 'forever' is not a period" },
                { "[station]\nname\n", ":2: syntax error" },
                { "[station]\ncontrol_socket = "
                  "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                  ":2: control_socket" },
                { "[ingest]\nfilename_time_patterns = YYYYMMDD\n", ":2: pattern 'YYYYMMDD' needs" },
                { "[roles]\nadmin =;x\n", ":2: a value may not begin with ';'" },
                { "[station]\nname = a\x01b\n", ":2: value holds a control character" },
                { "[station]\nname = \xff\n", ":2: value is not valid UTF-8" },
        };

        (void)state;
        refused(cases, sizeof(cases) / sizeof(cases[0]));
}

/* [replication]: off without the section, every key read, the defaults, and the
 * refusals with file:line (plain http only to a loopback address). */
static void replication_section(void **state)
{
        struct evd_conf c;
        struct evd_err err = { 0 };

        (void)state;
        assert_int_equal(load_text("[station]\nname = st1\n", &c, &err), 0);
        assert_false(c.repl.on);
        assert_int_equal(load_text("[replication]\nendpoint = https://s3.example:8443\n"
                                   "bucket = b\n",
                                   &c, &err),
                         0);
        assert_true(c.repl.on);
        assert_string_equal(c.repl.prefix, ""); /* the station's name */
        assert_string_equal(c.repl.region, "us-east-1");
        assert_string_equal(c.repl.credentials, ""); /* $CREDENTIALS_DIRECTORY/s3 */
        assert_int_equal(c.repl.bandwidth_mb, 0);
        assert_int_equal(c.repl.parallel, 2);
        assert_int_equal(c.repl.part_size_mb, 64);
        assert_int_equal(c.repl.alarm_after_s, 24 * 3600);
        assert_int_equal(c.repl.reconcile_s, 24 * 3600);
        assert_int_equal(c.repl.sample_per_day, 10);
        assert_int_equal(c.repl.audit_retention.months, 360);
        assert_int_equal(load_text("[replication]\nendpoint = http://127.0.0.1:7480\nbucket = arc\n"
                                   "prefix = st-9\nregion = cn-1\ncredentials = /etc/evd/s3\n"
                                   "ca_file = /etc/evd/ca.pem\nbandwidth_mb = 12\nparallel = 5\n"
                                   "part_size = 16\nalarm_after = 3 h\nreconcile = off\n"
                                   "sample_per_day = 0\naudit_retention = 10 years\n",
                                   &c, &err),
                         0);
        assert_string_equal(c.repl.endpoint, "http://127.0.0.1:7480");
        assert_string_equal(c.repl.bucket, "arc");
        assert_string_equal(c.repl.prefix, "st-9");
        assert_string_equal(c.repl.region, "cn-1");
        assert_string_equal(c.repl.credentials, "/etc/evd/s3");
        assert_string_equal(c.repl.ca_file, "/etc/evd/ca.pem");
        assert_int_equal(c.repl.bandwidth_mb, 12);
        assert_int_equal(c.repl.parallel, 5);
        assert_int_equal(c.repl.part_size_mb, 16);
        assert_int_equal(c.repl.alarm_after_s, 3 * 3600);
        assert_int_equal(c.repl.reconcile_s, 0);
        assert_int_equal(c.repl.sample_per_day, 0);
        assert_int_equal(c.repl.audit_retention.months, 120);
        for (const char *const *u = (const char *const[]){ "http://localhost/", "http://[::1]:80",
                                                           "http://127.1.2.3", NULL };
             *u; u++) {
                char text[200];

                (void)snprintf(text, sizeof(text), "[replication]\nendpoint = %s\nbucket = b\n",
                               *u);
                assert_int_equal(load_text(text, &c, &err), 0);
        }
}

static void replication_refusals(void **state)
{
        static const struct refusal cases[] = {
                { "[replication]\nbucket = b\nendpoint = http://192.0.2.1:7480\n",
                  ":3: endpoint 'http://192.0.2.1:7480' is not an https:// URL" },
                { "[replication]\nendpoint = http://127.0.0.1.evil.example/\n",
                  ":2: endpoint 'http://127.0.0.1.evil.example/'" },
                { "[replication]\nendpoint = http://localhost.evil.example\n", ":2: endpoint" },
                { "[replication]\nendpoint = ftp://127.0.0.1\n", ":2: endpoint 'ftp://127.0.0.1'" },
                { "[replication]\nprefix = a/b\n", ":2: prefix 'a/b' may not hold '/'" },
                { "[replication]\nprefix = ..\n", ":2: prefix '..'" },
                { "[replication]\ncredentials = s3.cred\n", ":2: 's3.cred' is not an absolute" },
                { "[replication]\nca_file = ca.pem\n", ":2: 'ca.pem' is not an absolute" },
                { "[replication]\nbandwidth_mb = -1\n", ":2: '-1' is not a whole number" },
                { "[replication]\nparallel = 0\n", ":2: '0' is not a whole number from 1 to 16" },
                { "[replication]\nparallel = 17\n", ":2: '17' is not a whole number from 1 to 16" },
                { "[replication]\npart_size = 4\n", ":2: '4' is not a whole number from 5" },
                { "[replication]\nalarm_after = off\n", ":2: 'off' is not a duration" },
                { "[replication]\nalarm_after = soon\n", ":2: 'soon' is not a duration" },
                { "[replication]\nreconcile = 0 s\n", ":2: '0 s' is not a duration" },
                { "[replication]\nsample_per_day = many\n", ":2: 'many' is not a whole number" },
                { "[replication]\naudit_retention = 1 day\n", ":2: " },
                { "[replication]\n\nregions = x\n", ":3: unknown key 'regions' in [replication]" },
                { "[replication]\nregion = x\n", "[replication] needs an endpoint and a bucket" },
                { "[replication]\nendpoint = https://h\n", "needs an endpoint and a bucket" },
        };

        (void)state;
        refused(cases, sizeof(cases) / sizeof(cases[0]));
}

static void missing_file(void **state)
{
        struct evd_conf c;
        struct evd_err err = { 0 };

        (void)state;
        assert_int_equal(evd_conf_load("/nonexistent/evidock.conf", &c, &err), -ENOENT);
        assert_non_null(strstr(err.text, "/nonexistent/evidock.conf"));
}

static void periods(void **state)
{
        struct evd_period p;
        char buf[64];

        (void)state;
        assert_int_equal(evd_period_parse("6m", &p), 0);
        assert_int_equal(p.months, 6);
        assert_int_equal(evd_period_parse("2 years 5 days", &p), 0);
        assert_int_equal(p.months, 24);
        assert_int_equal(p.days, 5);
        evd_period_format(&p, buf, sizeof(buf));
        assert_string_equal(buf, "24 months 5 days");
        assert_int_equal(evd_period_parse("permanent", &p), 0);
        assert_true(p.permanent);
        assert_int_equal(evd_period_parse("", &p), -EINVAL);
        assert_int_equal(evd_period_parse("-3 months", &p), -EINVAL);
        assert_int_equal(evd_period_parse("3 weeks", &p), -EINVAL);
}

static int setup(void **state)
{
        (void)state;
        dir = tu_tempdir();
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        tu_rmtree(dir);
        return 0;
}

/* The web console's listener: loopback by default; anything else only with TLS. */
static void console_listen(void **state)
{
        struct evd_conf c;
        struct evd_err err = { 0 };

        (void)state;
        evd_conf_defaults(&c);
        assert_string_equal(c.console_listen, "127.0.0.1:8080");
        assert_int_equal(load_text("[console]\nlisten = [::1]:9000\n", &c, &err), 0);
        assert_string_equal(c.console_listen, "[::1]:9000");
        assert_int_equal(load_text("[console]\nlisten = 0.0.0.0:443\n", &c, &err), -EINVAL);
        assert_non_null(strstr(err.text, "tls_cert"));
        assert_int_equal(
                load_text("[console]\nlisten = 10.0.0.5:443\ntls_cert = /etc/c.pem\n", &c, &err),
                -EINVAL);
        assert_int_equal(load_text("[console]\nlisten = 10.0.0.5:443\ntls_cert = /etc/c.pem\n"
                                   "tls_key = /etc/k.pem\n",
                                   &c, &err),
                         0);
        assert_string_equal(c.console_tls_key, "/etc/k.pem");
        assert_int_equal(load_text("[console]\ntls_key = relative.pem\n", &c, &err), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(defaults_are_valid),
                cmocka_unit_test(shipped_file_loads_and_round_trips),
                cmocka_unit_test(signing_key_alone_round_trips),
                cmocka_unit_test(keys_are_read),
                cmocka_unit_test(stages_and_approvers),
                cmocka_unit_test(bad_lines_are_refused),
                cmocka_unit_test(missing_file),
                cmocka_unit_test(periods),
                cmocka_unit_test(console_listen),
                cmocka_unit_test(replication_section),
                cmocka_unit_test(replication_refusals),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
