/* usbwatch: USB arrivals and departures, delivered on the daemon's libuv loop.
 *
 * libusb reports hotplug events; usbwatch hands each to its owner's callbacks on the
 * loop thread, with the device's VID:PID, bus, device number, port path, sysfs path
 * and serial number. Devices present when the watch starts are reported as arrivals
 * too (LIBUSB_HOTPLUG_ENUMERATE). No device is ever opened: the serial number is the
 * kernel's sysfs `serial` attribute, read through sd-device.
 *
 * Every USB device is reported (hubs too); which ones may be read is the owner's
 * decision (evd_usbwatch_allowed for the VID:PID allowlist).
 *
 * Deduplication, by port path (the kernel's name, "1-3" or "2-1.4"): hotplug may
 * report an arrival twice (a device that arrives while the watch enumerates) or a
 * departure without an arrival. usbwatch keeps the devices it reported and
 *  - ignores an arrival for a port path already present with the same device number;
 *  - for a port path present with another device number (a departure was lost: the
 *    device was replugged), reports the departure of the old one, then the arrival;
 *  - ignores a departure for a port path it does not hold, or whose device number is
 *    not the one it holds (a stale device).
 * So each on_departure matches exactly one earlier on_arrival, and the departure
 * carries the arrival's serial and sysfs path (sysfs is gone by then).
 *
 * Threads: see usbwatch.c. All callbacks run on the loop thread, never from inside
 * evd_usbwatch_new or evd_usbwatch_free.
 *
 * Ownership: the loop, callbacks and userdata are borrowed and must outlive the
 * watch (until its handles are closed: keep running the loop after
 * evd_usbwatch_free). A struct evd_usb_device passed to a callback is valid only
 * during that call: copy what you keep. */
#ifndef EVD_USBWATCH_H
#define EVD_USBWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "err.h"
#include "name.h"

#define EVD_USB_PORTS_MAX 7      /* USB 3 allows seven tiers of port numbers */
#define EVD_USB_PORT_PATH_MAX 32 /* "255-15.15.15.15.15.15.15" and NUL fits */
#define EVD_USB_SYSPATH_MAX 512
#define EVD_USB_SERIAL_MAX 126      /* a string descriptor holds at most 126 UTF-16 units */
#define EVD_USBWATCH_DEVICES_MAX 64 /* devices present at once; past it, arrivals are refused */
#define EVD_USBWATCH_QUEUE_MAX 128  /* events waiting for the loop; past it, a resync */

enum evd_usb_serial_state {
        EVD_USB_SERIAL_OK,      /* serial holds the exact attribute */
        EVD_USB_SERIAL_NONE,    /* the device has no serial number */
        EVD_USB_SERIAL_INVALID, /* too long, or bytes outside printable ASCII */
        EVD_USB_SERIAL_UNKNOWN, /* sysfs could not be read (the device left already) */
};

struct evd_usb_device {
        uint16_t vid;
        uint16_t pid;
        uint8_t device_class; /* bDeviceClass: 0x09 is a hub, 0x00 "see interfaces" */
        uint8_t bus;
        uint8_t devnum; /* changes at every plug-in */
        uint8_t n_ports;
        uint8_t ports[EVD_USB_PORTS_MAX];      /* port numbers from the root hub down */
        char port_path[EVD_USB_PORT_PATH_MAX]; /* kernel name: "1-3", "2-1.4", "usb1" */
        char syspath[EVD_USB_SYSPATH_MAX];     /* "/sys/devices/.../1-3", "" when unknown */
        enum evd_usb_serial_state serial_state;
        char serial[EVD_USB_SERIAL_MAX + 1]; /* exact, when serial_state is OK; else "" */
        /* Display form of the serial for logs and audit: escaped (name.h), "" when none. */
        char serial_shown[EVD_NAME_ESCAPED_MAX(EVD_USB_SERIAL_MAX)];
};

struct evd_usbwatch_callbacks {
        /* A device arrived (or was present at start). */
        void (*on_arrival)(const struct evd_usb_device *dev, void *userdata);
        /* A device reported by on_arrival left. */
        void (*on_departure)(const struct evd_usb_device *dev, void *userdata);
        /* Optional (may be NULL): something the owner should log. code is -errno; the
         * watch keeps going unless code is -EPIPE (event thread stopped: free and
         * recreate the watch). */
        void (*on_error)(const struct evd_err *err, void *userdata);
};

struct evd_usbwatch;

/* Start watching: initialise libusb, register for hotplug with enumeration, start the
 * event thread. On success *ret is set and the arrivals of devices already present
 * follow on the loop. On failure nothing is left running, no callback is called, and
 * err says why: -ENOTSUP (libusb without hotplug), -EIO (libusb; its text in err),
 * -ENOMEM, or the libuv/pthread error. */
int evd_usbwatch_new(uv_loop_t *loop, const struct evd_usbwatch_callbacks *callbacks,
                     void *userdata, struct evd_usbwatch **ret, struct evd_err *err);

/* Stop watching; accepts NULL. No callback is called afterwards, and no departures
 * are reported for devices still present. Stops and joins the event thread, exits
 * libusb, and closes the libuv handle: its memory is freed in the close callback,
 * so the loop must run once more (uv_run) before it is closed. */
void evd_usbwatch_free(struct evd_usbwatch *w);

/* True when vid:pid is in allow (entries VID << 16 | PID, as struct evd_conf holds). */
bool evd_usbwatch_allowed(const uint32_t *allow, int n_allow, uint16_t vid, uint16_t pid);

#endif
