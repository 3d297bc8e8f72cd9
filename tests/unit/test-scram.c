/* test-scram.c - SCRAM-SHA-256: the RFC 7677 3 exchange byte for byte,
 * entries made by Dovecot, and a full exchange with a client written here
 * after RFC 5802 3. */
#include "t.h"

#include "auth-private.h"
#include "auth.h"
#include "buf.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>

static char dir[] = "/tmp/tandem-test-scram-XXXXXX";
static struct userdb *db;

/* RFC 7677 3 */
#define R_CFIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define R_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define R_SFIRST "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
		 "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define R_CFINAL "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF" \
		 "$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define R_SFINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static enum sasl_status step(struct sasl *s, const char *in, struct buf *out)
{
	buf_reset(out);
	return sasl_step(s, in, in ? strlen(in) : 0, out);
}

static void test_rfc7677(void)
{
	struct buf err = BUF_INIT, out = BUF_INIT, salt = BUF_INIT;
	struct scram_keys k;
	struct sasl *s;

	CHECK(base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, &salt) == 0);
	CHECK(scram_derive("pencil", (unsigned char *)salt.data, salt.len,
			   4096, &k) == 0);
	scram_format(&k, &out);
	CHECK(userdb_add(db, "user", out.data, &err) == 0);
	CHECK(userdb_verify_password(db, "user", "pencil") == AUTH_OK);

	s = sasl_new("scram-sha-256", db, false);
	CHECK(s != NULL);
	sasl_scram_set_nonce(s, R_SNONCE);
	CHECK(step(s, R_CFIRST, &out) == SASL_CONTINUE);
	CHECK_STR(out.data, R_SFIRST);
	CHECK(sasl_user(s) == NULL);
	CHECK(step(s, R_CFINAL, &out) == SASL_CONTINUE);
	CHECK_STR(out.data, R_SFINAL);
	CHECK(sasl_user(s) == NULL);
	CHECK(step(s, "", &out) == SASL_OK);
	CHECK_STR(sasl_user(s), "user");
	CHECK(step(s, "", &out) == SASL_BADPROTO);
	sasl_free(&s);
	CHECK(s == NULL);

	/* the same, but no initial response: an empty challenge first */
	s = sasl_new("SCRAM-SHA-256", db, true);
	sasl_scram_set_nonce(s, R_SNONCE);
	CHECK(step(s, NULL, &out) == SASL_CONTINUE);
	CHECK(out.len == 0);
	CHECK(step(s, R_CFIRST, &out) == SASL_CONTINUE);
	CHECK_STR(out.data, R_SFIRST);
	CHECK(step(s, R_CFINAL, &out) == SASL_CONTINUE);
	CHECK_STR(out.data, R_SFINAL);
	CHECK(sasl_step(s, NULL, 0, &out) == SASL_OK);
	CHECK_STR(sasl_user(s), "user");
	sasl_free(&s);

	/* a wrong proof (one character changed) */
	s = sasl_new("SCRAM-SHA-256", db, true);
	sasl_scram_set_nonce(s, R_SNONCE);
	CHECK(step(s, R_CFIRST, &out) == SASL_CONTINUE);
	CHECK(step(s, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hN"
		      "lF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVA=",
		   &out) == SASL_FAIL);
	CHECK(sasl_user(s) == NULL);
	sasl_free(&s);

	/* something other than an empty response after v= */
	s = sasl_new("SCRAM-SHA-256", db, true);
	sasl_scram_set_nonce(s, R_SNONCE);
	CHECK(step(s, R_CFIRST, &out) == SASL_CONTINUE);
	CHECK(step(s, R_CFINAL, &out) == SASL_CONTINUE);
	CHECK(step(s, "x", &out) == SASL_BADPROTO);
	CHECK(sasl_user(s) == NULL);
	sasl_free(&s);

	buf_release(&err);
	buf_release(&out);
	buf_release(&salt);
}

/* A client after RFC 5802 3. Returns the client-final message for the
 * server-first message sfirst, and the expected v= in vwant. */
static void client_final(const char *password, const char *gs2_b64,
			 const char *cfirst_bare, const char *sfirst,
			 struct buf *cfinal, struct buf *vwant)
{
	struct buf salt = BUF_INIT, am = BUF_INIT;
	const char *r, *sp, *ip;
	struct scram_keys k;
	unsigned char ck[32], sig[32], proof[32], ssig[32];
	size_t i;

	r = sfirst + 2;
	sp = strstr(sfirst, ",s=");
	ip = strstr(sfirst, ",i=");
	CHECK(sp && ip);
	if (!sp || !ip)
		return;
	CHECK(base64_decode(sp + 3, (size_t)(ip - sp - 3), &salt) == 0);
	CHECK(scram_derive(password, (unsigned char *)salt.data, salt.len,
			   (unsigned)atoi(ip + 3), &k) == 0);
	buf_reset(cfinal);
	buf_printf(cfinal, "c=%s,r=%.*s", gs2_b64, (int)(sp - r), r);
	buf_printf(&am, "%s,%s,%s", cfirst_bare, sfirst, cfinal->data);
	/* ClientKey is not in scram_keys: recompute it. */
	{
		unsigned char salted[32];
		gnutls_datum_t key = {(unsigned char *)password,
				      (unsigned)strlen(password)};
		gnutls_datum_t sd = {(unsigned char *)salt.data,
				     (unsigned)salt.len};

		gnutls_pbkdf2(GNUTLS_MAC_SHA256, &key, &sd,
			      (unsigned)atoi(ip + 3), salted, 32);
		gnutls_hmac_fast(GNUTLS_MAC_SHA256, salted, 32, "Client Key",
				 10, ck);
	}
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, k.stored_key, 32, am.data, am.len,
			 sig);
	for (i = 0; i < 32; i++)
		proof[i] = ck[i] ^ sig[i];
	buf_append_str(cfinal, ",p=");
	base64_encode(proof, 32, cfinal);
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, k.server_key, 32, am.data, am.len,
			 ssig);
	buf_reset(vwant);
	buf_append_str(vwant, "v=");
	base64_encode(ssig, 32, vwant);
	buf_release(&salt);
	buf_release(&am);
}

/* Runs a whole exchange; returns the status of the client-final step
 * (or of the final empty response). */
static enum sasl_status exchange(const char *user_field, const char *gs2,
				 const char *password, char **sfirst_r)
{
	struct buf out = BUF_INIT, cf = BUF_INIT, v = BUF_INIT;
	struct buf first = BUF_INIT, gs2b = BUF_INIT, bare = BUF_INIT;
	struct sasl *s = sasl_new("SCRAM-SHA-256", db, false);
	enum sasl_status st;

	buf_printf(&bare, "n=%s,r=fyko+d2lbbFgONRv9qkxdawL", user_field);
	buf_printf(&first, "%s%s", gs2, bare.data);
	base64_encode(gs2, strlen(gs2), &gs2b);
	st = step(s, first.data, &out);
	CHECK(st == SASL_CONTINUE);
	if (st != SASL_CONTINUE)
		goto out;
	CHECK(strncmp(out.data, "r=fyko+d2lbbFgONRv9qkxdawL", 26) == 0);
	CHECK(out.len > 26 + 16); /* a server nonce was added */
	if (sfirst_r)
		*sfirst_r = strdup(out.data);
	client_final(password, gs2b.data, bare.data, out.data, &cf, &v);
	st = step(s, cf.data, &out);
	if (st == SASL_CONTINUE) {
		CHECK_STR(out.data, v.data);
		st = step(s, "", &out);
		CHECK(st == SASL_OK);
		CHECK(sasl_user(s) != NULL);
	} else {
		CHECK(sasl_user(s) == NULL);
	}
out:
	sasl_free(&s);
	buf_release(&out);
	buf_release(&cf);
	buf_release(&v);
	buf_release(&first);
	buf_release(&gs2b);
	buf_release(&bare);
	return st;
}

static void test_exchange(void)
{
	struct buf err = BUF_INIT;
	char *f1 = NULL, *f2 = NULL, *f3 = NULL;

	CHECK(userdb_add(db, "alice", "secret", &err) == 0);
	CHECK(userdb_add(db, "a,b=c", "x", &err) == -1); /* bad name */
	CHECK(exchange("alice", "n,,", "secret", &f1) == SASL_OK);
	CHECK(exchange("alice", "y,,", "secret", NULL) == SASL_OK);
	CHECK(exchange("alice", "n,a=alice,", "secret", NULL) == SASL_OK);
	CHECK(exchange("alice", "n,,", "secreT", &f2) == SASL_FAIL);
	/* same salt and iterations each time */
	CHECK(f1 && f2 && strcmp(strstr(f1, ",s="), strstr(f2, ",s=")) == 0);
	/* nonces differ */
	CHECK(f1 && f2 && strcmp(f1, f2) != 0);
	free(f1);
	free(f2);

	/* an unknown user gets a plausible, stable salt, then fails */
	f1 = f2 = NULL;
	CHECK(exchange("mallory", "n,,", "secret", &f1) == SASL_FAIL);
	CHECK(exchange("mallory", "n,,", "secret", &f2) == SASL_FAIL);
	CHECK(exchange("mallorz", "n,,", "secret", &f3) == SASL_FAIL);
	CHECK(f1 && f2 && strcmp(strstr(f1, ",s="), strstr(f2, ",s=")) == 0);
	CHECK(f1 && f3 && strcmp(strstr(f1, ",s="), strstr(f3, ",s=")) != 0);
	free(f1);
	free(f2);
	free(f3);

	/* a Dovecot-made entry (doveadm pw -s SCRAM-SHA-256 -p pencil) */
	CHECK(userdb_add(db, "dove",
			 "{SCRAM-SHA-256}4096,VB8PPUT3/dylXMijdCYcoQ==,WtVEJK5+C"
			 "dDc9+6/sOzZasDmzaM4j9Z3xkv2ui0ENO8=,JOs5fNmmnFAqGN/EYt"
			 "vihOrYrf2st0pRIBVjxVVAeRA=", &err) == 0);
	CHECK(exchange("dove", "n,,", "pencil", NULL) == SASL_OK);
	CHECK(exchange("dove", "n,,", "pencil ", NULL) == SASL_FAIL);

	/* a user imported with only an SHA512-CRYPT hash has no SCRAM keys */
	CHECK(userdb_add(db, "crypt",
			 "{SHA512-CRYPT}$6$t9OpcYOpvss.QXPA$NrNCMf2NAbaVKDGNKa4"
			 "f6TUM/aSjYlrXequtKxJwlqLYvvuo.PMsQY6jd1MSJCBybgMelEFGu"
			 "E3LZkFfsvrLB1", &err) == 0);
	CHECK(exchange("crypt", "n,,", "secret", NULL) == SASL_FAIL);
	buf_release(&err);
}

static enum sasl_status one(const char *first)
{
	struct buf out = BUF_INIT;
	struct sasl *s = sasl_new("SCRAM-SHA-256", db, false);
	enum sasl_status st = step(s, first, &out);

	sasl_free(&s);
	buf_release(&out);
	return st;
}

static enum sasl_status two(const char *final)
{
	struct buf out = BUF_INIT;
	struct sasl *s = sasl_new("SCRAM-SHA-256", db, false);
	enum sasl_status st;

	sasl_scram_set_nonce(s, R_SNONCE);
	st = step(s, R_CFIRST, &out);
	CHECK(st == SASL_CONTINUE);
	st = step(s, final, &out);
	sasl_free(&s);
	buf_release(&out);
	return st;
}

static void test_malformed(void)
{
	/* channel binding requested: we offer no -PLUS */
	CHECK(one("p=tls-unique,,n=user,r=abc") == SASL_FAIL);
	/* proxy authorization refused */
	CHECK(one("n,a=admin,n=user,r=abc") == SASL_FAIL);
	/* RFC 5802 5.1: unknown mandatory extension */
	CHECK(one("n,,m=ext,n=user,r=abc") == SASL_FAIL);
	CHECK(one("") == SASL_BADPROTO);
	CHECK(one("x,,n=user,r=abc") == SASL_BADPROTO);
	CHECK(one("n,n=user,r=abc") == SASL_BADPROTO);
	CHECK(one("n,,r=abc,n=user") == SASL_BADPROTO);
	CHECK(one("n,,n=user") == SASL_BADPROTO);
	CHECK(one("n,,n=user,r=") == SASL_BADPROTO);
	CHECK(one("n,,n=,r=abc") == SASL_BADPROTO);
	CHECK(one("n,,n=us=er,r=abc") == SASL_BADPROTO);
	CHECK(one("n,,n=user,r=a b") == SASL_BADPROTO);
	CHECK(one("n,x,n=user,r=abc") == SASL_BADPROTO);
	{
		struct buf out = BUF_INIT;
		struct sasl *s = sasl_new("SCRAM-SHA-256", db, false);

		CHECK(sasl_step(s, "n,,n=us\0er,r=abc", 16, &out) ==
		      SASL_BADPROTO);
		sasl_free(&s);
		buf_release(&out);
	}
	/* extensions after the nonce are ignored */
	CHECK(one("n,,n=user,r=abc,x=1") == SASL_CONTINUE);

	/* client-final */
	CHECK(two("") == SASL_BADPROTO);
	CHECK(two("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF"
		  "$k0") == SASL_BADPROTO);
	CHECK(two("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF"
		  "$k0,p=!!!") == SASL_BADPROTO);
	CHECK(two("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF"
		  "$k0,p=dHzb") == SASL_BADPROTO);
	/* wrong nonce */
	CHECK(two("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF"
		  "$k1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=") ==
	      SASL_FAIL);
	/* channel binding data other than the gs2 header */
	CHECK(two("c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF"
		  "$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=") ==
	      SASL_FAIL);
	CHECK(two("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF"
		  "$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=") ==
	      SASL_BADPROTO);
	CHECK(two("c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=") ==
	      SASL_BADPROTO);
	CHECK(two(R_CFINAL) == SASL_CONTINUE);
}

/* Mutated client messages (one byte changed, or cut short) never crash
 * and never authenticate. */
static void test_mutations(void)
{
	static const char cf[] = R_CFIRST, cl[] = R_CFINAL;
	unsigned long x = 99;
	int i, oks = 0;

	for (i = 0; i < 400; i++) {
		char a[sizeof(cf)], b[sizeof(cl)];
		size_t alen = sizeof(cf) - 1, blen = sizeof(cl) - 1;
		struct buf out = BUF_INIT;
		struct sasl *s = sasl_new("SCRAM-SHA-256", db, false);
		enum sasl_status st;

		memcpy(a, cf, sizeof(cf));
		memcpy(b, cl, sizeof(cl));
		x = x * 6364136223846793005ul + 1442695040888963407ul;
		if (i & 1) {
			size_t pos = (x >> 33) % blen;

			if (i & 2)
				blen = pos; /* cut short */
			else
				b[pos] = (char)((x >> 20) & 0xff);
		} else {
			size_t pos = (x >> 33) % alen;

			if (i & 2)
				alen = pos;
			else
				a[pos] = (char)((x >> 20) & 0xff);
		}
		sasl_scram_set_nonce(s, R_SNONCE);
		st = sasl_step(s, a, alen, &out);
		if (st == SASL_CONTINUE) {
			buf_reset(&out);
			st = sasl_step(s, b, blen, &out);
			if (st == SASL_CONTINUE)
				st = sasl_step(s, "", 0, &out);
		}
		/* only a no-op mutation (the same byte) may succeed */
		if (st == SASL_OK && (alen != sizeof(cf) - 1 ||
				      blen != sizeof(cl) - 1 ||
				      memcmp(a, cf, alen) != 0 ||
				      memcmp(b, cl, blen) != 0))
			oks++;
		sasl_free(&s);
		buf_release(&out);
	}
	CHECK(oks == 0);
}

static void test_entries(void)
{
	struct scram_keys k;
	struct buf b = BUF_INIT;

	CHECK(scram_parse("{SCRAM-SHA-256}4096,VB8PPUT3/dylXMijdCYcoQ==,WtVEJ"
			  "K5+CdDc9+6/sOzZasDmzaM4j9Z3xkv2ui0ENO8=,JOs5fNmmnFAqG"
			  "N/EYtvihOrYrf2st0pRIBVjxVVAeRA=", &k) == 0);
	CHECK(k.iter == 4096 && k.salt_len == 16);
	scram_format(&k, &b);
	CHECK_STR(b.data, "{SCRAM-SHA-256}4096,VB8PPUT3/dylXMijdCYcoQ==,WtVEJ"
			  "K5+CdDc9+6/sOzZasDmzaM4j9Z3xkv2ui0ENO8=,JOs5fNmmnFAqG"
			  "N/EYtvihOrYrf2st0pRIBVjxVVAeRA=");
	CHECK(scram_parse("4096,VB8PPUT3/dylXMijdCYcoQ==,AAAA,AAAA", &k) == -1);
	CHECK(scram_parse("0,VB8PPUT3/dylXMijdCYcoQ==,WtVEJK5+CdDc9+6/sOzZasD"
			  "mzaM4j9Z3xkv2ui0ENO8=,JOs5fNmmnFAqGN/EYtvihOrYrf2st0"
			  "pRIBVjxVVAeRA=", &k) == -1);
	CHECK(scram_parse("4096,VB8PPUT3/dylXMijdCYcoQ==,WtVEJK5+CdDc9+6/sOzZ"
			  "asDmzaM4j9Z3xkv2ui0ENO8=", &k) == -1);
	CHECK(scram_parse("", &k) == -1);
	buf_release(&b);
}

int main(void)
{
	struct buf err = BUF_INIT;
	char cmd[300];

	if (!mkdtemp(dir))
		return 1;
	if (userdb_open(dir, true, &db, &err) < 0) {
		fprintf(stderr, "%s\n", err.data);
		return 1;
	}
	test_rfc7677();
	test_exchange();
	test_malformed();
	test_entries();
	test_mutations();
	userdb_close(&db);
	buf_release(&err);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
