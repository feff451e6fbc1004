/* Unit tests of disc: names on disc, volume plans, building signed BagIt ISO images and
 * checking them, with our verifier and with tools we did not write (bsdtar, 7z,
 * sha256sum, openssl, xorriso). Fixtures are made at test time in a mkdtemp dir. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "disc.h"
#include "keys.h"
#include "name.h"

#define EXTRACTED 1795000000 /* 2026-11-18T11:06:40Z */
#define NITEMS 3
#define MARKER "EVIDOCK-TEST-PAYLOAD-MARKER-0001\n"
#define CN_NAME "执法记录仪_20261118_091500.mp4"
#define NL_NAME "bad\nname.mp4"

/* Shared by all tests: a station key, three payload files, one good image. */
struct world {
        char dir[128];
        char key[256], cert[256], image[256];
        struct evd_keys *keys;
        char src[NITEMS][256];
        struct evd_disc_item items[NITEMS];
        uint8_t image_sha[EVD_SHA256_LEN];
        uint64_t image_size;
};

static struct world W;

/* ---- helpers ---- */

static int run(const char *fmt, ...)
{
        char cmd[4096];
        va_list ap;
        int st;

        va_start(ap, fmt);
        assert_true((size_t)vsnprintf(cmd, sizeof(cmd), fmt, ap) < sizeof(cmd));
        va_end(ap);
        st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static void wpath(char *out, size_t n, const char *fmt, ...)
{
        char rel[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(rel, sizeof(rel), fmt, ap);
        va_end(ap);
        assert_true((size_t)snprintf(out, n, "%s/%s", W.dir, rel) < n);
}

static uint8_t *slurp(const char *p, size_t *ret_len)
{
        FILE *fp = fopen(p, "rb");
        uint8_t *data;
        long n;

        assert_non_null(fp);
        assert_int_equal(fseek(fp, 0, SEEK_END), 0);
        n = ftell(fp);
        assert_true(n >= 0);
        rewind(fp);
        data = malloc((size_t)n + 1);
        assert_non_null(data);
        assert_int_equal(fread(data, 1, (size_t)n, fp), (size_t)n);
        fclose(fp);
        data[n] = 0;
        *ret_len = (size_t)n;
        return data;
}

static void spit(const char *p, const void *data, size_t n)
{
        FILE *fp = fopen(p, "wb");

        assert_non_null(fp);
        assert_int_equal(fwrite(data, 1, n, fp), n);
        assert_int_equal(fclose(fp), 0);
}

static void sha_of(const void *data, size_t len, uint8_t out[EVD_SHA256_LEN])
{
        unsigned int n = 0;

        assert_int_equal(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL), 1);
}

static void sha_file(const char *p, uint8_t out[EVD_SHA256_LEN], uint64_t *ret_size)
{
        size_t len;
        uint8_t *d = slurp(p, &len);

        sha_of(d, len, out);
        *ret_size = len;
        free(d);
}

/* Offset of the first occurrence of needle in the file, or -1. */
static long find_in_file(const char *p, const void *needle, size_t nlen)
{
        size_t len;
        uint8_t *d = slurp(p, &len);
        uint8_t *hit = memmem(d, len, needle, nlen);
        long off = hit ? (long)(hit - d) : -1;

        free(d);
        return off;
}

static void flip_byte(const char *p, long off)
{
        int fd = open(p, O_RDWR | O_CLOEXEC);
        uint8_t c;

        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &c, 1, off), 1);
        c ^= 0x01;
        assert_int_equal(pwrite(fd, &c, 1, off), 1);
        assert_int_equal(close(fd), 0);
}

/* Change the hex digit at off into another hex digit. */
static void change_hex_digit(const char *p, long off)
{
        int fd = open(p, O_RDWR | O_CLOEXEC);
        uint8_t c;

        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &c, 1, off), 1);
        assert_non_null(strchr("0123456789abcdef", c));
        c = c == '0' ? '1' : '0';
        assert_int_equal(pwrite(fd, &c, 1, off), 1);
        assert_int_equal(close(fd), 0);
}

static void copy_file(const char *from, const char *to)
{
        size_t len;
        uint8_t *d = slurp(from, &len);

        spit(to, d, len);
        free(d);
}

/* Leftover temporary files "<base>.tmp-*" in the world directory. */
static int leftovers(const char *base)
{
        DIR *d = opendir(W.dir);
        struct dirent *de;
        char prefix[128];
        int n = 0;

        assert_non_null(d);
        snprintf(prefix, sizeof(prefix), "%s.tmp-", base);
        while ((de = readdir(d)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
                        n++;
        closedir(d);
        return n;
}

/* Verdicts heard from evd_disc_verify. */
struct heard {
        int n[5];
        char bad_paths[1024];
};

static void listen(void *ctx, const char *path, enum evd_disc_verdict v, const char *detail)
{
        struct heard *h = ctx;

        (void)detail;
        assert_true(v >= EVD_DISC_OK && v <= EVD_DISC_BAD);
        h->n[v]++;
        if (v != EVD_DISC_OK) {
                size_t len = strlen(h->bad_paths);

                snprintf(h->bad_paths + len, sizeof(h->bad_paths) - len, "%d:%s|", (int)v, path);
        }
}

static const struct evd_disc_info INFO[] = {
        { EVD_DISC_INFO_CASE, "京公(2026)罚决字第0123号" },
        { EVD_DISC_INFO_PARTY, "某某公司" },
        { EVD_DISC_INFO_HANDLER, "李四" },
        { EVD_DISC_INFO_MAKER, "张三" },
        { EVD_DISC_INFO_EXTRACTOR, "王五" },
        { EVD_DISC_INFO_EXTRACTED, "2026-11-18T11:06:40Z" },
        { EVD_DISC_INFO_APPROVER, "赵六" },
        { EVD_DISC_INFO_REASON, "案件归档\n第二行" },
        { EVD_DISC_INFO_STATION, "一号站" },
        { EVD_DISC_INFO_ITEMS, "3" },
};

static struct evd_disc_spec spec_for(struct evd_disc_item *items, size_t n)
{
        struct evd_disc_spec s = {
                .volume_id = INFO[0].value,
                .extraction_time = EXTRACTED,
                .items = items,
                .n_items = n,
                .info = INFO,
                .n_info = EVD_ARRAY_SIZE(INFO),
                .keys = W.keys,
        };

        return s;
}

struct progress {
        uint64_t calls, last_done, last_total;
        atomic_bool *cancel_at_first;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
        struct progress *p = ctx;

        assert_true(done <= total);
        assert_true(done >= p->last_done);
        p->calls++;
        p->last_done = done;
        p->last_total = total;
        if (p->cancel_at_first)
                atomic_store(p->cancel_at_first, true);
}

/* ---- fixture ---- */

static int world_setup(void **state)
{
        static const char *const names[NITEMS] = { CN_NAME, NL_NAME, "plain.MP4" };
        static const char *const recs[NITEMS] = { "SN-0001", "SN-0001", "R2" };
        struct evd_err err = { 0 };
        uint64_t size;

        (void)state;
        snprintf(W.dir, sizeof(W.dir), "%s/evd-disc-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(W.dir))
                return -1;
        wpath(W.key, sizeof(W.key), "keys/%s", EVD_KEYS_KEY_FILE);
        wpath(W.cert, sizeof(W.cert), "keys/%s", EVD_KEYS_CERT_FILE);
        {
                char kd[256];

                wpath(kd, sizeof(kd), "keys");
                if (evd_keys_init(kd, "测试站 01", EXTRACTED - 86400, &err) < 0 ||
                    evd_keys_load(W.key, W.cert, &W.keys, &err) < 0)
                        return -1;
        }
        /* Payload: a marked random file, a tiny one, and a 3 MiB one (several reads). */
        for (int i = 0; i < NITEMS; i++)
                wpath(W.src[i], sizeof(W.src[i]), "object-%d", i);
        if (run("printf '%s' > '%s' && head -c 200000 /dev/urandom >> '%s' && "
                "printf 'second file\\n' > '%s' && head -c 3145728 /dev/urandom > '%s'",
                MARKER, W.src[0], W.src[0], W.src[1], W.src[2]) != 0)
                return -1;
        for (int i = 0; i < NITEMS; i++) {
                W.items[i].src_path = W.src[i];
                W.items[i].recorder = recs[i];
                W.items[i].name = names[i];
                W.items[i].name_len = strlen(names[i]);
                sha_file(W.src[i], W.items[i].sha256, &size);
                W.items[i].size = size;
        }
        wpath(W.image, sizeof(W.image), "good.iso");
        {
                struct evd_disc_spec s = spec_for(W.items, NITEMS);
                struct evd_disc_result res;

                if (evd_disc_build(&s, W.image, &res, &err) < 0) {
                        fprintf(stderr, "build: %s\n", err.text);
                        return -1;
                }
                memcpy(W.image_sha, res.sha256, EVD_SHA256_LEN);
                W.image_size = res.size;
        }
        return 0;
}

static int world_teardown(void **state)
{
        (void)state;
        evd_keys_free(W.keys);
        if (run("rm -rf '%s'", W.dir) != 0)
                return -1;
        return 0;
}

/* ---- names, ids, media, plans ---- */

static void test_volume_id(void **state)
{
        char out[EVD_DISC_VOLID_MAX + 1];

        (void)state;
        evd_disc_volume_id("京公(2026)罚决字第0123号", out);
        assert_string_equal(out, "2026_0123");
        evd_disc_volume_id("case-2026/abc.7", out);
        assert_string_equal(out, "CASE_2026_ABC_7");
        evd_disc_volume_id("全中文", out);
        assert_string_equal(out, "EVIDOCK");
        evd_disc_volume_id("", out);
        assert_string_equal(out, "EVIDOCK");
        evd_disc_volume_id("a1234567890123456789012345678901234567890", out);
        assert_int_equal(strlen(out), EVD_DISC_VOLID_MAX);
        assert_string_equal(out, "A1234567890123456789012345678901");
        evd_disc_volume_id("abcdefghij abcdefghij abcdefghij xyz", out);
        assert_int_equal(strlen(out), EVD_DISC_VOLID_MAX);
        assert_true(out[strlen(out) - 1] != '_');
}

static void test_media_bytes(void **state)
{
        uint64_t b = 0;

        (void)state;
        assert_int_equal(evd_disc_media_bytes("cd", &b), 0);
        assert_true(b == 737280000ULL && b % 2048 == 0);
        assert_int_equal(evd_disc_media_bytes("dvd", &b), 0);
        assert_true(b == 4700372992ULL && b / 2048 == 2295104);
        assert_int_equal(evd_disc_media_bytes("dvd-dl", &b), 0);
        assert_true(b == 8543666176ULL && b / 2048 == 4171712);
        assert_int_equal(evd_disc_media_bytes("bd25", &b), 0);
        assert_true(b == 25025314816ULL && b / 2048 == 12219392);
        assert_int_equal(evd_disc_media_bytes("bd50", &b), 0);
        assert_true(b == 50050629632ULL && b / 2048 == 24438784);
        assert_int_equal(evd_disc_media_bytes("123456789", &b), 0);
        assert_true(b == 123456789ULL);
        assert_int_equal(evd_disc_media_bytes("1048575", &b), -EINVAL);
        assert_int_equal(evd_disc_media_bytes("12x", &b), -EINVAL);
        assert_int_equal(evd_disc_media_bytes("", &b), -EINVAL);
        assert_int_equal(evd_disc_media_bytes("99999999999999999999999", &b), -EINVAL);
        /* names in any case (issue 17: --media DVD) */
        assert_int_equal(evd_disc_media_bytes("BD25", &b), 0);
        assert_true(b == EVD_DISC_BD25_BYTES);
        assert_int_equal(evd_disc_media_bytes("Dvd", &b), 0);
        assert_true(b == EVD_DISC_DVD_BYTES);
}

struct name_case {
        const char *rec;
        const char *name;
        size_t len; /* 0: strlen */
        const char *want;
};

static void test_assign_names(void **state)
{
        static const struct name_case cases[] = {
                { "SN1", "执法记录仪_001.MP4", 0, "data/SN1/执法记录仪_001.MP4" },
                { "SN1", "a\nb.mp4", 0, "data/SN1/a_b.mp4" },
                { "SN1", "../etc/passwd", 0, "data/SN1/___etc_passwd" },
                { "SN1", "..", 0, "data/SN1/__" },
                { "SN1", ".hidden.mp4", 0, "data/SN1/_hidden.mp4" },
                { "SN1", "nul\0in.mp4", 10, "data/SN1/nul_in.mp4" },
                { "SN1", "\xff\xfe.mp4", 0, "data/SN1/__.mp4" },
                { "SN1", "x:y*z?<>|\"\\;.mp4", 0, "data/SN1/x_y_z_______.mp4" },
                { "SN1", "50%.mp4", 0, "data/SN1/50_.mp4" },
                { "SN1", "trail. ", 0, "data/SN1/trail__" },
                { "SN1", "tab\there\x7f.mp4", 0, "data/SN1/tab_here_.mp4" },
                { "SN1",
                  "\xc2\x85"
                  "c1.mp4",
                  0, "data/SN1/_c1.mp4" },
                { "SN1", "\xf0\x9f\x98\x80.mp4", 0, "data/SN1/_.mp4" },
                { "SN1", "", 0, "data/SN1/_" },
                { "SN1", "con.mp4", 0, "data/SN1/_con.mp4" },
                { "SN1", "COM7", 0, "data/SN1/_COM7" },
                { "SN1", "console.mp4", 0, "data/SN1/console.mp4" },
                { "SN1", "lpt0.mp4", 0, "data/SN1/lpt0.mp4" },
                /* Case-insensitive duplicates, and a clean name keeps its place even
                 * when a sanitised one came first. */
                { "SN1", "DUP.mp4", 0, "data/SN1/DUP.mp4" },
                { "SN1", "dup.mp4", 0, "data/SN1/dup~2.mp4" },
                { "SN1", "dup.mp4", 0, "data/SN1/dup~3.mp4" },
                { "SN1", "k:v.mp4", 0, "data/SN1/k_v~2.mp4" },
                { "SN1", "k_v.mp4", 0, "data/SN1/k_v.mp4" },
                { "R/2", "x.mp4", 0, "data/R_2/x.mp4" },
                { "R:3", "x.mp4", 0, "data/R_3~2/x.mp4" },
                { "R_3", "x.mp4", 0, "data/R_3/x.mp4" },
                { "..", "x.mp4", 0, "data/__/x.mp4" },
        };
        struct evd_disc_item items[EVD_ARRAY_SIZE(cases) + 2];
        char again[EVD_ARRAY_SIZE(cases) + 2][EVD_DISC_PATH_MAX];
        char long_name[512], long_cn[512];
        struct evd_err err = { 0 };
        size_t n = EVD_ARRAY_SIZE(cases), o;

        (void)state;
        memset(items, 0, sizeof(items));
        for (size_t i = 0; i < n; i++) {
                items[i].recorder = cases[i].rec;
                items[i].name = cases[i].name;
                items[i].name_len = cases[i].len ? cases[i].len : strlen(cases[i].name);
        }
        /* 200 ASCII letters: shortened to 103 characters, extension kept. */
        memset(long_name, 'a', 200);
        memcpy(long_name + 200, ".mp4", 5);
        items[n].recorder = "SN1";
        items[n].name = long_name;
        items[n].name_len = strlen(long_name);
        /* 100 Chinese characters (300 bytes): shortened to fit 255 bytes. */
        o = 0;
        for (int i = 0; i < 100; i++)
                o += (size_t)snprintf(long_cn + o, sizeof(long_cn) - o, "录");
        (void)snprintf(long_cn + o, sizeof(long_cn) - o, ".mp4");
        items[n + 1].recorder = "SN1";
        items[n + 1].name = long_cn;
        items[n + 1].name_len = strlen(long_cn);

        assert_int_equal(evd_disc_assign_names(items, n + 2, &err), 0);
        for (size_t i = 0; i < n; i++) {
                if (strcmp(items[i].disc_path, cases[i].want) != 0)
                        fail_msg("case %zu: got \"%s\" want \"%s\"", i, items[i].disc_path,
                                 cases[i].want);
        }
        {
                const char *nm = strrchr(items[n].disc_path, '/') + 1;

                assert_int_equal(strlen(nm), EVD_DISC_NAME_CHARS);
                assert_string_equal(nm + EVD_DISC_NAME_CHARS - 4, ".mp4");
                nm = strrchr(items[n + 1].disc_path, '/') + 1;
                assert_true(strlen(nm) <= EVD_DISC_NAME_BYTES);
                assert_int_equal(strlen(nm), 83 * 3 + 4);
                assert_true(evd_name_is_utf8(nm, strlen(nm)));
                assert_string_equal(nm + strlen(nm) - 4, ".mp4");
        }
        /* Deterministic. */
        for (size_t i = 0; i < n + 2; i++)
                memcpy(again[i], items[i].disc_path, EVD_DISC_PATH_MAX);
        assert_int_equal(evd_disc_assign_names(items, n + 2, &err), 0);
        for (size_t i = 0; i < n + 2; i++)
                assert_string_equal(again[i], items[i].disc_path);

        items[0].recorder = "";
        assert_int_equal(evd_disc_assign_names(items, n, &err), -EINVAL);
}

static void test_plan(void **state)
{
        const uint64_t MiB = 1u << 20;
        uint64_t sizes[6] = { 600 * 1024, 600 * 1024, 100, 600 * 1024, 1600 * 1024, 10 };
        const char *names[6] = { "a", "b", "c", "d", "e", "f" };
        size_t vol[6], nvol = 0;
        struct evd_err err = { 0 };
        uint64_t cap = EVD_DISC_FIXED_OVERHEAD + 3 * MiB / 2;

        (void)state;
        /* Usable 1.5 MiB: a+b (1.2 MiB), c fits beside them, d opens volume 2, e (1.5 MiB
         * with overheads is more than usable) ... */
        assert_int_equal(evd_disc_plan(sizes, names, 4, cap, 0, vol, &nvol, &err), 0);
        assert_int_equal(nvol, 2);
        assert_int_equal(vol[0], 0);
        assert_int_equal(vol[1], 0);
        assert_int_equal(vol[2], 0);
        assert_int_equal(vol[3], 1);

        /* ... too big for any such medium: named in the error. */
        assert_int_equal(evd_disc_plan(sizes, names, 6, cap, 0, vol, &nvol, &err), -EFBIG);
        assert_non_null(strstr(err.text, "e ("));
        assert_non_null(strstr(err.text, "does not fit"));
        /* Without names, its position. */
        assert_int_equal(evd_disc_plan(sizes, NULL, 6, cap, 0, vol, &nvol, &err), -EFBIG);
        assert_non_null(strstr(err.text, "item 5"));

        /* First fit in order: f, tiny, goes back into volume 1. */
        sizes[4] = 900 * 1024;
        assert_int_equal(evd_disc_plan(sizes, names, 6, cap, 0, vol, &nvol, &err), 0);
        assert_int_equal(nvol, 2);
        assert_int_equal(vol[4], 1);
        assert_int_equal(vol[5], 0);

        /* The caller's tag files count against every volume. */
        assert_int_equal(evd_disc_plan(sizes, names, 2, cap, 0, vol, &nvol, &err), 0);
        assert_int_equal(nvol, 1);
        assert_int_equal(evd_disc_plan(sizes, names, 2, cap, 400 * 1024, vol, &nvol, &err), 0);
        assert_int_equal(nvol, 2);
        assert_int_equal(evd_disc_plan(sizes, names, 2, cap, MiB, vol, &nvol, &err), -EFBIG);
        assert_int_equal(evd_disc_plan(sizes, names, 0, cap, 0, vol, &nvol, &err), -EINVAL);
        assert_int_equal(
                evd_disc_plan(sizes, names, 1, EVD_DISC_FIXED_OVERHEAD, 0, vol, &nvol, &err),
                -EINVAL);

        /* A real medium: 2 GB of 1 GB files on a DVD -> 1 volume... 5 of them -> 2. */
        {
                uint64_t big[5] = { 1000000000, 1000000000, 1000000000, 1000000000, 1000000000 };

                assert_int_equal(
                        evd_disc_plan(big, NULL, 5, EVD_DISC_DVD_BYTES, 0, vol, &nvol, &err), 0);
                assert_int_equal(nvol, 2);
                assert_int_equal(vol[3], 0);
                assert_int_equal(vol[4], 1);
        }
}

/* ---- building, and checking with other tools ---- */

static void test_image_checks_with_standard_tools(void **state)
{
        char x[256], y[256];
        uint8_t sha[EVD_SHA256_LEN];
        uint64_t size;

        (void)state;
        sha_file(W.image, sha, &size);
        assert_int_equal(size, W.image_size);
        assert_memory_equal(sha, W.image_sha, EVD_SHA256_LEN);
        assert_int_equal(size % 2048, 0);

        /* bsdtar: extract, then sha256sum and openssl inside the tree. */
        wpath(x, sizeof(x), "bsdtar");
        assert_int_equal(run("mkdir -p '%s' && cd '%s' && bsdtar xf '%s'", x, x, W.image), 0);
        assert_int_equal(run("cd '%s' && sha256sum -c --strict manifest-sha256.txt >/dev/null", x),
                         0);
        assert_int_equal(
                run("cd '%s' && sha256sum -c --strict tagmanifest-sha256.txt >/dev/null", x), 0);
        assert_int_equal(run("cd '%s' && openssl cms -verify -binary -inform DER -in signature.p7s "
                             "-content tagmanifest-sha256.txt -CAfile station-cert.pem "
                             "-purpose any -out /dev/null 2>/dev/null",
                             x),
                         0);
        /* ... also against the station certificate we hold. */
        assert_int_equal(run("cd '%s' && openssl cms -verify -binary -inform DER -in signature.p7s "
                             "-content tagmanifest-sha256.txt -CAfile '%s' -purpose any "
                             "-out /dev/null 2>/dev/null",
                             x, W.cert),
                         0);
        assert_int_equal(
                run("test -f '%s/data/SN-0001/%s' && test -f '%s/data/SN-0001/bad_name.mp4'"
                    " && cmp -s '%s/data/R2/plain.MP4' '%s'",
                    x, CN_NAME, x, x, W.src[2]),
                0);
        assert_int_equal(run("test $(find '%s/data' -type f | wc -l) -eq 3", x), 0);
        assert_int_equal(
                run("grep -qx 'Payload-Oxum: %llu.3' '%s/bag-info.txt'",
                    (unsigned long long)(W.items[0].size + W.items[1].size + W.items[2].size), x),
                0);
        assert_int_equal(
                run("grep -qx 'Case-Number: 京公(2026)罚决字第0123号' '%s/bag-info.txt' && "
                    "grep -qx 'Reason: 案件归档' '%s/bag-info.txt' && "
                    "grep -qx '  第二行' '%s/bag-info.txt' && "
                    "grep -qx 'Bagging-Date: 2026-11-18' '%s/bag-info.txt' && "
                    "grep -qx 'BagIt-Version: 1.0' '%s/bagit.txt'",
                    x, x, x, x, x),
                0);
        /* items.json keeps the original name with its newline, exactly. */
        assert_int_equal(run("grep -q '\"original_name\": \"bad\\\\u000aname.mp4\"' '%s/items.json'"
                             " && grep -q '\"original_name_hex\": \"6261640a6e616d652e6d7034\"' "
                             "'%s/items.json'",
                             x, x),
                         0);
        assert_int_equal(run("grep -q 'sha256sum -c manifest-sha256.txt' '%s/README.txt' && "
                             "grep -q '核验' '%s/README.txt'",
                             x, x),
                         0);

        /* 7z reads the Joliet tree: the same names and contents. */
        wpath(y, sizeof(y), "7z");
        assert_int_equal(run("7z x -o'%s' '%s' >/dev/null", y, W.image), 0);
        assert_int_equal(run("cd '%s' && sha256sum -c --strict manifest-sha256.txt >/dev/null && "
                             "sha256sum -c --strict tagmanifest-sha256.txt >/dev/null",
                             y),
                         0);
        assert_int_equal(run("test -f '%s/data/SN-0001/%s'", y, CN_NAME), 0);

        /* xorriso lists the Chinese name, and sees Rock Ridge and Joliet. */
        assert_int_equal(run("xorriso -indev '%s' -ls /data/SN-0001 2>/dev/null | grep -qF '%s'",
                             W.image, CN_NAME),
                         0);
        assert_int_equal(run("xorriso -indev '%s' -toc 2>&1 | grep -q 'Volume id    : .2026_0123.'",
                             W.image),
                         0);
        assert_int_equal(
                run("xorriso -indev '%s' -toc 2>&1 | grep -q 'ISO offers   : Rock_Ridge Joliet'",
                    W.image),
                0);
        /* The whole image is there: the size libisofs announced, as xorriso reads it. */
        assert_int_equal(run("xorriso -indev '%s' -toc 2>&1 | "
                             "grep -q 'Media summary: 1 session, %llu data blocks'",
                             W.image, (unsigned long long)(W.image_size / 2048)),
                         0);
        /* Volume times are the extraction time, in GMT. */
        assert_int_equal(run("xorriso -indev '%s' -pvd_info 2>&1 | "
                             "grep -q 'Creation Time: 2026111811064000'",
                             W.image),
                         0);
        assert_int_equal(run("rm -rf '%s' '%s'", x, y), 0);
}

static void test_verify_good_image(void **state)
{
        struct evd_disc_summary sum;
        struct evd_err err = { 0 };
        struct heard h = { 0 };

        (void)state;
        assert_int_equal(evd_disc_verify(W.image, NULL, listen, &h, &sum, &err), 0);
        assert_int_equal(sum.problems, 0);
        assert_true(sum.signature_ok);
        assert_int_equal(sum.cert_source, EVD_DISC_CERT_EMBEDDED);
        assert_non_null(strstr(sum.note, "not who signed"));
        assert_int_equal(sum.payload_files, 3);
        assert_int_equal(sum.payload_bytes, W.items[0].size + W.items[1].size + W.items[2].size);
        /* 3 payload files and 6 listed tag files were hashed, then the signature. */
        assert_int_equal(sum.files_checked, 9);
        assert_int_equal(h.n[EVD_DISC_OK], 10);
        assert_string_equal(sum.volume_id, "2026_0123");
        assert_string_equal(sum.signer, "CN=测试站 01");

        memset(&h, 0, sizeof(h));
        assert_int_equal(evd_disc_verify(W.image, W.cert, listen, &h, &sum, &err), 0);
        assert_int_equal(sum.cert_source, EVD_DISC_CERT_GIVEN);
        {
                char fp[EVD_SHA256_HEX];

                evd_keys_fingerprint(evd_keys_cert(W.keys), fp);
                assert_string_equal(sum.cert_sha256, fp);
        }

        /* Bad arguments are errors, not verdicts. */
        assert_int_equal(evd_disc_verify("/nonexistent/x.iso", NULL, NULL, NULL, NULL, &err),
                         -ENOENT);
        assert_int_equal(evd_disc_verify(W.image, "/nonexistent/cert.pem", NULL, NULL, NULL, &err),
                         -ENOENT);
        assert_int_equal(evd_disc_verify(W.key, NULL, NULL, NULL, NULL, &err), -EINVAL);
        assert_int_equal(evd_disc_verify(W.dir, NULL, NULL, NULL, NULL, &err), -EINVAL);
}

static void test_build_is_byte_identical(void **state)
{
        char again[256];
        struct evd_disc_spec s = spec_for(W.items, NITEMS);
        struct evd_disc_result res;
        struct evd_err err = { 0 };
        struct progress p = { 0 };

        (void)state;
        /* A second later, in the same process: nothing of the clock may leak in. */
        sleep(1);
        wpath(again, sizeof(again), "again.iso");
        s.progress = on_progress;
        s.progress_ctx = &p;
        assert_int_equal(evd_disc_build(&s, again, &res, &err), 0);
        assert_int_equal(run("cmp -s '%s' '%s'", W.image, again), 0);
        assert_memory_equal(res.sha256, W.image_sha, EVD_SHA256_LEN);
        assert_true(p.calls >= 1);
        assert_int_equal(p.last_done, res.size);
        assert_int_equal(p.last_total, res.size);
        assert_int_equal(leftovers("again.iso"), 0);

        /* An image never replaces a file, not even an earlier image. */
        s.extraction_time += 60;
        s.progress = NULL;
        assert_int_equal(evd_disc_build(&s, again, &res, &err), -EEXIST);
        assert_non_null(strstr(err.text, "exists already"));
        assert_int_equal(run("cmp -s '%s' '%s'", W.image, again), 0);
        assert_int_equal(leftovers("again.iso"), 0);

        /* A different extraction time gives a different image. */
        assert_int_equal(unlink(again), 0);
        assert_int_equal(evd_disc_build(&s, again, &res, &err), 0);
        assert_int_not_equal(run("cmp -s '%s' '%s'", W.image, again), 0);
        assert_int_equal(unlink(again), 0);
}

/* A file that appears under the image's name while the image is written stays. */
static void make_file_at_first(void *ctx, uint64_t done, uint64_t total)
{
        const char *path = ctx;

        (void)done;
        (void)total;
        if (access(path, F_OK) != 0)
                assert_int_equal(run("printf mine > '%s'", path), 0);
}

static void test_build_never_replaces(void **state)
{
        char out[256];
        struct evd_disc_spec s = spec_for(W.items, NITEMS);
        struct evd_err err = { 0 };

        (void)state;
        wpath(out, sizeof(out), "raced.iso");
        s.progress = make_file_at_first;
        s.progress_ctx = out;
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), -EEXIST);
        assert_non_null(strstr(err.text, "exists already"));
        assert_int_equal(run("test \"$(cat '%s')\" = mine", out), 0);
        assert_int_equal(leftovers("raced.iso"), 0);
        assert_int_equal(unlink(out), 0);
}

/* ---- tampering ---- */

static void expect_bad(const char *img, const char *cert, enum evd_disc_verdict v,
                       const char *path_part)
{
        struct evd_disc_summary sum;
        struct evd_err err = { 0 };
        struct heard h = { 0 };
        char want[256];

        assert_int_equal(evd_disc_verify(img, cert, listen, &h, &sum, &err), -EBADMSG);
        assert_true(sum.problems > 0);
        assert_true(h.n[v] > 0);
        snprintf(want, sizeof(want), "%d:%s", (int)v, path_part);
        if (!strstr(h.bad_paths, want))
                fail_msg("verdicts %s lack %s", h.bad_paths, want);
        assert_non_null(strstr(err.text, "disc check failed"));
}

static void test_tamper_payload_byte(void **state)
{
        char img[256];
        long off;

        (void)state;
        wpath(img, sizeof(img), "t-payload.iso");
        copy_file(W.image, img);
        off = find_in_file(img, MARKER, strlen(MARKER));
        assert_true(off > 0 && off % 2048 == 0);
        flip_byte(img, off + 1000);
        expect_bad(img, NULL, EVD_DISC_MISMATCH, "data/SN-0001/" CN_NAME);
        {
                struct evd_err err = { 0 };

                assert_int_equal(evd_disc_verify(img, NULL, NULL, NULL, NULL, &err), -EBADMSG);
                assert_non_null(strstr(err.text, CN_NAME));
                assert_non_null(strstr(err.text, "1 problem;"));
        }
        assert_int_equal(unlink(img), 0);
}

static void test_tamper_manifest(void **state)
{
        char img[256], line[256], hex[EVD_SHA256_HEX];
        struct evd_err err = { 0 };
        long off;

        (void)state;
        wpath(img, sizeof(img), "t-manifest.iso");
        copy_file(W.image, img);
        evd_hex(W.items[2].sha256, EVD_SHA256_LEN, hex);
        snprintf(line, sizeof(line), "%s  data/R2/plain.MP4\n", hex);
        off = find_in_file(img, line, strlen(line));
        assert_true(off > 0);
        change_hex_digit(img, off + 5); /* still a well-formed line */
        expect_bad(img, NULL, EVD_DISC_MISMATCH, "manifest-sha256.txt");
        expect_bad(img, NULL, EVD_DISC_MISMATCH, "data/R2/plain.MP4");
        assert_int_equal(evd_disc_verify(img, NULL, NULL, NULL, NULL, &err), -EBADMSG);
        assert_non_null(strstr(err.text, "manifest-sha256.txt"));
        assert_int_equal(unlink(img), 0);
}

static void test_tamper_signature(void **state)
{
        char img[256], x[256], sigp[512];
        uint8_t *sig;
        size_t len;
        long off;

        (void)state;
        wpath(x, sizeof(x), "sigx");
        assert_int_equal(
                run("mkdir -p '%s' && cd '%s' && bsdtar xf '%s' signature.p7s", x, x, W.image), 0);
        snprintf(sigp, sizeof(sigp), "%s/signature.p7s", x);
        sig = slurp(sigp, &len);
        wpath(img, sizeof(img), "t-sig.iso");
        copy_file(W.image, img);
        off = find_in_file(img, sig, len);
        assert_true(off > 0);
        flip_byte(img, off + (long)len - 2); /* inside the ECDSA value */
        expect_bad(img, NULL, EVD_DISC_MISMATCH, EVD_DISC_SIGNATURE_FILE);
        expect_bad(img, W.cert, EVD_DISC_MISMATCH, EVD_DISC_SIGNATURE_FILE);
        {
                struct evd_disc_summary sum;
                struct evd_err err = { 0 };

                assert_int_equal(evd_disc_verify(img, NULL, NULL, NULL, &sum, &err), -EBADMSG);
                assert_false(sum.signature_ok);
                assert_int_equal(sum.problems, 1);
                assert_non_null(strstr(err.text, "signature.p7s"));
        }
        free(sig);
        assert_int_equal(unlink(img), 0);
        assert_int_equal(run("rm -rf '%s'", x), 0);
}

static void test_signed_by_someone_else(void **state)
{
        char kd[256], other[512];
        struct evd_err err = { 0 };

        (void)state;
        wpath(kd, sizeof(kd), "other-keys");
        assert_int_equal(evd_keys_init(kd, "冒充站", EXTRACTED, &err), 0);
        snprintf(other, sizeof(other), "%s/%s", kd, EVD_KEYS_CERT_FILE);
        /* The disc is intact, but not signed by the holder of that certificate. */
        expect_bad(W.image, other, EVD_DISC_MISMATCH, EVD_DISC_SIGNATURE_FILE);
}

/* Unpack the good image, change the tree, pack it again with xorriso. */
static void repack(const char *name, const char *change, char *out, size_t outsz)
{
        char x[256];

        wpath(x, sizeof(x), "%s.d", name);
        assert_true((size_t)snprintf(out, outsz, "%s/%s.iso", W.dir, name) < outsz);
        assert_int_equal(run("mkdir -p '%s' && cd '%s' && bsdtar xf '%s' && chmod -R u+w . && %s",
                             x, x, W.image, change),
                         0);
        assert_int_equal(run("xorriso -as mkisofs -R -J -o '%s' '%s' >/dev/null 2>&1", out, x), 0);
        assert_int_equal(run("rm -rf '%s'", x), 0);
}

static void test_extra_file(void **state)
{
        char img[512];
        struct evd_disc_summary sum;
        struct evd_err err = { 0 };

        (void)state;
        repack("extra", "printf 'planted' > data/SN-0001/planted.mp4", img, sizeof(img));
        expect_bad(img, NULL, EVD_DISC_EXTRA, "data/SN-0001/planted.mp4");
        assert_int_equal(evd_disc_verify(img, NULL, NULL, NULL, &sum, &err), -EBADMSG);
        assert_non_null(strstr(err.text, "planted.mp4"));
        assert_int_equal(sum.payload_files, 4);
        /* Payload-Oxum no longer matches either; the signature still does. */
        assert_int_equal(sum.problems, 2);
        assert_true(sum.signature_ok);
        assert_int_equal(unlink(img), 0);

        /* A file beside the tag files is not covered by the signature: refused too. */
        repack("extra2", "printf 'x' > notes.txt", img, sizeof(img));
        expect_bad(img, NULL, EVD_DISC_EXTRA, "notes.txt");
        assert_int_equal(unlink(img), 0);
}

static void test_missing_file(void **state)
{
        char img[512];
        struct evd_err err = { 0 };

        (void)state;
        repack("missing", "rm data/R2/plain.MP4", img, sizeof(img));
        expect_bad(img, NULL, EVD_DISC_MISSING, "data/R2/plain.MP4");
        assert_int_equal(evd_disc_verify(img, NULL, NULL, NULL, NULL, &err), -EBADMSG);
        assert_non_null(strstr(err.text, "data/R2/plain.MP4"));
        assert_int_equal(unlink(img), 0);

        /* A re-packed but unchanged tree still checks: the verifier is not tied to our
         * own writer. */
        repack("same", "true", img, sizeof(img));
        assert_int_equal(evd_disc_verify(img, W.cert, NULL, NULL, NULL, &err), 0);
        assert_int_equal(unlink(img), 0);

        /* The tag manifest itself gone. */
        repack("notag", "rm tagmanifest-sha256.txt", img, sizeof(img));
        expect_bad(img, NULL, EVD_DISC_MISSING, "tagmanifest-sha256.txt");
        assert_int_equal(unlink(img), 0);
}

/* Offset of the Joliet directory record naming name (UTF-16BE, ASCII names only). */
static long joliet_record(const char *img, const char *name)
{
        uint8_t utf16[128];
        size_t n = strlen(name);
        long off;

        assert_true(2 * n <= sizeof(utf16));
        for (size_t i = 0; i < n; i++) {
                utf16[2 * i] = 0;
                utf16[2 * i + 1] = (uint8_t)name[i];
        }
        off = find_in_file(img, utf16, 2 * n);
        assert_true(off > 33);
        return off - 33;
}

static void test_tamper_joliet(void **state)
{
        char img[256];
        uint8_t extent[16]; /* location and data length, both byte orders */
        long from, to;
        int fd;

        (void)state;
        /* Windows and 7z read the Joliet records: point "plain.MP4" there at the data of
         * another file. The Rock Ridge view, and every hash in it, stays as it was. */
        wpath(img, sizeof(img), "t-joliet.iso");
        copy_file(W.image, img);
        from = joliet_record(img, "plain.MP4");
        to = joliet_record(img, "bad_name.mp4");
        fd = open(img, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, extent, sizeof(extent), to + 2), (ssize_t)sizeof(extent));
        assert_int_equal(pwrite(fd, extent, sizeof(extent), from + 2), (ssize_t)sizeof(extent));
        assert_int_equal(close(fd), 0);
        expect_bad(img, NULL, EVD_DISC_MISMATCH, "data/R2/plain.MP4");
        assert_int_equal(run("7z x -o'%s.x' '%s' >/dev/null && cd '%s.x' && "
                             "! sha256sum -c --strict manifest-sha256.txt >/dev/null 2>&1 && "
                             "rm -rf '%s.x'",
                             img, img, img, img),
                         0);
        assert_int_equal(unlink(img), 0);
}

/* ---- build refusals ---- */

static void test_source_differs_from_catalog(void **state)
{
        struct evd_disc_item items[NITEMS];
        struct evd_disc_spec s;
        struct evd_err err = { 0 };
        char out[256];

        (void)state;
        wpath(out, sizeof(out), "refused.iso");

        memcpy(items, W.items, sizeof(items));
        items[2].sha256[31] ^= 0x01;
        s = spec_for(items, NITEMS);
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), -EBADMSG);
        assert_non_null(strstr(err.text, "data/R2/plain.MP4"));
        assert_non_null(strstr(err.text, "SHA-256"));
        assert_int_equal(access(out, F_OK), -1);
        assert_int_equal(leftovers("refused.iso"), 0);

        memcpy(items, W.items, sizeof(items));
        items[0].size -= 1;
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), -EBADMSG);
        assert_non_null(strstr(err.text, CN_NAME));
        assert_int_equal(access(out, F_OK), -1);

        memcpy(items, W.items, sizeof(items));
        items[1].src_path = "/nonexistent/object";
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), -ENOENT);
        assert_int_equal(access(out, F_OK), -1);
        assert_int_equal(leftovers("refused.iso"), 0);
}

static void test_bad_specs(void **state)
{
        struct evd_disc_info bad_info[] = { { "Payload-Oxum", "1.1" } };
        struct evd_disc_info bad_label[] = { { "Bad:Label", "x" } };
        struct evd_disc_tag bad_tag[] = { { "../evil", "x", 1 } };
        struct evd_disc_tag reserved_tag[] = { { "manifest-md5.txt", "x", 1 } };
        struct evd_disc_item items[NITEMS];
        struct evd_disc_spec s;
        struct evd_err err = { 0 };
        char out[256];

        (void)state;
        memcpy(items, W.items, sizeof(items));
        wpath(out, sizeof(out), "bad.iso");
        s = spec_for(items, NITEMS);
        s.info = bad_info;
        s.n_info = 1;
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), -EINVAL);
        s.info = bad_label;
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), -EINVAL);
        s = spec_for(items, NITEMS);
        s.tags = bad_tag;
        s.n_tags = 1;
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), -EINVAL);
        s.tags = reserved_tag;
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), -EINVAL);
        s = spec_for(items, NITEMS);
        s.volume_no = 3;
        s.volume_count = 2;
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), -EINVAL);
        s = spec_for(items, NITEMS);
        s.keys = NULL;
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), -EINVAL);
        s = spec_for(items, NITEMS);
        assert_int_equal(evd_disc_build(&s, "/nonexistent/dir/x.iso", NULL, &err), -ENOENT);
        assert_int_equal(access(out, F_OK), -1);
}

static void test_cancel(void **state)
{
        atomic_bool cancel = false;
        struct progress p = { .cancel_at_first = &cancel };
        struct evd_disc_item items[NITEMS];
        struct evd_disc_spec s;
        struct evd_err err = { 0 };
        char out[256];

        (void)state;
        memcpy(items, W.items, sizeof(items));
        wpath(out, sizeof(out), "cancelled.iso");
        s = spec_for(items, NITEMS);
        s.progress = on_progress;
        s.progress_ctx = &p;
        s.cancel = &cancel;
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), -ECANCELED);
        assert_int_equal(access(out, F_OK), -1);
        assert_int_equal(leftovers("cancelled.iso"), 0);
}

/* ---- capacity and volumes ---- */

static void test_file_larger_than_medium(void **state)
{
        struct evd_disc_item items[NITEMS];
        struct evd_disc_spec s;
        struct evd_err err = { 0 };
        uint64_t sizes[NITEMS];
        const char *names[NITEMS];
        size_t vol[NITEMS], nvol;
        char out[256];

        (void)state;
        for (int i = 0; i < NITEMS; i++) {
                sizes[i] = W.items[i].size;
                names[i] = W.items[i].name;
        }
        /* The plan names the 3 MiB file. */
        assert_int_equal(evd_disc_plan(sizes, names, NITEMS, EVD_DISC_FIXED_OVERHEAD + (2u << 20),
                                       0, vol, &nvol, &err),
                         -EFBIG);
        assert_non_null(strstr(err.text, "plain.MP4"));

        /* The build refuses before writing anything when the exact size is too big. */
        memcpy(items, W.items, sizeof(items));
        s = spec_for(items, NITEMS);
        s.capacity = W.image_size - 2048;
        wpath(out, sizeof(out), "toobig.iso");
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), -EFBIG);
        assert_non_null(strstr(err.text, "medium holds"));
        assert_int_equal(access(out, F_OK), -1);
        assert_int_equal(leftovers("toobig.iso"), 0);
        s.capacity = W.image_size;
        assert_int_equal(evd_disc_build(&s, out, NULL, &err), 0);
        assert_int_equal(unlink(out), 0);
}

static void test_multi_volume(void **state)
{
        enum { N = 5 };
        const uint64_t cap = EVD_DISC_FIXED_OVERHEAD + (1536u << 10);
        struct evd_disc_item items[N], vitems[N];
        char srcs[N][256], names[N][32], series[512];
        uint64_t sizes[N];
        size_t vol[N], nvol = 0;
        struct evd_err err = { 0 };

        (void)state;
        memset(items, 0, sizeof(items));
        for (int i = 0; i < N; i++) {
                wpath(srcs[i], sizeof(srcs[i]), "mv-%d", i);
                assert_int_equal(run("head -c %d /dev/urandom > '%s'", 600 * 1024 + i, srcs[i]), 0);
                snprintf(names[i], sizeof(names[i]), "录像_%d.mp4", i);
                items[i].src_path = srcs[i];
                items[i].recorder = i % 2 ? "SN-A" : "SN-B";
                items[i].name = names[i];
                items[i].name_len = strlen(names[i]);
                sha_file(srcs[i], items[i].sha256, &items[i].size);
                sizes[i] = items[i].size;
        }
        assert_int_equal(evd_disc_plan(sizes, NULL, N, cap, 4096, vol, &nvol, &err), 0);
        assert_int_equal(nvol, 3);
        snprintf(series, sizeof(series), "{\"case\": \"2026-0123\", \"volumes\": %zu}\n", nvol);

        for (size_t v = 0; v < nvol; v++) {
                struct evd_disc_tag tag = { "series.json", series, strlen(series) };
                struct evd_disc_summary sum;
                struct evd_disc_result res;
                struct evd_disc_spec s;
                char out[256], x[256];
                size_t n = 0;

                for (int i = 0; i < N; i++)
                        if (vol[i] == v)
                                vitems[n++] = items[i];
                s = spec_for(vitems, n);
                s.volume_no = (unsigned)v + 1;
                s.volume_count = (unsigned)nvol;
                s.capacity = cap;
                s.tags = &tag;
                s.n_tags = 1;
                wpath(out, sizeof(out), "vol%zu.iso", v + 1);
                assert_int_equal(evd_disc_build(&s, out, &res, &err), 0);
                assert_true(res.size <= cap);
                assert_int_equal(evd_disc_verify(out, W.cert, NULL, NULL, &sum, &err), 0);
                assert_int_equal(sum.payload_files, n);

                wpath(x, sizeof(x), "vol%zu.d", v + 1);
                assert_int_equal(run("mkdir -p '%s' && cd '%s' && bsdtar xf '%s' && "
                                     "grep -qx 'Bag-Count: %zu of %zu' bag-info.txt && "
                                     "grep -qx 'Payload-Oxum: [0-9]*\\.%zu' bag-info.txt && "
                                     "sha256sum -c --strict manifest-sha256.txt >/dev/null && "
                                     "sha256sum -c --strict tagmanifest-sha256.txt >/dev/null && "
                                     "grep -q ' series.json$' tagmanifest-sha256.txt && "
                                     "grep -q '第 %zu 盘，共 %zu 盘' README.txt",
                                     x, x, out, v + 1, nvol, n, v + 1, nvol),
                                 0);
                assert_int_equal(run("rm -rf '%s' && rm -f '%s'", x, out), 0);
        }
}

/* ---- a block device ---- */

static void test_block_device(void **state)
{
        char dev[64] = "";
        struct evd_disc_summary sum;
        struct evd_err err = { 0 };
        FILE *fp;
        char cmd[512];
        int r;

        (void)state;
        if (geteuid() != 0 || run("losetup --version >/dev/null 2>&1") != 0)
                skip();
        snprintf(cmd, sizeof(cmd), "losetup -f -r --show '%s' 2>/dev/null", W.image);
        fp = popen(cmd, "r");
        assert_non_null(fp);
        if (!fgets(dev, sizeof(dev), fp))
                dev[0] = '\0';
        pclose(fp);
        dev[strcspn(dev, "\n")] = '\0';
        if (!dev[0])
                skip(); /* no loop devices here */
        r = evd_disc_verify(dev, W.cert, NULL, NULL, &sum, &err);
        /* Detach before asserting, so that a failure leaves no loop device behind. */
        assert_int_equal(run("losetup -d '%s'", dev), 0);
        assert_int_equal(r, 0);
        assert_int_equal(sum.payload_files, 3);
        assert_true(sum.signature_ok);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_volume_id),
                cmocka_unit_test(test_media_bytes),
                cmocka_unit_test(test_assign_names),
                cmocka_unit_test(test_plan),
                cmocka_unit_test(test_image_checks_with_standard_tools),
                cmocka_unit_test(test_verify_good_image),
                cmocka_unit_test(test_build_is_byte_identical),
                cmocka_unit_test(test_build_never_replaces),
                cmocka_unit_test(test_tamper_payload_byte),
                cmocka_unit_test(test_tamper_manifest),
                cmocka_unit_test(test_tamper_signature),
                cmocka_unit_test(test_signed_by_someone_else),
                cmocka_unit_test(test_extra_file),
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_tamper_joliet),
                cmocka_unit_test(test_source_differs_from_catalog),
                cmocka_unit_test(test_bad_specs),
                cmocka_unit_test(test_cancel),
                cmocka_unit_test(test_file_larger_than_medium),
                cmocka_unit_test(test_multi_volume),
                cmocka_unit_test(test_block_device),
        };

        return cmocka_run_group_tests(tests, world_setup, world_teardown);
}
