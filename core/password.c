/* password.c - password schemes in Dovecot's "{SCHEME}hash" form.
 *
 *   {ARGON2ID}$argon2id$v=19$m=..,t=..,p=..$salt$hash   libargon2
 *   {ARGON2I}$argon2i$v=19$...                           libargon2
 *   {SHA512-CRYPT}$6$...  {SHA256-CRYPT}$5$...            libxcrypt
 *   {BLF-CRYPT}$2y$.. / $2b$.. / $2a$..                  libxcrypt
 *   {SCRAM-SHA-256}iter,salt,storedkey,serverkey         scram.c
 *
 * New ARGON2ID hashes use the OWASP minimum m=19456 KiB, t=2, p=1: a
 * login costs some 20-30 ms and 19 MiB on a worker thread. Hashes imported
 * from Dovecot (m=65536,t=3) verify with their own parameters.
 */
#include "auth-private.h"
#include "buf.h"
#include "xalloc.h"

#include <argon2.h>
#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ARGON2_M_KIB 19456
#define ARGON2_T 2
#define ARGON2_P 1
#define ARGON2_SALT_LEN 16
#define ARGON2_HASH_LEN 32
#define BCRYPT_COST 10
#define PASSWORD_MAX 4096 /* longer input is refused, not hashed */

enum scheme {
	SCHEME_UNKNOWN,
	SCHEME_ARGON2ID,
	SCHEME_ARGON2I,
	SCHEME_SHA512_CRYPT,
	SCHEME_SHA256_CRYPT,
	SCHEME_BLF_CRYPT,
	SCHEME_SCRAM_SHA_256,
};

static const struct {
	const char *name;
	enum scheme scheme;
} schemes[] = {
	{"ARGON2ID", SCHEME_ARGON2ID},
	{"ARGON2I", SCHEME_ARGON2I},
	{"SHA512-CRYPT", SCHEME_SHA512_CRYPT},
	{"SHA256-CRYPT", SCHEME_SHA256_CRYPT},
	{"BLF-CRYPT", SCHEME_BLF_CRYPT},
	{"SCRAM-SHA-256", SCHEME_SCRAM_SHA_256},
};

static enum scheme scheme_lookup(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(schemes); i++)
		if (strlen(schemes[i].name) == len &&
		    strncasecmp(schemes[i].name, name, len) == 0)
			return schemes[i].scheme;
	return SCHEME_UNKNOWN;
}

/* Splits "{SCHEME}rest": returns the scheme and sets *rest. */
static enum scheme scheme_split(const char *stored, const char **rest)
{
	const char *close;

	if (stored[0] != '{')
		return SCHEME_UNKNOWN;
	close = strchr(stored, '}');
	if (!close)
		return SCHEME_UNKNOWN;
	*rest = close + 1;
	return scheme_lookup(stored + 1, (size_t)(close - stored - 1));
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether rest looks like a hash of the scheme (for imports). */
static bool hash_wellformed(enum scheme sc, const char *rest)
{
	struct scram_keys k;

	switch (sc) {
	case SCHEME_ARGON2ID:
		return has_prefix(rest, "$argon2id$");
	case SCHEME_ARGON2I:
		return has_prefix(rest, "$argon2i$");
	case SCHEME_SHA512_CRYPT:
		return has_prefix(rest, "$6$");
	case SCHEME_SHA256_CRYPT:
		return has_prefix(rest, "$5$");
	case SCHEME_BLF_CRYPT:
		return has_prefix(rest, "$2y$") || has_prefix(rest, "$2b$") ||
		       has_prefix(rest, "$2a$");
	case SCHEME_SCRAM_SHA_256:
		return scram_parse(rest, &k) == 0;
	case SCHEME_UNKNOWN:
	default:
		return false;
	}
}

bool password_hash_known(const char *stored, bool *is_scram)
{
	const char *rest = NULL;
	enum scheme sc = scheme_split(stored, &rest);

	*is_scram = sc == SCHEME_SCRAM_SHA_256;
	return sc != SCHEME_UNKNOWN && hash_wellformed(sc, rest);
}

static int crypt_hash(const char *prefix, unsigned long cost,
		      const char *password, struct buf *out, struct buf *err)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *h;
	int ret = -1;

	/* rbytes NULL: libxcrypt takes the salt from the OS generator. */
	if (!crypt_gensalt_rn(prefix, cost, NULL, 0, setting,
			      sizeof(setting))) {
		buf_printf(err, "crypt_gensalt failed");
		goto out;
	}
	h = crypt_rn(password, setting, cd, sizeof(*cd));
	if (!h || h[0] == '*') {
		buf_printf(err, "crypt failed");
		goto out;
	}
	buf_append_str(out, h);
	ret = 0;
out:
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ret;
}

static int argon2id_hash(const char *password, struct buf *out,
			 struct buf *err)
{
	unsigned char salt[ARGON2_SALT_LEN];
	size_t len = argon2_encodedlen(ARGON2_T, ARGON2_M_KIB, ARGON2_P,
				       ARGON2_SALT_LEN, ARGON2_HASH_LEN,
				       Argon2_id);
	char *enc = xmalloc(len);
	int rc;

	auth_random(salt, sizeof(salt), false);
	rc = argon2id_hash_encoded(ARGON2_T, ARGON2_M_KIB, ARGON2_P, password,
				   strlen(password), salt, sizeof(salt),
				   ARGON2_HASH_LEN, enc, len);
	if (rc != ARGON2_OK) {
		buf_printf(err, "argon2: %s", argon2_error_message(rc));
		free(enc);
		return -1;
	}
	buf_append_str(out, enc);
	free(enc);
	return 0;
}

int password_hash(const char *scheme, const char *password, struct buf *out,
		  struct buf *err)
{
	size_t start = out->len;
	int ret;

	if (strlen(password) > PASSWORD_MAX) {
		buf_printf(err, "password too long");
		return -1;
	}
	switch (scheme_lookup(scheme, strlen(scheme))) {
	case SCHEME_ARGON2ID:
		buf_append_str(out, "{ARGON2ID}");
		ret = argon2id_hash(password, out, err);
		break;
	case SCHEME_SHA512_CRYPT:
		buf_append_str(out, "{SHA512-CRYPT}");
		ret = crypt_hash("$6$", 0, password, out, err);
		break;
	case SCHEME_BLF_CRYPT:
		buf_append_str(out, "{BLF-CRYPT}");
		ret = crypt_hash("$2y$", BCRYPT_COST, password, out, err);
		break;
	case SCHEME_SCRAM_SHA_256:
		ret = scram_make_entry(password, out);
		if (ret < 0)
			buf_printf(err, "scram derivation failed");
		break;
	default:
		buf_printf(err, "bad scheme '%s'", scheme);
		return -1;
	}
	if (ret < 0)
		buf_truncate(out, start);
	return ret;
}

static bool crypt_verify(const char *hash, const char *password)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *h;
	bool ok = false;

	h = crypt_rn(password, hash, cd, sizeof(*cd));
	if (h && h[0] != '*')
		ok = auth_mem_equal(h, strlen(h), hash, strlen(hash));
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

bool password_verify(const char *stored, const char *password)
{
	const char *rest = NULL;
	enum scheme sc = scheme_split(stored, &rest);

	if (sc == SCHEME_UNKNOWN || !hash_wellformed(sc, rest) ||
	    strlen(password) > PASSWORD_MAX)
		return false;
	switch (sc) {
	case SCHEME_ARGON2ID:
		return argon2id_verify(rest, password, strlen(password)) ==
		       ARGON2_OK;
	case SCHEME_ARGON2I:
		return argon2i_verify(rest, password, strlen(password)) ==
		       ARGON2_OK;
	case SCHEME_SHA512_CRYPT:
	case SCHEME_SHA256_CRYPT:
	case SCHEME_BLF_CRYPT:
		return crypt_verify(rest, password);
	case SCHEME_SCRAM_SHA_256:
		return scram_verify_plain(rest, password);
	case SCHEME_UNKNOWN:
	default:
		return false;
	}
}
