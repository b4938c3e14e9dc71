/* SPDX-License-Identifier: MIT */
/*
 * common.h - helpers shared by the libkev benchmark programs (header-only so
 * that each peer library lives in its own translation unit: libev and
 * libevent both define EV_READ with different values).
 *
 * Protocol with bench/run.py: a program runs ONE configuration and prints
 *   RESULT key=value key=value ...
 * or, when the configuration cannot run here,
 *   SKIP <reason>
 * and exits with status 77.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_SKIP_STATUS 77

static inline uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 1, 2), noreturn))
static inline void bench_skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(BENCH_SKIP_STATUS);
}

__attribute__((format(printf, 1, 2), noreturn))
static inline void bench_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (errno %d: %s)\n", errno, strerror(errno));
	exit(1);
}

/* key=value arguments: bench_arg(argc, argv, "n", 1000) */
static inline long bench_arg(int argc, char **argv, const char *key, long def)
{
	size_t len = strlen(key);
	int i;

	for (i = 1; i < argc; i++)
		if (!strncmp(argv[i], key, len) && argv[i][len] == '=')
			return strtol(argv[i] + len + 1, NULL, 0);
	return def;
}

/*
 * Room for `need` descriptors: raise the soft limit, and the hard one if we
 * may (CAP_SYS_RESOURCE).  Returns how many descriptors we may open.
 */
static inline long bench_nofile(long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return need;
	if ((long)rl.rlim_cur >= need)
		return (long)rl.rlim_cur;
	if ((long)rl.rlim_max < need) {
		struct rlimit r2 = { (rlim_t)need, (rlim_t)need };

		if (setrlimit(RLIMIT_NOFILE, &r2) == 0)
			return need;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	return (long)rl.rlim_max;
}

/* Pin the calling thread to one CPU. */
static inline int bench_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* n nonblocking AF_UNIX stream socketpairs: rd[i] is watched, wr[i] written. */
struct bench_pairs {
	int n;
	int *rd;
	int *wr;
};

/*
 * Descriptors a pair may cost: its two ends, and the duplicate of the
 * watched end that the uring backend polls (kevent(7)).  Every impl sizes
 * by it, so that under a limit all of them run with the same n.
 */
#define BENCH_FDS_PER_PAIR 3L

static inline void bench_pairs_open(struct bench_pairs *p, int n)
{
	long room = bench_nofile(BENCH_FDS_PER_PAIR * n + 64) - 24;
	int i;

	if (BENCH_FDS_PER_PAIR * n > room) {
		/* e.g. a container without CAP_SYS_RESOURCE and a hard limit
		 * of 20000: run with as many pairs as fit, and say so. */
		fprintf(stderr, "note: n reduced from %d to %ld by "
			"RLIMIT_NOFILE\n", n, room / BENCH_FDS_PER_PAIR);
		n = (int)(room / BENCH_FDS_PER_PAIR);
	}
	p->n = n;
	p->rd = calloc((size_t)n, sizeof(int));
	p->wr = calloc((size_t)n, sizeof(int));
	if (!p->rd || !p->wr)
		bench_die("calloc");
	for (i = 0; i < n; i++) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
			       SOCK_CLOEXEC, 0, sv) < 0)
			bench_die("socketpair %d", i);
		p->rd[i] = sv[0];
		p->wr[i] = sv[1];
	}
}

static inline void bench_pairs_close(struct bench_pairs *p)
{
	int i;

	for (i = 0; i < p->n; i++) {
		close(p->rd[i]);
		close(p->wr[i]);
	}
	free(p->rd);
	free(p->wr);
}

/* ---- the chain workload, the same for every implementation ----
 *
 * Pair i's read end becomes readable when a token (one byte) is written to
 * wr[i].  The callback for rd[i] reads (one read(2): normally 1 byte, more
 * only if two tokens ever meet in one pair, so edge-triggered loops cannot
 * lose a token) and writes the same number of bytes to wr[(i+1) % n].
 */
struct bench_chain {
	struct bench_pairs p;
	int tokens;
	long target;		/* stop after this many events */
	long events;		/* callbacks run */
	long seg_len;		/* events per timed segment */
	uint64_t seg_start, best;	/* fastest segment (ns) */
	uint64_t oracle_best;	/* the in-process oracle's fastest segment */
};

static inline void bench_chain_start(struct bench_chain *c);
static inline int bench_chain_fire(struct bench_chain *c, int i);

/*
 * The oracle, run in every chain process before anything is registered:
 * the same tokens moved through the same sockets by a plain loop, with no
 * notification.  Its fastest segment is subtracted from the implementation's
 * (paired overhead), which cancels much of the load that other tenants of a
 * shared VM put on both.  Afterwards the sockets are drained and the
 * counters reset.
 */
/* The oracle's loop: each token moves on to the next pair until done. */
static inline void bench_chain_plain_loop(struct bench_chain *c)
{
	int *pos = calloc((size_t)c->tokens, sizeof(int));
	int t;

	for (t = 0; t < c->tokens; t++)
		pos[t] = (int)((long)t * c->p.n / c->tokens);
	bench_chain_start(c);
	for (;;) {
		for (t = 0; t < c->tokens; t++) {
			int more = bench_chain_fire(c, pos[t]);

			pos[t] = pos[t] + 1 == c->p.n ? 0 : pos[t] + 1;
			if (!more)
				goto done;
		}
	}
done:
	free(pos);
}

static inline void bench_chain_oracle(struct bench_chain *c)
{
	char buf[256];
	int i;

	bench_chain_plain_loop(c);
	c->oracle_best = c->best;
	for (i = 0; i < c->p.n; i++)
		while (read(c->p.rd[i], buf, sizeof(buf)) > 0)
			;
	c->events = 0;
	c->best = UINT64_MAX;
}

static inline void bench_chain_open(struct bench_chain *c, int argc,
				    char **argv)
{
	bench_pairs_open(&c->p, (int)bench_arg(argc, argv, "n", 1000));
	c->tokens = (int)bench_arg(argc, argv, "tokens", 100);
	c->target = bench_arg(argc, argv, "events", 200000);
	c->events = 0;
	c->seg_len = c->target / bench_arg(argc, argv, "segments", 5);
	if (c->seg_len < 1)
		c->seg_len = 1;
	c->best = UINT64_MAX;
	if (c->tokens > c->p.n)
		c->tokens = c->p.n;
	c->oracle_best = 0;
	if (bench_arg(argc, argv, "paired", 1))
		bench_chain_oracle(c);
}

/* Put the tokens in flight, spread evenly over the ring of pairs. */
static inline void bench_chain_start(struct bench_chain *c)
{
	int t;

	for (t = 0; t < c->tokens; t++) {
		int i = (int)((long)t * c->p.n / c->tokens);

		if (write(c->p.wr[i], "x", 1) != 1)
			bench_die("write token");
	}
	c->seg_start = bench_now();
}

/*
 * One callback: returns 1 while more events are wanted.  The run is cut
 * into segments of seg_len events; the fastest segment is reported
 * (ns_per_event), the whole-run mean too (mean_ns_per_event), so that a
 * burst of load from other tenants of the VM spoils one segment, not the run.
 */
static inline int bench_chain_fire(struct bench_chain *c, int i)
{
	char buf[16];
	ssize_t r = read(c->p.rd[i], buf, sizeof(buf));
	int next = i + 1 == c->p.n ? 0 : i + 1;

	if (r > 0) {
		if (write(c->p.wr[next], buf, (size_t)r) != r)
			bench_die("write chain");
	} else if (r < 0 && errno != EAGAIN) {
		bench_die("read chain");
	}
	if (++c->events % c->seg_len == 0) {
		uint64_t now = bench_now();

		if (now - c->seg_start < c->best)
			c->best = now - c->seg_start;
		c->seg_start = now;
	}
	return c->events < c->target;
}

static inline void bench_chain_result(const char *impl,
				      const struct bench_chain *c,
				      uint64_t setup_ns, uint64_t run_ns)
{
	double ns = (double)c->best / (double)c->seg_len;
	double oracle = (double)c->oracle_best / (double)c->seg_len;

	printf("RESULT workload=chain impl=%s n=%d events=%ld "
	       "ns_per_event=%.2f mean_ns_per_event=%.2f "
	       "setup_ns_per_fd=%.2f oracle_ns_per_event=%.2f "
	       "paired_overhead_ns=%.2f\n",
	       impl, c->p.n, c->events, ns,
	       (double)run_ns / (double)c->events,
	       (double)setup_ns / (double)c->p.n, oracle,
	       c->oracle_best ? ns - oracle : 0.0);
	fflush(stdout);
}

/* ---- round-trip samples (wakeup) ---- */

static int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static inline void bench_rtt_result(const char *impl, int pinned,
				    uint64_t *s, long n)
{
	qsort(s, (size_t)n, sizeof(*s), bench_cmp_u64);
	printf("RESULT workload=wakeup impl=%s pinned=%d iters=%ld "
	       "p50_ns=%llu p99_ns=%llu\n", impl, pinned, n,
	       (unsigned long long)s[n / 2],
	       (unsigned long long)s[n * 99 / 100]);
	fflush(stdout);
}

/* Random deadlines for the timer workload (xorshift, fixed seed). */
static inline uint64_t bench_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Sleep (1 ms at a time) until bench_now() reaches t: every timer is due. */
static inline void bench_sleep_until(uint64_t t)
{
	while (bench_now() < t) {
		struct timespec d = { 0, 1000000 };

		nanosleep(&d, NULL);
	}
}

/*
 * The timer loop as a user's program runs it ("tloop"): n one-shot timers
 * with random deadlines over spread, half of them cancelled in random
 * order, then the loop sleeps until each deadline and handles what fired.
 * The ids to cancel: a random permutation of 0..n-1 (Fisher-Yates), whose
 * first n/2 are cancelled, the same in every program.
 */
static inline long *bench_tloop_cancel_order(long n)
{
	uint64_t seed = 0x2545f4914f6cdd1dull;
	long *p = malloc((size_t)n * sizeof(*p)), i;

	if (!p)
		bench_die("tloop: out of memory");
	for (i = 0; i < n; i++)
		p[i] = i;
	for (i = n - 1; i > 0; i--) {
		long j = (long)(bench_rand(&seed) % (uint64_t)(i + 1)), t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

/* CPU time of the process (user + system), ns. */
static inline uint64_t bench_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
		       1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

static inline void bench_tloop_result(const char *impl, long n,
				      uint64_t add_ns, uint64_t cancel_ns,
				      uint64_t loop_cpu_ns, long fired,
				      long wakeups)
{
	printf("RESULT workload=tloop impl=%s n=%ld fired=%ld "
	       "add_ns=%.2f cancel_ns=%.2f cpu_fire_ns=%.2f "
	       "wakeups_fire=%.4f\n", impl, n, fired,
	       (double)add_ns / (double)n,
	       (double)cancel_ns / (double)(n / 2),
	       (double)loop_cpu_ns / (double)(fired ? fired : 1),
	       (double)wakeups / (double)(fired ? fired : 1));
	fflush(stdout);
}

static inline void bench_timers_result(const char *impl, long n,
				       uint64_t add_ns, uint64_t cancel_ns,
				       uint64_t fire_ns, long fired)
{
	long cancelled = n / 2;

	printf("RESULT workload=timers impl=%s n=%ld fired=%ld "
	       "add_ns=%.2f cancel_ns=%.2f fire_ns=%.2f\n", impl, n, fired,
	       (double)add_ns / (double)n,
	       (double)cancel_ns / (double)cancelled,
	       (double)fire_ns / (double)(fired ? fired : 1));
	fflush(stdout);
}

#endif /* BENCH_COMMON_H */
