/* mailbox-view.c - the selected mailbox's MSN -> UID array and the
 * untagged updates (RFC 9051 7.4.1 EXISTS, 7.5.1 EXPUNGE, 7.5.2 FETCH;
 * RFC 7162 3.2.10 VANISHED). See mailbox-view.h. */
#include "mailbox-view.h"

#include <stdlib.h>
#include <string.h>

#include "seqset.h"
#include "session.h"
#include "write.h"
#include "xalloc.h"

static void push_uid(struct imap_view *v, uint32_t uid)
{
	if (v->count == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->uids = xrealloc(v->uids, (size_t)v->cap * sizeof(*v->uids));
	}
	v->uids[v->count++] = uid;
}

int imap_view_open(struct imap_view *v, struct store *st,
		   const struct store_mailbox *mb, bool read_only,
		   uint32_t recent_from, struct store_err *err)
{
	memset(v, 0, sizeof(*v));
	v->mailbox_id = mb->id;
	snprintf(v->name, sizeof(v->name), "%s", mb->name);
	v->read_only = read_only;
	v->uidvalidity = mb->uidvalidity;
	v->modseq = mb->highestmodseq;
	v->uidnext = mb->uidnext;
	v->recent_lo = recent_from ? recent_from : mb->uidnext;
	v->recent_hi = mb->uidnext;
	if (store_uids_get(st, mb->id, &v->uids, &v->count, err) < 0) {
		imap_view_close(v);
		return -1;
	}
	v->cap = v->count;
	v->recent_reported = imap_view_recent(v);
	return 0;
}

void imap_view_close(struct imap_view *v)
{
	store_watch_remove(&v->watch);
	free(v->uids);
	memset(v, 0, sizeof(*v));
}

uint32_t imap_view_msn(const struct imap_view *v, uint32_t uid)
{
	uint32_t lo = 0, hi = v->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->count && v->uids[lo] == uid ? lo + 1 : 0;
}

bool imap_view_is_recent(const struct imap_view *v, uint32_t uid)
{
	return uid >= v->recent_lo && uid < v->recent_hi;
}

uint32_t imap_view_recent(const struct imap_view *v)
{
	uint32_t n = 0;

	/* the recent UIDs are the tail of the array */
	for (uint32_t i = v->count; i > 0 && v->uids[i - 1] >= v->recent_lo;
	     i--)
		if (v->uids[i - 1] < v->recent_hi)
			n++;
	return n;
}

/* Removes the UIDs expunged since the view's modseq; returns 0. */
static void sync_expunges(struct imap_session *s, struct imap_view *v)
{
	struct store_expunged_iter *it;
	struct seqset gone = SEQSET_INIT;
	uint32_t uid;
	uint64_t ms;
	bool qresync = (s->enabled & IMAP_ENABLED_QRESYNC) != 0;

	it = store_expunged_iter_begin(s->store, v->mailbox_id, v->modseq);
	while (store_expunged_iter_next(it, &uid, &ms)) {
		uint32_t msn = imap_view_msn(v, uid);
		if (msn == 0)
			continue;
		if (qresync) {
			seqset_add(&gone, uid, uid);
		} else {
			/* RFC 9051 7.5.1: each EXPUNGE renumbers the rest */
			imap_reply_untagged(s, "%u EXPUNGE", msn);
		}
		memmove(&v->uids[msn - 1], &v->uids[msn],
			(size_t)(v->count - msn) * sizeof(*v->uids));
		v->count--;
	}
	store_expunged_iter_end(&it);
	imap_reply_vanished(s, &gone, false);
	seqset_release(&gone);
}

void imap_reply_vanished(struct imap_session *s, struct seqset *gone,
			 bool earlier)
{
	struct buf *b;

	if (!gone->n)
		return;
	seqset_resolve(gone, UINT32_MAX, true);
	b = imap_reply_begin(s);
	buf_append_str(b, earlier ? "VANISHED (EARLIER) " : "VANISHED ");
	seqset_write(gone, b);
	imap_reply_end(s);
}

int imap_view_sync(struct imap_session *s, bool allow_expunge)
{
	struct imap_view *v = &s->view;
	struct store_mailbox mb;
	struct store_err err = {0};
	struct store_msg_iter *it;
	struct store_msg m;
	uint32_t last = v->count ? v->uids[v->count - 1] : 0;
	uint32_t old_count = v->count;
	bool rev1 = !imap_rev2(s);
	bool condstore = (s->enabled & (IMAP_ENABLED_CONDSTORE |
					IMAP_ENABLED_QRESYNC)) != 0;

	if (!v->mailbox_id || !s->store)
		return 0;
	if (store_mailbox_get_by_id(s->store, v->mailbox_id, &mb, &err) < 0)
		return err.code == STORE_ERR_NOTFOUND ? -1 : 0;
	if (mb.uidvalidity != v->uidvalidity)
		return -1;
	if (mb.highestmodseq == v->modseq && mb.uidnext == v->uidnext)
		return 0;
	if (!allow_expunge)
		return 0; /* everything waits for the next command */

	sync_expunges(s, v);
	/* new messages: EXISTS (and RECENT for rev1) */
	it = store_msg_iter_begin(s->store, v->mailbox_id, last + 1,
				  UINT32_MAX, 0);
	while (store_msg_iter_next(it, &m))
		push_uid(v, m.uid);
	(void)store_msg_iter_end(&it, &err);
	if (v->count != old_count || mb.uidnext != v->uidnext)
		imap_reply_untagged(s, "%u EXISTS", v->count);
	if (rev1) {
		uint32_t r = imap_view_recent(v);
		if (r != v->recent_reported || v->count != old_count) {
			imap_reply_untagged(s, "%u RECENT", r);
			v->recent_reported = r;
		}
	}
	/* flag changes of the messages the client knew (RFC 9051 7.5.2) */
	if (last > 0) {
		it = store_msg_iter_begin(s->store, v->mailbox_id, 1, last,
					  v->modseq);
		while (store_msg_iter_next(it, &m)) {
			uint32_t msn = imap_view_msn(v, m.uid);
			if (msn == 0)
				continue;
			struct buf *b = imap_reply_begin(s);
			buf_printf(b, "%u FETCH (UID %u FLAGS ", msn, m.uid);
			imap_w_flag_list(b, m.flags,
					 rev1 && imap_view_is_recent(v, m.uid),
					 m.keywords);
			if (condstore)
				buf_printf(b, " MODSEQ (%llu)",
					   (unsigned long long)m.modseq);
			buf_append_c(b, ')');
			imap_reply_end(s);
		}
		(void)store_msg_iter_end(&it, &err);
	}
	v->modseq = mb.highestmodseq;
	v->uidnext = mb.uidnext;
	return 0;
}
