// SPDX-License-Identifier: MIT
/* Conformance: KEVENT_POLL - level, edge, oneshot, regular files. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

struct pfx {
	struct kevent_ring *ring;
	int fd;
	int sv[2];
};

static struct pfx setup(uint32_t req_flags, uint32_t mask)
{
	struct pfx f;

	f.fd = q_open(&f.ring, 16);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, f.sv), 0);
	add_ok(f.fd, ev_make(KEVENT_POLL, (uint64_t)f.sv[0], mask, req_flags,
			     0, 0x5eed));
	return f;
}

static void teardown(struct pfx *f)
{
	kevent_close(f->fd);
	close(f->sv[0]);
	close(f->sv[1]);
}

Test(poll, level_triggered_redelivers_while_readable)
{
	struct pfx f = setup(0, KEVENT_POLL_IN);
	struct ukevent out;
	char buf[8];
	int i;

	expect_none(f.fd, f.ring, 10);
	cr_assert_eq(write(f.sv[1], "ab", 2), 2);
	for (i = 0; i < 3; i++) {
		cr_assert(take(f.fd, f.ring, &out, 1000), "delivery %d", i);
		cr_assert_eq(out.type, KEVENT_POLL);
		cr_assert_eq(out.id, (uint64_t)f.sv[0]);
		cr_assert_eq(out.event, KEVENT_POLL_IN);
		cr_assert_eq(out.user, 0x5eed);
	}
	cr_assert_eq(read(f.sv[0], buf, sizeof(buf)), 2);
	expect_none(f.fd, f.ring, 20);
	teardown(&f);
}

Test(poll, level_triggered_one_slot_while_queued)
{
	struct pfx f = setup(0, KEVENT_POLL_IN);

	cr_assert_eq(write(f.sv[1], "a", 1), 1);
	cr_assert_eq(wait_ms(f.fd, 1, 1000), 1);
	cr_assert_eq(write(f.sv[1], "b", 1), 1);
	cr_assert_eq(wait_ms(f.fd, 2, 30), 1, "still one slot");
	teardown(&f);
}

Test(poll, edge_triggered_no_redelivery_without_activity)
{
	struct pfx f = setup(KEVENT_REQ_ET, KEVENT_POLL_IN);
	struct ukevent out;

	cr_assert_eq(write(f.sv[1], "a", 1), 1);
	cr_assert(take(f.fd, f.ring, &out, 1000));
	cr_assert_eq(out.event, KEVENT_POLL_IN);
	expect_none(f.fd, f.ring, 30);	/* still readable, no new data */
	cr_assert_eq(write(f.sv[1], "b", 1), 1);
	cr_assert(take(f.fd, f.ring, &out, 1000), "new activity");
	expect_none(f.fd, f.ring, 30);
	teardown(&f);
}

Test(poll, edge_activity_while_queued_is_coalesced)
{
	struct pfx f = setup(KEVENT_REQ_ET, KEVENT_POLL_IN);
	struct ukevent out;

	cr_assert_eq(write(f.sv[1], "a", 1), 1);
	cr_assert_eq(wait_ms(f.fd, 1, 1000), 1);
	cr_assert_eq(write(f.sv[1], "b", 1), 1);
	cr_assert_eq(wait_ms(f.fd, 2, 30), 1);	/* coalesced, not a 2nd slot */
	cr_assert(kevent_ring_consume(f.ring, &out));
	cr_assert(take(f.fd, f.ring, &out, 1000), "delivered after consume");
	expect_none(f.fd, f.ring, 30);
	teardown(&f);
}

Test(poll, oneshot_removed_after_delivery)
{
	struct pfx f = setup(KEVENT_REQ_ONESHOT, KEVENT_POLL_IN);
	struct ukevent out;

	cr_assert_eq(write(f.sv[1], "a", 1), 1);
	cr_assert(take(f.fd, f.ring, &out, 1000));
	cr_assert(out.ret_flags & KEVENT_RET_REMOVED);
	expect_none(f.fd, f.ring, 30);
	cr_assert_eq(ctl1(f.fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_POLL, (uint64_t)f.sv[0], 0, 0, 0, 0)),
		     ENOENT, "gone after delivery");
	add_ok(f.fd, ev_make(KEVENT_POLL, (uint64_t)f.sv[0], KEVENT_POLL_IN,
			     KEVENT_REQ_ONESHOT, 0, 0));
	cr_assert(take(f.fd, f.ring, &out, 1000), "re-added, still readable");
	teardown(&f);
}

Test(poll, out_and_hup)
{
	struct pfx f = setup(KEVENT_REQ_ET, KEVENT_POLL_OUT);
	struct ukevent out;

	cr_assert(take(f.fd, f.ring, &out, 1000));
	cr_assert_eq(out.event, KEVENT_POLL_OUT);
	close(f.sv[1]);
	f.sv[1] = -1;
	cr_assert(take(f.fd, f.ring, &out, 1000));
	cr_assert(out.event & KEVENT_POLL_HUP, "HUP always reported: %#x",
		  out.event);
	kevent_close(f.fd);
	close(f.sv[0]);
}

Test(poll, regular_file_is_always_ready)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	char path[] = "/tmp/kevent-test-XXXXXX";
	int file = mkstemp(path);
	struct ukevent out;

	cr_assert_geq(file, 0);
	unlink(path);
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)file,
			   KEVENT_POLL_IN | KEVENT_POLL_OUT, 0, 0, 0));
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.event, KEVENT_POLL_IN | KEVENT_POLL_OUT);
	cr_assert(take(fd, ring, &out, 1000), "level-triggered: again");
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_POLL, (uint64_t)file, 0, 0, 0, 0)), 0);
	/* edge-triggered: once */
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)file, KEVENT_POLL_IN,
			   KEVENT_REQ_ET, 0, 0));
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.event, KEVENT_POLL_IN);
	expect_none(fd, ring, 30);
	close(file);
	kevent_close(fd);
}

Test(poll, closed_fd_then_remove_succeeds)
{
	struct pfx f = setup(0, KEVENT_POLL_IN);
	struct ukevent e = ev_make(KEVENT_POLL, (uint64_t)f.sv[0], 0, 0, 0, 0);

	close(f.sv[0]);
	cr_assert_eq(ctl1(f.fd, KEVENT_CTL_REMOVE, e), 0);
	cr_assert_eq(ctl1(f.fd, KEVENT_CTL_REMOVE, e), ENOENT);
	kevent_close(f.fd);
	close(f.sv[1]);
}

Test(poll, modify_changes_mask)
{
	struct pfx f = setup(0, KEVENT_POLL_IN);
	struct ukevent out;

	cr_assert_eq(ctl1(f.fd, KEVENT_CTL_MODIFY,
			  ev_make(KEVENT_POLL, (uint64_t)f.sv[0],
				  KEVENT_POLL_OUT, 0, 0, 9)), 0);
	cr_assert(take(f.fd, f.ring, &out, 1000));
	cr_assert_eq(out.event, KEVENT_POLL_OUT);
	cr_assert_eq(out.user, 9);
	teardown(&f);
}

/*
 * n socket pairs whose read ends are registered on fd with flags, the
 * index in user.  Skips the test if RLIMIT_NOFILE cannot be raised enough.
 */
static int (*pairs_add(int fd, int n, uint32_t flags))[2]
{
	int (*sv)[2] = calloc((size_t)n, sizeof(*sv)), i;
	struct ukevent *evs = calloc((size_t)n, sizeof(*evs));
	struct rlimit rl;

	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)(2 * n + 64)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < (rlim_t)(2 * n + 64))
		cr_skip_test("RLIMIT_NOFILE %llu is too small for %d socket pairs",
			     (unsigned long long)rl.rlim_cur, n);
	for (i = 0; i < n; i++) {
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
		evs[i] = ev_make(KEVENT_POLL, (uint64_t)sv[i][0], KEVENT_POLL_IN,
				 flags, 0, (uint64_t)i);
	}
	cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_ADD, (unsigned int)n, evs), n);
	free(evs);
	return sv;
}

static void pairs_close(int (*sv)[2], int n)
{
	int i;

	for (i = 0; i < n; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	free(sv);
}

Test(poll, many_fds_in_one_batch)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 64), i;
	int (*sv)[2] = pairs_add(fd, 200, KEVENT_REQ_ET);	/* one batch */
	unsigned char seen[200] = { 0 };
	struct ukevent out;

	for (i = 0; i < 200; i++)
		cr_assert_eq(write(sv[i][1], "x", 1), 1);
	for (i = 0; i < 200; i++) {
		cr_assert(take(fd, ring, &out, 1000), "got %d", i);
		cr_assert_eq(seen[out.user], 0);
		seen[out.user] = 1;
	}
	expect_none(fd, ring, 20);
	pairs_close(sv, 200);
	kevent_close(fd);
}

/* N fds ready at once, delivered all at once, three times over. */
static void burst(uint32_t flags)
{
	enum { N = 1000 };
	struct kevent_ring *ring;
	int fd = q_open(&ring, 1024), i, round;
	int (*sv)[2] = pairs_add(fd, N, flags);
	unsigned char seen[N] = { 0 };
	struct ukevent out;

	for (i = 0; i < N; i++)
		cr_assert_eq(write(sv[i][1], "x", 1), 1);
	/* all of them at once: min_nr = N */
	cr_assert_eq(wait_ms(fd, N, 10000), N, "all %d ready fds published", N);
	for (i = 0; i < N; i++) {
		cr_assert(kevent_ring_consume(ring, &out));
		cr_assert_eq(seen[out.user], 0);
		seen[out.user] = 1;
	}
	if (!(flags & KEVENT_REQ_ET)) {
		/* nothing was read: every fd is delivered again, all at once */
		cr_assert_eq(wait_ms(fd, N, 10000), N, "all %d redelivered", N);
		kevent_ring_advance(ring, N);
	}
	/* new data on each, twice: both modes deliver all of them again */
	for (round = 0; round < 2; round++) {
		for (i = 0; i < N; i++)
			cr_assert_eq(write(sv[i][1], "y", 1), 1);
		cr_assert_eq(wait_ms(fd, N, 10000), N,
			     "all %d after new data (round %d)", N, round);
		kevent_ring_advance(ring, N);
	}
	pairs_close(sv, N);
	kevent_close(fd);
}

Test(poll, burst_level_all_at_once)
{
	burst(0);
}

Test(poll, burst_edge_all_at_once)
{
	burst(KEVENT_REQ_ET);
}

/*
 * More ready fds than the ring holds, and more than the uring backend's
 * completion queue (4096 for a small ring): every round delivers each fd
 * exactly once.  When io_uring finds its completion queue full it ends
 * edge-triggered multishot polls, and the backend has to watch those fds
 * again.
 */
static void more_than_ring(uint32_t flags)
{
	enum { N = 5000 };
	struct kevent_ring *ring;
	int fd = q_open(&ring, 1024), i, round;
	int (*sv)[2] = pairs_add(fd, N, flags);
	unsigned char *seen = calloc(N, 1);
	struct ukevent out;
	char c;

	for (round = 0; round < 3; round++) {
		int got = 0;

		memset(seen, 0, N);
		for (i = 0; i < N; i++)
			cr_assert_eq(write(sv[i][1], "x", 1), 1);
		while (got < N) {
			cr_assert(take(fd, ring, &out, 10000),
				  "round %d: %d of %d", round, got, N);
			cr_assert_lt(out.user, (uint64_t)N);
			cr_assert_eq(seen[out.user], 0, "round %d: fd %llu twice",
				     round, (unsigned long long)out.user);
			seen[out.user] = 1;
			cr_assert_eq(read((int)out.id, &c, 1), 1);
			got++;
		}
	}
	expect_none(fd, ring, 20);
	pairs_close(sv, N);
	kevent_close(fd);
	free(seen);
}

Test(poll, more_ready_level_fds_than_ring_and_completion_queue)
{
	more_than_ring(0);
}

Test(poll, more_ready_edge_fds_than_ring_and_completion_queue)
{
	more_than_ring(KEVENT_REQ_ET);
}
