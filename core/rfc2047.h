/* rfc2047.h - decoding of RFC 2047 encoded-words in header fields to
 * UTF-8 (SEARCH matches on decoded headers, RFC 9051 6.4.4).
 */
#ifndef TANDEM_RFC2047_H
#define TANDEM_RFC2047_H

#include <stddef.h>

#include "buf.h"

/* Appends to out the UTF-8 form of a header field body (n bytes):
 * encoded-words "=?charset[*lang]?B|Q?text?=" are decoded and converted
 * (core/charset.h); whitespace between two adjacent encoded-words is
 * dropped (RFC 2047 6.2) and adjacent words in the same charset are
 * joined before conversion, so a character split across words survives;
 * CR and LF are dropped (unfolding); other text is taken as UTF-8 with
 * invalid bytes replaced by U+FFFD. Malformed encoded-words are kept as
 * they are. Tolerant of encoded-words inside words and longer than 75
 * bytes (common in real mail). Never fails. */
void rfc2047_decode(const char *s, size_t n, struct buf *out);

#endif
