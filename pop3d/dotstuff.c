/* dotstuff.c - RFC 1939 3 byte-stuffing and CRLF for RETR and TOP. */
#include "dotstuff.h"

#include "buf.h"

void dotstuff_init(struct dotstuff *d, bool top, uint64_t body_lines)
{
	d->bol = true;
	d->pending_cr = false;
	d->in_body = false;
	d->top = top;
	d->done = false;
	d->lines_left = body_lines;
}

bool dotstuff_done(const struct dotstuff *d)
{
	return d->done;
}

/* A line ended (its CRLF is already out): track the header/body border
 * and TOP's count. An empty line in the headers is the border. */
static void line_end(struct dotstuff *d, bool empty)
{
	if (!d->in_body) {
		if (empty) {
			d->in_body = true;
			if (d->top && d->lines_left == 0)
				d->done = true;
		}
	} else if (d->top) {
		if (d->lines_left > 0)
			d->lines_left--;
		if (d->lines_left == 0)
			d->done = true;
	}
	d->bol = true;
}

size_t dotstuff_feed(struct dotstuff *d, const char *in, size_t n,
		     struct buf *out)
{
	size_t i = 0, run;

	buf_reserve(out, n + n / 16 + 8);
	while (i < n && !d->done) {
		char c = in[i];

		if (d->pending_cr) {
			/* The CR is held back so CR LF and a bare CR can be
			 * told apart across slice borders. */
			d->pending_cr = false;
			if (c == '\n') {
				bool empty = d->bol;

				buf_append(out, "\r\n", 2);
				i++;
				line_end(d, empty);
				continue;
			}
			buf_append_c(out, '\r');
			d->bol = false;
			continue; /* c is looked at again below */
		}
		if (c == '\r') {
			d->pending_cr = true;
			i++;
			continue;
		}
		if (c == '\n') {
			bool empty = d->bol;

			buf_append(out, "\r\n", 2);
			i++;
			line_end(d, empty);
			continue;
		}
		if (d->bol && c == '.')
			buf_append_c(out, '.');
		d->bol = false;
		/* Copy the rest of the line in one go. */
		run = 1;
		while (i + run < n && in[i + run] != '\r' && in[i + run] != '\n')
			run++;
		buf_append(out, in + i, run);
		i += run;
	}
	return i;
}

void dotstuff_finish(struct dotstuff *d, struct buf *out)
{
	/* A CR at the very end is taken as the end of the last line. */
	if (d->pending_cr) {
		d->pending_cr = false;
		d->bol = false;
	}
	if (!d->bol && !d->done)
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
}
