// SPDX-License-Identifier: MIT
/*
 * peer-libuv.c - libuv (epoll, binary-heap timers with ms resolution) for
 * the chain, wakeup (uv_async_send) and timers workloads.
 */
#include <pthread.h>

#include <uv.h>

#include "common.h"

static struct bench_chain chain;

static void chain_cb(uv_poll_t *h, int status, int events)
{
	if (!bench_chain_fire(&chain, (int)(intptr_t)h->data))
		uv_stop(h->loop);
}

static void run_chain(int argc, char **argv)
{
	uv_loop_t loop;
	uv_poll_t *ps;
	uint64_t t0, t1, t2;
	int i;

	bench_chain_open(&chain, argc, argv);
	ps = calloc((size_t)chain.p.n, sizeof(*ps));
	t0 = bench_now();
	uv_loop_init(&loop);
	for (i = 0; i < chain.p.n; i++) {
		uv_poll_init(&loop, &ps[i], chain.p.rd[i]);
		ps[i].data = (void *)(intptr_t)i;
		uv_poll_start(&ps[i], UV_READABLE, chain_cb);
	}
	uv_run(&loop, UV_RUN_NOWAIT);	/* libuv applies epoll_ctl here */
	t1 = bench_now();
	bench_chain_start(&chain);
	t2 = bench_now();
	uv_run(&loop, UV_RUN_DEFAULT);
	bench_chain_result("libuv", &chain, t1 - t0, bench_now() - t2);
}

/* ---- wakeup: uv_async_send between two loops */
struct side {
	uv_loop_t loop;
	uv_async_t a;
	int got;
};

static struct side sides[2];
static long iters;
static int pinned;

static void async_cb(uv_async_t *h)
{
	((struct side *)h->data)->got = 1;
}

static void side_wait(struct side *s)
{
	while (!s->got)
		uv_run(&s->loop, UV_RUN_ONCE);
	s->got = 0;
}

static void *echo(void *arg)
{
	long i;

	if (pinned)
		bench_pin(0);
	for (i = 0; i < iters; i++) {
		side_wait(&sides[1]);
		uv_async_send(&sides[0].a);
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
		uv_loop_init(&sides[k].loop);
		uv_async_init(&sides[k].loop, &sides[k].a, async_cb);
		sides[k].a.data = &sides[k];
	}
	s = calloc((size_t)iters, sizeof(*s));
	if (pinned)
		bench_pin(0);
	pthread_create(&th, NULL, echo, NULL);
	for (i = 0; i < iters; i++) {
		uint64_t t0 = bench_now();

		uv_async_send(&sides[1].a);
		side_wait(&sides[0]);
		s[i] = bench_now() - t0;
	}
	pthread_join(th, NULL);
	bench_rtt_result("libuv", pinned, s + warm, iters - warm);
}

/* ---- timers (libuv has millisecond resolution: deadlines are rounded) */
static long fired;

static void timer_cb(uv_timer_t *t)
{
	fired++;
}

static void run_timers(int argc, char **argv)
{
	long n = bench_arg(argc, argv, "n", 10000), i;
	long spread = bench_arg(argc, argv, "spread_ms", 20) * 1000000L;
	uint64_t seed = 88172645463325252ull, t0, t1, t2, t3, t4;
	uv_loop_t loop;
	uv_timer_t *ts = calloc((size_t)n, sizeof(*ts));

	uv_loop_init(&loop);
	t0 = bench_now();
	for (i = 0; i < n; i++) {
		uint64_t ns = 1000000ull + bench_rand(&seed) % (uint64_t)spread;

		uv_timer_init(&loop, &ts[i]);
		uv_timer_start(&ts[i], timer_cb, (ns + 999999) / 1000000, 0);
	}
	t1 = bench_now();
	for (i = 0; i < n; i += 2)
		uv_timer_stop(&ts[i]);
	t2 = bench_now();
	bench_sleep_until(t1 + 3000000ull + (uint64_t)spread);
	t3 = bench_now();
	while (fired < n - n / 2)
		uv_run(&loop, UV_RUN_ONCE);
	t4 = bench_now();
	bench_timers_result("libuv", n, t1 - t0, t2 - t1, t4 - t3, fired);
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
	else
		bench_die("libuv: unknown workload %s", argv[1]);
	return 0;
}
