/* deliver.c - tandemctl deliver USER [MAILBOX] < message.
 *
 * The message is read into a spool before the write transaction, with
 * bare LF line ends turned into CRLF (every ingest path stores messages
 * CRLF-normalized, RFC 5322 2.3), and appended in one transaction. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "crlf.h"
#include "tandemctl-private.h"

int ctl_deliver(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct store *s = NULL;
	struct store_err err;
	struct store_spool *sp = NULL;
	struct store_append_req rq = {0};
	struct store_append_res res;
	struct buf out = BUF_INIT;
	const char *mailbox;
	char in[65536];
	bool prev_cr = false;
	size_t limit = c->cfg.lmtp_max_message_size;
	int rc;

	if ((rc = ctl_parse(argc, argv, 1, 2, false,
			    "deliver USER [MAILBOX] < MESSAGE", &a)))
		return rc;
	mailbox = a.npos > 1 ? a.pos[1] : "INBOX";
	if ((rc = ctl_store(c, a.pos[0], &s)))
		return rc;
	sp = store_spool_new();
	for (;;) {
		ssize_t n = read(STDIN_FILENO, in, sizeof(in));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "tandemctl: reading the message: %s\n",
				strerror(errno));
			rc = EX_IOERR;
			goto out;
		}
		if (n == 0)
			break;
		buf_reset(&out);
		crlf_normalize(in, (size_t)n, &prev_cr, &out);
		if (limit && store_spool_size(sp) + out.len > limit) {
			fprintf(stderr, "tandemctl: message larger than "
					"max_message_size (%zu bytes)\n",
				limit);
			rc = EX_DATAERR;
			goto out;
		}
		if (store_spool_write(sp, out.data, out.len, &err) < 0) {
			rc = ctl_store_fail("spool", &err);
			goto out;
		}
	}
	if (store_mailbox_create(s, mailbox, 0, &err) < 0 &&
	    err.code != STORE_ERR_EXISTS) {
		rc = ctl_store_fail(mailbox, &err);
		goto out;
	}
	rq.mailbox = mailbox;
	rq.spool = sp;
	if (store_append(s, &rq, 1, &res, &err) < 0) {
		rc = ctl_store_fail(mailbox, &err);
		goto out;
	}
	printf("uid %" PRIu32 "\n", res.uid);
out:
	store_spool_free(&sp);
	buf_release(&out);
	store_unref(&s);
	return rc;
}
