/* buf.h - the one growable byte buffer.
 *
 * Serves socket input, output queues, replies and blobs alike.
 * Invariants:
 *   - data is NULL and len == cap == 0 only before the first append;
 *   - otherwise len < cap and data[len] == '\0', so a buffer of text can be
 *     handed to string functions (the NUL is not part of the content, and
 *     content may itself hold NUL bytes);
 *   - growth aborts on allocation failure (see xalloc.h); callers bound
 *     sizes with explicit limits before appending.
 * Pointer/length pairs go as (ptr, len).
 */
#ifndef TANDEM_BUF_H
#define TANDEM_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len, cap;
};

#define BUF_INIT {NULL, 0, 0}

void buf_init(struct buf *b);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf_release(struct buf *b);
/* Ensures room for extra more bytes (plus the trailing NUL). */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_append_c(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Drops the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Sets len to 0, keeping the storage. */
void buf_reset(struct buf *b);
/* Sets len to n (n <= len). */
void buf_truncate(struct buf *b, size_t n);
/* Empties the buffer and frees its storage if it is larger than keep, so
 * an idle connection does not pin a big buffer. */
void buf_shrink(struct buf *b, size_t keep);
/* Returns a pointer to the first occurrence of c in the first len bytes,
 * or NULL. */
char *buf_find(const struct buf *b, size_t from, char c);
/* Makes room for n bytes at the end and returns where to write them;
 * buf_commit(b, n) then adds the n bytes written to len. */
char *buf_space(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);

#endif
