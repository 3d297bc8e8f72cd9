/* shared.c - the mapping the workers of one daemon share. See shared.h. */
#include "shared.h"
#include "log.h"
#include "xalloc.h"

#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>

#define SHARED_ROWS 2

struct shared_table {
	uint32_t n[SHARED_ROWS][SHARED_BUCKETS];
};

struct shared_slot {
	struct control_counts counts; /* written by the slot's worker only */
	uint64_t sessions;
	int32_t pid;
	struct shared_table tab[SHARED_KINDS];
};

struct shared_area {
	uint32_t workers;
	uint32_t lock;       /* penalty lock: holder's pid, or 0 */
	uint64_t started_ns;
	uint64_t next_id;    /* the last connection id given out */
	unsigned char penalty[SHARED_PENALTY_BYTES];
	struct shared_slot slot[];
};

static struct shared_area *area;
static struct shared_slot *mine;

/* One process-local slot, for processes that never called shared_init. */
static void ensure(void)
{
	if (area)
		return;
	area = xcalloc(1, sizeof(*area) + sizeof(struct shared_slot));
	area->workers = 1;
	mine = &area->slot[0];
	control_counts_p = &mine->counts;
}

void shared_init(unsigned workers)
{
	size_t size;
	void *p;

	assert(workers >= 1 && workers <= SHARED_WORKERS_MAX);
	assert(area == NULL);
	size = sizeof(*area) + workers * sizeof(struct shared_slot);
	/* Anonymous shared memory: pages are allocated when first touched,
	 * so the tables cost what the keys in use touch. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		fatal("shared memory for %u worker(s): %s", workers,
		      strerror(errno));
	area = p;
	area->workers = workers;
	area->started_ns = uv_hrtime();
	mine = &area->slot[0];
	control_counts_p = &mine->counts;
}

uint64_t shared_next_id(void)
{
	ensure();
	return __atomic_add_fetch(&area->next_id, 1, __ATOMIC_RELAXED);
}

unsigned shared_workers(void)
{
	ensure();
	return area->workers;
}

void shared_worker_enter(unsigned i)
{
	ensure();
	assert(i < area->workers);
	mine = &area->slot[i];
	mine->pid = (int32_t)getpid();
	control_counts_p = &mine->counts;
}

unsigned shared_worker_index(void)
{
	ensure();
	return (unsigned)(mine - area->slot);
}

void shared_worker_reset(unsigned i, pid_t pid)
{
	struct shared_slot *s;
	uint32_t held = (uint32_t)pid;

	ensure();
	assert(i < area->workers);
	s = &area->slot[i];
	__atomic_store_n(&s->sessions, 0, __ATOMIC_SEQ_CST);
	for (int k = 0; k < SHARED_KINDS; k++)
		for (int r = 0; r < SHARED_ROWS; r++)
			for (int b = 0; b < SHARED_BUCKETS; b++)
				if (s->tab[k].n[r][b])
					__atomic_store_n(&s->tab[k].n[r][b], 0,
							 __ATOMIC_SEQ_CST);
	s->pid = 0;
	/* It died holding the lock (mid-update): the table may be half
	 * written, which costs at most a wrong delay for one address. */
	__atomic_compare_exchange_n(&area->lock, &held, 0, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

uint64_t shared_hash(const char *key)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ull;
	return h;
}

static unsigned bucket(uint64_t h, int row)
{
	/* Two rows from the two halves of the hash. */
	return (unsigned)((row ? h >> 32 : h & 0xffffffffu) % SHARED_BUCKETS);
}

static unsigned count_get_hash(enum shared_kind kind, uint64_t h)
{
	uint64_t best = UINT64_MAX;

	for (int r = 0; r < SHARED_ROWS; r++) {
		unsigned b = bucket(h, r);
		uint64_t sum = 0;

		for (uint32_t w = 0; w < area->workers; w++)
			sum += __atomic_load_n(&area->slot[w].tab[kind].n[r][b],
					       __ATOMIC_SEQ_CST);
		if (sum < best)
			best = sum;
	}
	return best > UINT32_MAX ? UINT32_MAX : (unsigned)best;
}

unsigned shared_count_add_hash(enum shared_kind kind, uint64_t h, int delta)
{
	ensure();
	assert(kind < SHARED_KINDS);
	for (int r = 0; r < SHARED_ROWS; r++)
		__atomic_add_fetch(&mine->tab[kind].n[r][bucket(h, r)],
				   (uint32_t)delta, __ATOMIC_SEQ_CST);
	return count_get_hash(kind, h);
}

unsigned shared_count_add(enum shared_kind kind, const char *key, int delta)
{
	return shared_count_add_hash(kind, shared_hash(key), delta);
}

unsigned shared_count_get(enum shared_kind kind, const char *key)
{
	ensure();
	return count_get_hash(kind, shared_hash(key));
}

void shared_sessions_set(uint64_t n)
{
	ensure();
	__atomic_store_n(&mine->sessions, n, __ATOMIC_RELAXED);
}

void shared_counts_total(struct control_counts *out, uint64_t *sessions_r)
{
	uint64_t sessions = 0;

	ensure();
	memset(out, 0, sizeof(*out));
	for (uint32_t w = 0; w < area->workers; w++) {
		const struct control_counts *k = &area->slot[w].counts;

#define ADD(f) out->f += __atomic_load_n(&k->f, __ATOMIC_RELAXED)
		ADD(connections_total);
		ADD(logins);
		ADD(auth_failures);
		ADD(commands);
		ADD(deliveries_ok);
		ADD(deliveries_failed);
		ADD(bytes_in);
		ADD(bytes_out);
#undef ADD
		sessions += __atomic_load_n(&area->slot[w].sessions,
					    __ATOMIC_RELAXED);
	}
	*sessions_r = sessions;
}

uint64_t shared_started_ns(void)
{
	return area ? area->started_ns : 0;
}

void *shared_penalty_area(void)
{
	ensure();
	return area->penalty;
}

void shared_lock(void)
{
	uint32_t me = (uint32_t)getpid();

	ensure();
	for (unsigned spins = 0;; spins++) {
		uint32_t free_ = 0;

		if (__atomic_compare_exchange_n(&area->lock, &free_, me, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return;
		assert(free_ != me); /* not recursive */
		if (spins > 64)
			sched_yield();
	}
}

void shared_unlock(void)
{
	__atomic_store_n(&area->lock, 0, __ATOMIC_RELEASE);
}
