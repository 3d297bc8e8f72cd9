/* fuzz-rfc822.c - libFuzzer target for address lists (core/rfc822.c),
 * ENVELOPE address output and RFC 2047 / charset decoding.
 *
 * Build and run (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -Icore -Iimapd tests/fuzz/fuzz-rfc822.c core/rfc822.c \
 *     core/rfc2047.c core/charset.c imapd/envelope.c imapd/write.c \
 *     imapd/mutf7.c core/buf.c core/xalloc.c core/log.c -o fuzz-rfc822
 *   ./fuzz-rfc822 -max_len=4096
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "envelope.h"
#include "rfc2047.h"
#include "rfc822.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT;
	struct rfc822_addr *l = rfc822_parse_addresses((const char *)data, size);

	for (const struct rfc822_addr *a = l; a != NULL; a = a->next)
		if (a->host != NULL && a->mailbox == NULL)
			abort();
	rfc822_addr_free(&l);
	imap_envelope_write_addresses(&out, (const char *)data, size, false);
	buf_reset(&out);
	rfc2047_decode((const char *)data, size, &out);
	buf_release(&out);
	return 0;
}
