/* cmd-capability.c - CAPABILITY. */
#include "session.h"

/* RFC 9051 6.1.1: capability = "CAPABILITY"; the untagged CAPABILITY
 * response (7.2.2) lists what this state offers. */
enum imap_cmd_result imap_cmd_capability(struct imap_cmd *cmd)
{
	struct buf *b;

	if (cmd->nargs != 0)
		return imap_reply_bad(cmd, "CAPABILITY takes no arguments");
	b = imap_reply_begin(cmd->s);
	buf_append_str(b, "CAPABILITY ");
	imap_capabilities(cmd->s, b);
	imap_reply_end(cmd->s);
	return imap_reply_ok(cmd, NULL, "CAPABILITY completed");
}
