// SPDX-License-Identifier: MIT
/* Conformance: KEVENT_TIMER - periodic, one-shot, absolute, three clocks. */
#include <unistd.h>

#include "helpers.h"

#define MS 1000000ull

/*
 * Expirations are counted, coalesced and never lost: every deadline that
 * passed while nobody consumed is in the counts of the next two deliveries
 * (the first may have been published at the first expiration, by the kmod
 * backend).  And none is counted before its deadline: the n-th counted
 * expiration is due at the ADD plus n intervals, which cannot be later
 * than a clock reading taken after its delivery (an ordering, not a
 * duration: a slow machine only widens it).
 */
Test(timer, periodic_counts_expirations)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	struct timespec d = ms_ts(200);
	uint64_t total, before_add;
	int i;

	before_add = now_ns(CLOCK_MONOTONIC);
	add_ok(fd, ev_make(KEVENT_TIMER, 1, KEVENT_TIMER_MONOTONIC, 0,
			   10 * MS, 0));
	/* at least 200 ms pass: at least 20 deadlines are due after it */
	nanosleep(&d, NULL);
	total = 0;
	for (i = 0; i < 2; i++) {
		cr_assert(take(fd, ring, &out, 60000));
		cr_assert_eq(out.type, KEVENT_TIMER);
		cr_assert_eq(out.id, 1);
		cr_assert_eq(out.data, 10 * MS);
		cr_assert_geq(out.ret_data, 1);
		total += out.ret_data;
		cr_assert_leq(before_add + total * 10 * MS,
			      now_ns(CLOCK_MONOTONIC),
			      "expiration %llu counted before its deadline",
			      (unsigned long long)total);
	}
	cr_assert_geq(total, 20, "expirations lost: %llu",
		      (unsigned long long)total);
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

/*
 * A periodic timer of 100 ms removed before its first expiry never fires.
 * If the machine took 100 ms between the ADD and the REMOVE (a slow debug
 * guest), the timer may have fired already, legitimately: try again.
 */
Test(timer, remove_cancels)
{
	for (int attempt = 0;; attempt++) {
		struct kevent_ring *ring;
		int fd = q_open(&ring, 8);
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		add_ok(fd, ev_make(KEVENT_TIMER, 5, 0, 0, 100 * MS, 0));
		cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
				  ev_make(KEVENT_TIMER, 5, 0, 0, 0, 0)), 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		const long long took = (t1.tv_sec - t0.tv_sec) * 1000000000LL +
				       (t1.tv_nsec - t0.tv_nsec);

		if (took < (long long)(100 * MS)) {
			expect_none(fd, ring, 250);
			kevent_close(fd);
			return;
		}
		kevent_close(fd);
		cr_assert_lt(attempt, 20, "ADD and REMOVE took >= 100 ms "
			     "20 times in a row");
	}
}

Test(timer, ordering_of_many_timers)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 512);
	struct ukevent out, *e;
	unsigned int i, n = 300, got = 0;
	uint64_t last = 0, margin = 50 * MS, base;
	unsigned char seen[300];

	/*
	 * Absolute deadlines from one base, added in one batch in a scrambled
	 * order, all in the future when the batch returns: delivered by
	 * deadline.  If the machine was too slow for the margin (the clock
	 * passed the base before the batch returned), start again with a
	 * larger one: whatever the speed, the order is checked.
	 */
	e = calloc(n, sizeof(*e));
	cr_assert_not_null(e);
	for (;;) {
		unsigned int c = 0;
		int r;

		base = now_ns(CLOCK_MONOTONIC) + margin;
		for (i = 0; i < n; i++) {
			uint64_t k = (i * 7919u) % n;

			e[i] = ev_make(KEVENT_TIMER, k, KEVENT_TIMER_ABSTIME,
				       KEVENT_REQ_ONESHOT, base + k * 200000ull,
				       k);
		}
		cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_ADD, n, e), (int)n);
		/* cancel a third, in one batch too */
		for (i = 0; i < n; i += 3)
			e[c++] = ev_make(KEVENT_TIMER, i, 0, 0, 0, 0);
		r = kevent_ctl(fd, KEVENT_CTL_REMOVE, c, e);
		if (now_ns(CLOCK_MONOTONIC) < base) {
			/* nothing had expired: every cancel must have worked */
			cr_assert_eq(r, (int)c, "cancelled %d of %u", r, c);
			break;
		}
		cr_assert_lt(margin, 60000 * MS, "the clock runs away");
		/* too slow: take them all back and try a larger margin */
		for (i = 0; i < n; i++)
			e[i] = ev_make(KEVENT_TIMER, i, 0, 0, 0, 0);
		cr_assert_geq(kevent_ctl(fd, KEVENT_CTL_REMOVE, n, e), 0);
		while (wait_ms(fd, 1, 0) > 0)
			kevent_ring_advance(ring, kevent_ring_count(ring));
		margin *= 4;
	}
	free(e);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < n - (n + 2) / 3; i++) {
		cr_assert(take(fd, ring, &out, 60000), "timer %u", i);
		cr_assert_lt(out.id, n);
		cr_assert_eq(out.user, out.id);
		cr_assert_neq(out.id % 3, 0, "cancelled timer %llu fired",
			      (unsigned long long)out.id);
		cr_assert_eq(seen[out.id], 0, "timer %llu fired twice",
			     (unsigned long long)out.id);
		seen[out.id] = 1;
		got++;
		/*
		 * By deadline; two timers 0.2 ms apart that expire on two
		 * CPUs (kmod) may swap.
		 */
		cr_assert_geq(out.id + 1, last, "order: %llu after %llu",
			      (unsigned long long)out.id,
			      (unsigned long long)last);
		last = out.id;
	}
	cr_assert_eq(got, n - (n + 2) / 3);
	expect_none(fd, ring, 30);
	kevent_close(fd);
}

/* ---- KEVENT_OPT_TIMER_SLACK (kevent_setopt(2)) */

static int setopt_errno(int fd, unsigned int opt, uint64_t value)
{
	errno = 0;
	if (kevent_setopt(fd, opt, value) == 0)
		return 0;
	cr_assert_eq(kevent_setopt(fd, opt, value), -1);
	return errno;
}

Test(timer_slack, default_get_set_and_errors)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8), p[2];
	uint64_t v = 1;

	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_TIMER_SLACK, &v), 0);
	cr_assert_eq(v, KEVENT_TIMER_SLACK_DEFAULT, "default %llu",
		     (unsigned long long)v);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_TIMER_SLACK, 0), 0);
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_TIMER_SLACK, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_TIMER_SLACK,
				  KEVENT_TIMER_SLACK_MAX), 0);
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_TIMER_SLACK, &v), 0);
	cr_assert_eq(v, KEVENT_TIMER_SLACK_MAX);
	/* out of range, unknown options: EINVAL, the value unchanged */
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_TIMER_SLACK,
				  KEVENT_TIMER_SLACK_MAX + 1), EINVAL);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_TIMER_SLACK, UINT64_MAX),
		     EINVAL);
	cr_assert_eq(setopt_errno(fd, 0, 1), EINVAL);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_MAX, 1), EINVAL);
	cr_assert_eq(setopt_errno(fd, 0xffffffffu, 1), EINVAL);
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_TIMER_SLACK, &v), 0);
	cr_assert_eq(v, KEVENT_TIMER_SLACK_MAX);
	errno = 0;
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_MAX, &v), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_TIMER_SLACK, NULL), -1);
	cr_assert_eq(errno, EFAULT);
	/* not a queue: EINVAL; not a descriptor: EBADF (as kevent_ctl) */
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(setopt_errno(p[0], KEVENT_OPT_TIMER_SLACK, 0), EINVAL);
	errno = 0;
	cr_assert_eq(kevent_getopt(p[0], KEVENT_OPT_TIMER_SLACK, &v), -1);
	cr_assert_eq(errno, EINVAL);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(setopt_errno(p[0], KEVENT_OPT_TIMER_SLACK, 0), EBADF);
	cr_assert_eq(setopt_errno(-1, KEVENT_OPT_TIMER_SLACK, 0), EBADF);
	/* bad fd and bad option: the fd's error wins, as in kevent_ctl */
	cr_assert_eq(setopt_errno(-1, 0, 0), EBADF);
	kevent_close(fd);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_TIMER_SLACK, 0), EBADF);
}

/*
 * A timer's slack is the one in force when it started: the option changes
 * only while the queue has no timer (EBUSY), and each queue has its own.
 */
Test(timer_slack, busy_while_the_queue_has_timers)
{
	struct kevent_ring *ring, *ring2;
	int fd = q_open(&ring, 8), fd2 = q_open(&ring2, 8);
	struct ukevent t = ev_make(KEVENT_TIMER, 7, 0, 0, 1000 * MS, 0);
	uint64_t v;

	add_ok(fd, t);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_TIMER_SLACK, 0), EBUSY);
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_TIMER_SLACK, &v), 0);
	cr_assert_eq(v, KEVENT_TIMER_SLACK_DEFAULT, "unchanged by EBUSY");
	cr_assert_eq(setopt_errno(fd2, KEVENT_OPT_TIMER_SLACK, 5 * MS), 0,
		     "another queue is free to change");
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_TIMER_SLACK, &v), 0);
	cr_assert_eq(v, KEVENT_TIMER_SLACK_DEFAULT, "per queue");
	/* other types do not count */
	add_ok(fd2, ev_make(KEVENT_USER, 7, 0, 0, 0, 0));
	cr_assert_eq(setopt_errno(fd2, KEVENT_OPT_TIMER_SLACK, 6 * MS), 0);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE, t), 0);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_TIMER_SLACK, 0), 0);
	kevent_close(fd);
	kevent_close(fd2);
}

/*
 * kevent(7), "Timer slack": with a slack, a timer is still never delivered
 * before its deadline.  The user-space backends arm the wake-up for the
 * end of the earliest timer's slack and then fire everything due, so two
 * timers 180 ms apart with a slack of 400 ms arrive together; the kernel
 * module gives the range to the hrtimer code, which may expire a timer
 * anywhere in it, so there only "never early" is a promise.
 */
Test(timer_slack, never_early_and_batched_within_the_slack)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	uint64_t t0, seen[2] = {0, 0};
	int first, got = 0;
	const bool kmod = !strcmp(kevent_backend(fd), "kmod");

	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_TIMER_SLACK, 400 * MS), 0);
	t0 = now_ns(CLOCK_MONOTONIC);
	add_ok(fd, ev_make(KEVENT_TIMER, 1, 0, KEVENT_REQ_ONESHOT, 20 * MS, 0));
	add_ok(fd, ev_make(KEVENT_TIMER, 2, 0, KEVENT_REQ_ONESHOT, 200 * MS,
			   0));
	first = wait_ms(fd, 1, 10000);
	cr_assert_gt(first, 0);
	while (got < 2) {
		while (kevent_ring_consume(ring, &out)) {
			cr_assert_eq(out.type, KEVENT_TIMER);
			cr_assert(out.id == 1 || out.id == 2);
			cr_assert_eq(seen[out.id - 1], 0, "delivered twice");
			seen[out.id - 1] = now_ns(CLOCK_MONOTONIC);
			got++;
		}
		if (got < 2)
			cr_assert_gt(wait_ms(fd, 1, 10000), 0, "timer lost");
	}
	cr_assert_geq(seen[0] - t0, 20 * MS, "timer 1 early");
	cr_assert_geq(seen[1] - t0, 200 * MS, "timer 2 early");
	if (!kmod)
		cr_assert_eq(first, 2, "one wake-up for both (got %d)", first);
	kevent_close(fd);
}

/*
 * A periodic timer with a slack may run anywhere in its range, as soon as
 * something else wakes the CPU after its deadline (here the 1 ms timeouts
 * of the waits themselves).  Each delivery still counts at least one
 * expiration, and none before its deadline: the kmod backend once counted
 * the periods against the end of the range, so a timer that ran early
 * delivered 0 expirations (CI, stop 24).
 */
Test(timer_slack, periodic_timer_run_early_in_its_slack_counts)
{
	enum { P = 40, N = 6 };
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8), got = 0, n;
	struct ukevent out;
	uint64_t t0, total = 0, deadline;

	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_TIMER_SLACK, 30 * MS), 0);
	t0 = now_ns(CLOCK_MONOTONIC);
	add_ok(fd, ev_make(KEVENT_TIMER, 9, 0, 0, P * MS, 0));
	deadline = t0 + 20000 * MS;
	while (got < N) {
		cr_assert_lt(now_ns(CLOCK_MONOTONIC), deadline,
			     "%d of %d deliveries in 20 s", got, N);
		n = wait_ms(fd, 1, 1);
		cr_assert(n >= 0 || errno == ETIMEDOUT,
			  "kevent_wait: %s", strerror(errno));
		while (kevent_ring_consume(ring, &out)) {
			cr_assert_eq(out.id, 9);
			cr_assert_geq(out.ret_data, 1,
				      "delivery %d counts no expiration", got);
			total += out.ret_data;
			cr_assert_leq(t0 + total * P * MS,
				      now_ns(CLOCK_MONOTONIC),
				      "expiration %llu counted before its deadline",
				      (unsigned long long)total);
			got++;
		}
	}
	kevent_close(fd);
}
