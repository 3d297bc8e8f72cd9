/* qresync.h - the QRESYNC parameter of SELECT/EXAMINE (RFC 7162 3.2.5).
 *
 * cmd-select.c parses the parameter with imap_qresync_parse() while it
 * reads its arguments (before anything is selected) and, once the usual
 * SELECT responses are queued and the view is open, calls
 * imap_qresync_select() to send VANISHED (EARLIER) and FETCH (UID FLAGS
 * MODSEQ) before the tagged OK.
 */
#ifndef TANDEM_IMAP_QRESYNC_H
#define TANDEM_IMAP_QRESYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "seqset.h"
#include "session.h"

struct imap_qresync {
	uint32_t uidvalidity;
	uint64_t modseq;
	bool have_known;        /* known-uids given */
	struct seqset known;    /* resolved; its ranges live in the arena */
};

/* Parses the list after "QRESYNC" (a, which must be a list):
 *   "(" uidvalidity SP mod-sequence-value [SP known-uids]
 *       [SP seq-match-data] ")"
 * Returns the parameter in the command arena, or NULL with *why_r (a
 * static message for a tagged BAD): malformed, or QRESYNC not enabled
 * (RFC 7162 3.2.5: BAD unless "ENABLE QRESYNC" was issued). */
struct imap_qresync *imap_qresync_parse(struct imap_cmd *cmd,
					const struct imap_arg *a,
					const char **why_r);

/* Sends the resynchronisation responses for the mailbox just selected
 * (s->view is open): nothing when q's UIDVALIDITY differs from the
 * mailbox's; else "* VANISHED (EARLIER) uids" for the known UIDs
 * expunged since q->modseq and "* n FETCH (UID u FLAGS (..) MODSEQ (m))"
 * for the messages changed since then that the client knows or that are
 * new to it (UID above its highest known UID). */
void imap_qresync_select(struct imap_session *s, const struct imap_qresync *q);

#endif
