/* tandemctl-private.h - shared by the tandemctl sources.
 *
 * Each verb is a function of (ctx, argc, argv) run after the global
 * options and the verb words are consumed; it returns a sysexits(3)
 * status. Verbs print results on stdout and errors on stderr.
 */
#ifndef TANDEMCTL_PRIVATE_H
#define TANDEMCTL_PRIVATE_H

#include <stdbool.h>
#include <sysexits.h>

#include "buf.h"
#include "config.h"
#include "store.h"

struct userdb;

struct ctl {
	struct config cfg;
	bool config_loaded_ok;
	struct userdb *db; /* opened on demand by ctl_userdb */
};

typedef int ctl_verb_fn(struct ctl *c, int argc, char **argv);

/* Parsed arguments of a verb: positionals and --password. */
struct ctl_args {
	const char *pos[8];
	int npos;
	const char *password; /* NULL unless --password given */
};

/* Parses argv (after the verb words). Returns 0, or prints the problem
 * and returns EX_USAGE. min/max bound the positionals; allow_password
 * accepts --password P. */
int ctl_parse(int argc, char **argv, int min, int max, bool allow_password,
	      const char *usage, struct ctl_args *a);

/* Prepares the data dir (root: create, chown, drop to [server]
 * user/group), then opens the user database. Returns 0 or an exit code. */
int ctl_userdb(struct ctl *c, struct userdb **db_r);
/* ctl_userdb, then checks that user exists and opens (creating if
 * missing) its store. Returns 0 or an exit code (EX_NOUSER ...). */
int ctl_store(struct ctl *c, const char *user, struct store **s_r);
/* Maps a store error to an exit code, printing "tandemctl: what: msg". */
int ctl_store_fail(const char *what, const struct store_err *err);

int ctl_user_add(struct ctl *c, int argc, char **argv);
int ctl_user_del(struct ctl *c, int argc, char **argv);
int ctl_user_passwd(struct ctl *c, int argc, char **argv);
int ctl_user_list(struct ctl *c, int argc, char **argv);
int ctl_user_test(struct ctl *c, int argc, char **argv);
int ctl_user_set(struct ctl *c, int argc, char **argv);
int ctl_user_show(struct ctl *c, int argc, char **argv);
int ctl_mailbox_list(struct ctl *c, int argc, char **argv);
int ctl_mailbox_status(struct ctl *c, int argc, char **argv);
int ctl_mailbox_create(struct ctl *c, int argc, char **argv);
int ctl_mailbox_delete(struct ctl *c, int argc, char **argv);
int ctl_deliver(struct ctl *c, int argc, char **argv);
int ctl_check(struct ctl *c, int argc, char **argv);
int ctl_config_check(struct ctl *c, int argc, char **argv);
int ctl_config_show(struct ctl *c, int argc, char **argv);
/* who.c: the running daemons, over their control sockets. */
int ctl_who(struct ctl *c, int argc, char **argv);
int ctl_kick(struct ctl *c, int argc, char **argv);
int ctl_stats(struct ctl *c, int argc, char **argv);

/* Import and export (import.c, import-mbox.c, export.c). */
struct import_ctx {
	struct store *s;
	unsigned added, skipped, failed;
	unsigned rep_added, rep_skipped, rep_failed; /* at the last report */
	int rc; /* exit status so far */
};
/* Reads a file into a new spool with CRLF line ends. Returns 0, or -1
 * with the reason in why. */
int import_file_spool(const char *path, struct store_spool **sp_r,
		      struct buf *why);
/* Finds or creates mailbox name. Returns 0, or -1 (ic->rc set). */
int import_mailbox(struct import_ctx *ic, const char *name,
		   struct store_mailbox *mb_r);
/* Appends one message; counts it as added, already there or failed
 * (then prints "tandemctl: what: reason"). Returns 0 or -1. */
int import_append(struct import_ctx *ic, struct store_append_req *rq,
		  const char *what);
/* Prints the counts since the last report for mailbox. */
void import_report(struct import_ctx *ic, const char *mailbox);

int ctl_import_maildir(struct ctl *c, int argc, char **argv);
int ctl_import_courier(struct ctl *c, int argc, char **argv);
int ctl_import_mbox(struct ctl *c, int argc, char **argv);
int ctl_export_maildir(struct ctl *c, int argc, char **argv);

#endif
