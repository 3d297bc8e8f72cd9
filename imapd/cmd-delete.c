/* cmd-delete.c - DELETE. */
#include <string.h>

#include "session.h"

struct delete_ctx {
	const char *name;
	int rc;
	struct store_err err;
};

static void delete_work(struct imap_cmd *cmd)
{
	struct delete_ctx *c = cmd->ctx;

	c->rc = store_mailbox_delete(cmd->s->store, c->name, &c->err);
}

static enum imap_cmd_result delete_done(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct delete_ctx *c = cmd->ctx;

	if (c->rc < 0)
		return imap_reply_store_err(cmd, &c->err, "DELETE");
	/* deleting the selected mailbox deselects it */
	if (s->state == IMAP_STATE_SELECTED &&
	    strcmp(s->view.name, c->name) == 0)
		imap_enter_state(s, IMAP_STATE_AUTHENTICATED);
	return imap_reply_ok(cmd, NULL, "DELETE completed");
}

/* RFC 9051 6.3.5: delete = "DELETE" SP mailbox
 * INBOX cannot be deleted (NO [CANNOT]); a mailbox with inferiors is
 * refused with NO [HASCHILDREN] (the store does not model \Noselect). */
enum imap_cmd_result imap_cmd_delete(struct imap_cmd *cmd)
{
	struct delete_ctx *c;
	const char *why;

	if (cmd->nargs != 1)
		return imap_reply_bad(cmd, "Usage: DELETE mailbox");
	c = imap_cmd_alloc(cmd, sizeof(*c));
	cmd->ctx = c;
	c->name = imap_mailbox_arg(cmd, &cmd->args[0], &why);
	if (!c->name)
		return imap_reply_bad(cmd, "%s", why);
	if (strcmp(c->name, "INBOX") == 0)
		return imap_reply_no(cmd, "CANNOT", "INBOX cannot be deleted");
	return imap_cmd_work(cmd, delete_work, delete_done);
}
