/* cmd-notify.c - NOTIFY (RFC 5465): events for the selected mailbox and
 * for other mailboxes, sent whenever no command is in progress.
 *
 * Source of events: the store's change feed (one watch per session on the
 * shared store handle; no polling). Each change round marks the session
 * dirty; the events are computed when they may be sent (no command in
 * progress, or IDLE: RFC 5465 4), by comparing what the client was told
 * with the store:
 *   - the selected mailbox: the view (mailbox-view.c) sends EXISTS,
 *     EXPUNGE/VANISHED and FETCH FLAGS as for IDLE; MessageNew's fetch-att
 *     list gives one more FETCH per new message (RFC 5465 5.2).
 *   - other mailboxes: store_mailboxes_changed(since the last MODSEQ
 *     looked at) names the mailboxes whose messages changed; for each one
 *     a filter matches, an untagged STATUS (RFC 5465 5.1-5.3).
 *   - MailboxName and SubscriptionChange (RFC 5465 5.4, 5.5): the
 *     mailbox list (id -> name; ids survive renames) and the subscription
 *     list are compared with the last ones seen; each difference is an
 *     untagged LIST (OLDNAME for renames, RFC 5465 5.4).
 * Because events are computed from state, a burst of changes coalesces:
 * what a session owes never grows beyond one line per mailbox. When the
 * output queue is full (the client does not read) nothing more is queued
 * until it drains; if it stays full over NOTIFY_MAX_MISSED change rounds,
 * the session gets "* OK [NOTIFICATIONOVERFLOW]" and NOTIFY is off, as
 * after NOTIFY NONE (RFC 5465 3.1, 6).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "changes.h"
#include "imapdate.h"
#include "session.h"
#include "write.h"
#include "xalloc.h"

/* Change rounds a blocked session may miss before NOTIFICATIONOVERFLOW. */
#define NOTIFY_MAX_MISSED 256
/* Mailbox names in one NOTIFY SET (a client-caused bound on memory). */
#define NOTIFY_MAX_NAMES 1000

enum {
	EV_MESSAGE_NEW = 1u << 0,
	EV_MESSAGE_EXPUNGE = 1u << 1,
	EV_FLAG_CHANGE = 1u << 2,
	EV_ANNOTATION_CHANGE = 1u << 3,
	EV_MAILBOX_NAME = 1u << 4,
	EV_SUBSCRIPTION_CHANGE = 1u << 5,
	EV_MAILBOX_METADATA_CHANGE = 1u << 6,
	EV_SERVER_METADATA_CHANGE = 1u << 7,
};
#define EV_MESSAGE (EV_MESSAGE_NEW | EV_MESSAGE_EXPUNGE | EV_FLAG_CHANGE)
/* No METADATA (RFC 5464) and no ANNOTATE (RFC 5257) here. */
#define EV_UNSUPPORTED                                                      \
	(EV_ANNOTATION_CHANGE | EV_MAILBOX_METADATA_CHANGE |                \
	 EV_SERVER_METADATA_CHANGE)

static const char *const event_names[] = {
	"MessageNew",  "MessageExpunge",     "FlagChange",
	"AnnotationChange", "MailboxName", "SubscriptionChange",
	"MailboxMetadataChange", "ServerMetadataChange",
};

/* The fetch-atts MessageNew may carry (RFC 5465 5.2): the message's
 * metadata, which one store read gives. */
enum fetch_att {
	FA_UID,
	FA_FLAGS,
	FA_INTERNALDATE,
	FA_RFC822_SIZE,
	FA_MODSEQ,
	FA_EMAILID,
	FA_THREADID,
	FA_SAVEDATE,
};
static const char *const fetch_names[] = {
	"UID",	   "FLAGS",   "INTERNALDATE", "RFC822.SIZE",
	"MODSEQ", "EMAILID", "THREADID",     "SAVEDATE",
};
#define FA_MAX 16

enum filter_kind {
	F_INBOXES,    /* treated as personal: LMTP delivers to any mailbox */
	F_PERSONAL,
	F_SUBSCRIBED,
	F_SUBTREE,
	F_MAILBOXES,
};

struct filter {
	enum filter_kind kind;
	unsigned events;
	char **names; /* store form; SUBTREE and MAILBOXES */
	size_t n;
};

/* What the client was last told of a mailbox (sorted by id). */
struct mbstate {
	int64_t id;
	uint32_t uidnext, messages;
	char *name; /* last name seen (MailboxName), or NULL */
	bool mark;
};

struct imap_notify {
	struct imap_session *s;
	struct store_watch *watch;
	bool dirty;           /* a change round not yet looked at */
	bool blocked;         /* output full: waiting for it to drain */
	unsigned missed;      /* change rounds while blocked */

	/* "selected" / "selected-delayed" (RFC 5465 6) */
	bool sel_set, sel_delayed;
	unsigned sel_events;
	enum fetch_att fetch[FA_MAX];
	size_t nfetch;
	int64_t sel_id;       /* the selection the fields below are about */
	uint32_t sel_uidvalidity;
	uint32_t sel_last_uid; /* MessageNew FETCH sent up to this UID */

	/* the other filters */
	struct filter *f;
	size_t nf;
	unsigned events;      /* union of f[].events */
	uint64_t modseq;      /* message changes up to here looked at */
	struct mbstate *mb;
	size_t nmb, cap;
	char **subs;          /* subscriptions last seen (sorted) */
	size_t nsubs;
	bool subs_loaded;
};

/* ---- state ------------------------------------------------------------ */

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void notify_free(struct imap_notify **np)
{
	struct imap_notify *n = *np;

	if (!n)
		return;
	*np = NULL;
	store_watch_remove(&n->watch);
	for (size_t i = 0; i < n->nf; i++)
		free_strv(n->f[i].names, n->f[i].n);
	free(n->f);
	for (size_t i = 0; i < n->nmb; i++)
		free(n->mb[i].name);
	free(n->mb);
	free_strv(n->subs, n->nsubs);
	free(n);
}

void imap_notify_free(struct imap_session *s)
{
	notify_free(&s->notify);
}

static struct mbstate *mb_find(struct imap_notify *n, int64_t id)
{
	size_t lo = 0, hi = n->nmb;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (n->mb[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n->nmb && n->mb[lo].id == id ? &n->mb[lo] : NULL;
}

/* Finds or inserts (zeroed: "empty, never heard of"; *fresh_r true) the
 * state of id. */
static struct mbstate *mb_get(struct imap_notify *n, int64_t id,
			      bool *fresh_r)
{
	struct mbstate *m = mb_find(n, id);
	size_t pos = 0;

	*fresh_r = m == NULL;
	if (m)
		return m;
	if (n->nmb == n->cap) {
		n->cap = n->cap ? n->cap * 2 : 16;
		n->mb = xrealloc(n->mb, n->cap * sizeof(*n->mb));
	}
	while (pos < n->nmb && n->mb[pos].id < id)
		pos++;
	memmove(&n->mb[pos + 1], &n->mb[pos], (n->nmb - pos) * sizeof(*n->mb));
	n->nmb++;
	m = &n->mb[pos];
	memset(m, 0, sizeof(*m));
	m->id = id;
	m->uidnext = 1;
	return m;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool subs_has(const struct imap_notify *n, const char *name)
{
	return n->subs &&
	       bsearch(&name, n->subs, n->nsubs, sizeof(char *), cmp_str);
}

/* Reads the subscription list (sorted) into *v_r. */
static size_t load_subs(struct store *st, char ***v_r)
{
	struct store_sub_iter *it = store_subscription_iter_begin(st);
	const char *name;
	char **v = NULL;
	size_t n = 0, cap = 0;

	while ((name = store_subscription_iter_next(it)) != NULL) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = xstrdup(name);
	}
	store_subscription_iter_end(&it);
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*v_r = v;
	return n;
}

/* ---- matching (RFC 5465 6: filter-mailboxes) -------------------------- */

static bool filter_matches(const struct imap_notify *n, const struct filter *f,
			   const char *name)
{
	switch (f->kind) {
	case F_INBOXES:
	case F_PERSONAL:
		return true;
	case F_SUBSCRIBED:
		return subs_has(n, name);
	case F_SUBTREE:
		for (size_t i = 0; i < f->n; i++) {
			size_t l = strlen(f->names[i]);
			if (strncmp(name, f->names[i], l) == 0 &&
			    (name[l] == '\0' || name[l] == STORE_SEP))
				return true;
		}
		return false;
	case F_MAILBOXES:
		for (size_t i = 0; i < f->n; i++)
			if (strcmp(name, f->names[i]) == 0)
				return true;
		return false;
	}
	return false;
}

/* The events wanted for a mailbox that is not the selected one: those of
 * every filter naming it. */
static unsigned events_for(const struct imap_notify *n, const char *name)
{
	unsigned ev = 0;

	for (size_t i = 0; i < n->nf; i++)
		if (filter_matches(n, &n->f[i], name))
			ev |= n->f[i].events;
	return ev;
}

static bool is_selected(const struct imap_session *s, int64_t id)
{
	return s->state == IMAP_STATE_SELECTED && s->view.mailbox_id == id;
}

/* ---- writing events --------------------------------------------------- */

/* RFC 5465 5.1-5.3: a non-selected mailbox's STATUS: MESSAGES UIDNEXT
 * UNSEEN, as Dovecot sends them; UIDVALIDITY too in the first one
 * (NOTIFY SET STATUS, RFC 5465 3.1) so the client can tell a recreated
 * mailbox; HIGHESTMODSEQ with CONDSTORE or when FlagChange is wanted (a
 * flag change need not move the counters). */
static void send_status(struct imap_session *s, const struct store_mailbox *mb,
			unsigned events, bool first)
{
	unsigned atts = IMAP_STATUS_MESSAGES | IMAP_STATUS_UIDNEXT |
			IMAP_STATUS_UNSEEN;

	if (first)
		atts |= IMAP_STATUS_UIDVALIDITY;
	if ((s->enabled & (IMAP_ENABLED_CONDSTORE | IMAP_ENABLED_QRESYNC)) ||
	    (events & EV_FLAG_CHANGE))
		atts |= IMAP_STATUS_HIGHESTMODSEQ;
	imap_status_reply(s, mb, atts);
}

/* RFC 5465 5.4, 5.5: mailbox-data LIST with attributes (written without
 * the parentheses) and, for a rename, RFC 5258 extended data OLDNAME. */
static void send_list(struct imap_session *s, const char *attrs,
		      const char *name, const char *oldname)
{
	struct buf *b = imap_reply_begin(s);

	buf_printf(b, "LIST (%s) \"%c\" ", attrs, imap_separator(s));
	imap_w_mailbox_name(s, b, name);
	if (oldname) {
		buf_append_str(b, " (\"OLDNAME\" (");
		imap_w_mailbox_name(s, b, oldname);
		buf_append_str(b, "))");
	}
	imap_reply_end(s);
}

/* RFC 5465 5.2: "* n FETCH (fetch-att values)" for a new message. */
static void send_new_fetch(struct imap_notify *n, uint32_t msn,
			   const struct store_msg *m)
{
	struct imap_session *s = n->s;
	struct buf *b = imap_reply_begin(s);

	buf_printf(b, "%u FETCH (", msn);
	for (size_t i = 0; i < n->nfetch; i++) {
		if (i)
			buf_append_c(b, ' ');
		buf_printf(b, "%s ", fetch_names[n->fetch[i]]);
		switch (n->fetch[i]) {
		case FA_UID:
			buf_printf(b, "%u", m->uid);
			break;
		case FA_FLAGS:
			imap_w_flag_list(b, m->flags,
					 !imap_rev2(s) &&
						 imap_view_is_recent(&s->view,
								     m->uid),
					 m->keywords);
			break;
		case FA_INTERNALDATE:
			buf_append_c(b, '"');
			imapdate_format_datetime(b, m->internaldate, m->tzoff);
			buf_append_c(b, '"');
			break;
		case FA_RFC822_SIZE:
			buf_printf(b, "%llu", (unsigned long long)m->size);
			break;
		case FA_MODSEQ:
			buf_printf(b, "(%llu)", (unsigned long long)m->modseq);
			break;
		case FA_EMAILID:
			buf_printf(b, "(%s)", m->emailid);
			break;
		case FA_THREADID:
			buf_printf(b, "(%s)", m->threadid);
			break;
		case FA_SAVEDATE:
			buf_append_c(b, '"');
			imapdate_format_datetime(b, m->savedate, 0);
			buf_append_c(b, '"');
			break;
		}
	}
	buf_append_c(b, ')');
	imap_reply_end(s);
}

/* ---- the selected mailbox --------------------------------------------- */

static uint32_t view_last(const struct imap_view *v)
{
	return v->count ? v->uids[v->count - 1] : 0;
}

/* Has a message the client knows been expunged since the view's sync? */
static bool expunge_pending(struct imap_session *s)
{
	struct store_expunged_iter *it;
	uint32_t uid;
	uint64_t ms;
	bool found = false;

	it = store_expunged_iter_begin(s->store, s->view.mailbox_id,
				       s->view.modseq);
	while (!found && store_expunged_iter_next(it, &uid, &ms))
		found = imap_view_msn(&s->view, uid) != 0;
	store_expunged_iter_end(&it);
	return found;
}

/* Returns -1 when the session was closed (mailbox gone). */
static int flush_selected(struct imap_notify *n)
{
	struct imap_session *s = n->s;
	struct imap_view *v = &s->view;

	if (s->state != IMAP_STATE_SELECTED || !v->mailbox_id) {
		n->sel_id = 0;
		return 0;
	}
	if (v->mailbox_id != n->sel_id || v->uidvalidity != n->sel_uidvalidity) {
		/* a new selection: what SELECT reported is not new */
		n->sel_id = v->mailbox_id;
		n->sel_uidvalidity = v->uidvalidity;
		n->sel_last_uid = view_last(v);
	}
	/* RFC 5465 6: "selected" sends the updates at once; with
	 * "selected-delayed" EXPUNGE waits for a command that allows it
	 * (and, as MSNs shift at the first one, so does what follows). */
	if (n->sel_set && (n->sel_events & EV_MESSAGE) &&
	    !(n->sel_delayed && expunge_pending(s))) {
		if (imap_view_sync(s, true) < 0) {
			log_info(&s->log, "selected mailbox vanished");
			imap_reply_untagged(s, "BYE Selected mailbox was "
					       "deleted or renamed");
			imap_close(s);
			return -1;
		}
	}
	if (n->nfetch && view_last(v) > n->sel_last_uid) {
		struct store_msg_iter *it;
		struct store_msg m;
		struct store_err err = {0};

		it = store_msg_iter_begin(s->store, v->mailbox_id,
					  n->sel_last_uid + 1, view_last(v), 0);
		while (store_msg_iter_next(it, &m)) {
			uint32_t msn = imap_view_msn(v, m.uid);
			if (msn)
				send_new_fetch(n, msn, &m);
		}
		(void)store_msg_iter_end(&it, &err);
	}
	n->sel_last_uid = view_last(v);
	return 0;
}

/* ---- other mailboxes -------------------------------------------------- */

/* RFC 5465 5.1-5.3: STATUS for each changed mailbox a filter names with
 * an event that happened. */
static void flush_messages(struct imap_notify *n)
{
	struct imap_session *s = n->s;
	struct store_mailbox *v;
	struct store_err err = {0};
	uint64_t top = n->modseq;
	size_t cnt;

	if (store_mailboxes_changed(s->store, n->modseq, &v, &cnt, &err) < 0) {
		log_error(&s->log, "NOTIFY: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		const struct store_mailbox *mb = &v[i];
		bool fresh;
		struct mbstate *m = mb_get(n, mb->id, &fresh);
		unsigned ev = 0;
		bool added = mb->uidnext > m->uidnext;
		uint32_t grew = added ? mb->uidnext - m->uidnext : 0;
		/* fewer than were there plus the new ones (UIDs are given
		 * out one by one, except by imports) */
		bool removed = (uint64_t)mb->messages <
			       (uint64_t)m->messages + grew;

		if (mb->highestmodseq > top)
			top = mb->highestmodseq;
		if (!is_selected(s, mb->id))
			ev = events_for(n, mb->name);
		if ((!fresh && (ev & EV_FLAG_CHANGE)) ||
		    (added && (ev & EV_MESSAGE_NEW)) ||
		    (removed && (ev & EV_MESSAGE_EXPUNGE)))
			send_status(s, mb, ev, false);
		m->uidnext = mb->uidnext;
		m->messages = mb->messages;
	}
	n->modseq = top;
	free(v);
}

/* A rename seen in this round (its subscription moves with it). */
struct renamed {
	char *from, *to;
};

/* RFC 5465 5.4: MailboxName. Compares the mailbox list with the names
 * last seen: new ids were created, missing ones deleted, ids with another
 * name renamed (RFC 5465 5.4: LIST with OLDNAME). */
static void flush_names(struct imap_notify *n, struct renamed **rn_r,
			size_t *nrn_r)
{
	struct imap_session *s = n->s;
	struct store_mailbox_iter *it = store_mailbox_iter_begin(s->store);
	struct store_mailbox mb;
	struct store_err err = {0};
	struct renamed *rn = NULL;
	size_t nrn = 0;
	bool fresh;

	for (size_t i = 0; i < n->nmb; i++)
		n->mb[i].mark = false;
	while (store_mailbox_iter_next(it, &mb)) {
		struct mbstate *m = mb_get(n, mb.id, &fresh);
		m->mark = true;
		if (m->name && strcmp(m->name, mb.name) == 0)
			continue;
		if (m->name) {
			if ((events_for(n, mb.name) | events_for(n, m->name)) &
			    EV_MAILBOX_NAME)
				send_list(s, "", mb.name, m->name);
			rn = xrealloc(rn, (nrn + 1) * sizeof(*rn));
			rn[nrn].from = m->name;
			rn[nrn].to = xstrdup(mb.name);
			nrn++;
		} else if (events_for(n, mb.name) & EV_MAILBOX_NAME) {
			send_list(s, "", mb.name, NULL);
		}
		m->name = xstrdup(mb.name);
	}
	if (store_mailbox_iter_end(&it, &err) < 0) {
		log_error(&s->log, "NOTIFY: %s", err.msg);
		*rn_r = rn;
		*nrn_r = nrn;
		return;
	}
	for (size_t i = 0; i < n->nmb; i++) {
		struct mbstate *m = &n->mb[i];
		if (m->mark || !m->name)
			continue;
		if (events_for(n, m->name) & EV_MAILBOX_NAME)
			send_list(s, "\\NonExistent", m->name, NULL);
		free(m->name);
		m->name = NULL;
	}
	*rn_r = rn;
	*nrn_r = nrn;
}

static bool renamed_has(const struct renamed *rn, size_t nrn,
			const char *name, bool to)
{
	for (size_t i = 0; i < nrn; i++)
		if (strcmp(to ? rn[i].to : rn[i].from, name) == 0)
			return true;
	return false;
}

/* RFC 5465 5.5: SubscriptionChange, "* LIST" with or without
 * \Subscribed; a subscription that moved with a renamed mailbox is part
 * of the MailboxName event. */
static void flush_subs(struct imap_notify *n, char **now, size_t nnow,
		       const struct renamed *rn, size_t nrn)
{
	struct imap_session *s = n->s;
	size_t i = 0, k = 0;

	while (i < n->nsubs || k < nnow) {
		int c = i == n->nsubs ? 1
			: k == nnow   ? -1
				      : strcmp(n->subs[i], now[k]);
		if (c == 0) {
			i++;
			k++;
		} else if (c < 0) {
			/* unsubscribed: matched against the old list */
			const char *name = n->subs[i++];
			if (!renamed_has(rn, nrn, name, false) &&
			    (events_for(n, name) & EV_SUBSCRIPTION_CHANGE))
				send_list(s, "", name, NULL);
		} else {
			const char *name = now[k++];
			char **old = n->subs;
			size_t nold = n->nsubs;
			unsigned ev;
			/* subscribed: matched against the new list */
			n->subs = now;
			n->nsubs = nnow;
			ev = events_for(n, name);
			n->subs = old;
			n->nsubs = nold;
			if (!renamed_has(rn, nrn, name, true) &&
			    (ev & EV_SUBSCRIPTION_CHANGE))
				send_list(s, "\\Subscribed", name, NULL);
		}
	}
}

static bool wants_subs(const struct imap_notify *n)
{
	if (n->events & EV_SUBSCRIPTION_CHANGE)
		return true;
	for (size_t i = 0; i < n->nf; i++)
		if (n->f[i].kind == F_SUBSCRIBED)
			return true;
	return false;
}

/* ---- when events go out ----------------------------------------------- */

/* RFC 5465 3, 4: events go out when no command is in progress, and
 * during IDLE. */
static bool may_send(const struct imap_session *s)
{
	if (!s->conn || s->closing || !(s->state & IMAP_STATES_AUTH))
		return false;
	if (!s->cmd)
		return s->busy == IMAP_IDLE_INPUT;
	return s->cmd->def && s->cmd->def->fn == imap_cmd_idle &&
	       s->cmd->line_fn;
}

static void overflow(struct imap_session *s)
{
	log_info(&s->log, "NOTIFY: client too far behind, notifications off");
	/* RFC 5465 3.1: NOTIFICATIONOVERFLOW, then as after NOTIFY NONE */
	imap_reply_untagged(s, "OK [NOTIFICATIONOVERFLOW] Too many "
			       "notifications pending; NOTIFY NONE is in "
			       "effect");
	notify_free(&s->notify);
}

void imap_notify_flush(struct imap_session *s)
{
	struct imap_notify *n = s->notify;
	struct renamed *rn = NULL;
	size_t nrn = 0;

	if (!n || !may_send(s))
		return;
	if (imap_output_full(s)) {
		/* the client does not read: wait for the output to drain
		 * (CONN_LOWAT calls here again) */
		n->blocked = true;
		return;
	}
	n->blocked = false;
	n->missed = 0;
	if (flush_selected(n) < 0 || !n->dirty || n->nf == 0) {
		if (s->notify)
			s->notify->dirty = false;
		return;
	}
	n->dirty = false;
	if (n->events & EV_MAILBOX_NAME)
		flush_names(n, &rn, &nrn);
	if (wants_subs(n)) {
		char **now;
		size_t nnow = load_subs(s->store, &now);
		if (n->subs_loaded && (n->events & EV_SUBSCRIPTION_CHANGE))
			flush_subs(n, now, nnow, rn, nrn);
		free_strv(n->subs, n->nsubs);
		n->subs = now;
		n->nsubs = nnow;
		n->subs_loaded = true;
	}
	for (size_t i = 0; i < nrn; i++) {
		free(rn[i].from); /* the old name, moved out of its mbstate */
		free(rn[i].to);
	}
	free(rn);
	if (n->events & EV_MESSAGE)
		flush_messages(n);
}

/* The store's change feed: any commit by anyone. */
static void notify_change(struct store *st, void *arg)
{
	struct imap_session *s = arg;
	struct imap_notify *n = s->notify;

	(void)st;
	if (!n)
		return;
	n->dirty = true;
	if (n->blocked && ++n->missed > NOTIFY_MAX_MISSED && s->conn &&
	    !s->closing) {
		overflow(s);
		return;
	}
	imap_notify_flush(s);
}

/* ---- NOTIFY SET ------------------------------------------------------- */

static int parse_event(const struct imap_arg *a, unsigned *ev_r)
{
	const char *w;

	if (!imap_arg_atom(a, &w))
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(event_names); i++) {
		if (strcasecmp(w, event_names[i]) == 0) {
			*ev_r = 1u << i;
			return 0;
		}
	}
	return -1;
}

static int parse_fetch_atts(struct imap_notify *n, const struct imap_arg *a,
			    const char **why_r)
{
	struct imap_arg *l;
	size_t cnt;

	if (!imap_arg_list(a, &l, &cnt) || cnt == 0) {
		*why_r = "Invalid fetch-att list";
		return -1;
	}
	for (size_t i = 0; i < cnt; i++) {
		size_t k;
		for (k = 0; k < ARRAY_SIZE(fetch_names); k++)
			if (imap_arg_atom_eq(&l[i], fetch_names[k]))
				break;
		if (k == ARRAY_SIZE(fetch_names)) {
			*why_r = "Unsupported fetch-att for MessageNew (UID "
				 "FLAGS INTERNALDATE RFC822.SIZE MODSEQ "
				 "EMAILID THREADID SAVEDATE work)";
			return -1;
		}
		if (n->nfetch < FA_MAX)
			n->fetch[n->nfetch++] = (enum fetch_att)k;
	}
	return 0;
}

/* events = ( "(" event *(SP event) ")" ) / "NONE"
 * event = message-event / mailbox-event / user-event / event-ext
 * message-event = ( "MessageNew" [SP "(" fetch-att *(SP fetch-att) ")" ] )
 *               / "MessageExpunge" / "FlagChange" / "AnnotationChange" */
static int parse_events(struct imap_notify *n, const struct imap_arg *a,
			bool selected, unsigned *ev_r, const char **why_r)
{
	struct imap_arg *l;
	size_t cnt;
	unsigned ev = 0, one;

	*why_r = "Invalid event list";
	if (imap_arg_atom_eq(a, "NONE")) {
		*ev_r = 0;
		return 0;
	}
	if (!imap_arg_list(a, &l, &cnt) || cnt == 0)
		return -1;
	for (size_t i = 0; i < cnt; i++) {
		if (parse_event(&l[i], &one) < 0) {
			*why_r = "Unknown event";
			return -1;
		}
		ev |= one;
		if (one == EV_MESSAGE_NEW && i + 1 < cnt &&
		    l[i + 1].type == IMAP_ARG_LIST) {
			/* RFC 5465 5.2: fetch-atts only make sense where
			 * FETCH can be sent: the selected mailbox */
			if (!selected) {
				*why_r = "MessageNew fetch-att is for the "
					 "selected mailbox only";
				return -1;
			}
			if (parse_fetch_atts(n, &l[++i], why_r) < 0)
				return -1;
		}
	}
	/* RFC 5465 5: MessageNew and MessageExpunge go together, and
	 * FlagChange/AnnotationChange need both */
	if ((ev & (EV_MESSAGE_NEW | EV_MESSAGE_EXPUNGE)) &&
	    (ev & (EV_MESSAGE_NEW | EV_MESSAGE_EXPUNGE)) !=
		    (EV_MESSAGE_NEW | EV_MESSAGE_EXPUNGE)) {
		*why_r = "MessageNew and MessageExpunge go together";
		return -1;
	}
	if ((ev & (EV_FLAG_CHANGE | EV_ANNOTATION_CHANGE)) &&
	    !(ev & EV_MESSAGE_NEW)) {
		*why_r = "FlagChange needs MessageNew and MessageExpunge";
		return -1;
	}
	*ev_r = ev;
	return 0;
}

/* one-or-more-mailbox = mailbox / many-mailboxes
 * many-mailboxes = "(" mailbox *(SP mailbox) ")" */
static int parse_names(struct imap_cmd *cmd, const struct imap_arg *a,
		       struct filter *f, const char **why_r)
{
	const struct imap_arg *l = a;
	struct imap_arg *ll;
	size_t cnt = 1;

	if (a->type == IMAP_ARG_LIST) {
		imap_arg_list(a, &ll, &cnt);
		l = ll;
		if (cnt == 0) {
			*why_r = "Empty mailbox list";
			return -1;
		}
	}
	if (cnt > NOTIFY_MAX_NAMES) {
		*why_r = "Too many mailbox names";
		return -1;
	}
	f->names = xcalloc(cnt, sizeof(char *));
	for (size_t i = 0; i < cnt; i++) {
		const char *name = imap_mailbox_arg(cmd, &l[i], why_r);
		if (!name)
			return -1;
		f->names[f->n++] = xstrdup(name);
	}
	return 0;
}

/* notify-set = "SET" [status-indicator] SP event-groups
 * status-indicator = SP "STATUS"
 * event-groups = event-group *(SP event-group)
 * event-group = "(" filter-mailboxes SP events ")"
 * filter-mailboxes = filter-mailboxes-selected / filter-mailboxes-other
 * filter-mailboxes-selected = "selected" / "selected-delayed"
 * filter-mailboxes-other = "inboxes" / "personal" / "subscribed" /
 *          ( "subtree" SP one-or-more-mailbox ) /
 *          ( "mailboxes" SP one-or-more-mailbox ) */
static int parse_set(struct imap_cmd *cmd, struct imap_notify *n,
		     const struct imap_arg *args, size_t nargs,
		     unsigned *all_r, const char **why_r)
{
	*all_r = 0;
	if (nargs == 0) {
		*why_r = "NOTIFY SET needs event groups";
		return -1;
	}
	n->f = xcalloc(nargs, sizeof(*n->f));
	for (size_t i = 0; i < nargs; i++) {
		struct imap_arg *g;
		size_t cnt;
		const char *kind;
		unsigned ev;

		*why_r = "Invalid event group";
		if (!imap_arg_list(&args[i], &g, &cnt) || cnt < 2 ||
		    !imap_arg_atom(&g[0], &kind))
			return -1;
		if (strcasecmp(kind, "selected") == 0 ||
		    strcasecmp(kind, "selected-delayed") == 0) {
			if (cnt != 2)
				return -1;
			if (n->sel_set) {
				*why_r = "Duplicate selected filter";
				return -1;
			}
			if (parse_events(n, &g[1], true, &ev, why_r) < 0)
				return -1;
			n->sel_set = true;
			n->sel_delayed = strcasecmp(kind, "selected") != 0;
			n->sel_events = ev;
			*all_r |= ev;
			continue;
		}
		struct filter *f = &n->f[n->nf++];
		size_t evpos = 1;
		if (strcasecmp(kind, "inboxes") == 0)
			f->kind = F_INBOXES;
		else if (strcasecmp(kind, "personal") == 0)
			f->kind = F_PERSONAL;
		else if (strcasecmp(kind, "subscribed") == 0)
			f->kind = F_SUBSCRIBED;
		else if (strcasecmp(kind, "subtree") == 0)
			f->kind = F_SUBTREE;
		else if (strcasecmp(kind, "mailboxes") == 0)
			f->kind = F_MAILBOXES;
		else {
			*why_r = "Unknown filter";
			return -1;
		}
		if (f->kind == F_SUBTREE || f->kind == F_MAILBOXES) {
			if (cnt != 3)
				return -1;
			if (parse_names(cmd, &g[1], f, why_r) < 0)
				return -1;
			evpos = 2;
		} else if (cnt != 2) {
			return -1;
		}
		if (parse_events(n, &g[evpos], false, &ev, why_r) < 0)
			return -1;
		f->events = ev;
		n->events |= ev;
		*all_r |= ev;
	}
	return 0;
}

/* NOTIFY SET STATUS (RFC 5465 3.1): a STATUS now for each mailbox with
 * message events (not the selected one). Also records what the client
 * knows from here on. */
static int notify_start(struct imap_notify *n, bool status,
			struct store_err *err)
{
	struct imap_session *s = n->s;
	struct store_mailbox *v;
	size_t cnt;

	if (store_mailboxes_changed(s->store, 0, &v, &cnt, err) < 0)
		return -1;
	for (size_t i = 0; i < cnt; i++) {
		bool fresh;
		struct mbstate *m = mb_get(n, v[i].id, &fresh);
		m->uidnext = v[i].uidnext;
		m->messages = v[i].messages;
		if (n->events & EV_MAILBOX_NAME)
			m->name = xstrdup(v[i].name);
		if (v[i].highestmodseq > n->modseq)
			n->modseq = v[i].highestmodseq;
	}
	if (wants_subs(n)) {
		n->nsubs = load_subs(s->store, &n->subs);
		n->subs_loaded = true;
	}
	for (size_t i = 0; status && i < cnt; i++) {
		unsigned ev = events_for(n, v[i].name);
		if (!is_selected(s, v[i].id) && (ev & EV_MESSAGE))
			send_status(s, &v[i], ev, true);
	}
	free(v);
	/* what is selected now is known to the client */
	if (s->state == IMAP_STATE_SELECTED) {
		n->sel_id = s->view.mailbox_id;
		n->sel_uidvalidity = s->view.uidvalidity;
		n->sel_last_uid = view_last(&s->view);
	}
	return 0;
}

/* RFC 5465 3.1:
 *   notify = "NOTIFY" SP (notify-set / notify-none)
 *   notify-none = "NONE"
 * A new SET replaces the previous one. Unsupported events (no METADATA,
 * no ANNOTATE here) are refused with NO [BADEVENT (...)] naming the
 * events we do support, and the previous setting stays. */
enum imap_cmd_result imap_cmd_notify(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct imap_notify *n;
	struct store_err err = {0};
	const char *why = NULL;
	unsigned all;
	bool status = false;
	size_t i = 1;

	if (cmd->nargs == 1 && imap_arg_atom_eq(&cmd->args[0], "NONE")) {
		notify_free(&s->notify);
		return imap_reply_ok(cmd, NULL, "NOTIFY completed");
	}
	if (cmd->nargs < 2 || !imap_arg_atom_eq(&cmd->args[0], "SET"))
		return imap_reply_bad(cmd, "Usage: NOTIFY SET [STATUS] "
					   "(filter events) ... / NOTIFY NONE");
	if (imap_arg_atom_eq(&cmd->args[1], "STATUS")) {
		status = true;
		i++;
	}
	n = xcalloc(1, sizeof(*n));
	n->s = s;
	if (parse_set(cmd, n, &cmd->args[i], cmd->nargs - i, &all, &why) < 0) {
		notify_free(&n);
		return imap_reply_bad(cmd, "%s", why);
	}
	if (all & EV_UNSUPPORTED) {
		/* RFC 5465 3.1: the BADEVENT code "MUST list names of all
		 * events supported by the server". */
		char code[200] = "BADEVENT (";
		bool first = true;
		for (size_t k = 0; k < ARRAY_SIZE(event_names); k++) {
			if (EV_UNSUPPORTED & (1u << k))
				continue;
			if (!first)
				strcat(code, " ");
			strcat(code, event_names[k]);
			first = false;
		}
		strcat(code, ")");
		notify_free(&n);
		return imap_reply_no(cmd, code, "Unsupported NOTIFY events");
	}
	if (notify_start(n, status, &err) < 0) {
		notify_free(&n);
		return imap_reply_store_err(cmd, &err, "NOTIFY");
	}
	notify_free(&s->notify);
	s->notify = n;
	n->watch = store_watch_add(s->store, notify_change, s);
	return imap_reply_ok(cmd, NULL, "NOTIFY completed");
}
