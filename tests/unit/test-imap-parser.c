/* test-imap-parser.c - the resumable IMAP command parser: every command
 * shape fed whole and one byte at a time must give the same transcript;
 * literals (sync, non-sync, binary, streamed, rejected), errors and the
 * skipping of bad lines, limits, fetch-att sections, raw lines. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "parser.h"
#include "seqset.h"
#include "t.h"
#include "xalloc.h"

static struct buf out;

static void render_args(struct buf *b, const struct imap_arg *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_append_c(b, ' ');
		switch (a[i].type) {
		case IMAP_ARG_ATOM:
			buf_printf(b, "a:%s", a[i].str);
			break;
		case IMAP_ARG_NIL:
			buf_append_str(b, "NIL");
			break;
		case IMAP_ARG_STRING:
			buf_append_c(b, '"');
			buf_append(b, a[i].str, a[i].len);
			buf_append_c(b, '"');
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(b, "%s{", a[i].binary ? "~" : "");
			for (size_t k = 0; k < a[i].len; k++) {
				if (a[i].str[k] == '\0')
					buf_append_str(b, "\\0");
				else
					buf_append_c(b, a[i].str[k]);
			}
			buf_append_c(b, '}');
			break;
		case IMAP_ARG_LITERAL_STREAM:
			buf_printf(b, "S{%llu}",
				   (unsigned long long)a[i].literal_size);
			break;
		case IMAP_ARG_LIST:
			buf_append_c(b, '(');
			render_args(b, a[i].list, a[i].list_count);
			buf_append_c(b, ')');
			break;
		}
	}
}

enum policy {
	P_BUFFER,     /* buffer every literal (APPEND streams) */
	P_LITMINUS,   /* like BUFFER, but reject non-sync literals > 4096 */
	P_REJECT,     /* reject every literal */
};

static struct imap_parser_limits lim = {8192, 32};

/* Feeds in (n bytes) step bytes at a time as a session would and returns
 * the transcript of events. */
static const char *run_lim(const char *in, size_t n, size_t step,
			   enum policy pol, const struct imap_parser_limits *l)
{
	struct imap_parser *p = imap_parser_new(l);
	size_t start = 0, delivered = 0;
	bool streaming = false;

	buf_reset(&out);
	buf_append(&out, "", 0);
	while (start < n) {
		size_t c = 0;
		if (start == delivered)
			delivered = delivered + step > n ? n : delivered + step;
		enum imap_parse_result r =
			imap_parser_feed(p, in + start, delivered - start, &c);
		CHECK(c <= delivered - start);
		start += c;
		switch (r) {
		case IMAP_PARSE_MORE:
			CHECK(start == delivered);
			break;
		case IMAP_PARSE_DONE: {
			const struct imap_command *cmd = imap_parser_command(p);
			buf_printf(&out, "DONE %s %s", cmd->tag, cmd->name);
			if (cmd->nargs) {
				buf_append_c(&out, ' ');
				render_args(&out, cmd->args, cmd->nargs);
			}
			buf_append_c(&out, '\n');
			break;
		}
		case IMAP_PARSE_ERROR: {
			const char *tag = imap_parser_tag(p);
			if (streaming)
				buf_append_str(&out, ">\n");
			streaming = false;
			buf_printf(&out, "ERR %s %s\n", tag ? tag : "*",
				   imap_parser_error(p));
			break;
		}
		case IMAP_PARSE_LITERAL_WAIT: {
			const struct imap_literal_info *li =
				imap_parser_literal(p);
			const char *name = imap_parser_name(p);
			bool reject = pol == P_REJECT ||
				      (pol == P_LITMINUS && !li->sync &&
				       li->size > 4096);
			buf_printf(&out, "LIT %s%llu%s argc=%zu depth=%u\n",
				   li->binary ? "~" : "",
				   (unsigned long long)li->size,
				   li->sync ? "" : "+", li->argc, li->depth);
			if (!reject && name && strcmp(name, "APPEND") == 0) {
				imap_parser_literal_stream(p);
				buf_append_str(&out, "STREAM <");
				streaming = li->size > 0;
				if (!streaming)
					buf_append_str(&out, ">\n");
			} else if (reject || imap_parser_literal_buffer(p) < 0) {
				const char *tag = imap_parser_tag(p);
				imap_parser_literal_reject(p);
				buf_printf(&out, "REJ %s\n", tag ? tag : "*");
			}
			break;
		}
		case IMAP_PARSE_LITERAL_DATA: {
			const char *d;
			size_t dl;
			bool last;
			imap_parser_chunk(p, &d, &dl, &last);
			CHECK(dl > 0);
			buf_append(&out, d, dl);
			if (last) {
				buf_append_str(&out, ">\n");
				streaming = false;
			}
			break;
		}
		}
	}
	imap_parser_free(&p);
	CHECK(p == NULL);
	return out.data;
}

static const char *run(const char *in, size_t n, size_t step, enum policy pol)
{
	return run_lim(in, n, step, pol, &lim);
}

/* Whole and byte by byte (and in 3-byte slices) must agree. */
static void same(const char *in, size_t n, enum policy pol, const char *want,
		 int line)
{
	static const size_t steps[] = {SIZE_MAX / 2, 1, 3, 7};

	for (size_t k = 0; k < ARRAY_SIZE(steps); k++) {
		const char *got = run(in, n, steps[k], pol);
		if (strcmp(got, want) != 0) {
			t_fail++;
			fprintf(stderr, "line %d step %zu:\n got: %s\nwant: %s\n",
				line, steps[k], got, want);
		} else {
			t_pass++;
		}
	}
}

#define SAME(in, want) same(in, sizeof(in) - 1, P_BUFFER, want, __LINE__)
#define SAMEP(in, pol, want) same(in, sizeof(in) - 1, pol, want, __LINE__)

static void test_shapes(void)
{
	SAME("a1 NOOP\r\n", "DONE a1 NOOP\n");
	SAME("a1 noop\r\nA2 Capability\r\n",
	     "DONE a1 NOOP\nDONE A2 CAPABILITY\n");
	SAME("x LOGIN alice secret\r\n", "DONE x LOGIN a:alice a:secret\n");
	SAME("x LOGIN \"al\\\"i\\\\ce\" \"\"\r\n",
	     "DONE x LOGIN \"al\"i\\ce\" \"\"\n");
	/* synchronizing literal */
	SAME("x LOGIN alice {6}\r\nsecret\r\n",
	     "LIT 6 argc=1 depth=0\nDONE x LOGIN a:alice {secret}\n");
	/* non-synchronizing (RFC 7888) and zero-length */
	SAME("x LOGIN {5+}\r\nalice {0}\r\n\r\n",
	     "LIT 5+ argc=0 depth=0\nLIT 0 argc=1 depth=0\n"
	     "DONE x LOGIN {alice} {}\n");
	SAME("x SELECT INBOX\r\n", "DONE x SELECT a:INBOX\n");
	SAME("x STATUS [Gmail]/Sent (MESSAGES UIDNEXT)\r\n",
	     "DONE x STATUS a:[Gmail]/Sent (a:MESSAGES a:UIDNEXT)\n");
	SAME("x LIST \"\" *\r\n", "DONE x LIST \"\" a:*\n");
	SAME("x LIST \"\" %/foo\r\n", "DONE x LIST \"\" a:%/foo\n");
	SAME("x LIST (SUBSCRIBED) \"\" (* \"a b\") RETURN (CHILDREN "
	     "STATUS (MESSAGES UNSEEN))\r\n",
	     "DONE x LIST (a:SUBSCRIBED) \"\" (a:* \"a b\") a:RETURN "
	     "(a:CHILDREN a:STATUS (a:MESSAGES a:UNSEEN))\n");
	SAME("x UID FETCH 1:*,5 (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (A B)]"
	     "<0.100>)\r\n",
	     "DONE x UID FETCH a:1:*,5 (a:FLAGS "
	     "a:BODY.PEEK[1.2.HEADER.FIELDS (A B)]<0.100>)\n");
	SAME("x uid fetch 1 body[header.fields (\"X-A\" b)]\r\n",
	     "DONE x UID FETCH a:1 a:body[header.fields (\"X-A\" b)]\n");
	SAME("x FETCH 1 BODY[]\r\n", "DONE x FETCH a:1 a:BODY[]\n");
	SAME("x FETCH 1 (BODY[TEXT] BINARY.SIZE[1])\r\n",
	     "DONE x FETCH a:1 (a:BODY[TEXT] a:BINARY.SIZE[1])\n");
	SAME("x STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)\r\n",
	     "DONE x STORE a:1 a:+FLAGS.SILENT (a:\\Seen a:\\Deleted)\n");
	SAME("x SEARCH CHARSET UTF-8 SUBJECT {3+}\r\nabc UNSEEN\r\n",
	     "LIT 3+ argc=3 depth=0\n"
	     "DONE x SEARCH a:CHARSET a:UTF-8 a:SUBJECT {abc} a:UNSEEN\n");
	SAME("x ID NIL\r\n", "DONE x ID NIL\n");
	SAME("x ID (\"name\" \"x\" \"v\" nil)\r\n",
	     "DONE x ID (\"name\" \"x\" \"v\" NIL)\n");
	SAME("x ENABLE IMAP4rev2 UTF8=ACCEPT\r\n",
	     "DONE x ENABLE a:IMAP4rev2 a:UTF8=ACCEPT\n");
	/* lenient: bare LF, extra and trailing spaces, empty lines */
	SAME("\r\n\nx  SELECT   INBOX \nz NOOP\r\n",
	     "DONE x SELECT a:INBOX\nDONE z NOOP\n");
	/* literal inside a list, and lists nested */
	SAME("x ID ((a) ({2}\r\nhi b) ())\r\n",
	     "LIT 2 argc=1 depth=2\nDONE x ID ((a:a) ({hi} a:b) ())\n");
	/* '~' not followed by '{' is an atom byte */
	SAME("x SELECT ~user/box\r\n", "DONE x SELECT a:~user/box\n");
	/* 8-bit bytes pass in atoms and quoted strings */
	SAME("x CREATE \"Caf\xc3\xa9\" B\xc3\xa4r\r\n",
	     "DONE x CREATE \"Caf\xc3\xa9\" a:B\xc3\xa4r\n");
}

static void test_append(void)
{
	/* APPEND streams its literal; the session sees chunks */
	SAME("x APPEND INBOX (\\Seen) \"25-Nov-2026 17:00:00 +0000\" "
	     "{11}\r\nhello world\r\ny NOOP\r\n",
	     "LIT 11 argc=3 depth=0\nSTREAM <hello world>\n"
	     "DONE x APPEND a:INBOX (a:\\Seen) \"25-Nov-2026 17:00:00 "
	     "+0000\" S{11}\nDONE y NOOP\n");
	/* binary literal may hold NUL */
	static const char bin[] = "x APPEND INBOX ~{5+}\r\na\0b\0c\r\n";
	same(bin, sizeof(bin) - 1, P_BUFFER,
	     "LIT ~5+ argc=1 depth=0\nSTREAM <a\0b\0c>\n"
	     "DONE x APPEND a:INBOX S{5}\n", __LINE__);
	/* strcmp stops at the NUL: check the buffered form too */
	static const char bin2[] = "x ID ~{3}\r\na\0b\r\n";
	same(bin2, sizeof(bin2) - 1, P_BUFFER,
	     "LIT ~3 argc=0 depth=0\nDONE x ID ~{a\\0b}\n", __LINE__);
	SAME("x APPEND INBOX {0}\r\n\r\n",
	     "LIT 0 argc=1 depth=0\nSTREAM <>\nDONE x APPEND a:INBOX S{0}\n");
}

static void test_errors(void)
{
	/* NUL in a command line: BAD with the tag, next command fine */
	static const char nul[] = "a1 SELECT IN\0BOX\r\na2 NOOP\r\n";
	same(nul, sizeof(nul) - 1, P_BUFFER,
	     "ERR a1 NUL byte in command\nDONE a2 NOOP\n", __LINE__);
	static const char nul2[] = "\0a1 NOOP\r\na2 NOOP\r\n";
	same(nul2, sizeof(nul2) - 1, P_BUFFER,
	     "ERR * NUL byte in command\nDONE a2 NOOP\n", __LINE__);
	/* NUL in a (non-binary) literal */
	static const char nul3[] = "a1 LOGIN {3}\r\na\0b c\r\na2 NOOP\r\n";
	same(nul3, sizeof(nul3) - 1, P_BUFFER,
	     "LIT 3 argc=0 depth=0\nERR a1 NUL byte in literal\n"
	     "DONE a2 NOOP\n", __LINE__);
	/* unbalanced parentheses */
	SAME("a1 FETCH 1 (FLAGS\r\na2 NOOP\r\n",
	     "ERR a1 Missing ')'\nDONE a2 NOOP\n");
	SAME("a1 FETCH 1 FLAGS)\r\na2 NOOP\r\n",
	     "ERR a1 Unexpected ')'\nDONE a2 NOOP\n");
	SAME("a1 FETCH 1 ((FLAGS)\r\na2 NOOP\r\n",
	     "ERR a1 Missing ')'\nDONE a2 NOOP\n");
	SAME("a1 ID (a)(b)\r\na2 NOOP\r\n",
	     "ERR a1 Missing space between arguments\nDONE a2 NOOP\n");
	/* tags and names */
	SAME("* NOOP\r\na2 NOOP\r\n", "ERR * Invalid tag\nDONE a2 NOOP\n");
	SAME("a+b NOOP\r\na2 NOOP\r\n", "ERR * Invalid tag\nDONE a2 NOOP\n");
	SAME(" NOOP\r\na2 NOOP\r\n", "ERR * Missing tag\nDONE a2 NOOP\n");
	SAME("a1\r\na2 NOOP\r\n", "ERR a1 Missing command\nDONE a2 NOOP\n");
	SAME("a1 \r\na2 NOOP\r\n", "ERR a1 Missing command\nDONE a2 NOOP\n");
	SAME("a1 1NOOP\r\na2 NOOP\r\n",
	     "ERR a1 Invalid command name\nDONE a2 NOOP\n");
	SAME("a1 NO\"OP\r\na2 NOOP\r\n",
	     "ERR a1 Invalid command name\nDONE a2 NOOP\n");
	/* quoted strings */
	SAME("a1 LOGIN \"a\\b\" x\r\na2 NOOP\r\n",
	     "ERR a1 Invalid escape in quoted string\nDONE a2 NOOP\n");
	SAME("a1 LOGIN \"abc\r\na2 NOOP\r\n",
	     "ERR a1 Unterminated quoted string\nDONE a2 NOOP\n");
	/* atoms and literals */
	SAME("a1 LOGIN ab(c\r\na2 NOOP\r\n",
	     "ERR a1 Invalid character in atom\nDONE a2 NOOP\n");
	SAME("a1 LOGIN {x}\r\na2 NOOP\r\n",
	     "ERR a1 Invalid literal\nDONE a2 NOOP\n");
	SAME("a1 LOGIN {3} x\r\na2 NOOP\r\n",
	     "ERR a1 Literal must end the line\nDONE a2 NOOP\n");
	SAME("a1 LOGIN \"x\"y\r\na2 NOOP\r\n",
	     "ERR a1 Missing space between arguments\nDONE a2 NOOP\n");
	SAME("a1 NOOP\rx\r\na2 NOOP\r\n", "ERR a1 CR without LF\nDONE a2 NOOP\n");
	/* a bad line's non-synchronizing literal is skipped, not executed */
	SAME("a1 LOGIN \"x\\q\" {12+}\r\na3 LOGOUT\r\n\r\na2 NOOP\r\n",
	     "ERR a1 Invalid escape in quoted string\nDONE a2 NOOP\n");
	/* a synchronizing literal on a bad line is never sent */
	SAME("a1 LOGIN \"x\\q\" {5}\r\na2 NOOP\r\n",
	     "ERR a1 Invalid escape in quoted string\nDONE a2 NOOP\n");
}

static void test_literal_policy(void)
{
	/* rejected synchronizing literal: the command is over at once */
	SAMEP("a1 LOGIN {5}\r\na2 NOOP\r\n", P_REJECT,
	      "LIT 5 argc=0 depth=0\nREJ a1\nDONE a2 NOOP\n");
	/* LITERAL-: a non-sync literal over 4096 is refused; the client
	 * sends it anyway and it must be skipped with the rest of the line */
	struct buf in = BUF_INIT;
	buf_append_str(&in, "a1 LOGIN {5000+}\r\n");
	for (int i = 0; i < 625; i++)
		buf_append_str(&in, "z NOOP\r\n");
	buf_append_str(&in, " {3+}\r\nabc\r\na2 NOOP\r\n");
	static const size_t steps[] = {SIZE_MAX / 2, 1, 100};
	for (size_t k = 0; k < ARRAY_SIZE(steps); k++)
		CHECK_STR(run(in.data, in.len, steps[k], P_LITMINUS),
			  "LIT 5000+ argc=0 depth=0\nREJ a1\nDONE a2 NOOP\n");
	/* non-sync literal under the limit is fine */
	buf_reset(&in);
	buf_append_str(&in, "a1 LOGIN {4096+}\r\n");
	for (int i = 0; i < 4096; i++)
		buf_append_c(&in, 'x');
	buf_append_str(&in, " p\r\n");
	const char *got = run(in.data, in.len, 1, P_LITMINUS);
	CHECK(strncmp(got, "LIT 4096+ argc=0 depth=0\nDONE a1 LOGIN {xxx", 43) ==
	      0);
	/* a literal over max_line cannot be buffered */
	struct imap_parser_limits small = {64, 8};
	CHECK_STR(run_lim("a1 LOGIN {100}\r\na2 NOOP\r\n", 25, 1, P_BUFFER,
			  &small),
		  "LIT 100 argc=0 depth=0\nREJ a1\nDONE a2 NOOP\n");
	buf_release(&in);
}

static void test_limits(void)
{
	struct buf in = BUF_INIT;
	struct imap_parser_limits big = {1 << 20, 32};

	/* 100000-element sequence set, one atom */
	buf_append_str(&in, "a1 UID FETCH ");
	for (int i = 0; i < 100000; i++)
		buf_printf(&in, "%s%d", i ? "," : "", 2 * i + 1);
	buf_append_str(&in, " (FLAGS)\r\n");
	struct imap_parser *p = imap_parser_new(&big);
	size_t c = 0;
	CHECK(imap_parser_feed(p, in.data, in.len, &c) == IMAP_PARSE_DONE);
	CHECK(c == in.len);
	const struct imap_command *cmd = imap_parser_command(p);
	CHECK_STR(cmd->name, "UID FETCH");
	CHECK(cmd->nargs == 2);
	struct seqset set = SEQSET_INIT;
	const char *err;
	CHECK(seqset_parse(&set, cmd->args[0].str, cmd->args[0].len, 0, false,
			   &err) == 0);
	CHECK(set.n == 100000);
	seqset_release(&set);
	imap_parser_free(&p);

	/* too long: BAD, rest of the line skipped */
	struct imap_parser_limits small = {64, 32};
	buf_reset(&in);
	buf_append_str(&in, "a1 LOGIN ");
	for (int i = 0; i < 1000; i++)
		buf_append_c(&in, 'x');
	buf_append_str(&in, "\r\na2 NOOP\r\n");
	CHECK_STR(run_lim(in.data, in.len, 1, P_BUFFER, &small),
		  "ERR a1 Command line too long\nDONE a2 NOOP\n");
	CHECK_STR(run_lim(in.data, in.len, 4096, P_BUFFER, &small),
		  "ERR a1 Command line too long\nDONE a2 NOOP\n");
	/* too long in a literal header: its bytes are still skipped */
	buf_reset(&in);
	buf_append_str(&in, "a1 LOGIN ");
	for (int i = 0; i < 50; i++)
		buf_append_c(&in, 'x');
	buf_append_str(&in, " {12+}\r\na3 LOGOUT\r\n\r\na2 NOOP\r\n");
	CHECK_STR(run_lim(in.data, in.len, 1, P_BUFFER, &small),
		  "ERR a1 Command line too long\nDONE a2 NOOP\n");

	/* 1000-deep nesting: BAD, memory bounded by max_depth */
	buf_reset(&in);
	buf_append_str(&in, "a1 ID ");
	for (int i = 0; i < 1000; i++)
		buf_append_c(&in, '(');
	for (int i = 0; i < 1000; i++)
		buf_append_c(&in, ')');
	buf_append_str(&in, "\r\na2 NOOP\r\n");
	CHECK_STR(run_lim(in.data, in.len, 1, P_BUFFER, &big),
		  "ERR a1 Too deeply nested lists\nDONE a2 NOOP\n");
	p = imap_parser_new(&big);
	CHECK(imap_parser_feed(p, in.data, in.len, &c) == IMAP_PARSE_ERROR);
	CHECK(imap_parser_error_code(p) == IMAP_PERR_TOO_DEEP);
	CHECK(c < 6 + 34); /* stopped right after the 33rd '(' */
	imap_parser_free(&p);
	/* exactly max_depth is fine */
	buf_reset(&in);
	buf_append_str(&in, "a1 ID ");
	for (int i = 0; i < 32; i++)
		buf_append_c(&in, '(');
	for (int i = 0; i < 32; i++)
		buf_append_c(&in, ')');
	buf_append_str(&in, "\r\n");
	p = imap_parser_new(&big);
	CHECK(imap_parser_feed(p, in.data, in.len, &c) == IMAP_PARSE_DONE);
	imap_parser_free(&p);
	buf_release(&in);
}

static void test_state_queries(void)
{
	struct imap_parser *p = imap_parser_new(&lim);
	size_t c, n;
	const char *s = "t1 LOGIN {5}\r\nalice {6}\r\nsecret\r\n";

	CHECK(imap_parser_tag(p) == NULL);
	CHECK(imap_parser_feed(p, s, 3, &c) == IMAP_PARSE_MORE);
	CHECK_STR(imap_parser_tag(p), "t1");
	CHECK(imap_parser_name(p) == NULL);
	CHECK(imap_parser_feed(p, s + 3, strlen(s) - 3, &c) ==
	      IMAP_PARSE_LITERAL_WAIT);
	CHECK_STR(imap_parser_name(p), "LOGIN");
	CHECK(imap_parser_literal(p)->sync);
	CHECK(imap_parser_literal_buffer(p) == 0);
	s += 3 + c;
	CHECK(imap_parser_feed(p, s, strlen(s), &c) ==
	      IMAP_PARSE_LITERAL_WAIT);
	struct imap_arg *args = imap_parser_args(p, &n);
	CHECK(n == 1);
	CHECK(args[0].type == IMAP_ARG_LITERAL && args[0].len == 5);
	CHECK(imap_parser_literal_buffer(p) == 0);
	s += c;
	CHECK(imap_parser_feed(p, s, strlen(s), &c) == IMAP_PARSE_DONE);
	CHECK(c == strlen(s));
	const struct imap_command *cmd = imap_parser_command(p);
	const char *v;
	size_t vl;
	CHECK(cmd->nargs == 2);
	CHECK(imap_arg_astring(&cmd->args[0], &v, &vl) && vl == 5);
	CHECK_STR(v, "alice");
	CHECK(imap_arg_astring(&cmd->args[1], &v, &vl) && vl == 6);
	CHECK_STR(v, "secret");

	/* the bytes after DONE are not consumed */
	s = "t2 NOOP\r\nt3 NOOP\r\n";
	CHECK(imap_parser_feed(p, s, strlen(s), &c) == IMAP_PARSE_DONE);
	CHECK(c == 9);
	imap_parser_free(&p);
}

static void test_arg_helpers(void)
{
	struct imap_parser *p = imap_parser_new(&lim);
	size_t c, vl;
	const char *v;
	uint64_t num;
	const char *s = "t X 12 nil \"q\" a%b \\Seen (1 2) 99999999999999999999"
			" [x] 0\r\n";

	CHECK(imap_parser_feed(p, s, strlen(s), &c) == IMAP_PARSE_DONE);
	const struct imap_command *cmd = imap_parser_command(p);
	const struct imap_arg *a = cmd->args;
	CHECK(cmd->nargs == 9);
	CHECK(imap_arg_number(&a[0], UINT32_MAX, &num) && num == 12);
	CHECK(!imap_arg_number(&a[0], 11, &num));
	CHECK(a[1].type == IMAP_ARG_NIL);
	CHECK(imap_arg_nstring(&a[1], &v, &vl) && v == NULL);
	CHECK(imap_arg_astring(&a[1], &v, &vl) && strcmp(v, "nil") == 0);
	CHECK(!imap_arg_atom_eq(&a[1], "NIL"));
	CHECK(imap_arg_string(&a[2], &v, &vl) && vl == 1);
	CHECK(imap_arg_astring(&a[2], &v, &vl));
	CHECK(!imap_arg_atom(&a[2], &v));
	CHECK(!imap_arg_astring(&a[3], &v, &vl));
	CHECK(imap_arg_list_mailbox(&a[3], &v, &vl) && vl == 3);
	CHECK(imap_arg_atom_eq(&a[4], "\\SEEN"));
	CHECK(!imap_arg_astring(&a[4], &v, &vl));
	struct imap_arg *l;
	size_t ln;
	CHECK(imap_arg_list(&a[5], &l, &ln) && ln == 2);
	CHECK(imap_arg_number(&l[1], 10, &num) && num == 2);
	CHECK(!imap_arg_list(&a[4], &l, &ln));
	CHECK(!imap_arg_number(&a[6], UINT64_MAX, &num));
	CHECK(imap_arg_astring(&a[7], &v, &vl) && strcmp(v, "[x]") == 0);
	CHECK(imap_arg_number(&a[8], 5, &num) && num == 0);
	imap_parser_free(&p);
}

static const char *fa(const char *s, struct imap_fetch_att *r)
{
	static struct buf fields, echo;
	const char *err;

	buf_reset(&echo);
	buf_append(&echo, "", 0);
	if (imap_fetch_att_parse(s, strlen(s), r, &fields, &echo, &err) < 0)
		return err;
	for (size_t i = 0, off = 0; i < r->nfields; i++) {
		buf_printf(&echo, "|%s", fields.data + off);
		off += strlen(fields.data + off) + 1;
	}
	return echo.data;
}

static void test_fetch_att(void)
{
	struct imap_fetch_att r;

	CHECK_STR(fa("BODY[]", &r), "");
	CHECK_STR(r.name, "BODY");
	CHECK(r.text == IMAP_SECTION_ALL && r.nparts == 0 && !r.has_partial);
	CHECK_STR(fa("body.peek[1.2.header.fields (a \"B-c\")]<0.100>", &r),
		  "1.2.HEADER.FIELDS (A B-C)|A|B-C");
	CHECK_STR(r.name, "BODY.PEEK");
	CHECK(r.nparts == 2 && r.part[0] == 1 && r.part[1] == 2);
	CHECK(r.text == IMAP_SECTION_HEADER_FIELDS && r.nfields == 2);
	CHECK(r.has_partial && r.partial_start == 0 && r.partial_len == 100);
	CHECK_STR(fa("BODY[HEADER.FIELDS.NOT (Received)]", &r),
		  "HEADER.FIELDS.NOT (RECEIVED)|RECEIVED");
	CHECK(r.text == IMAP_SECTION_HEADER_FIELDS_NOT);
	CHECK_STR(fa("BODY[3.MIME]", &r), "3.MIME");
	CHECK(r.text == IMAP_SECTION_MIME);
	CHECK_STR(fa("BODY[TEXT]<5.10>", &r), "TEXT");
	CHECK_STR(fa("BODY[1]", &r), "1");
	CHECK_STR(fa("BINARY[1.2]", &r), "1.2");
	CHECK_STR(fa("BINARY.PEEK[]", &r), "");
	CHECK_STR(r.name, "BINARY.PEEK");
	CHECK_STR(fa("BINARY.SIZE[2]", &r), "2");

	static const char *bad[] = {
		"BODY", "BODY[", "BODY[MIME]", "BODY[0]", "BODY[1.]",
		"BODY[HEADER.FIELDS]", "BODY[HEADER.FIELDS ()]",
		"BODY[HEADER.FIELDS (A:B)]", "BODY[HEADER.FIELDS (A]",
		"BODY[TEXT]<1>", "BODY[TEXT]<1.0>", "BODY[]<1.2>x",
		"BINARY[TEXT]", "BINARY.SIZE[1]<0.1>", "BODY[FOO]",
		"BODYSTRUCTURE[]", "BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16"
		".17.18.19.20.21.22.23.24.25.26.27.28.29.30.31.32.33]",
		"BODY[4294967296]",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct buf f = BUF_INIT;
		const char *err = NULL;
		int rc = imap_fetch_att_parse(bad[i], strlen(bad[i]), &r, &f,
					      NULL, &err);
		if (rc == 0)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(rc < 0 && err != NULL);
		buf_release(&f);
	}
}

static void test_read_line(void)
{
	struct imap_parser_limits small = {16, 4};
	struct imap_parser *p = imap_parser_new(&small);
	const char *line;
	size_t c, n;
	const char *s = "dGVzdA==\r\nDONE\r\n";

	CHECK(imap_parser_read_line(p, s, 4, &c, &line, &n) ==
	      IMAP_PARSE_MORE);
	CHECK(c == 4);
	CHECK(imap_parser_read_line(p, s + 4, strlen(s) - 4, &c, &line, &n) ==
	      IMAP_PARSE_DONE);
	CHECK(c == 6 && n == 8);
	CHECK_STR(line, "dGVzdA==");
	CHECK(imap_parser_read_line(p, "DONE\n", 5, &c, &line, &n) ==
	      IMAP_PARSE_DONE);
	CHECK_STR(line, "DONE");
	CHECK(imap_parser_read_line(p, "*\r\n", 3, &c, &line, &n) ==
	      IMAP_PARSE_DONE);
	CHECK_STR(line, "*");
	/* NUL: ERROR only once the whole line was consumed */
	CHECK(imap_parser_read_line(p, "ab\0cd", 5, &c, &line, &n) ==
	      IMAP_PARSE_MORE);
	CHECK(imap_parser_read_line(p, "ef\r\nx", 5, &c, &line, &n) ==
	      IMAP_PARSE_ERROR);
	CHECK(c == 4);
	CHECK(imap_parser_error_code(p) == IMAP_PERR_NUL);
	/* too long */
	const char *lng = "0123456789abcdefghij\r\nok\r\n";
	CHECK(imap_parser_read_line(p, lng, strlen(lng), &c, &line, &n) ==
	      IMAP_PARSE_ERROR);
	CHECK(c == 22);
	CHECK(imap_parser_error_code(p) == IMAP_PERR_TOO_LONG);
	CHECK(imap_parser_read_line(p, lng + c, strlen(lng) - c, &c, &line,
				    &n) == IMAP_PARSE_DONE);
	CHECK_STR(line, "ok");
	/* the command parser works after raw lines */
	enum imap_parse_result rr = imap_parser_feed(p, "a IDLE\r\n", 8, &c);
	if (rr != IMAP_PARSE_DONE)
		fprintf(stderr, "rr %d %s\n", rr, imap_parser_error(p));
	CHECK(rr == IMAP_PARSE_DONE);
	imap_parser_free(&p);
}

int main(void)
{
	test_shapes();
	test_append();
	test_errors();
	test_literal_policy();
	test_limits();
	test_state_queries();
	test_arg_helpers();
	test_fetch_att();
	test_read_line();
	buf_release(&out);
	return t_done();
}
