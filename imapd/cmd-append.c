/* cmd-append.c - APPEND (RFC 9051 6.3.12; RFC 3502 MULTIAPPEND; RFC 4315
 * APPENDUID; RFC 7888 LITERAL+; RFC 3516 literal8 data).
 *
 * The message literals are never held in memory: the table entry's
 * .literal hook decides on each literal before the client sends it
 * (size against [limits] max_literal, the mailbox, the append-opts in
 * front of it), the .chunk hook streams the bytes into a store spool
 * (CRLF-normalised; the spool parses the MIME structure on the way and
 * the store keeps it, so FETCH does not parse), and the handler runs once the line is complete and
 * appends every message in one store_append (all or nothing) on a worker.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cmd-append.h"
#include "config.h"
#include "crlf.h"
#include "imapdate.h"
#include "seqset.h"
#include "session.h"
#include "write.h"
#include "xalloc.h"

/* Messages in one MULTIAPPEND. */
#define APPEND_MAX_MESSAGES 1000

struct append_msg {
	struct store_spool *spool; /* also parses the MIME structure, which
				      store_append keeps (store.h) */
	bool binary;       /* literal8: stored as sent */
	bool prev_cr;
	uint32_t flags;
	char *keywords;    /* arena, or NULL */
	int64_t date;      /* 0: now */
	int tzoff;
};

struct append_ctx {
	struct store *st;          /* reference for the worker */
	struct store_mailbox mb;   /* looked up at the first literal */
	struct append_msg *msgs;
	size_t n, cap;
	size_t next_arg;           /* first argument of the next append-opts */
	bool spool_failed;
	struct store_err err;
	struct buf tmp;
	/* worker results */
	struct store_append_req *reqs;
	struct store_append_res *res;
	int rc;
};

static void append_cleanup(struct imap_cmd *cmd)
{
	struct append_ctx *c = cmd->ctx;

	for (size_t i = 0; i < c->n; i++) {
		store_spool_free(&c->msgs[i].spool);
	}
	free(c->msgs);
	free(c->reqs);
	free(c->res);
	buf_release(&c->tmp);
	store_unref(&c->st);
}

/* flag-list = "(" [flag *(SP flag)] ")"  (RFC 9051 9)
 * flag      = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" /
 *             "\Draft" / flag-keyword / flag-extension */
static int parse_flags(struct imap_cmd *cmd, const struct imap_arg *a,
		       struct append_msg *m, const char **err_r)
{
	struct imap_arg *list;
	size_t n;
	struct buf kw = BUF_INIT;

	if (!imap_arg_list(a, &list, &n)) {
		*err_r = "Invalid flag list";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s;
		unsigned bit;

		if (!imap_arg_atom(&list[i], &s) || list[i].len == 0)
			goto bad;
		if (s[0] == '\\') {
			/* \Recent cannot be set (RFC 3501 2.3.2) */
			if (!(bit = imap_sys_flag_bit(s)))
				goto bad;
			m->flags |= bit;
			continue;
		}
		if (list[i].len > 200 || !imap_is_keyword(s, list[i].len))
			goto bad;
		if (kw.len)
			buf_append_c(&kw, ' ');
		buf_append(&kw, s, list[i].len);
	}
	if (kw.len)
		m->keywords = imap_cmd_strndup(cmd, kw.data, kw.len);
	buf_release(&kw);
	return 0;
bad:
	buf_release(&kw);
	*err_r = "Invalid flag in flag list";
	return -1;
}

/* append-opts = [SP flag-list] [SP date-time] *(SP append-ext) */
static int parse_opts(struct imap_cmd *cmd, const struct imap_arg *a,
		      size_t n, struct append_msg *m, const char **err_r)
{
	size_t i = 0;

	if (i < n && a[i].type == IMAP_ARG_LIST) {
		if (parse_flags(cmd, &a[i], m, err_r) < 0)
			return -1;
		i++;
	}
	if (i < n && a[i].type == IMAP_ARG_STRING) {
		if (imapdate_parse_datetime(a[i].str, a[i].len, &m->date,
					    &m->tzoff) < 0) {
			*err_r = "Invalid date-time";
			return -1;
		}
		i++;
	}
	if (i < n) {
		*err_r = "Unsupported APPEND option";
		return -1;
	}
	return 0;
}

static enum imap_literal_action reject(struct imap_cmd *cmd,
				       const struct imap_literal_info *li,
				       const char *code, const char *why)
{
	/* a non-synchronising literal is on its way anyway: BAD (RFC 7888
	 * 4), else NO before the client sends it */
	imap_reply_tagged(cmd, li->sync ? IMAP_NO : IMAP_BAD, code, "%s", why);
	return IMAP_LITERAL_REJECT;
}

/* A tagged BAD from the hook (RFC 6855 4 grammar errors): for a
 * synchronising literal before the client sends it. */
static enum imap_literal_action reject_bad(struct imap_cmd *cmd,
					   const char *why)
{
	imap_reply_bad(cmd, "%s", why);
	return IMAP_LITERAL_REJECT;
}

/* The .literal hook: called for each literal of the command line before
 * the client sends its bytes (synchronising) or as they arrive. */
enum imap_literal_action imap_append_literal(struct imap_cmd *cmd,
					     const struct imap_literal_info *li)
{
	struct imap_session *s = cmd->s;
	struct append_ctx *c = cmd->ctx;
	const char *why;

	/* RFC 6855 4: append-data =/ "UTF8" SP "(" literal8 ")", once
	 * UTF8=ACCEPT is enabled (IMAP4rev2 sessions take UTF-8 too) */
	bool utf8 = li->depth == 1 && li->argc >= 3 &&
		    li->argc <= cmd->nargs &&
		    imap_arg_atom_eq(&cmd->args[li->argc - 2], "UTF8");
	/* top-level arguments before the append-data: for a literal in a
	 * list, argc counts the open list (here after "UTF8") */
	size_t before = utf8 ? li->argc - 2 : li->argc;
	size_t after = utf8 ? li->argc : li->argc + 1;
	if (utf8 && !imap_utf8(s))
		return reject_bad(cmd, "UTF8 APPEND data needs ENABLE "
				       "UTF8=ACCEPT");
	if (utf8 && !li->binary)
		return reject_bad(cmd, "UTF8 APPEND data must be a literal8");
	/* the mailbox name, or a string inside a list: an argument */
	if ((li->depth > 0 && !utf8) || li->argc == 0)
		return IMAP_LITERAL_BUFFER;
	if (!c) {
		c = cmd->ctx = imap_cmd_alloc(cmd, sizeof(*c));
		memset(c, 0, sizeof(*c));
		c->next_arg = 1;
		cmd->cleanup = append_cleanup;
		const char *name = imap_mailbox_arg(cmd, &cmd->args[0], &why);
		if (!name)
			return reject(cmd, li, NULL, why);
		struct store_err err;
		if (store_mailbox_get(s->store, name, &c->mb, &err) < 0) {
			if (err.code == STORE_ERR_NOTFOUND)
				return reject(cmd, li, "TRYCREATE",
					      "Mailbox does not exist");
			imap_reply_store_err(cmd, &err, "APPEND");
			return IMAP_LITERAL_REJECT;
		}
		c->st = store_ref(s->store);
	}
	if (li->size > s->srv->cfg->max_literal)
		return reject(cmd, li, "TOOBIG", "Message too large");
	if (li->size == 0)
		return reject(cmd, li, NULL, "Cannot append an empty message");
	if (c->n >= APPEND_MAX_MESSAGES)
		return reject(cmd, li, "LIMIT", "Too many messages");
	if (utf8 && c->n > 0 && c->next_arg == after)
		return reject_bad(cmd, "One message per UTF8 list");
	if (before < c->next_arg || li->argc > cmd->nargs)
		return reject(cmd, li, NULL, "Invalid APPEND arguments");

	struct append_msg m = {0};
	/* the UTF8 atom is not an append-opt */
	if (parse_opts(cmd, &cmd->args[c->next_arg], before - c->next_arg,
		       &m, &why) < 0) {
		imap_reply_bad(cmd, "%s", why);
		return IMAP_LITERAL_REJECT;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 4;
		c->msgs = xrealloc(c->msgs, c->cap * sizeof(*c->msgs));
	}
	m.spool = store_spool_new();
	/* a UTF8 literal8 is a message with 8-bit headers: stored as sent
	 * but with CRLF line ends like any message */
	m.binary = li->binary && !utf8;
	c->msgs[c->n++] = m;
	c->next_arg = after;
	return IMAP_LITERAL_STREAM;
}

/* The .chunk hook: bytes of the current message literal. */
void imap_append_chunk(struct imap_cmd *cmd, const char *data, size_t len,
		       bool last)
{
	struct append_ctx *c = cmd->ctx;
	struct append_msg *m;

	(void)last;
	if (!c || c->n == 0 || c->spool_failed)
		return;
	m = &c->msgs[c->n - 1];
	if (!m->binary) {
		buf_reset(&c->tmp);
		crlf_normalize(data, len, &m->prev_cr, &c->tmp);
		data = c->tmp.data;
		len = c->tmp.len;
	}
	if (store_spool_write(m->spool, data, len, &c->err) < 0) {
		c->spool_failed = true;
		return;
	}
}

static void append_work(struct imap_cmd *cmd)
{
	struct append_ctx *c = cmd->ctx;

	c->rc = store_append(c->st, c->reqs, c->n, c->res, &c->err);
}

/* resp-code-apnd = "APPENDUID" SP nz-number SP append-uid
 * append-uid = uniqueid / uid-set (MULTIAPPEND)   (RFC 4315 3) */
static enum imap_cmd_result append_done(struct imap_cmd *cmd)
{
	struct append_ctx *c = cmd->ctx;
	struct seqset set = SEQSET_INIT;
	struct buf code = BUF_INIT;
	enum imap_cmd_result r;

	if (c->rc < 0) {
		if (c->err.code == STORE_ERR_NOTFOUND)
			return imap_reply_no(cmd, "TRYCREATE",
					     "Mailbox does not exist");
		return imap_reply_store_err(cmd, &c->err, "APPEND");
	}
	for (size_t i = 0; i < c->n; i++)
		seqset_add(&set, c->res[i].uid, c->res[i].uid);
	seqset_resolve(&set, UINT32_MAX, true);
	buf_printf(&code, "APPENDUID %u ", c->res[0].uidvalidity);
	seqset_write(&set, &code);
	seqset_release(&set);
	r = imap_reply_ok(cmd, code.data, "APPEND completed");
	buf_release(&code);
	return r;
}

/* RFC 9051 6.3.12: append = "APPEND" SP mailbox 1*append-message
 *   append-message = append-opts SP append-data       (RFC 3502 6)
 *   append-opts    = [SP flag-list] [SP date-time] *(SP append-ext)
 *   append-data    = literal / literal8 / append-data-ext
 * Runs when the line is complete; the literals were streamed already. */
enum imap_cmd_result imap_cmd_append(struct imap_cmd *cmd)
{
	struct append_ctx *c = cmd->ctx;

	if (!c || c->n == 0)
		return imap_reply_bad(cmd, "Expected mailbox and message");
	if (cmd->nargs != c->next_arg)
		return imap_reply_bad(cmd, "Unexpected arguments after message");
	for (size_t i = 2; i < cmd->nargs; i++) {
		struct imap_arg *l;
		size_t ln;
		/* RFC 6855 4: "UTF8" SP "(" literal8 ")" exactly */
		if (imap_arg_list(&cmd->args[i], &l, &ln) &&
		    imap_arg_atom_eq(&cmd->args[i - 1], "UTF8") &&
		    (ln != 1 || l[0].type != IMAP_ARG_LITERAL_STREAM))
			return imap_reply_bad(cmd, "Invalid UTF8 APPEND data");
	}
	if (c->spool_failed)
		return imap_reply_store_err(cmd, &c->err, "APPEND");

	c->reqs = xcalloc(c->n, sizeof(*c->reqs));
	c->res = xcalloc(c->n, sizeof(*c->res));
	for (size_t i = 0; i < c->n; i++) {
		struct append_msg *m = &c->msgs[i];

		c->reqs[i].mailbox_id = c->mb.id;
		c->reqs[i].spool = m->spool;
		c->reqs[i].flags = m->flags;
		c->reqs[i].keywords = m->keywords;
		c->reqs[i].internaldate = m->date;
		c->reqs[i].tzoff = m->tzoff;
	}
	return imap_cmd_work(cmd, append_work, append_done);
}
