/* SPDX-License-Identifier: MIT */
/*
 * kevent.h - libkev: one queue for every kind of event, delivered through a
 * ring shared with the producer.  See kevent(7).
 *
 * Link with -lkev (pkg-config --cflags --libs libkev).
 * Errors are glibc style: -1 and errno.
 */
#ifndef _KEVENT_H
#define _KEVENT_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/select.h>	/* sigset_t and struct timespec in strict ISO C */
#include <time.h>

#include <kevent/abi.h>
#include <kevent/barrier.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LIBKEV_VERSION_MAJOR	1
#define LIBKEV_VERSION_MINOR	2

struct timespec;	/* complete in <time.h> from C11 or POSIX on */

/* Queue functions (kevent_init(2), kevent_ctl(2), kevent_wait(2)). */
int kevent_init(struct kevent_ring **ring, unsigned int ring_size,
		unsigned int flags);
int kevent_ctl(int fd, unsigned int cmd, unsigned int num,
	       struct ukevent *events);
int kevent_wait(int fd, unsigned int min_nr, const struct timespec *timeout);
int kevent_pwait(int fd, unsigned int min_nr, const struct timespec *timeout,
		 const sigset_t *sigmask);
int kevent_close(int fd);
const char *kevent_backend(int fd);
/* Queue options, KEVENT_OPT_* (kevent_setopt(2)); since libkev 1.1. */
int kevent_setopt(int fd, unsigned int opt, uint64_t value);
int kevent_getopt(int fd, unsigned int opt, uint64_t *value);

/*
 * The ring functions below are static inline for C and C++ callers.  libkev
 * also exports each one, under the same name and with the same semantics,
 * for FFI users (ctypes, cffi, ...) that cannot compile a header; libkev
 * builds those copies by defining KEVENT_EXPORT_INLINES before including
 * this header.  See kevent_ring_consume(3).
 */
#ifdef KEVENT_EXPORT_INLINES
#define KEVENT_INLINE __attribute__((visibility("default")))
#else
#define KEVENT_INLINE static inline
#endif

/* ---- Inline ring consumption: no system call while the ring has events. */

/* The entry array of a ring. */
KEVENT_INLINE struct ukevent *
kevent_ring_entries(const struct kevent_ring *ring)
{
	return (struct ukevent *)(void *)
		((char *)(void *)(ring) + KEVENT_RING_ENTRIES_OFFSET);
}

/* Number of published entries not yet consumed. */
KEVENT_INLINE unsigned int
kevent_ring_count(const struct kevent_ring *ring)
{
	return kevent_load_acquire(&ring->kidx) -
	       kevent_load_relaxed(&ring->uidx);
}

/* Non-zero when the ring holds no entry. */
KEVENT_INLINE int
kevent_ring_empty(const struct kevent_ring *ring)
{
	return kevent_ring_count(ring) == 0;
}

/* The oldest unconsumed entry, or NULL if the ring is empty. */
KEVENT_INLINE const struct ukevent *
kevent_ring_peek(const struct kevent_ring *ring)
{
	unsigned int u = kevent_load_relaxed(&ring->uidx);

	if (kevent_load_acquire(&ring->kidx) == u)
		return (const struct ukevent *)0;
	return &kevent_ring_entries(ring)[u & ring->mask];
}

/*
 * The histogram bucket of a latency of d ns (struct kevent_stats).  Not
 * part of the API: used by the functions below and by libkev.
 */
static inline unsigned int kevent__stats_bucket(uint64_t d)
{
	unsigned int b = d < 2 ? 0 : 63u - (unsigned int)__builtin_clzll(d);

	return b < KEVENT_STATS_BUCKETS ? b : KEVENT_STATS_BUCKETS - 1;
}

/*
 * Statistics on (KEVENT_OPT_STATS): count the publication-to-consumption
 * latency of the n entries from index u, which the caller is about to
 * release.  Called by kevent_ring_advance(); since libkev 1.2.
 */
void kevent_ring_stats_consume(struct kevent_ring *ring, unsigned int u,
			       unsigned int n);

/*
 * Release the n oldest entries to the producer.  n must not exceed
 * kevent_ring_count(); entries must not be read after they are released.
 */
KEVENT_INLINE void
kevent_ring_advance(struct kevent_ring *ring, unsigned int n)
{
	unsigned int u = kevent_load_relaxed(&ring->uidx);

	if (__builtin_expect(kevent_load_relaxed(&ring->flags) &
			     KEVENT_RING_STATS, 0))
		kevent_ring_stats_consume(ring, u, n);
	kevent_store_release(&ring->uidx, u + n);
}

/* Copy the oldest entry to *out and release it: 1, or 0 if the ring is empty. */
KEVENT_INLINE int
kevent_ring_consume(struct kevent_ring *ring, struct ukevent *out)
{
	const struct ukevent *e = kevent_ring_peek(ring);

	if (!e)
		return 0;
	*out = *e;
	kevent_ring_advance(ring, 1);
	return 1;
}

/*
 * Take one event: from the ring if it holds one, else sleep in kevent_wait()
 * and retry.  0 on success; -1 with errno ETIMEDOUT when the timeout passes,
 * EINTR on a signal, or an error of kevent_wait().
 */
KEVENT_INLINE int
ukevent_dequeue(int fd, struct kevent_ring *ring, struct ukevent *out,
		const struct timespec *timeout)
{
	for (;;) {
		int n;

		if (kevent_ring_consume(ring, out))
			return 0;
		n = kevent_wait(fd, 1, timeout);
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
}

#ifdef __cplusplus
}
#endif

#endif /* _KEVENT_H */
