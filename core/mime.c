/* mime.c - streaming RFC 5322 / MIME parser (see mime.h).
 *
 * The parser works line by line. It keeps a bounded prefix of the current
 * line (enough for a header field or a boundary), a stack of open parts
 * (frames) and two running counters: LFs and bare LFs (LF without CR)
 * before the current line. A part records the counters where its header
 * and body start; where it ends the difference gives its line count and
 * its CRLF-normalised ("virtual") size.
 *
 * RFC 2046 5.1.1: the line break before a boundary delimiter belongs to
 * the delimiter, so a body ends before the CRLF (or LF) that precedes the
 * "--boundary" line.
 */
#include "mime.h"
#include "buf.h"
#include "rfc822.h"
#include "xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* Kept prefix of a line: a whole header field line up to the field cap. */
#define LINE_KEEP (MIME_MAX_FIELD + 256)

/* The Content-* fields kept raw until the header ends. */
enum content_field {
	CF_TYPE,
	CF_ENCODING,
	CF_ID,
	CF_DESCRIPTION,
	CF_DISPOSITION,
	CF_LANGUAGE,
	CF_LOCATION,
	CF_MD5,
	CF_COUNT
};

static const char *const content_names[CF_COUNT] = {
	"content-type",	       "content-transfer-encoding",
	"content-id",	       "content-description",
	"content-disposition", "content-language",
	"content-location",    "content-md5",
};

static const char *const env_names[MIME_ENV_COUNT] = {
	"date",	  "subject", "from", "sender",	    "reply-to",
	"to",	  "cc",	     "bcc",  "in-reply-to", "message-id",
};

enum frame_state {
	F_HDR,  /* reading the part's header */
	F_BODY, /* leaf body, or multipart preamble/epilogue */
	F_MSG,  /* message/rfc822: the child frame above reads the message */
};

struct frame {
	struct mime_part *part;
	enum frame_state state;
	char *boundary; /* multipart only */
	size_t blen;
	bool closed;	   /* saw the close delimiter: epilogue */
	bool digest;	   /* multipart/digest: children default to rfc822 */
	bool parent_digest;
	bool mime_version; /* a MIME-Version field was seen */
	/* counters where the header and the body start */
	uint64_t lf_hdr, bare_hdr, lf_body, bare_body;
	/* header fields being collected */
	int cur;	     /* field index being collected, or -1 */
	struct buf field;    /* its value so far */
	size_t kept;	     /* bytes kept for this part's fields */
	size_t *total;	     /* bytes kept for the whole message */
	char *raw[CF_COUNT]; /* Content-* values */
};

struct mime_parser {
	struct mime_limits lim;
	struct mime_part *root;
	struct frame *stack;
	size_t depth, cap;
	unsigned nparts;
	bool overflow; /* part limit reached: boundaries no longer split */
	size_t kept_total; /* header field bytes kept, all parts */

	uint64_t off;	     /* offset of the next byte fed */
	uint64_t line_start; /* offset of the current line */
	uint64_t lf, bare;   /* LFs / bare LFs before line_start */
	unsigned prev_eol;   /* length of the previous line's break (0-2) */
	bool prev_bare;	     /* ... and whether it was a bare LF */
	char prev_byte;	     /* last byte fed */
	size_t line_len;     /* bytes kept in line[] */
	char line[LINE_KEEP];
};

/* ---- small helpers ---------------------------------------------------- */

static struct mime_part *part_new(struct mime_part *parent, uint64_t start)
{
	struct mime_part *p = xcalloc(1, sizeof(*p));

	p->parent = parent;
	p->hdr_start = p->body_start = p->body_end = start;
	if (parent != NULL) {
		struct mime_part **pp = &parent->children;

		while (*pp != NULL)
			pp = &(*pp)->next;
		*pp = p;
	}
	return p;
}

static void params_free(struct mime_param *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

void mime_part_free(struct mime_part **rootp)
{
	struct mime_part *p = *rootp, *next;

	*rootp = NULL;
	for (; p != NULL; p = next) {
		next = p->next;
		mime_part_free(&p->children);
		free(p->type);
		free(p->subtype);
		params_free(p->params, p->nparams);
		free(p->id);
		free(p->description);
		free(p->encoding);
		free(p->disposition);
		params_free(p->disp_params, p->ndisp_params);
		for (size_t i = 0; i < p->nlanguage; i++)
			free(p->language[i]);
		free(p->language);
		free(p->location);
		free(p->md5);
		for (int i = 0; i < MIME_ENV_COUNT; i++)
			free(p->env[i]);
		free(p);
	}
}

const char *mime_param_get(const struct mime_param *params, size_t n,
			   const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(params[i].name, name) == 0)
			return params[i].value;
	return NULL;
}

size_t mime_part_nchildren(const struct mime_part *part)
{
	size_t n = 0;

	for (const struct mime_part *c = part->children; c; c = c->next)
		n++;
	return n;
}

struct mime_part *mime_part_child(const struct mime_part *part,
				  unsigned index)
{
	struct mime_part *c = part->children;

	if (index == 0)
		return NULL;
	while (c != NULL && --index > 0)
		c = c->next;
	return c;
}

/* ---- RFC 2045 / RFC 5322 lexical pieces -------------------------------- */

/* RFC 2045 5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or
 * tspecials>. 8-bit bytes are accepted (broken mail). */
static bool is_token_char(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static char *read_token(const char **pp, const char *end)
{
	const char *p = *pp, *s = p;

	while (p < end && is_token_char((unsigned char)*p))
		p++;
	if (p == s)
		return NULL;
	*pp = p;
	return xstrndup(s, (size_t)(p - s));
}

/* quoted-string: returns the content with quoted-pairs resolved. An
 * unterminated string runs to the end (broken mail). */
static char *read_quoted(const char **pp, const char *end)
{
	const char *p = *pp + 1;
	struct buf b = BUF_INIT;

	buf_append(&b, "", 0);
	for (; p < end && *p != '"'; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		if (*p == '\r' || *p == '\n')
			continue;
		buf_append_c(&b, *p);
	}
	if (p < end)
		p++;
	*pp = p;
	return b.data;
}

/* A parameter value: quoted-string or token; tolerant of values with
 * characters a token may not hold (taken up to ';' or whitespace). */
static char *read_value(const char **pp, const char *end)
{
	const char *p = *pp, *s;

	if (p < end && *p == '"')
		return read_quoted(pp, end);
	s = p;
	while (p < end && *p != ';' && *p != ' ' && *p != '\t' &&
	       *p != '\r' && *p != '\n' && *p != '"')
		p++;
	*pp = p;
	return xstrndup(s, (size_t)(p - s));
}

struct rawparam {
	char *key; /* without the "*n*" suffix */
	char *value;
	int idx;       /* continuation index, -1 when none */
	bool extended; /* "*" at the end */
};

static int rawparam_cmp(const void *a, const void *b)
{
	const struct rawparam *x = a, *y = b;
	int r = strcasecmp(x->key, y->key);

	if (r != 0)
		return r;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void escape_2231(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '%')
			buf_append_str(b, "%25");
		else
			buf_append_c(b, *s);
	}
}

/* Parses "; attr=value; ..." (RFC 2045 5.1) and merges RFC 2231
 * continuations (see struct mime_param). */
static void parse_params(const char *p, const char *end,
			 struct mime_param **out_r, size_t *n_r)
{
	struct rawparam *raw = NULL;
	size_t nraw = 0, craw = 0, nout = 0, nplain = 0;
	struct mime_param *out;

	for (;;) {
		char *key, *val, *star;
		struct rawparam rp;

		p = rfc822_skip_cfws(p, end);
		if (p >= end)
			break;
		if (*p != ';') {
			/* junk: skip to the next ';' */
			while (p < end && *p != ';')
				p++;
			continue;
		}
		p = rfc822_skip_cfws(p + 1, end);
		key = read_token(&p, end);
		if (key == NULL)
			continue;
		p = rfc822_skip_cfws(p, end);
		if (p >= end || *p != '=') {
			free(key);
			continue;
		}
		p = rfc822_skip_cfws(p + 1, end);
		val = read_value(&p, end);
		rp.key = key;
		rp.value = val;
		rp.idx = -1;
		rp.extended = false;
		star = strchr(key, '*');
		if (star != NULL) {
			char *q = star + 1;

			if (isdigit((unsigned char)*q)) {
				long idx = strtol(q, &q, 10);

				if (idx >= 0 && idx < 10000)
					rp.idx = (int)idx;
				if (*q == '*') {
					rp.extended = true;
					q++;
				}
				if (*q == '\0' && rp.idx >= 0)
					*star = '\0';
				else
					rp.idx = -1;
			} else if (*q == '\0') {
				/* "name*=charset'lang'value" */
				*star = '\0';
				rp.idx = 0;
				rp.extended = true;
			}
		}
		if (rp.idx < 0)
			nplain++;
		if (nraw == craw) {
			craw = craw ? craw * 2 : 8;
			raw = xrealloc(raw, craw * sizeof(*raw));
		}
		raw[nraw++] = rp;
		if (nraw >= 256)
			break; /* bounded */
	}
	out = xcalloc(nraw ? nraw : 1, sizeof(*out));
	/* plain parameters first, in order */
	for (size_t i = 0; i < nraw; i++) {
		if (raw[i].idx >= 0)
			continue;
		out[nout].name = raw[i].key;
		out[nout++].value = raw[i].value;
	}
	/* then the continuations, merged per key */
	if (nplain < nraw) {
		struct rawparam *c = xmalloc((nraw - nplain) * sizeof(*c));
		size_t nc = 0;

		for (size_t i = 0; i < nraw; i++)
			if (raw[i].idx >= 0)
				c[nc++] = raw[i];
		qsort(c, nc, sizeof(*c), rawparam_cmp);
		for (size_t i = 0; i < nc;) {
			size_t j = i;
			bool ext = false;
			struct buf v = BUF_INIT;

			while (j < nc && strcasecmp(c[j].key, c[i].key) == 0) {
				ext |= c[j].extended;
				j++;
			}
			buf_append(&v, "", 0);
			if (ext && !c[i].extended)
				buf_append_str(&v, "''");
			for (size_t k = i; k < j; k++) {
				if (ext && !c[k].extended)
					escape_2231(&v, c[k].value);
				else
					buf_append_str(&v, c[k].value);
			}
			out[nout].name = ext ? xasprintf("%s*", c[i].key)
					     : xstrdup(c[i].key);
			out[nout++].value = v.data;
			for (size_t k = i; k < j; k++) {
				free(c[k].key);
				free(c[k].value);
			}
			i = j;
		}
		free(c);
	}
	free(raw);
	if (nout == 0) {
		free(out);
		out = NULL;
	}
	*out_r = out;
	*n_r = nout;
}

/* ---- header fields ---------------------------------------------------- */

static void set_default_type(struct frame *f)
{
	struct mime_part *part = f->part;

	free(part->type);
	free(part->subtype);
	if (f->parent_digest) {
		part->type = xstrdup("message");
		part->subtype = xstrdup("rfc822");
	} else {
		part->type = xstrdup("text");
		part->subtype = xstrdup("plain");
	}
}

/* RFC 2045 5.1: content := "Content-Type" ":" type "/" subtype
 *                          *(";" parameter) */
static void parse_content_type(struct frame *f, const char *v)
{
	struct mime_part *part = f->part;
	const char *p = v, *end = v + strlen(v);
	char *type, *sub = NULL;

	p = rfc822_skip_cfws(p, end);
	type = read_token(&p, end);
	if (type != NULL) {
		p = rfc822_skip_cfws(p, end);
		if (p < end && *p == '/') {
			p = rfc822_skip_cfws(p + 1, end);
			sub = read_token(&p, end);
		} else if (p >= end) {
			sub = xstrdup(""); /* "text" alone: Dovecot keeps it */
		} else {
			/* "text; charset=x": Dovecot gives up on the field
			 * and reports an empty type and subtype */
			free(type);
			type = xstrdup("");
			sub = xstrdup("");
			p = end;
		}
	}
	if (type == NULL || sub == NULL) {
		free(type);
		free(sub);
		return;
	}
	part->flags |= MIME_PART_HAS_TYPE;
	free(part->type);
	free(part->subtype);
	part->type = type;
	part->subtype = sub;
	parse_params(p, end, &part->params, &part->nparams);
}

/* RFC 2183: disposition := "Content-Disposition" ":" disposition-type
 *                          *(";" disposition-parm) */
static void parse_disposition(struct mime_part *part, const char *v)
{
	const char *p = v, *end = v + strlen(v);

	p = rfc822_skip_cfws(p, end);
	part->disposition = read_token(&p, end);
	if (part->disposition == NULL)
		return;
	parse_params(p, end, &part->disp_params, &part->ndisp_params);
}

/* RFC 3282: Content-Language: 1#Language-tag, with CFWS. */
static void parse_language(struct mime_part *part, const char *v)
{
	const char *p = v, *end = v + strlen(v);

	for (;;) {
		const char *s;

		p = rfc822_skip_cfws(p, end);
		while (p < end && *p == ',')
			p = rfc822_skip_cfws(p + 1, end);
		if (p >= end || part->nlanguage >= 64)
			break;
		s = p;
		while (p < end && *p != ',' && *p != ' ' && *p != '\t' &&
		       *p != '(' && *p != '\r' && *p != '\n')
			p++;
		if (p == s) {
			p++;
			continue;
		}
		part->language = xrealloc(part->language,
					  (part->nlanguage + 1) * sizeof(char *));
		part->language[part->nlanguage++] =
			xstrndup(s, (size_t)(p - s));
	}
}

static char *parse_token_field(const char *v)
{
	const char *p = v, *end = v + strlen(v);

	p = rfc822_skip_cfws(p, end);
	return read_token(&p, end);
}

/* The header ended: turn the Content-* values into fields. */
static void finish_fields(struct frame *f)
{
	struct mime_part *part = f->part;

	set_default_type(f);
	/* A message header without MIME-Version and without Content-Type
	 * is not MIME: its other Content-* fields are ignored (Dovecot
	 * does the same; RFC 2045 4). Body parts are always MIME. */
	if ((part->flags & MIME_PART_IS_MESSAGE) && !f->mime_version &&
	    f->raw[CF_TYPE] == NULL) {
		for (int i = 0; i < CF_COUNT; i++) {
			free(f->raw[i]);
			f->raw[i] = NULL;
		}
		return;
	}
	if (f->raw[CF_TYPE] != NULL)
		parse_content_type(f, f->raw[CF_TYPE]);
	if (f->raw[CF_ENCODING] != NULL)
		part->encoding = parse_token_field(f->raw[CF_ENCODING]);
	if (f->raw[CF_ID] != NULL)
		part->id = xstrdup(f->raw[CF_ID]);
	if (f->raw[CF_DESCRIPTION] != NULL)
		part->description = xstrdup(f->raw[CF_DESCRIPTION]);
	if (f->raw[CF_DISPOSITION] != NULL)
		parse_disposition(part, f->raw[CF_DISPOSITION]);
	if (f->raw[CF_LANGUAGE] != NULL)
		parse_language(part, f->raw[CF_LANGUAGE]);
	if (f->raw[CF_LOCATION] != NULL)
		part->location = xstrdup(f->raw[CF_LOCATION]);
	if (f->raw[CF_MD5] != NULL)
		part->md5 = xstrdup(f->raw[CF_MD5]);
	for (int i = 0; i < CF_COUNT; i++) {
		free(f->raw[i]);
		f->raw[i] = NULL;
	}
}

static bool is_address_field(int i)
{
	return i >= MIME_ENV_FROM && i <= MIME_ENV_BCC;
}

/* Ends the field being collected. */
static void field_end(struct frame *f)
{
	char **slot;

	if (f->cur < 0)
		return;
	buf_append(&f->field, "", 0);
	if (f->cur < CF_COUNT) {
		slot = &f->raw[f->cur];
		if (*slot == NULL)
			*slot = xstrndup(f->field.data, f->field.len);
	} else if (is_address_field(f->cur - CF_COUNT)) {
		/* repeated address fields add up (as Dovecot does) */
		slot = &f->part->env[f->cur - CF_COUNT];
		if (*slot == NULL) {
			*slot = xstrndup(f->field.data, f->field.len);
		} else if (strlen(*slot) + f->field.len < MIME_MAX_FIELD) {
			char *j = xasprintf("%s,%s", *slot, f->field.data);

			free(*slot);
			*slot = j;
		}
	} else {
		/* the last Date, Subject, In-Reply-To, Message-ID wins */
		slot = &f->part->env[f->cur - CF_COUNT];
		free(*slot);
		*slot = xstrndup(f->field.data, f->field.len);
	}
	buf_reset(&f->field);
	f->cur = -1;
}

static void field_add(struct frame *f, const char *s, size_t n)
{
	size_t room = MIME_MAX_FIELD - f->field.len;

	if (f->kept >= MIME_MAX_PART_HEADER ||
	    *f->total >= MIME_MAX_MESSAGE_HEADER)
		return;
	if (n > room)
		n = room;
	if (n > MIME_MAX_PART_HEADER - f->kept)
		n = MIME_MAX_PART_HEADER - f->kept;
	if (n > MIME_MAX_MESSAGE_HEADER - *f->total)
		n = MIME_MAX_MESSAGE_HEADER - *f->total;
	*f->total += n;
	/* NULs would cut the C string: keep them out */
	if (memchr(s, '\0', n) == NULL)
		buf_append(&f->field, s, n);
	else
		for (size_t i = 0; i < n; i++)
			buf_append_c(&f->field, s[i] == '\0' ? ' ' : s[i]);
	f->kept += n;
}

/* One header line (without its line break; n bytes kept). RFC 5322 2.2:
 * field = name ":" body; a line starting with WSP continues the field. */
static void header_line(struct frame *f, const char *s, size_t n)
{
	const char *colon, *v;
	size_t nlen;
	int idx = -1;

	if (s[0] == ' ' || s[0] == '\t') {
		if (f->cur >= 0)
			field_add(f, s, n);
		return;
	}
	field_end(f);
	colon = memchr(s, ':', n);
	if (colon == NULL)
		return; /* no colon: not a field, skip it */
	nlen = (size_t)(colon - s);
	while (nlen > 0 && (s[nlen - 1] == ' ' || s[nlen - 1] == '\t'))
		nlen--;
	if (nlen == 12 && strncasecmp(s, "mime-version", 12) == 0)
		f->mime_version = true;
	for (int i = 0; i < CF_COUNT && idx < 0; i++)
		if (strlen(content_names[i]) == nlen &&
		    strncasecmp(s, content_names[i], nlen) == 0)
			idx = f->raw[i] == NULL ? i : -2;
	if (idx == -1 && (f->part->flags & MIME_PART_IS_MESSAGE))
		for (int i = 0; i < MIME_ENV_COUNT && idx < 0; i++)
			if (strlen(env_names[i]) == nlen &&
			    strncasecmp(s, env_names[i], nlen) == 0)
				idx = CF_COUNT + i;
	if (idx < 0)
		return;
	f->cur = idx;
	v = colon + 1;
	while (v < s + n && (*v == ' ' || *v == '\t'))
		v++;
	field_add(f, v, (size_t)(s + n - v));
}

/* ---- the frame stack --------------------------------------------------- */

static struct frame *push(struct mime_parser *p, struct mime_part *part)
{
	struct frame *f;

	if (p->depth == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->stack = xrealloc(p->stack, p->cap * sizeof(*p->stack));
	}
	f = &p->stack[p->depth++];
	memset(f, 0, sizeof(*f));
	f->part = part;
	f->state = F_HDR;
	f->cur = -1;
	buf_init(&f->field);
	f->total = &p->kept_total;
	f->lf_hdr = p->lf;
	f->bare_hdr = p->bare;
	if (p->depth >= 2) {
		struct frame *up = &p->stack[p->depth - 2];

		f->parent_digest = up->digest && up->boundary != NULL;
	}
	p->nparts++;
	return f;
}

static void frame_release(struct frame *f)
{
	free(f->boundary);
	buf_release(&f->field);
	for (int i = 0; i < CF_COUNT; i++)
		free(f->raw[i]);
}

/* A part past the depth or part limit is not split: like Dovecot, it
 * becomes an application/octet-stream leaf (its parameters kept). */
static void truncate_part(struct mime_part *part)
{
	part->flags |= MIME_PART_TRUNCATED;
	free(part->type);
	free(part->subtype);
	part->type = xstrdup("application");
	part->subtype = xstrdup("octet-stream");
}

/* The header of the top frame ends at offset end (the counters there are
 * lf/bare); the body starts at body. */
static void header_done(struct mime_parser *p, struct frame *f, uint64_t end,
			uint64_t lf, uint64_t bare, uint64_t body)
{
	struct mime_part *part = f->part;
	size_t idx = (size_t)(f - p->stack);
	bool limit;
	const char *b;

	field_end(f);
	finish_fields(f);
	part->hdr_size = end - part->hdr_start;
	part->hdr_lines = lf - f->lf_hdr;
	part->hdr_vsize = part->hdr_size + (bare - f->bare_hdr);
	part->body_start = part->body_end = body;
	f->lf_body = lf;
	f->bare_body = bare;
	f->state = F_BODY;

	limit = idx + 1 >= p->lim.max_depth || p->overflow ||
		p->nparts >= p->lim.max_parts;
	if (strcasecmp(part->type, "multipart") == 0) {
		b = mime_param_get(part->params, part->nparams, "boundary");
		if (limit) {
			truncate_part(part);
			return;
		}
		part->flags |= MIME_PART_MULTIPART;
		if (b != NULL && *b != '\0' && strlen(b) <= MIME_MAX_BOUNDARY) {
			f->boundary = xstrdup(b);
			f->blen = strlen(b);
			f->digest = strcasecmp(part->subtype, "digest") == 0;
		}
	} else if (strcasecmp(part->type, "message") == 0 &&
		   strcasecmp(part->subtype, "rfc822") == 0) {
		struct mime_part *child;
		struct frame *cf;

		if (limit) {
			truncate_part(part);
			return;
		}
		part->flags |= MIME_PART_MESSAGE;
		f->state = F_MSG;
		child = part_new(part, body);
		child->flags |= MIME_PART_IS_MESSAGE;
		cf = push(p, child); /* may move the stack: f is stale now */
		cf->lf_hdr = lf;
		cf->bare_hdr = bare;
	}
}

/* Ends the top frame at end (counters lf/bare there) and pops it. */
static void frame_end(struct mime_parser *p, uint64_t end, uint64_t lf,
		      uint64_t bare)
{
	struct frame *f = &p->stack[p->depth - 1];
	struct mime_part *part = f->part;

	if (f->state == F_HDR) {
		header_done(p, f, end, lf, bare, end);
		/* header_done may have pushed the (empty) message of a
		 * message/rfc822 part: end it too */
		if (p->stack[p->depth - 1].part != part)
			frame_end(p, end, lf, bare);
		f = &p->stack[p->depth - 1];
	}
	if (end < part->body_start)
		end = part->body_start;
	part->body_end = end;
	part->body_size = end - part->body_start;
	part->body_lines = lf >= f->lf_body ? lf - f->lf_body : 0;
	part->body_vsize = part->body_size +
			   (bare >= f->bare_body ? bare - f->bare_body : 0);
	frame_release(f);
	p->depth--;
}

/* Position and counters where a part starting at start ends, when a
 * boundary line starts at the current line: before the previous line
 * break, unless the part is empty. */
static void end_before_line(const struct mime_parser *p, uint64_t start,
			    uint64_t *end_r, uint64_t *lf_r, uint64_t *bare_r)
{
	if (p->line_start > start && p->prev_eol > 0) {
		*end_r = p->line_start - p->prev_eol;
		*lf_r = p->lf - 1;
		*bare_r = p->bare - (p->prev_bare ? 1 : 0);
	} else {
		*end_r = p->line_start;
		*lf_r = p->lf;
		*bare_r = p->bare;
	}
}

/* Returns the frame index whose boundary the line is, or -1.
 * RFC 2046 5.1.1: dash-boundary := "--" boundary; innermost first. */
static long find_boundary(const struct mime_parser *p, const char *s,
			  size_t n, bool *close_r)
{
	if (n < 3 || s[0] != '-' || s[1] != '-' || p->overflow)
		return -1;
	for (size_t i = p->depth; i-- > 0;) {
		const struct frame *f = &p->stack[i];

		if (f->boundary == NULL || f->closed || n < 2 + f->blen)
			continue;
		if (memcmp(s + 2, f->boundary, f->blen) != 0)
			continue;
		*close_r = n >= 4 + f->blen && s[2 + f->blen] == '-' &&
			   s[3 + f->blen] == '-';
		return (long)i;
	}
	return -1;
}

static void on_boundary(struct mime_parser *p, size_t k, bool close,
			uint64_t next)
{
	struct frame *f;

	while (p->depth > k + 1) {
		uint64_t end, lf, bare;
		struct frame *top = &p->stack[p->depth - 1];
		uint64_t start = top->state == F_HDR ? top->part->hdr_start
						     : top->part->body_start;

		end_before_line(p, start, &end, &lf, &bare);
		frame_end(p, end, lf, bare);
	}
	f = &p->stack[k];
	if (close) {
		f->closed = true;
		return;
	}
	if (p->nparts >= p->lim.max_parts) {
		p->overflow = true;
		return;
	}
	push(p, part_new(f->part, next));
}

/* The counts after a line whose break is eol bytes long (0 at the end of
 * input, 1 for LF, 2 for CRLF); the next line starts at next. */
static void line_done(struct mime_parser *p, unsigned eol, uint64_t next)
{
	p->lf += eol > 0;
	p->bare += eol == 1;
	p->prev_eol = eol;
	p->prev_bare = eol == 1;
	p->line_start = next;
	p->line_len = 0;
}

/* A complete line: n bytes kept of it in p->line, eol is the length of
 * its break (0 at the end of input, 1 for LF, 2 for CRLF). */
static void process_line(struct mime_parser *p, size_t n, unsigned eol)
{
	struct frame *top = &p->stack[p->depth - 1];
	size_t content = n;
	uint64_t next = p->off; /* offset after the line */
	uint64_t lf_after = p->lf + (eol > 0), bare_after = p->bare + (eol == 1);
	bool close = false;
	long k;

	/* the kept bytes hold the break unless the line was cut */
	if (p->line_len == (size_t)(next - p->line_start))
		content = n >= eol ? n - eol : 0;

	k = find_boundary(p, p->line, content, &close);
	if (k >= 0) {
		on_boundary(p, (size_t)k, close, next);
		/* a new part's header starts after the boundary line */
		if (!close && p->depth > (size_t)k + 1) {
			top = &p->stack[p->depth - 1];
			top->lf_hdr = lf_after;
			top->bare_hdr = bare_after;
		}
	} else if (top->state == F_HDR) {
		if (content == 0)
			header_done(p, top, next, lf_after, bare_after, next);
		else
			header_line(top, p->line, content);
	}
	line_done(p, eol, next);
}

/* ---- the public parser -------------------------------------------------- */

struct mime_parser *mime_parser_new(const struct mime_limits *lim)
{
	/* line[] is written before it is read: no need to clear it */
	struct mime_parser *p = xmalloc(sizeof(*p));

	memset(p, 0, offsetof(struct mime_parser, line));
	if (lim != NULL)
		p->lim = *lim;
	if (p->lim.max_depth == 0)
		p->lim.max_depth = MIME_DEFAULT_MAX_DEPTH;
	if (p->lim.max_parts == 0)
		p->lim.max_parts = MIME_DEFAULT_MAX_PARTS;
	p->root = part_new(NULL, 0);
	p->root->flags |= MIME_PART_IS_MESSAGE;
	push(p, p->root);
	return p;
}

void mime_parser_feed(struct mime_parser *p, const void *data, size_t n)
{
	const char *d = data;

	while (n > 0) {
		const char *lf = memchr(d, '\n', n);
		size_t take = lf != NULL ? (size_t)(lf - d) + 1 : n;
		size_t keep = LINE_KEEP - p->line_len;
		bool cr = false;

		/* A whole body line not starting with '-' is no boundary
		 * (RFC 2046 5.1.1) and no header: only its break counts
		 * (line_done, as process_line ends; most of a message's
		 * bytes) */
		if (lf != NULL && p->off == p->line_start && d[0] != '-' &&
		    p->stack[p->depth - 1].state != F_HDR) {
			cr = take >= 2 && d[take - 2] == '\r';
			p->off += take;
			p->prev_byte = '\n';
			line_done(p, cr ? 2 : 1, p->off);
			d += take;
			n -= take;
			continue;
		}

		if (keep > take)
			keep = take;
		memcpy(p->line + p->line_len, d, keep);
		p->line_len += keep;
		if (lf != NULL)
			cr = take >= 2 ? d[take - 2] == '\r'
				       : (p->off > p->line_start &&
					  p->prev_byte == '\r');
		p->off += take;
		p->prev_byte = d[take - 1];
		d += take;
		n -= take;
		if (lf != NULL)
			process_line(p, p->line_len, cr ? 2 : 1);
	}
}

struct mime_part *mime_parser_finish(struct mime_parser **pp)
{
	struct mime_parser *p = *pp;
	struct mime_part *root = p->root;

	*pp = NULL;
	if (p->off > p->line_start)
		process_line(p, p->line_len, 0);
	while (p->depth > 0)
		frame_end(p, p->off, p->lf, p->bare);
	free(p->stack);
	free(p);
	return root;
}

struct mime_part *mime_parse(const void *data, size_t n,
			     const struct mime_limits *lim)
{
	struct mime_parser *p = mime_parser_new(lim);

	mime_parser_feed(p, data, n);
	return mime_parser_finish(&p);
}

/* ---- serialisation ------------------------------------------------------
 *
 * blob    := "TMIME1" part
 * part    := u(flags) u(hdr_start) u(body_start) u(body_end)
 *            u(hdr_size) u(hdr_vsize) u(hdr_lines)
 *            u(body_size) u(body_vsize) u(body_lines)
 *            s(type) s(subtype) params s(id) s(description) s(encoding)
 *            s(disposition) params u(nlanguage) *s s(location) s(md5)
 *            [10 s(env), only with MIME_PART_IS_MESSAGE]
 *            u(nchildren) *part
 * params  := u(n) *(s(name) s(value))
 * u(x)    := LEB128 varint; s(x) := u(len + 1) bytes, u(0) for NULL
 */
#define BLOB_MAGIC "TMIME1"
#define BLOB_MAX_NEST 1000

static void put_u(struct buf *b, uint64_t v)
{
	do {
		unsigned char c = v & 0x7f;

		v >>= 7;
		if (v)
			c |= 0x80;
		buf_append_c(b, (char)c);
	} while (v);
}

static void put_s(struct buf *b, const char *s)
{
	if (s == NULL) {
		put_u(b, 0);
		return;
	}
	put_u(b, strlen(s) + 1);
	buf_append(b, s, strlen(s));
}

static void put_params(struct buf *b, const struct mime_param *v, size_t n)
{
	put_u(b, n);
	for (size_t i = 0; i < n; i++) {
		put_s(b, v[i].name);
		put_s(b, v[i].value);
	}
}

static void put_part(struct buf *b, const struct mime_part *p)
{
	put_u(b, p->flags);
	put_u(b, p->hdr_start);
	put_u(b, p->body_start);
	put_u(b, p->body_end);
	put_u(b, p->hdr_size);
	put_u(b, p->hdr_vsize);
	put_u(b, p->hdr_lines);
	put_u(b, p->body_size);
	put_u(b, p->body_vsize);
	put_u(b, p->body_lines);
	put_s(b, p->type);
	put_s(b, p->subtype);
	put_params(b, p->params, p->nparams);
	put_s(b, p->id);
	put_s(b, p->description);
	put_s(b, p->encoding);
	put_s(b, p->disposition);
	put_params(b, p->disp_params, p->ndisp_params);
	put_u(b, p->nlanguage);
	for (size_t i = 0; i < p->nlanguage; i++)
		put_s(b, p->language[i]);
	put_s(b, p->location);
	put_s(b, p->md5);
	if (p->flags & MIME_PART_IS_MESSAGE)
		for (int i = 0; i < MIME_ENV_COUNT; i++)
			put_s(b, p->env[i]);
	put_u(b, mime_part_nchildren(p));
	for (const struct mime_part *c = p->children; c; c = c->next)
		put_part(b, c);
}

void mime_serialize(const struct mime_part *root, struct buf *out)
{
	buf_append(out, BLOB_MAGIC, strlen(BLOB_MAGIC));
	put_part(out, root);
}

struct reader {
	const unsigned char *p, *end;
	bool bad;
};

static uint64_t get_u(struct reader *r)
{
	uint64_t v = 0;

	for (unsigned shift = 0;; shift += 7) {
		unsigned char c;

		if (r->p >= r->end || shift > 63) {
			r->bad = true;
			return 0;
		}
		c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
}

static char *get_s(struct reader *r)
{
	uint64_t n = get_u(r);

	if (r->bad || n == 0)
		return NULL;
	n--;
	if (n > (uint64_t)(r->end - r->p)) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	return xstrndup((const char *)r->p - n, (size_t)n);
}

static bool get_count(struct reader *r, size_t *n_r)
{
	uint64_t n = get_u(r);

	/* every element takes at least one byte */
	if (r->bad || n > (uint64_t)(r->end - r->p)) {
		r->bad = true;
		return false;
	}
	*n_r = (size_t)n;
	return true;
}

static void get_params(struct reader *r, struct mime_param **v_r, size_t *n_r)
{
	size_t n;

	if (!get_count(r, &n) || n == 0)
		return;
	*v_r = xcalloc(n, sizeof(**v_r));
	*n_r = n;
	for (size_t i = 0; i < n; i++) {
		(*v_r)[i].name = get_s(r);
		(*v_r)[i].value = get_s(r);
		if ((*v_r)[i].name == NULL || (*v_r)[i].value == NULL)
			r->bad = true;
	}
}

static struct mime_part *get_part(struct reader *r, struct mime_part *parent,
				  unsigned nest)
{
	struct mime_part *p;
	size_t n;

	if (nest > BLOB_MAX_NEST) {
		r->bad = true;
		return NULL;
	}
	p = part_new(parent, 0);
	p->flags = (unsigned)get_u(r);
	p->hdr_start = get_u(r);
	p->body_start = get_u(r);
	p->body_end = get_u(r);
	p->hdr_size = get_u(r);
	p->hdr_vsize = get_u(r);
	p->hdr_lines = get_u(r);
	p->body_size = get_u(r);
	p->body_vsize = get_u(r);
	p->body_lines = get_u(r);
	p->type = get_s(r);
	p->subtype = get_s(r);
	get_params(r, &p->params, &p->nparams);
	p->id = get_s(r);
	p->description = get_s(r);
	p->encoding = get_s(r);
	p->disposition = get_s(r);
	get_params(r, &p->disp_params, &p->ndisp_params);
	if (get_count(r, &n) && n > 0) {
		p->language = xcalloc(n, sizeof(char *));
		p->nlanguage = n;
		for (size_t i = 0; i < n; i++)
			if ((p->language[i] = get_s(r)) == NULL)
				r->bad = true;
	}
	p->location = get_s(r);
	p->md5 = get_s(r);
	if (p->flags & MIME_PART_IS_MESSAGE)
		for (int i = 0; i < MIME_ENV_COUNT; i++)
			p->env[i] = get_s(r);
	if (p->type == NULL || p->subtype == NULL ||
	    p->body_start < p->hdr_start || p->body_end < p->body_start)
		r->bad = true;
	if (get_count(r, &n))
		for (size_t i = 0; i < n && !r->bad; i++)
			get_part(r, p, nest + 1);
	return p;
}

struct mime_part *mime_deserialize(const void *data, size_t n)
{
	struct reader r = {data, (const unsigned char *)data + n, false};
	struct mime_part *root;
	size_t m = strlen(BLOB_MAGIC);

	if (n < m || memcmp(data, BLOB_MAGIC, m) != 0)
		return NULL;
	r.p += m;
	root = get_part(&r, NULL, 0);
	if (r.bad || r.p != r.end) {
		mime_part_free(&root);
		return NULL;
	}
	return root;
}
