/* cmd-authenticate.c - AUTHENTICATE with SASL-IR (RFC 4959). */
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "session.h"

struct auth_ctx {
	struct sasl *sasl;
	char mech[32];
	struct buf in, out;  /* wiped in cleanup */
	bool has_in;
	enum sasl_status st;
};

static void auth_cleanup(struct imap_cmd *cmd)
{
	struct auth_ctx *c = cmd->ctx;

	sasl_free(&c->sasl);
	if (c->in.data)
		explicit_bzero(c->in.data, c->in.len);
	buf_release(&c->in);
	buf_release(&c->out);
}

static void auth_work(struct imap_cmd *cmd)
{
	struct auth_ctx *c = cmd->ctx;

	buf_reset(&c->out);
	c->st = sasl_step(c->sasl, c->has_in ? (c->in.data ? c->in.data : "")
					     : NULL,
			  c->in.len, &c->out);
	if (c->in.data)
		explicit_bzero(c->in.data, c->in.len);
	buf_reset(&c->in);
}

static enum imap_cmd_result auth_line(struct imap_cmd *cmd, const char *line,
				      size_t len);

static enum imap_cmd_result auth_done(struct imap_cmd *cmd)
{
	struct auth_ctx *c = cmd->ctx;
	struct buf *b;

	switch (c->st) {
	case SASL_CONTINUE:
		/* RFC 9051 7.6: "+" SP base64 CRLF */
		b = imap_reply_begin(cmd->s);
		b->data[0] = '+';
		if (c->out.len)
			base64_encode(c->out.data, c->out.len, b);
		imap_reply_end(cmd->s);
		return imap_cmd_read_line(cmd, auth_line);
	case SASL_OK:
		return imap_login_success(cmd, sasl_user(c->sasl), c->mech);
	case SASL_FAIL:
		return imap_login_failed(cmd, c->mech, false);
	case SASL_TEMPFAIL:
		return imap_login_failed(cmd, c->mech, true);
	case SASL_BADPROTO:
		break;
	}
	return imap_reply_bad(cmd, "Malformed authentication exchange");
}

/* A client response: base64, or "*" to cancel (RFC 9051 6.2.2). */
static enum imap_cmd_result auth_line(struct imap_cmd *cmd, const char *line,
				      size_t len)
{
	struct auth_ctx *c = cmd->ctx;

	if (len == 1 && line[0] == '*')
		return imap_reply_bad(cmd, "Authentication cancelled");
	buf_reset(&c->in);
	if (base64_decode(line, len, &c->in) < 0)
		return imap_reply_bad(cmd, "Invalid base64 in response");
	c->has_in = true;
	return imap_cmd_work(cmd, auth_work, auth_done);
}

/* RFC 9051 6.2.2: authenticate = "AUTHENTICATE" SP auth-type
 *                   [SP initial-resp] *(CRLF base64)
 *   initial-resp = base64 / "="      (RFC 4959 SASL-IR; "=" is empty)
 * Mechanisms from core/auth.h; PLAIN/LOGIN only where clear text is
 * allowed (else NO [PRIVACYREQUIRED]). Each SASL step runs on a worker
 * thread (password hashing). */
enum imap_cmd_result imap_cmd_authenticate(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct auth_ctx *c;
	const char *mech, *ir = NULL;
	size_t irl = 0;

	if (cmd->nargs < 1 || cmd->nargs > 2 ||
	    !imap_arg_atom(&cmd->args[0], &mech) ||
	    (cmd->nargs == 2 && !imap_arg_atom(&cmd->args[1], &ir)))
		return imap_reply_bad(cmd,
				      "Usage: AUTHENTICATE mechanism [initial]");
	if (ir)
		irl = cmd->args[1].len;
	c = imap_cmd_alloc(cmd, sizeof(*c));
	snprintf(c->mech, sizeof(c->mech), "%s", mech);
	for (char *p = c->mech; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	cmd->ctx = c;
	cmd->cleanup = auth_cleanup;
	c->sasl = sasl_new(mech, s->srv->userdb, imap_plaintext_ok(s));
	if (!c->sasl) {
		if (strcasecmp(mech, "PLAIN") == 0 ||
		    strcasecmp(mech, "LOGIN") == 0) {
			log_info(&s->log, "auth failed method=%s reason=no-tls",
				 c->mech);
			return imap_reply_no(cmd, "PRIVACYREQUIRED",
					     "Plaintext authentication is "
					     "disallowed without TLS");
		}
		return imap_reply_no(cmd, "CANNOT",
				     "Unsupported authentication mechanism");
	}
	if (ir) {
		c->has_in = true;
		if (!(irl == 1 && ir[0] == '=') &&
		    base64_decode(ir, irl, &c->in) < 0)
			return imap_reply_bad(cmd, "Invalid base64 in response");
	}
	return imap_cmd_work(cmd, auth_work, auth_done);
}
