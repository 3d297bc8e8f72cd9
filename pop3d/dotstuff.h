/* dotstuff.h - RFC 1939 3 multi-line encoding of a message, streaming.
 *
 * Pure (no I/O, includes only core headers): stored message bytes go in
 * as slices of any size, wire bytes come out:
 *   - every line ends in CRLF on the wire: a bare LF becomes CRLF, a CR
 *     before LF is kept, a bare CR is kept as a data byte;
 *   - a line starting with '.' gets one more '.' ("byte-stuffing");
 *   - dotstuff_finish() ends an unterminated last line with CRLF and adds
 *     the terminating ".CRLF".
 * For TOP (RFC 1939 7) the stuffer stops after the header block, the blank
 * line separating it from the body, and the first body_lines lines.
 * A stored body already CRLF-normalised and ending in CRLF comes out as
 * itself plus the added dots, so its stored size is what LIST announces.
 */
#ifndef TANDEM_POP3_DOTSTUFF_H
#define TANDEM_POP3_DOTSTUFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

struct dotstuff {
	bool bol;          /* the next byte starts a line */
	bool pending_cr;   /* TOP: a CR was read and held, its LF not seen */
	bool last_cr;      /* RETR: the last byte out was a CR (LF may follow) */
	bool in_body;      /* the header block has ended */
	bool top;          /* stop after body_lines body lines */
	bool done;         /* TOP reached its limit: ignore further input */
	uint64_t lines_left;
};

/* Prepares a stuffer for RETR (top false) or TOP n body_lines. */
void dotstuff_init(struct dotstuff *d, bool top, uint64_t body_lines);
/* Encodes in[0..n) and appends the wire bytes to out. Returns how many
 * input bytes were used: n, or fewer when TOP's limit was reached (then
 * dotstuff_done() is true and further input is not wanted). */
size_t dotstuff_feed(struct dotstuff *d, const char *in, size_t n,
		     struct buf *out);
/* RETR only: encodes in place the stored bytes just appended to out,
 * out->data[from..out->len), as dotstuff_feed() would have (the wire
 * bytes replace them; out grows by the bytes inserted). A slice that
 * needs nothing inserted costs a scan and no copy; otherwise the part
 * from the first insertion is copied to scratch and encoded back. */
void dotstuff_retr_inplace(struct dotstuff *d, struct buf *out, size_t from,
			   struct buf *scratch);
/* True once TOP has produced all the lines it wants. */
bool dotstuff_done(const struct dotstuff *d);
/* Appends CRLF if the last line was not terminated, then ".CRLF". */
void dotstuff_finish(struct dotstuff *d, struct buf *out);

#endif
