/* spool.c - a message's bytes gathered before the write transaction: in
 * memory up to SPOOL_MEM_MAX, then in an unlinked file under data_dir/tmp
 * (gone by itself whatever happens to the process). The bytes also go
 * through core/mime's streaming parser as they are written, so every
 * way in (LMTP, tandem-deliver, APPEND, imports) gets the message's
 * MIME structure without reading the bytes again (store_spool_mime). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mime.h"
#include "store-private.h"
#include "xalloc.h"

#define SPOOL_MEM_MAX (256 * 1024)

struct store_spool {
	struct buf mem;
	int fd; /* -1 while in memory */
	uint64_t size;
	/* the parse of the bytes so far; once store_spool_mime has ended
	 * it, mime holds the serialised tree (mime_ok) */
	struct mime_parser *mp;
	struct buf mime;
	bool mime_ok;
};

struct store_spool *store_spool_new(void)
{
	struct store_spool *sp = xcalloc(1, sizeof(*sp));

	sp->fd = -1;
	sp->mp = mime_parser_new(NULL);
	return sp;
}

const struct buf *store_spool_mime(struct store_spool *sp)
{
	if (sp->mp) {
		struct mime_part *tree = mime_parser_finish(&sp->mp);
		mime_serialize(tree, &sp->mime);
		mime_part_free(&tree);
		sp->mime_ok = true;
	}
	return sp->mime_ok ? &sp->mime : NULL;
}

static int spool_to_file(struct store_spool *sp, struct store_err *err)
{
	const char *base = store_data_dir ? store_data_dir : "/tmp";
	char *dir = xasprintf("%s/tmp", base);
	char *tmpl;
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		store_err_set(err, STORE_ERR_TEMP, "mkdir %s: %s", dir,
			      strerror(errno));
		free(dir);
		return -1;
	}
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		tmpl = xasprintf("%s/spool.XXXXXX", dir);
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmpl);
		free(tmpl);
	}
	if (fd < 0) {
		store_err_set(err, STORE_ERR_TEMP, "spool file in %s: %s", dir,
			      strerror(errno));
		free(dir);
		return -1;
	}
	free(dir);
	for (size_t off = 0; off < sp->mem.len;) {
		ssize_t n = write(fd, sp->mem.data + off, sp->mem.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			store_err_set(err, STORE_ERR_TEMP, "spool write: %s",
				      strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	buf_release(&sp->mem);
	sp->fd = fd;
	return 0;
}

int store_spool_write(struct store_spool *sp, const void *p, size_t n,
		      struct store_err *err)
{
	if (sp->mp)
		mime_parser_feed(sp->mp, p, n);
	else
		sp->mime_ok = false; /* bytes after the parse ended */
	if (sp->fd < 0 && sp->mem.len + n > SPOOL_MEM_MAX &&
	    spool_to_file(sp, err) < 0)
		return -1;
	if (sp->fd < 0) {
		buf_append(&sp->mem, p, n);
		sp->size += n;
		return 0;
	}
	for (size_t off = 0; off < n;) {
		ssize_t w = pwrite(sp->fd, (const char *)p + off, n - off,
				   (off_t)(sp->size + off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			store_err_set(err, errno == ENOSPC ? STORE_ERR_OVERQUOTA
							   : STORE_ERR_TEMP,
				      "spool write: %s", strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	sp->size += n;
	return 0;
}

uint64_t store_spool_size(const struct store_spool *sp)
{
	return sp->size;
}

ssize_t store_spool_read(struct store_spool *sp, uint64_t offset, void *dst,
			 size_t len, struct store_err *err)
{
	ssize_t n;

	if (offset >= sp->size)
		return 0;
	if (len > sp->size - offset)
		len = (size_t)(sp->size - offset);
	if (sp->fd < 0) {
		memcpy(dst, sp->mem.data + offset, len);
		return (ssize_t)len;
	}
	do
		n = pread(sp->fd, dst, len, (off_t)offset);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		store_err_set(err, STORE_ERR_TEMP, "spool read: %s",
			      strerror(errno));
	return n;
}

void store_spool_free(struct store_spool **spp)
{
	struct store_spool *sp = *spp;

	if (!sp)
		return;
	*spp = NULL;
	if (sp->fd >= 0)
		close(sp->fd);
	buf_release(&sp->mem);
	if (sp->mp) {
		struct mime_part *tree = mime_parser_finish(&sp->mp);
		mime_part_free(&tree);
	}
	buf_release(&sp->mime);
	free(sp);
}
