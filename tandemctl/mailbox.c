/* mailbox.c - tandemctl mailbox list|status|create|delete. */
#include <inttypes.h>
#include <stdio.h>

#include "tandemctl-private.h"

int ctl_mailbox_list(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct store *s;
	struct store_err err;
	struct store_mailbox mb;
	struct store_mailbox_iter *it;
	int rc;

	if ((rc = ctl_parse(argc, argv, 1, 1, false, "mailbox list USER", &a)))
		return rc;
	if ((rc = ctl_store(c, a.pos[0], &s)))
		return rc;
	it = store_mailbox_iter_begin(s);
	while (store_mailbox_iter_next(it, &mb))
		printf("%s\t%" PRIu32 "\t%" PRIu32 "\t%" PRIu64 "\n", mb.name,
		       mb.messages, mb.unseen, mb.size);
	if (store_mailbox_iter_end(&it, &err) < 0)
		rc = ctl_store_fail(a.pos[0], &err);
	store_unref(&s);
	return rc;
}

int ctl_mailbox_status(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct store *s;
	struct store_err err;
	struct store_mailbox mb;
	int rc;

	if ((rc = ctl_parse(argc, argv, 2, 2, false,
			    "mailbox status USER MAILBOX", &a)))
		return rc;
	if ((rc = ctl_store(c, a.pos[0], &s)))
		return rc;
	if (store_mailbox_get(s, a.pos[1], &mb, &err) < 0) {
		rc = ctl_store_fail(a.pos[1], &err);
	} else {
		printf("messages %" PRIu32 "\n", mb.messages);
		printf("unseen %" PRIu32 "\n", mb.unseen);
		printf("recent %" PRIu32 "\n", mb.recent);
		printf("deleted %" PRIu32 "\n", mb.deleted);
		printf("uidvalidity %" PRIu32 "\n", mb.uidvalidity);
		printf("uidnext %" PRIu32 "\n", mb.uidnext);
		printf("highestmodseq %" PRIu64 "\n", mb.highestmodseq);
		printf("size %" PRIu64 "\n", mb.size);
		printf("mailboxid %s\n", mb.mailboxid);
	}
	store_unref(&s);
	return rc;
}

int ctl_mailbox_create(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct store *s;
	struct store_err err;
	int rc;

	if ((rc = ctl_parse(argc, argv, 2, 2, false, "mailbox create USER NAME",
			    &a)))
		return rc;
	if ((rc = ctl_store(c, a.pos[0], &s)))
		return rc;
	if (store_mailbox_create(s, a.pos[1], 0, &err) < 0)
		rc = ctl_store_fail(a.pos[1], &err);
	store_unref(&s);
	return rc;
}

int ctl_mailbox_delete(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct store *s;
	struct store_err err;
	int rc;

	if ((rc = ctl_parse(argc, argv, 2, 2, false, "mailbox delete USER NAME",
			    &a)))
		return rc;
	if ((rc = ctl_store(c, a.pos[0], &s)))
		return rc;
	if (store_mailbox_delete(s, a.pos[1], &err) < 0)
		rc = ctl_store_fail(a.pos[1], &err);
	store_unref(&s);
	return rc;
}
