/* changes.h - which mailboxes changed since a MODSEQ (reads, loop thread).
 *
 * The change feed (store.h) only says "something was committed". A front
 * end that watches many mailboxes at once (IMAP NOTIFY, RFC 5465) asks
 * here which of them changed: every append, flag change or expunge sets
 * the mailbox's HIGHESTMODSEQ to the transaction's MODSEQ, and MODSEQs are
 * given out in commit order, so "HIGHESTMODSEQ > since" names exactly the
 * mailboxes changed after since. Creating, renaming, deleting and
 * (un)subscribing take no MODSEQ: compare store_mailbox_iter and
 * store_subscription_iter listings for those (a mailbox's id and
 * MAILBOXID survive a rename).
 */
#ifndef TANDEM_STORE_CHANGES_H
#define TANDEM_STORE_CHANGES_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Fills *v_r (caller frees) with the mailboxes whose HIGHESTMODSEQ is
 * greater than since (every mailbox when since is 0), ordered by id, and
 * *n_r with their count; one read (one consistent snapshot). Returns 0,
 * or -1 with err (*v_r NULL, *n_r 0). */
int store_mailboxes_changed(struct store *s, uint64_t since,
			    struct store_mailbox **v_r, size_t *n_r,
			    struct store_err *err);

#endif
