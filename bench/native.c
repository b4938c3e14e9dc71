// SPDX-License-Identifier: MIT
/*
 * native.c - libkev, raw epoll, io_uring and bare futex configurations of
 * every workload.  Usage:  bench-native WORKLOAD IMPL [key=value ...]
 *
 *   chain   oracle | kev | kev-et | epoll-lt | epoll-et | uring | uring-defer
 *   burst   kev | epoll            (mode=lt|et)
 *   wakeup  kev | eventfd | futex | msgring   (pinned=0|1)
 *   timers  kev | kev-batch
 *   reg     kev | kev-single | epoll
 *
 * kev configurations take backend=epoll|kmod|uring (default epoll), and
 * stats=1 to run with KEVENT_OPT_STATS on, prio=mixed to register the fds
 * of chain and burst on every priority level (i % 8).
 * See common.h for the output protocol.
 */
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include <kevent.h>

#include "common.h"

#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

static int g_argc;
static char **g_argv;

static const char *arg_str(const char *key, const char *def)
{
	size_t len = strlen(key);
	int i;

	for (i = 1; i < g_argc; i++)
		if (!strncmp(g_argv[i], key, len) && g_argv[i][len] == '=')
			return g_argv[i] + len + 1;
	return def;
}

static long arg(const char *key, long def)
{
	return bench_arg(g_argc, g_argv, key, def);
}

/* ---- libkev helpers ---- */

static unsigned int pow2_at_least(unsigned long n)
{
	unsigned int s = 1;

	while (s < n && s < KEVENT_RING_MAX)
		s <<= 1;
	return s;
}

/* Open a queue on the backend named by backend=; skip with a reason when
 * that backend cannot run on this host. */
static int kev_open(unsigned int ring_size, struct kevent_ring **ring)
{
	const char *b = arg_str("backend", "epoll");
	unsigned int flags;
	int fd;

	if (!strcmp(b, "epoll"))
		flags = KEVENT_BACKEND_EPOLL;
	else if (!strcmp(b, "kmod"))
		flags = KEVENT_BACKEND_KMOD;
	else if (!strcmp(b, "uring"))
		flags = KEVENT_BACKEND_URING;
	else
		bench_die("unknown backend %s", b);
	fd = kevent_init(ring, ring_size, flags);
	if (fd < 0) {
		if (errno == ENODEV && flags == KEVENT_BACKEND_KMOD &&
		    access("/dev/kevent", F_OK) < 0)
			bench_skip("libkev backend kmod: /dev/kevent absent "
				   "(kernel module not loaded)");
		if (errno == ENODEV)
			bench_skip("libkev backend %s unavailable "
				   "(kevent_init: ENODEV; not built or not "
				   "supported by this kernel)", b);
		bench_die("kevent_init(%s)", b);
	}
	/* stats=1: with KEVENT_OPT_STATS on, to measure what it costs */
	if (!strcmp(arg_str("stats", "0"), "1") &&
	    kevent_setopt(fd, KEVENT_OPT_STATS, 1) < 0)
		bench_die("kevent_setopt(KEVENT_OPT_STATS)");
	return fd;
}

static char kev_impl_name[64];

static const char *kev_name(const char *suffix)
{
	snprintf(kev_impl_name, sizeof(kev_impl_name), "kev-%s%s%s",
		 arg_str("backend", "epoll"), suffix,
		 strcmp(arg_str("stats", "0"), "1") ? "" : "-stats");
	if (!strcmp(arg_str("prio", "0"), "mixed"))
		strncat(kev_impl_name, "-prio",
			sizeof(kev_impl_name) - strlen(kev_impl_name) - 1);
	return kev_impl_name;
}

static void kev_add_polls(int q, const int *fds, int n, unsigned int req,
			  unsigned int chunk)
{
	struct ukevent *evs = calloc((size_t)n, sizeof(*evs));
	int i, done = 0;

	if (!evs)
		bench_die("calloc");
	for (i = 0; i < n; i++) {
		evs[i].id = (uint64_t)fds[i];
		evs[i].type = KEVENT_POLL;
		evs[i].event = KEVENT_POLL_IN;
		evs[i].req_flags = req;
		evs[i].user = (uint64_t)i;
		/* prio=mixed: the fds spread over every priority level */
		if (!strcmp(arg_str("prio", "0"), "mixed"))
			evs[i].prio = (uint32_t)i % KEVENT_PRIO_LEVELS;
	}
	while (done < n) {
		unsigned int k = (unsigned int)(n - done) < chunk ?
				 (unsigned int)(n - done) : chunk;
		int r = kevent_ctl(q, KEVENT_CTL_ADD, k, evs + done);

		if (r != (int)k)
			bench_die("kevent_ctl ADD: %d of %u", r, k);
		done += (int)k;
	}
	free(evs);
}

/* ================================================================ chain */

static void chain_oracle(struct bench_chain *c)
{
	uint64_t t0 = bench_now();

	bench_chain_plain_loop(c);
	bench_chain_result("oracle", c, 0, bench_now() - t0);
}

static void chain_kev(struct bench_chain *c, int et)
{
	struct kevent_ring *r;
	struct timespec zero = { 0, 0 };
	uint64_t t0, t1, t2;
	int q, running = 1;

	t0 = bench_now();
	q = kev_open(pow2_at_least((unsigned long)c->p.n), &r);
	kev_add_polls(q, c->p.rd, c->p.n, et ? KEVENT_REQ_ET : 0,
		      KEVENT_CTL_BATCH_MAX);
	kevent_wait(q, 1, &zero);
	t1 = bench_now();
	bench_chain_start(c);
	t2 = bench_now();
	while (running) {
		const struct ukevent *e;

		if (kevent_ring_empty(r) && kevent_wait(q, 1, NULL) < 0)
			bench_die("kevent_wait");
		while ((e = kevent_ring_peek(r)) != NULL) {
			int i = (int)e->user;

			kevent_ring_advance(r, 1);
			if (!bench_chain_fire(c, i)) {
				running = 0;
				break;
			}
		}
	}
	bench_chain_result(kev_name(et ? "-et" : ""), c, t1 - t0,
			   bench_now() - t2);
	kevent_close(q);
}

static void chain_epoll(struct bench_chain *c, int et)
{
	struct epoll_event evs[256];
	uint64_t t0, t1, t2;
	int ep, i, running = 1;

	t0 = bench_now();
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (i = 0; i < c->p.n; i++) {
		struct epoll_event ev = {
			.events = EPOLLIN | (et ? EPOLLET : 0),
			.data.u32 = (uint32_t)i,
		};

		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->p.rd[i], &ev) < 0)
			bench_die("epoll_ctl");
	}
	epoll_wait(ep, evs, 256, 0);
	t1 = bench_now();
	bench_chain_start(c);
	t2 = bench_now();
	while (running) {
		int n = epoll_wait(ep, evs, 256, -1);

		if (n < 0)
			bench_die("epoll_wait");
		for (i = 0; i < n; i++)
			if (!bench_chain_fire(c, (int)evs[i].data.u32)) {
				running = 0;
				break;
			}
	}
	bench_chain_result(et ? "epoll-et" : "epoll-lt", c, t1 - t0,
			   bench_now() - t2);
	close(ep);
}

#ifdef HAVE_LIBURING
static void uring_poll(struct io_uring *ring, int fd, uint64_t data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
		if (!sqe)
			bench_die("io_uring_get_sqe");
	}
	io_uring_prep_poll_multishot(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, data);
}

static void uring_setup(struct io_uring *ring, unsigned int entries,
			int defer)
{
	struct io_uring_params p;
	int r;

	memset(&p, 0, sizeof(p));
	if (defer)
		p.flags = IORING_SETUP_SINGLE_ISSUER |
			  IORING_SETUP_DEFER_TASKRUN;
	r = io_uring_queue_init_params(entries, ring, &p);
	if (r == -EINVAL && defer)
		bench_skip("io_uring: kernel refuses IORING_SETUP_DEFER_TASKRUN"
			   " (needs Linux 6.1)");
	if (r == -ENOSYS || r == -EPERM)
		bench_skip("io_uring unavailable (%s; see "
			   "/proc/sys/kernel/io_uring_disabled)", strerror(-r));
	if (r < 0) {
		errno = -r;
		bench_die("io_uring_queue_init_params");
	}
}
#endif

static void chain_uring(struct bench_chain *c, int defer)
{
#ifdef HAVE_LIBURING
	struct io_uring ring;
	uint64_t t0, t1, t2;
	int i, running = 1;

	t0 = bench_now();
	uring_setup(&ring, 4096, defer);
	for (i = 0; i < c->p.n; i++)
		uring_poll(&ring, c->p.rd[i], (uint64_t)i);
	io_uring_submit(&ring);
	t1 = bench_now();
	bench_chain_start(c);
	t2 = bench_now();
	while (running) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		if (io_uring_submit_and_wait(&ring, 1) < 0)
			bench_die("io_uring_submit_and_wait");
		io_uring_for_each_cqe(&ring, head, cqe) {
			int idx = (int)cqe->user_data;

			seen++;
			if (cqe->res < 0) {
				if (cqe->res == -EINVAL)
					bench_skip("io_uring: multishot poll "
						   "unsupported (Linux 5.13)");
				errno = -cqe->res;
				bench_die("poll cqe");
			}
			if (!(cqe->flags & IORING_CQE_F_MORE))
				uring_poll(&ring, c->p.rd[idx],
					   (uint64_t)idx);
			if (running && !bench_chain_fire(c, idx))
				running = 0;
		}
		io_uring_cq_advance(&ring, seen);
	}
	bench_chain_result(defer ? "uring-defer" : "uring", c, t1 - t0,
			   bench_now() - t2);
	io_uring_queue_exit(&ring);
#else
	(void)c;
	(void)defer;
	bench_skip("built without liburing");
#endif
}

static void run_chain(const char *impl)
{
	struct bench_chain c;

	bench_chain_open(&c, g_argc, g_argv);
	if (!strcmp(impl, "oracle"))
		chain_oracle(&c);
	else if (!strcmp(impl, "kev"))
		chain_kev(&c, 0);
	else if (!strcmp(impl, "kev-et"))
		chain_kev(&c, 1);
	else if (!strcmp(impl, "epoll-lt"))
		chain_epoll(&c, 0);
	else if (!strcmp(impl, "epoll-et"))
		chain_epoll(&c, 1);
	else if (!strcmp(impl, "uring"))
		chain_uring(&c, 0);
	else if (!strcmp(impl, "uring-defer"))
		chain_uring(&c, 1);
	else
		bench_die("chain: unknown impl %s", impl);
	bench_pairs_close(&c.p);
}

/* ================================================================ burst */
/*
 * n fds made ready at once.  Per round: write one byte to every pair, then
 * harvest every readiness event, then read every byte back.  Reported per
 * delivered event, averaged over the measured rounds:
 *   harvest_ns  epoll: the epoll_wait loop; kev: kevent_wait + consume
 *   consume_ns  kev only: taking the events already in the ring
 *   cycle_ns    write + harvest + read
 */
struct burst {
	struct bench_pairs p;
	int et, rounds;
	uint64_t harvest, consume, cycle;
	long delivered;
	volatile uint64_t sink;
};

static void burst_write(struct burst *b)
{
	int i;

	for (i = 0; i < b->p.n; i++)
		if (write(b->p.wr[i], "x", 1) != 1)
			bench_die("burst write");
}

static void burst_read(struct burst *b)
{
	char c;
	int i;

	for (i = 0; i < b->p.n; i++)
		if (read(b->p.rd[i], &c, 1) != 1)
			bench_die("burst read");
}

static void burst_epoll(struct burst *b)
{
	struct epoll_event evs[256];
	int ep = epoll_create1(EPOLL_CLOEXEC), i, round;

	for (i = 0; i < b->p.n; i++) {
		struct epoll_event ev = {
			.events = EPOLLIN | (b->et ? EPOLLET : 0),
			.data.u32 = (uint32_t)i,
		};

		if (epoll_ctl(ep, EPOLL_CTL_ADD, b->p.rd[i], &ev) < 0)
			bench_die("epoll_ctl");
	}
	for (round = -1; round < b->rounds; round++) {
		uint64_t t0, t1, t2, t3, sum = 0;
		long got = 0;

		t0 = bench_now();
		burst_write(b);
		t1 = bench_now();
		while (got < b->p.n) {
			int n = epoll_wait(ep, evs, 256, 1000);

			if (n <= 0)
				bench_die("burst epoll_wait: %d", n);
			for (i = 0; i < n; i++)
				sum += evs[i].data.u32;
			got += n;
		}
		t2 = bench_now();
		burst_read(b);
		t3 = bench_now();
		b->sink += sum;
		if (round < 0)
			continue;	/* warm-up */
		b->harvest += t2 - t1;
		b->cycle += t3 - t0;
		b->delivered += got;
	}
	close(ep);
}

static void burst_kev(struct burst *b)
{
	struct kevent_ring *r;
	int q = kev_open(pow2_at_least((unsigned long)b->p.n), &r), round;

	kev_add_polls(q, b->p.rd, b->p.n, b->et ? KEVENT_REQ_ET : 0,
		      KEVENT_CTL_BATCH_MAX);
	for (round = -1; round < b->rounds; round++) {
		struct ukevent ev;
		uint64_t t0, t1, t2, t3, t4, sum = 0;
		long got = 0;
		int n;

		t0 = bench_now();
		burst_write(b);
		t1 = bench_now();
		/* A backend that never gathers n events must not hang the
		 * run: 10 s is > 1000x the time a working one needs. */
		do {
			struct timespec limit = { 10, 0 };

			n = kevent_wait(q, (unsigned int)b->p.n, &limit);
		} while (n < 0 && errno == EINTR);
		if (n != b->p.n) {
			fprintf(stderr, "bench: burst %s %s: kevent_wait(min_nr="
				"%d, 10 s) returned %d (ring holds %u): the "
				"backend did not gather every ready fd\n",
				kev_name(""), b->et ? "ET" : "LT", b->p.n, n,
				kevent_ring_count(r));
			exit(1);
		}
		t2 = bench_now();
		while (kevent_ring_consume(r, &ev)) {
			sum += ev.user;
			got++;
		}
		t3 = bench_now();
		burst_read(b);
		t4 = bench_now();
		if (got != b->p.n)
			bench_die("burst: consumed %ld", got);
		b->sink += sum;
		if (round < 0)
			continue;
		b->harvest += t3 - t1;
		b->consume += t3 - t2;
		b->cycle += t4 - t0;
		b->delivered += got;
	}
	/* Let the queue reap the last round before closing (not timed). */
	kevent_close(q);
}

static void run_burst(const char *impl)
{
	struct burst b;
	const char *mode = arg_str("mode", "lt");
	char name[64];

	memset(&b, 0, sizeof(b));
	b.et = !strcmp(mode, "et");
	b.rounds = (int)arg("rounds", 5);
	bench_pairs_open(&b.p, (int)arg("n", 10000));
	if (!strcmp(impl, "kev")) {
		burst_kev(&b);
		snprintf(name, sizeof(name), "%s", kev_name(""));
	} else if (!strcmp(impl, "epoll")) {
		burst_epoll(&b);
		snprintf(name, sizeof(name), "epoll");
	} else {
		bench_die("burst: unknown impl %s", impl);
	}
	printf("RESULT workload=burst impl=%s mode=%s n=%d rounds=%d "
	       "harvest_ns=%.3f consume_ns=%.3f cycle_ns=%.3f\n", name, mode,
	       b.p.n, b.rounds, (double)b.harvest / (double)b.delivered,
	       (double)b.consume / (double)b.delivered,
	       (double)b.cycle / (double)b.delivered);
	bench_pairs_close(&b.p);
}

/* =============================================================== wakeup */
/*
 * Two threads; the main one sends, the echo thread waits and sends back.
 * Each side owns its own wait object; send() signals the peer's.
 */
struct side {
	int efd, ep;			/* eventfd */
	int q;				/* kev */
	struct kevent_ring *ring;
	int word;			/* futex */
#ifdef HAVE_LIBURING
	struct io_uring uring;		/* msgring */
#endif
};

struct wake {
	const char *impl;
	struct side s[2];
	long iters;
	int pinned;
};

static void side_send(struct wake *w, int to)
{
	struct side *peer = &w->s[to];

	switch (w->impl[0]) {
	case 'f':	/* futex */
		__atomic_store_n(&peer->word, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &peer->word, FUTEX_WAKE_PRIVATE, 1,
			NULL, NULL, 0);
		break;
	case 'e': {	/* eventfd */
		uint64_t one = 1;

		if (write(peer->efd, &one, 8) != 8)
			bench_die("eventfd write");
		break;
	}
	case 'k': {	/* kev */
		struct ukevent ev;

		memset(&ev, 0, sizeof(ev));
		ev.id = 1;
		ev.type = KEVENT_USER;
		if (kevent_ctl(peer->q, KEVENT_CTL_READY, 1, &ev) != 1)
			bench_die("kevent_ctl READY");
		break;
	}
#ifdef HAVE_LIBURING
	case 'm': {	/* msgring: a CQE posted into the peer's ring */
		struct side *me = &w->s[1 - to];
		struct io_uring_sqe *sqe = io_uring_get_sqe(&me->uring);

		io_uring_prep_msg_ring(sqe, peer->uring.ring_fd, 0, 0xbeef, 0);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		io_uring_sqe_set_data64(sqe, 1);
		if (io_uring_submit(&me->uring) != 1)
			bench_die("msg_ring submit");
		break;
	}
#endif
	}
}

static void side_wait(struct wake *w, int who)
{
	struct side *me = &w->s[who];

	switch (w->impl[0]) {
	case 'f':
		while (!__atomic_exchange_n(&me->word, 0, __ATOMIC_ACQUIRE))
			syscall(SYS_futex, &me->word, FUTEX_WAIT_PRIVATE, 0,
				NULL, NULL, 0);
		break;
	case 'e': {
		struct epoll_event ev;
		uint64_t v;

		if (epoll_wait(me->ep, &ev, 1, -1) != 1)
			bench_die("epoll_wait");
		if (read(me->efd, &v, 8) != 8)
			bench_die("eventfd read");
		break;
	}
	case 'k': {
		struct ukevent ev;

		if (ukevent_dequeue(me->q, me->ring, &ev, NULL) < 0)
			bench_die("ukevent_dequeue");
		break;
	}
#ifdef HAVE_LIBURING
	case 'm':
		for (;;) {
			struct io_uring_cqe *cqe;
			uint64_t ud;
			int res;

			if (io_uring_wait_cqe(&me->uring, &cqe) < 0)
				bench_die("io_uring_wait_cqe");
			ud = cqe->user_data;
			res = cqe->res;
			io_uring_cqe_seen(&me->uring, cqe);
			if (res == -EINVAL || res == -EOPNOTSUPP)
				bench_skip("io_uring: IORING_OP_MSG_RING "
					   "unsupported (Linux 5.18)");
			if (res < 0) {
				errno = -res;
				bench_die("msg_ring cqe");
			}
			if (ud == 0xbeef)
				break;
		}
		break;
#endif
	}
}

static void side_init(struct wake *w, struct side *s)
{
	memset(s, 0, sizeof(*s));
	switch (w->impl[0]) {
	case 'e': {
		struct epoll_event ev = { .events = EPOLLIN };

		s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		s->ep = epoll_create1(EPOLL_CLOEXEC);
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->efd, &ev) < 0)
			bench_die("epoll_ctl");
		break;
	}
	case 'k': {
		struct ukevent ev;

		s->q = kev_open(64, &s->ring);
		memset(&ev, 0, sizeof(ev));
		ev.id = 1;
		ev.type = KEVENT_USER;
		if (kevent_ctl(s->q, KEVENT_CTL_ADD, 1, &ev) != 1)
			bench_die("kevent_ctl ADD user");
		break;
	}
	case 'm':
#ifdef HAVE_LIBURING
		uring_setup(&s->uring, 8, 0);
		break;
#else
		bench_skip("built without liburing");
#endif
	}
}

static void *wake_echo(void *arg)
{
	struct wake *w = arg;
	long i;

	if (w->pinned)
		bench_pin(0);
	for (i = 0; i < w->iters; i++) {
		side_wait(w, 1);
		side_send(w, 0);
	}
	return NULL;
}

static void run_wakeup(const char *impl)
{
	struct wake w;
	pthread_t th;
	uint64_t *s;
	long warm = 1000, i;

	memset(&w, 0, sizeof(w));
	w.impl = impl;
	w.pinned = (int)arg("pinned", 0);
	w.iters = arg("iters", 20000) + warm;
	if (strcmp(impl, "futex") && strcmp(impl, "eventfd") &&
	    strcmp(impl, "kev") && strcmp(impl, "msgring"))
		bench_die("wakeup: unknown impl %s", impl);
	side_init(&w, &w.s[0]);
	side_init(&w, &w.s[1]);
	s = calloc((size_t)w.iters, sizeof(*s));
	if (w.pinned && bench_pin(0) < 0)
		bench_die("sched_setaffinity");
	if (pthread_create(&th, NULL, wake_echo, &w))
		bench_die("pthread_create");
	for (i = 0; i < w.iters; i++) {
		uint64_t t0 = bench_now();

		side_send(&w, 1);
		side_wait(&w, 0);
		s[i] = bench_now() - t0;
	}
	pthread_join(th, NULL);
	bench_rtt_result(!strcmp(impl, "kev") ? kev_name("") :
			 !strcmp(impl, "eventfd") ? "eventfd-epoll" : impl,
			 w.pinned, s + warm, w.iters - warm);
	free(s);
}

/* =============================================================== timers */
/*
 * n one-shot timers with random deadlines 1ms + [0, spread): add all, cancel
 * every other one, wait until every deadline has passed, then time the
 * harvest of the n - n/2 expirations.
 */
static void run_timers(const char *impl)
{
	long n = arg("n", 10000), spread = arg("spread_ms", 20) * 1000000L;
	long batch = !strcmp(impl, "kev-batch") ? arg("batch", 1024) : 1;
	uint64_t seed = 88172645463325252ull, t0, t1, t2, t3, t4;
	struct kevent_ring *r;
	struct ukevent *evs = calloc((size_t)batch, sizeof(*evs)), ev;
	struct timespec wt = { 1, 0 };
	long i, k, fired = 0, want = n - n / 2;
	int q;

	if (strcmp(impl, "kev") && strcmp(impl, "kev-batch"))
		bench_die("timers: unknown impl %s", impl);
	q = kev_open(pow2_at_least((unsigned long)want), &r);
	t0 = bench_now();
	for (i = 0; i < n; i += k) {
		for (k = 0; k < batch && i + k < n; k++) {
			struct ukevent *e = &evs[k];

			memset(e, 0, sizeof(*e));
			e->id = (uint64_t)(i + k);
			e->type = KEVENT_TIMER;
			e->req_flags = KEVENT_REQ_ONESHOT;
			e->data = 1000000ull + bench_rand(&seed) %
				  (uint64_t)spread;
		}
		if (kevent_ctl(q, KEVENT_CTL_ADD, (unsigned int)k, evs) != k)
			bench_die("timer ADD");
	}
	t1 = bench_now();
	for (i = 0; i < n; i += 2 * k) {
		for (k = 0; k < batch && i + 2 * k < n; k++) {
			memset(&evs[k], 0, sizeof(evs[k]));
			evs[k].id = (uint64_t)(i + 2 * k);
			evs[k].type = KEVENT_TIMER;
		}
		if (kevent_ctl(q, KEVENT_CTL_REMOVE, (unsigned int)k, evs) != k)
			bench_die("timer REMOVE");
	}
	t2 = bench_now();
	/* Every deadline is at most t1 + 1ms + spread. */
	bench_sleep_until(t1 + 2000000ull + (uint64_t)spread);
	t3 = bench_now();
	while (fired < want) {
		int got = kevent_wait(q, 1, &wt);

		if (got <= 0)
			bench_die("timers: kevent_wait %d after %ld", got, fired);
		while (kevent_ring_consume(r, &ev))
			fired++;
	}
	t4 = bench_now();
	bench_timers_result(kev_name(batch > 1 ? "-batch" : ""), n, t1 - t0,
			    t2 - t1, t4 - t3, fired);
	kevent_close(q);
	free(evs);
}

/*
 * The timer loop of a user's program (bench_tloop_cancel_order): deadlines
 * uniform over spread_ms (1 s), half cancelled in random order, then
 * kevent_wait() until each remaining timer fired.  slack_ns= sets the
 * queue's timer slack (default: the library's, 50 us).  Reports the CPU
 * of the loop per fire and the wake-ups (waits that returned) per fire.
 */
static void run_tloop(const char *impl)
{
	long n = arg("n", 100000), spread = arg("spread_ms", 1000) * 1000000L;
	long slack = arg("slack_ns", -1), i, fired = 0, wakeups = 0;
	long want = n - n / 2, *order = bench_tloop_cancel_order(n);
	uint64_t seed = 88172645463325252ull, t0, t1, t2, c0;
	struct kevent_ring *r;
	struct ukevent ev;
	char name[64];
	int q;

	if (strcmp(impl, "kev"))
		bench_die("tloop: unknown impl %s", impl);
	q = kev_open(pow2_at_least((unsigned long)want), &r);
	if (slack >= 0 &&
	    kevent_setopt(q, KEVENT_OPT_TIMER_SLACK, (uint64_t)slack) < 0)
		bench_die("kevent_setopt: %s", strerror(errno));
	t0 = bench_now();
	for (i = 0; i < n; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.id = (uint64_t)i;
		ev.type = KEVENT_TIMER;
		ev.req_flags = KEVENT_REQ_ONESHOT;
		ev.data = 1000000ull + bench_rand(&seed) % (uint64_t)spread;
		if (kevent_ctl(q, KEVENT_CTL_ADD, 1, &ev) != 1)
			bench_die("timer ADD");
	}
	t1 = bench_now();
	for (i = 0; i < n / 2; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.id = (uint64_t)order[i];
		ev.type = KEVENT_TIMER;
		/* already fired (a slow machine): its entry is consumed below */
		if (kevent_ctl(q, KEVENT_CTL_REMOVE, 1, &ev) != 1)
			want--;
	}
	t2 = bench_now();
	c0 = bench_cpu_ns();
	while (fired < want) {
		int got = kevent_wait(q, 1, NULL);

		if (got <= 0)
			bench_die("tloop: kevent_wait %d after %ld", got, fired);
		wakeups++;
		while (kevent_ring_consume(r, &ev))
			fired++;
	}
	snprintf(name, sizeof(name), "%s%s", kev_name(""),
		 slack < 0 ? "" : slack == 0 ? "-slack0" : "-slack");
	bench_tloop_result(name, n, t1 - t0, t2 - t1, bench_cpu_ns() - c0,
			   fired, wakeups);
	kevent_close(q);
	free(order);
}

/* ========================================================= registration */
/*
 * Register n fds; timed, and (the first pass) bracketed by two getppid()
 * markers so that run.py can count the system calls in between under
 * strace -f.
 */
static void run_reg(const char *impl)
{
	struct bench_pairs p;
	struct kevent_ring *r;
	uint64_t t0, t1, best = UINT64_MAX;
	int rep, reps = (int)arg("reps", 5), i;
	int kev = strcmp(impl, "epoll") != 0;

	if (kev && strcmp(impl, "kev") && strcmp(impl, "kev-single"))
		bench_die("reg: unknown impl %s", impl);
	bench_pairs_open(&p, (int)arg("n", 10000));
	/* reps fresh queues; the fastest registration pass is reported */
	for (rep = 0; rep < reps; rep++) {
		int q = -1, ep = -1;

		if (kev)
			q = kev_open(pow2_at_least((unsigned long)p.n), &r);
		else
			ep = epoll_create1(EPOLL_CLOEXEC);
		if (rep == 0)
			syscall(SYS_getppid);	/* marker */
		t0 = bench_now();
		if (!kev) {
			for (i = 0; i < p.n; i++) {
				struct epoll_event ev = {
					.events = EPOLLIN,
					.data.u32 = (uint32_t)i,
				};

				if (epoll_ctl(ep, EPOLL_CTL_ADD, p.rd[i],
					      &ev) < 0)
					bench_die("epoll_ctl");
			}
		} else {
			kev_add_polls(q, p.rd, p.n, 0,
				      !strcmp(impl, "kev") ?
				      KEVENT_CTL_BATCH_MAX : 1);
		}
		t1 = bench_now();
		if (rep == 0)
			syscall(SYS_getppid);	/* marker */
		if (t1 - t0 < best)
			best = t1 - t0;
		if (kev)
			kevent_close(q);
		else
			close(ep);
	}
	printf("RESULT workload=reg impl=%s n=%d ns_per_fd=%.2f\n",
	       !kev ? "epoll" : kev_name(!strcmp(impl, "kev") ? "-batch"
					  : "-single"),
	       p.n, (double)best / p.n);
	bench_pairs_close(&p);
}

int main(int argc, char **argv)
{
	g_argc = argc;
	g_argv = argv;
	if (argc < 3) {
		fprintf(stderr, "usage: %s chain|burst|wakeup|timers|reg IMPL "
			"[key=value...]\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[1], "chain"))
		run_chain(argv[2]);
	else if (!strcmp(argv[1], "burst"))
		run_burst(argv[2]);
	else if (!strcmp(argv[1], "wakeup"))
		run_wakeup(argv[2]);
	else if (!strcmp(argv[1], "timers"))
		run_timers(argv[2]);
	else if (!strcmp(argv[1], "tloop"))
		run_tloop(argv[2]);
	else if (!strcmp(argv[1], "reg"))
		run_reg(argv[2]);
	else
		bench_die("unknown workload %s", argv[1]);
	fflush(stdout);
	return 0;
}
