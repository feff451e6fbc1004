/* blockdev: USB device -> block device node, through sd-device. */
#include "blockdev.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-device.h>

#include "util.h"

struct evd_blockdev_wait {
        uv_timer_t timer; /* first: the close callback gets it and frees the wait */
        evd_blockdev_wait_cb cb;
        void *userdata;
        uint64_t started;  /* uv_now at start, ms */
        uint64_t deadline; /* uv_now when the settle time is over, ms */
        char syspath[EVD_BLOCKDEV_SYSPATH_MAX];
};

static int cmp_disk(const void *a, const void *b)
{
        const struct evd_blockdev_disk *x = a, *y = b;
        size_t lx = strlen(x->node), ly = strlen(y->node);

        /* sdz before sdaa, as the kernel counts */
        if (lx != ly)
                return lx < ly ? -1 : 1;
        return strcmp(x->node, y->node);
}

/* Size in bytes from sysfs "size" (512-byte sectors); 0 when unknown or empty. */
static uint64_t disk_size(sd_device *d)
{
        unsigned long long sectors;
        const char *v;
        char *end;

        if (sd_device_get_sysattr_value(d, "size", &v) < 0)
                return 0;
        errno = 0;
        sectors = strtoull(v, &end, 10);
        if (errno || end == v || sectors > UINT64_MAX / 512)
                return 0;
        return (uint64_t)sectors * 512;
}

/* Is d's usb_device ancestor the one at usb_syspath? */
static bool under(sd_device *d, const char *usb_syspath)
{
        sd_device *parent; /* borrowed from d */
        const char *p;

        return sd_device_get_parent_with_subsystem_devtype(d, "usb", "usb_device", &parent) >= 0 &&
               sd_device_get_syspath(parent, &p) >= 0 && strcmp(p, usb_syspath) == 0;
}

/* Open usb_syspath as a usb_device (*ret_usb: the caller unrefs it). */
static int open_usb(const char *usb_syspath, sd_device **ret_usb, struct evd_err *err)
{
        sd_device *usb = NULL;
        const char *subsystem, *devtype;

        if (sd_device_new_from_syspath(&usb, usb_syspath) < 0)
                return evd_err_set(err, -ENODEV, "USB device %s is gone", usb_syspath);
        if (sd_device_get_subsystem(usb, &subsystem) < 0 || strcmp(subsystem, "usb") != 0 ||
            sd_device_get_devtype(usb, &devtype) < 0 || strcmp(devtype, "usb_device") != 0) {
                sd_device_unref(usb);
                return evd_err_set(err, -ENODEV, "%s is not a USB device", usb_syspath);
        }
        *ret_usb = usb;
        return 0;
}

int evd_blockdev_find(const char *usb_syspath, struct evd_blockdev_disk *ret_disks, size_t max,
                      size_t *ret_n, struct evd_err *err)
{
        struct evd_blockdev_disk found[EVD_BLOCKDEV_DISKS_MAX];
        sd_device_enumerator *e = NULL;
        sd_device *usb = NULL;
        const char *usb_path, *why = "no disk under it yet";
        size_t n = 0;
        int r;

        if (!usb_syspath || !ret_disks || !ret_n || max == 0)
                return evd_err_set(err, -EINVAL, "blockdev: bad arguments");
        if (max > EVD_BLOCKDEV_DISKS_MAX)
                max = EVD_BLOCKDEV_DISKS_MAX;
        r = open_usb(usb_syspath, &usb, err);
        if (r < 0)
                return r;
        r = sd_device_get_syspath(usb, &usb_path); /* canonical: what ancestors show */
        if (r < 0) {
                r = evd_err_set(err, r, "USB device %s: no sysfs path", usb_syspath);
                goto out;
        }
        r = sd_device_enumerator_new(&e);
        if (r >= 0)
                r = sd_device_enumerator_allow_uninitialized(e);
        if (r >= 0)
                r = sd_device_enumerator_add_match_subsystem(e, "block", true);
        if (r < 0) {
                r = evd_err_set(err, r, "cannot list block devices: %s", strerror(-r));
                goto out;
        }
        for (sd_device *d = sd_device_enumerator_get_device_first(e); d;
             d = sd_device_enumerator_get_device_next(e)) {
                const char *devtype, *node, *syspath;
                uint64_t size;

                if (sd_device_get_devtype(d, &devtype) < 0 || strcmp(devtype, "disk") != 0 ||
                    !under(d, usb_path))
                        continue;
                if (sd_device_get_devname(d, &node) < 0 || access(node, F_OK) < 0) {
                        why = "its disk has no device node yet";
                        continue;
                }
                size = disk_size(d);
                if (size == 0) {
                        why = "its disk has no medium";
                        continue;
                }
                if (n == max) {
                        r = evd_err_set(err, -E2BIG, "more than %zu disks under USB device %s", max,
                                        usb_syspath);
                        goto out;
                }
                if (sd_device_get_syspath(d, &syspath) < 0 ||
                    evd_snprintf(found[n].node, sizeof(found[n].node), "%s", node) < 0 ||
                    evd_snprintf(found[n].syspath, sizeof(found[n].syspath), "%s", syspath) < 0)
                        continue; /* a name too long for us: not a disk we can use */
                found[n].size_bytes = size;
                n++;
        }
        if (n == 0) {
                r = evd_err_set(err, -EAGAIN, "USB device %s: %s", usb_syspath, why);
                goto out;
        }
        qsort(found, n, sizeof(found[0]), cmp_disk);
        memcpy(ret_disks, found, n * sizeof(found[0]));
        *ret_n = n;
        r = 0;
out:
        sd_device_enumerator_unref(e);
        sd_device_unref(usb);
        return r;
}

static void on_wait_close(uv_handle_t *handle)
{
        free(handle); /* the timer is the first member */
}

static void on_wait_timer(uv_timer_t *timer)
{
        struct evd_blockdev_wait *w = (struct evd_blockdev_wait *)timer;
        struct evd_blockdev_disk disks[EVD_BLOCKDEV_DISKS_MAX];
        struct evd_err err = { 0 };
        uint64_t now = uv_now(timer->loop);
        size_t n = 0;
        int r;

        r = evd_blockdev_find(w->syspath, disks, EVD_BLOCKDEV_DISKS_MAX, &n, &err);
        if (r == -EAGAIN && now < w->deadline) {
                uint64_t left = w->deadline - now;

                /* Cannot fail on an initialised timer with a callback. */
                (void)uv_timer_start(timer, on_wait_timer,
                                     left < EVD_BLOCKDEV_RETRY_MS ? left : EVD_BLOCKDEV_RETRY_MS,
                                     0);
                return;
        }
        if (r == -EAGAIN) {
                char last[EVD_ERR_TEXT_MAX];

                memcpy(last, err.text, sizeof(last));
                r = evd_err_set(&err, -ETIMEDOUT, "no disk after %.1f s: %s",
                                (double)(now - w->started) / 1000.0, last);
        }
        uv_close((uv_handle_t *)timer, on_wait_close);
        w->cb(r, r == 0 ? disks : NULL, r == 0 ? n : 0, &err, w->userdata);
}

int evd_blockdev_wait_start(uv_loop_t *loop, const char *usb_syspath, uint64_t settle_ms,
                            evd_blockdev_wait_cb cb, void *userdata, struct evd_blockdev_wait **ret,
                            struct evd_err *err)
{
        struct evd_blockdev_wait *w;
        int r;

        if (!loop || !usb_syspath || !cb || !ret)
                return evd_err_set(err, -EINVAL, "blockdev: bad arguments");
        w = calloc(1, sizeof(*w));
        if (!w)
                return evd_err_set(err, -ENOMEM, "blockdev: out of memory");
        if (evd_snprintf(w->syspath, sizeof(w->syspath), "%s", usb_syspath) < 0) {
                free(w);
                return evd_err_set(err, -ENAMETOOLONG, "blockdev: sysfs path too long");
        }
        w->cb = cb;
        w->userdata = userdata;
        w->started = uv_now(loop);
        w->deadline = w->started + settle_ms;
        r = uv_timer_init(loop, &w->timer);
        if (r < 0) {
                free(w);
                return evd_err_set(err, r, "blockdev: uv_timer_init: %s", uv_strerror(r));
        }
        r = uv_timer_start(&w->timer, on_wait_timer, 0, 0);
        if (r < 0) {
                uv_close((uv_handle_t *)&w->timer, on_wait_close);
                return evd_err_set(err, r, "blockdev: uv_timer_start: %s", uv_strerror(r));
        }
        *ret = w;
        return 0;
}

void evd_blockdev_wait_cancel(struct evd_blockdev_wait *w)
{
        if (!w || uv_is_closing((uv_handle_t *)&w->timer))
                return;
        uv_close((uv_handle_t *)&w->timer, on_wait_close);
}
