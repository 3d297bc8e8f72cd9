/* sasl.c - the server side of SASL (RFC 4422) for IMAP AUTHENTICATE
 * (RFC 9051 6.2.2) and POP3 AUTH (RFC 5034): PLAIN (RFC 4616), LOGIN
 * (draft-murchison-sasl-login) and SCRAM-SHA-256 (RFC 7677, scram.c).
 *
 * The front end base64-decodes each client line and feeds the bytes to
 * sasl_step(), which runs on a worker thread (it verifies passwords).
 */
#include "auth-private.h"
#include "buf.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SASL_FIELD_MAX 1024 /* authzid, authcid, password */

enum sasl_mech {
	MECH_PLAIN,
	MECH_LOGIN,
	MECH_SCRAM_SHA_256,
};

enum login_state {
	LOGIN_START,    /* nothing sent yet */
	LOGIN_USER,     /* "Username:" sent */
	LOGIN_PASSWORD, /* "Password:" sent */
	LOGIN_DONE,
};

struct sasl {
	enum sasl_mech mech;
	struct userdb *db;
	bool done;       /* OK/FAIL/BADPROTO returned: no more steps */
	unsigned steps;  /* sasl_step calls so far */
	char *user;      /* set once authenticated */
	/* LOGIN */
	enum login_state login;
	char *login_user;
	/* SCRAM-SHA-256 */
	struct scram_server *scram;
};

const char *sasl_mechanisms(bool plaintext_ok)
{
	return plaintext_ok ? "SCRAM-SHA-256 PLAIN LOGIN" : "SCRAM-SHA-256";
}

struct sasl *sasl_new(const char *mech, struct userdb *db, bool plaintext_ok)
{
	struct sasl *s;
	enum sasl_mech m;

	if (strcasecmp(mech, "PLAIN") == 0 && plaintext_ok)
		m = MECH_PLAIN;
	else if (strcasecmp(mech, "LOGIN") == 0 && plaintext_ok)
		m = MECH_LOGIN;
	else if (strcasecmp(mech, "SCRAM-SHA-256") == 0)
		m = MECH_SCRAM_SHA_256;
	else
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->mech = m;
	s->db = db;
	if (m == MECH_SCRAM_SHA_256)
		s->scram = scram_server_new(db);
	return s;
}

void sasl_scram_set_nonce(struct sasl *s, const char *nonce)
{
	if (s->scram)
		scram_server_set_nonce(s->scram, nonce);
}

static enum sasl_status verify(struct sasl *s, const char *user,
			       const char *password)
{
	switch (userdb_verify_password(s->db, user, password)) {
	case AUTH_OK:
		s->user = xstrdup(user);
		return SASL_OK;
	case AUTH_TEMPFAIL:
		return SASL_TEMPFAIL;
	case AUTH_FAIL:
	default:
		return SASL_FAIL;
	}
}

/* RFC 4616 2:
 *   message   = [authzid] UTF8NUL authcid UTF8NUL passwd
 *   authcid   = 1*SAFE ; MUST accept up to 255 octets
 *   authzid   = 1*SAFE ; MUST accept up to 255 octets
 *   passwd    = 1*SAFE ; MUST accept up to 255 octets
 * We offer no proxy authorization: authzid must be empty or the authcid. */
static enum sasl_status plain_step(struct sasl *s, const char *in,
				   size_t inlen)
{
	const char *nul1, *nul2, *end = in + inlen;
	char *authzid, *authcid, *passwd;
	enum sasl_status st;

	if (!in) /* RFC 4422 3.3: no initial response, empty challenge */
		return SASL_CONTINUE;
	nul1 = memchr(in, '\0', inlen);
	nul2 = nul1 ? memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1)) : NULL;
	if (!nul2 || memchr(nul2 + 1, '\0', (size_t)(end - nul2 - 1)) ||
	    nul2 == nul1 + 1 || nul2 + 1 == end ||
	    nul1 - in > SASL_FIELD_MAX || nul2 - nul1 - 1 > SASL_FIELD_MAX ||
	    end - nul2 - 1 > SASL_FIELD_MAX) {
		s->done = true;
		return SASL_BADPROTO;
	}
	authzid = xstrndup(in, (size_t)(nul1 - in));
	authcid = xstrndup(nul1 + 1, (size_t)(nul2 - nul1 - 1));
	passwd = xstrndup(nul2 + 1, (size_t)(end - nul2 - 1));
	if (authzid[0] && strcmp(authzid, authcid) != 0)
		st = SASL_FAIL;
	else
		st = verify(s, authcid, passwd);
	explicit_bzero(passwd, strlen(passwd));
	free(authzid);
	free(authcid);
	free(passwd);
	s->done = true;
	return st;
}

/* LOGIN (draft-murchison-sasl-login-00 2): the server sends "Username:",
 * the client the user name, the server "Password:", the client the
 * password. Some clients send the user name as an initial response. */
static enum sasl_status login_step(struct sasl *s, const char *in,
				   size_t inlen, struct buf *out)
{
	char *passwd;
	enum sasl_status st;

	if (in && (inlen > SASL_FIELD_MAX || memchr(in, '\0', inlen))) {
		s->done = true;
		return SASL_BADPROTO;
	}
	switch (s->login) {
	case LOGIN_START:
		if (!in) {
			buf_append_str(out, "Username:");
			s->login = LOGIN_USER;
			return SASL_CONTINUE;
		}
		/* the initial response is the user name */
		__attribute__((fallthrough));
	case LOGIN_USER:
		if (!in) {
			s->done = true;
			return SASL_BADPROTO;
		}
		s->login_user = xstrndup(in, inlen);
		buf_append_str(out, "Password:");
		s->login = LOGIN_PASSWORD;
		return SASL_CONTINUE;
	case LOGIN_PASSWORD:
		if (!in) {
			s->done = true;
			return SASL_BADPROTO;
		}
		passwd = xstrndup(in, inlen);
		st = verify(s, s->login_user, passwd);
		explicit_bzero(passwd, inlen);
		free(passwd);
		s->login = LOGIN_DONE;
		s->done = true;
		return st;
	case LOGIN_DONE:
	default:
		s->done = true;
		return SASL_BADPROTO;
	}
}

enum sasl_status sasl_step(struct sasl *s, const char *in, size_t inlen,
			   struct buf *out)
{
	enum sasl_status st;

	if (s->done)
		return SASL_BADPROTO;
	/* Only the first step may lack a response (no initial response);
	 * later, an empty response is "" with inlen 0. In the final SCRAM
	 * step NULL is taken for "". */
	if (!in && s->steps > 0 && s->mech != MECH_SCRAM_SHA_256) {
		s->done = true;
		return SASL_BADPROTO;
	}
	s->steps++;
	switch (s->mech) {
	case MECH_PLAIN:
		return plain_step(s, in, inlen);
	case MECH_LOGIN:
		return login_step(s, in, inlen, out);
	case MECH_SCRAM_SHA_256:
		st = scram_server_step(s->scram, in, inlen, out);
		if (st == SASL_OK)
			s->user = xstrdup(scram_server_user(s->scram));
		if (st != SASL_CONTINUE)
			s->done = true;
		return st;
	}
	return SASL_BADPROTO;
}

const char *sasl_user(const struct sasl *s)
{
	return s->user;
}

void sasl_free(struct sasl **sp)
{
	struct sasl *s = *sp;

	if (!s)
		return;
	free(s->user);
	free(s->login_user);
	scram_server_free(&s->scram);
	free(s);
	*sp = NULL;
}
