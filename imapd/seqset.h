/* seqset.h - IMAP sequence sets (RFC 9051 9: sequence-set; RFC 5182 "$").
 *
 *   sequence-set = (seq-number / seq-range) ["," sequence-set]
 *   seq-range    = seq-number ":" seq-number
 *   seq-number   = nz-number / "*"
 *
 * A set is parsed into ranges exactly as written (STAR for "*", reversed
 * ranges kept), then resolved against the current maximum (message count
 * for MSN sets, the highest UID for UID sets): "*" becomes the maximum,
 * each range is ordered lo <= hi, and the ranges are sorted and merged,
 * so a resolved set is a list of sorted, disjoint, non-adjacent inclusive
 * ranges (the same layout as storage's struct store_uid_range).
 * Parsing is O(n), resolving O(r log r) for r ranges; the number of
 * ranges is bounded by the caller's limit. Pure: core headers only.
 */
#ifndef TANDEM_IMAP_SEQSET_H
#define TANDEM_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SEQSET_STAR UINT32_MAX

struct seqset_range {
	uint32_t lo, hi;
};

struct seqset {
	struct seqset_range *r; /* owned; xmalloc'd */
	size_t n, cap;
	bool dollar;   /* the set was "$" (SEARCHRES): r is empty */
	bool resolved; /* seqset_resolve ran: sorted, disjoint, no STAR */
};

#define SEQSET_INIT {NULL, 0, 0, false, false}

void seqset_init(struct seqset *set);
void seqset_release(struct seqset *set);
/* Empties the set, keeping its storage. */
void seqset_reset(struct seqset *set);

/* Parses (s, n) into set (which is reset first). max_ranges bounds the
 * number of comma-separated items (0: no bound). allow_dollar accepts a
 * lone "$". Returns 0, or -1 with *err_r set to a static message
 * ("Invalid sequence set", "Too many ranges in sequence set") and set
 * empty. Numbers must be nz-number (1..4294967295, no leading zero). */
int seqset_parse(struct seqset *set, const char *s, size_t n,
		 size_t max_ranges, bool allow_dollar, const char **err_r);

/* Adds the range [a, b] (any order, STAR allowed) unresolved. */
void seqset_add(struct seqset *set, uint32_t a, uint32_t b);

/* Resolves "*" to max, orders, sorts and merges (see above).
 * MSN sets (keep_above false): ranges are clipped to 1..max, so with max 0
 * (empty mailbox) every set becomes empty; the caller checks
 * seqset_highest() first if numbers above max must be refused.
 * UID sets (keep_above true): numbers above max stay (asking for UIDs
 * that do not exist is not an error), and "559:*" with max 500 is
 * 500:559 (RFC 9051 6.4.9). Idempotent. */
void seqset_resolve(struct seqset *set, uint32_t max, bool keep_above);

/* Highest number in the set as written, STAR counting as max (before
 * resolving), so MSN commands can answer BAD for a number > EXISTS
 * (RFC 9051 6.4.4 ... "invalid message sequence number"). */
uint32_t seqset_highest(const struct seqset *set, uint32_t max);

/* True when n is in the (resolved) set. O(log r). */
bool seqset_contains(const struct seqset *set, uint32_t n);
/* Number of members of the (resolved) set. */
uint64_t seqset_count(const struct seqset *set);

/* Iterates over the members of a resolved set in ascending order:
 *     struct seqset_iter it; uint32_t n;
 *     seqset_begin(&it, set);
 *     while (seqset_next(&it, &n)) ...
 */
struct seqset_iter {
	const struct seqset *set;
	size_t i;
	uint32_t next;
	bool started;
};
void seqset_begin(struct seqset_iter *it, const struct seqset *set);
bool seqset_next(struct seqset_iter *it, uint32_t *n_r);

/* Converts a resolved MSN set into a resolved UID set: uids[0..count) is
 * the mailbox view's ascending UID array (MSN i is uids[i-1]). MSNs above
 * count are ignored. A range of consecutive MSNs lo..hi becomes the UID
 * range uids[lo-1]..uids[hi-1], which holds exactly the UIDs of those
 * messages because the array is ascending and every UID between two
 * neighbours is absent from the view. out is reset first. */
void seqset_msn_to_uid(const struct seqset *msns, const uint32_t *uids,
		       uint32_t count, struct seqset *out);

/* Appends the resolved set in its shortest form, "1:3,5,7:9"; an empty
 * set appends nothing. */
void seqset_write(const struct seqset *set, struct buf *out);

#endif
