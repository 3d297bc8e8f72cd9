/* cmd-compress.c - COMPRESS (RFC 4978). */
#include "conn.h"
#include "session.h"

/* RFC 4978 3: compress = "COMPRESS" SP algorithm; algorithm = "DEFLATE"
 *   resp-text-code =/ "COMPRESSIONACTIVE"
 * Authenticated and selected states. The tagged OK goes out uncompressed;
 * from the next byte on, both directions are raw DEFLATE (RFC 1951),
 * inside TLS if TLS is active (conn_compress_start). Bytes the client
 * pipelined after the command are already compressed. An unknown
 * algorithm is BAD; a second COMPRESS is NO [COMPRESSIONACTIVE]. */
enum imap_cmd_result imap_cmd_compress(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;

	if (cmd->nargs != 1 || cmd->args[0].type != IMAP_ARG_ATOM)
		return imap_reply_bad(cmd, "COMPRESS takes one algorithm");
	if (!imap_arg_atom_eq(&cmd->args[0], "DEFLATE"))
		return imap_reply_bad(cmd, "Unknown compression algorithm");
	if (conn_info(s->conn)->compressed)
		return imap_reply_no(cmd, "COMPRESSIONACTIVE",
				     "DEFLATE is already active");
	imap_reply_ok(cmd, NULL, "DEFLATE active");
	if (conn_compress_start(s->conn) < 0) {
		/* The client now compresses: nothing more can be said. */
		log_error(&s->log, "COMPRESS failed to start");
		imap_close(s);
	}
	return IMAP_CMD_DONE;
}
