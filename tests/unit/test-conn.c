/* test-conn.c - core/conn.c in process: a libuv loop on the main thread
 * runs a small line-echo server; each scenario's client runs in a thread
 * with blocking sockets (and GnuTLS for the TLS cases), records what it
 * saw, and stops the loop when done. CHECKs run on the main thread after
 * the client thread is joined. */
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "linereader.h"
#include "log.h"
#include "t.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#define HIGH (64 * 1024)
#define LOW (16 * 1024)
#define CHUNK 8192

/* ---- the server side: one session per connection ---------------------- */

struct sess {
	struct conn *c;
	struct linereader lr;
	size_t big_left;
	uv_timer_t resume_timer;
	bool timer_used;
	bool paused;
	bool compress;  /* COMPRESS read: start once the line is consumed */
};

static struct {
	uv_loop_t *loop;
	uv_async_t done;
	struct buf seen;        /* "line\n" per line the server read */
	size_t max_pending;     /* largest pending output while producing */
	unsigned lowat_events;
	unsigned closed_events;
	unsigned timeouts;
	unsigned accepted;
	unsigned ip_count[8];   /* conn_count_for_ip at each accept */
	bool saw_tls_line;      /* a line read with info.tls true */
	unsigned ip_limit;      /* per-IP limit the acceptor applies (0: none) */
	bool implicit_seen;
} srv;

static void produce(struct sess *s)
{
	static char chunk[CHUNK];

	memset(chunk, 'x', sizeof(chunk));
	while (s->big_left > 0 && !conn_output_full(s->c)) {
		size_t n = s->big_left < CHUNK ? s->big_left : CHUNK;

		conn_write(s->c, chunk, n);
		s->big_left -= n;
		if (conn_output_pending(s->c) > srv.max_pending)
			srv.max_pending = conn_output_pending(s->c);
	}
}

static void resume_cb(uv_timer_t *t)
{
	struct sess *s = t->data;

	s->paused = false;
	if (s->c)
		conn_resume_input(s->c);
}

static void timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void free_sess(struct sess *s)
{
	if (s->timer_used)
		uv_close((uv_handle_t *)&s->resume_timer, timer_closed);
	else
		free(s);
}

static void handle_line(struct sess *s, const char *p, size_t n)
{
	const struct conn_info *ci = conn_info(s->c);

	buf_append(&srv.seen, p, n);
	buf_append_c(&srv.seen, '\n');
	if (ci->tls)
		srv.saw_tls_line = true;
	if (n == 8 && memcmp(p, "STARTTLS", 8) == 0) {
		conn_write_str(s->c, "OK begin TLS\r\n");
		if (conn_starttls(s->c) < 0)
			conn_write_str(s->c, "NO TLS\r\n");
	} else if (n > 4 && memcmp(p, "BIG ", 4) == 0) {
		s->big_left = strtoul(p + 4, NULL, 10);
		produce(s);
	} else if (n > 8 && memcmp(p, "BIGQUIT ", 8) == 0) {
		/* conn_close must flush everything queued before closing. */
		size_t left = strtoul(p + 8, NULL, 10);
		char chunk[CHUNK];

		memset(chunk, 'y', sizeof(chunk));
		while (left) {
			size_t k = left < CHUNK ? left : CHUNK;

			conn_write(s->c, chunk, k);
			left -= k;
		}
		conn_close(s->c);
	} else if (n == 4 && memcmp(p, "QUIT", 4) == 0) {
		conn_write_str(s->c, "BYE\r\n");
		conn_close(s->c);
	} else if (n == 5 && memcmp(p, "ABORT", 5) == 0) {
		conn_write_str(s->c, "never seen\r\n");
		conn_abort(s->c);
	} else if (n > 8 && memcmp(p, "TIMEOUT ", 8) == 0) {
		conn_set_timeout(s->c, (unsigned)strtoul(p + 8, NULL, 10));
	} else if (n == 8 && memcmp(p, "COMPRESS", 8) == 0) {
		s->compress = true;
	} else if (n == 5 && memcmp(p, "PAUSE", 5) == 0) {
		/* Input buffered behind this line must still be handled after
		 * the resume, without new bytes from the client. */
		conn_pause_input(s->c);
		s->paused = true;
		if (!s->timer_used) {
			uv_timer_init(srv.loop, &s->resume_timer);
			s->resume_timer.data = s;
			s->timer_used = true;
		}
		uv_timer_start(&s->resume_timer, resume_cb, 20, 0);
		conn_write_str(s->c, "PAUSED\r\n");
	} else {
		conn_printf(s->c, "%s%.*s\r\n", ci->tls ? "T:" : "", (int)n, p);
	}
}

static void sess_input(struct sess *s)
{
	struct buf *in = conn_input(s->c);
	struct line l;
	enum line_result r;

	while (!s->paused && (r = linereader_next(&s->lr, in, &l)) != LINE_MORE) {
		size_t size = l.size;

		if (r == LINE_TOOLONG) {
			conn_write_str(s->c, "TOOLONG\r\n");
			continue;
		}
		handle_line(s, l.ptr, l.len);
		/* STARTTLS and conn_close drop the buffered input. */
		if (in->len >= size)
			buf_consume(in, size);
		else
			buf_reset(in);
		if (s->compress) {
			/* The reply in clear, then DEFLATE both ways. */
			s->compress = false;
			conn_write_str(s->c, "OK compress\r\n");
			if (conn_compress_start(s->c) < 0)
				conn_write_str(s->c, "NO compress\r\n");
		}
	}
}

static void sess_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct sess *s = arg;

	switch (ev) {
	case CONN_DATAIN:
		sess_input(s);
		break;
	case CONN_LOWAT:
		srv.lowat_events++;
		produce(s);
		break;
	case CONN_TLS_READY:
		if (conn_info(c)->implicit_tls) {
			srv.implicit_seen = true;
		}
		break;
	case CONN_TIMEOUT:
		srv.timeouts++;
		conn_write_str(c, "TIMEOUT\r\n");
		conn_close(c);
		break;
	case CONN_CLOSED:
		srv.closed_events++;
		s->c = NULL;
		free_sess(s);
		break;
	}
}

static void accept_cb(struct conn *c, void *arg)
{
	struct sess *s = xcalloc(1, sizeof(*s));

	(void)arg;
	if (srv.accepted < ARRAY_SIZE(srv.ip_count))
		srv.ip_count[srv.accepted] = conn_count_for_ip(conn_info(c)->rip);
	srv.accepted++;
	if (srv.ip_limit && conn_count_for_ip(conn_info(c)->rip) > srv.ip_limit) {
		/* Rejected before any session exists. */
		free(s);
		conn_write_str(c, "BUSY\r\n");
		conn_close(c);
		return;
	}
	s->c = c;
	linereader_init(&s->lr, 1000);
	conn_set_handler(c, sess_cb, s);
	/* Implicit TLS: this greeting waits for the handshake. */
	conn_write_str(c, "HELLO\r\n");
}

static void done_cb(uv_async_t *a)
{
	uv_stop(a->loop);
}

/* Runs the loop until the client thread calls client_done(). */
static void run_client(void *(*fn)(void *), void *arg)
{
	pthread_t th;

	pthread_create(&th, NULL, fn, arg);
	uv_run(srv.loop, UV_RUN_DEFAULT);
	pthread_join(th, NULL);
	/* Let closes and lingering sockets finish. */
	for (int i = 0; i < 50 && conn_count() > 0; i++)
		uv_run(srv.loop, UV_RUN_NOWAIT), usleep(2000);
}

static void client_done(void)
{
	uv_async_send(&srv.done);
}

/* ---- client helpers (blocking) ---------------------------------------- */

static int connect_tcp_rcvbuf(int family, int port, int rcvbuf)
{
	int fd = socket(family, SOCK_STREAM, 0);

	int one = 1;

	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	if (family == AF_INET) {
		struct sockaddr_in a = {.sin_family = AF_INET};

		a.sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			goto bad;
	} else {
		struct sockaddr_in6 a = {.sin6_family = AF_INET6};

		a.sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, "::1", &a.sin6_addr);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			goto bad;
	}
	return fd;
bad:
	close(fd);
	return -1;
}

static int connect_tcp(int family, int port)
{
	return connect_tcp_rcvbuf(family, port, 0);
}

static int connect_unix(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_str(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t r = send(fd, s, n, MSG_NOSIGNAL);
		if (r <= 0)
			return;
		s += r;
		n -= (size_t)r;
	}
}

/* Reads one line (with its CRLF) into out; returns its length, 0 on EOF. */
static size_t recv_line(int fd, char *out, size_t max)
{
	size_t n = 0;

	while (n + 1 < max) {
		ssize_t r = recv(fd, out + n, 1, 0);
		if (r <= 0)
			break;
		if (out[n++] == '\n')
			break;
	}
	out[n] = '\0';
	return n;
}

/* Reads until EOF; returns the byte count; copies the tail into tail. */
static size_t recv_all(int fd, char *tail, size_t tailmax, size_t slice)
{
	char buf[65536];
	size_t total = 0;
	ssize_t r;

	if (slice > sizeof(buf))
		slice = sizeof(buf);
	while ((r = recv(fd, buf, slice, 0)) > 0) {
		total += (size_t)r;
		if (tail) {
			size_t k = (size_t)r < tailmax - 1 ? (size_t)r : tailmax - 1;
			memcpy(tail, buf + r - k, k);
			tail[k] = '\0';
		}
	}
	return total;
}

/* ---- scenarios -------------------------------------------------------- */

struct result {
	int port;
	int family;
	const char *path;
	char line[8][256];
	size_t bytes;
	bool eof;
	int err;
};

static void *client_echo(void *arg)
{
	struct result *r = arg;
	int fd = r->path ? connect_unix(r->path) : connect_tcp(r->family, r->port);

	if (fd < 0) {
		r->err = errno;
		client_done();
		return NULL;
	}
	recv_line(fd, r->line[0], sizeof(r->line[0]));        /* HELLO */
	send_str(fd, "hello\r\n");
	recv_line(fd, r->line[1], sizeof(r->line[1]));
	/* Split across reads, one byte at a time, bare LF, NUL inside. */
	send_str(fd, "sp");
	usleep(10000);
	send_str(fd, "lit\r");
	usleep(10000);
	send_str(fd, "\n");
	recv_line(fd, r->line[2], sizeof(r->line[2]));
	for (const char *p = "byte\n"; *p; p++) {
		send(fd, p, 1, MSG_NOSIGNAL);
		usleep(1000);
	}
	recv_line(fd, r->line[3], sizeof(r->line[3]));
	send_str(fd, "one\r\ntwo\nthree\r\n"); /* pipelined */
	recv_line(fd, r->line[4], sizeof(r->line[4]));
	recv_line(fd, r->line[5], sizeof(r->line[5]));
	recv_line(fd, r->line[6], sizeof(r->line[6]));
	send_str(fd, "QUIT\r\n");
	recv_line(fd, r->line[7], sizeof(r->line[7]));
	r->eof = recv_all(fd, NULL, 0, 1024) == 0;
	close(fd);
	client_done();
	return NULL;
}

static void test_echo(int family, int port, const char *path)
{
	struct result r = {.family = family, .port = port, .path = path};

	buf_reset(&srv.seen);
	run_client(client_echo, &r);
	CHECK(r.err == 0);
	CHECK_STR(r.line[0], "HELLO\r\n");
	CHECK_STR(r.line[1], "hello\r\n");
	CHECK_STR(r.line[2], "split\r\n");
	CHECK_STR(r.line[3], "byte\r\n");
	CHECK_STR(r.line[4], "one\r\n");
	CHECK_STR(r.line[5], "two\r\n");
	CHECK_STR(r.line[6], "three\r\n");
	CHECK_STR(r.line[7], "BYE\r\n");
	CHECK(r.eof);
}

static void *client_slow_big(void *arg)
{
	struct result *r = arg;
	/* A small receive window so the server really has to queue. */
	int fd = connect_tcp_rcvbuf(AF_INET, r->port, 4096);
	char tail[16];
	recv_line(fd, r->line[0], sizeof(r->line[0]));
	send_str(fd, "BIG 4000000\r\n");
	/* Read slowly at first, then the rest. */
	for (int i = 0; i < 20; i++) {
		char b[1024];
		ssize_t k = recv(fd, b, sizeof(b), 0);
		if (k > 0)
			r->bytes += (size_t)k;
		usleep(2000);
	}
	while (r->bytes < 4000000) {
		char b[65536];
		ssize_t k = recv(fd, b, sizeof(b), 0);
		if (k <= 0)
			break;
		r->bytes += (size_t)k;
	}
	send_str(fd, "BIGQUIT 3000000\r\n");
	r->bytes += recv_all(fd, tail, sizeof(tail), 65536);
	snprintf(r->line[1], sizeof(r->line[1]), "%s", tail);
	close(fd);
	client_done();
	return NULL;
}

/* A fast reader: a 50 MB stream at full speed, produced a watermark at a
 * time (no recursion, no unbounded queue). */
static void *client_fast_big(void *arg)
{
	struct result *r = arg;
	int fd = connect_tcp(AF_INET, r->port);

	recv_line(fd, r->line[0], sizeof(r->line[0]));
	send_str(fd, "BIG 50000000\r\n");
	while (r->bytes < 50000000) {
		char b[65536];
		ssize_t k = recv(fd, b, sizeof(b), 0);
		if (k <= 0)
			break;
		r->bytes += (size_t)k;
	}
	send_str(fd, "QUIT\r\n");
	recv_line(fd, r->line[1], sizeof(r->line[1]));
	close(fd);
	client_done();
	return NULL;
}

static void test_backpressure(int port)
{
	struct result f = {.port = port};

	struct result r = {.port = port};

	srv.max_pending = 0;
	srv.lowat_events = 0;
	run_client(client_slow_big, &r);
	CHECK_STR(r.line[0], "HELLO\r\n");
	/* Every byte arrives, including all of the output queued just
	 * before conn_close. */
	CHECK(r.bytes == 4000000 + 3000000);
	CHECK_STR(r.line[1], "yyyyyyyyyyyyyyy");
	/* Producing stopped at the high watermark each time. */
	CHECK(srv.max_pending > 0);
	CHECK(srv.max_pending <= HIGH + CHUNK);
	CHECK(srv.lowat_events > 0);

	srv.max_pending = 0;
	run_client(client_fast_big, &f);
	CHECK(f.bytes == 50000000);
	CHECK_STR(f.line[1], "BYE\r\n");
	CHECK(srv.max_pending <= HIGH + CHUNK);
}

static void *client_timeout_pause(void *arg)
{
	struct result *r = arg;
	int fd = connect_tcp(AF_INET, r->port);

	recv_line(fd, r->line[0], sizeof(r->line[0]));
	/* PAUSE, then two lines in the same packet: they are handled after
	 * the session resumes, with no further input. */
	send_str(fd, "PAUSE\r\nafter1\r\nafter2\r\n");
	recv_line(fd, r->line[1], sizeof(r->line[1]));
	recv_line(fd, r->line[2], sizeof(r->line[2]));
	recv_line(fd, r->line[3], sizeof(r->line[3]));
	send_str(fd, "TIMEOUT 30\r\n");
	recv_line(fd, r->line[4], sizeof(r->line[4]));
	r->eof = recv_all(fd, NULL, 0, 1024) == 0;
	close(fd);
	client_done();
	return NULL;
}

static void test_timeout_pause(int port)
{
	struct result r = {.port = port};
	unsigned t0 = srv.timeouts;

	run_client(client_timeout_pause, &r);
	CHECK_STR(r.line[1], "PAUSED\r\n");
	CHECK_STR(r.line[2], "after1\r\n");
	CHECK_STR(r.line[3], "after2\r\n");
	CHECK_STR(r.line[4], "TIMEOUT\r\n");
	CHECK(r.eof);
	CHECK(srv.timeouts == t0 + 1);
}

static void *client_half_close(void *arg)
{
	struct result *r = arg;
	int fd = connect_tcp(AF_INET, r->port);

	/* Like `printf 'cmd\r\n' | nc`: the answer still comes back. */
	send_str(fd, "last words\r\n");
	shutdown(fd, SHUT_WR);
	recv_line(fd, r->line[0], sizeof(r->line[0]));
	recv_line(fd, r->line[1], sizeof(r->line[1]));
	r->eof = recv_all(fd, NULL, 0, 1024) == 0;
	close(fd);
	client_done();
	return NULL;
}

/* The peer half-closes while the session has input paused: the buffered
 * command still runs after the resume, then the connection closes. */
static void *client_pause_eof(void *arg)
{
	struct result *r = arg;
	int fd = connect_tcp(AF_INET, r->port);

	recv_line(fd, r->line[0], sizeof(r->line[0]));
	send_str(fd, "PAUSE\r\npending\r\n");
	shutdown(fd, SHUT_WR);
	recv_line(fd, r->line[1], sizeof(r->line[1]));
	recv_line(fd, r->line[2], sizeof(r->line[2]));
	r->eof = recv_all(fd, NULL, 0, 1024) == 0;
	close(fd);
	client_done();
	return NULL;
}

static void *client_abort_toolong(void *arg)
{
	struct result *r = arg;
	int fd = connect_tcp(AF_INET, r->port);
	char big[3000];

	recv_line(fd, r->line[0], sizeof(r->line[0]));
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	send_str(fd, big);
	send_str(fd, "\r\nok\r\n");
	recv_line(fd, r->line[1], sizeof(r->line[1]));
	recv_line(fd, r->line[2], sizeof(r->line[2]));
	send_str(fd, "ABORT\r\n");
	r->bytes = recv_all(fd, NULL, 0, 1024);
	close(fd);
	client_done();
	return NULL;
}

/* Several clients at once: conn_count_for_ip counts each. */
static void *client_per_ip(void *arg)
{
	struct result *r = arg;
	int fds[3];
	char l[64];

	for (int i = 0; i < 3; i++) {
		fds[i] = connect_tcp(AF_INET, r->port);
		recv_line(fds[i], l, sizeof(l)); /* accepted by now */
	}
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	client_done();
	return NULL;
}

/* With a per-IP limit of 2, the third simultaneous client is turned away
 * by the acceptor. */
static void *client_ip_limit(void *arg)
{
	struct result *r = arg;
	int fds[3];

	for (int i = 0; i < 3; i++) {
		fds[i] = connect_tcp(AF_INET, r->port);
		recv_line(fds[i], r->line[i], sizeof(r->line[i]));
	}
	r->eof = recv_all(fds[2], NULL, 0, 1024) == 0;
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	client_done();
	return NULL;
}

/* Idle connections: what each costs in heap. */
#define N_IDLE 200
static _Atomic int go_close;
static void *client_idle_many(void *arg)
{
	struct result *r = arg;
	static int fds[N_IDLE];
	char l[64];

	for (int i = 0; i < N_IDLE; i++) {
		fds[i] = connect_tcp(AF_INET, r->port);
		send_str(fds[i], "x\r\n");
		recv_line(fds[i], l, sizeof(l));
		recv_line(fds[i], l, sizeof(l));
	}
	client_done();
	/* Main thread measures now; then wait for its word to close. */
	while (!go_close)
		usleep(1000);
	for (int i = 0; i < N_IDLE; i++)
		close(fds[i]);
	client_done();
	return NULL;
}

/* ---- TLS -------------------------------------------------------------- */

static unsigned n_listeners;
static char tmpdir[] = "/tmp/tandem-test-conn-XXXXXX";

static bool make_cert(struct config *cfg)
{
	char cmd[1024];
	FILE *f;

	if (mkdtemp(tmpdir) == NULL)
		return false;
	snprintf(cmd, sizeof(cmd), "%s/tmpl", tmpdir);
	f = fopen(cmd, "w");
	fputs("cn = localhost\nexpiration_days = 2\ntls_www_server\n"
	      "signing_key\nencryption_key\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "certtool --generate-privkey --key-type=ecdsa "
		 "--outfile %s/key.pem >/dev/null 2>&1 && "
		 "certtool --generate-self-signed --load-privkey %s/key.pem "
		 "--template %s/tmpl --outfile %s/cert.pem >/dev/null 2>&1 && "
		 "certtool --generate-privkey --key-type=ecdsa "
		 "--outfile %s/key2.pem >/dev/null 2>&1 && "
		 "certtool --generate-self-signed --load-privkey %s/key2.pem "
		 "--template %s/tmpl --outfile %s/cert2.pem >/dev/null 2>&1",
		 tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir,
		 tmpdir);
	if (system(cmd) != 0)
		return false;
	free(cfg->tls_cert);
	free(cfg->tls_key);
	cfg->tls_cert = xasprintf("%s/cert.pem", tmpdir);
	cfg->tls_key = xasprintf("%s/key.pem", tmpdir);
	return true;
}

struct tls_client {
	gnutls_session_t s;
	gnutls_certificate_credentials_t cred;
};

static int tls_client_start(struct tls_client *tc, int fd, const char *prio)
{
	int r;

	gnutls_certificate_allocate_credentials(&tc->cred);
	gnutls_init(&tc->s, GNUTLS_CLIENT);
	gnutls_priority_set_direct(tc->s, prio ? prio : "NORMAL", NULL);
	gnutls_credentials_set(tc->s, GNUTLS_CRD_CERTIFICATE, tc->cred);
	gnutls_transport_set_int(tc->s, fd);
	do
		r = gnutls_handshake(tc->s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	return r;
}

static void tls_client_end(struct tls_client *tc)
{
	gnutls_deinit(tc->s);
	gnutls_certificate_free_credentials(tc->cred);
}

static size_t tls_recv_line(struct tls_client *tc, char *out, size_t max)
{
	size_t n = 0;

	while (n + 1 < max) {
		ssize_t r = gnutls_record_recv(tc->s, out + n, 1);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r <= 0)
			break;
		if (out[n++] == '\n')
			break;
	}
	out[n] = '\0';
	return n;
}

static void tls_send_str(struct tls_client *tc, const char *s)
{
	gnutls_record_send(tc->s, s, strlen(s));
}

static void *client_implicit_tls(void *arg)
{
	struct result *r = arg;
	int fd = connect_tcp(AF_INET, r->port);
	struct tls_client tc;

	r->err = tls_client_start(&tc, fd, NULL);
	if (r->err == 0) {
		tls_recv_line(&tc, r->line[0], sizeof(r->line[0]));
		tls_send_str(&tc, "secret\r\n");
		tls_recv_line(&tc, r->line[1], sizeof(r->line[1]));
		/* Bulk through TLS: the watermark logic on ciphertext. */
		tls_send_str(&tc, "BIG 300000\r\n");
		for (;;) {
			char b[16384];
			ssize_t k = gnutls_record_recv(tc.s, b, sizeof(b));
			if (k <= 0)
				break;
			r->bytes += (size_t)k;
			if (r->bytes >= 300000)
				break;
		}
		tls_send_str(&tc, "QUIT\r\n");
		tls_recv_line(&tc, r->line[2], sizeof(r->line[2]));
		/* close_notify, then EOF */
		char b[16];
		r->eof = gnutls_record_recv(tc.s, b, sizeof(b)) == 0;
	}
	tls_client_end(&tc);
	close(fd);
	client_done();
	return NULL;
}

static void *client_starttls(void *arg)
{
	struct result *r = arg;
	int fd = connect_tcp(AF_INET, r->port);
	struct tls_client tc;

	recv_line(fd, r->line[0], sizeof(r->line[0]));
	/* The injection of CVE-2011-0411: a command pipelined after
	 * STARTTLS in the same packet, in plaintext. */
	send_str(fd, "STARTTLS\r\nINJECTED\r\n");
	recv_line(fd, r->line[1], sizeof(r->line[1]));
	r->err = tls_client_start(&tc, fd, NULL);
	if (r->err == 0) {
		tls_send_str(&tc, "after\r\n");
		tls_recv_line(&tc, r->line[2], sizeof(r->line[2]));
		tls_send_str(&tc, "QUIT\r\n");
		tls_recv_line(&tc, r->line[3], sizeof(r->line[3]));
	}
	tls_client_end(&tc);
	close(fd);
	client_done();
	return NULL;
}

static void *client_renegotiate(void *arg)
{
	struct result *r = arg;
	int fd = connect_tcp(AF_INET, r->port);
	struct tls_client tc;
	int rr;

	/* TLS 1.2: the version where a client can ask to renegotiate. */
	r->err = tls_client_start(&tc, fd, "NORMAL:-VERS-ALL:+VERS-TLS1.2");
	if (r->err == 0) {
		tls_recv_line(&tc, r->line[0], sizeof(r->line[0]));
		do
			rr = gnutls_handshake(tc.s);
		while (rr < 0 && !gnutls_error_is_fatal(rr));
		r->line[1][0] = rr == 0 ? 'Y' : 'N'; /* renegotiated? */
		tls_send_str(&tc, "still there\r\n");
		r->bytes = tls_recv_line(&tc, r->line[2], sizeof(r->line[2]));
	}
	tls_client_end(&tc);
	close(fd);
	client_done();
	return NULL;
}

/* Heap per idle TLS connection on the server: the clients run in a child
 * process so their memory is not counted. */
#define N_TLS_IDLE 40
static uv_pipe_t sig_pipe;
static char sig_byte[8];

static void sig_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	*b = uv_buf_init(sig_byte, sizeof(sig_byte));
}

static void sig_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	uv_read_stop(s);
	uv_stop(s->loop);
}

static void measure_tls_idle(int port)
{
	int up[2], down[2];
	pid_t pid;
	struct mallinfo2 before, after;
	size_t per;

	if (pipe(up) < 0 || pipe(down) < 0)
		return;
	malloc_trim(0);
	before = mallinfo2();
	pid = fork();
	if (pid == 0) {
		static int fds[N_TLS_IDLE];
		static struct tls_client tc[N_TLS_IDLE];
		char l[64], c;

		close(up[0]);
		close(down[1]);
		for (int i = 0; i < N_TLS_IDLE; i++) {
			fds[i] = connect_tcp(AF_INET, port);
			if (tls_client_start(&tc[i], fds[i], NULL) != 0)
				_exit(1);
			tls_recv_line(&tc[i], l, sizeof(l));
		}
		if (write(up[1], "k", 1) != 1)
			_exit(1);
		if (read(down[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	uv_pipe_init(srv.loop, &sig_pipe, 0);
	uv_pipe_open(&sig_pipe, up[0]);
	uv_read_start((uv_stream_t *)&sig_pipe, sig_alloc, sig_read);
	uv_run(srv.loop, UV_RUN_DEFAULT);
	after = mallinfo2();
	per = (after.uordblks - before.uordblks) / N_TLS_IDLE;
	printf("heap per idle TLS connection: %zu bytes\n", per);
	CHECK(conn_count() == N_TLS_IDLE);
	CHECK(per < 40 * 1024);
	close(down[1]);
	uv_close((uv_handle_t *)&sig_pipe, NULL);
	for (int i = 0; i < 500 && conn_count() > 0; i++)
		uv_run(srv.loop, UV_RUN_NOWAIT), usleep(2000);
	CHECK(conn_count() == 0);
	waitpid(pid, NULL, 0);
}

/* SIGHUP reload: a live session keeps the credentials it started with,
 * a new one gets the new certificate. */
static struct config *reload_cfg;
static _Atomic int reloaded;
static uv_async_t reload_async;

static void reload_cb(uv_async_t *a)
{
	struct buf err = BUF_INIT;

	free(reload_cfg->tls_cert);
	free(reload_cfg->tls_key);
	reload_cfg->tls_cert = xasprintf("%s/cert2.pem", tmpdir);
	reload_cfg->tls_key = xasprintf("%s/key2.pem", tmpdir);
	reloaded = conn_tls_load(reload_cfg, &err) == 0 ? 1 : -1;
	buf_release(&err);
}

static bool peer_cert(struct tls_client *tc, struct buf *out)
{
	unsigned n = 0;
	const gnutls_datum_t *d = gnutls_certificate_get_peers(tc->s, &n);

	if (d == NULL || n == 0)
		return false;
	buf_append(out, d[0].data, d[0].size);
	return true;
}

/* Plaintext to an implicit-TLS port: an alert or nothing, then EOF; the
 * session never sees the bytes. */
static void *client_garbage_tls(void *arg)
{
	struct result *r = arg;
	int fd = connect_tcp(AF_INET, r->port);

	send_str(fd, "GET / HTTP/1.0\r\n\r\n");
	r->bytes = recv_all(fd, NULL, 0, 1024);
	r->eof = true;
	close(fd);
	client_done();
	return NULL;
}

/* A reconnecting client resumes its session with a ticket. */
static void *client_resume(void *arg)
{
	struct result *r = arg;
	gnutls_datum_t sd = {NULL, 0};

	for (int i = 0; i < 2; i++) {
		int fd = connect_tcp(AF_INET, r->port);
		struct tls_client tc;
		char l[64];

		gnutls_certificate_allocate_credentials(&tc.cred);
		gnutls_init(&tc.s, GNUTLS_CLIENT);
		gnutls_priority_set_direct(tc.s, "NORMAL", NULL);
		gnutls_credentials_set(tc.s, GNUTLS_CRD_CERTIFICATE, tc.cred);
		gnutls_transport_set_int(tc.s, fd);
		if (sd.data)
			gnutls_session_set_data(tc.s, sd.data, sd.size);
		if (gnutls_handshake(tc.s) == 0) {
			/* TLS 1.3 tickets come after the handshake. */
			tls_recv_line(&tc, l, sizeof(l));
			r->line[i][0] = gnutls_session_is_resumed(tc.s) ? 'R' : 'F';
			if (i == 0)
				gnutls_session_get_data2(tc.s, &sd);
		}
		tls_send_str(&tc, "QUIT\r\n");
		tls_recv_line(&tc, l, sizeof(l));
		tls_client_end(&tc);
		close(fd);
	}
	gnutls_free(sd.data);
	client_done();
	return NULL;
}

static void *client_reload(void *arg)
{
	struct result *r = arg;
	int fa = connect_tcp(AF_INET, r->port), fb;
	struct tls_client a, b;
	struct buf ca = BUF_INIT, cb = BUF_INIT;

	if (tls_client_start(&a, fa, NULL) != 0)
		goto out;
	tls_recv_line(&a, r->line[0], sizeof(r->line[0]));
	peer_cert(&a, &ca);
	uv_async_send(&reload_async);
	while (reloaded == 0)
		usleep(1000);
	/* The old session goes on, on the old credentials. */
	tls_send_str(&a, "old\r\n");
	tls_recv_line(&a, r->line[1], sizeof(r->line[1]));
	fb = connect_tcp(AF_INET, r->port);
	if (tls_client_start(&b, fb, NULL) == 0) {
		tls_recv_line(&b, r->line[2], sizeof(r->line[2]));
		peer_cert(&b, &cb);
		r->bytes = ca.len && cb.len &&
			   (ca.len != cb.len || memcmp(ca.data, cb.data, ca.len));
		tls_send_str(&b, "QUIT\r\n");
		tls_recv_line(&b, r->line[3], sizeof(r->line[3]));
	}
	tls_client_end(&b);
	close(fb);
	tls_send_str(&a, "QUIT\r\n");
	tls_recv_line(&a, r->line[4], sizeof(r->line[4]));
out:
	tls_client_end(&a);
	close(fa);
	buf_release(&ca);
	buf_release(&cb);
	client_done();
	return NULL;
}

static void test_compress(int port, bool tls);

static void test_tls(void)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	struct result r;
	int tls_port, plain_port;
	size_t mark;

	config_init(&cfg);
	if (!make_cert(&cfg)) {
		fprintf(stderr, "certtool failed: TLS tests skipped\n");
		CHECK(!"certtool");
		config_release(&cfg);
		return;
	}
	/* The default priority string must be valid and usable. */
	CHECK(conn_tls_load(&cfg, &err) == 0);
	if (err.len)
		fprintf(stderr, "%s\n", err.data);
	CHECK(conn_tls_available());

	CHECK(conn_listen(srv.loop, "127.0.0.1:0", true, accept_cb, NULL,
			  &err) == 0);
	CHECK(conn_listen(srv.loop, "127.0.0.1:0", false, accept_cb, NULL,
			  &err) == 0);
	tls_port = conn_listen_port(n_listeners++);
	plain_port = conn_listen_port(n_listeners++);
	CHECK(tls_port > 0 && plain_port > 0);

	memset(&r, 0, sizeof(r));
	r.port = tls_port;
	srv.saw_tls_line = false;
	run_client(client_implicit_tls, &r);
	CHECK(r.err == 0);
	CHECK_STR(r.line[0], "HELLO\r\n");
	CHECK_STR(r.line[1], "T:secret\r\n");
	CHECK(r.bytes == 300000);
	CHECK_STR(r.line[2], "BYE\r\n");
	CHECK(r.eof);
	CHECK(srv.implicit_seen);
	CHECK(srv.saw_tls_line);

	measure_tls_idle(tls_port);

	memset(&r, 0, sizeof(r));
	r.port = plain_port;
	mark = srv.seen.len;
	run_client(client_starttls, &r);
	CHECK_STR(r.line[0], "HELLO\r\n");
	CHECK_STR(r.line[1], "OK begin TLS\r\n");
	CHECK(r.err == 0);
	CHECK_STR(r.line[2], "T:after\r\n");
	CHECK_STR(r.line[3], "BYE\r\n");
	/* The server never read the injected command. */
	CHECK(strstr(srv.seen.data + mark, "INJECTED") == NULL);
	CHECK(strstr(srv.seen.data + mark, "after\n") != NULL);

	memset(&r, 0, sizeof(r));
	r.port = tls_port;
	mark = srv.seen.len;
	run_client(client_renegotiate, &r);
	CHECK(r.err == 0);
	CHECK_STR(r.line[0], "HELLO\r\n");
	CHECK(r.line[1][0] == 'N');   /* renegotiation refused */
	CHECK(r.bytes == 0);          /* and the connection is gone */
	CHECK(strstr(srv.seen.data + mark, "still there") == NULL);

	memset(&r, 0, sizeof(r));
	r.port = tls_port;
	run_client(client_resume, &r);
	CHECK(r.line[0][0] == 'F');
	CHECK(r.line[1][0] == 'R');

	memset(&r, 0, sizeof(r));
	r.port = tls_port;
	mark = srv.seen.len;
	run_client(client_garbage_tls, &r);
	CHECK(r.eof);
	CHECK(r.bytes < 64); /* at most an alert record */
	CHECK(srv.seen.len == mark);

	memset(&r, 0, sizeof(r));
	r.port = tls_port;
	reload_cfg = &cfg;
	uv_async_init(srv.loop, &reload_async, reload_cb);
	run_client(client_reload, &r);
	uv_close((uv_handle_t *)&reload_async, NULL);
	CHECK(reloaded == 1);
	CHECK_STR(r.line[0], "HELLO\r\n");
	CHECK_STR(r.line[1], "T:old\r\n");
	CHECK_STR(r.line[2], "HELLO\r\n");
	CHECK(r.bytes == 1); /* the new connection saw the new certificate */
	CHECK_STR(r.line[3], "BYE\r\n");
	CHECK_STR(r.line[4], "BYE\r\n");

	test_compress(tls_port, true);

	/* Reload with no cert: TLS off for new connections. */
	free(cfg.tls_cert);
	cfg.tls_cert = xstrdup("");
	CHECK(conn_tls_load(&cfg, &err) == 0);
	CHECK(!conn_tls_available());
	free(cfg.tls_cert);
	cfg.tls_cert = xstrdup("/nonexistent/cert.pem");
	buf_reset(&err);
	CHECK(conn_tls_load(&cfg, &err) < 0);
	CHECK(strstr(err.data, "/nonexistent/cert.pem") != NULL);
	buf_reset(&err);
	free(cfg.tls_cert);
	cfg.tls_cert = xasprintf("%s/cert.pem", tmpdir);
	free(cfg.tls_key);
	cfg.tls_key = xasprintf("%s/key.pem", tmpdir);
	free(cfg.tls_priority);
	cfg.tls_priority = xstrdup("NORMAL:+BOGUS-THING");
	CHECK(conn_tls_load(&cfg, &err) < 0);
	CHECK(strstr(err.data, "priority") != NULL);
	buf_release(&err);
	config_release(&cfg);
	{
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
}

/* ---- COMPRESS=DEFLATE ------------------------------------------------ */

/* A blocking client end of a compressed connection, plain or TLS. */
struct zc {
	int fd;
	struct tls_client *tc;
	z_stream d, i;
	struct buf dec;   /* inflated; read up to off */
	size_t off;
	bool bad;
};

/* Drops n read bytes. A few KB of DEFLATE can inflate to megabytes of
 * short lines: moving the rest down per line would be quadratic (minutes
 * under ASan), so the buffer is compacted only when half of it is read. */
static void zc_drop(struct zc *z, size_t n)
{
	z->off += n;
	if (z->off == z->dec.len) {
		buf_reset(&z->dec);
		z->off = 0;
	} else if (z->off >= 65536 && z->off * 2 >= z->dec.len) {
		buf_consume(&z->dec, z->off);
		z->off = 0;
	}
}

static ssize_t zc_raw_recv(struct zc *z, void *b, size_t n)
{
	ssize_t r;

	if (!z->tc)
		return recv(z->fd, b, n, 0);
	do
		r = gnutls_record_recv(z->tc->s, b, n);
	while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
	return r;
}

static void zc_raw_send(struct zc *z, const void *p, size_t n)
{
	if (!z->tc) {
		while (n) {
			ssize_t r = send(z->fd, p, n, MSG_NOSIGNAL);
			if (r <= 0)
				return;
			p = (const char *)p + r;
			n -= (size_t)r;
		}
		return;
	}
	while (n) {
		ssize_t r = gnutls_record_send(z->tc->s, p, n);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r <= 0)
			return;
		p = (const char *)p + r;
		n -= (size_t)r;
	}
}

/* Deflates p with Z_SYNC_FLUSH and sends it. */
static void zc_send(struct zc *z, const void *p, size_t n)
{
	char out[16384];

	z->d.next_in = (Bytef *)p;
	z->d.avail_in = (uInt)n;
	do {
		z->d.next_out = (Bytef *)out;
		z->d.avail_out = sizeof(out);
		deflate(&z->d, Z_SYNC_FLUSH);
		zc_raw_send(z, out, sizeof(out) - z->d.avail_out);
	} while (z->d.avail_out == 0);
}

/* Reads and inflates more; false on EOF or a bad stream. */
static bool zc_more(struct zc *z)
{
	char raw[16384];
	ssize_t k = zc_raw_recv(z, raw, sizeof(raw));

	if (k <= 0)
		return false;
	z->i.next_in = (Bytef *)raw;
	z->i.avail_in = (uInt)k;
	while (z->i.avail_in > 0) {
		int r;

		z->i.next_out = (Bytef *)buf_space(&z->dec, 65536);
		z->i.avail_out = 65536;
		r = inflate(&z->i, Z_SYNC_FLUSH);
		buf_commit(&z->dec, 65536 - z->i.avail_out);
		if (r != Z_OK && r != Z_BUF_ERROR) {
			z->bad = true;
			return false;
		}
	}
	return true;
}

static size_t zc_recv_line(struct zc *z, char *out, size_t max)
{
	char *nl;
	size_t n;

	while ((nl = buf_find(&z->dec, z->off, '\n')) == NULL)
		if (!zc_more(z)) {
			out[0] = '\0';
			return 0;
		}
	n = (size_t)(nl - (z->dec.data + z->off)) + 1;
	snprintf(out, max, "%.*s", (int)n, z->dec.data + z->off);
	zc_drop(z, n);
	return n;
}

/* Reads n inflated bytes; returns how many were 'x'. */
static size_t zc_recv_x(struct zc *z, size_t n)
{
	size_t got = 0, xs = 0;

	while (got < n) {
		size_t k;

		size_t avail = z->dec.len - z->off;

		if (avail == 0 && !zc_more(z))
			break;
		avail = z->dec.len - z->off;
		k = avail < n - got ? avail : n - got;
		for (size_t j = 0; j < k; j++)
			xs += z->dec.data[z->off + j] == 'x';
		zc_drop(z, k);
		got += k;
	}
	return xs;
}

static void *client_compress(void *arg)
{
	struct result *r = arg;
	struct tls_client tc;
	struct zc z = {.fd = connect_tcp(AF_INET, r->port)};
	static char bomb[4 * 1024 * 1024];
	size_t lines = 0;

	if (r->path) { /* "tls" */
		r->err = tls_client_start(&tc, z.fd, NULL);
		z.tc = &tc;
		if (r->err) {
			tls_client_end(&tc);
			close(z.fd);
			client_done();
			return NULL;
		}
		tls_recv_line(&tc, r->line[0], sizeof(r->line[0]));
	} else {
		recv_line(z.fd, r->line[0], sizeof(r->line[0]));
	}
	deflateInit2(&z.d, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
		     Z_DEFAULT_STRATEGY);
	inflateInit2(&z.i, -15);
	/* The command and, in the same write, the first compressed line:
	 * the server must not read it in clear. */
	{
		char out[256];

		z.d.next_in = (Bytef *)"first\r\n";
		z.d.avail_in = 7;
		z.d.next_out = (Bytef *)out;
		z.d.avail_out = sizeof(out);
		deflate(&z.d, Z_SYNC_FLUSH);
		memcpy(bomb, "COMPRESS\r\n", 10);
		memcpy(bomb + 10, out, sizeof(out) - z.d.avail_out);
		zc_raw_send(&z, bomb, 10 + sizeof(out) - z.d.avail_out);
	}
	/* The OK in clear, a byte at a time: what follows is compressed. */
	if (z.tc)
		tls_recv_line(&tc, r->line[1], sizeof(r->line[1]));
	else
		recv_line(z.fd, r->line[1], sizeof(r->line[1]));
	zc_recv_line(&z, r->line[2], sizeof(r->line[2]));
	/* Bulk output through deflate, with the watermarks. */
	zc_send(&z, "BIG 3000000\r\n", 13);
	r->bytes = zc_recv_x(&z, 3000000);
	/* 4 MB of short lines in a few KB of DEFLATE: inflated in steps,
	 * every line delivered. */
	for (size_t i = 0; i + 8 <= sizeof(bomb); i += 8)
		memcpy(bomb + i, "abcdef\r\n", 8);
	zc_send(&z, bomb, sizeof(bomb));
	for (size_t i = 0; i < sizeof(bomb) / 8; i++) {
		char l[64];

		if (zc_recv_line(&z, l, sizeof(l)) == 0)
			break;
		lines += strcmp(l, z.tc ? "T:abcdef\r\n" : "abcdef\r\n") == 0;
	}
	snprintf(r->line[3], sizeof(r->line[3]), "%zu", lines);
	/* A second COMPRESS on the same connection is refused. */
	zc_send(&z, "COMPRESS\r\n", 10);
	zc_recv_line(&z, r->line[4], sizeof(r->line[4]));
	zc_recv_line(&z, r->line[5], sizeof(r->line[5]));
	zc_send(&z, "QUIT\r\n", 6);
	zc_recv_line(&z, r->line[6], sizeof(r->line[6]));
	r->eof = !zc_more(&z) && !z.bad;
	deflateEnd(&z.d);
	inflateEnd(&z.i);
	buf_release(&z.dec);
	if (z.tc)
		tls_client_end(&tc);
	close(z.fd);
	client_done();
	return NULL;
}

/* Garbage after COMPRESS: the connection is dropped, the session never
 * sees a line. */
static void *client_compress_garbage(void *arg)
{
	struct result *r = arg;
	int fd = connect_tcp(AF_INET, r->port);

	recv_line(fd, r->line[0], sizeof(r->line[0]));
	send_str(fd, "COMPRESS\r\n");
	recv_line(fd, r->line[1], sizeof(r->line[1]));
	send_str(fd, "\xff\xff\xff\xffGARBAGE\r\n");
	r->bytes = recv_all(fd, NULL, 0, 1024);
	close(fd);
	client_done();
	return NULL;
}

static void test_compress(int port, bool tls)
{
	struct result r = {.port = port, .path = tls ? "tls" : NULL};
	size_t mark = srv.seen.len;

	run_client(client_compress, &r);
	CHECK(r.err == 0);
	CHECK_STR(r.line[0], "HELLO\r\n");
	CHECK_STR(r.line[1], "OK compress\r\n");
	CHECK_STR(r.line[2], tls ? "T:first\r\n" : "first\r\n");
	CHECK(r.bytes == 3000000);
	CHECK_STR(r.line[3], "524288");
	CHECK_STR(r.line[4], "OK compress\r\n");
	CHECK_STR(r.line[5], "NO compress\r\n");
	CHECK_STR(r.line[6], "BYE\r\n");
	CHECK(r.eof);
	CHECK(strstr(srv.seen.data + mark, "COMPRESS\nfirst\nBIG 3000000\nabcdef\n"));
	CHECK(conn_count() == 0);
	if (tls)
		return;
	memset(&r, 0, sizeof(r));
	r.port = port;
	mark = srv.seen.len;
	run_client(client_compress_garbage, &r);
	CHECK_STR(r.line[1], "OK compress\r\n");
	CHECK(r.bytes == 0);
	CHECK(strstr(srv.seen.data + mark, "GARBAGE") == NULL);
}

int main(void)
{
	struct buf err = BUF_INIT;
	struct result r;
	char sockpath[108];
	int port, port6;

	log_init("test-conn", LOG_LEVEL_WARN, false);
	daemon_raise_nofile();
	srv.loop = uv_default_loop();
	uv_async_init(srv.loop, &srv.done, done_cb);
	uv_unref((uv_handle_t *)&srv.done);
	conn_set_watermarks(HIGH, LOW);

	/* Bad listen strings fail with a message, not a crash. */
	CHECK(conn_listen(srv.loop, "127.0.0.1", false, accept_cb, NULL,
			  &err) < 0);
	CHECK(err.len > 0);
	buf_reset(&err);
	CHECK(conn_listen_port(0) == -1);

	CHECK(conn_listen(srv.loop, "127.0.0.1:0", false, accept_cb, NULL,
			  &err) == 0);
	port = conn_listen_port(n_listeners++);
	CHECK(port > 0);
	snprintf(sockpath, sizeof(sockpath), "/tmp/tandem-test-conn-%d.sock",
		 (int)getpid());
	{
		char spec[140];
		snprintf(spec, sizeof(spec), "unix:%s", sockpath);
		CHECK(conn_listen(srv.loop, spec, false, accept_cb, NULL,
				  &err) == 0);
	}
	CHECK(conn_listen_port(n_listeners++) == 0);
	port6 = -1;
	if (conn_listen(srv.loop, "[::1]:0", false, accept_cb, NULL, &err) == 0)
		port6 = conn_listen_port(n_listeners++);
	else
		fprintf(stderr, "no IPv6: %s\n", err.data);
	buf_reset(&err);

	test_echo(AF_INET, port, NULL);
	CHECK(strstr(srv.seen.data, "hello\nsplit\nbyte\none\ntwo\nthree\n"));
	test_echo(AF_UNIX, 0, sockpath);
	if (port6 > 0)
		test_echo(AF_INET6, port6, NULL);

	test_backpressure(port);
	test_timeout_pause(port);

	memset(&r, 0, sizeof(r));
	r.port = port;
	run_client(client_half_close, &r);
	CHECK_STR(r.line[0], "HELLO\r\n");
	CHECK_STR(r.line[1], "last words\r\n");
	CHECK(r.eof);

	memset(&r, 0, sizeof(r));
	r.port = port;
	run_client(client_pause_eof, &r);
	CHECK_STR(r.line[1], "PAUSED\r\n");
	CHECK_STR(r.line[2], "pending\r\n");
	CHECK(r.eof);

	memset(&r, 0, sizeof(r));
	r.port = port;
	run_client(client_abort_toolong, &r);
	CHECK_STR(r.line[1], "TOOLONG\r\n");
	CHECK_STR(r.line[2], "ok\r\n");
	CHECK(r.bytes == 0); /* aborted: queued output dropped */

	/* Per-IP counting: 3 simultaneous clients count 1, 2, 3. */
	memset(&r, 0, sizeof(r));
	r.port = port;
	srv.accepted = 0;
	run_client(client_per_ip, &r);
	CHECK(srv.accepted == 3);
	CHECK(srv.ip_count[0] == 1);
	CHECK(srv.ip_count[1] == 2);
	CHECK(srv.ip_count[2] == 3);
	CHECK(conn_count_for_ip("127.0.0.1") == 0);
	CHECK(conn_count() == 0);

	memset(&r, 0, sizeof(r));
	r.port = port;
	srv.ip_limit = 2;
	run_client(client_ip_limit, &r);
	srv.ip_limit = 0;
	CHECK_STR(r.line[0], "HELLO\r\n");
	CHECK_STR(r.line[1], "HELLO\r\n");
	CHECK_STR(r.line[2], "BUSY\r\n");
	CHECK(r.eof);
	CHECK(conn_count_for_ip("127.0.0.1") == 0);
	CHECK(conn_count() == 0);

	/* Heap per idle plain connection (conn + session + per-IP entry). */
	{
		struct mallinfo2 before, after;
		pthread_t th;
		size_t per;

		memset(&r, 0, sizeof(r));
		r.port = port;
		malloc_trim(0);
		before = mallinfo2();
		pthread_create(&th, NULL, client_idle_many, &r);
		uv_run(srv.loop, UV_RUN_DEFAULT);
		after = mallinfo2();
		per = (after.uordblks - before.uordblks) / N_IDLE;
		printf("heap per idle plain connection: %zu bytes\n", per);
		CHECK(conn_count() == N_IDLE);
		CHECK(per < 2048);
		go_close = 1;
		uv_run(srv.loop, UV_RUN_DEFAULT);
		pthread_join(th, NULL);
		for (int i = 0; i < 100 && conn_count() > 0; i++)
			uv_run(srv.loop, UV_RUN_NOWAIT), usleep(2000);
		CHECK(conn_count() == 0);
	}

	test_compress(port, false);
	test_tls();

	conn_listen_close_all();
	uv_run(srv.loop, UV_RUN_NOWAIT);
	unlink(sockpath);
	buf_release(&err);
	buf_release(&srv.seen);
	return t_done();
}
