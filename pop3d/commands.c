/* commands.c - the POP3 command table and its handlers.
 *
 * RFC 1939 (POP3), RFC 2449 (CAPA and extensions), RFC 2595 (STLS),
 * RFC 3206 (AUTH and SYS response codes), RFC 5034 (AUTH), RFC 6856
 * (UTF8, LANG). Each handler reads top to bottom: grammar, arguments,
 * validation, action, reply. Handlers write only through reply.c.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "conn.h"
#include "pop3d.h"
#include "tandem-build.h"
#include "xalloc.h"

#define LAST_LOGIN_KEY "pop3.last_login"
/* Stored bytes a RETR reads per slice, straight into the output queue: a
 * few chunks per loop turn and write, while the slice still fits in the
 * CPU cache between the read, the encoding and the kernel's copy. The
 * output queue holds at most the high watermark plus one encoded slice. */
#define POP3_STREAM_SLICE (128 * 1024)

/* ---- small helpers ---------------------------------------------------- */

/* Splits off the next space-separated argument of *p; NULL when none. */
static char *next_arg(char **p)
{
	char *a = *p, *sp;

	while (*a == ' ')
		a++;
	if (!*a)
		return NULL;
	sp = strchr(a, ' ');
	if (sp) {
		*sp = '\0';
		*p = sp + 1;
	} else {
		*p = a + strlen(a);
	}
	return a;
}

static bool no_more_args(char *p)
{
	while (*p == ' ')
		p++;
	return *p == '\0';
}

/* -ERR for a bad argument, counted against max_bad_commands. */
static enum pop3_cmd_result bad_args(struct pop3_session *s, const char *why)
{
	pop3_reply_err(s, POP3_CODE_NONE, "%s", why);
	pop3_bad_command(s);
	return POP3_CMD_DONE;
}

/* Resolves a message-number argument; replies -ERR and returns NULL when
 * it is not a number, out of range or marked deleted. */
static struct pop3_msg *msg_arg(struct pop3_session *s, const char *arg,
				unsigned long *num_r)
{
	unsigned long n = maildrop_parse_num(arg);
	struct pop3_msg *m;

	if (n == 0) {
		bad_args(s, "Invalid message number");
		return NULL;
	}
	m = maildrop_get(&s->md, n);
	if (!m) {
		if (n <= s->md.n)
			pop3_reply_err(s, POP3_CODE_NONE,
				       "Message %lu already deleted", n);
		else
			pop3_reply_err(s, POP3_CODE_NONE, "No such message");
		return NULL;
	}
	*num_r = n;
	return m;
}

void pop3_greeting(struct pop3_session *s)
{
	const struct config *cfg = s->srv->cfg;

	s->greeted = true;
	/* RFC 1939 7: the APOP timestamp is a msg-id, unique per greeting. */
	if (cfg->pop3_apop)
		snprintf(s->apop_ts, sizeof(s->apop_ts), "<%ld.%lu.%lld@%s>",
			 (long)getpid(), s->log.sid, (long long)time(NULL),
			 cfg->hostname && *cfg->hostname ? cfg->hostname
							 : "localhost");
	if (s->apop_ts[0])
		pop3_reply_ok(s, "Tandem POP3 server ready %s", s->apop_ts);
	else
		pop3_reply_ok(s, "Tandem POP3 server ready");
}

/* ---- AUTHORIZATION: login, failure, delay ----------------------------- */

struct auth_job {
	struct pop3_session *s;
	enum { JOB_PASS, JOB_APOP, JOB_SASL } kind;
	char *user;
	char *secret;          /* password or APOP digest; wiped after use */
	struct buf in;         /* SASL client message */
	bool has_in;
	struct buf out;        /* SASL server data */
	enum auth_result res;
	enum sasl_status st;
};

struct login_job {
	struct pop3_session *s;
	int64_t mailbox_id;
	int64_t now;
	bool record_login;
	bool expire;
	int rc;
	struct store_err err;
	uint32_t expired;
};

static void auth_job_free(struct auth_job *j)
{
	if (j->secret) {
		explicit_bzero(j->secret, strlen(j->secret));
		free(j->secret);
	}
	if (j->in.data)
		explicit_bzero(j->in.data, j->in.len);
	buf_release(&j->in);
	buf_release(&j->out);
	free(j->user);
	free(j);
}

/* Answers a failed login after the penalty delay (RFC 3206 5: [AUTH] when
 * the credentials are wrong, [SYS/TEMP] when the server could not tell). */
static void auth_failed(struct pop3_session *s, bool temp)
{
	const struct config *cfg = s->srv->cfg;
	unsigned delay;

	sasl_free(&s->sasl);
	s->sasl_final = false;
	free(s->user_arg);
	s->user_arg = NULL;
	if (temp) {
		pop3_reply_err(s, POP3_CODE_SYS_TEMP,
			       "Authentication temporarily unavailable");
		pop3_resume(s);
		return;
	}
	s->auth_failures++;
	control_counters.auth_failures++;
	/* "auth failed" is the fixed phrase fail2ban's filter matches. */
	log_warn(&s->log, "auth failed method=%s failures=%u",
		 s->auth_method ? s->auth_method : "?", s->auth_failures);
	delay = auth_penalty_delay(s->log.rip, cfg->failure_delay_ms);
	auth_penalty_fail(s->log.rip);
	if (delay == 0 || !s->conn) {
		pop3_auth_delay_done(s);
		return;
	}
	s->busy = POP3_BUSY_DELAY;
	conn_set_timeout(s->conn, delay);
}

void pop3_auth_delay_done(struct pop3_session *s)
{
	pop3_reply_err(s, POP3_CODE_AUTH, "Authentication failed");
	if (s->auth_failures >= s->srv->cfg->max_auth_failures) {
		log_info(&s->log, "too many authentication failures, closing");
		pop3_close(s);
		return;
	}
	pop3_resume(s);
}

/* Undoes a half-done login (lock or delay refused it). */
static void login_abandon(struct pop3_session *s)
{
	control_user_release(&s->ctl);
	store_lock_release(&s->lock);
	store_unref(&s->store);
	free(s->auth_user);
	s->auth_user = NULL;
	s->log.user[0] = '\0';
}

static void login_fn(void *arg)
{
	struct login_job *j = arg;
	struct pop3_session *s = j->s;
	struct store_err err = {0};
	char v[32];

	j->rc = 0;
	if (j->record_login) {
		snprintf(v, sizeof(v), "%lld", (long long)j->now);
		if (store_meta_set(s->store, LAST_LOGIN_KEY, v, &err) < 0)
			log_warn(&s->log, "recording login time: %s", err.msg);
	}
	if (j->expire &&
	    pop3_expire_mailbox(s->srv->cfg, s->store, j->mailbox_id, j->now,
				&j->expired, &j->err) < 0)
		log_warn(&s->log, "expire at login: %s", j->err.msg);
}

static void login_done(void *arg)
{
	struct login_job *j = arg;
	struct pop3_session *s = j->s;
	struct store_err err = {0};
	size_t count;
	uint64_t octets;

	if (!pop3_work_finished(s)) {
		free(j);
		return;
	}
	if (j->expired)
		log_info(&s->log, "expired %u messages", j->expired);
	free(j);
	if (maildrop_load(&s->md, s->store, &err) < 0) {
		pop3_reply_store_err(s, &err, "Opening the maildrop");
		login_abandon(s);
		pop3_resume(s);
		return;
	}
	s->user = s->auth_user;
	s->auth_user = NULL;
	control_session_login(&s->ctl, s->user);
	free(s->user_arg);
	s->user_arg = NULL;
	auth_penalty_success(s->log.rip);
	maildrop_stat(&s->md, &count, &octets);
	log_info(&s->log, "login method=%s tls=%d messages=%zu",
		 s->auth_method, s->tls, count);
	pop3_enter_state(s, POP3_STATE_TRANSACTION);
	pop3_reply_ok(s, "Logged in, %zu messages (%" PRIu64 " octets)", count,
		      octets);
	pop3_resume(s);
}

/* Credentials are good: open the store, take the RFC 1939 8 maildrop
 * lock, enforce LOGIN-DELAY (RFC 2449 6.5), then (off the loop) record the
 * login time and apply EXPIRE before the snapshot is taken. */
static void login(struct pop3_session *s, const char *user,
		  const char *method)
{
	const struct config *cfg = s->srv->cfg;
	struct store_err err = {0};
	struct store_mailbox mb;
	struct login_job *j;
	int64_t now = (int64_t)time(NULL);

	s->auth_user = xstrdup(user);
	s->auth_method = method;
	snprintf(s->log.user, sizeof(s->log.user), "%s", user);
	/* [limits] max_connections_per_user, over every worker */
	if (!control_user_take(&s->ctl, user, cfg->max_connections_per_user)) {
		log_info(&s->log, "too many sessions of this user");
		pop3_reply_err(s, POP3_CODE_SYS_TEMP,
			       "Too many sessions of this user");
		login_abandon(s);
		pop3_resume(s);
		return;
	}
	if (store_open(user, true, &s->store, &err) < 0) {
		pop3_reply_store_err(s, &err, "Opening the maildrop");
		login_abandon(s);
		pop3_resume(s);
		return;
	}
	if (cfg->pop3_lock &&
	    store_lock_take(s->store, "pop3", &s->lock, &err) < 0) {
		log_info(&s->log, "maildrop in use");
		if (err.code == STORE_ERR_INUSE)
			pop3_reply_err(s, POP3_CODE_IN_USE,
				       "Maildrop is locked by another POP3 "
				       "session");
		else
			pop3_reply_store_err(s, &err, "Locking the maildrop");
		login_abandon(s);
		pop3_resume(s);
		return;
	}
	if (cfg->pop3_login_delay > 0) {
		struct buf v = BUF_INIT;

		if (store_meta_get(s->store, LAST_LOGIN_KEY, &v, &err) == 0 &&
		    v.len > 0) {
			long long last = strtoll(v.data, NULL, 10);

			if (now >= last &&
			    now - last < (long long)cfg->pop3_login_delay) {
				buf_release(&v);
				log_info(&s->log, "login delay not over");
				pop3_reply_err(s, POP3_CODE_LOGIN_DELAY,
					       "Wait %u seconds between logins",
					       cfg->pop3_login_delay);
				login_abandon(s);
				pop3_resume(s);
				return;
			}
		}
		buf_release(&v);
	}
	if (store_mailbox_get(s->store, "INBOX", &mb, &err) < 0) {
		pop3_reply_store_err(s, &err, "Opening the maildrop");
		login_abandon(s);
		pop3_resume(s);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->mailbox_id = mb.id;
	j->now = now;
	j->record_login = cfg->pop3_login_delay > 0;
	j->expire = cfg->pop3_expire_days > 0;
	if (!j->record_login && !j->expire) {
		/* Nothing to write: finish on the loop at once. */
		s->work_pending++;
		login_done(j);
		return;
	}
	pop3_work(s, login_fn, login_done, j);
}

static void auth_fn(void *arg)
{
	struct auth_job *j = arg;
	struct userdb *db = j->s->srv->userdb;

	switch (j->kind) {
	case JOB_PASS:
		j->res = userdb_verify_password(db, j->user, j->secret);
		break;
	case JOB_APOP:
		j->res = userdb_verify_apop(db, j->user, j->s->apop_ts,
					    j->secret);
		break;
	case JOB_SASL:
		j->st = sasl_step(j->s->sasl, j->has_in ? j->in.data : NULL,
				  j->in.len, &j->out);
		break;
	}
}

static void sasl_challenge(struct pop3_session *s, const struct buf *data)
{
	struct buf b = BUF_INIT;

	/* RFC 5034 4: "+" SP base64 CRLF (an empty challenge is "+ "). */
	buf_append_str(&b, "+ ");
	if (data->len)
		base64_encode(data->data, data->len, &b);
	buf_append(&b, "\r\n", 2);
	pop3_reply_raw(s, b.data, b.len);
	buf_release(&b);
}

static void auth_done(void *arg)
{
	struct auth_job *j = arg;
	struct pop3_session *s = j->s;

	if (!pop3_work_finished(s)) {
		auth_job_free(j);
		return;
	}
	switch (j->kind) {
	case JOB_PASS:
	case JOB_APOP:
		if (j->res == AUTH_OK)
			login(s, j->user, j->kind == JOB_PASS ? "USER" : "APOP");
		else
			auth_failed(s, j->res == AUTH_TEMPFAIL);
		break;
	case JOB_SASL:
		switch (j->st) {
		case SASL_CONTINUE:
			sasl_challenge(s, &j->out);
			pop3_resume(s);
			break;
		case SASL_OK:
			if (j->out.len) {
				/* RFC 5034 4: additional data with success
				 * goes as a challenge; the client answers
				 * with an empty line. */
				s->sasl_final = true;
				sasl_challenge(s, &j->out);
				pop3_resume(s);
				break;
			} else {
				char *u = xstrdup(sasl_user(s->sasl));

				sasl_free(&s->sasl);
				login(s, u, "SASL");
				free(u);
			}
			break;
		case SASL_FAIL:
			auth_failed(s, false);
			break;
		case SASL_TEMPFAIL:
			auth_failed(s, true);
			break;
		case SASL_BADPROTO:
			sasl_free(&s->sasl);
			pop3_reply_err(s, POP3_CODE_NONE,
				       "Malformed authentication exchange");
			if (!pop3_bad_command(s))
				pop3_resume(s);
			break;
		}
		break;
	}
	auth_job_free(j);
}

static void submit_auth(struct pop3_session *s, struct auth_job *j)
{
	j->s = s;
	pop3_work(s, auth_fn, auth_done, j);
}

/* ---- AUTHORIZATION commands -------------------------------------------- */

/* RFC 1939 7: USER SP name. RFC 2595 / RFC 3206: refused without TLS
 * unless plaintext_without_tls allows it, with [AUTH] and the reason. */
static enum pop3_cmd_result cmd_user(struct pop3_session *s, char *args)
{
	char *name = next_arg(&args);

	if (!name || !no_more_args(args))
		return bad_args(s, "USER needs exactly one argument: a name");
	if (!pop3_plaintext_ok(s)) {
		pop3_reply_err(s, POP3_CODE_AUTH,
			       "Plaintext authentication disallowed on "
			       "non-secure connections; use STLS first");
		return POP3_CMD_DONE;
	}
	if (strlen(name) > 255)
		return bad_args(s, "User name too long");
	free(s->user_arg);
	s->user_arg = xstrdup(name);
	pop3_reply_ok(s, "Send your password");
	return POP3_CMD_DONE;
}

/* RFC 1939 7: PASS SP string (the rest of the line: it may hold spaces);
 * only right after a successful USER. */
static enum pop3_cmd_result cmd_pass(struct pop3_session *s, char *args)
{
	struct auth_job *j;

	if (!s->user_arg) {
		pop3_reply_err(s, POP3_CODE_NONE, "Send USER first");
		pop3_bad_command(s);
		return POP3_CMD_DONE;
	}
	if (!pop3_plaintext_ok(s)) {
		pop3_reply_err(s, POP3_CODE_AUTH,
			       "Plaintext authentication disallowed on "
			       "non-secure connections; use STLS first");
		return POP3_CMD_DONE;
	}
	if (!*args)
		return bad_args(s, "PASS needs an argument");
	j = xcalloc(1, sizeof(*j));
	j->kind = JOB_PASS;
	j->user = s->user_arg;
	s->user_arg = NULL;
	j->secret = xstrdup(args);
	explicit_bzero(args, strlen(args));
	submit_auth(s, j);
	return POP3_CMD_MORE;
}

/* RFC 1939 7: APOP SP name SP digest (32 lower-case hex digits of
 * MD5(timestamp secret)). Offered only with [pop3] apop = yes, and works
 * only for users with a stored clear-text-equivalent secret. */
static enum pop3_cmd_result cmd_apop(struct pop3_session *s, char *args)
{
	char *name = next_arg(&args), *digest = next_arg(&args);
	struct auth_job *j;

	if (!s->srv->cfg->pop3_apop || !s->apop_ts[0]) {
		pop3_reply_err(s, POP3_CODE_NONE, "APOP is not enabled");
		pop3_bad_command(s);
		return POP3_CMD_DONE;
	}
	if (!name || !digest || !no_more_args(args))
		return bad_args(s, "APOP needs a name and a digest");
	if (strlen(digest) != 32 || strspn(digest, "0123456789abcdef") != 32)
		return bad_args(s, "APOP digest must be 32 hex digits");
	j = xcalloc(1, sizeof(*j));
	j->kind = JOB_APOP;
	j->user = xstrdup(name);
	j->secret = xstrdup(digest);
	submit_auth(s, j);
	return POP3_CMD_MORE;
}

static bool mech_is_plaintext(const char *mech)
{
	return strcasecmp(mech, "PLAIN") == 0 || strcasecmp(mech, "LOGIN") == 0;
}

/* Decodes a SASL client message: "=" is empty (RFC 5034 4). */
static int decode_response(const char *arg, struct buf *out)
{
	if (strcmp(arg, "=") == 0)
		return 0;
	return base64_decode(arg, strlen(arg), out);
}

/* RFC 5034 4: AUTH SP mechanism [SP initial-response]. A bare AUTH lists
 * the mechanisms (the RFC 1734 era probe some clients still send). */
static enum pop3_cmd_result cmd_auth(struct pop3_session *s, char *args)
{
	char *mech = next_arg(&args), *ir = next_arg(&args);
	bool plain_ok = pop3_plaintext_ok(s);
	struct auth_job *j;

	if (!mech) {
		const char *list = sasl_mechanisms(plain_ok);
		char *copy = xstrdup(list), *p = copy, *m;

		pop3_reply_ok(s, "Supported mechanisms follow");
		while ((m = next_arg(&p)))
			pop3_reply_line(s, "%s", m);
		pop3_reply_end(s);
		free(copy);
		return POP3_CMD_DONE;
	}
	if (!no_more_args(args))
		return bad_args(s, "AUTH takes a mechanism and an optional "
				   "initial response");
	if (!plain_ok && mech_is_plaintext(mech)) {
		pop3_reply_err(s, POP3_CODE_AUTH,
			       "Plaintext authentication disallowed on "
			       "non-secure connections; use STLS first");
		return POP3_CMD_DONE;
	}
	s->sasl = sasl_new(mech, s->srv->userdb, plain_ok);
	if (!s->sasl) {
		pop3_reply_err(s, POP3_CODE_NONE,
			       "Unsupported authentication mechanism");
		pop3_bad_command(s);
		return POP3_CMD_DONE;
	}
	j = xcalloc(1, sizeof(*j));
	j->kind = JOB_SASL;
	if (ir) {
		j->has_in = true;
		if (decode_response(ir, &j->in) < 0) {
			auth_job_free(j);
			sasl_free(&s->sasl);
			return bad_args(s, "Invalid base64 in initial "
					   "response");
		}
	}
	submit_auth(s, j);
	return POP3_CMD_MORE;
}

enum pop3_cmd_result pop3_sasl_response(struct pop3_session *s, char *line)
{
	struct auth_job *j;

	/* RFC 5034 4: "*" cancels the exchange. */
	if (strcmp(line, "*") == 0) {
		sasl_free(&s->sasl);
		s->sasl_final = false;
		pop3_reply_err(s, POP3_CODE_NONE, "Authentication cancelled");
		return POP3_CMD_DONE;
	}
	if (s->sasl_final) {
		char *u;

		s->sasl_final = false;
		if (*line) {
			sasl_free(&s->sasl);
			pop3_reply_err(s, POP3_CODE_NONE,
				       "Expected an empty response");
			pop3_bad_command(s);
			return POP3_CMD_DONE;
		}
		u = xstrdup(sasl_user(s->sasl));
		sasl_free(&s->sasl);
		login(s, u, "SASL");
		free(u);
		return POP3_CMD_MORE;
	}
	j = xcalloc(1, sizeof(*j));
	j->kind = JOB_SASL;
	j->has_in = true;
	if (decode_response(line, &j->in) < 0) {
		explicit_bzero(line, strlen(line));
		auth_job_free(j);
		sasl_free(&s->sasl);
		return bad_args(s, "Invalid base64 in authentication response");
	}
	explicit_bzero(line, strlen(line));
	submit_auth(s, j);
	return POP3_CMD_MORE;
}

/* RFC 2595 4: STLS, only in AUTHORIZATION and before TLS. */
static enum pop3_cmd_result cmd_stls(struct pop3_session *s, char *args)
{
	if (!no_more_args(args))
		return bad_args(s, "STLS takes no argument");
	if (s->tls) {
		pop3_reply_err(s, POP3_CODE_NONE, "TLS is already active");
		return POP3_CMD_DONE;
	}
	if (!conn_tls_available()) {
		pop3_reply_err(s, POP3_CODE_SYS_PERM, "TLS is not configured");
		return POP3_CMD_DONE;
	}
	pop3_reply_ok(s, "Begin TLS negotiation now");
	if (conn_starttls(s->conn) < 0) {
		pop3_close(s);
		return POP3_CMD_DONE;
	}
	linereader_reset(&s->lr);
	s->busy = POP3_BUSY_TLS;
	return POP3_CMD_MORE;
}

/* RFC 6856 2: UTF8, in AUTHORIZATION. */
static enum pop3_cmd_result cmd_utf8(struct pop3_session *s, char *args)
{
	if (!no_more_args(args))
		return bad_args(s, "UTF8 takes no argument");
	s->utf8 = true;
	pop3_reply_ok(s, "UTF8 enabled");
	return POP3_CMD_DONE;
}

/* RFC 6856 3: LANG [SP lang-range]. Only English is offered. */
static enum pop3_cmd_result cmd_lang(struct pop3_session *s, char *args)
{
	char *range = next_arg(&args);

	if (range && !no_more_args(args))
		return bad_args(s, "LANG takes at most one argument");
	if (!range) {
		pop3_reply_ok(s, "Language listing follows");
		pop3_reply_line(s, "en English");
		pop3_reply_end(s);
		return POP3_CMD_DONE;
	}
	if (strcmp(range, "*") == 0 || strcasecmp(range, "en") == 0 ||
	    strncasecmp(range, "en-", 3) == 0) {
		pop3_reply_ok(s, "en Language changed");
		return POP3_CMD_DONE;
	}
	pop3_reply_err(s, POP3_CODE_NONE, "Invalid language %s", range);
	return POP3_CMD_DONE;
}

/* RFC 2449 5: CAPA; the list depends on the state (6.0). */
static enum pop3_cmd_result cmd_capa(struct pop3_session *s, char *args)
{
	const struct config *cfg = s->srv->cfg;
	bool auth = s->state == POP3_STATE_AUTHORIZATION;

	if (!no_more_args(args))
		return bad_args(s, "CAPA takes no argument");
	pop3_reply_ok(s, "Capability list follows");
	pop3_reply_line(s, "CAPA");
	pop3_reply_line(s, "TOP");
	pop3_reply_line(s, "UIDL");
	pop3_reply_line(s, "RESP-CODES");
	pop3_reply_line(s, "AUTH-RESP-CODE");
	pop3_reply_line(s, "PIPELINING");
	if (auth) {
		const char *mechs = sasl_mechanisms(pop3_plaintext_ok(s));

		pop3_reply_line(s, "USER");
		if (mechs && *mechs)
			pop3_reply_line(s, "SASL %s", mechs);
		if (!s->tls && conn_tls_available())
			pop3_reply_line(s, "STLS");
	}
	if (cfg->pop3_expire_days < 0)
		pop3_reply_line(s, "EXPIRE NEVER");
	else
		pop3_reply_line(s, "EXPIRE %d", cfg->pop3_expire_days);
	pop3_reply_line(s, "LOGIN-DELAY %u", cfg->pop3_login_delay);
	pop3_reply_line(s, "UTF8");
	pop3_reply_line(s, "LANG");
	pop3_reply_line(s, "IMPLEMENTATION Tandem-%s", TANDEM_VERSION);
	pop3_reply_end(s);
	return POP3_CMD_DONE;
}

/* ---- TRANSACTION ------------------------------------------------------ */

/* RFC 1939 5: STAT -> +OK nn mm */
static enum pop3_cmd_result cmd_stat(struct pop3_session *s, char *args)
{
	size_t count;
	uint64_t octets;

	if (!no_more_args(args))
		return bad_args(s, "STAT takes no argument");
	maildrop_stat(&s->md, &count, &octets);
	pop3_reply_ok(s, "%zu %" PRIu64, count, octets);
	return POP3_CMD_DONE;
}

/* RFC 1939 5: LIST [SP msg] -> scan listings "n size". */
static enum pop3_cmd_result cmd_list(struct pop3_session *s, char *args)
{
	char *arg = next_arg(&args);
	struct pop3_msg *m;
	unsigned long n;
	size_t count;
	uint64_t octets;

	if (arg) {
		if (!no_more_args(args))
			return bad_args(s, "LIST takes at most one argument");
		m = msg_arg(s, arg, &n);
		if (m)
			pop3_reply_ok(s, "%lu %" PRIu64, n, m->size);
		return POP3_CMD_DONE;
	}
	maildrop_stat(&s->md, &count, &octets);
	pop3_reply_ok(s, "%zu messages (%" PRIu64 " octets)", count, octets);
	for (size_t i = 0; i < s->md.n; i++)
		if (!s->md.msgs[i].deleted)
			pop3_reply_line(s, "%zu %" PRIu64, i + 1,
					s->md.msgs[i].size);
	pop3_reply_end(s);
	return POP3_CMD_DONE;
}

/* RFC 1939 7: UIDL [SP msg] -> "n unique-id". */
static enum pop3_cmd_result cmd_uidl(struct pop3_session *s, char *args)
{
	char *arg = next_arg(&args);
	char uidl[POP3_UIDL_MAX + 1];
	struct pop3_msg *m;
	unsigned long n;

	if (arg) {
		if (!no_more_args(args))
			return bad_args(s, "UIDL takes at most one argument");
		m = msg_arg(s, arg, &n);
		if (m) {
			maildrop_uidl(&s->md, m, uidl);
			pop3_reply_ok(s, "%lu %s", n, uidl);
		}
		return POP3_CMD_DONE;
	}
	pop3_reply_ok(s, "Unique-ID listing follows");
	for (size_t i = 0; i < s->md.n; i++) {
		if (s->md.msgs[i].deleted)
			continue;
		maildrop_uidl(&s->md, &s->md.msgs[i], uidl);
		pop3_reply_line(s, "%zu %s", i + 1, uidl);
	}
	pop3_reply_end(s);
	return POP3_CMD_DONE;
}

void pop3_stream_stop(struct pop3_session *s)
{
	store_body_close(&s->body);
	s->cur = NULL;
}

/* RETR: one slice of the body read straight into the output queue and
 * encoded there (dotstuff_retr_inplace). Returns its stored length, 0 at
 * the end, or -1 (err set). */
static ssize_t stream_slice(struct pop3_session *s, struct store_err *err)
{
	struct buf *out = conn_write_buf(s->conn);
	uint64_t left = store_body_size(s->body) - s->body_off;
	size_t from, want = POP3_STREAM_SLICE;
	ssize_t n;

	if (out == NULL || left == 0)
		return 0;
	if (want > left)
		want = (size_t)left;
	from = out->len;
	n = store_body_read(s->body, s->body_off, buf_space(out, want), want,
			    err);
	if (n > 0) {
		buf_commit(out, (size_t)n);
		dotstuff_retr_inplace(&s->ds, out, from, &s->out);
	}
	conn_write_commit(s->conn);
	return n;
}

/* TOP: one chunk at most, borrowed from the store, stuffed into the
 * output queue until the line count is reached. */
static ssize_t stream_top(struct pop3_session *s, bool *end_r,
			  struct store_err *err)
{
	const char *p;
	ssize_t n = store_body_peek(s->body, s->body_off, &p, err);

	if (n > 0) {
		n = (ssize_t)pop3_reply_stuffed(s, &s->ds, p, (size_t)n);
		*end_r = dotstuff_done(&s->ds);
	}
	return n;
}

enum pop3_cmd_result pop3_stream_run(struct pop3_session *s)
{
	bool end = false;

	while (s->conn && !conn_output_full(s->conn)) {
		struct store_err err = {0};
		ssize_t n = s->cur_top ? stream_top(s, &end, &err)
				       : stream_slice(s, &err);

		if (n < 0) {
			/* The +OK is out: a -ERR cannot follow. Drop the
			 * connection rather than send a wrong message. */
			log_error(&s->log, "reading message uid=%u: %s",
				  s->cur ? s->cur->uid : 0, err.msg);
			pop3_stream_stop(s);
			s->closing = true;
			conn_abort(s->conn);
			return POP3_CMD_MORE;
		}
		s->body_off += (uint64_t)n;
		if (n == 0 || end) {
			end = true;
			break;
		}
	}
	if (!end) {
		s->busy = POP3_BUSY_STREAM;
		return POP3_CMD_MORE;
	}
	buf_reset(&s->out);
	dotstuff_finish(&s->ds, &s->out);
	pop3_reply_raw(s, s->out.data, s->out.len);
	buf_shrink(&s->out, 4096);
	s->cur->seen_wanted = true;
	if (!s->cur_top)
		s->cur->retrieved = true;
	pop3_stream_stop(s);
	return POP3_CMD_DONE;
}

/* Starts RETR or TOP of m. A message an IMAP client expunged since the
 * snapshot answers -ERR, never someone else's bytes. */
static enum pop3_cmd_result stream_open(struct pop3_session *s,
					struct pop3_msg *m, bool top,
					uint64_t lines)
{
	struct store_err err = {0};
	struct store_msg sm;

	if (store_msg_get(s->store, s->md.mailbox_id, m->uid, &sm, &err) < 0) {
		if (err.code == STORE_ERR_NOTFOUND ||
		    err.code == STORE_ERR_EXPUNGED) {
			pop3_reply_err(s, POP3_CODE_NONE,
				       "Message was deleted by another "
				       "session");
			return POP3_CMD_DONE;
		}
		pop3_reply_store_err(s, &err, "Reading the message");
		return POP3_CMD_DONE;
	}
	if (store_body_open(s->store, m->body_id, &s->body, &err) < 0) {
		pop3_reply_store_err(s, &err, "Reading the message");
		return POP3_CMD_DONE;
	}
	s->cur = m;
	s->cur_top = top;
	s->body_off = 0;
	dotstuff_init(&s->ds, top, lines);
	if (top)
		pop3_reply_ok(s, "Top of message follows");
	else
		pop3_reply_ok(s, "%" PRIu64 " octets", m->size);
	if (pop3_stream_run(s) == POP3_CMD_MORE)
		return POP3_CMD_MORE;
	return POP3_CMD_DONE;
}

static enum pop3_cmd_result stream_start(struct pop3_session *s,
					 struct pop3_msg *m, bool top,
					 uint64_t lines)
{
	enum pop3_cmd_result r;

	/* The lookup, the open and the first slices (all of most messages)
	 * share one read transaction: one round of file locks per RETR. */
	store_read_begin(s->store);
	r = stream_open(s, m, top, lines);
	store_read_end(s->store);
	return r;
}

/* RFC 1939 5: RETR SP msg */
static enum pop3_cmd_result cmd_retr(struct pop3_session *s, char *args)
{
	char *arg = next_arg(&args);
	struct pop3_msg *m;
	unsigned long n;

	if (!arg || !no_more_args(args))
		return bad_args(s, "RETR needs exactly one message number");
	m = msg_arg(s, arg, &n);
	if (!m)
		return POP3_CMD_DONE;
	return stream_start(s, m, false, 0);
}

/* RFC 1939 7: TOP SP msg SP n (n non-negative). */
static enum pop3_cmd_result cmd_top(struct pop3_session *s, char *args)
{
	char *arg = next_arg(&args), *lines = next_arg(&args), *end;
	unsigned long long nl;
	struct pop3_msg *m;
	unsigned long n;

	if (!arg || !lines || !no_more_args(args))
		return bad_args(s, "TOP needs a message number and a line "
				   "count");
	if (!isdigit((unsigned char)lines[0]))
		return bad_args(s, "Invalid line count");
	nl = strtoull(lines, &end, 10);
	if (*end)
		return bad_args(s, "Invalid line count");
	m = msg_arg(s, arg, &n);
	if (!m)
		return POP3_CMD_DONE;
	return stream_start(s, m, true, nl);
}

/* RFC 1939 5: DELE SP msg. Only marks; UPDATE applies it. */
static enum pop3_cmd_result cmd_dele(struct pop3_session *s, char *args)
{
	char *arg = next_arg(&args);
	struct pop3_msg *m;
	unsigned long n;

	if (!arg || !no_more_args(args))
		return bad_args(s, "DELE needs exactly one message number");
	m = msg_arg(s, arg, &n);
	if (!m)
		return POP3_CMD_DONE;
	m->deleted = true;
	pop3_reply_ok(s, "Message %lu deleted", n);
	return POP3_CMD_DONE;
}

/* RFC 1939 5: NOOP */
static enum pop3_cmd_result cmd_noop(struct pop3_session *s, char *args)
{
	if (!no_more_args(args))
		return bad_args(s, "NOOP takes no argument");
	pop3_reply_ok(s, "Nothing done");
	return POP3_CMD_DONE;
}

/* RFC 1939 5: RSET */
static enum pop3_cmd_result cmd_rset(struct pop3_session *s, char *args)
{
	size_t count;
	uint64_t octets;

	if (!no_more_args(args))
		return bad_args(s, "RSET takes no argument");
	maildrop_rset(&s->md);
	maildrop_stat(&s->md, &count, &octets);
	pop3_reply_ok(s, "Maildrop has %zu messages (%" PRIu64 " octets)",
		      count, octets);
	return POP3_CMD_DONE;
}

/* ---- QUIT and UPDATE -------------------------------------------------- */

struct quit_job {
	struct pop3_session *s;
	struct store_uid_range *del, *seen, *ret;
	size_t ndel, nseen, nret;
	int rc;
	uint32_t expunged;
	struct store_err err;
};

static void quit_fn(void *arg)
{
	struct quit_job *j = arg;
	struct pop3_session *s = j->s;
	const struct config *cfg = s->srv->cfg;
	int64_t mb = s->md.mailbox_id;
	struct store_err err = {0};

	j->rc = 0;
	if (j->ndel) {
		struct store_uidset set = {j->del, j->ndel};

		if (cfg->pop3_delete_mode == POP3_DELETE_FLAG)
			j->rc = store_set_flags(s->store, mb, &set,
						STORE_FLAGS_ADD, STORE_F_SEEN,
						POP3_DELETED_KEYWORD, 0, NULL,
						NULL, &j->err);
		else
			j->rc = store_expunge(s->store, mb, &set, false,
					      &j->expunged, &j->err);
	}
	if (j->nseen && cfg->pop3_keep_seen) {
		struct store_uidset set = {j->seen, j->nseen};

		if (store_set_flags(s->store, mb, &set, STORE_FLAGS_ADD,
				    STORE_F_SEEN, NULL, 0, NULL, NULL,
				    &err) < 0)
			log_warn(&s->log, "setting \\Seen: %s", err.msg);
	}
	if (j->nret) {
		struct store_uidset set = {j->ret, j->nret};

		if (store_mark_retrieved(s->store, mb, &set,
					 (int64_t)time(NULL), &err) < 0)
			log_warn(&s->log, "marking retrieved: %s", err.msg);
	}
}

static void quit_done(void *arg)
{
	struct quit_job *j = arg;
	struct pop3_session *s = j->s;
	bool ok = j->rc == 0;

	if (!ok)
		log_error(&s->log, "applying deletions: %s", j->err.msg);
	else if (j->ndel)
		log_info(&s->log, "logout deleted=%zu", j->ndel);
	free(j->del);
	free(j->seen);
	free(j->ret);
	free(j);
	if (!pop3_work_finished(s))
		return;
	store_lock_release(&s->lock);
	if (ok)
		pop3_reply_ok(s, "Logging out");
	else
		pop3_reply_err(s, POP3_CODE_SYS_TEMP,
			       "Some deleted messages not removed");
	pop3_close(s);
}

/* RFC 1939 6: QUIT in TRANSACTION enters UPDATE: the marks are applied
 * in one transaction; in AUTHORIZATION it just ends the session. */
static enum pop3_cmd_result cmd_quit(struct pop3_session *s, char *args)
{
	const struct config *cfg = s->srv->cfg;
	struct quit_job *j;

	if (s->state == POP3_STATE_AUTHORIZATION) {
		pop3_reply_ok(s, "Logging out");
		pop3_close(s);
		return POP3_CMD_DONE;
	}
	/* RFC 2449 6.7: EXPIRE 0 is an implicit DELE of what was
	 * retrieved. */
	if (cfg->pop3_expire_days == 0)
		for (size_t i = 0; i < s->md.n; i++)
			if (s->md.msgs[i].retrieved)
				s->md.msgs[i].deleted = true;
	pop3_enter_state(s, POP3_STATE_UPDATE);
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->ndel = maildrop_uid_ranges(&s->md, MAILDROP_DELETED, &j->del);
	j->nseen = maildrop_uid_ranges(&s->md, MAILDROP_SEEN_WANTED, &j->seen);
	j->nret = maildrop_uid_ranges(&s->md, MAILDROP_RETRIEVED, &j->ret);
	if (!j->ndel && !j->nret && !(j->nseen && cfg->pop3_keep_seen)) {
		s->work_pending++;
		quit_done(j);
		return POP3_CMD_MORE;
	}
	pop3_work(s, quit_fn, quit_done, j);
	return POP3_CMD_MORE;
}

/* ---- the table -------------------------------------------------------- */

#define AUTHZ POP3_STATE_AUTHORIZATION
#define TRANS POP3_STATE_TRANSACTION

static const struct pop3_command commands[] = {
	{"USER", cmd_user, AUTHZ},
	{"PASS", cmd_pass, AUTHZ},
	{"APOP", cmd_apop, AUTHZ},
	{"AUTH", cmd_auth, AUTHZ},
	{"STLS", cmd_stls, AUTHZ},
	{"UTF8", cmd_utf8, AUTHZ},
	{"LANG", cmd_lang, AUTHZ | TRANS},
	{"CAPA", cmd_capa, AUTHZ | TRANS},
	{"QUIT", cmd_quit, AUTHZ | TRANS},
	{"STAT", cmd_stat, TRANS},
	{"LIST", cmd_list, TRANS},
	{"RETR", cmd_retr, TRANS},
	{"DELE", cmd_dele, TRANS},
	{"NOOP", cmd_noop, TRANS},
	{"RSET", cmd_rset, TRANS},
	{"TOP", cmd_top, TRANS},
	{"UIDL", cmd_uidl, TRANS},
};

const struct pop3_command *pop3_command_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcasecmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}
