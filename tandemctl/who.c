/* who.c - tandemctl who|kick|stats: ask each running daemon over its
 * control socket (core/control.h has the line protocol) and merge. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "control.h"
#include "tandemctl-private.h"
#include "xalloc.h"

#define ASK_TIMEOUT_MS 5000
#define ANSWER_MAX (64u << 20)

struct answer {
	char daemon[64]; /* "imapd" */
	struct buf text; /* the whole answer, NUL-terminated */
};

/* The order daemons are shown in; others after, by name. */
static int daemon_rank(const char *name)
{
	static const char *const order[] = {"imapd", "pop3d", "lmtpd"};

	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		if (strcmp(name, order[i]) == 0)
			return (int)i;
	return (int)ARRAY_SIZE(order);
}

static int answer_cmp(const void *a, const void *b)
{
	const struct answer *x = a, *y = b;
	int rx = daemon_rank(x->daemon), ry = daemon_rank(y->daemon);

	return rx != ry ? rx - ry : strcmp(x->daemon, y->daemon);
}

enum ask_result {
	ASK_OK,
	ASK_STALE,  /* nothing listens there: the daemon is not running */
	ASK_FAIL,   /* reason printed */
	ASK_DENIED, /* no permission to use the socket (reason printed) */
};

/* Sends request to the socket at path and reads the answer until EOF. */
static enum ask_result ask_one(const char *path, const char *request,
			       struct buf *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct buf req = BUF_INIT;
	enum ask_result rc = ASK_FAIL;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "tandemctl: %s: path too long\n", path);
		return ASK_FAIL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "tandemctl: socket: %s\n", strerror(errno));
		return ASK_FAIL;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == ECONNREFUSED || errno == ENOENT) {
			rc = ASK_STALE;
		} else {
			if (errno == EACCES)
				rc = ASK_DENIED;
			fprintf(stderr, "tandemctl: %s: %s\n", path,
				strerror(errno));
		}
		goto out;
	}
	buf_printf(&req, "%s\n", request);
	if (write(fd, req.data, req.len) != (ssize_t)req.len) {
		fprintf(stderr, "tandemctl: %s: write: %s\n", path,
			strerror(errno));
		goto out;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		char tmp[4096];
		ssize_t n;

		if (poll(&pfd, 1, ASK_TIMEOUT_MS) <= 0) {
			fprintf(stderr, "tandemctl: %s: no answer\n", path);
			goto out;
		}
		n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "tandemctl: %s: read: %s\n", path,
				strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (out->len + (size_t)n > ANSWER_MAX) {
			fprintf(stderr, "tandemctl: %s: answer too long\n",
				path);
			goto out;
		}
		buf_append(out, tmp, (size_t)n);
	}
	buf_append_c(out, '\0');
	buf_truncate(out, out->len - 1);
	rc = ASK_OK;
out:
	buf_release(&req);
	close(fd);
	return rc;
}

/* The last line of an answer: "OK ..." or "ERR ...". */
static const char *last_line(const struct buf *t)
{
	const char *end = t->data + t->len;
	const char *p;

	if (t->len == 0)
		return "";
	if (end[-1] == '\n')
		end--;
	for (p = end; p > t->data && p[-1] != '\n'; p--)
		;
	return p;
}

/* Asks every daemon with a socket in the control directory (every worker
 * of a daemon with workers: one answer each, with the daemon's name).
 * Returns 0 with the answers (sorted imapd, pop3d, lmtpd), or an exit
 * code. */
static int ask_all(struct ctl *c, const char *request, struct answer **r,
		   size_t *n_r)
{
	char *dir = control_dir(&c->cfg);
	struct answer *a = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		fprintf(stderr, "tandemctl: %s: %s (is a daemon running?)\n",
			dir, strerror(errno));
		free(dir);
		return errno == EACCES ? EX_NOPERM : EX_UNAVAILABLE;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		struct buf path = BUF_INIT;
		struct answer one = {{0}, BUF_INIT};
		const char *last;
		enum ask_result r1;

		if (len <= 5 || len - 5 >= sizeof(one.daemon) ||
		    strcmp(e->d_name + len - 5, ".sock") != 0)
			continue;
		memcpy(one.daemon, e->d_name, len - 5);
		/* "imapd.w1.sock": worker 1 of imapd (core/control.h) */
		one.daemon[strcspn(one.daemon, ".")] = '\0';
		buf_printf(&path, "%s/%s", dir, e->d_name);
		r1 = ask_one(path.data, request, &one.text);
		buf_release(&path);
		if (r1 == ASK_STALE) {
			buf_release(&one.text);
			continue;
		}
		last = r1 == ASK_OK ? last_line(&one.text) : "";
		if (r1 != ASK_OK || strncmp(last, "OK", 2) != 0) {
			if (r1 == ASK_OK)
				fprintf(stderr, "tandemctl: %s: %s\n",
					one.daemon,
					*last ? last : "empty answer");
			buf_release(&one.text);
			rc = r1 == ASK_DENIED ? EX_NOPERM : EX_UNAVAILABLE;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			a = xrealloc(a, cap * sizeof(*a));
		}
		a[n++] = one;
	}
	closedir(d);
	if (n == 0 && rc == 0) {
		fprintf(stderr, "tandemctl: no running daemon answers in %s\n",
			dir);
		rc = EX_UNAVAILABLE;
	}
	free(dir);
	if (n)
		qsort(a, n, sizeof(*a), answer_cmp);
	*r = a;
	*n_r = n;
	return rc;
}

static void answers_free(struct answer *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_release(&a[i].text);
	free(a);
}

/* Splits s at separators sep into at most max fields (in place). */
static size_t split(char *s, char sep, char **f, size_t max)
{
	size_t n = 0;

	while (n < max) {
		char *p = strchr(s, sep);

		f[n++] = s;
		if (!p)
			break;
		*p = '\0';
		s = p + 1;
	}
	return n;
}

struct who_row {
	char *f[8]; /* S proto user rip rport since tls mailbox */
};

static int who_cmp(const void *a, const void *b)
{
	const struct who_row *x = a, *y = b;
	int r = strcmp(x->f[2], y->f[2]);

	if (r == 0)
		r = strcmp(x->f[1], y->f[1]);
	if (r == 0)
		r = strcmp(x->f[5], y->f[5]);
	return r;
}

int ctl_who(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct answer *ans = NULL;
	struct who_row *rows = NULL;
	size_t nans = 0, nrows = 0, cap = 0;
	struct buf req = BUF_INIT;
	int rc;

	if ((rc = ctl_parse(argc, argv, 0, 1, false, "who [USER]", &a)))
		return rc;
	buf_append_str(&req, "WHO");
	if (a.npos)
		buf_printf(&req, " %s", a.pos[0]);
	rc = ask_all(c, req.data, &ans, &nans);
	buf_release(&req);
	for (size_t i = 0; i < nans; i++) {
		char *line = ans[i].text.data;

		while (line && *line) {
			char *nl = strchr(line, '\n');
			struct who_row row;

			if (nl)
				*nl = '\0';
			if (line[0] == 'S' && line[1] == '\t' &&
			    split(line, '\t', row.f, 8) == 8) {
				if (nrows == cap) {
					cap = cap ? cap * 2 : 16;
					rows = xrealloc(rows, cap * sizeof(*rows));
				}
				rows[nrows++] = row;
			}
			line = nl ? nl + 1 : NULL;
		}
	}
	if (nrows)
		qsort(rows, nrows, sizeof(*rows), who_cmp);
	if (nans)
		printf("%-16s %-5s %-28s %-20s %-3s %s\n", "USER", "PROTO",
		       "REMOTE", "SINCE", "TLS", "MAILBOX");
	for (size_t i = 0; i < nrows; i++) {
		char **f = rows[i].f;
		char remote[96], since[32];
		time_t t = (time_t)strtoll(f[5], NULL, 10);
		struct tm tm;

		if (strchr(f[3], ':'))
			snprintf(remote, sizeof(remote), "[%s]:%s", f[3], f[4]);
		else if (strcmp(f[4], "0") == 0)
			snprintf(remote, sizeof(remote), "%s", f[3]);
		else
			snprintf(remote, sizeof(remote), "%s:%s", f[3], f[4]);
		if (gmtime_r(&t, &tm))
			strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		else
			snprintf(since, sizeof(since), "%s", f[5]);
		printf("%-16s %-5s %-28s %-20s %-3s %s\n", f[2], f[1], remote,
		       since, f[6], f[7]);
	}
	free(rows);
	answers_free(ans, nans);
	return rc;
}

int ctl_kick(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct answer *ans = NULL;
	size_t nans = 0;
	unsigned long total = 0;
	struct buf req = BUF_INIT, detail = BUF_INIT;
	int rc;

	if ((rc = ctl_parse(argc, argv, 1, 1, false, "kick USER", &a)))
		return rc;
	buf_printf(&req, "KICK %s", a.pos[0]);
	rc = ask_all(c, req.data, &ans, &nans);
	for (size_t i = 0; i < nans;) {
		unsigned long k = 0;
		size_t j;

		/* the workers of one daemon are adjacent: one sum each */
		for (j = i; j < nans && !strcmp(ans[j].daemon, ans[i].daemon);
		     j++)
			k += strtoul(last_line(&ans[j].text) + 2, NULL, 10);
		total += k;
		if (k)
			buf_printf(&detail, "%s%s %lu", detail.len ? ", " : "",
				   ans[i].daemon, k);
		i = j;
	}
	if (nans)
		printf("kicked %lu session(s) of %s%s%s%s\n", total, a.pos[0],
		       detail.len ? " (" : "", detail.len ? detail.data : "",
		       detail.len ? ")" : "");
	buf_release(&req);
	buf_release(&detail);
	answers_free(ans, nans);
	return rc;
}

int ctl_stats(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	struct answer *ans = NULL;
	size_t nans = 0;
	int rc;

	if ((rc = ctl_parse(argc, argv, 0, 0, false, "stats", &a)))
		return rc;
	rc = ask_all(c, "STATS", &ans, &nans);
	if (nans == 0)
		return rc;
	/* Every worker of a daemon answers the daemon's totals: keep one. */
	{
		size_t o = 0;

		for (size_t i = 0; i < nans; i++) {
			if (o && !strcmp(ans[i].daemon, ans[o - 1].daemon)) {
				buf_release(&ans[i].text);
				continue;
			}
			ans[o++] = ans[i];
		}
		nans = o;
	}
	printf("%-20s", "");
	for (size_t i = 0; i < nans; i++)
		printf(" %14s", ans[i].daemon);
	printf("\n");
	/* Rows in the order of the first answer ("name value" lines). */
	for (const char *p = ans[0].text.data; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *sp = memchr(p, ' ', len);
		char name[64];
		size_t nlen = sp ? (size_t)(sp - p) : 0;

		if (sp && nlen < sizeof(name) && strncmp(p, "daemon ", 7) &&
		    strncmp(p, "OK", 2)) {
			memcpy(name, p, nlen);
			name[nlen] = '\0';
			printf("%-20s", name);
			for (size_t i = 0; i < nans; i++) {
				const char *v = "-";
				size_t vlen = 1;

				/* find "name " at a line start */
				for (const char *q = ans[i].text.data; q && *q;) {
					const char *qn = strchr(q, '\n');
					size_t ql = qn ? (size_t)(qn - q) : strlen(q);

					if (ql > nlen && q[nlen] == ' ' &&
					    memcmp(q, name, nlen) == 0) {
						v = q + nlen + 1;
						vlen = ql - nlen - 1;
						break;
					}
					q = qn ? qn + 1 : NULL;
				}
				printf(" %14.*s", (int)vlen, v);
			}
			printf("\n");
		}
		p = nl ? nl + 1 : NULL;
	}
	answers_free(ans, nans);
	return rc;
}
