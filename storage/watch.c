/* watch.c - the change feed.
 *
 * After every commit that changed something the writer pwrites a counter
 * into mail/<user>/notify (waking inotify watchers in every process) and
 * sends the store's uv_async (waking this process's loop at once, even
 * when the commit ran on a worker thread). Both wake-ups only start a
 * zero timer, so the fs event and the async of one commit, and bursts of
 * commits, coalesce into one round of store_watch callbacks on the loop
 * thread.
 *
 * When inotify cannot be had (EMFILE: the per-user limit of inotify
 * instances, 128 by default, is shared with every other program of the
 * same user), the notify file is polled with stat() every 250 ms instead:
 * slower, never silent.
 *
 * The loop handles are created with the first watch and closed when the
 * store's last reference goes; the store is freed in the last close
 * callback (libuv: free only after the close callback).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store-private.h"
#include "xalloc.h"

void store_feed_notify(struct store *s)
{
	s->commits++;
	if (s->notify_fd >= 0 &&
	    pwrite(s->notify_fd, &s->commits, sizeof(s->commits), 0) < 0)
		log_warn(NULL, "store %s: notify: %s", s->user,
			 strerror(errno));
	if (s->async)
		uv_async_send(s->async);
}

uint64_t store_feed_round(const struct store *s)
{
	return s->round;
}

static void feed_dispatch(struct store *s)
{
	static uint64_t rounds; /* loop thread only */
	struct store *hold = store_ref(s);

	if (s->dispatching++ == 0)
		s->round = ++rounds;
	for (struct store_watch *w = s->watches; w; w = w->next)
		if (!w->dead)
			w->cb(s, w->arg);
	if (--s->dispatching == 0) {
		struct store_watch **pp = &s->watches;

		s->round = 0;
		while (*pp) {
			struct store_watch *w = *pp;
			if (w->dead) {
				*pp = w->next;
				free(w);
			} else {
				pp = &w->next;
			}
		}
	}
	store_unref(&hold);
}

static void kick_timer_cb(uv_timer_t *t)
{
	feed_dispatch(t->data);
}

static void feed_kick(struct store *s)
{
	if (s->kick && !uv_is_active((uv_handle_t *)s->kick) &&
	    !uv_is_closing((uv_handle_t *)s->kick))
		uv_timer_start(s->kick, kick_timer_cb, 0, 0);
}

static void async_cb(uv_async_t *a)
{
	struct store *s = a->data;
	bool closing;

	pthread_mutex_lock(&s->wmu);
	closing = s->close_requested;
	pthread_mutex_unlock(&s->wmu);
	if (closing) {
		store_feed_close(s);
		return;
	}
	feed_kick(s);
}

bool store_feed_close_async(struct store *s)
{
	bool sent = false;

	pthread_mutex_lock(&s->wmu);
	if (s->async) {
		s->close_requested = true;
		uv_async_send(s->async);
		sent = true;
	}
	pthread_mutex_unlock(&s->wmu);
	return sent;
}

static void fs_event_cb(uv_fs_event_t *h, const char *filename, int events,
			int status)
{
	feed_kick(h->data);
}

static void fs_poll_cb(uv_fs_poll_t *h, int status, const uv_stat_t *prev,
		       const uv_stat_t *curr)
{
	feed_kick(h->data);
}

static int feed_start(struct store *s)
{
	char *path;
	int rc;

	s->kick = xcalloc(1, sizeof(*s->kick));
	s->fsev = xcalloc(1, sizeof(*s->fsev));
	uv_timer_init(store_loop, s->kick);
	s->kick->data = s;
	uv_fs_event_init(store_loop, s->fsev);
	s->fsev->data = s;
	path = xasprintf("%s/notify", s->dir);
	rc = uv_fs_event_start(s->fsev, fs_event_cb, path, 0);
	if (rc < 0) {
		log_warn(NULL, "store %s: watching %s: %s; polling it instead",
			 s->user, path, uv_strerror(rc));
		s->fspoll = xcalloc(1, sizeof(*s->fspoll));
		uv_fs_poll_init(store_loop, s->fspoll);
		s->fspoll->data = s;
		rc = uv_fs_poll_start(s->fspoll, fs_poll_cb, path, 250);
		if (rc < 0)
			log_error(NULL, "store %s: polling %s: %s", s->user,
				  path, uv_strerror(rc));
	}
	free(path);

	uv_async_t *a = xcalloc(1, sizeof(*a));
	uv_async_init(store_loop, a, async_cb);
	a->data = s;
	pthread_mutex_lock(&s->wmu);
	s->async = a;
	pthread_mutex_unlock(&s->wmu);
	return 0;
}

struct store_watch *store_watch_add(struct store *s, store_change_cb *cb,
				    void *arg)
{
	struct store_watch *w = xcalloc(1, sizeof(*w));

	w->s = s;
	w->cb = cb;
	w->arg = arg;
	if (store_loop && !s->kick)
		feed_start(s);
	w->next = s->watches;
	s->watches = w;
	return w;
}

void store_watch_remove(struct store_watch **wp)
{
	struct store_watch *w = *wp;
	struct store *s;

	if (!w)
		return;
	*wp = NULL;
	s = w->s;
	if (s->dispatching) {
		w->dead = true;
		return;
	}
	for (struct store_watch **pp = &s->watches; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	free(w);
}

static void close_cb(uv_handle_t *h)
{
	struct store *s = h->data;

	free(h);
	if (--s->pending_closes == 0)
		store_free(s);
}

/* Frees the watches and closes the feed's handles with cb; false when
 * the feed was never started. */
static bool feed_detach(struct store *s, uv_close_cb cb)
{
	uv_async_t *a;

	while (s->watches) {
		struct store_watch *w = s->watches;
		s->watches = w->next;
		free(w);
	}
	if (!s->kick)
		return false;
	pthread_mutex_lock(&s->wmu);
	a = s->async;
	s->async = NULL;
	pthread_mutex_unlock(&s->wmu);
	uv_close((uv_handle_t *)s->kick, cb);
	uv_close((uv_handle_t *)s->fsev, cb);
	uv_close((uv_handle_t *)a, cb);
	if (s->fspoll)
		uv_close((uv_handle_t *)s->fspoll, cb);
	s->kick = NULL;
	s->fsev = NULL;
	s->fspoll = NULL;
	return true;
}

bool store_feed_close(struct store *s)
{
	/* set before the handles go: close_cb frees the store at zero */
	s->pending_closes = s->fspoll ? 4 : 3;
	return feed_detach(s, close_cb);
}

static void stop_close_cb(uv_handle_t *h)
{
	free(h);
}

void store_feed_stop(struct store *s)
{
	feed_detach(s, stop_close_cb);
}
