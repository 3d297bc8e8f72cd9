/* test-password.c - password schemes: Dovecot-made hashes (doveadm pw,
 * tests/data/doveadm-pw.txt) verify, wrong passwords do not, and our own
 * hashes round-trip. */
#include "t.h"

#include "auth.h"
#include "buf.h"

#include <stdlib.h>

static void test_doveadm_hashes(void)
{
	const char *dir = getenv("TANDEM_TEST_DATA");
	char path[4096], line[2048];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/doveadm-pw.txt", dir ? dir : ".");
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *scheme = line, *pw, *hash, wrong[600];

		line[strcspn(line, "\n")] = '\0';
		pw = strchr(scheme, '\t');
		hash = pw ? strchr(pw + 1, '\t') : NULL;
		if (!hash)
			continue;
		*pw++ = '\0';
		*hash++ = '\0';
		if (!password_verify(hash, pw))
			fprintf(stderr, "rejected %s %s\n", scheme, pw);
		CHECK(password_verify(hash, pw));
		snprintf(wrong, sizeof(wrong), "%sx", pw);
		CHECK(!password_verify(hash, wrong));
		n++;
	}
	fclose(f);
	CHECK(n >= 16);
}

static void roundtrip(const char *scheme, const char *prefix)
{
	struct buf out = BUF_INIT, err = BUF_INIT, out2 = BUF_INIT;

	CHECK(password_hash(scheme, "correct horse", &out, &err) == 0);
	CHECK(out.len > strlen(prefix) &&
	      strncmp(out.data, prefix, strlen(prefix)) == 0);
	if (out.len == 0)
		fprintf(stderr, "%s: %s\n", scheme, err.data);
	CHECK(password_verify(out.data, "correct horse"));
	CHECK(!password_verify(out.data, "correct horsf"));
	CHECK(!password_verify(out.data, "correct horse "));
	/* a fresh salt each time */
	CHECK(password_hash(scheme, "correct horse", &out2, &err) == 0);
	CHECK(out2.len && strcmp(out.data, out2.data) != 0);
	buf_release(&out);
	buf_release(&out2);
	buf_release(&err);
}

static void test_roundtrip(void)
{
	roundtrip("ARGON2ID", "{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$");
	roundtrip("SHA512-CRYPT", "{SHA512-CRYPT}$6$");
	roundtrip("BLF-CRYPT", "{BLF-CRYPT}$2y$10$");
	roundtrip("SCRAM-SHA-256", "{SCRAM-SHA-256}4096,");
}

static void test_bad(void)
{
	struct buf out = BUF_INIT, err = BUF_INIT;

	CHECK(password_hash("MD5", "x", &out, &err) == -1);
	CHECK(out.len == 0 && err.len > 0);
	CHECK(!password_verify("secret", "secret"));
	CHECK(!password_verify("{PLAIN}secret", "secret"));
	CHECK(!password_verify("{CLEARTEXT}secret", "secret"));
	CHECK(!password_verify("{ARGON2ID}", ""));
	CHECK(!password_verify("{ARGON2ID}$argon2i$v=19$m=32768,t=4,p=1$"
			       "1NiQlso0c4F0icfc5c5IVw$88pK/Y+w/SktqXtk4vIdAZ72"
			       "VyVZF7hz/0n9tMjw60Q", "secret"));
	CHECK(!password_verify("{SHA512-CRYPT}$5$Ev5Yo99LeaQMEqxl$0c7.efEoEcT"
			       "G83rFcxJ29nUz6gg1IH7YOKPtnajyjf5", "secret"));
	CHECK(password_verify("{sha256-crypt}$5$Ev5Yo99LeaQMEqxl$0c7.efEoEcT"
			      "G83rFcxJ29nUz6gg1IH7YOKPtnajyjf5", "secret"));
	CHECK(!password_verify("{SCRAM-SHA-256}4096,AAAA,BBBB,CCCC", "x"));
	CHECK(!password_verify("{BLF-CRYPT}$2y$05$short", "secret"));
	buf_release(&out);
	buf_release(&err);
}

int main(void)
{
	test_doveadm_hashes();
	test_roundtrip();
	test_bad();
	return t_done();
}
