/* deliver.h - putting one spooled message into users' stores; shared by
 * tandem-lmtpd and tandem-deliver.
 *
 * The message bytes are gathered in a store_spool (never the whole
 * message in memory) starting with the trace header fields written by
 * deliver_trace_headers(); then deliver_append() runs once per recipient
 * store. deliver_append() blocks on the store's fsync'd commit: daemons
 * call it from a worker thread (core/work.h). When it returns 0 the
 * message survives kill -9 and power loss, and only then may the caller
 * say so (250, exit 0).
 */
#ifndef TANDEM_LMTP_DELIVER_H
#define TANDEM_LMTP_DELIVER_H

#include <stdint.h>
#include <time.h>

#include "store.h"

struct buf;

/* What a Received: line (RFC 5321 4.4) says. NULL fields are left out. */
struct deliver_trace {
	const char *helo;      /* LHLO argument (sanitized here) */
	const char *rip;       /* peer address, "unix" for a unix socket */
	const char *hostname;  /* this host ([server] hostname) */
	const char *with;      /* "LMTP", "UTF8LMTP" (RFC 3848, 6531) */
	const char *id;        /* transaction id, an atom */
	const char *for_addr;  /* the one recipient, or NULL */
	time_t now;
};

/* Appends "Return-Path: <path>" (return_path "" gives "<>"; NULL adds
 * nothing) and, when tr is not NULL, a Received: line, both ending in
 * CRLF. Control characters in the inputs never reach out. */
void deliver_trace_headers(struct buf *out, const char *return_path,
			   const struct deliver_trace *tr);

/* Appends the spooled message to store s, into mailbox when it is not
 * NULL or "" and exists (or can take mail), else into INBOX. Blocking.
 * Returns 0 with res_r filled and *mailbox_r pointing to the name used
 * (a static string or mailbox), or -1 with err set (TEMP, OVERQUOTA,
 * TOOBIG, NOTFOUND when the user's store went away, ...). */
int deliver_append(struct store *s, const char *mailbox,
		   struct store_spool *sp, struct store_append_res *res_r,
		   const char **mailbox_r, struct store_err *err);

#endif
