/* test-userdb.c - the user database on a real temporary SQLite file. */
#include "t.h"

#include "auth.h"
#include "buf.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/tandem-test-userdb-XXXXXX";

static void test_open(void)
{
	struct userdb *db = NULL;
	struct buf err = BUF_INIT;

	CHECK(userdb_open(dir, false, &db, &err) == -1);
	CHECK(db == NULL && err.len > 0);
	buf_reset(&err);
	CHECK(userdb_open(dir, true, &db, &err) == 0);
	userdb_close(&db);
	CHECK(db == NULL);
	/* now it exists */
	CHECK(userdb_open(dir, false, &db, &err) == 0);
	userdb_close(&db);
	buf_release(&err);
}

static void test_users(void)
{
	struct userdb *db = NULL;
	struct buf err = BUF_INIT, out = BUF_INIT;
	struct stat st;
	char path[256];

	CHECK(userdb_open(dir, true, &db, &err) == 0);
	snprintf(path, sizeof(path), "%s/users.db", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 077) == 0);

	CHECK(userdb_add(db, "alice", "secret", &err) == 0);
	CHECK(userdb_add(db, "bob", "hunter2", &err) == 0);
	buf_reset(&err);
	CHECK(userdb_add(db, "alice", "other", &err) == -1);
	CHECK_STR(err.data, "exists");
	buf_reset(&err);
	CHECK(userdb_add(db, "../etc", "x", &err) == -1);
	CHECK(userdb_add(db, "", "x", &err) == -1);
	CHECK(userdb_add(db, "a b", "x", &err) == -1);
	CHECK(userdb_add(db, "carol", "", &err) == -1);
	CHECK(userdb_add(db, "carol", "{MD5}abc", &err) == -1);
	CHECK(!userdb_exists(db, "carol"));

	CHECK(userdb_exists(db, "alice"));
	CHECK(!userdb_exists(db, "Alice"));
	CHECK(userdb_verify_password(db, "alice", "secret") == AUTH_OK);
	CHECK(userdb_verify_password(db, "alice", "hunter2") == AUTH_FAIL);
	CHECK(userdb_verify_password(db, "bob", "hunter2") == AUTH_OK);
	CHECK(userdb_verify_password(db, "nobody", "secret") == AUTH_FAIL);
	CHECK(userdb_verify_password(db, "../x", "secret") == AUTH_FAIL);

	CHECK(userdb_list(db, &out, &err) == 0);
	CHECK_STR(out.data, "alice\nbob\n");

	/* set_password replaces both the hash and the SCRAM keys */
	CHECK(userdb_set_password(db, "alice", "newpw", &err) == 0);
	CHECK(userdb_verify_password(db, "alice", "secret") == AUTH_FAIL);
	CHECK(userdb_verify_password(db, "alice", "newpw") == AUTH_OK);
	buf_reset(&err);
	CHECK(userdb_set_password(db, "zed", "x", &err) == -1);
	CHECK_STR(err.data, "no such user");

	/* imported hashes, stored as given */
	CHECK(userdb_add(db, "dove",
			 "{SHA512-CRYPT}$6$t9OpcYOpvss.QXPA$NrNCMf2NAbaVKDGNKa4"
			 "f6TUM/aSjYlrXequtKxJwlqLYvvuo.PMsQY6jd1MSJCBybgMelEFGu"
			 "E3LZkFfsvrLB1", &err) == 0);
	CHECK(userdb_verify_password(db, "dove", "secret") == AUTH_OK);
	CHECK(userdb_verify_password(db, "dove", "secreT") == AUTH_FAIL);
	/* a SCRAM-only user can use PLAIN */
	CHECK(userdb_add(db, "scram",
			 "{SCRAM-SHA-256}4096,VB8PPUT3/dylXMijdCYcoQ==,WtVEJK5+C"
			 "dDc9+6/sOzZasDmzaM4j9Z3xkv2ui0ENO8=,JOs5fNmmnFAqGN/EYt"
			 "vihOrYrf2st0pRIBVjxVVAeRA=", &err) == 0);
	CHECK(userdb_verify_password(db, "scram", "pencil") == AUTH_OK);
	CHECK(userdb_verify_password(db, "scram", "pencil2") == AUTH_FAIL);

	/* APOP, RFC 1939 7 example: tanstaaf */
	CHECK(!userdb_has_apop(db, "bob"));
	CHECK(userdb_verify_apop(db, "bob", "<1896.697170952@dbc.mtview.ca.us>",
				 "c4c9334bac560ecc979e58001b3e22fb") ==
	      AUTH_FAIL);
	CHECK(userdb_set_apop_secret(db, "bob", "tanstaaf", &err) == 0);
	CHECK(userdb_has_apop(db, "bob"));
	CHECK(userdb_verify_apop(db, "bob", "<1896.697170952@dbc.mtview.ca.us>",
				 "c4c9334bac560ecc979e58001b3e22fb") == AUTH_OK);
	CHECK(userdb_verify_apop(db, "bob", "<1896.697170953@dbc.mtview.ca.us>",
				 "c4c9334bac560ecc979e58001b3e22fb") ==
	      AUTH_FAIL);
	CHECK(userdb_verify_apop(db, "bob", "<1896.697170952@dbc.mtview.ca.us>",
				 "C4C9334BAC560ECC979E58001B3E22FB") ==
	      AUTH_FAIL);
	CHECK(userdb_verify_apop(db, "alice",
				 "<1896.697170952@dbc.mtview.ca.us>",
				 "c4c9334bac560ecc979e58001b3e22fb") ==
	      AUTH_FAIL);
	CHECK(userdb_set_apop_secret(db, "bob", "", &err) == 0);
	CHECK(!userdb_has_apop(db, "bob"));
	CHECK(userdb_set_apop_secret(db, "zed", "x", &err) == -1);

	CHECK(userdb_delete(db, "bob", &err) == 0);
	CHECK(!userdb_exists(db, "bob"));
	CHECK(userdb_verify_password(db, "bob", "hunter2") == AUTH_FAIL);
	CHECK(userdb_delete(db, "bob", &err) == -1);
	userdb_close(&db);

	/* persisted; a second connection (another process) sees it */
	CHECK(userdb_open(dir, false, &db, &err) == 0);
	CHECK(userdb_verify_password(db, "alice", "newpw") == AUTH_OK);
	userdb_close(&db);
	buf_release(&out);
	buf_release(&err);
}

static struct userdb *shared_db;
static int thread_failures;
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;

static void *verify_thread(void *arg)
{
	int i;

	for (i = 0; i < 3; i++) {
		bool good = userdb_verify_password(shared_db, "alice",
						   "newpw") == AUTH_OK;
		bool bad = userdb_verify_password(shared_db, "alice",
						  "nope") == AUTH_FAIL;

		if (!good || !bad) {
			pthread_mutex_lock(&fail_mu);
			thread_failures++;
			pthread_mutex_unlock(&fail_mu);
		}
	}
	return arg;
}

static void test_threads(void)
{
	struct buf err = BUF_INIT;
	pthread_t th[4];
	size_t i;

	CHECK(userdb_open(dir, false, &shared_db, &err) == 0);
	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, verify_thread, NULL);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK(thread_failures == 0);
	userdb_close(&shared_db);
	buf_release(&err);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(dir))
		return 1;
	test_open();
	test_users();
	test_threads();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return t_done();
}
