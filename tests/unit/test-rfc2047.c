/* test-rfc2047.c - encoded-word decoding (core/rfc2047.c) and charset
 * conversion to UTF-8 (core/charset.c). */
#include "buf.h"
#include "charset.h"
#include "rfc2047.h"
#include "t.h"

#include <string.h>

static const char *dec(struct buf *b, const char *s)
{
	buf_reset(b);
	rfc2047_decode(s, strlen(s), b);
	return b->data;
}

static void test_decode(void)
{
	struct buf b = BUF_INIT;

	/* RFC 2047 8 examples */
	CHECK_STR(dec(&b, "=?ISO-8859-1?Q?a?="), "a");
	CHECK_STR(dec(&b, "=?ISO-8859-1?Q?a?= b"), "a b");
	CHECK_STR(dec(&b, "=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
	CHECK_STR(dec(&b, "=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?="), "ab");
	CHECK_STR(dec(&b, "=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?="),
		  "ab");
	CHECK_STR(dec(&b, "=?ISO-8859-1?Q?a_b?="), "a b");
	CHECK_STR(dec(&b, "=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?="), "a b");
	CHECK_STR(dec(&b, "(=?ISO-8859-1?Q?a?=)"), "(a)");
	CHECK_STR(dec(&b, "=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>"),
		  "Keith Moore <moore@cs.utk.edu>");
	CHECK_STR(dec(&b, "=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?="),
		  "Keld J\xc3\xb8rn Simonsen");
	CHECK_STR(dec(&b, "=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1>"),
		  "Andr\xc3\xa9 Pirard <PIRARD@vm1>");
	CHECK_STR(dec(&b, "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?="
			  " =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?="),
		  "If you can read this you understand the example.");
	/* RFC 2231 language suffix */
	CHECK_STR(dec(&b, "=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
	/* a UTF-8 character split across two words */
	CHECK_STR(dec(&b, "=?utf-8?B?4oI=?= =?utf-8?B?rA==?="), "\xe2\x82\xac");
	CHECK_STR(dec(&b, "=?utf-8?Q?=E2=82?= =?utf-8?Q?=AC?="), "\xe2\x82\xac");
	/* inside a word, and too long: decoded anyway */
	CHECK_STR(dec(&b, "x=?utf-8?q?y?=z"), "xyz");
	/* malformed: kept */
	CHECK_STR(dec(&b, "=?utf-8?x?abc?="), "=?utf-8?x?abc?=");
	CHECK_STR(dec(&b, "=?utf-8?q?no end"), "=?utf-8?q?no end");
	CHECK_STR(dec(&b, "=?utf-8?q?sp ace?="), "=?utf-8?q?sp ace?=");
	CHECK_STR(dec(&b, "=?"), "=?");
	CHECK_STR(dec(&b, "a=?b"), "a=?b");
	/* unknown charset: read as UTF-8 */
	CHECK_STR(dec(&b, "=?x-unknown?Q?caf=C3=A9?="), "caf\xc3\xa9");
	/* 8-bit header bytes: UTF-8 kept, invalid replaced; unfolded */
	CHECK_STR(dec(&b, "J\xc3\xb6rg \xff\r\n end"), "J\xc3\xb6rg \xef\xbf\xbd end");
	/* Q with a broken escape */
	CHECK_STR(dec(&b, "=?utf-8?Q?a=ZZb=?="), "a=ZZb=");
	buf_release(&b);
}

static void test_charset(void)
{
	struct buf b = BUF_INIT;

	CHECK(charset_to_utf8("ISO-8859-1", "\xe9", 1, &b));
	CHECK_STR(b.data, "\xc3\xa9");
	buf_reset(&b);
	CHECK(charset_to_utf8("windows-1252", "\x80", 1, &b));
	CHECK_STR(b.data, "\xe2\x82\xac");
	buf_reset(&b);
	CHECK(charset_to_utf8("Shift_JIS", "\x82\xa0", 2, &b));
	CHECK_STR(b.data, "\xe3\x81\x82");
	buf_reset(&b);
	CHECK(charset_to_utf8("iso-2022-jp", "\x1b$B$\"\x1b(B", 8, &b));
	CHECK_STR(b.data, "\xe3\x81\x82");
	buf_reset(&b);
	CHECK(!charset_to_utf8("no-such-charset", "a\xff", 2, &b));
	CHECK_STR(b.data, "a\xef\xbf\xbd");
	buf_reset(&b);
	CHECK(!charset_to_utf8(NULL, "a", 1, &b));
	CHECK_STR(b.data, "a");
	buf_reset(&b);
	/* invalid bytes in a known multibyte charset */
	CHECK(charset_to_utf8("utf-16le", "a\0\0\xd8", 4, &b));
	CHECK(b.len > 0 && b.data[0] == 'a');
	buf_reset(&b);
	/* UTF-8 validation: overlong, surrogate, truncated */
	charset_utf8_sanitize("\xc0\xaf|\xed\xa0\x80|\xe2\x82", 10, &b);
	CHECK(strstr(b.data, "\xc0") == NULL && strstr(b.data, "\xed") == NULL);
	CHECK(charset_is_utf8("UTF-8") && charset_is_utf8("us-ascii"));
	CHECK(!charset_is_utf8("latin1") && !charset_is_utf8(NULL));
	/* large input crosses the conversion buffer */
	{
		char big[10000];

		memset(big, '\xe9', sizeof(big));
		buf_reset(&b);
		charset_to_utf8("iso-8859-1", big, sizeof(big), &b);
		CHECK(b.len == 20000);
	}
	buf_release(&b);
}

int main(void)
{
	test_decode();
	test_charset();
	return t_done();
}
