/* message.c - message and expunge-history reads (reader connection, loop
 * thread).
 *
 * Iterators read in batches: each batch is one statement run to its end
 * and reset, so no read transaction stays open between calls however long
 * the front end takes between two _next calls (a FETCH paused on output
 * backpressure must not pin the WAL and stop checkpoints).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"
#include "xalloc.h"

#define R(sql) store_stmt(s->rd, &s->rd_cache, (sql))
#define MSGS_PER_BATCH 256

void store_msg_ids(int64_t body_id, char *emailid, char *threadid)
{
	/* EMAILID names the immutable bytes, so copies share it (RFC 8474
	 * 5.1); THREADID = EMAILID: every message is its own thread. */
	snprintf(emailid, 40, "M%016llx", (unsigned long long)body_id);
	snprintf(threadid, 40, "T%016llx", (unsigned long long)body_id);
}

#define MSG_COLS                                                           \
	"SELECT uid, flags, modseq, internaldate, tzoff, savedate, size,"  \
	" body_id, retrieved, keywords, legacy_uidl FROM message"

struct msg_row {
	struct store_msg m;
	size_t kw_off, uidl_off;
};

static void msg_row(sqlite3_stmt *st, struct msg_row *r, struct buf *strs)
{
	const char *kw = (const char *)sqlite3_column_text(st, 9);

	memset(r, 0, sizeof(*r));
	r->m.uid = (uint32_t)sqlite3_column_int64(st, 0);
	r->m.flags = (uint32_t)sqlite3_column_int64(st, 1);
	r->m.modseq = (uint64_t)sqlite3_column_int64(st, 2);
	r->m.internaldate = sqlite3_column_int64(st, 3);
	r->m.tzoff = sqlite3_column_int(st, 4);
	r->m.savedate = sqlite3_column_int64(st, 5);
	r->m.size = (uint64_t)sqlite3_column_int64(st, 6);
	r->m.body_id = sqlite3_column_int64(st, 7);
	r->m.retrieved = sqlite3_column_int64(st, 8);
	store_msg_ids(r->m.body_id, r->m.emailid, r->m.threadid);
	r->kw_off = strs->len;
	buf_append_str(strs, kw ? kw : "");
	buf_append_c(strs, '\0');
	if (sqlite3_column_type(st, 10) == SQLITE_NULL) {
		r->uidl_off = SIZE_MAX;
	} else {
		r->uidl_off = strs->len;
		buf_append_str(strs, (const char *)sqlite3_column_text(st, 10));
		buf_append_c(strs, '\0');
	}
}

static void msg_fix(struct msg_row *r, const struct buf *strs,
		    struct store_msg *m_r)
{
	*m_r = r->m;
	m_r->keywords = strs->data + r->kw_off;
	m_r->legacy_uidl =
		r->uidl_off == SIZE_MAX ? NULL : strs->data + r->uidl_off;
}

/* The fast way: the UIDs are [lo, hi] less the UIDs expunged between
 * them, whenever that many are left as the mailbox's message counter
 * says. UIDs are never reused, so no expunged UID is in the mailbox and
 * the UIDs are a subset of that difference; equal counts make them the
 * same set. When the history was pruned, or an import skipped UIDs, the
 * counts differ and the caller scans. Reads the mailbox row, two index
 * ends and at most the gaps (no more than the messages) of the history,
 * all in the caller's read transaction. Returns 1 when done, 0 when the
 * caller must scan, -1 on error. */
static int uids_from_history(struct store *s, int64_t mailbox_id,
			     uint32_t **uids_r, uint32_t *n_r,
			     struct store_err *err)
{
	sqlite3_stmt *st = R("SELECT messages,"
			     " (SELECT min(uid) FROM message WHERE mailbox_id = ?1),"
			     " (SELECT max(uid) FROM message WHERE mailbox_id = ?1)"
			     " FROM mailbox WHERE id = ?1");
	uint32_t *v = NULL, *gap = NULL, ngap = 0, n, lo, hi;
	uint64_t span;
	int rc;

	if (!st)
		goto fail;
	sqlite3_bind_int64(st, 1, mailbox_id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return 1; /* no such mailbox: no UIDs */
		goto fail;
	}
	n = (uint32_t)sqlite3_column_int64(st, 0);
	lo = (uint32_t)sqlite3_column_int64(st, 1);
	hi = (uint32_t)sqlite3_column_int64(st, 2);
	bool empty = sqlite3_column_type(st, 1) == SQLITE_NULL;
	sqlite3_reset(st);
	if (empty)
		return n == 0 ? 1 : 0;
	span = (uint64_t)hi - lo + 1;
	if (n == 0 || span < n || span - n > n)
		return 0; /* counters off, or more gaps than messages */
	if (span > n) {
		uint32_t want = (uint32_t)(span - n);
		st = R("SELECT uid FROM expunged WHERE mailbox_id = ?"
		       " AND uid > ? AND uid < ? ORDER BY uid LIMIT ?");
		if (!st)
			goto fail;
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_int64(st, 2, lo);
		sqlite3_bind_int64(st, 3, hi);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)want + 1);
		gap = xmalloc(((size_t)want + 1) * sizeof(*gap));
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			gap[ngap++] = (uint32_t)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			free(gap);
			goto fail;
		}
		if (ngap != want) {
			free(gap);
			return 0;
		}
	}
	v = xmalloc((size_t)n * sizeof(*v));
	uint32_t k = 0, g = 0;
	for (uint64_t u = lo; u <= hi; u++) {
		if (g < ngap && gap[g] == u) {
			g++;
			continue;
		}
		v[k++] = (uint32_t)u;
	}
	free(gap);
	if (k != n) { /* cannot happen with gaps inside (lo, hi) */
		free(v);
		return 0;
	}
	*uids_r = v;
	*n_r = n;
	return 1;
fail:
	store_err_sqlite(err, s->rd, sqlite3_errcode(s->rd), "uids");
	return -1;
}

int store_uids_get(struct store *s, int64_t mailbox_id, uint32_t **uids_r,
		   uint32_t *n_r, struct store_err *err)
{
	uint32_t *v = NULL, n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	*uids_r = NULL;
	*n_r = 0;
	/* one snapshot for the counter, the ends and the history (inside a
	 * caller's batch, the caller's) */
	store_read_begin(s);
	rc = uids_from_history(s, mailbox_id, uids_r, n_r, err);
	if (rc != 0) {
		store_read_end(s);
		return rc < 0 ? -1 : 0;
	}
	st = R("SELECT uid FROM message WHERE mailbox_id = ? ORDER BY uid");
	if (!st) {
		store_err_sqlite(err, s->rd, sqlite3_errcode(s->rd), "uids");
		store_read_end(s);
		return -1;
	}
	sqlite3_bind_int64(st, 1, mailbox_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			v = xrealloc(v, (size_t)cap * sizeof(*v));
		}
		v[n++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	store_read_end(s);
	if (rc != SQLITE_DONE) {
		store_err_sqlite(err, s->rd, rc, "uids");
		free(v);
		return -1;
	}
	*uids_r = v;
	*n_r = n;
	return 0;
}

int store_first_uid_without(struct store *s, int64_t mailbox_id,
			    uint32_t flags, uint32_t *uid_r,
			    struct store_err *err)
{
	sqlite3_stmt *st = R("SELECT uid FROM message WHERE mailbox_id = ?"
			     " AND (flags & ?) = 0 ORDER BY uid LIMIT 1");
	int rc;

	*uid_r = 0;
	if (!st) {
		store_err_sqlite(err, s->rd, sqlite3_errcode(s->rd), "first");
		return -1;
	}
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, flags);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*uid_r = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_err_sqlite(err, s->rd, rc, "first");
		return -1;
	}
	return 0;
}

/* BEGIN is deferred: the snapshot is taken by the first read, so a
 * batch that reads nothing costs no lock. */
static void read_open(struct store *s)
{
	sqlite3_stmt *st = R("BEGIN");

	if (st) {
		sqlite3_step(st);
		sqlite3_reset(st);
	}
}

void store_read_begin(struct store *s)
{
	if (s->read_depth++ == 0)
		read_open(s);
}

static void read_commit(struct store *s)
{
	if (sqlite3_get_autocommit(s->rd))
		return;
	sqlite3_stmt *st = R("COMMIT");
	if (st) {
		sqlite3_step(st);
		sqlite3_reset(st);
	}
	if (!sqlite3_get_autocommit(s->rd))
		sqlite3_exec(s->rd, "ROLLBACK", NULL, NULL, NULL);
}

void store_read_end(struct store *s)
{
	if (s->read_depth == 0 || --s->read_depth > 0)
		return;
	read_commit(s);
}

void store_read_refresh(struct store *s)
{
	if (s->read_depth == 0 || sqlite3_get_autocommit(s->rd))
		return;
	read_commit(s);
	read_open(s);
}

int store_msg_get(struct store *s, int64_t mailbox_id, uint32_t uid,
		  struct store_msg *m_r, struct store_err *err)
{
	sqlite3_stmt *st = R(MSG_COLS " WHERE mailbox_id = ? AND uid = ?");
	struct msg_row r;
	int rc;

	if (!st) {
		store_err_sqlite(err, s->rd, sqlite3_errcode(s->rd), "message");
		return -1;
	}
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		buf_reset(&s->rd_tmp);
		msg_row(st, &r, &s->rd_tmp);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) {
		msg_fix(&r, &s->rd_tmp, m_r);
		return 0;
	}
	if (rc == SQLITE_DONE)
		store_err_set(err, STORE_ERR_NOTFOUND, "no such message");
	else
		store_err_sqlite(err, s->rd, rc, "message");
	return -1;
}

struct store_msg_iter {
	struct store *s;
	int64_t mailbox_id;
	uint32_t next_uid, uid_max;
	uint64_t changedsince;
	bool by_modseq; /* few changed rows: walk the modseq index */
	bool eof;
	struct msg_row *rows;
	size_t n, pos;
	struct buf strs;
	struct store_err err;
};

static const char sql_iter[] =
	MSG_COLS " WHERE mailbox_id = ? AND uid >= ? AND uid <= ?"
		 " AND modseq > ? ORDER BY uid LIMIT ?";

/* With CHANGEDSINCE the primary-key range scan reads every message of
 * the range; when few messages changed (the usual case for a session
 * catching up), the modseq index finds them directly and the sort is
 * small. */
static const char sql_iter_changed[] =
	MSG_COLS " INDEXED BY message_modseq WHERE mailbox_id = ?"
		 " AND uid >= ? AND uid <= ? AND modseq > ? ORDER BY uid LIMIT ?";
#define MODSEQ_INDEX_MAX 4096

static void msg_iter_fill(struct store_msg_iter *it)
{
	struct store *s = it->s;
	sqlite3_stmt *st = R(it->by_modseq ? sql_iter_changed : sql_iter);
	int rc;

	it->n = it->pos = 0;
	buf_reset(&it->strs);
	if (!st) {
		store_err_sqlite(&it->err, s->rd, sqlite3_errcode(s->rd),
				 "messages");
		it->eof = true;
		return;
	}
	sqlite3_bind_int64(st, 1, it->mailbox_id);
	sqlite3_bind_int64(st, 2, it->next_uid);
	sqlite3_bind_int64(st, 3, it->uid_max);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)it->changedsince);
	sqlite3_bind_int(st, 5, MSGS_PER_BATCH);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		msg_row(st, &it->rows[it->n++], &it->strs);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		store_err_sqlite(&it->err, s->rd, rc, "messages");
		it->eof = true;
		it->n = 0;
		return;
	}
	if (it->n < MSGS_PER_BATCH || it->rows[it->n - 1].m.uid >= it->uid_max)
		it->eof = true;
	else
		it->next_uid = it->rows[it->n - 1].m.uid + 1;
}

struct store_msg_iter *store_msg_iter_begin(struct store *s,
					    int64_t mailbox_id,
					    uint32_t uid_min, uint32_t uid_max,
					    uint64_t changedsince)
{
	struct store_msg_iter *it = xcalloc(1, sizeof(*it));

	it->s = s;
	it->mailbox_id = mailbox_id;
	it->next_uid = uid_min ? uid_min : 1;
	it->uid_max = uid_max;
	it->changedsince = changedsince;
	it->rows = xmalloc(MSGS_PER_BATCH * sizeof(*it->rows));
	it->eof = it->next_uid > uid_max;
	it->pos = it->n = 0;
	if (changedsince > 0 && !it->eof) {
		sqlite3_stmt *st = R("SELECT count(*) FROM (SELECT 1 FROM message"
				     " INDEXED BY message_modseq"
				     " WHERE mailbox_id = ? AND modseq > ?"
				     " LIMIT ?)");
		if (st) {
			sqlite3_bind_int64(st, 1, mailbox_id);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)changedsince);
			sqlite3_bind_int(st, 3, MODSEQ_INDEX_MAX + 1);
			if (sqlite3_step(st) == SQLITE_ROW)
				it->by_modseq = sqlite3_column_int(st, 0) <=
						MODSEQ_INDEX_MAX;
			sqlite3_reset(st);
		}
	}
	return it;
}

bool store_msg_iter_next(struct store_msg_iter *it, struct store_msg *m_r)
{
	if (it->pos >= it->n) {
		if (it->eof)
			return false;
		msg_iter_fill(it);
		if (it->n == 0)
			return false;
	}
	msg_fix(&it->rows[it->pos++], &it->strs, m_r);
	return true;
}

int store_msg_iter_end(struct store_msg_iter **itp, struct store_err *err)
{
	struct store_msg_iter *it = *itp;
	int rc = 0;

	if (!it)
		return 0;
	*itp = NULL;
	if (it->err.code != STORE_OK) {
		if (err)
			*err = it->err;
		rc = -1;
	}
	buf_release(&it->strs);
	free(it->rows);
	free(it);
	return rc;
}

struct store_expunged_iter {
	struct {
		uint32_t uid;
		uint64_t modseq;
	} *e;
	size_t n, cap, pos;
};

struct store_expunged_iter *store_expunged_iter_begin(struct store *s,
						      int64_t mailbox_id,
						      uint64_t since)
{
	struct store_expunged_iter *it = xcalloc(1, sizeof(*it));
	sqlite3_stmt *st = R("SELECT uid, modseq FROM expunged"
			     " WHERE mailbox_id = ? AND modseq > ?"
			     " ORDER BY uid");

	if (!st)
		return it;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)since);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (it->n == it->cap) {
			it->cap = it->cap ? it->cap * 2 : 64;
			it->e = xrealloc(it->e, it->cap * sizeof(*it->e));
		}
		it->e[it->n].uid = (uint32_t)sqlite3_column_int64(st, 0);
		it->e[it->n].modseq = (uint64_t)sqlite3_column_int64(st, 1);
		it->n++;
	}
	sqlite3_reset(st);
	return it;
}

bool store_expunged_iter_next(struct store_expunged_iter *it,
			      uint32_t *uid_r, uint64_t *modseq_r)
{
	if (it->pos >= it->n)
		return false;
	if (uid_r)
		*uid_r = it->e[it->pos].uid;
	if (modseq_r)
		*modseq_r = it->e[it->pos].modseq;
	it->pos++;
	return true;
}

void store_expunged_iter_end(struct store_expunged_iter **itp)
{
	struct store_expunged_iter *it = *itp;

	if (!it)
		return;
	*itp = NULL;
	free(it->e);
	free(it);
}

uint64_t store_expunged_horizon(struct store *s, int64_t mailbox_id)
{
	sqlite3_stmt *st = R("SELECT expunge_horizon FROM mailbox WHERE id = ?");
	uint64_t h = 0;

	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, mailbox_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		h = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return h;
}
