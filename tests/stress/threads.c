// SPDX-License-Identifier: MIT
/*
 * threads.c - threaded stress of one queue, written for ThreadSanitizer
 * (Criterion's forking runner cannot run under TSan).  Producers trigger
 * user events and add/remove fds while one consumer waits and consumes;
 * every trigger must be counted exactly once.  Two threads ping-pong
 * triggers, and a thread adds fds and timers to a queue whose consumer
 * sleeps with nothing else watched (the user-space backends sleep on a
 * futex then): every wake-up must arrive.  Prints TAP.
 */
#include <errno.h>
#include <kevent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../sync.h"

#define PRODUCERS	3
#define TRIGGERS	20000
#define KEYS		8

static int qfd;
static struct kevent_ring *ring;
static int stop_churn;
static uint64_t triggered[KEYS];	/* successful READYs per key (atomic) */

static void *producer(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	int i;

	for (i = 0; i < TRIGGERS; i++) {
		struct ukevent e;

		memset(&e, 0, sizeof(e));
		e.type = KEVENT_USER;
		e.id = rand_r(&seed) % KEYS;
		if (kevent_ctl(qfd, KEVENT_CTL_READY, 1, &e) != 1) {
			fprintf(stderr, "READY failed: %s\n", strerror(errno));
			exit(1);
		}
		__atomic_add_fetch(&triggered[e.id], 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *churn(void *arg)
{
	int sv[2];

	(void)arg;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return NULL;
	while (!__atomic_load_n(&stop_churn, __ATOMIC_RELAXED)) {
		struct ukevent e;

		memset(&e, 0, sizeof(e));
		e.type = KEVENT_POLL;
		e.id = (uint64_t)sv[0];
		e.event = KEVENT_POLL_OUT;
		e.req_flags = KEVENT_REQ_ET;
		e.user = 0xc0ffee;
		kevent_ctl(qfd, KEVENT_CTL_ADD, 1, &e);
		kevent_ctl(qfd, KEVENT_CTL_REMOVE, 1, &e);
	}
	close(sv[0]);
	close(sv[1]);
	return NULL;
}

/* Each key's deliveries must add up to that key's triggers, exactly. */
static int test_triggers(void)
{
	pthread_t p[PRODUCERS], c;
	uint64_t total = 0, want = (uint64_t)PRODUCERS * TRIGGERS;
	uint64_t got[KEYS] = { 0 };
	struct ukevent e;
	int i, ok = 1;

	qfd = kevent_init(&ring, 4, 0);
	if (qfd < 0)
		return 0;
	for (i = 0; i < KEYS; i++) {
		memset(&e, 0, sizeof(e));
		e.type = KEVENT_USER;
		e.id = (uint64_t)i;
		e.user = 0x1000 + (uint64_t)i;
		if (kevent_ctl(qfd, KEVENT_CTL_ADD, 1, &e) != 1)
			return 0;
	}
	pthread_create(&c, NULL, churn, NULL);
	for (i = 0; i < PRODUCERS; i++)
		pthread_create(&p[i], NULL, producer, (void *)(uintptr_t)(i + 1));
	while (total < want) {
		struct timespec ts = { 5, 0 };

		if (ukevent_dequeue(qfd, ring, &e, &ts) < 0) {
			fprintf(stderr, "# dequeue: %s after %llu of %llu\n",
				strerror(errno), (unsigned long long)total,
				(unsigned long long)want);
			ok = 0;
			break;
		}
		if (e.type != KEVENT_USER)
			continue;
		if (e.id >= KEYS || e.user != 0x1000 + e.id || !e.ret_data) {
			fprintf(stderr, "# bad entry: id %llu user %#llx count %llu\n",
				(unsigned long long)e.id,
				(unsigned long long)e.user,
				(unsigned long long)e.ret_data);
			ok = 0;
			break;
		}
		got[e.id] += e.ret_data;
		total += e.ret_data;
	}
	for (i = 0; i < PRODUCERS; i++)
		pthread_join(p[i], NULL);
	__atomic_store_n(&stop_churn, 1, __ATOMIC_RELAXED);
	pthread_join(c, NULL);
	/* nothing more than was triggered */
	{
		struct timespec z = { 0, 0 };

		while (kevent_wait(qfd, 1, &z) > 0)
			while (kevent_ring_consume(ring, &e))
				if (e.type == KEVENT_USER && e.id < KEYS)
					got[e.id] += e.ret_data;
	}
	kevent_close(qfd);
	for (i = 0; i < KEYS; i++) {
		if (got[i] != triggered[i]) {
			fprintf(stderr, "# key %d: delivered %llu, triggered %llu\n",
				i, (unsigned long long)got[i],
				(unsigned long long)triggered[i]);
			ok = 0;
		}
	}
	return ok;
}

struct closer_arg {
	int fd;
	struct sync_sleeper sleeper;
};

/* Close the queue once the waiter sleeps in kevent_wait. */
static void *closer(void *arg)
{
	struct closer_arg *a = arg;

	if (!sync_sleeping(&a->sleeper))
		abort();
	kevent_close(a->fd);
	return NULL;
}

static int test_close_while_waiting(void)
{
	int i, ok = 1;

	for (i = 0; i < 20 && ok; i++) {
		struct kevent_ring *r;
		struct closer_arg a = { .fd = kevent_init(&r, 8, 0) };
		pthread_t t;

		if (a.fd < 0)
			return 0;
		pthread_create(&t, NULL, closer, &a);
		sync_about_to_wait(&a.sleeper);
		ok = kevent_wait(a.fd, 1, NULL) == -1 && errno == EBADF;
		pthread_join(t, NULL);
	}
	return ok;
}

/* ---- ping-pong: a lost wake-up stalls a side until its timeout */

#define ROUNDS		20000
#define STALL_S		5

struct side {
	int fd;
	struct kevent_ring *ring;
};

static struct side sides[2];

static int trigger(int fd)
{
	struct ukevent e;

	memset(&e, 0, sizeof(e));
	e.type = KEVENT_USER;
	e.id = 1;
	return kevent_ctl(fd, KEVENT_CTL_READY, 1, &e) == 1;
}

static int take_one(struct side *s)
{
	struct timespec ts = { STALL_S, 0 };
	struct ukevent e;

	if (ukevent_dequeue(s->fd, s->ring, &e, &ts) < 0) {
		fprintf(stderr, "# dequeue: %s\n", strerror(errno));
		return 0;
	}
	return 1;
}

static void *echo(void *arg)
{
	long i, ok = 1;

	(void)arg;
	for (i = 0; i < ROUNDS && ok; i++)
		ok = take_one(&sides[1]) && trigger(sides[0].fd);
	return (void *)ok;
}

static int test_pingpong(void)
{
	struct ukevent e;
	void *echo_ok;
	pthread_t t;
	long i, ok = 1;
	int k;

	for (k = 0; k < 2; k++) {
		sides[k].fd = kevent_init(&sides[k].ring, 8, 0);
		if (sides[k].fd < 0)
			return 0;
		memset(&e, 0, sizeof(e));
		e.type = KEVENT_USER;
		e.id = 1;
		kevent_ctl(sides[k].fd, KEVENT_CTL_ADD, 1, &e);
	}
	pthread_create(&t, NULL, echo, NULL);
	for (i = 0; i < ROUNDS && ok; i++)
		ok = trigger(sides[1].fd) && take_one(&sides[0]);
	if (!ok) {
		fprintf(stderr, "# ping-pong stalled at round %ld\n", i);
		kevent_close(sides[1].fd);	/* ends the echo's wait */
		sides[1].fd = -1;
	}
	pthread_join(t, &echo_ok);
	for (k = 0; k < 2; k++)
		if (sides[k].fd >= 0)
			kevent_close(sides[k].fd);
	return ok && echo_ok;
}

/* ---- registrations added to a sleeping queue that watched nothing */

#define ADDS		4000

static int adds_fd;
static int adds_sock;

static void *adder(void *arg)
{
	int i, r;

	(void)arg;
	for (i = 0; i < ADDS; i++) {
		struct ukevent e;

		memset(&e, 0, sizeof(e));
		e.req_flags = KEVENT_REQ_ONESHOT;
		if (i & 1) {
			e.type = KEVENT_TIMER;
			e.id = 1;
			e.data = 1000;		/* 1 us */
		} else {
			e.type = KEVENT_POLL;
			e.id = (uint64_t)adds_sock;	/* always readable */
			e.event = KEVENT_POLL_IN;
		}
		/* EEXIST until the previous one of its kind was delivered */
		while ((r = kevent_ctl(adds_fd, KEVENT_CTL_ADD, 1, &e)) == 0 &&
		       e.ret_data == EEXIST)
			sched_yield();
		if (r != 1) {
			fprintf(stderr, "# ADD: %s\n",
				strerror(r < 0 ? errno : (int)e.ret_data));
			return NULL;
		}
	}
	return NULL;
}

static int test_adds_wake_sleeper(void)
{
	struct kevent_ring *r;
	int sv[2], got = 0, ok = 1;
	pthread_t t;

	adds_fd = kevent_init(&r, 8, 0);
	if (adds_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 0;
	if (write(sv[1], "x", 1) != 1)
		return 0;
	adds_sock = sv[0];
	pthread_create(&t, NULL, adder, NULL);
	while (got < ADDS) {
		struct timespec ts = { STALL_S, 0 };
		struct ukevent e;

		if (ukevent_dequeue(adds_fd, r, &e, &ts) < 0) {
			fprintf(stderr, "# dequeue: %s after %d of %d\n",
				strerror(errno), got, ADDS);
			ok = 0;
			break;
		}
		got++;
	}
	/* a stalled adder retries EEXIST for ever: closing ends that */
	kevent_close(adds_fd);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	return ok;
}

int main(void)
{
	const char *want = getenv("KEVENT_BACKEND");
	struct kevent_ring *r;
	int pass = 0, fail = 0, fd;

	/* The backend under test must be the one asked for, never another. */
	fd = kevent_init(&r, 8, 0);
	if (fd < 0) {
		printf("1..0 # kevent_init: %s\n", strerror(errno));
		return 1;
	}
	printf("# backend: %s\n", kevent_backend(fd));
	if (want && *want && strcmp(want, kevent_backend(fd))) {
		printf("Bail out! backend %s, asked for %s\n",
		       kevent_backend(fd), want);
		return 1;
	}
	kevent_close(fd);
	printf("1..4\n");
	if (test_triggers()) {
		printf("ok 1 - triggers from %d threads counted exactly once\n",
		       PRODUCERS);
		pass++;
	} else {
		printf("not ok 1 - triggers from %d threads counted exactly once\n",
		       PRODUCERS);
		fail++;
	}
	if (test_close_while_waiting()) {
		printf("ok 2 - kevent_close wakes a waiter with EBADF\n");
		pass++;
	} else {
		printf("not ok 2 - kevent_close wakes a waiter with EBADF\n");
		fail++;
	}
	if (test_pingpong()) {
		printf("ok 3 - %d ping-pong rounds, no wake-up lost\n",
		       ROUNDS);
		pass++;
	} else {
		printf("not ok 3 - %d ping-pong rounds, no wake-up lost\n",
		       ROUNDS);
		fail++;
	}
	if (test_adds_wake_sleeper()) {
		printf("ok 4 - fds and timers added to a sleeping queue wake it\n");
		pass++;
	} else {
		printf("not ok 4 - fds and timers added to a sleeping queue wake it\n");
		fail++;
	}
	return fail ? 1 : 0;
}
