/* conn.c - listeners and client connections over libuv, with GnuTLS.
 *
 * A connection owns (memory grouped by lifetime):
 *   - two libuv handles (the stream and one timer), embedded, freed after
 *     both close callbacks;
 *   - the decrypted input buffer `in`, read into directly by libuv (plain)
 *     or filled by gnutls_record_recv (TLS); released whenever it is empty;
 *   - the output queue: `out` collects wire bytes, `wb` is the one buffer
 *     libuv is writing (uv_write needs its bytes to stay put, so the two
 *     swap); both released when drained;
 *   - for TLS only, a struct conn_tls: the session, the credentials it
 *     started with (refcounted), ciphertext read but not yet pulled, and
 *     plaintext written but not yet encrypted.
 * An idle plain connection holds no buffer at all: just this struct.
 *
 * Writes are batched: conn_write() only appends; the bytes are written
 * (uv_try_write first, then uv_write for the rest) after the current
 * callback into the session returns, or from an idle callback when the
 * write came from elsewhere (a work-done callback). So a session that
 * writes a hundred lines costs one system call.
 *
 * Events never reach the session from inside a conn_* call it made: they
 * come from libuv callbacks (read, write, timer, close, idle), so a session
 * may free itself on CONN_CLOSED without its caller's frame pointing at it.
 *
 * Closing: conn_close() flushes (bounded by CLOSE_FLUSH_MS), sends a TLS
 * close_notify, shuts the socket down for writing and reports CLOSED; the
 * socket then lingers up to LINGER_MS reading and discarding, so unread
 * pipelined input does not make the kernel answer with a RST that would
 * destroy the last reply in flight. conn_abort() closes at once.
 */
#include "conn.h"
#include "buf.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "shared.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK (16384 - 1) /* with the NUL: 16 KiB buffers */
#define TLS_RECORD 16384
#define TLS_OVERHEAD 64 /* bytes a record adds: header, nonce, tag, padding */
#define CLOSE_FLUSH_MS 30000
#define LINGER_MS 2000
#define MAX_LISTEN_ITEMS 32
#define LISTEN_BACKLOG 4096 /* capped by net.core.somaxconn */
#define Q_NEXT 1
#define Q_PASS 2
#define Z_CHUNK 16384     /* deflate/inflate step; plaintext queued before
			   * a deflate pass */
#define Z_ROUNDS 16       /* inflate steps per dispatch before yielding */
#define TRIM_IDLE_MS 1000 /* no connection for this long: give freed heap
			   * back to the system */

enum conn_state {
	ST_OPEN,    /* session attached, reading/writing */
	ST_CLOSING, /* conn_close: flushing output, then shutdown */
	ST_LINGER,  /* CLOSED reported; discarding input until EOF */
	ST_DEAD,    /* uv_close called on both handles */
};

struct tls_creds {
	gnutls_certificate_credentials_t cert;
	gnutls_priority_t prio;
	unsigned refs;
};

struct conn_tls {
	gnutls_session_t s;
	struct tls_creds *creds;
	struct buf cin;    /* ciphertext read, not yet pulled by GnuTLS */
	size_t cin_off;    /* bytes of cin already pulled */
	struct buf plain;  /* plaintext written, not yet encrypted */
	bool hs_done;
};

/* COMPRESS=DEFLATE (RFC 4978): raw DEFLATE both ways, between the session
 * and TLS (plaintext -> deflate -> TLS -> socket). zlib's cost per
 * compressed connection is fixed by deflateInit2(windowBits -15,
 * memLevel 8): 2^17 + 2^17 = 256 KiB for deflate, plus 32 KiB window and
 * ~7 KiB state for inflate; freed on close. Inflate output is produced in
 * Z_CHUNK steps, each delivered to the session (CONN_DATAIN) before the
 * next, so a decompression bomb is no different from a fast sender. */
struct conn_z {
	z_stream d, i;
	struct buf plain; /* written by the session, not yet deflated */
	struct buf zin;   /* compressed input not yet inflated */
	bool dirty;       /* deflated without a flush since the last sync */
	bool ended;       /* the peer ended its deflate stream */
};

struct conn {
	/* Process lifetime of the connection: libuv handles. */
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	uv_timer_t timer;
	union {
		uv_write_t write;
		uv_shutdown_t shutdown;
	} req;

	/* Session. */
	conn_cb *cb;
	void *arg;
	struct conn_info info;

	/* Buffers (see the top of the file). */
	struct buf in, out, wb;
	size_t wb_off; /* bytes of wb already written by uv_try_write */
	struct conn_tls *tls;
	struct conn_z *z;

	/* Links: all connections; per-IP count; deferred work. */
	struct conn *prev, *next;
	struct conn *qprev, *qnext;

	enum conn_state state;
	unsigned char handles;  /* libuv handles not yet closed */
	unsigned depth;         /* nesting of calls into the session */
	bool reading;           /* uv_read_start active */
	bool paused;            /* session paused input */
	bool eof;               /* peer finished sending */
	bool writing;           /* uv_write in flight (wb) */
	bool hiwat;             /* went above the high watermark */
	unsigned char queued;   /* 0, or which deferred list: Q_NEXT/Q_PASS */
	bool want_datain;       /* deferred: dispatch buffered input */
	bool want_lowat;        /* deferred: report CONN_LOWAT */
	bool closed_sent;       /* CONN_CLOSED delivered */
	bool counted;           /* registered in the per-IP table */
	bool is_unix;
};

struct listener {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	bool tls, is_unix;
	bool held;     /* fds opened, not yet in a loop (workers) */
	int port;
	char *path;
	conn_accept_cb *cb;
	void *arg;
	struct listener *next;
	int fds[SHARED_WORKERS_MAX]; /* held: one per worker, or one shared */
	unsigned nfds;
};

static struct {
	size_t high, low;
	struct conn *all;        /* every connection not yet freed */
	unsigned open;           /* connections before CLOSED */
	struct conn *q[3];       /* deferred work: [Q_NEXT] for the next idle
				  * pass, [Q_PASS] the pass running now */
	uv_idle_t idle;
	uv_loop_t *idle_loop;
	uv_timer_t trim;         /* TRIM_IDLE_MS after the last close */
	bool trim_init;
	struct listener *listeners, **ltail;
	bool stopping;           /* conn_close_all was called */
	struct tls_creds *creds; /* current; NULL = TLS off */
	gnutls_datum_t ticket_key; /* session tickets (RFC 5077, 8446 4.6.1):
				    * reconnecting clients skip the full
				    * handshake; made once per process */
	char scratch[4096];      /* linger reads land here */
} g = {
	.high = 64 * 1024,
	.low = 16 * 1024,
	.ltail = &g.listeners,
};

static void conn_flush(struct conn *c);
static size_t pending(const struct conn *c);
static void start_reading(struct conn *c);
static void final_close(struct conn *c);
static int z_dispatch(struct conn *c);

/* ---- per-IP table ---------------------------------------------------- */

/* The counts are the daemon's, over every worker (core/shared.h). */
static void ip_add(const char *ip, int delta)
{
	shared_count_add(SHARED_IP, ip, delta);
}

unsigned conn_count_for_ip(const char *rip)
{
	return shared_count_get(SHARED_IP, rip);
}

unsigned conn_count(void)
{
	return g.open;
}

/* ---- TLS credentials ------------------------------------------------- */

static void creds_unref(struct tls_creds **pc)
{
	struct tls_creds *cr = *pc;

	*pc = NULL;
	if (cr == NULL || --cr->refs > 0)
		return;
	gnutls_certificate_free_credentials(cr->cert);
	gnutls_priority_deinit(cr->prio);
	free(cr);
}

int conn_tls_load(const struct config *cfg, struct buf *err)
{
	struct tls_creds *cr;
	const char *errpos = NULL;
	int r;

	if (cfg->tls_cert[0] == '\0') {
		creds_unref(&g.creds);
		return 0;
	}
	if (cfg->tls_key[0] == '\0') {
		buf_printf(err, "tls.cert is set but tls.key is empty");
		return -1;
	}
	cr = xcalloc(1, sizeof(*cr));
	cr->refs = 1;
	if ((r = gnutls_certificate_allocate_credentials(&cr->cert)) < 0) {
		buf_printf(err, "TLS credentials: %s", gnutls_strerror(r));
		free(cr);
		return -1;
	}
	r = gnutls_certificate_set_x509_key_file2(cr->cert, cfg->tls_cert,
						  cfg->tls_key,
						  GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r < 0) {
		buf_printf(err, "cannot load TLS cert %s / key %s: %s",
			   cfg->tls_cert, cfg->tls_key, gnutls_strerror(r));
		gnutls_certificate_free_credentials(cr->cert);
		free(cr);
		return -1;
	}
	/* RFC 7919 groups for DHE; no parameters to generate or load. */
	gnutls_certificate_set_known_dh_params(cr->cert,
					       GNUTLS_SEC_PARAM_MEDIUM);
	r = gnutls_priority_init(&cr->prio, cfg->tls_priority, &errpos);
	if (r < 0) {
		buf_printf(err, "bad tls.priority near '%s': %s",
			   errpos ? errpos : "", gnutls_strerror(r));
		gnutls_certificate_free_credentials(cr->cert);
		free(cr);
		return -1;
	}
	if (g.ticket_key.data == NULL &&
	    gnutls_session_ticket_key_generate(&g.ticket_key) < 0)
		g.ticket_key.data = NULL;
	creds_unref(&g.creds);
	g.creds = cr;
	return 0;
}

bool conn_tls_available(void)
{
	return g.creds != NULL;
}

void conn_set_watermarks(size_t high, size_t low)
{
	assert(low <= high);
	g.high = high;
	g.low = low;
}

/* ---- deferred work (idle handle) -------------------------------------- */

static void idle_cb(uv_idle_t *h);

/* Deferred work runs from an idle handle, once per loop iteration: writes
 * made outside an event, input left buffered at conn_resume_input, and
 * CONN_LOWAT. Each pass takes the list as it was when it started, so a
 * session streaming to a fast client gets one LOWAT per iteration and the
 * others get their turn (and no event nests inside another). */
static void q_unlink(struct conn *c)
{
	if (c->qprev)
		c->qprev->qnext = c->qnext;
	else
		g.q[c->queued] = c->qnext;
	if (c->qnext)
		c->qnext->qprev = c->qprev;
	c->queued = 0;
	c->qprev = c->qnext = NULL;
}

static void defer(struct conn *c)
{
	if (c->queued == Q_NEXT)
		return;
	if (c->queued)
		q_unlink(c);
	c->queued = Q_NEXT;
	c->qprev = NULL;
	c->qnext = g.q[Q_NEXT];
	if (c->qnext)
		c->qnext->qprev = c;
	g.q[Q_NEXT] = c;
	if (g.idle_loop == NULL) {
		g.idle_loop = c->h.handle.loop;
		uv_idle_init(g.idle_loop, &g.idle);
		uv_unref((uv_handle_t *)&g.idle);
	}
	uv_idle_start(&g.idle, idle_cb);
}

static void undefer(struct conn *c)
{
	if (c->queued)
		q_unlink(c);
}

/* ---- giving memory back ------------------------------------------------ */

/* glibc keeps freed heap (and raises its mmap threshold after a large
 * buffer is freed, so later large buffers come from the heap too): after
 * a burst of sessions, big messages or deliveries, a daemon that has gone
 * idle would keep ~10 MB it no longer uses (measured on pop3d and lmtpd
 * after the bench). When the last connection has been gone for
 * TRIM_IDLE_MS, malloc_trim() returns it; a busy daemon never pays. */
static void trim_cb(uv_timer_t *t)
{
	(void)t;
#ifdef __GLIBC__
	if (g.open == 0)
		malloc_trim(0);
#endif
}

static void trim_later(uv_loop_t *loop)
{
	if (!g.trim_init) {
		uv_timer_init(loop, &g.trim);
		uv_unref((uv_handle_t *)&g.trim);
		g.trim_init = true;
	}
	uv_timer_start(&g.trim, trim_cb, TRIM_IDLE_MS, 0);
}

/* ---- events to the session -------------------------------------------- */

/* The connection stops counting (per IP, in total) when the session is
 * done with it, whether or not a session was ever attached. */
static void uncount(struct conn *c)
{
	if (!c->counted)
		return;
	ip_add(c->info.rip, -1);
	c->counted = false;
	if (--g.open == 0 && !g.stopping)
		trim_later(c->h.handle.loop);
}

static void emit(struct conn *c, enum conn_event ev)
{
	if (ev == CONN_CLOSED)
		uncount(c);
	if (c->cb == NULL || c->closed_sent)
		return;
	if (ev == CONN_CLOSED)
		c->closed_sent = true;
	c->depth++;
	c->cb(c, ev, c->arg);
	c->depth--;
	if (ev == CONN_CLOSED) {
		c->cb = NULL;
		return;
	}
	/* What the session wrote during the event goes out now. */
	if (c->depth == 0)
		conn_flush(c);
}

static void check_eof(struct conn *c)
{
	/* The peer is done sending and the session has taken what it can:
	 * answer what is queued, then close. */
	if (c->eof && !c->paused && c->state == ST_OPEN &&
	    !(c->z && c->z->zin.len > 0))
		conn_close(c);
}

static void shrink_input(struct conn *c)
{
	if (c->in.len == 0)
		buf_release(&c->in);
}

static void dispatch_input(struct conn *c)
{
	if (c->z) {
		if (z_dispatch(c) < 0)
			return;
	} else if (c->state == ST_OPEN && !c->paused && c->in.len > 0) {
		emit(c, CONN_DATAIN);
	}
	shrink_input(c);
	conn_flush(c);
	check_eof(c);
}

static void idle_cb(uv_idle_t *h)
{
	struct conn *c;

	g.q[Q_PASS] = g.q[Q_NEXT];
	g.q[Q_NEXT] = NULL;
	for (c = g.q[Q_PASS]; c; c = c->qnext)
		c->queued = Q_PASS;
	while ((c = g.q[Q_PASS]) != NULL) {
		q_unlink(c);
		if (c->want_datain) {
			c->want_datain = false;
			dispatch_input(c);
		}
		if (c->want_lowat) {
			c->want_lowat = false;
			if (c->state == ST_OPEN && pending(c) < g.low)
				emit(c, CONN_LOWAT);
		}
		conn_flush(c);
	}
	if (g.q[Q_NEXT] == NULL)
		uv_idle_stop(h);
}

/* ---- output ----------------------------------------------------------- */

static size_t pending(const struct conn *c)
{
	size_t n = c->out.len;

	if (c->writing)
		n += c->wb.len - c->wb_off;
	if (c->tls)
		n += c->tls->plain.len;
	if (c->z)
		n += c->z->plain.len;
	return n;
}

size_t conn_output_pending(const struct conn *c)
{
	return pending(c);
}

bool conn_output_full(const struct conn *c)
{
	return pending(c) > g.high;
}

static void fail(struct conn *c, const char *what, int uverr)
{
	log_debug(NULL, "conn %lu rip=%s: %s: %s", c->info.id, c->info.rip,
		  what, uverr ? uv_strerror(uverr) : "error");
	conn_abort(c);
}

static int tls_encrypt(struct conn *c)
{
	struct conn_tls *t = c->tls;
	size_t off = 0;

	if (t == NULL || !t->hs_done || t->plain.len == 0)
		return 0;
	/* Room for every record at once (tls_push appends them). */
	buf_reserve(&c->out, t->plain.len +
				     (t->plain.len / TLS_RECORD + 1) * TLS_OVERHEAD);
	while (off < t->plain.len) {
		size_t n = t->plain.len - off;
		ssize_t r;

		if (n > TLS_RECORD)
			n = TLS_RECORD;
		r = gnutls_record_send(t->s, t->plain.data + off, n);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue; /* the push function never blocks */
		if (r < 0) {
			log_debug(NULL, "conn %lu: TLS send: %s", c->info.id,
				  gnutls_strerror((int)r));
			return -1;
		}
		off += (size_t)r;
	}
	buf_reset(&t->plain); /* conn_flush releases it when idle */
	return 0;
}

/* Where deflate output (and, without COMPRESS, session writes) goes:
 * plaintext for TLS, else the wire queue. */
static struct buf *below_z(struct conn *c)
{
	return c->tls ? &c->tls->plain : &c->out;
}

/* Deflates what the session wrote into the layer below; flush is
 * Z_NO_FLUSH (bounding the plaintext queue) or Z_SYNC_FLUSH (the end of a
 * write batch: the peer can decode everything sent so far). */
static int z_deflate(struct conn *c, int flush)
{
	struct conn_z *z = c->z;
	struct buf *dst;
	int r;

	if (z == NULL || (z->plain.len == 0 && !(flush && z->dirty)))
		return 0;
	dst = below_z(c);
	z->d.next_in = (Bytef *)z->plain.data;
	z->d.avail_in = (uInt)z->plain.len;
	do {
		z->d.next_out = (Bytef *)buf_space(dst, Z_CHUNK);
		z->d.avail_out = Z_CHUNK;
		r = deflate(&z->d, flush);
		if (r == Z_STREAM_ERROR) {
			log_debug(NULL, "conn %lu: deflate failed", c->info.id);
			return -1;
		}
		buf_commit(dst, Z_CHUNK - z->d.avail_out);
	} while (z->d.avail_out == 0);
	assert(z->d.avail_in == 0);
	z->dirty = flush == Z_NO_FLUSH;
	if (z->plain.cap > 4 * Z_CHUNK)
		buf_release(&z->plain);
	else
		buf_reset(&z->plain);
	return 0;
}

static void shutdown_cb(uv_shutdown_t *req, int status);

static void maybe_finish_close(struct conn *c)
{
	if (c->state != ST_CLOSING || c->writing || c->out.len > 0)
		return;
	buf_release(&c->out);
	buf_release(&c->wb);
	c->wb_off = 0;
	if (uv_shutdown(&c->req.shutdown, &c->h.stream, shutdown_cb) < 0)
		final_close(c);
	else
		c->writing = true; /* the request slot is busy */
}

static void write_cb(uv_write_t *req, int status);

static void conn_flush(struct conn *c)
{
	uv_buf_t b;
	int r;

	if (c->state != ST_OPEN && c->state != ST_CLOSING)
		return;
	if (z_deflate(c, Z_SYNC_FLUSH) < 0 || tls_encrypt(c) < 0) {
		conn_abort(c);
		return;
	}
	if (!c->writing && c->out.len > 0) {
		b = uv_buf_init(c->out.data, (unsigned)c->out.len);
		r = uv_try_write(&c->h.stream, &b, 1);
		if (r < 0 && r != UV_EAGAIN) {
			fail(c, "write", r);
			return;
		}
		if (r < 0)
			r = 0;
		control_counters.bytes_out += (uint64_t)r;
		if ((size_t)r == c->out.len) {
			buf_reset(&c->out);
		} else {
			struct buf t = c->wb;

			c->wb = c->out;
			c->wb_off = (size_t)r;
			c->out = t;
			buf_reset(&c->out);
			b = uv_buf_init(c->wb.data + c->wb_off,
					(unsigned)(c->wb.len - c->wb_off));
			r = uv_write(&c->req.write, &c->h.stream, &b, 1,
				     write_cb);
			if (r < 0) {
				fail(c, "write", r);
				return;
			}
			c->writing = true;
		}
	}
	if (c->hiwat && pending(c) < g.low && c->state == ST_OPEN) {
		c->hiwat = false;
		c->want_lowat = true;
		defer(c);
	}
	/* Buffers go back when nothing is queued, except between two slices
	 * of a bulk reply (RETR, FETCH BODY[]: a LOWAT is due or the queue is
	 * above the high watermark): reused, they cost no allocation and no
	 * fresh pages per slice, and stay bounded by the watermarks. */
	if (!c->writing && c->out.len == 0 && !c->hiwat && !c->want_lowat) {
		buf_release(&c->wb);
		buf_release(&c->out);
		if (c->tls && c->tls->plain.len == 0)
			buf_release(&c->tls->plain);
	}
	maybe_finish_close(c);
}

static void write_cb(uv_write_t *req, int status)
{
	struct conn *c = (struct conn *)((char *)req - offsetof(struct conn, req));

	c->writing = false;
	if (c->state == ST_DEAD)
		return;
	if (status < 0) {
		fail(c, "write", status);
		return;
	}
	control_counters.bytes_out += c->wb.len - c->wb_off;
	buf_reset(&c->wb);
	c->wb_off = 0;
	conn_flush(c);
}

/* Where conn_write puts bytes: plaintext for COMPRESS, then TLS, else the
 * wire queue. */
static struct buf *write_target(struct conn *c)
{
	return c->z ? &c->z->plain : below_z(c);
}

static void wrote(struct conn *c)
{
	if (c->z && c->z->plain.len >= Z_CHUNK &&
	    z_deflate(c, Z_NO_FLUSH) < 0) {
		conn_abort(c);
		return;
	}
	if (c->tls && c->tls->hs_done && c->tls->plain.len >= TLS_RECORD &&
	    tls_encrypt(c) < 0) {
		conn_abort(c);
		return;
	}
	if (pending(c) > g.high)
		c->hiwat = true;
	if (c->depth == 0)
		defer(c);
}

static bool can_write(const struct conn *c)
{
	return c->state == ST_OPEN;
}

void conn_write(struct conn *c, const void *p, size_t n)
{
	if (!can_write(c) || n == 0)
		return;
	buf_append(write_target(c), p, n);
	wrote(c);
}

struct buf *conn_write_buf(struct conn *c)
{
	return can_write(c) ? write_target(c) : NULL;
}

void conn_write_commit(struct conn *c)
{
	if (can_write(c))
		wrote(c);
}

void conn_write_str(struct conn *c, const char *s)
{
	conn_write(c, s, strlen(s));
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (!can_write(c))
		return;
	va_start(ap, fmt);
	buf_vprintf(write_target(c), fmt, ap);
	va_end(ap);
	wrote(c);
}

/* ---- TLS session ------------------------------------------------------ */

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const void *p, size_t n)
{
	struct conn *c = ptr;

	buf_append(&c->out, p, n);
	return (ssize_t)n;
}

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *p, size_t n)
{
	struct conn *c = ptr;
	struct conn_tls *t = c->tls;
	size_t avail = t->cin.len - t->cin_off;

	if (avail == 0) {
		gnutls_transport_set_errno(t->s, EAGAIN);
		return -1;
	}
	if (n > avail)
		n = avail;
	memcpy(p, t->cin.data + t->cin_off, n);
	t->cin_off += n;
	if (t->cin_off == t->cin.len) {
		buf_reset(&t->cin);
		t->cin_off = 0;
	}
	return (ssize_t)n;
}

static int tls_start(struct conn *c)
{
	struct conn_tls *t;
	int r;

	if (g.creds == NULL)
		return -1;
	t = xcalloc(1, sizeof(*t));
	r = gnutls_init(&t->s, GNUTLS_SERVER | GNUTLS_NONBLOCK);
	if (r < 0) {
		log_error(NULL, "gnutls_init: %s", gnutls_strerror(r));
		free(t);
		return -1;
	}
	t->creds = g.creds;
	t->creds->refs++;
	gnutls_priority_set(t->s, t->creds->prio);
	gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, t->creds->cert);
	gnutls_certificate_server_set_request(t->s, GNUTLS_CERT_IGNORE);
	if (g.ticket_key.data)
		gnutls_session_ticket_enable_server(t->s, &g.ticket_key);
	gnutls_transport_set_ptr(t->s, c);
	gnutls_transport_set_push_function(t->s, tls_push);
	gnutls_transport_set_pull_function(t->s, tls_pull);
	c->tls = t;
	return 0;
}

static void tls_free(struct conn *c)
{
	struct conn_tls *t = c->tls;

	if (t == NULL)
		return;
	gnutls_deinit(t->s);
	creds_unref(&t->creds);
	buf_release(&t->cin);
	buf_release(&t->plain);
	free(t);
	c->tls = NULL;
}

/* Where bytes read (after TLS) land: compressed input for COMPRESS, else
 * the session's input. */
static struct buf *plain_in(struct conn *c)
{
	return c->z ? &c->z->zin : &c->in;
}

/* Makes room to read into b: 16 KiB in all while little is buffered (a
 * partial line does not double the buffer), then 4 KiB more at a time. */
static void read_room(struct buf *b)
{
	buf_reserve(b, b->len + 4096 < READ_CHUNK ? READ_CHUNK - b->len : 4096);
}

/* Feeds the ciphertext in tls->cin through GnuTLS: handshake, then
 * records into c->in. Returns -1 when the connection was aborted. */
static int tls_input(struct conn *c)
{
	struct conn_tls *t = c->tls;
	ssize_t r;

	if (!t->hs_done) {
		/* Non-blocking: each call advances as far as the bytes in
		 * cin allow; a warning alert just means call again. */
		int tries = 0;

		do
			r = gnutls_handshake(t->s);
		while (++tries < 64 &&
		       (r == GNUTLS_E_INTERRUPTED ||
			(r < 0 && r != GNUTLS_E_AGAIN &&
			 !gnutls_error_is_fatal((int)r))));
		if (tries >= 64 && r < 0 && r != GNUTLS_E_AGAIN)
			r = GNUTLS_E_INTERNAL_ERROR; /* give up on it */
		if (r == GNUTLS_E_AGAIN)
			return 0;
		if (r < 0) {
			log_debug(NULL, "conn %lu rip=%s: TLS handshake: %s",
				  c->info.id, c->info.rip,
				  gnutls_strerror((int)r));
			/* Tell the client why (protocol_version,
			 * handshake_failure...), then close. */
			gnutls_alert_send_appropriate(t->s, (int)r);
			conn_flush(c);
			conn_abort(c);
			return -1;
		}
		t->hs_done = true;
		c->info.tls = true;
		emit(c, CONN_TLS_READY);
		if (c->state != ST_OPEN)
			return -1;
	}
	for (;;) {
		char *p;

		struct buf *in = plain_in(c);

		read_room(in);
		p = in->data + in->len;
		r = gnutls_record_recv(t->s, p, in->cap - in->len - 1);
		if (r > 0) {
			buf_commit(in, (size_t)r);
			continue;
		}
		if (r == 0) {
			c->eof = true; /* close_notify */
			break;
		}
		if (r == GNUTLS_E_AGAIN)
			break;
		if (r == GNUTLS_E_INTERRUPTED ||
		    r == GNUTLS_E_WARNING_ALERT_RECEIVED)
			continue;
		if (r == GNUTLS_E_REHANDSHAKE) {
			/* RFC 5746 aside, a client-initiated renegotiation
			 * only costs us CPU: refuse it by closing. */
			log_info(NULL, "conn %lu rip=%s: TLS renegotiation "
				 "refused", c->info.id, c->info.rip);
			conn_abort(c);
			return -1;
		}
		log_debug(NULL, "conn %lu rip=%s: TLS: %s", c->info.id,
			  c->info.rip, gnutls_strerror((int)r));
		conn_abort(c);
		return -1;
	}
	if (t->cin.len == 0)
		buf_release(&t->cin);
	return 0;
}

int conn_starttls(struct conn *c)
{
	if (c->tls || c->z || c->state != ST_OPEN || tls_start(c) < 0)
		return -1;
	/* CVE-2011-0411: whatever followed the command in plaintext must
	 * not be read as if it had come over TLS. */
	buf_release(&c->in);
	return 0;
}

/* ---- COMPRESS=DEFLATE (RFC 4978) -------------------------------------- */

static void z_free(struct conn *c)
{
	struct conn_z *z = c->z;

	if (z == NULL)
		return;
	deflateEnd(&z->d);
	inflateEnd(&z->i);
	buf_release(&z->plain);
	buf_release(&z->zin);
	free(z);
	c->z = NULL;
}

int conn_compress_start(struct conn *c)
{
	struct conn_z *z;

	if (c->z || c->state != ST_OPEN || (c->tls && !c->tls->hs_done))
		return -1;
	z = xcalloc(1, sizeof(*z));
	/* See struct conn_z: ~256 KiB for deflate with these parameters. */
	if (deflateInit2(&z->d, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		free(z);
		return -1;
	}
	if (inflateInit2(&z->i, -15) != Z_OK) {
		deflateEnd(&z->d);
		free(z);
		return -1;
	}
	/* The client compresses from the first byte after the tagged OK:
	 * input already read past the command is compressed. */
	z->zin = c->in;
	buf_init(&c->in);
	c->z = z;
	c->info.compressed = true;
	if (z->zin.len > 0) {
		c->want_datain = true;
		defer(c);
	}
	return 0;
}

/* Inflates up to Z_CHUNK bytes from zin into c->in. Returns the bytes
 * produced, or -1 after aborting the connection on a corrupt stream. */
static long z_inflate(struct conn *c)
{
	struct conn_z *z = c->z;
	size_t used;
	int r;

	if (z->zin.len == 0 || z->ended)
		return 0;
	z->i.next_in = (Bytef *)z->zin.data;
	z->i.avail_in = (uInt)z->zin.len;
	z->i.next_out = (Bytef *)buf_space(&c->in, Z_CHUNK);
	z->i.avail_out = Z_CHUNK;
	r = inflate(&z->i, Z_SYNC_FLUSH);
	used = z->zin.len - z->i.avail_in;
	buf_consume(&z->zin, used);
	buf_commit(&c->in, Z_CHUNK - z->i.avail_out);
	if (r == Z_STREAM_END) {
		/* RFC 4978 has no end of stream before the connection's:
		 * take it as the peer being done. */
		z->ended = true;
		c->eof = true;
		buf_release(&z->zin);
	} else if (r != Z_OK && r != Z_BUF_ERROR) {
		log_info(NULL, "conn %lu rip=%s: bad DEFLATE input: %s",
			 c->info.id, c->info.rip, z->i.msg ? z->i.msg : "?");
		conn_abort(c);
		return -1;
	}
	if (z->zin.len == 0)
		buf_release(&z->zin);
	return (long)(Z_CHUNK - z->i.avail_out);
}

/* dispatch_input for a compressed connection: inflate a step, deliver it,
 * and again while the session takes input; yields to other connections
 * after Z_ROUNDS steps. Returns -1 when the connection was aborted. */
static int z_dispatch(struct conn *c)
{
	bool first = true;

	for (unsigned rounds = 0; c->state == ST_OPEN && !c->paused && c->z;
	     rounds++) {
		long got;

		if (rounds == Z_ROUNDS) {
			c->want_datain = true;
			defer(c);
			break;
		}
		got = z_inflate(c);
		if (got < 0)
			return -1;
		if (c->in.len == 0 || (!first && got == 0))
			break;
		first = false;
		emit(c, CONN_DATAIN);
		if (got == 0)
			break;
	}
	return 0;
}

/* ---- input ------------------------------------------------------------ */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
	struct conn *c = h->data;
	struct buf *b;

	(void)suggested;
	if (c->state != ST_OPEN) {
		*out = uv_buf_init(g.scratch, sizeof(g.scratch));
		return;
	}
	b = c->tls ? &c->tls->cin : plain_in(c);
	read_room(b);
	*out = uv_buf_init(b->data + b->len, (unsigned)(b->cap - b->len - 1));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *ub)
{
	struct conn *c = s->data;

	(void)ub;
	if (c->state == ST_LINGER) {
		if (n < 0)
			final_close(c);
		return;
	}
	if (c->state != ST_OPEN)
		return;
	if (n < 0) {
		uv_read_stop(s);
		c->reading = false;
		if (n != UV_EOF) {
			fail(c, "read", (int)n);
			return;
		}
		c->eof = true;
		if (c->tls)
			buf_release(&c->tls->cin);
		shrink_input(c);
		check_eof(c);
		return;
	}
	if (n == 0) {
		if (c->tls && c->tls->cin.len == 0)
			buf_release(&c->tls->cin);
		else if (!c->tls && c->z && c->z->zin.len == 0)
			buf_release(&c->z->zin);
		else if (!c->tls)
			shrink_input(c);
		return;
	}
	control_counters.bytes_in += (uint64_t)n;
	if (c->tls) {
		buf_commit(&c->tls->cin, (size_t)n);
		if (tls_input(c) < 0)
			return;
	} else {
		buf_commit(plain_in(c), (size_t)n);
	}
	if (c->eof && c->reading) {
		uv_read_stop(s);
		c->reading = false;
	}
	dispatch_input(c);
}

static void start_reading(struct conn *c)
{
	if (c->reading || c->paused || c->eof || c->state != ST_OPEN)
		return;
	if (uv_read_start(&c->h.stream, alloc_cb, read_cb) == 0)
		c->reading = true;
}

struct buf *conn_input(struct conn *c)
{
	return &c->in;
}

void conn_pause_input(struct conn *c)
{
	c->paused = true;
	if (c->reading) {
		uv_read_stop(&c->h.stream);
		c->reading = false;
	}
}

void conn_resume_input(struct conn *c)
{
	if (!c->paused)
		return;
	c->paused = false;
	if (c->state != ST_OPEN)
		return;
	start_reading(c);
	if (c->in.len > 0 || c->eof || (c->z && c->z->zin.len > 0)) {
		c->want_datain = true;
		defer(c);
	}
}

/* ---- timer, closing --------------------------------------------------- */

static void timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	switch (c->state) {
	case ST_OPEN:
		emit(c, CONN_TIMEOUT);
		break;
	case ST_CLOSING:
		log_debug(NULL, "conn %lu: output not drained, aborting",
			  c->info.id);
		conn_abort(c);
		break;
	case ST_LINGER:
		final_close(c);
		break;
	case ST_DEAD:
		break;
	}
}

void conn_set_timeout(struct conn *c, unsigned ms)
{
	if (c->state != ST_OPEN)
		return;
	if (ms == 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, timer_cb, ms, 0);
}

static void close_cb(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->handles > 0)
		return;
	emit(c, CONN_CLOSED);
	undefer(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		g.all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	tls_free(c);
	z_free(c);
	buf_release(&c->in);
	buf_release(&c->out);
	buf_release(&c->wb);
	free(c);
}

static void final_close(struct conn *c)
{
	if (c->state == ST_DEAD)
		return;
	c->state = ST_DEAD;
	undefer(c);
	if (c->reading)
		uv_read_stop(&c->h.stream);
	c->reading = false;
	uv_close(&c->h.handle, close_cb);
	uv_close((uv_handle_t *)&c->timer, close_cb);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct conn *c = (struct conn *)((char *)req - offsetof(struct conn, req));

	c->writing = false;
	if (c->state != ST_CLOSING)
		return;
	emit(c, CONN_CLOSED);
	if (status < 0 || c->eof || g.stopping) {
		final_close(c);
		return;
	}
	c->state = ST_LINGER;
	uv_timer_start(&c->timer, timer_cb, LINGER_MS, 0);
	if (uv_read_start(&c->h.stream, alloc_cb, read_cb) < 0)
		final_close(c);
	else
		c->reading = true;
}

void conn_close(struct conn *c)
{
	if (c->state != ST_OPEN)
		return;
	if (z_deflate(c, Z_SYNC_FLUSH) < 0) {
		conn_abort(c);
		return;
	}
	if (c->z)
		buf_release(&c->z->zin);
	if (c->tls && c->tls->hs_done) {
		if (tls_encrypt(c) == 0)
			gnutls_bye(c->tls->s, GNUTLS_SHUT_WR);
	}
	c->state = ST_CLOSING;
	if (c->reading) {
		uv_read_stop(&c->h.stream);
		c->reading = false;
	}
	buf_release(&c->in);
	uv_timer_start(&c->timer, timer_cb, CLOSE_FLUSH_MS, 0);
	/* Inside an event the flush follows it; else on the next pass. */
	if (c->depth == 0)
		defer(c);
}

void conn_abort(struct conn *c)
{
	if (c->state == ST_DEAD)
		return;
	final_close(c);
}

void conn_close_all(void)
{
	g.stopping = true; /* no lingering: the process is exiting */
	for (struct conn *c = g.all; c; c = c->next)
		conn_close(c);
}

void conn_set_handler(struct conn *c, conn_cb *cb, void *arg)
{
	c->cb = cb;
	c->arg = arg;
}

const struct conn_info *conn_info(const struct conn *c)
{
	return &c->info;
}

/* ---- accepting -------------------------------------------------------- */

static void addr_text(const struct sockaddr_storage *ss, char *ip,
		      size_t iplen, int *port, bool *loopback)
{
	*port = 0;
	*loopback = false;
	snprintf(ip, iplen, "?");
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		uv_ip4_name(a, ip, iplen);
		*port = ntohs(a->sin_port);
		*loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			struct in_addr v4;

			memcpy(&v4, &a->sin6_addr.s6_addr[12], 4);
			inet_ntop(AF_INET, &v4, ip, (socklen_t)iplen);
			*loopback = (ntohl(v4.s_addr) >> 24) == 127;
		} else {
			uv_ip6_name(a, ip, iplen);
			*loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
		}
		*port = ntohs(a->sin6_port);
	} else if (ss->ss_family == AF_UNIX) {
		snprintf(ip, iplen, "unix");
		*loopback = true;
	}
}

static void fill_info(struct conn *c)
{
	struct sockaddr_storage ss;
	int len;
	bool lb;

	c->info.id = shared_next_id();
	if (c->is_unix) {
		snprintf(c->info.rip, sizeof(c->info.rip), "unix");
		snprintf(c->info.lip, sizeof(c->info.lip), "unix");
		c->info.loopback = true;
		return;
	}
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
		addr_text(&ss, c->info.rip, sizeof(c->info.rip),
			  &c->info.rport, &c->info.loopback);
	else
		snprintf(c->info.rip, sizeof(c->info.rip), "?");
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
		addr_text(&ss, c->info.lip, sizeof(c->info.lip),
			  &c->info.lport, &lb);
}

static void free_cb(uv_handle_t *h)
{
	free(h->data);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	struct conn *c;

	if (status < 0) {
		log_warn(NULL, "accept: %s", uv_strerror(status));
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->is_unix = l->is_unix;
	c->h.handle.data = c;
	if (l->is_unix)
		uv_pipe_init(server->loop, &c->h.pipe, 0);
	else
		uv_tcp_init(server->loop, &c->h.tcp);
	if (uv_accept(server, &c->h.stream) < 0) {
		uv_close(&c->h.handle, free_cb);
		return;
	}
	uv_timer_init(server->loop, &c->timer);
	c->timer.data = c;
	c->handles = 2;
	if (!l->is_unix) {
		uv_tcp_nodelay(&c->h.tcp, 1);
		uv_tcp_keepalive(&c->h.tcp, 1, 300);
	}
	fill_info(c);
	c->info.implicit_tls = l->tls;
	c->next = g.all;
	if (g.all)
		g.all->prev = c;
	g.all = c;
	ip_add(c->info.rip, 1);
	c->counted = true;
	g.open++;
	if (l->tls && tls_start(c) < 0) {
		log_warn(NULL, "conn %lu rip=%s: implicit TLS but no TLS "
			 "certificate loaded", c->info.id, c->info.rip);
		final_close(c);
		return;
	}
	c->depth++;
	l->cb(c, l->arg);
	c->depth--;
	if (c->state == ST_OPEN && c->cb == NULL) {
		log_error(NULL, "conn %lu: acceptor set no handler", c->info.id);
		final_close(c);
		return;
	}
	start_reading(c);
	conn_flush(c);
}

/* ---- listeners -------------------------------------------------------- */

static struct listener *listener_new(bool tls, conn_accept_cb *cb, void *arg)
{
	struct listener *l = xcalloc(1, sizeof(*l));

	l->tls = tls;
	l->cb = cb;
	l->arg = arg;
	l->h.handle.data = l;
	return l;
}

static void listener_add(struct listener *l)
{
	*g.ltail = l;
	g.ltail = &l->next;
}

static void listener_free_cb(uv_handle_t *h)
{
	struct listener *l = h->data;

	free(l->path);
	free(l);
}

/* The address of a host:port listen item; -1 with err set. */
static int resolve(const struct listen_item *it, struct sockaddr_storage *ss,
		   struct buf *err)
{
	struct addrinfo hints, *res = NULL;
	const char *host = it->host;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (strcmp(host, "*") == 0)
		host = "0.0.0.0";
	r = getaddrinfo(host, NULL, &hints, &res);
	if (r != 0 || res == NULL) {
		buf_printf(err, "cannot resolve listen address '%s': %s",
			   host, gai_strerror(r));
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)it->port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port =
			htons((uint16_t)it->port);
	return 0;
}

static int sa_port(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET
			     ? ((const struct sockaddr_in *)ss)->sin_port
			     : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* A TCP listener could not be made (e: a negative errno, as libuv's
 * codes are here). [::] on a host without IPv6 is the default, not a
 * demand: a warning and 0. Anything else: -1 with err set. */
static int listen_failed(const struct listen_item *it,
			 const struct sockaddr_storage *ss, int e,
			 struct buf *err)
{
	bool v6 = ss->ss_family == AF_INET6;

	if (v6 && IN6_IS_ADDR_UNSPECIFIED(
		      &((const struct sockaddr_in6 *)ss)->sin6_addr) &&
	    (e == -EAFNOSUPPORT || e == -EADDRNOTAVAIL)) {
		log_warn(NULL, "no IPv6 here, not listening on [::]:%d",
			 it->port);
		return 0;
	}
	buf_printf(err, "cannot listen on %s%s%s:%d: %s", v6 ? "[" : "",
		   it->host, v6 ? "]" : "", it->port, strerror(-e));
	return -1;
}

/* A bound TCP socket (listening when listen_too), SO_REUSEPORT when
 * reuseport; the fd or -errno. */
static int tcp_fd(const struct sockaddr_storage *ss, bool reuseport,
		  bool listen_too)
{
	socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
						 : sizeof(struct sockaddr_in6);
	int one = 1, r;
	int fd = socket(ss->ss_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
				     sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 ||
	    (listen_too && listen(fd, LISTEN_BACKLOG) < 0)) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Workers: one SO_REUSEPORT socket per worker on the same address, so
 * the kernel spreads the connections over the workers. A plain bind
 * first: it fails when anyone (another daemon, or another Tandem with
 * its own SO_REUSEPORT group) has the port, as a single socket would,
 * and it picks the port of a ":0" listener for the whole group. */
static int listen_tcp_held(const struct listen_item *it, bool tls,
			   conn_accept_cb *cb, void *arg, struct buf *err)
{
	struct sockaddr_storage ss;
	struct listener *l;
	socklen_t len = sizeof(ss);
	int fd;

	if (resolve(it, &ss, err) < 0)
		return -1;
	fd = tcp_fd(&ss, false, false);
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		fd = -errno;
	if (fd < 0)
		return listen_failed(it, &ss, fd, err);
	close(fd);
	l = listener_new(tls, cb, arg);
	l->held = true;
	l->port = sa_port(&ss);
	for (unsigned i = 0; i < shared_workers(); i++) {
		fd = tcp_fd(&ss, true, true);
		if (fd < 0) {
			buf_printf(err, "cannot listen on %s:%d (worker %u): "
				   "%s", it->host, l->port, i, strerror(-fd));
			while (l->nfds)
				close(l->fds[--l->nfds]);
			free(l);
			return -1;
		}
		l->fds[l->nfds++] = fd;
	}
	listener_add(l);
	return 0;
}

/* A unix socket's path must fit sun_path whole (libuv before 1.46 cut a
 * longer one short without a word, and the MTA would knock at another
 * path). A stale socket from a previous run is replaced; anything else
 * at that path is not ours to remove. */
static int unix_path_ready(const struct listen_item *it, struct buf *err)
{
	struct sockaddr_un sa;
	struct stat st;

	if (strlen(it->path) >= sizeof(sa.sun_path)) {
		buf_printf(err, "cannot listen on unix:%s: path too long "
			   "(at most %zu bytes)", it->path,
			   sizeof(sa.sun_path) - 1);
		return -1;
	}
	if (lstat(it->path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(it->path);
	return 0;
}

/* Workers: one unix socket, accepted on by every worker. */
static int listen_unix_held(const struct listen_item *it, bool tls,
			    conn_accept_cb *cb, void *arg, struct buf *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct listener *l;
	int fd;

	if (unix_path_ready(it, err) < 0)
		return -1;
	strcpy(sa.sun_path, it->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0) {
		buf_printf(err, "cannot listen on unix:%s: %s", it->path,
			   strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	chmod(it->path, 0666);
	l = listener_new(tls, cb, arg);
	l->held = true;
	l->is_unix = true;
	l->path = xstrdup(it->path);
	l->fds[l->nfds++] = fd;
	listener_add(l);
	return 0;
}

static int listen_tcp(uv_loop_t *loop, const struct listen_item *it,
		      bool tls, conn_accept_cb *cb, void *arg,
		      struct buf *err)
{
	struct listener *l;
	struct sockaddr_storage ss;
	int r, len;

	if (resolve(it, &ss, err) < 0)
		return -1;
	l = listener_new(tls, cb, arg);
	uv_tcp_init(loop, &l->h.tcp);
	r = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss,
			ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
	if (r == 0)
		r = uv_listen(&l->h.stream, LISTEN_BACKLOG, on_connection);
	if (r < 0) {
		uv_close(&l->h.handle, listener_free_cb);
		return listen_failed(it, &ss, r, err);
	}
	len = sizeof(ss);
	if (uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len) == 0)
		l->port = sa_port(&ss);
	listener_add(l);
	return 0;
}

static int listen_unix(uv_loop_t *loop, const struct listen_item *it,
		       bool tls, conn_accept_cb *cb, void *arg,
		       struct buf *err)
{
	struct listener *l;
	int r;

	if (unix_path_ready(it, err) < 0)
		return -1;
	l = listener_new(tls, cb, arg);
	l->is_unix = true;
	uv_pipe_init(loop, &l->h.pipe, 0);
	r = uv_pipe_bind(&l->h.pipe, it->path);
	if (r == 0)
		r = uv_listen(&l->h.stream, LISTEN_BACKLOG, on_connection);
	if (r < 0) {
		buf_printf(err, "cannot listen on unix:%s: %s", it->path,
			   uv_strerror(r));
		uv_close(&l->h.handle, listener_free_cb);
		return -1;
	}
	/* Local delivery agents run as their own users (postfix): access is
	 * governed by the directory holding the socket. */
	chmod(it->path, 0666);
	l->path = xstrdup(it->path);
	listener_add(l);
	return 0;
}

int conn_listen(uv_loop_t *loop, const char *listen, bool tls,
		conn_accept_cb *cb, void *arg, struct buf *err)
{
	struct listen_item items[MAX_LISTEN_ITEMS];
	int n;

	n = config_parse_listen(listen, items, MAX_LISTEN_ITEMS, err);
	if (n < 0)
		return -1;
	if (n > 0 && tls && g.creds == NULL) {
		log_warn(NULL, "no [tls] cert configured: not listening on "
			 "implicit-TLS address(es) %s", listen);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		int r;

		if (shared_workers() > 1)
			r = items[i].path[0]
				? listen_unix_held(&items[i], tls, cb, arg, err)
				: listen_tcp_held(&items[i], tls, cb, arg, err);
		else
			r = items[i].path[0]
				? listen_unix(loop, &items[i], tls, cb, arg, err)
				: listen_tcp(loop, &items[i], tls, cb, arg, err);
		if (r < 0)
			return -1;
	}
	return 0;
}

int conn_listen_systemd(uv_loop_t *loop, conn_accept_cb *cb, void *arg)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char *namebuf, *save = NULL, *name;
	int n, count = 0;

	if (pid == NULL || fds == NULL || atol(pid) != (long)getpid())
		return 0;
	n = atoi(fds);
	namebuf = xstrdup(names ? names : "");
	name = strtok_r(namebuf, ":", &save);
	for (int i = 0; i < n; i++) {
		int fd = 3 + i, r;
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct listener *l;
		size_t nl = name ? strlen(name) : 0;
		bool tls = nl >= 4 && strcmp(name + nl - 4, "-tls") == 0;

		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
			log_warn(NULL, "systemd socket fd %d: %s", fd,
				 strerror(errno));
			goto next;
		}
		if (tls && g.creds == NULL) {
			log_warn(NULL, "systemd socket %s is TLS but no [tls] "
				 "cert is configured: ignored", name);
			close(fd);
			goto next;
		}
		l = listener_new(tls, cb, arg);
		if (shared_workers() > 1) {
			/* Every worker accepts on systemd's socket. */
			l->held = true;
			l->is_unix = ss.ss_family == AF_UNIX;
			if (!l->is_unix)
				l->port = sa_port(&ss);
			l->fds[l->nfds++] = fd;
			listener_add(l);
			count++;
			goto next;
		}
		if (ss.ss_family == AF_UNIX) {
			l->is_unix = true;
			uv_pipe_init(loop, &l->h.pipe, 0);
			r = uv_pipe_open(&l->h.pipe, fd);
		} else {
			uv_tcp_init(loop, &l->h.tcp);
			r = uv_tcp_open(&l->h.tcp, fd);
			if (ss.ss_family == AF_INET)
				l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
			else if (ss.ss_family == AF_INET6)
				l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
		if (r == 0)
			r = uv_listen(&l->h.stream, LISTEN_BACKLOG, on_connection);
		if (r < 0) {
			log_warn(NULL, "systemd socket fd %d: %s", fd,
				 uv_strerror(r));
			uv_close(&l->h.handle, listener_free_cb);
			goto next;
		}
		listener_add(l);
		count++;
	next:
		if (name)
			name = strtok_r(NULL, ":", &save);
	}
	free(namebuf);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return count;
}

int conn_listen_port(unsigned i)
{
	struct listener *l = g.listeners;

	while (l && i--)
		l = l->next;
	return l ? l->port : -1;
}

void conn_listen_close_all(void)
{
	struct listener *l = g.listeners, *next;

	for (; l; l = next) {
		next = l->next;
		if (l->held) {
			while (l->nfds)
				close(l->fds[--l->nfds]);
			free(l->path);
			free(l);
			continue;
		}
		uv_close(&l->h.handle, listener_free_cb);
	}
	g.listeners = NULL;
	g.ltail = &g.listeners;
}

int conn_listen_adopt(uv_loop_t *loop, unsigned worker)
{
	for (struct listener *l = g.listeners; l; l = l->next) {
		int fd, r;

		if (!l->held)
			continue;
		fd = l->fds[worker % l->nfds];
		for (unsigned i = 0; i < l->nfds; i++)
			if (l->fds[i] != fd)
				close(l->fds[i]);
		l->nfds = 0;
		l->held = false;
		if (l->is_unix) {
			uv_pipe_init(loop, &l->h.pipe, 0);
			r = uv_pipe_open(&l->h.pipe, fd);
		} else {
			uv_tcp_init(loop, &l->h.tcp);
			r = uv_tcp_open(&l->h.tcp, fd);
		}
		if (r == 0)
			r = uv_listen(&l->h.stream, LISTEN_BACKLOG,
				      on_connection);
		if (r < 0) {
			log_error(NULL, "worker %u: listening on fd %d: %s",
				  worker, fd, uv_strerror(r));
			return -1;
		}
	}
	return 0;
}
