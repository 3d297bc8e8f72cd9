/* test-config.c - core/config.c: defaults, "FILE:LINE: reason" errors,
 * overrides, dump/reload round trip, listen parsing. */
#include "buf.h"
#include "config.h"
#include "log.h"
#include "t.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/tandem-test-config-XXXXXX";

static char *write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
	return path;
}

static void test_defaults(void)
{
	struct config c;

	config_init(&c);
	CHECK_STR(c.path, "(built-in)");
	CHECK_STR(c.data_dir, "/var/lib/tandem");
	CHECK(c.user[0] != '\0'); /* never root by default */
	CHECK(c.log_level == LOG_LEVEL_INFO);
	CHECK(!c.log_syslog);
	CHECK_STR(c.tls_cert, "");
	CHECK(strstr(c.tls_priority, "VERS-TLS1.2") != NULL);
	CHECK(strstr(c.tls_priority, "VERS-TLS1.3") != NULL);
	CHECK(strstr(c.tls_priority, "%SAFE_RENEGOTIATION") != NULL);
	CHECK(c.imap_idle_timeout >= 1800); /* RFC 9051 5.4 */
	CHECK(c.pop3_idle_timeout >= 600);  /* RFC 1939 3 */
	CHECK(c.imap_separator == '/');
	CHECK(c.pop3_delete_mode == POP3_DELETE_EXPUNGE);
	CHECK(c.pop3_expire_days == -1);
	CHECK(c.plaintext_without_tls == PLAINTEXT_LOOPBACK);
	CHECK(c.max_line >= 8192);
	CHECK(c.max_connections_per_ip > 0);
	config_release(&c);
}

/* Loads text; on failure returns the error text (caller frees). */
static char *load_err(const char *text)
{
	static int n;
	char name[32];
	char *path, *res = NULL;
	struct config c;
	struct buf err = BUF_INIT;

	snprintf(name, sizeof(name), "t%d.conf", n++);
	path = write_file(name, text);
	config_init(&c);
	if (config_load(&c, path, &err) < 0)
		res = xstrdup(err.data);
	config_release(&c);
	buf_release(&err);
	free(path);
	return res;
}

/* The error must be "DIR/tN.conf:LINE: ..." containing what. */
static void check_err(const char *text, int line, const char *what)
{
	char *e = load_err(text), want[64];
	const char *colon;

	CHECK(e != NULL);
	if (e == NULL)
		return;
	CHECK(strncmp(e, dir, strlen(dir)) == 0);
	colon = strstr(e, ".conf:");
	CHECK(colon != NULL);
	if (colon) {
		snprintf(want, sizeof(want), ".conf:%d: ", line);
		if (strncmp(colon, want, strlen(want)) != 0)
			fprintf(stderr, "error \"%s\", want line %d\n", e, line);
		CHECK(strncmp(colon, want, strlen(want)) == 0);
	}
	if (strstr(e, what) == NULL)
		fprintf(stderr, "error \"%s\" lacks \"%s\"\n", e, what);
	CHECK(strstr(e, what) != NULL);
	free(e);
}

static void test_errors(void)
{
	check_err("[server]\n"
		  "data_dir = /tmp\n"
		  "\n"
		  "colour = blue\n",
		  4, "colour");
	check_err("# comment\n"
		  "[server]\n"
		  "log_level = debug\n"
		  "[nonsense]\n"
		  "key = 1\n",
		  5, "nonsense");
	check_err("[pop3]\n"
		  "keep_seen = maybe\n",
		  2, "maybe");
	check_err("[imap]\n"
		  "; RFC 9051: at least 30 minutes\n"
		  "idle_timeout = 60\n",
		  3, "out of range");
	check_err("[limits]\n"
		  "max_line = 100\n",
		  2, "out of range");
	check_err("[limits]\n"
		  "max_connections_per_ip = -5\n",
		  2, "max_connections_per_ip");
	check_err("[limits]\n"
		  "max_literal = 12Q\n",
		  2, "12Q");
	check_err("[imap]\n"
		  "separator = |\n",
		  2, "separator");
	check_err("[server]\n"
		  "log_level = loud\n",
		  2, "loud");
	check_err("[server]\n"
		  "log = file\n",
		  2, "file");
	check_err("[auth]\n"
		  "plaintext_without_tls = sometimes\n",
		  2, "sometimes");
	check_err("[pop3]\n"
		  "delete_mode = shred\n",
		  2, "shred");
	check_err("[server]\n"
		  "this line has no equals sign\n",
		  2, "");
	/* A key before any section. */
	check_err("data_dir = /x\n", 1, "");

	/* A missing file: "PATH: reason", no line. */
	{
		struct config c;
		struct buf err = BUF_INIT;
		char *path = xasprintf("%s/absent.conf", dir);

		config_init(&c);
		CHECK(config_load(&c, path, &err) < 0);
		CHECK(strncmp(err.data, path, strlen(path)) == 0);
		CHECK(err.data[strlen(path)] == ':');
		CHECK(err.data[strlen(path) + 1] == ' ');
		CHECK_STR(c.path, "(built-in)"); /* unchanged */
		config_release(&c);
		buf_release(&err);
		free(path);
	}
}

static void test_load_values(void)
{
	struct config c;
	struct buf err = BUF_INIT;
	char *path = write_file("good.conf",
		"[server]\n"
		"data_dir = /srv/mail\n"
		"user = mail\n"
		"log_level = debug\n"
		"log = syslog\n"
		"[tls]\n"
		"cert = /etc/ssl/c.pem\n"
		"key = /etc/ssl/k.pem\n"
		"[imap]\n"
		"listen = 127.0.0.1:1143 [::1]:1143\n"
		"separator = .\n"
		"[pop3]\n"
		"keep_seen = no\n"
		"delete_mode = flag\n"
		"expire_days = never\n"
		"[auth]\n"
		"plaintext_without_tls = yes\n"
		"[limits]\n"
		"max_literal = 10M\n"
		"max_line = 8k\n");

	config_init(&c);
	CHECK(config_load(&c, path, &err) == 0);
	CHECK_STR(c.path, path);
	CHECK_STR(c.data_dir, "/srv/mail");
	CHECK_STR(c.user, "mail");
	CHECK(c.log_level == LOG_LEVEL_DEBUG);
	CHECK(c.log_syslog);
	CHECK_STR(c.tls_cert, "/etc/ssl/c.pem");
	CHECK_STR(c.imap_listen, "127.0.0.1:1143 [::1]:1143");
	CHECK(c.imap_separator == '.');
	CHECK(!c.pop3_keep_seen);
	CHECK(c.pop3_delete_mode == POP3_DELETE_FLAG);
	CHECK(c.pop3_expire_days == -1);
	CHECK(c.plaintext_without_tls == PLAINTEXT_YES);
	CHECK(c.max_literal == 10u << 20);
	CHECK(c.max_line == 8192);
	/* Unset keys keep their defaults. */
	CHECK(c.imap_idle_timeout == 1800);

	/* Overrides. */
	CHECK(config_set(&c, "pop3", "login_delay", "5", &err) == 0);
	CHECK(c.pop3_login_delay == 5);
	CHECK(config_set(&c, "pop3", "nope", "5", &err) < 0);
	CHECK(strstr(err.data, "nope") != NULL);
	buf_reset(&err);
	CHECK(config_set(&c, "nosuch", "x", "5", &err) < 0);
	CHECK(strstr(err.data, "nosuch") != NULL);
	buf_reset(&err);

	/* config_dump writes a file config_load reads back the same. */
	{
		struct buf dump = BUF_INIT, dump2 = BUF_INIT;
		struct config c2;
		char *p2;

		config_dump(&c, &dump);
		p2 = write_file("dump.conf", dump.data);
		config_init(&c2);
		CHECK(config_load(&c2, p2, &err) == 0);
		if (err.len)
			fprintf(stderr, "%s\n", err.data);
		config_dump(&c2, &dump2);
		/* The first line names the source file; compare the rest. */
		CHECK(strcmp(strchr(dump.data, '\n'), strchr(dump2.data, '\n')) == 0);
		CHECK(c2.pop3_login_delay == 5);
		config_release(&c2);
		buf_release(&dump);
		buf_release(&dump2);
		free(p2);
	}
	config_release(&c);
	buf_release(&err);
	free(path);
}

static void test_listen(void)
{
	struct listen_item it[8];
	struct buf err = BUF_INIT;
	int n;

	n = config_parse_listen("0.0.0.0:143 [::]:143", it, 8, &err);
	CHECK(n == 2);
	CHECK_STR(it[0].host, "0.0.0.0");
	CHECK(it[0].port == 143);
	CHECK_STR(it[0].path, "");
	CHECK_STR(it[1].host, "::");
	CHECK(it[1].port == 143);

	n = config_parse_listen("[::1]:143", it, 8, &err);
	CHECK(n == 1);
	CHECK_STR(it[0].host, "::1");
	CHECK(it[0].port == 143);

	n = config_parse_listen("unix:/run/tandem/lmtp 127.0.0.1:24", it, 8,
				&err);
	CHECK(n == 2);
	CHECK_STR(it[0].path, "/run/tandem/lmtp");
	CHECK_STR(it[0].host, "");
	CHECK_STR(it[1].host, "127.0.0.1");
	CHECK(it[1].port == 24);

	n = config_parse_listen("localhost:0,  127.0.0.1:65535", it, 8, &err);
	CHECK(n == 2);
	CHECK(it[0].port == 0);
	CHECK(it[1].port == 65535);

	CHECK(config_parse_listen("", it, 8, &err) == 0);
	CHECK(config_parse_listen("   ", it, 8, &err) == 0);

	static const char *const bad[] = {
		"127.0.0.1",        /* no port */
		"127.0.0.1:",       /* empty port */
		"127.0.0.1:65536",  /* out of range */
		"127.0.0.1:-1",
		"127.0.0.1:http",
		"[::1]143",         /* no colon after bracket */
		"[::1",             /* unclosed */
		":143",             /* empty host */
		"unix:",            /* empty path */
		"::1:143",          /* IPv6 without brackets */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		buf_reset(&err);
		n = config_parse_listen(bad[i], it, 8, &err);
		if (n >= 0)
			fprintf(stderr, "accepted bad listen \"%s\"\n", bad[i]);
		CHECK(n < 0);
		CHECK(err.len > 0);
	}
	/* More than max items. */
	buf_reset(&err);
	CHECK(config_parse_listen("a:1 b:2 c:3", it, 2, &err) < 0);
	buf_release(&err);
}

int main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	log_init("test-config", LOG_LEVEL_ERROR, false);
	test_defaults();
	test_errors();
	test_load_values();
	test_listen();
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	return t_done();
}
