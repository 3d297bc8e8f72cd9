/* cmd-check.c - CHECK (IMAP4rev1 only). */
#include "session.h"

/* RFC 3501 6.4.1: "CHECK". Every store write is already durable when it
 * returns (one synchronous transaction), so there is nothing to do but
 * report updates, like NOOP. RFC 9051 removed CHECK; a rev2 session gets
 * BAD. */
enum imap_cmd_result imap_cmd_check(struct imap_cmd *cmd)
{
	if (imap_rev2(cmd->s))
		return imap_reply_bad(cmd, "CHECK is not part of IMAP4rev2");
	if (cmd->nargs != 0)
		return imap_reply_bad(cmd, "CHECK takes no arguments");
	return imap_reply_ok(cmd, NULL, "CHECK completed");
}
