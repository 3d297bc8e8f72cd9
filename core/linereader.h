/* linereader.h - lines and counted bytes out of an input buffer.
 *
 * Pure: no I/O, no allocation. It reads the struct buf a connection fills
 * (conn_input()), remembers how far it already searched so input arriving a
 * byte at a time costs O(n), and never copies: a line is a (ptr, len) into
 * the buffer, valid until the caller changes the buffer.
 *
 *     struct line l;
 *     enum line_result r;
 *     while ((r = linereader_next(&lr, in, &l)) == LINE_OK) {
 *             handle(l.ptr, l.len);           // CRLF / LF not included
 *             buf_consume(in, l.size);        // line and terminator
 *     }
 *     if (r == LINE_TOOLONG)
 *             reply "line too long" (l.ptr/l.len hold its first max bytes;
 *             the rest of that line is discarded by the next calls)
 *
 * A line ends at LF; a CR right before it is dropped too (bare LF is
 * accepted, as most servers do). Lines may contain NUL bytes.
 */
#ifndef TANDEM_LINEREADER_H
#define TANDEM_LINEREADER_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

enum line_result {
	LINE_OK,      /* a complete line is in *l */
	LINE_MORE,    /* no complete line yet: wait for more input */
	LINE_TOOLONG, /* the line exceeds max: reject it (once per line) */
};

struct line {
	const char *ptr; /* start of the line, in the buffer */
	size_t len;      /* without the CRLF or LF */
	size_t size;     /* bytes to buf_consume(): len plus terminator
			  * (0 for LINE_TOOLONG: the reader discards it) */
};

struct linereader {
	size_t max;     /* longest line accepted, terminator excluded */
	size_t scanned; /* leading bytes of the buffer known to hold no LF */
	bool skipping;  /* discarding the rest of an over-long line */
};

void linereader_init(struct linereader *lr, size_t max);

/* Finds the next line at the start of in. LINE_OK: *l is set and the
 * caller consumes l->size bytes once done with it (if it does not, the
 * next call returns the same line). LINE_MORE: nothing to do until more
 * input. LINE_TOOLONG: l->ptr/l->len hold the first bytes of the line (at
 * most max, e.g. to find an IMAP tag) and l->size is 0; the next calls
 * discard the line up to and including its LF, consuming from in, then go
 * on with the following line. */
enum line_result linereader_next(struct linereader *lr, struct buf *in,
				 struct line *l);

/* Byte-count reading (IMAP literals, BDAT chunks): returns how many of the
 * want bytes are available at the start of in (at most want) and points
 * *p_r at them. The caller buf_consume()s what it used. Also tells the
 * reader its scan position is stale (as linereader_reset does). */
size_t linereader_bytes(struct linereader *lr, const struct buf *in,
			size_t want, const char **p_r);

/* Forgets the scan position: call after consuming from in by other
 * means than a LINE_OK line or linereader_bytes. */
void linereader_reset(struct linereader *lr);

#endif
