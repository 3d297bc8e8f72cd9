/* cmd-search.c - SEARCH and UID SEARCH (RFC 9051 6.4.4, 6.4.9, 7.3.4;
 * RFC 3501 6.4.4, 7.2.5; RFC 4731 ESEARCH; RFC 5182 SEARCHRES;
 * RFC 7162 3.1.5 MODSEQ in results).
 *
 * The keys are parsed (search.c) before storage is touched; the messages
 * of the view are then read in batches on the loop (the store's reader
 * is a loop-thread connection), the command yielding between batches so
 * other sessions go on. IMAP4rev2 sessions and RETURN options get
 * ESEARCH, IMAP4rev1 sessions "* SEARCH".
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "search.h"
#include "seqset.h"
#include "session.h"
#include "write.h"
#include "xalloc.h"

/* Messages per batch, and message bytes scanned per batch. */
#define SEARCH_BATCH 500
#define SEARCH_BATCH_BYTES (8u << 20)
/* Loop time one run may take before yielding. */
#define SEARCH_SLICE_MS 50

enum {
	RET_MIN = 1u << 0,
	RET_MAX = 1u << 1,
	RET_ALL = 1u << 2,
	RET_COUNT = 1u << 3,
	RET_SAVE = 1u << 4,
};

/* SEARCHRES (RFC 5182 2.1): the result of a SEARCH with RETURN (SAVE)
 * replaces the session's saved result (s->searchres, as UIDs). */
static void saved_put(struct imap_session *s, const struct seqset *uids)
{
	seqset_reset(&s->searchres);
	for (size_t i = 0; i < uids->n; i++)
		seqset_add(&s->searchres, uids->r[i].lo, uids->r[i].hi);
	seqset_resolve(&s->searchres, UINT32_MAX, true);
}

/* True when a RETURN list names SAVE (even if it is otherwise invalid):
 * RFC 5182 2.1, a SEARCH with SAVE that fails (NO or BAD) empties "$". */
static bool return_has_save(const struct imap_arg *a)
{
	struct imap_arg *l;
	size_t n;

	if (!imap_arg_list(a, &l, &n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (imap_arg_atom_eq(&l[i], "SAVE"))
			return true;
	return false;
}

struct batch_msg {
	struct store_msg m;
	char *keywords;
};

struct search_ctx {
	struct search_key *root;
	struct search_info info;
	unsigned ret;          /* RET_*; 0: plain SEARCH reply */
	bool esearch;
	struct seqset saved;   /* copy of the saved result ("$") */
	bool have_saved;
	uint32_t next_uid;     /* where the next batch starts */
	int64_t now;
	/* results */
	struct seqset result;  /* MSNs or UIDs (as the reply numbers) */
	struct seqset result_uids;
	uint64_t count;
	uint32_t min, max;
	uint64_t highest_modseq;
	struct batch_msg batch[SEARCH_BATCH];
	size_t nbatch;
};

static void search_cleanup(struct imap_cmd *cmd)
{
	struct search_ctx *c = cmd->ctx;

	search_key_free(&c->root);
	seqset_release(&c->saved);
	seqset_release(&c->result);
	seqset_release(&c->result_uids);
	for (size_t i = 0; i < c->nbatch; i++)
		free(c->batch[i].keywords);
	free(c);
}

/* search-return-opts = SP "RETURN" SP "(" [search-return-opt
 *                      *(SP search-return-opt)] ")"     (RFC 4731 3)
 * search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE" */
static int parse_return(const struct imap_arg *a, unsigned *ret_r)
{
	struct imap_arg *l;
	size_t n;

	if (!imap_arg_list(a, &l, &n))
		return -1;
	*ret_r = 0;
	for (size_t i = 0; i < n; i++) {
		if (imap_arg_atom_eq(&l[i], "MIN"))
			*ret_r |= RET_MIN;
		else if (imap_arg_atom_eq(&l[i], "MAX"))
			*ret_r |= RET_MAX;
		else if (imap_arg_atom_eq(&l[i], "ALL"))
			*ret_r |= RET_ALL;
		else if (imap_arg_atom_eq(&l[i], "COUNT"))
			*ret_r |= RET_COUNT;
		else if (imap_arg_atom_eq(&l[i], "SAVE"))
			*ret_r |= RET_SAVE;
		else
			return -1;
	}
	/* RFC 4731 3.1: "RETURN ()" means ALL */
	if (*ret_r == 0 || *ret_r == RET_SAVE)
		*ret_r |= n == 0 ? RET_ALL : 0;
	return 0;
}

/* ESEARCH reply (RFC 4731 3.1, RFC 9051 7.3.4):
 *   esearch-response = "ESEARCH" [search-correlator] [SP "UID"]
 *                      *(SP search-return-data)
 *   search-correlator = SP "(" "TAG" SP tag-string ")" */
static void reply_esearch(struct imap_cmd *cmd, struct search_ctx *c)
{
	struct buf *b = imap_reply_begin(cmd->s);

	buf_append_str(b, "ESEARCH (TAG ");
	imap_w_quoted(b, cmd->tag, strlen(cmd->tag));
	buf_append_c(b, ')');
	if (cmd->uid)
		buf_append_str(b, " UID");
	if ((c->ret & RET_MIN) && c->count)
		buf_printf(b, " MIN %u", c->min);
	if ((c->ret & RET_MAX) && c->count)
		buf_printf(b, " MAX %u", c->max);
	if ((c->ret & RET_ALL) && c->count) {
		buf_append_str(b, " ALL ");
		seqset_write(&c->result, b);
	}
	if (c->ret & RET_COUNT)
		buf_printf(b, " COUNT %llu", (unsigned long long)c->count);
	/* RFC 7162 3.1.5: MODSEQ when the search used it and found some */
	if (c->info.uses_modseq && c->count &&
	    (c->ret & (RET_MIN | RET_MAX | RET_ALL | RET_COUNT)))
		buf_printf(b, " MODSEQ %llu",
			   (unsigned long long)c->highest_modseq);
	imap_reply_end(cmd->s);
}

/* "* SEARCH 2 3 6" (RFC 3501 7.2.5), "(MODSEQ n)" with RFC 7162 3.1.5. */
static void reply_search(struct imap_cmd *cmd, struct search_ctx *c)
{
	struct imap_session *s = cmd->s;
	struct buf *b = imap_reply_begin(s);
	struct seqset_iter it;
	uint32_t n;

	buf_append_str(b, "SEARCH");
	seqset_begin(&it, &c->result);
	while (seqset_next(&it, &n)) {
		buf_printf(b, " %u", n);
		if (b->len >= 65536)
			imap_reply_flush(s);
	}
	if (c->info.uses_modseq && c->count)
		buf_printf(b, " (MODSEQ %llu)",
			   (unsigned long long)c->highest_modseq);
	imap_reply_end(s);
}

static enum imap_cmd_result search_finish(struct imap_cmd *cmd)
{
	struct search_ctx *c = cmd->ctx;

	seqset_resolve(&c->result, UINT32_MAX, true);
	seqset_resolve(&c->result_uids, UINT32_MAX, true);
	if (c->ret & RET_SAVE) {
		/* RFC 5182 2.4: SAVE with MIN and/or MAX only (no ALL or
		 * COUNT) saves just those messages */
		struct seqset only = SEQSET_INIT;
		const struct imap_view *v = &cmd->s->view;
		if (!(c->ret & (RET_ALL | RET_COUNT)) &&
		    (c->ret & (RET_MIN | RET_MAX)) && c->count) {
			uint32_t lo = c->min, hi = c->max;
			if (!cmd->uid) {
				lo = v->uids[lo - 1];
				hi = v->uids[hi - 1];
			}
			if (c->ret & RET_MIN)
				seqset_add(&only, lo, lo);
			if (c->ret & RET_MAX)
				seqset_add(&only, hi, hi);
			seqset_resolve(&only, UINT32_MAX, true);
			saved_put(cmd->s, &only);
		} else {
			saved_put(cmd->s, &c->result_uids);
		}
		seqset_release(&only);
	}
	/* RFC 5182 2.4: SAVE alone gives no ESEARCH reply */
	if (c->esearch && (c->ret & ~(unsigned)RET_SAVE))
		reply_esearch(cmd, c);
	else if (!c->esearch)
		reply_search(cmd, c);
	return imap_reply_ok(cmd, NULL, "%s completed", cmd->name);
}

/* Reads the next batch of the view's messages and matches them. */
static enum imap_cmd_result search_run(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct search_ctx *c = cmd->ctx;
	struct imap_view *v = &s->view;
	struct store_err err;
	uint64_t bytes = 0, start = mono_ms();

	while (c->next_uid != 0 && v->count &&
	       c->next_uid <= v->uids[v->count - 1]) {
		struct store_msg_iter *it;
		struct store_msg m;

		c->nbatch = 0;
		it = store_msg_iter_begin(s->store, v->mailbox_id, c->next_uid,
					  v->uids[v->count - 1], 0);
		while (c->nbatch < SEARCH_BATCH && store_msg_iter_next(it, &m)) {
			struct batch_msg *bm = &c->batch[c->nbatch++];
			bm->m = m;
			bm->keywords = xstrdup(m.keywords ? m.keywords : "");
			bm->m.keywords = bm->keywords;
			bm->m.legacy_uidl = NULL;
		}
		if (store_msg_iter_end(&it, &err) < 0)
			return imap_reply_store_err(cmd, &err, cmd->name);
		if (c->nbatch == 0)
			break;
		c->next_uid = c->batch[c->nbatch - 1].m.uid + 1;

		for (size_t i = 0; i < c->nbatch; i++) {
			const struct store_msg *bm = &c->batch[i].m;
			uint32_t msn = imap_view_msn(v, bm->uid);
			if (msn == 0)
				continue; /* arrived after the view's sync */
			struct search_msg sm = {0};
			sm.st = s->store;
			sm.m = bm;
			sm.msn = msn;
			/* RFC 9051 E.: nothing is \Recent in IMAP4rev2 */
			sm.recent = !imap_rev2(s) &&
				    imap_view_is_recent(v, bm->uid);
			sm.now = c->now;
			sm.saved_uids = c->have_saved ? &c->saved : NULL;
			int r = search_match(c->root, &sm);
			search_msg_release(&sm);
			if (r < 0)
				return imap_reply_store_err(cmd, &sm.err,
							    cmd->name);
			if (c->info.uses_text)
				bytes += bm->size;
			if (r == 0)
				continue;
			uint32_t num = cmd->uid ? bm->uid : msn;
			seqset_add(&c->result, num, num);
			seqset_add(&c->result_uids, bm->uid, bm->uid);
			if (c->count == 0 || num < c->min)
				c->min = num;
			if (num > c->max)
				c->max = num;
			c->count++;
			if (bm->modseq > c->highest_modseq)
				c->highest_modseq = bm->modseq;
		}
		bool at_end = c->batch[c->nbatch - 1].m.uid == UINT32_MAX;
		for (size_t i = 0; i < c->nbatch; i++)
			free(c->batch[i].keywords);
		c->nbatch = 0;
		if (at_end)
			break;
		/* a long search lets the loop run other sessions between
		 * batches (a continuation would run again at once) */
		if (bytes >= SEARCH_BATCH_BYTES ||
		    mono_ms() - start >= SEARCH_SLICE_MS)
			return imap_cmd_sleep(cmd, 1, search_run);
	}
	return search_finish(cmd);
}

/* A tagged BAD; with SAVE, "$" becomes empty (RFC 5182 2.1). */
static enum imap_cmd_result search_bad(struct imap_cmd *cmd, bool save,
				       const char *why)
{
	if (save)
		seqset_reset(&cmd->s->searchres);
	return imap_reply_bad(cmd, "%s", why);
}

/* RFC 9051 6.4.4:
 *   search         = "SEARCH" [search-return-opts] SP search-program
 *   search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
 * RFC 9051 6.4.9: "UID SEARCH" answers UIDs.
 * CHARSET: UTF-8 and US-ASCII (its subset); others NO [BADCHARSET]. */
enum imap_cmd_result imap_cmd_search(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct imap_view *v = &s->view;
	const struct imap_arg *a = cmd->args;
	size_t n = cmd->nargs;
	unsigned ret = 0;
	bool has_return = false, save = false;
	const char *err;

	if (n >= 2 && imap_arg_atom_eq(&a[0], "RETURN")) {
		if (return_has_save(&a[1]))
			save = true;
		if (parse_return(&a[1], &ret) < 0)
			return search_bad(cmd, save, "Invalid RETURN options");
		has_return = true;
		a += 2;
		n -= 2;
	}
	if (n >= 1 && imap_arg_atom_eq(&a[0], "CHARSET")) {
		const char *cs;
		size_t csn;
		if (n < 3 || !imap_arg_astring(&a[1], &cs, &csn))
			return search_bad(cmd, save, "Invalid CHARSET");
		if (strcasecmp(cs, "UTF-8") != 0 &&
		    strcasecmp(cs, "US-ASCII") != 0 &&
		    strcasecmp(cs, "UTF8") != 0) {
			if (save)
				seqset_reset(&s->searchres);
			return imap_reply_no(cmd, "BADCHARSET (UTF-8 US-ASCII)",
					     "Unsupported charset");
		}
		a += 2;
		n -= 2;
	}
	if (n == 0)
		return search_bad(cmd, save, "Missing search keys");

	struct search_ctx *c = xcalloc(1, sizeof(*c));
	cmd->ctx = c;
	cmd->cleanup = search_cleanup;
	seqset_init(&c->saved);
	seqset_init(&c->result);
	seqset_init(&c->result_uids);
	c->root = search_parse(a, n, v->count,
			       v->count ? v->uids[v->count - 1] : 0, &c->info,
			       &err);
	if (!c->root)
		return search_bad(cmd, save, err);
	if (c->info.uses_dollar) {
		/* RFC 5182 2.1: "$" before any SAVE is the empty set */
		for (size_t i = 0; i < s->searchres.n; i++)
			seqset_add(&c->saved, s->searchres.r[i].lo,
				   s->searchres.r[i].hi);
		seqset_resolve(&c->saved, UINT32_MAX, true);
		c->have_saved = true;
	}
	/* from here a failure leaves "$" empty; success replaces it */
	if (save)
		seqset_reset(&s->searchres);
	c->ret = ret;
	c->esearch = has_return || imap_rev2(s);
	if (c->esearch && !has_return)
		c->ret = RET_ALL;
	c->now = (int64_t)time(NULL);
	c->next_uid = v->count ? v->uids[0] : 0;
	return search_run(cmd);
}
