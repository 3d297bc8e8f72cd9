/* session.c - one POP3 session per connection: the conn callback (one
 * switch), line splitting for PIPELINING (RFC 2449 6.6), the dispatcher
 * and the life cycle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "config.h"
#include "conn.h"
#include "linereader.h"
#include "pop3d.h"
#include "work.h"
#include "xalloc.h"

static void session_free(struct pop3_session *s)
{
	pop3_stream_stop(s);
	store_lock_release(&s->lock);
	store_unref(&s->store);
	maildrop_release(&s->md);
	sasl_free(&s->sasl);
	free(s->user_arg);
	free(s->auth_user);
	free(s->user);
	buf_release(&s->out);
	buf_release(&s->line);
	log_debug(&s->log, "session freed");
	free(s);
}

void pop3_enter_state(struct pop3_session *s, enum pop3_state st)
{
	s->state = st;
	pop3_arm_timeout(s);
}

void pop3_arm_timeout(struct pop3_session *s)
{
	const struct config *cfg = s->srv->cfg;
	unsigned sec;

	if (!s->conn)
		return;
	/* RFC 1939 3: an autologout timer of at least 10 minutes once
	 * logged in; the shorter pre-login limit before. */
	sec = s->state == POP3_STATE_AUTHORIZATION ? cfg->prelogin_timeout
						   : cfg->pop3_idle_timeout;
	if (sec == 0)
		sec = 600;
	conn_set_timeout(s->conn, sec * 1000u);
}

bool pop3_plaintext_ok(const struct pop3_session *s)
{
	switch (s->srv->cfg->plaintext_without_tls) {
	case PLAINTEXT_YES:
		return true;
	case PLAINTEXT_NO:
		return s->tls;
	case PLAINTEXT_LOOPBACK:
		return s->tls || (s->conn && conn_info(s->conn)->loopback);
	}
	return s->tls;
}

void pop3_close(struct pop3_session *s)
{
	s->closing = true;
	if (s->conn)
		conn_close(s->conn);
}

bool pop3_bad_command(struct pop3_session *s)
{
	if (++s->bad_commands < s->srv->cfg->max_bad_commands)
		return false;
	log_info(&s->log, "too many bad commands, closing");
	pop3_reply_err(s, POP3_CODE_NONE, "Too many bad commands, closing");
	pop3_close(s);
	return true;
}

void pop3_work(struct pop3_session *s, void (*fn)(void *),
	       void (*done)(void *), void *arg)
{
	s->work_pending++;
	s->busy = POP3_BUSY_WORK;
	work_submit(s->srv->loop, fn, done, arg);
}

bool pop3_work_finished(struct pop3_session *s)
{
	if (s->work_pending == 0)
		abort(); /* a bug: more completions than submissions */
	s->work_pending--;
	if (s->conn)
		return true;
	if (s->work_pending == 0)
		session_free(s);
	return false;
}

/* RFC 2449 3: keyword [SP argument ...], case-insensitive keyword. The
 * table says in which states a command is valid; a handler that cannot
 * finish at once has set s->busy and the loop stops reading lines. */
static void dispatch(struct pop3_session *s, char *line)
{
	const struct pop3_command *cmd;
	char *args, *sp;

	if (s->sasl) {
		pop3_sasl_response(s, line);
		return;
	}
	control_counters.commands++;
	sp = strchr(line, ' ');
	args = sp ? sp + 1 : line + strlen(line);
	if (sp)
		*sp = '\0';
	cmd = pop3_command_find(line);
	if (!cmd) {
		log_debug(&s->log, "unknown command");
		pop3_reply_err(s, POP3_CODE_NONE, "Unknown command");
		pop3_bad_command(s);
		return;
	}
	if (!(cmd->states & s->state)) {
		pop3_reply_err(s, POP3_CODE_NONE, "%s is not valid %s",
			       cmd->name,
			       s->state == POP3_STATE_AUTHORIZATION
				       ? "before login"
				       : "after login");
		pop3_bad_command(s);
		return;
	}
	cmd->fn(s, args);
}

/* Reads complete lines from the input while no command is busy, so
 * pipelined commands run one after the other. A line longer than
 * max_line closes the session with a reason. */
static void process_input(struct pop3_session *s)
{
	s->in_process = true;
	while (s->conn && !s->closing && s->busy == POP3_IDLE &&
	       s->state != POP3_STATE_UPDATE) {
		struct buf *in = conn_input(s->conn);
		struct line l;
		enum line_result r = linereader_next(&s->lr, in, &l);

		if (r == LINE_MORE)
			break;
		if (r == LINE_TOOLONG) {
			log_info(&s->log, "line too long, closing");
			pop3_reply_err(s, POP3_CODE_NONE,
				       "Line too long, closing");
			pop3_close(s);
			break;
		}
		buf_reset(&s->line);
		buf_append(&s->line, l.ptr, l.len);
		buf_consume(in, l.size);
		if (memchr(s->line.data, '\0', s->line.len)) {
			pop3_reply_err(s, POP3_CODE_NONE,
				       "NUL byte in command line");
			pop3_bad_command(s);
			continue;
		}
		dispatch(s, s->line.data);
	}
	s->in_process = false;
	if (!s->conn || s->closing)
		return;
	/* A TLS handshake needs the socket read; anything else that is
	 * busy keeps pipelined commands waiting in the kernel. */
	if (s->busy != POP3_IDLE && s->busy != POP3_BUSY_TLS) {
		if (!s->paused)
			conn_pause_input(s->conn);
		s->paused = true;
	} else if (s->state == POP3_STATE_UPDATE) {
		if (!s->paused)
			conn_pause_input(s->conn);
		s->paused = true;
	} else if (s->paused) {
		s->paused = false;
		conn_resume_input(s->conn);
	}
}

void pop3_resume(struct pop3_session *s)
{
	s->busy = POP3_IDLE;
	if (!s->conn)
		return;
	pop3_arm_timeout(s);
	/* Called from inside process_input (a command that finished at
	 * once): its loop goes on with the next line, no recursion. */
	if (!s->in_process)
		process_input(s);
}

static void reject(struct pop3_session *s)
{
	s->greeted = true;
	pop3_reply_err(s, POP3_CODE_SYS_TEMP,
		       "Too many connections from your address");
	pop3_close(s);
}

static void on_timeout(struct pop3_session *s)
{
	switch (s->busy) {
	case POP3_BUSY_DELAY:
		pop3_auth_delay_done(s);
		return;
	case POP3_BUSY_WORK:
		/* A job is running: wait for it, whatever the client does. */
		pop3_arm_timeout(s);
		return;
	default:
		break;
	}
	log_info(&s->log, "idle timeout, closing");
	if (s->busy == POP3_IDLE)
		pop3_reply_err(s, POP3_CODE_NONE,
			       "Autologout; idle for too long");
	pop3_close(s);
}

static void session_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct pop3_session *s = arg;

	switch (ev) {
	case CONN_DATAIN:
		if (s->closing)
			break;
		pop3_arm_timeout(s);
		process_input(s);
		break;
	case CONN_LOWAT:
		if (s->busy == POP3_BUSY_STREAM && !s->closing) {
			pop3_arm_timeout(s);
			if (pop3_stream_run(s) == POP3_CMD_DONE)
				pop3_resume(s);
		}
		break;
	case CONN_TLS_READY:
		s->tls = true;
		/* conn discarded the plaintext that followed STLS. */
		linereader_reset(&s->lr);
		if (s->busy == POP3_BUSY_TLS) {
			/* RFC 2595 4: after STLS the client forgets what it
			 * knew, and so do we. */
			free(s->user_arg);
			s->user_arg = NULL;
			if (s->reject) {
				reject(s);
				break;
			}
			if (!s->greeted)
				pop3_greeting(s);
			pop3_resume(s);
		}
		break;
	case CONN_TIMEOUT:
		on_timeout(s);
		break;
	case CONN_CLOSED:
		log_debug(&s->log, "connection closed");
		control_session_remove(&s->ctl);
		s->conn = NULL;
		s->closing = true;
		pop3_stream_stop(s);
		if (s->work_pending == 0)
			session_free(s);
		break;
	}
}

/* tandemctl kick. RFC 1939 has no unsolicited response: the "-ERR" is
 * read as the answer to the client's next command, then the connection
 * is closed (as for the autologout timer). Not while a RETR/TOP is being
 * sent or a job runs: then the close alone. */
static void kick(void *arg)
{
	struct pop3_session *s = arg;

	if (!s->conn || s->closing)
		return;
	log_info(&s->log, "disconnected by the administrator");
	if (s->busy == POP3_IDLE)
		pop3_reply_err(s, POP3_CODE_NONE,
			       "Disconnected by the administrator");
	pop3_close(s);
}

void pop3_accept(struct conn *c, void *arg)
{
	struct pop3_server *srv = arg;
	const struct conn_info *ci = conn_info(c);
	struct pop3_session *s = xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->conn = c;
	s->log.proto = "pop3";
	s->log.sid = ci->id;
	snprintf(s->log.rip, sizeof(s->log.rip), "%s", ci->rip);
	s->state = POP3_STATE_AUTHORIZATION;
	linereader_init(&s->lr, srv->cfg->max_line);
	srv->nsessions++;
	control_session_add(&s->ctl, "pop3", c, s, kick, NULL);
	conn_set_handler(c, session_cb, s);
	log_debug(&s->log, "connect lport=%d tls=%d", ci->lport,
		  ci->implicit_tls);
	pop3_arm_timeout(s);
	if (srv->cfg->max_connections_per_ip &&
	    conn_count_for_ip(ci->rip) > srv->cfg->max_connections_per_ip) {
		log_info(&s->log, "too many connections from this address");
		if (ci->implicit_tls && !ci->tls) {
			/* The reason can only be told inside TLS. */
			s->reject = true;
			s->busy = POP3_BUSY_TLS;
			return;
		}
		reject(s);
		return;
	}
	if (ci->implicit_tls && !ci->tls) {
		/* RFC 8314 3.3: the greeting comes after the handshake. */
		s->busy = POP3_BUSY_TLS;
		return;
	}
	s->tls = ci->tls;
	pop3_greeting(s);
	process_input(s);
}
