/* tandem-deliver.c - the local delivery agent:
 *
 *     tandem-deliver [-c FILE] [-m MAILBOX] [-f SENDER] USER < message
 *
 * For Postfix's mailbox_command or a pipe(8) transport, and procmail-style
 * filters. It reads one message from standard input into a store_spool
 * (bare LF and CRLF both become CRLF, as over LMTP), adds Return-Path when
 * -f is given, and appends it to the user's store in one fsync'd
 * transaction. The exit status follows sysexits.h so that the MTA bounces
 * (EX_NOUSER, EX_DATAERR, ...) or retries (EX_TEMPFAIL) as it should.
 * Exit 0 is returned only once the message is committed.
 */
#include "deliver.h"
#include "recipient.h"
#include "smtp-parse.h"

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#include "tandem-build.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#define READ_SIZE 65536


static void usage(void)
{
	fprintf(stderr, "usage: tandem-deliver [-c FILE] [-m MAILBOX] "
			"[-f SENDER] USER < message\n");
	exit(EX_USAGE);
}

/* Started as root (a pipe transport with user=root, or by hand), switch to
 * the data directory's owner first: files root created would lock the
 * daemons out of the store. */
static int drop_privileges(const struct config *cfg)
{
	struct passwd *pw;
	gid_t gid;

	if (geteuid() != 0 || !cfg->user || !*cfg->user)
		return 0;
	pw = getpwnam(cfg->user);
	if (!pw) {
		log_error(NULL, "no such system user %s", cfg->user);
		return -1;
	}
	gid = pw->pw_gid;
	if (cfg->group && *cfg->group) {
		struct group *gr = getgrnam(cfg->group);

		if (!gr) {
			log_error(NULL, "no such group %s", cfg->group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_error(NULL, "cannot switch to %s: %s", cfg->user,
			  strerror(errno));
		return -1;
	}
	return 0;
}

static bool userdb_exists_cb(void *arg, const char *user)
{
	return userdb_exists(arg, user);
}

/* USER may be a user name, user+detail, or an address. */
static int resolve_user(struct userdb *db, const char *arg,
			struct lmtp_target *t)
{
	struct smtp_path path;
	const char *at = strrchr(arg, '@');
	size_t llen = at ? (size_t)(at - arg) : strlen(arg);

	memset(&path, 0, sizeof(path));
	if (llen >= sizeof(path.local) ||
	    (at && strlen(at + 1) >= sizeof(path.domain)))
		return -1;
	memcpy(path.local, arg, llen);
	if (at)
		snprintf(path.domain, sizeof(path.domain), "%s", at + 1);
	return lmtp_rcpt_resolve(&path, userdb_exists_cb, db, t);
}

/* Reads standard input into sp, normalizing line ends. A leading mbox
 * "From " separator line (added by some MTAs' pipe flags) is not part of
 * the message and is skipped. Returns EX_OK, EX_DATAERR (too big) or
 * EX_TEMPFAIL. */
static int read_message(struct store_spool *sp, size_t max)
{
	struct smtp_dec dec;
	struct buf out = BUF_INIT;
	struct store_err err;
	char *in = xmalloc(READ_SIZE);
	uint64_t size = 0;
	bool first = true, skipping = false;
	int rc = EX_OK;

	smtp_dec_init(&dec, SMTP_DEC_RAW);
	for (;;) {
		ssize_t n = read(STDIN_FILENO, in, READ_SIZE);
		const char *p = in;
		size_t used;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error(NULL, "reading the message: %s",
				  strerror(errno));
			rc = EX_TEMPFAIL;
			break;
		}
		buf_reset(&out);
		if (n == 0) {
			smtp_dec_finish(&dec, &out);
		} else {
			if (first && n >= 5 && memcmp(in, "From ", 5) == 0)
				skipping = true;
			first = false;
			if (skipping) {
				const char *lf = memchr(p, '\n', (size_t)n);

				if (!lf)
					continue;
				skipping = false;
				n -= lf + 1 - p;
				p = lf + 1;
			}
			smtp_dec_feed(&dec, p, (size_t)n, &used, &out);
		}
		size += out.len;
		if (size > max) {
			log_error(NULL, "message larger than "
				  "max_message_size (%zu)", max);
			rc = EX_DATAERR;
			break;
		}
		if (out.len && store_spool_write(sp, out.data, out.len,
						 &err) < 0) {
			log_error(NULL, "spooling the message: %s",
				  err.msg);
			rc = EX_TEMPFAIL;
			break;
		}
		if (n == 0)
			break;
	}
	buf_release(&out);
	free(in);
	return rc;
}

/* sysexits(3) as MTAs read them (Postfix's pipe/local: 67 and 73
 * bounce, 75 defers). A full mailbox bounces unless [storage]
 * quota_full_tempfail. */
static int exit_code(enum store_error e, bool quota_tempfail)
{
	switch (e) {
	case STORE_ERR_NOTFOUND:
		return EX_NOUSER;
	case STORE_ERR_TOOBIG:
		return EX_DATAERR;
	case STORE_ERR_OVERQUOTA:
		return quota_tempfail ? EX_TEMPFAIL : EX_CANTCREAT;
	default:
		return EX_TEMPFAIL;
	}
}

int main(int argc, char **argv)
{
	const char *config_path = TANDEM_DEFAULT_CONFIG, *mailbox = NULL;
	const char *sender = NULL, *mailbox_used;
	struct config cfg;
	struct buf err = BUF_INIT, hdr = BUF_INIT;
	struct userdb *db = NULL;
	struct lmtp_target target;
	struct store *st = NULL;
	struct store_spool *sp = NULL;
	struct store_err serr;
	struct store_append_res res;
	int c, rc;

	while ((c = getopt(argc, argv, "c:m:f:h")) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'm':
			mailbox = optarg;
			break;
		case 'f':
			sender = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || !*argv[optind])
		usage();

	log_init("tandem-deliver", LOG_LEVEL_INFO, false);
	config_init(&cfg);
	if (config_load(&cfg, config_path, &err) < 0) {
		log_error(NULL, "%s", err.data);
		rc = EX_CONFIG;
		goto out;
	}
	log_init("tandem-deliver", cfg.log_level, cfg.log_syslog);
	if (drop_privileges(&cfg) < 0) {
		rc = EX_CONFIG;
		goto out;
	}
	buf_reset(&err);
	if (userdb_open(cfg.data_dir, false, &db, &err) < 0) {
		log_error(NULL, "user database: %s", err.data);
		rc = EX_TEMPFAIL;
		goto out;
	}
	if (resolve_user(db, argv[optind], &target) < 0) {
		log_error(NULL, "no such user: %s", argv[optind]);
		rc = EX_NOUSER;
		goto out;
	}
	if (!mailbox && cfg.lmtp_detail_mailbox && target.detail[0])
		mailbox = target.detail;

	store_global_init(NULL, cfg.data_dir);
	store_quota_defaults(cfg.storage_quota_bytes,
			     cfg.storage_quota_messages);
	if (store_open(target.user, true, &st, &serr) < 0) {
		log_error(NULL, "store of %s: %s", target.user, serr.msg);
		rc = EX_TEMPFAIL;
		goto out;
	}
	sp = store_spool_new();
	/* RFC 5321 4.4: the delivering agent records the envelope sender;
	 * "-f ''" or "-f '<>'" is the null reverse-path. */
	if (sender) {
		size_t n = strlen(sender);

		if (n >= 2 && sender[0] == '<' && sender[n - 1] == '>')
			buf_append(&hdr, sender + 1, n - 2);
		else
			buf_append_str(&hdr, sender);
		buf_reset(&err);
		deliver_trace_headers(&err, hdr.data ? hdr.data : "", NULL);
		if (store_spool_write(sp, err.data, err.len, &serr) < 0) {
			log_error(NULL, "spooling the message: %s",
				  serr.msg);
			rc = EX_TEMPFAIL;
			goto out;
		}
	}
	rc = read_message(sp, cfg.lmtp_max_message_size);
	if (rc != EX_OK)
		goto out;
	if (deliver_append(st, mailbox, sp, &res, &mailbox_used, &serr) < 0) {
		log_error(NULL, "delivery to %s failed: %s", target.user,
			  serr.msg);
		rc = exit_code(serr.code, cfg.storage_quota_full_tempfail);
		goto out;
	}
	log_info(NULL, "delivered user=%s mailbox=%s uid=%u", target.user,
		 mailbox_used, (unsigned)res.uid);
out:
	store_spool_free(&sp);
	store_unref(&st);
	userdb_close(&db);
	buf_release(&hdr);
	buf_release(&err);
	config_release(&cfg);
	return rc;
}
