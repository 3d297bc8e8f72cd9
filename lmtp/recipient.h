/* recipient.h - which user and mailbox an LMTP address delivers to.
 *
 * An address user+detail@domain names the user "user" (or the user
 * "user@domain" when such a user exists: user@domain logins) and the
 * mailbox "detail". Whether the mailbox exists is decided by the store at
 * delivery time (deliver.h falls back to INBOX).
 */
#ifndef TANDEM_LMTP_RECIPIENT_H
#define TANDEM_LMTP_RECIPIENT_H

#include <stdbool.h>

#include "smtp-parse.h"

#define LMTP_USER_MAX 128

struct lmtp_target {
	char user[LMTP_USER_MAX];        /* an existing user */
	char detail[SMTP_LOCAL_MAX];     /* text after the first '+', or "" */
};

/* Asks whether a user exists (userdb_exists in the daemons, a table in
 * tests). */
typedef bool lmtp_user_exists_fn(void *arg, const char *user);

/* Resolves the local part and domain of path. With D the local part cut
 * at its first '+', the candidates are, in order: D@domain, D, then the
 * same with domain and D in lower case; the first that exists wins.
 * Returns 0 with t_r filled, or -1 when none exists (550 5.1.1). */
int lmtp_rcpt_resolve(const struct smtp_path *path,
		      lmtp_user_exists_fn *exists, void *arg,
		      struct lmtp_target *t_r);

#endif
