/* main.c - tandem-lmtpd, the LMTP delivery daemon (RFC 2033).
 *
 * Why a daemon of its own, and not one more listener in tandem-imapd or
 * tandem-pop3d:
 *   - A separate failure domain. Delivery is the one path where losing
 *     data is silent (a 250 is a promise the MTA will not repeat). A crash,
 *     a leak or an overload in the IMAP or POP3 front ends, which face the
 *     internet and its clients, must not stop mail from coming in; and a
 *     storm of incoming mail must not starve interactive sessions. The MTA
 *     queues while tandem-lmtpd restarts, so it can fail and come back
 *     alone (systemd Restart=on-failure).
 *   - Separate privileges. LMTP has no authentication: whoever reaches the
 *     listener can write into every mailbox. So it listens only where the
 *     MTA alone can reach (127.0.0.1, a unix socket), needs no TLS key and
 *     no password hashes, and never shares a process with code that parses
 *     untrusted clients' logins.
 *   - The MTA talks to it alone. Its clients are a handful of Postfix or
 *     Exim processes, not thousands of mail readers: its limits, timeouts
 *     and logging are tuned for that, and it can be stopped for
 *     maintenance (mail then waits in the MTA's queue) while users keep
 *     reading.
 * Everything protocol-specific is in session.c; start-up, privileges and
 * signals are core/daemon.c's, as for every daemon.
 */
#include "lmtp.h"

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "control.h"
#include "daemon.h"
#include "store.h"
#include "xalloc.h"

static void accept_cb(struct conn *c, void *arg)
{
	lmtp_session_start(c, arg);
}

/* SIGHUP: the [storage] quota defaults apply to the next delivery (the
 * sessions read the rest of srv->cfg at each use). */
static void lmtp_reload(struct daemon *d, void *arg)
{
	(void)arg;
	store_quota_defaults(d->cfg.storage_quota_bytes,
			     d->cfg.storage_quota_messages);
}

int main(int argc, char **argv)
{
	static struct daemon d;
	static struct lmtp_server srv;
	struct buf err = BUF_INIT;

	daemon_init(&d, "tandem-lmtpd", argc, argv);
	srv.loop = d.loop;
	srv.cfg = &d.cfg;
	/* LMTP has no TLS listener: it serves only the local MTA. */
	daemon_listen(&d, d.cfg.lmtp_listen, NULL, accept_cb, &srv);
	daemon_ready(&d);
	/* Opened after dropping privileges, so files it creates belong to
	 * the daemons' user. */
	if (userdb_open(d.cfg.data_dir, true, &srv.userdb, &err) < 0)
		fatal("user database: %s", err.data);
	buf_release(&err);
	/* No change feed here: lmtpd only writes; each commit touches the
	 * store's notify file, which tells the IMAP and POP3 daemons. */
	store_global_init(NULL, d.cfg.data_dir);
	lmtp_reload(&d, NULL);
	control_start(&d, "lmtpd", 2);
	return daemon_run(&d, lmtp_reload, NULL);
}
