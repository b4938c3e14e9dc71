// SPDX-License-Identifier: MIT
/*
 * Statistics (issue 20): the counters of the ring header, the latency
 * histograms after the entries (struct kevent_stats), the entries' stamp,
 * and KEVENT_OPT_STATS.  kevent(7), "Statistics", states the contract these
 * tests check on every backend:
 *
 *   published, deferred, coalesced, waits and sleeps are always counted;
 *   while KEVENT_RING_STATS is set, each entry carries its publication
 *   time, the producer counts fire-to-publish latencies and the inline
 *   consumption functions count publish-to-consume latencies, one per
 *   entry; while it is clear, stamp is 0 and the histograms do not move.
 *
 * Latencies are checked only for their lower bound (a sleep the test made
 * happen), never for an upper one: tests do not assert on timing.
 */
#include "helpers.h"

static struct kevent_stats *stats_of(struct kevent_ring *ring)
{
	cr_assert_neq(ring->stats_offset, 0, "the ring has statistics");
	return (struct kevent_stats *)(void *)((char *)ring +
					       ring->stats_offset);
}

static uint64_t sum(const __u64 *h)
{
	uint64_t s = 0;

	for (unsigned int i = 0; i < KEVENT_STATS_BUCKETS; i++)
		s += h[i];
	return s;
}

/* The highest non-empty bucket, or -1. */
static int top_bucket(const __u64 *h)
{
	for (int i = KEVENT_STATS_BUCKETS - 1; i >= 0; i--)
		if (h[i])
			return i;
	return -1;
}

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rd(const volatile __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static struct ukevent user(uint64_t id)
{
	return ev_make(KEVENT_USER, id, 0, 0, 0, id);
}

static void ready(int fd, uint64_t id)
{
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, user(id)), 0);
}

static int stats_set(int fd, uint64_t on)
{
	errno = 0;
	return kevent_setopt(fd, KEVENT_OPT_STATS, on) == 0 ? 0 : errno;
}

Test(stats, off_by_default_and_the_option)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	uint64_t v = 7;

	cr_assert_eq(ring->stats_offset, KEVENT_RING_BYTES(8),
		     "stats_offset %u", ring->stats_offset);
	cr_assert_eq(ring->flags & KEVENT_RING_STATS, 0);
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_STATS, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(sum(stats_of(ring)->fire_to_publish), 0);
	cr_assert_eq(sum(stats_of(ring)->publish_to_consume), 0);
	cr_assert_eq(stats_set(fd, 2), EINVAL);
	cr_assert_eq(stats_set(fd, UINT64_MAX), EINVAL);
	cr_assert_eq(stats_set(fd, 1), 0);
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_STATS, &v), 0);
	cr_assert_eq(v, 1);
	cr_assert_neq(ring->flags & KEVENT_RING_STATS, 0);
	cr_assert_eq(stats_set(fd, 1), 0, "on twice");
	cr_assert_eq(stats_set(fd, 0), 0);
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_STATS, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(ring->flags & KEVENT_RING_STATS, 0);
	kevent_close(fd);
	cr_assert_eq(stats_set(fd, 1), EBADF);
}

/* published, coalesced, deferred: counted with statistics off too. */
Test(stats, publication_counters)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 2);
	struct ukevent e;
	uint64_t p0 = rd(&ring->published), c0 = rd(&ring->coalesced);
	uint64_t d0 = rd(&ring->deferred);

	for (uint64_t id = 1; id <= 3; id++)
		add_ok(fd, user(id));
	ready(fd, 1);
	cr_assert_eq(wait_ms(fd, 1, 1000), 1);
	cr_assert_eq(rd(&ring->published), p0 + 1);
	/* two more firings of the queued entry merge into its next one */
	ready(fd, 1);
	ready(fd, 1);
	cr_assert_eq(rd(&ring->coalesced), c0 + 2, "coalesced %llu",
		     (unsigned long long)(rd(&ring->coalesced) - c0));
	/* 2 and 3 for a ring of 2 that holds 1: 3 waits (deferred) */
	ready(fd, 2);
	ready(fd, 3);
	cr_assert_eq(kevent_ring_count(ring), 2);
	cr_assert_geq(rd(&ring->deferred), d0 + 1, "deferred");
	cr_assert_eq(rd(&ring->published), p0 + 2);
	cr_assert_eq(kevent_ring_consume(ring, &e), 1);
	cr_assert_eq(e.id, 1);
	cr_assert_eq(e.ret_data, 1, "a USER entry counts its firings");
	cr_assert_eq(kevent_ring_consume(ring, &e), 1);
	cr_assert_eq(e.id, 2);
	/* the consumer passed 1: its coalesced firings and 3 come next */
	cr_assert_eq(wait_ms(fd, 2, 1000), 2);
	cr_assert_eq(rd(&ring->published), p0 + 4);
	kevent_close(fd);
}

/* waits counts every kevent_wait(); sleeps only those that blocked. */
Test(stats, wait_counters)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	uint64_t w0 = rd(&ring->waits), s0 = rd(&ring->sleeps);

	add_ok(fd, user(1));
	ready(fd, 1);
	cr_assert_eq(wait_ms(fd, 1, 1000), 1);
	cr_assert_eq(rd(&ring->waits), w0 + 1);
	cr_assert_eq(rd(&ring->sleeps), s0, "an entry was there: no sleep");
	cr_assert_eq(wait_ms(fd, 2, 20), 1, "times out with one entry");
	cr_assert_eq(rd(&ring->waits), w0 + 2);
	cr_assert_geq(rd(&ring->sleeps), s0 + 1, "the timed-out wait slept");
	const uint64_t s1 = rd(&ring->sleeps);
	cr_assert_eq(wait_ms(fd, 2, 0), 1, "a poll");
	cr_assert_eq(rd(&ring->waits), w0 + 3);
	cr_assert_eq(rd(&ring->sleeps), s1, "a poll does not sleep");
	kevent_close(fd);
}

/* Stamps: the publication time while on, 0 while off. */
Test(stats, entries_carry_their_publication_time)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent e;

	add_ok(fd, user(1));
	ready(fd, 1);
	cr_assert(take(fd, ring, &e, 1000));
	cr_assert_eq(e.stamp, 0, "statistics off");
	cr_assert_eq(stats_set(fd, 1), 0);
	const uint64_t t0 = mono_now();

	ready(fd, 1);
	cr_assert_eq(wait_ms(fd, 1, 1000), 1);
	const uint64_t t1 = mono_now();

	cr_assert_eq(kevent_ring_consume(ring, &e), 1);
	cr_assert_geq(e.stamp, t0, "stamp %llu before %llu",
		      (unsigned long long)e.stamp, (unsigned long long)t0);
	cr_assert_leq(e.stamp, t1);
	cr_assert_eq(stats_set(fd, 0), 0);
	ready(fd, 1);
	cr_assert(take(fd, ring, &e, 1000));
	cr_assert_eq(e.stamp, 0, "off again");
	kevent_close(fd);
}

/*
 * One fire-to-publish count per entry published while on, one
 * publish-to-consume count per stamped entry the inline functions release
 * (kevent_ring_consume and kevent_ring_peek + kevent_ring_advance alike);
 * nothing while off.
 */
Test(stats, one_count_per_entry_and_none_while_off)
{
	enum { N = 20 };
	struct kevent_ring *ring;
	int fd = q_open(&ring, 32);
	struct kevent_stats *st = stats_of(ring);
	struct ukevent e;
	unsigned int got = 0;

	for (uint64_t id = 0; id < N; id++)
		add_ok(fd, user(id));
	/* published while off, consumed while on: stamp 0, not counted */
	ready(fd, 0);
	cr_assert_eq(wait_ms(fd, 1, 1000), 1);
	cr_assert_eq(stats_set(fd, 1), 0);
	cr_assert_eq(kevent_ring_consume(ring, &e), 1);
	cr_assert_eq(e.stamp, 0);
	cr_assert_eq(sum(st->publish_to_consume), 0);
	cr_assert_eq(sum(st->fire_to_publish), 0);
	for (uint64_t id = 0; id < N; id++)
		ready(fd, id);
	cr_assert_eq(wait_ms(fd, N, 1000), N);
	cr_assert_eq(sum(st->fire_to_publish), N);
	/* half by consume, half by peek and advance */
	while (got < N / 2 && kevent_ring_consume(ring, &e) == 1)
		got++;
	const struct ukevent *p;

	while ((p = kevent_ring_peek(ring)) != NULL) {
		cr_assert_neq(p->stamp, 0);
		kevent_ring_advance(ring, 1);
		got++;
	}
	cr_assert_eq(got, N);
	cr_assert_eq(sum(st->publish_to_consume), N);
	/* off: nothing moves */
	cr_assert_eq(stats_set(fd, 0), 0);
	for (uint64_t id = 0; id < N; id++)
		ready(fd, id);
	cr_assert_eq(wait_ms(fd, N, 1000), N);
	while (kevent_ring_consume(ring, &e) == 1)
		cr_assert_eq(e.stamp, 0);
	cr_assert_eq(sum(st->fire_to_publish), N);
	cr_assert_eq(sum(st->publish_to_consume), N);
	kevent_close(fd);
}

/*
 * A registration that waits on the ready list (the ring is full) for
 * 5 ms is counted at least 2^22 ns (4.2 ms) from firing to publication;
 * an entry left in the ring for 5 ms at least 2^22 ns from publication to
 * consumption.  Registrations ready when statistics are switched on count
 * from the switch.
 */
Test(stats, latencies_of_a_full_ring_and_a_slow_consumer)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 1);
	struct kevent_stats *st = stats_of(ring);
	struct ukevent e;

	add_ok(fd, user(1));
	add_ok(fd, user(2));
	cr_assert_eq(stats_set(fd, 1), 0);
	ready(fd, 1);
	ready(fd, 2);			/* the ring is full: 2 waits */
	cr_assert_eq(sum(st->fire_to_publish), 1);
	usleep(5000);
	cr_assert_eq(kevent_ring_consume(ring, &e), 1);
	cr_assert_eq(e.id, 1);
	cr_assert_geq(top_bucket(st->publish_to_consume), 22,
		      "1 sat 5 ms in the ring: bucket %d",
		      top_bucket(st->publish_to_consume));
	cr_assert_eq(wait_ms(fd, 1, 1000), 1);
	cr_assert_eq(sum(st->fire_to_publish), 2);
	cr_assert_geq(top_bucket(st->fire_to_publish), 22,
		      "2 waited 5 ms for a slot: bucket %d",
		      top_bucket(st->fire_to_publish));
	cr_assert_eq(kevent_ring_consume(ring, &e), 1);
	cr_assert_eq(e.id, 2);
	kevent_close(fd);
}

/* A statistics bucket is the floor of log2 of the latency, capped. */
Test(stats, bucket_rule)
{
	cr_assert_eq(kevent__stats_bucket(0), 0);
	cr_assert_eq(kevent__stats_bucket(1), 0);
	cr_assert_eq(kevent__stats_bucket(2), 1);
	cr_assert_eq(kevent__stats_bucket(3), 1);
	cr_assert_eq(kevent__stats_bucket(1024), 10);
	cr_assert_eq(kevent__stats_bucket(2047), 10);
	cr_assert_eq(kevent__stats_bucket(1ull << 31), 31);
	cr_assert_eq(kevent__stats_bucket(UINT64_MAX), 31);
}
