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

#define LONG_MS	30000	/* only reached when a wake-up was lost */

/*
 * Another thread's kevent_ctl ADD, once the waiter sleeps; then maybe a
 * write, once the waiter sleeps again.  The thread stays until the waiter
 * is done: io_uring cancels the poll requests of a thread that exits (the
 * backend watches them again, but these tests are not about that).
 */
struct add_later {
	int fd;
	struct ukevent e;
	struct sync_sleeper waiter;
	int write_fd;		/* written once after the ADD, or -1 */
	int ret;		/* kevent_ctl's return; -2: the waiter never slept */
	int done;		/* atomic: the waiter is done */
};

static void *add_later_thread(void *p)
{
	struct add_later *a = p;
	struct timespec tick = ms_ts(1);
	long nr;
	int i;

	nr = sync_sleeping_not_in(&a->waiter, -1);
	if (nr < 0) {
		a->ret = -2;
		return NULL;
	}
	a->ret = kevent_ctl(a->fd, KEVENT_CTL_ADD, 1, &a->e);
	if (a->write_fd >= 0) {
		/*
		 * A user-space backend asleep on its futex must now move to
		 * its waitset: write only once it sleeps in another call
		 * (the kmod backend never moves: any sleep will do).
		 */
		if (sync_sleeping_not_in(&a->waiter,
					 nr == SYS_futex ? nr : -1) < 0 ||
		    write(a->write_fd, "x", 1) != 1)
			a->ret = -2;
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
	int r;

	sync_about_to_wait(&a->waiter);
	r = wait_ms(fd, 1, ms);
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return r;
}

/*
 * The fd is not ready when it is added: the sleeper must start watching it
 * because of the ADD alone, and see the write that comes later.
 */
Test(wake, fd_added_by_another_thread_ends_user_only_sleep, .timeout = 120)
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
	struct sync_sleeper w = { 0 };
	struct ready_later r = { fd, 3, &w, 0 };
	struct ukevent out;
	pthread_t t;

	add_ok(fd, ev_make(KEVENT_USER, 3, 0, 0, 0, 0));
	pthread_create(&t, NULL, ready_later_thread, &r);
	sync_about_to_wait(&w);
	cr_assert_eq(wait_ms(fd, 1, 60000), 1, "the trigger was missed");
	pthread_join(t, NULL);
	cr_assert_eq(r.ret, 1, "triggered while the waiter slept");
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.id, 3);
	kevent_close(fd);
}

/* A timeout that never expired would hang: fail instead. */
Test(wake, user_only_sleep_times_out, .timeout = 120)
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

/* A timed wait would end anyway, with EBADF: only an infinite one tells. */
Test(wake, close_ends_user_only_sleep, .timeout = 120)
{
	struct kevent_ring *ring;
	struct close_later c = { .fd = q_open(&ring, 8) };
	pthread_t t;

	add_ok(c.fd, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	pthread_create(&t, NULL, close_later_thread, &c);
	sync_about_to_wait(&c.waiter);
	cr_assert_eq(kevent_wait(c.fd, 1, NULL), -1);
	cr_assert_eq(errno, EBADF);
	pthread_join(t, NULL);
	cr_assert_eq(c.ret, 0, "closed while the waiter slept");
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
	struct wait_args w = { q_open(&ring, 8), 1, -1 };
	int err;

	add_ok(w.fd, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
	cr_assert_eq(wait_hit_by_signal(SIGUSR2, sa_flags, w.fd,
					wait_args_call, &w, &err), -1,
		     "not interrupted by a handler (sa_flags %#x)", sa_flags);
	cr_assert_eq(err, EINTR);
	kevent_close(w.fd);
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
	struct sync_sleeper w = { 0 };
	struct ready_later r = { fd, 4, &w, 0 };
	struct ukevent out;
	pthread_t t;

	add_ok(fd, ev_make(KEVENT_USER, 4, 0, 0, 0, 0));
	pthread_create(&t, NULL, ready_later_thread, &r);
	sync_about_to_wait(&w);
	cr_assert_eq(wait_ms(fd, 1, 60000), 1);
	pthread_join(t, NULL);
	cr_assert_eq(r.ret, 1);
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(wait_ms(fd, 1, 0), 0);
	cr_assert_eq(poll(&pfd, 1, 0), 0, "idle queue is not readable");

	w = (struct sync_sleeper){ 0 };
	pthread_create(&t, NULL, ready_later_thread, &r);
	sync_about_to_wait(&w);
	cr_assert_eq(poll(&pfd, 1, 60000), 1, "woken by READY");
	pthread_join(t, NULL);
	cr_assert_eq(r.ret, 1, "triggered while poll(2) slept");
	cr_assert_eq(wait_ms(fd, 1, 0), 1);
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.id, 4);
	cr_assert_eq(wait_ms(fd, 1, 0), 0);
	cr_assert_eq(poll(&pfd, 1, 0), 0, "readable after the ring drained");
	kevent_close(fd);
}
