/* test-quota.c - storage/quota.c on a real temporary store: usage follows
 * append, copy, move, expunge and mailbox deletion; limits (default and
 * the user's own) refuse what would pass them, changing nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "store.h"
#include "t.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/tandem-test-quota-XXXXXX";

/* Appends n bytes of 'x' to mailbox. Returns 0, or -1 with err. */
static int append(struct store *s, const char *mailbox, size_t n,
		  struct store_err *err)
{
	struct store_append_req rq = {0};
	struct store_append_res res;
	char *p = xmalloc(n + 1);
	int rc;

	memset(p, 'x', n);
	rq.mailbox = mailbox;
	rq.spool = store_spool_new();
	CHECK(store_spool_write(rq.spool, p, n, err) == 0);
	rc = store_append(s, &rq, 1, &res, err);
	store_spool_free(&rq.spool);
	free(p);
	return rc;
}

static struct store_quota quota(struct store *s)
{
	struct store_quota q;
	struct store_err err;

	memset(&q, 0xff, sizeof(q));
	CHECK(store_quota_get(s, &q, &err) == 0);
	return q;
}

static uint32_t inbox_messages(struct store *s)
{
	struct store_mailbox mb;
	struct store_err err;

	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	return mb.messages;
}

static void test_usage_follows_writes(void)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox inbox, trash;
	struct store_quota q;
	struct store_uid_range r = {1, 1};
	struct store_uidset one = {&r, 1};
	uint32_t *su = NULL, *du = NULL, uv;
	size_t n;

	store_quota_defaults(0, 0);
	CHECK(store_open("usage", true, &s, &err) == 0);
	q = quota(s);
	CHECK(q.bytes == 0 && q.messages == 0);
	CHECK(q.bytes_limit == 0 && q.messages_limit == 0);
	CHECK(!q.bytes_own && !q.messages_own);

	CHECK(append(s, "INBOX", 100, &err) == 0);
	CHECK(append(s, "INBOX", 50, &err) == 0);
	q = quota(s);
	CHECK(q.bytes == 150 && q.messages == 2);

	/* COPY counts again (RFC 9208 STORAGE: each message); MOVE not. */
	CHECK(store_mailbox_get(s, "INBOX", &inbox, &err) == 0);
	CHECK(store_mailbox_get(s, "Trash", &trash, &err) == 0);
	CHECK(store_copy(s, inbox.id, &one, trash.id, false, &su, &du, &n,
			 &uv, &err) == 0);
	free(su);
	free(du);
	q = quota(s);
	CHECK(q.bytes == 250 && q.messages == 3);
	r.lo = r.hi = 2;
	CHECK(store_copy(s, inbox.id, &one, trash.id, true, NULL, NULL, &n,
			 &uv, &err) == 0);
	q = quota(s);
	CHECK(q.bytes == 250 && q.messages == 3);

	/* EXPUNGE gives the space back. */
	r.lo = r.hi = 1;
	CHECK(store_expunge(s, inbox.id, &one, false, NULL, &err) == 0);
	q = quota(s);
	CHECK(q.bytes == 150 && q.messages == 2);

	/* So does deleting a mailbox with its messages. */
	CHECK(store_mailbox_create(s, "Old", 0, &err) == 0);
	CHECK(append(s, "Old", 1000, &err) == 0);
	CHECK(quota(s).bytes == 1150);
	CHECK(store_mailbox_delete(s, "Old", &err) == 0);
	CHECK(quota(s).bytes == 150);
	store_unref(&s);
}

static void test_limits(void)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox inbox, trash;
	struct store_quota q;
	struct store_uid_range r = {1, UINT32_MAX};
	struct store_uidset all = {&r, 1};
	uint32_t *su = NULL, *du = NULL, uv;
	size_t n;

	CHECK(store_open("limits", true, &s, &err) == 0);
	CHECK(store_mailbox_get(s, "INBOX", &inbox, &err) == 0);
	CHECK(store_mailbox_get(s, "Trash", &trash, &err) == 0);

	/* The default: up to the limit exactly, not one octet more. */
	store_quota_defaults(300, 0);
	CHECK(append(s, "INBOX", 200, &err) == 0);
	memset(&err, 0, sizeof(err));
	CHECK(append(s, "INBOX", 101, &err) < 0);
	CHECK(err.code == STORE_ERR_OVERQUOTA);
	CHECK(strstr(err.msg, "over quota") != NULL);
	CHECK(inbox_messages(s) == 1);
	CHECK(append(s, "INBOX", 100, &err) == 0);
	q = quota(s);
	CHECK(q.bytes == 300 && q.bytes_limit == 300 && !q.bytes_own);

	/* A refused COPY changes nothing; a MOVE is never refused. */
	memset(&err, 0, sizeof(err));
	CHECK(store_copy(s, inbox.id, &all, trash.id, false, &su, &du, &n,
			 &uv, &err) < 0);
	CHECK(err.code == STORE_ERR_OVERQUOTA);
	CHECK(quota(s).messages == 2);
	CHECK(store_mailbox_get(s, "Trash", &trash, &err) == 0);
	CHECK(trash.messages == 0);
	CHECK(store_copy(s, inbox.id, &all, trash.id, true, &su, &du, &n,
			 &uv, &err) == 0);
	CHECK(n == 2);
	free(su);
	free(du);
	CHECK(quota(s).bytes == 300);

	/* The user's own limit wins over the default, 0 = unlimited. */
	CHECK(store_quota_set(s, 0, STORE_QUOTA_KEEP, &err) == 0);
	q = quota(s);
	CHECK(q.bytes_limit == 0 && q.bytes_own && !q.messages_own);
	CHECK(append(s, "INBOX", 5000, &err) == 0);
	CHECK(store_quota_set(s, 6000, 4, &err) == 0);
	q = quota(s);
	CHECK(q.bytes_limit == 6000 && q.messages_limit == 4);
	CHECK(q.bytes_own && q.messages_own);
	CHECK(append(s, "INBOX", 1, &err) == 0); /* 4th message */
	memset(&err, 0, sizeof(err));
	CHECK(append(s, "INBOX", 1, &err) < 0);  /* 5th: over the count */
	CHECK(err.code == STORE_ERR_OVERQUOTA);
	CHECK(strstr(err.msg, "messages") != NULL);

	/* Back to the default (300 octets): over it now, still readable and
	 * expungeable; expunging makes room again. */
	CHECK(store_quota_set(s, STORE_QUOTA_DEFAULT, STORE_QUOTA_DEFAULT,
			      &err) == 0);
	q = quota(s);
	CHECK(!q.bytes_own && !q.messages_own && q.bytes_limit == 300);
	CHECK(append(s, "INBOX", 1, &err) < 0);
	CHECK(store_expunge(s, inbox.id, &all, false, NULL, &err) == 0);
	CHECK(store_mailbox_get(s, "Trash", &trash, &err) == 0);
	CHECK(store_expunge(s, trash.id, &all, false, NULL, &err) == 0);
	CHECK(quota(s).bytes == 0);
	CHECK(append(s, "INBOX", 300, &err) == 0);

	/* A MULTIAPPEND counts all its messages: all or nothing. */
	store_quota_defaults(0, 3);
	{
		struct store_append_req rq[3];
		struct store_append_res res[3];

		memset(rq, 0, sizeof(rq));
		for (int i = 0; i < 3; i++) {
			rq[i].mailbox = "INBOX";
			rq[i].spool = store_spool_new();
			CHECK(store_spool_write(rq[i].spool, "m\r\n", 3,
						&err) == 0);
		}
		memset(&err, 0, sizeof(err));
		CHECK(store_append(s, rq, 3, res, &err) < 0);
		CHECK(err.code == STORE_ERR_OVERQUOTA);
		CHECK(quota(s).messages == 1);
		CHECK(store_append(s, rq, 2, res, &err) == 0);
		CHECK(quota(s).messages == 3);
		for (int i = 0; i < 3; i++)
			store_spool_free(&rq[i].spool);
	}
	CHECK(store_quota_set(s, -5, 0, &err) < 0);
	CHECK(err.code == STORE_ERR_INVALID);
	store_quota_defaults(0, 0);
	store_unref(&s);
}

int main(void)
{
	char *cmd;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	store_global_init(NULL, tmpdir);
	test_usage_follows_writes();
	test_limits();
	cmd = xasprintf("rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	free(cmd);
	return t_done();
}
