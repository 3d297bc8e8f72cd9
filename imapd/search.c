/* search.c - search keys: parser and matcher (see search.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "charset.h"
#include "auth.h"
#include "imapdate.h"
#include "mime.h"
#include "rfc2047.h"
#include "search.h"
#include "write.h"
#include "xalloc.h"

enum search_type {
	SK_ALL,
	SK_AND,      /* children */
	SK_OR,       /* two children */
	SK_NOT,      /* one child */
	SK_SEQ,      /* MSN set */
	SK_UID,      /* UID set */
	SK_DOLLAR,   /* "$" as a sequence set: the saved UIDs */
	SK_FLAGS,    /* all of flags set */
	SK_UNFLAGS,  /* all of flags clear */
	SK_KEYWORD,
	SK_UNKEYWORD,
	SK_NEW,
	SK_OLD,
	SK_RECENT,
	SK_BEFORE, SK_ON, SK_SINCE,             /* INTERNALDATE */
	SK_SENTBEFORE, SK_SENTON, SK_SENTSINCE, /* Date: */
	SK_SAVEDBEFORE, SK_SAVEDON, SK_SAVEDSINCE,
	SK_OLDER, SK_YOUNGER,
	SK_LARGER, SK_SMALLER,
	SK_MODSEQ,
	SK_HEADER,   /* hdr, str */
	SK_BODY,
	SK_TEXT,
};

struct search_key {
	enum search_type type;
	struct search_key *child; /* AND/OR/NOT: first child */
	struct search_key *next;  /* sibling */
	uint64_t num;             /* LARGER, SMALLER, MODSEQ, OLDER, YOUNGER */
	int64_t day;              /* dates: UTC seconds at 00:00 */
	uint32_t flags;
	char *hdr;                /* HEADER: field name */
	char *str;                /* folded needle, or keyword */
	size_t str_len;
	bool ascii;               /* the needle is all ASCII */
	struct seqset set;
};

/* ---- case folding ------------------------------------------------------ */

static uint32_t fold_cp(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if ((c >= 0xC0 && c <= 0xDE && c != 0xD7))
		return c + 32;
	if (c >= 0x100 && c <= 0x137)
		return c | 1;
	if (c >= 0x139 && c <= 0x148)
		return (c & 1) ? c + 1 : c;
	if (c >= 0x14A && c <= 0x177)
		return c | 1;
	if (c == 0x178)
		return 0xFF;
	if (c >= 0x179 && c <= 0x17E)
		return (c & 1) ? c + 1 : c;
	if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
		return c + 32;
	if (c == 0x3C2) /* final sigma */
		return 0x3C3;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if (c >= 0x460 && c <= 0x4FF && c != 0x482 &&
	    !(c >= 0x483 && c <= 0x489))
		return c | 1;
	return c;
}

#define HIGH_BITS 0x8080808080808080ULL

typedef unsigned char u8x16 __attribute__((vector_size(16)));

/* d[0..n) = s[0..n) with A-Z lowered, every other byte kept (d may be
 * s). Sixteen bytes a step, without branches on the data. */
static void lower_bytes(unsigned char *d, const unsigned char *s, size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		u8x16 v, up;
		memcpy(&v, s + i, 16);
		up = (u8x16)((u8x16)(v - 'A') < 26);
		v |= up & 0x20;
		memcpy(d + i, &v, 16);
	}
	for (; i < n; i++)
		d[i] = (unsigned char)(s[i] |
				       ((unsigned char)(s[i] - 'A') < 26) << 5);
}

/* search_fold into d (n bytes: folding keeps the length, as every folded
 * pair of the ranges above stays a two-byte sequence). */
static void fold_into(unsigned char *d, const unsigned char *p, size_t n)
{
	size_t i = 0;

	lower_bytes(d, p, n);
	for (;;) {
		/* skip ASCII, done above */
		for (; i + 8 <= n; i += 8) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (w & HIGH_BITS)
				break;
		}
		while (i < n && p[i] < 0x80)
			i++;
		if (i >= n)
			break;
		/* two byte sequences hold every folded range */
		unsigned char b = p[i];
		if ((b & 0xE0) == 0xC0 && i + 1 < n &&
		    (p[i + 1] & 0xC0) == 0x80) {
			uint32_t c = (uint32_t)(b & 0x1F) << 6 | (p[i + 1] & 0x3F);
			uint32_t f = c >= 0x80 ? fold_cp(c) : c;
			d[i] = (unsigned char)(0xC0 | f >> 6);
			d[i + 1] = (unsigned char)(0x80 | (f & 0x3F));
			i += 2;
			continue;
		}
		i++;
	}
}

void search_fold(const char *s, size_t n, struct buf *out)
{
	unsigned char *d = (unsigned char *)buf_space(out, n);

	fold_into(d, (const unsigned char *)s, n);
	buf_commit(out, n);
}

/* ---- parsing ------------------------------------------------------------ */

struct parse_state {
	const struct imap_arg *a;
	size_t n, i;
	uint32_t msn_max, uid_max;
	struct search_info *info;
	const char *err;
};

static struct search_key *key_new(enum search_type t)
{
	struct search_key *k = xcalloc(1, sizeof(*k));

	k->type = t;
	seqset_init(&k->set);
	return k;
}

void search_key_free(struct search_key **kp)
{
	struct search_key *k = *kp;

	while (k) {
		struct search_key *next = k->next;
		search_key_free(&k->child);
		seqset_release(&k->set);
		free(k->hdr);
		free(k->str);
		free(k);
		k = next;
	}
	*kp = NULL;
}

static const struct imap_arg *next_arg(struct parse_state *ps)
{
	if (ps->i >= ps->n) {
		ps->err = "Missing search key argument";
		return NULL;
	}
	return &ps->a[ps->i++];
}

static int arg_astring(struct parse_state *ps, const char **s_r,
		       size_t *len_r)
{
	const struct imap_arg *a = next_arg(ps);

	if (!a)
		return -1;
	if (!imap_arg_astring(a, s_r, len_r)) {
		ps->err = "Expected a string";
		return -1;
	}
	return 0;
}

static int arg_date(struct parse_state *ps, int64_t *day_r)
{
	const char *s;
	size_t n;

	if (arg_astring(ps, &s, &n) < 0)
		return -1;
	if (imapdate_parse_date(s, n, day_r) < 0) {
		ps->err = "Invalid date";
		return -1;
	}
	return 0;
}

static int arg_number(struct parse_state *ps, uint64_t max, uint64_t *n_r)
{
	const struct imap_arg *a = next_arg(ps);

	if (!a)
		return -1;
	if (!imap_arg_number(a, max, n_r)) {
		ps->err = "Expected a number";
		return -1;
	}
	return 0;
}

static void fold_needle(struct search_key *k, const char *s, size_t n)
{
	struct buf b = BUF_INIT;

	search_fold(s, n, &b);
	k->str_len = b.len;
	k->str = b.data; /* ownership moves to the key; NUL-terminated */
	k->ascii = true;
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.data[i] >= 0x80)
			k->ascii = false;
}

static int set_needle(struct parse_state *ps, struct search_key *k)
{
	const char *s;
	size_t n;

	if (arg_astring(ps, &s, &n) < 0)
		return -1;
	fold_needle(k, s, n);
	ps->info->uses_text = true;
	return 0;
}

static struct search_key *parse_key(struct parse_state *ps, unsigned depth);

static struct search_key *parse_list(struct parse_state *ps,
				     const struct imap_arg *a, size_t n,
				     unsigned depth)
{
	struct parse_state sub = *ps;
	struct search_key *and = key_new(SK_AND), **tail = &and->child;

	sub.a = a;
	sub.n = n;
	sub.i = 0;
	if (n == 0) {
		ps->err = "Empty search key list";
		search_key_free(&and);
		return NULL;
	}
	while (sub.i < sub.n) {
		struct search_key *k = parse_key(&sub, depth + 1);
		if (!k) {
			ps->err = sub.err;
			search_key_free(&and);
			return NULL;
		}
		*tail = k;
		tail = &k->next;
	}
	return and;
}

static const struct {
	const char *name;
	enum search_type type;
	uint32_t flags;
} simple_keys[] = {
	{"ALL", SK_ALL, 0},
	{"ANSWERED", SK_FLAGS, STORE_F_ANSWERED},
	{"DELETED", SK_FLAGS, STORE_F_DELETED},
	{"DRAFT", SK_FLAGS, STORE_F_DRAFT},
	{"FLAGGED", SK_FLAGS, STORE_F_FLAGGED},
	{"SEEN", SK_FLAGS, STORE_F_SEEN},
	{"UNANSWERED", SK_UNFLAGS, STORE_F_ANSWERED},
	{"UNDELETED", SK_UNFLAGS, STORE_F_DELETED},
	{"UNDRAFT", SK_UNFLAGS, STORE_F_DRAFT},
	{"UNFLAGGED", SK_UNFLAGS, STORE_F_FLAGGED},
	{"UNSEEN", SK_UNFLAGS, STORE_F_SEEN},
	{"NEW", SK_NEW, 0},
	{"OLD", SK_OLD, 0},
	{"RECENT", SK_RECENT, 0},
	{"SAVEDATESUPPORTED", SK_ALL, 0},
};

static const struct {
	const char *name;
	enum search_type type;
} date_keys[] = {
	{"BEFORE", SK_BEFORE},         {"ON", SK_ON},
	{"SINCE", SK_SINCE},           {"SENTBEFORE", SK_SENTBEFORE},
	{"SENTON", SK_SENTON},         {"SENTSINCE", SK_SENTSINCE},
	{"SAVEDBEFORE", SK_SAVEDBEFORE}, {"SAVEDON", SK_SAVEDON},
	{"SAVEDSINCE", SK_SAVEDSINCE},
};

static const char *const header_keys[] = {"BCC", "CC", "FROM", "SUBJECT",
					  "TO"};

/* search-key (RFC 9051 9, RFC 3501 9, RFC 7162 4, RFC 5032, RFC 8514) */
static struct search_key *parse_key(struct parse_state *ps, unsigned depth)
{
	const struct imap_arg *a = next_arg(ps);
	struct search_key *k = NULL;
	const char *w;

	if (!a)
		return NULL;
	if (depth > SEARCH_MAX_DEPTH) {
		ps->err = "Search keys nested too deeply";
		return NULL;
	}
	if (a->type == IMAP_ARG_LIST)
		return parse_list(ps, a->list, a->list_count, depth);
	if (!imap_arg_atom(a, &w)) {
		ps->err = "Invalid search key";
		return NULL;
	}
	for (size_t i = 0; i < sizeof(simple_keys) / sizeof(simple_keys[0]);
	     i++) {
		if (strcasecmp(w, simple_keys[i].name) == 0) {
			k = key_new(simple_keys[i].type);
			k->flags = simple_keys[i].flags;
			return k;
		}
	}
	for (size_t i = 0; i < sizeof(date_keys) / sizeof(date_keys[0]); i++) {
		if (strcasecmp(w, date_keys[i].name) == 0) {
			k = key_new(date_keys[i].type);
			if (arg_date(ps, &k->day) < 0)
				goto fail;
			return k;
		}
	}
	for (size_t i = 0; i < sizeof(header_keys) / sizeof(header_keys[0]);
	     i++) {
		if (strcasecmp(w, header_keys[i]) == 0) {
			k = key_new(SK_HEADER);
			k->hdr = xstrdup(header_keys[i]);
			if (set_needle(ps, k) < 0)
				goto fail;
			return k;
		}
	}
	if (strcasecmp(w, "HEADER") == 0) {
		const char *h;
		size_t hn;
		k = key_new(SK_HEADER);
		if (arg_astring(ps, &h, &hn) < 0)
			goto fail;
		if (hn == 0 || memchr(h, ':', hn) || memchr(h, '\0', hn)) {
			ps->err = "Invalid header field name";
			goto fail;
		}
		k->hdr = xstrndup(h, hn);
		if (set_needle(ps, k) < 0)
			goto fail;
		return k;
	}
	if (strcasecmp(w, "BODY") == 0 || strcasecmp(w, "TEXT") == 0) {
		k = key_new(toupper((unsigned char)w[0]) == 'B' ? SK_BODY
								: SK_TEXT);
		if (set_needle(ps, k) < 0)
			goto fail;
		return k;
	}
	if (strcasecmp(w, "KEYWORD") == 0 || strcasecmp(w, "UNKEYWORD") == 0) {
		const char *kw;
		size_t kn;
		k = key_new(toupper((unsigned char)w[0]) == 'K' ? SK_KEYWORD
								: SK_UNKEYWORD);
		if (arg_astring(ps, &kw, &kn) < 0)
			goto fail;
		if (kn == 0 || memchr(kw, ' ', kn) || memchr(kw, '\0', kn)) {
			ps->err = "Invalid keyword";
			goto fail;
		}
		k->str = xstrndup(kw, kn);
		k->str_len = kn;
		return k;
	}
	if (strcasecmp(w, "LARGER") == 0 || strcasecmp(w, "SMALLER") == 0) {
		k = key_new(toupper((unsigned char)w[0]) == 'L' ? SK_LARGER
								: SK_SMALLER);
		if (arg_number(ps, INT64_MAX, &k->num) < 0)
			goto fail;
		return k;
	}
	if (strcasecmp(w, "OLDER") == 0 || strcasecmp(w, "YOUNGER") == 0) {
		k = key_new(toupper((unsigned char)w[0]) == 'O' ? SK_OLDER
								: SK_YOUNGER);
		if (arg_number(ps, UINT32_MAX, &k->num) < 0)
			goto fail;
		if (k->num == 0) {
			ps->err = "Interval must be positive";
			goto fail;
		}
		return k;
	}
	if (strcasecmp(w, "MODSEQ") == 0) {
		/* "MODSEQ" [SP entry-name SP entry-type-req]
		 *   SP mod-sequence-valzer              (RFC 7162 4) */
		k = key_new(SK_MODSEQ);
		if (ps->i + 2 < ps->n + 0 && ps->a[ps->i].type ==
						     IMAP_ARG_STRING) {
			const char *t;
			ps->i++;
			if (!imap_arg_atom(&ps->a[ps->i], &t) ||
			    (strcasecmp(t, "priv") && strcasecmp(t, "shared") &&
			     strcasecmp(t, "all"))) {
				ps->err = "Invalid MODSEQ entry type";
				goto fail;
			}
			ps->i++;
		}
		if (arg_number(ps, INT64_MAX, &k->num) < 0)
			goto fail;
		ps->info->uses_modseq = true;
		return k;
	}
	if (strcasecmp(w, "NOT") == 0) {
		k = key_new(SK_NOT);
		if (!(k->child = parse_key(ps, depth + 1)))
			goto fail;
		return k;
	}
	if (strcasecmp(w, "OR") == 0) {
		k = key_new(SK_OR);
		if (!(k->child = parse_key(ps, depth + 1)))
			goto fail;
		if (!(k->child->next = parse_key(ps, depth + 1)))
			goto fail;
		return k;
	}
	if (strcasecmp(w, "UID") == 0) {
		const char *set;
		const struct imap_arg *sa = next_arg(ps);
		k = key_new(SK_UID);
		if (!sa || !imap_arg_atom(sa, &set)) {
			ps->err = ps->err ? ps->err : "Expected a UID set";
			goto fail;
		}
		if (seqset_parse(&k->set, set, sa->len, 0, true, &ps->err) < 0)
			goto fail;
		if (k->set.dollar) {
			k->type = SK_DOLLAR;
			ps->info->uses_dollar = true;
		} else {
			seqset_resolve(&k->set, ps->uid_max, true);
		}
		return k;
	}
	/* sequence-set (or "$") */
	k = key_new(SK_SEQ);
	if (seqset_parse(&k->set, w, a->len, 0, true, &ps->err) < 0) {
		ps->err = "Unknown search key";
		goto fail;
	}
	if (k->set.dollar) {
		k->type = SK_DOLLAR;
		ps->info->uses_dollar = true;
		return k;
	}
	/* RFC 9051 6.4.4: "*" is the last message; numbers above EXISTS
	 * simply match nothing (as Dovecot does) */
	seqset_resolve(&k->set, ps->msn_max, false);
	return k;
fail:
	search_key_free(&k);
	return NULL;
}

struct search_key *search_parse(const struct imap_arg *args, size_t n,
				 uint32_t msn_max, uint32_t uid_max,
				 struct search_info *info, const char **err_r)
{
	struct parse_state ps = {args, n, 0, msn_max, uid_max, info, NULL};
	struct search_key *k;

	memset(info, 0, sizeof(*info));
	ps.info = info;
	k = parse_list(&ps, args, n, 0);
	if (!k)
		*err_r = ps.err ? ps.err : "Invalid search program";
	return k;
}

/* ---- message data ------------------------------------------------------- */

#define HDR_MAX (1024 * 1024)
#define SLICE 65536

static int open_body(struct search_msg *sm)
{
	if (sm->body)
		return 0;
	return store_body_open(sm->st, sm->m->body_id, &sm->body, &sm->err);
}

/* The length of the header in h (n bytes) through the empty line that
 * ends it (LF (CR) LF), looking from byte from on; 0 when it does not end
 * within h. */
static size_t header_end(const char *h, size_t n, size_t from)
{
	const char *q = h + from, *end = h + n;

	while (q < end && (q = memchr(q, '\n', (size_t)(end - q)))) {
		size_t i = (size_t)(q - h);
		if (i + 1 >= n)
			break;
		if (h[i + 1] == '\n')
			return i + 2;
		if (h[i + 1] == '\r' && i + 2 < n && h[i + 2] == '\n')
			return i + 3;
		q++;
	}
	return 0;
}

/* Reads the top-level header (up to the empty line, at most HDR_MAX). */
static int load_header(struct search_msg *sm)
{
	uint64_t off = 0;

	if (sm->hdr_loaded)
		return 0;
	if (open_body(sm) < 0)
		return -1;
	buf_init(&sm->hdr);
	while (sm->hdr.len < HDR_MAX) {
		const char *p;
		ssize_t r = store_body_peek(sm->body, off, &p, &sm->err);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		size_t start = sm->hdr.len > 3 ? sm->hdr.len - 3 : 0;
		size_t e;
		if (sm->hdr.len == 0 && (e = header_end(p, (size_t)r, 0))) {
			/* the usual case: the header ends in the first slice */
			buf_append(&sm->hdr, p, e);
			goto done;
		}
		buf_append(&sm->hdr, p, (size_t)r);
		off += (uint64_t)r;
		e = header_end(sm->hdr.data, sm->hdr.len, start);
		if (e) {
			buf_truncate(&sm->hdr, e);
			goto done;
		}
		if (sm->hdr.len == 0 || (sm->hdr.len >= 2 &&
					 sm->hdr.data[0] == '\r' &&
					 sm->hdr.data[1] == '\n'))
			break;
	}
	if (sm->hdr.len > HDR_MAX)
		buf_truncate(&sm->hdr, HDR_MAX);
	/* a message starting with an empty line has no header */
	if (sm->hdr.len && (sm->hdr.data[0] == '\n' ||
			    (sm->hdr.len > 1 && sm->hdr.data[0] == '\r' &&
			     sm->hdr.data[1] == '\n')))
		buf_truncate(&sm->hdr, 0);
done:
	sm->hdr_loaded = true;
	return 0;
}

static int load_tree(struct search_msg *sm)
{
	struct buf blob = BUF_INIT;
	struct store_err err;

	if (sm->tree)
		return 0;
	if (store_blob_get(sm->st, sm->m->body_id, MIME_BLOB_NAME, &blob,
			   &err) == 0)
		sm->tree = mime_deserialize(blob.data, blob.len);
	buf_release(&blob);
	if (sm->tree)
		return 0;
	if (open_body(sm) < 0)
		return -1;
	struct mime_parser *p = mime_parser_new(NULL);
	uint64_t off = 0;
	for (;;) {
		const char *d;
		ssize_t r = store_body_peek(sm->body, off, &d, &sm->err);
		if (r < 0) {
			struct mime_part *t = mime_parser_finish(&p);
			mime_part_free(&t);
			return -1;
		}
		if (r == 0)
			break;
		mime_parser_feed(p, d, (size_t)r);
		off += (uint64_t)r;
	}
	sm->tree = mime_parser_finish(&p);
	return 0;
}

void search_msg_release(struct search_msg *sm)
{
	store_body_close(&sm->body);
	if (sm->hdr_loaded)
		buf_release(&sm->hdr);
	sm->hdr_loaded = false;
	mime_part_free(&sm->tree);
	sm->sent_loaded = false;
}

/* Length of the leading run of s (n bytes) without CR or LF. */
static size_t strcspn_n(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && s[i] != '\r' && s[i] != '\n')
		i++;
	return i;
}

/* Calls fn for each header field of hdr named name (NULL: every field)
 * with its unfolded value; stops when fn returns nonzero. */
static int each_field(const struct buf *hdr, const char *name,
		      int (*fn)(const char *v, size_t n, void *arg), void *arg)
{
	const char *p = hdr->data, *end = hdr->data + hdr->len;
	size_t nlen = name ? strlen(name) : 0;
	struct buf val = BUF_INIT;
	int r = 0;

	while (p < end && r == 0) {
		const char *line_end = memchr(p, '\n', (size_t)(end - p));
		const char *fe = line_end ? line_end + 1 : end;
		/* continuation lines */
		while (fe < end && (*fe == ' ' || *fe == '\t')) {
			const char *nl = memchr(fe, '\n', (size_t)(end - fe));
			fe = nl ? nl + 1 : end;
		}
		const char *colon = memchr(p, ':', (size_t)(fe - p));
		if (colon && (!name || ((size_t)(colon - p) == nlen &&
					strncasecmp(p, name, nlen) == 0))) {
			const char *v = colon + 1;
			buf_reset(&val);
			while (v < fe) {
				size_t run = strcspn_n(v, (size_t)(fe - v));
				buf_append(&val, v, run);
				v += run;
				while (v < fe && (*v == '\r' || *v == '\n'))
					v++;
			}
			size_t s = 0;
			while (s < val.len && (val.data[s] == ' ' ||
					       val.data[s] == '\t'))
				s++;
			r = fn(val.data ? val.data + s : "", val.len - s, arg);
		}
		p = fe;
	}
	buf_release(&val);
	return r;
}

/* Substring search in folded text. */
static bool contains(const char *h, size_t hn, const char *n, size_t nn)
{
	if (nn == 0)
		return true;
	if (hn < nn)
		return false;
	return memmem(h, hn, n, nn) != NULL;
}

struct field_match {
	const struct search_key *k;
	struct buf dec, fold;
};

static int field_match_cb(const char *v, size_t n, void *arg)
{
	struct field_match *fm = arg;

	buf_reset(&fm->dec);
	buf_reset(&fm->fold);
	rfc2047_decode(v, n, &fm->dec);
	search_fold(fm->dec.data ? fm->dec.data : "", fm->dec.len, &fm->fold);
	return contains(fm->fold.data, fm->fold.len, fm->k->str,
			fm->k->str_len);
}

/* The message header fields the cached MIME tree keeps (ENVELOPE's). */
static int env_field(const char *name)
{
	static const struct {
		const char *name;
		int field;
	} f[] = {
		{"FROM", MIME_ENV_FROM}, {"TO", MIME_ENV_TO},
		{"CC", MIME_ENV_CC},     {"BCC", MIME_ENV_BCC},
		{"SUBJECT", MIME_ENV_SUBJECT},
	};

	for (size_t i = 0; name && i < sizeof(f) / sizeof(f[0]); i++)
		if (strcasecmp(name, f[i].name) == 0)
			return f[i].field;
	return -1;
}

/* FROM, TO, CC, BCC, SUBJECT against the cached MIME tree (the blob FETCH
 * ENVELOPE/BODYSTRUCTURE stored), without reading the message: one small
 * read instead of the message's first 64 KiB. Returns 1/0, or -2 when the
 * tree cannot answer exactly: no cached tree; a header so large the parser
 * may have dropped fields (MIME_MAX_PART_HEADER); a value cut at
 * MIME_MAX_FIELD; a needle with ',' (the tree joins repeated address
 * fields with ','). A repeated Subject (invalid, RFC 5322 3.6) is
 * matched on its last occurrence. */
static int match_header_cached(struct field_match *fm, struct search_msg *sm,
			       const char *name)
{
	int f = env_field(name);
	struct buf blob = BUF_INIT;
	struct store_err err;

	if (f < 0 || memchr(fm->k->str, ',', fm->k->str_len))
		return -2;
	if (!sm->tree) {
		if (store_blob_get(sm->st, sm->m->body_id, MIME_BLOB_NAME,
				   &blob, &err) == 0)
			sm->tree = mime_deserialize(blob.data, blob.len);
		buf_release(&blob);
		if (!sm->tree)
			return -2;
	}
	if (sm->tree->hdr_size > MIME_MAX_PART_HEADER / 2)
		return -2;
	const char *v = sm->tree->env[f];
	if (!v)
		return 0;
	size_t n = strlen(v);
	if (n >= MIME_MAX_FIELD - 1)
		return -2;
	return field_match_cb(v, n, fm);
}

static int match_header(const struct search_key *k, struct search_msg *sm,
			const char *name)
{
	struct field_match fm = {k, BUF_INIT, BUF_INIT};
	int r;

	r = match_header_cached(&fm, sm, name);
	if (r != -2) {
		buf_release(&fm.dec);
		buf_release(&fm.fold);
		return r;
	}
	if (load_header(sm) < 0)
		return -1;
	r = each_field(&sm->hdr, name, field_match_cb, &fm);
	buf_release(&fm.dec);
	buf_release(&fm.fold);
	return r;
}

/* ---- body text ---------------------------------------------------------- */

/* A streaming matcher over the decoded text of one part: the folded text
 * is searched in rounds, each round keeping the last needle-length - 1
 * folded bytes so a match across rounds counts. Memory is bounded by
 * SCAN_BLOCK (direct) or twice SLICE (converted), plus the needle.
 *
 * Two ways, with the same answers:
 * - direct: an ASCII needle in text whose charset maps ASCII bytes to
 *   themselves and every other byte to non-ASCII characters (UTF-8 and
 *   US-ASCII with invalid bytes as U+FFFD, ISO 8859, Windows, KOI8).
 *   The needle can only match runs of ASCII bytes, and those are the
 *   same bytes before and after conversion, so the decoded bytes are
 *   lowered and searched as they come, without conversion.
 * - converted: the decoded bytes are gathered, converted to UTF-8 in
 *   whole lines (never splitting a character; a line longer than SLICE is
 *   cut where the slice ends), folded and searched. */
struct text_scan {
	const struct search_key *k;
	const char *charset;
	int enc;              /* 0 identity, 1 base64, 2 quoted-printable */
	bool direct;
	struct buf raw;       /* converted: decoded bytes not yet converted */
	struct buf conv;      /* converted: UTF-8 of one round */
	struct buf fold;      /* kept tail + folded text of one round */
	uint32_t b64;         /* base64 accumulator */
	int b64n;
	char qp[3];
	size_t qpn;
	bool found;
};

#define SCAN_BLOCK 16384

static int hexv(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Charsets (besides UTF-8, see charset_is_utf8) in which each ASCII byte
 * is that character and each other byte becomes non-ASCII output: single
 * byte sets without composition (not windows-1255/1258, whose iconv
 * combines a letter with the following accent). */
static bool ascii_transparent(const char *cs)
{
	static const char *const names[] = {
		"iso-8859-1", "iso-8859-2", "iso-8859-3", "iso-8859-4",
		"iso-8859-5", "iso-8859-6", "iso-8859-7", "iso-8859-8",
		"iso-8859-9", "iso-8859-10", "iso-8859-13", "iso-8859-14",
		"iso-8859-15", "iso-8859-16", "iso8859-1", "iso_8859-1",
		"latin1", "windows-1250", "windows-1251", "windows-1252",
		"windows-1253", "windows-1254", "windows-1256", "windows-1257",
		"cp1250", "cp1251", "cp1252", "koi8-r", "koi8-u",
	};

	if (cs == NULL || charset_is_utf8(cs))
		return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(cs, names[i]) == 0)
			return true;
	return false;
}

/* Decodes n bytes of the transfer encoding into d (room for n + 3 bytes:
 * a base64 quantum or a quoted-printable escape pending from the last
 * call completes here); identity text is lowered as it is copied when
 * direct. Returns the bytes written. */
static size_t scan_decode(struct text_scan *ts, const char *p, size_t n,
			  char *d)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t o = 0;

	switch (ts->enc) {
	case 0:
		if (ts->direct)
			lower_bytes((unsigned char *)d, s, n);
		else
			memcpy(d, p, n);
		return n;
	case 1:
		for (size_t i = 0; i < n; i++) {
			int v = base64_value(s[i]);
			if (v < 0)
				continue;
			ts->b64 = ts->b64 << 6 | (uint32_t)v;
			if (++ts->b64n == 4) {
				d[o++] = (char)(ts->b64 >> 16);
				d[o++] = (char)(ts->b64 >> 8);
				d[o++] = (char)ts->b64;
				ts->b64n = 0;
				ts->b64 = 0;
			}
		}
		return o;
	default:
		for (size_t i = 0; i < n;) {
			if (ts->qpn == 0) {
				const char *eq = memchr(p + i, '=', n - i);
				size_t run = eq ? (size_t)(eq - (p + i)) : n - i;
				memcpy(d + o, p + i, run);
				o += run;
				i += run;
				if (i == n)
					break;
			}
			ts->qp[ts->qpn++] = p[i++];
			if (ts->qpn < 3)
				continue;
			ts->qpn = 0;
			int h = hexv((unsigned char)ts->qp[1]);
			int l = hexv((unsigned char)ts->qp[2]);
			if (h >= 0 && l >= 0) {
				d[o++] = (char)(h << 4 | l);
			} else if (ts->qp[1] == '\r' && ts->qp[2] == '\n') {
				; /* soft line break */
			} else if (ts->qp[1] == '\n') {
				d[o++] = ts->qp[2];
			} else {
				memcpy(d + o, ts->qp, 3);
				o += 3;
			}
		}
		return o;
	}
}

/* Searches the folded round (kept tail + new text) and keeps its tail. */
static void scan_match(struct text_scan *ts)
{
	const struct search_key *k = ts->k;

	if (contains(ts->fold.data, ts->fold.len, k->str, k->str_len))
		ts->found = true;
	size_t keep = k->str_len ? k->str_len - 1 : 0;
	if (keep > ts->fold.len)
		keep = ts->fold.len;
	memmove(ts->fold.data, ts->fold.data + ts->fold.len - keep, keep);
	buf_truncate(&ts->fold, keep);
}

static void scan_flush(struct text_scan *ts, bool final)
{
	size_t cut = ts->raw.len;
	const char *u;
	size_t un;

	if (!final) {
		/* convert whole lines only, so a character is never split */
		const char *nl = ts->raw.len ? memrchr(ts->raw.data, '\n',
						       ts->raw.len) : NULL;
		cut = nl ? (size_t)(nl - ts->raw.data) + 1 : 0;
		if (cut == 0 && ts->raw.len < SLICE)
			return;
		if (cut == 0)
			cut = ts->raw.len;
	}
	if (cut == 0)
		return;
	buf_reset(&ts->conv);
	u = ts->raw.data;
	un = cut;
	if (!ts->charset || charset_is_utf8(ts->charset)) {
		/* valid UTF-8 (the common case) is folded where it is */
		if (charset_utf8_valid_len(u, cut) < cut) {
			charset_utf8_sanitize(u, cut, &ts->conv);
			u = ts->conv.data;
			un = ts->conv.len;
		}
	} else {
		charset_to_utf8(ts->charset, u, cut, &ts->conv);
		u = ts->conv.data ? ts->conv.data : "";
		un = ts->conv.len;
	}
	fold_into((unsigned char *)buf_space(&ts->fold, un),
		  (const unsigned char *)u, un);
	buf_commit(&ts->fold, un);
	buf_consume(&ts->raw, cut);
	scan_match(ts);
}

static void scan_feed(struct text_scan *ts, const char *p, size_t n)
{
	if (!ts->direct) {
		size_t o = scan_decode(ts, p, n, buf_space(&ts->raw, n + 3));
		buf_commit(&ts->raw, o);
		if (ts->raw.len >= SLICE)
			scan_flush(ts, false);
		return;
	}
	while (n > 0 && !ts->found) {
		size_t take = n < SCAN_BLOCK ? n : SCAN_BLOCK;
		char *d = buf_space(&ts->fold, take + 3);
		size_t o = scan_decode(ts, p, take, d);
		if (o) {
			if (ts->enc != 0) /* identity lowered as it copied */
				lower_bytes((unsigned char *)d,
					    (unsigned char *)d, o);
			buf_commit(&ts->fold, o);
			scan_match(ts);
		}
		p += take;
		n -= take;
	}
}

static void scan_finish(struct text_scan *ts)
{
	char tail[16] = {0}; /* lower_bytes may read a whole vector */
	size_t n = 0;

	if (ts->enc == 1 && ts->b64n >= 2) {
		uint32_t q = ts->b64 << (6 * (4 - ts->b64n));
		tail[0] = (char)(q >> 16);
		tail[1] = (char)(q >> 8);
		n = ts->b64n == 2 ? 1 : 2;
	}
	if (ts->enc == 2 && ts->qpn) {
		memcpy(tail, ts->qp, ts->qpn);
		n = ts->qpn;
	}
	if (!ts->direct) {
		buf_append(&ts->raw, tail, n);
		scan_flush(ts, true);
	} else if (n) {
		lower_bytes((unsigned char *)tail, (unsigned char *)tail, n);
		buf_append(&ts->fold, tail, n);
		scan_match(ts);
	}
}

/* Prepares ts (its needle set, its buffers kept from the last part) for
 * one text part. */
static void scan_start(struct text_scan *ts, const struct mime_part *part)
{
	ts->charset = mime_param_get(part->params, part->nparams, "charset");
	ts->enc = 0;
	if (part->encoding && strcasecmp(part->encoding, "base64") == 0)
		ts->enc = 1;
	else if (part->encoding &&
		 strcasecmp(part->encoding, "quoted-printable") == 0)
		ts->enc = 2;
	ts->direct = ts->k->ascii && ascii_transparent(ts->charset);
	buf_reset(&ts->raw);
	buf_reset(&ts->conv);
	buf_reset(&ts->fold);
	ts->b64 = 0;
	ts->b64n = 0;
	ts->qpn = 0;
}

static void scan_release(struct text_scan *ts)
{
	buf_release(&ts->raw);
	buf_release(&ts->conv);
	buf_release(&ts->fold);
}

/* Scans the "text" leaf parts of the tree below part until one has the
 * needle (ts->found). */
static int scan_parts(struct search_msg *sm, const struct mime_part *part,
		      struct text_scan *ts)
{
	if (ts->found)
		return 0;
	if (part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) {
		for (const struct mime_part *c = part->children;
		     c && !ts->found; c = c->next)
			if (scan_parts(sm, c, ts) < 0)
				return -1;
		return 0;
	}
	if (!part->type || strcasecmp(part->type, "text") != 0)
		return 0;

	scan_start(ts, part);
	uint64_t off = part->body_start;
	while (off < part->body_end && !ts->found) {
		const char *d;
		ssize_t r = store_body_peek(sm->body, off, &d, &sm->err);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		size_t len = (size_t)r;
		if (len > part->body_end - off)
			len = (size_t)(part->body_end - off);
		scan_feed(ts, d, len);
		off += len;
	}
	if (!ts->found)
		scan_finish(ts);
	return 0;
}

static int match_body(const struct search_key *k, struct search_msg *sm)
{
	struct text_scan ts = {.k = k};
	int r;

	if (load_tree(sm) < 0 || open_body(sm) < 0)
		return -1;
	r = scan_parts(sm, sm->tree, &ts);
	scan_release(&ts);
	return r < 0 ? -1 : ts.found;
}

bool search_text_part(const char *needle, const char *charset,
		      const char *encoding, const char *data, size_t n,
		      size_t slice)
{
	struct search_key *k = key_new(SK_BODY);
	struct mime_param cs = {(char *)"charset", (char *)charset};
	struct mime_part part = {0};
	struct text_scan ts = {.k = k};

	fold_needle(k, needle, strlen(needle));
	part.params = charset ? &cs : NULL;
	part.nparams = charset ? 1 : 0;
	part.encoding = (char *)encoding;
	scan_start(&ts, &part);
	for (size_t off = 0; off < n && !ts.found; off += slice)
		scan_feed(&ts, data + off, n - off < slice ? n - off : slice);
	if (!ts.found)
		scan_finish(&ts);
	scan_release(&ts);
	search_key_free(&k);
	return ts.found;
}

static int match_text(const struct search_key *k, struct search_msg *sm)
{
	int r = match_header(k, sm, NULL);

	if (r != 0)
		return r;
	return match_body(k, sm);
}

/* ---- dates --------------------------------------------------------------- */

static int64_t day_of(int64_t t, int tzoff)
{
	int64_t local = t + (int64_t)tzoff * 60;
	int64_t d = local / 86400;

	if (local % 86400 < 0)
		d--;
	return d * 86400;
}

/* date-time of RFC 5322 3.3, only the day: [day-of-week ","] day month
 * year; two-digit years as RFC 5322 4.3. Returns 0 or -1. */
static int parse_sent_day(const char *s, size_t n, int64_t *day_r)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	const char *p = s, *end = s + n;
	const char *comma = memchr(s, ',', n);
	unsigned day = 0, mon = 0;
	int year = 0, nd = 0;

	if (comma)
		p = comma + 1;
	while (p < end && !isdigit((unsigned char)*p))
		p++;
	while (p < end && isdigit((unsigned char)*p) && day < 100)
		day = day * 10 + (unsigned)(*p++ - '0');
	while (p < end && (*p == ' ' || *p == '\t' || *p == '-'))
		p++;
	if (end - p < 3)
		return -1;
	for (unsigned i = 0; i < 12; i++)
		if (strncasecmp(p, months + i * 3, 3) == 0)
			mon = i + 1;
	if (mon == 0)
		return -1;
	p += 3;
	while (p < end && !isdigit((unsigned char)*p))
		p++;
	while (p < end && isdigit((unsigned char)*p) && nd < 5) {
		year = year * 10 + (*p++ - '0');
		nd++;
	}
	if (nd == 2)
		year += year < 50 ? 2000 : 1900;
	else if (nd == 3)
		year += 1900;
	if (nd < 2 || day < 1 || day > 31 || year > 9999)
		return -1;
	*day_r = imapdate_days_from_civil(year, mon, day) * 86400;
	return 0;
}

static int sent_cb(const char *v, size_t n, void *arg)
{
	int64_t *d = arg;

	if (parse_sent_day(v, n, d) < 0)
		*d = -1;
	return 1; /* the first Date: field */
}

static int sent_day(struct search_msg *sm, int64_t *day_r)
{
	if (!sm->sent_loaded) {
		if (load_header(sm) < 0)
			return -1;
		sm->sent_day = -1;
		each_field(&sm->hdr, "Date", sent_cb, &sm->sent_day);
		sm->sent_loaded = true;
	}
	*day_r = sm->sent_day;
	return 0;
}

/* ---- matching -------------------------------------------------------------- */

static bool has_keyword(const char *list, const char *kw)
{
	size_t n = strlen(kw);

	while (list && *list) {
		size_t l = strcspn(list, " ");
		if (l == n && strncasecmp(list, kw, n) == 0)
			return true;
		list += l;
		while (*list == ' ')
			list++;
	}
	return false;
}

static int cmp_day(enum search_type t, int64_t have, int64_t want)
{
	switch (t) {
	case SK_BEFORE:
	case SK_SENTBEFORE:
	case SK_SAVEDBEFORE:
		return have < want;
	case SK_ON:
	case SK_SENTON:
	case SK_SAVEDON:
		return have == want;
	default:
		return have >= want;
	}
}

int search_match(const struct search_key *k, struct search_msg *sm)
{
	const struct store_msg *m = sm->m;
	int r;

	switch (k->type) {
	case SK_ALL:
		return 1;
	case SK_AND:
		for (const struct search_key *c = k->child; c; c = c->next) {
			r = search_match(c, sm);
			if (r <= 0)
				return r;
		}
		return 1;
	case SK_OR:
		r = search_match(k->child, sm);
		if (r != 0)
			return r;
		return search_match(k->child->next, sm);
	case SK_NOT:
		r = search_match(k->child, sm);
		return r < 0 ? -1 : !r;
	case SK_SEQ:
		return seqset_contains(&k->set, sm->msn);
	case SK_UID:
		return seqset_contains(&k->set, m->uid);
	case SK_DOLLAR:
		return sm->saved_uids && seqset_contains(sm->saved_uids, m->uid);
	case SK_FLAGS:
		return (m->flags & k->flags) == k->flags;
	case SK_UNFLAGS:
		return (m->flags & k->flags) == 0;
	case SK_KEYWORD:
		return has_keyword(m->keywords, k->str);
	case SK_UNKEYWORD:
		return !has_keyword(m->keywords, k->str);
	case SK_NEW:
		return sm->recent && !(m->flags & STORE_F_SEEN);
	case SK_OLD:
		return !sm->recent;
	case SK_RECENT:
		return sm->recent;
	case SK_BEFORE:
	case SK_ON:
	case SK_SINCE:
		/* RFC 9051 6.4.4: INTERNALDATE "disregarding time and
		 * timezone": the date as shown in its own zone */
		return cmp_day(k->type, day_of(m->internaldate, m->tzoff),
			       k->day);
	case SK_SAVEDBEFORE:
	case SK_SAVEDON:
	case SK_SAVEDSINCE:
		return cmp_day(k->type, day_of(m->savedate, 0), k->day);
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE: {
		int64_t d;
		if (sent_day(sm, &d) < 0)
			return -1;
		if (d < 0) /* no usable Date: the INTERNALDATE, as Dovecot */
			d = day_of(m->internaldate, m->tzoff);
		return cmp_day(k->type, d, k->day);
	}
	case SK_OLDER:
		return sm->now - m->internaldate > (int64_t)k->num;
	case SK_YOUNGER:
		return sm->now - m->internaldate <= (int64_t)k->num;
	case SK_LARGER:
		return m->size > k->num;
	case SK_SMALLER:
		return m->size < k->num;
	case SK_MODSEQ:
		return m->modseq >= k->num;
	case SK_HEADER:
		return match_header(k, sm, k->hdr);
	case SK_BODY:
		return match_body(k, sm);
	case SK_TEXT:
		return match_text(k, sm);
	}
	return 0;
}
