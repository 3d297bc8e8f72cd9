/* dotstuff.c - RFC 1939 3 byte-stuffing and CRLF for RETR and TOP.
 *
 * RETR takes a fast path: the wire form differs from the stored bytes
 * only at line feeds (a bare LF gets its CR) and at a '.' starting a line,
 * so it finds line feeds with memchr and copies the runs between the
 * places that change in one go: a CRLF-normalised body costs about one
 * memchr per line and one memcpy per slice. The server's RETR goes
 * further (dotstuff_retr_inplace): the body is read into the output
 * queue and scanned 16 bytes at a time for a place that changes; a slice
 * without one is sent as it is, with no copy. TOP counts lines and stops
 * in the middle of a slice, so it keeps the byte-wise loop. */
#include "dotstuff.h"

#include "buf.h"

#include <assert.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

void dotstuff_init(struct dotstuff *d, bool top, uint64_t body_lines)
{
	d->bol = true;
	d->pending_cr = false;
	d->in_body = false;
	d->top = top;
	d->done = false;
	d->last_cr = false;
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

/* Makes sure out can take need more bytes after w (plus its NUL); returns
 * w, moved if the buffer moved. */
static char *room(struct buf *out, char *w, size_t need)
{
	size_t len = (size_t)(w - out->data);

	if (len + need + 1 > out->cap) {
		out->len = len;
		buf_reserve(out, need);
		w = out->data + len;
	}
	return w;
}

/* RETR: every byte is used. The last byte out may be a CR whose LF is in
 * the next slice (last_cr), so a CR is never held back. */
static size_t feed_retr(struct dotstuff *d, const char *in, size_t n,
			struct buf *out)
{
	const char *p = in, *end = in + n, *run = in;
	char *w;

	if (n == 0)
		return 0;
	/* Room for the input and a few insertions; room() adds more only
	 * for a slice with many bare LFs or dots. */
	buf_reserve(out, n + n / 32 + 16);
	w = out->data + out->len;
	while (p < end) {
		const char *nl;

		if (d->bol && *p == '.') {
			/* RFC 1939 3: a line starting with '.' gets one more. */
			w = room(out, w, (size_t)(end - run) + 1);
			memcpy(w, run, (size_t)(p - run));
			w += p - run;
			*w++ = '.';
			run = p;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			d->bol = false;
			d->last_cr = end[-1] == '\r';
			p = end;
			break;
		}
		if (!(nl > in ? nl[-1] == '\r' : d->last_cr)) {
			/* A bare LF: the line ends in CRLF on the wire. */
			w = room(out, w, (size_t)(end - run) + 1);
			memcpy(w, run, (size_t)(nl - run));
			w += nl - run;
			*w++ = '\r';
			run = nl;
		}
		d->bol = true;
		d->last_cr = false;
		p = nl + 1;
	}
	memcpy(w, run, (size_t)(end - run));
	w += end - run;
	out->len = (size_t)(w - out->data);
	out->data[out->len] = '\0';
	return n;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX2_SCAN 1
#include <immintrin.h>

/* scan_insert's first pass where the CPU has AVX2: 32 bytes per compare,
 * 128 per test. Returns where a block with a place to change starts (or
 * where fewer than 128 bytes are left); the caller finds which byte. */
__attribute__((target("avx2"))) static size_t
skip_clean_avx2(const char *in, size_t i, size_t n)
{
	const __m256i cr = _mm256_set1_epi8('\r'), lf = _mm256_set1_epi8('\n');
	const __m256i dot = _mm256_set1_epi8('.');

	for (; i + 128 <= n; i += 128) {
		__m256i m = _mm256_setzero_si256();

		for (size_t j = 0; j < 128; j += 32) {
			__m256i a, b;

			a = _mm256_loadu_si256((const __m256i *)(in + i + j));
			b = _mm256_loadu_si256((const __m256i *)(in + i + j - 1));
			m = _mm256_or_si256(m, _mm256_andnot_si256(
						       _mm256_cmpeq_epi8(b, cr),
						       _mm256_cmpeq_epi8(a, lf)));
			m = _mm256_or_si256(m, _mm256_and_si256(
						       _mm256_cmpeq_epi8(b, lf),
						       _mm256_cmpeq_epi8(a, dot)));
		}
		if (!_mm256_testz_si256(m, m))
			break;
	}
	return i;
}
#endif

/* The first i in [from, n) where in[i] needs a byte inserted before it:
 * a LF not after a CR, or a '.' after a LF (from >= 1). */
static size_t scan_insert(const char *in, size_t from, size_t n)
{
	size_t i = from;

#ifdef HAVE_AVX2_SCAN
	/* The scan is about an eighth of a big RETR's server CPU with
	 * SSE2; AVX2 halves it. (The check reads what libgcc found at
	 * start-up.) */
	if (__builtin_cpu_supports("avx2"))
		i = skip_clean_avx2(in, i, n);
#endif
#ifdef __SSE2__
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	const __m128i dot = _mm_set1_epi8('.');

	/* 16 bytes and the 16 before them by one: two loads, four compares
	 * per 16 bytes and one test per 64, where a memchr per line paid a
	 * call. */
	for (; i + 64 <= n; i += 64) {
		__m128i m = _mm_setzero_si128();

		for (size_t j = 0; j < 64; j += 16) {
			__m128i a, b;

			a = _mm_loadu_si128((const __m128i *)(in + i + j));
			b = _mm_loadu_si128((const __m128i *)(in + i + j - 1));
			m = _mm_or_si128(m, _mm_andnot_si128(
						    _mm_cmpeq_epi8(b, cr),
						    _mm_cmpeq_epi8(a, lf)));
			m = _mm_or_si128(m, _mm_and_si128(
						    _mm_cmpeq_epi8(b, lf),
						    _mm_cmpeq_epi8(a, dot)));
		}
		if (_mm_movemask_epi8(m) != 0)
			break; /* the byte loop below finds which */
	}
#endif
	for (; i < n; i++) {
		if ((in[i] == '\n' && in[i - 1] != '\r') ||
		    (in[i] == '.' && in[i - 1] == '\n'))
			return i;
	}
	return n;
}

/* RETR: how many bytes of in[0..n) go out unchanged, before the first
 * place that needs a byte inserted (a bare LF, a '.' starting a line);
 * the state moves past them. */
static size_t clean_prefix(struct dotstuff *d, const char *in, size_t n)
{
	size_t k;

	if (n == 0)
		return 0;
	if ((in[0] == '\n' && !d->last_cr) || (in[0] == '.' && d->bol))
		return 0;
	k = scan_insert(in, 1, n);
	d->bol = in[k - 1] == '\n';
	d->last_cr = in[k - 1] == '\r';
	return k;
}

void dotstuff_retr_inplace(struct dotstuff *d, struct buf *out, size_t from,
			   struct buf *scratch)
{
	size_t n = out->len - from;
	size_t k;

	assert(!d->top && from <= out->len);
	k = clean_prefix(d, out->data + from, n);
	if (k == n)
		return;
	/* Encode the rest from a copy, into its place. */
	buf_reset(scratch);
	buf_append(scratch, out->data + from + k, n - k);
	out->len = from + k;
	feed_retr(d, scratch->data, n - k, out);
}

size_t dotstuff_feed(struct dotstuff *d, const char *in, size_t n,
		     struct buf *out)
{
	size_t i = 0, run;

	if (!d->top)
		return feed_retr(d, in, n, out);

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
	if (d->last_cr) {
		/* RETR sent that CR already: its line needs only the LF. */
		d->last_cr = false;
		d->bol = true;
		buf_append(out, "\n", 1);
	}
	if (d->pending_cr) {
		d->pending_cr = false;
		d->bol = false;
	}
	if (!d->bol && !d->done)
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
}
