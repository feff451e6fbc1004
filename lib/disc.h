/* disc: export recordings to a signed disc image that anyone can check without evidock,
 * and check such an image.
 *
 * An image is an ISO 9660 level 3 file system with Rock Ridge and Joliet (long names,
 * longer paths), so Chinese file names come through in Linux, Windows, bsdtar and 7z.
 * Its root is a BagIt bag (RFC 8493):
 *
 *   bagit.txt  bag-info.txt  manifest-sha256.txt  tagmanifest-sha256.txt
 *   README.txt             how to check the disc with standard tools (Chinese, English)
 *   items.json             what each file is (given by the caller, or a default one)
 *   station-cert.pem       the signer's certificate
 *   signature.p7s          CMS detached signature (DER) over tagmanifest-sha256.txt
 *   ...                    other tag files of the caller (audit history, series index)
 *   data/<recorder>/<name> the recordings
 *
 * tagmanifest-sha256.txt lists every tag file but itself and the signature, so the one
 * signature covers everything. All times in the image are the extraction time in GMT
 * and signatures are deterministic (see keys.h): the same input gives a byte-identical
 * image. The image is written to a temporary file beside the output, synced and given
 * its name without ever replacing a file; its SHA-256 is computed while it is written.
 *
 * Names on disc. Recorders write byte strings; a disc needs names that every reader
 * shows the same. A name component is kept as it is when it is valid UTF-8 of at most
 * 103 characters (Joliet long names) and 255 bytes (Rock Ridge), in the Basic
 * Multilingual Plane, free of control characters, of / \ : * ? " < > | ; % (invalid in
 * Joliet or Windows, or needing percent-encoding in a BagIt manifest, which
 * `sha256sum -c` would not undo), of leading dots and of trailing dots and spaces.
 * Otherwise each offending character becomes '_', a leading dot becomes '_', and a long
 * name is shortened keeping its extension; Windows device names (CON, NUL, COM1, ...)
 * get a leading '_'. Names that then collide (ASCII case ignored,
 * as Windows does) get "~2", "~3", ... before the extension. evd_disc_assign_names
 * computes this deterministically from the items' order; items.json records the
 * mapping (the default one has the original bytes in hex).
 *
 * Threads: build and verify are blocking (call them from a worker, never the loop) and
 * are serialised inside the module, because libisofs keeps process-wide state. The
 * progress callback runs on the calling thread. */
#ifndef EVD_DISC_H
#define EVD_DISC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "keys.h"
#include "util.h"

#define EVD_DISC_BLOCK 2048
#define EVD_DISC_VOLID_MAX 32       /* ISO 9660 volume identifier, d-characters */
#define EVD_DISC_NAME_CHARS 103     /* Joliet long-name limit, per component */
#define EVD_DISC_NAME_BYTES 255     /* Rock Ridge limit, per component */
#define EVD_DISC_RECORDER_CHARS 64  /* recorder directory names are shorter still */
#define EVD_DISC_PATH_MAX 520       /* "data/" rec "/" name and NUL, bytes */
#define EVD_DISC_ITEMS_MAX 100000   /* payload files per volume */
#define EVD_DISC_RECORDERS_MAX 1024 /* recorder directories per volume */
#define EVD_DISC_INFO_MAX 64        /* caller's bag-info entries */
#define EVD_DISC_INFO_VALUE_MAX 4096
#define EVD_DISC_TAGS_MAX 16                /* caller's tag files */
#define EVD_DISC_TAG_BYTES_MAX (256u << 20) /* all caller tag files together */
#define EVD_DISC_VERIFY_TAG_MAX (64u << 20) /* a tag file read into memory to check */
#define EVD_DISC_VERIFY_FILES_MAX 1000000   /* files in an image being checked */

/* Usable bytes of blank media: user data in 2048-byte sectors, the smaller of the
 * "-" and "+" formats where they differ. Burning in track-at-once mode loses a few
 * sectors at the end of a CD; evd_disc_plan's fixed reserve covers that.
 *   cd     CD-R 80 min, 360000 sectors                               737280000
 *   dvd    DVD+R SL 2295104 sectors (DVD-R SL: 2298496)              4700372992
 *   dvd-dl DVD-R DL 4171712 sectors (DVD+R DL: 4173824 = 8547991552) 8543666176
 *   bd25   BD-R SL unformatted, 12219392 sectors                    25025314816
 *   bd50   BD-R DL unformatted, 24438784 sectors                    50050629632
 * A BD formatted with a spare area (always so for BD-RE) holds less: give its size in
 * bytes instead. */
#define EVD_DISC_CD_BYTES 737280000ULL
#define EVD_DISC_DVD_BYTES 4700372992ULL
#define EVD_DISC_DVD_DL_BYTES 8543666176ULL
#define EVD_DISC_BD25_BYTES 25025314816ULL
#define EVD_DISC_BD50_BYTES 50050629632ULL

/* Planning overheads (see evd_disc_plan): per item, its data rounded up to whole
 * sectors plus this much for its directory records (ISO 9660, Rock Ridge, Joliet), its
 * manifest line and its items.json entry; per volume, this fixed reserve (system area,
 * volume descriptors, path tables, root records, default tag files, certificate,
 * signature, end-of-CD run-out) plus the caller's own tag files. */
#define EVD_DISC_ITEM_OVERHEAD 4096ULL
#define EVD_DISC_FIXED_OVERHEAD (1ULL << 20)

/* Suggested bag-info labels (the caller may use others; "Payload-Oxum", "Bagging-Date"
 * and "Bag-Count" are written by evd_disc_build and refused from the caller). */
#define EVD_DISC_INFO_CASE "Case-Number"          /* 案号 */
#define EVD_DISC_INFO_PARTY "Party"               /* 当事人 */
#define EVD_DISC_INFO_HANDLER "Handler"           /* 承办人 */
#define EVD_DISC_INFO_MAKER "Maker"               /* 制作人 */
#define EVD_DISC_INFO_EXTRACTOR "Extractor"       /* 提取人 */
#define EVD_DISC_INFO_EXTRACTED "Extraction-Time" /* 提取时间 */
#define EVD_DISC_INFO_APPROVER "Approver"         /* 审批人 */
#define EVD_DISC_INFO_REASON "Reason"             /* 事由 */
#define EVD_DISC_INFO_STATION "Station"           /* 制作站 */
#define EVD_DISC_INFO_ITEMS "Item-Count"          /* 文件数 */

#define EVD_DISC_CERT_FILE "station-cert.pem"
#define EVD_DISC_SIGNATURE_FILE "signature.p7s"

/* One recording to put on the disc. The caller owns every pointer; they must stay
 * valid during the call. disc_path is an output. */
struct evd_disc_item {
        const char *src_path; /* the stored object to read */
        const char *recorder; /* recorder serial: its directory under data/ (bytes) */
        const char *name;     /* original file name: name_len bytes, any bytes at all */
        size_t name_len;
        uint64_t size;                     /* known size in bytes */
        uint8_t sha256[EVD_SHA256_LEN];    /* known hash: goes to the manifest, and the file
                                            * is checked against it while it is written */
        char disc_path[EVD_DISC_PATH_MAX]; /* out: "data/<recorder>/<name>" on the disc */
};

/* A bag-info.txt entry. The label is ASCII or UTF-8 text without ':' or control
 * characters; a value's line breaks become BagIt continuation lines and other control
 * characters are escaped. */
struct evd_disc_info {
        const char *label;
        const char *value;
};

/* A tag file given in memory (items.json, audit history, series index, README.txt to
 * replace the default one). name: a root file name of [A-Za-z0-9._-], not one of the
 * bag's own files. */
struct evd_disc_tag {
        const char *name;
        const void *data;
        size_t len;
};

struct evd_disc_spec {
        const char *volume_id;   /* sanitised with evd_disc_volume_id */
        int64_t extraction_time; /* every time stamp of the image, seconds since epoch */
        int64_t bagging_time;    /* "Bagging-Date", when the bag is made and signed; 0: the
                                  * extraction time */
        struct evd_disc_item *items;
        size_t n_items;
        const struct evd_disc_info *info;
        size_t n_info;
        const struct evd_disc_tag *tags;
        size_t n_tags;
        unsigned volume_no;          /* 1-based volume of a series; 0 when not a series */
        unsigned volume_count;       /* volumes in the series ("Bag-Count: volume_no of count") */
        uint64_t capacity;           /* medium bytes; 0 = no limit. -EFBIG before writing when
                                      * the image would not fit */
        const struct evd_keys *keys; /* signer (borrowed) */
        /* Optional: called on the calling thread as the image is written. */
        void (*progress)(void *ctx, uint64_t bytes_done, uint64_t bytes_total);
        void *progress_ctx;
        const atomic_bool *cancel; /* optional: set to abort with -ECANCELED */
};

struct evd_disc_result {
        uint8_t sha256[EVD_SHA256_LEN]; /* of the whole image as written */
        uint64_t size;                  /* image bytes, a multiple of 2048 */
        char volume_id[EVD_DISC_VOLID_MAX + 1];
};

/* Turn text (a case number, say) into an ISO 9660 volume id: ASCII letters upper-cased,
 * digits kept, every run of anything else one '_', no '_' at either end, at most 32
 * characters; "EVIDOCK" when nothing is left. Always succeeds. */
void evd_disc_volume_id(const char *text, char out[EVD_DISC_VOLID_MAX + 1]);

/* Usable bytes of a medium by name ("cd", "dvd", "dvd-dl", "bd25", "bd50", any case) or a plain
 * byte count (at least 1 MiB). -EINVAL otherwise. */
int evd_disc_media_bytes(const char *name, uint64_t *ret_bytes);

/* Fill items[i].disc_path for n items as the header paragraph "Names on disc" says.
 * Deterministic: the same items in the same order give the same paths, so the caller
 * may call it before building to write the mapping into its own items.json.
 * -EINVAL (err names the item) for an empty recorder, -E2BIG past the bounds. */
int evd_disc_assign_names(struct evd_disc_item *items, size_t n, struct evd_err *err);

/* Split n items (sizes in bytes; names, may be NULL, used in messages: display text)
 * into volumes of capacity bytes, each a complete bag of its own, keeping every item
 * whole: first fit, in the given order. reserve is the caller's own tag files' size per
 * volume. ret_volume_of (n entries, caller's) gets each item's 0-based volume and
 * *ret_volumes the count. -EFBIG naming the first item that cannot fit on any medium of
 * that size; -EINVAL when n is 0. The estimate is conservative; evd_disc_build checks
 * the exact size anyway. */
int evd_disc_plan(const uint64_t *sizes, const char *const *names, size_t n, uint64_t capacity,
                  uint64_t reserve, size_t *ret_volume_of, size_t *ret_volumes,
                  struct evd_err *err);

/* Build the image of spec at out_path, which must not exist (-EEXIST before anything
 * is written, and never replaced if it appears meanwhile: evd_publish). Assigns
 * items' disc_path. Each payload file is read once: its bytes go into the image while
 * their SHA-256 and size are checked against the item; any difference, read error or
 * cancel aborts the build, leaving no output (-EBADMSG, -EIO, -ECANCELED; err names
 * the file). *ret (may be NULL) only on success. */
int evd_disc_build(const struct evd_disc_spec *spec, const char *out_path,
                   struct evd_disc_result *ret, struct evd_err *err);

/* The same, written into fd (borrowed, an empty file open for writing, named shown in
 * messages) and synced; the caller owns the file: on failure it holds a partial image
 * that the caller removes or truncates. */
int evd_disc_build_fd(const struct evd_disc_spec *spec, int fd, const char *shown,
                      struct evd_disc_result *ret, struct evd_err *err);

/* ---- checking a disc ---- */

enum evd_disc_verdict {
        EVD_DISC_OK,       /* present and matches its manifest line */
        EVD_DISC_MISMATCH, /* content differs from the manifest (or signature invalid) */
        EVD_DISC_MISSING,  /* listed in a manifest, not on the disc */
        EVD_DISC_EXTRA,    /* on the disc, listed nowhere (not covered by the signature) */
        EVD_DISC_BAD,      /* unreadable or malformed */
};

/* Called once per file checked, and once for the signature (path "signature.p7s").
 * path is the path in the image (bytes as on the disc, NUL-terminated: escape it for
 * display); detail is one line of text. Both are valid during the call only. */
typedef void (*evd_disc_verify_cb)(void *ctx, const char *path, enum evd_disc_verdict verdict,
                                   const char *detail);

enum evd_disc_cert_source {
        EVD_DISC_CERT_NONE,     /* signature not checked (missing or unreadable) */
        EVD_DISC_CERT_GIVEN,    /* checked against the certificate the caller gave */
        EVD_DISC_CERT_EMBEDDED, /* checked against station-cert.pem on the disc itself */
};

struct evd_disc_summary {
        uint64_t files_checked; /* files hashed (payload and tag files) */
        uint64_t problems;      /* verdicts other than OK, signature included */
        uint64_t payload_files; /* regular files under data/ */
        uint64_t payload_bytes;
        bool signature_ok;
        enum evd_disc_cert_source cert_source;
        char signer[EVD_KEYS_SUBJECT_MAX]; /* subject of the signer, when valid */
        char cert_sha256[EVD_SHA256_HEX];  /* fingerprint of the trusted certificate */
        char volume_id[EVD_DISC_VOLID_MAX + 1];
        char note[EVD_ERR_TEXT_MAX]; /* what the signature check proves, one line */
};

/* Check the image file or block device at path (read through libisofs, nothing is
 * mounted): bagit.txt; every file under data/ against manifest-sha256.txt, with no file
 * missing and none extra; every tag file against tagmanifest-sha256.txt, with no
 * unlisted file; Payload-Oxum; the CMS signature over tagmanifest-sha256.txt against
 * the certificate at cert_path, or, when it is NULL, against the disc's own
 * station-cert.pem (which proves the disc unchanged since signing, not who signed it;
 * the summary's note says so). cb (may be NULL) hears every verdict.
 * The Joliet records (what Windows and 7z show) must name exactly the checked files and
 * point at the same data.
 * Returns 0 when everything matches, -EBADMSG when anything does not (err names the
 * first problem and counts the rest), other -errno when the image or certificate
 * cannot be read at all. *ret_summary (may be NULL) is filled whenever the image could
 * be read, so also with -EBADMSG. */
int evd_disc_verify(const char *path, const char *cert_path, evd_disc_verify_cb cb, void *ctx,
                    struct evd_disc_summary *ret_summary, struct evd_err *err);

#endif
