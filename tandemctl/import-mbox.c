/* import-mbox.c - tandemctl import mbox USER FILE [MAILBOX].
 *
 * An mbox holds messages each starting with a "From " line at the start
 * of the file or after an empty line (the empty line before it is the
 * separator, not message text). Quoted body lines ">From ", ">>From ",
 * ... lose one '>' (mboxrd; for mboxo files this restores ">From " lines
 * too, the only reading that does not corrupt mboxrd files).
 * Metadata headers of mail readers set flags and are not stored:
 *   Status:   R -> \Seen            X-Status: A -> \Answered, F ->
 *   \Flagged, T -> \Draft, D -> \Deleted     X-Keywords: keywords
 * and X-UID, X-IMAP, X-IMAPbase, Content-Length are dropped as well.
 * INTERNALDATE comes from the date on the "From " line.
 * A message whose first line is not a header field is damaged: it is
 * reported as "FILE: message N: ..." and skipped; the rest is imported
 * (exit status 65). Each message's import key is a hash of its stored
 * bytes and its rank among identical ones, so a second run adds nothing.
 */
#include <ctype.h>
#include <gnutls/crypto.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "tandemctl-private.h"
#include "xalloc.h"

struct mbox_msg {
	struct store_spool *spool;
	gnutls_hash_hd_t hash;
	uint32_t flags;
	struct buf keywords;
	int64_t date;
	bool in_header, dropping, damaged;
	unsigned pending_blank; /* empty lines held back */
	unsigned lines;
	const char *why;
};

/* Digests seen so far in this file, to rank identical messages. */
struct digests {
	unsigned char (*d)[32];
	size_t n;
};

static unsigned digest_rank(struct digests *ds, const unsigned char *d)
{
	unsigned rank = 0;

	for (size_t i = 0; i < ds->n; i++)
		rank += memcmp(ds->d[i], d, 32) == 0;
	ds->d = xrealloc(ds->d, (ds->n + 1) * sizeof(*ds->d));
	memcpy(ds->d[ds->n++], d, 32);
	return rank;
}

static void put(struct mbox_msg *m, const char *p, size_t n)
{
	struct store_err err;

	if (m->damaged)
		return;
	gnutls_hash(m->hash, p, n);
	if (store_spool_write(m->spool, p, n, &err) < 0) {
		m->damaged = true;
		m->why = "cannot spool";
	}
}

static bool header_name_is(const char *line, const char *name)
{
	size_t n = strlen(name);
	return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static void meta_header(struct mbox_msg *m, const char *line)
{
	const char *v = strchr(line, ':') + 1;

	if (header_name_is(line, "Status")) {
		if (strchr(v, 'R'))
			m->flags |= STORE_F_SEEN;
	} else if (header_name_is(line, "X-Status")) {
		for (; *v; v++) {
			switch (*v) {
			case 'A': m->flags |= STORE_F_ANSWERED; break;
			case 'F': m->flags |= STORE_F_FLAGGED; break;
			case 'T': m->flags |= STORE_F_DRAFT; break;
			case 'D': m->flags |= STORE_F_DELETED; break;
			}
		}
	} else if (header_name_is(line, "X-Keywords")) {
		char *copy = xstrdup(v);
		for (char *tok = strtok(copy, " ,\t\r\n"); tok;
		     tok = strtok(NULL, " ,\t\r\n")) {
			if (m->keywords.len)
				buf_append_c(&m->keywords, ' ');
			buf_append_str(&m->keywords, tok);
		}
		free(copy);
	}
}

static bool is_meta_header(const char *line)
{
	static const char *const names[] = {"Status", "X-Status", "X-Keywords",
					    "X-UID", "X-IMAP", "X-IMAPbase",
					    "Content-Length"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (header_name_is(line, names[i]))
			return true;
	return false;
}

static bool looks_like_header(const char *line)
{
	const char *p = line;

	while (*p > 32 && *p < 127 && *p != ':')
		p++;
	return p > line && *p == ':';
}

static int64_t from_line_date(const char *line)
{
	/* "From sender Tue Nov 25 16:45:35 2026" (asctime form). */
	const char *p = strchr(line + 5, ' ');
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	while (p && *p == ' ')
		p++;
	if (p && strptime(p, "%a %b %d %H:%M:%S %Y", &tm))
		return (int64_t)timegm(&tm);
	return 0;
}

static void msg_begin(struct mbox_msg *m, const char *from_line)
{
	memset(m, 0, sizeof(*m));
	m->spool = store_spool_new();
	gnutls_hash_init(&m->hash, GNUTLS_DIG_SHA256);
	m->in_header = true;
	m->date = from_line ? from_line_date(from_line) : 0;
}

static void msg_line(struct mbox_msg *m, char *line, size_t len)
{
	bool had_nl = len && line[len - 1] == '\n';

	if (had_nl)
		len--;
	if (len && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	m->lines++;
	if (m->in_header) {
		if (len == 0) {
			m->in_header = false;
		} else if (m->dropping && (line[0] == ' ' || line[0] == '\t')) {
			return; /* continuation of a dropped field */
		} else if (m->lines == 1 && !looks_like_header(line)) {
			m->damaged = true;
			m->why = "no header fields (damaged message)";
			return;
		} else {
			m->dropping = looks_like_header(line) &&
				      is_meta_header(line);
			if (m->dropping) {
				meta_header(m, line);
				return;
			}
		}
	}
	if (!m->in_header && len == 0 && had_nl) {
		m->pending_blank++;
		return;
	}
	for (; m->pending_blank; m->pending_blank--)
		put(m, "\r\n", 2);
	if (line[0] == '>') {
		const char *p = line;
		while (*p == '>')
			p++;
		if (strncmp(p, "From ", 5) == 0) {
			line++;
			len--;
		}
	}
	put(m, line, len);
	if (had_nl)
		put(m, "\r\n", 2);
}

static void msg_end(struct import_ctx *ic, struct mbox_msg *m,
		    struct digests *ds, const char *file, unsigned no,
		    int64_t mailbox_id)
{
	unsigned char d[32];
	char hex[65];
	struct buf key = BUF_INIT, what = BUF_INIT;
	struct store_append_req rq = {0};

	/* The last empty line is the separator before the next "From ". */
	if (m->pending_blank)
		m->pending_blank--;
	for (; m->pending_blank; m->pending_blank--)
		put(m, "\r\n", 2);
	gnutls_hash_deinit(m->hash, d);
	buf_printf(&what, "%s: message %u", file, no);
	if (m->damaged) {
		fprintf(stderr, "tandemctl: %s: %s, skipped\n", what.data,
			m->why);
		ic->failed++;
		if (!ic->rc)
			ic->rc = EX_DATAERR;
		goto out;
	}
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	buf_printf(&key, "mbox:%" PRId64 ":%s:%u", mailbox_id, hex,
		   digest_rank(ds, d));
	rq.mailbox_id = mailbox_id;
	rq.spool = m->spool;
	rq.flags = m->flags;
	rq.keywords = m->keywords.len ? m->keywords.data : NULL;
	rq.internaldate = m->date;
	rq.import_key = key.data;
	import_append(ic, &rq, what.data);
out:
	store_spool_free(&m->spool);
	buf_release(&m->keywords);
	buf_release(&key);
	buf_release(&what);
}

int ctl_import_mbox(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct import_ctx ic = {0};
	struct store_mailbox mb;
	struct digests ds = {0};
	struct mbox_msg m;
	const char *file, *mailbox;
	char *line = NULL;
	size_t cap = 0, garbage = 0;
	ssize_t len;
	bool in_msg = false, prev_blank = true;
	unsigned no = 0;
	FILE *fp;
	int rc;

	if ((rc = ctl_parse(argc, argv, 2, 3, false,
			    "import mbox USER FILE [MAILBOX]", &a)))
		return rc;
	file = a.pos[1];
	mailbox = a.npos > 2 ? a.pos[2] : "INBOX";
	if ((rc = ctl_store(c, a.pos[0], &ic.s)))
		return rc;
	if (!(fp = fopen(file, "r"))) {
		fprintf(stderr, "tandemctl: %s: %m\n", file);
		store_unref(&ic.s);
		return EX_NOINPUT;
	}
	if (import_mailbox(&ic, mailbox, &mb) < 0)
		goto out;
	while ((len = getline(&line, &cap, fp)) > 0) {
		if (prev_blank && strncmp(line, "From ", 5) == 0) {
			if (in_msg)
				msg_end(&ic, &m, &ds, file, no, mb.id);
			msg_begin(&m, line);
			in_msg = true;
			no++;
			prev_blank = false;
			continue;
		}
		prev_blank = line[0] == '\n' || (line[0] == '\r' && line[1] == '\n');
		if (!in_msg) {
			garbage += (size_t)len;
			continue;
		}
		msg_line(&m, line, (size_t)len);
	}
	if (in_msg)
		msg_end(&ic, &m, &ds, file, no, mb.id);
	if (garbage) {
		fprintf(stderr, "tandemctl: %s: %zu bytes before the first "
				"\"From \" line are not a message, skipped\n",
			file, garbage);
		ic.failed++;
		if (!ic.rc)
			ic.rc = EX_DATAERR;
	}
	import_report(&ic, mailbox);
out:
	free(line);
	free(ds.d);
	fclose(fp);
	store_unref(&ic.s);
	return ic.rc;
}
