/* disc_bag: the tag files of a disc's BagIt bag (RFC 8493): bagit.txt, bag-info.txt,
 * manifest-sha256.txt, README.txt, items.json, the station's certificate, the caller's
 * own, and the tag manifest with its signature. */
#include "disc_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "name.h"

#define LABEL_MAX 64

/* ---- tag files ---- */

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
        return evd_disc_fold_eq(a, b);
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
        static const char *const ours[] = { "Payload-Oxum", "Bagging-Date", "Bag-Count",
                                            "Extraction-Time-Local" };
        char date[EVD_TIME_STR], local[EVD_TIME_LOCAL_STR];

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
        evd_time_format(spec->bagging_time ? spec->bagging_time : spec->extraction_time, date);
        date[10] = '\0';
        (void)evd_buf_printf(b, "Bagging-Date: %s\n", date);
        evd_time_format_local(spec->extraction_time, local);
        (void)evd_buf_printf(b, "Extraction-Time-Local: %s\n", local);
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
        char when[EVD_TIME_STR], local[EVD_TIME_LOCAL_STR];

        evd_time_format(spec->extraction_time, when);
        (void)evd_buf_str(b, "执法记录仪证据光盘 / Enforcement recording evidence disc\n"
                             "=====================================================\n\n");
        (void)evd_buf_printf(b, "卷标 / Volume:          %s\n", volid);
        if (case_no) {
                (void)evd_buf_str(b, "案号 / Case number:     ");
                info_value(b, case_no);
                (void)evd_buf_str(b, "\n");
        }
        evd_time_format_local(spec->extraction_time, local);
        (void)evd_buf_printf(b, "提取时间 / Extracted:   %s = %s (UTC)\n", local, when);
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

        if (len == 0 || len > EVD_DISC_TAG_NAME_MAX || name[0] == '.')
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = name[i];

                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return false;
        }
        for (size_t i = 0; i < EVD_ARRAY_SIZE(reserved); i++)
                if (evd_disc_fold_eq(name, reserved[i]))
                        return false;
        if (strncasecmp(name, "manifest-", 9) == 0 || strncasecmp(name, "tagmanifest-", 12) == 0)
                return false;
        return true;
}

/* ---- the bag ---- */

int evd_disc_bag_check(const struct evd_disc_spec *spec, struct evd_err *err)
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
                        if (evd_disc_fold_eq(t->name, spec->tags[k].name))
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
                if (evd_disc_fold_eq(spec->tags[i].name, name))
                        return true;
        return false;
}

static void add_tag(struct evd_disc_bag *bag, const char *name, const void *data, size_t len)
{
        struct evd_disc_tagfile *t = &bag->tags[bag->ntags++];

        (void)snprintf(t->name, sizeof(t->name), "%s", name);
        t->data = data;
        t->len = len;
}

static int tag_sha(const struct evd_disc_tagfile *t, char hex[EVD_SHA256_HEX])
{
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        if (EVP_Digest(t->data ? t->data : (const uint8_t *)"", t->len, md, &n, EVP_sha256(),
                       NULL) != 1)
                return -EIO;
        evd_hex(md, EVD_SHA256_LEN, hex);
        return 0;
}

/* bagit.txt, manifest-sha256.txt and bag-info.txt, and README.txt and items.json unless
 * the caller gives its own. */
static int make_texts(struct evd_disc_bag *bag, const struct evd_disc_spec *spec, const char *volid,
                      struct evd_err *err)
{
        char fpr[EVD_SHA256_HEX], hex[EVD_SHA256_HEX];
        uint64_t oxum = 0;
        int r;

        evd_keys_fingerprint(evd_keys_cert(spec->keys), fpr);
        (void)evd_buf_str(&bag->bagit, "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n");
        for (size_t i = 0; i < spec->n_items; i++) {
                const struct evd_disc_item *it = &spec->items[i];

                evd_hex(it->sha256, EVD_SHA256_LEN, hex);
                (void)evd_buf_printf(&bag->manifest, "%s  %s\n", hex, it->disc_path);
                if (it->size > UINT64_MAX - oxum)
                        return evd_err_set(err, -EOVERFLOW, "payload too large");
                oxum += it->size;
        }
        r = make_bag_info(&bag->info, spec, oxum, err);
        if (r < 0)
                return r;
        if (!caller_has_tag(spec, "README.txt"))
                make_readme(&bag->readme, spec, volid, fpr);
        if (!caller_has_tag(spec, "items.json"))
                make_items_json(&bag->items_json, spec);
        r = bag->bagit.error      ? bag->bagit.error
            : bag->manifest.error ? bag->manifest.error
            : bag->info.error     ? bag->info.error
            : bag->readme.error   ? bag->readme.error
                                  : bag->items_json.error;
        if (r < 0)
                return evd_err_set(err, r, "tag files too large or out of memory");
        return 0;
}

/* The list of tag files, the tag manifest over all of them and the signature over it. */
static int list_and_sign(struct evd_disc_bag *bag, const struct evd_disc_spec *spec,
                         struct evd_err *err)
{
        char hex[EVD_SHA256_HEX];
        size_t cert_len = 0;
        const char *cert_pem = evd_keys_cert_pem(spec->keys, &cert_len);
        int r;

        add_tag(bag, "bagit.txt", bag->bagit.data, bag->bagit.len);
        add_tag(bag, "bag-info.txt", bag->info.data, bag->info.len);
        add_tag(bag, "manifest-sha256.txt", bag->manifest.data, bag->manifest.len);
        if (bag->readme.data)
                add_tag(bag, "README.txt", bag->readme.data, bag->readme.len);
        if (bag->items_json.data)
                add_tag(bag, "items.json", bag->items_json.data, bag->items_json.len);
        add_tag(bag, EVD_DISC_CERT_FILE, cert_pem, cert_len);
        for (size_t i = 0; i < spec->n_tags; i++)
                add_tag(bag, spec->tags[i].name, spec->tags[i].data, spec->tags[i].len);
        for (size_t i = 0; i < bag->ntags; i++) {
                if (tag_sha(&bag->tags[i], hex) < 0)
                        return evd_err_set(err, -EIO, "SHA-256 failed");
                (void)evd_buf_printf(&bag->tagman, "%s  %s\n", hex, bag->tags[i].name);
        }
        if (bag->tagman.error)
                return evd_err_set(err, bag->tagman.error, "out of memory");
        r = evd_keys_cms_sign(spec->keys, bag->tagman.data, bag->tagman.len, &bag->sig,
                              &bag->sig_len, err);
        if (r < 0)
                return r;
        add_tag(bag, "tagmanifest-sha256.txt", bag->tagman.data, bag->tagman.len);
        add_tag(bag, EVD_DISC_SIGNATURE_FILE, bag->sig, bag->sig_len);
        return 0;
}

int evd_disc_bag_make(struct evd_disc_bag *bag, const struct evd_disc_spec *spec, const char *volid,
                      struct evd_err *err)
{
        int r;

        memset(bag, 0, sizeof(*bag));
        bag->bagit.max = 4096;
        bag->info.max = 1u << 20;
        bag->manifest.max = 256u << 20;
        bag->readme.max = 1u << 20;
        bag->items_json.max = 256u << 20;
        bag->tagman.max = 1u << 20;
        r = make_texts(bag, spec, volid, err);
        if (r < 0)
                return r;
        return list_and_sign(bag, spec, err);
}

void evd_disc_bag_free(struct evd_disc_bag *bag)
{
        evd_buf_free(&bag->bagit);
        evd_buf_free(&bag->info);
        evd_buf_free(&bag->manifest);
        evd_buf_free(&bag->readme);
        evd_buf_free(&bag->items_json);
        evd_buf_free(&bag->tagman);
        free(bag->sig);
        bag->sig = NULL;
        bag->ntags = 0;
}
