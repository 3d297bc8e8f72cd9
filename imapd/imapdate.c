/* imapdate.c - IMAP date-time and search dates (RFC 9051 9). */
#include "imapdate.h"

#include <inttypes.h>
#include <strings.h>

static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* H. Hinnant's civil calendar algorithms (public domain). */
int64_t imapdate_days_from_civil(int y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void imapdate_civil_from_days(int64_t z, int *y_r, unsigned *m_r,
			      unsigned *d_r)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	*y_r = (int)(y + (m <= 2));
	*m_r = m;
	*d_r = d;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int y, unsigned m)
{
	static const unsigned dm[12] = {31, 28, 31, 30, 31, 30,
					31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : dm[m - 1];
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

static unsigned dd(const char *s)
{
	return (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
}

/* "Nov" -> 11, or 0. */
static unsigned parse_month(const char *s)
{
	for (unsigned i = 0; i < 12; i++)
		if (strncasecmp(s, months[i], 3) == 0)
			return i + 1;
	return 0;
}

/* Parses "D-Mon-YYYY" or "DD-Mon-YYYY" at s (n bytes available);
 * day_fixed allows a leading SP for the 1-digit form. Returns the number
 * of bytes used, or 0. */
static size_t parse_date_text(const char *s, size_t n, bool day_fixed,
			      int *y_r, unsigned *m_r, unsigned *d_r)
{
	size_t i;
	unsigned d, m;
	int y;

	if (n >= 2 && digit(s[0]) && digit(s[1])) {
		d = dd(s), i = 2;
	} else if (n >= 2 && day_fixed && s[0] == ' ' && digit(s[1])) {
		d = (unsigned)(s[1] - '0'), i = 2;
	} else if (n >= 1 && digit(s[0])) { /* lenient for date-time */
		d = (unsigned)(s[0] - '0'), i = 1;
	} else {
		return 0;
	}
	if (n < i + 9 || s[i] != '-' || s[i + 4] != '-')
		return 0;
	m = parse_month(s + i + 1);
	if (m == 0)
		return 0;
	i += 5;
	for (size_t k = 0; k < 4; k++)
		if (!digit(s[i + k]))
			return 0;
	y = (int)(dd(s + i) * 100 + dd(s + i + 2));
	i += 4;
	if (y < 1970 || d < 1 || d > days_in_month(y, m))
		return 0;
	*y_r = y, *m_r = m, *d_r = d;
	return i;
}

int imapdate_parse_datetime(const char *s, size_t n, int64_t *t_r,
			    int *tzoff_r)
{
	int y;
	unsigned m, d, hh, mi, ss, zh, zm;
	size_t i = parse_date_text(s, n, true, &y, &m, &d);

	/* SP time SP zone = 1 + 8 + 1 + 5 */
	if (i == 0 || n != i + 15)
		return -1;
	s += i;
	if (s[0] != ' ' || s[3] != ':' || s[6] != ':' || s[9] != ' ' ||
	    (s[10] != '+' && s[10] != '-'))
		return -1;
	static const unsigned char pos[] = {1, 2, 4, 5, 7, 8, 11, 12, 13, 14};
	for (size_t k = 0; k < sizeof(pos); k++)
		if (!digit(s[pos[k]]))
			return -1;
	hh = dd(s + 1), mi = dd(s + 4), ss = dd(s + 7);
	zh = dd(s + 11), zm = dd(s + 13);
	if (hh > 23 || mi > 59 || ss > 60 || zh > 23 || zm > 59)
		return -1;
	if (ss == 60)
		ss = 59;
	int tz = (int)(zh * 60 + zm);
	if (s[10] == '-')
		tz = -tz;
	*t_r = imapdate_days_from_civil(y, m, d) * 86400 +
	       (int64_t)(hh * 3600 + mi * 60 + ss) - (int64_t)tz * 60;
	*tzoff_r = tz;
	return 0;
}

void imapdate_format_datetime(struct buf *out, int64_t t, int tzoff)
{
	int64_t local = t + (int64_t)tzoff * 60;
	int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
	int64_t secs = local - days * 86400;
	int y;
	unsigned m, d;
	int a = tzoff < 0 ? -tzoff : tzoff;

	imapdate_civil_from_days(days, &y, &m, &d);
	buf_printf(out, "%02u-%s-%04d %02d:%02d:%02d %c%02d%02d", d,
		   months[m - 1], y, (int)(secs / 3600), (int)(secs / 60 % 60),
		   (int)(secs % 60), tzoff < 0 ? '-' : '+', a / 60, a % 60);
}

int imapdate_parse_date(const char *s, size_t n, int64_t *day_r)
{
	int y;
	unsigned m, d;
	size_t i = parse_date_text(s, n, false, &y, &m, &d);

	if (i == 0 || i != n)
		return -1;
	*day_r = imapdate_days_from_civil(y, m, d) * 86400;
	return 0;
}

void imapdate_format_date(struct buf *out, int64_t day)
{
	int64_t days = day >= 0 ? day / 86400 : -((-day + 86399) / 86400);
	int y;
	unsigned m, d;

	imapdate_civil_from_days(days, &y, &m, &d);
	buf_printf(out, "%u-%s-%04d", d, months[m - 1], y);
}
