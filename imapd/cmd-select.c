/* cmd-select.c - SELECT and EXAMINE. */
#include <string.h>

#include "qresync.h"
#include "session.h"
#include "write.h"

struct select_ctx {
	const char *name;
	struct store_mailbox mb;
	bool claim;             /* rev1 SELECT: take \Recent */
	uint32_t first_recent;
	int rc;
	struct store_err err;
	struct imap_qresync *qr; /* RFC 7162 3.2.5, or NULL */
};

static void claim_work(struct imap_cmd *cmd)
{
	struct select_ctx *c = cmd->ctx;

	c->rc = store_claim_recent(cmd->s->store, c->mb.id, &c->first_recent,
				   &c->err);
}

/* The mailbox is known (and \Recent claimed): load the view and answer
 * RFC 9051 6.3.2 / RFC 3501 6.3.1. */
static enum imap_cmd_result select_finish(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct select_ctx *c = cmd->ctx;
	struct imap_view *v = &s->view;
	bool read_only = strcmp(cmd->name, "EXAMINE") == 0;
	bool rev1 = !imap_rev2(s);
	struct store_err err = {0};
	struct buf *b;

	if (c->claim && c->rc < 0)
		return imap_reply_store_err(cmd, &c->err, "SELECT");
	/* re-read: the claim moved first_recent_uid, mail may have come */
	if (store_mailbox_get_by_id(s->store, c->mb.id, &c->mb, &err) < 0 ||
	    imap_view_open(v, s->store, &c->mb, read_only,
			   c->claim ? c->first_recent
				    : c->mb.first_recent_uid,
			   &err) < 0)
		return imap_reply_store_err(cmd, &err, "SELECT");
	imap_enter_state(s, IMAP_STATE_SELECTED);
	imap_session_watch(s);

	imap_reply_untagged(s, "FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
			       "\\Draft)");
	imap_reply_untagged(s, "%u EXISTS", v->count);
	if (!rev1) {
		/* RFC 9051 6.3.2: "REQUIRED untagged responses: FLAGS,
		 * EXISTS, LIST" -- the name as stored, with its attributes
		 * (special use; children are optional, RFC 9051 7.3.1) */
		b = imap_reply_begin(s);
		buf_append_str(b, "LIST (");
		size_t start = b->len;
		imap_w_special_use(b, c->mb.special_use);
		if (b->len > start) {
			memmove(b->data + start, b->data + start + 1,
				b->len - start - 1);
			buf_truncate(b, b->len - 1);
		}
		buf_printf(b, ") \"%c\" ", imap_separator(s));
		imap_w_mailbox_name(s, b, c->mb.name);
		imap_reply_end(s);
	}
	if (rev1) {
		/* RECENT and UNSEEN are IMAP4rev1 only (RFC 9051 E.) */
		imap_reply_untagged(s, "%u RECENT", imap_view_recent(v));
		uint32_t uid = 0, first = 0;
		/* a message that came after the view was loaded has a
		 * higher UID than all of it: then none of the view is */
		if (c->mb.unseen > 0 &&
		    store_first_uid_without(s->store, c->mb.id, STORE_F_SEEN,
					    &uid, &err) == 0 && uid)
			first = imap_view_msn(v, uid);
		if (first)
			imap_reply_untagged(s, "OK [UNSEEN %u] First unseen",
					    first);
	}
	imap_reply_untagged(s, "OK [UIDVALIDITY %u] UIDs valid",
			    c->mb.uidvalidity);
	imap_reply_untagged(s, "OK [UIDNEXT %u] Predicted next UID",
			    c->mb.uidnext);
	b = imap_reply_begin(s);
	if (read_only)
		buf_append_str(b, "OK [PERMANENTFLAGS ()] Read-only mailbox");
	else
		buf_append_str(b, "OK [PERMANENTFLAGS (\\Answered \\Flagged "
				  "\\Deleted \\Seen \\Draft \\*)] Limited");
	imap_reply_end(s);
	imap_reply_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest",
			    (unsigned long long)c->mb.highestmodseq);
	imap_reply_untagged(s, "OK [MAILBOXID (%s)] Ok", c->mb.mailboxid);
	imap_qresync_select(s, c->qr);
	return imap_reply_ok(cmd, read_only ? "READ-ONLY" : "READ-WRITE",
			     "%s completed", cmd->name);
}

/* RFC 9051 6.3.2 / 6.3.3:
 *   select  = "SELECT" SP mailbox [select-params]
 *   examine = "EXAMINE" SP mailbox [select-params]
 *   select-params = SP "(" select-param *(SP select-param) ")"
 * Known parameters: CONDSTORE (RFC 7162 3.1.8) and QRESYNC (3.2.5,
 * qresync.c). Selecting while
 * a mailbox is selected first closes it, with OK [CLOSED] (RFC 9051
 * 7.1); if the new SELECT then fails, no mailbox is selected. */
enum imap_cmd_result imap_cmd_select(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct select_ctx *c;
	struct store_err err = {0};
	const char *why;
	const char *name;
	struct imap_qresync *qr = NULL;

	if (cmd->nargs < 1 || cmd->nargs > 2)
		return imap_reply_bad(cmd, "Usage: %s mailbox", cmd->name);
	name = imap_mailbox_arg(cmd, &cmd->args[0], &why);
	if (!name)
		return imap_reply_bad(cmd, "%s", why);
	if (cmd->nargs == 2) {
		struct imap_arg *l;
		size_t n;
		if (!imap_arg_list(&cmd->args[1], &l, &n))
			return imap_reply_bad(cmd, "Invalid select parameters");
		for (size_t i = 0; i < n; i++) {
			if (imap_arg_atom_eq(&l[i], "QRESYNC") && i + 1 < n) {
				qr = imap_qresync_parse(cmd, &l[++i], &why);
				if (!qr)
					return imap_reply_bad(cmd, "%s", why);
				continue;
			}
			if (!imap_arg_atom_eq(&l[i], "CONDSTORE"))
				return imap_reply_bad(cmd, "Unknown select "
							   "parameter");
			s->enabled |= IMAP_ENABLED_CONDSTORE;
		}
	}
	if (s->state == IMAP_STATE_SELECTED) {
		imap_enter_state(s, IMAP_STATE_AUTHENTICATED);
		imap_reply_untagged(s, "OK [CLOSED] Previous mailbox closed");
	}
	c = imap_cmd_alloc(cmd, sizeof(*c));
	cmd->ctx = c;
	c->name = name;
	c->qr = qr;
	if (store_mailbox_get(s->store, name, &c->mb, &err) < 0)
		return imap_reply_store_err(cmd, &err, cmd->name);
	c->claim = !imap_rev2(s) && strcmp(cmd->name, "SELECT") == 0;
	if (!c->claim)
		return select_finish(cmd);
	return imap_cmd_work(cmd, claim_work, select_finish);
}
