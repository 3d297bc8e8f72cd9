/* write.h - IMAP reply syntax writers (RFC 9051 4, RFC 3501 4).
 *
 * Every string, astring, nstring, literal, flag list and mailbox name a
 * reply carries goes through these functions, so quoting, the literal
 * choice, 8-bit and modified UTF-7 rules live in one place. They append
 * to a struct buf and never fail (buf growth aborts on OOM); callers bound
 * sizes. Pure: include only core headers; no session, no I/O.
 *
 * Quoted or literal. A string is written quoted when every byte is a
 * TEXT-CHAR (7-bit, not NUL/CR/LF) and it is at most IMAP_W_QUOTED_MAX
 * bytes; '"' and '\' are escaped. Otherwise it is a synchronizing-form
 * literal "{n}\r\n" followed by the bytes (server literals never wait).
 */
#ifndef TANDEM_IMAP_WRITE_H
#define TANDEM_IMAP_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Strings longer than this are written as literals even if printable. */
#define IMAP_W_QUOTED_MAX 1024

/* string = quoted / literal. s may hold any bytes (n of them). */
void imap_w_string(struct buf *out, const char *s, size_t n);
/* nstring = string / nil. s NULL -> NIL. */
void imap_w_nstring(struct buf *out, const char *s, size_t n);
/* astring = 1*ASTRING-CHAR / string: a bare atom when s is non-empty,
 * made only of ASTRING-CHARs and not "NIL" (any case), else a string. */
void imap_w_astring(struct buf *out, const char *s, size_t n);

/* The same three, for sessions where UTF-8 is allowed in quoted strings
 * (IMAP4rev2 or ENABLE UTF8=ACCEPT, RFC 9051 4.3, RFC 6855 3): valid UTF-8
 * stays quoted; invalid UTF-8, CR, LF, NUL still force a literal. */
void imap_w_string_utf8(struct buf *out, const char *s, size_t n);
void imap_w_nstring_utf8(struct buf *out, const char *s, size_t n);
void imap_w_astring_utf8(struct buf *out, const char *s, size_t n);

/* Always quoted, escaping '"' and '\'. The caller guarantees s holds only
 * TEXT-CHARs (asserted in debug builds), e.g. a fixed response text. */
void imap_w_quoted(struct buf *out, const char *s, size_t n);

/* Literal header: "{size}\r\n", or "~{size}\r\n" when binary (RFC 3516
 * literal8, for BINARY[] and data holding NUL). The caller appends
 * exactly size bytes afterwards (possibly streamed in slices). */
void imap_w_literal_header(struct buf *out, uint64_t size, bool binary);
/* Header plus the n bytes. */
void imap_w_literal(struct buf *out, const char *s, size_t n, bool binary);

/* Mailbox name, given in UTF-8 as the store keeps it (RFC 9051 5.1,
 * RFC 3501 5.1.3). utf8 false (IMAP4rev1 without UTF8=ACCEPT): encoded in
 * modified UTF-7, then written as an astring. utf8 true: written as an
 * astring with UTF-8 kept (RFC 9051 / RFC 6855). "INBOX" in any case is
 * written as INBOX. */
void imap_w_mailbox(struct buf *out, const char *name, size_t n, bool utf8);

/* System flag bits for imap_w_flag_list; equal to storage's STORE_F_*. */
enum {
	IMAP_FLAG_SEEN = 1u << 0,
	IMAP_FLAG_ANSWERED = 1u << 1,
	IMAP_FLAG_FLAGGED = 1u << 2,
	IMAP_FLAG_DELETED = 1u << 3,
	IMAP_FLAG_DRAFT = 1u << 4,
};
/* The IMAP_FLAG_* bit of a system flag name ("\\Seen", any case); 0 for
 * any other name, \\Recent included (RFC 3501 2.3.2: it cannot be set). */
unsigned imap_sys_flag_bit(const char *name);
/* flag-keyword = atom (RFC 9051 9), and ASCII: the n octets of s. */
bool imap_is_keyword(const char *s, size_t n);

/* flag-list = "(" [flag *(SP flag)] ")": the system flags set in flags
 * (IMAP_FLAG_*), then \Recent when recent, then the keywords (a
 * space-separated list of atoms, may be NULL or ""). Keywords are written
 * as they are: the store only keeps valid flag-keyword atoms. */
void imap_w_flag_list(struct buf *out, unsigned flags, bool recent,
		      const char *keywords);
/* Writes the system flags only, without parentheses, separated by SP;
 * returns how many were written (PERMANENTFLAGS, FLAGS helpers). */
unsigned imap_w_sys_flags(struct buf *out, unsigned flags);

/* ATOM-CHAR (RFC 9051 9): any CHAR except atom-specials. */
bool imap_is_atom_char(unsigned char c);
/* ASTRING-CHAR = ATOM-CHAR / resp-specials. */
bool imap_is_astring_char(unsigned char c);
/* TEXT-CHAR: 7-bit, not NUL, CR or LF. */
bool imap_is_text_char(unsigned char c);
/* True when s (n bytes) is well-formed UTF-8 (no overlongs, surrogates,
 * or code points beyond U+10FFFF). */
bool imap_utf8_valid(const char *s, size_t n);

#endif
