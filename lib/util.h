/* util: small helpers shared by every module: hex, base64, RFC 3339 times, whole reads
 * and writes, bounded string copies. */
#ifndef EVD_UTIL_H
#define EVD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EVD_SHA256_LEN 32
#define EVD_SHA256_HEX 65 /* 64 digits and NUL */
#define EVD_TIME_STR 32   /* "2026-11-27T00:56:08Z" and NUL, with room */

#define EVD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void evd_hex(const uint8_t *in, size_t n, char *out);

/* Parse exactly 2n hex digits into n bytes; -EINVAL on anything else. */
int evd_unhex(const char *hex, uint8_t *out, size_t n);

/* True when s is made of hex digits only (either case) and has at least min of them. */
bool evd_is_hex(const char *s, size_t min);

/* Base64 (RFC 4648, with padding). Returns a malloc'd NUL-terminated string, or NULL. */
char *evd_b64_encode(const void *in, size_t n);

/* Decode base64 into a malloc'd buffer (*ret, *ret_len); -EINVAL on bad input. */
int evd_b64_decode(const char *in, uint8_t **ret, size_t *ret_len);

/* Seconds since the epoch as RFC 3339 UTC: "2026-11-27T00:56:08Z". */
void evd_time_format(int64_t t, char out[EVD_TIME_STR]);

/* Parse RFC 3339 ("...Z" or "...+08:00", seconds optional fraction ignored) or a bare
 * date "YYYY-MM-DD" (midnight UTC) into seconds; -EINVAL if it is neither. */
int evd_time_parse(const char *s, int64_t *ret);

/* A time as people at the station type it, in the process's time zone (TZ; evidockd
 * sets it from [station] timezone): RFC 3339 with Z or an offset as evd_time_parse; a
 * time without an offset ("2026-12-01 09:30", "2026-12-01T09:30:00") is local; a bare
 * date is that whole local day: its local midnight, or with end_of_day its last second
 * (23:59:59 local). -EINVAL otherwise. */
int evd_time_parse_local(const char *s, bool end_of_day, int64_t *ret);

#define EVD_TIME_LOCAL_STR 40 /* "2026-12-01 09:30 (+08:00)" and NUL, with room */

/* Seconds since the epoch for people, in the process's time zone with its offset:
 * "2026-12-01 09:30 (+08:00)". */
void evd_time_format_local(int64_t t, char out[EVD_TIME_LOCAL_STR]);

/* read()/write() until len bytes or EOF, retrying EINTR. Returns bytes done or -errno. */
ssize_t evd_read_full(int fd, void *buf, size_t len);
ssize_t evd_pread_full(int fd, void *buf, size_t len, off_t off);
int evd_write_full(int fd, const void *buf, size_t len);

/* fsync a directory by path. */
int evd_fsync_dir(const char *path);

/* snprintf that reports truncation: 0, or -ENAMETOOLONG when it did not fit. */
int evd_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A test hook: when the environment variable env names a file, create FILE.reached
 * and wait (at most 300 s) until FILE is removed. Nothing happens when it is unset. */
void evd_test_gate(const char *env);

#endif
