// SPDX-License-Identifier: MIT
//
// waitset-uring.cpp - the io_uring waitset, for the uring backend.
//
// Edge-triggered items and the queue's internal fds are multishot poll
// requests; level-triggered items are single-shot polls, which disarm
// themselves when they complete (lt_disarms) and are rearmed when the
// consumer passes the entry: a single-shot poll completes at once if the
// fd is still ready, which is exactly level-triggered delivery.  Changes
// are queued as SQEs under the queue lock and handed to the kernel in one
// io_uring_enter per kevent_ctl batch (flush), so registering N fds costs
// one system call.  A sleep never submits: io_uring_enter returns the
// number of SQEs it submitted, not EINTR, when a signal ends the sleep of
// a call that submitted too, and kevent_wait(2) must fail with EINTR.
//
// io_uring does not key polls by descriptor number, so the backend polls
// a duplicate of each fd it owns (dup_fds): re-arming a level-triggered
// poll never resolves a number the caller may have closed and reused.
//
// Locking: the SQ is touched only under the queue's core lock (add, mod,
// del, rearm, flush).  wait() may run without it and touches only the
// CQ, under cq_lock_, which is never held across a sleep; with
// IORING_FEAT_EXT_ARG, waiting with a timeout and a signal mask needs no
// SQE.
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>

#include "lock.hpp"
#include "waitset-uring.hpp"

namespace kev {

namespace {

constexpr unsigned int sq_entries = 256;
/*
 * The completion queue: twice the kevent ring, at least 256 and at most
 * what io_uring allows.  A multishot poll ends when it finds the CQ full,
 * and must then be added again (once the consumer has passed the entry of
 * its last event: ubackend.cpp), so a queue with as many ready fds as its
 * ring holds should not fill it.  No larger: the kernel tears a closed
 * ring down in a worker, and until then its memory stays allocated (with
 * a minimum of 4096, ~130 KiB per small queue; now ~20 KiB).
 */
constexpr unsigned int cq_min = 256;
constexpr unsigned int cq_max = 65536;
// user_data of our own POLL_REMOVE requests: never a registration token
constexpr uint64_t tok_ignore = 0xfffffffbull;

// 0 unknown, 1 yes, -1 no
constinit std::atomic<int> uring_usable{0};

} // namespace

int UringRing::setup(unsigned int ring_size)
{
	io_uring_params p{};

	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
	p.cq_entries = ring_size > cq_max / 2 ? cq_max :
		       std::max(ring_size * 2, cq_min);
	const int ret = io_uring_queue_init_params(sq_entries, &ring_,
						   &p);
	if (ret < 0)
		return ret;
	live_ = true;
	/*
	 * EXT_ARG (5.11): timeouts without an SQE; NODROP: no lost
	 * completions; CQE_SKIP (5.17) stands for a kernel whose
	 * multishot poll (5.13) we rely on.
	 */
	if (!(p.features & IORING_FEAT_EXT_ARG) ||
	    !(p.features & IORING_FEAT_NODROP) ||
	    !(p.features & IORING_FEAT_CQE_SKIP))
		return -ENODEV;	// the destructor exits it
	return 0;
}

/*
 * io_uring tears the ring down asynchronously (ring_'s destructor); its
 * exit work then interrupts every thread that submitted to it once, with
 * task_work (a spurious EINTR in that thread's next sleep: liburing issue
 * 504).  kevent_close(3) documents it; it is why uring is never the
 * default.
 */
UringWaitset::~UringWaitset() = default;

int UringWaitset::probe()
{
	int c = uring_usable.load(std::memory_order_relaxed);

	if (!c) {
		UringRing ring;

		c = ring.setup(0) == 0 ? 1 : -1;
		uring_usable.store(c, std::memory_order_relaxed);
	}
	if (c < 0) {
		errno = ENODEV;
		return -1;
	}
	return 0;
}

int UringWaitset::init(unsigned int ring_size)
{
	if (const int ret = ring_.setup(ring_size))
		return ret == -ENODEV ? ENODEV : -ret;
	return 0;
}

int UringWaitset::add(int fd, uint64_t tok, uint32_t events, WatchMode mode)
{
	struct stat st;

	/*
	 * io_uring reports a bad fd only in a completion, and polls a
	 * regular file like any other: find both out now, as
	 * epoll_ctl() would.
	 */
	if (fstat(fd, &st) < 0)
		return EBADF;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
		return EPERM;
	return poll(fd, tok, events, mode);
}

void UringWaitset::del(int /* fd */, uint64_t tok)
{
	io_uring_sqe *sqe = get_sqe();

	if (!sqe)
		return;	// a stale completion is filtered by its token
	io_uring_prep_poll_remove(sqe, tok);
	io_uring_sqe_set_data64(sqe, tok_ignore);
}

void UringWaitset::rearm(int fd, uint64_t tok, uint32_t events)
{
	poll(fd, tok, events, WatchMode::level);
}

/*
 * Submit what is queued.  What the kernel did not take (EBUSY while
 * the CQ overflows, EINTR) stays counted, for the next flush: a
 * watch left in the SQ would never report.
 */
void UringWaitset::submit()
{
	const int r = io_uring_submit(ring_.get());

	if (r > 0)
		queued_ -= std::min(queued_, static_cast<unsigned int>(r));
}

/*
 * Completions waiting in the CQ: a hint, read under the core lock
 * while wait() may advance the CQ head under cq_lock_, so the head
 * is loaded atomically (liburing's io_uring_cq_ready() reads it
 * plainly: a data race that TSan reports).
 */
unsigned int UringWaitset::backlog()
{
	const io_uring *r = ring_.get();
	const unsigned int tail = std::atomic_ref<unsigned int>(
		*r->cq.ktail).load(std::memory_order_acquire);
	const unsigned int head = std::atomic_ref<unsigned int>(
		*r->cq.khead).load(std::memory_order_relaxed);

	return tail - head;
}

int UringWaitset::wait(WaitEvent *out, int max, const timespec *rel,
		       const sigset_t *sigmask)
{
	const bool polling = rel && !rel->tv_sec && !rel->tv_nsec;
	int got = reap(out, max);

	if (got == max)
		return got;
	/*
	 * Nothing (more) in the CQ: enter the kernel, which runs this
	 * thread's pending task work and flushes an overflowed CQ; to
	 * sleep, with wait_nr 1 and nothing to submit, so that a
	 * signal ends it with EINTR.
	 */
	if (got == 0 || polling ||
	    IO_URING_READ_ONCE(*ring_.get()->sq.kflags) &
		    IORING_SQ_CQ_OVERFLOW) {
		const unsigned int wait_nr = got || polling ? 0 : 1;
		int tries = 0, r;

		/*
		 * A call that does not sleep is retried on EINTR: a
		 * ring torn down earlier interrupts every thread that
		 * used it once, with task work, and a harvest must not
		 * end empty-handed on it (the completions it came for
		 * are there).  A sleep fails with EINTR, as
		 * kevent_wait(2) says.
		 */
		do
			r = enter(wait_nr, rel, sigmask);
		while (r < 0 && errno == EINTR && !wait_nr &&
		       ++tries < 8);
		got += reap(out + got, max - got);
		if (r < 0 && !got)
			return -1;
	}
	return got;
}

/*
 * flush() and a wait() that does not sleep, in one io_uring_enter: the
 * queued SQEs (level-triggered polls armed again once the consumer passed
 * their entries, changes of the last batch) are submitted with
 * IORING_ENTER_GETEVENTS, which runs this thread's task work, posting the
 * completions of the polls armed so far, the new ones included when their
 * fd is ready already.  A poll of a queue fd (asyncio's add_reader, an
 * asio descriptor) pays one system call per harvest instead of two.  No
 * sleep, so a signal cannot turn an EINTR into a count here (the reason a
 * sleeping wait() never submits).  Under the core lock: it touches the SQ.
 */
int UringWaitset::harvest(WaitEvent *out, int max)
{
	static constexpr timespec zero{};

	if (!queued_)
		return wait(out, max, &zero, nullptr);
	int tries = 0, r;

	do
		r = io_uring_submit_and_get_events(ring_.get());
	while (r == -EINTR && ++tries < 8);
	if (r < 0)	// as flush() and wait() would have
		return wait(out, max, &zero, nullptr);
	queued_ -= std::min(queued_, static_cast<unsigned int>(r));
	int got = reap(out, max);
	if (got < max && IO_URING_READ_ONCE(*ring_.get()->sq.kflags) &
				 IORING_SQ_CQ_OVERFLOW) {
		const int more = wait(out + got, max - got, &zero, nullptr);

		if (more > 0)
			got += more;
	}
	return got;
}

// An SQE, submitting what is queued if the SQ is full.  Inline: it is on
// the path of every poll.
inline io_uring_sqe *UringWaitset::get_sqe()
{
	io_uring_sqe *sqe = io_uring_get_sqe(ring_.get());

	if (!sqe) {
		io_uring_submit(ring_.get());
		queued_ = 0;
		sqe = io_uring_get_sqe(ring_.get());
	}
	if (sqe)
		queued_++;
	return sqe;
}

// Inline: rearm() and add() are all it is (rearm() at every level event).
inline int UringWaitset::poll(int fd, uint64_t tok, uint32_t events,
			      WatchMode mode)
{
	io_uring_sqe *sqe = get_sqe();

	if (!sqe)
		return ENOMEM;
	/*
	 * io_uring ignores POLLPRI when it matches a poll against
	 * the events of a wake-up (IO_ASYNC_POLL_COMMON in
	 * io_uring/poll.c), so a poll for PRI alone, or PRI and OUT,
	 * misses TCP urgent data.  RDBAND comes with the same
	 * wake-ups (sock_def_readable) and brings the poll to look;
	 * the backend drops it from the result, which the
	 * registration never asked for.
	 */
	if (events & POLLPRI)
		events |= POLLRDBAND;
	if (mode == WatchMode::edge)
		io_uring_prep_poll_multishot(sqe, fd, events);
	else	// LEVEL and ONCE: single-shot, ended by its completion
		io_uring_prep_poll_add(sqe, fd, events);
	io_uring_sqe_set_data64(sqe, tok);
	return 0;
}

/*
 * Take up to max completions from the CQ into out (under cq_lock_):
 * the number of events.  Our own removals and polls that failed (the
 * fd was closed: epoll would drop it silently too) are skipped.  A
 * cancelled poll is passed on with no events: io_uring cancels the
 * requests of a thread that exits, and the backend must watch those
 * fds again (our own removals and changes make the token stale, so
 * those are told apart there).
 */
int UringWaitset::reap(WaitEvent *out, int max)
{
	io_uring_cqe *cqes[64];
	int got = 0;
	Lock lock(cq_lock_);

	while (got < max) {
		const unsigned int want = std::min(
			static_cast<unsigned int>(max - got), 64u);
		const unsigned int n = io_uring_peek_batch_cqe(
			ring_.get(), cqes, want);

		for (unsigned int i = 0; i < n; i++) {
			const uint64_t tok =
				io_uring_cqe_get_data64(cqes[i]);
			const int res = cqes[i]->res;

			if (tok == tok_ignore ||
			    (res < 0 && res != -ECANCELED))
				continue;
			out[got].data.u64 = tok;
			out[got].events = cqe_events(*cqes[i]);
			got++;
		}
		io_uring_cq_advance(ring_.get(), n);
		if (n < want)
			break;
	}
	return got;
}

// A completion's poll mask, and w_ended if its poll ended.
uint32_t UringWaitset::cqe_events(const io_uring_cqe &cqe)
{
	const uint32_t mask =
		cqe.res < 0 ? 0 : static_cast<uint32_t>(cqe.res);

	return cqe.flags & IORING_CQE_F_MORE ? mask : mask | w_ended;
}

int UringWaitset::enter(unsigned int wait_nr, const timespec *rel,
			const sigset_t *sigmask)
{
	__kernel_timespec kts, *ktsp = nullptr;
	io_uring_getevents_arg arg{};

	if (rel) {
		kts.tv_sec = rel->tv_sec;
		kts.tv_nsec = rel->tv_nsec;
		ktsp = &kts;
	}
	arg.sigmask = reinterpret_cast<uintptr_t>(sigmask);
	arg.sigmask_sz = _NSIG / 8;
	arg.pad = 0;
	arg.ts = reinterpret_cast<uintptr_t>(ktsp);
	int ret = io_uring_enter2(
		static_cast<unsigned int>(ring_.get()->ring_fd), 0,
		wait_nr, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
		reinterpret_cast<sigset_t *>(&arg), sizeof(arg));
	// liburing's wrapper returns -errno or -1 with errno, by build
	if (ret == -1)
		ret = -errno;
	if (ret < 0 && ret != -ETIME && ret != -EBUSY) {
		errno = -ret;
		return -1;
	}
	return 0;
}

} // namespace kev
