/* seqset.c - IMAP sequence sets (RFC 9051 9, RFC 5182). */
#include "seqset.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void seqset_init(struct seqset *set)
{
	memset(set, 0, sizeof(*set));
}

void seqset_release(struct seqset *set)
{
	free(set->r);
	seqset_init(set);
}

void seqset_reset(struct seqset *set)
{
	set->n = 0;
	set->dollar = false;
	set->resolved = false;
}

void seqset_add(struct seqset *set, uint32_t a, uint32_t b)
{
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 8;
		set->r = xrealloc(set->r, set->cap * sizeof(*set->r));
	}
	set->r[set->n].lo = a;
	set->r[set->n].hi = b;
	set->n++;
	set->resolved = false;
}

/* seq-number at s[*i]; returns 0 on error. */
static uint32_t parse_number(const char *s, size_t n, size_t *i)
{
	uint64_t v = 0;
	size_t start = *i;

	if (*i < n && s[*i] == '*') {
		(*i)++;
		return SEQSET_STAR;
	}
	if (*i >= n || s[*i] < '1' || s[*i] > '9')
		return 0;
	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (uint64_t)(s[*i] - '0');
		if (v > UINT32_MAX || *i - start >= 10)
			return 0;
		(*i)++;
	}
	/* UINT32_MAX itself is a valid nz-number but collides with STAR;
	 * no UID or MSN ever reaches it (UIDs are < 2^32 - 1 in practice),
	 * so it is refused. */
	if (v == UINT32_MAX)
		return 0;
	return (uint32_t)v;
}

int seqset_parse(struct seqset *set, const char *s, size_t n,
		 size_t max_ranges, bool allow_dollar, const char **err_r)
{
	size_t i = 0;

	seqset_reset(set);
	if (allow_dollar && n == 1 && s[0] == '$') {
		set->dollar = true;
		return 0;
	}
	for (;;) {
		uint32_t a = parse_number(s, n, &i), b;
		if (a == 0)
			goto bad;
		b = a;
		if (i < n && s[i] == ':') {
			i++;
			b = parse_number(s, n, &i);
			if (b == 0)
				goto bad;
		}
		if (max_ranges && set->n >= max_ranges) {
			*err_r = "Too many ranges in sequence set";
			seqset_reset(set);
			return -1;
		}
		seqset_add(set, a, b);
		if (i == n)
			return 0;
		if (s[i] != ',')
			goto bad;
		i++;
	}
bad:
	*err_r = "Invalid sequence set";
	seqset_reset(set);
	return -1;
}

static int cmp_range(const void *a, const void *b)
{
	const struct seqset_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

void seqset_resolve(struct seqset *set, uint32_t max, bool keep_above)
{
	size_t i, o = 0;

	if (set->resolved)
		return;
	for (i = 0; i < set->n; i++) {
		struct seqset_range r = set->r[i];
		if (r.lo == SEQSET_STAR)
			r.lo = max;
		if (r.hi == SEQSET_STAR)
			r.hi = max;
		if (r.lo > r.hi) {
			uint32_t t = r.lo;
			r.lo = r.hi;
			r.hi = t;
		}
		if (!keep_above) {
			if (r.lo > max || r.lo == 0)
				continue; /* also drops "*" of an empty mailbox */
			if (r.hi > max)
				r.hi = max;
		} else if (r.hi == 0) {
			continue;
		} else if (r.lo == 0) {
			r.lo = 1;
		}
		set->r[o++] = r;
	}
	set->n = o;
	if (set->n > 1)
		qsort(set->r, set->n, sizeof(*set->r), cmp_range);
	o = 0;
	for (i = 0; i < set->n; i++) {
		if (o > 0 && (uint64_t)set->r[o - 1].hi + 1 >= set->r[i].lo) {
			if (set->r[i].hi > set->r[o - 1].hi)
				set->r[o - 1].hi = set->r[i].hi;
		} else {
			set->r[o++] = set->r[i];
		}
	}
	set->n = o;
	set->resolved = true;
}

uint32_t seqset_highest(const struct seqset *set, uint32_t max)
{
	uint32_t h = 0;

	for (size_t i = 0; i < set->n; i++) {
		uint32_t a = set->r[i].lo == SEQSET_STAR ? max : set->r[i].lo;
		uint32_t b = set->r[i].hi == SEQSET_STAR ? max : set->r[i].hi;
		if (a > h)
			h = a;
		if (b > h)
			h = b;
	}
	return h;
}

bool seqset_contains(const struct seqset *set, uint32_t n)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (n < set->r[mid].lo)
			hi = mid;
		else if (n > set->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

uint64_t seqset_count(const struct seqset *set)
{
	uint64_t c = 0;

	for (size_t i = 0; i < set->n; i++)
		c += (uint64_t)set->r[i].hi - set->r[i].lo + 1;
	return c;
}

void seqset_begin(struct seqset_iter *it, const struct seqset *set)
{
	it->set = set;
	it->i = 0;
	it->next = set->n ? set->r[0].lo : 0;
	it->started = false;
}

bool seqset_next(struct seqset_iter *it, uint32_t *n_r)
{
	const struct seqset *set = it->set;

	while (it->i < set->n) {
		const struct seqset_range *r = &set->r[it->i];
		if (!it->started) {
			it->next = r->lo;
			it->started = true;
		}
		if (it->next <= r->hi) {
			*n_r = it->next;
			if (it->next == r->hi) {
				it->i++;
				it->started = false;
			} else {
				it->next++;
			}
			return true;
		}
		it->i++;
		it->started = false;
	}
	return false;
}

void seqset_msn_to_uid(const struct seqset *msns, const uint32_t *uids,
		       uint32_t count, struct seqset *out)
{
	seqset_reset(out);
	for (size_t i = 0; i < msns->n; i++) {
		uint32_t lo = msns->r[i].lo, hi = msns->r[i].hi;
		if (lo == 0 || lo > count)
			continue;
		if (hi > count)
			hi = count;
		seqset_add(out, uids[lo - 1], uids[hi - 1]);
	}
	/* Already sorted and disjoint; resolve merges adjacent UID ranges. */
	seqset_resolve(out, UINT32_MAX - 1, true);
}

void seqset_write(const struct seqset *set, struct buf *out)
{
	for (size_t i = 0; i < set->n; i++) {
		if (i)
			buf_append_c(out, ',');
		if (set->r[i].lo == set->r[i].hi)
			buf_printf(out, "%" PRIu32, set->r[i].lo);
		else
			buf_printf(out, "%" PRIu32 ":%" PRIu32, set->r[i].lo,
				   set->r[i].hi);
	}
}
