// SPDX-License-Identifier: MIT
/*
 * Conformance: what ends a sleep in kevent_wait on a queue that watches
 * nothing but KEVENT_USER registrations.  The user-space backends sleep on
 * a futex then, not in their waitset, so everything another thread does
 * (an fd, a timer or a process added, a trigger, kevent_close) must still
 * end the sleep, and the queue fd must still work for poll(2).  A lost
 * wake-up must fail a test, not hang it: waits are bounded, and the few
 * that must be infinite run under a Criterion timeout.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define LONG_MS	10000	/* only reached when a wake-up was lost */

/*
 * Another thread's kevent_ctl ADD, after a delay; then maybe a write.  The
 * thread stays until the waiter is done: io_uring cancels the poll requests
 * of a thread that exits, so with the uring backend a registration added
 * by a thread that is gone is not watched (a limitation of that backend,
 * not what these tests are about).
 */
struct add_later {
	int fd;
	struct ukevent e;
	int delay_ms;
	int write_fd;		/* written once after another delay, or -1 */
	int ret;		/* kevent_ctl's return */
	int done;		/* atomic: the waiter is done */
};

static void *add_later_thread(void *p)
{
	struct add_later *a = p;
	struct timespec d = ms_ts(a->delay_ms), tick = ms_ts(1);
	int i;

	nanosleep(&d, NULL);
	a->ret = kevent_ctl(a->fd, KEVENT_CTL_ADD, 1, &a->e);
	if (a->write_fd >= 0) {
		nanosleep(&d, NULL);
		if (write(a->write_fd, "x", 1) != 1)
			a->ret = -1;
	}
	for (i = 0; i < LONG_MS; i++) {
		if (__atomic_load_n(&a->done, __ATOMIC_ACQUIRE))
			break;
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static int wait_then_release(int fd, long ms, struct add_later *a)
{
	int r = wait_ms(fd, 1, ms);

	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return r;
}

/*
 * The fd is not ready when it is added: the sleeper must start watching it
 * because of the ADD alone, and see the write that comes later.
 */
Test(wake, fd_added_by_another_thread_ends_user_only_sleep, .timeout = 60)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct add_later a;
	struct ukevent out;
	pthread_t t;
	int sv[2];

	add_ok(fd, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	a = (struct add_later){
		.fd = fd,
		.e = ev_make(KEVENT_POLL, (uint64_t)sv[0], KEVENT_POLL_IN, 0,
			     0, 0xfd),
		.delay_ms = 50,
		.write_fd = sv[1],
	};
	pthread_create(&t, NULL, add_later_thread, &a);
	cr_assert_eq(wait_then_release(fd, -1, &a), 1);
	pthread_join(t, NULL);
	cr_assert_eq(a.ret, 1);
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.type, KEVENT_POLL);
	cr_assert_eq(out.id, (uint64_t)sv[0]);
	cr_assert_eq(out.user, 0xfd);
	close(sv[0]);
	close(sv[1]);
	kevent_close(fd);
}

Test(wake, timer_added_by_another_thread_ends_user_only_sleep)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct add_later a;
	struct ukevent out;
	pthread_t t;

	add_ok(fd, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	a = (struct add_later){
		.fd = fd,
		.e = ev_make(KEVENT_TIMER, 7, 0, KEVENT_REQ_ONESHOT,
			     20 * 1000000ull, 0x71),
		.delay_ms = 50,
		.write_fd = -1,
	};
	pthread_create(&t, NULL, add_later_thread, &a);
	cr_assert_eq(wait_then_release(fd, LONG_MS, &a), 1,
		     "the timer was missed");
	pthread_join(t, NULL);
	cr_assert_eq(a.ret, 1);
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.type, KEVENT_TIMER);
	cr_assert_eq(out.id, 7);
	cr_assert_eq(out.user, 0x71);
	kevent_close(fd);
}

Test(wake, process_added_by_another_thread_ends_user_only_sleep)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct add_later a;
	struct ukevent out;
	pthread_t t;
	int status;
	pid_t pid;

	add_ok(fd, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	pid = fork();
	if (pid == 0)
		_exit(5);
	cr_assert_gt(pid, 0);
	a = (struct add_later){
		.fd = fd,
		.e = ev_make(KEVENT_PROC, (uint64_t)pid, KEVENT_PROC_EXIT, 0,
			     0, 0x9d),
		.delay_ms = 50,
		.write_fd = -1,
	};
	pthread_create(&t, NULL, add_later_thread, &a);
	cr_assert_eq(wait_then_release(fd, LONG_MS, &a), 1,
		     "the exit was missed");
	pthread_join(t, NULL);
	cr_assert_eq(a.ret, 1);
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.type, KEVENT_PROC);
	cr_assert_eq(out.id, (uint64_t)pid);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	kevent_close(fd);
}

Test(wake, ready_from_another_thread_ends_timed_user_only_sleep)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ready_later r = { fd, 3, 50 };
	struct ukevent out;
	pthread_t t;

	add_ok(fd, ev_make(KEVENT_USER, 3, 0, 0, 0, 0));
	pthread_create(&t, NULL, ready_later_thread, &r);
	cr_assert_eq(wait_ms(fd, 1, LONG_MS), 1, "the trigger was missed");
	pthread_join(t, NULL);
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.id, 3);
	kevent_close(fd);
}

/* A timeout that never expired would hang: fail instead. */
Test(wake, user_only_sleep_times_out, .timeout = 60)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent e = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);

	add_ok(fd, e);
	cr_assert_eq(wait_ms(fd, 1, 30), 0);
	/* fewer than min_nr: the timeout reports what the ring holds */
	ctl1(fd, KEVENT_CTL_READY, e);
	cr_assert_eq(wait_ms(fd, 2, 30), 1);
	kevent_close(fd);
}

static void *close_later_thread(void *p)
{
	struct timespec d = ms_ts(50);

	nanosleep(&d, NULL);
	kevent_close(*(int *)p);
	return NULL;
}

/* A timed wait would end anyway, with EBADF: only an infinite one tells. */
Test(wake, close_ends_user_only_sleep, .timeout = 60)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	pthread_t t;

	add_ok(fd, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	pthread_create(&t, NULL, close_later_thread, &fd);
	cr_assert_eq(kevent_wait(fd, 1, NULL), -1);
	cr_assert_eq(errno, EBADF);
	pthread_join(t, NULL);
}

static void on_usr2(int sig)
{
	(void)sig;
}

struct signaller {
	pthread_t target;
	int fd;
	int done;		/* atomic: the target's wait returned */
};

/*
 * Signal the target until its wait returns: a signal that comes before it
 * sleeps is simply handled.  Should none of them end the wait, a trigger
 * does, and the test fails instead of hanging.
 */
static void *signal_until_done(void *p)
{
	struct signaller *s = p;
	struct ukevent e = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);
	struct timespec d = ms_ts(20);
	int i;

	for (i = 0; i < LONG_MS / 20; i++) {
		if (__atomic_load_n(&s->done, __ATOMIC_ACQUIRE))
			return NULL;
		pthread_kill(s->target, SIGUSR2);
		nanosleep(&d, NULL);
	}
	kevent_ctl(s->fd, KEVENT_CTL_READY, 1, &e);
	return NULL;
}

/*
 * An infinite kevent_wait on a user-only queue, hit by a handler with the
 * given sa_flags until it returns: it must fail with EINTR, as epoll_wait
 * does.  glibc's signal() installs handlers with SA_RESTART, which makes
 * the kernel restart an untimed futex(2) wait.
 */
static void expect_eintr_from_handler(int sa_flags)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct signaller s = { pthread_self(), fd, 0 };
	struct sigaction sa;
	pthread_t t;
	int r, err;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sa.sa_flags = sa_flags;
	sigaction(SIGUSR2, &sa, NULL);
	add_ok(fd, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	pthread_create(&t, NULL, signal_until_done, &s);
	r = kevent_wait(fd, 1, NULL);
	err = errno;
	__atomic_store_n(&s.done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	cr_assert_eq(r, -1, "not interrupted by a handler (sa_flags %#x)",
		     sa_flags);
	cr_assert_eq(err, EINTR);
	kevent_close(fd);
}

Test(wake, signal_handler_interrupts_infinite_user_only_sleep)
{
	expect_eintr_from_handler(0);
}

Test(wake, sa_restart_handler_interrupts_infinite_user_only_sleep)
{
	expect_eintr_from_handler(SA_RESTART);
}

/*
 * After sleeps on the user-only queue, a trigger from another thread while
 * nobody is in kevent_wait still makes the queue fd readable, and a
 * zero-timeout wait after the ring is drained leaves it unreadable again.
 */
Test(wake, queue_fd_still_readable_after_user_only_sleeps)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct ready_later r = { fd, 4, 50 };
	struct ukevent out;
	pthread_t t;

	add_ok(fd, ev_make(KEVENT_USER, 4, 0, 0, 0, 0));
	pthread_create(&t, NULL, ready_later_thread, &r);
	cr_assert_eq(wait_ms(fd, 1, LONG_MS), 1);
	pthread_join(t, NULL);
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(wait_ms(fd, 1, 0), 0);
	cr_assert_eq(poll(&pfd, 1, 0), 0, "idle queue is not readable");

	pthread_create(&t, NULL, ready_later_thread, &r);
	cr_assert_eq(poll(&pfd, 1, LONG_MS), 1, "woken by READY");
	pthread_join(t, NULL);
	cr_assert_eq(wait_ms(fd, 1, 0), 1);
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.id, 4);
	cr_assert_eq(wait_ms(fd, 1, 0), 0);
	cr_assert_eq(poll(&pfd, 1, 0), 0, "readable after the ring drained");
	kevent_close(fd);
}
