/* test-buf.c - core/buf.c: every function, the NUL invariant, content with
 * NUL bytes, printf growth. */
#include "buf.h"
#include "t.h"

#include <stdlib.h>
#include <string.h>

static bool invariant(const struct buf *b)
{
	if (b->data == NULL)
		return b->len == 0 && b->cap == 0;
	return b->len < b->cap && b->data[b->len] == '\0';
}

static void test_init_release(void)
{
	struct buf a = BUF_INIT, b;

	CHECK(a.data == NULL && a.len == 0 && a.cap == 0);
	buf_init(&b);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	CHECK(invariant(&b));
	buf_release(&b); /* releasing an empty buffer is fine */
	CHECK(b.data == NULL);
	buf_append_str(&b, "x");
	buf_release(&b);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	buf_append_str(&b, "reusable");
	CHECK_STR(b.data, "reusable");
	buf_release(&b);
}

static void test_append(void)
{
	struct buf b = BUF_INIT;

	buf_append(&b, "", 0);
	CHECK(invariant(&b));
	CHECK(b.len == 0);
	buf_append(&b, "abc", 3);
	buf_append_str(&b, "def");
	buf_append_c(&b, 'g');
	CHECK(b.len == 7);
	CHECK_STR(b.data, "abcdefg");
	CHECK(invariant(&b));
	/* Growth across many appends keeps content and invariant. */
	for (int i = 0; i < 10000; i++)
		buf_append_c(&b, (char)('0' + i % 10));
	CHECK(b.len == 10007);
	CHECK(invariant(&b));
	CHECK(b.data[7] == '0' && b.data[10006] == '9');
	buf_release(&b);
}

static void test_nul_content(void)
{
	struct buf b = BUF_INIT;
	static const char bin[] = {'a', '\0', 'b', '\0', '\0', 'c'};

	buf_append(&b, bin, sizeof(bin));
	CHECK(b.len == 6);
	CHECK(memcmp(b.data, bin, 6) == 0);
	CHECK(invariant(&b));
	CHECK(buf_find(&b, 0, '\0') == b.data + 1);
	CHECK(buf_find(&b, 2, '\0') == b.data + 3);
	CHECK(buf_find(&b, 0, 'c') == b.data + 5);
	buf_consume(&b, 2);
	CHECK(b.len == 4 && memcmp(b.data, "b\0\0c", 4) == 0);
	buf_append_c(&b, '\0');
	CHECK(b.len == 5 && b.data[4] == '\0');
	buf_release(&b);
}

static void test_printf(void)
{
	struct buf b = BUF_INIT;
	char *big = malloc(5000);

	buf_printf(&b, "%d-%s", 42, "x");
	CHECK_STR(b.data, "42-x");
	/* Longer than the first reservation: grows and retries. */
	memset(big, 'q', 4999);
	big[4999] = '\0';
	buf_printf(&b, "[%s]", big);
	CHECK(b.len == 4 + 5001);
	CHECK(b.data[4] == '[' && b.data[5] == 'q' && b.data[5004] == ']');
	CHECK(invariant(&b));
	/* Appends after existing content, many times. */
	buf_reset(&b);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%04d,", i);
	CHECK(b.len == 5000);
	CHECK(memcmp(b.data + 4995, "0999,", 5) == 0);
	CHECK(invariant(&b));
	/* An empty format adds nothing. */
	buf_reset(&b);
	buf_printf(&b, "%s", "");
	CHECK(b.len == 0 && invariant(&b));
	/* %c of a NUL adds a NUL byte to the content. */
	buf_printf(&b, "a%cb", 0);
	CHECK(b.len == 3 && b.data[1] == '\0' && b.data[2] == 'b');
	free(big);
	buf_release(&b);
}

static void test_consume_reset_truncate(void)
{
	struct buf b = BUF_INIT;
	size_t cap;

	buf_append_str(&b, "hello world");
	buf_consume(&b, 0);
	CHECK_STR(b.data, "hello world");
	buf_consume(&b, 6);
	CHECK_STR(b.data, "world");
	CHECK(invariant(&b));
	buf_consume(&b, 5);
	CHECK(b.len == 0 && invariant(&b));
	buf_append_str(&b, "abcdef");
	buf_truncate(&b, 3);
	CHECK_STR(b.data, "abc");
	buf_truncate(&b, 3);
	CHECK_STR(b.data, "abc");
	cap = b.cap;
	buf_reset(&b);
	CHECK(b.len == 0 && b.cap == cap && invariant(&b));
	buf_reset(&b);
	buf_release(&b);
	buf_reset(&b); /* on an empty buffer */
	buf_truncate(&b, 0);
	CHECK(invariant(&b));
}

static void test_shrink(void)
{
	struct buf b = BUF_INIT;

	buf_append_str(&b, "small");
	buf_shrink(&b, 4096);
	CHECK(b.len == 0 && b.data != NULL && invariant(&b)); /* kept */
	for (int i = 0; i < 10000; i++)
		buf_append_c(&b, 'x');
	buf_shrink(&b, 4096);
	CHECK(b.data == NULL && b.cap == 0 && b.len == 0); /* freed */
	buf_shrink(&b, 0);
	CHECK(b.data == NULL);
	buf_release(&b);
}

static void test_find(void)
{
	struct buf b = BUF_INIT;

	CHECK(buf_find(&b, 0, 'a') == NULL);
	buf_append_str(&b, "a\r\nb\r\n");
	CHECK(buf_find(&b, 0, '\n') == b.data + 2);
	CHECK(buf_find(&b, 3, '\n') == b.data + 5);
	CHECK(buf_find(&b, 6, '\n') == NULL);
	CHECK(buf_find(&b, 100, '\n') == NULL);
	CHECK(buf_find(&b, 0, 'z') == NULL);
	/* The trailing NUL is not content. */
	CHECK(buf_find(&b, 0, '\0') == NULL);
	buf_release(&b);
}

static void test_space_commit_reserve(void)
{
	struct buf b = BUF_INIT;
	char *p;

	buf_reserve(&b, 100);
	CHECK(b.cap >= 101 && b.len == 0);
	CHECK(invariant(&b) || b.data != NULL);
	p = buf_space(&b, 10);
	CHECK(p == b.data);
	memcpy(p, "0123456789", 10);
	buf_commit(&b, 4);
	CHECK(b.len == 4);
	CHECK_STR(b.data, "0123");
	p = buf_space(&b, 1000);
	CHECK(p == b.data + 4);
	CHECK(b.cap >= 1005);
	memcpy(p, "xyz", 3);
	buf_commit(&b, 3);
	CHECK_STR(b.data, "0123xyz");
	buf_commit(&b, 0);
	CHECK(b.len == 7 && invariant(&b));
	buf_release(&b);
}

int main(void)
{
	test_init_release();
	test_append();
	test_nul_content();
	test_printf();
	test_consume_reset_truncate();
	test_shrink();
	test_find();
	test_space_commit_reserve();
	return t_done();
}
