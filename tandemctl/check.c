/* check.c - tandemctl check [USER]: store_check on one or every user. */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "buf.h"
#include "tandemctl-private.h"

static int check_one(struct ctl *c, const char *user)
{
	struct store *s;
	struct store_err err;
	struct buf rep = BUF_INIT;
	int rc;

	if ((rc = ctl_store(c, user, &s)))
		return rc;
	if (store_check(s, &rep, &err) == 0) {
		printf("%s: ok\n", user);
	} else if (err.code == STORE_ERR_CORRUPT) {
		printf("%s: %s\n", user, err.msg);
		for (char *line = rep.data; line && *line;) {
			char *nl = strchr(line, '\n');
			size_t n = nl ? (size_t)(nl - line) : strlen(line);
			printf("%s: %.*s\n", user, (int)n, line);
			line += n + (nl ? 1 : 0);
		}
		rc = EX_DATAERR;
	} else {
		rc = ctl_store_fail(user, &err);
	}
	buf_release(&rep);
	store_unref(&s);
	return rc;
}

int ctl_check(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct userdb *db;
	struct buf users = BUF_INIT, err = BUF_INIT;
	int rc, worst = 0;

	if ((rc = ctl_parse(argc, argv, 0, 1, false, "check [USER]", &a)))
		return rc;
	if (a.npos == 1)
		return check_one(c, a.pos[0]);
	if ((rc = ctl_userdb(c, &db)))
		return rc;
	if (userdb_list(db, &users, &err) < 0) {
		fprintf(stderr, "tandemctl: user list: %s\n",
			err.data ? err.data : "failed");
		buf_release(&err);
		return EX_TEMPFAIL;
	}
	for (char *line = users.data, *nl; line && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		rc = check_one(c, line);
		if (rc && !worst)
			worst = rc;
		if (!nl)
			break;
	}
	buf_release(&users);
	buf_release(&err);
	return worst;
}
