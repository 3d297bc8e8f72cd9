/* test-mime.c - the streaming MIME parser: offsets, sizes, line counts,
 * fields, broken mail, slicing independence, the blob round trip and the
 * real-world corpus under tests/data/mime. */
#include "buf.h"
#include "mime.h"
#include "xalloc.h"
#include "t.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static struct mime_part *parse_str(const char *s)
{
	return mime_parse(s, strlen(s), NULL);
}

/* Serialised form, as a comparable fingerprint of a whole tree. */
static void fingerprint(const struct mime_part *p, struct buf *out)
{
	buf_reset(out);
	mime_serialize(p, out);
}

/* Parses data fed in slices of size step and checks the result equals
 * the one-slice parse; also checks the blob round trip. */
static void check_slicing(const char *data, size_t n)
{
	struct mime_part *whole = mime_parse(data, n, NULL), *back;
	struct buf a = BUF_INIT, b = BUF_INIT;
	static const size_t steps[] = {1, 2, 3, 7, 64, 4099};

	fingerprint(whole, &a);
	for (size_t s = 0; s < ARRAY_SIZE(steps); s++) {
		struct mime_parser *p = mime_parser_new(NULL);
		struct mime_part *t;

		for (size_t off = 0; off < n; off += steps[s])
			mime_parser_feed(p, data + off,
					 n - off < steps[s] ? n - off : steps[s]);
		t = mime_parser_finish(&p);
		CHECK(p == NULL);
		fingerprint(t, &b);
		CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
		mime_part_free(&t);
	}
	back = mime_deserialize(a.data, a.len);
	CHECK(back != NULL);
	if (back != NULL) {
		fingerprint(back, &b);
		CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	}
	/* every truncation of the blob is refused, never a crash */
	for (size_t cut = 0; cut < a.len; cut += 1 + cut / 8) {
		struct mime_part *bad = mime_deserialize(a.data, cut);

		CHECK(bad == NULL);
		mime_part_free(&bad);
	}
	/* sanity of the tree: ranges nest */
	mime_part_free(&back);
	mime_part_free(&whole);
	buf_release(&a);
	buf_release(&b);
}

static void test_simple(void)
{
	const char *m = "Subject: hi\r\nFrom: A <a@b.c>\r\n"
			"Content-Type: TEXT/Plain; Name*0=\"x\"; name*1=y; "
			"CHARSET=UTF-8\r\n\r\nhello\r\nworld";
	struct mime_part *p = parse_str(m);

	CHECK(p->hdr_start == 0);
	CHECK(p->body_start == strlen(m) - 12);
	CHECK(p->hdr_size == p->body_start);
	CHECK(p->hdr_lines == 4);
	CHECK(p->body_size == 12);
	CHECK(p->body_vsize == 12);
	CHECK(p->body_lines == 1);
	CHECK_STR(p->type, "TEXT");
	CHECK_STR(p->subtype, "Plain");
	CHECK(p->nparams == 2);
	CHECK_STR(p->params[0].name, "CHARSET");
	CHECK_STR(p->params[0].value, "UTF-8");
	CHECK_STR(p->params[1].name, "Name");
	CHECK_STR(p->params[1].value, "xy");
	CHECK_STR(p->env[MIME_ENV_SUBJECT], "hi");
	CHECK_STR(p->env[MIME_ENV_FROM], "A <a@b.c>");
	CHECK(p->env[MIME_ENV_TO] == NULL);
	CHECK(p->children == NULL);
	CHECK(p->flags & MIME_PART_IS_MESSAGE);
	CHECK(p->flags & MIME_PART_HAS_TYPE);
	mime_part_free(&p);
	CHECK(p == NULL);
}

static void test_default_type_and_folding(void)
{
	const char *m = "Subject: a\r\n  folded\tline \r\n"
			"X-No-Colon-Line\r\n"
			"Content-Transfer-Encoding: (c) Base64 (c)\r\n"
			"MIME-Version: 1.0\r\n\r\nx\r\n";
	struct mime_part *p = parse_str(m);

	CHECK_STR(p->type, "text");
	CHECK_STR(p->subtype, "plain");
	CHECK(p->nparams == 0);
	CHECK(!(p->flags & MIME_PART_HAS_TYPE));
	CHECK_STR(p->env[MIME_ENV_SUBJECT], "a  folded\tline ");
	CHECK_STR(p->encoding, "Base64");
	CHECK(p->body_size == 3 && p->body_lines == 1);
	mime_part_free(&p);
	/* without MIME-Version or Content-Type a message is not MIME */
	p = parse_str("Content-Transfer-Encoding: base64\r\n\r\nx\r\n");
	CHECK(p->encoding == NULL);
	mime_part_free(&p);
}

static const char nested[] =
	"From: x@y\r\n"
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--outer\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n"
	"\r\n"
	"part one\r\n"
	"--outer\r\n"
	"Content-Type: message/rfc822\r\n"
	"Content-Disposition: attachment; filename=\"m.eml\"\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"Content-Type: multipart/alternative; boundary=in\r\n"
	"\r\n"
	"--in\r\n"
	"\r\n"
	"plain\r\n"
	"--in\r\n"
	"Content-Type: text/html\r\n"
	"Content-Language: en, (c) de\r\n"
	"\r\n"
	"<b>x</b>\r\n"
	"--in--\r\n"
	"\r\n"
	"--outer--\r\n"
	"epilogue\r\n";

static uint64_t off_of(const char *needle)
{
	return (uint64_t)(strstr(nested, needle) - nested);
}

static void test_nested(void)
{
	struct mime_part *p = parse_str(nested), *c1, *c2, *msg, *a1, *a2;

	CHECK(p->flags & MIME_PART_MULTIPART);
	CHECK(mime_part_nchildren(p) == 2);
	CHECK(p->body_end == strlen(nested));
	c1 = mime_part_child(p, 1);
	c2 = mime_part_child(p, 2);
	CHECK(mime_part_child(p, 3) == NULL && mime_part_child(p, 0) == NULL);
	CHECK(c1->hdr_start == off_of("Content-Type: text/plain"));
	CHECK(c1->body_start == off_of("part one"));
	CHECK(c1->body_end == off_of("part one") + 8);
	CHECK(c1->body_lines == 0);
	CHECK(!(c1->flags & MIME_PART_IS_MESSAGE));
	CHECK(c1->env[MIME_ENV_FROM] == NULL);
	CHECK(c2->flags & MIME_PART_MESSAGE);
	CHECK_STR(c2->disposition, "attachment");
	CHECK_STR(mime_param_get(c2->disp_params, c2->ndisp_params,
				 "FILENAME"),
		  "m.eml");
	msg = c2->children;
	CHECK(msg != NULL && msg->next == NULL);
	CHECK(msg->hdr_start == c2->body_start);
	CHECK(msg->hdr_start == off_of("Subject: inner"));
	CHECK(msg->flags & MIME_PART_IS_MESSAGE);
	CHECK_STR(msg->env[MIME_ENV_SUBJECT], "inner");
	CHECK(msg->flags & MIME_PART_MULTIPART);
	CHECK(c2->body_end == off_of("--outer--") - 2);
	CHECK(msg->body_end == c2->body_end);
	a1 = mime_part_child(msg, 1);
	a2 = mime_part_child(msg, 2);
	CHECK(a1 != NULL && a2 != NULL);
	CHECK(a1->hdr_size == 2 && a1->body_size == 5);
	CHECK_STR(a1->type, "text");
	CHECK_STR(a2->subtype, "html");
	CHECK(a2->nlanguage == 2);
	if (a2->nlanguage == 2) {
		CHECK_STR(a2->language[0], "en");
		CHECK_STR(a2->language[1], "de");
	}
	CHECK(a2->body_end == off_of("--in--") - 2);
	/* the multipart body lines include the children */
	CHECK(p->body_lines == 24);
	mime_part_free(&p);
	check_slicing(nested, strlen(nested));
}

static void test_bare_lf_and_nul(void)
{
	static const char m[] = "Content-Type: multipart/mixed; boundary=b\n"
				"\n"
				"--b\n"
				"\n"
				"a\0b\n"
				"c\r\n"
				"--b\n"
				"Content-Type: text/plain\n"
				"\n"
				"no final boundary\n";
	size_t n = sizeof(m) - 1;
	struct mime_part *p = mime_parse(m, n, NULL), *c1, *c2;

	CHECK(p->hdr_size == 43 && p->hdr_vsize == 45 && p->hdr_lines == 2);
	c1 = mime_part_child(p, 1);
	c2 = mime_part_child(p, 2);
	CHECK(c1 != NULL && c2 != NULL);
	CHECK(c1->body_size == 5); /* "a\0b\nc": the CRLF belongs to --b */
	CHECK(c1->body_vsize == 6);
	CHECK(c1->body_lines == 1);
	CHECK(c2->body_end == n);
	CHECK(c2->body_size == 18 && c2->body_vsize == 19);
	CHECK(p->body_end == n);
	mime_part_free(&p);
	check_slicing(m, n);
}

static void test_outer_boundary_in_inner(void)
{
	const char *m = "Content-Type: multipart/mixed; boundary=A\r\n\r\n"
			"--A\r\n"
			"Content-Type: multipart/mixed; boundary=B\r\n\r\n"
			"--B\r\n\r\ninner\r\n"
			"--A\r\n\r\nsecond\r\n"
			"--A--\r\n";
	struct mime_part *p = parse_str(m), *c1, *c2;

	CHECK(mime_part_nchildren(p) == 2);
	c1 = mime_part_child(p, 1);
	c2 = mime_part_child(p, 2);
	CHECK(c1 != NULL && mime_part_nchildren(c1) == 1);
	CHECK(c1->children->body_size == 5);
	CHECK(c1->body_end == c1->children->body_end);
	CHECK(c2 != NULL && c2->body_size == 6);
	mime_part_free(&p);
	check_slicing(m, strlen(m));
}

static void test_empty_parts_and_eof(void)
{
	const char *m = "Content-Type: multipart/mixed; boundary=A\r\n\r\n"
			"--A\r\n--A\r\nX: y\r\n--A\r\n"
			"Content-Type: message/rfc822\r\n\r\n"
			"--A--";
	struct mime_part *p = parse_str(m), *c;

	CHECK(mime_part_nchildren(p) == 3);
	c = mime_part_child(p, 1);
	CHECK(c->hdr_size == 0 && c->body_size == 0);
	c = mime_part_child(p, 2);
	CHECK(c->hdr_size == 4 && c->body_size == 0);
	c = mime_part_child(p, 3);
	CHECK(c != NULL && (c->flags & MIME_PART_MESSAGE));
	CHECK(c->children != NULL && c->children->hdr_size == 0);
	CHECK(p->body_end == strlen(m));
	mime_part_free(&p);
	check_slicing(m, strlen(m));

	/* a message/rfc822 header cut by the end of input (fuzzer find) */
	m = "Content-Type: message/rfc822\n"
	    "Content-Description: cut";
	p = parse_str(m);
	CHECK(p->flags & MIME_PART_MESSAGE);
	CHECK(p->children != NULL && p->children->type != NULL);
	mime_part_free(&p);
	check_slicing(m, strlen(m));
	m = "Content-Type: multipart/mixed; boundary=A\r\n\r\n--A\r\n"
	    "Content-Type: message/rfc822\r\n--A--\r\n";
	p = parse_str(m);
	CHECK(p->children != NULL && p->children->children != NULL &&
	      p->children->children->type != NULL);
	mime_part_free(&p);
	check_slicing(m, strlen(m));

	p = parse_str("");
	CHECK(p->hdr_size == 0 && p->body_size == 0);
	mime_part_free(&p);
	p = parse_str("Subject: only header");
	CHECK(p->hdr_size == 20 && p->body_size == 0);
	CHECK_STR(p->env[MIME_ENV_SUBJECT], "only header");
	mime_part_free(&p);
}

static void test_deep_nesting(void)
{
	struct buf m = BUF_INIT;
	struct mime_limits lim = {10, 0};
	struct mime_part *p, *q;
	int depth = 0;

	for (int i = 0; i < 150; i++)
		buf_printf(&m,
			   "Content-Type: multipart/mixed; boundary==%d=\r\n"
			   "\r\n--=%d=\r\n",
			   i, i);
	buf_append_str(&m, "\r\nleaf\r\n");
	p = mime_parse(m.data, m.len, &lim);
	for (q = p; q->children != NULL; q = q->children)
		depth++;
	CHECK(depth == 9);
	CHECK(q->flags & MIME_PART_TRUNCATED);
	CHECK_STR(q->type, "application");
	CHECK_STR(q->subtype, "octet-stream");
	CHECK(q->body_end == m.len);
	mime_part_free(&p);
	p = mime_parse(m.data, m.len, NULL);
	depth = 0;
	for (q = p; q->children != NULL; q = q->children)
		depth++;
	CHECK(depth == 99);
	mime_part_free(&p);
	check_slicing(m.data, m.len);

	/* message/rfc822 inside message/rfc822 ... */
	buf_reset(&m);
	for (int i = 0; i < 300; i++)
		buf_append_str(&m, "Content-Type: message/rfc822\r\n\r\n");
	p = mime_parse(m.data, m.len, NULL);
	depth = 0;
	for (q = p; q->children != NULL; q = q->children)
		depth++;
	CHECK(depth == 99);
	mime_part_free(&p);
	buf_release(&m);
}

static void test_part_limit(void)
{
	struct buf m = BUF_INIT;
	struct mime_limits lim = {0, 50};
	struct mime_part *p;

	buf_append_str(&m, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (int i = 0; i < 200; i++)
		buf_append_str(&m, "--x\r\n\r\nbody\r\n");
	p = mime_parse(m.data, m.len, &lim);
	CHECK(mime_part_nchildren(p) == 49);
	CHECK(p->body_end == m.len);
	mime_part_free(&p);
	buf_release(&m);
}

/* The header bytes kept for one message are bounded. */
static void test_header_budget(void)
{
	struct buf m = BUF_INIT;
	struct mime_part *p;
	size_t kept = 0, with = 0;
	char desc[8001];

	memset(desc, 'd', sizeof(desc) - 1);
	desc[sizeof(desc) - 1] = '\0';
	buf_append_str(&m, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (int i = 0; i < 300; i++)
		buf_printf(&m, "--x\r\nContent-Description: %s\r\n\r\nb\r\n",
			   desc);
	p = mime_parse(m.data, m.len, NULL);
	CHECK(mime_part_nchildren(p) == 300);
	for (struct mime_part *c = p->children; c; c = c->next) {
		if (c->description != NULL && *c->description != '\0') {
			kept += strlen(c->description);
			with++;
		}
		CHECK(c->body_size == 1 || c->next == NULL);
	}
	CHECK(kept <= MIME_MAX_MESSAGE_HEADER);
	CHECK(with > 100 && with < 300);
	mime_part_free(&p);
	buf_release(&m);
}

static void test_rfc2231(void)
{
	const char *m =
		"Content-Type: application/x-stuff;\r\n"
		" title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
		" title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n"
		" title*2=\"isn't it!\"; plain=\"a\\\"b\"; ext*=utf-8''%E2%82%AC\r\n"
		"Content-Disposition: attachment; filename*1=\"b.txt\";"
		" filename*0=\"a\"\r\n"
		"\r\n";
	struct mime_part *p = parse_str(m);

	CHECK(p->nparams == 3);
	if (p->nparams == 3) {
		CHECK_STR(p->params[0].name, "plain");
		CHECK_STR(p->params[0].value, "a\"b");
		CHECK_STR(p->params[1].name, "ext*");
		CHECK_STR(p->params[1].value, "utf-8''%E2%82%AC");
		CHECK_STR(p->params[2].name, "title*");
		CHECK_STR(p->params[2].value,
			  "us-ascii'en'This%20is%20even%20more%20"
			  "%2A%2A%2Afun%2A%2A%2A%20isn't it!");
	}
	CHECK(p->ndisp_params == 1);
	if (p->ndisp_params == 1)
		CHECK_STR(p->disp_params[0].value, "ab.txt");
	mime_part_free(&p);
}

static void test_digest(void)
{
	const char *m = "Content-Type: multipart/digest; boundary=d\r\n\r\n"
			"--d\r\n\r\nSubject: one\r\n\r\nbody\r\n"
			"--d\r\nContent-Type: text/plain\r\n\r\nx\r\n--d--\r\n";
	struct mime_part *p = parse_str(m), *c1, *c2;

	c1 = mime_part_child(p, 1);
	c2 = mime_part_child(p, 2);
	CHECK_STR(c1->type, "message");
	CHECK(c1->flags & MIME_PART_MESSAGE);
	CHECK(c1->children != NULL &&
	      strcmp(c1->children->env[MIME_ENV_SUBJECT], "one") == 0);
	CHECK_STR(c2->type, "text");
	mime_part_free(&p);
}

static void test_garbage_blob(void)
{
	unsigned char junk[512];
	unsigned seed = 1;

	CHECK(mime_deserialize("", 0) == NULL);
	CHECK(mime_deserialize("TMIME0xxxx", 10) == NULL);
	for (int round = 0; round < 2000; round++) {
		struct mime_part *p;

		memcpy(junk, "TMIME1", 6);
		for (size_t i = 6; i < sizeof(junk); i++) {
			seed = seed * 1103515245u + 12345u;
			junk[i] = (unsigned char)(seed >> 16);
		}
		p = mime_deserialize(junk, 6 + (size_t)round % 500);
		mime_part_free(&p);
	}
	CHECK(1);
}

/* Every file in tests/data/mime parses the same in any slicing, and its
 * part ranges nest inside the message. */
static void check_ranges(const struct mime_part *p, uint64_t lo, uint64_t hi)
{
	CHECK(p->hdr_start >= lo && p->body_end <= hi);
	CHECK(p->hdr_start + p->hdr_size == p->body_start);
	CHECK(p->body_start + p->body_size == p->body_end);
	CHECK(p->body_vsize >= p->body_size && p->hdr_vsize >= p->hdr_size);
	for (const struct mime_part *c = p->children; c; c = c->next)
		check_ranges(c, p->body_start, p->body_end);
}

static void test_corpus(void)
{
	const char *dir = getenv("TANDEM_TEST_DATA");
	char path[4096];
	DIR *d;
	struct dirent *e;
	int files = 0;

	if (dir == NULL)
		dir = "tests/data";
	snprintf(path, sizeof(path), "%s/mime", dir);
	d = opendir(path);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		FILE *f;
		struct buf m = BUF_INIT;
		char chunk[8192];
		size_t n;
		struct mime_part *p;

		if (e->d_name[0] == '.' || strstr(e->d_name, ".msg") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/mime/%s", dir, e->d_name);
		f = fopen(path, "rb");
		if (f == NULL)
			continue;
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			buf_append(&m, chunk, n);
		fclose(f);
		buf_append(&m, "", 0);
		p = mime_parse(m.data, m.len, NULL);
		check_ranges(p, 0, m.len);
		CHECK(p->body_end == m.len);
		mime_part_free(&p);
		check_slicing(m.data, m.len);
		buf_release(&m);
		files++;
	}
	closedir(d);
	CHECK(files > 0);
}

int main(void)
{
	test_simple();
	test_default_type_and_folding();
	test_nested();
	test_bare_lf_and_nul();
	test_outer_boundary_in_inner();
	test_empty_parts_and_eof();
	test_deep_nesting();
	test_part_limit();
	test_header_budget();
	test_rfc2231();
	test_digest();
	test_garbage_blob();
	test_corpus();
	return t_done();
}
