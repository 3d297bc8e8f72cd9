/* linereader.c - see linereader.h. */
#include "linereader.h"
#include "buf.h"

#include <string.h>

void linereader_init(struct linereader *lr, size_t max)
{
	lr->max = max;
	lr->scanned = 0;
	lr->skipping = false;
}

void linereader_reset(struct linereader *lr)
{
	lr->scanned = 0;
}

/* Discards the rest of an over-long line. Returns true when its LF was
 * found (and consumed), false when the whole buffer was dropped. */
static bool skip(struct linereader *lr, struct buf *in)
{
	const char *lf = in->len ? memchr(in->data, '\n', in->len) : NULL;

	lr->scanned = 0;
	if (lf == NULL) {
		buf_reset(in);
		return false;
	}
	buf_consume(in, (size_t)(lf - in->data) + 1);
	lr->skipping = false;
	return true;
}

enum line_result linereader_next(struct linereader *lr, struct buf *in,
				 struct line *l)
{
	/* A line of max bytes needs up to max + 2 bytes with its CRLF. */
	size_t limit = lr->max + 2, end;
	const char *lf;

	if (lr->skipping && !skip(lr, in))
		return LINE_MORE;
	if (lr->scanned > in->len)
		lr->scanned = 0;
	end = in->len < limit ? in->len : limit;
	lf = lr->scanned < end ? memchr(in->data + lr->scanned, '\n',
					end - lr->scanned)
			       : NULL;
	if (lf != NULL) {
		size_t pos = (size_t)(lf - in->data), len = pos;

		if (len > 0 && in->data[len - 1] == '\r')
			len--;
		lr->scanned = 0;
		l->ptr = in->data;
		l->len = len;
		l->size = pos + 1;
		if (len <= lr->max)
			return LINE_OK;
		/* LF at max + 1 without a CR: one byte too long. */
		l->len = lr->max;
		l->size = 0;
		lr->skipping = true;
		return LINE_TOOLONG;
	}
	if (in->len < limit) {
		lr->scanned = in->len;
		return LINE_MORE;
	}
	l->ptr = in->data;
	l->len = lr->max;
	l->size = 0;
	lr->scanned = 0;
	lr->skipping = true;
	return LINE_TOOLONG;
}

size_t linereader_bytes(struct linereader *lr, const struct buf *in,
			size_t want, const char **p_r)
{
	lr->scanned = 0;
	*p_r = in->data;
	return in->len < want ? in->len : want;
}
