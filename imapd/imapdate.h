/* imapdate.h - IMAP date-time and search dates (RFC 9051 9, RFC 3501 9).
 *
 *   date-time      = DQUOTE date-day-fixed "-" date-month "-" date-year
 *                    SP time SP zone DQUOTE
 *   date-day-fixed = (SP DIGIT) / 2DIGIT
 *   date-month     = "Jan" / "Feb" / ... / "Dec"      (case-insensitive)
 *   time           = 2DIGIT ":" 2DIGIT ":" 2DIGIT
 *   zone           = ("+" / "-") 4DIGIT
 *   date           = date-text / DQUOTE date-text DQUOTE
 *   date-text      = date-day "-" date-month "-" date-year
 *   date-day       = 1*2DIGIT
 *
 * Times are seconds since the epoch (UTC) plus the zone as minutes east
 * of UTC, which is how the store keeps INTERNALDATE. Pure: no locale, no
 * TZ, no libc time zone state.
 */
#ifndef TANDEM_IMAP_IMAPDATE_H
#define TANDEM_IMAP_IMAPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Parses a date-time without its DQUOTEs (the parser hands over the
 * string contents): "25-Nov-2026 16:45:35 +0000" or " 5-Nov-...".
 * Returns 0 with *t_r (UTC seconds) and *tzoff_r (minutes east), or -1
 * for anything malformed or out of range (day not in month, hour > 23,
 * minute/second > 59 (a leap second 60 is accepted as 59), zone minutes
 * > 59, zone beyond +-2359, year < 1970 or > 9999). */
int imapdate_parse_datetime(const char *s, size_t n, int64_t *t_r,
			    int *tzoff_r);

/* Appends "25-Nov-2026 16:45:35 +0000" (no quotes) for UTC time t shown
 * in zone tzoff (minutes east). The day is two digits ("05"), which is
 * date-day-fixed's 2DIGIT form. */
void imapdate_format_datetime(struct buf *out, int64_t t, int tzoff);

/* Parses a search date (date-text, quotes already removed by the
 * parser): "1-Feb-2026" or "01-Feb-2026". Returns 0 with *day_r = UTC
 * seconds at 00:00 of that day, or -1. */
int imapdate_parse_date(const char *s, size_t n, int64_t *day_r);

/* Appends "1-Feb-2026" (date-text). */
void imapdate_format_date(struct buf *out, int64_t day);

/* Days since 1970-01-01 for a civil date (proleptic Gregorian), and back;
 * exposed for tests and search. */
int64_t imapdate_days_from_civil(int y, unsigned m, unsigned d);
void imapdate_civil_from_days(int64_t z, int *y_r, unsigned *m_r,
			      unsigned *d_r);

#endif
