/* changes.c - which mailboxes changed since a MODSEQ (see changes.h).
 * Reader connection, loop thread; the statement is reset before return. */
#include "changes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"
#include "xalloc.h"

/* The same columns as mailbox.c's rows, so the struct is filled alike. */
static const char sql_changed[] =
	"SELECT m.id, m.name, m.mailboxid, m.uidvalidity, m.uidnext,"
	" m.highestmodseq, m.messages, m.unseen, m.deleted,"
	" m.first_recent_uid, m.size, m.special_use,"
	" EXISTS(SELECT 1 FROM subscription s WHERE s.name = m.name),"
	" (SELECT count(*) FROM message x WHERE x.mailbox_id = m.id"
	"  AND x.uid >= m.first_recent_uid)"
	" FROM mailbox m WHERE m.highestmodseq > ? ORDER BY m.id";

static void row(sqlite3_stmt *st, struct store_mailbox *mb)
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

int store_mailboxes_changed(struct store *s, uint64_t since,
			    struct store_mailbox **v_r, size_t *n_r,
			    struct store_err *err)
{
	sqlite3_stmt *st = store_stmt(s->rd, &s->rd_cache, sql_changed);
	struct store_mailbox *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*v_r = NULL;
	*n_r = 0;
	if (!st) {
		store_err_sqlite(err, s->rd, sqlite3_errcode(s->rd),
				 "changed mailboxes");
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		row(st, &v[n++]);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		store_err_sqlite(err, s->rd, rc, "changed mailboxes");
		free(v);
		return -1;
	}
	*v_r = v;
	*n_r = n;
	return 0;
}
