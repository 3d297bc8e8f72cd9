/* cmd-id.c - ID (RFC 2971). */
#include <stdio.h>
#include <strings.h>

#include "session.h"
#include "tandem-build.h"

/* RFC 2971 3.1: id = "ID" SP id-params-list
 *   id-params-list = "(" *(string SP nstring) ")" / nil
 * At most 30 pairs, field names at most 30 octets, values 1024. The
 * client's name and version are logged; the reply names the server. */
enum imap_cmd_result imap_cmd_id(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct imap_arg *l;
	size_t n;
	char name[64] = "", version[64] = "";

	if (cmd->nargs != 1)
		return imap_reply_bad(cmd, "ID takes one argument");
	if (cmd->args[0].type != IMAP_ARG_NIL) {
		if (!imap_arg_list(&cmd->args[0], &l, &n) || n % 2 != 0 ||
		    n > 60)
			return imap_reply_bad(cmd, "Invalid ID parameters");
		for (size_t i = 0; i < n; i += 2) {
			const char *k, *v;
			size_t kl, vl;
			if (!imap_arg_string(&l[i], &k, &kl) || kl > 30 ||
			    !imap_arg_nstring(&l[i + 1], &v, &vl) || vl > 1024)
				return imap_reply_bad(cmd,
						      "Invalid ID parameters");
			if (!v)
				continue;
			if (strcasecmp(k, "name") == 0)
				snprintf(name, sizeof(name), "%.*s", (int)vl, v);
			else if (strcasecmp(k, "version") == 0)
				snprintf(version, sizeof(version), "%.*s",
					 (int)vl, v);
		}
		for (char *p = name; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		for (char *p = version; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		if (name[0] || version[0])
			log_info(&s->log, "client id name=\"%s\" version=\"%s\"",
				 name, version);
	}
	imap_reply_untagged(s, "ID (\"name\" \"Tandem\" \"version\" \"%s\")",
			    TANDEM_VERSION);
	return imap_reply_ok(cmd, NULL, "ID completed");
}
