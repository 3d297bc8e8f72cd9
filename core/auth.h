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
 * thread (core/work.h). Every function here is thread-safe.
 */
#ifndef TANDEM_AUTH_H
#define TANDEM_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct userdb;

/* Opens (creating if asked) data_dir/users.db. Returns 0, or -1 with err. */
int userdb_open(const char *data_dir, bool create, struct userdb **db_r,
		struct buf *err);
void userdb_close(struct userdb **db);

/* Adds a user. With a clear password: ARGON2ID hash plus SCRAM keys.
 * With a hash ("{SCHEME}..."): stored as it is after checking the scheme
 * is known. Returns 0, or -1 with err ("exists", "bad scheme", ...). */
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
 * userdb_set_apop_secret. digest is 32 lower-case hex digits. */
enum auth_result userdb_verify_apop(struct userdb *db, const char *user,
				    const char *timestamp, const char *digest);
int userdb_set_apop_secret(struct userdb *db, const char *user,
			   const char *secret, struct buf *err);
bool userdb_has_apop(struct userdb *db, const char *user);

/* Password schemes, exposed for tests and the admin command.
 * Creates "{SCHEME}hash" for scheme ARGON2ID, SHA512-CRYPT or BLF-CRYPT. */
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
 * absent initial response pass in=NULL). out gets the raw challenge. */
enum sasl_status sasl_step(struct sasl *s, const char *in, size_t inlen,
			   struct buf *out);
/* The authenticated user (valid after SASL_OK), else NULL. */
const char *sasl_user(const struct sasl *s);
void sasl_free(struct sasl **s);

/* ---- base64 (RFC 4648) ---------------------------------------------- */
void base64_encode(const void *p, size_t n, struct buf *out);
/* Returns 0, or -1 on invalid input. */
int base64_decode(const char *p, size_t n, struct buf *out);

/* ---- failure penalty (loop thread) ----------------------------------- */

/* Delay in ms to apply before answering a failed login from ip:
 * base_ms doubled per recent failure of that IP (capped at 15 s), so a
 * burst from one address slows only that address. */
unsigned auth_penalty_delay(const char *ip, unsigned base_ms);
void auth_penalty_fail(const char *ip);
void auth_penalty_success(const char *ip);

#endif
