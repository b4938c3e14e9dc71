// SPDX-License-Identifier: MIT
//
// kevent.hpp - C++ RAII layer over libkev (<kevent.h>).  Header only.
//
// Requires C++17; uses std::span and concepts when compiled as C++20.
// Link with libkev (pkg-config --cflags --libs libkev-cpp).
//
//   kevent::queue q;                                  // kevent_init
//   auto tick = q.add_timer(1, std::chrono::milliseconds(10));
//   auto in   = q.add_fd(STDIN_FILENO, KEVENT_POLL_IN);
//   q.wait_for(std::chrono::seconds(1));              // kevent_wait
//   for (const ukevent &ev : q.events())              // consumes the ring
//       handle(ev);
//                                                     // REMOVEs, kevent_close
//
// Rules of this layer:
//  * Every failure of libkev is thrown as std::system_error with
//    std::generic_category() and the errno of the call (or of the ctl entry).
//  * kevent::queue owns a queue (move-only, kevent_close on destruction).
//  * kevent::registration owns one registration (type, id) and REMOVEs it on
//    destruction unless release()d.  It may safely outlive its queue (it then
//    does nothing).  A registration that ends by itself (ONESHOT, process
//    exit; KEVENT_RET_REMOVED in the delivered event) should be release()d
//    when its event is seen, so that a later registration with the same key
//    is not removed by the stale handle.
//  * Durations given to timers are converted to nanoseconds (integer counts
//    rounded up, floating-point ones to the nearest nanosecond); a
//    duration that does not fit in int64_t nanoseconds (~292 years) throws
//    std::system_error(EOVERFLOW); negative durations count as zero.  A time
//    point of std::chrono::system_clock becomes a KEVENT_TIMER_REALTIME
//    absolute deadline, one of std::chrono::steady_clock a
//    KEVENT_TIMER_MONOTONIC one (steady_clock is CLOCK_MONOTONIC in
//    libstdc++ and libc++).
//  * Wait timeouts never throw for being large: a timeout beyond int64_t
//    nanoseconds waits forever; a negative one does not sleep.
//  * kevent::dispatcher runs callbacks for registrations; stop() may be
//    called from any thread.
#ifndef KEVENT_HPP
#define KEVENT_HPP

#include <kevent.h>

#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <ratio>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>

#if __has_include(<version>)
#include <version>
#endif

#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
#include <span>
#define KEVENT_HPP_HAS_SPAN 1
#else
#define KEVENT_HPP_HAS_SPAN 0
#endif

#if defined(__cpp_concepts) && __cpp_concepts >= 201907L && \
	defined(__cpp_lib_concepts) && __cpp_lib_concepts >= 202002L
#include <concepts>
#define KEVENT_HPP_HAS_CONCEPTS 1
#else
#define KEVENT_HPP_HAS_CONCEPTS 0
#endif

#if defined(__cpp_lib_ranges) && __cpp_lib_ranges >= 201911L
#define KEVENT_HPP_HAS_RANGES 1
#else
#define KEVENT_HPP_HAS_RANGES 0
#endif

namespace kevent {

// ---------------------------------------------------------------- errors

// Throw std::system_error(err, std::generic_category(), what).
[[noreturn]] inline void throw_error(int err, const char *what)
{
	throw std::system_error(err, std::generic_category(), what);
}

// Throw the current errno.
[[noreturn]] inline void throw_errno(const char *what)
{
	throw_error(errno, what);
}

// The error of one kevent_ctl() entry: empty unless KEVENT_RET_ERROR is set.
[[nodiscard]] inline std::error_code
entry_error(const ukevent &ev) noexcept
{
	if (!(ev.ret_flags & KEVENT_RET_ERROR))
		return {};
	return {static_cast<int>(ev.ret_data), std::generic_category()};
}

// ----------------------------------------------------------- conversions

namespace detail {

enum class ns_status { ok, overflow, invalid };

// ceil(v) for 0 <= v < 2^64, usable in constant expressions.
constexpr std::uintmax_t ceil_u(long double v) noexcept
{
	const std::uintmax_t t = static_cast<std::uintmax_t>(v);
	return static_cast<long double>(t) < v ? t + 1 : t;
}

// v rounded to the nearest integer, for 0 <= v < 2^64.
constexpr std::uintmax_t round_u(long double v) noexcept
{
	const std::uintmax_t t = static_cast<std::uintmax_t>(v);
	return v - static_cast<long double>(t) >= 0.5L ? t + 1 : t;
}

struct ns_result {
	ns_status status;
	std::int64_t ns;	// >= 0 when status == ok
};

// d in nanoseconds, negative clamped to 0, no wrap-around.  An integer
// count is rounded up (a timer never fires early); a floating-point one,
// being inexact anyway (1.5e-3 s is 1500000.00000000003 ns), to the nearest.
template <class Rep, class Period>
constexpr ns_result to_ns(std::chrono::duration<Rep, Period> d) noexcept
{
	static_assert(std::is_arithmetic_v<Rep>,
		      "kevent: duration representation must be arithmetic");
	using conv = std::ratio_divide<Period, std::nano>;	// ns per tick
	constexpr std::uintmax_t max =
		static_cast<std::uintmax_t>(std::numeric_limits<std::int64_t>::max());
	constexpr std::uintmax_t num = static_cast<std::uintmax_t>(conv::num);
	constexpr std::uintmax_t den = static_cast<std::uintmax_t>(conv::den);

	if constexpr (std::is_floating_point_v<Rep>) {
		const long double c = static_cast<long double>(d.count());

		if (c != c)
			return {ns_status::invalid, 0};
		if (!(c > 0.0L))
			return {ns_status::ok, 0};
		const long double v = c * static_cast<long double>(num) /
				      static_cast<long double>(den);
		// 2^63 is exact in every long double format.
		if (!(v < 9223372036854775808.0L))
			return {ns_status::overflow, 0};
		const std::uintmax_t ns = round_u(v);
		if (ns > max)
			return {ns_status::overflow, 0};
		return {ns_status::ok, static_cast<std::int64_t>(ns)};
	} else {
		if constexpr (std::is_signed_v<Rep>) {
			if (d.count() <= 0)
				return {ns_status::ok, 0};
		}
		const std::uintmax_t c = static_cast<std::uintmax_t>(d.count());
		const std::uintmax_t q = c / den;
		const std::uintmax_t r = c % den;

		if (q > max / num)
			return {ns_status::overflow, 0};
		std::uintmax_t ns = q * num;
		if (r != 0) {
			// ceil(r * num / den) <= num, computed without overflow.
			std::uintmax_t extra = 0;
			if (num <= std::numeric_limits<std::uintmax_t>::max() / r)
				extra = r * num / den + ((r * num) % den != 0);
			else
				extra = ceil_u(static_cast<long double>(r) *
					       static_cast<long double>(num) /
					       static_cast<long double>(den));
			if (ns > max - extra)
				return {ns_status::overflow, 0};
			ns += extra;
		}
		return {ns_status::ok, static_cast<std::int64_t>(ns)};
	}
}

inline timespec ns_to_timespec(std::int64_t ns) noexcept
{
	timespec ts{};
	ts.tv_sec = static_cast<time_t>(ns / 1000000000);
	ts.tv_nsec = static_cast<long>(ns % 1000000000);
	return ts;
}

// A wait timeout: nullptr (forever) when it does not fit in int64_t ns.
template <class Rep, class Period>
const timespec *wait_timeout(std::chrono::duration<Rep, Period> d,
			     timespec &storage)
{
	const ns_result r = to_ns(d);

	if (r.status == ns_status::invalid)
		throw_error(EINVAL, "kevent: wait timeout is not a number");
	if (r.status == ns_status::overflow)
		return nullptr;
	storage = ns_to_timespec(r.ns);
	return &storage;
}

} // namespace detail

// A duration as nanoseconds for a timer: rounded up, negative gives 0,
// std::system_error(EOVERFLOW) if it does not fit in int64_t (a huge
// duration never wraps), EINVAL for a floating-point NaN.
template <class Rep, class Period>
[[nodiscard]] constexpr std::int64_t
checked_nanoseconds(std::chrono::duration<Rep, Period> d)
{
	const detail::ns_result r = detail::to_ns(d);

	if (r.status == detail::ns_status::overflow)
		throw_error(EOVERFLOW, "kevent: duration does not fit in 64-bit nanoseconds");
	if (r.status == detail::ns_status::invalid)
		throw_error(EINVAL, "kevent: duration is not a number");
	return r.ns;
}

// A duration as a timespec (same rules as checked_nanoseconds()).
template <class Rep, class Period>
[[nodiscard]] timespec to_timespec(std::chrono::duration<Rep, Period> d)
{
	return detail::ns_to_timespec(checked_nanoseconds(d));
}

// ------------------------------------------------------ event builders
//
// Each builder returns a struct ukevent ready for kevent_ctl(ADD).

[[nodiscard]] inline ukevent
make_event(std::uint32_t type, std::uint64_t id, std::uint32_t event = 0,
	   std::uint32_t req_flags = 0, std::uint64_t data = 0,
	   std::uint64_t user = 0) noexcept
{
	ukevent ev{};
	ev.id = id;
	ev.type = type;
	ev.event = event;
	ev.req_flags = req_flags;
	ev.data = data;
	ev.user = user;
	return ev;
}

// The key of a registration, for REMOVE/ENABLE/DISABLE/READY.
[[nodiscard]] inline ukevent
make_key(std::uint32_t type, std::uint64_t id) noexcept
{
	return make_event(type, id);
}

// KEVENT_POLL: readiness of fd for mask (KEVENT_POLL_IN | ...).
[[nodiscard]] inline ukevent
fd_event(int fd, std::uint32_t mask, std::uint32_t req_flags = 0,
	 std::uint64_t user = 0) noexcept
{
	// A negative fd becomes an id no fd has: the library says EBADF.
	return make_event(KEVENT_POLL, static_cast<std::uint64_t>(fd), mask,
			  req_flags, 0, user);
}

// KEVENT_TIMER, relative: fires after interval, periodically unless
// KEVENT_REQ_ONESHOT.  clock is KEVENT_TIMER_MONOTONIC (default),
// _REALTIME or _BOOTTIME.
template <class Rep, class Period>
[[nodiscard]] ukevent
timer_event(std::uint64_t id, std::chrono::duration<Rep, Period> interval,
	    std::uint32_t req_flags = 0, std::uint64_t user = 0,
	    std::uint32_t clock = KEVENT_TIMER_MONOTONIC)
{
	return make_event(KEVENT_TIMER, id, clock, req_flags,
			  static_cast<std::uint64_t>(checked_nanoseconds(interval)),
			  user);
}

// KEVENT_TIMER, absolute on CLOCK_REALTIME: fires once at deadline.
template <class Duration>
[[nodiscard]] ukevent
timer_event(std::uint64_t id,
	    std::chrono::time_point<std::chrono::system_clock, Duration> deadline,
	    std::uint32_t req_flags = 0, std::uint64_t user = 0)
{
	return make_event(KEVENT_TIMER, id,
			  KEVENT_TIMER_REALTIME | KEVENT_TIMER_ABSTIME, req_flags,
			  static_cast<std::uint64_t>(
				  checked_nanoseconds(deadline.time_since_epoch())),
			  user);
}

// KEVENT_TIMER, absolute on CLOCK_MONOTONIC: fires once at deadline.
template <class Duration>
[[nodiscard]] ukevent
timer_event(std::uint64_t id,
	    std::chrono::time_point<std::chrono::steady_clock, Duration> deadline,
	    std::uint32_t req_flags = 0, std::uint64_t user = 0)
{
	return make_event(KEVENT_TIMER, id,
			  KEVENT_TIMER_MONOTONIC | KEVENT_TIMER_ABSTIME, req_flags,
			  static_cast<std::uint64_t>(
				  checked_nanoseconds(deadline.time_since_epoch())),
			  user);
}

// KEVENT_USER: fires on trigger() (KEVENT_CTL_READY).
[[nodiscard]] inline ukevent
user_event(std::uint64_t id, std::uint32_t req_flags = 0,
	   std::uint64_t user = 0) noexcept
{
	return make_event(KEVENT_USER, id, 0, req_flags, 0, user);
}

// KEVENT_SIGNAL: delivery of signo (which must be blocked in every thread).
[[nodiscard]] inline ukevent
signal_event(int signo, std::uint32_t req_flags = 0,
	     std::uint64_t user = 0) noexcept
{
	return make_event(KEVENT_SIGNAL, static_cast<std::uint64_t>(signo), 0,
			  req_flags, 0, user);
}

// KEVENT_INODE: changes (KEVENT_INODE_*) to the file or directory open as fd.
[[nodiscard]] inline ukevent
inode_event(int fd, std::uint32_t mask, std::uint32_t req_flags = 0,
	    std::uint64_t user = 0) noexcept
{
	return make_event(KEVENT_INODE, static_cast<std::uint64_t>(fd), mask,
			  req_flags, 0, user);
}

// KEVENT_PROC: exit of process pid (ret_data: wait status for a child).
[[nodiscard]] inline ukevent
proc_event(pid_t pid, std::uint32_t req_flags = 0,
	   std::uint64_t user = 0) noexcept
{
	return make_event(KEVENT_PROC, static_cast<std::uint64_t>(pid),
			  KEVENT_PROC_EXIT, req_flags, 0, user);
}

// ------------------------------------------------------------- backends

enum class backend : unsigned int {
	automatic = KEVENT_BACKEND_DEFAULT,	// best available / $KEVENT_BACKEND
	kmod = KEVENT_BACKEND_KMOD,
	uring = KEVENT_BACKEND_URING,
	epoll = KEVENT_BACKEND_EPOLL,
};

// ----------------------------------------------------------- ring range

// The events waiting in a ring, as an input range that consumes as it
// goes: *it is a reference to the entry in the ring (no copy), ++it
// releases that entry to the producer.  Iteration ends when the ring is
// empty; events published meanwhile are seen.  Leaving a loop with break
// (or an exception) leaves the current entry in the ring.  One consumer at
// a time.
class ring_range {
public:
	class iterator {
	public:
		using iterator_category = std::input_iterator_tag;
		using value_type = ukevent;
		using difference_type = std::ptrdiff_t;
		using pointer = const ukevent *;
		using reference = const ukevent &;

		iterator() noexcept = default;
		explicit iterator(kevent_ring *ring) noexcept : ring_(ring) {}

		// The entry at the consumer index.  The count of published
		// entries is loaded (acquire) once per batch, not per entry.
		[[nodiscard]] reference operator*() const noexcept
		{
			return kevent_ring_entries(ring_)
				[kevent_load_relaxed(&ring_->uidx) & ring_->mask];
		}
		[[nodiscard]] pointer operator->() const noexcept
		{
			return &**this;
		}
		iterator &operator++() noexcept
		{
			kevent_ring_advance(ring_, 1);
			if (left_)
				left_--;
			return *this;
		}
		// it++ hands back a copy of the entry it released.
		struct postfix {
			ukevent value;
			const ukevent &operator*() const noexcept { return value; }
		};
		postfix operator++(int) noexcept
		{
			postfix p{**this};
			++*this;
			return p;
		}

		[[nodiscard]] bool at_end() const noexcept
		{
			if (!ring_)
				return true;
			if (!left_)
				left_ = kevent_ring_count(ring_);
			return left_ == 0;
		}
		friend bool operator==(const iterator &a, const iterator &b) noexcept
		{
			return a.at_end() == b.at_end();
		}
		friend bool operator!=(const iterator &a, const iterator &b) noexcept
		{
			return !(a == b);
		}
#if KEVENT_HPP_HAS_RANGES
		friend bool operator==(const iterator &a, std::default_sentinel_t) noexcept
		{
			return a.at_end();
		}
#endif

	private:
		kevent_ring *ring_ = nullptr;
		mutable unsigned int left_ = 0;	// entries known to be there
	};

	ring_range() noexcept = default;
	explicit ring_range(kevent_ring *ring) noexcept : ring_(ring) {}

	[[nodiscard]] iterator begin() const noexcept { return iterator(ring_); }
	[[nodiscard]] iterator end() const noexcept { return iterator(); }
	[[nodiscard]] bool empty() const noexcept
	{
		return !ring_ || kevent_ring_empty(ring_);
	}
	// Events in the ring now.
	[[nodiscard]] std::size_t count() const noexcept
	{
		return ring_ ? kevent_ring_count(ring_) : 0u;
	}

private:
	kevent_ring *ring_ = nullptr;
};

// -------------------------------------------------------------- queue

class queue;

namespace detail {
// What registrations share with their queue: the fd, -1 once closed.
struct queue_state {
	std::atomic<int> fd{-1};
	kevent_ring *ring = nullptr;
};
} // namespace detail

// One registration (type, id) of a queue: REMOVEd on destruction unless
// release()d.  Move-only.
class registration {
public:
	struct key {
		std::uint32_t type;
		std::uint64_t id;
	};

	registration() noexcept = default;
	registration(registration &&o) noexcept
		: st_(std::move(o.st_)), key_(o.key_) {}
	registration &operator=(registration &&o) noexcept
	{
		if (this != &o) {
			reset();
			st_ = std::move(o.st_);
			key_ = o.key_;
		}
		return *this;
	}
	registration(const registration &) = delete;
	registration &operator=(const registration &) = delete;
	~registration() { reset(); }

	[[nodiscard]] std::uint32_t type() const noexcept { return key_.type; }
	[[nodiscard]] std::uint64_t id() const noexcept { return key_.id; }
	// Owns a registration (not moved from, released or removed).
	explicit operator bool() const noexcept { return st_ != nullptr; }

	// Stop owning the registration; it stays in the queue.
	key release() noexcept
	{
		st_.reset();
		return key_;
	}

	// REMOVE now, reporting errors (ENOENT if it ended by itself).
	void remove();

	// REMOVE now, ignoring errors.  Also what the destructor does.
	void reset() noexcept;

	// MODIFY: replace event, req_flags, data and user (type and id kept).
	void modify(const ukevent &ev);
	void enable();
	void disable();
	// KEVENT_CTL_READY (KEVENT_USER only).
	void trigger();

private:
	friend class queue;
	registration(std::shared_ptr<detail::queue_state> st, key k) noexcept
		: st_(std::move(st)), key_(k) {}
	void apply(unsigned int cmd, ukevent &ev) const;

	std::shared_ptr<detail::queue_state> st_;
	key key_{};
};

// A kevent queue: kevent_init() on construction, kevent_close() on
// destruction.  Move-only; a moved-from queue owns nothing.
class queue {
public:
	// ring_size: entries (0 = default, rounded up to a power of two).
	explicit queue(unsigned int ring_size = 0, backend b = backend::automatic)
		: st_(std::make_shared<detail::queue_state>())
	{
		kevent_ring *ring = nullptr;
		const int fd = ::kevent_init(&ring, ring_size,
					     static_cast<unsigned int>(b));
		if (fd < 0)
			throw_errno("kevent_init");
		st_->ring = ring;
		st_->fd.store(fd, std::memory_order_release);
	}

	queue(queue &&o) noexcept = default;
	queue &operator=(queue &&o) noexcept
	{
		if (this != &o) {
			close_noexcept();
			st_ = std::move(o.st_);
		}
		return *this;
	}
	queue(const queue &) = delete;
	queue &operator=(const queue &) = delete;
	~queue() { close_noexcept(); }

	// The queue fd (pollable), -1 if none.
	[[nodiscard]] int fd() const noexcept
	{
		return st_ ? st_->fd.load(std::memory_order_acquire) : -1;
	}
	[[nodiscard]] kevent_ring *ring() const noexcept
	{
		return st_ && fd() >= 0 ? st_->ring : nullptr;
	}
	explicit operator bool() const noexcept { return fd() >= 0; }

	// kevent_close() now, reporting its error.
	void close()
	{
		const int fd = take_fd();
		if (fd >= 0 && ::kevent_close(fd) < 0)
			throw_errno("kevent_close");
	}

	// "kmod", "uring" or "epoll".
	[[nodiscard]] std::string_view backend_name() const
	{
		const char *name = ::kevent_backend(fd());
		if (!name)
			throw_errno("kevent_backend");
		return name;
	}

	// ---- kevent_ctl

	// Apply cmd to n entries (in chunks of KEVENT_CTL_BATCH_MAX); return
	// how many succeeded.  A failed entry has KEVENT_RET_ERROR in
	// ret_flags and its errno in ret_data (see entry_error()).  Errors of
	// the whole call throw.
	[[nodiscard]] std::size_t ctl(unsigned int cmd, ukevent *events,
				      std::size_t n) const
	{
		std::size_t ok = 0;

		while (n > 0) {
			const unsigned int chunk = n > KEVENT_CTL_BATCH_MAX
				? KEVENT_CTL_BATCH_MAX : static_cast<unsigned int>(n);
			const int r = ::kevent_ctl(fd(), cmd, chunk, events);
			if (r < 0)
				throw_errno("kevent_ctl");
			ok += static_cast<std::size_t>(r);
			events += chunk;
			n -= chunk;
		}
		return ok;
	}
#if KEVENT_HPP_HAS_SPAN
	[[nodiscard]] std::size_t ctl(unsigned int cmd, std::span<ukevent> events) const
	{
		return ctl(cmd, events.data(), events.size());
	}
#endif

	// Apply cmd to one entry; throw its error.
	void ctl_one(unsigned int cmd, ukevent &ev) const
	{
		if (ctl(cmd, &ev, 1) != 1) {
			const std::error_code ec = entry_error(ev);
			throw std::system_error(ec ? ec : std::error_code(EIO, std::generic_category()),
						"kevent_ctl");
		}
	}

	// ADD one registration and own it.
	[[nodiscard]] registration add(const ukevent &ev) const
	{
		ukevent e = ev;
		ctl_one(KEVENT_CTL_ADD, e);
		return registration(st_, {ev.type, ev.id});
	}

	[[nodiscard]] registration add_fd(int fd, std::uint32_t mask,
					  std::uint32_t req_flags = 0,
					  std::uint64_t user = 0) const
	{
		return add(fd_event(fd, mask, req_flags, user));
	}
	template <class Rep, class Period>
	[[nodiscard]] registration
	add_timer(std::uint64_t id, std::chrono::duration<Rep, Period> interval,
		  std::uint32_t req_flags = 0, std::uint64_t user = 0,
		  std::uint32_t clock = KEVENT_TIMER_MONOTONIC) const
	{
		return add(timer_event(id, interval, req_flags, user, clock));
	}
	template <class Clock, class Duration>
	[[nodiscard]] registration
	add_timer(std::uint64_t id, std::chrono::time_point<Clock, Duration> deadline,
		  std::uint32_t req_flags = 0, std::uint64_t user = 0) const
	{
		return add(timer_event(id, deadline, req_flags, user));
	}
	[[nodiscard]] registration add_user(std::uint64_t id,
					    std::uint32_t req_flags = 0,
					    std::uint64_t user = 0) const
	{
		return add(user_event(id, req_flags, user));
	}
	[[nodiscard]] registration add_signal(int signo, std::uint32_t req_flags = 0,
					      std::uint64_t user = 0) const
	{
		return add(signal_event(signo, req_flags, user));
	}
	[[nodiscard]] registration add_inode(int fd, std::uint32_t mask,
					     std::uint32_t req_flags = 0,
					     std::uint64_t user = 0) const
	{
		return add(inode_event(fd, mask, req_flags, user));
	}
	[[nodiscard]] registration add_proc(pid_t pid, std::uint32_t req_flags = 0,
					    std::uint64_t user = 0) const
	{
		return add(proc_event(pid, req_flags, user));
	}

	void remove(std::uint32_t type, std::uint64_t id) const
	{
		ukevent e = make_key(type, id);
		ctl_one(KEVENT_CTL_REMOVE, e);
	}
	// REMOVE without throwing: the error, if any, goes to ec.
	void remove(std::uint32_t type, std::uint64_t id,
		    std::error_code &ec) const noexcept
	{
		ec = remove_fd(fd(), type, id);
	}
	void modify(const ukevent &ev) const
	{
		ukevent e = ev;
		ctl_one(KEVENT_CTL_MODIFY, e);
	}
	void enable(std::uint32_t type, std::uint64_t id) const
	{
		ukevent e = make_key(type, id);
		ctl_one(KEVENT_CTL_ENABLE, e);
	}
	void disable(std::uint32_t type, std::uint64_t id) const
	{
		ukevent e = make_key(type, id);
		ctl_one(KEVENT_CTL_DISABLE, e);
	}
	// KEVENT_CTL_READY on KEVENT_USER id; callable from any thread.
	void trigger(std::uint64_t id) const
	{
		ukevent e = make_key(KEVENT_USER, id);
		ctl_one(KEVENT_CTL_READY, e);
	}

	// ---- kevent_wait
	//
	// Sleep until at least min_nr events are in the ring; return how many
	// are there (0 on timeout).  A signal throws std::system_error(EINTR).

	std::size_t wait(unsigned int min_nr = 1) const
	{
		return do_wait(min_nr, nullptr);
	}
	template <class Rep, class Period>
	std::size_t wait_for(std::chrono::duration<Rep, Period> timeout,
			     unsigned int min_nr = 1) const
	{
		timespec ts;
		return do_wait(min_nr, detail::wait_timeout(timeout, ts));
	}
	template <class Clock, class Duration>
	std::size_t wait_until(std::chrono::time_point<Clock, Duration> deadline,
			       unsigned int min_nr = 1) const
	{
		for (;;) {
			const auto now = Clock::now();
			const std::size_t n = wait_for(deadline - now, min_nr);
			if (n > 0 || Clock::now() >= deadline)
				return n;
		}
	}
	// kevent_pwait(): sigmask is the signal mask while sleeping.
	std::size_t pwait(const sigset_t &sigmask, unsigned int min_nr = 1) const
	{
		return do_wait(min_nr, nullptr, &sigmask);
	}
	template <class Rep, class Period>
	std::size_t pwait_for(std::chrono::duration<Rep, Period> timeout,
			      const sigset_t &sigmask, unsigned int min_nr = 1) const
	{
		timespec ts;
		return do_wait(min_nr, detail::wait_timeout(timeout, ts), &sigmask);
	}

	// ---- consuming the ring

	// The waiting events as a consuming input range (no system call).
	[[nodiscard]] ring_range events() const noexcept { return ring_range(ring()); }

	// Copy out and release the oldest event, if any.
	[[nodiscard]] std::optional<ukevent> try_consume() const noexcept
	{
		kevent_ring *r = ring();
		ukevent ev;
		if (r && ::kevent_ring_consume(r, &ev))
			return ev;
		return std::nullopt;
	}
	// One event, sleeping as long as needed (ukevent_dequeue()).
	[[nodiscard]] ukevent dequeue() const
	{
		ukevent ev;
		if (::ukevent_dequeue(fd(), ring(), &ev, nullptr) < 0)
			throw_errno("ukevent_dequeue");
		return ev;
	}
	// One event, or nullopt when timeout passes.
	template <class Rep, class Period>
	[[nodiscard]] std::optional<ukevent>
	dequeue_for(std::chrono::duration<Rep, Period> timeout) const
	{
		timespec ts;
		const timespec *t = detail::wait_timeout(timeout, ts);
		ukevent ev;
		if (::ukevent_dequeue(fd(), ring(), &ev, t) == 0)
			return ev;
		if (errno == ETIMEDOUT)
			return std::nullopt;
		throw_errno("ukevent_dequeue");
	}

private:
	friend class registration;

	static std::error_code remove_fd(int fd, std::uint32_t type,
					 std::uint64_t id) noexcept
	{
		if (fd < 0)
			return {EBADF, std::generic_category()};
		ukevent e = make_key(type, id);
		const int r = ::kevent_ctl(fd, KEVENT_CTL_REMOVE, 1, &e);
		if (r < 0)
			return {errno, std::generic_category()};
		if (r == 0)
			return entry_error(e);
		return {};
	}

	int take_fd() noexcept
	{
		return st_ ? st_->fd.exchange(-1, std::memory_order_acq_rel) : -1;
	}
	void close_noexcept() noexcept
	{
		const int fd = take_fd();
		if (fd >= 0)
			::kevent_close(fd);
		st_.reset();
	}

	std::size_t do_wait(unsigned int min_nr, const timespec *t,
			    const sigset_t *mask = nullptr) const
	{
		const int n = mask ? ::kevent_pwait(fd(), min_nr, t, mask)
				   : ::kevent_wait(fd(), min_nr, t);
		if (n < 0)
			throw_errno(mask ? "kevent_pwait" : "kevent_wait");
		return static_cast<std::size_t>(n);
	}

	std::shared_ptr<detail::queue_state> st_;
};

inline void registration::apply(unsigned int cmd, ukevent &ev) const
{
	const int fd = st_ ? st_->fd.load(std::memory_order_acquire) : -1;
	if (fd < 0)
		throw_error(EBADF, "kevent_ctl");
	const int r = ::kevent_ctl(fd, cmd, 1, &ev);
	if (r < 0)
		throw_errno("kevent_ctl");
	if (r == 0) {
		const std::error_code ec = entry_error(ev);
		throw std::system_error(ec ? ec : std::error_code(EIO, std::generic_category()),
					"kevent_ctl");
	}
}

inline void registration::remove()
{
	if (!st_)
		throw_error(ENOENT, "kevent_ctl");
	const std::shared_ptr<detail::queue_state> st = std::move(st_);
	st_.reset();
	const std::error_code ec = queue::remove_fd(
		st->fd.load(std::memory_order_acquire), key_.type, key_.id);
	if (ec)
		throw std::system_error(ec, "kevent_ctl");
}

inline void registration::reset() noexcept
{
	if (!st_)
		return;
	const int fd = st_->fd.load(std::memory_order_acquire);
	if (fd >= 0)
		(void)queue::remove_fd(fd, key_.type, key_.id);
	st_.reset();
}

inline void registration::modify(const ukevent &ev)
{
	ukevent e = ev;
	e.type = key_.type;
	e.id = key_.id;
	apply(KEVENT_CTL_MODIFY, e);
}

inline void registration::enable()
{
	ukevent e = make_key(key_.type, key_.id);
	apply(KEVENT_CTL_ENABLE, e);
}

inline void registration::disable()
{
	ukevent e = make_key(key_.type, key_.id);
	apply(KEVENT_CTL_DISABLE, e);
}

inline void registration::trigger()
{
	ukevent e = make_key(key_.type, key_.id);
	apply(KEVENT_CTL_READY, e);
}

// ----------------------------------------------------------- dispatcher

#if KEVENT_HPP_HAS_CONCEPTS
// A callback for a dispatcher registration.
template <class F>
concept event_handler = std::invocable<std::decay_t<F> &, const ukevent &>;
#define KEVENT_HPP_HANDLER ::kevent::event_handler
#else
#define KEVENT_HPP_HANDLER class
#endif

namespace detail {

struct dispatch_slot {
	std::uint32_t type;
	std::uint64_t id;
	std::function<void(const ukevent &)> fn;
};

// std::function needs a copyable target: share a move-only one.
template <class F>
std::function<void(const ukevent &)> make_callback(F &&f)
{
	using D = std::decay_t<F>;
	if constexpr (std::is_copy_constructible_v<D>) {
		return std::function<void(const ukevent &)>(std::forward<F>(f));
	} else {
		auto p = std::make_shared<D>(std::forward<F>(f));
		return [p](const ukevent &ev) { (*p)(ev); };
	}
}

struct dispatch_state {
	explicit dispatch_state(queue &&qu) : q(std::move(qu)) {}

	queue q;
	std::mutex lock;	// protects slots and next_cookie
	std::unordered_map<std::uint64_t, std::shared_ptr<dispatch_slot>> slots;
	std::uint64_t next_cookie = 1;	// 0 is the stop event's cookie
	std::atomic<bool> stop{false};

	std::shared_ptr<dispatch_slot> find(std::uint64_t cookie, bool erase)
	{
		std::lock_guard<std::mutex> g(lock);
		const auto it = slots.find(cookie);
		if (it == slots.end())
			return nullptr;
		std::shared_ptr<dispatch_slot> s = it->second;
		if (erase)
			slots.erase(it);
		return s;
	}
};

} // namespace detail

// A small callback loop over one queue.  Each registration made through
// the dispatcher carries a callable, invoked as f(const ukevent &) with the
// event still in the ring.  run() dispatches until stop(); stop() may be
// called from any thread (it triggers an internal KEVENT_USER event, id
// dispatcher::wake_id, which user code must not register).
//
// add() and handle destruction may happen on any thread; run()/poll() on
// one thread at a time, and not from inside a callback.  Events whose
// registration is gone (removed after they were published) are skipped.
// Callbacks must not consume from the dispatcher's queue themselves.  The
// callable may be move-only.  A moved-from dispatcher may only be assigned
// to or destroyed.
class dispatcher {
public:
	static constexpr std::uint64_t wake_id = ~std::uint64_t{0};

	// Owns one registration and its callback; removes both on destruction
	// unless release()d.  May outlive the dispatcher (then does nothing).
	class handle {
	public:
		handle() noexcept = default;
		handle(handle &&o) noexcept
			: st_(std::move(o.st_)), cookie_(o.cookie_) {}
		handle &operator=(handle &&o) noexcept
		{
			if (this != &o) {
				reset();
				st_ = std::move(o.st_);
				cookie_ = o.cookie_;
			}
			return *this;
		}
		handle(const handle &) = delete;
		handle &operator=(const handle &) = delete;
		~handle() { reset(); }

		explicit operator bool() const noexcept { return !st_.expired(); }

		// Keep the registration and callback for the dispatcher's life.
		void release() noexcept { st_.reset(); }

		// Remove now; errors are ignored (what the destructor does).
		void reset() noexcept
		{
			const std::shared_ptr<detail::dispatch_state> st = st_.lock();
			st_.reset();
			if (!st)
				return;
			const std::shared_ptr<detail::dispatch_slot> s =
				st->find(cookie_, true);
			if (s) {
				std::error_code ec;
				st->q.remove(s->type, s->id, ec);
			}
		}

		// Still registered (not ended by itself, e.g. ONESHOT)?
		[[nodiscard]] bool active() const
		{
			const std::shared_ptr<detail::dispatch_state> st = st_.lock();
			if (!st)
				return false;
			std::lock_guard<std::mutex> g(st->lock);
			return st->slots.count(cookie_) != 0;
		}

		void enable() const { ctl(KEVENT_CTL_ENABLE); }
		void disable() const { ctl(KEVENT_CTL_DISABLE); }
		void trigger() const { ctl(KEVENT_CTL_READY); }
		// MODIFY: new event mask, req_flags and data from ev (type, id
		// and the callback are kept).
		void modify(const ukevent &ev) const
		{
			ukevent e = ev;
			ctl(KEVENT_CTL_MODIFY, &e);
		}

	private:
		friend class dispatcher;
		handle(std::weak_ptr<detail::dispatch_state> st, std::uint64_t cookie) noexcept
			: st_(std::move(st)), cookie_(cookie) {}

		void ctl(unsigned int cmd, ukevent *ev = nullptr) const
		{
			const std::shared_ptr<detail::dispatch_state> st = st_.lock();
			if (!st)
				throw_error(EBADF, "kevent_ctl");
			const std::shared_ptr<detail::dispatch_slot> s = st->find(cookie_, false);
			if (!s)
				throw_error(ENOENT, "kevent_ctl");
			ukevent e = ev ? *ev : ukevent{};
			e.type = s->type;
			e.id = s->id;
			e.user = cookie_;
			st->q.ctl_one(cmd, e);
		}

		std::weak_ptr<detail::dispatch_state> st_;
		std::uint64_t cookie_ = 0;
	};

	explicit dispatcher(unsigned int ring_size = 0, backend b = backend::automatic)
		: dispatcher(queue(ring_size, b)) {}

	explicit dispatcher(queue &&q)
		: st_(std::make_shared<detail::dispatch_state>(std::move(q)))
	{
		if (!st_->q)
			throw_error(EBADF, "kevent::dispatcher");
		// The stop event lives as long as the queue.
		st_->q.add_user(wake_id, 0, 0).release();
	}

	dispatcher(dispatcher &&) noexcept = default;
	dispatcher &operator=(dispatcher &&) noexcept = default;
	dispatcher(const dispatcher &) = delete;
	dispatcher &operator=(const dispatcher &) = delete;
	~dispatcher() = default;

	[[nodiscard]] const queue &get_queue() const noexcept { return st_->q; }

	// Register ev (its user field is replaced) with callback f.
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add(const ukevent &ev, F &&f)
	{
		static_assert(std::is_invocable_v<std::decay_t<F> &, const ukevent &>,
			      "kevent: a handler is called as f(const ukevent &)");
		auto slot = std::make_shared<detail::dispatch_slot>(
			detail::dispatch_slot{ev.type, ev.id,
					      detail::make_callback(std::forward<F>(f))});
		std::uint64_t cookie;
		{
			std::lock_guard<std::mutex> g(st_->lock);
			cookie = st_->next_cookie++;
			st_->slots.emplace(cookie, slot);
		}
		ukevent e = ev;
		e.user = cookie;
		try {
			st_->q.ctl_one(KEVENT_CTL_ADD, e);
		} catch (...) {
			st_->find(cookie, true);
			throw;
		}
		return handle(st_, cookie);
	}

	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_fd(int fd, std::uint32_t mask, F &&f,
				    std::uint32_t req_flags = 0)
	{
		return add(fd_event(fd, mask, req_flags), std::forward<F>(f));
	}
	template <class Rep, class Period, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::uint64_t id,
				       std::chrono::duration<Rep, Period> interval,
				       F &&f, std::uint32_t req_flags = 0)
	{
		return add(timer_event(id, interval, req_flags), std::forward<F>(f));
	}
	template <class Clock, class Duration, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::uint64_t id,
				       std::chrono::time_point<Clock, Duration> deadline,
				       F &&f, std::uint32_t req_flags = 0)
	{
		return add(timer_event(id, deadline, req_flags), std::forward<F>(f));
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_user(std::uint64_t id, F &&f,
				      std::uint32_t req_flags = 0)
	{
		return add(user_event(id, req_flags), std::forward<F>(f));
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_signal(int signo, F &&f, std::uint32_t req_flags = 0)
	{
		return add(signal_event(signo, req_flags), std::forward<F>(f));
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_inode(int fd, std::uint32_t mask, F &&f,
				       std::uint32_t req_flags = 0)
	{
		return add(inode_event(fd, mask, req_flags), std::forward<F>(f));
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_proc(pid_t pid, F &&f, std::uint32_t req_flags = 0)
	{
		return add(proc_event(pid, req_flags), std::forward<F>(f));
	}

	// KEVENT_CTL_READY on a KEVENT_USER registration; any thread.
	void trigger(std::uint64_t id) const { st_->q.trigger(id); }

	// Make the running (or the next) run() return after the current
	// callback.  Any thread.  Throws only if the wake-up cannot be sent.
	void stop() const
	{
		st_->stop.store(true, std::memory_order_release);
		st_->q.trigger(wake_id);
	}
	[[nodiscard]] bool stop_requested() const noexcept
	{
		return st_->stop.load(std::memory_order_acquire);
	}

	// Dispatch until stop(); return the number of callbacks run.  A
	// callback's exception propagates (its event is consumed).  EINTR is
	// retried.
	std::size_t run()
	{
		std::size_t n = 0;
		while (!consume_stop()) {
			n += dispatch_ready();
			if (stop_requested())
				continue;
			sleep(nullptr);
		}
		return n;
	}

	// Dispatch until stop() or timeout.
	template <class Rep, class Period>
	std::size_t run_for(std::chrono::duration<Rep, Period> timeout)
	{
		return run_until(std::chrono::steady_clock::now() +
				 std::chrono::ceil<std::chrono::steady_clock::duration>(
					 clamp_duration(timeout)));
	}
	template <class Clock, class Duration>
	std::size_t run_until(std::chrono::time_point<Clock, Duration> deadline)
	{
		std::size_t n = 0;
		while (!consume_stop()) {
			n += dispatch_ready();
			if (stop_requested())
				continue;
			const auto now = Clock::now();
			if (now >= deadline)
				break;
			timespec ts;
			sleep(detail::wait_timeout(deadline - now, ts));
		}
		return n;
	}

	// Sleep until something is ready (at most timeout), then dispatch
	// what the ring holds.  Returns the number of callbacks run.
	template <class Rep, class Period>
	std::size_t run_once_for(std::chrono::duration<Rep, Period> timeout)
	{
		if (st_->q.events().empty()) {
			timespec ts;
			sleep(detail::wait_timeout(timeout, ts));
		}
		return dispatch_ready();
	}
	std::size_t run_once()
	{
		if (st_->q.events().empty())
			sleep(nullptr);
		return dispatch_ready();
	}
	// Dispatch what is ready now, without sleeping.
	std::size_t poll() { return run_once_for(std::chrono::nanoseconds(0)); }

private:
	template <class Rep, class Period>
	static std::chrono::nanoseconds
	clamp_duration(std::chrono::duration<Rep, Period> d)
	{
		const detail::ns_result r = detail::to_ns(d);
		if (r.status == detail::ns_status::invalid)
			throw_error(EINVAL, "kevent: timeout is not a number");
		// ~100 years keeps now() + timeout inside steady_clock.
		constexpr std::int64_t cap = std::int64_t{100} * 365 * 86400 * 1000000000;
		if (r.status == detail::ns_status::overflow || r.ns > cap)
			return std::chrono::nanoseconds(cap);
		return std::chrono::nanoseconds(r.ns);
	}

	bool consume_stop() noexcept
	{
		return st_->stop.exchange(false, std::memory_order_acq_rel);
	}

	void sleep(const timespec *t)
	{
		if (::kevent_wait(st_->q.fd(), 1, t) < 0 && errno != EINTR)
			throw_errno("kevent_wait");
	}

	std::size_t dispatch_ready()
	{
		kevent_ring *ring = st_->q.ring();
		std::size_t n = 0;

		struct advance_guard {
			kevent_ring *r;
			~advance_guard() { kevent_ring_advance(r, 1); }
		};

		while (const ukevent *ev = kevent_ring_peek(ring)) {
			advance_guard g{ring};
			if (ev->user == 0 && ev->type == KEVENT_USER && ev->id == wake_id)
				continue;	// stop() wake-up
			const std::shared_ptr<detail::dispatch_slot> s =
				st_->find(ev->user, (ev->ret_flags & KEVENT_RET_REMOVED) != 0);
			if (!s || s->type != ev->type || s->id != ev->id)
				continue;	// stale
			++n;
			s->fn(*ev);
			if (stop_requested())
				break;
		}
		return n;
	}

	std::shared_ptr<detail::dispatch_state> st_;
};

#undef KEVENT_HPP_HANDLER

} // namespace kevent

#endif // KEVENT_HPP
