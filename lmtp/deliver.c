/* deliver.c - trace headers and the append with INBOX fallback. */
#include "deliver.h"

#include "buf.h"
#include "smtp-parse.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Copies s, replacing what may not appear in a header field (controls,
 * and for atoms also spaces and specials) by '_', at most max bytes. */
static void append_clean(struct buf *out, const char *s, size_t max,
			 bool atom)
{
	for (size_t i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 32 || c == 127 ||
		    (atom && (c == ' ' || strchr("()<>;\\\"", c))))
			c = '_';
		buf_append_c(out, (char)c);
	}
}

/* RFC 5321 4.4:
 *   Time-stamp-line = "Received:" FWS Stamp <CRLF>
 *   Stamp = From-domain By-domain Opt-info [CFWS] ";" FWS date-time
 *   From-domain = "FROM" FWS Extended-Domain
 *   Extended-Domain = Domain / ( Domain FWS "(" TCP-info ")" ) / ...
 *   Opt-info = [Via] [With] [ID] [For] [Additional-Registered-Clauses]
 * RFC 5321 4.4 also has the delivery MTA add Return-Path:
 *   Return-path-line = "Return-Path:" FWS Reverse-path <CRLF> */
void deliver_trace_headers(struct buf *out, const char *return_path,
			   const struct deliver_trace *tr)
{
	if (return_path) {
		buf_append_str(out, "Return-Path: <");
		append_clean(out, return_path, SMTP_ADDR_MAX, false);
		buf_append_str(out, ">\r\n");
	}
	if (tr) {
		struct tm tm;
		char date[64];

		buf_append_str(out, "Received: from ");
		append_clean(out, tr->helo && *tr->helo ? tr->helo : "unknown",
			     255, true);
		if (tr->rip && strcmp(tr->rip, "unix") != 0 && *tr->rip) {
			buf_append_str(out, " ([");
			if (strchr(tr->rip, ':'))
				buf_append_str(out, "IPv6:");
			append_clean(out, tr->rip, 64, true);
			buf_append_str(out, "])");
		}
		buf_append_str(out, "\r\n\tby ");
		append_clean(out, tr->hostname ? tr->hostname : "localhost",
			     255, true);
		buf_append_str(out, " (Tandem) with ");
		buf_append_str(out, tr->with ? tr->with : "LMTP");
		if (tr->id) {
			buf_append_str(out, " id ");
			append_clean(out, tr->id, 64, true);
		}
		if (tr->for_addr) {
			buf_append_str(out, "\r\n\tfor <");
			append_clean(out, tr->for_addr, SMTP_ADDR_MAX, false);
			buf_append_c(out, '>');
		}
		localtime_r(&tr->now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		buf_printf(out, ";\r\n\t%s\r\n", date);
	}
}

int deliver_append(struct store *s, const char *mailbox,
		   struct store_spool *sp, struct store_append_res *res_r,
		   const char **mailbox_r, struct store_err *err)
{
	struct store_append_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.spool = sp;
	if (mailbox && *mailbox && strcasecmp(mailbox, "INBOX") != 0) {
		rq.mailbox = mailbox;
		if (store_append(s, &rq, 1, res_r, err) == 0) {
			*mailbox_r = mailbox;
			return 0;
		}
		/* No such mailbox (or one that cannot take mail): the
		 * message goes to INBOX as if there were no detail. */
		if (err->code != STORE_ERR_NOTFOUND &&
		    err->code != STORE_ERR_INVALID &&
		    err->code != STORE_ERR_PERM)
			return -1;
	}
	rq.mailbox = "INBOX";
	if (store_append(s, &rq, 1, res_r, err) < 0)
		return -1;
	*mailbox_r = "INBOX";
	return 0;
}
