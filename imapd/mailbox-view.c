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

/* Array a of n elements of size bytes with capacity *cap: a, or a moved,
 * with room for one more. */
static void *grow(void *a, uint32_t n, uint32_t *cap, size_t size)
{
	if (n < *cap)
		return a;
	*cap = *cap ? *cap * 2 : 16;
	return xrealloc(a, (size_t)*cap * size);
}

static void push32(uint32_t **a, uint32_t *n, uint32_t *cap, uint32_t v)
{
	*a = grow(*a, *n, cap, sizeof(**a));
	(*a)[(*n)++] = v;
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

/* What changed in a mailbox since a view's state (its MODSEQ and last
 * UID): the mailbox's counters, and, once something changed, the UIDs
 * expunged since, the UIDs added after the last one and the flags changed
 * on the ones up to it. One session reads it for itself; during a feed
 * round (store_feed_round) the sessions in the same state share one read
 * of it, so an EXISTS for thousands of idling sessions costs the store's
 * queries once, not once per session. */
struct sync_flags {
	uint32_t uid, flags;
	uint64_t modseq;
	size_t kw; /* offset of its keywords in kw, or SIZE_MAX: none */
};

struct sync_read {
	uint64_t round;  /* the feed round it was read in; 0: not shared */
	int64_t mailbox_id;
	uint64_t since;  /* the view's modseq */
	uint32_t last;   /* the view's last UID */
	int rc;          /* 0; -1: the mailbox is gone; 1: read failed */
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	bool listed;     /* gone, added and changed were read */
	uint32_t *gone, ngone, cgone;
	uint32_t *added, nadded, cadded;
	struct sync_flags *changed;
	uint32_t nchanged, cchanged;
	struct buf kw;   /* keywords of changed, each NUL-terminated */
};

/* Lists bigger than this are freed, not kept for the next round. */
#define SYNC_KEEP 4096

static struct sync_read shared;

/* a, or NULL (freed, *cap 0) when it holds more than SYNC_KEEP. */
static void *trim(void *a, uint32_t *cap)
{
	if (*cap <= SYNC_KEEP)
		return a;
	free(a);
	*cap = 0;
	return NULL;
}

/* Empties r for another read, keeping small lists' memory. */
static void sync_read_reset(struct sync_read *r)
{
	r->gone = trim(r->gone, &r->cgone);
	r->added = trim(r->added, &r->cadded);
	r->changed = trim(r->changed, &r->cchanged);
	if (r->kw.cap > SYNC_KEEP * 16)
		buf_release(&r->kw);
	buf_reset(&r->kw);
	r->ngone = r->nadded = r->nchanged = 0;
	r->listed = false;
	r->round = 0;
}

static void sync_read_release(struct sync_read *r)
{
	free(r->gone);
	free(r->added);
	free(r->changed);
	buf_release(&r->kw);
	memset(r, 0, sizeof(*r));
}

/* The mailbox's counters (r->rc says whether it is still there). */
static void read_mailbox(struct store *st, struct sync_read *r)
{
	struct store_err err = {0};

	if (store_mailbox_state(st, r->mailbox_id, &r->uidvalidity,
				&r->uidnext, &r->highestmodseq, &err) < 0) {
		r->rc = err.code == STORE_ERR_NOTFOUND ? -1 : 1;
		return;
	}
	r->rc = 0;
}

/* The changes since r->since: UIDs expunged, UIDs after r->last, and
 * flag changes of UIDs up to r->last. A read that fails part way keeps
 * what it got; the next sync asks again from where the view then is. */
static void read_lists(struct store *st, struct sync_read *r)
{
	struct store_expunged_iter *ei;
	struct store_msg_iter *it;
	struct store_msg m;
	struct store_err err = {0};
	uint32_t uid;
	uint64_t ms;

	r->listed = true;
	ei = store_expunged_iter_begin(st, r->mailbox_id, r->since);
	while (store_expunged_iter_next(ei, &uid, &ms))
		push32(&r->gone, &r->ngone, &r->cgone, uid);
	store_expunged_iter_end(&ei);
	it = store_msg_iter_begin(st, r->mailbox_id, r->last + 1, UINT32_MAX,
				  0);
	while (store_msg_iter_next(it, &m))
		push32(&r->added, &r->nadded, &r->cadded, m.uid);
	(void)store_msg_iter_end(&it, &err);
	if (r->last == 0)
		return;
	it = store_msg_iter_begin(st, r->mailbox_id, 1, r->last, r->since);
	while (store_msg_iter_next(it, &m)) {
		struct sync_flags *f;

		r->changed = grow(r->changed, r->nchanged, &r->cchanged,
				  sizeof(*r->changed));
		f = &r->changed[r->nchanged++];
		f->uid = m.uid;
		f->flags = m.flags;
		f->modseq = m.modseq;
		f->kw = SIZE_MAX;
		if (m.keywords) {
			f->kw = r->kw.len;
			buf_append(&r->kw, m.keywords, strlen(m.keywords) + 1);
		}
	}
	(void)store_msg_iter_end(&it, &err);
}

/* RFC 9051 7.5.1 EXPUNGE (each renumbers the rest) or, with QRESYNC,
 * RFC 7162 3.2.10 VANISHED, for the gone UIDs still in the view. */
static void sync_expunges(struct imap_session *s, struct imap_view *v,
			  const struct sync_read *r)
{
	struct seqset gone = SEQSET_INIT;
	bool qresync = (s->enabled & IMAP_ENABLED_QRESYNC) != 0;

	for (uint32_t i = 0; i < r->ngone; i++) {
		uint32_t uid = r->gone[i];
		uint32_t msn = imap_view_msn(v, uid);

		if (msn == 0)
			continue;
		if (qresync)
			seqset_add(&gone, uid, uid);
		else
			imap_reply_untagged(s, "%u EXPUNGE", msn);
		memmove(&v->uids[msn - 1], &v->uids[msn],
			(size_t)(v->count - msn) * sizeof(*v->uids));
		v->count--;
	}
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

/* The read for v's state: the round's shared one when the store is
 * dispatching a feed round (read now if it is not yet for this state),
 * else *own, read for this sync alone. */
static struct sync_read *sync_read_for(struct imap_session *s,
				       struct imap_view *v,
				       struct sync_read *own)
{
	uint64_t round = store_feed_round(s->store);
	uint32_t last = v->count ? v->uids[v->count - 1] : 0;
	struct sync_read *r = own;

	if (round) {
		r = &shared;
		if (r->round == round && r->mailbox_id == v->mailbox_id &&
		    r->since == v->modseq && r->last == last)
			return r;
		sync_read_reset(r);
		r->round = round;
	}
	r->mailbox_id = v->mailbox_id;
	r->since = v->modseq;
	r->last = last;
	read_mailbox(s->store, r);
	return r;
}

static int sync_apply(struct imap_session *s, struct imap_view *v,
		      struct sync_read *r, bool allow_expunge)
{
	uint32_t old_count = v->count;
	bool rev1 = !imap_rev2(s);
	bool condstore = (s->enabled & (IMAP_ENABLED_CONDSTORE |
					IMAP_ENABLED_QRESYNC)) != 0;

	if (r->rc != 0)
		return r->rc < 0 ? -1 : 0;
	if (r->uidvalidity != v->uidvalidity)
		return -1;
	if (r->highestmodseq == v->modseq && r->uidnext == v->uidnext)
		return 0;
	if (!allow_expunge)
		return 0; /* everything waits for the next command */
	if (!r->listed)
		read_lists(s->store, r);

	sync_expunges(s, v, r);
	/* new messages: EXISTS (and RECENT for rev1) */
	for (uint32_t i = 0; i < r->nadded; i++)
		push32(&v->uids, &v->count, &v->cap, r->added[i]);
	if (v->count != old_count || r->uidnext != v->uidnext)
		imap_reply_untagged(s, "%u EXISTS", v->count);
	if (rev1) {
		uint32_t n = imap_view_recent(v);
		if (n != v->recent_reported || v->count != old_count) {
			imap_reply_untagged(s, "%u RECENT", n);
			v->recent_reported = n;
		}
	}
	/* flag changes of the messages the client knew (RFC 9051 7.5.2) */
	for (uint32_t i = 0; i < r->nchanged; i++) {
		const struct sync_flags *f = &r->changed[i];
		uint32_t msn = imap_view_msn(v, f->uid);
		struct buf *b;

		if (msn == 0)
			continue;
		b = imap_reply_begin(s);
		buf_printf(b, "%u FETCH (UID %u FLAGS ", msn, f->uid);
		imap_w_flag_list(b, f->flags,
				 rev1 && imap_view_is_recent(v, f->uid),
				 f->kw == SIZE_MAX ? NULL : r->kw.data + f->kw);
		if (condstore)
			buf_printf(b, " MODSEQ (%llu)",
				   (unsigned long long)f->modseq);
		buf_append_c(b, ')');
		imap_reply_end(s);
	}
	v->modseq = r->highestmodseq;
	v->uidnext = r->uidnext;
	return 0;
}

int imap_view_sync(struct imap_session *s, bool allow_expunge)
{
	struct imap_view *v = &s->view;
	struct sync_read own = {0};
	struct sync_read *r;
	int rc;

	if (!v->mailbox_id || !s->store)
		return 0;
	r = sync_read_for(s, v, &own);
	rc = sync_apply(s, v, r, allow_expunge);
	if (r == &own)
		sync_read_release(&own);
	return rc;
}
