/* user.c - tandemctl user add|del|passwd|list|test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "tandemctl-private.h"

/* Reads one line from stdin (no echo on a terminal) into out. Returns 0,
 * or an exit code. */
static int read_password(struct buf *out)
{
	struct termios old, noecho;
	bool tty = isatty(STDIN_FILENO);
	int ch;

	if (tty) {
		fprintf(stderr, "Password: ");
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			noecho = old;
			noecho.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
		} else {
			tty = false;
		}
	}
	while ((ch = getchar()) != EOF && ch != '\n' && out->len < 4096)
		buf_append_c(out, (char)ch);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (out->len && out->data[out->len - 1] == '\r')
		buf_truncate(out, out->len - 1);
	if (out->len == 0) {
		fprintf(stderr, "tandemctl: empty password\n");
		return EX_DATAERR;
	}
	return 0;
}

static int get_password(const struct ctl_args *a, struct buf *pw)
{
	if (a->password) {
		if (!*a->password) {
			fprintf(stderr, "tandemctl: empty password\n");
			return EX_DATAERR;
		}
		buf_append_str(pw, a->password);
		return 0;
	}
	return read_password(pw);
}

static void wipe(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_release(b);
}

int ctl_user_add(struct ctl *c, int argc, char **argv)
{
	static const char usage[] = "user add NAME [--password P]";
	struct ctl_args a;
	struct userdb *db;
	struct buf pw = BUF_INIT, err = BUF_INIT;
	struct store *s;
	struct store_err serr;
	int rc;

	if ((rc = ctl_parse(argc, argv, 1, 1, true, usage, &a)))
		return rc;
	if (!store_user_name_valid(a.pos[0])) {
		fprintf(stderr, "tandemctl: bad user name: %s (1-64 of "
				"A-Z a-z 0-9 . _ @ + -, not starting with .)\n",
			a.pos[0]);
		return EX_DATAERR;
	}
	if ((rc = ctl_userdb(c, &db)))
		return rc;
	if (userdb_exists(db, a.pos[0])) {
		fprintf(stderr, "tandemctl: user %s exists\n", a.pos[0]);
		return EX_CANTCREAT;
	}
	if ((rc = get_password(&a, &pw)))
		goto out;
	if (userdb_add(db, a.pos[0], pw.data, &err) < 0) {
		fprintf(stderr, "tandemctl: user add %s: %s\n", a.pos[0],
			err.data ? err.data : "failed");
		rc = userdb_exists(db, a.pos[0]) ? EX_CANTCREAT : EX_DATAERR;
		goto out;
	}
	if (store_open(a.pos[0], true, &s, &serr) < 0) {
		rc = ctl_store_fail(a.pos[0], &serr);
		buf_reset(&err);
		userdb_delete(db, a.pos[0], &err); /* all or nothing */
		goto out;
	}
	store_unref(&s);
out:
	wipe(&pw);
	buf_release(&err);
	return rc;
}

int ctl_user_del(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct userdb *db;
	struct buf err = BUF_INIT;
	struct store_err serr;
	int rc;

	if ((rc = ctl_parse(argc, argv, 1, 1, false, "user del NAME", &a)))
		return rc;
	if ((rc = ctl_userdb(c, &db)))
		return rc;
	if (!userdb_exists(db, a.pos[0])) {
		fprintf(stderr, "tandemctl: no such user: %s\n", a.pos[0]);
		return EX_NOUSER;
	}
	if (userdb_delete(db, a.pos[0], &err) < 0) {
		fprintf(stderr, "tandemctl: user del %s: %s\n", a.pos[0],
			err.data ? err.data : "failed");
		buf_release(&err);
		return EX_TEMPFAIL;
	}
	buf_release(&err);
	if (store_user_name_valid(a.pos[0]) &&
	    store_remove_user(a.pos[0], &serr) < 0 &&
	    serr.code != STORE_ERR_NOTFOUND)
		return ctl_store_fail(a.pos[0], &serr);
	return 0;
}

int ctl_user_passwd(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct userdb *db;
	struct buf pw = BUF_INIT, err = BUF_INIT;
	int rc;

	if ((rc = ctl_parse(argc, argv, 1, 1, true,
			    "user passwd NAME [--password P]", &a)))
		return rc;
	if ((rc = ctl_userdb(c, &db)))
		return rc;
	if (!userdb_exists(db, a.pos[0])) {
		fprintf(stderr, "tandemctl: no such user: %s\n", a.pos[0]);
		return EX_NOUSER;
	}
	if ((rc = get_password(&a, &pw)) == 0 &&
	    userdb_set_password(db, a.pos[0], pw.data, &err) < 0) {
		fprintf(stderr, "tandemctl: user passwd %s: %s\n", a.pos[0],
			err.data ? err.data : "failed");
		rc = EX_DATAERR;
	}
	wipe(&pw);
	buf_release(&err);
	return rc;
}

int ctl_user_list(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct userdb *db;
	struct buf out = BUF_INIT, err = BUF_INIT;
	int rc;

	if ((rc = ctl_parse(argc, argv, 0, 0, false, "user list", &a)))
		return rc;
	if ((rc = ctl_userdb(c, &db)))
		return rc;
	if (userdb_list(db, &out, &err) < 0) {
		fprintf(stderr, "tandemctl: user list: %s\n",
			err.data ? err.data : "failed");
		rc = EX_TEMPFAIL;
	} else if (out.len) {
		fwrite(out.data, 1, out.len, stdout);
	}
	buf_release(&out);
	buf_release(&err);
	return rc;
}

int ctl_user_test(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct userdb *db;
	struct buf pw = BUF_INIT;
	int rc;

	if ((rc = ctl_parse(argc, argv, 1, 1, true,
			    "user test NAME [--password P]", &a)))
		return rc;
	if ((rc = ctl_userdb(c, &db)))
		return rc;
	if ((rc = get_password(&a, &pw)))
		goto out;
	switch (userdb_verify_password(db, a.pos[0], pw.data)) {
	case AUTH_OK:
		printf("ok\n");
		break;
	case AUTH_FAIL:
		fprintf(stderr, "tandemctl: authentication failed for %s\n",
			a.pos[0]);
		rc = EX_NOPERM;
		break;
	default:
		fprintf(stderr, "tandemctl: user database unavailable\n");
		rc = EX_TEMPFAIL;
		break;
	}
out:
	wipe(&pw);
	return rc;
}
