/* loadgen.c - the load generator of bench/run (issue 7).
 *
 * One process, one libuv loop, N simulated clients, each a small state
 * machine over a TCP connection (optionally GnuTLS, implicit TLS). It
 * speaks just enough IMAP (RFC 9051), POP3 (RFC 1939) and LMTP (RFC 2033)
 * to drive a server and time each command, and prints one JSON object:
 * per-operation counts, bytes, errors and latency percentiles, the wall
 * time and its own CPU time (so a run can show the generator was not the
 * bottleneck).
 *
 * Modes:
 *   imap   repeated sessions of a mixed workload (--ops chooses the steps)
 *   login  connect, LOGIN, LOGOUT (logins per second)
 *   pop3   USER/PASS, STAT, UIDL, RETR all, DELE some, QUIT
 *   lmtp   deliveries of 1 KB - 1 MB messages over kept connections
 *   idle   N sessions LOGIN/SELECT/IDLE; prints "READY n" and waits for a
 *          line on stdin, then delivers one message over LMTP and times
 *          the "* n EXISTS" that reaches each session; exits on stdin EOF.
 *          Several processes can share one run (each holds at most
 *          RLIMIT_NOFILE sessions): --src-first gives each its own source
 *          addresses, --no-deliver makes all but one only listen (their
 *          EXISTS times count from their "GO"; the harness shifts them by
 *          the difference of t_delivery_ns), --exists-dump prints every
 *          EXISTS latency so the harness can merge exact percentiles.
 *
 * Every loop is bounded: a run stops at --duration, --count or
 * --per-client, each command has a deadline (--step-timeout), a run has a
 * hard --timeout, and more than --max-errors errors end it. Only 127.0.0.0/8 is accepted as a
 * target.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_INBUF (64u << 20) /* a line or unread input larger is an error */

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "loadgen: out of memory\n");
		abort();
	}
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "loadgen: out of memory\n");
		abort();
	}
	return p;
}

/* ---- a byte buffer with a read offset ---------------------------------- */

struct rb {
	char *data;
	size_t off, len, cap; /* unread bytes are data[off..len) */
};

static void rb_add(struct rb *b, const void *p, size_t n)
{
	if (!n)
		return;
	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + n > b->cap) {
		if (b->off) {
			memmove(b->data, b->data + b->off, b->len - b->off);
			b->len -= b->off;
			b->off = 0;
		}
		if (b->len + n > b->cap) {
			size_t cap = b->cap ? b->cap : 1024;
			while (cap < b->len + n)
				cap *= 2;
			b->data = xrealloc(b->data, cap);
			b->cap = cap;
		}
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static size_t rb_avail(const struct rb *b) { return b->len - b->off; }
static char *rb_ptr(const struct rb *b) { return b->data + b->off; }

static void rb_consume(struct rb *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

static void rb_free(struct rb *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---- operations and latency records ------------------------------------ */

enum op {
	OP_CONNECT, OP_LOGIN, OP_SELECT, OP_LIST, OP_FETCH_HDR, OP_FETCH_BODY,
	OP_STORE, OP_SEARCH, OP_APPEND, OP_COPY, OP_MOVE, OP_EXPUNGE, OP_IDLE,
	OP_LOGOUT, OP_STAT, OP_UIDL, OP_RETR, OP_DELE, OP_QUIT, OP_DELIVER,
	OP_SESSION, OP_EXISTS, OP_MAX
};
static const char *const op_names[OP_MAX] = {
	"CONNECT", "LOGIN", "SELECT", "LIST", "FETCH_HDR", "FETCH_BODY",
	"STORE", "SEARCH", "APPEND", "COPY", "MOVE", "EXPUNGE", "IDLE",
	"LOGOUT", "STAT", "UIDL", "RETR", "DELE", "QUIT", "DELIVER",
	"SESSION", "EXISTS",
};

struct lat {
	uint32_t *us; /* latencies in microseconds */
	size_t n, cap;
	uint64_t bytes, errors;
};
static struct lat lats[OP_MAX];

static void lat_add(enum op op, uint64_t ns)
{
	struct lat *l = &lats[op];
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->us = xrealloc(l->us, l->cap * sizeof(*l->us));
	}
	uint64_t us = ns / 1000;
	l->us[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile in milliseconds of a sorted array. */
static double pct(const uint32_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)n);
	if (i >= n)
		i = n - 1;
	return v[i] / 1000.0;
}

/* ---- options ------------------------------------------------------------ */

enum mode { M_IMAP, M_LOGIN, M_POP3, M_LMTP, M_IDLE };
enum proto { P_IMAP, P_POP3, P_LMTP };

static struct {
	enum mode mode;
	char host[64];
	int port, lmtp_port;
	bool tls;
	int clients;
	double duration;   /* seconds; 0 = use count */
	long count;        /* sessions (deliveries for lmtp); 0 = use duration */
	long per_client;   /* sessions per client (imap, login, pop3); 0 = no
			    * limit: every client does the same work */
	double timeout;    /* hard limit, seconds */
	double step_timeout;
	long max_errors;
	char user_fmt[64], pass[128], rcpt_fmt[64];
	int users;
	int src_count;     /* bind sources 127.0.0.2 .. 127.0.0.(1+src_count) */
	int src_first;     /* ... shifted by this many addresses */
	bool no_deliver;   /* idle: GO only starts the clock */
	bool exists_dump;  /* idle: print every EXISTS latency */
	int ramp;          /* idle: sessions being set up at once */
	long min_avail_mb; /* idle: stop opening sessions below this */
	long max_tasks;    /* idle: stop when the system has this many tasks */
	double exists_wait;
	int pop_dele;
	long min_size, max_size; /* lmtp message sizes */
	unsigned ops;      /* imap: bit per enum op in the mix */
	unsigned long seed;
} opt = {
	.mode = M_IMAP, .host = "127.0.0.1", .clients = 1, .duration = 0,
	.count = 0, .timeout = 0, .step_timeout = 60, .max_errors = 1000,
	.user_fmt = "user%d", .pass = "secret", .rcpt_fmt = "",
	.users = 1, .src_count = 0, .ramp = 64, .min_avail_mb = 3072,
	.max_tasks = 24000, .exists_wait = 40, .pop_dele = 2,
	.min_size = 1024, .max_size = 1024 * 1024, .ops = 0, .seed = 1,
};

static enum proto proto_of(enum mode m)
{
	return m == M_POP3 ? P_POP3 : m == M_LMTP ? P_LMTP : P_IMAP;
}

/* Expands "%d" (at most once) in fmt with n. */
static void expand(char *out, size_t outsz, const char *fmt, int n)
{
	const char *p = strstr(fmt, "%d");
	if (!p) {
		snprintf(out, outsz, "%s", fmt);
		return;
	}
	snprintf(out, outsz, "%.*s%d%s", (int)(p - fmt), fmt, n, p + 2);
}

/* ---- random numbers and generated mail --------------------------------- */

static uint64_t rnd_next(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 2685821657736338717ull;
}

static const char *const words[] = {
	"meeting", "report", "budget", "project", "review", "lunch", "update",
	"the", "and", "of", "to", "in", "for", "with", "on", "schedule",
	"release", "server", "mail", "quarter", "invoice", "draft", "notes",
	"tomorrow", "please", "thanks", "regards", "team", "customer", "plan",
};
static const char *const senders[] = {
	"alice@example.org", "bob@example.com", "carol@example.net",
	"dave@example.org", "erin@example.com", "frank@example.net",
};

/* Appends a plain-text message of about size bytes: CRLF lines of at most
 * 78 characters, none starting with '.', so no dot-stuffing is needed. */
static void gen_message(struct rb *b, long size, uint64_t *seed,
			const char *to, unsigned long msgid)
{
	char line[1024];
	int n;
	size_t start = b->len;
	n = snprintf(line, sizeof(line),
		     "Return-Path: <%s>\r\nFrom: %s\r\nTo: %s@example.org\r\n"
		     "Subject: %s %s %s\r\n"
		     "Date: Wed, 25 Nov 2026 12:00:00 +0000\r\n"
		     "Message-ID: <%lu.%" PRIu64 "@loadgen.example>\r\n"
		     "MIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
		     senders[rnd_next(seed) % ARRAY_SIZE(senders)],
		     senders[rnd_next(seed) % ARRAY_SIZE(senders)], to,
		     words[rnd_next(seed) % ARRAY_SIZE(words)],
		     words[rnd_next(seed) % ARRAY_SIZE(words)],
		     words[rnd_next(seed) % ARRAY_SIZE(words)], msgid,
		     rnd_next(seed) % 1000000);
	if (n < 0 || (size_t)n >= sizeof(line))
		abort(); /* the header is a few hundred bytes */
	rb_add(b, line, (size_t)n);
	while ((long)(b->len - start) < size) {
		size_t l = 0;
		while (l < 70) {
			const char *w = words[rnd_next(seed) % ARRAY_SIZE(words)];
			size_t wl = strlen(w);
			if (l)
				line[l++] = ' ';
			memcpy(line + l, w, wl);
			l += wl;
		}
		line[l++] = '\r';
		line[l++] = '\n';
		rb_add(b, line, l);
	}
}

static void b64(const unsigned char *in, size_t n, char *out)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;
	for (i = 0; i + 2 < n; i += 3) {
		out[o++] = t[in[i] >> 2];
		out[o++] = t[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = t[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		out[o++] = t[in[i + 2] & 63];
	}
	if (i < n) {
		out[o++] = t[in[i] >> 2];
		if (i + 1 < n) {
			out[o++] = t[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			out[o++] = t[(in[i + 1] & 15) << 2];
		} else {
			out[o++] = t[(in[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = 0;
}

/* ---- clients ------------------------------------------------------------ */

/* IMAP mix steps, in session order. */
enum step {
	ST_GREETING, ST_LOGIN, ST_SELECT, ST_LIST, ST_FETCH_HDR, ST_FETCH_BODY,
	ST_STORE, ST_SEARCH, ST_APPEND, ST_COPY, ST_MOVE, ST_EXP_STORE,
	ST_EXPUNGE, ST_IDLE, ST_LOGOUT, ST_DONE,
	/* pop3 */
	ST_USER, ST_PASS, ST_STAT, ST_UIDL, ST_RETR, ST_DELE, ST_QUIT,
	/* lmtp */
	ST_LHLO, ST_MAIL, ST_RCPT, ST_DATA, ST_DOT,
};

struct client {
	uv_tcp_t tcp;
	uv_connect_t creq;
	gnutls_session_t tls;
	struct rb in, raw;
	int id;
	enum proto proto;
	bool active, closing, connected, hs_done, restart;
	enum step step;
	int sub;             /* repeat counter inside a step */
	enum op op;          /* operation being timed */
	uint64_t t_op, t_session, deadline;
	uint64_t seed;
	char tag[16];
	unsigned tagn;
	char user[64];
	long exists;
	uint32_t appenduid;
	bool midline;        /* imap: the next line continues a literal */
	uint64_t lit_left;
	bool multiline;      /* pop3: reading a multi-line response */
	long pop_n;
	long sessions;       /* sessions started by this client */
	int lmtp_replies;    /* lmtp: replies still due after the dot */
	bool lmtp_multi;
	bool idling, got_exists, is_deliverer;
	struct rb msg;       /* lmtp: message being sent */
};

static uv_loop_t *loop;
static struct client **clients;
static int nclients;
static gnutls_certificate_credentials_t xcred;
static bool stopping;
static uint64_t t_start, t_stop;
static long sessions_started, sessions_done, errors_total;
static char first_error[512];
static struct rb append_msg;
static unsigned long msg_counter;
static struct sockaddr_in target, lmtp_target;
static uv_timer_t sweep_timer, stop_timer;
/* idle mode */
static long idle_ready, idle_failed, idle_next;
static bool idle_reported, idle_delivered, idle_done;
static uint64_t t_delivery;
static long exists_seen;
static char idle_stop_reason[128] = "all sessions opened";
static uv_pipe_t stdin_pipe;
static struct client *deliverer;

static void client_start(struct client *c);
static void client_fail(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void finish_run(void);
static void idle_maybe_ready(void);
static void idle_open_more(void);

static uint64_t now_ns(void) { return uv_hrtime(); }

static void note_error(struct client *c, const char *what)
{
	errors_total++;
	lats[c->op].errors++;
	if (!first_error[0])
		snprintf(first_error, sizeof(first_error), "client %d %s: %s",
			 c->id, op_names[c->op], what);
	if (opt.max_errors && errors_total > opt.max_errors && !stopping) {
		fprintf(stderr, "loadgen: too many errors, stopping\n");
		finish_run();
	}
}

static void op_begin(struct client *c, enum op op)
{
	c->op = op;
	c->t_op = now_ns();
	c->deadline = c->t_op + (uint64_t)(opt.step_timeout * 1e9);
}

static void op_end(struct client *c, bool ok, const char *line, size_t len)
{
	if (ok) {
		lat_add(c->op, now_ns() - c->t_op);
	} else {
		char what[200];
		snprintf(what, sizeof(what), "%.*s", (int)(len > 150 ? 150 : len),
			 line);
		note_error(c, what);
	}
}

/* ---- writing ------------------------------------------------------------ */

struct wreq {
	uv_write_t req;
	char data[];
};

static void write_cb(uv_write_t *req, int status)
{
	free(req);
	(void)status; /* a failed write shows as a read error or EOF */
}

static void raw_write(struct client *c, const char *p, size_t n)
{
	if (c->closing || !n)
		return;
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (r == UV_EAGAIN)
		r = 0;
	if (r < 0) {
		client_fail(c, "write: %s", uv_strerror(r));
		return;
	}
	if ((size_t)r == n)
		return;
	struct wreq *w = xmalloc(sizeof(*w) + n - (size_t)r);
	memcpy(w->data, p + r, n - (size_t)r);
	b = uv_buf_init(w->data, (unsigned)(n - (size_t)r));
	r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
	if (r < 0) {
		free(w);
		client_fail(c, "write: %s", uv_strerror(r));
	}
}

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const void *p, size_t n)
{
	raw_write(ptr, p, n);
	return (ssize_t)n;
}

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *p, size_t n)
{
	struct client *c = ptr;
	size_t a = rb_avail(&c->raw);
	if (!a) {
		gnutls_transport_set_errno(c->tls, EAGAIN);
		return -1;
	}
	if (n > a)
		n = a;
	memcpy(p, rb_ptr(&c->raw), n);
	rb_consume(&c->raw, n);
	return (ssize_t)n;
}

/* Only asked after a pull said EAGAIN; data arrives through read_cb. */
static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
	struct client *c = ptr;
	(void)ms;
	return rb_avail(&c->raw) > 0;
}

static void csend(struct client *c, const char *p, size_t n)
{
	if (c->closing)
		return;
	if (!c->tls) {
		raw_write(c, p, n);
		return;
	}
	while (n && !c->closing) {
		ssize_t r = gnutls_record_send(c->tls, p, n);
		if (r < 0) {
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				continue;
			client_fail(c, "tls send: %s", gnutls_strerror((int)r));
			return;
		}
		p += r;
		n -= (size_t)r;
	}
}

static void csendf(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void csendf(struct client *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		abort(); /* every command here is short */
	csend(c, line, (size_t)n);
}

/* Starts a tagged IMAP command and times it as op. */
static void imap_cmd(struct client *c, enum op op, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void imap_cmd(struct client *c, enum op op, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	snprintf(c->tag, sizeof(c->tag), "a%u", ++c->tagn);
	int n = snprintf(line, sizeof(line), "%s ", c->tag);
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)(n + m) >= sizeof(line) - 2)
		abort();
	memcpy(line + n + m, "\r\n", 2);
	op_begin(c, op);
	csend(c, line, (size_t)(n + m + 2));
}

/* ---- connection life ---------------------------------------------------- */

static void close_cb(uv_handle_t *h)
{
	struct client *c = h->data;
	if (c->tls) {
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	c->active = false;
	c->closing = false;
	/* keep small buffers for reuse, drop big ones */
	if (c->in.cap > (1u << 20))
		rb_free(&c->in);
	c->in.off = c->in.len = 0;
	rb_free(&c->raw);
	if (opt.mode == M_IDLE && !c->is_deliverer) {
		idle_open_more();
		return;
	}
	if (c->restart && !stopping &&
	    !(opt.count && c->proto != P_LMTP && sessions_started >= opt.count) &&
	    !(opt.per_client && c->sessions >= opt.per_client))
		client_start(c);
	else if (!stopping && (opt.count || opt.per_client)) {
		bool any = false;
		for (int i = 0; i < nclients && !any; i++)
			any = clients[i]->active;
		if (!any)
			finish_run();
	}
}

static void client_close(struct client *c, bool restart)
{
	if (c->closing || !c->active)
		return;
	c->closing = true;
	c->restart = restart;
	c->deadline = 0;
	uv_close((uv_handle_t *)&c->tcp, close_cb);
}

static void client_fail(struct client *c, const char *fmt, ...)
{
	char what[300];
	va_list ap;
	if (c->closing)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (opt.mode == M_IDLE && !c->is_deliverer) {
		if (!c->idling)
			idle_failed++;
		else
			idle_ready--, idle_failed++;
	}
	note_error(c, what);
	client_close(c, true);
}

static void session_done(struct client *c)
{
	lat_add(OP_SESSION, now_ns() - c->t_session);
	sessions_done++;
	client_close(c, true);
	if (opt.count && sessions_done >= opt.count)
		finish_run();
}

/* ---- IMAP --------------------------------------------------------------- */

static bool has_prefix(const char *p, size_t n, const char *pre)
{
	size_t l = strlen(pre);
	return n >= l && strncasecmp(p, pre, l) == 0;
}

static bool mix_has(enum op op) { return opt.ops & (1u << op); }

static enum step next_mix_step(struct client *c, enum step s)
{
	for (;;) {
		s++;
		switch (s) {
		case ST_SELECT: if (mix_has(OP_SELECT)) return s; break;
		case ST_LIST: if (mix_has(OP_LIST)) return s; break;
		case ST_FETCH_HDR: if (mix_has(OP_FETCH_HDR) && c->exists) return s; break;
		case ST_FETCH_BODY: if (mix_has(OP_FETCH_BODY) && c->exists) return s; break;
		case ST_STORE: if (mix_has(OP_STORE) && c->exists) return s; break;
		case ST_SEARCH: if (mix_has(OP_SEARCH)) return s; break;
		case ST_APPEND: if (mix_has(OP_APPEND)) return s; break;
		case ST_COPY: if (mix_has(OP_COPY) && c->exists) return s; break;
		case ST_MOVE: if (mix_has(OP_MOVE) && c->exists) return s; break;
		case ST_EXP_STORE:
			if (mix_has(OP_EXPUNGE) && c->appenduid) return s;
			break;
		case ST_EXPUNGE: if (mix_has(OP_EXPUNGE) && c->appenduid) return s; break;
		case ST_IDLE: if (mix_has(OP_IDLE)) return s; break;
		default: return s;
		}
	}
}

static long rnd_msg(struct client *c)
{
	return c->exists ? (long)(rnd_next(&c->seed) % (uint64_t)c->exists) + 1 : 1;
}

/* Sends the command of step c->step. */
static void imap_run_step(struct client *c)
{
	static const char *const searches[] = {
		"SEARCH UNSEEN", "SEARCH FROM \"alice\"",
		"SEARCH SUBJECT \"report\"", "SEARCH BODY \"quarter\"",
	};
	switch (c->step) {
	case ST_LOGIN:
		if (opt.mode == M_IMAP && (c->id + sessions_started) % 2)
			imap_cmd(c, OP_LOGIN, "AUTHENTICATE PLAIN");
		else
			imap_cmd(c, OP_LOGIN, "LOGIN %s \"%s\"", c->user, opt.pass);
		break;
	case ST_SELECT:
		imap_cmd(c, OP_SELECT, "SELECT INBOX");
		break;
	case ST_LIST:
		imap_cmd(c, OP_LIST, "LIST \"\" \"*\"");
		break;
	case ST_FETCH_HDR: {
		long lo = c->exists > 50 ? c->exists - 49 : 1;
		imap_cmd(c, OP_FETCH_HDR,
			 "FETCH %ld:%ld (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)",
			 lo, c->exists);
		break;
	}
	case ST_FETCH_BODY:
		imap_cmd(c, OP_FETCH_BODY, "FETCH %ld BODY[]", rnd_msg(c));
		break;
	case ST_STORE:
		imap_cmd(c, OP_STORE, "STORE %ld %cFLAGS (\\Flagged)", rnd_msg(c),
			 rnd_next(&c->seed) % 2 ? '+' : '-');
		break;
	case ST_SEARCH:
		imap_cmd(c, OP_SEARCH, "%s",
			 searches[rnd_next(&c->seed) % ARRAY_SIZE(searches)]);
		break;
	case ST_APPEND:
		c->appenduid = 0;
		imap_cmd(c, OP_APPEND, "APPEND INBOX (\\Seen) {%zu}",
			 rb_avail(&append_msg));
		break;
	case ST_COPY:
		imap_cmd(c, OP_COPY, "COPY %ld Archive", rnd_msg(c));
		break;
	case ST_MOVE:
		imap_cmd(c, OP_MOVE, "MOVE %ld Archive", rnd_msg(c));
		break;
	case ST_EXP_STORE:
		imap_cmd(c, OP_STORE, "UID STORE %" PRIu32 " +FLAGS.SILENT (\\Deleted)",
			 c->appenduid);
		break;
	case ST_EXPUNGE:
		imap_cmd(c, OP_EXPUNGE, "EXPUNGE");
		break;
	case ST_IDLE:
		imap_cmd(c, OP_IDLE, "IDLE");
		break;
	case ST_LOGOUT:
		imap_cmd(c, OP_LOGOUT, "LOGOUT");
		break;
	default:
		abort();
	}
}

static void imap_advance(struct client *c)
{
	if (stopping)
		return;
	switch (opt.mode) {
	case M_LOGIN:
		c->step = c->step == ST_GREETING ? ST_LOGIN :
			  c->step == ST_LOGIN ? ST_LOGOUT : ST_DONE;
		break;
	case M_IDLE:
		c->step = c->step == ST_GREETING ? ST_LOGIN :
			  c->step == ST_LOGIN ? ST_SELECT :
			  c->step == ST_SELECT ? ST_IDLE : ST_DONE;
		break;
	default:
		if (c->step == ST_FETCH_BODY && ++c->sub < 3) {
			imap_run_step(c); /* three bodies per session */
			return;
		}
		c->sub = 0;
		c->step = c->step == ST_GREETING ? ST_LOGIN : next_mix_step(c, c->step);
		break;
	}
	if (c->step == ST_DONE) {
		session_done(c);
		return;
	}
	imap_run_step(c);
}

/* One response line (not a literal continuation). */
static void imap_line(struct client *c, const char *l, size_t n)
{
	if (c->step == ST_GREETING) {
		if (!has_prefix(l, n, "* OK")) {
			client_fail(c, "greeting: %.100s", l);
			return;
		}
		op_end(c, true, l, n);
		imap_advance(c);
		return;
	}
	if (n >= 1 && l[0] == '+') {
		/* RFC 9051 7.5: command continuation request */
		if (c->step == ST_LOGIN) {
			unsigned char cred[300];
			char enc[420];
			size_t ul = strlen(c->user), pl = strlen(opt.pass);
			cred[0] = 0;
			memcpy(cred + 1, c->user, ul);
			cred[1 + ul] = 0;
			memcpy(cred + 2 + ul, opt.pass, pl);
			b64(cred, ul + pl + 2, enc);
			csendf(c, "%s\r\n", enc);
		} else if (c->step == ST_APPEND) {
			csend(c, rb_ptr(&append_msg), rb_avail(&append_msg));
			csend(c, "\r\n", 2);
		} else if (c->step == ST_IDLE) {
			if (opt.mode == M_IDLE) {
				if (!c->idling) {
					c->idling = true;
					c->deadline = 0;
					lat_add(OP_IDLE, now_ns() - c->t_op);
					idle_ready++;
					idle_maybe_ready();
					idle_open_more();
				}
			} else {
				csend(c, "DONE\r\n", 6);
			}
		} else {
			client_fail(c, "unexpected continuation");
		}
		return;
	}
	if (n >= 2 && l[0] == '*' && l[1] == ' ') {
		/* RFC 9051 7.4.1: "* n EXISTS" */
		if (n > 2 && isdigit((unsigned char)l[2])) {
			char *end;
			long v = strtol(l + 2, &end, 10);
			if ((size_t)(end - l) + 7 <= n && strncasecmp(end, " EXISTS", 7) == 0) {
				c->exists = v;
				if (c->idling && idle_delivered && !c->got_exists) {
					c->got_exists = true;
					lat_add(OP_EXISTS, now_ns() - t_delivery);
					exists_seen++;
					if (exists_seen >= idle_ready)
						finish_run();
				}
			}
		}
		return;
	}
	size_t tl = strlen(c->tag);
	if (n > tl && memcmp(l, c->tag, tl) == 0 && l[tl] == ' ') {
		bool ok = has_prefix(l + tl + 1, n - tl - 1, "OK");
		if (ok && c->step == ST_APPEND) {
			/* RFC 4315 3: [APPENDUID uidvalidity uid] */
			const char *p = memmem(l, n, "[APPENDUID ", 11);
			if (p) {
				char tmp[64];
				size_t k = (size_t)(l + n - p);
				snprintf(tmp, sizeof(tmp), "%.*s", (int)(k < 63 ? k : 63), p);
				unsigned long uv, uid;
				if (sscanf(tmp, "[APPENDUID %lu %lu", &uv, &uid) == 2)
					c->appenduid = (uint32_t)uid;
			}
		}
		if (!ok && opt.mode == M_IDLE) {
			client_fail(c, "%.*s", (int)(n > 150 ? 150 : n), l);
			return;
		}
		op_end(c, ok, l, n);
		if (c->step == ST_LOGOUT) {
			session_done(c);
			return;
		}
		imap_advance(c);
	}
}

static void imap_input(struct client *c)
{
	struct rb *b = &c->in;
	for (int guard = 0; guard < 1000000 && !c->closing; guard++) {
		if (c->lit_left) {
			size_t take = rb_avail(b);
			if (take > c->lit_left)
				take = (size_t)c->lit_left;
			if (!take)
				return;
			lats[c->op].bytes += take;
			rb_consume(b, take);
			c->lit_left -= take;
			continue;
		}
		char *p = rb_ptr(b);
		size_t a = rb_avail(b);
		char *nl = a ? memchr(p, '\n', a) : NULL;
		if (!nl) {
			if (a > MAX_INBUF)
				client_fail(c, "line too long");
			return;
		}
		size_t n = (size_t)(nl - p);
		size_t len = n + 1;
		if (n && p[n - 1] == '\r')
			n--;
		bool start = !c->midline;
		c->midline = false;
		if (n && p[n - 1] == '}') {
			/* RFC 9051 4.3: literal = "{" number64 "}" CRLF *CHAR8 */
			size_t i = n - 1;
			while (i > 0 && p[i - 1] != '{' && i > n - 24)
				i--;
			if (i > 0 && p[i - 1] == '{') {
				c->lit_left = strtoull(p + i, NULL, 10);
				c->midline = true;
			}
		}
		if (start)
			imap_line(c, p, n);
		if (c->closing)
			return;
		rb_consume(b, len);
	}
}

/* ---- POP3 --------------------------------------------------------------- */

static void pop3_next(struct client *c);

static void pop3_send(struct client *c, enum step s, enum op op, bool newop,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void pop3_send(struct client *c, enum step s, enum op op, bool newop,
		      const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		abort();
	memcpy(line + n, "\r\n", 2);
	c->step = s;
	if (newop)
		op_begin(c, op);
	else
		c->deadline = now_ns() + (uint64_t)(opt.step_timeout * 1e9);
	csend(c, line, (size_t)n + 2);
}

static void pop3_next(struct client *c)
{
	if (stopping)
		return;
	switch (c->step) {
	case ST_GREETING:
		pop3_send(c, ST_USER, OP_LOGIN, true, "USER %s", c->user);
		break;
	case ST_USER:
		pop3_send(c, ST_PASS, OP_LOGIN, false, "PASS %s", opt.pass);
		break;
	case ST_PASS:
		pop3_send(c, ST_STAT, OP_STAT, true, "STAT");
		break;
	case ST_STAT:
		pop3_send(c, ST_UIDL, OP_UIDL, true, "UIDL");
		break;
	case ST_UIDL:
	case ST_RETR:
		if (c->step == ST_UIDL)
			c->sub = 0;
		if (c->sub < c->pop_n) {
			c->sub++;
			pop3_send(c, ST_RETR, OP_RETR, true, "RETR %d", c->sub);
			break;
		}
		c->sub = 0;
		/* fall through */
	case ST_DELE:
		if (c->sub < opt.pop_dele && c->sub < c->pop_n) {
			c->sub++;
			pop3_send(c, ST_DELE, OP_DELE, true, "DELE %d", c->sub);
			break;
		}
		pop3_send(c, ST_QUIT, OP_QUIT, true, "QUIT");
		break;
	case ST_QUIT:
		session_done(c);
		break;
	default:
		abort();
	}
}

static bool pop3_is_multi(enum step s)
{
	return s == ST_UIDL || s == ST_RETR;
}

/* The first CRLF "." CRLF in p[0..n), or NULL. The scan looks for LF followed by
 * '.' (16 positions at a time with SSE2: a multi-line body has few) and
 * checks the CR around each; glibc's memmem for the 5-byte needle was
 * most of the load generator's CPU on a 50 MB RETR. */
static char *find_dot_end(char *p, size_t n)
{
	size_t i = 1;

	if (n < 5)
		return NULL;
#if defined(__SSE2__)
	const __m128i lf = _mm_set1_epi8('\n'), dot = _mm_set1_epi8('.');
	for (; i + 17 <= n; i += 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(p + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(p + i + 1));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(
			_mm_cmpeq_epi8(a, lf), _mm_cmpeq_epi8(b, dot)));
		while (m) {
			size_t k = i + (size_t)__builtin_ctz(m);
			if (k + 3 < n && p[k - 1] == '\r' && p[k + 2] == '\r' &&
			    p[k + 3] == '\n')
				return p + k - 1;
			m &= m - 1;
		}
	}
#endif
	for (; i + 3 < n; i++)
		if (p[i] == '\n' && p[i + 1] == '.' && p[i - 1] == '\r' &&
		    p[i + 2] == '\r' && p[i + 3] == '\n')
			return p + i - 1;
	return NULL;
}

static void pop3_input(struct client *c)
{
	struct rb *b = &c->in;
	for (int guard = 0; guard < 1000000 && !c->closing; guard++) {
		char *p = rb_ptr(b);
		size_t a = rb_avail(b);
		if (c->multiline && !a)
			return;
		if (c->multiline) {
			/* RFC 1939 3: ends with CRLF "." CRLF; the buffer
			 * always starts just after a CRLF. */
			if (a >= 3 && memcmp(p, ".\r\n", 3) == 0) {
				rb_consume(b, 3);
				lats[c->op].bytes += 3;
				c->multiline = false;
				op_end(c, true, "", 0);
				pop3_next(c);
				continue;
			}
			char *e = find_dot_end(p, a);
			if (!e) {
				/* keep a possible partial terminator */
				size_t keep = a < 4 ? a : 4;
				char *last = NULL;
				for (size_t k = a; k > a - keep; k--)
					if (p[k - 1] == '\n') {
						last = p + k;
						break;
					}
				size_t take = last ? (size_t)(last - p) : a - keep;
				if (!take)
					return;
				lats[c->op].bytes += take;
				rb_consume(b, take);
				return;
			}
			size_t take = (size_t)(e - p) + 5;
			lats[c->op].bytes += take;
			rb_consume(b, take);
			c->multiline = false;
			op_end(c, true, "", 0);
			pop3_next(c);
			continue;
		}
		char *nl = a ? memchr(p, '\n', a) : NULL;
		if (!nl) {
			if (a > 65536)
				client_fail(c, "line too long");
			return;
		}
		size_t n = (size_t)(nl - p);
		size_t len = n + 1;
		if (n && p[n - 1] == '\r')
			n--;
		bool ok = has_prefix(p, n, "+OK");
		if (!ok) {
			op_end(c, false, p, n);
			client_close(c, true);
			return;
		}
		if (c->step == ST_STAT)
			c->pop_n = strtol(p + 3, NULL, 10);
		if (c->step == ST_STAT && c->pop_n > 100000)
			c->pop_n = 100000;
		if (pop3_is_multi(c->step)) {
			lats[c->op].bytes += len;
			rb_consume(b, len);
			c->multiline = true;
			continue;
		}
		rb_consume(b, len);
		if (c->step != ST_USER && c->step != ST_QUIT)
			op_end(c, true, p, n);
		if (c->step == ST_QUIT) {
			op_end(c, true, p, n);
			session_done(c);
			return;
		}
		pop3_next(c);
	}
}

/* ---- LMTP --------------------------------------------------------------- */

static void lmtp_deliver(struct client *c)
{
	if (stopping)
		return;
	if (opt.count && !c->is_deliverer && sessions_started >= opt.count)
		return;
	if (!c->is_deliverer)
		sessions_started++;
	c->t_session = now_ns();
	op_begin(c, OP_DELIVER);
	c->step = ST_MAIL;
	csendf(c, "MAIL FROM:<loadgen@example.org>\r\n");
}

static void lmtp_make_msg(struct client *c)
{
	c->msg.off = c->msg.len = 0;
	long size = opt.min_size;
	if (opt.max_size > opt.min_size) {
		/* log-uniform between min and max */
		double u = (double)(rnd_next(&c->seed) % 1000000) / 1e6;
		size = (long)((double)opt.min_size *
			      __builtin_exp(u * __builtin_log((double)opt.max_size /
							      (double)opt.min_size)));
	}
	gen_message(&c->msg, size, &c->seed, c->user, ++msg_counter);
}

static void lmtp_line(struct client *c, const char *l, size_t n)
{
	bool more = n >= 4 && l[3] == '-';
	bool ok2 = n >= 1 && l[0] == '2';
	bool ok3 = n >= 1 && l[0] == '3';
	if (more)
		return;
	switch (c->step) {
	case ST_GREETING:
		if (!ok2)
			goto fail;
		op_end(c, true, l, n);
		c->step = ST_LHLO;
		csendf(c, "LHLO loadgen.example\r\n");
		break;
	case ST_LHLO:
		if (!ok2)
			goto fail;
		if (!c->is_deliverer)
			lmtp_make_msg(c);
		lmtp_deliver(c);
		break;
	case ST_MAIL:
		if (!ok2)
			goto fail;
		c->step = ST_RCPT;
		csendf(c, "RCPT TO:<%s>\r\n", c->user);
		break;
	case ST_RCPT:
		if (!ok2)
			goto fail;
		c->step = ST_DATA;
		csendf(c, "DATA\r\n");
		break;
	case ST_DATA:
		if (!ok3)
			goto fail;
		c->step = ST_DOT;
		csend(c, rb_ptr(&c->msg), rb_avail(&c->msg));
		csend(c, ".\r\n", 3);
		if (c->is_deliverer) {
			t_delivery = now_ns();
			idle_delivered = true;
		}
		break;
	case ST_DOT:
		if (!ok2)
			goto fail;
		lats[OP_DELIVER].bytes += rb_avail(&c->msg);
		op_end(c, true, l, n);
		if (c->is_deliverer) {
			c->step = ST_DONE;
			c->deadline = 0;
			return;
		}
		sessions_done++;
		if (opt.count && sessions_done >= opt.count) {
			finish_run();
			return;
		}
		lmtp_make_msg(c);
		lmtp_deliver(c);
		break;
	default:
		goto fail;
	}
	return;
fail:
	op_end(c, false, l, n);
	client_close(c, !c->is_deliverer);
}

static void lmtp_input(struct client *c)
{
	struct rb *b = &c->in;
	for (int guard = 0; guard < 100000 && !c->closing; guard++) {
		char *p = rb_ptr(b);
		size_t a = rb_avail(b);
		char *nl = a ? memchr(p, '\n', a) : NULL;
		if (!nl) {
			if (a > 65536)
				client_fail(c, "line too long");
			return;
		}
		size_t n = (size_t)(nl - p);
		size_t len = n + 1;
		if (n && p[n - 1] == '\r')
			n--;
		lmtp_line(c, p, n);
		if (c->closing)
			return;
		rb_consume(b, len);
	}
}

/* ---- reading and connecting --------------------------------------------- */

static char readbuf[256 * 1024];

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	(void)h;
	(void)sz;
	*b = uv_buf_init(readbuf, sizeof(readbuf));
}

static void dispatch(struct client *c)
{
	switch (c->proto) {
	case P_IMAP: imap_input(c); break;
	case P_POP3: pop3_input(c); break;
	case P_LMTP: lmtp_input(c); break;
	}
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct client *c = s->data;
	if (c->closing)
		return;
	if (nread < 0) {
		if (c->step == ST_DONE && c->is_deliverer)
			client_close(c, false);
		else if (nread == UV_EOF)
			client_fail(c, "connection closed by server");
		else
			client_fail(c, "read: %s", uv_strerror((int)nread));
		return;
	}
	if (!nread)
		return;
	if (!c->tls) {
		rb_add(&c->in, b->base, (size_t)nread);
		dispatch(c);
		return;
	}
	rb_add(&c->raw, b->base, (size_t)nread);
	if (!c->hs_done) {
		int r = gnutls_handshake(c->tls);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			return;
		if (r < 0) {
			client_fail(c, "tls handshake: %s", gnutls_strerror(r));
			return;
		}
		c->hs_done = true;
	}
	char tmp[65536];
	for (int guard = 0; guard < 100000 && !c->closing; guard++) {
		ssize_t r = gnutls_record_recv(c->tls, tmp, sizeof(tmp));
		if (r > 0) {
			rb_add(&c->in, tmp, (size_t)r);
			continue;
		}
		if (r == GNUTLS_E_AGAIN) {
			/* a post-handshake record (session ticket) also ends
			 * in AGAIN: go on while ciphertext is left */
			if (rb_avail(&c->raw))
				continue;
			break;
		}
		if (r == 0) {
			dispatch(c);
			if (!c->closing)
				client_fail(c, "tls closed by server");
			return;
		}
		if (r == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal((int)r))
			continue;
		client_fail(c, "tls recv: %s", gnutls_strerror((int)r));
		return;
	}
	dispatch(c);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct client *c = req->data;
	if (c->closing)
		return;
	if (status < 0) {
		client_fail(c, "connect: %s", uv_strerror(status));
		return;
	}
	c->connected = true;
	uv_tcp_nodelay(&c->tcp, 1);
	int r = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	if (r < 0) {
		client_fail(c, "read_start: %s", uv_strerror(r));
		return;
	}
	if (c->tls) {
		r = gnutls_handshake(c->tls); /* sends the ClientHello */
		if (r != GNUTLS_E_AGAIN && r < 0)
			client_fail(c, "tls handshake: %s", gnutls_strerror(r));
	}
}

static void client_start(struct client *c)
{
	memset(&c->tcp, 0, sizeof(c->tcp));
	c->active = true;
	c->closing = false;
	c->connected = c->hs_done = false;
	c->midline = c->multiline = false;
	c->lit_left = 0;
	c->exists = 0;
	c->appenduid = 0;
	c->idling = c->got_exists = false;
	c->tagn = 0;
	c->sub = 0;
	c->step = ST_GREETING;
	c->t_session = now_ns();
	if (c->proto != P_LMTP) {
		sessions_started++;
		c->sessions++;
	}
	int user_no = opt.mode == M_IDLE ? 1 : (c->id % opt.users) + 1;
	if (c->is_deliverer)
		expand(c->user, sizeof(c->user), opt.rcpt_fmt, 1);
	else if (c->proto == P_LMTP && opt.rcpt_fmt[0])
		expand(c->user, sizeof(c->user), opt.rcpt_fmt, user_no);
	else
		expand(c->user, sizeof(c->user), opt.user_fmt, user_no);
	op_begin(c, OP_CONNECT);

	int r = uv_tcp_init_ex(loop, &c->tcp, AF_INET);
	if (r < 0) {
		c->active = false;
		if (opt.mode != M_IDLE) {
			fprintf(stderr, "loadgen: socket: %s\n", uv_strerror(r));
			exit(2);
		}
		idle_failed++;
		snprintf(idle_stop_reason, sizeof(idle_stop_reason),
			 "socket: %s", uv_strerror(r));
		idle_next = opt.clients;
		idle_maybe_ready();
		return;
	}
	c->tcp.data = c;
	if (opt.src_count > 0 && !c->is_deliverer) {
		struct sockaddr_in src;
		uv_os_fd_t fd;
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)opt.src_first +
					    (uint32_t)(c->id % opt.src_count));
		if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
			int one = 1;
			setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		}
		r = uv_tcp_bind(&c->tcp, (struct sockaddr *)&src, 0);
		if (r < 0) {
			client_fail(c, "bind: %s", uv_strerror(r));
			return;
		}
	}
	bool use_tls = opt.tls && !c->is_deliverer && c->proto != P_LMTP;
	if (use_tls) {
		gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
		gnutls_set_default_priority(c->tls);
		gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, xcred);
		gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, "localhost", 9);
		gnutls_transport_set_ptr(c->tls, c);
		gnutls_transport_set_push_function(c->tls, tls_push);
		gnutls_transport_set_pull_function(c->tls, tls_pull);
		gnutls_transport_set_pull_timeout_function(c->tls, tls_pull_timeout);
		gnutls_handshake_set_timeout(c->tls, 0);
	}
	c->creq.data = c;
	r = uv_tcp_connect(&c->creq, &c->tcp,
			   (struct sockaddr *)(c->is_deliverer ? &lmtp_target : &target),
			   connect_cb);
	if (r < 0)
		client_fail(c, "connect: %s", uv_strerror(r));
}

/* ---- idle mode ----------------------------------------------------------- */

static long meminfo_avail_mb(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v < 0 ? -1 : v / 1024;
}

static long system_tasks(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double a, b2, c2;
	long run, total = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%lf %lf %lf %ld/%ld", &a, &b2, &c2, &run, &total) != 5)
		total = -1;
	fclose(f);
	return total;
}

static void print_results(FILE *out, double wall);
static void stop_cb(uv_timer_t *t);

static void idle_maybe_ready(void)
{
	if (idle_reported)
		return;
	if (idle_next < opt.clients || idle_ready + idle_failed < idle_next)
		return; /* still opening or setting up sessions */
	idle_reported = true;
	printf("READY %ld failed %ld elapsed %.3f reason %s\n", idle_ready,
	       idle_failed, (double)(now_ns() - t_start) / 1e9, idle_stop_reason);
	fflush(stdout);
}

static void idle_open_more(void)
{
	if (stopping || idle_reported)
		return;
	long inflight = 0;
	/* bounded: at most ramp sessions being set up */
	for (int guard = 0; guard < opt.ramp && idle_next < opt.clients; guard++) {
		inflight = (idle_next - idle_ready - idle_failed);
		if (inflight >= opt.ramp)
			break;
		if (idle_next % 200 == 0 && idle_next) {
			long av = meminfo_avail_mb();
			long tasks = system_tasks();
			if (av >= 0 && av < opt.min_avail_mb) {
				snprintf(idle_stop_reason, sizeof(idle_stop_reason),
					 "MemAvailable %ld MB < %ld MB", av, opt.min_avail_mb);
				idle_next = opt.clients;
				break;
			}
			if (tasks >= 0 && tasks > opt.max_tasks) {
				snprintf(idle_stop_reason, sizeof(idle_stop_reason),
					 "system tasks %ld > %ld", tasks, opt.max_tasks);
				idle_next = opt.clients;
				break;
			}
		}
		client_start(clients[idle_next++]);
	}
	idle_maybe_ready();
}

static void stdin_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	static char sbuf[256];
	(void)h;
	(void)sz;
	*b = uv_buf_init(sbuf, sizeof(sbuf));
}

static void stdin_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	(void)s;
	if (nread < 0) {
		/* EOF: the harness is done measuring */
		if (!idle_done)
			print_results(stdout, (double)(now_ns() - t_start) / 1e9);
		fflush(stdout);
		_exit(0);
	}
	if (nread > 0 && memchr(b->base, 'G', (size_t)nread) && !deliverer->active &&
	    !idle_delivered) {
		if (opt.no_deliver) {
			/* another process delivers: count from now */
			t_delivery = now_ns();
			idle_delivered = true;
		} else {
			deliverer->deadline = 0;
			client_start(deliverer);
		}
		uv_timer_start(&stop_timer, stop_cb,
			       (uint64_t)(opt.exists_wait * 1000), 0);
	}
}

/* ---- run control --------------------------------------------------------- */

static void print_results(FILE *out, double wall)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	double cs = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	static const char *const mnames[] = {"imap", "login", "pop3", "lmtp", "idle"};
	uint64_t total = 0;
	fprintf(out, "{\"mode\": \"%s\", \"clients\": %d, \"tls\": %s, \"wall\": %.4f, "
		"\"cpu_user\": %.3f, \"cpu_sys\": %.3f, \"sessions\": %ld, "
		"\"errors\": %ld, ", mnames[opt.mode], opt.clients,
		opt.tls ? "true" : "false", wall, cu, cs, sessions_done, errors_total);
	if (opt.mode == M_IDLE) {
		fprintf(out, "\"idle_ready\": %ld, \"idle_failed\": %ld, "
			"\"exists_seen\": %ld, \"stop_reason\": \"%s\", "
			"\"t_delivery_ns\": %" PRIu64 ", ",
			idle_ready, idle_failed, exists_seen, idle_stop_reason,
			t_delivery);
		if (opt.exists_dump) {
			const struct lat *l = &lats[OP_EXISTS];

			fprintf(out, "\"exists_us\": [");
			for (size_t k = 0; k < l->n; k++)
				fprintf(out, "%s%" PRIu32, k ? "," : "",
					l->us[k]);
			fprintf(out, "], ");
		}
	}
	fprintf(out, "\"first_error\": \"");
	for (const char *p = first_error; *p; p++)
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if ((unsigned char)*p >= 32 && (unsigned char)*p < 127)
			fputc(*p, out);
	fprintf(out, "\", \"ops\": {");
	bool first = true;
	for (int i = 0; i < OP_MAX; i++) {
		struct lat *l = &lats[i];
		if (!l->n && !l->errors)
			continue;
		qsort(l->us, l->n, sizeof(*l->us), cmp_u32);
		double sum = 0;
		for (size_t k = 0; k < l->n; k++)
			sum += l->us[k];
		if (i != OP_SESSION && i != OP_EXISTS)
			total += l->n;
		fprintf(out, "%s\"%s\": {\"n\": %zu, \"errors\": %" PRIu64
			", \"bytes\": %" PRIu64 ", \"mean\": %.3f, \"p50\": %.3f, "
			"\"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f}",
			first ? "" : ", ", op_names[i], l->n, l->errors, l->bytes,
			l->n ? sum / (double)l->n / 1000.0 : 0.0, pct(l->us, l->n, 50),
			pct(l->us, l->n, 90), pct(l->us, l->n, 99),
			pct(l->us, l->n, 100));
		first = false;
	}
	/* every command of the run together (not CONNECT, SESSION, EXISTS) */
	uint32_t *all = xmalloc(sizeof(*all) * (total ? total : 1));
	size_t na = 0;
	for (int i = 0; i < OP_MAX; i++)
		if (i != OP_SESSION && i != OP_EXISTS && i != OP_CONNECT &&
		    lats[i].n) {
			memcpy(all + na, lats[i].us, lats[i].n * sizeof(*all));
			na += lats[i].n;
		}
	qsort(all, na, sizeof(*all), cmp_u32);
	fprintf(out, "%s\"ALL\": {\"n\": %zu, \"p50\": %.3f, \"p99\": %.3f}",
		first ? "" : ", ", na, pct(all, na, 50), pct(all, na, 99));
	free(all);
	fprintf(out, "}, \"total_ops\": %" PRIu64 "}\n", total);
}

static void finish_run(void)
{
	if (stopping)
		return;
	stopping = true;
	t_stop = now_ns();
	if (opt.mode == M_IDLE) {
		idle_done = true;
		print_results(stdout, (double)(t_stop - t_start) / 1e9);
		fflush(stdout);
		/* keep the sessions until stdin closes */
		return;
	}
	uv_timer_stop(&sweep_timer);
	uv_timer_stop(&stop_timer);
	for (int i = 0; i < nclients; i++)
		if (clients[i]->active)
			client_close(clients[i], false);
	uv_close((uv_handle_t *)&sweep_timer, NULL);
	uv_close((uv_handle_t *)&stop_timer, NULL);
}

static void sweep_cb(uv_timer_t *t)
{
	uint64_t now = now_ns();
	(void)t;
	for (int i = 0; i < nclients; i++) {
		struct client *c = clients[i];
		if (c->active && !c->closing && c->deadline && now > c->deadline)
			client_fail(c, "timeout after %.0f s", opt.step_timeout);
	}
	if (deliverer && deliverer->active && !deliverer->closing &&
	    deliverer->deadline && now > deliverer->deadline)
		client_fail(deliverer, "timeout");
	if (opt.timeout > 0 && (double)(now - t_start) / 1e9 > opt.timeout) {
		fprintf(stderr, "loadgen: hard time limit reached\n");
		if (opt.mode == M_IDLE && !idle_reported) {
			snprintf(idle_stop_reason, sizeof(idle_stop_reason),
				 "time limit %.0f s", opt.timeout);
			idle_next = opt.clients;
			for (int i = 0; i < nclients; i++)
				if (clients[i]->active && !clients[i]->idling)
					client_close(clients[i], false);
			idle_reported = true;
			printf("READY %ld failed %ld elapsed %.3f reason %s\n",
			       idle_ready, idle_failed,
			       (double)(now - t_start) / 1e9, idle_stop_reason);
			fflush(stdout);
			opt.timeout = 0;
			return;
		}
		finish_run();
		if (opt.mode != M_IDLE) {
			/* stragglers: exit without waiting */
			print_results(stdout, (double)(now - t_start) / 1e9);
			fflush(stdout);
			_exit(3);
		}
	}
}

static void stop_cb(uv_timer_t *t)
{
	(void)t;
	finish_run();
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --mode imap|login|pop3|lmtp|idle --port P [options]\n"
		"  --host 127.x.y.z   target (loopback only)\n"
		"  --tls              implicit TLS\n"
		"  --clients N        concurrent clients (idle: sessions)\n"
		"  --duration S | --count N   run length (sessions or deliveries)\n"
		"  --per-client N     each client runs N sessions, then stops\n"
		"  --timeout S        hard limit\n"
		"  --users N --user-fmt FMT --pass P   user names (FMT: %%d = 1..N)\n"
		"  --rcpt-fmt FMT     lmtp/idle recipient\n"
		"  --ops a,b,...      imap mix: select,list,fetch_hdr,fetch_body,store,\n"
		"                     search,append,copy,move,expunge,idle\n"
		"  --pop-dele N       DELE the first N messages per session\n"
		"  --min-size B --max-size B   lmtp sizes (log-uniform)\n"
		"  --lmtp-port P      idle: where the one delivery goes\n"
		"  --src-count K      bind sources 127.0.0.2..(K+1)\n"
		"  --src-first F      ... from 127.0.0.(2+F) instead\n"
		"  --no-deliver       idle: GO starts the clock, another process delivers\n"
		"  --exists-dump      idle: print every EXISTS latency (exists_us)\n"
		"  --ramp N --min-avail-mb M --max-tasks T --exists-wait S\n");
	exit(2);
}

static unsigned parse_ops(const char *s)
{
	static const struct { const char *name; enum op op; } names[] = {
		{"select", OP_SELECT}, {"list", OP_LIST}, {"fetch_hdr", OP_FETCH_HDR},
		{"fetch_body", OP_FETCH_BODY}, {"store", OP_STORE},
		{"search", OP_SEARCH}, {"append", OP_APPEND}, {"copy", OP_COPY},
		{"move", OP_MOVE}, {"expunge", OP_EXPUNGE}, {"idle", OP_IDLE},
	};
	unsigned mask = 0;
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s", s);
	for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(names); i++)
			if (strcmp(t, names[i].name) == 0)
				break;
		if (i == ARRAY_SIZE(names)) {
			fprintf(stderr, "loadgen: unknown op %s\n", t);
			exit(2);
		}
		mask |= 1u << names[i].op;
	}
	return mask;
}

static void set_target(struct sockaddr_in *sa, int port)
{
	memset(sa, 0, sizeof(*sa));
	if (uv_ip4_addr(opt.host, port, sa) != 0 ||
	    (ntohl(sa->sin_addr.s_addr) >> 24) != 127 || port <= 0 || port > 65535) {
		fprintf(stderr, "loadgen: target must be 127.0.0.0/8 with a port\n");
		exit(2);
	}
}

int main(int argc, char **argv)
{
	opt.ops = (1u << OP_SELECT) | (1u << OP_LIST) | (1u << OP_FETCH_HDR) |
		  (1u << OP_FETCH_BODY) | (1u << OP_STORE) | (1u << OP_SEARCH) |
		  (1u << OP_APPEND) | (1u << OP_COPY) | (1u << OP_EXPUNGE) |
		  (1u << OP_IDLE);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
		if (strcmp(a, "--tls") == 0)
			opt.tls = true;
		else if (ARG("--mode")) {
			if (!strcmp(v, "imap")) opt.mode = M_IMAP;
			else if (!strcmp(v, "login")) opt.mode = M_LOGIN;
			else if (!strcmp(v, "pop3")) opt.mode = M_POP3;
			else if (!strcmp(v, "lmtp")) opt.mode = M_LMTP;
			else if (!strcmp(v, "idle")) opt.mode = M_IDLE;
			else usage();
		} else if (ARG("--host")) snprintf(opt.host, sizeof(opt.host), "%s", v);
		else if (ARG("--port")) opt.port = atoi(v);
		else if (ARG("--lmtp-port")) opt.lmtp_port = atoi(v);
		else if (ARG("--clients")) opt.clients = atoi(v);
		else if (ARG("--duration")) opt.duration = atof(v);
		else if (ARG("--count")) opt.count = atol(v);
		else if (ARG("--per-client")) opt.per_client = atol(v);
		else if (ARG("--timeout")) opt.timeout = atof(v);
		else if (ARG("--step-timeout")) opt.step_timeout = atof(v);
		else if (ARG("--max-errors")) opt.max_errors = atol(v);
		else if (ARG("--users")) opt.users = atoi(v);
		else if (ARG("--user-fmt")) snprintf(opt.user_fmt, sizeof(opt.user_fmt), "%s", v);
		else if (ARG("--rcpt-fmt")) snprintf(opt.rcpt_fmt, sizeof(opt.rcpt_fmt), "%s", v);
		else if (ARG("--pass")) snprintf(opt.pass, sizeof(opt.pass), "%s", v);
		else if (ARG("--src-count")) opt.src_count = atoi(v);
		else if (ARG("--src-first")) opt.src_first = atoi(v);
		else if (strcmp(a, "--no-deliver") == 0)
			opt.no_deliver = true;
		else if (strcmp(a, "--exists-dump") == 0)
			opt.exists_dump = true;
		else if (ARG("--ramp")) opt.ramp = atoi(v);
		else if (ARG("--min-avail-mb")) opt.min_avail_mb = atol(v);
		else if (ARG("--max-tasks")) opt.max_tasks = atol(v);
		else if (ARG("--exists-wait")) opt.exists_wait = atof(v);
		else if (ARG("--pop-dele")) opt.pop_dele = atoi(v);
		else if (ARG("--min-size")) opt.min_size = atol(v);
		else if (ARG("--max-size")) opt.max_size = atol(v);
		else if (ARG("--ops")) opt.ops = parse_ops(v);
		else if (ARG("--seed")) opt.seed = strtoul(v, NULL, 10);
		else
			usage();
#undef ARG
	}
	if (opt.clients < 1 || opt.clients > 1000000 || opt.users < 1 ||
	    (opt.duration <= 0 && opt.count <= 0 && opt.per_client <= 0 &&
	     opt.mode != M_IDLE) ||
	    (opt.per_client > 0 && opt.mode == M_LMTP) ||
	    opt.ramp < 1 || opt.min_size < 64 || opt.max_size < opt.min_size ||
	    opt.max_size > (256l << 20))
		usage();
	set_target(&target, opt.port);
	if (opt.mode == M_IDLE) {
		if (!opt.rcpt_fmt[0])
			snprintf(opt.rcpt_fmt, sizeof(opt.rcpt_fmt), "%s", opt.user_fmt);
		set_target(&lmtp_target, opt.lmtp_port);
	}
	if (opt.timeout <= 0)
		opt.timeout = opt.mode == M_IDLE ? 900 :
			      opt.duration > 0 ? opt.duration + 60 : 600;
	signal(SIGPIPE, SIG_IGN);

	gnutls_global_init();
	gnutls_certificate_allocate_credentials(&xcred);
	loop = uv_default_loop();

	uint64_t seed = opt.seed * 7919;
	gen_message(&append_msg, 6000, &seed, "append", 0);

	nclients = opt.clients;
	clients = xmalloc(sizeof(*clients) * (size_t)nclients);
	for (int i = 0; i < nclients; i++) {
		struct client *c = xmalloc(sizeof(*c));
		memset(c, 0, sizeof(*c));
		c->id = i;
		c->proto = proto_of(opt.mode);
		c->seed = (opt.seed << 20) ^ (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
		clients[i] = c;
	}
	uv_timer_init(loop, &sweep_timer);
	uv_timer_init(loop, &stop_timer);
	uv_timer_start(&sweep_timer, sweep_cb, 250, 250);
	t_start = now_ns();
	if (opt.mode == M_IDLE) {
		deliverer = xmalloc(sizeof(*deliverer));
		memset(deliverer, 0, sizeof(*deliverer));
		deliverer->id = -1;
		deliverer->proto = P_LMTP;
		deliverer->is_deliverer = true;
		deliverer->seed = 42;
		expand(deliverer->user, sizeof(deliverer->user), opt.rcpt_fmt, 1);
		gen_message(&deliverer->msg, 2000, &deliverer->seed,
			    deliverer->user, 1);
		uv_pipe_init(loop, &stdin_pipe, 0);
		uv_pipe_open(&stdin_pipe, 0);
		uv_read_start((uv_stream_t *)&stdin_pipe, stdin_alloc, stdin_read);
		idle_open_more();
	} else {
		if (opt.duration > 0)
			uv_timer_start(&stop_timer, stop_cb,
				       (uint64_t)(opt.duration * 1000), 0);
		for (int i = 0; i < nclients; i++) {
			if (opt.count && opt.mode != M_LMTP && sessions_started >= opt.count)
				break;
			client_start(clients[i]);
		}
	}
	uv_run(loop, UV_RUN_DEFAULT);
	double wall = (double)((t_stop ? t_stop : now_ns()) - t_start) / 1e9;
	if (opt.mode != M_IDLE)
		print_results(stdout, wall);
	gnutls_certificate_free_credentials(xcred);
	return errors_total && !sessions_done ? 1 : 0;
}
