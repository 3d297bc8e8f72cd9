/* test-fetch-body.c - BODY[section]<partial> and BINARY addressing,
 * header-field filtering, CRLF windows and BINARY decoders. The expected
 * bytes are what Dovecot 2.3.19.1 sent for the same FETCH items. */
#include "buf.h"
#include "fetch-body.h"
#include "mime.h"
#include "parser.h"
#include "xalloc.h"
#include "t.h"

#include <string.h>

static const char msg1[] =
	"Subject: x\r\nFrom: a@b.c\r\nX-Long: one\r\n two\r\n"
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
	"--b\r\nContent-Type: message/rfc822\r\n\r\n"
	"Subject: inner\r\nX-A: 1\r\n\r\ninner body\r\n--b--\r\n";

static const char msg2[] = "Subject: x\nFrom: a@b.c\n\nbare\nlf\n";

struct mem {
	const char *data;
	size_t len;
	size_t max_read; /* short reads, to exercise resumption */
};

static ssize_t mem_read(void *ctx, uint64_t off, void *dst, size_t len)
{
	struct mem *m = ctx;

	if (off > m->len)
		return -1;
	if (len > m->len - off)
		len = m->len - off;
	if (len > m->max_read)
		len = m->max_read;
	memcpy(dst, m->data + off, len);
	return (ssize_t)len;
}

/* What FETCH would send for item (e.g. "BODY[1.MIME]<2.5>"), as the
 * bytes of the string (without the literal header). */
static void fetch(const struct mime_part *root, const char *data, size_t len,
		  const char *item, struct buf *out)
{
	struct imap_fetch_att att;
	struct buf fields = BUF_INIT;
	const char *err;
	struct fetch_body_section sec;
	struct mem m = {data, len, 3};
	struct fetch_window w;
	uint64_t from = 0, wlen = UINT64_MAX;

	buf_reset(out);
	buf_append(out, "", 0);
	CHECK(imap_fetch_att_parse(item, strlen(item), &att, &fields, NULL,
				   &err) == 0);
	fetch_body_resolve(root, &att, &sec);
	if (att.has_partial) {
		from = att.partial_start;
		wlen = att.partial_len;
	}
	fetch_window_init(&w, from, wlen, true);
	if (sec.kind == FETCH_BODY_RANGE) {
		uint64_t size = fetch_window_size(sec.range.vsize, from, wlen);

		/* stream it in small slices, as FETCH does */
		for (uint64_t off = 0; off < sec.range.size &&
				       !fetch_window_done(&w);
		     off += 2) {
			size_t n = sec.range.size - off < 2
					   ? (size_t)(sec.range.size - off)
					   : 2;

			fetch_window_feed(&w, data + sec.range.start + off, n,
					  out);
		}
		CHECK(out->len == size);
	} else if (sec.kind == FETCH_BODY_FIELDS) {
		struct buf tmp = BUF_INIT;

		CHECK(fetch_body_fields(&sec.range, fields.data, att.nfields,
					att.text ==
						IMAP_SECTION_HEADER_FIELDS_NOT,
					mem_read, &m, &tmp) == 0);
		fetch_window_feed(&w, tmp.data, tmp.len, out);
		buf_release(&tmp);
	}
	buf_release(&fields);
}

struct fcase {
	const char *item;
	const char *want;
};

/* Dovecot's answers for msg1 */
static const struct fcase cases1[] = {
	{"BODY[5]", ""},
	{"BODY[1.1]", "hello"},
	{"BODY[1.HEADER]", ""},
	{"BODY[1.MIME]", "Content-Type: text/plain\r\n\r\n"},
	{"BODY[HEADER.FIELDS (subject x-long)]",
	 "Subject: x\r\nX-Long: one\r\n two\r\n\r\n"},
	{"BODY[HEADER.FIELDS.NOT (subject x-long)]",
	 "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"},
	{"BODY[2.HEADER.FIELDS (x-a)]", "X-A: 1\r\n\r\n"},
	{"BODY[2.TEXT]", "inner body"},
	{"BODY[2.1]", "inner body"},
	{"BODY[2]", "Subject: inner\r\nX-A: 1\r\n\r\ninner body"},
	{"BODY[HEADER.FIELDS (nonexist)]", "\r\n"},
	{"BODY[TEXT]<2.5>", "b\r\nCo"},
	{"BODY[2.MIME]", "Content-Type: message/rfc822\r\n\r\n"},
	{"BODY[1.2]", ""},
	{"BODY[1]", "hello"},
	{"BODY[]<0.7>", "Subject"},
	{"BODY[]<10000.7>", ""},
};

/* Dovecot's answers for msg2 (bare LF: sent as CRLF) */
static const struct fcase cases2[] = {
	{"BODY[5]", ""},
	{"BODY[1.1]", ""},
	{"BODY[1.HEADER]", ""},
	{"BODY[1.MIME]", "Subject: x\r\nFrom: a@b.c\r\n\r\n"},
	{"BODY[HEADER.FIELDS (SUBJECT X-LONG)]", "Subject: x\r\n\r\n"},
	{"BODY[HEADER.FIELDS.NOT (SUBJECT X-LONG)]", "From: a@b.c\r\n\r\n"},
	{"BODY[2]", ""},
	{"BODY[TEXT]<2.5>", "re\r\nl"},
	{"BODY[1]", "bare\r\nlf\r\n"},
	{"BODY[]", "Subject: x\r\nFrom: a@b.c\r\n\r\nbare\r\nlf\r\n"},
};

static void test_sections(void)
{
	struct mime_part *r1 = mime_parse(msg1, sizeof(msg1) - 1, NULL);
	struct mime_part *r2 = mime_parse(msg2, sizeof(msg2) - 1, NULL);
	struct buf out = BUF_INIT;

	for (size_t i = 0; i < ARRAY_SIZE(cases1); i++) {
		fetch(r1, msg1, sizeof(msg1) - 1, cases1[i].item, &out);
		if (strcmp(out.data, cases1[i].want) != 0)
			fprintf(stderr, "item %s\n", cases1[i].item);
		CHECK_STR(out.data, cases1[i].want);
	}
	for (size_t i = 0; i < ARRAY_SIZE(cases2); i++) {
		fetch(r2, msg2, sizeof(msg2) - 1, cases2[i].item, &out);
		if (strcmp(out.data, cases2[i].want) != 0)
			fprintf(stderr, "item %s\n", cases2[i].item);
		CHECK_STR(out.data, cases2[i].want);
	}
	mime_part_free(&r1);
	mime_part_free(&r2);
	buf_release(&out);
}

static void decode(enum fetch_cte cte, const char *in, size_t step,
		   struct buf *out)
{
	struct fetch_decoder d;
	size_t n = strlen(in);

	buf_reset(out);
	buf_append(out, "", 0);
	fetch_decoder_init(&d, cte);
	for (size_t off = 0; off < n; off += step)
		fetch_decoder_feed(&d, in + off, n - off < step ? n - off : step,
				   out);
	fetch_decoder_finish(&d, out);
	fetch_decoder_release(&d);
}

static void test_decoders(void)
{
	struct buf out = BUF_INIT;

	for (size_t step = 1; step < 6; step++) {
		decode(FETCH_CTE_BASE64, "aGVs\r\nbG8g\r\nd29y bGQ=\r\n", step,
		       &out);
		CHECK_STR(out.data, "hello world");
		decode(FETCH_CTE_BASE64, "YQ==", step, &out);
		CHECK_STR(out.data, "a");
		decode(FETCH_CTE_BASE64, "YWI", step, &out);
		CHECK_STR(out.data, "ab");
		decode(FETCH_CTE_QP,
		       "caf=C3=A9 =\r\nsoft  \r\nline=\nend=3d=ZZ= \r\nx=",
		       step, &out);
		CHECK_STR(out.data,
			  "caf\xc3\xa9 soft\r\nlineend==ZZx");
		decode(FETCH_CTE_QP, "a\nb \t\n", step, &out);
		CHECK_STR(out.data, "a\r\nb\r\n");
	}
	/* NUL bytes survive base64 */
	decode(FETCH_CTE_BASE64, "AAEA", 1, &out);
	CHECK(out.len == 3 && out.data[0] == 0 && out.data[1] == 1);
	buf_release(&out);
}

static void test_cte(void)
{
	const char *m = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
			"--b\r\nContent-Transfer-Encoding: BASE64\r\n\r\nYQ==\r\n"
			"--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nx\r\n"
			"--b\r\nContent-Transfer-Encoding: Quoted-Printable\r\n"
			"\r\n=41\r\n--b\r\n\r\nplain\r\n--b--\r\n";
	struct mime_part *r = mime_parse(m, strlen(m), NULL);
	struct imap_fetch_att att;
	struct buf fields = BUF_INIT;
	const char *err;
	struct fetch_body_section sec;

	CHECK(fetch_body_cte(r) == FETCH_CTE_IDENTITY);
	CHECK(fetch_body_cte(mime_part_child(r, 1)) == FETCH_CTE_BASE64);
	CHECK(fetch_body_cte(mime_part_child(r, 2)) == FETCH_CTE_UNKNOWN);
	CHECK(fetch_body_cte(mime_part_child(r, 3)) == FETCH_CTE_QP);
	CHECK(fetch_body_cte(mime_part_child(r, 4)) == FETCH_CTE_IDENTITY);
	CHECK(imap_fetch_att_parse("BINARY[1]", 9, &att, &fields, NULL,
				   &err) == 0);
	fetch_body_resolve(r, &att, &sec);
	CHECK(sec.kind == FETCH_BODY_RANGE && sec.part ==
						       mime_part_child(r, 1));
	CHECK(sec.range.size == 4 &&
	      memcmp(m + sec.range.start, "YQ==", 4) == 0);
	mime_part_free(&r);
	buf_release(&fields);
}

static void test_window(void)
{
	struct fetch_window w;
	struct buf out = BUF_INIT;

	fetch_window_init(&w, 1, 3, true);
	fetch_window_feed(&w, "a\nb\r", 4, &out);
	fetch_window_feed(&w, "\nc", 2, &out);
	CHECK(out.len == 3 && memcmp(out.data, "\r\nb", 3) == 0);
	CHECK(fetch_window_done(&w));
	CHECK(fetch_window_size(10, 4, 100) == 6);
	CHECK(fetch_window_size(10, 10, 1) == 0);
	CHECK(fetch_window_size(10, 2, 3) == 3);
	buf_release(&out);
}

int main(void)
{
	test_sections();
	test_decoders();
	test_cte();
	test_window();
	return t_done();
}
