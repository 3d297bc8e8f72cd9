/* charset.h - conversion of MIME charsets to UTF-8 (iconv), tolerant of
 * unknown charsets and broken bytes. Used for SEARCH on headers and
 * bodies and for RFC 2047 decoding.
 */
#ifndef TANDEM_CHARSET_H
#define TANDEM_CHARSET_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* True for the names of UTF-8 and of its subset US-ASCII (any case,
 * with common aliases). */
bool charset_is_utf8(const char *charset);

/* Appends the UTF-8 form of n bytes in charset to out. Bytes that are not
 * valid in the charset become U+FFFD. An unknown charset (iconv does not
 * know it, NULL, "unknown-8bit") is read as UTF-8, its invalid bytes as
 * U+FFFD. Returns true when the charset was known, false when the
 * fallback was used. Never fails otherwise. */
bool charset_to_utf8(const char *charset, const char *s, size_t n,
		     struct buf *out);

/* Appends s (n bytes) with every invalid UTF-8 sequence replaced by
 * U+FFFD. */
void charset_utf8_sanitize(const char *s, size_t n, struct buf *out);

/* Returns the length of the longest prefix of s (n bytes) that is valid
 * UTF-8 (RFC 3629), n when all of it is: what charset_utf8_sanitize
 * would copy unchanged. */
size_t charset_utf8_valid_len(const char *s, size_t n);

#endif
