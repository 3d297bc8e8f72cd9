/* cmd-namespace.c - NAMESPACE. */
#include "session.h"

/* RFC 9051 6.3.10 (RFC 2342): "NAMESPACE". One personal namespace with
 * an empty prefix; no other users' or shared namespaces.
 *   Namespace-Response = "NAMESPACE" SP Namespace SP Namespace SP Namespace */
enum imap_cmd_result imap_cmd_namespace(struct imap_cmd *cmd)
{
	if (cmd->nargs != 0)
		return imap_reply_bad(cmd, "NAMESPACE takes no arguments");
	imap_reply_untagged(cmd->s, "NAMESPACE ((\"\" \"%c\")) NIL NIL",
			    imap_separator(cmd->s));
	return imap_reply_ok(cmd, NULL, "NAMESPACE completed");
}
