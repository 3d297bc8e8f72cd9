/* cmd-starttls.c - STARTTLS. */
#include "conn.h"
#include "session.h"

/* RFC 9051 6.2.1: "STARTTLS". The tagged OK goes out in clear text, then
 * the handshake starts; input buffered after the command is discarded
 * (conn_starttls, CVE-2011-0411) and the client must ask CAPABILITY
 * again. */
enum imap_cmd_result imap_cmd_starttls(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;

	if (cmd->nargs != 0)
		return imap_reply_bad(cmd, "STARTTLS takes no arguments");
	if (s->tls)
		return imap_reply_bad(cmd, "TLS is already active");
	if (!conn_tls_available())
		return imap_reply_no(cmd, NULL, "TLS is not configured");
	imap_reply_ok(cmd, NULL, "Begin TLS negotiation now");
	if (imap_start_tls(s) < 0) {
		log_error(&s->log, "STARTTLS failed to start");
		imap_close(s);
	}
	return IMAP_CMD_DONE;
}
