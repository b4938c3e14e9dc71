// SPDX-License-Identifier: MIT
/*
 * kmod-tests.c - tests of the kevent kernel module through its raw ioctls
 * (no libkev needed).  Run inside the test VM with kevent.ko loaded, one
 * test per process (see kq.h): kmod-tests --list | NAME | --all.
 *
 * Waits that must end because of what the test did use HANG_NS, a hang
 * guard only; "nothing arrives" is shown by ordering (a later marker
 * event arrives first), never by a short sleep.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>

#include "kq.h"

/* ---- tests */

static int t_setup(void)
{
	struct kevent_setup s = { .size = sizeof(s), .ring_size = 100 };
	int fd = open("/dev/kevent", O_RDWR);
	void *p;

	CHECK(fd >= 0, "open: %s", strerror(errno));
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED,
	      "mmap before setup worked");
	CHECK(kq_wait(fd, 1, 0) < 0 && errno == EINVAL, "wait before setup");
	CHECK(ioctl(fd, KEVENT_IOC_SETUP, &s) == 0, "setup: %s",
	      strerror(errno));
	CHECK(s.ring_size == 128 && s.abi_version == KEVENT_ABI_VERSION &&
	      s.ring_bytes == KEVENT_RING_BYTES(128) +
	      sizeof(struct kevent_stats), "setup out %u %llu",
	      s.ring_size, (unsigned long long)s.ring_bytes);
	CHECK(ioctl(fd, KEVENT_IOC_SETUP, &s) < 0 && errno == EBUSY,
	      "second setup");
	CHECK(mmap(NULL, 1 << 20, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED &&
	      errno == EINVAL, "oversized mmap worked");
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 4096) == MAP_FAILED,
	      "mmap at offset 4096 worked");
	CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0) ==
	      MAP_FAILED && errno == EINVAL, "private mmap worked");
	p = mmap(NULL, s.ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	CHECK(((struct kevent_ring *)p)->size == 128 &&
	      ((struct kevent_ring *)p)->mask == 127 &&
	      ((struct kevent_ring *)p)->entries_offset ==
	      KEVENT_RING_ENTRIES_OFFSET, "ring header");
	munmap(p, s.ring_bytes);
	close(fd);
	fd = open("/dev/kevent", O_RDWR);
	s.ring_size = KEVENT_RING_MAX + 1;
	CHECK(ioctl(fd, KEVENT_IOC_SETUP, &s) < 0 && errno == EINVAL,
	      "oversized ring accepted");
	s.ring_size = 0;
	CHECK(ioctl(fd, KEVENT_IOC_SETUP, &s) == 0 && s.ring_size == 256,
	      "default ring");
	close(fd);
	return 0;
}

static int t_user(void)
{
	struct kq q;
	struct ukevent e, out;
	int i;

	CHECK(kq_open(&q, 8) == 0, "open: %s", strerror(errno));
	e = mk(KEVENT_USER, 42, 0, 0, 0);
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, e) == 0, "add");
	CHECK(kq_wait(q.fd, 1, 0) == 0, "spurious event");
	for (i = 0; i < 3; i++)
		CHECK(ctl1(q.fd, KEVENT_CTL_READY, e) == 0, "ready");
	CHECK(kq_wait(q.fd, 1, -1) == 1, "wait");
	/* a second READY while queued is coalesced, not a second slot */
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, e) == 0, "ready");
	CHECK(kevent_ring_count(q.ring) == 1, "count %u",
	      kevent_ring_count(q.ring));
	CHECK(kevent_ring_consume(q.ring, &out), "consume");
	CHECK(out.id == 42 && out.type == KEVENT_USER && out.ret_data == 1 &&
	      out.user == e.user && out.ret_flags == 0, "entry id %llu data %llu",
	      (unsigned long long)out.id, (unsigned long long)out.ret_data);
	CHECK(kq_wait(q.fd, 1, 0) == 1, "coalesced one not delivered");
	CHECK(kevent_ring_consume(q.ring, &out) && out.ret_data == 3, "second");
	CHECK(kq_wait(q.fd, 1, 0) == 0, "extra event");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 43, 0, 0, 0)) ==
	      ENOENT, "ready unknown");
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, e) == 0, "remove");
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, e) == ENOENT, "remove twice");
	kq_close(&q);
	return 0;
}

static int t_errors(void)
{
	struct kq q, q2, q3;
	struct ukevent e, b[3];
	int p[2];

	CHECK(kq_open(&q, 8) == 0, "open");
	CHECK(pipe(p) == 0, "pipe");
	e = mk(KEVENT_USER, 1, 0, 0, 0);
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, e) == 0, "add");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, e) == EEXIST, "EEXIST");
	e.__reserved0 = 1;
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 9, 0, 8, 0)) == EINVAL,
	      "bad flags");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, e) == EINVAL, "reserved");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(9, 1, 0, 0, 0)) == EINVAL, "type");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 2, 0,
		KEVENT_REQ_ONESHOT | KEVENT_REQ_DISPATCH, 0)) == EINVAL,
	      "oneshot|dispatch");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 2, 0, KEVENT_REQ_ET,
					     0)) == EINVAL, "ET on user");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 2, 0, 0, 0)) ==
	      EINVAL, "periodic 0");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 2, 3, 0, 5)) ==
	      EINVAL, "clock 3");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, 999, KEVENT_POLL_IN,
					     0, 0)) == EBADF, "EBADF");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, 1ULL << 40,
		KEVENT_POLL_IN, 0, 0)) == EBADF, "EBADF big");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_SIGNAL, SIGUSR2, 0, 0, 0)) ==
	      EINVAL, "unblocked signal");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_PROC, 99999, 0, 0, 0)) ==
	      ESRCH, "no such pid");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_POLL, (unsigned)p[0], 0,
					       0, 0)) == ENOENT, "ready poll");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[1],
		KEVENT_POLL_OUT, 0, 0)) == 0, "add poll");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_POLL, (unsigned)p[1], 0,
					       0, 0)) == EINVAL, "ready poll");
	/* batch: per-entry errors, processing continues */
	b[0] = mk(KEVENT_USER, 10, 0, 0, 0);
	b[1] = mk(KEVENT_USER, 1, 0, 0, 0);
	b[2] = mk(KEVENT_USER, 11, 0, 0, 0);
	CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, 3, b) == 2, "batch count");
	CHECK(b[0].ret_flags == 0 && b[1].ret_flags == KEVENT_RET_ERROR &&
	      b[1].ret_data == EEXIST && b[2].ret_flags == 0, "batch results");
	CHECK(kq_ctl(q.fd, KEVENT_CTL_MAX, 1, b) < 0 && errno == EINVAL, "cmd");
	CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, KEVENT_CTL_BATCH_MAX + 1, b) < 0 &&
	      errno == EINVAL, "num");
	CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, 1, NULL) < 0 && errno == EFAULT,
	      "NULL");
	CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, 1, (void *)16) < 0 &&
	      errno == EFAULT, "bad pointer");
	CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, 0, NULL) == 0, "num 0");
	CHECK(kq_ctl(p[0], KEVENT_CTL_ADD, 1, b) < 0, "ctl on a pipe");

	/* ELOOP: itself, and a loop of two or three queues */
	CHECK(kq_open(&q2, 8) == 0 && kq_open(&q3, 8) == 0, "open");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)q.fd,
		KEVENT_POLL_IN, 0, 0)) == ELOOP, "self not ELOOP");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)q2.fd,
		KEVENT_POLL_IN, 0, 0)) == 0, "nest q2 in q");
	CHECK(ctl1(q2.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)q3.fd,
		KEVENT_POLL_IN, 0, 0)) == 0, "nest q3 in q2");
	CHECK(ctl1(q2.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)q.fd,
		KEVENT_POLL_IN, 0, 0)) == ELOOP, "loop q<->q2 not ELOOP");
	CHECK(ctl1(q3.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)q.fd,
		KEVENT_POLL_IN, 0, 0)) == ELOOP, "loop of 3 not ELOOP");
	/* a nested queue's event makes the outer queue see it */
	CHECK(ctl1(q3.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 5, 0, 0, 0)) == 0,
	      "add");
	CHECK(ctl1(q3.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 5, 0, 0, 0)) == 0,
	      "ready");
	{
		int n3 = kq_wait(q3.fd, 1, 0), n2 = kq_wait(q2.fd, 1, HANG_NS);
		int n1 = kq_wait(q.fd, 1, HANG_NS);

		CHECK(n3 == 1 && n2 >= 1 && n1 >= 1,
		      "outer not woken: %d %d %d", n3, n2, n1);
	}
	kq_close(&q3);
	kq_close(&q2);
	kq_close(&q);
	close(p[0]);
	close(p[1]);
	return 0;
}

static int t_poll(void)
{
	struct kq q;
	struct ukevent out = { 0 };
	int p[2];
	char buf[64];
	struct pollfd pf;

	CHECK(kq_open(&q, 8) == 0, "open");
	CHECK(pipe(p) == 0, "pipe");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, 0, 0)) == 0, "add");
	CHECK(kq_wait(q.fd, 1, 0) == 0, "spurious");
	pf.fd = q.fd;
	pf.events = POLLIN;
	CHECK(poll(&pf, 1, 0) == 0, "queue fd readable while empty");
	CHECK(write(p[1], "x", 1) == 1, "write");
	CHECK(poll(&pf, 1, 1000) == 1, "queue fd not readable");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "wait");
	CHECK(kevent_ring_consume(q.ring, &out) && out.type == KEVENT_POLL &&
	      out.id == (unsigned)p[0] && out.event == KEVENT_POLL_IN,
	      "entry event %#x", out.event);
	/* level-triggered: delivered again while readable */
	CHECK(kq_wait(q.fd, 1, 0) == 1, "LT not redelivered");
	CHECK(kevent_ring_consume(q.ring, &out), "consume");
	CHECK(read(p[0], buf, sizeof(buf)) == 1, "read");
	CHECK(kq_wait(q.fd, 1, 0) == 0, "LT delivered after drain");
	/* HUP when the writer closes */
	close(p[1]);
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "no HUP");
	CHECK(kevent_ring_consume(q.ring, &out) &&
	      (out.event & KEVENT_POLL_HUP), "event %#x", out.event);
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_POLL, (unsigned)p[0],
		0, 0, 0)) == 0, "remove");
	close(p[0]);

	/* edge-triggered */
	CHECK(pipe(p) == 0, "pipe");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, KEVENT_REQ_ET, 0)) == 0, "add et");
	CHECK(write(p[1], "x", 1) == 1, "write");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "et wait");
	CHECK(kevent_ring_consume(q.ring, &out), "consume");
	CHECK(kq_wait(q.fd, 1, 0) == 0, "ET redelivered without activity");
	CHECK(write(p[1], "y", 1) == 1, "write");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "ET new activity");
	CHECK(kevent_ring_consume(q.ring, &out), "consume");
	/* oneshot and dispatch */
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, KEVENT_REQ_DISPATCH, 0)) == 0, "modify");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "dispatch wait");
	CHECK(kevent_ring_consume(q.ring, &out), "consume");
	CHECK(kq_wait(q.fd, 1, 0) == 0, "dispatch delivered while disabled");
	CHECK(ctl1(q.fd, KEVENT_CTL_ENABLE, mk(KEVENT_POLL, (unsigned)p[0],
		0, 0, 0)) == 0, "enable");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "not delivered on enable");
	CHECK(kevent_ring_consume(q.ring, &out), "consume");
	/* the DISPATCH registration exists: MODIFY makes it ONESHOT */
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, KEVENT_REQ_ONESHOT, 0)) == 0, "modify");
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_POLL, (unsigned)p[0],
		0, 0, 0)) == 0, "remove");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, KEVENT_REQ_ONESHOT, 0)) == 0, "add oneshot");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "oneshot wait");
	CHECK(kevent_ring_consume(q.ring, &out) &&
	      (out.ret_flags & KEVENT_RET_REMOVED), "oneshot flags");
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_POLL, (unsigned)p[0],
		0, 0, 0)) == ENOENT, "oneshot still registered");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, KEVENT_REQ_ONESHOT, 0)) == 0, "re-add oneshot");
	/* the pipe still holds "xy": delivered at once, then gone */
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "re-added oneshot wait");
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == (unsigned)p[0] &&
	      (out.ret_flags & KEVENT_RET_REMOVED), "re-added oneshot entry");
	close(p[0]);
	close(p[1]);

	/* a regular file is always ready */
	{
		int fd = open("/proc/self/status", O_RDONLY);

		CHECK(fd >= 0, "open file");
		CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)fd,
			KEVENT_POLL_IN | KEVENT_POLL_OUT, 0, 0)) == 0, "add");
		CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "file not ready");
		CHECK(kevent_ring_consume(q.ring, &out) &&
		      out.id == (unsigned)fd && out.event ==
		      (KEVENT_POLL_IN | KEVENT_POLL_OUT), "file event %#x",
		      out.event);
		close(fd);
	}
	kq_close(&q);
	return 0;
}

/* Close the watched fd without REMOVE, then REMOVE it. */
static int t_close_then_remove(void)
{
	struct kq q;
	int p[2];

	CHECK(kq_open(&q, 8) == 0, "open");
	CHECK(pipe(p) == 0, "pipe");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, 0, 0)) == 0, "add");
	close(p[0]);
	close(p[1]);
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_POLL, (unsigned)p[0],
		0, 0, 0)) == 0, "remove after close");
	CHECK(pipe(p) == 0, "pipe");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, 0, 0)) == 0, "add");
	close(p[0]);
	/* the registration still holds the read side: writing works */
	CHECK(write(p[1], "x", 1) == 1, "write after close");
	close(p[1]);
	kq_close(&q);		/* released with the queue */
	return 0;
}

/* A signalfd whose owning task exits: its wait queue goes (POLLFREE). */
/*
 * The point of the module: a wake-up with a key publishes the entry from
 * the wake-up itself, so the consumer sees it in the ring with no system
 * call.  Spin on the ring only (bounded), never calling wait or ctl.
 */
static int t_published_by_wakeup(void)
{
	struct kq q;
	struct ukevent out = { 0 };
	struct timespec t0, t;
	int p[2];

	CHECK(kq_open(&q, 8) == 0, "open");
	CHECK(pipe(p) == 0, "pipe");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, KEVENT_REQ_ET, 0)) == 0, "add");
	CHECK(kevent_ring_empty(q.ring), "ring not empty before the write");
	CHECK(write(p[1], "x", 1) == 1, "write");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (kevent_ring_consume(q.ring, &out))
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		CHECK((t.tv_sec - t0.tv_sec) * 1000000000LL < HANG_NS,
		      "no entry in the ring after the write (hang guard)");
	}
	CHECK(out.type == KEVENT_POLL && out.id == (unsigned)p[0] &&
	      (out.event & KEVENT_POLL_IN), "entry event %#x", out.event);
	close(p[0]);
	close(p[1]);
	kq_close(&q);
	return 0;
}

static int t_pollfree(void)
{
	struct kq q;
	int round;

	for (round = 0; round < 20; round++) {
		int sfd_num = -1, status, pp[2];
		pid_t pid;

		CHECK(kq_open(&q, 8) == 0, "open");
		CHECK(pipe(pp) == 0, "pipe");
		pid = fork();
		CHECK(pid >= 0, "fork");
		if (pid == 0) {
			sigset_t set;
			int sfd;

			sigemptyset(&set);
			sigaddset(&set, SIGUSR1);
			sigprocmask(SIG_BLOCK, &set, NULL);
			sfd = signalfd(-1, &set, SFD_CLOEXEC);
			if (sfd < 0 ||
			    ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL,
				(unsigned)sfd, KEVENT_POLL_IN, 0, 0)) != 0)
				_exit(1);
			if (write(pp[1], &sfd, sizeof(sfd)) != sizeof(sfd))
				_exit(1);
			if (round & 1)
				kill(getpid(), SIGUSR1);
			_exit(0);
		}
		close(pp[1]);
		CHECK(read(pp[0], &sfd_num, sizeof(sfd_num)) ==
		      sizeof(sfd_num), "child failed");
		close(pp[0]);
		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0, "child status %#x", status);
		kq_wait(q.fd, 1, 0);
		kevent_ring_advance(q.ring, kevent_ring_count(q.ring));
		if (round & 2)
			CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_POLL,
				(unsigned)sfd_num, 0, 0, 0)) == 0, "remove");
		kq_close(&q);
	}
	return 0;
}

/*
 * "Nothing else arrives meanwhile": a ONESHOT marker timer (id 1000) armed
 * now for ns must be the next entry.  An order, not a time limit.
 */
static int marker_next(struct kq *q, int64_t ns, const char *what)
{
	struct ukevent out;

	CHECK(ctl1(q->fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 1000, 0,
		KEVENT_REQ_ONESHOT, (uint64_t)ns)) == 0, "%s: marker", what);
	CHECK(kq_wait(q->fd, 1, HANG_NS) >= 1, "%s: marker did not fire",
	      what);
	CHECK(kevent_ring_consume(q->ring, &out), "%s: consume", what);
	CHECK(out.type == KEVENT_TIMER && out.id == 1000,
	      "%s: type %u id %llu came before the marker", what, out.type,
	      (unsigned long long)out.id);
	return 0;
}

static int t_timer(void)
{
	enum { P = 1000000 };	/* the periodic timer's interval: 1 ms */
	struct kq q;
	struct ukevent out = { 0 };
	int64_t t0, a0, a1, d1, e0, r1, sum = 0, before_remove;
	int n, deliveries;

	CHECK(kq_open(&q, 8) == 0, "open");
	/* relative oneshot: never before its time */
	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 1, 0,
		KEVENT_REQ_ONESHOT, 20000000)) == 0, "add");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "oneshot did not fire");
	CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 20000000, "fired early");
	CHECK(kevent_ring_consume(q.ring, &out) && out.ret_data == 1 &&
	      (out.ret_flags & KEVENT_RET_REMOVED), "oneshot entry");
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_TIMER, 1, 0, 0, 0)) ==
	      ENOENT, "oneshot not removed");
	/* relative 0 fires at once */
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 1, 0,
		KEVENT_REQ_ONESHOT, 0)) == 0, "add 0");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "0 did not fire");
	kevent_ring_advance(q.ring, 1);
	/* absolute, realtime and boottime */
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 2,
		KEVENT_TIMER_REALTIME | KEVENT_TIMER_ABSTIME, 0,
		(uint64_t)now_ns(CLOCK_REALTIME) + 10000000)) == 0, "abs");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "abs did not fire");
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == 2 &&
	      out.ret_flags == 0, "abs entry");
	if (marker_next(&q, 50000000, "abs fired twice"))
		return -1;
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_TIMER, 2, 0, 0, 0)) == 0,
	      "abs remains registered");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 3,
		KEVENT_TIMER_BOOTTIME | KEVENT_TIMER_ABSTIME, 0,
		(uint64_t)now_ns(CLOCK_BOOTTIME) - 1)) == 0, "abs past");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "past did not fire");
	kevent_ring_advance(q.ring, 1);
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_TIMER, 3, 0, 0, 0)) == 0,
	      "remove");

	/*
	 * Periodic: every expiration is counted once, whether the entry sat
	 * in the ring or the registration was disabled.  The bounds come
	 * from clock readings taken around each call, so they hold on a
	 * machine of any speed.
	 */
	a0 = now_ns(CLOCK_MONOTONIC);
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 4, 0, 0, P)) == 0,
	      "periodic");
	a1 = now_ns(CLOCK_MONOTONIC);
	for (deliveries = 0; deliveries < 50; deliveries++) {
		n = kq_wait(q.fd, 1, HANG_NS);
		CHECK(n == 1, "periodic wait %d", n);
		CHECK(kevent_ring_consume(q.ring, &out) && out.id == 4 &&
		      out.ret_data >= 1, "periodic entry");
		sum += (int64_t)out.ret_data;
	}
	CHECK(ctl1(q.fd, KEVENT_CTL_DISABLE, mk(KEVENT_TIMER, 4, 0, 0, 0)) == 0,
	      "disable");
	d1 = now_ns(CLOCK_MONOTONIC);
	while (kevent_ring_consume(q.ring, &out)) {
		CHECK(out.id == 4, "entry %llu", (unsigned long long)out.id);
		sum += (int64_t)out.ret_data;
	}
	if (marker_next(&q, 20000000, "delivered while disabled"))
		return -1;
	e0 = now_ns(CLOCK_MONOTONIC);
	CHECK(ctl1(q.fd, KEVENT_CTL_ENABLE, mk(KEVENT_TIMER, 4, 0, 0, 0)) == 0,
	      "enable");
	CHECK(kq_wait(q.fd, 1, 0) == 1, "not delivered on enable");
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == 4, "consume");
	/* at least the periods between DISABLE and ENABLE were counted */
	CHECK((int64_t)out.ret_data >= (e0 - d1) / P - 1,
	      "missed expirations %llu over %lld ns",
	      (unsigned long long)out.ret_data, (long long)(e0 - d1));
	sum += (int64_t)out.ret_data;
	before_remove = sum;
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_TIMER, 4, 0, 0, 0)) == 0,
	      "remove periodic");
	r1 = now_ns(CLOCK_MONOTONIC);
	while (kevent_ring_consume(q.ring, &out))
		sum += (int64_t)out.ret_data;
	/* everything up to ENABLE delivered, nothing invented */
	CHECK(before_remove >= (e0 - a1) / P - 1 && sum <= (r1 - a0) / P + 1,
	      "periodic: %lld expirations, %lld..%lld ns",
	      (long long)sum, (long long)(e0 - a1), (long long)(r1 - a0));

	/* MODIFY re-arms: 1 ms -> 1000 s */
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 4, 0, 0, P)) == 0,
	      "periodic");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "periodic wait");
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mk(KEVENT_TIMER, 4, 0, 0,
		1000000000000ULL)) == 0, "modify");
	kq_wait(q.fd, 1, 0);
	kevent_ring_advance(q.ring, kevent_ring_count(q.ring));
	if (marker_next(&q, 100000000, "modified timer fired"))
		return -1;
	/* a 1 ns periodic timer must not starve the machine */
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 5, 0, 0, 1)) == 0,
	      "1ns");
	CHECK(kq_wait(q.fd, 1, HANG_NS) >= 1, "1ns");
	kq_close(&q);		/* with timers still armed */
	return 0;
}

/* More firing registrations than ring slots: nothing lost, none twice. */
static int t_ring_full(void)
{
	enum { N = 50 };
	struct kq q;
	struct ukevent b[N], out;
	int sum[N] = { 0 }, i, total = 0;

	CHECK(kq_open(&q, 4) == 0, "open");
	for (i = 0; i < N; i++)
		b[i] = mk(KEVENT_USER, (unsigned)i, 0, 0, 0);
	CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, N, b) == N, "add");
	CHECK(kq_ctl(q.fd, KEVENT_CTL_READY, N, b) == N, "ready");
	CHECK(kq_ctl(q.fd, KEVENT_CTL_READY, N, b) == N, "ready");
	CHECK(kevent_ring_count(q.ring) == 4, "count %u",
	      kevent_ring_count(q.ring));
	CHECK(q.ring->deferred > 0, "deferred not counted");
	while (total < 2 * N) {
		int n = kq_wait(q.fd, 1, 0);

		CHECK(n >= 1, "lost events: %d of %d", total, 2 * N);
		while (kevent_ring_consume(q.ring, &out)) {
			CHECK(out.id < N && out.ret_data >= 1 &&
			      sum[out.id] + out.ret_data <= 2, "dup %llu",
			      (unsigned long long)out.id);
			sum[out.id] += (int)out.ret_data;
			total += (int)out.ret_data;
		}
	}
	CHECK(kq_wait(q.fd, 1, 0) == 0, "extra events");
	CHECK(q.ring->published == N + 4, "published %llu",
	      (unsigned long long)q.ring->published);
	kq_close(&q);
	return 0;
}

/*
 * ---- priorities (issue 20): struct ukevent.prio orders what waits on the
 * ready lists; KEVENT_OPT_PRIO_BOUND bounds how long a level waits.
 */

static struct ukevent mkp(uint64_t id, uint32_t prio)
{
	struct ukevent e = mk(KEVENT_USER, id, 0, 0, 0);

	e.prio = prio;
	return e;
}

static int opt_set(int fd, uint32_t opt, uint64_t value)
{
	struct kevent_opt_args a = {
		.size = sizeof(a), .opt = opt, .value = value,
	};

	return ioctl(fd, KEVENT_IOC_SETOPT, &a);
}

/* The option's value, or -1 (errno set). */
static int64_t opt_get(int fd, uint32_t opt)
{
	struct kevent_opt_args a = { .size = sizeof(a), .opt = opt };

	if (ioctl(fd, KEVENT_IOC_GETOPT, &a) < 0)
		return -1;
	return (int64_t)a.value;
}

/*
 * prio above KEVENT_PRIO_MAX and nonzero reserved words are refused by ADD
 * and MODIFY (EINVAL for that entry); every entry carries its level.
 */
static int t_prio_entry(void)
{
	struct ukevent e, b[3], out;
	struct kq q;
	int p[2];

	CHECK(kq_open(&q, 8) == 0, "open");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mkp(1, KEVENT_PRIO_MAX + 1)) ==
	      EINVAL, "prio 8 accepted");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mkp(1, 0xffffffffu)) == EINVAL,
	      "prio ~0 accepted");
	e = mkp(1, 0);
	e.__reserved0 = 1;
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, e) == EINVAL, "__reserved0 accepted");
	e = mkp(1, 0);
	e.stamp = 1ULL << 63;
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, e) == 0, "stamp (output only) refused");
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mkp(1, 0)) == 0, "remove");
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mkp(1, 0)) == ENOENT,
	      "a refused ADD registered");
	/* per entry in a batch */
	b[0] = mkp(1, KEVENT_PRIO_MAX);
	b[1] = mkp(2, KEVENT_PRIO_MAX + 1);
	b[2] = mkp(3, 1);
	b[2].__reserved0 = 5;
	CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, 3, b) == 1, "batch count");
	CHECK(b[0].ret_flags == 0 && b[1].ret_flags == KEVENT_RET_ERROR &&
	      b[1].ret_data == EINVAL && b[2].ret_flags == KEVENT_RET_ERROR &&
	      b[2].ret_data == EINVAL, "batch results");
	/* MODIFY checks them too, and a refused MODIFY changes nothing */
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mkp(1, KEVENT_PRIO_MAX + 1)) ==
	      EINVAL, "MODIFY to prio 8 accepted");
	e = mkp(1, 2);
	e.__reserved0 = 1;
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, e) == EINVAL,
	      "MODIFY with __reserved0 accepted");
	/* the other commands look at type and id only */
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mkp(1, 99)) == 0, "READY prio 99");
	CHECK(kq_wait(q.fd, 1, 0) == 1, "wait");
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == 1 &&
	      out.prio == KEVENT_PRIO_MAX && !out.__reserved0 &&
	      !out.stamp, "entry prio %u (want 7)", out.prio);
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mkp(1, 0)) == 0, "MODIFY to 0");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mkp(1, 0)) == 0, "READY");
	CHECK(kq_wait(q.fd, 1, 0) == 1, "wait");
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == 1 && out.prio == 0,
	      "entry prio %u after MODIFY to 0", out.prio);

	/* every type carries its level: POLL and TIMER */
	CHECK(pipe(p) == 0, "pipe");
	e = mk(KEVENT_POLL, (unsigned)p[0], KEVENT_POLL_IN, KEVENT_REQ_ET, 0);
	e.prio = 5;
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, e) == 0, "add poll");
	CHECK(write(p[1], "x", 1) == 1, "write");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "poll wait");
	CHECK(kevent_ring_consume(q.ring, &out) && out.type == KEVENT_POLL &&
	      out.prio == 5, "poll entry prio %u", out.prio);
	e = mk(KEVENT_TIMER, 1, 0, KEVENT_REQ_ONESHOT, 0);
	e.prio = 6;
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, e) == 0, "add timer");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "timer wait");
	CHECK(kevent_ring_consume(q.ring, &out) && out.type == KEVENT_TIMER &&
	      out.prio == 6, "timer entry prio %u", out.prio);
	close(p[0]);
	close(p[1]);
	kq_close(&q);
	return 0;
}

/*
 * A ring of 4 full of the USER registrations 100..103 (level 0): what is
 * made ready next waits on the ready lists, and the order of its
 * publication is the order in which it is consumed.
 */
static int prio_fill(struct kq *q, uint64_t bound)
{
	struct ukevent b[4];
	unsigned int i;

	CHECK(kq_open(q, 4) == 0, "open");
	if (bound)
		CHECK(opt_set(q->fd, KEVENT_OPT_PRIO_BOUND, bound) == 0,
		      "set the bound to %llu", (unsigned long long)bound);
	for (i = 0; i < 4; i++)
		b[i] = mkp(100 + i, 0);
	CHECK(kq_ctl(q->fd, KEVENT_CTL_ADD, 4, b) == 4, "add fillers");
	CHECK(kq_ctl(q->fd, KEVENT_CTL_READY, 4, b) == 4, "ready fillers");
	CHECK(kevent_ring_count(q->ring) == 4, "ring not full: %u",
	      kevent_ring_count(q->ring));
	return 0;
}

/* USER registration id at level prio, made ready. */
static int prio_ready(struct kq *q, uint64_t id, uint32_t prio)
{
	CHECK(ctl1(q->fd, KEVENT_CTL_ADD, mkp(id, prio)) == 0, "add %llu",
	      (unsigned long long)id);
	CHECK(ctl1(q->fd, KEVENT_CTL_READY, mkp(id, prio)) == 0, "ready %llu",
	      (unsigned long long)id);
	return 0;
}

struct prio_want {
	uint64_t id;
	uint32_t prio;
};

/*
 * Consume the n next entries, step at a time, letting the module publish
 * into the freed slots after each step; they must be want[0..n-1].
 */
static int prio_expect(struct kq *q, const struct prio_want *want,
		       unsigned int n, unsigned int step, const char *what)
{
	struct ukevent out;
	unsigned int i;

	for (i = 0; i < n; i++) {
		CHECK(kevent_ring_consume(q->ring, &out),
		      "%s: ring empty at entry %u", what, i);
		CHECK(out.type == KEVENT_USER && out.id == want[i].id &&
		      out.prio == want[i].prio,
		      "%s: entry %u is id %llu prio %u, not id %llu prio %u",
		      what, i, (unsigned long long)out.id, out.prio,
		      (unsigned long long)want[i].id, want[i].prio);
		if ((i + 1) % step == 0 || i + 1 == n)
			CHECK(kq_wait(q->fd, 1, 0) >= 0, "%s: wait", what);
	}
	return 0;
}

/* Highest level first, FIFO within a level, entries already queued first. */
static int t_prio_order(void)
{
	/* two registrations of each level, made ready in a mixed order */
	static const uint32_t lv[16] = {
		3, 0, 7, 5, 3, 1, 7, 6, 2, 4, 0, 5, 1, 6, 2, 4,
	};
	static const unsigned int steps[] = { 1, 3, 4 };
	struct prio_want want[20];
	unsigned int i, n, s;
	int level;
	struct kq q;

	for (s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		if (prio_fill(&q, 0))
			return -1;
		for (i = 0; i < 16; i++)
			if (prio_ready(&q, i, lv[i]))
				return -1;
		CHECK(kevent_ring_count(q.ring) == 4 && q.ring->deferred > 0,
		      "count %u deferred %llu", kevent_ring_count(q.ring),
		      (unsigned long long)q.ring->deferred);
		/* the ring is never overtaken: the fillers come first */
		for (n = 0; n < 4; n++) {
			want[n].id = 100 + n;
			want[n].prio = 0;
		}
		for (level = KEVENT_PRIO_MAX; level >= 0; level--)
			for (i = 0; i < 16; i++) {
				if (lv[i] != (uint32_t)level)
					continue;
				want[n].id = i;
				want[n++].prio = lv[i];
			}
		if (prio_expect(&q, want, n, steps[s], "order"))
			return -1;
		CHECK(kevent_ring_empty(q.ring) && kq_wait(q.fd, 1, 0) == 0,
		      "entries left");
		kq_close(&q);
	}
	return 0;
}

/* One step of prio_expect(): the entry must be id, at level id / 10. */
static int prio_next(struct kq *q, uint64_t id, const char *what)
{
	struct prio_want w = { id, id < 100 ? (uint32_t)(id / 10) : 0 };

	return prio_expect(q, &w, 1, 1, what);
}

static int prio_next_n(struct kq *q, const uint64_t *ids, unsigned int n,
		       const char *what)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (prio_next(q, ids[i], what))
			return -1;
	return 0;
}

/*
 * KEVENT_OPT_PRIO_BOUND: its range, and the rule (decisions.md, issue 20).
 * The USER registration of id N has level N / 10 (fillers 100..103: 0).
 */
static int t_prio_bound(void)
{
	static const uint64_t fillers[] = { 100, 101, 102, 103 };
	struct kq q;
	int i;

	/* the option */
	CHECK(kq_open(&q, 4) == 0, "open");
	CHECK(opt_get(q.fd, KEVENT_OPT_PRIO_BOUND) ==
	      (int64_t)KEVENT_PRIO_BOUND_DEFAULT, "default %lld",
	      (long long)opt_get(q.fd, KEVENT_OPT_PRIO_BOUND));
	CHECK(opt_set(q.fd, KEVENT_OPT_PRIO_BOUND, 0) < 0 && errno == EINVAL,
	      "bound 0 accepted");
	CHECK(opt_set(q.fd, KEVENT_OPT_PRIO_BOUND,
		      KEVENT_PRIO_BOUND_MAX + 1) < 0 && errno == EINVAL,
	      "bound 2^32 accepted");
	CHECK(opt_set(q.fd, KEVENT_OPT_PRIO_BOUND, ~0ULL) < 0 &&
	      errno == EINVAL, "bound 2^64 - 1 accepted");
	CHECK(opt_get(q.fd, KEVENT_OPT_PRIO_BOUND) ==
	      (int64_t)KEVENT_PRIO_BOUND_DEFAULT, "changed by a refusal");
	CHECK(opt_set(q.fd, KEVENT_OPT_PRIO_BOUND, KEVENT_PRIO_BOUND_MAX) ==
	      0 && opt_get(q.fd, KEVENT_OPT_PRIO_BOUND) ==
	      (int64_t)KEVENT_PRIO_BOUND_MAX, "bound max");
	CHECK(opt_set(q.fd, KEVENT_OPT_PRIO_BOUND, 1) == 0 &&
	      opt_get(q.fd, KEVENT_OPT_PRIO_BOUND) == 1, "bound 1");
	/* a live timer does not matter (the timer slack's EBUSY) */
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 1, 0, 0,
		1000000000000ULL)) == 0, "timer");
	CHECK(opt_set(q.fd, KEVENT_OPT_PRIO_BOUND, 2) == 0 &&
	      opt_get(q.fd, KEVENT_OPT_PRIO_BOUND) == 2, "bound 2");
	CHECK(opt_get(q.fd, KEVENT_OPT_TIMER_SLACK) ==
	      (int64_t)KEVENT_TIMER_SLACK_DEFAULT, "the slack moved");
	kq_close(&q);

	/*
	 * Bound 2: level 0 is published after at most 2 of level 7, and its
	 * count starts again after each of its publications.
	 */
	{
		static const uint64_t want[] = {
			71, 72, 1, 73, 74, 2, 75, 76,
		};

		if (prio_fill(&q, 2) || prio_ready(&q, 1, 0))
			return -1;
		for (i = 71; i <= 76; i++)
			if (prio_ready(&q, (uint64_t)i, 7))
				return -1;
		if (prio_ready(&q, 2, 0))
			return -1;
		if (prio_next_n(&q, fillers, 4, "bound 2") ||
		    prio_next_n(&q, want, 8, "bound 2"))
			return -1;
		kq_close(&q);
	}
	/* two levels reach the bound together: the lower one goes first */
	{
		static const uint64_t want[] = {
			71, 72, 1, 31, 73, 74, 75, 76,
		};

		if (prio_fill(&q, 2) || prio_ready(&q, 31, 3) ||
		    prio_ready(&q, 1, 0))
			return -1;
		for (i = 71; i <= 76; i++)
			if (prio_ready(&q, (uint64_t)i, 7))
				return -1;
		if (prio_next_n(&q, fillers, 4, "lowest first") ||
		    prio_next_n(&q, want, 8, "lowest first"))
			return -1;
		kq_close(&q);
	}
	/*
	 * Bound 3: taking a ready registration off a level (DISABLE) leaves
	 * the level's count; a registration appended to an empty level
	 * starts it again.  Consuming an entry publishes the next one: the
	 * comments count publications.
	 */
	{
		static const uint64_t want[] = {
			73, 2, 74, 75, 76, 77, 78, 1, 79,
		};

		if (prio_fill(&q, 3) || prio_ready(&q, 1, 0) ||
		    prio_ready(&q, 2, 0))
			return -1;
		for (i = 71; i <= 79; i++)
			if (prio_ready(&q, (uint64_t)i, 7))
				return -1;
		/* 71: level 0 waited 1 */
		if (prio_next(&q, 100, "removal"))
			return -1;
		CHECK(ctl1(q.fd, KEVENT_CTL_DISABLE, mkp(1, 0)) == 0,
		      "disable");
		/* 72, 73: waited 3; then 2 */
		if (prio_next_n(&q, fillers + 1, 3, "removal"))
			return -1;
		/* level 0 is empty: 1 is appended to it, waits once, goes */
		CHECK(ctl1(q.fd, KEVENT_CTL_ENABLE, mkp(1, 0)) == 0, "enable");
		if (prio_next(&q, 71, "append"))	/* 74: waited 1 */
			return -1;
		CHECK(ctl1(q.fd, KEVENT_CTL_DISABLE, mkp(1, 0)) == 0,
		      "disable");
		if (prio_next(&q, 72, "append"))	/* 75: level 0 empty */
			return -1;
		/* appended to the empty level: waited 0, not 1 */
		CHECK(ctl1(q.fd, KEVENT_CTL_ENABLE, mkp(1, 0)) == 0, "enable");
		/* 76, 77, 78, then 1 */
		if (prio_next_n(&q, want, 9, "removal, append"))
			return -1;
		CHECK(kevent_ring_empty(q.ring) && kq_wait(q.fd, 1, 0) == 0,
		      "entries left");
		kq_close(&q);
	}
	/* a new bound counts at the next pick */
	{
		static const uint64_t want[] = { 71, 72, 1, 73, 74 };

		if (prio_fill(&q, KEVENT_PRIO_BOUND_MAX) ||
		    prio_ready(&q, 1, 0))
			return -1;
		for (i = 71; i <= 74; i++)
			if (prio_ready(&q, (uint64_t)i, 7))
				return -1;
		/* 71, 72 published: level 0 waited 2 */
		if (prio_next_n(&q, fillers, 2, "new bound"))
			return -1;
		CHECK(opt_set(q.fd, KEVENT_OPT_PRIO_BOUND, 1) == 0, "bound 1");
		if (prio_next_n(&q, fillers + 2, 2, "new bound") ||
		    prio_next_n(&q, want, 5, "new bound"))
			return -1;
		kq_close(&q);
	}
	return 0;
}

/*
 * MODIFY of a ready registration that changes its level moves it to the
 * tail of the new level; one that keeps its level keeps its place.  A
 * queued one keeps its entry and is ready at its new level next time.
 */
static int t_prio_modify(void)
{
	static const struct prio_want want[] = {
		{ 100, 0 }, { 101, 0 }, { 102, 0 }, { 103, 0 }, { 100, 7 },
		{ 60, 6 }, { 50, 5 }, { 51, 5 }, { 53, 5 },
	};
	struct ukevent e;
	struct kq q;

	/* ready: level 3 holds 60, 53, 31, 30; level 5 holds 50, 51 */
	if (prio_fill(&q, 0) || prio_ready(&q, 60, 3) ||
	    prio_ready(&q, 53, 3) || prio_ready(&q, 31, 3) ||
	    prio_ready(&q, 30, 3) || prio_ready(&q, 50, 5) ||
	    prio_ready(&q, 51, 5))
		return -1;
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mkp(60, 6)) == 0, "modify 60");
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mkp(53, 5)) == 0, "modify 53");
	/* there and back: the tail of level 3, behind 30 */
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mkp(31, 6)) == 0, "modify 31");
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mkp(31, 3)) == 0, "modify 31");
	/* the same level: 30 stays ahead of 31, with its new cookie */
	e = mkp(30, 3);
	e.user = 12345;
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, e) == 0, "modify 30");
	/* queued: its entry keeps level 0, its next publication has 7 */
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mkp(100, 7)) == 0, "modify 100");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mkp(100, 7)) == 0, "ready 100");
	CHECK(kevent_ring_count(q.ring) == 4, "count %u",
	      kevent_ring_count(q.ring));
	if (prio_expect(&q, want, 9, 1, "modify"))
		return -1;
	CHECK(kevent_ring_consume(q.ring, &e) && e.id == 30 && e.prio == 3 &&
	      e.user == 12345, "entry id %llu prio %u user %llu (want 30)",
	      (unsigned long long)e.id, e.prio, (unsigned long long)e.user);
	CHECK(kevent_ring_consume(q.ring, &e) && e.id == 31 && e.prio == 3,
	      "entry id %llu prio %u (want 31)", (unsigned long long)e.id,
	      e.prio);
	CHECK(kevent_ring_empty(q.ring) && kq_wait(q.fd, 1, 0) == 0,
	      "entries left");
	kq_close(&q);
	return 0;
}

/* User space scribbles over uidx, the header and entries. */
static int t_hostile(void)
{
	static const uint32_t bad[] = {
		0xffffffffu, 0x80000000u, 5, 100, 0x7fffffffu, 3,
	};
	struct kq q;
	struct ukevent b[16], out = { 0 };
	unsigned int i, j;
	int n;

	CHECK(kq_open(&q, 8) == 0, "open");
	for (i = 0; i < 16; i++)
		b[i] = mk(KEVENT_USER, i, 0, 0, 0);
	CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, 16, b) == 16, "add");
	for (j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
		uint32_t k = q.ring->kidx;

		kq_ctl(q.fd, KEVENT_CTL_READY, 16, b);
		q.ring->uidx = k + bad[j];
		q.ring->size = 1u << 30;
		q.ring->mask = 0xffffffffu;
		q.ring->kidx = 12345;
		memset(kevent_ring_entries(q.ring), 0xa5, 8 * sizeof(out));
		kq_wait(q.fd, 1, 0);
		kq_ctl(q.fd, KEVENT_CTL_READY, 16, b);
		kq_ctl(q.fd, KEVENT_CTL_REMOVE, 1, &b[j]);
		kq_ctl(q.fd, KEVENT_CTL_ADD, 1, &b[j]);
	}
	/* the kernel kept its own copies: after a sane uidx it works */
	q.ring->size = 8;
	q.ring->mask = 7;
	n = kq_wait(q.fd, 1, 0);	/* rewrites kidx */
	CHECK(n >= 0 && n <= 8, "count %d after hostile uidx", n);
	q.ring->uidx = q.ring->kidx;
	for (i = 0; i < 100; i++) {
		kq_wait(q.fd, 1, 0);
		q.ring->uidx = q.ring->kidx;
	}
	CHECK(kq_wait(q.fd, 1, 0) == 0, "events left");
	CHECK(kq_ctl(q.fd, KEVENT_CTL_READY, 1, &b[3]) == 1, "ready");
	CHECK(kq_wait(q.fd, 1, 0) == 1, "ready lost");
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == 3, "entry %llu",
	      (unsigned long long)out.id);
	kq_close(&q);
	return 0;
}

/*
 * ---- SMP stress: producers READY user events at random keys and count
 * what they sent per key; one consumer counts what it got per key.  Every
 * key must come out with exactly its count: nothing lost, none twice.
 */

enum { S_REGS = 64, S_PER_THREAD = 100000, S_THREADS = 3 };

static struct kq sq;
static int s_stop;
static int64_t s_sent[S_THREADS][S_REGS];

static void *s_producer(void *arg)
{
	unsigned int t = (unsigned int)(uintptr_t)arg, seed = t + 1, i;
	struct ukevent e;

	for (i = 0; i < S_PER_THREAD; i++) {
		unsigned int key = (unsigned int)rand_r(&seed) % S_REGS;

		e = mk(KEVENT_USER, key, 0, 0, 0);
		if (kq_ctl(sq.fd, KEVENT_CTL_READY, 1, &e) != 1)
			abort();
		s_sent[t][key]++;
	}
	return NULL;
}

static int p_pipes[8][2];

static void *s_pipe_writer(void *arg)
{
	unsigned int seed = 7, i;

	(void)arg;
	for (i = 0; !__atomic_load_n(&s_stop, __ATOMIC_RELAXED); i++) {
		if (write(p_pipes[rand_r(&seed) % 8][1], "x", 1) != 1 &&
		    errno != EAGAIN)
			abort();
		if (i % 64 == 0)
			usleep(100);
	}
	return NULL;
}

static int s_consume(int64_t *got, int64_t *sum, int64_t *polls)
{
	struct ukevent out = { 0 };
	char buf[256];

	while (kevent_ring_consume(sq.ring, &out)) {
		if (out.type == KEVENT_POLL) {
			(*polls)++;
			while (read((int)out.id, buf, sizeof(buf)) > 0)
				;
			continue;
		}
		CHECK(out.type == KEVENT_USER && out.id < S_REGS &&
		      out.ret_data > 0, "bad entry type %u id %llu", out.type,
		      (unsigned long long)out.id);
		got[out.id] += (int64_t)out.ret_data;
		*sum += (int64_t)out.ret_data;
	}
	return 0;
}

static int t_smp_stress(void)
{
	pthread_t th[S_THREADS], pw;
	int64_t sum = 0, polls = 0, got[S_REGS] = { 0 };
	int i, t, n, inring[S_REGS + 1024];

	CHECK(kq_open(&sq, 16) == 0, "open");
	for (i = 0; i < S_REGS; i++)
		CHECK(ctl1(sq.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, i, 0, 0, 0)) ==
		      0, "add");
	for (i = 0; i < 8; i++) {
		CHECK(pipe2(p_pipes[i], O_NONBLOCK) == 0, "pipe");
		CHECK(ctl1(sq.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL,
			(unsigned)p_pipes[i][0], KEVENT_POLL_IN,
			i & 1 ? KEVENT_REQ_ET : 0, 0)) == 0, "add poll");
	}
	for (i = 0; i < S_THREADS; i++)
		pthread_create(&th[i], NULL, s_producer, (void *)(uintptr_t)i);
	pthread_create(&pw, NULL, s_pipe_writer, NULL);
	while (sum < (int64_t)S_THREADS * S_PER_THREAD) {
		unsigned int u, k;

		n = kq_wait(sq.fd, 1, HANG_NS);
		CHECK(n >= 1, "lost: %lld of %d", (long long)sum,
		      S_THREADS * S_PER_THREAD);
		/* at most one slot per registration */
		memset(inring, 0, sizeof(inring));
		u = sq.ring->uidx;
		k = kevent_load_acquire(&sq.ring->kidx);
		CHECK(k - u <= 16, "ring overfull %u", k - u);
		for (; u != k; u++) {
			const struct ukevent *e =
				&kevent_ring_entries(sq.ring)[u & 15];
			int slot = e->type == KEVENT_USER ? (int)e->id :
				   S_REGS + (int)(e->id % 1024);

			CHECK(!inring[slot]++, "two slots for one key");
		}
		if (s_consume(got, &sum, &polls))
			return -1;
	}
	for (i = 0; i < S_THREADS; i++)
		pthread_join(th[i], NULL);
	__atomic_store_n(&s_stop, 1, __ATOMIC_RELAXED);
	pthread_join(pw, NULL);
	/*
	 * Every READY has returned: all triggers are counted in the kernel.
	 * Flushing what is left must bring no more user events than sent.
	 */
	while ((n = kq_wait(sq.fd, 1, 0)) > 0)
		if (s_consume(got, &sum, &polls))
			return -1;
	CHECK(n == 0, "final wait %d", n);
	for (i = 0; i < S_REGS; i++) {
		int64_t sent = 0;

		for (t = 0; t < S_THREADS; t++)
			sent += s_sent[t][i];
		CHECK(got[i] == sent, "key %d: got %lld, sent %lld", i,
		      (long long)got[i], (long long)sent);
	}
	CHECK(polls > 0, "no poll events");
	kq_close(&sq);
	for (i = 0; i < 8; i++) {
		close(p_pipes[i][0]);
		close(p_pipes[i][1]);
	}
	printf("# smp_stress: %lld user triggers, %lld poll deliveries\n",
	       (long long)sum, (long long)polls);
	return 0;
}

/* Many queues with registrations opened and closed, some with threads. */
static int t_many_queues(void)
{
	int i, p[2];

	CHECK(pipe(p) == 0, "pipe");
	for (i = 0; i < 3000; i++) {
		struct kq q;

		CHECK(kq_open(&q, 1u << (i % 10)) == 0, "open %d: %s", i,
		      strerror(errno));
		CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[1],
			KEVENT_POLL_OUT, 0, 0)) == 0, "add poll");
		CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 1, 0, 0,
			1000 + i)) == 0, "add timer");
		CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 1, 0, 0, 0)) ==
		      0, "add user");
		ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0, 0));
		if (i % 3 == 0)
			kq_wait(q.fd, 2, 0);
		kq_close(&q);
	}
	close(p[0]);
	close(p[1]);
	return 0;
}

static int t_limit(void)
{
	struct kq q;
	struct ukevent *b;
	FILE *f = fopen("/sys/module/kevent/parameters/max_registrations",
			"r+");
	unsigned int old = 0;
	int i, n;

	CHECK(f, "no max_registrations parameter");
	CHECK(fscanf(f, "%u", &old) == 1, "read param");
	rewind(f);
	fprintf(f, "100\n");
	fclose(f);
	CHECK(kq_open(&q, 8) == 0, "open");
	b = calloc(101, sizeof(*b));
	for (i = 0; i < 101; i++)
		b[i] = mk(KEVENT_USER, i, 0, 0, 0);
	n = kq_ctl(q.fd, KEVENT_CTL_ADD, 101, b);
	f = fopen("/sys/module/kevent/parameters/max_registrations", "w");
	fprintf(f, "%u\n", old);
	fclose(f);
	CHECK(n == 100 && b[100].ret_data == ENOSPC, "limit: %d, %llu", n,
	      (unsigned long long)b[100].ret_data);
	free(b);
	kq_close(&q);
	return 0;
}

static void on_usr1(int sig)
{
	(void)sig;
}

/*
 * A helper that acts on the main thread once it sleeps in KEVENT_IOC_WAIT:
 * main sets entering right before the call, the helper waits until the
 * main thread's state is S, then sends SIGUSR1, KEVENT_CTL_READY of user
 * event 1, or KEVENT_IOC_WAKE.
 */
struct at_sleep {
	pthread_t target;
	pid_t tid;
	int entering;
	int fd;
	int signal, ready, wake;
	int asleep;		/* out: 1 if it saw the waiter asleep */
};

static void *at_sleep_fn(void *arg)
{
	struct at_sleep *h = arg;
	struct ukevent e = mk(KEVENT_USER, 1, 0, 0, 0);

	h->asleep = wait_asleep(h->tid, &h->entering) == 0;
	if (h->signal)
		pthread_kill(h->target, SIGUSR1);
	if (h->ready)
		kq_ctl(h->fd, KEVENT_CTL_READY, 1, &e);
	if (h->wake)
		ioctl(h->fd, KEVENT_IOC_WAKE);
	return NULL;
}

static void at_sleep_start(struct at_sleep *h, pthread_t *th)
{
	h->target = pthread_self();
	h->tid = gettid_();
	h->entering = 0;
	pthread_create(th, NULL, at_sleep_fn, h);
}

static int t_sigmask(void)
{
	struct kq q;
	struct kevent_wait_args a = { .size = sizeof(a), .min_nr = 1,
				      .timeout_ns = HANG_NS };
	struct at_sleep h = { 0 };
	sigset_t block, empty, cur;
	pthread_t th;
	int r;

	CHECK(kq_open(&q, 8) == 0, "open");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "add");
	signal(SIGUSR1, on_usr1);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigemptyset(&empty);
	a.sigmask = (uint64_t)(uintptr_t)&empty;
	a.sigsetsize = 8;
	/* the signal, blocked outside, interrupts a wait that unblocks it */
	h.fd = q.fd;
	h.signal = 1;
	at_sleep_start(&h, &th);
	__atomic_store_n(&h.entering, 1, __ATOMIC_RELEASE);
	r = ioctl(q.fd, KEVENT_IOC_WAIT, &a);
	CHECK(r < 0 && errno == EINTR, "wait with sigmask: %d", r);
	pthread_join(th, NULL);
	CHECK(h.asleep, "the waiter was never seen asleep");
	sigprocmask(SIG_BLOCK, NULL, &cur);
	CHECK(sigismember(&cur, SIGUSR1), "mask not restored");
	/*
	 * Without sigmask the blocked signal does not interrupt: it is sent
	 * while the waiter sleeps, then a user event ends the wait.
	 */
	memset(&h, 0, sizeof(h));
	h.fd = q.fd;
	h.signal = 1;
	h.ready = 1;
	at_sleep_start(&h, &th);
	__atomic_store_n(&h.entering, 1, __ATOMIC_RELEASE);
	r = kq_wait(q.fd, 1, HANG_NS);
	pthread_join(th, NULL);
	CHECK(h.asleep, "the waiter was never seen asleep");
	CHECK(r == 1, "blocked signal interrupted the wait: %d", r);
	sigpending(&cur);
	CHECK(sigismember(&cur, SIGUSR1), "the signal was not sent");
	a.sigsetsize = 128;
	CHECK(ioctl(q.fd, KEVENT_IOC_WAIT, &a) < 0 && errno == EINVAL,
	      "sigsetsize");
	sigprocmask(SIG_UNBLOCK, &block, NULL);	/* the pending one: handler */
	kq_close(&q);
	return 0;
}

static int t_wake(void)
{
	struct at_sleep h = { 0 };
	struct kq q;
	pthread_t th;
	int r;

	CHECK(kq_open(&q, 8) == 0, "open");
	h.fd = q.fd;
	h.wake = 1;
	at_sleep_start(&h, &th);
	__atomic_store_n(&h.entering, 1, __ATOMIC_RELEASE);
	r = kq_wait(q.fd, 1, HANG_NS);
	CHECK(r < 0 && errno == EBADF, "WAKE: %d", r);
	pthread_join(th, NULL);
	CHECK(h.asleep, "the waiter was never seen asleep");
	kq_close(&q);
	return 0;
}

/* The queue fd in epoll, and epoll in the queue: wake-ups both ways. */
static int t_epoll_nesting(void)
{
	struct kq q;
	struct epoll_event ee = { .events = EPOLLIN }, got;
	struct ukevent out;
	int ep = epoll_create1(EPOLL_CLOEXEC), ep2, p[2];

	CHECK(ep >= 0 && kq_open(&q, 8) == 0, "open");
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, q.fd, &ee) == 0, "epoll add");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "add");
	CHECK(epoll_wait(ep, &got, 1, 0) == 0, "readable while empty");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "ready");
	CHECK(epoll_wait(ep, &got, 1, 1000) == 1, "epoll not woken");
	CHECK(kevent_ring_consume(q.ring, &out), "consume");
	CHECK(epoll_wait(ep, &got, 1, 0) == 0, "readable after drain");
	/* a queue in epoll in a queue is fine; epoll of itself is refused */
	ep2 = epoll_create1(EPOLL_CLOEXEC);
	CHECK(pipe(p) == 0, "pipe");
	ee.events = EPOLLIN;
	CHECK(epoll_ctl(ep2, EPOLL_CTL_ADD, p[0], &ee) == 0, "epoll add");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)ep2,
		KEVENT_POLL_IN, 0, 0)) == 0, "add epoll fd");
	CHECK(write(p[1], "x", 1) == 1, "write");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "epoll fd event lost");
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == (unsigned)ep2,
	      "entry");
	/* a cycle through epoll terminates: q in ep, ep2... in q */
	CHECK(epoll_ctl(ep2, EPOLL_CTL_ADD, q.fd, &ee) == 0, "cycle");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "ready");
	CHECK(kq_wait(q.fd, 1, HANG_NS) >= 1, "wait in cycle");
	kq_close(&q);
	close(ep);
	close(ep2);
	close(p[0]);
	close(p[1]);
	return 0;
}

/*
 * Churn: registrations added, modified, disabled and removed at random while
 * pipes are written, timers fire, signals arrive and a consumer drains the
 * ring; then the queue is closed with fast timers armed.  Looks for
 * crashes, hangs and kernel warnings rather than exact counts.
 */
enum { C_N = 16 };
static struct kq cq;
static int c_stop;
static int c_pipes[C_N][2];

static void *c_ctl(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;

	while (!__atomic_load_n(&c_stop, __ATOMIC_RELAXED)) {
		unsigned int i = rand_r(&seed) % C_N, op = rand_r(&seed) % 6;
		unsigned int t = rand_r(&seed) % 3;
		struct ukevent e;
		uint32_t flags = (uint32_t[]){ 0, KEVENT_REQ_ONESHOT,
			KEVENT_REQ_DISPATCH, KEVENT_REQ_ET }[rand_r(&seed) % 4];

		if (t == 0) {
			e = mk(KEVENT_POLL, (unsigned)c_pipes[i][rand_r(&seed) & 1],
			       KEVENT_POLL_IN | KEVENT_POLL_OUT, flags, 0);
		} else if (t == 1) {
			if (flags == KEVENT_REQ_ET)
				flags = 0;
			e = mk(KEVENT_TIMER, i, 0, flags,
			       1000 + rand_r(&seed) % 2000000);
		} else {
			if (flags == KEVENT_REQ_ET)
				flags = 0;
			e = mk(KEVENT_USER, i, 0, flags, 0);
		}
		if (kq_ctl(cq.fd, op, 1, &e) < 0)
			abort();
		if (t == 2 && (rand_r(&seed) & 1))
			kq_ctl(cq.fd, KEVENT_CTL_READY, 1, &e);
	}
	return NULL;
}

static void *c_io(void *arg)
{
	unsigned int seed = 99;
	char buf[512];

	(void)arg;
	while (!__atomic_load_n(&c_stop, __ATOMIC_RELAXED)) {
		int i = rand_r(&seed) % C_N;

		if (rand_r(&seed) & 1) {
			if (write(c_pipes[i][1], "x", 1) < 0 && errno != EAGAIN)
				abort();
		} else {
			if (read(c_pipes[i][0], buf, sizeof(buf)) < 0 &&
			    errno != EAGAIN)
				abort();
		}
		kill(getpid(), SIGUSR1);
	}
	return NULL;
}

static int t_churn(void)
{
	pthread_t th[3];
	struct ukevent out, e, b[64];
	sigset_t set;
	int64_t t0 = now_ns(CLOCK_MONOTONIC), got = 0;
	int i, n;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	CHECK(kq_open(&cq, 8) == 0, "open");
	for (i = 0; i < C_N; i++)
		CHECK(pipe2(c_pipes[i], O_NONBLOCK) == 0, "pipe");
	CHECK(ctl1(cq.fd, KEVENT_CTL_ADD, mk(KEVENT_SIGNAL, SIGUSR1, 0, 0, 0)) ==
	      0, "signal");
	pthread_create(&th[0], NULL, c_ctl, (void *)1);
	pthread_create(&th[1], NULL, c_ctl, (void *)2);
	pthread_create(&th[2], NULL, c_io, NULL);
	while (now_ns(CLOCK_MONOTONIC) - t0 < 3000000000LL) {
		n = kq_wait(cq.fd, 1, 10000000);
		CHECK(n >= 0 && n <= 8, "wait %d", n);
		while (kevent_ring_consume(cq.ring, &out)) {
			CHECK(out.type <= KEVENT_SIGNAL && out.ret_flags <=
			      (KEVENT_RET_REMOVED | KEVENT_RET_GONE),
			      "bad entry type %u flags %#x", out.type,
			      out.ret_flags);
			got++;
		}
	}
	__atomic_store_n(&c_stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	/* close with fast periodic timers and ready pipes registered */
	for (i = 0; i < 64; i++)
		b[i] = mk(KEVENT_TIMER, 100 + i, 0, 0, 1000 + i);
	kq_ctl(cq.fd, KEVENT_CTL_ADD, 64, b);
	for (i = 0; i < C_N; i++) {
		e = mk(KEVENT_POLL, (unsigned)c_pipes[i][1], KEVENT_POLL_OUT, 0,
		       0);
		kq_ctl(cq.fd, KEVENT_CTL_ADD, 1, &e);
	}
	usleep(20000);
	kq_close(&cq);
	for (i = 0; i < C_N; i++) {
		close(c_pipes[i][0]);
		close(c_pipes[i][1]);
	}
	sigpending(&set);
	if (sigismember(&set, SIGUSR1)) {
		int sig;

		sigwait(&set, &sig);
	}
	printf("# churn: %lld events in 3 s\n", (long long)got);

	/* processes: children exiting while registered */
	CHECK(kq_open(&cq, 64) == 0, "open");
	for (i = 0; i < 40; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(i & 0x7f);
		/* a zombie until our waitpid(): the process still exists */
		CHECK(pid > 0 && ctl1(cq.fd, KEVENT_CTL_ADD, mk(KEVENT_PROC,
			(unsigned)pid, 0, 0, 0)) == 0, "proc %d", i);
	}
	got = 0;
	while (got < 40 && kq_wait(cq.fd, 1, HANG_NS) > 0)
		while (kevent_ring_consume(cq.ring, &out)) {
			CHECK(out.type == KEVENT_PROC &&
			      WIFEXITED((int)out.ret_data), "proc entry");
			waitpid((pid_t)out.id, NULL, 0);
			got++;
		}
	CHECK(got == 40, "proc events %lld", (long long)got);
	kq_close(&cq);
	return 0;
}

/*
 * ---- statistics (issue 20, part 2): KEVENT_OPT_STATS, the ring's
 * counters, struct ukevent.stamp and struct kevent_stats after the entries.
 */

static struct kevent_stats *stats_of(struct kq *q)
{
	return (struct kevent_stats *)(void *)((char *)q->ring +
					       KEVENT_RING_BYTES(q->ring->size));
}

/* The highest bucket that counts anything, -1 if none. */
static int htop(const __u64 *h)
{
	int i;

	for (i = KEVENT_STATS_BUCKETS - 1; i >= 0; i--)
		if (h[i])
			return i;
	return -1;
}

/* Every latency counted is at most max ns: no bucket above it counts. */
static int hwithin(const __u64 *h, int64_t max)
{
	int top = htop(h);

	return top <= 0 || (int64_t)(1ULL << top) <= max;
}

/* Wait until the ring holds n entries (a hang guard only). */
static int stats_wait_n(struct kq *q, unsigned int n)
{
	int r = kq_wait(q->fd, n, HANG_NS);

	CHECK(r >= (int)n, "wait for %u entries: %d", n, r);
	return 0;
}

/*
 * Off by default: no flag, entries stamped 0, histograms zero; the values
 * other than 0 and 1 are refused; the mapping holds the statistics after
 * the entries, and an option set before KEVENT_IOC_SETUP is in the ring's
 * flags from the start.
 */
static int t_stats_default(void)
{
	struct kevent_setup s = { .size = sizeof(s), .ring_size = 8 };
	struct kevent_stats zero;
	struct ukevent e, out;
	struct kevent_ring *r;
	struct kq q;
	int fd, p[2], n = 0;

	memset(&zero, 0, sizeof(zero));
	CHECK(kq_open(&q, 8) == 0, "open");
	CHECK(q.bytes == KEVENT_RING_BYTES(8) + sizeof(struct kevent_stats),
	      "ring_bytes %zu", q.bytes);
	CHECK(q.ring->stats_offset == KEVENT_RING_BYTES(8), "stats_offset %u",
	      q.ring->stats_offset);
	CHECK(opt_get(q.fd, KEVENT_OPT_STATS) == 0, "on by default");
	CHECK(q.ring->flags == 0, "flags %#x", q.ring->flags);
	CHECK(!memcmp(stats_of(&q), &zero, sizeof(zero)),
	      "histograms not zero at setup");
	CHECK(!q.ring->coalesced && !q.ring->waits && !q.ring->sleeps,
	      "counters not zero at setup");
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 2) < 0 && errno == EINVAL,
	      "2 accepted");
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, UINT64_MAX) < 0 &&
	      errno == EINVAL, "UINT64_MAX accepted");
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 1ULL << 32) < 0 &&
	      errno == EINVAL, "2^32 accepted");
	CHECK(opt_get(q.fd, KEVENT_OPT_STATS) == 0 && q.ring->flags == 0,
	      "turned on by a refusal");
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 0) == 0, "0 refused");
	/* USER, TIMER and POLL entries: stamp 0, nothing counted */
	e = mk(KEVENT_USER, 1, 0, 0, 0);
	e.stamp = 12345;	/* input: ignored */
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, e) == 0, "add user");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, e) == 0, "ready");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 2, 0,
		KEVENT_REQ_ONESHOT, 1000)) == 0, "add timer");
	CHECK(pipe(p) == 0, "pipe");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[1],
		KEVENT_POLL_OUT, KEVENT_REQ_ONESHOT, 0)) == 0, "add poll");
	if (stats_wait_n(&q, 3))
		return -1;
	while (kevent_ring_consume(q.ring, &out)) {
		CHECK(out.stamp == 0, "entry type %u stamped %llu while off",
		      out.type, (unsigned long long)out.stamp);
		n++;
	}
	CHECK(n == 3, "%d entries", n);
	close(p[0]);
	close(p[1]);
	CHECK(!memcmp(stats_of(&q), &zero, sizeof(zero)),
	      "histograms counted while off");
	kq_close(&q);

	/* on before the ring exists: the ring starts with the flag */
	fd = open("/dev/kevent", O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0, "open");
	CHECK(opt_set(fd, KEVENT_OPT_STATS, 1) == 0 &&
	      opt_get(fd, KEVENT_OPT_STATS) == 1, "on before setup");
	CHECK(ioctl(fd, KEVENT_IOC_SETUP, &s) == 0, "setup");
	r = mmap(NULL, s.ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(r != MAP_FAILED, "mmap");
	CHECK(r->flags == KEVENT_RING_STATS &&
	      r->stats_offset == KEVENT_RING_BYTES(8), "flags %#x offset %u",
	      r->flags, r->stats_offset);
	munmap(r, s.ring_bytes);
	close(fd);
	return 0;
}

/*
 * On: the flag, each entry stamped between two readings of CLOCK_MONOTONIC
 * around its publication, one count in fire_to_publish per entry, within
 * the time the test saw; the inline consumption of <kevent.h> finds the
 * histograms through stats_offset and counts publish_to_consume.
 */
static int t_stats_on(void)
{
	enum { N = 5 };
	struct ukevent b[N], out;
	struct kevent_stats *st;
	int64_t t0, t1;
	struct kq q;
	int i, p[2];

	CHECK(kq_open(&q, 16) == 0, "open");
	st = stats_of(&q);
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 1) == 0, "on");
	CHECK(opt_get(q.fd, KEVENT_OPT_STATS) == 1, "GETOPT");
	CHECK(q.ring->flags == KEVENT_RING_STATS, "flags %#x", q.ring->flags);
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 1) == 0 &&
	      q.ring->flags == KEVENT_RING_STATS, "on twice");
	for (i = 0; i < N; i++)
		b[i] = mk(KEVENT_USER, (unsigned)i, 0, 0, 0);
	CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, N, b) == N, "add");
	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(kq_ctl(q.fd, KEVENT_CTL_READY, N, b) == N, "ready");
	t1 = now_ns(CLOCK_MONOTONIC);
	CHECK(kevent_ring_count(q.ring) == N, "count %u",
	      kevent_ring_count(q.ring));
	for (i = 0; i < N; i++) {
		const struct ukevent *x = &kevent_ring_entries(q.ring)[i];

		CHECK((int64_t)x->stamp >= t0 && (int64_t)x->stamp <= t1,
		      "entry %d stamp %llu not in [%lld, %lld]", i,
		      (unsigned long long)x->stamp, (long long)t0,
		      (long long)t1);
	}
	CHECK(hsum(st->fire_to_publish) == N, "fire_to_publish counts %llu",
	      (unsigned long long)hsum(st->fire_to_publish));
	CHECK(hwithin(st->fire_to_publish, t1 - t0),
	      "a latency in bucket %d, longer than the %lld ns seen",
	      htop(st->fire_to_publish), (long long)(t1 - t0));
	CHECK(hsum(st->publish_to_consume) == 0, "consumed already");
	for (i = 0; i < N; i++)
		CHECK(kevent_ring_consume(q.ring, &out), "consume");
	CHECK(hsum(st->publish_to_consume) == N, "publish_to_consume %llu",
	      (unsigned long long)hsum(st->publish_to_consume));

	/* a timer (from the hrtimer) and a pipe (from its wake-up) */
	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 1, 0,
		KEVENT_REQ_ONESHOT, 1000000)) == 0, "add timer");
	if (stats_wait_n(&q, 1))
		return -1;
	t1 = now_ns(CLOCK_MONOTONIC);
	CHECK(kevent_ring_consume(q.ring, &out) && out.type == KEVENT_TIMER,
	      "timer entry");
	CHECK((int64_t)out.stamp >= t0 + 1000000 && (int64_t)out.stamp <= t1,
	      "timer stamp %llu not in [%lld + 1 ms, %lld]",
	      (unsigned long long)out.stamp, (long long)t0, (long long)t1);
	CHECK(pipe(p) == 0, "pipe");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, KEVENT_REQ_ET, 0)) == 0, "add poll");
	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(write(p[1], "x", 1) == 1, "write");
	if (stats_wait_n(&q, 1))
		return -1;
	t1 = now_ns(CLOCK_MONOTONIC);
	CHECK(kevent_ring_consume(q.ring, &out) && out.type == KEVENT_POLL,
	      "poll entry");
	CHECK((int64_t)out.stamp >= t0 && (int64_t)out.stamp <= t1,
	      "poll stamp %llu not in [%lld, %lld]",
	      (unsigned long long)out.stamp, (long long)t0, (long long)t1);
	CHECK(hsum(st->fire_to_publish) == N + 2 &&
	      hsum(st->publish_to_consume) == N + 2, "counts %llu %llu",
	      (unsigned long long)hsum(st->fire_to_publish),
	      (unsigned long long)hsum(st->publish_to_consume));
	CHECK(q.ring->published == N + 2, "published %llu",
	      (unsigned long long)q.ring->published);
	close(p[0]);
	close(p[1]);
	kq_close(&q);
	return 0;
}

/*
 * A registration made ready while the ring is full waits for room: its
 * latency, counted at its publication, holds the wait (5 ms: a bucket of
 * 2^22 ns or more), and no more than the test saw.
 */
static int t_stats_deferred(void)
{
	struct kevent_stats before, *st;
	struct ukevent b[5], out;
	int64_t t0, t1;
	struct kq q;
	int i, top;

	CHECK(kq_open(&q, 4) == 0, "open");
	st = stats_of(&q);
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 1) == 0, "on");
	for (i = 0; i < 5; i++)
		b[i] = mk(KEVENT_USER, (unsigned)i, 0, 0, 0);
	CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, 5, b) == 5, "add");
	CHECK(kq_ctl(q.fd, KEVENT_CTL_READY, 4, b) == 4, "ready fillers");
	CHECK(kevent_ring_count(q.ring) == 4, "not full");
	before = *st;
	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, b[4]) == 0, "ready 4");
	CHECK(q.ring->deferred > 0 && kevent_ring_count(q.ring) == 4,
	      "not deferred");
	while (now_ns(CLOCK_MONOTONIC) - t0 < 5000000)
		usleep(5000);
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == 0, "consume");
	CHECK(kq_wait(q.fd, 4, 0) == 4, "the deferred one not published");
	t1 = now_ns(CLOCK_MONOTONIC);
	CHECK(hsum(st->fire_to_publish) == hsum(before.fire_to_publish) + 1,
	      "fire_to_publish %llu, was %llu",
	      (unsigned long long)hsum(st->fire_to_publish),
	      (unsigned long long)hsum(before.fire_to_publish));
	for (i = 0; i < (int)KEVENT_STATS_BUCKETS; i++)
		before.fire_to_publish[i] = st->fire_to_publish[i] -
					    before.fire_to_publish[i];
	top = htop(before.fire_to_publish);
	CHECK(top >= 22, "5 ms counted in bucket %d", top);
	CHECK(hwithin(before.fire_to_publish, t1 - t0),
	      "bucket %d, longer than the %lld ns seen", top,
	      (long long)(t1 - t0));
	for (i = 0; i < 4; i++)
		CHECK(kevent_ring_consume(q.ring, &out), "consume");
	CHECK(out.id == 4 && (int64_t)out.stamp >= t0 + 5000000 &&
	      (int64_t)out.stamp <= t1, "entry %llu stamp %llu",
	      (unsigned long long)out.id, (unsigned long long)out.stamp);
	kq_close(&q);
	return 0;
}

/*
 * coalesced: a firing that finds its registration queued, ready (waiting
 * for room) or disabled counts one, whether statistics are on or not.
 */
static int t_stats_coalesced(void)
{
	struct ukevent out;
	struct kq q;
	uint64_t one = 1;
	int efd;

	CHECK(kq_open(&q, 1) == 0, "open");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 1, 0, 0, 0)) == 0 &&
	      ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 2, 0, 0, 0)) == 0 &&
	      ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 3, 0, 0, 0)) == 0,
	      "add");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "ready 1");
	CHECK(kevent_ring_count(q.ring) == 1 && q.ring->coalesced == 0,
	      "first firing coalesced: %llu",
	      (unsigned long long)q.ring->coalesced);
	/* queued */
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0, 0)) == 0 &&
	      q.ring->coalesced == 1, "queued: %llu",
	      (unsigned long long)q.ring->coalesced);
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0, 0)) == 0 &&
	      q.ring->coalesced == 2, "queued again: %llu",
	      (unsigned long long)q.ring->coalesced);
	/* ready, the ring full */
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 2, 0, 0, 0)) == 0 &&
	      q.ring->coalesced == 2, "made ready: %llu",
	      (unsigned long long)q.ring->coalesced);
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 2, 0, 0, 0)) == 0 &&
	      q.ring->coalesced == 3, "ready: %llu",
	      (unsigned long long)q.ring->coalesced);
	/* disabled */
	CHECK(ctl1(q.fd, KEVENT_CTL_DISABLE, mk(KEVENT_USER, 3, 0, 0, 0)) == 0,
	      "disable");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 3, 0, 0, 0)) == 0 &&
	      q.ring->coalesced == 4, "disabled: %llu",
	      (unsigned long long)q.ring->coalesced);
	/* what was merged comes out in one entry each */
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == 1 &&
	      out.ret_data == 1, "entry 1");
	CHECK(kq_wait(q.fd, 1, 0) == 1 && kevent_ring_consume(q.ring, &out) &&
	      out.id == 2 && out.ret_data == 2, "entry 2: %llu %llu",
	      (unsigned long long)out.id, (unsigned long long)out.ret_data);
	CHECK(kq_wait(q.fd, 1, 0) == 1 && kevent_ring_consume(q.ring, &out) &&
	      out.id == 1 && out.ret_data == 2, "entry 1 again");
	CHECK(ctl1(q.fd, KEVENT_CTL_ENABLE, mk(KEVENT_USER, 3, 0, 0, 0)) == 0 &&
	      kq_wait(q.fd, 1, 0) == 1 && kevent_ring_consume(q.ring, &out) &&
	      out.id == 3 && out.ret_data == 1, "entry 3");
	CHECK(q.ring->coalesced == 4, "coalesced %llu after the deliveries",
	      (unsigned long long)q.ring->coalesced);
	/* a POLL wake-up (an eventfd, woken at each write) while queued */
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 1) == 0, "on");
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(efd >= 0, "eventfd");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)efd,
		KEVENT_POLL_IN, KEVENT_REQ_ET, 0)) == 0, "add poll");
	CHECK(write(efd, &one, 8) == 8, "write");
	CHECK(kevent_ring_count(q.ring) == 1 && q.ring->coalesced == 4,
	      "poll: count %u coalesced %llu", kevent_ring_count(q.ring),
	      (unsigned long long)q.ring->coalesced);
	CHECK(write(efd, &one, 8) == 8 && q.ring->coalesced == 5,
	      "poll queued: %llu", (unsigned long long)q.ring->coalesced);
	CHECK(write(efd, &one, 8) == 8 && q.ring->coalesced == 6,
	      "poll queued again: %llu", (unsigned long long)q.ring->coalesced);
	close(efd);
	kq_close(&q);
	return 0;
}

struct stats_sleeper {
	struct kq *q;
	uint64_t sleeps;	/* the count to see before READY */
	int seen;		/* out: it was seen */
};

static void *stats_waker(void *arg)
{
	struct stats_sleeper *s = arg;
	struct ukevent e = mk(KEVENT_USER, 1, 0, 0, 0);
	int64_t t0 = now_ns(CLOCK_MONOTONIC);

	while (now_ns(CLOCK_MONOTONIC) - t0 < HANG_NS / 3) {
		if (__atomic_load_n(&s->q->ring->sleeps, __ATOMIC_RELAXED) ==
		    s->sleeps) {
			s->seen = 1;
			break;
		}
		usleep(1000);
	}
	kq_ctl(s->q->fd, KEVENT_CTL_READY, 1, &e);
	return NULL;
}

/*
 * waits: each KEVENT_IOC_WAIT with valid arguments; sleeps: each time one
 * blocks, counted before it sleeps.
 */
static int t_stats_waits(void)
{
	struct kevent_wait_args a = { .size = sizeof(a), .min_nr = 1 };
	struct stats_sleeper s;
	struct ukevent out;
	pthread_t th;
	struct kq q;
	int r;

	CHECK(kq_open(&q, 8) == 0, "open");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "add");
	a.__reserved[0] = 1;
	CHECK(ioctl(q.fd, KEVENT_IOC_WAIT, &a) < 0 && errno == EINVAL,
	      "reserved accepted");
	a.__reserved[0] = 0;
	a.timeout_ns = -5;
	CHECK(ioctl(q.fd, KEVENT_IOC_WAIT, &a) < 0 && errno == EINVAL,
	      "timeout -5 accepted");
	CHECK(q.ring->waits == 0 && q.ring->sleeps == 0,
	      "refused waits counted: %llu %llu",
	      (unsigned long long)q.ring->waits,
	      (unsigned long long)q.ring->sleeps);
	/* nothing there, no timeout: no sleep */
	CHECK(kq_wait(q.fd, 1, 0) == 0, "wait 0");
	CHECK(q.ring->waits == 1 && q.ring->sleeps == 0, "wait 0: %llu %llu",
	      (unsigned long long)q.ring->waits,
	      (unsigned long long)q.ring->sleeps);
	/* an entry there: no sleep */
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "ready");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "wait");
	CHECK(q.ring->waits == 2 && q.ring->sleeps == 0, "found: %llu %llu",
	      (unsigned long long)q.ring->waits,
	      (unsigned long long)q.ring->sleeps);
	CHECK(kevent_ring_consume(q.ring, &out), "consume");
	/* a timeout: one sleep */
	CHECK(kq_wait(q.fd, 1, 20000000) == 0, "timeout");
	CHECK(q.ring->waits == 3 && q.ring->sleeps == 1, "timed out: %llu %llu",
	      (unsigned long long)q.ring->waits,
	      (unsigned long long)q.ring->sleeps);
	/* asleep until another thread makes an entry: counted before */
	s.q = &q;
	s.sleeps = 2;
	s.seen = 0;
	pthread_create(&th, NULL, stats_waker, &s);
	r = kq_wait(q.fd, 1, HANG_NS);
	pthread_join(th, NULL);
	CHECK(r == 1, "woken wait: %d", r);
	CHECK(s.seen, "the sleep was not counted while it slept");
	CHECK(q.ring->waits == 4 && q.ring->sleeps == 2, "woken: %llu %llu",
	      (unsigned long long)q.ring->waits,
	      (unsigned long long)q.ring->sleeps);
	/* on or off, the same */
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 1) == 0, "on");
	CHECK(kq_wait(q.fd, 1, 0) == 1 && q.ring->waits == 5 &&
	      q.ring->sleeps == 2, "with statistics on: %llu %llu",
	      (unsigned long long)q.ring->waits,
	      (unsigned long long)q.ring->sleeps);
	kq_close(&q);
	return 0;
}

/*
 * Off again: no flag, stamps 0, histograms unchanged.  On once more: the
 * registrations that were ready all along, one made ready while on before
 * and one while off, count from the switch, not from when they became
 * ready (50 ms before).
 */
static int t_stats_off_again(void)
{
	struct kevent_stats snap, *st;
	struct ukevent out;
	int64_t ta, td;
	struct kq q;
	int i;

	CHECK(kq_open(&q, 1) == 0, "open");
	st = stats_of(&q);
	for (i = 1; i <= 3; i++)
		CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, (unsigned)i, 0,
			0, 0)) == 0, "add %d", i);
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 1) == 0, "on");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "ready");
	CHECK(kevent_ring_consume(q.ring, &out) && out.stamp, "stamped entry");
	CHECK(hsum(st->fire_to_publish) == 1 &&
	      hsum(st->publish_to_consume) == 1, "counted");
	snap = *st;
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 0) == 0, "off");
	CHECK(opt_get(q.fd, KEVENT_OPT_STATS) == 0 && q.ring->flags == 0,
	      "off: flags %#x", q.ring->flags);
	for (i = 0; i < 3; i++) {
		CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0,
			0)) == 0, "ready");
		CHECK(kq_wait(q.fd, 1, 0) == 1 &&
		      kevent_ring_consume(q.ring, &out) && out.stamp == 0,
		      "entry stamped %llu while off",
		      (unsigned long long)out.stamp);
	}
	CHECK(kq_wait(q.fd, 1, 0) == 0, "entries left");
	CHECK(!memcmp(&snap, st, sizeof(snap)), "histograms moved while off");

	/* on: 1 in the ring, 3 waits for room; off: 2 waits too */
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 1) == 0, "on");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0, 0)) == 0 &&
	      ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 3, 0, 0, 0)) == 0 &&
	      kevent_ring_count(q.ring) == 1, "fill");
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 0) == 0, "off");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 2, 0, 0, 0)) == 0,
	      "ready 2");
	snap = *st;
	usleep(50000);
	ta = now_ns(CLOCK_MONOTONIC);
	CHECK(opt_set(q.fd, KEVENT_OPT_STATS, 1) == 0, "on again");
	CHECK(q.ring->flags == KEVENT_RING_STATS, "flags %#x", q.ring->flags);
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == 1 && out.stamp,
	      "entry 1");
	CHECK(kq_wait(q.fd, 1, 0) == 1 && kevent_ring_consume(q.ring, &out) &&
	      out.id == 3, "3 not published");
	CHECK(kq_wait(q.fd, 1, 0) == 1, "2 not published");
	td = now_ns(CLOCK_MONOTONIC);
	CHECK((int64_t)out.stamp >= ta && (int64_t)out.stamp <= td,
	      "entry 3 stamp %llu", (unsigned long long)out.stamp);
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == 2 &&
	      (int64_t)out.stamp >= ta && (int64_t)out.stamp <= td,
	      "entry %llu stamp %llu", (unsigned long long)out.id,
	      (unsigned long long)out.stamp);
	for (i = 0; i < (int)KEVENT_STATS_BUCKETS; i++) {
		snap.fire_to_publish[i] = st->fire_to_publish[i] -
					  snap.fire_to_publish[i];
		snap.publish_to_consume[i] = st->publish_to_consume[i] -
					     snap.publish_to_consume[i];
	}
	CHECK(hsum(snap.fire_to_publish) == 2 &&
	      hsum(snap.publish_to_consume) == 3, "counts %llu %llu",
	      (unsigned long long)hsum(snap.fire_to_publish),
	      (unsigned long long)hsum(snap.publish_to_consume));
	CHECK(hwithin(snap.fire_to_publish, td - ta),
	      "counted from when it became ready: bucket %d, %lld ns since "
	      "the switch", htop(snap.fire_to_publish), (long long)(td - ta));
	kq_close(&q);
	return 0;
}

static const struct kq_test tests[] = {
	{ "setup", t_setup },
	{ "user", t_user },
	{ "errors", t_errors },
	{ "poll", t_poll },
	{ "close_then_remove", t_close_then_remove },
	{ "pollfree", t_pollfree },
	{ "published_by_wakeup", t_published_by_wakeup },
	{ "timer", t_timer },
	{ "ring_full", t_ring_full },
	{ "prio_entry", t_prio_entry },
	{ "prio_order", t_prio_order },
	{ "prio_bound", t_prio_bound },
	{ "prio_modify", t_prio_modify },
	{ "stats_default", t_stats_default },
	{ "stats_on", t_stats_on },
	{ "stats_deferred", t_stats_deferred },
	{ "stats_coalesced", t_stats_coalesced },
	{ "stats_waits", t_stats_waits },
	{ "stats_off_again", t_stats_off_again },
	{ "hostile_uidx", t_hostile },
	{ "smp_stress", t_smp_stress },
	{ "many_queues", t_many_queues },
	{ "limit", t_limit },
	{ "sigmask", t_sigmask },
	{ "wake", t_wake },
	{ "epoll_nesting", t_epoll_nesting },
	{ "churn", t_churn },
};

KQ_MAIN(tests)
