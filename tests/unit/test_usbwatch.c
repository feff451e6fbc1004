/* Unit tests of usbwatch's bookkeeping: deduplication, bounds, resync, freeing from a
 * callback. The real hotplug path (libusb + umockdev) is tested end to end by
 * tests/e2e/test_usb_sim.py; libusb itself drops a repeated "add" uevent before it
 * reaches us, so the cases here feed events straight into the watch's queue. For that
 * the test includes usbwatch.c (its static functions); the archive's usbwatch.o is then
 * not linked, as nothing is left for it to define.
 *
 * The whole run is inside an empty umockdev testbed (main() re-executes the binary
 * under libumockdev-preload: umockdev_preload.h), so libusb lists no devices whatever
 * the machine has: the resync is an "everything left" case. The sysfs tests add
 * devices and clear the testbed again. Needs: pkg-config umockdev-1.0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <umockdev.h>

#include "../../lib/usbwatch.c" // NOLINT(bugprone-suspicious-include): its statics
#include "umockdev_preload.h"

#define LOG_MAX 256

static UMockdevTestbed *testbed;

struct record {
        char kind; /* 'a' arrival, 'd' departure */
        char port_path[EVD_USB_PORT_PATH_MAX];
        uint8_t devnum;
        enum evd_usb_serial_state serial_state;
};

struct fixture {
        uv_loop_t loop;
        struct evd_usbwatch *w;
        struct record log[LOG_MAX];
        int n_log;
        int errors[LOG_MAX];
        int n_errors;
        bool free_on_arrival;
};

static void rec(struct fixture *f, char kind, const struct evd_usb_device *dev)
{
        struct record *r;

        assert_true(f->n_log < LOG_MAX);
        r = &f->log[f->n_log++];
        r->kind = kind;
        memcpy(r->port_path, dev->port_path, sizeof(r->port_path));
        r->devnum = dev->devnum;
        r->serial_state = dev->serial_state;
}

static void on_arr(const struct evd_usb_device *dev, void *userdata)
{
        struct fixture *f = userdata;

        rec(f, 'a', dev);
        if (f->free_on_arrival) {
                evd_usbwatch_free(f->w);
                f->w = NULL;
        }
}

static void on_dep(const struct evd_usb_device *dev, void *userdata)
{
        rec(userdata, 'd', dev);
}

static void on_err(const struct evd_err *err, void *userdata)
{
        struct fixture *f = userdata;

        assert_true(f->n_errors < LOG_MAX);
        f->errors[f->n_errors++] = err->code;
}

static int setup(void **state)
{
        struct evd_usbwatch_callbacks cb = { on_arr, on_dep, on_err };
        struct evd_err err = { 0 };
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(uv_loop_init(&f->loop), 0);
        if (evd_usbwatch_new(&f->loop, &cb, f, &f->w, &err) < 0)
                fail_msg("evd_usbwatch_new: %s", err.text);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        evd_usbwatch_free(f->w);
        assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(uv_loop_close(&f->loop), 0);
        free(f);
        return 0;
}

/* Deliver what is queued: the async fires on the next loop iteration. */
static void pump(struct fixture *f)
{
        for (int i = 0; i < 5; i++)
                (void)uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void push(struct fixture *f, bool arrived, uint8_t bus, uint8_t port, uint8_t devnum)
{
        struct event e = { .arrived = arrived,
                           .vid = 0x1234,
                           .pid = 0x5678,
                           .bus = bus,
                           .devnum = devnum,
                           .n_ports = 1,
                           .ports = { port } };

        enqueue(f->w, &e);
}

static void assert_record(const struct record *r, char kind, const char *path, uint8_t devnum)
{
        assert_int_equal(r->kind, kind);
        assert_string_equal(r->port_path, path);
        assert_int_equal(r->devnum, devnum);
}

static void test_double_arrival_reported_once(void **state)
{
        struct fixture *f = *state;

        push(f, true, 1, 3, 5);
        push(f, true, 1, 3, 5);
        pump(f);
        push(f, true, 1, 3, 5); /* in a later batch too */
        pump(f);
        assert_int_equal(f->n_log, 1);
        assert_record(&f->log[0], 'a', "1-3", 5);
        /* No sysfs entry here: the serial is unknown, never made up. */
        assert_int_equal(f->log[0].serial_state, EVD_USB_SERIAL_UNKNOWN);
}

static void test_departure_without_arrival_ignored(void **state)
{
        struct fixture *f = *state;

        push(f, false, 1, 4, 7); /* never arrived */
        push(f, true, 1, 3, 5);
        push(f, false, 1, 3, 9); /* a stale device on a present port */
        pump(f);
        assert_int_equal(f->n_log, 1);
        assert_record(&f->log[0], 'a', "1-3", 5);
        push(f, false, 1, 3, 5);
        push(f, false, 1, 3, 5); /* twice */
        pump(f);
        assert_int_equal(f->n_log, 2);
        assert_record(&f->log[1], 'd', "1-3", 5);
}

static void test_lost_departure_is_made_up(void **state)
{
        struct fixture *f = *state;

        push(f, true, 2, 1, 5);
        push(f, true, 2, 1, 6); /* replugged: new device number, no departure seen */
        push(f, false, 2, 1, 6);
        pump(f);
        assert_int_equal(f->n_log, 4);
        assert_record(&f->log[0], 'a', "2-1", 5);
        assert_record(&f->log[1], 'd', "2-1", 5);
        assert_record(&f->log[2], 'a', "2-1", 6);
        assert_record(&f->log[3], 'd', "2-1", 6);
}

static void test_overflow_resyncs_and_devices_are_bounded(void **state)
{
        struct fixture *f = *state;
        int arrivals = 0, departures = 0, enobufs = 0, enospc = 0;

        /* 200 distinct devices on bus 9 (ports 1.1 ... 14.4), none known to libusb. */
        for (int i = 0; i < 200; i++) {
                struct event e = { .arrived = true,
                                   .bus = 9,
                                   .devnum = (uint8_t)(i % 120 + 2),
                                   .n_ports = 2,
                                   .ports = { (uint8_t)(i / 15 + 1), (uint8_t)(i % 15 + 1) } };

                enqueue(f->w, &e);
        }
        assert_true(f->w->overflow);
        assert_int_equal(f->w->q_len, EVD_USBWATCH_QUEUE_MAX);
        pump(f);
        for (int i = 0; i < f->n_log; i++) {
                if (f->log[i].kind == 'a')
                        arrivals++;
                else
                        departures++;
        }
        for (int i = 0; i < f->n_errors; i++) {
                enobufs += f->errors[i] == -ENOBUFS;
                enospc += f->errors[i] == -ENOSPC;
        }
        /* The first 64 of the 128 queued were taken, the rest refused as too many;
         * the resync found none of them in libusb's list and let them all leave. */
        assert_int_equal(arrivals, EVD_USBWATCH_DEVICES_MAX);
        assert_int_equal(enospc, EVD_USBWATCH_QUEUE_MAX - EVD_USBWATCH_DEVICES_MAX);
        assert_int_equal(enobufs, 1);
        assert_int_equal(departures, EVD_USBWATCH_DEVICES_MAX);
        for (int i = 0; i < EVD_USBWATCH_DEVICES_MAX; i++)
                assert_false(f->w->in_use[i]);
        assert_false(f->w->overflow);
}

static void test_free_from_callback_stops_delivery(void **state)
{
        struct fixture *f = *state;

        f->free_on_arrival = true;
        push(f, true, 1, 1, 2);
        push(f, true, 1, 2, 3);
        push(f, false, 1, 1, 2);
        pump(f);
        assert_null(f->w);
        assert_int_equal(f->n_log, 1);
        assert_record(&f->log[0], 'a', "1-1", 2);
}

static void test_port_paths(void **state)
{
        const uint8_t deep[EVD_USB_PORTS_MAX] = { 15, 15, 15, 15, 15, 15, 15 };
        const uint8_t two[2] = { 1, 4 };
        char out[EVD_USB_PORT_PATH_MAX];

        (void)state;
        assert_int_equal(port_path(3, NULL, 0, out, sizeof(out)), 0);
        assert_string_equal(out, "usb3");
        assert_int_equal(port_path(2, two, 2, out, sizeof(out)), 0);
        assert_string_equal(out, "2-1.4");
        assert_int_equal(port_path(255, deep, EVD_USB_PORTS_MAX, out, sizeof(out)), 0);
        assert_string_equal(out, "255-15.15.15.15.15.15.15");
        assert_int_equal(port_path(2, two, 2, out, 4), -ENAMETOOLONG);
}

static void test_serial_checks(void **state)
{
        char longest[EVD_USB_SERIAL_MAX + 2];

        (void)state;
        assert_int_equal(check_serial(""), EVD_USB_SERIAL_NONE);
        assert_int_equal(check_serial("0123ABCD"), EVD_USB_SERIAL_OK);
        assert_int_equal(check_serial("DSJ 2021"), EVD_USB_SERIAL_OK);
        assert_int_equal(check_serial("\xe6\x89\xa7\xe6\xb3\x95"), EVD_USB_SERIAL_OK); /* 执法 */
        assert_int_equal(check_serial("A\x01"), EVD_USB_SERIAL_INVALID);
        assert_int_equal(check_serial("A\nB"), EVD_USB_SERIAL_INVALID);
        assert_int_equal(check_serial("A\x7f"), EVD_USB_SERIAL_INVALID);
        assert_int_equal(check_serial("A\xc2\x85"), EVD_USB_SERIAL_INVALID); /* C1 NEL */
        assert_int_equal(check_serial("\xff\xfe"), EVD_USB_SERIAL_INVALID);
        memset(longest, 'S', sizeof(longest));
        longest[EVD_USB_SERIAL_MAX] = '\0';
        assert_int_equal(check_serial(longest), EVD_USB_SERIAL_OK);
        longest[EVD_USB_SERIAL_MAX] = 'S';
        longest[EVD_USB_SERIAL_MAX + 1] = '\0';
        assert_int_equal(check_serial(longest), EVD_USB_SERIAL_INVALID);
}

static void test_allowlist(void **state)
{
        const uint32_t allow[2] = { 0x12345678, 0x2b3c0001 };

        (void)state;
        assert_true(evd_usbwatch_allowed(allow, 2, 0x1234, 0x5678));
        assert_true(evd_usbwatch_allowed(allow, 2, 0x2b3c, 0x0001));
        assert_false(evd_usbwatch_allowed(allow, 2, 0x5678, 0x1234));
        assert_false(evd_usbwatch_allowed(allow, 0, 0x1234, 0x5678));
}

static void test_new_refuses_bad_arguments(void **state)
{
        struct evd_usbwatch_callbacks none = { 0 };
        struct evd_usbwatch *w = NULL;
        struct evd_err err = { 0 };
        uv_loop_t loop;

        (void)state;
        assert_int_equal(uv_loop_init(&loop), 0);
        assert_int_equal(evd_usbwatch_new(&loop, &none, NULL, &w, &err), -EINVAL);
        assert_null(w);
        assert_int_equal(err.code, -EINVAL);
        evd_usbwatch_free(NULL);
        assert_int_equal(uv_loop_close(&loop), 0);
}

static void add_usb(const char *name, int devnum, const char *serial_hex)
{
        char text[1024];
        GError *gerr = NULL;

        assert_int_equal(evd_snprintf(text, sizeof(text),
                                      "P: /devices/pci0000:00/0000:00:14.0/usb1/%s\n"
                                      "E: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n"
                                      "A: busnum=1\nA: devnum=%d\n%s%s%s\n",
                                      name, devnum, serial_hex ? "H: serial=" : "",
                                      serial_hex ? serial_hex : "", serial_hex ? "\n" : ""),
                         0);
        if (!umockdev_testbed_add_from_string(testbed, text, &gerr))
                fail_msg("umockdev: %s", gerr ? gerr->message : "?");
}

static int clear_testbed(void **state)
{
        (void)state;
        umockdev_testbed_clear(testbed);
        return 0;
}

static void sysfs(struct evd_usb_device *dev, const char *path, uint8_t devnum)
{
        memset(dev, 0, sizeof(*dev));
        memcpy(dev->port_path, path, strlen(path) + 1);
        dev->devnum = devnum;
        read_sysfs(dev);
}

static void test_sysfs_serial_states(void **state)
{
        struct evd_usb_device dev;

        (void)state;
        add_usb("1-5", 4, "5245433132330A"); /* "REC123\n", as the kernel shows it */
        add_usb("1-6", 5, NULL);             /* no serial number */
        add_usb("1-7", 6, "41014200");       /* "A\x01B" and a NUL */
        add_usb("1-8", 7, "E689A7E6B3950A"); /* UTF-8 "执法" */

        sysfs(&dev, "1-5", 4);
        assert_int_equal(dev.serial_state, EVD_USB_SERIAL_OK);
        assert_string_equal(dev.serial, "REC123");
        assert_string_equal(dev.serial_shown, "REC123");
        assert_string_equal(dev.syspath, "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-5");

        sysfs(&dev, "1-6", 5);
        assert_int_equal(dev.serial_state, EVD_USB_SERIAL_NONE);
        assert_string_equal(dev.serial, "");
        assert_string_not_equal(dev.syspath, "");

        sysfs(&dev, "1-7", 6);
        assert_int_equal(dev.serial_state, EVD_USB_SERIAL_INVALID);
        assert_string_equal(dev.serial, ""); /* never handed on as a serial */
        assert_string_equal(dev.serial_shown, "A\\x01B");

        sysfs(&dev, "1-8", 7);
        assert_int_equal(dev.serial_state, EVD_USB_SERIAL_OK);
        assert_string_equal(dev.serial, "\xe6\x89\xa7\xe6\xb3\x95");

        /* Replugged since the event (other device number), or gone: unknown, no path. */
        sysfs(&dev, "1-5", 9);
        assert_int_equal(dev.serial_state, EVD_USB_SERIAL_UNKNOWN);
        assert_string_equal(dev.syspath, "");
        assert_string_equal(dev.serial, "");
        sysfs(&dev, "1-9", 2);
        assert_int_equal(dev.serial_state, EVD_USB_SERIAL_UNKNOWN);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_double_arrival_reported_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_departure_without_arrival_ignored, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_lost_departure_is_made_up, setup, teardown),
                cmocka_unit_test_setup_teardown(test_overflow_resyncs_and_devices_are_bounded,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_from_callback_stops_delivery, setup,
                                                teardown),
                cmocka_unit_test(test_port_paths),
                cmocka_unit_test(test_serial_checks),
                cmocka_unit_test(test_allowlist),
                cmocka_unit_test(test_new_refuses_bad_arguments),
                cmocka_unit_test_teardown(test_sysfs_serial_states, clear_testbed),
        };
        int r;

        (void)argc;
        reexec_with_umockdev_preload(argv);
        testbed = umockdev_testbed_new(); /* before any libusb_init */
        r = cmocka_run_group_tests(tests, NULL, NULL);
        g_object_unref(testbed);
        return r;
}
