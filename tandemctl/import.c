/* import.c - tandemctl import maildir|courier: Maildir++ trees from
 * Dovecot and Courier-IMAP, keeping what clients cached.
 *
 *     tandemctl import maildir USER PATH
 *     tandemctl import courier USER PATH
 *
 * PATH is the Maildir root (INBOX); each ".A.B" subdirectory with a cur/
 * is mailbox "A/B" (Maildir++ uses '.' as its separator). For each folder:
 *   - flags come from the file name's info part ":2,DFRST" and keyword
 *     letters a-z, named by the folder's dovecot-keywords file ("N name");
 *     files in new/ are unseen;
 *   - Dovecot: dovecot-uidlist ("3 V<uidvalidity> N<uidnext> ..." then
 *     "<uid> [<key><value>...] :<file base name>", or the version 1 form
 *     "1 <uidvalidity> <uidnext>" then "<uid> <file>") gives UIDVALIDITY,
 *     UIDs and UIDNEXT, kept as they are so IMAP clients keep their caches;
 *     a P<uidl> field is a POP3 UIDL that Dovecot announced and is kept as
 *     the message's legacy UIDL. Without P, Dovecot's default UIDL format
 *     %08Xu%08Xv follows from the kept UID and UIDVALIDITY by itself;
 *   - Courier: courierimapuiddb ("1 <uidvalidity> <uidnext>" then
 *     "<uid> <file>") gives the UIDs; courierpop3dsizelist gives the
 *     UIDLs Courier's POP3 server announced: "/2 <next> <uidv>" or "/3 .."
 *     headers with lines "<file> <size> <uid>:<uidv>[:n]" announce
 *     "UID<uid>-<uidv>", "/1" lines "<file> <size> <uid>" announce
 *     "UID<uid>", and header-less lines "<file> <size>" announce the file
 *     name with bytes outside 0x21-0x7e and ' " + written as +XX.
 * Every message carries an import key (folder and file base name), so a
 * second run adds nothing twice. A message that cannot be read is
 * reported with its file name and the rest goes on; the exit status is
 * then 65 (EX_DATAERR).
 *
 * The source must be readable by the user tandemctl runs as (the [server]
 * user when started as root).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "crlf.h"
#include "tandemctl-private.h"
#include "xalloc.h"

/* ---- shared with import-mbox.c and export.c -------------------------- */

int import_file_spool(const char *path, struct store_spool **sp_r,
		      struct buf *why)
{
	struct store_spool *sp;
	struct store_err err;
	struct buf out = BUF_INIT;
	char in[65536];
	bool prev_cr = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		buf_printf(why, "%s", strerror(errno));
		return -1;
	}
	sp = store_spool_new();
	for (;;) {
		ssize_t n = read(fd, in, sizeof(in));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			buf_printf(why, "%s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		buf_reset(&out);
		crlf_normalize(in, (size_t)n, &prev_cr, &out);
		if (store_spool_write(sp, out.data, out.len, &err) < 0) {
			buf_printf(why, "%s", err.msg);
			goto fail;
		}
	}
	close(fd);
	buf_release(&out);
	*sp_r = sp;
	return 0;
fail:
	close(fd);
	buf_release(&out);
	store_spool_free(&sp);
	return -1;
}

int import_mailbox(struct import_ctx *ic, const char *name,
		   struct store_mailbox *mb_r)
{
	struct store_err err;

	if (store_mailbox_get(ic->s, name, mb_r, &err) == 0)
		return 0;
	if (store_mailbox_create(ic->s, name, 0, &err) < 0 &&
	    err.code != STORE_ERR_EXISTS) {
		ic->rc = ctl_store_fail(name, &err);
		return -1;
	}
	if (store_mailbox_get(ic->s, name, mb_r, &err) < 0) {
		ic->rc = ctl_store_fail(name, &err);
		return -1;
	}
	return 0;
}

int import_append(struct import_ctx *ic, struct store_append_req *rq,
		  const char *what)
{
	struct store_append_res res;
	struct store_err err;

	if (store_append(ic->s, rq, 1, &res, &err) < 0) {
		fprintf(stderr, "tandemctl: %s: %s\n", what, err.msg);
		ic->failed++;
		if (err.code == STORE_ERR_TEMP)
			ic->rc = EX_TEMPFAIL;
		else if (ic->rc == 0)
			ic->rc = EX_DATAERR;
		return -1;
	}
	if (res.uid == 0)
		ic->skipped++;
	else
		ic->added++;
	return 0;
}

void import_report(struct import_ctx *ic, const char *mailbox)
{
	printf("%s: added %u, already there %u, failed %u\n", mailbox,
	       ic->added - ic->rep_added, ic->skipped - ic->rep_skipped,
	       ic->failed - ic->rep_failed);
	ic->rep_added = ic->added;
	ic->rep_skipped = ic->skipped;
	ic->rep_failed = ic->failed;
}

/* ---- Maildir ----------------------------------------------------------- */

struct md_msg {
	char *path;    /* file to read */
	char *base;    /* file name up to ':' */
	uint32_t uid;  /* from the uid list, 0 if none */
	char *uidl;    /* announced POP3 UIDL, or NULL */
	uint32_t flags;
	char kwletters[27];
	int64_t mtime;
};

struct md_folder {
	struct md_msg *m;
	size_t n, cap;
	uint32_t uidvalidity, uidnext; /* 0 when unknown */
	char *kwnames[26];
};

static struct md_msg *md_find(struct md_folder *f, const char *base)
{
	/* Linear search would be quadratic on big folders; the messages are
	 * sorted by base name before the lists are read. */
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(f->m[mid].base, base);
		if (c == 0)
			return &f->m[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int cmp_base(const void *a, const void *b)
{
	return strcmp(((const struct md_msg *)a)->base,
		      ((const struct md_msg *)b)->base);
}

/* Messages with a UID first, in UID order; then the rest by name (Maildir
 * names start with the delivery time). */
static int cmp_uid(const void *a, const void *b)
{
	const struct md_msg *x = a, *y = b;

	if (x->uid && y->uid)
		return x->uid < y->uid ? -1 : x->uid > y->uid;
	if (x->uid || y->uid)
		return x->uid ? -1 : 1;
	return strcmp(x->base, y->base);
}

static void md_scan(struct md_folder *f, const char *dir, const char *sub)
{
	char *path = xasprintf("%s/%s", dir, sub);
	DIR *d = opendir(path);
	struct dirent *de;

	if (!d) {
		free(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct md_msg m = {0};
		struct stat st;
		const char *info;

		if (de->d_name[0] == '.')
			continue;
		m.path = xasprintf("%s/%s", path, de->d_name);
		if (stat(m.path, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(m.path);
			continue;
		}
		m.mtime = st.st_mtime;
		info = strchr(de->d_name, ':');
		m.base = xstrndup(de->d_name, info ? (size_t)(info - de->d_name)
						   : strlen(de->d_name));
		if (info && strncmp(info, ":2,", 3) == 0) {
			size_t k = 0;
			for (const char *p = info + 3; *p; p++) {
				switch (*p) {
				case 'D': m.flags |= STORE_F_DRAFT; break;
				case 'F': m.flags |= STORE_F_FLAGGED; break;
				case 'R': m.flags |= STORE_F_ANSWERED; break;
				case 'S': m.flags |= STORE_F_SEEN; break;
				case 'T': m.flags |= STORE_F_DELETED; break;
				default:
					if (*p >= 'a' && *p <= 'z' && k < 26)
						m.kwletters[k++] = *p;
				}
			}
		}
		if (f->n == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 64;
			f->m = xrealloc(f->m, f->cap * sizeof(*f->m));
		}
		f->m[f->n++] = m;
	}
	closedir(d);
	free(path);
}

static FILE *open_in(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(p, "r");

	free(p);
	return fp;
}

static void md_read_keywords(struct md_folder *f, const char *dir)
{
	FILE *fp = open_in(dir, "dovecot-keywords");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (!fp)
		return;
	while ((len = getline(&line, &cap, fp)) > 0) {
		char *sp, *end;
		unsigned long idx;

		line[strcspn(line, "\r\n")] = '\0';
		idx = strtoul(line, &end, 10);
		sp = end;
		if (end == line || *sp != ' ' || idx >= 26 || !sp[1])
			continue;
		free(f->kwnames[idx]);
		f->kwnames[idx] = xstrdup(sp + 1);
	}
	free(line);
	fclose(fp);
}

/* dovecot-uidlist, versions 1 and 3. */
static void md_read_dovecot_uidlist(struct md_folder *f, const char *dir)
{
	FILE *fp = open_in(dir, "dovecot-uidlist");
	char *line = NULL;
	size_t cap = 0;
	int version = 0;

	if (!fp)
		return;
	if (getline(&line, &cap, fp) > 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "3 ", 2) == 0) {
			version = 3;
			for (char *tok = strtok(line + 2, " "); tok;
			     tok = strtok(NULL, " ")) {
				if (tok[0] == 'V')
					f->uidvalidity = (uint32_t)strtoul(tok + 1, NULL, 10);
				else if (tok[0] == 'N')
					f->uidnext = (uint32_t)strtoul(tok + 1, NULL, 10);
			}
		} else if (strncmp(line, "1 ", 2) == 0) {
			unsigned long v = 0, nx = 0;
			version = 1;
			if (sscanf(line + 2, "%lu %lu", &v, &nx) == 2) {
				f->uidvalidity = (uint32_t)v;
				f->uidnext = (uint32_t)nx;
			}
		}
	}
	while (version && getline(&line, &cap, fp) > 0) {
		char *p, *end, *name = NULL, *uidl = NULL;
		unsigned long uid;
		struct md_msg *m;

		line[strcspn(line, "\r\n")] = '\0';
		uid = strtoul(line, &end, 10);
		if (end == line || *end != ' ' || uid == 0 || uid >= UINT32_MAX)
			continue;
		p = end + 1;
		if (version == 1) {
			name = p;
		} else {
			/* Extension fields up to " :" then the file name. */
			while (*p && *p != ':') {
				char *sp = strchr(p, ' ');
				if (*p == 'P')
					uidl = p + 1;
				if (!sp)
					break;
				*sp = '\0';
				p = sp + 1;
			}
			if (*p == ':')
				name = p + 1;
		}
		if (!name)
			continue;
		name[strcspn(name, ":")] = '\0';
		m = md_find(f, name);
		if (!m)
			continue;
		m->uid = (uint32_t)uid;
		if (uidl && *uidl)
			m->uidl = xstrdup(uidl);
	}
	free(line);
	fclose(fp);
}

static void courier_uidl(const char *base, struct buf *out)
{
	for (const unsigned char *p = (const unsigned char *)base; *p; p++) {
		if (*p < 0x21 || *p > 0x7e || *p == '\'' || *p == '"' ||
		    *p == '+')
			buf_printf(out, "+%02X", *p);
		else
			buf_append_c(out, (char)*p);
	}
}

static void md_read_courier(struct md_folder *f, const char *dir)
{
	FILE *fp = open_in(dir, "courierimapuiddb");
	char *line = NULL;
	size_t cap = 0;
	int pop3_version = 0;

	if (fp) {
		unsigned long v, nx;
		if (getline(&line, &cap, fp) > 0 &&
		    sscanf(line, "1 %lu %lu", &v, &nx) == 2) {
			f->uidvalidity = (uint32_t)v;
			f->uidnext = (uint32_t)nx;
			while (getline(&line, &cap, fp) > 0) {
				char *end, *name;
				unsigned long uid;
				struct md_msg *m;

				line[strcspn(line, "\r\n")] = '\0';
				uid = strtoul(line, &end, 10);
				if (end == line || *end != ' ' || uid == 0)
					continue;
				name = end + 1;
				name[strcspn(name, ":")] = '\0';
				if ((m = md_find(f, name)) != NULL)
					m->uid = (uint32_t)uid;
				if (uid >= f->uidnext)
					f->uidnext = (uint32_t)uid + 1;
			}
		}
		fclose(fp);
	}
	fp = open_in(dir, "courierpop3dsizelist");
	if (!fp) {
		free(line);
		return;
	}
	while (getline(&line, &cap, fp) > 0) {
		char name[1024];
		unsigned long size, uid = 0, uidv = 0;
		struct buf uidl = BUF_INIT;
		struct md_msg *m;
		int n;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '/') {
			pop3_version = atoi(line + 1);
			continue;
		}
		n = sscanf(line, "%1023s %lu %lu:%lu", name, &size, &uid, &uidv);
		if (n < 2)
			continue;
		name[strcspn(name, ":")] = '\0';
		if (pop3_version == 0 || n == 2)
			courier_uidl(name, &uidl);
		else if (n == 4 && uidv)
			buf_printf(&uidl, "UID%lu-%lu", uid, uidv);
		else
			buf_printf(&uidl, "UID%lu", uid);
		if ((m = md_find(f, name)) != NULL) {
			free(m->uidl);
			m->uidl = xstrdup(uidl.data);
		}
		buf_release(&uidl);
	}
	free(line);
	fclose(fp);
}

static void md_folder_release(struct md_folder *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->m[i].path);
		free(f->m[i].base);
		free(f->m[i].uidl);
	}
	free(f->m);
	for (int i = 0; i < 26; i++)
		free(f->kwnames[i]);
	memset(f, 0, sizeof(*f));
}

static void import_folder(struct import_ctx *ic, const char *dir,
			  const char *mailbox, bool courier)
{
	struct md_folder f = {0};
	struct store_mailbox mb;
	struct store_err err;
	bool keep_uids;

	md_scan(&f, dir, "cur");
	md_scan(&f, dir, "new");
	if (f.n) /* qsort's base must not be NULL, even for 0 items */
		qsort(f.m, f.n, sizeof(*f.m), cmp_base);
	md_read_keywords(&f, dir);
	if (courier)
		md_read_courier(&f, dir);
	else
		md_read_dovecot_uidlist(&f, dir);
	if (f.n)
		qsort(f.m, f.n, sizeof(*f.m), cmp_uid);
	if (import_mailbox(ic, mailbox, &mb) < 0)
		goto out;

	/* The source's UIDs are kept when the mailbox is new to them: empty
	 * (then it takes the source's UIDVALIDITY) or from an earlier run of
	 * this import (same UIDVALIDITY). */
	keep_uids = f.uidvalidity != 0 &&
		    (mb.uidvalidity == f.uidvalidity || mb.messages == 0);
	if (keep_uids && mb.uidvalidity != f.uidvalidity) {
		if (store_mailbox_set_uids(ic->s, mb.id, f.uidvalidity,
					   mb.uidnext, &err) < 0) {
			fprintf(stderr, "tandemctl: %s: cannot keep UIDVALIDITY "
					"%" PRIu32 ": %s\n",
				mailbox, f.uidvalidity, err.msg);
			keep_uids = false;
		}
	} else if (f.uidvalidity && !keep_uids) {
		fprintf(stderr, "tandemctl: %s: already holds other mail; "
				"new UIDs are given\n", mailbox);
	}

	for (size_t i = 0; i < f.n; i++) {
		struct md_msg *m = &f.m[i];
		struct store_append_req rq = {0};
		struct store_mailbox now;
		struct buf why = BUF_INIT, kw = BUF_INIT, key = BUF_INIT;

		if (import_file_spool(m->path, &rq.spool, &why) < 0) {
			fprintf(stderr, "tandemctl: %s: %s\n", m->path, why.data);
			ic->failed++;
			if (!ic->rc)
				ic->rc = EX_DATAERR;
			buf_release(&why);
			continue;
		}
		for (const char *k = m->kwletters; *k; k++) {
			const char *name = f.kwnames[*k - 'a'];
			if (!name)
				continue;
			if (kw.len)
				buf_append_c(&kw, ' ');
			buf_append_str(&kw, name);
		}
		buf_printf(&key, "maildir:%" PRId64 ":%s", mb.id, m->base);
		rq.mailbox_id = mb.id;
		rq.flags = m->flags;
		rq.keywords = kw.len ? kw.data : NULL;
		rq.internaldate = m->mtime;
		rq.legacy_uidl = m->uidl;
		rq.import_key = key.data;
		if (keep_uids && m->uid &&
		    store_mailbox_get_by_id(ic->s, mb.id, &now, &err) == 0 &&
		    m->uid >= now.uidnext)
			rq.uid = m->uid;
		import_append(ic, &rq, m->path);
		store_spool_free(&rq.spool);
		buf_release(&why);
		buf_release(&kw);
		buf_release(&key);
	}
	if (keep_uids && f.uidnext &&
	    store_mailbox_get_by_id(ic->s, mb.id, &mb, &err) == 0 &&
	    f.uidnext > mb.uidnext &&
	    store_mailbox_set_uids(ic->s, mb.id, mb.uidvalidity, f.uidnext,
				   &err) < 0)
		fprintf(stderr, "tandemctl: %s: cannot keep UIDNEXT: %s\n",
			mailbox, err.msg);
	import_report(ic, mailbox);
out:
	md_folder_release(&f);
}

static bool is_maildir(const char *dir)
{
	char *cur = xasprintf("%s/cur", dir);
	struct stat st;
	bool ok = stat(cur, &st) == 0 && S_ISDIR(st.st_mode);

	free(cur);
	return ok;
}

/* Subscriptions: Dovecot's "subscriptions" (a "V\t2" header, then names
 * with the hierarchy as TABs) or Courier's "courierimapsubscribed"
 * ("INBOX.A.B" names). */
static void import_subscriptions(struct import_ctx *ic, const char *root,
				 bool courier)
{
	FILE *fp = open_in(root, courier ? "courierimapsubscribed"
					 : "subscriptions");
	char *line = NULL;
	size_t cap = 0;
	struct store_err err;

	if (!fp)
		return;
	while (getline(&line, &cap, fp) > 0) {
		char *name = line;

		name[strcspn(name, "\r\n")] = '\0';
		if (!*name || (name[0] == 'V' && name[1] == '\t'))
			continue;
		if (courier) {
			if (strncmp(name, "INBOX.", 6) == 0)
				name += 6;
			for (char *p = name; *p; p++)
				if (*p == '.')
					*p = '/';
		} else {
			for (char *p = name; *p; p++)
				if (*p == '\t')
					*p = '/';
		}
		if (store_subscribe(ic->s, name, true, &err) < 0)
			fprintf(stderr, "tandemctl: subscribe %s: %s\n", name,
				err.msg);
	}
	free(line);
	fclose(fp);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int import_tree(struct ctl *c, int argc, char **argv, bool courier)
{
	struct ctl_args a;
	struct import_ctx ic = {0};
	const char *root;
	DIR *d;
	struct dirent *de;
	int rc;

	if ((rc = ctl_parse(argc, argv, 2, 2, false,
			    courier ? "import courier USER PATH"
				    : "import maildir USER PATH",
			    &a)))
		return rc;
	root = a.pos[1];
	if ((rc = ctl_store(c, a.pos[0], &ic.s)))
		return rc;
	if (!is_maildir(root)) {
		fprintf(stderr, "tandemctl: %s: not a Maildir (no cur/)\n", root);
		store_unref(&ic.s);
		return EX_NOINPUT;
	}
	import_folder(&ic, root, "INBOX", courier);
	if ((d = opendir(root)) != NULL) {
		char **names = NULL;
		size_t n = 0;

		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] != '.' || !strcmp(de->d_name, ".") ||
			    !strcmp(de->d_name, ".."))
				continue;
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
		closedir(d);
		/* Parents before children, so "A" exists before "A/B". */
		if (n)
			qsort(names, n, sizeof(*names), cmp_name);
		for (size_t i = 0; i < n; i++) {
			char *dir = xasprintf("%s/%s", root, names[i]);
			char *mailbox = xstrdup(names[i] + 1);

			for (char *p = mailbox; *p; p++)
				if (*p == '.')
					*p = '/';
			if (is_maildir(dir) && *mailbox)
				import_folder(&ic, dir, mailbox, courier);
			free(dir);
			free(mailbox);
			free(names[i]);
		}
		free(names);
	}
	import_subscriptions(&ic, root, courier);
	printf("total: added %u, already there %u, failed %u\n", ic.added,
	       ic.skipped, ic.failed);
	store_unref(&ic.s);
	return ic.rc;
}

int ctl_import_maildir(struct ctl *c, int argc, char **argv)
{
	return import_tree(c, argc, argv, false);
}

int ctl_import_courier(struct ctl *c, int argc, char **argv)
{
	return import_tree(c, argc, argv, true);
}
