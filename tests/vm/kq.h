/* SPDX-License-Identifier: MIT */
/*
 * kq.h - what the guest test programs of tests/vm share: the raw ioctls of
 * /dev/kevent (no libkev), CHECK/SKIP, synchronisation on thread states,
 * module parameters, dropping to nobody, and the test runner:
 *
 *   prog --list        the registered tests, one name a line
 *   prog NAME          run one test: exit 0 pass, 1 fail, 77 skip
 *   prog --all         run every test in this process (by hand only)
 *
 * run-vm-tests.sh runs each test as its own process under a time limit, so
 * a crash, a hang or a kernel report is that test's failure and the others
 * still run.
 */
#ifndef KEVENT_VM_KQ_H
#define KEVENT_VM_KQ_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kevent.h>

#include "../common/ukevent.h"

/* A wait that must end because of what the test did: only a hang guard. */
#define HANG_NS		(30LL * 1000000000LL)
#define NOBODY		65534

__attribute__((unused)) static char why[512];
static const char *skip_why;

#define CHECK(c, ...) do { \
	if (!(c)) { \
		int e_ = errno; \
		snprintf(why, sizeof(why), __VA_ARGS__); \
		snprintf(why + strlen(why), sizeof(why) - strlen(why), \
			 " [%s:%d, errno %s]", __FILE__, __LINE__, \
			 strerror(e_)); \
		return -1; \
	} \
} while (0)

/* A missing capability of the machine, never of the module: say why. */
#define SKIP(reason) do { skip_why = (reason); return 77; } while (0)

struct kq {
	int fd;
	struct kevent_ring *ring;
	size_t bytes;
};

__attribute__((unused)) static int kq_open(struct kq *q, unsigned int size)
{
	struct kevent_setup s = { .size = sizeof(s), .ring_size = size };
	void *p;

	q->fd = open("/dev/kevent", O_RDWR | O_CLOEXEC);
	if (q->fd < 0)
		return -1;
	if (ioctl(q->fd, KEVENT_IOC_SETUP, &s) < 0) {
		int e = errno;

		close(q->fd);
		errno = e;
		return -1;
	}
	p = mmap(NULL, s.ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		 q->fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;

		close(q->fd);
		errno = e;
		return -1;
	}
	q->ring = p;
	q->bytes = s.ring_bytes;
	return 0;
}

__attribute__((unused)) static void kq_close(struct kq *q)
{
	munmap(q->ring, q->bytes);
	close(q->fd);
}

__attribute__((unused)) static int kq_ctl(int fd, unsigned int cmd, unsigned int num,
		  struct ukevent *ev)
{
	struct kevent_ctl_args a = {
		.size = sizeof(a), .cmd = cmd, .num = num,
		.events = (uint64_t)(uintptr_t)ev,
	};

	return ioctl(fd, KEVENT_IOC_CTL, &a);
}

__attribute__((unused)) static int kq_wait(int fd, unsigned int min_nr, int64_t ns)
{
	struct kevent_wait_args a = {
		.size = sizeof(a), .min_nr = min_nr, .timeout_ns = ns,
	};

	return ioctl(fd, KEVENT_IOC_WAIT, &a);
}

__attribute__((unused)) static struct ukevent mk(uint32_t type, uint64_t id, uint32_t event,
			 uint32_t flags, uint64_t data)
{
	return kt_ukevent(type, id, event, flags, data, id * 7 + 1);
}

/* One entry: 0, the errno it got, or -errno of the whole call. */
__attribute__((unused)) static int ctl1(int fd, unsigned int cmd, struct ukevent e)
{
	int n = kq_ctl(fd, cmd, 1, &e);

	if (n < 0)
		return -errno;
	if (n == 1)
		return e.ret_flags == 0 ? 0 : 1000;
	return e.ret_flags == KEVENT_RET_ERROR ? (int)e.ret_data : 1001;
}

__attribute__((unused)) static int64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((unused)) static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* The scheduler state letter of a thread of this process ('?' if gone). */
__attribute__((unused)) static char thread_state(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/*
 * Wait until thread tid, which set *flag right before a blocking call, is
 * asleep in it (state S or D).  Returns 0, or -1 when the hang guard runs
 * out or the thread is gone.
 */
__attribute__((unused)) static int wait_asleep(pid_t tid, const int *flag)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC);

	while (now_ns(CLOCK_MONOTONIC) - t0 < HANG_NS) {
		if (__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
			char s = thread_state(tid);

			if (s == 'S' || s == 'D')
				return 0;
			if (s == '?')
				return -1;
		}
		sched_yield();
	}
	return -1;
}

/* ---- module parameters (/sys/module/kevent/parameters/NAME) */

__attribute__((unused)) static int param_path(char *buf, size_t len, const char *name)
{
	return snprintf(buf, len, "/sys/module/kevent/parameters/%s", name);
}

__attribute__((unused)) static int param_exists(const char *name)
{
	char p[256];

	param_path(p, sizeof(p), name);
	return access(p, F_OK) == 0;
}

__attribute__((unused)) static long long param_get(const char *name)
{
	char p[256], buf[64];
	long long v = -1;
	ssize_t n;
	int fd;

	param_path(p, sizeof(p), name);
	fd = open(p, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = 0;
		v = strtoll(buf, NULL, 10);
	}
	return v;
}

__attribute__((unused)) static int param_set(const char *name, long long v)
{
	char p[256], buf[64];
	int fd, n, ok;

	param_path(p, sizeof(p), name);
	fd = open(p, O_WRONLY);
	if (fd < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "%lld\n", v);
	ok = write(fd, buf, (size_t)n) == n;
	close(fd);
	return ok ? 0 : -1;
}

/*
 * Wait until the module counts no queue and no registration (every file
 * of the test released).  Returns 0, or -1 when the hang guard runs out.
 */
__attribute__((unused)) static int wait_module_idle(long long queues, long long regs)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC);

	while (now_ns(CLOCK_MONOTONIC) - t0 < HANG_NS / 3) {
		if (param_get("queues") == queues &&
		    param_get("registrations") == regs)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* ---- unprivileged children */

__attribute__((unused)) static int drop_to_nobody(void)
{
	gid_t g = NOBODY;

	if (setgroups(1, &g) || setgid(NOBODY) || setuid(NOBODY))
		return -1;
	return geteuid() == NOBODY ? 0 : -1;
}

/*
 * Run fn in a forked child as nobody; the child's result is the test's.
 * The child prints its own reason on failure.
 */
__attribute__((unused)) static int as_nobody(int (*fn)(void))
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int r;

		if (drop_to_nobody()) {
			printf("FAIL: cannot drop to nobody: %s\n",
			       strerror(errno));
			_exit(1);
		}
		r = fn();
		if (r == 77)
			printf("SKIP: %s\n", skip_why ? skip_why : "?");
		else if (r)
			printf("FAIL (as nobody): %s\n", why);
		fflush(stdout);
		_exit(r == 77 ? 77 : r ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		skip_why = "(skipped as nobody)";
		return 77;
	}
	snprintf(why, sizeof(why), "the child as nobody: status %#x", status);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- the runner */

struct kq_test {
	const char *name;
	int (*fn)(void);
};

__attribute__((unused)) static int kq_run_one(const struct kq_test *t)
{
	int r;

	why[0] = 0;
	skip_why = NULL;
	r = t->fn();
	if (r == 0) {
		printf("PASS %s\n", t->name);
		return 0;
	}
	if (r == 77) {
		printf("SKIP %s: %s\n", t->name, skip_why ? skip_why : "?");
		return 77;
	}
	printf("FAIL %s: %s\n", t->name, why);
	return 1;
}

__attribute__((unused)) static int kq_main(const struct kq_test *tests, size_t n, int argc,
		   char **argv)
{
	size_t i;
	int failed = 0, j;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (i = 0; i < n; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--all")) {
		for (i = 0; i < n; i++)
			failed |= kq_run_one(&tests[i]) == 1;
		return failed;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: %s --list | --all | NAME...\n",
			argv[0]);
		return 2;
	}
	for (j = 1; j < argc; j++) {
		for (i = 0; i < n; i++)
			if (!strcmp(argv[j], tests[i].name))
				break;
		if (i == n) {
			printf("FAIL %s: no such test\n", argv[j]);
			return 1;
		}
		if (argc == 2)
			return kq_run_one(&tests[i]);
		failed |= kq_run_one(&tests[i]) == 1;
	}
	return failed;
}

#define KQ_MAIN(tests) \
int main(int argc, char **argv) \
{ \
	return kq_main(tests, sizeof(tests) / sizeof(tests[0]), argc, argv); \
}

/* The sum of a statistics histogram (struct kevent_stats). */
static inline uint64_t hsum(const __u64 *h)
{
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < KEVENT_STATS_BUCKETS; i++)
		n += h[i];
	return n;
}

#endif
