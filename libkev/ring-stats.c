// SPDX-License-Identifier: MIT
/*
 * ring-stats.c - kevent_ring_stats_consume() (KEVENT_1.2): the consumer's
 * half of the statistics, called by the inline kevent_ring_advance() of
 * <kevent.h> while a ring's statistics are on.  Plain C and on its own,
 * so that the module's test programs (tests/vm), which talk to
 * /dev/kevent without the library, compile the same function.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <time.h>

#include <kevent.h>

/*
 * One count per stamped entry of the n from ring index u, in the
 * consumer's histogram.  The consumer owns those entries until it releases
 * them, and only it writes this histogram.  Nothing of the ring is trusted
 * but what is indexed with its own mask, and an offset that is not where
 * the statistics are (user space may have written over it) counts nothing.
 */
__attribute__((visibility("default"))) void
kevent_ring_stats_consume(struct kevent_ring *ring, unsigned int u,
			  unsigned int n)
{
	const uint32_t off = kevent_load_relaxed(&ring->stats_offset);
	const struct ukevent *e = kevent_ring_entries(ring);
	struct kevent_stats *st;
	struct timespec ts;
	uint64_t now;

	if (!off || off != KEVENT_RING_BYTES(ring->size) ||
	    clock_gettime(CLOCK_MONOTONIC, &ts))
		return;
	st = (struct kevent_stats *)(void *)((char *)ring + off);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	for (; n; n--, u++) {
		const uint64_t stamp = e[u & ring->mask].stamp;
		__u64 *h;

		if (!stamp)	/* published while statistics were off */
			continue;
		h = &st->publish_to_consume[kevent__stats_bucket(
			now > stamp ? now - stamp : 0)];
		kevent_store_relaxed(h, *h + 1);
	}
}
