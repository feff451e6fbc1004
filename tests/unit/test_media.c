/* Tests for lib/media: probes of real recordings made with ffmpeg at test time, cut,
 * damaged and fake ones, the log capture, the limits and the error cases. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "media.h"
#include "util.h"

#define CREATED "2026-11-20T09:15:00Z"
#define CLIP_S 3.0

static char dir[256]; /* mkdtemp() under $TMPDIR or /tmp, removed at the end */

static void path_of(const char *name, char out[512])
{
        assert_int_equal(evd_snprintf(out, 512, "%s/%s", dir, name), 0);
}

/* Run a program with its output thrown away; fail the test unless it exits 0. */
static void run(const char *const argv[])
{
        pid_t pid = fork();
        int status;

        assert_true(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
                        _exit(127);
                execvp(argv[0], (char *const *)argv);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* A 3 s 320x240 H.264 + AAC clip, as recorders make them. extra: container flags. */
static void make_clip(const char *name, const char *flag, const char *value)
{
        char out[512];
        const char *argv[40];
        size_t n = 0;

        path_of(name, out);
        const char *base[] = { "ffmpeg",
                               "-nostdin",
                               "-v",
                               "error",
                               "-y",
                               "-f",
                               "lavfi",
                               "-i",
                               "testsrc=size=320x240:rate=25",
                               "-f",
                               "lavfi",
                               "-i",
                               "sine=frequency=1000:sample_rate=48000",
                               "-t",
                               "3",
                               "-c:v",
                               "libx264",
                               "-g",
                               "25",
                               "-pix_fmt",
                               "yuv420p",
                               "-c:a",
                               "aac",
                               "-metadata",
                               ("creation_time=" CREATED) };
        for (size_t i = 0; i < EVD_ARRAY_SIZE(base); i++)
                argv[n++] = base[i];
        if (flag) {
                argv[n++] = flag;
                argv[n++] = value;
        }
        argv[n++] = out;
        argv[n] = NULL;
        run(argv);
}

static void make_audio(const char *name, const char *codec, const char *format)
{
        char out[512];
        const char *argv[] = { "ffmpeg", "-nostdin", "-v",
                               "error",  "-y",       "-f",
                               "lavfi",  "-i",       "sine=frequency=1000:sample_rate=48000",
                               "-t",     "2",        "-c:a",
                               codec,    "-f",       format,
                               out,      NULL };

        path_of(name, out);
        run(argv);
}

static void make_photo(const char *name)
{
        char out[512];
        const char *argv[] = { "ffmpeg",    "-nostdin", "-v",
                               "error",     "-y",       "-f",
                               "lavfi",     "-i",       "testsrc=size=320x240",
                               "-frames:v", "1",        out,
                               NULL };

        path_of(name, out);
        run(argv);
}

static void write_file(const char *name, const void *data, size_t len)
{
        char p[512];
        int fd;

        path_of(name, p);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(evd_write_full(fd, data, len), 0);
        assert_int_equal(close(fd), 0);
}

static uint8_t *read_file(const char *name, size_t *ret_len)
{
        char p[512];
        struct stat sb;
        uint8_t *buf;
        int fd;

        path_of(name, p);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &sb), 0);
        buf = malloc((size_t)sb.st_size + 1);
        assert_non_null(buf);
        assert_int_equal(evd_read_full(fd, buf, (size_t)sb.st_size), sb.st_size);
        assert_int_equal(close(fd), 0);
        *ret_len = (size_t)sb.st_size;
        return buf;
}

static void copy_file(const char *name, const char *out)
{
        size_t n;
        uint8_t *b = read_file(name, &n);

        write_file(out, b, n);
        free(b);
}

static void cut_percent(const char *name, unsigned percent, bool is_ts)
{
        char out[64];
        size_t n;
        uint8_t *b = read_file(name, &n);
        size_t len = n * percent / 100;

        /* A TS cut on a packet boundary is a shorter valid TS, which nothing can tell
         * from a cut (see media.h): keep the cut inside a packet. */
        if (is_ts && len % 188 == 0)
                len--;
        assert_int_equal(evd_snprintf(out, sizeof(out), "cut%u-%s", percent, name), 0);
        write_file(out, b, len);
        free(b);
}

/* Offset of the box header whose type is the first occurrence of type in b. */
static size_t find(const uint8_t *b, size_t n, const char *type)
{
        for (size_t i = 4; i + 4 <= n; i++)
                if (memcmp(b + i, type, 4) == 0)
                        return i - 4;
        fail_msg("no '%s' box", type);
        return 0;
}

/* Deterministic noise, so that a failure can be reproduced. */
static void noise(uint8_t *b, size_t n, uint64_t seed)
{
        uint64_t x = seed * 0x9e3779b97f4a7c15u + 1;

        for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b[i] = (uint8_t)(x >> 24);
        }
}

static const char *const clips[] = { "moov_end.mp4", "faststart.mp4", "frag.mp4", "clip.mov",
                                     "clip.ts",      "clip.mkv",      "clip.avi", "clip.flv" };

static int setup(void **state)
{
        static uint8_t buf[64 * 1024];
        char name[64];

        (void)state;
        if (evd_snprintf(dir, sizeof(dir), "%s/evd-test-media-XXXXXX",
                         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") < 0 ||
            !mkdtemp(dir))
                return -1;
        make_clip("moov_end.mp4", NULL, NULL);
        make_clip("faststart.mp4", "-movflags", "+faststart");
        make_clip("frag.mp4", "-movflags", "frag_keyframe+empty_moov");
        make_clip("clip.mov", "-f", "mov");
        make_clip("clip.ts", "-f", "mpegts");
        make_clip("clip.mkv", "-f", "matroska");
        make_clip("clip.avi", "-f", "avi");
        make_clip("clip.flv", "-f", "flv");
        for (size_t i = 0; i < EVD_ARRAY_SIZE(clips); i++) {
                cut_percent(clips[i], 50, strstr(clips[i], ".ts") != NULL);
                cut_percent(clips[i], 99, strstr(clips[i], ".ts") != NULL);
        }
        make_photo("photo.jpg");
        make_audio("tone.wav", "pcm_s16le", "wav");
        make_audio("tone.mp3", "libmp3lame", "mp3");
        make_audio("tone.aac", "aac", "adts");
        cut_percent("photo.jpg", 50, false);
        cut_percent("tone.wav", 99, false);
        cut_percent("tone.mp3", 50, false);
        cut_percent("tone.aac", 50, false);

        memset(buf, 0, sizeof(buf));
        write_file("zeros.mp4", buf, sizeof(buf));
        for (unsigned i = 0; i < 8; i++) {
                size_t len = sizeof(buf) >> i;

                noise(buf, len, i);
                assert_int_equal(evd_snprintf(name, sizeof(name), "noise%u.mp4", i), 0);
                write_file(name, buf, len);
        }
        write_file("empty.mp4", "", 0);
        return 0;
}

static int remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
        (void)sb;
        (void)type;
        (void)ftw;
        return remove(path);
}

static int teardown(void **state)
{
        (void)state;
        return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Probe a file by name with stderr sent to a file; fail if anything reached it. */
static int probe_limits(const char *name, const struct evd_media_limits *lim, json_t **ret,
                        struct evd_err *err)
{
        char p[512], cap[512];
        int fd, saved, capfd, rc;
        struct stat sb;

        path_of(name, p);
        path_of("stderr.txt", cap);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        capfd = open(cap, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(capfd >= 0);
        (void)fflush(stderr);
        saved = dup(2);
        assert_true(saved >= 0);
        assert_true(dup2(capfd, 2) == 2);

        rc = evd_media_probe(fd, lim, ret, err);

        (void)fflush(stderr);
        assert_true(dup2(saved, 2) == 2);
        assert_int_equal(close(saved), 0);
        assert_int_equal(fstat(capfd, &sb), 0);
        if (sb.st_size != 0) {
                char text[256] = "";

                (void)pread(capfd, text, sizeof(text) - 1, 0);
                fail_msg("probe of %s wrote to stderr: %s", name, text);
        }
        assert_int_equal(close(capfd), 0);
        assert_int_equal(close(fd), 0);
        return rc;
}

static json_t *probe_ok(const char *name)
{
        struct evd_err err = { 0 };
        json_t *m = NULL;
        int rc = probe_limits(name, NULL, &m, &err);

        if (rc != 0)
                fail_msg("probe of %s: %d %s", name, rc, err.text);
        assert_non_null(m);
        return m;
}

static const char *str(const json_t *o, const char *key)
{
        const json_t *v = json_object_get(o, key);

        if (!json_is_string(v))
                fail_msg("\"%s\" is not a string", key);
        return json_string_value(v);
}

static long long num(const json_t *o, const char *key)
{
        const json_t *v = json_object_get(o, key);

        if (!json_is_integer(v))
                fail_msg("\"%s\" is not an integer", key);
        return json_integer_value(v);
}

/* The shape every result has, whatever the verdict. */
static void check_shape(const json_t *m)
{
        static const char *const verdicts[] = { "ok", "truncated", "corrupt", "not-media" };
        const json_t *log = json_object_get(m, "log"), *v;
        const char *integrity;
        bool known = false;
        size_t i;

        assert_true(json_is_object(m));
        assert_int_equal(json_object_size(m), 7);
        v = json_object_get(m, "container");
        assert_true(json_is_string(v) || json_is_null(v));
        v = json_object_get(m, "duration_s");
        assert_true(json_is_number(v) || json_is_null(v));
        assert_true(json_is_array(json_object_get(m, "streams")));
        v = json_object_get(m, "creation_time");
        assert_true(json_is_string(v) || json_is_null(v));
        integrity = str(m, "integrity");
        for (i = 0; i < EVD_ARRAY_SIZE(verdicts); i++)
                known |= strcmp(integrity, verdicts[i]) == 0;
        assert_true(known);
        v = json_object_get(m, "integrity_reason");
        if (strcmp(integrity, "ok") == 0)
                assert_true(json_is_null(v));
        else
                assert_true(json_is_string(v) && json_string_length(v) > 0);
        assert_true(json_is_array(log));
        assert_true(json_array_size(log) <= EVD_MEDIA_LOG_LINES);
        json_array_foreach(log, i, v)
        {
                assert_true(json_is_string(v));
                assert_true(json_string_length(v) <= EVD_MEDIA_LOG_LINE_MAX);
        }
}

static void check_integrity(const json_t *m, const char *want, const char *name)
{
        const char *got = str(m, "integrity");

        check_shape(m);
        if (strcmp(got, want) != 0)
                fail_msg("%s: integrity %s (%s), want %s", name, got,
                         json_string_value(json_object_get(m, "integrity_reason")), want);
}

static void check_duration(const json_t *m, double want, double tol)
{
        const json_t *d = json_object_get(m, "duration_s");

        assert_true(json_is_number(d));
        if (fabs(json_number_value(d) - want) > tol)
                fail_msg("duration %.3f, want %.3f", json_number_value(d), want);
}

static void check_clip_streams(const json_t *m)
{
        const json_t *streams = json_object_get(m, "streams"), *v, *a;

        assert_int_equal(json_array_size(streams), 2);
        v = json_array_get(streams, 0);
        a = json_array_get(streams, 1);
        assert_int_equal(num(v, "index"), 0);
        assert_string_equal(str(v, "type"), "video");
        assert_string_equal(str(v, "codec"), "h264");
        assert_int_equal(num(v, "width"), 320);
        assert_int_equal(num(v, "height"), 240);
        assert_true(fabs(json_number_value(json_object_get(v, "frame_rate")) - 25.0) < 0.01);
        assert_int_equal(num(a, "index"), 1);
        assert_string_equal(str(a, "type"), "audio");
        assert_string_equal(str(a, "codec"), "aac");
        assert_int_equal(num(a, "sample_rate"), 48000);
        assert_int_equal(num(a, "channels"), 1);
}

struct clip_case {
        const char *file, *container;
        bool has_time;
};

static void test_whole_clip(void **state)
{
        const struct clip_case *c = *state;
        json_t *m = probe_ok(c->file);
        int64_t t, want;

        check_integrity(m, "ok", c->file);
        assert_string_equal(str(m, "container"), c->container);
        check_duration(m, CLIP_S, 0.15);
        check_clip_streams(m);
        assert_int_equal(json_array_size(json_object_get(m, "log")), 0);
        if (c->has_time) {
                assert_string_equal(str(m, "creation_time"), CREATED);
                assert_int_equal(evd_media_creation_time(m, &t), 0);
                assert_int_equal(evd_time_parse(CREATED, &want), 0);
                assert_int_equal(t, want);
        } else {
                assert_true(json_is_null(json_object_get(m, "creation_time")));
                assert_int_equal(evd_media_creation_time(m, &t), -ENOENT);
        }
        json_decref(m);
}

static void test_cut_clip(void **state)
{
        const struct clip_case *c = *state;
        char name[64];

        for (unsigned percent = 50; percent <= 99; percent += 49) {
                json_t *m;

                assert_int_equal(evd_snprintf(name, sizeof(name), "cut%u-%s", percent, c->file), 0);
                m = probe_ok(name);
                check_integrity(m, "truncated", name);
                /* The container is still named from what is left. */
                assert_string_equal(str(m, "container"), c->container);
                json_decref(m);
        }
}

static void check_reason(const json_t *m, const char *needle, const char *name)
{
        const char *reason = str(m, "integrity_reason");

        if (!strstr(reason, needle))
                fail_msg("%s: reason \"%s\" lacks \"%s\"", name, reason, needle);
}

/* Cuts that leave the container's structure consistent: each is caught by one
 * particular check, named in the reason. */
static void test_cut_quietly(void **state)
{
        uint8_t *b;
        size_t n, off, cut = 0;
        json_t *m;

        (void)state;
        /* WAV written as a stream (RIFF size 0), cut: the last packet comes short. */
        b = read_file("tone.wav", &n);
        memset(b + 4, 0, 4);
        write_file("stream-cut.wav", b, n / 2 + 1);
        free(b);
        m = probe_ok("stream-cut.wav");
        check_integrity(m, "truncated", "stream-cut.wav");
        check_reason(m, "last packet", "stream-cut.wav");
        json_decref(m);

        /* Index first and media data "to the end of file" (size 0), cut: the boxes add
         * up, FFmpeg says "partial file". */
        b = read_file("cut50-faststart.mp4", &n);
        for (off = 0; off + 8 <= n && memcmp(b + off + 4, "mdat", 4) != 0;)
                off += (size_t)b[off] << 24 | (size_t)b[off + 1] << 16 | (size_t)b[off + 2] << 8 |
                       b[off + 3];
        assert_true(off + 8 <= n);
        memset(b + off, 0, 4);
        write_file("mdat-to-eof.mp4", b, n);
        free(b);
        m = probe_ok("mdat-to-eof.mp4");
        check_integrity(m, "truncated", "mdat-to-eof.mp4");
        check_reason(m, "partial file", "mdat-to-eof.mp4");
        json_decref(m);

        /* FLV cut between two tags: only the duration in its metadata tells. */
        b = read_file("clip.flv", &n);
        for (off = 13; off + 11 <= n && off < n / 2;) {
                off += 11 + ((size_t)b[off + 1] << 16 | (size_t)b[off + 2] << 8 | b[off + 3]) + 4;
                cut = off;
        }
        assert_true(cut > n / 4 && cut <= n);
        write_file("tag-cut.flv", b, cut);
        free(b);
        m = probe_ok("tag-cut.flv");
        check_integrity(m, "truncated", "tag-cut.flv");
        check_reason(m, "packets end at", "tag-cut.flv");
        json_decref(m);
}

static void test_not_media(void **state)
{
        char name[64];
        json_t *m;
        static const char *const others[] = { "zeros.mp4", "empty.mp4", "gps.srt",
                                              "aac-then-noise.aac" };
        static const char srt[] = "1\n00:00:00,000 --> 00:00:01,000\nN31.2304 E121.4737 35km/h\n\n"
                                  "2\n00:00:01,000 --> 00:00:02,000\nN31.2305 E121.4738 36km/h\n\n";
        uint8_t *b;
        size_t n, two = 0;

        (void)state;
        /* A GPS subtitle file as recorders write beside their videos: FFmpeg reads it,
         * but it is no recording. */
        write_file("gps.srt", srt, sizeof(srt) - 1);
        /* Two AAC frames, then noise: FFmpeg takes it for AAC only with a weak score. */
        b = read_file("tone.aac", &n);
        for (int i = 0; i < 2; i++)
                two += (size_t)(b[two + 3] & 3) << 11 | (size_t)b[two + 4] << 3 | b[two + 5] >> 5;
        b = realloc(b, two + 100000);
        assert_non_null(b);
        noise(b + two, 100000, 7);
        write_file("aac-then-noise.aac", b, two + 100000);
        free(b);

        for (unsigned i = 0; i < 8 + EVD_ARRAY_SIZE(others); i++) {
                if (i < 8)
                        assert_int_equal(evd_snprintf(name, sizeof(name), "noise%u.mp4", i), 0);
                else
                        assert_int_equal(evd_snprintf(name, sizeof(name), "%s", others[i - 8]), 0);
                m = probe_ok(name);
                check_integrity(m, "not-media", name);
                assert_true(json_is_null(json_object_get(m, "container")));
                assert_true(json_is_null(json_object_get(m, "duration_s")));
                assert_int_equal(json_array_size(json_object_get(m, "streams")), 0);
                json_decref(m);
        }
}

static void test_photo(void **state)
{
        json_t *m = probe_ok("photo.jpg"), *s;

        (void)state;
        check_integrity(m, "ok", "photo.jpg");
        assert_string_equal(str(m, "container"), "jpeg");
        assert_true(json_is_null(json_object_get(m, "duration_s")));
        assert_int_equal(json_array_size(json_object_get(m, "streams")), 1);
        s = json_array_get(json_object_get(m, "streams"), 0);
        assert_string_equal(str(s, "type"), "video");
        assert_string_equal(str(s, "codec"), "mjpeg");
        assert_int_equal(num(s, "width"), 320);
        assert_int_equal(num(s, "height"), 240);
        assert_null(json_object_get(s, "frame_rate"));
        json_decref(m);

        m = probe_ok("cut50-photo.jpg");
        check_integrity(m, "truncated", "cut50-photo.jpg");
        json_decref(m);
}

struct audio_case {
        const char *file, *cut, *container, *codec;
};

static void test_audio(void **state)
{
        const struct audio_case *c = *state;
        json_t *m = probe_ok(c->file), *s;

        check_integrity(m, "ok", c->file);
        assert_string_equal(str(m, "container"), c->container);
        check_duration(m, 2.0, 0.1);
        assert_int_equal(json_array_size(json_object_get(m, "streams")), 1);
        s = json_array_get(json_object_get(m, "streams"), 0);
        assert_string_equal(str(s, "type"), "audio");
        assert_string_equal(str(s, "codec"), c->codec);
        assert_int_equal(num(s, "sample_rate"), 48000);
        assert_int_equal(num(s, "channels"), 1);
        json_decref(m);

        m = probe_ok(c->cut);
        check_integrity(m, "truncated", c->cut);
        json_decref(m);
}

/* AMR-NB in its storage format, written here: FFmpeg has no AMR encoder. */
static void test_amr(void **state)
{
        static uint8_t b[6 + 150 * 32];
        json_t *m, *s;

        (void)state;
        memcpy(b, "#!AMR\n", 6);
        for (size_t i = 0; i < 150; i++) {
                b[6 + 32 * i] = 7 << 3 | 0x04; /* 12.2 kbit/s, good quality */
                noise(b + 6 + 32 * i + 1, 31, i);
        }
        write_file("voice.amr", b, sizeof(b));
        write_file("cut-voice.amr", b, sizeof(b) - 10);

        m = probe_ok("voice.amr");
        check_integrity(m, "ok", "voice.amr");
        assert_string_equal(str(m, "container"), "amr");
        check_duration(m, 3.0, 0.05); /* 150 frames of 20 ms */
        s = json_array_get(json_object_get(m, "streams"), 0);
        assert_string_equal(str(s, "codec"), "amr_nb");
        assert_int_equal(num(s, "sample_rate"), 8000);
        json_decref(m);

        m = probe_ok("cut-voice.amr");
        check_integrity(m, "truncated", "cut-voice.amr");
        json_decref(m);
}

/* Damage that leaves the size alone: TS packets lost, MP4 media data overwritten, an
 * MP4 whose boxes stop making sense. */
static void test_corrupt(void **state)
{
        uint8_t *b, *out;
        size_t n, off, kept = 0;
        json_t *m;

        (void)state;
        b = read_file("clip.ts", &n);
        out = malloc(n);
        assert_non_null(out);
        for (size_t i = 0; i + 188 <= n; i += 188)
                if (i / 188 < 20 || i / 188 % 7 != 3) {
                        memcpy(out + kept, b + i, 188);
                        kept += 188;
                }
        write_file("holes.ts", out, kept);
        free(out);
        free(b);
        m = probe_ok("holes.ts");
        check_integrity(m, "corrupt", "holes.ts");
        /* Many warnings: the log is capped and says how many were left out. */
        assert_int_equal(json_array_size(json_object_get(m, "log")), EVD_MEDIA_LOG_LINES);
        assert_non_null(strstr(json_string_value(json_array_get(json_object_get(m, "log"),
                                                                EVD_MEDIA_LOG_LINES - 1)),
                               "more lines not kept"));
        json_decref(m);

        /* Audio packets lost: only the demuxer's corrupt flags tell. */
        b = read_file("clip.ts", &n);
        out = malloc(n);
        assert_non_null(out);
        kept = 0;
        for (size_t i = 0, audio = 0; i + 188 <= n; i += 188) {
                unsigned pid = (unsigned)(b[i + 1] & 0x1f) << 8 | b[i + 2];

                if (pid == 0x101 && i / 188 >= 40 && ++audio % 5 == 0)
                        continue;
                memcpy(out + kept, b + i, 188);
                kept += 188;
        }
        write_file("holes-audio.ts", out, kept);
        free(out);
        free(b);
        m = probe_ok("holes-audio.ts");
        check_integrity(m, "corrupt", "holes-audio.ts");
        check_reason(m, "flagged corrupt", "holes-audio.ts");
        json_decref(m);

        b = read_file("faststart.mp4", &n);
        noise(b + n / 2, n / 4, 42);
        write_file("smashed.mp4", b, n);
        m = probe_ok("smashed.mp4");
        check_integrity(m, "corrupt", "smashed.mp4");
        json_decref(m);

        free(b);

        /* A box after moov whose size is 3: no box is that small. */
        b = read_file("faststart.mp4", &n);
        out = malloc(n + 8);
        assert_non_null(out);
        memcpy(out, b, n);
        memcpy(out + n, "\0\0\0\3free", 8);
        write_file("badbox.mp4", out, n + 8);
        free(out);
        free(b);
        m = probe_ok("badbox.mp4");
        check_integrity(m, "corrupt", "badbox.mp4");
        json_decref(m);

        /* The video track's sample table says 268 million samples of one byte. */
        b = read_file("faststart.mp4", &n);
        off = find(b, n, "stsz");
        memcpy(b + off + 12, "\0\0\0\1\x0f\xff\xff\xff", 8);
        write_file("bad-stsz.mp4", b, n);
        free(b);
        m = probe_ok("bad-stsz.mp4");
        check_integrity(m, "corrupt", "bad-stsz.mp4");
        check_reason(m, "sample table", "bad-stsz.mp4");
        json_decref(m);
}

static bool log_has(const json_t *m, const char *needle)
{
        const json_t *v;
        size_t i;

        json_array_foreach(json_object_get(m, "log"), i,
                           v) if (strstr(json_string_value(v), needle)) return true;
        return false;
}

static void test_log_captured(void **state)
{
        json_t *m = probe_ok("cut50-moov_end.mp4");

        (void)state;
        check_integrity(m, "truncated", "cut50-moov_end.mp4");
        assert_true(log_has(m, "moov atom not found"));
        json_decref(m);
}

/* Probes on several threads at once: each log holds its own file's lines only. */
struct worker {
        const char *file;
        bool want_moov_line;
        int failures;
};

static void *worker_run(void *arg)
{
        struct worker *w = arg;
        char p[512];

        path_of(w->file, p);
        for (int i = 0; i < 40; i++) {
                int fd = open(p, O_RDONLY | O_CLOEXEC);
                json_t *m = NULL;

                if (fd < 0 || evd_media_probe(fd, NULL, &m, NULL) != 0 ||
                    log_has(m, "moov atom not found") != w->want_moov_line)
                        w->failures++;
                json_decref(m);
                if (fd >= 0)
                        (void)close(fd);
        }
        return NULL;
}

static void test_threads(void **state)
{
        struct worker w[4] = {
                { "cut50-moov_end.mp4", true, 0 },
                { "faststart.mp4", false, 0 },
                { "cut50-clip.mov", true, 0 },
                { "clip.ts", false, 0 },
        };
        pthread_t t[4];
        char cap[512];
        int saved, capfd;
        struct stat sb;

        (void)state;
        path_of("stderr-threads.txt", cap);
        capfd = open(cap, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(capfd >= 0);
        saved = dup(2);
        assert_true(saved >= 0 && dup2(capfd, 2) == 2);
        for (int i = 0; i < 4; i++)
                assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
        for (int i = 0; i < 4; i++)
                assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_true(dup2(saved, 2) == 2);
        assert_int_equal(close(saved), 0);
        assert_int_equal(fstat(capfd, &sb), 0);
        assert_int_equal(close(capfd), 0);
        assert_int_equal(sb.st_size, 0);
        for (int i = 0; i < 4; i++)
                if (w[i].failures)
                        fail_msg("%s: %d of 40 probes wrong", w[i].file, w[i].failures);
}

/* A 4 GiB WAV of silence, sparse: whole, but far too long to scan in 20 ms. */
static void make_big_wav(void)
{
        uint8_t h[44] = "RIFF....WAVEfmt ";
        const uint32_t data = 0xfffffff0u - 36;
        char p[512];
        int fd;

        h[4] = 0xf0, h[5] = 0xff, h[6] = 0xff, h[7] = 0xff; /* RIFF size */
        h[16] = 16;                                         /* fmt size */
        h[20] = 1;                                          /* PCM */
        h[22] = 2;                                          /* channels */
        h[24] = 0x80, h[25] = 0xbb;                         /* 48000 Hz */
        h[28] = 0x00, h[29] = 0xee, h[30] = 0x02;           /* bytes/s 192000 */
        h[32] = 4;                                          /* block align */
        h[34] = 16;                                         /* bits */
        memcpy(h + 36, "data", 4);
        h[40] = data & 0xff, h[41] = data >> 8 & 0xff, h[42] = data >> 16 & 0xff;
        h[43] = data >> 24;
        write_file("big.wav", h, sizeof(h));
        path_of("big.wav", p);
        fd = open(p, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t)0xfffffff0u + 8), 0);
        assert_int_equal(close(fd), 0);
}

static void test_limits(void **state)
{
        struct evd_media_limits lim = { .max_ms = 20 };
        struct evd_err err = { 0 };
        json_t *m = (json_t *)&lim; /* must stay untouched on failure */
        struct timespec a, b2;
        uint8_t *b;
        size_t n, off;
        double ms;

        (void)state;
        make_big_wav();
        (void)clock_gettime(CLOCK_MONOTONIC, &a);
        assert_int_equal(probe_limits("big.wav", &lim, &m, &err), -ETIMEDOUT);
        (void)clock_gettime(CLOCK_MONOTONIC, &b2);
        ms = (double)(b2.tv_sec - a.tv_sec) * 1e3 + (double)(b2.tv_nsec - a.tv_nsec) / 1e6;
        assert_true(ms < 2000);
        assert_ptr_equal(m, &lim);
        assert_int_equal(err.code, -ETIMEDOUT);
        assert_non_null(strstr(err.text, "20 ms"));

        lim = (struct evd_media_limits){ .max_packets = 10 };
        assert_int_equal(probe_limits("big.wav", &lim, &m, &err), -E2BIG);
        assert_ptr_equal(m, &lim);
        assert_int_equal(err.code, -E2BIG);

        /* A verdict found before a limit stops FFmpeg stands. */
        lim = (struct evd_media_limits){ .max_packets = 1 };
        assert_int_equal(probe_limits("cut50-faststart.mp4", &lim, &m, &err), 0);
        check_integrity(m, "truncated", "cut50-faststart.mp4");
        json_decref(m);
        m = (json_t *)&lim;

        /* A fragment claiming 20 million samples in a few bytes: FFmpeg would build a
         * 480 MB index; the allocation cap refuses it at once. */
        b = read_file("frag.mp4", &n);
        off = find(b, n, "trun");
        memcpy(b + off + 8, "\0\0\0\1", 4);          /* flags: data offset only */
        memcpy(b + off + 12, "\x01\x31\x2d\x00", 4); /* 20000000 samples */
        write_file("huge-trun.mp4", b, n);
        free(b);
        (void)clock_gettime(CLOCK_MONOTONIC, &a);
        assert_int_equal(probe_limits("huge-trun.mp4", NULL, &m, &err), -ENOMEM);
        (void)clock_gettime(CLOCK_MONOTONIC, &b2);
        ms = (double)(b2.tv_sec - a.tv_sec) * 1e3 + (double)(b2.tv_nsec - a.tv_nsec) / 1e6;
        assert_true(ms < 1000);
        assert_ptr_equal(m, &lim);
        assert_non_null(strstr(err.text, "MiB"));

        /* Limits that are generous enough change nothing. */
        lim = (struct evd_media_limits){ .max_ms = 10000, .max_packets = 1000 };
        assert_int_equal(probe_limits("faststart.mp4", &lim, &m, &err), 0);
        check_integrity(m, "ok", "faststart.mp4");
        json_decref(m);
}

static void test_bad_fd(void **state)
{
        struct evd_err err = { 0 };
        json_t *m = (json_t *)&err;
        char p[512];
        int fd, pfd[2];

        (void)state;
        assert_int_equal(evd_media_probe(-1, NULL, &m, &err), -EBADF);
        assert_int_equal(err.code, -EBADF);

        path_of("faststart.mp4", p);
        fd = open(p, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(evd_media_probe(fd, NULL, &m, &err), -EBADF);
        assert_non_null(strstr(err.text, "not open for reading"));
        assert_int_equal(close(fd), 0);

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(evd_media_probe(fd, NULL, &m, &err), -EINVAL);
        assert_int_equal(close(fd), 0);

        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        assert_int_equal(evd_media_probe(pfd[0], NULL, &m, NULL), -EINVAL);
        assert_int_equal(close(pfd[0]), 0);
        assert_int_equal(close(pfd[1]), 0);
        assert_ptr_equal(m, &err);
}

/* The fd is read with pread only: its offset stays, and the name is never used. */
static void test_fd_only(void **state)
{
        struct evd_err err = { 0 };
        char p[512];
        json_t *m = NULL;
        int fd;

        (void)state;
        copy_file("faststart.mp4", "gone.mp4");
        path_of("gone.mp4", p);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(unlink(p), 0);
        assert_int_equal(lseek(fd, 123, SEEK_SET), 123);
        assert_int_equal(evd_media_probe(fd, NULL, &m, &err), 0);
        assert_int_equal(lseek(fd, 0, SEEK_CUR), 123);
        check_integrity(m, "ok", "gone.mp4");
        json_decref(m);
        assert_int_equal(close(fd), 0);
}

static void test_creation_time_helper(void **state)
{
        json_t *m = json_object();
        int64_t t = 7;

        (void)state;
        assert_non_null(m);
        assert_int_equal(evd_media_creation_time(m, &t), -ENOENT);
        assert_int_equal(json_object_set_new(m, "creation_time", json_null()), 0);
        assert_int_equal(evd_media_creation_time(m, &t), -ENOENT);
        assert_int_equal(json_object_set_new(m, "creation_time", json_string("yesterday")), 0);
        assert_int_equal(evd_media_creation_time(m, &t), -EINVAL);
        assert_int_equal(json_object_set_new(m, "creation_time", json_integer(5)), 0);
        assert_int_equal(evd_media_creation_time(m, &t), -EINVAL);
        assert_int_equal(t, 7);
        assert_int_equal(
                json_object_set_new(m, "creation_time", json_string("1970-01-02T00:00:00Z")), 0);
        assert_int_equal(evd_media_creation_time(m, &t), 0);
        assert_int_equal(t, 86400);
        json_decref(m);
}

int main(void)
{
        static const struct clip_case cc[] = {
                { "moov_end.mp4", "mp4", true }, { "faststart.mp4", "mp4", true },
                { "frag.mp4", "mp4", true },     { "clip.mov", "mov", true },
                { "clip.ts", "mpegts", false },  { "clip.mkv", "matroska", true },
                { "clip.avi", "avi", false },    { "clip.flv", "flv", true },
        };
        static const struct audio_case ac[] = {
                { "tone.wav", "cut99-tone.wav", "wav", "pcm_s16le" },
                { "tone.mp3", "cut50-tone.mp3", "mp3", "mp3" },
                { "tone.aac", "cut50-tone.aac", "aac", "aac" },
        };
#define CASE(name, fn, st)                                                                         \
        {                                                                                          \
                name, fn, NULL, NULL, (void *)(st)                                                 \
        }
        const struct CMUnitTest tests[] = {
                CASE("whole moov_end.mp4", test_whole_clip, &cc[0]),
                CASE("whole faststart.mp4", test_whole_clip, &cc[1]),
                CASE("whole frag.mp4", test_whole_clip, &cc[2]),
                CASE("whole clip.mov", test_whole_clip, &cc[3]),
                CASE("whole clip.ts", test_whole_clip, &cc[4]),
                CASE("cut moov_end.mp4", test_cut_clip, &cc[0]),
                CASE("cut faststart.mp4", test_cut_clip, &cc[1]),
                CASE("cut frag.mp4", test_cut_clip, &cc[2]),
                CASE("cut clip.mov", test_cut_clip, &cc[3]),
                CASE("cut clip.ts", test_cut_clip, &cc[4]),
                CASE("whole clip.mkv", test_whole_clip, &cc[5]),
                CASE("whole clip.avi", test_whole_clip, &cc[6]),
                CASE("whole clip.flv", test_whole_clip, &cc[7]),
                CASE("cut clip.mkv", test_cut_clip, &cc[5]),
                CASE("cut clip.avi", test_cut_clip, &cc[6]),
                CASE("cut clip.flv", test_cut_clip, &cc[7]),
                cmocka_unit_test(test_cut_quietly),
                cmocka_unit_test(test_not_media),
                cmocka_unit_test(test_photo),
                CASE("audio tone.wav", test_audio, &ac[0]),
                CASE("audio tone.mp3", test_audio, &ac[1]),
                CASE("audio tone.aac", test_audio, &ac[2]),
                cmocka_unit_test(test_amr),
                cmocka_unit_test(test_corrupt),
                cmocka_unit_test(test_log_captured),
                cmocka_unit_test(test_threads),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_bad_fd),
                cmocka_unit_test(test_fd_only),
                cmocka_unit_test(test_creation_time_helper),
        };

        return cmocka_run_group_tests_name("media", tests, setup, teardown);
}
