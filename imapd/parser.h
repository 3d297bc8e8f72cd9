/* parser.h - resumable IMAP command parser (RFC 9051 2.2, 4, 9;
 * RFC 7888 LITERAL+/LITERAL-; RFC 3516 literal8).
 *
 *   command = tag SP (command-any / command-auth / ...) CRLF
 *   tag     = 1*<any ASTRING-CHAR except "+">
 *
 * Pure: no I/O, core headers only. The session feeds whatever bytes are
 * in its input buffer; the parser consumes some and says what happened:
 *
 *   IMAP_PARSE_MORE          every byte was consumed; feed more later.
 *   IMAP_PARSE_DONE          a complete command: imap_parser_command().
 *                            The bytes after its CRLF are not consumed.
 *   IMAP_PARSE_LITERAL_WAIT  a literal header ("{n}", "{n+}", "~{n}", ...)
 *                            and its CRLF were consumed. The session looks
 *                            at imap_parser_literal() (size, sync, where)
 *                            and at the command so far (imap_parser_tag,
 *                            _name, _args), then calls exactly one of
 *                            imap_parser_literal_buffer()  keep it as an
 *                                 argument (fails when over max_line),
 *                            imap_parser_literal_stream()  hand the bytes
 *                                 over as LITERAL_DATA (APPEND),
 *                            imap_parser_literal_reject()  the command is
 *                                 over; the session answers tagged NO/BAD.
 *                            For a synchronizing literal the session sends
 *                            "+ Ready" after buffer/stream; the client
 *                            sends nothing until then. A rejected
 *                            non-synchronizing literal (RFC 7888: over
 *                            4096 octets with only LITERAL-, or too big)
 *                            is still sent by the client: the parser
 *                            skips its bytes and the rest of the line.
 *   IMAP_PARSE_LITERAL_DATA  (streamed literal) imap_parser_chunk() gives
 *                            bytes of the literal, pointing into the data
 *                            just fed (valid until the caller consumes
 *                            them); they are counted in *consumed_r.
 *   IMAP_PARSE_ERROR         a syntax error or limit: imap_parser_error()
 *                            has a message for "tag BAD msg" (or "* BAD"
 *                            when imap_parser_tag() is NULL). The parser
 *                            then skips the rest of the bad line by
 *                            itself (including a non-synchronizing
 *                            literal announced at its end) on the next
 *                            feeds; no reset is needed.
 *
 * Arguments are a small tree of struct imap_arg: atoms (which include
 * sequence sets, flags like \Seen, and section specs: after BODY,
 * BODY.PEEK, BINARY, BINARY.PEEK or BINARY.SIZE a '[' runs to the
 * matching ']', across " (" header lists and quoted names, so
 * "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>" is one atom; see
 * imap_fetch_att_parse; elsewhere '[' and ']' are plain atom bytes, as in
 * "[Gmail]/Sent"), NIL, quoted strings, literals and lists. The command
 * name is upper-cased; "UID FETCH" etc. come as one name.
 *
 * Lenient on purpose: bare LF ends a line like CRLF, extra spaces between
 * arguments and a trailing space are accepted, 8-bit bytes may appear in
 * atoms and quoted strings (consumers validate UTF-8 where it matters).
 * Strict: NUL anywhere outside a literal8 is an error; '(' inside an atom;
 * a quoted string escaping anything but '"' or '\'; a token not followed
 * by SP, ')' or the line end; unbalanced parentheses; nesting deeper than
 * max_depth; more than max_line bytes held for one command (the line plus
 * buffered literals; streamed literals are not held).
 *
 * Memory: everything of a command lives in the parser and stays valid
 * until the next imap_parser_feed(); imap_parser_read_line() does not
 * touch it.
 */
#ifndef TANDEM_IMAP_PARSER_H
#define TANDEM_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum imap_parse_result {
	IMAP_PARSE_MORE,
	IMAP_PARSE_DONE,
	IMAP_PARSE_LITERAL_WAIT,
	IMAP_PARSE_LITERAL_DATA,
	IMAP_PARSE_ERROR,
};

enum imap_parse_error {
	IMAP_PERR_NONE,
	IMAP_PERR_SYNTAX,
	IMAP_PERR_NUL,       /* NUL byte outside a literal8 */
	IMAP_PERR_TOO_LONG,  /* over max_line */
	IMAP_PERR_TOO_DEEP,  /* lists nested deeper than max_depth */
};

enum imap_arg_type {
	IMAP_ARG_ATOM,
	IMAP_ARG_NIL,            /* the atom NIL, any case */
	IMAP_ARG_STRING,         /* quoted, unescaped */
	IMAP_ARG_LITERAL,        /* {n} or ~{n}, buffered */
	IMAP_ARG_LITERAL_STREAM, /* streamed to the session: no str */
	IMAP_ARG_LIST,
};

struct imap_arg {
	enum imap_arg_type type;
	bool binary;            /* literal8 (~{n}) */
	const char *str;        /* ATOM/NIL/STRING/LITERAL: NUL-terminated
				 * (a literal8 may also hold NUL) */
	size_t len;
	uint64_t literal_size;  /* LITERAL, LITERAL_STREAM */
	struct imap_arg *list;  /* LIST: its elements */
	size_t list_count;
};

struct imap_command {
	const char *tag;
	const char *name;        /* upper case; "UID FETCH" for UID commands */
	struct imap_arg *args;
	size_t nargs;
};

struct imap_parser_limits {
	size_t max_line;   /* bytes held per command (config max_line) */
	unsigned max_depth; /* list nesting, e.g. 32 */
};

struct imap_literal_info {
	uint64_t size;
	bool sync;     /* "{n}" / "~{n}": the client waits for "+" */
	bool binary;   /* "~{n}" */
	unsigned depth; /* 0 when a top-level argument, else list depth */
	size_t argc;   /* top-level arguments before it */
};

struct imap_parser;

struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim);
void imap_parser_free(struct imap_parser **p);

/* Consumes bytes from (data, len); *consumed_r gets how many (the caller
 * drops them from its input buffer). See the top of this file. */
enum imap_parse_result imap_parser_feed(struct imap_parser *p,
					const char *data, size_t len,
					size_t *consumed_r);

/* After DONE: the command (owned by the parser). */
const struct imap_command *imap_parser_command(struct imap_parser *p);

/* While a command is being parsed or after DONE/ERROR: the tag, or NULL
 * when no complete tag was read; the name, or NULL. */
const char *imap_parser_tag(const struct imap_parser *p);
const char *imap_parser_name(const struct imap_parser *p);
/* The arguments complete so far (at LITERAL_WAIT: the ones before the
 * literal; open lists appear with what they hold so far). */
struct imap_arg *imap_parser_args(struct imap_parser *p, size_t *n_r);

/* After LITERAL_WAIT. */
const struct imap_literal_info *imap_parser_literal(const struct imap_parser *p);
/* Returns 0, or -1 when the literal would exceed max_line (the parser
 * state is unchanged; the session then rejects). */
int imap_parser_literal_buffer(struct imap_parser *p);
/* A streamed literal of size 0 yields no LITERAL_DATA at all. */
void imap_parser_literal_stream(struct imap_parser *p);
void imap_parser_literal_reject(struct imap_parser *p);

/* After LITERAL_DATA: the bytes; *last_r true when they end the literal. */
void imap_parser_chunk(const struct imap_parser *p, const char **data_r,
		       size_t *len_r, bool *last_r);

/* After ERROR. */
const char *imap_parser_error(const struct imap_parser *p);
enum imap_parse_error imap_parser_error_code(const struct imap_parser *p);

/* Raw line mode, only between commands (after DONE, before the next
 * feed): reads one line (AUTHENTICATE responses, IDLE's DONE) into the
 * parser's line buffer. Returns MORE (all consumed, no LF yet), DONE with
 * (*line_r, *len_r) without the CRLF (NUL-terminated, valid until the
 * next read_line), or ERROR once the LF of a line holding a NUL byte or
 * longer than max_line was consumed (imap_parser_error() says which; the
 * bad bytes are not held). Bytes after the LF are never consumed. */
enum imap_parse_result imap_parser_read_line(struct imap_parser *p,
					     const char *data, size_t len,
					     size_t *consumed_r,
					     const char **line_r, size_t *len_r);

/* ---- argument helpers (all return false on a type mismatch) -------- */

/* ATOM (not NIL) equal to word, case-insensitively. */
bool imap_arg_atom_eq(const struct imap_arg *a, const char *word);
bool imap_arg_atom(const struct imap_arg *a, const char **s_r);
/* string = quoted / literal (buffered). */
bool imap_arg_string(const struct imap_arg *a, const char **s_r,
		     size_t *len_r);
/* astring: a string, or an atom of ASTRING-CHARs (NIL counts as "NIL"). */
bool imap_arg_astring(const struct imap_arg *a, const char **s_r,
		      size_t *len_r);
/* nstring: NIL gives *s_r NULL. */
bool imap_arg_nstring(const struct imap_arg *a, const char **s_r,
		      size_t *len_r);
/* list-mailbox = 1*list-char / string (atoms may hold '%' and '*'). */
bool imap_arg_list_mailbox(const struct imap_arg *a, const char **s_r,
			   size_t *len_r);
/* number / number64: an atom of digits without sign, <= max. */
bool imap_arg_number(const struct imap_arg *a, uint64_t max, uint64_t *n_r);
bool imap_arg_list(const struct imap_arg *a, struct imap_arg **list_r,
		   size_t *n_r);

/* ---- fetch-att with a section (RFC 9051 6.4.5, 9; RFC 3516) --------
 *
 *   section        = "[" [section-spec] "]"
 *   section-spec   = section-msgtext / (section-part ["." section-text])
 *   section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
 *                    "TEXT"
 *   section-part   = nz-number *("." nz-number)
 *   section-text   = section-msgtext / "MIME"
 *   header-list    = "(" header-fld-name *(SP header-fld-name) ")"
 *   partial        = "<" number "." nz-number ">"
 *   section-binary = "[" [section-part] "]"
 */
#define IMAP_SECTION_MAX_PARTS 32

enum imap_section_text {
	IMAP_SECTION_ALL,           /* "[]" or "[1.2]" */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,          /* only after a part number */
};

struct imap_fetch_att {
	char name[16];        /* upper case: BODY, BODY.PEEK, BINARY,
			       * BINARY.PEEK, BINARY.SIZE */
	uint32_t part[IMAP_SECTION_MAX_PARTS];
	size_t nparts;
	enum imap_section_text text;
	size_t nfields;       /* HEADER.FIELDS names, in fields */
	bool has_partial;
	uint64_t partial_start, partial_len;
};

/* Parses an atom such as "BODY.PEEK[1.2.HEADER.FIELDS (A \"B\")]<0.100>".
 * Header field names go into fields, each NUL-terminated one after the
 * other (nfields of them; fields is reset first), upper-cased. The
 * section text as it should be echoed in the response ("1.2.HEADER.FIELDS
 * (A B)") goes into echo if not NULL. Returns 0, or -1 with *err_r. */
int imap_fetch_att_parse(const char *s, size_t n, struct imap_fetch_att *r,
			 struct buf *fields, struct buf *echo,
			 const char **err_r);

#endif
