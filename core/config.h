/* config.h - the one INI file (tandem.conf(5)).
 *
 * Every key has a safe default (config_init); config_load() applies a file
 * on top. An unknown section or key, or a bad value, makes config_load()
 * fail with "FILE:LINE: reason". The same struct serves every daemon and
 * tandemctl; a daemon ignores sections it does not use.
 */
#ifndef TANDEM_CONFIG_H
#define TANDEM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

enum plaintext_policy {
	PLAINTEXT_LOOPBACK, /* clear-text auth allowed only from loopback */
	PLAINTEXT_YES,
	PLAINTEXT_NO,
};

enum pop3_delete_mode {
	POP3_DELETE_EXPUNGE,
	POP3_DELETE_FLAG, /* keep the message, hidden from POP3 */
};

struct config {
	char *path; /* file loaded, or "(built-in)" */

	/* [server] */
	char *data_dir;
	char *user, *group; /* "" = do not drop (only allowed when not root) */
	int log_level;      /* enum log_level */
	bool log_syslog;
	char *hostname;     /* greeting and Received: lines */
	char *control_dir;    /* tandemctl who/kick/stats sockets; "" = data_dir/control */
	char *metrics_listen; /* host:port of the metrics endpoint; "" = off */
	unsigned workers;     /* worker processes; 0 = auto (online CPUs) */

	/* [tls] */
	char *tls_cert, *tls_key, *tls_priority;

	/* [imap] */
	char *imap_listen, *imap_listen_tls; /* space-separated host:port */
	unsigned imap_idle_timeout;          /* seconds, >= 1800 */
	char imap_separator;                 /* '/' or '.' */
	char *imap_login_alert;              /* "* OK [ALERT]" after login, or NULL */

	/* [pop3] */
	char *pop3_listen, *pop3_listen_tls;
	unsigned pop3_idle_timeout; /* seconds */
	enum pop3_delete_mode pop3_delete_mode;
	bool pop3_keep_seen;      /* RETR/TOP set \Seen for IMAP */
	bool pop3_lock;           /* RFC 1939 exclusive maildrop lock */
	int pop3_expire_days;     /* -1 = NEVER */
	bool pop3_expire_retrieved_only;
	unsigned pop3_login_delay; /* seconds, 0 = none */
	bool pop3_apop;

	/* [lmtp] */
	char *lmtp_listen; /* host:port and/or unix:/path entries */
	bool lmtp_detail_mailbox;
	bool lmtp_add_received;
	size_t lmtp_max_message_size;

	/* [storage] quota defaults; a user's own limits (tandemctl user set
	 * USER quota_bytes=...) override them. 0 = unlimited. */
	size_t storage_quota_bytes;
	unsigned storage_quota_messages;
	bool storage_quota_full_tempfail; /* full mailbox: 452 4.2.2, not 552 */

	/* [auth] */
	enum plaintext_policy plaintext_without_tls;
	unsigned failure_delay_ms;
	unsigned max_auth_failures; /* per session, then close */

	/* [limits] */
	size_t max_line;
	size_t max_literal;
	unsigned max_connections_per_ip;
	unsigned max_connections_per_user;
	unsigned max_bad_commands;
	unsigned prelogin_timeout; /* seconds */
	unsigned mime_max_depth;
};

/* Fills cfg with the defaults. */
void config_init(struct config *cfg);
/* Loads path on top of the current values. Returns 0, or -1 with err set
 * to "PATH:LINE: reason" (or "PATH: reason" when the file cannot be read). */
int config_load(struct config *cfg, const char *path, struct buf *err);
/* Applies one "section.key=value" override (tests, tandemctl). */
int config_set(struct config *cfg, const char *section, const char *key,
	       const char *value, struct buf *err);
/* Writes the effective configuration as an INI file (tandemctl config show). */
void config_dump(const struct config *cfg, struct buf *out);
void config_release(struct config *cfg);

/* Splits a listen value into host:port items; "[::1]:143" keeps the
 * brackets off host. Returns the count; host_r/port_r/unix_r are
 * filled for item i. */
struct listen_item {
	char host[256]; /* empty for unix sockets */
	int port;
	char path[256]; /* unix socket path, empty for TCP */
};
/* Returns the number of items parsed into items (at most max), or -1 with
 * err set on a malformed entry. */
int config_parse_listen(const char *value, struct listen_item *items,
			size_t max, struct buf *err);

#endif
