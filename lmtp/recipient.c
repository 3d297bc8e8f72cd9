/* recipient.c - address to user resolution (see recipient.h). */
#include "recipient.h"

#include "store.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static bool try_user(const char *name, lmtp_user_exists_fn *exists,
		     void *arg, struct lmtp_target *t)
{
	if (strlen(name) >= sizeof(t->user) || !store_user_name_valid(name))
		return false;
	if (!exists(arg, name))
		return false;
	strcpy(t->user, name);
	return true;
}

int lmtp_rcpt_resolve(const struct smtp_path *path,
		      lmtp_user_exists_fn *exists, void *arg,
		      struct lmtp_target *t_r)
{
	char base[SMTP_LOCAL_MAX], cand[SMTP_LOCAL_MAX + SMTP_DOMAIN_MAX];
	const char *plus;

	memset(t_r, 0, sizeof(*t_r));
	snprintf(base, sizeof(base), "%s", path->local);
	plus = strchr(path->local, '+');
	if (plus) {
		base[plus - path->local] = '\0';
		snprintf(t_r->detail, sizeof(t_r->detail), "%s", plus + 1);
	}
	if (base[0] == '\0')
		return -1;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			char dom[SMTP_DOMAIN_MAX];

			snprintf(dom, sizeof(dom), "%s", path->domain);
			lower(base);
			lower(dom);
			snprintf(cand, sizeof(cand), "%s@%s", base, dom);
		} else {
			snprintf(cand, sizeof(cand), "%s@%s", base,
				 path->domain);
		}
		if (path->domain[0] && try_user(cand, exists, arg, t_r))
			return 0;
		if (try_user(base, exists, arg, t_r))
			return 0;
	}
	return -1;
}
