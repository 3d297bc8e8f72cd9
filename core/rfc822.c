/* rfc822.c - address-list parsing (RFC 5322 3.4, 4.4), see rfc822.h.
 *
 * address-list = (address *("," address)) / obs-addr-list
 * address      = mailbox / group
 * mailbox      = name-addr / addr-spec
 * name-addr    = [display-name] angle-addr
 * angle-addr   = [CFWS] "<" [obs-route] addr-spec ">" [CFWS]
 * group        = display-name ":" [group-list] ";" [CFWS]
 * addr-spec    = local-part "@" domain
 */
#include "rfc822.h"
#include "buf.h"
#include "xalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MISSING_MAILBOX "MISSING_MAILBOX"
#define MISSING_DOMAIN "MISSING_DOMAIN"
#define SYNTAX_ERROR "SYNTAX_ERROR"

struct lexer {
	const char *p, *end;
	struct buf comment; /* content of the last comment skipped */
	bool bad;	    /* unterminated quoted string / literal */
	struct rfc822_addr *head, **tail;
	size_t count;
};

const char *rfc822_skip_cfws(const char *p, const char *end)
{
	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
		} else if (*p == '(') {
			int level = 0;

			for (; p < end; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				else if (*p == '(')
					level++;
				else if (*p == ')' && --level == 0) {
					p++;
					break;
				}
			}
		} else {
			break;
		}
	}
	return p;
}

/* Like rfc822_skip_cfws, remembering the text of the last comment. */
static void skip_cfws(struct lexer *lx)
{
	while (lx->p < lx->end) {
		const char *p = lx->p;

		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			lx->p++;
			continue;
		}
		if (*p != '(')
			break;
		{
			int level = 0;

			buf_reset(&lx->comment);
			for (; p < lx->end; p++) {
				if (*p == '\\' && p + 1 < lx->end) {
					p++;
					buf_append_c(&lx->comment, *p);
					continue;
				}
				if (*p == '(' && level++ == 0)
					continue;
				if (*p == ')' && --level == 0) {
					p++;
					break;
				}
				if (*p == '\r' || *p == '\n')
					continue;
				buf_append_c(&lx->comment, *p);
			}
			lx->p = p;
		}
	}
}

/* atext (RFC 5322 3.2.3), plus 8-bit bytes (broken mail, RFC 6532). */
static bool is_atext(unsigned char c, bool dot)
{
	if (c == '.')
		return dot;
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("()<>[]:;@\\,\"", c) == NULL;
}

/* quoted-string at lx->p: appends its content to out. */
static void quoted(struct lexer *lx, struct buf *out)
{
	const char *p = lx->p + 1;

	for (; p < lx->end && *p != '"'; p++) {
		if (*p == '\\' && p + 1 < lx->end)
			p++;
		if (*p == '\r' || *p == '\n')
			continue;
		buf_append_c(out, *p);
	}
	if (p >= lx->end)
		lx->bad = true;
	else
		p++;
	lx->p = p;
}

/* phrase = 1*word / obs-phrase: words (atoms with dots, quoted strings)
 * joined by one space. Returns false when there is none. */
static bool phrase(struct lexer *lx, struct buf *out)
{
	bool any = false;

	for (;;) {
		skip_cfws(lx);
		if (lx->p >= lx->end)
			break;
		if (*lx->p == '"') {
			if (any)
				buf_append_c(out, ' ');
			quoted(lx, out);
		} else if (is_atext((unsigned char)*lx->p, true)) {
			const char *s = lx->p;

			while (lx->p < lx->end &&
			       is_atext((unsigned char)*lx->p, true))
				lx->p++;
			if (any)
				buf_append_c(out, ' ');
			buf_append(out, s, (size_t)(lx->p - s));
		} else {
			break;
		}
		any = true;
	}
	return any;
}

/* local-part = dot-atom / quoted-string / obs-local-part: the words and
 * dots, CFWS dropped. */
static void local_part(struct lexer *lx, struct buf *out)
{
	for (;;) {
		skip_cfws(lx);
		if (lx->p >= lx->end)
			break;
		if (*lx->p == '"') {
			quoted(lx, out);
		} else if (is_atext((unsigned char)*lx->p, true)) {
			const char *s = lx->p;

			while (lx->p < lx->end &&
			       is_atext((unsigned char)*lx->p, true))
				lx->p++;
			buf_append(out, s, (size_t)(lx->p - s));
		} else {
			break;
		}
	}
}

/* domain = dot-atom / domain-literal / obs-domain */
static void domain(struct lexer *lx, struct buf *out)
{
	for (;;) {
		skip_cfws(lx);
		if (lx->p >= lx->end)
			break;
		if (*lx->p == '[') {
			const char *s = lx->p;

			while (lx->p < lx->end && *lx->p != ']') {
				if (*lx->p == '\\' && lx->p + 1 < lx->end)
					lx->p++;
				lx->p++;
			}
			if (lx->p >= lx->end) {
				lx->bad = true;
				buf_append(out, s, (size_t)(lx->p - s));
				break;
			}
			lx->p++;
			buf_append(out, s, (size_t)(lx->p - s));
		} else if (is_atext((unsigned char)*lx->p, true)) {
			const char *s = lx->p;

			while (lx->p < lx->end &&
			       is_atext((unsigned char)*lx->p, true))
				lx->p++;
			buf_append(out, s, (size_t)(lx->p - s));
		} else {
			break;
		}
	}
}

static char *take(struct buf *b)
{
	char *s;

	if (b->len == 0)
		return NULL;
	s = xstrndup(b->data, b->len);
	buf_reset(b);
	return s;
}

static void add(struct lexer *lx, char *name, char *route, char *mailbox,
		char *host)
{
	struct rfc822_addr *a;

	if (lx->count >= RFC822_MAX_ADDRS) {
		free(name);
		free(route);
		free(mailbox);
		free(host);
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->name = name;
	a->route = route;
	a->mailbox = mailbox;
	a->host = host;
	*lx->tail = a;
	lx->tail = &a->next;
	lx->count++;
}

/* addr-spec: local-part ["@" domain]; fills mailbox and host, with the
 * placeholders for missing pieces. */
static void addr_spec(struct lexer *lx, char **mailbox_r, char **host_r)
{
	struct buf b = BUF_INIT;

	local_part(lx, &b);
	*mailbox_r = take(&b);
	skip_cfws(lx);
	if (lx->p < lx->end && *lx->p == '@') {
		lx->p++;
		domain(lx, &b);
	}
	*host_r = take(&b);
	buf_release(&b);
	if (*mailbox_r == NULL)
		*mailbox_r = xstrdup(MISSING_MAILBOX);
	if (*host_r == NULL)
		*host_r = xstrdup(MISSING_DOMAIN);
}

/* angle-addr = "<" [obs-route] addr-spec ">"; lx->p is at '<'.
 * obs-route = obs-domain-list ":" ; obs-domain-list = "@" domain *("," ...) */
static void angle_addr(struct lexer *lx, char *name)
{
	struct buf route = BUF_INIT;
	char *mailbox, *host;

	lx->p++;
	skip_cfws(lx);
	if (lx->p < lx->end && (*lx->p == '@' || *lx->p == ',')) {
		const char *save = lx->p;

		while (lx->p < lx->end && (*lx->p == '@' || *lx->p == ',')) {
			if (*lx->p == ',') {
				lx->p++;
				skip_cfws(lx);
				continue;
			}
			if (route.len > 0)
				buf_append_c(&route, ',');
			buf_append_c(&route, '@');
			lx->p++;
			domain(lx, &route);
			skip_cfws(lx);
		}
		if (lx->p < lx->end && *lx->p == ':') {
			lx->p++;
		} else { /* not a route after all: "<@host>" */
			lx->p = save;
			buf_reset(&route);
		}
	}
	addr_spec(lx, &mailbox, &host);
	skip_cfws(lx);
	if (lx->p < lx->end && *lx->p == '>') {
		lx->p++;
	} else {
		free(host);
		host = xstrdup(SYNTAX_ERROR);
		/* resynchronise at the next '>' or ',' */
		while (lx->p < lx->end && *lx->p != '>' && *lx->p != ',')
			lx->p++;
		if (lx->p < lx->end && *lx->p == '>')
			lx->p++;
	}
	add(lx, name, take(&route), mailbox, host);
	buf_release(&route);
}

/* mailbox = name-addr / addr-spec. Returns false when nothing could be
 * read (the caller stops). */
static bool mailbox(struct lexer *lx, bool in_group, bool *group_r)
{
	const char *start = lx->p;
	struct buf name = BUF_INIT;
	bool have_name;

	*group_r = false;
	buf_reset(&lx->comment);
	have_name = phrase(lx, &name);
	skip_cfws(lx);
	if (lx->bad) {
		buf_release(&name);
		return false;
	}
	if (lx->p < lx->end && *lx->p == '<') {
		angle_addr(lx, take(&name));
	} else if (lx->p < lx->end && *lx->p == ':' && have_name &&
		   !in_group) {
		lx->p++;
		add(lx, NULL, NULL, take(&name), NULL);
		*group_r = true;
	} else {
		char *mb, *host, *cname = NULL;

		lx->p = start;
		buf_reset(&lx->comment);
		addr_spec(lx, &mb, &host);
		skip_cfws(lx);
		if (lx->comment.len > 0)
			cname = xstrndup(lx->comment.data, lx->comment.len);
		add(lx, cname, NULL, mb, host);
	}
	buf_release(&name);
	return !lx->bad;
}

struct rfc822_addr *rfc822_parse_addresses(const char *s, size_t n)
{
	struct lexer lx = {s, s + n, BUF_INIT, false, NULL, NULL, 0};
	bool in_group = false;

	lx.tail = &lx.head;
	skip_cfws(&lx);
	while (lx.p < lx.end) {
		bool group;

		skip_cfws(&lx);
		if (lx.p >= lx.end)
			break;
		if (*lx.p == ',') {
			/* an empty element before a ',' (Dovecot's shape) */
			lx.p++;
			add(&lx, NULL, NULL, xstrdup(MISSING_MAILBOX),
			    xstrdup(MISSING_DOMAIN));
			continue;
		}
		if (in_group && *lx.p == ';') {
			lx.p++;
			add(&lx, NULL, NULL, NULL, NULL);
			in_group = false;
			skip_cfws(&lx);
			if (lx.p < lx.end && *lx.p == ',')
				lx.p++; /* the separator after the group */
			continue;
		}
		if (!mailbox(&lx, in_group, &group)) {
			if (lx.bad && lx.count == 0)
				add(&lx, NULL, NULL, xstrdup(MISSING_MAILBOX),
				    xstrdup(MISSING_DOMAIN));
			break;
		}
		if (group) {
			in_group = true;
			continue;
		}
		skip_cfws(&lx);
		if (lx.p >= lx.end)
			break;
		if (*lx.p == ',') {
			lx.p++;
			continue;
		}
		if (in_group && *lx.p == ';')
			continue;
		break; /* junk after an address: stop */
	}
	if (in_group)
		add(&lx, NULL, NULL, NULL, NULL);
	buf_release(&lx.comment);
	return lx.head;
}

void rfc822_addr_free(struct rfc822_addr **list)
{
	struct rfc822_addr *a = *list, *next;

	*list = NULL;
	for (; a != NULL; a = next) {
		next = a->next;
		free(a->name);
		free(a->route);
		free(a->mailbox);
		free(a->host);
		free(a);
	}
}
