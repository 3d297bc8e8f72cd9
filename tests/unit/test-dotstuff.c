/* test-dotstuff.c - RFC 1939 3 byte-stuffing, CRLF and TOP line counts,
 * fed whole, one byte at a time and in every two-slice split; plus the
 * other pure pieces of pop3d: the status-line writer and the maildrop
 * snapshot's numbering, UIDL and UID ranges. */
#include "t.h"

#include <stdarg.h>
#include <stdlib.h>

#include "buf.h"
#include "dotstuff.h"
#include "maildrop.h"
#include "pop3d.h"
#include "store.h"

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

/* The RETR rules byte by byte, as RFC 1939 3 states them: the reference
 * the fast path must match. */
static void ref_retr(const char *in, size_t n, struct buf *out)
{
	bool bol = true;

	buf_reset(out);
	for (size_t i = 0; i < n; i++) {
		char c = in[i];

		if (c == '\r' && (i + 1 == n || in[i + 1] == '\n')) {
			buf_append(out, "\r\n", 2);
			i += i + 1 < n;
			bol = true;
			continue;
		}
		if (c == '\n') {
			buf_append(out, "\r\n", 2);
			bol = true;
			continue;
		}
		if (bol && c == '.')
			buf_append_c(out, '.');
		buf_append_c(out, c);
		bol = false;
	}
	if (!bol)
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
}

/* Random bodies of dots, CRs, LFs and letters in random slices. */
static void test_retr_random(void)
{
	static const char alpha[] = ".\r\na";
	struct buf want = BUF_INIT, got = BUF_INIT;
	char in[64];
	unsigned seed = 12345;

	for (int round = 0; round < 20000; round++) {
		size_t n, off = 0;
		struct dotstuff d;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % sizeof(in);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alpha[(seed >> 16) % 4];
		}
		ref_retr(in, n, &want);
		buf_reset(&got);
		dotstuff_init(&d, false, 0);
		while (off < n) {
			size_t len;

			seed = seed * 1103515245u + 12345u;
			len = 1 + (seed >> 16) % (n - off);
			CHECK(dotstuff_feed(&d, in + off, len, &got) == len);
			off += len;
		}
		dotstuff_finish(&d, &got);
		if (got.len != want.len ||
		    memcmp(got.data, want.data, got.len) != 0) {
			fprintf(stderr, "round %d\n", round);
			CHECK_STR(got.data, want.data);
			break;
		}
	}
	buf_release(&want);
	buf_release(&got);
}

/* dotstuff_retr_inplace against the reference: random bodies in random
 * slices, each appended raw after what is already queued (which must
 * stay as it is), mostly clean CRLF text so the no-copy path is taken
 * too. */
static void test_retr_inplace(void)
{
	static const char alpha[] = "aaaaaaa\r\n.";
	struct buf want = BUF_INIT, got = BUF_INIT, scratch = BUF_INIT;
	char in[1200]; /* several 128-byte blocks of the AVX2 scan */
	unsigned seed = 777;

	for (int round = 0; round < 20000; round++) {
		size_t n, off = 0;
		struct dotstuff d;
		bool crlf = round % 2 == 0;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % sizeof(in);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
			if (crlf && in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
				in[i] = 'b';
			if (crlf && in[i] == '.' && round % 4 == 0)
				in[i] = 'c';
		}
		ref_retr(in, n, &want);
		buf_reset(&got);
		buf_append(&got, "+OK\r\n", 5);
		dotstuff_init(&d, false, 0);
		while (off < n) {
			size_t len, from = got.len;

			seed = seed * 1103515245u + 12345u;
			len = 1 + (seed >> 16) % (n - off);
			memcpy(buf_space(&got, len), in + off, len);
			buf_commit(&got, len);
			dotstuff_retr_inplace(&d, &got, from, &scratch);
			off += len;
		}
		dotstuff_finish(&d, &got);
		if (got.len != want.len + 5 ||
		    memcmp(got.data, "+OK\r\n", 5) != 0 ||
		    memcmp(got.data + 5, want.data, want.len) != 0) {
			fprintf(stderr, "round %d\n", round);
			buf_append_c(&got, '\0');
			CHECK_STR(got.data + 5, want.data);
			break;
		}
	}
	buf_release(&want);
	buf_release(&got);
	buf_release(&scratch);
}

/* Clean CRLF text with one place to change (a '.' starting a line, or a
 * bare LF) at every position of a body longer than the vector scans'
 * blocks, in one slice: each must be found wherever it falls. */
static void test_retr_inplace_one_change(void)
{
	struct buf want = BUF_INIT, got = BUF_INIT, scratch = BUF_INIT;
	char in[700];
	int bad = 0;

	for (size_t at = 1; at + 1 < sizeof(in) && !bad; at++) {
		for (int kind = 0; kind < 2 && !bad; kind++) {
			struct dotstuff d;

			for (size_t i = 0; i < sizeof(in); i++)
				in[i] = i % 40 == 38 ? '\r'
					: i % 40 == 39 ? '\n' : 'a' + i % 26;
			if (kind == 0) {
				/* a line starting with '.' */
				if (in[at - 1] != '\n')
					continue;
				in[at] = '.';
			} else {
				/* a bare LF */
				if (in[at] == '\r' || in[at] == '\n' ||
				    in[at - 1] == '\r')
					continue;
				in[at] = '\n';
			}
			ref_retr(in, sizeof(in), &want);
			buf_reset(&got);
			dotstuff_init(&d, false, 0);
			memcpy(buf_space(&got, sizeof(in)), in, sizeof(in));
			buf_commit(&got, sizeof(in));
			dotstuff_retr_inplace(&d, &got, 0, &scratch);
			dotstuff_finish(&d, &got);
			if (got.len != want.len ||
			    memcmp(got.data, want.data, want.len) != 0) {
				fprintf(stderr, "change %d at %zu\n", kind, at);
				bad = 1;
			}
			CHECK(!bad);
		}
	}
	buf_release(&want);
	buf_release(&got);
	buf_release(&scratch);
}

static void status(struct buf *out, bool ok, enum pop3_code code,
		   const char *fmt, ...)
{
	va_list ap;

	buf_reset(out);
	va_start(ap, fmt);
	pop3_format_status(out, ok, code, fmt, ap);
	va_end(ap);
}

static void test_reply(void)
{
	struct buf out = BUF_INIT;
	char big[2000];

	status(&out, true, POP3_CODE_NONE, "%d %d", 2, 320);
	CHECK_STR(out.data, "+OK 2 320\r\n");
	status(&out, false, POP3_CODE_IN_USE, "locked");
	CHECK_STR(out.data, "-ERR [IN-USE] locked\r\n");
	status(&out, false, POP3_CODE_SYS_TEMP, "x");
	CHECK_STR(out.data, "-ERR [SYS/TEMP] x\r\n");
	status(&out, false, POP3_CODE_LOGIN_DELAY, "wait");
	CHECK_STR(out.data, "-ERR [LOGIN-DELAY] wait\r\n");
	status(&out, false, POP3_CODE_AUTH, "no");
	CHECK_STR(out.data, "-ERR [AUTH] no\r\n");
	/* A client-supplied CR/LF never splits the line. */
	status(&out, false, POP3_CODE_NONE, "bad %s", "a\r\nb");
	CHECK_STR(out.data, "-ERR bad a  b\r\n");
	/* RFC 2449 4: at most 512 octets with the CRLF. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	status(&out, true, POP3_CODE_NONE, "%s", big);
	CHECK(out.len == 512);
	CHECK(memcmp(out.data + 510, "\r\n", 2) == 0);
	buf_release(&out);
}

static void test_maildrop(void)
{
	struct pop3_msg msgs[6];
	struct maildrop md = {0};
	struct store_uid_range *r;
	char uidl[POP3_UIDL_MAX + 1];
	size_t count, n;
	uint64_t octets;
	const uint32_t uids[6] = {3, 4, 5, 9, 10, 4000000000u};

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < 6; i++) {
		msgs[i].uid = uids[i];
		msgs[i].size = 100 + (uint64_t)i;
	}
	md.msgs = msgs;
	md.n = 6;
	md.uidvalidity = 0x5f3e2a10;

	CHECK(maildrop_parse_num("1") == 1);
	CHECK(maildrop_parse_num("4294967295") == 4294967295UL);
	CHECK(maildrop_parse_num("4294967296") == 0);
	CHECK(maildrop_parse_num("0") == 0);
	CHECK(maildrop_parse_num("") == 0);
	CHECK(maildrop_parse_num("1x") == 0);
	CHECK(maildrop_parse_num("-1") == 0);
	CHECK(maildrop_parse_num("+1") == 0);
	CHECK(maildrop_parse_num("99999999999999999999999") == 0);

	CHECK(maildrop_get(&md, 0) == NULL);
	CHECK(maildrop_get(&md, 1) == &msgs[0]);
	CHECK(maildrop_get(&md, 6) == &msgs[5]);
	CHECK(maildrop_get(&md, 7) == NULL);

	maildrop_uidl(&md, &msgs[0], uidl);
	CHECK_STR(uidl, "000000035f3e2a10");
	maildrop_uidl(&md, &msgs[5], uidl);
	CHECK_STR(uidl, "ee6b28005f3e2a10");
	msgs[1].legacy_uidl = (char *)"legacy-1";
	maildrop_uidl(&md, &msgs[1], uidl);
	CHECK_STR(uidl, "legacy-1");
	msgs[1].legacy_uidl = NULL;

	/* DELE marks: numbers stay, the message disappears from STAT. */
	msgs[1].deleted = msgs[2].deleted = msgs[4].deleted = true;
	CHECK(maildrop_get(&md, 2) == NULL);
	maildrop_stat(&md, &count, &octets);
	CHECK(count == 3);
	CHECK(octets == 100 + 103 + 105);
	n = maildrop_uid_ranges(&md, MAILDROP_DELETED, &r);
	CHECK(n == 2);
	if (n == 2) {
		CHECK(r[0].lo == 4 && r[0].hi == 5);
		CHECK(r[1].lo == 10 && r[1].hi == 10);
	}
	free(r);
	n = maildrop_uid_ranges(&md, MAILDROP_RETRIEVED, &r);
	CHECK(n == 0 && r == NULL);
	maildrop_rset(&md);
	maildrop_stat(&md, &count, &octets);
	CHECK(count == 6);
	CHECK(maildrop_get(&md, 2) == &msgs[1]);
}

int main(void)
{
	test_retr();
	test_retr_random();
	test_retr_inplace();
	test_retr_inplace_one_change();
	test_top();
	test_sizes();
	test_reply();
	test_maildrop();
	return t_done();
}
