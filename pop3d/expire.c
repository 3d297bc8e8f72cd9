/* expire.c - RFC 2449 6.7 EXPIRE, enforced: a retention job that removes
 * INBOX mail older than [pop3] expire_days (only mail already retrieved
 * over POP3 when expire_retrieved_only), run at start, hourly, and for a
 * user at each POP3 login. IMAP sees the removals as expunges. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "config.h"
#include "pop3d.h"
#include "work.h"
#include "xalloc.h"

#define EXPIRE_INTERVAL_MS (3600u * 1000u)

int pop3_expire_mailbox(const struct config *cfg, struct store *st,
			int64_t mailbox_id, int64_t now, uint32_t *count_r,
			struct store_err *err)
{
	int64_t cutoff;

	*count_r = 0;
	if (cfg->pop3_expire_days <= 0)
		return 0;
	cutoff = now - (int64_t)cfg->pop3_expire_days * 86400;
	return store_expire(st, mailbox_id, cutoff,
			    cfg->pop3_expire_retrieved_only, count_r, err);
}

/* One pass over every user, one worker job at a time. */
static struct {
	struct pop3_server *srv;
	uv_timer_t timer;
	bool started;
	bool running;
	char **users;
	size_t n, next;
	struct store *st;
	int64_t mailbox_id;
	int64_t now;
	uint32_t count;
	int rc;
	struct store_err err;
} g_exp;

static void pass_next(void);

static void expire_fn(void *arg)
{
	(void)arg;
	g_exp.rc = pop3_expire_mailbox(g_exp.srv->cfg, g_exp.st,
				       g_exp.mailbox_id, g_exp.now,
				       &g_exp.count, &g_exp.err);
}

static void expire_done(void *arg)
{
	(void)arg;
	if (g_exp.rc < 0)
		log_warn(NULL, "pop3 expire user=%s: %s", store_user(g_exp.st),
			 g_exp.err.msg);
	else if (g_exp.count)
		log_info(NULL, "pop3 expire user=%s: %u messages removed",
			 store_user(g_exp.st), g_exp.count);
	store_unref(&g_exp.st);
	pass_next();
}

static void pass_end(void)
{
	for (size_t i = 0; i < g_exp.n; i++)
		free(g_exp.users[i]);
	free(g_exp.users);
	g_exp.users = NULL;
	g_exp.n = g_exp.next = 0;
	g_exp.running = false;
}

static void pass_next(void)
{
	while (g_exp.next < g_exp.n) {
		const char *user = g_exp.users[g_exp.next++];
		struct store_err err = {0};
		struct store_mailbox mb;

		if (store_open(user, false, &g_exp.st, &err) < 0)
			continue; /* no mail yet */
		if (store_mailbox_get(g_exp.st, "INBOX", &mb, &err) < 0) {
			store_unref(&g_exp.st);
			continue;
		}
		g_exp.mailbox_id = mb.id;
		g_exp.now = (int64_t)time(NULL);
		g_exp.count = 0;
		work_submit(g_exp.srv->loop, expire_fn, expire_done, NULL);
		return;
	}
	pass_end();
}

static void timer_cb(uv_timer_t *t)
{
	struct buf list = BUF_INIT, err = BUF_INIT;
	size_t cap = 16;
	char *p, *nl;

	(void)t;
	if (g_exp.running || g_exp.srv->cfg->pop3_expire_days <= 0)
		return;
	if (userdb_list(g_exp.srv->userdb, &list, &err) < 0) {
		log_warn(NULL, "pop3 expire: listing users: %s",
			 err.data ? err.data : "?");
		buf_release(&list);
		buf_release(&err);
		return;
	}
	g_exp.users = xcalloc(cap, sizeof(char *));
	for (p = list.data; p && *p; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (!*p)
			continue;
		if (g_exp.n == cap) {
			cap *= 2;
			g_exp.users = xrealloc(g_exp.users, cap * sizeof(char *));
		}
		g_exp.users[g_exp.n++] = xstrdup(p);
		if (!nl)
			break;
	}
	buf_release(&list);
	buf_release(&err);
	g_exp.running = true;
	g_exp.next = 0;
	pass_next();
}

void pop3_expire_start(struct pop3_server *srv)
{
	g_exp.srv = srv;
	if (srv->cfg->pop3_expire_days <= 0 || g_exp.started)
		return;
	g_exp.started = true;
	uv_timer_init(srv->loop, &g_exp.timer);
	uv_timer_start(&g_exp.timer, timer_cb, 0, EXPIRE_INTERVAL_MS);
	uv_unref((uv_handle_t *)&g_exp.timer);
}

void pop3_expire_stop(void)
{
	if (g_exp.started) {
		uv_timer_stop(&g_exp.timer);
		uv_close((uv_handle_t *)&g_exp.timer, NULL);
		g_exp.started = false;
	}
}
