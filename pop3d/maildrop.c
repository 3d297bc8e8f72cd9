/* maildrop.c - the login snapshot of INBOX (RFC 1939 5). */
#include "maildrop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store.h"
#include "xalloc.h"

/* True if the space-separated keyword list holds kw (case-insensitive,
 * as IMAP keywords are). */
static bool has_keyword(const char *list, const char *kw)
{
	size_t kl = strlen(kw);

	while (list && *list) {
		const char *end = strchr(list, ' ');
		size_t len = end ? (size_t)(end - list) : strlen(list);

		if (len == kl && strncasecmp(list, kw, kl) == 0)
			return true;
		list = end ? end + 1 : NULL;
	}
	return false;
}

/* RFC 1939 7: a unique-id is 1..70 octets in 0x21..0x7E. */
static bool uidl_valid(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n > 70)
		return false;
	for (; *u; u++)
		if ((unsigned char)*u < 0x21 || (unsigned char)*u > 0x7e)
			return false;
	return true;
}

int maildrop_load(struct maildrop *md, struct store *s, struct store_err *err)
{
	struct store_mailbox mb;
	struct store_msg_iter *it;
	struct store_msg m;
	size_t cap = 0;

	memset(md, 0, sizeof(*md));
	if (store_mailbox_get(s, "INBOX", &mb, err) < 0)
		return -1;
	md->mailbox_id = mb.id;
	md->uidvalidity = mb.uidvalidity;
	cap = mb.messages ? mb.messages : 16;
	md->msgs = xcalloc(cap, sizeof(*md->msgs));
	it = store_msg_iter_begin(s, mb.id, 1, UINT32_MAX, 0);
	while (store_msg_iter_next(it, &m)) {
		struct pop3_msg *pm;

		if (has_keyword(m.keywords, POP3_DELETED_KEYWORD))
			continue;
		if (md->n == cap) {
			cap *= 2;
			md->msgs = xrealloc(md->msgs, cap * sizeof(*md->msgs));
		}
		pm = &md->msgs[md->n++];
		memset(pm, 0, sizeof(*pm));
		pm->uid = m.uid;
		pm->size = m.size;
		pm->body_id = m.body_id;
		if (m.legacy_uidl && uidl_valid(m.legacy_uidl))
			pm->legacy_uidl = xstrdup(m.legacy_uidl);
	}
	if (store_msg_iter_end(&it, err) < 0) {
		maildrop_release(md);
		return -1;
	}
	return 0;
}

void maildrop_release(struct maildrop *md)
{
	for (size_t i = 0; i < md->n; i++)
		free(md->msgs[i].legacy_uidl);
	free(md->msgs);
	memset(md, 0, sizeof(*md));
}

struct pop3_msg *maildrop_get(struct maildrop *md, unsigned long n)
{
	if (n == 0 || n > md->n || md->msgs[n - 1].deleted)
		return NULL;
	return &md->msgs[n - 1];
}

void maildrop_stat(const struct maildrop *md, size_t *count_r,
		   uint64_t *octets_r)
{
	size_t count = 0;
	uint64_t octets = 0;

	for (size_t i = 0; i < md->n; i++) {
		if (md->msgs[i].deleted)
			continue;
		count++;
		octets += md->msgs[i].size;
	}
	*count_r = count;
	*octets_r = octets;
}

void maildrop_rset(struct maildrop *md)
{
	for (size_t i = 0; i < md->n; i++)
		md->msgs[i].deleted = false;
}

void maildrop_uidl(const struct maildrop *md, const struct pop3_msg *m,
		   char *out)
{
	/* Dovecot's default pop3_uidl_format %08Xu%08Xv: stable as long as
	 * the UID and UIDVALIDITY are, i.e. forever. Dovecot's %X expands
	 * to lower-case hex, and a client compares UIDLs as strings, so a
	 * mailbox moved from Dovecot keeps its UIDLs only in lower case. */
	if (m->legacy_uidl)
		snprintf(out, POP3_UIDL_MAX + 1, "%s", m->legacy_uidl);
	else
		snprintf(out, POP3_UIDL_MAX + 1, "%08x%08x", (unsigned)m->uid,
			 (unsigned)md->uidvalidity);
}

static bool selected(const struct pop3_msg *m, enum maildrop_select which)
{
	switch (which) {
	case MAILDROP_DELETED:
		return m->deleted;
	case MAILDROP_RETRIEVED:
		return m->retrieved;
	case MAILDROP_SEEN_WANTED:
		return m->seen_wanted;
	}
	return false;
}

size_t maildrop_uid_ranges(const struct maildrop *md,
			   enum maildrop_select which,
			   struct store_uid_range **r_r)
{
	struct store_uid_range *r = NULL;
	size_t n = 0;

	/* The snapshot is in UID order, so ranges come out sorted. */
	for (size_t i = 0; i < md->n; i++) {
		const struct pop3_msg *m = &md->msgs[i];

		if (!selected(m, which))
			continue;
		if (n > 0 && r[n - 1].hi + 1 == m->uid) {
			r[n - 1].hi = m->uid;
			continue;
		}
		if (!r)
			r = xcalloc(md->n, sizeof(*r));
		r[n].lo = r[n].hi = m->uid;
		n++;
	}
	*r_r = r;
	return n;
}

unsigned long maildrop_parse_num(const char *arg)
{
	unsigned long v = 0;

	if (!arg || !*arg)
		return 0;
	for (const char *p = arg; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 0xffffffffUL)
			return 0;
	}
	return v;
}
