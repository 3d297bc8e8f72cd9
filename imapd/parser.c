/* parser.c - resumable IMAP command parser (RFC 9051 2.2, 4, 9; RFC 7888;
 * RFC 3516). See parser.h for the contract. */
#include "parser.h"

#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

enum state {
	ST_TAG,         /* reading the tag (or ignoring an empty line) */
	ST_NAME_START,  /* after tag SP */
	ST_NAME,        /* command name */
	ST_NAME2_START, /* after "UID" SP */
	ST_NAME2,
	ST_ARG_START,   /* a token, ')' or the line end may come */
	ST_ARG_SEP,     /* after a token: SP, ')' or the line end */
	ST_ATOM,
	ST_ATOM_BR,     /* inside "[...]" of an atom */
	ST_ATOM_BR_Q,   /* quoted string inside "[...]" */
	ST_ATOM_BR_QESC,
	ST_ATOM_BR_SP,  /* SP inside "[...]": continue only if '(' follows */
	ST_TILDE,       /* '~' at a token start: literal8 or atom */
	ST_QUOTED,
	ST_QUOTED_ESC,
	ST_LIT_SIZE,    /* after '{' */
	ST_LIT_CLOSE,   /* after '+': expect '}' */
	ST_LIT_CR,      /* after '}': expect CR or LF */
	ST_LIT_LF,      /* after '}' CR: expect LF */
	ST_LIT_DECIDE,  /* LITERAL_WAIT returned; waiting for the session */
	ST_LIT_DATA,    /* buffering literal bytes */
	ST_LIT_STREAM,  /* streaming literal bytes */
	ST_CR,          /* CR at the line end: expect LF */
	ST_SKIP_LIT,    /* skipping a literal's bytes of a bad command */
	ST_SKIP_LINE,   /* skipping to the end of a bad line */
};

#define NO_PARENT SIZE_MAX

/* One argument as it is parsed; strings live in p->data by offset
 * because the buffer may move while it grows. */
struct flat_arg {
	enum imap_arg_type type;
	bool binary;
	size_t parent; /* index of the enclosing list, or NO_PARENT */
	size_t off, len;
	uint64_t literal_size;
};

struct imap_parser {
	/* process lifetime */
	struct imap_parser_limits lim;

	/* command lifetime */
	enum state st;
	struct buf data;       /* tag, name, then token bytes, NUL-separated */
	size_t tag_len;        /* 0 until the tag is complete */
	size_t name_off, name_len; /* name_len 0 until complete */
	struct flat_arg *flat;
	size_t nflat, flat_cap;
	size_t *open;          /* stack of open list indices (max_depth) */
	unsigned depth;
	size_t tok_off;        /* start of the token being read in data */
	size_t held;           /* bytes held for this command (vs max_line) */
	bool br_paren;         /* inside "(...)" of an atom's "[...]" */
	struct imap_literal_info lit;
	uint64_t lit_left;
	size_t lit_flat;       /* flat index of the literal being read */
	bool lit_nul_ok;
	const char *chunk;
	size_t chunk_len;
	bool chunk_last;
	const char *err;
	enum imap_parse_error err_code;
	/* SKIP_LINE: recognizing "{n+}" right before the line end */
	int sk_state;          /* 0 none, 1 in digits, 2 after '+', 3 after '}' */
	uint64_t sk_size;
	bool sk_plus;
	bool finished;         /* DONE or ERROR returned, line consumed */

	/* results, rebuilt on demand */
	struct imap_arg *tree;
	size_t tree_cap;
	struct imap_command cmd;

	/* raw line mode */
	struct buf line;
	bool line_skip;
	bool line_done;
};

struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	p->lim = *lim;
	if (p->lim.max_depth == 0)
		p->lim.max_depth = 1;
	p->open = xcalloc(p->lim.max_depth, sizeof(*p->open));
	p->st = ST_TAG;
	return p;
}

void imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;

	if (p == NULL)
		return;
	buf_release(&p->data);
	buf_release(&p->line);
	free(p->flat);
	free(p->open);
	free(p->tree);
	free(p);
	*pp = NULL;
}

static void command_reset(struct imap_parser *p)
{
	p->st = ST_TAG;
	buf_reset(&p->data);
	p->tag_len = 0;
	p->name_off = p->name_len = 0;
	p->nflat = 0;
	p->depth = 0;
	p->tok_off = 0;
	p->held = 0;
	p->br_paren = false;
	p->err = NULL;
	p->err_code = IMAP_PERR_NONE;
	p->chunk = NULL;
	p->chunk_len = 0;
	p->finished = false;
	/* keep the storage of data, flat and tree, but not a huge one */
	buf_shrink(&p->data, 65536);
}

static bool is_tag_char(unsigned char c)
{
	/* ASTRING-CHAR except "+" */
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '%': case '*': case '"':
	case '\\': case '+':
		return false;
	default:
		return true;
	}
}

/* Bytes allowed in an atom token: any but SP, CTL, '(', ')', '{', '"'.
 * This is wider than ATOM-CHAR: it lets '*' and '%' (sequence sets,
 * list-mailbox), ']' (astring), '\' (flags) and 8-bit through; the
 * helpers and handlers validate. */
static bool is_atom_byte(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '"':
		return false;
	default:
		return true;
	}
}

/* The atom read so far is a fetch attribute that takes a section
 * ("BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"): only
 * then does '[' start a section that may hold " (" header lists and
 * quoted strings. Elsewhere (a mailbox "[Gmail]/Sent") '[' is a byte. */
static bool section_atom(const struct imap_parser *p)
{
	static const char *const names[] = {"BODY", "BODY.PEEK", "BINARY",
					    "BINARY.PEEK", "BINARY.SIZE"};
	const char *s = p->data.data + p->tok_off;
	size_t n = p->data.len - p->tok_off;

	for (size_t k = 0; k < ARRAY_SIZE(names); k++)
		if (strlen(names[k]) == n && strncasecmp(s, names[k], n) == 0)
			return true;
	return false;
}

/* line_consumed: the LF of the bad line was the byte that failed, so the
 * next command starts right after it; otherwise the rest of the line is
 * skipped by the next feeds. When the line got too long in the middle of
 * a literal header, the skipper goes on recognizing that header, so the
 * bytes of a "{n+}" literal are not taken for commands. */
static enum imap_parse_result fail(struct imap_parser *p,
				   enum imap_parse_error code, const char *msg,
				   bool line_consumed)
{
	enum state was = p->st;

	p->err = msg;
	p->err_code = code;
	p->st = line_consumed ? ST_TAG : ST_SKIP_LINE;
	p->finished = line_consumed;
	p->sk_state = 0;
	if (code == IMAP_PERR_TOO_LONG) {
		p->sk_size = p->lit.size;
		p->sk_plus = !p->lit.sync;
		if (was == ST_LIT_SIZE || was == ST_LIT_CLOSE)
			p->sk_state = 1;
		else if (was == ST_LIT_CR || was == ST_LIT_LF)
			p->sk_state = 3;
	}
	return IMAP_PARSE_ERROR;
}

static size_t flat_push(struct imap_parser *p, enum imap_arg_type type)
{
	if (p->nflat == p->flat_cap) {
		p->flat_cap = p->flat_cap ? p->flat_cap * 2 : 16;
		p->flat = xrealloc(p->flat, p->flat_cap * sizeof(*p->flat));
	}
	struct flat_arg *f = &p->flat[p->nflat];
	memset(f, 0, sizeof(*f));
	f->type = type;
	f->parent = p->depth ? p->open[p->depth - 1] : NO_PARENT;
	f->off = p->data.len;
	return p->nflat++;
}

/* Ends the token that started at tok_off in data. */
static void token_end(struct imap_parser *p, enum imap_arg_type type)
{
	size_t len = p->data.len - p->tok_off;
	size_t i = flat_push(p, type);

	p->flat[i].off = p->tok_off;
	p->flat[i].len = len;
	if (type == IMAP_ARG_ATOM && len == 3 &&
	    strncasecmp(p->data.data + p->tok_off, "NIL", 3) == 0)
		p->flat[i].type = IMAP_ARG_NIL;
	buf_append_c(&p->data, '\0');
	p->st = ST_ARG_SEP;
}

static void upper(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s[i] = (char)toupper((unsigned char)s[i]);
}

/* The line ended (LF consumed) in a state where that is allowed. */
static enum imap_parse_result line_end(struct imap_parser *p)
{
	if (p->depth > 0)
		return fail(p, IMAP_PERR_SYNTAX, "Missing ')'", true);
	p->st = ST_TAG;
	p->finished = true; /* the next feed starts a new command */
	p->cmd.tag = p->data.data;
	p->cmd.name = p->data.data + p->name_off;
	p->cmd.args = imap_parser_args(p, &p->cmd.nargs);
	p->err = NULL;
	return IMAP_PARSE_DONE;
}

/* A literal header is complete (its LF consumed). */
static enum imap_parse_result literal_announced(struct imap_parser *p)
{
	size_t argc = 0;

	for (size_t i = 0; i < p->nflat; i++)
		if (p->flat[i].parent == NO_PARENT)
			argc++;
	p->lit.depth = p->depth;
	p->lit.argc = argc;
	p->st = ST_LIT_DECIDE;
	return IMAP_PARSE_LITERAL_WAIT;
}

/* SKIP_LINE: watch for "{n}" / "{n+}" just before the line end, so the
 * bytes of a non-synchronizing literal of a bad command are not taken
 * for commands. Returns true when the line really ended. */
static bool skip_byte(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case '{':
		p->sk_state = 1, p->sk_size = 0, p->sk_plus = false;
		return false;
	case '\r':
		return false; /* keeps sk_state for the LF */
	case '\n':
		if (p->sk_state == 3 && p->sk_plus) {
			p->lit_left = p->sk_size;
			p->sk_state = 0;
			if (p->lit_left > 0) {
				p->st = ST_SKIP_LIT;
				return false;
			}
			return false; /* "{0+}": the line goes on */
		}
		p->sk_state = 0;
		return true;
	default:
		break;
	}
	if (p->sk_state == 1 && c >= '0' && c <= '9') {
		if (p->sk_size > UINT64_MAX / 10 - 10)
			p->sk_state = 0;
		else
			p->sk_size = p->sk_size * 10 + (c - '0');
	} else if (p->sk_state == 1 && c == '+') {
		p->sk_plus = true;
	} else if (p->sk_state == 1 && c == '}') {
		p->sk_state = 3;
	} else {
		p->sk_state = 0;
	}
	return false;
}

enum imap_parse_result imap_parser_feed(struct imap_parser *p,
					const char *data, size_t len,
					size_t *consumed_r)
{
	size_t i = 0;

	assert(p->st != ST_LIT_DECIDE);
	if (p->finished) /* the previous command ended (DONE or ERROR) */
		command_reset(p);

	while (i < len) {
		unsigned char c = (unsigned char)data[i];

		/* bulk states first */
		if (p->st == ST_LIT_STREAM || p->st == ST_LIT_DATA ||
		    p->st == ST_SKIP_LIT) {
			size_t n = len - i;
			if (n > p->lit_left)
				n = (size_t)p->lit_left;
			if (p->st != ST_SKIP_LIT && !p->lit_nul_ok &&
			    memchr(data + i, '\0', n)) {
				p->lit_left -= n;
				*consumed_r = i + n;
				p->err = "NUL byte in literal";
				p->err_code = IMAP_PERR_NUL;
				p->st = p->lit_left ? ST_SKIP_LIT : ST_SKIP_LINE;
				p->sk_state = 0;
				return IMAP_PARSE_ERROR;
			}
			p->lit_left -= n;
			if (p->st == ST_LIT_STREAM) {
				p->chunk = data + i;
				p->chunk_len = n;
				p->chunk_last = p->lit_left == 0;
				if (p->chunk_last)
					p->st = ST_ARG_SEP;
				*consumed_r = i + n;
				return IMAP_PARSE_LITERAL_DATA;
			}
			if (p->st == ST_LIT_DATA)
				buf_append(&p->data, data + i, n);
			i += n;
			if (p->lit_left == 0) {
				if (p->st == ST_LIT_DATA) {
					struct flat_arg *f = &p->flat[p->lit_flat];
					f->len = p->data.len - f->off;
					buf_append_c(&p->data, '\0');
					p->st = ST_ARG_SEP;
				} else {
					p->st = ST_SKIP_LINE;
					p->sk_state = 0;
				}
			}
			continue;
		}
		if (p->st == ST_SKIP_LINE) {
			i++;
			if (skip_byte(p, c))
				command_reset(p);
			continue;
		}

		/* one byte at a time */
		if (c == '\0') {
			i++;
			*consumed_r = i;
			return fail(p, IMAP_PERR_NUL, "NUL byte in command",
				    false);
		}
		if (++p->held > p->lim.max_line) {
			*consumed_r = i;
			return fail(p, IMAP_PERR_TOO_LONG, "Command line too long",
				    false);
		}
		i++;
		switch (p->st) {
		case ST_TAG:
			if (p->data.len == 0 && (c == '\r' || c == '\n')) {
				p->held = 0; /* empty line: ignored */
				continue;
			}
			if (c == ' ' && p->data.len == 0) {
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX, "Missing tag",
					    false);
			}
			if (c == ' ' || c == '\r' || c == '\n') {
				p->tag_len = p->data.len;
				buf_append_c(&p->data, '\0');
				if (c == ' ') {
					p->st = ST_NAME_START;
					continue;
				}
				if (c == '\r') {
					p->st = ST_CR;
					continue;
				}
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX,
					    "Missing command", true);
			}
			if (!is_tag_char(c)) {
				*consumed_r = i;
				buf_reset(&p->data);
				p->tag_len = 0;
				return fail(p, IMAP_PERR_SYNTAX, "Invalid tag",
					    false);
			}
			buf_append_c(&p->data, (char)c);
			continue;
		case ST_NAME_START:
		case ST_NAME2_START:
			if (c == ' ')
				continue; /* lenient: "a1  NOOP" */
			if (c == '\r') {
				p->st = ST_CR;
				continue;
			}
			if (c >= 0x80 || !isalpha(c)) {
				*consumed_r = i;
				if (c == '\n')
					return fail(p, IMAP_PERR_SYNTAX,
						    "Missing command", true);
				return fail(p, IMAP_PERR_SYNTAX,
					    "Invalid command name", false);
			}
			if (p->st == ST_NAME_START)
				p->name_off = p->data.len;
			else
				buf_append_c(&p->data, ' ');
			buf_append_c(&p->data, (char)toupper(c));
			p->st = p->st == ST_NAME_START ? ST_NAME : ST_NAME2;
			continue;
		case ST_NAME:
		case ST_NAME2:
			if (c < 0x80 && (isalnum(c) || c == '-' || c == '_' ||
					 c == '.')) {
				buf_append_c(&p->data, (char)toupper(c));
				if (p->data.len - p->name_off > 64) {
					*consumed_r = i;
					return fail(p, IMAP_PERR_SYNTAX,
						    "Invalid command name",
						    false);
				}
				continue;
			}
			if (c != ' ' && c != '\r' && c != '\n') {
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX,
					    "Invalid command name", false);
			}
			if (p->st == ST_NAME && c == ' ' &&
			    p->data.len - p->name_off == 3 &&
			    memcmp(p->data.data + p->name_off, "UID", 3) == 0) {
				p->st = ST_NAME2_START;
				continue;
			}
			p->name_len = p->data.len - p->name_off;
			buf_append_c(&p->data, '\0');
			p->st = ST_ARG_START;
			if (c == '\r') {
				p->st = ST_CR;
			} else if (c == '\n') {
				*consumed_r = i;
				return line_end(p);
			}
			continue;
		case ST_ARG_SEP:
			if (c == ' ') {
				p->st = ST_ARG_START;
				continue;
			}
			if (c != ')' && c != '\r' && c != '\n') {
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX,
					    "Missing space between arguments",
					    false);
			}
			/* fall through */
		case ST_ARG_START:
			switch (c) {
			case ' ':
				continue;
			case '\r':
				p->st = ST_CR;
				continue;
			case '\n':
				*consumed_r = i;
				return line_end(p);
			case '(':
				if (p->depth >= p->lim.max_depth) {
					*consumed_r = i;
					return fail(p, IMAP_PERR_TOO_DEEP,
						    "Too deeply nested lists",
						    false);
				}
				p->open[p->depth] = flat_push(p, IMAP_ARG_LIST);
				p->depth++;
				p->st = ST_ARG_START;
				continue;
			case ')':
				if (p->depth == 0) {
					*consumed_r = i;
					return fail(p, IMAP_PERR_SYNTAX,
						    "Unexpected ')'", false);
				}
				p->depth--;
				p->st = ST_ARG_SEP;
				continue;
			case '"':
				p->tok_off = p->data.len;
				p->st = ST_QUOTED;
				continue;
			case '{':
				p->lit.binary = false;
				goto literal_open;
			case '~':
				p->st = ST_TILDE;
				continue;
			default:
				if (!is_atom_byte(c)) {
					*consumed_r = i;
					return fail(p, IMAP_PERR_SYNTAX,
						    "Invalid character", false);
				}
				p->tok_off = p->data.len;
				buf_append_c(&p->data, (char)c);
				p->st = ST_ATOM;
				continue;
			}
		case ST_TILDE:
			if (c == '{') {
				p->lit.binary = true;
				goto literal_open;
			}
			p->tok_off = p->data.len;
			buf_append_c(&p->data, '~');
			p->st = ST_ATOM;
			i--; /* reread c as part of the atom */
			p->held--;
			continue;
		literal_open:
			p->lit.size = 0;
			p->lit.sync = true;
			p->tok_off = SIZE_MAX; /* no digit yet */
			p->st = ST_LIT_SIZE;
			continue;
		case ST_ATOM:
			if (is_atom_byte(c)) {
				if (c == '[' && section_atom(p))
					p->st = ST_ATOM_BR;
				buf_append_c(&p->data, (char)c);
				continue;
			}
			if (c == '(' || c == '{' || c == '"') {
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX,
					    "Invalid character in atom", false);
			}
			token_end(p, IMAP_ARG_ATOM);
			i--; /* SP, ')', CR, LF: handled as a separator */
			p->held--;
			continue;
		case ST_ATOM_BR:
			if (c == ']' && !p->br_paren) {
				buf_append_c(&p->data, (char)c);
				p->st = ST_ATOM;
				continue;
			}
			if (c == ' ' && !p->br_paren) {
				p->st = ST_ATOM_BR_SP;
				continue;
			}
			if (c == '\r' || c == '\n' || (c == ')' && !p->br_paren)) {
				/* an unclosed '[': just an atom */
				token_end(p, IMAP_ARG_ATOM);
				i--;
				p->held--;
				continue;
			}
			if (c == '(') {
				if (p->br_paren) {
					*consumed_r = i;
					return fail(p, IMAP_PERR_SYNTAX,
						    "Invalid section", false);
				}
				p->br_paren = true;
			} else if (c == ')') {
				p->br_paren = false;
			} else if (c == '"') {
				p->st = ST_ATOM_BR_Q;
			} else if (c == '{' || c < 0x20) {
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX,
					    "Invalid section", false);
			}
			buf_append_c(&p->data, (char)c);
			continue;
		case ST_ATOM_BR_SP:
			if (c == '(') {
				buf_append(&p->data, " (", 2);
				p->br_paren = true;
				p->st = ST_ATOM_BR;
				continue;
			}
			/* the SP was a separator: the atom ended before it */
			token_end(p, IMAP_ARG_ATOM);
			p->st = ST_ARG_START;
			i--;
			p->held--;
			continue;
		case ST_ATOM_BR_Q:
		case ST_ATOM_BR_QESC:
			if (c == '\r' || c == '\n') {
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX,
					    "Unterminated quoted string",
					    c == '\n');
			}
			buf_append_c(&p->data, (char)c);
			if (p->st == ST_ATOM_BR_QESC)
				p->st = ST_ATOM_BR_Q;
			else if (c == '\\')
				p->st = ST_ATOM_BR_QESC;
			else if (c == '"')
				p->st = ST_ATOM_BR;
			continue;
		case ST_QUOTED:
			if (c == '"') {
				token_end(p, IMAP_ARG_STRING);
				continue;
			}
			if (c == '\\') {
				p->st = ST_QUOTED_ESC;
				continue;
			}
			if (c == '\r' || c == '\n') {
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX,
					    "Unterminated quoted string",
					    c == '\n');
			}
			buf_append_c(&p->data, (char)c);
			continue;
		case ST_QUOTED_ESC:
			if (c != '"' && c != '\\') {
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX,
					    "Invalid escape in quoted string",
					    c == '\n');
			}
			buf_append_c(&p->data, (char)c);
			p->st = ST_QUOTED;
			continue;
		case ST_LIT_SIZE:
			if (c >= '0' && c <= '9') {
				if (p->tok_off == SIZE_MAX)
					p->tok_off = 0;
				if (p->lit.size > (UINT64_MAX >> 2) / 10) {
					*consumed_r = i;
					return fail(p, IMAP_PERR_SYNTAX,
						    "Literal size too large",
						    false);
				}
				p->lit.size = p->lit.size * 10 + (c - '0');
				continue;
			}
			if (p->tok_off == SIZE_MAX) {
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX,
					    "Invalid literal", c == '\n');
			}
			if (c == '+') {
				p->lit.sync = false;
				p->st = ST_LIT_CLOSE;
				continue;
			}
			/* fall through */
		case ST_LIT_CLOSE:
			if (c != '}') {
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX,
					    "Invalid literal", c == '\n');
			}
			p->st = ST_LIT_CR;
			continue;
		case ST_LIT_CR:
			if (c == '\r') {
				p->st = ST_LIT_LF;
				continue;
			}
			/* fall through */
		case ST_LIT_LF:
			if (c != '\n') {
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX,
					    "Literal must end the line", false);
			}
			*consumed_r = i;
			return literal_announced(p);
		case ST_CR:
			if (c != '\n') {
				*consumed_r = i;
				return fail(p, IMAP_PERR_SYNTAX,
					    "CR without LF", false);
			}
			*consumed_r = i;
			if (p->name_len == 0) /* "tag\r\n", "tag \r\n" */
				return fail(p, IMAP_PERR_SYNTAX,
					    "Missing command", true);
			return line_end(p);
		case ST_LIT_DECIDE:
		case ST_LIT_DATA:
		case ST_LIT_STREAM:
		case ST_SKIP_LIT:
		case ST_SKIP_LINE:
			assert(!"unreachable");
			break;
		}
	}
	*consumed_r = i;
	return IMAP_PARSE_MORE;
}

const struct imap_command *imap_parser_command(struct imap_parser *p)
{
	return &p->cmd;
}

const char *imap_parser_tag(const struct imap_parser *p)
{
	return p->tag_len ? p->data.data : NULL;
}

const char *imap_parser_name(const struct imap_parser *p)
{
	return p->name_len ? p->data.data + p->name_off : NULL;
}

struct imap_arg *imap_parser_args(struct imap_parser *p, size_t *n_r)
{
	struct tmp {
		size_t cnt, cur, idx;
	} *t;
	size_t ntop = 0, next, topcur = 0;

	if (p->nflat > p->tree_cap) {
		p->tree_cap = p->nflat;
		p->tree = xrealloc(p->tree, p->tree_cap * sizeof(*p->tree));
	}
	if (p->nflat == 0) {
		*n_r = 0;
		return p->tree;
	}
	t = xcalloc(p->nflat, sizeof(*t));
	for (size_t i = 0; i < p->nflat; i++) {
		if (p->flat[i].parent == NO_PARENT)
			ntop++;
		else
			t[p->flat[i].parent].cnt++;
	}
	next = ntop;
	for (size_t i = 0; i < p->nflat; i++) {
		if (p->flat[i].type == IMAP_ARG_LIST) {
			t[i].cur = next;
			next += t[i].cnt;
		}
	}
	for (size_t i = 0; i < p->nflat; i++) {
		const struct flat_arg *f = &p->flat[i];
		size_t slot = f->parent == NO_PARENT ? topcur++
						     : t[f->parent].cur++;
		struct imap_arg *a = &p->tree[slot];

		t[i].idx = slot;
		memset(a, 0, sizeof(*a));
		a->type = f->type;
		a->binary = f->binary;
		a->literal_size = f->literal_size;
		if (f->type != IMAP_ARG_LIST && f->type != IMAP_ARG_LITERAL_STREAM) {
			a->str = p->data.data + f->off;
			a->len = f->len;
		}
	}
	for (size_t i = 0; i < p->nflat; i++) {
		if (p->flat[i].type != IMAP_ARG_LIST)
			continue;
		struct imap_arg *a = &p->tree[t[i].idx];
		a->list_count = t[i].cnt;
		a->list = &p->tree[t[i].cur - t[i].cnt];
	}
	free(t);
	*n_r = ntop;
	return p->tree;
}

const struct imap_literal_info *imap_parser_literal(const struct imap_parser *p)
{
	return &p->lit;
}

int imap_parser_literal_buffer(struct imap_parser *p)
{
	assert(p->st == ST_LIT_DECIDE);
	if (p->lit.size > p->lim.max_line ||
	    p->held + p->lit.size > p->lim.max_line)
		return -1;
	p->lit_flat = flat_push(p, IMAP_ARG_LITERAL);
	p->flat[p->lit_flat].binary = p->lit.binary;
	p->flat[p->lit_flat].literal_size = p->lit.size;
	p->held += (size_t)p->lit.size;
	p->lit_left = p->lit.size;
	p->lit_nul_ok = p->lit.binary;
	buf_reserve(&p->data, (size_t)p->lit.size + 1);
	if (p->lit.size == 0) {
		p->flat[p->lit_flat].len = 0;
		buf_append_c(&p->data, '\0');
		p->st = ST_ARG_SEP;
	} else {
		p->st = ST_LIT_DATA;
	}
	return 0;
}

void imap_parser_literal_stream(struct imap_parser *p)
{
	size_t i;

	assert(p->st == ST_LIT_DECIDE);
	i = flat_push(p, IMAP_ARG_LITERAL_STREAM);
	p->flat[i].binary = p->lit.binary;
	p->flat[i].literal_size = p->lit.size;
	p->lit_left = p->lit.size;
	p->lit_nul_ok = p->lit.binary;
	p->st = p->lit.size ? ST_LIT_STREAM : ST_ARG_SEP;
}

void imap_parser_literal_reject(struct imap_parser *p)
{
	assert(p->st == ST_LIT_DECIDE);
	if (p->lit.sync) {
		/* RFC 9051 7.5: the client does not send the literal, and
		 * the command is over. */
		p->st = ST_TAG;
		p->finished = true;
		return;
	}
	p->lit_left = p->lit.size;
	p->st = p->lit.size ? ST_SKIP_LIT : ST_SKIP_LINE;
	p->sk_state = 0;
}

void imap_parser_chunk(const struct imap_parser *p, const char **data_r,
		       size_t *len_r, bool *last_r)
{
	*data_r = p->chunk;
	*len_r = p->chunk_len;
	*last_r = p->chunk_last;
}

const char *imap_parser_error(const struct imap_parser *p)
{
	return p->err ? p->err : "Syntax error";
}

enum imap_parse_error imap_parser_error_code(const struct imap_parser *p)
{
	return p->err_code;
}

enum imap_parse_result imap_parser_read_line(struct imap_parser *p,
					     const char *data, size_t len,
					     size_t *consumed_r,
					     const char **line_r, size_t *len_r)
{
	size_t i = 0;

	if (p->line_done) {
		buf_reset(&p->line);
		p->line_done = false;
		p->line_skip = false;
	}
	buf_reserve(&p->line, 1);
	while (i < len) {
		char c = data[i++];

		if (c == '\n') {
			size_t n = p->line.len;
			if (n > 0 && p->line.data[n - 1] == '\r')
				buf_truncate(&p->line, n - 1);
			*consumed_r = i;
			*line_r = p->line.data;
			*len_r = p->line.len;
			/* reset at the next call, keeping the result valid */
			p->line_done = true;
			return p->line_skip ? IMAP_PARSE_ERROR : IMAP_PARSE_DONE;
		}
		if (p->line_skip)
			continue;
		if (c == '\0' || p->line.len >= p->lim.max_line) {
			/* keep consuming up to the LF, holding nothing */
			p->line_skip = true;
			buf_reset(&p->line);
			p->err = c == '\0' ? "NUL byte in line" : "Line too long";
			p->err_code = c == '\0' ? IMAP_PERR_NUL
						: IMAP_PERR_TOO_LONG;
			continue;
		}
		buf_append_c(&p->line, c);
	}
	*consumed_r = i;
	return IMAP_PARSE_MORE;
}

/* ---- argument helpers ----------------------------------------------- */

bool imap_arg_atom_eq(const struct imap_arg *a, const char *word)
{
	return a->type == IMAP_ARG_ATOM && strcasecmp(a->str, word) == 0;
}

bool imap_arg_atom(const struct imap_arg *a, const char **s_r)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL)
		return false;
	*s_r = a->str;
	return true;
}

bool imap_arg_string(const struct imap_arg *a, const char **s_r,
		     size_t *len_r)
{
	if (a->type != IMAP_ARG_STRING && a->type != IMAP_ARG_LITERAL)
		return false;
	*s_r = a->str;
	*len_r = a->len;
	return true;
}

static bool atom_ok(const struct imap_arg *a, bool wildcards)
{
	for (size_t i = 0; i < a->len; i++) {
		unsigned char c = (unsigned char)a->str[i];
		if (c == '%' || c == '*') {
			if (!wildcards)
				return false;
		} else if (c == '\\' || c <= 0x20 || c == 0x7f) {
			return false;
		}
		/* 8-bit bytes pass: UTF-8 mailbox names are checked by the
		 * caller, which knows whether UTF8=ACCEPT is on. */
	}
	return true;
}

bool imap_arg_astring(const struct imap_arg *a, const char **s_r,
		      size_t *len_r)
{
	if (imap_arg_string(a, s_r, len_r))
		return true;
	if ((a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL) ||
	    !atom_ok(a, false))
		return false;
	*s_r = a->str;
	*len_r = a->len;
	return true;
}

bool imap_arg_nstring(const struct imap_arg *a, const char **s_r,
		      size_t *len_r)
{
	if (a->type == IMAP_ARG_NIL) {
		*s_r = NULL;
		*len_r = 0;
		return true;
	}
	return imap_arg_string(a, s_r, len_r);
}

bool imap_arg_list_mailbox(const struct imap_arg *a, const char **s_r,
			   size_t *len_r)
{
	if (imap_arg_string(a, s_r, len_r))
		return true;
	if ((a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL) ||
	    !atom_ok(a, true))
		return false;
	*s_r = a->str;
	*len_r = a->len;
	return true;
}

bool imap_arg_number(const struct imap_arg *a, uint64_t max, uint64_t *n_r)
{
	uint64_t v = 0;

	if (a->type != IMAP_ARG_ATOM || a->len == 0 || a->len > 20)
		return false;
	for (size_t i = 0; i < a->len; i++) {
		char c = a->str[i];
		if (c < '0' || c > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(c - '0');
	}
	if (v > max)
		return false;
	*n_r = v;
	return true;
}

bool imap_arg_list(const struct imap_arg *a, struct imap_arg **list_r,
		   size_t *n_r)
{
	if (a->type != IMAP_ARG_LIST)
		return false;
	*list_r = a->list;
	*n_r = a->list_count;
	return true;
}

/* ---- fetch-att sections --------------------------------------------- */

static bool word_at(const char *s, size_t n, size_t *i, const char *w)
{
	size_t wl = strlen(w);

	if (n - *i < wl || strncasecmp(s + *i, w, wl) != 0)
		return false;
	*i += wl;
	return true;
}

/* number at s[*i] up to max; false when absent or too big. */
static bool num_at(const char *s, size_t n, size_t *i, uint64_t max,
		   uint64_t *v_r)
{
	uint64_t v = 0;
	size_t start = *i;

	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		if (v > (max - (uint64_t)(s[*i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[*i] - '0');
		(*i)++;
	}
	if (*i == start)
		return false;
	*v_r = v;
	return true;
}

/* header-list = "(" header-fld-name *(SP header-fld-name) ")"
 * header-fld-name = astring (atom or quoted here). */
static int header_list(const char *s, size_t n, size_t *i,
		       struct imap_fetch_att *r, struct buf *fields,
		       struct buf *echo)
{
	if (*i + 2 > n || s[*i] != ' ' || s[*i + 1] != '(')
		return -1;
	*i += 2;
	if (echo)
		buf_append(echo, " (", 2);
	for (;;) {
		size_t start = fields->len;
		if (*i < n && s[*i] == '"') {
			(*i)++;
			while (*i < n && s[*i] != '"') {
				if (s[*i] == '\\' && *i + 1 < n)
					(*i)++;
				buf_append_c(fields, s[(*i)++]);
			}
			if (*i >= n)
				return -1;
			(*i)++;
		} else {
			while (*i < n && s[*i] != ' ' && s[*i] != ')') {
				unsigned char c = (unsigned char)s[*i];
				if (!(c > 0x20 && c < 0x7f) || c == '"' ||
				    c == '(' || c == '\\' || c == '{' ||
				    c == '%' || c == '*')
					return -1;
				buf_append_c(fields, s[(*i)++]);
			}
		}
		size_t flen = fields->len - start;
		/* field-name = 1*<any CHAR except CTL, SP and ":"> (RFC 5322) */
		if (flen == 0)
			return -1;
		for (size_t k = start; k < fields->len; k++) {
			unsigned char c = (unsigned char)fields->data[k];
			if (c <= 0x20 || c >= 0x7f || c == ':')
				return -1;
			fields->data[k] = (char)toupper(c);
		}
		if (echo) {
			if (r->nfields)
				buf_append_c(echo, ' ');
			buf_append(echo, fields->data + start, flen);
		}
		buf_append_c(fields, '\0');
		r->nfields++;
		if (*i >= n)
			return -1;
		if (s[*i] == ')') {
			(*i)++;
			if (echo)
				buf_append_c(echo, ')');
			return 0;
		}
		(*i)++; /* SP */
	}
}

int imap_fetch_att_parse(const char *s, size_t n, struct imap_fetch_att *r,
			 struct buf *fields, struct buf *echo,
			 const char **err_r)
{
	static const char *const names[] = {"BODY.PEEK", "BODY", "BINARY.PEEK",
					    "BINARY.SIZE", "BINARY"};
	size_t i = 0, k;
	bool binary;

	memset(r, 0, sizeof(*r));
	buf_reset(fields);
	*err_r = "Invalid fetch attribute";
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		size_t l = strlen(names[k]);
		if (n > l && s[l] == '[' && strncasecmp(s, names[k], l) == 0)
			break;
	}
	if (k == sizeof(names) / sizeof(names[0]))
		return -1;
	strcpy(r->name, names[k]);
	binary = r->name[1] == 'I';
	i = strlen(names[k]) + 1;
	*err_r = "Invalid section";

	/* section-part */
	while (i < n && s[i] >= '1' && s[i] <= '9') {
		uint64_t v;
		if (r->nparts == IMAP_SECTION_MAX_PARTS ||
		    !num_at(s, n, &i, UINT32_MAX, &v))
			return -1;
		r->part[r->nparts++] = (uint32_t)v;
		if (i < n && s[i] == '.' && i + 1 < n && s[i + 1] >= '1' &&
		    s[i + 1] <= '9')
			i++;
		else
			break;
	}
	if (echo && r->nparts) {
		for (k = 0; k < r->nparts; k++)
			buf_printf(echo, "%s%u", k ? "." : "", r->part[k]);
	}
	if (i < n && s[i] != ']') {
		if (binary)
			return -1; /* section-binary: parts only */
		if (r->nparts) {
			if (s[i] != '.')
				return -1;
			i++;
			if (echo)
				buf_append_c(echo, '.');
		}
		size_t w0 = i;
		if (word_at(s, n, &i, "HEADER.FIELDS.NOT")) {
			r->text = IMAP_SECTION_HEADER_FIELDS_NOT;
		} else if (word_at(s, n, &i, "HEADER.FIELDS")) {
			r->text = IMAP_SECTION_HEADER_FIELDS;
		} else if (word_at(s, n, &i, "HEADER")) {
			r->text = IMAP_SECTION_HEADER;
		} else if (word_at(s, n, &i, "TEXT")) {
			r->text = IMAP_SECTION_TEXT;
		} else if (r->nparts && word_at(s, n, &i, "MIME")) {
			r->text = IMAP_SECTION_MIME;
		} else {
			return -1;
		}
		if (echo) {
			size_t e0 = echo->len;
			buf_append(echo, s + w0, i - w0);
			upper(echo->data + e0, i - w0);
		}
		if (r->text == IMAP_SECTION_HEADER_FIELDS ||
		    r->text == IMAP_SECTION_HEADER_FIELDS_NOT) {
			if (header_list(s, n, &i, r, fields, echo) < 0)
				return -1;
		}
	}
	if (i >= n || s[i] != ']')
		return -1;
	i++;
	if (i < n) {
		uint64_t a, b;
		*err_r = "Invalid partial";
		if (s[i] != '<' || strcmp(r->name, "BINARY.SIZE") == 0)
			return -1;
		i++;
		if (!num_at(s, n, &i, UINT32_MAX, &a) || i >= n ||
		    s[i] != '.')
			return -1;
		i++;
		if (!num_at(s, n, &i, UINT32_MAX, &b) || b == 0 || i + 1 != n ||
		    s[i] != '>')
			return -1;
		r->has_partial = true;
		r->partial_start = a;
		r->partial_len = b;
	}
	return 0;
}
