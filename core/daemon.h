/* daemon.h - the start-up and signal handling every Tandem daemon shares.
 *
 * A front end's main():
 *
 *     int main(int argc, char **argv)
 *     {
 *             struct daemon d;
 *             static struct pop3_server srv;
 *
 *             daemon_init(&d, "tandem-pop3d", argc, argv);
 *             pop3_server_init(&srv, &d);          // open the store etc.
 *             daemon_listen(&d, d.cfg.pop3_listen, d.cfg.pop3_listen_tls,
 *                           pop3_accept, &srv);
 *             daemon_ready(&d);
 *             return daemon_run(&d, pop3_reload, &srv);
 *     }
 *
 * Order matters: daemon_init runs as whatever user started us (reads the
 * config and TLS key, which may be root-only); daemon_listen binds
 * (privileged ports); daemon_ready drops privileges, tells systemd, logs
 * "ready"; daemon_run serves until SIGTERM/SIGINT.
 *
 * Workers ([server] workers = N > 1, or auto = one per online CPU): one
 * loop is one core and one process holds at most RLIMIT_NOFILE sockets,
 * so the daemon forks N worker processes in daemon_ready. The process
 * started (the master) keeps the listening sockets (one SO_REUSEPORT
 * socket per worker and address, see conn.h; systemd's and
 * unix sockets are shared) and never returns from daemon_ready: it holds
 * no session, restarts a worker that dies, reloads its config and
 * forwards SIGHUP, forwards SIGTERM/SIGINT and exits 0 once every worker
 * has. Each worker returns from daemon_ready with d->worker set and runs
 * the rest of main() (its own loop, user database, store cache, control
 * socket) as a single-process daemon would. What the workers share (the
 * counters, the per-IP and per-user counts, the auth-failure penalties)
 * is in core/shared.h. Workers die with the master (PR_SET_PDEATHSIG).
 */
#ifndef TANDEM_DAEMON_H
#define TANDEM_DAEMON_H

#include <stdbool.h>
#include <uv.h>

#include "config.h"
#include "conn.h"

struct daemon;

typedef void daemon_hook(struct daemon *d, void *arg);

struct daemon {
	/* Set by daemon_init, valid until exit. */
	uv_loop_t *loop;
	struct config cfg;  /* updated in place on SIGHUP */
	const char *name;   /* "tandem-imapd" (static string) */
	const char *config_path;
	unsigned workers;   /* worker processes (1: no master, no fork) */
	int worker;         /* after daemon_ready: this worker's index, or
			     * -1 in a single-process daemon */

	/* Optional, set by the front end before daemon_run: called once on
	 * SIGTERM/SIGINT after the listeners stopped and before every
	 * connection is conn_close()d: write a goodbye to each session
	 * ("* BYE"), close the front end's own handles (timers, asyncs) so
	 * the loop can end. */
	daemon_hook *on_stop;
	void *on_stop_arg;

	/* Private to daemon.c. */
	uv_signal_t sig_hup, sig_term, sig_int;
	uv_timer_t stop_timer;
	daemon_hook *on_reload;
	void *on_reload_arg;
	struct config *old_cfgs; /* kept until exit: sessions may hold
				  * pointers into an older config */
	unsigned n_old_cfgs;
	bool stopping;
};

/* Parses the command line (-c/--config FILE, default
 * TANDEM_DEFAULT_CONFIG; -h/--help; -V/--version, which exit 0), raises
 * RLIMIT_NOFILE to its hard limit, ignores SIGPIPE, loads the config
 * (fatal "FILE:LINE: reason" on error), sets up logging from [server]
 * log_level/log and loads the TLS credentials (fatal on error). Returns 0
 * (the only return; every failure is fatal). */
int daemon_init(struct daemon *d, const char *name, int argc, char **argv);

/* Opens the listeners: sockets passed by systemd (LISTEN_FDS) if any,
 * else the plain list and the implicit-TLS list (either may be NULL or
 * empty). A bind failure is fatal. */
void daemon_listen(struct daemon *d, const char *plain, const char *tls,
		   conn_accept_cb *cb, void *arg);

/* After the listeners: drops privileges when root (see privs_drop), sends
 * READY=1 to systemd, logs "ready". With workers, forks them and returns
 * only in a worker (see above); the master exits from here. */
void daemon_ready(struct daemon *d);

/* Runs the loop. SIGHUP: reloads the config file and TLS credentials
 * (a bad file is logged and the old config kept; live sessions keep their
 * TLS credentials; listen addresses and the run user need a restart)
 * then calls on_reload(d, arg) if set. SIGTERM/SIGINT: stops accepting,
 * calls d->on_stop, closes every connection (flushing output), and
 * returns 0 once the loop is empty (or after a 10 s grace period; a
 * second signal stops at once). */
int daemon_run(struct daemon *d, daemon_hook *on_reload, void *arg);

/* Frees what daemon_init allocated (tests; daemons just exit). */
void daemon_release(struct daemon *d);

/* privs.c: when running as root, switches to cfg->user/cfg->group with
 * their supplementary groups and verifies root cannot be regained; fatal
 * "refusing to run mail sessions as root" when user is empty or is root,
 * fatal when the user/group does not exist. When not root, does nothing
 * (logged at debug). */
void privs_drop(const struct config *cfg);

/* sdnotify.c: sends state ("READY=1", "RELOADING=1", "STOPPING=1") to
 * $NOTIFY_SOCKET (a path or an abstract "@name"). Returns 0, 1 when there
 * is no NOTIFY_SOCKET, -1 on error. */
int sd_notify_state(const char *state);

/* Raises RLIMIT_NOFILE to the hard limit (100k connections need fds). */
void daemon_raise_nofile(void);

#endif
