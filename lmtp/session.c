/* session.c - one LMTP session (RFC 2033) with PIPELINING (RFC 2920),
 * ENHANCEDSTATUSCODES (RFC 2034/3463), 8BITMIME (RFC 6152), SMTPUTF8
 * (RFC 6531), SIZE (RFC 1870) and CHUNKING/BINARYMIME (RFC 3030).
 *
 * Flow. conn.c raises DATAIN; session_input() takes command lines one at
 * a time from the input buffer (so pipelined commands are answered in
 * order), or, while a message is coming, hands the bytes to the content
 * decoder and from there straight into a store_spool: the message is never
 * whole in memory. At the end of DATA (or BDAT LAST) the session pauses
 * its input and runs the store appends on a worker thread (core/work.h),
 * one store_append per recipient, each with its own result; only when they
 * have all returned -- each after its fsync'd commit -- does it write one
 * reply per recipient (RFC 2033 4.2) and read the next command. So a 250
 * is never sent for a message that is not durably stored, and one
 * recipient's trouble never fails another.
 */
#include "lmtp.h"

#include "deliver.h"
#include "recipient.h"
#include "smtp-parse.h"

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "control.h"
#include "log.h"
#include "store.h"
#include "work.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LMTP_MAX_RCPTS 500
/* RFC 5321 4.5.3.2.7: a server waits at least 5 minutes for a command. */
#define LMTP_TIMEOUT_MS (5u * 60u * 1000u)
/* Input is decoded in slices of this size, bounding the scratch buffer. */
#define LMTP_SLICE 65536

/* What is true in each state:
 *   INIT     the 220 greeting was sent; no LHLO yet, so no transaction.
 *   READY    LHLO done, no transaction: MAIL may start one.
 *   MAIL     MAIL accepted: RCPTs add recipients (users that exist; their
 *            stores are opened by the worker); DATA or BDAT starts the
 *            content.
 *   DATA     content bytes up to the "." line go through the decoder into
 *            the spool.
 *   BDAT     the bytes of one BDAT chunk are being read (into the spool,
 *            or discarded when the chunk is refused: chunk_reply).
 *   DELIVER  the appends run on a worker; input is paused and nothing of
 *            the transaction may be touched on the loop thread.
 *   QUIT     QUIT was answered or the session gave up; closing.
 * Every change goes through session_enter_state(). */
enum lmtp_state {
	LMTP_STATE_INIT,
	LMTP_STATE_READY,
	LMTP_STATE_MAIL,
	LMTP_STATE_DATA,
	LMTP_STATE_BDAT,
	LMTP_STATE_DELIVER,
	LMTP_STATE_QUIT,
};

struct lmtp_rcpt {
	/* set at RCPT, on the loop thread */
	char addr[SMTP_ADDR_MAX];
	struct lmtp_target target;
	/* set by the worker; the reference is dropped at txn_reset */
	struct store *store;
	int rc;
	struct store_err err;
	struct store_append_res res;
	const char *mailbox;
};

struct lmtp_session {
	/* session lifetime */
	struct lmtp_server *srv;
	struct conn *conn;
	struct log_ctx log;
	enum lmtp_state state;
	char helo[256];
	unsigned bad_commands;
	unsigned ntxn;
	unsigned depth;      /* > 0 while inside session_input() */
	bool closed;         /* CONN_CLOSED seen: conn may not be used */
	bool busy;           /* a delivery runs on a worker */
	bool waiting_output; /* input paused until CONN_LOWAT */
	bool skip_line;      /* discarding the rest of an over-long line */
	struct buf scratch;  /* decoded content, trace headers */
	struct buf line;     /* a reply being formatted */
	struct buf cmdline;  /* the command line being run */
	struct control_session ctl; /* tandemctl who (core/control.h) */

	/* transaction: from MAIL to the replies after the content, or RSET */
	char from[SMTP_ADDR_MAX];
	bool from_null;
	bool binarymime, smtputf8, used_bdat, use_detail;
	struct lmtp_rcpt *rcpts;
	size_t nrcpts, rcpts_cap;
	struct store_spool *spool;
	uint64_t msg_size;
	bool too_big, spool_failed;
	struct smtp_dec dec;

	/* the BDAT chunk being read */
	uint64_t chunk_left, chunk_size;
	bool chunk_last;
	const char *chunk_reply;    /* refused chunk: discard, then reply */
	enum lmtp_state chunk_prev; /* state to return to after a refusal */
};

static void session_input(struct lmtp_session *s);

/* ---- replies ---------------------------------------------------------- */

static void reply(struct lmtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Every reply goes through here: one line, CRLF added. */
static void reply(struct lmtp_session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->closed)
		return;
	buf_reset(&s->line);
	va_start(ap, fmt);
	buf_vprintf(&s->line, fmt, ap);
	va_end(ap);
	buf_append(&s->line, "\r\n", 2);
	conn_write(s->conn, s->line.data, s->line.len);
}

static const char *hostname(const struct lmtp_session *s)
{
	const char *h = s->srv->cfg->hostname;

	return h && *h ? h : "localhost";
}

/* ---- state and transaction -------------------------------------------- */

static void session_enter_state(struct lmtp_session *s, enum lmtp_state st)
{
	log_debug(&s->log, "state %d -> %d", s->state, st);
	s->state = st;
}

/* Ends the transaction (RSET, LHLO, after the replies, session end). */
static void txn_reset(struct lmtp_session *s)
{
	for (size_t i = 0; i < s->nrcpts; i++)
		if (s->rcpts[i].store)
			store_unref(&s->rcpts[i].store);
	s->nrcpts = 0;
	if (s->rcpts_cap > 16) {
		free(s->rcpts);
		s->rcpts = NULL;
		s->rcpts_cap = 0;
	}
	if (s->spool)
		store_spool_free(&s->spool);
	s->from[0] = '\0';
	s->from_null = false;
	s->binarymime = s->smtputf8 = s->used_bdat = false;
	s->msg_size = 0;
	s->too_big = s->spool_failed = false;
	buf_shrink(&s->scratch, 2 * LMTP_SLICE + 64);
	if (s->state != LMTP_STATE_INIT && s->state != LMTP_STATE_QUIT)
		session_enter_state(s, LMTP_STATE_READY);
}

static void session_free(struct lmtp_session *s)
{
	txn_reset(s);
	free(s->rcpts);
	buf_release(&s->scratch);
	buf_release(&s->line);
	buf_release(&s->cmdline);
	free(s);
}

/* Closes after the queued replies are sent. */
static void session_quit(struct lmtp_session *s)
{
	session_enter_state(s, LMTP_STATE_QUIT);
	if (!s->closed)
		conn_close(s->conn);
}

static void bad_command(struct lmtp_session *s)
{
	if (++s->bad_commands >= s->srv->cfg->max_bad_commands) {
		reply(s, "421 4.7.0 %s Too many errors, closing", hostname(s));
		log_info(&s->log, "too many bad commands, disconnecting");
		session_quit(s);
	}
}

/* ---- message content --------------------------------------------------- */

/* Takes decoded content: counts it against max_message_size and writes it
 * to the spool. Over the limit, the rest is still read (and counted) but
 * dropped, and the spool freed: the refusal comes at the end (552). */
static void spool_content(struct lmtp_session *s, const char *p, size_t n)
{
	struct store_err err;

	s->msg_size += n;
	if (s->too_big || s->spool_failed || n == 0)
		return;
	if (s->msg_size > s->srv->cfg->lmtp_max_message_size) {
		s->too_big = true;
		store_spool_free(&s->spool);
		return;
	}
	if (store_spool_write(s->spool, p, n, &err) < 0) {
		log_error(&s->log, "spool write failed: %s", err.msg);
		s->spool_failed = true;
		store_spool_free(&s->spool);
	}
}

/* Starts the content: a fresh spool holding Return-Path and Received. */
static void message_start(struct lmtp_session *s, enum smtp_dec_mode mode)
{
	const struct conn_info *ci = conn_info(s->conn);
	struct deliver_trace tr;
	struct store_err err;
	char id[48];

	smtp_dec_init(&s->dec, mode);
	s->spool = store_spool_new();
	s->use_detail = s->srv->cfg->lmtp_detail_mailbox;
	snprintf(id, sizeof(id), "%lx.%x", ci->id, ++s->ntxn);
	memset(&tr, 0, sizeof(tr));
	tr.helo = s->helo;
	tr.rip = ci->rip;
	tr.hostname = hostname(s);
	tr.with = s->smtputf8 ? "UTF8LMTP" : "LMTP";
	tr.id = id;
	tr.for_addr = s->nrcpts == 1 ? s->rcpts[0].addr : NULL;
	tr.now = time(NULL);
	buf_reset(&s->scratch);
	deliver_trace_headers(&s->scratch, s->from, s->srv->cfg->lmtp_add_received ? &tr : NULL);
	if (store_spool_write(s->spool, s->scratch.data, s->scratch.len,
			      &err) < 0) {
		log_error(&s->log, "spool write failed: %s", err.msg);
		s->spool_failed = true;
		store_spool_free(&s->spool);
	}
	buf_reset(&s->scratch);
}

/* Runs on a worker thread: only the recipients and the spool are touched,
 * and the loop thread leaves them alone while the state is DELIVER. */
static void delivery_run(void *arg)
{
	struct lmtp_session *s = arg;

	for (size_t i = 0; i < s->nrcpts; i++) {
		struct lmtp_rcpt *r = &s->rcpts[i];

		memset(&r->err, 0, sizeof(r->err));
		/* Opening may create the store (first mail of a user): file
		 * work, so here rather than at RCPT on the loop thread. A
		 * user deleted since RCPT gets no new store. */
		if (!r->store && !userdb_exists(s->srv->userdb,
						r->target.user)) {
			r->err.code = STORE_ERR_NOTFOUND;
			snprintf(r->err.msg, sizeof(r->err.msg),
				 "user deleted since RCPT");
			r->rc = -1;
			continue;
		}
		if (!r->store && store_open(r->target.user, true, &r->store,
					    &r->err) < 0) {
			r->rc = -1;
			continue;
		}
		r->rc = deliver_append(r->store,
				       s->use_detail ? r->target.detail : NULL,
				       s->spool, &r->res, &r->mailbox, &r->err);
	}
}

/* RFC 2033 4.2: after the final data, one reply per recipient accepted at
 * RCPT, in the order of the RCPT commands. Store errors map here. */
static void reply_rcpt_result(struct lmtp_session *s,
			      const struct lmtp_rcpt *r)
{
	if (r->rc == 0) {
		control_counters.deliveries_ok++;
		log_info(&s->log,
			 "delivered to=<%s> user=%s mailbox=%s uid=%" PRIu32
			 " size=%" PRIu64,
			 r->addr, r->target.user, r->mailbox, r->res.uid,
			 s->msg_size);
		reply(s, "250 2.0.0 <%s> Saved as UID %" PRIu32 " in %s",
		      r->addr, r->res.uid, r->mailbox);
		return;
	}
	control_counters.deliveries_failed++;
	log_warn(&s->log, "delivery failed to=<%s> user=%s: %s", r->addr,
		 r->target.user, r->err.msg);
	switch (r->err.code) {
	case STORE_ERR_NOTFOUND:
		reply(s, "550 5.1.1 <%s> User unknown", r->addr);
		break;
	case STORE_ERR_TOOBIG:
		reply(s, "552 5.3.4 <%s> Message too big for this mailbox",
		      r->addr);
		break;
	case STORE_ERR_OVERQUOTA:
		/* RFC 3463 3.3: X.2.2 mailbox full; permanent unless
		 * [storage] quota_full_tempfail (then the MTA retries). */
		if (s->srv->cfg->storage_quota_full_tempfail)
			reply(s, "452 4.2.2 <%s> Mailbox full, try again "
			      "later", r->addr);
		else
			reply(s, "552 5.2.2 <%s> Mailbox full", r->addr);
		break;
	default:
		reply(s, "451 4.3.0 <%s> Temporary failure, try again later",
		      r->addr);
		break;
	}
}

static void delivery_done(void *arg)
{
	struct lmtp_session *s = arg;
	struct lmtp_server *srv = s->srv;

	s->busy = false;
	srv->deliveries--;
	if (s->closed) {
		/* The peer left: what was stored stays stored (the MTA will
		 * retry and may deliver twice; RFC 2033 accepts that). */
		log_info(&s->log, "connection closed during delivery");
		session_free(s);
	} else {
		for (size_t i = 0; i < s->nrcpts; i++)
			reply_rcpt_result(s, &s->rcpts[i]);
		txn_reset(s);
		conn_set_timeout(s->conn, LMTP_TIMEOUT_MS);
		conn_resume_input(s->conn);
		session_input(s);
	}
}

/* The content is complete (".", BDAT LAST): refuse it for every
 * recipient, or start the appends. */
static void message_end(struct lmtp_session *s)
{
	if (s->too_big || s->spool_failed) {
		for (size_t i = 0; i < s->nrcpts; i++) {
			if (s->too_big)
				reply(s, "552 5.3.4 <%s> Message size exceeds "
				      "fixed maximum message size",
				      s->rcpts[i].addr);
			else
				reply(s, "451 4.3.0 <%s> Temporary failure, "
				      "try again later", s->rcpts[i].addr);
		}
		log_info(&s->log, "message refused: %s size=%" PRIu64,
			 s->too_big ? "too big" : "spool failure",
			 s->msg_size);
		txn_reset(s);
		return;
	}
	session_enter_state(s, LMTP_STATE_DELIVER);
	s->busy = true;
	s->srv->deliveries++;
	conn_pause_input(s->conn);
	conn_set_timeout(s->conn, 0);
	work_submit(s->srv->loop, delivery_run, delivery_done, s);
}

/* DATA content: decode one slice; on the "." line, end the message. */
static void data_step(struct lmtp_session *s, struct buf *in)
{
	size_t n = in->len < LMTP_SLICE ? in->len : LMTP_SLICE, used;
	enum smtp_dec_status st;

	buf_reset(&s->scratch);
	st = smtp_dec_feed(&s->dec, in->data, n, &used, &s->scratch);
	spool_content(s, s->scratch.data, s->scratch.len);
	buf_consume(in, used);
	if (st == SMTP_DEC_DONE)
		message_end(s);
}

/* RFC 3030 2: after each BDAT chunk but the last, one reply; after the
 * LAST chunk, in LMTP, one reply per recipient (RFC 3030 4.2 via RFC 2033
 * 4.2). A chunk that makes the message too big is still read and
 * answered 250: the refusal comes with the LAST chunk, as for DATA. */
static void chunk_end(struct lmtp_session *s)
{
	if (s->chunk_reply) {
		reply(s, "%s", s->chunk_reply);
		s->chunk_reply = NULL;
		session_enter_state(s, s->chunk_prev);
		return;
	}
	if (!s->chunk_last) {
		reply(s, "250 2.0.0 %" PRIu64 " octets received",
		      s->chunk_size);
		session_enter_state(s, LMTP_STATE_MAIL);
		return;
	}
	buf_reset(&s->scratch);
	smtp_dec_finish(&s->dec, &s->scratch);
	spool_content(s, s->scratch.data, s->scratch.len);
	message_end(s);
}

static void bdat_step(struct lmtp_session *s, struct buf *in)
{
	size_t n = in->len < LMTP_SLICE ? in->len : LMTP_SLICE, used;

	if (n > s->chunk_left)
		n = (size_t)s->chunk_left;
	if (!s->chunk_reply && n > 0) {
		buf_reset(&s->scratch);
		smtp_dec_feed(&s->dec, in->data, n, &used, &s->scratch);
		spool_content(s, s->scratch.data, s->scratch.len);
	}
	buf_consume(in, n);
	s->chunk_left -= n;
	if (s->chunk_left == 0)
		chunk_end(s);
}

/* ---- commands ------------------------------------------------------------ */

/* RFC 2033 4.1: lhlo = "LHLO" SP Domain CRLF; the reply lists the
 * extensions like an EHLO reply (RFC 5321 4.1.1.1). LHLO resets any
 * transaction, like EHLO. */
static void cmd_lhlo(struct lmtp_session *s, const struct smtp_cmd *cmd)
{
	size_t n = cmd->arg_len < sizeof(s->helo) - 1 ? cmd->arg_len
						       : sizeof(s->helo) - 1;

	if (cmd->arg_len == 0) {
		reply(s, "501 5.5.4 Syntax: LHLO hostname");
		bad_command(s);
		return;
	}
	memcpy(s->helo, cmd->arg, n);
	s->helo[n] = '\0';
	if (s->state == LMTP_STATE_INIT)
		session_enter_state(s, LMTP_STATE_READY);
	txn_reset(s);
	reply(s, "250-%s", hostname(s));
	reply(s, "250-PIPELINING");
	reply(s, "250-ENHANCEDSTATUSCODES");
	reply(s, "250-8BITMIME");
	reply(s, "250-SMTPUTF8");
	reply(s, "250-CHUNKING");
	reply(s, "250-BINARYMIME");
	reply(s, "250 SIZE %zu", s->srv->cfg->lmtp_max_message_size);
}

/* HELO and EHLO are SMTP's; an LMTP server answers only LHLO (RFC 2033
 * 4.1), so a client that mistakes the protocol learns early. */
static void cmd_helo(struct lmtp_session *s, const struct smtp_cmd *cmd)
{
	reply(s, "500 5.5.1 This is LMTP: use LHLO");
	bad_command(s);
}

static const char *path_error(enum smtp_parse_result r, bool sender)
{
	switch (r) {
	case SMTP_PARSE_SYNTAX:
		return sender ? "501 5.5.4 Syntax: MAIL FROM:<address>"
			      : "501 5.5.4 Syntax: RCPT TO:<address>";
	case SMTP_PARSE_TOO_LONG:
		return sender ? "501 5.1.7 Sender address too long"
			      : "501 5.1.3 Recipient address too long";
	case SMTP_PARSE_BAD_PARAM:
		return "501 5.5.4 Malformed parameters";
	default:
		return sender ? "501 5.1.7 Bad sender address syntax"
			      : "501 5.1.3 Bad recipient address syntax";
	}
}

/* RFC 5321 4.1.1.2: mail = "MAIL FROM:" Reverse-path [SP Mail-parameters]
 * Parameters: SIZE=n (RFC 1870), BODY=7BIT/8BITMIME/BINARYMIME (RFC 6152,
 * RFC 3030), SMTPUTF8 (RFC 6531). SIZE over the limit: 552 5.3.4 now. */
static void cmd_mail(struct lmtp_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_path path;
	struct smtp_params pm;
	enum smtp_parse_result r;
	bool binarymime = false, smtputf8 = false;

	if (s->state != LMTP_STATE_READY) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	r = smtp_parse_path_arg(cmd->arg, cmd->arg_len, "FROM:", true, &path,
				&pm);
	if (r != SMTP_PARSE_OK) {
		reply(s, "%s", path_error(r, true));
		bad_command(s);
		return;
	}
	for (size_t i = 0; i < pm.n; i++) {
		const struct smtp_param *p = &pm.p[i];
		uint64_t size;

		if (strcmp(p->keyword, "SIZE") == 0) {
			if (!p->value || smtp_parse_number(p->value,
							   p->value_len,
							   &size) < 0) {
				reply(s, "501 5.5.4 Bad SIZE parameter");
				return;
			}
			if (size > s->srv->cfg->lmtp_max_message_size) {
				reply(s, "552 5.3.4 Message size exceeds "
				      "fixed maximum message size");
				return;
			}
		} else if (strcmp(p->keyword, "BODY") == 0) {
			if (p->value && p->value_len == 10 &&
			    strncasecmp(p->value, "BINARYMIME", 10) == 0) {
				binarymime = true;
			} else if (!p->value ||
				   !((p->value_len == 4 &&
				      strncasecmp(p->value, "7BIT", 4) == 0) ||
				     (p->value_len == 8 &&
				      strncasecmp(p->value, "8BITMIME", 8) == 0))) {
				reply(s, "501 5.5.4 Bad BODY parameter");
				return;
			}
		} else if (strcmp(p->keyword, "SMTPUTF8") == 0 && !p->value) {
			smtputf8 = true;
		} else {
			reply(s, "555 5.5.4 Unsupported parameter %s",
			      p->keyword);
			return;
		}
	}
	memcpy(s->from, path.addr, sizeof(s->from));
	s->from_null = path.null;
	s->binarymime = binarymime;
	s->smtputf8 = smtputf8;
	session_enter_state(s, LMTP_STATE_MAIL);
	reply(s, "250 2.1.0 Ok");
}

static bool userdb_exists_cb(void *arg, const char *user)
{
	return userdb_exists(arg, user);
}

/* RFC 5321 4.1.1.3: rcpt = "RCPT TO:" Forward-path [SP Rcpt-parameters]
 * RFC 2033 4.2: an unknown user is refused here (550 5.1.1) and gets no
 * reply after DATA. */
static void cmd_rcpt(struct lmtp_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_path path;
	struct smtp_params pm;
	enum smtp_parse_result r;
	struct lmtp_target target;
	struct lmtp_rcpt *rc;

	if (s->state != LMTP_STATE_MAIL || s->used_bdat) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpts >= LMTP_MAX_RCPTS) {
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	r = smtp_parse_path_arg(cmd->arg, cmd->arg_len, "TO:", false, &path,
				&pm);
	if (r != SMTP_PARSE_OK) {
		reply(s, "%s", path_error(r, false));
		bad_command(s);
		return;
	}
	if (pm.n > 0) {
		reply(s, "555 5.5.4 Unsupported parameter %s", pm.p[0].keyword);
		return;
	}
	if (lmtp_rcpt_resolve(&path, userdb_exists_cb, s->srv->userdb,
			      &target) < 0) {
		log_info(&s->log, "unknown recipient <%s>", path.addr);
		reply(s, "550 5.1.1 <%s> User unknown", path.addr);
		return;
	}
	if (s->nrcpts == s->rcpts_cap) {
		s->rcpts_cap = s->rcpts_cap ? 2 * s->rcpts_cap : 4;
		s->rcpts = xrealloc(s->rcpts,
				    s->rcpts_cap * sizeof(*s->rcpts));
	}
	rc = &s->rcpts[s->nrcpts++];
	memset(rc, 0, sizeof(*rc));
	memcpy(rc->addr, path.addr, sizeof(rc->addr));
	rc->target = target;
	reply(s, "250 2.1.5 <%s> Ok", path.addr);
}

/* RFC 5321 4.1.1.4: data = "DATA" CRLF; RFC 2033 4.2: with no accepted
 * recipient, 503. RFC 3030 3: not after BODY=BINARYMIME or BDAT. */
static void cmd_data(struct lmtp_session *s, const struct smtp_cmd *cmd)
{
	if (s->state != LMTP_STATE_MAIL) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (cmd->arg_len) {
		reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->used_bdat || s->binarymime) {
		reply(s, "503 5.5.1 Error: BDAT in use, DATA not allowed");
		return;
	}
	if (s->nrcpts == 0) {
		reply(s, "503 5.5.1 Error: no valid recipients");
		return;
	}
	message_start(s, SMTP_DEC_DATA);
	session_enter_state(s, LMTP_STATE_DATA);
	reply(s, "354 Start mail input; end with <CRLF>.<CRLF>");
}

/* RFC 3030 2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CR LF
 * The chunk-size bytes follow at once and are read whatever the reply:
 * a refused chunk is discarded, then answered. */
static void cmd_bdat(struct lmtp_session *s, const struct smtp_cmd *cmd)
{
	uint64_t size;
	bool last;

	if (smtp_parse_bdat(cmd->arg, cmd->arg_len, &size, &last) < 0) {
		/* The chunk's length is unknown: what follows cannot be
		 * told from commands, so give up on the session. */
		reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		session_quit(s);
		return;
	}
	s->chunk_left = s->chunk_size = size;
	s->chunk_last = last;
	s->chunk_reply = NULL;
	s->chunk_prev = s->state;
	if (s->state == LMTP_STATE_INIT)
		s->chunk_reply = "503 5.5.1 Error: send LHLO first";
	else if (s->state != LMTP_STATE_MAIL)
		s->chunk_reply = "503 5.5.1 Error: need MAIL command";
	else if (s->nrcpts == 0)
		s->chunk_reply = "503 5.5.1 Error: no valid recipients";
	if (!s->chunk_reply && !s->used_bdat) {
		s->used_bdat = true;
		message_start(s, SMTP_DEC_RAW);
	}
	session_enter_state(s, LMTP_STATE_BDAT);
}

/* RFC 5321 4.1.1.5: rset = "RSET" CRLF */
static void cmd_rset(struct lmtp_session *s, const struct smtp_cmd *cmd)
{
	txn_reset(s);
	reply(s, "250 2.0.0 Ok");
}

/* RFC 5321 4.1.1.9: noop = "NOOP" [ SP String ] CRLF */
static void cmd_noop(struct lmtp_session *s, const struct smtp_cmd *cmd)
{
	reply(s, "250 2.0.0 Ok");
}

/* RFC 5321 4.1.1.10: quit = "QUIT" CRLF */
static void cmd_quit(struct lmtp_session *s, const struct smtp_cmd *cmd)
{
	reply(s, "221 2.0.0 %s Bye", hostname(s));
	session_quit(s);
}

/* RFC 5321 4.1.1.6 and 3.5.3: vrfy = "VRFY" SP String CRLF; 252 says
 * "cannot verify, but will try" without revealing who exists. */
static void cmd_vrfy(struct lmtp_session *s, const struct smtp_cmd *cmd)
{
	if (cmd->arg_len == 0) {
		reply(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and "
		 "attempt delivery");
}

/* RFC 5321 4.1.1.8: help = "HELP" [ SP String ] CRLF */
static void cmd_help(struct lmtp_session *s, const struct smtp_cmd *cmd)
{
	reply(s, "214 2.0.0 Commands: LHLO MAIL RCPT DATA BDAT RSET NOOP "
		 "QUIT VRFY HELP");
}

enum {
	LMTP_CMDF_LHLO = 1u << 0, /* only after LHLO (RFC 2033 4.1) */
};

static const struct lmtp_cmd {
	const char *verb;
	void (*fn)(struct lmtp_session *s, const struct smtp_cmd *cmd);
	unsigned flags;
} lmtp_cmds[] = {
	{"LHLO", cmd_lhlo, 0},
	{"MAIL", cmd_mail, LMTP_CMDF_LHLO},
	{"RCPT", cmd_rcpt, LMTP_CMDF_LHLO},
	{"DATA", cmd_data, LMTP_CMDF_LHLO},
	{"BDAT", cmd_bdat, 0}, /* checks itself: its bytes must be read */
	{"RSET", cmd_rset, 0},
	{"NOOP", cmd_noop, 0},
	{"QUIT", cmd_quit, 0},
	{"VRFY", cmd_vrfy, 0},
	{"HELP", cmd_help, 0},
	{"HELO", cmd_helo, 0},
	{"EHLO", cmd_helo, 0},
};

static void run_line(struct lmtp_session *s, const char *line, size_t len)
{
	struct smtp_cmd cmd;

	control_counters.commands++;
	if (memchr(line, '\0', len) != NULL ||
	    smtp_cmd_split(line, len, &cmd) < 0) {
		reply(s, "500 5.5.2 Syntax error, command unrecognized");
		bad_command(s);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(lmtp_cmds); i++) {
		const struct lmtp_cmd *c = &lmtp_cmds[i];

		if (strcmp(c->verb, cmd.verb) != 0)
			continue;
		if ((c->flags & LMTP_CMDF_LHLO) &&
		    s->state == LMTP_STATE_INIT) {
			reply(s, "503 5.5.1 Error: send LHLO first");
			return;
		}
		c->fn(s, &cmd);
		return;
	}
	reply(s, "500 5.5.2 Error: command not recognized");
	bad_command(s);
}

/* ---- input ------------------------------------------------------------- */

static void session_input_loop(struct lmtp_session *s)
{
	struct buf *in = conn_input(s->conn);

	while (!s->closed && !s->busy && s->state != LMTP_STATE_QUIT) {
		const char *lf;
		size_t len, line_len;

		if (s->state == LMTP_STATE_DATA) {
			if (in->len == 0)
				return;
			data_step(s, in);
			continue;
		}
		if (s->state == LMTP_STATE_BDAT) {
			if (s->chunk_left > 0 && in->len == 0)
				return;
			bdat_step(s, in);
			continue;
		}
		if (in->len == 0)
			return;
		/* Replies pile up when the client pipelines and does not
		 * read: stop taking commands until the output drains. */
		if (conn_output_full(s->conn)) {
			s->waiting_output = true;
			conn_pause_input(s->conn);
			return;
		}
		lf = memchr(in->data, '\n', in->len);
		if (!lf) {
			if (in->len > s->srv->cfg->max_line) {
				/* RFC 5321 4.5.3.1.4: 500 for a line too
				 * long; the rest of it is skipped. */
				if (!s->skip_line) {
					reply(s, "500 5.5.6 Line too long");
					bad_command(s);
				}
				s->skip_line = true;
				buf_reset(in);
			}
			return;
		}
		len = (size_t)(lf - in->data);
		line_len = len > 0 && in->data[len - 1] == '\r' ? len - 1 : len;
		if (s->skip_line) {
			s->skip_line = false;
			buf_consume(in, len + 1);
		} else if (len > s->srv->cfg->max_line) {
			buf_consume(in, len + 1);
			reply(s, "500 5.5.6 Line too long");
			bad_command(s);
		} else {
			/* The line leaves the input buffer before it runs: a
			 * handler may close the connection. */
			buf_reset(&s->cmdline);
			buf_append(&s->cmdline, in->data, line_len);
			buf_consume(in, len + 1);
			run_line(s, s->cmdline.data, s->cmdline.len);
		}
	}
}

static void session_input(struct lmtp_session *s)
{
	s->depth++;
	session_input_loop(s);
	s->depth--;
	if (s->closed && s->depth == 0 && !s->busy)
		session_free(s);
}

static void session_event_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct lmtp_session *s = arg;

	switch (ev) {
	case CONN_DATAIN:
		if (s->state != LMTP_STATE_DELIVER)
			conn_set_timeout(c, LMTP_TIMEOUT_MS);
		session_input(s);
		break;
	case CONN_LOWAT:
		if (s->waiting_output) {
			s->waiting_output = false;
			conn_resume_input(c);
			session_input(s);
		}
		break;
	case CONN_TIMEOUT:
		if (s->busy)
			break;
		log_info(&s->log, "timeout");
		reply(s, "421 4.4.2 %s Timeout, closing", hostname(s));
		session_quit(s);
		break;
	case CONN_TLS_READY:
		break;
	case CONN_CLOSED:
		log_debug(&s->log, "disconnected");
		control_session_remove(&s->ctl);
		s->closed = true;
		s->conn = NULL;
		if (!s->busy && s->depth == 0)
			session_free(s);
		break;
	}
}

void lmtp_session_start(struct conn *c, struct lmtp_server *srv)
{
	struct lmtp_session *s = xcalloc(1, sizeof(*s));
	const struct conn_info *ci = conn_info(c);

	s->srv = srv;
	s->conn = c;
	s->log.proto = "lmtp";
	s->log.sid = ci->id;
	snprintf(s->log.rip, sizeof(s->log.rip), "%s", ci->rip);
	buf_init(&s->scratch);
	buf_init(&s->line);
	buf_init(&s->cmdline);
	s->state = LMTP_STATE_INIT;
	control_session_add(&s->ctl, "lmtp", c, s, NULL, NULL);
	conn_set_handler(c, session_event_cb, s);
	conn_set_timeout(c, LMTP_TIMEOUT_MS);
	log_debug(&s->log, "connected");
	reply(s, "220 %s LMTP Tandem ready", hostname(s));
}
