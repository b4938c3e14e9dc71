// SPDX-License-Identifier: MIT
/*
 * fault.c - fault injection against libkev, through <kevent.h> only, on the
 * backend of $KEVENT_BACKEND.  TAP output.
 *
 *  1. Allocation failures: this program defines malloc, calloc, realloc,
 *     aligned_alloc, posix_memalign, mmap and their frees, which the
 *     dynamic linker binds libkev's (and liburing's) calls to.  Each
 *     scenario is first run counting the allocations made from inside
 *     those libraries, then once per allocation with that one failing:
 *     every call must fail cleanly (-1/ENOMEM, or ENOMEM in the failed
 *     entries only), leak neither memory nor descriptors, and leave the
 *     queue working afterwards.  (Skipped under ASan, whose allocator
 *     cannot be replaced; the rest runs.)
 *  2. EMFILE mid-batch: a batch whose entries each need a descriptor
 *     (pidfds; the uring backend's duplicate of a polled fd; the first
 *     timer, signal and inode of a queue) with the limit a few
 *     descriptors away: some entries fail with EMFILE, the others are in
 *     place, and the queue works once the limit is raised.
 *  3. Signals hammering a thread asleep in kevent_wait: it returns -1/EINTR
 *     or events, never anything else, and a trigger made meanwhile is
 *     never lost, with and without SA_RESTART handlers.
 *  4. fork while in use (a thread asleep in kevent_wait, another in
 *     kevent_ctl): in the child every call is EBADF and kevent_close is
 *     0; the parent's queue keeps working, the sleeper included.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* mmap and mmap64 are both defined here: neither may be renamed */
#undef _FILE_OFFSET_BITS
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <kevent.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/ukevent.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FAULT_NO_SHIM 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FAULT_NO_SHIM 1
#endif
#endif

/* ------------------------------------------------------------ TAP */

static int ntest, nfail;
static char failmsg[512];

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void bad(const char *fmt, ...)
{
	va_list ap;

	if (failmsg[0])
		return;		/* the first reason is the one to tell */
	va_start(ap, fmt);
	vsnprintf(failmsg, sizeof(failmsg), fmt, ap);
	va_end(ap);
}

#define check(cond, ...)                                                   \
	do {                                                               \
		if (!(cond))                                               \
			bad(__VA_ARGS__);                                  \
	} while (0)

static void result(const char *name)
{
	ntest++;
	if (failmsg[0]) {
		nfail++;
		printf("not ok %d - %s\n# %s\n", ntest, name, failmsg);
	} else {
		printf("ok %d - %s\n", ntest, name);
	}
	fflush(stdout);
	failmsg[0] = 0;
}

static void skip(const char *name, const char *why)
{
	printf("ok %d - %s # SKIP %s\n", ++ntest, name, why);
	fflush(stdout);
}

/* ------------------------------------------------------------ the shim */

/*
 * Allocations made from libkev or liburing (found by return address) are
 * counted, can be made to fail one at a time, and are tracked while live,
 * so that a leak shows.
 */
struct range {
	uintptr_t lo, hi;
};

static struct range libs[8];
static int nlibs;
static int shim_on;			/* counting, and failing if asked */
static int track_on;			/* tracking live allocations */
static long fail_at;			/* fail the n-th counted call (1-based), 0: none */
static long counted;			/* lib allocations since shim_reset */
static long injected;			/* failures injected */
static long live;			/* lib allocations not yet freed */
static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;

#define NTRACK 65536
static uintptr_t track[NTRACK];		/* open addressing; 0 empty, 1 tomb */

static bool from_lib(uintptr_t ra)
{
	int i;

	for (i = 0; i < nlibs; i++)
		if (ra >= libs[i].lo && ra < libs[i].hi)
			return true;
	return false;
}

static void track_add(void *p)
{
	uintptr_t v = (uintptr_t)p, h = (v >> 4) * 0x9e3779b97f4a7c15ull;
	unsigned int i;

	for (i = (unsigned int)(h >> 48) % NTRACK;; i = (i + 1) % NTRACK)
		if (track[i] <= 1) {
			track[i] = v;
			live++;
			return;
		}
}

static bool track_del(void *p)
{
	uintptr_t v = (uintptr_t)p, h = (v >> 4) * 0x9e3779b97f4a7c15ull;
	unsigned int i, n;

	for (i = (unsigned int)(h >> 48) % NTRACK, n = 0; n < NTRACK;
	     i = (i + 1) % NTRACK, n++) {
		if (track[i] == v) {
			track[i] = 1;
			live--;
			return true;
		}
		if (!track[i])
			return false;
	}
	return false;
}

/* Should this allocation, made from return address ra, fail? */
static __attribute__((unused)) bool shim_fail(uintptr_t ra)
{
	bool f = false;

	if (!__atomic_load_n(&shim_on, __ATOMIC_RELAXED) || !from_lib(ra))
		return false;
	pthread_mutex_lock(&shim_lock);
	counted++;
	if (fail_at && counted == fail_at) {
		injected++;
		f = true;
	}
	pthread_mutex_unlock(&shim_lock);
	return f;
}

static __attribute__((unused)) void shim_track(uintptr_t ra, void *p)
{
	if (!p || !__atomic_load_n(&track_on, __ATOMIC_RELAXED) ||
	    !from_lib(ra))
		return;
	pthread_mutex_lock(&shim_lock);
	track_add(p);
	pthread_mutex_unlock(&shim_lock);
}

static __attribute__((unused)) void shim_untrack(void *p)
{
	if (!p || !__atomic_load_n(&track_on, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&shim_lock);
	track_del(p);
	pthread_mutex_unlock(&shim_lock);
}

#ifndef FAULT_NO_SHIM
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

#define RA ((uintptr_t)__builtin_return_address(0))

void *malloc(size_t n)
{
	void *p;

	if (shim_fail(RA)) {
		errno = ENOMEM;
		return NULL;
	}
	p = __libc_malloc(n);
	shim_track(RA, p);
	return p;
}

void *calloc(size_t a, size_t b)
{
	void *p;

	if (shim_fail(RA)) {
		errno = ENOMEM;
		return NULL;
	}
	p = __libc_calloc(a, b);
	shim_track(RA, p);
	return p;
}

void *realloc(void *old, size_t n)
{
	void *p;

	if (shim_fail(RA)) {
		errno = ENOMEM;
		return NULL;	/* old stays valid, as realloc(3) says */
	}
	shim_untrack(old);
	p = __libc_realloc(old, n);
	if (!p && old)
		shim_track(RA, old);
	shim_track(RA, p);
	return p;
}

void *aligned_alloc(size_t align, size_t n)
{
	void *p;

	if (shim_fail(RA)) {
		errno = ENOMEM;
		return NULL;
	}
	p = __libc_memalign(align, n);
	shim_track(RA, p);
	return p;
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (shim_fail(RA))
		return ENOMEM;
	p = __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	shim_track(RA, p);
	*out = p;
	return 0;
}

void free(void *p)
{
	shim_untrack(p);
	__libc_free(p);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	long r;

	if (shim_fail(RA)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	if (r == -1)
		return MAP_FAILED;
	shim_track(RA, (void *)r);
	return (void *)r;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len)
{
	shim_untrack(addr);
	return (int)syscall(SYS_munmap, addr, len);
}
#endif

static int find_libs(struct dl_phdr_info *info, size_t size, void *data)
{
	const char *name = info->dlpi_name;
	int i;

	(void)size;
	(void)data;
	if (!name || (!strstr(name, "libkev.so") && !strstr(name, "liburing")))
		return 0;
	for (i = 0; i < info->dlpi_phnum && nlibs < 8; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			libs[nlibs].lo = info->dlpi_addr + ph->p_vaddr;
			libs[nlibs].hi = libs[nlibs].lo + ph->p_memsz;
			nlibs++;
		}
	}
	return 0;
}

static void shim_reset(long fail)
{
	pthread_mutex_lock(&shim_lock);
	counted = 0;
	injected = 0;
	fail_at = fail;
	pthread_mutex_unlock(&shim_lock);
}

/* ------------------------------------------------------------ helpers */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own */
}

static struct ukevent ev(uint32_t type, uint64_t id, uint32_t event,
			 uint32_t flags, uint64_t data)
{
	return kt_ukevent(type, id, event, flags, data, id ^ 0xfa17);
}

static int wait_ms(int fd, unsigned int min_nr, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	int r;

	do
		r = kevent_wait(fd, min_nr, &ts);
	while (r < 0 && errno == EINTR);
	return r;
}

/*
 * Take events until both the USER and the TIMER event of this id came, or
 * ms passed: bit 0 for the user event, bit 1 for the timer.
 */
static int take_keys(int fd, struct kevent_ring *ring, uint64_t id, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	struct ukevent e;
	int seen = 0;

	while (seen != 3) {
		if (ukevent_dequeue(fd, ring, &e, &ts) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (e.id == id && e.type == KEVENT_USER)
			seen |= 1;
		else if (e.id == id && e.type == KEVENT_TIMER)
			seen |= 2;
	}
	return seen;
}

/* The queue still works: a new user event and a new timer are delivered. */
static void still_works(int fd, struct kevent_ring *ring, const char *after)
{
	struct ukevent u = ev(KEVENT_USER, 0xa11e, 0, 0, 0);
	struct ukevent t = ev(KEVENT_TIMER, 0xa11e, 0, KEVENT_REQ_ONESHOT,
			      1000000);
	int r;

	r = kevent_ctl(fd, KEVENT_CTL_ADD, 1, &u);
	check(r == 1, "%s: ADD of a user event: %d %s", after, r,
	      strerror((int)u.ret_data));
	r = kevent_ctl(fd, KEVENT_CTL_ADD, 1, &t);
	check(r == 1, "%s: ADD of a timer: %d %s", after, r,
	      strerror((int)t.ret_data));
	u.ret_flags = 0;
	check(kevent_ctl(fd, KEVENT_CTL_READY, 1, &u) == 1,
	      "%s: READY", after);
	/* in either order: the timer may fire before the READY */
	r = take_keys(fd, ring, 0xa11e, 5000);
	check(r & 1, "%s: the user event was lost", after);
	check(r & 2, "%s: the timer was lost", after);
	u.ret_flags = 0;
	check(kevent_ctl(fd, KEVENT_CTL_REMOVE, 1, &u) == 1,
	      "%s: REMOVE", after);
}

/* ------------------------------------------------------------ 1. ENOMEM */

static char tmpdir[64];

/*
 * One batch of ADDs of every type, made while allocations may fail: the
 * result of each entry must be success or ENOMEM, the return value their
 * count, and REMOVE must take back exactly the successful ones.
 */
#define NBATCH 300

static void batch(int fd, int *p, int dfd, bool armed, const char *what)
{
	static struct ukevent e[NBATCH + 8];
	unsigned int i, n = 0, ok = 0;
	int r;

	for (i = 0; i < NBATCH; i++)	/* past a slab, a direct table */
		e[n++] = ev(KEVENT_USER, i * 7, 0, 0, 0);
	e[n++] = ev(KEVENT_USER, 1ull << 40, 0, 0, 0);	/* hashed */
	e[n++] = ev(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN, 0, 0);
	e[n++] = ev(KEVENT_TIMER, 1, 0, 0, 3600ull * 1000000000);
	e[n++] = ev(KEVENT_TIMER, 2, KEVENT_TIMER_REALTIME, 0,
		    3600ull * 1000000000);
	e[n++] = ev(KEVENT_SIGNAL, SIGUSR2, 0, 0, 0);
	e[n++] = ev(KEVENT_INODE, (uint64_t)dfd, KEVENT_INODE_CREATE, 0, 0);
	e[n++] = ev(KEVENT_PROC, (uint64_t)getpid(), KEVENT_PROC_EXIT, 0, 0);
	if (armed)
		__atomic_store_n(&shim_on, 1, __ATOMIC_RELAXED);
	r = kevent_ctl(fd, KEVENT_CTL_ADD, n, e);
	for (i = 0; i < n; i++) {
		if (!(e[i].ret_flags & KEVENT_RET_ERROR)) {
			ok++;
			continue;
		}
		check(e[i].ret_data == ENOMEM, "%s: entry %u (type %u): %s", what,
		      i, e[i].type, strerror((int)e[i].ret_data));
	}
	check(r == (int)ok, "%s: returned %d, %u succeeded", what, r, ok);
	/* move a timer to another clock: the heap may fail to grow */
	e[0] = ev(KEVENT_TIMER, 1, KEVENT_TIMER_BOOTTIME, 0,
		  3600ull * 1000000000);
	r = kevent_ctl(fd, KEVENT_CTL_MODIFY, 1, e);
	check(r == 1 || (r == 0 && (e[0].ret_data == ENOMEM ||
				    e[0].ret_data == ENOENT)),
	      "%s: MODIFY of a timer: %d %s", what, r,
	      strerror((int)e[0].ret_data));
	wait_ms(fd, 1, 0);
	__atomic_store_n(&shim_on, 0, __ATOMIC_RELAXED);
}

struct scenario {
	const char *name;
	long allocs;
};

/* Run 'init' or 'batch' with the k-th library allocation failing. */
static void enomem_round(long k, bool init_only, long *allocs, int *p,
			 int dfd)
{
	struct kevent_ring *ring;
	int fds0 = count_fds(), fd;
	long live0;
	char what[64];

	snprintf(what, sizeof(what), "%s, allocation %ld failing",
		 init_only ? "kevent_init" : "kevent_ctl", k);
	pthread_mutex_lock(&shim_lock);
	live0 = live;
	pthread_mutex_unlock(&shim_lock);
	shim_reset(k);
	if (init_only)
		__atomic_store_n(&shim_on, 1, __ATOMIC_RELAXED);
	fd = kevent_init(&ring, 16, 0);
	if (init_only) {
		__atomic_store_n(&shim_on, 0, __ATOMIC_RELAXED);
		*allocs = counted;
		if (fd < 0) {
			check(injected == 1, "%s: kevent_init failed (%s) "
			      "with nothing injected", what, strerror(errno));
			check(errno == ENOMEM, "%s: errno %s, not ENOMEM",
			      what, strerror(errno));
			check(count_fds() == fds0, "%s: %d descriptors leaked",
			      what, count_fds() - fds0);
			check(live == live0, "%s: %ld allocations leaked",
			      what, live - live0);
			return;
		}
		check(!injected || k == 0, "%s: succeeded with an "
		      "allocation failed", what);
	} else {
		if (fd < 0) {
			bad("%s: kevent_init: %s", what, strerror(errno));
			return;
		}
		shim_reset(k);
		batch(fd, p, dfd, true, what);
		*allocs = counted;
	}
	still_works(fd, ring, what);
	check(kevent_close(fd) == 0, "%s: kevent_close: %s", what,
	      strerror(errno));
	check(count_fds() == fds0, "%s: %d descriptors leaked", what,
	      count_fds() - fds0);
	pthread_mutex_lock(&shim_lock);
	check(live == live0, "%s: %ld allocations leaked", what,
	      live - live0);
	pthread_mutex_unlock(&shim_lock);
}

static void test_enomem(void)
{
	struct kevent_ring *ring;
	long allocs = 0, k, total = 0;
	int p[2], dfd, fd, pass;

#ifdef FAULT_NO_SHIM
	skip("allocation failures, one at a time",
	     "built with a sanitizer, whose allocator cannot be replaced");
	return;
#endif
	dl_iterate_phdr(find_libs, NULL);
	if (!nlibs) {
		skip("allocation failures, one at a time",
		     "libkev is not a shared library here");
		return;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return;
	dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* warm up: the library's process-wide tables, the queue free list */
	fd = kevent_init(&ring, 16, 0);
	if (fd >= 0)
		kevent_close(fd);
	__atomic_store_n(&track_on, 1, __ATOMIC_RELAXED);
	for (pass = 0; pass < 2; pass++) {
		bool init_only = pass == 0;

		/* counting run (nothing fails), then each one failing */
		enomem_round(0, init_only, &allocs, p, dfd);
		printf("# %s: %ld allocations from the library\n",
		       init_only ? "kevent_init" : "a batch of every type",
		       allocs);
		for (k = 1; k <= allocs && k < 2000; k++) {
			long a;

			enomem_round(k, init_only, &a, p, dfd);
			total++;
		}
	}
	__atomic_store_n(&track_on, 0, __ATOMIC_RELAXED);
	printf("# %ld runs with one library allocation failing\n", total);
	check(total > 0, "no allocation made by the library was seen");
	result("allocation failures, one at a time: ENOMEM, no leak, the "
	       "queue works after");
	close(dfd);
	close(p[0]);
	close(p[1]);
}

/* ------------------------------------------------------------ 2. EMFILE */

static void test_emfile(void)
{
	struct kevent_ring *ring;
	struct rlimit rl, low;
	struct ukevent e[40];
	int fd = kevent_init(&ring, 64, 0), p[2], dfd, i, n = 0, r, ok = 0;
	int emfile = 0, fds0;
	pid_t kids[8];

	if (fd < 0 || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		bad("setup: %s", strerror(errno));
		result("EMFILE mid-batch");
		return;
	}
	if (!strcmp(kevent_backend(fd), "kmod")) {
		kevent_close(fd);
		close(p[0]);
		close(p[1]);
		skip("EMFILE mid-batch", "the kmod backend opens no descriptor "
		     "for a registration");
		return;
	}
	dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (i = 0; i < 8; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			pause();
			_exit(0);
		}
	}
	/* every entry needs a descriptor: a timer, a signal, an inode
	 * (the first of each), a pidfd each, a duplicate each (uring) */
	e[n++] = ev(KEVENT_TIMER, 1, 0, 0, 3600ull * 1000000000);
	e[n++] = ev(KEVENT_SIGNAL, SIGUSR2, 0, 0, 0);
	e[n++] = ev(KEVENT_INODE, (uint64_t)dfd, KEVENT_INODE_CREATE, 0, 0);
	for (i = 0; i < 8; i++) {
		e[n++] = ev(KEVENT_PROC, (uint64_t)kids[i], KEVENT_PROC_EXIT,
			    0, 0);
		e[n++] = ev(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN, 0, 0);
		e[n - 1].id = (uint64_t)(i ? fcntl(p[0], F_DUPFD_CLOEXEC, 0) :
					 p[0]);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	fds0 = count_fds();
	low = rl;
	low.rlim_cur = (rlim_t)fds0 + 6;	/* a few, then EMFILE */
	setrlimit(RLIMIT_NOFILE, &low);
	r = kevent_ctl(fd, KEVENT_CTL_ADD, (unsigned int)n, e);
	setrlimit(RLIMIT_NOFILE, &rl);
	for (i = 0; i < n; i++) {
		if (!(e[i].ret_flags & KEVENT_RET_ERROR)) {
			ok++;
			continue;
		}
		if (e[i].ret_data == EMFILE || e[i].ret_data == ENFILE)
			emfile++;
		else
			bad("entry %d (type %u): %s, not EMFILE", i, e[i].type,
			    strerror((int)e[i].ret_data));
	}
	check(r == ok, "returned %d, %d succeeded", r, ok);
	check(emfile > 0, "no entry met the limit (%d descriptors)", fds0);
	check(ok > 0, "no entry got in under the limit");
	printf("# %d entries in, %d EMFILE\n", ok, emfile);
	still_works(fd, ring, "after EMFILE");
	/* the successful ones are there: each REMOVE succeeds once */
	for (i = 0; i < n; i++) {
		struct ukevent x = e[i];
		bool was_ok = !(e[i].ret_flags & KEVENT_RET_ERROR);

		x.ret_flags = 0;
		r = kevent_ctl(fd, KEVENT_CTL_REMOVE, 1, &x);
		check((r == 1) == was_ok, "REMOVE of entry %d (type %u): %s",
		      i, e[i].type, r == 1 ? "succeeded, but its ADD failed" :
		      strerror((int)x.ret_data));
	}
	for (i = 0; i < 8; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
		if (i)
			close((int)e[4 + 2 * i].id);
	}
	kevent_close(fd);
	close(dfd);
	close(p[0]);
	close(p[1]);
	result("EMFILE mid-batch: the failed entries say EMFILE, the others "
	       "are in, the queue works");
}

/* ------------------------------------------------------------ 3. signals */

static int handled;	/* atomic: the handler runs in the sleeper */

static void on_sig(int sig)
{
	(void)sig;
	__atomic_add_fetch(&handled, 1, __ATOMIC_RELAXED);
}

static int nhandled(void)
{
	return __atomic_load_n(&handled, __ATOMIC_RELAXED);
}

struct hammer {
	int fd;
	struct kevent_ring *ring;
	pthread_t sleeper;
	int stop;		/* atomic */
	int eintr, events, other;
	int got;		/* atomic: the trigger was seen */
};

static void *sleeper(void *p)
{
	struct hammer *h = p;
	struct ukevent e;

	while (!__atomic_load_n(&h->got, __ATOMIC_ACQUIRE)) {
		int r = kevent_wait(h->fd, 1, NULL);

		if (r < 0 && errno == EINTR) {
			__atomic_add_fetch(&h->eintr, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (r < 0) {
			h->other++;
			break;
		}
		h->events++;
		while (kevent_ring_consume(h->ring, &e))
			if (e.type == KEVENT_USER && e.id == 1)
				__atomic_store_n(&h->got, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void *hammerer(void *p)
{
	struct hammer *h = p;

	while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE))
		pthread_kill(h->sleeper, SIGUSR1);
	return NULL;
}

static void test_signals(bool restart)
{
	struct hammer h;
	struct sigaction sa;
	struct ukevent u = ev(KEVENT_USER, 1, 0, 0, 0);
	pthread_t t;
	int round, i;
	char name[128];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGUSR1, &sa, NULL);
	for (round = 0; round < 20; round++) {
		memset(&h, 0, sizeof(h));
		h.fd = kevent_init(&h.ring, 8, 0);
		if (h.fd < 0) {
			bad("kevent_init: %s", strerror(errno));
			break;
		}
		u.ret_flags = 0;
		kevent_ctl(h.fd, KEVENT_CTL_ADD, 1, &u);
		if (round & 1) {	/* and an fd, so it sleeps in the waitset */
			struct ukevent t0 = ev(KEVENT_TIMER, 9, 0, 0,
					       3600ull * 1000000000);

			kevent_ctl(h.fd, KEVENT_CTL_ADD, 1, &t0);
		}
		__atomic_store_n(&handled, 0, __ATOMIC_RELAXED);
		pthread_create(&h.sleeper, NULL, sleeper, &h);
		pthread_create(&t, NULL, hammerer, &h);
		/*
		 * A burst of signals first, then the trigger among them: wait
		 * (on state, up to a minute on a loaded machine) until signals
		 * were handled and, without SA_RESTART, one ended a sleep.
		 */
		for (i = 0; i < 600000 &&
		     (nhandled() < 200 ||
		      (!restart && !__atomic_load_n(&h.eintr, __ATOMIC_RELAXED)));
		     i++)
			usleep(100);
		u.ret_flags = 0;
		check(kevent_ctl(h.fd, KEVENT_CTL_READY, 1, &u) == 1,
		      "READY: %s", strerror((int)u.ret_data));
		for (i = 0; i < 100000 &&
		     !__atomic_load_n(&h.got, __ATOMIC_ACQUIRE); i++)
			usleep(100);
		__atomic_store_n(&h.stop, 1, __ATOMIC_RELEASE);
		pthread_join(t, NULL);
		check(__atomic_load_n(&h.got, __ATOMIC_ACQUIRE),
		      "round %d: the trigger was lost under %d signals "
		      "(%d EINTR)", round, nhandled(), h.eintr);
		if (!__atomic_load_n(&h.got, __ATOMIC_ACQUIRE)) {
			/* unblock the sleeper to end the test */
			kevent_close(h.fd);
			pthread_join(h.sleeper, NULL);
			break;
		}
		pthread_join(h.sleeper, NULL);
		check(h.other == 0, "round %d: kevent_wait failed with "
		      "something else than EINTR", round);
		check(nhandled() > 0, "round %d: no signal was handled", round);
		check(restart || h.eintr > 0, "round %d: %d signals, no EINTR",
		      round, nhandled());
		still_works(h.fd, h.ring, "after the signals");
		kevent_close(h.fd);
	}
	signal(SIGUSR1, SIG_IGN);
	snprintf(name, sizeof(name), "signals hammering a sleeping "
		 "kevent_wait (%s): EINTR, no lost wake-up",
		 restart ? "SA_RESTART" : "no SA_RESTART");
	result(name);
}

/* ------------------------------------------------------------ 4. fork */

struct busy {
	int fd;
	struct kevent_ring *ring;
	int stop;
	int got;
};

static void *busy_waiter(void *p)
{
	struct busy *b = p;
	struct ukevent e;

	while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
		if (wait_ms(b->fd, 1, 1000) < 0)
			break;
		while (kevent_ring_consume(b->ring, &e))
			if (e.type == KEVENT_USER && e.id == 2)
				__atomic_add_fetch(&b->got, 1,
						   __ATOMIC_RELEASE);
	}
	return NULL;
}

static void *busy_ctl(void *p)
{
	struct busy *b = p;
	struct ukevent e = ev(KEVENT_USER, 3, 0, 0, 0);

	while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
		e.ret_flags = 0;
		kevent_ctl(b->fd, KEVENT_CTL_READY, 1, &e);
	}
	return NULL;
}

static void test_fork(void)
{
	struct busy b;
	struct ukevent u2 = ev(KEVENT_USER, 2, 0, 0, 0);
	struct ukevent u3 = ev(KEVENT_USER, 3, 0, 0, 0);
	pthread_t w, c;
	int i, status, p[2];

	memset(&b, 0, sizeof(b));
	b.fd = kevent_init(&b.ring, 64, 0);
	if (b.fd < 0 || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		bad("setup: %s", strerror(errno));
		result("fork while in use");
		return;
	}
	kevent_ctl(b.fd, KEVENT_CTL_ADD, 1, &u2);
	kevent_ctl(b.fd, KEVENT_CTL_ADD, 1, &u3);
	{
		struct ukevent pe = ev(KEVENT_POLL, (uint64_t)p[0],
				       KEVENT_POLL_IN, 0, 0);

		kevent_ctl(b.fd, KEVENT_CTL_ADD, 1, &pe);
	}
	pthread_create(&w, NULL, busy_waiter, &b);
	pthread_create(&c, NULL, busy_ctl, &b);
	for (i = 0; i < 20; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			struct ukevent x = ev(KEVENT_USER, 2, 0, 0, 0);
			int bad_calls = 0;

			if (kevent_ctl(b.fd, KEVENT_CTL_READY, 1, &x) != -1 ||
			    errno != EBADF)
				bad_calls |= 1;
			if (kevent_wait(b.fd, 1, NULL) != -1 || errno != EBADF)
				bad_calls |= 2;
			if (kevent_backend(b.fd) != NULL)
				bad_calls |= 4;
			if (kevent_close(b.fd) != 0)
				bad_calls |= 8;
			_exit(bad_calls);
		}
		if (pid < 0) {
			bad("fork: %s", strerror(errno));
			break;
		}
		check(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0,
		      "fork %d: the child's calls were not EBADF/0 (%#x)", i,
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		u2.ret_flags = 0;
		check(kevent_ctl(b.fd, KEVENT_CTL_READY, 1, &u2) == 1,
		      "fork %d: READY in the parent: %s", i,
		      strerror((int)u2.ret_data));
		if (write(p[1], "f", 1) != 1)
			bad("write");
	}
	for (i = 0; i < 50000 && __atomic_load_n(&b.got, __ATOMIC_ACQUIRE) < 1;
	     i++)
		usleep(100);
	__atomic_store_n(&b.stop, 1, __ATOMIC_RELEASE);
	pthread_join(c, NULL);
	pthread_join(w, NULL);
	check(b.got > 0, "the parent's sleeper never saw a trigger");
	still_works(b.fd, b.ring, "after 20 forks");
	kevent_close(b.fd);
	close(p[0]);
	close(p[1]);
	result("fork while in use: EBADF in the child, the parent's queue "
	       "works");
}

/* ------------------------------------------------------------ main */

int main(void)
{
	struct kevent_ring *ring;
	sigset_t s;
	int fd;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kevent-fault-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		printf("1..0 # SKIP no temporary directory\n");
		return 0;
	}
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);		/* watched: blocked */
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	fd = kevent_init(&ring, 8, 0);
	if (fd < 0) {
		printf("1..0 # SKIP kevent_init: %s\n", strerror(errno));
		return 0;
	}
	printf("1..5\n# backend %s\n", kevent_backend(fd));
	kevent_close(fd);
	test_enomem();
	test_emfile();
	test_signals(false);
	test_signals(true);
	test_fork();
	rmdir(tmpdir);
	printf("# fault: backend=%s tests=%d failed=%d\n",
	       getenv("KEVENT_BACKEND") ? getenv("KEVENT_BACKEND") : "default",
	       ntest, nfail);
	return nfail ? 1 : 0;
}
