/* test-store-crash.c - kill -9 at random moments never loses an
 * acknowledged message nor corrupts the store.
 *
 * A child delivers in a loop (sizes from a few bytes to several chunks,
 * some through a file spool, with flag changes in between) and writes
 * each acknowledged (uid, round, seq) to a pipe. The parent SIGKILLs it
 * at a random moment, several times; afterwards every acknowledged UID
 * must be present with its exact bytes, and store_check must be clean. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "buf.h"
#include "store.h"
#include "t.h"
#include "xalloc.h"

#define ROUNDS 8

static char tmpdir[] = "/tmp/tandem-test-crash-XXXXXX";

struct ack {
	uint32_t uid, round, seq;
};

/* The bytes of message (round, seq): deterministic, any size. */
static size_t msg_size(uint32_t round, uint32_t seq)
{
	uint32_t h = round * 2654435761u ^ seq * 40503u;

	switch (h % 7) {
	case 0:
		return 3 * STORE_CHUNK_SIZE + h % 1000; /* file spool */
	case 1:
		return STORE_CHUNK_SIZE; /* exactly one chunk */
	default:
		return 20 + h % 3000;
	}
}

static void msg_fill(char *p, size_t n, uint32_t round, uint32_t seq)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)((i * 31 + round * 7 + seq) & 0xff);
}

static void child(int fd, uint32_t round)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox mb;
	char *buf = xmalloc(4 * STORE_CHUNK_SIZE);

	if (store_open("crash", false, &s, &err) < 0 ||
	    store_mailbox_get(s, "INBOX", &mb, &err) < 0)
		_exit(3);
	for (uint32_t seq = 0;; seq++) {
		struct store_append_req rq = {.mailbox_id = mb.id};
		struct store_append_res res;
		size_t n = msg_size(round, seq);
		struct ack a;

		msg_fill(buf, n, round, seq);
		rq.spool = store_spool_new();
		if (store_spool_write(rq.spool, buf, n, &err) < 0 ||
		    store_append(s, &rq, 1, &res, &err) < 0)
			_exit(4);
		store_spool_free(&rq.spool);
		a.uid = res.uid;
		a.round = round;
		a.seq = seq;
		if (write(fd, &a, sizeof(a)) != sizeof(a))
			_exit(5);
		if (seq % 3 == 0) {
			struct store_uid_range r = {1, res.uid};
			struct store_uidset set = {&r, 1};
			if (store_set_flags(s, mb.id, &set,
					    (seq % 2) ? STORE_FLAGS_ADD
						      : STORE_FLAGS_REMOVE,
					    STORE_F_SEEN, "k", 0, NULL, NULL,
					    &err) < 0)
				_exit(6);
		}
	}
}

int main(void)
{
	struct store *s;
	struct store_err err;
	struct store_mailbox mb;
	struct ack *acks = NULL;
	size_t nacks = 0, cap = 0;
	struct buf rep = BUF_INIT;
	char *cmd, *want, *got;
	bool all = true;

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	store_global_init(NULL, tmpdir);
	CHECK(store_open("crash", true, &s, &err) == 0);
	store_unref(&s);

	for (uint32_t round = 0; round < ROUNDS; round++) {
		int p[2];
		pid_t pid;
		struct ack a;
		int st;
		size_t before = nacks;

		CHECK(pipe(p) == 0);
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			child(p[1], round);
		}
		close(p[1]);
		/* wait for the first acknowledgement, then kill at a random
		 * moment: sometimes at once, sometimes after a while */
		if (read(p[0], &a, sizeof(a)) == sizeof(a)) {
			if (nacks == cap) {
				cap = cap ? cap * 2 : 256;
				acks = xrealloc(acks, cap * sizeof(*acks));
			}
			acks[nacks++] = a;
		}
		usleep((useconds_t)(rand() % 300000));
		kill(pid, SIGKILL);
		while (read(p[0], &a, sizeof(a)) == sizeof(a)) {
			if (nacks == cap) {
				cap = cap ? cap * 2 : 256;
				acks = xrealloc(acks, cap * sizeof(*acks));
			}
			acks[nacks++] = a;
		}
		close(p[0]);
		CHECK(waitpid(pid, &st, 0) == pid);
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		CHECK(nacks > before);
	}
	fprintf(stderr, "%zu acknowledged messages over %d kills\n", nacks,
		ROUNDS);

	CHECK(store_open("crash", false, &s, &err) == 0);
	CHECK(store_mailbox_get(s, "INBOX", &mb, &err) == 0);
	CHECK(mb.messages >= nacks);
	want = xmalloc(4 * STORE_CHUNK_SIZE);
	got = xmalloc(4 * STORE_CHUNK_SIZE);
	for (size_t i = 0; i < nacks; i++) {
		struct store_msg m;
		struct store_body *b;
		size_t n = msg_size(acks[i].round, acks[i].seq);

		if (store_msg_get(s, mb.id, acks[i].uid, &m, &err) < 0 ||
		    store_body_open(s, m.body_id, &b, &err) < 0) {
			fprintf(stderr, "uid %u lost\n", acks[i].uid);
			all = false;
			continue;
		}
		msg_fill(want, n, acks[i].round, acks[i].seq);
		if (m.size != n ||
		    store_body_read(b, 0, got, n + 1, &err) != (ssize_t)n ||
		    memcmp(got, want, n) != 0) {
			fprintf(stderr, "uid %u: wrong bytes\n", acks[i].uid);
			all = false;
		}
		store_body_close(&b);
	}
	CHECK(all);
	if (store_check(s, &rep, &err) != 0) {
		fprintf(stderr, "store_check: %s\n%s", err.msg,
			rep.data ? rep.data : "");
		CHECK(false);
	}
	buf_release(&rep);
	store_unref(&s);
	free(want);
	free(got);
	free(acks);
	cmd = xasprintf("rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	free(cmd);
	return t_done();
}
