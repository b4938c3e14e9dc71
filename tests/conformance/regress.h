/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the regression and fairness tests (test_regress.c,
 * test_fairness.c, test_nest.c): written against <kevent.h> only, like the
 * rest of the conformance suite.
 */
#ifndef KEV_TEST_REGRESS_H
#define KEV_TEST_REGRESS_H

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "helpers.h"

/* Raise the soft limit on descriptors to the hard one; the new limit. */
static inline unsigned long rg_raise_nofile(void)
{
	struct rlimit rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	return (unsigned long)rl.rlim_cur;
}

/*
 * Make fd the lowest free descriptor number: fill every free number below
 * it with a descriptor of /dev/null (returned in *fill, to be closed with
 * rg_unfill).  The next descriptor anyone creates, the library's own
 * included, then gets the number fd.
 */
struct rg_fill {
	int fds[256];
	int n;
};

static inline void rg_make_lowest_free(int fd, struct rg_fill *fill)
{
	fill->n = 0;
	for (;;) {
		int d = open("/dev/null", O_RDONLY | O_CLOEXEC);

		cr_assert_geq(d, 0);
		if (d == fd) {
			close(d);
			return;
		}
		cr_assert_lt(d, fd, "descriptor %d is not free", fd);
		cr_assert_lt(fill->n, 256);
		fill->fds[fill->n++] = d;
	}
}

static inline void rg_unfill(struct rg_fill *fill)
{
	while (fill->n > 0)
		close(fill->fds[--fill->n]);
}

/* Is fd readable now (poll with a zero timeout)? */
static inline int rg_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, ms);

	cr_assert_geq(r, 0, "poll: %s", strerror(errno));
	return r == 1 && (p.revents & POLLIN);
}

/* Take every entry in the ring; how many. */
static inline unsigned int rg_drain(struct kevent_ring *ring)
{
	struct ukevent e;
	unsigned int n = 0;

	while (kevent_ring_consume(ring, &e))
		n++;
	return n;
}

static inline int rg_wait0(int fd, unsigned int min_nr)
{
	struct timespec zero = { 0, 0 };

	return kevent_wait(fd, min_nr, &zero);
}

#endif
