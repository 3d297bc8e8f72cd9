/* clock.h - the monotonic clock in milliseconds: deadlines, time
 * slices and penalties (never dates). CLOCK_MONOTONIC is one clock for
 * the whole machine, so values kept in shared memory compare across
 * processes. */
#ifndef TANDEM_CLOCK_H
#define TANDEM_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
