/* charset.c - charsets to UTF-8 through iconv(3), see charset.h. */
#include "charset.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

bool charset_is_utf8(const char *cs)
{
	static const char *const names[] = {
		"utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968",
		"iso-646-us", "us", "646",
	};

	if (cs == NULL)
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(cs, names[i]) == 0)
			return true;
	return false;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0
 * (RFC 3629: no overlongs, surrogates or code points past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

size_t charset_utf8_valid_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		if (p[i] < 0x80) {
			/* ASCII runs a word at a time */
			for (; i + 8 <= n; i += 8) {
				uint64_t w;
				memcpy(&w, p + i, 8);
				if (w & 0x8080808080808080ULL)
					break;
			}
			while (i < n && p[i] < 0x80)
				i++;
			continue;
		}
		size_t len = utf8_seq(p + i, n - i);
		if (len == 0)
			break;
		i += len;
	}
	return i;
}

void charset_utf8_sanitize(const char *s, size_t n, struct buf *out)
{
	size_t i = 0;

	while (i < n) {
		size_t v = charset_utf8_valid_len(s + i, n - i);
		buf_append(out, s + i, v);
		i += v;
		if (i < n) {
			buf_append_str(out, REPLACEMENT);
			i++;
		}
	}
}

/* Names mail uses that iconv spells otherwise. */
static const char *alias(const char *cs)
{
	static const struct {
		const char *from, *to;
	} map[] = {
		{"ks_c_5601-1987", "CP949"},
		{"ks_c_5601", "CP949"},
		{"gb2312", "GB18030"},
		{"gbk", "GB18030"},
		{"x-gbk", "GB18030"},
		{"iso-8859-8-i", "ISO-8859-8"},
		{"x-mac-roman", "MACINTOSH"},
		{"windows-874", "CP874"},
		{"x-sjis", "SHIFT_JIS"},
		{"shift-jis", "SHIFT_JIS"},
		{"latin1", "ISO-8859-1"},
		{"iso8859-1", "ISO-8859-1"},
		{"iso_8859-1", "ISO-8859-1"},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(cs, map[i].from) == 0)
			return map[i].to;
	return cs;
}

bool charset_to_utf8(const char *cs, const char *s, size_t n,
		     struct buf *out)
{
	iconv_t cd;
	char *in = (char *)s;
	size_t inleft = n;
	char tmp[4096];

	if (n == 0)
		return cs != NULL && (charset_is_utf8(cs) || strlen(cs) <= 64);
	if (cs == NULL || *cs == '\0' || strlen(cs) > 64) {
		charset_utf8_sanitize(s, n, out);
		return false;
	}
	if (charset_is_utf8(cs)) {
		charset_utf8_sanitize(s, n, out);
		return true;
	}
	cd = iconv_open("UTF-8", alias(cs));
	if (cd == (iconv_t)-1) {
		charset_utf8_sanitize(s, n, out);
		return false;
	}
	while (inleft > 0) {
		char *o = tmp;
		size_t oleft = sizeof(tmp);
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);

		buf_append(out, tmp, sizeof(tmp) - oleft);
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG)
			continue;
		/* EILSEQ or EINVAL (truncated at the end): skip one byte */
		buf_append_str(out, REPLACEMENT);
		in++;
		inleft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	/* flush a stateful encoding's shift sequence */
	{
		char *o = tmp;
		size_t oleft = sizeof(tmp);

		iconv(cd, NULL, NULL, &o, &oleft);
		buf_append(out, tmp, sizeof(tmp) - oleft);
	}
	iconv_close(cd);
	return true;
}
