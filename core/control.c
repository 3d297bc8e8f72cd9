/* control.c - the session registry, the counters, the control socket and
 * the metrics endpoint. See control.h. */
#include "control.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "shared.h"
#include "xalloc.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CLIENT_IN_MAX 8192       /* request bytes kept (HTTP head) */
#define CLIENT_TIMEOUT_MS 10000  /* a client that says nothing goes */
#define CLIENT_LINGER_MS 2000    /* after the answer, until its EOF */

static struct control_counts counts_local; /* until core/shared.c */
struct control_counts *control_counts_p = &counts_local;

static struct {
	struct control_session *head;
	unsigned count;
	uint64_t started_ns; /* uv_hrtime() at control_start */
	const char *daemon;
	int pid;
	uv_pipe_t ctl;
	uv_tcp_t metrics;
	bool ctl_open, metrics_open;
	char *path;          /* the socket we created, for unlink */
	dev_t dev;
	ino_t ino;
} g;

/* ---- registry ----------------------------------------------------------- */

void control_session_add(struct control_session *cs, const char *proto,
			 struct conn *c, void *arg, control_kick_fn *kick,
			 control_mailbox_fn *mailbox)
{
	memset(cs, 0, sizeof(*cs));
	cs->proto = proto;
	cs->conn = c;
	cs->arg = arg;
	cs->kick = kick;
	cs->mailbox = mailbox;
	cs->since = (int64_t)time(NULL);
	cs->next = g.head;
	if (g.head)
		g.head->prev = cs;
	g.head = cs;
	g.count++;
	shared_sessions_set(g.count);
	control_counters.connections_total++;
}

void control_session_login(struct control_session *cs, const char *user)
{
	cs->user = user;
	control_counters.logins++;
}

bool control_user_take(struct control_session *cs, const char *user,
		       unsigned max)
{
	uint64_t h = shared_hash(user);

	assert(!cs->user_counted);
	if (shared_count_add_hash(SHARED_USER, h, 1) > max) {
		shared_count_add_hash(SHARED_USER, h, -1);
		return false;
	}
	cs->user_hash = h;
	cs->user_counted = true;
	return true;
}

void control_user_release(struct control_session *cs)
{
	if (!cs->user_counted)
		return;
	shared_count_add_hash(SHARED_USER, cs->user_hash, -1);
	cs->user_counted = false;
}

void control_session_remove(struct control_session *cs)
{
	control_user_release(cs);
	if (cs->conn == NULL)
		return; /* never added, or removed already */
	if (cs->prev)
		cs->prev->next = cs->next;
	else
		g.head = cs->next;
	if (cs->next)
		cs->next->prev = cs->prev;
	cs->prev = cs->next = NULL;
	cs->conn = NULL;
	g.count--;
	shared_sessions_set(g.count);
}

unsigned control_session_count(void)
{
	return g.count;
}

/* ---- the line protocol -------------------------------------------------- */

enum control_verb control_parse(const char *line, size_t len,
				struct control_request *req)
{
	static const struct {
		const char *name;
		enum control_verb verb;
		int arg; /* 0 none, 1 optional, 2 required */
	} verbs[] = {
		{"WHO", CONTROL_WHO, 1},
		{"KICK", CONTROL_KICK, 2},
		{"STATS", CONTROL_STATS, 0},
	};
	const char *sp, *end;
	size_t vlen;

	memset(req, 0, sizeof(*req));
	req->verb = CONTROL_BAD;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	end = line + len;
	if (len >= CONTROL_LINE_MAX) {
		req->why = "line too long";
		return CONTROL_BAD;
	}
	for (const char *p = line; p < end; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			req->why = "control character in request";
			return CONTROL_BAD;
		}
	sp = memchr(line, ' ', len);
	vlen = sp ? (size_t)(sp - line) : len;
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		const char *arg = sp ? sp + 1 : end;
		size_t alen = (size_t)(end - arg);

		if (strlen(verbs[i].name) != vlen ||
		    strncasecmp(verbs[i].name, line, vlen) != 0)
			continue;
		if (sp && (alen == 0 || memchr(arg, ' ', alen))) {
			req->why = "expected one argument";
			return CONTROL_BAD;
		}
		if (verbs[i].arg == 0 && sp) {
			req->why = "no argument expected";
			return CONTROL_BAD;
		}
		if (verbs[i].arg == 2 && !sp) {
			req->why = "missing argument";
			return CONTROL_BAD;
		}
		memcpy(req->arg, arg, alen);
		req->arg[alen] = '\0';
		req->verb = verbs[i].verb;
		return req->verb;
	}
	req->why = "unknown command";
	return CONTROL_BAD;
}

/* A field of a WHO line: "-" when empty, tabs and controls as '?'. */
static void put_field(struct buf *out, const char *s)
{
	if (s == NULL || *s == '\0') {
		buf_append_c(out, '-');
		return;
	}
	for (; *s; s++)
		buf_append_c(out, (unsigned char)*s < 0x20 || *s == 0x7f
					  ? '?' : *s);
}

static uint64_t uptime_seconds(void)
{
	if (g.started_ns == 0)
		return 0;
	return (uv_hrtime() - g.started_ns) / 1000000000u;
}

/* The counters as (name, value) pairs, in the STATS order. */
struct stat_row {
	const char *name;
	uint64_t value;
};
static size_t stat_rows(struct stat_row *r)
{
	struct control_counts tot, *k = &tot;
	uint64_t sessions;
	size_t n = 0;

	shared_counts_total(&tot, &sessions);
	r[n++] = (struct stat_row){"connections", sessions};
	r[n++] = (struct stat_row){"connections_total", k->connections_total};
	r[n++] = (struct stat_row){"logins", k->logins};
	r[n++] = (struct stat_row){"auth_failures", k->auth_failures};
	r[n++] = (struct stat_row){"commands", k->commands};
	r[n++] = (struct stat_row){"deliveries_ok", k->deliveries_ok};
	r[n++] = (struct stat_row){"deliveries_failed", k->deliveries_failed};
	r[n++] = (struct stat_row){"bytes_in", k->bytes_in};
	r[n++] = (struct stat_row){"bytes_out", k->bytes_out};
	r[n++] = (struct stat_row){"uptime", uptime_seconds()};
	r[n++] = (struct stat_row){"workers", shared_workers()};
	return n;
}

void control_answer(const struct control_request *req, const char *daemon,
		    struct buf *out)
{
	const char *user = req->arg[0] ? req->arg : NULL;
	struct control_session *cs, *next;
	unsigned n = 0;

	switch (req->verb) {
	case CONTROL_WHO:
		for (cs = g.head; cs; cs = cs->next) {
			const struct conn_info *ci = conn_info(cs->conn);
			const char *mb = cs->mailbox ? cs->mailbox(cs->arg)
						     : NULL;

			if (cs->kicked || (user && (!cs->user ||
						    strcmp(cs->user, user))))
				continue;
			buf_append_str(out, "S\t");
			put_field(out, cs->proto);
			buf_append_c(out, '\t');
			put_field(out, cs->user);
			buf_append_c(out, '\t');
			put_field(out, ci->rip);
			buf_printf(out, "\t%d\t%lld\t%s\t", ci->rport,
				   (long long)cs->since, ci->tls ? "yes" : "no");
			put_field(out, mb);
			buf_printf(out, "\t%d\n", g.pid ? g.pid : (int)getpid());
			n++;
		}
		buf_printf(out, "OK %u\n", n);
		return;
	case CONTROL_KICK:
		/* kick() only queues a close: the session stays registered
		 * until its CONN_CLOSED, so the list does not change under
		 * us; next is kept anyway. */
		for (cs = g.head; cs; cs = next) {
			next = cs->next;
			if (cs->kicked || !cs->kick || !cs->user ||
			    strcmp(cs->user, req->arg))
				continue;
			cs->kicked = true;
			cs->kick(cs->arg);
			n++;
		}
		if (n)
			log_info(NULL, "kicked %u session(s) of %s", n,
				 req->arg);
		buf_printf(out, "OK %u\n", n);
		return;
	case CONTROL_STATS: {
		struct stat_row rows[16];
		size_t nr = stat_rows(rows);

		buf_printf(out, "daemon %s\n", daemon);
		for (size_t i = 0; i < nr; i++)
			buf_printf(out, "%s %llu\n", rows[i].name,
				   (unsigned long long)rows[i].value);
		buf_append_str(out, "OK\n");
		return;
	}
	case CONTROL_BAD:
		break;
	}
	buf_printf(out, "ERR %s\n", req->why ? req->why : "bad request");
}

/* ---- metrics -------------------------------------------------------------- */

enum control_http control_http_parse(const char *p, size_t len,
				     bool *head_only_r)
{
	const char *nl = memchr(p, '\n', len);
	const char *sp1, *sp2, *le, *path, *q;
	size_t llen, mlen, plen;

	*head_only_r = false;
	if (!nl)
		return CONTROL_HTTP_MORE;
	/* RFC 9112 3: request-line = method SP request-target SP
	 * HTTP-version CRLF */
	llen = (size_t)(nl - p);
	le = p + llen;
	if (llen > 0 && le[-1] == '\r')
		le--;
	sp1 = memchr(p, ' ', (size_t)(le - p));
	if (!sp1 || sp1 == p)
		return CONTROL_HTTP_BAD;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(le - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		return CONTROL_HTTP_BAD;
	if ((size_t)(le - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) ||
	    sp2[8] < '0' || sp2[8] > '9')
		return CONTROL_HTTP_BAD;
	for (q = p; q < le; q++)
		if ((unsigned char)*q <= 0x20 && *q != ' ')
			return CONTROL_HTTP_BAD;
	/* RFC 9112 2.2: the head ends with an empty line. */
	for (q = nl + 1; q < p + len; q++) {
		if (*q == '\n' && (q[-1] == '\n' ||
				   (q[-1] == '\r' && q - 2 >= nl && q[-2] == '\n')))
			break;
	}
	if (q >= p + len)
		return CONTROL_HTTP_MORE;
	mlen = (size_t)(sp1 - p);
	path = sp1 + 1;
	plen = (size_t)(sp2 - path);
	if (mlen == 4 && memcmp(p, "HEAD", 4) == 0)
		*head_only_r = true;
	else if (mlen != 3 || memcmp(p, "GET", 3) != 0)
		return CONTROL_HTTP_NOTFOUND;
	if ((plen == 8 && memcmp(path, "/metrics", 8) == 0) ||
	    (plen > 8 && memcmp(path, "/metrics?", 9) == 0))
		return CONTROL_HTTP_METRICS;
	return CONTROL_HTTP_NOTFOUND;
}

static void metric(struct buf *out, const char *name, const char *type,
		   const char *help, const char *daemon, const char *labels,
		   uint64_t v)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
		   type);
	buf_printf(out, "%s{daemon=\"%s\"%s} %llu\n", name, daemon,
		   labels ? labels : "", (unsigned long long)v);
}

void control_metrics(const char *daemon, struct buf *out)
{
	struct control_counts tot, *k = &tot;
	uint64_t sessions;

	shared_counts_total(&tot, &sessions);
	metric(out, "tandem_connections", "gauge",
	       "Client connections open now.", daemon, NULL, sessions);
	metric(out, "tandem_connections_accepted_total", "counter",
	       "Client connections accepted since start.", daemon, NULL,
	       k->connections_total);
	metric(out, "tandem_logins_total", "counter",
	       "Successful logins.", daemon, NULL, k->logins);
	metric(out, "tandem_auth_failures_total", "counter",
	       "Refused credentials.", daemon, NULL, k->auth_failures);
	metric(out, "tandem_commands_total", "counter",
	       "Protocol commands received.", daemon, NULL, k->commands);
	metric(out, "tandem_deliveries_total", "counter",
	       "LMTP recipients by outcome after the message data.", daemon,
	       ",result=\"ok\"", k->deliveries_ok);
	buf_printf(out, "tandem_deliveries_total{daemon=\"%s\",result="
			"\"failed\"} %llu\n",
		   daemon, (unsigned long long)k->deliveries_failed);
	metric(out, "tandem_received_bytes_total", "counter",
	       "Bytes read from clients (on the wire).", daemon, NULL,
	       k->bytes_in);
	metric(out, "tandem_sent_bytes_total", "counter",
	       "Bytes written to clients (on the wire).", daemon, NULL,
	       k->bytes_out);
	metric(out, "tandem_uptime_seconds", "gauge",
	       "Seconds since the daemon started.", daemon, NULL,
	       uptime_seconds());
	metric(out, "tandem_workers", "gauge",
	       "Worker processes of the daemon.", daemon, NULL,
	       shared_workers());
}

/* ---- clients of the control socket and of the metrics listener ---------- */

struct client {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_pipe_t pipe;
		uv_tcp_t tcp;
	} h;
	uv_timer_t timer;
	uv_write_t wr;
	uv_shutdown_t sh;
	bool http;
	bool answered, shut, eof;
	int open_handles;
	size_t len;
	struct buf out;
	char in[CLIENT_IN_MAX];
};

static void client_close_cb(uv_handle_t *h)
{
	struct client *c = h->data;

	if (--c->open_handles == 0) {
		buf_release(&c->out);
		free(c);
	}
}

static void client_close(struct client *c)
{
	if (uv_is_closing(&c->h.handle))
		return;
	uv_close(&c->h.handle, client_close_cb);
	uv_close((uv_handle_t *)&c->timer, client_close_cb);
}

static void client_timer_cb(uv_timer_t *t)
{
	client_close(t->data);
}

static void client_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct client *c = req->data;

	(void)status;
	c->shut = true;
	if (c->eof || status < 0)
		client_close(c);
}

static void client_write_cb(uv_write_t *req, int status)
{
	struct client *c = req->data;

	if (status < 0 || uv_is_closing(&c->h.handle)) {
		client_close(c);
		return;
	}
	c->sh.data = c;
	if (uv_shutdown(&c->sh, &c->h.stream, client_shutdown_cb) < 0)
		client_close(c);
}

/* Sends c->out, then half-closes; the rest of the input is discarded
 * until the peer's EOF (or the linger timer). */
static void client_send(struct client *c)
{
	uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);

	c->answered = true;
	uv_timer_start(&c->timer, client_timer_cb, CLIENT_LINGER_MS, 0);
	c->wr.data = c;
	if (uv_write(&c->wr, &c->h.stream, &b, 1, client_write_cb) < 0)
		client_close(c);
}

static void http_answer(struct client *c, const char *status,
			const struct buf *body, bool head_only)
{
	buf_printf(&c->out,
		   "HTTP/1.0 %s\r\n"
		   "Content-Type: %s\r\n"
		   "Content-Length: %zu\r\n"
		   "Connection: close\r\n\r\n",
		   status,
		   body ? "text/plain; version=0.0.4; charset=utf-8"
			: "text/plain; charset=utf-8",
		   body ? body->len : strlen(status) + 1);
	if (!head_only && body)
		buf_append(&c->out, body->data, body->len);
	else if (!head_only)
		buf_printf(&c->out, "%s\n", status);
	client_send(c);
}

/* Looks at what arrived; answers when the request is complete, or bad. */
static void client_input(struct client *c)
{
	if (c->http) {
		bool head_only;
		enum control_http r = control_http_parse(c->in, c->len,
							 &head_only);
		struct buf body = BUF_INIT;

		switch (r) {
		case CONTROL_HTTP_MORE:
			if (c->len == sizeof(c->in))
				http_answer(c, "431 Request Header Fields "
					       "Too Large", NULL, false);
			return;
		case CONTROL_HTTP_BAD:
			http_answer(c, "400 Bad Request", NULL, false);
			return;
		case CONTROL_HTTP_NOTFOUND:
			http_answer(c, "404 Not Found", NULL, head_only);
			return;
		case CONTROL_HTTP_METRICS:
			control_metrics(g.daemon, &body);
			http_answer(c, "200 OK", &body, head_only);
			buf_release(&body);
			return;
		}
		return;
	}

	const char *nl = memchr(c->in, '\n', c->len);
	struct control_request req;

	if (!nl) {
		if (c->len < CONTROL_LINE_MAX)
			return;
		buf_append_str(&c->out, "ERR line too long\n");
		client_send(c);
		return;
	}
	control_parse(c->in, (size_t)(nl - c->in), &req);
	control_answer(&req, g.daemon, &c->out);
	client_send(c);
}

static void client_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct client *c = h->data;

	(void)hint;
	if (c->answered || c->len == sizeof(c->in)) {
		/* discarding: reuse the whole buffer */
		*b = uv_buf_init(c->in, sizeof(c->in));
		return;
	}
	*b = uv_buf_init(c->in + c->len, (unsigned)(sizeof(c->in) - c->len));
}

static void client_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct client *c = s->data;

	(void)b;
	if (n < 0) {
		uv_read_stop(s);
		c->eof = true;
		if (!c->answered || c->shut)
			client_close(c);
		return;
	}
	if (n == 0 || c->answered)
		return;
	c->len += (size_t)n;
	client_input(c);
}

static void on_connection(uv_stream_t *srv, int status, bool http)
{
	struct client *c;
	int r;

	if (status < 0)
		return;
	c = xcalloc(1, sizeof(*c));
	c->http = http;
	if (http)
		r = uv_tcp_init(srv->loop, &c->h.tcp);
	else
		r = uv_pipe_init(srv->loop, &c->h.pipe, 0);
	if (r < 0) {
		free(c);
		return;
	}
	c->h.handle.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	uv_timer_init(srv->loop, &c->timer);
	uv_unref(&c->h.handle);
	uv_unref((uv_handle_t *)&c->timer);
	if (uv_accept(srv, &c->h.stream) < 0) {
		client_close(c);
		return;
	}
	uv_timer_start(&c->timer, client_timer_cb, CLIENT_TIMEOUT_MS, 0);
	if (uv_read_start(&c->h.stream, client_alloc_cb, client_read_cb) < 0)
		client_close(c);
}

static void ctl_connection_cb(uv_stream_t *srv, int status)
{
	on_connection(srv, status, false);
}

static void metrics_connection_cb(uv_stream_t *srv, int status)
{
	on_connection(srv, status, true);
}

/* ---- start and stop -------------------------------------------------------- */

char *control_dir(const struct config *cfg)
{
	struct buf b = BUF_INIT;

	if (cfg->control_dir && cfg->control_dir[0])
		return xstrdup(cfg->control_dir);
	buf_printf(&b, "%s/control", cfg->data_dir);
	return b.data;
}

/* True when a process answers on the socket at path. */
static bool socket_alive(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return alive;
}

static void unlink_ours(void)
{
	struct stat st;

	if (g.path && stat(g.path, &st) == 0 && st.st_dev == g.dev &&
	    st.st_ino == g.ino)
		unlink(g.path);
	free(g.path);
	g.path = NULL;
}

static void start_socket(uv_loop_t *loop, const struct config *cfg,
			 const char *daemon)
{
	char *dir = control_dir(cfg);
	struct buf path = BUF_INIT;
	struct stat st;
	int r;

	/* Worker 0 (or the only process) has the daemon's name, so tools
	 * that know one socket per daemon still find one. */
	if (shared_worker_index() > 0)
		buf_printf(&path, "%s/%s.w%u.sock", dir, daemon,
			   shared_worker_index());
	else
		buf_printf(&path, "%s/%s.sock", dir, daemon);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		log_error(NULL, "control socket: mkdir %s: %s", dir,
			  strerror(errno));
		goto out;
	}
	if (path.len >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_error(NULL, "control socket: path too long: %s", path.data);
		goto out;
	}
	if (socket_alive(path.data)) {
		log_error(NULL, "control socket %s is in use by another "
				"process; tandemctl will not see this one",
			  path.data);
		goto out;
	}
	unlink(path.data);
	uv_pipe_init(loop, &g.ctl, 0);
	g.ctl_open = true;
	if ((r = uv_pipe_bind(&g.ctl, path.data)) < 0 ||
	    (r = uv_listen((uv_stream_t *)&g.ctl, 16, ctl_connection_cb)) < 0) {
		log_error(NULL, "control socket %s: %s", path.data,
			  uv_strerror(r));
		uv_close((uv_handle_t *)&g.ctl, NULL);
		goto out;
	}
	uv_unref((uv_handle_t *)&g.ctl);
	/* Owner and the service group (tandemctl run by an admin in it). */
	if (chmod(path.data, 0660) < 0)
		log_warn(NULL, "control socket: chmod %s: %s", path.data,
			 strerror(errno));
	if (stat(path.data, &st) == 0) {
		g.dev = st.st_dev;
		g.ino = st.st_ino;
		g.path = xstrdup(path.data);
		atexit(unlink_ours);
	}
	log_info(NULL, "control socket %s", path.data);
out:
	buf_release(&path);
	free(dir);
}

static void start_metrics(uv_loop_t *loop, const char *listen,
			  unsigned port_offset)
{
	struct listen_item it;
	struct buf err = BUF_INIT;
	struct sockaddr_storage ss;
	int r, n, port, len = (int)sizeof(ss);
	char host[64] = "?";

	n = config_parse_listen(listen, &it, 1, &err);
	if (n != 1 || it.path[0]) {
		log_error(NULL, "metrics_listen '%s': %s", listen,
			  n < 0 ? err.data : "want one host:port");
		buf_release(&err);
		return;
	}
	port = it.port ? it.port + (int)port_offset : 0;
	if (port > 65535 ||
	    (uv_ip4_addr(it.host, port, (struct sockaddr_in *)&ss) < 0 &&
	     uv_ip6_addr(it.host, port, (struct sockaddr_in6 *)&ss) < 0)) {
		log_error(NULL, "metrics_listen '%s': bad address", listen);
		return;
	}
	uv_tcp_init(loop, &g.metrics);
	g.metrics_open = true;
	if ((r = uv_tcp_bind(&g.metrics, (struct sockaddr *)&ss, 0)) < 0 ||
	    (r = uv_listen((uv_stream_t *)&g.metrics, 16,
			   metrics_connection_cb)) < 0) {
		log_error(NULL, "metrics listener %s port %d: %s", it.host,
			  port, uv_strerror(r));
		uv_close((uv_handle_t *)&g.metrics, NULL);
		return;
	}
	uv_unref((uv_handle_t *)&g.metrics);
	if (uv_tcp_getsockname(&g.metrics, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			uv_ip6_name(s6, host, sizeof(host));
			port = ntohs(s6->sin6_port);
			log_info(NULL, "metrics on http://[%s]:%d/metrics",
				 host, port);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			uv_ip4_name(s4, host, sizeof(host));
			port = ntohs(s4->sin_port);
			log_info(NULL, "metrics on http://%s:%d/metrics",
				 host, port);
		}
	}
}

void control_start(struct daemon *d, const char *daemon,
		   unsigned port_offset)
{
	g.daemon = daemon;
	g.pid = (int)getpid();
	g.started_ns = shared_started_ns() ? shared_started_ns() : uv_hrtime();
	start_socket(d->loop, &d->cfg, daemon);
	/* One metrics listener per daemon (the numbers are its totals):
	 * worker 0's. */
	if (shared_worker_index() == 0 && d->cfg.metrics_listen &&
	    d->cfg.metrics_listen[0])
		start_metrics(d->loop, d->cfg.metrics_listen, port_offset);
}

void control_stop(void)
{
	if (g.ctl_open && !uv_is_closing((uv_handle_t *)&g.ctl))
		uv_close((uv_handle_t *)&g.ctl, NULL);
	if (g.metrics_open && !uv_is_closing((uv_handle_t *)&g.metrics))
		uv_close((uv_handle_t *)&g.metrics, NULL);
	unlink_ours();
}
