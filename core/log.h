/* log.h - one line per event, to stderr (journald) or syslog.
 *
 * Session lines carry a context so every line names the session id, the
 * remote address and the user once known:
 *     info: imap sid=42 rip=127.0.0.1 user=alice: login method=PLAIN
 * These prefixes are stable (fail2ban and log parsers rely on them).
 * Never pass a password or a SASL response to these functions.
 */
#ifndef TANDEM_LOG_H
#define TANDEM_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

struct log_ctx {
	const char *proto;   /* "imap", "pop3", "lmtp" (static string) */
	unsigned long sid;   /* session id, unique in the daemon (all workers) */
	char rip[64];        /* remote address, "" if none */
	char user[128];      /* "" until authenticated */
};

/* Sets the process-wide sink: ident is the program name; syslog true sends
 * to syslog(3) instead of stderr. Safe to call again (SIGHUP). */
void log_init(const char *ident, enum log_level min, bool syslog);
/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int log_level_parse(const char *s);
enum log_level log_get_level(void);

void log_vmsg(enum log_level lvl, const struct log_ctx *ctx, const char *fmt,
	      va_list ap);
void log_msg(enum log_level lvl, const struct log_ctx *ctx, const char *fmt,
	     ...) __attribute__((format(printf, 3, 4)));

#define log_debug(ctx, ...) log_msg(LOG_LEVEL_DEBUG, ctx, __VA_ARGS__)
#define log_info(ctx, ...) log_msg(LOG_LEVEL_INFO, ctx, __VA_ARGS__)
#define log_warn(ctx, ...) log_msg(LOG_LEVEL_WARN, ctx, __VA_ARGS__)
#define log_error(ctx, ...) log_msg(LOG_LEVEL_ERROR, ctx, __VA_ARGS__)

#endif
