// SPDX-License-Identifier: MIT
/*
 * Conformance: signals, file changes, process exit, DISPATCH, MODIFY,
 * nested queues, loops and fork.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

/* ---- KEVENT_SIGNAL */

static void block(int sig)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, sig);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &s, NULL), 0);
}

Test(signal, two_raises_one_event_count_two)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	sigset_t pending;

	block(SIGUSR1);
	add_ok(fd, ev_make(KEVENT_SIGNAL, SIGUSR1, 0, 0, 0, 0x51));
	/*
	 * One delivery in the ring, then two signals raised (each harvested
	 * by a wait) before it is consumed: one entry with a count of 2.
	 */
	raise(SIGUSR1);
	cr_assert_eq(wait_ms(fd, 1, 1000), 1);
	raise(SIGUSR1);
	cr_assert_eq(wait_ms(fd, 2, 30), 1);	/* coalesced while queued */
	raise(SIGUSR1);
	cr_assert_eq(wait_ms(fd, 2, 30), 1);	/* coalesced again */
	kevent_ring_advance(ring, 1);
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.type, KEVENT_SIGNAL);
	cr_assert_eq(out.id, SIGUSR1);
	cr_assert_eq(out.ret_data, 2, "two deliveries coalesced: %llu",
		     (unsigned long long)out.ret_data);
	cr_assert_eq(out.user, 0x51);
	/* the signal was consumed */
	sigpending(&pending);
	cr_assert_not(sigismember(&pending, SIGUSR1));
	kevent_close(fd);
}

Test(signal, realtime_signals_count_each)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	int sig = SIGRTMIN + 1;

	block(sig);
	raise(sig);
	raise(sig);	/* real-time signals queue: both are counted */
	add_ok(fd, ev_make(KEVENT_SIGNAL, (uint64_t)sig, 0, 0, 0, 0));
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.ret_data, 2);
	kevent_close(fd);
}

Test(signal, unblocked_signal_is_einval)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD,
			  ev_make(KEVENT_SIGNAL, SIGUSR2, 0, 0, 0, 0)), EINVAL);
	block(SIGKILL);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD,
			  ev_make(KEVENT_SIGNAL, SIGKILL, 0, 0, 0, 0)), EINVAL);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD,
			  ev_make(KEVENT_SIGNAL, 0, 0, 0, 0, 0)), EINVAL);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD,
			  ev_make(KEVENT_SIGNAL, 4096, 0, 0, 0, 0)), EINVAL);
	kevent_close(fd);
}

Test(signal, remove_leaves_mask_untouched)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	sigset_t cur;

	block(SIGUSR1);
	add_ok(fd, ev_make(KEVENT_SIGNAL, SIGUSR1, 0, 0, 0, 0));
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_SIGNAL, SIGUSR1, 0, 0, 0, 0)), 0);
	sigprocmask(SIG_BLOCK, NULL, &cur);
	cr_assert(sigismember(&cur, SIGUSR1), "still blocked");
	raise(SIGUSR1);
	expect_none(fd, ring, 30);
	sigpending(&cur);
	cr_assert(sigismember(&cur, SIGUSR1), "left pending, not consumed");
	kevent_close(fd);
}

/* ---- KEVENT_INODE */

static char *mkdtemp_s(void)
{
	static char dir[64];

	strcpy(dir, "/tmp/kevent-inode-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	return dir;
}

Test(inode, create_and_delete_in_directory)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	char *dir = mkdtemp_s(), path[128];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct ukevent out;
	uint32_t seen = 0;
	int f, i;

	cr_assert_geq(dfd, 0);
	add_ok(fd, ev_make(KEVENT_INODE, (uint64_t)dfd,
			   KEVENT_INODE_CREATE | KEVENT_INODE_DELETE, 0, 0, 0));
	snprintf(path, sizeof(path), "%s/a", dir);
	f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	cr_assert_geq(f, 0);
	close(f);
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.type, KEVENT_INODE);
	cr_assert_eq(out.id, (uint64_t)dfd);
	seen |= out.event;
	unlink(path);
	for (i = 0; i < 2 && seen != (KEVENT_INODE_CREATE | KEVENT_INODE_DELETE); i++)
		if (take(fd, ring, &out, 1000))
			seen |= out.event;
	cr_assert_eq(seen, KEVENT_INODE_CREATE | KEVENT_INODE_DELETE);
	close(dfd);
	rmdir(dir);
	kevent_close(fd);
}

Test(inode, coalesced_masks_are_ored)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	char *dir = mkdtemp_s(), path[128];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct ukevent out;
	int f;

	add_ok(fd, ev_make(KEVENT_INODE, (uint64_t)dfd,
			   KEVENT_INODE_CREATE | KEVENT_INODE_DELETE, 0, 0, 0));
	snprintf(path, sizeof(path), "%s/b", dir);
	f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(f);
	unlink(path);
	/* both happened before the first wait: one entry with both bits */
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.event, KEVENT_INODE_CREATE | KEVENT_INODE_DELETE);
	close(dfd);
	rmdir(dir);
	kevent_close(fd);
}

Test(inode, modify_and_attrib_of_a_file)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	char path[] = "/tmp/kevent-file-XXXXXX";
	int f = mkstemp(path);
	struct ukevent out;

	add_ok(fd, ev_make(KEVENT_INODE, (uint64_t)f,
			   KEVENT_INODE_MODIFY | KEVENT_INODE_ATTRIB, 0, 0, 0));
	cr_assert_eq(write(f, "x", 1), 1);
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.event, KEVENT_INODE_MODIFY);
	cr_assert_eq(fchmod(f, 0640), 0);
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.event, KEVENT_INODE_ATTRIB);
	unlink(path);
	close(f);
	kevent_close(fd);
}

Test(inode, watched_directory_removed_ends_registration)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	char *dir = mkdtemp_s();
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct ukevent out;
	int i, gone = 0;

	add_ok(fd, ev_make(KEVENT_INODE, (uint64_t)dfd,
			   KEVENT_INODE_DELETE_SELF, 0, 0, 0));
	cr_assert_eq(rmdir(dir), 0);
	close(dfd);	/* the last reference: the inode goes away */
	for (i = 0; i < 3 && !gone; i++) {
		if (!take(fd, ring, &out, 1000))
			continue;
		if (out.ret_flags & KEVENT_RET_GONE) {
			gone = 1;
			cr_assert(out.ret_flags & KEVENT_RET_REMOVED);
		}
	}
	cr_assert(gone, "KEVENT_RET_GONE reported");
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_INODE, (uint64_t)dfd, 0, 0, 0, 0)),
		     ENOENT, "the registration ended");
	kevent_close(fd);
}

Test(inode, bad_fd_and_empty_mask)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);

	cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD,
			  ev_make(KEVENT_INODE, 999, KEVENT_INODE_MODIFY, 0, 0,
				  0)), EBADF);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD,
			  ev_make(KEVENT_INODE, 0, 0, 0, 0, 0)), EINVAL);
	kevent_close(fd);
}

/* ---- KEVENT_PROC */

Test(proc, child_exit_status_and_still_reapable)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	int pipefd[2], status;
	pid_t pid;

	cr_assert_eq(pipe(pipefd), 0);
	pid = fork();
	if (pid == 0) {
		char c;

		close(pipefd[1]);
		if (read(pipefd[0], &c, 1) < 0)
			_exit(1);
		_exit(7);
	}
	close(pipefd[0]);
	add_ok(fd, ev_make(KEVENT_PROC, (uint64_t)pid, KEVENT_PROC_EXIT, 0, 0,
			   0));
	expect_none(fd, ring, 20);
	close(pipefd[1]);	/* let it exit */
	cr_assert(take(fd, ring, &out, 5000));
	cr_assert_eq(out.type, KEVENT_PROC);
	cr_assert_eq(out.id, (uint64_t)pid);
	cr_assert_eq(out.event, KEVENT_PROC_EXIT);
	cr_assert(out.ret_flags & KEVENT_RET_REMOVED);
	cr_assert_eq(out.ret_flags & KEVENT_RET_NOSTATUS, 0);
	cr_assert(WIFEXITED((int)out.ret_data));
	cr_assert_eq(WEXITSTATUS((int)out.ret_data), 7);
	cr_assert_eq(waitpid(pid, &status, 0), pid, "still reapable");
	cr_assert_eq(WEXITSTATUS(status), 7);
	kevent_close(fd);
}

Test(proc, killed_child_reports_signal)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	pid_t pid = fork();

	if (pid == 0) {
		pause();
		_exit(0);
	}
	add_ok(fd, ev_make(KEVENT_PROC, (uint64_t)pid, KEVENT_PROC_EXIT, 0, 0,
			   0));
	kill(pid, SIGTERM);
	cr_assert(take(fd, ring, &out, 5000));
	cr_assert(WIFSIGNALED((int)out.ret_data));
	cr_assert_eq(WTERMSIG((int)out.ret_data), SIGTERM);
	waitpid(pid, NULL, 0);
	kevent_close(fd);
}

Test(proc, not_a_child_reports_exit_without_status)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	int p[2];
	pid_t mid, grandchild;

	/* a grandchild: not ours to wait for */
	cr_assert_eq(pipe(p), 0);
	mid = fork();
	if (mid == 0) {
		pid_t g = fork();

		if (g == 0) {
			struct timespec d = ms_ts(200);

			nanosleep(&d, NULL);
			_exit(3);
		}
		if (write(p[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		_exit(0);	/* the grandchild is re-parented */
	}
	cr_assert_eq(read(p[0], &grandchild, sizeof(grandchild)),
		     sizeof(grandchild));
	waitpid(mid, NULL, 0);
	add_ok(fd, ev_make(KEVENT_PROC, (uint64_t)grandchild, 0, 0, 0, 0));
	cr_assert(take(fd, ring, &out, 5000));
	cr_assert(out.ret_flags & KEVENT_RET_NOSTATUS);
	cr_assert(out.ret_flags & KEVENT_RET_REMOVED);
	kevent_close(fd);
}

Test(proc, nonexistent_pid_is_esrch)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);	/* reaped: the pid no longer exists */
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD,
			  ev_make(KEVENT_PROC, (uint64_t)pid, 0, 0, 0, 0)),
		     ESRCH);
	kevent_close(fd);
}

/* ---- DISPATCH, ENABLE, DISABLE, MODIFY */

Test(dispatch, once_then_silent_until_enabled)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent e = ev_make(KEVENT_USER, 1, 0, KEVENT_REQ_DISPATCH, 0, 0);
	struct ukevent out;

	add_ok(fd, e);
	ctl1(fd, KEVENT_CTL_READY, e);
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.ret_data, 1);
	ctl1(fd, KEVENT_CTL_READY, e);
	ctl1(fd, KEVENT_CTL_READY, e);
	expect_none(fd, ring, 30);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ENABLE, e), 0);
	cr_assert(take(fd, ring, &out, 1000), "delivered again once enabled");
	cr_assert_eq(out.ret_data, 2, "nothing lost while disabled");
	expect_none(fd, ring, 30);
	kevent_close(fd);
}

Test(dispatch, level_fd_rechecked_on_enable)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	int sv[2];
	struct ukevent out;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)sv[0], KEVENT_POLL_IN,
			   KEVENT_REQ_DISPATCH, 0, 0));
	cr_assert_eq(write(sv[1], "x", 1), 1);
	cr_assert(take(fd, ring, &out, 1000));
	expect_none(fd, ring, 30);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ENABLE,
			  ev_make(KEVENT_POLL, (uint64_t)sv[0], 0, 0, 0, 0)), 0);
	cr_assert(take(fd, ring, &out, 1000), "still readable");
	close(sv[0]);
	close(sv[1]);
	kevent_close(fd);
}

Test(disable, disabled_timer_delivers_counts_on_enable)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent t = ev_make(KEVENT_TIMER, 1, 0, 0, 5000000, 0), out;
	struct timespec d = ms_ts(60);

	add_ok(fd, t);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_DISABLE, t), 0);
	/* a slow machine may have delivered one before the DISABLE */
	if (wait_ms(fd, 1, 0) > 0)
		kevent_ring_advance(ring, kevent_ring_count(ring));
	nanosleep(&d, NULL);
	expect_none(fd, ring, 10);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ENABLE, t), 0);
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_geq(out.ret_data, 2, "expirations while disabled are kept");
	kevent_close(fd);
}

Test(modify, keeps_a_pending_event)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 1);
	struct ukevent a = ev_make(KEVENT_USER, 1, 0, 0, 0, 1);
	struct ukevent b = ev_make(KEVENT_USER, 2, 0, 0, 0, 2), out;

	add_ok(fd, a);
	add_ok(fd, b);
	ctl1(fd, KEVENT_CTL_READY, a);	/* fills the 1-slot ring */
	ctl1(fd, KEVENT_CTL_READY, b);	/* b pending on the ready list */
	b.user = 22;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, b), 0);
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.id, 1);
	cr_assert(take(fd, ring, &out, 1000), "pending survived MODIFY");
	cr_assert_eq(out.id, 2);
	cr_assert_eq(out.user, 22, "with the new cookie");
	kevent_close(fd);
}

Test(modify, timer_interval)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent t = ev_make(KEVENT_TIMER, 1, 0, 0, 10000000000ull, 0);
	struct ukevent out;

	add_ok(fd, t);	/* 10 s */
	t.data = 10000000;	/* 10 ms */
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, t), 0);
	cr_assert(take(fd, ring, &out, 2000));
	cr_assert_eq(out.data, 10000000);
	kevent_close(fd);
}

/*
 * A MODIFY that fails leaves the registration exactly as it was (still
 * periodic, same interval and cookie); one that succeeds turns it into a
 * one-shot timer with the new cookie, removed with its next delivery.
 */
Test(modify, to_oneshot_and_invalid_rolls_back)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent t = ev_make(KEVENT_TIMER, 1, 0, 0, 10000000, 0x11);
	struct ukevent bad, out;
	int i;

	add_ok(fd, t);
	bad = t;
	bad.data = 0;		/* periodic 0: invalid */
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);
	bad = t;
	bad.event = 0x8000;	/* unknown clock bit */
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);
	bad = t;
	bad.req_flags = KEVENT_REQ_ET;	/* ET on a timer */
	bad.user = 0xbad;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, bad), EINVAL);
	/* unchanged: periodic, delivered again and again, old cookie */
	for (i = 0; i < 2; i++) {
		cr_assert(take(fd, ring, &out, 60000));
		cr_assert_eq(out.user, 0x11);
		cr_assert_eq(out.data, 10000000);
		cr_assert_eq(out.req_flags, 0);
		cr_assert_eq(out.ret_flags & KEVENT_RET_REMOVED, 0);
	}
	t.req_flags = KEVENT_REQ_ONESHOT;
	t.data = 20000000;
	t.user = 0x22;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, t), 0);
	/* entries published before the MODIFY keep the old cookie */
	for (i = 0; i < 10; i++) {
		cr_assert(take(fd, ring, &out, 60000));
		if (out.user != 0x11)
			break;
	}
	cr_assert_eq(out.user, 0x22);
	cr_assert_eq(out.req_flags, KEVENT_REQ_ONESHOT);
	cr_assert(out.ret_flags & KEVENT_RET_REMOVED);
	expect_none(fd, ring, 60);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE, t), ENOENT);
	kevent_close(fd);
}

/* ---- nesting and loops */

Test(nest, queue_inside_queue_wakes_parent)
{
	struct kevent_ring *pr, *cr;
	int parent = q_open(&pr, 8), child = q_open(&cr, 8);
	struct ukevent u = ev_make(KEVENT_USER, 1, 0, 0, 0, 0), out;

	add_ok(child, u);
	add_ok(parent, ev_make(KEVENT_POLL, (uint64_t)child, KEVENT_POLL_IN,
			       0, 0, 0x99));
	expect_none(parent, pr, 20);
	ctl1(child, KEVENT_CTL_READY, u);
	cr_assert(take(parent, pr, &out, 1000));
	cr_assert_eq(out.user, 0x99);
	cr_assert(take(child, cr, &out, 1000));
	cr_assert_eq(out.id, 1);
	kevent_close(parent);
	kevent_close(child);
}

Test(nest, loop_of_queues_is_eloop)
{
	struct kevent_ring *r1, *r2;
	int a = q_open(&r1, 8), b = q_open(&r2, 8);

	add_ok(a, ev_make(KEVENT_POLL, (uint64_t)b, KEVENT_POLL_IN, 0, 0, 0));
	cr_assert_eq(ctl1(b, KEVENT_CTL_ADD,
			  ev_make(KEVENT_POLL, (uint64_t)a, KEVENT_POLL_IN, 0,
				  0, 0)), ELOOP);
	kevent_close(a);
	kevent_close(b);
}

/* ---- fork */

Test(fork, child_cannot_use_parent_queue_and_close_is_harmless)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent u = ev_make(KEVENT_USER, 1, 0, 0, 0, 0), out;
	unsigned int seen = 0;
	int status;
	pid_t pid;

	add_ok(fd, u);
	add_ok(fd, ev_make(KEVENT_TIMER, 2, 0, 0, 20000000, 0));
	pid = fork();
	if (pid == 0) {
		struct ukevent c = u;
		int ok = kevent_ctl(fd, KEVENT_CTL_READY, 1, &c) == -1 &&
			 errno == EBADF;

		ok = ok && kevent_wait(fd, 1, &(struct timespec){ 0, 0 }) == -1 &&
		     errno == EBADF;
		ok = ok && kevent_close(fd) == 0;
		_exit(ok ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "child saw EBADF and closed quietly");
	/* the parent's queue is intact: registrations and timer still work */
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, u), 0);
	while (seen != 3) {
		cr_assert(take(fd, ring, &out, 60000), "seen %#x", seen);
		cr_assert(out.type == KEVENT_USER || out.type == KEVENT_TIMER);
		cr_assert_eq(out.id, out.type == KEVENT_USER ? 1u : 2u);
		seen |= out.type == KEVENT_USER ? 1u : 2u;
	}
	kevent_close(fd);
}

Test(inode, unlinked_file_with_open_fd_is_gone)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	char path[] = "/tmp/kevent-gone-XXXXXX";
	int f = mkstemp(path);
	struct ukevent out;

	add_ok(fd, ev_make(KEVENT_INODE, (uint64_t)f,
			   KEVENT_INODE_DELETE_SELF | KEVENT_INODE_MODIFY, 0,
			   0, 0));
	cr_assert_eq(unlink(path), 0);	/* f stays open */
	cr_assert(take(fd, ring, &out, 1000), "reported while still open");
	cr_assert_eq(out.event, KEVENT_INODE_DELETE_SELF);
	cr_assert(out.ret_flags & KEVENT_RET_GONE);
	cr_assert(out.ret_flags & KEVENT_RET_REMOVED);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_INODE, (uint64_t)f, 0, 0, 0, 0)),
		     ENOENT);
	close(f);
	expect_none(fd, ring, 30);
	kevent_close(fd);
}

Test(inode, attrib_not_requested_is_not_delivered)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	char path[] = "/tmp/kevent-attr-XXXXXX";
	int f = mkstemp(path);

	add_ok(fd, ev_make(KEVENT_INODE, (uint64_t)f, KEVENT_INODE_MODIFY, 0,
			   0, 0));
	cr_assert_eq(fchmod(f, 0640), 0);
	expect_none(fd, ring, 30);
	unlink(path);
	close(f);
	kevent_close(fd);
}

Test(nest, loop_through_three_queues_is_eloop)
{
	struct kevent_ring *r;
	int a = q_open(&r, 8), b = q_open(&r, 8), c = q_open(&r, 8);

	add_ok(a, ev_make(KEVENT_POLL, (uint64_t)b, KEVENT_POLL_IN, 0, 0, 0));
	add_ok(b, ev_make(KEVENT_POLL, (uint64_t)c, KEVENT_POLL_IN, 0, 0, 0));
	cr_assert_eq(ctl1(c, KEVENT_CTL_ADD,
			  ev_make(KEVENT_POLL, (uint64_t)a, KEVENT_POLL_IN, 0,
				  0, 0)), ELOOP);
	/* after removing a link, the same ADD is fine */
	cr_assert_eq(ctl1(b, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_POLL, (uint64_t)c, 0, 0, 0, 0)), 0);
	add_ok(c, ev_make(KEVENT_POLL, (uint64_t)a, KEVENT_POLL_IN, 0, 0, 0));
	kevent_close(a);
	kevent_close(b);
	kevent_close(c);
}
