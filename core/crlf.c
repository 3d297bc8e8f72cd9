#include "crlf.h"
#include "buf.h"

void crlf_normalize(const char *p, size_t n, bool *prev_cr, struct buf *out)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && !(i ? p[i - 1] == '\r' : *prev_cr)) {
			buf_append(out, p + start, i - start);
			buf_append(out, "\r\n", 2);
			start = i + 1;
		}
	}
	buf_append(out, p + start, n - start);
	if (n)
		*prev_cr = p[n - 1] == '\r';
}
