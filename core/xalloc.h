/* xalloc.h - allocation that aborts on failure, and fatal().
 *
 * Tandem bounds memory with explicit limits (line length, literal size,
 * output watermarks), not by coping with failed mallocs: an allocation that
 * fails means the process is unusable, so the x* functions abort.
 */
#ifndef TANDEM_XALLOC_H
#define TANDEM_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a malloc'd string formatted like printf; aborts on failure. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Logs the message at error level and exits with status 1 (an unusable
 * process: bad config, bind failure). Never returns. */
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
