#include "disc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#include "buf.h"
#include "name.h"
#include "publish.h"

#define NAME_IN_MAX 1024          /* bytes of an original name or recorder we accept */
#define EXT_MAX 16                /* characters of an extension kept when shortening */
#define READ_CHUNK (1u << 20)     /* payload reads */
#define IMAGE_CHUNK (32u * 2048)  /* image reads from libisofs, hashed and written */
#define PROGRESS_EVERY (8u << 20) /* bytes between progress calls */
#define FIFO_BLOCKS 4096          /* libisofs ring buffer: 8 MiB */
#define EVD_FS_ID 0x45564431u     /* "EVD1": file system id of our streams */
#define TAG_NAME_MAX 64
#define LABEL_MAX 64
#define PATH_BUF 4096
#define DEPTH_MAX 16
#define LINE_MAX_BYTES 8192

static pthread_mutex_t disc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t disc_once = PTHREAD_ONCE_INIT;
static int disc_init_result;

/* libisofs: initialise once, without touching the locale; names are UTF-8 whatever the
 * daemon's locale; messages are neither printed nor queued (we report errors
 * ourselves). Never finished: other threads may still use it. */
static void disc_global_init(void)
{
        int r = iso_init_with_flag(1);

        if (r < 0) {
                disc_init_result = -EIO;
                return;
        }
        (void)iso_set_local_charset("UTF-8", 0);
        (void)iso_set_msgs_severities("NEVER", "NEVER", "evidock");
        disc_init_result = 0;
}

static int disc_enter(struct evd_err *err)
{
        (void)pthread_once(&disc_once, disc_global_init);
        if (disc_init_result < 0)
                return evd_err_set(err, disc_init_result, "libisofs cannot be initialised");
        (void)pthread_mutex_lock(&disc_lock);
        return 0;
}

static void disc_leave(void)
{
        (void)pthread_mutex_unlock(&disc_lock);
}

/* ---- UTF-8 ---- */

static size_t utf8_put(uint32_t cp, char *out)
{
        if (cp < 0x80) {
                out[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char)(0xc0 | cp >> 6);
                out[1] = (char)(0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char)(0xe0 | cp >> 12);
                out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char)(0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char)(0xf0 | cp >> 18);
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        return 4;
}

static size_t utf8_len(uint32_t cp)
{
        return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* ---- volume id, media ---- */

void evd_disc_volume_id(const char *text, char out[EVD_DISC_VOLID_MAX + 1])
{
        size_t o = 0;
        bool gap = false;

        for (const unsigned char *p = (const unsigned char *)text; *p && o < EVD_DISC_VOLID_MAX;
             p++) {
                unsigned char c = *p;
                bool alnum =
                        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

                if (!alnum) {
                        gap = true;
                        continue;
                }
                if (gap && o > 0) {
                        out[o++] = '_';
                        if (o == EVD_DISC_VOLID_MAX)
                                break;
                }
                gap = false;
                out[o++] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
        }
        out[o] = '\0';
        if (o == 0)
                memcpy(out, "EVIDOCK", sizeof("EVIDOCK"));
}

int evd_disc_media_bytes(const char *name, uint64_t *ret_bytes)
{
        static const struct {
                const char *name;
                uint64_t bytes;
        } media[] = {
                { "cd", EVD_DISC_CD_BYTES },         { "dvd", EVD_DISC_DVD_BYTES },
                { "dvd-dl", EVD_DISC_DVD_DL_BYTES }, { "bd25", EVD_DISC_BD25_BYTES },
                { "bd50", EVD_DISC_BD50_BYTES },
        };
        uint64_t v = 0;

        for (size_t i = 0; i < EVD_ARRAY_SIZE(media); i++)
                if (strcmp(name, media[i].name) == 0) {
                        *ret_bytes = media[i].bytes;
                        return 0;
                }
        if (!*name)
                return -EINVAL;
        for (const char *p = name; *p; p++) {
                if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
                        return -EINVAL;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (v < (1u << 20))
                return -EINVAL;
        *ret_bytes = v;
        return 0;
}

/* ---- names on disc ---- */

/* One path component on its way to the disc: its code points after replacement. */
struct cleaned {
        uint32_t cp[NAME_IN_MAX];
        size_t n;
        size_t ext; /* index of the extension's '.', or n when there is none */
        bool changed;
};

static bool cp_allowed(uint32_t cp)
{
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp > 0xffff)
                return false;
        switch (cp) {
        case '/':
        case '\\':
        case ':':
        case '*':
        case '?':
        case '"':
        case '<':
        case '>':
        case '|':
        case ';':
        case '%':
                return false;
        default:
                return true;
        }
}

/* Windows cannot create CON, PRN, AUX, NUL, COM1-9 or LPT1-9, with any extension. */
static bool windows_device(const struct cleaned *c)
{
        static const char *const dev[] = { "con", "prn", "aux", "nul" };
        char stem[5];
        size_t n = 0;

        while (n < c->n && c->cp[n] != '.' && n < 4) {
                uint32_t cp = c->cp[n];

                if (cp >= 0x80)
                        return false;
                stem[n++] = (char)(cp >= 'A' && cp <= 'Z' ? cp - 'A' + 'a' : cp);
        }
        if (n < c->n && c->cp[n] != '.')
                return false;
        stem[n] = '\0';
        for (size_t i = 0; i < EVD_ARRAY_SIZE(dev); i++)
                if (strcmp(stem, dev[i]) == 0)
                        return true;
        return n == 4 && (memcmp(stem, "com", 3) == 0 || memcmp(stem, "lpt", 3) == 0) &&
               stem[3] >= '1' && stem[3] <= '9';
}

static void clean_component(const char *in, size_t len, struct cleaned *c)
{
        const unsigned char *p = (const unsigned char *)in;
        size_t i = 0;

        c->n = 0;
        c->changed = false;
        while (i < len && c->n < NAME_IN_MAX) {
                uint32_t cp;
                size_t k = evd_name_utf8_next(p + i, len - i, &cp);

                if (k == 0) {
                        c->cp[c->n++] = '_';
                        c->changed = true;
                        i++;
                        continue;
                }
                if (!cp_allowed(cp)) {
                        cp = '_';
                        c->changed = true;
                }
                c->cp[c->n++] = cp;
                i += k;
        }
        if (i < len)
                c->changed = true;
        for (size_t j = 0; j < c->n && c->cp[j] == '.'; j++) {
                c->cp[j] = '_';
                c->changed = true;
        }
        for (size_t j = c->n; j > 0 && (c->cp[j - 1] == '.' || c->cp[j - 1] == ' '); j--) {
                c->cp[j - 1] = '_';
                c->changed = true;
        }
        if (c->n == 0) {
                c->cp[c->n++] = '_';
                c->changed = true;
        }
        if (windows_device(c)) {
                memmove(c->cp + 1, c->cp,
                        (c->n < NAME_IN_MAX ? c->n : NAME_IN_MAX - 1) * sizeof(c->cp[0]));
                c->cp[0] = '_';
                c->n += c->n < NAME_IN_MAX ? 1 : 0;
                c->changed = true;
        }
        c->ext = c->n;
        for (size_t j = c->n; j > 1; j--)
                if (c->cp[j - 1] == '.') {
                        if (c->n - (j - 1) <= EXT_MAX)
                                c->ext = j - 1;
                        break;
                }
}

/* Write the component with an optional suffix ("~N" for N >= 2) before its
 * extension, shortened to max_chars characters and EVD_DISC_NAME_BYTES bytes.
 * Returns true when it had to be shortened. */
static bool compose(const struct cleaned *c, unsigned suffix_no, size_t max_chars,
                    char out[EVD_DISC_NAME_BYTES + 1])
{
        char suffix[16] = "";
        size_t sfx_len = 0, ext_chars = c->n - c->ext, ext_bytes = 0, stem = c->ext;
        size_t stem_bytes = 0, o = 0;
        bool shortened = false;

        if (suffix_no >= 2)
                sfx_len = (size_t)snprintf(suffix, sizeof(suffix), "~%u", suffix_no);
        for (size_t i = c->ext; i < c->n; i++)
                ext_bytes += utf8_len(c->cp[i]);
        for (size_t i = 0; i < stem; i++)
                stem_bytes += utf8_len(c->cp[i]);
        /* Drop characters from the end of the stem until everything fits; keep one. */
        while (stem > 1 && (stem + sfx_len + ext_chars > max_chars ||
                            stem_bytes + sfx_len + ext_bytes > EVD_DISC_NAME_BYTES)) {
                stem--;
                stem_bytes -= utf8_len(c->cp[stem]);
                shortened = true;
        }
        for (size_t i = 0; i < stem; i++)
                o += utf8_put(c->cp[i], out + o);
        /* A stem cut before a dot or space would end the name badly on Windows. */
        while (shortened && o > 1 && (out[o - 1] == '.' || out[o - 1] == ' '))
                out[o - 1] = '_';
        memcpy(out + o, suffix, sfx_len);
        o += sfx_len;
        for (size_t i = c->ext; i < c->n; i++)
                o += utf8_put(c->cp[i], out + o);
        out[o] = '\0';
        return shortened;
}

/* A set of paths compared with ASCII case folded, open addressing. */
struct pathset {
        const char **slot;
        size_t cap; /* power of two */
};

static unsigned char fold(unsigned char c)
{
        return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static uint64_t fold_hash(const char *s)
{
        uint64_t h = 1469598103934665603ULL;

        for (; *s; s++) {
                h ^= fold((unsigned char)*s);
                h *= 1099511628211ULL;
        }
        return h;
}

static bool fold_eq(const char *a, const char *b)
{
        for (; *a && *b; a++, b++)
                if (fold((unsigned char)*a) != fold((unsigned char)*b))
                        return false;
        return *a == *b;
}

static int pathset_init(struct pathset *ps, size_t entries)
{
        size_t cap = 64;

        while (cap < 2 * entries + 16)
                cap *= 2;
        ps->slot = calloc(cap, sizeof(*ps->slot));
        ps->cap = cap;
        return ps->slot ? 0 : -ENOMEM;
}

/* Add s (kept by pointer): 0, or -EEXIST when an equal path is there. */
static int pathset_add(struct pathset *ps, const char *s)
{
        size_t i = (size_t)fold_hash(s) & (ps->cap - 1);

        while (ps->slot[i]) {
                if (fold_eq(ps->slot[i], s))
                        return -EEXIST;
                i = (i + 1) & (ps->cap - 1);
        }
        ps->slot[i] = s;
        return 0;
}

struct recdir {
        const char *raw;                        /* the caller's recorder string */
        char path[5 + EVD_DISC_NAME_BYTES + 1]; /* "data/<dir>" */
        bool done;
};

/* Put "<prefix>/<name>" into out and add it to the set unless taken. */
static int try_path(struct pathset *ps, const char *prefix, const char *name, char *out,
                    size_t outsz)
{
        if (evd_snprintf(out, outsz, "%s/%s", prefix, name) < 0)
                return -ENAMETOOLONG;
        return pathset_add(ps, out);
}

/* Pick the first free "<prefix>/<name>": as it is, then with suffix 2, 3, ... (the set
 * is finite, so one is free). */
static int place_unique(struct pathset *ps, const char *prefix, const struct cleaned *c,
                        size_t max_chars, char *out, size_t outsz)
{
        char name[EVD_DISC_NAME_BYTES + 1];

        for (unsigned k = 1; k < UINT_MAX; k++) {
                int r;

                (void)compose(c, k, max_chars, name);
                r = try_path(ps, prefix, name, out, outsz);
                if (r != -EEXIST)
                        return r;
        }
        return -E2BIG;
}

int evd_disc_assign_names(struct evd_disc_item *items, size_t n, struct evd_err *err)
{
        struct recdir *recs = NULL;
        size_t *rec_of = NULL, nrec = 0;
        struct pathset ps = { 0 };
        struct cleaned *c = NULL;
        char name[EVD_DISC_NAME_BYTES + 1];
        int r;

        if (n > EVD_DISC_ITEMS_MAX)
                return evd_err_set(err, -E2BIG, "%zu files: at most %d fit in one volume", n,
                                   EVD_DISC_ITEMS_MAX);
        for (size_t i = 0; i < n; i++) {
                if (!items[i].recorder || !items[i].recorder[0])
                        return evd_err_set(err, -EINVAL, "item %zu has no recorder", i + 1);
                if (!items[i].name || strlen(items[i].recorder) > NAME_IN_MAX ||
                    items[i].name_len > NAME_IN_MAX)
                        return evd_err_set(err, -ENAMETOOLONG,
                                           "item %zu: name or recorder longer than %d bytes", i + 1,
                                           NAME_IN_MAX);
        }
        recs = calloc(n ? n : 1, sizeof(*recs));
        rec_of = calloc(n ? n : 1, sizeof(*rec_of));
        c = malloc(sizeof(*c));
        if (!recs || !rec_of || !c || pathset_init(&ps, 2 * n) < 0) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }

        /* Distinct recorders, in order of first appearance. */
        for (size_t i = 0; i < n; i++) {
                size_t k;

                for (k = 0; k < nrec; k++)
                        if (strcmp(recs[k].raw, items[i].recorder) == 0)
                                break;
                if (k == nrec) {
                        if (nrec == EVD_DISC_RECORDERS_MAX) {
                                r = evd_err_set(err, -E2BIG, "more than %d recorders in one volume",
                                                EVD_DISC_RECORDERS_MAX);
                                goto out;
                        }
                        recs[nrec++].raw = items[i].recorder;
                }
                rec_of[i] = k;
        }

        /* Recorder directories: clean names first, so that they keep their name. */
        for (int pass = 0; pass < 2; pass++)
                for (size_t k = 0; k < nrec; k++) {
                        if (recs[k].done)
                                continue;
                        clean_component(recs[k].raw, strlen(recs[k].raw), c);
                        if (pass == 0) {
                                if (c->changed || compose(c, 0, EVD_DISC_RECORDER_CHARS, name))
                                        continue;
                                r = try_path(&ps, "data", name, recs[k].path, sizeof(recs[k].path));
                                if (r == -EEXIST)
                                        continue;
                        } else {
                                r = place_unique(&ps, "data", c, EVD_DISC_RECORDER_CHARS,
                                                 recs[k].path, sizeof(recs[k].path));
                        }
                        if (r < 0) {
                                r = evd_err_set(err, r, "cannot name recorder directory %zu",
                                                k + 1);
                                goto out;
                        }
                        recs[k].done = true;
                }

        /* Files, the same way. */
        for (size_t i = 0; i < n; i++)
                items[i].disc_path[0] = '\0';
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < n; i++) {
                        struct evd_disc_item *it = &items[i];
                        const char *dir = recs[rec_of[i]].path;

                        if (it->disc_path[0])
                                continue;
                        clean_component(it->name, it->name_len, c);
                        if (pass == 0) {
                                if (c->changed || compose(c, 0, EVD_DISC_NAME_CHARS, name))
                                        continue;
                                r = try_path(&ps, dir, name, it->disc_path, EVD_DISC_PATH_MAX);
                                if (r == -EEXIST) {
                                        it->disc_path[0] = '\0';
                                        continue;
                                }
                        } else {
                                r = place_unique(&ps, dir, c, EVD_DISC_NAME_CHARS, it->disc_path,
                                                 EVD_DISC_PATH_MAX);
                        }
                        if (r < 0) {
                                it->disc_path[0] = '\0';
                                r = evd_err_set(err, r, "cannot name item %zu on disc", i + 1);
                                goto out;
                        }
                }
        r = 0;
out:
        free(ps.slot);
        free(c);
        free(rec_of);
        free(recs);
        return r;
}

/* ---- volume plan ---- */

int evd_disc_plan(const uint64_t *sizes, const char *const *names, size_t n, uint64_t capacity,
                  uint64_t reserve, size_t *ret_volume_of, size_t *ret_volumes, struct evd_err *err)
{
        uint64_t usable, *used = NULL;
        size_t *count = NULL, nvol = 0;

        if (n == 0)
                return evd_err_set(err, -EINVAL, "no items to export");
        if (capacity <= EVD_DISC_FIXED_OVERHEAD || reserve >= capacity - EVD_DISC_FIXED_OVERHEAD)
                return evd_err_set(err, -EINVAL,
                                   "a medium of %" PRIu64 " bytes cannot hold a bag with %" PRIu64
                                   " bytes of tag files",
                                   capacity, reserve);
        usable = capacity - EVD_DISC_FIXED_OVERHEAD - reserve;
        used = calloc(n, sizeof(*used));
        count = calloc(n, sizeof(*count));
        if (!used || !count) {
                free(used);
                free(count);
                return evd_err_set(err, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                uint64_t cost;
                size_t v;

                if (sizes[i] > UINT64_MAX - 2 * EVD_DISC_ITEM_OVERHEAD ||
                    (cost = (sizes[i] + EVD_DISC_BLOCK - 1) / EVD_DISC_BLOCK * EVD_DISC_BLOCK +
                            EVD_DISC_ITEM_OVERHEAD) > usable) {
                        char shown[EVD_NAME_ESCAPED_MAX(128)];

                        if (names && names[i])
                                (void)evd_name_escape(names[i], strlen(names[i]), shown,
                                                      sizeof(shown));
                        else
                                (void)snprintf(shown, sizeof(shown), "item %zu", i + 1);
                        free(used);
                        free(count);
                        return evd_err_set(err, -EFBIG,
                                           "%s (%" PRIu64 " bytes) does not fit on a medium of "
                                           "%" PRIu64 " bytes (%" PRIu64 " usable)",
                                           shown, sizes[i], capacity, usable);
                }
                for (v = 0; v < nvol; v++)
                        if (used[v] + cost <= usable && count[v] < EVD_DISC_ITEMS_MAX)
                                break;
                if (v == nvol)
                        nvol++;
                used[v] += cost;
                count[v]++;
                ret_volume_of[i] = v;
        }
        free(used);
        free(count);
        *ret_volumes = nvol;
        return 0;
}

/* ---- tag files ---- */

struct tagfile {
        char name[TAG_NAME_MAX + 1];
        const uint8_t *data; /* borrowed from the caller or from a struct evd_buf below */
        size_t len;
};

/* JSON string of len bytes of valid UTF-8. */
static void json_utf8(struct evd_buf *b, const char *s, size_t len)
{
        (void)evd_buf_str(b, "\"");
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];

                if (ch == '"' || ch == '\\') {
                        char esc[2] = { '\\', (char)ch };

                        (void)evd_buf_add(b, esc, 2);
                } else if (ch < 0x20 || ch == 0x7f) {
                        (void)evd_buf_printf(b, "\\u%04x", ch);
                } else {
                        (void)evd_buf_add(b, &s[i], 1);
                }
        }
        (void)evd_buf_str(b, "\"");
}

/* JSON string of arbitrary bytes: exact when valid UTF-8, else their escaped display. */
static void json_bytes(struct evd_buf *b, const char *s, size_t len)
{
        char *shown;

        if (evd_name_is_utf8(s, len)) {
                json_utf8(b, s, len);
                return;
        }
        shown = malloc(EVD_NAME_ESCAPED_MAX(len));
        if (!shown) {
                b->error = b->error ? b->error : -ENOMEM;
                return;
        }
        (void)evd_name_escape(s, len, shown, EVD_NAME_ESCAPED_MAX(len));
        json_utf8(b, shown, strlen(shown));
        free(shown);
}

static void hex_bytes(struct evd_buf *b, const char *s, size_t len)
{
        char pair[3];

        for (size_t i = 0; i < len; i++) {
                evd_hex((const uint8_t *)&s[i], 1, pair);
                (void)evd_buf_add(b, pair, 2);
        }
}

static void make_items_json(struct evd_buf *b, const struct evd_disc_spec *spec)
{
        char hex[EVD_SHA256_HEX];

        (void)evd_buf_str(b, "{\n  \"format\": \"evidock-items/1\",\n  \"items\": [");
        for (size_t i = 0; i < spec->n_items; i++) {
                const struct evd_disc_item *it = &spec->items[i];

                evd_hex(it->sha256, EVD_SHA256_LEN, hex);
                (void)evd_buf_str(b, i ? ",\n    {" : "\n    {");
                (void)evd_buf_str(b, "\"path\": ");
                json_utf8(b, it->disc_path, strlen(it->disc_path));
                (void)evd_buf_str(b, ", \"recorder\": ");
                json_bytes(b, it->recorder, strlen(it->recorder));
                (void)evd_buf_str(b, ", \"original_name\": ");
                json_bytes(b, it->name, it->name_len);
                (void)evd_buf_str(b, ", \"original_name_hex\": \"");
                hex_bytes(b, it->name, it->name_len);
                (void)evd_buf_printf(b, "\", \"size\": %" PRIu64 ", \"sha256\": \"%s\"}", it->size,
                                     hex);
        }
        (void)evd_buf_str(b, spec->n_items ? "\n  ]\n}\n" : "]\n}\n");
}

static bool label_ok(const char *label)
{
        size_t len = strlen(label);

        if (len == 0 || len > LABEL_MAX || !evd_name_is_utf8(label, len))
                return false;
        if (label[0] == ' ' || label[0] == '\t' || label[len - 1] == ' ' || label[len - 1] == '\t')
                return false;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)label[i];

                if (c < 0x20 || c == 0x7f || c == ':')
                        return false;
        }
        return true;
}

static bool label_is(const char *a, const char *b)
{
        return fold_eq(a, b);
}

/* A bag-info value: printable UTF-8 as it is, line breaks as continuation lines,
 * other control characters and invalid bytes as \xHH. */
static void info_value(struct evd_buf *b, const char *v)
{
        const unsigned char *p = (const unsigned char *)v;
        size_t len = strlen(v), i = 0;

        while (i < len) {
                uint32_t cp;
                size_t k = evd_name_utf8_next(p + i, len - i, &cp);

                if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
                        i++;
                        continue;
                }
                if (p[i] == '\n' || p[i] == '\r') {
                        (void)evd_buf_str(b, "\n  ");
                        i++;
                } else if (k == 0 || (cp < 0x20 && cp != '\t') || cp == 0x7f ||
                           (cp >= 0x80 && cp < 0xa0)) {
                        size_t bytes = k ? k : 1;

                        for (size_t j = 0; j < bytes; j++)
                                (void)evd_buf_printf(b, "\\x%02x", p[i + j]);
                        i += bytes;
                } else {
                        (void)evd_buf_add(b, p + i, k);
                        i += k;
                }
        }
}

static int make_bag_info(struct evd_buf *b, const struct evd_disc_spec *spec, uint64_t oxum_bytes,
                         struct evd_err *err)
{
        static const char *const ours[] = { "Payload-Oxum", "Bagging-Date", "Bag-Count" };
        char date[EVD_TIME_STR];

        if (spec->n_info > EVD_DISC_INFO_MAX)
                return evd_err_set(err, -E2BIG, "more than %d bag-info entries", EVD_DISC_INFO_MAX);
        for (size_t i = 0; i < spec->n_info; i++) {
                const struct evd_disc_info *in = &spec->info[i];

                if (!in->label || !label_ok(in->label))
                        return evd_err_set(err, -EINVAL, "bag-info entry %zu: bad label", i + 1);
                for (size_t k = 0; k < EVD_ARRAY_SIZE(ours); k++)
                        if (label_is(in->label, ours[k]))
                                return evd_err_set(err, -EINVAL,
                                                   "bag-info label %s is written by the disc "
                                                   "module itself",
                                                   ours[k]);
                if (!in->value || strlen(in->value) > EVD_DISC_INFO_VALUE_MAX)
                        return evd_err_set(err, -EINVAL,
                                           "bag-info %s: value missing or longer "
                                           "than %d bytes",
                                           in->label, EVD_DISC_INFO_VALUE_MAX);
                (void)evd_buf_printf(b, "%s: ", in->label);
                info_value(b, in->value);
                (void)evd_buf_str(b, "\n");
        }
        evd_time_format(spec->extraction_time, date);
        date[10] = '\0';
        (void)evd_buf_printf(b, "Bagging-Date: %s\n", date);
        (void)evd_buf_printf(b, "Payload-Oxum: %" PRIu64 ".%zu\n", oxum_bytes, spec->n_items);
        if (spec->volume_count > 0)
                (void)evd_buf_printf(b, "Bag-Count: %u of %u\n", spec->volume_no,
                                     spec->volume_count);
        return 0;
}

static const char *info_lookup(const struct evd_disc_spec *spec, const char *label)
{
        for (size_t i = 0; i < spec->n_info; i++)
                if (spec->info[i].label && label_is(spec->info[i].label, label))
                        return spec->info[i].value;
        return NULL;
}

static void make_readme(struct evd_buf *b, const struct evd_disc_spec *spec, const char *volid,
                        const char *fingerprint)
{
        const char *case_no = info_lookup(spec, EVD_DISC_INFO_CASE);
        char when[EVD_TIME_STR];

        evd_time_format(spec->extraction_time, when);
        (void)evd_buf_str(b, "执法记录仪证据光盘 / Enforcement recording evidence disc\n"
                             "=====================================================\n\n");
        (void)evd_buf_printf(b, "卷标 / Volume:          %s\n", volid);
        if (case_no) {
                (void)evd_buf_str(b, "案号 / Case number:     ");
                info_value(b, case_no);
                (void)evd_buf_str(b, "\n");
        }
        (void)evd_buf_printf(b, "提取时间 / Extracted:   %s (UTC)\n", when);
        (void)evd_buf_printf(b, "文件数 / Files:         %zu\n", spec->n_items);
        if (spec->volume_count > 0)
                (void)evd_buf_printf(b, "分卷 / Volume:          第 %u 盘，共 %u 盘 / %u of %u\n",
                                     spec->volume_no, spec->volume_count, spec->volume_no,
                                     spec->volume_count);
        (void)evd_buf_printf(b, "签名证书指纹 / Certificate SHA-256 fingerprint:\n  %s\n\n",
                             fingerprint);
        (void)evd_buf_str(
                b,
                "本光盘是一个 BagIt 包（RFC 8493），由 evidock 证据存储站制作。无需 evidock，\n"
                "用常见工具即可核验。\n"
                "This disc is a BagIt bag (RFC 8493) made by an evidock evidence station. It\n"
                "can be checked with common tools, without evidock.\n\n"
                "内容 / Contents\n"
                "  data/<记录仪>/<文件名>     原始录音录像 / the original recordings, by recorder\n"
                "  bag-info.txt             案号、当事人、承办人、制作人、提取人、提取时间等\n"
                "                           case number, party, handler, maker, extractor,\n"
                "                           extraction time, approver, reason\n"
                "  manifest-sha256.txt      每个原始文件的 SHA-256 / SHA-256 of every recording\n"
                "  tagmanifest-sha256.txt   其余说明文件的 SHA-256 / SHA-256 of the other files\n"
                "  items.json               文件清单，含原始文件名 / item list with original "
                "names\n"
                "  station-cert.pem         制作站证书 / the signing station's certificate\n"
                "  signature.p7s            对 tagmanifest-sha256.txt 的 CMS 签名（DER）\n"
                "                           CMS signature (DER) over tagmanifest-sha256.txt\n\n"
                "光盘上的文件名如含不能在光盘上使用的字符，已替换为“_”，原始文件名见 items.json。\n"
                "File names with characters a disc cannot hold were changed ('_'); items.json\n"
                "gives each original name.\n\n"
                "核验步骤 / How to check\n"
                "1. 复制光盘内容到一个目录，或解开光盘映像：\n"
                "   Copy the disc to a directory, or unpack the image:\n"
                "     bsdtar -xf disc.iso -C dir      或 / or      7z x -odir disc.iso\n"
                "2. 在该目录中运行（每行都应为 OK）/ In that directory (every line must say OK):\n"
                "     sha256sum -c manifest-sha256.txt\n"
                "     sha256sum -c tagmanifest-sha256.txt\n"
                "   Windows: certutil -hashfile 文件/FILE SHA256，与清单中的值对照 / compare with\n"
                "   the value in the manifest.\n"
                "3. 确认 data/ 下没有清单以外的文件 / Check that data/ holds no unlisted file:\n"
                "     find data -type f | wc -l      应等于 / must equal\n"
                "     wc -l < manifest-sha256.txt\n"
                "4. 核验签名 / Check the signature:\n"
                "     openssl cms -verify -binary -inform DER -in signature.p7s \\\n"
                "       -content tagmanifest-sha256.txt -CAfile station-cert.pem \\\n"
                "       -purpose any -out /dev/null\n"
                "   应显示 / must print: \"Verification successful\" (\"CMS Verification "
                "successful\")\n"
                "   证书过期后加 / after the certificate has expired, add:  -no_check_time\n\n"
                "注意：用光盘自带的证书核验，只能证明内容自签名后未被改动，不能证明是谁签的。\n"
                "请用从制作单位取得的证书（-CAfile 该证书）核验，或核对证书指纹：\n"
                "Note: checking against the certificate on the disc itself proves the disc is\n"
                "unchanged since it was signed, not who signed it. Use the certificate obtained\n"
                "from the issuing station or office (-CAfile THAT.pem), or compare fingerprints:\n"
                "     openssl x509 -in station-cert.pem -noout -fingerprint -sha256\n");
}

/* Caller's tag file names: [A-Za-z0-9._-], not hidden, not one of the bag's own. */
static bool tag_name_ok(const char *name)
{
        static const char *const reserved[] = {
                "bagit.txt", "bag-info.txt", EVD_DISC_CERT_FILE, EVD_DISC_SIGNATURE_FILE,
                "data",      "fetch.txt"
        };
        size_t len = strlen(name);

        if (len == 0 || len > TAG_NAME_MAX || name[0] == '.')
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = name[i];

                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return false;
        }
        for (size_t i = 0; i < EVD_ARRAY_SIZE(reserved); i++)
                if (fold_eq(name, reserved[i]))
                        return false;
        if (strncasecmp(name, "manifest-", 9) == 0 || strncasecmp(name, "tagmanifest-", 12) == 0)
                return false;
        return true;
}

/* ---- image streams: payload files and tag files, read by libisofs ---- */

struct build;

struct src {
        struct build *b;
        ino_t ino;          /* our stream id: fixes the order of data in the image */
        const char *path;   /* payload file on disk, or NULL for a tag file */
        const uint8_t *mem; /* tag file bytes */
        uint64_t size;
        const uint8_t *want; /* payload: expected SHA-256 */
        const char *disc_path;
        /* while open */
        int fd;
        uint64_t pos;      /* bytes handed to libisofs */
        uint64_t file_pos; /* bytes read from the file and hashed */
        EVP_MD_CTX *md;
        uint8_t *rbuf;
        size_t rlen, roff;
        bool checked;
};

struct build {
        const struct evd_disc_spec *spec;
        struct src *srcs;
        size_t nsrc;
        atomic_bool failed;
        int fail_code;
        char fail_text[EVD_ERR_TEXT_MAX];
};

/* Record the first failure seen in the libisofs writer thread. */
__attribute__((format(printf, 3, 4))) static void build_fail(struct build *b, int code,
                                                             const char *fmt, ...)
{
        va_list ap;

        if (atomic_load(&b->failed))
                return;
        b->fail_code = code;
        va_start(ap, fmt);
        (void)vsnprintf(b->fail_text, sizeof(b->fail_text), fmt, ap);
        va_end(ap);
        atomic_store(&b->failed, true);
}

static void src_release(struct src *s)
{
        if (s->fd >= 0)
                (void)close(s->fd);
        s->fd = -1;
        EVP_MD_CTX_free(s->md);
        s->md = NULL;
        free(s->rbuf);
        s->rbuf = NULL;
}

static int src_open(IsoStream *stream)
{
        struct src *s = stream->data;
        struct stat st;

        s->pos = s->file_pos = 0;
        s->rlen = s->roff = 0;
        s->checked = false;
        if (!s->path)
                return ISO_SUCCESS;
        src_release(s);
        s->fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (s->fd < 0) {
                build_fail(s->b, -errno, "%s: cannot open %s: %s", s->disc_path, s->path,
                           strerror(errno));
                return ISO_FILE_CANT_WRITE;
        }
        if (fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != s->size) {
                build_fail(s->b, -EBADMSG, "%s: %s is %lld bytes, the catalog says %" PRIu64,
                           s->disc_path, s->path, (long long)st.st_size, s->size);
                src_release(s);
                return ISO_FILE_CANT_WRITE;
        }
        (void)posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        s->md = EVP_MD_CTX_new();
        s->rbuf = malloc(READ_CHUNK);
        if (!s->md || !s->rbuf || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
                build_fail(s->b, -ENOMEM, "out of memory");
                src_release(s);
                return ISO_OUT_OF_MEM;
        }
        return ISO_SUCCESS;
}

/* Read the next chunk of the payload file, hash it, and check the hash at the end. */
static int src_refill(struct src *s)
{
        size_t want =
                s->size - s->file_pos < READ_CHUNK ? (size_t)(s->size - s->file_pos) : READ_CHUNK;
        ssize_t n = evd_read_full(s->fd, s->rbuf, want);

        if (n < 0) {
                build_fail(s->b, (int)n, "%s: read error in %s: %s", s->disc_path, s->path,
                           strerror((int)-n));
                return -1;
        }
        if ((size_t)n < want) {
                build_fail(s->b, -EBADMSG, "%s: %s ended after %" PRIu64 " of %" PRIu64 " bytes",
                           s->disc_path, s->path, s->file_pos + (uint64_t)n, s->size);
                return -1;
        }
        if (EVP_DigestUpdate(s->md, s->rbuf, (size_t)n) != 1) {
                build_fail(s->b, -EIO, "SHA-256 failed");
                return -1;
        }
        s->file_pos += (uint64_t)n;
        s->rlen = (size_t)n;
        s->roff = 0;
        if (s->file_pos == s->size) {
                uint8_t got[EVP_MAX_MD_SIZE];
                unsigned int glen = 0;

                if (EVP_DigestFinal_ex(s->md, got, &glen) != 1 || glen != EVD_SHA256_LEN) {
                        build_fail(s->b, -EIO, "SHA-256 failed");
                        return -1;
                }
                if (memcmp(got, s->want, EVD_SHA256_LEN) != 0) {
                        char hg[EVD_SHA256_HEX], hw[EVD_SHA256_HEX];

                        evd_hex(got, EVD_SHA256_LEN, hg);
                        evd_hex(s->want, EVD_SHA256_LEN, hw);
                        build_fail(s->b, -EBADMSG,
                                   "%s: %s has SHA-256 %s, the catalog says %s: not exported",
                                   s->disc_path, s->path, hg, hw);
                        return -1;
                }
                s->checked = true;
        }
        return 0;
}

static int src_read(IsoStream *stream, void *buf, size_t count)
{
        struct src *s = stream->data;
        size_t done = 0;

        if (atomic_load(&s->b->failed))
                return ISO_CANCELED;
        if (!s->path) {
                size_t n = s->size - s->pos < count ? (size_t)(s->size - s->pos) : count;

                memcpy(buf, s->mem + s->pos, n);
                s->pos += n;
                return (int)n;
        }
        while (done < count && s->pos < s->size) {
                size_t n;

                if (s->roff == s->rlen && src_refill(s) < 0)
                        return ISO_FILE_READ_ERROR;
                n = s->rlen - s->roff < count - done ? s->rlen - s->roff : count - done;
                memcpy((uint8_t *)buf + done, s->rbuf + s->roff, n);
                s->roff += n;
                s->pos += n;
                done += n;
        }
        return (int)done;
}

static int src_close(IsoStream *stream)
{
        struct src *s = stream->data;

        if (s->path && !s->checked && !atomic_load(&s->b->failed))
                build_fail(s->b, -EIO, "%s: %s was not read to its end", s->disc_path, s->path);
        src_release(s);
        return ISO_SUCCESS;
}

static off_t src_get_size(IsoStream *stream)
{
        return (off_t)((struct src *)stream->data)->size;
}

static int src_is_repeatable(IsoStream *stream)
{
        (void)stream;
        return 1;
}

static void src_get_id(IsoStream *stream, unsigned int *fs_id, dev_t *dev_id, ino_t *ino_id)
{
        *fs_id = EVD_FS_ID;
        *dev_id = 0;
        *ino_id = ((struct src *)stream->data)->ino;
}

static void src_free(IsoStream *stream)
{
        (void)stream; /* struct src belongs to the build */
}

static int src_update_size(IsoStream *stream)
{
        (void)stream;
        return ISO_SUCCESS;
}

static IsoStream *src_get_input_stream(IsoStream *stream, int flag)
{
        (void)stream;
        (void)flag;
        return NULL;
}

static int src_clone(IsoStream *old_stream, IsoStream **new_stream, int flag)
{
        (void)old_stream;
        (void)new_stream;
        (void)flag;
        return ISO_STREAM_NO_CLONE;
}

static IsoStreamIface src_class = {
        .version = 4,
        .type = { 'u', 's', 'e', 'r' },
        .open = src_open,
        .close = src_close,
        .get_size = src_get_size,
        .read = src_read,
        .is_repeatable = src_is_repeatable,
        .get_id = src_get_id,
        .free = src_free,
        .update_size = src_update_size,
        .get_input_stream = src_get_input_stream,
        .cmp_ino = NULL,
        .clone_stream = src_clone,
};

/* Add one file node under dir; libisofs takes the stream's reference. */
static int add_file(IsoDir *dir, const char *name, struct src *s)
{
        IsoStream *stream = malloc(sizeof(*stream));
        IsoFile *file;
        int r;

        if (!stream)
                return ISO_OUT_OF_MEM;
        stream->class = &src_class;
        stream->refcount = 1;
        stream->data = s;
        r = iso_tree_add_new_file(dir, name, stream, &file);
        if (r < 0)
                iso_stream_unref(stream);
        /* On success the new file node holds the stream's only reference. */
        return r; /* NOLINT(clang-analyzer-unix.Malloc) */
}

static int iso_fail(struct evd_err *err, int code, const char *what, int iso_code)
{
        return evd_err_set(err, code, "%s: %s", what, iso_error_to_msg(iso_code));
}

/* Find or make data/<dir> for a payload path "data/<dir>/<name>". */
static int data_subdir(IsoDir *data, const char *disc_path, IsoDir **ret_dir, const char **ret_name)
{
        const char *rec = disc_path + 5, *slash = strchr(rec, '/');
        char dname[EVD_DISC_NAME_BYTES + 1];
        IsoNode *node = NULL;
        size_t len;
        int r;

        if (!slash || (len = (size_t)(slash - rec)) > EVD_DISC_NAME_BYTES)
                return ISO_WRONG_ARG_VALUE;
        memcpy(dname, rec, len);
        dname[len] = '\0';
        r = iso_dir_get_node(data, dname, &node);
        if (r == 1 && node && iso_node_get_type(node) == LIBISO_DIR) {
                *ret_dir = (IsoDir *)node;
        } else {
                r = iso_tree_add_new_dir(data, dname, ret_dir);
                if (r < 0)
                        return r;
        }
        *ret_name = slash + 1;
        return ISO_SUCCESS;
}

static void set_write_opts(IsoWriteOpts *o, time_t t)
{
        struct tm tm;
        char uuid[17] = "";

        (void)iso_write_opts_set_iso_level(o, 3);
        (void)iso_write_opts_set_rockridge(o, 1);
        (void)iso_write_opts_set_joliet(o, 1);
        (void)iso_write_opts_set_joliet_longer_paths(o, 1);
        (void)iso_write_opts_set_joliet_long_names(o, 1);
        (void)iso_write_opts_set_output_charset(o, "UTF-8");
        (void)iso_write_opts_set_hardlinks(o, 0);
        /* Rock Ridge 1.10 (as mkisofs writes it) without file serial numbers: libisofs
         * numbers directories in the order of their addresses in memory, which would
         * make two builds in one process differ. Every reader we know takes 1.10. */
        (void)iso_write_opts_set_rrip_version_1_10(o, 1);
        (void)iso_write_opts_set_rrip_1_10_px_ino(o, 0);
        (void)iso_write_opts_set_aaip(o, 0);
        (void)iso_write_opts_set_record_md5(o, 0, 0);
        (void)iso_write_opts_set_replace_mode(o, 2, 2, 2, 2);
        /* Directories writable by their owner: an unpacked tree ("." included, which
         * bsdtar gives the root's mode) can be cleaned up without chmod. */
        (void)iso_write_opts_set_default_dir_mode(o, S_IFDIR | 0755);
        (void)iso_write_opts_set_default_file_mode(o, S_IFREG | 0444);
        (void)iso_write_opts_set_default_uid(o, 0);
        (void)iso_write_opts_set_default_gid(o, 0);
        (void)iso_write_opts_set_replace_timestamps(o, 2);
        (void)iso_write_opts_set_default_timestamp(o, t);
        (void)iso_write_opts_set_dir_rec_mtime(o, 7);
        (void)iso_write_opts_set_always_gmt(o, 1);
        if (gmtime_r(&t, &tm))
                (void)strftime(uuid, sizeof(uuid), "%Y%m%d%H%M%S00", &tm);
        (void)iso_write_opts_set_pvd_times(o, t, t, 0, 0, uuid);
        (void)iso_write_opts_set_fifo_size(o, FIFO_BLOCKS);
}

static int exists_fail(struct evd_err *err, const char *out_path)
{
        return evd_err_set(err, -EEXIST, "%s exists already; an image never replaces a file",
                           out_path);
}

/* Pull the image out of the burn source, hash it and write it to fd, IMAGE_CHUNK bytes
 * at a time: small enough to stay in the CPU cache between the copy out of libisofs,
 * the hash and the write (1 MiB writes cost three times the system time here).
 *
 * Reads are whole 2048-byte blocks and never go past the size libisofs announced. The
 * burn source drops a request it cannot fill completely when the image ends
 * (TESTING.md: 64 KiB reads silently lost an image's tail): asking for no more than
 * what remains avoids that, and an image shorter or longer than announced is an error
 * here, never silent. Reading one block at a time instead costs a lock hand-off with
 * the writer thread per 2048 bytes and made exports 2.6 times slower. */
static int pump_image(struct build *b, struct burn_source *bs, uint64_t size, int fd,
                      uint8_t ret_sha[EVD_SHA256_LEN], struct evd_err *err)
{
        const struct evd_disc_spec *spec = b->spec;
        uint8_t *chunk = malloc(IMAGE_CHUNK);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint64_t done = 0, next_progress = 0;
        unsigned char tail[EVD_DISC_BLOCK];
        unsigned int mdlen = 0;
        int r = 0, st;

        if (!chunk || !md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        while (done < size) {
                size_t want = size - done < IMAGE_CHUNK ? (size_t)(size - done) : IMAGE_CHUNK;
                int n = bs->read_xt(bs, chunk, (int)want);

                if (n < 0 || (size_t)n != want || atomic_load(&b->failed))
                        break;
                if (EVP_DigestUpdate(md, chunk, want) != 1) {
                        r = evd_err_set(err, -EIO, "SHA-256 failed");
                        goto out;
                }
                r = evd_write_full(fd, chunk, want);
                if (r < 0) {
                        r = evd_err_set(err, r, "writing the image: %s", strerror(-r));
                        goto out;
                }
                done += want;
                if (spec->cancel && atomic_load(spec->cancel)) {
                        r = evd_err_set(err, -ECANCELED, "export cancelled");
                        goto out;
                }
                if (spec->progress && (done >= next_progress || done == size)) {
                        spec->progress(spec->progress_ctx, done, size);
                        next_progress = done + PROGRESS_EVERY;
                }
        }
        if (atomic_load(&b->failed)) {
                r = evd_err_set(err, b->fail_code, "%s", b->fail_text);
                goto out;
        }
        if (done != size) {
                r = evd_err_set(err, -EIO,
                                "image generation stopped after %" PRIu64 " of %" PRIu64 " bytes",
                                done, size);
                goto out;
        }
        /* Wait for the writer thread to close the stream, then ask how it ended. */
        if (bs->read_xt(bs, tail, EVD_DISC_BLOCK) != 0) {
                r = evd_err_set(err, -EIO, "image longer than announced");
                goto out;
        }
        st = iso_ring_buffer_get_status(bs, NULL, NULL);
        if (st == 3 || st == 7 || atomic_load(&b->failed)) {
                r = evd_err_set(err, b->fail_code ? b->fail_code : -EIO, "%s",
                                b->fail_text[0] ? b->fail_text : "image generation failed");
                goto out;
        }
        if (EVP_DigestFinal_ex(md, ret_sha, &mdlen) != 1 || mdlen != EVD_SHA256_LEN)
                r = evd_err_set(err, -EIO, "SHA-256 failed");
out:
        EVP_MD_CTX_free(md);
        free(chunk);
        return r;
}

static int validate_spec(const struct evd_disc_spec *spec, struct evd_err *err)
{
        uint64_t tag_bytes = 0;

        if (!spec->keys)
                return evd_err_set(err, -EINVAL, "no signing key");
        if (spec->n_items > EVD_DISC_ITEMS_MAX)
                return evd_err_set(err, -E2BIG, "%zu files: at most %d per volume", spec->n_items,
                                   EVD_DISC_ITEMS_MAX);
        if ((spec->volume_count == 0) != (spec->volume_no == 0) ||
            spec->volume_no > spec->volume_count)
                return evd_err_set(err, -EINVAL, "bad volume number %u of %u", spec->volume_no,
                                   spec->volume_count);
        if (spec->n_tags > EVD_DISC_TAGS_MAX)
                return evd_err_set(err, -E2BIG, "more than %d tag files", EVD_DISC_TAGS_MAX);
        for (size_t i = 0; i < spec->n_items; i++)
                if (!spec->items[i].src_path)
                        return evd_err_set(err, -EINVAL, "item %zu has no source", i + 1);
        for (size_t i = 0; i < spec->n_tags; i++) {
                const struct evd_disc_tag *t = &spec->tags[i];

                if (!t->name || !tag_name_ok(t->name))
                        return evd_err_set(err, -EINVAL, "bad tag file name %s",
                                           t->name ? t->name : "(null)");
                for (size_t k = 0; k < i; k++)
                        if (fold_eq(t->name, spec->tags[k].name))
                                return evd_err_set(err, -EINVAL, "tag file %s given twice",
                                                   t->name);
                if (t->len && !t->data)
                        return evd_err_set(err, -EINVAL, "tag file %s has no data", t->name);
                tag_bytes += t->len;
                if (tag_bytes > EVD_DISC_TAG_BYTES_MAX)
                        return evd_err_set(err, -EFBIG, "tag files larger than %u bytes",
                                           EVD_DISC_TAG_BYTES_MAX);
        }
        return 0;
}

static bool caller_has_tag(const struct evd_disc_spec *spec, const char *name)
{
        for (size_t i = 0; i < spec->n_tags; i++)
                if (fold_eq(spec->tags[i].name, name))
                        return true;
        return false;
}

static void add_tag(struct tagfile *tags, size_t *n, const char *name, const void *data, size_t len)
{
        struct tagfile *t = &tags[(*n)++];

        (void)snprintf(t->name, sizeof(t->name), "%s", name);
        t->data = data;
        t->len = len;
}

static int tag_sha(const struct tagfile *t, char hex[EVD_SHA256_HEX])
{
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        if (EVP_Digest(t->data ? t->data : (const uint8_t *)"", t->len, md, &n, EVP_sha256(),
                       NULL) != 1)
                return -EIO;
        evd_hex(md, EVD_SHA256_LEN, hex);
        return 0;
}

int evd_disc_build(const struct evd_disc_spec *spec, const char *out_path,
                   struct evd_disc_result *ret, struct evd_err *err)
{
        struct evd_buf bagit = { .max = 4096 }, info = { .max = 1u << 20 };
        struct evd_buf manifest = { .max = 256u << 20 }, readme = { .max = 1u << 20 };
        struct evd_buf items_json = { .max = 256u << 20 }, tagman = { .max = 1u << 20 };
        struct tagfile tags[EVD_DISC_TAGS_MAX + 8];
        struct build b = { .spec = spec };
        char volid[EVD_DISC_VOLID_MAX + 1], fpr[EVD_SHA256_HEX], hex[EVD_SHA256_HEX];
        char tmp[PATH_BUF];
        uint8_t *sig = NULL, image_sha[EVD_SHA256_LEN];
        size_t ntags = 0, sig_len = 0, cert_len = 0;
        const char *cert_pem;
        uint64_t oxum = 0, size = 0;
        IsoImage *image = NULL;
        IsoWriteOpts *opts = NULL;
        struct burn_source *bs = NULL;
        IsoDir *root, *data;
        bool entered = false, nowtime = false, tmp_made = false, named = false;
        time_t t = (time_t)spec->extraction_time;
        struct stat st;
        int fd = -1, r;

        r = validate_spec(spec, err);
        if (r < 0)
                return r;
        if (evd_snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", out_path) < 0)
                return evd_err_set(err, -ENAMETOOLONG, "%s: path too long", out_path);
        /* Fail early; the publish at the end refuses to replace it anyway. */
        if (lstat(out_path, &st) == 0)
                return exists_fail(err, out_path);
        r = evd_disc_assign_names(spec->items, spec->n_items, err);
        if (r < 0)
                return r;
        evd_disc_volume_id(spec->volume_id ? spec->volume_id : "", volid);
        evd_keys_fingerprint(evd_keys_cert(spec->keys), fpr);
        cert_pem = evd_keys_cert_pem(spec->keys, &cert_len);

        /* The bag's text files. */
        (void)evd_buf_str(&bagit, "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n");
        for (size_t i = 0; i < spec->n_items; i++) {
                const struct evd_disc_item *it = &spec->items[i];

                evd_hex(it->sha256, EVD_SHA256_LEN, hex);
                (void)evd_buf_printf(&manifest, "%s  %s\n", hex, it->disc_path);
                if (it->size > UINT64_MAX - oxum) {
                        r = evd_err_set(err, -EOVERFLOW, "payload too large");
                        goto out;
                }
                oxum += it->size;
        }
        r = make_bag_info(&info, spec, oxum, err);
        if (r < 0)
                goto out;
        if (!caller_has_tag(spec, "README.txt"))
                make_readme(&readme, spec, volid, fpr);
        if (!caller_has_tag(spec, "items.json"))
                make_items_json(&items_json, spec);
        r = bagit.error      ? bagit.error
            : manifest.error ? manifest.error
            : info.error     ? info.error
            : readme.error   ? readme.error
                             : items_json.error;
        if (r < 0) {
                r = evd_err_set(err, r, "tag files too large or out of memory");
                goto out;
        }

        add_tag(tags, &ntags, "bagit.txt", bagit.data, bagit.len);
        add_tag(tags, &ntags, "bag-info.txt", info.data, info.len);
        add_tag(tags, &ntags, "manifest-sha256.txt", manifest.data, manifest.len);
        if (readme.data)
                add_tag(tags, &ntags, "README.txt", readme.data, readme.len);
        if (items_json.data)
                add_tag(tags, &ntags, "items.json", items_json.data, items_json.len);
        add_tag(tags, &ntags, EVD_DISC_CERT_FILE, cert_pem, cert_len);
        for (size_t i = 0; i < spec->n_tags; i++)
                add_tag(tags, &ntags, spec->tags[i].name, spec->tags[i].data, spec->tags[i].len);
        for (size_t i = 0; i < ntags; i++) {
                if (tag_sha(&tags[i], hex) < 0) {
                        r = evd_err_set(err, -EIO, "SHA-256 failed");
                        goto out;
                }
                (void)evd_buf_printf(&tagman, "%s  %s\n", hex, tags[i].name);
        }
        if (tagman.error) {
                r = evd_err_set(err, tagman.error, "out of memory");
                goto out;
        }
        r = evd_keys_cms_sign(spec->keys, tagman.data, tagman.len, &sig, &sig_len, err);
        if (r < 0)
                goto out;
        add_tag(tags, &ntags, "tagmanifest-sha256.txt", tagman.data, tagman.len);
        add_tag(tags, &ntags, EVD_DISC_SIGNATURE_FILE, sig, sig_len);

        /* The file system tree: tag files first on the disc, then the recordings. */
        b.nsrc = ntags + spec->n_items;
        b.srcs = calloc(b.nsrc, sizeof(*b.srcs));
        if (!b.srcs) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < b.nsrc; i++) {
                struct src *s = &b.srcs[i];

                s->b = &b;
                s->ino = (ino_t)(i + 1);
                s->fd = -1;
                if (i < ntags) {
                        s->mem = tags[i].data;
                        s->size = tags[i].len;
                        s->disc_path = tags[i].name;
                } else {
                        const struct evd_disc_item *it = &spec->items[i - ntags];

                        s->path = it->src_path;
                        s->size = it->size;
                        s->want = it->sha256;
                        s->disc_path = it->disc_path;
                }
        }

        r = disc_enter(err);
        if (r < 0)
                goto out;
        entered = true;
        /* libisofs stamps new nodes and the image with "now": make it the extraction
         * time, so that nothing of the wall clock gets into the image. */
        (void)iso_nowtime(&t, 1);
        nowtime = true;
        r = iso_image_new(volid, &image);
        if (r < 0) {
                r = iso_fail(err, -ENOMEM, "libisofs", r);
                goto out;
        }
        iso_image_set_ignore_aclea(image, 3);
        iso_image_set_application_id(image, "EVIDOCK");
        iso_image_set_data_preparer_id(image, "EVIDOCK");
        root = iso_image_get_root(image);
        r = iso_tree_add_new_dir(root, "data", &data);
        for (size_t i = 0; r >= 0 && i < b.nsrc; i++) {
                struct src *s = &b.srcs[i];
                IsoDir *parent = root;
                const char *name = s->disc_path;

                if (s->path)
                        r = data_subdir(data, s->disc_path, &parent, &name);
                if (r >= 0)
                        r = add_file(parent, name, s);
                if (r < 0) {
                        char shown[EVD_NAME_ESCAPED_MAX(EVD_DISC_PATH_MAX)];

                        (void)evd_name_escape(s->disc_path, strlen(s->disc_path), shown,
                                              sizeof(shown));
                        r = iso_fail(err, -EINVAL, shown, r);
                        goto out;
                }
        }
        if (r < 0) {
                r = iso_fail(err, -EIO, "libisofs", r);
                goto out;
        }
        r = iso_write_opts_new(&opts, 0);
        if (r < 0) {
                r = iso_fail(err, -ENOMEM, "libisofs", r);
                goto out;
        }
        set_write_opts(opts, t);

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                r = evd_err_set(err, r, "%s: %s", tmp, strerror(-r));
                goto out;
        }
        tmp_made = true;
        (void)fchmod(fd, 0644);
        r = iso_image_create_burn_source(image, opts, &bs);
        if (r < 0) {
                bs = NULL;
                r = iso_fail(err, -EIO, "libisofs cannot lay out the image", r);
                goto out;
        }
        size = (uint64_t)bs->get_size(bs);
        if (size % EVD_DISC_BLOCK != 0) {
                r = evd_err_set(err, -EIO, "libisofs announced %" PRIu64 " bytes", size);
                goto out;
        }
        if (spec->capacity && size > spec->capacity) {
                r = evd_err_set(err, -EFBIG,
                                "the image would be %" PRIu64 " bytes; the medium holds %" PRIu64,
                                size, spec->capacity);
                goto out;
        }
        r = pump_image(&b, bs, size, fd, image_sha, err);
        if (r < 0)
                goto out;
        bs->free_data(bs);
        free(bs);
        bs = NULL;
        if (fsync(fd) < 0) {
                r = -errno;
                r = evd_err_set(err, r, "%s: fsync: %s", tmp, strerror(-r));
                goto out;
        }
        r = close(fd) < 0 ? -errno : 0;
        fd = -1;
        if (r == 0)
                r = evd_publish(AT_FDCWD, tmp, out_path, &named);
        if (named)
                tmp_made = false;
        if (r < 0) {
                r = r == -EEXIST ? exists_fail(err, out_path)
                                 : evd_err_set(err, r, "%s: %s", out_path, strerror(-r));
                goto out;
        }
        if (ret) {
                memcpy(ret->sha256, image_sha, EVD_SHA256_LEN);
                ret->size = size;
                memcpy(ret->volume_id, volid, sizeof(volid));
        }
        r = 0;
out:
        if (bs) {
                /* Stops the writer thread and waits for it. */
                atomic_store(&b.failed, true);
                if (bs->cancel)
                        (void)bs->cancel(bs);
                bs->free_data(bs);
                free(bs);
        }
        if (fd >= 0)
                (void)close(fd);
        if (tmp_made)
                (void)unlink(tmp);
        iso_write_opts_free(opts);
        if (image)
                iso_image_unref(image);
        if (nowtime) {
                time_t dummy = 0;

                (void)iso_nowtime(&dummy, 2);
        }
        if (entered)
                disc_leave();
        for (size_t i = 0; b.srcs && i < b.nsrc; i++)
                src_release(&b.srcs[i]);
        free(b.srcs);
        free(sig);
        evd_buf_free(&bagit);
        evd_buf_free(&info);
        evd_buf_free(&manifest);
        evd_buf_free(&readme);
        evd_buf_free(&items_json);
        evd_buf_free(&tagman);
        return r;
}

/* ---- checking a disc ---- */

struct vfile {
        char *path;    /* path in the image, "a/b/c" */
        IsoFile *file; /* NULL when not a regular file */
        uint64_t size;
        bool listed; /* named by a manifest or the tag manifest */
};

struct mentry {
        char *path;
        uint8_t sha256[EVD_SHA256_LEN];
};

struct verify {
        struct mentry *tman; /* tag manifest entries: their absence is reported already */
        size_t ntman;
        struct vfile *files;
        size_t n, cap;
        evd_disc_verify_cb cb;
        void *ctx;
        struct evd_disc_summary *sum;
        char first[EVD_ERR_TEXT_MAX];
        uint8_t *io;
        bool too_many;
};

__attribute__((format(printf, 4, 5))) static void
verdict(struct verify *v, const char *path, enum evd_disc_verdict vd, const char *fmt, ...)
{
        char detail[EVD_ERR_TEXT_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        if (vd != EVD_DISC_OK) {
                v->sum->problems++;
                if (!v->first[0]) {
                        char shown[EVD_NAME_ESCAPED_MAX(128)];

                        (void)evd_name_escape(path, strlen(path), shown, sizeof(shown));
                        /* A message cut short is still worth showing. */
                        (void)evd_snprintf(v->first, sizeof(v->first), "%s: %s", shown, detail);
                }
        }
        if (v->cb)
                v->cb(v->ctx, path, vd, detail);
}

static int vfile_cmp(const void *a, const void *b)
{
        return strcmp(((const struct vfile *)a)->path, ((const struct vfile *)b)->path);
}

static struct vfile *vfile_find(struct verify *v, const char *path)
{
        struct vfile key = { .path = (char *)path };

        if (v->n == 0)
                return NULL;
        return bsearch(&key, v->files, v->n, sizeof(*v->files), vfile_cmp);
}

static int vfile_add(struct verify *v, const char *path, IsoFile *file)
{
        if (v->n == EVD_DISC_VERIFY_FILES_MAX) {
                v->too_many = true;
                return -E2BIG;
        }
        if (v->n == v->cap) {
                size_t cap = v->cap ? 2 * v->cap : 256;
                struct vfile *f = realloc(v->files, cap * sizeof(*f));

                if (!f)
                        return -ENOMEM;
                v->files = f;
                v->cap = cap;
        }
        v->files[v->n].path = strdup(path);
        if (!v->files[v->n].path)
                return -ENOMEM;
        v->files[v->n].file = file;
        v->files[v->n].size = file ? (uint64_t)iso_file_get_size(file) : 0;
        v->files[v->n].listed = false;
        v->n++;
        return 0;
}

/* Collect every non-directory node below dir; prefix is its path ("" for the root). */
static int walk(struct verify *v, IsoDir *dir, const char *prefix, int depth)
{
        IsoDirIter *it = NULL;
        IsoNode *node;
        char path[PATH_BUF];
        int r = 0;

        if (iso_dir_get_children(dir, &it) < 0)
                return -ENOMEM;
        while (r == 0 && iso_dir_iter_next(it, &node) == 1) {
                const char *name = iso_node_get_name(node);
                enum IsoNodeType type = iso_node_get_type(node);

                if (evd_snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "/" : "", name) <
                    0) {
                        verdict(v, prefix, EVD_DISC_BAD, "a path below it is too long");
                        continue;
                }
                if (type == LIBISO_DIR) {
                        if (depth >= DEPTH_MAX)
                                verdict(v, path, EVD_DISC_BAD, "directories nested too deep");
                        else
                                r = walk(v, (IsoDir *)node, path, depth + 1);
                } else {
                        r = vfile_add(v, path, type == LIBISO_FILE ? (IsoFile *)node : NULL);
                }
        }
        iso_dir_iter_free(it);
        return r;
}

/* Stream a file of the image: hash it, and keep up to max bytes of it in *ret_data
 * when ret_data is not NULL (then a larger file is an error). */
static int read_vfile(struct verify *v, const struct vfile *f, uint8_t ret_sha[EVD_SHA256_LEN],
                      uint8_t **ret_data, size_t *ret_len, size_t max, char *why, size_t whysz)
{
        IsoStream *st = iso_file_get_stream(f->file);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint8_t *data = NULL;
        uint64_t total = 0;
        unsigned int mdlen = 0;
        int r = 0, n;

        if (!md)
                return -ENOMEM;
        if (ret_data) {
                if (f->size > max) {
                        EVP_MD_CTX_free(md);
                        (void)snprintf(why, whysz, "larger than %zu bytes", max);
                        return -EFBIG;
                }
                data = malloc((size_t)f->size + 1);
                if (!data) {
                        EVP_MD_CTX_free(md);
                        return -ENOMEM;
                }
        }
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                r = -EIO;
                goto out;
        }
        n = iso_stream_open(st);
        if (n < 0) {
                (void)snprintf(why, whysz, "cannot be opened: %s", iso_error_to_msg(n));
                r = -EIO;
                goto out;
        }
        while ((n = iso_stream_read(st, v->io, READ_CHUNK)) > 0) {
                if (data) {
                        if (total + (uint64_t)n > f->size) {
                                (void)snprintf(why, whysz, "longer than its directory entry");
                                r = -EIO;
                                break;
                        }
                        memcpy(data + total, v->io, (size_t)n);
                }
                if (EVP_DigestUpdate(md, v->io, (size_t)n) != 1) {
                        r = -EIO;
                        break;
                }
                total += (uint64_t)n;
        }
        (void)iso_stream_close(st);
        if (r == 0 && n < 0) {
                (void)snprintf(why, whysz, "read error after %" PRIu64 " bytes: %s", total,
                               iso_error_to_msg(n));
                r = -EIO;
        }
        if (r == 0 && total != f->size) {
                (void)snprintf(why, whysz, "%" PRIu64 " bytes readable of %" PRIu64, total,
                               f->size);
                r = -EIO;
        }
        if (r == 0 && (EVP_DigestFinal_ex(md, ret_sha, &mdlen) != 1 || mdlen != EVD_SHA256_LEN))
                r = -EIO;
        if (r == 0 && ret_data) {
                data[total] = '\0';
                *ret_data = data;
                *ret_len = (size_t)total;
                data = NULL;
        }
out:
        if (r < 0 && !why[0])
                (void)snprintf(why, whysz, "cannot be read");
        free(data);
        EVP_MD_CTX_free(md);
        return r;
}

/* Load a tag file the check needs: NULL (verdict given) when missing or unreadable. */
static uint8_t *load_tag(struct verify *v, const char *name, size_t *ret_len)
{
        struct vfile *f = vfile_find(v, name);
        uint8_t sha[EVD_SHA256_LEN], *data = NULL;
        char why[256] = "";

        if (!f) {
                bool reported = false;

                for (size_t i = 0; i < v->ntman && !reported; i++)
                        reported = strcmp(v->tman[i].path, name) == 0;
                if (!reported)
                        verdict(v, name, EVD_DISC_MISSING, "missing");
                return NULL;
        }
        if (!f->file) {
                verdict(v, name, EVD_DISC_BAD, "not a regular file");
                return NULL;
        }
        if (read_vfile(v, f, sha, &data, ret_len, EVD_DISC_VERIFY_TAG_MAX, why, sizeof(why)) < 0) {
                verdict(v, name, EVD_DISC_BAD, "%s", why);
                return NULL;
        }
        return data;
}

/* A relative path without empty, "." or ".." components. */
static bool rel_path_ok(const char *p)
{
        const char *c = p;

        if (!*p || *p == '/')
                return false;
        while (*c) {
                const char *e = strchr(c, '/');
                size_t len = e ? (size_t)(e - c) : strlen(c);

                if (len == 0 || (len == 1 && c[0] == '.') ||
                    (len == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                if (!e)
                        break;
                c = e + 1;
                if (!*c)
                        return false;
        }
        return true;
}

/* BagIt manifest path: percent-encoded CR, LF and '%' decoded (RFC 8493 2.1.3). */
static char *manifest_path(const char *s, size_t len)
{
        char *out = malloc(len + 1);
        size_t o = 0;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];

                if (c == '%' && i + 2 < len && s[i + 1] == '0' &&
                    (s[i + 2] == 'A' || s[i + 2] == 'a')) {
                        c = '\n';
                        i += 2;
                } else if (c == '%' && i + 2 < len && s[i + 1] == '0' &&
                           (s[i + 2] == 'D' || s[i + 2] == 'd')) {
                        c = '\r';
                        i += 2;
                } else if (c == '%' && i + 2 < len && s[i + 1] == '2' && s[i + 2] == '5') {
                        i += 2;
                }
                out[o++] = c;
        }
        out[o] = '\0';
        return out;
}

static void mentries_free(struct mentry *m, size_t n)
{
        for (size_t i = 0; m && i < n; i++)
                free(m[i].path);
        free(m);
}

/* Parse "<64 hex> <ws> [*]<path>" lines. Malformed lines get a BAD verdict. */
static int parse_manifest(struct verify *v, const char *name, const char *text, size_t len,
                          struct mentry **ret, size_t *ret_n)
{
        struct mentry *m = NULL;
        size_t n = 0, cap = 0, lineno = 0, pos = 0;

        while (pos < len) {
                const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
                size_t ll = nl ? (size_t)(nl - line) : len - pos, h;
                char hex[EVD_SHA256_HEX];

                pos += ll + (nl ? 1 : 0);
                lineno++;
                if (ll && line[ll - 1] == '\r')
                        ll--;
                if (ll == 0)
                        continue;
                if (ll > LINE_MAX_BYTES || ll < EVD_SHA256_HEX + 1 ||
                    (line[EVD_SHA256_HEX - 1] != ' ' && line[EVD_SHA256_HEX - 1] != '\t')) {
                        verdict(v, name, EVD_DISC_BAD, "line %zu is not \"sha256 path\"", lineno);
                        continue;
                }
                memcpy(hex, line, EVD_SHA256_HEX - 1);
                hex[EVD_SHA256_HEX - 1] = '\0';
                h = EVD_SHA256_HEX - 1;
                while (h < ll && (line[h] == ' ' || line[h] == '\t'))
                        h++;
                if (h < ll && line[h] == '*')
                        h++;
                if (n == cap) {
                        size_t nc = cap ? 2 * cap : 64;
                        struct mentry *nm;

                        if (nc > EVD_DISC_VERIFY_FILES_MAX) {
                                verdict(v, name, EVD_DISC_BAD, "more than %d lines",
                                        EVD_DISC_VERIFY_FILES_MAX);
                                break;
                        }
                        nm = realloc(m, nc * sizeof(*nm));
                        if (!nm) {
                                mentries_free(m, n);
                                return -ENOMEM;
                        }
                        m = nm;
                        cap = nc;
                }
                if (h == ll || evd_unhex(hex, m[n].sha256, EVD_SHA256_LEN) < 0) {
                        verdict(v, name, EVD_DISC_BAD, "line %zu is not \"sha256 path\"", lineno);
                        continue;
                }
                m[n].path = manifest_path(line + h, ll - h);
                if (!m[n].path) {
                        mentries_free(m, n);
                        return -ENOMEM;
                }
                n++;
        }
        *ret = m;
        *ret_n = n;
        return 0;
}

/* Check each manifest entry against the file it names. */
static int check_entries(struct verify *v, const char *manifest, struct mentry *m, size_t n,
                         bool payload)
{
        char hx[EVD_SHA256_HEX], hw[EVD_SHA256_HEX];

        for (size_t i = 0; i < n; i++) {
                bool under_data = strncmp(m[i].path, "data/", 5) == 0;
                uint8_t sha[EVD_SHA256_LEN];
                char why[256] = "";
                struct vfile *f;
                int r;

                if (!rel_path_ok(m[i].path) || under_data != payload) {
                        verdict(v, m[i].path, EVD_DISC_BAD, "%s names a path outside %s", manifest,
                                payload ? "data/" : "the tag files");
                        continue;
                }
                f = vfile_find(v, m[i].path);
                if (!f) {
                        verdict(v, m[i].path, EVD_DISC_MISSING, "listed in %s, not on the disc",
                                manifest);
                        continue;
                }
                if (f->listed) {
                        verdict(v, m[i].path, EVD_DISC_BAD, "listed twice in %s", manifest);
                        continue;
                }
                f->listed = true;
                if (!f->file) {
                        verdict(v, m[i].path, EVD_DISC_BAD, "not a regular file");
                        continue;
                }
                r = read_vfile(v, f, sha, NULL, NULL, 0, why, sizeof(why));
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        verdict(v, m[i].path, EVD_DISC_BAD, "%s", why);
                        continue;
                }
                v->sum->files_checked++;
                if (memcmp(sha, m[i].sha256, EVD_SHA256_LEN) != 0) {
                        evd_hex(sha, EVD_SHA256_LEN, hx);
                        evd_hex(m[i].sha256, EVD_SHA256_LEN, hw);
                        verdict(v, m[i].path, EVD_DISC_MISMATCH, "SHA-256 %s differs from %s in %s",
                                hx, hw, manifest);
                } else {
                        verdict(v, m[i].path, EVD_DISC_OK, "SHA-256 matches %s", manifest);
                }
        }
        return 0;
}

/* The value of a bag-info label (first occurrence, continuation lines joined). */
static bool bag_info_value(const char *text, const char *label, char *out, size_t outsz)
{
        size_t ll = strlen(label);

        for (const char *line = text; line && *line;) {
                const char *nl = strchr(line, '\n');

                if (strncasecmp(line, label, ll) == 0 && line[ll] == ':') {
                        const char *val = line + ll + 1;
                        size_t len;

                        while (*val == ' ' || *val == '\t')
                                val++;
                        len = nl ? (size_t)(nl - val) : strlen(val);
                        while (len && (val[len - 1] == '\r' || val[len - 1] == ' '))
                                len--;
                        if (len >= outsz)
                                len = outsz - 1;
                        memcpy(out, val, len);
                        out[len] = '\0';
                        return true;
                }
                line = nl ? nl + 1 : NULL;
        }
        return false;
}

static void check_bagit_txt(struct verify *v)
{
        size_t len = 0;
        uint8_t *t = load_tag(v, "bagit.txt", &len);
        char val[64];

        if (!t)
                return;
        if (!bag_info_value((const char *)t, "BagIt-Version", val, sizeof(val)) ||
            (strcmp(val, "1.0") != 0 && strcmp(val, "0.97") != 0))
                verdict(v, "bagit.txt", EVD_DISC_BAD, "no BagIt-Version 1.0");
        else if (!bag_info_value((const char *)t, "Tag-File-Character-Encoding", val,
                                 sizeof(val)) ||
                 strcasecmp(val, "UTF-8") != 0)
                verdict(v, "bagit.txt", EVD_DISC_BAD, "tag files are not declared UTF-8");
        free(t);
}

static void check_oxum(struct verify *v)
{
        size_t len = 0;
        uint8_t *t = load_tag(v, "bag-info.txt", &len);
        char val[64], have[64];
        uint64_t bytes = 0, count = 0;

        for (size_t i = 0; i < v->n; i++)
                if (strncmp(v->files[i].path, "data/", 5) == 0 && v->files[i].file) {
                        bytes += v->files[i].size;
                        count++;
                }
        v->sum->payload_files = count;
        v->sum->payload_bytes = bytes;
        if (!t)
                return;
        (void)snprintf(have, sizeof(have), "%" PRIu64 ".%" PRIu64, bytes, count);
        if (!bag_info_value((const char *)t, "Payload-Oxum", val, sizeof(val)))
                verdict(v, "bag-info.txt", EVD_DISC_BAD, "no Payload-Oxum");
        else if (strcmp(val, have) != 0)
                verdict(v, "bag-info.txt", EVD_DISC_MISMATCH,
                        "Payload-Oxum says %s (bytes.files) but data/ holds %s", val, have);
        free(t);
}

static void check_signature(struct verify *v, X509 *given)
{
        struct evd_disc_summary *sum = v->sum;
        uint8_t *sig, *tm, *pem = NULL;
        size_t sig_len = 0, tm_len = 0, pem_len = 0;
        X509 *trusted = given, *embedded = NULL;
        struct evd_err e = { 0 };

        sig = load_tag(v, EVD_DISC_SIGNATURE_FILE, &sig_len);
        if (!sig)
                return;
        tm = vfile_find(v, "tagmanifest-sha256.txt")
                     ? load_tag(v, "tagmanifest-sha256.txt", &tm_len)
                     : NULL;
        if (!tm) {
                verdict(v, EVD_DISC_SIGNATURE_FILE, EVD_DISC_BAD,
                        "nothing to check: tagmanifest-sha256.txt unreadable");
                goto out;
        }
        if (!given) {
                pem = load_tag(v, EVD_DISC_CERT_FILE, &pem_len);
                if (!pem || evd_keys_cert_parse(pem, pem_len, &embedded, &e) < 0) {
                        verdict(v, EVD_DISC_SIGNATURE_FILE, EVD_DISC_BAD,
                                "no usable station-cert.pem on the disc and no certificate "
                                "given");
                        goto out;
                }
                trusted = embedded;
        }
        sum->cert_source = given ? EVD_DISC_CERT_GIVEN : EVD_DISC_CERT_EMBEDDED;
        evd_keys_fingerprint(trusted, sum->cert_sha256);
        if (evd_keys_cms_verify(sig, sig_len, tm, tm_len, trusted, sum->signer, &e) < 0) {
                verdict(v, EVD_DISC_SIGNATURE_FILE, EVD_DISC_MISMATCH, "%s (certificate %s)",
                        e.text, given ? "given" : "on the disc");
                (void)evd_snprintf(sum->note, sizeof(sum->note),
                                   "signature does not verify against the %s certificate "
                                   "(SHA-256 %s)",
                                   given ? "given" : "disc's own", sum->cert_sha256);
                goto out;
        }
        sum->signature_ok = true;
        if (given)
                (void)evd_snprintf(sum->note, sizeof(sum->note),
                                   "signed by %s, checked against the certificate you gave "
                                   "(SHA-256 %s)",
                                   sum->signer, sum->cert_sha256);
        else
                (void)evd_snprintf(
                        sum->note, sizeof(sum->note),
                        "signature valid, but checked only against the certificate on "
                        "the disc itself (%s, SHA-256 %s): this proves the disc unchanged "
                        "since it was signed, not who signed it; give the station's "
                        "certificate to prove that",
                        sum->signer, sum->cert_sha256);
        verdict(v, EVD_DISC_SIGNATURE_FILE, EVD_DISC_OK, "%s", sum->note);
out:
        X509_free(embedded);
        free(pem);
        free(tm);
        free(sig);
}

/* ---- the Joliet tree ----
 *
 * An image holds two sets of directory records over the same file data: the ISO 9660
 * records with their Rock Ridge entries (read by Linux, bsdtar, xorriso, and checked
 * above; DOS-style readers use the same records) and the Joliet records (read by
 * Windows and 7z). A tampered image could point a Joliet name at other data than its
 * Rock Ridge twin, so that Windows users see a file nobody checked: every Joliet file
 * must lie exactly where the checked file of the same path lies, and no other. */

struct extent_list {
        struct iso_file_section *sec; /* malloc'd by libisofs */
        int n;
        uint64_t size;
};

struct tfile {
        char *path;
        struct extent_list ext;
};

struct tree {
        struct tfile *f;
        size_t n, cap;
        bool too_many;
};

static void tree_free(struct tree *t)
{
        for (size_t i = 0; i < t->n; i++) {
                free(t->f[i].path);
                free(t->f[i].ext.sec);
        }
        free(t->f);
        memset(t, 0, sizeof(*t));
}

static int extents_of(IsoFile *file, struct extent_list *ret)
{
        ret->sec = NULL;
        ret->n = 0;
        ret->size = (uint64_t)iso_file_get_size(file);
        if (iso_file_get_old_image_sections(file, &ret->n, &ret->sec, 0) < 0 || ret->n < 0)
                return -EIO;
        if (ret->n == 0) {
                free(ret->sec);
                ret->sec = NULL;
        }
        return 0;
}

/* Same data: the same size in the same blocks. Empty files hold nothing to hide. */
static bool same_extents(const struct extent_list *a, const struct extent_list *b)
{
        if (a->size != b->size)
                return false;
        if (a->size == 0)
                return true;
        if (a->n != b->n)
                return false;
        for (int i = 0; i < a->n; i++)
                if (a->sec[i].block != b->sec[i].block || a->sec[i].size != b->sec[i].size)
                        return false;
        return true;
}

/* Every regular file below dir, with its extents. */
static int tree_walk(struct tree *t, IsoDir *dir, const char *prefix, int depth)
{
        IsoDirIter *it = NULL;
        IsoNode *node;
        char path[PATH_BUF];
        int r = 0;

        if (iso_dir_get_children(dir, &it) < 0)
                return -ENOMEM;
        while (r == 0 && iso_dir_iter_next(it, &node) == 1) {
                enum IsoNodeType type = iso_node_get_type(node);

                if (evd_snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "/" : "",
                                 iso_node_get_name(node)) < 0)
                        continue; /* the Rock Ridge walk reported it */
                if (type == LIBISO_DIR) {
                        if (depth < DEPTH_MAX)
                                r = tree_walk(t, (IsoDir *)node, path, depth + 1);
                        continue;
                }
                if (type != LIBISO_FILE)
                        continue;
                if (t->n == EVD_DISC_VERIFY_FILES_MAX) {
                        t->too_many = true;
                        r = -E2BIG;
                        break;
                }
                if (t->n == t->cap) {
                        size_t cap = t->cap ? 2 * t->cap : 256;
                        struct tfile *f = realloc(t->f, cap * sizeof(*f));

                        if (!f) {
                                r = -ENOMEM;
                                break;
                        }
                        t->f = f;
                        t->cap = cap;
                }
                t->f[t->n].path = strdup(path);
                if (!t->f[t->n].path) {
                        r = -ENOMEM;
                        break;
                }
                if (extents_of((IsoFile *)node, &t->f[t->n].ext) < 0) {
                        free(t->f[t->n].path);
                        r = -EIO;
                        break;
                }
                t->n++;
        }
        iso_dir_iter_free(it);
        return r;
}

/* Import the image again, reading its Joliet tree; *ret_present says whether it has
 * one. */
static int tree_load(IsoDataSource *src, struct tree *ret, bool *ret_present)
{
        IsoReadOpts *o = NULL;
        IsoReadImageFeatures *features = NULL;
        IsoImage *image = NULL;
        int r;

        *ret_present = false;
        r = iso_read_opts_new(&o, 0);
        if (r >= 0)
                r = iso_read_opts_set_no_rockridge(o, 1);
        if (r >= 0)
                r = iso_read_opts_set_preferjoliet(o, 1);
        if (r >= 0)
                r = iso_image_new("EVIDOCK", &image);
        if (r >= 0)
                r = iso_image_import(image, src, o, &features);
        if (r >= 0) {
                *ret_present = iso_read_image_features_has_joliet(features);
                r = *ret_present ? tree_walk(ret, iso_image_get_root(image), "", 0) : 0;
        } else {
                r = -EIO;
        }
        if (features)
                iso_read_image_features_destroy(features);
        if (image)
                iso_image_unref(image);
        if (o)
                iso_read_opts_free(o);
        return r;
}

static int tfile_cmp(const void *a, const void *b)
{
        return strcmp(((const struct tfile *)a)->path, ((const struct tfile *)b)->path);
}

static void check_joliet(struct verify *v, IsoDataSource *src)
{
        struct tree rr = { 0 }, jt = { 0 };
        bool has_joliet = false;
        int r = 0;

        /* The Rock Ridge files, as checked above. */
        for (size_t i = 0; r == 0 && i < v->n; i++) {
                struct tfile *f;

                if (!v->files[i].file)
                        continue;
                if (rr.n == rr.cap) {
                        size_t cap = rr.cap ? 2 * rr.cap : 256;

                        f = realloc(rr.f, cap * sizeof(*f));
                        if (!f) {
                                r = -ENOMEM;
                                break;
                        }
                        rr.f = f;
                        rr.cap = cap;
                }
                f = &rr.f[rr.n];
                f->path = strdup(v->files[i].path);
                if (!f->path || extents_of(v->files[i].file, &f->ext) < 0) {
                        free(f->path);
                        r = -EIO;
                        break;
                }
                rr.n++;
        }
        if (r == 0)
                r = tree_load(src, &jt, &has_joliet);
        if (r < 0) {
                verdict(v, ".", EVD_DISC_BAD, "the Joliet directory tree cannot be read (%s)",
                        r == -E2BIG ? "too many files" : strerror(-r));
                goto out;
        }
        /* rr is in path order (v->files is sorted); jt is sorted here. */
        if (has_joliet) {
                if (jt.n > 1)
                        qsort(jt.f, jt.n, sizeof(*jt.f), tfile_cmp);
                for (size_t i = 0; i < rr.n; i++) {
                        struct tfile *j = bsearch(&rr.f[i], jt.f, jt.n, sizeof(*jt.f), tfile_cmp);

                        if (!j)
                                verdict(v, rr.f[i].path, EVD_DISC_MISSING,
                                        "missing from the Joliet tree (what Windows shows)");
                        else if (!same_extents(&rr.f[i].ext, &j->ext))
                                verdict(v, rr.f[i].path, EVD_DISC_MISMATCH,
                                        "the Joliet tree (what Windows shows) points at other "
                                        "data than the Rock Ridge tree that was checked");
                }
                for (size_t i = 0; i < jt.n; i++)
                        if (!bsearch(&jt.f[i], rr.f, rr.n, sizeof(*rr.f), tfile_cmp))
                                verdict(v, jt.f[i].path, EVD_DISC_EXTRA,
                                        "only in the Joliet tree (what Windows shows), not "
                                        "checked");
        }
out:
        tree_free(&rr);
        tree_free(&jt);
}

int evd_disc_verify(const char *path, const char *cert_path, evd_disc_verify_cb cb, void *ctx,
                    struct evd_disc_summary *ret_summary, struct evd_err *err)
{
        struct evd_disc_summary sum = { 0 };
        struct verify v = { .cb = cb, .ctx = ctx, .sum = &sum };
        struct mentry *man = NULL, *tman = NULL;
        size_t nman = 0, ntman = 0, len;
        IsoDataSource *src = NULL;
        IsoReadOpts *ropts = NULL;
        IsoReadImageFeatures *features = NULL;
        IsoImage *image = NULL;
        X509 *given = NULL;
        uint8_t *text;
        struct stat st;
        bool entered = false;
        int r;

        if (stat(path, &st) < 0) {
                r = -errno;
                return evd_err_set(err, r, "%s: %s", path, strerror(-r));
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return evd_err_set(err, -EINVAL, "%s: not an image file or a block device", path);
        r = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (r < 0) {
                r = -errno;
                return evd_err_set(err, r, "%s: %s", path, strerror(-r));
        }
        (void)close(r);
        if (cert_path) {
                r = evd_keys_cert_load(cert_path, &given, err);
                if (r < 0)
                        return r;
        }
        v.io = malloc(READ_CHUNK);
        if (!v.io) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        r = disc_enter(err);
        if (r < 0)
                goto out;
        entered = true;
        r = iso_data_source_new_from_file(path, &src);
        if (r < 0) {
                r = iso_fail(err, -EIO, path, r);
                src = NULL;
                goto out;
        }
        r = iso_read_opts_new(&ropts, 0);
        if (r >= 0)
                r = iso_read_opts_set_input_charset(ropts, "UTF-8");
        if (r >= 0)
                r = iso_image_new("EVIDOCK", &image);
        if (r < 0) {
                r = iso_fail(err, -ENOMEM, "libisofs", r);
                goto out;
        }
        r = iso_image_import(image, src, ropts, &features);
        if (r < 0) {
                r = iso_fail(err, -EINVAL, "not a readable ISO 9660 image", r);
                goto out;
        }
        (void)snprintf(sum.volume_id, sizeof(sum.volume_id), "%s",
                       iso_image_get_volume_id(image) ? iso_image_get_volume_id(image) : "");

        r = walk(&v, iso_image_get_root(image), "", 0);
        if (r < 0) {
                r = evd_err_set(err, r,
                                v.too_many ? "more than %d files on the disc"
                                           : "out of memory (%d)",
                                EVD_DISC_VERIFY_FILES_MAX);
                goto out;
        }
        if (v.n > 1)
                qsort(v.files, v.n, sizeof(*v.files), vfile_cmp);

        check_bagit_txt(&v);
        text = load_tag(&v, "tagmanifest-sha256.txt", &len);
        if (text) {
                r = parse_manifest(&v, "tagmanifest-sha256.txt", (const char *)text, len, &tman,
                                   &ntman);
                free(text);
                if (r < 0)
                        goto nomem;
                v.tman = tman;
                v.ntman = ntman;
                r = check_entries(&v, "tagmanifest-sha256.txt", tman, ntman, false);
                if (r < 0)
                        goto nomem;
        }
        text = load_tag(&v, "manifest-sha256.txt", &len);
        if (text) {
                r = parse_manifest(&v, "manifest-sha256.txt", (const char *)text, len, &man, &nman);
                free(text);
                if (r < 0)
                        goto nomem;
                r = check_entries(&v, "manifest-sha256.txt", man, nman, true);
                if (r < 0)
                        goto nomem;
        }
        for (size_t i = 0; i < v.n; i++) {
                const struct vfile *f = &v.files[i];
                bool payload = strncmp(f->path, "data/", 5) == 0;

                if (f->listed || strcmp(f->path, "tagmanifest-sha256.txt") == 0 ||
                    strcmp(f->path, EVD_DISC_SIGNATURE_FILE) == 0)
                        continue;
                verdict(&v, f->path, EVD_DISC_EXTRA, "%s%s", f->file ? "" : "not a regular file; ",
                        payload ? "not listed in manifest-sha256.txt"
                                : "not listed in tagmanifest-sha256.txt, so not covered by "
                                  "the signature");
        }
        check_oxum(&v);
        check_signature(&v, given);
        check_joliet(&v, src);

        if (ret_summary)
                *ret_summary = sum;
        if (sum.problems) {
                r = evd_err_set(err, -EBADMSG,
                                "disc check failed, %" PRIu64 " problem%s; first: %s", sum.problems,
                                sum.problems == 1 ? "" : "s", v.first);
                goto out;
        }
        r = 0;
        goto out;
nomem:
        r = evd_err_set(err, -ENOMEM, "out of memory");
out:
        mentries_free(man, nman);
        mentries_free(tman, ntman);
        for (size_t i = 0; i < v.n; i++)
                free(v.files[i].path);
        free(v.files);
        if (features)
                iso_read_image_features_destroy(features);
        if (image)
                iso_image_unref(image);
        if (ropts)
                iso_read_opts_free(ropts);
        if (src)
                iso_data_source_unref(src);
        if (entered)
                disc_leave();
        free(v.io);
        X509_free(given);
        return r;
}
