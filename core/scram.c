/* scram.c - SCRAM-SHA-256 (RFC 5802, RFC 7677): key derivation, the stored
 * "{SCRAM-SHA-256}iter,salt,storedkey,serverkey" entries (Dovecot's form),
 * and the server side of the exchange.
 *
 * Passwords are used as given (no SASLprep, RFC 5802 2.2): clients send
 * the same bytes for ASCII passwords, which is what Dovecot does too.
 * Channel binding is not offered (no -PLUS mechanism).
 */
#include "auth-private.h"
#include "buf.h"
#include "xalloc.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRAM_PREFIX "{SCRAM-SHA-256}"
#define SCRAM_MAX_MSG 8192
#define SCRAM_NONCE_BYTES 18 /* 24 base64 characters */

bool auth_mem_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen)
		return false;
	return gnutls_memcmp(a, b, alen) == 0;
}

void auth_random(void *p, size_t n, bool key)
{
	if (gnutls_rnd(key ? GNUTLS_RND_KEY : GNUTLS_RND_NONCE, p, n) < 0)
		fatal("gnutls_rnd failed");
}

int scram_derive(const char *password, const unsigned char *salt,
		 size_t salt_len, unsigned iter, struct scram_keys *k)
{
	unsigned char salted[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN];
	gnutls_datum_t key = {(unsigned char *)password,
			      (unsigned)strlen(password)};
	gnutls_datum_t s = {(unsigned char *)salt, (unsigned)salt_len};
	int ret = -1;

	if (salt_len == 0 || salt_len > SCRAM_MAX_SALT || iter == 0 ||
	    iter > SCRAM_MAX_ITER)
		return -1;
	k->iter = iter;
	memcpy(k->salt, salt, salt_len);
	k->salt_len = salt_len;
	/* RFC 5802 3: SaltedPassword := Hi(Normalize(password), salt, i),
	 * Hi being PBKDF2 with HMAC as the PRF. */
	if (gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &s, iter, salted,
			  sizeof(salted)) < 0)
		goto out;
	/* ClientKey := HMAC(SaltedPassword, "Client Key");
	 * StoredKey := H(ClientKey);
	 * ServerKey := HMAC(SaltedPassword, "Server Key") */
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, salted, sizeof(salted),
			     "Client Key", 10, client_key) < 0 ||
	    gnutls_hash_fast(GNUTLS_DIG_SHA256, client_key,
			     sizeof(client_key), k->stored_key) < 0 ||
	    gnutls_hmac_fast(GNUTLS_MAC_SHA256, salted, sizeof(salted),
			     "Server Key", 10, k->server_key) < 0)
		goto out;
	ret = 0;
out:
	gnutls_memset(salted, 0, sizeof(salted));
	gnutls_memset(client_key, 0, sizeof(client_key));
	return ret;
}

void scram_format(const struct scram_keys *k, struct buf *out)
{
	buf_printf(out, SCRAM_PREFIX "%u,", k->iter);
	base64_encode(k->salt, k->salt_len, out);
	buf_append_c(out, ',');
	base64_encode(k->stored_key, SCRAM_KEY_LEN, out);
	buf_append_c(out, ',');
	base64_encode(k->server_key, SCRAM_KEY_LEN, out);
}

int scram_make_entry(const char *password, struct buf *out)
{
	struct scram_keys k;
	unsigned char salt[SCRAM_SALT_LEN];

	auth_random(salt, sizeof(salt), false);
	if (scram_derive(password, salt, sizeof(salt), SCRAM_DEFAULT_ITER,
			 &k) < 0)
		return -1;
	scram_format(&k, out);
	gnutls_memset(&k, 0, sizeof(k));
	return 0;
}

/* Decodes the base64 field [p, end) into dst of exactly want bytes (or at
 * most want bytes when exact is false). */
static int decode_field(const char *p, const char *end, unsigned char *dst,
			size_t want, bool exact, size_t *len_r)
{
	struct buf b = BUF_INIT;
	int ret = -1;

	if (base64_decode(p, (size_t)(end - p), &b) == 0 && b.len > 0 &&
	    (exact ? b.len == want : b.len <= want)) {
		memcpy(dst, b.data, b.len);
		if (len_r)
			*len_r = b.len;
		ret = 0;
	}
	buf_release(&b);
	return ret;
}

int scram_parse(const char *entry, struct scram_keys *k)
{
	const char *p = entry, *c1, *c2, *c3, *end;
	char *num_end;
	unsigned long iter;

	if (strncmp(p, SCRAM_PREFIX, strlen(SCRAM_PREFIX)) == 0)
		p += strlen(SCRAM_PREFIX);
	end = p + strlen(p);
	c1 = strchr(p, ',');
	c2 = c1 ? strchr(c1 + 1, ',') : NULL;
	c3 = c2 ? strchr(c2 + 1, ',') : NULL;
	if (!c3 || strchr(c3 + 1, ','))
		return -1;
	if (*p < '1' || *p > '9')
		return -1;
	iter = strtoul(p, &num_end, 10);
	if (num_end != c1 || iter > SCRAM_MAX_ITER)
		return -1;
	k->iter = (unsigned)iter;
	if (decode_field(c1 + 1, c2, k->salt, SCRAM_MAX_SALT, false,
			 &k->salt_len) < 0 ||
	    decode_field(c2 + 1, c3, k->stored_key, SCRAM_KEY_LEN, true,
			 NULL) < 0 ||
	    decode_field(c3 + 1, end, k->server_key, SCRAM_KEY_LEN, true,
			 NULL) < 0)
		return -1;
	return 0;
}

bool scram_verify_plain(const char *entry, const char *password)
{
	struct scram_keys want, got;
	bool ok;

	if (scram_parse(entry, &want) < 0)
		return false;
	if (scram_derive(password, want.salt, want.salt_len, want.iter,
			 &got) < 0)
		return false;
	/* Both keys, with & so both comparisons always run. */
	ok = auth_mem_equal(got.stored_key, SCRAM_KEY_LEN, want.stored_key,
			    SCRAM_KEY_LEN) &
	     auth_mem_equal(got.server_key, SCRAM_KEY_LEN, want.server_key,
			    SCRAM_KEY_LEN);
	gnutls_memset(&got, 0, sizeof(got));
	return ok;
}

/* ---- the server exchange --------------------------------------------- */

/* A per-process secret for the made-up salt of unknown users, so that
 * SCRAM does not tell whether a user exists: the same name gets the same
 * salt each time, from one process lifetime to the next only differently. */
static unsigned char fake_secret[32];
static pthread_once_t fake_once = PTHREAD_ONCE_INIT;

static void fake_secret_init(void)
{
	auth_random(fake_secret, sizeof(fake_secret), true);
}

enum scram_state {
	SCRAM_START,      /* waiting for client-first-message */
	SCRAM_START_SENT, /* same, after an empty challenge */
	SCRAM_FIRST_SENT, /* server-first sent; waiting for client-final */
	SCRAM_FINAL_SENT, /* server-final (v=) sent; waiting for "" */
	SCRAM_DONE,       /* succeeded or failed: no more steps */
};

struct scram_server {
	/* set at creation */
	struct userdb *db;
	char *test_nonce;
	/* exchange state */
	enum scram_state state;
	bool fake;            /* unknown user: fail at the proof */
	bool ok;
	char *user;           /* authcid, decoded */
	char *gs2_header;     /* as sent, e.g. "n,," */
	char *client_first_bare;
	char *server_first;
	char *nonce;          /* c-nonce + s-nonce */
	struct scram_keys keys;
};

struct scram_server *scram_server_new(struct userdb *db)
{
	struct scram_server *s = xcalloc(1, sizeof(*s));

	s->db = db;
	s->state = SCRAM_START;
	return s;
}

void scram_server_set_nonce(struct scram_server *s, const char *nonce)
{
	free(s->test_nonce);
	s->test_nonce = xstrdup(nonce);
}

const char *scram_server_user(const struct scram_server *s)
{
	return s->ok ? s->user : NULL;
}

void scram_server_free(struct scram_server **sp)
{
	struct scram_server *s = *sp;

	if (!s)
		return;
	free(s->test_nonce);
	free(s->user);
	free(s->gs2_header);
	free(s->client_first_bare);
	free(s->server_first);
	free(s->nonce);
	gnutls_memset(&s->keys, 0, sizeof(s->keys));
	free(s);
	*sp = NULL;
}

/* RFC 5802 7: saslname = 1*(value-safe-char / "=2C" / "=3D").
 * Decodes [p, end) into a new string, or returns NULL. */
static char *decode_saslname(const char *p, const char *end)
{
	struct buf b = BUF_INIT;

	if (p == end)
		return NULL;
	for (; p < end; p++) {
		if (*p == '=') {
			if (end - p >= 3 && p[1] == '2' && p[2] == 'C')
				buf_append_c(&b, ',');
			else if (end - p >= 3 && p[1] == '3' && p[2] == 'D')
				buf_append_c(&b, '=');
			else
				goto bad;
			p += 2;
		} else if (*p == ',' || *p == '\0') {
			goto bad;
		} else {
			buf_append_c(&b, *p);
		}
	}
	return b.data;
bad:
	buf_release(&b);
	return NULL;
}

/* RFC 5802 7: printable = %x21-2B / %x2D-7E ;; Printable ASCII except ",". */
static bool nonce_valid(const char *p, const char *end)
{
	if (p == end)
		return false;
	for (; p < end; p++)
		if (*p < 0x21 || *p > 0x7e || *p == ',')
			return false;
	return true;
}

static void fake_keys(const char *user, struct scram_keys *k)
{
	unsigned char mac[32];

	pthread_once(&fake_once, fake_secret_init);
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, fake_secret, sizeof(fake_secret),
			 user, strlen(user), mac);
	k->iter = SCRAM_DEFAULT_ITER;
	memcpy(k->salt, mac, SCRAM_SALT_LEN);
	k->salt_len = SCRAM_SALT_LEN;
	auth_random(k->stored_key, SCRAM_KEY_LEN, false);
	auth_random(k->server_key, SCRAM_KEY_LEN, false);
}

/* RFC 5802 7:
 *   client-first-message = gs2-header client-first-message-bare
 *   gs2-header = gs2-cbind-flag "," [ authzid ] ","
 *   gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
 *   authzid = "a=" saslname
 *   client-first-message-bare = [reserved-mext ","]
 *                               username "," nonce ["," extensions]
 *   username = "n=" saslname
 *   nonce = "r=" c-nonce [s-nonce]
 * Answers server-first-message = [reserved-mext ","] nonce "," salt ","
 *   iteration-count ["," extensions]. */
static enum sasl_status scram_first(struct scram_server *s, const char *in,
				    size_t inlen, struct buf *out)
{
	const char *end = in + inlen, *p, *c, *bare, *cnonce, *cnonce_end;
	char *authzid = NULL;
	struct buf tmp = BUF_INIT;
	enum sasl_status st = SASL_BADPROTO;

	if (inlen < 3)
		goto out;
	if (in[0] == 'p' && in[1] == '=') {
		st = SASL_FAIL; /* channel binding: no -PLUS offered */
		goto out;
	}
	if ((in[0] != 'n' && in[0] != 'y') || in[1] != ',')
		goto out;
	p = in + 2;
	c = memchr(p, ',', (size_t)(end - p));
	if (!c)
		goto out;
	if (c != p) {
		if (c - p < 3 || p[0] != 'a' || p[1] != '=')
			goto out;
		authzid = decode_saslname(p + 2, c);
		if (!authzid)
			goto out;
	}
	bare = c + 1;
	s->gs2_header = xstrndup(in, (size_t)(bare - in));
	s->client_first_bare = xstrndup(bare, (size_t)(end - bare));
	p = bare;
	if (end - p >= 2 && p[0] == 'm' && p[1] == '=') {
		st = SASL_FAIL; /* RFC 5802 5.1: unknown mandatory extension */
		goto out;
	}
	if (end - p < 2 || p[0] != 'n' || p[1] != '=')
		goto out;
	c = memchr(p, ',', (size_t)(end - p));
	if (!c)
		goto out;
	s->user = decode_saslname(p + 2, c);
	if (!s->user)
		goto out;
	p = c + 1;
	if (end - p < 2 || p[0] != 'r' || p[1] != '=')
		goto out;
	cnonce = p + 2;
	cnonce_end = memchr(cnonce, ',', (size_t)(end - cnonce));
	if (!cnonce_end)
		cnonce_end = end; /* else extensions follow: ignored */
	if (!nonce_valid(cnonce, cnonce_end))
		goto out;
	/* No proxy authorization: authzid must name the user itself. */
	if (authzid && strcmp(authzid, s->user) != 0) {
		st = SASL_FAIL;
		goto out;
	}

	switch (userdb_get_scram(s->db, s->user, &tmp)) {
	case AUTH_OK:
		if (scram_parse(tmp.data, &s->keys) < 0) {
			st = SASL_TEMPFAIL; /* a corrupt entry */
			goto out;
		}
		break;
	case AUTH_FAIL:
		s->fake = true;
		fake_keys(s->user, &s->keys);
		break;
	case AUTH_TEMPFAIL:
		st = SASL_TEMPFAIL;
		goto out;
	}

	buf_reset(&tmp);
	buf_append(&tmp, cnonce, (size_t)(cnonce_end - cnonce));
	if (s->test_nonce) {
		buf_append_str(&tmp, s->test_nonce);
	} else {
		unsigned char rnd[SCRAM_NONCE_BYTES];

		auth_random(rnd, sizeof(rnd), false);
		base64_encode(rnd, sizeof(rnd), &tmp);
	}
	s->nonce = xstrdup(tmp.data);

	buf_reset(&tmp);
	buf_printf(&tmp, "r=%s,s=", s->nonce);
	base64_encode(s->keys.salt, s->keys.salt_len, &tmp);
	buf_printf(&tmp, ",i=%u", s->keys.iter);
	s->server_first = xstrdup(tmp.data);
	buf_append_str(out, s->server_first);
	s->state = SCRAM_FIRST_SENT;
	st = SASL_CONTINUE;
out:
	free(authzid);
	buf_release(&tmp);
	return st;
}

/* RFC 5802 7:
 *   client-final-message-without-proof = channel-binding "," nonce [","
 *                                        extensions]
 *   client-final-message = client-final-message-without-proof "," proof
 *   channel-binding = "c=" base64   ;; base64 of gs2-header here
 *   proof = "p=" base64
 * Answers server-final-message = (server-error / verifier)
 *   verifier = "v=" base64   ;; ServerSignature */
static enum sasl_status scram_final(struct scram_server *s, const char *in,
				    size_t inlen, struct buf *out)
{
	const char *end = in + inlen, *p, *c, *proof_at = NULL;
	struct buf tmp = BUF_INIT, auth_msg = BUF_INIT;
	unsigned char proof[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN];
	unsigned char client_key[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
	enum sasl_status st = SASL_BADPROTO;
	size_t i;

	/* the proof is the last attribute */
	for (p = in; p + 3 <= end; p++)
		if (p[0] == ',' && p[1] == 'p' && p[2] == '=')
			proof_at = p;
	if (!proof_at || inlen < 2 || in[0] != 'c' || in[1] != '=')
		goto out;
	c = memchr(in, ',', (size_t)(end - in));
	base64_encode(s->gs2_header, strlen(s->gs2_header), &tmp);
	if ((size_t)(c - (in + 2)) != tmp.len ||
	    memcmp(in + 2, tmp.data, tmp.len) != 0) {
		st = SASL_FAIL; /* channel binding data differs */
		goto out;
	}
	p = c + 1;
	if (p >= proof_at || end - p < 2 || p[0] != 'r' || p[1] != '=')
		goto out;
	c = memchr(p, ',', (size_t)(end - p)); /* non-NULL: proof_at */
	if ((size_t)(c - (p + 2)) != strlen(s->nonce) ||
	    memcmp(p + 2, s->nonce, strlen(s->nonce)) != 0) {
		st = SASL_FAIL;
		goto out;
	}
	if (decode_field(proof_at + 3, end, proof, sizeof(proof), true,
			 NULL) < 0)
		goto out;

	/* AuthMessage := client-first-message-bare + "," +
	 *                server-first-message + "," +
	 *                client-final-message-without-proof
	 * ClientSignature := HMAC(StoredKey, AuthMessage)
	 * ClientKey := ClientProof XOR ClientSignature; H(ClientKey) must be
	 * StoredKey. ServerSignature := HMAC(ServerKey, AuthMessage) */
	buf_printf(&auth_msg, "%s,%s,", s->client_first_bare, s->server_first);
	buf_append(&auth_msg, in, (size_t)(proof_at - in));
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, s->keys.stored_key,
			     SCRAM_KEY_LEN, auth_msg.data, auth_msg.len,
			     sig) < 0) {
		st = SASL_TEMPFAIL;
		goto out;
	}
	for (i = 0; i < SCRAM_KEY_LEN; i++)
		client_key[i] = proof[i] ^ sig[i];
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, client_key, SCRAM_KEY_LEN,
			     stored) < 0) {
		st = SASL_TEMPFAIL;
		goto out;
	}
	if (!auth_mem_equal(stored, SCRAM_KEY_LEN, s->keys.stored_key,
			    SCRAM_KEY_LEN) ||
	    s->fake) {
		st = SASL_FAIL;
		goto out;
	}
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, s->keys.server_key,
			     SCRAM_KEY_LEN, auth_msg.data, auth_msg.len,
			     sig) < 0) {
		st = SASL_TEMPFAIL;
		goto out;
	}
	buf_append_str(out, "v=");
	base64_encode(sig, sizeof(sig), out);
	s->state = SCRAM_FINAL_SENT;
	st = SASL_CONTINUE;
out:
	gnutls_memset(client_key, 0, sizeof(client_key));
	buf_release(&tmp);
	buf_release(&auth_msg);
	return st;
}

enum sasl_status scram_server_step(struct scram_server *s, const char *in,
				   size_t inlen, struct buf *out)
{
	enum sasl_status st;

	if (in && (inlen > SCRAM_MAX_MSG || memchr(in, '\0', inlen))) {
		s->state = SCRAM_DONE;
		return SASL_BADPROTO;
	}
	switch (s->state) {
	case SCRAM_START:
		if (!in) { /* RFC 4422 3.3: no initial response */
			s->state = SCRAM_START_SENT; /* the empty challenge */
			return SASL_CONTINUE;
		}
		st = scram_first(s, in, inlen, out);
		break;
	case SCRAM_START_SENT:
		st = in ? scram_first(s, in, inlen, out) : SASL_BADPROTO;
		break;
	case SCRAM_FIRST_SENT:
		st = in ? scram_final(s, in, inlen, out) : SASL_BADPROTO;
		break;
	case SCRAM_FINAL_SENT:
		/* RFC 9051 6.2.2 / RFC 5034 4: the server-final data went as a
		 * challenge; the client answers it with an empty response. */
		if (inlen != 0) {
			st = SASL_BADPROTO;
			break;
		}
		s->ok = true;
		s->state = SCRAM_DONE;
		return SASL_OK;
	case SCRAM_DONE:
	default:
		st = SASL_BADPROTO;
		break;
	}
	if (st != SASL_CONTINUE)
		s->state = SCRAM_DONE;
	return st;
}
