/* shared.h - what the worker processes of one daemon share.
 *
 * With [server] workers = N > 1 a daemon forks N worker processes
 * (core/daemon.c), each with its own loop and sessions. What must hold
 * for the daemon as a whole lives in one anonymous MAP_SHARED mapping,
 * created by shared_init() before the first fork and inherited by every
 * worker (a restarted one too):
 *
 *   - per worker slot: its counters (struct control_counts, written only
 *     by that worker with plain stores, summed by any reader), its session
 *     gauge and its pid;
 *   - per worker slot: two count tables, one keyed by remote address
 *     (per-IP connection limit), one by user name (per-user session
 *     limit). A key's count is the sum over the slots, so the master can
 *     forget a dead worker's connections by clearing its slot;
 *   - the auth-failure penalty table (core/penalty.c), behind a lock.
 *
 * The count tables are bounded (SHARED_BUCKETS per row, two rows with
 * independent hashes, like a count-min sketch): a key's count is the
 * smaller of its two bucket sums, so a collision can only make it larger
 * (a limit refuses early, never lets too many in). Updates are atomic;
 * a process adds to its own slot first and then reads every slot, so of
 * two workers racing for the last place at least one sees the other (both
 * may be refused: conservative).
 *
 * Without shared_init (one process, unit tests, tandemctl) the same
 * functions work on process memory with one slot.
 */
#ifndef TANDEM_SHARED_H
#define TANDEM_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "control.h"

#define SHARED_WORKERS_MAX 256
#define SHARED_BUCKETS 4096
#define SHARED_PENALTY_BYTES (96 * 1024)

enum shared_kind {
	SHARED_IP,   /* connections by remote address (core/conn.c) */
	SHARED_USER, /* logged-in sessions by user (core/control.c) */
	SHARED_KINDS
};

/* Creates the shared mapping for workers slots (1..SHARED_WORKERS_MAX);
 * the calling process uses slot 0 until shared_worker_enter. Call once,
 * before forking. Fatal when the mapping cannot be made. */
void shared_init(unsigned workers);
/* A connection id no other connection of the daemon had, in any worker
 * or any earlier incarnation of one (the log's sid=: journald files a
 * worker's stderr lines under the master's pid, so ids unique only per
 * process would name two sessions alike). */
uint64_t shared_next_id(void);
/* Slots in the mapping (1 without shared_init). */
unsigned shared_workers(void);
/* In worker i after the fork: its counters, gauge and tables are slot i
 * from now on (a restarted worker inherits the slot's counters; its
 * tables were cleared by shared_worker_reset). */
void shared_worker_enter(unsigned i);
/* The slot this process writes (0 unless shared_worker_enter). */
unsigned shared_worker_index(void);
/* Master, after worker i (pid) exited: its sessions are gone, so its
 * gauge and count tables are cleared (counters stay: they are totals
 * since the daemon started) and a penalty lock it held is released. */
void shared_worker_reset(unsigned i, pid_t pid);

/* Adds delta to key's count in this process's slot; returns the
 * daemon-wide count after the change (see above: never below the truth).
 * key is a NUL-terminated string, compared by hash only. */
unsigned shared_count_add(enum shared_kind kind, const char *key, int delta);
/* The daemon-wide count of key (never below the truth). */
unsigned shared_count_get(enum shared_kind kind, const char *key);
/* The same with a hash from shared_hash (to release what was added
 * without keeping the string). */
uint64_t shared_hash(const char *key);
unsigned shared_count_add_hash(enum shared_kind kind, uint64_t h, int delta);

/* This process's sessions gauge (registered sessions now). */
void shared_sessions_set(uint64_t n);
/* Sums over every slot: counters and sessions. */
void shared_counts_total(struct control_counts *out, uint64_t *sessions_r);
/* uv_hrtime() at shared_init (the daemon's start), 0 without it. */
uint64_t shared_started_ns(void);

/* The penalty table: SHARED_PENALTY_BYTES of zeroed shared memory, and
 * the lock held while it is read or changed (never across a call that
 * can block; not recursive). */
void *shared_penalty_area(void);
void shared_lock(void);
void shared_unlock(void);

#endif
