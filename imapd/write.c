/* write.c - IMAP reply syntax writers (RFC 9051 4, 9; RFC 3501 4, 9). */
#include "write.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <strings.h>

#include "mutf7.h"

bool imap_is_text_char(unsigned char c)
{
	return c != 0 && c != '\r' && c != '\n' && c < 0x80;
}

/* atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
 *                 quoted-specials / resp-specials */
bool imap_is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '%': case '*': case '"':
	case '\\': case ']':
		return false;
	default:
		return true;
	}
}

bool imap_is_astring_char(unsigned char c)
{
	return c == ']' || imap_is_atom_char(c);
}

bool imap_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		uint32_t cp, min;
		size_t len;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static bool quotable(const char *s, size_t n, bool utf8)
{
	if (n > IMAP_W_QUOTED_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0 || c == '\r' || c == '\n')
			return false;
		if (c >= 0x80 && !utf8)
			return false;
	}
	return !utf8 || imap_utf8_valid(s, n);
}

static void w_quoted(struct buf *out, const char *s, size_t n)
{
	buf_reserve(out, n + 2);
	buf_append_c(out, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append_c(out, '\\');
		buf_append_c(out, s[i]);
	}
	buf_append_c(out, '"');
}

void imap_w_quoted(struct buf *out, const char *s, size_t n)
{
#ifndef NDEBUG
	for (size_t i = 0; i < n; i++)
		assert(imap_is_text_char((unsigned char)s[i]));
#endif
	w_quoted(out, s, n);
}

void imap_w_literal_header(struct buf *out, uint64_t size, bool binary)
{
	buf_printf(out, "%s{%" PRIu64 "}\r\n", binary ? "~" : "", size);
}

void imap_w_literal(struct buf *out, const char *s, size_t n, bool binary)
{
	imap_w_literal_header(out, n, binary);
	buf_append(out, s, n);
}

static void w_string(struct buf *out, const char *s, size_t n, bool utf8)
{
	if (quotable(s, n, utf8))
		w_quoted(out, s, n);
	else
		imap_w_literal(out, s, n, false);
}

static bool is_bare_astring(const char *s, size_t n)
{
	if (n == 0 || n > IMAP_W_QUOTED_MAX)
		return false;
	if (n == 3 && strncasecmp(s, "NIL", 3) == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!imap_is_astring_char((unsigned char)s[i]))
			return false;
	return true;
}

void imap_w_string(struct buf *out, const char *s, size_t n)
{
	w_string(out, s, n, false);
}

void imap_w_nstring(struct buf *out, const char *s, size_t n)
{
	if (s == NULL)
		buf_append(out, "NIL", 3);
	else
		w_string(out, s, n, false);
}

void imap_w_astring(struct buf *out, const char *s, size_t n)
{
	if (is_bare_astring(s, n))
		buf_append(out, s, n);
	else
		w_string(out, s, n, false);
}

void imap_w_string_utf8(struct buf *out, const char *s, size_t n)
{
	w_string(out, s, n, true);
}

void imap_w_nstring_utf8(struct buf *out, const char *s, size_t n)
{
	if (s == NULL)
		buf_append(out, "NIL", 3);
	else
		w_string(out, s, n, true);
}

void imap_w_astring_utf8(struct buf *out, const char *s, size_t n)
{
	if (is_bare_astring(s, n))
		buf_append(out, s, n);
	else
		w_string(out, s, n, true);
}

void imap_w_mailbox(struct buf *out, const char *name, size_t n, bool utf8)
{
	if (n == 5 && strncasecmp(name, "INBOX", 5) == 0) {
		buf_append(out, "INBOX", 5);
		return;
	}
	if (utf8) {
		imap_w_astring_utf8(out, name, n);
		return;
	}
	struct buf enc = BUF_INIT;
	if (mutf7_encode(name, n, &enc) == 0)
		imap_w_astring(out, enc.data ? enc.data : "", enc.len);
	else
		imap_w_astring(out, name, n); /* not UTF-8: bytes as a literal */
	buf_release(&enc);
}

static const struct {
	unsigned bit;
	const char *name;
} sys_flags[] = {
	{IMAP_FLAG_ANSWERED, "\\Answered"},
	{IMAP_FLAG_FLAGGED, "\\Flagged"},
	{IMAP_FLAG_DELETED, "\\Deleted"},
	{IMAP_FLAG_SEEN, "\\Seen"},
	{IMAP_FLAG_DRAFT, "\\Draft"},
};

unsigned imap_sys_flag_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(sys_flags) / sizeof(sys_flags[0]); i++)
		if (strcasecmp(name, sys_flags[i].name) == 0)
			return sys_flags[i].bit;
	return 0;
}

bool imap_is_keyword(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!imap_is_atom_char((unsigned char)s[i]) ||
		    (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

unsigned imap_w_sys_flags(struct buf *out, unsigned flags)
{
	unsigned count = 0;

	for (size_t i = 0; i < sizeof(sys_flags) / sizeof(sys_flags[0]); i++) {
		if (!(flags & sys_flags[i].bit))
			continue;
		if (count++)
			buf_append_c(out, ' ');
		buf_append_str(out, sys_flags[i].name);
	}
	return count;
}

void imap_w_flag_list(struct buf *out, unsigned flags, bool recent,
		      const char *keywords)
{
	unsigned count;

	buf_append_c(out, '(');
	count = imap_w_sys_flags(out, flags);
	if (recent) {
		if (count++)
			buf_append_c(out, ' ');
		buf_append(out, "\\Recent", 7);
	}
	if (keywords) {
		const char *p = keywords;
		while (*p) {
			while (*p == ' ')
				p++;
			const char *e = p;
			while (*e && *e != ' ')
				e++;
			if (e > p) {
				if (count++)
					buf_append_c(out, ' ');
				buf_append(out, p, (size_t)(e - p));
			}
			p = e;
		}
	}
	buf_append_c(out, ')');
}
