/* reply.c - the only writer of POP3 status lines (RFC 1939 3, RFC 2449 4
 * and 8). Handlers never touch the connection: they call these. */
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "pop3d.h"

/* RFC 2449 4: a response line is at most 512 octets with the CRLF. */
#define POP3_REPLY_MAX 512

const char *pop3_code_name(enum pop3_code code)
{
	switch (code) {
	case POP3_CODE_NONE:
		return NULL;
	case POP3_CODE_IN_USE:
		return "IN-USE";       /* RFC 2449 8.1.1 */
	case POP3_CODE_LOGIN_DELAY:
		return "LOGIN-DELAY";  /* RFC 2449 8.1.2 */
	case POP3_CODE_AUTH:
		return "AUTH";         /* RFC 3206 5 */
	case POP3_CODE_SYS_TEMP:
		return "SYS/TEMP";     /* RFC 3206 4 */
	case POP3_CODE_SYS_PERM:
		return "SYS/PERM";     /* RFC 3206 4 */
	case POP3_CODE_UTF8:
		return "UTF8";         /* RFC 6856 2 */
	}
	return NULL;
}

void pop3_format_status(struct buf *out, bool ok, enum pop3_code code,
			const char *fmt, va_list ap)
{
	const char *name = ok ? NULL : pop3_code_name(code);
	size_t start = out->len, text;

	buf_append_str(out, ok ? "+OK" : "-ERR");
	if (name)
		buf_printf(out, " [%s]", name);
	text = out->len;
	if (fmt && *fmt) {
		buf_append_c(out, ' ');
		buf_vprintf(out, fmt, ap);
	}
	for (size_t i = text; i < out->len; i++)
		if (out->data[i] == '\r' || out->data[i] == '\n' ||
		    out->data[i] == '\0')
			out->data[i] = ' ';
	if (out->len - start > POP3_REPLY_MAX - 2)
		buf_truncate(out, start + POP3_REPLY_MAX - 2);
	buf_append(out, "\r\n", 2);
}

static void status(struct pop3_session *s, bool ok, enum pop3_code code,
		   const char *fmt, va_list ap)
{
	if (!s->conn)
		return;
	buf_reset(&s->out);
	pop3_format_status(&s->out, ok, code, fmt, ap);
	conn_write(s->conn, s->out.data, s->out.len);
	log_debug(&s->log, "reply: %.*s", (int)(s->out.len - 2), s->out.data);
	buf_reset(&s->out);
}

void pop3_reply_ok(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	status(s, true, POP3_CODE_NONE, fmt, ap);
	va_end(ap);
}

void pop3_reply_err(struct pop3_session *s, enum pop3_code code,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	status(s, false, code, fmt, ap);
	va_end(ap);
}

void pop3_reply_line(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->conn)
		return;
	buf_reset(&s->out);
	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	/* RFC 1939 3: byte-stuff a line that starts with the terminator. */
	if (s->out.len > 0 && s->out.data[0] == '.')
		conn_write(s->conn, ".", 1);
	buf_append(&s->out, "\r\n", 2);
	conn_write(s->conn, s->out.data, s->out.len);
	buf_reset(&s->out);
}

void pop3_reply_end(struct pop3_session *s)
{
	if (s->conn)
		conn_write(s->conn, ".\r\n", 3);
}

void pop3_reply_raw(struct pop3_session *s, const void *p, size_t n)
{
	if (s->conn)
		conn_write(s->conn, p, n);
}

size_t pop3_reply_stuffed(struct pop3_session *s, struct dotstuff *ds,
			  const char *p, size_t n)
{
	struct buf *out = s->conn ? conn_write_buf(s->conn) : NULL;
	size_t used;

	if (out == NULL)
		return n;
	used = dotstuff_feed(ds, p, n, out);
	conn_write_commit(s->conn);
	return used;
}

void pop3_reply_store_err(struct pop3_session *s, const struct store_err *err,
			  const char *what)
{
	log_warn(&s->log, "%s: store error %d: %s", what, (int)err->code,
		 err->msg);
	switch (err->code) {
	case STORE_ERR_INUSE:
		pop3_reply_err(s, POP3_CODE_IN_USE,
			       "Maildrop is locked by another POP3 session");
		break;
	case STORE_ERR_NOTFOUND:
	case STORE_ERR_EXPUNGED:
		pop3_reply_err(s, POP3_CODE_NONE,
			       "Message was deleted by another session");
		break;
	case STORE_ERR_PERM:
	case STORE_ERR_CORRUPT:
		pop3_reply_err(s, POP3_CODE_SYS_PERM, "%s failed", what);
		break;
	default:
		pop3_reply_err(s, POP3_CODE_SYS_TEMP,
			       "%s failed, try again later", what);
		break;
	}
}
