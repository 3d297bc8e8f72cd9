#include "config.h"
#include "buf.h"
#include "log.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum key_type {
	K_STR,
	K_BOOL,
	K_UINT,  /* unsigned, optional range */
	K_SIZE,  /* bytes with optional K/M/G suffix */
	K_DAYS,  /* integer or "never" (-1) */
	K_LEVEL, /* log level */
	K_SEP,   /* '/' or '.' */
	K_PLAINTEXT,
	K_DELMODE,
	K_LOGTARGET, /* stderr | syslog */
	K_WORKERS,   /* "auto" (0) or 1..256 */
};

struct key {
	const char *section, *name;
	enum key_type type;
	size_t off;
	unsigned long min, max; /* for K_UINT/K_SIZE; max 0 = no bound */
	const char *help;       /* one line for config_dump */
};

#define O(f) offsetof(struct config, f)

static const struct key keys[] = {
	{"server", "data_dir", K_STR, O(data_dir), 0, 0, "where the per-user stores and the user database live"},
	{"server", "user", K_STR, O(user), 0, 0, "unprivileged user to run as after binding"},
	{"server", "group", K_STR, O(group), 0, 0, "group to run as"},
	{"server", "log_level", K_LEVEL, O(log_level), 0, 0, "debug, info, warn or error"},
	{"server", "log", K_LOGTARGET, O(log_syslog), 0, 0, "stderr (journald) or syslog"},
	{"server", "hostname", K_STR, O(hostname), 0, 0, "name used in greetings and Received: lines"},
	{"server", "control_dir", K_STR, O(control_dir), 0, 0, "directory of the daemons' control sockets (empty: DATA_DIR/control)"},
	{"server", "workers", K_WORKERS, O(workers), 1, 256, "processes serving connections: auto (one per online CPU) or 1..256"},
	{"server", "metrics_listen", K_STR, O(metrics_listen), 0, 0, "host:port of the Prometheus metrics endpoint, imapd on port, pop3d port+1, lmtpd port+2 (empty: off)"},
	{"tls", "cert", K_STR, O(tls_cert), 0, 0, "PEM certificate chain (empty: no TLS)"},
	{"tls", "key", K_STR, O(tls_key), 0, 0, "PEM private key"},
	{"tls", "priority", K_STR, O(tls_priority), 0, 0, "GnuTLS priority string"},
	{"imap", "listen", K_STR, O(imap_listen), 0, 0, "plain/STARTTLS listeners, host:port ..."},
	{"imap", "listen_tls", K_STR, O(imap_listen_tls), 0, 0, "implicit TLS listeners"},
	{"imap", "idle_timeout", K_UINT, O(imap_idle_timeout), 1800, 86400, "seconds (RFC 9051: at least 30 minutes)"},
	{"imap", "separator", K_SEP, O(imap_separator), 0, 0, "hierarchy separator: / or ."},
	{"imap", "login_alert", K_STR, O(imap_login_alert), 0, 0, "text every client must show the user after login, as [ALERT] (empty: none)"},
	{"pop3", "listen", K_STR, O(pop3_listen), 0, 0, "plain/STLS listeners"},
	{"pop3", "listen_tls", K_STR, O(pop3_listen_tls), 0, 0, "implicit TLS listeners"},
	{"pop3", "idle_timeout", K_UINT, O(pop3_idle_timeout), 600, 86400, "seconds (RFC 1939: at least 10 minutes)"},
	{"pop3", "delete_mode", K_DELMODE, O(pop3_delete_mode), 0, 0, "expunge or flag"},
	{"pop3", "keep_seen", K_BOOL, O(pop3_keep_seen), 0, 0, "RETR and TOP set \\Seen"},
	{"pop3", "lock", K_BOOL, O(pop3_lock), 0, 0, "exclusive maildrop lock (RFC 1939)"},
	{"pop3", "expire_days", K_DAYS, O(pop3_expire_days), 0, 0, "days to keep mail, or never"},
	{"pop3", "expire_retrieved_only", K_BOOL, O(pop3_expire_retrieved_only), 0, 0, "expire only mail already retrieved over POP3"},
	{"pop3", "login_delay", K_UINT, O(pop3_login_delay), 0, 86400, "seconds between logins (0: none)"},
	{"pop3", "apop", K_BOOL, O(pop3_apop), 0, 0, "offer APOP to users with a stored secret"},
	{"lmtp", "listen", K_STR, O(lmtp_listen), 0, 0, "host:port and unix:/path listeners"},
	{"lmtp", "detail_mailbox", K_BOOL, O(lmtp_detail_mailbox), 0, 0, "user+detail delivers to mailbox detail"},
	{"lmtp", "add_received", K_BOOL, O(lmtp_add_received), 0, 0, "prepend a Received: line"},
	{"lmtp", "max_message_size", K_SIZE, O(lmtp_max_message_size), 1024, 0, "largest message accepted"},
	{"storage", "quota_bytes", K_SIZE, O(storage_quota_bytes), 0, 0, "default storage quota per user (0: unlimited)"},
	{"storage", "quota_messages", K_UINT, O(storage_quota_messages), 0, 0, "default message count quota per user (0: unlimited)"},
	{"storage", "quota_full_tempfail", K_BOOL, O(storage_quota_full_tempfail), 0, 0, "a full mailbox is a temporary failure (452 4.2.2) for LMTP"},
	{"auth", "plaintext_without_tls", K_PLAINTEXT, O(plaintext_without_tls), 0, 0, "yes, no or loopback"},
	{"auth", "failure_delay", K_UINT, O(failure_delay_ms), 0, 60000, "milliseconds before a failed login answers"},
	{"auth", "max_failures", K_UINT, O(max_auth_failures), 1, 1000, "failed logins before the session is closed"},
	{"limits", "max_line", K_SIZE, O(max_line), 512, 1048576, "longest command line"},
	{"limits", "max_literal", K_SIZE, O(max_literal), 1024, 0, "largest IMAP literal (APPEND size)"},
	{"limits", "max_connections_per_ip", K_UINT, O(max_connections_per_ip), 1, 1000000, "concurrent connections from one address"},
	{"limits", "max_connections_per_user", K_UINT, O(max_connections_per_user), 1, 1000000, "concurrent sessions of one user"},
	{"limits", "max_bad_commands", K_UINT, O(max_bad_commands), 1, 1000, "bad commands before the session is closed"},
	{"limits", "prelogin_timeout", K_UINT, O(prelogin_timeout), 5, 3600, "seconds to log in"},
	{"limits", "mime_max_depth", K_UINT, O(mime_max_depth), 1, 1000, "deepest MIME nesting parsed"},
};

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->path = xstrdup("(built-in)");
	cfg->data_dir = xstrdup("/var/lib/tandem");
	cfg->user = xstrdup(TANDEM_RUN_USER_DEFAULT);
	cfg->group = xstrdup(TANDEM_RUN_USER_DEFAULT);
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->hostname = xstrdup("localhost");
	cfg->control_dir = xstrdup("");
	cfg->metrics_listen = xstrdup("");
	cfg->workers = 0; /* auto */
	cfg->tls_cert = xstrdup("");
	cfg->tls_key = xstrdup("");
	/* TLS 1.2 and 1.3 only; AEAD ciphers with forward-secret key exchange. */
	cfg->tls_priority = xstrdup(
		"SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"
		"-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:"
		"-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:+DHE-RSA:%SAFE_RENEGOTIATION");
	cfg->imap_listen = xstrdup("0.0.0.0:143 [::]:143");
	cfg->imap_listen_tls = xstrdup("0.0.0.0:993 [::]:993");
	cfg->imap_idle_timeout = 1800;
	cfg->imap_separator = '/';
	cfg->imap_login_alert = xstrdup("");
	cfg->pop3_listen = xstrdup("0.0.0.0:110 [::]:110");
	cfg->pop3_listen_tls = xstrdup("0.0.0.0:995 [::]:995");
	cfg->pop3_idle_timeout = 600;
	cfg->pop3_delete_mode = POP3_DELETE_EXPUNGE;
	cfg->pop3_keep_seen = true;
	cfg->pop3_lock = true;
	cfg->pop3_expire_days = -1;
	cfg->pop3_expire_retrieved_only = true;
	cfg->pop3_login_delay = 0;
	cfg->pop3_apop = false;
	cfg->lmtp_listen = xstrdup("127.0.0.1:24");
	cfg->lmtp_detail_mailbox = true;
	cfg->lmtp_add_received = true;
	cfg->lmtp_max_message_size = 64u << 20;
	cfg->plaintext_without_tls = PLAINTEXT_LOOPBACK;
	cfg->failure_delay_ms = 2000;
	cfg->max_auth_failures = 3;
	cfg->max_line = 65536;
	cfg->max_literal = 64u << 20;
	cfg->max_connections_per_ip = 100;
	cfg->max_connections_per_user = 50;
	cfg->max_bad_commands = 20;
	cfg->prelogin_timeout = 60;
	cfg->mime_max_depth = 100;
}

void config_release(struct config *cfg)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (keys[i].type == K_STR)
			free(*(char **)((char *)cfg + keys[i].off));
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
	    !strcmp(v, "1") || !strcasecmp(v, "on"))
		*out = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
		 !strcmp(v, "0") || !strcasecmp(v, "off"))
		*out = false;
	else
		return -1;
	return 0;
}

static int parse_ulong(const char *v, bool suffixes, unsigned long *out)
{
	char *end;
	unsigned long n, mul = 1;

	if (!isdigit((unsigned char)v[0]))
		return -1;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno)
		return -1;
	if (suffixes && *end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': mul = 1024UL; break;
		case 'M': mul = 1024UL * 1024; break;
		case 'G': mul = 1024UL * 1024 * 1024; break;
		default: return -1;
		}
		end++;
		if (toupper((unsigned char)*end) == 'B')
			end++;
	}
	if (*end)
		return -1;
	if (n > ULONG_MAX / mul)
		return -1;
	*out = n * mul;
	return 0;
}

static int apply(struct config *cfg, const struct key *k, const char *v,
		 struct buf *why)
{
	void *p = (char *)cfg + k->off;
	unsigned long n;
	bool b;

	switch (k->type) {
	case K_STR:
		free(*(char **)p);
		*(char **)p = xstrdup(v);
		return 0;
	case K_BOOL:
		if (parse_bool(v, &b) < 0)
			break;
		*(bool *)p = b;
		return 0;
	case K_UINT:
	case K_SIZE:
		if (parse_ulong(v, k->type == K_SIZE, &n) < 0)
			break;
		if (n < k->min || (k->max && n > k->max)) {
			buf_printf(why, "%s.%s: %s is out of range (%lu..%lu)",
				   k->section, k->name, v, k->min, k->max);
			return -1;
		}
		if (k->type == K_UINT) {
			if (n > UINT_MAX)
				break;
			*(unsigned *)p = (unsigned)n;
		} else {
			*(size_t *)p = n;
		}
		return 0;
	case K_WORKERS:
		if (!strcasecmp(v, "auto")) {
			*(unsigned *)p = 0;
			return 0;
		}
		if (parse_ulong(v, false, &n) < 0)
			break;
		if (n < k->min || n > k->max) {
			buf_printf(why, "%s.%s: %s is out of range (auto or "
					"%lu..%lu)", k->section, k->name, v,
				   k->min, k->max);
			return -1;
		}
		*(unsigned *)p = (unsigned)n;
		return 0;
	case K_DAYS:
		if (!strcasecmp(v, "never")) {
			*(int *)p = -1;
			return 0;
		}
		if (parse_ulong(v, false, &n) < 0 || n > 100000)
			break;
		*(int *)p = (int)n;
		return 0;
	case K_LEVEL: {
		int l = log_level_parse(v);
		if (l < 0)
			break;
		*(int *)p = l;
		return 0;
	}
	case K_SEP:
		if (strcmp(v, "/") && strcmp(v, "."))
			break;
		*(char *)p = v[0];
		return 0;
	case K_PLAINTEXT:
		if (!strcasecmp(v, "loopback"))
			*(enum plaintext_policy *)p = PLAINTEXT_LOOPBACK;
		else if (parse_bool(v, &b) == 0)
			*(enum plaintext_policy *)p =
				b ? PLAINTEXT_YES : PLAINTEXT_NO;
		else
			break;
		return 0;
	case K_DELMODE:
		if (!strcasecmp(v, "expunge"))
			*(enum pop3_delete_mode *)p = POP3_DELETE_EXPUNGE;
		else if (!strcasecmp(v, "flag"))
			*(enum pop3_delete_mode *)p = POP3_DELETE_FLAG;
		else
			break;
		return 0;
	case K_LOGTARGET:
		if (!strcasecmp(v, "stderr"))
			*(bool *)p = false;
		else if (!strcasecmp(v, "syslog"))
			*(bool *)p = true;
		else
			break;
		return 0;
	}
	buf_printf(why, "%s.%s: bad value '%s'", k->section, k->name, v);
	return -1;
}

int config_set(struct config *cfg, const char *section, const char *key,
	       const char *value, struct buf *err)
{
	bool section_known = false;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (strcmp(keys[i].section, section))
			continue;
		section_known = true;
		if (strcmp(keys[i].name, key) == 0)
			return apply(cfg, &keys[i], value, err);
	}
	if (!section_known)
		buf_printf(err, "unknown section [%s]", section);
	else
		buf_printf(err, "unknown key '%s' in [%s]", key, section);
	return -1;
}

struct load_state {
	struct config *cfg;
	struct buf why;
};

static int ini_cb(void *user, const char *section, const char *name,
		  const char *value)
{
	struct load_state *st = user;

	if (name == NULL) /* section header alone (INI_CALL_HANDLER_ON_NEW_SECTION) */
		return 1;
	return config_set(st->cfg, section, name, value, &st->why) == 0;
}

int config_load(struct config *cfg, const char *path, struct buf *err)
{
	struct load_state st = {cfg, BUF_INIT};
	FILE *f = fopen(path, "r");
	int line;

	if (f == NULL) {
		buf_printf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	line = ini_parse_file(f, ini_cb, &st);
	fclose(f);
	if (line != 0) {
		if (line > 0)
			buf_printf(err, "%s:%d: %s", path, line,
				   st.why.len ? st.why.data : "syntax error");
		else
			buf_printf(err, "%s: cannot parse", path);
		buf_release(&st.why);
		return -1;
	}
	buf_release(&st.why);
	free(cfg->path);
	cfg->path = xstrdup(path);
	return 0;
}

void config_dump(const struct config *cfg, struct buf *out)
{
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	const char *section = "";

	buf_printf(out, "# effective configuration (from %s)\n", cfg->path);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];
		const void *p = (const char *)cfg + k->off;

		if (strcmp(section, k->section)) {
			section = k->section;
			buf_printf(out, "\n[%s]\n", section);
		}
		buf_printf(out, "# %s\n%s = ", k->help, k->name);
		switch (k->type) {
		case K_STR: buf_append_str(out, *(char *const *)p); break;
		case K_BOOL: buf_append_str(out, *(const bool *)p ? "yes" : "no"); break;
		case K_UINT: buf_printf(out, "%u", *(const unsigned *)p); break;
		case K_SIZE: buf_printf(out, "%zu", *(const size_t *)p); break;
		case K_DAYS:
			if (*(const int *)p < 0)
				buf_append_str(out, "never");
			else
				buf_printf(out, "%d", *(const int *)p);
			break;
		case K_LEVEL: buf_append_str(out, levels[*(const int *)p]); break;
		case K_SEP: buf_append_c(out, *(const char *)p); break;
		case K_PLAINTEXT: {
			static const char *const v[] = {"loopback", "yes", "no"};
			buf_append_str(out, v[*(const enum plaintext_policy *)p]);
			break;
		}
		case K_DELMODE:
			buf_append_str(out, *(const enum pop3_delete_mode *)p ==
						    POP3_DELETE_FLAG ? "flag" : "expunge");
			break;
		case K_LOGTARGET:
			buf_append_str(out, *(const bool *)p ? "syslog" : "stderr");
			break;
		case K_WORKERS:
			if (*(const unsigned *)p == 0)
				buf_append_str(out, "auto");
			else
				buf_printf(out, "%u", *(const unsigned *)p);
			break;
		}
		buf_append_c(out, '\n');
	}
}

int config_parse_listen(const char *value, struct listen_item *items,
			size_t max, struct buf *err)
{
	const char *p = value;
	size_t n = 0;

	while (*p) {
		const char *start, *end;
		struct listen_item it;
		size_t len;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != ' ' && *p != '\t' && *p != ',')
			p++;
		end = p;
		len = (size_t)(end - start);
		memset(&it, 0, sizeof(it));
		if (len > 5 && strncmp(start, "unix:", 5) == 0) {
			if (len - 5 >= sizeof(it.path))
				goto bad;
			memcpy(it.path, start + 5, len - 5);
		} else {
			const char *colon, *hs = start, *he;
			char portbuf[8];
			unsigned long port;

			if (*start == '[') {
				he = memchr(start, ']', len);
				if (he == NULL || he + 1 >= end || he[1] != ':')
					goto bad;
				hs = start + 1;
				colon = he + 1;
			} else {
				colon = NULL;
				for (const char *q = start; q < end; q++)
					if (*q == ':')
						colon = q;
				if (colon == NULL)
					goto bad;
				he = colon;
				/* An IPv6 address needs brackets: "::1:143"
				 * is ambiguous. */
				if (memchr(start, ':', (size_t)(he - start)))
					goto bad;
			}
			if ((size_t)(he - hs) >= sizeof(it.host) || he == hs)
				goto bad;
			memcpy(it.host, hs, (size_t)(he - hs));
			if ((size_t)(end - colon - 1) >= sizeof(portbuf) ||
			    end - colon - 1 == 0)
				goto bad;
			memcpy(portbuf, colon + 1, (size_t)(end - colon - 1));
			portbuf[end - colon - 1] = '\0';
			if (parse_ulong(portbuf, false, &port) < 0 ||
			    port > 65535)
				goto bad;
			it.port = (int)port;
		}
		if (n >= max) {
			buf_printf(err, "too many listen addresses");
			return -1;
		}
		items[n++] = it;
		continue;
	bad:
		buf_printf(err, "bad listen address '%.*s' (want host:port, "
				"[v6]:port or unix:/path)",
			   (int)len, start);
		return -1;
	}
	return (int)n;
}
