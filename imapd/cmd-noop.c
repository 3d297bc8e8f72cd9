/* cmd-noop.c - NOOP. */
#include "session.h"

/* RFC 9051 6.1.2: "NOOP". Does nothing; pending mailbox updates go out
 * before the tagged OK (imap_reply_tagged). */
enum imap_cmd_result imap_cmd_noop(struct imap_cmd *cmd)
{
	if (cmd->nargs != 0)
		return imap_reply_bad(cmd, "NOOP takes no arguments");
	return imap_reply_ok(cmd, NULL, "NOOP completed");
}
