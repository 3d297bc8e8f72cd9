/* pop3d.h - the POP3 front end's insides, shared by its files.
 *
 * One session per connection. session.c owns the conn callback (one
 * switch), the line splitting, the dispatcher and the life cycle;
 * commands.c holds the command table and the handlers; reply.c is the
 * only writer of status lines; maildrop.c the login snapshot; dotstuff.c
 * the RETR/TOP encoder; expire.c the EXPIRE retention job.
 */
#ifndef TANDEM_POP3D_H
#define TANDEM_POP3D_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "control.h"
#include "dotstuff.h"
#include "linereader.h"
#include "log.h"
#include "maildrop.h"
#include "store.h"

struct config;
struct conn;
struct sasl;
struct userdb;

/* RFC 1939 3 states.
 *   AUTHORIZATION: greeting sent, no user yet; only USER, PASS, APOP,
 *                  AUTH, CAPA, STLS, UTF8, LANG, QUIT. No store open.
 *   TRANSACTION:   authenticated; the store is open, the maildrop lock
 *                  (if configured) held and the snapshot taken. DELE only
 *                  marks the snapshot.
 *   UPDATE:        QUIT was received in TRANSACTION; the marks are being
 *                  applied off the loop; the connection then closes. No
 *                  more commands are read.
 * Every change goes through pop3_enter_state(). */
enum pop3_state {
	POP3_STATE_AUTHORIZATION = 1 << 0,
	POP3_STATE_TRANSACTION = 1 << 1,
	POP3_STATE_UPDATE = 1 << 2,
};

/* RFC 2449 8 / RFC 3206 extended response codes. */
enum pop3_code {
	POP3_CODE_NONE,
	POP3_CODE_IN_USE,
	POP3_CODE_LOGIN_DELAY,
	POP3_CODE_AUTH,
	POP3_CODE_SYS_TEMP,
	POP3_CODE_SYS_PERM,
	POP3_CODE_UTF8,
};

/* What the session is waiting for, if anything. While not IDLE no new
 * command line is read: pipelined commands wait in the input buffer. */
enum pop3_busy {
	POP3_IDLE,
	POP3_BUSY_STREAM, /* RETR/TOP paused on a full output queue */
	POP3_BUSY_WORK,   /* a worker job (auth, login, QUIT) is running */
	POP3_BUSY_DELAY,  /* failed-auth delay before the -ERR */
	POP3_BUSY_TLS,    /* TLS handshake (STLS or implicit) */
};

struct pop3_server {
	uv_loop_t *loop;
	const struct config *cfg;
	struct userdb *userdb;
	unsigned long nsessions;
};

struct pop3_session {
	/* connection lifetime */
	struct pop3_server *srv;
	struct conn *conn;       /* NULL once CONN_CLOSED was seen */
	struct log_ctx log;
	enum pop3_state state;
	enum pop3_busy busy;
	bool closing;            /* reply queued, close requested */
	bool tls;                /* TLS active */
	bool utf8;               /* RFC 6856 UTF8 issued */
	bool greeted;            /* greeting sent */
	bool in_process;         /* inside the input loop */
	bool paused;             /* conn_pause_input() in effect */
	bool reject;             /* over a limit: say why once TLS is up */
	unsigned bad_commands;
	unsigned auth_failures;
	unsigned work_pending;   /* jobs in flight; freeing waits for 0 */
	char apop_ts[128];       /* greeting timestamp, "" without APOP */
	struct buf out;          /* scratch for replies and stuffed slices */
	struct buf line;         /* the current command line */
	struct linereader lr;
	struct control_session ctl; /* tandemctl who/kick (core/control.h) */

	/* AUTHORIZATION */
	char *user_arg;          /* name given with USER */
	struct sasl *sasl;       /* AUTH exchange in progress */
	bool sasl_final;         /* sent additional data, want an empty line */
	char *auth_user;         /* authenticated, login not yet finished */
	const char *auth_method;

	/* TRANSACTION */
	char *user;
	struct store *store;
	struct store_lock *lock;
	struct maildrop md;

	/* RETR/TOP in progress */
	struct pop3_msg *cur;
	struct store_body *body;
	uint64_t body_off;
	struct dotstuff ds;
	bool cur_top;
};

/* ---- session.c ---- */
void pop3_accept(struct conn *c, void *arg);
void pop3_enter_state(struct pop3_session *s, enum pop3_state st);
/* True when clear-text passwords may be used on this connection. */
bool pop3_plaintext_ok(const struct pop3_session *s);
/* Runs fn off the loop; done runs on the loop thread. The session stays
 * alive until done has run, even if the connection closes. done must
 * start with pop3_work_finished() and return when it says false. */
void pop3_work(struct pop3_session *s, void (*fn)(void *),
	       void (*done)(void *), void *arg);
/* Accounts for a finished job. Returns false when the connection is
 * gone (the session may have been freed: touch nothing). */
bool pop3_work_finished(struct pop3_session *s);
/* A busy command finished: read the next pipelined command. */
void pop3_resume(struct pop3_session *s);
/* Queues the reply, then closes once it is sent. */
void pop3_close(struct pop3_session *s);
/* Arms the idle timer of the current state. */
void pop3_arm_timeout(struct pop3_session *s);
/* Counts a bad command; closes the session past the limit. Returns true
 * if it closed. */
bool pop3_bad_command(struct pop3_session *s);

/* ---- commands.c ---- */
enum pop3_cmd_result {
	POP3_CMD_DONE, /* reply queued, read the next command */
	POP3_CMD_MORE, /* busy: the session resumes when it finishes */
};
typedef enum pop3_cmd_result pop3_cmd_fn(struct pop3_session *s, char *args);
struct pop3_command {
	const char *name;
	pop3_cmd_fn *fn;
	unsigned states; /* enum pop3_state mask */
};
const struct pop3_command *pop3_command_find(const char *name);
/* A line while an AUTH exchange waits for the client's response. */
enum pop3_cmd_result pop3_sasl_response(struct pop3_session *s, char *line);
/* Produces RETR/TOP output until the queue is full or the message ends. */
enum pop3_cmd_result pop3_stream_run(struct pop3_session *s);
/* The failed-auth delay ended: answer and go on. */
void pop3_auth_delay_done(struct pop3_session *s);
void pop3_greeting(struct pop3_session *s);
/* Frees what a stopped RETR/TOP holds. */
void pop3_stream_stop(struct pop3_session *s);

/* ---- reply.c ---- */
/* Formats "+OK text" / "-ERR [CODE] text" plus CRLF into out. text is
 * cut to keep the line within RFC 2449 4's 512 octets and CR/LF in it
 * become spaces. */
void pop3_format_status(struct buf *out, bool ok, enum pop3_code code,
			const char *fmt, va_list ap);
const char *pop3_code_name(enum pop3_code code);
void pop3_reply_ok(struct pop3_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void pop3_reply_err(struct pop3_session *s, enum pop3_code code,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* One line of a multi-line response (stuffed if it starts with '.'). */
void pop3_reply_line(struct pop3_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The ".CRLF" that ends a multi-line response. */
void pop3_reply_end(struct pop3_session *s);
/* Raw wire bytes (an SASL "+ " challenge, stuffed message slices). */
void pop3_reply_raw(struct pop3_session *s, const void *p, size_t n);
/* Stuffs a message slice straight into the output queue (no copy);
 * returns the input bytes used (see dotstuff_feed), all of them when the
 * connection is gone. */
size_t pop3_reply_stuffed(struct pop3_session *s, struct dotstuff *ds,
			  const char *p, size_t n);
/* Maps a store error to a -ERR reply (storage habit 11). */
void pop3_reply_store_err(struct pop3_session *s, const struct store_err *err,
			  const char *what);

/* ---- expire.c ---- */
/* Starts the EXPIRE retention job: now and hourly (no-op when
 * pop3_expire_days is not positive). */
void pop3_expire_start(struct pop3_server *srv);
void pop3_expire_stop(void);
/* Applies [pop3] expire_days to one user's INBOX; any thread (a write).
 * Returns 0 (count in *count_r), or -1 with err. */
int pop3_expire_mailbox(const struct config *cfg, struct store *st,
			int64_t mailbox_id, int64_t now, uint32_t *count_r,
			struct store_err *err);

#endif
