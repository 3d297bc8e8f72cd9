/* cmd-expunge.c - EXPUNGE (RFC 9051 6.4.3, RFC 3501 6.4.3) and UID
 * EXPUNGE (RFC 9051 6.4.9, RFC 4315 2.1 UIDPLUS). */
#include "cmd-msgs.h"
#include "session.h"

struct expunge_ctx {
	struct seqset msns;
	struct store_uidset set;
	bool all;
	int rc;
	uint32_t count;
	struct store_err err;
};

static void expunge_cleanup(struct imap_cmd *cmd)
{
	struct expunge_ctx *c = cmd->ctx;

	seqset_release(&c->msns);
}

static void expunge_work(struct imap_cmd *cmd)
{
	struct expunge_ctx *c = cmd->ctx;

	c->rc = store_expunge(cmd->s->store, cmd->s->view.mailbox_id,
			      c->all ? NULL : &c->set, true, &c->count,
			      &c->err);
}

/* The untagged EXPUNGE responses (RFC 9051 7.5.1: each MSN as it is when
 * that response is sent) or VANISHED (RFC 7162 3.2.10, with QRESYNC) are
 * sent by the view's sync before the tagged OK, for these messages and
 * any other session's expunges alike. */
static enum imap_cmd_result expunge_done(struct imap_cmd *cmd)
{
	struct expunge_ctx *c = cmd->ctx;

	if (c->rc < 0)
		return imap_reply_store_err(cmd, &c->err, cmd->name);
	if (cmd->s->enabled & IMAP_ENABLED_QRESYNC) {
		/* RFC 7162 3.2 (EXPUNGE with QRESYNC): the tagged OK carries
		 * HIGHESTMODSEQ; read before the sync that precedes the
		 * tagged line, so it never exceeds what the sync reports */
		struct store_mailbox mb;
		struct store_err err = {0};
		char code[48];
		if (store_mailbox_get_by_id(cmd->s->store,
					    cmd->s->view.mailbox_id, &mb,
					    &err) == 0) {
			snprintf(code, sizeof(code), "HIGHESTMODSEQ %llu",
				 (unsigned long long)mb.highestmodseq);
			return imap_reply_ok(cmd, code, "%s completed",
					     cmd->name);
		}
	}
	return imap_reply_ok(cmd, NULL, "%s completed", cmd->name);
}

/* RFC 9051 6.4.3: expunge = "EXPUNGE"
 * RFC 9051 6.4.9, RFC 4315 2.1: uid-expunge = "EXPUNGE" SP sequence-set
 *   (after "UID"): only the messages of the set with \Deleted go.
 * The mailbox must be read-write (table flag IMAP_CMDF_WRITE). */
enum imap_cmd_result imap_cmd_expunge(struct imap_cmd *cmd)
{
	struct expunge_ctx *c;
	const char *err = NULL;

	if (cmd->nargs != (cmd->uid ? 1u : 0u))
		return imap_reply_bad(cmd, cmd->uid ? "Usage: UID EXPUNGE uids"
						    : "EXPUNGE takes no "
						      "arguments");
	c = imap_cmd_alloc(cmd, sizeof(*c));
	cmd->ctx = c;
	cmd->cleanup = expunge_cleanup;
	seqset_init(&c->msns);
	c->all = !cmd->uid;
	if (cmd->uid) {
		if (imap_msgset_arg(cmd, &cmd->args[0], &c->msns, NULL,
				    &err) < 0)
			return imap_reply_bad(cmd, "%s", err);
		/* only the messages this session knows of */
		c->set = imap_msgset_uidset(cmd, &c->msns);
		if (c->set.n == 0)
			return imap_reply_ok(cmd, NULL, "%s completed",
					     cmd->name);
	}
	return imap_cmd_work(cmd, expunge_work, expunge_done);
}
