/* fetch-body.c - section addressing, header-field filtering, CRLF and
 * partial windows, BINARY decoding (RFC 9051 6.4.5, RFC 3516).
 *
 * section-spec = section-msgtext / (section-part ["." section-text])
 * section-part = nz-number *("." nz-number)
 * section-text = section-msgtext / "MIME"
 */
#include "fetch-body.h"
#include "auth.h"
#include "xalloc.h"

#include <string.h>
#include <strings.h>

/* ---- addressing ---------------------------------------------------------- */

/* Walks section-part numbers the way Dovecot's imap-msgpart.c does:
 * a multipart's n-th child; in a non-multipart only 1 exists, and then
 * only as the last number unless the part is message/rfc822; a
 * message/rfc822 part followed by more numbers is entered (its child is
 * the embedded message). Returns NULL when the part does not exist. */
static const struct mime_part *find_part(const struct mime_part *root,
					 const uint32_t *num, size_t n)
{
	const struct mime_part *part = root;

	for (size_t i = 0; i < n && part != NULL; i++) {
		bool more = i + 1 < n;

		if (part->flags & MIME_PART_MULTIPART) {
			part = num[i] > 0 ? mime_part_child(part, num[i]) : NULL;
		} else if (num[i] != 1) {
			part = NULL;
		} else if (more && !(part->flags & MIME_PART_MESSAGE)) {
			part = NULL;
		}
		if (part != NULL && (part->flags & MIME_PART_MESSAGE) && more)
			part = part->children;
	}
	return part;
}

static void set_header(struct fetch_body_section *r,
		       const struct mime_part *p)
{
	r->range.start = p->hdr_start;
	r->range.size = p->hdr_size;
	r->range.vsize = p->hdr_vsize;
}

static void set_body(struct fetch_body_section *r, const struct mime_part *p)
{
	r->range.start = p->body_start;
	r->range.size = p->body_size;
	r->range.vsize = p->body_vsize;
}

void fetch_body_resolve(const struct mime_part *root,
			const struct imap_fetch_att *att,
			struct fetch_body_section *r)
{
	const struct mime_part *part, *msg;

	memset(r, 0, sizeof(*r));
	r->kind = FETCH_BODY_EMPTY;
	if (att->nparts == 0) {
		/* BODY[], BODY[HEADER], BODY[TEXT], ...: the message */
		part = root;
		msg = root;
	} else {
		part = find_part(root, att->part, att->nparts);
		if (part == NULL)
			return;
		/* HEADER/TEXT after a part number need a message/rfc822
		 * part (RFC 9051 6.4.5); they address the embedded message */
		msg = (part->flags & MIME_PART_MESSAGE) ? part->children : NULL;
	}
	r->part = part;
	switch (att->text) {
	case IMAP_SECTION_ALL:
		r->kind = FETCH_BODY_RANGE;
		if (att->nparts == 0) {
			r->range.start = 0;
			r->range.size = root->hdr_size + root->body_size;
			r->range.vsize = root->hdr_vsize + root->body_vsize;
		} else {
			set_body(r, part);
		}
		return;
	case IMAP_SECTION_MIME:
		r->kind = FETCH_BODY_RANGE;
		set_header(r, part);
		return;
	case IMAP_SECTION_HEADER:
	case IMAP_SECTION_HEADER_FIELDS:
	case IMAP_SECTION_HEADER_FIELDS_NOT:
		if (msg == NULL) {
			r->part = NULL;
			return;
		}
		r->kind = att->text == IMAP_SECTION_HEADER ? FETCH_BODY_RANGE
							   : FETCH_BODY_FIELDS;
		set_header(r, msg);
		return;
	case IMAP_SECTION_TEXT:
		if (msg == NULL) {
			r->part = NULL;
			return;
		}
		r->kind = FETCH_BODY_RANGE;
		set_body(r, msg);
		return;
	}
}

/* ---- HEADER.FIELDS -------------------------------------------------------- */

struct field_filter {
	const char *fields;
	size_t nfields;
	bool not;
	bool keep;	 /* the current field is kept */
	bool at_start;	 /* at the start of a line */
	bool in_name;	 /* reading the name of a field */
	bool ended;	 /* the blank line was seen */
	bool last_cr;
	char name[256];	 /* field name so far (longer names never match) */
	size_t nlen;
	struct buf line; /* the start of a field line until its name ends */
	struct buf *out;
	bool overflow;
};

static bool name_listed(const struct field_filter *f)
{
	const char *s = f->fields;

	for (size_t i = 0; i < f->nfields; i++) {
		size_t n = strlen(s);

		if (n == f->nlen && strncasecmp(s, f->name, n) == 0)
			return true;
		s += n + 1;
	}
	return false;
}

/* Appends a kept byte, turning a bare LF into CRLF. */
static void emit(struct field_filter *f, char c)
{
	if (f->out->len >= FETCH_BODY_FIELDS_MAX) {
		f->overflow = true;
		return;
	}
	if (c == '\n' && !f->last_cr)
		buf_append_c(f->out, '\r');
	buf_append_c(f->out, c);
	f->last_cr = c == '\r';
}

static void name_done(struct field_filter *f)
{
	size_t n = f->nlen;
	bool listed = false;

	if (n <= sizeof(f->name)) {
		while (n > 0 &&
		       (f->name[n - 1] == ' ' || f->name[n - 1] == '\t'))
			n--;
		f->nlen = n;
		listed = name_listed(f);
	}
	f->keep = listed != f->not;
	f->in_name = false;
	if (f->keep)
		for (size_t i = 0; i < f->line.len; i++)
			emit(f, f->line.data[i]);
	buf_reset(&f->line);
}

static void filter_byte(struct field_filter *f, char c)
{
	if (f->ended)
		return;
	if (f->at_start) {
		f->at_start = false;
		if (c == '\r' || c == '\n') {
			/* the blank line: the header ends (not emitted) */
			if (c == '\n') {
				f->ended = true;
				return;
			}
			f->at_start = true; /* CR of CRLF: wait for LF */
			return;
		}
		if (c != ' ' && c != '\t') {
			f->in_name = true;
			f->nlen = 0;
			buf_reset(&f->line);
		}
		/* else: a continuation line of the current field */
	}
	if (f->in_name) {
		buf_append_c(&f->line, c);
		if (c == ':') {
			name_done(f);
		} else if (c == '\n') {
			/* a line without a colon: never kept */
			f->in_name = false;
			f->keep = false;
			buf_reset(&f->line);
		} else if (c != '\r' && f->nlen < sizeof(f->name)) {
			f->name[f->nlen++] = c;
		} else if (f->nlen >= sizeof(f->name)) {
			f->nlen = sizeof(f->name) + 1; /* never matches */
			if (f->line.len > sizeof(f->name) * 2)
				buf_truncate(&f->line, sizeof(f->name) * 2);
		}
	} else if (f->keep) {
		emit(f, c);
	}
	if (c == '\n')
		f->at_start = true;
}

int fetch_body_fields(const struct fetch_body_range *hdr, const char *fields,
		      size_t nfields, bool not, fetch_body_read_cb *read_cb,
		      void *ctx, struct buf *out)
{
	struct field_filter f;
	char chunk[16384];
	uint64_t off = 0;
	size_t start_len = out->len;

	memset(&f, 0, sizeof(f));
	f.fields = fields;
	f.nfields = nfields;
	f.not = not;
	f.at_start = true;
	f.out = out;
	buf_init(&f.line);
	while (off < hdr->size && !f.ended && !f.overflow) {
		size_t want = sizeof(chunk);
		ssize_t got;

		if (want > hdr->size - off)
			want = (size_t)(hdr->size - off);
		got = read_cb(ctx, hdr->start + off, chunk, want);
		if (got <= 0) {
			buf_release(&f.line);
			buf_truncate(out, start_len);
			return -1;
		}
		for (ssize_t i = 0; i < got; i++)
			filter_byte(&f, chunk[i]);
		off += (uint64_t)got;
	}
	buf_release(&f.line);
	if (f.overflow) {
		buf_truncate(out, start_len);
		return -1;
	}
	/* a kept field at the end of a header without line end */
	if (out->len > start_len && out->data[out->len - 1] != '\n')
		buf_append_str(out, "\r\n");
	buf_append_str(out, "\r\n");
	return 0;
}

/* ---- CRLF and partial windows --------------------------------------------- */

void fetch_window_init(struct fetch_window *w, uint64_t from, uint64_t len,
		       bool crlf)
{
	memset(w, 0, sizeof(*w));
	w->from = from;
	w->len = len;
	w->crlf = crlf;
}

bool fetch_window_done(const struct fetch_window *w)
{
	return w->len != UINT64_MAX && w->vpos >= w->from + w->len;
}

static void window_put(struct fetch_window *w, const char *s, size_t n,
		       struct buf *out)
{
	uint64_t end = w->len > UINT64_MAX - w->from ? UINT64_MAX
						      : w->from + w->len;
	uint64_t lo = w->vpos, hi = w->vpos + n;

	if (hi > w->from && lo < end) {
		uint64_t a = lo < w->from ? w->from : lo;
		uint64_t b = hi > end ? end : hi;

		buf_append(out, s + (a - lo), (size_t)(b - a));
	}
	w->vpos = hi;
}

void fetch_window_feed(struct fetch_window *w, const char *in, size_t n,
		       struct buf *out)
{
	const char *p = in, *end = in + n, *run = in, *nl;

	if (!w->crlf) {
		window_put(w, in, n, out);
		return;
	}
	/* Only a bare LF changes (it gets its CR): find line feeds with
	 * memchr and copy the runs between bare ones in one go. */
	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (!(nl > in ? nl[-1] == '\r' : w->last_cr)) {
			window_put(w, run, (size_t)(nl - run), out);
			window_put(w, "\r", 1, out);
			run = nl;
		}
		p = nl + 1;
	}
	window_put(w, run, (size_t)(end - run), out);
	if (n > 0)
		w->last_cr = in[n - 1] == '\r';
}

uint64_t fetch_window_size(uint64_t vsize, uint64_t from, uint64_t len)
{
	if (from >= vsize)
		return 0;
	return vsize - from < len ? vsize - from : len;
}

/* ---- BINARY --------------------------------------------------------------- */

enum fetch_cte fetch_body_cte(const struct mime_part *part)
{
	const char *e = part->encoding;

	if (part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE))
		return FETCH_CTE_IDENTITY;
	if (e == NULL || strcasecmp(e, "7bit") == 0 ||
	    strcasecmp(e, "8bit") == 0 || strcasecmp(e, "binary") == 0)
		return FETCH_CTE_IDENTITY;
	if (strcasecmp(e, "base64") == 0)
		return FETCH_CTE_BASE64;
	if (strcasecmp(e, "quoted-printable") == 0)
		return FETCH_CTE_QP;
	return FETCH_CTE_UNKNOWN;
}

void fetch_decoder_init(struct fetch_decoder *d, enum fetch_cte cte)
{
	memset(d, 0, sizeof(*d));
	d->cte = cte;
	buf_init(&d->ws);
}

void fetch_decoder_release(struct fetch_decoder *d)
{
	buf_release(&d->ws);
}

static void b64_flush(struct fetch_decoder *d, struct buf *out)
{
	unsigned v[4] = {0, 0, 0, 0};

	for (unsigned i = 0; i < d->nq; i++)
		v[i] = d->q[i];
	if (d->nq >= 2)
		buf_append_c(out, (char)((v[0] << 2) | (v[1] >> 4)));
	if (d->nq >= 3)
		buf_append_c(out, (char)(((v[1] & 15) << 4) | (v[2] >> 2)));
	if (d->nq == 4)
		buf_append_c(out, (char)(((v[2] & 3) << 6) | v[3]));
	d->nq = 0;
}

static void b64_feed(struct fetch_decoder *d, const char *in, size_t n,
		     struct buf *out)
{
	for (size_t i = 0; i < n && !d->b64_end; i++) {
		int v = base64_value((unsigned char)in[i]);

		if (in[i] == '=') {
			b64_flush(d, out);
			d->b64_end = true;
			break;
		}
		if (v < 0)
			continue;
		d->q[d->nq++] = (unsigned char)v;
		if (d->nq == 4)
			b64_flush(d, out);
	}
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* QP state: q[0..nq) holds "=" and up to one more byte of an escape, or
 * "=\r" of a soft break; ws holds whitespace not yet known to be
 * trailing. */
static void qp_byte(struct fetch_decoder *d, char c, struct buf *out)
{
	if (d->nq > 0) {
		if (d->nq == 1) {
			if (c == '\n') { /* soft line break "=\n" */
				d->nq = 0;
				return;
			}
			if (c == '\r' || hex_value((unsigned char)c) >= 0) {
				d->q[d->nq++] = (unsigned char)c;
				return;
			}
			if (c == ' ' || c == '\t') {
				/* "=  \r\n": whitespace after a soft break */
				return;
			}
			buf_append_c(out, '=');
			d->nq = 0;
			/* fall through: c is an ordinary byte */
		} else {
			unsigned char c1 = d->q[1];

			d->nq = 0;
			if (c1 == '\r') {
				if (c == '\n')
					return; /* soft break "=\r\n" */
				buf_append_str(out, "=\r");
			} else if (hex_value((unsigned char)c) >= 0) {
				buf_append_c(out,
					     (char)(hex_value(c1) * 16 +
						    hex_value((unsigned char)c)));
				return;
			} else {
				buf_append_c(out, '=');
				buf_append_c(out, (char)c1);
			}
		}
	}
	if (c == ' ' || c == '\t') {
		buf_append_c(&d->ws, c);
		return;
	}
	if (c == '\r') {
		/* maybe the start of a line end: keep it pending */
		buf_append_c(&d->ws, c);
		return;
	}
	if (c == '\n') {
		/* trailing whitespace (and the CR) is dropped */
		buf_reset(&d->ws);
		buf_append_str(out, "\r\n");
		return;
	}
	if (d->ws.len > 0) {
		buf_append(out, d->ws.data, d->ws.len);
		buf_reset(&d->ws);
	}
	if (c == '=') {
		d->q[0] = '=';
		d->nq = 1;
		return;
	}
	buf_append_c(out, c);
}

void fetch_decoder_feed(struct fetch_decoder *d, const char *in, size_t n,
			struct buf *out)
{
	switch (d->cte) {
	case FETCH_CTE_BASE64:
		b64_feed(d, in, n, out);
		break;
	case FETCH_CTE_QP:
		for (size_t i = 0; i < n; i++)
			qp_byte(d, in[i], out);
		break;
	case FETCH_CTE_IDENTITY:
	case FETCH_CTE_UNKNOWN:
		buf_append(out, in, n);
		break;
	}
}

void fetch_decoder_finish(struct fetch_decoder *d, struct buf *out)
{
	if (d->cte == FETCH_CTE_BASE64) {
		b64_flush(d, out);
	} else if (d->cte == FETCH_CTE_QP) {
		/* "=" at the very end is a soft break; trailing
		 * whitespace at the end is dropped like before a line end */
		if (d->nq == 2 && d->q[1] != '\r') {
			buf_append_c(out, '=');
			buf_append_c(out, (char)d->q[1]);
		}
		d->nq = 0;
		buf_reset(&d->ws);
	}
}
