// SPDX-License-Identifier: MIT
/*
 * peer-libevent.c - libevent 2.1 (epoll backend, binary min-heap timers)
 * for the chain, wakeup (event_active across threads) and timers workloads.
 */
#include <pthread.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/thread.h>

#include "common.h"

static struct bench_chain chain;
static struct event_base *cbase;

static void chain_cb(evutil_socket_t fd, short what, void *arg)
{
	if (!bench_chain_fire(&chain, (int)(intptr_t)arg))
		event_base_loopbreak(cbase);
}

static struct event_base *new_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *b;

	event_config_avoid_method(cfg, "poll");
	event_config_avoid_method(cfg, "select");
	b = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (!b)
		bench_skip("libevent: no epoll base");
	return b;
}

static void run_chain(int argc, char **argv)
{
	struct event *evs;
	size_t sz = event_get_struct_event_size();
	uint64_t t0, t1, t2;
	int i;

	bench_chain_open(&chain, argc, argv);
	evs = calloc((size_t)chain.p.n, sz);
	t0 = bench_now();
	cbase = new_base();
	for (i = 0; i < chain.p.n; i++) {
		struct event *e = (struct event *)((char *)evs + sz * i);

		event_assign(e, cbase, chain.p.rd[i], EV_READ | EV_PERSIST,
			     chain_cb, (void *)(intptr_t)i);
		event_add(e, NULL);
	}
	event_base_loop(cbase, EVLOOP_NONBLOCK);  /* applies the changelist */
	t1 = bench_now();
	bench_chain_start(&chain);
	t2 = bench_now();
	event_base_dispatch(cbase);
	bench_chain_result("libevent", &chain, t1 - t0, bench_now() - t2);
}

/* ---- wakeup: event_active() from the other thread */
struct side {
	struct event_base *base;
	struct event *ev;
	int got;
};

static struct side sides[2];
static long iters;
static int pinned;

static void active_cb(evutil_socket_t fd, short what, void *arg)
{
	((struct side *)arg)->got = 1;
}

static void side_wait(struct side *s)
{
	while (!s->got)
		event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
	s->got = 0;
}

static void *echo(void *arg)
{
	long i;

	if (pinned)
		bench_pin(0);
	for (i = 0; i < iters; i++) {
		side_wait(&sides[1]);
		event_active(sides[0].ev, EV_READ, 0);
	}
	return NULL;
}

static void run_wakeup(int argc, char **argv)
{
	long warm = 1000, i;
	pthread_t th;
	uint64_t *s;
	int k;

	if (evthread_use_pthreads() < 0)
		bench_skip("libevent: evthread_use_pthreads failed");
	pinned = (int)bench_arg(argc, argv, "pinned", 0);
	iters = bench_arg(argc, argv, "iters", 20000) + warm;
	for (k = 0; k < 2; k++) {
		sides[k].base = new_base();
		sides[k].ev = event_new(sides[k].base, -1, 0, active_cb,
					&sides[k]);
	}
	s = calloc((size_t)iters, sizeof(*s));
	if (pinned)
		bench_pin(0);
	pthread_create(&th, NULL, echo, NULL);
	for (i = 0; i < iters; i++) {
		uint64_t t0 = bench_now();

		event_active(sides[1].ev, EV_READ, 0);
		side_wait(&sides[0]);
		s[i] = bench_now() - t0;
	}
	pthread_join(th, NULL);
	bench_rtt_result("libevent", pinned, s + warm, iters - warm);
}

/* ---- timers */
static long fired;

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	fired++;
}

static void run_timers(int argc, char **argv)
{
	long n = bench_arg(argc, argv, "n", 10000), i;
	long spread = bench_arg(argc, argv, "spread_ms", 20) * 1000000L;
	uint64_t seed = 88172645463325252ull, t0, t1, t2, t3, t4;
	struct event_base *base = new_base();
	size_t sz = event_get_struct_event_size();
	char *evs = calloc((size_t)n, sz);

	t0 = bench_now();
	for (i = 0; i < n; i++) {
		struct event *e = (struct event *)(evs + sz * i);
		uint64_t ns = 1000000ull + bench_rand(&seed) % (uint64_t)spread;
		struct timeval tv = { (time_t)(ns / 1000000000ull),
				      (suseconds_t)(ns % 1000000000ull / 1000) };

		evtimer_assign(e, base, timer_cb, NULL);
		evtimer_add(e, &tv);
	}
	t1 = bench_now();
	for (i = 0; i < n; i += 2)
		evtimer_del((struct event *)(evs + sz * i));
	t2 = bench_now();
	bench_sleep_until(t1 + 2000000ull + (uint64_t)spread);
	t3 = bench_now();
	while (fired < n - n / 2)
		event_base_loop(base, EVLOOP_ONCE);
	t4 = bench_now();
	bench_timers_result("libevent", n, t1 - t0, t2 - t1, t4 - t3, fired);
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
		bench_die("libevent: unknown workload %s", argv[1]);
	return 0;
}
