// SPDX-License-Identifier: MIT
/*
 * kmod-hostile.c - what a hostile local user does to /dev/kevent.  One test
 * (or more) per finding of issue 14; the prefix iNN_ is the item number.
 * Run in the test guest with a test build of kevent.ko (KEVENT_TESTING=y:
 * race windows are widened through its test_* parameters), one test per
 * process (kq.h).  Tests marked "as nobody" run their body in a child that
 * dropped to uid/gid 65534.
 *
 * Each of these failed against the module as it was before the fix it
 * tests: a lock-up, a stack overflow, a KASAN report, a leak, or a wrong
 * answer (see the commit that fixes it).  The prio_ tests are of no
 * finding: they hammer the priority levels of issue 20 the same ways.
 */
#include <linux/io_uring.h>
#include <linux/userfaultfd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "kq.h"

#define MAX_NESTS	4	/* edges in a chain of nested queues */

static int pipe_new(int p[2])
{
	return pipe2(p, O_CLOEXEC | O_NONBLOCK);
}

/* Drain a queue's ring, counting the entries. */
static int drain(struct kq *q)
{
	struct ukevent out;
	int n = 0;

	while (kevent_ring_consume(q->ring, &out))
		n++;
	return n;
}

/* ---- 1: a queue and an epoll instance watching each other */

static int epoll_loop_body(void)
{
	struct epoll_event ee = { .events = EPOLLIN }, got[4];
	struct kq q, q2;
	struct ukevent out;
	int ep, ep2, i, n, users, round;

	CHECK(kq_open(&q, 64) == 0 && kq_open(&q2, 64) == 0, "open");
	ep = epoll_create1(EPOLL_CLOEXEC);
	ep2 = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0 && ep2 >= 0, "epoll_create1");
	/* the loop of the report: ep watches q, q watches ep */
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, q.fd, &ee) == 0, "epoll add q");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)ep,
		KEVENT_POLL_IN, 0, 0)) == 0, "q watches ep");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "add user");
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 100; i++) {
			/* each READY goes around q -> ep -> q */
			CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0,
				0, 0)) == 0, "ready %d", i);
			n = kq_wait(q.fd, 1, HANG_NS);
			CHECK(n >= 1, "wait %d: %d", i, n);
			users = 0;
			while (kevent_ring_consume(q.ring, &out)) {
				if (out.type == KEVENT_USER) {
					users++;
					continue;
				}
				CHECK(out.type == KEVENT_POLL &&
				      out.id == (unsigned)ep, "entry type %u",
				      out.type);
			}
			CHECK(users == 1, "%d user entries", users);
			epoll_wait(ep, got, 4, 0);
		}
		/* again edge-triggered, then one-shot */
		if (round < 2)
			CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, mk(KEVENT_POLL,
				(unsigned)ep, KEVENT_POLL_IN, round ?
				KEVENT_REQ_ONESHOT : KEVENT_REQ_ET, 0)) == 0,
			      "modify");
	}
	/* a ring of two queues and two epolls: q -> ep2 -> q2 -> ep -> q */
	CHECK(epoll_ctl(ep2, EPOLL_CTL_ADD, q2.fd, &ee) == 0, "ep2 watches q2");
	CHECK(ctl1(q2.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)ep,
		KEVENT_POLL_IN, 0, 0)) == 0, "q2 watches ep");
	/* the one-shot registration of ep may have gone with its delivery */
	ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_POLL, (unsigned)ep, 0, 0, 0));
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)ep2,
		KEVENT_POLL_IN, 0, 0)) == 0, "q watches ep2");
	CHECK(ctl1(q2.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 2, 0, 0, 0)) == 0,
	      "add user 2");
	for (i = 0; i < 100; i++) {
		CHECK(ctl1(q2.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 2, 0, 0,
			0)) == 0, "ready");
		CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0,
			0)) == 0, "ready");
		CHECK(kq_wait(q.fd, 1, HANG_NS) >= 1, "wait q");
		CHECK(kq_wait(q2.fd, 1, HANG_NS) >= 1, "wait q2");
		drain(&q);
		drain(&q2);
	}
	kq_close(&q);
	kq_close(&q2);
	close(ep);
	close(ep2);
	return 0;
}

/* as nobody */
static int i01_epoll_loop(void)
{
	return as_nobody(epoll_loop_body);
}

/* ---- 2: nesting depth, counted above the watcher too */

static int nest(struct kq *outer, struct kq *inner)
{
	return ctl1(outer->fd, KEVENT_CTL_ADD, mk(KEVENT_POLL,
		(unsigned)inner->fd, KEVENT_POLL_IN, 0, 0));
}

static int nest_depth_body(void)
{
	struct kq qs[MAX_NESTS + 2], a[3], b[3];
	struct ukevent out;
	int i, r;

	/* top-down, closing the middle descriptors as we go */
	CHECK(kq_open(&qs[0], 8) == 0, "open");
	for (i = 1; i <= MAX_NESTS + 1; i++) {
		CHECK(kq_open(&qs[i], 8) == 0, "open %d", i);
		r = nest(&qs[i - 1], &qs[i]);
		if (i <= MAX_NESTS) {
			CHECK(r == 0, "top-down level %d: %d", i, r);
		} else {
			CHECK(r == ELOOP, "top-down level %d not ELOOP: %d", i,
			      r);
		}
		if (i - 1 > 0 && r == 0)
			close(qs[i - 1].fd);	/* qs[i - 2] holds it */
	}
	/* a READY at the bottom of the longest chain reaches the top */
	CHECK(ctl1(qs[MAX_NESTS].fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 9, 0, 0,
		0)) == 0, "add bottom");
	CHECK(ctl1(qs[MAX_NESTS].fd, KEVENT_CTL_READY, mk(KEVENT_USER, 9, 0, 0,
		0)) == 0, "ready bottom");
	CHECK(kq_wait(qs[0].fd, 1, HANG_NS) == 1, "top not woken");
	CHECK(kevent_ring_consume(qs[0].ring, &out) && out.type == KEVENT_POLL &&
	      out.id == (unsigned)qs[1].fd, "top entry");
	kq_close(&qs[0]);
	for (i = 1; i <= MAX_NESTS + 1; i++) {
		munmap(qs[i].ring, qs[i].bytes);
		if (i == MAX_NESTS || i == MAX_NESTS + 1)
			close(qs[i].fd);
	}

	/* bottom-up */
	for (i = 0; i <= MAX_NESTS + 1; i++)
		CHECK(kq_open(&qs[i], 8) == 0, "open %d", i);
	for (i = MAX_NESTS + 1; i >= 1; i--) {
		r = nest(&qs[i - 1], &qs[i]);
		if (i > 1) {
			CHECK(r == 0, "bottom-up level %d: %d", i, r);
		} else {
			CHECK(r == ELOOP, "bottom-up top not ELOOP: %d", r);
		}
	}
	for (i = 0; i <= MAX_NESTS + 1; i++)
		kq_close(&qs[i]);

	/* joining two chains in the middle: 2 + 1 + 2 edges */
	for (i = 0; i < 3; i++)
		CHECK(kq_open(&a[i], 8) == 0 && kq_open(&b[i], 8) == 0, "open");
	CHECK(nest(&a[0], &a[1]) == 0 && nest(&a[1], &a[2]) == 0, "chain a");
	CHECK(nest(&b[0], &b[1]) == 0 && nest(&b[1], &b[2]) == 0, "chain b");
	r = nest(&a[2], &b[0]);
	CHECK(r == ELOOP, "a chain of %d edges accepted: %d", 5, r);
	/* 2 + 1 + 1 fits */
	CHECK(ctl1(b[0].fd, KEVENT_CTL_REMOVE, mk(KEVENT_POLL,
		(unsigned)b[1].fd, 0, 0, 0)) == 0, "unlink b");
	CHECK(nest(&a[2], &b[1]) == 0, "a chain of 4 edges refused");
	/* and now nothing may go above a[0] */
	CHECK(nest(&b[0], &a[0]) == ELOOP, "a chain of 5 edges accepted");
	/* a loop is still a loop */
	CHECK(nest(&b[2], &a[0]) == ELOOP, "loop accepted");
	for (i = 0; i < 3; i++) {
		kq_close(&a[i]);
		kq_close(&b[i]);
	}
	return 0;
}

/* as nobody */
static int i02_nest_depth(void)
{
	return as_nobody(nest_depth_body);
}

/*
 * A wake-up at the bottom of a very deep chain must not recurse through
 * every level on the stack.  Test builds can raise the depth limit
 * (test_max_nests, at most 128) so that a chain of 100 can be built: the
 * module as it was overflowed its stack at about 55.
 */
static int i02_deep_chain_wake(void)
{
	enum { DEPTH = 100 };
	static struct kq qs[DEPTH];
	long long old = param_get("test_max_nests");
	struct ukevent out;
	int i, r, round;

	if (old >= 0)
		CHECK(param_set("test_max_nests", DEPTH + 10) == 0, "param");
	CHECK(kq_open(&qs[0], 8) == 0, "open");
	for (i = 1; i < DEPTH; i++) {
		CHECK(kq_open(&qs[i], 8) == 0, "open %d", i);
		r = nest(&qs[i - 1], &qs[i]);
		if (r == ELOOP && i > MAX_NESTS && old < 0) {
			for (; i >= 0; i--)
				kq_close(&qs[i]);
			SKIP("a module without test_max_nests limits the depth");
		}
		CHECK(r == 0, "level %d: %d", i, r);
	}
	for (round = 0; round < 2; round++) {
		struct ukevent e = round ?
			mk(KEVENT_TIMER, 1, 0, KEVENT_REQ_ONESHOT, 1000) :
			mk(KEVENT_USER, 1, 0, 0, 0);

		/* the timer fires in interrupt context, on the irq stack */
		CHECK(ctl1(qs[DEPTH - 1].fd, KEVENT_CTL_ADD, e) == 0, "add");
		if (!round)
			CHECK(ctl1(qs[DEPTH - 1].fd, KEVENT_CTL_READY, e) == 0,
			      "ready");
		CHECK(kq_wait(qs[0].fd, 1, HANG_NS) == 1, "top not woken");
		CHECK(kevent_ring_consume(qs[0].ring, &out) &&
		      out.id == (unsigned)qs[1].fd, "top entry");
		for (i = DEPTH - 1; i >= 0; i--) {
			kq_wait(qs[i].fd, 1, 0);
			drain(&qs[i]);
		}
		ctl1(qs[DEPTH - 1].fd, KEVENT_CTL_REMOVE, e);
	}
	for (i = 0; i < DEPTH; i++)
		kq_close(&qs[i]);
	if (old >= 0)
		param_set("test_max_nests", old);
	return 0;
}

/* ---- 3: the queue freed while an inode event is about to wake it */

struct bg_call {
	pthread_t th;
	int fd;
	const char *path;
	int what;		/* 0 write(fd), 1 rmdir(path), 2 unlink */
	int ret, err;
};

static void *bg_call_fn(void *arg)
{
	struct bg_call *c = arg;

	if (c->what == 0)
		c->ret = (int)write(c->fd, "x", 1);
	else if (c->what == 1)
		c->ret = rmdir(c->path);
	else
		c->ret = unlink(c->path);
	c->err = errno;
	return NULL;
}

/* wait until the module's counter @name exceeds @than (hang guard) */
static int wait_param_above(const char *name, long long than)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC);

	while (now_ns(CLOCK_MONOTONIC) - t0 < HANG_NS) {
		if (param_get(name) > than)
			return 0;
		sched_yield();
	}
	return -1;
}

/*
 * A thread changes a watched inode and is held (test_window) between the
 * module recording the change and waking the queue; meanwhile the queue is
 * closed.  Before the fix the wake-up touched the freed queue (KASAN:
 * use-after-free in kevent_wake; with init_on_free on the stock kernel, a
 * fault).
 */
static int inode_close_race(int site, int dir)
{
	const char *path = dir ? "/tmp/kh-race-dir" : "/tmp/kh-race-file";
	struct bg_call c = { 0 };
	long long hits, done;
	struct kq q;
	int fd;

	if (!param_exists("test_window"))
		SKIP("the module is not a test build (KEVENT_TESTING=y)");
	rmdir(path);
	unlink(path);
	if (dir) {
		CHECK(mkdir(path, 0700) == 0, "mkdir");
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	}
	CHECK(fd >= 0, "open %s", path);
	CHECK(kq_open(&q, 8) == 0, "open queue");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_INODE, (unsigned)fd,
		KEVENT_INODE_MODIFY | KEVENT_INODE_DELETE_SELF, 0, 0)) == 0,
	      "add inode");
	hits = param_get("test_window_hits");
	done = param_get("test_window_done");
	CHECK(param_set("test_window_ms", 300) == 0 &&
	      param_set("test_window", site) == 0, "window");
	c.fd = fd;
	c.path = path;
	c.what = dir ? 1 : 0;
	if (dir)
		close(fd);	/* the mark alone keeps the inode */
	pthread_create(&c.th, NULL, bg_call_fn, &c);
	if (wait_param_above("test_window_hits", hits)) {
		param_set("test_window", 0);
		pthread_join(c.th, NULL);
		CHECK(0, "the thread never entered the window");
	}
	param_set("test_window", 0);
	kq_close(&q);		/* while the other thread is in the window */
	pthread_join(c.th, NULL);
	CHECK(wait_param_above("test_window_done", done) == 0,
	      "the window never ended");
	CHECK(c.ret >= 0, "%s: %s", dir ? "rmdir" : "write", strerror(c.err));
	if (!dir) {
		close(fd);
		unlink(path);
	}
	return 0;
}

static int i03_inode_event_close_race(void)
{
	return inode_close_race(1, 0);	/* KEVENT_SITE_INODE_EVENT */
}

static int i03_inode_freeing_close_race(void)
{
	return inode_close_race(2, 1);	/* KEVENT_SITE_INODE_FREEING */
}

/* ---- 4: reference cycles through SCM_RIGHTS */

static int send_fd(int sock, int fd)
{
	char byte = 'q';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(&u, 0, sizeof(u));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int unix_cycle_body(void)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
	long long q0 = param_get("queues"), r0 = param_get("registrations");
	unsigned int t;

	CHECK(q0 >= 0 && r0 >= 0, "module counters");
	for (t = 0; t < 3; t++) {
		struct kq q, q2;
		int sv[2];

		/* q watches sv[0]; q's own fd is in flight to sv[0] */
		CHECK(socketpair(AF_UNIX, types[t] | SOCK_CLOEXEC, 0, sv) == 0,
		      "socketpair");
		CHECK(kq_open(&q, 8) == 0, "open");
		CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)sv[0],
			KEVENT_POLL_IN, 0, 0)) == 0, "watch the socket");
		CHECK(send_fd(sv[1], q.fd) == 0, "SCM_RIGHTS");
		kq_close(&q);
		close(sv[0]);
		close(sv[1]);

		/* through a nested queue: q2 watches q, q watches sv[0] */
		CHECK(socketpair(AF_UNIX, types[t] | SOCK_CLOEXEC, 0, sv) == 0,
		      "socketpair");
		CHECK(kq_open(&q, 8) == 0 && kq_open(&q2, 8) == 0, "open");
		CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)sv[0],
			KEVENT_POLL_IN, 0, 0)) == 0, "watch the socket");
		CHECK(nest(&q2, &q) == 0, "nest");
		CHECK(send_fd(sv[1], q2.fd) == 0, "SCM_RIGHTS");
		kq_close(&q2);
		kq_close(&q);
		close(sv[0]);
		close(sv[1]);
	}
	/* everything is unreachable now: all of it must be freed */
	CHECK(wait_module_idle(q0, r0) == 0,
	      "a reference cycle leaked: queues %lld registrations %lld "
	      "(were %lld %lld)", param_get("queues"),
	      param_get("registrations"), q0, r0);
	return 0;
}

/* as nobody */
static int i04_unix_cycle(void)
{
	return as_nobody(unix_cycle_body);
}

/*
 * What the fix means for a watched AF_UNIX socket: events still arrive;
 * closing its last descriptor closes the socket (the peer sees end of
 * file) instead of the registration keeping it open; REMOVE still works.
 */
static int unix_semantics_body(void)
{
	struct ukevent out;
	struct kq q;
	char buf[8];
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
			 sv) == 0, "socketpair");
	CHECK(kq_open(&q, 8) == 0, "open");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)sv[0],
		KEVENT_POLL_IN, KEVENT_REQ_ET, 0)) == 0, "watch");
	CHECK(write(sv[1], "x", 1) == 1, "write");
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "no event");
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == (unsigned)sv[0] &&
	      (out.event & KEVENT_POLL_IN), "entry");
	CHECK(read(sv[0], buf, sizeof(buf)) == 1, "read");
	close(sv[0]);
	CHECK(read(sv[1], buf, sizeof(buf)) == 0, "the peer does not see EOF");
	CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_POLL, (unsigned)sv[0], 0,
		0, 0)) == 0, "remove after close");
	close(sv[1]);
	kq_close(&q);
	return 0;
}

/* as nobody */
static int i04_unix_semantics(void)
{
	return as_nobody(unix_semantics_body);
}

/* An io_uring instance can hold our file: watching it is refused. */
static int i04_io_uring_refused(void)
{
	struct io_uring_params p;
	struct kq q;
	int fd, r;

	memset(&p, 0, sizeof(p));
	fd = (int)syscall(SYS_io_uring_setup, 4, &p);
	if (fd < 0)
		SKIP("io_uring_setup fails on this kernel");
	CHECK(kq_open(&q, 8) == 0, "open");
	r = ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)fd,
		 KEVENT_POLL_IN, 0, 0));
	CHECK(r == EINVAL, "POLL of an io_uring fd: %d", r);
	kq_close(&q);
	close(fd);
	return 0;
}

/* ---- 5: KEVENT_INODE needs read permission, as inotify */

static int i05_inode_permission(void)
{
	int status, fd;
	pid_t pid;

	unlink("/tmp/kh-secret");
	unlink("/tmp/kh-wonly");
	unlink("/tmp/kh-public");
	rmdir("/tmp/kh-privdir");
	fd = open("/tmp/kh-secret", O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0, "create");
	close(fd);
	fd = open("/tmp/kh-wonly", O_RDWR | O_CREAT | O_EXCL, 0602);
	CHECK(fd >= 0 && fchmod(fd, 0602) == 0, "create");
	close(fd);
	fd = open("/tmp/kh-public", O_RDWR | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0 && fchmod(fd, 0644) == 0, "create");
	close(fd);
	CHECK(mkdir("/tmp/kh-privdir", 0700) == 0, "mkdir");
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		/* opened by root, then kept across the drop to nobody */
		int secret = open("/tmp/kh-secret", O_RDONLY);
		int dir = open("/tmp/kh-privdir", O_RDONLY | O_DIRECTORY);
		int wonly, pub, r;
		struct kq q;

		if (secret < 0 || dir < 0 || drop_to_nobody())
			_exit(10);
		wonly = open("/tmp/kh-wonly", O_WRONLY);
		pub = open("/tmp/kh-public", O_RDONLY);
		if (wonly < 0 || pub < 0 || kq_open(&q, 8))
			_exit(11);
		r = ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_INODE, (unsigned)secret,
			 KEVENT_INODE_MODIFY, 0, 0));
		if (r != EACCES) {
			printf("watching a file nobody cannot read: %d\n", r);
			_exit(1);
		}
		r = ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_INODE, (unsigned)wonly,
			 KEVENT_INODE_MODIFY, 0, 0));
		if (r != EACCES) {
			printf("watching a write-only file: %d\n", r);
			_exit(2);
		}
		r = ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_INODE, (unsigned)dir,
			 KEVENT_INODE_CREATE, 0, 0));
		if (r != EACCES) {
			printf("watching a directory nobody cannot read: %d\n",
			       r);
			_exit(3);
		}
		r = ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_INODE, (unsigned)pub,
			 KEVENT_INODE_MODIFY, 0, 0));
		if (r != 0) {
			printf("watching a readable file: %d\n", r);
			_exit(4);
		}
		kq_close(&q);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	unlink("/tmp/kh-secret");
	unlink("/tmp/kh-wonly");
	unlink("/tmp/kh-public");
	rmdir("/tmp/kh-privdir");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "child status %#x", status);
	return 0;
}

/* ---- 6: the producer index never moves backwards */

struct waiter {
	pthread_t th;
	int fd;
	int ret;
};

static void *wait0_fn(void *arg)
{
	struct waiter *w = arg;

	w->ret = kq_wait(w->fd, 1, 0);
	return NULL;
}

/*
 * WAIT is held (test_window) after reading the kernel's kidx and before
 * storing it into the ring; meanwhile a READY publishes one entry.  The
 * ring's kidx must end at the newer value.
 */
static int i06_kidx_monotonic(void)
{
	struct waiter w = { 0 };
	struct ukevent out;
	long long hits, done;
	uint32_t k;
	struct kq q;

	if (!param_exists("test_window"))
		SKIP("the module is not a test build (KEVENT_TESTING=y)");
	CHECK(kq_open(&q, 64) == 0, "open");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "add");
	hits = param_get("test_window_hits");
	done = param_get("test_window_done");
	CHECK(param_set("test_window_ms", 300) == 0 &&
	      param_set("test_window", 3) == 0, "window");
	w.fd = q.fd;
	pthread_create(&w.th, NULL, wait0_fn, &w);
	if (wait_param_above("test_window_hits", hits)) {
		param_set("test_window", 0);
		pthread_join(w.th, NULL);
		CHECK(0, "WAIT never entered the window");
	}
	param_set("test_window", 0);
	k = kevent_load_acquire(&q.ring->kidx);
	CHECK(ctl1(q.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "ready");
	CHECK(wait_param_above("test_window_done", done) == 0,
	      "the window never ended");
	pthread_join(w.th, NULL);
	CHECK(kevent_load_acquire(&q.ring->kidx) == k + 1,
	      "kidx %u after a publication at %u: moved backwards",
	      kevent_load_acquire(&q.ring->kidx), k);
	CHECK(kevent_ring_consume(q.ring, &out) && out.id == 1, "entry");
	kq_close(&q);
	return 0;
}

/* ---- 7: no readability without an event */

static int spurious_body(void)
{
	struct epoll_event ee = { .events = EPOLLIN }, got;
	struct kq c, p;
	struct pollfd pf;
	struct ukevent out, b[2];
	int ep, pp[2], step;
	const char *what = "";

	CHECK(kq_open(&c, 8) == 0 && kq_open(&p, 8) == 0, "open");
	CHECK(pipe_new(pp) == 0, "pipe");
	ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ee) == 0,
	      "epoll");
	CHECK(nest(&p, &c) == 0, "the parent watches the child");
	CHECK(ctl1(c.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "add");
	for (step = 0; step < 12; step++) {
		/* calls on the child that publish nothing */
		switch (step) {
		case 0: what = "ADD";
			ctl1(c.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 2, 0, 0, 0));
			break;
		case 1: what = "MODIFY";
			ctl1(c.fd, KEVENT_CTL_MODIFY, mk(KEVENT_USER, 2, 5, 0, 0));
			break;
		case 2: what = "DISABLE";
			ctl1(c.fd, KEVENT_CTL_DISABLE, mk(KEVENT_USER, 2, 0, 0, 0));
			break;
		case 3: what = "ENABLE";
			ctl1(c.fd, KEVENT_CTL_ENABLE, mk(KEVENT_USER, 2, 0, 0, 0));
			break;
		case 4: what = "REMOVE";
			ctl1(c.fd, KEVENT_CTL_REMOVE, mk(KEVENT_USER, 2, 0, 0, 0));
			break;
		case 5: what = "a failed ADD";
			ctl1(c.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 1, 0, 0, 0));
			break;
		case 6: what = "a batch of errors";
			b[0] = mk(KEVENT_USER, 77, 0, 0, 0);
			b[1] = mk(KEVENT_USER, 78, 0, 0, 0);
			kq_ctl(c.fd, KEVENT_CTL_REMOVE, 2, b);
			break;
		case 7: what = "a far timer";
			ctl1(c.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 3, 0, 0,
						       3600000000000ULL));
			break;
		case 8: what = "REMOVE of the timer";
			ctl1(c.fd, KEVENT_CTL_REMOVE, mk(KEVENT_TIMER, 3, 0, 0, 0));
			break;
		case 9: what = "POLL of an empty pipe";
			ctl1(c.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)pp[0],
						       KEVENT_POLL_IN, 0, 0));
			break;
		case 10: what = "WAIT with timeout 0";
			kq_wait(c.fd, 1, 0);
			break;
		case 11: what = "READY of an unknown id";
			ctl1(c.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 99, 0, 0, 0));
			break;
		}
		CHECK(kq_wait(p.fd, 1, 0) == 0,
		      "the parent got \"child readable\" after %s", what);
		pf.fd = c.fd;
		pf.events = POLLIN;
		CHECK(poll(&pf, 1, 0) == 0, "poll(2) says readable after %s",
		      what);
		CHECK(epoll_wait(ep, &got, 1, 0) == 0,
		      "epoll says readable after %s", what);
	}
	/* an event still goes up */
	CHECK(ctl1(c.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "ready");
	CHECK(kq_wait(p.fd, 1, HANG_NS) == 1, "the parent missed the event");
	CHECK(kevent_ring_consume(p.ring, &out) && out.id == (unsigned)c.fd,
	      "entry");
	CHECK(epoll_wait(ep, &got, 1, HANG_NS / 1000000) == 1, "epoll missed it");
	kq_close(&c);
	kq_close(&p);
	close(ep);
	close(pp[0]);
	close(pp[1]);
	return 0;
}

/* as nobody */
static int i07_no_spurious_readable(void)
{
	return as_nobody(spurious_body);
}

/* ---- 8: bounded work in wake-up callbacks and timers */

struct saved_param {
	const char *name;
	long long v;
};

static void params_save(struct saved_param *s, int n)
{
	int i;

	for (i = 0; i < n; i++)
		s[i].v = param_get(s[i].name);
}

static void params_restore(const struct saved_param *s, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (s[i].v >= 0)
			param_set(s[i].name, s[i].v);
}

/*
 * A ring of R entries, R + R/2 user events ready (R in the ring, R/2
 * waiting), the consumer passes all R: the next wake-up callback (a
 * one-byte pipe write, or a timer) may do only a bounded part of the
 * reaping and publishing; the rest (it fits in the ring) happens in
 * process context without any call from the consumer.  Nothing is lost or
 * doubled.
 */
static int atomic_budget_round(int timer)
{
	enum { R = 65536, N = R + R / 2, BATCH = 65536 };
	static uint8_t seen[N];
	struct ukevent *b = calloc(BATCH, sizeof(*b));
	struct ukevent out;
	long long worst;
	int64_t t0;
	int p[2], i, j, n, got = 0, trig = 0;
	struct kq q;

	CHECK(b, "calloc");
	CHECK(kq_open(&q, R) == 0, "open a ring of %d", R);
	CHECK(pipe_new(p) == 0, "pipe");
	for (i = 0; i < N; i += n) {
		n = N - i < BATCH ? N - i : BATCH;
		for (j = 0; j < n; j++)
			b[j] = mk(KEVENT_USER, (uint64_t)(i + j), 0, 0, 0);
		CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, (unsigned)n, b) == n, "add");
	}
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)p[0],
		KEVENT_POLL_IN, KEVENT_REQ_ET, 0)) == 0, "add pipe");
	for (i = 0; i < N; i += n) {
		n = N - i < BATCH ? N - i : BATCH;
		for (j = 0; j < n; j++)
			b[j] = mk(KEVENT_USER, (uint64_t)(i + j), 0, 0, 0);
		CHECK(kq_ctl(q.fd, KEVENT_CTL_READY, (unsigned)n, b) == n,
		      "ready");
	}
	CHECK(kevent_ring_count(q.ring) == R, "ring holds %u",
	      kevent_ring_count(q.ring));
	/* consume the whole ring without a system call */
	memset(seen, 0, sizeof(seen));
	while (kevent_ring_consume(q.ring, &out)) {
		CHECK(out.type == KEVENT_USER && out.id < N && !seen[out.id],
		      "entry %llu", (unsigned long long)out.id);
		seen[out.id] = 1;
		got++;
	}
	CHECK(param_set("test_max_atomic", 0) == 0, "reset");
	if (timer)
		CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 1, 0,
			KEVENT_REQ_ONESHOT, 1000000)) == 0, "timer");
	else
		CHECK(write(p[1], "x", 1) == 1, "write");
	/* the rest must come without a call from us */
	t0 = now_ns(CLOCK_MONOTONIC);
	while (got < N || !trig) {
		CHECK(now_ns(CLOCK_MONOTONIC) - t0 < HANG_NS,
		      "stalled: %d of %d user events, trigger %d", got, N,
		      trig);
		if (!kevent_ring_consume(q.ring, &out)) {
			sched_yield();
			continue;
		}
		if (out.type != KEVENT_USER) {
			CHECK(!trig && out.type == (timer ? KEVENT_TIMER :
			      KEVENT_POLL), "trigger entry type %u", out.type);
			trig = 1;
			continue;
		}
		CHECK(out.id < N && !seen[out.id], "entry %llu twice",
		      (unsigned long long)out.id);
		seen[out.id] = 1;
		got++;
	}
	worst = param_get("test_max_atomic");
	CHECK(kq_wait(q.fd, 1, 0) == 0, "events left over");
	kq_close(&q);
	close(p[0]);
	close(p[1]);
	free(b);
	printf("# atomic_budget(%s): at most %lld ring entries in one callback\n",
	       timer ? "timer" : "pipe write", worst);
	CHECK(worst >= 1 && worst <= 128,
	      "a %s callback did %lld ring entries of work (cap 64 + 64)",
	      timer ? "timer" : "wake-up", worst);
	return 0;
}

static int i08_atomic_budget(void)
{
	struct saved_param s[] = {
		{ "max_user_registrations", -1 }, { "max_user_ring_bytes", -1 },
	};
	int r;

	if (!param_exists("test_max_atomic"))
		SKIP("the module is not a test build (KEVENT_TESTING=y)");
	params_save(s, 2);
	param_set("max_user_registrations", 1 << 20);
	param_set("max_user_ring_bytes", 64 << 20);
	r = atomic_budget_round(0);
	if (!r)
		r = atomic_budget_round(1);
	params_restore(s, 2);
	return r;
}

/* ---- 9: per-user limits */

static int user_limits_body(void)
{
	struct ukevent b[8];
	struct kq q[5];
	int i, r, fds[3];
	char path[64];

	/* queues: 4 */
	for (i = 0; i < 4; i++)
		CHECK(kq_open(&q[i], 8) == 0, "queue %d", i);
	CHECK(open("/dev/kevent", O_RDWR | O_CLOEXEC) < 0 && errno == EMFILE,
	      "a fifth queue");
	kq_close(&q[3]);
	CHECK(kq_open(&q[3], 8) == 0, "a queue after closing one");
	/* registrations: 10 over all queues */
	for (i = 0; i < 6; i++)
		b[i] = mk(KEVENT_USER, (unsigned)i, 0, 0, 0);
	CHECK(kq_ctl(q[0].fd, KEVENT_CTL_ADD, 6, b) == 6, "6 in q0");
	CHECK(kq_ctl(q[1].fd, KEVENT_CTL_ADD, 4, b) == 4, "4 in q1");
	r = ctl1(q[1].fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 50, 0, 0, 0));
	CHECK(r == ENOSPC, "an 11th registration: %d", r);
	CHECK(ctl1(q[0].fd, KEVENT_CTL_REMOVE, b[0]) == 0, "remove");
	CHECK(ctl1(q[1].fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 50, 0, 0, 0)) == 0,
	      "a registration after removing one");
	for (i = 0; i < 3; i++)
		kq_close(&q[i]);
	/* inode watches: 2 */
	CHECK(kq_open(&q[0], 8) == 0, "queue");
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/tmp/kh-lim-%d", i);
		fds[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		CHECK(fds[i] >= 0, "create %s", path);
		r = ctl1(q[0].fd, KEVENT_CTL_ADD, mk(KEVENT_INODE,
			 (unsigned)fds[i], KEVENT_INODE_MODIFY, 0, 0));
		CHECK(i < 2 ? r == 0 : r == ENOSPC, "inode watch %d: %d", i, r);
		unlink(path);
	}
	for (i = 0; i < 3; i++)
		close(fds[i]);
	kq_close(&q[0]);
	/* ring memory: 1 MiB */
	for (i = 0; i < 3; i++) {
		struct kevent_setup s = { .size = sizeof(s) };

		q[i].fd = open("/dev/kevent", O_RDWR | O_CLOEXEC);
		CHECK(q[i].fd >= 0, "open");
		s.ring_size = i == 0 ? 16384 : 8192;
		r = ioctl(q[i].fd, KEVENT_IOC_SETUP, &s) ? errno : 0;
		CHECK(i == 1 ? r == 0 : r == ENOMEM, "ring %d of %u entries: %d",
		      i, s.ring_size, r);
	}
	for (i = 0; i < 3; i++)
		close(q[i].fd);
	kq_close(&q[3]);
	return 0;
}

/* the default registration limit stops a million registrations */
static int million_body(void)
{
	enum { BATCH = 65536 };
	struct ukevent *b = calloc(BATCH, sizeof(*b));
	long long limit = param_get("max_user_registrations");
	long long total = 0;
	struct kq q;
	int i, n;

	CHECK(b && limit > 0, "setup");
	CHECK(kq_open(&q, 8) == 0, "queue");
	while (total < 1200000) {
		for (i = 0; i < BATCH; i++)
			b[i] = mk(KEVENT_USER, (uint64_t)(total + i), 0, 0, 0);
		n = kq_ctl(q.fd, KEVENT_CTL_ADD, BATCH, b);
		CHECK(n >= 0, "ctl");
		total += n;
		if (n < BATCH) {
			CHECK(b[n].ret_data == ENOSPC, "stopped with %llu",
			      (unsigned long long)b[n].ret_data);
			break;
		}
	}
	CHECK(total == limit, "%lld registrations with a limit of %lld",
	      total, limit);
	kq_close(&q);
	free(b);
	printf("# user_limits: the default stopped nobody at %lld\n", total);
	return 0;
}

static int i09_user_limits(void)
{
	struct saved_param s[] = {
		{ "max_user_queues", -1 }, { "max_user_registrations", -1 },
		{ "max_user_ring_bytes", -1 }, { "max_user_inode_watches", -1 },
	};
	int r;

	CHECK(param_exists("max_user_queues") &&
	      param_exists("max_user_registrations") &&
	      param_exists("max_user_ring_bytes") &&
	      param_exists("max_user_inode_watches"),
	      "no per-user limit parameters");
	params_save(s, 4);
	param_set("max_user_queues", 4);
	param_set("max_user_registrations", 10);
	param_set("max_user_ring_bytes", 1 << 20);
	param_set("max_user_inode_watches", 2);
	r = as_nobody(user_limits_body);
	/* root is another user: not limited by what nobody holds */
	params_restore(s, 4);
	if (!r)
		r = as_nobody(million_body);
	return r;
}

/* ---- 10: nested queues under lockdep */

static int i10_nesting_lockdep(void)
{
	struct epoll_event ee = { .events = EPOLLIN };
	struct kq q0, q1, q2;
	int ep, i;

	CHECK(kq_open(&q0, 8) == 0 && kq_open(&q1, 8) == 0 &&
	      kq_open(&q2, 8) == 0, "open");
	CHECK(nest(&q0, &q1) == 0 && nest(&q1, &q2) == 0, "nest");
	CHECK(nest(&q2, &q0) == ELOOP, "loop");
	ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, q2.fd, &ee) == 0,
	      "epoll");
	CHECK(ctl1(q1.fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)ep,
		KEVENT_POLL_IN, KEVENT_REQ_ET, 0)) == 0, "q1 watches ep");
	CHECK(ctl1(q2.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "add");
	CHECK(ctl1(q2.fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 2, 0, 0, 100000)) ==
	      0, "timer");
	for (i = 0; i < 200; i++) {
		CHECK(ctl1(q2.fd, KEVENT_CTL_READY, mk(KEVENT_USER, 1, 0, 0,
			0)) == 0, "ready");
		CHECK(kq_wait(q0.fd, 1, HANG_NS) >= 1, "top");
		kq_wait(q2.fd, 1, 0);
		kq_wait(q1.fd, 1, 0);
		drain(&q2);
		drain(&q1);
		drain(&q0);
	}
	kq_close(&q2);
	kq_close(&q1);
	kq_close(&q0);
	close(ep);
	return 0;
}

/* ---- 11: the smaller ones */

/* argument sizes: at most a page, at least the first version */
static int i11_arg_size(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *buf = mmap(NULL, (size_t)page * 3, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kevent_ctl_args *a = (void *)buf;
	struct kevent_wait_args *w = (void *)buf;
	struct kevent_setup *s = (void *)buf;
	struct kq q;
	int r, fd;

	CHECK(buf != MAP_FAILED, "mmap");
	CHECK(kq_open(&q, 8) == 0, "open");
	memset(buf, 0, (size_t)page * 3);
	a->size = (uint32_t)page + 64;		/* zeros after the struct */
	r = ioctl(q.fd, KEVENT_IOC_CTL, a);
	CHECK(r < 0 && errno == E2BIG, "ctl size page + 64: %d", r);
	a->size = 0xffffffffu;
	r = ioctl(q.fd, KEVENT_IOC_CTL, a);
	CHECK(r < 0 && errno == E2BIG, "ctl size 4 GiB: %d", r);
	a->size = (uint32_t)page;		/* a page of zeros is fine */
	CHECK(ioctl(q.fd, KEVENT_IOC_CTL, a) == 0, "ctl size page");
	a->size = sizeof(*a) - 8;
	r = ioctl(q.fd, KEVENT_IOC_CTL, a);
	CHECK(r < 0 && errno == EINVAL, "ctl size too small: %d", r);
	a->size = 0;
	r = ioctl(q.fd, KEVENT_IOC_CTL, a);
	CHECK(r < 0 && errno == EINVAL, "ctl size 0: %d", r);
	memset(buf, 0, (size_t)page * 3);
	w->size = 0x80000000u;
	r = ioctl(q.fd, KEVENT_IOC_WAIT, w);
	CHECK(r < 0 && errno == E2BIG, "wait size 2 GiB: %d", r);
	w->size = sizeof(*w) - 8;
	r = ioctl(q.fd, KEVENT_IOC_WAIT, w);
	CHECK(r < 0 && errno == EINVAL, "wait size too small: %d", r);
	fd = open("/dev/kevent", O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0, "open");
	memset(buf, 0, (size_t)page * 3);
	s->size = (uint32_t)page * 2;
	r = ioctl(fd, KEVENT_IOC_SETUP, s);
	CHECK(r < 0 && errno == E2BIG, "setup size 2 pages: %d", r);
	s->size = sizeof(*s) - 8;
	r = ioctl(fd, KEVENT_IOC_SETUP, s);
	CHECK(r < 0 && errno == EINVAL, "setup size too small: %d", r);
	s->size = sizeof(*s);
	CHECK(ioctl(fd, KEVENT_IOC_SETUP, s) == 0, "setup");
	close(fd);
	kq_close(&q);
	munmap(buf, (size_t)page * 3);
	return 0;
}

/*
 * A KEVENT_IOC_CTL whose entries sit in a page that faults forever (an
 * unresolved userfaultfd page) must not hold the queue: other threads'
 * ctl and wait calls on it go on.
 */
struct uffd_call {
	pthread_t th;
	int fd;
	struct ukevent *ev;
	int ret;
	int done;
};

static void *uffd_call_fn(void *arg)
{
	struct uffd_call *c = arg;

	c->ret = kq_ctl(c->fd, KEVENT_CTL_READY, 1, c->ev);
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int wait_flag(const int *flag, int64_t ns)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC);

	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
		if (now_ns(CLOCK_MONOTONIC) - t0 > ns)
			return -1;
		usleep(1000);
	}
	return 0;
}

static int i11_ctl_fault_no_mutex(void)
{
	long page = sysconf(_SC_PAGESIZE);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { 0 };
	struct uffdio_zeropage zp = { 0 };
	struct uffd_msg msg;
	struct uffd_call stuck = { 0 }, other = { 0 };
	struct ukevent good = mk(KEVENT_USER, 1, 0, 0, 0);
	struct pollfd pf;
	struct kq q;
	void *region;
	int uffd, other_went_on, waited;

	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		SKIP("userfaultfd is not available on this kernel");
	CHECK(ioctl(uffd, UFFDIO_API, &api) == 0, "UFFDIO_API");
	region = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(region != MAP_FAILED, "mmap");
	reg.range.start = (uint64_t)(uintptr_t)region;
	reg.range.len = (uint64_t)page;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	CHECK(ioctl(uffd, UFFDIO_REGISTER, &reg) == 0, "UFFDIO_REGISTER");
	CHECK(kq_open(&q, 8) == 0, "open");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, good) == 0, "add");
	stuck.fd = q.fd;
	stuck.ev = region;
	pthread_create(&stuck.th, NULL, uffd_call_fn, &stuck);
	/* the fault is reported: that thread is inside the copy */
	pf.fd = uffd;
	pf.events = POLLIN;
	CHECK(poll(&pf, 1, (int)(HANG_NS / 1000000)) == 1 &&
	      read(uffd, &msg, sizeof(msg)) == sizeof(msg) &&
	      msg.event == UFFD_EVENT_PAGEFAULT, "no fault reported");
	other.fd = q.fd;
	other.ev = &good;
	pthread_create(&other.th, NULL, uffd_call_fn, &other);
	other_went_on = wait_flag(&other.done, HANG_NS / 3) == 0;
	waited = other_went_on ? kq_wait(q.fd, 1, 0) : -2;
	/* let the stuck thread go: a page of zeros (entry: POLL of fd 0) */
	zp.range.start = (uint64_t)(uintptr_t)region;
	zp.range.len = (uint64_t)page;
	CHECK(ioctl(uffd, UFFDIO_ZEROPAGE, &zp) == 0, "UFFDIO_ZEROPAGE");
	pthread_join(stuck.th, NULL);
	pthread_join(other.th, NULL);
	CHECK(other_went_on, "a ctl waited behind one stuck in a page fault");
	CHECK(other.ret == 1 && waited == 1, "ctl %d, wait %d", other.ret,
	      waited);
	CHECK(stuck.ret == 0, "the zero entry: %d", stuck.ret);
	kq_close(&q);
	close(uffd);
	munmap(region, (size_t)page);
	return 0;
}

/* Results that cannot be written: nothing applied, or the count applied. */
static int i11_efault_not_applied(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t per = (size_t)page / sizeof(struct ukevent);
	char *buf = mmap(NULL, (size_t)page * 4, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct ukevent *ev = (struct ukevent *)buf;
	struct kq q;
	size_t i, n;
	int r;

	CHECK(buf != MAP_FAILED, "mmap");
	CHECK(kq_open(&q, 8) == 0, "open");
	/* one entry in a read-only page */
	ev[0] = mk(KEVENT_USER, 7, 0, 0, 0);
	CHECK(mprotect(buf, (size_t)page, PROT_READ) == 0, "mprotect");
	r = kq_ctl(q.fd, KEVENT_CTL_ADD, 1, ev);
	CHECK(r < 0 && errno == EFAULT, "read-only entries: %d", r);
	r = ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 7, 0, 0, 0));
	CHECK(r == 0, "the entry was applied despite EFAULT: %d", r);
	/*
	 * 3 pages of entries, the last page read-only: the return value is
	 * how many were applied, and no entry after them was.
	 */
	CHECK(mprotect(buf, (size_t)page * 4, PROT_READ | PROT_WRITE) == 0,
	      "mprotect");
	n = per * 3;
	for (i = 0; i < n; i++)
		ev[i] = mk(KEVENT_USER, 100 + i, 0, 0, 0);
	CHECK(mprotect(buf + page * 2, (size_t)page, PROT_READ) == 0,
	      "mprotect");
	r = kq_ctl(q.fd, KEVENT_CTL_ADD, (unsigned int)n, ev);
	CHECK(r >= 0 ? (size_t)r < n : errno == EFAULT, "ctl: %d", r);
	if (r < 0)
		r = 0;
	for (i = 0; i < n; i++) {
		int e = ctl1(q.fd, KEVENT_CTL_REMOVE, mk(KEVENT_USER, 100 + i,
			     0, 0, 0));

		CHECK(i < (size_t)r ? e == 0 : e == ENOENT,
		      "entry %zu of %zu (returned %d): remove gives %d", i, n,
		      r, e);
	}
	kq_close(&q);
	munmap(buf, (size_t)page * 4);
	return 0;
}

/* KEVENT_IOC_WAKE by another process sharing the file breaks nothing */
struct wake_helper {
	pthread_t th;
	pid_t tid;
	int entering;
	int fd;
	int asleep, child_status;
};

static void *wake_helper_fn(void *arg)
{
	struct wake_helper *h = arg;
	struct ukevent e = mk(KEVENT_USER, 1, 0, 0, 0);
	pid_t pid;

	h->asleep = wait_asleep(h->tid, &h->entering) == 0;
	pid = fork();
	if (pid == 0) {
		ioctl(h->fd, KEVENT_IOC_WAKE);
		_exit(0);
	}
	waitpid(pid, &h->child_status, 0);
	kq_ctl(h->fd, KEVENT_CTL_READY, 1, &e);
	return NULL;
}

static int i11_wake_shared(void)
{
	struct wake_helper h = { 0 };
	struct kq q;
	int status, r;
	pid_t pid;

	CHECK(kq_open(&q, 8) == 0, "open");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_USER, 1, 0, 0, 0)) == 0,
	      "add");
	/* a child sharing the file wakes it, then exits */
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		ioctl(q.fd, KEVENT_IOC_WAKE);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	r = kq_wait(q.fd, 1, 0);
	CHECK(r == 0, "WAIT after another process's WAKE: %d", r);
	/* ... and while we sleep: we go on sleeping until an event */
	h.fd = q.fd;
	h.tid = gettid_();
	pthread_create(&h.th, NULL, wake_helper_fn, &h);
	__atomic_store_n(&h.entering, 1, __ATOMIC_RELEASE);
	r = kq_wait(q.fd, 1, HANG_NS);
	pthread_join(h.th, NULL);
	CHECK(h.asleep, "the waiter was never seen asleep");
	CHECK(r == 1, "the sleeper woken by another process's WAKE: %d", r);
	kevent_ring_advance(q.ring, 1);
	/* our own WAKE still ends our waits (kevent_close relies on it) */
	CHECK(ioctl(q.fd, KEVENT_IOC_WAKE) == 0, "WAKE");
	r = kq_wait(q.fd, 1, 0);
	CHECK(r < 0 && errno == EBADF, "WAIT after our WAKE: %d", r);
	kq_close(&q);
	return 0;
}

/* WAIT honours its timeout while signals keep the queue busy */
struct storm {
	pthread_t th;
	int stop, guard_hit;
	long sent;
};

static void *storm_fn(void *arg)
{
	struct storm *s = arg;
	int64_t t0 = now_ns(CLOCK_MONOTONIC);

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		if (now_ns(CLOCK_MONOTONIC) - t0 > HANG_NS / 3) {
			__atomic_store_n(&s->guard_hit, 1, __ATOMIC_RELEASE);
			break;
		}
		kill(getpid(), SIGUSR1);
		__atomic_add_fetch(&s->sent, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static int i11_wait_signal_storm(void)
{
	struct storm s = { 0 };
	long long hits;
	sigset_t set;
	struct kq q;
	int r, storming;
	int64_t t0;

	/*
	 * The race: a signal arriving between WAIT's evaluation of the
	 * queue's pending work and its next look at it.  The window after
	 * each evaluation is widened to 10 ms, so the storm always lands in
	 * it, and each round of evaluation takes at least 10 ms: a WAIT that
	 * honours its 50 ms timeout makes at most 6 rounds, however slow or
	 * fast the machine.  (The module as it was made hundreds, and
	 * returned only when a round happened to find no signal.)
	 */
	if (!param_exists("test_window"))
		SKIP("the module is not a test build (KEVENT_TESTING=y)");
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0, "block");
	CHECK(kq_open(&q, 8) == 0, "open");
	/* registered and disabled: every signal is taken, none published */
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_SIGNAL, SIGUSR1, 0, 0, 0)) ==
	      0, "add signal");
	CHECK(ctl1(q.fd, KEVENT_CTL_DISABLE, mk(KEVENT_SIGNAL, SIGUSR1, 0, 0,
		0)) == 0, "disable");
	pthread_create(&s.th, NULL, storm_fn, &s);
	while (__atomic_load_n(&s.sent, __ATOMIC_RELAXED) < 1000 &&
	       !__atomic_load_n(&s.guard_hit, __ATOMIC_ACQUIRE))
		sched_yield();
	param_set("test_window_ms", 10);
	hits = param_get("test_window_hits");
	param_set("test_window", 4);		/* KEVENT_SITE_WAIT_CHECKS */
	t0 = now_ns(CLOCK_MONOTONIC);
	r = kq_wait(q.fd, 1, 50000000);		/* 50 ms */
	t0 = now_ns(CLOCK_MONOTONIC) - t0;
	param_set("test_window", 0);
	hits = param_get("test_window_hits") - hits;
	printf("# storm: wait returned %d after %lld ms, %ld signals sent, "
	       "%lld rounds\n", r, (long long)(t0 / 1000000),
	       __atomic_load_n(&s.sent, __ATOMIC_RELAXED), hits);
	storming = !__atomic_load_n(&s.guard_hit, __ATOMIC_ACQUIRE);
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	pthread_join(s.th, NULL);
	CHECK(storming, "WAIT with a 50 ms timeout outlasted %ld signals "
	      "(it returned %d only when they stopped)", s.sent, r);
	CHECK(hits <= 6, "WAIT with a 50 ms timeout made %lld rounds of "
	      "10 ms", hits);
	CHECK(r == 0, "wait: %d", r);
	kq_close(&q);
	return 0;
}

/*
 * Signal registrations belong to one process: a process sharing the queue
 * can neither add them nor have its own signals taken by its WAIT.
 */
static int i11_signal_owner(void)
{
	sigset_t set;
	struct kq q;
	int status, r;
	pid_t pid;
	struct ukevent out;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "block");
	CHECK(kq_open(&q, 8) == 0, "open");
	CHECK(ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_SIGNAL, SIGUSR1, 0, 0, 0)) ==
	      0, "add signal");
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		sigset_t pend;

		r = ctl1(q.fd, KEVENT_CTL_ADD, mk(KEVENT_SIGNAL, SIGUSR2, 0, 0,
			 0));
		if (r != EINVAL) {
			printf("a signal added by another process: %d\n", r);
			_exit(1);
		}
		kill(getpid(), SIGUSR1);
		kq_wait(q.fd, 1, 0);
		sigpending(&pend);
		if (!sigismember(&pend, SIGUSR1)) {
			printf("the child's WAIT took the child's signal\n");
			_exit(2);
		}
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %#x",
	      status);
	r = kq_wait(q.fd, 1, 0);
	CHECK(r == 0, "an event in the owner's ring from the child: %d", r);
	/* the owner's own signals still arrive */
	kill(getpid(), SIGUSR1);
	CHECK(kq_wait(q.fd, 1, HANG_NS) == 1, "owner's signal");
	CHECK(kevent_ring_consume(q.ring, &out) && out.type == KEVENT_SIGNAL &&
	      out.id == SIGUSR1 && out.ret_data == 1, "signal entry");
	kq_close(&q);
	return 0;
}

/*
 * KEVENT_IOC_SETOPT and KEVENT_IOC_GETOPT with hostile arguments: sizes,
 * reserved fields, options and values out of range, unmapped pointers, a
 * change under a live timer, and a queue that was never set up.  Every
 * one is refused with the documented errno and changes nothing.
 */
static int i11_options(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *buf = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kevent_opt_args *o = (void *)buf, g;
	struct ukevent t;
	struct kq q;
	int r, fd;

	CHECK(buf != MAP_FAILED, "mmap");
	CHECK(kq_open(&q, 8) == 0, "open");
	memset(buf, 0, (size_t)page * 2);
	o->size = sizeof(*o);
	o->opt = KEVENT_OPT_TIMER_SLACK;
	o->value = 1234;
	CHECK(ioctl(q.fd, KEVENT_IOC_SETOPT, o) == 0, "setopt");
	o->size = (uint32_t)page + 8;
	r = ioctl(q.fd, KEVENT_IOC_SETOPT, o);
	CHECK(r < 0 && errno == E2BIG, "size page + 8: %d", r);
	o->size = sizeof(*o) - 8;
	r = ioctl(q.fd, KEVENT_IOC_SETOPT, o);
	CHECK(r < 0 && errno == EINVAL, "size too small: %d", r);
	o->size = sizeof(*o);
	o->__reserved[1] = 1;
	r = ioctl(q.fd, KEVENT_IOC_SETOPT, o);
	CHECK(r < 0 && errno == EINVAL, "reserved: %d", r);
	o->__reserved[1] = 0;
	o->size = sizeof(*o) + 8;	/* a byte past the struct not zero */
	buf[sizeof(*o)] = 1;
	r = ioctl(q.fd, KEVENT_IOC_SETOPT, o);
	CHECK(r < 0 && errno == E2BIG, "tail not zero: %d", r);
	buf[sizeof(*o)] = 0;
	o->size = sizeof(*o);
	o->value = KEVENT_TIMER_SLACK_MAX + 1;
	r = ioctl(q.fd, KEVENT_IOC_SETOPT, o);
	CHECK(r < 0 && errno == EINVAL, "value too large: %d", r);
	o->value = 0;
	o->opt = 0;
	r = ioctl(q.fd, KEVENT_IOC_SETOPT, o);
	CHECK(r < 0 && errno == EINVAL, "opt 0: %d", r);
	o->opt = 0xffffffffu;
	r = ioctl(q.fd, KEVENT_IOC_GETOPT, o);
	CHECK(r < 0 && errno == EINVAL, "getopt of opt ~0: %d", r);
	r = ioctl(q.fd, KEVENT_IOC_GETOPT, (void *)8);
	CHECK(r < 0 && errno == EFAULT, "unmapped: %d", r);
	/* a GETOPT whose answer cannot be written: EFAULT, nothing else */
	o->opt = KEVENT_OPT_TIMER_SLACK;
	CHECK(mprotect(buf, (size_t)page, PROT_READ) == 0, "mprotect");
	r = ioctl(q.fd, KEVENT_IOC_GETOPT, o);
	CHECK(r < 0 && errno == EFAULT, "read-only answer: %d", r);
	CHECK(mprotect(buf, (size_t)page, PROT_READ | PROT_WRITE) == 0, "rw");
	o->opt = KEVENT_OPT_PRIO_BOUND;
	CHECK(mprotect(buf, (size_t)page, PROT_READ) == 0, "mprotect");
	r = ioctl(q.fd, KEVENT_IOC_GETOPT, o);
	CHECK(r < 0 && errno == EFAULT, "read-only answer (bound): %d", r);
	CHECK(mprotect(buf, (size_t)page, PROT_READ | PROT_WRITE) == 0, "rw");
	o->opt = KEVENT_OPT_STATS;
	CHECK(mprotect(buf, (size_t)page, PROT_READ) == 0, "mprotect");
	r = ioctl(q.fd, KEVENT_IOC_GETOPT, o);
	CHECK(r < 0 && errno == EFAULT, "read-only answer (stats): %d", r);
	CHECK(mprotect(buf, (size_t)page, PROT_READ | PROT_WRITE) == 0, "rw");
	o->opt = KEVENT_OPT_TIMER_SLACK;
	memset(&g, 0, sizeof(g));
	g.size = sizeof(g);
	g.opt = KEVENT_OPT_TIMER_SLACK;
	CHECK(ioctl(q.fd, KEVENT_IOC_GETOPT, &g) == 0 && g.value == 1234,
	      "unchanged by every refusal: %llu", (unsigned long long)g.value);
	/* under a live timer: EBUSY, and the timer still fires */
	memset(&t, 0, sizeof(t));
	t.type = KEVENT_TIMER;
	t.id = 1;
	t.req_flags = KEVENT_REQ_ONESHOT;
	t.data = 1000000;
	CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, 1, &t) == 1, "timer");
	o->value = 0;
	r = ioctl(q.fd, KEVENT_IOC_SETOPT, o);
	CHECK(r < 0 && errno == EBUSY, "under a timer: %d", r);
	CHECK(drain(&q) >= 0, "drain");
	/* a queue never set up: options work, there is nothing to break */
	fd = open("/dev/kevent", O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0, "open");
	CHECK(ioctl(fd, KEVENT_IOC_SETOPT, o) == 0, "setopt before setup");
	close(fd);
	kq_close(&q);
	munmap(buf, (size_t)page * 2);
	return 0;
}

/*
 * ---- priorities (issue 20): levels changed under a storm of READY, the
 * bound flapping, ready lists torn down full
 */

enum { PS_REGS = 16, PS_ROUNDS = 20000 };

struct prio_storm {
	struct kq q;
	int stop;		/* the producer is done */
	int stop_all;		/* the others stop */
	int64_t sent[PS_REGS];
	int bad;		/* a wrong answer of a helper thread */
	char what[128];
};

static uint32_t prio_rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

static int opt_bound_set(int fd, uint64_t value)
{
	struct kevent_opt_args a = {
		.size = sizeof(a), .opt = KEVENT_OPT_PRIO_BOUND, .value = value,
	};

	return ioctl(fd, KEVENT_IOC_SETOPT, &a);
}

static void prio_bad(struct prio_storm *ps, const char *what, int e)
{
	if (__atomic_exchange_n(&ps->bad, 1, __ATOMIC_RELAXED))
		return;
	snprintf(ps->what, sizeof(ps->what), "%s (errno %d)", what, e);
}

/* READY of every registration, a batch at a time, counting what took. */
static void *prio_producer(void *arg)
{
	struct prio_storm *ps = arg;
	struct ukevent b[PS_REGS];
	int round, i;

	for (round = 0; round < PS_ROUNDS; round++) {
		for (i = 0; i < PS_REGS; i++)
			b[i] = mk(KEVENT_USER, (uint64_t)i, 0, 0, 0);
		if (kq_ctl(ps->q.fd, KEVENT_CTL_READY, PS_REGS, b) !=
		    PS_REGS) {
			prio_bad(ps, "READY refused", errno);
			break;
		}
		for (i = 0; i < PS_REGS; i++)
			ps->sent[i]++;
	}
	__atomic_store_n(&ps->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* MODIFY to random levels, some refused; DISABLE and ENABLE. */
static void *prio_modifier(void *arg)
{
	struct prio_storm *ps = arg;
	uint64_t s = 0x9e3779b97f4a7c15ULL;

	while (!__atomic_load_n(&ps->stop_all, __ATOMIC_ACQUIRE)) {
		uint32_t r = prio_rnd(&s);
		struct ukevent e = mk(KEVENT_USER, r % PS_REGS, 0, 0, 0);
		int want = 0, got;

		switch ((r >> 8) % 8) {
		case 0:
			e.prio = KEVENT_PRIO_MAX + 1 + (r >> 16);
			want = EINVAL;
			break;
		case 1:
			e.prio = (r >> 16) % KEVENT_PRIO_LEVELS;
			if (r & 0x10000000)
				e.__reserved0 = r | 1;
			else
				e.__reserved0 = 1u << (r >> 27);
			want = EINVAL;
			break;
		case 2:
		case 3:
			/* disabled for a moment: the consumer waits for it */
			if ((r >> 8) % 8 == 2) {
				got = ctl1(ps->q.fd, KEVENT_CTL_DISABLE, e);
				if (got)
					prio_bad(ps, "DISABLE", got);
			}
			got = ctl1(ps->q.fd, KEVENT_CTL_ENABLE, e);
			if (got)
				prio_bad(ps, "ENABLE", got);
			continue;
		default:
			e.prio = (r >> 16) % KEVENT_PRIO_LEVELS;
			break;
		}
		got = ctl1(ps->q.fd, KEVENT_CTL_MODIFY, e);
		if (got != want)
			prio_bad(ps, "MODIFY answered wrong", got);
	}
	return NULL;
}

/* The bound set and read back, in range and out of it. */
static void *prio_flapper(void *arg)
{
	static const uint64_t values[] = {
		1, 2, 3, 64, KEVENT_PRIO_BOUND_MAX, 0,
		KEVENT_PRIO_BOUND_MAX + 1, ~0ULL,
	};
	struct prio_storm *ps = arg;
	uint64_t s = 0x2545f4914f6cdd1dULL;

	while (!__atomic_load_n(&ps->stop_all, __ATOMIC_ACQUIRE)) {
		uint64_t v = values[prio_rnd(&s) % 8];
		struct kevent_opt_args a = {
			.size = sizeof(a), .opt = KEVENT_OPT_PRIO_BOUND,
			.value = v,
		};
		int r = ioctl(ps->q.fd, KEVENT_IOC_SETOPT, &a);

		if (v && v <= KEVENT_PRIO_BOUND_MAX ? r != 0 :
		    r == 0 || errno != EINVAL)
			prio_bad(ps, "SETOPT answered wrong", r ? errno : 0);
		a.value = 0;
		if (ioctl(ps->q.fd, KEVENT_IOC_GETOPT, &a) != 0 || !a.value ||
		    a.value > KEVENT_PRIO_BOUND_MAX)
			prio_bad(ps, "GETOPT answered wrong", errno);
		sched_yield();
	}
	return NULL;
}

/* Consume the ring, adding up the firings; -1 on a wrong entry. */
static int prio_take(struct prio_storm *ps, int64_t *got)
{
	struct ukevent out;

	while (kevent_ring_consume(ps->q.ring, &out)) {
		if (out.type != KEVENT_USER || out.id >= PS_REGS ||
		    out.prio > KEVENT_PRIO_MAX || out.__reserved0 ||
		    out.stamp || !out.ret_data) {
			prio_bad(ps, "a wrong entry", 0);
			return -1;
		}
		got[out.id] += (int64_t)out.ret_data;
	}
	return 0;
}

/*
 * Three threads at one queue: READY of 16 registrations, MODIFY of their
 * levels (and refused MODIFYs, DISABLE, ENABLE), the bound set to values
 * in and out of range; this one consumes a small ring.  Every firing comes
 * out exactly once, every entry has a valid level and zero reserved words.
 */
static int prio_storm_body(void)
{
	static struct prio_storm ps;
	pthread_t th[3];
	int64_t got[PS_REGS] = { 0 }, t0;
	int seen[PS_REGS] = { 0 }, level[PS_REGS];
	uint64_t s = 0x853c49e6748fea9bULL;
	uint32_t last = KEVENT_PRIO_MAX;
	struct ukevent out;
	int i, n;

	memset(&ps, 0, sizeof(ps));
	for (i = 0; i < PS_REGS; i++)
		level[i] = -1;
	CHECK(kq_open(&ps.q, 8) == 0, "open");
	for (i = 0; i < PS_REGS; i++) {
		struct ukevent e = mk(KEVENT_USER, (uint64_t)i, 0, 0, 0);

		e.prio = (uint32_t)i % KEVENT_PRIO_LEVELS;
		CHECK(ctl1(ps.q.fd, KEVENT_CTL_ADD, e) == 0, "add %d", i);
	}
	pthread_create(&th[0], NULL, prio_producer, &ps);
	pthread_create(&th[1], NULL, prio_modifier, &ps);
	pthread_create(&th[2], NULL, prio_flapper, &ps);
	t0 = now_ns(CLOCK_MONOTONIC);
	while (!ps.bad && !__atomic_load_n(&ps.stop, __ATOMIC_ACQUIRE)) {
		CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 3 * HANG_NS,
		      "the producer hangs");
		if (kq_wait(ps.q.fd, 1, 1000000) < 0 && errno != EINTR)
			prio_bad(&ps, "wait", errno);
		if (prio_take(&ps, got))
			break;
	}
	__atomic_store_n(&ps.stop_all, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CHECK(!ps.bad, "%s", ps.what);
	/* alone now: the next waits publish what is left, everything */
	while ((n = kq_wait(ps.q.fd, 1, 0)) > 0)
		CHECK(!prio_take(&ps, got), "%s", ps.what);
	CHECK(n == 0, "wait: %d", n);
	for (i = 0; i < PS_REGS; i++)
		CHECK(got[i] == ps.sent[i],
		      "registration %d: %lld firings, %lld sent", i,
		      (long long)got[i], (long long)ps.sent[i]);
	/*
	 * Alone: the ring full, the other half ready, their levels changed at
	 * random.  Each comes out once, with the level it was given last, the
	 * highest first (strictly: the bound at its maximum).
	 */
	CHECK(opt_bound_set(ps.q.fd, KEVENT_PRIO_BOUND_MAX) == 0, "bound");
	for (i = 0; i < PS_REGS; i++)
		CHECK(ctl1(ps.q.fd, KEVENT_CTL_READY, mk(KEVENT_USER,
			(uint64_t)i, 0, 0, 0)) == 0, "ready");
	CHECK(kevent_ring_count(ps.q.ring) == 8, "count %u",
	      kevent_ring_count(ps.q.ring));
	for (i = 0; i < 256; i++) {
		uint32_t r = prio_rnd(&s);
		struct ukevent e = mk(KEVENT_USER, r % PS_REGS, 0, 0, 0);

		e.prio = (r >> 8) % KEVENT_PRIO_LEVELS;
		CHECK(ctl1(ps.q.fd, KEVENT_CTL_MODIFY, e) == 0, "modify");
		level[e.id] = (int)e.prio;
	}
	for (n = 0; n < PS_REGS;) {
		CHECK(kq_wait(ps.q.fd, 1, 0) >= 1, "%d of %d published", n,
		      PS_REGS);
		while (kevent_ring_consume(ps.q.ring, &out)) {
			CHECK(out.id < PS_REGS && !seen[out.id] &&
			      out.ret_data == 1, "entry %llu",
			      (unsigned long long)out.id);
			seen[out.id] = 1;
			/* the first 8 were in the ring before the MODIFYs */
			if (n++ < 8)
				continue;
			CHECK(level[out.id] < 0 ||
			      out.prio == (uint32_t)level[out.id],
			      "entry %llu: prio %u, MODIFY gave %d",
			      (unsigned long long)out.id, out.prio,
			      level[out.id]);
			CHECK(out.prio <= last, "level %u after %u", out.prio,
			      last);
			last = out.prio;
		}
	}
	CHECK(kq_wait(ps.q.fd, 1, 0) == 0, "entries left");
	kq_close(&ps.q);
	return 0;
}

/* as nobody */
static int prio_modify_storm(void)
{
	return as_nobody(prio_storm_body);
}

/*
 * Queues closed, and registrations removed, while every level of the ready
 * lists is long: nothing is left on a list of a freed queue (KASAN, list
 * debugging), nothing leaks (the guest's no_leaks).
 */
static int prio_teardown(void)
{
	enum { N = 512 };
	static struct ukevent b[N];
	uint64_t s = 0xdeadbeefcafef00dULL;
	int round, i;

	for (round = 0; round < 8; round++) {
		struct kq q;

		CHECK(kq_open(&q, 4) == 0, "open");
		for (i = 0; i < N; i++) {
			b[i] = mk(KEVENT_USER, (uint64_t)i, 0, 0, 0);
			b[i].prio = prio_rnd(&s) % KEVENT_PRIO_LEVELS;
		}
		CHECK(kq_ctl(q.fd, KEVENT_CTL_ADD, N, b) == N, "add");
		CHECK(kq_ctl(q.fd, KEVENT_CTL_READY, N, b) == N, "ready");
		/* ready ones removed and moved between levels */
		for (i = 0; i < N; i++) {
			uint32_t r = prio_rnd(&s);

			if (r % 3 == 0) {
				CHECK(ctl1(q.fd, KEVENT_CTL_REMOVE, b[i]) == 0,
				      "remove %d", i);
			} else if (r % 3 == 1) {
				b[i].prio = (r >> 8) % KEVENT_PRIO_LEVELS;
				CHECK(ctl1(q.fd, KEVENT_CTL_MODIFY, b[i]) == 0,
				      "modify %d", i);
			}
		}
		CHECK(opt_bound_set(q.fd, 1 + (uint64_t)round) == 0, "bound");
		/* consume a little, then close with the lists full */
		for (i = 0; i < round; i++) {
			kevent_ring_advance(q.ring, kevent_ring_count(q.ring));
			CHECK(kq_wait(q.fd, 1, 0) >= 1, "wait");
		}
		kq_close(&q);
	}
	return 0;
}

/*
 * ---- statistics (issue 20, part 2): user space owns every byte of the
 * mapping, stats_offset, flags, the histograms and the counters included.
 * The module only adds to its counters and histogram, at the place it
 * chose itself, and never reads an address or a switch from the mapping.
 */

static int opt_stats_set(int fd, uint64_t value)
{
	struct kevent_opt_args a = {
		.size = sizeof(a), .opt = KEVENT_OPT_STATS, .value = value,
	};

	return ioctl(fd, KEVENT_IOC_SETOPT, &a);
}

struct stats_storm {
	struct prio_storm ps;	/* its producer, stop flags and errors */
	int efd;
	int64_t t0;		/* before the first entry */
};

/* Garbage: the extremes, and any value. */
static uint64_t stats_garbage(uint64_t *s)
{
	static const uint64_t v[] = {
		0, 1, ~0ULL, 1ULL << 63, 0xfffffff8, 0x7fffffff, 4096,
	};
	uint32_t r = prio_rnd(s);

	return r % 2 ? v[(r >> 1) % 7] :
	       (uint64_t)prio_rnd(s) << 32 | prio_rnd(s);
}

static void *stats_scribbler(void *arg)
{
	struct stats_storm *ss = arg;
	struct kevent_ring *r = ss->ps.q.ring;
	struct kevent_stats *st = (void *)((char *)r + KEVENT_RING_BYTES(8));
	__u64 *c[] = {
		&r->published, &r->deferred, &r->coalesced, &r->waits,
		&r->sleeps, &r->__pad1[0], &r->__pad1[1], &r->__reserved[7],
	};
	uint64_t s = 0x243f6a8885a308d3ULL;

	while (!__atomic_load_n(&ss->ps.stop_all, __ATOMIC_ACQUIRE)) {
		uint32_t x = prio_rnd(&s);
		uint64_t v = stats_garbage(&s);

		switch (x % 7) {
		case 0:
			__atomic_store_n(&r->stats_offset, (uint32_t)v,
					 __ATOMIC_RELAXED);
			break;
		case 1:
			__atomic_store_n(&r->flags, (uint32_t)v,
					 __ATOMIC_RELAXED);
			break;
		case 2:
			__atomic_store_n(&st->fire_to_publish[(x >> 8) %
				KEVENT_STATS_BUCKETS], v, __ATOMIC_RELAXED);
			break;
		case 3:
			__atomic_store_n(&st->publish_to_consume[(x >> 8) %
				KEVENT_STATS_BUCKETS], v, __ATOMIC_RELAXED);
			break;
		case 4:
			__atomic_store_n(c[(x >> 8) % 8], v, __ATOMIC_RELAXED);
			break;
		case 5:
			memset(st, (int)(x >> 8), sizeof(*st));
			break;
		default:
			__atomic_store_n(&r->__pad3[(x >> 8) % 9], (uint32_t)v,
					 __ATOMIC_RELAXED);
			break;
		}
		if (!(x & 0xff00000))
			sched_yield();
	}
	return NULL;
}

/* The option on and off, and refused values; GETOPT says 0 or 1. */
static void *stats_toggler(void *arg)
{
	static const uint64_t values[] = { 0, 1, 1, 0, 2, ~0ULL, 1ULL << 32 };
	struct stats_storm *ss = arg;
	uint64_t s = 0x13198a2e03707344ULL;

	while (!__atomic_load_n(&ss->ps.stop_all, __ATOMIC_ACQUIRE)) {
		uint64_t v = values[prio_rnd(&s) % 7];
		struct kevent_opt_args a = {
			.size = sizeof(a), .opt = KEVENT_OPT_STATS, .value = v,
		};
		int r = ioctl(ss->ps.q.fd, KEVENT_IOC_SETOPT, &a);

		if (v <= 1 ? r != 0 : r == 0 || errno != EINVAL)
			prio_bad(&ss->ps, "SETOPT of the statistics",
				 r ? errno : 0);
		a.value = 7;
		if (ioctl(ss->ps.q.fd, KEVENT_IOC_GETOPT, &a) != 0 ||
		    a.value > 1)
			prio_bad(&ss->ps, "GETOPT of the statistics", errno);
		usleep(prio_rnd(&s) % 200);
	}
	return NULL;
}

/* Wake-ups with a key: entries published from the eventfd's callback. */
static void *stats_writer(void *arg)
{
	struct stats_storm *ss = arg;
	uint64_t one = 1;
	int i;

	for (i = 0; !__atomic_load_n(&ss->ps.stop_all, __ATOMIC_ACQUIRE); i++) {
		if (write(ss->efd, &one, sizeof(one)) != sizeof(one) &&
		    errno != EAGAIN)
			prio_bad(&ss->ps, "eventfd write", errno);
		if (i % 16 == 0)
			usleep(50);
	}
	return NULL;
}

/*
 * Consume without the inline functions of <kevent.h>, which trust flags
 * and stats_offset (the consumer's own to keep, scribbled here), with the
 * size the ring was given.  USER firings are added up; every stamp is 0 or
 * a time between the start and now.
 */
static int stats_take(struct stats_storm *ss, int64_t *got, int *nstamped)
{
	struct kevent_ring *r = ss->ps.q.ring;
	const struct ukevent *e = (const void *)((char *)r +
						 KEVENT_RING_ENTRIES_OFFSET);
	uint32_t k = __atomic_load_n(&r->kidx, __ATOMIC_ACQUIRE);
	uint32_t u = r->uidx;
	int64_t now = now_ns(CLOCK_MONOTONIC);

	CHECK(k - u <= 8, "kidx %u uidx %u", k, u);
	for (; u != k; u++) {
		const struct ukevent *x = &e[u & 7];

		CHECK(!x->stamp || ((int64_t)x->stamp >= ss->t0 &&
				    (int64_t)x->stamp <= now),
		      "stamp %llu not in [%lld, %lld]",
		      (unsigned long long)x->stamp, (long long)ss->t0,
		      (long long)now);
		if (x->stamp && nstamped)
			(*nstamped)++;
		if (x->type == KEVENT_USER) {
			CHECK(x->id < PS_REGS && x->ret_data, "entry %llu",
			      (unsigned long long)x->id);
			if (got)
				got[x->id] += (int64_t)x->ret_data;
		} else {
			CHECK(x->type == KEVENT_TIMER || x->type == KEVENT_POLL,
			      "entry of type %u", x->type);
		}
	}
	__atomic_store_n(&r->uidx, u, __ATOMIC_RELEASE);
	return 0;
}

static int stats_scribble_body(void)
{
	static struct stats_storm ss;
	struct kevent_stats *st, snap;
	struct ukevent b[3];
	int64_t got[PS_REGS] = { 0 }, t0;
	int i, n, stamped = 0;
	pthread_t th[4];
	struct kq *q = &ss.ps.q;

	memset(&ss, 0, sizeof(ss));
	CHECK(kq_open(q, 8) == 0, "open");
	st = (void *)((char *)q->ring + KEVENT_RING_BYTES(8));
	ss.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(ss.efd >= 0, "eventfd");
	for (i = 0; i < PS_REGS; i++)
		CHECK(ctl1(q->fd, KEVENT_CTL_ADD, mk(KEVENT_USER, (uint64_t)i,
			0, 0, 0)) == 0, "add %d", i);
	CHECK(ctl1(q->fd, KEVENT_CTL_ADD, mk(KEVENT_TIMER, 1, 0, 0, 50000)) ==
	      0, "timer");
	CHECK(ctl1(q->fd, KEVENT_CTL_ADD, mk(KEVENT_POLL, (unsigned)ss.efd,
		KEVENT_POLL_IN, KEVENT_REQ_ET, 0)) == 0, "eventfd");
	ss.t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(opt_stats_set(q->fd, 1) == 0, "on");
	pthread_create(&th[0], NULL, prio_producer, &ss.ps);
	pthread_create(&th[1], NULL, stats_scribbler, &ss);
	pthread_create(&th[2], NULL, stats_toggler, &ss);
	pthread_create(&th[3], NULL, stats_writer, &ss);
	t0 = now_ns(CLOCK_MONOTONIC);
	while (!ss.ps.bad &&
	       !__atomic_load_n(&ss.ps.stop, __ATOMIC_ACQUIRE)) {
		CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 3 * HANG_NS,
		      "the producer hangs");
		if (kq_wait(q->fd, 1, 1000000) < 0 && errno != EINTR)
			prio_bad(&ss.ps, "wait", errno);
		if (stats_take(&ss, got, &stamped))
			break;
	}
	__atomic_store_n(&ss.ps.stop_all, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK(!ss.ps.bad, "%s", ss.ps.what);
	if (why[0])
		return -1;
	CHECK(ctl1(q->fd, KEVENT_CTL_REMOVE, mk(KEVENT_TIMER, 1, 0, 0, 0)) ==
	      0 && ctl1(q->fd, KEVENT_CTL_REMOVE, mk(KEVENT_POLL,
		(unsigned)ss.efd, 0, 0, 0)) == 0, "remove");
	while ((n = kq_wait(q->fd, 1, 0)) > 0)
		CHECK(!stats_take(&ss, got, &stamped), "take");
	CHECK(n == 0, "wait: %d", n);
	for (i = 0; i < PS_REGS; i++)
		CHECK(got[i] == ss.ps.sent[i],
		      "registration %d: %lld firings, %lld sent", i,
		      (long long)got[i], (long long)ss.ps.sent[i]);
	printf("# stats_scribble: %d entries stamped\n", stamped);

	/* off, whatever flags says: nothing stamped, nothing counted */
	CHECK(opt_stats_set(q->fd, 0) == 0 && q->ring->flags == 0,
	      "off: flags %#x", q->ring->flags);
	q->ring->flags = ~0u;
	q->ring->stats_offset = 0xfffffff8u;
	snap = *st;
	for (i = 0; i < 3; i++)
		b[i] = mk(KEVENT_USER, (uint64_t)i, 0, 0, 0);
	stamped = 0;
	CHECK(kq_ctl(q->fd, KEVENT_CTL_READY, 3, b) == 3, "ready");
	CHECK(kq_wait(q->fd, 3, 0) == 3 && !stats_take(&ss, NULL, &stamped) &&
	      !stamped, "stamped while off: %d", stamped);
	CHECK(!memcmp(&snap, st, sizeof(snap)), "counted while off");
	/* on: the flag rewritten whole; counted on from what is there */
	CHECK(opt_stats_set(q->fd, 1) == 0 &&
	      q->ring->flags == KEVENT_RING_STATS, "on: flags %#x",
	      q->ring->flags);
	memset(st, 0, sizeof(*st));
	q->ring->published = 1000;
	q->ring->coalesced = 41;
	q->ring->waits = 7;
	q->ring->sleeps = 3;
	CHECK(kq_wait(q->fd, 1, 0) == 0 && q->ring->waits == 8 &&
	      q->ring->sleeps == 3, "waits %llu sleeps %llu",
	      (unsigned long long)q->ring->waits,
	      (unsigned long long)q->ring->sleeps);
	CHECK(kq_ctl(q->fd, KEVENT_CTL_READY, 3, b) == 3 &&
	      kq_ctl(q->fd, KEVENT_CTL_READY, 1, b) == 1, "ready");
	CHECK(q->ring->coalesced == 42 && q->ring->published == 1003,
	      "coalesced %llu published %llu",
	      (unsigned long long)q->ring->coalesced,
	      (unsigned long long)q->ring->published);
	CHECK(hsum(st->fire_to_publish) == 3 && !hsum(st->publish_to_consume),
	      "histograms %llu %llu (want 3 0)",
	      (unsigned long long)hsum(st->fire_to_publish),
	      (unsigned long long)hsum(st->publish_to_consume));
	CHECK(!stats_take(&ss, NULL, &stamped) && stamped == 3,
	      "%d entries stamped", stamped);
	/* unmapped: the module's writes go on into its own mapping */
	munmap(q->ring, q->bytes);
	for (i = 0; i < 64; i++) {
		kq_ctl(q->fd, KEVENT_CTL_READY, 3, b);
		kq_wait(q->fd, 1, 0);
		opt_stats_set(q->fd, (uint64_t)i & 1);
	}
	close(q->fd);
	close(ss.efd);
	return 0;
}

/* as nobody */
static int stats_scribble(void)
{
	return as_nobody(stats_scribble_body);
}

static const struct kq_test tests[] = {
	{ "i01_epoll_loop", i01_epoll_loop },
	{ "i02_nest_depth", i02_nest_depth },
	{ "i02_deep_chain_wake", i02_deep_chain_wake },
	{ "i03_inode_event_close_race", i03_inode_event_close_race },
	{ "i03_inode_freeing_close_race", i03_inode_freeing_close_race },
	{ "i04_unix_cycle", i04_unix_cycle },
	{ "i04_unix_semantics", i04_unix_semantics },
	{ "i04_io_uring_refused", i04_io_uring_refused },
	{ "i05_inode_permission", i05_inode_permission },
	{ "i06_kidx_monotonic", i06_kidx_monotonic },
	{ "i07_no_spurious_readable", i07_no_spurious_readable },
	{ "i08_atomic_budget", i08_atomic_budget },
	{ "i09_user_limits", i09_user_limits },
	{ "i10_nesting_lockdep", i10_nesting_lockdep },
	{ "i11_arg_size", i11_arg_size },
	{ "i11_options", i11_options },
	{ "i11_ctl_fault_no_mutex", i11_ctl_fault_no_mutex },
	{ "i11_efault_not_applied", i11_efault_not_applied },
	{ "i11_wake_shared", i11_wake_shared },
	{ "i11_wait_signal_storm", i11_wait_signal_storm },
	{ "i11_signal_owner", i11_signal_owner },
	{ "prio_modify_storm", prio_modify_storm },
	{ "prio_teardown", prio_teardown },
	{ "stats_scribble", stats_scribble },
};

KQ_MAIN(tests)
