// SPDX-License-Identifier: MIT
/*
 * peer-libev.c - libev (epoll backend, 4-heap timers) for the chain, wakeup
 * and timers workloads.  Usage: bench-libev chain|wakeup|timers libev [k=v]
 */
#include <pthread.h>

#include <ev.h>

#include "common.h"

static struct bench_chain chain;

static void chain_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	if (!bench_chain_fire(&chain, (int)(intptr_t)w->data))
		ev_break(loop, EVBREAK_ALL);
}

static void run_chain(int argc, char **argv)
{
	struct ev_loop *loop;
	ev_io *ws;
	uint64_t t0, t1, t2;
	int i;

	bench_chain_open(&chain, argc, argv);
	ws = calloc((size_t)chain.p.n, sizeof(*ws));
	t0 = bench_now();
	loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
	if (!loop)
		bench_skip("libev: no epoll backend");
	for (i = 0; i < chain.p.n; i++) {
		ev_io_init(&ws[i], chain_cb, chain.p.rd[i], EV_READ);
		ws[i].data = (void *)(intptr_t)i;
		ev_io_start(loop, &ws[i]);
	}
	ev_run(loop, EVRUN_NOWAIT);	/* libev applies epoll_ctl here */
	t1 = bench_now();
	bench_chain_start(&chain);
	t2 = bench_now();
	ev_run(loop, 0);
	bench_chain_result("libev", &chain, t1 - t0, bench_now() - t2);
}

/* ---- wakeup: ev_async between two loops */
struct side {
	struct ev_loop *loop;
	ev_async a;
	int got;
};

static struct side sides[2];
static long iters;
static int pinned;

static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	((struct side *)w->data)->got = 1;
	ev_break(loop, EVBREAK_ONE);
}

static void side_wait(struct side *s)
{
	while (!s->got)
		ev_run(s->loop, EVRUN_ONCE);
	s->got = 0;
}

static void *echo(void *arg)
{
	long i;

	if (pinned)
		bench_pin(0);
	for (i = 0; i < iters; i++) {
		side_wait(&sides[1]);
		ev_async_send(sides[0].loop, &sides[0].a);
	}
	return NULL;
}

static void run_wakeup(int argc, char **argv)
{
	long warm = 1000, i;
	pthread_t th;
	uint64_t *s;
	int k;

	pinned = (int)bench_arg(argc, argv, "pinned", 0);
	iters = bench_arg(argc, argv, "iters", 20000) + warm;
	for (k = 0; k < 2; k++) {
		sides[k].loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
		ev_async_init(&sides[k].a, async_cb);
		sides[k].a.data = &sides[k];
		ev_async_start(sides[k].loop, &sides[k].a);
	}
	s = calloc((size_t)iters, sizeof(*s));
	if (pinned)
		bench_pin(0);
	pthread_create(&th, NULL, echo, NULL);
	for (i = 0; i < iters; i++) {
		uint64_t t0 = bench_now();

		ev_async_send(sides[1].loop, &sides[1].a);
		side_wait(&sides[0]);
		s[i] = bench_now() - t0;
	}
	pthread_join(th, NULL);
	bench_rtt_result("libev", pinned, s + warm, iters - warm);
}

/* ---- timers */
static long fired;

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	fired++;
}

/*
 * Start n one-shot timers with deadlines 1 ms + uniform [0, spread) ns, the
 * same sequence as bench-native's (bench_rand from its fixed seed).
 */
static void start_random_timers(struct ev_loop *loop, ev_timer *ts, long n,
				long spread,
				void (*cb)(struct ev_loop *, ev_timer *, int))
{
	uint64_t seed = 88172645463325252ull;
	long i;

	for (i = 0; i < n; i++) {
		double after = (double)(1000000ull + bench_rand(&seed) %
					(uint64_t)spread) * 1e-9;

		ev_timer_init(&ts[i], cb, after, 0.);
		ev_timer_start(loop, &ts[i]);
	}
}

static void run_timers(int argc, char **argv)
{
	long n = bench_arg(argc, argv, "n", 10000), i;
	long spread = bench_arg(argc, argv, "spread_ms", 20) * 1000000L;
	uint64_t t0, t1, t2, t3, t4;
	struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
	ev_timer *ts = calloc((size_t)n, sizeof(*ts));

	ev_now_update(loop);
	t0 = bench_now();
	start_random_timers(loop, ts, n, spread, timer_cb);
	t1 = bench_now();
	for (i = 0; i < n; i += 2)
		ev_timer_stop(loop, &ts[i]);
	t2 = bench_now();
	bench_sleep_until(t1 + 2000000ull + (uint64_t)spread);
	t3 = bench_now();
	while (fired < n - n / 2)
		ev_run(loop, EVRUN_ONCE);
	t4 = bench_now();
	bench_timers_result("libev", n, t1 - t0, t2 - t1, t4 - t3, fired);
}

/* ---- tloop: the timer loop of a user's program (bench/common.h) */
static long tl_fired, tl_want;

static void tloop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	if (++tl_fired == tl_want)
		ev_break(loop, EVBREAK_ALL);
}

static void run_tloop(int argc, char **argv)
{
	long n = bench_arg(argc, argv, "n", 100000), i;
	long spread = bench_arg(argc, argv, "spread_ms", 1000) * 1000000L;
	long *order = bench_tloop_cancel_order(n);
	uint64_t t0, t1, t2, c0;
	struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
	ev_timer *ts = calloc((size_t)n, sizeof(*ts));
	unsigned int it0;

	if (!loop || !ts)
		bench_die("tloop: libev setup");
	tl_want = n - n / 2;
	ev_now_update(loop);
	t0 = bench_now();
	start_random_timers(loop, ts, n, spread, tloop_cb);
	t1 = bench_now();
	for (i = 0; i < n / 2; i++)
		ev_timer_stop(loop, &ts[order[i]]);
	t2 = bench_now();
	c0 = bench_cpu_ns();
	it0 = ev_iteration(loop);
	ev_run(loop, 0);
	bench_tloop_result("libev", n, t1 - t0, t2 - t1, bench_cpu_ns() - c0,
			   tl_fired, (long)(ev_iteration(loop) - it0));
	free(order);
	free(ts);
	ev_loop_destroy(loop);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "chain"))
		run_chain(argc, argv);
	else if (!strcmp(argv[1], "wakeup"))
		run_wakeup(argc, argv);
	else if (!strcmp(argv[1], "timers"))
		run_timers(argc, argv);
	else if (!strcmp(argv[1], "tloop"))
		run_tloop(argc, argv);
	else
		bench_die("libev: unknown workload %s", argv[1]);
	return 0;
}
