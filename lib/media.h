/* media: what a stored recording is, and whether it is whole.
 *
 * evd_media_probe() reads a stored object with FFmpeg's libavformat, through a
 * pread-based AVIOContext on a borrowed fd (never by path; a container cannot make it
 * open anything else), and returns a JSON object: container, duration, streams,
 * container creation time, an integrity verdict, and FFmpeg's log lines for this file.
 * It checks the container's structure against the file size, then demuxes every packet
 * (bounded in time and count). It decodes only what FFmpeg needs to identify streams.
 *
 * Process-wide effects, set up by the first probe: FFmpeg's log callback (lines go to
 * the probe running on the calling thread, or nowhere; never to stderr) and FFmpeg's
 * largest single allocation (EVD_MEDIA_MAX_ALLOC). Probes may run concurrently on
 * different threads; nothing else in the process should use av_log.
 *
 * The result, owned by the caller (json_decref), has exactly these keys:
 *   "container"   short name, or null when not media (or not recognised at all):
 *                 "mp4", "mov", "3gp", "m4a", "mj2" (ISO/QuickTime family, told apart by
 *                 the ftyp major brand; no ftyp = "mov"), "mpegts", "mpegps", "avi",
 *                 "matroska", "flv", "jpeg", "wav", "mp3", "aac" (ADTS), "amr"
 *   "duration_s"  seconds as the container declares it; when FFmpeg could only estimate
 *                 it from the bit rate, the end of the last packet read instead; null
 *                 when unknown, for photos, and when FFmpeg could not open the file. For
 *                 a cut file this is what the container claims, not what is left.
 *   "streams"     array of { "index", "type" ("video", "audio", "data", "subtitle",
 *                 "attachment", "unknown"), "codec" (FFmpeg's codec name), and where
 *                 known "width", "height", "frame_rate" (not for photos), "sample_rate",
 *                 "channels" }; the first EVD_MEDIA_MAX_STREAMS only; empty when not media
 *   "creation_time" RFC 3339 UTC ("2026-11-20T09:15:00Z") from the container's
 *                 creation_time metadata (MP4/MOV mvhd, Matroska DateUTC, FLV), or null
 *   "integrity"   "ok", "truncated", "corrupt" or "not-media"
 *   "integrity_reason" one line of English, null when "ok"
 *   "log"         FFmpeg's warnings and errors for this file, at most EVD_MEDIA_LOG_LINES
 *                 strings of at most EVD_MEDIA_LOG_LINE_MAX bytes of printable ASCII
 *                 ("[source] message"); when more came, the last entry says how many
 *
 * Verdicts, strongest first (the first reason found for the final verdict is kept):
 *   not-media  empty; no accepted demuxer recognises it, or only with a weak probe score
 *              (zeros, random bytes and text land here). Accepted demuxers: mov/mp4
 *              family, mpegts, mpeg, avi, matroska/webm, flv, wav, mp3, aac, amr, jpeg.
 *   truncated  MP4/MOV: a top-level box runs past the end of the file, or stray bytes
 *              after the last box, or media data (mdat) but no moov; MPEG-TS: size not a
 *              multiple of the packet size; WAV/AVI: RIFF size beyond the file; JPEG: no
 *              end-of-image marker in the last 4 KiB; MP3/ADTS/AMR: the last frame runs
 *              past the end; any: FFmpeg logs "partial file" or "ended prematurely", the
 *              only packets flagged corrupt are the last ones, or the last packet ends
 *              before the declared duration by more than 0.5 s + 1 %.
 *   corrupt    a top-level box of impossible size or type; a track's sample table
 *              larger than the file; lost TS sync near the end; packets flagged corrupt;
 *              FFmpeg errors; a demuxer error other than end of file; a recognised
 *              container FFmpeg cannot open, or without streams or packets.
 * Not detectable: MPEG-TS, fragmented MP4, ADTS, MP3 or AMR cut exactly between two
 * packets, fragments or frames (what is left is a shorter valid file), and damage inside
 * coded pictures or sound that the parsers do not notice (nothing is fully decoded).
 *
 * Limits: past limits->max_ms of wall-clock time a probe stops at its next read or
 * packet and fails with -ETIMEDOUT; past max_packets with -E2BIG; an FFmpeg allocation
 * over EVD_MEDIA_MAX_ALLOC fails it with -ENOMEM. These say nothing about the file (it
 * may be whole and merely long, or the disk slow), so they are errors, not verdicts:
 * the caller keeps the item and records that it was not probed. Except: when the file
 * is already known not to be whole (its structure was checked first), that verdict is
 * returned instead of the error.
 */
#ifndef EVD_MEDIA_H
#define EVD_MEDIA_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"

#define EVD_MEDIA_MAX_STREAMS 64    /* listed in "streams"; any more are left out */
#define EVD_MEDIA_LOG_LINES 20      /* entries in "log" */
#define EVD_MEDIA_LOG_LINE_MAX 200  /* bytes per entry */
#define EVD_MEDIA_DEFAULT_MS 120000 /* whole probe, wall clock */
#define EVD_MEDIA_DEFAULT_PROBESIZE (5 * 1000 * 1000)
#define EVD_MEDIA_UNKNOWN_PROBESIZE (64 * 1024) /* without a known container signature */
#define EVD_MEDIA_DEFAULT_ANALYZE_US (5 * 1000 * 1000)
#define EVD_MEDIA_DEFAULT_PACKETS 10000000u
#define EVD_MEDIA_MAX_ALLOC (256 << 20) /* one FFmpeg allocation, process-wide */

/* Bounds for one probe. A zero field takes the default above. */
struct evd_media_limits {
        unsigned max_ms;           /* wall clock for the whole probe */
        int64_t probesize;         /* bytes FFmpeg may read to detect format and streams */
        int64_t analyze_us;        /* media time FFmpeg may read for stream detection */
        unsigned long max_packets; /* packets read in the integrity scan */
};

/* Probe the regular file open for reading on fd (borrowed: not closed, its file offset
 * untouched; the file must not change during the probe). limits may be NULL for the
 * defaults. On success returns 0 and sets *ret_media to a new object described above
 * (a file that is not media is a success with integrity "not-media"). Errors, with err
 * (may be NULL) filled: -EBADF fd not open for reading; -EINVAL not a regular file;
 * -EIO (or the read's -errno) reading failed; -ENOMEM; -ETIMEDOUT past limits->max_ms;
 * -E2BIG past limits->max_packets. */
int evd_media_probe(int fd, const struct evd_media_limits *limits, json_t **ret_media,
                    struct evd_err *err);

/* The "creation_time" of a probe result as seconds since the epoch. -ENOENT when it is
 * null or missing (media may be NULL), -EINVAL when it is not an RFC 3339 string; *ret
 * is set only on success. */
int evd_media_creation_time(const json_t *media, int64_t *ret);

#endif
