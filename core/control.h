/* control.h - what an administrator sees of a running daemon: the session
 * registry, the counters, the control socket (tandemctl who/kick/stats)
 * and the optional metrics endpoint (Prometheus text format).
 *
 * All on the loop thread: the registry is a process global touched
 * without locks (never from a worker thread). With [server] workers > 1
 * each worker process has its own registry (its sessions) and its own
 * control socket; the counters, the session gauge and the per-user table
 * are daemon totals in shared memory (core/shared.h).
 *
 * A front end embeds a struct control_session in its session and calls
 *     control_session_add(&s->ctl, "imap", c, s, kick_fn, mailbox_fn)
 * at accept, control_session_login(&s->ctl, s->user) once logged in,
 * control_session_remove(&s->ctl) at CONN_CLOSED, and bumps counters with
 * control_counters.commands++ and the like. main() calls control_start()
 * after daemon_ready() (so the socket belongs to the service user).
 *
 * Control protocol (a unix stream socket, CONTROL_DIR/<daemon>.sock, mode
 * 0660; worker i > 0 of a daemon with workers has <daemon>.w<i>.sock):
 * the client sends one line, the process answers and closes.
 *     WHO [user]   one line per session of this process (of user, if
 *                  given): "S" TAB proto TAB user TAB rip TAB rport TAB
 *                  since TAB tls TAB mailbox TAB pid LF, then "OK" SP
 *                  count LF. pid is the serving process.
 *                  user and mailbox are "-" when none; since is a Unix
 *                  time; tls is "yes" or "no". Tabs and control
 *                  characters in fields become '?'.
 *     KICK user    closes each session of user in this process ("* BYE"
 *                  first in IMAP, "-ERR" in POP3): "OK" SP count LF.
 *     STATS        "name" SP value LF per counter (daemon, connections,
 *                  connections_total, logins, auth_failures, commands,
 *                  deliveries_ok, deliveries_failed, bytes_in, bytes_out,
 *                  uptime, workers), then "OK" LF: daemon totals, the
 *                  same from every worker's socket.
 *     otherwise    "ERR" SP reason LF.
 * Lines end in LF (a CR before it is ignored) and are at most
 * CONTROL_LINE_MAX bytes.
 */
#ifndef TANDEM_CONTROL_H
#define TANDEM_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;
struct conn;
struct daemon;

#define CONTROL_LINE_MAX 512

/* Every counter since the daemon started. Each process writes its own
 * set (plain stores, loop thread only): with workers (core/shared.h) the
 * set lives in the worker's slot of the shared mapping, and STATS and the
 * metrics show the sum over every worker. Code bumps them through
 * control_counters, e.g. control_counters.commands++. */
struct control_counts {
	uint64_t connections_total; /* sessions registered */
	uint64_t logins;            /* successful logins */
	uint64_t auth_failures;     /* refused credentials */
	uint64_t commands;          /* command lines dispatched */
	uint64_t deliveries_ok;     /* LMTP: recipients stored */
	uint64_t deliveries_failed; /* LMTP: recipients refused after DATA */
	uint64_t bytes_in, bytes_out; /* on the wire (TLS included) */
};
extern struct control_counts *control_counts_p; /* this process's set */
#define control_counters (*control_counts_p)

/* Called by KICK on the loop thread: say goodbye if the protocol has a
 * way, then close (conn_close; CONN_CLOSED follows later). */
typedef void control_kick_fn(void *arg);
/* The selected mailbox (store form), or NULL when none. */
typedef const char *control_mailbox_fn(void *arg);

/* One registered session. Intrusive: lives in the front end's session. */
struct control_session {
	struct control_session *prev, *next;
	const char *proto;    /* "imap", "pop3", "lmtp" (static) */
	struct conn *conn;
	const char *user;     /* the session's own string, NULL before login */
	int64_t since;        /* Unix time of the connection */
	control_kick_fn *kick;
	control_mailbox_fn *mailbox;
	void *arg;
	uint64_t user_hash;   /* control_user_take: what to give back */
	bool kicked;
	bool user_counted;    /* counted in the daemon's per-user table */
};

/* Registers a new session (connections_total++). kick and mailbox may be
 * NULL (LMTP: no user to kick, no mailbox). */
void control_session_add(struct control_session *cs, const char *proto,
			 struct conn *c, void *arg, control_kick_fn *kick,
			 control_mailbox_fn *mailbox);
/* The session logged in as user (logins++). user must stay valid until
 * control_session_remove. */
void control_session_login(struct control_session *cs, const char *user);
/* The per-user session limit ([limits] max_connections_per_user), for
 * the whole daemon (every worker): counts cs as a session of user and
 * returns true, or returns false (nothing counted) when the daemon
 * already has max sessions of user. Call it before a login is accepted;
 * the count is given back by control_user_release or
 * control_session_remove. Once per session. */
bool control_user_take(struct control_session *cs, const char *user,
		       unsigned max);
/* Gives back what control_user_take counted (an abandoned login);
 * harmless when nothing is counted. */
void control_user_release(struct control_session *cs);
/* Unregisters (and control_user_release); harmless when not registered
 * (or twice). */
void control_session_remove(struct control_session *cs);
/* Sessions registered now. */
unsigned control_session_count(void);

/* ---- the line protocol (pure; unit-tested) ---- */

enum control_verb {
	CONTROL_BAD,
	CONTROL_WHO,
	CONTROL_KICK,
	CONTROL_STATS,
};
struct control_request {
	enum control_verb verb;
	char arg[CONTROL_LINE_MAX]; /* WHO's optional user, KICK's user */
	const char *why;            /* CONTROL_BAD: a static reason */
};
/* Parses one request line (without its LF; a trailing CR is ignored).
 * Verbs are case-insensitive; the argument is one word. Always fills
 * req; returns req->verb. */
enum control_verb control_parse(const char *line, size_t len,
				struct control_request *req);
/* Runs a request against this process's registry and counters and
 * appends the whole answer (see above) to out. daemon names the daemon
 * in STATS ("imapd"). */
void control_answer(const struct control_request *req, const char *daemon,
		    struct buf *out);

/* ---- metrics (Prometheus text exposition format 0.0.4) ---- */

enum control_http {
	CONTROL_HTTP_MORE,     /* the request head is not complete */
	CONTROL_HTTP_METRICS,  /* GET /metrics */
	CONTROL_HTTP_NOTFOUND, /* another path, or a method not GET/HEAD */
	CONTROL_HTTP_BAD,      /* not an HTTP/1.x request line */
};
/* Looks at the bytes of a request received so far. The request line is
 * judged as soon as it is complete (so a bare "GET /metrics" line is BAD
 * at once, not a wait for headers); METRICS and NOTFOUND need the empty
 * line ending the head. head_only_r: HEAD was used. */
enum control_http control_http_parse(const char *p, size_t len,
				     bool *head_only_r);
/* Appends the metrics of this process, labelled daemon="<daemon>". */
void control_metrics(const char *daemon, struct buf *out);

/* ---- the daemon side ---- */

/* The control directory of cfg: [server] control_dir, or when empty
 * DATA_DIR/control. Returns a malloc'ed string. */
char *control_dir(const struct config *cfg);

/* Opens CONTROL_DIR/<daemon>.sock (creating the directory 0750 if
 * missing) and, when [server] metrics_listen is set, the metrics
 * listener (its port plus port_offset unless 0), both on d's loop. A
 * problem is logged, never fatal: the daemon serves mail without them.
 * The handles do not keep the loop alive. daemon is a static string
 * ("imapd"). */
void control_start(struct daemon *d, const char *daemon,
		   unsigned port_offset);
/* Closes the listeners and removes the socket (on_stop; optional). */
void control_stop(void);

#endif
