// SPDX-License-Identifier: MIT
/*
 * Conformance: promises of the contract and the man pages that no other
 * test held the library to.  Written against <kevent.h> only; every
 * backend must pass each one.
 */
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define MS 1000000ull
#define LONG 60000	/* ms: only reached when something was lost */

/* ---- a failed MODIFY changes nothing */

/*
 * For each type a MODIFY that fails (a bad mask, reserved bits, a bad
 * flag) must leave the registration as it was: same mask, same cookie,
 * still delivered.  Timers: modify::to_oneshot_and_invalid_rolls_back.
 */
Test(promise, failed_modify_leaves_poll_and_user_unchanged)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent p, u, bad, out;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p = ev_make(KEVENT_POLL, (uint64_t)sv[0], KEVENT_POLL_IN, 0, 0, 0xa1);
	u = ev_make(KEVENT_USER, 9, 0, 0, 0, 0xa2);
	add_ok(fd, p);
	add_ok(fd, u);

	bad = p;
	bad.event = 0x80000000u;		/* not a poll bit */
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);
	bad = p;
	bad.__reserved0 = 1;
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);
	bad = p;
	bad.req_flags = KEVENT_REQ_ONESHOT | KEVENT_REQ_DISPATCH;
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);
	bad = u;
	bad.__reserved0 = 7;
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);
	bad = u;
	bad.prio = KEVENT_PRIO_MAX + 1;
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);
	bad = u;
	bad.req_flags = KEVENT_REQ_ET;		/* ET on a user event */
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);

	/* still level-triggered on IN, with the old cookie */
	cr_assert_eq(write(sv[1], "x", 1), 1);
	cr_assert(take(fd, ring, &out, LONG));
	cr_assert_eq(out.type, KEVENT_POLL);
	cr_assert_eq(out.user, 0xa1);
	cr_assert_eq(out.event, KEVENT_POLL_IN);
	cr_assert_eq(out.req_flags, 0);
	cr_assert(take(fd, ring, &out, LONG), "still level-triggered");
	cr_assert_eq(out.user, 0xa1);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE, p), 0);
	while (kevent_ring_consume(ring, &out))
		;
	/* the user event: old cookie, not one-shot */
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, u), 0);
	cr_assert(take(fd, ring, &out, LONG));
	cr_assert_eq(out.type, KEVENT_USER);
	cr_assert_eq(out.user, 0xa2);
	cr_assert_eq(out.ret_flags & KEVENT_RET_REMOVED, 0);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, u), 0, "still registered");
	close(sv[0]);
	close(sv[1]);
	kevent_close(fd);
}

Test(promise, failed_modify_leaves_signal_inode_proc_unchanged)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	char dir[] = "/tmp/kevent-modify-XXXXXX", path[64];
	struct ukevent s, i, pr, bad, out;
	unsigned int seen = 0;
	sigset_t set;
	struct child child;
	int d, f, status;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
	cr_assert_not_null(mkdtemp(dir));
	d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(d, 0);
	child = child_start(7);

	s = ev_make(KEVENT_SIGNAL, SIGUSR1, 0, 0, 0, 0xb1);
	i = ev_make(KEVENT_INODE, (uint64_t)d, KEVENT_INODE_CREATE, 0, 0, 0xb2);
	pr = ev_make(KEVENT_PROC, (uint64_t)child.pid, KEVENT_PROC_EXIT, 0, 0,
		     0xb3);
	add_ok(fd, s);
	add_ok(fd, i);
	add_ok(fd, pr);

	bad = s;
	bad.event = 1;			/* signals take no mask */
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);
	bad = i;
	bad.event = 0;			/* an empty inode mask */
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);
	bad = i;
	bad.event = 0x8000;		/* not an inode bit */
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);
	bad = pr;
	bad.event = 0x4;		/* not a proc bit */
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);

	kill(getpid(), SIGUSR1);
	snprintf(path, sizeof(path), "%s/new", dir);
	f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	cr_assert_geq(f, 0);
	close(f);
	child_go(&child, false);
	while (seen != 7) {
		cr_assert(take(fd, ring, &out, LONG), "seen %#x", seen);
		switch (out.type) {
		case KEVENT_SIGNAL:
			cr_assert_eq(out.user, 0xb1);
			seen |= 1;
			break;
		case KEVENT_INODE:
			cr_assert_eq(out.user, 0xb2);
			cr_assert_eq(out.event, KEVENT_INODE_CREATE);
			seen |= 2;
			break;
		case KEVENT_PROC:
			cr_assert_eq(out.user, 0xb3);
			cr_assert(WIFEXITED((int)out.ret_data));
			cr_assert_eq(WEXITSTATUS((int)out.ret_data), 7);
			seen |= 4;
			break;
		default:
			cr_assert_fail("type %u", out.type);
		}
	}
	cr_assert_eq(waitpid(child.pid, &status, 0), child.pid);
	unlink(path);
	close(d);
	rmdir(dir);
	kevent_close(fd);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* ---- every library fd is close-on-exec */

static int fd_set_of(unsigned char *set, int max)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(dir);
	memset(set, 0, (size_t)max);
	while ((de = readdir(dir))) {
		int f = atoi(de->d_name);

		if (de->d_name[0] == '.' || f == dirfd(dir))
			continue;
		cr_assert_lt(f, max);
		set[f] = 1;
		n++;
	}
	closedir(dir);
	return n;
}

/*
 * Every descriptor the library opens (the queue, the waitset, eventfds,
 * timerfds, signalfds, inotify fds, pidfds, /dev/kevent) is close-on-exec,
 * whatever the registration made it open.
 */
Test(promise, every_library_fd_is_cloexec)
{
	enum { MAXFD = 4096 };
	static unsigned char before[MAXFD], after[MAXFD];
	struct kevent_ring *ring, *ring2;
	char dir[] = "/tmp/kevent-cloexec-XXXXXX";
	int fd, fd2, d, sv[2], f, checked = 0;
	struct child child;
	sigset_t set;

	/* the test's own objects, opened close-on-exec before the snapshot */
	cr_assert_not_null(mkdtemp(dir));
	d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	child = child_start(0);
	fd_set_of(before, MAXFD);

	fd = q_open(&ring, 8);
	fd2 = q_open(&ring2, 8);
	add_ok(fd, ev_make(KEVENT_TIMER, 1, 0, 0, 1000 * MS, 0));
	add_ok(fd, ev_make(KEVENT_TIMER, 2, KEVENT_TIMER_REALTIME, 0,
			   1000 * MS, 0));
	add_ok(fd, ev_make(KEVENT_USER, 3, 0, 0, 0, 0));
	add_ok(fd, ev_make(KEVENT_SIGNAL, SIGUSR2, 0, 0, 0, 0));
	add_ok(fd, ev_make(KEVENT_INODE, (uint64_t)d, KEVENT_INODE_CREATE, 0,
			   0, 0));
	add_ok(fd, ev_make(KEVENT_PROC, (uint64_t)child.pid, KEVENT_PROC_EXIT,
			   0, 0, 0));
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)sv[0], KEVENT_POLL_IN, 0, 0,
			   0));
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)fd2, KEVENT_POLL_IN, 0, 0, 0));
	cr_assert_eq(wait_ms(fd, 1, 0), 0);

	fd_set_of(after, MAXFD);
	for (f = 0; f < MAXFD; f++) {
		if (!after[f] || before[f])
			continue;
		cr_assert_eq(fcntl(f, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC,
			     "fd %d opened by libkev is not close-on-exec", f);
		checked++;
	}
	cr_assert_geq(checked, 2, "the queues' own descriptors were seen");

	kevent_close(fd);
	kevent_close(fd2);
	child_go(&child, true);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	close(sv[0]);
	close(sv[1]);
	close(d);
	rmdir(dir);
}

/* ---- the queue fd nested in epoll */

/*
 * epoll_wait, retried on EINTR as every event loop does: the uring
 * backend's completions interrupt the sleeps of the threads that
 * submitted to it (io_uring task work; see kevent(7)).
 */
static int epoll_ready(int ep, long ms)
{
	struct epoll_event ev[4];
	int n;

	do
		n = epoll_wait(ep, ev, 4, (int)ms);
	while (n < 0 && errno == EINTR);
	return n;
}

/*
 * The queue fd in an epoll set, as asyncio's add_reader or asio put it:
 * not readable while idle, readable once an event is pending (triggered
 * from another thread while epoll sleeps, or from this thread), and not
 * readable again once the ring is drained and kevent_wait(0) has run.
 */
Test(promise, queue_fd_nested_in_epoll)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8), ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	struct sync_sleeper w = { 0 };
	struct ready_later r = { fd, 5, &w, 0 };
	struct ukevent u = ev_make(KEVENT_USER, 5, 0, 0, 0, 0x55), out;
	pthread_t t;

	cr_assert_geq(ep, 0);
	add_ok(fd, u);
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	cr_assert_eq(epoll_ready(ep, 0), 0, "idle queue is not readable");

	/* another thread triggers while epoll_wait sleeps */
	pthread_create(&t, NULL, ready_later_thread, &r);
	sync_about_to_wait(&w);
	cr_assert_eq(epoll_ready(ep, LONG), 1, "woken by READY");
	pthread_join(t, NULL);
	cr_assert_eq(r.ret, 1);
	cr_assert_eq(wait_ms(fd, 1, 0), 1);
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.user, 0x55);
	cr_assert_eq(wait_ms(fd, 1, 0), 0);
	cr_assert_eq(epoll_ready(ep, 0), 0, "drained: not readable");

	/* this thread, which has never called kevent_wait, triggers */
	{
		struct kevent_ring *ring2;
		int fd2 = q_open(&ring2, 8), ep2 = epoll_create1(EPOLL_CLOEXEC);

		add_ok(fd2, u);
		cr_assert_eq(epoll_ctl(ep2, EPOLL_CTL_ADD, fd2, &ev), 0);
		cr_assert_eq(ctl1(fd2, KEVENT_CTL_READY, u), 0);
		cr_assert_eq(epoll_ready(ep2, LONG), 1, "readable after READY");
		cr_assert_eq(wait_ms(fd2, 1, 0), 1);
		cr_assert(kevent_ring_consume(ring2, &out));
		cr_assert_eq(wait_ms(fd2, 1, 0), 0);
		cr_assert_eq(epoll_ready(ep2, 0), 0);
		close(ep2);
		kevent_close(fd2);
	}
	close(ep);
	kevent_close(fd);
}

/* ---- ELOOP for depth, not only for loops */

/*
 * A chain of queues watching queues may be at most KEV_CHAIN queues long,
 * as with epoll(7) (four levels of nesting): whatever order the chain is
 * built in, the ADD that would make it longer fails with ELOOP.
 */
#define KEV_CHAIN 5

static int nest_add(int watcher, int watched)
{
	return ctl1(watcher, KEVENT_CTL_ADD,
		    ev_make(KEVENT_POLL, (uint64_t)watched, KEVENT_POLL_IN, 0,
			    0, 0));
}

/* ---- loops made through another descriptor of a queue */

/*
 * Consume everything, then count the waits (50 ms each) that still find
 * something, up to 10: a loop of queues that fed itself would never stop.
 */
static int waits_until_quiet(int fd, struct kevent_ring *ring)
{
	struct ukevent out;
	int busy = 0;

	while (busy < 10 && wait_ms(fd, 1, 50) > 0) {
		while (kevent_ring_consume(ring, &out))
			;
		busy++;
	}
	return busy;
}

/*
 * kevent_ctl(2), ELOOP: a queue that would watch itself, or a queue that
 * watches it, through a dup(2) of a queue's descriptor, as through its
 * own number.  (On io_uring such a loop was accepted and kept itself
 * ready: every wait returned at once.)  A queue watched through a dup
 * counts in the nesting depth too, and its watcher goes quiet once both
 * are consumed.
 */
Test(promise, a_loop_through_a_dup_of_a_queue_fd_is_eloop)
{
	struct kevent_ring *ra, *rb, *r2;
	int a = q_open(&ra, 8), b = q_open(&rb, 8);
	int da = dup(a), db = dup(b);
	struct ukevent u = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);

	cr_assert(da >= 0 && db >= 0);
	cr_assert_eq(nest_add(a, da), ELOOP, "a watching a dup of itself");
	cr_assert_eq(nest_add(b, da), 0, "b watches a (through a dup)");
	cr_assert_eq(nest_add(a, db), ELOOP, "a watching b, which watches a");
	cr_assert_eq(nest_add(a, b), ELOOP, "the same through b's number");
	{
		/* c watches b by number: the chain a <- b <- c is seen */
		int c = q_open(&r2, 8);

		cr_assert_eq(nest_add(c, b), 0);
		cr_assert_eq(nest_add(a, c), ELOOP, "a <- b <- c <- a");
		kevent_close(c);
	}

	add_ok(a, u);
	for (int round = 0; round < 3; round++) {
		cr_assert_eq(ctl1(a, KEVENT_CTL_READY, u), 0);
		cr_assert_gt(wait_ms(a, 1, LONG), 0, "the trigger is seen");
		cr_assert_lt(waits_until_quiet(a, ra), 10, "a goes quiet");
		cr_assert_lt(waits_until_quiet(b, rb), 10, "b goes quiet");
		cr_assert_lt(waits_until_quiet(a, ra), 10, "and a again");
	}
	close(da);
	close(db);
	kevent_close(a);
	kevent_close(b);
}

Test(promise, nesting_deeper_than_epoll_allows_is_eloop)
{
	struct kevent_ring *ring;
	int q[KEV_CHAIN + 1], i;

	/* bottom up: q[i] watches q[i - 1] */
	for (i = 0; i <= KEV_CHAIN; i++)
		q[i] = q_open(&ring, 8);
	for (i = 1; i < KEV_CHAIN; i++)
		cr_assert_eq(nest_add(q[i], q[i - 1]), 0, "bottom up, level %d", i);
	cr_assert_eq(nest_add(q[KEV_CHAIN], q[KEV_CHAIN - 1]), ELOOP,
		     "bottom up: a chain of %d queues", KEV_CHAIN + 1);
	for (i = 0; i <= KEV_CHAIN; i++)
		kevent_close(q[i]);

	/* top down: each new link goes below the chain built so far */
	for (i = 0; i <= KEV_CHAIN; i++)
		q[i] = q_open(&ring, 8);
	for (i = KEV_CHAIN; i > 1; i--)
		cr_assert_eq(nest_add(q[i], q[i - 1]), 0, "top down, level %d", i);
	cr_assert_eq(nest_add(q[1], q[0]), ELOOP,
		     "top down: a chain of %d queues", KEV_CHAIN + 1);
	for (i = 0; i <= KEV_CHAIN; i++)
		kevent_close(q[i]);

	/* two chains of three joined in the middle make six */
	for (i = 0; i <= KEV_CHAIN; i++)
		q[i] = q_open(&ring, 8);
	cr_assert_eq(nest_add(q[1], q[0]), 0);
	cr_assert_eq(nest_add(q[2], q[1]), 0);
	cr_assert_eq(nest_add(q[4], q[3]), 0);
	cr_assert_eq(nest_add(q[5], q[4]), 0);
	cr_assert_eq(nest_add(q[3], q[2]), ELOOP, "joined: six queues");
	/* a chain that fits works end to end: readiness climbs it */
	{
		struct ukevent u = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);

		add_ok(q[0], u);
		cr_assert_eq(ctl1(q[0], KEVENT_CTL_READY, u), 0);
		for (i = 1; i <= 2; i++)
			cr_assert_eq(wait_ms(q[i], 1, LONG), 1, "level %d", i);
	}
	for (i = 0; i <= KEV_CHAIN; i++)
		kevent_close(q[i]);
}

/* ---- KEVENT_POLL_PRI, POLL_ERR and POLL_RDHUP */

static void tcp_pair(int sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(l, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
	sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(sv[0], (struct sockaddr *)&a, sizeof(a)), 0);
	sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(sv[1], 0);
	close(l);
}

/* TCP urgent data is POLLPRI, and only PRI was asked for. */
Test(promise, poll_pri_on_urgent_data)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8), sv[2];
	struct ukevent out;

	tcp_pair(sv);
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)sv[1], KEVENT_POLL_PRI, 0, 0,
			   0));
	cr_assert_eq(wait_ms(fd, 1, 0), 0);
	cr_assert_eq(send(sv[0], "!", 1, MSG_OOB), 1);
	cr_assert(take(fd, ring, &out, LONG));
	cr_assert_eq(out.id, (uint64_t)sv[1]);
	cr_assert_eq(out.event, KEVENT_POLL_PRI, "event %#x", out.event);
	close(sv[0]);
	close(sv[1]);
	kevent_close(fd);
}

/*
 * Ordinary data is IN, not PRI: a socket's wake-up names both, so a
 * backend that took the wake-up's word for what happened would say PRI.
 */
Test(promise, poll_pri_not_reported_for_ordinary_data)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8), sv[2], k;
	struct ukevent out;
	char buf[8];

	tcp_pair(sv);
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)sv[1],
			   KEVENT_POLL_IN | KEVENT_POLL_PRI, 0, 0, 0));
	for (k = 0; k < 2; k++) {
		cr_assert_eq(wait_ms(fd, 1, 0), 0);
		cr_assert_eq(send(sv[0], "data", 4, 0), 4);
		cr_assert(take(fd, ring, &out, LONG));
		cr_assert_eq(out.event, KEVENT_POLL_IN, "event %#x", out.event);
		cr_assert_eq(recv(sv[1], buf, sizeof(buf), 0), 4);
		while (wait_ms(fd, 1, 0) > 0)
			kevent_ring_advance(ring, kevent_ring_count(ring));
	}
	close(sv[0]);
	close(sv[1]);
	kevent_close(fd);
}

/*
 * The write end of a pipe whose reader is gone: POLL_ERR, delivered even
 * though only OUT was asked for (ERR and HUP always are, as with epoll).
 */
Test(promise, poll_err_always_delivered)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8), p[2];
	struct ukevent out;
	char buf[4096];

	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	/* fill the pipe: not writable, so OUT alone would not fire */
	while (write(p[1], buf, sizeof(buf)) > 0)
		;
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)p[1], KEVENT_POLL_OUT,
			   KEVENT_REQ_ET, 0, 0xe));
	cr_assert_eq(wait_ms(fd, 1, 0), 0);
	close(p[0]);
	cr_assert(take(fd, ring, &out, LONG));
	cr_assert_eq(out.user, 0xe);
	cr_assert(out.event & KEVENT_POLL_ERR, "event %#x", out.event);
	cr_assert_eq(out.event & ~(KEVENT_POLL_ERR | KEVENT_POLL_OUT), 0,
		     "event %#x", out.event);
	close(p[1]);
	kevent_close(fd);
}

/* The peer shut down its writing side: RDHUP (with IN, EOF is readable). */
Test(promise, poll_rdhup_on_peer_shutdown)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8), sv[2], k;
	struct ukevent out;

	for (k = 0; k < 2; k++) {
		if (k == 0)
			cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM |
						SOCK_CLOEXEC, 0, sv), 0);
		else
			tcp_pair(sv);
		add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)sv[0],
				   KEVENT_POLL_RDHUP, 0, 0, 0xd));
		cr_assert_eq(wait_ms(fd, 1, 0), 0);
		cr_assert_eq(shutdown(sv[1], SHUT_WR), 0);
		cr_assert(take(fd, ring, &out, LONG));
		cr_assert_eq(out.user, 0xd);
		cr_assert_eq(out.event, KEVENT_POLL_RDHUP, "%s: event %#x",
			     k ? "tcp" : "unix", out.event);
		cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
				  ev_make(KEVENT_POLL, (uint64_t)sv[0], 0, 0,
					  0, 0)), 0);
		while (kevent_ring_consume(ring, &out))
			;
		close(sv[0]);
		close(sv[1]);
	}
	kevent_close(fd);
}

/* ---- KEVENT_INODE_MOVE and MOVE_SELF */

Test(promise, inode_move_and_move_self)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8), d, f;
	char dir[] = "/tmp/kevent-move-XXXXXX", other[] = "/tmp/kevent-out-XXXXXX";
	char a[96], b[96], c[96];
	struct ukevent out;
	unsigned int moves = 0;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_not_null(mkdtemp(other));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(c, sizeof(c), "%s/c", other);
	f = open(a, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	cr_assert_geq(f, 0);
	d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(d, 0);
	add_ok(fd, ev_make(KEVENT_INODE, (uint64_t)d, KEVENT_INODE_MOVE, 0, 0,
			   0xd1));
	add_ok(fd, ev_make(KEVENT_INODE, (uint64_t)f, KEVENT_INODE_MOVE_SELF, 0,
			   0, 0xf1));
	cr_assert_eq(wait_ms(fd, 1, 0), 0);

	/* within the directory: MOVE for it, MOVE_SELF for the file */
	cr_assert_eq(rename(a, b), 0);
	while (moves != 3) {
		cr_assert(take(fd, ring, &out, LONG), "moves %#x", moves);
		if (out.user == 0xd1) {
			cr_assert_eq(out.event, KEVENT_INODE_MOVE);
			moves |= 1;
		} else {
			cr_assert_eq(out.user, 0xf1);
			cr_assert_eq(out.event, KEVENT_INODE_MOVE_SELF);
			moves |= 2;
		}
	}
	/* out of the directory: MOVE again (and MOVE_SELF) */
	cr_assert_eq(rename(b, c), 0);
	moves = 0;
	while (!(moves & 1)) {
		cr_assert(take(fd, ring, &out, LONG), "moved out");
		if (out.user == 0xd1) {
			cr_assert_eq(out.event, KEVENT_INODE_MOVE);
			moves |= 1;
		}
	}
	unlink(c);
	close(f);
	close(d);
	rmdir(dir);
	rmdir(other);
	kevent_close(fd);
}

/* ---- kevent_wait: EINVAL, EINTR */

Test(promise, wait_invalid_timeouts_are_einval)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent u = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);
	const struct timespec bad[] = {
		{ -1, 0 }, { 0, -1 }, { 0, 1000000000L }, { -5, 999 },
	};
	unsigned int i;

	add_ok(fd, u);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, u), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		cr_assert_eq(kevent_wait(fd, 1, &bad[i]), -1, "timeout %d",
			     (int)i);
		cr_assert_eq(errno, EINVAL);
		cr_assert_eq(kevent_pwait(fd, 1, &bad[i], NULL), -1);
		cr_assert_eq(errno, EINVAL);
	}
	/* and the pending event was not lost by the failed calls */
	cr_assert_eq(wait_ms(fd, 1, 0), 1);
	kevent_close(fd);
}

/*
 * A signal ends a wait for two events while one is in the ring: EINTR,
 * and the one event is still there to be consumed, unchanged.
 */
Test(promise, eintr_leaves_the_ring_intact)
{
	struct kevent_ring *ring;
	struct wait_args w = { q_open(&ring, 8), 2, LONG };
	struct ukevent u = ev_make(KEVENT_USER, 3, 0, 0, 0, 0x33), out;
	int err;

	add_ok(w.fd, u);
	cr_assert_eq(ctl1(w.fd, KEVENT_CTL_READY, u), 0);
	cr_assert_eq(wait_ms(w.fd, 1, 0), 1);
	cr_assert_eq(wait_hit_by_signal(SIGUSR1, 0, -1, wait_args_call, &w,
					&err), -1);
	cr_assert_eq(err, EINTR);
	cr_assert_eq(kevent_ring_count(ring), 1);
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.id, 3);
	cr_assert_eq(out.user, 0x33);
	cr_assert_eq(out.ret_data, 1);
	kevent_close(w.fd);
}

struct dequeue_args {
	int fd;
	struct kevent_ring *ring;
};

static int dequeue_call(void *p)
{
	struct dequeue_args *a = p;
	struct timespec ts = ms_ts(LONG);
	struct ukevent out;

	return ukevent_dequeue(a->fd, a->ring, &out, &ts);
}

Test(promise, ukevent_dequeue_eintr)
{
	struct dequeue_args a;
	int err;

	a.fd = q_open(&a.ring, 8);
	add_ok(a.fd, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	cr_assert_eq(wait_hit_by_signal(SIGUSR1, 0, a.fd, dequeue_call, &a,
					&err), -1);
	cr_assert_eq(err, EINTR);
	kevent_close(a.fd);
}

/* ---- ENABLE and DISABLE, repeated, on every type */

/*
 * For each type: DISABLE twice (both succeed), the source fires, nothing
 * is delivered; ENABLE twice: exactly one delivery, with what fired.  The
 * same on a registration that is already enabled: no delivery at all.
 */
Test(promise, enable_disable_repeated_on_every_type)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 16), sv[2], d, f;
	struct child child;
	char dir[] = "/tmp/kevent-endis-XXXXXX", path[64];
	struct ukevent e[6], out;
	unsigned int seen = 0, i;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_not_null(mkdtemp(dir));
	d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	child = child_start(0);
	e[0] = ev_make(KEVENT_POLL, (uint64_t)sv[0], KEVENT_POLL_IN, 0, 0, 0);
	e[1] = ev_make(KEVENT_TIMER, 1, 0, KEVENT_REQ_ONESHOT, 1 * MS, 1);
	cr_assert_eq(wait_ms(fd, 1, 0), 0);
	e[2] = ev_make(KEVENT_USER, 2, 0, 0, 0, 2);
	e[3] = ev_make(KEVENT_SIGNAL, SIGUSR1, 0, 0, 0, 3);
	e[4] = ev_make(KEVENT_INODE, (uint64_t)d, KEVENT_INODE_CREATE, 0, 0, 4);
	e[5] = ev_make(KEVENT_PROC, (uint64_t)child.pid, KEVENT_PROC_EXIT, 0,
		       0, 5);
	for (i = 0; i < 6; i++) {
		add_ok(fd, e[i]);
		if (i == 1) {
			/*
			 * The kmod backend fires a timer on its own: if this
			 * one expired before the DISABLE, it is gone (one-shot):
			 * drain it and try a longer one.
			 */
			while (ctl1(fd, KEVENT_CTL_DISABLE, e[1]) == ENOENT) {
				while (wait_ms(fd, 1, 0) > 0)
					kevent_ring_advance(ring,
						kevent_ring_count(ring));
				cr_assert_lt(e[1].data, 60000 * MS);
				e[1].data *= 4;
				add_ok(fd, e[1]);
			}
		} else {	/* enabled already: nothing happens */
			cr_assert_eq(ctl1(fd, KEVENT_CTL_ENABLE, e[i]), 0);
			cr_assert_eq(ctl1(fd, KEVENT_CTL_ENABLE, e[i]), 0);
		}
		cr_assert_eq(ctl1(fd, KEVENT_CTL_DISABLE, e[i]), 0);
		cr_assert_eq(ctl1(fd, KEVENT_CTL_DISABLE, e[i]), 0, "twice");
	}
	/* every source fires while disabled */
	cr_assert_eq(write(sv[1], "x", 1), 1);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, e[2]), 0);
	kill(getpid(), SIGUSR1);
	snprintf(path, sizeof(path), "%s/f", dir);
	f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(f);
	child_go(&child, false);
	cr_assert_eq(waitid(P_PID, (id_t)child.pid, &(siginfo_t){ 0 },
			    WEXITED | WNOWAIT), 0);
	{
		/* the timer is due */
		struct timespec t = ms_ts((long)(e[1].data / MS) + 1);

		nanosleep(&t, NULL);
	}
	expect_none(fd, ring, 50);
	/*
	 * Twice in one batch: a one-shot registration (the timer, the
	 * process) is published, and so removed, at the end of the batch.
	 */
	for (i = 0; i < 6; i++) {
		struct ukevent two[2] = { e[i], e[i] };

		cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_ENABLE, 2, two), 2,
			     "type %u: %s", e[i].type,
			     strerror((int)two[1].ret_data));
	}
	while (seen != 0x3f) {
		cr_assert(take(fd, ring, &out, LONG), "seen %#x", seen);
		cr_assert_lt(out.user, 6);
		cr_assert_eq(seen & (1u << out.user), 0,
			     "type %u (user %llu) delivered twice, event %#x count %llu",
			     out.type, (unsigned long long)out.user, out.event,
			     (unsigned long long)out.ret_data);
		seen |= 1u << out.user;
		if (out.type == KEVENT_POLL) {
			char c;

			cr_assert_eq(read(sv[0], &c, 1), 1);
		}
	}
	expect_none(fd, ring, 50);
	waitpid(child.pid, NULL, 0);
	unlink(path);
	close(d);
	rmdir(dir);
	close(sv[0]);
	close(sv[1]);
	kevent_close(fd);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* ---- a whole-call error applies no entry */

static void sentinel(struct ukevent *e, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		e[i].ret_flags = 0x5a5a;
		e[i].ret_data = 0xfeedu;
	}
}

static void untouched(const struct ukevent *e, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		cr_assert_eq(e[i].ret_flags, 0x5a5a, "entry %u written", i);
		cr_assert_eq(e[i].ret_data, 0xfeedu, "entry %u written", i);
	}
}

Test(promise, whole_call_error_applies_no_entry)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8), sv[2];
	struct ukevent e[3];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	e[0] = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);
	e[1] = ev_make(KEVENT_TIMER, 2, 0, 0, 5 * MS, 0);
	e[2] = ev_make(KEVENT_POLL, (uint64_t)sv[0], KEVENT_POLL_OUT, 0, 0, 0);

	sentinel(e, 3);
	cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_MAX, 3, e), -1);
	cr_assert_eq(errno, EINVAL);
	untouched(e, 3);
	sentinel(e, 3);
	cr_assert_eq(kevent_ctl(fd, 0xffffffffu, 3, e), -1);
	cr_assert_eq(errno, EINVAL);
	untouched(e, 3);
	sentinel(e, 3);
	cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_ADD, KEVENT_CTL_BATCH_MAX + 1, e),
		     -1);
	cr_assert_eq(errno, EINVAL);
	untouched(e, 3);
	cr_assert_eq(kevent_ctl(-1, KEVENT_CTL_ADD, 3, e), -1);
	cr_assert_eq(errno, EBADF);
	untouched(e, 3);
	cr_assert_eq(kevent_ctl(sv[1], KEVENT_CTL_ADD, 3, e), -1);
	cr_assert_eq(errno, EINVAL);
	untouched(e, 3);
	/* nothing was registered, nothing was delivered */
	expect_none(fd, ring, 30);
	cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_REMOVE, 3, e), 0,
		     "none of them is registered");
	cr_assert_eq(e[0].ret_data, ENOENT);
	cr_assert_eq(e[1].ret_data, ENOENT);
	cr_assert_eq(e[2].ret_data, ENOENT);
	close(sv[0]);
	close(sv[1]);
	kevent_close(fd);
}

/* ---- the kevent_init flag beats $KEVENT_BACKEND */

Test(promise, flag_beats_the_environment)
{
	static const struct {
		const char *name;
		unsigned int flag;
	} b[] = {
		{ "kmod", KEVENT_BACKEND_KMOD },
		{ "uring", KEVENT_BACKEND_URING },
		{ "epoll", KEVENT_BACKEND_EPOLL },
	};
	const char *mine = test_backend();
	struct kevent_ring *ring;
	unsigned int i, j, tried = 0;

	cr_assert_not_null(mine, "KEVENT_BACKEND names the backend under test");
	for (i = 0; i < 3; i++) {
		if (strcmp(b[i].name, mine))
			continue;
		/* every other value of the variable, valid or not, is ignored */
		for (j = 0; j < 4; j++) {
			const char *env = j < 3 ? b[j].name : "carrier-pigeon";
			int fd;

			setenv("KEVENT_BACKEND", env, 1);
			fd = kevent_init(&ring, 0, b[i].flag);
			cr_assert_geq(fd, 0, "flag %s, KEVENT_BACKEND=%s: %s",
				      mine, env, strerror(errno));
			cr_assert_str_eq(kevent_backend(fd), mine,
					 "KEVENT_BACKEND=%s", env);
			kevent_close(fd);
			tried++;
		}
	}
	setenv("KEVENT_BACKEND", mine, 1);
	cr_assert_eq(tried, 4);
}
