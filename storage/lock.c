/* lock.c - named exclusive locks per user: an OFD write lock on
 * mail/<user>/<name>.lock. OFD locks belong to the open file description,
 * so two takes in one process conflict like two processes do, and the
 * kernel drops the lock when the process dies: never stale. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store-private.h"
#include "xalloc.h"

struct store_lock {
	int fd;
};

static bool lock_name_valid(const char *name)
{
	if (!name || !*name || strlen(name) > 32)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_'))
			return false;
	return true;
}

int store_lock_take(struct store *s, const char *name,
		    struct store_lock **lock_r, struct store_err *err)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char *path;
	int fd;

	*lock_r = NULL;
	if (!lock_name_valid(name)) {
		store_err_set(err, STORE_ERR_INVALID, "bad lock name");
		return -1;
	}
	path = xasprintf("%s/%s.lock", s->dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (fd < 0) {
		store_err_set(err, STORE_ERR_TEMP, "lock %s: %s", name,
			      strerror(errno));
		return -1;
	}
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		int e = errno;
		close(fd);
		if (e == EAGAIN || e == EACCES)
			store_err_set(err, STORE_ERR_INUSE, "%s lock held",
				      name);
		else
			store_err_set(err, STORE_ERR_TEMP, "lock %s: %s", name,
				      strerror(e));
		return -1;
	}
	*lock_r = xmalloc(sizeof(**lock_r));
	(*lock_r)->fd = fd;
	return 0;
}

void store_lock_release(struct store_lock **lp)
{
	struct store_lock *l = *lp;

	if (!l)
		return;
	*lp = NULL;
	close(l->fd);
	free(l);
}
