/* name: original file names as recorders wrote them, and their safe display form.
 *
 * A recorder's file name is a byte string: it may hold invalid UTF-8, newlines or
 * terminal escapes. The catalog keeps the bytes exactly; people see them escaped. */
#ifndef EVD_NAME_H
#define EVD_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence at s (at most len bytes, len > 0) and its code
 * point in *ret_cp; 0 when invalid (overlong, surrogate, past U+10FFFF) or NUL. */
size_t evd_name_utf8_next(const unsigned char *s, size_t len, uint32_t *ret_cp);

/* True when the len bytes at s are valid UTF-8 (no overlongs, no surrogates, no NUL). */
bool evd_name_is_utf8(const char *s, size_t len);

/* Write a display form of the len bytes at s into out (outsz bytes, NUL-terminated):
 * valid printable UTF-8 is kept, a backslash becomes "\\", \n \r \t stay as those
 * two-character escapes, other control bytes, DEL, C1 controls and invalid bytes
 * become "\xHH". Returns the length written, or -ENAMETOOLONG when out is too small
 * (out then holds a truncated form ending in "..."). */
int evd_name_escape(const char *s, size_t len, char *out, size_t outsz);

/* Columns a terminal gives the len bytes of UTF-8 at s: two for East Asian wide and
 * full-width characters (汉字, ｆｕｌｌ), none for combining marks and zero-width
 * characters, one for the rest; an invalid byte counts one. For aligning tables. */
size_t evd_name_display_width(const char *s, size_t len);

#define EVD_NAME_DISTANCE_MAX 128 /* code points compared; the rest are ignored */

/* Edit distance (insertions, deletions, substitutions of code points; an invalid byte
 * is one) between two NUL-terminated strings: for "did you mean" suggestions. */
size_t evd_name_distance(const char *a, const char *b);

/* Whether typed looks like a slip for known (not equal to it): another case, or an edit
 * distance of 1 (2 for words of more than 6 code points). */
bool evd_name_is_near(const char *typed, const char *known);

/* Bytes needed by evd_name_escape for any input of len bytes, including the NUL. */
#define EVD_NAME_ESCAPED_MAX(len) ((len)*4 + 1)

#endif
