/* cmd-msgs.h - helpers shared by the message commands (FETCH, STORE,
 * COPY/MOVE, EXPUNGE, IDLE: imapd/cmd-fetch.c, cmd-store.c, cmd-copy.c,
 * cmd-expunge.c, cmd-idle.c). Defined in cmd-fetch.c. Private to those
 * files: nothing else includes it.
 */
#ifndef TANDEM_IMAP_CMD_MSGS_H
#define TANDEM_IMAP_CMD_MSGS_H

#include <stdbool.h>
#include <stdint.h>

#include "seqset.h"
#include "session.h"
#include "store.h"

/* Parses the sequence-set argument a of cmd -- MSNs, or UIDs when
 * cmd->uid -- against the selected mailbox's view (RFC 9051 9:
 * sequence-set, "*", reversed ranges). msns_r (initialised, reset here)
 * gets the resolved set of MSNs of the view it names. uids_r, if not
 * NULL, gets the resolved UID set as the client wrote it (UID form:
 * including UIDs not in the view; MSN form: the view's UIDs).
 * "$" alone (RFC 5182) is the session's saved SEARCH result (the UIDs
 * of s->searchres still in the view; empty before any SAVE); "$" within
 * a set is malformed.
 * Returns 0, or -1 with *err_r for a tagged BAD: a malformed set, or an
 * MSN above EXISTS (including "*" in an empty mailbox, RFC 9051 9). */
int imap_msgset_arg(struct imap_cmd *cmd, const struct imap_arg *a,
		    struct seqset *msns_r, struct seqset *uids_r,
		    const char **err_r);

/* The view's UIDs of a resolved MSN set, as a store_uidset whose ranges
 * live in the command arena. */
struct store_uidset imap_msgset_uidset(struct imap_cmd *cmd,
				       const struct seqset *msns);

/* Call on the loop after this session's own flag write to the messages
 * of uids (resolved UID set). When every change of the selected mailbox
 * the client has not heard of yet is a flag change of one of those
 * messages (no expunge, no new message, no other message changed), the
 * view is moved to the mailbox's HIGHESTMODSEQ and true is returned: the
 * caller then reports the flags of those messages itself (or, for
 * STORE .SILENT, not at all), so they are not sent twice. Else false:
 * the view's next sync reports the changes as usual. */
bool imap_view_absorb(struct imap_session *s, const struct seqset *uids);

/* Appends "FLAGS (...)" for m as this session shows it (\Recent for
 * IMAP4rev1 sessions). */
void imap_w_msg_flags(struct imap_session *s, struct buf *b,
		      const struct store_msg *m);

/* True when CONDSTORE (or QRESYNC) is on: FETCH responses with FLAGS
 * carry MODSEQ (RFC 7162 3.1.4, 3.2). */
bool imap_condstore(const struct imap_session *s);

#endif
