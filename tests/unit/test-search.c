/* test-search.c - search keys: folding, parsing, matching without text
 * (imapd/search.c). */
#include <string.h>

#include "buf.h"
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
	test_keys();
	test_deep();
	return t_done();
}
