/* cmd-copy.c - COPY, MOVE, UID COPY, UID MOVE (RFC 9051 6.4.7, 6.4.8,
 * 6.4.9; RFC 3501 6.4.7; RFC 6851 MOVE; RFC 4315 COPYUID). */
#include <stdlib.h>
#include <string.h>

#include "cmd-msgs.h"
#include "session.h"
#include "xalloc.h"

struct copy_ctx {
	struct seqset msns;
	struct store_uidset set;
	struct store_mailbox dst;
	bool move;
	int rc;
	struct store_err err;
	uint32_t *src_uids, *dst_uids; /* malloc'd by the store */
	size_t n;
	uint32_t uidvalidity;
};

static void copy_cleanup(struct imap_cmd *cmd)
{
	struct copy_ctx *c = cmd->ctx;

	seqset_release(&c->msns);
	free(c->src_uids);
	free(c->dst_uids);
}

static void copy_work(struct imap_cmd *cmd)
{
	struct copy_ctx *c = cmd->ctx;

	c->rc = store_copy(cmd->s->store, cmd->s->view.mailbox_id, &c->set,
			   c->dst.id, c->move, &c->src_uids, &c->dst_uids,
			   &c->n, &c->uidvalidity, &c->err);
}

/* "COPYUID uidvalidity source-uids dest-uids" (RFC 4315 3): the store
 * copies in UID order and gives the new UIDs ascending, so both sets are
 * written compressed and still pair up in order. */
static void copyuid_code(struct copy_ctx *c, struct buf *b)
{
	struct seqset src = SEQSET_INIT, dst = SEQSET_INIT;

	for (size_t i = 0; i < c->n; i++) {
		seqset_add(&src, c->src_uids[i], c->src_uids[i]);
		seqset_add(&dst, c->dst_uids[i], c->dst_uids[i]);
	}
	seqset_resolve(&src, UINT32_MAX, true);
	seqset_resolve(&dst, UINT32_MAX, true);
	buf_printf(b, "COPYUID %u ", c->uidvalidity);
	seqset_write(&src, b);
	buf_append_c(b, ' ');
	seqset_write(&dst, b);
	seqset_release(&src);
	seqset_release(&dst);
}

static enum imap_cmd_result copy_done(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct copy_ctx *c = cmd->ctx;
	struct buf code = BUF_INIT;
	enum imap_cmd_result r;

	if (c->rc < 0) {
		if (c->err.code == STORE_ERR_NOTFOUND)
			return imap_reply_no(cmd, "TRYCREATE",
					     "Mailbox does not exist");
		return imap_reply_store_err(cmd, &c->err, cmd->name);
	}
	if (c->n == 0)
		return imap_reply_ok(cmd, NULL, "No messages %s",
				     c->move ? "moved" : "copied");
	copyuid_code(c, &code);
	if (c->move) {
		/* RFC 6851 4.3: COPYUID in an untagged OK before the
		 * EXPUNGEs, which the view's sync sends before the tagged
		 * OK */
		struct buf *b = imap_reply_begin(s);
		buf_printf(b, "OK [%s] Moved UIDs.", code.data);
		imap_reply_end(s);
		r = imap_reply_ok(cmd, NULL, "%s completed", cmd->name);
	} else {
		r = imap_reply_ok(cmd, code.data, "%s completed", cmd->name);
	}
	buf_release(&code);
	return r;
}

/* RFC 9051 6.4.7: copy = "COPY" SP sequence-set SP mailbox
 * RFC 9051 6.4.8, RFC 6851 3.1: move = "MOVE" SP sequence-set SP mailbox
 * RFC 9051 6.4.9: the UID forms.
 * A missing destination gives NO [TRYCREATE] (RFC 9051 7.1). MOVE to
 * the selected mailbox itself is allowed: the messages get new UIDs
 * there and the old ones are expunged. */
enum imap_cmd_result imap_cmd_copy(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct copy_ctx *c;
	const char *err = NULL, *name;
	struct store_err serr = {0};

	if (cmd->nargs != 2)
		return imap_reply_bad(cmd, "Usage: %s sequence-set mailbox",
				      cmd->name);
	c = imap_cmd_alloc(cmd, sizeof(*c));
	cmd->ctx = c;
	cmd->cleanup = copy_cleanup;
	seqset_init(&c->msns);
	c->move = strstr(cmd->name, "MOVE") != NULL;
	if (imap_msgset_arg(cmd, &cmd->args[0], &c->msns, NULL, &err) < 0)
		return imap_reply_bad(cmd, "%s", err);
	name = imap_mailbox_arg(cmd, &cmd->args[1], &err);
	if (!name)
		return imap_reply_bad(cmd, "%s", err);
	if (store_mailbox_get(s->store, name, &c->dst, &serr) < 0) {
		if (serr.code == STORE_ERR_NOTFOUND)
			return imap_reply_no(cmd, "TRYCREATE",
					     "Mailbox does not exist");
		return imap_reply_store_err(cmd, &serr, cmd->name);
	}
	c->set = imap_msgset_uidset(cmd, &c->msns);
	if (c->set.n == 0)
		return imap_reply_ok(cmd, NULL, "No messages %s",
				     c->move ? "moved" : "copied");
	return imap_cmd_work(cmd, copy_work, copy_done);
}
