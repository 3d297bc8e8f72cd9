/* daemon.c - command line, config, logging, TLS, listeners, privileges,
 * signals: what every Tandem daemon does the same way. */
#include "daemon.h"
#include "buf.h"
#include "log.h"
#include "tandem-build.h"
#include "xalloc.h"

#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define STOP_GRACE_MS 10000

static void signals_init(struct daemon *d);

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
	if (conn_tls_load(&d->cfg, &err) < 0)
		fatal("%s", err.data);
	buf_release(&err);
	d->loop = uv_default_loop();
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
