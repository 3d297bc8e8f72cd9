/* penalty.c - per-IP failure counters, so that a password-guessing burst
 * from one address slows only that address.
 *
 * Loop thread only. The bounded table of PENALTY_SLOTS entries, searched
 * by hash, is in the daemon's shared memory (core/shared.h), so every
 * worker process of a daemon sees the same failures; it is read and
 * changed under the shared lock. An entry is forgotten PENALTY_EXPIRE_MS after its last
 * failure, at once on a success, and when the table is full the entry with
 * the oldest last failure gives way.
 */
#include "clock.h"
#include "auth.h"
#include "shared.h"

#include <stdint.h>
#include <string.h>

#define PENALTY_SLOTS 1024
#define PENALTY_EXPIRE_MS (5 * 60 * 1000)
#define PENALTY_MAX_MS 15000
#define PENALTY_IP_MAX 64

struct penalty_entry {
	uint32_t hash;
	unsigned failures; /* 0: the slot is free */
	uint64_t last_ms;  /* monotonic time of the last failure */
	char ip[PENALTY_IP_MAX];
};

_Static_assert(sizeof(struct penalty_entry) * PENALTY_SLOTS <=
		       SHARED_PENALTY_BYTES,
	       "the penalty table fits its shared area");
#define penalty_table ((struct penalty_entry *)shared_penalty_area())

static uint32_t ip_hash(const char *ip)
{
	return (uint32_t)shared_hash(ip);
}

static bool expired(const struct penalty_entry *e, uint64_t now)
{
	return e->failures == 0 || now - e->last_ms > PENALTY_EXPIRE_MS;
}

/* The live entry for ip, or NULL. */
static struct penalty_entry *find(const char *ip, uint64_t now)
{
	uint32_t h = ip_hash(ip);
	size_t i;

	for (i = 0; i < PENALTY_SLOTS; i++) {
		struct penalty_entry *e = &penalty_table[i];

		if (e->failures && e->hash == h &&
		    strncmp(e->ip, ip, PENALTY_IP_MAX - 1) == 0) {
			if (expired(e, now)) {
				e->failures = 0;
				return NULL;
			}
			return e;
		}
	}
	return NULL;
}

unsigned auth_penalty_delay(const char *ip, unsigned base_ms)
{
	struct penalty_entry *e;
	uint64_t d = base_ms;
	unsigned n;

	shared_lock();
	e = find(ip, mono_ms());
	n = e ? e->failures : 0;
	shared_unlock();
	for (; n > 0 && d < PENALTY_MAX_MS; n--)
		d *= 2;
	return d > PENALTY_MAX_MS ? PENALTY_MAX_MS : (unsigned)d;
}

void auth_penalty_fail(const char *ip)
{
	uint64_t now = mono_ms();
	struct penalty_entry *e, *victim = NULL;
	size_t i;

	shared_lock();
	e = find(ip, now);
	if (e) {
		if (e->failures < 64)
			e->failures++;
		e->last_ms = now;
		shared_unlock();
		return;
	}
	for (i = 0; i < PENALTY_SLOTS; i++) {
		struct penalty_entry *c = &penalty_table[i];

		if (expired(c, now)) {
			victim = c;
			break;
		}
		if (!victim || c->last_ms < victim->last_ms)
			victim = c;
	}
	victim->hash = ip_hash(ip);
	victim->failures = 1;
	victim->last_ms = now;
	strncpy(victim->ip, ip, sizeof(victim->ip) - 1);
	victim->ip[sizeof(victim->ip) - 1] = '\0';
	shared_unlock();
}

void auth_penalty_success(const char *ip)
{
	struct penalty_entry *e;

	shared_lock();
	e = find(ip, mono_ms());
	if (e)
		e->failures = 0;
	shared_unlock();
}
