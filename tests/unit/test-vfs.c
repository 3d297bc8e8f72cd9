/* test-vfs.c - the store's VFS (storage/vfs.c): contiguous WAL writes and
 * reads in order reach the file in far fewer system calls, and nothing another connection or
 * process can see differs from SQLite's own unix VFS: commits are visible
 * at once and survive the process dying without a close (also under
 * synchronous=NORMAL, which syncs nothing at commit), a rolled-back
 * transaction that spilled frames into the WAL never lands over frames a
 * later writer put there, checkpoints keep every page, and what is read
 * ahead (a WAL in recovery and checkpoints, a body's pages in the
 * database file) is what is in the file for the reader's snapshot. */
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store-private.h"
#include "t.h"

static char tmpdir[] = "/tmp/tandem-test-vfs-XXXXXX";
static bool quiet; /* a failure is what the test expects: say nothing */

static sqlite3 *open_db(const char *name, const char *vfs, const char *sync)
{
	char path[256], sql[128];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) !=
	    SQLITE_OK) {
		fprintf(stderr, "open %s: %s\n", path, sqlite3_errmsg(db));
		exit(2);
	}
	sqlite3_busy_timeout(db, 10000);
	snprintf(sql, sizeof(sql),
		 "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
		 "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, b BLOB);",
		 sync);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "setup: %s\n", sqlite3_errmsg(db));
		exit(2);
	}
	return db;
}

static int exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		fprintf(stderr, "%s: %s (%d)\n", sql, sqlite3_errmsg(db),
			sqlite3_extended_errcode(db));
	return rc;
}

/* The bytes of row id: n bytes of a pattern of its own. */
static void fill(unsigned char *p, size_t n, int64_t id)
{
	uint32_t x = (uint32_t)id * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
}

/* Row id, n bytes of seed's pattern, inserted or replaced. */
static int put(sqlite3 *db, int64_t id, size_t n, int64_t seed)
{
	sqlite3_stmt *st;
	unsigned char *p = malloc(n);
	int rc;

	fill(p, n, seed);
	sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO t(id, b) VALUES (?, ?)",
			   -1, &st, NULL);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_blob(st, 2, p, (int)n, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	free(p);
	if (rc != SQLITE_DONE && !quiet)
		fprintf(stderr, "put %lld: %s\n", (long long)id,
			sqlite3_errmsg(db));
	return rc == SQLITE_DONE ? 0 : -1;
}

static int insert(sqlite3 *db, int64_t id, size_t n)
{
	return put(db, id, n, id);
}

/* 1 when row id is there with the n bytes of seed's pattern, 0 when
 * absent, -1 when its bytes differ. */
static int has_bytes(sqlite3 *db, int64_t id, size_t n, int64_t seed)
{
	sqlite3_stmt *st;
	int res = 0;

	sqlite3_prepare_v2(db, "SELECT b FROM t WHERE id = ?", -1, &st, NULL);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(st, 0);
		unsigned char *want = malloc(n);

		fill(want, n, seed);
		res = (size_t)sqlite3_column_bytes(st, 0) == n &&
				      memcmp(b, want, n) == 0
			      ? 1
			      : -1;
		free(want);
	}
	sqlite3_finalize(st);
	return res;
}

static int has_row(sqlite3 *db, int64_t id, size_t n)
{
	return has_bytes(db, id, n, id);
}

static int64_t count_rows(sqlite3 *db)
{
	sqlite3_stmt *st;
	int64_t n = -1;

	sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static bool integrity_ok(sqlite3 *db)
{
	sqlite3_stmt *st;
	bool ok = false;

	sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		ok = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
	sqlite3_finalize(st);
	return ok;
}

/* This process's read or write system calls so far (/proc/self/io's
 * syscr or syscw), -1 when the kernel does not say. */
static long long io_calls(const char *key)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128], fmt[32];
	long long n = -1;

	if (!f)
		return -1;
	snprintf(fmt, sizeof(fmt), "%s: %%lld", key);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, fmt, &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Waits for a forked child: did it exit 0? */
static bool child_ok(pid_t pid)
{
	int status;

	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

struct calls {
	long long commit_w, ckpt_r;
};

/* The write calls of one 1 MiB row committed, and the read calls of the
 * checkpoint that copies it into the database file. */
static struct calls big_commit_calls(const char *name, const char *vfs)
{
	sqlite3 *db = open_db(name, vfs, "FULL");
	struct calls c;
	long long w0 = io_calls("syscw"), w1, r1, r2;

	CHECK(exec(db, "PRAGMA wal_autocheckpoint=0") == SQLITE_OK);
	CHECK(insert(db, 1, 1 << 20) == 0);
	w1 = io_calls("syscw");
	r1 = io_calls("syscr");
	CHECK(exec(db, "PRAGMA wal_checkpoint(FULL)") == SQLITE_OK);
	r2 = io_calls("syscr");
	CHECK(has_row(db, 1, 1 << 20) == 1);
	sqlite3_close(db);
	c.commit_w = w1 - w0;
	c.ckpt_r = r2 - r1;
	return c;
}

static void test_fewer_calls(const char *wc)
{
	struct calls plain, comb;

	if (io_calls("syscw") < 0) {
		printf("# /proc/self/io: not here, system calls not counted\n");
		return;
	}
	plain = big_commit_calls("plain.db", "unix");
	comb = big_commit_calls("wc.db", wc);
	printf("# 1 MiB: commit %lld -> %lld writes, checkpoint %lld -> %lld "
	       "reads (unix VFS -> ours)\n",
	       plain.commit_w, comb.commit_w, plain.ckpt_r, comb.ckpt_r);
	/* 256 pages: a header and a page each into the WAL; the checkpoint
	 * reads each page from the WAL. Combined and read ahead, one call per
	 * 128 KiB or so. */
	CHECK(plain.commit_w > 500);
	CHECK(comb.commit_w > 0 && comb.commit_w < 20);
	CHECK(plain.ckpt_r > 250);
	CHECK(comb.ckpt_r > 0 && comb.ckpt_r < 25);
}

/* A store whose WAL no process has open: the first to open it reads every
 * frame to rebuild the wal-index (read ahead, in few calls), and finds
 * every commit, and nothing else. */
static void test_recovery(const char *wc)
{
	sqlite3 *db;
	pid_t pid;
	long long r0;

	pid = fork();
	if (pid == 0) {
		sqlite3 *c = open_db("recover.db", wc, "FULL");
		exec(c, "PRAGMA wal_autocheckpoint=0");
		for (int64_t id = 1; id <= 40; id++)
			if (insert(c, id, 50000) < 0)
				_exit(3);
		exec(c, "BEGIN");
		insert(c, 41, 50000); /* never committed */
		_exit(0);
	}
	CHECK(child_ok(pid));
	r0 = io_calls("syscr");
	db = open_db("recover.db", wc, "FULL");
	CHECK(count_rows(db) == 40);
	if (r0 >= 0) {
		long long reads = io_calls("syscr") - r0;
		printf("# recovery of a 40 x 50 KB WAL: %lld read calls\n",
		       reads);
		CHECK(reads < 60); /* some 530 frames */
	}
	for (int64_t id = 1; id <= 40; id++)
		CHECK(has_row(db, id, 50000) == 1);
	CHECK(has_row(db, 41, 50000) == 0);
	CHECK(integrity_ok(db));
	sqlite3_close(db);
}

/* A commit is visible to another connection, and to another process, as
 * soon as it returns; and survives the writer dying without a close. */
static void test_visible_and_durable(const char *wc, const char *sync)
{
	char name[32];
	sqlite3 *w, *r;
	pid_t pid;

	snprintf(name, sizeof(name), "vis-%s.db", sync);
	w = open_db(name, wc, sync);
	r = open_db(name, "unix", "FULL");
	for (int64_t id = 1; id <= 20; id++) {
		size_t n = (size_t)(id * 9973 % 300000) + 1;
		CHECK(insert(w, id, n) == 0);
		CHECK(has_row(r, id, n) == 1);
	}
	pid = fork();
	if (pid == 0) {
		sqlite3 *c = open_db(name, "unix", "FULL");
		int bad = 0;
		for (int64_t id = 1; id <= 20; id++)
			bad += has_row(c, id, (size_t)(id * 9973 % 300000) + 1) != 1;
		_exit(bad ? 1 : 0);
	}
	CHECK(child_ok(pid));

	/* A child commits through the shim and dies without closing:
	 * whatever it acknowledged must be in the files. */
	pid = fork();
	if (pid == 0) {
		sqlite3 *c = open_db(name, wc, sync);
		exec(c, "BEGIN");
		for (int64_t id = 100; id < 110; id++)
			insert(c, id, 70000);
		if (exec(c, "COMMIT") != SQLITE_OK)
			_exit(3);
		insert(c, 110, 200000); /* its own commit */
		_exit(0);
	}
	CHECK(child_ok(pid));
	for (int64_t id = 100; id < 110; id++)
		CHECK(has_row(r, id, 70000) == 1);
	CHECK(has_row(r, 110, 200000) == 1);
	CHECK(integrity_ok(r));
	sqlite3_close(w);
	sqlite3_close(r);
}

/* A transaction too big for its cache spills frames into the WAL before
 * it commits. Rolled back, those frames lie past the last commit, where
 * the next writer puts its own: the first connection must never write
 * its old frames there later. */
static void test_rollback_after_spill(const char *wc)
{
	sqlite3 *a = open_db("spill.db", wc, "FULL");
	sqlite3 *b = open_db("spill.db", wc, "FULL");
	sqlite3 *r = open_db("spill.db", "unix", "FULL");

	CHECK(exec(a, "PRAGMA cache_size=4") == SQLITE_OK);
	CHECK(insert(a, 1, 5000) == 0);
	/* Some 15 pages with 4 in the cache: frames spilled, all within
	 * one run of the shim. */
	CHECK(exec(a, "BEGIN") == SQLITE_OK);
	for (int64_t id = 10; id < 13; id++)
		CHECK(insert(a, id, 20000) == 0);
	CHECK(exec(a, "ROLLBACK") == SQLITE_OK);

	/* b writes where a's spilled frames were, and commits. */
	for (int64_t id = 50; id < 60; id++)
		CHECK(insert(b, id, 12000) == 0);
	/* a writes again (its old frames, had it kept them, would go out
	 * now, over b's), then everything is checked through a third. */
	CHECK(insert(a, 2, 5000) == 0);
	for (int64_t id = 50; id < 60; id++)
		CHECK(has_row(r, id, 12000) == 1);
	CHECK(has_row(r, 1, 5000) == 1);
	CHECK(has_row(r, 2, 5000) == 1);
	CHECK(has_row(r, 10, 20000) == 0);
	CHECK(count_rows(r) == 12);
	CHECK(integrity_ok(r));
	CHECK(exec(b, "PRAGMA wal_checkpoint(TRUNCATE)") == SQLITE_OK);
	CHECK(count_rows(r) == 12);
	CHECK(has_row(r, 55, 12000) == 1);
	CHECK(integrity_ok(r));
	sqlite3_close(a);
	sqlite3_close(b);
	sqlite3_close(r);
}

/* A connection's read-ahead of the WAL must not outlive its snapshot: once
 * another writer starts the WAL over, the same offsets hold other frames.
 * a's checkpoint reads the WAL ahead up to its end; b starts it over with
 * a big row then a small one, whose table page lands somewhere in what a
 * read ahead (the sizes walk it across that range); a then reads both. */
static void test_read_ahead_not_stale(const char *wc)
{
	for (int k = 0; k < 16; k++) {
		char name[32];
		size_t big = 800000 + (size_t)k * 20000;
		sqlite3 *a, *b;

		snprintf(name, sizeof(name), "stale-%d.db", k);
		a = open_db(name, wc, "FULL");
		b = open_db(name, wc, "FULL");
		CHECK(exec(a, "PRAGMA wal_autocheckpoint=0") == SQLITE_OK);
		CHECK(exec(b, "PRAGMA wal_autocheckpoint=0") == SQLITE_OK);
		CHECK(insert(a, 1, 1 << 20) == 0);
		CHECK(exec(a, "PRAGMA wal_checkpoint(FULL)") == SQLITE_OK);
		CHECK(insert(b, 2, big) == 0);
		CHECK(insert(b, 3, 100) == 0);
		CHECK(has_row(a, 3, 100) == 1);
		CHECK(has_row(a, 2, big) == 1);
		CHECK(count_rows(a) == 3);
		sqlite3_close(a);
		sqlite3_close(b);
	}
}

/* The reader reads a body's pages from the database file ahead, in few
 * calls; and what it read ahead does not outlive its snapshot: a body
 * rewritten and checkpointed into the same file pages is read anew. */
static void test_reader(const char *wc, const char *ra)
{
	sqlite3 *w = open_db("reader.db", wc, "FULL");
	sqlite3 *r = open_db("reader.db", ra, "FULL");
	long long r0;

	CHECK(insert(w, 1, 1 << 20) == 0);
	CHECK(exec(w, "PRAGMA wal_checkpoint(TRUNCATE)") == SQLITE_OK);
	r0 = io_calls("syscr");
	CHECK(has_row(r, 1, 1 << 20) == 1);
	if (r0 >= 0) {
		long long reads = io_calls("syscr") - r0;
		printf("# reader, 1 MiB from the database file: %lld read "
		       "calls\n", reads);
		CHECK(reads < 30); /* 256 pages */
	}
	for (int64_t seed = 2; seed < 6; seed++) {
		/* same size: the new pages go where the old ones were */
		CHECK(put(w, 1, 1 << 20, seed) == 0);
		CHECK(exec(w, "PRAGMA wal_checkpoint(TRUNCATE)") == SQLITE_OK);
		CHECK(has_bytes(r, 1, 1 << 20, seed) == 1);
	}
	CHECK(integrity_ok(r));
	sqlite3_close(w);
	sqlite3_close(r);
}

/* A transaction bigger than its cache spills frames into the WAL, some
 * still in the writer's run, and reads them back before it commits: a
 * read ahead must never hold the old bytes where the run goes. */
static void test_spill_read_back(const char *wc)
{
	sqlite3 *a = open_db("spillread.db", wc, "FULL");
	sqlite3 *r = open_db("spillread.db", "unix", "FULL");

	CHECK(exec(a, "PRAGMA cache_size=4") == SQLITE_OK);
	for (int round = 0; round < 3; round++) {
		CHECK(exec(a, "BEGIN") == SQLITE_OK);
		for (int64_t id = 1; id <= 8; id++) {
			size_t n = (size_t)(id * 37000) + (size_t)round * 5000;
			CHECK(put(a, id, n, id + 100 * round) == 0);
			for (int64_t j = 1; j <= id; j++)
				CHECK(has_bytes(a, j, (size_t)(j * 37000) +
							 (size_t)round * 5000,
						j + 100 * round) == 1);
		}
		CHECK(exec(a, "COMMIT") == SQLITE_OK);
	}
	for (int64_t id = 1; id <= 8; id++)
		CHECK(has_bytes(r, id, (size_t)(id * 37000) + 10000, id + 200) ==
		      1);
	CHECK(integrity_ok(r));
	sqlite3_close(a);
	sqlite3_close(r);
}

/* Writes that fail (here: past RLIMIT_FSIZE) fail the commit or the
 * checkpoint that made them, and nothing of them lands later: after the
 * limit is lifted, every commit that succeeded is there and the store is
 * whole. Run in a child, which owns the limit. */
static int write_errors_child(const char *wc)
{
	sqlite3 *a = open_db("errors.db", wc, "FULL");
	struct rlimit rl, low;
	struct stat st;
	char path[256];
	int bad = 0;

	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &rl);
	exec(a, "PRAGMA wal_autocheckpoint=0");
	for (int64_t id = 1; id <= 5; id++)
		bad += insert(a, id, 10000) != 0;
	/* the WAL may not grow by 500 KB: the commit fails */
	snprintf(path, sizeof(path), "%s/errors.db-wal", tmpdir);
	stat(path, &st);
	low = rl;
	low.rlim_cur = (rlim_t)st.st_size + 50000;
	setrlimit(RLIMIT_FSIZE, &low);
	quiet = true;
	bad += insert(a, 6, 500000) == 0;
	quiet = false;
	setrlimit(RLIMIT_FSIZE, &rl);
	bad += insert(a, 7, 20000) != 0;
	/* the database file may not grow: the checkpoint fails */
	snprintf(path, sizeof(path), "%s/errors.db", tmpdir);
	stat(path, &st);
	low.rlim_cur = (rlim_t)st.st_size + 4096;
	setrlimit(RLIMIT_FSIZE, &low);
	/* (its failure is what the parent checks for: nothing lost, nothing
	 * torn) */
	sqlite3_exec(a, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	setrlimit(RLIMIT_FSIZE, &rl);
	bad += insert(a, 8, 30000) != 0;
	bad += exec(a, "PRAGMA wal_checkpoint(TRUNCATE)") != SQLITE_OK;
	sqlite3_close(a);
	return bad;
}

static void test_write_errors(const char *wc)
{
	pid_t pid = fork();
	sqlite3 *r;

	if (pid == 0)
		_exit(write_errors_child(wc) ? 1 : 0);
	CHECK(child_ok(pid));
	r = open_db("errors.db", "unix", "FULL");
	for (int64_t id = 1; id <= 5; id++)
		CHECK(has_row(r, id, 10000) == 1);
	CHECK(has_row(r, 6, 500000) == 0);
	CHECK(has_row(r, 7, 20000) == 1);
	CHECK(has_row(r, 8, 30000) == 1);
	CHECK(count_rows(r) == 7);
	CHECK(integrity_ok(r));
	sqlite3_close(r);
}

/* Many commits of mixed sizes, updates and deletes, checkpoints in
 * between: every page the checkpoints copy (reading the WAL ahead) is
 * right. */
static void test_checkpoints(const char *wc)
{
	sqlite3 *w = open_db("ckpt.db", wc, "FULL");
	sqlite3 *r;
	int64_t live = 0;

	CHECK(exec(w, "PRAGMA wal_autocheckpoint=50") == SQLITE_OK);
	for (int64_t id = 1; id <= 300; id++) {
		CHECK(insert(w, id, (size_t)(id * 7919 % 90000) + 1) == 0);
		if (id % 3 == 0) {
			char sql[64];
			snprintf(sql, sizeof(sql), "DELETE FROM t WHERE id = %lld",
				 (long long)(id - 1));
			CHECK(exec(w, sql) == SQLITE_OK);
		}
		if (id % 97 == 0)
			CHECK(exec(w, "PRAGMA wal_checkpoint(RESTART)") ==
			      SQLITE_OK);
	}
	sqlite3_close(w);
	r = open_db("ckpt.db", "unix", "FULL");
	for (int64_t id = 1; id <= 300; id++) {
		bool deleted = id % 3 == 2;
		int want = deleted ? 0 : 1;
		CHECK(has_row(r, id, (size_t)(id * 7919 % 90000) + 1) == want);
		live += !deleted;
	}
	CHECK(count_rows(r) == live);
	CHECK(integrity_ok(r));
	sqlite3_close(r);
}

int main(void)
{
	const char *wc, *ra;
	char cmd[128];

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	wc = store_vfs_name(true);
	ra = store_vfs_name(false);
	CHECK(wc != NULL);
	if (wc) {
		test_fewer_calls(wc);
		test_recovery(wc);
		test_visible_and_durable(wc, "FULL");
		test_visible_and_durable(wc, "NORMAL");
		test_rollback_after_spill(wc);
		test_spill_read_back(wc);
		test_write_errors(wc);
		test_checkpoints(wc);
		test_read_ahead_not_stale(wc);
		test_reader(wc, ra);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return t_done();
}
