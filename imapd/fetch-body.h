/* fetch-body.h - BODY[section]<partial> and BINARY[section] addressing
 * (RFC 9051 6.4.5, RFC 3516) over a parsed message (core/mime.h).
 *
 * Pure: no storage, no session. The caller (FETCH) gives the part tree
 * and, where bytes must be looked at (header-field filtering), a read
 * callback; it gets back byte ranges of the stored message to stream
 * with backpressure, or a small buffer of filtered bytes, and it uses
 * the streaming helpers below for CRLF normalisation, <partial> windows
 * and BINARY decoding.
 *
 * Sizes. IMAP sends messages with CRLF line ends: a stored bare LF goes
 * out as CRLF (as Dovecot does), so every range carries both its stored
 * size and its "virtual" size (what the client receives, the literal's
 * length); <partial> offsets count virtual bytes.
 *
 * Part addressing follows Dovecot 2.3 (imap-msgpart.c), which the tests
 * check against: a missing section is an empty string, not an error.
 */
#ifndef TANDEM_IMAP_FETCH_BODY_H
#define TANDEM_IMAP_FETCH_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "mime.h"
#include "parser.h"

/* Reads up to len bytes of the stored message at offset into dst;
 * returns the count (0 at the end) or -1 (the store failed). */
typedef ssize_t fetch_body_read_cb(void *ctx, uint64_t offset, void *dst,
				   size_t len);

enum fetch_body_kind {
	FETCH_BODY_EMPTY,  /* the section does not exist: send "" */
	FETCH_BODY_RANGE,  /* stream range bytes, CRLF-normalised */
	FETCH_BODY_FIELDS, /* HEADER.FIELDS[.NOT]: call fetch_body_fields */
};

struct fetch_body_range {
	uint64_t start; /* stored offset of the first byte */
	uint64_t size;  /* stored bytes */
	uint64_t vsize; /* bytes sent: size plus one per bare LF */
};

struct fetch_body_section {
	enum fetch_body_kind kind;
	struct fetch_body_range range; /* RANGE; for FIELDS the header to
					  filter */
	const struct mime_part *part;  /* the part addressed (NULL when
					  EMPTY); for BINARY its CTE */
};

/* Resolves att (BODY, BODY.PEEK, BINARY, BINARY.PEEK, BINARY.SIZE with
 * its section; see imap_fetch_att_parse) against the tree. Returns 0 and
 * fills *r. Never fails: a section that does not exist gives
 * FETCH_BODY_EMPTY. For BINARY the range is the part's encoded body (use
 * fetch_decoder to decode it); BINARY[] is the whole message. The
 * partial window is not applied here (see fetch_window). */
void fetch_body_resolve(const struct mime_part *root,
			const struct imap_fetch_att *att,
			struct fetch_body_section *r);

/* Most bytes HEADER.FIELDS may produce; beyond it fetch_body_fields
 * fails (the header is absurd). */
#define FETCH_BODY_FIELDS_MAX (1024 * 1024)

/* HEADER.FIELDS (not false) / HEADER.FIELDS.NOT (not true): reads the
 * header range through read_cb and appends to out the fields whose name
 * is (is not) among fields -- nfields NUL-terminated names one after
 * the other, as imap_fetch_att_parse gives them, matched without case --
 * with their continuation lines, CRLF-normalised, then the blank line
 * "\r\n" (RFC 9051 6.4.5). Returns 0, or -1 when read_cb fails or the
 * output would pass FETCH_BODY_FIELDS_MAX (out is then reset). */
int fetch_body_fields(const struct fetch_body_range *hdr, const char *fields,
		      size_t nfields, bool not, fetch_body_read_cb *read_cb,
		      void *ctx, struct buf *out);

/* ---- streaming helpers -------------------------------------------------- */

/* CRLF normalisation with a <partial> window. Feed the range's stored
 * bytes in order, in slices of any size; the bytes whose virtual offset
 * is in [from, from + len) are appended to out. Init with from/len of
 * the partial (0 and UINT64_MAX without one). */
struct fetch_window {
	uint64_t from, len; /* the window, in virtual bytes */
	uint64_t vpos;	    /* virtual bytes produced so far */
	bool crlf;	    /* false: pass bytes as they are (BINARY) */
	bool last_cr;	    /* the previous stored byte was CR */
};
void fetch_window_init(struct fetch_window *w, uint64_t from, uint64_t len,
		       bool crlf);
void fetch_window_feed(struct fetch_window *w, const char *in, size_t n,
		       struct buf *out);
/* True once every byte of the window has been produced (stop reading). */
bool fetch_window_done(const struct fetch_window *w);
/* The literal size for a section of total virtual size vsize with the
 * partial window [from, from + len): min(len, vsize - from), 0 past the
 * end (RFC 9051 6.4.5). */
uint64_t fetch_window_size(uint64_t vsize, uint64_t from, uint64_t len);

/* BINARY decoding (RFC 3516). */
enum fetch_cte {
	FETCH_CTE_IDENTITY, /* 7bit, 8bit, binary, absent */
	FETCH_CTE_BASE64,
	FETCH_CTE_QP,
	FETCH_CTE_UNKNOWN, /* answer NO [UNKNOWN-CTE] */
};
/* The transfer encoding of part (NULL: identity). Multipart and
 * message/rfc822 parts are identity (RFC 3516 4.2: their bodies are not
 * decoded). */
enum fetch_cte fetch_body_cte(const struct mime_part *part);

/* A streaming decoder: feed the encoded body in slices of any size,
 * decoded bytes are appended to out; fetch_decoder_finish flushes the
 * tail. Base64 ignores characters outside the alphabet and stops at
 * '=' padding; quoted-printable (RFC 2045 6.7) turns "=XX" into a byte,
 * drops soft line breaks ("=" at line end) and trailing whitespace before
 * a line end, keeps a malformed "=" as it is, and emits line ends as
 * CRLF. Neither ever fails. */
struct fetch_decoder {
	enum fetch_cte cte;
	unsigned char q[4]; /* pending input: base64 quantum / QP escape */
	unsigned nq;
	bool b64_end;	    /* base64 padding seen */
	struct buf ws;	    /* QP: pending whitespace (dropped before EOL) */
};
void fetch_decoder_init(struct fetch_decoder *d, enum fetch_cte cte);
void fetch_decoder_feed(struct fetch_decoder *d, const char *in, size_t n,
			struct buf *out);
void fetch_decoder_finish(struct fetch_decoder *d, struct buf *out);
void fetch_decoder_release(struct fetch_decoder *d);

#endif
