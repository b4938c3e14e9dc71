// SPDX-License-Identifier: MIT
/*
 * Regression tests of issue 15: each defect found by attacking libkev, as
 * a test that failed before its fix.  Written against <kevent.h> only and
 * run on every backend; a test that needs a capability the machine lacks
 * skips and says why.
 *
 *   1. MODIFY of a timer to another clock (timer heaps).
 *   2. REMOVE/MODIFY/ENABLE of a registration whose fd was closed, once the
 *      number is reused (by the library's own descriptors, or the caller's).
 *   3. EINTR from kevent_wait when the sleep also submits work (uring).
 *   6. One kevent_wait publishes everything ready that fits the ring.
 *   8. A zero-timeout wait leaves every watch armed in the kernel (found
 *      after issue 15, by a CI run of the Python suite).
 *   (4, fairness, is test_fairness.c; 7, the queue fd polled by another
 *   loop, is test_nest.c; 5, cost per operation, is bench/scale.c.)
 */
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "regress.h"

#define LONG_MS	5000	/* reached only when an event was lost */

/* ================================================ 1. timers across clocks */

static const uint32_t clocks[] = {
	KEVENT_TIMER_MONOTONIC, KEVENT_TIMER_REALTIME, KEVENT_TIMER_BOOTTIME,
};
#define NCLOCKS 3

static const clockid_t clockids[] = {
	CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME,
};

/*
 * The defect as found: MONOTONIC, MODIFY to REALTIME, REMOVE, ADD another
 * REALTIME timer.  The timer was deleted from the heap of its new clock,
 * so the second ADD corrupted it (SEGV, or UBSan first).
 */
Test(regress, timer_modify_to_realtime_then_remove_then_add)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;

	add_ok(fd, ev_make(KEVENT_TIMER, 1, KEVENT_TIMER_MONOTONIC, 0,
			   3600ull * 1000000000, 1));
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY,
			  ev_make(KEVENT_TIMER, 1, KEVENT_TIMER_REALTIME, 0,
				  3600ull * 1000000000, 2)), 0);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_TIMER, 1, 0, 0, 0, 0)), 0);
	add_ok(fd, ev_make(KEVENT_TIMER, 2, KEVENT_TIMER_REALTIME,
			   KEVENT_REQ_ONESHOT, 1000000, 3));
	cr_assert(take(fd, ring, &out, LONG_MS), "the REALTIME timer never fired");
	cr_assert_eq(out.id, 2);
	cr_assert_eq(out.user, 3);
	kevent_close(fd);
}

/*
 * Every move between clocks (relative and absolute), with other timers in
 * every heap, so a node taken out of the wrong heap shows: each timer must
 * then fire once, on its last clock, and the long ones never.
 */
Test(regress, timers_move_between_every_clock)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 64);
	unsigned int from, to, i, fired = 0;
	uint64_t id = 100;
	struct ukevent out;
	unsigned char seen[16] = { 0 };

	/* long timers in every heap, that must stay there untouched */
	for (i = 0; i < 3 * NCLOCKS; i++)
		add_ok(fd, ev_make(KEVENT_TIMER, 1000 + i, clocks[i % NCLOCKS],
				   0, 3600ull * 1000000000, 0));
	for (from = 0; from < NCLOCKS; from++) {
		for (to = 0; to < NCLOCKS; to++) {
			uint64_t now = now_ns(clockids[to]);

			add_ok(fd, ev_make(KEVENT_TIMER, id, clocks[from], 0,
					   3600ull * 1000000000, 0));
			/* relative on 'from', absolute on 'to', then relative
			 * again on 'to': three moves, one timer */
			cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY,
					  ev_make(KEVENT_TIMER, id,
						  clocks[to] | KEVENT_TIMER_ABSTIME,
						  0, now + 3600ull * 1000000000,
						  0)), 0);
			cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY,
					  ev_make(KEVENT_TIMER, id, clocks[to],
						  KEVENT_REQ_ONESHOT, 1000000,
						  id)), 0);
			id++;
		}
	}
	/* a REMOVE and an ADD in every heap after all the moves */
	for (i = 0; i < NCLOCKS; i++) {
		cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
				  ev_make(KEVENT_TIMER, 1000 + i, 0, 0, 0, 0)), 0);
		add_ok(fd, ev_make(KEVENT_TIMER, 2000 + i, clocks[i],
				   KEVENT_REQ_ONESHOT, 2000000, 2000 + i));
	}
	while (fired < 9 + NCLOCKS) {
		cr_assert(take(fd, ring, &out, LONG_MS),
			  "%u of %u timers fired", fired, 9 + NCLOCKS);
		cr_assert_eq(out.type, KEVENT_TIMER);
		cr_assert_eq(out.user, out.id, "timer %llu: user %llu",
			     (unsigned long long)out.id,
			     (unsigned long long)out.user);
		cr_assert(out.ret_flags & KEVENT_RET_REMOVED);
		if (out.id < 2000) {
			cr_assert(out.id >= 100 && out.id < 109);
			cr_assert_eq(seen[out.id - 100], 0);
			seen[out.id - 100] = 1;
		}
		fired++;
	}
	expect_none(fd, ring, 20);
	kevent_close(fd);
}

/*
 * A MODIFY that fails leaves the timer as it was: same clock, same heap,
 * same fields; it still fires, and the heaps stay sound for the timers
 * added after it.
 */
Test(regress, failed_timer_modify_leaves_it_unchanged)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out, bad[4];
	unsigned int i;

	add_ok(fd, ev_make(KEVENT_TIMER, 1, KEVENT_TIMER_BOOTTIME,
			   KEVENT_REQ_ONESHOT, 20000000, 0x71));
	/* each invalid on another clock */
	bad[0] = ev_make(KEVENT_TIMER, 1, KEVENT_TIMER_REALTIME, 0, 0, 0xbad);
	bad[1] = ev_make(KEVENT_TIMER, 1, KEVENT_TIMER_MONOTONIC,
			 KEVENT_REQ_ET, 1000, 0xbad);
	bad[2] = ev_make(KEVENT_TIMER, 1, 3, 0, 1000, 0xbad);
	bad[3] = ev_make(KEVENT_TIMER, 1, KEVENT_TIMER_REALTIME, 0,
			 UINT64_MAX, 0xbad);
	for (i = 0; i < 4; i++)
		cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad[i]), EINVAL,
			     "entry %u", i);
	add_ok(fd, ev_make(KEVENT_TIMER, 2, KEVENT_TIMER_REALTIME,
			   KEVENT_REQ_ONESHOT, 1000000, 0x72));
	add_ok(fd, ev_make(KEVENT_TIMER, 3, KEVENT_TIMER_BOOTTIME,
			   KEVENT_REQ_ONESHOT, 1000000, 0x73));
	for (i = 0; i < 3; i++) {
		cr_assert(take(fd, ring, &out, LONG_MS), "%u fired", i);
		cr_assert_eq(out.user, 0x70 + out.id);
		if (out.id == 1) {
			cr_assert_eq(out.event, KEVENT_TIMER_BOOTTIME);
			cr_assert_eq(out.data, 20000000);
		}
	}
	expect_none(fd, ring, 20);
	kevent_close(fd);
}

/* ============================================= 2. closed fds, reused numbers */

/*
 * A registered pipe whose read end the caller closes without REMOVE.  The
 * number then goes to the next descriptor anyone creates: make it the
 * lowest free one, so that descriptor is the library's.
 */
struct closed {
	int fd;
	struct kevent_ring *ring;
	int num;		/* the closed number */
	struct rg_fill fill;
};

static void closed_setup(struct closed *c, bool published_and_muted)
{
	int p[2];

	c->fd = q_open(&c->ring, 8);
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	c->num = p[0];
	add_ok(c->fd, ev_make(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN, 0,
			      0, 0x919e));
	if (published_and_muted) {
		/*
		 * Published, and reported again while its entry is in the
		 * ring: the backend stops watching it until the consumer
		 * passes the entry, and then watches it again by number.
		 */
		cr_assert_eq(write(p[1], "x", 1), 1);
		cr_assert_eq(wait_ms(c->fd, 1, LONG_MS), 1);
		cr_assert_eq(wait_ms(c->fd, 2, 10), 1);
	}
	close(p[1]);
	close(p[0]);
	rg_make_lowest_free(c->num, &c->fill);
}

static struct ukevent closed_key(const struct closed *c)
{
	return ev_make(KEVENT_POLL, (uint64_t)c->num, KEVENT_POLL_IN, 0, 0, 0);
}

/*
 * Everything a caller may still do with the old registration: MODIFY
 * (EBADF where the backend no longer has the file, else success), DISABLE
 * and ENABLE, consume its entry and wait (which rechecks it), and REMOVE,
 * which must succeed once and free it.  None of it may touch the
 * descriptor that now has the number.
 */
static void closed_poke_then_remove(struct closed *c)
{
	struct ukevent m = ev_make(KEVENT_POLL, (uint64_t)c->num,
				   KEVENT_POLL_IN | KEVENT_POLL_OUT, 0, 0, 0);
	int err = ctl1(c->fd, KEVENT_CTL_MODIFY, m);

	cr_assert(err == 0 || err == EBADF, "MODIFY: %s", strerror(err));
	cr_assert_eq(ctl1(c->fd, KEVENT_CTL_DISABLE, closed_key(c)), 0);
	cr_assert_eq(ctl1(c->fd, KEVENT_CTL_ENABLE, closed_key(c)), 0);
	rg_drain(c->ring);
	wait_ms(c->fd, 1, 0);
	rg_drain(c->ring);
	cr_assert_eq(ctl1(c->fd, KEVENT_CTL_REMOVE, closed_key(c)), 0);
	cr_assert_eq(ctl1(c->fd, KEVENT_CTL_REMOVE, closed_key(c)), ENOENT);
	rg_drain(c->ring);
}

/* Take events until one of (type, id) arrives; 1, or 0 on timeout. */
static int take_key(int fd, struct kevent_ring *ring, uint32_t type,
		    uint64_t id, struct ukevent *out)
{
	while (take(fd, ring, out, LONG_MS))
		if (out->type == type && out->id == id)
			return 1;
	return 0;
}

static void closed_number_goes_to_timerfd(bool muted)
{
	struct closed c;
	struct ukevent out;

	closed_setup(&c, muted);
	/* the first timer makes the library create its timerfd */
	add_ok(c.fd, ev_make(KEVENT_TIMER, 1, 0, 0, 3600ull * 1000000000, 0));
	rg_unfill(&c.fill);
	closed_poke_then_remove(&c);
	add_ok(c.fd, ev_make(KEVENT_TIMER, 2, 0, KEVENT_REQ_ONESHOT,
			     1000000, 0x22));
	cr_assert(take_key(c.fd, c.ring, KEVENT_TIMER, 2, &out),
		  "timers stopped firing: the timerfd was taken for the "
		  "closed fd");
	kevent_close(c.fd);
}

Test(regress, closed_fd_number_reused_by_timerfd)
{
	closed_number_goes_to_timerfd(false);
}

Test(regress, closed_fd_number_reused_by_timerfd_after_mute)
{
	closed_number_goes_to_timerfd(true);
}

Test(regress, closed_fd_number_reused_by_signalfd)
{
	struct closed c;
	struct ukevent out;
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &s, NULL), 0);
	closed_setup(&c, true);
	add_ok(c.fd, ev_make(KEVENT_SIGNAL, SIGUSR2, 0, 0, 0, 0x52));
	rg_unfill(&c.fill);
	closed_poke_then_remove(&c);
	raise(SIGUSR2);
	cr_assert(take_key(c.fd, c.ring, KEVENT_SIGNAL, SIGUSR2, &out),
		  "the signal was lost: the signalfd was taken for the "
		  "closed fd");
	kevent_close(c.fd);
}

Test(regress, closed_fd_number_reused_by_inotify)
{
	char dir[] = "/tmp/kevent-regress-XXXXXX", path[64];
	struct closed c;
	struct ukevent out;
	int dfd, f;

	cr_assert_not_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	closed_setup(&c, true);
	add_ok(c.fd, ev_make(KEVENT_INODE, (uint64_t)dfd, KEVENT_INODE_CREATE,
			     0, 0, 0x1d));
	rg_unfill(&c.fill);
	closed_poke_then_remove(&c);
	snprintf(path, sizeof(path), "%s/new", dir);
	f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	cr_assert_geq(f, 0);
	close(f);
	cr_assert(take_key(c.fd, c.ring, KEVENT_INODE, (uint64_t)dfd, &out),
		  "the file event was lost: the inotify fd was taken for "
		  "the closed fd");
	cr_assert(out.event & KEVENT_INODE_CREATE);
	unlink(path);
	kevent_close(c.fd);
	close(dfd);
	rmdir(dir);
}

Test(regress, closed_fd_number_reused_by_pidfd)
{
	struct closed c;
	struct ukevent out;
	int go[2], status;
	pid_t pid;
	char x;

	cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(go[1]);
		_exit(read(go[0], &x, 1) == 1 ? 7 : 8);
	}
	close(go[0]);
	closed_setup(&c, true);
	add_ok(c.fd, ev_make(KEVENT_PROC, (uint64_t)pid, KEVENT_PROC_EXIT, 0,
			     0, 0x9d));
	rg_unfill(&c.fill);
	closed_poke_then_remove(&c);
	cr_assert_eq(write(go[1], "x", 1), 1);
	cr_assert(take_key(c.fd, c.ring, KEVENT_PROC, (uint64_t)pid, &out),
		  "the exit was lost: the pidfd was taken for the closed fd");
	cr_assert(WIFEXITED((int)out.ret_data));
	cr_assert_eq(WEXITSTATUS((int)out.ret_data), 7);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	close(go[1]);
	kevent_close(c.fd);
}

/*
 * The caller's own new descriptor gets the number: the old registration
 * is removed without touching it, and the new one registers and works.
 */
Test(regress, closed_fd_number_reused_by_the_caller)
{
	struct closed c;
	struct ukevent out;
	int p[2];

	closed_setup(&c, true);
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	cr_assert_eq(p[0], c.num);
	rg_unfill(&c.fill);
	/* still registered: the new pipe cannot be added under it yet */
	cr_assert_eq(ctl1(c.fd, KEVENT_CTL_ADD,
			  ev_make(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN,
				  0, 0, 0)), EEXIST);
	closed_poke_then_remove(&c);
	add_ok(c.fd, ev_make(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN, 0, 0,
			     0x2e));
	cr_assert_eq(write(p[1], "y", 1), 1);
	cr_assert(take_key(c.fd, c.ring, KEVENT_POLL, (uint64_t)p[0], &out));
	cr_assert_eq(out.user, 0x2e);
	cr_assert(out.event & KEVENT_POLL_IN);
	close(p[0]);
	close(p[1]);
	kevent_close(c.fd);
}

/*
 * The watched file outlives its number (another descriptor holds it), the
 * registration is removed after the close, and the same file comes back
 * under the same number: it must register again and be reported.  (epoll
 * kept the old item, keyed by file and number, and refused the new one
 * with EEXIST.)
 */
Test(regress, same_file_back_under_a_closed_number)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	int p[2], keep;

	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	keep = fcntl(p[0], F_DUPFD_CLOEXEC, 0);
	cr_assert_geq(keep, 0);
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN, 0, 0, 1));
	close(p[0]);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_POLL, (uint64_t)p[0], 0, 0, 0, 0)), 0);
	cr_assert_eq(dup3(keep, p[0], O_CLOEXEC), p[0]);
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN, 0, 0, 2));
	cr_assert_eq(write(p[1], "z", 1), 1);
	cr_assert(take(fd, ring, &out, LONG_MS), "the file is not reported");
	cr_assert_eq(out.id, (uint64_t)p[0]);
	cr_assert_eq(out.user, 2);
	rg_drain(ring);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_POLL, (uint64_t)p[0], 0, 0, 0, 0)), 0);
	wait_ms(fd, 1, 0);
	rg_drain(ring);
	expect_none(fd, ring, 20);
	close(keep);
	close(p[0]);
	close(p[1]);
	kevent_close(fd);
}

/*
 * KEVENT_INODE: the fd is closed and its number reused by another file;
 * MODIFY must not watch the new file in place of the old one (nor take
 * over another registration's watch), and REMOVE frees it.
 */
Test(regress, inode_modify_after_fd_reused)
{
	char dir[] = "/tmp/kevent-regress-XXXXXX", a[64], b[64];
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	int fa, fb, num, err;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	fa = open(a, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	fb = open(b, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	cr_assert(fa >= 0 && fb >= 0);
	add_ok(fd, ev_make(KEVENT_INODE, (uint64_t)fa, KEVENT_INODE_MODIFY, 0,
			   0, 0xa));
	add_ok(fd, ev_make(KEVENT_INODE, (uint64_t)fb, KEVENT_INODE_MODIFY, 0,
			   0, 0xb));
	/* a's number now names b's file */
	num = fa;
	close(fa);
	cr_assert_eq(dup3(fb, num, O_CLOEXEC), num);
	err = ctl1(fd, KEVENT_CTL_MODIFY,
		   ev_make(KEVENT_INODE, (uint64_t)num, KEVENT_INODE_ATTRIB, 0,
			   0, 0xaa));
	cr_assert(err == 0 || err == EBADF, "MODIFY: %s", strerror(err));
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_INODE, (uint64_t)num, 0, 0, 0, 0)), 0);
	/* b's registration must still watch b, with its own mask */
	cr_assert_eq(write(fb, "b", 1), 1);
	cr_assert(take_key(fd, ring, KEVENT_INODE, (uint64_t)fb, &out),
		  "b's watch was taken over by a's registration");
	cr_assert_eq(out.user, 0xb);
	cr_assert(out.event & KEVENT_INODE_MODIFY);
	close(num);
	close(fb);
	unlink(a);
	unlink(b);
	rmdir(dir);
	kevent_close(fd);
}

/* ============================================ 3. EINTR while submitting */

static void on_signal(int sig)
{
	(void)sig;
}

struct sleeper {
	int fd;
	pid_t tid;		/* atomic */
	int ret, err;
};

static void *sleeper_thread(void *p)
{
	struct sleeper *s = p;

	__atomic_store_n(&s->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	s->ret = wait_ms(s->fd, 1, 2000);
	s->err = errno;
	return NULL;
}

/* Is the thread asleep in a system call (not running, not on a lock)? */
static int asleep_in_syscall(pid_t tid)
{
	char path[64], buf[512], *p;
	long nr;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')) || p[2] != 'S')
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || sscanf(buf, "%ld", &nr) != 1)
		return 0;
	return nr != SYS_futex;
}

/*
 * The sleeping kevent_wait also hands the kernel work queued just before
 * (here: the level-triggered fd to watch again after its entry was
 * consumed).  One signal, sent once the thread sleeps, must end the wait
 * with EINTR: io_uring_enter returned the number of submissions instead,
 * and the library slept again until the timeout.
 */
Test(regress, eintr_while_the_sleep_submits)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct sleeper s = { .fd = fd };
	struct sigaction sa;
	struct ukevent out;
	pthread_t t;
	int p[2], i;
	char c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART */
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN, 0, 0, 0));
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert(take(fd, ring, &out, LONG_MS));
	cr_assert_eq(read(p[0], &c, 1), 1);
	pthread_create(&t, NULL, sleeper_thread, &s);
	for (i = 0; i < 20000; i++) {
		pid_t tid = __atomic_load_n(&s.tid, __ATOMIC_ACQUIRE);

		if (tid && asleep_in_syscall(tid))
			break;
		usleep(100);
	}
	cr_assert_lt(i, 20000, "the waiter never went to sleep");
	pthread_kill(t, SIGUSR1);
	pthread_join(t, NULL);
	cr_assert_eq(s.ret, -1, "kevent_wait returned %d, not -1/EINTR", s.ret);
	cr_assert_eq(s.err, EINTR);
	close(p[0]);
	close(p[1]);
	kevent_close(fd);
}

/* ============================== 6. one wait publishes what fits the ring */

#define NREADY 600

static int open_ready_eventfds(int *efd, int n)
{
	int i;

	rg_raise_nofile();
	for (i = 0; i < n; i++) {
		efd[i] = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
		if (efd[i] < 0) {
			while (i-- > 0)
				close(efd[i]);
			return -1;
		}
	}
	return 0;
}

static void add_all(int fd, const int *efd, int n, uint32_t flags)
{
	static struct ukevent ev[NREADY];
	int i;

	for (i = 0; i < n; i++)
		ev[i] = ev_make(KEVENT_POLL, (uint64_t)efd[i], KEVENT_POLL_IN,
				flags, 0, (uint64_t)i);
	cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_ADD, (unsigned int)n, ev), n);
}

static void close_all(const int *efd, int n)
{
	int i;

	for (i = 0; i < n; i++)
		close(efd[i]);
}

Test(regress, one_zero_timeout_wait_publishes_all_that_fit)
{
	static int efd[NREADY];
	struct kevent_ring *ring;
	int fd;

	if (open_ready_eventfds(efd, NREADY) < 0)
		cr_skip_test("cannot open %d eventfds: %s", NREADY,
			     strerror(errno));
	fd = q_open(&ring, 1024);
	add_all(fd, efd, NREADY, 0);
	cr_assert_eq(rg_wait0(fd, 1), NREADY,
		     "one wait with a zero timeout publishes every ready fd");
	cr_assert_eq(rg_drain(ring), NREADY);
	/* level-triggered and still ready: all of them again */
	cr_assert_eq(rg_wait0(fd, 1), NREADY);
	rg_drain(ring);
	kevent_close(fd);
	close_all(efd, NREADY);
}

Test(regress, wait_for_min_nr_does_not_stop_short)
{
	static int efd[NREADY];
	struct kevent_ring *ring;
	int fd;

	if (open_ready_eventfds(efd, NREADY) < 0)
		cr_skip_test("cannot open %d eventfds: %s", NREADY,
			     strerror(errno));
	fd = q_open(&ring, 1024);
	add_all(fd, efd, NREADY, KEVENT_REQ_ET);
	cr_assert_eq(rg_wait0(fd, NREADY), NREADY);
	cr_assert_eq(rg_drain(ring), NREADY);
	cr_assert_eq(rg_wait0(fd, 1), 0, "edge-triggered: nothing new");
	kevent_close(fd);
	close_all(efd, NREADY);
}

Test(regress, more_ready_than_the_ring_fills_it_then_the_rest)
{
	static int efd[NREADY];
	struct kevent_ring *ring;
	int fd;

	if (open_ready_eventfds(efd, NREADY) < 0)
		cr_skip_test("cannot open %d eventfds: %s", NREADY,
			     strerror(errno));
	fd = q_open(&ring, 512);
	add_all(fd, efd, NREADY, KEVENT_REQ_ET);
	cr_assert_eq(rg_wait0(fd, 1), 512, "the ring is filled");
	cr_assert_eq(rg_drain(ring), 512);
	cr_assert_eq(rg_wait0(fd, 1), NREADY - 512, "then the rest");
	cr_assert_eq(rg_drain(ring), NREADY - 512);
	cr_assert_eq(rg_wait0(fd, 1), 0);
	kevent_close(fd);
	close_all(efd, NREADY);
}

/* =========== 8. a zero-timeout wait leaves every watch armed in the kernel */

/*
 * Found by tests/python/test_signal_threads.py (CI, one run in ten): a
 * thread whose handler took the signal before the queue read the signalfd.
 * The wait that harvested the signalfd's report found nothing to read, and
 * watched the signalfd again, but only queued that watch (uring): the call
 * returned with it unsubmitted.  A caller that then sleeps elsewhere on the
 * queue fd (an asyncio loop, poll(2)) never saw the signal that came next.
 * Here the stealing thread is this one, with sigtimedwait(2).
 */
Test(regress, signal_taken_elsewhere_then_the_next_one_wakes_a_poller)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	const struct timespec no_wait = { 0, 0 };
	struct pollfd p;
	struct ukevent out;
	sigset_t set;
	int i;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &set, NULL), 0);
	add_ok(fd, ev_make(KEVENT_SIGNAL, SIGUSR2, 0, 0, 0, 0x82));
	for (i = 0; i < 20; i++) {
		/* the queue's watch sees this one ... */
		cr_assert_eq(kill(getpid(), SIGUSR2), 0);
		/* ... and this thread takes it first */
		cr_assert_eq(sigtimedwait(&set, NULL, &no_wait), SIGUSR2);
		cr_assert_eq(rg_wait0(fd, 1), 0, "round %d: nothing to report",
			     i);
		/* the next one must make the queue fd readable */
		cr_assert_eq(kill(getpid(), SIGUSR2), 0);
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		cr_assert_eq(poll(&p, 1, LONG_MS), 1,
			     "round %d: the queue fd did not become readable "
			     "for a pending registered signal", i);
		cr_assert_eq(rg_wait0(fd, 1), 1);
		cr_assert(kevent_ring_consume(ring, &out));
		cr_assert_eq(out.type, KEVENT_SIGNAL);
		cr_assert_eq(out.user, 0x82);
		cr_assert_eq(out.ret_data, 1);
	}
	kevent_close(fd);
	cr_assert_eq(sigprocmask(SIG_UNBLOCK, &set, NULL), 0);
}
