/* base64.c - RFC 4648 section 4 base64, strict.
 *
 * The decoder accepts only the canonical form: length a multiple of 4,
 * '=' padding only at the end (at most two), no whitespace, no characters
 * outside the alphabet, and zero bits in the unused part of the last
 * quantum (RFC 4648 3.5), so each value has exactly one encoding.
 */
#include "auth.h"
#include "buf.h"

#include <stdint.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const void *p, size_t n, struct buf *out)
{
	const unsigned char *s = p;
	char *d;
	size_t i;

	d = buf_space(out, (n + 2) / 3 * 4);
	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 |
			     s[i + 2];
		*d++ = b64_alphabet[v >> 18 & 63];
		*d++ = b64_alphabet[v >> 12 & 63];
		*d++ = b64_alphabet[v >> 6 & 63];
		*d++ = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		*d++ = b64_alphabet[v >> 18 & 63];
		*d++ = b64_alphabet[v >> 12 & 63];
		*d++ = '=';
		*d++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		*d++ = b64_alphabet[v >> 18 & 63];
		*d++ = b64_alphabet[v >> 12 & 63];
		*d++ = b64_alphabet[v >> 6 & 63];
		*d++ = '=';
	}
	buf_commit(out, (n + 2) / 3 * 4);
}

int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *p, size_t n, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t start = out->len, i;
	char *d;
	size_t w = 0;

	if (n % 4 != 0)
		return -1;
	d = buf_space(out, n / 4 * 3);
	for (i = 0; i < n; i += 4) {
		int v[4], pad = 0, k;
		uint32_t q;

		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad) /* "=" followed by a data character */
				goto bad;
			v[k] = base64_value(s[i + k]);
			if (v[k] < 0)
				goto bad;
		}
		q = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		if ((pad == 1 && (q & 0xff)) || (pad == 2 && (q & 0xffff)))
			goto bad; /* non-zero unused bits */
		d[w++] = (char)(q >> 16);
		if (pad < 2)
			d[w++] = (char)(q >> 8 & 0xff);
		if (pad < 1)
			d[w++] = (char)(q & 0xff);
	}
	buf_commit(out, w);
	return 0;
bad:
	buf_truncate(out, start);
	return -1;
}
