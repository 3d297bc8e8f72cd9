/* test-control.c - the control line protocol, the HTTP request check of
 * the metrics endpoint, KICK and STATS against the registry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "control.h"
#include "t.h"

static enum control_verb parse(const char *line, struct control_request *r)
{
	return control_parse(line, strlen(line), r);
}

static void test_parse(void)
{
	struct control_request r;
	char big[CONTROL_LINE_MAX + 10];

	CHECK(parse("WHO", &r) == CONTROL_WHO && r.arg[0] == '\0');
	CHECK(parse("who alice", &r) == CONTROL_WHO);
	CHECK_STR(r.arg, "alice");
	CHECK(parse("WHO alice\r", &r) == CONTROL_WHO);
	CHECK_STR(r.arg, "alice");
	CHECK(parse("KICK bob@example.org", &r) == CONTROL_KICK);
	CHECK_STR(r.arg, "bob@example.org");
	CHECK(parse("Stats", &r) == CONTROL_STATS);

	CHECK(parse("", &r) == CONTROL_BAD && r.why);
	CHECK(parse("KICK", &r) == CONTROL_BAD);
	CHECK_STR(r.why, "missing argument");
	CHECK(parse("KICK ", &r) == CONTROL_BAD);
	CHECK(parse("KICK a b", &r) == CONTROL_BAD);
	CHECK(parse("WHO  a", &r) == CONTROL_BAD);
	CHECK(parse("STATS x", &r) == CONTROL_BAD);
	CHECK_STR(r.why, "no argument expected");
	CHECK(parse("WHOM", &r) == CONTROL_BAD);
	CHECK_STR(r.why, "unknown command");
	CHECK(parse("KICK a\tb", &r) == CONTROL_BAD);
	CHECK(control_parse("KICK a\0b", 8, &r) == CONTROL_BAD);
	memset(big, 'a', sizeof(big));
	memcpy(big, "KICK ", 5);
	CHECK(control_parse(big, sizeof(big), &r) == CONTROL_BAD);
	CHECK_STR(r.why, "line too long");
}

static enum control_http http(const char *req, bool *head)
{
	return control_http_parse(req, strlen(req), head);
}

static void test_http(void)
{
	static const char full[] =
		"GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
	bool head;

	CHECK(http("GET /metrics HTTP/1.0\r\n\r\n", &head) ==
	      CONTROL_HTTP_METRICS && !head);
	CHECK(http("GET /metrics HTTP/1.0\n\n", &head) == CONTROL_HTTP_METRICS);
	CHECK(http("GET /metrics?name[]=x HTTP/1.1\r\n\r\n", &head) ==
	      CONTROL_HTTP_METRICS);
	CHECK(http("HEAD /metrics HTTP/1.0\r\n\r\n", &head) ==
	      CONTROL_HTTP_METRICS && head);
	CHECK(http("GET / HTTP/1.0\r\n\r\n", &head) == CONTROL_HTTP_NOTFOUND);
	CHECK(http("GET /metricsx HTTP/1.0\r\n\r\n", &head) ==
	      CONTROL_HTTP_NOTFOUND);
	CHECK(http("POST /metrics HTTP/1.0\r\n\r\n", &head) ==
	      CONTROL_HTTP_NOTFOUND);
	CHECK(http("get /metrics HTTP/1.0\r\n\r\n", &head) ==
	      CONTROL_HTTP_NOTFOUND);

	/* the request line is judged at once */
	CHECK(http("GET /metrics\r\n", &head) == CONTROL_HTTP_BAD);
	CHECK(http("HELLO\r\n", &head) == CONTROL_HTTP_BAD);
	CHECK(http("GET /metrics HTTP/2.0\r\n", &head) == CONTROL_HTTP_BAD);
	CHECK(http("GET  /metrics HTTP/1.0\r\n", &head) == CONTROL_HTTP_BAD);
	CHECK(http("GET /met\trics HTTP/1.0\r\n", &head) == CONTROL_HTTP_BAD);
	CHECK(http(" GET /metrics HTTP/1.0\r\n", &head) == CONTROL_HTTP_BAD);
	/* headers still coming */
	CHECK(http("GET /metrics HTTP/1.0\r\nHost: a\r\n", &head) ==
	      CONTROL_HTTP_MORE);
	CHECK(http("GET /metrics HTTP/1.0\r\n", &head) == CONTROL_HTTP_MORE);
	CHECK(http("GET /metrics HTTP/1.0\r\n\r", &head) == CONTROL_HTTP_MORE);

	/* byte by byte: MORE until the last byte */
	for (size_t n = 0; n < sizeof(full) - 1; n++)
		CHECK(control_http_parse(full, n, &head) == CONTROL_HTTP_MORE);
	CHECK(control_http_parse(full, sizeof(full) - 1, &head) ==
	      CONTROL_HTTP_METRICS);
}

static int kicked_a, kicked_b;
static void kick_a(void *arg) { (void)arg; kicked_a++; }
static void kick_b(void *arg) { (void)arg; kicked_b++; }

/* The value of "name N" in a STATS answer, or -1. */
static long long stat_of(const struct buf *b, const char *name)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(b->data, key);
	return p ? atoll(p + strlen(key)) : -1;
}

static void test_registry(void)
{
	/* KICK and STATS never look at the conn: a stand-in pointer */
	static char fake_conn;
	struct conn *fc = (struct conn *)(void *)&fake_conn;
	struct control_session a1, a2, b1, anon;
	struct control_request r;
	struct buf out = BUF_INIT;
	uint64_t total0 = control_counters.connections_total;

	control_session_add(&a1, "imap", fc, NULL, kick_a, NULL);
	control_session_add(&a2, "pop3", fc, NULL, kick_a, NULL);
	control_session_add(&b1, "imap", fc, NULL, kick_b, NULL);
	control_session_add(&anon, "lmtp", fc, NULL, NULL, NULL);
	control_session_login(&a1, "alice");
	control_session_login(&a2, "alice");
	control_session_login(&b1, "bob");
	CHECK(control_session_count() == 4);
	CHECK(control_counters.connections_total == total0 + 4);

	parse("KICK alice", &r);
	control_answer(&r, "imapd", &out);
	CHECK_STR(out.data, "OK 2\n");
	CHECK(kicked_a == 2 && kicked_b == 0);
	/* a second KICK does not kick the same sessions again */
	buf_reset(&out);
	control_answer(&r, "imapd", &out);
	CHECK_STR(out.data, "OK 0\n");
	CHECK(kicked_a == 2);
	/* nobody kicks a session that is not logged in */
	buf_reset(&out);
	parse("KICK -", &r);
	control_answer(&r, "imapd", &out);
	CHECK_STR(out.data, "OK 0\n");

	control_counters.commands += 7;
	buf_reset(&out);
	parse("STATS", &r);
	control_answer(&r, "pop3d", &out);
	CHECK(strncmp(out.data, "daemon pop3d\n", 13) == 0);
	CHECK(stat_of(&out, "connections") == 4);
	CHECK(stat_of(&out, "logins") == (long long)control_counters.logins);
	CHECK(stat_of(&out, "commands") ==
	      (long long)control_counters.commands);
	CHECK(stat_of(&out, "bytes_out") >= 0);
	CHECK(stat_of(&out, "uptime") == 0); /* control_start not called */
	CHECK(out.len >= 4 && strcmp(out.data + out.len - 4, "\nOK\n") == 0);

	buf_reset(&out);
	parse("NOPE", &r);
	control_answer(&r, "imapd", &out);
	CHECK_STR(out.data, "ERR unknown command\n");

	control_session_remove(&a1);
	control_session_remove(&a1); /* twice: harmless */
	control_session_remove(&anon);
	control_session_remove(&b1);
	control_session_remove(&a2);
	CHECK(control_session_count() == 0);

	/* metrics: every sample labelled, each family typed once */
	buf_reset(&out);
	control_metrics("lmtpd", &out);
	CHECK(strstr(out.data, "# TYPE tandem_connections gauge\n"
			       "tandem_connections{daemon=\"lmtpd\"} 0\n") !=
	      NULL);
	CHECK(strstr(out.data, "tandem_deliveries_total{daemon=\"lmtpd\","
			       "result=\"failed\"} ") != NULL);
	for (const char *p = out.data; *p;) {
		const char *nl = strchr(p, '\n');
		CHECK(nl != NULL);
		if (!nl)
			break;
		if (*p != '#')
			CHECK(memmem(p, (size_t)(nl - p), "{daemon=\"lmtpd\"",
				     15) != NULL);
		p = nl + 1;
	}
	buf_release(&out);
}

int main(void)
{
	test_parse();
	test_http();
	test_registry();
	return t_done();
}
