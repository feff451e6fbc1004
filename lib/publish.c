#include "publish.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define DIR_BUF 4096

/* The directory part of path: "." when there is none, "/" for a file in the root. */
static int dir_of(const char *path, char *out, size_t n)
{
        const char *slash = strrchr(path, '/');

        if (!slash)
                return evd_snprintf(out, n, ".");
        if (slash == path)
                return evd_snprintf(out, n, "/");
        return evd_snprintf(out, n, "%.*s", (int)(slash - path), path);
}

/* Name the file final without replacing anything: 0 or -errno. */
static int name_noreplace(int tmp_dirfd, const char *tmp, const char *final)
{
        int r;

        if (renameat2(tmp_dirfd, tmp, AT_FDCWD, final, RENAME_NOREPLACE) == 0)
                return 0;
        r = -errno;
        /* File systems (or kernels) without RENAME_NOREPLACE: link() never replaces. */
        if (r != -EINVAL && r != -ENOSYS)
                return r;
        if (linkat(tmp_dirfd, tmp, AT_FDCWD, final, 0) < 0)
                return -errno;
        /* Named now; a temporary name that stays behind is only clutter. */
        (void)unlinkat(tmp_dirfd, tmp, 0);
        return 0;
}

int evd_publish(int tmp_dirfd, const char *tmp, const char *final, bool *ret_named)
{
        char dir[DIR_BUF];
        int r;

        if (ret_named)
                *ret_named = false;
        if (dir_of(final, dir, sizeof(dir)) < 0)
                return -ENAMETOOLONG;
        r = name_noreplace(tmp_dirfd, tmp, final);
        if (r < 0)
                return r;
        if (ret_named)
                *ret_named = true;
        return evd_fsync_dir(dir);
}
