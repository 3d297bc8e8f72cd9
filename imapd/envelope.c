/* envelope.c - ENVELOPE (RFC 9051 7.5.2, RFC 3501 7.4.2).
 *
 * env-from = "(" 1*address ")" / nil   (likewise sender ... bcc)
 * address  = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
 * Groups (RFC 9051 7.5.2): a start element with NIL host and the group
 * name as mailbox, an end element with NIL mailbox and host.
 * Matches Dovecot 2.3 (tests/data/mime/expected), except that strings
 * holding '"', '\\', TAB or 8-bit bytes go through imapd/write.c, which
 * may quote where Dovecot sends a literal (both valid).
 */
#include "envelope.h"
#include "rfc822.h"
#include "write.h"

#include <stdlib.h>
#include <string.h>

/* Text meant for people (subject, display names) goes out the way
 * Dovecot's imap_append_string_for_humans makes it: every run of
 * whitespace (SP, TAB, CR, LF) becomes one space, none at either end. */
static void w_human(struct buf *out, const char *s, bool utf8)
{
	struct buf t = BUF_INIT;
	bool space = false;

	if (s == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append(&t, "", 0);
	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
			space = true;
			continue;
		}
		if (space && t.len > 0)
			buf_append_c(&t, ' ');
		space = false;
		buf_append_c(&t, *s);
	}
	if (utf8)
		imap_w_string_utf8(out, t.data, t.len);
	else
		imap_w_string(out, t.data, t.len);
	buf_release(&t);
}

static void w_nstring(struct buf *out, const char *s, bool utf8)
{
	if (utf8)
		imap_w_nstring_utf8(out, s, s != NULL ? strlen(s) : 0);
	else
		imap_w_nstring(out, s, s != NULL ? strlen(s) : 0);
}

void imap_envelope_write_addresses(struct buf *out, const char *s, size_t n,
				   bool utf8)
{
	struct rfc822_addr *list = s != NULL ? rfc822_parse_addresses(s, n)
					     : NULL;

	if (list == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_c(out, '(');
	for (const struct rfc822_addr *a = list; a != NULL; a = a->next) {
		buf_append_c(out, '(');
		w_human(out, a->name, utf8);
		buf_append_c(out, ' ');
		w_nstring(out, a->route, utf8);
		buf_append_c(out, ' ');
		w_nstring(out, a->mailbox, utf8);
		buf_append_c(out, ' ');
		w_nstring(out, a->host, utf8);
		buf_append_c(out, ')');
	}
	buf_append_c(out, ')');
	rfc822_addr_free(&list);
}

static bool has_address(const char *s)
{
	struct rfc822_addr *list;

	if (s == NULL)
		return false;
	list = rfc822_parse_addresses(s, strlen(s));
	if (list == NULL)
		return false;
	rfc822_addr_free(&list);
	return true;
}

static void w_addresses(struct buf *out, const char *s, bool utf8)
{
	imap_envelope_write_addresses(out, s, s != NULL ? strlen(s) : 0, utf8);
}

void imap_envelope_write(struct buf *out, const struct mime_part *msg,
			 bool utf8)
{
	char *const *env = msg->env;
	const char *from = env[MIME_ENV_FROM];
	const char *sender = env[MIME_ENV_SENDER];
	const char *reply_to = env[MIME_ENV_REPLY_TO];

	if (!(msg->flags & MIME_PART_IS_MESSAGE)) {
		buf_append_str(out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
		return;
	}
	/* RFC 9051 7.5.2: "If the Sender or Reply-To lines are absent in
	 * the [RFC-5322] header, or are present but empty, the server sets
	 * the corresponding member of the envelope to be the same value as
	 * the from member" */
	if (!has_address(sender))
		sender = from;
	if (!has_address(reply_to))
		reply_to = from;
	buf_append_c(out, '(');
	w_nstring(out, env[MIME_ENV_DATE], utf8);
	buf_append_c(out, ' ');
	w_human(out, env[MIME_ENV_SUBJECT], utf8);
	buf_append_c(out, ' ');
	w_addresses(out, from, utf8);
	buf_append_c(out, ' ');
	w_addresses(out, sender, utf8);
	buf_append_c(out, ' ');
	w_addresses(out, reply_to, utf8);
	buf_append_c(out, ' ');
	w_addresses(out, env[MIME_ENV_TO], utf8);
	buf_append_c(out, ' ');
	w_addresses(out, env[MIME_ENV_CC], utf8);
	buf_append_c(out, ' ');
	w_addresses(out, env[MIME_ENV_BCC], utf8);
	buf_append_c(out, ' ');
	w_nstring(out, env[MIME_ENV_IN_REPLY_TO], utf8);
	buf_append_c(out, ' ');
	w_nstring(out, env[MIME_ENV_MESSAGE_ID], utf8);
	buf_append_c(out, ')');
}
