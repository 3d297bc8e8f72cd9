/* test-dotstuff.c - RFC 1939 3 byte-stuffing, CRLF and TOP line counts,
 * fed whole, one byte at a time and in every two-slice split. */
#include "t.h"

#include <stdlib.h>

#include "buf.h"
#include "dotstuff.h"

/* Runs the stuffer over in with slices of size step (0: whole), appending
 * to out the wire form. */
static void run(const char *in, size_t n, size_t step, bool top,
		uint64_t lines, struct buf *out)
{
	struct dotstuff d;
	size_t off = 0;

	buf_reset(out);
	dotstuff_init(&d, top, lines);
	if (step == 0)
		step = n ? n : 1;
	while (off < n && !dotstuff_done(&d)) {
		size_t len = n - off < step ? n - off : step;
		size_t used = dotstuff_feed(&d, in + off, len, out);

		CHECK(used <= len);
		if (used < len)
			CHECK(dotstuff_done(&d));
		off += used;
	}
	dotstuff_finish(&d, out);
}

/* Checks the output for every slicing: whole, bytes, and each split. */
static void expect(const char *in, bool top, uint64_t lines, const char *want)
{
	struct buf out = BUF_INIT;
	size_t n = strlen(in);

	run(in, n, 0, top, lines, &out);
	CHECK_STR(out.data, want);
	run(in, n, 1, top, lines, &out);
	CHECK_STR(out.data, want);
	for (size_t cut = 1; cut < n; cut++) {
		struct dotstuff d;
		size_t used;

		buf_reset(&out);
		dotstuff_init(&d, top, lines);
		used = dotstuff_feed(&d, in, cut, &out);
		if (used == cut && !dotstuff_done(&d))
			dotstuff_feed(&d, in + cut, n - cut, &out);
		dotstuff_finish(&d, &out);
		if (strcmp(out.data, want) != 0) {
			fprintf(stderr, "split at %zu\n", cut);
			CHECK_STR(out.data, want);
			break;
		}
	}
	buf_release(&out);
}

static void test_retr(void)
{
	/* Already normalised: output is input plus ".CRLF". */
	expect("Subject: x\r\n\r\nhello\r\n", false, 0,
	       "Subject: x\r\n\r\nhello\r\n.\r\n");
	/* Lines starting with '.' are stuffed, wherever they are. */
	expect(".top\r\n\r\n.\r\n..two\r\nmid.dle\r\n.", false, 0,
	       "..top\r\n\r\n..\r\n...two\r\nmid.dle\r\n..\r\n.\r\n");
	/* Bare LF becomes CRLF; a missing final line end is added. */
	expect("a: b\n\nline1\nline2", false, 0,
	       "a: b\r\n\r\nline1\r\nline2\r\n.\r\n");
	/* A bare CR in a line stays a data byte. */
	expect("a\rb\r\n", false, 0, "a\rb\r\n.\r\n");
	/* A trailing CR ends the last line. */
	expect("a\r", false, 0, "a\r\n.\r\n");
	/* The empty message. */
	expect("", false, 0, ".\r\n");
}

static void test_top(void)
{
	const char *msg = "From: a\r\nSubject: s\r\n\r\n.one\r\ntwo\r\nthree\r\n";

	expect(msg, true, 0, "From: a\r\nSubject: s\r\n\r\n.\r\n");
	expect(msg, true, 1, "From: a\r\nSubject: s\r\n\r\n..one\r\n.\r\n");
	expect(msg, true, 2,
	       "From: a\r\nSubject: s\r\n\r\n..one\r\ntwo\r\n.\r\n");
	expect(msg, true, 3,
	       "From: a\r\nSubject: s\r\n\r\n..one\r\ntwo\r\nthree\r\n.\r\n");
	expect(msg, true, 99,
	       "From: a\r\nSubject: s\r\n\r\n..one\r\ntwo\r\nthree\r\n.\r\n");
	/* Headers only, no separator: everything is header. */
	expect("From: a\r\nSubject: s", true, 0,
	       "From: a\r\nSubject: s\r\n.\r\n");
	/* LF-only message. */
	expect("A: 1\n\nx\ny\n", true, 1, "A: 1\r\n\r\nx\r\n.\r\n");
	/* Empty body lines count as lines. */
	expect("A: 1\r\n\r\n\r\n\r\nz\r\n", true, 2,
	       "A: 1\r\n\r\n\r\n\r\n.\r\n");
}

static void test_sizes(void)
{
	/* A large normalised body without leading dots passes unchanged:
	 * LIST's size (the stored size) is what RETR sends before ".CRLF". */
	struct buf in = BUF_INIT, out = BUF_INIT;

	for (int i = 0; i < 5000; i++)
		buf_printf(&in, "line %d of a long message body here\r\n", i);
	run(in.data, in.len, 4096, false, 0, &out);
	CHECK(out.len == in.len + 3);
	CHECK(memcmp(out.data, in.data, in.len) == 0);
	buf_release(&in);
	buf_release(&out);
}

int main(void)
{
	test_retr();
	test_top();
	test_sizes();
	return t_done();
}
