/* Unit tests of blockdev against a umockdev testbed built in this process.
 *
 * main() re-executes the binary under libumockdev-preload (umockdev_preload.h).
 * sd-device only reads sysfs here: no uevent is needed. Needs: pkg-config umockdev-1.0. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <umockdev.h>

#include "blockdev.h"
#include "umockdev_preload.h"
#include "util.h"

#define USB_P "/devices/pci0000:00/0000:00:14.0/usb1/1-3" /* umockdev's "P:" form */
#define USB "/sys" USB_P
#define IFACE USB "/1-3:1.0"
#define SDEV IFACE "/host2/target2:0:0/2:0:0:%d"

struct fixture {
        UMockdevTestbed *tb;
        uv_loop_t loop;
        int calls;
        int status;
        size_t n;
        char node[EVD_BLOCKDEV_NODE_MAX];
        char text[EVD_ERR_TEXT_MAX];
};

static void add(struct fixture *f, const char *text)
{
        GError *gerr = NULL;

        if (!umockdev_testbed_add_from_string(f->tb, text, &gerr))
                fail_msg("umockdev: %s", gerr ? gerr->message : "?");
}

/* A USB mass-storage device on port 3, without disks. */
static void add_usb(struct fixture *f)
{
        add(f, "P: " USB_P "\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n"
               "E: DEVNAME=/dev/bus/usb/001/002\nA: busnum=1\nA: devnum=2\n\n"
               "P: " USB_P "/1-3:1.0\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_interface\n"
               "A: bInterfaceClass=08\n\n");
}

/* Disk sdX as LUN lun under that device, of sectors sectors. */
static void add_disk(struct fixture *f, int lun, char letter, long sectors)
{
        char sdev[256], text[1024];

        assert_int_equal(evd_snprintf(sdev, sizeof(sdev), SDEV, lun), 0);
        assert_int_equal(evd_snprintf(text, sizeof(text),
                                      "P: %s\nE: SUBSYSTEM=scsi\nE: DEVTYPE=scsi_device\n\n"
                                      "P: %s/block/sd%c\nN: sd%c\nE: SUBSYSTEM=block\n"
                                      "E: DEVTYPE=disk\nE: DEVNAME=/dev/sd%c\nA: dev=8:%d\n"
                                      "A: size=%ld\n\n"
                                      "P: %s/block/sd%c/sd%c1\nE: SUBSYSTEM=block\n"
                                      "E: DEVTYPE=partition\nE: DEVNAME=/dev/sd%c1\n"
                                      "A: dev=8:%d\nA: size=%ld\n\n",
                                      sdev + 4, sdev + 4, letter, letter, letter,
                                      (letter - 'a') * 16, sectors, sdev + 4, letter, letter,
                                      letter, (letter - 'a') * 16 + 1, sectors),
                         0);
        add(f, text);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->tb = umockdev_testbed_new();
        assert_non_null(f->tb);
        assert_int_equal(uv_loop_init(&f->loop), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(uv_loop_close(&f->loop), 0);
        g_object_unref(f->tb);
        free(f);
        return 0;
}

static void test_finds_the_whole_disk(void **state)
{
        struct fixture *f = *state;
        struct evd_blockdev_disk d[EVD_BLOCKDEV_DISKS_MAX];
        struct evd_err err = { 0 };
        size_t n = 0;

        add_usb(f);
        add_disk(f, 0, 'b', 2048);
        assert_int_equal(evd_blockdev_find(USB, d, EVD_BLOCKDEV_DISKS_MAX, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(d[0].node, "/dev/sdb"); /* not the partition sdb1 */
        assert_int_equal(d[0].size_bytes, 2048 * 512);
        assert_non_null(strstr(d[0].syspath, "/1-3/1-3:1.0/host2/"));
}

static void test_no_disk_yet_is_eagain(void **state)
{
        struct fixture *f = *state;
        struct evd_blockdev_disk d[1];
        struct evd_err err = { 0 };
        size_t n = 99;

        add_usb(f);
        assert_int_equal(evd_blockdev_find(USB, d, 1, &n, &err), -EAGAIN);
        assert_int_equal(n, 99); /* untouched on failure */
        assert_non_null(strstr(err.text, "no disk under it yet"));
}

static void test_disk_without_medium_is_skipped(void **state)
{
        struct fixture *f = *state;
        struct evd_blockdev_disk d[4];
        struct evd_err err = { 0 };
        size_t n = 0;

        add_usb(f);
        add_disk(f, 0, 'b', 0);
        assert_int_equal(evd_blockdev_find(USB, d, 4, &n, &err), -EAGAIN);
        assert_non_null(strstr(err.text, "no medium"));
        add_disk(f, 1, 'c', 64);
        assert_int_equal(evd_blockdev_find(USB, d, 4, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(d[0].node, "/dev/sdc");
}

static void test_several_luns_sorted_and_bounded(void **state)
{
        struct fixture *f = *state;
        struct evd_blockdev_disk d[4];
        struct evd_err err = { 0 };
        size_t n = 0;

        add_usb(f);
        add_disk(f, 0, 'd', 64);
        add_disk(f, 1, 'b', 64);
        add_disk(f, 2, 'c', 64);
        assert_int_equal(evd_blockdev_find(USB, d, 4, &n, &err), 0);
        assert_int_equal(n, 3);
        assert_string_equal(d[0].node, "/dev/sdb");
        assert_string_equal(d[1].node, "/dev/sdc");
        assert_string_equal(d[2].node, "/dev/sdd");
        assert_int_equal(evd_blockdev_find(USB, d, 2, &n, &err), -E2BIG);
}

static void test_other_devices_disks_are_not_ours(void **state)
{
        struct fixture *f = *state;
        struct evd_blockdev_disk d[2];
        struct evd_err err = { 0 };
        size_t n = 0;

        add_usb(f);
        add(f, "P: /devices/pci0000:00/0000:00:14.0/usb1/1-4\nE: SUBSYSTEM=usb\n"
               "E: DEVTYPE=usb_device\nA: busnum=1\nA: devnum=3\n\n"
               "P: /devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4:1.0/host3/target3:0:0/"
               "3:0:0:0/block/sdf\nN: sdf\nE: SUBSYSTEM=block\nE: DEVTYPE=disk\n"
               "E: DEVNAME=/dev/sdf\nA: dev=8:80\nA: size=64\n\n"
               "P: /devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda\n"
               "N: sda\nE: SUBSYSTEM=block\nE: DEVTYPE=disk\nE: DEVNAME=/dev/sda\n"
               "A: dev=8:0\nA: size=64\n\n");
        assert_int_equal(evd_blockdev_find(USB, d, 2, &n, &err), -EAGAIN);
        assert_int_equal(
                evd_blockdev_find("/sys/devices/pci0000:00/0000:00:14.0/usb1/1-4", d, 2, &n, &err),
                0);
        assert_string_equal(d[0].node, "/dev/sdf");
}

static void test_gone_or_not_usb_is_enodev(void **state)
{
        struct fixture *f = *state;
        struct evd_blockdev_disk d[1];
        struct evd_err err = { 0 };
        size_t n = 0;

        add_usb(f);
        assert_int_equal(evd_blockdev_find(USB "/nothing", d, 1, &n, &err), -ENODEV);
        assert_non_null(strstr(err.text, "is gone"));
        assert_int_equal(evd_blockdev_find(IFACE, d, 1, &n, &err), -ENODEV);
        assert_non_null(strstr(err.text, "not a USB device"));
        assert_int_equal(evd_blockdev_find(NULL, d, 1, &n, &err), -EINVAL);
        assert_int_equal(evd_blockdev_find(USB, d, 0, &n, &err), -EINVAL);
}

static void on_wait(int status, const struct evd_blockdev_disk *disks, size_t n,
                    const struct evd_err *err, void *userdata)
{
        struct fixture *f = userdata;

        f->calls++;
        f->status = status;
        f->n = n;
        if (status == 0)
                memcpy(f->node, disks[0].node, sizeof(f->node));
        memcpy(f->text, err->text, sizeof(f->text));
}

static void on_add_disk(uv_timer_t *t)
{
        add_disk(t->data, 0, 'b', 64);
        uv_close((uv_handle_t *)t, NULL);
}

static void test_wait_sees_a_late_disk(void **state)
{
        struct fixture *f = *state;
        struct evd_blockdev_wait *w = NULL;
        struct evd_err err = { 0 };
        uv_timer_t t;

        add_usb(f);
        assert_int_equal(evd_blockdev_wait_start(&f->loop, USB, 5000, on_wait, f, &w, &err), 0);
        assert_int_equal(f->calls, 0); /* never from inside start */
        t.data = f;
        assert_int_equal(uv_timer_init(&f->loop, &t), 0);
        assert_int_equal(uv_timer_start(&t, on_add_disk, 3 * EVD_BLOCKDEV_RETRY_MS / 2, 0), 0);
        assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(f->calls, 1);
        assert_int_equal(f->status, 0);
        assert_int_equal(f->n, 1);
        assert_string_equal(f->node, "/dev/sdb");
}

static void test_wait_times_out(void **state)
{
        struct fixture *f = *state;
        struct evd_blockdev_wait *w = NULL;
        struct evd_err err = { 0 };
        uint64_t t0;

        add_usb(f);
        /* The clock starts before the wait does, so a slow start on a loaded machine
         * cannot make the wait look short; the upper bound is generous for the same reason. */
        uv_update_time(&f->loop); /* the wait counts from uv_now, cached by the loop */
        t0 = uv_hrtime();
        assert_int_equal(evd_blockdev_wait_start(&f->loop, USB, 500, on_wait, f, &w, &err), 0);
        assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(f->calls, 1);
        assert_int_equal(f->status, -ETIMEDOUT);
        assert_true(uv_hrtime() - t0 >= 490 * 1000000ull);  /* bounded below ... */
        assert_true(uv_hrtime() - t0 < 30000 * 1000000ull); /* ... and above */
        assert_non_null(strstr(f->text, "no disk after"));
}

static void test_wait_for_a_gone_device_ends_at_once(void **state)
{
        struct fixture *f = *state;
        struct evd_blockdev_wait *w = NULL;
        struct evd_err err = { 0 };

        assert_int_equal(evd_blockdev_wait_start(&f->loop, USB, 60000, on_wait, f, &w, &err), 0);
        assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(f->calls, 1);
        assert_int_equal(f->status, -ENODEV);
}

static void test_cancelled_wait_never_calls_back(void **state)
{
        struct fixture *f = *state;
        struct evd_blockdev_wait *w = NULL;
        struct evd_err err = { 0 };

        add_usb(f);
        add_disk(f, 0, 'b', 64);
        assert_int_equal(evd_blockdev_wait_start(&f->loop, USB, 1000, on_wait, f, &w, &err), 0);
        evd_blockdev_wait_cancel(w);
        evd_blockdev_wait_cancel(NULL);
        assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(f->calls, 0);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_finds_the_whole_disk, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_disk_yet_is_eagain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_without_medium_is_skipped, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_several_luns_sorted_and_bounded, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_other_devices_disks_are_not_ours, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_gone_or_not_usb_is_enodev, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wait_sees_a_late_disk, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wait_times_out, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wait_for_a_gone_device_ends_at_once, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_cancelled_wait_never_calls_back, setup,
                                                teardown),
        };

        (void)argc;
        reexec_with_umockdev_preload(argv);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
