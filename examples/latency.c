// SPDX-License-Identifier: MIT
/*
 * latency.c - a loop that watches its own latencies (kevent(7), "Statistics").
 *
 * It turns statistics on (KEVENT_OPT_STATS), serves a 1 ms timer and user
 * events that a second thread triggers every 300 us, and every second (a
 * timer of its own) prints how long its events took from firing to
 * publication and from publication to its consumption: p50 and p99
 * estimated from the histograms of struct kevent_stats, and the histograms
 * themselves.  They are read from the ring, where the producer and
 * kevent_ring_consume() keep them: no system call.
 *
 *   ./latency                  report every second, until interrupted
 *   ./latency -n 3 -i 200      3 reports, every 200 ms
 *
 * At the end it removes its registrations, takes what is left in the ring
 * and checks that every entry published was counted once in each
 * histogram (exit status 1 otherwise).
 */
#include <errno.h>
#include <kevent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { TICK = 1, WORK = 2, REPORT = 3 };

static int qfd;
static volatile int stop;

static void die(const char *what)
{
	fprintf(stderr, "latency: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void ctl(unsigned int cmd, uint32_t type, uint64_t id, uint32_t flags,
		uint64_t data)
{
	struct ukevent e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.id = id;
	e.req_flags = flags;
	e.data = data;
	if (kevent_ctl(qfd, cmd, 1, &e) != 1) {
		if (e.ret_flags & KEVENT_RET_ERROR)
			errno = (int)e.ret_data;
		die("kevent_ctl");
	}
}

/* The second thread: a user event every 300 us. */
static void *worker(void *arg)
{
	struct timespec d = { 0, 300 * 1000 };

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		ctl(KEVENT_CTL_READY, KEVENT_USER, WORK, 0, 0);
		nanosleep(&d, NULL);
	}
	return NULL;
}

/* The statistics area of the ring: after the entries, in the same mapping. */
static const struct kevent_stats *stats_of(const struct kevent_ring *ring)
{
	if (!ring->stats_offset)
		return NULL;	/* a library or module older than 1.2 */
	return (const struct kevent_stats *)(const void *)
		((const char *)ring + ring->stats_offset);
}

static void snapshot(const struct kevent_stats *st, uint64_t *f2p,
		     uint64_t *p2c)
{
	for (unsigned int i = 0; i < KEVENT_STATS_BUCKETS; i++) {
		f2p[i] = kevent_load_relaxed(&st->fire_to_publish[i]);
		p2c[i] = kevent_load_relaxed(&st->publish_to_consume[i]);
	}
}

static uint64_t total(const uint64_t *h)
{
	uint64_t t = 0;

	for (unsigned int i = 0; i < KEVENT_STATS_BUCKETS; i++)
		t += h[i];
	return t;
}

/*
 * The q-quantile of a histogram in ns: bucket i holds latencies from 2^i
 * to 2^(i+1) ns (bucket 0 from 0); linear inside the bucket.
 */
static double quantile(const uint64_t *h, double q)
{
	double target = q * (double)total(h), cum = 0;

	for (unsigned int i = 0; i < KEVENT_STATS_BUCKETS; i++) {
		double lo = i ? (double)(1ull << i) : 0;
		double hi = (double)(1ull << (i + 1));

		if (!h[i])
			continue;
		if (cum + (double)h[i] >= target)
			return lo + (hi - lo) * (target - cum) / (double)h[i];
		cum += (double)h[i];
	}
	return 0;
}

static const char *us(double ns, char *buf, size_t len)
{
	snprintf(buf, len, "%.1f us", ns / 1000);
	return buf;
}

/* One histogram (its increments since the last report) as bars. */
static void print_hist(const char *title, const uint64_t *h)
{
	uint64_t n = total(h), max = 0;
	char a[32], b[32];

	printf("  %-18s %6llu entries", title, (unsigned long long)n);
	if (!n) {
		printf("\n");
		return;
	}
	printf(", p50 %s, p99 %s\n", us(quantile(h, 0.50), a, sizeof(a)),
	       us(quantile(h, 0.99), b, sizeof(b)));
	for (unsigned int i = 0; i < KEVENT_STATS_BUCKETS; i++)
		if (h[i] > max)
			max = h[i];
	for (unsigned int i = 0; i < KEVENT_STATS_BUCKETS; i++) {
		int bar;

		if (!h[i])
			continue;
		bar = (int)((h[i] * 40 + max - 1) / max);
		printf("    < 2^%-2u ns %8llu %.*s\n", i + 1,
		       (unsigned long long)h[i], bar,
		       "########################################");
	}
}

int main(int argc, char **argv)
{
	uint64_t f2p[KEVENT_STATS_BUCKETS], p2c[KEVENT_STATS_BUCKETS];
	uint64_t last_f2p[KEVENT_STATS_BUCKETS] = { 0 };
	uint64_t last_p2c[KEVENT_STATS_BUCKETS] = { 0 };
	uint64_t last_pub = 0, last_waits = 0, last_sleeps = 0;
	long count = 0, interval_ms = 1000, reports = 0;
	const struct kevent_stats *st;
	struct kevent_ring *ring;
	struct ukevent ev;
	pthread_t thread;
	int opt, rc = 0;

	while ((opt = getopt(argc, argv, "n:i:")) != -1) {
		switch (opt) {
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 'i':
			interval_ms = strtol(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: latency [-n REPORTS] [-i MS]\n");
			return 2;
		}
	}
	if (count < 0 || interval_ms < 1) {
		fprintf(stderr, "latency: -n >= 0, -i >= 1\n");
		return 2;
	}

	qfd = kevent_init(&ring, 0, KEVENT_BACKEND_DEFAULT);
	if (qfd < 0)
		die("kevent_init");
	if (kevent_setopt(qfd, KEVENT_OPT_STATS, 1) < 0)
		die("kevent_setopt KEVENT_OPT_STATS");
	st = stats_of(ring);
	if (!st) {
		fprintf(stderr, "latency: the ring has no statistics area\n");
		return 1;
	}
	printf("latency: backend %s, a 1 ms timer and a user event every "
	       "300 us, a report every %ld ms\n", kevent_backend(qfd),
	       interval_ms);
	ctl(KEVENT_CTL_ADD, KEVENT_TIMER, TICK, 0, 1000000);
	ctl(KEVENT_CTL_ADD, KEVENT_USER, WORK, 0, 0);
	ctl(KEVENT_CTL_ADD, KEVENT_TIMER, REPORT, 0,
	    (uint64_t)interval_ms * 1000000);
	if (pthread_create(&thread, NULL, worker, NULL))
		die("pthread_create");

	while (!count || reports < count) {
		/* serve: from the ring if there is an event, else sleep */
		if (ukevent_dequeue(qfd, ring, &ev, NULL) < 0) {
			if (errno == EINTR)
				continue;
			die("ukevent_dequeue");
		}
		if (ev.type != KEVENT_TIMER || ev.id != REPORT)
			continue;	/* the work: nothing to do here */

		/* the report: plain loads from the ring, no system call */
		uint64_t pub = kevent_load_relaxed(&ring->published);
		uint64_t waits = kevent_load_relaxed(&ring->waits);
		uint64_t sleeps = kevent_load_relaxed(&ring->sleeps);
		uint64_t d_f2p[KEVENT_STATS_BUCKETS], d_p2c[KEVENT_STATS_BUCKETS];

		snapshot(st, f2p, p2c);
		for (unsigned int i = 0; i < KEVENT_STATS_BUCKETS; i++) {
			d_f2p[i] = f2p[i] - last_f2p[i];
			d_p2c[i] = p2c[i] - last_p2c[i];
		}
		reports++;
		printf("report %ld: %llu published, %llu waits, %.0f%% slept\n",
		       reports, (unsigned long long)(pub - last_pub),
		       (unsigned long long)(waits - last_waits),
		       waits > last_waits ? 100.0 * (double)(sleeps - last_sleeps) /
			       (double)(waits - last_waits) : 0.0);
		print_hist("fire to publish", d_f2p);
		print_hist("publish to consume", d_p2c);
		fflush(stdout);
		memcpy(last_f2p, f2p, sizeof(f2p));
		memcpy(last_p2c, p2c, sizeof(p2c));
		last_pub = pub;
		last_waits = waits;
		last_sleeps = sleeps;
	}

	/* The end: no more firings, take what the ring holds, then every
	 * entry published is in each histogram once. */
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	pthread_join(thread, NULL);
	ctl(KEVENT_CTL_REMOVE, KEVENT_TIMER, TICK, 0, 0);
	ctl(KEVENT_CTL_REMOVE, KEVENT_USER, WORK, 0, 0);
	ctl(KEVENT_CTL_REMOVE, KEVENT_TIMER, REPORT, 0, 0);
	while (kevent_ring_consume(ring, &ev))
		;
	snapshot(st, f2p, p2c);
	if (total(f2p) != kevent_load_relaxed(&ring->published) ||
	    total(p2c) != kevent_load_relaxed(&ring->published)) {
		fprintf(stderr, "latency: %llu published, but %llu in "
			"fire_to_publish and %llu in publish_to_consume\n",
			(unsigned long long)ring->published,
			(unsigned long long)total(f2p),
			(unsigned long long)total(p2c));
		rc = 1;
	} else {
		printf("latency: %llu entries, each counted once in both "
		       "histograms\n", (unsigned long long)ring->published);
	}
	kevent_close(qfd);
	return rc;
}
