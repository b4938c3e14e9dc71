// SPDX-License-Identifier: MIT
/*
 * scale.c - does any operation of libkev cost more when a queue holds more
 * registrations?  (Issue 15, defect 5: removing READY registrations in
 * reverse order walked the ready list, 71 us each at 40,000.)
 *
 * For USER, TIMER and POLL registrations, at 1k, 10k and 100k of them (POLL:
 * as many eventfds as RLIMIT_NOFILE allows, up to 100k) behind a small ring
 * (64 entries), it times every kevent_ctl command, one entry per call, in
 * forward, reverse and random order of the ids, and taking the events
 * (kevent_wait with a zero timeout, then draining the ring) until every
 * registration has been delivered:
 *
 *   USER   ADD, READY (into a full ring: the rest wait on the ready list),
 *          DISABLE and ENABLE of those READY registrations, MODIFY,
 *          REMOVE of READY registrations, wait+consume;
 *   TIMER  ADD (deadlines in the order of the ids), MODIFY (re-armed),
 *          DISABLE, ENABLE, REMOVE, and due+fire+eat: ADD of timers whose
 *          deadline is past (they fire in that kevent_ctl), then taking
 *          them, per timer;
 *   POLL   ADD, MODIFY, DISABLE, ENABLE, REMOVE of level-triggered
 *          eventfds that are readable, wait+consume.
 *
 * Every size is measured over about as many operations as the largest
 * (the sequence is run again on fresh queues: 100 times for 1k), and each
 * figure is the best of --reps such means (the machine is shared), in ns
 * per operation; the growth is its ratio from the smallest to the largest
 * size, measured in the same run.
 *
 * An operation is flagged when its cost at the largest size exceeds twice
 * its cost at the smallest, plus the increase of the memory reference
 * below between those sizes, in the same order: what touching the memory
 * of one registration, its index slot and its two list neighbours costs
 * more once 100k of them no longer fit the caches, one operation after the
 * other.  The timer heap operations (ADD, MODIFY, REMOVE, fire) are
 * O(log n), a level of the heap being such a touch: they are allowed that
 * times what log n explains (log 100k / log 1k = 1.67; 3.33x without the
 * memory term).
 * POLL commands make one epoll_ctl each: they are allowed 2x the growth
 * of raw epoll_ctl on the same fds in the same order (a red-black tree,
 * O(log n), with its own misses), measured in the same run.
 *
 *   bench-scale [--sizes=1000,10000,100000] [--reps=3] [--ring=64]
 *               [--types=user,timer,poll] [--check]
 *
 * Prints the table, then one line:
 *   scale: backend=epoll ops=N flagged=F
 * With --check, exits 1 when something was flagged.
 */
#include <errno.h>
#include <kevent.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../tests/common/ukevent.h"

#define MAXSIZES 4
#define MAXCMDS	 8

enum { T_USER, T_TIMER, T_POLL, NTYPES };
enum { O_FWD, O_REV, O_RND, NORDERS };

static const char *const type_names[] = { "USER", "TIMER", "POLL" };
static unsigned int *fwd;	/* 0 .. n-1 */
static const char *const order_names[] = { "forward", "reverse", "random" };

struct row {
	const char *cmd;
	bool logn;		/* a timer heap operation */
	int raw;		/* POLL: the epoll_ctl it makes (EPOLL_CTL_*), or -1 */
	double ns[MAXSIZES];	/* best of reps, per size */
};

static unsigned int sizes[MAXSIZES] = { 1000, 10000, 100000 };
static unsigned int nsizes = 3, reps = 3, ring_size = 64;
static bool want_type[NTYPES] = { true, true, true };

/*
 * The thread's CPU time, not the wall clock: on a machine shared with other
 * jobs the time this thread spends preempted is not the library's, and
 * would make the growth a measure of the neighbours.  (Everything measured
 * here runs on the thread: a zero-timeout wait never sleeps.)
 */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench-scale: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* The ids 0..n-1 in the order asked for (random: a fixed permutation). */
static void make_order(unsigned int *idx, unsigned int n, int order)
{
	unsigned int i;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (i = 0; i < n; i++)
		idx[i] = order == O_REV ? n - 1 - i : i;
	if (order != O_RND)
		return;
	for (i = n - 1; i > 0; i--) {
		unsigned int j, t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (unsigned int)(x % (i + 1));
		t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
}

static void ctl1(int fd, unsigned int cmd, struct ukevent *e)
{
	if (kevent_ctl(fd, cmd, 1, e) != 1) {
		errno = (int)e->ret_data;
		fprintf(stderr, "bench-scale: kevent_ctl(%u) type %u id %llu: "
			"%s\n", cmd, e->type, (unsigned long long)e->id,
			strerror((int)e->ret_data));
		exit(2);
	}
}

static struct ukevent ev(uint32_t type, uint64_t id, uint32_t event,
			 uint32_t flags, uint64_t data)
{
	return kt_ukevent(type, id, event, flags, data, id);
}

/* Run one command over every registration, in order; ns in all. */
static double timed(int fd, unsigned int cmd, const unsigned int *idx,
		    unsigned int n, struct ukevent (*make)(unsigned int id,
							  unsigned int cmd))
{
	uint64_t t0 = now_ns();
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct ukevent e = make(idx[i], cmd);

		ctl1(fd, cmd, &e);
	}
	return (double)(now_ns() - t0);
}

/* Wait with a zero timeout and drain until `want` entries came; ns in all. */
static double consume_all(int fd, struct kevent_ring *ring, unsigned int want)
{
	struct timespec zero = { 0, 0 };
	uint64_t t0 = now_ns();
	unsigned int got = 0, idle = 0;
	struct ukevent e;

	while (got < want) {
		if (kevent_wait(fd, 1, &zero) < 0 && errno != EINTR)
			die("kevent_wait");
		if (kevent_ring_empty(ring) && ++idle > 1000000) {
			fprintf(stderr, "bench-scale: %u of %u delivered\n", got,
				want);
			exit(2);
		}
		while (kevent_ring_consume(ring, &e))
			got++;
	}
	return (double)(now_ns() - t0);
}

/*
 * One measurement: `rounds` runs of a type's sequence on fresh queues, so
 * that every size is measured over about the same number of operations;
 * the mean per operation of each step, kept if the best so far.
 */
static void keep(struct row *rows, int nrows, unsigned int si,
		 const double *total, double ops)
{
	int c;

	for (c = 0; c < nrows; c++) {
		double v = total[c] / ops;

		if (!rows[c].ns[si] || v < rows[c].ns[si])
			rows[c].ns[si] = v;
	}
}

static int open_queue(struct kevent_ring **ring)
{
	int fd = kevent_init(ring, ring_size, 0);

	if (fd < 0)
		die("kevent_init");
	return fd;
}

/* ---- USER */

static struct ukevent user_ev(unsigned int id, unsigned int cmd)
{
	return ev(KEVENT_USER, id, cmd == KEVENT_CTL_MODIFY ? 1 : 0, 0, 0);
}

static void run_user(struct row *rows, int *nrows, unsigned int si,
		     unsigned int n, const unsigned int *idx,
		     unsigned int rounds)
{
	static const char *const names[] = { "ADD", "READY", "DISABLE",
		"ENABLE", "MODIFY", "REMOVE", "wait+consume" };
	static const unsigned int cmds[] = { KEVENT_CTL_ADD, KEVENT_CTL_READY,
		KEVENT_CTL_DISABLE, KEVENT_CTL_ENABLE, KEVENT_CTL_MODIFY,
		KEVENT_CTL_REMOVE };
	struct kevent_ring *ring;
	double ns[7] = { 0 };
	unsigned int k;
	int fd, c;

	for (k = 0; k < rounds; k++) {
		/*
		 * READY fills the ring; the rest of the queue stays READY, on
		 * the ready list, which is where DISABLE, ENABLE and REMOVE
		 * must not walk.  Before each of those the list is put back in
		 * the order of the ids (untimed), so that reverse and random
		 * orders take registrations from its tail and its middle.
		 */
		fd = open_queue(&ring);
		for (c = 0; c < 6; c++) {
			if (c >= 2) {
				timed(fd, KEVENT_CTL_DISABLE, fwd, n, user_ev);
				timed(fd, KEVENT_CTL_ENABLE, fwd, n, user_ev);
			}
			ns[c] += timed(fd, cmds[c], idx, n, user_ev);
		}
		kevent_close(fd);
		fd = open_queue(&ring);
		timed(fd, KEVENT_CTL_ADD, idx, n, user_ev);
		timed(fd, KEVENT_CTL_READY, idx, n, user_ev);
		ns[6] += consume_all(fd, ring, n);
		kevent_close(fd);
	}
	*nrows = 7;
	for (c = 0; c < 7; c++) {
		rows[c].cmd = names[c];
		rows[c].logn = false;
		rows[c].raw = -1;
	}
	keep(rows, 7, si, ns, (double)n * rounds);
}

/* ---- TIMER */

/* An hour, plus the id in microseconds: deadlines in the order of ids. */
static struct ukevent timer_ev(unsigned int id, unsigned int cmd)
{
	uint64_t hour = 3600ull * 1000000000;

	return ev(KEVENT_TIMER, id, 0, 0, hour + id * 1000ull +
		  (cmd == KEVENT_CTL_MODIFY ? 500 : 0));
}

static uint64_t past;

static struct ukevent past_ev(unsigned int id, unsigned int cmd)
{
	(void)cmd;
	return ev(KEVENT_TIMER, id, KEVENT_TIMER_ABSTIME, KEVENT_REQ_ONESHOT,
		  past + id);
}

static void run_timer(struct row *rows, int *nrows, unsigned int si,
		      unsigned int n, const unsigned int *idx,
		      unsigned int rounds)
{
	static const char *const names[] = { "ADD", "MODIFY", "DISABLE",
		"ENABLE", "REMOVE", "due+fire+eat" };
	static const unsigned int cmds[] = { KEVENT_CTL_ADD,
		KEVENT_CTL_MODIFY, KEVENT_CTL_DISABLE, KEVENT_CTL_ENABLE,
		KEVENT_CTL_REMOVE };
	static const bool logn[] = { true, true, false, false, true, true };
	struct kevent_ring *ring;
	double ns[6] = { 0 };
	unsigned int k;
	int fd, c;

	for (k = 0; k < rounds; k++) {
		fd = open_queue(&ring);
		for (c = 0; c < 5; c++)
			ns[c] += timed(fd, cmds[c], idx, n, timer_ev);
		kevent_close(fd);
		fd = open_queue(&ring);
		past = mono_ns() / 2;	/* MONOTONIC, long past */
		/* due at once: they fire in the ADD's own kevent_ctl */
		ns[5] += timed(fd, KEVENT_CTL_ADD, idx, n, past_ev);
		ns[5] += consume_all(fd, ring, n);
		kevent_close(fd);
	}
	*nrows = 6;
	for (c = 0; c < 6; c++) {
		rows[c].cmd = names[c];
		rows[c].logn = logn[c];
		rows[c].raw = -1;
	}
	keep(rows, 6, si, ns, (double)n * rounds);
}

/* ---- POLL */

static int *efds;

static struct ukevent poll_ev(unsigned int i, unsigned int cmd)
{
	return ev(KEVENT_POLL, (uint64_t)efds[i], cmd == KEVENT_CTL_MODIFY ?
		  KEVENT_POLL_IN | KEVENT_POLL_OUT : KEVENT_POLL_IN, 0, 0);
}

static void run_poll(struct row *rows, int *nrows, unsigned int si,
		     unsigned int n, const unsigned int *idx,
		     unsigned int rounds)
{
	static const char *const names[] = { "ADD", "MODIFY", "DISABLE",
		"ENABLE", "REMOVE", "wait+consume" };
	static const unsigned int cmds[] = { KEVENT_CTL_ADD,
		KEVENT_CTL_MODIFY, KEVENT_CTL_DISABLE, KEVENT_CTL_ENABLE,
		KEVENT_CTL_REMOVE };
	struct kevent_ring *ring;
	double ns[6] = { 0 };
	unsigned int k;
	int fd, c;

	for (k = 0; k < rounds; k++) {
		fd = open_queue(&ring);
		for (c = 0; c < 5; c++)
			ns[c] += timed(fd, cmds[c], idx, n, poll_ev);
		kevent_close(fd);
		fd = open_queue(&ring);
		timed(fd, KEVENT_CTL_ADD, idx, n, poll_ev);
		/* level-triggered, all readable: each delivered at least
		 * once */
		ns[5] += consume_all(fd, ring, n);
		kevent_close(fd);
	}
	*nrows = 6;
	for (c = 0; c < 6; c++) {
		/* the epoll_ctl each makes: ADD, MOD, -, -, DEL, MOD */
		static const int raw[] = { 0, 1, -1, -1, 2, 1 };

		rows[c].cmd = names[c];
		rows[c].logn = false;
		rows[c].raw = raw[c];
	}
	keep(rows, 6, si, ns, (double)n * rounds);
}

/*
 * The peer of POLL: raw epoll_ctl ADD, MOD and DEL of the same fds in the
 * same order, on an epoll set of the same size.  Every POLL command but
 * DISABLE and ENABLE is one epoll_ctl plus O(1) of the library's, and
 * epoll's red-black tree is O(log n): POLL rows are allowed 2x the growth
 * epoll_ctl shows here, in the same run (wait+consume: MOD's, as a ready
 * fd beyond the ring is muted and rearmed with one MOD each).
 */
static double raw_ns[3][NORDERS][MAXSIZES];	/* ADD, MOD, DEL */

static void run_raw(int o, unsigned int si, unsigned int n,
		    const unsigned int *idx, unsigned int rounds)
{
	static const int ops[3] = { EPOLL_CTL_ADD, EPOLL_CTL_MOD,
		EPOLL_CTL_DEL };
	double total[3] = { 0 };
	unsigned int k, i;
	int c;

	for (k = 0; k < rounds; k++) {
		int ep = epoll_create1(EPOLL_CLOEXEC);

		if (ep < 0)
			die("epoll_create1");
		for (c = 0; c < 3; c++) {
			uint64_t t0 = now_ns();

			for (i = 0; i < n; i++) {
				struct epoll_event e = {
					.events = c ? EPOLLIN | EPOLLOUT :
						  EPOLLIN,
					.data.u64 = idx[i],
				};

				if (epoll_ctl(ep, ops[c], efds[idx[i]], &e) < 0)
					die("epoll_ctl");
			}
			total[c] += (double)(now_ns() - t0);
		}
		close(ep);
	}
	for (c = 0; c < 3; c++) {
		double v = total[c] / ((double)n * rounds);

		if (!raw_ns[c][o][si] || v < raw_ns[c][o][si])
			raw_ns[c][o][si] = v;
	}
}

/*
 * The memory reference: what the machine charges for touching, in the same
 * order, the memory an O(1) operation on one of n registrations must touch
 * at the least.  n records of a registration's size, found through an
 * index by id, each unlinked from a doubly linked list and appended again
 * (its two neighbours touched), each after the one before (as calls into
 * the library are): no libkev in it.  In random order at 100k the records
 * no longer fit the caches, and this grows as much as the cache misses
 * do; an O(1) operation of libkev is allowed 2x its growth (at least 2x in
 * all), so what is flagged is cost that grows with n, not with the memory
 * hierarchy.
 */
struct refnode {
	uint64_t pad[10];	/* the 96 bytes of a registration */
	struct refnode *next, *prev;
};

static double ref_ns[NORDERS][MAXSIZES];

static void run_ref(int o, unsigned int si, unsigned int n,
		    const unsigned int *idx, unsigned int rounds)
{
	double total = 0, v;
	unsigned int k, i, j;

	for (k = 0; k < rounds; k++) {
		struct refnode *nodes = calloc(n, sizeof(*nodes));
		struct refnode **index = malloc(n * sizeof(*index));
		struct refnode *head = NULL, *tail = NULL;
		uint64_t t0;

		if (!nodes || !index)
			die("malloc");
		for (i = 0; i < n; i++) {
			index[i] = &nodes[i];
			nodes[i].prev = tail;
			if (tail)
				tail->next = &nodes[i];
			else
				head = &nodes[i];
			tail = &nodes[i];
		}
		t0 = now_ns();
		for (i = 0, j = 0; i < n; i++) {
			struct refnode *x;

			/*
			 * Each operation waits for the one before, as a call
			 * into the library does (its lock, its branches): the
			 * misses are paid one after the other, not overlapped.
			 */
			j += (unsigned int)(tail->pad[1] & 1);
			__asm__ volatile("" : "+r"(j));
			x = index[idx[i] ^ j];

			if (x == tail)
				continue;
			if (x->prev)
				x->prev->next = x->next;
			else
				head = x->next;
			x->next->prev = x->prev;
			x->prev = tail;
			x->next = NULL;
			tail->next = x;
			tail = x;
			x->pad[0]++;
		}
		total += (double)(now_ns() - t0);
		if (!head)
			die("reference list");
		free(index);
		free(nodes);
	}
	v = total / ((double)n * rounds);
	if (!ref_ns[o][si] || v < ref_ns[o][si])
		ref_ns[o][si] = v;
}

/* How many eventfds may be opened (RLIMIT_NOFILE, raised to its max). */
static unsigned int poll_limit(unsigned int want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	/*
	 * Room for twice as many (the uring backend watches a duplicate of
	 * each fd): above the hard limit only with CAP_SYS_RESOURCE, else
	 * up to the hard limit.
	 */
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * (rlim_t)want + 200) {
		struct rlimit up = { 2 * (rlim_t)want + 200,
				     2 * (rlim_t)want + 200 };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 200)
		return 0;
	return rl.rlim_cur - 100 < want ? (unsigned int)(rl.rlim_cur - 100) :
					  want;
}

/* Operations per measurement: the largest size's (POLL: system calls). */
static unsigned int per_op_n;

static unsigned int per_op(int t)
{
	return t == T_POLL && per_op_n > 20000 ? 20000 : per_op_n;
}

/* ---- main */

static void parse(int argc, char **argv, bool *check)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--check")) {
			*check = true;
		} else if (!strncmp(a, "--reps=", 7)) {
			reps = (unsigned int)atoi(a + 7);
		} else if (!strncmp(a, "--ring=", 7)) {
			ring_size = (unsigned int)atoi(a + 7);
		} else if (!strncmp(a, "--sizes=", 8)) {
			char *s = strdup(a + 8), *tok, *save = NULL;

			nsizes = 0;
			for (tok = strtok_r(s, ",", &save); tok && nsizes <
			     MAXSIZES; tok = strtok_r(NULL, ",", &save))
				sizes[nsizes++] = (unsigned int)atoi(tok);
			free(s);
		} else if (!strncmp(a, "--types=", 8)) {
			int t;

			for (t = 0; t < NTYPES; t++)
				want_type[t] = strstr(a + 8, t == T_USER ?
						      "user" : t == T_TIMER ?
						      "timer" : "poll") != NULL;
		} else {
			fprintf(stderr, "usage: bench-scale [--sizes=a,b,c] "
				"[--reps=N] [--ring=N] [--types=user,timer,"
				"poll] [--check]\n");
			exit(2);
		}
	}
	if (!nsizes || !reps)
		exit(2);
}

int main(int argc, char **argv)
{
	struct row rows[NTYPES][NORDERS][MAXCMDS];
	int nrows[NTYPES] = { 0 };
	unsigned int maxn = 0, pmax, si, r, ops = 0, flagged = 0;
	unsigned int *idx;
	struct kevent_ring *ring;
	const char *backend;
	bool check = false;
	int t, o, c, q;

	parse(argc, argv, &check);
	for (si = 0; si < nsizes; si++)
		if (sizes[si] > maxn)
			maxn = sizes[si];
	q = open_queue(&ring);
	backend = kevent_backend(q);
	kevent_close(q);
	idx = malloc(maxn * sizeof(*idx));
	fwd = malloc(maxn * sizeof(*fwd));
	if (!fwd)
		die("malloc");
	make_order(fwd, maxn, O_FWD);
	/* uring holds a duplicate of each watched fd: two per registration */
	if (!want_type[T_POLL])
		pmax = 0;
	else if (!strcmp(backend, "uring"))
		pmax = poll_limit(2 * maxn) / 2;
	else
		pmax = poll_limit(maxn);
	efds = malloc((pmax ? pmax : 1) * sizeof(*efds));
	if (!idx || !efds)
		die("malloc");
	for (si = 0; si < pmax; si++) {
		efds[si] = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
		if (efds[si] < 0)
			die("eventfd");
	}
	memset(rows, 0, sizeof(rows));
	per_op_n = maxn;
	/* warm up: the allocator's arenas, the page tables, the caches */
	if (want_type[T_USER]) {
		make_order(idx, maxn, O_FWD);
		run_user(rows[T_USER][O_FWD], &nrows[T_USER], 0, maxn, idx, 1);
		memset(rows, 0, sizeof(rows));
	}
	/* sizes interleaved within each repetition: drift hits them alike */
	for (r = 0; r < reps; r++)
		for (t = 0; t < NTYPES; t++)
			for (o = 0; o < NORDERS; o++)
				for (si = 0; si < nsizes; si++) {
					unsigned int n = sizes[si];

					if (!want_type[t])
						continue;
					if (t == T_POLL && n > pmax)
						n = pmax;
					if (!n)
						continue;
					unsigned int k = (per_op(t) + n -
							  1) / n;

					make_order(idx, n, o);
					if (t == T_USER)
						run_ref(o, si, n, idx, k);
					if (t == T_USER)
						run_user(rows[t][o], &nrows[t],
							 si, n, idx, k);
					else if (t == T_TIMER)
						run_timer(rows[t][o], &nrows[t],
							  si, n, idx, k);
					else {
						run_poll(rows[t][o], &nrows[t],
							 si, n, idx, k);
						run_raw(o, si, n, idx, k);
					}
				}
	printf("libkev scale: backend %s, ring of %u, ns of CPU time per "
	       "operation (best of %u), one entry per kevent_ctl\n\n",
	       backend, ring_size, reps);
	printf("%-6s %-13s %-8s", "type", "operation", "order");
	for (si = 0; si < nsizes; si++) {
		char h[32];

		snprintf(h, sizeof(h), "n=%u", sizes[si]);
		printf(" %10s", h);
	}
	printf(" %8s %7s\n", "growth", "allowed");
	if (want_type[T_USER])
		for (o = 0; o < NORDERS; o++) {
			printf("%-6s %-13s %-8s", "memory", "reference",
			       order_names[o]);
			for (si = 0; si < nsizes; si++)
				printf(" %10.1f", ref_ns[o][si]);
			printf(" %7.2fx  (its increase is allowed on top)\n",
			       ref_ns[o][nsizes - 1] / ref_ns[o][0]);
		}
	for (t = 0; t < NTYPES; t++) {
		unsigned int last = nsizes - 1, first = 0;
		double lr;

		if (!want_type[t])
			continue;
		if (t == T_POLL) {
			/* the sizes the descriptor limit allowed */
			while (last > 0 && sizes[last] > pmax &&
			       sizes[last - 1] >= pmax)
				last--;
		}
		lr = log((double)(t == T_POLL && sizes[last] > pmax ? pmax :
				  sizes[last])) / log((double)sizes[first]);
		for (c = 0; c < nrows[t]; c++)
			for (o = 0; o < NORDERS; o++) {
				struct row *rw = &rows[t][o][c];
				double g = rw->ns[last] / rw->ns[first];
				double dm = ref_ns[o][last] - ref_ns[o][first];
				double allowed = rw->logn ? 2.0 * lr : 2.0;
				bool flag;

				/*
				 * Plus what the memory an O(1) operation must
				 * touch costs more at this size, in this order
				 * (the reference, measured in this run).
				 */
				if (rw->raw < 0 && dm > 0)
					allowed = rw->logn ?
						  (2.0 + dm / rw->ns[first]) *
						  lr :
						  2.0 + dm / rw->ns[first];
				if (rw->raw >= 0) {
					double rg = raw_ns[rw->raw][o][last] /
						    raw_ns[rw->raw][o][first];

					if (rg > 1.0)
						allowed = 2.0 * rg;
				}
				flag = g > allowed;

				printf("%-6s %-13s %-8s", type_names[t],
				       rw->cmd, order_names[o]);
				for (si = 0; si < nsizes; si++)
					if (si <= last)
						printf(" %10.1f", rw->ns[si]);
					else
						printf(" %10s", "-");
				printf(" %7.2fx %6.2fx%s\n", g, allowed,
				       flag ? "  GROWS" : "");
				ops++;
				flagged += flag;
			}
		if (t == T_POLL) {
			int k;

			for (k = 0; k < 3; k++)
				for (o = 0; o < NORDERS; o++) {
					printf("%-6s %-13s %-8s", "epoll",
					       k == 0 ? "ctl ADD" : k == 1 ?
					       "ctl MOD" : "ctl DEL",
					       order_names[o]);
					for (si = 0; si < nsizes; si++)
						if (si <= last)
							printf(" %10.1f",
							       raw_ns[k][o][si]);
						else
							printf(" %10s", "-");
					printf(" %7.2fx  (peer: POLL's "
					       "allowance is 2x this)\n",
					       raw_ns[k][o][last] /
					       raw_ns[k][o][first]);
				}
			if (pmax < maxn)
				printf("POLL: %u registrations at most here "
				       "(RLIMIT_NOFILE)\n", pmax);
		}
	}
	printf("\nscale: backend=%s ops=%u flagged=%u\n", backend, ops,
	       flagged);
	for (si = 0; si < pmax; si++)
		close(efds[si]);
	free(efds);
	free(idx);
	free(fwd);
	return check && flagged ? 1 : 0;
}
