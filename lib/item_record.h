/* item_record: an item's stored form in the catalog's items database.
 *
 * An item as evd_item_new makes it carries a dozen fields that most items never
 * change from their first value (hold false, exports [], stage null, ...). The stored
 * record leaves out each of those fields while it holds that value, and says so with
 * the member "~": 1 (the version of the table of such fields); reading it puts every
 * left-out field back with that value, in the order evd_item_new gives the fields,
 * so that the item read is the item written. A record without "~" (written before,
 * or by hand) is read exactly as it is stored, and an item that lacks any of those
 * fields is stored that way too, so that no field appears that was not there. The
 * record stays one JSON object: tools that read the database still parse it. */
#ifndef EVD_ITEM_RECORD_H
#define EVD_ITEM_RECORD_H

#include <jansson.h>
#include <stddef.h>

/* The stored text of item (borrowed), NUL-terminated; caller frees. NULL on
 * out-of-memory. */
char *evd_item_record_encode(const json_t *item);

/* The item (caller owns) in a stored record of len bytes; NULL when it is not a JSON
 * object or names a version of the table this station does not know. */
json_t *evd_item_record_decode(const void *data, size_t len);

#endif
