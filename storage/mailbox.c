/* mailbox.c - mailbox and subscription reads (reader connection, loop
 * thread). Iterators load their rows at begin: no statement stays active
 * between calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"
#include "xalloc.h"

#define R(sql) store_stmt(s->rd, &s->rd_cache, (sql))


static const char sql_by_name[] = MB_COLS " WHERE m.name = ?";
static const char sql_by_id[] = MB_COLS " WHERE m.id = ?";
static const char sql_all[] = MB_COLS " ORDER BY m.name";

void store_mailbox_row(sqlite3_stmt *st, struct store_mailbox *mb)
{
	const char *t;

	memset(mb, 0, sizeof(*mb));
	mb->id = sqlite3_column_int64(st, 0);
	t = (const char *)sqlite3_column_text(st, 1);
	snprintf(mb->name, sizeof(mb->name), "%s", t ? t : "");
	t = (const char *)sqlite3_column_text(st, 2);
	snprintf(mb->mailboxid, sizeof(mb->mailboxid), "%s", t ? t : "");
	mb->uidvalidity = (uint32_t)sqlite3_column_int64(st, 3);
	mb->uidnext = (uint32_t)sqlite3_column_int64(st, 4);
	mb->highestmodseq = (uint64_t)sqlite3_column_int64(st, 5);
	mb->messages = (uint32_t)sqlite3_column_int64(st, 6);
	mb->unseen = (uint32_t)sqlite3_column_int64(st, 7);
	mb->deleted = (uint32_t)sqlite3_column_int64(st, 8);
	mb->first_recent_uid = (uint32_t)sqlite3_column_int64(st, 9);
	mb->size = (uint64_t)sqlite3_column_int64(st, 10);
	mb->special_use = (unsigned)sqlite3_column_int64(st, 11);
	mb->subscribed = sqlite3_column_int(st, 12) != 0;
	mb->recent = (uint32_t)sqlite3_column_int64(st, 13);
}

/* Steps st (bound, or NULL: its prepare failed) for one mailbox row and
 * hands it to fill. Returns 0, or -1 (NOTFOUND when there is none). */
static int mb_one(struct store *s, sqlite3_stmt *st,
		  void (*fill)(sqlite3_stmt *, void *), void *arg,
		  struct store_err *err)
{
	int rc;

	if (!st) {
		store_err_sqlite(err, s->rd, sqlite3_errcode(s->rd), "mailbox");
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		fill(st, arg);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		store_err_set(err, STORE_ERR_NOTFOUND, "no such mailbox");
	else
		store_err_sqlite(err, s->rd, rc, "mailbox");
	return -1;
}

static void fill_mailbox(sqlite3_stmt *st, void *mb)
{
	store_mailbox_row(st, mb);
}

static int mb_get(struct store *s, sqlite3_stmt *st,
		  struct store_mailbox *mb_r, struct store_err *err)
{
	return mb_one(s, st, fill_mailbox, mb_r, err);
}

int store_mailbox_get(struct store *s, const char *name,
		      struct store_mailbox *mb_r, struct store_err *err)
{
	char norm[512];
	sqlite3_stmt *st;

	if (store_mailbox_name_norm(name, norm, sizeof(norm), err) < 0) {
		if (err)
			err->code = STORE_ERR_NOTFOUND;
		return -1;
	}
	st = R(sql_by_name);
	if (st)
		sqlite3_bind_text(st, 1, norm, -1, SQLITE_STATIC);
	return mb_get(s, st, mb_r, err);
}

int store_mailbox_get_by_id(struct store *s, int64_t id,
			    struct store_mailbox *mb_r, struct store_err *err)
{
	sqlite3_stmt *st = R(sql_by_id);

	if (st)
		sqlite3_bind_int64(st, 1, id);
	return mb_get(s, st, mb_r, err);
}

struct mb_state {
	uint32_t *uidvalidity, *uidnext;
	uint64_t *highestmodseq;
};

static void fill_state(sqlite3_stmt *st, void *arg)
{
	struct mb_state *ms = arg;

	*ms->uidvalidity = (uint32_t)sqlite3_column_int64(st, 0);
	*ms->uidnext = (uint32_t)sqlite3_column_int64(st, 1);
	*ms->highestmodseq = (uint64_t)sqlite3_column_int64(st, 2);
}

int store_mailbox_state(struct store *s, int64_t id, uint32_t *uidvalidity_r,
			uint32_t *uidnext_r, uint64_t *highestmodseq_r,
			struct store_err *err)
{
	struct mb_state ms = {uidvalidity_r, uidnext_r, highestmodseq_r};
	sqlite3_stmt *st = R("SELECT uidvalidity, uidnext, highestmodseq"
			     " FROM mailbox WHERE id = ?");

	if (st)
		sqlite3_bind_int64(st, 1, id);
	return mb_one(s, st, fill_state, &ms, err);
}

struct store_mailbox_iter {
	struct store_mailbox *mb;
	size_t n, cap, pos;
	struct store_err err;
};

struct store_mailbox_iter *store_mailbox_iter_begin(struct store *s)
{
	struct store_mailbox_iter *it = xcalloc(1, sizeof(*it));
	sqlite3_stmt *st = R(sql_all);
	int rc;

	if (!st) {
		store_err_sqlite(&it->err, s->rd, sqlite3_errcode(s->rd),
				 "mailboxes");
		return it;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (it->n == it->cap) {
			it->cap = it->cap ? it->cap * 2 : 16;
			it->mb = xrealloc(it->mb, it->cap * sizeof(*it->mb));
		}
		store_mailbox_row(st, &it->mb[it->n++]);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		store_err_sqlite(&it->err, s->rd, rc, "mailboxes");
	return it;
}

bool store_mailbox_iter_next(struct store_mailbox_iter *it,
			     struct store_mailbox *mb_r)
{
	if (it->err.code != STORE_OK || it->pos >= it->n)
		return false;
	*mb_r = it->mb[it->pos++];
	return true;
}

int store_mailbox_iter_end(struct store_mailbox_iter **itp,
			   struct store_err *err)
{
	struct store_mailbox_iter *it = *itp;
	int rc = 0;

	if (!it)
		return 0;
	*itp = NULL;
	if (it->err.code != STORE_OK) {
		if (err)
			*err = it->err;
		rc = -1;
	}
	free(it->mb);
	free(it);
	return rc;
}

struct store_sub_iter {
	struct buf names;
	size_t pos;
};

struct store_sub_iter *store_subscription_iter_begin(struct store *s)
{
	struct store_sub_iter *it = xcalloc(1, sizeof(*it));
	sqlite3_stmt *st = R("SELECT name FROM subscription ORDER BY name");

	if (!st)
		return it;
	while (sqlite3_step(st) == SQLITE_ROW) {
		buf_append_str(&it->names,
			       (const char *)sqlite3_column_text(st, 0));
		buf_append_c(&it->names, '\0');
	}
	sqlite3_reset(st);
	return it;
}

const char *store_subscription_iter_next(struct store_sub_iter *it)
{
	const char *p;

	if (it->pos >= it->names.len)
		return NULL;
	p = it->names.data + it->pos;
	it->pos += strlen(p) + 1;
	return p;
}

void store_subscription_iter_end(struct store_sub_iter **itp)
{
	struct store_sub_iter *it = *itp;

	if (!it)
		return;
	*itp = NULL;
	buf_release(&it->names);
	free(it);
}
