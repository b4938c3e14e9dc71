// SPDX-License-Identifier: MIT
//
// timers.hpp - every KEVENT_TIMER of a queue in one 4-ary min-heap per
// clock, all armed on a single timerfd (timers.cpp says how three clocks
// share it).
#ifndef KEV_TIMERS_HPP
#define KEV_TIMERS_HPP

#include <array>
#include <cstdint>

#include "core.hpp"
#include "fd.hpp"

namespace kev {

// A timer's fields as a kevent_ctl entry gives them.
struct TimerSpec {
	uint32_t event;
	uint64_t data;
	uint32_t req_flags;

	// 0, or EINVAL if these fields cannot make a timer.
	int check() const;
	// Valid only after check().
	Clock clock() const
	{
		return static_cast<Clock>(event & KEVENT_TIMER_CLOCK_MASK);
	}
	bool absolute() const { return event & KEVENT_TIMER_ABSTIME; }
	bool periodic() const
	{
		return !absolute() && !(req_flags & KEVENT_REQ_ONESHOT);
	}
};

// The registration's heap position (heap_idx) when it is in no heap.
inline constexpr uint32_t not_in_heap = UINT32_MAX;

/*
 * A 4-ary min-heap of timers on deadline.  A heap node keeps its deadline
 * by the pointer, as libev's ANHE does, so that the four children of a
 * node are compared within one cache line: node 1 is 64-byte aligned, 0 to
 * 3 nodes into the allocation.  The heap records in each registration it
 * holds where it holds it: the index (heap_idx) and the heap itself
 * (timer_heap, its clock); no one else writes them.
 */
class TimerHeap {
public:
	struct Node {
		uint64_t deadline;
		Reg *reg;
	};

	explicit TimerHeap(Clock clock) : clock_(clock) {}
	TimerHeap(const TimerHeap &) = delete;
	TimerHeap &operator=(const TimerHeap &) = delete;
	~TimerHeap();

	Clock clock() const { return clock_; }
	bool empty() const { return n_ == 0; }
	// The earliest timer; not empty().
	const Node &top() const { return h_[0]; }
	// Is reg in this heap?
	bool holds(const Reg &reg) const
	{
		return reg.heap_idx != not_in_heap &&
		       reg.timer_heap == static_cast<uint8_t>(clock_);
	}

	// Room for one more timer: false (ENOMEM) if none can be made.
	bool reserve() { return n_ < cap_ || grow(); }
	// Add reg, which is in no heap; reserve() made room.
	void insert(Reg &reg, uint64_t deadline);
	// Take out reg, which is in this heap.
	void erase(Reg &reg);
	// The earliest timer's next deadline, no earlier than its last.
	void postpone_top(uint64_t deadline);

private:
	bool grow();
	void place(uint32_t i, Node node);
	void up(uint32_t i);
	void down(uint32_t i);

	Node *h_ = nullptr;	// node 0, inside mem_
	Node *mem_ = nullptr;	// the allocation (malloc)
	uint32_t n_ = 0, cap_ = 0;
	const Clock clock_;
};

/*
 * The timers of a queue: a heap per clock and the one timerfd.  Every
 * function is called under the queue's core lock.
 */
class Timers {
public:
	Timers() = default;
	Timers(const Timers &) = delete;
	Timers &operator=(const Timers &) = delete;

	// Create the timerfd if it does not exist yet: 0, or -1 with errno.
	int open();
	int fd() const { return tfd_.get(); }
	// A kevent_ctl batch begins: each clock is read at most once in it.
	void new_batch() { now_valid_ = 0; }
	// No timer is in a heap.
	bool empty() const;

	/*
	 * Give reg the timer fields of spec and (re)arm it from now, on its
	 * new clock: 0, or an errno with reg and the heaps untouched.  The
	 * timerfd must exist (open()).
	 */
	int set(Reg &reg, const TimerSpec &spec);
	// Take reg's timer out of its heap, if it is in one.
	void disarm(Reg &reg);
	// Is a timer past its deadline on its own clock?
	bool due() const;
	// Fire everything due (called when the timerfd is readable).
	void expire(Core &core);
	/*
	 * Make the timerfd cover the earliest deadline, at most the slack
	 * after it: 0, -1 with errno.
	 */
	int rearm();
	// KEVENT_OPT_TIMER_SLACK (ns), set while the queue has no timer.
	uint64_t slack() const { return slack_; }
	void set_slack(uint64_t ns) { slack_ = ns; }
	/*
	 * A kevent_ctl batch ends.  Timers it made due at once (a deadline
	 * in the past, a one-shot of 0) fire now, without the timerfd; for
	 * a new earliest deadline, one timerfd_settime for the batch.
	 */
	void end_batch(Core &core)
	{
		if (!rearm_)
			return;
		if (due())
			expire(core);	// which rearm()s
		if (rearm_)
			rearm();
	}

private:
	TimerHeap &heap(Clock c) { return heaps_[static_cast<uint8_t>(c)]; }
	// reg is in a heap: the one that holds it, whatever its event says.
	void leave_heap(Reg &reg)
	{
		heap(static_cast<Clock>(reg.timer_heap)).erase(reg);
	}
	/*
	 * The clock, read once per kevent_ctl batch (new_batch()).  Inline:
	 * set() is its only caller, on the path of every timer added.
	 */
	uint64_t now(Clock c)
	{
		const auto bit = static_cast<uint8_t>(
			1u << static_cast<uint8_t>(c));

		if (!(now_valid_ & bit)) {
			now_[static_cast<uint8_t>(c)] = clock_now(c);
			now_valid_ |= bit;
		}
		return now_[static_cast<uint8_t>(c)];
	}
	uint64_t realtime_deadline(const TimerHeap &hp, uint64_t now_rt) const;

	std::array<TimerHeap, num_clocks> heaps_{{
		TimerHeap(Clock::monotonic),
		TimerHeap(Clock::realtime),
		TimerHeap(Clock::boottime),
	}};
	Fd tfd_;		// the timerfd, none before the first timer
	uint64_t armed_rt_ = 0;	// REALTIME deadline armed, or 0
	uint64_t slack_ = KEVENT_TIMER_SLACK_DEFAULT;
	bool rearm_ = false;	// a new earliest deadline, not armed yet
	uint8_t now_valid_ = 0;	// bit per clock: now_[] read this batch
	std::array<uint64_t, num_clocks> now_{};
};

} // namespace kev

#endif // KEV_TIMERS_HPP
