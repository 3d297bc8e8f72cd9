/* test-imap-write.c - the IMAP reply syntax writers. */
#include <string.h>

#include "buf.h"
#include "t.h"
#include "write.h"

static struct buf b;

#define W(call, want)                                                      \
	do {                                                               \
		buf_reset(&b);                                             \
		buf_append(&b, "", 0);                                     \
		call;                                                      \
		CHECK(b.len == sizeof(want) - 1 &&                          \
		      memcmp(b.data, want, b.len) == 0);                   \
		if (!(b.len == sizeof(want) - 1 &&                          \
		      memcmp(b.data, want, b.len) == 0))                   \
			fprintf(stderr, "  got [%.*s]\n", (int)b.len, b.data); \
	} while (0)

#define S(x) x, strlen(x)

int main(void)
{
	/* string: quoted when safe, literal otherwise */
	W(imap_w_string(&b, S("hello")), "\"hello\"");
	W(imap_w_string(&b, S("")), "\"\"");
	W(imap_w_string(&b, S("a\"b\\c")), "\"a\\\"b\\\\c\"");
	W(imap_w_string(&b, S("a\r\nb")), "{4}\r\na\r\nb");
	W(imap_w_string(&b, S("caf\xc3\xa9")), "{5}\r\ncaf\xc3\xa9");
	W(imap_w_string(&b, "a\0b", 3), "{3}\r\na\0b");
	{
		char big[IMAP_W_QUOTED_MAX + 1];
		memset(big, 'x', sizeof(big));
		buf_reset(&b);
		imap_w_string(&b, big, sizeof(big));
		CHECK(b.len > 7 && memcmp(b.data, "{1025}\r\n", 8) == 0);
		buf_reset(&b);
		imap_w_string(&b, big, sizeof(big) - 1);
		CHECK(b.data[0] == '"' && b.len == IMAP_W_QUOTED_MAX + 2);
	}

	/* nstring */
	W(imap_w_nstring(&b, NULL, 0), "NIL");
	W(imap_w_nstring(&b, S("NIL")), "\"NIL\"");

	/* astring: bare atom when possible */
	W(imap_w_astring(&b, S("INBOX")), "INBOX");
	W(imap_w_astring(&b, S("a]b")), "a]b");
	W(imap_w_astring(&b, S("")), "\"\"");
	W(imap_w_astring(&b, S("nil")), "\"nil\"");
	W(imap_w_astring(&b, S("two words")), "\"two words\"");
	W(imap_w_astring(&b, S("a(b")), "\"a(b\"");
	W(imap_w_astring(&b, S("a%")), "\"a%\"");
	W(imap_w_astring(&b, S("a*")), "\"a*\"");
	W(imap_w_astring(&b, S("a{")), "\"a{\"");
	W(imap_w_astring(&b, S("x\xc3\xa9")), "{3}\r\nx\xc3\xa9");

	/* UTF-8 variants */
	W(imap_w_string_utf8(&b, S("caf\xc3\xa9")), "\"caf\xc3\xa9\"");
	W(imap_w_string_utf8(&b, S("bad\xc3")), "{4}\r\nbad\xc3");
	W(imap_w_string_utf8(&b, S("\xc0\x80")), "{2}\r\n\xc0\x80");
	W(imap_w_astring_utf8(&b, S("x\xc3\xa9")), "\"x\xc3\xa9\"");
	W(imap_w_nstring_utf8(&b, NULL, 0), "NIL");

	/* literals */
	W(imap_w_literal_header(&b, 12, false), "{12}\r\n");
	W(imap_w_literal_header(&b, 0, true), "~{0}\r\n");
	W(imap_w_literal_header(&b, 5000000000ull, false), "{5000000000}\r\n");
	W(imap_w_literal(&b, "a\0b", 3, true), "~{3}\r\na\0b");
	W(imap_w_quoted(&b, S("a\"b")), "\"a\\\"b\"");

	/* mailbox names */
	W(imap_w_mailbox(&b, S("inbox"), false), "INBOX");
	W(imap_w_mailbox(&b, S("Sent"), false), "Sent");
	W(imap_w_mailbox(&b, S("A & B"), false), "\"A &- B\"");
	W(imap_w_mailbox(&b, S("Entw\xc3\xbcrfe"), false), "Entw&APw-rfe");
	W(imap_w_mailbox(&b, S("Entw\xc3\xbcrfe"), true), "\"Entw\xc3\xbcrfe\"");
	W(imap_w_mailbox(&b, S("a/b c"), false), "\"a/b c\"");
	W(imap_w_mailbox(&b, S("\xff"), false), "{1}\r\n\xff");

	/* flags */
	W(imap_w_flag_list(&b, 0, false, NULL), "()");
	W(imap_w_flag_list(&b, IMAP_FLAG_SEEN | IMAP_FLAG_DELETED, false, ""),
	  "(\\Deleted \\Seen)");
	W(imap_w_flag_list(&b, 0x1f, true, "$Junk  foo"),
	  "(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\Recent $Junk foo)");
	W(imap_w_flag_list(&b, 0, false, "  kw "), "(kw)");
	buf_reset(&b);
	CHECK(imap_w_sys_flags(&b, IMAP_FLAG_FLAGGED | IMAP_FLAG_DRAFT) == 2);

	/* character classes */
	CHECK(imap_is_atom_char('a'));
	CHECK(!imap_is_atom_char(' '));
	CHECK(!imap_is_atom_char(']'));
	CHECK(imap_is_astring_char(']'));
	CHECK(!imap_is_atom_char(0x7f));
	CHECK(!imap_is_text_char('\n'));
	CHECK(imap_utf8_valid(S("\xf0\x9f\x98\x80")));
	CHECK(!imap_utf8_valid(S("\xed\xa0\x80"))); /* surrogate */
	CHECK(!imap_utf8_valid(S("\xf4\x90\x80\x80"))); /* > U+10FFFF */
	CHECK(!imap_utf8_valid(S("\xe0\x80\x80")));     /* overlong */

	buf_release(&b);
	return t_done();
}
