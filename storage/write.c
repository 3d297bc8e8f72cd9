/* write.c - every change to a store: one BEGIN IMMEDIATE transaction on
 * the writer connection, with the writer mutex held from BEGIN to COMMIT.
 *
 * A transaction takes at most one new MODSEQ (lazily, when it first
 * changes a message): all messages changed by one call share it, which
 * RFC 7162 3.1 allows, and each mailbox's HIGHESTMODSEQ becomes it.
 * Mailbox counters (messages, unseen, deleted, size) are adjusted in the
 * same transaction as the rows they count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mime.h"
#include "store-private.h"
#include "xalloc.h"

#define W(sql) store_stmt(s->wr, &s->wr_cache, (sql))
#define BATCH 256

/* ---- transactions ---------------------------------------------------- */

static const char sql_begin[] = "BEGIN IMMEDIATE";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";

static int run(struct store *s, sqlite3_stmt *st, struct store_err *err,
	       const char *what)
{
	int rc;

	if (!st) {
		store_err_sqlite(err, s->wr, sqlite3_errcode(s->wr), what);
		return -1;
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_err_sqlite(err, s->wr, rc, what);
		return -1;
	}
	return 0;
}

int store_wtx_begin(struct store *s, struct store_err *err)
{
	pthread_mutex_lock(&s->wmu);
	if (run(s, W(sql_begin), err, "begin") < 0) {
		pthread_mutex_unlock(&s->wmu);
		return -1;
	}
	s->tx_modseq = 0;
	s->tx_changes = sqlite3_total_changes64(s->wr);
	return 0;
}

int store_wtx_commit(struct store *s, struct store_err *err)
{
	bool changed = sqlite3_total_changes64(s->wr) != s->tx_changes;

	if (run(s, W(sql_commit), err, "commit") < 0) {
		if (!sqlite3_get_autocommit(s->wr))
			run(s, W(sql_rollback), NULL, "rollback");
		pthread_mutex_unlock(&s->wmu);
		return -1;
	}
	/* the reader belongs to the loop thread: only there can a batch
	 * of reads be open around this write */
	if (store_on_loop_thread())
		store_read_refresh(s);
	if (changed)
		store_feed_notify(s);
	pthread_mutex_unlock(&s->wmu);
	return 0;
}

void store_wtx_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->wr))
		run(s, W(sql_rollback), NULL, "rollback");
	pthread_mutex_unlock(&s->wmu);
}

static int tx_modseq(struct store *s, uint64_t *modseq_r,
		     struct store_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (s->tx_modseq) {
		*modseq_r = s->tx_modseq;
		return 0;
	}
	st = W("UPDATE counters SET modseq = modseq + 1 WHERE id = 1"
	       " RETURNING modseq");
	if (!st || (rc = sqlite3_step(st)) != SQLITE_ROW) {
		store_err_sqlite(err, s->wr, sqlite3_errcode(s->wr), "modseq");
		if (st)
			sqlite3_reset(st);
		return -1;
	}
	s->tx_modseq = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_step(st);
	sqlite3_reset(st);
	*modseq_r = s->tx_modseq;
	return 0;
}

/* ---- keywords ------------------------------------------------------- */

struct kw_tok {
	const char *p;
	size_t n;
};

static size_t kw_split(const char *s, struct kw_tok **v, size_t n,
		       size_t *cap)
{
	if (!s)
		return n;
	while (*s) {
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		const char *b = s;
		while (*s && *s != ' ')
			s++;
		if (n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*v = xrealloc(*v, *cap * sizeof(**v));
		}
		(*v)[n].p = b;
		(*v)[n].n = (size_t)(s - b);
		n++;
	}
	return n;
}

static int kw_cmp(const void *a, const void *b)
{
	const struct kw_tok *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);

	if (c)
		return c;
	return x->n < y->n ? -1 : x->n > y->n;
}

static bool kw_in(const struct kw_tok *v, size_t n, const struct kw_tok *t)
{
	for (size_t i = 0; i < n; i++)
		if (kw_cmp(&v[i], t) == 0)
			return true;
	return false;
}

/* Computes the keywords of a message after op into out: sorted, unique,
 * space-separated, compared exactly. */
static void kw_apply(const char *cur, enum store_flag_op op, const char *arg,
		     struct buf *out)
{
	struct kw_tok *v = NULL, *a = NULL;
	size_t n = 0, cap = 0, na = 0, acap = 0, m = 0;

	buf_reset(out);
	buf_append(out, "", 0);
	if (op != STORE_FLAGS_REPLACE)
		n = kw_split(cur, &v, 0, &cap);
	if (op == STORE_FLAGS_REMOVE) {
		na = kw_split(arg, &a, 0, &acap);
		for (size_t i = 0; i < n; i++)
			if (!kw_in(a, na, &v[i]))
				v[m++] = v[i];
		n = m;
	} else {
		n = kw_split(arg, &v, n, &cap);
	}
	if (n)
		qsort(v, n, sizeof(*v), kw_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && kw_cmp(&v[i - 1], &v[i]) == 0)
			continue;
		if (out->len)
			buf_append_c(out, ' ');
		buf_append(out, v[i].p, v[i].n);
	}
	free(v);
	free(a);
}

/* ---- mailbox rows (writer side) ----------------------------------- */

struct wmb {
	int64_t id;
	uint32_t uidvalidity, uidnext, messages, first_recent_uid, deleted;
};

static const char sql_wmb_by_id[] =
	"SELECT id, uidvalidity, uidnext, messages, first_recent_uid, deleted"
	" FROM mailbox WHERE id = ?";
static const char sql_wmb_by_name[] =
	"SELECT id, uidvalidity, uidnext, messages, first_recent_uid, deleted"
	" FROM mailbox WHERE name = ?";

static int wmb_get(struct store *s, int64_t id, const char *name,
		   struct wmb *mb, struct store_err *err)
{
	sqlite3_stmt *st;
	char norm[512];
	int rc;

	if (name) {
		if (store_mailbox_name_norm(name, norm, sizeof(norm), err) < 0)
			return -1;
		st = W(sql_wmb_by_name);
		if (st)
			sqlite3_bind_text(st, 1, norm, -1, SQLITE_STATIC);
	} else {
		st = W(sql_wmb_by_id);
		if (st)
			sqlite3_bind_int64(st, 1, id);
	}
	if (!st) {
		store_err_sqlite(err, s->wr, sqlite3_errcode(s->wr), "mailbox");
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		mb->id = sqlite3_column_int64(st, 0);
		mb->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
		mb->uidnext = (uint32_t)sqlite3_column_int64(st, 2);
		mb->messages = (uint32_t)sqlite3_column_int64(st, 3);
		mb->first_recent_uid = (uint32_t)sqlite3_column_int64(st, 4);
		mb->deleted = (uint32_t)sqlite3_column_int64(st, 5);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		store_err_set(err, STORE_ERR_NOTFOUND, "no such mailbox");
	else
		store_err_sqlite(err, s->wr, rc, "mailbox");
	return -1;
}

struct delta {
	int64_t messages, unseen, deleted, size;
	uint64_t modseq;  /* new highestmodseq, 0: unchanged */
	uint32_t uidnext; /* new uidnext, 0: unchanged */
};

static void delta_msg(struct delta *d, int sign, uint32_t flags,
		      uint64_t size)
{
	d->messages += sign;
	d->unseen += (flags & STORE_F_SEEN) ? 0 : sign;
	d->deleted += (flags & STORE_F_DELETED) ? sign : 0;
	d->size += sign * (int64_t)size;
}

static int delta_apply(struct store *s, int64_t mailbox_id,
		       const struct delta *d, struct store_err *err)
{
	sqlite3_stmt *st;

	if (!d->messages && !d->unseen && !d->deleted && !d->size &&
	    !d->modseq && !d->uidnext)
		return 0;
	st = W("UPDATE mailbox SET messages = messages + ?1,"
	       " unseen = unseen + ?2, deleted = deleted + ?3,"
	       " size = size + ?4,"
	       " highestmodseq = max(highestmodseq, ?5),"
	       " uidnext = max(uidnext, ?6) WHERE id = ?7");
	if (st) {
		sqlite3_bind_int64(st, 1, d->messages);
		sqlite3_bind_int64(st, 2, d->unseen);
		sqlite3_bind_int64(st, 3, d->deleted);
		sqlite3_bind_int64(st, 4, d->size);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)d->modseq);
		sqlite3_bind_int64(st, 6, d->uidnext);
		sqlite3_bind_int64(st, 7, mailbox_id);
	}
	return run(s, st, err, "mailbox counters");
}

/* ---- bodies --------------------------------------------------------- */

static int body_unref(struct store *s, int64_t body_id, struct store_err *err)
{
	sqlite3_stmt *st;
	int rc;
	int64_t left;

	st = W("UPDATE body SET refcount = refcount - 1 WHERE id = ?"
	       " RETURNING refcount");
	if (!st)
		return run(s, st, err, "body unref");
	sqlite3_bind_int64(st, 1, body_id);
	rc = sqlite3_step(st);
	left = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
	if (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		store_err_sqlite(err, s->wr, rc, "body unref");
		return -1;
	}
	if (left > 0)
		return 0;
	st = W("DELETE FROM body_chunk WHERE body_id = ?");
	if (st)
		sqlite3_bind_int64(st, 1, body_id);
	if (run(s, st, err, "delete chunks") < 0)
		return -1;
	st = W("DELETE FROM blob WHERE body_id = ?");
	if (st)
		sqlite3_bind_int64(st, 1, body_id);
	if (run(s, st, err, "delete blobs") < 0)
		return -1;
	st = W("DELETE FROM body WHERE id = ?");
	if (st)
		sqlite3_bind_int64(st, 1, body_id);
	return run(s, st, err, "delete body");
}

static int body_ref(struct store *s, int64_t body_id, struct store_err *err)
{
	sqlite3_stmt *st = W("UPDATE body SET refcount = refcount + 1"
			     " WHERE id = ?");

	if (st)
		sqlite3_bind_int64(st, 1, body_id);
	return run(s, st, err, "body ref");
}

static int blob_put(struct store *s, int64_t body_id, const char *name,
		    const void *data, size_t len, struct store_err *err)
{
	sqlite3_stmt *st = W("INSERT OR REPLACE INTO blob(body_id, name, data)"
			     " VALUES(?, ?, ?)");

	if (st) {
		sqlite3_bind_int64(st, 1, body_id);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_blob64(st, 3, len ? data : "", len, SQLITE_STATIC);
	}
	return run(s, st, err, "blob");
}

/* Stores the spooled bytes as a new body. */
static int body_insert(struct store *s, struct store_spool *sp,
		       int64_t *body_id_r, uint64_t *size_r, char *chunk,
		       struct store_err *err)
{
	uint64_t size = store_spool_size(sp), off = 0;
	sqlite3_stmt *st;
	int64_t id;
	int64_t seq = 0;

	st = W("INSERT INTO body(size, refcount) VALUES(?, 1)");
	if (st)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
	if (run(s, st, err, "body") < 0)
		return -1;
	id = sqlite3_last_insert_rowid(s->wr);
	while (off < size || (off == 0 && size == 0)) {
		size_t want = size - off > STORE_CHUNK_SIZE ? STORE_CHUNK_SIZE
							    : size - off;
		size_t got = 0;
		while (got < want) {
			ssize_t r = store_spool_read(sp, off + got, chunk + got,
						     want - got, err);
			if (r < 0)
				return -1;
			if (r == 0) {
				store_err_set(err, STORE_ERR_TEMP,
					      "spool shorter than its size");
				return -1;
			}
			got += (size_t)r;
		}
		if (size == 0)
			break; /* an empty body has no chunks */
		st = W("INSERT INTO body_chunk(body_id, seq, data)"
		       " VALUES(?, ?, ?)");
		if (st) {
			sqlite3_bind_int64(st, 1, id);
			sqlite3_bind_int64(st, 2, seq);
			sqlite3_bind_blob64(st, 3, chunk, want, SQLITE_STATIC);
		}
		if (run(s, st, err, "chunk") < 0)
			return -1;
		off += want;
		seq++;
	}
	*body_id_r = id;
	*size_r = size;
	return 0;
}

/* ---- append ------------------------------------------------------------ */

static const char sql_msg_insert[] =
	"INSERT INTO message(mailbox_id, uid, body_id, flags, keywords,"
	" modseq, internaldate, tzoff, savedate, size, retrieved, legacy_uidl)"
	" VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

static int append_one(struct store *s, const struct store_append_req *rq,
		      struct store_append_res *res, char *chunk,
		      struct buf *kw, struct store_err *err)
{
	struct wmb mb;
	struct delta d = {0};
	uint64_t modseq, size;
	int64_t body_id, now = time(NULL);
	uint32_t uid, flags = rq->flags & 0x1f;
	sqlite3_stmt *st;

	if (!rq->spool) {
		store_err_set(err, STORE_ERR_INVALID, "no message");
		return -1;
	}
	if (wmb_get(s, rq->mailbox_id, rq->mailbox, &mb, err) < 0)
		return -1;
	if (rq->import_key) {
		int seen;

		st = W("SELECT 1 FROM meta WHERE key = 'import:' || ?");
		if (st)
			sqlite3_bind_text(st, 1, rq->import_key, -1,
					  SQLITE_STATIC);
		seen = st ? sqlite3_step(st) : SQLITE_ERROR;
		if (st)
			sqlite3_reset(st);
		if (seen == SQLITE_ROW) {
			if (res) {
				memset(res, 0, sizeof(*res));
				res->mailbox_id = mb.id;
				res->uidvalidity = mb.uidvalidity;
			}
			return 0;
		}
		st = W("INSERT INTO meta(key, value) VALUES('import:' || ?, ?)");
		if (st) {
			sqlite3_bind_text(st, 1, rq->import_key, -1,
					  SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, rq->uid ? rq->uid : mb.uidnext);
		}
		if (run(s, st, err, "import key") < 0)
			return -1;
	}
	uid = rq->uid ? rq->uid : mb.uidnext;
	if (uid < mb.uidnext || uid == 0) {
		store_err_set(err, STORE_ERR_INVALID,
			      "UID %u is below UIDNEXT %u", uid, mb.uidnext);
		return -1;
	}
	if (uid == UINT32_MAX) {
		store_err_set(err, STORE_ERR_OVERQUOTA, "UIDs exhausted");
		return -1;
	}
	if (tx_modseq(s, &modseq, err) < 0)
		return -1;
	if (body_insert(s, rq->spool, &body_id, &size, chunk, err) < 0)
		return -1;
	bool have_mime = false;
	for (size_t i = 0; i < rq->nblobs; i++) {
		if (blob_put(s, body_id, rq->blobs[i].name, rq->blobs[i].data,
			     rq->blobs[i].len, err) < 0)
			return -1;
		have_mime |= strcmp(rq->blobs[i].name, MIME_BLOB_NAME) == 0;
	}
	/* the MIME structure the spool parsed on the way in: readers then
	 * never parse this body (store.h, store_spool_new) */
	const struct buf *mime = store_spool_mime(rq->spool);
	if (!have_mime && mime &&
	    blob_put(s, body_id, MIME_BLOB_NAME, mime->data, mime->len,
		     err) < 0)
		return -1;
	kw_apply(NULL, STORE_FLAGS_REPLACE, rq->keywords, kw);
	st = W(sql_msg_insert);
	if (st) {
		sqlite3_bind_int64(st, 1, mb.id);
		sqlite3_bind_int64(st, 2, uid);
		sqlite3_bind_int64(st, 3, body_id);
		sqlite3_bind_int64(st, 4, flags);
		sqlite3_bind_text(st, 5, kw->data, (int)kw->len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)modseq);
		sqlite3_bind_int64(st, 7, rq->internaldate ? rq->internaldate
							   : now);
		sqlite3_bind_int(st, 8, rq->tzoff);
		sqlite3_bind_int64(st, 9, now);
		sqlite3_bind_int64(st, 10, (sqlite3_int64)size);
		sqlite3_bind_int64(st, 11, 0);
		if (rq->legacy_uidl)
			sqlite3_bind_text(st, 12, rq->legacy_uidl, -1,
					  SQLITE_STATIC);
	}
	if (run(s, st, err, "message") < 0)
		return -1;
	delta_msg(&d, 1, flags, size);
	d.modseq = modseq;
	d.uidnext = uid + 1;
	if (delta_apply(s, mb.id, &d, err) < 0)
		return -1;
	if (res) {
		res->mailbox_id = mb.id;
		res->uidvalidity = mb.uidvalidity;
		res->uid = uid;
		res->modseq = modseq;
	}
	return 0;
}

int store_append(struct store *s, const struct store_append_req *rq,
		 size_t n, struct store_append_res *res, struct store_err *err)
{
	char *chunk = xmalloc(STORE_CHUNK_SIZE);
	struct buf kw = BUF_INIT;
	int rc = -1;

	/* end the parses before the write lock is taken */
	for (size_t i = 0; i < n; i++)
		if (rq[i].spool)
			(void)store_spool_mime(rq[i].spool);
	if (store_wtx_begin(s, err) < 0)
		goto out;
	if (store_quota_check_append(s, rq, n, err) < 0) {
		store_wtx_rollback(s);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (append_one(s, &rq[i], res ? &res[i] : NULL, chunk, &kw,
			       err) < 0) {
			store_wtx_rollback(s);
			goto out;
		}
	}
	rc = store_wtx_commit(s, err);
out:
	free(chunk);
	buf_release(&kw);
	return rc;
}

/* ---- message batches ------------------------------------------------ */

struct wmsg {
	uint32_t uid, flags;
	int tzoff;
	int64_t body_id, internaldate, savedate, retrieved;
	uint64_t modseq, size;
	size_t kw_off, uidl_off; /* into the batch's strings; uidl SIZE_MAX: NULL */
};

struct batch {
	struct wmsg *m;
	size_t n, cap;
	struct buf str;
};

static const char sql_batch[] =
	"SELECT uid, flags, modseq, internaldate, tzoff, savedate, size,"
	" body_id, retrieved, keywords, legacy_uidl FROM message"
	" WHERE mailbox_id = ? AND uid >= ? AND uid <= ? ORDER BY uid LIMIT ?";

/* Loads up to BATCH messages of mailbox with lo <= uid <= hi. */
static int batch_load(struct store *s, struct batch *b, int64_t mailbox_id,
		      uint32_t lo, uint32_t hi, struct store_err *err)
{
	sqlite3_stmt *st = W(sql_batch);
	int rc;

	b->n = 0;
	buf_reset(&b->str);
	if (!st)
		return run(s, st, err, "select");
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, lo);
	sqlite3_bind_int64(st, 3, hi);
	sqlite3_bind_int(st, 4, BATCH);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct wmsg *m;
		if (b->n == b->cap) {
			b->cap = b->cap ? b->cap * 2 : BATCH;
			b->m = xrealloc(b->m, b->cap * sizeof(*b->m));
		}
		m = &b->m[b->n++];
		m->uid = (uint32_t)sqlite3_column_int64(st, 0);
		m->flags = (uint32_t)sqlite3_column_int64(st, 1);
		m->modseq = (uint64_t)sqlite3_column_int64(st, 2);
		m->internaldate = sqlite3_column_int64(st, 3);
		m->tzoff = sqlite3_column_int(st, 4);
		m->savedate = sqlite3_column_int64(st, 5);
		m->size = (uint64_t)sqlite3_column_int64(st, 6);
		m->body_id = sqlite3_column_int64(st, 7);
		m->retrieved = sqlite3_column_int64(st, 8);
		m->kw_off = b->str.len;
		buf_append_str(&b->str, (const char *)sqlite3_column_text(st, 9)
						? (const char *)sqlite3_column_text(st, 9)
						: "");
		buf_append_c(&b->str, '\0');
		if (sqlite3_column_type(st, 10) == SQLITE_NULL) {
			m->uidl_off = SIZE_MAX;
		} else {
			m->uidl_off = b->str.len;
			buf_append_str(&b->str,
				       (const char *)sqlite3_column_text(st, 10));
			buf_append_c(&b->str, '\0');
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		store_err_sqlite(err, s->wr, rc, "select");
		return -1;
	}
	return 0;
}

static void batch_free(struct batch *b)
{
	free(b->m);
	buf_release(&b->str);
}

/* Walks the messages in uids (all of them when uids is NULL) in batches,
 * calling fn for each; fn may change or delete the message. */
typedef int batch_fn(struct store *s, int64_t mailbox_id,
		     const struct wmsg *m, const char *strs, void *arg,
		     struct store_err *err);

static int walk(struct store *s, int64_t mailbox_id,
		const struct store_uidset *uids, uint32_t max_uid, batch_fn *fn,
		void *arg, struct store_err *err)
{
	static const struct store_uid_range all = {1, UINT32_MAX};
	const struct store_uid_range *r = uids ? uids->r : &all;
	size_t nr = uids ? uids->n : 1;
	struct batch b = {0};
	int rc = 0;

	for (size_t i = 0; i < nr && rc == 0; i++) {
		uint32_t lo = r[i].lo ? r[i].lo : 1, hi = r[i].hi;
		if (hi > max_uid)
			hi = max_uid;
		while (lo <= hi && lo != 0) {
			if (batch_load(s, &b, mailbox_id, lo, hi, err) < 0) {
				rc = -1;
				break;
			}
			for (size_t j = 0; j < b.n && rc == 0; j++)
				rc = fn(s, mailbox_id, &b.m[j], b.str.data, arg,
					err);
			if (rc < 0 || b.n < BATCH)
				break;
			lo = b.m[b.n - 1].uid + 1; /* 0 on wrap: stops */
		}
	}
	batch_free(&b);
	return rc;
}

/* ---- flags --------------------------------------------------------- */

struct flags_ctx {
	enum store_flag_op op;
	uint32_t flags;
	const char *keywords;
	uint64_t unchangedsince;
	struct delta d;
	uint32_t *failed;
	size_t nfailed, capfailed;
	struct buf kw;
};

static int flags_one(struct store *s, int64_t mailbox_id, const struct wmsg *m,
		     const char *strs, void *arg, struct store_err *err)
{
	struct flags_ctx *c = arg;
	const char *cur = strs + m->kw_off;
	uint32_t nf;
	uint64_t modseq;
	sqlite3_stmt *st;

	if (c->unchangedsince && m->modseq > c->unchangedsince) {
		if (c->nfailed == c->capfailed) {
			c->capfailed = c->capfailed ? c->capfailed * 2 : 16;
			c->failed = xrealloc(c->failed, c->capfailed *
							      sizeof(uint32_t));
		}
		c->failed[c->nfailed++] = m->uid;
		return 0;
	}
	switch (c->op) {
	case STORE_FLAGS_ADD:
		nf = m->flags | c->flags;
		break;
	case STORE_FLAGS_REMOVE:
		nf = m->flags & ~c->flags;
		break;
	default:
		nf = c->flags;
		break;
	}
	nf &= 0x1f;
	if (c->op == STORE_FLAGS_REPLACE || (c->keywords && *c->keywords))
		kw_apply(cur, c->op, c->keywords, &c->kw);
	else {
		buf_reset(&c->kw);
		buf_append_str(&c->kw, cur);
	}
	if (nf == m->flags && strcmp(c->kw.data, cur) == 0)
		return 0;
	if (tx_modseq(s, &modseq, err) < 0)
		return -1;
	st = W("UPDATE message SET flags = ?, keywords = ?, modseq = ?"
	       " WHERE mailbox_id = ? AND uid = ?");
	if (st) {
		sqlite3_bind_int64(st, 1, nf);
		sqlite3_bind_text(st, 2, c->kw.data, (int)c->kw.len,
				  SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)modseq);
		sqlite3_bind_int64(st, 4, mailbox_id);
		sqlite3_bind_int64(st, 5, m->uid);
	}
	if (run(s, st, err, "flags") < 0)
		return -1;
	delta_msg(&c->d, -1, m->flags, m->size);
	delta_msg(&c->d, 1, nf, m->size);
	c->d.modseq = modseq;
	return 0;
}

int store_set_flags(struct store *s, int64_t mailbox_id,
		    const struct store_uidset *uids, enum store_flag_op op,
		    uint32_t flags, const char *keywords,
		    uint64_t unchangedsince, uint32_t **failed_r,
		    size_t *nfailed_r, struct store_err *err)
{
	struct flags_ctx c = {.op = op,
			      .flags = flags,
			      .keywords = keywords,
			      .unchangedsince = unchangedsince};
	struct wmb mb;
	int rc = -1;

	if (failed_r)
		*failed_r = NULL;
	if (nfailed_r)
		*nfailed_r = 0;
	if (store_wtx_begin(s, err) < 0)
		return -1;
	if (wmb_get(s, mailbox_id, NULL, &mb, err) < 0 ||
	    walk(s, mailbox_id, uids, UINT32_MAX, flags_one, &c, err) < 0 ||
	    delta_apply(s, mailbox_id, &c.d, err) < 0) {
		store_wtx_rollback(s);
		goto out;
	}
	rc = store_wtx_commit(s, err);
out:
	buf_release(&c.kw);
	if (rc == 0 && failed_r) {
		*failed_r = c.failed;
		c.failed = NULL;
	}
	if (rc == 0 && nfailed_r)
		*nfailed_r = c.nfailed;
	free(c.failed);
	return rc;
}

/* ---- expunge ------------------------------------------------------- */

enum expunge_filter {
	EXPUNGE_ALL,
	EXPUNGE_DELETED,
	EXPUNGE_EXPIRE,
};

struct expunge_ctx {
	enum expunge_filter filter;
	int64_t cutoff;
	bool retrieved_only;
	bool record; /* keep expunge history (not when deleting the mailbox) */
	int64_t now;
	uint32_t count;
	struct delta d;
};

static int expunge_row(struct store *s, int64_t mailbox_id,
		       const struct wmsg *m, struct expunge_ctx *c,
		       struct store_err *err)
{
	sqlite3_stmt *st;
	uint64_t modseq;

	st = W("DELETE FROM message WHERE mailbox_id = ? AND uid = ?");
	if (st) {
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_int64(st, 2, m->uid);
	}
	if (run(s, st, err, "expunge") < 0)
		return -1;
	if (c->record) {
		if (tx_modseq(s, &modseq, err) < 0)
			return -1;
		st = W("INSERT OR REPLACE INTO expunged(mailbox_id, uid,"
		       " modseq, t) VALUES(?, ?, ?, ?)");
		if (st) {
			sqlite3_bind_int64(st, 1, mailbox_id);
			sqlite3_bind_int64(st, 2, m->uid);
			sqlite3_bind_int64(st, 3, (sqlite3_int64)modseq);
			sqlite3_bind_int64(st, 4, c->now);
		}
		if (run(s, st, err, "expunged") < 0)
			return -1;
		c->d.modseq = modseq;
	}
	if (body_unref(s, m->body_id, err) < 0)
		return -1;
	delta_msg(&c->d, -1, m->flags, m->size);
	c->count++;
	return 0;
}

static int expunge_one(struct store *s, int64_t mailbox_id,
		       const struct wmsg *m, const char *strs, void *arg,
		       struct store_err *err)
{
	struct expunge_ctx *c = arg;

	switch (c->filter) {
	case EXPUNGE_DELETED:
		if (!(m->flags & STORE_F_DELETED))
			return 0;
		break;
	case EXPUNGE_EXPIRE:
		if (m->savedate >= c->cutoff ||
		    (c->retrieved_only && m->retrieved == 0))
			return 0;
		break;
	default:
		break;
	}
	return expunge_row(s, mailbox_id, m, c, err);
}

/* Drops expunge records older than STORE_EXPUNGE_KEEP_DAYS and raises the
 * mailbox's horizon past them. */
static int expunged_prune(struct store *s, int64_t mailbox_id, int64_t now,
			  struct store_err *err)
{
	sqlite3_stmt *st;
	int64_t old = now - (int64_t)STORE_EXPUNGE_KEEP_DAYS * 86400;
	sqlite3_int64 maxmod = 0;
	int rc;

	st = W("SELECT max(modseq) FROM expunged WHERE mailbox_id = ?"
	       " AND t < ?");
	if (!st)
		return run(s, st, err, "prune");
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, old);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		maxmod = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		store_err_sqlite(err, s->wr, rc, "prune");
		return -1;
	}
	if (maxmod == 0)
		return 0;
	st = W("DELETE FROM expunged WHERE mailbox_id = ? AND modseq <= ?");
	if (st) {
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_int64(st, 2, maxmod);
	}
	if (run(s, st, err, "prune") < 0)
		return -1;
	st = W("UPDATE mailbox SET expunge_horizon = max(expunge_horizon, ?)"
	       " WHERE id = ?");
	if (st) {
		sqlite3_bind_int64(st, 1, maxmod);
		sqlite3_bind_int64(st, 2, mailbox_id);
	}
	return run(s, st, err, "prune");
}

static int expunge_tx(struct store *s, int64_t mailbox_id,
		      const struct store_uidset *uids, struct expunge_ctx *c,
		      uint32_t *count_r, struct store_err *err)
{
	struct wmb mb;

	c->record = true;
	c->now = time(NULL);
	if (count_r)
		*count_r = 0;
	if (store_wtx_begin(s, err) < 0)
		return -1;
	if (wmb_get(s, mailbox_id, NULL, &mb, err) < 0) {
		store_wtx_rollback(s);
		return -1;
	}
	/* CLOSE / EXPUNGE with no \Deleted message: nothing to walk (the
	 * counter is kept in every write) */
	if (!uids && c->filter == EXPUNGE_DELETED && mb.deleted == 0) {
		store_wtx_rollback(s);
		return 0;
	}
	if (walk(s, mailbox_id, uids, UINT32_MAX, expunge_one, c, err) < 0 ||
	    delta_apply(s, mailbox_id, &c->d, err) < 0 ||
	    (c->count && expunged_prune(s, mailbox_id, c->now, err) < 0)) {
		store_wtx_rollback(s);
		return -1;
	}
	if (store_wtx_commit(s, err) < 0)
		return -1;
	if (count_r)
		*count_r = c->count;
	return 0;
}

int store_expunge(struct store *s, int64_t mailbox_id,
		  const struct store_uidset *uids, bool only_deleted,
		  uint32_t *count_r, struct store_err *err)
{
	struct expunge_ctx c = {0};

	c.filter = (!uids || only_deleted) ? EXPUNGE_DELETED : EXPUNGE_ALL;
	return expunge_tx(s, mailbox_id, uids, &c, count_r, err);
}

int store_expire(struct store *s, int64_t mailbox_id, int64_t cutoff,
		 bool retrieved_only, uint32_t *count_r, struct store_err *err)
{
	struct expunge_ctx c = {0};

	c.filter = EXPUNGE_EXPIRE;
	c.cutoff = cutoff;
	c.retrieved_only = retrieved_only;
	return expunge_tx(s, mailbox_id, NULL, &c, count_r, err);
}

/* ---- copy / move ---------------------------------------------------- */

struct copy_ctx {
	struct wmb dst;
	bool move;
	int64_t now;
	uint64_t modseq;
	struct delta ddst;
	struct expunge_ctx src;
	uint32_t *su, *du;
	size_t n, cap;
};

static int copy_one(struct store *s, int64_t mailbox_id, const struct wmsg *m,
		    const char *strs, void *arg, struct store_err *err)
{
	struct copy_ctx *c = arg;
	sqlite3_stmt *st;
	uint32_t uid = c->dst.uidnext;

	if (uid == UINT32_MAX) {
		store_err_set(err, STORE_ERR_OVERQUOTA, "UIDs exhausted");
		return -1;
	}
	if (body_ref(s, m->body_id, err) < 0)
		return -1;
	st = W(sql_msg_insert);
	if (st) {
		sqlite3_bind_int64(st, 1, c->dst.id);
		sqlite3_bind_int64(st, 2, uid);
		sqlite3_bind_int64(st, 3, m->body_id);
		sqlite3_bind_int64(st, 4, m->flags);
		sqlite3_bind_text(st, 5, strs + m->kw_off, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)c->modseq);
		sqlite3_bind_int64(st, 7, m->internaldate);
		sqlite3_bind_int(st, 8, m->tzoff);
		sqlite3_bind_int64(st, 9, c->now);
		sqlite3_bind_int64(st, 10, (sqlite3_int64)m->size);
		sqlite3_bind_int64(st, 11, c->move ? m->retrieved : 0);
		if (c->move && m->uidl_off != SIZE_MAX)
			sqlite3_bind_text(st, 12, strs + m->uidl_off, -1,
					  SQLITE_STATIC);
	}
	if (run(s, st, err, "copy") < 0)
		return -1;
	delta_msg(&c->ddst, 1, m->flags, m->size);
	c->dst.uidnext = uid + 1;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->su = xrealloc(c->su, c->cap * sizeof(uint32_t));
		c->du = xrealloc(c->du, c->cap * sizeof(uint32_t));
	}
	c->su[c->n] = m->uid;
	c->du[c->n] = uid;
	c->n++;
	if (c->move)
		return expunge_row(s, mailbox_id, m, &c->src, err);
	return 0;
}

int store_copy(struct store *s, int64_t src_mailbox_id,
	       const struct store_uidset *uids, int64_t dst_mailbox_id,
	       bool move, uint32_t **src_uids_r, uint32_t **dst_uids_r,
	       size_t *n_r, uint32_t *uidvalidity_r, struct store_err *err)
{
	struct copy_ctx c = {0};
	struct wmb src;
	int rc = -1;

	c.move = move;
	c.now = time(NULL);
	c.src.record = true;
	c.src.now = c.now;
	if (store_wtx_begin(s, err) < 0)
		return -1;
	if (wmb_get(s, src_mailbox_id, NULL, &src, err) < 0 ||
	    wmb_get(s, dst_mailbox_id, NULL, &c.dst, err) < 0 ||
	    tx_modseq(s, &c.modseq, err) < 0)
		goto fail;
	/* Bounded by the source's UIDNEXT before the copy, so copying a
	 * mailbox into itself does not copy the copies. */
	if (src.uidnext > 1 &&
	    walk(s, src_mailbox_id, uids, src.uidnext - 1, copy_one, &c,
		 err) < 0)
		goto fail;
	if (c.n == 0) {
		/* nothing copied: keep MODSEQ unchanged */
		store_wtx_rollback(s);
		rc = 0;
		goto out;
	}
	if (!move && store_quota_check(s, (uint64_t)c.ddst.size,
				       (uint64_t)c.ddst.messages, err) < 0)
		goto fail;
	c.ddst.modseq = c.modseq;
	c.ddst.uidnext = c.dst.uidnext;
	if (delta_apply(s, c.dst.id, &c.ddst, err) < 0 ||
	    (move && delta_apply(s, src_mailbox_id, &c.src.d, err) < 0))
		goto fail;
	if (store_wtx_commit(s, err) < 0)
		goto out;
	rc = 0;
	goto out;
fail:
	store_wtx_rollback(s);
out:
	if (rc == 0) {
		if (n_r)
			*n_r = c.n;
		if (uidvalidity_r)
			*uidvalidity_r = c.dst.uidvalidity;
		if (src_uids_r) {
			*src_uids_r = c.su;
			c.su = NULL;
		}
		if (dst_uids_r) {
			*dst_uids_r = c.du;
			c.du = NULL;
		}
	}
	free(c.su);
	free(c.du);
	return rc;
}

/* ---- mailbox management ---------------------------------------------- */

int store_mailbox_insert(struct store *s, const char *name, unsigned su,
			 struct store_err *err)
{
	sqlite3_stmt *st;
	int64_t uv, now = time(NULL), last = 0, modseq = 1;
	unsigned char rnd[8];
	char mbid[40];
	int rc;

	st = W("SELECT last_uidvalidity, modseq FROM counters WHERE id = 1");
	if (!st)
		return run(s, st, err, "counters");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		modseq = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		store_err_sqlite(err, s->wr, rc, "counters");
		return -1;
	}
	/* Time-based and strictly increasing within the store, so a
	 * mailbox recreated under an old name gets a new UIDVALIDITY
	 * (RFC 9051 2.3.1.1). */
	uv = now > last ? now : last + 1;
	if (uv >= UINT32_MAX)
		uv = last + 1 < UINT32_MAX ? last + 1 : 1;
	st = W("UPDATE counters SET last_uidvalidity = ? WHERE id = 1");
	if (st)
		sqlite3_bind_int64(st, 1, uv);
	if (run(s, st, err, "counters") < 0)
		return -1;
	sqlite3_randomness(sizeof(rnd), rnd);
	snprintf(mbid, sizeof(mbid), "F%02x%02x%02x%02x%02x%02x%02x%02x",
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
		 rnd[7]);
	st = W("INSERT INTO mailbox(name, mailboxid, uidvalidity, uidnext,"
	       " highestmodseq, first_recent_uid, messages, unseen, deleted,"
	       " size, special_use, expunge_horizon)"
	       " VALUES(?, ?, ?, 1, ?, 1, 0, 0, 0, 0, ?, 0)");
	if (st) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, mbid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, uv);
		sqlite3_bind_int64(st, 4, modseq);
		sqlite3_bind_int64(st, 5, su);
	}
	return run(s, st, err, "create mailbox");
}

static int name_exists(struct store *s, const char *name, bool *r,
		       struct store_err *err)
{
	sqlite3_stmt *st = W("SELECT 1 FROM mailbox WHERE name = ?");
	int rc;

	if (!st)
		return run(s, st, err, "mailbox");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_err_sqlite(err, s->wr, rc, "mailbox");
		return -1;
	}
	*r = rc == SQLITE_ROW;
	return 0;
}

/* Creates the missing parents of name (RFC 9051 6.3.4). */
static int create_parents(struct store *s, const char *name,
			  struct store_err *err)
{
	char tmp[512];
	bool ex;

	snprintf(tmp, sizeof(tmp), "%s", name);
	for (char *p = strchr(tmp, STORE_SEP); p; p = strchr(p + 1, STORE_SEP)) {
		*p = '\0';
		if (name_exists(s, tmp, &ex, err) < 0)
			return -1;
		if (!ex && store_mailbox_insert(s, tmp, 0, err) < 0)
			return -1;
		*p = STORE_SEP;
	}
	return 0;
}

int store_mailbox_create(struct store *s, const char *name,
			 unsigned special_use, struct store_err *err)
{
	char norm[512];
	bool ex;

	if (store_mailbox_name_norm(name, norm, sizeof(norm), err) < 0)
		return -1;
	if (store_wtx_begin(s, err) < 0)
		return -1;
	if (name_exists(s, norm, &ex, err) < 0)
		goto fail;
	if (ex) {
		store_err_set(err, STORE_ERR_EXISTS, "mailbox exists");
		goto fail;
	}
	if (create_parents(s, norm, err) < 0 ||
	    store_mailbox_insert(s, norm, special_use, err) < 0)
		goto fail;
	return store_wtx_commit(s, err);
fail:
	store_wtx_rollback(s);
	return -1;
}

/* Binds the range of inferior names of name: [name/, name0). */
static void bind_inferiors(sqlite3_stmt *st, int i, const char *name,
			   char *lo, char *hi, size_t sz)
{
	snprintf(lo, sz, "%s%c", name, STORE_SEP);
	snprintf(hi, sz, "%s%c", name, STORE_SEP + 1);
	sqlite3_bind_text(st, i, lo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, i + 1, hi, -1, SQLITE_STATIC);
}

int store_mailbox_delete(struct store *s, const char *name,
			 struct store_err *err)
{
	char norm[512], lo[520], hi[520];
	struct wmb mb;
	struct expunge_ctx c = {0};
	sqlite3_stmt *st;
	int rc;

	if (store_mailbox_name_norm(name, norm, sizeof(norm), err) < 0)
		return -1;
	if (strcmp(norm, "INBOX") == 0) {
		store_err_set(err, STORE_ERR_PERM, "cannot delete INBOX");
		return -1;
	}
	if (store_wtx_begin(s, err) < 0)
		return -1;
	if (wmb_get(s, 0, norm, &mb, err) < 0)
		goto fail;
	st = W("SELECT 1 FROM mailbox WHERE name >= ? AND name < ? LIMIT 1");
	if (!st) {
		run(s, st, err, "children");
		goto fail;
	}
	bind_inferiors(st, 1, norm, lo, hi, sizeof(lo));
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) {
		store_err_set(err, STORE_ERR_HASCHILDREN,
			      "mailbox has inferiors");
		goto fail;
	}
	if (rc != SQLITE_DONE) {
		store_err_sqlite(err, s->wr, rc, "children");
		goto fail;
	}
	c.filter = EXPUNGE_ALL;
	c.record = false;
	if (walk(s, mb.id, NULL, UINT32_MAX, expunge_one, &c, err) < 0)
		goto fail;
	st = W("DELETE FROM expunged WHERE mailbox_id = ?");
	if (st)
		sqlite3_bind_int64(st, 1, mb.id);
	if (run(s, st, err, "delete") < 0)
		goto fail;
	st = W("DELETE FROM mailbox WHERE id = ?");
	if (st)
		sqlite3_bind_int64(st, 1, mb.id);
	if (run(s, st, err, "delete") < 0)
		goto fail;
	return store_wtx_commit(s, err);
fail:
	store_wtx_rollback(s);
	return -1;
}

static int rename_one(struct store *s, const char *table, const char *from,
		      const char *to, struct store_err *err)
{
	static const char sql_mb[] = "UPDATE mailbox SET name = ? WHERE name = ?";
	static const char sql_sub[] =
		"UPDATE OR REPLACE subscription SET name = ? WHERE name = ?";
	sqlite3_stmt *st = W(table[0] == 'm' ? sql_mb : sql_sub);
	int rc;

	if (!st)
		return run(s, st, err, "rename");
	sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		store_err_set(err, STORE_ERR_EXISTS, "%s exists", to);
		return -1;
	}
	if (rc != SQLITE_DONE) {
		store_err_sqlite(err, s->wr, rc, "rename");
		return -1;
	}
	return 0;
}

/* Renames name and its inferiors in table ("mailbox" or "subscription"). */
static int rename_tree(struct store *s, const char *table, const char *from,
		       const char *to, struct store_err *err)
{
	static const char sql_mb[] =
		"SELECT name FROM mailbox WHERE name >= ? AND name < ?";
	static const char sql_sub[] =
		"SELECT name FROM subscription WHERE name >= ? AND name < ?";
	char lo[520], hi[520];
	struct buf names = BUF_INIT;
	sqlite3_stmt *st = W(table[0] == 'm' ? sql_mb : sql_sub);
	size_t fl = strlen(from);
	int rc = 0;

	if (!st)
		return run(s, st, err, "rename");
	bind_inferiors(st, 1, from, lo, hi, sizeof(lo));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		buf_append_str(&names, (const char *)sqlite3_column_text(st, 0));
		buf_append_c(&names, '\0');
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		store_err_sqlite(err, s->wr, rc, "rename");
		buf_release(&names);
		return -1;
	}
	rc = rename_one(s, table, from, to, err);
	for (size_t off = 0; rc == 0 && off < names.len;) {
		const char *old = names.data + off;
		char *nn = xasprintf("%s%s", to, old + fl);
		if (strlen(nn) >= 512) {
			store_err_set(err, STORE_ERR_INVALID,
				      "mailbox name too long");
			rc = -1;
		} else {
			rc = rename_one(s, table, old, nn, err);
		}
		free(nn);
		off += strlen(old) + 1;
	}
	buf_release(&names);
	return rc;
}

int store_mailbox_rename(struct store *s, const char *from, const char *to,
			 struct store_err *err)
{
	char nf[512], nt[512];
	struct wmb mb;
	bool ex;
	size_t fl;

	if (store_mailbox_name_norm(from, nf, sizeof(nf), err) < 0 ||
	    store_mailbox_name_norm(to, nt, sizeof(nt), err) < 0)
		return -1;
	if (strcmp(nf, "INBOX") == 0) {
		store_err_set(err, STORE_ERR_PERM,
			      "renaming INBOX moves its messages instead");
		return -1;
	}
	fl = strlen(nf);
	if (strncmp(nt, nf, fl) == 0 && (nt[fl] == STORE_SEP || nt[fl] == 0)) {
		store_err_set(err, STORE_ERR_INVALID,
			      "cannot rename a mailbox into itself");
		return -1;
	}
	if (store_wtx_begin(s, err) < 0)
		return -1;
	if (wmb_get(s, 0, nf, &mb, err) < 0 || name_exists(s, nt, &ex, err) < 0)
		goto fail;
	if (ex) {
		store_err_set(err, STORE_ERR_EXISTS, "mailbox exists");
		goto fail;
	}
	if (create_parents(s, nt, err) < 0 ||
	    rename_tree(s, "mailbox", nf, nt, err) < 0 ||
	    rename_tree(s, "subscription", nf, nt, err) < 0)
		goto fail;
	return store_wtx_commit(s, err);
fail:
	store_wtx_rollback(s);
	return -1;
}

int store_subscribe(struct store *s, const char *name, bool on,
		    struct store_err *err)
{
	char norm[512];
	sqlite3_stmt *st;

	if (store_mailbox_name_norm(name, norm, sizeof(norm), err) < 0)
		return -1;
	if (store_wtx_begin(s, err) < 0)
		return -1;
	st = on ? W("INSERT OR IGNORE INTO subscription(name) VALUES(?)")
		: W("DELETE FROM subscription WHERE name = ?");
	if (st)
		sqlite3_bind_text(st, 1, norm, -1, SQLITE_STATIC);
	if (run(s, st, err, "subscribe") < 0) {
		store_wtx_rollback(s);
		return -1;
	}
	return store_wtx_commit(s, err);
}

int store_claim_recent(struct store *s, int64_t mailbox_id,
		       uint32_t *first_recent_r, struct store_err *err)
{
	struct wmb mb;
	sqlite3_stmt *st;

	if (store_wtx_begin(s, err) < 0)
		return -1;
	if (wmb_get(s, mailbox_id, NULL, &mb, err) < 0)
		goto fail;
	if (mb.first_recent_uid != mb.uidnext) {
		st = W("UPDATE mailbox SET first_recent_uid = uidnext"
		       " WHERE id = ?");
		if (st)
			sqlite3_bind_int64(st, 1, mailbox_id);
		if (run(s, st, err, "recent") < 0)
			goto fail;
	}
	if (store_wtx_commit(s, err) < 0)
		return -1;
	if (first_recent_r)
		*first_recent_r = mb.first_recent_uid;
	return 0;
fail:
	store_wtx_rollback(s);
	return -1;
}

int store_mark_retrieved(struct store *s, int64_t mailbox_id,
			 const struct store_uidset *uids, int64_t t,
			 struct store_err *err)
{
	sqlite3_stmt *st;

	static const struct store_uid_range all = {1, UINT32_MAX};
	static const struct store_uidset set_all = {&all, 1};

	if (!uids)
		uids = &set_all;
	if (store_wtx_begin(s, err) < 0)
		return -1;
	for (size_t i = 0; i < uids->n; i++) {
		st = W("UPDATE message SET retrieved = ? WHERE mailbox_id = ?"
		       " AND uid >= ? AND uid <= ? AND retrieved = 0");
		if (st) {
			sqlite3_bind_int64(st, 1, t);
			sqlite3_bind_int64(st, 2, mailbox_id);
			sqlite3_bind_int64(st, 3, uids->r[i].lo);
			sqlite3_bind_int64(st, 4, uids->r[i].hi);
		}
		if (run(s, st, err, "retrieved") < 0) {
			store_wtx_rollback(s);
			return -1;
		}
	}
	return store_wtx_commit(s, err);
}

int store_blob_set(struct store *s, int64_t body_id, const char *name,
		   const void *data, size_t len, struct store_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (store_wtx_begin(s, err) < 0)
		return -1;
	st = W("SELECT 1 FROM body WHERE id = ?");
	if (!st) {
		run(s, st, err, "blob");
		goto fail;
	}
	sqlite3_bind_int64(st, 1, body_id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		store_err_set(err, STORE_ERR_NOTFOUND, "no such body");
		goto fail;
	}
	if (rc != SQLITE_ROW) {
		store_err_sqlite(err, s->wr, rc, "blob");
		goto fail;
	}
	if (blob_put(s, body_id, name, data, len, err) < 0)
		goto fail;
	return store_wtx_commit(s, err);
fail:
	store_wtx_rollback(s);
	return -1;
}

int store_blob_set_many(struct store *s, const int64_t *body_ids,
			const struct store_blob *blobs, size_t n,
			struct store_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (n == 0)
		return 0;
	if (store_wtx_begin(s, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		st = W("SELECT 1 FROM body WHERE id = ?");
		if (!st) {
			run(s, st, err, "blob");
			goto fail;
		}
		sqlite3_bind_int64(st, 1, body_ids[i]);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			continue; /* expunged meanwhile */
		if (rc != SQLITE_ROW) {
			store_err_sqlite(err, s->wr, rc, "blob");
			goto fail;
		}
		if (blob_put(s, body_ids[i], blobs[i].name, blobs[i].data,
			     blobs[i].len, err) < 0)
			goto fail;
	}
	return store_wtx_commit(s, err);
fail:
	store_wtx_rollback(s);
	return -1;
}

int store_meta_set(struct store *s, const char *key, const char *value,
		   struct store_err *err)
{
	sqlite3_stmt *st;

	if (store_wtx_begin(s, err) < 0)
		return -1;
	st = value ? W("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)")
		   : W("DELETE FROM meta WHERE key = ?");
	if (st) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		if (value)
			sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	}
	if (run(s, st, err, "meta") < 0) {
		store_wtx_rollback(s);
		return -1;
	}
	return store_wtx_commit(s, err);
}

int store_mailbox_set_uids(struct store *s, int64_t mailbox_id,
			   uint32_t uidvalidity, uint32_t uidnext,
			   struct store_err *err)
{
	struct wmb mb;
	sqlite3_stmt *st;

	if (uidvalidity == 0 || uidnext == 0) {
		store_err_set(err, STORE_ERR_INVALID, "zero UIDVALIDITY/UIDNEXT");
		return -1;
	}
	if (store_wtx_begin(s, err) < 0)
		return -1;
	if (wmb_get(s, mailbox_id, NULL, &mb, err) < 0)
		goto fail;
	if ((mb.messages != 0 && uidvalidity != mb.uidvalidity) ||
	    uidnext < mb.uidnext) {
		store_err_set(err, STORE_ERR_INVALID,
			      uidnext < mb.uidnext ? "UIDNEXT cannot go down"
						   : "mailbox not empty");
		goto fail;
	}
	st = W("UPDATE mailbox SET uidvalidity = ?, uidnext = ?,"
	       " first_recent_uid = max(first_recent_uid, ?) WHERE id = ?");
	if (st) {
		sqlite3_bind_int64(st, 1, uidvalidity);
		sqlite3_bind_int64(st, 2, uidnext);
		sqlite3_bind_int64(st, 3, uidnext);
		sqlite3_bind_int64(st, 4, mailbox_id);
	}
	if (run(s, st, err, "set uids") < 0)
		goto fail;
	return store_wtx_commit(s, err);
fail:
	store_wtx_rollback(s);
	return -1;
}
