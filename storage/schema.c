/* schema.c - the store's tables and their migrations.
 *
 * PRAGMA user_version holds the schema version. Each migration runs in
 * the same BEGIN IMMEDIATE transaction as the version bump, so a store is
 * always at one version or the next, never between; two processes opening
 * a new store at once serialize on the write lock and the second finds
 * the work done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store-private.h"
#include "xalloc.h"

/* Version 1. Notes:
 *  - counters holds the store-wide MODSEQ and the last UIDVALIDITY given
 *    out, so a recreated mailbox never gets the UIDVALIDITY of the one it
 *    replaces, even within the same second.
 *  - mailbox keeps uidnext (never MAX(uid)+1: UIDs are never reused) and
 *    counters updated in every write transaction, so STATUS and SELECT
 *    read one row.
 *  - message is WITHOUT ROWID keyed by (mailbox_id, uid): a UID range is
 *    one b-tree range. The (mailbox_id, modseq) index answers
 *    CHANGEDSINCE.
 *  - mailbox and body ids are AUTOINCREMENT: never reused, so a stale
 *    mailbox id held by a session cannot name a new mailbox, and EMAILID
 *    (derived from the body id) never names different bytes.
 *  - body_chunk is a rowid table (64 KiB rows do not suit WITHOUT ROWID);
 *    its primary key index finds a chunk in one lookup.
 *  - expunged keeps the expunge history (QRESYNC); expunge_horizon in
 *    mailbox is the lowest modseq from which that history is complete.
 */
static const char schema_v1[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
	"CREATE TABLE counters(id INTEGER PRIMARY KEY CHECK (id = 1),"
	" modseq INTEGER NOT NULL, last_uidvalidity INTEGER NOT NULL);"
	"INSERT INTO counters VALUES(1, 1, 0);"
	"CREATE TABLE mailbox(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,"
	" mailboxid TEXT NOT NULL, uidvalidity INTEGER NOT NULL,"
	" uidnext INTEGER NOT NULL, highestmodseq INTEGER NOT NULL,"
	" first_recent_uid INTEGER NOT NULL, messages INTEGER NOT NULL,"
	" unseen INTEGER NOT NULL, deleted INTEGER NOT NULL,"
	" size INTEGER NOT NULL, special_use INTEGER NOT NULL,"
	" expunge_horizon INTEGER NOT NULL);"
	"CREATE TABLE subscription(name TEXT PRIMARY KEY) WITHOUT ROWID;"
	"CREATE TABLE body(id INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL,"
	" refcount INTEGER NOT NULL);"
	"CREATE TABLE body_chunk(body_id INTEGER NOT NULL,"
	" seq INTEGER NOT NULL, data BLOB NOT NULL,"
	" PRIMARY KEY(body_id, seq));"
	"CREATE TABLE blob(body_id INTEGER NOT NULL, name TEXT NOT NULL,"
	" data BLOB NOT NULL, PRIMARY KEY(body_id, name));"
	"CREATE TABLE message(mailbox_id INTEGER NOT NULL,"
	" uid INTEGER NOT NULL, body_id INTEGER NOT NULL,"
	" flags INTEGER NOT NULL, keywords TEXT NOT NULL,"
	" modseq INTEGER NOT NULL, internaldate INTEGER NOT NULL,"
	" tzoff INTEGER NOT NULL, savedate INTEGER NOT NULL,"
	" size INTEGER NOT NULL, retrieved INTEGER NOT NULL,"
	" legacy_uidl TEXT,"
	" PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX message_modseq ON message(mailbox_id, modseq);"
	"CREATE INDEX message_body ON message(body_id);"
	"CREATE TABLE expunged(mailbox_id INTEGER NOT NULL,"
	" uid INTEGER NOT NULL, modseq INTEGER NOT NULL,"
	" t INTEGER NOT NULL, PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);";

/* Defaults every new store gets (RFC 6154 special-use). */
static const struct {
	const char *name;
	unsigned su;
} default_mailboxes[] = {
	{"INBOX", 0},
	{"Drafts", STORE_SU_DRAFTS},
	{"Sent", STORE_SU_SENT},
	{"Trash", STORE_SU_TRASH},
	{"Junk", STORE_SU_JUNK},
	{"Archive", STORE_SU_ARCHIVE},
};

static int exec(sqlite3 *db, const char *sql, struct store_err *err)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		store_err_sqlite(err, db, rc, "schema");
		return -1;
	}
	return 0;
}

static int user_version(sqlite3 *db, int *v_r, struct store_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*v_r = 0;
	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*v_r = sqlite3_column_int(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		store_err_sqlite(err, db, rc, "user_version");
		return -1;
	}
	return 0;
}

static int migrate_1(struct store *s, struct store_err *err)
{
	if (exec(s->wr, schema_v1, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(default_mailboxes); i++) {
		if (store_mailbox_insert(s, default_mailboxes[i].name,
					 default_mailboxes[i].su, err) < 0)
			return -1;
	}
	return exec(s->wr, "INSERT INTO subscription VALUES('INBOX')", err);
}

static int (*const migrations[])(struct store *, struct store_err *) = {
	migrate_1,
};

int store_schema_migrate(struct store *s, struct store_err *err)
{
	int v;
	char sql[64];

	if (user_version(s->wr, &v, err) < 0)
		return -1;
	if (v == STORE_SCHEMA_VERSION)
		return 0;
	if (store_wtx_begin(s, err) < 0)
		return -1;
	if (user_version(s->wr, &v, err) < 0)
		goto fail;
	if (v > STORE_SCHEMA_VERSION) {
		store_err_set(err, STORE_ERR_CORRUPT,
			      "store schema %d is newer than this program (%d)",
			      v, STORE_SCHEMA_VERSION);
		goto fail;
	}
	for (; v < STORE_SCHEMA_VERSION; v++) {
		if (migrations[v](s, err) < 0)
			goto fail;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d",
		 STORE_SCHEMA_VERSION);
	if (exec(s->wr, sql, err) < 0)
		goto fail;
	return store_wtx_commit(s, err);
fail:
	store_wtx_rollback(s);
	return -1;
}
