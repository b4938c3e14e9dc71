// SPDX-License-Identifier: MIT
/*
 * stat-helper - a process for kevent-stat to look at (tests/stat/test-stat.py).
 *
 *   stat-helper N [--garbage] [--undumpable] [--no-queue] [--big]
 *
 * Opens queue A on the epoll backend with statistics on and queue B on the
 * uring backend (epoll without it) with statistics off.  On each, N user
 * events are published and consumed one by one, and on A a one-shot timer
 * fires and is waited for.  Then it prints
 *
 *   ready A=0x<ring> B=0x<ring> a_consumed=<n> b_consumed=<n> b_backend=<name>
 *
 * (and forged=0x<addr> with --garbage)
 * and reads commands from stdin, one a line:
 *
 *   more K    K more user events on A, published and consumed; "done K"
 *   exit      exit at once (so does end of file)
 *
 * --garbage also maps memory that looks like rings and is not: each header
 * has the ring signature but fails one rule of kevent-stat's (a ring longer
 * than its mapping, a wrong mask, a size not a power of two, a statistics
 * area out of place, entries of another size, a header in the last page of
 * its mapping, another ABI version), and one more follows every rule: a
 * forgery that kevent-stat must take for a ring (published 12345).  --undumpable makes the process
 * not dumpable (PR_SET_DUMPABLE 0): only a privileged reader may read it.
 * Any process may read it otherwise (PR_SET_PTRACER_ANY, for Yama).
 * --no-queue opens no queue (it prints "ready" and waits); --big maps
 * 1 GiB of anonymous memory and writes to 64 MiB of it, for a search
 * through much memory.
 */
#include <errno.h>
#include <kevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "stat-helper: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void ctl(int fd, unsigned int cmd, struct ukevent *e)
{
	if (kevent_ctl(fd, cmd, 1, e) != 1) {
		if (e->ret_flags & KEVENT_RET_ERROR)
			errno = (int)e->ret_data;
		die("kevent_ctl");
	}
}

/* n user events through queue fd, each published and consumed. */
static unsigned long users(int fd, struct kevent_ring *ring, unsigned long n)
{
	struct ukevent e, out;
	unsigned long got = 0;

	for (unsigned long i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		e.type = KEVENT_USER;
		e.id = 1;
		ctl(fd, KEVENT_CTL_READY, &e);
		if (ukevent_dequeue(fd, ring, &out, NULL) < 0)
			die("ukevent_dequeue");
		got++;
	}
	return got;
}

static int open_queue(struct kevent_ring **ring, unsigned int backend)
{
	struct ukevent e;
	int fd = kevent_init(ring, 0, backend);

	if (fd < 0)
		return -1;
	memset(&e, 0, sizeof(e));
	e.type = KEVENT_USER;
	e.id = 1;
	ctl(fd, KEVENT_CTL_ADD, &e);
	return fd;
}

/* A mapping of `pages` pages between two inaccessible ones, so that it
 * merges with nothing: its memory. */
static char *island(size_t pages)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, (pages + 2) * pg, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	if (mprotect(p + pg, pages * pg, PROT_READ | PROT_WRITE) < 0)
		die("mprotect");
	return p + pg;
}

static void fake(char *at, unsigned int size, unsigned int mask,
		 unsigned int stats_offset)
{
	struct kevent_ring *h = (struct kevent_ring *)(void *)at;

	h->size = size;
	h->mask = mask;
	h->version = KEVENT_ABI_VERSION;
	h->entry_size = sizeof(struct ukevent);
	h->entries_offset = KEVENT_RING_ENTRIES_OFFSET;
	h->stats_offset = stats_offset;
	h->published = 12345;
}

/* The fakes; returns a forgery that follows every rule (found as a ring). */
static char *garbage(void)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char *p, *forged;

	/* 1M entries claimed in 2 pages */
	fake(island(2), KEVENT_RING_MAX, KEVENT_RING_MAX - 1, 0);
	/* mask not size - 1 */
	fake(island(8), 16, 7, 0);
	/* size not a power of two */
	fake(island(8), 24, 23, 0);
	/* statistics elsewhere than after the entries */
	fake(island(8), 16, 15, 4 * (unsigned int)pg);
	/* entries of another size */
	p = island(8);
	fake(p, 16, 15, 0);
	((struct kevent_ring *)(void *)p)->entry_size = 128;
	/* a header in the last page of a mapping, entries past its end */
	p = island(4);
	fake(p + 3 * pg, 256, 255, (unsigned int)KEVENT_RING_BYTES(256));
	/* version 2 */
	p = island(8);
	fake(p, 16, 15, 0);
	((struct kevent_ring *)(void *)p)->version = 2;
	/* and one that follows every rule */
	forged = island(8);
	fake(forged, 16, 15, (unsigned int)KEVENT_RING_BYTES(16));
	return forged;
}

int main(int argc, char **argv)
{
	struct kevent_ring *ra, *rb;
	unsigned long n, a_got, b_got;
	struct ukevent e, out;
	const char *bname;
	char line[64], *forged = NULL;
	int fa, fb, no_queue = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: stat-helper N [--garbage] [--undumpable]\n");
		return 2;
	}
	n = strtoul(argv[1], NULL, 10);
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--garbage") == 0) {
			forged = garbage();
		} else if (strcmp(argv[i], "--undumpable") == 0) {
			prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		} else if (strcmp(argv[i], "--no-queue") == 0) {
			no_queue = 1;
		} else if (strcmp(argv[i], "--big") == 0) {
			char *big = mmap(NULL, 1ul << 30, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (big == MAP_FAILED)
				die("mmap 1 GiB");
			memset(big, 1, 64ul << 20);
		}
	}
	if (no_queue) {
		printf("ready A=0x0 B=0x0 a_consumed=0 b_consumed=0 b_backend=none\n");
		fflush(stdout);
		while (fgets(line, sizeof(line), stdin) &&
		       strncmp(line, "exit", 4) != 0)
			;
		return 0;
	}

	fa = open_queue(&ra, KEVENT_BACKEND_EPOLL);
	if (fa < 0)
		die("kevent_init epoll");
	if (kevent_setopt(fa, KEVENT_OPT_STATS, 1) < 0)
		die("kevent_setopt STATS");
	fb = open_queue(&rb, KEVENT_BACKEND_URING);
	if (fb < 0)
		fb = open_queue(&rb, KEVENT_BACKEND_EPOLL);
	if (fb < 0)
		die("kevent_init");
	bname = kevent_backend(fb);

	a_got = users(fa, ra, n);
	/* a timer: a wait that sleeps, a firing with a real latency */
	memset(&e, 0, sizeof(e));
	e.type = KEVENT_TIMER;
	e.id = 2;
	e.data = 1000000;	/* 1 ms */
	e.req_flags = KEVENT_REQ_ONESHOT;
	ctl(fa, KEVENT_CTL_ADD, &e);
	if (ukevent_dequeue(fa, ra, &out, NULL) < 0)
		die("ukevent_dequeue timer");
	a_got++;
	b_got = users(fb, rb, n);

	printf("ready A=%p B=%p a_consumed=%lu b_consumed=%lu b_backend=%s",
	       (void *)ra, (void *)rb, a_got, b_got, bname ? bname : "?");
	if (forged)
		printf(" forged=%p", (void *)forged);
	printf("\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long k;

		if (sscanf(line, "more %lu", &k) == 1) {
			printf("done %lu\n", users(fa, ra, k));
			fflush(stdout);
		} else if (strncmp(line, "exit", 4) == 0) {
			break;
		}
	}
	kevent_close(fb);
	kevent_close(fa);
	return 0;
}
