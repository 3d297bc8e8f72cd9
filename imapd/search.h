/* search.h - IMAP search keys: parsing into a tree and matching one
 * message (RFC 9051 6.4.4, RFC 3501 6.4.4; RFC 7162 MODSEQ; RFC 5032
 * OLDER/YOUNGER; RFC 8514 SAVEDBEFORE/SAVEDON/SAVEDSINCE; RFC 5182 "$").
 *
 * Text keys (FROM, SUBJECT, HEADER, BODY, TEXT, ...) match
 * case-insensitively on UTF-8: both sides are case-folded (ASCII plus the
 * simple lowercase mappings of Latin-1, Latin Extended-A, Greek and
 * Cyrillic). Header fields are matched after unfolding and RFC 2047
 * decoding; BODY and TEXT look into the "text" parts of the MIME tree,
 * base64 and quoted-printable decoded and converted to UTF-8, streamed
 * from the store in slices (bounded memory whatever the message size).
 *
 * Memory: a tree is owned by its caller (search_key_free); matching
 * keeps per-message state in struct search_msg (search_msg_release).
 */
#ifndef TANDEM_IMAP_SEARCH_H
#define TANDEM_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "parser.h"
#include "seqset.h"
#include "store.h"

/* NOT/OR/parenthesis nesting accepted in a search program. */
#define SEARCH_MAX_DEPTH 64

struct search_key;

/* What the program refers to, so the command knows what to prepare. */
struct search_info {
	bool uses_dollar;   /* "$" appears (SEARCHRES) */
	bool uses_modseq;   /* MODSEQ appears (RFC 7162 3.1.5) */
	bool uses_text;     /* needs the message's bytes */
};

/* Parses search keys args[0..n) (the search program after CHARSET) into
 * a tree (an implicit AND of them). MSN sets are resolved against
 * msn_max, UID sets against uid_max. Returns the tree (caller frees with
 * search_key_free), or NULL with *err_r a static message for a tagged
 * BAD. */
struct search_key *search_parse(const struct imap_arg *args, size_t n,
				 uint32_t msn_max, uint32_t uid_max,
				 struct search_info *info, const char **err_r);
void search_key_free(struct search_key **k);

/* The message being matched. The caller fills the first group; the rest
 * is loaded lazily by search_match and must be released with
 * search_msg_release before the next message. */
struct search_msg {
	struct store *st;
	const struct store_msg *m;  /* keywords valid during the match */
	uint32_t msn;
	bool recent;
	int64_t now;                /* time(NULL), for OLDER/YOUNGER */
	/* "$": the saved result as UIDs (NULL: empty) */
	const struct seqset *saved_uids;

	/* lazily loaded */
	struct store_body *body;
	bool hdr_loaded;
	struct buf hdr;             /* raw top-level header */
	struct mime_part *tree;
	bool sent_loaded;
	int64_t sent_day;           /* Date: header, day in UTC; -1 none */
	struct store_err err;
};

/* Returns 1 when the message matches, 0 when not, -1 on a store error
 * (sm->err). */
int search_match(const struct search_key *k, struct search_msg *sm);
void search_msg_release(struct search_msg *sm);

/* Appends the case-folded form of UTF-8 text (invalid bytes kept as
 * they are). Exposed for tests. */
void search_fold(const char *s, size_t n, struct buf *out);

/* Matches needle (as a client sends it, UTF-8) against one text part's
 * body as BODY does: data (n bytes) in the Content-Transfer-Encoding
 * encoding (NULL: identity) and charset (NULL: none given), fed in
 * slices of slice bytes as the store hands them out. Returns true on a
 * match. Exposed for tests. */
bool search_text_part(const char *needle, const char *charset,
		      const char *encoding, const char *data, size_t n,
		      size_t slice);

#endif
