/* export.c - tandemctl export maildir USER PATH: the way back.
 *
 * Writes a Maildir++ tree that Dovecot (and tandemctl import maildir)
 * read with UIDs, UIDVALIDITY, UIDNEXT, flags, keywords, INTERNALDATE
 * (file mtime), subscriptions and imported POP3 UIDLs kept:
 *     PATH/{cur,new,tmp}           INBOX;  PATH/.A.B/...  mailbox "A/B"
 *     dovecot-uidlist   "3 V<uidvalidity> N<uidnext>", "<uid> [P<uidl> ]:<name>"
 *     dovecot-keywords  "<index> <keyword>" (letters a-z in file names)
 *     subscriptions     "V\t2", empty line, one name per line (TAB levels)
 * Existing files are never overwritten: export into an empty directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "tandemctl-private.h"
#include "xalloc.h"

struct ex_msg {
	uint32_t uid, flags;
	int64_t internaldate, body_id;
	uint64_t size;
	char *keywords, *uidl;
};

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int write_file(const char *path, const struct buf *b)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return -1;
	rc = write_all(fd, b->data ? b->data : "", b->len);
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

static int mkdirs(const char *dir)
{
	static const char *const subs[] = {"", "/cur", "/new", "/tmp"};

	for (size_t i = 0; i < 4; i++) {
		char *p = xasprintf("%s%s", dir, subs[i]);
		int rc = mkdir(p, 0700);
		free(p);
		if (rc < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

/* Index of kw in the folder's keyword table (added if new), or -1 when
 * the 26 letters are used up. */
static int kw_index(char **names, size_t *n, const char *kw)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(names[i], kw) == 0)
			return (int)i;
	if (*n >= 26)
		return -1;
	names[*n] = xstrdup(kw);
	return (int)(*n)++;
}

static int export_mailbox(struct store *s, const struct store_mailbox *mb,
			  const char *root)
{
	struct ex_msg *msgs = NULL;
	size_t n = 0, nkw = 0;
	char *kwnames[26];
	struct store_msg m;
	struct store_msg_iter *it;
	struct store_err err;
	struct buf dir = BUF_INIT, uidlist = BUF_INIT, kwfile = BUF_INIT;
	char *chunk = xmalloc(STORE_CHUNK_SIZE);
	int rc = 0;

	buf_append_str(&dir, root);
	if (strcmp(mb->name, "INBOX") != 0) {
		buf_append_str(&dir, "/.");
		for (const char *p = mb->name; *p; p++)
			buf_append_c(&dir, *p == '/' ? '.' : *p);
	}
	if (mkdirs(dir.data) < 0) {
		fprintf(stderr, "tandemctl: %s: %m\n", dir.data);
		rc = EX_CANTCREAT;
		goto out;
	}
	it = store_msg_iter_begin(s, mb->id, 1, UINT32_MAX, 0);
	while (store_msg_iter_next(it, &m)) {
		msgs = xrealloc(msgs, (n + 1) * sizeof(*msgs));
		msgs[n] = (struct ex_msg){m.uid, m.flags, m.internaldate,
					  m.body_id, m.size,
					  xstrdup(m.keywords ? m.keywords : ""),
					  m.legacy_uidl ? xstrdup(m.legacy_uidl)
							: NULL};
		n++;
	}
	if (store_msg_iter_end(&it, &err) < 0) {
		rc = ctl_store_fail(mb->name, &err);
		goto out;
	}
	buf_printf(&uidlist, "3 V%" PRIu32 " N%" PRIu32 "\n", mb->uidvalidity,
		   mb->uidnext);
	for (size_t i = 0; i < n && !rc; i++) {
		struct ex_msg *e = &msgs[i];
		struct buf name = BUF_INIT, path = BUF_INIT, info = BUF_INIT;
		struct store_body *b = NULL;
		struct timespec ts[2];
		uint64_t off = 0;
		int fd;

		buf_printf(&name, "%" PRId64 ".T%" PRIu32 "V%" PRIu32
				  ".tandem,S=%" PRIu64,
			   e->internaldate, e->uid, mb->uidvalidity, e->size);
		buf_append_str(&info, ":2,");
		if (e->flags & STORE_F_DRAFT) buf_append_c(&info, 'D');
		if (e->flags & STORE_F_FLAGGED) buf_append_c(&info, 'F');
		if (e->flags & STORE_F_ANSWERED) buf_append_c(&info, 'R');
		if (e->flags & STORE_F_SEEN) buf_append_c(&info, 'S');
		if (e->flags & STORE_F_DELETED) buf_append_c(&info, 'T');
		{
			char letters[27] = {0};
			char *copy = xstrdup(e->keywords);
			for (char *t = strtok(copy, " "); t; t = strtok(NULL, " ")) {
				int k = kw_index(kwnames, &nkw, t);
				if (k >= 0)
					letters[k] = 1;
			}
			free(copy);
			for (int k = 0; k < 26; k++)
				if (letters[k])
					buf_append_c(&info, (char)('a' + k));
		}
		buf_printf(&path, "%s/cur/%s%s", dir.data, name.data, info.data);
		fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			fprintf(stderr, "tandemctl: %s: %m\n", path.data);
			rc = EX_CANTCREAT;
		} else if (store_body_open(s, e->body_id, &b, &err) < 0) {
			rc = ctl_store_fail(mb->name, &err);
		} else {
			for (;;) {
				ssize_t got = store_body_read(b, off, chunk,
							      STORE_CHUNK_SIZE, &err);
				if (got < 0) {
					rc = ctl_store_fail(mb->name, &err);
					break;
				}
				if (got == 0)
					break;
				if (write_all(fd, chunk, (size_t)got) < 0) {
					fprintf(stderr, "tandemctl: %s: %m\n",
						path.data);
					rc = EX_IOERR;
					break;
				}
				off += (uint64_t)got;
			}
			store_body_close(&b);
		}
		if (fd >= 0) {
			ts[0].tv_sec = ts[1].tv_sec = e->internaldate;
			ts[0].tv_nsec = ts[1].tv_nsec = 0;
			futimens(fd, ts);
			if (fsync(fd) < 0 || close(fd) < 0)
				rc = rc ? rc : EX_IOERR;
		}
		buf_printf(&uidlist, "%" PRIu32 " ", e->uid);
		if (e->uidl)
			buf_printf(&uidlist, "P%s ", e->uidl);
		buf_printf(&uidlist, ":%s\n", name.data);
		buf_release(&name);
		buf_release(&path);
		buf_release(&info);
	}
	for (size_t k = 0; k < nkw; k++)
		buf_printf(&kwfile, "%zu %s\n", k, kwnames[k]);
	if (!rc) {
		char *p = xasprintf("%s/dovecot-uidlist", dir.data);
		char *q = xasprintf("%s/dovecot-keywords", dir.data);
		if (write_file(p, &uidlist) < 0 ||
		    (nkw && write_file(q, &kwfile) < 0)) {
			fprintf(stderr, "tandemctl: %s: %m\n", dir.data);
			rc = EX_CANTCREAT;
		}
		free(p);
		free(q);
	}
	if (!rc)
		printf("%s: exported %zu\n", mb->name, n);
out:
	for (size_t i = 0; i < n; i++) {
		free(msgs[i].keywords);
		free(msgs[i].uidl);
	}
	for (size_t k = 0; k < nkw; k++)
		free(kwnames[k]);
	free(msgs);
	free(chunk);
	buf_release(&dir);
	buf_release(&uidlist);
	buf_release(&kwfile);
	return rc;
}

int ctl_export_maildir(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct store *s = NULL;
	struct store_mailbox *mbs = NULL, mb;
	struct store_mailbox_iter *it;
	struct store_sub_iter *sit;
	struct store_err err;
	struct buf subs = BUF_INIT;
	const char *name;
	size_t n = 0;
	int rc;

	if ((rc = ctl_parse(argc, argv, 2, 2, false, "export maildir USER PATH",
			    &a)))
		return rc;
	if ((rc = ctl_store(c, a.pos[0], &s)))
		return rc;
	it = store_mailbox_iter_begin(s);
	while (store_mailbox_iter_next(it, &mb)) {
		mbs = xrealloc(mbs, (n + 1) * sizeof(*mbs));
		mbs[n++] = mb;
	}
	if (store_mailbox_iter_end(&it, &err) < 0) {
		rc = ctl_store_fail("mailboxes", &err);
		goto out;
	}
	if (mkdirs(a.pos[1]) < 0) {
		fprintf(stderr, "tandemctl: %s: %m\n", a.pos[1]);
		rc = EX_CANTCREAT;
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i++)
		rc = export_mailbox(s, &mbs[i], a.pos[1]);
	buf_append_str(&subs, "V\t2\n\n");
	sit = store_subscription_iter_begin(s);
	while ((name = store_subscription_iter_next(sit)) != NULL) {
		for (const char *p = name; *p; p++)
			buf_append_c(&subs, *p == '/' ? '\t' : *p);
		buf_append_c(&subs, '\n');
	}
	store_subscription_iter_end(&sit);
	if (!rc) {
		char *p = xasprintf("%s/subscriptions", a.pos[1]);
		if (write_file(p, &subs) < 0) {
			fprintf(stderr, "tandemctl: %s: %m\n", p);
			rc = EX_CANTCREAT;
		}
		free(p);
	}
out:
	free(mbs);
	buf_release(&subs);
	store_unref(&s);
	return rc;
}
