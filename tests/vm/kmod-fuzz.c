// SPDX-License-Identifier: MIT
/*
 * kmod-fuzz.c - a bounded-time fuzzer of /dev/kevent, run in the test guest
 * by run-vm-tests.sh (and by hand: kmod-fuzz --seconds N [--seed S]).
 *
 * Two processes fuzz at once, one as root and one as nobody, each with
 * several threads doing everything at once on shared objects: kevent_ctl
 * of every command on every type with random ids, flags, data and
 * priority levels (ids are often live descriptors: pipes, sockets,
 * eventfds, timerfds, epoll fds, files, directories, signalfds, io_uring,
 * other queues, so nesting and loops happen), waits with random arguments
 * and signal masks, queue options, random ioctl numbers and argument
 * blobs, closing watched descriptors and whole queues, fork (the child
 * plays with inherited queues), PROC registrations of those children,
 * signals, file changes under INODE registrations, queues sent over
 * AF_UNIX sockets and left in flight, epoll sets holding queues, and on
 * each thread's own queues: munmap/mremap/mmap of the ring and random
 * values scribbled over it.
 *
 * It fails (exit 1) on an answer the module must never give (a return or
 * errno outside what kevent(4) lists, a count above the ring size).  The
 * harness then requires that every queue and registration was freed, that
 * dmesg holds no kernel report and that rmmod works.
 */
#include <linux/io_uring.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>

#include "kq.h"

enum { THREADS = 3, SLOTS = 48, PRIV = 3 };

enum kind {
	K_QUEUE, K_PIPE, K_SOCK, K_EVENTFD, K_TIMERFD, K_EPOLL, K_FILE,
	K_DIR, K_SIGNALFD, K_URING, K_NKINDS
};

static int slots[SLOTS];		/* shared descriptors, -1 = empty */
static int kinds[SLOTS];		/* what each slot held when filled */
static int64_t deadline;
static int violations;
static int in_child;			/* a forked child: no stdio */
static long ops[16];
static const char *who = "root";

struct rnd {
	uint64_t s;
};

static uint64_t rnd(struct rnd *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return r->s;
}

static unsigned int rn(struct rnd *r, unsigned int n)
{
	return (unsigned int)(rnd(r) % n);
}

static void violation(const char *fmt, ...)
{
	va_list ap;

	__atomic_add_fetch(&violations, 1, __ATOMIC_RELAXED);
	if (in_child)
		return;		/* reported through the exit status */
	va_start(ap, fmt);
	printf("VIOLATION (%s): ", who);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static void count(int op)
{
	__atomic_add_fetch(&ops[op], 1, __ATOMIC_RELAXED);
}

static int open_queue(unsigned int size)
{
	struct kevent_setup s = { .size = sizeof(s), .ring_size = size };
	int fd = open("/dev/kevent", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (ioctl(fd, KEVENT_IOC_SETUP, &s) < 0 && errno != ENOMEM)
		violation("setup of %u entries: %s", size, strerror(errno));
	return fd;
}

static int send_fds(int sock, const int *fds, int n)
{
	char byte = 'f';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} u;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = CMSG_SPACE(sizeof(int) * n),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(&u, 0, sizeof(u));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	return (int)sendmsg(sock, &msg, MSG_DONTWAIT);
}

/* put fd (of kind k) into slot i, closing what was there */
static void put_slot(int i, int fd, int k)
{
	int old = __atomic_exchange_n(&slots[i], fd, __ATOMIC_ACQ_REL);

	__atomic_store_n(&kinds[i], k, __ATOMIC_RELEASE);
	if (old >= 0)
		close(old);
}

/* a descriptor of kind k from the pool (it may be stale), or -1 */
static int pick(struct rnd *r, int k)
{
	int i, tries;

	for (tries = 0; tries < 8; tries++) {
		i = (int)rn(r, SLOTS);
		if (__atomic_load_n(&kinds[i], __ATOMIC_ACQUIRE) == k)
			return __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
	}
	return -1;
}

static int make_object(struct rnd *r, int *kind)
{
	int fd = -1, p[2];

	*kind = (int)rn(r, K_NKINDS);
	switch (*kind) {
	case K_QUEUE:
		fd = open_queue(1u << rn(r, 9));
		break;
	case K_PIPE:
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0) {
			/* one end here, one in another slot */
			fd = p[0];
			put_slot((int)rn(r, SLOTS), p[1], K_PIPE);
		}
		break;
	case K_SOCK:
		if (socketpair(AF_UNIX, (rn(r, 2) ? SOCK_STREAM : SOCK_DGRAM) |
			       SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p) == 0) {
			fd = p[0];
			put_slot((int)rn(r, SLOTS), p[1], K_SOCK);
		}
		break;
	case K_EVENTFD:
		fd = eventfd(rn(r, 2), EFD_NONBLOCK | EFD_CLOEXEC);
		break;
	case K_TIMERFD: {
		struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } };

		fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (fd >= 0)
			timerfd_settime(fd, 0, &its, NULL);
		break;
	}
	case K_EPOLL:
		fd = epoll_create1(EPOLL_CLOEXEC);
		break;
	case K_FILE: {
		char path[64];

		snprintf(path, sizeof(path), "/tmp/kf-%s-%u", who, rn(r, 8));
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		break;
	}
	case K_DIR: {
		char path[64];

		snprintf(path, sizeof(path), "/tmp/kf-%s-d%u", who, rn(r, 4));
		mkdir(path, 0755);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	}
	case K_SIGNALFD: {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
		break;
	}
	case K_URING: {
		struct io_uring_params prm;

		memset(&prm, 0, sizeof(prm));
		fd = (int)syscall(SYS_io_uring_setup, 2, &prm);
		break;
	}
	}
	return fd;
}

/* a descriptor of the pool, or a random number */
static uint64_t some_id(struct rnd *r)
{
	switch (rn(r, 8)) {
	case 0:
		return rnd(r);
	case 1:
		return rn(r, 70);		/* signals, small fds */
	case 2:
		return (uint64_t)getpid();
	default: {
		int fd = __atomic_load_n(&slots[rn(r, SLOTS)], __ATOMIC_RELAXED);

		return fd < 0 ? rn(r, 64) : (uint64_t)fd;
	}
	}
}

static struct ukevent some_entry(struct rnd *r)
{
	static const uint32_t flags[] = {
		0, 0, KEVENT_REQ_ONESHOT, KEVENT_REQ_ET, KEVENT_REQ_DISPATCH,
	};
	struct ukevent e;

	memset(&e, 0, sizeof(e));
	e.type = rn(r, 10) ? rn(r, KEVENT_TYPE_MAX) : (uint32_t)rnd(r);
	e.id = some_id(r);
	if (e.type == KEVENT_SIGNAL && rn(r, 4))
		e.id = rn(r, 3) == 0 ? SIGUSR2 : rn(r, 2) ? SIGUSR1 :
		       (uint64_t)SIGRTMIN + 1;
	if (e.type == KEVENT_USER || e.type == KEVENT_TIMER)
		e.id = rn(r, 16);
	e.event = rn(r, 8) ? (uint32_t)rn(r, 128) : (uint32_t)rnd(r);
	e.req_flags = rn(r, 16) ? flags[rn(r, 5)] : (uint32_t)rnd(r);
	switch (rn(r, 4)) {
	case 0: e.data = 0; break;
	case 1: e.data = rn(r, 2000000); break;
	case 2: e.data = rnd(r); break;
	default: e.data = 1000 + rn(r, 100000); break;
	}
	if (e.type == KEVENT_TIMER && (e.event & KEVENT_TIMER_ABSTIME) &&
	    rn(r, 2))
		e.data = (uint64_t)now_ns(CLOCK_MONOTONIC) + rn(r, 5000000);
	e.user = rnd(r);
	/* mostly a level, at times one above KEVENT_PRIO_MAX or any word */
	switch (rn(r, 16)) {
	case 0: e.prio = (uint32_t)rnd(r); break;
	case 1: e.prio = KEVENT_PRIO_MAX + 1 + rn(r, 4); break;
	default: e.prio = rn(r, 2) ? 0 : rn(r, KEVENT_PRIO_LEVELS); break;
	}
	if (!rn(r, 32))
		e.__reserved0 = (uint32_t)rnd(r);
	/* output only, ignored on input: a time, a small value or any */
	switch (rn(r, 8)) {
	case 0: e.stamp = rnd(r); break;
	case 1: e.stamp = (uint64_t)now_ns(CLOCK_MONOTONIC); break;
	case 2: e.stamp = rn(r, 4); break;
	default: break;
	}
	return e;
}

static int ctl_errno_ok(int e)
{
	return e == EINVAL || e == EFAULT || e == EBADF || e == ENOTTY ||
	       e == E2BIG || e == EINTR || e == ENOMEM;
}

static int entry_errno_ok(uint64_t e)
{
	return e == EEXIST || e == ENOENT || e == EBADF || e == EINVAL ||
	       e == ELOOP || e == ESRCH || e == ENOMEM || e == ENOSPC ||
	       e == EACCES || e == EPERM;
}

static void do_ctl(struct rnd *r, int fd, char *ro_page)
{
	struct ukevent b[8];
	unsigned int n = 1 + rn(r, 8), i, cmd = rn(r, 7);
	void *ptr = b;
	int ret;

	for (i = 0; i < n; i++)
		b[i] = some_entry(r);
	switch (rn(r, 24)) {
	case 0: ptr = NULL; break;
	case 1: ptr = (void *)0xffff888000000000ULL; break;
	case 2: ptr = ro_page; n = 4; break;
	case 3: n = KEVENT_CTL_BATCH_MAX + 1 + rn(r, 4); break;
	default: break;
	}
	ret = kq_ctl(fd, cmd, n, ptr);
	count(0);
	if (ret < 0) {
		if (!ctl_errno_ok(errno))
			violation("ctl cmd %u num %u: %s", cmd, n,
				  strerror(errno));
		return;
	}
	if ((unsigned int)ret > n)
		violation("ctl returned %d for %u entries", ret, n);
	if (ptr != b)
		return;
	for (i = 0; i < n; i++)
		if (b[i].ret_flags == KEVENT_RET_ERROR &&
		    !entry_errno_ok(b[i].ret_data))
			violation("entry type %u cmd %u: errno %llu", b[i].type,
				  cmd, (unsigned long long)b[i].ret_data);
}

static void do_wait(struct rnd *r, int fd, unsigned int size)
{
	struct kevent_wait_args a = { .size = sizeof(a) };
	sigset_t set;
	int ret;

	a.min_nr = rn(r, 4) ? rn(r, 4) : (uint32_t)rnd(r);
	a.timeout_ns = rn(r, 3) ? 0 : rn(r, 1000000);
	if (!rn(r, 8)) {
		sigfillset(&set);
		if (rn(r, 2))
			sigemptyset(&set);
		a.sigmask = (uint64_t)(uintptr_t)&set;
		a.sigsetsize = rn(r, 8) ? 8 : rn(r, 200);
	}
	if (!rn(r, 16))
		a.size = (uint32_t)rnd(r);
	if (!rn(r, 32))
		a.timeout_ns = -2 - (int64_t)rn(r, 3);	/* invalid, not -1 */
	ret = ioctl(fd, KEVENT_IOC_WAIT, &a);
	count(1);
	if (ret < 0) {
		if (!ctl_errno_ok(errno))
			violation("wait: %s", strerror(errno));
	} else if (size && (unsigned int)ret > size) {
		violation("wait returned %d for a ring of %u", ret, size);
	}
}

/* KEVENT_IOC_SETOPT and GETOPT: every option, values in and out of range */
static void do_opt(struct rnd *r, int fd)
{
	static const uint64_t values[] = {
		0, 1, 2, 64, KEVENT_PRIO_BOUND_MAX, KEVENT_PRIO_BOUND_MAX + 1,
		KEVENT_TIMER_SLACK_MAX + 1,
	};
	struct kevent_opt_args a = { .size = sizeof(a) };
	int set = rn(r, 2), ret;
	uint64_t v;

	a.opt = rn(r, 8) ? 1 + rn(r, KEVENT_OPT_MAX) : (uint32_t)rnd(r);
	v = rn(r, 4) ? values[rn(r, 7)] : rnd(r);
	if (!rn(r, 3)) {
		/* statistics on and off, often */
		a.opt = KEVENT_OPT_STATS;
		v = rn(r, 8) ? rn(r, 2) : rnd(r);
	}
	a.value = v;
	ret = ioctl(fd, set ? KEVENT_IOC_SETOPT : KEVENT_IOC_GETOPT, &a);
	count(2);
	if (a.opt == KEVENT_OPT_STATS) {
		if (set && (v <= 1) != (ret == 0))
			violation("SETOPT of the statistics to %llu: %s",
				  (unsigned long long)v,
				  ret ? strerror(errno) : "0");
		else if (set && ret < 0 && errno != EINVAL)
			violation("SETOPT of the statistics: %s",
				  strerror(errno));
		if (!set && (ret < 0 || a.value > 1))
			violation("GETOPT of the statistics: %d, %llu", ret,
				  (unsigned long long)a.value);
		return;
	}
	if (a.opt != KEVENT_OPT_PRIO_BOUND) {
		if (ret < 0 && errno != EINVAL && errno != EBUSY &&
		    errno != EINTR)
			violation("opt %u: %s", a.opt, strerror(errno));
		return;
	}
	if (set && (v && v <= KEVENT_PRIO_BOUND_MAX) != (ret == 0))
		violation("SETOPT of the bound to %llu: %s",
			  (unsigned long long)v, ret ? strerror(errno) : "0");
	else if (set && ret < 0 && errno != EINVAL)
		violation("SETOPT of the bound: %s", strerror(errno));
	if (!set && (ret < 0 || !a.value || a.value > KEVENT_PRIO_BOUND_MAX))
		violation("GETOPT of the bound: %d, %llu", ret,
			  (unsigned long long)a.value);
}

static void do_random_ioctl(struct rnd *r, int fd, char *ro_page)
{
	unsigned char blob[512];
	unsigned long cmd;
	void *arg = blob;
	size_t i;

	for (i = 0; i < sizeof(blob); i++)
		blob[i] = (unsigned char)rnd(r);
	if (rn(r, 2))
		cmd = (unsigned long)_IOC(rn(r, 4), KEVENT_IOC_MAGIC, rn(r, 8),
					  rn(r, 256));
	else
		cmd = (uint32_t)rnd(r);
	/* never the real SETUP/WAIT with garbage that sleeps forever */
	if (cmd == KEVENT_IOC_WAIT) {
		((struct kevent_wait_args *)blob)->timeout_ns = 0;
		((struct kevent_wait_args *)blob)->sigmask = 0;
	}
	switch (rn(r, 6)) {
	case 0: arg = NULL; break;
	case 1: arg = ro_page; break;
	case 2: arg = (void *)(uintptr_t)rnd(r); break;
	default: break;
	}
	if (cmd == KEVENT_IOC_WAIT && arg != blob)
		return;
	ioctl(fd, cmd, arg);
	count(2);
}

/* ---- a thread's own queues: the ring is touched, unmapped, remapped */

struct priv {
	int fd;
	struct kevent_ring *ring;
	size_t bytes;
	unsigned int size;
};

static void priv_open(struct rnd *r, struct priv *p)
{
	struct kevent_setup s = { .size = sizeof(s) };

	p->ring = NULL;
	p->size = 0;		/* unknown: another thread may set it up */
	p->fd = open("/dev/kevent", O_RDWR | O_CLOEXEC);
	if (p->fd < 0)
		return;
	s.ring_size = 1u << rn(r, 10);
	if (ioctl(p->fd, KEVENT_IOC_SETUP, &s) < 0)
		return;
	p->size = s.ring_size;
	p->bytes = s.ring_bytes;
	p->ring = mmap(NULL, p->bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		       p->fd, 0);
	if (p->ring == MAP_FAILED)
		p->ring = NULL;
}

/*
 * Consume from a ring whose header this thread scribbles over: with the
 * size it was given, never the header's (the inline helpers of kevent.h
 * trust the header, which is the consumer's own to keep).
 */
static void priv_consume(struct priv *p)
{
	const struct ukevent *entries = (const void *)((char *)p->ring +
					 KEVENT_RING_ENTRIES_OFFSET);
	uint32_t k = __atomic_load_n(&p->ring->kidx, __ATOMIC_ACQUIRE);
	uint32_t u = p->ring->uidx;
	struct ukevent out;
	int i;

	if (k - u > p->size)
		u = k;
	for (i = 0; i < 64 && u != k; i++, u++)
		memcpy(&out, &entries[u & (p->size - 1)], sizeof(out));
	__atomic_store_n(&p->ring->uidx, u, __ATOMIC_RELEASE);
}

static void priv_close(struct priv *p)
{
	if (p->ring)
		munmap(p->ring, p->bytes);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->ring = NULL;
}

static void priv_op(struct rnd *r, struct priv *p)
{
	void *m;
	size_t i;

	if (p->fd < 0 || !rn(r, 64)) {
		priv_close(p);
		priv_open(r, p);
		return;
	}
	switch (rn(r, 11)) {
	case 0:		/* scribble */
		if (!p->ring)
			break;
		for (i = 0; i < 8; i++) {
			uint32_t *w = (uint32_t *)p->ring +
				      rn(r, (unsigned int)(p->bytes / 4));
			*w = rn(r, 2) ? (uint32_t)rnd(r) : p->ring->kidx +
			     rn(r, 3) - 1;
		}
		count(3);
		break;
	case 1: {	/* unmap and map again, maybe partly */
		size_t len = rn(r, 4) ? p->bytes : (size_t)4096 * (1 + rn(r, 4));

		if (p->ring)
			munmap(p->ring, p->bytes);
		p->ring = NULL;
		m = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 rn(r, 8) ? MAP_SHARED : MAP_PRIVATE, p->fd,
			 rn(r, 8) ? 0 : 4096);
		if (m != MAP_FAILED)
			munmap(m, len);
		m = mmap(NULL, p->bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
			 p->fd, 0);
		if (m != MAP_FAILED)
			p->ring = m;
		count(4);
		break;
	}
	case 2:		/* mremap: move, shrink, grow (refused) */
		if (!p->ring)
			break;
		m = mremap(p->ring, p->bytes, rn(r, 2) ? p->bytes : p->bytes * 2,
			   MREMAP_MAYMOVE);
		if (m != MAP_FAILED && m != (void *)p->ring) {
			p->ring = m;
		} else if (m == MAP_FAILED && rn(r, 2)) {
			m = mremap(p->ring, p->bytes, 4096, 0);
			if (m != MAP_FAILED) {
				munmap(m, 4096);
				p->ring = NULL;
			}
		}
		count(4);
		break;
	case 3:		/* consume honestly */
		if (p->ring && p->size)
			priv_consume(p);
		break;
	case 4:
		do_wait(r, p->fd, p->size);
		break;
	case 5:
		do_opt(r, p->fd);
		break;
	default:
		do_ctl(r, p->fd, NULL);
		break;
	}
}

/* ---- shared objects */

static void replace_slot(struct rnd *r, int i)
{
	int kind, fd = make_object(r, &kind);

	put_slot(i, fd, kind);
	count(5);
}

static int add_poll(int q, int fd, uint32_t flags)
{
	struct ukevent e = mk(KEVENT_POLL, (uint64_t)fd, KEVENT_POLL_IN, flags,
			      0);

	return kq_ctl(q, KEVENT_CTL_ADD, 1, &e);
}

/* READY, at times moved to another level while it waits */
static void user_ready(struct rnd *r, int q)
{
	struct ukevent e = mk(KEVENT_USER, rn(r, 4), 0, 0, 0);
	int i;

	e.prio = rn(r, KEVENT_PRIO_LEVELS);
	kq_ctl(q, KEVENT_CTL_ADD, 1, &e);
	for (i = 0; i < 4; i++) {
		kq_ctl(q, KEVENT_CTL_READY, 1, &e);
		if (rn(r, 2)) {
			e.prio = rn(r, KEVENT_PRIO_LEVELS);
			kq_ctl(q, KEVENT_CTL_MODIFY, 1, &e);
		}
	}
}

/*
 * Shapes that random ids rarely make: queues in queues (chains, loops),
 * a queue and an epoll instance watching each other, a queue in flight
 * over the AF_UNIX socket it watches; then wake-ups through them.
 */
static void structured_op(struct rnd *r)
{
	static const uint32_t flags[] = { 0, KEVENT_REQ_ET, KEVENT_REQ_ONESHOT };
	int q = pick(r, K_QUEUE), fd, sp[2];

	if (q < 0)
		return;
	switch (rn(r, 4)) {
	case 0:		/* nest: a chain grows by one, or a loop is tried */
		fd = pick(r, K_QUEUE);
		if (fd >= 0)
			add_poll(q, fd, flags[rn(r, 3)]);
		user_ready(r, rn(r, 2) ? q : fd);
		break;
	case 1: {	/* q and an epoll instance watching each other */
		struct epoll_event ee = {
			.events = EPOLLIN | (rn(r, 2) ? EPOLLET : 0),
		};

		fd = pick(r, K_EPOLL);
		if (fd < 0)
			break;
		epoll_ctl(fd, EPOLL_CTL_ADD, q, &ee);
		add_poll(q, fd, flags[rn(r, 3)]);
		user_ready(r, q);
		break;
	}
	case 2:		/* q watches a socket that carries q */
		if (socketpair(AF_UNIX, (rn(r, 2) ? SOCK_STREAM : SOCK_DGRAM) |
			       SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp))
			break;
		add_poll(q, sp[0], flags[rn(r, 3)]);
		send_fds(sp[1], &q, 1);
		put_slot((int)rn(r, SLOTS), sp[0], K_SOCK);
		put_slot((int)rn(r, SLOTS), sp[1], K_SOCK);
		break;
	default:
		user_ready(r, q);
		break;
	}
	count(11);
}

static void recv_and_close(int sock)
{
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} u;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;

	if (recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
		return;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		int *fds = (int *)CMSG_DATA(c);
		size_t k, nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (c->cmsg_type != SCM_RIGHTS)
			continue;
		for (k = 0; k < nfd; k++)
			close(fds[k]);
	}
}

static void child_play(struct rnd *r, char *ro_page)
{
	int i;

	for (i = 0; i < 20; i++) {
		int fd = __atomic_load_n(&slots[rn(r, SLOTS)], __ATOMIC_RELAXED);

		if (fd < 0)
			continue;
		switch (rn(r, 4)) {
		case 0: do_ctl(r, fd, ro_page); break;
		case 1: do_wait(r, fd, 0); break;
		case 2: ioctl(fd, KEVENT_IOC_WAKE); break;
		default: close(fd); break;
		}
	}
}

/* children that found a violation exit with 99 */
static void reap(int block)
{
	int status;

	while (waitpid(-1, &status, block ? 0 : WNOHANG) > 0)
		if (WIFEXITED(status) && WEXITSTATUS(status) == 99)
			violation("in a forked child");
}

static void shared_op(struct rnd *r, char *ro_page)
{
	int i = (int)rn(r, SLOTS);
	int fd = __atomic_load_n(&slots[i], __ATOMIC_RELAXED);
	int fd2 = __atomic_load_n(&slots[rn(r, SLOTS)], __ATOMIC_RELAXED);

	switch (rn(r, 24)) {
	case 0:
	case 1:
		replace_slot(r, i);
		break;
	case 20:
	case 21:
	case 22:
	case 23:
		structured_op(r);
		break;
	case 2: {			/* fork: the child plays, then exits */
		pid_t pid;

		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			in_child = 1;
			violations = 0;
			child_play(r, ro_page);
			_exit(violations ? 99 : (int)rn(r, 99));
		}
		if (pid > 0) {
			struct ukevent e = mk(KEVENT_PROC, (uint64_t)pid, 0, 0, 0);

			if (fd >= 0)
				kq_ctl(fd, KEVENT_CTL_ADD, 1, &e);
		}
		reap(0);
		count(6);
		break;
	}
	case 3:			/* signals */
		kill(getpid(), rn(r, 3) == 0 ? SIGUSR1 : rn(r, 2) ? SIGUSR2 :
		     SIGRTMIN + 1);
		count(7);
		break;
	case 4: {		/* file activity */
		char path[64], path2[64];

		snprintf(path, sizeof(path), "/tmp/kf-%s-%u", who, rn(r, 8));
		snprintf(path2, sizeof(path2), "/tmp/kf-%s-%u", who, rn(r, 8));
		switch (rn(r, 5)) {
		case 0: {
			int f = open(path, O_WRONLY | O_CREAT | O_APPEND |
				     O_CLOEXEC, 0644);

			if (f >= 0) {
				if (write(f, "x", 1) < 0)
					(void)0;
				close(f);
			}
			break;
		}
		case 1: unlink(path); break;
		case 2: rename(path, path2); break;
		case 3: chmod(path, 0600 | rn(r, 0100)); break;
		default:
			snprintf(path, sizeof(path), "/tmp/kf-%s-d%u/e%u", who,
				 rn(r, 4), rn(r, 4));
			if (rn(r, 2))
				close(open(path, O_CREAT | O_RDONLY | O_CLOEXEC,
					   0644));
			else
				unlink(path);
			break;
		}
		count(8);
		break;
	}
	case 5:			/* queues in flight over AF_UNIX */
		if (fd >= 0 && fd2 >= 0) {
			int fds[2] = { fd2, fd };

			if (send_fds(fd, fds, 1 + rn(r, 2)) < 0 && rn(r, 2))
				send_fds(fd2, fds, 1);
			if (rn(r, 2))
				recv_and_close(fd);
		}
		count(9);
		break;
	case 6:			/* epoll sets */
		if (fd >= 0 && fd2 >= 0) {
			struct epoll_event ee = {
				.events = EPOLLIN | (rn(r, 2) ? EPOLLET : 0),
			};
			struct epoll_event got[4];

			epoll_ctl(fd, EPOLL_CTL_ADD, fd2, &ee);
			epoll_wait(fd, got, 4, 0);
		}
		count(10);
		break;
	case 7:
		if (fd >= 0)
			do_random_ioctl(r, fd, ro_page);
		break;
	case 8: {		/* I/O on whatever it is */
		char buf[64];

		if (fd >= 0) {
			if (rn(r, 2)) {
				if (write(fd, "abcdefgh", 1 + rn(r, 8)) < 0)
					(void)0;
			} else if (read(fd, buf, sizeof(buf)) < 0) {
				(void)0;
			}
		}
		break;
	}
	case 9:
		if (fd >= 0)
			ioctl(fd, KEVENT_IOC_WAKE);
		break;
	case 10:
	case 11:
	case 12:
		if (fd >= 0)
			do_wait(r, fd, 0);
		break;
	default:
		if (fd >= 0)
			do_ctl(r, fd, ro_page);
		break;
	}
}

static void on_signal(int sig)
{
	(void)sig;
}

/* A fault in the fuzzer itself: say where, then die of it. */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	char buf[128];
	int n;

	(void)uc;
	n = snprintf(buf, sizeof(buf), "FAULT (%s): signal %d at %p code %d\n",
		     who, sig, si->si_addr, si->si_code);
	if (write(1, buf, (size_t)n) < 0)
		(void)0;
	{	/* the mapping it hit (not async-signal-safe: dying anyway) */
		FILE *f = fopen("/proc/self/maps", "r");
		unsigned long a = (unsigned long)si->si_addr, lo, hi;
		char line[256];

		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
			    a >= lo - 0x10000 && a < hi + 0x10000)
				printf("FAULT (%s): near %s", who, line);
		fflush(stdout);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

struct worker {
	pthread_t th;
	uint64_t seed;
	char *ro_page;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct rnd r = { w->seed | 1 };
	struct priv p[PRIV];
	int i;

	for (i = 0; i < PRIV; i++)
		priv_open(&r, &p[i]);
	while (now_ns(CLOCK_MONOTONIC) < deadline) {
		if (rn(&r, 3) == 0)
			priv_op(&r, &p[rn(&r, PRIV)]);
		else
			shared_op(&r, w->ro_page);
	}
	for (i = 0; i < PRIV; i++)
		priv_close(&p[i]);
	return NULL;
}

static int fuzz(uint64_t seed, int seconds)
{
	struct worker w[THREADS];
	struct rnd r = { seed | 1 };
	sigset_t set;
	char *ro_page;
	int i;

	ro_page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	if (ro_page == MAP_FAILED)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	/* a wait's sigmask may unblock them: handled, never fatal */
	signal(SIGUSR1, on_signal);
	signal(SIGUSR2, on_signal);
	signal(SIGRTMIN + 1, on_signal);
	{
		struct sigaction sa = { .sa_sigaction = on_fault,
					.sa_flags = SA_SIGINFO };

		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGRTMIN + 1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (i = 0; i < SLOTS; i++)
		slots[i] = -1;
	for (i = 0; i < SLOTS; i++)
		replace_slot(&r, i);
	deadline = now_ns(CLOCK_MONOTONIC) + (int64_t)seconds * 1000000000LL;
	for (i = 0; i < THREADS; i++) {
		w[i].seed = seed * 7919 + (uint64_t)i * 104729 + 1;
		w[i].ro_page = ro_page;
		pthread_create(&w[i].th, NULL, worker_fn, &w[i]);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(w[i].th, NULL);
	for (i = 0; i < SLOTS; i++)
		if (slots[i] >= 0)
			close(slots[i]);
	reap(1);
	printf("# fuzz (%s): %ld ctl, %ld wait, %ld ioctl, %ld scribble, "
	       "%ld map, %ld replace, %ld fork, %ld signal, %ld file, "
	       "%ld in flight, %ld epoll, %ld shaped; %d violations\n", who,
	       ops[0], ops[1], ops[2], ops[3], ops[4], ops[5], ops[6], ops[7],
	       ops[8], ops[9], ops[10], ops[11], violations);
	return violations ? 1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t seed = (uint64_t)now_ns(CLOCK_REALTIME);
	struct rlimit rl = { 4096, 4096 };
	int seconds = 30, i, status, ret = 0;
	pid_t pid[2];

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--seconds"))
			seconds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[i + 1], NULL, 0);
	}
	printf("# kmod-fuzz: %d s, seed %llu\n", seconds,
	       (unsigned long long)seed);
	setrlimit(RLIMIT_NOFILE, &rl);
	/* one fuzzing process as root, one as nobody, at the same time */
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			if (i == 1) {
				who = "nobody";
				if (drop_to_nobody()) {
					printf("cannot drop to nobody\n");
					_exit(2);
				}
			}
			_exit(fuzz(seed ^ (i ? 0x9e3779b97f4a7c15ULL : 0),
				   seconds));
		}
	}
	for (i = 0; i < 2; i++) {
		if (pid[i] < 0 || waitpid(pid[i], &status, 0) != pid[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			printf("FAIL: the fuzzer as %s: status %#x\n",
			       i ? "nobody" : "root", pid[i] < 0 ? -1 : status);
			ret = 1;
		}
	}
	/* what the fuzzers left in /tmp */
	if (system("rm -rf /tmp/kf-*") != 0)
		ret = 1;
	return ret;
}
