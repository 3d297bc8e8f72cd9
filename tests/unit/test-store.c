/* test-store.c - the store on real temporary SQLite files: every public
 * function of storage/store.h. */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>
#include <time.h>
#include <uv.h>

#include "buf.h"
#include "store.h"
#include "t.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/tandem-test-store-XXXXXX";

static struct store_spool *spool_of(const void *p, size_t n)
{
	struct store_spool *sp = store_spool_new();
	struct store_err err;

	CHECK(store_spool_write(sp, p, n, &err) == 0);
	return sp;
}

static uint32_t append(struct store *s, const char *mailbox, const void *p,
		       size_t n, uint32_t flags, const char *kw)
{
	struct store_append_req rq = {0};
	struct store_append_res res = {0};
	struct store_err err;
	int rc;

	rq.mailbox = mailbox;
	rq.spool = spool_of(p, n);
	rq.flags = flags;
	rq.keywords = kw;
	rc = store_append(s, &rq, 1, &res, &err);
	if (rc < 0)
		fprintf(stderr, "append: %s\n", err.msg);
	CHECK(rc == 0);
	store_spool_free(&rq.spool);
	return rc == 0 ? res.uid : 0;
}

static void read_body(struct store *s, int64_t body_id, struct buf *out)
{
	struct store_body *b;
	struct store_err err;
	char tmp[7000];
	uint64_t off = 0;
	ssize_t n;

	buf_reset(out);
	CHECK(store_body_open(s, body_id, &b, &err) == 0);
	if (!b)
		return;
	/* odd slice size: reads cross chunk boundaries */
	while ((n = store_body_read(b, off, tmp, sizeof(tmp), &err)) > 0) {
		buf_append(out, tmp, (size_t)n);
		off += (uint64_t)n;
	}
	CHECK(n == 0);
	CHECK(off == store_body_size(b));
	store_body_close(&b);
	CHECK(b == NULL);
}

static void check_clean(struct store *s)
{
	struct buf rep = BUF_INIT;
	struct store_err err;
	int rc = store_check(s, &rep, &err);

	if (rc != 0)
		fprintf(stderr, "store_check: %s\n%s", err.msg,
			rep.data ? rep.data : "");
	CHECK(rc == 0);
	buf_release(&rep);
}

static void test_names(void)
{
	CHECK(store_user_name_valid("alice"));
	CHECK(store_user_name_valid("a.b-c_d+e@example.org"));
	CHECK(!store_user_name_valid(""));
	CHECK(!store_user_name_valid(".alice"));
	CHECK(!store_user_name_valid("a/b"));
	CHECK(!store_user_name_valid("a b"));
	CHECK(!store_user_name_valid(
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	CHECK(!store_user_name_valid(NULL));
}

static void test_open(void)
{
	struct store *s, *s2;
	struct store_err err;
	struct store_mailbox mb;
	struct stat st;
	char *path;

	CHECK(store_open("nobody", false, &s, &err) == -1);
	CHECK(err.code == STORE_ERR_NOTFOUND);
	CHECK(s == NULL);
	CHECK(store_open("../x", true, &s, &err) == -1);
	CHECK(err.code == STORE_ERR_INVALID);

	CHECK(store_open("alice", true, &s, &err) == 0);
	CHECK_STR(store_user(s), "alice");
	path = xasprintf("%s/mail/alice", tmpdir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700);
	free(path);
	CHECK(store_open("alice", false, &s2, &err) == 0);
	CHECK(s2 == s); /* shared per process */
	store_unref(&s2);
	CHECK(s2 == NULL);
	CHECK(store_ref(s) == s);
	store_unref(&s);
	store_unref(&s);

	/* reopen: still there, default mailboxes with special-use */
	CHECK(store_open("alice", false, &s, &err) == 0);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	CHECK_STR(mb.name, "INBOX");
	CHECK(mb.uidnext == 1 && mb.messages == 0 && mb.uidvalidity > 0);
	CHECK(mb.subscribed);
	CHECK(mb.mailboxid[0] != '\0');
	CHECK(store_mailbox_get(s, "inbox", &mb, &err) == 0);
	CHECK_STR(mb.name, "INBOX");
	CHECK(store_mailbox_get(s, "Sent", &mb, &err) == 0);
	CHECK(mb.special_use == STORE_SU_SENT);
	CHECK(store_mailbox_get(s, "Trash", &mb, &err) == 0 &&
	      mb.special_use == STORE_SU_TRASH);
	CHECK(store_mailbox_get(s, "Nope", &mb, &err) == -1 &&
	      err.code == STORE_ERR_NOTFOUND);
	store_release_memory(s);
	check_clean(s);
	store_unref(&s);
}

static void test_mailboxes(void)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox mb, mb2;
	struct store_mailbox_iter *it;
	struct store_sub_iter *si;
	const char *names[16];
	size_t n = 0;
	const char *sub;
	uint32_t uv1;
	char mbid[40];

	CHECK(store_open("bob", true, &s, &err) == 0);
	CHECK(store_mailbox_create(s, "Work/2024/Q1", 0, &err) == 0);
	CHECK(store_mailbox_get(s, "Work", &mb, &err) == 0);
	CHECK(store_mailbox_get(s, "Work/2024", &mb, &err) == 0);
	CHECK(store_mailbox_create(s, "Work", 0, &err) == -1 &&
	      err.code == STORE_ERR_EXISTS);
	CHECK(store_mailbox_create(s, "/bad", 0, &err) == -1 &&
	      err.code == STORE_ERR_INVALID);
	CHECK(store_mailbox_create(s, "bad//x", 0, &err) == -1 &&
	      err.code == STORE_ERR_INVALID);
	CHECK(store_mailbox_create(s, "bad\r", 0, &err) == -1 &&
	      err.code == STORE_ERR_INVALID);
	CHECK(store_mailbox_create(s, "inbox", 0, &err) == -1 &&
	      err.code == STORE_ERR_EXISTS);
	CHECK(store_mailbox_create(s, "Caf\xc3\xa9", STORE_SU_FLAGGED, &err) ==
	      0);

	it = store_mailbox_iter_begin(s);
	while (n < 16 && store_mailbox_iter_next(it, &mb))
		names[n++] = xstrdup(mb.name);
	CHECK(store_mailbox_iter_end(&it, &err) == 0);
	CHECK(it == NULL);
	CHECK(n == 10);
	if (n == 10) {
		CHECK_STR(names[0], "Archive");
		CHECK_STR(names[1], "Caf\xc3\xa9");
		CHECK_STR(names[3], "INBOX");
		CHECK_STR(names[6], "Trash");
		CHECK_STR(names[7], "Work");
		CHECK_STR(names[9], "Work/2024/Q1");
	}
	for (size_t i = 0; i < n; i++)
		free((char *)names[i]);

	/* delete */
	CHECK(store_mailbox_delete(s, "INBOX", &err) == -1 &&
	      err.code == STORE_ERR_PERM);
	CHECK(store_mailbox_delete(s, "Work", &err) == -1 &&
	      err.code == STORE_ERR_HASCHILDREN);
	CHECK(store_mailbox_delete(s, "Nope", &err) == -1 &&
	      err.code == STORE_ERR_NOTFOUND);
	CHECK(store_mailbox_get(s, "Work/2024/Q1", &mb, &err) == 0);
	uv1 = mb.uidvalidity;
	append(s, "Work/2024/Q1", "x\r\n", 3, 0, NULL);
	CHECK(store_mailbox_delete(s, "Work/2024/Q1", &err) == 0);
	CHECK(store_mailbox_get(s, "Work/2024/Q1", &mb, &err) == -1);
	/* recreated: a new UIDVALIDITY, even in the same second */
	CHECK(store_mailbox_create(s, "Work/2024/Q1", 0, &err) == 0);
	CHECK(store_mailbox_get(s, "Work/2024/Q1", &mb, &err) == 0);
	CHECK(mb.uidvalidity != uv1);
	CHECK(mb.uidnext == 1 && mb.messages == 0);

	/* rename keeps UIDVALIDITY and MAILBOXID, moves inferiors */
	CHECK(store_subscribe(s, "Work/2024", true, &err) == 0);
	CHECK(store_mailbox_get(s, "Work", &mb, &err) == 0);
	snprintf(mbid, sizeof(mbid), "%s", mb.mailboxid);
	CHECK(store_mailbox_rename(s, "Work", "Old/Job", &err) == 0);
	CHECK(store_mailbox_get(s, "Work", &mb2, &err) == -1);
	CHECK(store_mailbox_get(s, "Old", &mb2, &err) == 0);
	CHECK(store_mailbox_get(s, "Old/Job", &mb2, &err) == 0);
	CHECK(mb2.uidvalidity == mb.uidvalidity);
	CHECK_STR(mb2.mailboxid, mbid);
	CHECK(store_mailbox_get(s, "Old/Job/2024/Q1", &mb2, &err) == 0);
	CHECK(store_mailbox_get(s, "Old/Job/2024", &mb2, &err) == 0 &&
	      mb2.subscribed);
	CHECK(store_mailbox_rename(s, "INBOX", "X", &err) == -1 &&
	      err.code == STORE_ERR_PERM);
	CHECK(store_mailbox_rename(s, "Old", "Old/Job/x", &err) == -1 &&
	      err.code == STORE_ERR_INVALID);
	CHECK(store_mailbox_rename(s, "Old/Job", "Sent", &err) == -1 &&
	      err.code == STORE_ERR_EXISTS);
	CHECK(store_mailbox_rename(s, "Nope", "Nope2", &err) == -1 &&
	      err.code == STORE_ERR_NOTFOUND);

	/* subscriptions may name missing mailboxes */
	CHECK(store_subscribe(s, "Ghost", true, &err) == 0);
	CHECK(store_subscribe(s, "Ghost", true, &err) == 0);
	CHECK(store_mailbox_get(s, "Ghost", &mb, &err) == -1);
	si = store_subscription_iter_begin(s);
	n = 0;
	bool ghost = false, inbox = false;
	while ((sub = store_subscription_iter_next(si))) {
		n++;
		ghost |= strcmp(sub, "Ghost") == 0;
		inbox |= strcmp(sub, "INBOX") == 0;
	}
	store_subscription_iter_end(&si);
	CHECK(si == NULL);
	CHECK(n == 3 && ghost && inbox);
	CHECK(store_subscribe(s, "Ghost", false, &err) == 0);
	si = store_subscription_iter_begin(s);
	n = 0;
	while (store_subscription_iter_next(si))
		n++;
	store_subscription_iter_end(&si);
	CHECK(n == 2);

	check_clean(s);
	store_unref(&s);
}

static void test_append_read(void)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox mb;
	struct store_msg m;
	struct buf out = BUF_INIT;
	struct store_append_req rq[2] = {{0}};
	struct store_append_res res[2];
	static const char weird[] = "No\0final\nnewline \xff\xfe bare\rLF\n\n.";
	size_t big_n = 3 * STORE_CHUNK_SIZE + 17;
	char *big = xmalloc(big_n);
	uint32_t u1, u2, u3;
	uint64_t hms;
	struct store_blob blobs[1] = {{"bodystructure", "(\"text\")", 9}};

	for (size_t i = 0; i < big_n; i++)
		big[i] = (char)(i * 7 + i / 13);
	CHECK(store_open("carol", true, &s, &err) == 0);
	u1 = append(s, "INBOX", weird, sizeof(weird) - 1, 0, NULL);
	u2 = append(s, "inbox", big, big_n, STORE_F_SEEN, "$Junk b a b");
	CHECK(u1 == 1 && u2 == 2);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	CHECK(mb.messages == 2 && mb.unseen == 1 && mb.uidnext == 3);
	CHECK(mb.size == sizeof(weird) - 1 + big_n);
	CHECK(mb.recent == 2 && mb.first_recent_uid == 1);
	hms = mb.highestmodseq;

	CHECK(store_msg_get(s, mb.id, u1, &m, &err) == 0);
	CHECK(m.size == sizeof(weird) - 1 && m.flags == 0);
	CHECK_STR(m.keywords, "");
	CHECK(m.legacy_uidl == NULL);
	CHECK(m.modseq <= hms && m.internaldate > 0 && m.savedate > 0);
	CHECK(m.emailid[0] && m.threadid[0]);
	read_body(s, m.body_id, &out);
	CHECK(out.len == sizeof(weird) - 1 &&
	      memcmp(out.data, weird, out.len) == 0);

	CHECK(store_msg_get(s, mb.id, u2, &m, &err) == 0);
	CHECK_STR(m.keywords, "$Junk a b");
	CHECK(m.flags == STORE_F_SEEN);
	CHECK(m.modseq == hms);
	read_body(s, m.body_id, &out);
	CHECK(out.len == big_n && memcmp(out.data, big, big_n) == 0);

	/* peek: one chunk at most, borrowing */
	{
		struct store_body *b;
		const char *p;
		CHECK(store_body_open(s, m.body_id, &b, &err) == 0);
		CHECK(store_body_peek(b, 10, &p, &err) ==
		      STORE_CHUNK_SIZE - 10);
		CHECK(memcmp(p, big + 10, 100) == 0);
		CHECK(store_body_peek(b, 3 * STORE_CHUNK_SIZE, &p, &err) == 17);
		CHECK(memcmp(p, big + 3 * STORE_CHUNK_SIZE, 17) == 0);
		CHECK(store_body_peek(b, big_n, &p, &err) == 0);
		store_body_close(&b);
	}
	CHECK(store_msg_get(s, mb.id, 99, &m, &err) == -1 &&
	      err.code == STORE_ERR_NOTFOUND);

	/* an empty message and a multi-append with blobs */
	u3 = append(s, "INBOX", "", 0, 0, NULL);
	CHECK(u3 == 3);
	CHECK(store_msg_get(s, mb.id, u3, &m, &err) == 0 && m.size == 0);
	read_body(s, m.body_id, &out);
	CHECK(out.len == 0);

	rq[0].mailbox_id = mb.id;
	rq[0].spool = spool_of("a\r\n", 3);
	rq[0].blobs = blobs;
	rq[0].nblobs = 1;
	rq[0].internaldate = 1000000000;
	rq[0].tzoff = -300;
	rq[0].legacy_uidl = "abc123";
	rq[1].mailbox = "Sent";
	rq[1].spool = spool_of("b\r\n", 3);
	rq[1].flags = STORE_F_DRAFT | STORE_F_DELETED;
	CHECK(store_append(s, rq, 2, res, &err) == 0);
	CHECK(res[0].uid == 4 && res[0].mailbox_id == mb.id);
	CHECK(res[0].uidvalidity == mb.uidvalidity);
	CHECK(res[1].uid == 1 && res[0].modseq == res[1].modseq);
	CHECK(res[0].modseq > hms);
	CHECK(store_msg_get(s, mb.id, 4, &m, &err) == 0);
	CHECK(m.internaldate == 1000000000 && m.tzoff == -300);
	CHECK_STR(m.legacy_uidl, "abc123");
	CHECK(store_blob_get(s, m.body_id, "bodystructure", &out, &err) == 0);
	CHECK(out.len == 9 && memcmp(out.data, "(\"text\")", 9) == 0);
	CHECK(store_blob_get(s, m.body_id, "envelope", &out, &err) == -1 &&
	      err.code == STORE_ERR_NOTFOUND);
	CHECK(store_blob_set(s, m.body_id, "envelope", "E", 1, &err) == 0);
	CHECK(store_blob_get(s, m.body_id, "envelope", &out, &err) == 0 &&
	      out.len == 1);
	CHECK(store_blob_set(s, 999999, "x", "E", 1, &err) == -1 &&
	      err.code == STORE_ERR_NOTFOUND);
	store_spool_free(&rq[0].spool);
	store_spool_free(&rq[1].spool);
	CHECK(store_mailbox_get(s, "Sent", &mb, &err) == 0);
	CHECK(mb.messages == 1 && mb.deleted == 1 && mb.unseen == 1);

	/* all or nothing: the second request names a missing mailbox */
	rq[0].spool = spool_of("c\r\n", 3);
	rq[0].mailbox = "INBOX";
	rq[0].mailbox_id = 0;
	rq[0].blobs = NULL;
	rq[0].nblobs = 0;
	rq[1].spool = spool_of("d\r\n", 3);
	rq[1].mailbox = "Missing";
	CHECK(store_append(s, rq, 2, res, &err) == -1 &&
	      err.code == STORE_ERR_NOTFOUND);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	CHECK(mb.messages == 4 && mb.uidnext == 5);
	/* import: a wanted UID */
	rq[0].uid = 2;
	CHECK(store_append(s, rq, 1, res, &err) == -1 &&
	      err.code == STORE_ERR_INVALID);
	rq[0].uid = 100;
	CHECK(store_append(s, rq, 1, res, &err) == 0 && res[0].uid == 100);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0 &&
	      mb.uidnext == 101);
	store_spool_free(&rq[0].spool);
	store_spool_free(&rq[1].spool);

	check_clean(s);
	buf_release(&out);
	free(big);
	store_unref(&s);
}

/* A 100 MB message goes through a file spool and comes back unchanged. */
static void test_huge(void)
{
	struct store *s;
	struct store_err err;
	struct store_spool *sp = store_spool_new();
	struct store_append_req rq = {0};
	struct store_append_res res;
	struct store_msg m;
	struct store_body *b;
	struct store_mailbox mb;
	const size_t total = 100u * 1024 * 1024;
	char *blk = xmalloc(1 << 20), *rd = xmalloc(1 << 20);
	bool same = true;

	for (size_t i = 0; i < (1u << 20); i++)
		blk[i] = (char)(i % 251);
	for (size_t off = 0; off < total; off += 1 << 20) {
		blk[0] = (char)(off >> 20);
		CHECK(store_spool_write(sp, blk, 1 << 20, &err) == 0);
	}
	CHECK(store_spool_size(sp) == total);
	CHECK(store_spool_read(sp, 5 << 20, rd, 10, &err) == 10 &&
	      rd[0] == 5 && rd[1] == 1);
	CHECK(store_open("huge", true, &s, &err) == 0);
	rq.mailbox = "INBOX";
	rq.spool = sp;
	CHECK(store_append(s, &rq, 1, &res, &err) == 0);
	store_spool_free(&sp);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	CHECK(store_msg_get(s, mb.id, res.uid, &m, &err) == 0);
	CHECK(m.size == total);
	CHECK(store_body_open(s, m.body_id, &b, &err) == 0);
	for (size_t off = 0; off < total && same; off += 1 << 20) {
		blk[0] = (char)(off >> 20);
		same = store_body_read(b, off, rd, 1 << 20, &err) == 1 << 20 &&
		       memcmp(rd, blk, 1 << 20) == 0;
	}
	CHECK(same);
	store_body_close(&b);
	check_clean(s);
	store_unref(&s);
	CHECK(store_remove_user("huge", &err) == 0);
	free(blk);
	free(rd);
}

static void test_iter(void)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox mb;
	struct store_msg m;
	struct store_msg_iter *it;
	uint32_t expect = 1, n = 0;
	bool ok = true;
	uint64_t ms = 0;

	CHECK(store_open("dave", true, &s, &err) == 0);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	/* more than one iterator batch */
	for (int i = 0; i < 600; i++) {
		struct store_append_req rq = {.mailbox_id = mb.id};
		char msg[64];
		int len = snprintf(msg, sizeof(msg), "Subject: %d\r\n\r\n", i);
		rq.spool = spool_of(msg, (size_t)len);
		rq.keywords = (i % 2) ? "odd" : NULL;
		CHECK(store_append(s, &rq, 1, NULL, &err) == 0);
		store_spool_free(&rq.spool);
	}
	it = store_msg_iter_begin(s, mb.id, 1, UINT32_MAX, 0);
	while (store_msg_iter_next(it, &m)) {
		ok &= m.uid == expect++;
		ok &= strcmp(m.keywords, (m.uid % 2) ? "" : "odd") == 0;
		n++;
		ms = m.modseq;
	}
	CHECK(store_msg_iter_end(&it, &err) == 0);
	CHECK(ok && n == 600);

	it = store_msg_iter_begin(s, mb.id, 250, 260, 0);
	n = 0;
	while (store_msg_iter_next(it, &m))
		n++;
	CHECK(store_msg_iter_end(&it, &err) == 0 && n == 11);

	/* changedsince */
	struct store_uid_range r[] = {{5, 5}, {300, 301}};
	struct store_uidset set = {r, 3 > 2 ? 2 : 0};
	CHECK(store_set_flags(s, mb.id, &set, STORE_FLAGS_ADD, STORE_F_FLAGGED,
			      NULL, 0, NULL, NULL, &err) == 0);
	it = store_msg_iter_begin(s, mb.id, 1, UINT32_MAX, ms);
	n = 0;
	ok = true;
	while (store_msg_iter_next(it, &m)) {
		ok &= m.uid == 5 || m.uid == 300 || m.uid == 301;
		ok &= m.flags == STORE_F_FLAGGED && m.modseq > ms;
		n++;
	}
	CHECK(store_msg_iter_end(&it, &err) == 0 && ok && n == 3);
	CHECK(store_msg_get(s, mb.id, 6, &m, &err) == 0 && m.modseq <= ms);
	check_clean(s);
	store_unref(&s);
}

static void test_flags(void)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox mb;
	struct store_msg m;
	struct store_uid_range all = {1, UINT32_MAX}, one = {2, 2};
	struct store_uidset set_all = {&all, 1}, set_one = {&one, 1};
	uint32_t *failed;
	size_t nfailed;
	uint64_t m1, m2;

	CHECK(store_open("erin", true, &s, &err) == 0);
	for (int i = 0; i < 3; i++)
		append(s, "INBOX", "m\r\n", 3, 0, NULL);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	CHECK(mb.unseen == 3);
	CHECK(store_set_flags(s, mb.id, &set_all, STORE_FLAGS_ADD,
			      STORE_F_SEEN, "Foo $Label1 Foo", 0, NULL, NULL,
			      &err) == 0);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	CHECK(mb.unseen == 0);
	CHECK(store_msg_get(s, mb.id, 2, &m, &err) == 0);
	CHECK(m.flags == STORE_F_SEEN);
	CHECK_STR(m.keywords, "$Label1 Foo");
	m1 = m.modseq;
	CHECK(mb.highestmodseq == m1);

	/* no real change: modseq stays */
	CHECK(store_set_flags(s, mb.id, &set_all, STORE_FLAGS_ADD,
			      STORE_F_SEEN, "Foo", 0, NULL, NULL, &err) == 0);
	CHECK(store_msg_get(s, mb.id, 2, &m, &err) == 0 && m.modseq == m1);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0 &&
	      mb.highestmodseq == m1);

	/* exact matching: foo is not Foo */
	CHECK(store_set_flags(s, mb.id, &set_one, STORE_FLAGS_REMOVE, 0,
			      "foo", 0, NULL, NULL, &err) == 0);
	CHECK(store_msg_get(s, mb.id, 2, &m, &err) == 0 && m.modseq == m1);
	CHECK(store_set_flags(s, mb.id, &set_one, STORE_FLAGS_REMOVE,
			      STORE_F_SEEN, "Foo", 0, NULL, NULL, &err) == 0);
	CHECK(store_msg_get(s, mb.id, 2, &m, &err) == 0);
	CHECK(m.flags == 0 && m.modseq > m1);
	CHECK_STR(m.keywords, "$Label1");
	m2 = m.modseq;
	CHECK(store_msg_get(s, mb.id, 1, &m, &err) == 0 && m.modseq == m1);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	CHECK(mb.unseen == 1 && mb.highestmodseq == m2);
	{
		uint32_t uv = 0, un = 0;
		uint64_t hm = 0;
		CHECK(store_mailbox_state(s, mb.id, &uv, &un, &hm, &err) == 0);
		CHECK(uv == mb.uidvalidity && un == mb.uidnext &&
		      hm == mb.highestmodseq && un == 4);
		CHECK(store_mailbox_state(s, 424242, &uv, &un, &hm, &err) ==
			      -1 &&
		      err.code == STORE_ERR_NOTFOUND);
	}

	/* replace */
	CHECK(store_set_flags(s, mb.id, &set_one, STORE_FLAGS_REPLACE,
			      STORE_F_DELETED | STORE_F_ANSWERED, "z y", 0,
			      NULL, NULL, &err) == 0);
	CHECK(store_msg_get(s, mb.id, 2, &m, &err) == 0);
	CHECK(m.flags == (STORE_F_DELETED | STORE_F_ANSWERED));
	CHECK_STR(m.keywords, "y z");
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0 &&
	      mb.deleted == 1);

	/* UNCHANGEDSINCE: 1 and 3 are at m1, 2 is newer */
	CHECK(store_set_flags(s, mb.id, &set_all, STORE_FLAGS_ADD,
			      STORE_F_FLAGGED, NULL, m1, &failed, &nfailed,
			      &err) == 0);
	CHECK(nfailed == 1 && failed && failed[0] == 2);
	free(failed);
	CHECK(store_msg_get(s, mb.id, 1, &m, &err) == 0 &&
	      (m.flags & STORE_F_FLAGGED));
	CHECK(store_msg_get(s, mb.id, 2, &m, &err) == 0 &&
	      !(m.flags & STORE_F_FLAGGED));
	CHECK(store_set_flags(s, 424242, &set_all, STORE_FLAGS_ADD,
			      STORE_F_FLAGGED, NULL, 0, NULL, NULL,
			      &err) == -1 &&
	      err.code == STORE_ERR_NOTFOUND);
	check_clean(s);
	store_unref(&s);
}

static void *append_thread(void *arg)
{
	append(arg, "INBOX", "w\r\n", 3, 0, NULL);
	return NULL;
}

static uint32_t inbox_messages(struct store *s)
{
	struct store_mailbox mb;
	struct store_err err;

	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	return mb.messages;
}

/* store_read_begin/end: batches nest (an inner end keeps the snapshot),
 * a write from a worker thread is seen after the batch ends, a write on
 * the loop thread (this one: store_global_init ran here) at once. */
static void test_read_batch(void)
{
	struct store *s;
	struct store_err err;
	pthread_t t;

	CHECK(store_open("fay", true, &s, &err) == 0);
	append(s, "INBOX", "m\r\n", 3, 0, NULL);

	store_read_begin(s);
	CHECK(inbox_messages(s) == 1);
	store_read_begin(s);
	store_read_end(s);
	CHECK(pthread_create(&t, NULL, append_thread, s) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(inbox_messages(s) == 1); /* still the batch's snapshot */
	store_read_end(s);
	CHECK(inbox_messages(s) == 2);

	store_read_begin(s);
	CHECK(inbox_messages(s) == 2);
	append(s, "INBOX", "l\r\n", 3, 0, NULL);
	CHECK(inbox_messages(s) == 3);
	store_read_end(s);
	store_read_end(s); /* unbalanced: nothing happens */
	CHECK(inbox_messages(s) == 3);
	store_unref(&s);
}

static void test_expunge_copy(void)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox inbox, arch, mb;
	struct store_msg m;
	struct store_expunged_iter *ei;
	struct store_uid_range r13 = {1, 3}, r45 = {4, 5};
	struct store_uidset s13 = {&r13, 1}, s45 = {&r45, 1};
	uint32_t count, uid, *su, *du, uv;
	uint64_t modseq, before;
	size_t n;
	struct buf out = BUF_INIT;

	CHECK(store_open("frank", true, &s, &err) == 0);
	for (int i = 0; i < 6; i++) {
		char msg[32];
		int len = snprintf(msg, sizeof(msg), "msg %d\r\n", i + 1);
		append(s, "INBOX", msg, (size_t)len,
		       (i == 1 || i == 4) ? STORE_F_DELETED : 0, NULL);
	}
	CHECK(store_mailbox_get(s, "INBOX", &inbox, &err) == 0);
	CHECK(store_mailbox_get(s, "Archive", &arch, &err) == 0);
	before = inbox.highestmodseq;

	/* only \Deleted among 1:3 */
	CHECK(store_expunge(s, inbox.id, &s13, true, &count, &err) == 0);
	CHECK(count == 1);
	CHECK(store_msg_get(s, inbox.id, 2, &m, &err) == -1);
	CHECK(store_msg_get(s, inbox.id, 5, &m, &err) == 0);
	ei = store_expunged_iter_begin(s, inbox.id, before);
	CHECK(store_expunged_iter_next(ei, &uid, &modseq) && uid == 2 &&
	      modseq > before);
	CHECK(!store_expunged_iter_next(ei, &uid, &modseq));
	store_expunged_iter_end(&ei);
	CHECK(ei == NULL);
	CHECK(store_expunged_horizon(s, inbox.id) == 0);
	CHECK(store_mailbox_get(s, "INBOX", &inbox, &err) == 0);
	CHECK(inbox.messages == 5 && inbox.deleted == 1 &&
	      inbox.highestmodseq == modseq);

	/* copy 1:3 (1 and 3 exist) to Archive: shares bodies */
	CHECK(store_copy(s, inbox.id, &s13, arch.id, false, &su, &du, &n, &uv,
			 &err) == 0);
	CHECK(n == 2 && su[0] == 1 && su[1] == 3 && du[0] == 1 && du[1] == 2);
	CHECK(uv == arch.uidvalidity);
	free(su);
	free(du);
	CHECK(store_msg_get(s, arch.id, 2, &m, &err) == 0);
	read_body(s, m.body_id, &out);
	CHECK(out.len == 7 && memcmp(out.data, "msg 3\r\n", 7) == 0);
	{
		struct store_msg m3;
		CHECK(store_msg_get(s, inbox.id, 3, &m3, &err) == 0);
		CHECK(m3.body_id == m.body_id);
		CHECK_STR(m3.emailid, m.emailid);
	}

	/* move 4:5 to Archive: sources expunged in the same transaction */
	CHECK(store_copy(s, inbox.id, &s45, arch.id, true, &su, &du, &n, &uv,
			 &err) == 0);
	CHECK(n == 2 && du[0] == 3 && du[1] == 4);
	free(su);
	free(du);
	CHECK(store_msg_get(s, inbox.id, 4, &m, &err) == -1);
	CHECK(store_msg_get(s, arch.id, 4, &m, &err) == 0 &&
	      (m.flags & STORE_F_DELETED));
	ei = store_expunged_iter_begin(s, inbox.id, 0);
	n = 0;
	while (store_expunged_iter_next(ei, &uid, NULL))
		n++;
	store_expunged_iter_end(&ei);
	CHECK(n == 3);
	CHECK(store_mailbox_get(s, "Archive", &mb, &err) == 0);
	CHECK(mb.messages == 4 && mb.deleted == 1 && mb.uidnext == 5);

	/* copy a mailbox into itself copies each message once */
	struct store_uid_range rall = {1, UINT32_MAX};
	struct store_uidset sall = {&rall, 1};
	CHECK(store_copy(s, arch.id, &sall, arch.id, false, NULL, NULL, &n,
			 NULL, &err) == 0);
	CHECK(n == 4);
	CHECK(store_copy(s, arch.id, &sall, 987654, false, NULL, NULL, &n,
			 NULL, &err) == -1 &&
	      err.code == STORE_ERR_NOTFOUND);

	/* expunge all \Deleted (uids NULL) */
	CHECK(store_expunge(s, arch.id, NULL, false, &count, &err) == 0);
	CHECK(count == 2);
	/* expunge given uids regardless of flags (POP3 QUIT) */
	CHECK(store_expunge(s, inbox.id, &s13, false, &count, &err) == 0);
	CHECK(count == 2);
	CHECK(store_mailbox_get(s, "INBOX", &inbox, &err) == 0);
	CHECK(inbox.messages == 1 && inbox.uidnext == 7);

	/* expire: savedate before a cutoff in the future */
	CHECK(store_mark_retrieved(s, arch.id, &sall, 12345, &err) == 0);
	CHECK(store_msg_get(s, arch.id, 1, &m, &err) == 0 &&
	      m.retrieved == 12345);
	CHECK(store_mark_retrieved(s, arch.id, &sall, 99999, &err) == 0);
	CHECK(store_msg_get(s, arch.id, 1, &m, &err) == 0 &&
	      m.retrieved == 12345);
	CHECK(store_expire(s, inbox.id, time(NULL) + 10, true, &count,
			   &err) == 0 &&
	      count == 0);
	CHECK(store_expire(s, arch.id, time(NULL) + 10, true, &count,
			   &err) == 0 &&
	      count == 6);
	CHECK(store_expire(s, inbox.id, 1, false, &count, &err) == 0 &&
	      count == 0);
	CHECK(store_expire(s, inbox.id, time(NULL) + 10, false, &count,
			   &err) == 0 &&
	      count == 1);
	/* a body in a deleted message is gone */
	CHECK(store_body_open(s, m.body_id, &(struct store_body *){NULL},
			      &err) == -1);

	/* \Recent */
	uint32_t fr;
	append(s, "Archive", "r\r\n", 3, 0, NULL);
	CHECK(store_mailbox_get(s, "Archive", &mb, &err) == 0 &&
	      mb.recent == 1);
	CHECK(store_claim_recent(s, arch.id, &fr, &err) == 0 && fr == 1);
	CHECK(store_claim_recent(s, arch.id, &fr, &err) == 0 &&
	      fr == mb.uidnext);
	CHECK(store_mailbox_get(s, "Archive", &mb, &err) == 0 &&
	      mb.recent == 0);

	/* set_uids: only on an empty mailbox, never down */
	CHECK(store_mailbox_get(s, "Junk", &mb, &err) == 0);
	CHECK(store_mailbox_set_uids(s, mb.id, 777, 500, &err) == 0);
	CHECK(store_mailbox_get(s, "Junk", &mb, &err) == 0);
	CHECK(mb.uidvalidity == 777 && mb.uidnext == 500);
	CHECK(store_mailbox_set_uids(s, mb.id, 777, 10, &err) == -1);
	CHECK(append(s, "Junk", "j\r\n", 3, 0, NULL) == 500);
	CHECK(store_mailbox_set_uids(s, mb.id, 778, 900, &err) == -1);

	/* meta */
	CHECK(store_meta_get(s, "pop3.last", &out, &err) == -1 &&
	      err.code == STORE_ERR_NOTFOUND);
	CHECK(store_meta_set(s, "pop3.last", "1700000000", &err) == 0);
	CHECK(store_meta_get(s, "pop3.last", &out, &err) == 0);
	CHECK_STR(out.data, "1700000000");
	CHECK(store_meta_set(s, "pop3.last", NULL, &err) == 0);
	CHECK(store_meta_get(s, "pop3.last", &out, &err) == -1);

	check_clean(s);
	buf_release(&out);
	store_unref(&s);
}

static void test_locks(void)
{
	struct store *s;
	struct store_err err;
	struct store_lock *l1, *l2;

	CHECK(store_open("gina", true, &s, &err) == 0);
	CHECK(store_lock_take(s, "pop3", &l1, &err) == 0);
	CHECK(store_lock_take(s, "pop3", &l2, &err) == -1 &&
	      err.code == STORE_ERR_INUSE && l2 == NULL);
	CHECK(store_lock_take(s, "../x", &l2, &err) == -1);
	/* another process sees it held too */
	pid_t pid = fork();
	if (pid == 0) {
		struct store_lock *l3;
		_exit(store_lock_take(s, "pop3", &l3, &err) == -1 &&
				      err.code == STORE_ERR_INUSE
			      ? 0
			      : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	store_lock_release(&l1);
	CHECK(l1 == NULL);
	CHECK(store_lock_take(s, "pop3", &l2, &err) == 0);
	store_lock_release(&l2);
	store_unref(&s);
}

static void test_check_detects(void)
{
	struct store *s;
	struct store_err err;
	struct buf rep = BUF_INIT;
	char *path;
	sqlite3 *db;

	CHECK(store_open("hank", true, &s, &err) == 0);
	append(s, "INBOX", "hello\r\n", 7, 0, NULL);
	store_unref(&s);
	/* break a counter behind the store's back */
	path = xasprintf("%s/mail/hank/store.db", tmpdir);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db,
			   "UPDATE mailbox SET messages = 7 WHERE"
			   " name = 'INBOX'; UPDATE message SET uid = 50;",
			   NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	CHECK(store_open("hank", false, &s, &err) == 0);
	CHECK(store_check(s, &rep, &err) == -1);
	CHECK(err.code == STORE_ERR_CORRUPT);
	CHECK(rep.data && strstr(rep.data, "counters"));
	CHECK(rep.data && strstr(rep.data, "uidnext"));
	store_unref(&s);
	free(path);
	buf_release(&rep);
	CHECK(store_remove_user("hank", &err) == 0);
	CHECK(store_open("hank", false, &s, &err) == -1 &&
	      err.code == STORE_ERR_NOTFOUND);
	CHECK(store_remove_user("hank", &err) == -1 &&
	      err.code == STORE_ERR_NOTFOUND);
}

/* Expunge records older than STORE_EXPUNGE_KEEP_DAYS are pruned and the
 * horizon moves past them. */
static void test_expunge_horizon(void)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox mb;
	struct store_expunged_iter *ei;
	struct store_uid_range r1 = {1, 1}, r2 = {2, 2};
	struct store_uidset s1 = {&r1, 1}, s2 = {&r2, 1};
	uint32_t uid, count;
	uint64_t m1, modseq;
	char *path;
	sqlite3 *db;

	CHECK(store_open("jack", true, &s, &err) == 0);
	append(s, "INBOX", "1\r\n", 3, 0, NULL);
	append(s, "INBOX", "2\r\n", 3, 0, NULL);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	CHECK(store_expunge(s, mb.id, &s1, false, &count, &err) == 0 &&
	      count == 1);
	ei = store_expunged_iter_begin(s, mb.id, 0);
	CHECK(store_expunged_iter_next(ei, &uid, &m1) && uid == 1);
	store_expunged_iter_end(&ei);
	store_unref(&s);

	path = xasprintf("%s/mail/jack/store.db", tmpdir);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "UPDATE expunged SET t = 0", NULL, NULL,
			   NULL) == SQLITE_OK);
	sqlite3_close(db);
	free(path);

	CHECK(store_open("jack", false, &s, &err) == 0);
	CHECK(store_expunged_horizon(s, mb.id) == 0);
	CHECK(store_expunge(s, mb.id, &s2, false, &count, &err) == 0 &&
	      count == 1);
	CHECK(store_expunged_horizon(s, mb.id) == m1);
	ei = store_expunged_iter_begin(s, mb.id, 0);
	CHECK(store_expunged_iter_next(ei, &uid, &modseq) && uid == 2 &&
	      modseq > m1);
	CHECK(!store_expunged_iter_next(ei, &uid, &modseq));
	store_expunged_iter_end(&ei);
	check_clean(s);
	store_unref(&s);
}

/* ---- the UID list of a mailbox (store_uids_get) -------------------- */

/* store_uids_get must equal the UIDs an iterator sees, whatever path it
 * takes (dense, ends and history, or a scan). Returns the count. */
static uint32_t check_uids(struct store *s, int64_t mailbox_id)
{
	struct store_err err;
	struct store_msg m;
	uint32_t *v, n, k = 0;
	struct store_msg_iter *it;

	CHECK(store_uids_get(s, mailbox_id, &v, &n, &err) == 0);
	it = store_msg_iter_begin(s, mailbox_id, 1, UINT32_MAX, 0);
	while (store_msg_iter_next(it, &m)) {
		CHECK(k < n && v[k] == m.uid);
		k++;
	}
	CHECK(store_msg_iter_end(&it, &err) == 0);
	CHECK(k == n);
	free(v);
	return n;
}

static void test_uids(void)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox mb;
	struct store_uid_range r[] = {{3, 4}, {7, 7}}, ends[] = {{1, 1}, {10, 10}};
	struct store_uidset gaps = {r, 2}, both = {ends, 2};
	struct store_append_req rq = {0};
	struct store_append_res res;
	uint32_t count, *v, n;
	char *path;
	sqlite3 *db;

	CHECK(store_open("kate", true, &s, &err) == 0);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	CHECK(store_uids_get(s, mb.id, &v, &n, &err) == 0 && n == 0 && !v);
	for (int i = 0; i < 10; i++)
		append(s, "INBOX", "m\r\n", 3, 0, NULL);
	CHECK(check_uids(s, mb.id) == 10);
	CHECK(store_expunge(s, mb.id, &gaps, false, &count, &err) == 0 &&
	      count == 3);
	CHECK(check_uids(s, mb.id) == 7);
	CHECK(store_expunge(s, mb.id, &both, false, &count, &err) == 0 &&
	      count == 2);
	CHECK(check_uids(s, mb.id) == 5); /* 2 5 6 8 9 */
	store_unref(&s);

	/* a pruned history: the counts differ, the rows are scanned */
	path = xasprintf("%s/mail/kate/store.db", tmpdir);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "DELETE FROM expunged WHERE uid = 4", NULL,
			   NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	free(path);
	CHECK(store_open("kate", false, &s, &err) == 0);
	CHECK(check_uids(s, mb.id) == 5);
	/* an import that skips UIDs 11..19: not in the history */
	rq.mailbox = "INBOX";
	rq.spool = spool_of("i\r\n", 3);
	rq.uid = 20;
	CHECK(store_append(s, &rq, 1, &res, &err) == 0 && res.uid == 20);
	store_spool_free(&rq.spool);
	CHECK(check_uids(s, mb.id) == 6);
	/* the first message without \Seen */
	uint32_t first;
	struct store_uid_range r25 = {2, 5};
	struct store_uidset s25 = {&r25, 1};
	CHECK(store_first_uid_without(s, mb.id, STORE_F_SEEN, &first, &err) ==
		      0 &&
	      first == 2);
	CHECK(store_set_flags(s, mb.id, &s25, STORE_FLAGS_ADD, STORE_F_SEEN,
			      NULL, 0, NULL, NULL, &err) == 0);
	CHECK(store_first_uid_without(s, mb.id, STORE_F_SEEN, &first, &err) ==
		      0 &&
	      first == 6);
	CHECK(store_first_uid_without(s, mb.id, STORE_F_SEEN | STORE_F_DELETED,
				      &first, &err) == 0 &&
	      first == 6);
	CHECK(store_first_uid_without(s, 9999, STORE_F_SEEN, &first, &err) ==
		      0 &&
	      first == 0);
	/* a mailbox id that does not exist has no UIDs */
	CHECK(store_uids_get(s, 9999, &v, &n, &err) == 0 && n == 0);
	check_clean(s);
	store_unref(&s);
}

/* ---- change feed, in process ---------------------------------------- */

static int fired;

static void on_change(struct store *s, void *arg)
{
	fired++;
	uv_stop(arg);
}

static void on_timeout(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void test_watch(void)
{
	uv_loop_t *loop = uv_default_loop();
	struct store *s;
	struct store_err err;
	struct store_watch *w, *w2;
	uv_timer_t guard;

	CHECK(store_open("ivy", true, &s, &err) == 0);
	w = store_watch_add(s, on_change, loop);
	w2 = store_watch_add(s, on_change, loop);
	store_watch_remove(&w2);
	CHECK(w2 == NULL);
	uv_timer_init(loop, &guard);
	uv_timer_start(&guard, on_timeout, 10000, 0);
	fired = 0;
	append(s, "INBOX", "w\r\n", 3, 0, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK(fired >= 1);
	/* several commits coalesce into at least one call, never zero */
	fired = 0;
	append(s, "INBOX", "w\r\n", 3, 0, NULL);
	append(s, "INBOX", "w\r\n", 3, 0, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK(fired >= 1);
	uv_timer_stop(&guard);
	store_watch_remove(&w);
	store_unref(&s); /* closes handles; freed in close callbacks */
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_alive(loop) == 0);
}

int main(void)
{
	char *cmd;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	store_global_init(uv_default_loop(), tmpdir);
	test_names();
	test_open();
	test_mailboxes();
	test_append_read();
	test_iter();
	test_flags();
	test_read_batch();
	test_expunge_copy();
	test_locks();
	test_check_detects();
	test_expunge_horizon();
	test_uids();
	test_watch();
	test_huge();
	cmd = xasprintf("rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	free(cmd);
	return t_done();
}
