/* lmtp.h - the LMTP server (RFC 2033) as tandem-lmtpd's main.c sees it.
 *
 * main.c opens the listeners and, for each accepted connection, calls
 * lmtp_session_start(). Sessions read srv->cfg at each use (daemon.c
 * updates it in place on SIGHUP). On SIGTERM the connections are closed;
 * a delivery already on a worker finishes (its work request keeps the
 * loop alive) and its session is freed then.
 */
#ifndef TANDEM_LMTP_H
#define TANDEM_LMTP_H

#include <stdbool.h>
#include <uv.h>

struct conn;
struct config;
struct userdb;

struct lmtp_server {
	uv_loop_t *loop;
	const struct config *cfg;
	struct userdb *userdb;
	unsigned deliveries;   /* deliveries running on workers now */
};

/* Takes over c: sets the handler, sends the 220 greeting. */
void lmtp_session_start(struct conn *c, struct lmtp_server *srv);

#endif
