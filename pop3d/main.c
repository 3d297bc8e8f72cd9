/* main.c - tandem-pop3d: the POP3 front end (RFC 1939 and extensions). */
#include <stdlib.h>

#include "auth.h"
#include "control.h"
#include "daemon.h"
#include "pop3d.h"
#include "store.h"
#include "xalloc.h"

/* SIGHUP: the config was reloaded in place; EXPIRE may have been turned
 * on. */
static void pop3_reload(struct daemon *d, void *arg)
{
	/* One expiry sweep per daemon: worker 0's (or the only process). */
	if (d->worker <= 0)
		pop3_expire_start(arg);
}

static void pop3_stop(struct daemon *d, void *arg)
{
	(void)d;
	(void)arg;
	pop3_expire_stop();
}

int main(int argc, char **argv)
{
	static struct daemon d;
	static struct pop3_server srv;
	struct buf err = BUF_INIT;

	daemon_init(&d, "tandem-pop3d", argc, argv);
	srv.loop = d.loop;
	srv.cfg = &d.cfg;
	store_global_init(d.loop, d.cfg.data_dir);
	daemon_listen(&d, d.cfg.pop3_listen, d.cfg.pop3_listen_tls,
		      pop3_accept, &srv);
	d.on_stop = pop3_stop;
	daemon_ready(&d);
	/* Opened after dropping privileges: as root under the unit's
	 * capability set the data dir is not readable, and outside systemd
	 * a root-owned users.db would lock the service user out. */
	if (userdb_open(d.cfg.data_dir, true, &srv.userdb, &err) < 0)
		fatal("opening the user database in %s: %s", d.cfg.data_dir,
		      err.data ? err.data : "?");
	buf_release(&err);
	pop3_reload(&d, &srv);
	control_start(&d, "pop3d", 1);
	return daemon_run(&d, pop3_reload, &srv);
}
