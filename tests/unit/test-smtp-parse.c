/* test-smtp-parse.c - the SMTP/LMTP command, path, parameter and content
 * parsers of lmtp/smtp-parse.c. */
#include "t.h"

#include "buf.h"
#include "deliver.h"
#include "recipient.h"
#include "smtp-parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static enum smtp_parse_result path(const char *arg, const char *prefix,
				   bool allow_null, struct smtp_path *p,
				   struct smtp_params *pm)
{
	return smtp_parse_path_arg(arg, strlen(arg), prefix, allow_null, p, pm);
}

static void test_cmd_split(void)
{
	struct smtp_cmd c;

	CHECK(smtp_cmd_split("lhlo mx.example", 15, &c) == 0);
	CHECK_STR(c.verb, "LHLO");
	CHECK(c.arg_len == 10 && memcmp(c.arg, "mx.example", 10) == 0);
	CHECK(smtp_cmd_split("DATA", 4, &c) == 0);
	CHECK_STR(c.verb, "DATA");
	CHECK(c.arg_len == 0);
	CHECK(smtp_cmd_split("NOOP   x  ", 10, &c) == 0);
	CHECK(c.arg_len == 1 && c.arg[0] == 'x');
	CHECK(smtp_cmd_split("", 0, &c) == -1);
	CHECK(smtp_cmd_split(" DATA", 5, &c) == -1);
	CHECK(smtp_cmd_split("DA1A", 4, &c) == -1);
	CHECK(smtp_cmd_split("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26, &c) == -1);
}

static void test_paths(void)
{
	struct smtp_path p;
	struct smtp_params pm;

	CHECK(path("FROM:<alice@example.org>", "FROM:", true, &p, &pm) ==
	      SMTP_PARSE_OK);
	CHECK_STR(p.local, "alice");
	CHECK_STR(p.domain, "example.org");
	CHECK_STR(p.addr, "alice@example.org");
	CHECK(!p.null && pm.n == 0);

	CHECK(path("from: <>", "FROM:", true, &p, &pm) == SMTP_PARSE_OK);
	CHECK(p.null);
	CHECK_STR(p.addr, "");
	CHECK(path("TO:<>", "TO:", false, &p, &pm) == SMTP_PARSE_BAD_ADDR);

	/* Quoted local part with a quoted-pair and a space. */
	CHECK(path("TO:<\"john \\\"q\\\" doe\"@example.org>", "TO:", false, &p,
		   &pm) == SMTP_PARSE_OK);
	CHECK_STR(p.local, "john \"q\" doe");
	CHECK_STR(p.addr, "\"john \\\"q\\\" doe\"@example.org");
	CHECK(path("TO:<\"unterminated@example.org>", "TO:", false, &p, &pm) ==
	      SMTP_PARSE_BAD_ADDR);
	CHECK(path("TO:<\"a\x01\"@x>", "TO:", false, &p, &pm) ==
	      SMTP_PARSE_BAD_ADDR);

	/* +detail stays in the local part; recipient.c splits it. */
	CHECK(path("TO:<bob+lists@example.org>", "TO:", false, &p, &pm) ==
	      SMTP_PARSE_OK);
	CHECK_STR(p.local, "bob+lists");

	/* Source route is ignored. */
	CHECK(path("TO:<@a.example,@b.example:bob@c.example>", "TO:", false,
		   &p, &pm) == SMTP_PARSE_OK);
	CHECK_STR(p.addr, "bob@c.example");
	CHECK_STR(p.domain, "c.example");

	/* <Postmaster> without a domain. */
	CHECK(path("TO:<Postmaster>", "TO:", false, &p, &pm) == SMTP_PARSE_OK);
	CHECK_STR(p.local, "Postmaster");
	CHECK_STR(p.domain, "");

	/* Address literals and UTF-8 (RFC 6531). */
	CHECK(path("TO:<a@[192.0.2.1]>", "TO:", false, &p, &pm) ==
	      SMTP_PARSE_OK);
	CHECK_STR(p.domain, "[192.0.2.1]");
	CHECK(path("TO:<j\xc3\xb6rg@b\xc3\xbc" "cher.example>", "TO:", false,
		   &p, &pm) == SMTP_PARSE_OK);
	CHECK_STR(p.local, "j\xc3\xb6rg");

	/* Malformed. */
	CHECK(path("TO:alice@example.org", "TO:", false, &p, &pm) ==
	      SMTP_PARSE_SYNTAX);
	CHECK(path("FROM:<a@b>", "TO:", false, &p, &pm) == SMTP_PARSE_SYNTAX);
	CHECK(path("TO:<a@b", "TO:", false, &p, &pm) == SMTP_PARSE_BAD_ADDR);
	CHECK(path("TO:<@b>", "TO:", false, &p, &pm) == SMTP_PARSE_BAD_ADDR);
	CHECK(path("TO:<a@>", "TO:", false, &p, &pm) == SMTP_PARSE_BAD_ADDR);
	CHECK(path("TO:<a@.b>", "TO:", false, &p, &pm) == SMTP_PARSE_BAD_ADDR);
	CHECK(path("TO:<a b@c>", "TO:", false, &p, &pm) == SMTP_PARSE_BAD_ADDR);
	CHECK(path("TO:<a@b>x", "TO:", false, &p, &pm) == SMTP_PARSE_SYNTAX);
	CHECK(path("TO:<", "TO:", false, &p, &pm) == SMTP_PARSE_BAD_ADDR);
	CHECK(path("", "TO:", false, &p, &pm) == SMTP_PARSE_SYNTAX);

	{
		char big[700];

		memset(big, 'a', sizeof(big));
		memcpy(big, "TO:<", 4);
		memcpy(big + sizeof(big) - 4, "@b>", 4);
		CHECK(path(big, "TO:", false, &p, &pm) == SMTP_PARSE_TOO_LONG);
	}
}

static void test_params(void)
{
	struct smtp_path p;
	struct smtp_params pm;
	uint64_t n;

	CHECK(path("FROM:<a@b> SIZE=12345 body=8bitmime SMTPUTF8", "FROM:",
		   true, &p, &pm) == SMTP_PARSE_OK);
	CHECK(pm.n == 3);
	CHECK_STR(pm.p[0].keyword, "SIZE");
	CHECK(pm.p[0].value_len == 5 &&
	      memcmp(pm.p[0].value, "12345", 5) == 0);
	CHECK_STR(pm.p[1].keyword, "BODY");
	CHECK(pm.p[1].value_len == 8 &&
	      memcmp(pm.p[1].value, "8bitmime", 8) == 0);
	CHECK_STR(pm.p[2].keyword, "SMTPUTF8");
	CHECK(pm.p[2].value == NULL);
	CHECK(smtp_parse_number(pm.p[0].value, pm.p[0].value_len, &n) == 0 &&
	      n == 12345);

	CHECK(path("FROM:<a@b>  BODY=BINARYMIME  ", "FROM:", true, &p, &pm) ==
	      SMTP_PARSE_OK);
	CHECK(pm.n == 1);
	CHECK(path("FROM:<a@b> SIZE=", "FROM:", true, &p, &pm) ==
	      SMTP_PARSE_BAD_PARAM);
	CHECK(path("FROM:<a@b> -X", "FROM:", true, &p, &pm) ==
	      SMTP_PARSE_BAD_PARAM);
	CHECK(path("FROM:<a@b> A=b=c", "FROM:", true, &p, &pm) ==
	      SMTP_PARSE_BAD_PARAM);
	CHECK(path("FROM:<a@b> A B C D E F G H I J K L M N O P Q", "FROM:",
		   true, &p, &pm) == SMTP_PARSE_BAD_PARAM);

	CHECK(smtp_parse_number("", 0, &n) == -1);
	CHECK(smtp_parse_number("12a", 3, &n) == -1);
	CHECK(smtp_parse_number("18446744073709551615", 20, &n) == 0 &&
	      n == UINT64_MAX);
	CHECK(smtp_parse_number("18446744073709551616", 20, &n) == -1);
}

static void test_bdat(void)
{
	uint64_t n;
	bool last;

	CHECK(smtp_parse_bdat("100", 3, &n, &last) == 0 && n == 100 && !last);
	CHECK(smtp_parse_bdat("0 LAST", 6, &n, &last) == 0 && n == 0 && last);
	CHECK(smtp_parse_bdat("7 last", 6, &n, &last) == 0 && n == 7 && last);
	CHECK(smtp_parse_bdat("", 0, &n, &last) == -1);
	CHECK(smtp_parse_bdat("LAST", 4, &n, &last) == -1);
	CHECK(smtp_parse_bdat("5 FIRST", 7, &n, &last) == -1);
	CHECK(smtp_parse_bdat("5x", 2, &n, &last) == -1);
	CHECK(smtp_parse_bdat("99999999999999999999999", 23, &n, &last) == -1);
}

/* Decodes in whole, then one byte at a time; both must give want and
 * leave the same number of bytes unused. */
static void dec_case(enum smtp_dec_mode mode, const char *in, size_t inlen,
		     const char *want, size_t wantlen, bool done,
		     size_t used_want)
{
	struct smtp_dec d;
	struct buf out = BUF_INIT;
	size_t used = 0, total = 0;
	enum smtp_dec_status st;

	smtp_dec_init(&d, mode);
	st = smtp_dec_feed(&d, in, inlen, &used, &out);
	if (mode == SMTP_DEC_RAW)
		smtp_dec_finish(&d, &out);
	CHECK((st == SMTP_DEC_DONE) == done);
	CHECK(used == used_want);
	if (used != used_want)
		fprintf(stderr, "  used %zu want %zu [%s]\n", used, used_want, in);
	CHECK(out.len == wantlen && memcmp(out.data, want, wantlen) == 0);
	if (out.len != wantlen || memcmp(out.data, want, wantlen) != 0)
		fprintf(stderr, "  whole: got [%.*s]\n", (int)out.len,
			out.data);

	buf_reset(&out);
	smtp_dec_init(&d, mode);
	st = SMTP_DEC_MORE;
	for (size_t i = 0; i < inlen; i++) {
		st = smtp_dec_feed(&d, in + i, 1, &used, &out);
		total += used;
		if (st == SMTP_DEC_DONE)
			break;
	}
	if (mode == SMTP_DEC_RAW)
		smtp_dec_finish(&d, &out);
	CHECK((st == SMTP_DEC_DONE) == done);
	CHECK(total == used_want);
	CHECK(out.len == wantlen && memcmp(out.data, want, wantlen) == 0);
	if (out.len != wantlen || memcmp(out.data, want, wantlen) != 0)
		fprintf(stderr, "  bytewise: got [%.*s]\n", (int)out.len,
			out.data);
	buf_release(&out);
}

#define DEC(mode, in, want, done, used)                                    \
	dec_case(mode, in, sizeof(in) - 1, want, sizeof(want) - 1, done, used)

static void test_decoder(void)
{
	/* The plain case; bytes after the terminator stay unused. */
	DEC(SMTP_DEC_DATA, "a\r\nb\r\n.\r\nQUIT\r\n", "a\r\nb\r\n", true, 9);
	/* Empty message. */
	DEC(SMTP_DEC_DATA, ".\r\n", "", true, 3);
	/* Dot-unstuffing: ".." -> ".", "..." -> "..", ".x" -> "x". */
	DEC(SMTP_DEC_DATA, "..\r\n...x\r\n.y\r\n.\r\n",
	    ".\r\n..x\r\ny\r\n", true, 17);
	/* A dot inside a line is data. */
	DEC(SMTP_DEC_DATA, "a.\r\n a\r\n.\r\n", "a.\r\n a\r\n", true, 11);
	/* Bare LF line ends become CRLF; ".LF" ends the data. */
	DEC(SMTP_DEC_DATA, "a\nb\n..c\n.\n", "a\r\nb\r\n.c\r\n", true, 10);
	/* Mixed. */
	DEC(SMTP_DEC_DATA, "a\r\nb\n.\r\n", "a\r\nb\r\n", true, 8);
	/* Bare CR stays; CR CR LF is a bare CR then CRLF. */
	DEC(SMTP_DEC_DATA, "a\rb\r\r\n.\r\n", "a\rb\r\r\n", true, 9);
	/* ". CR x" is not the end: the dot goes, the bare CR stays. */
	DEC(SMTP_DEC_DATA, ".\rx\r\n.\r\n", "\rx\r\n", true, 8);
	/* Not finished yet. */
	DEC(SMTP_DEC_DATA, "a\r\n.", "a\r\n", false, 4);
	DEC(SMTP_DEC_DATA, "a\r\n.\r", "a\r\n", false, 5);
	/* "\r\n.\r\n" in the middle of a line is not an end. */
	DEC(SMTP_DEC_DATA, "x.\r\n.\r\n", "x.\r\n", true, 7);

	/* RAW: no dot handling, LF -> CRLF, a final line end added. */
	DEC(SMTP_DEC_RAW, ".\r\n..\nx\r", ".\r\n..\r\nx\r\n", false, 8);
	DEC(SMTP_DEC_RAW, "a\nb", "a\r\nb\r\n", false, 3);
	DEC(SMTP_DEC_RAW, "a\rb\n", "a\rb\r\n", false, 4);
	DEC(SMTP_DEC_RAW, "", "", false, 0);
}

/* A user table for lmtp_rcpt_resolve. */
static bool exists(void *arg, const char *user)
{
	for (const char *const *u = arg; *u; u++)
		if (strcmp(*u, user) == 0)
			return true;
	return false;
}

static int resolve(const char *addr, struct lmtp_target *t)
{
	static const char *const users[] = {"alice", "bob",
					     "carol@example.org", NULL};
	struct smtp_path p;
	struct smtp_params pm;
	char arg[600];

	snprintf(arg, sizeof(arg), "TO:<%s>", addr);
	if (smtp_parse_path_arg(arg, strlen(arg), "TO:", false, &p, &pm) !=
	    SMTP_PARSE_OK)
		return -2;
	return lmtp_rcpt_resolve(&p, exists, (void *)users, t);
}

static void test_recipient(void)
{
	struct lmtp_target t;

	CHECK(resolve("alice@example.org", &t) == 0);
	CHECK_STR(t.user, "alice");
	CHECK_STR(t.detail, "");
	CHECK(resolve("alice+Lists@example.org", &t) == 0);
	CHECK_STR(t.user, "alice");
	CHECK_STR(t.detail, "Lists");
	/* Only the first '+' splits. */
	CHECK(resolve("bob+a+b@example.org", &t) == 0);
	CHECK_STR(t.user, "bob");
	CHECK_STR(t.detail, "a+b");
	/* Case-folded as a last resort. */
	CHECK(resolve("ALICE@EXAMPLE.ORG", &t) == 0);
	CHECK_STR(t.user, "alice");
	/* A user named by a whole address. */
	CHECK(resolve("carol@example.org", &t) == 0);
	CHECK_STR(t.user, "carol@example.org");
	CHECK(resolve("carol+x@Example.Org", &t) == 0);
	CHECK_STR(t.user, "carol@example.org");
	CHECK_STR(t.detail, "x");
	CHECK(resolve("carol@example.net", &t) == -1);
	/* Quoted local part, no domain. */
	CHECK(resolve("\"bob\"", &t) == 0);
	CHECK_STR(t.user, "bob");
	CHECK(resolve("nobody@example.org", &t) == -1);
	CHECK(resolve("+alice@example.org", &t) == -1);
	/* Not a valid user name (store_user_name_valid). */
	CHECK(resolve("\"al ice\"@example.org", &t) == -1);
	CHECK(resolve(".alice@example.org", &t) == -1);
}

/* The decoder's rules one byte at a time (RFC 5321 4.5.2 transparency,
 * every line end made CRLF), with none of its fast paths: random input
 * must decode to the same bytes. Returns the bytes used, *done when the
 * end marker was seen; finish as smtp_dec_finish does. */
static size_t ref_decode(bool data, const char *in, size_t n, struct buf *out,
			 bool *done)
{
	enum { BOL, TEXT, CR, DOT, DOT_CR } st = BOL;

	*done = false;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];

		if (st == DOT || st == DOT_CR) {
			if (c == '\n') {
				*done = true;
				return i + 1;
			}
			if (st == DOT && c == '\r') {
				st = DOT_CR;
				continue;
			}
			if (st == DOT_CR)
				buf_append_c(out, '\r');
			st = TEXT;
		} else if (st == CR) {
			buf_append(out, "\r\n", c == '\n' ? 2 : 1);
			st = TEXT;
			if (c == '\n') {
				st = BOL;
				continue;
			}
		} else if (st == BOL) {
			if (c == '.' && data) {
				st = DOT;
				continue;
			}
			st = TEXT;
		}
		if (c == '\r')
			st = CR;
		else if (c == '\n') {
			buf_append(out, "\r\n", 2);
			st = BOL;
		} else
			buf_append_c(out, c);
	}
	if (st == CR || st == TEXT)
		buf_append(out, "\r\n", 2);
	return n;
}

/* Long random lines (so the decoder's run copy takes most bytes) decode
 * as the byte-at-a-time rules do. */
static void test_decoder_matches_reference(void)
{
	static const char alpha[] = "\r\n.abcdefghijklmnopqrstuvwxyz0123";
	char in[600];
	struct buf got = BUF_INIT, want = BUF_INIT;
	bool ok = true;

	srand(7);
	for (int round = 0; round < 4000; round++) {
		size_t n = (size_t)(rand() % (int)sizeof(in)), used, wused;
		bool data = round % 2 == 0, done;
		/* rarer line ends as the rounds go on: longer runs */
		int spread = 3 + round % (int)(sizeof(alpha) - 3);
		struct smtp_dec d;
		enum smtp_dec_status st;

		for (size_t i = 0; i < n; i++)
			in[i] = alpha[rand() % spread];
		buf_reset(&got);
		buf_reset(&want);
		smtp_dec_init(&d, data ? SMTP_DEC_DATA : SMTP_DEC_RAW);
		st = smtp_dec_feed(&d, in, n, &used, &got);
		if (st == SMTP_DEC_MORE)
			smtp_dec_finish(&d, &got);
		wused = ref_decode(data, in, n, &want, &done);
		if ((st == SMTP_DEC_DONE) != done || used != wused ||
		    got.len != want.len ||
		    (got.len && memcmp(got.data, want.data, got.len))) {
			if (ok)
				fprintf(stderr, "round %d differs\n", round);
			ok = false;
		}
	}
	CHECK(ok);
	buf_release(&got);
	buf_release(&want);
}

/* Random inputs over a small alphabet, fed in random pieces, decode the
 * same as fed whole; the output never holds a bare LF. */
static void test_decoder_random_splits(void)
{
	static const char alpha[] = ".\r\nab";
	char in[200];
	struct buf whole = BUF_INIT, split = BUF_INIT;
	bool ok = true;

	srand(42);
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(rand() % (int)sizeof(in)), used, uw, us = 0;
		struct smtp_dec d;
		enum smtp_dec_status sw, ss = SMTP_DEC_MORE;
		enum smtp_dec_mode mode = round % 2 ? SMTP_DEC_RAW : SMTP_DEC_DATA;

		for (size_t i = 0; i < n; i++)
			in[i] = alpha[rand() % 5];
		buf_reset(&whole);
		buf_reset(&split);
		smtp_dec_init(&d, mode);
		sw = smtp_dec_feed(&d, in, n, &uw, &whole);
		smtp_dec_finish(&d, &whole);
		smtp_dec_init(&d, mode);
		while (us < n && ss == SMTP_DEC_MORE) {
			size_t k = 1 + (size_t)(rand() % 7);

			if (k > n - us)
				k = n - us;
			ss = smtp_dec_feed(&d, in + us, k, &used, &split);
			us += used;
		}
		smtp_dec_finish(&d, &split);
		if (sw != ss || uw != us || whole.len != split.len ||
		    (whole.len && memcmp(whole.data, split.data, whole.len)))
			ok = false;
		for (size_t i = 0; i < whole.len; i++)
			if (whole.data[i] == '\n' &&
			    (i == 0 || whole.data[i - 1] != '\r'))
				ok = false;
	}
	CHECK(ok);
	buf_release(&whole);
	buf_release(&split);
}

static void test_trace_headers(void)
{
	struct buf b = BUF_INIT;
	struct deliver_trace tr = {"mx\r\nX-Evil: 1", "127.0.0.1", "host.test",
				   "LMTP", "1.2", "a@b", 0};

	deliver_trace_headers(&b, "s@example.net", NULL);
	CHECK_STR(b.data, "Return-Path: <s@example.net>\r\n");
	buf_reset(&b);
	deliver_trace_headers(&b, "", NULL);
	CHECK_STR(b.data, "Return-Path: <>\r\n");
	buf_reset(&b);
	deliver_trace_headers(&b, NULL, &tr);
	CHECK(strncmp(b.data, "Received: from mx__X-Evil:_1 ([127.0.0.1])\r\n"
		      "\tby host.test (Tandem) with LMTP id 1.2\r\n"
		      "\tfor <a@b>;\r\n\t", 92) == 0);
	CHECK(b.len > 4 && memcmp(b.data + b.len - 2, "\r\n", 2) == 0);
	buf_release(&b);
}

int main(void)
{
	test_cmd_split();
	test_paths();
	test_params();
	test_bdat();
	test_decoder();
	test_decoder_random_splits();
	test_decoder_matches_reference();
	test_recipient();
	test_trace_headers();
	return t_done();
}
