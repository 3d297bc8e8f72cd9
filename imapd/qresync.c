/* qresync.c - SELECT/EXAMINE (QRESYNC (...)) (RFC 7162 3.2.5). See
 * qresync.h. */
#include "qresync.h"

#include <string.h>

#include "write.h"

/* A UID set from the client: no "*" (RFC 7162 3.2.5: known-uids are
 * UIDs, "*" is not allowed). Returns 0, or -1 with *why_r. The resolved
 * ranges are copied into the command arena. */
static int parse_uidset(struct imap_cmd *cmd, const struct imap_arg *a,
			struct seqset *out, const char **why_r)
{
	struct seqset set = SEQSET_INIT;
	const char *s;

	if (!imap_arg_atom(a, &s) ||
	    seqset_parse(&set, a->str, a->len, 0, false, why_r) < 0) {
		*why_r = "Invalid QRESYNC known-uids";
		seqset_release(&set);
		return -1;
	}
	for (size_t i = 0; i < set.n; i++) {
		if (set.r[i].lo == SEQSET_STAR || set.r[i].hi == SEQSET_STAR) {
			*why_r = "\"*\" is not allowed in QRESYNC known-uids";
			seqset_release(&set);
			return -1;
		}
	}
	seqset_resolve(&set, UINT32_MAX, true);
	memset(out, 0, sizeof(*out));
	if (set.n) {
		out->r = imap_cmd_alloc(cmd, set.n * sizeof(*out->r));
		memcpy(out->r, set.r, set.n * sizeof(*out->r));
	}
	out->n = set.n;
	out->resolved = true;
	seqset_release(&set);
	return 0;
}

/* RFC 7162 3.2.5, 7:
 *   select-param =/ "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
 *                   [SP known-uids] [SP seq-match-data] ")"
 *   known-uids = sequence-set   ; UIDs, "*" not allowed
 *   seq-match-data = "(" known-sequence-set SP known-uid-set ")"
 *   mod-sequence-value = 1*DIGIT  ; 1 <= n <= 2^63-1
 * seq-match-data is checked for syntax only: our expunge history goes
 * back STORE_EXPUNGE_KEEP_DAYS, and below its horizon we answer from
 * known-uids (see imap_qresync_select). */
struct imap_qresync *imap_qresync_parse(struct imap_cmd *cmd,
					const struct imap_arg *a,
					const char **why_r)
{
	struct imap_qresync *q;
	struct imap_arg *l;
	size_t n, i = 2;
	uint64_t v;

	if (!(cmd->s->enabled & IMAP_ENABLED_QRESYNC)) {
		*why_r = "QRESYNC is not enabled (ENABLE QRESYNC first)";
		return NULL;
	}
	*why_r = "Invalid QRESYNC parameter";
	if (!imap_arg_list(a, &l, &n) || n < 2 || n > 4)
		return NULL;
	q = imap_cmd_alloc(cmd, sizeof(*q));
	memset(q, 0, sizeof(*q));
	if (!imap_arg_number(&l[0], UINT32_MAX, &v) || v == 0)
		return NULL;
	q->uidvalidity = (uint32_t)v;
	if (!imap_arg_number(&l[1], INT64_MAX, &v) || v == 0)
		return NULL;
	q->modseq = v;
	if (i < n && l[i].type != IMAP_ARG_LIST) {
		if (parse_uidset(cmd, &l[i], &q->known, why_r) < 0)
			return NULL;
		q->have_known = true;
		i++;
	}
	if (i < n) {
		struct imap_arg *m;
		size_t mn;
		struct seqset tmp;
		if (!imap_arg_list(&l[i], &m, &mn) || mn != 2 ||
		    parse_uidset(cmd, &m[0], &tmp, why_r) < 0 ||
		    parse_uidset(cmd, &m[1], &tmp, why_r) < 0) {
			*why_r = "Invalid QRESYNC seq-match-data";
			return NULL;
		}
		i++;
	}
	if (i != n)
		return NULL;
	return q;
}

static bool known(const struct imap_qresync *q, uint32_t uid)
{
	return !q->have_known || seqset_contains(&q->known, uid);
}

/* RFC 7162 3.2.10: "* VANISHED (EARLIER) " known-uids expunged since
 * q->modseq. UIDs still in the view (expunged after it was loaded) are
 * left to the view's next sync, which reports them as plain VANISHED. */
static void send_vanished(struct imap_session *s, const struct imap_qresync *q)
{
	struct imap_view *v = &s->view;
	struct seqset gone = SEQSET_INIT;
	uint32_t uid;

	if (q->modseq >= store_expunged_horizon(s->store, v->mailbox_id)) {
		struct store_expunged_iter *it;
		uint64_t ms;
		it = store_expunged_iter_begin(s->store, v->mailbox_id,
					       q->modseq);
		while (store_expunged_iter_next(it, &uid, &ms))
			if (known(q, uid) && imap_view_msn(v, uid) == 0)
				seqset_add(&gone, uid, uid);
		store_expunged_iter_end(&it);
	} else {
		/* The history does not reach back to q->modseq: every known
		 * UID below UIDNEXT that is not in the mailbox (RFC 7162
		 * 3.2.5.2 allows reporting UIDs that did not exist). */
		struct seqset all = {0};
		struct seqset_range whole = {1, v->uidnext - 1};
		const struct seqset *ks = &q->known;
		if (!q->have_known) {
			all.r = &whole;
			all.n = v->uidnext > 1;
			all.resolved = true;
			ks = &all;
		}
		for (size_t i = 0; i < ks->n; i++) {
			uint32_t lo = ks->r[i].lo, hi = ks->r[i].hi;
			if (lo >= v->uidnext)
				break;
			if (hi >= v->uidnext)
				hi = v->uidnext - 1;
			/* the view's UIDs in [lo, hi] split the range */
			uint32_t next = lo;
			uint32_t msn = imap_view_msn(v, lo);
			size_t k;
			if (msn == 0) {
				/* first view index with uid >= lo */
				size_t a = 0, b = v->count;
				while (a < b) {
					size_t mid = a + (b - a) / 2;
					if (v->uids[mid] < lo)
						a = mid + 1;
					else
						b = mid;
				}
				k = a;
			} else {
				k = msn - 1;
			}
			for (; k < v->count && v->uids[k] <= hi; k++) {
				if (v->uids[k] > next)
					seqset_add(&gone, next,
						   v->uids[k] - 1);
				next = v->uids[k] + 1;
			}
			if (next <= hi)
				seqset_add(&gone, next, hi);
		}
	}
	imap_reply_vanished(s, &gone, true);
	seqset_release(&gone);
}

/* RFC 7162 3.2.5: "* n FETCH (UID u FLAGS (...) MODSEQ (m))" for the
 * messages changed since q->modseq, restricted to the known UIDs (when
 * given) and the UIDs above them (messages new to the client). Messages
 * not in the view (arrived after it was loaded) come with the next
 * sync's EXISTS instead. */
static void send_changes(struct imap_session *s, const struct imap_qresync *q)
{
	struct imap_view *v = &s->view;
	struct store_msg_iter *it;
	struct store_msg m;
	struct store_err err = {0};
	uint32_t top = 0;
	bool rev1 = !imap_rev2(s);

	if (q->have_known && q->known.n)
		top = q->known.r[q->known.n - 1].hi;
	it = store_msg_iter_begin(s->store, v->mailbox_id, 1, UINT32_MAX,
				  q->modseq);
	while (store_msg_iter_next(it, &m)) {
		uint32_t msn = imap_view_msn(v, m.uid);
		if (msn == 0 || (q->have_known && m.uid <= top &&
				 !seqset_contains(&q->known, m.uid)))
			continue;
		struct buf *b = imap_reply_begin(s);
		buf_printf(b, "%u FETCH (UID %u FLAGS ", msn, m.uid);
		imap_w_flag_list(b, m.flags,
				 rev1 && imap_view_is_recent(v, m.uid),
				 m.keywords);
		buf_printf(b, " MODSEQ (%llu))",
			   (unsigned long long)m.modseq);
		imap_reply_end(s);
	}
	if (store_msg_iter_end(&it, &err) < 0)
		log_warn(&s->log, "qresync: %s", err.msg);
}

void imap_qresync_select(struct imap_session *s, const struct imap_qresync *q)
{
	if (!q || q->uidvalidity != s->view.uidvalidity)
		return; /* RFC 7162 3.2.5.1: a plain SELECT then */
	send_vanished(s, q);
	send_changes(s, q);
}
