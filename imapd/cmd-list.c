/* cmd-list.c - LIST (RFC 9051 6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819
 * LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 3348 CHILDREN) and LSUB
 * (RFC 3501 6.3.9). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mutf7.h"
#include "session.h"
#include "write.h"
#include "xalloc.h"

#define PATTERN_MAX 1024

struct ent {
	struct store_mailbox mb; /* mb.name is the key */
	bool exists;
	bool subscribed;
	bool lsub_parent; /* LSUB: unsubscribed parent shown \Noselect */
};

struct listing {
	struct ent *e;
	size_t n, cap;
};

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->mb.name,
		      ((const struct ent *)b)->mb.name);
}

static struct ent *ent_find(struct listing *l, const char *name)
{
	struct ent key;

	snprintf(key.mb.name, sizeof(key.mb.name), "%s", name);
	return bsearch(&key, l->e, l->n, sizeof(*l->e), ent_cmp);
}

static struct ent *ent_push(struct listing *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->e = xrealloc(l->e, l->cap * sizeof(*l->e));
	}
	memset(&l->e[l->n], 0, sizeof(l->e[0]));
	return &l->e[l->n++];
}

/* Every mailbox and every subscription, sorted by name. */
static int load(struct store *st, struct listing *l, struct store_err *err)
{
	struct store_mailbox_iter *it = store_mailbox_iter_begin(st);
	struct store_sub_iter *si;
	struct store_mailbox mb;
	const char *name;
	size_t nmb;

	while (store_mailbox_iter_next(it, &mb)) {
		struct ent *e = ent_push(l);
		e->mb = mb;
		e->exists = true;
		e->subscribed = mb.subscribed;
	}
	if (store_mailbox_iter_end(&it, err) < 0)
		return -1;
	qsort(l->e, l->n, sizeof(*l->e), ent_cmp);
	nmb = l->n;
	si = store_subscription_iter_begin(st);
	while ((name = store_subscription_iter_next(si)) != NULL) {
		struct ent key, *e;
		snprintf(key.mb.name, sizeof(key.mb.name), "%s", name);
		e = bsearch(&key, l->e, nmb, sizeof(*l->e), ent_cmp);
		if (e) {
			e->subscribed = true;
			continue;
		}
		e = ent_push(l);
		snprintf(e->mb.name, sizeof(e->mb.name), "%s", name);
		e->subscribed = true;
	}
	store_subscription_iter_end(&si);
	qsort(l->e, l->n, sizeof(*l->e), ent_cmp);
	return 0;
}

/* Does any entry below name ("name/...") exist (want_sub false) or is
 * one subscribed (want_sub true)? Entries with that prefix are
 * contiguous in byte order. */
static bool has_children(const struct listing *l, const char *name,
			 bool want_sub)
{
	size_t nl = strlen(name), lo = 0, hi = l->n;
	char prefix[sizeof(l->e[0].mb.name) + 1];

	snprintf(prefix, sizeof(prefix), "%s%c", name, STORE_SEP);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(l->e[mid].mb.name, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < l->n; i++) {
		if (strncmp(l->e[i].mb.name, prefix, nl + 1) != 0)
			break;
		if (want_sub ? l->e[i].subscribed : l->e[i].exists)
			return true;
	}
	return false;
}

/* RFC 9051 6.3.9: "*" matches anything, "%" anything but the hierarchy
 * separator. Dynamic programming over (pattern, name): O(|p| * |n|), no
 * backtracking blow-up. */
static bool match(const char *p, const char *n)
{
	size_t ln = strlen(n);
	bool rows[2][sizeof(((struct store_mailbox *)0)->name) + 1];
	bool *prev = rows[0], *cur = rows[1];

	if (ln >= sizeof(rows[0]))
		return false;
	prev[0] = true;
	for (size_t j = 1; j <= ln; j++)
		prev[j] = false;
	for (; *p; p++) {
		char c = *p;
		cur[0] = (c == '*' || c == '%') && prev[0];
		for (size_t j = 1; j <= ln; j++) {
			if (c == '*')
				cur[j] = prev[j] || cur[j - 1];
			else if (c == '%')
				cur[j] = prev[j] ||
					 (cur[j - 1] && n[j - 1] != STORE_SEP);
			else
				cur[j] = prev[j - 1] && n[j - 1] == c;
		}
		bool *t = prev;
		prev = cur;
		cur = t;
	}
	return prev[ln];
}

/* A pattern or reference from the client, in store form: modified UTF-7
 * decoded (rev1; kept as is when it does not decode), separator
 * translated. Wildcards are ASCII and survive both. */
static char *pattern_arg(struct imap_cmd *cmd, const struct imap_arg *a)
{
	struct imap_session *s = cmd->s;
	const char *v;
	size_t n;
	char *r, sep = imap_separator(s);

	if (!imap_arg_list_mailbox(a, &v, &n) || n > PATTERN_MAX ||
	    memchr(v, '\0', n))
		return NULL;
	if (!imap_utf8(s)) {
		struct buf u = BUF_INIT;
		if (mutf7_decode(v, n, &u) == 0)
			r = imap_cmd_strndup(cmd, u.data ? u.data : "", u.len);
		else
			r = imap_cmd_strndup(cmd, v, n);
		buf_release(&u);
	} else {
		r = imap_cmd_strndup(cmd, v, n);
	}
	if (sep != STORE_SEP) {
		for (char *p = r; *p; p++) {
			if (*p == sep)
				*p = STORE_SEP;
			else if (*p == STORE_SEP)
				*p = sep; /* cannot match a store name */
		}
	}
	return r;
}

enum {
	SEL_SUBSCRIBED = 1u << 0,
	SEL_RECURSIVEMATCH = 1u << 1,
	SEL_SPECIAL_USE = 1u << 2,
	RET_SUBSCRIBED = 1u << 3,
	RET_CHILDREN = 1u << 4,
	RET_SPECIAL_USE = 1u << 5,
	RET_STATUS = 1u << 6,
	LSUB = 1u << 7,
};

struct list_req {
	unsigned opts;
	unsigned status_atts;
	char **pats;
	size_t npats;
};

void imap_w_special_use(struct buf *b, unsigned su)
{
	static const char *const names[] = {"\\Drafts", "\\Sent", "\\Trash",
					    "\\Junk", "\\Archive", "\\All",
					    "\\Flagged"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (su & (1u << i))
			buf_printf(b, " %s", names[i]);
}

static void list_one(struct imap_session *s, const struct listing *l,
		     const struct ent *e, const struct list_req *rq,
		     bool childinfo)
{
	struct buf *b = imap_reply_begin(s);
	size_t start;

	buf_append_str(b, rq->opts & LSUB ? "LSUB (" : "LIST (");
	start = b->len;
	if (!e->exists || e->lsub_parent)
		buf_append_str(b, rq->opts & LSUB ? " \\Noselect"
						  : " \\NonExistent");
	if (e->subscribed && (rq->opts & (SEL_SUBSCRIBED | RET_SUBSCRIBED)))
		buf_append_str(b, " \\Subscribed");
	if (e->exists && !(rq->opts & LSUB))
		buf_append_str(b, has_children(l, e->mb.name, false)
					  ? " \\HasChildren"
					  : " \\HasNoChildren");
	if (e->exists)
		imap_w_special_use(b, e->mb.special_use);
	if (b->len > start) {
		/* drop the leading space */
		memmove(b->data + start, b->data + start + 1,
			b->len - start - 1);
		buf_truncate(b, b->len - 1);
	}
	buf_printf(b, ") \"%c\" ", imap_separator(s));
	imap_w_mailbox_name(s, b, e->mb.name);
	if (childinfo)
		buf_append_str(b, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	imap_reply_end(s);
	if ((rq->opts & RET_STATUS) && e->exists)
		imap_status_reply(s, &e->mb, rq->status_atts);
}

static bool matches_any(const struct list_req *rq, const char *name)
{
	for (size_t i = 0; i < rq->npats; i++)
		if (match(rq->pats[i], name))
			return true;
	return false;
}

/* Decides whether e is listed, and with CHILDINFO. */
static bool wanted(const struct listing *l, const struct ent *e,
		   const struct list_req *rq, bool *childinfo_r)
{
	*childinfo_r = false;
	if (!matches_any(rq, e->mb.name))
		return false;
	if ((rq->opts & SEL_SPECIAL_USE) && !e->mb.special_use)
		return false;
	if (rq->opts & (SEL_SUBSCRIBED | LSUB)) {
		if (e->subscribed || e->lsub_parent)
			return true;
		if ((rq->opts & SEL_RECURSIVEMATCH) &&
		    has_children(l, e->mb.name, true)) {
			*childinfo_r = true;
			return true;
		}
		return false;
	}
	return e->exists;
}

/* RFC 3501 6.3.9: "if "foo/bar" is subscribed but "foo" is not. A "%"
 * wildcard to LSUB must return foo, not foo/bar, in the LSUB response,
 * and it MUST be flagged with the \Noselect attribute." So: each
 * unsubscribed ancestor of a subscribed name that the pattern does not
 * match, where the ancestor itself matches, is listed \Noselect. */
static void add_lsub_parents(struct listing *l, const struct list_req *rq)
{
	size_t n = l->n;
	bool added = false;

	for (size_t i = 0; i < n; i++) {
		char name[sizeof(l->e[0].mb.name)];
		if (!l->e[i].subscribed || matches_any(rq, l->e[i].mb.name))
			continue;
		snprintf(name, sizeof(name), "%s", l->e[i].mb.name);
		for (char *p = strchr(name, STORE_SEP); p;
		     p = strchr(p + 1, STORE_SEP)) {
			*p = '\0';
			if (matches_any(rq, name)) {
				struct ent key, *e;
				snprintf(key.mb.name, sizeof(key.mb.name),
					 "%s", name);
				/* the loaded names are sorted; few are added */
				e = bsearch(&key, l->e, n, sizeof(*l->e),
					    ent_cmp);
				for (size_t k = n; k < l->n && !e; k++)
					if (strcmp(l->e[k].mb.name, name) == 0)
						e = &l->e[k];
				if (!e) {
					e = ent_push(l);
					snprintf(e->mb.name, sizeof(e->mb.name),
						 "%s", name);
					added = true;
				}
				if (!e->subscribed)
					e->lsub_parent = true;
			}
			*p = STORE_SEP;
		}
	}
	if (added)
		qsort(l->e, l->n, sizeof(*l->e), ent_cmp);
}

static enum imap_cmd_result run_list(struct imap_cmd *cmd, const char *ref,
				     struct list_req *rq)
{
	struct imap_session *s = cmd->s;
	struct listing l = {0};
	struct store_err err = {0};
	bool ci;

	/* RFC 9051 6.3.9: the reference is prefixed to each pattern; an
	 * empty pattern asks for the delimiter and root */
	if (rq->npats == 1 && rq->pats[0][0] == '\0') {
		imap_reply_untagged(s, "%s (\\Noselect) \"%c\" \"\"",
				    rq->opts & LSUB ? "LSUB" : "LIST",
				    imap_separator(s));
		return imap_reply_ok(cmd, NULL, "%s completed", cmd->name);
	}
	for (size_t i = 0; i < rq->npats; i++) {
		char *p = rq->pats[i];
		if (ref[0]) {
			size_t a = strlen(ref), b = strlen(p);
			char *q = imap_cmd_alloc(cmd, a + b + 1);
			memcpy(q, ref, a);
			memcpy(q + a, p, b + 1);
			p = q;
		}
		/* INBOX is case-insensitive */
		if (strncasecmp(p, "INBOX", 5) == 0 &&
		    (p[5] == '\0' || p[5] == STORE_SEP)) {
			p = imap_cmd_strdup(cmd, p);
			memcpy(p, "INBOX", 5);
		}
		rq->pats[i] = p;
	}
	if (load(s->store, &l, &err) < 0) {
		free(l.e);
		return imap_reply_store_err(cmd, &err, cmd->name);
	}
	if (rq->opts & LSUB)
		add_lsub_parents(&l, rq);
	/* INBOX first, then the others in name order */
	struct ent *inbox = ent_find(&l, "INBOX");
	if (inbox && wanted(&l, inbox, rq, &ci))
		list_one(s, &l, inbox, rq, ci);
	for (size_t i = 0; i < l.n; i++) {
		if (&l.e[i] == inbox)
			continue;
		if (wanted(&l, &l.e[i], rq, &ci))
			list_one(s, &l, &l.e[i], rq, ci);
	}
	free(l.e);
	return imap_reply_ok(cmd, NULL, "%s completed", cmd->name);
}

static int parse_opts(const struct imap_arg *a, bool select, bool rev2,
		      unsigned *opts, unsigned *status_atts)
{
	struct imap_arg *l;
	size_t n;

	if (!imap_arg_list(a, &l, &n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (select && imap_arg_atom_eq(&l[i], "SUBSCRIBED"))
			*opts |= SEL_SUBSCRIBED;
		else if (select && imap_arg_atom_eq(&l[i], "REMOTE"))
			; /* no remote mailboxes here */
		else if (select && imap_arg_atom_eq(&l[i], "RECURSIVEMATCH"))
			*opts |= SEL_RECURSIVEMATCH;
		else if (select && imap_arg_atom_eq(&l[i], "SPECIAL-USE"))
			*opts |= SEL_SPECIAL_USE;
		else if (!select && imap_arg_atom_eq(&l[i], "SUBSCRIBED"))
			*opts |= RET_SUBSCRIBED;
		else if (!select && imap_arg_atom_eq(&l[i], "CHILDREN"))
			*opts |= RET_CHILDREN;
		else if (!select && imap_arg_atom_eq(&l[i], "SPECIAL-USE"))
			*opts |= RET_SPECIAL_USE;
		else if (!select && imap_arg_atom_eq(&l[i], "STATUS") &&
			 i + 1 < n) {
			struct imap_arg *sl;
			size_t sn;
			if (!imap_arg_list(&l[i + 1], &sl, &sn) || sn == 0 ||
			    imap_status_atts(sl, sn, status_atts) < 0)
				return -1;
			/* RFC 9051 6.3.11: no RECENT in IMAP4rev2 */
			if (rev2 && (*status_atts & IMAP_STATUS_RECENT))
				return -1;
			*opts |= RET_STATUS;
			i++;
		} else
			return -1;
	}
	return 0;
}

/* RFC 9051 6.3.9, RFC 5258 6:
 *   list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
 *          [SP list-return-opts]
 *   list-select-opts = "(" [list-select-option *(SP list-select-option)] ")"
 *   mbox-or-pat = list-mailbox / patterns
 *   patterns = "(" list-mailbox *(SP list-mailbox) ")"
 *   list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
 * Select options SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE; return
 * options SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS (RFC 5819). Children
 * and special-use attributes are always sent (RFC 5258 allows it). */
enum imap_cmd_result imap_cmd_list(struct imap_cmd *cmd)
{
	struct list_req rq = {0};
	const struct imap_arg *a = cmd->args;
	size_t n = cmd->nargs, i = 0;
	const char *ref;

	if (n >= 1 && a[0].type == IMAP_ARG_LIST) {
		if (parse_opts(&a[0], true, imap_rev2(cmd->s), &rq.opts, &rq.status_atts) < 0)
			return imap_reply_bad(cmd, "Invalid LIST select options");
		if ((rq.opts & SEL_RECURSIVEMATCH) &&
		    !(rq.opts & (SEL_SUBSCRIBED | SEL_SPECIAL_USE)))
			return imap_reply_bad(cmd, "RECURSIVEMATCH alone");
		i++;
	}
	if (n < i + 2)
		return imap_reply_bad(cmd, "Usage: LIST reference pattern");
	ref = pattern_arg(cmd, &a[i]);
	if (!ref)
		return imap_reply_bad(cmd, "Invalid reference");
	i++;
	if (a[i].type == IMAP_ARG_LIST) {
		struct imap_arg *l;
		size_t ln;
		imap_arg_list(&a[i], &l, &ln);
		if (ln == 0)
			return imap_reply_bad(cmd, "Empty pattern list");
		rq.pats = imap_cmd_alloc(cmd, ln * sizeof(char *));
		for (size_t k = 0; k < ln; k++)
			if (!(rq.pats[rq.npats++] = pattern_arg(cmd, &l[k])))
				return imap_reply_bad(cmd, "Invalid pattern");
	} else {
		rq.pats = imap_cmd_alloc(cmd, sizeof(char *));
		rq.pats[0] = pattern_arg(cmd, &a[i]);
		rq.npats = 1;
		if (!rq.pats[0])
			return imap_reply_bad(cmd, "Invalid pattern");
	}
	i++;
	if (i < n) {
		if (i + 2 != n || !imap_arg_atom_eq(&a[i], "RETURN") ||
		    parse_opts(&a[i + 1], false, imap_rev2(cmd->s), &rq.opts, &rq.status_atts) < 0)
			return imap_reply_bad(cmd, "Invalid LIST return options");
	}
	return run_list(cmd, ref, &rq);
}

/* RFC 3501 6.3.9: lsub = "LSUB" SP mailbox SP list-mailbox
 * The subscribed names matching; \Noselect for names that do not exist.
 * (Deprecated by RFC 9051 but still used by rev1 clients.) */
enum imap_cmd_result imap_cmd_lsub(struct imap_cmd *cmd)
{
	struct list_req rq = {0};
	const char *ref;

	if (cmd->nargs != 2)
		return imap_reply_bad(cmd, "Usage: LSUB reference pattern");
	rq.opts = LSUB;
	ref = pattern_arg(cmd, &cmd->args[0]);
	rq.pats = imap_cmd_alloc(cmd, sizeof(char *));
	rq.pats[0] = pattern_arg(cmd, &cmd->args[1]);
	rq.npats = 1;
	if (!ref || !rq.pats[0])
		return imap_reply_bad(cmd, "Invalid pattern");
	return run_list(cmd, ref, &rq);
}
