// SPDX-License-Identifier: MIT
/*
 * Priorities (issue 20): struct ukevent.prio and the starvation bound,
 * KEVENT_OPT_PRIO_BOUND.  kevent(7), "Priorities", states the contract:
 *
 *   registrations ready at the same time and not yet in the ring are
 *   published highest level first, FIFO within a level; while a level has
 *   ready registrations, at most BOUND entries of higher levels are
 *   published between two publications from it (and before its first);
 *   an entry carries the priority of its registration.
 *
 * An entry already in the ring is never overtaken, so every test makes
 * its registrations ready while the ring is full (of "filler" user
 * events), then drains the ring and lets kevent_wait() publish the rest.
 * The order is then defined on every backend, kmod included.
 */
#include <sys/socket.h>

#include "helpers.h"

#define FILLER_ID 1000000u

static int setopt_errno(int fd, unsigned int opt, uint64_t value)
{
	errno = 0;
	if (kevent_setopt(fd, opt, value) == 0)
		return 0;
	return errno;
}

static struct ukevent user(uint64_t id, uint32_t prio)
{
	struct ukevent e = ev_make(KEVENT_USER, id, 0, 0, 0, id);

	e.prio = prio;
	return e;
}

static void ready(int fd, uint64_t id)
{
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, ev_make(KEVENT_USER, id, 0, 0,
							 0, 0)), 0);
}

/* Fill the ring of size n with filler user events, not consumed. */
static void fill(int fd, struct kevent_ring *ring, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		add_ok(fd, user(FILLER_ID + i, 0));
		ready(fd, FILLER_ID + i);
	}
	cr_assert_eq(wait_ms(fd, n, 1000), (int)n);
	cr_assert_eq(kevent_ring_count(ring), n, "the ring is full");
}

/*
 * Drain the ring and let kevent_wait() publish, until want entries other
 * than fillers have come (or a wait finds nothing): their ids in out[],
 * their priorities in prio[].  Returns how many came.
 */
static unsigned int drain(int fd, struct kevent_ring *ring, uint64_t *out,
			  uint32_t *prio, unsigned int want)
{
	const struct timespec zero = { 0, 0 };
	unsigned int got = 0;
	struct ukevent e;

	while (got < want) {
		while (kevent_ring_consume(ring, &e) == 1) {
			if (e.id >= FILLER_ID && e.type == KEVENT_USER)
				continue;
			cr_assert_lt(got, want, "more entries than made ready");
			cr_assert_eq(e.__reserved0, 0);
			cr_assert_eq(e.stamp, 0, "statistics are off");
			out[got] = e.type == KEVENT_USER ? e.id :
				   (uint64_t)e.type << 32;
			prio[got++] = e.prio;
		}
		if (got == want)
			break;
		int n = kevent_wait(fd, 1, &zero);

		cr_assert_geq(n, 0, "kevent_wait: %s", strerror(errno));
		if (n == 0 && wait_ms(fd, 1, 2000) <= 0)
			break;
	}
	return got;
}

/*
 * The rule of kevent(7) as a reference model: the expected order of
 * registrations (ids with priorities prio[], made ready in array order),
 * published with bound.
 */
static void model(const uint32_t *prio, unsigned int n, uint32_t bound,
		  uint64_t *order)
{
	unsigned int head[KEVENT_PRIO_LEVELS] = { 0 };
	uint32_t waited[KEVENT_PRIO_LEVELS] = { 0 };
	bool left[KEVENT_PRIO_LEVELS];

	for (unsigned int k = 0; k < n; k++) {
		int pick = -1;

		/* the next not yet published of each level */
		for (unsigned int p = 0; p < KEVENT_PRIO_LEVELS; p++) {
			while (head[p] < n && prio[head[p]] != p)
				head[p]++;
			left[p] = head[p] < n;
		}
		for (unsigned int p = 0; p < KEVENT_PRIO_LEVELS && pick < 0; p++)
			if (left[p] && waited[p] >= bound)
				pick = (int)p;
		for (int p = KEVENT_PRIO_LEVELS - 1; p >= 0 && pick < 0; p--)
			if (left[p])
				pick = p;
		cr_assert_geq(pick, 0);
		order[k] = head[pick]++;
		waited[pick] = 0;
		for (int p = 0; p < pick; p++)
			if (left[p])
				waited[p]++;
	}
}

/*
 * The contract itself, without the model: FIFO within a level, the
 * highest level first unless a lower one reached the bound, and no level
 * passed over more than bound times in a row.
 */
static void check_contract(const uint64_t *got, const uint32_t *prio,
			   unsigned int n, uint32_t bound)
{
	uint32_t passed[KEVENT_PRIO_LEVELS] = { 0 };
	uint64_t last[KEVENT_PRIO_LEVELS];
	unsigned int remaining[KEVENT_PRIO_LEVELS] = { 0 };

	for (unsigned int p = 0; p < KEVENT_PRIO_LEVELS; p++)
		last[p] = UINT64_MAX;
	for (unsigned int k = 0; k < n; k++)
		remaining[prio[got[k]]]++;
	for (unsigned int k = 0; k < n; k++) {
		const uint32_t p = prio[got[k]];

		if (last[p] != UINT64_MAX)
			cr_assert_gt(got[k], last[p], "FIFO within level %u", p);
		last[p] = got[k];
		remaining[p]--;
		passed[p] = 0;
		for (uint32_t q = 0; q < p; q++) {
			if (!remaining[q])
				continue;
			passed[q]++;
			cr_assert_leq(passed[q], bound,
				      "level %u waited for %u higher entries "
				      "(bound %u) at entry %u", q, passed[q],
				      bound, k);
		}
	}
}

Test(prio, bound_default_get_set_and_errors)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	uint64_t v = 0;

	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_PRIO_BOUND, &v), 0);
	cr_assert_eq(v, KEVENT_PRIO_BOUND_DEFAULT, "default %llu",
		     (unsigned long long)v);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_PRIO_BOUND, 1), 0);
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_PRIO_BOUND, &v), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_PRIO_BOUND,
				  KEVENT_PRIO_BOUND_MAX), 0);
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_PRIO_BOUND, &v), 0);
	cr_assert_eq(v, KEVENT_PRIO_BOUND_MAX);
	/* 0 and too large: EINVAL, the value unchanged */
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_PRIO_BOUND, 0), EINVAL);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_PRIO_BOUND,
				  KEVENT_PRIO_BOUND_MAX + 1), EINVAL);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_PRIO_BOUND, UINT64_MAX),
		     EINVAL);
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_PRIO_BOUND, &v), 0);
	cr_assert_eq(v, KEVENT_PRIO_BOUND_MAX);
	/* the timer slack is another option: unchanged */
	cr_assert_eq(kevent_getopt(fd, KEVENT_OPT_TIMER_SLACK, &v), 0);
	cr_assert_eq(v, KEVENT_TIMER_SLACK_DEFAULT);
	/* the bound may change while registrations are ready (no EBUSY) */
	add_ok(fd, user(1, 3));
	ready(fd, 1);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_PRIO_BOUND, 5), 0);
	kevent_close(fd);
	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_PRIO_BOUND, 5), EBADF);
}

Test(prio, out_of_range_or_reserved_is_einval_and_changes_nothing)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent e = user(1, KEVENT_PRIO_MAX + 1), out;

	cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD, e), EINVAL);
	e.prio = 0x80000000u;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD, e), EINVAL);
	e = user(1, KEVENT_PRIO_MAX);
	e.__reserved0 = 1;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD, e), EINVAL);
	e = user(1, 2);
	add_ok(fd, e);
	/* a failed MODIFY leaves the priority as it was */
	e.prio = KEVENT_PRIO_MAX + 1;
	e.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, e), EINVAL);
	ready(fd, 1);
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.id, 1);
	cr_assert_eq(out.prio, 2, "prio %u", out.prio);
	cr_assert_eq(out.user, 1, "the cookie unchanged too");
	/* REMOVE, READY and the rest look at (type, id) only */
	e = user(1, KEVENT_PRIO_MAX + 1);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, e), 0);
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.prio, 2);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE, e), 0);
	kevent_close(fd);
}

/* Highest level first, FIFO within a level; entries carry prio. */
Test(prio, published_highest_first_fifo_within_a_level)
{
	enum { N = 40 };
	struct kevent_ring *ring;
	int fd = q_open(&ring, 4);
	uint32_t prio[N], gotprio[N];
	uint64_t got[N], want[N];

	fill(fd, ring, 4);
	for (unsigned int i = 0; i < N; i++) {
		prio[i] = (i * 5 + i / 8) % KEVENT_PRIO_LEVELS;
		add_ok(fd, user(i, prio[i]));
	}
	for (unsigned int i = 0; i < N; i++)
		ready(fd, i);
	cr_assert_eq(drain(fd, ring, got, gotprio, N), N);
	model(prio, N, KEVENT_PRIO_BOUND_DEFAULT, want);
	for (unsigned int k = 0; k < N; k++) {
		cr_assert_eq(got[k], want[k], "entry %u: id %llu, expected %llu",
			     k, (unsigned long long)got[k],
			     (unsigned long long)want[k]);
		cr_assert_eq(gotprio[k], prio[got[k]], "entry %u carries prio", k);
	}
	/* with 40 entries and a bound of 64, that is a plain sort */
	for (unsigned int k = 1; k < N; k++)
		cr_assert_geq(gotprio[k - 1], gotprio[k]);
	kevent_close(fd);
}

/*
 * The bound: a level-0 and a level-3 registration behind twelve of level
 * 7, bound 2.  Two of level 7, then level 0 (the lowest at the bound goes
 * first), then level 3 (also at the bound), then the rest.
 */
Test(prio, a_lower_level_waits_for_at_most_bound_higher_entries)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 4);
	const uint64_t want[] = { 1, 2, 50, 60, 3, 4, 5, 6, 7, 8, 9, 10, 11,
				  12 };
	enum { N = sizeof(want) / sizeof(want[0]) };
	uint64_t got[N];
	uint32_t gotprio[N];

	cr_assert_eq(setopt_errno(fd, KEVENT_OPT_PRIO_BOUND, 2), 0);
	fill(fd, ring, 4);
	add_ok(fd, user(50, 0));
	add_ok(fd, user(60, 3));
	for (uint64_t id = 1; id <= 12; id++)
		add_ok(fd, user(id, 7));
	ready(fd, 50);
	for (uint64_t id = 1; id <= 12; id++)
		ready(fd, id);
	ready(fd, 60);
	cr_assert_eq(drain(fd, ring, got, gotprio, N), N);
	for (unsigned int k = 0; k < N; k++)
		cr_assert_eq(got[k], want[k], "entry %u: id %llu, expected %llu",
			     k, (unsigned long long)got[k],
			     (unsigned long long)want[k]);
	kevent_close(fd);
}

/* Random levels and bounds against the model and the contract. */
Test(prio, random_levels_and_bounds_follow_the_rule)
{
	enum { N = 300 };
	static const uint32_t bounds[] = { 1, 2, 3, 7, 64, 0xffffffffu };
	uint32_t seed = 20261130;

	for (unsigned int round = 0; round < 12; round++) {
		const uint32_t bound = bounds[round % 6];
		struct kevent_ring *ring;
		int fd = q_open(&ring, round & 1 ? 8 : 2);
		unsigned int size = round & 1 ? 8 : 2;
		uint32_t prio[N], gotprio[N];
		uint64_t got[N], want[N], idx[N];
		const unsigned int levels = 2 + round % 7;

		cr_assert_eq(setopt_errno(fd, KEVENT_OPT_PRIO_BOUND, bound), 0);
		fill(fd, ring, size);
		for (unsigned int i = 0; i < N; i++) {
			seed = seed * 1103515245u + 12345u;
			prio[i] = (seed >> 16) % levels;
			add_ok(fd, user(i, prio[i]));
		}
		for (unsigned int i = 0; i < N; i++)
			ready(fd, i);
		cr_assert_eq(drain(fd, ring, got, gotprio, N), N,
			     "round %u", round);
		model(prio, N, bound, want);
		for (unsigned int k = 0; k < N; k++) {
			cr_assert_eq(got[k], want[k],
				     "round %u (bound %u, ring %u) entry %u: "
				     "id %llu, expected %llu", round, bound,
				     size, k, (unsigned long long)got[k],
				     (unsigned long long)want[k]);
			cr_assert_eq(gotprio[k], prio[got[k]]);
			idx[k] = got[k];
		}
		check_contract(idx, prio, N, bound);
		kevent_close(fd);
	}
}

/*
 * MODIFY may change the priority: a ready registration goes to the tail
 * of its new level, as if it had just become ready.
 */
Test(prio, modify_moves_a_ready_registration_to_its_new_level)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 2);
	const uint64_t want[] = { 3, 1, 2, 4 };
	uint64_t got[4];
	uint32_t gotprio[4];

	fill(fd, ring, 2);
	for (uint64_t id = 1; id <= 4; id++) {
		add_ok(fd, user(id, 0));
		ready(fd, id);
	}
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, user(3, 5)), 0);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, user(1, 5)), 0);
	/* the same priority again: no move */
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, user(2, 0)), 0);
	cr_assert_eq(drain(fd, ring, got, gotprio, 4), 4);
	for (unsigned int k = 0; k < 4; k++)
		cr_assert_eq(got[k], want[k], "entry %u: id %llu, expected %llu",
			     k, (unsigned long long)got[k],
			     (unsigned long long)want[k]);
	cr_assert_eq(gotprio[0], 5);
	cr_assert_eq(gotprio[1], 5);
	cr_assert_eq(gotprio[2], 0);
	cr_assert_eq(gotprio[3], 0);
	kevent_close(fd);
}

/*
 * Every type carries its priority: a timer (7), a readable pipe (2) and a
 * user event (0) that become ready while the ring is full come out in
 * that order.
 */
Test(prio, timers_and_fds_are_ordered_with_user_events)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 2), p[2];
	struct ukevent t = ev_make(KEVENT_TIMER, 9, 0, KEVENT_REQ_ONESHOT,
				   1000000, 0);
	struct ukevent r;
	uint64_t got[3];
	uint32_t gotprio[3];

	cr_assert_eq(kevent_setopt(fd, KEVENT_OPT_TIMER_SLACK, 0), 0);
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	fill(fd, ring, 2);
	add_ok(fd, user(1, 0));
	ready(fd, 1);
	/* one-shot: a level-triggered pipe would come again, before id 1 */
	r = ev_make(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN,
		    KEVENT_REQ_ONESHOT, 0, 0);
	r.prio = 2;
	cr_assert_eq(write(p[1], "x", 1), 1);
	add_ok(fd, r);
	t.prio = 7;
	add_ok(fd, t);
	usleep(30000);		/* the timer is due */
	/* a wait with the ring full collects but cannot publish */
	cr_assert_geq(wait_ms(fd, 1, 0), 0);
	cr_assert_eq(drain(fd, ring, got, gotprio, 3), 3);
	cr_assert_eq(got[0], (uint64_t)KEVENT_TIMER << 32, "timer first");
	cr_assert_eq(gotprio[0], 7);
	cr_assert_eq(got[1], (uint64_t)KEVENT_POLL << 32, "then the pipe");
	cr_assert_eq(gotprio[1], 2);
	cr_assert_eq(got[2], 1, "then the user event");
	cr_assert_eq(gotprio[2], 0);
	close(p[0]);
	close(p[1]);
	kevent_close(fd);
}
