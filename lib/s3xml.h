/* s3xml: the few fields evidock needs from an S3 server's XML replies, found by a small
 * bounded scanner (libxml2 is not a dependency).
 *
 * Replies are untrusted bytes: every function reads only within [xml, xml + len), never
 * needs a NUL terminator, never recurses, and treats anything it does not understand as
 * absent. Elements are matched by their name without a namespace prefix; nesting of
 * the same name is counted. Comments, processing instructions and CDATA are not
 * interpreted (S3 replies do not use them for the fields read here). */
#ifndef EVD_S3XML_H
#define EVD_S3XML_H

#include <stdbool.h>
#include <stddef.h>

/* The next element called name at or after *pos: its content (between the start and the
 * end tag; empty for <name/>) as a span into xml, and *pos moved past its end tag.
 * False when there is none (or it is not closed). */
bool evd_s3xml_next(const char *xml, size_t len, size_t *pos, const char *name,
                    const char **ret_inner, size_t *ret_inner_len);

/* The text of the first element called name, with the five XML entities and numeric
 * character references decoded, into out (n bytes, NUL-terminated). -ENOENT when absent,
 * -ENAMETOOLONG when it does not fit, -EINVAL for a bad reference or a nested tag. */
int evd_s3xml_text(const char *xml, size_t len, const char *name, char *out, size_t n);

/* Escape text for XML content (&, <, >, ", ') into out (n bytes); -ENAMETOOLONG when it
 * does not fit. */
int evd_s3xml_escape(const char *text, char *out, size_t n);

#endif
