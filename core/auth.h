/* auth.h - identities: the user database, password schemes, SASL, and
 * the per-IP failure penalty. Shared by every front end.
 *
 * The user database is SQLite at data_dir/users.db. Passwords are stored
 * only as hashes, in Dovecot's passwd-file form with a scheme prefix, so
 * hashes can be imported as they are:
 *     {ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$...   (libargon2)
 *     {SHA512-CRYPT}$6$...                           (libxcrypt)
 *     {BLF-CRYPT}$2y$...                             (libxcrypt)
 * and, for SCRAM, the derived keys (never the clear password):
 *     {SCRAM-SHA-256}iter,salt_b64,storedkey_b64,serverkey_b64
 * A user set with a clear password gets an ARGON2ID hash and SCRAM keys.
 *
 * Hash verification costs milliseconds to tens of milliseconds (Argon2 by
 * design): daemons call userdb_verify_password and sasl_step from a worker
 * thread (core/work.h). Every function here is thread-safe, except the
 * auth_penalty_* functions (loop thread only). A struct userdb holds one
 * SQLite connection behind a mutex taken only around SQLite calls; the
 * hashing runs outside it, so worker threads verify in parallel.
 *
 * User names: 1..64 bytes of [A-Za-z0-9._@+-], not starting with '.' or
 * '-', compared exactly (case-sensitive). Other names never exist.
 */
#ifndef TANDEM_AUTH_H
#define TANDEM_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct userdb;

/* Opens (creating if asked, mode 0600) data_dir/users.db: WAL,
 * synchronous=FULL, a busy timeout, schema versioned by user_version.
 * Returns 0, or -1 with err. Error texts are appended to err, here and
 * below. */
int userdb_open(const char *data_dir, bool create, struct userdb **db_r,
		struct buf *err);
void userdb_close(struct userdb **db);

/* Adds a user. With a clear password: ARGON2ID hash plus SCRAM keys.
 * With a hash ("{SCHEME}...": a '{' first and a '}' later): stored as it
 * is after checking the scheme is known (ARGON2ID, ARGON2I, SHA512-CRYPT,
 * SHA256-CRYPT, BLF-CRYPT, SCRAM-SHA-256) and the hash well-formed; a
 * user with only a SCRAM-SHA-256 entry can still use PLAIN/LOGIN/USER.
 * Returns 0, or -1 with err ("exists", "bad user name", "bad scheme or
 * malformed hash", "empty password", ...). userdb_set_password replaces
 * the hash and the SCRAM keys together ("no such user"). */
int userdb_add(struct userdb *db, const char *user, const char *password,
	       struct buf *err);
int userdb_set_password(struct userdb *db, const char *user,
			const char *password, struct buf *err);
int userdb_delete(struct userdb *db, const char *user, struct buf *err);
bool userdb_exists(struct userdb *db, const char *user);
/* Appends one user name per line. */
int userdb_list(struct userdb *db, struct buf *out, struct buf *err);

enum auth_result {
	AUTH_OK,
	AUTH_FAIL,     /* wrong user or password (never say which) */
	AUTH_TEMPFAIL, /* database trouble */
};

/* Checks a clear-text password (USER/PASS, LOGIN, SASL PLAIN/LOGIN) in
 * constant time with respect to the stored hash. */
enum auth_result userdb_verify_password(struct userdb *db, const char *user,
					const char *password);

/* APOP (RFC 1939 7): needs a clear-text-equivalent secret stored with
 * userdb_set_apop_secret: it is kept AS IS in users.db (APOP cannot work
 * from a hash), so it should differ from the login password. An empty
 * secret removes it. digest is 32 lower-case hex digits; timestamp is the
 * whole "<...>" from the greeting. AUTH_FAIL if the user has no secret. */
enum auth_result userdb_verify_apop(struct userdb *db, const char *user,
				    const char *timestamp, const char *digest);
int userdb_set_apop_secret(struct userdb *db, const char *user,
			   const char *secret, struct buf *err);
bool userdb_has_apop(struct userdb *db, const char *user);

/* Password schemes, exposed for tests and the admin command.
 * Creates "{SCHEME}hash" for scheme ARGON2ID (m=19456 KiB, t=2, p=1),
 * SHA512-CRYPT, BLF-CRYPT ($2y$, cost 10) or SCRAM-SHA-256 (4096
 * iterations), appended to out. Returns 0, or -1 with err. */
int password_hash(const char *scheme, const char *password, struct buf *out,
		  struct buf *err);
/* Verifies password against a "{SCHEME}..." string; false on mismatch or
 * unknown scheme. */
bool password_verify(const char *stored, const char *password);

/* ---- SASL (RFC 4422): PLAIN (4616), LOGIN, SCRAM-SHA-256 (5802/7677) -- */

struct sasl;

enum sasl_status {
	SASL_CONTINUE, /* send the challenge in out, wait for a response */
	SASL_OK,       /* authenticated as sasl_user(); out may hold final data */
	SASL_FAIL,     /* bad credentials */
	SASL_BADPROTO, /* malformed client message */
	SASL_TEMPFAIL,
};

/* Space-separated list of mechanisms offered (CAPA SASL, AUTH=...).
 * Plaintext mechanisms only when plaintext_ok. */
const char *sasl_mechanisms(bool plaintext_ok);
/* Returns NULL for an unknown or disallowed mechanism (case-insensitive). */
struct sasl *sasl_new(const char *mech, struct userdb *db, bool plaintext_ok);
/* Feeds one client message (raw bytes, already base64-decoded; for an
 * absent initial response pass in=NULL, only as the first step; an empty
 * response later is in="" or NULL with inlen 0). out gets the raw
 * challenge (empty for PLAIN/SCRAM without an initial response).
 * Returns SASL_OK with nothing in out: SCRAM-SHA-256's server-final
 * message "v=..." comes as a SASL_CONTINUE challenge (RFC 9051 6.2.2,
 * RFC 5034 4: no additional data with success), and the client's empty
 * response to it yields SASL_OK. After OK/FAIL/BADPROTO/TEMPFAIL the
 * exchange is over: further steps return SASL_BADPROTO.
 * PLAIN refuses an authzid other than the authcid (SASL_FAIL); SCRAM
 * refuses channel binding ("p=", SASL_FAIL: no -PLUS is offered), and an
 * unknown user gets a plausible stable salt and fails at the proof. */
enum sasl_status sasl_step(struct sasl *s, const char *in, size_t inlen,
			   struct buf *out);
/* The authenticated user (valid after SASL_OK), else NULL. */
const char *sasl_user(const struct sasl *s);
void sasl_free(struct sasl **s);

/* ---- base64 (RFC 4648) ---------------------------------------------- */
void base64_encode(const void *p, size_t n, struct buf *out);
/* Appends the decoded bytes. Strict: length a multiple of 4, padding
 * only at the end, no whitespace, zero unused bits. Returns 0, or -1 on
 * invalid input (out unchanged). */
int base64_decode(const char *p, size_t n, struct buf *out);
/* The 6-bit value of one character of the standard alphabet, or -1 for
 * anything else ('=' included). Shared with the lenient decoders (MIME
 * bodies, encoded words) that skip what it rejects. */
int base64_value(unsigned char c);

/* ---- failure penalty (loop thread) ----------------------------------- */

/* Delay in ms to apply before answering a failed login from ip:
 * base_ms doubled per recent failure of that IP (capped at 15 s), so a
 * burst from one address slows only that address. */
/* With n failures of ip in the last 5 minutes: base_ms * 2^n, at most
 * 15000. A success forgets the address. The table is bounded (1024
 * addresses; the oldest gives way). */
unsigned auth_penalty_delay(const char *ip, unsigned base_ms);
void auth_penalty_fail(const char *ip);
void auth_penalty_success(const char *ip);

#endif
