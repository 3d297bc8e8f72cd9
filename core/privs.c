/* privs.c - dropping root after the listeners are bound.
 *
 * Mail sessions parse untrusted input: they never run as root. The order
 * is the classic one: supplementary groups (initgroups), then the group,
 * then the user (setresuid, so the saved set-user-ID is gone too), then a
 * check that root cannot be regained.
 */
#include "daemon.h"
#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

void privs_drop(const struct config *cfg)
{
	struct passwd *pw;
	struct group *gr;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0) {
		log_debug(NULL, "not started as root: keeping uid %u",
			  (unsigned)geteuid());
		return;
	}
	if (cfg->user == NULL || cfg->user[0] == '\0')
		fatal("refusing to run mail sessions as root: set [server] "
		      "user");
	errno = 0;
	pw = getpwnam(cfg->user);
	if (pw == NULL)
		fatal("[server] user '%s' does not exist%s%s", cfg->user,
		      errno ? ": " : "", errno ? strerror(errno) : "");
	if (pw->pw_uid == 0)
		fatal("refusing to run mail sessions as root: [server] user "
		      "'%s' is root", cfg->user);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (cfg->group && cfg->group[0]) {
		errno = 0;
		gr = getgrnam(cfg->group);
		if (gr == NULL)
			fatal("[server] group '%s' does not exist",
			      cfg->group);
		gid = gr->gr_gid;
	}
	if (gid == 0)
		fatal("refusing to run mail sessions with group root");
	if (initgroups(cfg->user, gid) < 0)
		fatal("initgroups(%s): %s", cfg->user, strerror(errno));
	if (setresgid(gid, gid, gid) < 0)
		fatal("setgid(%u): %s", (unsigned)gid, strerror(errno));
	if (setresuid(uid, uid, uid) < 0)
		fatal("setuid(%u): %s", (unsigned)uid, strerror(errno));
	if (setuid(0) == 0 || geteuid() == 0 || getuid() == 0)
		fatal("could regain root after dropping privileges");
	log_info(NULL, "running as user %s (uid %u, gid %u)", cfg->user,
		 (unsigned)uid, (unsigned)gid);
}
