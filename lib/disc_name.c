/* disc_name: names on disc (disc.h, "Names on disc"): volume ids, recorder directories
 * and file names every reader shows the same. */
#include "disc_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"

#define NAME_IN_MAX 1024 /* bytes of an original name or recorder we accept */
#define EXT_MAX 16       /* characters of an extension kept when shortening */

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

/* ---- volume id ---- */

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

bool evd_disc_fold_eq(const char *a, const char *b)
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
                if (evd_disc_fold_eq(ps->slot[i], s))
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
