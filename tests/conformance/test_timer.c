// SPDX-License-Identifier: MIT
/* Conformance: KEVENT_TIMER - periodic, one-shot, absolute, three clocks. */
#include <unistd.h>

#include "helpers.h"

#define MS 1000000ull

Test(timer, periodic_counts_expirations)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	struct timespec d = ms_ts(200);
	uint64_t total = 0, t0, elapsed;

	t0 = now_ns(CLOCK_MONOTONIC);
	add_ok(fd, ev_make(KEVENT_TIMER, 1, KEVENT_TIMER_MONOTONIC, 0,
			   10 * MS, 0));
	nanosleep(&d, NULL);	/* ~20 expirations, coalesced */
	cr_assert(take(fd, ring, &out, 1000));
	elapsed = now_ns(CLOCK_MONOTONIC) - t0;
	cr_assert_eq(out.type, KEVENT_TIMER);
	cr_assert_eq(out.data, 10 * MS);
	/*
	 * Bounds from the time that really passed (the machine may be
	 * slow): at least one expiration, never more than could be due.
	 */
	cr_assert_geq(out.ret_data, 1);
	cr_assert_leq(out.ret_data, elapsed / (10 * MS), "got %llu in %llu ns",
		      (unsigned long long)out.ret_data,
		      (unsigned long long)elapsed);
	total = out.ret_data;
	cr_assert(take(fd, ring, &out, 1000), "periodic: fires again");
	total += out.ret_data;
	cr_assert_geq(total, 2);
	kevent_close(fd);
}

Test(timer, oneshot_relative)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);

	add_ok(fd, ev_make(KEVENT_TIMER, 2, 0, KEVENT_REQ_ONESHOT, 30 * MS, 0));
	cr_assert(take(fd, ring, &out, 2000));
	cr_assert_geq(now_ns(CLOCK_MONOTONIC) - t0, 30 * MS, "never early");
	cr_assert_eq(out.ret_data, 1);
	cr_assert(out.ret_flags & KEVENT_RET_REMOVED);
	expect_none(fd, ring, 60);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_TIMER, 2, 0, 0, 0, 0)), ENOENT);
	kevent_close(fd);
}

static void abs_timer(unsigned int clk_flag, clockid_t clk)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	uint64_t deadline = now_ns(clk) + 30 * MS;

	add_ok(fd, ev_make(KEVENT_TIMER, 3, clk_flag | KEVENT_TIMER_ABSTIME, 0,
			   deadline, 0));
	cr_assert(take(fd, ring, &out, 2000));
	cr_assert_geq(now_ns(clk), deadline, "never early");
	cr_assert_eq(out.event, clk_flag | KEVENT_TIMER_ABSTIME);
	cr_assert_eq(out.ret_data, 1);
	cr_assert_eq(out.ret_flags & KEVENT_RET_REMOVED, 0,
		     "absolute without ONESHOT stays registered");
	expect_none(fd, ring, 60);
	/* MODIFY re-arms it */
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY,
			  ev_make(KEVENT_TIMER, 3, clk_flag | KEVENT_TIMER_ABSTIME,
				  0, now_ns(clk) + 10 * MS, 0)), 0);
	cr_assert(take(fd, ring, &out, 2000));
	kevent_close(fd);
}

Test(timer, absolute_monotonic)
{
	abs_timer(KEVENT_TIMER_MONOTONIC, CLOCK_MONOTONIC);
}

Test(timer, absolute_realtime)
{
	abs_timer(KEVENT_TIMER_REALTIME, CLOCK_REALTIME);
}

Test(timer, absolute_boottime)
{
	abs_timer(KEVENT_TIMER_BOOTTIME, CLOCK_BOOTTIME);
}

Test(timer, relative_on_each_clock)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	unsigned int seen = 0, i;

	for (i = 0; i < 3; i++)
		add_ok(fd, ev_make(KEVENT_TIMER, 10 + i, i, KEVENT_REQ_ONESHOT,
				   (5 + 5 * i) * MS, 0));
	for (i = 0; i < 3; i++) {
		cr_assert(take(fd, ring, &out, 2000));
		seen |= 1u << (out.id - 10);
	}
	cr_assert_eq(seen, 7);
	kevent_close(fd);
}

Test(timer, absolute_in_the_past_fires_at_once)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;

	add_ok(fd, ev_make(KEVENT_TIMER, 4, KEVENT_TIMER_ABSTIME,
			   KEVENT_REQ_ONESHOT, 1, 0));
	cr_assert(take(fd, ring, &out, 1000));
	kevent_close(fd);
}

Test(timer, remove_cancels)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);

	add_ok(fd, ev_make(KEVENT_TIMER, 5, 0, 0, 20 * MS, 0));
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_TIMER, 5, 0, 0, 0, 0)), 0);
	expect_none(fd, ring, 60);
	kevent_close(fd);
}

Test(timer, ordering_of_many_timers)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 512);
	struct ukevent out;
	unsigned int i, n = 300;
	uint64_t last = 0;

	/*
	 * Absolute deadlines from one base, added in a scrambled order:
	 * delivered by deadline however long the adds take.
	 */
	uint64_t base = now_ns(CLOCK_MONOTONIC) + 50 * MS;

	for (i = 0; i < n; i++) {
		uint64_t k = (i * 7919u) % n;

		add_ok(fd, ev_make(KEVENT_TIMER, k, KEVENT_TIMER_ABSTIME,
				   KEVENT_REQ_ONESHOT, base + k * 200000ull, 0));
	}
	/* cancel a third */
	for (i = 0; i < n; i += 3)
		cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
				  ev_make(KEVENT_TIMER, i, 0, 0, 0, 0)), 0);
	for (i = 0; i < n - (n + 2) / 3; i++) {
		cr_assert(take(fd, ring, &out, 2000), "timer %u", i);
		cr_assert_neq(out.id % 3, 0, "cancelled timer fired");
		cr_assert_geq(out.id + 1, last, "order");
		last = out.id;
	}
	expect_none(fd, ring, 30);
	kevent_close(fd);
}
