/* blockdev: from a docked USB device to the block device node of its storage.
 *
 * A USB mass-storage recorder appears first as a usb_device; its whole disk (sdX)
 * appears later, once the kernel's SCSI scan is done (usually within a second, more
 * for slow devices or card readers). The lookup goes through sd-device: every block
 * device of type "disk" whose usb_device ancestor is the given device. Partitions are
 * not returned: the source module reads the whole disk and finds them itself.
 *
 * Two ways to use it:
 *  - evd_blockdev_find() looks once and never waits: -EAGAIN means "not there yet".
 *  - evd_blockdev_wait_start() does the bounded wait on the caller's libuv loop: it
 *    looks at once, then every EVD_BLOCKDEV_RETRY_MS until the settle time (the
 *    `[usb] settle_seconds` of the configuration) has passed, and calls back once.
 *    The daemon starts it on an arrival and cancels it on that device's departure.
 * Each look reads a few sysfs files (memory, not disk): cheap enough for the loop.
 *
 * Devices are taken as the kernel shows them, initialised by udev or not (no udev
 * database is needed, as under umockdev or in a container without udevd).
 * A disk whose sysfs size is 0 has no medium (an empty card reader) and is skipped. */
#ifndef EVD_BLOCKDEV_H
#define EVD_BLOCKDEV_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "err.h"

#define EVD_BLOCKDEV_NODE_MAX 64
#define EVD_BLOCKDEV_SYSPATH_MAX 512
#define EVD_BLOCKDEV_DISKS_MAX 8 /* disks (LUNs) under one USB device */
#define EVD_BLOCKDEV_RETRY_MS 50 /* between looks while waiting */

struct evd_blockdev_disk {
        char node[EVD_BLOCKDEV_NODE_MAX];       /* "/dev/sdb" */
        char syspath[EVD_BLOCKDEV_SYSPATH_MAX]; /* "/sys/devices/.../block/sdb" */
        uint64_t size_bytes;                    /* sysfs size (512-byte sectors) * 512 */
};

/* Look once for the disks under the USB device at usb_syspath ("/sys/devices/.../1-3",
 * as struct evd_usb_device gives it). On success fills ret_disks[0..*ret_n) sorted by
 * node name and returns 0 (*ret_n >= 1). Errors:
 *   -EAGAIN  no disk with a medium yet: look again later (err says which);
 *   -ENODEV  usb_syspath is not (or no longer) a USB device: it left;
 *   -E2BIG   more than max disks (none returned);
 *   -EINVAL  bad arguments; other -errno from sd-device.
 * Nothing is opened; ret_disks and ret_n are set only on success. */
int evd_blockdev_find(const char *usb_syspath, struct evd_blockdev_disk *ret_disks, size_t max,
                      size_t *ret_n, struct evd_err *err);

struct evd_blockdev_wait;

/* Called once on the loop thread when the wait ends: status 0 with the disks found
 * (n >= 1), or -ETIMEDOUT (settle time over; err says what was last seen), -ENODEV
 * (the device left) or another error of evd_blockdev_find. disks and err are valid
 * during the call only. The wait is already over and freed: do not cancel it. */
typedef void (*evd_blockdev_wait_cb)(int status, const struct evd_blockdev_disk *disks, size_t n,
                                     const struct evd_err *err, void *userdata);

/* Start waiting for the disks under usb_syspath (copied), at most settle_ms. The first
 * look happens on the next loop iteration, never inside this call. *ret is the handle
 * for evd_blockdev_wait_cancel; it is valid until the callback or the cancel. */
int evd_blockdev_wait_start(uv_loop_t *loop, const char *usb_syspath, uint64_t settle_ms,
                            evd_blockdev_wait_cb cb, void *userdata, struct evd_blockdev_wait **ret,
                            struct evd_err *err);

/* Stop a wait whose callback has not run: the callback is never called. Accepts NULL.
 * Memory goes in the timer's close callback: keep running the loop. */
void evd_blockdev_wait_cancel(struct evd_blockdev_wait *w);

#endif
