#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void evd_hex(const uint8_t *in, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 0xf];
        }
        out[2 * n] = '\0';
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

int evd_unhex(const char *hex, uint8_t *out, size_t n)
{
        if (strlen(hex) != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

                if (hi < 0 || lo < 0)
                        return -EINVAL;
                out[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
}

bool evd_is_hex(const char *s, size_t min)
{
        size_t n = 0;

        for (; s[n]; n++)
                if (hexval(s[n]) < 0)
                        return false;
        return n >= min;
}

char *evd_b64_encode(const void *in, size_t n)
{
        size_t cap = 4 * ((n + 2) / 3) + 1;
        char *out = malloc(cap);

        if (!out)
                return NULL;
        if (n > INT32_MAX) {
                free(out);
                return NULL;
        }
        (void)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
        return out;
}

int evd_b64_decode(const char *in, uint8_t **ret, size_t *ret_len)
{
        size_t len = strlen(in), pad = 0;
        uint8_t *out;
        int n;

        if (len % 4 != 0 || len > INT32_MAX)
                return -EINVAL;
        out = malloc(len / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
        if (n < 0) {
                free(out);
                return -EINVAL;
        }
        /* EVP_DecodeBlock counts padding as zero bytes: take them off. */
        if (len >= 1 && in[len - 1] == '=')
                pad++;
        if (len >= 2 && in[len - 2] == '=')
                pad++;
        *ret = out;
        *ret_len = (size_t)n - pad;
        return 0;
}

void evd_time_format(int64_t t, char out[EVD_TIME_STR])
{
        time_t tt = (time_t)t;
        struct tm tm;

        if (!gmtime_r(&tt, &tm) || strftime(out, EVD_TIME_STR, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                (void)snprintf(out, EVD_TIME_STR, "@%lld", (long long)t);
}

/* Read exactly `digits` decimal digits from *p. */
static int take_num(const char **p, int digits, int *ret)
{
        int v = 0;

        for (int i = 0; i < digits; i++) {
                char c = (*p)[i];

                if (c < '0' || c > '9')
                        return -EINVAL;
                v = v * 10 + (c - '0');
        }
        *p += digits;
        *ret = v;
        return 0;
}

/* The fields of "YYYY-MM-DD[(T| )HH:MM[:SS[.frac]][Z|±HH:MM]]"; *zone says whether a
 * zone (Z or an offset, in *off seconds east) was given, *clock whether a time was. */
struct time_fields {
        int y, mo, d, h, mi, sec, off;
        bool zone, clock;
};

static int take_zone(const char **p, struct time_fields *f)
{
        if (**p == 'Z' || **p == 'z') {
                (*p)++;
                f->zone = true;
        } else if (**p == '+' || **p == '-') {
                int sign = **p == '-' ? -1 : 1, oh, om;

                (*p)++;
                if (take_num(p, 2, &oh) || *(*p)++ != ':' || take_num(p, 2, &om))
                        return -EINVAL;
                if (oh > 23 || om > 59)
                        return -EINVAL;
                f->off = sign * (oh * 3600 + om * 60);
                f->zone = true;
        }
        return 0;
}

static int parse_fields(const char *s, struct time_fields *f)
{
        const char *p = s;

        *f = (struct time_fields){ 0 };
        if (take_num(&p, 4, &f->y) || *p++ != '-' || take_num(&p, 2, &f->mo) || *p++ != '-' ||
            take_num(&p, 2, &f->d))
                return -EINVAL;
        if (*p == 'T' || *p == 't' || *p == ' ') {
                p++;
                f->clock = true;
                if (take_num(&p, 2, &f->h) || *p++ != ':' || take_num(&p, 2, &f->mi))
                        return -EINVAL;
                if (*p == ':') {
                        p++;
                        if (take_num(&p, 2, &f->sec))
                                return -EINVAL;
                        if (*p == '.')
                                for (p++; *p >= '0' && *p <= '9'; p++)
                                        ;
                }
                if (take_zone(&p, f) < 0)
                        return -EINVAL;
        }
        if (*p != '\0')
                return -EINVAL;
        if (f->mo < 1 || f->mo > 12 || f->d < 1 || f->d > 31 || f->h > 23 || f->mi > 59 ||
            f->sec > 60)
                return -EINVAL;
        return 0;
}

/* The fields as seconds: in UTC minus the offset, or (local) as the process's zone
 * has them. -EINVAL for a date that does not exist (31 Feb). */
static int fields_to_time(const struct time_fields *f, bool local, int64_t *ret)
{
        struct tm tm = { .tm_year = f->y - 1900,
                         .tm_mon = f->mo - 1,
                         .tm_mday = f->d,
                         .tm_hour = f->h,
                         .tm_min = f->mi,
                         .tm_sec = f->sec,
                         .tm_isdst = -1 };
        time_t t = local ? mktime(&tm) : timegm(&tm);

        /* mktime and timegm normalise 31 Feb into March: refuse dates that do not exist. */
        if (t == (time_t)-1 || tm.tm_mday != f->d || tm.tm_mon != f->mo - 1)
                return -EINVAL;
        *ret = (int64_t)t - (local ? 0 : f->off);
        return 0;
}

int evd_time_parse(const char *s, int64_t *ret)
{
        struct time_fields f;

        if (parse_fields(s, &f) < 0 || (f.clock && !f.zone))
                return -EINVAL;
        return fields_to_time(&f, false, ret);
}

int evd_time_parse_local(const char *s, bool end_of_day, int64_t *ret)
{
        struct time_fields f;
        int64_t t;
        int r;

        if (parse_fields(s, &f) < 0)
                return -EINVAL;
        if (f.zone)
                return fields_to_time(&f, false, ret);
        if (f.clock || !end_of_day)
                return fields_to_time(&f, true, ret);
        /* The day's last second: the instant before the next local midnight. */
        r = fields_to_time(&f, true, &t);
        if (r < 0)
                return r;
        f.d++;
        {
                struct tm tm = {
                        .tm_year = f.y - 1900, .tm_mon = f.mo - 1, .tm_mday = f.d, .tm_isdst = -1
                };
                time_t next = mktime(&tm);

                if (next == (time_t)-1)
                        return -EINVAL;
                *ret = (int64_t)next - 1;
        }
        return 0;
}

void evd_time_format_local(int64_t t, char out[EVD_TIME_LOCAL_STR])
{
        time_t tt = (time_t)t;
        struct tm tm;
        char zone[8];

        if (!localtime_r(&tt, &tm) ||
            strftime(out, EVD_TIME_LOCAL_STR, "%Y-%m-%d %H:%M", &tm) == 0 ||
            strftime(zone, sizeof(zone), "%z", &tm) != 5) {
                evd_time_format(t, out);
                return;
        }
        (void)snprintf(out + strlen(out), EVD_TIME_LOCAL_STR - strlen(out), " (%.3s:%.2s)", zone,
                       zone + 3);
}

/* read() or, with off >= 0, pread() from off on, until len bytes or EOF. */
static ssize_t read_loop(int fd, void *buf, size_t len, off_t off)
{
        size_t done = 0;

        while (done < len) {
                ssize_t n = off < 0 ? read(fd, (char *)buf + done, len - done)
                                    : pread(fd, (char *)buf + done, len - done, off + (off_t)done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                done += (size_t)n;
        }
        return (ssize_t)done;
}

ssize_t evd_read_full(int fd, void *buf, size_t len)
{
        return read_loop(fd, buf, len, -1);
}

ssize_t evd_pread_full(int fd, void *buf, size_t len, off_t off)
{
        if (off < 0)
                return -EINVAL;
        return read_loop(fd, buf, len, off);
}

int evd_write_full(int fd, const void *buf, size_t len)
{
        size_t done = 0;

        while (done < len) {
                ssize_t n = write(fd, (const char *)buf + done, len - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t)n;
        }
        return 0;
}

int evd_fsync_dir(const char *path)
{
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        (void)close(fd);
        return r;
}

int evd_snprintf(char *buf, size_t n, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vsnprintf(buf, n, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -EINVAL;
        return (size_t)r >= n ? -ENAMETOOLONG : 0;
}

void evd_test_gate(const char *env)
{
        const char *gate = getenv(env);
        char reached[4096];
        int fd;

        if (!gate || !gate[0] || evd_snprintf(reached, sizeof(reached), "%s.reached", gate) < 0)
                return;
        fd = open(reached, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
                (void)close(fd);
        for (int i = 0; i < 300 * 100 && access(gate, F_OK) == 0; i++)
                (void)usleep(10000);
}
