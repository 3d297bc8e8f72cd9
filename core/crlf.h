/* crlf.h - line-end normalisation for every ingest path.
 *
 * Messages are stored with CRLF line ends (RFC 5322 2.3), so the stored
 * size is what POP3 RETR and IMAP BODY[] send. Ingest paths (tandemctl
 * deliver and import, the LDA) pass each block they read through
 * crlf_normalize(); a CR already before an LF is kept, a bare LF becomes
 * CRLF, everything else (NUL, 8-bit, a lone CR) is copied unchanged.
 */
#ifndef TANDEM_CRLF_H
#define TANDEM_CRLF_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/* Appends p[0..n) to out with bare LFs turned into CRLF. *prev_cr carries
 * whether the previous block ended in CR (start with false). */
void crlf_normalize(const char *p, size_t n, bool *prev_cr, struct buf *out);

#endif
