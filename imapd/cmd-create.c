/* cmd-create.c - CREATE (with RFC 6154 USE). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "session.h"

struct create_ctx {
	const char *name;
	unsigned special_use;
	int rc;
	struct store_err err;
	struct store_mailbox mb; /* after success: its MAILBOXID */
};

static void create_work(struct imap_cmd *cmd)
{
	struct create_ctx *c = cmd->ctx;

	c->rc = store_mailbox_create(cmd->s->store, c->name, c->special_use,
				     &c->err);
}

static enum imap_cmd_result create_done(struct imap_cmd *cmd)
{
	struct create_ctx *c = cmd->ctx;

	if (c->rc < 0)
		return imap_reply_store_err(cmd, &c->err, "CREATE");
	/* the store's reader belongs to the loop thread: read it here */
	if (store_mailbox_get(cmd->s->store, c->name, &c->mb, &c->err) < 0)
		c->mb.mailboxid[0] = '\0';
	/* RFC 8474 4.1: the tagged OK carries the new MAILBOXID. */
	if (c->mb.mailboxid[0]) {
		size_t n = sizeof(c->mb.mailboxid) + 16;
		char *code = imap_cmd_alloc(cmd, n);

		snprintf(code, n, "MAILBOXID (%s)", c->mb.mailboxid);
		return imap_reply_ok(cmd, code, "CREATE completed");
	}
	return imap_reply_ok(cmd, NULL, "CREATE completed");
}

/* RFC 6154 5.2 use-attr names -> STORE_SU_*; 0 when unknown. */
unsigned imap_special_use_bit(const char *attr)
{
	static const struct {
		const char *name;
		unsigned bit;
	} su[] = {
		{"\\Drafts", STORE_SU_DRAFTS}, {"\\Sent", STORE_SU_SENT},
		{"\\Trash", STORE_SU_TRASH},   {"\\Junk", STORE_SU_JUNK},
		{"\\Archive", STORE_SU_ARCHIVE}, {"\\All", STORE_SU_ALL},
		{"\\Flagged", STORE_SU_FLAGGED},
	};
	for (size_t i = 0; i < sizeof(su) / sizeof(su[0]); i++)
		if (strcasecmp(attr, su[i].name) == 0)
			return su[i].bit;
	return 0;
}

/* RFC 9051 6.3.4: create = "CREATE" SP mailbox [create-params]
 * RFC 6154 5.2: create-param =/ "USE" SP "(" [use-attr *(SP use-attr)] ")"
 * Missing superior names are created too. A trailing separator only
 * says the client intends to create children (dropped). */
enum imap_cmd_result imap_cmd_create(struct imap_cmd *cmd)
{
	struct create_ctx *c;
	const char *why;

	if (cmd->nargs < 1 || cmd->nargs > 2)
		return imap_reply_bad(cmd, "Usage: CREATE mailbox");
	c = imap_cmd_alloc(cmd, sizeof(*c));
	cmd->ctx = c;
	c->name = imap_mailbox_arg(cmd, &cmd->args[0], &why);
	if (!c->name)
		return imap_reply_bad(cmd, "%s", why);
	if (!c->name[0] || strcmp(c->name, "/") == 0)
		return imap_reply_no(cmd, "CANNOT", "Empty mailbox name");
	if (strcmp(c->name, "INBOX") == 0)
		return imap_reply_no(cmd, "ALREADYEXISTS", "INBOX exists");
	if (cmd->nargs == 2) {
		struct imap_arg *l, *u;
		size_t n, un;
		if (!imap_arg_list(&cmd->args[1], &l, &n) || n != 2 ||
		    !imap_arg_atom_eq(&l[0], "USE") ||
		    !imap_arg_list(&l[1], &u, &un))
			return imap_reply_bad(cmd, "Invalid CREATE parameters");
		for (size_t i = 0; i < un; i++) {
			const char *a;
			unsigned bit;
			if (!imap_arg_atom(&u[i], &a))
				return imap_reply_bad(cmd, "Invalid USE");
			bit = imap_special_use_bit(a);
			if (!bit)
				return imap_reply_no(cmd, "USEATTR",
						     "Unsupported special-use "
						     "attribute");
			c->special_use |= bit;
		}
	}
	return imap_cmd_work(cmd, create_work, create_done);
}
