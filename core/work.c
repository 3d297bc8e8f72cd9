#include "work.h"
#include "xalloc.h"

#include <stdlib.h>

struct work {
	uv_work_t req;
	void (*fn)(void *);
	void (*done)(void *);
	void *arg;
};

static void work_cb(uv_work_t *req)
{
	struct work *w = req->data;
	w->fn(w->arg);
}

static void after_cb(uv_work_t *req, int status)
{
	struct work *w = req->data;
	(void)status; /* uv_cancel is never used: status is always 0 */
	w->done(w->arg);
	free(w);
}

void work_submit(uv_loop_t *loop, void (*fn)(void *), void (*done)(void *),
		 void *arg)
{
	struct work *w = xcalloc(1, sizeof(*w));

	w->fn = fn;
	w->done = done;
	w->arg = arg;
	w->req.data = w;
	if (uv_queue_work(loop, &w->req, work_cb, after_cb) != 0)
		fatal("uv_queue_work failed");
}
