/* media_structure: a recording's container walked by its own structure (ISO BMFF boxes,
 * MPEG-TS packets, RIFF chunks, JPEG markers, raw audio frames), without FFmpeg, so that
 * a file cut short or damaged is told apart from a whole one (found in testing: FFmpeg alone
 * does not say "truncated" reliably). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "media_internal.h"
#include "util.h"

/* A window on the file for the structure walks, refilled on demand. */
static const uint8_t *peek(struct probe *p, int64_t off, size_t n)
{
        int r;

        if (n > sizeof(p->win) || off < 0 || off > p->size || (int64_t)n > p->size - off)
                return NULL;
        if (off >= p->win_off && off + (int64_t)n <= p->win_off + (int64_t)p->win_len)
                return p->win + (off - p->win_off);
        r = media_read_at(p, off, p->win, sizeof(p->win));
        if (r < (int)n)
                return NULL; /* a read error is in p->io_error */
        p->win_off = off;
        p->win_len = (size_t)r;
        return p->win;
}

static uint32_t be32(const uint8_t *b)
{
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t be64(const uint8_t *b)
{
        return (uint64_t)be32(b) << 32 | be32(b + 4);
}

static uint32_t le32(const uint8_t *b)
{
        return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

static bool printable4(const uint8_t *t)
{
        for (int i = 0; i < 4; i++)
                if (t[i] < 0x20 || t[i] > 0x7e)
                        return false;
        return true;
}

static bool is_first_box(const uint8_t *t)
{
        static const char *const types[] = { "ftyp", "moov", "mdat", "free",
                                             "skip", "wide", "pnot", "styp" };

        for (size_t i = 0; i < EVD_ARRAY_SIZE(types); i++)
                if (memcmp(t, types[i], 4) == 0)
                        return true;
        return false;
}

static bool ts_sync_at(const uint8_t *b, size_t n, size_t first, size_t step)
{
        for (size_t i = 0; i < 3; i++) {
                size_t at = first + i * step;

                if (at >= n)
                        return i > 0;
                if (b[at] != 0x47)
                        return false;
        }
        return true;
}

/* Guess the kind from the first bytes; returns the TS packet size through *ts_size. */
static enum kind sniff(struct probe *p, unsigned *ts_size, unsigned *ts_sync)
{
        uint8_t b[400];
        int n = media_read_at(p, 0, b, sizeof(b));

        if (n < 0)
                return K_UNKNOWN;
        /* An ID3v2 tag (MP3 cover art) can be larger than the short first look below. */
        p->id3 = n >= 3 && memcmp(b, "ID3", 3) == 0;
        if (n >= 8 && is_first_box(b + 4) && (be32(b) == 0 || be32(b) == 1 || be32(b) >= 8)) {
                if (memcmp(b + 4, "ftyp", 4) == 0 && n >= 12 && printable4(b + 8)) {
                        memcpy(p->brand, b + 8, 4);
                        p->brand[4] = '\0';
                }
                return K_BMFF;
        }
        if (n >= 12 && memcmp(b, "RIFF", 4) == 0)
                return K_RIFF;
        if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
                return K_JPEG;
        if (n >= 189 && ts_sync_at(b, (size_t)n, 0, 188)) {
                *ts_size = 188;
                *ts_sync = 0;
                return K_TS;
        }
        if (n >= 197 && ts_sync_at(b, (size_t)n, 4, 192)) {
                *ts_size = 192; /* M2TS: a 4-byte time code before each packet */
                *ts_sync = 4;
                return K_TS;
        }
        return K_UNKNOWN;
}

/* The first box of type among the boxes in [off, end); sets the bounds of its payload.
 * -ENOENT when there is none or the boxes stop making sense there. */
static int find_box(struct probe *p, int64_t off, int64_t end, const char *type, int64_t *ret_off,
                    int64_t *ret_end)
{
        for (unsigned n = 0; end - off >= 8 && n < 4096; n++) {
                const uint8_t *h = peek(p, off, 8);
                uint64_t sz, hl = 8;

                if (!h)
                        return p->io_error ? p->io_error : -EIO;
                sz = be32(h);
                if (sz == 1) {
                        h = end - off >= 16 ? peek(p, off, 16) : NULL;
                        if (!h)
                                return p->io_error ? p->io_error : -ENOENT;
                        sz = be64(h + 8);
                        hl = 16;
                } else if (sz == 0) {
                        sz = (uint64_t)(end - off);
                }
                if (sz < hl || sz > (uint64_t)(end - off))
                        return -ENOENT;
                if (memcmp(h + 4, type, 4) == 0) {
                        *ret_off = off + (int64_t)hl;
                        *ret_end = off + (int64_t)sz;
                        return 0;
                }
                off += (int64_t)sz;
        }
        return -ENOENT;
}

/* Each track's sample size table (stsz) must describe no more media than the file holds:
 * FFmpeg trusts it, and a damaged one reads as a recording of one-byte frames. */
static int check_tracks(struct probe *p, int64_t moov, int64_t moov_end)
{
        static const char *const path[] = { "mdia", "minf", "stbl", "stsz" };
        int64_t trak, trak_end;
        unsigned track = 0;
        int r;

        while ((r = find_box(p, moov, moov_end, "trak", &trak, &trak_end)) == 0) {
                int64_t off = trak, end = trak_end;
                const uint8_t *h;
                uint32_t size, count;

                moov = trak_end;
                track++;
                for (size_t i = 0; i < EVD_ARRAY_SIZE(path) && r == 0; i++)
                        r = find_box(p, off, end, path[i], &off, &end);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                h = end - off >= 12 ? peek(p, off, 12) : NULL;
                if (!h) {
                        if (p->io_error)
                                return p->io_error;
                        continue;
                }
                size = be32(h + 4);
                count = be32(h + 8);
                if (size != 0 && (uint64_t)size * count > (uint64_t)p->size) {
                        media_judge(
                                p, V_CORRUPT,
                                "track %u: its sample table needs %llu bytes, the file has %lld",
                                track, (unsigned long long)size * count, (long long)p->size);
                        return 0;
                }
                if (size == 0 && (uint64_t)count * 4 > (uint64_t)(end - off - 12)) {
                        media_judge(p, V_CORRUPT, "track %u: its sample size table is cut short",
                                    track);
                        return 0;
                }
        }
        return r == -ENOENT ? 0 : r;
}

/* ISO BMFF / QuickTime: walk the top-level boxes against the file size. */
static int check_bmff(struct probe *p)
{
        bool moov = false, mdat = false;
        int64_t off = 0;
        unsigned long boxes = 0;

        while (off < p->size) {
                int64_t rem = p->size - off;
                const uint8_t *h;
                uint64_t sz, hl = 8;
                char type[5];

                if (++boxes > WALK_MAX)
                        return 0; /* too many to judge: no verdict from structure */
                if ((boxes & 1023) == 0 && media_past_deadline(p))
                        return -ETIMEDOUT;
                if (rem < 8) {
                        media_judge(p, V_TRUNCATED, "%lld stray bytes after the last box",
                                    (long long)rem);
                        return 0;
                }
                h = peek(p, off, 8);
                if (!h)
                        return p->io_error ? p->io_error : -EIO;
                if (!printable4(h + 4)) {
                        media_judge(p, V_CORRUPT, "no valid box at offset %lld", (long long)off);
                        return 0;
                }
                memcpy(type, h + 4, 4);
                type[4] = '\0';
                sz = be32(h);
                if (sz == 1) {
                        h = peek(p, off, 16);
                        if (!h) {
                                if (p->io_error)
                                        return p->io_error;
                                media_judge(p, V_TRUNCATED, "box '%s' at offset %lld is cut short",
                                            type, (long long)off);
                                return 0;
                        }
                        sz = be64(h + 8);
                        hl = 16;
                } else if (sz == 0) {
                        sz = (uint64_t)rem; /* runs to the end of the file */
                }
                if (sz < hl) {
                        media_judge(p, V_CORRUPT,
                                    "box '%s' at offset %lld has impossible size %llu", type,
                                    (long long)off, (unsigned long long)sz);
                        return 0;
                }
                if (strcmp(type, "moov") == 0)
                        moov = true;
                else if (strcmp(type, "mdat") == 0)
                        mdat = true;
                if (sz > (uint64_t)rem) {
                        media_judge(p, V_TRUNCATED,
                                    "box '%s' at offset %lld needs %llu bytes, the file ends after "
                                    "%lld",
                                    type, (long long)off, (unsigned long long)sz, (long long)rem);
                        return 0;
                }
                if (strcmp(type, "moov") == 0) {
                        int r = check_tracks(p, off + (int64_t)hl, off + (int64_t)sz);

                        if (r < 0)
                                return r;
                }
                off += (int64_t)sz;
        }
        if (mdat && !moov)
                media_judge(p, V_TRUNCATED, "media data without a moov box (index never written)");
        return 0;
}

/* MPEG-TS: whole packets only, and sync bytes where the last ones should be. */
static int check_ts(struct probe *p, unsigned pkt, unsigned sync)
{
        int64_t whole = p->size / pkt;

        if (p->size % pkt != 0) {
                media_judge(p, V_TRUNCATED, "size %lld is not a multiple of the %u-byte TS packet",
                            (long long)p->size, pkt);
                return 0;
        }
        for (int64_t i = whole > TS_TAIL_PACKETS ? whole - TS_TAIL_PACKETS : 0; i < whole; i++) {
                int64_t at = i * pkt + sync;
                const uint8_t *c = peek(p, at, 1);

                if (!c)
                        return p->io_error ? p->io_error : -EIO;
                if (*c != 0x47) {
                        media_judge(p, V_CORRUPT, "TS sync byte missing at offset %lld",
                                    (long long)at);
                        return 0;
                }
        }
        return 0;
}

/* WAV, AVI: the RIFF header says how long the file is. 0 and ~0 mean "not known". */
static int check_riff(struct probe *p)
{
        const uint8_t *h = peek(p, 0, 8);
        uint32_t sz;

        if (!h)
                return p->io_error ? p->io_error : -EIO;
        sz = le32(h + 4);
        if (sz != 0 && sz != UINT32_MAX && (int64_t)sz + 8 > p->size)
                media_judge(p, V_TRUNCATED, "RIFF header says %lld bytes, the file has %lld",
                            (long long)sz + 8, (long long)p->size);
        return 0;
}

/* JPEG: the end-of-image marker must be near the end (entropy-coded data never holds
 * FF D9, so a cut file lacks it there). */
static int check_jpeg(struct probe *p)
{
        int64_t off = p->size > JPEG_TAIL ? p->size - JPEG_TAIL : 0;
        size_t n = (size_t)(p->size - off);
        const uint8_t *b = peek(p, off, n);

        if (!b)
                return p->io_error ? p->io_error : -EIO;
        for (size_t i = n - 1; i-- > 0;)
                if (b[i] == 0xff && b[i + 1] == 0xd9)
                        return 0;
        media_judge(p, V_TRUNCATED, "no JPEG end-of-image marker");
        return 0;
}

int media_check_structure(struct probe *p)
{
        unsigned ts_size = 0, ts_sync = 0;

        p->kind = sniff(p, &ts_size, &ts_sync);
        switch (p->kind) {
        case K_BMFF:
                return check_bmff(p);
        case K_TS:
                return check_ts(p, ts_size, ts_sync);
        case K_RIFF:
                return check_riff(p);
        case K_JPEG:
                return check_jpeg(p);
        case K_UNKNOWN:
                break;
        }
        return p->io_error;
}

/* How to walk a stream of self-delimiting audio frames: header length, and the size of
 * the frame whose header starts at b (0 when b does not start a frame). */
struct framing {
        const char *name;
        size_t hdr;
        size_t (*size_of)(const uint8_t *b);
};

/* MPEG audio (MP2, MP3): length from the header's version, layer, bit rate, sample rate
 * and padding (ISO/IEC 11172-3 and 13818-3). Free-format frames (bit rate 0) are not
 * walked. */
static size_t mpa_frame_size(const uint8_t *b)
{
        static const uint16_t kbps[5][15] = {
                { 0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448 },
                { 0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384 },
                { 0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320 },
                { 0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256 },
                { 0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160 },
        };
        static const uint32_t rates[3] = { 44100, 48000, 32000 };
        unsigned ver = (b[1] >> 3) & 3, layer = (b[1] >> 1) & 3, bri = b[2] >> 4;
        unsigned sri = (b[2] >> 2) & 3, pad = (b[2] >> 1) & 1;
        bool mpeg1 = ver == 3;
        uint32_t rate, br;

        if (b[0] != 0xff || (b[1] & 0xe0) != 0xe0 || ver == 1 || layer == 0 || bri == 0 ||
            bri == 15 || sri == 3)
                return 0;
        rate = rates[sri] >> (mpeg1 ? 0 : ver == 2 ? 1 : 2);
        if (layer == 3) { /* layer I */
                br = kbps[mpeg1 ? 0 : 3][bri] * 1000u;
                return (12 * br / rate + pad) * 4;
        }
        br = kbps[mpeg1 ? (layer == 2 ? 1 : 2) : 4][bri] * 1000u;
        if (layer == 1 && !mpeg1) /* layer III, MPEG-2 and 2.5: half the samples */
                return 72 * br / rate + pad;
        return 144 * br / rate + pad;
}

/* AAC in ADTS: a 13-bit frame length in every header. */
static size_t adts_frame_size(const uint8_t *b)
{
        size_t len;

        if (b[0] != 0xff || (b[1] & 0xf6) != 0xf0)
                return 0;
        len = (size_t)(b[3] & 3) << 11 | (size_t)b[4] << 3 | b[5] >> 5;
        return len >= 7 ? len : 0;
}

/* AMR (RFC 4867 storage format): a table of frame sizes by frame type. */
static size_t amr_frame_size(const uint8_t *b, bool wb)
{
        static const uint8_t nb_sizes[16] = {
                12, 13, 15, 17, 19, 20, 26, 31, 5, 0, 0, 0, 0, 0, 0, 0
        };
        static const uint8_t wb_sizes[16] = { 17, 23, 32, 36, 40, 46, 50, 58,
                                              60, 5,  0,  0,  0,  0,  0,  0 };
        unsigned ft = (b[0] >> 3) & 15;

        if (b[0] & 0x83) /* padding bits must be zero */
                return 0;
        if (wb ? (ft >= 10 && ft <= 13) : (ft >= 9 && ft <= 14))
                return 0; /* reserved */
        return 1 + (wb ? wb_sizes : nb_sizes)[ft];
}

static size_t amr_nb_frame_size(const uint8_t *b)
{
        return amr_frame_size(b, false);
}

static size_t amr_wb_frame_size(const uint8_t *b)
{
        return amr_frame_size(b, true);
}

static const struct framing mpa_framing = { "MPEG audio", 4, mpa_frame_size };
static const struct framing adts_framing = { "ADTS", 7, adts_frame_size };
static const struct framing amr_nb_framing = { "AMR", 1, amr_nb_frame_size };
static const struct framing amr_wb_framing = { "AMR-WB", 1, amr_wb_frame_size };

/* Walk frames from off to end: a frame running past end means the file was cut. Anything
 * that is not a frame header (tags, junk) ends the walk without a verdict. */
static int walk_frames(struct probe *p, int64_t off, int64_t end, const struct framing *f)
{
        unsigned long frames = 0;

        while (off < end) {
                const uint8_t *h;
                size_t len;

                if (++frames > WALK_MAX)
                        return 0;
                if ((frames & 4095) == 0 && media_past_deadline(p))
                        return -ETIMEDOUT;
                h = peek(p, off, end - off < (int64_t)f->hdr ? 1 : f->hdr);
                if (!h)
                        return p->io_error ? p->io_error : -EIO;
                if (end - off < (int64_t)f->hdr) {
                        /* Too short for a header: a cut one if it starts like one. */
                        if (*h == 0xff)
                                media_judge(p, V_TRUNCATED,
                                            "%s frame header at offset %lld is cut short", f->name,
                                            (long long)off);
                        return 0;
                }
                len = f->size_of(h);
                if (len == 0)
                        return 0;
                if ((int64_t)len > end - off) {
                        media_judge(
                                p, V_TRUNCATED,
                                "%s frame at offset %lld needs %zu bytes, the file ends after %lld",
                                f->name, (long long)off, len, (long long)(end - off));
                        return 0;
                }
                off += (int64_t)len;
        }
        return 0;
}

/* Skip an ID3v2 tag at off; returns the offset after it (off when there is none). */
static int64_t skip_id3v2(struct probe *p, int64_t off)
{
        const uint8_t *h = peek(p, off, 10);
        int64_t len;

        if (!h || memcmp(h, "ID3", 3) != 0 || ((h[6] | h[7] | h[8] | h[9]) & 0x80))
                return off;
        len = 10 + ((int64_t)h[6] << 21 | h[7] << 14 | h[8] << 7 | h[9]);
        if (h[5] & 0x10)
                len += 10; /* footer */
        return off + len;
}

/* Audio made of frames, once FFmpeg has named the format. */
int media_check_frames(struct probe *p, const char *format)
{
        int64_t end = p->size;
        const uint8_t *t;

        if (strcmp(format, "amr") == 0) {
                t = peek(p, 0, 9);
                if (t && memcmp(t, "#!AMR-WB\n", 9) == 0)
                        return walk_frames(p, 9, end, &amr_wb_framing);
                t = peek(p, 0, 6);
                if (t && memcmp(t, "#!AMR\n", 6) == 0)
                        return walk_frames(p, 6, end, &amr_nb_framing);
                return p->io_error;
        }
        if (strcmp(format, "mp3") != 0 && strcmp(format, "aac") != 0)
                return 0;
        /* An ID3v1 tag takes the last 128 bytes. */
        t = p->size >= 128 ? peek(p, p->size - 128, 3) : NULL;
        if (t && memcmp(t, "TAG", 3) == 0)
                end -= 128;
        if (strcmp(format, "mp3") == 0)
                return walk_frames(p, skip_id3v2(p, 0), end, &mpa_framing);
        return walk_frames(p, skip_id3v2(p, 0), end, &adts_framing);
}

/* ---- naming ---- */
