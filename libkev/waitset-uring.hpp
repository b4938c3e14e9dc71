// SPDX-License-Identifier: MIT
//
// waitset-uring.hpp - the io_uring waitset (waitset.hpp), for the uring
// backend; waitset-uring.cpp says how it works.
#ifndef KEV_WAITSET_URING_HPP
#define KEV_WAITSET_URING_HPP

#include <liburing.h>
#include <signal.h>
#include <time.h>

#include <cstdint>

#include "lock.hpp"
#include "waitset.hpp"

namespace kev {

// An io_uring instance, exited with the object once set up.
class UringRing {
public:
	UringRing() = default;
	UringRing(const UringRing &) = delete;
	UringRing &operator=(const UringRing &) = delete;
	~UringRing()
	{
		if (live_)
			io_uring_queue_exit(&ring_);
	}

	// 0, or minus an errno (-ENODEV: the kernel lacks what we need).
	int setup(unsigned int ring_size);
	io_uring *get() { return &ring_; }
	const io_uring *get() const { return &ring_; }

private:
	io_uring ring_{};
	bool live_ = false;
};

class UringWaitset {
public:
	static constexpr const char name[] = "uring";
	static constexpr bool lt_disarms = true;
	static constexpr bool wakeup_events = true;
	static constexpr bool dup_fds = true;

	static int probe();

	UringWaitset() = default;
	UringWaitset(const UringWaitset &) = delete;
	UringWaitset &operator=(const UringWaitset &) = delete;
	~UringWaitset();

	int init(unsigned int ring_size);
	int fd() const { return ring_.get()->ring_fd; }
	// Exiting our mapping of the ring is all a forked child does.
	void forget_shared() {}

	int add(int fd, uint64_t tok, uint32_t events, WatchMode mode);
	int mod(int fd, uint64_t old_tok, uint64_t tok, uint32_t events,
		WatchMode mode)
	{
		// Removal first: the SQ is processed in order.
		del(fd, old_tok);
		return add(fd, tok, events, mode);
	}
	void del(int fd, uint64_t tok);
	// No mute(): a single-shot poll disarms itself (lt_disarms).
	void rearm(int fd, uint64_t tok, uint32_t events);
	// Inline: most calls (every wait) find nothing queued.
	void flush()
	{
		if (queued_)
			submit();
	}
	unsigned int backlog();
	int wait(WaitEvent *out, int max, const timespec *rel,
		 const sigset_t *sigmask);
	int harvest(WaitEvent *out, int max);

private:
	void submit();
	io_uring_sqe *get_sqe();
	int poll(int fd, uint64_t tok, uint32_t events, WatchMode mode);
	int reap(WaitEvent *out, int max);
	static uint32_t cqe_events(const io_uring_cqe &cqe);
	int enter(unsigned int wait_nr, const timespec *rel,
		  const sigset_t *sigmask);

	UringRing ring_;
	unsigned int queued_ = 0;	// SQEs not yet submitted
	Mutex cq_lock_;
};

} // namespace kev

#endif // KEV_WAITSET_URING_HPP
