/* s3tool: drive lib/s3.c from tests, one operation per run, a JSON line on stdout.
 *
 *   S3_ENDPOINT, S3_BUCKET, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY, [S3_CA_FILE],
 *   [S3_PART_SIZE] in the environment;
 *   s3tool put KEY FILE [SHA256HEX|-] [RETAIN_UNTIL|-] [hold]
 *   s3tool get KEY OUT|- [VERSION]      s3tool head KEY [VERSION]
 *   s3tool delete KEY [VERSION]         s3tool list PREFIX
 *   s3tool versions PREFIX               (every version and delete marker)
 *   s3tool retention KEY VERSION [UNTIL]   (get, or set COMPLIANCE until UNTIL)
 *   s3tool hold KEY VERSION [on|off]       (get, or set)
 *   s3tool bucket
 * Exit 0 on success; 1 with {"error", "errno"} otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3.h"
#include "util.h"

static const char *env(const char *name)
{
        const char *v = getenv(name);

        return v ? v : "";
}

static int out(json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT);

        puts(s ? s : "null");
        free(s);
        json_decref(j);
        return 0;
}

static int each(void *ud, const struct evd_s3_entry *e)
{
        json_array_append_new(ud, json_pack("{s:s, s:I, s:s}", "key", e->key, "size",
                                            (json_int_t)e->size, "etag", e->etag));
        return 0;
}

static int each_version(void *ud, const struct evd_s3_version *v)
{
        json_array_append_new(ud, json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:b}", "key", v->key,
                                            "version_id", v->version_id, "etag", v->etag, "size",
                                            (json_int_t)v->size, "modified_ms",
                                            (json_int_t)v->modified_ms, "latest", v->latest,
                                            "delete_marker", v->delete_marker));
        return 0;
}

static json_t *obj_json(const struct evd_s3_object *o)
{
        char until[EVD_TIME_STR] = "";

        if (o->lock.mode)
                evd_time_format(o->lock.retain_until, until);
        return json_pack("{s:I, s:s, s:s, s:s, s:s, s:b}", "size", (json_int_t)o->size, "etag",
                         o->etag, "version_id", o->version_id, "mode",
                         evd_s3_mode_name(o->lock.mode), "retain_until", until, "legal_hold",
                         o->lock.legal_hold);
}

static int put(struct evd_s3 *s3, int argc, char **argv, struct evd_err *err)
{
        uint8_t sha[EVD_SHA256_LEN];
        struct evd_s3_lock lock = { 0 };
        struct evd_s3_object o;
        struct stat st;
        int fd = open(argv[3], O_RDONLY | O_CLOEXEC), r;

        if (fd < 0 || fstat(fd, &st) < 0)
                return evd_err_set(err, -errno, "%s: %s", argv[3], strerror(errno));
        struct evd_s3_body body = { .fd = fd, .size = (uint64_t)st.st_size };

        if (argc > 4 && strcmp(argv[4], "-") != 0) {
                if (evd_unhex(argv[4], sha, sizeof(sha)) < 0)
                        return evd_err_set(err, -EINVAL, "bad sha256");
                body.sha256 = sha;
        }
        if (argc > 5 && strcmp(argv[5], "-") != 0) {
                lock.mode = EVD_S3_MODE_COMPLIANCE;
                if (evd_time_parse(argv[5], &lock.retain_until) < 0)
                        return evd_err_set(err, -EINVAL, "bad time");
        }
        lock.legal_hold = argc > 6 && strcmp(argv[6], "hold") == 0;
        r = evd_s3_put(s3, argv[2], &body, &lock, &o, err);
        close(fd);
        return r < 0 ? r : out(obj_json(&o));
}

static int get(struct evd_s3 *s3, int argc, char **argv, struct evd_err *err)
{
        uint8_t sha[EVD_SHA256_LEN];
        char hex[EVD_SHA256_HEX];
        uint64_t size;
        int fd = -1, r;

        if (argc < 4)
                return evd_err_set(err, -EINVAL, "get KEY OUT|- [VERSION]");
        if (strcmp(argv[3], "-") != 0 &&
            (fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
                return evd_err_set(err, -errno, "%s: %s", argv[3], strerror(errno));
        r = evd_s3_get(s3, argv[2], argc > 4 ? argv[4] : NULL, fd, 0, sha, &size, err);
        if (fd >= 0)
                close(fd);
        if (r < 0)
                return r;
        evd_hex(sha, sizeof(sha), hex);
        return out(json_pack("{s:s, s:I}", "sha256", hex, "size", (json_int_t)size));
}

static int retention(struct evd_s3 *s3, int argc, char **argv, struct evd_err *err)
{
        enum evd_s3_mode mode;
        int64_t until;
        char t[EVD_TIME_STR] = "";
        int r;

        if (argc > 4) {
                if (evd_time_parse(argv[4], &until) < 0)
                        return evd_err_set(err, -EINVAL, "bad time");
                r = evd_s3_set_retention(s3, argv[2], argv[3], EVD_S3_MODE_COMPLIANCE, until, err);
                if (r < 0)
                        return r;
        }
        r = evd_s3_get_retention(s3, argv[2], argv[3], &mode, &until, err);
        if (r < 0)
                return r;
        if (mode)
                evd_time_format(until, t);
        return out(json_pack("{s:s, s:s}", "mode", evd_s3_mode_name(mode), "retain_until", t));
}

static int hold(struct evd_s3 *s3, int argc, char **argv, struct evd_err *err)
{
        bool on;
        int r = 0;

        if (argc > 4)
                r = evd_s3_set_legal_hold(s3, argv[2], argv[3], strcmp(argv[4], "on") == 0, err);
        if (r == 0)
                r = evd_s3_get_legal_hold(s3, argv[2], argv[3], &on, err);
        return r < 0 ? r : out(json_pack("{s:b}", "legal_hold", on));
}

static int run(struct evd_s3 *s3, int argc, char **argv, struct evd_err *err)
{
        const char *op = argv[1];
        struct evd_s3_object o;
        int r;

        if (strcmp(op, "bucket") == 0) {
                bool v, l;

                r = evd_s3_bucket_versioning(s3, &v, err);
                if (r == 0)
                        r = evd_s3_bucket_object_lock(s3, &l, err);
                return r < 0 ? r : out(json_pack("{s:b, s:b}", "versioning", v, "object_lock", l));
        }
        if (argc < 3)
                return evd_err_set(err, -EINVAL, "usage: see the top of s3tool.c");
        if (strcmp(op, "put") == 0 && argc > 3)
                return put(s3, argc, argv, err);
        if (strcmp(op, "get") == 0)
                return get(s3, argc, argv, err);
        if (strcmp(op, "head") == 0) {
                r = evd_s3_head(s3, argv[2], argc > 3 ? argv[3] : NULL, &o, err);
                return r < 0 ? r : out(obj_json(&o));
        }
        if (strcmp(op, "delete") == 0) {
                r = evd_s3_delete(s3, argv[2], argc > 3 ? argv[3] : NULL, err);
                return r < 0 ? r : out(json_object());
        }
        if (strcmp(op, "list") == 0) {
                json_t *a = json_array();

                r = evd_s3_list(s3, argv[2], each, a, err);
                if (r < 0) {
                        json_decref(a);
                        return r;
                }
                return out(a);
        }
        if (strcmp(op, "versions") == 0) {
                json_t *a = json_array();

                r = evd_s3_list_versions(s3, argv[2], each_version, a, err);
                if (r < 0) {
                        json_decref(a);
                        return r;
                }
                return out(a);
        }
        if (strcmp(op, "retention") == 0 && argc > 3)
                return retention(s3, argc, argv, err);
        if (strcmp(op, "hold") == 0 && argc > 3)
                return hold(s3, argc, argv, err);
        return evd_err_set(err, -EINVAL, "usage: see the top of s3tool.c");
}

int main(int argc, char **argv)
{
        struct evd_s3_config cfg = {
                .endpoint = env("S3_ENDPOINT"),
                .bucket = env("S3_BUCKET"),
                .region = env("S3_REGION"),
                .access_key = env("S3_ACCESS_KEY"),
                .secret_key = env("S3_SECRET_KEY"),
                .ca_file = env("S3_CA_FILE"),
                .part_size = strtoull(env("S3_PART_SIZE"), NULL, 10),
        };
        struct evd_err err = { 0 };
        struct evd_s3 *s3 = NULL;
        int r;

        if (argc < 2) {
                fprintf(stderr, "usage: see the top of s3tool.c\n");
                return 2;
        }
        r = evd_s3_new(&cfg, &s3, &err);
        if (r == 0)
                r = run(s3, argc, argv, &err);
        evd_s3_free(s3);
        if (r < 0) {
                out(json_pack("{s:s, s:i}", "error", err.text, "errno", -r));
                fprintf(stderr, "s3tool: %s\n", err.text);
                return 1;
        }
        return 0;
}
