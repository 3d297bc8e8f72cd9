/* store.h - the mail store: one SQLite database per user (WAL).
 *
 * The store knows users, mailboxes, UIDs, UIDVALIDITY, flags, keywords,
 * MODSEQs, sizes and dates. It knows nothing of MSNs, POP3 message
 * numbers, response codes, quoting or UTF-7.
 *
 * Layout under data_dir:
 *     mail/<user>/store.db     (+ -wal, -shm) the user's store
 *     mail/<user>/notify       touched after every commit (change feed)
 *     mail/<user>/<name>.lock  named exclusive locks (OFD locks)
 *
 * Threads. A struct store is shared by every session of that user in the
 * process (store_open returns the same handle, refcounted). It holds two
 * SQLite connections:
 *   - the reader, used only on the loop thread: every function in the
 *     "reads" section below. Point reads by primary key cost ~10 us.
 *   - the writer, behind a mutex: every function in the "writes" section.
 *     Writes may block on fsync (1 ms median, 10-60 ms p99), so daemons
 *     call them from a worker thread (core/work.h); tandemctl and tests
 *     may call them directly. Each write is one BEGIN IMMEDIATE
 *     transaction with synchronous=FULL: once it returns 0 the change
 *     survives kill -9 and power loss.
 * Functions taking a struct store_err * fill it on failure; -1 is the only
 * failure return. Errors never leave the store in a half-written state.
 *
 * Change feed. After each commit the writer touches mail/<user>/notify; a
 * libuv fs watch (one per store per process) and an in-process async
 * wake-up call every store_watch callback on the loop thread. Sessions
 * then ask "what changed since MODSEQ n" with store_msg_iter_begin
 * (changedsince) and store_expunged_iter_begin.
 *
 * MODSEQ is one counter per user store, shared by all its mailboxes: every
 * change (append, flag change, expunge) takes the next value, so a
 * mailbox's HIGHESTMODSEQ is the largest MODSEQ of its changes.
 * UIDs are never reused: UIDNEXT is kept in the mailbox row, never
 * computed as MAX(uid)+1.
 */
#ifndef TANDEM_STORE_H
#define TANDEM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct buf;
struct store;

enum store_error {
	STORE_OK = 0,
	STORE_ERR_NOTFOUND,  /* no such user, mailbox or message */
	STORE_ERR_EXISTS,    /* mailbox already exists */
	STORE_ERR_INUSE,     /* a named lock is held elsewhere */
	STORE_ERR_TEMP,      /* disk, busy database: try again later */
	STORE_ERR_PERM,      /* not allowed (delete INBOX, ...) */
	STORE_ERR_INVALID,   /* bad mailbox name or argument */
	STORE_ERR_TOOBIG,    /* message over a size limit */
	STORE_ERR_OVERQUOTA,
	STORE_ERR_CORRUPT,   /* the store failed a consistency check */
	STORE_ERR_EXPUNGED,  /* the message was expunged meanwhile */
	STORE_ERR_HASCHILDREN, /* DELETE of a mailbox with inferiors that is \Noselect */
};

struct store_err {
	enum store_error code;
	char msg[256];
};

/* System flags, as a bitmask. Keywords are separate strings. */
enum {
	STORE_F_SEEN = 1u << 0,
	STORE_F_ANSWERED = 1u << 1,
	STORE_F_FLAGGED = 1u << 2,
	STORE_F_DELETED = 1u << 3,
	STORE_F_DRAFT = 1u << 4,
};

/* Special-use attributes (stored; the front end names them). */
enum {
	STORE_SU_DRAFTS = 1u << 0,
	STORE_SU_SENT = 1u << 1,
	STORE_SU_TRASH = 1u << 2,
	STORE_SU_JUNK = 1u << 3,
	STORE_SU_ARCHIVE = 1u << 4,
	STORE_SU_ALL = 1u << 5,
	STORE_SU_FLAGGED = 1u << 6,
};

/* Mailbox names are UTF-8, hierarchy separator '/', "INBOX" in upper case
 * (store_mailbox_* functions match INBOX case-insensitively). */
#define STORE_SEP '/'

/* ---- process-wide -------------------------------------------------- */

/* Sets where stores live. loop may be NULL (tandemctl, tools): then there
 * is no change feed in this process. Call once before store_open. */
void store_global_init(uv_loop_t *loop, const char *data_dir);
/* Returns true if name is acceptable as a user name (also a directory
 * name): 1-64 chars of [A-Za-z0-9._@+-], not starting with '.'. */
bool store_user_name_valid(const char *name);

/* Opens (or shares) the store of user. With create, a missing store is
 * created with INBOX, Drafts, Sent, Trash, Junk and Archive (special-use).
 * Migrations run here. Returns 0 and a reference in *s_r, or -1
 * (NOTFOUND when !create and the store does not exist). */
int store_open(const char *user, bool create, struct store **s_r,
	       struct store_err *err);
struct store *store_ref(struct store *s);
/* Drops a reference; the last one closes the store. NULLs *s. */
void store_unref(struct store **s);
const char *store_user(const struct store *s);
/* Asks SQLite to release cache memory (call when sessions idle). */
void store_release_memory(struct store *s);
/* Removes a user's store from disk (tandemctl user del). */
int store_remove_user(const char *user, struct store_err *err);

/* ---- change feed (loop thread) ------------------------------------- */

struct store_watch;
typedef void store_change_cb(struct store *s, void *arg);
/* cb runs on the loop thread after any commit to this store by any
 * process; several commits may coalesce into one call. */
struct store_watch *store_watch_add(struct store *s, store_change_cb *cb,
				    void *arg);
void store_watch_remove(struct store_watch **w);
/* While the watch callbacks of one round run: a number naming the round,
 * never used by another round of any store of this process; 0 outside
 * one. What a callback reads may be kept and reused by the others of the
 * same round: a commit that lands after the round began brings another
 * round, so nobody is left behind by a reader that read a little early. */
uint64_t store_feed_round(const struct store *s);

/* ---- mailboxes (reads) --------------------------------------------- */

struct store_mailbox {
	int64_t id;
	char name[512];        /* UTF-8, '/' separated */
	char mailboxid[40];    /* OBJECTID MAILBOXID, stable over renames */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;
	uint32_t unseen;       /* messages without \Seen */
	uint32_t deleted;      /* messages with \Deleted */
	uint32_t recent;       /* uid >= first_recent_uid */
	uint32_t first_recent_uid;
	uint64_t size;         /* sum of message sizes */
	unsigned special_use;  /* STORE_SU_* */
	bool subscribed;
};

/* Looks a mailbox up by name. Returns 0, or -1 (NOTFOUND). */
int store_mailbox_get(struct store *s, const char *name,
		      struct store_mailbox *mb_r, struct store_err *err);
int store_mailbox_get_by_id(struct store *s, int64_t id,
			    struct store_mailbox *mb_r, struct store_err *err);
/* Just what a session's sync compares after every command: one row, no
 * counts, no name. Returns 0, or -1 (NOTFOUND: the mailbox is gone). */
int store_mailbox_state(struct store *s, int64_t id, uint32_t *uidvalidity_r,
			uint32_t *uidnext_r, uint64_t *highestmodseq_r,
			struct store_err *err);

/* Iterates over all mailboxes, ordered by name. Subscribed names whose
 * mailbox does not exist are not listed here (see store_subscription_*). */
struct store_mailbox_iter;
struct store_mailbox_iter *store_mailbox_iter_begin(struct store *s);
bool store_mailbox_iter_next(struct store_mailbox_iter *it,
			     struct store_mailbox *mb_r);
/* Returns 0, or -1 if the iteration stopped on an error. */
int store_mailbox_iter_end(struct store_mailbox_iter **it,
			   struct store_err *err);

/* Subscriptions may name mailboxes that do not exist (RFC 9051 6.3.7). */
struct store_sub_iter;
struct store_sub_iter *store_subscription_iter_begin(struct store *s);
const char *store_subscription_iter_next(struct store_sub_iter *it);
void store_subscription_iter_end(struct store_sub_iter **it);

/* ---- messages (reads) ---------------------------------------------- */

struct store_msg {
	uint32_t uid;
	uint32_t flags;          /* STORE_F_* */
	uint64_t modseq;
	int64_t internaldate;    /* seconds since the epoch */
	int tzoff;               /* minutes east of UTC for INTERNALDATE */
	int64_t savedate;        /* when it entered this mailbox */
	uint64_t size;           /* octets of the stored message */
	int64_t body_id;         /* identifies the immutable bytes */
	int64_t retrieved;       /* time first retrieved whole, 0 if never */
	const char *keywords;    /* space-separated; valid until next call */
	const char *legacy_uidl; /* imported POP3 UIDL, or NULL */
	char emailid[40];        /* OBJECTID EMAILID */
	char threadid[40];       /* OBJECTID THREADID */
};

/* Iterates over messages of a mailbox with uid_min <= uid <= uid_max and
 * modseq > changedsince (0: all), in UID order. */
struct store_msg_iter;
struct store_msg_iter *store_msg_iter_begin(struct store *s,
					    int64_t mailbox_id,
					    uint32_t uid_min, uint32_t uid_max,
					    uint64_t changedsince);
bool store_msg_iter_next(struct store_msg_iter *it, struct store_msg *m_r);
int store_msg_iter_end(struct store_msg_iter **it, struct store_err *err);

/* The UIDs of a mailbox, ascending, in one scan (a session's MSN map):
 * *uids_r (caller frees; NULL when empty) and *n_r. Returns 0, or -1. */
int store_uids_get(struct store *s, int64_t mailbox_id, uint32_t **uids_r,
		   uint32_t *n_r, struct store_err *err);

/* The lowest UID of a message of the mailbox that has none of flags
 * (STORE_F_*), in *uid_r, 0 when there is none; rows are not read out
 * one by one (rev1 SELECT's first unseen in a large mailbox where all
 * but the newest are \Seen). Returns 0, or -1. */
int store_first_uid_without(struct store *s, int64_t mailbox_id,
			    uint32_t flags, uint32_t *uid_r,
			    struct store_err *err);

/* One message by UID. Returns 0, or -1 (NOTFOUND when expunged). The
 * keywords/legacy_uidl pointers stay valid until the next store call. */
int store_msg_get(struct store *s, int64_t mailbox_id, uint32_t uid,
		  struct store_msg *m_r, struct store_err *err);

/* UIDs expunged from a mailbox with expunge modseq > since, in UID order
 * (QRESYNC VANISHED, session resync). Expunge records are kept for
 * STORE_EXPUNGE_KEEP_DAYS. */
#define STORE_EXPUNGE_KEEP_DAYS 365
struct store_expunged_iter;
struct store_expunged_iter *store_expunged_iter_begin(struct store *s,
						      int64_t mailbox_id,
						      uint64_t since);
bool store_expunged_iter_next(struct store_expunged_iter *it,
			      uint32_t *uid_r, uint64_t *modseq_r);
void store_expunged_iter_end(struct store_expunged_iter **it);
/* The lowest modseq for which the expunge history is complete. */
uint64_t store_expunged_horizon(struct store *s, int64_t mailbox_id);

/* Groups the reads that follow on the loop thread into one read
 * transaction: one snapshot and one round of file locks instead of one
 * per read (a FETCH 1:* of 100 000 messages otherwise spends a fifth of
 * its time in fcntl). store_read_end must come before the loop thread
 * goes back to the loop: an open read transaction holds back WAL
 * checkpoints. Batches nest (the outermost one is the transaction); a
 * write committed on the loop thread inside a batch starts a new
 * snapshot for the reads after it. A failed begin just leaves each read
 * on its own. */
void store_read_begin(struct store *s);
void store_read_end(struct store *s);

/* ---- message bytes (reads) ----------------------------------------- */

/* Message bytes are kept in the database in fixed 64 KiB chunks
 * (body_chunk table): a slice at any offset is one primary-key read, so
 * RETR and FETCH BODY[] stream any size with bounded memory, and a body
 * is stored in the same transaction as its message row (one fsync, no
 * orphan files after a crash). A COPY shares the body (refcount). */
#define STORE_CHUNK_SIZE 65536
struct store_body;
int store_body_open(struct store *s, int64_t body_id,
		    struct store_body **b_r, struct store_err *err);
uint64_t store_body_size(const struct store_body *b);
/* Copies up to len bytes from offset into dst, straight from the
 * database (no intermediate chunk copy; a big body reads through a
 * bounded mmap window). Returns the count (0 at the end; fewer than len
 * only at the end or before an error the next call reports), or -1.
 * Holds no transaction open between calls. */
ssize_t store_body_read(struct store_body *b, uint64_t offset, void *dst,
			size_t len, struct store_err *err);
/* Borrowing read: points *p_r at up to one chunk starting at offset,
 * valid until the next call on b. Returns the length, 0 at end, -1. */
ssize_t store_body_peek(struct store_body *b, uint64_t offset,
			const char **p_r, struct store_err *err);
void store_body_close(struct store_body **b);

/* Named opaque blobs per body: MIME_BLOB_NAME (core/mime.h) holds the
 * parsed MIME structure, filled by store_append (see store_spool_new). Returns 0 and fills out, or -1 (NOTFOUND
 * when absent). */
int store_blob_get(struct store *s, int64_t body_id, const char *name,
		   struct buf *out, struct store_err *err);

/* Small per-user key/value state (e.g. the last POP3 login time). */
int store_meta_get(struct store *s, const char *key, struct buf *out,
		   struct store_err *err);

/* ---- writes (any thread; each one transaction) ---------------------- */

/* A spool gathers a message's bytes before the write transaction, so no
 * transaction stays open while the network trickles bytes in: up to
 * 256 KiB in memory, beyond that in an unlinked temporary file under
 * data_dir/tmp. The bytes also go through core/mime's parser as they are
 * written; store_append keeps the result (mime_serialize) as the new
 * body's blob MIME_BLOB_NAME unless the request brings a blob of that
 * name, so readers (IMAP ENVELOPE, BODYSTRUCTURE) need not parse the
 * body. Bodies stored before that have no such blob: readers parse them
 * on demand and may store it (store_blob_set). */
struct store_spool;
struct store_spool *store_spool_new(void);
int store_spool_write(struct store_spool *sp, const void *p, size_t n,
		      struct store_err *err);
uint64_t store_spool_size(const struct store_spool *sp);
/* Reads back spooled bytes (for parsers run before the append). */
ssize_t store_spool_read(struct store_spool *sp, uint64_t offset, void *dst,
			 size_t len, struct store_err *err);
void store_spool_free(struct store_spool **sp);

struct store_blob {
	const char *name;
	const void *data;
	size_t len;
};

struct store_append_req {
	const char *mailbox;   /* name; or NULL to use mailbox_id */
	int64_t mailbox_id;
	struct store_spool *spool;
	uint32_t flags;
	const char *keywords;  /* space-separated, or NULL */
	int64_t internaldate;  /* 0: now */
	int tzoff;
	const char *legacy_uidl; /* import: keep a POP3 UIDL, or NULL */
	uint32_t uid;          /* import: wanted UID (must be >= uidnext), 0: next */
	const struct store_blob *blobs; /* cached parse results, or NULL */
	size_t nblobs;
	/* import: a key naming the source message (e.g. "maildir:INBOX:<base
	 * name>"). When set, the append is skipped (res->uid = 0) if a message
	 * was ever appended with that key, and the key is recorded in the same
	 * transaction: re-running an import adds nothing twice, even after a
	 * crash half-way. */
	const char *import_key;
};

struct store_append_res {
	int64_t mailbox_id;
	uint32_t uidvalidity;
	uint32_t uid;
	uint64_t modseq;
};

/* Appends n messages in one transaction (MULTIAPPEND, one LMTP recipient
 * with one message, imports in batches). All or nothing. */
int store_append(struct store *s, const struct store_append_req *rq,
		 size_t n, struct store_append_res *res, struct store_err *err);

/* A set of UIDs as sorted, disjoint, inclusive ranges. */
struct store_uid_range {
	uint32_t lo, hi;
};
struct store_uidset {
	const struct store_uid_range *r;
	size_t n;
};

enum store_flag_op {
	STORE_FLAGS_ADD,
	STORE_FLAGS_REMOVE,
	STORE_FLAGS_REPLACE,
};

/* Changes flags and keywords of the messages in uids (those that exist).
 * unchangedsince > 0 skips messages whose modseq is greater (RFC 7162
 * UNCHANGEDSINCE); their UIDs are appended to *failed_r (caller frees),
 * count in *nfailed_r (both may be NULL when unchangedsince is 0).
 * Messages whose flags do not actually change keep their modseq.
 * Returns 0, or -1. */
int store_set_flags(struct store *s, int64_t mailbox_id,
		    const struct store_uidset *uids, enum store_flag_op op,
		    uint32_t flags, const char *keywords,
		    uint64_t unchangedsince, uint32_t **failed_r,
		    size_t *nfailed_r, struct store_err *err);

/* Expunges: with uids NULL every \Deleted message; with uids, those of
 * them that have \Deleted (only_deleted) or all of them (!only_deleted;
 * POP3 QUIT, MOVE). Records each in the expunge history. Returns 0, or
 * -1. *count_r (may be NULL) gets the number expunged. */
int store_expunge(struct store *s, int64_t mailbox_id,
		  const struct store_uidset *uids, bool only_deleted,
		  uint32_t *count_r, struct store_err *err);

/* Copies (or moves) the messages in uids to dst_mailbox_id in one
 * transaction, in UID order. src_uids_r/dst_uids_r (caller frees) get the
 * pairs for COPYUID; *n_r their count; *uidvalidity_r the destination's.
 * A move expunges the sources in the same transaction. */
int store_copy(struct store *s, int64_t src_mailbox_id,
	       const struct store_uidset *uids, int64_t dst_mailbox_id,
	       bool move, uint32_t **src_uids_r, uint32_t **dst_uids_r,
	       size_t *n_r, uint32_t *uidvalidity_r, struct store_err *err);

/* Mailbox management. create: EXISTS if present; missing parents are
 * created too (RFC 9051 6.3.4). delete: PERM for INBOX; a mailbox with
 * children keeps existing as \Noselect is not modelled: HASCHILDREN.
 * rename: renames inferiors too; renaming INBOX is the front end's
 * business (move all messages to a new mailbox). */
int store_mailbox_create(struct store *s, const char *name,
			 unsigned special_use, struct store_err *err);
int store_mailbox_delete(struct store *s, const char *name,
			 struct store_err *err);
int store_mailbox_rename(struct store *s, const char *from, const char *to,
			 struct store_err *err);
int store_subscribe(struct store *s, const char *name, bool on,
		    struct store_err *err);

/* \Recent: returns the mailbox's first recent UID before the call and
 * moves it to UIDNEXT, so exactly one session sees each message as recent
 * (RFC 3501 2.3.2). */
int store_claim_recent(struct store *s, int64_t mailbox_id,
		       uint32_t *first_recent_r, struct store_err *err);

/* Records that messages were retrieved whole (time t) where not yet. */
int store_mark_retrieved(struct store *s, int64_t mailbox_id,
			 const struct store_uidset *uids, int64_t t,
			 struct store_err *err);

/* Expunges messages of mailbox_id older than cutoff (savedate), only the
 * retrieved ones when retrieved_only. *count_r gets the number. */
int store_expire(struct store *s, int64_t mailbox_id, int64_t cutoff,
		 bool retrieved_only, uint32_t *count_r, struct store_err *err);

int store_blob_set(struct store *s, int64_t body_id, const char *name,
		   const void *data, size_t len, struct store_err *err);
/* The same for n bodies in one transaction (one fsync): blobs[i] goes to
 * body_ids[i]; bodies that no longer exist are skipped. Returns 0, or -1
 * (nothing stored). */
int store_blob_set_many(struct store *s, const int64_t *body_ids,
			const struct store_blob *blobs, size_t n,
			struct store_err *err);
int store_meta_set(struct store *s, const char *key, const char *value,
		   struct store_err *err);

/* Sets a mailbox's UIDVALIDITY and UIDNEXT (import from another server).
 * UIDVALIDITY may change only while the mailbox is empty; UIDNEXT never
 * goes down (raising it after an import keeps the source's UIDNEXT). */
int store_mailbox_set_uids(struct store *s, int64_t mailbox_id,
			   uint32_t uidvalidity, uint32_t uidnext,
			   struct store_err *err);

/* ---- quota ---------------------------------------------------------- */

/* Per-user limits on the octets and the number of messages stored (the
 * sum of message sizes over all mailboxes; a COPY counts again). Writes
 * that add messages (store_append, store_copy without move) fail with
 * OVERQUOTA, changing nothing, when usage plus what they add would exceed
 * a limit; expunges and MOVE are never refused. Usage comes from the
 * per-mailbox counters every write keeps, so a check reads one row per
 * mailbox, not the messages. */
struct store_quota {
	uint64_t bytes, messages;             /* usage now */
	uint64_t bytes_limit, messages_limit; /* in force, 0 = unlimited */
	bool bytes_own, messages_own;         /* the user's own, not the default */
};
/* Meta keys holding a user's own limits (decimal; "0" = unlimited). */
#define STORE_META_QUOTA_BYTES "quota_bytes"
#define STORE_META_QUOTA_MESSAGES "quota_messages"

/* Process-wide default limits for users without their own (0 =
 * unlimited, the default). Any thread; applies to the next write. */
void store_quota_defaults(uint64_t bytes, uint64_t messages);
/* Reads usage and limits in force (reader connection: loop thread).
 * Returns 0, or -1. */
int store_quota_get(struct store *s, struct store_quota *q_r,
		    struct store_err *err);
/* Sets the user's own limits: a value >= 0 (0 = unlimited whatever the
 * default), STORE_QUOTA_DEFAULT to drop it (back to the default), or
 * STORE_QUOTA_KEEP to leave it. One write transaction. Returns 0, or -1. */
#define STORE_QUOTA_DEFAULT (-1)
#define STORE_QUOTA_KEEP (-2)
int store_quota_set(struct store *s, int64_t bytes, int64_t messages,
		    struct store_err *err);

/* ---- locks ---------------------------------------------------------- */

/* Takes the named exclusive lock of this user (e.g. "pop3"), held until
 * store_lock_release or the process dies (an OFD lock on the open file:
 * never stale after a crash). Returns 0, or -1 with INUSE. */
struct store_lock;
int store_lock_take(struct store *s, const char *name,
		    struct store_lock **lock_r, struct store_err *err);
void store_lock_release(struct store_lock **lock);

/* ---- integrity ------------------------------------------------------ */

/* Checks the store: SQLite integrity, counters, UIDs below UIDNEXT,
 * modseqs at most HIGHESTMODSEQ, bodies complete. Appends one line per
 * problem to report. Returns 0 when clean, -1 otherwise. */
int store_check(struct store *s, struct buf *report, struct store_err *err);

#endif
