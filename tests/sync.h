/* SPDX-License-Identifier: MIT */
/*
 * sync.h - synchronise a test on a thread being asleep in a wait, not on
 * time.  Plain C (no Criterion): the conformance and stress tests use it.
 *
 * A test of a wake-up must trigger only once the waiter sleeps, or on a
 * slow machine it passes without exercising the wake-up at all.  The
 * waiter sets a flag right before it calls the wait; the other thread
 * waits for the flag, then until /proc/self/task/TID/syscall shows the
 * waiter inside one of the system calls a kevent wait can sleep in, with
 * the task state 'S' (interruptible sleep).  That is exact: the waiter
 * cannot leave that call without an event, a timeout or a signal.
 */
#ifndef KEV_TEST_SYNC_H
#define KEV_TEST_SYNC_H

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static inline pid_t sync_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* The system calls in which kevent_wait, poll(2) or epoll can sleep. */
static inline bool sync_is_sleep_syscall(long nr)
{
	static const long nrs[] = {
		SYS_epoll_wait, SYS_epoll_pwait,
#ifdef SYS_epoll_pwait2
		SYS_epoll_pwait2,
#endif
#ifdef SYS_io_uring_enter
		SYS_io_uring_enter,
#endif
		SYS_futex, SYS_ioctl, SYS_poll, SYS_ppoll, SYS_select,
		SYS_pselect6,
		/* a timed sleep resumed after a signal or task_work */
		SYS_restart_syscall,
	};
	size_t i;

	for (i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++)
		if (nrs[i] == nr)
			return true;
	return false;
}

static inline int sync_read_proc(pid_t tid, const char *what, char *buf,
				 size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", (int)tid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/*
 * The wait system call in which thread tid sleeps right now, or -1 if it
 * is not asleep in one.
 */
static inline long sync_thread_sleep_syscall(pid_t tid)
{
	char buf[512], *p;
	long nr;

	if (sync_read_proc(tid, "syscall", buf, sizeof(buf)) < 0)
		return -1;
	/* "running", "-1 ..." (not in a system call), or "NR args..." */
	if (buf[0] < '0' || buf[0] > '9')
		return -1;
	nr = strtol(buf, NULL, 10);
	if (!sync_is_sleep_syscall(nr))
		return -1;
	if (sync_read_proc(tid, "stat", buf, sizeof(buf)) < 0)
		return -1;
	p = strrchr(buf, ')');	/* "pid (comm) S ...": comm may hold spaces */
	if (!p || p[1] != ' ' || p[2] != 'S')
		return -1;
	return nr;
}

/* The waiter's side: publish who is about to wait. */
struct sync_sleeper {
	int about_to_wait;
	pid_t tid;
};

static inline void sync_about_to_wait(struct sync_sleeper *s)
{
	__atomic_store_n(&s->tid, sync_gettid(), __ATOMIC_RELAXED);
	__atomic_store_n(&s->about_to_wait, 1, __ATOMIC_RELEASE);
}

/*
 * Wait until s's thread announced its wait (sync_about_to_wait) and sleeps
 * in a wait system call other than not_in (-1: any), and return that
 * call's number.  not_in tells a sleep that moved (the user-space backends
 * move from a futex to their waitset when an fd is added) from the one
 * before.  Gives up after a minute (a hang guard, not a timing assertion):
 * -1 then.
 */
static inline long sync_sleeping_not_in(struct sync_sleeper *s, long not_in)
{
	struct timespec pause = { 0, 200000 };	/* 0.2 ms */
	long i, nr;

	for (i = 0; i < 300000; i++) {
		if (__atomic_load_n(&s->about_to_wait, __ATOMIC_ACQUIRE)) {
			nr = sync_thread_sleep_syscall(
				__atomic_load_n(&s->tid, __ATOMIC_RELAXED));
			if (nr >= 0 && nr != not_in)
				return nr;
		}
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "# sync: thread %d never slept in a wait\n",
		(int)__atomic_load_n(&s->tid, __ATOMIC_RELAXED));
	return -1;
}

/* Wait until s's thread sleeps in its wait: true, or false after a minute. */
static inline bool sync_sleeping(struct sync_sleeper *s)
{
	return sync_sleeping_not_in(s, -1) >= 0;
}

#endif /* KEV_TEST_SYNC_H */
