/* daemon.c - command line, config, logging, TLS, listeners, privileges,
 * signals: what every Tandem daemon does the same way. */
#include "clock.h"
#include "daemon.h"
#include "buf.h"
#include "log.h"
#include "shared.h"
#include "tandem-build.h"
#include "xalloc.h"

#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP_GRACE_MS 10000
/* The master: how long after SIGTERM before the workers still running
 * get SIGKILL (they have STOP_GRACE_MS themselves). */
#define MASTER_GRACE_MS (STOP_GRACE_MS + 5000)
/* A worker that dies within this of its start is restarted after
 * RESTART_DELAY_MS (a crash loop must not spin), else at once. */
#define RESTART_QUICK_MS 2000
#define RESTART_DELAY_MS 1000

static void signals_init(struct daemon *d);
static void master_run(struct daemon *d);
static void master_block_signals(void);

static void usage(const char *name, FILE *f)
{
	fprintf(f,
		"usage: %s [-c FILE] [-h] [-V]\n"
		"  -c, --config FILE  configuration file (default %s)\n"
		"  -h, --help         this help\n"
		"  -V, --version      print the version\n",
		name, TANDEM_DEFAULT_CONFIG);
}

void daemon_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn(NULL, "cannot raise RLIMIT_NOFILE: %s",
				 strerror(errno));
	}
}

static void apply_logging(struct daemon *d)
{
	log_init(d->name, (enum log_level)d->cfg.log_level,
		 d->cfg.log_syslog);
}

int daemon_init(struct daemon *d, const char *name, int argc, char **argv)
{
	struct buf err = BUF_INIT;

	memset(d, 0, sizeof(*d));
	d->name = name;
	d->config_path = TANDEM_DEFAULT_CONFIG;
	log_init(name, LOG_LEVEL_INFO, false);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
			if (i + 1 >= argc) {
				usage(name, stderr);
				exit(2);
			}
			d->config_path = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			d->config_path = a + 9;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(name, stdout);
			exit(0);
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("%s %s\n", name, TANDEM_VERSION);
			exit(0);
		} else {
			fprintf(stderr, "%s: unknown argument '%s'\n", name, a);
			usage(name, stderr);
			exit(2);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	daemon_raise_nofile();

	config_init(&d->cfg);
	if (config_load(&d->cfg, d->config_path, &err) < 0)
		fatal("%s", err.data);
	apply_logging(d);
	d->worker = -1;
	d->workers = d->cfg.workers;
	if (d->workers == 0) { /* auto */
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		d->workers = n < 1 ? 1 : n > SHARED_WORKERS_MAX
						 ? SHARED_WORKERS_MAX
						 : (unsigned)n;
	}
	shared_init(d->workers); /* before any listener: see conn.h */
	if (conn_tls_load(&d->cfg, &err) < 0)
		fatal("%s", err.data);
	buf_release(&err);
	d->loop = uv_default_loop();
	/* A master takes its signals with sigtimedwait; blocked from here,
	 * before any listener can accept, a SIGTERM that comes early stays
	 * pending for it instead of reaching a loop the master never runs.
	 * Each worker installs the loop's handlers after fork. */
	if (d->workers > 1)
		master_block_signals();
	else
		signals_init(d);
	return 0;
}

void daemon_listen(struct daemon *d, const char *plain, const char *tls,
		   conn_accept_cb *cb, void *arg)
{
	struct buf err = BUF_INIT;
	int n = conn_listen_systemd(d->loop, cb, arg);

	if (n > 0) {
		log_info(NULL, "using %d socket(s) from systemd", n);
		return;
	}
	if (plain && plain[0] &&
	    conn_listen(d->loop, plain, false, cb, arg, &err) < 0)
		fatal("%s", err.data);
	if (tls && tls[0] && conn_listen(d->loop, tls, true, cb, arg, &err) < 0)
		fatal("%s", err.data);
	buf_release(&err);
}

void daemon_ready(struct daemon *d)
{
	privs_drop(&d->cfg);
	if (d->workers > 1) {
		master_run(d); /* returns in a worker */
		return;
	}
	sd_notify_state("READY=1");
	log_info(NULL, "%s %s ready (config %s)", d->name, TANDEM_VERSION,
		 d->cfg.path);
}

static void reload(struct daemon *d)
{
	struct config cfg;
	struct buf err = BUF_INIT;

	{
		/* systemd >= 253 (Type=notify-reload) wants the time too. */
		char msg[64];
		uint64_t us = uv_hrtime() / 1000;

		snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
			 (unsigned long long)us);
		sd_notify_state(msg);
	}
	config_init(&cfg);
	if (config_load(&cfg, d->config_path, &err) < 0) {
		log_error(NULL, "reload failed, keeping the old config: %s",
			  err.data);
		config_release(&cfg);
		goto out;
	}
	if (conn_tls_load(&cfg, &err) < 0) {
		log_error(NULL, "reload: %s; keeping the old TLS "
			  "credentials", err.data);
		buf_reset(&err);
	}
	/* Listen addresses and the run user need a restart; everything
	 * else takes effect for new sessions. */
	d->old_cfgs = xrealloc(d->old_cfgs,
			       (d->n_old_cfgs + 1) * sizeof(*d->old_cfgs));
	d->old_cfgs[d->n_old_cfgs++] = d->cfg;
	d->cfg = cfg;
	apply_logging(d);
	log_info(NULL, "configuration reloaded from %s", d->config_path);
	if (d->on_reload)
		d->on_reload(d, d->on_reload_arg);
out:
	buf_release(&err);
	sd_notify_state("READY=1");
}

/* ---- the master of a daemon with workers ------------------------------ */

static struct {
	pid_t pid[SHARED_WORKERS_MAX];   /* 0: not running */
	uint64_t started_ms[SHARED_WORKERS_MAX];
	uint64_t restart_ms[SHARED_WORKERS_MAX]; /* when to (re)start */
	sigset_t old_mask;
	pid_t master;
} m;

static void sigchld_noop(int sig)
{
	(void)sig;
}

static void master_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

/* From daemon_init on, the master's signals wait for sigtimedwait. */
static void master_block_signals(void)
{
	sigset_t set;

	master_signal_set(&set);
	/* A handler, so a blocked SIGCHLD stays pending for sigtimedwait. */
	signal(SIGCHLD, sigchld_noop);
	sigprocmask(SIG_BLOCK, &set, &m.old_mask);
}

/* In the child after fork: becomes worker i. */
static void worker_enter(struct daemon *d, unsigned i)
{
	int r;

	/* Die with the master (kill -9 of the daemon ends it all, as with
	 * one process); the check closes the race with a master that died
	 * before the prctl. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != m.master)
		_exit(1);
	signal(SIGCHLD, SIG_DFL);
	if ((r = uv_loop_fork(d->loop)) < 0)
		fatal("worker %u: uv_loop_fork: %s", i, uv_strerror(r));
	/* A SIGTERM the master forwarded before this point is pending and
	 * reaches these handlers once unblocked. */
	signals_init(d);
	sigprocmask(SIG_SETMASK, &m.old_mask, NULL);
	/* Only the master talks to systemd. */
	unsetenv("NOTIFY_SOCKET");
	d->worker = (int)i;
	shared_worker_enter(i);
	if (conn_listen_adopt(d->loop, i) < 0)
		exit(1);
	log_info(NULL, "worker %u ready (pid %d)", i, (int)getpid());
}

/* Forks worker i. Returns true in the new worker. */
static bool spawn(struct daemon *d, unsigned i)
{
	pid_t pid = fork();

	if (pid == 0) {
		worker_enter(d, i);
		return true;
	}
	if (pid < 0) {
		log_error(NULL, "fork of worker %u: %s; retrying", i,
			  strerror(errno));
		m.restart_ms[i] = mono_ms() + RESTART_DELAY_MS;
		return false;
	}
	m.pid[i] = pid;
	m.started_ms[i] = mono_ms();
	m.restart_ms[i] = 0;
	log_debug(NULL, "worker %u started (pid %d)", i, (int)pid);
	return false;
}

static void forward(struct daemon *d, int sig)
{
	for (unsigned i = 0; i < d->workers; i++)
		if (m.pid[i] > 0)
			kill(m.pid[i], sig);
}

/* Reaps exited workers; schedules restarts unless stopping. Returns the
 * number still running. */
static unsigned reap(struct daemon *d, bool stopping)
{
	unsigned running = 0;
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (unsigned i = 0; i < d->workers; i++) {
			if (m.pid[i] != pid)
				continue;
			m.pid[i] = 0;
			shared_worker_reset(i, pid);
			if (stopping)
				break;
			if (WIFSIGNALED(st))
				log_error(NULL, "worker %u (pid %d) killed by "
					  "signal %d; restarting", i, (int)pid,
					  WTERMSIG(st));
			else
				log_error(NULL, "worker %u (pid %d) exited "
					  "with status %d; restarting", i,
					  (int)pid, WEXITSTATUS(st));
			m.restart_ms[i] = mono_ms();
			if (m.restart_ms[i] - m.started_ms[i] < RESTART_QUICK_MS)
				m.restart_ms[i] += RESTART_DELAY_MS;
			break;
		}
	}
	for (unsigned i = 0; i < d->workers; i++)
		running += m.pid[i] > 0;
	return running;
}

/* The master's life: never returns in the master (exits 0 once the
 * workers are gone after SIGTERM/SIGINT); returns in each new worker. */
static void master_run(struct daemon *d)
{
	sigset_t set;
	uint64_t stop_deadline = 0;
	bool stopping = false;

	m.master = getpid();
	master_signal_set(&set);
	for (unsigned i = 0; i < d->workers; i++)
		if (spawn(d, i))
			return;
	sd_notify_state("READY=1");
	log_info(NULL, "%s %s ready (config %s, %u workers)", d->name,
		 TANDEM_VERSION, d->cfg.path, d->workers);
	for (;;) {
		uint64_t now = mono_ms(), next = now + 1000;
		struct timespec ts;
		siginfo_t si;
		int sig;

		for (unsigned i = 0; !stopping && i < d->workers; i++) {
			if (m.pid[i] || !m.restart_ms[i])
				continue;
			if (m.restart_ms[i] <= now) {
				if (spawn(d, i))
					return;
			} else if (m.restart_ms[i] < next) {
				next = m.restart_ms[i];
			}
		}
		if (stopping && now >= stop_deadline) {
			log_warn(NULL, "workers still running after %d s: "
				 "killing them", MASTER_GRACE_MS / 1000);
			forward(d, SIGKILL);
			stop_deadline = UINT64_MAX;
		}
		ts.tv_sec = (time_t)((next - now) / 1000);
		ts.tv_nsec = (long)((next - now) % 1000) * 1000000;
		sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			if (!stopping) {
				stopping = true;
				stop_deadline = mono_ms() + MASTER_GRACE_MS;
				sd_notify_state("STOPPING=1");
				log_info(NULL, "stopping %u workers",
					 d->workers);
				conn_listen_close_all();
			}
			forward(d, sig); /* a second one: at once */
		} else if (sig == SIGHUP) {
			/* The master's copy is what a restarted worker
			 * starts with. */
			reload(d);
			forward(d, SIGHUP);
		}
		if (reap(d, stopping) == 0 && stopping) {
			log_info(NULL, "stopped");
			exit(0);
		}
	}
}

static void stop_timer_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	log_info(NULL, "%u connection(s) still open after %d s, exiting",
		 conn_count(), STOP_GRACE_MS / 1000);
	uv_stop(d->loop);
}

static void stop(struct daemon *d)
{
	if (d->stopping) {
		uv_stop(d->loop); /* second signal: now */
		return;
	}
	d->stopping = true;
	sd_notify_state("STOPPING=1");
	log_info(NULL, "stopping");
	conn_listen_close_all();
	/* Before the connections close, so sessions can say goodbye
	 * ("* BYE shutting down"). */
	if (d->on_stop)
		d->on_stop(d, d->on_stop_arg);
	conn_close_all();
	/* The loop ends by itself once every connection is gone; the signal
	 * handles and the grace timer do not keep it alive. */
	uv_unref((uv_handle_t *)&d->sig_hup);
	uv_unref((uv_handle_t *)&d->sig_term);
	uv_unref((uv_handle_t *)&d->sig_int);
	uv_timer_start(&d->stop_timer, stop_timer_cb, STOP_GRACE_MS, 0);
	uv_unref((uv_handle_t *)&d->stop_timer);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (signum == SIGHUP)
		reload(d);
	else
		stop(d);
}

/* Installed by daemon_init, so a SIGHUP or SIGTERM that arrives between
 * READY=1 and daemon_run is handled, not fatal (the default action). */
static void signals_init(struct daemon *d)
{
	uv_signal_init(d->loop, &d->sig_hup);
	uv_signal_init(d->loop, &d->sig_term);
	uv_signal_init(d->loop, &d->sig_int);
	uv_timer_init(d->loop, &d->stop_timer);
	d->sig_hup.data = d->sig_term.data = d->sig_int.data = d;
	d->stop_timer.data = d;
	uv_signal_start(&d->sig_hup, signal_cb, SIGHUP);
	uv_signal_start(&d->sig_term, signal_cb, SIGTERM);
	uv_signal_start(&d->sig_int, signal_cb, SIGINT);
}

int daemon_run(struct daemon *d, daemon_hook *on_reload, void *arg)
{
	d->on_reload = on_reload;
	d->on_reload_arg = arg;
	uv_run(d->loop, UV_RUN_DEFAULT);
	log_info(NULL, "stopped");
	return 0;
}

void daemon_release(struct daemon *d)
{
	for (unsigned i = 0; i < d->n_old_cfgs; i++)
		config_release(&d->old_cfgs[i]);
	free(d->old_cfgs);
	d->old_cfgs = NULL;
	d->n_old_cfgs = 0;
	config_release(&d->cfg);
}
