/* cmd-store.c - STORE and UID STORE (RFC 9051 6.4.6, 6.4.9; RFC 3501
 * 6.4.6, 6.4.8), with UNCHANGEDSINCE and [MODIFIED] (RFC 7162 3.1.3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd-msgs.h"
#include "session.h"
#include "write.h"
#include "xalloc.h"

struct store_ctx {
	struct seqset msns, uids;
	struct store_uidset set;
	enum store_flag_op op;
	uint32_t flags;
	char *keywords;        /* space-separated, arena */
	bool silent;
	bool has_unchanged;
	uint64_t unchangedsince;
	uint64_t modseq_before; /* the mailbox's HIGHESTMODSEQ before */

	/* job results */
	int rc;
	struct store_err err;
	uint32_t *failed;      /* UIDs failing UNCHANGEDSINCE (malloc) */
	size_t nfailed;
	struct seqset failed_set;

	/* replies */
	struct seqset_iter it;
};

static void store_cleanup(struct imap_cmd *cmd)
{
	struct store_ctx *c = cmd->ctx;

	seqset_release(&c->msns);
	seqset_release(&c->uids);
	seqset_release(&c->failed_set);
	free(c->failed);
}

/* flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" /
 *        flag-keyword / flag-extension          (RFC 9051 9)
 * Keywords are atoms; PERMANENTFLAGS has \* so any is accepted. */
static int add_flag(struct imap_cmd *cmd, struct store_ctx *c,
		    const struct imap_arg *a, struct buf *kw,
		    const char **err_r)
{
	const char *s;
	unsigned bit;

	(void)cmd;
	if (!imap_arg_atom(a, &s) || a->len == 0) {
		*err_r = "Invalid flag";
		return -1;
	}
	if (s[0] == '\\') {
		/* \Recent cannot be stored (RFC 3501 2.3.2); other
		 * flag-extensions are not defined */
		if (!(bit = imap_sys_flag_bit(s))) {
			*err_r = "Invalid system flag";
			return -1;
		}
		c->flags |= bit;
		return 0;
	}
	if (!imap_is_keyword(s, a->len)) {
		*err_r = "Invalid keyword";
		return -1;
	}
	if (a->len > 200) {
		*err_r = "Keyword too long";
		return -1;
	}
	if (kw->len)
		buf_append_c(kw, ' ');
	buf_append(kw, s, a->len);
	return 0;
}

/* Sends the untagged FETCH replies (RFC 9051 6.4.6: "the server returns
 * an untagged FETCH response with the message's flags"; RFC 7162 3.1.3:
 * with CONDSTORE also MODSEQ, even with .SILENT for messages whose
 * MODSEQ changed), pausing while the output is full. */
static enum imap_cmd_result store_replies(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct store_ctx *c = cmd->ctx;
	bool condstore = imap_condstore(s);
	uint32_t msn;

	for (;;) {
		if (imap_output_full(s))
			return imap_cmd_set_cont(cmd, store_replies);
		if (!seqset_next(&c->it, &msn))
			break;
		uint32_t uid = s->view.uids[msn - 1];
		struct store_msg m;
		struct store_err err;

		if (c->failed_set.n && seqset_contains(&c->failed_set, uid))
			continue;
		if (store_msg_get(s->store, s->view.mailbox_id, uid, &m,
				  &err) < 0)
			continue; /* expunged meanwhile */
		bool changed = m.modseq > c->modseq_before;
		if (c->silent && !(condstore && changed))
			continue;
		struct buf *b = imap_reply_begin(s);
		buf_printf(b, "%u FETCH (", msn);
		if (cmd->uid)
			buf_printf(b, "UID %u ", uid);
		if (!c->silent) {
			imap_w_msg_flags(s, b, &m);
			if (condstore)
				buf_append_c(b, ' ');
		}
		if (condstore)
			buf_printf(b, "MODSEQ (%llu)",
				   (unsigned long long)m.modseq);
		buf_append_c(b, ')');
		imap_reply_end(s);
	}
	if (c->failed_set.n) {
		/* RFC 7162 3.1.3: [MODIFIED] lists the messages that failed
		 * the UNCHANGEDSINCE test, as MSNs for STORE, UIDs for UID
		 * STORE */
		struct buf code = BUF_INIT;
		struct seqset out = SEQSET_INIT;
		struct seqset_iter fi;
		uint32_t u;
		seqset_begin(&fi, &c->failed_set);
		while (seqset_next(&fi, &u)) {
			uint32_t n = cmd->uid ? u : imap_view_msn(&s->view, u);
			if (n)
				seqset_add(&out, n, n);
		}
		seqset_resolve(&out, UINT32_MAX, true);
		buf_append_str(&code, "MODIFIED ");
		seqset_write(&out, &code);
		seqset_release(&out);
		enum imap_cmd_result r = imap_reply_ok(
			cmd, code.data, "Conditional %s failed", cmd->name);
		buf_release(&code);
		return r;
	}
	return imap_reply_ok(cmd, NULL, "%s completed", cmd->name);
}

static void store_work(struct imap_cmd *cmd)
{
	struct store_ctx *c = cmd->ctx;

	c->rc = store_set_flags(cmd->s->store, cmd->s->view.mailbox_id,
				&c->set, c->op, c->flags, c->keywords,
				c->unchangedsince, &c->failed, &c->nfailed,
				&c->err);
}

static enum imap_cmd_result store_done(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct store_ctx *c = cmd->ctx;

	if (c->rc < 0)
		return imap_reply_store_err(cmd, &c->err, cmd->name);
	for (size_t i = 0; i < c->nfailed; i++)
		seqset_add(&c->failed_set, c->failed[i], c->failed[i]);
	seqset_resolve(&c->failed_set, UINT32_MAX, true);
	/* our own changes are reported here, not again by the view */
	(void)imap_view_absorb(s, &c->uids);
	seqset_begin(&c->it, &c->msns);
	return store_replies(cmd);
}

/* RFC 9051 6.4.6 (RFC 3501 6.4.6), 6.4.9; RFC 7162 3.1.3:
 *   store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
 *   store-modifiers = SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"
 *   store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
 *                     (flag-list / (flag *(SP flag)))
 * UNCHANGEDSINCE 0 fails for every message (RFC 7162 3.1.3: a flag always
 * "exists"); the store treats 0 as no test, so it is answered here. */
enum imap_cmd_result imap_cmd_store(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct store_ctx *c;
	const char *err = NULL, *item;
	size_t i = 1;
	struct buf kw = BUF_INIT;
	struct store_mailbox mb;
	struct store_err serr = {0};

	if (cmd->nargs < 3)
		return imap_reply_bad(cmd, "Usage: %s sequence-set "
					   "[+-]FLAGS[.SILENT] flags",
				      cmd->name);
	c = imap_cmd_alloc(cmd, sizeof(*c));
	cmd->ctx = c;
	cmd->cleanup = store_cleanup;
	seqset_init(&c->msns);
	seqset_init(&c->uids);
	seqset_init(&c->failed_set);
	if (imap_msgset_arg(cmd, &cmd->args[0], &c->msns, NULL, &err) < 0)
		return imap_reply_bad(cmd, "%s", err);
	if (cmd->args[1].type == IMAP_ARG_LIST) {
		struct imap_arg *l;
		size_t n;
		(void)imap_arg_list(&cmd->args[1], &l, &n);
		if (n != 2 || !imap_arg_atom_eq(&l[0], "UNCHANGEDSINCE") ||
		    !imap_arg_number(&l[1], INT64_MAX, &c->unchangedsince))
			return imap_reply_bad(cmd, "Invalid store modifiers");
		c->has_unchanged = true;
		/* a CONDSTORE enabling command (RFC 7162 3.1) */
		s->enabled |= IMAP_ENABLED_CONDSTORE;
		i = 2;
	}
	if (i + 1 >= cmd->nargs)
		return imap_reply_bad(cmd, "Missing flags");
	if (!imap_arg_atom(&cmd->args[i], &item))
		return imap_reply_bad(cmd, "Invalid store item");
	c->op = STORE_FLAGS_REPLACE;
	if (*item == '+' || *item == '-') {
		c->op = *item == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		item++;
	}
	if (strcasecmp(item, "FLAGS.SILENT") == 0)
		c->silent = true;
	else if (strcasecmp(item, "FLAGS") != 0)
		return imap_reply_bad(cmd, "Invalid store item");
	i++;
	struct imap_arg *fl = &cmd->args[i];
	size_t nfl = cmd->nargs - i;
	if (nfl == 1 && cmd->args[i].type == IMAP_ARG_LIST)
		(void)imap_arg_list(&cmd->args[i], &fl, &nfl);
	for (size_t k = 0; k < nfl; k++) {
		if (add_flag(cmd, c, &fl[k], &kw, &err) < 0) {
			buf_release(&kw);
			return imap_reply_bad(cmd, "%s", err);
		}
	}
	c->keywords = kw.len ? imap_cmd_strndup(cmd, kw.data, kw.len) : NULL;
	buf_release(&kw);

	seqset_msn_to_uid(&c->msns, s->view.uids, s->view.count, &c->uids);
	c->set = imap_msgset_uidset(cmd, &c->msns);
	if (store_mailbox_get_by_id(s->store, s->view.mailbox_id, &mb,
				    &serr) < 0)
		return imap_reply_store_err(cmd, &serr, cmd->name);
	c->modseq_before = mb.highestmodseq;
	if (c->has_unchanged && c->unchangedsince == 0) {
		/* every message fails; nothing is written */
		seqset_reset(&c->failed_set);
		for (size_t k = 0; k < c->uids.n; k++)
			seqset_add(&c->failed_set, c->uids.r[k].lo,
				   c->uids.r[k].hi);
		seqset_resolve(&c->failed_set, UINT32_MAX, true);
		seqset_begin(&c->it, &c->msns);
		return store_replies(cmd);
	}
	return imap_cmd_work(cmd, store_work, store_done);
}
