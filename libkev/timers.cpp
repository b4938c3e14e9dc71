// SPDX-License-Identifier: MIT
//
// timers.cpp - KEVENT_TIMER for the user-space backends.
//
// Timers sit in one 4-ary min-heap per clock (a 4-ary heap has half the
// depth of a binary one and keeps siblings on one cache line).  One timerfd
// serves all three clocks: it is a CLOCK_REALTIME timerfd armed with an
// absolute time and TFD_TIMER_CANCEL_ON_SET.  The earliest deadline of each
// clock is translated to REALTIME when arming.  If REALTIME is set, the
// timerfd read fails with ECANCELED and everything is re-translated; after a
// suspend, BOOTTIME and REALTIME have moved on and MONOTONIC has not, so a
// MONOTONIC timer can only wake us early, and an early wake-up just re-arms.
// A timer therefore never fires before its deadline on its own clock.
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <sys/timerfd.h>
#include <unistd.h>

#include "timers.hpp"

namespace kev {

namespace {

constexpr std::array<clockid_t, num_clocks> clock_ids = {
	CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME,
};
static_assert(static_cast<unsigned int>(Clock::boottime) + 1 == num_clocks);

constexpr uint64_t ns_per_s = 1000000000;

} // namespace

uint64_t clock_now(Clock clock)
{
	struct timespec ts;

	clock_gettime(clock_ids[static_cast<uint8_t>(clock)], &ts);
	return static_cast<uint64_t>(ts.tv_sec) * ns_per_s +
	       static_cast<uint64_t>(ts.tv_nsec);
}

int TimerSpec::check() const
{
	if (periodic() && data == 0)
		return EINVAL;
	if (!absolute() && data > INT64_MAX / 2)
		return EINVAL;
	if ((event & KEVENT_TIMER_CLOCK_MASK) >= num_clocks)
		return EINVAL;
	return 0;
}

// ---- the 4-ary heap

TimerHeap::~TimerHeap()
{
	std::free(mem_);
}

void TimerHeap::place(uint32_t i, Node node)
{
	h_[i] = node;
	node.reg->heap_idx = i;
}

/*
 * up() and down() keep h_ and n_ in locals: place() stores to
 * reg->heap_idx, a uint32_t that may alias n_ as far as the compiler
 * knows, which would reload n_ after every move.
 */
void TimerHeap::up(uint32_t i)
{
	Node *const h = h_;
	const Node node = h[i];

	while (i > 0) {
		const uint32_t p = (i - 1) / 4;

		if (h[p].deadline <= node.deadline)
			break;
		place(i, h[p]);
		i = p;
	}
	place(i, node);
}

void TimerHeap::down(uint32_t i)
{
	Node *const h = h_;
	const uint32_t n = n_;
	const Node node = h[i];

	for (;;) {
		const uint32_t c = i * 4 + 1;
		uint32_t best = c;

		if (c >= n)
			break;
		uint64_t d = h[c].deadline;
		if (c + 3 < n) {
			// four children, in one cache line: no loop
			if (h[c + 1].deadline < d)
				d = h[best = c + 1].deadline;
			if (h[c + 2].deadline < d)
				d = h[best = c + 2].deadline;
			if (h[c + 3].deadline < d)
				d = h[best = c + 3].deadline;
		} else {
			for (uint32_t j = c + 1; j < n; j++)
				if (h[j].deadline < d)
					d = h[best = j].deadline;
		}
		if (d >= node.deadline)
			break;
		place(i, h[best]);
		i = best;
	}
	place(i, node);
}

bool TimerHeap::grow()
{
	const uint32_t cap = cap_ ? cap_ * 2 : 16;
	const size_t old = h_ ? static_cast<size_t>(h_ - mem_) : 0;

	// realloc: large heaps grow by mremap, without a copy
	if (cap > UINT32_MAX / 2)
		return false;
	auto *mem = static_cast<Node *>(
		std::realloc(mem_, (size_t{cap} + 3) * sizeof(Node)));
	if (!mem)
		return false;
	// Nodes are 16 bytes and so is malloc's alignment: one of 4 fits.
	size_t skew = 0;
	while (skew < 3 && (reinterpret_cast<uintptr_t>(mem + skew + 1) & 63))
		skew++;
	if (skew != old && n_)
		std::memmove(mem + skew, mem + old, n_ * sizeof(Node));
	mem_ = mem;
	h_ = mem + skew;
	cap_ = cap;
	return true;
}

void TimerHeap::insert(Reg &reg, uint64_t deadline)
{
	// The heap a timer is in does not change until it leaves it.
	reg.timer_heap = static_cast<uint8_t>(clock_);
	h_[n_] = Node{deadline, &reg};
	up(n_++);
}

void TimerHeap::erase(Reg &reg)
{
	const uint32_t i = reg.heap_idx;

	reg.heap_idx = not_in_heap;
	const Node last = h_[--n_];
	if (i == n_)
		return;
	place(i, last);
	if (i > 0 && h_[(i - 1) / 4].deadline > last.deadline)
		up(i);
	else
		down(i);
}

void TimerHeap::postpone_top(uint64_t deadline)
{
	h_[0].deadline = deadline;
	down(0);
}

// ---- the timers of a queue

bool Timers::empty() const
{
	for (const TimerHeap &hp : heaps_)
		if (!hp.empty())
			return false;
	return true;
}

int Timers::open()
{
	if (!tfd_) {
		tfd_.reset(timerfd_create(CLOCK_REALTIME,
					  TFD_NONBLOCK | TFD_CLOEXEC));
		if (!tfd_)
			return -1;
	}
	return 0;
}

/*
 * Everything that can fail comes first (the checks, room in the heap of
 * the new clock); only then does the timer leave the heap that holds it
 * (which it knows: not the one its new event word names) and enter the
 * new one.  So a timer moves between clocks keeping its registration, and
 * one that cannot be set is left exactly as it was.
 */
int Timers::set(Reg &reg, const TimerSpec &spec)
{
	if (const int err = spec.check())
		return err;
	if (!tfd_)
		return EBADF;	// open() first
	TimerHeap &to = heap(spec.clock());
	if (!to.reserve())
		return ENOMEM;
	const uint64_t deadline = spec.absolute() ? spec.data :
				  now(spec.clock()) + spec.data;
	if (reg.heap_idx != not_in_heap)
		leave_heap(reg);
	reg.event = spec.event;
	reg.data = spec.data;
	reg.req_flags = static_cast<uint16_t>(spec.req_flags);
	to.insert(reg, deadline);
	/*
	 * A new earliest deadline must be armed: once per kevent_ctl batch
	 * (flush()), not once per timer, as timerfd_settime is the dearest
	 * part of adding a timer.
	 */
	if (reg.heap_idx == 0)
		rearm_ = true;
	return 0;
}

void Timers::disarm(Reg &reg)
{
	if (reg.type == KEVENT_TIMER && reg.heap_idx != not_in_heap)
		leave_heap(reg);
	// The timerfd may now fire early; that only costs a re-arm.
}

bool Timers::due() const
{
	for (const TimerHeap &hp : heaps_)
		if (!hp.empty() && hp.top().deadline <= clock_now(hp.clock()))
			return true;
	return false;
}

void Timers::expire(Core &core)
{
	uint64_t ticks;

	/*
	 * Read: the timerfd fired and is disarmed.  ECANCELED: REALTIME was
	 * set, re-translate every deadline.  EAGAIN: called for timers found
	 * due before the timerfd fired (kev_ub_collect), which is still
	 * armed and will fire: if that is no later than the next deadline,
	 * it needs no timerfd_settime (the dearest call here), only a
	 * harvest when it fires.
	 */
	if (read(tfd_.get(), &ticks, sizeof(ticks)) == sizeof(ticks) ||
	    errno == ECANCELED)
		armed_rt_ = 0;
	else if (errno != EAGAIN)
		return;
	for (TimerHeap &hp : heaps_) {
		if (hp.empty())
			continue;
		const uint64_t now_c = clock_now(hp.clock());
		while (!hp.empty() && hp.top().deadline <= now_c) {
			Reg &reg = *hp.top().reg;
			const TimerSpec spec{reg.event, reg.data,
					     reg.req_flags};
			uint64_t n = 1;

			if (spec.periodic()) {
				const uint64_t late = now_c - hp.top().deadline;

				n += late / reg.data;
				hp.postpone_top(hp.top().deadline +
						n * reg.data);
			} else {
				hp.erase(reg);
			}
			core.fire(&reg, 0, n);
		}
	}
	rearm();
}

/*
 * The REALTIME time at which the earliest deadline of heap hp falls, as
 * now: in unsigned arithmetic, saturated at INT64_MAX, since an absolute
 * deadline may be any 64-bit value (one past 2262 never fires, and must
 * not wrap into the past and fire at once, for ever).
 */
uint64_t Timers::realtime_deadline(const TimerHeap &hp, uint64_t now_rt) const
{
	const uint64_t d = hp.top().deadline;

	if (hp.clock() == Clock::realtime)
		return d > INT64_MAX ? INT64_MAX : d;
	const uint64_t now_c = clock_now(hp.clock());
	if (d <= now_c)
		return now_rt;			// due: as soon as possible
	const uint64_t rt = now_rt + (d - now_c);
	return rt < now_rt || rt > INT64_MAX ? INT64_MAX : rt;
}

/*
 * Should the timerfd refuse (it does not for any deadline computed here),
 * it stays armed for an earlier or equal deadline, or fires early and is
 * re-armed then.
 */
int Timers::rearm()
{
	uint64_t best = 0, now_rt = 0;

	rearm_ = false;
	for (const TimerHeap &hp : heaps_) {
		if (hp.empty())
			continue;
		if (!now_rt)
			now_rt = clock_now(Clock::realtime);
		uint64_t rt = realtime_deadline(hp, now_rt);
		if (!rt)
			rt = 1;		// 0 would disarm the timerfd
		if (!best || rt < best)
			best = rt;
	}
	if (!best)
		return 0;
	/*
	 * The latest moment within the slack of the earliest deadline: the
	 * wake-up then fires every timer due by then, which is every timer
	 * whose deadline falls within the slack of the earliest (kevent(7),
	 * "Timer slack").  Saturated: a deadline near the end of time never
	 * wraps into the past.
	 */
	best = best > INT64_MAX - slack_ ? INT64_MAX : best + slack_;
	// Already armed at or before that: no syscall.
	if (armed_rt_ && armed_rt_ <= best)
		return 0;
	struct itimerspec its {};
	its.it_value.tv_sec = static_cast<time_t>(best / ns_per_s);
	its.it_value.tv_nsec = static_cast<long>(best % ns_per_s);
	if (timerfd_settime(tfd_.get(),
			    TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
			    &its, nullptr) < 0)
		return -1;
	armed_rt_ = best;
	return 0;
}

} // namespace kev
