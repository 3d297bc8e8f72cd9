/* cmd-login.c - LOGIN, and the login outcome shared with AUTHENTICATE. */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "session.h"
#include "xalloc.h"

enum imap_cmd_result imap_login_success(struct imap_cmd *cmd,
					const char *user, const char *method)
{
	struct imap_session *s = cmd->s;
	struct store_err err = {0};
	struct buf code = BUF_INIT;

	/* [limits] max_connections_per_user, over every worker; RFC 5530
	 * LIMIT: "the operation ran up against an implementation limit" */
	if (!control_user_take(&s->ctl, user,
			       s->srv->cfg->max_connections_per_user)) {
		log_info(&s->log, "too many sessions of %s", user);
		return imap_reply_no(cmd, "LIMIT",
				     "Too many sessions of this user");
	}
	if (store_open(user, true, &s->store, &err) < 0) {
		control_user_release(&s->ctl);
		log_error(&s->log, "opening the store of %s: %s", user,
			  err.msg);
		/* RFC 9051 7.1 CONTACTADMIN: a damaged store is nothing the
		 * user can fix or wait out (tandemctl check is the admin's) */
		if (err.code == STORE_ERR_CORRUPT)
			return imap_reply_no(cmd, "CONTACTADMIN",
					     "Your mail store is damaged, "
					     "please contact the administrator");
		return imap_reply_store_err(cmd, &err, "Opening your mail");
	}
	s->user = xstrdup(user);
	control_session_login(&s->ctl, s->user);
	snprintf(s->log.user, sizeof(s->log.user), "%s", user);
	auth_penalty_success(s->log.rip);
	log_info(&s->log, "login method=%s", method);
	imap_enter_state(s, IMAP_STATE_AUTHENTICATED);
	/* RFC 9051 7.1 ALERT: "the client MUST present [the text] to the
	 * user" -- the administrator's notice (maintenance, migration). */
	if (s->srv->cfg->imap_login_alert && *s->srv->cfg->imap_login_alert)
		imap_reply_untagged(s, "OK [ALERT] %s",
				    s->srv->cfg->imap_login_alert);
	/* RFC 9051 6.2.3: a CAPABILITY response code in the OK saves the
	 * client a round trip (the list changes after login). */
	buf_append_str(&code, "CAPABILITY ");
	imap_capabilities(s, &code);
	imap_reply_ok(cmd, code.data, "Logged in");
	buf_release(&code);
	return IMAP_CMD_DONE;
}

static enum imap_cmd_result failed_reply(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;

	imap_reply_no(cmd, "AUTHENTICATIONFAILED", "Authentication failed");
	if (s->srv->cfg->max_auth_failures &&
	    s->auth_failures >= s->srv->cfg->max_auth_failures) {
		log_info(&s->log, "too many authentication failures, closing");
		imap_reply_untagged(s, "BYE Too many authentication failures");
		imap_close(s);
	}
	return IMAP_CMD_DONE;
}

enum imap_cmd_result imap_login_failed(struct imap_cmd *cmd,
				       const char *method, bool temp)
{
	struct imap_session *s = cmd->s;
	unsigned delay;

	if (temp) {
		log_warn(&s->log, "auth temporarily failed method=%s", method);
		return imap_reply_no(cmd, "UNAVAILABLE",
				     "Authentication temporarily unavailable");
	}
	s->auth_failures++;
	control_counters.auth_failures++;
	/* the stable prefix fail2ban's filter looks for */
	log_info(&s->log, "auth failed method=%s", method);
	delay = auth_penalty_delay(s->log.rip, s->srv->cfg->failure_delay_ms);
	auth_penalty_fail(s->log.rip);
	return imap_cmd_sleep(cmd, delay, failed_reply);
}

struct login_ctx {
	char *user;
	char *pass; /* wiped in cleanup */
	size_t pass_len;
	enum auth_result res;
};

static void login_cleanup(struct imap_cmd *cmd)
{
	struct login_ctx *c = cmd->ctx;

	if (c && c->pass)
		explicit_bzero(c->pass, c->pass_len);
}

static void login_work(struct imap_cmd *cmd)
{
	struct login_ctx *c = cmd->ctx;

	c->res = userdb_verify_password(cmd->s->srv->userdb, c->user, c->pass);
}

static enum imap_cmd_result login_done(struct imap_cmd *cmd)
{
	struct login_ctx *c = cmd->ctx;

	login_cleanup(cmd);
	if (c->res == AUTH_OK)
		return imap_login_success(cmd, c->user, "LOGIN");
	return imap_login_failed(cmd, "LOGIN", c->res == AUTH_TEMPFAIL);
}

/* RFC 9051 6.2.3: login = "LOGIN" SP userid SP password
 *   userid = astring; password = astring
 * Refused before TLS unless [auth] plaintext_without_tls allows it:
 * NO [PRIVACYREQUIRED] (RFC 9051 7.1; LOGINDISABLED is advertised). The
 * password check runs on a worker thread. */
enum imap_cmd_result imap_cmd_login(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct login_ctx *c;
	const char *u, *p;
	size_t ul, pl;

	if (cmd->nargs != 2 || !imap_arg_astring(&cmd->args[0], &u, &ul) ||
	    !imap_arg_astring(&cmd->args[1], &p, &pl))
		return imap_reply_bad(cmd, "Usage: LOGIN user password");
	if (!imap_plaintext_ok(s)) {
		log_info(&s->log, "auth failed method=LOGIN reason=no-tls");
		return imap_reply_no(cmd, "PRIVACYREQUIRED",
				     "Plaintext authentication is disallowed "
				     "without TLS");
	}
	if (memchr(u, '\0', ul) || memchr(p, '\0', pl))
		return imap_login_failed(cmd, "LOGIN", false);
	c = imap_cmd_alloc(cmd, sizeof(*c));
	c->user = imap_cmd_strndup(cmd, u, ul);
	c->pass = imap_cmd_strndup(cmd, p, pl);
	c->pass_len = pl;
	cmd->ctx = c;
	cmd->cleanup = login_cleanup;
	return imap_cmd_work(cmd, login_work, login_done);
}
