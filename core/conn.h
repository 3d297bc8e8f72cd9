/* conn.h - one client connection: libuv stream, optional GnuTLS, buffers.
 *
 * libuv and GnuTLS stay inside core/conn.c (and core/tls.c). A front end
 * sees one callback per connection, (struct conn *, enum conn_event, arg),
 * and handles the events in one switch:
 *
 *   CONN_DATAIN    new bytes are in conn_input(c) (already decrypted). The
 *                  session consumes what it parsed with buf_consume(); what
 *                  it leaves stays for the next DATAIN.
 *   CONN_LOWAT     pending output fell below the low watermark after having
 *                  been above the high one: a paused command (RETR, FETCH
 *                  BODY[]) may produce more.
 *   CONN_TLS_READY the TLS handshake finished (STARTTLS/STLS or implicit).
 *   CONN_TIMEOUT   the timer set with conn_set_timeout() expired.
 *   CONN_CLOSED    the peer closed or an I/O error happened; the session
 *                  must stop using c. It is the last event; conn frees its
 *                  own memory after the libuv close callback, and the
 *                  session frees its own memory now (or when its pending
 *                  work completes).
 *
 * Events are never raised from inside a conn_* call the session makes
 * (they come from the loop), so a session may free itself on CLOSED.
 * When the peer half-closes (EOF after "QUIT\r\n"), input already read
 * is still delivered (after conn_resume_input if paused), queued output
 * is flushed, then CLOSED follows. Writes are batched: they go out when
 * the current event returns (or on the next loop pass).
 *
 * Output: conn_write() copies into the output queue and never blocks.
 * Callers producing bulk output check conn_output_full() and wait for
 * CONN_LOWAT, so memory per connection stays bounded by the watermarks.
 * Input: when the input buffer exceeds the session's limit the session
 * decides (it sees the bytes); conn_pause_input() stops reading from the
 * socket until conn_resume_input().
 */
#ifndef TANDEM_CONN_H
#define TANDEM_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "buf.h"

struct conn;
struct config;

enum conn_event {
	CONN_DATAIN,
	CONN_LOWAT,
	CONN_TLS_READY,
	CONN_TIMEOUT,
	CONN_CLOSED,
};

typedef void conn_cb(struct conn *c, enum conn_event ev, void *arg);

/* What the session may know about its peer. */
struct conn_info {
	unsigned long id;     /* unique in the daemon (shared_next_id); the log sid */
	char rip[64];         /* remote address as text ("unix" for AF_UNIX) */
	int rport;
	char lip[64];         /* local address */
	int lport;
	bool loopback;        /* peer is 127.0.0.0/8, ::1 or a unix socket */
	bool tls;             /* TLS is active (handshake finished) */
	bool implicit_tls;    /* accepted on a listen_tls listener */
	bool compressed;      /* COMPRESS=DEFLATE active (conn_compress_start) */
};

/* Called for each accepted connection. The acceptor sets the session
 * callback with conn_set_handler() before returning, or closes c. */
typedef void conn_accept_cb(struct conn *c, void *arg);

/* Opens every listener named in a listen value ("host:port ...",
 * "[::1]:port", "unix:/path"); tls true for implicit-TLS listeners.
 * Returns 0, or -1 with err set (the caller calls fatal()). Safe to call
 * more than once for different lists. */
int conn_listen(uv_loop_t *loop, const char *listen, bool tls,
		conn_accept_cb *cb, void *arg, struct buf *err);
/* Adopts listening sockets passed by systemd (LISTEN_FDS); names from
 * LISTEN_FDNAMES ending in "-tls" are implicit TLS. Returns the count. */
int conn_listen_systemd(uv_loop_t *loop, conn_accept_cb *cb, void *arg);
/* Stops accepting (graceful shutdown); closes held sockets too. */
void conn_listen_close_all(void);
/* With n > 1 workers (shared_workers(), set by shared_init before the
 * first conn_listen*) the listeners are "held" for the worker processes
 * (core/daemon.c): each TCP address gets n SO_REUSEPORT sockets (the
 * kernel spreads connections over them), unix and systemd sockets one
 * shared socket, all opened and listening but in no loop. */
/* In worker i after the fork: puts its socket of each held listener
 * (the i-th, or the shared one) on loop and closes the others in this
 * process. Returns 0, or -1 (logged) when one cannot be used. */
int conn_listen_adopt(uv_loop_t *loop, unsigned worker);
/* The port listener i (in the order opened, from 0) is bound to, so a
 * "127.0.0.1:0" listener can be found (tests); -1 if there is no such
 * listener, 0 for unix sockets. */
int conn_listen_port(unsigned i);
/* conn_close() on every open connection (shutdown). */
void conn_close_all(void);
/* Connections accepted and not yet CLOSED. */
unsigned conn_count(void);

void conn_set_handler(struct conn *c, conn_cb *cb, void *arg);
const struct conn_info *conn_info(const struct conn *c);

/* The decrypted input not yet consumed by the session. */
struct buf *conn_input(struct conn *c);
void conn_pause_input(struct conn *c);
/* Reading starts again; if unconsumed input is buffered, a CONN_DATAIN
 * follows (from the loop, not from inside this call). */
void conn_resume_input(struct conn *c);

void conn_write(struct conn *c, const void *p, size_t n);
void conn_write_str(struct conn *c, const char *s);
void conn_printf(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Bulk output without a copy (RETR, FETCH BODY[] slices): the buffer the
 * next bytes would go to (plaintext under TLS or COMPRESS, else the wire
 * queue), for the caller to append to directly and then call
 * conn_write_commit(). NULL when c is closing (nothing may be written).
 * No other conn_* call may come between the two. */
struct buf *conn_write_buf(struct conn *c);
void conn_write_commit(struct conn *c);
/* Bytes queued and not yet accepted by the kernel. */
size_t conn_output_pending(const struct conn *c);
/* True when pending output is above the high watermark: stop producing
 * and wait for CONN_LOWAT. */
bool conn_output_full(const struct conn *c);

/* Begins the server side of a TLS handshake (STARTTLS, STLS). Any input
 * already buffered (plaintext pipelined after the command) is discarded,
 * never read as if it came over TLS (CVE-2011-0411). Call it after queuing
 * the OK reply, which is still sent in plaintext. Returns -1 when TLS is
 * not configured. CONN_TLS_READY follows, or CONN_CLOSED on failure. */
int conn_starttls(struct conn *c);
/* Starts COMPRESS=DEFLATE (RFC 4978): from now on both directions are raw
 * DEFLATE (windowBits -15), inside TLS when TLS is active. Call it after
 * queuing the tagged OK, which still goes out uncompressed. Input already
 * buffered after the command is compressed data (the client compresses
 * right after the OK): it is inflated and delivered by a later
 * CONN_DATAIN. Output is flushed (Z_SYNC_FLUSH) at the end of each write
 * batch. Costs ~300 KiB of zlib state per connection, freed on close.
 * Returns 0, or -1 when compression is already active, TLS is still
 * negotiating, the connection is closing, or zlib fails to start (the
 * session answers NO and goes on uncompressed). */
int conn_compress_start(struct conn *c);

/* True when a TLS certificate is configured. */
bool conn_tls_available(void);

/* (Re)arms the one timer of the connection; 0 disarms it. */
void conn_set_timeout(struct conn *c, unsigned ms);

/* Flushes queued output, then closes. CONN_CLOSED follows. Input still
 * buffered is discarded at once (as by conn_starttls): a session takes
 * its line out of conn_input() before running the command. */
void conn_close(struct conn *c);
/* Closes at once, dropping queued output. CONN_CLOSED follows. */
void conn_abort(struct conn *c);

/* Number of open connections from the same remote address (for the
 * per-IP connection limit, checked by the acceptor). Counts the
 * connection being accepted too: reject when it is > the limit. */
unsigned conn_count_for_ip(const char *rip);

/* TLS context: loads [tls] cert/key/priority. Called at start-up and on
 * SIGHUP; connections keep the credentials they started with, new ones get
 * the new. Returns 0, or -1 with err set. Without a cert, TLS is off. */
int conn_tls_load(const struct config *cfg, struct buf *err);

/* Output watermarks (bytes); defaults 64 KiB high, 16 KiB low. */
void conn_set_watermarks(size_t high, size_t low);

#endif
