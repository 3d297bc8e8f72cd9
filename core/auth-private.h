/* auth-private.h - insides shared by userdb.c, password.c, sasl.c and
 * scram.c, and the hooks the module tests use. Not for front ends.
 */
#ifndef TANDEM_AUTH_PRIVATE_H
#define TANDEM_AUTH_PRIVATE_H

#include "auth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_KEY_LEN 32	/* SHA-256 output */
#define SCRAM_SALT_LEN 16
#define SCRAM_DEFAULT_ITER 4096
#define SCRAM_MAX_ITER 1000000	/* refuse absurd stored counts */
#define SCRAM_MAX_SALT 64

/* One "{SCRAM-SHA-256}iter,salt_b64,storedkey_b64,serverkey_b64" entry,
 * decoded. */
struct scram_keys {
	unsigned iter;
	unsigned char salt[SCRAM_MAX_SALT];
	size_t salt_len;
	unsigned char stored_key[SCRAM_KEY_LEN];
	unsigned char server_key[SCRAM_KEY_LEN];
};

/* Derives the keys of password with the given salt and iteration count
 * (RFC 5802 3: SaltedPassword = Hi(password, salt, i), ClientKey,
 * StoredKey = H(ClientKey), ServerKey). Returns 0, or -1 (GnuTLS error). */
int scram_derive(const char *password, const unsigned char *salt,
		 size_t salt_len, unsigned iter, struct scram_keys *k);
/* Appends "{SCRAM-SHA-256}iter,salt,stored,server" for k to out. */
void scram_format(const struct scram_keys *k, struct buf *out);
/* Derives a fresh entry for password with a random 16-byte salt and 4096
 * iterations and appends it to out. Returns 0, or -1. */
int scram_make_entry(const char *password, struct buf *out);
/* Parses an entry with or without the "{SCRAM-SHA-256}" prefix. Returns
 * 0, or -1 if it is malformed. */
int scram_parse(const char *entry, struct scram_keys *k);
/* Checks a clear password against an entry in constant time. */
bool scram_verify_plain(const char *entry, const char *password);

/* The SCRAM-SHA-256 server exchange, used by sasl.c. */
struct scram_server;
struct scram_server *scram_server_new(struct userdb *db);
enum sasl_status scram_server_step(struct scram_server *s, const char *in,
				   size_t inlen, struct buf *out);
const char *scram_server_user(const struct scram_server *s);
void scram_server_free(struct scram_server **s);
/* Test hook: use nonce (printable, no ',') as the server part of the
 * nonce instead of a random one. Call before the first step. */
void scram_server_set_nonce(struct scram_server *s, const char *nonce);
/* Test hook for sasl_new("SCRAM-SHA-256", ...) objects. */
void sasl_scram_set_nonce(struct sasl *s, const char *nonce);

/* The user's SCRAM entry, copied into out. Returns AUTH_OK, AUTH_FAIL
 * (no such user, or no SCRAM keys), AUTH_TEMPFAIL. */
enum auth_result userdb_get_scram(struct userdb *db, const char *user,
				  struct buf *out);

/* Constant-time equality of two byte strings (the lengths may leak). */
bool auth_mem_equal(const void *a, size_t alen, const void *b, size_t blen);
/* Fills p with n random bytes (GNUTLS_RND_NONCE or _RANDOM); aborts if the
 * generator fails, which means the process is unusable. */
void auth_random(void *p, size_t n, bool key);

/* True if stored is "{SCHEME}..." with a known scheme and a well-formed
 * hash; *is_scram tells whether it is a SCRAM entry. */
bool password_hash_known(const char *stored, bool *is_scram);

/* Valid user names: 1..64 bytes of [A-Za-z0-9._@+-], not starting with
 * '.' or '-' (they become file names under data_dir). */
bool userdb_name_valid(const char *user);

#endif
