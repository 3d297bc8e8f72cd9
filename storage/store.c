/* store.c - opening, sharing and closing per-user stores; helpers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "store-private.h"
#include "xalloc.h"

uv_loop_t *store_loop;
char *store_data_dir;
static pthread_t loop_thread; /* the thread that called store_global_init */

/* Every open store of the process. A store whose last reference went is
 * kept open, idle (refs 0), for STORE_IDLE_SECONDS, at most
 * STORE_IDLE_MAX of them: closing the last SQLite connection of a WAL
 * database checkpoints it (the whole WAL written into the database and
 * fsync'd), and opening runs the schema check, so a daemon that opened
 * and closed a user's store per LMTP delivery or per IMAP session paid
 * both every time, on the calling thread -- the loop thread for IMAP
 * LOGOUT and LMTP. Idle handles release their SQLite cache memory. */
#define STORE_IDLE_SECONDS 30
#define STORE_IDLE_MAX 64
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct store *registry;

static void close_idle_of(const char *user);

void store_global_init(uv_loop_t *loop, const char *data_dir)
{
	close_idle_of(NULL); /* a new data_dir (tests) */
	store_loop = loop;
	loop_thread = pthread_self();
	free(store_data_dir);
	store_data_dir = xstrdup(data_dir);
}

bool store_user_name_valid(const char *name)
{
	size_t n = 0;

	if (!name || name[0] == '\0' || name[0] == '.')
		return false;
	for (const char *p = name; *p; p++, n++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '@' || c == '+' || c == '-'))
			return false;
	}
	return n <= 64;
}

void store_err_set(struct store_err *err, enum store_error code,
		   const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

void store_err_sqlite(struct store_err *err, sqlite3 *db, int rc,
		      const char *what)
{
	enum store_error code;

	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		code = STORE_ERR_CORRUPT;
		break;
	default:
		code = STORE_ERR_TEMP;
		break;
	}
	store_err_set(err, code, "%s: %s", what,
		      db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

sqlite3_stmt *store_stmt(sqlite3 *db, struct stmt_cache *c, const char *sql)
{
	sqlite3_stmt *st;

	for (size_t i = 0; i < c->n; i++) {
		if (c->e[i].sql == sql) {
			st = c->e[i].st;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
			       NULL) != SQLITE_OK)
		return NULL;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->e = xrealloc(c->e, c->cap * sizeof(*c->e));
	}
	c->e[c->n].sql = sql;
	c->e[c->n].st = st;
	c->n++;
	return st;
}

void store_stmt_cache_free(struct stmt_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		sqlite3_finalize(c->e[i].st);
	free(c->e);
	c->e = NULL;
	c->n = c->cap = 0;
}

int store_mailbox_name_norm(const char *name, char *out, size_t outsz,
			    struct store_err *err)
{
	size_t n = name ? strlen(name) : 0;
	const unsigned char *p = (const unsigned char *)name;

	if (n == 0 || n >= outsz || n >= sizeof(((struct store_mailbox *)0)->name)) {
		store_err_set(err, STORE_ERR_INVALID, "bad mailbox name length");
		return -1;
	}
	if (name[0] == STORE_SEP || name[n - 1] == STORE_SEP) {
		store_err_set(err, STORE_ERR_INVALID,
			      "mailbox name starts or ends with '/'");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			store_err_set(err, STORE_ERR_INVALID,
				      "control character in mailbox name");
			return -1;
		}
		if (p[i] == STORE_SEP && p[i + 1] == STORE_SEP) {
			store_err_set(err, STORE_ERR_INVALID,
				      "empty level in mailbox name");
			return -1;
		}
	}
	memcpy(out, name, n + 1);
	/* RFC 9051 5.1: INBOX is case-insensitive; we apply that to the first
	 * level so that INBOX/x and inbox/x are the same mailbox. */
	if (strncasecmp(out, "INBOX", 5) == 0 &&
	    (out[5] == '\0' || out[5] == STORE_SEP))
		memcpy(out, "INBOX", 5);
	return 0;
}

static void close_dbs(struct store *s)
{
	store_stmt_cache_free(&s->rd_cache);
	store_stmt_cache_free(&s->wr_cache);
	if (s->rd)
		sqlite3_close(s->rd);
	if (s->wr)
		sqlite3_close(s->wr);
	s->rd = s->wr = NULL;
}

void store_free(struct store *s)
{
	close_dbs(s);
	if (s->notify_fd >= 0)
		close(s->notify_fd);
	buf_release(&s->rd_tmp);
	pthread_mutex_destroy(&s->wmu);
	free(s->user);
	free(s->dir);
	free(s);
}

static int exec_pragmas(sqlite3 *db, const char *sql, struct store_err *err)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		store_err_sqlite(err, db, rc, "pragma");
		return -1;
	}
	return 0;
}

static int mkdir_0700(const char *path, struct store_err *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		store_err_set(err, STORE_ERR_TEMP, "mkdir %s: %s", path,
			      strerror(errno));
		return -1;
	}
	return 0;
}

static int store_create_files(struct store *s, bool create,
			      struct store_err *err)
{
	char *path;
	struct stat st;
	int rc;

	path = xasprintf("%s/store.db", s->dir);
	if (stat(path, &st) < 0) {
		if (!create) {
			store_err_set(err, STORE_ERR_NOTFOUND,
				      "no store for user %s", s->user);
			free(path);
			return -1;
		}
		char *mail = xasprintf("%s/mail", store_data_dir);
		rc = mkdir_0700(mail, err);
		free(mail);
		if (rc < 0 || mkdir_0700(s->dir, err) < 0) {
			free(path);
			return -1;
		}
	}

	/* The writer: synchronous=FULL because in WAL mode NORMAL only
	 * syncs at checkpoints, so a power loss can roll back commits we
	 * already acknowledged; a client could then see a UID reused for a
	 * different message. busy_timeout makes two processes writing the
	 * same store (imapd and tandemctl deliver) wait for each other.
	 * The writer's VFS combines contiguous WAL writes (vfs.c). */
	rc = sqlite3_open_v2(path, &s->wr,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     store_vfs_name(true));
	if (rc != SQLITE_OK) {
		store_err_sqlite(err, s->wr, rc, "open");
		free(path);
		return -1;
	}
	if (stat(path, &st) == 0) {
		s->db_dev = st.st_dev;
		s->db_ino = st.st_ino;
	}
	sqlite3_extended_result_codes(s->wr, 1);
	sqlite3_busy_timeout(s->wr, 30000);
	if (exec_pragmas(s->wr,
			 "PRAGMA journal_mode=WAL;"
			 "PRAGMA synchronous=FULL;"
			 "PRAGMA journal_size_limit=8388608;"
			 "PRAGMA foreign_keys=OFF;",
			 err) < 0) {
		free(path);
		return -1;
	}
	if (store_schema_migrate(s, err) < 0) {
		free(path);
		return -1;
	}

	/* The reader: small cache (many users' stores live in one daemon),
	 * and it can never write by accident. */
	rc = sqlite3_open_v2(path, &s->rd,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			     store_vfs_name(false));
	free(path);
	if (rc != SQLITE_OK) {
		store_err_sqlite(err, s->rd, rc, "open reader");
		return -1;
	}
	sqlite3_extended_result_codes(s->rd, 1);
	sqlite3_busy_timeout(s->rd, 10000);
	if (exec_pragmas(s->rd,
			 "PRAGMA cache_size=-512;"
			 "PRAGMA query_only=1;",
			 err) < 0)
		return -1;

	path = xasprintf("%s/notify", s->dir);
	s->notify_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (s->notify_fd < 0) {
		store_err_set(err, STORE_ERR_TEMP, "open notify: %s",
			      strerror(errno));
		return -1;
	}
	return 0;
}

static int64_t mono_s(void)
{
	return (int64_t)(mono_ms() / 1000);
}

/* Closes a store that has no references (and is out of the registry),
 * on the loop thread when it has loop handles. */
static void store_close_now(struct store *s)
{
	/* The loop handles may only be closed on the loop thread: a last
	 * reference dropped by a worker hands the closing over to it. */
	if (store_loop && !pthread_equal(pthread_self(), loop_thread) &&
	    store_feed_close_async(s))
		return;
	if (!store_feed_close(s))
		store_free(s);
}

/* With registry_mu held: unlinks the idle stores to close (expired, all
 * with force, then the longest idle beyond STORE_IDLE_MAX) onto *out. */
static void idle_collect(struct store **out, bool force)
{
	int64_t now = mono_s();
	size_t idle = 0;

	for (struct store **pp = &registry; *pp;) {
		struct store *s = *pp;
		if (s->refs == 0 &&
		    (force || now - s->idle_since >= STORE_IDLE_SECONDS)) {
			*pp = s->next;
			s->next = *out;
			*out = s;
			continue;
		}
		if (s->refs == 0)
			idle++;
		pp = &s->next;
	}
	while (idle > STORE_IDLE_MAX) {
		struct store **oldest = NULL;
		for (struct store **pp = &registry; *pp; pp = &(*pp)->next)
			if ((*pp)->refs == 0 &&
			    (!oldest || (*pp)->idle_since < (*oldest)->idle_since))
				oldest = pp;
		struct store *s = *oldest;
		*oldest = s->next;
		s->next = *out;
		*out = s;
		idle--;
	}
}

static void idle_close(struct store *list)
{
	while (list) {
		struct store *s = list;
		list = s->next;
		s->next = NULL;
		store_close_now(s);
	}
}

/* True if the store's database file is still the one it opened, under
 * the current data_dir. */
static bool same_file(const struct store *s)
{
	char *path = xasprintf("%s/store.db", s->dir);
	char *want = xasprintf("%s/mail/%s", store_data_dir, s->user);
	struct stat st;
	bool same = strcmp(want, s->dir) == 0 && stat(path, &st) == 0 &&
		    st.st_dev == s->db_dev && st.st_ino == s->db_ino;

	free(want);

	free(path);
	return same;
}

int store_open(const char *user, bool create, struct store **s_r,
	       struct store_err *err)
{
	struct store *s, *evict = NULL;

	*s_r = NULL;
	if (!store_user_name_valid(user)) {
		store_err_set(err, STORE_ERR_INVALID, "bad user name");
		return -1;
	}
	if (!store_data_dir) {
		store_err_set(err, STORE_ERR_TEMP, "store not initialized");
		return -1;
	}
	pthread_mutex_lock(&registry_mu);
	idle_collect(&evict, false);
	for (struct store **pp = &registry; (s = *pp) != NULL; pp = &s->next) {
		if (strcmp(s->user, user) != 0)
			continue;
		if (s->refs == 0 && !same_file(s)) {
			/* removed or replaced since it went idle */
			*pp = s->next;
			s->next = evict;
			evict = s;
			break;
		}
		s->refs++;
		pthread_mutex_unlock(&registry_mu);
		idle_close(evict);
		*s_r = s;
		return 0;
	}
	if (evict) {
		/* close outside the registry lock; the checkpoint of a
		 * closing store takes a while */
		pthread_mutex_unlock(&registry_mu);
		idle_close(evict);
		pthread_mutex_lock(&registry_mu);
		for (s = registry; s; s = s->next) {
			if (strcmp(s->user, user) == 0) {
				s->refs++;
				pthread_mutex_unlock(&registry_mu);
				*s_r = s;
				return 0;
			}
		}
	}
	s = xcalloc(1, sizeof(*s));
	s->refs = 1;
	s->user = xstrdup(user);
	s->dir = xasprintf("%s/mail/%s", store_data_dir, user);
	s->notify_fd = -1;
	pthread_mutex_init(&s->wmu, NULL);
	/* Opening under the registry mutex keeps two threads from opening
	 * the same user twice; opening is rare and quick. */
	if (store_create_files(s, create, err) < 0) {
		pthread_mutex_unlock(&registry_mu);
		store_free(s);
		return -1;
	}
	s->next = registry;
	registry = s;
	pthread_mutex_unlock(&registry_mu);
	*s_r = s;
	return 0;
}

bool store_on_loop_thread(void)
{
	return !store_loop || pthread_equal(pthread_self(), loop_thread);
}

struct store *store_ref(struct store *s)
{
	pthread_mutex_lock(&registry_mu);
	s->refs++;
	pthread_mutex_unlock(&registry_mu);
	return s;
}

void store_unref(struct store **sp)
{
	struct store *s = *sp, *evict = NULL;

	if (!s)
		return;
	*sp = NULL;
	pthread_mutex_lock(&registry_mu);
	if (--s->refs > 0) {
		pthread_mutex_unlock(&registry_mu);
		return;
	}
	if (s->kick && !pthread_equal(pthread_self(), loop_thread)) {
		/* loop handles, off the loop: closed as before */
		for (struct store **pp = &registry; *pp; pp = &(*pp)->next) {
			if (*pp == s) {
				*pp = s->next;
				break;
			}
		}
		pthread_mutex_unlock(&registry_mu);
		store_close_now(s);
		return;
	}
	store_feed_stop(s); /* on the loop thread, or no loop handles */
	/* kept open, idle (see STORE_IDLE_SECONDS); no one uses its
	 * connections now, and no one can take it while we hold the lock */
	s->idle_since = mono_s();
	sqlite3_db_release_memory(s->rd);
	pthread_mutex_lock(&s->wmu);
	sqlite3_db_release_memory(s->wr);
	pthread_mutex_unlock(&s->wmu);
	buf_shrink(&s->rd_tmp, 4096);
	idle_collect(&evict, false);
	pthread_mutex_unlock(&registry_mu);
	idle_close(evict);
}

/* Closes the idle stores of user (every user when NULL). */
static void close_idle_of(const char *user)
{
	struct store *evict = NULL;

	pthread_mutex_lock(&registry_mu);
	for (struct store **pp = &registry; *pp;) {
		struct store *s = *pp;
		if (s->refs == 0 && (!user || strcmp(s->user, user) == 0)) {
			*pp = s->next;
			s->next = evict;
			evict = s;
			continue;
		}
		pp = &s->next;
	}
	pthread_mutex_unlock(&registry_mu);
	idle_close(evict);
}

const char *store_user(const struct store *s)
{
	return s->user;
}

void store_release_memory(struct store *s)
{
	sqlite3_db_release_memory(s->rd);
	pthread_mutex_lock(&s->wmu);
	sqlite3_db_release_memory(s->wr);
	pthread_mutex_unlock(&s->wmu);
	buf_shrink(&s->rd_tmp, 4096);
}

int store_remove_user(const char *user, struct store_err *err)
{
	char *dir;
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (!store_user_name_valid(user)) {
		store_err_set(err, STORE_ERR_INVALID, "bad user name");
		return -1;
	}
	close_idle_of(user);
	dir = xasprintf("%s/mail/%s", store_data_dir, user);
	d = opendir(dir);
	if (!d) {
		store_err_set(err, errno == ENOENT ? STORE_ERR_NOTFOUND
						   : STORE_ERR_TEMP,
			      "%s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			store_err_set(err, STORE_ERR_TEMP, "unlink %s/%s: %s",
				      dir, de->d_name, strerror(errno));
			rc = -1;
		}
	}
	closedir(d);
	if (rc == 0 && rmdir(dir) < 0) {
		store_err_set(err, STORE_ERR_TEMP, "rmdir %s: %s", dir,
			      strerror(errno));
		rc = -1;
	}
	free(dir);
	return rc;
}
