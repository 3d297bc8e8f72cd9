/* mime.h - streaming RFC 5322 / MIME message parser (RFC 2045-2049, RFC 2231).
 *
 * The parser is fed a message in slices of any size, in order, and never
 * needs the whole message in memory. It produces a part tree with byte
 * offsets, sizes and line counts, and the header fields BODYSTRUCTURE and
 * ENVELOPE need (Content-* of every part; Date, Subject and the address
 * fields of the top message and of every message/rfc822 part). Nothing
 * else is kept, and what is kept is capped per field and per part, so the
 * memory used per message is bounded by the part limit.
 *
 * Tree shape (the shape IMAP section numbers follow):
 *   - the root part is the message itself (its header is the message
 *     header, its body the message body);
 *   - a multipart part has one child per body part, in order;
 *   - a message/rfc822 (or message/global) part has exactly one child: the
 *     embedded message, whose header starts where the part's body starts.
 *
 * Broken mail is accepted: bare LF line endings, NULs and 8-bit bytes,
 * header lines without a colon (skipped), missing final boundaries,
 * boundaries of an outer multipart inside a nested part (they close the
 * nested parts), multipart without boundary (no children). A multipart or
 * message/rfc822 part nested deeper than max_depth, or beyond max_parts,
 * is not split: it becomes an application/octet-stream leaf (parameters
 * kept, flag MIME_PART_TRUNCATED), as Dovecot reports it.
 *
 * Offsets are physical byte offsets into the message as fed. Sizes come
 * twice: physical, and "virtual", counting every bare LF as CRLF, which is
 * what IMAP reports (BODYSTRUCTURE size, RFC822.SIZE) when the bytes are
 * sent CRLF-normalised.
 *
 * The result serialises to a compact blob (mime_serialize) that the store
 * keeps per body under MIME_BLOB_NAME, so IMAP does not parse again.
 */
#ifndef TANDEM_MIME_H
#define TANDEM_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* Name of the cached parse result in store_blob_get/store_blob_set. The
 * version changes whenever the blob format does. */
#define MIME_BLOB_NAME "mime.v1"

/* Defaults (Dovecot uses the same nesting and part limits). */
#define MIME_DEFAULT_MAX_DEPTH 100
#define MIME_DEFAULT_MAX_PARTS 10000
/* Bytes kept of one header field value; the rest is dropped. */
#define MIME_MAX_FIELD 8192
/* Bytes kept of all the header field values of one part. */
#define MIME_MAX_PART_HEADER 65536
/* Bytes kept of the header fields of all parts of one message: with
 * the part limit, this bounds a parse result (past it, later parts keep
 * their offsets and sizes but lose their fields). */
#define MIME_MAX_MESSAGE_HEADER (1024 * 1024)
/* Longest boundary recognised (RFC 2046 allows 70; be generous). */
#define MIME_MAX_BOUNDARY 200

struct mime_limits {
	unsigned max_depth; /* 0: MIME_DEFAULT_MAX_DEPTH */
	unsigned max_parts; /* 0: MIME_DEFAULT_MAX_PARTS */
};

/* A parameter, after RFC 2231 continuations are merged (Dovecot's
 * rules): "name*0=a; name*1=b" gives name="ab"; when any piece was
 * extended ("name*0*=utf-8''%E2"), the name gets a trailing "*" and the
 * value stays in RFC 2231 extended form ("utf-8''%E2..."), the plain
 * pieces %-escaped. Merged parameters follow the plain ones. Names and
 * values are as written (case kept, quotes removed, quoted-pairs
 * resolved), as Dovecot reports them. */
struct mime_param {
	char *name;
	char *value;
};

/* The message header fields ENVELOPE needs (RFC 9051 7.5.2), in its
 * order. Values are the raw field bodies, unfolded (CR/LF removed),
 * leading whitespace removed; NULL when absent. As in Dovecot, repeated
 * address fields (From ... Bcc) are joined with ",", and for the others
 * the last occurrence wins. */
enum mime_env_field {
	MIME_ENV_DATE,
	MIME_ENV_SUBJECT,
	MIME_ENV_FROM,
	MIME_ENV_SENDER,
	MIME_ENV_REPLY_TO,
	MIME_ENV_TO,
	MIME_ENV_CC,
	MIME_ENV_BCC,
	MIME_ENV_IN_REPLY_TO,
	MIME_ENV_MESSAGE_ID,
	MIME_ENV_COUNT
};

enum mime_part_flags {
	MIME_PART_MULTIPART = 1u << 0,  /* has children, one per body part */
	MIME_PART_MESSAGE = 1u << 1,    /* message/rfc822: one child message */
	MIME_PART_HAS_TYPE = 1u << 2,   /* a Content-Type field was present */
	MIME_PART_TRUNCATED = 1u << 3,  /* depth/part limit: forced leaf */
	MIME_PART_IS_MESSAGE = 1u << 4, /* root or child of message/rfc822:
					   env[] is meaningful */
};

struct mime_part {
	/* tree */
	struct mime_part *parent;
	struct mime_part *children; /* first child */
	struct mime_part *next;     /* next sibling */

	/* where: physical offsets into the message */
	uint64_t hdr_start;  /* first header byte */
	uint64_t body_start; /* first body byte (after the blank line) */
	uint64_t body_end;   /* one past the last body byte (the line end
				before a boundary belongs to the boundary) */
	/* header sizes include the blank line that ends the header */
	uint64_t hdr_size, hdr_vsize, hdr_lines;
	uint64_t body_size, body_vsize, body_lines; /* lines: LF count */

	unsigned flags; /* enum mime_part_flags */

	/* Content-Type: type and subtype as written (compare them without
	 * case). When the field is absent or unusable they are the RFC 2045
	 * 5.2 default: "text"/"plain" with no params (the formatter adds the
	 * implied charset), or "message"/"rfc822" inside multipart/digest. */
	char *type, *subtype;
	struct mime_param *params;
	size_t nparams;

	/* other Content-* fields, NULL when absent; values unfolded, leading
	 * whitespace removed, the rest as written; the first field wins */
	char *id;          /* Content-ID, raw */
	char *description; /* Content-Description, raw (may be encoded) */
	char *encoding;    /* Content-Transfer-Encoding token, as written */
	char *disposition; /* Content-Disposition type token, as written */
	struct mime_param *disp_params;
	size_t ndisp_params;
	char **language; /* Content-Language tags */
	size_t nlanguage;
	char *location; /* Content-Location, raw (CFWS kept) */
	char *md5;      /* Content-MD5, raw */

	/* message header fields (flag MIME_PART_IS_MESSAGE) */
	char *env[MIME_ENV_COUNT];
};

/* ---- parsing ---------------------------------------------------------- */

struct mime_parser;

/* Returns a new parser; lim NULL means the defaults. Never fails. */
struct mime_parser *mime_parser_new(const struct mime_limits *lim);
/* Feeds the next n bytes of the message (any n, including 0). */
void mime_parser_feed(struct mime_parser *p, const void *data, size_t n);
/* Ends the message: closes every open part at the current offset, frees
 * the parser (*p becomes NULL) and returns the part tree, owned by the
 * caller (mime_part_free). Never NULL. */
struct mime_part *mime_parser_finish(struct mime_parser **p);
/* Convenience: parses a whole message held in memory. */
struct mime_part *mime_parse(const void *data, size_t n,
			     const struct mime_limits *lim);

/* Frees a tree returned by mime_parser_finish, mime_parse or
 * mime_deserialize; *root becomes NULL. NULL is allowed. */
void mime_part_free(struct mime_part **root);

/* ---- the cached form -------------------------------------------------- */

/* Appends the compact serialised form of the tree to out. */
void mime_serialize(const struct mime_part *root, struct buf *out);
/* Rebuilds a tree from mime_serialize's output. Returns the tree (owned
 * by the caller), or NULL when the blob is malformed, truncated or of
 * another version (then parse the message again). */
struct mime_part *mime_deserialize(const void *data, size_t n);

/* ---- lookups ---------------------------------------------------------- */

/* Returns the value of parameter name (case-insensitive) or NULL. */
const char *mime_param_get(const struct mime_param *params, size_t n,
			   const char *name);
/* Returns the number of children of a part. */
size_t mime_part_nchildren(const struct mime_part *part);
/* Returns the 1-based index-th child, or NULL. */
struct mime_part *mime_part_child(const struct mime_part *part,
				  unsigned index);

#endif
