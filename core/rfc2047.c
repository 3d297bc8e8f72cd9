/* rfc2047.c - RFC 2047 encoded-word decoding, see rfc2047.h.
 *
 * encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
 * (RFC 2231 5: charset may carry "*language", which is ignored)
 */
#include "rfc2047.h"
#include "charset.h"
#include "auth.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define MAX_CHARSET 64

struct word {
	char charset[MAX_CHARSET + 1];
	char enc;	   /* 'B' or 'Q' */
	const char *text;  /* encoded-text */
	size_t tlen;
	size_t total;	   /* bytes of the whole encoded-word */
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Recognises an encoded-word at s (n bytes). */
static bool parse_word(const char *s, size_t n, struct word *w)
{
	size_t i = 2, cs;
	const char *star;

	if (n < 8 || s[0] != '=' || s[1] != '?')
		return false;
	while (i < n && s[i] != '?' && !is_ws(s[i]) && i - 2 <= MAX_CHARSET)
		i++;
	if (i >= n || s[i] != '?' || i == 2 || i - 2 > MAX_CHARSET)
		return false;
	cs = i - 2;
	memcpy(w->charset, s + 2, cs);
	w->charset[cs] = '\0';
	star = strchr(w->charset, '*');
	if (star != NULL)
		w->charset[star - w->charset] = '\0';
	i++;
	if (i + 1 >= n || s[i + 1] != '?')
		return false;
	switch (s[i]) {
	case 'B':
	case 'b':
		w->enc = 'B';
		break;
	case 'Q':
	case 'q':
		w->enc = 'Q';
		break;
	default:
		return false;
	}
	i += 2;
	w->text = s + i;
	for (; i + 1 < n; i++) {
		if (is_ws(s[i]))
			return false;
		if (s[i] == '?' && s[i + 1] == '=') {
			w->tlen = (size_t)(s + i - w->text);
			w->total = i + 2;
			return true;
		}
	}
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Appends the decoded bytes of w's text to raw. */
static void decode_text(const struct word *w, struct buf *raw)
{
	if (w->enc == 'Q') {
		/* RFC 2047 4.2: "_" is a space, "=XX" a byte */
		for (size_t i = 0; i < w->tlen; i++) {
			char c = w->text[i];

			if (c == '_') {
				buf_append_c(raw, ' ');
			} else if (c == '=' && i + 2 < w->tlen &&
				   hexval(w->text[i + 1]) >= 0 &&
				   hexval(w->text[i + 2]) >= 0) {
				buf_append_c(raw,
					     (char)(hexval(w->text[i + 1]) * 16 +
						    hexval(w->text[i + 2])));
				i += 2;
			} else {
				buf_append_c(raw, c);
			}
		}
	} else {
		unsigned acc = 0, bits = 0;

		for (size_t i = 0; i < w->tlen; i++) {
			int v = base64_value((unsigned char)w->text[i]);

			if (w->text[i] == '=')
				break;
			if (v < 0)
				continue;
			acc = (acc << 6) | (unsigned)v;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				buf_append_c(raw, (char)((acc >> bits) & 0xff));
			}
		}
	}
}

void rfc2047_decode(const char *s, size_t n, struct buf *out)
{
	struct buf raw = BUF_INIT; /* decoded bytes of adjacent words */
	char cs[MAX_CHARSET + 1] = "";
	bool pending = false;
	size_t i = 0;

	buf_append(out, "", 0);
	while (i < n) {
		struct word w;
		size_t j;

		if (s[i] == '=' && parse_word(s + i, n - i, &w)) {
			if (pending && strcasecmp(cs, w.charset) != 0) {
				charset_to_utf8(cs, raw.data, raw.len, out);
				buf_reset(&raw);
			}
			strcpy(cs, w.charset);
			pending = true;
			decode_text(&w, &raw);
			i += w.total;
			/* whitespace followed by another encoded-word is
			 * dropped (RFC 2047 6.2) */
			j = i;
			while (j < n && is_ws(s[j]))
				j++;
			if (j > i && j < n && parse_word(s + j, n - j, &w))
				i = j;
			continue;
		}
		if (pending) {
			charset_to_utf8(cs, raw.data, raw.len, out);
			buf_reset(&raw);
			pending = false;
		}
		/* plain text up to the next "=?" */
		j = i + 1;
		while (j < n && !(s[j] == '=' && j + 1 < n && s[j + 1] == '?'))
			j++;
		for (size_t k = i; k < j;) {
			size_t e = k;

			while (e < j && s[e] != '\r' && s[e] != '\n')
				e++;
			charset_utf8_sanitize(s + k, e - k, out);
			while (e < j && (s[e] == '\r' || s[e] == '\n'))
				e++;
			k = e;
		}
		i = j;
	}
	if (pending)
		charset_to_utf8(cs, raw.data, raw.len, out);
	buf_release(&raw);
}
