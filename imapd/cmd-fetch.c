/* cmd-fetch.c - FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9; RFC 3501
 * 6.4.5, 6.4.8), with BINARY (RFC 3516), CONDSTORE/QRESYNC (RFC 7162),
 * OBJECTID (RFC 8474) and SAVEDATE (RFC 8514); plus the helpers the
 * message commands share (cmd-msgs.h).
 *
 * How a FETCH runs:
 *   1. the arguments are parsed (BAD before anything touches storage);
 *   2. if a non-PEEK body item is asked for in a read-write mailbox, the
 *      messages of the set without \Seen get it in one store write run
 *      off the loop (imap_cmd_work); their FETCH responses then carry
 *      FLAGS (RFC 9051 6.4.5 "\Seen flag is implicitly set ... SHOULD be
 *      included");
 *   3. one message after the other, "* n FETCH (...)" is built; body
 *      sections are streamed from the store in 64 KiB slices while the
 *      output is below the high watermark, and the command pauses and
 *      resumes on LOWAT, so memory per connection does not depend on the
 *      message size.
 * ENVELOPE, BODY, BODYSTRUCTURE and the sections need the MIME tree: it
 * is read from the store's blob MIME_BLOB_NAME of the body, which the
 * store keeps from the message's arrival (store_append); a body stored
 * before that has none: its tree is computed by streaming the body
 * through core/mime and then kept in that blob by a detached worker job
 * (so the next FETCH does not parse again).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bodystructure.h"
#include "clock.h"
#include "cmd-msgs.h"
#include "envelope.h"
#include "fetch-body.h"
#include "imapdate.h"
#include "mime.h"
#include "session.h"
#include "work.h"
#include "write.h"
#include "xalloc.h"

/* Loop time one run of a FETCH may take before it yields, checked every
 * FETCH_SLICE_CHECK messages. */
#define FETCH_SLICE_MS 10
#define FETCH_SLICE_CHECK 32
/* Bytes a raw body literal reads into the output queue at once (as RETR). */
#define FETCH_RAW_SLICE (128 * 1024)

/* ---- shared helpers (cmd-msgs.h) ---------------------------------------- */

bool imap_condstore(const struct imap_session *s)
{
	return (s->enabled &
		(IMAP_ENABLED_CONDSTORE | IMAP_ENABLED_QRESYNC)) != 0;
}

void imap_w_msg_flags(struct imap_session *s, struct buf *b,
		      const struct store_msg *m)
{
	buf_append_str(b, "FLAGS ");
	imap_w_flag_list(b, m->flags,
			 !imap_rev2(s) && imap_view_is_recent(&s->view, m->uid),
			 m->keywords);
}

/* Index of the first view UID >= uid (count when none). */
static uint32_t view_lower(const struct imap_view *v, uint32_t uid)
{
	uint32_t lo = 0, hi = v->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int imap_msgset_arg(struct imap_cmd *cmd, const struct imap_arg *a,
		    struct seqset *msns_r, struct seqset *uids_r,
		    const char **err_r)
{
	const struct imap_view *v = &cmd->s->view;
	struct seqset set = SEQSET_INIT;
	bool dollar = false;

	seqset_reset(msns_r);
	if (a->type != IMAP_ARG_ATOM) {
		*err_r = "Invalid sequence set";
		return -1;
	}
	/* RFC 5182 3: sequence-set =/ seq-last-command; seq-last-command =
	 * "$", alone ("1,$" is BAD) */
	if (seqset_parse(&set, a->str, a->len, 0, true, err_r) < 0) {
		seqset_release(&set);
		return -1;
	}
	if (set.dollar) {
		/* RFC 5182 2.1: the saved UIDs, by MSN or UID alike; those
		 * expunged meanwhile are no longer in the view and drop
		 * out; before any SAVE "$" is the empty set, no error */
		const struct seqset *sr = &cmd->s->searchres;
		seqset_reset(&set);
		for (size_t i = 0; i < sr->n; i++)
			seqset_add(&set, sr->r[i].lo, sr->r[i].hi);
		seqset_resolve(&set, UINT32_MAX, true);
		dollar = true;
	}
	if (!cmd->uid && !dollar) {
		/* RFC 9051 9: a number above EXISTS, or "*" in an empty
		 * mailbox, gets a tagged BAD */
		if (v->count == 0 || seqset_highest(&set, v->count) > v->count) {
			seqset_release(&set);
			*err_r = "Invalid message sequence number";
			return -1;
		}
		seqset_resolve(&set, v->count, false);
		for (size_t i = 0; i < set.n; i++)
			seqset_add(msns_r, set.r[i].lo, set.r[i].hi);
		seqset_resolve(msns_r, v->count, false);
		if (uids_r)
			seqset_msn_to_uid(msns_r, v->uids, v->count, uids_r);
		seqset_release(&set);
		return 0;
	}
	/* RFC 9051 6.4.9: "*" is the highest UID in use; UIDs that do not
	 * exist are no error */
	if (!dollar)
		seqset_resolve(&set, v->count ? v->uids[v->count - 1] : 0,
			       true);
	for (size_t i = 0; i < set.n; i++) {
		uint32_t first = view_lower(v, set.r[i].lo);
		uint32_t end = set.r[i].hi == UINT32_MAX
				       ? v->count
				       : view_lower(v, set.r[i].hi + 1);
		if (first < end)
			seqset_add(msns_r, first + 1, end);
	}
	seqset_resolve(msns_r, v->count, false);
	if (uids_r && dollar) {
		seqset_msn_to_uid(msns_r, v->uids, v->count, uids_r);
	} else if (uids_r) {
		seqset_reset(uids_r);
		for (size_t i = 0; i < set.n; i++)
			if (set.r[i].hi > 0)
				seqset_add(uids_r,
					   set.r[i].lo ? set.r[i].lo : 1,
					   set.r[i].hi);
		seqset_resolve(uids_r, UINT32_MAX, true);
	}
	seqset_release(&set);
	return 0;
}

struct store_uidset imap_msgset_uidset(struct imap_cmd *cmd,
				       const struct seqset *msns)
{
	const struct imap_view *v = &cmd->s->view;
	struct seqset u = SEQSET_INIT;
	struct store_uidset r = {NULL, 0};
	struct store_uid_range *rr;

	seqset_msn_to_uid(msns, v->uids, v->count, &u);
	rr = imap_cmd_alloc(cmd, (u.n ? u.n : 1) * sizeof(*rr));
	for (size_t i = 0; i < u.n; i++) {
		rr[i].lo = u.r[i].lo;
		rr[i].hi = u.r[i].hi;
	}
	r.r = rr;
	r.n = u.n;
	seqset_release(&u);
	return r;
}

bool imap_view_absorb(struct imap_session *s, const struct seqset *uids)
{
	struct imap_view *v = &s->view;
	struct store_mailbox mb;
	struct store_err err = {0};
	struct store_msg_iter *it;
	struct store_expunged_iter *eit;
	struct store_msg m;
	uint32_t uid;
	uint64_t ms;
	bool own = true;

	if (!v->mailbox_id ||
	    store_mailbox_get_by_id(s->store, v->mailbox_id, &mb, &err) < 0)
		return false;
	if (mb.uidvalidity != v->uidvalidity || mb.uidnext != v->uidnext)
		return false;
	eit = store_expunged_iter_begin(s->store, v->mailbox_id, v->modseq);
	if (store_expunged_iter_next(eit, &uid, &ms))
		own = false;
	store_expunged_iter_end(&eit);
	if (!own)
		return false;
	it = store_msg_iter_begin(s->store, v->mailbox_id, 1, UINT32_MAX,
				  v->modseq);
	while (own && store_msg_iter_next(it, &m))
		if (m.modseq <= mb.highestmodseq && !seqset_contains(uids, m.uid))
			own = false;
	if (store_msg_iter_end(&it, &err) < 0 || !own)
		return false;
	v->modseq = mb.highestmodseq;
	return true;
}

/* ---- the MIME tree cache ---------------------------------------------- */

/* A detached job storing computed trees (it holds its own store
 * reference, so the session may end meanwhile). */
struct blob_job {
	struct store *st;
	size_t n;
	int64_t ids[64];
	struct buf data[64];
};

static void blob_job_run(void *arg)
{
	struct blob_job *j = arg;
	struct store_blob b[64];
	struct store_err err;

	for (size_t i = 0; i < j->n; i++) {
		b[i].name = MIME_BLOB_NAME;
		b[i].data = j->data[i].data;
		b[i].len = j->data[i].len;
	}
	(void)store_blob_set_many(j->st, j->ids, b, j->n, &err);
}

/* Jobs queued or running (loop thread only). Caching is best effort: past
 * BLOB_JOBS_MAX the trees are not kept, so a FETCH producing trees faster
 * than the disk stores them does not pile them up in memory. */
#define BLOB_JOBS_MAX 8
static unsigned blob_jobs;

static void blob_job_done(void *arg);

static void blob_job_submit(uv_loop_t *loop, struct blob_job *j)
{
	blob_jobs++;
	work_submit(loop, blob_job_run, blob_job_done, j);
}

static void blob_job_done(void *arg)
{
	struct blob_job *j = arg;

	blob_jobs--;

	for (size_t i = 0; i < j->n; i++)
		buf_release(&j->data[i]);
	store_unref(&j->st);
	free(j);
}

/* ---- fetch items ------------------------------------------------------ */

enum fitem_kind {
	FI_UID,
	FI_FLAGS,
	FI_INTERNALDATE,
	FI_SIZE,
	FI_ENVELOPE,
	FI_BODY,
	FI_BODYSTRUCTURE,
	FI_MODSEQ,
	FI_EMAILID,
	FI_THREADID,
	FI_SAVEDATE,
	FI_SECTION,     /* BODY[..], BINARY[..], RFC822, RFC822.HEADER/TEXT */
	FI_BINARY_SIZE, /* BINARY.SIZE[..] */
};

struct fitem {
	enum fitem_kind kind;
	struct imap_fetch_att att;
	const char *fields; /* HEADER.FIELDS names (att.nfields of them) */
	const char *resp;   /* name in the response: "BODY[1.MIME]" */
	bool binary;        /* BINARY, BINARY.PEEK, BINARY.SIZE */
	bool sets_seen;     /* not PEEK */
};

/* The literal being streamed. */
struct fstream {
	bool active;
	bool decode;        /* BINARY: through the decoder */
	bool raw;           /* [pos, end) is the window's bytes as stored */
	uint64_t pos, end;  /* stored offsets still to read */
	uint64_t left;      /* literal bytes still to send */
	struct fetch_window w;
	struct fetch_decoder dec;
	struct buf tmp;     /* decoded bytes before the window */
};

struct fetch_ctx {
	/* the request */
	struct fitem *items;
	size_t nitems;
	bool need_tree;
	bool need_seen;     /* a non-PEEK body item */
	uint64_t changedsince;
	bool vanished;
	struct seqset msns, uids;

	/* \Seen set by this command */
	struct seqset seen_set;
	struct store_uidset seen_uidset;
	bool seen_absorbed;
	uint32_t *seen_uids;
	size_t nseen;
	int seen_rc;
	struct store_err seen_err;

	/* iteration: MSNs from it; the rows come from mit, one store read per
	 * batch of messages, over the UIDs of the current MSN range (up to
	 * mit_hi); pending is a row read ahead of the MSN that asked for it */
	struct seqset_iter it;
	size_t rng;
	struct store_msg_iter *mit;
	uint32_t mit_hi;
	struct store_msg pending;
	bool have_pending;
	unsigned since_yield;
	bool in_msg;
	size_t item;
	uint32_t msn;
	struct store_msg m;
	struct buf keywords;
	struct mime_part *tree;
	struct store_body *body;
	struct fstream fs;
	bool add_flags;     /* FLAGS not asked for but \Seen changed */
	bool first_item;

	/* outcome */
	bool expunged;      /* a message of the view was gone */
	bool unknown_cte;
	bool failed;
	struct store_err err;

	struct blob_job *blobs;
};

static void msg_release(struct fetch_ctx *c)
{
	mime_part_free(&c->tree);
	store_body_close(&c->body);
	if (c->fs.active) {
		fetch_decoder_release(&c->fs.dec);
		buf_release(&c->fs.tmp);
		c->fs.active = false;
	}
	c->in_msg = false;
}

static void fetch_cleanup(struct imap_cmd *cmd)
{
	struct fetch_ctx *c = cmd->ctx;

	msg_release(c);
	(void)store_msg_iter_end(&c->mit, NULL);
	buf_release(&c->keywords);
	buf_release(&c->fs.tmp);
	seqset_release(&c->msns);
	seqset_release(&c->uids);
	seqset_release(&c->seen_set);
	free(c->seen_uids);
	if (c->blobs) {
		for (size_t i = 0; i < c->blobs->n; i++)
			buf_release(&c->blobs->data[i]);
		store_unref(&c->blobs->st);
		free(c->blobs);
	}
}

static struct fitem *add_item(struct imap_cmd *cmd, struct fetch_ctx *c,
			      enum fitem_kind k)
{
	struct fitem *it = &c->items[c->nitems++];

	(void)cmd;
	memset(it, 0, sizeof(*it));
	it->kind = k;
	return it;
}

/* One fetch-att (RFC 9051 9):
 *   fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" /
 *               "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
 *               "BODY" ["STRUCTURE"] / "UID" /
 *               "BODY" section [partial] /
 *               "BODY.PEEK" section [partial] /
 *               "BINARY" [".PEEK"] section-binary [partial] /
 *               "BINARY.SIZE" section-binary
 *   RFC 7162: "MODSEQ"; RFC 8474: "EMAILID" / "THREADID";
 *   RFC 8514: "SAVEDATE". */
static int parse_att(struct imap_cmd *cmd, struct fetch_ctx *c,
		     const struct imap_arg *a, const char **err_r)
{
	static const struct {
		const char *name;
		enum fitem_kind kind;
	} simple[] = {
		{"UID", FI_UID},
		{"FLAGS", FI_FLAGS},
		{"INTERNALDATE", FI_INTERNALDATE},
		{"RFC822.SIZE", FI_SIZE},
		{"ENVELOPE", FI_ENVELOPE},
		{"BODY", FI_BODY},
		{"BODYSTRUCTURE", FI_BODYSTRUCTURE},
		{"MODSEQ", FI_MODSEQ},
		{"EMAILID", FI_EMAILID},
		{"THREADID", FI_THREADID},
		{"SAVEDATE", FI_SAVEDATE},
	};
	struct fitem *it;
	const char *s;

	if (!imap_arg_atom(a, &s)) {
		*err_r = "Invalid fetch attribute";
		return -1;
	}
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (strcasecmp(s, simple[i].name) != 0)
			continue;
		it = add_item(cmd, c, simple[i].kind);
		if (it->kind == FI_ENVELOPE || it->kind == FI_BODY ||
		    it->kind == FI_BODYSTRUCTURE)
			c->need_tree = true;
		if (it->kind == FI_MODSEQ)
			cmd->s->enabled |= IMAP_ENABLED_CONDSTORE;
		return 0;
	}
	/* RFC 9051 6.4.5: RFC822 = BODY[], RFC822.HEADER = BODY.PEEK[HEADER],
	 * RFC822.TEXT = BODY[TEXT], each answered under its own name */
	if (strcasecmp(s, "RFC822") == 0 || strcasecmp(s, "RFC822.HEADER") == 0 ||
	    strcasecmp(s, "RFC822.TEXT") == 0) {
		it = add_item(cmd, c, FI_SECTION);
		snprintf(it->att.name, sizeof(it->att.name), "BODY");
		if (strcasecmp(s, "RFC822.HEADER") == 0) {
			it->att.text = IMAP_SECTION_HEADER;
			it->resp = "RFC822.HEADER";
		} else {
			it->att.text = strcasecmp(s, "RFC822") == 0
					       ? IMAP_SECTION_ALL
					       : IMAP_SECTION_TEXT;
			it->resp = strcasecmp(s, "RFC822") == 0 ? "RFC822"
								 : "RFC822.TEXT";
			it->sets_seen = true;
		}
		c->need_tree = true;
		return 0;
	}
	if (!strchr(s, '[')) {
		*err_r = "Unknown fetch attribute";
		return -1;
	}
	struct buf fields = BUF_INIT, echo = BUF_INIT;
	struct imap_fetch_att att;
	if (imap_fetch_att_parse(s, a->len, &att, &fields, &echo, err_r) < 0) {
		buf_release(&fields);
		buf_release(&echo);
		return -1;
	}
	bool size_only = strcmp(att.name, "BINARY.SIZE") == 0;
	it = add_item(cmd, c, size_only ? FI_BINARY_SIZE : FI_SECTION);
	it->att = att;
	it->binary = strncmp(att.name, "BINARY", 6) == 0;
	it->sets_seen = strcmp(att.name, "BODY") == 0 ||
			strcmp(att.name, "BINARY") == 0;
	it->fields = fields.len ? imap_cmd_strndup(cmd, fields.data, fields.len)
				: NULL;
	{
		struct buf r = BUF_INIT;
		buf_printf(&r, "%s[%.*s]",
			   size_only ? "BINARY.SIZE"
			   : it->binary ? "BINARY"
					: "BODY",
			   (int)echo.len, echo.data ? echo.data : "");
		it->resp = imap_cmd_strndup(cmd, r.data, r.len);
		buf_release(&r);
	}
	buf_release(&fields);
	buf_release(&echo);
	c->need_tree = true;
	return 0;
}

/* ---- per message ---------------------------------------------------------- */

static ssize_t tree_read_cb(void *ctx, uint64_t offset, void *dst, size_t len)
{
	struct fetch_ctx *c = ctx;
	struct store_err err;

	return store_body_read(c->body, offset, dst, len, &err);
}

/* Loads (or computes and queues for caching) the MIME tree of c->m. */
static int load_tree(struct imap_cmd *cmd, struct fetch_ctx *c)
{
	struct imap_session *s = cmd->s;
	struct buf blob = BUF_INIT;
	struct store_err err = {0};

	if (store_blob_get(s->store, c->m.body_id, MIME_BLOB_NAME, &blob,
			   &err) == 0) {
		c->tree = mime_deserialize(blob.data, blob.len);
		buf_release(&blob);
		if (c->tree)
			return 0;
	}
	buf_release(&blob);
	if (!c->body && store_body_open(s->store, c->m.body_id, &c->body,
					&c->err) < 0)
		return -1;
	struct mime_parser *p = mime_parser_new(NULL);
	uint64_t off = 0;
	for (;;) {
		const char *d;
		ssize_t n = store_body_peek(c->body, off, &d, &c->err);
		if (n < 0) {
			c->tree = mime_parser_finish(&p);
			mime_part_free(&c->tree);
			return -1;
		}
		if (n == 0)
			break;
		mime_parser_feed(p, d, (size_t)n);
		off += (uint64_t)n;
	}
	c->tree = mime_parser_finish(&p);
	if (blob_jobs >= BLOB_JOBS_MAX)
		return 0;
	if (!c->blobs) {
		c->blobs = xcalloc(1, sizeof(*c->blobs));
		c->blobs->st = store_ref(s->store);
	}
	size_t i = c->blobs->n++;
	c->blobs->ids[i] = c->m.body_id;
	buf_init(&c->blobs->data[i]);
	mime_serialize(c->tree, &c->blobs->data[i]);
	if (c->blobs->n == sizeof(c->blobs->ids) / sizeof(c->blobs->ids[0])) {
		/* full: store these 64 in one transaction, off the loop, and
		 * go on (a first sync of a large mailbox caches every tree) */
		blob_job_submit(s->srv->loop, c->blobs);
		c->blobs = NULL;
	}
	return 0;
}

static bool seen_changed(const struct fetch_ctx *c, uint32_t uid)
{
	return c->nseen && seqset_contains(&c->seen_set, uid);
}

/* Reads the row of uid (MSN msn) into c->m from the range iterator,
 * starting a new one at a new MSN range. Returns false when the message
 * is not in the store (expunged by another session). The rows are read in
 * batches (store_msg_iter), not one query per message; with CHANGEDSINCE
 * the store skips the unchanged ones. */
static bool msg_find(struct imap_session *s, struct fetch_ctx *c,
		     uint32_t msn, uint32_t uid)
{
	struct store_msg m;

	if (!c->mit || uid > c->mit_hi) {
		while (c->rng < c->msns.n && c->msns.r[c->rng].hi < msn)
			c->rng++;
		uint32_t hi_msn = c->rng < c->msns.n ? c->msns.r[c->rng].hi : msn;
		if (hi_msn > s->view.count)
			hi_msn = s->view.count;
		(void)store_msg_iter_end(&c->mit, NULL);
		c->have_pending = false;
		c->mit_hi = s->view.uids[hi_msn - 1];
		c->mit = store_msg_iter_begin(s->store, s->view.mailbox_id, uid,
					      c->mit_hi, c->changedsince);
	}
	if (c->have_pending) {
		if (c->pending.uid > uid)
			return false;
		c->have_pending = false;
		if (c->pending.uid == uid) {
			c->m = c->pending;
			return true;
		}
	}
	while (store_msg_iter_next(c->mit, &m)) {
		if (m.uid == uid) {
			c->m = m;
			return true;
		}
		if (m.uid > uid) {
			c->pending = m;
			c->have_pending = true;
			return false;
		}
	}
	return false;
}

/* Loads the next message; returns false when there is none left. */
static bool next_msg(struct imap_cmd *cmd, struct fetch_ctx *c)
{
	struct imap_session *s = cmd->s;
	uint32_t msn;

	while (seqset_next(&c->it, &msn)) {
		uint32_t uid = s->view.uids[msn - 1];

		if (!msg_find(s, c, msn, uid)) {
			/* expunged by someone else, still in our view;
			 * UID FETCH just leaves it out (RFC 9051 6.4.9). With
			 * CHANGEDSINCE the iterator skips unchanged messages
			 * too: FETCH by MSN asks which it was. */
			struct store_err err = {0};
			if (!cmd->uid &&
			    (!c->changedsince ||
			     store_msg_get(s->store, s->view.mailbox_id, uid,
					   &c->m, &err) < 0))
				c->expunged = true;
			continue;
		}
		if (c->changedsince && c->m.modseq <= c->changedsince)
			continue;
		buf_reset(&c->keywords);
		buf_append_str(&c->keywords, c->m.keywords ? c->m.keywords : "");
		c->m.keywords = c->keywords.data;
		c->m.legacy_uidl = NULL;
		c->msn = msn;
		if (c->need_tree && load_tree(cmd, c) < 0) {
			log_error(&s->log, "FETCH uid %u: %s", uid, c->err.msg);
			c->failed = true;
			msg_release(c);
			continue;
		}
		c->in_msg = true;
		c->item = 0;
		c->first_item = true;
		c->add_flags = seen_changed(c, uid);
		for (size_t i = 0; i < c->nitems; i++)
			if (c->items[i].kind == FI_FLAGS)
				c->add_flags = false;
		struct buf *b = imap_reply_begin(s);
		buf_printf(b, "%u FETCH (", msn);
		return true;
	}
	return false;
}

static void sep(struct fetch_ctx *c, struct buf *b)
{
	if (!c->first_item)
		buf_append_c(b, ' ');
	c->first_item = false;
}

static uint64_t msg_vsize(const struct fetch_ctx *c)
{
	if (c->tree)
		return c->tree->hdr_vsize + c->tree->body_vsize;
	return c->m.size;
}

/* BINARY: decodes the whole range once to learn the decoded size and
 * whether it holds NUL (then it goes out as literal8, RFC 3516 4.2). */
static int binary_measure(struct fetch_ctx *c, const struct fetch_body_section *sec,
			  enum fetch_cte cte, uint64_t *size_r, bool *nul_r)
{
	struct fetch_decoder d;
	struct buf out = BUF_INIT;
	uint64_t pos = sec->range.start, end = pos + sec->range.size;
	int rc = 0;

	*size_r = 0;
	*nul_r = false;
	fetch_decoder_init(&d, cte);
	while (pos < end) {
		const char *p;
		ssize_t n = store_body_peek(c->body, pos, &p, &c->err);
		if (n <= 0) {
			rc = n < 0 ? -1 : 0;
			break;
		}
		if ((uint64_t)n > end - pos)
			n = (ssize_t)(end - pos);
		fetch_decoder_feed(&d, p, (size_t)n, &out);
		pos += (uint64_t)n;
		if (!*nul_r && memchr(out.data ? out.data : "", 0, out.len))
			*nul_r = true;
		*size_r += out.len;
		buf_reset(&out);
	}
	fetch_decoder_finish(&d, &out);
	if (!*nul_r && out.len && memchr(out.data, 0, out.len))
		*nul_r = true;
	*size_r += out.len;
	buf_release(&out);
	fetch_decoder_release(&d);
	return rc;
}

/* Writes the item's name and starts its literal; returns false when the
 * item was skipped (unknown CTE). */
static int start_section(struct imap_cmd *cmd, struct fetch_ctx *c,
			 const struct fitem *it, struct buf *b)
{
	struct fetch_body_section sec;
	uint64_t from = it->att.has_partial ? it->att.partial_start : 0;
	uint64_t len = it->att.has_partial ? it->att.partial_len : UINT64_MAX;
	struct fstream *fs = &c->fs;
	enum fetch_cte cte = FETCH_CTE_IDENTITY;

	fetch_body_resolve(c->tree, &it->att, &sec);
	if (it->binary && sec.kind != FETCH_BODY_EMPTY) {
		cte = it->att.nparts ? fetch_body_cte(sec.part)
				     : FETCH_CTE_IDENTITY;
		if (cte == FETCH_CTE_UNKNOWN) {
			c->unknown_cte = true;
			return 0;
		}
	}
	if (sec.kind != FETCH_BODY_EMPTY && !c->body &&
	    store_body_open(cmd->s->store, c->m.body_id, &c->body, &c->err) < 0)
		return -1;
	if (it->kind == FI_BINARY_SIZE) {
		/* RFC 3516 4.3: the size of the decoded section */
		uint64_t size = 0;
		bool nul;
		if (sec.kind != FETCH_BODY_EMPTY &&
		    binary_measure(c, &sec, cte, &size, &nul) < 0)
			return -1;
		sep(c, b);
		buf_printf(b, "%s %llu", it->resp, (unsigned long long)size);
		return 0;
	}
	sep(c, b);
	buf_append_str(b, it->resp);
	if (it->att.has_partial)
		buf_printf(b, "<%llu>", (unsigned long long)from);
	buf_append_c(b, ' ');
	if (sec.kind == FETCH_BODY_EMPTY) {
		/* "{0}" as Dovecot answers for a missing section */
		imap_w_literal_header(b, 0, false);
		return 0;
	}
	if (sec.kind == FETCH_BODY_FIELDS) {
		struct buf f = BUF_INIT;
		struct fetch_window w;
		if (fetch_body_fields(&sec.range, it->fields, it->att.nfields,
				      it->att.text ==
					      IMAP_SECTION_HEADER_FIELDS_NOT,
				      tree_read_cb, c, &f) < 0) {
			buf_release(&f);
			snprintf(c->err.msg, sizeof(c->err.msg),
				 "header fields unreadable");
			/* the name is out: keep the response well-formed */
			imap_w_literal_header(b, 0, false);
			return -1;
		}
		uint64_t lit = fetch_window_size(f.len, from, len);
		imap_w_literal_header(b, lit, false);
		fetch_window_init(&w, from, len, false);
		fetch_window_feed(&w, f.data ? f.data : "", f.len, b);
		buf_release(&f);
		return 0;
	}
	memset(fs, 0, sizeof(*fs));
	fs->pos = sec.range.start;
	fs->end = sec.range.start + sec.range.size;
	if (it->binary) {
		uint64_t size;
		bool nul;
		if (binary_measure(c, &sec, cte, &size, &nul) < 0) {
			imap_w_literal_header(b, 0, false);
			return -1;
		}
		fs->left = fetch_window_size(size, from, len);
		/* RFC 3516 4.2: literal8 where the data may hold NUL; as
		 * Dovecot: always for a decoded (base64/QP) part, else only
		 * when NUL is present */
		imap_w_literal_header(b, fs->left,
				      nul || cte != FETCH_CTE_IDENTITY);
		fs->decode = true;
		fetch_decoder_init(&fs->dec, cte);
		fetch_window_init(&fs->w, from, len, false);
	} else {
		/* NUL bytes of a body go out as they are in a plain literal,
		 * as Dovecot sends them (RFC 9051 4.3 forbids NUL in a
		 * literal; clients that care ask for BINARY[], which uses
		 * literal8) */
		fs->left = fetch_window_size(sec.range.vsize, from, len);
		imap_w_literal_header(b, fs->left, false);
		fetch_decoder_init(&fs->dec, FETCH_CTE_IDENTITY);
		if (sec.range.vsize == sec.range.size) {
			/* No bare LF in the section (the tree counted them
			 * when the message was stored): the window is a byte
			 * range of the stored body, read straight into the
			 * output queue in slices, as RETR does. */
			fs->raw = true;
			if (fs->left > 0)
				fs->pos += from;
			fs->end = fs->pos + fs->left;
		} else {
			fetch_window_init(&fs->w, from, len, true);
		}
	}
	buf_init(&fs->tmp);
	fs->active = true;
	imap_reply_flush(cmd->s);
	return 0;
}

/* A raw literal's next slice: stored bytes straight into b. Returns
 * the bytes read (0: the body ended early), or -1 with c->err. */
static ssize_t read_raw(struct fetch_ctx *c, struct buf *b)
{
	struct fstream *fs = &c->fs;
	size_t want = fs->end - fs->pos > FETCH_RAW_SLICE
			      ? FETCH_RAW_SLICE
			      : (size_t)(fs->end - fs->pos);
	ssize_t n = store_body_read(c->body, fs->pos, buf_space(b, want), want,
				    &c->err);

	if (n > 0)
		buf_commit(b, (size_t)n);
	return n;
}

/* The next stored chunk through the decoder (BINARY) and the window (a
 * CR for each bare LF, the partial range) into b. Returns the stored
 * bytes used (0: the body ended early), or -1 with c->err. */
static ssize_t read_window(struct fetch_ctx *c, struct buf *b)
{
	struct fstream *fs = &c->fs;
	const char *p;
	ssize_t n = store_body_peek(c->body, fs->pos, &p, &c->err);

	if (n <= 0)
		return n;
	if ((uint64_t)n > fs->end - fs->pos)
		n = (ssize_t)(fs->end - fs->pos);
	if (fs->decode) {
		fetch_decoder_feed(&fs->dec, p, (size_t)n, &fs->tmp);
		if (fs->pos + (uint64_t)n >= fs->end)
			fetch_decoder_finish(&fs->dec, &fs->tmp);
		fetch_window_feed(&fs->w, fs->tmp.data, fs->tmp.len, b);
		buf_reset(&fs->tmp);
	} else {
		fetch_window_feed(&fs->w, p, (size_t)n, b);
	}
	return n;
}

/* Streams the current literal while the output has room. Returns true
 * when the literal is complete, false when the output is full. A read
 * error pads the rest of the literal and fails the command (c->failed). */
static bool stream_step(struct imap_cmd *cmd, struct fetch_ctx *c)
{
	struct imap_session *s = cmd->s;
	struct fstream *fs = &c->fs;
	struct buf *b = &s->out;

	while (fs->left > 0) {
		if (imap_output_full(s))
			return false;
		size_t before = b->len;
		if (fs->pos < fs->end &&
		    (fs->raw || !fetch_window_done(&fs->w))) {
			ssize_t n = fs->raw ? read_raw(c, b) : read_window(c, b);
			if (n < 0) {
				/* the size is out (the MIME tree, stored at
				 * delivery, did not need the bytes): pad the
				 * literal to it below; the command then ends
				 * NO [CORRUPTION] or [UNAVAILABLE] */
				log_error(&s->log, "FETCH uid %u: %s", c->m.uid,
					  c->err.msg);
				c->failed = true;
				fs->pos = fs->end;
				continue;
			}
			fs->pos = n ? fs->pos + (uint64_t)n : fs->end;
		} else {
			/* the stored bytes ended early (a stale tree):
			 * pad, so the literal keeps its announced size */
			size_t pad = fs->left > 65536 ? 65536 : (size_t)fs->left;
			memset(buf_space(b, pad), ' ', pad);
			buf_commit(b, pad);
		}
		size_t got = b->len - before;
		if (got > fs->left) {
			buf_truncate(b, before + (size_t)fs->left);
			got = (size_t)fs->left;
		}
		fs->left -= got;
		imap_reply_flush(s);
	}
	fetch_decoder_release(&fs->dec);
	buf_release(&fs->tmp);
	fs->active = false;
	return true;
}

/* Appends one non-streamed item, or starts a streamed one. */
static int do_item(struct imap_cmd *cmd, struct fetch_ctx *c,
		   const struct fitem *it)
{
	struct imap_session *s = cmd->s;
	struct buf *b = &s->out;
	bool utf8 = imap_utf8(s);

	switch (it->kind) {
	case FI_UID:
		sep(c, b);
		buf_printf(b, "UID %u", c->m.uid);
		break;
	case FI_FLAGS:
		sep(c, b);
		imap_w_msg_flags(s, b, &c->m);
		break;
	case FI_INTERNALDATE:
		sep(c, b);
		buf_append_str(b, "INTERNALDATE \"");
		imapdate_format_datetime(b, c->m.internaldate, c->m.tzoff);
		buf_append_c(b, '"');
		break;
	case FI_SIZE:
		sep(c, b);
		buf_printf(b, "RFC822.SIZE %llu",
			   (unsigned long long)msg_vsize(c));
		break;
	case FI_ENVELOPE:
		sep(c, b);
		buf_append_str(b, "ENVELOPE ");
		imap_envelope_write(b, c->tree, utf8);
		break;
	case FI_BODY:
	case FI_BODYSTRUCTURE:
		sep(c, b);
		buf_append_str(b, it->kind == FI_BODY ? "BODY " : "BODYSTRUCTURE ");
		imap_bodystructure_write(b, c->tree, it->kind == FI_BODYSTRUCTURE,
					 utf8);
		break;
	case FI_MODSEQ:
		sep(c, b);
		buf_printf(b, "MODSEQ (%llu)", (unsigned long long)c->m.modseq);
		break;
	case FI_EMAILID:
		sep(c, b);
		buf_printf(b, "EMAILID (%s)", c->m.emailid);
		break;
	case FI_THREADID:
		sep(c, b);
		if (c->m.threadid[0])
			buf_printf(b, "THREADID (%s)", c->m.threadid);
		else
			buf_append_str(b, "THREADID NIL");
		break;
	case FI_SAVEDATE:
		sep(c, b);
		if (c->m.savedate) {
			buf_append_str(b, "SAVEDATE \"");
			imapdate_format_datetime(b, c->m.savedate, 0);
			buf_append_c(b, '"');
		} else {
			buf_append_str(b, "SAVEDATE NIL");
		}
		break;
	case FI_SECTION:
	case FI_BINARY_SIZE:
		return start_section(cmd, c, it, b);
	}
	return 0;
}

static enum imap_cmd_result fetch_finish(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct fetch_ctx *c = cmd->ctx;

	if (c->blobs) {
		blob_job_submit(s->srv->loop, c->blobs);
		c->blobs = NULL;
	}
	/* RFC 9051 7.1: CORRUPTION when the store found damaged data,
	 * UNAVAILABLE when it may work later, else SERVERBUG */
	if (c->failed)
		return imap_reply_no(cmd,
				     c->err.code == STORE_ERR_CORRUPT ? "CORRUPTION"
				     : c->err.code == STORE_ERR_TEMP ? "UNAVAILABLE"
								    : "SERVERBUG",
				     "Some messages could not be read");
	if (c->unknown_cte)
		return imap_reply_no(cmd, "UNKNOWN-CTE",
				     "Unknown Content-Transfer-Encoding");
	if (c->expunged)
		/* RFC 9051 7.1 EXPUNGEISSUED; RFC 2180 4.1.2 */
		return imap_reply_no(cmd, "EXPUNGEISSUED",
				     "Some of the requested messages no "
				     "longer exist");
	return imap_reply_ok(cmd, NULL, "%s completed", cmd->name);
}

/* The producer: called first, then again each time the output drained
 * or after it yielded. A client that reads as fast as the daemon writes
 * never fills the output, so a long FETCH (1:* of 100 000 messages) also
 * yields to the loop after FETCH_SLICE_MS, letting other sessions go on.
 * Each slice is one step of the command, so its reads share one read
 * transaction (session.c, cmd_run). */
static enum imap_cmd_result fetch_run(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct fetch_ctx *c = cmd->ctx;
	uint64_t start = mono_ms();

	c->since_yield = 0;
	for (;;) {
		if (!s->conn)
			return IMAP_CMD_DONE;
		if (c->fs.active && !stream_step(cmd, c))
			return imap_cmd_set_cont(cmd, fetch_run);
		if (!c->in_msg) {
			if (imap_output_full(s))
				return imap_cmd_set_cont(cmd, fetch_run);
			if (++c->since_yield % FETCH_SLICE_CHECK == 0 &&
			    mono_ms() - start >= FETCH_SLICE_MS)
				return imap_cmd_sleep(cmd, 1, fetch_run);
			if (!next_msg(cmd, c))
				return fetch_finish(cmd);
			if (c->add_flags) {
				sep(c, &s->out);
				imap_w_msg_flags(s, &s->out, &c->m);
			}
		}
		if (c->item < c->nitems) {
			const struct fitem *it = &c->items[c->item++];
			if (do_item(cmd, c, it) < 0) {
				log_error(&s->log, "FETCH uid %u: %s", c->m.uid,
					  c->err.msg);
				/* nothing of the item was written */
				c->failed = true;
			}
			continue;
		}
		/* RFC 7162 3.2: with CONDSTORE on, FETCH responses that carry
		 * FLAGS carry MODSEQ too */
		if (imap_condstore(s)) {
			bool has = false, flags = c->add_flags;
			for (size_t i = 0; i < c->nitems; i++) {
				has |= c->items[i].kind == FI_MODSEQ;
				flags |= c->items[i].kind == FI_FLAGS;
			}
			if (flags && !has) {
				sep(c, &s->out);
				buf_printf(&s->out, "MODSEQ (%llu)",
					   (unsigned long long)c->m.modseq);
			}
		}
		buf_append_c(&s->out, ')');
		imap_reply_end(s);
		msg_release(c);
	}
}

/* The \Seen write is done (on the loop again). */
static enum imap_cmd_result seen_done(struct imap_cmd *cmd)
{
	struct fetch_ctx *c = cmd->ctx;

	if (c->seen_rc < 0) {
		/* not fatal for FETCH: the bodies are still sent */
		log_error(&cmd->s->log, "FETCH \\Seen: %s", c->seen_err.msg);
		seqset_reset(&c->seen_set);
		c->nseen = 0;
	} else {
		c->seen_absorbed = imap_view_absorb(cmd->s, &c->seen_set);
	}
	return fetch_run(cmd);
}

static void seen_work(struct imap_cmd *cmd)
{
	struct fetch_ctx *c = cmd->ctx;

	c->seen_rc = store_set_flags(cmd->s->store, cmd->s->view.mailbox_id,
				     &c->seen_uidset, STORE_FLAGS_ADD, STORE_F_SEEN, NULL,
				     0, NULL, NULL, &c->seen_err);
}

/* Collects the messages of the set without \Seen. */
static void collect_unseen(struct imap_cmd *cmd, struct fetch_ctx *c)
{
	struct imap_session *s = cmd->s;
	struct seqset u = SEQSET_INIT;
	struct store_err err = {0};
	struct store_msg m;

	seqset_msn_to_uid(&c->msns, s->view.uids, s->view.count, &u);
	for (size_t i = 0; i < u.n; i++) {
		struct store_msg_iter *it = store_msg_iter_begin(
			s->store, s->view.mailbox_id, u.r[i].lo, u.r[i].hi, 0);
		while (store_msg_iter_next(it, &m)) {
			if ((m.flags & STORE_F_SEEN) ||
			    imap_view_msn(&s->view, m.uid) == 0)
				continue;
			if (c->changedsince && m.modseq <= c->changedsince)
				continue;
			seqset_add(&c->seen_set, m.uid, m.uid);
			c->nseen++;
		}
		(void)store_msg_iter_end(&it, &err);
	}
	seqset_release(&u);
	seqset_resolve(&c->seen_set, UINT32_MAX, true);
	/* the job gets its ranges ready-made (no arena use off the loop) */
	struct store_uid_range *r =
		imap_cmd_alloc(cmd, (c->seen_set.n + 1) * sizeof(*r));
	for (size_t i = 0; i < c->seen_set.n; i++) {
		r[i].lo = c->seen_set.r[i].lo;
		r[i].hi = c->seen_set.r[i].hi;
	}
	c->seen_uidset.r = r;
	c->seen_uidset.n = c->seen_set.n;
}

/* RFC 7162 3.2.6: "* VANISHED (EARLIER) uids" for the UIDs of the set
 * expunged since the CHANGEDSINCE value. */
static void send_vanished(struct imap_cmd *cmd, struct fetch_ctx *c)
{
	struct imap_session *s = cmd->s;
	struct store_expunged_iter *it;
	struct seqset gone = SEQSET_INIT;
	uint32_t uid;
	uint64_t ms;

	if (c->changedsince < store_expunged_horizon(s->store,
						      s->view.mailbox_id)) {
		/* the history does not reach back that far: every UID of
		 * the set below UIDNEXT that is not in the mailbox (RFC 7162
		 * 3.2.6 allows UIDs that never existed) */
		struct store_mailbox mb;
		struct store_err err = {0};
		if (store_mailbox_get_by_id(s->store, s->view.mailbox_id, &mb,
					    &err) < 0)
			return;
		for (size_t i = 0; i < c->uids.n; i++) {
			uint32_t lo = c->uids.r[i].lo, hi = c->uids.r[i].hi;
			struct store_msg m;
			if (lo >= mb.uidnext)
				break;
			if (hi >= mb.uidnext)
				hi = mb.uidnext - 1;
			struct store_msg_iter *mi = store_msg_iter_begin(
				s->store, s->view.mailbox_id, lo, hi, 0);
			uint32_t next = lo;
			while (store_msg_iter_next(mi, &m)) {
				if (m.uid > next)
					seqset_add(&gone, next, m.uid - 1);
				next = m.uid + 1;
			}
			(void)store_msg_iter_end(&mi, &err);
			if (next <= hi && next != 0)
				seqset_add(&gone, next, hi);
		}
	} else {
		it = store_expunged_iter_begin(s->store, s->view.mailbox_id,
					       c->changedsince);
		while (store_expunged_iter_next(it, &uid, &ms))
			if (seqset_contains(&c->uids, uid))
				seqset_add(&gone, uid, uid);
		store_expunged_iter_end(&it);
	}
	imap_reply_vanished(s, &gone, true);
	seqset_release(&gone);
}

/* RFC 7162 3.1.4 / 3.2.6:
 *   fetch-modifier = "CHANGEDSINCE" SP mod-sequence-valzer / "VANISHED" */
static int parse_modifiers(struct imap_cmd *cmd, struct fetch_ctx *c,
			   const struct imap_arg *a, const char **err_r)
{
	struct imap_arg *l;
	size_t n;
	bool have_cs = false;

	if (!imap_arg_list(a, &l, &n) || n == 0) {
		*err_r = "Invalid fetch modifiers";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (imap_arg_atom_eq(&l[i], "CHANGEDSINCE") && i + 1 < n) {
			if (!imap_arg_number(&l[++i], INT64_MAX,
					     &c->changedsince)) {
				*err_r = "Invalid CHANGEDSINCE value";
				return -1;
			}
			have_cs = true;
		} else if (imap_arg_atom_eq(&l[i], "VANISHED")) {
			c->vanished = true;
		} else {
			*err_r = "Unknown fetch modifier";
			return -1;
		}
	}
	if (c->vanished && (!cmd->uid ||
			    !(cmd->s->enabled & IMAP_ENABLED_QRESYNC) ||
			    !have_cs)) {
		*err_r = "VANISHED needs UID FETCH, QRESYNC and CHANGEDSINCE";
		return -1;
	}
	if (have_cs) {
		/* a CONDSTORE enabling command; MODSEQ is implied */
		cmd->s->enabled |= IMAP_ENABLED_CONDSTORE;
		bool has = false;
		for (size_t i = 0; i < c->nitems; i++)
			has |= c->items[i].kind == FI_MODSEQ;
		if (!has)
			add_item(cmd, c, FI_MODSEQ);
	}
	return 0;
}

/* RFC 9051 6.4.5 (RFC 3501 6.4.5), 6.4.9 (UID FETCH):
 *   fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
 *           fetch-att / "(" fetch-att *(SP fetch-att) ")")
 *           [fetch-modifiers]                       (RFC 7162 / RFC 4466)
 *   uid   = "UID" SP (copy / move / fetch / search / store / uid-expunge)
 * UID FETCH responses always carry UID. FETCH by MSN of a message another
 * session expunged (still in this session's view) is left out and the
 * command ends with NO [EXPUNGEISSUED] (RFC 9051 7.1). */
enum imap_cmd_result imap_cmd_fetch(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct fetch_ctx *c;
	const char *err = NULL;
	struct imap_arg *list;
	size_t n;

	if (cmd->nargs < 2 || cmd->nargs > 3)
		return imap_reply_bad(cmd, "Usage: %s sequence-set items",
				      cmd->name);
	c = imap_cmd_alloc(cmd, sizeof(*c));
	cmd->ctx = c;
	cmd->cleanup = fetch_cleanup;
	seqset_init(&c->msns);
	seqset_init(&c->uids);
	seqset_init(&c->seen_set);
	buf_init(&c->keywords);
	if (imap_msgset_arg(cmd, &cmd->args[0], &c->msns, &c->uids, &err) < 0)
		return imap_reply_bad(cmd, "%s", err);

	const struct imap_arg *atts = &cmd->args[1];
	if (imap_arg_list(atts, &list, &n)) {
		if (n == 0)
			return imap_reply_bad(cmd, "Empty fetch attribute list");
	} else {
		list = (struct imap_arg *)atts;
		n = 1;
	}
	/* room for the items, the macros' expansion, UID, MODSEQ */
	c->items = imap_cmd_alloc(cmd, (n + 8) * sizeof(*c->items));
	if (cmd->uid)
		add_item(cmd, c, FI_UID);
	if (atts->type == IMAP_ARG_ATOM && (imap_arg_atom_eq(atts, "ALL") ||
					    imap_arg_atom_eq(atts, "FAST") ||
					    imap_arg_atom_eq(atts, "FULL"))) {
		/* RFC 9051 6.4.5 macros */
		add_item(cmd, c, FI_FLAGS);
		add_item(cmd, c, FI_INTERNALDATE);
		add_item(cmd, c, FI_SIZE);
		if (!imap_arg_atom_eq(atts, "FAST")) {
			add_item(cmd, c, FI_ENVELOPE);
			c->need_tree = true;
		}
		if (imap_arg_atom_eq(atts, "FULL"))
			add_item(cmd, c, FI_BODY);
	} else {
		for (size_t i = 0; i < n; i++) {
			if (parse_att(cmd, c, &list[i], &err) < 0)
				return imap_reply_bad(cmd, "%s", err);
			struct fitem *it = &c->items[c->nitems - 1];
			/* UID FETCH: UID is already there */
			if (cmd->uid && it->kind == FI_UID && c->nitems > 1)
				c->nitems--;
		}
	}
	if (cmd->nargs == 3 &&
	    parse_modifiers(cmd, c, &cmd->args[2], &err) < 0)
		return imap_reply_bad(cmd, "%s", err);
	for (size_t i = 0; i < c->nitems; i++)
		if (c->items[i].sets_seen)
			c->need_seen = true;

	if (c->vanished)
		send_vanished(cmd, c);
	seqset_begin(&c->it, &c->msns);
	if (c->need_seen && !s->view.read_only) {
		collect_unseen(cmd, c);
		if (c->nseen)
			return imap_cmd_work(cmd, seen_work, seen_done);
	}
	return fetch_run(cmd);
}
