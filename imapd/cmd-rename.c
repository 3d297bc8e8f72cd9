/* cmd-rename.c - RENAME. */
#include <stdlib.h>
#include <string.h>

#include "session.h"

struct rename_ctx {
	const char *from, *to;
	int64_t inbox_id, dst_id;
	int rc;
	struct store_err err;
};

static void rename_work(struct imap_cmd *cmd)
{
	struct rename_ctx *c = cmd->ctx;

	c->rc = store_mailbox_rename(cmd->s->store, c->from, c->to, &c->err);
}

static enum imap_cmd_result rename_done(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct rename_ctx *c = cmd->ctx;

	if (c->rc < 0)
		return imap_reply_store_err(cmd, &c->err, "RENAME");
	/* a renamed selected mailbox keeps being the selected one */
	if (s->state == IMAP_STATE_SELECTED &&
	    strcmp(s->view.name, c->from) == 0)
		snprintf(s->view.name, sizeof(s->view.name), "%s", c->to);
	return imap_reply_ok(cmd, NULL, "RENAME completed");
}

/* INBOX: step 2, move every message of INBOX to the new mailbox. */
static void inbox_move_work(struct imap_cmd *cmd)
{
	struct rename_ctx *c = cmd->ctx;
	struct store_uid_range all = {1, UINT32_MAX - 1};
	struct store_uidset set = {&all, 1};
	uint32_t *src = NULL, *dst = NULL;
	size_t n = 0;
	uint32_t uv;

	c->rc = store_copy(cmd->s->store, c->inbox_id, &set, c->dst_id, true,
			   &src, &dst, &n, &uv, &c->err);
	free(src);
	free(dst);
}

static void inbox_create_work(struct imap_cmd *cmd)
{
	struct rename_ctx *c = cmd->ctx;

	c->rc = store_mailbox_create(cmd->s->store, c->to, 0, &c->err);
}

static enum imap_cmd_result inbox_created(struct imap_cmd *cmd)
{
	struct rename_ctx *c = cmd->ctx;
	struct store_mailbox mb;

	if (c->rc < 0)
		return imap_reply_store_err(cmd, &c->err, "RENAME");
	if (store_mailbox_get(cmd->s->store, c->to, &mb, &c->err) < 0)
		return imap_reply_store_err(cmd, &c->err, "RENAME");
	c->dst_id = mb.id;
	return imap_cmd_work(cmd, inbox_move_work, rename_done);
}

/* RFC 9051 6.3.6: rename = "RENAME" SP mailbox SP mailbox
 * Inferiors are renamed too. Renaming INBOX is special: a new mailbox
 * is created and every INBOX message moved into it; INBOX stays, empty
 * (and its inferiors stay where they are). */
enum imap_cmd_result imap_cmd_rename(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct rename_ctx *c;
	const char *why;

	if (cmd->nargs != 2)
		return imap_reply_bad(cmd, "Usage: RENAME from to");
	c = imap_cmd_alloc(cmd, sizeof(*c));
	cmd->ctx = c;
	c->from = imap_mailbox_arg(cmd, &cmd->args[0], &why);
	if (c->from)
		c->to = imap_mailbox_arg(cmd, &cmd->args[1], &why);
	if (!c->from || !c->to)
		return imap_reply_bad(cmd, "%s", why);
	if (!c->to[0])
		return imap_reply_no(cmd, "CANNOT", "Empty mailbox name");
	if (strcmp(c->to, "INBOX") == 0)
		return imap_reply_no(cmd, "ALREADYEXISTS", "INBOX exists");
	if (strcmp(c->from, "INBOX") == 0) {
		struct store_mailbox mb;
		if (store_mailbox_get(s->store, "INBOX", &mb, &c->err) < 0)
			return imap_reply_store_err(cmd, &c->err, "RENAME");
		c->inbox_id = mb.id;
		return imap_cmd_work(cmd, inbox_create_work, inbox_created);
	}
	return imap_cmd_work(cmd, rename_work, rename_done);
}
