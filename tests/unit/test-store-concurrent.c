/* test-store-concurrent.c - two processes appending and flagging the same
 * store at once; the change feed across processes and from a worker
 * thread. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "buf.h"
#include "store.h"
#include "t.h"
#include "xalloc.h"

#define PER_CHILD 300

static char tmpdir[] = "/tmp/tandem-test-conc-XXXXXX";

static int append_text(struct store *s, const char *text, uint32_t *uid_r)
{
	struct store_append_req rq = {.mailbox = "INBOX"};
	struct store_append_res res;
	struct store_err err;
	int rc;

	rq.spool = store_spool_new();
	if (store_spool_write(rq.spool, text, strlen(text), &err) < 0)
		return -1;
	rc = store_append(s, &rq, 1, &res, &err);
	if (rc < 0)
		fprintf(stderr, "append: %s\n", err.msg);
	store_spool_free(&rq.spool);
	if (uid_r && rc == 0)
		*uid_r = res.uid;
	return rc;
}

/* Appends PER_CHILD messages "<tag> <n>", toggling its keyword on UID 1
 * (shared with the other child) as it goes; ends with the keyword set. */
static int child(char tag)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox mb;
	struct store_uid_range one = {1, 1};
	struct store_uidset set = {&one, 1};
	char kw[8], text[64];
	uint32_t uid, last = 0;

	snprintf(kw, sizeof(kw), "k%c", tag);
	if (store_open("alice", false, &s, &err) < 0 ||
	    store_mailbox_get(s, "INBOX", &mb, &err) < 0) {
		fprintf(stderr, "child %c: %s\n", tag, err.msg);
		return 1;
	}
	for (int i = 0; i < PER_CHILD; i++) {
		snprintf(text, sizeof(text), "Subject: %c %d\r\n\r\nbody\r\n",
			 tag, i);
		if (append_text(s, text, &uid) < 0)
			return 1;
		if (uid <= last) {
			fprintf(stderr, "child %c: uid %u after %u\n", tag, uid,
				last);
			return 1;
		}
		last = uid;
		if (store_set_flags(s, mb.id, &set,
				    (i % 2) ? STORE_FLAGS_ADD
					    : STORE_FLAGS_REMOVE,
				    0, kw, 0, NULL, NULL, &err) < 0) {
			fprintf(stderr, "child %c: flags: %s\n", tag, err.msg);
			return 1;
		}
	}
	store_unref(&s);
	return 0;
}

static void test_two_writers(void)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox mb;
	struct store_msg m;
	struct store_msg_iter *it;
	struct buf rep = BUF_INIT;
	pid_t pids[2];
	int seen[2][PER_CHILD];
	uint32_t n = 0, prev = 0;
	bool ok = true;

	CHECK(store_open("alice", true, &s, &err) == 0);
	CHECK(append_text(s, "Subject: shared\r\n\r\n", NULL) == 0);
	store_unref(&s); /* nothing of the store crosses fork */

	for (int c = 0; c < 2; c++) {
		pids[c] = fork();
		if (pids[c] == 0)
			_exit(child(c ? 'B' : 'A'));
	}
	for (int c = 0; c < 2; c++) {
		int st;
		CHECK(waitpid(pids[c], &st, 0) == pids[c]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}

	CHECK(store_open("alice", false, &s, &err) == 0);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	CHECK(mb.messages == 2 * PER_CHILD + 1);
	CHECK(mb.uidnext == 2 * PER_CHILD + 2);
	memset(seen, 0, sizeof(seen));
	it = store_msg_iter_begin(s, mb.id, 1, UINT32_MAX, 0);
	while (store_msg_iter_next(it, &m)) {
		struct store_body *b;
		char text[64] = {0};
		char tag;
		int i;

		ok &= m.uid > prev;
		prev = m.uid;
		n++;
		if (m.uid == 1) {
			/* neither child's last ADD was lost */
			CHECK_STR(m.keywords, "kA kB");
			continue;
		}
		if (store_body_open(s, m.body_id, &b, &err) < 0) {
			ok = false;
			continue;
		}
		store_body_read(b, 0, text, sizeof(text) - 1, &err);
		store_body_close(&b);
		if (sscanf(text, "Subject: %c %d", &tag, &i) == 2 &&
		    (tag == 'A' || tag == 'B') && i >= 0 && i < PER_CHILD)
			seen[tag - 'A'][i]++;
		else
			ok = false;
	}
	CHECK(store_msg_iter_end(&it, &err) == 0);
	CHECK(ok);
	CHECK(n == 2 * PER_CHILD + 1);
	for (int c = 0; c < 2; c++)
		for (int i = 0; i < PER_CHILD; i++)
			ok &= seen[c][i] == 1;
	CHECK(ok);
	CHECK(store_check(s, &rep, &err) == 0);
	buf_release(&rep);
	store_unref(&s);
}

/* ---- change feed across processes ------------------------------------ */

static int fired;
static uint32_t seen_messages;

static void on_change(struct store *s, void *arg)
{
	struct store_mailbox mb;
	struct store_err err;

	fired++;
	if (store_mailbox_get(s, "INBOX", &mb, &err) == 0)
		seen_messages = mb.messages;
	uv_stop(arg);
}

static void on_timeout(uv_timer_t *t)
{
	uv_stop(t->loop);
}

struct work {
	struct store *s;
	int rc;
	bool done; /* after_work_cb ran: rc is ours to read */
};

static void work_cb(uv_work_t *req)
{
	struct work *w = req->data;

	w->rc = append_text(w->s, "Subject: from a worker\r\n\r\n", NULL);
}

static void unref_cb(uv_work_t *req)
{
	struct work *w = req->data;

	store_unref(&w->s);
}

static void after_work_cb(uv_work_t *req, int status)
{
	struct work *w = req->data;

	w->done = true;
}

static void test_feed(void)
{
	uv_loop_t *loop = uv_default_loop();
	struct store *s;
	struct store_err err;
	struct store_watch *w;
	struct store_mailbox mb;
	uv_timer_t guard;
	int go[2];
	pid_t pid;
	int st;
	char c = 'x';

	CHECK(pipe(go) == 0);
	/* the child forks before this process opens the store */
	pid = fork();
	if (pid == 0) {
		struct store *cs;
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		if (store_open("bob", false, &cs, &err) < 0)
			_exit(3);
		_exit(append_text(cs, "Subject: from afar\r\n\r\n", NULL) ? 4
									  : 0);
	}
	close(go[0]);
	CHECK(store_open("bob", false, &s, &err) == 0);
	w = store_watch_add(s, on_change, loop);
	uv_timer_init(loop, &guard);
	/* a generous guard so a broken feed fails instead of hanging */
	uv_timer_start(&guard, on_timeout, 20000, 0);
	fired = 0;
	CHECK(write(go[1], &c, 1) == 1);
	close(go[1]);
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK(fired >= 1);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0 &&
	      mb.messages == 1);

	/* a commit on a worker thread wakes the loop (uv_async) */
	uv_work_t req;
	struct work wk = {s, -1, false};
	req.data = &wk;
	uv_queue_work(loop, &req, work_cb, after_work_cb);
	/* until a callback sees the worker's message (or the guard fires) */
	while ((seen_messages != 2 || !wk.done) &&
	       uv_timer_get_due_in(&guard) > 0 && uv_run(loop, UV_RUN_ONCE))
		;
	CHECK(seen_messages == 2);
	CHECK(wk.done && wk.rc == 0);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0 &&
	      mb.messages == 2);

	uv_timer_stop(&guard);
	uv_close((uv_handle_t *)&guard, NULL);

	/* the last reference dropped on a worker thread: the loop thread
	 * closes the handles and frees the store */
	struct work last = {store_ref(s), -1, false};
	req.data = &last;
	store_watch_remove(&w);
	store_unref(&s);
	uv_queue_work(loop, &req, unref_cb, after_work_cb);
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK(last.done && last.s == NULL);
	CHECK(uv_loop_alive(loop) == 0);
}

int main(void)
{
	struct store *s;
	struct store_err err;
	char *cmd;

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	store_global_init(uv_default_loop(), tmpdir);
	test_two_writers();
	CHECK(store_open("bob", true, &s, &err) == 0);
	store_unref(&s);
	test_feed();
	cmd = xasprintf("rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	free(cmd);
	return t_done();
}
