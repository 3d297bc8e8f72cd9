/* test-sasl.c - SASL PLAIN (RFC 4616) and LOGIN against a real userdb,
 * the mechanism list, and the per-IP failure penalty. */
#include "t.h"

#include "auth.h"
#include "buf.h"

#include <stdlib.h>

static char dir[] = "/tmp/tandem-test-sasl-XXXXXX";
static struct userdb *db;

static enum sasl_status plain(const char *msg, size_t len, const char **user)
{
	static char ubuf[128];
	struct buf out = BUF_INIT;
	struct sasl *s = sasl_new("PLAIN", db, true);
	enum sasl_status st = sasl_step(s, msg, len, &out);

	CHECK(out.len == 0);
	ubuf[0] = '\0';
	if (sasl_user(s))
		snprintf(ubuf, sizeof(ubuf), "%s", sasl_user(s));
	if (user)
		*user = ubuf;
	/* nothing more after the end */
	CHECK(sasl_step(s, "x", 1, &out) == SASL_BADPROTO);
	sasl_free(&s);
	buf_release(&out);
	return st;
}

#define PLAIN(lit, u) plain(lit, sizeof(lit) - 1, u)

static void test_plain(void)
{
	struct buf out = BUF_INIT;
	const char *u;
	struct sasl *s;

	CHECK(PLAIN("\0alice\0secret", &u) == SASL_OK);
	CHECK_STR(u, "alice");
	CHECK(PLAIN("alice\0alice\0secret", &u) == SASL_OK);
	CHECK_STR(u, "alice");
	CHECK(PLAIN("\0alice\0wrong", &u) == SASL_FAIL);
	CHECK_STR(u, "");
	CHECK(PLAIN("\0nobody\0secret", NULL) == SASL_FAIL);
	/* no proxy authorization, even with bob's right password */
	CHECK(PLAIN("alice\0bob\0hunter2", &u) == SASL_FAIL);
	CHECK_STR(u, "");
	CHECK(PLAIN("\0bob\0hunter2", NULL) == SASL_OK);
	/* malformed */
	CHECK(PLAIN("", NULL) == SASL_BADPROTO);
	CHECK(PLAIN("alice", NULL) == SASL_BADPROTO);
	CHECK(PLAIN("\0alice", NULL) == SASL_BADPROTO);
	CHECK(PLAIN("\0alice\0", NULL) == SASL_BADPROTO);
	CHECK(PLAIN("\0\0secret", NULL) == SASL_BADPROTO);
	CHECK(PLAIN("\0alice\0sec\0ret", NULL) == SASL_BADPROTO);

	/* no initial response: an empty challenge, then the message */
	s = sasl_new("plain", db, true);
	CHECK(sasl_step(s, NULL, 0, &out) == SASL_CONTINUE);
	CHECK(out.len == 0);
	CHECK(sasl_step(s, "\0alice\0secret", 13, &out) == SASL_OK);
	CHECK_STR(sasl_user(s), "alice");
	sasl_free(&s);

	/* only the first step may lack a response */
	s = sasl_new("PLAIN", db, true);
	CHECK(sasl_step(s, NULL, 0, &out) == SASL_CONTINUE);
	CHECK(sasl_step(s, NULL, 0, &out) == SASL_BADPROTO);
	sasl_free(&s);
	s = sasl_new("SCRAM-SHA-256", db, true);
	CHECK(sasl_step(s, NULL, 0, &out) == SASL_CONTINUE);
	CHECK(sasl_step(s, NULL, 0, &out) == SASL_BADPROTO);
	sasl_free(&s);
	buf_release(&out);
}

static void test_login(void)
{
	struct buf out = BUF_INIT;
	struct sasl *s = sasl_new("LOGIN", db, true);

	CHECK(sasl_step(s, NULL, 0, &out) == SASL_CONTINUE);
	CHECK_STR(out.data, "Username:");
	buf_reset(&out);
	CHECK(sasl_step(s, "alice", 5, &out) == SASL_CONTINUE);
	CHECK_STR(out.data, "Password:");
	buf_reset(&out);
	CHECK(sasl_user(s) == NULL);
	CHECK(sasl_step(s, "secret", 6, &out) == SASL_OK);
	CHECK_STR(sasl_user(s), "alice");
	CHECK(sasl_step(s, "", 0, &out) == SASL_BADPROTO);
	sasl_free(&s);

	/* user name as the initial response */
	s = sasl_new("login", db, true);
	buf_reset(&out);
	CHECK(sasl_step(s, "bob", 3, &out) == SASL_CONTINUE);
	CHECK_STR(out.data, "Password:");
	CHECK(sasl_step(s, "hunter3", 7, &out) == SASL_FAIL);
	CHECK(sasl_user(s) == NULL);
	sasl_free(&s);

	s = sasl_new("LOGIN", db, true);
	buf_reset(&out);
	CHECK(sasl_step(s, NULL, 0, &out) == SASL_CONTINUE);
	CHECK(sasl_step(s, "al\0ce", 5, &out) == SASL_BADPROTO);
	sasl_free(&s);
	buf_release(&out);
}

static void test_mechanisms(void)
{
	struct sasl *s;

	CHECK_STR(sasl_mechanisms(true), "SCRAM-SHA-256 PLAIN LOGIN");
	CHECK_STR(sasl_mechanisms(false), "SCRAM-SHA-256");
	CHECK(sasl_new("PLAIN", db, false) == NULL);
	CHECK(sasl_new("LOGIN", db, false) == NULL);
	CHECK(sasl_new("CRAM-MD5", db, true) == NULL);
	CHECK(sasl_new("SCRAM-SHA-256-PLUS", db, true) == NULL);
	CHECK(sasl_new("", db, true) == NULL);
	s = sasl_new("Scram-Sha-256", db, false);
	CHECK(s != NULL);
	sasl_free(&s);
}

static void test_penalty(void)
{
	char ip[64];
	int i;

	CHECK(auth_penalty_delay("192.0.2.1", 500) == 500);
	auth_penalty_fail("192.0.2.1");
	CHECK(auth_penalty_delay("192.0.2.1", 500) == 1000);
	auth_penalty_fail("192.0.2.1");
	CHECK(auth_penalty_delay("192.0.2.1", 500) == 2000);
	/* another address is not slowed */
	CHECK(auth_penalty_delay("192.0.2.2", 500) == 500);
	CHECK(auth_penalty_delay("2001:db8::1", 500) == 500);
	for (i = 0; i < 40; i++)
		auth_penalty_fail("192.0.2.1");
	CHECK(auth_penalty_delay("192.0.2.1", 500) == 15000);
	CHECK(auth_penalty_delay("192.0.2.1", 0) == 0);
	auth_penalty_success("192.0.2.1");
	CHECK(auth_penalty_delay("192.0.2.1", 500) == 500);

	/* the table is bounded: many addresses, the newest still counts */
	for (i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255,
			 i & 255);
		auth_penalty_fail(ip);
	}
	CHECK(auth_penalty_delay(ip, 100) == 200);
	auth_penalty_fail(ip);
	CHECK(auth_penalty_delay(ip, 100) == 400);
}

int main(void)
{
	struct buf err = BUF_INIT;
	char cmd[300];

	if (!mkdtemp(dir))
		return 1;
	if (userdb_open(dir, true, &db, &err) < 0 ||
	    userdb_add(db, "alice", "secret", &err) < 0 ||
	    userdb_add(db, "bob", "hunter2", &err) < 0) {
		fprintf(stderr, "%s\n", err.data);
		return 1;
	}
	test_plain();
	test_login();
	test_mechanisms();
	test_penalty();
	userdb_close(&db);
	buf_release(&err);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
