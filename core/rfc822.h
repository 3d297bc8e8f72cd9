/* rfc822.h - address lists (RFC 5322 3.4, with RFC 5322 4.4 obsolete
 * syntax), as ENVELOPE needs them.
 *
 * The parser never fails: broken input gives placeholder parts the way
 * Dovecot does, so an IMAP client always gets a well-formed ENVELOPE:
 *   "MISSING_MAILBOX" when the local part is empty ("<>", "@host"),
 *   "MISSING_DOMAIN"  when there is no domain ("user", "user@"),
 *   "SYNTAX_ERROR"    as the domain of an angle address without its '>'.
 * Parsing stops at the first thing that is not an address or a ','.
 */
#ifndef TANDEM_RFC822_H
#define TANDEM_RFC822_H

#include <stddef.h>

/* One element of an address list. A group is a start element (mailbox =
 * group name, host NULL), its members, and an end element (mailbox and
 * host NULL) -- the shape RFC 9051 7.5.2 gives groups in ENVELOPE. */
struct rfc822_addr {
	struct rfc822_addr *next;
	char *name;    /* display name, words joined by one space, quotes
			  removed, encoded-words kept; or the last comment of
			  a bare addr-spec; NULL if none */
	char *route;   /* obsolete source route "@a,@b", or NULL */
	char *mailbox; /* local part (quotes removed), or group name */
	char *host;    /* domain, or NULL for group start/end */
};

/* Most elements returned for one field (the rest is ignored). */
#define RFC822_MAX_ADDRS 10000

/* Parses an address-list field body (n bytes, may hold any bytes).
 * Returns the list, owned by the caller, or NULL when it holds no
 * address. */
struct rfc822_addr *rfc822_parse_addresses(const char *s, size_t n);
/* Frees a list; *list becomes NULL. NULL is allowed. */
void rfc822_addr_free(struct rfc822_addr **list);

/* Skips CFWS (RFC 5322 3.2.2: whitespace, folding, nested comments) from
 * p; returns the first byte after it (end at most). */
const char *rfc822_skip_cfws(const char *p, const char *end);

#endif
