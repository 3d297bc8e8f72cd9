/* mutf7.h - modified UTF-7 for mailbox names (RFC 3501 5.1.3).
 *
 * IMAP4rev1 clients exchange mailbox names in modified UTF-7: printable
 * US-ASCII other than '&' stands for itself, "&-" is '&', and any other
 * character is UTF-16BE in modified BASE64 ("+," alphabet, no padding)
 * between '&' and '-'. The store keeps names in UTF-8; these convert.
 * Pure: core headers only.
 */
#ifndef TANDEM_IMAP_MUTF7_H
#define TANDEM_IMAP_MUTF7_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Appends the modified UTF-7 form of the UTF-8 string (utf8, n) to out.
 * Returns 0, or -1 (out unchanged) when the input is not well-formed
 * UTF-8 or holds NUL. */
int mutf7_encode(const char *utf8, size_t n, struct buf *out);

/* Appends the UTF-8 form of the modified UTF-7 string (s, n) to out.
 * Strict: returns -1 (out unchanged) for bytes outside 0x20-0x7e, an
 * unterminated or empty-but-not-"&-" shift, a BASE64 character outside
 * the modified alphabet, non-zero or excess padding bits, a printable
 * US-ASCII character or NUL encoded in BASE64, adjacent shifted runs
 * ("&AOQ-&AOQ-" must be "&AOQA5A-"), and unpaired surrogates. Returns 0
 * otherwise. So decode(encode(x)) == x and only canonical forms pass. */
int mutf7_decode(const char *s, size_t n, struct buf *out);

/* True when (s, n) is canonical modified UTF-7 (mutf7_decode succeeds). */
bool mutf7_valid(const char *s, size_t n);

#endif
