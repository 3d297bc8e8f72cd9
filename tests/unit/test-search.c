/* test-search.c - search keys: folding, parsing, matching without text
 * (imapd/search.c). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "buf.h"
#include "charset.h"
#include "parser.h"
#include "search.h"
#include "t.h"

static const struct imap_command *parse_line(struct imap_parser *p,
					     const char *line)
{
	size_t c;

	if (imap_parser_feed(p, line, strlen(line), &c) != IMAP_PARSE_DONE)
		return NULL;
	return imap_parser_command(p);
}

/* Parses "T SEARCH <keys>" and matches message m; -2 on a parse error. */
static int run(const char *keys, const struct store_msg *m, uint32_t msn,
	       bool recent)
{
	struct imap_parser_limits lim = {65536, 32};
	struct imap_parser *p = imap_parser_new(&lim);
	struct buf line = BUF_INIT;
	struct search_info info;
	const char *err;
	int r = -2;

	buf_printf(&line, "T SEARCH %s\r\n", keys);
	const struct imap_command *c = parse_line(p, line.data);
	if (c) {
		struct search_key *k =
			search_parse(c->args, c->nargs, 10, 100, &info, &err);
		if (k) {
			struct search_msg sm = {0};
			sm.m = m;
			sm.msn = msn;
			sm.recent = recent;
			sm.now = 2000000000;
			r = search_match(k, &sm);
			search_msg_release(&sm);
			search_key_free(&k);
		}
	}
	buf_release(&line);
	imap_parser_free(&p);
	return r;
}

static void test_fold(void)
{
	struct buf b = BUF_INIT;

	search_fold("HeLLo ÄÖÜ ŁÓDŹ ΑΒΓ ПРИВЕТ ß", strlen("HeLLo ÄÖÜ ŁÓDŹ ΑΒΓ ПРИВЕТ ß"),
		    &b);
	buf_append_c(&b, '\0');
	CHECK_STR(b.data, "hello äöü łódź αβγ привет ß");
	buf_release(&b);
}


/* ---- the reference: the byte-at-a-time matcher the fast one replaced ---- */

static uint32_t ref_fold_cp(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if ((c >= 0xC0 && c <= 0xDE && c != 0xD7))
		return c + 32;
	if (c >= 0x100 && c <= 0x137)
		return c | 1;
	if (c >= 0x139 && c <= 0x148)
		return (c & 1) ? c + 1 : c;
	if (c >= 0x14A && c <= 0x177)
		return c | 1;
	if (c == 0x178)
		return 0xFF;
	if (c >= 0x179 && c <= 0x17E)
		return (c & 1) ? c + 1 : c;
	if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
		return c + 32;
	if (c == 0x3C2)
		return 0x3C3;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if (c >= 0x460 && c <= 0x4FF && c != 0x482 &&
	    !(c >= 0x483 && c <= 0x489))
		return c | 1;
	return c;
}

static void ref_fold(const char *s, size_t n, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	buf_reserve(out, n);
	while (i < n) {
		unsigned char b = p[i];
		if (b < 0x80) {
			buf_append_c(out, (char)((b >= 'A' && b <= 'Z') ? b + 32
								   : b));
			i++;
			continue;
		}
		if ((b & 0xE0) == 0xC0 && i + 1 < n &&
		    (p[i + 1] & 0xC0) == 0x80) {
			uint32_t c = (uint32_t)(b & 0x1F) << 6 | (p[i + 1] & 0x3F);
			uint32_t f = ref_fold_cp(c);
			if (f != c && c >= 0x80) {
				char t[2] = {(char)(0xC0 | f >> 6),
					     (char)(0x80 | (f & 0x3F))};
				buf_append(out, t, 2);
			} else {
				buf_append(out, p + i, 2);
			}
			i += 2;
			continue;
		}
		buf_append_c(out, (char)b);
		i++;
	}
}

static size_t ref_utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void ref_sanitize(const char *s, size_t n, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	if (n == 0)
		return;
	while (i < n) {
		size_t len = ref_utf8_seq(p + i, n - i);
		if (len == 0) {
			buf_append(out, s + run, i - run);
			buf_append_str(out, "\xef\xbf\xbd");
			i++;
			run = i;
		} else {
			i += len;
		}
	}
	buf_append(out, s + run, n - run);
}

#define REF_SLICE 65536

struct ref_scan {
	const char *needle, *charset;
	size_t nn;
	int enc;
	struct buf raw, conv, fold;
	size_t keep;
	uint32_t b64;
	int b64n;
	char qp[3];
	size_t qpn;
	bool found;
};

static int ref_hexv(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)toupper(c);
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void ref_flush(struct ref_scan *ts, bool final)
{
	size_t cut = ts->raw.len;

	if (!final) {
		while (cut > 0 && ts->raw.data[cut - 1] != '\n')
			cut--;
		if (cut == 0 && ts->raw.len < REF_SLICE)
			return;
		if (cut == 0)
			cut = ts->raw.len;
	}
	if (cut == 0)
		return;
	buf_reset(&ts->conv);
	if (!ts->charset || charset_is_utf8(ts->charset))
		ref_sanitize(ts->raw.data, cut, &ts->conv);
	else
		charset_to_utf8(ts->charset, ts->raw.data, cut, &ts->conv);
	buf_consume(&ts->raw, cut);
	buf_truncate(&ts->fold, ts->keep);
	ref_fold(ts->conv.data ? ts->conv.data : "", ts->conv.len, &ts->fold);
	if (ts->nn == 0 || (ts->fold.len >= ts->nn &&
			    memmem(ts->fold.data, ts->fold.len, ts->needle,
				   ts->nn)))
		ts->found = true;
	size_t keep = ts->nn ? ts->nn - 1 : 0;
	if (keep > ts->fold.len)
		keep = ts->fold.len;
	memmove(ts->fold.data, ts->fold.data + ts->fold.len - keep, keep);
	ts->fold.len = keep;
	ts->keep = keep;
}

static void ref_feed(struct ref_scan *ts, const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;

	switch (ts->enc) {
	case 0:
		buf_append(&ts->raw, p, n);
		break;
	case 1:
		for (size_t i = 0; i < n; i++) {
			int v = base64_value((unsigned char)s[i]);
			if (v < 0)
				continue;
			ts->b64 = ts->b64 << 6 | (uint32_t)v;
			if (++ts->b64n == 4) {
				char o[3] = {(char)(ts->b64 >> 16),
					     (char)(ts->b64 >> 8),
					     (char)ts->b64};
				buf_append(&ts->raw, o, 3);
				ts->b64n = 0;
				ts->b64 = 0;
			}
		}
		break;
	case 2:
		for (size_t i = 0; i < n; i++) {
			if (ts->qpn == 0 && s[i] != '=') {
				buf_append_c(&ts->raw, (char)s[i]);
				continue;
			}
			ts->qp[ts->qpn++] = (char)s[i];
			if (ts->qpn < 3)
				continue;
			ts->qpn = 0;
			int h = ref_hexv((unsigned char)ts->qp[1]);
			int l = ref_hexv((unsigned char)ts->qp[2]);
			if (h >= 0 && l >= 0)
				buf_append_c(&ts->raw, (char)(h << 4 | l));
			else if (ts->qp[1] == '\r' && ts->qp[2] == '\n')
				;
			else if (ts->qp[1] == '\n')
				buf_append_c(&ts->raw, ts->qp[2]);
			else
				buf_append(&ts->raw, ts->qp, 3);
		}
		break;
	}
	if (ts->raw.len >= REF_SLICE)
		ref_flush(ts, false);
}

static bool ref_text_part(const char *needle, const char *charset,
			  const char *encoding, const char *data, size_t n,
			  size_t slice)
{
	struct ref_scan ts = {0};
	struct buf nb = BUF_INIT;

	ref_fold(needle, strlen(needle), &nb);
	ts.needle = nb.data;
	ts.nn = nb.len;
	ts.charset = charset;
	if (encoding && strcasecmp(encoding, "base64") == 0)
		ts.enc = 1;
	else if (encoding && strcasecmp(encoding, "quoted-printable") == 0)
		ts.enc = 2;
	for (size_t off = 0; off < n && !ts.found; off += slice)
		ref_feed(&ts, data + off, n - off < slice ? n - off : slice);
	if (!ts.found) {
		if (ts.enc == 1 && ts.b64n >= 2) {
			uint32_t q = ts.b64 << (6 * (4 - ts.b64n));
			char o[2] = {(char)(q >> 16), (char)(q >> 8)};
			buf_append(&ts.raw, o, ts.b64n == 2 ? 1 : 2);
		}
		if (ts.enc == 2 && ts.qpn)
			buf_append(&ts.raw, ts.qp, ts.qpn);
		ref_flush(&ts, true);
	}
	buf_release(&ts.raw);
	buf_release(&ts.conv);
	buf_release(&ts.fold);
	buf_release(&nb);
	return ts.found;
}

/* ---- generated text, the fast matcher against the reference ------------ */

static unsigned long rnd_state = 1;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((rnd_state >> 33) % n);
}

/* Pieces of text: mixed-case ASCII, the folded ranges, other UTF-8,
 * Latin-1 bytes, broken sequences, line ends. */
static const char *const pieces[] = {
	"a", "B", "z", "Z", "q", "Quarter", "QUARTER", "quarter", " ", " ",
	"\r\n", "\n", "=", "==", "\t", "0", "@", "[", "`", "{",
	"\xc3\xa4", "\xc3\x84", "\xc3\x9f", "\xc5\x81", "\xc5\x82",
	"\xce\xa3", "\xcf\x82", "\xcf\x83", "\xd0\x9f", "\xd0\xbf",
	"\xd0\x80", "\xd1\xa0", "\xd2\x82", "\xc5\xb8", "\xc3\xbf",
	"\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3", "\xff", "\x80",
	"\xe2\x82", "\xc0\xaf", "\xed\xa0\x80", "\xe4", "\xd6", "\xfc",
	"\xdf", "\xa4", "\xec", "\xcc", "\xd2", "\x00", "Stra\xc3\x9f" "e", "M\xc3\x9cNCHEN",
};

static void gen_text(struct buf *b, size_t pieces_n)
{
	for (size_t i = 0; i < pieces_n; i++) {
		const char *p = pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))];
		buf_append(b, p, p[0] ? strlen(p) : 1);
	}
}

static void enc_base64(const struct buf *in, struct buf *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = (const unsigned char *)in->data;
	size_t col = 0;

	for (size_t i = 0; i < in->len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		size_t k = in->len - i < 3 ? in->len - i : 3;
		if (k > 1)
			v |= (uint32_t)s[i + 1] << 8;
		if (k > 2)
			v |= s[i + 2];
		char q[4] = {t[v >> 18], t[v >> 12 & 63],
			     k > 1 ? t[v >> 6 & 63] : '=', k > 2 ? t[v & 63] : '='};
		buf_append(out, q, 4);
		col += 4;
		if (rnd(20) == 0)
			buf_append_str(out, rnd(2) ? "!" : " ");
		if (col >= 76) {
			buf_append_str(out, rnd(4) ? "\r\n" : "\n");
			col = 0;
		}
	}
	if (rnd(4) == 0 && out->len > 2) /* a truncated quantum */
		buf_truncate(out, out->len - rnd(3));
}

static void enc_qp(const struct buf *in, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in->data;

	for (size_t i = 0; i < in->len; i++) {
		unsigned c = s[i];
		switch (rnd(12)) {
		case 0:
			buf_append_str(out, "=\r\n");
			break;
		case 1:
			buf_append_str(out, "=\n");
			break;
		case 2:
			buf_append_str(out, rnd(2) ? "=ZZ" : "=4");
			break;
		default:
			break;
		}
		if (c >= 0x80 || c == '=' || rnd(4) == 0)
			buf_printf(out, rnd(2) ? "=%02X" : "=%02x", c);
		else
			buf_append_c(out, (char)c);
	}
	if (rnd(3) == 0)
		buf_append_str(out, rnd(2) ? "=" : "=4");
}

/* A needle from the decoded and converted text (so many match), with
 * its ASCII letters in random case, or random pieces. */
static void gen_needle(const char *cs, const struct buf *plain, struct buf *nd)
{
	struct buf u = BUF_INIT;

	buf_reset(nd);
	if (rnd(4) == 0 || plain->len == 0) {
		gen_text(nd, 1 + rnd(3));
	} else {
		charset_to_utf8(cs, plain->data, plain->len, &u);
		size_t len = 1 + rnd(12);
		size_t at = u.len > len ? rnd((unsigned)(u.len - len)) : 0;
		buf_append(nd, u.data + at, u.len - at < len ? u.len - at : len);
		for (size_t i = 0; i < nd->len; i++)
			if (isalpha((unsigned char)nd->data[i]) && rnd(2))
				nd->data[i] ^= 0x20;
	}
	/* the API takes a C string */
	for (size_t i = 0; i < nd->len; i++)
		if (nd->data[i] == '\0')
			nd->data[i] = ' ';
	if (rnd(40) == 0)
		buf_reset(nd);
	buf_release(&u);
}

static void test_text_against_reference(void)
{
	static const char *const charsets[] = {
		NULL, "utf-8", "US-ASCII", "iso-8859-1", "ISO-8859-2",
		"windows-1252", "koi8-r", "windows-1258", "shift_jis",
		"utf-16le", "x-unknown", "",
	};
	static const char *const encodings[] = {NULL, "base64",
						 "quoted-printable", "8bit"};
	static const size_t slices[] = {1, 2, 3, 5, 64, 1000, 4096, 65536};
	struct buf plain = BUF_INIT, data = BUF_INIT, nd = BUF_INIT;
	int agree = 0, hits = 0, total = 0;

	for (int iter = 0; iter < 6000; iter++) {
		const char *cs = charsets[rnd(sizeof(charsets) / sizeof(charsets[0]))];
		const char *enc = encodings[rnd(4)];
		size_t slice = slices[rnd(sizeof(slices) / sizeof(slices[0]))];

		buf_reset(&plain);
		buf_reset(&data);
		gen_text(&plain, rnd(16) == 0 ? 3000 + rnd(20000) : rnd(200));
		if (enc && strcmp(enc, "base64") == 0)
			enc_base64(&plain, &data);
		else if (enc && strcmp(enc, "quoted-printable") == 0)
			enc_qp(&plain, &data);
		else
			buf_append(&data, plain.data, plain.len);
		if (slice == 1 && data.len > 2000)
			slice = 7;
		for (int j = 0; j < 4; j++) {
			gen_needle(cs, &plain, &nd);
			const char *n = nd.data ? nd.data : "";
			bool want = ref_text_part(n, cs, enc, data.data, data.len,
						  slice);
			bool got = search_text_part(n, cs, enc, data.data,
						    data.len, slice);
			total++;
			hits += want;
			if (want == got) {
				agree++;
			} else if (total - agree <= 5) {
				fprintf(stderr,
					"mismatch: cs=%s enc=%s slice=%zu "
					"len=%zu needle=\"%s\" want=%d\n",
					cs ? cs : "(null)", enc ? enc : "(null)",
					slice, data.len, n, want);
			}
		}
	}
	CHECK(agree == total);
	/* the generator finds both answers often */
	CHECK(hits > total / 4 && hits < total * 3 / 4);
	printf("text: %d needles, %d matched\n", total, hits);
	buf_release(&plain);
	buf_release(&data);
	buf_release(&nd);
}

/* Lines longer than a slice are cut where the slice ends: a character
 * across that cut does not match (as before), one inside does. */
static void test_long_lines(void)
{
	struct buf b = BUF_INIT;

	for (int pad = 0; pad < 3; pad++) {
		buf_reset(&b);
		for (int i = 0; i < 65534 + pad; i++)
			buf_append_c(&b, 'x');
		buf_append_str(&b, "\xd0\x9f\xd0\xa0\xd0\x98 ABC\xc3\x84 tail");
		for (size_t sl = 65536; sl >= 4096; sl /= 4) {
			const char *nds[] = {"пр", "и abcä", "xп", "abcä t", "ä",
					     "xxxxxxxxxxxxxxxxxxxx"};
			for (size_t i = 0; i < 6; i++)
				CHECK(search_text_part(nds[i], "utf-8", NULL, b.data,
						       b.len, sl) ==
				      ref_text_part(nds[i], "utf-8", NULL, b.data,
						    b.len, sl));
		}
	}
	buf_release(&b);
}

static void test_fold_against_reference(void)
{
	struct buf in = BUF_INIT, a = BUF_INIT, b = BUF_INIT;

	for (int iter = 0; iter < 3000; iter++) {
		buf_reset(&in);
		buf_reset(&a);
		buf_reset(&b);
		gen_text(&in, rnd(60));
		for (int j = rnd(4); j > 0; j--) /* any byte at all */
			in.data[rnd((unsigned)in.len + 1) % (in.len ? in.len : 1)] =
				(char)rnd(256);
		search_fold(in.data ? in.data : "", in.len, &a);
		ref_fold(in.data ? in.data : "", in.len, &b);
		CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
		buf_reset(&a);
		buf_reset(&b);
		charset_utf8_sanitize(in.data ? in.data : "", in.len, &a);
		ref_sanitize(in.data ? in.data : "", in.len, &b);
		CHECK(a.len == b.len && (a.len == 0 ||
					 memcmp(a.data, b.data, a.len) == 0));
	}
	buf_release(&in);
	buf_release(&a);
	buf_release(&b);
}

static void test_text_examples(void)
{
	const char *qp = "Gr=FC=DFe aus M=FCnchen, soft=\r\nbreak wo=\nrd =e4=\r\n=C4\r\n";
	const char *b64 = "0J/RgNC40LLQtdGCLCDRgdC10LrRgNC10YLQvdC+0LUg0YHQu9C+0LLQviBa\r\nRUJSQQ==\r\n";

	CHECK(search_text_part("GRÜSSE", "iso-8859-1", "quoted-printable", qp, strlen(qp), 65536) == false);
	CHECK(search_text_part("grüße aus MÜNCHEN", "iso-8859-1", "quoted-printable", qp, strlen(qp), 3));
	CHECK(search_text_part("softbreak word", "iso-8859-1", "quoted-printable", qp, strlen(qp), 1));
	CHECK(search_text_part("äÄ", "iso-8859-1", "quoted-printable", qp, strlen(qp), 5));
	CHECK(!search_text_part("softbreak word", NULL, NULL, qp, strlen(qp), 64));
	CHECK(search_text_part("секретное", "utf-8", "base64", b64, strlen(b64), 1));
	CHECK(search_text_part("zebra", "utf-8", "BASE64", b64, strlen(b64), 7));
	CHECK(search_text_part("ПРИВЕТ, С", "utf-8", "base64", b64, strlen(b64), 65536));
	CHECK(!search_text_part("zebra!", "utf-8", "base64", b64, strlen(b64), 65536));
	/* iconv composes a letter and the accent after it in these */
	CHECK(!search_text_part("a", "windows-1258", NULL, "xa\xec", 3, 1));
	CHECK(!search_text_part("a", "windows-1258", NULL, "xa\xec", 3, 1) ==
	      !ref_text_part("a", "windows-1258", NULL, "xa\xec", 3, 1));
	CHECK(search_text_part("\xc3\xa1", "windows-1258", NULL, "xA\xec", 3, 2));
	CHECK(!search_text_part("\xd7\xa9", "windows-1255", NULL, "\xf9\xd1", 2, 1));
	CHECK(search_text_part("", NULL, NULL, "x", 1, 1));
	CHECK(!search_text_part("", NULL, NULL, "", 0, 1));
	CHECK(!search_text_part("", NULL, "base64", "!!\r\n", 4, 1));
}

static void test_keys(void)
{
	struct store_msg m = {0};

	m.uid = 42;
	m.flags = STORE_F_SEEN | STORE_F_FLAGGED;
	m.size = 1000;
	m.modseq = 7;
	m.keywords = "$Label1 Work";
	m.internaldate = 1764028800; /* 25-Nov-2025 00:00 UTC */
	m.tzoff = 0;
	CHECK(run("ALL", &m, 3, false) == 1);
	CHECK(run("SEEN FLAGGED", &m, 3, false) == 1);
	CHECK(run("UNSEEN", &m, 3, false) == 0);
	CHECK(run("NOT UNSEEN", &m, 3, false) == 1);
	CHECK(run("OR UNSEEN DELETED", &m, 3, false) == 0);
	CHECK(run("OR UNSEEN (FLAGGED UNDELETED)", &m, 3, false) == 1);
	CHECK(run("KEYWORD work", &m, 3, false) == 1);
	CHECK(run("UNKEYWORD $Label1", &m, 3, false) == 0);
	CHECK(run("LARGER 999 SMALLER 1001", &m, 3, false) == 1);
	CHECK(run("LARGER 1000", &m, 3, false) == 0);
	CHECK(run("2:4", &m, 3, false) == 1);
	CHECK(run("1,4:*", &m, 3, false) == 0);
	CHECK(run("UID 40:50", &m, 3, false) == 1);
	CHECK(run("UID 43:*", &m, 3, false) == 0);
	CHECK(run("ON 25-Nov-2025", &m, 3, false) == 1);
	CHECK(run("BEFORE 25-Nov-2025", &m, 3, false) == 0);
	CHECK(run("SINCE \"25-Nov-2025\"", &m, 3, false) == 1);
	CHECK(run("MODSEQ 7", &m, 3, false) == 1);
	CHECK(run("MODSEQ 8", &m, 3, false) == 0);
	CHECK(run("RECENT NEW", &m, 3, true) == 0);
	CHECK(run("RECENT", &m, 3, true) == 1);
	CHECK(run("OLD", &m, 3, true) == 0);
	CHECK(run("$", &m, 3, false) == 0);
	/* errors */
	CHECK(run("FROB", &m, 3, false) == -2);
	CHECK(run("OR ALL", &m, 3, false) == -2);
	CHECK(run("SINCE 32-Jan-2020", &m, 3, false) == -2);
	CHECK(run("LARGER x", &m, 3, false) == -2);
	CHECK(run("HEADER", &m, 3, false) == -2);
	CHECK(run("OLDER 0", &m, 3, false) == -2);
	CHECK(run("()", &m, 3, false) == -2);
}

static void test_deep(void)
{
	struct buf keys = BUF_INIT;
	struct store_msg m = {0};

	for (int i = 0; i < 1000; i++)
		buf_append_str(&keys, "NOT ");
	buf_append_str(&keys, "ALL");
	buf_append_c(&keys, '\0');
	CHECK(run(keys.data, &m, 1, false) == -2);
	buf_reset(&keys);
	for (int i = 0; i < 20; i++)
		buf_append_str(&keys, "NOT ");
	buf_append_str(&keys, "ALL");
	buf_append_c(&keys, '\0');
	CHECK(run(keys.data, &m, 1, false) == 1);
	buf_release(&keys);
}

int main(void)
{
	test_fold();
	test_fold_against_reference();
	test_text_examples();
	test_long_lines();
	test_text_against_reference();
	test_keys();
	test_deep();
	return t_done();
}
