/* session.c - one IMAP session per connection: the conn callback (one
 * switch), feeding the parser, literal decisions, the dispatcher, the
 * command life cycle (arena, continuations, jobs, raw lines) and the only
 * writers of replies. See session.h. */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "config.h"
#include "conn.h"
#include "mutf7.h"
#include "work.h"
#include "write.h"
#include "xalloc.h"

/* ---- per-command arena ------------------------------------------------ */

struct imap_arena {
	struct imap_arena *next;
	size_t used, cap;
	max_align_t data[];
};

void *imap_cmd_alloc(struct imap_cmd *cmd, size_t n)
{
	struct imap_arena *a = cmd->arena;
	const size_t align = sizeof(max_align_t);

	n = (n + align - 1) / align * align;
	if (n == 0)
		n = align;
	if (!a || a->cap - a->used < n) {
		size_t cap = n > 4000 ? n : 4000;
		a = xmalloc(sizeof(*a) + cap);
		a->next = cmd->arena;
		a->used = 0;
		a->cap = cap;
		cmd->arena = a;
	}
	void *p = (char *)a->data + a->used;
	a->used += n;
	memset(p, 0, n);
	return p;
}

char *imap_cmd_strndup(struct imap_cmd *cmd, const char *s, size_t n)
{
	char *p = imap_cmd_alloc(cmd, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *imap_cmd_strdup(struct imap_cmd *cmd, const char *s)
{
	return imap_cmd_strndup(cmd, s, strlen(s));
}

static struct imap_cmd *cmd_new(struct imap_session *s, const char *tag)
{
	struct imap_cmd *cmd = xcalloc(1, sizeof(*cmd));

	cmd->s = s;
	cmd->tag = imap_cmd_strdup(cmd, tag ? tag : "*");
	return cmd;
}

static void cmd_free(struct imap_cmd **cmdp)
{
	struct imap_cmd *cmd = *cmdp;

	if (!cmd)
		return;
	if (cmd->cleanup)
		cmd->cleanup(cmd);
	while (cmd->arena) {
		struct imap_arena *next = cmd->arena->next;
		free(cmd->arena);
		cmd->arena = next;
	}
	free(cmd);
	*cmdp = NULL;
}

/* ---- life cycle ------------------------------------------------------- */

static void process_input(struct imap_session *s);

static void session_free(struct imap_session *s)
{
	cmd_free(&s->cmd);
	imap_notify_free(s);
	imap_view_close(&s->view);
	seqset_release(&s->searchres);
	store_unref(&s->store);
	imap_parser_free(&s->parser);
	free(s->user);
	buf_release(&s->out);
	log_debug(&s->log, "session freed");
	free(s);
}

static void arm_timeout(struct imap_session *s)
{
	const struct config *cfg = s->srv->cfg;
	unsigned sec;

	if (!s->conn || s->busy == IMAP_BUSY_DELAY)
		return;
	/* RFC 9051 5.4: an autologout timer of at least 30 minutes once
	 * logged in; the shorter pre-login limit before. */
	sec = s->state == IMAP_STATE_NOT_AUTHENTICATED ? cfg->prelogin_timeout
						       : cfg->imap_idle_timeout;
	if (sec == 0)
		sec = 1800;
	conn_set_timeout(s->conn, sec * 1000u);
}

void imap_enter_state(struct imap_session *s, enum imap_state st)
{
	if (st != IMAP_STATE_SELECTED && s->view.mailbox_id)
		imap_view_close(&s->view);
	/* RFC 5182 2.1: SELECT, EXAMINE, CLOSE, UNSELECT empty "$" */
	seqset_release(&s->searchres);
	s->state = st;
	arm_timeout(s);
}

bool imap_plaintext_ok(const struct imap_session *s)
{
	switch (s->srv->cfg->plaintext_without_tls) {
	case PLAINTEXT_YES:
		return true;
	case PLAINTEXT_NO:
		return s->tls;
	case PLAINTEXT_LOOPBACK:
		return s->tls || (s->conn && conn_info(s->conn)->loopback);
	}
	return s->tls;
}

bool imap_rev2(const struct imap_session *s)
{
	return (s->enabled & IMAP_ENABLED_IMAP4REV2) != 0;
}

bool imap_utf8(const struct imap_session *s)
{
	return (s->enabled & (IMAP_ENABLED_IMAP4REV2 | IMAP_ENABLED_UTF8)) != 0;
}

char imap_separator(const struct imap_session *s)
{
	return s->srv->cfg->imap_separator == '.' ? '.' : '/';
}

void imap_close(struct imap_session *s)
{
	s->closing = true;
	if (s->conn)
		conn_close(s->conn);
}

bool imap_output_full(const struct imap_session *s)
{
	return s->conn && conn_output_full(s->conn);
}

/* ---- replies ---------------------------------------------------------- */

static void queue(struct imap_session *s, const void *p, size_t n)
{
	if (s->conn)
		conn_write(s->conn, p, n);
}

struct buf *imap_reply_begin(struct imap_session *s)
{
	buf_reset(&s->out);
	buf_append(&s->out, "* ", 2);
	return &s->out;
}

void imap_reply_end(struct imap_session *s)
{
	buf_append(&s->out, "\r\n", 2);
	queue(s, s->out.data, s->out.len);
	buf_reset(&s->out);
	buf_shrink(&s->out, 65536);
}

void imap_reply_flush(struct imap_session *s)
{
	queue(s, s->out.data, s->out.len);
	buf_reset(&s->out);
}

void imap_reply_untagged(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	imap_reply_begin(s);
	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	imap_reply_end(s);
}

void imap_reply_cont(struct imap_session *s, const char *text)
{
	buf_reset(&s->out);
	buf_append(&s->out, "+ ", 2);
	buf_append_str(&s->out, text);
	buf_append(&s->out, "\r\n", 2);
	queue(s, s->out.data, s->out.len);
	buf_reset(&s->out);
}

static void bye(struct imap_session *s, const char *text)
{
	imap_reply_untagged(s, "BYE %s", text);
	imap_close(s);
}

/* "tag STATUS [code] text": text with CR/LF made spaces, bounded. */
static void tagged_line(struct imap_session *s, const char *tag,
			enum imap_status st, const char *code, const char *fmt,
			va_list ap)
{
	static const char *const names[] = {"OK", "NO", "BAD"};
	size_t start;

	buf_reset(&s->out);
	buf_printf(&s->out, "%s %s ", tag, names[st]);
	if (code && *code)
		buf_printf(&s->out, "[%s] ", code);
	start = s->out.len;
	buf_vprintf(&s->out, fmt, ap);
	if (s->out.len - start > 1000)
		buf_truncate(&s->out, start + 1000);
	for (size_t i = start; i < s->out.len; i++)
		if (s->out.data[i] == '\r' || s->out.data[i] == '\n' ||
		    s->out.data[i] == '\0')
			s->out.data[i] = ' ';
	buf_append(&s->out, "\r\n", 2);
	queue(s, s->out.data, s->out.len);
	buf_reset(&s->out);
}

static enum imap_cmd_result vtagged(struct imap_cmd *cmd, enum imap_status st,
				    const char *code, const char *fmt,
				    va_list ap)
{
	struct imap_session *s = cmd->s;

	/* Pending mailbox changes go out before the completion (RFC 9051
	 * 7.5.1), but not with a BAD (the command did not run) and no
	 * EXPUNGE while a command using MSNs completes. */
	if (st != IMAP_BAD && s->state == IMAP_STATE_SELECTED &&
	    s->view.mailbox_id && s->conn) {
		bool allow = !(cmd->def && (cmd->def->flags & IMAP_CMDF_USES_MSN));
		if (imap_view_sync(s, allow) < 0) {
			log_info(&s->log, "selected mailbox vanished");
			bye(s, "Selected mailbox was deleted or renamed");
		}
	}
	tagged_line(s, cmd->tag, st, code, fmt, ap);
	cmd->finished = true;
	return IMAP_CMD_DONE;
}

enum imap_cmd_result imap_reply_tagged(struct imap_cmd *cmd,
				       enum imap_status st, const char *code,
				       const char *fmt, ...)
{
	va_list ap;
	enum imap_cmd_result r;

	va_start(ap, fmt);
	r = vtagged(cmd, st, code, fmt, ap);
	va_end(ap);
	return r;
}

enum imap_cmd_result imap_reply_ok(struct imap_cmd *cmd, const char *code,
				   const char *fmt, ...)
{
	va_list ap;
	enum imap_cmd_result r;

	va_start(ap, fmt);
	r = vtagged(cmd, IMAP_OK, code, fmt, ap);
	va_end(ap);
	return r;
}

enum imap_cmd_result imap_reply_no(struct imap_cmd *cmd, const char *code,
				   const char *fmt, ...)
{
	va_list ap;
	enum imap_cmd_result r;

	va_start(ap, fmt);
	r = vtagged(cmd, IMAP_NO, code, fmt, ap);
	va_end(ap);
	return r;
}

/* Counts a bad command; past the limit, BYE and close. */
static void count_bad(struct imap_session *s)
{
	unsigned max = s->srv->cfg->max_bad_commands;

	if (max && ++s->bad_commands >= max && !s->closing) {
		log_info(&s->log, "too many bad commands, closing");
		bye(s, "Too many invalid commands");
	}
}

enum imap_cmd_result imap_reply_bad(struct imap_cmd *cmd, const char *fmt,
				    ...)
{
	va_list ap;
	enum imap_cmd_result r;

	va_start(ap, fmt);
	r = vtagged(cmd, IMAP_BAD, NULL, fmt, ap);
	va_end(ap);
	count_bad(cmd->s);
	return r;
}

enum imap_cmd_result imap_reply_store_err(struct imap_cmd *cmd,
					  const struct store_err *err,
					  const char *what)
{
	const char *code = NULL;

	switch (err->code) {
	case STORE_OK:
	case STORE_ERR_NOTFOUND:
		code = "NONEXISTENT";
		break;
	case STORE_ERR_EXISTS:
		code = "ALREADYEXISTS";
		break;
	case STORE_ERR_INUSE:
		code = "INUSE";
		break;
	case STORE_ERR_TEMP:
		code = "UNAVAILABLE";
		break;
	case STORE_ERR_PERM:
	case STORE_ERR_INVALID:
		code = "CANNOT";
		break;
	case STORE_ERR_TOOBIG:
		code = "TOOBIG";
		break;
	case STORE_ERR_OVERQUOTA:
		code = "OVERQUOTA";
		break;
	case STORE_ERR_CORRUPT:
		/* RFC 9051 7.1: "some relevant data (e.g., the mailbox) are
		 * corrupt" -- the store failed a consistency check */
		code = "CORRUPTION";
		break;
	case STORE_ERR_EXPUNGED:
		code = "EXPUNGEISSUED";
		break;
	case STORE_ERR_HASCHILDREN:
		code = "HASCHILDREN";
		break;
	}
	if (err->code == STORE_ERR_TEMP || err->code == STORE_ERR_CORRUPT)
		log_error(&cmd->s->log, "%s: %s", what, err->msg);
	else
		log_debug(&cmd->s->log, "%s: %s", what, err->msg);
	if (err->code == STORE_ERR_TEMP || err->code == STORE_ERR_CORRUPT)
		return imap_reply_no(cmd, code, "%s: server error, try again "
					       "later", what);
	return imap_reply_no(cmd, code, "%s: %s", what,
			     err->msg[0] ? err->msg : "failed");
}

/* ---- mailbox names ---------------------------------------------------- */

void imap_w_mailbox_name(struct imap_session *s, struct buf *b,
			 const char *name)
{
	char sep = imap_separator(s);
	size_t n = strlen(name);

	if (sep == STORE_SEP) {
		imap_w_mailbox(b, name, n, imap_utf8(s));
		return;
	}
	char *t = xstrndup(name, n);
	for (size_t i = 0; i < n; i++)
		if (t[i] == STORE_SEP)
			t[i] = sep;
	imap_w_mailbox(b, t, n, imap_utf8(s));
	free(t);
}

const char *imap_mailbox_arg(struct imap_cmd *cmd, const struct imap_arg *a,
			     const char **why_r)
{
	struct imap_session *s = cmd->s;
	char sep = imap_separator(s);
	const char *v;
	size_t n;
	char *r;

	if (!imap_arg_astring(a, &v, &n)) {
		*why_r = "Invalid mailbox name";
		return NULL;
	}
	if (memchr(v, '\0', n)) {
		*why_r = "Invalid mailbox name";
		return NULL;
	}
	if (imap_utf8(s)) {
		if (!imap_utf8_valid(v, n)) {
			*why_r = "Mailbox name is not valid UTF-8";
			return NULL;
		}
		r = imap_cmd_strndup(cmd, v, n);
	} else {
		struct buf u = BUF_INIT;
		if (mutf7_decode(v, n, &u) < 0) {
			buf_release(&u);
			*why_r = "Mailbox name is not valid modified UTF-7";
			return NULL;
		}
		r = imap_cmd_strndup(cmd, u.data ? u.data : "", u.len);
		n = u.len;
		buf_release(&u);
	}
	if (sep != STORE_SEP) {
		for (size_t i = 0; i < n; i++) {
			if (r[i] == STORE_SEP) {
				*why_r = "Mailbox name holds '/'";
				return NULL;
			}
			if (r[i] == sep)
				r[i] = STORE_SEP;
		}
	}
	while (n > 1 && r[n - 1] == STORE_SEP)
		r[--n] = '\0';
	if (strcasecmp(r, "INBOX") == 0)
		memcpy(r, "INBOX", 5);
	else if (strncasecmp(r, "INBOX/", 6) == 0)
		memcpy(r, "INBOX", 5);
	return r;
}

/* ---- command life cycle ----------------------------------------------- */

/* The command ended (tagged reply queued, or rejected): free it and read
 * the next one. */
static void cmd_end(struct imap_session *s)
{
	cmd_free(&s->cmd);
	s->literal_skip = false;
	if (s->busy == IMAP_BUSY_CMD || s->busy == IMAP_BUSY_DELAY)
		s->busy = IMAP_IDLE_INPUT;
	if (!s->conn)
		return;
	arm_timeout(s);
	imap_notify_flush(s); /* RFC 5465: no command in progress now */
	if (!s->in_process)
		process_input(s);
}

/* Runs fn and what it leaves pending until the command waits or ends. */
static void cmd_steps(struct imap_session *s, imap_cmd_fn *fn)
{
	struct imap_cmd *cmd = s->cmd;

	for (;;) {
		enum imap_cmd_result r = fn(cmd);

		if (r == IMAP_CMD_DONE || cmd->finished || !s->conn) {
			cmd_end(s);
			return;
		}
		if (s->busy != IMAP_BUSY_DELAY && s->busy != IMAP_BUSY_TLS)
			s->busy = IMAP_BUSY_CMD;
		if (cmd->cont && !conn_output_full(s->conn)) {
			fn = cmd->cont;
			cmd->cont = NULL;
			continue;
		}
		/* a raw line is wanted: read input again */
		if (cmd->line_fn && !s->in_process)
			process_input(s);
		return;
	}
}

/* A command's steps on the loop thread read one snapshot of the store
 * (the checks, the reads, the untagged updates of the reply): one round
 * of file locks instead of one per read. The batch ends before the loop
 * runs again; writes run on workers, so a step after one (work_after)
 * starts a new batch that sees it. The reference keeps the store open
 * should the command close the session. */
static void cmd_run(struct imap_session *s, imap_cmd_fn *fn)
{
	struct store *st = s->store ? store_ref(s->store) : NULL;

	if (st)
		store_read_begin(st);
	cmd_steps(s, fn);
	if (st) {
		store_read_end(st);
		store_unref(&st);
	}
}

void imap_cmd_finish(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;

	if (s->cmd == cmd)
		cmd_end(s);
}

enum imap_cmd_result imap_cmd_set_cont(struct imap_cmd *cmd, imap_cmd_fn *fn)
{
	cmd->cont = fn;
	return IMAP_CMD_MORE;
}

enum imap_cmd_result imap_cmd_read_line(struct imap_cmd *cmd,
					imap_cmd_line_fn *fn)
{
	cmd->line_fn = fn;
	/* reading a line needs input: the command stays current but the
	 * session reads */
	return IMAP_CMD_MORE;
}

static void work_thread(void *arg)
{
	struct imap_cmd *cmd = arg;

	cmd->work_fn(cmd);
}

static void work_after(void *arg)
{
	struct imap_cmd *cmd = arg;
	struct imap_session *s = cmd->s;

	s->work_pending--;
	if (!s->conn) {
		if (s->cmd == cmd)
			cmd_free(&s->cmd);
		if (s->work_pending == 0)
			session_free(s);
		return;
	}
	cmd_run(s, cmd->work_done);
}

enum imap_cmd_result imap_cmd_work(struct imap_cmd *cmd, imap_cmd_work_fn *fn,
				   imap_cmd_fn *done)
{
	struct imap_session *s = cmd->s;

	cmd->work_fn = fn;
	cmd->work_done = done;
	s->work_pending++;
	work_submit(s->srv->loop, work_thread, work_after, cmd);
	return IMAP_CMD_MORE;
}

enum imap_cmd_result imap_cmd_sleep(struct imap_cmd *cmd, unsigned ms,
				    imap_cmd_fn *fn)
{
	struct imap_session *s = cmd->s;

	if (ms == 0 || !s->conn)
		return fn(cmd);
	cmd->sleep_fn = fn;
	s->busy = IMAP_BUSY_DELAY;
	conn_set_timeout(s->conn, ms);
	return IMAP_CMD_MORE;
}

int imap_start_tls(struct imap_session *s)
{
	if (!s->conn || conn_starttls(s->conn) < 0)
		return -1;
	s->busy = IMAP_BUSY_TLS;
	return 0;
}

/* ---- input ------------------------------------------------------------ */

static struct imap_cmd *current_cmd(struct imap_session *s)
{
	if (!s->cmd)
		s->cmd = cmd_new(s, imap_parser_tag(s->parser));
	return s->cmd;
}

/* RFC 9051 2.2.2, 7.5; RFC 7888: a literal was announced. */
static void literal_decide(struct imap_session *s)
{
	const struct config *cfg = s->srv->cfg;
	struct imap_parser *p = s->parser;
	const struct imap_literal_info *li = imap_parser_literal(p);
	const char *name = imap_parser_name(p);
	const struct imap_cmd_def *def = name ? imap_command_find(name) : NULL;
	struct imap_cmd *cmd = current_cmd(s);
	enum imap_literal_action act = IMAP_LITERAL_BUFFER;

	if (def && def->literal && (def->states & s->state)) {
		cmd->def = def;
		cmd->name = def->name;
		cmd->uid = (def->flags & IMAP_CMDF_UID) != 0;
		cmd->args = imap_parser_args(p, &cmd->nargs);
		act = def->literal(cmd, li);
	} else if (li->size > cfg->max_line) {
		imap_reply_tagged(cmd, li->sync ? IMAP_NO : IMAP_BAD, "TOOBIG",
				  "Literal too large");
		act = IMAP_LITERAL_REJECT;
	}
	switch (act) {
	case IMAP_LITERAL_BUFFER:
		if (imap_parser_literal_buffer(p) < 0) {
			imap_reply_tagged(cmd, li->sync ? IMAP_NO : IMAP_BAD,
					  "TOOBIG", "Command line too long");
			imap_parser_literal_reject(p);
			cmd_end(s);
			return;
		}
		break;
	case IMAP_LITERAL_STREAM:
		imap_parser_literal_stream(p);
		break;
	case IMAP_LITERAL_REJECT:
		imap_parser_literal_reject(p);
		cmd_end(s);
		return;
	}
	if (li->sync)
		imap_reply_cont(s, "Ready for literal data");
}

/* A complete command: RFC 9051 2.2.1 tag SP command CRLF. */
static void dispatch(struct imap_session *s)
{
	const struct imap_command *pc = imap_parser_command(s->parser);
	struct imap_cmd *cmd = current_cmd(s);
	const struct imap_cmd_def *def = cmd->def;

	control_counters.commands++;
	if (!def)
		def = imap_command_find(pc->name);
	cmd->args = pc->args;
	cmd->nargs = pc->nargs;
	if (!def) {
		log_debug(&s->log, "unknown command %.32s", pc->name);
		imap_reply_bad(cmd, "Unknown command");
		cmd_end(s);
		return;
	}
	cmd->def = def;
	cmd->name = def->name;
	cmd->uid = (def->flags & IMAP_CMDF_UID) != 0;
	if (!(def->states & s->state)) {
		imap_reply_bad(cmd, "%s not allowed %s", def->name,
			       s->state == IMAP_STATE_NOT_AUTHENTICATED
				       ? "before login"
			       : s->state == IMAP_STATE_AUTHENTICATED
				       ? "without a selected mailbox"
				       : "now");
		cmd_end(s);
		return;
	}
	if ((def->flags & IMAP_CMDF_WRITE) && s->view.read_only) {
		imap_reply_no(cmd, "READ-ONLY", "Mailbox is read-only");
		cmd_end(s);
		return;
	}
	cmd_run(s, def->fn);
}

/* A raw line for a command waiting on imap_cmd_read_line(). Returns
 * false when more input is needed. */
static bool feed_line(struct imap_session *s, struct buf *in)
{
	struct imap_cmd *cmd = s->cmd;
	const char *line;
	size_t len, c = 0;
	enum imap_parse_result r = imap_parser_read_line(
		s->parser, in->data, in->len, &c, &line, &len);
	imap_cmd_line_fn *fn = cmd->line_fn;

	if (r == IMAP_PARSE_MORE) {
		buf_consume(in, c);
		return false;
	}
	cmd->line_fn = NULL;
	if (r == IMAP_PARSE_ERROR) {
		buf_consume(in, c);
		imap_reply_bad(cmd, "%s", imap_parser_error(s->parser));
		cmd_end(s);
		return true;
	}
	/* line stays valid in the parser; the input may go */
	buf_consume(in, c);
	enum imap_cmd_result res = fn(cmd, line, len);
	if (res == IMAP_CMD_DONE || cmd->finished) {
		cmd_end(s);
	} else if (cmd->cont && !conn_output_full(s->conn)) {
		imap_cmd_fn *cont = cmd->cont;
		cmd->cont = NULL;
		cmd_run(s, cont);
	}
	return true;
}

/* Parses and runs commands while none is unfinished. */
static void process_input(struct imap_session *s)
{
	bool was = s->in_process;

	s->in_process = true;
	while (s->conn && !s->closing && s->state != IMAP_STATE_LOGOUT) {
		struct buf *in = conn_input(s->conn);
		size_t c = 0;

		if (s->cmd && s->cmd->line_fn) {
			if (in->len == 0 || !feed_line(s, in))
				break;
			continue;
		}
		if (s->busy != IMAP_IDLE_INPUT || in->len == 0)
			break;
		enum imap_parse_result r =
			imap_parser_feed(s->parser, in->data, in->len, &c);
		switch (r) {
		case IMAP_PARSE_MORE:
			buf_consume(in, c);
			break;
		case IMAP_PARSE_LITERAL_DATA: {
			const char *d;
			size_t n;
			bool last;
			imap_parser_chunk(s->parser, &d, &n, &last);
			if (s->cmd && s->cmd->def && s->cmd->def->chunk &&
			    !s->literal_skip)
				s->cmd->def->chunk(s->cmd, d, n, last);
			buf_consume(in, c);
			continue;
		}
		case IMAP_PARSE_LITERAL_WAIT:
			buf_consume(in, c);
			literal_decide(s);
			continue;
		case IMAP_PARSE_DONE:
			buf_consume(in, c);
			dispatch(s);
			continue;
		case IMAP_PARSE_ERROR: {
			const char *tag = imap_parser_tag(s->parser);
			const char *msg = imap_parser_error(s->parser);
			buf_consume(in, c);
			if (!s->cmd)
				s->cmd = cmd_new(s, tag);
			log_debug(&s->log, "bad command: %s", msg);
			if (tag) {
				imap_reply_bad(s->cmd, "%s", msg);
			} else {
				imap_reply_untagged(s, "BAD %s", msg);
				count_bad(s);
			}
			cmd_free(&s->cmd);
			continue;
		}
		}
		break;
	}
	s->in_process = was;
	if (!s->conn || s->closing)
		return;
	/* A TLS handshake needs the socket read, and so does a command
	 * waiting for a raw line; anything else that is busy keeps
	 * pipelined commands waiting in the kernel. */
	bool want_pause = s->state == IMAP_STATE_LOGOUT ||
			  (s->busy != IMAP_IDLE_INPUT && s->busy != IMAP_BUSY_TLS &&
			   !(s->cmd && s->cmd->line_fn));
	if (want_pause && !s->paused) {
		s->paused = true;
		conn_pause_input(s->conn);
	} else if (!want_pause && s->paused) {
		s->paused = false;
		conn_resume_input(s->conn);
	}
}

/* ---- the connection callback ------------------------------------------ */

static void on_timeout(struct imap_session *s)
{
	if (s->busy == IMAP_BUSY_DELAY && s->cmd && s->cmd->sleep_fn) {
		imap_cmd_fn *fn = s->cmd->sleep_fn;
		s->cmd->sleep_fn = NULL;
		s->busy = IMAP_BUSY_CMD;
		arm_timeout(s);
		cmd_run(s, fn);
		return;
	}
	if (s->work_pending) {
		/* a job is running: wait for it, whatever the client does */
		arm_timeout(s);
		return;
	}
	log_info(&s->log, "idle timeout, closing");
	bye(s, "Autologout; idle for too long");
}

static void on_change(struct store *st, void *arg)
{
	struct imap_session *s = arg;

	(void)st;
	if (s->cmd && s->cmd->on_change && s->conn && !s->closing) {
		enum imap_cmd_result r = s->cmd->on_change(s->cmd);
		if (r == IMAP_CMD_DONE || s->cmd->finished)
			cmd_end(s);
	}
}

static void session_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct imap_session *s = arg;

	(void)c;
	switch (ev) {
	case CONN_DATAIN:
		if (s->closing)
			break;
		if (s->busy == IMAP_IDLE_INPUT)
			arm_timeout(s);
		process_input(s);
		break;
	case CONN_LOWAT:
		if (s->cmd && s->cmd->cont && !s->closing) {
			imap_cmd_fn *fn = s->cmd->cont;
			s->cmd->cont = NULL;
			arm_timeout(s);
			cmd_run(s, fn);
		} else if (!s->closing) {
			imap_notify_flush(s);
		}
		break;
	case CONN_TLS_READY:
		s->tls = true;
		if (s->busy == IMAP_BUSY_TLS) {
			s->busy = IMAP_IDLE_INPUT;
			if (s->reject) {
				bye(s, "Too many connections from your address");
				break;
			}
			/* RFC 8314 3.3: the greeting follows the handshake */
			if (!s->greeted)
				imap_greeting(s);
			arm_timeout(s);
			process_input(s);
		}
		break;
	case CONN_TIMEOUT:
		on_timeout(s);
		break;
	case CONN_CLOSED:
		log_debug(&s->log, "connection closed");
		control_session_remove(&s->ctl);
		s->conn = NULL;
		s->closing = true;
		imap_notify_free(s);
		imap_view_close(&s->view);
		if (s->work_pending == 0)
			session_free(s);
		break;
	}
}

void imap_session_watch(struct imap_session *s)
{
	if (s->store && !s->view.watch)
		s->view.watch = store_watch_add(s->store, on_change, s);
}

/* tandemctl kick. RFC 9051 7.1.5: the server may send BYE at any time
 * before it closes the connection. Not in the middle of a reply (a FETCH
 * literal paused on a full output queue): then the close alone. */
static void kick(void *arg)
{
	struct imap_session *s = arg;

	if (!s->conn || s->closing)
		return;
	log_info(&s->log, "disconnected by the administrator");
	if (!(s->cmd && s->cmd->cont) && s->out.len == 0)
		imap_reply_untagged(s, "BYE Disconnected by the administrator");
	imap_close(s);
}

/* tandemctl who: the selected mailbox. */
static const char *selected_mailbox(void *arg)
{
	const struct imap_session *s = arg;

	return s->view.mailbox_id ? s->view.name : NULL;
}

void imap_accept(struct conn *c, void *arg)
{
	struct imap_server *srv = arg;
	const struct config *cfg = srv->cfg;
	const struct conn_info *ci = conn_info(c);
	struct imap_session *s = xcalloc(1, sizeof(*s));
	struct imap_parser_limits lim = {cfg->max_line, 32};

	s->srv = srv;
	s->conn = c;
	s->log.proto = "imap";
	s->log.sid = ci->id;
	snprintf(s->log.rip, sizeof(s->log.rip), "%s", ci->rip);
	s->state = IMAP_STATE_NOT_AUTHENTICATED;
	s->parser = imap_parser_new(&lim);
	srv->nsessions++;
	control_session_add(&s->ctl, "imap", c, s, kick, selected_mailbox);
	conn_set_handler(c, session_cb, s);
	log_debug(&s->log, "connect lport=%d tls=%d", ci->lport,
		  ci->implicit_tls);
	arm_timeout(s);
	if (cfg->max_connections_per_ip &&
	    conn_count_for_ip(ci->rip) > cfg->max_connections_per_ip) {
		log_info(&s->log, "too many connections from this address");
		if (ci->implicit_tls && !ci->tls) {
			/* The reason can only be told inside TLS: RFC 9051
			 * 7.1.5 lets the greeting be a BYE. */
			s->reject = true;
			s->busy = IMAP_BUSY_TLS;
			return;
		}
		bye(s, "Too many connections from your address");
		return;
	}
	if (ci->implicit_tls && !ci->tls) {
		/* RFC 8314 3.3: the greeting comes after the handshake. */
		s->busy = IMAP_BUSY_TLS;
		return;
	}
	s->tls = ci->tls;
	imap_greeting(s);
	process_input(s);
}
