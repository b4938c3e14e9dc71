// SPDX-License-Identifier: MIT
/*
 * million.c - a program with a million registrations.
 *
 * One queue, a ring far smaller than the registrations (the rest waits on
 * the ready list), and 1,000,000 of each of:
 *   user   ADD in a scrambled order, READY all, every id delivered exactly
 *          once; DISABLE every other one, READY all again: only the
 *          enabled half comes, the other on ENABLE; READY all and REMOVE
 *          them in reverse order while they wait on the ready list;
 *   timer  ADD of one-shot absolute timers whose deadlines have passed,
 *          spread over three clocks: every one fires exactly once, and
 *          a ONESHOT timer is gone after its delivery (REMOVE: ENOENT);
 *   mixed  half user, half timers in one queue, then kevent_close with
 *          all of them still registered (what must not leak or crash
 *          shows under ASan).
 * TAP; each test prints how long it took (a report: nothing is asserted
 * on time).  KEVENT_BACKEND picks the backend; with an argument N, N
 * registrations instead of a million.
 */
#include <errno.h>
#include <kevent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/ukevent.h"

#define BATCH	65536u
#define RING	4096u

static unsigned int n = 1000000;
static int test_no;
static int failed;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void result(int ok, const char *what, double t0)
{
	test_no++;
	printf("%sok %d - %s (%.2fs)\n", ok ? "" : "not ", test_no, what,
	       now_s() - t0);
	fflush(stdout);
	if (!ok)
		failed++;
}

#define check(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("# %s:%d: ", __FILE__, __LINE__);           \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
			return 0;                                          \
		}                                                          \
	} while (0)

static struct ukevent ev(uint32_t type, uint64_t id, uint32_t event,
			 uint32_t req, uint64_t data, uint64_t user)
{
	return kt_ukevent(type, id, event, req, data, user);
}

/* id number i of a scrambled order of 0..n-1 (n and the step coprime) */
static uint64_t scrambled(unsigned int i)
{
	return ((uint64_t)i * 7919u) % n;
}

static struct ukevent *buf;

/* cmd on every id in batches, ids from idf(i); every entry must succeed */
static int ctl_all(int fd, unsigned int cmd, uint32_t type,
		   uint64_t (*idf)(unsigned int), uint32_t req)
{
	unsigned int i, k;

	for (i = 0; i < n; i += k) {
		int r;

		k = n - i < BATCH ? n - i : BATCH;
		for (unsigned int j = 0; j < k; j++) {
			uint64_t id = idf(i + j);

			buf[j] = ev(type, id, 0, req, 0, id + 1);
		}
		r = kevent_ctl(fd, cmd, k, buf);
		check(r == (int)k, "cmd %u: %d of %u entries (%s)", cmd, r, k,
		      r < 0 ? strerror(errno) :
		      strerror((int)buf[r].ret_data));
	}
	return 1;
}

/*
 * Take every event until none is left (waits with timeout 0, the ring
 * drained in place): each (type, id) at most once, and count them.
 */
static long drain(int fd, struct kevent_ring *ring, uint32_t type,
		  unsigned char *seen)
{
	static const struct timespec zero;
	long got = 0;
	int idle = 0;

	memset(seen, 0, n);
	while (idle < 3) {
		struct ukevent e;
		int any = 0;

		if (kevent_wait(fd, 1, &zero) < 0 && errno != EINTR)
			return -1;
		while (kevent_ring_consume(ring, &e)) {
			any = 1;
			if (e.type != type || e.id >= n || e.user != e.id + 1 ||
			    seen[e.id]) {
				printf("# bad or repeated delivery: type %u id %llu user %llu\n",
				       e.type, (unsigned long long)e.id,
				       (unsigned long long)e.user);
				return -1;
			}
			seen[e.id] = 1;
			got++;
		}
		idle = any ? 0 : idle + 1;
	}
	return got;
}

static uint64_t forward(unsigned int i) { return i; }
static uint64_t reverse(unsigned int i) { return n - 1 - i; }
static uint64_t even(unsigned int i) { return 2 * (uint64_t)i; }

static int user_test(unsigned char *seen)
{
	struct kevent_ring *ring;
	int fd = kevent_init(&ring, RING, 0);
	long got;
	/* the even ids 0, 2, ...: (n + 1) / 2 of them */
	unsigned int half = (n + 1) / 2, saved = n;

	check(fd >= 0, "kevent_init: %s", strerror(errno));
	if (!ctl_all(fd, KEVENT_CTL_ADD, KEVENT_USER, scrambled, 0) ||
	    !ctl_all(fd, KEVENT_CTL_READY, KEVENT_USER, forward, 0))
		return 0;
	got = drain(fd, ring, KEVENT_USER, seen);
	check(got == (long)n, "%ld of %u user events", got, n);
	/* DISABLE the even ids, READY everything: only the odd ones come */
	n = half;
	if (!ctl_all(fd, KEVENT_CTL_DISABLE, KEVENT_USER, even, 0))
		return 0;
	n = saved;
	if (!ctl_all(fd, KEVENT_CTL_READY, KEVENT_USER, reverse, 0))
		return 0;
	got = drain(fd, ring, KEVENT_USER, seen);
	check(got == (long)(n - half),
	      "%ld user events with the even ids disabled, %u expected",
	      got, n - half);
	for (unsigned int i = 0; i < n; i++)
		check(seen[i] == (i & 1), "id %u %s", i,
		      seen[i] ? "delivered while disabled" : "missing");
	/* the disabled ones kept their trigger: ENABLE delivers them */
	n = half;
	if (!ctl_all(fd, KEVENT_CTL_ENABLE, KEVENT_USER, even, 0))
		return 0;
	n = saved;
	got = drain(fd, ring, KEVENT_USER, seen);
	check(got == (long)half, "%ld pending events on ENABLE, %u expected",
	      got, half);
	/*
	 * READY all again, then REMOVE them in reverse order while almost
	 * all of them wait on the ready list (a list walk per removal would
	 * take hours here), and nothing is left to deliver.
	 */
	if (!ctl_all(fd, KEVENT_CTL_READY, KEVENT_USER, forward, 0) ||
	    !ctl_all(fd, KEVENT_CTL_REMOVE, KEVENT_USER, reverse, 0))
		return 0;
	kevent_ring_advance(ring, kevent_ring_count(ring));
	got = drain(fd, ring, KEVENT_USER, seen);
	check(got == 0, "%ld events after every registration was removed", got);
	check(kevent_close(fd) == 0, "kevent_close: %s", strerror(errno));
	return 1;
}

static int timer_test(unsigned char *seen)
{
	static const clockid_t clocks[3] = {
		CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME };
	static const uint32_t flags[3] = {
		0, KEVENT_TIMER_REALTIME, KEVENT_TIMER_BOOTTIME };
	struct kevent_ring *ring;
	int fd = kevent_init(&ring, RING * 16, 0);
	uint64_t base[3];
	unsigned int i, k;
	long got;

	check(fd >= 0, "kevent_init: %s", strerror(errno));
	for (int c = 0; c < 3; c++) {
		struct timespec ts;

		clock_gettime(clocks[c], &ts);
		base[c] = (uint64_t)ts.tv_sec * 1000000000u +
			  (uint64_t)ts.tv_nsec;
	}
	for (i = 0; i < n; i += k) {
		int r;

		k = n - i < BATCH ? n - i : BATCH;
		for (unsigned int j = 0; j < k; j++) {
			uint64_t id = scrambled(i + j);
			int c = (int)(id % 3);

			/* passed deadlines, a microsecond apart */
			buf[j] = ev(KEVENT_TIMER, id,
				    flags[c] | KEVENT_TIMER_ABSTIME,
				    KEVENT_REQ_ONESHOT,
				    base[c] - (n - id) * 1000u, id + 1);
		}
		r = kevent_ctl(fd, KEVENT_CTL_ADD, k, buf);
		check(r == (int)k, "ADD: %d of %u (%s)", r, k,
		      r < 0 ? strerror(errno) : strerror((int)buf[r].ret_data));
	}
	got = drain(fd, ring, KEVENT_TIMER, seen);
	check(got == (long)n, "%ld of %u timers fired", got, n);
	/* one-shot: all gone */
	buf[0] = ev(KEVENT_TIMER, n / 2, 0, 0, 0, 0);
	check(kevent_ctl(fd, KEVENT_CTL_REMOVE, 1, buf) == 0 &&
	      buf[0].ret_data == ENOENT, "a fired ONESHOT timer is still there");
	check(kevent_close(fd) == 0, "kevent_close: %s", strerror(errno));
	return 1;
}

static int mixed_test(void)
{
	struct kevent_ring *ring;
	int fd = kevent_init(&ring, 64, 0);
	unsigned int i, k;

	check(fd >= 0, "kevent_init: %s", strerror(errno));
	for (i = 0; i < n; i += k) {
		int r;

		k = n - i < BATCH ? n - i : BATCH;
		for (unsigned int j = 0; j < k; j++) {
			uint64_t id = i + j;

			buf[j] = id & 1 ?
				ev(KEVENT_TIMER, id, 0, 0, 3600000000000ull, 0) :
				ev(KEVENT_USER, id, 0, 0, 0, 0);
		}
		r = kevent_ctl(fd, KEVENT_CTL_ADD, k, buf);
		check(r == (int)k, "ADD: %d of %u", r, k);
		for (unsigned int j = 0; j < k; j += 2)
			buf[j / 2] = ev(KEVENT_USER, i + j, 0, 0, 0, 0);
		r = kevent_ctl(fd, KEVENT_CTL_READY, (k + 1) / 2, buf);
		check(r == (int)(k + 1) / 2, "READY: %d of %u", r, (k + 1) / 2);
	}
	check(kevent_close(fd) == 0, "kevent_close: %s", strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	unsigned char *seen;
	double t0;
	char what[128];

	if (argc > 1)
		n = (unsigned int)strtoul(argv[1], NULL, 0);
	if (n < 2 || n % 7919 == 0) {
		fprintf(stderr, "usage: million [N]  (N >= 2, not a multiple of 7919)\n");
		return 2;
	}
	buf = calloc(BATCH, sizeof(*buf));
	seen = malloc(n);
	if (!buf || !seen) {
		perror("malloc");
		return 1;
	}
	printf("1..3\n# backend %s, %u registrations per test, ring %u\n",
	       getenv("KEVENT_BACKEND") ? getenv("KEVENT_BACKEND") : "default",
	       n, RING);
	t0 = now_s();
	snprintf(what, sizeof(what), "%u user registrations: READY, DISABLE half, ENABLE, REMOVE while ready", n);
	result(user_test(seen), what, t0);
	t0 = now_s();
	snprintf(what, sizeof(what), "%u one-shot timers over three clocks fire once each", n);
	result(timer_test(seen), what, t0);
	t0 = now_s();
	snprintf(what, sizeof(what), "%u user and timer registrations closed with the queue", n);
	result(mixed_test(), what, t0);
	printf("# million: %d of 3 passed\n", 3 - failed);
	free(seen);
	free(buf);
	return failed ? 1 : 0;
}
