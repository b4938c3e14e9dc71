/* SPDX-License-Identifier: MIT */
/* Helpers shared by the conformance tests: written against <kevent.h> only. */
#ifndef KEV_TEST_HELPERS_H
#define KEV_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>
#include <kevent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../sync.h"
#include "../common/ukevent.h"

/* The backend under test: $KEVENT_BACKEND, set by meson per run. */
static inline const char *test_backend(void)
{
	const char *b = getenv("KEVENT_BACKEND");

	return b && *b ? b : NULL;
}

static inline int q_open(struct kevent_ring **ring, unsigned int size)
{
	int fd = kevent_init(ring, size, 0);

	cr_assert_geq(fd, 0, "kevent_init: %s", strerror(errno));
	if (test_backend())
		cr_assert_str_eq(kevent_backend(fd), test_backend());
	return fd;
}

static inline struct ukevent ev_make(uint32_t type, uint64_t id,
				     uint32_t event, uint32_t req_flags,
				     uint64_t data, uint64_t user)
{
	return kt_ukevent(type, id, event, req_flags, data, user);
}

/* One entry through kevent_ctl: 0, or the entry's errno. */
static inline int ctl1(int fd, unsigned int cmd, struct ukevent e)
{
	int r = kevent_ctl(fd, cmd, 1, &e);

	cr_assert_geq(r, 0, "kevent_ctl: %s", strerror(errno));
	if (r == 1) {
		cr_assert_eq(e.ret_flags & KEVENT_RET_ERROR, 0);
		return 0;
	}
	cr_assert(e.ret_flags & KEVENT_RET_ERROR);
	return (int)e.ret_data;
}

static inline void add_ok(int fd, struct ukevent e)
{
	int err = ctl1(fd, KEVENT_CTL_ADD, e);

	cr_assert_eq(err, 0, "ADD type %u id %llu: %s", e.type,
		     (unsigned long long)e.id, strerror(err));
}

static inline struct timespec ms_ts(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	return ts;
}

/* kevent_wait with a timeout in ms (-1 = forever). */
static inline int wait_ms(int fd, unsigned int min_nr, long ms)
{
	struct timespec ts = ms_ts(ms);

	return kevent_wait(fd, min_nr, ms < 0 ? NULL : &ts);
}

/* Take one event, waiting up to ms; 1 if taken, 0 on timeout. */
static inline int take(int fd, struct kevent_ring *ring, struct ukevent *out,
		       long ms)
{
	struct timespec ts = ms_ts(ms);

	if (ukevent_dequeue(fd, ring, out, &ts) == 0)
		return 1;
	cr_assert_eq(errno, ETIMEDOUT, "ukevent_dequeue: %s", strerror(errno));
	return 0;
}

/* Assert nothing arrives within ms. */
static inline void expect_none(int fd, struct kevent_ring *ring, long ms)
{
	struct ukevent e;

	cr_assert_eq(take(fd, ring, &e, ms), 0,
		     "unexpected event type %u id %llu event %#x", e.type,
		     (unsigned long long)e.id, e.event);
}

/*
 * Run in another thread: KEVENT_CTL_READY of (USER, id), once the waiter
 * sleeps in its wait (the waiter calls sync_about_to_wait() right before
 * it), or at once without a waiter.  ret is kevent_ctl's return, or -2 if
 * the waiter never slept.
 */
struct ready_later {
	int fd;
	uint64_t id;
	struct sync_sleeper *waiter;	/* NULL: trigger at once */
	int ret;
};

static inline void *ready_later_thread(void *p)
{
	struct ready_later *r = p;
	struct ukevent e = ev_make(KEVENT_USER, r->id, 0, 0, 0, 0);

	if (r->waiter && !sync_sleeping(r->waiter)) {
		r->ret = -2;
		return NULL;
	}
	r->ret = kevent_ctl(r->fd, KEVENT_CTL_READY, 1, &e);
	return NULL;
}

/* Run in another thread: kevent_close(fd) once the waiter sleeps. */
struct close_later {
	int fd;
	struct sync_sleeper waiter;
	int ret;
};

static inline void *close_later_thread(void *p)
{
	struct close_later *c = p;

	if (!sync_sleeping(&c->waiter)) {
		c->ret = -2;
		return NULL;
	}
	c->ret = kevent_close(c->fd);
	return NULL;
}

/*
 * Run in another thread: once the target sleeps in its wait, send it one
 * signal.  If the target's wait does not return (done) within a long
 * while, KEVENT_CTL_READY of (USER, 1) on fallback_fd (if >= 0) ends it, so
 * that a test fails instead of hanging.
 */
struct signal_later {
	pthread_t target;
	int sig;
	int fallback_fd;
	struct sync_sleeper waiter;
	int slept;		/* the target was seen asleep, then signalled */
	int done;		/* atomic: set by the target after its wait */
};

static inline void *signal_later_thread(void *p)
{
	struct signal_later *s = p;
	struct ukevent e = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);
	struct timespec d = ms_ts(1);
	int i;

	s->slept = sync_sleeping(&s->waiter);
	if (s->slept)
		pthread_kill(s->target, s->sig);
	for (i = 0; i < 60000; i++) {
		if (__atomic_load_n(&s->done, __ATOMIC_ACQUIRE))
			return NULL;
		nanosleep(&d, NULL);
	}
	if (s->fallback_fd >= 0)
		kevent_ctl(s->fallback_fd, KEVENT_CTL_READY, 1, &e);
	return NULL;
}

/*
 * A child process that exits with status when the test writes a byte to
 * go[1] (child_go), or with 1 when the test ends without it: the child
 * does not hold go[1], so the test's exit is its end of file.
 */
struct child {
	pid_t pid;
	int go[2];
};

static inline struct child child_start(int status)
{
	struct child c;

	cr_assert_eq(pipe2(c.go, O_CLOEXEC), 0);
	c.pid = fork();
	cr_assert_geq(c.pid, 0);
	if (c.pid == 0) {
		char b;

		close(c.go[1]);
		_exit(read(c.go[0], &b, 1) == 1 ? status : 1);
	}
	return c;
}

/* Let it exit; with reap, also wait for it. */
static inline void child_go(struct child *c, bool reap)
{
	cr_assert_eq(write(c->go[1], "x", 1), 1);
	close(c->go[0]);
	close(c->go[1]);
	if (reap)
		cr_assert_eq(waitpid(c->pid, NULL, 0), c->pid);
}

static void sig_noop(int sig)
{
	(void)sig;
}

/*
 * Call wait(arg) with a handler (sa_flags) installed for sig, and hit the
 * calling thread with sig from another thread once it sleeps in the wait.
 * Returns what wait returned, with its errno in *err.  fallback_fd: see
 * struct signal_later.
 */
static inline int wait_hit_by_signal(int sig, int sa_flags, int fallback_fd,
				     int (*wait)(void *arg), void *arg,
				     int *err)
{
	struct signal_later s = {
		.target = pthread_self(), .sig = sig, .fallback_fd = fallback_fd,
	};
	struct sigaction sa;
	pthread_t t;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_noop;
	sa.sa_flags = sa_flags;
	cr_assert_eq(sigaction(sig, &sa, NULL), 0);
	pthread_create(&t, NULL, signal_later_thread, &s);
	sync_about_to_wait(&s.waiter);
	r = wait(arg);
	*err = errno;
	__atomic_store_n(&s.done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	cr_assert(s.slept, "the wait never slept");
	return r;
}

/* For wait_hit_by_signal(): kevent_wait(fd, min_nr, ms). */
struct wait_args {
	int fd;
	unsigned int min_nr;
	long ms;
};

static inline int wait_args_call(void *p)
{
	const struct wait_args *a = p;

	return wait_ms(a->fd, a->min_nr, a->ms);
}

static inline uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
