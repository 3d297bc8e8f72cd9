/* body.c - message bytes, blobs and meta reads (reader connection, loop
 * thread). A peek is one primary-key lookup of one 64 KiB chunk, copied
 * into the handle, so memory per open body is one chunk and no statement
 * stays active between calls. store_body_read() copies any number of
 * chunks straight into the caller's buffer (incremental blob reads), in
 * one read transaction per call. A body of one chunk (most mail) is read
 * by the same statement that opens it: one read transaction per message
 * instead of two.
 *
 * While a big body is read with store_body_read() the reader maps the
 * database (mmap_size): SQLite then copies overflow pages from the
 * mapping instead of one pread per 4 KiB page, which took a third off the
 * CPU of a 50 MB RETR. Mapped page cache counts in the daemon's RSS and
 * PSS, so the mapping is dropped and made again after every MMAP_WINDOW
 * bytes read and when the last such body closes: an idle store maps
 * nothing, a streaming one at most about a window. */
#include <stdlib.h>
#include <string.h>

#include "store-private.h"
#include "xalloc.h"

#define R(sql) store_stmt(s->rd, &s->rd_cache, (sql))

/* Bodies from this size on read through the mapping; below it the few
 * preads cost less than mapping and unmapping. */
#define MMAP_MIN_BODY (1024 * 1024)
#define MMAP_SIZE "1073741824"
#define MMAP_WINDOW (8 * 1024 * 1024)

struct store_body {
	struct store *s;
	int64_t id;
	uint64_t size;
	int64_t seq;      /* chunk held in buf, -1: none */
	size_t len;       /* its length */
	char *buf;        /* the chunk, allocated on first read */
	size_t cap;       /* size of buf: STORE_CHUNK_SIZE, or len of a
			   * first chunk read at open */
	bool mapped;      /* counted in s->rd_mapped */
};

/* Counts b in the store's mapped bodies; the first one turns the mapping
 * on. A failure only costs speed. */
static void map_begin(struct store_body *b)
{
	struct store *s = b->s;

	if (b->mapped || b->size < MMAP_MIN_BODY)
		return;
	b->mapped = true;
	if (s->rd_mapped++ == 0)
		sqlite3_exec(s->rd, "PRAGMA mmap_size=" MMAP_SIZE, NULL, NULL,
			     NULL);
}

static void map_end(struct store_body *b)
{
	struct store *s = b->s;

	if (!b->mapped)
		return;
	b->mapped = false;
	if (--s->rd_mapped == 0) {
		sqlite3_exec(s->rd, "PRAGMA mmap_size=0", NULL, NULL, NULL);
		s->rd_map_read = 0;
	}
}

/* n more bytes were read through the mapping: past a window, unmap what
 * was touched (SQLite maps again on the next read). No page is held
 * between statements, so SQLite does not refuse. */
static void map_account(struct store_body *b, size_t n)
{
	struct store *s = b->s;

	if (!b->mapped)
		return;
	s->rd_map_read += n;
	if (s->rd_map_read < MMAP_WINDOW)
		return;
	s->rd_map_read = 0;
	sqlite3_exec(s->rd, "PRAGMA mmap_size=0", NULL, NULL, NULL);
	sqlite3_exec(s->rd, "PRAGMA mmap_size=" MMAP_SIZE, NULL, NULL, NULL);
}

int store_body_open(struct store *s, int64_t body_id, struct store_body **b_r,
		    struct store_err *err)
{
	sqlite3_stmt *st = R("SELECT b.size, c.data FROM body b"
			     " LEFT JOIN body_chunk c ON c.body_id = b.id"
			     " AND c.seq = 0 AND b.size <= ?2"
			     " WHERE b.id = ?1");
	struct store_body *b;
	int rc;
	uint64_t size = 0;
	const void *data = NULL;
	int n = 0;

	*b_r = NULL;
	if (!st) {
		store_err_sqlite(err, s->rd, sqlite3_errcode(s->rd), "body");
		return -1;
	}
	sqlite3_bind_int64(st, 1, body_id);
	sqlite3_bind_int64(st, 2, STORE_CHUNK_SIZE);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		size = (uint64_t)sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 1) == SQLITE_BLOB) {
			data = sqlite3_column_blob(st, 1);
			n = sqlite3_column_bytes(st, 1);
		}
	}
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		store_err_set(err, STORE_ERR_EXPUNGED, "message expunged");
		return -1;
	}
	if (rc != SQLITE_ROW) {
		store_err_sqlite(err, s->rd, rc, "body");
		sqlite3_reset(st);
		return -1;
	}
	b = xcalloc(1, sizeof(*b));
	b->s = s;
	b->id = body_id;
	b->size = size;
	b->seq = -1;
	if (data != NULL && n > 0 && n <= STORE_CHUNK_SIZE) {
		/* The whole body came with its size. */
		b->buf = xmalloc((size_t)n);
		memcpy(b->buf, data, (size_t)n);
		b->len = (size_t)n;
		b->seq = 0;
	}
	sqlite3_reset(st);
	*b_r = b;
	return 0;
}

uint64_t store_body_size(const struct store_body *b)
{
	return b->size;
}

static int load_chunk(struct store_body *b, int64_t seq, struct store_err *err)
{
	struct store *s = b->s;
	sqlite3_stmt *st = R("SELECT data FROM body_chunk"
			     " WHERE body_id = ? AND seq = ?");
	int rc;
	int n;

	if (!st) {
		store_err_sqlite(err, s->rd, sqlite3_errcode(s->rd), "chunk");
		return -1;
	}
	if (!b->buf || b->cap < STORE_CHUNK_SIZE) {
		/* The first chunk may have come sized to fit (open). */
		free(b->buf);
		b->buf = xmalloc(STORE_CHUNK_SIZE);
		b->cap = STORE_CHUNK_SIZE;
	}
	sqlite3_bind_int64(st, 1, b->id);
	sqlite3_bind_int64(st, 2, seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		n = sqlite3_column_bytes(st, 0);
		if (n > STORE_CHUNK_SIZE)
			n = STORE_CHUNK_SIZE;
		if (n > 0)
			memcpy(b->buf, sqlite3_column_blob(st, 0), (size_t)n);
		b->len = (size_t)n;
		b->seq = seq;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	b->seq = -1;
	if (rc == SQLITE_DONE)
		store_err_set(err, STORE_ERR_EXPUNGED, "message expunged");
	else
		store_err_sqlite(err, s->rd, rc, "chunk");
	return -1;
}

ssize_t store_body_peek(struct store_body *b, uint64_t offset,
			const char **p_r, struct store_err *err)
{
	int64_t seq;
	size_t in;

	*p_r = NULL;
	if (offset >= b->size)
		return 0;
	seq = (int64_t)(offset / STORE_CHUNK_SIZE);
	in = (size_t)(offset % STORE_CHUNK_SIZE);
	if (b->seq != seq && load_chunk(b, seq, err) < 0)
		return -1;
	if (in >= b->len) {
		store_err_set(err, STORE_ERR_CORRUPT, "short body chunk");
		return -1;
	}
	*p_r = b->buf + in;
	return (ssize_t)(b->len - in);
}

/* Copies the chunks covering [offset, offset + len) straight from the
 * database into dst: one index scan finds their rowids, and an incremental
 * blob handle reads each one (SQLite reads overflow pages directly into
 * the destination, so no chunk is copied twice). The scan statement stays
 * active until the end, so the rowids and the blob reads belong to one
 * read transaction: a chunk expunged meanwhile cannot be replaced by
 * another message's under the same rowid. Returns the bytes read, or -1
 * when none could be. */
static ssize_t read_direct(struct store_body *b, uint64_t offset, char *dst,
			   size_t len, struct store_err *err)
{
	struct store *s = b->s;
	sqlite3_stmt *st = R("SELECT seq, rowid FROM body_chunk"
			     " WHERE body_id = ?1 AND seq >= ?2 AND seq <= ?3"
			     " ORDER BY seq");
	int64_t seq = (int64_t)(offset / STORE_CHUNK_SIZE);
	sqlite3_blob *bl = NULL;
	size_t done = 0;
	int rc = SQLITE_OK;

	if (!st) {
		store_err_sqlite(err, s->rd, sqlite3_errcode(s->rd), "chunk");
		return -1;
	}
	sqlite3_bind_int64(st, 1, b->id);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int64(st, 3,
			   (int64_t)((offset + len - 1) / STORE_CHUNK_SIZE));
	while (done < len && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t in = (size_t)((offset + done) % STORE_CHUNK_SIZE);
		sqlite3_int64 rowid = sqlite3_column_int64(st, 1);
		size_t n, take;

		if (sqlite3_column_int64(st, 0) != seq) {
			rc = SQLITE_CORRUPT;
			break;
		}
		rc = bl ? sqlite3_blob_reopen(bl, rowid)
			: sqlite3_blob_open(s->rd, "main", "body_chunk", "data",
					    rowid, 0, &bl);
		if (rc != SQLITE_OK)
			break;
		n = (size_t)sqlite3_blob_bytes(bl);
		if (n > STORE_CHUNK_SIZE || in >= n ||
		    (n < STORE_CHUNK_SIZE &&
		     offset + done + (n - in) < b->size)) {
			rc = SQLITE_CORRUPT;
			break;
		}
		take = n - in < len - done ? n - in : len - done;
		rc = sqlite3_blob_read(bl, dst + done, (int)take, (int)in);
		if (rc != SQLITE_OK)
			break;
		done += take;
		seq++;
	}
	sqlite3_blob_close(bl);
	sqlite3_reset(st);
	if (done == len)
		return (ssize_t)done;
	if (rc == SQLITE_DONE)
		store_err_set(err, STORE_ERR_EXPUNGED, "message expunged");
	else if (rc == SQLITE_CORRUPT)
		store_err_set(err, STORE_ERR_CORRUPT, "short body chunk");
	else
		store_err_sqlite(err, s->rd, rc, "chunk");
	return done ? (ssize_t)done : -1;
}

ssize_t store_body_read(struct store_body *b, uint64_t offset, void *dst,
			size_t len, struct store_err *err)
{
	ssize_t n;

	if (offset >= b->size || len == 0)
		return 0;
	if (len > b->size - offset)
		len = (size_t)(b->size - offset);
	if (b->seq == 0 && b->size <= b->len) {
		/* A one-chunk body came with store_body_open. */
		memcpy(dst, b->buf + offset, len);
		return (ssize_t)len;
	}
	map_begin(b);
	n = read_direct(b, offset, dst, len, err);
	if (n > 0)
		map_account(b, (size_t)n);
	return n;
}

void store_body_close(struct store_body **bp)
{
	struct store_body *b = *bp;

	if (!b)
		return;
	*bp = NULL;
	map_end(b);
	free(b->buf);
	free(b);
}

static int get_value(struct store *s, sqlite3_stmt *st, struct buf *out,
		     struct store_err *err, const char *what)
{
	int rc;

	if (!st) {
		store_err_sqlite(err, s->rd, sqlite3_errcode(s->rd), what);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		buf_reset(out);
		buf_append(out, sqlite3_column_blob(st, 0),
			   (size_t)sqlite3_column_bytes(st, 0));
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		store_err_set(err, STORE_ERR_NOTFOUND, "no %s", what);
	else
		store_err_sqlite(err, s->rd, rc, what);
	return -1;
}

int store_blob_get(struct store *s, int64_t body_id, const char *name,
		   struct buf *out, struct store_err *err)
{
	sqlite3_stmt *st = R("SELECT data FROM blob WHERE body_id = ?"
			     " AND name = ?");

	if (st) {
		sqlite3_bind_int64(st, 1, body_id);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	}
	return get_value(s, st, out, err, "blob");
}

int store_meta_get(struct store *s, const char *key, struct buf *out,
		   struct store_err *err)
{
	sqlite3_stmt *st = R("SELECT value FROM meta WHERE key = ?");

	if (st)
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	return get_value(s, st, out, err, "meta");
}
