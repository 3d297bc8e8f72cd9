/* bodystructure.h - the BODY and BODYSTRUCTURE fetch items (RFC 9051
 * 7.5.2, RFC 3501 7.4.2) from a parsed message (core/mime.h).
 *
 * body          = "(" (body-type-1part / body-type-mpart) ")"
 * body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
 * body-type-1part = (body-type-basic / body-type-msg / body-type-text)
 *                   [SP body-ext-1part]
 * Output matches Dovecot 2.3: "text" parts without a charset parameter
 * get ("charset" "us-ascii") added, a multipart without body parts gets
 * one empty text/plain part, sizes are CRLF-normalised ("virtual") and
 * line counts are LF counts. Pure: core headers and the reply writer.
 */
#ifndef TANDEM_IMAP_BODYSTRUCTURE_H
#define TANDEM_IMAP_BODYSTRUCTURE_H

#include <stdbool.h>

#include "buf.h"
#include "mime.h"

/* Appends the body structure of part (usually the root) to out:
 * extended true gives BODYSTRUCTURE (with extension data), false gives
 * BODY. utf8 as in imap_envelope_write. Never fails; the output size is
 * bounded by the part tree's limits (mime.h). */
void imap_bodystructure_write(struct buf *out, const struct mime_part *part,
			      bool extended, bool utf8);

#endif
