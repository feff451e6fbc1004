#include "media.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>

#include "media_internal.h"
#include "util.h"

#define MSG_MAX 512 /* one av_log call, formatted */

/* Demuxers we accept; anything else FFmpeg recognises is "not-media". Raw elementary
 * streams (h264, hevc, dts, ...) and text formats are left out: noise and subtitles
 * would pass for them. */
static const char accepted_formats[] = "mov,mp4,m4a,3gp,3g2,mj2,mpegts,mpeg,avi,matroska,webm,"
                                       "flv,wav,mp3,aac,amr,jpeg_pipe,mjpeg";

/* What FFmpeg logs when a file ends before its own structure says it should (mov:
 * "stream 1, offset 0x65b5: partial file"; matroska: "File ended prematurely"). */
static const char *const cut_phrases[] = { "partial file", "ended prematurely" };

static const char *const verdict_names[] = {
        [V_OK] = "ok",
        [V_CORRUPT] = "corrupt",
        [V_TRUNCATED] = "truncated",
        [V_NOT_MEDIA] = "not-media",
};

/* The probe running on this thread, for the process-wide log callback. */
static _Thread_local struct probe *current_probe;
static pthread_once_t ffmpeg_once = PTHREAD_ONCE_INIT;

static int64_t now_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool media_past_deadline(struct probe *p)
{
        if (!p->timed_out && now_ns() > p->deadline_ns)
                p->timed_out = true;
        return p->timed_out;
}

/* Raise a verdict; a weaker one never replaces a stronger one, and the first reason
 * given for the final verdict is kept. */
void media_judge(struct probe *p, enum verdict v, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void media_judge(struct probe *p, enum verdict v, const char *fmt, ...)
{
        va_list ap;

        if (v <= p->verdict)
                return;
        p->verdict = v;
        va_start(ap, fmt);
        /* A reason cut short is still a reason. */
        (void)vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
        va_end(ap);
}

/* ---- FFmpeg's log, captured per probe ---- */

static void log_push_line(struct probe *p)
{
        json_t *s;

        while (p->line_len > 0 && p->line[p->line_len - 1] == ' ')
                p->line_len--;
        p->line[p->line_len] = '\0';
        p->line_open = false;
        if (p->line_len == 0)
                return;
        p->line_len = 0;
        if (!p->log || json_array_size(p->log) >= EVD_MEDIA_LOG_LINES) {
                p->log_dropped++;
                return;
        }
        s = json_string(p->line);
        if (!s || json_array_append_new(p->log, s) < 0)
                p->log_oom = true;
}

static void log_put_char(struct probe *p, char c)
{
        if (c == '\n') {
                log_push_line(p);
                return;
        }
        if (c == '\r')
                return;
        if (c == '\t')
                c = ' ';
        else if (c < 0x20 || c > 0x7e)
                c = '?'; /* file names and tags from a file may hold anything */
        if (p->line_len < EVD_MEDIA_LOG_LINE_MAX)
                p->line[p->line_len++] = c;
}

static const char *log_source(void *avcl)
{
        const AVClass *avc = avcl ? *(const AVClass **)avcl : NULL;
        const char *name;

        if (!avc)
                return NULL;
        name = avc->item_name ? avc->item_name(avcl) : avc->class_name;
        /* A codec context without a codec calls itself "NULL": say what it is instead. */
        return name && strcmp(name, "NULL") != 0 ? name : avc->class_name;
}

/* The first line of msg, printable ASCII only, into out. */
static void copy_line(char *out, size_t size, const char *msg)
{
        size_t n = strcspn(msg, "\n");

        if (n >= size)
                n = size - 1;
        for (size_t i = 0; i < n; i++)
                out[i] = msg[i] >= 0x20 && msg[i] <= 0x7e ? msg[i] : '?';
        out[n] = '\0';
}

static void log_callback(void *avcl, int level, const char *fmt, va_list vl)
        __attribute__((format(printf, 3, 0)));
static void log_callback(void *avcl, int level, const char *fmt, va_list vl)
{
        struct probe *p = current_probe;
        char msg[MSG_MAX];
        va_list copy;

        /* Not ours (another thread, or no probe running): drop it, never to stderr. */
        if (!p || (level & 0xff) > AV_LOG_WARNING)
                return;
        va_copy(copy, vl);
        /* A long message is cut; its start says what happened. */
        (void)vsnprintf(msg, sizeof(msg), fmt, copy);
        va_end(copy);

        if ((level & 0xff) <= AV_LOG_ERROR && p->errors++ == 0)
                copy_line(p->first_error, sizeof(p->first_error), msg);
        for (size_t i = 0; i < EVD_ARRAY_SIZE(cut_phrases) && !p->cut_said; i++)
                if (strstr(msg, cut_phrases[i])) {
                        p->cut_said = true;
                        copy_line(p->cut_said_line, sizeof(p->cut_said_line), msg);
                }

        if (!p->line_open && msg[0] != '\0' && msg[0] != '\n') {
                const char *src = log_source(avcl);

                p->line_open = true;
                if (src) {
                        log_put_char(p, '[');
                        for (const char *c = src; *c; c++)
                                log_put_char(p, *c);
                        log_put_char(p, ']');
                        log_put_char(p, ' ');
                }
        }
        for (const char *c = msg; *c; c++)
                log_put_char(p, *c);
}

/* Process-wide FFmpeg settings, made once: the log goes to the probe on the calling
 * thread, and no single FFmpeg allocation may exceed EVD_MEDIA_MAX_ALLOC (a crafted
 * sample table otherwise makes the mov demuxer ask for gigabytes). */
static void ffmpeg_setup(void)
{
        av_log_set_callback(log_callback);
        av_max_alloc(EVD_MEDIA_MAX_ALLOC);
}

/* Close the log: the pending partial line, and a last entry counting what was left. */
static void log_finish(struct probe *p)
{
        char note[64];
        json_t *s;

        if (p->line_len > 0)
                log_push_line(p);
        if (p->log_dropped == 0 || !p->log || json_array_size(p->log) == 0)
                return;
        (void)snprintf(note, sizeof(note), "(%lu more lines not kept)", p->log_dropped + 1);
        s = json_string(note);
        if (!s || json_array_set_new(p->log, json_array_size(p->log) - 1, s) < 0)
                p->log_oom = true;
}

/* ---- reading the fd ---- */

int media_read_at(struct probe *p, int64_t off, void *buf, size_t n)
{
        ssize_t r;

        if (off < 0 || off > p->size)
                return -EINVAL;
        if ((int64_t)n > p->size - off)
                n = (size_t)(p->size - off);
        r = evd_pread_full(p->fd, buf, n, (off_t)off);
        if (r < 0 && p->io_error == 0)
                p->io_error = (int)r;
        return (int)r;
}

static int io_read(void *opaque, uint8_t *buf, int n)
{
        struct probe *p = opaque;
        int r;

        if (media_past_deadline(p))
                return AVERROR_EXIT;
        if (n <= 0)
                return 0;
        if (p->pos >= p->size)
                return AVERROR_EOF;
        r = media_read_at(p, p->pos, buf, (size_t)n);
        if (r < 0)
                return AVERROR(-r);
        if (r == 0)
                return AVERROR_EOF; /* the file shrank under us */
        p->pos += r;
        return r;
}

static int64_t io_seek(void *opaque, int64_t off, int whence)
{
        struct probe *p = opaque;
        int64_t base;

        if (media_past_deadline(p))
                return AVERROR_EXIT;
        whence &= ~AVSEEK_FORCE;
        switch (whence) {
        case AVSEEK_SIZE:
                return p->size;
        case SEEK_SET:
                base = 0;
                break;
        case SEEK_CUR:
                base = p->pos;
                break;
        case SEEK_END:
                base = p->size;
                break;
        default:
                return AVERROR(EINVAL);
        }
        if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
                return AVERROR(EINVAL);
        p->pos = base + off;
        return p->pos;
}

static int interrupt_cb(void *opaque)
{
        return media_past_deadline(opaque);
}

/* Nothing is opened by name: a container cannot send us to another file. */
static int refuse_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                          AVDictionary **options)
{
        (void)s;
        (void)pb;
        (void)url;
        (void)flags;
        (void)options;
        return AVERROR(EPERM);
}

/* ---- structure, checked on the raw bytes ---- */

static const char *bmff_name(const char *brand)
{
        if (brand[0] == '\0' || strcmp(brand, "qt  ") == 0)
                return "mov";
        if (strncmp(brand, "3gp", 3) == 0 || strncmp(brand, "3g2", 3) == 0)
                return "3gp";
        if (strcmp(brand, "M4A ") == 0 || strcmp(brand, "M4B ") == 0)
                return "m4a";
        if (strcmp(brand, "mjp2") == 0)
                return "mj2";
        return "mp4";
}

static const char *container_name(const struct probe *p, const AVFormatContext *fmt)
{
        static const struct {
                const char *ff, *ours;
        } names[] = {
                { "mpegts", "mpegts" }, { "mpeg", "mpegps" },
                { "avi", "avi" },       { "matroska,webm", "matroska" },
                { "flv", "flv" },       { "wav", "wav" },
                { "mp3", "mp3" },       { "aac", "aac" },
                { "amr", "amr" },       { "jpeg_pipe", "jpeg" },
                { "mjpeg", "jpeg" },
        };

        if (!fmt)
                return p->kind == K_BMFF ? bmff_name(p->brand) : NULL;
        if (strncmp(fmt->iformat->name, "mov,", 4) == 0)
                return bmff_name(p->kind == K_BMFF ? p->brand : "");
        for (size_t i = 0; i < EVD_ARRAY_SIZE(names); i++)
                if (strcmp(fmt->iformat->name, names[i].ff) == 0)
                        return names[i].ours;
        return NULL; /* not reached: the whitelist admits only the names above */
}

/* ---- the result ---- */

static int set(json_t *o, const char *key, json_t *v)
{
        /* json_object_set_new takes v, also on failure, and fails on v == NULL. */
        return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

/* A number rounded to 3 decimals, or null when it is not a sane one. */
static json_t *rounded(double s)
{
        if (!isfinite(s) || s < 0 || s > 1e12)
                return json_null();
        return json_real(round(s * 1000) / 1000);
}

static json_t *stream_json(const AVStream *st, bool photo)
{
        const AVCodecParameters *par = st->codecpar;
        const char *type = av_get_media_type_string(par->codec_type);
        json_t *o = json_object();
        int r = 0;

        if (!o)
                return NULL;
        r |= set(o, "index", json_integer(st->index));
        r |= set(o, "type", json_string(type ? type : "unknown"));
        r |= set(o, "codec", json_string(avcodec_get_name(par->codec_id)));
        if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
                AVRational q = st->avg_frame_rate;

                if (par->width > 0 && par->height > 0) {
                        r |= set(o, "width", json_integer(par->width));
                        r |= set(o, "height", json_integer(par->height));
                }
                if (q.num <= 0 || q.den <= 0)
                        q = st->r_frame_rate;
                if (!photo && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC) && q.num > 0 &&
                    q.den > 0)
                        r |= set(o, "frame_rate", rounded(av_q2d(q)));
        } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
                if (par->sample_rate > 0)
                        r |= set(o, "sample_rate", json_integer(par->sample_rate));
                if (par->ch_layout.nb_channels > 0)
                        r |= set(o, "channels", json_integer(par->ch_layout.nb_channels));
        }
        if (r) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *creation_time_json(const AVFormatContext *fmt)
{
        const AVDictionaryEntry *e;
        char out[EVD_TIME_STR];
        int64_t t;

        if (!fmt)
                return json_null();
        e = av_dict_get(fmt->metadata, "creation_time", NULL, 0);
        if (!e || evd_time_parse(e->value, &t) < 0)
                return json_null();
        evd_time_format(t, out);
        return json_string(out);
}

static int build_result(struct probe *p, const AVFormatContext *fmt, double duration, json_t **ret)
{
        const char *container = container_name(p, fmt);
        bool photo = container && strcmp(container, "jpeg") == 0;
        json_t *o = json_object(), *streams = json_array();
        int r = 0;

        if (!o || !streams) {
                json_decref(o);
                json_decref(streams);
                return -ENOMEM;
        }
        if (photo)
                duration = NAN; /* FFmpeg gives a still picture one frame at 25 fps */
        if (fmt && p->verdict != V_NOT_MEDIA) {
                for (unsigned i = 0; i < fmt->nb_streams && i < EVD_MEDIA_MAX_STREAMS; i++)
                        if (json_array_append_new(streams, stream_json(fmt->streams[i], photo)))
                                r = -ENOMEM;
        }
        r |= set(o, "container",
                 container && p->verdict != V_NOT_MEDIA ? json_string(container) : json_null());
        r |= set(o, "duration_s", rounded(duration));
        r |= set(o, "streams", streams);
        r |= set(o, "creation_time",
                 p->verdict != V_NOT_MEDIA ? creation_time_json(fmt) : json_null());
        r |= set(o, "integrity", json_string(verdict_names[p->verdict]));
        r |= set(o, "integrity_reason", p->verdict == V_OK ? json_null() : json_string(p->reason));
        r |= set(o, "log", json_incref(p->log));
        if (r || p->log_oom) {
                json_decref(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

/* ---- the probe ---- */

/* An FFmpeg failure that says nothing about the file: our limits, our reads, memory. */
static int ff_failure(struct probe *p, int averr)
{
        if (p->timed_out)
                return -ETIMEDOUT;
        if (p->io_error)
                return p->io_error;
        if (averr == AVERROR(ENOMEM))
                return -ENOMEM;
        return 0;
}

/* Read every packet; judge from flags, the log, and where the packets end. */
static int scan_packets(struct probe *p, AVFormatContext *fmt, unsigned long max_packets,
                        double *ret_end)
{
        AVPacket *pkt = av_packet_alloc();
        double start =
                fmt->start_time != AV_NOPTS_VALUE ? fmt->start_time / (double)AV_TIME_BASE : 0;
        double end = -INFINITY;
        unsigned long n = 0, corrupt = 0, corrupt_tail = 0;
        int rc;

        if (!pkt)
                return -ENOMEM;
        for (;;) {
                if (media_past_deadline(p)) {
                        rc = AVERROR_EXIT;
                        break;
                }
                if (n >= max_packets) {
                        av_packet_free(&pkt);
                        return -E2BIG;
                }
                rc = av_read_frame(fmt, pkt);
                if (rc == AVERROR(EAGAIN)) {
                        n++;
                        continue;
                }
                if (rc < 0)
                        break;
                n++;
                if (pkt->flags & AV_PKT_FLAG_CORRUPT) {
                        corrupt++;
                        corrupt_tail++;
                } else {
                        corrupt_tail = 0;
                }
                if (pkt->stream_index >= 0 && (unsigned)pkt->stream_index < fmt->nb_streams) {
                        AVRational tb = fmt->streams[pkt->stream_index]->time_base;
                        int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;

                        /* In double: crafted time stamps must not overflow. */
                        if (ts != AV_NOPTS_VALUE && tb.num > 0 && tb.den > 0) {
                                double e = ((double)ts +
                                            (double)(pkt->duration > 0 ? pkt->duration : 0)) *
                                                   av_q2d(tb) -
                                           start;
                                if (e > end)
                                        end = e;
                        }
                }
                av_packet_unref(pkt);
        }
        av_packet_free(&pkt);

        if (rc != AVERROR_EOF) {
                int e = ff_failure(p, rc);
                char text[AV_ERROR_MAX_STRING_SIZE];

                if (e < 0)
                        return e;
                (void)av_strerror(rc, text, sizeof(text));
                media_judge(p, V_CORRUPT, "demuxing stopped after %lu packets: %s", n, text);
        }
        if (p->cut_said)
                media_judge(p, V_TRUNCATED, "FFmpeg says the file ends early: %s",
                            p->cut_said_line);
        if (n == 0)
                media_judge(p, V_CORRUPT, "no packets could be read");
        /* Demuxers flag the packets they could not read whole; when those are the last
         * ones (at most one per stream) and nothing else was wrong, the file was cut. */
        if (corrupt > 0 && corrupt == corrupt_tail && corrupt <= fmt->nb_streams &&
            rc == AVERROR_EOF)
                media_judge(p, V_TRUNCATED, "the last packet is cut short");
        else if (corrupt > 0)
                media_judge(p, V_CORRUPT, "%lu of %lu packets flagged corrupt", corrupt, n);
        *ret_end = end;
        return 0;
}

/* Open, identify and scan; fills p's verdict and *ret_fmt (NULL when FFmpeg could not
 * open the file). */
static int run_ffmpeg(struct probe *p, const struct evd_media_limits *lim, AVIOContext *pb,
                      AVFormatContext **ret_fmt, double *ret_duration)
{
        AVFormatContext *fmt = avformat_alloc_context();
        AVDictionary *opts = NULL;
        double end = -INFINITY, duration = NAN;
        int rc, e;

        if (!fmt)
                return -ENOMEM;
        fmt->pb = pb;
        /* No container signature found by the structure check: FFmpeg gets a short look
         * only. Trying every demuxer on growing buffers of noise is the costliest thing a
         * probe does (40 ms for 1 MiB of random bytes, 2.6 ms with 64 KiB), and the formats left
         * (MP3, AAC, AMR, MPEG-PS, Matroska, FLV) show themselves in their first bytes. */
        fmt->probesize = lim->probesize;
        if (p->kind == K_UNKNOWN && !p->id3)
                fmt->format_probesize = EVD_MEDIA_UNKNOWN_PROBESIZE;
        fmt->max_analyze_duration = lim->analyze_us;
        fmt->interrupt_callback.callback = interrupt_cb;
        fmt->interrupt_callback.opaque = p;
        fmt->io_open = refuse_io_open;
        if (av_dict_set(&opts, "format_whitelist", accepted_formats, 0) < 0) {
                avformat_free_context(fmt);
                return -ENOMEM;
        }
        rc = avformat_open_input(&fmt, "", NULL, &opts); /* frees fmt on failure */
        av_dict_free(&opts);
        if (rc < 0) {
                char text[AV_ERROR_MAX_STRING_SIZE];

                e = ff_failure(p, rc);
                if (e < 0)
                        return e;
                (void)av_strerror(rc, text, sizeof(text));
                if (p->kind == K_UNKNOWN)
                        media_judge(p, V_NOT_MEDIA, "no known media format (%s)", text);
                else
                        media_judge(p, V_CORRUPT, "FFmpeg cannot open it: %s",
                                    p->errors ? p->first_error : text);
                *ret_fmt = NULL;
                *ret_duration = NAN;
                return 0;
        }
        *ret_fmt = fmt;
        *ret_duration = NAN;
        if (fmt->probe_score <= AVPROBE_SCORE_RETRY) {
                media_judge(p, V_NOT_MEDIA, "only a weak guess at a format (%s, score %d)",
                            fmt->iformat->name, fmt->probe_score);
                return 0;
        }

        rc = media_check_frames(p, fmt->iformat->name);
        if (rc < 0)
                return rc;

        rc = avformat_find_stream_info(fmt, NULL);
        if (rc < 0) {
                e = ff_failure(p, rc);
                if (e < 0)
                        return e;
        }
        if (fmt->nb_streams == 0) {
                media_judge(p, p->kind == K_UNKNOWN ? V_NOT_MEDIA : V_CORRUPT, "no streams");
                return 0;
        }

        rc = scan_packets(p, fmt, lim->max_packets, &end);
        if (rc < 0)
                return rc;

        if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
                duration = fmt->duration / (double)AV_TIME_BASE;
        if (fmt->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE) {
                duration = end > 0 ? end : NAN; /* a guess; what we read is better */
        } else if (isfinite(duration) && isfinite(end) && end < duration - 0.5 - duration / 100) {
                media_judge(p, V_TRUNCATED, "packets end at %.2f s of the %.2f s declared", end,
                            duration);
        }
        if (p->errors > 0)
                media_judge(p, V_CORRUPT, "FFmpeg reported %lu errors, first: %s", p->errors,
                            p->first_error);
        *ret_duration = duration;
        return 0;
}

static void limits_fill(struct evd_media_limits *out, const struct evd_media_limits *in)
{
        *out = in ? *in : (struct evd_media_limits){ 0 };
        if (out->max_ms == 0)
                out->max_ms = EVD_MEDIA_DEFAULT_MS;
        if (out->probesize <= 0)
                out->probesize = EVD_MEDIA_DEFAULT_PROBESIZE;
        if (out->analyze_us <= 0)
                out->analyze_us = EVD_MEDIA_DEFAULT_ANALYZE_US;
        if (out->max_packets == 0)
                out->max_packets = EVD_MEDIA_DEFAULT_PACKETS;
}

static int probe_error(struct probe *p, int rc, struct evd_err *err)
{
        switch (rc) {
        case -ETIMEDOUT:
                return evd_err_set(err, rc, "media probe took longer than %u ms", p->max_ms);
        case -E2BIG:
                return evd_err_set(err, rc, "media probe stopped: more packets than the limit");
        case -ENOMEM:
                return evd_err_set(err, rc,
                                   "media probe: out of memory (FFmpeg may ask for at most %d "
                                   "MiB at once)",
                                   EVD_MEDIA_MAX_ALLOC >> 20);
        default:
                return evd_err_set(err, rc, "media probe: reading the file failed: %s",
                                   strerror(-rc));
        }
}

int evd_media_probe(int fd, const struct evd_media_limits *limits, json_t **ret_media,
                    struct evd_err *err)
{
        struct evd_media_limits lim;
        struct probe *p, *outer;
        AVFormatContext *fmt = NULL;
        AVIOContext *pb = NULL;
        unsigned char *buf;
        double duration = NAN;
        struct stat sb;
        int fl, rc;

        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY)
                return evd_err_set(err, -EBADF, "media probe: fd is not open for reading");
        if (fstat(fd, &sb) < 0)
                return evd_err_set(err, -errno, "media probe: fstat: %s", strerror(errno));
        if (!S_ISREG(sb.st_mode))
                return evd_err_set(err, -EINVAL, "media probe: not a regular file");
        limits_fill(&lim, limits);
        (void)pthread_once(&ffmpeg_once, ffmpeg_setup);

        p = calloc(1, sizeof(*p));
        if (!p)
                return evd_err_set(err, -ENOMEM, "media probe: out of memory");
        p->fd = fd;
        p->size = sb.st_size;
        p->max_ms = lim.max_ms;
        p->deadline_ns = now_ns() + (int64_t)lim.max_ms * 1000000;
        p->verdict = V_OK;
        p->log = json_array();
        if (!p->log) {
                free(p);
                return evd_err_set(err, -ENOMEM, "media probe: out of memory");
        }
        outer = current_probe;
        current_probe = p;

        if (p->size == 0) {
                media_judge(p, V_NOT_MEDIA, "empty file");
                goto result;
        }
        rc = media_check_structure(p);
        if (rc < 0)
                goto fail;

        buf = av_malloc(IO_BUF_SIZE);
        pb = buf ? avio_alloc_context(buf, IO_BUF_SIZE, 0, p, io_read, NULL, io_seek) : NULL;
        if (!pb) {
                av_free(buf);
                rc = -ENOMEM;
                goto fail;
        }
        rc = run_ffmpeg(p, &lim, pb, &fmt, &duration);
        if ((rc == -ETIMEDOUT || rc == -E2BIG || rc == -ENOMEM) && p->verdict != V_OK) {
                /* A limit cut FFmpeg short, but the file is already known not to be
                 * whole: that verdict stands. */
                duration = NAN;
                rc = 0;
        }
        if (rc < 0)
                goto fail;
result:
        log_finish(p);
        rc = build_result(p, fmt, duration, ret_media);
        if (rc < 0)
                goto fail;
        goto done;
fail:
        (void)probe_error(p, rc, err);
done:
        current_probe = outer;
        avformat_close_input(&fmt);
        if (pb) {
                av_freep(&pb->buffer); /* FFmpeg may have replaced ours */
                avio_context_free(&pb);
        }
        json_decref(p->log);
        free(p);
        return rc;
}
