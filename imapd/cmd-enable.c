/* cmd-enable.c - ENABLE (RFC 5161, RFC 9051 6.3.1). */
#include <strings.h>

#include "session.h"

/* RFC 9051 6.3.1: enable = "ENABLE" 1*(SP capability)
 * Response: "* ENABLED" *(SP capability) listing what this command newly
 * enabled; unknown names are ignored. IMAP4rev2 switches the session to
 * RFC 9051 behaviour (UTF-8 names, no RECENT, ...); UTF8=ACCEPT (RFC
 * 6855) allows UTF-8 in names and strings; CONDSTORE/QRESYNC (RFC 7162)
 * add MODSEQ to FETCH updates (QRESYNC implies CONDSTORE and turns
 * EXPUNGE into VANISHED). */
enum imap_cmd_result imap_cmd_enable(struct imap_cmd *cmd)
{
	static const struct {
		const char *name;
		unsigned bit;
	} known[] = {
		{"IMAP4rev2", IMAP_ENABLED_IMAP4REV2},
		{"CONDSTORE", IMAP_ENABLED_CONDSTORE},
		{"QRESYNC", IMAP_ENABLED_QRESYNC},
		{"UTF8=ACCEPT", IMAP_ENABLED_UTF8},
	};
	struct imap_session *s = cmd->s;
	struct buf *b;
	unsigned added = 0;

	if (cmd->nargs == 0)
		return imap_reply_bad(cmd, "ENABLE needs a capability");
	for (size_t i = 0; i < cmd->nargs; i++) {
		const char *a;
		if (!imap_arg_atom(&cmd->args[i], &a))
			return imap_reply_bad(cmd, "Invalid capability");
	}
	b = imap_reply_begin(s);
	buf_append_str(b, "ENABLED");
	for (size_t i = 0; i < cmd->nargs; i++) {
		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
			if (strcasecmp(cmd->args[i].str, known[k].name) != 0 ||
			    ((s->enabled | added) & known[k].bit))
				continue;
			added |= known[k].bit;
			buf_printf(b, " %s", known[k].name);
		}
	}
	if (added & IMAP_ENABLED_QRESYNC)
		added |= IMAP_ENABLED_CONDSTORE;
	s->enabled |= added;
	imap_reply_end(s);
	return imap_reply_ok(cmd, NULL, "ENABLE completed");
}
