/* commands.c - the IMAP command table and the capability list.
 *
 * One line per command: { name, handler, states, flags [, literal hooks] }.
 * The dispatcher (session.c) checks the state and the flags once; each
 * handler lives in imapd/cmd-<name>.c. A capability is listed only when
 * what it promises works: add it here in the same commit as its handler.
 */
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "config.h"
#include "cmd-append.h"
#include "conn.h"
#include "session.h"

/* Without streaming hooks; APPEND spells out .literal and .chunk. */
#define CMD(name, fn, states, flags) {name, fn, states, flags, NULL, NULL}

static const struct imap_cmd_def commands[] = {
	/* RFC 9051 6.1: any state */
	CMD("CAPABILITY", imap_cmd_capability, IMAP_STATES_ANY, 0),
	CMD("NOOP", imap_cmd_noop, IMAP_STATES_ANY, 0),
	CMD("LOGOUT", imap_cmd_logout, IMAP_STATES_ANY, 0),
	CMD("ID", imap_cmd_id, IMAP_STATES_ANY, 0),
	/* RFC 9051 6.2: not authenticated */
	CMD("STARTTLS", imap_cmd_starttls, IMAP_STATE_NOT_AUTHENTICATED, 0),
	CMD("LOGIN", imap_cmd_login, IMAP_STATE_NOT_AUTHENTICATED, 0),
	CMD("AUTHENTICATE", imap_cmd_authenticate,
	    IMAP_STATE_NOT_AUTHENTICATED, 0),
	/* RFC 9051 6.3: authenticated */
	/* RFC 5161 3.1, RFC 9051 6.3.1: "only valid in the authenticated
	 * state"; in SELECTED it would change the rules (RECENT, UTF-8
	 * names, MODSEQ) for a mailbox already open: BAD, where Dovecot
	 * accepts it (RFC 5161 lets servers skip the check) */
	CMD("ENABLE", imap_cmd_enable, IMAP_STATE_AUTHENTICATED, 0),
	CMD("SELECT", imap_cmd_select, IMAP_STATES_AUTH, 0),
	CMD("EXAMINE", imap_cmd_select, IMAP_STATES_AUTH, 0),
	CMD("CREATE", imap_cmd_create, IMAP_STATES_AUTH, 0),
	CMD("DELETE", imap_cmd_delete, IMAP_STATES_AUTH, 0),
	CMD("RENAME", imap_cmd_rename, IMAP_STATES_AUTH, 0),
	CMD("SUBSCRIBE", imap_cmd_subscribe, IMAP_STATES_AUTH, 0),
	CMD("UNSUBSCRIBE", imap_cmd_subscribe, IMAP_STATES_AUTH, 0),
	CMD("LIST", imap_cmd_list, IMAP_STATES_AUTH, 0),
	CMD("LSUB", imap_cmd_lsub, IMAP_STATES_AUTH, 0),
	CMD("NAMESPACE", imap_cmd_namespace, IMAP_STATES_AUTH, 0),
	CMD("STATUS", imap_cmd_status, IMAP_STATES_AUTH, 0),
	{"APPEND", imap_cmd_append, IMAP_STATES_AUTH, 0, imap_append_literal, imap_append_chunk},
	/* RFC 9051 6.4: selected */
	CMD("CHECK", imap_cmd_check, IMAP_STATE_SELECTED, 0),
	CMD("CLOSE", imap_cmd_close, IMAP_STATE_SELECTED, 0),
	CMD("UNSELECT", imap_cmd_close, IMAP_STATE_SELECTED, 0),
	CMD("FETCH", imap_cmd_fetch, IMAP_STATE_SELECTED, IMAP_CMDF_USES_MSN),
	CMD("UID FETCH", imap_cmd_fetch, IMAP_STATE_SELECTED, IMAP_CMDF_UID),
	CMD("STORE", imap_cmd_store, IMAP_STATE_SELECTED, IMAP_CMDF_USES_MSN | IMAP_CMDF_WRITE),
	CMD("UID STORE", imap_cmd_store, IMAP_STATE_SELECTED, IMAP_CMDF_UID | IMAP_CMDF_WRITE),
	CMD("SEARCH", imap_cmd_search, IMAP_STATE_SELECTED, IMAP_CMDF_USES_MSN),
	CMD("UID SEARCH", imap_cmd_search, IMAP_STATE_SELECTED, IMAP_CMDF_UID),
	CMD("EXPUNGE", imap_cmd_expunge, IMAP_STATE_SELECTED, IMAP_CMDF_WRITE),
	CMD("UID EXPUNGE", imap_cmd_expunge, IMAP_STATE_SELECTED, IMAP_CMDF_UID | IMAP_CMDF_WRITE),
	CMD("COPY", imap_cmd_copy, IMAP_STATE_SELECTED, IMAP_CMDF_USES_MSN),
	CMD("UID COPY", imap_cmd_copy, IMAP_STATE_SELECTED, IMAP_CMDF_UID),
	CMD("MOVE", imap_cmd_copy, IMAP_STATE_SELECTED, IMAP_CMDF_WRITE),
	CMD("UID MOVE", imap_cmd_copy, IMAP_STATE_SELECTED, IMAP_CMDF_UID | IMAP_CMDF_WRITE),
	CMD("IDLE", imap_cmd_idle, IMAP_STATES_AUTH, 0),
	CMD("COMPRESS", imap_cmd_compress, IMAP_STATES_AUTH, 0), /* RFC 4978 */
	CMD("NOTIFY", imap_cmd_notify, IMAP_STATES_AUTH, 0), /* RFC 5465 */
};

const struct imap_cmd_def *imap_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

enum cap_when {
	CAP_ALWAYS,
	CAP_PREAUTH,  /* before login only */
	CAP_POSTAUTH, /* after login only */
};

/* What is implemented and works. */
static const struct {
	const char *name;
	enum cap_when when;
} imap_capabilities_list[] = {
	{"IMAP4rev1", CAP_ALWAYS},
	{"IMAP4rev2", CAP_ALWAYS},
	{"LITERAL+", CAP_ALWAYS},    /* RFC 7888 */
	{"ID", CAP_ALWAYS},          /* RFC 2971 */
	{"ENABLE", CAP_ALWAYS},      /* RFC 5161 */
	{"SASL-IR", CAP_PREAUTH},    /* RFC 4959 */
	{"UNSELECT", CAP_POSTAUTH},  /* RFC 3691 */
	{"NAMESPACE", CAP_POSTAUTH}, /* RFC 2342 */
	{"CHILDREN", CAP_POSTAUTH},  /* RFC 3348 */
	{"LIST-EXTENDED", CAP_POSTAUTH}, /* RFC 5258 */
	{"LIST-STATUS", CAP_POSTAUTH},   /* RFC 5819 */
	{"SPECIAL-USE", CAP_POSTAUTH},   /* RFC 6154 */
	{"UTF8=ACCEPT", CAP_POSTAUTH},   /* RFC 6855 */
	{"IDLE", CAP_POSTAUTH},          /* RFC 2177 */
	{"OBJECTID", CAP_POSTAUTH},      /* RFC 8474 (EMAILID, THREADID, MAILBOXID) */
	{"STATUS=SIZE", CAP_POSTAUTH},   /* RFC 8438 */
	{"COMPRESS=DEFLATE", CAP_POSTAUTH}, /* RFC 4978 */
	{"MOVE", CAP_POSTAUTH},          /* RFC 6851 */
	{"CONDSTORE", CAP_POSTAUTH},     /* RFC 7162 (FETCH/STORE/SEARCH MODSEQ) */
	{"BINARY", CAP_POSTAUTH},        /* RFC 3516 (FETCH BINARY, APPEND literal8) */
	{"SAVEDATE", CAP_POSTAUTH},      /* RFC 8514 (FETCH SAVEDATE, SEARCH SAVED*) */
	{"UIDPLUS", CAP_POSTAUTH},       /* RFC 4315 (APPENDUID, COPYUID, UID EXPUNGE) */
	{"MULTIAPPEND", CAP_POSTAUTH},   /* RFC 3502 */
	{"ESEARCH", CAP_POSTAUTH},       /* RFC 4731 */
	{"SEARCHRES", CAP_POSTAUTH},     /* RFC 5182 (RETURN (SAVE), "$") */
	{"WITHIN", CAP_POSTAUTH},        /* RFC 5032 */
	{"QRESYNC", CAP_POSTAUTH},       /* RFC 7162 3.2 */
	{"NOTIFY", CAP_POSTAUTH},        /* RFC 5465 */
};

void imap_capabilities(struct imap_session *s, struct buf *out)
{
	bool pre = s->state == IMAP_STATE_NOT_AUTHENTICATED;
	bool first = true;

	for (size_t i = 0; i < sizeof(imap_capabilities_list) /
				       sizeof(imap_capabilities_list[0]);
	     i++) {
		enum cap_when w = imap_capabilities_list[i].when;
		if ((w == CAP_PREAUTH && !pre) || (w == CAP_POSTAUTH && pre))
			continue;
		if (!first)
			buf_append_c(out, ' ');
		buf_append_str(out, imap_capabilities_list[i].name);
		first = false;
	}
	if (!pre) {
		/* RFC 7889 2: the largest APPEND accepted, any mailbox. */
		buf_printf(out, " APPENDLIMIT=%zu", s->srv->cfg->max_literal);
		return;
	}
	/* RFC 9051 6.2.1, 6.2.3, 7.2.2 */
	if (!s->tls && conn_tls_available())
		buf_append_str(out, " STARTTLS");
	if (!imap_plaintext_ok(s))
		buf_append_str(out, " LOGINDISABLED");
	const char *mechs = sasl_mechanisms(imap_plaintext_ok(s));
	while (mechs && *mechs) {
		size_t n = strcspn(mechs, " ");
		if (n)
			buf_printf(out, " AUTH=%.*s", (int)n, mechs);
		mechs += n;
		while (*mechs == ' ')
			mechs++;
	}
}

/* RFC 9051 7.1.1 greeting, with the capabilities (7.1: resp-text-code
 * CAPABILITY) so clients need not ask. */
void imap_greeting(struct imap_session *s)
{
	struct buf *b = imap_reply_begin(s);

	buf_append_str(b, "OK [CAPABILITY ");
	imap_capabilities(s, b);
	buf_append_str(b, "] Tandem ready.");
	imap_reply_end(s);
	s->greeted = true;
}
