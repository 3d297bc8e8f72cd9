/* cmd-append.h - APPEND's literal streaming hooks for the command table
 * (struct imap_cmd_def .literal/.chunk); see imapd/cmd-append.c. */
#ifndef TANDEM_IMAP_CMD_APPEND_H
#define TANDEM_IMAP_CMD_APPEND_H

#include "session.h"

/* Decides on a literal of an APPEND line before its bytes come: BUFFER
 * for the mailbox name, STREAM for a message it accepts (after checking
 * the mailbox, max_literal and the append-opts in front of it), or
 * REJECT once it queued the tagged NO/BAD. */
enum imap_literal_action imap_append_literal(struct imap_cmd *cmd,
					     const struct imap_literal_info *li);
/* Streams bytes of the current message literal into its spool. */
void imap_append_chunk(struct imap_cmd *cmd, const char *data, size_t len,
		       bool last);

#endif
