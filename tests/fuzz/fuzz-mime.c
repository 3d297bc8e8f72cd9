/* fuzz-mime.c - libFuzzer target for the MIME parser and everything that
 * reads its result: the blob round trip, BODYSTRUCTURE/BODY/ENVELOPE,
 * section resolution, header-field filtering and the BINARY decoders.
 *
 * Build and run (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -Icore -Iimapd tests/fuzz/fuzz-mime.c core/mime.c core/rfc822.c \
 *     imapd/bodystructure.c imapd/envelope.c imapd/fetch-body.c \
 *     imapd/write.c imapd/mutf7.c imapd/parser.c imapd/seqset.c \
 *     core/buf.c core/xalloc.c core/log.c -o fuzz-mime
 *   ./fuzz-mime -max_len=65536 tests/data/mime
 *
 * The first input byte picks the feeding step (1..64 bytes) and a small
 * depth limit now and then; the rest is the message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bodystructure.h"
#include "buf.h"
#include "envelope.h"
#include "fetch-body.h"
#include "mime.h"
#include "parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *p;
	size_t n;
};

static ssize_t mem_read(void *ctx, uint64_t off, void *dst, size_t len)
{
	struct mem *m = ctx;

	if (off > m->n)
		return -1;
	if (len > m->n - off)
		len = (size_t)(m->n - off);
	memcpy(dst, m->p + off, len);
	return (ssize_t)len;
}

static void walk(const struct mime_part *p, const struct mem *m,
		 struct buf *out)
{
	struct fetch_decoder d;

	if (p->body_end > m->n || p->body_start > p->body_end)
		abort();
	fetch_decoder_init(&d, fetch_body_cte(p));
	fetch_decoder_feed(&d, (const char *)m->p + p->body_start,
			   (size_t)(p->body_end - p->body_start), out);
	fetch_decoder_finish(&d, out);
	fetch_decoder_release(&d);
	buf_reset(out);
	for (const struct mime_part *c = p->children; c; c = c->next)
		walk(c, m, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits lim = {0, 0};
	struct mime_parser *p;
	struct mime_part *root, *back;
	struct buf out = BUF_INIT, blob = BUF_INIT, fields = BUF_INIT;
	struct mem m;
	size_t step;
	static const char *const items[] = {
		"BODY[]", "BODY[1]", "BODY[1.2.3]", "BODY[2.HEADER]",
		"BODY[1.MIME]", "BODY[TEXT]<3.10>",
		"BODY[HEADER.FIELDS (FROM SUBJECT)]",
		"BODY[1.1.HEADER.FIELDS.NOT (TO)]", "BINARY[1]",
	};

	if (size < 1)
		return 0;
	step = 1 + data[0] % 64;
	if (data[0] & 0x80)
		lim.max_depth = 1 + data[0] % 5;
	if (data[0] & 0x40)
		lim.max_parts = 1 + data[0] % 7;
	data++;
	size--;
	m.p = data;
	m.n = size;
	p = mime_parser_new(&lim);
	for (size_t off = 0; off < size; off += step)
		mime_parser_feed(p, data + off,
				 size - off < step ? size - off : step);
	root = mime_parser_finish(&p);

	mime_serialize(root, &blob);
	back = mime_deserialize(blob.data, blob.len);
	if (back == NULL)
		abort();
	imap_bodystructure_write(&out, back, true, false);
	imap_bodystructure_write(&out, back, false, true);
	imap_envelope_write(&out, back, false);
	buf_reset(&out);
	walk(root, &m, &out);
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		struct imap_fetch_att att;
		struct fetch_body_section sec;
		const char *err;

		if (imap_fetch_att_parse(items[i], strlen(items[i]), &att,
					 &fields, NULL, &err) != 0)
			abort();
		fetch_body_resolve(root, &att, &sec);
		if (sec.kind != FETCH_BODY_EMPTY &&
		    sec.range.start + sec.range.size > size)
			abort();
		if (sec.kind == FETCH_BODY_FIELDS) {
			buf_reset(&out);
			if (fetch_body_fields(&sec.range, fields.data,
					      att.nfields, i & 1, mem_read, &m,
					      &out) != 0)
				abort();
		}
	}
	/* a mangled blob never crashes */
	if (blob.len > 8 && size > 0) {
		struct mime_part *bad;

		blob.data[blob.len / 2] ^= (char)(data[size / 2] | 1);
		bad = mime_deserialize(blob.data, blob.len);
		mime_part_free(&bad);
	}
	mime_part_free(&root);
	mime_part_free(&back);
	buf_release(&out);
	buf_release(&blob);
	buf_release(&fields);
	return 0;
}
