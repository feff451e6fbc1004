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

int evd_time_parse(const char *s, int64_t *ret)
{
        struct tm tm = { 0 };
        int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
        const char *p = s;

        if (take_num(&p, 4, &y) || *p++ != '-' || take_num(&p, 2, &mo) || *p++ != '-' ||
            take_num(&p, 2, &d))
                return -EINVAL;
        if (*p == 'T' || *p == 't' || *p == ' ') {
                p++;
                if (take_num(&p, 2, &h) || *p++ != ':' || take_num(&p, 2, &mi))
                        return -EINVAL;
                if (*p == ':') {
                        p++;
                        if (take_num(&p, 2, &sec))
                                return -EINVAL;
                        if (*p == '.')
                                for (p++; *p >= '0' && *p <= '9'; p++)
                                        ;
                }
                if (*p == 'Z' || *p == 'z') {
                        p++;
                } else if (*p == '+' || *p == '-') {
                        int sign = *p == '-' ? -1 : 1, oh, om;

                        p++;
                        if (take_num(&p, 2, &oh) || *p++ != ':' || take_num(&p, 2, &om))
                                return -EINVAL;
                        if (oh > 23 || om > 59)
                                return -EINVAL;
                        off = sign * (oh * 3600 + om * 60);
                } else {
                        return -EINVAL;
                }
        }
        if (*p != '\0')
                return -EINVAL;
        if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
                return -EINVAL;
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
        /* timegm normalises 31 Feb into March: refuse dates that do not exist. */
        {
                struct tm check = tm;
                time_t t = timegm(&check);

                if (t == (time_t)-1 || check.tm_mday != d || check.tm_mon != mo - 1)
                        return -EINVAL;
                *ret = (int64_t)t - off;
        }
        return 0;
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
