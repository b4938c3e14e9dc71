// SPDX-License-Identifier: MIT
/*
 * waitset-uring.c - the io_uring waitset, for the uring backend.
 *
 * Edge-triggered items and the queue's internal fds are multishot poll
 * requests; level-triggered items are single-shot polls, which disarm
 * themselves when they complete (lt_disarms) and are rearmed when the
 * consumer passes the entry: a single-shot poll completes at once if the
 * fd is still ready, which is exactly level-triggered delivery.  Changes
 * are queued as SQEs under the queue lock and handed to the kernel in one
 * io_uring_enter per kevent_ctl batch (flush), so registering N fds costs
 * one system call.  A sleep never submits: io_uring_enter returns the
 * number of SQEs it submitted, not EINTR, when a signal ends the sleep of
 * a call that submitted too, and kevent_wait(2) must fail with EINTR.
 *
 * io_uring does not key polls by descriptor number, so the backend polls
 * a duplicate of each fd it owns (dup_fds): re-arming a level-triggered
 * poll never resolves a number the caller may have closed and reused.
 *
 * Locking: the SQ is touched only under the queue's core lock (add, mod,
 * del, rearm, flush).  wait() may run without it and touches only the
 * CQ, under cq_lock, which is never held across a sleep; with
 * IORING_FEAT_EXT_ARG, waiting with a timeout and a signal mask needs no
 * SQE.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "waitset.h"

#define KEV_URING_ENTRIES	256
/*
 * The completion queue: twice the kevent ring, at least 4096 and at most
 * what io_uring allows.  A multishot poll ends when it finds the CQ full,
 * and must then be added again, so a queue with as many ready fds as its
 * ring holds should not fill it.
 */
#define KEV_URING_CQ_MIN	4096u
#define KEV_URING_CQ_MAX	65536u
/* user_data of our own POLL_REMOVE requests: never a registration token */
#define KEV_URING_IGNORE	0xfffffffbull

struct kev_ws_uring {
	struct kev_waitset ws;
	struct io_uring ring;
	unsigned int queued;		/* SQEs not yet submitted */
	pthread_mutex_t cq_lock;	/* one thread reaps the CQ at a time */
};

static struct kev_ws_uring *kev_wsu(struct kev_waitset *ws)
{
	return (struct kev_ws_uring *)ws;
}

static int kev_wsu_setup(struct io_uring *ring, unsigned int ring_size)
{
	struct io_uring_params p;
	int ret;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
	p.cq_entries = ring_size > KEV_URING_CQ_MAX / 2 ? KEV_URING_CQ_MAX :
		       ring_size * 2 < KEV_URING_CQ_MIN ? KEV_URING_CQ_MIN :
		       ring_size * 2;
	ret = io_uring_queue_init_params(KEV_URING_ENTRIES, ring, &p);
	if (ret < 0)
		return ret;
	/*
	 * EXT_ARG (5.11): timeouts without an SQE; NODROP: no lost
	 * completions; CQE_SKIP (5.17) stands for a kernel whose multishot
	 * poll (5.13) we rely on.
	 */
	if (!(p.features & IORING_FEAT_EXT_ARG) ||
	    !(p.features & IORING_FEAT_NODROP) ||
	    !(p.features & IORING_FEAT_CQE_SKIP)) {
		io_uring_queue_exit(ring);
		return -ENODEV;
	}
	return 0;
}

static int kev_wsu_probe(void)
{
	static int cached;	/* 0 unknown, 1 yes, -1 no */
	struct io_uring ring;
	int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);

	if (!c) {
		c = kev_wsu_setup(&ring, 0) == 0 ? 1 : -1;
		if (c > 0)
			io_uring_queue_exit(&ring);
		__atomic_store_n(&cached, c, __ATOMIC_RELAXED);
	}
	if (c < 0) {
		errno = ENODEV;
		return -1;
	}
	return 0;
}

static struct kev_waitset *kev_wsu_create(unsigned int ring_size)
{
	struct kev_ws_uring *w = calloc(1, sizeof(*w));
	int ret;

	if (!w) {
		errno = ENOMEM;
		return NULL;
	}
	ret = kev_wsu_setup(&w->ring, ring_size);
	if (ret < 0) {
		free(w);
		errno = ret == -ENODEV ? ENODEV : -ret;
		return NULL;
	}
	pthread_mutex_init(&w->cq_lock, NULL);
	w->ws.ops = &kev_waitset_uring;
	w->ws.fd = w->ring.ring_fd;
	w->ws.lt_disarms = true;
	w->ws.wakeup_events = true;
	w->ws.dup_fds = true;
	return &w->ws;
}

static void kev_wsu_destroy(struct kev_waitset *ws, bool in_child)
{
	struct kev_ws_uring *w = kev_wsu(ws);

	/*
	 * io_uring tears the ring down asynchronously; its exit work then
	 * interrupts every thread that submitted to it once, with task_work
	 * (a spurious EINTR in that thread's next sleep: liburing issue 504).
	 * kevent_close(3) documents it; it is why uring is never the default.
	 */
	(void)in_child;
	io_uring_queue_exit(&w->ring);
	pthread_mutex_destroy(&w->cq_lock);
	free(w);
}

/* An SQE, submitting what is queued if the SQ is full. */
static struct io_uring_sqe *kev_wsu_sqe(struct kev_ws_uring *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (!sqe) {
		io_uring_submit(&w->ring);
		w->queued = 0;
		sqe = io_uring_get_sqe(&w->ring);
	}
	if (sqe)
		w->queued++;
	return sqe;
}

static int kev_wsu_poll(struct kev_ws_uring *w, int fd, uint64_t tok,
			uint32_t events, enum kev_wmode mode)
{
	struct io_uring_sqe *sqe = kev_wsu_sqe(w);

	if (!sqe)
		return ENOMEM;
	/*
	 * io_uring ignores POLLPRI when it matches a poll against the
	 * events of a wake-up (IO_ASYNC_POLL_COMMON in io_uring/poll.c), so
	 * a poll for PRI alone, or PRI and OUT, misses TCP urgent data.
	 * RDBAND comes with the same wake-ups (sock_def_readable) and
	 * brings the poll to look; the backend drops it from the result,
	 * which the registration never asked for.
	 */
	if (events & POLLPRI)
		events |= POLLRDBAND;
	if (mode == KEV_W_EDGE)
		io_uring_prep_poll_multishot(sqe, fd, events);
	else	/* LEVEL and ONCE: single-shot, ended by its completion */
		io_uring_prep_poll_add(sqe, fd, events);
	io_uring_sqe_set_data64(sqe, tok);
	return 0;
}

static int kev_wsu_add(struct kev_waitset *ws, int fd, uint64_t tok,
		       uint32_t events, enum kev_wmode mode)
{
	struct stat st;

	/*
	 * io_uring reports a bad fd only in a completion, and polls a regular
	 * file like any other: find both out now, as epoll_ctl() would.
	 */
	if (fstat(fd, &st) < 0)
		return EBADF;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
		return EPERM;
	return kev_wsu_poll(kev_wsu(ws), fd, tok, events, mode);
}

static void kev_wsu_del(struct kev_waitset *ws, int fd, uint64_t tok)
{
	struct kev_ws_uring *w = kev_wsu(ws);
	struct io_uring_sqe *sqe = kev_wsu_sqe(w);

	(void)fd;
	if (!sqe)
		return;		/* a stale completion is filtered by its token */
	io_uring_prep_poll_remove(sqe, tok);
	io_uring_sqe_set_data64(sqe, KEV_URING_IGNORE);
}

static int kev_wsu_mod(struct kev_waitset *ws, int fd, uint64_t old_tok,
		       uint64_t tok, uint32_t events, enum kev_wmode mode)
{
	/* Removal first: the SQ is processed in order. */
	kev_wsu_del(ws, fd, old_tok);
	return kev_wsu_add(ws, fd, tok, events, mode);
}

static void kev_wsu_rearm(struct kev_waitset *ws, int fd, uint64_t tok,
			  uint32_t events)
{
	kev_wsu_poll(kev_wsu(ws), fd, tok, events, KEV_W_LEVEL);
}

static void kev_wsu_flush(struct kev_waitset *ws)
{
	struct kev_ws_uring *w = kev_wsu(ws);

	if (!w->queued)
		return;
	w->queued = 0;
	io_uring_submit(&w->ring);
}

/*
 * Take up to max completions from the CQ into out (under cq_lock): the
 * number of events.  Our own removals and polls that failed (the fd was
 * closed: epoll would drop it silently too) are skipped.  A cancelled
 * poll is passed on with no events: io_uring cancels the requests of a
 * thread that exits, and the backend must watch those fds again (our own
 * removals and changes make the token stale, so those are told apart
 * there).
 */
static int kev_wsu_reap(struct kev_ws_uring *w, struct kev_wevent *out,
			int max)
{
	struct io_uring_cqe *cqes[64];
	int got = 0;

	pthread_mutex_lock(&w->cq_lock);
	while (got < max) {
		unsigned int want = (unsigned int)(max - got), n, i;

		if (want > 64)
			want = 64;
		n = io_uring_peek_batch_cqe(&w->ring, cqes, want);
		for (i = 0; i < n; i++) {
			uint64_t tok = io_uring_cqe_get_data64(cqes[i]);
			int res = cqes[i]->res;
			bool more = cqes[i]->flags & IORING_CQE_F_MORE;

			if (tok == KEV_URING_IGNORE ||
			    (res < 0 && res != -ECANCELED))
				continue;
			out[got].data.u64 = tok;
			out[got].events = (res < 0 ? 0 : (uint32_t)res) |
					  (more ? 0 : KEV_W_ENDED);
			got++;
		}
		io_uring_cq_advance(&w->ring, n);
		if (n < want)
			break;
	}
	pthread_mutex_unlock(&w->cq_lock);
	return got;
}

static int kev_wsu_enter(struct kev_ws_uring *w, unsigned int wait_nr,
			 const struct timespec *rel, const sigset_t *sigmask)
{
	struct __kernel_timespec kts, *ktsp = NULL;
	struct io_uring_getevents_arg arg;
	int ret;

	if (rel) {
		kts.tv_sec = rel->tv_sec;
		kts.tv_nsec = rel->tv_nsec;
		ktsp = &kts;
	}
	arg.sigmask = (uint64_t)(uintptr_t)sigmask;
	arg.sigmask_sz = _NSIG / 8;
	arg.pad = 0;
	arg.ts = (uint64_t)(uintptr_t)ktsp;
	ret = io_uring_enter2((unsigned int)w->ring.ring_fd, 0, wait_nr,
			      IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
			      (sigset_t *)&arg, sizeof(arg));
	/* liburing's wrapper returns -errno or -1 with errno, by build */
	if (ret == -1)
		ret = -errno;
	if (ret < 0 && ret != -ETIME && ret != -EBUSY) {
		errno = -ret;
		return -1;
	}
	return 0;
}

/*
 * Completions waiting in the CQ: a hint, read under the core lock while
 * another thread's wait may advance the CQ head under its own lock, so the
 * head is loaded atomically (liburing's io_uring_cq_ready() reads it
 * plainly: a data race, which TSan reports in stress-threads).
 */
static unsigned int kev_wsu_backlog(struct kev_waitset *ws)
{
	const struct io_uring *r = &kev_wsu(ws)->ring;
	unsigned int tail = __atomic_load_n(r->cq.ktail, __ATOMIC_ACQUIRE);
	unsigned int head = __atomic_load_n(r->cq.khead, __ATOMIC_RELAXED);

	return tail - head;
}

static int kev_wsu_wait(struct kev_waitset *ws, struct kev_wevent *out,
			int max, const struct timespec *rel,
			const sigset_t *sigmask)
{
	struct kev_ws_uring *w = kev_wsu(ws);
	bool poll = rel && !rel->tv_sec && !rel->tv_nsec;
	int got = kev_wsu_reap(w, out, max);

	if (got == max)
		return got;
	/*
	 * Nothing (more) in the CQ: enter the kernel, which runs this
	 * thread's pending task work and flushes an overflowed CQ; to sleep,
	 * with wait_nr 1 and nothing to submit, so that a signal ends it
	 * with EINTR.
	 */
	if (got == 0 || poll ||
	    IO_URING_READ_ONCE(*w->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW) {
		unsigned int wait_nr = got || poll ? 0 : 1;
		int tries = 0, r;

		/*
		 * A call that does not sleep is retried on EINTR: a ring torn
		 * down earlier interrupts every thread that used it once, with
		 * task work, and a harvest must not end empty-handed on it
		 * (the completions it came for are there).  A sleep fails
		 * with EINTR, as kevent_wait(2) says.
		 */
		do
			r = kev_wsu_enter(w, wait_nr, rel, sigmask);
		while (r < 0 && errno == EINTR && !wait_nr && ++tries < 8);
		got += kev_wsu_reap(w, out + got, max - got);
		if (r < 0 && !got)
			return -1;
	}
	return got;
}

const struct kev_waitset_ops kev_waitset_uring = {
	.name = "uring",
	.probe = kev_wsu_probe,
	.create = kev_wsu_create,
	.destroy = kev_wsu_destroy,
	.add = kev_wsu_add,
	.mod = kev_wsu_mod,
	.del = kev_wsu_del,
	.mute = NULL,		/* lt_disarms: a single-shot poll disarms itself */
	.rearm = kev_wsu_rearm,
	.flush = kev_wsu_flush,
	.backlog = kev_wsu_backlog,
	.wait = kev_wsu_wait,
};
