/* test-linereader.c - core/linereader.c: lines split across reads, a byte
 * at a time, over-long lines, bare LF, NUL bytes, counted bytes. */
#include "buf.h"
#include "linereader.h"
#include "t.h"

#include <string.h>

/* Feeds input in slices of step bytes (0 = all at once), collecting every
 * line as "text|" and every over-long line as "!TOOLONG(first bytes)|". */
static void feed(const char *input, size_t n, size_t step, size_t max,
		 struct buf *out)
{
	struct buf in = BUF_INIT;
	struct linereader lr;
	size_t off = 0;

	linereader_init(&lr, max);
	while (off < n) {
		size_t k = step && n - off > step ? step : n - off;
		struct line l;
		enum line_result r;

		buf_append(&in, input + off, k);
		off += k;
		while ((r = linereader_next(&lr, &in, &l)) != LINE_MORE) {
			if (r == LINE_TOOLONG) {
				buf_append_str(out, "!TOOLONG(");
				buf_append(out, l.ptr, l.len < 4 ? l.len : 4);
				buf_append_str(out, ")|");
				continue;
			}
			buf_append(out, l.ptr, l.len);
			buf_append_c(out, '|');
			buf_consume(&in, l.size);
		}
	}
	buf_release(&in);
}

static void check_feed(const char *input, size_t max, const char *want)
{
	size_t n = strlen(input);
	static const size_t steps[] = {0, 1, 2, 3, 7, 1000};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct buf out = BUF_INIT;

		feed(input, n, steps[i], max, &out);
		if (strcmp(out.data ? out.data : "", want) != 0)
			fprintf(stderr, "step %zu: input \"%s\"\n", steps[i],
				input);
		CHECK_STR(out.data ? out.data : "", want);
		buf_release(&out);
	}
}

static void test_basic(void)
{
	check_feed("", 100, "");
	check_feed("abc\r\n", 100, "abc|");
	check_feed("abc\n", 100, "abc|");           /* bare LF */
	check_feed("a\r\nb\nc\r\n", 100, "a|b|c|");
	check_feed("\r\n\n", 100, "||");            /* empty lines */
	check_feed("no newline", 100, "");          /* LINE_MORE */
	check_feed("cr\rinside\r\n", 100, "cr\rinside|"); /* lone CR kept */
	check_feed("x\r\r\n", 100, "x\r|");         /* only one CR dropped */
}

static void test_toolong(void)
{
	/* max 5: "12345" fits with CRLF or LF; 6 bytes do not. */
	check_feed("12345\r\n", 5, "12345|");
	check_feed("12345\n", 5, "12345|");
	check_feed("123456\r\nok\r\n", 5, "!TOOLONG(1234)|ok|");
	check_feed("123456\nok\n", 5, "!TOOLONG(1234)|ok|");
	check_feed("1234567890abcdefghij\r\nnext\r\n", 5,
		   "!TOOLONG(1234)|next|");
	/* Two over-long lines in a row, each reported once. */
	check_feed("aaaaaaaaaa\nbbbbbbbbbb\nc\n", 5,
		   "!TOOLONG(aaaa)|!TOOLONG(bbbb)|c|");
	/* Over-long and never terminated: reported once, then discarded. */
	check_feed("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 5, "!TOOLONG(zzzz)|");
}

static void test_nul(void)
{
	static const char in[] = "a\0b\r\n\0\n";
	struct buf out = BUF_INIT;

	for (size_t step = 0; step < 4; step++) {
		buf_reset(&out);
		feed(in, sizeof(in) - 1, step, 100, &out);
		CHECK(out.len == 6);
		CHECK(memcmp(out.data, "a\0b|\0|", 6) == 0);
	}
	buf_release(&out);
}

/* A line arriving a byte at a time is scanned once: the reader keeps its
 * position. Checked through the state, not a clock. */
static void test_incremental_scan(void)
{
	struct buf in = BUF_INIT;
	struct linereader lr;
	struct line l;

	linereader_init(&lr, 1000);
	for (int i = 0; i < 500; i++) {
		buf_append_c(&in, 'x');
		CHECK(linereader_next(&lr, &in, &l) == LINE_MORE);
		CHECK(lr.scanned == in.len);
	}
	buf_append_str(&in, "\r\n");
	CHECK(linereader_next(&lr, &in, &l) == LINE_OK);
	CHECK(l.len == 500 && l.size == 502);
	CHECK(lr.scanned == 0);
	/* The caller did not consume: the same line again. */
	CHECK(linereader_next(&lr, &in, &l) == LINE_OK);
	CHECK(l.len == 500);
	buf_consume(&in, l.size);
	CHECK(in.len == 0);
	CHECK(linereader_next(&lr, &in, &l) == LINE_MORE);
	buf_release(&in);
}

static void test_bytes(void)
{
	struct buf in = BUF_INIT;
	struct linereader lr;
	struct line l;
	const char *p;
	size_t n;

	/* "A APPEND x {5}" then 5 literal bytes holding a LF, then the rest
	 * of the command line. */
	linereader_init(&lr, 100);
	buf_append_str(&in, "A APPEND x {5}\r\nab");
	CHECK(linereader_next(&lr, &in, &l) == LINE_OK);
	CHECK(l.len == 14 && memcmp(l.ptr, "A APPEND x {5}", 14) == 0);
	buf_consume(&in, l.size);
	n = linereader_bytes(&lr, &in, 5, &p);
	CHECK(n == 2 && memcmp(p, "ab", 2) == 0);
	buf_consume(&in, n);
	buf_append_str(&in, "\nde)\r\nB NOOP\r\n");
	n = linereader_bytes(&lr, &in, 3, &p);
	CHECK(n == 3 && memcmp(p, "\nde", 3) == 0);
	buf_consume(&in, n);
	CHECK(linereader_next(&lr, &in, &l) == LINE_OK);
	CHECK(l.len == 1 && l.ptr[0] == ')');
	buf_consume(&in, l.size);
	CHECK(linereader_next(&lr, &in, &l) == LINE_OK);
	CHECK(l.len == 6 && memcmp(l.ptr, "B NOOP", 6) == 0);
	buf_consume(&in, l.size);
	n = linereader_bytes(&lr, &in, 10, &p);
	CHECK(n == 0);

	/* A stale scan position after consuming by other means is caught
	 * when the buffer shrank below it, and reset() clears it anyway. */
	buf_reset(&in);
	buf_append_str(&in, "partial");
	CHECK(linereader_next(&lr, &in, &l) == LINE_MORE);
	buf_consume(&in, 7);
	buf_append_str(&in, "x\n");
	CHECK(linereader_next(&lr, &in, &l) == LINE_OK);
	CHECK(l.len == 1 && l.ptr[0] == 'x');
	buf_consume(&in, l.size);
	buf_append_str(&in, "abcdef");
	CHECK(linereader_next(&lr, &in, &l) == LINE_MORE);
	buf_consume(&in, 3); /* literal bytes, say */
	linereader_reset(&lr);
	buf_append_str(&in, "\n");
	CHECK(linereader_next(&lr, &in, &l) == LINE_OK);
	CHECK(l.len == 3 && memcmp(l.ptr, "def", 3) == 0);
	buf_release(&in);
}

/* TOOLONG exposes the start of the line (an IMAP tag) and the reader
 * consumes the rest itself. */
static void test_toolong_prefix(void)
{
	struct buf in = BUF_INIT;
	struct linereader lr;
	struct line l;

	linereader_init(&lr, 8);
	buf_append_str(&in, "tag1 SELECT verylongmailbox");
	CHECK(linereader_next(&lr, &in, &l) == LINE_TOOLONG);
	CHECK(l.len == 8 && memcmp(l.ptr, "tag1 SEL", 8) == 0);
	CHECK(l.size == 0);
	CHECK(linereader_next(&lr, &in, &l) == LINE_MORE);
	CHECK(in.len == 0);
	buf_append_str(&in, "name\r\ntag2 NOP\r\n");
	CHECK(linereader_next(&lr, &in, &l) == LINE_OK);
	CHECK(l.len == 8 && memcmp(l.ptr, "tag2 NOP", 8) == 0);
	buf_release(&in);
}

int main(void)
{
	test_basic();
	test_toolong();
	test_nul();
	test_incremental_scan();
	test_bytes();
	test_toolong_prefix();
	return t_done();
}
