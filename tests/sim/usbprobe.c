/* usbprobe: usbwatch and blockdev on a libuv loop, printing what a station would act on.
 *
 *     usbprobe [--settle-ms N] [--allow VID:PID[,VID:PID...]]
 *
 * Lines on stdout, each flushed:
 *   ready                                 the watch is running
 *   seen PORT_PATH VID:PID SERIAL STATE   every arrival usbwatch delivers (hubs too);
 *                                         SERIAL is the escaped display form or "-"
 *   rejected PORT_PATH VID:PID REASON     a hub, not allowed, or no usable serial: never read
 *   arrived SERIAL VID:PID NODE SHA256    its disk was found; SHA256 of the first 512
 *                                         bytes read through NODE
 *   nodisk SERIAL REASON                  no disk within the settle time
 *   left SERIAL PORT_PATH                 departure of an arrival
 *   usberror TEXT                         from usbwatch's on_error
 * SIGTERM or SIGINT: frees everything, closes the loop (which must then be empty) and
 * exits 0. It reads on the loop thread, which a daemon would not do: this is a probe. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <uv.h>

#include "blockdev.h"
#include "usbwatch.h"
#include "util.h"

#define DOCKS_MAX 64
#define ALLOW_MAX 16

struct dock {
        bool used;
        char port_path[EVD_USB_PORT_PATH_MAX];
        char serial[EVD_USB_SERIAL_MAX + 1];
        uint16_t vid, pid;
        struct evd_blockdev_wait *wait; /* while waiting for the disk */
        struct probe *probe;
};

struct probe {
        uv_loop_t loop;
        uv_signal_t sigterm, sigint;
        struct evd_usbwatch *watch;
        uint64_t settle_ms;
        uint32_t allow[ALLOW_MAX];
        int n_allow;
        struct dock docks[DOCKS_MAX];
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

/* SHA-256 hex of the first 512 bytes of node; returns 0 or -errno. */
static int hash_head(const char *node, char hex[EVD_SHA256_HEX])
{
        unsigned char buf[512], md[EVD_SHA256_LEN];
        unsigned int mdlen = 0;
        ssize_t n;
        int fd = open(node, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        n = evd_pread_full(fd, buf, sizeof(buf), 0);
        (void)close(fd);
        if (n < 0)
                return (int)n;
        if (!EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha256(), NULL) || mdlen != sizeof(md))
                return -EIO;
        evd_hex(md, sizeof(md), hex);
        return 0;
}

static void on_disk(int status, const struct evd_blockdev_disk *disks, size_t n,
                    const struct evd_err *err, void *userdata)
{
        struct dock *d = userdata;
        char hex[EVD_SHA256_HEX];
        int r;

        d->wait = NULL;
        if (status < 0) {
                say("nodisk %s %s", d->serial, err->text);
                return;
        }
        (void)n;
        r = hash_head(disks[0].node, hex);
        if (r < 0) {
                say("nodisk %s cannot read %s: %s", d->serial, disks[0].node, strerror(-r));
                return;
        }
        say("arrived %s %04x:%04x %s %s", d->serial, d->vid, d->pid, disks[0].node, hex);
}

static const char *state_name(enum evd_usb_serial_state s)
{
        switch (s) {
        case EVD_USB_SERIAL_OK:
                return "ok";
        case EVD_USB_SERIAL_NONE:
                return "none";
        case EVD_USB_SERIAL_INVALID:
                return "invalid";
        case EVD_USB_SERIAL_UNKNOWN:
                return "unknown";
        }
        return "?";
}

static void on_arrival(const struct evd_usb_device *dev, void *userdata)
{
        struct probe *p = userdata;
        struct evd_err err = { 0 };
        struct dock *d = NULL;
        const char *why = NULL;
        int r;

        say("seen %s %04x:%04x %s %s %u:%u %s", dev->port_path, dev->vid, dev->pid,
            dev->serial_shown[0] ? dev->serial_shown : "-", state_name(dev->serial_state), dev->bus,
            dev->devnum, dev->syspath[0] ? dev->syspath : "-");
        if (dev->device_class == 0x09)
                why = "hub";
        else if (p->n_allow && !evd_usbwatch_allowed(p->allow, p->n_allow, dev->vid, dev->pid))
                why = "not allowed";
        else if (dev->serial_state != EVD_USB_SERIAL_OK)
                why = dev->serial_state == EVD_USB_SERIAL_NONE      ? "serial none"
                      : dev->serial_state == EVD_USB_SERIAL_INVALID ? "serial invalid"
                                                                    : "serial unknown";
        for (int i = 0; i < DOCKS_MAX && !why && !d; i++)
                if (!p->docks[i].used)
                        d = &p->docks[i];
        if (!why && !d)
                why = "too many docks";
        if (why) {
                say("rejected %s %04x:%04x %s", dev->port_path, dev->vid, dev->pid, why);
                return;
        }
        memset(d, 0, sizeof(*d));
        d->used = true;
        d->probe = p;
        d->vid = dev->vid;
        d->pid = dev->pid;
        memcpy(d->port_path, dev->port_path, sizeof(d->port_path));
        memcpy(d->serial, dev->serial, sizeof(d->serial));
        r = evd_blockdev_wait_start(&p->loop, dev->syspath, p->settle_ms, on_disk, d, &d->wait,
                                    &err);
        if (r < 0)
                say("nodisk %s %s", d->serial, err.text);
}

static void on_departure(const struct evd_usb_device *dev, void *userdata)
{
        struct probe *p = userdata;

        for (int i = 0; i < DOCKS_MAX; i++) {
                struct dock *d = &p->docks[i];

                if (!d->used || strcmp(d->port_path, dev->port_path) != 0)
                        continue;
                evd_blockdev_wait_cancel(d->wait);
                d->used = false;
                say("left %s %s", d->serial, d->port_path);
                return;
        }
        /* A hub or a rejected device: it was never a dock. */
        say("left %s %s", dev->serial_shown[0] ? dev->serial_shown : "-", dev->port_path);
}

static void on_error(const struct evd_err *err, void *userdata)
{
        (void)userdata;
        say("usberror %s", err->text);
}

static void on_signal(uv_signal_t *sig, int signum)
{
        struct probe *p = sig->data;

        (void)signum;
        evd_usbwatch_free(p->watch);
        p->watch = NULL;
        for (int i = 0; i < DOCKS_MAX; i++)
                if (p->docks[i].used)
                        evd_blockdev_wait_cancel(p->docks[i].wait);
        uv_close((uv_handle_t *)&p->sigterm, NULL);
        uv_close((uv_handle_t *)&p->sigint, NULL);
}

static int parse_allow(struct probe *p, const char *list)
{
        const char *s = list;

        while (*s) {
                unsigned long vid, pid;
                char *end;

                if (p->n_allow == ALLOW_MAX)
                        return -E2BIG;
                vid = strtoul(s, &end, 16);
                if (end - s != 4 || *end != ':')
                        return -EINVAL;
                s = end + 1;
                pid = strtoul(s, &end, 16);
                if (end - s != 4 || (*end && *end != ','))
                        return -EINVAL;
                p->allow[p->n_allow++] = (uint32_t)(vid << 16 | pid);
                s = *end ? end + 1 : end;
        }
        return 0;
}

int main(int argc, char **argv)
{
        static struct probe p;
        struct evd_usbwatch_callbacks cb = { .on_arrival = on_arrival,
                                             .on_departure = on_departure,
                                             .on_error = on_error };
        struct evd_err err = { 0 };
        int r;

        p.settle_ms = 2000;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--settle-ms") == 0 && i + 1 < argc) {
                        char *end;

                        errno = 0;
                        p.settle_ms = strtoull(argv[++i], &end, 10);
                        if (errno || *end || p.settle_ms > 600000)
                                goto usage;
                } else if (strcmp(argv[i], "--allow") == 0 && i + 1 < argc) {
                        if (parse_allow(&p, argv[++i]) < 0)
                                goto usage;
                } else {
                        goto usage;
                }
        }
        r = uv_loop_init(&p.loop);
        if (r < 0) {
                fprintf(stderr, "usbprobe: uv_loop_init: %s\n", uv_strerror(r));
                return 1;
        }
        p.sigterm.data = p.sigint.data = &p;
        if (uv_signal_init(&p.loop, &p.sigterm) < 0 || uv_signal_init(&p.loop, &p.sigint) < 0 ||
            uv_signal_start(&p.sigterm, on_signal, SIGTERM) < 0 ||
            uv_signal_start(&p.sigint, on_signal, SIGINT) < 0) {
                fprintf(stderr, "usbprobe: cannot catch signals\n");
                return 1;
        }
        r = evd_usbwatch_new(&p.loop, &cb, &p, &p.watch, &err);
        if (r < 0) {
                fprintf(stderr, "usbprobe: %s\n", err.text);
                uv_close((uv_handle_t *)&p.sigterm, NULL);
                uv_close((uv_handle_t *)&p.sigint, NULL);
                (void)uv_run(&p.loop, UV_RUN_DEFAULT);
                (void)uv_loop_close(&p.loop);
                return 1;
        }
        say("ready");
        (void)uv_run(&p.loop, UV_RUN_DEFAULT);
        r = uv_loop_close(&p.loop);
        if (r < 0) {
                fprintf(stderr, "usbprobe: handles left open: %s\n", uv_strerror(r));
                return 1;
        }
        return 0;
usage:
        fprintf(stderr, "usage: usbprobe [--settle-ms N] [--allow VID:PID[,VID:PID...]]\n");
        return 2;
}
