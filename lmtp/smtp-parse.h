/* smtp-parse.h - the pure pieces of SMTP/LMTP syntax.
 *
 * Command lines (RFC 5321 4.1.1), reverse- and forward-paths with quoted
 * local parts (RFC 5321 4.1.2, RFC 6531 for UTF-8), ESMTP parameters,
 * BDAT arguments (RFC 3030) and the message-content decoder that undoes
 * dot-stuffing (RFC 5321 4.5.2) and normalizes line ends to CRLF.
 *
 * No I/O and no allocation except appending to a caller's buffer: every
 * function here can be fed one byte at a time in tests and fuzzed alone.
 * Results that point into the input (parameter values, the argument of a
 * command) stay valid as long as the input does.
 */
#ifndef TANDEM_SMTP_PARSE_H
#define TANDEM_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* RFC 5321 4.5.3.1 sets 64/255/256; the decoded fields are kept a little
 * larger so that an MTA's lenient address is still delivered, not cut. */
#define SMTP_LOCAL_MAX 256
#define SMTP_DOMAIN_MAX 256
#define SMTP_ADDR_MAX 516 /* local (maybe quoted) "@" domain */
#define SMTP_PARAMS_MAX 16
#define SMTP_VERB_MAX 16

/* ---- command line --------------------------------------------------- */

struct smtp_cmd {
	char verb[SMTP_VERB_MAX]; /* upper-cased */
	const char *arg;          /* after the verb and one or more SP */
	size_t arg_len;           /* 0 when there is no argument */
};

/* Splits one command line (CRLF already removed) into verb and argument:
 *   command = verb [ SP argument ]      (RFC 5321 4.1.1)
 * Returns 0, or -1 when the verb is empty, too long or not letters. */
int smtp_cmd_split(const char *line, size_t len, struct smtp_cmd *cmd_r);

/* ---- paths and parameters ------------------------------------------- */

struct smtp_path {
	bool null;                   /* the null reverse-path "<>" */
	char local[SMTP_LOCAL_MAX];  /* local part, quoting removed */
	char domain[SMTP_DOMAIN_MAX];/* "" for a bare "<postmaster>" */
	char addr[SMTP_ADDR_MAX];    /* mailbox as written, source route and
	                              * brackets removed ("" for "<>") */
};

struct smtp_param {
	char keyword[24];  /* upper-cased */
	const char *value; /* into the argument; NULL without "=" */
	size_t value_len;
};

struct smtp_params {
	struct smtp_param p[SMTP_PARAMS_MAX];
	size_t n;
};

enum smtp_parse_result {
	SMTP_PARSE_OK,
	SMTP_PARSE_SYNTAX,    /* not "FROM:"/"TO:" followed by a path */
	SMTP_PARSE_BAD_ADDR,  /* the mailbox in the path is malformed */
	SMTP_PARSE_TOO_LONG,  /* local part or domain over the limits */
	SMTP_PARSE_BAD_PARAM, /* malformed or too many ESMTP parameters */
};

/* Parses the argument of MAIL (prefix "FROM:") or RCPT (prefix "TO:"):
 *   "FROM:" Reverse-path [SP Mail-parameters]     (RFC 5321 4.1.1.2)
 *   "TO:" Forward-path [SP Rcpt-parameters]       (RFC 5321 4.1.1.3)
 *   Path = "<" [ A-d-l ":" ] Mailbox ">"
 *   Mailbox = Local-part "@" ( Domain / address-literal )
 *   Local-part = Dot-string / Quoted-string
 *   esmtp-param = esmtp-keyword ["=" esmtp-value]
 * The prefix matches case-insensitively; spaces after the colon are
 * tolerated (common client habit). "<>" is accepted only when allow_null.
 * A Mailbox without "@domain" is accepted (RFC 5321 "<Postmaster>").
 * Returns SMTP_PARSE_OK with path_r and params_r filled, or the reason. */
enum smtp_parse_result smtp_parse_path_arg(const char *arg, size_t len,
					   const char *prefix, bool allow_null,
					   struct smtp_path *path_r,
					   struct smtp_params *params_r);

/* Parses a decimal number without sign (SIZE=, BDAT chunk-size).
 * Returns 0, or -1 when empty, not digits, or over UINT64_MAX. */
int smtp_parse_number(const char *p, size_t len, uint64_t *n_r);

/* RFC 3030 2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CR LF
 *             chunk-size = 1*DIGIT   end-marker = "LAST"
 * Returns 0, or -1 on a malformed argument. */
int smtp_parse_bdat(const char *arg, size_t len, uint64_t *size_r,
		    bool *last_r);

/* ---- message content ------------------------------------------------ */

/* The content decoder. SMTP_DEC_DATA undoes dot-stuffing and stops at the
 * "." line (RFC 5321 4.5.2; a ".LF" line also ends the data, since bare
 * LF line ends are accepted); SMTP_DEC_RAW (BDAT chunks, tandem-deliver's
 * standard input) only normalizes line ends. In both, every line end --
 * CRLF or bare LF -- is written as CRLF, so what is stored is what POP3
 * and IMAP send; a CR not followed by LF is kept as it is. The state
 * survives between calls: a CR at the end of one piece and the LF at the
 * start of the next make one CRLF. */
enum smtp_dec_mode {
	SMTP_DEC_DATA,
	SMTP_DEC_RAW,
};

enum smtp_dec_status {
	SMTP_DEC_MORE, /* all of the input was used; feed more */
	SMTP_DEC_DONE, /* the end-of-data line was seen (DATA mode only) */
};

struct smtp_dec {
	enum smtp_dec_mode mode;
	int state; /* private */
};

void smtp_dec_init(struct smtp_dec *d, enum smtp_dec_mode mode);
/* Decodes up to n bytes of in, appending the content to out (at most
 * 2 * n + 2 bytes). *used_r gets the bytes of in consumed: all of them on
 * MORE; on DONE, up to and including the end-of-data line's LF. */
enum smtp_dec_status smtp_dec_feed(struct smtp_dec *d, const char *in,
				   size_t n, size_t *used_r, struct buf *out);
/* At the end of RAW input: a last line without a line end gets CRLF
 * (a CR held back as the very last byte becomes that CRLF), so stored
 * messages end with CRLF like DATA's always do, and stored size is what
 * POP3 RETR sends. Empty input stays empty. */
void smtp_dec_finish(struct smtp_dec *d, struct buf *out);

#endif
