/* userdb.c - the user database: SQLite at data_dir/users.db.
 *
 * Schema version 1 (PRAGMA user_version):
 *   users(name TEXT PRIMARY KEY,   -- see userdb_name_valid()
 *         password TEXT,           -- "{SCHEME}hash", NULL if only SCRAM
 *         scram TEXT,              -- "{SCRAM-SHA-256}iter,salt,sk,sk"
 *         apop TEXT,               -- APOP secret: clear-text equivalent!
 *         created INTEGER)         -- unix time
 * The file is shared by the daemons and tandemctl, so it runs in WAL mode
 * with synchronous=FULL and a busy timeout; every call is its own short
 * statement (or transaction), so a user added by tandemctl is seen by the
 * next login without a restart.
 *
 * Threads: one connection per struct userdb, guarded by a mutex held only
 * around SQLite calls. Hashing (argon2, PBKDF2) runs outside the mutex, so
 * logins on several worker threads verify in parallel.
 */
#include "auth-private.h"
#include "buf.h"
#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USERDB_SCHEMA_VERSION 1
#define USERDB_BUSY_MS 10000
#define USER_NAME_MAX 64

struct userdb {
	sqlite3 *db;
	pthread_mutex_t mu;
	char *path;
};

bool userdb_name_valid(const char *user)
{
	size_t n = strlen(user), i;

	if (n == 0 || n > USER_NAME_MAX || user[0] == '.' || user[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		char c = user[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '@' || c == '+' || c == '-'))
			return false;
	}
	return true;
}

static int exec_locked(struct userdb *db, const char *sql, struct buf *err)
{
	char *msg = NULL;

	if (sqlite3_exec(db->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		buf_printf(err, "%s: %s", db->path,
			   msg ? msg : sqlite3_errmsg(db->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int schema_version_locked(struct userdb *db, int *v_r)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db->db, "PRAGMA user_version", -1, &st,
			       NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v_r = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Creates or checks the schema, in one IMMEDIATE transaction so two
 * processes opening a new file at once do not both create it. */
static int schema_setup(struct userdb *db, struct buf *err)
{
	int v = 0;

	if (exec_locked(db, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	if (schema_version_locked(db, &v) < 0) {
		buf_printf(err, "%s: %s", db->path, sqlite3_errmsg(db->db));
		goto fail;
	}
	if (v > USERDB_SCHEMA_VERSION) {
		buf_printf(err, "%s: schema version %d is newer than this "
			   "program's %d", db->path, v, USERDB_SCHEMA_VERSION);
		goto fail;
	}
	if (v == 0 &&
	    exec_locked(db,
			"CREATE TABLE users ("
			" name TEXT PRIMARY KEY NOT NULL,"
			" password TEXT,"
			" scram TEXT,"
			" apop TEXT,"
			" created INTEGER NOT NULL);"
			"PRAGMA user_version = 1;",
			err) < 0)
		goto fail;
	return exec_locked(db, "COMMIT", err);
fail:
	sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int userdb_open(const char *data_dir, bool create, struct userdb **db_r,
		struct buf *err)
{
	struct userdb *db = xcalloc(1, sizeof(*db));
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

	db->path = xasprintf("%s/users.db", data_dir);
	pthread_mutex_init(&db->mu, NULL);
	if (create) {
		/* Create it 0600 ourselves: it holds hashes and APOP
		 * secrets. SQLite gives -wal and -shm the same mode. */
		int fd = open(db->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0) {
			buf_printf(err, "%s: %s", db->path, strerror(errno));
			goto fail;
		}
		close(fd);
	}
	if (sqlite3_open_v2(db->path, &db->db, flags, NULL) != SQLITE_OK) {
		buf_printf(err, "%s: %s", db->path,
			   db->db ? sqlite3_errmsg(db->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(db->db, USERDB_BUSY_MS);
	if (exec_locked(db, "PRAGMA journal_mode=WAL", err) < 0 ||
	    exec_locked(db, "PRAGMA synchronous=FULL", err) < 0 ||
	    schema_setup(db, err) < 0)
		goto fail;
	*db_r = db;
	return 0;
fail:
	userdb_close(&db);
	return -1;
}

void userdb_close(struct userdb **dbp)
{
	struct userdb *db = *dbp;

	if (!db)
		return;
	sqlite3_close(db->db);
	pthread_mutex_destroy(&db->mu);
	free(db->path);
	free(db);
	*dbp = NULL;
}

/* The two stored strings for a new password: a clear password gets an
 * ARGON2ID hash plus SCRAM keys; "{SCHEME}..." input (a '{' first and a
 * '}' later) is taken as a hash and stored as it is. */
static int make_credentials(const char *password, char **pw_r,
			    char **scram_r, struct buf *err)
{
	struct buf b = BUF_INIT;
	bool is_scram;

	*pw_r = *scram_r = NULL;
	if (password[0] == '\0') {
		buf_printf(err, "empty password");
		return -1;
	}
	if (password[0] == '{' && strchr(password, '}')) {
		if (!password_hash_known(password, &is_scram)) {
			buf_printf(err, "bad scheme or malformed hash");
			return -1;
		}
		if (is_scram)
			*scram_r = xstrdup(password);
		else
			*pw_r = xstrdup(password);
		return 0;
	}
	if (password_hash("ARGON2ID", password, &b, err) < 0)
		return -1;
	*pw_r = xstrdup(b.data);
	buf_reset(&b);
	if (scram_make_entry(password, &b) < 0) {
		buf_printf(err, "scram key derivation failed");
		free(*pw_r);
		*pw_r = NULL;
		buf_release(&b);
		return -1;
	}
	*scram_r = xstrdup(b.data);
	buf_release(&b);
	return 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Runs one write statement with up to three text parameters and the
 * user name last; returns the number of rows changed, or -1. */
static int write_user(struct userdb *db, const char *sql, const char *a,
		      const char *b, const char *c, int nparams,
		      const char *user, bool *exists_r, struct buf *err)
{
	sqlite3_stmt *st = NULL;
	int rc, changes = -1;

	if (exists_r)
		*exists_r = false;
	pthread_mutex_lock(&db->mu);
	if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK) {
		buf_printf(err, "%s: %s", db->path, sqlite3_errmsg(db->db));
		goto out;
	}
	if (nparams >= 1)
		bind_text_or_null(st, 1, a);
	if (nparams >= 2)
		bind_text_or_null(st, 2, b);
	if (nparams >= 3)
		bind_text_or_null(st, 3, c);
	sqlite3_bind_text(st, nparams + 1, user, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		changes = sqlite3_changes(db->db);
	} else if ((rc & 0xff) == SQLITE_CONSTRAINT && exists_r) {
		*exists_r = true;
		buf_printf(err, "exists");
	} else {
		buf_printf(err, "%s: %s", db->path, sqlite3_errmsg(db->db));
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->mu);
	return changes;
}

int userdb_add(struct userdb *db, const char *user, const char *password,
	       struct buf *err)
{
	char *pw, *scram;
	bool exists;
	int n;

	if (!userdb_name_valid(user)) {
		buf_printf(err, "bad user name");
		return -1;
	}
	if (make_credentials(password, &pw, &scram, err) < 0)
		return -1;
	n = write_user(db,
		       "INSERT INTO users (password, scram, created, name) "
		       "VALUES (?1, ?2, CAST(strftime('%s', 'now') AS INTEGER),"
		       " ?3)",
		       pw, scram, NULL, 2, user, &exists, err);
	free(pw);
	free(scram);
	return n == 1 ? 0 : -1;
}

int userdb_set_password(struct userdb *db, const char *user,
			const char *password, struct buf *err)
{
	char *pw, *scram;
	int n;

	if (!userdb_name_valid(user)) {
		buf_printf(err, "no such user");
		return -1;
	}
	if (make_credentials(password, &pw, &scram, err) < 0)
		return -1;
	/* Both columns change: old SCRAM keys must not keep the old
	 * password working. */
	n = write_user(db, "UPDATE users SET password = ?1, scram = ?2 "
			   "WHERE name = ?3",
		       pw, scram, NULL, 2, user, NULL, err);
	free(pw);
	free(scram);
	if (n == 0)
		buf_printf(err, "no such user");
	return n == 1 ? 0 : -1;
}

int userdb_delete(struct userdb *db, const char *user, struct buf *err)
{
	int n = write_user(db, "DELETE FROM users WHERE name = ?1", NULL,
			   NULL, NULL, 0, user, NULL, err);

	if (n == 0)
		buf_printf(err, "no such user");
	return n == 1 ? 0 : -1;
}

int userdb_set_apop_secret(struct userdb *db, const char *user,
			   const char *secret, struct buf *err)
{
	int n = write_user(db, "UPDATE users SET apop = ?1 WHERE name = ?2",
			   secret && *secret ? secret : NULL, NULL, NULL, 1,
			   user, NULL, err);

	if (n == 0)
		buf_printf(err, "no such user");
	return n == 1 ? 0 : -1;
}

/* Reads the user's row: copies the columns asked for (NULL column ->
 * NULL). Returns AUTH_OK, AUTH_FAIL (no such user) or AUTH_TEMPFAIL. */
static enum auth_result read_user(struct userdb *db, const char *user,
				  char **pw_r, char **scram_r, char **apop_r)
{
	sqlite3_stmt *st = NULL;
	enum auth_result res = AUTH_TEMPFAIL;
	char **outs[3] = {pw_r, scram_r, apop_r};
	int rc, i;

	for (i = 0; i < 3; i++)
		if (outs[i])
			*outs[i] = NULL;
	if (!userdb_name_valid(user))
		return AUTH_FAIL;
	pthread_mutex_lock(&db->mu);
	if (sqlite3_prepare_v2(db->db,
			       "SELECT password, scram, apop FROM users "
			       "WHERE name = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		for (i = 0; i < 3; i++) {
			const unsigned char *t = sqlite3_column_text(st, i);

			if (outs[i] && t)
				*outs[i] = xstrdup((const char *)t);
		}
		res = AUTH_OK;
	} else if (rc == SQLITE_DONE) {
		res = AUTH_FAIL;
	}
out:
	if (res == AUTH_TEMPFAIL)
		log_error(NULL, "%s: reading user %s: %s", db->path, user,
			  sqlite3_errmsg(db->db));
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->mu);
	return res;
}

bool userdb_exists(struct userdb *db, const char *user)
{
	return read_user(db, user, NULL, NULL, NULL) == AUTH_OK;
}

bool userdb_has_apop(struct userdb *db, const char *user)
{
	char *apop = NULL;
	bool has = read_user(db, user, NULL, NULL, &apop) == AUTH_OK && apop;

	free(apop);
	return has;
}

int userdb_list(struct userdb *db, struct buf *out, struct buf *err)
{
	sqlite3_stmt *st = NULL;
	int rc, ret = -1;

	pthread_mutex_lock(&db->mu);
	if (sqlite3_prepare_v2(db->db, "SELECT name FROM users ORDER BY name",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		buf_printf(out, "%s\n", (const char *)sqlite3_column_text(st, 0));
	if (rc == SQLITE_DONE)
		ret = 0;
out:
	if (ret < 0)
		buf_printf(err, "%s: %s", db->path, sqlite3_errmsg(db->db));
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->mu);
	return ret;
}

enum auth_result userdb_get_scram(struct userdb *db, const char *user,
				  struct buf *out)
{
	char *scram = NULL;
	enum auth_result res = read_user(db, user, NULL, &scram, NULL);

	if (res == AUTH_OK && !scram)
		res = AUTH_FAIL;
	if (res == AUTH_OK)
		buf_append_str(out, scram);
	free(scram);
	return res;
}

/* An ARGON2ID hash of a random password, verified against for unknown
 * users so that a wrong name costs as long as a wrong password. */
static char *dummy_hash;
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
	struct buf b = BUF_INIT, err = BUF_INIT;
	unsigned char rnd[16];
	char pw[33];
	size_t i;

	auth_random(rnd, sizeof(rnd), false);
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
	if (password_hash("ARGON2ID", pw, &b, &err) == 0)
		dummy_hash = xstrdup(b.data);
	buf_release(&b);
	buf_release(&err);
}

enum auth_result userdb_verify_password(struct userdb *db, const char *user,
					const char *password)
{
	char *pw = NULL, *scram = NULL;
	enum auth_result res = read_user(db, user, &pw, &scram, NULL);
	bool ok = false;

	if (res == AUTH_OK) {
		if (pw)
			ok = password_verify(pw, password);
		else if (scram)
			ok = scram_verify_plain(scram, password);
		res = ok ? AUTH_OK : AUTH_FAIL;
	} else if (res == AUTH_FAIL) {
		pthread_once(&dummy_once, dummy_init);
		if (dummy_hash)
			(void)password_verify(dummy_hash, password);
	}
	free(pw);
	free(scram);
	return res;
}

/* RFC 1939 7: digest = MD5(timestamp secret), 16 octets in lower-case
 * hex; timestamp is the whole "<...>" string from the greeting. */
enum auth_result userdb_verify_apop(struct userdb *db, const char *user,
				    const char *timestamp, const char *digest)
{
	static const char hex[] = "0123456789abcdef";
	char *secret = NULL;
	struct buf msg = BUF_INIT;
	unsigned char md5[16];
	char want[33];
	enum auth_result res;
	size_t i;

	if (strlen(digest) != 32 || strspn(digest, hex) != 32)
		return AUTH_FAIL;
	res = read_user(db, user, NULL, NULL, &secret);
	if (res != AUTH_OK)
		return res;
	if (!secret)
		return AUTH_FAIL;
	buf_printf(&msg, "%s%s", timestamp, secret);
	if (gnutls_hash_fast(GNUTLS_DIG_MD5, msg.data, msg.len, md5) < 0) {
		res = AUTH_TEMPFAIL;
	} else {
		for (i = 0; i < 16; i++) {
			want[2 * i] = hex[md5[i] >> 4];
			want[2 * i + 1] = hex[md5[i] & 15];
		}
		want[32] = '\0';
		res = auth_mem_equal(want, 32, digest, 32) ? AUTH_OK
							     : AUTH_FAIL;
	}
	gnutls_memset(msg.data, 0, msg.len);
	buf_release(&msg);
	free(secret);
	return res;
}
