/* work.h - run blocking work (commits, password hashing) off the loop.
 *
 * fn(arg) runs on libuv's thread pool; done(arg) then runs on the loop
 * thread. The caller keeps arg (and whatever it points to) alive until
 * done runs, even if its connection closes meanwhile: a session with work
 * in flight defers freeing itself to done.
 */
#ifndef TANDEM_WORK_H
#define TANDEM_WORK_H

#include <uv.h>

void work_submit(uv_loop_t *loop, void (*fn)(void *arg),
		 void (*done)(void *arg), void *arg);

#endif
