/* cmd-logout.c - LOGOUT. */
#include "session.h"

/* RFC 9051 6.1.3: "LOGOUT": untagged BYE, then the tagged OK, then the
 * server closes the connection. */
enum imap_cmd_result imap_cmd_logout(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;

	if (cmd->nargs != 0)
		return imap_reply_bad(cmd, "LOGOUT takes no arguments");
	imap_reply_untagged(s, "BYE Logging out");
	imap_enter_state(s, IMAP_STATE_LOGOUT);
	imap_reply_ok(cmd, NULL, "LOGOUT completed");
	imap_close(s);
	return IMAP_CMD_DONE;
}
