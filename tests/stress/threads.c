// SPDX-License-Identifier: MIT
/*
 * threads.c - threaded stress of one queue, written for ThreadSanitizer
 * (Criterion's forking runner cannot run under TSan).  Producers trigger
 * user events and add/remove fds while one consumer waits and consumes;
 * every trigger must be counted exactly once.  Prints TAP.
 */
#include <errno.h>
#include <kevent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PRODUCERS	3
#define TRIGGERS	20000
#define KEYS		8

static int qfd;
static struct kevent_ring *ring;
static int stop_churn;

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

static int test_triggers(void)
{
	pthread_t p[PRODUCERS], c;
	uint64_t total = 0, want = (uint64_t)PRODUCERS * TRIGGERS;
	struct ukevent e;
	int i;

	qfd = kevent_init(&ring, 4, 0);
	if (qfd < 0)
		return 0;
	for (i = 0; i < KEYS; i++) {
		memset(&e, 0, sizeof(e));
		e.type = KEVENT_USER;
		e.id = (uint64_t)i;
		kevent_ctl(qfd, KEVENT_CTL_ADD, 1, &e);
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
			return 0;
		}
		if (e.type == KEVENT_USER)
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
				if (e.type == KEVENT_USER)
					total += e.ret_data;
	}
	kevent_close(qfd);
	if (total != want)
		fprintf(stderr, "# counted %llu, want %llu\n",
			(unsigned long long)total, (unsigned long long)want);
	return total == want;
}

static void *closer(void *arg)
{
	struct timespec d = { 0, 20000000 };

	nanosleep(&d, NULL);
	kevent_close(*(int *)arg);
	return NULL;
}

static int test_close_while_waiting(void)
{
	int i, ok = 1;

	for (i = 0; i < 20 && ok; i++) {
		struct kevent_ring *r;
		int fd = kevent_init(&r, 8, 0);
		pthread_t t;

		pthread_create(&t, NULL, closer, &fd);
		ok = kevent_wait(fd, 1, NULL) == -1 && errno == EBADF;
		pthread_join(t, NULL);
	}
	return ok;
}

int main(void)
{
	int pass = 0, fail = 0;

	printf("1..2\n");
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
	return fail ? 1 : 0;
}
