// SPDX-License-Identifier: MIT
//
// lock.hpp - kev::Mutex, libkev's one mutex (the queue's lock, the CQ lock
// of the uring waitset, the process-wide tables), and kev::Lock, a Mutex
// held for a scope.  (std::mutex and std::lock_guard would do, but
// std::mutex::lock reports a failure by throwing, from libstdc++: libkev
// links no C++ runtime.)
#ifndef KEV_LOCK_HPP
#define KEV_LOCK_HPP

#include <atomic>

namespace kev {

/*
 * A futex mutex ("Futexes Are Tricky", Drepper, mutex3): 0 free, 1 held,
 * 2 held and someone may sleep on it.  Uncontended, lock() is one
 * compare-and-swap and unlock() one exchange, inline, where a pthread
 * mutex costs two calls through the PLT and the checks of its type (~55
 * instructions per kevent_ctl here; doc/decisions.md, "The queue lock").
 * Not recursive, no owner: what the queue's lock needs and no more.
 */
class Mutex {
public:
	constexpr Mutex() = default;
	Mutex(const Mutex &) = delete;
	Mutex &operator=(const Mutex &) = delete;

	void lock()
	{
		int c = 0;

		if (!state_.compare_exchange_strong(c, 1,
						    std::memory_order_acquire,
						    std::memory_order_relaxed))
			[[unlikely]]
			lock_contended(c);
	}
	void unlock()
	{
		if (state_.exchange(0, std::memory_order_release) == 2)
			[[unlikely]]
			wake_one();
	}

private:
	void lock_contended(int c);
	void wake_one();

	std::atomic<int> state_{0};
};
static_assert(sizeof(std::atomic<int>) == sizeof(int) &&
	      std::atomic<int>::is_always_lock_free);

// A Mutex held for a scope.
class Lock {
public:
	explicit Lock(Mutex &m) : m_(m) { m_.lock(); }
	~Lock() { m_.unlock(); }
	Lock(const Lock &) = delete;
	Lock &operator=(const Lock &) = delete;

private:
	Mutex &m_;
};

} // namespace kev

#endif // KEV_LOCK_HPP
