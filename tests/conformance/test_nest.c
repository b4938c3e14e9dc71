// SPDX-License-Identifier: MIT
/*
 * The queue fd polled by another event loop instead of sleeping in
 * kevent_wait (asyncio's add_reader, asio, an outer epoll): its handler
 * calls kevent_wait with a zero timeout and drains the ring.  Such a
 * loop must never miss an event (issue 15, defect 7: a trigger from the
 * loop's own thread left the fd unreadable), and must not spin on a queue
 * with nothing to do.
 *
 * The rule the tests hold every backend to: after the handler has drained
 * the ring, the queue fd is readable if and only if the next kevent_wait
 * with a zero timeout would publish something.
 */
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "regress.h"

#define LONG_MS 5000

struct loop {
	int ep;			/* the outer loop */
	int fd;			/* the queue */
	struct kevent_ring *ring;
};

static void loop_open(struct loop *l, unsigned int ring_size)
{
	struct epoll_event ev = { .events = EPOLLIN };

	l->fd = q_open(&l->ring, ring_size);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	cr_assert_geq(l->ep, 0);
	ev.data.fd = l->fd;
	cr_assert_eq(epoll_ctl(l->ep, EPOLL_CTL_ADD, l->fd, &ev), 0);
}

static void loop_close(struct loop *l)
{
	close(l->ep);
	kevent_close(l->fd);
}

/*
 * Does the outer loop see the queue readable within ms?  EINTR is retried,
 * as event loops do (PEP 475): with the uring backend, completions of
 * requests this thread submitted interrupt its sleep (io_uring task work).
 */
static int loop_ready(struct loop *l, int ms)
{
	struct epoll_event ev;
	int n, tries = 0;

	do
		n = epoll_wait(l->ep, &ev, 1, ms);
	while (n < 0 && errno == EINTR && ++tries < 1000);
	cr_assert_geq(n, 0, "epoll_wait: %s", strerror(errno));
	return n;
}

/* The handler: publish with a zero timeout, then drain into out[]. */
static unsigned int handler(struct loop *l, struct ukevent *out,
			    unsigned int max)
{
	unsigned int n = 0;
	struct ukevent e;

	cr_assert_geq(rg_wait0(l->fd, 1), 0);
	while (kevent_ring_consume(l->ring, &e)) {
		if (n < max)
			out[n] = e;
		n++;
	}
	return n;
}

/*
 * Run the loop until it goes idle (the queue fd not readable) and count
 * what it delivered; a queue that stays readable for 100 rounds with
 * nothing to deliver fails (an idle asyncio loop would spin).
 */
static unsigned int loop_until_idle(struct loop *l, uint32_t type,
				    uint64_t id)
{
	unsigned int got = 0, empty = 0, round;
	struct ukevent out[64];

	for (round = 0; round < 1000; round++) {
		unsigned int n, i;

		if (!loop_ready(l, 0))
			return got;
		n = handler(l, out, 64);
		for (i = 0; i < n && i < 64; i++)
			if (out[i].type == type && out[i].id == id)
				got++;
		empty = n ? 0 : empty + 1;
		cr_assert_lt(empty, 100,
			     "the queue fd stays readable with nothing to do");
	}
	cr_assert_fail("the loop never went idle");
	return got;
}

/* The defect as found. */
Test(nest, trigger_from_the_loop_thread_after_a_zero_wait)
{
	struct loop l;
	struct ukevent out[4];

	loop_open(&l, 8);
	add_ok(l.fd, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	cr_assert_eq(handler(&l, out, 4), 0);
	cr_assert_eq(loop_ready(&l, 0), 0, "readable with nothing pending");
	ctl1(l.fd, KEVENT_CTL_READY, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	cr_assert_eq(loop_ready(&l, LONG_MS), 1,
		     "a trigger from the loop's thread left the fd unreadable");
	cr_assert_eq(handler(&l, out, 4), 1);
	cr_assert_eq(out[0].id, 1);
	cr_assert_eq(loop_until_idle(&l, KEVENT_USER, 1), 0);
	loop_close(&l);
}

/* A trigger from inside the handler, after its wait, before its drain. */
Test(nest, trigger_inside_the_handler)
{
	struct loop l;
	unsigned int got;

	loop_open(&l, 8);
	add_ok(l.fd, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	add_ok(l.fd, ev_make(KEVENT_USER, 2, 0, 0, 0, 0));
	ctl1(l.fd, KEVENT_CTL_READY, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	cr_assert_eq(loop_ready(&l, LONG_MS), 1);
	cr_assert_eq(rg_wait0(l.fd, 1), 1);
	ctl1(l.fd, KEVENT_CTL_READY, ev_make(KEVENT_USER, 2, 0, 0, 0, 0));
	got = rg_drain(l.ring);
	cr_assert(got == 1 || got == 2);
	if (got == 1)
		cr_assert_eq(loop_until_idle(&l, KEVENT_USER, 2), 1,
			     "the trigger made inside the handler was lost");
	else
		cr_assert_eq(loop_until_idle(&l, KEVENT_USER, 2), 0);
	loop_close(&l);
}

/*
 * More ready than the ring holds: after the handler drains the ring, the
 * rest is still pending, so the fd must be readable again, until all of
 * it has been delivered.
 */
Test(nest, backlog_keeps_the_fd_readable)
{
	struct loop l;
	struct ukevent e[20];
	unsigned int i, got = 0, round;
	struct ukevent out[8];

	loop_open(&l, 4);
	for (i = 0; i < 20; i++)
		e[i] = ev_make(KEVENT_USER, i, 0, 0, 0, 0);
	cr_assert_eq(kevent_ctl(l.fd, KEVENT_CTL_ADD, 20, e), 20);
	cr_assert_eq(handler(&l, out, 8), 0);
	cr_assert_eq(kevent_ctl(l.fd, KEVENT_CTL_READY, 20, e), 20);
	for (round = 0; got < 20 && round < 100; round++) {
		cr_assert_eq(loop_ready(&l, LONG_MS), 1,
			     "%u of 20 delivered, the rest pending, but the fd "
			     "is not readable", got);
		got += handler(&l, out, 8);
	}
	cr_assert_eq(got, 20);
	cr_assert_eq(loop_until_idle(&l, KEVENT_USER, 0), 0);
	loop_close(&l);
}

/*
 * A level-triggered fd left readable is delivered again after each drain,
 * so the fd must stay readable; once the data is read, the loop goes idle.
 */
static void level_fd_case(int kind)
{
	struct loop l;
	struct ukevent out[4];
	int p[2], src;
	unsigned int round;
	char path[] = "/tmp/kevent-nest-XXXXXX", c;

	loop_open(&l, 8);
	if (kind == 0) {
		cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
		src = p[0];
		cr_assert_eq(write(p[1], "x", 1), 1);
	} else {
		src = mkstemp(path);	/* a regular file: always ready */
		cr_assert_geq(src, 0);
		unlink(path);
	}
	cr_assert_eq(handler(&l, out, 4), 0);
	add_ok(l.fd, ev_make(KEVENT_POLL, (uint64_t)src, KEVENT_POLL_IN, 0, 0,
			     0));
	for (round = 0; round < 5; round++) {
		unsigned int n;

		cr_assert_eq(loop_ready(&l, LONG_MS), 1,
			     "round %u: a level fd still readable, but the "
			     "queue fd is not", round);
		n = handler(&l, out, 4);
		cr_assert_leq(n, 1);
		if (n == 0) {
			/* a spurious wake is allowed once, not twice */
			cr_assert_eq(loop_ready(&l, LONG_MS), 1);
			cr_assert_eq(handler(&l, out, 4), 1);
		}
		cr_assert_eq(out[0].id, (uint64_t)src);
	}
	if (kind == 0) {
		cr_assert_eq(read(p[0], &c, 1), 1);
		cr_assert_eq(loop_until_idle(&l, KEVENT_POLL, (uint64_t)src),
			     0);
		cr_assert_eq(ctl1(l.fd, KEVENT_CTL_REMOVE,
				  ev_make(KEVENT_POLL, (uint64_t)src, 0, 0, 0,
					  0)), 0);
		close(p[1]);
	} else {
		cr_assert_eq(ctl1(l.fd, KEVENT_CTL_REMOVE,
				  ev_make(KEVENT_POLL, (uint64_t)src, 0, 0, 0,
					  0)), 0);
		loop_until_idle(&l, KEVENT_POLL, (uint64_t)src);
	}
	close(src);
	loop_close(&l);
}

Test(nest, level_pipe_left_readable)
{
	level_fd_case(0);
}

Test(nest, regular_file_always_ready)
{
	level_fd_case(1);
}

/*
 * Edge-triggered activity that arrives while the fd's entry is in the
 * ring is delivered after the entry is consumed: the loop must be told.
 */
Test(nest, edge_activity_while_queued)
{
	struct loop l;
	int sv[2];
	unsigned int got;

	loop_open(&l, 8);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
				SOCK_CLOEXEC, 0, sv), 0);
	add_ok(l.fd, ev_make(KEVENT_POLL, (uint64_t)sv[0], KEVENT_POLL_IN,
			     KEVENT_REQ_ET, 0, 0));
	cr_assert_eq(write(sv[1], "a", 1), 1);
	cr_assert_eq(loop_ready(&l, LONG_MS), 1);
	cr_assert_eq(rg_wait0(l.fd, 1), 1);
	/* new activity while the entry is in the ring, seen by a wait */
	cr_assert_eq(write(sv[1], "b", 1), 1);
	cr_assert_eq(rg_wait0(l.fd, 1), 1);
	cr_assert_eq(rg_drain(l.ring), 1);
	got = loop_until_idle(&l, KEVENT_POLL, (uint64_t)sv[0]);
	cr_assert_eq(got, 1, "the activity while queued was lost");
	close(sv[0]);
	close(sv[1]);
	loop_close(&l);
}

/* ENABLE of a level-triggered fd that is readable, from the loop thread. */
Test(nest, enable_of_a_ready_level_fd)
{
	struct loop l;
	struct ukevent out[4];
	int p[2];

	loop_open(&l, 8);
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	add_ok(l.fd, ev_make(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN,
			     KEVENT_REQ_DISPATCH, 0, 0));
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(loop_ready(&l, LONG_MS), 1);
	cr_assert_eq(handler(&l, out, 4), 1);
	/* disabled by DISPATCH; reported again meanwhile, and muted */
	cr_assert_eq(handler(&l, out, 4), 0);
	cr_assert_eq(handler(&l, out, 4), 0);
	loop_until_idle(&l, KEVENT_POLL, (uint64_t)p[0]);
	ctl1(l.fd, KEVENT_CTL_ENABLE, ev_make(KEVENT_POLL, (uint64_t)p[0], 0,
					      0, 0, 0));
	cr_assert_eq(loop_until_idle(&l, KEVENT_POLL, (uint64_t)p[0]), 1,
		     "ENABLE of a readable fd was not seen by the loop");
	close(p[0]);
	close(p[1]);
	loop_close(&l);
}

/* Another thread's trigger while the loop sleeps in its own epoll_wait. */
static void *trigger_later(void *p)
{
	int fd = *(int *)p;
	struct timespec d = ms_ts(20);

	nanosleep(&d, NULL);
	ctl1(fd, KEVENT_CTL_READY, ev_make(KEVENT_USER, 5, 0, 0, 0, 0));
	return NULL;
}

Test(nest, trigger_from_another_thread_wakes_the_outer_loop)
{
	struct loop l;
	struct ukevent out[4];
	pthread_t t;

	loop_open(&l, 8);
	add_ok(l.fd, ev_make(KEVENT_USER, 5, 0, 0, 0, 0));
	cr_assert_eq(handler(&l, out, 4), 0);
	pthread_create(&t, NULL, trigger_later, &l.fd);
	cr_assert_eq(loop_ready(&l, LONG_MS), 1);
	pthread_join(t, NULL);
	cr_assert_eq(handler(&l, out, 4), 1);
	cr_assert_eq(loop_until_idle(&l, KEVENT_USER, 5), 0);
	loop_close(&l);
}

/* Nothing registered that fires: an idle queue does not wake its loop. */
Test(nest, idle_queue_is_not_readable)
{
	struct loop l;
	struct ukevent out[4];
	int p[2];

	loop_open(&l, 8);
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	add_ok(l.fd, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	add_ok(l.fd, ev_make(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN, 0, 0,
			     0));
	add_ok(l.fd, ev_make(KEVENT_TIMER, 1, 0, 0, 3600ull * 1000000000, 0));
	cr_assert_eq(handler(&l, out, 4), 0);
	cr_assert_eq(loop_until_idle(&l, KEVENT_USER, 1), 0);
	cr_assert_eq(loop_ready(&l, 20), 0);
	close(p[0]);
	close(p[1]);
	loop_close(&l);
}

/*
 * DISPATCH: a trigger while its entry is still in the ring, and ENABLE
 * before the entry is consumed: once it is, the trigger is delivered, so
 * the loop must be told.
 */
Test(nest, enable_while_queued_with_a_pending_trigger)
{
	struct loop l;
	struct ukevent u = ev_make(KEVENT_USER, 1, 0, KEVENT_REQ_DISPATCH, 0,
				   0);

	loop_open(&l, 8);
	add_ok(l.fd, u);
	ctl1(l.fd, KEVENT_CTL_READY, u);
	cr_assert_eq(loop_ready(&l, LONG_MS), 1);
	cr_assert_eq(rg_wait0(l.fd, 1), 1);	/* published, now disabled */
	ctl1(l.fd, KEVENT_CTL_READY, u);	/* pending */
	ctl1(l.fd, KEVENT_CTL_ENABLE, u);	/* while its entry is queued */
	cr_assert_eq(rg_drain(l.ring), 1);
	cr_assert_eq(loop_until_idle(&l, KEVENT_USER, 1), 1,
		     "the trigger made while the entry was queued was lost");
	loop_close(&l);
}
