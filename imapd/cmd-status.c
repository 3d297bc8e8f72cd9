/* cmd-status.c - STATUS. */
#include <string.h>

#include "config.h"
#include "session.h"

static const struct {
	const char *name;
	unsigned bit;
} status_atts[] = {
	{"MESSAGES", IMAP_STATUS_MESSAGES},
	{"UIDNEXT", IMAP_STATUS_UIDNEXT},
	{"UIDVALIDITY", IMAP_STATUS_UIDVALIDITY},
	{"UNSEEN", IMAP_STATUS_UNSEEN},
	{"DELETED", IMAP_STATUS_DELETED},
	{"SIZE", IMAP_STATUS_SIZE},
	{"RECENT", IMAP_STATUS_RECENT},
	{"HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ},
	{"MAILBOXID", IMAP_STATUS_MAILBOXID},
	{"APPENDLIMIT", IMAP_STATUS_APPENDLIMIT},
};

int imap_status_atts(const struct imap_arg *list, size_t n, unsigned *atts_r)
{
	unsigned atts = 0;

	for (size_t i = 0; i < n; i++) {
		size_t k;
		for (k = 0; k < sizeof(status_atts) / sizeof(status_atts[0]);
		     k++)
			if (imap_arg_atom_eq(&list[i], status_atts[k].name))
				break;
		if (k == sizeof(status_atts) / sizeof(status_atts[0]))
			return -1;
		atts |= status_atts[k].bit;
	}
	*atts_r = atts;
	return 0;
}

void imap_status_reply(struct imap_session *s, const struct store_mailbox *mb,
		       unsigned atts)
{
	struct buf *b = imap_reply_begin(s);
	bool first = true;

	buf_append_str(b, "STATUS ");
	imap_w_mailbox_name(s, b, mb->name);
	buf_append_str(b, " (");
	for (size_t k = 0; k < sizeof(status_atts) / sizeof(status_atts[0]);
	     k++) {
		unsigned long long v = 0;
		if (!(atts & status_atts[k].bit))
			continue;
		if (status_atts[k].bit == IMAP_STATUS_MAILBOXID) {
			/* RFC 8474 4.2: "MAILBOXID" SP "(" objectid ")" */
			buf_printf(b, "%sMAILBOXID (%s)", first ? "" : " ",
				   mb->mailboxid);
			first = false;
			continue;
		}
		switch (status_atts[k].bit) {
		case IMAP_STATUS_MESSAGES: v = mb->messages; break;
		case IMAP_STATUS_UIDNEXT: v = mb->uidnext; break;
		case IMAP_STATUS_UIDVALIDITY: v = mb->uidvalidity; break;
		case IMAP_STATUS_UNSEEN: v = mb->unseen; break;
		case IMAP_STATUS_DELETED: v = mb->deleted; break;
		case IMAP_STATUS_SIZE: v = mb->size; break;
		case IMAP_STATUS_RECENT: v = mb->recent; break;
		case IMAP_STATUS_HIGHESTMODSEQ: v = mb->highestmodseq; break;
		case IMAP_STATUS_APPENDLIMIT: v = s->srv->cfg->max_literal; break;
		}
		buf_printf(b, "%s%s %llu", first ? "" : " ",
			   status_atts[k].name, v);
		first = false;
	}
	buf_append_c(b, ')');
	imap_reply_end(s);
}

/* RFC 9051 6.3.11: status = "STATUS" SP mailbox SP
 *                          "(" status-att *(SP status-att) ")"
 *   status-att = "MESSAGES" / "UIDNEXT" / "UIDVALIDITY" / "UNSEEN" /
 *                "DELETED" / "SIZE"; RECENT (RFC 3501 6.3.10) and
 *                HIGHESTMODSEQ (RFC 7162 3.1.6) too.
 * Reads only (no write, no \Recent claim). */
enum imap_cmd_result imap_cmd_status(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct store_mailbox mb;
	struct store_err err = {0};
	struct imap_arg *l;
	size_t n;
	unsigned atts;
	const char *name, *why;

	if (cmd->nargs != 2 || !imap_arg_list(&cmd->args[1], &l, &n) || n == 0)
		return imap_reply_bad(cmd, "Usage: STATUS mailbox (items)");
	name = imap_mailbox_arg(cmd, &cmd->args[0], &why);
	if (!name)
		return imap_reply_bad(cmd, "%s", why);
	if (imap_status_atts(l, n, &atts) < 0)
		return imap_reply_bad(cmd, "Unknown status item");
	/* RFC 9051 6.3.11: status-att has no RECENT in IMAP4rev2 */
	if ((atts & IMAP_STATUS_RECENT) && imap_rev2(cmd->s))
		return imap_reply_bad(cmd, "RECENT is not part of IMAP4rev2");
	if (store_mailbox_get(s->store, name, &mb, &err) < 0)
		return imap_reply_store_err(cmd, &err, "STATUS");
	imap_status_reply(s, &mb, atts);
	return imap_reply_ok(cmd, NULL, "STATUS completed");
}
