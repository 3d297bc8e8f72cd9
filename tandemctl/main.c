/* main.c - tandemctl: the admin command.
 *
 *     tandemctl [-c FILE] VERB [SUBVERB] [ARGS...]
 *
 * Global options come before the verb. Without -c the default config
 * file is read if it exists, else the built-in defaults apply. Exit
 * statuses follow sysexits(3): 64 usage, 65 bad data / check failed,
 * 67 no such user, 73 cannot create (exists), 75 temporary failure,
 * 77 permission denied, 78 configuration error.
 *
 * Run as root, tandemctl creates data_dir if missing, gives it to the
 * [server] user/group and becomes that user before opening any database,
 * so every file it creates belongs to the service user.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "log.h"
#include "tandem-build.h"
#include "tandemctl-private.h"
#include "xalloc.h"

struct verb {
	const char *group;
	const char *name; /* NULL: the group is the whole verb */
	ctl_verb_fn *fn;
	const char *usage;
	const char *help;
};

static const struct verb verbs[] = {
	{"user", "add", ctl_user_add, "user add NAME [--password P]",
	 "Create user NAME and its store. Without --password the password\n"
	 "is read from standard input (one line). A value of the form\n"
	 "{SCHEME}hash (ARGON2ID, SHA512-CRYPT, BLF-CRYPT) is stored as is.\n"
	 "Exit 73 if the user exists."},
	{"user", "del", ctl_user_del, "user del NAME",
	 "Remove user NAME and all of its mail. Exit 67 if no such user."},
	{"user", "passwd", ctl_user_passwd, "user passwd NAME [--password P]",
	 "Set the password of NAME (read from standard input without\n"
	 "--password)."},
	{"user", "list", ctl_user_list, "user list", "List the users, one per line."},
	{"user", "test", ctl_user_test, "user test NAME [--password P]",
	 "Check a password as a login would. Prints \"ok\" and exits 0, or\n"
	 "exits 77 when the password is wrong or the user unknown."},
	{"user", "set", ctl_user_set,
	 "user set NAME quota_bytes=SIZE|default quota_messages=N|default "
	 "[quota_rule=*:storage=SIZE]",
	 "Set the user's own quota, overriding [storage] quota_bytes and\n"
	 "quota_messages: SIZE in bytes with an optional K/M/G/T suffix, 0\n"
	 "for unlimited, \"default\" to follow the configuration again.\n"
	 "Dovecot's userdb field is accepted too: quota_rule=*:storage=1G,\n"
	 "*:bytes=N, *:messages=N (storage without a suffix is in KiB).\n"
	 "Applies to the next write of every daemon."},
	{"user", "show", ctl_user_show, "user show NAME",
	 "Print \"key value\" lines: messages and bytes stored, and the\n"
	 "quota limits in force (0 = unlimited; \"(default)\" when from the\n"
	 "configuration)."},
	{"mailbox", "list", ctl_mailbox_list, "mailbox list USER",
	 "List the mailboxes of USER: name, messages, unseen, size\n"
	 "(tab-separated), ordered by name."},
	{"mailbox", "status", ctl_mailbox_status, "mailbox status USER MAILBOX",
	 "Print \"key value\" lines: messages, unseen, recent, deleted,\n"
	 "uidvalidity, uidnext, highestmodseq, size, mailboxid."},
	{"mailbox", "create", ctl_mailbox_create, "mailbox create USER NAME",
	 "Create a mailbox (and its missing parents). Exit 73 if it exists."},
	{"mailbox", "delete", ctl_mailbox_delete, "mailbox delete USER NAME",
	 "Delete a mailbox and its messages (not INBOX, not one with\n"
	 "inferiors)."},
	{"deliver", NULL, ctl_deliver, "deliver USER [MAILBOX] < MESSAGE",
	 "Store the message read on standard input in MAILBOX (default\n"
	 "INBOX; created if missing). Bare LF line ends become CRLF. Prints\n"
	 "\"uid N\". Exit 65 if the message is over [lmtp] max_message_size,\n"
	 "75 on a temporary failure."},
	{"check", NULL, ctl_check, "check [USER]",
	 "Check the consistency of the store of USER (or of every user).\n"
	 "Exit 0 when clean, 65 with the problems listed otherwise."},
	{"import", "maildir", ctl_import_maildir, "import maildir USER PATH",
	 "Import a Maildir++ tree (INBOX and .Sub.Folders). Where Dovecot's\n"
	 "dovecot-uidlist exists, UIDVALIDITY, UIDs, UIDNEXT and announced\n"
	 "POP3 UIDLs are kept; flags from file names, keywords from\n"
	 "dovecot-keywords. Running it again adds nothing twice. Exit 65 if\n"
	 "some messages could not be read (the rest is imported)."},
	{"import", "courier", ctl_import_courier, "import courier USER PATH",
	 "Import a Courier-IMAP Maildir, keeping IMAP UIDs from\n"
	 "courierimapuiddb and the POP3 UIDLs of courierpop3dsizelist."},
	{"import", "mbox", ctl_import_mbox, "import mbox USER FILE [MAILBOX]",
	 "Import an mbox file (mboxrd/mboxo) into MAILBOX (default INBOX);\n"
	 "Status:/X-Status:/X-Keywords: become flags. A damaged message is\n"
	 "reported by number and skipped (exit 65); the rest is imported."},
	{"export", "maildir", ctl_export_maildir, "export maildir USER PATH",
	 "Write every mailbox as a Maildir++ tree with dovecot-uidlist and\n"
	 "dovecot-keywords, so Dovecot or another import keeps the UIDs."},
	{"config", "check", ctl_config_check, "config check",
	 "Load the configuration. On an error print FILE:LINE: reason and\n"
	 "exit 78."},
	{"config", "show", ctl_config_show, "config show",
	 "Print the effective configuration as an INI file."},
	{"who", NULL, ctl_who, "who [USER]",
	 "List the sessions of the running daemons (of USER only, if given):\n"
	 "user, protocol, remote address, since when (UTC), TLS, and the\n"
	 "selected mailbox of IMAP sessions. Sessions not yet logged in\n"
	 "show user \"-\". Exit 69 when no daemon answers."},
	{"kick", NULL, ctl_kick, "kick USER",
	 "Close every session of USER in every running daemon (IMAP says\n"
	 "\"* BYE\", POP3 \"-ERR\" first) and print how many were closed."},
	{"stats", NULL, ctl_stats, "stats",
	 "Print the counters of each running daemon: connections (now and\n"
	 "total), logins, auth failures, commands, deliveries, bytes in and\n"
	 "out, uptime in seconds."},
};

static void usage_all(FILE *f)
{
	fprintf(f, "usage: tandemctl [-c FILE] VERB [ARGS...]\n\n"
		   "Verbs:\n");
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		fprintf(f, "  tandemctl %s\n", verbs[i].usage);
	fprintf(f, "\n  -c FILE   configuration file (default %s)\n"
		   "Run \"tandemctl VERB --help\" for details.\n",
		TANDEM_DEFAULT_CONFIG);
}

static void usage_group(FILE *f, const char *group)
{
	fprintf(f, "usage:\n");
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (strcmp(verbs[i].group, group) == 0)
			fprintf(f, "  tandemctl %s\n", verbs[i].usage);
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

int ctl_parse(int argc, char **argv, int min, int max, bool allow_password,
	      const char *usage, struct ctl_args *a)
{
	bool opts = true;

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (opts && strcmp(s, "--") == 0) {
			opts = false;
		} else if (opts && allow_password &&
			   strcmp(s, "--password") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "tandemctl: --password needs a "
						"value\nusage: tandemctl %s\n",
					usage);
				return EX_USAGE;
			}
			a->password = argv[++i];
		} else if (opts && allow_password &&
			   strncmp(s, "--password=", 11) == 0) {
			a->password = s + 11;
		} else if (opts && s[0] == '-' && s[1] != '\0') {
			fprintf(stderr, "tandemctl: unknown option %s\n"
					"usage: tandemctl %s\n",
				s, usage);
			return EX_USAGE;
		} else {
			if (a->npos >= max || a->npos >= 8) {
				fprintf(stderr, "tandemctl: too many arguments\n"
						"usage: tandemctl %s\n",
					usage);
				return EX_USAGE;
			}
			a->pos[a->npos++] = s;
		}
	}
	if (a->npos < min) {
		fprintf(stderr, "tandemctl: missing argument\nusage: tandemctl %s\n",
			usage);
		return EX_USAGE;
	}
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char *tmp = xstrdup(path);
	int rc = 0;

	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			rc = -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		rc = -1;
	else
		rc = 0;
	free(tmp);
	return rc;
}

/* Creates data_dir; as root gives it to the service user and becomes
 * that user. Runs once. Returns 0 or an exit code. */
static int prepare(struct ctl *c)
{
	static int done = -1;
	const char *dir = c->cfg.data_dir;

	if (done >= 0)
		return done;
	done = 0;
	if (geteuid() == 0 && c->cfg.user && c->cfg.user[0]) {
		struct passwd *pw = getpwnam(c->cfg.user);
		gid_t gid;

		if (!pw) {
			fprintf(stderr, "tandemctl: %s: [server] user %s does "
					"not exist\n",
				c->cfg.path, c->cfg.user);
			return done = EX_CONFIG;
		}
		gid = pw->pw_gid;
		if (c->cfg.group && c->cfg.group[0]) {
			struct group *gr = getgrnam(c->cfg.group);
			if (!gr) {
				fprintf(stderr, "tandemctl: %s: [server] group "
						"%s does not exist\n",
					c->cfg.path, c->cfg.group);
				return done = EX_CONFIG;
			}
			gid = gr->gr_gid;
		}
		if (mkdir_p(dir, 0750) < 0) {
			fprintf(stderr, "tandemctl: mkdir %s: %s\n", dir,
				strerror(errno));
			return done = EX_CANTCREAT;
		}
		if (chown(dir, pw->pw_uid, gid) < 0) {
			fprintf(stderr, "tandemctl: chown %s: %s\n", dir,
				strerror(errno));
			return done = EX_OSERR;
		}
		if (setgroups(1, &gid) < 0 || setgid(gid) < 0 ||
		    setuid(pw->pw_uid) < 0) {
			fprintf(stderr, "tandemctl: cannot become %s: %s\n",
				c->cfg.user, strerror(errno));
			return done = EX_OSERR;
		}
	} else if (mkdir_p(dir, 0750) < 0) {
		fprintf(stderr, "tandemctl: mkdir %s: %s\n", dir,
			strerror(errno));
		return done = errno == EACCES ? EX_NOPERM : EX_CANTCREAT;
	}
	store_global_init(NULL, dir);
	store_quota_defaults(c->cfg.storage_quota_bytes,
			     c->cfg.storage_quota_messages);
	return 0;
}

int ctl_userdb(struct ctl *c, struct userdb **db_r)
{
	struct buf err = BUF_INIT;
	int rc = prepare(c);

	if (rc)
		return rc;
	if (!c->db && userdb_open(c->cfg.data_dir, true, &c->db, &err) < 0) {
		fprintf(stderr, "tandemctl: user database: %s\n",
			err.data ? err.data : "cannot open");
		buf_release(&err);
		return EX_TEMPFAIL;
	}
	*db_r = c->db;
	return 0;
}

int ctl_store(struct ctl *c, const char *user, struct store **s_r)
{
	struct userdb *db;
	struct store_err err;
	int rc = ctl_userdb(c, &db);

	if (rc)
		return rc;
	if (!userdb_exists(db, user)) {
		fprintf(stderr, "tandemctl: no such user: %s\n", user);
		return EX_NOUSER;
	}
	if (store_open(user, true, s_r, &err) < 0)
		return ctl_store_fail(user, &err);
	return 0;
}

int ctl_store_fail(const char *what, const struct store_err *err)
{
	fprintf(stderr, "tandemctl: %s: %s\n", what, err->msg);
	switch (err->code) {
	case STORE_ERR_TEMP:
	case STORE_ERR_INUSE:
	case STORE_ERR_OVERQUOTA:
		return EX_TEMPFAIL;
	case STORE_ERR_PERM:
		return EX_NOPERM;
	case STORE_ERR_EXISTS:
		return EX_CANTCREAT;
	default:
		return EX_DATAERR;
	}
}

int main(int argc, char **argv)
{
	struct ctl c = {0};
	struct buf err = BUF_INIT;
	const char *cfg_path = NULL;
	const struct verb *v = NULL;
	int i = 1, rc;
	bool group_known = false;

	log_init("tandemctl", LOG_LEVEL_WARN, false);
	umask(077);
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cfg_path = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "-c", 2) == 0 && argv[i][2]) {
			cfg_path = argv[i] + 2;
			i++;
		} else if (strcmp(argv[i], "--help") == 0 ||
			   strcmp(argv[i], "-h") == 0) {
			usage_all(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("tandemctl %s\n", TANDEM_VERSION);
			return 0;
		} else {
			fprintf(stderr, "tandemctl: unknown option %s\n",
				argv[i]);
			usage_all(stderr);
			return EX_USAGE;
		}
	}
	if (i >= argc) {
		usage_all(stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		usage_all(stdout);
		return 0;
	}
	for (size_t k = 0; k < ARRAY_SIZE(verbs) && !v; k++) {
		if (strcmp(verbs[k].group, argv[i]) != 0)
			continue;
		group_known = true;
		if (!verbs[k].name)
			v = &verbs[k];
		else if (i + 1 < argc && strcmp(verbs[k].name, argv[i + 1]) == 0)
			v = &verbs[k];
	}
	if (!v) {
		if (!group_known) {
			fprintf(stderr, "tandemctl: unknown verb %s\n", argv[i]);
			usage_all(stderr);
			return EX_USAGE;
		}
		if (wants_help(argc - i - 1, argv + i + 1)) {
			usage_group(stdout, argv[i]);
			return 0;
		}
		if (i + 1 < argc)
			fprintf(stderr, "tandemctl: unknown verb %s %s\n",
				argv[i], argv[i + 1]);
		usage_group(stderr, argv[i]);
		return EX_USAGE;
	}
	i += v->name ? 2 : 1;
	if (wants_help(argc - i, argv + i)) {
		printf("usage: tandemctl %s\n\n%s\n", v->usage, v->help);
		return 0;
	}

	config_init(&c.cfg);
	if (!cfg_path && access(TANDEM_DEFAULT_CONFIG, F_OK) == 0)
		cfg_path = TANDEM_DEFAULT_CONFIG;
	if (cfg_path && config_load(&c.cfg, cfg_path, &err) < 0) {
		fprintf(stderr, "%s\n", err.data ? err.data : cfg_path);
		buf_release(&err);
		config_release(&c.cfg);
		return EX_CONFIG;
	}
	buf_release(&err);

	rc = v->fn(&c, argc - i, argv + i);
	if (c.db)
		userdb_close(&c.db);
	config_release(&c.cfg);
	if (fflush(stdout) != 0 && rc == 0)
		rc = EX_IOERR;
	return rc;
}
