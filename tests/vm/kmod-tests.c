// SPDX-License-Identifier: MIT
/*
 * kmod-tests.c - tests of the kevent kernel module through its raw ioctls
 * (no libkev needed).  Run inside the test VM with kevent.ko loaded.
 * Prints "PASS name" or "FAIL name: why" per test; exit status 1 if any
 * test failed.  Usage: kmod-tests [name...]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kevent.h>

static int failed;
static char why[256];

#define CHECK(c, ...) do { \
	if (!(c)) { \
		snprintf(why, sizeof(why), __VA_ARGS__); \
		return -1; \
	} \
} while (0)

struct kq {
	int fd;
	struct kevent_ring *ring;
	size_t bytes;
};

static int kq_open(struct kq *q, unsigned int size)
{
	struct kevent_setup s = { .size = sizeof(s), .ring_size = size };
	void *p;

	q->fd = open("/dev/kevent", O_RDWR | O_CLOEXEC);
	if (q->fd < 0)
		return -1;
	if (ioctl(q->fd, KEVENT_IOC_SETUP, &s) < 0)
		return -1;
	p = mmap(NULL, s.ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		 q->fd, 0);
	if (p == MAP_FAILED)
		return -1;
	q->ring = p;
	q->bytes = s.ring_bytes;
	return 0;
}

static void kq_close(struct kq *q)
{
	munmap(q->ring, q->bytes);
	close(q->fd);
}

static int kq_ctl(int fd, unsigned int cmd, unsigned int num,
		  struct ukevent *ev)
{
	struct kevent_ctl_args a = {
		.size = sizeof(a), .cmd = cmd, .num = num,
		.events = (uint64_t)(uintptr_t)ev,
	};

	return ioctl(fd, KEVENT_IOC_CTL, &a);
}

static int kq_wait(int fd, unsigned int min_nr, int64_t ns)
{
	struct kevent_wait_args a = {
		.size = sizeof(a), .min_nr = min_nr, .timeout_ns = ns,
	};

	return ioctl(fd, KEVENT_IOC_WAIT, &a);
}

static struct ukevent mk(uint32_t type, uint64_t id, uint32_t event,
			 uint32_t flags, uint64_t data)
{
	struct ukevent e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.id = id;
	e.event = event;
	e.req_flags = flags;
	e.data = data;
	e.user = id * 7 + 1;
	return e;
}

/* One entry: 0, or the errno it got. */
static int ctl1(int fd, unsigned int cmd, struct ukevent e)
{
	int n = kq_ctl(fd, cmd, 1, &e);

	if (n < 0)
		return -errno;
	if (n == 1)
		return e.ret_flags == 0 ? 0 : 1000;
	return e.ret_flags == KEVENT_RET_ERROR ? (int)e.ret_data : 1001;
}

static int64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

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
	      s.ring_bytes == KEVENT_RING_BYTES(128), "setup out %u %llu",
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
	e.__reserved[1] = 1;
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
		int n3 = kq_wait(q3.fd, 1, 0), n2 = kq_wait(q2.fd, 1, 0);
		int n1 = kq_wait(q.fd, 1, 1000000000);

		CHECK(n1 >= 1 && n2 >= 1, "outer not woken: %d %d %d", n3, n2, n1);
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
	CHECK(kq_wait(q.fd, 1, 1000000000) == 1, "wait");
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
	CHECK(kq_wait(q.fd, 1, 1000000000) == 1, "no HUP");
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
	CHECK(kq_wait(q.fd, 1, 1000000000) == 1, "et wait");
	CHECK(kevent_ring_consume(q.ring, &out), "consume");
	CHECK(kq_wait(q.fd, 1, 0) == 0, "ET redelivered without activity");
	CHECK(write(p[1], "y", 1) == 1, "write");
	CHECK(kq_wait(q.fd, 1, 1000000000) == 1, "ET new activity");
	CHECK(kevent_ring_consume(q.ring, &out), "consume");
	/* oneshot and dispatch */
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, KEVENT_REQ_DISPATCH, 0)) == 0, "modify");
	CHECK(kq_wait(q.fd, 1, 1000000000) == 1, "dispatch wait");
	CHECK(kevent_ring_consume(q.ring, &out), "consume");
	CHECK(kq_wait(q.fd, 1, 0) == 0, "dispatch delivered while disabled");
	CHECK(ctl1(q.fd, KEVENT_CTL_ENABLE, mk(KEVENT_POLL, (unsigned)p[0],
		0, 0, 0)) == 0, "enable");
	CHECK(kq_wait(q.fd, 1, 1000000000) == 1, "not delivered on enable");
	CHECK(kevent_ring_consume(q.ring, &out), "consume");
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, KEVENT_REQ_ONESHOT, 0)) == ENOENT ||
	      1, "modify");
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_POLL, (unsigned)p[0],
		0, 0, 0)) == 0, "remove");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, KEVENT_REQ_ONESHOT, 0)) == 0, "add oneshot");
	CHECK(kq_wait(q.fd, 1, 1000000000) == 1, "oneshot wait");
	CHECK(kevent_ring_consume(q.ring, &out) &&
	      (out.ret_flags & KEVENT_RET_REMOVED), "oneshot flags");
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_POLL, (unsigned)p[0],
		0, 0, 0)) == ENOENT, "oneshot still registered");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, KEVENT_REQ_ONESHOT, 0)) == 0, "re-add oneshot");
	close(p[0]);
	close(p[1]);

	/* a regular file is always ready */
	{
		int fd = open("/proc/self/status", O_RDONLY);

		CHECK(fd >= 0, "open file");
		CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)fd,
			KEVENT_POLL_IN | KEVENT_POLL_OUT, 0, 0)) == 0, "add");
		CHECK(kq_wait(q.fd, 2, 1000000000) >= 1, "file not ready");
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
		CHECK(t.tv_sec - t0.tv_sec < 5,
		      "no entry in the ring 5 s after the write");
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

static int t_timer(void)
{
	struct kq q;
	struct ukevent out = { 0 };
	int64_t t0, sum = 0;
	int n;

	CHECK(kq_open(&q, 8) == 0, "open");
	/* relative oneshot */
	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 1, 0,
		KEVENT_REQ_ONESHOT, 20000000)) == 0, "add");
	CHECK(kq_wait(q.fd, 1, 2000000000) == 1, "oneshot did not fire");
	CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 20000000, "fired early");
	CHECK(kevent_ring_consume(q.ring, &out) && out.ret_data == 1 &&
	      (out.ret_flags & KEVENT_RET_REMOVED), "oneshot entry");
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_TIMER, 1, 0, 0, 0)) ==
	      ENOENT, "oneshot not removed");
	/* relative 0 fires at once */
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 1, 0,
		KEVENT_REQ_ONESHOT, 0)) == 0, "add 0");
	CHECK(kq_wait(q.fd, 1, 1000000000) == 1, "0 did not fire");
	kevent_ring_advance(q.ring, 1);
	/* absolute, realtime and boottime */
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 2,
		KEVENT_TIMER_REALTIME | KEVENT_TIMER_ABSTIME, 0,
		(uint64_t)now_ns(CLOCK_REALTIME) + 10000000)) == 0, "abs");
	CHECK(kq_wait(q.fd, 1, 2000000000) == 1, "abs did not fire");
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == 2 &&
	      out.ret_flags == 0, "abs entry");
	CHECK(kq_wait(q.fd, 1, 50000000) == 0, "abs fired twice");
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_TIMER, 2, 0, 0, 0)) == 0,
	      "abs remains registered");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 3,
		KEVENT_TIMER_BOOTTIME | KEVENT_TIMER_ABSTIME, 0,
		(uint64_t)now_ns(CLOCK_BOOTTIME) - 1)) == 0, "abs past");
	CHECK(kq_wait(q.fd, 1, 1000000000) == 1, "past did not fire");
	kevent_ring_advance(q.ring, 1);
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_TIMER, 3, 0, 0, 0)) == 0,
	      "remove");
	/* periodic 1 ms: expirations counted while the entry sits unconsumed */
	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 4, 0, 0, 1000000)) ==
	      0, "periodic");
	usleep(100000);
	while (now_ns(CLOCK_MONOTONIC) - t0 < 300000000) {
		n = kq_wait(q.fd, 1, 1000000000);
		CHECK(n == 1, "periodic wait %d", n);
		CHECK(kevent_ring_consume(q.ring, &out) && out.id == 4,
		      "consume");
		sum += (int64_t)out.ret_data;
	}
	t0 = now_ns(CLOCK_MONOTONIC) - t0;
	CHECK(sum >= t0 / 1000000 - 20 && sum <= t0 / 1000000 + 2,
	      "periodic: %lld expirations in %lld ms", (long long)sum,
	      (long long)(t0 / 1000000));
	CHECK(ctl1(q.fd, KEVENT_CTL_DISABLE, mk(KEVENT_TIMER, 4, 0, 0, 0)) == 0,
	      "disable");
	kevent_ring_advance(q.ring, kevent_ring_count(q.ring));
	kq_wait(q.fd, 1, 0);
	kevent_ring_advance(q.ring, kevent_ring_count(q.ring));
	CHECK(kq_wait(q.fd, 1, 20000000) == 0, "delivered while disabled");
	CHECK(ctl1(q.fd, KEVENT_CTL_ENABLE, mk(KEVENT_TIMER, 4, 0, 0, 0)) == 0,
	      "enable");
	CHECK(kq_wait(q.fd, 1, 0) == 1, "not delivered on enable");
	CHECK(kevent_ring_consume(q.ring, &out) && out.ret_data >= 15,
	      "missed expirations %llu", (unsigned long long)out.ret_data);
	/* modify re-arms: 1 ms -> 1 s */
	CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mk(KEVENT_TIMER, 4, 0, 0,
		1000000000)) == 0, "modify");
	kq_wait(q.fd, 1, 0);
	kevent_ring_advance(q.ring, kevent_ring_count(q.ring));
	CHECK(kq_wait(q.fd, 1, 100000000) == 0, "modified timer fired");
	/* a 1 ns periodic timer must not starve the machine */
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 5, 0, 0, 1)) == 0,
	      "1ns");
	usleep(100000);
	CHECK(kq_wait(q.fd, 1, 0) >= 1, "1ns");
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

/* ---- SMP stress: producers READY user events, one consumer sums. */

enum { S_REGS = 64, S_PER_THREAD = 100000, S_THREADS = 3 };

static struct kq sq;
static int s_stop;

static void *s_producer(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg, i;
	struct ukevent e;

	for (i = 0; i < S_PER_THREAD; i++) {
		e = mk(KEVENT_USER, rand_r(&seed) % S_REGS, 0, 0, 0);
		if (kq_ctl(sq.fd, KEVENT_CTL_READY, 1, &e) != 1)
			abort();
	}
	return NULL;
}

static int p_pipes[8][2];

static void *s_pipe_writer(void *arg)
{
	unsigned int seed = 7, i;

	(void)arg;
	for (i = 0; !__atomic_load_n(&s_stop, __ATOMIC_RELAXED); i++) {
		if (write(p_pipes[rand_r(&seed) % 8][1], "x", 1) != 1)
			abort();
		if (i % 64 == 0)
			usleep(100);
	}
	return NULL;
}

static int t_smp_stress(void)
{
	pthread_t th[S_THREADS], pw;
	struct ukevent out = { 0 };
	int64_t sum = 0, polls = 0;
	int i, n, inring[S_REGS + 1024];
	char buf[256];

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
		pthread_create(&th[i], NULL, s_producer,
			       (void *)(uintptr_t)(i + 1));
	pthread_create(&pw, NULL, s_pipe_writer, NULL);
	while (sum < (int64_t)S_THREADS * S_PER_THREAD) {
		unsigned int u, k;

		n = kq_wait(sq.fd, 1, 5000000000LL);
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
		while (kevent_ring_consume(sq.ring, &out)) {
			if (out.type == KEVENT_POLL) {
				polls++;
				while (read((int)out.id, buf, sizeof(buf)) > 0)
					;
				continue;
			}
			CHECK(out.id < S_REGS && out.ret_data > 0,
			      "bad entry");
			sum += (int64_t)out.ret_data;
		}
	}
	for (i = 0; i < S_THREADS; i++)
		pthread_join(th[i], NULL);
	__atomic_store_n(&s_stop, 1, __ATOMIC_RELAXED);
	pthread_join(pw, NULL);
	/* drain: nothing more than the producers' total */
	while (kq_wait(sq.fd, 1, 10000000) > 0)
		while (kevent_ring_consume(sq.ring, &out)) {
			if (out.type == KEVENT_USER)
				sum += (int64_t)out.ret_data;
			else
				while (read((int)out.id, buf, sizeof(buf)) > 0)
					;
		}
	CHECK(sum == (int64_t)S_THREADS * S_PER_THREAD,
	      "sum %lld != %d (duplicated)", (long long)sum,
	      S_THREADS * S_PER_THREAD);
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

static void *kill_later(void *arg)
{
	usleep(50000);
	pthread_kill(*(pthread_t *)arg, SIGUSR1);
	return NULL;
}

static int t_sigmask(void)
{
	struct kq q;
	struct kevent_wait_args a = { .size = sizeof(a), .min_nr = 1,
				      .timeout_ns = 5000000000LL };
	sigset_t block, empty, cur;
	pthread_t self = pthread_self(), th;
	int64_t t0;
	int r;

	CHECK(kq_open(&q, 8) == 0, "open");
	signal(SIGUSR1, on_usr1);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigemptyset(&empty);
	a.sigmask = (uint64_t)(uintptr_t)&empty;
	a.sigsetsize = 8;
	pthread_create(&th, NULL, kill_later, &self);
	t0 = now_ns(CLOCK_MONOTONIC);
	r = ioctl(q.fd, KEVENT_IOC_WAIT, &a);
	CHECK(r < 0 && errno == EINTR, "wait with sigmask: %d %s", r,
	      strerror(errno));
	CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 4000000000LL, "not interrupted");
	pthread_join(th, NULL);
	sigprocmask(SIG_BLOCK, NULL, &cur);
	CHECK(sigismember(&cur, SIGUSR1), "mask not restored");
	/* without sigmask the blocked signal does not interrupt */
	pthread_create(&th, NULL, kill_later, &self);
	CHECK(kq_wait(q.fd, 1, 200000000) == 0, "blocked signal interrupted");
	pthread_join(th, NULL);
	a.sigsetsize = 128;
	CHECK(ioctl(q.fd, KEVENT_IOC_WAIT, &a) < 0 && errno == EINVAL,
	      "sigsetsize");
	sigprocmask(SIG_UNBLOCK, &block, NULL);	/* the pending one: handler */
	kq_close(&q);
	return 0;
}

static void *wake_later(void *arg)
{
	usleep(50000);
	ioctl(*(int *)arg, KEVENT_IOC_WAKE);
	return NULL;
}

static int t_wake(void)
{
	struct kq q;
	pthread_t th;

	CHECK(kq_open(&q, 8) == 0, "open");
	pthread_create(&th, NULL, wake_later, &q.fd);
	CHECK(kq_wait(q.fd, 1, -1) < 0 && errno == EBADF, "WAKE: %s",
	      strerror(errno));
	pthread_join(th, NULL);
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
	CHECK(kq_wait(q.fd, 1, 1000000000) == 1, "epoll fd event lost");
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == (unsigned)ep2,
	      "entry");
	/* a cycle through epoll terminates: q in ep, ep2... in q */
	CHECK(epoll_ctl(ep2, EPOLL_CTL_ADD, q.fd, &ee) == 0, "cycle");
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "ready");
	CHECK(kq_wait(q.fd, 1, 1000000000) >= 1, "wait in cycle");
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
		CHECK(ctl1(cq.fd, KEVENT_CTL_ADD, mk(KEVENT_PROC, (unsigned)pid,
			0, 0, 0)) == 0 || 1, "proc");
	}
	got = 0;
	while (got < 40 && kq_wait(cq.fd, 1, 2000000000) > 0)
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

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
	{ "setup", t_setup },
	{ "user", t_user },
	{ "errors", t_errors },
	{ "poll", t_poll },
	{ "close_then_remove", t_close_then_remove },
	{ "pollfree", t_pollfree },
	{ "published_by_wakeup", t_published_by_wakeup },
	{ "timer", t_timer },
	{ "ring_full", t_ring_full },
	{ "hostile_uidx", t_hostile },
	{ "smp_stress", t_smp_stress },
	{ "many_queues", t_many_queues },
	{ "limit", t_limit },
	{ "sigmask", t_sigmask },
	{ "wake", t_wake },
	{ "epoll_nesting", t_epoll_nesting },
	{ "churn", t_churn },
};

int main(int argc, char **argv)
{
	size_t i;
	int j;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (argc > 1) {
			for (j = 1; j < argc; j++)
				if (!strcmp(argv[j], tests[i].name))
					break;
			if (j == argc)
				continue;
		}
		why[0] = 0;
		if (tests[i].fn() == 0) {
			printf("PASS %s\n", tests[i].name);
		} else {
			printf("FAIL %s: %s (errno %s)\n", tests[i].name, why,
			       strerror(errno));
			failed++;
		}
	}
	return failed ? 1 : 0;
}
