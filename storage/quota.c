/* quota.c - per-user storage quota: octets and messages.
 *
 * Usage is not counted here: every write already keeps each mailbox's
 * message count and size (the sum of its message sizes) in the mailbox
 * row, in the same transaction as the rows they count (write.c). A
 * user's usage is the sum of those rows -- one row per mailbox, never a
 * scan of the messages -- so it goes up with APPEND/COPY/delivery and
 * down with EXPUNGE and mailbox deletion, exactly as the counters do.
 * A message stored twice (COPY shares the bytes) counts twice, as in
 * Dovecot's "count" quota and RFC 9208's STORAGE resource.
 *
 * Limits: the process default (store_quota_defaults, from [storage]
 * quota_bytes/quota_messages) unless the store's meta table holds the
 * user's own ("quota_bytes", "quota_messages"; written by tandemctl user
 * set), read in the write transaction itself so an admin's change applies
 * to the next write of every process.
 *
 * The check runs on the writer inside the write transaction, before the
 * rows are changed: two writers cannot both pass on the same headroom.
 * An append is refused when usage + its size would exceed the limit, so
 * a mailbox may reach its limit exactly, never pass it; a MOVE changes
 * nothing in total and is never refused.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"

#define W(sql) store_stmt(s->wr, &s->wr_cache, (sql))
#define R(sql) store_stmt(s->rd, &s->rd_cache, (sql))

static _Atomic uint64_t default_bytes, default_messages;

void store_quota_defaults(uint64_t bytes, uint64_t messages)
{
	atomic_store(&default_bytes, bytes);
	atomic_store(&default_messages, messages);
}

static const char sql_limits[] =
	"SELECT key, value FROM meta"
	" WHERE key IN ('" STORE_META_QUOTA_BYTES "', '"
	STORE_META_QUOTA_MESSAGES "')";
static const char sql_usage[] =
	"SELECT coalesce(sum(size), 0), coalesce(sum(messages), 0)"
	" FROM mailbox";

/* A stored limit: decimal digits only; anything else means "none". */
static bool parse_limit(const unsigned char *v, uint64_t *out)
{
	uint64_t n = 0;

	if (!v || !*v)
		return false;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || n > (UINT64_MAX - 9) / 10)
			return false;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	*out = n;
	return true;
}

/* Fills q from db (the reader or the writer, whichever the caller holds):
 * limits always, usage only when want_usage or a limit is set. */
static int quota_read(sqlite3 *db, sqlite3_stmt *lim,
		      sqlite3_stmt *use, bool want_usage, struct store_quota *q,
		      struct store_err *err)
{
	int rc;

	memset(q, 0, sizeof(*q));
	q->bytes_limit = atomic_load(&default_bytes);
	q->messages_limit = atomic_load(&default_messages);
	if (!lim || !use) {
		store_err_sqlite(err, db, sqlite3_errcode(db), "quota");
		return -1;
	}
	while ((rc = sqlite3_step(lim)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(lim, 0);
		const unsigned char *v = sqlite3_column_text(lim, 1);
		uint64_t n;

		if (!k || !parse_limit(v, &n))
			continue;
		if (strcmp(k, STORE_META_QUOTA_BYTES) == 0) {
			q->bytes_limit = n;
			q->bytes_own = true;
		} else {
			q->messages_limit = n;
			q->messages_own = true;
		}
	}
	sqlite3_reset(lim);
	if (rc != SQLITE_DONE) {
		store_err_sqlite(err, db, rc, "quota limits");
		return -1;
	}
	if (!want_usage && !q->bytes_limit && !q->messages_limit)
		return 0;
	rc = sqlite3_step(use);
	if (rc == SQLITE_ROW) {
		q->bytes = (uint64_t)sqlite3_column_int64(use, 0);
		q->messages = (uint64_t)sqlite3_column_int64(use, 1);
	}
	sqlite3_reset(use);
	if (rc != SQLITE_ROW) {
		store_err_sqlite(err, db, rc, "quota usage");
		return -1;
	}
	return 0;
}

int store_quota_get(struct store *s, struct store_quota *q_r,
		    struct store_err *err)
{
	return quota_read(s->rd, R(sql_limits), R(sql_usage), true, q_r,
			  err);
}

int store_quota_check(struct store *s, uint64_t bytes, uint64_t messages,
		      struct store_err *err)
{
	struct store_quota q;

	if (quota_read(s->wr, W(sql_limits), W(sql_usage), false, &q,
		       err) < 0)
		return -1;
	if (q.bytes_limit && q.bytes + bytes > q.bytes_limit) {
		store_err_set(err, STORE_ERR_OVERQUOTA,
			      "over quota: %" PRIu64 " octets stored, %" PRIu64
			      " more would pass the limit of %" PRIu64,
			      q.bytes, bytes, q.bytes_limit);
		return -1;
	}
	if (q.messages_limit && q.messages + messages > q.messages_limit) {
		store_err_set(err, STORE_ERR_OVERQUOTA,
			      "over quota: %" PRIu64 " messages stored, %" PRIu64
			      " more would pass the limit of %" PRIu64,
			      q.messages, messages, q.messages_limit);
		return -1;
	}
	return 0;
}

int store_quota_check_append(struct store *s,
			     const struct store_append_req *rq, size_t n,
			     struct store_err *err)
{
	uint64_t bytes = 0;

	for (size_t i = 0; i < n; i++)
		if (rq[i].spool)
			bytes += store_spool_size(rq[i].spool);
	return store_quota_check(s, bytes, n, err);
}

static int set_one(struct store *s, const char *key, int64_t v,
		   struct store_err *err)
{
	sqlite3_stmt *st;
	char num[32];
	int rc;

	if (v == STORE_QUOTA_KEEP)
		return 0;
	if (v == STORE_QUOTA_DEFAULT) {
		st = W("DELETE FROM meta WHERE key = ?");
	} else {
		st = W("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
		snprintf(num, sizeof(num), "%" PRId64, v);
	}
	if (!st) {
		store_err_sqlite(err, s->wr, sqlite3_errcode(s->wr), "quota");
		return -1;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (v != STORE_QUOTA_DEFAULT)
		sqlite3_bind_text(st, 2, num, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		store_err_sqlite(err, s->wr, rc, "quota");
		return -1;
	}
	return 0;
}

int store_quota_set(struct store *s, int64_t bytes, int64_t messages,
		    struct store_err *err)
{
	if (bytes < STORE_QUOTA_KEEP || messages < STORE_QUOTA_KEEP) {
		store_err_set(err, STORE_ERR_INVALID, "negative quota");
		return -1;
	}
	if (store_wtx_begin(s, err) < 0)
		return -1;
	if (set_one(s, STORE_META_QUOTA_BYTES, bytes, err) < 0 ||
	    set_one(s, STORE_META_QUOTA_MESSAGES, messages, err) < 0) {
		store_wtx_rollback(s);
		return -1;
	}
	return store_wtx_commit(s, err);
}
