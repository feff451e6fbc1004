/* usbwatch: libusb hotplug events handed to a libuv loop.
 *
 * Threads. libusb calls hotplug callbacks from inside libusb_handle_events*(); we run
 * that in an event thread of our own, and the callback only copies what libusb's
 * device object holds in memory (descriptor, bus, address, port numbers) into a
 * bounded queue under a mutex and wakes the loop with uv_async_send. The loop thread
 * drains the queue, deduplicates, reads sysfs and calls the owner.
 *
 * Why a thread and uv_async rather than uv_poll on libusb_get_pollfds(): the poll
 * integration needs every fd libusb may add to be pollable by epoll, and under
 * umockdev the fd of an opened device is a regular file, so uv_poll_init fails with
 * EPERM; libusb also calls the pollfd notifiers from whichever thread opens or closes
 * a device, and libuv handles may only be touched from the loop thread. An event
 * thread works whatever libusb's fds are and whoever opens devices, and costs one
 * thread; libusb's Linux backend runs a udev monitor thread of its own anyway.
 * Tried under umockdev (libusb 1.0.26, libuv 1.44): uv_poll on the context's two
 * fds (an eventfd and a timerfd) does deliver hotplug events, and the fd added by a
 * libusb_open then fails uv_poll_init with EPERM; the event thread has no such case.
 *
 * Queue overflow: when the loop falls more than EVD_USBWATCH_QUEUE_MAX events behind,
 * further events are dropped and the loop resynchronises from libusb's device list
 * (departures for what is gone, arrivals for what is new), so nothing is lost for
 * good and memory stays bounded. */
#include "usbwatch.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libusb.h>
#include <systemd/sd-device.h>

#include "util.h"

/* The event thread gives up after this many libusb errors in a row. */
#define EVENT_ERRORS_MAX 10

struct event {
        uint16_t vid;
        uint16_t pid;
        bool arrived;
        uint8_t device_class;
        uint8_t bus;
        uint8_t devnum;
        uint8_t n_ports;
        uint8_t ports[EVD_USB_PORTS_MAX];
};

struct evd_usbwatch {
        uv_async_t async; /* first: the close callback gets it and frees the watch */
        uv_loop_t *loop;
        struct evd_usbwatch_callbacks cb;
        void *userdata;

        libusb_context *ctx;
        libusb_hotplug_callback_handle hotplug;
        bool hotplug_registered;
        pthread_t thread;
        bool thread_started;

        /* Shared with the event thread and libusb's callbacks, under lock. */
        pthread_mutex_t lock;
        struct event queue[EVD_USBWATCH_QUEUE_MAX];
        size_t q_head;
        size_t q_len;
        bool overflow;
        bool stopping;
        int thread_error; /* libusb error that ended the event thread */

        /* Loop thread only. */
        bool closing;
        bool thread_error_reported;
        bool in_use[EVD_USBWATCH_DEVICES_MAX];
        struct evd_usb_device present[EVD_USBWATCH_DEVICES_MAX];
};

bool evd_usbwatch_allowed(const uint32_t *allow, int n_allow, uint16_t vid, uint16_t pid)
{
        uint32_t key = (uint32_t)vid << 16 | pid;

        for (int i = 0; i < n_allow; i++)
                if (allow[i] == key)
                        return true;
        return false;
}

static void report(struct evd_usbwatch *w, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void report(struct evd_usbwatch *w, int code, const char *fmt, ...)
{
        struct evd_err err = { .code = code };
        va_list ap;

        if (!w->cb.on_error)
                return;
        va_start(ap, fmt);
        /* A cut message is still worth logging. */
        (void)vsnprintf(err.text, sizeof(err.text), fmt, ap);
        va_end(ap);
        w->cb.on_error(&err, w->userdata);
}

/* Any thread: copy what libusb holds in memory and wake the loop. */
static void enqueue(struct evd_usbwatch *w, const struct event *e)
{
        (void)pthread_mutex_lock(&w->lock);
        if (w->q_len == EVD_USBWATCH_QUEUE_MAX) {
                w->overflow = true;
        } else {
                w->queue[(w->q_head + w->q_len) % EVD_USBWATCH_QUEUE_MAX] = *e;
                w->q_len++;
        }
        (void)pthread_mutex_unlock(&w->lock);
        /* Thread-safe; only fails on a handle that is closing. */
        (void)uv_async_send(&w->async);
}

static void event_from_device(libusb_device *dev, bool arrived, struct event *e)
{
        struct libusb_device_descriptor d;
        int n;

        memset(e, 0, sizeof(*e));
        e->arrived = arrived;
        /* Cached by libusb at enumeration: no I/O, cannot fail since libusb 1.0.16. */
        if (libusb_get_device_descriptor(dev, &d) == 0) {
                e->vid = d.idVendor;
                e->pid = d.idProduct;
                e->device_class = d.bDeviceClass;
        }
        e->bus = libusb_get_bus_number(dev);
        e->devnum = libusb_get_device_address(dev);
        n = libusb_get_port_numbers(dev, e->ports, (int)sizeof(e->ports));
        e->n_ports = n > 0 ? (uint8_t)n : 0;
}

/* libusb's hotplug callback: in the event thread, or in evd_usbwatch_new for the
 * devices already present. Only records. */
static int LIBUSB_CALL on_hotplug(libusb_context *ctx, libusb_device *dev,
                                  libusb_hotplug_event event, void *user)
{
        struct evd_usbwatch *w = user;
        struct event e;

        (void)ctx;
        event_from_device(dev, event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED, &e);
        enqueue(w, &e);
        return 0; /* stay registered */
}

static void *event_thread(void *arg)
{
        struct evd_usbwatch *w = arg;
        int errors = 0;

        for (;;) {
                bool stop;
                int r;

                (void)pthread_mutex_lock(&w->lock);
                stop = w->stopping;
                (void)pthread_mutex_unlock(&w->lock);
                if (stop)
                        break;
                /* Returns on events, on libusb_interrupt_event_handler, or after 60 s. */
                r = libusb_handle_events_completed(w->ctx, NULL);
                if (r == 0 || r == LIBUSB_ERROR_INTERRUPTED || r == LIBUSB_ERROR_TIMEOUT) {
                        errors = 0;
                        continue;
                }
                if (++errors < EVENT_ERRORS_MAX) {
                        struct timespec ts = { .tv_nsec = 100 * 1000 * 1000 };

                        (void)nanosleep(&ts, NULL);
                        continue;
                }
                (void)pthread_mutex_lock(&w->lock);
                w->thread_error = r;
                (void)pthread_mutex_unlock(&w->lock);
                (void)uv_async_send(&w->async);
                break;
        }
        return NULL;
}

/* The kernel's name for a USB device: "usbB" for a root hub, "B-P.P.P" below it. */
static int port_path(uint8_t bus, const uint8_t *ports, uint8_t n_ports, char *out, size_t n)
{
        size_t len;
        int r;

        if (n_ports == 0)
                return evd_snprintf(out, n, "usb%u", bus);
        r = evd_snprintf(out, n, "%u-%u", bus, ports[0]);
        for (uint8_t i = 1; r == 0 && i < n_ports; i++) {
                len = strlen(out);
                r = evd_snprintf(out + len, n - len, ".%u", ports[i]);
        }
        return r;
}

/* Serial state of an attribute value: exact when it is 1..MAX bytes of UTF-8 without
 * control characters (C0, DEL, C1). */
static enum evd_usb_serial_state check_serial(const char *v)
{
        size_t len = strlen(v);

        if (len == 0)
                return EVD_USB_SERIAL_NONE;
        if (len > EVD_USB_SERIAL_MAX || !evd_name_is_utf8(v, len))
                return EVD_USB_SERIAL_INVALID;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)v[i];

                if (c < 0x20 || c == 0x7f)
                        return EVD_USB_SERIAL_INVALID;
                if (c == 0xc2 && i + 1 < len && (unsigned char)v[i + 1] >= 0x80 &&
                    (unsigned char)v[i + 1] <= 0x9f)
                        return EVD_USB_SERIAL_INVALID;
        }
        return EVD_USB_SERIAL_OK;
}

/* Loop thread: sysfs path and serial through sd-device. A device whose sysfs entry
 * is gone, or now holds another device number (replugged since), gets UNKNOWN. */
static void read_sysfs(struct evd_usb_device *dev)
{
        sd_device *d = NULL;
        const char *v;
        unsigned long devnum;
        char *end;
        int r;

        dev->syspath[0] = dev->serial[0] = dev->serial_shown[0] = '\0';
        dev->serial_state = EVD_USB_SERIAL_UNKNOWN;
        if (sd_device_new_from_subsystem_sysname(&d, "usb", dev->port_path) < 0)
                return;
        if (sd_device_get_sysattr_value(d, "devnum", &v) < 0)
                goto out;
        errno = 0;
        devnum = strtoul(v, &end, 10);
        if (errno || end == v || devnum != dev->devnum)
                goto out;
        if (sd_device_get_syspath(d, &v) < 0 ||
            evd_snprintf(dev->syspath, sizeof(dev->syspath), "%s", v) < 0) {
                dev->syspath[0] = '\0';
                goto out;
        }
        r = sd_device_get_sysattr_value(d, "serial", &v);
        if (r == -ENOENT) {
                dev->serial_state = EVD_USB_SERIAL_NONE;
                goto out;
        }
        if (r < 0)
                goto out;
        dev->serial_state = check_serial(v);
        if (dev->serial_state == EVD_USB_SERIAL_OK)
                memcpy(dev->serial, v, strlen(v) + 1);
        /* Bounded: a too-long serial shows cut, ending in "...". */
        (void)evd_name_escape(v, strnlen(v, EVD_USB_SERIAL_MAX + 1), dev->serial_shown,
                              sizeof(dev->serial_shown));
out:
        sd_device_unref(d);
}

static int find_present(struct evd_usbwatch *w, const char *path)
{
        for (int i = 0; i < EVD_USBWATCH_DEVICES_MAX; i++)
                if (w->in_use[i] && strcmp(w->present[i].port_path, path) == 0)
                        return i;
        return -1;
}

/* Forget present[i] and tell the owner. */
static void depart(struct evd_usbwatch *w, int i)
{
        struct evd_usb_device gone = w->present[i];

        w->in_use[i] = false;
        w->cb.on_departure(&gone, w->userdata);
}

static void handle_arrival(struct evd_usbwatch *w, const struct event *e, const char *path)
{
        struct evd_usb_device *dev;
        int i = find_present(w, path);

        if (i >= 0) {
                if (w->present[i].devnum == e->devnum)
                        return; /* reported twice */
                depart(w, i);   /* replugged and its departure lost */
                if (w->closing)
                        return;
        }
        for (i = 0; i < EVD_USBWATCH_DEVICES_MAX && w->in_use[i]; i++)
                ;
        if (i == EVD_USBWATCH_DEVICES_MAX) {
                report(w, -ENOSPC, "more than %d USB devices present: ignoring %04x:%04x on %s",
                       EVD_USBWATCH_DEVICES_MAX, e->vid, e->pid, path);
                return;
        }
        dev = &w->present[i];
        memset(dev, 0, sizeof(*dev));
        dev->vid = e->vid;
        dev->pid = e->pid;
        dev->device_class = e->device_class;
        dev->bus = e->bus;
        dev->devnum = e->devnum;
        dev->n_ports = e->n_ports;
        memcpy(dev->ports, e->ports, sizeof(dev->ports));
        memcpy(dev->port_path, path, strlen(path) + 1);
        read_sysfs(dev);
        w->in_use[i] = true;
        w->cb.on_arrival(dev, w->userdata);
}

static void handle_event(struct evd_usbwatch *w, const struct event *e)
{
        char path[EVD_USB_PORT_PATH_MAX];
        int i;

        if (port_path(e->bus, e->ports, e->n_ports, path, sizeof(path)) < 0)
                return; /* cannot happen: the buffer holds seven tiers */
        if (e->arrived) {
                handle_arrival(w, e, path);
                return;
        }
        i = find_present(w, path);
        if (i >= 0 && w->present[i].devnum == e->devnum)
                depart(w, i);
        /* else: a departure without an arrival, or of a stale device: nothing to do. */
}

/* After a queue overflow: make the present set equal libusb's device list. */
static void resync(struct evd_usbwatch *w)
{
        libusb_device **list;
        ssize_t n = libusb_get_device_list(w->ctx, &list);

        report(w, -ENOBUFS, "more than %d USB events waiting: resynchronising",
               EVD_USBWATCH_QUEUE_MAX);
        if (n < 0) {
                report(w, -EIO, "cannot list USB devices: %s", libusb_strerror((int)n));
                return;
        }
        for (int i = 0; i < EVD_USBWATCH_DEVICES_MAX && !w->closing; i++) {
                bool found = false;

                if (!w->in_use[i])
                        continue;
                for (ssize_t j = 0; j < n && !found; j++) {
                        struct event e;
                        char path[EVD_USB_PORT_PATH_MAX];

                        event_from_device(list[j], true, &e);
                        found = port_path(e.bus, e.ports, e.n_ports, path, sizeof(path)) == 0 &&
                                strcmp(path, w->present[i].port_path) == 0 &&
                                e.devnum == w->present[i].devnum;
                }
                if (!found)
                        depart(w, i);
        }
        for (ssize_t j = 0; j < n && !w->closing; j++) {
                struct event e;

                event_from_device(list[j], true, &e);
                handle_event(w, &e);
        }
        libusb_free_device_list(list, 1);
}

/* Loop thread: deliver what the queue holds. The owner may free the watch from a
 * callback; w->closing then stops us (the memory lives until the close callback). */
static void on_async(uv_async_t *handle)
{
        struct evd_usbwatch *w = (struct evd_usbwatch *)handle;
        struct event batch[EVD_USBWATCH_QUEUE_MAX];
        size_t n;
        bool overflow;
        int thread_error;

        (void)pthread_mutex_lock(&w->lock);
        n = w->q_len;
        for (size_t i = 0; i < n; i++)
                batch[i] = w->queue[(w->q_head + i) % EVD_USBWATCH_QUEUE_MAX];
        w->q_head = w->q_len = 0;
        overflow = w->overflow;
        w->overflow = false;
        thread_error = w->thread_error;
        (void)pthread_mutex_unlock(&w->lock);

        for (size_t i = 0; i < n && !w->closing; i++)
                handle_event(w, &batch[i]);
        if (overflow && !w->closing)
                resync(w);
        if (thread_error && !w->thread_error_reported && !w->closing) {
                w->thread_error_reported = true;
                report(w, -EPIPE, "USB event handling stopped: %s", libusb_strerror(thread_error));
        }
}

static void on_close(uv_handle_t *handle)
{
        struct evd_usbwatch *w = (struct evd_usbwatch *)handle;

        (void)pthread_mutex_destroy(&w->lock);
        free(w);
}

/* Stop the event thread, deregister and exit libusb: everything but the handle. */
static void stop_libusb(struct evd_usbwatch *w)
{
        if (w->thread_started) {
                (void)pthread_mutex_lock(&w->lock);
                w->stopping = true;
                (void)pthread_mutex_unlock(&w->lock);
                /* The flag it sets stays until handled, so no wake-up is lost. */
                libusb_interrupt_event_handler(w->ctx);
                (void)pthread_join(w->thread, NULL);
                w->thread_started = false;
        }
        if (w->hotplug_registered) {
                libusb_hotplug_deregister_callback(w->ctx, w->hotplug);
                w->hotplug_registered = false;
        }
        if (w->ctx) {
                libusb_exit(w->ctx);
                w->ctx = NULL;
        }
}

int evd_usbwatch_new(uv_loop_t *loop, const struct evd_usbwatch_callbacks *callbacks,
                     void *userdata, struct evd_usbwatch **ret, struct evd_err *err)
{
        struct evd_usbwatch *w;
        int r;

        if (!loop || !callbacks || !callbacks->on_arrival || !callbacks->on_departure || !ret)
                return evd_err_set(err, -EINVAL, "usbwatch: loop and callbacks are required");
        w = calloc(1, sizeof(*w));
        if (!w)
                return evd_err_set(err, -ENOMEM, "usbwatch: out of memory");
        w->loop = loop;
        w->cb = *callbacks;
        w->userdata = userdata;
        r = pthread_mutex_init(&w->lock, NULL);
        if (r) {
                free(w);
                return evd_err_set(err, -r, "usbwatch: cannot create a mutex: %s", strerror(r));
        }
        r = libusb_init(&w->ctx);
        if (r < 0) {
                w->ctx = NULL;
                r = evd_err_set(err, -EIO, "cannot initialise libusb: %s", libusb_strerror(r));
                goto fail_mutex;
        }
        if (!libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)) {
                r = evd_err_set(err, -ENOTSUP, "this libusb cannot report hotplug events");
                goto fail_libusb;
        }
        r = uv_async_init(loop, &w->async, on_async);
        if (r < 0) {
                r = evd_err_set(err, r, "usbwatch: uv_async_init: %s", uv_strerror(r));
                goto fail_libusb;
        }
        /* Devices already present are reported from inside this call, into the queue. */
        r = libusb_hotplug_register_callback(
                w->ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
                LIBUSB_HOTPLUG_ENUMERATE, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
                LIBUSB_HOTPLUG_MATCH_ANY, on_hotplug, w, &w->hotplug);
        if (r != LIBUSB_SUCCESS) {
                r = evd_err_set(err, -EIO, "cannot register for USB hotplug: %s",
                                libusb_strerror(r));
                goto fail_handle;
        }
        w->hotplug_registered = true;
        r = pthread_create(&w->thread, NULL, event_thread, w);
        if (r) {
                r = evd_err_set(err, -r, "usbwatch: cannot start the event thread: %s",
                                strerror(r));
                goto fail_handle;
        }
        w->thread_started = true;
        *ret = w;
        return 0;

fail_handle:
        /* The handle is initialised: its memory goes in the close callback. */
        w->closing = true;
        stop_libusb(w);
        uv_close((uv_handle_t *)&w->async, on_close);
        return r;
fail_libusb:
        libusb_exit(w->ctx);
fail_mutex:
        (void)pthread_mutex_destroy(&w->lock);
        free(w);
        return r;
}

void evd_usbwatch_free(struct evd_usbwatch *w)
{
        if (!w || w->closing)
                return;
        w->closing = true;
        stop_libusb(w);
        uv_close((uv_handle_t *)&w->async, on_close);
}
