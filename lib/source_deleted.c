/* source_deleted: deleted recordings on the recorder, named, never recovered. */
#include "source_deleted.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <tsk/libtsk.h>

#include "util.h"

struct deleted_walk {
        const char *const *exts;
        size_t n_exts;
        unsigned partition;
        json_t *entries;
        bool more;
        int error;
};

static bool ext_wanted(const struct deleted_walk *w, const char *name)
{
        const char *dot = strrchr(name, '.');

        if (w->n_exts == 0)
                return true;
        if (!dot || dot == name || !dot[1])
                return false;
        for (size_t i = 0; i < w->n_exts; i++) {
                const char *e = w->exts[i][0] == '.' ? w->exts[i] + 1 : w->exts[i];

                if (strcasecmp(dot + 1, e) == 0)
                        return true;
        }
        return false;
}

static json_t *time_json(time_t t)
{
        char s[EVD_TIME_STR];

        if (t <= 0)
                return json_null();
        evd_time_format((int64_t)t, s);
        return json_string(s);
}

static TSK_WALK_RET_ENUM on_entry(TSK_FS_FILE *file, const char *path, void *p)
{
        struct deleted_walk *w = p;
        const TSK_FS_NAME *name = file->name;
        const TSK_FS_META *meta = file->meta;
        char full[EVD_PATH_MAX];
        json_t *e;

        if (!name || !name->name || (name->flags & TSK_FS_NAME_FLAG_ALLOC) ||
            !(name->type == TSK_FS_NAME_TYPE_REG || (name->type == TSK_FS_NAME_TYPE_UNDEF && meta &&
                                                     meta->type == TSK_FS_META_TYPE_REG)) ||
            !ext_wanted(w, name->name))
                return TSK_WALK_CONT;
        if (json_array_size(w->entries) >= EVD_SOURCE_DELETED_MAX) {
                w->more = true;
                return TSK_WALK_STOP;
        }
        (void)snprintf(full, sizeof(full), "%s%s", path ? path : "", name->name);
        e = json_pack("{ss sI sO sO sO sO}", "path", full, "partition", (json_int_t)w->partition,
                      "size", meta && meta->size >= 0 ? json_integer(meta->size) : json_null(),
                      "mtime", meta ? time_json(meta->mtime) : json_null(), "crtime",
                      meta ? time_json(meta->crtime) : json_null(), "atime",
                      meta ? time_json(meta->atime) : json_null());
        if (!e || json_array_append_new(w->entries, e) < 0) {
                w->error = -ENOMEM;
                return TSK_WALK_ERROR;
        }
        return TSK_WALK_CONT;
}

static int walk_fs(void *fs_info, unsigned idx, void *p)
{
        struct deleted_walk *w = p;
        TSK_FS_INFO *fs = fs_info;

        w->partition = idx;
        tsk_error_reset();
        /* Errors (a damaged directory) end this filesystem's walk; the listing itself
         * reports damage, this keeps what it found. */
        (void)tsk_fs_dir_walk(fs, fs->root_inum,
                              TSK_FS_DIR_WALK_FLAG_ALLOC | TSK_FS_DIR_WALK_FLAG_UNALLOC |
                                      TSK_FS_DIR_WALK_FLAG_RECURSE,
                              on_entry, w);
        tsk_error_reset();
        return w->error ? w->error : w->more ? 1 : 0;
}

int evd_source_list_deleted(struct evd_source *src, const char *const *exts, size_t n_exts,
                            json_t **ret, struct evd_err *err)
{
        struct deleted_walk w = { .exts = exts, .n_exts = n_exts, .entries = json_array() };
        int r;

        if (!w.entries)
                return evd_err_set(err, -ENOMEM, "out of memory");
        r = evd_source_each_fs(src, walk_fs, &w);
        if (r < 0) {
                json_decref(w.entries);
                return evd_err_set(err, r, "out of memory");
        }
        *ret = json_pack("{so sb}", "entries", w.entries, "more", w.more);
        return *ret ? 0 : evd_err_set(err, -ENOMEM, "out of memory");
}
