/* envelope.h - the ENVELOPE fetch item (RFC 9051 7.5.2, RFC 3501 7.4.2),
 * from a parsed message (core/mime.h).
 *
 * envelope = "(" env-date SP env-subject SP env-from SP env-sender SP
 *            env-reply-to SP env-to SP env-cc SP env-bcc SP
 *            env-in-reply-to SP env-message-id ")"
 * Pure: core headers and the reply writer only.
 */
#ifndef TANDEM_IMAP_ENVELOPE_H
#define TANDEM_IMAP_ENVELOPE_H

#include <stdbool.h>

#include "buf.h"
#include "mime.h"

/* Appends the envelope of msg (the root part, or the child of a
 * message/rfc822 part: a part with MIME_PART_IS_MESSAGE; any other part
 * gives an all-NIL envelope) to out. Date, in-reply-to and message-id
 * are the raw field values (nstring, NIL when absent); the subject and
 * display names have whitespace runs folded to one space and trimmed
 * (as Dovecot does);
 * address fields are parsed (core/rfc822.h) into address lists, NIL when
 * absent or empty; sender and reply-to default to from (RFC 9051 7.5.2).
 * utf8: the session accepts UTF-8 in quoted strings (RFC 9051, or
 * ENABLE UTF8=ACCEPT); else 8-bit values go out as literals. Never
 * fails. */
void imap_envelope_write(struct buf *out, const struct mime_part *msg,
			 bool utf8);

/* Appends one address list as ENVELOPE writes it: "(" 1*address ")", or
 * NIL when s is NULL or holds no address (n bytes of a field body). */
void imap_envelope_write_addresses(struct buf *out, const char *s, size_t n,
				   bool utf8);

#endif
