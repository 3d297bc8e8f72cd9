/* cmd-close.c - CLOSE and UNSELECT. */
#include <string.h>

#include "session.h"

struct close_ctx {
	int64_t mailbox_id;
	int rc;
	struct store_err err;
};

static void expunge_work(struct imap_cmd *cmd)
{
	struct close_ctx *c = cmd->ctx;

	c->rc = store_expunge(cmd->s->store, c->mailbox_id, NULL, true, NULL,
			      &c->err);
}

static enum imap_cmd_result close_done(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct close_ctx *c = cmd->ctx;

	/* leaving SELECTED first: no untagged EXPUNGE (RFC 9051 6.4.1) */
	imap_enter_state(s, IMAP_STATE_AUTHENTICATED);
	if (c && c->rc < 0)
		return imap_reply_store_err(cmd, &c->err, "CLOSE");
	return imap_reply_ok(cmd, NULL, "%s completed", cmd->name);
}

/* RFC 9051 6.4.1: close = "CLOSE": expunges \Deleted messages silently
 * when the mailbox is read-write, then returns to AUTHENTICATED.
 * RFC 9051 6.4.2 (RFC 3691): unselect = "UNSELECT": the same without the
 * expunge. */
enum imap_cmd_result imap_cmd_close(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct close_ctx *c;

	if (cmd->nargs != 0)
		return imap_reply_bad(cmd, "%s takes no arguments", cmd->name);
	if (strcmp(cmd->name, "UNSELECT") == 0 || s->view.read_only)
		return close_done(cmd);
	c = imap_cmd_alloc(cmd, sizeof(*c));
	c->mailbox_id = s->view.mailbox_id;
	cmd->ctx = c;
	return imap_cmd_work(cmd, expunge_work, close_done);
}
