/* changes.c - which mailboxes changed since a MODSEQ (see changes.h).
 * Reader connection, loop thread; the statement is reset before return. */
#include "changes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"
#include "xalloc.h"

static const char sql_changed[] =
	MB_COLS " WHERE m.highestmodseq > ? ORDER BY m.id";

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
		store_mailbox_row(st, &v[n++]);
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
