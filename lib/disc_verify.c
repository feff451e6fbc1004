/* disc_verify: checking a disc image (disc.h, evd_disc_verify): its files against the
 * bag's manifests, the signature, and the Joliet tree against the checked one. */
#include "disc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "name.h"

#define DEPTH_MAX 16
#define LINE_MAX_BYTES 8192

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
        struct mentry *man; /* manifest entries */
        size_t nman;
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

/* arr (*cap elements of elem bytes, n used) with room for one more: arr itself, or a
 * larger copy (*cap doubled, 256 at first); NULL when out of memory (arr untouched). */
static void *room_for_one(void *arr, size_t n, size_t *cap, size_t elem)
{
        size_t nc;
        void *p;

        if (n < *cap)
                return arr;
        nc = *cap ? 2 * *cap : 256;
        p = realloc(arr, nc * elem);
        if (p)
                *cap = nc;
        return p;
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
        struct vfile *f;

        if (v->n == EVD_DISC_VERIFY_FILES_MAX) {
                v->too_many = true;
                return -E2BIG;
        }
        f = room_for_one(v->files, v->n, &v->cap, sizeof(*v->files));
        if (!f)
                return -ENOMEM;
        v->files = f;
        v->files[v->n].path = strdup(path);
        if (!v->files[v->n].path)
                return -ENOMEM;
        v->files[v->n].file = file;
        v->files[v->n].size = file ? (uint64_t)iso_file_get_size(file) : 0;
        v->files[v->n].listed = false;
        v->n++;
        return 0;
}

/* ---- walking a directory tree ---- */

enum walk_event {
        WALK_NODE,     /* a node that is not a directory */
        WALK_TOO_LONG, /* a path below path would not fit: not entered */
        WALK_TOO_DEEP, /* the directory path nests too deep: not entered */
};

/* Called for each event of a walk; returns 0 to go on, or -errno to stop the walk with
 * that result. node is the node met (NULL for WALK_TOO_LONG); path is valid during the
 * call only. */
typedef int (*walk_visit)(void *ctx, enum walk_event ev, const char *path, IsoNode *node);

/* Visit every node below dir (prefix: its path, "" for the root), depth first, in the
 * order libisofs lists them. */
static int walk(IsoDir *dir, const char *prefix, int depth, walk_visit visit, void *ctx)
{
        IsoDirIter *it = NULL;
        IsoNode *node;
        char path[EVD_DISC_PATH_BUF];
        int r = 0;

        if (iso_dir_get_children(dir, &it) < 0)
                return -ENOMEM;
        while (r == 0 && iso_dir_iter_next(it, &node) == 1) {
                if (evd_snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "/" : "",
                                 iso_node_get_name(node)) < 0)
                        r = visit(ctx, WALK_TOO_LONG, prefix, NULL);
                else if (iso_node_get_type(node) != LIBISO_DIR)
                        r = visit(ctx, WALK_NODE, path, node);
                else if (depth >= DEPTH_MAX)
                        r = visit(ctx, WALK_TOO_DEEP, path, node);
                else
                        r = walk((IsoDir *)node, path, depth + 1, visit, ctx);
        }
        iso_dir_iter_free(it);
        return r;
}

/* The Rock Ridge tree, the one checked: every node that is not a directory, and a BAD
 * verdict for what cannot be walked. */
static int visit_checked(void *ctx, enum walk_event ev, const char *path, IsoNode *node)
{
        struct verify *v = ctx;

        switch (ev) {
        case WALK_TOO_LONG:
                verdict(v, path, EVD_DISC_BAD, "a path below it is too long");
                return 0;
        case WALK_TOO_DEEP:
                verdict(v, path, EVD_DISC_BAD, "directories nested too deep");
                return 0;
        case WALK_NODE:
        default:
                return vfile_add(v, path,
                                 iso_node_get_type(node) == LIBISO_FILE ? (IsoFile *)node : NULL);
        }
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
        while ((n = iso_stream_read(st, v->io, EVD_DISC_READ_CHUNK)) > 0) {
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

/* Add a regular file and its extents to t. */
static int tree_add(struct tree *t, const char *path, IsoFile *file)
{
        struct tfile *f;

        if (t->n == EVD_DISC_VERIFY_FILES_MAX) {
                t->too_many = true;
                return -E2BIG;
        }
        f = room_for_one(t->f, t->n, &t->cap, sizeof(*t->f));
        if (!f)
                return -ENOMEM;
        t->f = f;
        f = &t->f[t->n];
        f->path = strdup(path);
        if (!f->path)
                return -ENOMEM;
        if (extents_of(file, &f->ext) < 0) {
                free(f->path);
                return -EIO;
        }
        t->n++;
        return 0;
}

/* The Joliet tree: every regular file, with its extents. What cannot be walked the
 * Rock Ridge walk has reported already. */
static int visit_joliet(void *ctx, enum walk_event ev, const char *path, IsoNode *node)
{
        if (ev != WALK_NODE || iso_node_get_type(node) != LIBISO_FILE)
                return 0;
        return tree_add(ctx, path, (IsoFile *)node);
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
                r = *ret_present ? walk(iso_image_get_root(image), "", 0, visit_joliet, ret) : 0;
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
        for (size_t i = 0; r == 0 && i < v->n; i++)
                if (v->files[i].file)
                        r = tree_add(&rr, v->files[i].path, v->files[i].file);
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

/* The image being checked, as libisofs imported it. */
struct imported {
        IsoDataSource *src;
        IsoReadOpts *ropts;
        IsoReadImageFeatures *features;
        IsoImage *image;
};

static void imported_free(struct imported *im)
{
        if (im->features)
                iso_read_image_features_destroy(im->features);
        if (im->image)
                iso_image_unref(im->image);
        if (im->ropts)
                iso_read_opts_free(im->ropts);
        if (im->src)
                iso_data_source_unref(im->src);
}

/* path must be an image file or a block device we can open. */
static int check_openable(const char *path, struct evd_err *err)
{
        struct stat st;
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
        return 0;
}

/* Import the image at path (its Rock Ridge tree; under the disc lock) and list its files
 * in v, sorted by path. im is filled as far as it got: free it with imported_free. */
static int import_image(struct verify *v, const char *path, struct imported *im,
                        struct evd_err *err)
{
        const char *volid;
        int r;

        r = iso_data_source_new_from_file(path, &im->src);
        if (r < 0) {
                im->src = NULL;
                return evd_disc_iso_fail(err, -EIO, path, r);
        }
        r = iso_read_opts_new(&im->ropts, 0);
        if (r >= 0)
                r = iso_read_opts_set_input_charset(im->ropts, "UTF-8");
        if (r >= 0)
                r = iso_image_new("EVIDOCK", &im->image);
        if (r < 0)
                return evd_disc_iso_fail(err, -ENOMEM, "libisofs", r);
        r = iso_image_import(im->image, im->src, im->ropts, &im->features);
        if (r < 0)
                return evd_disc_iso_fail(err, -EINVAL, "not a readable ISO 9660 image", r);
        volid = iso_image_get_volume_id(im->image);
        (void)snprintf(v->sum->volume_id, sizeof(v->sum->volume_id), "%s", volid ? volid : "");

        r = walk(iso_image_get_root(im->image), "", 0, visit_checked, v);
        if (r < 0)
                return evd_err_set(err, r,
                                   v->too_many ? "more than %d files on the disc"
                                               : "out of memory (%d)",
                                   EVD_DISC_VERIFY_FILES_MAX);
        if (v->n > 1)
                qsort(v->files, v->n, sizeof(*v->files), vfile_cmp);
        return 0;
}

/* Check the files a manifest (manifest-sha256.txt, or tagmanifest-sha256.txt for the tag
 * files) lists, keeping its entries in *ret_m. -ENOMEM, or 0 with verdicts given. */
static int check_manifest(struct verify *v, const char *name, bool payload, struct mentry **ret_m,
                          size_t *ret_n)
{
        size_t len = 0;
        uint8_t *text = load_tag(v, name, &len);
        int r;

        if (!text)
                return 0;
        r = parse_manifest(v, name, (const char *)text, len, ret_m, ret_n);
        free(text);
        if (r < 0)
                return r;
        return check_entries(v, name, *ret_m, *ret_n, payload);
}

/* bagit.txt, the tag files and the payload against their manifests, and what no
 * manifest lists. */
static int check_manifests(struct verify *v)
{
        int r;

        check_bagit_txt(v);
        r = check_manifest(v, "tagmanifest-sha256.txt", false, &v->tman, &v->ntman);
        if (r < 0)
                return r;
        r = check_manifest(v, "manifest-sha256.txt", true, &v->man, &v->nman);
        if (r < 0)
                return r;
        for (size_t i = 0; i < v->n; i++) {
                const struct vfile *f = &v->files[i];
                bool payload = strncmp(f->path, "data/", 5) == 0;

                if (f->listed || strcmp(f->path, "tagmanifest-sha256.txt") == 0 ||
                    strcmp(f->path, EVD_DISC_SIGNATURE_FILE) == 0)
                        continue;
                verdict(v, f->path, EVD_DISC_EXTRA, "%s%s", f->file ? "" : "not a regular file; ",
                        payload ? "not listed in manifest-sha256.txt"
                                : "not listed in tagmanifest-sha256.txt, so not covered by "
                                  "the signature");
        }
        return 0;
}

int evd_disc_verify(const char *path, const char *cert_path, evd_disc_verify_cb cb, void *ctx,
                    struct evd_disc_summary *ret_summary, struct evd_err *err)
{
        struct evd_disc_summary sum = { 0 };
        struct verify v = { .cb = cb, .ctx = ctx, .sum = &sum };
        struct imported im = { 0 };
        X509 *given = NULL;
        bool entered = false;
        int r;

        r = check_openable(path, err);
        if (r < 0)
                return r;
        if (cert_path) {
                r = evd_keys_cert_load(cert_path, &given, err);
                if (r < 0)
                        return r;
        }
        v.io = malloc(EVD_DISC_READ_CHUNK);
        if (!v.io) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        r = evd_disc_enter(err);
        if (r < 0)
                goto out;
        entered = true;
        r = import_image(&v, path, &im, err);
        if (r < 0)
                goto out;
        r = check_manifests(&v);
        if (r < 0) {
                r = evd_err_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        check_oxum(&v);
        check_signature(&v, given);
        check_joliet(&v, im.src);

        if (ret_summary)
                *ret_summary = sum;
        r = 0;
        if (sum.problems)
                r = evd_err_set(err, -EBADMSG,
                                "disc check failed, %" PRIu64 " problem%s; first: %s", sum.problems,
                                sum.problems == 1 ? "" : "s", v.first);
out:
        mentries_free(v.man, v.nman);
        mentries_free(v.tman, v.ntman);
        for (size_t i = 0; i < v.n; i++)
                free(v.files[i].path);
        free(v.files);
        imported_free(&im);
        if (entered)
                evd_disc_leave();
        free(v.io);
        X509_free(given);
        return r;
}
