/* fuzz-imap-parser.c - libFuzzer target for the IMAP command parser.
 *
 * Build and run (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -Icore -Iimapd tests/fuzz/fuzz-imap-parser.c imapd/parser.c \
 *     imapd/seqset.c core/buf.c core/xalloc.c core/log.c \
 *     -o fuzz-imap-parser
 *   ./fuzz-imap-parser -max_len=4096
 *
 * The first input byte picks the feeding step (1..16 bytes) and the
 * literal policy; the rest is the client's byte stream. Every result is
 * exercised as a session would: arguments walked, section atoms parsed,
 * sequence-set atoms parsed, literals buffered, streamed or rejected,
 * raw lines read after a command now and then.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "parser.h"
#include "seqset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct imap_arg *a, size_t n, struct buf *f,
		 struct buf *e)
{
	for (size_t i = 0; i < n; i++) {
		const char *s;
		size_t len;
		uint64_t num;
		struct imap_fetch_att att;
		struct imap_arg *l;
		size_t ln;

		if (imap_arg_list(&a[i], &l, &ln)) {
			walk(l, ln, f, e);
			continue;
		}
		(void)imap_arg_number(&a[i], UINT64_MAX, &num);
		(void)imap_arg_nstring(&a[i], &s, &len);
		(void)imap_arg_list_mailbox(&a[i], &s, &len);
		if (imap_arg_astring(&a[i], &s, &len) && len > 0) {
			const char *err;
			struct seqset set = SEQSET_INIT;
			buf_reset(e);
			(void)imap_fetch_att_parse(s, len, &att, f, e, &err);
			(void)seqset_parse(&set, s, len, 1000, true, &err);
			seqset_release(&set);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser_limits lim = {1024, 8};
	struct imap_parser *p;
	struct buf f = BUF_INIT, e = BUF_INIT;
	size_t step, pos = 0;
	unsigned mode;
	bool raw = false;

	if (size < 1)
		return 0;
	step = (data[0] & 15) + 1;
	mode = data[0] >> 4;
	data++, size--;
	p = imap_parser_new(&lim);
	while (pos < size) {
		size_t avail = size - pos < step ? size - pos : step;
		size_t c = 0;
		enum imap_parse_result r;

		if (raw) {
			const char *line;
			size_t ln;
			r = imap_parser_read_line(p, (const char *)data + pos,
						  avail, &c, &line, &ln);
			if (r != IMAP_PARSE_MORE)
				raw = false;
			pos += c;
			continue;
		}
		r = imap_parser_feed(p, (const char *)data + pos, avail, &c);
		pos += c;
		switch (r) {
		case IMAP_PARSE_MORE:
		case IMAP_PARSE_LITERAL_DATA:
			break;
		case IMAP_PARSE_DONE: {
			const struct imap_command *cmd = imap_parser_command(p);
			walk(cmd->args, cmd->nargs, &f, &e);
			raw = (mode & 1) && strcmp(cmd->name, "IDLE") == 0;
			break;
		}
		case IMAP_PARSE_ERROR:
			(void)imap_parser_tag(p);
			(void)imap_parser_error(p);
			break;
		case IMAP_PARSE_LITERAL_WAIT: {
			size_t n;
			const struct imap_literal_info *li =
				imap_parser_literal(p);
			walk(imap_parser_args(p, &n), n, &f, &e);
			if ((mode & 2) && li->size > 100)
				imap_parser_literal_reject(p);
			else if (mode & 4)
				imap_parser_literal_stream(p);
			else if (imap_parser_literal_buffer(p) < 0)
				imap_parser_literal_reject(p);
			break;
		}
		}
	}
	imap_parser_free(&p);
	buf_release(&f);
	buf_release(&e);
	return 0;
}
