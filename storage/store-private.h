/* store-private.h - the insides of struct store, shared by the storage sources.
 *
 * Connections: rd is the reader (loop thread only), wr the writer (any
 * thread, only with wmu held). Each connection has its own cache of
 * prepared statements (struct stmt_cache); a statement taken from the
 * cache is reset and unbound, and is never kept active between two
 * public calls, so no read transaction outlives a call.
 */
#ifndef TANDEM_STORE_PRIVATE_H
#define TANDEM_STORE_PRIVATE_H

#include <pthread.h>
#include <sqlite3.h>

#include "buf.h"
#include "store.h"

/* Schema version written to PRAGMA user_version by the last migration. */
#define STORE_SCHEMA_VERSION 1

struct stmt_cache {
	struct stmt_entry {
		const char *sql; /* identity: a static string */
		sqlite3_stmt *st;
	} *e;
	size_t n, cap;
};

struct store_watch {
	struct store *s;
	store_change_cb *cb;
	void *arg;
	bool dead; /* removed during a dispatch; freed after it */
	struct store_watch *next;
};

struct store {
	/* process lifetime of the handle (registry under the global mutex) */
	struct store *next;
	int refs;
	char *user;
	char *dir;  /* data_dir/mail/<user> */
	int notify_fd;
	dev_t db_dev; /* store.db as opened: a reused idle handle checks */
	ino_t db_ino; /* the file is still the same (user del, restore) */
	int64_t idle_since; /* refs == 0: kept open since (monotonic s) */

	/* reader: loop thread only */
	sqlite3 *rd;
	struct stmt_cache rd_cache;
	struct buf rd_tmp; /* backs pointers returned by store_msg_get */
	unsigned rd_mapped; /* open big bodies that asked for mmap (body.c) */
	unsigned read_depth; /* store_read_begin nesting */
	uint64_t rd_map_read; /* bytes read through the mapping since made */

	/* writer: only with wmu held */
	pthread_mutex_t wmu;
	sqlite3 *wr;
	struct stmt_cache wr_cache;
	uint64_t commits;
	uint64_t tx_modseq; /* allocated lazily in a transaction, else 0 */
	sqlite3_int64 tx_changes;
	uv_async_t *async; /* read/written with wmu held */
	bool close_requested; /* with wmu: the loop thread must close */

	/* change feed: loop thread only */
	uv_fs_event_t *fsev;
	uv_fs_poll_t *fspoll; /* only when inotify is not available */
	uv_timer_t *kick;
	struct store_watch *watches;
	int dispatching;
	uint64_t round; /* store_feed_round(): nonzero while dispatching */
	int pending_closes;
};

/* globals (store.c) */
extern uv_loop_t *store_loop;
extern char *store_data_dir;

/* store.c */
sqlite3_stmt *store_stmt(sqlite3 *db, struct stmt_cache *c, const char *sql);

/* The columns of a mailbox row (append " WHERE ..." or " ORDER BY ...")
 * and the function that fills a struct store_mailbox from one. */
#define MB_COLS                                                            \
	"SELECT m.id, m.name, m.mailboxid, m.uidvalidity, m.uidnext,"      \
	" m.highestmodseq, m.messages, m.unseen, m.deleted,"               \
	" m.first_recent_uid, m.size, m.special_use,"                      \
	" EXISTS(SELECT 1 FROM subscription s WHERE s.name = m.name),"     \
	" (SELECT count(*) FROM message x WHERE x.mailbox_id = m.id"       \
	"  AND x.uid >= m.first_recent_uid) FROM mailbox m"
void store_mailbox_row(sqlite3_stmt *st, struct store_mailbox *mb);
void store_stmt_cache_free(struct stmt_cache *c);
void store_err_set(struct store_err *err, enum store_error code,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Maps a SQLite result code to a store error, with the message of db. */
void store_err_sqlite(struct store_err *err, sqlite3 *db, int rc,
		      const char *what);
/* Normalizes a mailbox name into out (INBOX upper-cased as first
 * component). Returns 0, or -1 with INVALID. */
int store_mailbox_name_norm(const char *name, char *out, size_t outsz,
			    struct store_err *err);
void store_free(struct store *s);

/* schema.c: runs migrations on the writer. Returns 0, or -1. */
int store_schema_migrate(struct store *s, struct store_err *err);

/* write.c */
/* Creates one mailbox row inside the caller's write transaction. */
int store_mailbox_insert(struct store *s, const char *name, unsigned su,
			 struct store_err *err);
int store_wtx_begin(struct store *s, struct store_err *err);
int store_wtx_commit(struct store *s, struct store_err *err);
void store_wtx_rollback(struct store *s);

/* watch.c */
/* Called after a commit with wmu held: touches notify, wakes the loop. */
void store_feed_notify(struct store *s);
/* Closes the loop handles; returns true if store_free runs later from a
 * close callback. */
bool store_feed_close(struct store *s);
/* Loop thread, no watches left: closes the loop handles without freeing
 * s (an idle store; store_watch_add starts them again). */
void store_feed_stop(struct store *s);
/* From another thread: asks the loop thread to close the handles and
 * free s. Returns false if s has no loop handles (free it directly). */
bool store_feed_close_async(struct store *s);

/* quota.c: inside a write transaction, before the rows change. Returns
 * 0 if bytes/messages more fit the user's quota, else -1 (OVERQUOTA, or
 * TEMP on a database error). */
int store_quota_check(struct store *s, uint64_t bytes, uint64_t messages,
		      struct store_err *err);
int store_quota_check_append(struct store *s,
			     const struct store_append_req *rq, size_t n,
			     struct store_err *err);

/* message.c: a write committed on the loop thread while a batch of reads
 * (store_read_begin) is open: the batch goes on in a new snapshot, so
 * the reads after the write see it. */
void store_read_refresh(struct store *s);
/* vfs.c: the VFS the writer connection (writer) or the reader opens with:
 * SQLite's unix VFS with reads in order read ahead, and for the writer
 * contiguous writes combined; NULL to use the default. */
const char *store_vfs_name(bool writer);
/* store.c: the thread that called store_global_init (or no loop). */
bool store_on_loop_thread(void);

/* spool.c: ends the parse of the spooled bytes (the first call) and
 * returns the serialised MIME tree (mime_serialize), owned by the spool;
 * NULL when bytes were written after an earlier call. */
const struct buf *store_spool_mime(struct store_spool *sp);

/* message.c */
void store_msg_ids(int64_t body_id, char *emailid, char *threadid);

#endif
