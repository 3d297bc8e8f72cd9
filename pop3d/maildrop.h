/* maildrop.h - the POP3 view of a user's INBOX, a snapshot taken at login.
 *
 * RFC 1939 5: message numbers are 1..n for the whole session; a message
 * marked deleted keeps its number and is invisible to every command. The
 * snapshot is an array of {uid, size, body_id, marks}; messages arriving
 * later appear at the next login. Messages carrying the keyword
 * "$POP3Deleted" (delete_mode = flag) are left out.
 * Reads run on the loop thread (store reads); nothing here writes.
 */
#ifndef TANDEM_POP3_MAILDROP_H
#define TANDEM_POP3_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_err;
struct store_uid_range;

#define POP3_DELETED_KEYWORD "$POP3Deleted"
/* "%08x%08x" of UID and UIDVALIDITY, or a legacy UIDL (RFC 1939 7: 1 to
 * 70 characters in 0x21..0x7E). */
#define POP3_UIDL_MAX 71

struct pop3_msg {
	uint32_t uid;
	uint64_t size;       /* stored octets, what RETR sends before ".CRLF" */
	int64_t body_id;
	char *legacy_uidl;   /* imported UIDL, or NULL */
	bool deleted;        /* DELE in this session */
	bool retrieved;      /* RETR in this session */
	bool seen_wanted;    /* RETR or TOP in this session (\Seen at QUIT) */
};

struct maildrop {
	int64_t mailbox_id;
	uint32_t uidvalidity;
	struct pop3_msg *msgs;
	size_t n;
};

/* Fills md from the INBOX of s. Returns 0, or -1 with err set. */
int maildrop_load(struct maildrop *md, struct store *s, struct store_err *err);
void maildrop_release(struct maildrop *md);

/* Message number n (1-based) if it exists and is not marked deleted,
 * else NULL. */
struct pop3_msg *maildrop_get(struct maildrop *md, unsigned long n);
/* Count and octets of the messages not marked deleted (STAT). */
void maildrop_stat(const struct maildrop *md, size_t *count_r,
		   uint64_t *octets_r);
/* Unmarks every deletion (RSET). */
void maildrop_rset(struct maildrop *md);
/* Writes the unique-id of m into out (POP3_UIDL_MAX + 1 bytes). */
void maildrop_uidl(const struct maildrop *md, const struct pop3_msg *m,
		   char *out);

enum maildrop_select {
	MAILDROP_DELETED,
	MAILDROP_RETRIEVED,
	MAILDROP_SEEN_WANTED,
};
/* Builds the sorted UID ranges of the messages with the chosen mark into
 * *r_r (caller frees; NULL when none). Returns the range count. */
size_t maildrop_uid_ranges(const struct maildrop *md,
			   enum maildrop_select which,
			   struct store_uid_range **r_r);

/* Parses a POP3 message number: decimal digits only, 1..2^32. Returns
 * the number, or 0 when arg is not one. */
unsigned long maildrop_parse_num(const char *arg);

#endif
