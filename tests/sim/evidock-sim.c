/* evidock-sim: the recorder simulator.
 *
 * Run under umockdev-wrapper (which preloads libumockdev-preload.so):
 *
 *     umockdev-wrapper evidock-sim [--defer] -- COMMAND [ARG...]
 *
 * It builds a umockdev testbed (an emulated /sys, /dev and uevent stream) holding a
 * station's USB host controller: root hub usb1 (ports 1-4 are its ports 1-4) and
 * root hub usb2 with a 12-port hub 2-1 (ports 5-16 are that hub's ports 1-12, so
 * their kernel names are 2-1.1 ... 2-1.12). It then starts COMMAND as its child
 * (at once, or at the `start` command with --defer); the child inherits the preload
 * and UMOCKDEV_DIR and sees the testbed instead of the machine.
 *
 * Commands on stdin, one a line; each is answered by one line on stdout, "ok ..." or
 * "error ...", flushed, so that a driver can wait for it:
 *
 *   dock PORT SERIAL VID:PID IMAGE   a USB mass-storage recorder on PORT: usb_device
 *                                    (a new device number each time), usb_interface
 *                                    (class 08), SCSI host, target and device, and the
 *                                    whole disk sdX (lowest free letter from b; sysfs
 *                                    size = IMAGE's size in 512-byte sectors); "add"
 *                                    uevents go out parent first as each is written.
 *                                    The node <testbed>/dev/sdX, a symlink to IMAGE,
 *                                    appears just after the disk's uevent: a reader
 *                                    waits for the node (blockdev does). IMAGE "-"
 *                                    docks the device without its disk (see `disk`).
 *                                    SERIAL is taken byte for byte after %XX decoding
 *                                    ("%01" is byte 1); "-" means no serial attribute.
 *   disk PORT IMAGE                  add the disk of a device docked with IMAGE "-".
 *   undock PORT                      "remove" uevents, children first, and remove the
 *                                    tree, so that the port can be docked again.
 *   uevent PORT ACTION               send one more uevent (add, change, remove) for the
 *                                    USB device on PORT without changing the tree.
 *   start                            start the child (with --defer only).
 *   quit                             SIGTERM the child, wait, exit with its status.
 *
 * End of input means quit. When the child exits on its own, the simulator exits with
 * its status (128 + N for a signal N). The sim's own chatter goes to stderr.
 *
 * umockdev 0.17.16 quirks worked around here (found on Debian 12):
 *  - removing a device leaves <testbed>/sys/block/sdX and the USB device's node
 *    <testbed>/dev/bus/usb/BBB/DDD behind, and a later add of the same disk aborts
 *    in umockdev_testbed_add_devicev: we remove children before parents and unlink
 *    both leftovers ourselves;
 *  - add_from_string sends the "add" uevent of each device itself, right after
 *    writing it (binary "H:" attributes included), so every attribute goes into
 *    the string: one set afterwards would race the listener. remove_device sends
 *    nothing: we send the "remove" uevents, children first.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <umockdev.h>

#define PORTS_MAX 16
#define LINE_MAX_LEN 4096
#define SERIAL_MAX 512
#define PATH_LEN 512
#define DISKS_MAX 25 /* sdb ... sdz */

#define PCI_PATH "/devices/pci0000:00/0000:00:14.0"

struct port {
        bool docked;
        bool has_disk;
        int bus;
        int devnum;
        int host;             /* SCSI host number, new for each dock as the kernel does */
        int disk;             /* index: 0 is sdb */
        char usb[PATH_LEN];   /* /sys/devices/.../1-3 */
        char iface[PATH_LEN]; /* .../1-3:1.0 */
        char shost[PATH_LEN]; /* .../host4 */
        char starget[PATH_LEN];
        char sdev[PATH_LEN];
        char block[PATH_LEN]; /* .../block/sdb */
};

struct sim {
        UMockdevTestbed *tb;
        char *root;
        pid_t child;
        int child_fd; /* pidfd */
        char **argv;  /* the child's command */
        struct port ports[PORTS_MAX + 1];
        bool devnum_used[3][128]; /* [bus][devnum] */
        int last_devnum[3];
        bool disk_used[DISKS_MAX];
        int next_host;
};

/* Print one reply line, flushed; returns 0 so that a command can end with it. */
static int reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int reply(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
        return 0;
}

/* Print into buf, failing on truncation instead of handing on a cut path. */
static bool fmt(char *buf, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));

static bool fmt(char *buf, size_t n, const char *f, ...)
{
        va_list ap;
        int r;

        va_start(ap, f);
        r = vsnprintf(buf, n, f, ap);
        va_end(ap);
        return r >= 0 && (size_t)r < n;
}

/* A device and configuration descriptor set as sysfs "descriptors" shows it, in hex:
 * one configuration, one interface of the given class, with the endpoints a
 * mass-storage device (bulk in and out) or a hub (interrupt in) has. */
static bool descriptors_hex(char *out, size_t n, unsigned vid, unsigned pid, unsigned cls)
{
        bool hub = cls == 0x09;
        unsigned dev_cls = hub ? 0x09 : 0x00;
        unsigned sub = hub ? 0x00 : 0x06, proto = hub ? 0x00 : 0x50;
        unsigned total = hub ? 9 + 9 + 7 : 9 + 9 + 7 + 7;
        char eps[64];

        if (hub)
                snprintf(eps, sizeof(eps), "0705810301000C");
        else
                snprintf(eps, sizeof(eps),
                         "07058102000200"
                         "07050202000200");
        return fmt(out, n,
                   "12010002%02X00%02X40%02X%02X%02X%02X000101020301" /* device */
                   "0902%02X%02X0101008032"                           /* configuration */
                   "090400000%u%02X%02X%02X00"                        /* interface */
                   "%s",
                   dev_cls, dev_cls == 0x09 ? 0x01 : 0x00, vid & 0xff, vid >> 8, pid & 0xff,
                   pid >> 8, total & 0xff, total >> 8, hub ? 1 : 2, cls, sub, proto, eps);
}

/* One usb_device paragraph for umockdev_testbed_add_from_string. */
static bool usb_paragraph(char *out, size_t n, const char *path, int bus, int devnum, unsigned vid,
                          unsigned pid, unsigned cls, const char *extra)
{
        char desc[256];

        if (!descriptors_hex(desc, sizeof(desc), vid, pid, cls))
                return false;
        return fmt(out, n,
                   "P: %s\n"
                   "N: bus/usb/%03d/%03d\n"
                   "E: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nE: DRIVER=usb\n"
                   "E: DEVNAME=/dev/bus/usb/%03d/%03d\n"
                   "E: BUSNUM=%03d\nE: DEVNUM=%03d\n"
                   "E: PRODUCT=%x/%x/100\nE: TYPE=%u/0/0\n"
                   "A: busnum=%d\nA: devnum=%d\nA: idVendor=%04x\nA: idProduct=%04x\n"
                   "A: bDeviceClass=%02x\nA: bConfigurationValue=1\nA: bNumConfigurations=1\n"
                   "A: bNumInterfaces= 1\nA: speed=480\nA: manufacturer=evidock-sim\n"
                   "A: product=sim device\nA: dev=189:%d\n"
                   "H: descriptors=%s\n%s\n",
                   path, bus, devnum, bus, devnum, bus, devnum, vid, pid, cls, bus, devnum, vid,
                   pid, cls, (bus - 1) * 128 + devnum - 1, desc, extra);
}

static bool add_string(struct sim *s, const char *text, char *why, size_t whyn)
{
        GError *gerr = NULL;

        if (!umockdev_testbed_add_from_string(s->tb, text, &gerr)) {
                fmt(why, whyn, "umockdev: %s", gerr ? gerr->message : "add_from_string failed");
                g_clear_error(&gerr);
                return false;
        }
        return true;
}

/* Both root hubs and the docking station's hub exist before anything starts. */
static bool add_hubs(struct sim *s)
{
        char text[4096], a[1024], b[1024], c[1024], why[256];

        if (!usb_paragraph(a, sizeof(a), PCI_PATH "/usb1", 1, 1, 0x1d6b, 0x0002, 0x09, "") ||
            !usb_paragraph(b, sizeof(b), PCI_PATH "/usb2", 2, 1, 0x1d6b, 0x0002, 0x09, "") ||
            !usb_paragraph(c, sizeof(c), PCI_PATH "/usb2/2-1", 2, 2, 0x05e3, 0x0610, 0x09, ""))
                return false;
        if (!fmt(text, sizeof(text),
                 "P: " PCI_PATH "\nE: SUBSYSTEM=pci\nE: DRIVER=xhci_hcd\n"
                 "A: vendor=0x8086\nA: device=0xa36d\nA: class=0x0c0330\n\n%s%s%s",
                 a, b, c))
                return false;
        if (!add_string(s, text, why, sizeof(why))) {
                fprintf(stderr, "evidock-sim: %s\n", why);
                return false;
        }
        s->devnum_used[1][1] = s->devnum_used[2][1] = s->devnum_used[2][2] = true;
        s->last_devnum[1] = 1;
        s->last_devnum[2] = 2;
        return true;
}

static int parse_port(const char *word)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(word, &end, 10);
        if (errno || *end || end == word || v < 1 || v > PORTS_MAX)
                return -1;
        return (int)v;
}

static bool parse_vidpid(const char *word, unsigned *vid, unsigned *pid)
{
        char *end;
        unsigned long v, p;

        v = strtoul(word, &end, 16);
        if (end - word != 4 || *end != ':')
                return false;
        p = strtoul(end + 1, &end, 16);
        if (end - word != 9 || *end)
                return false;
        *vid = (unsigned)v;
        *pid = (unsigned)p;
        return true;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* %XX-decode word into out; returns the byte count or -1. */
static int decode_serial(const char *word, char *out, size_t n)
{
        size_t len = 0;

        for (const char *p = word; *p; p++) {
                int c = (unsigned char)*p;

                if (*p == '%') {
                        int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);

                        if (hi < 0 || lo < 0)
                                return -1;
                        c = hi << 4 | lo;
                        p += 2;
                }
                if (len >= n)
                        return -1;
                out[len++] = (char)c;
        }
        return (int)len;
}

/* The kernel name of the device on a port and its parent's sysfs path. */
static bool port_location(int port, int *bus, char *name, size_t n, char *parent, size_t pn)
{
        if (port <= 4) {
                *bus = 1;
                return fmt(name, n, "1-%d", port) && fmt(parent, pn, PCI_PATH "/usb1");
        }
        *bus = 2;
        return fmt(name, n, "2-1.%d", port - 4) && fmt(parent, pn, PCI_PATH "/usb2/2-1");
}

/* The next free device number after the last one given on that bus, as the kernel
 * counts (2..127, wrapping): a device docked again gets a new number. */
static int alloc_devnum(struct sim *s, int bus)
{
        for (int i = 1; i <= 126; i++) {
                int d = (s->last_devnum[bus] - 2 + i) % 126 + 2;

                if (!s->devnum_used[bus][d]) {
                        s->devnum_used[bus][d] = true;
                        s->last_devnum[bus] = d;
                        return d;
                }
        }
        return -1;
}

static int alloc_disk(struct sim *s)
{
        for (int i = 0; i < DISKS_MAX; i++)
                if (!s->disk_used[i]) {
                        s->disk_used[i] = true;
                        return i;
                }
        return -1;
}

static void uevent(struct sim *s, const char *path, const char *action)
{
        umockdev_testbed_uevent(s->tb, path, action);
}

static bool image_ok(const char *image)
{
        struct stat st;

        return stat(image, &st) == 0 && S_ISREG(st.st_mode) && access(image, R_OK) == 0;
}

/* Add the SCSI chain and disk under an interface (umockdev sends the "add" uevents). */
static bool add_disk(struct sim *s, struct port *p, const char *image, char *why, size_t whyn)
{
        char text[4096], node[PATH_LEN], target[PATH_MAX];
        struct stat st;
        int h = p->host, d;

        if (!realpath(image, target) || stat(target, &st) < 0 || !S_ISREG(st.st_mode))
                return fmt(why, whyn, "image %s: not a readable regular file", image), false;
        d = alloc_disk(s);
        if (d < 0)
                return fmt(why, whyn, "no free sdX name"), false;
        if (!fmt(p->shost, sizeof(p->shost), "%s/host%d", p->iface, h) ||
            !fmt(p->starget, sizeof(p->starget), "%s/target%d:0:0", p->shost, h) ||
            !fmt(p->sdev, sizeof(p->sdev), "%s/%d:0:0:0", p->starget, h) ||
            !fmt(p->block, sizeof(p->block), "%s/block/sd%c", p->sdev, 'b' + d) ||
            !fmt(text, sizeof(text),
                 "P: %s\nE: SUBSYSTEM=scsi\nE: DEVTYPE=scsi_host\n\n"
                 "P: %s\nE: SUBSYSTEM=scsi\nE: DEVTYPE=scsi_target\n\n"
                 "P: %s\nE: SUBSYSTEM=scsi\nE: DEVTYPE=scsi_device\nE: DRIVER=sd\n"
                 "A: vendor=EVIDOCK\nA: model=Recorder\nA: type=0\n\n"
                 "P: %s\nE: SUBSYSTEM=block\nE: DEVTYPE=disk\nE: DEVNAME=/dev/sd%c\n"
                 "E: MAJOR=8\nE: MINOR=%d\nA: dev=8:%d\nA: size=%lld\nA: removable=1\nA: ro=0\n\n",
                 p->shost + 4, p->starget + 4, p->sdev + 4, p->block + 4, 'b' + d, 16 * (d + 1),
                 16 * (d + 1), (long long)(st.st_size / 512)) ||
            !fmt(node, sizeof(node), "%s/dev/sd%c", s->root, 'b' + d)) {
                s->disk_used[d] = false;
                return fmt(why, whyn, "path too long"), false;
        }
        /* No "N:" line: umockdev would write an empty node file (after its uevent) and
         * we would race readers replacing it. The node appears, as the image, only
         * after the disk is in sysfs; blockdev waits for the node. */
        if (!add_string(s, text, why, whyn)) {
                s->disk_used[d] = false;
                return false;
        }
        if (symlink(target, node) < 0) {
                fmt(why, whyn, "cannot link %s to %s: %s", node, target, strerror(errno));
                s->disk_used[d] = false;
                return false;
        }
        p->disk = d;
        p->has_disk = true;
        return true;
}

/* "H: serial=..." for the usb_device paragraph (hex of the bytes and the kernel's
 * newline), or "" for "-". */
static bool serial_line(const char *word, char *out, size_t n)
{
        char serial[SERIAL_MAX];
        size_t len;
        int bytes;

        out[0] = '\0';
        if (strcmp(word, "-") == 0)
                return true;
        bytes = decode_serial(word, serial, sizeof(serial));
        if (bytes < 0 || n < 13 + 2 * (size_t)bytes + 4)
                return false;
        memcpy(out, "H: serial=", 10);
        len = 10;
        for (int i = 0; i < bytes; i++, len += 2)
                snprintf(out + len, 3, "%02X", (unsigned char)serial[i]);
        memcpy(out + len, "0A\n", 4);
        return true;
}

static int cmd_dock(struct sim *s, char **w, int nw)
{
        char why[512] = "", name[64], parent[PATH_LEN], text[4096], dev[2048], iface[1024];
        char serial[2 * SERIAL_MAX + 16];
        unsigned vid, pid;
        struct port *p;
        int port, bus, devnum;

        if (nw != 5)
                return reply("error usage: dock PORT SERIAL VID:PID IMAGE");
        port = parse_port(w[1]);
        if (port < 0)
                return reply("error bad PORT %s (1-%d)", w[1], PORTS_MAX);
        if (!parse_vidpid(w[3], &vid, &pid))
                return reply("error bad VID:PID %s", w[3]);
        p = &s->ports[port];
        if (p->docked)
                return reply("error port %d is docked", port);
        if (!serial_line(w[2], serial, sizeof(serial)))
                return reply("error bad SERIAL %s", w[2]);
        if (strcmp(w[4], "-") != 0 && !image_ok(w[4]))
                return reply("error image %s: not a readable regular file", w[4]);
        if (!port_location(port, &bus, name, sizeof(name), parent, sizeof(parent)))
                return reply("error path too long");
        devnum = alloc_devnum(s, bus);
        if (devnum < 0)
                return reply("error no free device number on bus %d", bus);
        memset(p, 0, sizeof(*p));
        p->bus = bus;
        p->devnum = devnum;
        p->host = s->next_host++;
        if (!fmt(p->usb, sizeof(p->usb), "/sys%s/%s", parent, name) ||
            !fmt(p->iface, sizeof(p->iface), "%s/%s:1.0", p->usb, name) ||
            !usb_paragraph(dev, sizeof(dev), p->usb + 4, bus, devnum, vid, pid, 0, serial) ||
            !fmt(iface, sizeof(iface),
                 "P: %s\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_interface\nE: DRIVER=usb-storage\n"
                 "E: INTERFACE=8/6/80\nA: bInterfaceNumber=00\nA: bInterfaceClass=08\n"
                 "A: bInterfaceSubClass=06\nA: bInterfaceProtocol=50\nA: bNumEndpoints=02\n\n",
                 p->iface + 4) ||
            !fmt(text, sizeof(text), "%s%s", dev, iface)) {
                s->devnum_used[bus][devnum] = false;
                return reply("error path too long");
        }
        if (!add_string(s, text, why, sizeof(why))) {
                s->devnum_used[bus][devnum] = false;
                return reply("error %s", why);
        }
        p->docked = true;
        if (strcmp(w[4], "-") != 0 && !add_disk(s, p, w[4], why, sizeof(why)))
                goto fail;
        if (p->has_disk)
                return reply("ok dock %d bus=%d dev=%d name=%s node=/dev/sd%c", port, bus, devnum,
                             name, 'b' + p->disk);
        return reply("ok dock %d bus=%d dev=%d name=%s node=-", port, bus, devnum, name);
fail:
        /* The device is there, without what failed: undock cleans it up. */
        return reply("error %s (port %d docked partly: undock it)", why, port);
}

static int cmd_disk(struct sim *s, char **w, int nw)
{
        char why[512] = "";
        struct port *p;
        int port;

        if (nw != 3)
                return reply("error usage: disk PORT IMAGE");
        port = parse_port(w[1]);
        if (port < 0)
                return reply("error bad PORT %s", w[1]);
        p = &s->ports[port];
        if (!p->docked || p->has_disk)
                return reply("error port %d is not docked without a disk", port);
        if (!add_disk(s, p, w[2], why, sizeof(why)))
                return reply("error %s", why);
        return reply("ok disk %d node=/dev/sd%c", port, 'b' + p->disk);
}

/* Unlink root/rel, ignoring ENOENT. */
static void unlink_leftover(struct sim *s, const char *rel)
{
        char path[PATH_LEN];

        if (fmt(path, sizeof(path), "%s/%s", s->root, rel) && unlink(path) < 0 && errno != ENOENT)
                fprintf(stderr, "evidock-sim: unlink %s: %s\n", path, strerror(errno));
}

static int cmd_undock(struct sim *s, char **w, int nw)
{
        char rel[64];
        struct port *p;
        int port;

        if (nw != 2)
                return reply("error usage: undock PORT");
        port = parse_port(w[1]);
        if (port < 0)
                return reply("error bad PORT %s", w[1]);
        p = &s->ports[port];
        if (!p->docked)
                return reply("error port %d is not docked", port);
        /* The kernel's order: children go first. */
        if (p->has_disk) {
                uevent(s, p->block, "remove");
                uevent(s, p->sdev, "remove");
                uevent(s, p->starget, "remove");
                uevent(s, p->shost, "remove");
        }
        uevent(s, p->iface, "remove");
        uevent(s, p->usb, "remove");
        if (p->has_disk) {
                umockdev_testbed_remove_device(s->tb, p->block);
                umockdev_testbed_remove_device(s->tb, p->sdev);
                umockdev_testbed_remove_device(s->tb, p->starget);
                umockdev_testbed_remove_device(s->tb, p->shost);
                if (fmt(rel, sizeof(rel), "sys/block/sd%c", 'b' + p->disk))
                        unlink_leftover(s, rel);
                if (fmt(rel, sizeof(rel), "dev/sd%c", 'b' + p->disk))
                        unlink_leftover(s, rel);
                s->disk_used[p->disk] = false;
        }
        umockdev_testbed_remove_device(s->tb, p->iface);
        umockdev_testbed_remove_device(s->tb, p->usb);
        if (fmt(rel, sizeof(rel), "dev/bus/usb/%03d/%03d", p->bus, p->devnum))
                unlink_leftover(s, rel);
        s->devnum_used[p->bus][p->devnum] = false;
        memset(p, 0, sizeof(*p));
        return reply("ok undock %d", port);
}

static int cmd_uevent(struct sim *s, char **w, int nw)
{
        int port;

        if (nw != 3)
                return reply("error usage: uevent PORT add|change|remove");
        port = parse_port(w[1]);
        if (port < 0 || !s->ports[port].docked)
                return reply("error port %s is not docked", w[1]);
        if (strcmp(w[2], "add") != 0 && strcmp(w[2], "change") != 0 && strcmp(w[2], "remove") != 0)
                return reply("error bad ACTION %s", w[2]);
        uevent(s, s->ports[port].usb, w[2]);
        return reply("ok uevent %d %s", port, w[2]);
}

static int start_child(struct sim *s)
{
        pid_t pid;
        int fd;

        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* The child must not outlive the simulator and its testbed, and must
                 * not read the simulator's commands. */
                int null = open("/dev/null", O_RDONLY);

                (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (null < 0 || dup2(null, STDIN_FILENO) < 0)
                        _exit(127);
                if (null != STDIN_FILENO)
                        (void)close(null);
                execvp(s->argv[0], s->argv);
                fprintf(stderr, "evidock-sim: cannot run %s: %s\n", s->argv[0], strerror(errno));
                _exit(127);
        }
        fd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0) {
                int r = -errno;

                (void)kill(pid, SIGKILL);
                (void)waitpid(pid, NULL, 0);
                return r;
        }
        s->child = pid;
        s->child_fd = fd;
        return 0;
}

static int wait_child(struct sim *s)
{
        int status;

        if (s->child <= 0)
                return 0;
        while (waitpid(s->child, &status, 0) < 0)
                if (errno != EINTR)
                        return 1;
        s->child = 0;
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
}

/* Split line into at most max words on spaces; returns the count or -1. */
static int split(char *line, char **w, int max)
{
        int n = 0;

        for (char *p = line; *p;) {
                while (*p == ' ' || *p == '\t')
                        *p++ = '\0';
                if (!*p)
                        break;
                if (n == max)
                        return -1;
                w[n++] = p;
                while (*p && *p != ' ' && *p != '\t')
                        p++;
        }
        return n;
}

/* Run one command line; returns true when the simulator should stop. */
static bool run_line(struct sim *s, char *line, int *status)
{
        char *w[8];
        int nw = split(line, w, 8);

        if (nw < 0)
                return reply("error too many words"), false;
        if (nw == 0)
                return reply("error empty command"), false;
        if (strcmp(w[0], "dock") == 0)
                cmd_dock(s, w, nw);
        else if (strcmp(w[0], "disk") == 0)
                cmd_disk(s, w, nw);
        else if (strcmp(w[0], "undock") == 0)
                cmd_undock(s, w, nw);
        else if (strcmp(w[0], "uevent") == 0)
                cmd_uevent(s, w, nw);
        else if (strcmp(w[0], "start") == 0) {
                int r;

                if (s->child > 0)
                        return reply("error child already started"), false;
                r = start_child(s);
                if (r < 0)
                        return reply("error cannot start child: %s", strerror(-r)), false;
                reply("ok start pid=%d", (int)s->child);
        } else if (strcmp(w[0], "quit") == 0) {
                if (s->child > 0)
                        (void)kill(s->child, SIGTERM);
                *status = wait_child(s);
                reply("ok quit status=%d", *status);
                return true;
        } else
                reply("error unknown command %s", w[0]);
        return false;
}

static int usage(void)
{
        fprintf(stderr, "usage: umockdev-wrapper evidock-sim [--defer] -- COMMAND [ARG...]\n");
        return 2;
}

int main(int argc, char **argv)
{
        struct sim s = { .child_fd = -1 };
        static char buf[LINE_MAX_LEN + 1];
        size_t have = 0;
        bool defer = false, done = false, discard = false;
        const char *preload = getenv("LD_PRELOAD");
        int i, status = 0;

        for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
                if (strcmp(argv[i], "--defer") == 0)
                        defer = true;
                else
                        return usage();
        }
        if (i + 1 >= argc)
                return usage();
        s.argv = argv + i + 1;
        if (!preload || !strstr(preload, "libumockdev-preload")) {
                fprintf(stderr, "evidock-sim: run me under umockdev-wrapper (LD_PRELOAD)\n");
                return 2;
        }
        (void)signal(SIGPIPE, SIG_IGN);
        s.tb = umockdev_testbed_new();
        s.root = umockdev_testbed_get_root_dir(s.tb);
        if (!add_hubs(&s)) {
                status = 1;
                goto out;
        }
        if (!defer && start_child(&s) < 0) {
                fprintf(stderr, "evidock-sim: cannot start %s\n", s.argv[0]);
                status = 1;
                goto out;
        }
        reply("ok ready root=%s", s.root);
        while (!done) {
                struct pollfd pfd[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
                                         { .fd = s.child > 0 ? s.child_fd : -1,
                                           .events = POLLIN } };
                ssize_t n;
                char *nl;

                if (poll(pfd, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        status = 1;
                        break;
                }
                if (pfd[1].revents) {
                        status = wait_child(&s);
                        fprintf(stderr, "evidock-sim: child exited, status %d\n", status);
                        break;
                }
                if (!pfd[0].revents)
                        continue;
                n = read(STDIN_FILENO, buf + have, LINE_MAX_LEN - have);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        buf[have] = '\0';
                        if (have && !discard && run_line(&s, buf, &status))
                                break;
                        if (s.child > 0)
                                (void)kill(s.child, SIGTERM);
                        status = wait_child(&s);
                        break;
                }
                have += (size_t)n;
                buf[have] = '\0';
                while (!done && (nl = memchr(buf, '\n', have))) {
                        size_t len = (size_t)(nl - buf) + 1;

                        *nl = '\0';
                        if (nl > buf && nl[-1] == '\r')
                                nl[-1] = '\0';
                        if (discard)
                                discard = false;
                        else
                                done = run_line(&s, buf, &status);
                        memmove(buf, buf + len, have - len);
                        have -= len;
                        buf[have] = '\0';
                }
                if (have == LINE_MAX_LEN) {
                        reply("error line longer than %d bytes", LINE_MAX_LEN);
                        discard = true;
                        have = 0;
                }
        }
out:
        if (s.child > 0) {
                (void)kill(s.child, SIGTERM);
                (void)wait_child(&s);
        }
        if (s.child_fd >= 0)
                close(s.child_fd);
        g_free(s.root);
        g_object_unref(s.tb);
        return status;
}
