/* session.h - the IMAP session: state machine, dispatcher, per-command
 * context, reply helpers. Shared by every imapd/cmd-*.c file.
 *
 * How to add a command (e.g. FETCH, in imapd/cmd-fetch.c)
 * --------------------------------------------------------
 * 1. Write the handler in its own file, reading top to bottom: the RFC
 *    section and grammar in a comment, read the arguments (cmd->args,
 *    cmd->nargs, with the imap_arg_* helpers of parser.h), validate (answer
 *    BAD with imap_reply_bad() before touching storage), call storage, map
 *    its error with imap_reply_store_err(), queue the tagged reply:
 *
 *        // RFC 9051 6.4.5: fetch = "FETCH" SP sequence-set SP ...
 *        enum imap_cmd_result imap_cmd_fetch(struct imap_cmd *cmd)
 *        {
 *                if (cmd->nargs != 2)
 *                        return imap_reply_bad(cmd, "Expected 2 arguments");
 *                ...
 *                struct buf *b = imap_reply_begin(cmd->s);   // "* "
 *                buf_printf(b, "%u FETCH (", msn); ... imap_w_nstring(b, ..)
 *                imap_reply_end(cmd->s);                      // CRLF, queued
 *                ...
 *                return imap_reply_ok(cmd, NULL, "FETCH completed");
 *        }
 *
 *    Declare it below ("Handlers"), one line, and add one line to the
 *    table in commands.c:
 *        CMD("FETCH", imap_cmd_fetch, IMAP_STATE_SELECTED, IMAP_CMDF_USES_MSN),
 *        CMD("UID FETCH", imap_cmd_fetch, IMAP_STATE_SELECTED, IMAP_CMDF_UID),
 *    ("UID FETCH" arrives as one name; cmd->uid tells the handler.) If it
 *    adds a capability, add one line to imap_capabilities_list[] in
 *    commands.c (CONDSTORE, UIDPLUS, MOVE, IDLE, ... once they work).
 *    The file is picked up by imapd/meson.build (the name is planned).
 * 2. Unfinished commands. A handler returns IMAP_CMD_DONE once its tagged
 *    reply is queued, or IMAP_CMD_MORE when it is not finished; then
 *    one of these is pending (IDLE: a raw line and on_change together),
 *    and no new command is read until the command ends:
 *    - a continuation: imap_cmd_set_cont(cmd, fn). fn(cmd) is called again
 *      when the output queue is below the low watermark (at once if it is
 *      not full). Bulk producers (FETCH BODY[]) loop while
 *      !imap_output_full(s) and return IMAP_CMD_MORE to be called back.
 *    - a worker job: imap_cmd_work(cmd, fn, done). fn(cmd) runs on a
 *      worker thread (store writes: create, expunge, append, set_flags...;
 *      touch only cmd->ctx and the store there, never the session's
 *      buffers or the connection); done(cmd) then runs on the loop and
 *      returns DONE/MORE like a handler. If the connection closed meanwhile,
 *      done is not called; the command is freed (see cleanup).
 *    - a raw line: imap_cmd_read_line(cmd, fn): the next client line is
 *      given to fn(cmd, line, len) (AUTHENTICATE responses, IDLE's DONE).
 *    - an external event (IDLE): set cmd->on_change; it is called when the
 *      store reports a change (SELECTED only: the watch is added by
 *      SELECT); it calls imap_view_sync(s, true) to send the updates and
 *      returns IMAP_CMD_MORE, or DONE once a tagged reply is queued. IDLE
 *      = "+ idling", set on_change, return imap_cmd_read_line(cmd, fn)
 *      where fn checks for "DONE".
 *    When something other than the session called your code (a timer of
 *    your own), end the command with imap_cmd_finish(cmd) after queuing
 *    the tagged reply.
 * 3. Memory. Allocate per-command state with imap_cmd_alloc()/_strdup():
 *    it lives until the command ends (tagged reply queued, or connection
 *    closed). Hang your state on cmd->ctx; if it holds resources that are
 *    not arena memory (a store_body, a spool), set cmd->cleanup: it runs
 *    exactly once when the command is freed, however it ends.
 * 4. Mailbox updates. Untagged EXISTS/EXPUNGE/FETCH FLAGS for changes
 *    made by anyone are sent by imap_reply_tagged() before the tagged line
 *    (mailbox-view.c), except for commands flagged IMAP_CMDF_USES_MSN
 *    (RFC 9051 7.5.1: no EXPUNGE during FETCH, STORE, SEARCH by MSN): then
 *    all updates wait for the next command. A command that changes the
 *    selected mailbox itself needs nothing special: the view compares
 *    the store's HIGHESTMODSEQ with what it reported (STORE's own FETCH
 *    replies may then be repeated once as updates; RFC 9051 allows it).
 *    MSN <-> UID: s->view.uids[msn - 1], imap_view_msn(&s->view, uid).
 * 5. Literals. By default a literal is buffered as an argument (up to
 *    [limits] max_line for the whole command; beyond, tagged NO/BAD
 *    [TOOBIG] and, for "{n+}", the bytes are skipped). The session sends
 *    "+ Ready for literal data" for synchronizing literals itself. APPEND
 *    streams: set the .literal and .chunk hooks in its table entry (see
 *    struct imap_cmd_def); .literal checks [limits] max_literal (reply
 *    NO [TOOBIG] and return IMAP_LITERAL_REJECT) and opens a store spool
 *    in cmd->ctx; .chunk writes to it; fn runs at the end of the line.
 */
#ifndef TANDEM_IMAP_SESSION_H
#define TANDEM_IMAP_SESSION_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "control.h"
#include "log.h"
#include "mailbox-view.h"
#include "parser.h"
#include "seqset.h"
#include "store.h"

struct config;
struct conn;
struct sasl;
struct userdb;

/* RFC 9051 3 (RFC 3501 3) session states, as bits so a table entry can
 * name several.
 *   NOT_AUTHENTICATED: greeting sent; no user, no store. Only CAPABILITY,
 *       NOOP, LOGOUT, ID, STARTTLS, LOGIN, AUTHENTICATE (and ENABLE is
 *       refused). TLS may start here, and only here.
 *   AUTHENTICATED: s->user and s->store are set; no mailbox is selected
 *       (s->view.mailbox_id == 0).
 *   SELECTED: additionally s->view holds the selected mailbox (its MSN ->
 *       UID array, read-only or not) and a store watch is active.
 *   LOGOUT: BYE was queued; no more commands are read; the connection
 *       closes once the output is flushed.
 * Every change goes through imap_enter_state(), which also re-arms the
 * idle timer (prelogin_timeout before login, imap idle_timeout after). */
enum imap_state {
	IMAP_STATE_NOT_AUTHENTICATED = 1u << 0,
	IMAP_STATE_AUTHENTICATED = 1u << 1,
	IMAP_STATE_SELECTED = 1u << 2,
	IMAP_STATE_LOGOUT = 1u << 3,
};
#define IMAP_STATES_AUTH (IMAP_STATE_AUTHENTICATED | IMAP_STATE_SELECTED)
#define IMAP_STATES_ANY                                                     \
	(IMAP_STATE_NOT_AUTHENTICATED | IMAP_STATE_AUTHENTICATED |          \
	 IMAP_STATE_SELECTED)

/* Command table flags. */
enum {
	/* Refers to messages by MSN (FETCH, STORE, SEARCH, COPY, MOVE
	 * without UID): no untagged EXPUNGE is sent while it runs. */
	IMAP_CMDF_USES_MSN = 1u << 0,
	/* The UID form ("UID FETCH"): cmd->uid is true. */
	IMAP_CMDF_UID = 1u << 1,
	/* Changes the mailbox: refused with NO when SELECTED read-only. */
	IMAP_CMDF_WRITE = 1u << 2,
};

enum imap_status {
	IMAP_OK,
	IMAP_NO,
	IMAP_BAD,
};

enum imap_cmd_result {
	IMAP_CMD_DONE, /* the tagged reply is queued */
	IMAP_CMD_MORE, /* unfinished: a continuation, job or line is pending */
};

/* The ENABLE-able extensions (RFC 5161), recorded in s->enabled. */
enum {
	IMAP_ENABLED_IMAP4REV2 = 1u << 0,
	IMAP_ENABLED_CONDSTORE = 1u << 1,
	IMAP_ENABLED_QRESYNC = 1u << 2,
	IMAP_ENABLED_UTF8 = 1u << 3, /* UTF8=ACCEPT */
};

struct imap_cmd;
struct imap_session;
struct imap_arena;

typedef enum imap_cmd_result imap_cmd_fn(struct imap_cmd *cmd);
typedef void imap_cmd_work_fn(struct imap_cmd *cmd);
typedef enum imap_cmd_result imap_cmd_line_fn(struct imap_cmd *cmd,
					      const char *line, size_t len);

/* What to do with a literal announced in a command (streaming hooks). */
enum imap_literal_action {
	IMAP_LITERAL_BUFFER, /* keep it as an argument (up to max_line) */
	IMAP_LITERAL_STREAM, /* chunks go to the .chunk hook */
	IMAP_LITERAL_REJECT, /* the hook queued a tagged NO/BAD */
};

struct imap_cmd_def {
	const char *name;   /* upper case; "UID FETCH" */
	imap_cmd_fn *fn;
	unsigned states;    /* enum imap_state mask */
	unsigned flags;     /* IMAP_CMDF_* */
	/* Optional, for commands whose literals are streamed (APPEND).
	 * literal() is called at each literal announced on the command line
	 * (cmd->args/nargs are the arguments before it; li->size etc.) and
	 * decides; on REJECT it has queued the tagged reply itself. chunk()
	 * gets the bytes of a streamed literal (last true on the final
	 * slice; a 0-byte literal gives no call). Both run before fn, which
	 * runs once the command line is complete (IMAP_ARG_LITERAL_STREAM
	 * arguments stand for the streamed literals). */
	enum imap_literal_action (*literal)(struct imap_cmd *cmd,
					    const struct imap_literal_info *li);
	void (*chunk)(struct imap_cmd *cmd, const char *data, size_t len,
		      bool last);
};

/* One command, from its tag to its tagged reply. */
struct imap_cmd {
	struct imap_session *s;
	const struct imap_cmd_def *def;
	char *tag;                /* arena copy */
	const char *name;         /* def->name */
	bool uid;                 /* "UID ..." form */
	/* Arguments, valid until the command ends (input is not parsed
	 * while a command runs). */
	struct imap_arg *args;
	size_t nargs;

	/* the handler's own state */
	void *ctx;
	void (*cleanup)(struct imap_cmd *cmd);
	enum imap_cmd_result (*on_change)(struct imap_cmd *cmd);

	/* private to session.c */
	imap_cmd_fn *cont;
	imap_cmd_work_fn *work_fn;
	imap_cmd_fn *work_done;
	imap_cmd_line_fn *line_fn;
	imap_cmd_fn *sleep_fn;
	struct imap_arena *arena;
	bool finished;
};

struct imap_server {
	uv_loop_t *loop;
	const struct config *cfg;
	struct userdb *userdb;
	unsigned long nsessions;
};

/* Why the session is not reading commands. */
enum imap_busy {
	IMAP_IDLE_INPUT,   /* reading commands */
	IMAP_BUSY_CMD,     /* a command is unfinished */
	IMAP_BUSY_TLS,     /* TLS handshake (STARTTLS or implicit) */
	IMAP_BUSY_DELAY,   /* failed-auth delay before the NO */
};

struct imap_session {
	/* connection lifetime */
	struct imap_server *srv;
	struct conn *conn;        /* NULL once CONN_CLOSED was seen */
	struct log_ctx log;
	enum imap_state state;
	enum imap_busy busy;
	bool tls;
	bool closing;             /* close requested */
	bool in_process;          /* inside the input loop */
	bool greeted;             /* greeting sent */
	bool reject;              /* over a limit: BYE once TLS is up */
	bool paused;              /* conn_pause_input() in effect */
	unsigned enabled;         /* IMAP_ENABLED_* */
	unsigned bad_commands;
	unsigned auth_failures;
	unsigned work_pending;    /* jobs in flight; freeing waits for 0 */
	struct imap_parser *parser;
	struct buf out;           /* the reply being built */
	struct imap_cmd *cmd;     /* the command being parsed or run */
	bool literal_skip;        /* discard chunks of the current literal */
	struct control_session ctl; /* tandemctl who/kick (core/control.h) */

	/* AUTHENTICATED and SELECTED */
	char *user;
	struct store *store;

	/* SELECTED */
	struct imap_view view;
	/* RFC 5182 SEARCHRES: the saved result "$", as UIDs of the view
	 * (resolved). Emptied by imap_enter_state() (SELECT, EXAMINE,
	 * CLOSE, UNSELECT); expunged UIDs drop out when "$" is read, since
	 * only UIDs still in the view are used (imap_msgset_arg, SEARCH). */
	struct seqset searchres;

	/* NOTIFY SET in effect (cmd-notify.c), or NULL */
	struct imap_notify *notify;
};

/* ---- session.c ---- */
void imap_accept(struct conn *c, void *arg);
void imap_enter_state(struct imap_session *s, enum imap_state st);
/* True when clear-text passwords may be used ([auth]
 * plaintext_without_tls: yes, no, or loopback only). */
bool imap_plaintext_ok(const struct imap_session *s);
/* True when the session speaks IMAP4rev2 (ENABLE IMAP4rev2). */
bool imap_rev2(const struct imap_session *s);
/* True when mailbox names and strings may be UTF-8 (rev2 or
 * UTF8=ACCEPT); else mailbox names are modified UTF-7. */
bool imap_utf8(const struct imap_session *s);
/* Queues BYE-less close: output is flushed, then the connection closes. */
void imap_close(struct imap_session *s);
bool imap_output_full(const struct imap_session *s);
/* Starts listening to the store's change feed (SELECT does it); the
 * running command's on_change hook is called on each change. */
void imap_session_watch(struct imap_session *s);

/* Per-command arena (freed when the command ends). */
void *imap_cmd_alloc(struct imap_cmd *cmd, size_t n);
char *imap_cmd_strdup(struct imap_cmd *cmd, const char *s);
char *imap_cmd_strndup(struct imap_cmd *cmd, const char *s, size_t n);

/* See "Unfinished commands" above. Each returns IMAP_CMD_MORE, so a
 * handler can `return imap_cmd_work(cmd, fn, done);`. */
enum imap_cmd_result imap_cmd_set_cont(struct imap_cmd *cmd, imap_cmd_fn *fn);
enum imap_cmd_result imap_cmd_work(struct imap_cmd *cmd, imap_cmd_work_fn *fn,
				   imap_cmd_fn *done);
enum imap_cmd_result imap_cmd_read_line(struct imap_cmd *cmd,
					imap_cmd_line_fn *fn);
/* Calls fn(cmd) after ms milliseconds (the connection's timer; the
 * failed-login delay). */
enum imap_cmd_result imap_cmd_sleep(struct imap_cmd *cmd, unsigned ms,
				    imap_cmd_fn *fn);
/* Starts TLS after the tagged OK of STARTTLS was queued (RFC 9051 6.2.1);
 * commands are read again once the handshake is done. Returns -1 when
 * TLS is not configured. */
int imap_start_tls(struct imap_session *s);
/* Ends an unfinished command whose tagged reply was queued, from code
 * the session did not call (a timer); reading resumes. */
void imap_cmd_finish(struct imap_cmd *cmd);

/* ---- replies (session.c); nothing else writes to the connection ---- */

/* Builds an untagged reply: returns the session's reply buffer holding
 * "* "; append with buf_* and imap_w_*; imap_reply_end() adds CRLF and
 * queues it. */
struct buf *imap_reply_begin(struct imap_session *s);
void imap_reply_end(struct imap_session *s);
/* Queues what the reply buffer holds so far without ending the reply (no
 * CRLF) and empties the buffer: a long literal (FETCH BODY[]) is appended
 * and flushed in slices, then the reply goes on in the same buffer and
 * ends with imap_reply_end(). */
void imap_reply_flush(struct imap_session *s);
/* "* " fmt CRLF in one call. */
void imap_reply_untagged(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "+ " text CRLF (continuation request). */
void imap_reply_cont(struct imap_session *s, const char *text);
/* "tag OK|NO|BAD [code] text" CRLF. code may be NULL. Sends pending
 * mailbox updates first (see 4. above). Returns IMAP_CMD_DONE so a
 * handler can `return imap_reply_tagged(...)`. text is printf-formatted;
 * CR/LF in it become spaces. */
enum imap_cmd_result imap_reply_tagged(struct imap_cmd *cmd,
				       enum imap_status st, const char *code,
				       const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
enum imap_cmd_result imap_reply_ok(struct imap_cmd *cmd, const char *code,
				   const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
enum imap_cmd_result imap_reply_no(struct imap_cmd *cmd, const char *code,
				   const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "tag BAD text", and counts a bad command (the session closes with BYE
 * after [limits] max_bad_commands). */
enum imap_cmd_result imap_reply_bad(struct imap_cmd *cmd, const char *fmt,
				    ...) __attribute__((format(printf, 2, 3)));
/* Maps a store error to "tag NO [CODE] what: msg" (STYLE habit 11):
 * NOTFOUND -> NONEXISTENT, EXISTS -> ALREADYEXISTS, INUSE -> INUSE,
 * TEMP -> UNAVAILABLE, PERM/INVALID -> CANNOT, TOOBIG -> TOOBIG,
 * OVERQUOTA -> OVERQUOTA, CORRUPT -> CORRUPTION (logged),
 * EXPUNGED -> EXPUNGEISSUED, HASCHILDREN -> HASCHILDREN. */
enum imap_cmd_result imap_reply_store_err(struct imap_cmd *cmd,
					  const struct store_err *err,
					  const char *what);
/* Appends a mailbox name (UTF-8, store form with '/') as the client sees
 * it: separator translated, modified UTF-7 unless imap_utf8(s). */
void imap_w_mailbox_name(struct imap_session *s, struct buf *b,
			 const char *name);
/* Converts a client mailbox argument to the store's form (UTF-8, '/'):
 * modified UTF-7 decoded unless imap_utf8(s) (then it must be valid
 * UTF-8), separator translated, "INBOX" any case -> "INBOX", trailing
 * separator dropped. Returns a string in the command arena, or NULL with
 * *why_r set (the caller answers BAD/NO). */
const char *imap_mailbox_arg(struct imap_cmd *cmd, const struct imap_arg *a,
			     const char **why_r);
/* The hierarchy separator shown to clients ('/' or '.'). */
char imap_separator(const struct imap_session *s);

/* ---- commands.c ---- */
const struct imap_cmd_def *imap_command_find(const char *name);
/* Appends the capability list (without "CAPABILITY") for this session's
 * state: what is implemented, STARTTLS/LOGINDISABLED/AUTH= as they apply. */
void imap_capabilities(struct imap_session *s, struct buf *out);
/* The greeting "* OK [CAPABILITY ...] Tandem ready." */
void imap_greeting(struct imap_session *s);

/* ---- Handlers (one file each: imapd/cmd-<name>.c) ---- */
enum imap_cmd_result imap_cmd_capability(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_noop(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_logout(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_starttls(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_login(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_authenticate(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_enable(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_id(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_select(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_list(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_lsub(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_create(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_delete(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_rename(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_subscribe(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_namespace(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_status(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_close(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_check(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_compress(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_notify(struct imap_cmd *cmd);

/* cmd-notify.c (RFC 5465): the session calls imap_notify_flush() when no
 * command is in progress (after each command ends, when output drained)
 * to send the pending events; imap_notify_free() when it closes. Both do
 * nothing when s->notify is NULL. */
void imap_notify_flush(struct imap_session *s);
void imap_notify_free(struct imap_session *s);
/* Planned (another helper): */
enum imap_cmd_result imap_cmd_fetch(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_store(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_search(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_copy(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_append(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_idle(struct imap_cmd *cmd);
enum imap_cmd_result imap_cmd_expunge(struct imap_cmd *cmd);

/* cmd-create.c: an RFC 6154 use-attr ("\\Sent") -> STORE_SU_* bit, 0 if
 * unknown. */
unsigned imap_special_use_bit(const char *attr);
/* cmd-list.c: appends " \\Drafts" etc. for the STORE_SU_* bits in su. */
void imap_w_special_use(struct buf *b, unsigned su);

/* cmd-status.c, shared with LIST RETURN (STATUS (...)) (RFC 5819).
 * Parses a status-att list into IMAP_STATUS_* bits; returns 0 or -1. */
enum {
	IMAP_STATUS_MESSAGES = 1u << 0,
	IMAP_STATUS_UIDNEXT = 1u << 1,
	IMAP_STATUS_UIDVALIDITY = 1u << 2,
	IMAP_STATUS_UNSEEN = 1u << 3,
	IMAP_STATUS_DELETED = 1u << 4,
	IMAP_STATUS_SIZE = 1u << 5,
	IMAP_STATUS_RECENT = 1u << 6,
	IMAP_STATUS_HIGHESTMODSEQ = 1u << 7,
	IMAP_STATUS_MAILBOXID = 1u << 8,   /* RFC 8474 4.2 */
	IMAP_STATUS_APPENDLIMIT = 1u << 9, /* RFC 7889 3 */
};
int imap_status_atts(const struct imap_arg *list, size_t n, unsigned *atts_r);
/* Queues "* STATUS name (att value ...)" for mb. */
void imap_status_reply(struct imap_session *s, const struct store_mailbox *mb,
		       unsigned atts);

/* Shared by LOGIN and AUTHENTICATE (cmd-login.c): the credentials of user
 * were accepted: open the store, enter AUTHENTICATED, queue the tagged OK
 * with [CAPABILITY ...]. */
enum imap_cmd_result imap_login_success(struct imap_cmd *cmd,
					const char *user, const char *method);
/* Credentials refused (or TEMP): log "auth failed method=X", apply the
 * penalty delay, then "NO [AUTHENTICATIONFAILED]" (or [UNAVAILABLE]). */
enum imap_cmd_result imap_login_failed(struct imap_cmd *cmd,
				       const char *method, bool temp);

#endif
