/* test-seqset.c - IMAP sequence sets. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "seqset.h"
#include "t.h"

static struct buf b;

/* Parses s, resolves with max, returns the written form or "(error)". */
static const char *pr(const char *s, uint32_t max, bool keep_above)
{
	struct seqset set = SEQSET_INIT;
	const char *err = NULL;

	buf_reset(&b);
	buf_append(&b, "", 0);
	if (seqset_parse(&set, s, strlen(s), 0, true, &err) < 0) {
		CHECK(err != NULL);
		buf_append_str(&b, "(error)");
	} else if (set.dollar) {
		buf_append_str(&b, "$");
	} else {
		seqset_resolve(&set, max, keep_above);
		seqset_write(&set, &b);
	}
	seqset_release(&set);
	return b.data;
}

int main(void)
{
	CHECK_STR(pr("1", 10, false), "1");
	CHECK_STR(pr("1,3:5,7:*", 10, false), "1,3:5,7:10");
	CHECK_STR(pr("*", 10, false), "10");
	CHECK_STR(pr("5:2", 10, false), "2:5");
	CHECK_STR(pr("*:4", 10, false), "4:10");
	CHECK_STR(pr("3,1,2", 10, false), "1:3");
	CHECK_STR(pr("1:3,2:6,8,9", 10, false), "1:6,8:9");
	CHECK_STR(pr("1:*", 0, false), "");
	CHECK_STR(pr("5:20", 10, false), "5:10");
	CHECK_STR(pr("11:20", 10, false), "");
	/* UID semantics: numbers above max stay; 559:* includes the max */
	CHECK_STR(pr("559:*", 500, true), "500:559");
	CHECK_STR(pr("1:*", 0, true), "1");
	CHECK_STR(pr("4294967294", 5, true), "4294967294");
	CHECK_STR(pr("$", 10, false), "$");

	static const char *bad[] = {"", "0", "1,", ",1", "1:", ":1", "1::2",
				    "01", "1:0", "a", "1 2", "4294967296",
				    "4294967295", "99999999999", "1,,2", "$1",
				    "*:*x", "-1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_STR(pr(bad[i], 10, false), "(error)");
	}
	{
		struct seqset set = SEQSET_INIT;
		const char *err = NULL;
		CHECK(seqset_parse(&set, "$", 1, 0, false, &err) < 0);
		CHECK(seqset_parse(&set, "1,2,3", 5, 2, false, &err) < 0);
		CHECK(err && strstr(err, "Too many"));
		CHECK(seqset_parse(&set, "1,2", 3, 2, false, &err) == 0);
		seqset_release(&set);
	}

	/* highest, contains, count, iterate */
	{
		struct seqset set = SEQSET_INIT;
		const char *err;
		uint32_t n, sum = 0, cnt = 0;
		struct seqset_iter it;

		CHECK(seqset_parse(&set, "2:4,9,*", 7, 0, false, &err) == 0);
		CHECK(seqset_highest(&set, 7) == 9);
		CHECK(seqset_highest(&set, 12) == 12);
		seqset_resolve(&set, 12, false);
		CHECK(seqset_contains(&set, 2) && seqset_contains(&set, 4));
		CHECK(!seqset_contains(&set, 5) && !seqset_contains(&set, 1));
		CHECK(seqset_contains(&set, 12) && !seqset_contains(&set, 11));
		CHECK(seqset_count(&set) == 5);
		seqset_begin(&it, &set);
		while (seqset_next(&it, &n))
			sum += n, cnt++;
		CHECK(cnt == 5 && sum == 2 + 3 + 4 + 9 + 12);
		seqset_resolve(&set, 12, false); /* idempotent */
		CHECK(seqset_count(&set) == 5);
		seqset_release(&set);
	}
	{
		/* iterate a range ending at the largest number */
		struct seqset set = SEQSET_INIT;
		struct seqset_iter it;
		uint32_t n, cnt = 0;
		seqset_add(&set, 4294967290u, 4294967294u);
		seqset_resolve(&set, 4294967294u, true);
		seqset_begin(&it, &set);
		while (seqset_next(&it, &n))
			cnt++;
		CHECK(cnt == 5);
		seqset_release(&set);
	}

	/* MSN -> UID */
	{
		static const uint32_t uids[] = {3, 4, 5, 10, 11, 20};
		struct seqset msn = SEQSET_INIT, uid = SEQSET_INIT;
		const char *err;

		CHECK(seqset_parse(&msn, "1:3,5,*,9", 9, 0, false, &err) == 0);
		seqset_resolve(&msn, 6, false);
		seqset_msn_to_uid(&msn, uids, 6, &uid);
		buf_reset(&b);
		buf_append(&b, "", 0);
		seqset_write(&uid, &b);
		CHECK_STR(b.data, "3:5,11:20"); /* MSNs 5:6 */
		CHECK(!seqset_contains(&uid, 10));
		CHECK(seqset_parse(&msn, "3:4", 3, 0, false, &err) == 0);
		seqset_resolve(&msn, 6, false);
		seqset_msn_to_uid(&msn, uids, 6, &uid);
		buf_reset(&b);
		seqset_write(&uid, &b);
		CHECK_STR(b.data, "5:10"); /* 6..9 do not exist in the view */
		seqset_release(&msn);
		seqset_release(&uid);
	}

	/* 100000 elements: bounded and fast */
	{
		struct buf s = BUF_INIT;
		struct seqset set = SEQSET_INIT;
		const char *err;
		for (uint32_t i = 100000; i >= 1; i--)
			buf_printf(&s, "%s%u", i == 100000 ? "" : ",", i * 2);
		CHECK(seqset_parse(&set, s.data, s.len, 100000, false, &err) == 0);
		CHECK(set.n == 100000);
		seqset_resolve(&set, 300000, false);
		CHECK(set.n == 100000 && set.r[0].lo == 2 &&
		      set.r[99999].lo == 200000);
		CHECK(seqset_contains(&set, 1000) && !seqset_contains(&set, 1001));
		CHECK(seqset_parse(&set, s.data, s.len, 99999, false, &err) < 0);
		buf_reset(&s);
		for (uint32_t i = 1; i <= 100000; i++)
			buf_printf(&s, "%s%u:%u", i == 1 ? "" : ",", i, i + 1);
		CHECK(seqset_parse(&set, s.data, s.len, 0, false, &err) == 0);
		seqset_resolve(&set, UINT32_MAX - 1, true);
		CHECK(set.n == 1 && set.r[0].lo == 1 && set.r[0].hi == 100001);
		seqset_release(&set);
		buf_release(&s);
	}

	buf_release(&b);
	return t_done();
}
