/* smtp-parse.c - SMTP/LMTP syntax without I/O (see smtp-parse.h). */
#include "smtp-parse.h"

#include "buf.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- command line --------------------------------------------------- */

int smtp_cmd_split(const char *line, size_t len, struct smtp_cmd *cmd_r)
{
	size_t i = 0;

	memset(cmd_r, 0, sizeof(*cmd_r));
	while (i < len && line[i] != ' ') {
		unsigned char c = (unsigned char)line[i];

		if (!isalpha(c) || i + 1 >= SMTP_VERB_MAX)
			return -1;
		cmd_r->verb[i] = (char)toupper(c);
		i++;
	}
	if (i == 0)
		return -1;
	while (i < len && line[i] == ' ')
		i++;
	cmd_r->arg = line + i;
	cmd_r->arg_len = len - i;
	/* Trailing spaces are not part of the argument. */
	while (cmd_r->arg_len > 0 && cmd_r->arg[cmd_r->arg_len - 1] == ' ')
		cmd_r->arg_len--;
	return 0;
}

/* ---- paths ----------------------------------------------------------- */

/* RFC 5322 3.2.3 atext, plus UTF8-non-ascii (RFC 6531 3.3). */
static bool is_atext(unsigned char c)
{
	return isalnum(c) || c >= 0x80 || strchr("!#$%&'*+-/=?^_`{|}~", c);
}

/* RFC 5321 4.1.2 qtextSMTP = %d32-33 / %d35-91 / %d93-126, plus UTF-8. */
static bool is_qtext(unsigned char c)
{
	return (c >= 32 && c <= 126 && c != '"' && c != '\\') || c >= 0x80;
}

static bool is_domain_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c >= 0x80;
}

/* dtext of address-literal (RFC 5321 4.1.3): %d33-90 / %d94-126. */
static bool is_dtext(unsigned char c)
{
	return (c >= 33 && c <= 90) || (c >= 94 && c <= 126);
}

struct cursor {
	const char *p;
	size_t len, i;
};

static int peek(const struct cursor *c)
{
	return c->i < c->len ? (unsigned char)c->p[c->i] : -1;
}

/* Local-part = Dot-string / Quoted-string. Dots are taken leniently
 * ("a..b", ".a"): the MTA already accepted the address and an LMTP
 * refusal would only turn it into a bounce. */
static enum smtp_parse_result parse_local(struct cursor *c,
					  struct smtp_path *path)
{
	size_t n = 0;
	int ch;

	if (peek(c) == '"') {
		c->i++;
		for (;;) {
			ch = peek(c);
			if (ch < 0)
				return SMTP_PARSE_BAD_ADDR;
			if (ch == '"') {
				c->i++;
				break;
			}
			if (ch == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				c->i++;
				ch = peek(c);
				if (ch < 32 || ch > 126)
					return SMTP_PARSE_BAD_ADDR;
			} else if (!is_qtext((unsigned char)ch)) {
				return SMTP_PARSE_BAD_ADDR;
			}
			if (n + 1 >= SMTP_LOCAL_MAX)
				return SMTP_PARSE_TOO_LONG;
			path->local[n++] = (char)ch;
			c->i++;
		}
	} else {
		while ((ch = peek(c)) >= 0 &&
		       (is_atext((unsigned char)ch) || ch == '.')) {
			if (n + 1 >= SMTP_LOCAL_MAX)
				return SMTP_PARSE_TOO_LONG;
			path->local[n++] = (char)ch;
			c->i++;
		}
		if (n == 0)
			return SMTP_PARSE_BAD_ADDR;
	}
	path->local[n] = '\0';
	return SMTP_PARSE_OK;
}

/* Domain = sub-domain *("." sub-domain) / address-literal */
static enum smtp_parse_result parse_domain(struct cursor *c,
					   struct smtp_path *path)
{
	size_t n = 0;
	int ch;

	if (peek(c) == '[') {
		path->domain[n++] = '[';
		c->i++;
		while ((ch = peek(c)) >= 0 && ch != ']') {
			if (!is_dtext((unsigned char)ch))
				return SMTP_PARSE_BAD_ADDR;
			if (n + 2 >= SMTP_DOMAIN_MAX)
				return SMTP_PARSE_TOO_LONG;
			path->domain[n++] = (char)ch;
			c->i++;
		}
		if (ch != ']' || n == 1)
			return SMTP_PARSE_BAD_ADDR;
		path->domain[n++] = ']';
		c->i++;
	} else {
		while ((ch = peek(c)) >= 0 && is_domain_char((unsigned char)ch)) {
			if (n + 1 >= SMTP_DOMAIN_MAX)
				return SMTP_PARSE_TOO_LONG;
			path->domain[n++] = (char)ch;
			c->i++;
		}
		if (n == 0 || path->domain[0] == '.' || path->domain[0] == '-' ||
		    strstr(path->domain, "..") != NULL)
			return SMTP_PARSE_BAD_ADDR;
	}
	path->domain[n] = '\0';
	return SMTP_PARSE_OK;
}

/* Path = "<" [ A-d-l ":" ] Mailbox ">" */
static enum smtp_parse_result parse_path(struct cursor *c, bool allow_null,
					 struct smtp_path *path)
{
	enum smtp_parse_result r;
	size_t start;
	int ch;

	if (peek(c) != '<')
		return SMTP_PARSE_SYNTAX;
	c->i++;
	if (peek(c) == '>') {
		c->i++;
		if (!allow_null)
			return SMTP_PARSE_BAD_ADDR;
		path->null = true;
		return SMTP_PARSE_OK;
	}
	if (peek(c) == '@') {
		/* A-d-l: a source route, to be ignored (RFC 5321 4.1.1.3,
		 * appendix C). */
		while ((ch = peek(c)) >= 0 && ch != ':' && ch != '>')
			c->i++;
		if (ch != ':')
			return SMTP_PARSE_BAD_ADDR;
		c->i++;
	}
	start = c->i;
	if ((r = parse_local(c, path)) != SMTP_PARSE_OK)
		return r;
	if (peek(c) == '@') {
		c->i++;
		if ((r = parse_domain(c, path)) != SMTP_PARSE_OK)
			return r;
	}
	if (peek(c) != '>')
		return SMTP_PARSE_BAD_ADDR;
	if (c->i - start >= SMTP_ADDR_MAX)
		return SMTP_PARSE_TOO_LONG;
	memcpy(path->addr, c->p + start, c->i - start);
	path->addr[c->i - start] = '\0';
	c->i++;
	return SMTP_PARSE_OK;
}

/* esmtp-param = esmtp-keyword ["=" esmtp-value]
 * esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 * esmtp-value = 1*(%d33-60 / %d62-126)   (UTF-8 too, RFC 6531 3.3) */
static enum smtp_parse_result parse_params(struct cursor *c,
					   struct smtp_params *params)
{
	for (;;) {
		struct smtp_param *pm;
		size_t n = 0;
		int ch;

		while (peek(c) == ' ')
			c->i++;
		if (peek(c) < 0)
			return SMTP_PARSE_OK;
		if (params->n >= SMTP_PARAMS_MAX)
			return SMTP_PARSE_BAD_PARAM;
		pm = &params->p[params->n];
		while ((ch = peek(c)) >= 0 &&
		       (isalnum(ch) || (ch == '-' && n > 0))) {
			if (n + 1 >= sizeof(pm->keyword))
				return SMTP_PARSE_BAD_PARAM;
			pm->keyword[n++] = (char)toupper(ch);
			c->i++;
		}
		if (n == 0)
			return SMTP_PARSE_BAD_PARAM;
		pm->keyword[n] = '\0';
		if (ch == '=') {
			c->i++;
			pm->value = c->p + c->i;
			while ((ch = peek(c)) >= 0 && ch != ' ') {
				if (ch < 33 || ch == '=' || ch == 127)
					return SMTP_PARSE_BAD_PARAM;
				c->i++;
			}
			pm->value_len = (size_t)(c->p + c->i - pm->value);
			if (pm->value_len == 0)
				return SMTP_PARSE_BAD_PARAM;
		} else if (ch >= 0 && ch != ' ') {
			return SMTP_PARSE_BAD_PARAM;
		}
		params->n++;
	}
}

enum smtp_parse_result smtp_parse_path_arg(const char *arg, size_t len,
					   const char *prefix, bool allow_null,
					   struct smtp_path *path_r,
					   struct smtp_params *params_r)
{
	struct cursor c = {arg, len, 0};
	size_t plen = strlen(prefix);
	enum smtp_parse_result r;

	memset(path_r, 0, sizeof(*path_r));
	memset(params_r, 0, sizeof(*params_r));
	if (len < plen || strncasecmp(arg, prefix, plen) != 0)
		return SMTP_PARSE_SYNTAX;
	c.i = plen;
	while (peek(&c) == ' ')
		c.i++;
	if ((r = parse_path(&c, allow_null, path_r)) != SMTP_PARSE_OK)
		return r;
	if (c.i < len && arg[c.i] != ' ')
		return SMTP_PARSE_SYNTAX;
	return parse_params(&c, params_r);
}

int smtp_parse_number(const char *p, size_t len, uint64_t *n_r)
{
	uint64_t n = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return -1;
		d = (unsigned)(p[i] - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*n_r = n;
	return 0;
}

int smtp_parse_bdat(const char *arg, size_t len, uint64_t *size_r,
		    bool *last_r)
{
	size_t i = 0;

	while (i < len && arg[i] >= '0' && arg[i] <= '9')
		i++;
	if (smtp_parse_number(arg, i, size_r) < 0)
		return -1;
	*last_r = false;
	if (i == len)
		return 0;
	if (arg[i] != ' ')
		return -1;
	while (i < len && arg[i] == ' ')
		i++;
	if (len - i == 4 && strncasecmp(arg + i, "LAST", 4) == 0) {
		*last_r = true;
		return 0;
	}
	return -1;
}

/* ---- message content ------------------------------------------------ */

enum {
	DEC_BOL,    /* at the start of a line */
	DEC_TEXT,   /* inside a line */
	DEC_CR,     /* a CR was seen and held back */
	DEC_DOT,    /* "." at the start of a line (DATA mode) */
	DEC_DOT_CR, /* ".CR" at the start of a line (DATA mode) */
};

void smtp_dec_init(struct smtp_dec *d, enum smtp_dec_mode mode)
{
	d->mode = mode;
	d->state = DEC_BOL;
}

/* The length of p's first run without CR or LF: text inside a line,
 * copied as it is. Sixteen bytes a step where SSE2 is there (always on
 * x86-64). */
static size_t text_run(const char *p, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');

	for (; i + 16 <= n; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		unsigned m = (unsigned)_mm_movemask_epi8(
			_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
		if (m)
			return i + (size_t)__builtin_ctz(m);
	}
#endif
	while (i < n && p[i] != '\r' && p[i] != '\n')
		i++;
	return i;
}

enum smtp_dec_status smtp_dec_feed(struct smtp_dec *d, const char *in,
				   size_t n, size_t *used_r, struct buf *out)
{
	char *o = buf_space(out, 2 * n + 2);
	size_t k = 0, i;
	int st = d->state;

	for (i = 0; i < n; i++) {
		/* inside a line, up to its CR or LF, nothing changes: copy
		 * the run whole and go on byte by byte from its end */
		if (st == DEC_TEXT) {
			size_t r = text_run(in + i, n - i);
			memcpy(o + k, in + i, r);
			k += r;
			i += r;
			if (i == n)
				break;
		}
		char c = in[i];

		switch (st) {
		case DEC_DOT:
			if (c == '\r') {
				st = DEC_DOT_CR;
				continue;
			}
			if (c == '\n')
				goto done;
			/* RFC 5321 4.5.2: a leading period on a line with
			 * other characters is deleted; c is then text. */
			st = DEC_TEXT;
			break;
		case DEC_DOT_CR:
			if (c == '\n')
				goto done;
			/* ".", a bare CR, then more: the dot goes, the CR
			 * stays. */
			o[k++] = '\r';
			st = DEC_TEXT;
			break;
		case DEC_CR:
			if (c == '\n') {
				o[k++] = '\r';
				o[k++] = '\n';
				st = DEC_BOL;
				continue;
			}
			o[k++] = '\r';
			st = DEC_TEXT;
			break;
		case DEC_BOL:
			if (c == '.' && d->mode == SMTP_DEC_DATA) {
				st = DEC_DOT;
				continue;
			}
			st = DEC_TEXT;
			break;
		default:
			break;
		}
		/* DEC_TEXT */
		if (c == '\r') {
			st = DEC_CR;
		} else if (c == '\n') {
			o[k++] = '\r';
			o[k++] = '\n';
			st = DEC_BOL;
		} else {
			o[k++] = c;
		}
	}
	buf_commit(out, k);
	d->state = st;
	*used_r = n;
	return SMTP_DEC_MORE;
done:
	buf_commit(out, k);
	d->state = DEC_BOL;
	*used_r = i + 1;
	return SMTP_DEC_DONE;
}

void smtp_dec_finish(struct smtp_dec *d, struct buf *out)
{
	/* A last line without its line end gets one (a CR held back
	 * becomes that CRLF): POP3 has to send it before the final "."
	 * anyway (RFC 1939 3), so stored size == what RETR sends. */
	if (d->state == DEC_CR || d->state == DEC_TEXT)
		buf_append(out, "\r\n", 2);
	d->state = DEC_BOL;
}
