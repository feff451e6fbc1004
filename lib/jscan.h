/* jscan: a few fields read straight from stored JSON text, without building json_t.
 *
 * The audit log and the item records are JSON that this program wrote; a scan over a
 * million of them reads only a few fields of each. evd_jscan_valid first says whether
 * the text is certainly a JSON object (or array) that jansson would read back with
 * json_loadb(text, n, 0) as the same value: it is strict, and anything it is not sure
 * of (a number with an exponent, an integer beyond 64 bits, "\u0000", a lone surrogate, bytes that
 * are not UTF-8, nesting past EVD_JSCAN_DEPTH, ...) is "unsure", for the caller to
 * parse with jansson, which then decides. The readers below answer on valid text only,
 * and are unsure too where a plain reading could differ from jansson's (a key written
 * with escapes, a key twice, a string with escapes where one is read as text).
 *
 * Nothing is allocated; spans point into the caller's text (borrowed). */
#ifndef EVD_JSCAN_H
#define EVD_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVD_JSCAN_DEPTH 32    /* deeper nesting is unsure */
#define EVD_JSCAN_MEMBERS 64  /* evd_jscan_canonical: more members in one object is unsure */
#define EVD_JSCAN_UNSURE (-1) /* every reader's "parse it instead" */

/* A JSON value's text: p[0..n). A member that is absent has p == NULL. */
struct evd_jscan_span {
        const char *p;
        size_t n;
};

/* 0 when text[0..n) is one JSON object or array jansson reads as written (above),
 * EVD_JSCAN_UNSURE otherwise. */
int evd_jscan_valid(const char *text, size_t n);

/* The values of keys[0..n_keys) (plain ASCII names) in obj, a valid object's span,
 * into vals (p NULL: absent). EVD_JSCAN_UNSURE when obj is not an object, or one of
 * its keys is written with escapes (it may be one of ours) or a wanted key is there
 * twice (jansson keeps the last); else 0. */
int evd_jscan_fields(struct evd_jscan_span obj, const char *const *keys, size_t n_keys,
                     struct evd_jscan_span *vals);

/* evd_jscan_valid and evd_jscan_fields in one pass, for an object: 0 or
 * EVD_JSCAN_UNSURE (either's). */
int evd_jscan_valid_fields(const char *text, size_t n, const char *const *keys, size_t n_keys,
                           struct evd_jscan_span *vals);

/* Whether v is the literal true (false for an absent member). */
bool evd_jscan_is_true(struct evd_jscan_span v);
bool evd_jscan_is_null(struct evd_jscan_span v);
bool evd_jscan_is_string(struct evd_jscan_span v);
bool evd_jscan_is_object(struct evd_jscan_span v);

/* An integer value into *ret: 0, or -EINVAL when v is not an integer. */
int evd_jscan_int(struct evd_jscan_span v, int64_t *ret);

/* A string value's text into buf (n bytes, NUL-terminated): 0; -EINVAL when v is not
 * a string; EVD_JSCAN_UNSURE when it holds escapes or does not fit. */
int evd_jscan_string(struct evd_jscan_span v, char *buf, size_t n);

/* v in the canonical encoding json_dumps gives with JSON_COMPACT | JSON_SORT_KEYS |
 * JSON_ENSURE_ASCII | JSON_ENCODE_ANY, into out (cap bytes, not NUL-terminated),
 * its length in *ret_len: 0, or EVD_JSCAN_UNSURE (too long, a key written with
 * escapes or twice, too many members). */
int evd_jscan_canonical(struct evd_jscan_span v, char *out, size_t cap, size_t *ret_len);

#endif
