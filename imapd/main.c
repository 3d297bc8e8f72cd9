/* main.c - tandem-imapd, the IMAP server (RFC 9051, RFC 3501).
 * Everything protocol-specific is in session.c and the cmd-*.c files;
 * start-up, privileges and signals are core/daemon.c's. */
#include "auth.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "control.h"
#include "daemon.h"
#include "session.h"
#include "store.h"
#include "xalloc.h"

/* SIGHUP: the [storage] quota defaults apply to the next write. */
static void imap_reload(struct daemon *d, void *arg)
{
	(void)arg;
	store_quota_defaults(d->cfg.storage_quota_bytes,
			     d->cfg.storage_quota_messages);
}

int main(int argc, char **argv)
{
	static struct daemon d;
	static struct imap_server srv;
	struct buf err = BUF_INIT;

	daemon_init(&d, "tandem-imapd", argc, argv);
	srv.loop = d.loop;
	srv.cfg = &d.cfg;
	daemon_listen(&d, d.cfg.imap_listen, d.cfg.imap_listen_tls,
		      imap_accept, &srv);
	daemon_ready(&d);
	/* Opened after dropping privileges, so files it creates belong to
	 * the daemons' user. */
	if (userdb_open(d.cfg.data_dir, true, &srv.userdb, &err) < 0)
		fatal("user database: %s", err.data);
	buf_release(&err);
	store_global_init(d.loop, d.cfg.data_dir);
	imap_reload(&d, NULL);
	control_start(&d, "imapd", 0);
	return daemon_run(&d, imap_reload, NULL);
}
