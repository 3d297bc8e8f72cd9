/* user.c - tandemctl user add|del|passwd|list|test|set|show. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "tandemctl-private.h"
#include "xalloc.h"

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

/* A quota value: "default" (or empty) drops the user's own limit; else a
 * number times unit, with an optional B/K/M/G/T suffix (powers of 1024,
 * as in tandem.conf) when suffixes; 0 = unlimited. Returns 0, or -1. */
static int parse_quota(const char *v, bool suffixes, unsigned long long unit,
		       int64_t *out)
{
	unsigned long long n, mul = unit;
	char *end;

	if (!*v || strcasecmp(v, "default") == 0) {
		*out = STORE_QUOTA_DEFAULT;
		return 0;
	}
	if (!isdigit((unsigned char)v[0]))
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno)
		return -1;
	if (suffixes && *end) {
		switch (toupper((unsigned char)*end)) {
		case 'B': mul = 1; break;
		case 'K': mul = 1ULL << 10; break;
		case 'M': mul = 1ULL << 20; break;
		case 'G': mul = 1ULL << 30; break;
		case 'T': mul = 1ULL << 40; break;
		default: return -1;
		}
		end++;
		if (mul != 1 && toupper((unsigned char)*end) == 'B')
			end++;
	}
	if (*end || n > (unsigned long long)INT64_MAX / mul)
		return -1;
	*out = (int64_t)(n * mul);
	return 0;
}

/* Dovecot's userdb extra field, for admins bringing their values along:
 *     quota_rule=*:storage=100M:messages=10000
 * Only the default rule ("*" or "?") exists here; storage is in KiB
 * unless a suffix says otherwise, bytes in octets (Dovecot's units).
 * Returns 0, or -1. */
static int parse_quota_rule(const char *v, int64_t *bytes, int64_t *messages)
{
	char *dup, *save = NULL, *tok;
	int rc = 0;

	if ((v[0] != '*' && v[0] != '?') || v[1] != ':' || !v[2])
		return -1;
	dup = xstrdup(v + 2);
	for (tok = strtok_r(dup, ":", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ":", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			rc = -1;
			break;
		}
		*eq++ = '\0';
		if (!*eq || strcasecmp(eq, "default") == 0)
			rc = -1; /* Dovecot has no such value */
		else if (strcmp(tok, "storage") == 0)
			rc = parse_quota(eq, true, 1024, bytes);
		else if (strcmp(tok, "bytes") == 0)
			rc = parse_quota(eq, true, 1, bytes);
		else if (strcmp(tok, "messages") == 0)
			rc = parse_quota(eq, true, 1, messages);
		else
			rc = -1;
	}
	free(dup);
	return rc;
}

/* tandemctl user set NAME KEY=VALUE...: the user's own settings, kept in
 * the user's store (so they go with it) and read by every daemon at the
 * next write: quota_bytes, quota_messages, or both as a Dovecot
 * quota_rule. */
int ctl_user_set(struct ctl *c, int argc, char **argv)
{
	static const char usage[] =
		"user set NAME quota_bytes=SIZE|default "
		"quota_messages=N|default [quota_rule=*:storage=SIZE]";
	struct ctl_args a;
	struct store *s;
	struct store_err serr;
	int64_t bytes = STORE_QUOTA_KEEP, messages = STORE_QUOTA_KEEP;
	int rc;

	if ((rc = ctl_parse(argc, argv, 2, 8, false, usage, &a)))
		return rc;
	for (int i = 1; i < a.npos; i++) {
		const char *eq = strchr(a.pos[i], '=');
		size_t kl = eq ? (size_t)(eq - a.pos[i]) : 0;
		int bad;

		if (kl == 11 && strncmp(a.pos[i], "quota_bytes", kl) == 0) {
			bad = parse_quota(eq + 1, true, 1, &bytes);
		} else if (kl == 14 &&
			   strncmp(a.pos[i], "quota_messages", kl) == 0) {
			bad = parse_quota(eq + 1, false, 1, &messages);
		} else if (kl == 10 &&
			   strncmp(a.pos[i], "quota_rule", kl) == 0) {
			bad = parse_quota_rule(eq + 1, &bytes, &messages);
		} else {
			fprintf(stderr, "tandemctl: unknown setting: %s\n"
					"usage: tandemctl %s\n",
				a.pos[i], usage);
			return EX_USAGE;
		}
		if (bad < 0) {
			fprintf(stderr, "tandemctl: bad value: %s\n",
				a.pos[i]);
			return EX_DATAERR;
		}
	}
	if ((rc = ctl_store(c, a.pos[0], &s)))
		return rc;
	if (store_quota_set(s, bytes, messages, &serr) < 0)
		rc = ctl_store_fail(a.pos[0], &serr);
	store_unref(&s);
	return rc;
}

static void print_limit(const char *key, uint64_t v, bool own)
{
	printf("%s %" PRIu64 "%s\n", key, v, own ? "" : " (default)");
}

/* tandemctl user show NAME: "key value" lines. */
int ctl_user_show(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct store *s;
	struct store_err serr;
	struct store_quota q;
	int rc;

	if ((rc = ctl_parse(argc, argv, 1, 1, false, "user show NAME", &a)))
		return rc;
	if ((rc = ctl_store(c, a.pos[0], &s)))
		return rc;
	if (store_quota_get(s, &q, &serr) < 0) {
		rc = ctl_store_fail(a.pos[0], &serr);
	} else {
		printf("user %s\n", a.pos[0]);
		printf("messages %" PRIu64 "\n", q.messages);
		printf("bytes %" PRIu64 "\n", q.bytes);
		print_limit("quota_bytes", q.bytes_limit, q.bytes_own);
		print_limit("quota_messages", q.messages_limit,
			    q.messages_own);
	}
	store_unref(&s);
	return rc;
}
