/* cmd-idle.c - IDLE (RFC 9051 6.3.13, RFC 2177). */
#include <strings.h>

#include "cmd-msgs.h"
#include "session.h"

/* The store reported a change: send what this session has not heard of
 * (EXISTS, EXPUNGE or VANISHED, FETCH FLAGS) at once. */
static enum imap_cmd_result idle_change(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;

	if (s->state == IMAP_STATE_SELECTED && imap_view_sync(s, true) < 0) {
		log_info(&s->log, "selected mailbox vanished");
		imap_reply_untagged(s, "BYE Selected mailbox was deleted or "
				       "renamed");
		imap_close(s);
	}
	return IMAP_CMD_MORE;
}

/* idle = "IDLE" CRLF "DONE": the only thing the client may send. */
static enum imap_cmd_result idle_line(struct imap_cmd *cmd, const char *line,
				      size_t len)
{
	(void)len;
	cmd->on_change = NULL;
	if (strcasecmp(line, "DONE") != 0)
		return imap_reply_bad(cmd, "Expected DONE");
	return imap_reply_ok(cmd, NULL, "IDLE terminated");
}

/* RFC 9051 6.3.13 (RFC 2177 3): idle = "IDLE" CRLF "DONE"
 * "+ idling", then untagged updates as the store reports changes made by
 * anyone (deliveries through LMTP or tandemctl, other sessions, POP3),
 * until DONE. The session's autologout timer (imap idle_timeout, at
 * least 30 minutes, RFC 9051 5.4) keeps running. */
enum imap_cmd_result imap_cmd_idle(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;

	if (cmd->nargs != 0)
		return imap_reply_bad(cmd, "IDLE takes no arguments");
	imap_reply_cont(s, "idling");
	/* An idling session may sit for hours: give SQLite's page cache
	 * back (storage: idle sessions must not pin it). */
	if (s->store)
		store_release_memory(s->store);
	cmd->on_change = idle_change;
	(void)idle_change(cmd);
	return imap_cmd_read_line(cmd, idle_line);
}
