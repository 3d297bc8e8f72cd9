/* test-envelope.c - address lists (core/rfc822.c) and ENVELOPE
 * (imapd/envelope.c). The expected strings are Dovecot 2.3.19.1's
 * answers for the same From: fields (the address lists it sent in
 * ENVELOPE), so broken input is handled the same way. */
#include "buf.h"
#include "envelope.h"
#include "mime.h"
#include "rfc822.h"
#include "xalloc.h"
#include "t.h"

#include <stdlib.h>
#include <string.h>

struct addr_case {
	const char *field;
	const char *want;
};

static const struct addr_case addr_cases[] = {
	{"user",
	 "((NIL NIL \"user\" \"MISSING_DOMAIN\"))"},
	{"user@",
	 "((NIL NIL \"user\" \"MISSING_DOMAIN\"))"},
	{"@host",
	 "((NIL NIL \"MISSING_MAILBOX\" \"host\"))"},
	{"\"Quoted Name\" <a@b.c>",
	 "((\"Quoted Name\" NIL \"a\" \"b.c\"))"},
	{"Joe (comment) <a@b.c>",
	 "((\"Joe\" NIL \"a\" \"b.c\"))"},
	{"a@b.c (The Comment)",
	 "((\"The Comment\" NIL \"a\" \"b.c\"))"},
	{"a@b.c (c1) (c2)",
	 "((\"c2\" NIL \"a\" \"b.c\"))"},
	{"<@r1,@r2:a@b.c>",
	 "((NIL \"@r1,@r2\" \"a\" \"b.c\"))"},
	{"Name <@r1:a@b.c>",
	 "((\"Name\" \"@r1\" \"a\" \"b.c\"))"},
	{"grp: a@b.c, B <b@c.d>;, after@x.y",
	 "((NIL NIL \"grp\" NIL)(NIL NIL \"a\" \"b.c\")(\"B\" NIL \"b\" \"c.d\")(NIL NIL NIL NIL)(NIL NIL \"after\" \"x.y\"))"},
	{"grp:;",
	 "((NIL NIL \"grp\" NIL)(NIL NIL NIL NIL))"},
	{"undisclosed-recipients:;",
	 "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))"},
	{"\"a b\"@c.d",
	 "((NIL NIL \"a b\" \"c.d\"))"},
	{"<>",
	 "((NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\"))"},
	{"Name <>",
	 "((\"Name\" NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\"))"},
	{"=?utf-8?q?J=C3=B6rg?= <j@x.y>",
	 "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x.y\"))"},
	{"Joe <a@b.c",
	 "((\"Joe\" NIL \"a\" \"SYNTAX_ERROR\"))"},
	{"a@b.c,,b@c.d",
	 "((NIL NIL \"a\" \"b.c\")(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")(NIL NIL \"b\" \"c.d\"))"},
	{"Jörg <j@x.y>",
	 "(({5}\r\nJörg NIL \"j\" \"x.y\"))"},
	{"a@[1.2.3.4]",
	 "((NIL NIL \"a\" \"[1.2.3.4]\"))"},
	{" spaces   many    words   <a@b.c>  ",
	 "((\"spaces many words\" NIL \"a\" \"b.c\"))"},
	{"A B <a@b.c>, C D <c@d.e> (x)",
	 "((\"A B\" NIL \"a\" \"b.c\")(\"C D\" NIL \"c\" \"d.e\"))"},
	{"a@b.c; b@c.d",
	 "((NIL NIL \"a\" \"b.c\"))"},
	{"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
	 "((\"Mary Smith\" NIL \"mary\" \"x.test\")(NIL NIL \"jdoe\" \"example.org\")(\"Who?\" NIL \"one\" \"y.test\"))"},
	{"", "NIL"},
	{"  (only a comment) ", "NIL"},
	{"a@b.c, \"unterminated <x@y>", "((NIL NIL \"a\" \"b.c\"))"},
	{"grp: a@b.c", "((NIL NIL \"grp\" NIL)(NIL NIL \"a\" \"b.c\")(NIL NIL NIL NIL))"},
	{"J. Smith <j@s.t>", "((\"J. Smith\" NIL \"j\" \"s.t\"))"},
	{"\"a\\\"b\" <q@r.s>", "((\"a\\\"b\" NIL \"q\" \"r.s\"))"},
};

static void test_addresses(void)
{
	struct buf out = BUF_INIT;

	for (size_t i = 0; i < ARRAY_SIZE(addr_cases); i++) {
		const char *f = addr_cases[i].field;

		buf_reset(&out);
		imap_envelope_write_addresses(&out, f, strlen(f), false);
		buf_append(&out, "", 0);
		if (strcmp(out.data, addr_cases[i].want) != 0)
			fprintf(stderr, "field: %s\n", f);
		CHECK_STR(out.data, addr_cases[i].want);
	}
	buf_reset(&out);
	imap_envelope_write_addresses(&out, NULL, 0, false);
	CHECK_STR(out.data, "NIL");
	/* UTF-8 sessions keep 8-bit names quoted */
	buf_reset(&out);
	imap_envelope_write_addresses(&out, "J\xc3\xb6rg <j@x.y>", 14, true);
	CHECK_STR(out.data, "((\"J\xc3\xb6rg\" NIL \"j\" \"x.y\"))");
	buf_release(&out);
}

static void test_parse_struct(void)
{
	const char *f = "G: <@a,@b:x@y>;";
	struct rfc822_addr *l = rfc822_parse_addresses(f, strlen(f)), *a;

	a = l;
	CHECK(a != NULL && strcmp(a->mailbox, "G") == 0 && a->host == NULL);
	a = a ? a->next : NULL;
	CHECK(a != NULL && a->route != NULL && strcmp(a->route, "@a,@b") == 0);
	a = a ? a->next : NULL;
	CHECK(a != NULL && a->mailbox == NULL && a->host == NULL);
	CHECK(a != NULL && a->next == NULL);
	rfc822_addr_free(&l);
	CHECK(l == NULL);
	CHECK(rfc822_parse_addresses("", 0) == NULL);
}

static void test_garbage(void)
{
	static const char alphabet[] = "aZ@<>,;:\"\\()[]. \t\r\n\x80\xff";
	char s[64];
	unsigned seed = 7;
	struct buf out = BUF_INIT;

	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)round % sizeof(s);

		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			s[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		buf_reset(&out);
		imap_envelope_write_addresses(&out, s, n, false);
		CHECK(out.len >= 3);
	}
	buf_release(&out);
}

static void test_envelope(void)
{
	const char *m = "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
			"Subject: hello\r\n"
			"From: A <a@b.c>\r\n"
			"To: undisclosed-recipients:;\r\n"
			"Message-ID: <m@x>\r\n\r\nbody\r\n";
	struct mime_part *p = mime_parse(m, strlen(m), NULL);
	struct buf out = BUF_INIT;

	imap_envelope_write(&out, p, false);
	CHECK_STR(out.data,
		  "(\"Mon, 1 Jan 2024 00:00:00 +0000\" \"hello\" "
		  "((\"A\" NIL \"a\" \"b.c\")) ((\"A\" NIL \"a\" \"b.c\")) "
		  "((\"A\" NIL \"a\" \"b.c\")) ((NIL NIL "
		  "\"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL "
		  "\"<m@x>\")");
	mime_part_free(&p);
	buf_release(&out);
}

int main(void)
{
	test_addresses();
	test_parse_struct();
	test_garbage();
	test_envelope();
	return t_done();
}
