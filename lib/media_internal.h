/* media_internal: what the media probe's two halves share: media.c (FFmpeg reads the
 * recording) and media_structure.c (the container's own structure, walked without
 * FFmpeg, to tell a cut-off recording from a whole one). For those two files only. */
#ifndef EVD_MEDIA_INTERNAL_H
#define EVD_MEDIA_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media.h"

#define IO_BUF_SIZE (64 * 1024)
#define REASON_MAX 256     /* integrity_reason */
#define WALK_MAX 10000000  /* boxes or frames walked; past it, no structural verdict */
#define TS_TAIL_PACKETS 16 /* TS packets whose sync byte is checked at the end */
#define JPEG_TAIL 4096     /* bytes searched for the end-of-image marker */

enum verdict { V_OK, V_CORRUPT, V_TRUNCATED, V_NOT_MEDIA };

/* What the first bytes say the file is, before FFmpeg has a look. */
enum kind { K_UNKNOWN, K_BMFF, K_TS, K_RIFF, K_JPEG };

struct probe {
        int64_t size;
        int64_t pos; /* of the AVIOContext */
        int64_t deadline_ns;
        int fd;
        unsigned max_ms;
        int io_error; /* -errno of the first failed read */
        bool timed_out;

        enum kind kind;
        bool id3; /* begins with an ID3v2 tag */
        enum verdict verdict;
        char brand[5]; /* ftyp major brand, NUL-terminated, "" when none */
        char reason[REASON_MAX];

        /* FFmpeg's log for this probe. */
        json_t *log;
        unsigned long log_dropped;
        unsigned long errors; /* av_log calls at AV_LOG_ERROR or worse */
        size_t line_len;
        bool log_oom;
        bool line_open;
        bool cut_said; /* FFmpeg logged one of cut_phrases */
        char line[EVD_MEDIA_LOG_LINE_MAX + 1];
        char first_error[REASON_MAX / 2];
        char cut_said_line[REASON_MAX / 2];

        /* The structure walks' window on the file. */
        int64_t win_off;
        size_t win_len;
        uint8_t win[IO_BUF_SIZE];
};

/* True once the probe's wall-clock budget is spent. */
bool media_past_deadline(struct probe *p);

/* Give the probe verdict v with a reason (the first judgement that counts stays). */
void media_judge(struct probe *p, enum verdict v, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Read n bytes at off into buf: 0, or -errno (also noted in p->io_error). */
int media_read_at(struct probe *p, int64_t off, void *buf, size_t n);

/* The container's structure against the file's size (media_structure.c): judges the
 * probe where it finds a cut or damage; 0, or -errno of a failed read. */
int media_check_structure(struct probe *p);

/* The frames of a raw audio stream (mp3, aac, amr) of FFmpeg's format name. */
int media_check_frames(struct probe *p, const char *format);

#endif
