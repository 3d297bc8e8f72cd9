/* test-mutf7.c - modified UTF-7 (RFC 3501 5.1.3). */
#include <string.h>

#include "buf.h"
#include "mutf7.h"
#include "t.h"

static struct buf b;

static const char *enc(const char *s)
{
	buf_reset(&b);
	buf_append(&b, "", 0);
	if (mutf7_encode(s, strlen(s), &b) < 0)
		return "(error)";
	return b.data;
}

static const char *dec(const char *s)
{
	buf_reset(&b);
	buf_append(&b, "", 0);
	if (mutf7_decode(s, strlen(s), &b) < 0)
		return "(error)";
	return b.data;
}

int main(void)
{
	static const struct {
		const char *utf8, *mutf7;
	} pairs[] = {
		{"INBOX", "INBOX"},
		{"", ""},
		{"&", "&-"},
		{"A&B", "A&-B"},
		{"&&", "&-&-"},
		{"Entw\xc3\xbcrfe", "Entw&APw-rfe"},
		/* RFC 3501 5.1.3 example */
		{"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		 "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"\xc3\xa4", "&AOQ-"},
		{"\xc3\xa4\xc3\xa4", "&AOQA5A-"},
		{"\xc3\xa4\xc3\xa4\xc3\xa4", "&AOQA5ADk-"},
		{"\xf0\x9f\x98\x80", "&2D3eAA-"}, /* U+1F600 surrogate pair */
		{"a\tb", "a&AAk-b"},
		{"\xc3\xa4&", "&AOQ-&-"},
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		CHECK_STR(enc(pairs[i].utf8), pairs[i].mutf7);
		CHECK_STR(dec(pairs[i].mutf7), pairs[i].utf8);
		CHECK(mutf7_valid(pairs[i].mutf7, strlen(pairs[i].mutf7)));
	}

	/* encode rejects malformed UTF-8 and NUL */
	CHECK_STR(enc("\xc3"), "(error)");
	CHECK_STR(enc("\xc0\x80"), "(error)");
	CHECK_STR(enc("\xed\xa0\x80"), "(error)");
	buf_reset(&b);
	CHECK(mutf7_encode("a\0b", 3, &b) < 0 && b.len == 0);

	/* strict decoding */
	static const char *bad[] = {
		"&",          /* unterminated */
		"&AOQ",       /* unterminated */
		"a&Jjo!-",    /* bad base64 char */
		"&AGE-",      /* 'a' encoded: must stand for itself */
		"&ACY-",      /* '&' encoded */
		"&AOQ-&AOQ-", /* adjacent runs: must be one */
		"&AOR-",      /* non-zero padding bits */
		"&AOQA-",     /* excess padding: 6 extra bits */
		"&2D0-",      /* lone high surrogate */
		"&3gA-",      /* lone low surrogate */
		"&2D0AQQ-",   /* high surrogate then non-low */
		"\xc3\xa4",   /* 8-bit */
		"a\tb",       /* control */
		"&AAA-",      /* NUL */
		"&A-",        /* too few bits for a unit */
		"&AO/-",      /* '/' is not in the modified alphabet */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		buf_append(&b, "x", 1);
		CHECK(mutf7_decode(bad[i], strlen(bad[i]), &b) < 0);
		CHECK(b.len == 1); /* out unchanged */
		if (b.len != 1 || mutf7_valid(bad[i], strlen(bad[i])))
			fprintf(stderr, "  accepted %s\n", bad[i]);
	}
	/* "&-" right after a run is fine (it is a literal '&') */
	CHECK_STR(dec("&AOQ-&-&AOQ-"), "\xc3\xa4&\xc3\xa4");

	buf_release(&b);
	return t_done();
}
