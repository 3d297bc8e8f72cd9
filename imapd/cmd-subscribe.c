/* cmd-subscribe.c - SUBSCRIBE and UNSUBSCRIBE. */
#include <string.h>

#include "session.h"

struct sub_ctx {
	const char *name;
	bool on;
	int rc;
	struct store_err err;
};

static void sub_work(struct imap_cmd *cmd)
{
	struct sub_ctx *c = cmd->ctx;

	c->rc = store_subscribe(cmd->s->store, c->name, c->on, &c->err);
}

static enum imap_cmd_result sub_done(struct imap_cmd *cmd)
{
	struct sub_ctx *c = cmd->ctx;

	if (c->rc < 0)
		return imap_reply_store_err(cmd, &c->err, cmd->name);
	return imap_reply_ok(cmd, NULL, "%s completed", cmd->name);
}

/* RFC 9051 6.3.7: subscribe = "SUBSCRIBE" SP mailbox
 * RFC 9051 6.3.8: unsubscribe = "UNSUBSCRIBE" SP mailbox
 * A subscription may name a mailbox that does not exist. */
enum imap_cmd_result imap_cmd_subscribe(struct imap_cmd *cmd)
{
	struct sub_ctx *c;
	const char *why;

	if (cmd->nargs != 1)
		return imap_reply_bad(cmd, "Usage: %s mailbox", cmd->name);
	c = imap_cmd_alloc(cmd, sizeof(*c));
	cmd->ctx = c;
	c->name = imap_mailbox_arg(cmd, &cmd->args[0], &why);
	if (!c->name)
		return imap_reply_bad(cmd, "%s", why);
	if (!c->name[0])
		return imap_reply_no(cmd, "CANNOT", "Empty mailbox name");
	c->on = strcmp(cmd->name, "SUBSCRIBE") == 0;
	return imap_cmd_work(cmd, sub_work, sub_done);
}
