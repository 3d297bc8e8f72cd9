/* check.c - store_check: every invariant the writer maintains, checked
 * in one read transaction on the writer connection. Each check is one
 * query whose rows are the problem lines of the report. */
#include <stdio.h>
#include <string.h>

#include "store-private.h"

static const char *const checks[] = {
	/* counters kept by every write transaction */
	"SELECT printf('mailbox %s: counters messages=%d unseen=%d deleted=%d"
	" size=%d but rows say %d/%d/%d/%d', m.name, m.messages, m.unseen,"
	" m.deleted, m.size, c.n, c.unseen, c.deleted, c.size)"
	" FROM mailbox m JOIN (SELECT m2.id AS id, count(x.uid) AS n,"
	"  coalesce(sum((x.flags & 1) = 0), 0) AS unseen,"
	"  coalesce(sum((x.flags & 8) != 0), 0) AS deleted,"
	"  coalesce(sum(x.size), 0) AS size"
	"  FROM mailbox m2 LEFT JOIN message x ON x.mailbox_id = m2.id"
	"  GROUP BY m2.id) c ON c.id = m.id"
	" WHERE m.messages != c.n OR m.unseen != c.unseen"
	" OR m.deleted != c.deleted OR m.size != c.size",
	/* UIDs are below UIDNEXT */
	"SELECT printf('mailbox %s: uid %d >= uidnext %d', m.name, x.uid,"
	" m.uidnext) FROM message x JOIN mailbox m ON m.id = x.mailbox_id"
	" WHERE x.uid >= m.uidnext OR x.uid < 1",
	"SELECT printf('mailbox %s: expunged uid %d >= uidnext %d', m.name,"
	" e.uid, m.uidnext) FROM expunged e JOIN mailbox m"
	" ON m.id = e.mailbox_id WHERE e.uid >= m.uidnext",
	"SELECT printf('mailbox %s: uid %d is both present and expunged',"
	" m.name, x.uid) FROM message x JOIN expunged e"
	" ON e.mailbox_id = x.mailbox_id AND e.uid = x.uid"
	" JOIN mailbox m ON m.id = x.mailbox_id",
	/* MODSEQs */
	"SELECT printf('mailbox %s: uid %d modseq %d > highestmodseq %d',"
	" m.name, x.uid, x.modseq, m.highestmodseq) FROM message x"
	" JOIN mailbox m ON m.id = x.mailbox_id"
	" WHERE x.modseq > m.highestmodseq",
	"SELECT printf('mailbox %s: expunge modseq %d > highestmodseq %d',"
	" m.name, e.modseq, m.highestmodseq) FROM expunged e"
	" JOIN mailbox m ON m.id = e.mailbox_id"
	" WHERE e.modseq > m.highestmodseq",
	"SELECT printf('mailbox %s: highestmodseq %d > store modseq %d',"
	" m.name, m.highestmodseq, c.modseq) FROM mailbox m, counters c"
	" WHERE m.highestmodseq > c.modseq",
	"SELECT 'counters row missing' WHERE (SELECT count(*) FROM counters)"
	" != 1",
	/* rows that point nowhere */
	"SELECT printf('message %d/%d: no such mailbox', x.mailbox_id, x.uid)"
	" FROM message x LEFT JOIN mailbox m ON m.id = x.mailbox_id"
	" WHERE m.id IS NULL",
	"SELECT printf('mailbox %s: uid %d: body %d missing', m.name, x.uid,"
	" x.body_id) FROM message x JOIN mailbox m ON m.id = x.mailbox_id"
	" LEFT JOIN body b ON b.id = x.body_id WHERE b.id IS NULL",
	"SELECT printf('mailbox %s: uid %d: size %d but body has %d', m.name,"
	" x.uid, x.size, b.size) FROM message x"
	" JOIN mailbox m ON m.id = x.mailbox_id"
	" JOIN body b ON b.id = x.body_id WHERE b.size != x.size",
	/* reference counts */
	"SELECT printf('body %d: refcount %d but %d messages', b.id,"
	" b.refcount, (SELECT count(*) FROM message x WHERE x.body_id = b.id))"
	" FROM body b WHERE b.refcount !="
	" (SELECT count(*) FROM message x WHERE x.body_id = b.id)"
	" OR b.refcount < 1",
	/* chunks complete */
	"SELECT printf('body %d: %d chunks, %d bytes, last seq %d for size %d',"
	" b.id, count(c.seq), coalesce(sum(length(c.data)), 0),"
	" coalesce(max(c.seq), -1), b.size) FROM body b"
	" LEFT JOIN body_chunk c ON c.body_id = b.id GROUP BY b.id"
	" HAVING count(c.seq) != (b.size + 65535) / 65536"
	" OR coalesce(sum(length(c.data)), 0) != b.size"
	" OR coalesce(max(c.seq), -1) != count(c.seq) - 1",
	"SELECT printf('body %d: chunk %d has %d bytes', c.body_id, c.seq,"
	" length(c.data)) FROM body_chunk c JOIN body b ON b.id = c.body_id"
	" WHERE length(c.data) != min(65536, b.size - c.seq * 65536)",
	"SELECT printf('body %d: chunks without body', c.body_id)"
	" FROM body_chunk c LEFT JOIN body b ON b.id = c.body_id"
	" WHERE b.id IS NULL GROUP BY c.body_id",
	"SELECT printf('body %d: blobs without body', x.body_id)"
	" FROM blob x LEFT JOIN body b ON b.id = x.body_id"
	" WHERE b.id IS NULL GROUP BY x.body_id",
	"SELECT printf('mailbox %s: first recent uid %d > uidnext %d', name,"
	" first_recent_uid, uidnext) FROM mailbox"
	" WHERE first_recent_uid > uidnext",
};

static int run_check(sqlite3 *db, const char *sql, struct buf *report,
		     int *problems, struct store_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		store_err_sqlite(err, db, rc, "check");
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		if (line && strcmp(line, "ok") == 0)
			continue; /* integrity_check */
		buf_append_str(report, line ? line : "(null)");
		buf_append_c(report, '\n');
		(*problems)++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_err_sqlite(err, db, rc, "check");
		return -1;
	}
	return 0;
}

int store_check(struct store *s, struct buf *report, struct store_err *err)
{
	int problems = 0, rc = 0;

	pthread_mutex_lock(&s->wmu);
	if (sqlite3_exec(s->wr, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		store_err_sqlite(err, s->wr, sqlite3_errcode(s->wr), "check");
		pthread_mutex_unlock(&s->wmu);
		return -1;
	}
	rc = run_check(s->wr, "PRAGMA integrity_check", report, &problems,
		       err);
	for (size_t i = 0; rc == 0 && i < sizeof(checks) / sizeof(checks[0]);
	     i++)
		rc = run_check(s->wr, checks[i], report, &problems, err);
	sqlite3_exec(s->wr, "COMMIT", NULL, NULL, NULL);
	pthread_mutex_unlock(&s->wmu);
	if (rc < 0)
		return -1;
	if (problems) {
		store_err_set(err, STORE_ERR_CORRUPT, "%d problem%s found",
			      problems, problems == 1 ? "" : "s");
		return -1;
	}
	return 0;
}
