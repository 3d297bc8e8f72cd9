#include "log.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

static struct {
	char ident[32];
	enum log_level min;
	bool syslog;
} g_log = {"tandem", LOG_LEVEL_INFO, false};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *ident, enum log_level min, bool use_syslog)
{
	snprintf(g_log.ident, sizeof(g_log.ident), "%s", ident);
	g_log.min = min;
	if (g_log.syslog && !use_syslog)
		closelog();
	g_log.syslog = use_syslog;
	if (use_syslog)
		openlog(g_log.ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

enum log_level log_get_level(void)
{
	return g_log.min;
}

void log_vmsg(enum log_level lvl, const struct log_ctx *ctx, const char *fmt,
	      va_list ap)
{
	static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
	char msg[1024], line[1400];
	size_t n;

	if (lvl < g_log.min)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One event, one line: never let a client-supplied newline split it. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (ctx)
		snprintf(line, sizeof(line), "%s sid=%lu rip=%s%s%s: %s",
			 ctx->proto, ctx->sid, ctx->rip[0] ? ctx->rip : "-",
			 ctx->user[0] ? " user=" : "", ctx->user, msg);
	else
		snprintf(line, sizeof(line), "%s", msg);
	if (g_log.syslog) {
		syslog(prio[lvl], "%s", line);
		return;
	}
	n = strlen(line);
	fprintf(stderr, "%s: %.*s\n", level_names[lvl], (int)n, line);
}

void log_msg(enum log_level lvl, const struct log_ctx *ctx, const char *fmt,
	     ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, ctx, fmt, ap);
	va_end(ap);
}
