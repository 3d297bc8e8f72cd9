/* test-imapdate.c - IMAP date-time and search dates. */
#include <string.h>

#include "buf.h"
#include "imapdate.h"
#include "t.h"

static struct buf b;

static int pdt(const char *s, int64_t *t, int *tz)
{
	return imapdate_parse_datetime(s, strlen(s), t, tz);
}

int main(void)
{
	int64_t t, day;
	int tz;

	CHECK(pdt("25-Nov-2026 16:45:35 +0000", &t, &tz) == 0);
	CHECK(t == 1795625135 && tz == 0);
	buf_append(&b, "", 0);
	imapdate_format_datetime(&b, t, 0);
	CHECK_STR(b.data, "25-Nov-2026 16:45:35 +0000");

	CHECK(pdt("25-Nov-2026 18:45:35 +0200", &t, &tz) == 0);
	CHECK(t == 1795625135 && tz == 120);
	buf_reset(&b);
	imapdate_format_datetime(&b, t, tz);
	CHECK_STR(b.data, "25-Nov-2026 18:45:35 +0200");

	CHECK(pdt(" 1-Jan-1970 00:00:00 -0130", &t, &tz) == 0);
	CHECK(t == 90 * 60 && tz == -90);
	buf_reset(&b);
	imapdate_format_datetime(&b, t, tz);
	CHECK_STR(b.data, "01-Jan-1970 00:00:00 -0130");
	buf_reset(&b);
	imapdate_format_datetime(&b, 0, -90);
	CHECK_STR(b.data, "31-Dec-1969 22:30:00 -0130");

	CHECK(pdt("29-feb-2024 23:59:60 +2359", &t, &tz) == 0);
	CHECK(pdt("5-Nov-2026 16:45:35 +0000", &t, &tz) == 0);

	static const char *bad[] = {
		"", "25-Nov-2026", "25-Nov-2026 16:45:35", "25-Nov-2026 16:45:35 0000",
		"29-Feb-2023 00:00:00 +0000", "31-Apr-2026 00:00:00 +0000",
		"00-Jan-2026 00:00:00 +0000", "25-Xyz-2026 16:45:35 +0000",
		"25-Nov-2026 24:00:00 +0000", "25-Nov-2026 16:60:35 +0000",
		"25-Nov-2026 16:45:35 +0060", "25-Nov-1969 16:45:35 +0000",
		"25-Nov-2026 16:45:35 +00000", "25-Nov-26 16:45:35 +0000",
		"25-Nov-2026  16:45:35 +0000", "25/Nov/2026 16:45:35 +0000",
		"\"25-Nov-2026 16:45:35 +0000\"", "2a-Nov-2026 16:45:35 +0000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(pdt(bad[i], &t, &tz) < 0);
	}

	CHECK(imapdate_parse_date("1-Feb-2026", 10, &day) == 0);
	CHECK(day == imapdate_days_from_civil(2026, 2, 1) * 86400);
	CHECK(imapdate_parse_date("01-feb-2026", 11, &t) == 0 && t == day);
	buf_reset(&b);
	imapdate_format_date(&b, day);
	CHECK_STR(b.data, "1-Feb-2026");
	CHECK(imapdate_parse_date("1-Feb-2026 ", 11, &t) < 0);
	CHECK(imapdate_parse_date("30-Feb-2026", 11, &t) < 0);
	CHECK(imapdate_parse_date("123-Feb-2026", 12, &t) < 0);
	CHECK(imapdate_parse_date("", 0, &t) < 0);

	/* the calendar round-trips over a long span */
	for (int64_t z = -800000; z < 800000; z += 97) {
		int y;
		unsigned m, d;
		imapdate_civil_from_days(z, &y, &m, &d);
		if (imapdate_days_from_civil(y, m, d) != z) {
			CHECK(0);
			break;
		}
	}
	CHECK(imapdate_days_from_civil(2000, 3, 1) == 11017);

	buf_release(&b);
	return t_done();
}
