/* disc_internal: what the disc module's files share; included by lib/disc*.c only.
 *
 *   disc.c         libisofs set-up and the lock around it; media sizes; volume plans
 *   disc_name.c    names on disc (volume ids, file and recorder names)
 *   disc_bag.c     the bag's tag files (bagit.txt, manifests, bag-info, README, items.json,
 *                  signature)
 *   disc_build.c   the image: streams libisofs reads, the tree, writing and publishing
 *   disc_verify.c  checking an image
 *
 * disc.h is the module's interface; nothing here is for other modules. */
#ifndef EVD_DISC_INTERNAL_H
#define EVD_DISC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#include "buf.h"
#include "disc.h"

#define EVD_DISC_READ_CHUNK (1u << 20) /* payload reads (build) and file reads (verify) */
#define EVD_DISC_PATH_BUF 4096         /* file system paths, paths in an image */
#define EVD_DISC_TAG_NAME_MAX 64       /* a tag file's name, bytes */

/* libisofs keeps process-wide state: every use of it is between evd_disc_enter (which
 * initialises libisofs once; -EIO in err when it cannot) and evd_disc_leave. */
int evd_disc_enter(struct evd_err *err);
void evd_disc_leave(void);

/* Set err to "what: <libisofs's text for iso_code>" and return code. */
int evd_disc_iso_fail(struct evd_err *err, int code, const char *what, int iso_code);

/* Equal with ASCII case ignored (as Windows compares names). */
bool evd_disc_fold_eq(const char *a, const char *b);

/* ---- disc_bag.c ---- */

/* A tag file: a name in the image's root and its bytes. */
struct evd_disc_tagfile {
        char name[EVD_DISC_TAG_NAME_MAX + 1];
        const uint8_t *data; /* borrowed: from the spec, the keys, or the bag's buffers */
        size_t len;
};

/* Every tag file of one bag, in the order they go on the disc. The bag owns its buffers
 * and the signature; data pointers into the spec or the keys are borrowed and must
 * outlive the bag. */
struct evd_disc_bag {
        struct evd_buf bagit, info, manifest, readme, items_json, tagman;
        uint8_t *sig; /* CMS signature over tagman (DER) */
        size_t sig_len;
        struct evd_disc_tagfile tags[EVD_DISC_TAGS_MAX + 8]; /* the caller's and our 8 */
        size_t ntags;
};

/* Check what the bag needs of spec (signer, counts, volume numbers, tag file names and
 * sizes): 0, or -EINVAL/-E2BIG/-EFBIG with err naming the fault. */
int evd_disc_bag_check(const struct evd_disc_spec *spec, struct evd_err *err);

/* Make the tag files of spec (its items' disc_path assigned, volid its volume id) and
 * sign them. bag is initialised whatever the result: free it with evd_disc_bag_free. */
int evd_disc_bag_make(struct evd_disc_bag *bag, const struct evd_disc_spec *spec, const char *volid,
                      struct evd_err *err);
void evd_disc_bag_free(struct evd_disc_bag *bag);

#endif
