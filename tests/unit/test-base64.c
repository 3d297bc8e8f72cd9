/* test-base64.c - RFC 4648 10 test vectors, and strict decoding. */
#include "t.h"

#include "auth.h"
#include "buf.h"
#include "xalloc.h"

static void enc(const char *in, const char *want)
{
	struct buf b = BUF_INIT;

	base64_encode(in, strlen(in), &b);
	CHECK_STR(b.len ? b.data : "", want);
	buf_release(&b);
}

static void dec(const char *in, const char *want)
{
	struct buf b = BUF_INIT;

	CHECK(base64_decode(in, strlen(in), &b) == 0);
	CHECK(b.len == strlen(want));
	CHECK_STR(b.len ? b.data : "", want);
	buf_release(&b);
}

static void bad(const char *in)
{
	struct buf b = BUF_INIT;

	buf_append_str(&b, "keep");
	if (base64_decode(in, strlen(in), &b) != -1)
		fprintf(stderr, "accepted \"%s\"\n", in);
	CHECK(base64_decode(in, strlen(in), &b) == -1);
	CHECK_STR(b.data, "keep"); /* untouched on error */
	buf_release(&b);
}

/* Random strings over the alphabet plus a few others: whatever decodes
 * must encode back to the same text (one encoding per value). */
static void test_canonical(void)
{
	static const char chars[] = "ABCZabz019+/=-_ \n";
	unsigned long x = 12345;
	int i, accepted = 0, mismatches = 0;

	for (i = 0; i < 200000; i++) {
		char in[12];
		size_t n, k;
		struct buf d = BUF_INIT, e = BUF_INIT;

		x = x * 6364136223846793005ul + 1442695040888963407ul;
		n = (x >> 33) % 9;
		for (k = 0; k < n; k++) {
			x = x * 6364136223846793005ul + 1442695040888963407ul;
			in[k] = chars[(x >> 33) % (sizeof(chars) - 1)];
		}
		if (base64_decode(in, n, &d) == 0) {
			accepted++;
			base64_encode(d.data, d.len, &e);
			if (e.len != n || (n && memcmp(e.data, in, n) != 0))
				mismatches++;
		}
		buf_release(&d);
		buf_release(&e);
	}
	CHECK(accepted > 100);
	CHECK(mismatches == 0);
}

int main(void)
{
	static const char *const v[][2] = {
		{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
		{"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
		{"foobar", "Zm9vYmFy"},
	};
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(v); i++) {
		enc(v[i][0], v[i][1]);
		dec(v[i][1], v[i][0]);
	}
	/* binary, NUL bytes and all 256 values round-trip */
	{
		char all[256];
		struct buf e = BUF_INIT;

		for (i = 0; i < 256; i++)
			all[i] = (char)i;
		base64_encode(all, sizeof(all), &e);
		CHECK(base64_decode(e.data, e.len, &b) == 0);
		CHECK(b.len == 256 && memcmp(b.data, all, 256) == 0);
		buf_release(&e);
		buf_release(&b);
	}
	/* appends after existing content */
	buf_append_str(&b, "x:");
	CHECK(base64_decode("Zm9v", 4, &b) == 0);
	CHECK_STR(b.data, "x:foo");
	buf_release(&b);

	bad("Zm9");       /* length not a multiple of 4 */
	bad("Zm9vY");
	bad("Zm9 v");
	bad("Zm9v\n");
	bad("Zm=v");      /* padding in the middle */
	bad("Zg==Zg==");  /* padding before the end */
	bad("Z===");
	bad("====");
	bad("Zh==");      /* non-zero unused bits */
	bad("Zm9=");
	bad("Zm9v!A==");
	bad("Zm9-");      /* base64url alphabet */
	bad("Zm9_");
	{
		struct buf k = BUF_INIT;

		CHECK(base64_decode("Zm\0v", 4, &k) == -1);
		buf_release(&k);
	}
	test_canonical();
	return t_done();
}
