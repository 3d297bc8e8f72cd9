/* mailbox-view.h - the selected mailbox as one session sees it.
 *
 * IMAP numbers messages by MSN (1..EXISTS); the store knows only UIDs.
 * The view keeps the ascending UID array (MSN i is uids[i-1]) as the
 * client last heard it, plus the HIGHESTMODSEQ up to which the client was
 * told about changes. When the store changed (anyone: this session's own
 * writes, other sessions, pop3d, lmtpd), imap_view_sync() computes what to
 * tell: EXPUNGE (or VANISHED with QRESYNC) for UIDs gone, EXISTS for new
 * ones, FETCH (FLAGS ...) for changed flags, and updates the array, so
 * MSNs only change at points RFC 9051 7.5.1 allows. It is called by
 * imap_reply_tagged() before each tagged reply and by IDLE.
 *
 * Memory: 4 bytes per message (a compact uint32_t array).
 */
#ifndef TANDEM_IMAP_MAILBOX_VIEW_H
#define TANDEM_IMAP_MAILBOX_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct imap_session;
struct store_watch;

struct imap_view {
	int64_t mailbox_id;       /* 0: nothing selected */
	char name[512];           /* store form (UTF-8, '/') */
	bool read_only;           /* EXAMINE */
	uint32_t uidvalidity;
	uint32_t *uids;           /* ascending; count of them */
	uint32_t count, cap;
	uint64_t modseq;          /* changes up to here were reported */
	uint32_t uidnext;         /* as last reported */
	/* \Recent (rev1): UIDs in [recent_lo, recent_hi) are recent for
	 * this session (claimed at SELECT). */
	uint32_t recent_lo, recent_hi;
	uint32_t recent_reported; /* last "* n RECENT" sent */
	struct store_watch *watch;
};

/* Loads the UIDs of mailbox mb (read on the loop thread) into v, which
 * must be empty; recent_from is the first recent UID claimed by this
 * session (0: none). Returns 0, or -1 with err. */
int imap_view_open(struct imap_view *v, struct store *st,
		   const struct store_mailbox *mb, bool read_only,
		   uint32_t recent_from, struct store_err *err);
/* Forgets the view (and removes the watch). */
void imap_view_close(struct imap_view *v);

/* MSN of uid, or 0 when not in the view. O(log n). */
uint32_t imap_view_msn(const struct imap_view *v, uint32_t uid);
/* Number of recent messages (rev1 RECENT). */
uint32_t imap_view_recent(const struct imap_view *v);
bool imap_view_is_recent(const struct imap_view *v, uint32_t uid);

/* Sends untagged updates for changes since the last sync (see above).
 * allow_expunge false (during commands using MSNs) defers expunges and
 * everything after them. Returns 0, or -1 when the mailbox is gone
 * (deleted or renamed by another session): the caller closes with BYE. */
int imap_view_sync(struct imap_session *s, bool allow_expunge);

struct seqset;
/* RFC 7162 3.2.10: "* VANISHED [(EARLIER) ]uid-set" for the UIDs of gone
 * (normalised here), nothing when it is empty. */
void imap_reply_vanished(struct imap_session *s, struct seqset *gone,
			 bool earlier);

#endif
