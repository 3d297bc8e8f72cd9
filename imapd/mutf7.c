/* mutf7.c - modified UTF-7 (RFC 3501 5.1.3). */
#include "mutf7.h"

#include <stdint.h>

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

static bool is_direct(uint32_t cp)
{
	return cp >= 0x20 && cp <= 0x7e;
}

/* Decodes one UTF-8 sequence at s[*i]; returns the code point or -1. */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
	unsigned char c = s[*i];
	uint32_t cp, min;
	size_t len, k;

	if (c < 0x80) {
		(*i)++;
		return c;
	} else if (c >= 0xc2 && c <= 0xdf) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if (n - *i < len)
		return -1;
	for (k = 1; k < len; k++) {
		if ((s[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[*i + k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += len;
	return (int32_t)cp;
}

static void utf8_put(struct buf *out, uint32_t cp)
{
	char t[4];
	size_t n;

	if (cp < 0x80) {
		t[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (char)(0xe0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		t[0] = (char)(0xf0 | (cp >> 18));
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(out, t, n);
}

int mutf7_encode(const char *utf8, size_t n, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)utf8;
	size_t start = out->len, i = 0;
	uint32_t bits = 0;
	unsigned nbits = 0;
	bool shifted = false;

	while (i < n) {
		int32_t cp = utf8_next(s, n, &i);

		if (cp <= 0) {
			buf_truncate(out, start);
			return -1;
		}
		if (is_direct((uint32_t)cp)) {
			if (shifted) {
				if (nbits > 0)
					buf_append_c(out, b64chars[(bits << (6 - nbits)) & 0x3f]);
				buf_append_c(out, '-');
				shifted = false;
				bits = nbits = 0;
			}
			if (cp == '&')
				buf_append(out, "&-", 2);
			else
				buf_append_c(out, (char)cp);
			continue;
		}
		if (!shifted) {
			buf_append_c(out, '&');
			shifted = true;
		}
		uint16_t units[2];
		int nu = 1;
		if (cp >= 0x10000) {
			uint32_t v = (uint32_t)cp - 0x10000;
			units[0] = (uint16_t)(0xd800 | (v >> 10));
			units[1] = (uint16_t)(0xdc00 | (v & 0x3ff));
			nu = 2;
		} else {
			units[0] = (uint16_t)cp;
		}
		for (int u = 0; u < nu; u++) {
			bits = (bits << 16) | units[u];
			nbits += 16;
			while (nbits >= 6) {
				nbits -= 6;
				buf_append_c(out, b64chars[(bits >> nbits) & 0x3f]);
			}
			bits &= (1u << nbits) - 1;
		}
	}
	if (shifted) {
		if (nbits > 0)
			buf_append_c(out, b64chars[(bits << (6 - nbits)) & 0x3f]);
		buf_append_c(out, '-');
	}
	return 0;
}

/* Decodes one shifted run s[*i..] (after '&', up to and including '-').
 * Returns 0 or -1. */
static int decode_run(const unsigned char *s, size_t n, size_t *i,
		      struct buf *out)
{
	uint32_t bits = 0, hi = 0;
	unsigned nbits = 0, nchars = 0;

	for (;;) {
		if (*i >= n)
			return -1; /* unterminated */
		unsigned char c = s[(*i)++];
		if (c == '-')
			break;
		int v = b64val(c);
		if (v < 0)
			return -1;
		nchars++;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		if (hi) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			utf8_put(out, 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00));
			hi = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			hi = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return -1;
		} else if (u == 0 || is_direct(u)) {
			return -1; /* must stand for itself */
		} else {
			utf8_put(out, u);
		}
	}
	if (nchars == 0)
		return -2; /* "&-" */
	if (hi || nbits >= 6 || bits != 0)
		return -1;
	return 0;
}

int mutf7_decode(const char *str, size_t n, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t start = out->len, i = 0;
	bool after_run = false;

	while (i < n) {
		unsigned char c = s[i];

		if (!is_direct(c))
			goto fail;
		if (c != '&') {
			buf_append_c(out, (char)c);
			i++;
			after_run = false;
			continue;
		}
		i++;
		int r = decode_run(s, n, &i, out);
		if (r == -2) {
			buf_append_c(out, '&');
			after_run = false;
		} else if (r < 0 || after_run) {
			goto fail;
		} else {
			after_run = true;
		}
	}
	return 0;
fail:
	buf_truncate(out, start);
	return -1;
}

bool mutf7_valid(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	int r = mutf7_decode(s, n, &b);

	buf_release(&b);
	return r == 0;
}
