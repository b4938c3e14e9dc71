// SPDX-License-Identifier: MIT
//
// kevent.hpp - C++ layer over libkev (<kevent.h>).  Header only.
//
// C++17.  Compiled as C++20 it also has std::span batches, concepts, the
// event range as a std::ranges::view, run(std::stop_token) and coroutines
// (kevent::task and the awaitables of kevent::dispatcher; only where
// __cpp_impl_coroutine is defined).  Link with libkev (pkg-config --cflags
// --libs libkev-cpp).  The reference is man 3 libkev-cpp.
//
//   kevent::queue q;                                   // kevent_init
//   auto tick = q.add_timer(10ms);                     // automatic id
//   auto in   = q.add_fd(STDIN_FILENO, kevent::poll_events::in);
//   q.wait_for(1s);                                    // kevent_wait
//   for (kevent::event ev : q.events())                // consumes the ring
//       handle(ev.type(), ev.count());
//                                                      // REMOVEs, kevent_close
//
// Rules of this layer:
//  * Every failure of libkev is reported as std::system_error with
//    std::generic_category() and the errno of the call (or of the ctl
//    entry).  Every call that throws has an overload that takes a trailing
//    std::error_code & instead, is noexcept, and reports there.  Built
//    without exceptions (-fno-exceptions), the throwing overloads print the
//    error and abort: use the std::error_code ones.
//  * Flags are strong types (poll_events, inode_events, mode, timer_clock):
//    a raw KEVENT_* integer is not accepted where one of them is expected.
//  * kevent::queue owns a queue (move-only, kevent_close on destruction);
//    the members that change the queue or consume its ring are non-const.
//  * kevent::registration owns one registration and REMOVEs it on
//    destruction unless release()d; it never touches a registration that
//    was added after its own ended (ONESHOT, process exit).
//  * Timers and user events need no id: the overloads without one choose
//    an unused id (from 2^63 up).
//  * A priority (libkev 1.2) is given to any event a builder made with
//    with_prio(ev, prio) before add() or modify(); 0 is the default.
//  * Durations given to timers are converted to nanoseconds (integer counts
//    rounded up, floating-point ones to the nearest nanosecond); a
//    duration that does not fit in int64_t nanoseconds (~292 years) is
//    EOVERFLOW; negative durations count as zero.  Time points of
//    std::chrono::system_clock, std::chrono::steady_clock and
//    kevent::boot_clock become absolute deadlines on CLOCK_REALTIME,
//    CLOCK_MONOTONIC and CLOCK_BOOTTIME.
//  * Waits never fail for being large (a timeout beyond int64_t
//    nanoseconds waits forever; a negative one does not sleep), and never
//    fail with EINTR: wait, wait_for, wait_until and dequeue retry (with
//    the time left), pwait returns the count in the ring.
//  * kevent::dispatcher runs callbacks (and coroutines) for registrations;
//    post(), stop() and trigger() may be called from any thread.
#ifndef KEVENT_HPP
#define KEVENT_HPP

#include <kevent.h>

#include <sys/types.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ratio>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

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
#include <ranges>
#define KEVENT_HPP_HAS_RANGES 1
#else
#define KEVENT_HPP_HAS_RANGES 0
#endif

#if defined(__cpp_lib_jthread) && __cpp_lib_jthread >= 201911L
#include <stop_token>
#define KEVENT_HPP_HAS_STOP_TOKEN 1
#else
#define KEVENT_HPP_HAS_STOP_TOKEN 0
#endif

#if defined(__cpp_impl_coroutine) && __cpp_impl_coroutine >= 201902L && \
	defined(__cpp_lib_coroutine) && __cpp_lib_coroutine >= 201902L && \
	KEVENT_HPP_HAS_STOP_TOKEN
#include <coroutine>
#define KEVENT_HPP_HAS_COROUTINES 1
#else
#define KEVENT_HPP_HAS_COROUTINES 0
#endif

#if defined(__cpp_exceptions) && __cpp_exceptions
#define KEVENT_HPP_EXCEPTIONS 1
#else
#define KEVENT_HPP_EXCEPTIONS 0
#endif

namespace kevent {

// ---------------------------------------------------------------- errors

// Throw std::system_error(ec, what); without exceptions, print and abort.
[[noreturn]] inline void throw_error(std::error_code ec, const char *what)
{
#if KEVENT_HPP_EXCEPTIONS
	throw std::system_error(ec, what);
#else
	std::fprintf(stderr, "kevent: %s: %s\n", what, ec.message().c_str());
	std::abort();
#endif
}

// Throw std::system_error(err, std::generic_category(), what).
[[noreturn]] inline void throw_error(int err, const char *what)
{
	throw_error(std::error_code(err, std::generic_category()), what);
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

namespace detail {

[[nodiscard]] inline std::error_code make_error(int err) noexcept
{
	return {err, std::generic_category()};
}

inline void throw_if(const std::error_code &ec, const char *what)
{
	if (ec)
		throw_error(ec, what);
}

} // namespace detail

// ---------------------------------------------------------- strong types

// The bitmask types below are scoped enumerations with the operators of a
// bitmask type (|, &, ^, ~ and the assignments); has(mask, bits) says
// whether mask holds every bit of bits.  Their values are those of the C
// constants, so static_cast converts either way.

// KEVENT_POLL masks.
enum class poll_events : std::uint32_t {
	none = 0,
	in = KEVENT_POLL_IN,
	pri = KEVENT_POLL_PRI,
	out = KEVENT_POLL_OUT,
	err = KEVENT_POLL_ERR,
	hup = KEVENT_POLL_HUP,
	rdhup = KEVENT_POLL_RDHUP,
};

// KEVENT_INODE masks (remove is KEVENT_INODE_DELETE).
enum class inode_events : std::uint32_t {
	none = 0,
	create = KEVENT_INODE_CREATE,
	remove = KEVENT_INODE_DELETE,
	modify = KEVENT_INODE_MODIFY,
	attrib = KEVENT_INODE_ATTRIB,
	move = KEVENT_INODE_MOVE,
	remove_self = KEVENT_INODE_DELETE_SELF,
	move_self = KEVENT_INODE_MOVE_SELF,
};

// How a registration triggers (req_flags): none is level-triggered and
// persistent.
enum class mode : std::uint32_t {
	none = 0,
	oneshot = KEVENT_REQ_ONESHOT,
	edge = KEVENT_REQ_ET,
	dispatch = KEVENT_REQ_DISPATCH,
};

// What a delivered event says about its registration (ret_flags).
enum class result_flags : std::uint32_t {
	none = 0,
	error = KEVENT_RET_ERROR,
	removed = KEVENT_RET_REMOVED,
	gone = KEVENT_RET_GONE,
	nostatus = KEVENT_RET_NOSTATUS,
	overflow = KEVENT_RET_OVERFLOW,
};

// The clock of a relative timer.
enum class timer_clock : std::uint32_t {
	monotonic = KEVENT_TIMER_MONOTONIC,
	realtime = KEVENT_TIMER_REALTIME,
	boottime = KEVENT_TIMER_BOOTTIME,
};

// Event types.
enum class event_type : std::uint32_t {
	poll = KEVENT_POLL,
	timer = KEVENT_TIMER,
	user = KEVENT_USER,
	signal = KEVENT_SIGNAL,
	inode = KEVENT_INODE,
	proc = KEVENT_PROC,
};

namespace detail {
template <class E> struct is_bitmask : std::false_type {};
template <> struct is_bitmask<poll_events> : std::true_type {};
template <> struct is_bitmask<inode_events> : std::true_type {};
template <> struct is_bitmask<mode> : std::true_type {};
template <> struct is_bitmask<result_flags> : std::true_type {};

template <class E>
using if_bitmask = std::enable_if_t<is_bitmask<E>::value, int>;

template <class E>
constexpr std::underlying_type_t<E> bits(E e) noexcept
{
	return static_cast<std::underlying_type_t<E>>(e);
}
} // namespace detail

template <class E, detail::if_bitmask<E> = 0>
[[nodiscard]] constexpr E operator|(E a, E b) noexcept
{
	return static_cast<E>(detail::bits(a) | detail::bits(b));
}
template <class E, detail::if_bitmask<E> = 0>
[[nodiscard]] constexpr E operator&(E a, E b) noexcept
{
	return static_cast<E>(detail::bits(a) & detail::bits(b));
}
template <class E, detail::if_bitmask<E> = 0>
[[nodiscard]] constexpr E operator^(E a, E b) noexcept
{
	return static_cast<E>(detail::bits(a) ^ detail::bits(b));
}
template <class E, detail::if_bitmask<E> = 0>
[[nodiscard]] constexpr E operator~(E a) noexcept
{
	return static_cast<E>(~detail::bits(a));
}
template <class E, detail::if_bitmask<E> = 0>
constexpr E &operator|=(E &a, E b) noexcept
{
	return a = a | b;
}
template <class E, detail::if_bitmask<E> = 0>
constexpr E &operator&=(E &a, E b) noexcept
{
	return a = a & b;
}
template <class E, detail::if_bitmask<E> = 0>
constexpr E &operator^=(E &a, E b) noexcept
{
	return a = a ^ b;
}
// Every bit of bits is set in mask.
template <class E, detail::if_bitmask<E> = 0>
[[nodiscard]] constexpr bool has(E mask, E bits) noexcept
{
	return (mask & bits) == bits;
}

// A std::chrono clock on CLOCK_BOOTTIME (CLOCK_MONOTONIC that also counts
// suspend): its time points make KEVENT_TIMER_BOOTTIME deadlines.
struct boot_clock {
	using rep = std::int64_t;
	using period = std::nano;
	using duration = std::chrono::nanoseconds;
	using time_point = std::chrono::time_point<boot_clock>;
	static constexpr bool is_steady = true;

	static time_point now() noexcept
	{
		timespec ts{};
		::clock_gettime(CLOCK_BOOTTIME, &ts);
		return time_point(duration(std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec));
	}
};

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

// When a wait ends: never (forever), or at deadline on steady_clock, which
// is CLOCK_MONOTONIC, the clock of kevent_wait's timeout.
struct wait_limit {
	bool forever = true;
	std::int64_t first_ns = 0;	// the timeout of the first call
	std::chrono::steady_clock::time_point deadline{};
};

template <class Rep, class Period>
wait_limit make_limit(std::chrono::duration<Rep, Period> d, std::error_code &ec) noexcept
{
	const ns_result r = to_ns(d);
	wait_limit lim;

	if (r.status == ns_status::invalid) {
		ec = make_error(EINVAL);
		return lim;
	}
	if (r.status == ns_status::overflow)
		return lim;
	const auto now = std::chrono::steady_clock::now();
	const std::int64_t room = std::chrono::duration_cast<std::chrono::nanoseconds>(
		std::chrono::steady_clock::time_point::max() - now).count();
	if (r.ns >= room)
		return lim;	// beyond what the clock can say: forever
	lim.forever = false;
	lim.first_ns = r.ns;
	lim.deadline = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
		std::chrono::nanoseconds(r.ns));
	return lim;
}

// The kevent_wait timeout of a call made now (nullptr: forever).
inline const timespec *limit_timeout(const wait_limit &lim, bool first,
				     timespec &storage) noexcept
{
	if (lim.forever)
		return nullptr;
	std::int64_t ns = lim.first_ns;
	if (!first) {
		ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
			lim.deadline - std::chrono::steady_clock::now()).count();
		if (ns < 0)
			ns = 0;
	}
	storage = ns_to_timespec(ns);
	return &storage;
}

// The timer clock word of a time point's clock.
template <class Clock> struct abs_clock;
template <> struct abs_clock<std::chrono::system_clock> {
	static constexpr std::uint32_t word = KEVENT_TIMER_REALTIME;
};
template <> struct abs_clock<std::chrono::steady_clock> {
	static constexpr std::uint32_t word = KEVENT_TIMER_MONOTONIC;
};
template <> struct abs_clock<boot_clock> {
	static constexpr std::uint32_t word = KEVENT_TIMER_BOOTTIME;
};

template <class Clock, class = void>
struct has_abs_clock : std::false_type {};
template <class Clock>
struct has_abs_clock<Clock, std::void_t<decltype(abs_clock<Clock>::word)>> : std::true_type {};

} // namespace detail

// A duration as nanoseconds for a timer: rounded up, negative gives 0,
// EOVERFLOW if it does not fit in int64_t (a huge duration never wraps),
// EINVAL for a floating-point NaN.
template <class Rep, class Period>
[[nodiscard]] constexpr std::int64_t
checked_nanoseconds(std::chrono::duration<Rep, Period> d, std::error_code &ec) noexcept
{
	const detail::ns_result r = detail::to_ns(d);

	ec.clear();
	if (r.status == detail::ns_status::overflow)
		ec = detail::make_error(EOVERFLOW);
	else if (r.status == detail::ns_status::invalid)
		ec = detail::make_error(EINVAL);
	return r.ns;
}
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
template <class Rep, class Period>
[[nodiscard]] timespec to_timespec(std::chrono::duration<Rep, Period> d,
				   std::error_code &ec) noexcept
{
	const std::int64_t ns = checked_nanoseconds(d, ec);
	return detail::ns_to_timespec(ec ? 0 : ns);
}

// ------------------------------------------------------ event builders
//
// Each builder returns a struct ukevent ready for kevent_ctl(ADD).

// Any event from raw fields (the C constants): the escape hatch.
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
make_key(event_type type, std::uint64_t id) noexcept
{
	return make_event(static_cast<std::uint32_t>(type), id);
}

// KEVENT_POLL: readiness of fd for events.
[[nodiscard]] inline ukevent
fd_event(int fd, poll_events events, mode m = mode::none,
	 std::uint64_t user = 0) noexcept
{
	// A negative fd becomes an id no fd has: the library says EBADF.
	return make_event(KEVENT_POLL, static_cast<std::uint64_t>(fd),
			  detail::bits(events), detail::bits(m), 0, user);
}

// KEVENT_TIMER, relative: fires after interval, periodically unless
// mode::oneshot, on clock.
template <class Rep, class Period>
[[nodiscard]] ukevent
timer_event(std::uint64_t id, std::chrono::duration<Rep, Period> interval,
	    mode m, std::uint64_t user, timer_clock clock,
	    std::error_code &ec) noexcept
{
	const std::int64_t ns = checked_nanoseconds(interval, ec);
	return make_event(KEVENT_TIMER, id, static_cast<std::uint32_t>(clock),
			  detail::bits(m), static_cast<std::uint64_t>(ns), user);
}
template <class Rep, class Period>
[[nodiscard]] ukevent
timer_event(std::uint64_t id, std::chrono::duration<Rep, Period> interval,
	    std::error_code &ec) noexcept
{
	return timer_event(id, interval, mode::none, 0, timer_clock::monotonic, ec);
}
template <class Rep, class Period>
[[nodiscard]] ukevent
timer_event(std::uint64_t id, std::chrono::duration<Rep, Period> interval,
	    mode m = mode::none, std::uint64_t user = 0,
	    timer_clock clock = timer_clock::monotonic)
{
	std::error_code ec;
	const ukevent ev = timer_event(id, interval, m, user, clock, ec);
	detail::throw_if(ec, "kevent: timer interval");
	return ev;
}

// KEVENT_TIMER, absolute: fires once at deadline, on the clock of the time
// point (system_clock, steady_clock or boot_clock).
template <class Clock, class Duration>
[[nodiscard]] ukevent
timer_event(std::uint64_t id, std::chrono::time_point<Clock, Duration> deadline,
	    mode m, std::uint64_t user, std::error_code &ec) noexcept
{
	static_assert(detail::has_abs_clock<Clock>::value,
		      "kevent: deadlines are time points of std::chrono::system_clock, "
		      "std::chrono::steady_clock or kevent::boot_clock");
	const std::int64_t ns = checked_nanoseconds(deadline.time_since_epoch(), ec);
	return make_event(KEVENT_TIMER, id,
			  detail::abs_clock<Clock>::word | KEVENT_TIMER_ABSTIME,
			  detail::bits(m), static_cast<std::uint64_t>(ns), user);
}
template <class Clock, class Duration>
[[nodiscard]] ukevent
timer_event(std::uint64_t id, std::chrono::time_point<Clock, Duration> deadline,
	    std::error_code &ec) noexcept
{
	return timer_event(id, deadline, mode::none, 0, ec);
}
template <class Clock, class Duration>
[[nodiscard]] ukevent
timer_event(std::uint64_t id, std::chrono::time_point<Clock, Duration> deadline,
	    mode m = mode::none, std::uint64_t user = 0)
{
	std::error_code ec;
	const ukevent ev = timer_event(id, deadline, m, user, ec);
	detail::throw_if(ec, "kevent: timer deadline");
	return ev;
}

// KEVENT_USER: fires on trigger() (KEVENT_CTL_READY).
[[nodiscard]] inline ukevent
user_event(std::uint64_t id, mode m = mode::none, std::uint64_t user = 0) noexcept
{
	return make_event(KEVENT_USER, id, 0, detail::bits(m), 0, user);
}

// KEVENT_SIGNAL: delivery of signo (which must be blocked in every thread).
[[nodiscard]] inline ukevent
signal_event(int signo, mode m = mode::none, std::uint64_t user = 0) noexcept
{
	return make_event(KEVENT_SIGNAL, static_cast<std::uint64_t>(signo), 0,
			  detail::bits(m), 0, user);
}

// KEVENT_INODE: changes to the file or directory open as fd.
[[nodiscard]] inline ukevent
inode_event(int fd, inode_events events, mode m = mode::none,
	    std::uint64_t user = 0) noexcept
{
	return make_event(KEVENT_INODE, static_cast<std::uint64_t>(fd),
			  detail::bits(events), detail::bits(m), 0, user);
}

// KEVENT_PROC: exit of process pid (ret_data: wait status for a child).
[[nodiscard]] inline ukevent
proc_event(pid_t pid, mode m = mode::none, std::uint64_t user = 0) noexcept
{
	return make_event(KEVENT_PROC, static_cast<std::uint64_t>(pid),
			  KEVENT_PROC_EXIT, detail::bits(m), 0, user);
}

// ---- priorities (libkev 1.2; kevent(7), "Priorities")
//
// Registrations that are ready at the same time and not yet in the ring
// are published highest level first, FIFO within a level, within the
// queue's starvation bound (queue::prio_bound()).  An entry already in
// the ring is never overtaken.
inline constexpr std::uint32_t prio_default = KEVENT_PRIO_DEFAULT;	// 0, the lowest
inline constexpr std::uint32_t prio_max = KEVENT_PRIO_MAX;		// 7
inline constexpr std::uint32_t prio_levels = KEVENT_PRIO_LEVELS;	// 8

// ev with priority prio (0 to prio_max), for add(), add_with_new_id() and
// modify() of a queue, a registration or a dispatcher:
//   q.add(kevent::with_prio(kevent::fd_event(fd, kevent::poll_events::in), 7));
// EINVAL above prio_max; the entry returned carries the value given all
// the same, so that an ADD of it is refused too.  A library older than
// 1.2 refuses any priority but 0 (EINVAL from the ADD or MODIFY).
[[nodiscard]] inline ukevent
with_prio(ukevent ev, std::uint32_t prio, std::error_code &ec) noexcept
{
	ec.clear();
	if (prio > KEVENT_PRIO_MAX)
		ec = detail::make_error(EINVAL);
	ev.prio = prio;
	return ev;
}
[[nodiscard]] inline ukevent
with_prio(const ukevent &ev, std::uint32_t prio)
{
	std::error_code ec;
	const ukevent e = with_prio(ev, prio, ec);
	detail::throw_if(ec, "kevent: priority");
	return e;
}

// ------------------------------------------------------- delivered events

// A typed, read-only view of one delivered event (like std::string_view:
// it refers to the ukevent, which must outlive it; an event of the ring
// lives until the consumer passes it).  Each accessor is for the types it
// names; on another type it returns the raw field, converted.
class event {
public:
	event(const ukevent &ev) noexcept : e_(&ev) {}	// NOLINT: implicit on purpose
	event(ukevent &&) = delete;			// would dangle

	[[nodiscard]] const ukevent &raw() const noexcept { return *e_; }
	[[nodiscard]] event_type type() const noexcept
	{
		return static_cast<event_type>(e_->type);
	}
	[[nodiscard]] std::uint64_t id() const noexcept { return e_->id; }
	// The cookie given at registration (user field).
	[[nodiscard]] std::uint64_t user() const noexcept { return e_->user; }
	// The registration's priority level (0 to prio_max; libkev 1.2).
	[[nodiscard]] std::uint32_t prio() const noexcept { return e_->prio; }
	[[nodiscard]] result_flags flags() const noexcept
	{
		return static_cast<result_flags>(e_->ret_flags);
	}
	// The registration ended with this delivery (ONESHOT, process exit,
	// inode gone).
	[[nodiscard]] bool removed() const noexcept
	{
		return (e_->ret_flags & KEVENT_RET_REMOVED) != 0;
	}

	// KEVENT_POLL and KEVENT_INODE: the watched descriptor.
	[[nodiscard]] int fd() const noexcept { return static_cast<int>(e_->id); }
	// KEVENT_POLL: the conditions that are true.
	[[nodiscard]] poll_events poll() const noexcept
	{
		return static_cast<poll_events>(e_->event);
	}
	// KEVENT_INODE: the kinds of change seen.
	[[nodiscard]] inode_events inode() const noexcept
	{
		return static_cast<inode_events>(e_->event);
	}
	// KEVENT_TIMER expirations, KEVENT_USER triggers, KEVENT_SIGNAL
	// deliveries since the previous delivery.
	[[nodiscard]] std::uint64_t count() const noexcept { return e_->ret_data; }
	// KEVENT_USER: the event word (registered bits OR-ed with the bits of
	// the triggers).
	[[nodiscard]] std::uint32_t user_bits() const noexcept { return e_->event; }
	// KEVENT_SIGNAL: the signal number.
	[[nodiscard]] int signal() const noexcept { return static_cast<int>(e_->id); }
	// KEVENT_PROC: the process.
	[[nodiscard]] pid_t pid() const noexcept { return static_cast<pid_t>(e_->id); }
	// KEVENT_PROC: the wait status of a child (WIFEXITED() ...), nullopt
	// for a process that was not a child (KEVENT_RET_NOSTATUS).
	[[nodiscard]] std::optional<int> wait_status() const noexcept
	{
		if (e_->ret_flags & KEVENT_RET_NOSTATUS)
			return std::nullopt;
		return static_cast<int>(e_->ret_data);
	}

private:
	const ukevent *e_;
};

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
// a time.  In C++20 a std::ranges::view (and a borrowed range: its
// iterators refer to the ring, not to the range object).
class ring_range
#if KEVENT_HPP_HAS_RANGES
	: public std::ranges::view_base
#endif
{
public:
	class iterator {
	public:
		using iterator_category = std::input_iterator_tag;
#if KEVENT_HPP_HAS_RANGES
		using iterator_concept = std::input_iterator_tag;
#endif
		using value_type = ukevent;
		using difference_type = std::ptrdiff_t;
		using pointer = const ukevent *;
		using reference = const ukevent &;

		iterator() noexcept = default;
		explicit iterator(kevent_ring *ring) noexcept : ring_(ring) {}

		// The entry at the consumer index.  The count of published
		// entries is loaded (acquire) once per batch, not per entry.
#if defined(__GNUC__) && !defined(__clang__)
// g++ 12 takes the atomic load for a write through a null ring once it
// cannot prove the iterator's ring set (-Wstringop-overflow, "region of
// size 0"): a false positive in any caller's code, silenced here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
		[[nodiscard]] reference operator*() const noexcept
		{
			return kevent_ring_entries(ring_)
				[kevent_load_relaxed(&ring_->uidx) & ring_->mask];
		}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
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

} // namespace kevent

#if KEVENT_HPP_HAS_RANGES
template <>
inline constexpr bool std::ranges::enable_borrowed_range<kevent::ring_range> = true;
#endif

namespace kevent {

// --------------------------------------------------------- statistics

// A snapshot of a queue's statistics (queue::stats(); libkev 1.2, kevent(7)
// "Statistics"), read from its ring without a system call.  The counters
// are kept always; the histograms only while statistics are on
// (queue::set_stats).  Bucket i of a histogram counts latencies of 2^i to
// 2^(i+1) ns; bucket 0 also those below 1 ns, the last every latency from
// 2^31 ns.  Each field is read on its own while the producer runs: each is
// exact, together they are not one instant.
struct queue_stats {
	static constexpr std::size_t buckets = KEVENT_STATS_BUCKETS;
	using histogram = std::array<std::uint64_t, buckets>;

	std::uint64_t published = 0;	// entries published since creation
	std::uint64_t deferred = 0;	// publications that waited for room
	std::uint64_t coalesced = 0;	// firings merged into a pending delivery
	std::uint64_t waits = 0;	// kevent_wait() calls
	std::uint64_t sleeps = 0;	// of which slept
	bool enabled = false;		// statistics on (KEVENT_RING_STATS)
	histogram fire_to_publish{};	// from the firing to the publication
	histogram publish_to_consume{};	// from the publication to the consumption
};

// -------------------------------------------------------------- queue

class queue;
class dispatcher;

namespace detail {

// Automatic ids are taken from here up; an id a program chose there is
// skipped (EEXIST: the next one is tried).
constexpr std::uint64_t auto_id_first = std::uint64_t{1} << 63;
constexpr int auto_id_attempts = 4096;

struct reg_key {
	std::uint32_t type;
	std::uint64_t id;
	friend bool operator==(const reg_key &a, const reg_key &b) noexcept
	{
		return a.type == b.type && a.id == b.id;
	}
};

struct reg_key_hash {
	std::size_t operator()(const reg_key &k) const noexcept
	{
		return std::hash<std::uint64_t>()(k.id * 8 + k.type);
	}
};

// What registrations share with their queue: the fd (-1 once closed), and
// which registration object owns which key.  A registration is the owner
// of its key from its ADD until it is removed, released, or another ADD
// (or REMOVE) of the same key is made through the queue: then it ended by
// itself first, and it must leave the new one alone.
struct queue_state {
	std::atomic<int> fd{-1};
	kevent_ring *ring = nullptr;
	// Held across the kevent_ctl of every ADD and REMOVE made through the
	// queue or a registration, and of a registration's own commands, so
	// that the owner check and the command are one step.
	std::mutex lock;
	std::unordered_map<reg_key, std::uint64_t, reg_key_hash> owners;	// key -> generation
	std::uint64_t next_generation = 1;
	std::atomic<std::uint64_t> next_auto_id{auto_id_first};
};

inline int ctl_one_raw(int fd, unsigned int cmd, ukevent &ev, std::error_code &ec) noexcept
{
	ec.clear();
	const int r = ::kevent_ctl(fd, cmd, 1, &ev);
	if (r < 0) {
		ec = make_error(errno);
		return -1;
	}
	if (r == 0) {
		ec = entry_error(ev);
		if (!ec)
			ec = make_error(EIO);
		return -1;
	}
	return 0;
}

} // namespace detail

// One registration (type, id) of a queue: REMOVEd on destruction unless
// release()d.  Move-only.  It may outlive its queue (it then does nothing).
// Once its registration has ended by itself (ONESHOT, process exit) and
// the key was added again through the queue, it no longer touches the key.
class registration {
public:
	struct key {
		event_type type;
		std::uint64_t id;
	};

	registration() noexcept = default;
	registration(registration &&o) noexcept
		: st_(std::move(o.st_)), key_(o.key_), gen_(o.gen_) {}
	registration &operator=(registration &&o) noexcept
	{
		if (this != &o) {
			reset();
			st_ = std::move(o.st_);
			key_ = o.key_;
			gen_ = o.gen_;
		}
		return *this;
	}
	registration(const registration &) = delete;
	registration &operator=(const registration &) = delete;
	~registration() { reset(); }

	[[nodiscard]] event_type type() const noexcept { return key_.type; }
	[[nodiscard]] std::uint64_t id() const noexcept { return key_.id; }
	// Owns a registration (not moved from, released or removed).
	explicit operator bool() const noexcept { return st_ != nullptr; }

	// Stop owning the registration; it stays in the queue.
	key release() noexcept
	{
		if (st_) {
			std::lock_guard<std::mutex> g(st_->lock);
			const auto it = st_->owners.find(raw_key());
			if (it != st_->owners.end() && it->second == gen_)
				st_->owners.erase(it);
			st_.reset();
		}
		return key_;
	}

	// REMOVE now, reporting errors (ENOENT if it ended by itself).
	void remove()
	{
		std::error_code ec;
		remove(ec);
		detail::throw_if(ec, "kevent_ctl");
	}
	void remove(std::error_code &ec) noexcept { ec = remove_owned(); }

	// REMOVE now, ignoring errors.  Also what the destructor does.
	void reset() noexcept { (void)remove_owned(); }

	// MODIFY: replace event, req_flags, data, user and prio (type and id
	// kept): an event from a builder has priority 0 unless with_prio().
	void modify(const ukevent &ev)
	{
		std::error_code ec;
		modify(ev, ec);
		detail::throw_if(ec, "kevent_ctl");
	}
	void modify(const ukevent &ev, std::error_code &ec) noexcept
	{
		ukevent e = ev;
		e.type = static_cast<std::uint32_t>(key_.type);
		e.id = key_.id;
		apply(KEVENT_CTL_MODIFY, e, ec);
	}
	void enable() { command(KEVENT_CTL_ENABLE); }
	void enable(std::error_code &ec) noexcept { command(KEVENT_CTL_ENABLE, ec); }
	void disable() { command(KEVENT_CTL_DISABLE); }
	void disable(std::error_code &ec) noexcept { command(KEVENT_CTL_DISABLE, ec); }
	// KEVENT_CTL_READY (KEVENT_USER only); any thread.
	void trigger() { command(KEVENT_CTL_READY); }
	void trigger(std::error_code &ec) noexcept { command(KEVENT_CTL_READY, ec); }

private:
	friend class queue;
	registration(std::shared_ptr<detail::queue_state> st, key k, std::uint64_t gen) noexcept
		: st_(std::move(st)), key_(k), gen_(gen) {}

	[[nodiscard]] detail::reg_key raw_key() const noexcept
	{
		return {static_cast<std::uint32_t>(key_.type), key_.id};
	}

	void command(unsigned int cmd)
	{
		std::error_code ec;
		command(cmd, ec);
		detail::throw_if(ec, "kevent_ctl");
	}
	void command(unsigned int cmd, std::error_code &ec) noexcept
	{
		ukevent e = make_key(key_.type, key_.id);
		apply(cmd, e, ec);
	}

	// cmd on the key, if this object still owns it (else ENOENT: it
	// ended by itself and the key may be someone else's now).
	void apply(unsigned int cmd, ukevent &ev, std::error_code &ec) const noexcept
	{
		if (!st_) {
			ec = detail::make_error(EBADF);
			return;
		}
		std::lock_guard<std::mutex> g(st_->lock);
		const auto it = st_->owners.find(raw_key());
		if (it == st_->owners.end() || it->second != gen_) {
			ec = detail::make_error(ENOENT);
			return;
		}
		const int fd = st_->fd.load(std::memory_order_acquire);
		if (fd < 0) {
			ec = detail::make_error(EBADF);
			return;
		}
		(void)detail::ctl_one_raw(fd, cmd, ev, ec);
	}

	std::error_code remove_owned() noexcept
	{
		if (!st_)
			return detail::make_error(ENOENT);
		const std::shared_ptr<detail::queue_state> st = std::move(st_);
		st_.reset();
		std::lock_guard<std::mutex> g(st->lock);
		const auto it = st->owners.find(raw_key());
		if (it == st->owners.end() || it->second != gen_)
			return detail::make_error(ENOENT);	// ended, key reused
		st->owners.erase(it);
		const int fd = st->fd.load(std::memory_order_acquire);
		if (fd < 0)
			return detail::make_error(EBADF);
		ukevent e = make_key(key_.type, key_.id);
		std::error_code ec;
		(void)detail::ctl_one_raw(fd, KEVENT_CTL_REMOVE, e, ec);
		return ec;
	}

	std::shared_ptr<detail::queue_state> st_;
	key key_{};
	std::uint64_t gen_ = 0;
};

// A kevent queue: kevent_init() on construction, kevent_close() on
// destruction.  Move-only; a moved-from queue owns nothing.  The members
// that register, wait or consume are non-const: a const queue & only
// observes (fd, backend).
class queue {
public:
	// ring_size: entries (0 = default, rounded up to a power of two).
	explicit queue(unsigned int ring_size = 0, backend b = backend::automatic)
	{
		std::error_code ec;
		open(ring_size, b, ec);
		detail::throw_if(ec, "kevent_init");
	}
	// On failure the queue is empty (!*this) and ec says why.
	explicit queue(std::error_code &ec) noexcept { open(0, backend::automatic, ec); }
	queue(unsigned int ring_size, backend b, std::error_code &ec) noexcept
	{
		open(ring_size, b, ec);
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
	[[nodiscard]] int native_handle() const noexcept { return fd(); }
	[[nodiscard]] kevent_ring *ring() noexcept
	{
		return st_ && fd() >= 0 ? st_->ring : nullptr;
	}
	[[nodiscard]] const kevent_ring *ring() const noexcept
	{
		return st_ && fd() >= 0 ? st_->ring : nullptr;
	}
	explicit operator bool() const noexcept { return fd() >= 0; }

	// kevent_close() now, reporting its error.
	void close()
	{
		std::error_code ec;
		close(ec);
		detail::throw_if(ec, "kevent_close");
	}
	void close(std::error_code &ec) noexcept
	{
		ec.clear();
		const int fd = take_fd();
		if (fd >= 0 && ::kevent_close(fd) < 0)
			ec = detail::make_error(errno);
	}

	// "kmod", "uring" or "epoll".
	[[nodiscard]] std::string_view backend_name() const
	{
		std::error_code ec;
		const std::string_view name = backend_name(ec);
		detail::throw_if(ec, "kevent_backend");
		return name;
	}
	[[nodiscard]] std::string_view backend_name(std::error_code &ec) const noexcept
	{
		ec.clear();
		const char *name = ::kevent_backend(fd());
		if (!name) {
			ec = detail::make_error(errno);
			return {};
		}
		return name;
	}

	// ---- options (kevent_setopt(2), libkev 1.1)

	// The value of option opt (KEVENT_OPT_*).
	[[nodiscard]] std::uint64_t option(unsigned int opt) const
	{
		std::error_code ec;
		const std::uint64_t v = option(opt, ec);
		detail::throw_if(ec, "kevent_getopt");
		return v;
	}
	[[nodiscard]] std::uint64_t option(unsigned int opt, std::error_code &ec) const noexcept
	{
		std::uint64_t v = 0;

		ec.clear();
		if (::kevent_getopt(fd(), opt, &v) < 0)
			ec = detail::make_error(errno);
		return v;
	}
	void set_option(unsigned int opt, std::uint64_t value)
	{
		std::error_code ec;
		set_option(opt, value, ec);
		detail::throw_if(ec, "kevent_setopt");
	}
	void set_option(unsigned int opt, std::uint64_t value, std::error_code &ec) noexcept
	{
		ec.clear();
		if (::kevent_setopt(fd(), opt, value) < 0)
			ec = detail::make_error(errno);
	}

	// KEVENT_OPT_TIMER_SLACK: how late a timer may fire so that timers
	// due close together share a wake-up (default 50 us, 0 for exact).
	// Set it before adding timers: EBUSY while the queue has one.
	[[nodiscard]] std::chrono::nanoseconds timer_slack() const
	{
		return std::chrono::nanoseconds(
			static_cast<std::int64_t>(option(KEVENT_OPT_TIMER_SLACK)));
	}
	[[nodiscard]] std::chrono::nanoseconds timer_slack(std::error_code &ec) const noexcept
	{
		return std::chrono::nanoseconds(
			static_cast<std::int64_t>(option(KEVENT_OPT_TIMER_SLACK, ec)));
	}
	// Rounded up to nanoseconds; EINVAL if negative or above
	// KEVENT_TIMER_SLACK_MAX.
	template <class Rep, class Period>
	void set_timer_slack(std::chrono::duration<Rep, Period> d)
	{
		std::error_code ec;
		set_timer_slack(d, ec);
		detail::throw_if(ec, "kevent_setopt");
	}
	template <class Rep, class Period>
	void set_timer_slack(std::chrono::duration<Rep, Period> d, std::error_code &ec) noexcept
	{
		const std::int64_t ns = checked_nanoseconds(d, ec);

		if (ec)
			return;
		if (d < std::chrono::duration<Rep, Period>::zero()) {
			ec = detail::make_error(EINVAL);
			return;
		}
		set_option(KEVENT_OPT_TIMER_SLACK, static_cast<std::uint64_t>(ns), ec);
	}

	// KEVENT_OPT_PRIO_BOUND (libkev 1.2): while a priority level has ready
	// registrations, at most this many entries of higher levels are
	// published before its oldest (default KEVENT_PRIO_BOUND_DEFAULT, 64;
	// 1 alternates, KEVENT_PRIO_BOUND_MAX is strict priority).  EINVAL
	// for 0, and from a library older than 1.2.
	[[nodiscard]] std::uint32_t prio_bound() const
	{
		return static_cast<std::uint32_t>(option(KEVENT_OPT_PRIO_BOUND));
	}
	[[nodiscard]] std::uint32_t prio_bound(std::error_code &ec) const noexcept
	{
		return static_cast<std::uint32_t>(option(KEVENT_OPT_PRIO_BOUND, ec));
	}
	void set_prio_bound(std::uint32_t bound)
	{
		std::error_code ec;
		set_prio_bound(bound, ec);
		detail::throw_if(ec, "kevent_setopt");
	}
	void set_prio_bound(std::uint32_t bound, std::error_code &ec) noexcept
	{
		set_option(KEVENT_OPT_PRIO_BOUND, bound, ec);
	}

	// ---- statistics (KEVENT_OPT_STATS, libkev 1.2)

	// Whether statistics are on (kevent_getopt).  EINVAL from a library
	// older than 1.2.
	[[nodiscard]] bool stats_enabled() const
	{
		return option(KEVENT_OPT_STATS) != 0;
	}
	[[nodiscard]] bool stats_enabled(std::error_code &ec) const noexcept
	{
		return option(KEVENT_OPT_STATS, ec) != 0;
	}
	// Turn statistics on or off (off by default).  While on, the producer
	// stamps each entry and fills queue_stats::fire_to_publish, and the
	// consumption through this queue (events(), try_consume(), dequeue(),
	// the dispatcher) fills publish_to_consume.  Off keeps what was
	// counted.  May change at any time.
	void set_stats(bool on)
	{
		std::error_code ec;
		set_stats(on, ec);
		detail::throw_if(ec, "kevent_setopt");
	}
	void set_stats(bool on, std::error_code &ec) noexcept
	{
		set_option(KEVENT_OPT_STATS, on ? 1u : 0u, ec);
	}
	// The counters and histograms of the ring, with no system call.  All
	// zero for a closed queue; histograms all zero where the ring has no
	// statistics area (a library or module older than 1.2).
	[[nodiscard]] queue_stats stats() const noexcept
	{
		queue_stats st;
		const kevent_ring *r = ring();

		if (!r)
			return st;
		st.published = kevent_load_relaxed(&r->published);
		st.deferred = kevent_load_relaxed(&r->deferred);
		st.coalesced = kevent_load_relaxed(&r->coalesced);
		st.waits = kevent_load_relaxed(&r->waits);
		st.sleeps = kevent_load_relaxed(&r->sleeps);
		st.enabled = (kevent_load_relaxed(&r->flags) & KEVENT_RING_STATS) != 0;
		if (const std::uint32_t off = r->stats_offset) {
			const auto *h = reinterpret_cast<const kevent_stats *>(
				reinterpret_cast<const char *>(r) + off);
			for (std::size_t i = 0; i < queue_stats::buckets; i++) {
				st.fire_to_publish[i] =
					kevent_load_relaxed(&h->fire_to_publish[i]);
				st.publish_to_consume[i] =
					kevent_load_relaxed(&h->publish_to_consume[i]);
			}
		}
		return st;
	}

	// ---- kevent_ctl

	// Apply cmd (KEVENT_CTL_*) to n entries (in chunks of
	// KEVENT_CTL_BATCH_MAX); return how many succeeded.  A failed entry has
	// KEVENT_RET_ERROR in ret_flags and its errno in ret_data (see
	// entry_error()).  Errors of the whole call throw; with ec, stop there.
	[[nodiscard]] std::size_t ctl(unsigned int cmd, ukevent *events, std::size_t n)
	{
		std::error_code ec;
		const std::size_t ok = ctl(cmd, events, n, ec);
		detail::throw_if(ec, "kevent_ctl");
		return ok;
	}
	[[nodiscard]] std::size_t ctl(unsigned int cmd, ukevent *events, std::size_t n,
				      std::error_code &ec) noexcept
	{
		ec.clear();
		std::size_t ok = 0;
		const bool keyed = cmd == KEVENT_CTL_ADD || cmd == KEVENT_CTL_REMOVE;
		std::unique_lock<std::mutex> g;
		if (keyed && st_)
			g = std::unique_lock<std::mutex>(st_->lock);
		const int qfd = fd();

		while (n > 0) {
			const unsigned int chunk = n > KEVENT_CTL_BATCH_MAX
				? KEVENT_CTL_BATCH_MAX : static_cast<unsigned int>(n);
			const int r = ::kevent_ctl(qfd, cmd, chunk, events);
			if (r < 0) {
				ec = detail::make_error(errno);
				return ok;
			}
			ok += static_cast<std::size_t>(r);
			// An ADD or REMOVE that succeeded ends the ownership of
			// any registration object that held the key.
			if (keyed && st_ && !st_->owners.empty())
				for (unsigned int i = 0; i < chunk; i++)
					if (!(events[i].ret_flags & KEVENT_RET_ERROR))
						st_->owners.erase(detail::reg_key{events[i].type,
										  events[i].id});
			events += chunk;
			n -= chunk;
		}
		return ok;
	}
#if KEVENT_HPP_HAS_SPAN
	[[nodiscard]] std::size_t ctl(unsigned int cmd, std::span<ukevent> events)
	{
		return ctl(cmd, events.data(), events.size());
	}
	[[nodiscard]] std::size_t ctl(unsigned int cmd, std::span<ukevent> events,
				      std::error_code &ec) noexcept
	{
		return ctl(cmd, events.data(), events.size(), ec);
	}
#endif

	// Apply cmd to one entry; throw its error.
	void ctl_one(unsigned int cmd, ukevent &ev)
	{
		std::error_code ec;
		ctl_one(cmd, ev, ec);
		detail::throw_if(ec, "kevent_ctl");
	}
	void ctl_one(unsigned int cmd, ukevent &ev, std::error_code &ec) noexcept
	{
		const std::size_t ok = ctl(cmd, &ev, 1, ec);
		if (!ec && ok != 1) {
			ec = entry_error(ev);
			if (!ec)
				ec = detail::make_error(EIO);
		}
	}

	// ADD one registration and own it.  On failure (with ec) the
	// registration returned is empty.
	[[nodiscard]] registration add(const ukevent &ev)
	{
		std::error_code ec;
		registration r = add(ev, ec);
		detail::throw_if(ec, "kevent_ctl");
		return r;
	}
	[[nodiscard]] registration add(const ukevent &ev, std::error_code &ec) noexcept
	{
		ec.clear();
		if (!st_) {
			ec = detail::make_error(EBADF);
			return {};
		}
		ukevent e = ev;
		std::lock_guard<std::mutex> g(st_->lock);
		if (detail::ctl_one_raw(fd(), KEVENT_CTL_ADD, e, ec) < 0)
			return {};
		const std::uint64_t gen = st_->next_generation++;
		st_->owners[{ev.type, ev.id}] = gen;
		return registration(st_, {static_cast<event_type>(ev.type), ev.id}, gen);
	}
	// ADD ev with an id chosen here (ev.id is ignored).
	[[nodiscard]] registration add_with_new_id(const ukevent &ev)
	{
		std::error_code ec;
		registration r = add_with_new_id(ev, ec);
		detail::throw_if(ec, "kevent_ctl");
		return r;
	}
	[[nodiscard]] registration add_with_new_id(const ukevent &ev, std::error_code &ec) noexcept
	{
		ukevent e = ev;
		for (int i = 0; i < detail::auto_id_attempts; i++) {
			e.id = new_id();
			registration r = add(e, ec);
			if (!ec || ec != std::errc::file_exists)
				return r;
		}
		return {};
	}

	// ---- typed registrations (each also with a trailing std::error_code &)

	[[nodiscard]] registration add_fd(int fd, poll_events events, mode m = mode::none,
					  std::uint64_t user = 0)
	{
		return add(fd_event(fd, events, m, user));
	}
	[[nodiscard]] registration add_fd(int fd, poll_events events, std::error_code &ec) noexcept
	{
		return add(fd_event(fd, events), ec);
	}
	[[nodiscard]] registration add_fd(int fd, poll_events events, mode m,
					  std::error_code &ec) noexcept
	{
		return add(fd_event(fd, events, m), ec);
	}
	[[nodiscard]] registration add_fd(int fd, poll_events events, mode m, std::uint64_t user,
					  std::error_code &ec) noexcept
	{
		return add(fd_event(fd, events, m, user), ec);
	}

	// A relative timer with an id of its own choosing (see id()).
	template <class Rep, class Period>
	[[nodiscard]] registration
	add_timer(std::chrono::duration<Rep, Period> interval, mode m = mode::none,
		  std::uint64_t user = 0, timer_clock clock = timer_clock::monotonic)
	{
		return add_with_new_id(timer_event(0, interval, m, user, clock));
	}
	template <class Rep, class Period>
	[[nodiscard]] registration
	add_timer(std::chrono::duration<Rep, Period> interval, std::error_code &ec) noexcept
	{
		return add_timer(interval, mode::none, 0, timer_clock::monotonic, ec);
	}
	template <class Rep, class Period>
	[[nodiscard]] registration
	add_timer(std::chrono::duration<Rep, Period> interval, mode m,
		  std::error_code &ec) noexcept
	{
		return add_timer(interval, m, 0, timer_clock::monotonic, ec);
	}
	template <class Rep, class Period>
	[[nodiscard]] registration
	add_timer(std::chrono::duration<Rep, Period> interval, mode m, std::uint64_t user,
		  timer_clock clock, std::error_code &ec) noexcept
	{
		const ukevent ev = timer_event(0, interval, m, user, clock, ec);
		if (ec)
			return {};
		return add_with_new_id(ev, ec);
	}
	// A relative timer with the id given.
	template <class Rep, class Period>
	[[nodiscard]] registration
	add_timer(std::uint64_t id, std::chrono::duration<Rep, Period> interval,
		  mode m = mode::none, std::uint64_t user = 0,
		  timer_clock clock = timer_clock::monotonic)
	{
		return add(timer_event(id, interval, m, user, clock));
	}
	template <class Rep, class Period>
	[[nodiscard]] registration
	add_timer(std::uint64_t id, std::chrono::duration<Rep, Period> interval,
		  std::error_code &ec) noexcept
	{
		return add_timer(id, interval, mode::none, 0, timer_clock::monotonic, ec);
	}
	template <class Rep, class Period>
	[[nodiscard]] registration
	add_timer(std::uint64_t id, std::chrono::duration<Rep, Period> interval, mode m,
		  std::error_code &ec) noexcept
	{
		return add_timer(id, interval, m, 0, timer_clock::monotonic, ec);
	}
	template <class Rep, class Period>
	[[nodiscard]] registration
	add_timer(std::uint64_t id, std::chrono::duration<Rep, Period> interval, mode m,
		  std::uint64_t user, timer_clock clock, std::error_code &ec) noexcept
	{
		const ukevent ev = timer_event(id, interval, m, user, clock, ec);
		if (ec)
			return {};
		return add(ev, ec);
	}
	// An absolute timer (fires once at deadline), id chosen here.
	template <class Clock, class Duration>
	[[nodiscard]] registration
	add_timer(std::chrono::time_point<Clock, Duration> deadline, mode m = mode::none,
		  std::uint64_t user = 0)
	{
		return add_with_new_id(timer_event(0, deadline, m, user));
	}
	template <class Clock, class Duration>
	[[nodiscard]] registration
	add_timer(std::chrono::time_point<Clock, Duration> deadline, std::error_code &ec) noexcept
	{
		return add_timer(deadline, mode::none, 0, ec);
	}
	template <class Clock, class Duration>
	[[nodiscard]] registration
	add_timer(std::chrono::time_point<Clock, Duration> deadline, mode m, std::uint64_t user,
		  std::error_code &ec) noexcept
	{
		const ukevent ev = timer_event(0, deadline, m, user, ec);
		if (ec)
			return {};
		return add_with_new_id(ev, ec);
	}
	// An absolute timer with the id given.
	template <class Clock, class Duration>
	[[nodiscard]] registration
	add_timer(std::uint64_t id, std::chrono::time_point<Clock, Duration> deadline,
		  mode m = mode::none, std::uint64_t user = 0)
	{
		return add(timer_event(id, deadline, m, user));
	}
	template <class Clock, class Duration>
	[[nodiscard]] registration
	add_timer(std::uint64_t id, std::chrono::time_point<Clock, Duration> deadline,
		  std::error_code &ec) noexcept
	{
		return add_timer(id, deadline, mode::none, 0, ec);
	}
	template <class Clock, class Duration>
	[[nodiscard]] registration
	add_timer(std::uint64_t id, std::chrono::time_point<Clock, Duration> deadline, mode m,
		  std::uint64_t user, std::error_code &ec) noexcept
	{
		const ukevent ev = timer_event(id, deadline, m, user, ec);
		if (ec)
			return {};
		return add(ev, ec);
	}

	// A user event with an id chosen here (trigger it with
	// registration::trigger() or trigger(r.id())).
	[[nodiscard]] registration add_user(mode m = mode::none, std::uint64_t user = 0)
	{
		return add_with_new_id(user_event(0, m, user));
	}
	[[nodiscard]] registration add_user(std::error_code &ec) noexcept
	{
		return add_with_new_id(user_event(0), ec);
	}
	[[nodiscard]] registration add_user(mode m, std::uint64_t user,
					    std::error_code &ec) noexcept
	{
		return add_with_new_id(user_event(0, m, user), ec);
	}
	[[nodiscard]] registration add_user(std::uint64_t id, mode m = mode::none,
					    std::uint64_t user = 0)
	{
		return add(user_event(id, m, user));
	}
	[[nodiscard]] registration add_user(std::uint64_t id, std::error_code &ec) noexcept
	{
		return add(user_event(id), ec);
	}
	[[nodiscard]] registration add_user(std::uint64_t id, mode m, std::uint64_t user,
					    std::error_code &ec) noexcept
	{
		return add(user_event(id, m, user), ec);
	}

	[[nodiscard]] registration add_signal(int signo, mode m = mode::none,
					      std::uint64_t user = 0)
	{
		return add(signal_event(signo, m, user));
	}
	[[nodiscard]] registration add_signal(int signo, std::error_code &ec) noexcept
	{
		return add(signal_event(signo), ec);
	}
	[[nodiscard]] registration add_signal(int signo, mode m, std::uint64_t user,
					      std::error_code &ec) noexcept
	{
		return add(signal_event(signo, m, user), ec);
	}

	[[nodiscard]] registration add_inode(int fd, inode_events events, mode m = mode::none,
					     std::uint64_t user = 0)
	{
		return add(inode_event(fd, events, m, user));
	}
	[[nodiscard]] registration add_inode(int fd, inode_events events,
					     std::error_code &ec) noexcept
	{
		return add(inode_event(fd, events), ec);
	}
	[[nodiscard]] registration add_inode(int fd, inode_events events, mode m,
					     std::uint64_t user, std::error_code &ec) noexcept
	{
		return add(inode_event(fd, events, m, user), ec);
	}

	[[nodiscard]] registration add_proc(pid_t pid, mode m = mode::none,
					    std::uint64_t user = 0)
	{
		return add(proc_event(pid, m, user));
	}
	[[nodiscard]] registration add_proc(pid_t pid, std::error_code &ec) noexcept
	{
		return add(proc_event(pid), ec);
	}
	[[nodiscard]] registration add_proc(pid_t pid, mode m, std::uint64_t user,
					    std::error_code &ec) noexcept
	{
		return add(proc_event(pid, m, user), ec);
	}

	// ---- commands by key

	void remove(event_type type, std::uint64_t id)
	{
		std::error_code ec;
		remove(type, id, ec);
		detail::throw_if(ec, "kevent_ctl");
	}
	void remove(event_type type, std::uint64_t id, std::error_code &ec) noexcept
	{
		ukevent e = make_key(type, id);
		ctl_one(KEVENT_CTL_REMOVE, e, ec);
	}
	// MODIFY ev's registration: every field of ev, prio included.
	void modify(const ukevent &ev)
	{
		std::error_code ec;
		modify(ev, ec);
		detail::throw_if(ec, "kevent_ctl");
	}
	void modify(const ukevent &ev, std::error_code &ec) noexcept
	{
		ukevent e = ev;
		ctl_one(KEVENT_CTL_MODIFY, e, ec);
	}
	void enable(event_type type, std::uint64_t id) { by_key(KEVENT_CTL_ENABLE, type, id); }
	void enable(event_type type, std::uint64_t id, std::error_code &ec) noexcept
	{
		by_key(KEVENT_CTL_ENABLE, type, id, ec);
	}
	void disable(event_type type, std::uint64_t id) { by_key(KEVENT_CTL_DISABLE, type, id); }
	void disable(event_type type, std::uint64_t id, std::error_code &ec) noexcept
	{
		by_key(KEVENT_CTL_DISABLE, type, id, ec);
	}
	// KEVENT_CTL_READY on KEVENT_USER id; callable from any thread.
	void trigger(std::uint64_t id) { by_key(KEVENT_CTL_READY, event_type::user, id); }
	void trigger(std::uint64_t id, std::error_code &ec) noexcept
	{
		by_key(KEVENT_CTL_READY, event_type::user, id, ec);
	}

	// An id for a timer or user event that no automatic id has had yet.
	[[nodiscard]] std::uint64_t new_id() noexcept
	{
		return st_ ? st_->next_auto_id.fetch_add(1, std::memory_order_relaxed)
			   : detail::auto_id_first;
	}

	// ---- kevent_wait
	//
	// Sleep until at least min_nr events are in the ring; return how many
	// are there (0 on timeout).  A signal handler that runs meanwhile
	// (EINTR) does not end the wait: it goes on with the time left.

	// kevent_wait with a zero timeout: publish what is pending (the
	// user-space backends publish only inside the library's calls) and
	// return the count in the ring.  A loop that watches fd() (poll,
	// epoll, asio, ...) drains the ring, calls publish() and drains the
	// ring again when fd() is readable (with events already in the ring,
	// a zero-timeout kevent_wait may return without collecting more).
	std::size_t publish()
	{
		std::error_code ec;
		const std::size_t n = publish(ec);
		detail::throw_if(ec, "kevent_wait");
		return n;
	}
	std::size_t publish(std::error_code &ec) noexcept
	{
		ec.clear();
		const timespec zero{};
		const int n = ::kevent_wait(fd(), 1, &zero);
		if (n >= 0)
			return static_cast<std::size_t>(n);
		if (errno == EINTR)
			return events().count();
		ec = detail::make_error(errno);
		return 0;
	}

	std::size_t wait(unsigned int min_nr = 1)
	{
		std::error_code ec;
		const std::size_t n = wait(min_nr, ec);
		detail::throw_if(ec, "kevent_wait");
		return n;
	}
	std::size_t wait(std::error_code &ec) noexcept { return wait(1, ec); }
	std::size_t wait(unsigned int min_nr, std::error_code &ec) noexcept
	{
		ec.clear();
		return wait_limited(min_nr, detail::wait_limit{}, ec);
	}
	template <class Rep, class Period>
	std::size_t wait_for(std::chrono::duration<Rep, Period> timeout, unsigned int min_nr = 1)
	{
		std::error_code ec;
		const std::size_t n = wait_for(timeout, min_nr, ec);
		detail::throw_if(ec, "kevent_wait");
		return n;
	}
	template <class Rep, class Period>
	std::size_t wait_for(std::chrono::duration<Rep, Period> timeout,
			     std::error_code &ec) noexcept
	{
		return wait_for(timeout, 1, ec);
	}
	template <class Rep, class Period>
	std::size_t wait_for(std::chrono::duration<Rep, Period> timeout, unsigned int min_nr,
			     std::error_code &ec) noexcept
	{
		ec.clear();
		const detail::wait_limit lim = detail::make_limit(timeout, ec);
		if (ec)
			return 0;
		return wait_limited(min_nr, lim, ec);
	}
	template <class Clock, class Duration>
	std::size_t wait_until(std::chrono::time_point<Clock, Duration> deadline,
			       unsigned int min_nr = 1)
	{
		std::error_code ec;
		const std::size_t n = wait_until(deadline, min_nr, ec);
		detail::throw_if(ec, "kevent_wait");
		return n;
	}
	template <class Clock, class Duration>
	std::size_t wait_until(std::chrono::time_point<Clock, Duration> deadline,
			       std::error_code &ec) noexcept
	{
		return wait_until(deadline, 1, ec);
	}
	template <class Clock, class Duration>
	std::size_t wait_until(std::chrono::time_point<Clock, Duration> deadline,
			       unsigned int min_nr, std::error_code &ec) noexcept
	{
		for (;;) {
			const std::size_t n = wait_for(deadline - Clock::now(), min_nr, ec);
			if (ec || n > 0 || Clock::now() >= deadline)
				return n;
		}
	}
	// kevent_pwait(): sigmask is the signal mask while sleeping.  A signal
	// that the mask lets through and whose handler runs ends the wait
	// (that is what pwait is for): it returns the count in the ring,
	// possibly 0.
	std::size_t pwait(const sigset_t &sigmask, unsigned int min_nr = 1)
	{
		std::error_code ec;
		const std::size_t n = pwait(sigmask, min_nr, ec);
		detail::throw_if(ec, "kevent_pwait");
		return n;
	}
	std::size_t pwait(const sigset_t &sigmask, std::error_code &ec) noexcept
	{
		return pwait(sigmask, 1, ec);
	}
	std::size_t pwait(const sigset_t &sigmask, unsigned int min_nr,
			  std::error_code &ec) noexcept
	{
		return do_pwait(min_nr, nullptr, sigmask, ec);
	}
	template <class Rep, class Period>
	std::size_t pwait_for(std::chrono::duration<Rep, Period> timeout,
			      const sigset_t &sigmask, unsigned int min_nr = 1)
	{
		std::error_code ec;
		const std::size_t n = pwait_for(timeout, sigmask, min_nr, ec);
		detail::throw_if(ec, "kevent_pwait");
		return n;
	}
	template <class Rep, class Period>
	std::size_t pwait_for(std::chrono::duration<Rep, Period> timeout,
			      const sigset_t &sigmask, std::error_code &ec) noexcept
	{
		return pwait_for(timeout, sigmask, 1, ec);
	}
	template <class Rep, class Period>
	std::size_t pwait_for(std::chrono::duration<Rep, Period> timeout,
			      const sigset_t &sigmask, unsigned int min_nr,
			      std::error_code &ec) noexcept
	{
		ec.clear();
		const detail::wait_limit lim = detail::make_limit(timeout, ec);
		if (ec)
			return 0;
		timespec ts;
		return do_pwait(min_nr, detail::limit_timeout(lim, true, ts), sigmask, ec);
	}

	// ---- consuming the ring

	// The waiting events as a consuming input range (no system call).
	[[nodiscard]] ring_range events() noexcept { return ring_range(ring()); }

	// Copy out and release the oldest event, if any.
	[[nodiscard]] std::optional<ukevent> try_consume() noexcept
	{
		kevent_ring *r = ring();
		ukevent ev;
		if (r && ::kevent_ring_consume(r, &ev))
			return ev;
		return std::nullopt;
	}
	// One event, sleeping as long as needed.
	[[nodiscard]] ukevent dequeue()
	{
		std::error_code ec;
		const ukevent ev = dequeue(ec);
		detail::throw_if(ec, "kevent_wait");
		return ev;
	}
	[[nodiscard]] ukevent dequeue(std::error_code &ec) noexcept
	{
		ec.clear();
		for (;;) {
			if (std::optional<ukevent> ev = try_consume())
				return *ev;
			(void)wait_limited(1, detail::wait_limit{}, ec);
			if (ec)
				return ukevent{};
		}
	}
	// One event, or nullopt when timeout passes.
	template <class Rep, class Period>
	[[nodiscard]] std::optional<ukevent>
	dequeue_for(std::chrono::duration<Rep, Period> timeout)
	{
		std::error_code ec;
		std::optional<ukevent> ev = dequeue_for(timeout, ec);
		detail::throw_if(ec, "kevent_wait");
		return ev;
	}
	template <class Rep, class Period>
	[[nodiscard]] std::optional<ukevent>
	dequeue_for(std::chrono::duration<Rep, Period> timeout, std::error_code &ec) noexcept
	{
		ec.clear();
		const detail::wait_limit lim = detail::make_limit(timeout, ec);
		if (ec)
			return std::nullopt;
		for (;;) {
			if (std::optional<ukevent> ev = try_consume())
				return ev;
			const std::size_t n = wait_limited(1, lim, ec);
			if (ec)
				return std::nullopt;
			if (n == 0)
				return try_consume();
		}
	}

private:
	friend class dispatcher;

	void open(unsigned int ring_size, backend b, std::error_code &ec) noexcept
	{
		ec.clear();
		kevent_ring *ring = nullptr;
		const int fd = ::kevent_init(&ring, ring_size, static_cast<unsigned int>(b));
		if (fd < 0) {
			ec = detail::make_error(errno);
			return;
		}
		std::shared_ptr<detail::queue_state> st;
#if KEVENT_HPP_EXCEPTIONS
		try {
			st = std::make_shared<detail::queue_state>();
		} catch (const std::bad_alloc &) {
			::kevent_close(fd);
			ec = detail::make_error(ENOMEM);
			return;
		}
#else
		st = std::make_shared<detail::queue_state>();
#endif
		st->ring = ring;
		st->fd.store(fd, std::memory_order_release);
		st_ = std::move(st);
	}

	void by_key(unsigned int cmd, event_type type, std::uint64_t id)
	{
		std::error_code ec;
		by_key(cmd, type, id, ec);
		detail::throw_if(ec, "kevent_ctl");
	}
	void by_key(unsigned int cmd, event_type type, std::uint64_t id,
		    std::error_code &ec) noexcept
	{
		ukevent e = make_key(type, id);
		ctl_one(cmd, e, ec);
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

	// kevent_wait until min_nr events or the limit; EINTR is retried with
	// the time left.
	std::size_t wait_limited(unsigned int min_nr, const detail::wait_limit &lim,
				 std::error_code &ec) noexcept
	{
		for (bool first = true;; first = false) {
			timespec ts;
			const int n = ::kevent_wait(fd(), min_nr, detail::limit_timeout(lim, first, ts));
			if (n >= 0)
				return static_cast<std::size_t>(n);
			if (errno != EINTR) {
				ec = detail::make_error(errno);
				return 0;
			}
		}
	}

	std::size_t do_pwait(unsigned int min_nr, const timespec *t, const sigset_t &mask,
			     std::error_code &ec) noexcept
	{
		ec.clear();
		const int n = ::kevent_pwait(fd(), min_nr, t, &mask);
		if (n >= 0)
			return static_cast<std::size_t>(n);
		if (errno == EINTR)
			return events().count();
		ec = detail::make_error(errno);
		return 0;
	}

	std::shared_ptr<detail::queue_state> st_;
};

// ----------------------------------------------------------- dispatcher

#if KEVENT_HPP_HAS_CONCEPTS
// A callback for a dispatcher registration: f(const ukevent &), or
// f(kevent::event), which converts from it.
template <class F>
concept event_handler = std::invocable<std::decay_t<F> &, const ukevent &>;
#define KEVENT_HPP_HANDLER ::kevent::event_handler
#else
#define KEVENT_HPP_HANDLER class
#endif

namespace detail {

// A move-only std::function (std::move_only_function is C++23).
template <class Sig> class unique_function;
template <class R, class... A>
class unique_function<R(A...)> {
public:
	unique_function() noexcept = default;
	template <class F, class = std::enable_if_t<
		!std::is_same_v<std::decay_t<F>, unique_function> &&
		std::is_invocable_r_v<R, std::decay_t<F> &, A...>>>
	unique_function(F &&f)	// NOLINT: implicit, as std::function
		: p_(std::make_unique<impl<std::decay_t<F>>>(std::forward<F>(f))) {}

	explicit operator bool() const noexcept { return p_ != nullptr; }
	R operator()(A... a) { return p_->call(std::forward<A>(a)...); }

private:
	struct base {
		virtual ~base() = default;
		virtual R call(A... a) = 0;
	};
	template <class F>
	struct impl final : base {
		template <class G>
		explicit impl(G &&g) : f(std::forward<G>(g)) {}
		R call(A... a) override { return std::invoke(f, std::forward<A>(a)...); }
		F f;
	};
	std::unique_ptr<base> p_;
};

using event_callback = unique_function<void(const ukevent &)>;

struct dispatch_slot {
	std::uint32_t type;
	std::uint64_t id;
	event_callback fn;
	// The registration of (type, id) is this slot's: false once it ended
	// by itself (ONESHOT, process exit) and another slot added the key
	// again.  The slot still receives what its registration published,
	// but never touches the key.  Guarded by dispatch_state::lock.
	bool owns_key = true;
};

struct dispatch_state;

#if KEVENT_HPP_HAS_COROUTINES
struct co_waiter;

// A coroutine waiting for readiness of one fd: one ONESHOT registration for
// all its waiters, with the union of their masks.
struct co_fd_source {
	std::uint64_t cookie = 0;	// 0: not registered
	std::uint32_t armed = 0;	// the mask registered
	std::vector<std::uint64_t> waiters;	// serials, in arrival order
};

// Coroutines waiting for a signal, a user event or a process exit.
struct co_key_source {
	std::uint64_t cookie = 0;
	bool enabled = false;
	std::uint64_t pending = 0;	// delivered while nobody waited
	std::vector<std::uint64_t> waiters;
};
#endif

struct dispatch_state : std::enable_shared_from_this<dispatch_state> {
	explicit dispatch_state(queue &&qu) noexcept : q(std::move(qu)) {}
	dispatch_state(const dispatch_state &) = delete;
	dispatch_state &operator=(const dispatch_state &) = delete;
	~dispatch_state();

	queue q;
	// Protects slots, keys, next_cookie and the slots' owns_key; held
	// across the kevent_ctl of a slot's ADD, REMOVE and commands, so that
	// the owner check and the command are one step.
	std::mutex lock;
	std::unordered_map<std::uint64_t, std::shared_ptr<dispatch_slot>> slots;
	std::unordered_map<reg_key, std::uint64_t, reg_key_hash> keys;	// key -> owning cookie
	std::uint64_t next_cookie = 1;	// 0 is the wake event's cookie
	std::atomic<bool> stop{false};

	// post(): callables to run on the loop's thread.
	std::mutex post_lock;	// protects posted and wake_sent
	std::deque<unique_function<void()>> posted;
	bool wake_sent = false;
	std::atomic<bool> has_posted{false};
	// The thread inside dispatch_ready(), if any: what it posts needs no
	// wake-up (the loop runs it before it sleeps or returns).
	std::atomic<std::thread::id> dispatching{};

#if KEVENT_HPP_EXCEPTIONS
	std::exception_ptr failure;	// of a spawned task, for run() to throw
#endif
#if KEVENT_HPP_HAS_COROUTINES
	// Loop thread only.
	std::unordered_map<void *, std::coroutine_handle<>> roots;	// spawned tasks
	std::unordered_map<std::uint64_t, co_waiter *> waiters;	// by serial
	std::uint64_t next_serial = 0;
	std::unordered_map<int, co_fd_source> fd_sources;
	std::map<std::pair<std::uint32_t, std::uint64_t>, co_key_source> key_sources;
#endif

	std::shared_ptr<dispatch_slot> find(std::uint64_t cookie, bool erase)
	{
		std::lock_guard<std::mutex> g(lock);
		return find_locked(cookie, erase);
	}
	std::shared_ptr<dispatch_slot> find_locked(std::uint64_t cookie, bool erase) noexcept
	{
		const auto it = slots.find(cookie);
		if (it == slots.end())
			return nullptr;
		std::shared_ptr<dispatch_slot> s = it->second;
		if (erase) {
			slots.erase(it);
			const auto k = keys.find(reg_key{s->type, s->id});
			if (k != keys.end() && k->second == cookie)
				keys.erase(k);
		}
		return s;
	}

	// ADD ev (its user field becomes the cookie) with fn; 0 on error.
	std::uint64_t add_slot(const ukevent &ev, event_callback fn, bool new_id,
			       std::error_code &ec, std::uint64_t *id_out = nullptr) noexcept
	{
		ec.clear();
		std::shared_ptr<dispatch_slot> slot;
#if KEVENT_HPP_EXCEPTIONS
		try {
#endif
			slot = std::make_shared<dispatch_slot>(
				dispatch_slot{ev.type, ev.id, std::move(fn)});
#if KEVENT_HPP_EXCEPTIONS
		} catch (const std::bad_alloc &) {
			ec = make_error(ENOMEM);
			return 0;
		}
#endif
		ukevent e = ev;
		for (int i = 0; i < auto_id_attempts; i++) {
			if (new_id)
				e.id = q.new_id();
			std::lock_guard<std::mutex> g(lock);
			const std::uint64_t cookie = next_cookie++;
			slot->id = e.id;
			std::uint64_t *owner = nullptr;
#if KEVENT_HPP_EXCEPTIONS
			try {
#endif
				slots.emplace(cookie, slot);
				owner = &keys.try_emplace(reg_key{e.type, e.id}, 0).first->second;
#if KEVENT_HPP_EXCEPTIONS
			} catch (const std::bad_alloc &) {
				(void)find_locked(cookie, true);
				ec = make_error(ENOMEM);
				return 0;
			}
#endif
			e.user = cookie;
			e.ret_flags = 0;
			q.ctl_one(KEVENT_CTL_ADD, e, ec);
			if (!ec) {
				// A slot that had the key lost its registration
				// (it ended by itself, or the ADD would fail).
				if (*owner) {
					const auto old = slots.find(*owner);
					if (old != slots.end())
						old->second->owns_key = false;
				}
				*owner = cookie;
				if (id_out)
					*id_out = e.id;
				return cookie;
			}
			if (!*owner)
				keys.erase(reg_key{e.type, e.id});
			slots.erase(cookie);
			if (!new_id || ec != std::errc::file_exists)
				return 0;
		}
		return 0;
	}

	// REMOVE the registration of a slot, if it is still there and still
	// its own.
	void remove_slot(std::uint64_t cookie) noexcept
	{
		std::lock_guard<std::mutex> g(lock);
		const std::shared_ptr<dispatch_slot> s = find_locked(cookie, true);
		if (s && s->owns_key) {
			std::error_code ec;
			ukevent e = make_event(s->type, s->id);
			q.ctl_one(KEVENT_CTL_REMOVE, e, ec);
		}
	}

	// The slot still registered under cookie (not ended, key not reused).
	bool slot_active(std::uint64_t cookie)
	{
		std::lock_guard<std::mutex> g(lock);
		const std::shared_ptr<dispatch_slot> s = find_locked(cookie, false);
		return s && s->owns_key;
	}

	// cmd on the registration of a slot (ENOENT if it ended).
	void ctl_slot(std::uint64_t cookie, unsigned int cmd, const ukevent *ev,
		      std::error_code &ec) noexcept
	{
		std::lock_guard<std::mutex> g(lock);
		const std::shared_ptr<dispatch_slot> s = find_locked(cookie, false);
		if (!s || !s->owns_key) {
			ec = make_error(ENOENT);
			return;
		}
		ukevent e = ev ? *ev : ukevent{};
		e.type = s->type;
		e.id = s->id;
		e.user = cookie;
		e.ret_flags = 0;
		q.ctl_one(cmd, e, ec);
	}

	void post(unique_function<void()> fn, std::error_code &ec) noexcept
	{
		ec.clear();
		bool wake = false;
		{
			std::lock_guard<std::mutex> g(post_lock);
#if KEVENT_HPP_EXCEPTIONS
			try {
#endif
				posted.push_back(std::move(fn));
#if KEVENT_HPP_EXCEPTIONS
			} catch (const std::bad_alloc &) {
				ec = make_error(ENOMEM);
				return;
			}
#endif
			has_posted.store(true, std::memory_order_release);
			if (!wake_sent && dispatching.load(std::memory_order_relaxed) !=
						  std::this_thread::get_id())
				wake = wake_sent = true;
		}
		if (wake)
			q.trigger(~std::uint64_t{0}, ec);
	}

	void request_stop(std::error_code &ec) noexcept
	{
		stop.store(true, std::memory_order_release);
		q.trigger(~std::uint64_t{0}, ec);
	}

	// Run the callables posted so far (not those they post); the count.
	std::size_t run_posted()
	{
		if (!has_posted.load(std::memory_order_acquire))
			return 0;
		std::deque<unique_function<void()>> batch;
		{
			std::lock_guard<std::mutex> g(post_lock);
			batch.swap(posted);
			wake_sent = false;
			has_posted.store(false, std::memory_order_relaxed);
		}
		// If one throws, the rest go back to the front of the queue.
		struct requeue {
			dispatch_state *st;
			std::deque<unique_function<void()>> *rest;
			~requeue()
			{
				if (rest->empty())
					return;
				std::lock_guard<std::mutex> g(st->post_lock);
				while (!rest->empty()) {
					st->posted.push_front(std::move(rest->back()));
					rest->pop_back();
				}
				st->has_posted.store(true, std::memory_order_release);
			}
		} guard{this, &batch};
		std::size_t n = 0;
		while (!batch.empty()) {
			unique_function<void()> fn = std::move(batch.front());
			batch.pop_front();
			++n;
			fn();
			rethrow_failure();
		}
		return n;
	}

	void rethrow_failure()
	{
#if KEVENT_HPP_EXCEPTIONS
		if (failure)
			std::rethrow_exception(std::exchange(failure, nullptr));
#endif
	}

#if KEVENT_HPP_HAS_COROUTINES
	void root_done(std::coroutine_handle<> h, std::exception_ptr error) noexcept;
	bool co_start(co_waiter &w, std::coroutine_handle<> h, const std::stop_token &token) noexcept;
	void co_finish(std::uint64_t serial, std::uint64_t value, std::error_code ec) noexcept;
	void co_cancel(std::uint64_t serial) noexcept;
	void co_forget(co_waiter &w) noexcept;
	void co_detach(co_waiter &w) noexcept;
	bool co_start_fd(co_waiter &w) noexcept;
	bool co_start_key(co_waiter &w) noexcept;
	std::error_code co_rearm_fd(int fd) noexcept;
	void co_on_fd(int fd, const ukevent &ev) noexcept;
	void co_on_key(std::pair<std::uint32_t, std::uint64_t> k, const ukevent &ev) noexcept;
	void co_fail_later(std::vector<std::uint64_t> serials, std::error_code ec) noexcept;
#endif
};

} // namespace detail

#if !KEVENT_HPP_HAS_COROUTINES
inline detail::dispatch_state::~dispatch_state() = default;
#endif

#if KEVENT_HPP_HAS_COROUTINES
template <class T = void> class task;
namespace detail {
template <class T> class co_awaitable;
enum class co_kind : unsigned char { sleep, fd, key };
} // namespace detail
#endif

class timer;

// A callback (and coroutine) loop over one queue.  Each registration made
// through the dispatcher carries a callable, invoked as f(const ukevent &)
// (or f(kevent::event)) with the event still in the ring.  run() dispatches
// until stop(); stop(), post() and trigger() may be called from any thread.
//
// add() and handle destruction may happen on any thread; run(), poll() and
// the other loops on one thread at a time (the loop thread), not from
// inside a callback.  Events whose registration is gone (removed after they
// were published) are skipped.  The callable may be move-only.  Internally
// the dispatcher uses the KEVENT_USER event wake_id, which user code must
// not register.  A moved-from dispatcher may only be assigned to or
// destroyed.
class dispatcher {
public:
	static constexpr std::uint64_t wake_id = ~std::uint64_t{0};

	// Owns one registration and its callback; removes both on destruction
	// unless release()d.  May outlive the dispatcher (then does nothing).
	class handle {
	public:
		handle() noexcept = default;
		handle(handle &&o) noexcept
			: st_(std::move(o.st_)), cookie_(o.cookie_), type_(o.type_), id_(o.id_) {}
		handle &operator=(handle &&o) noexcept
		{
			if (this != &o) {
				reset();
				st_ = std::move(o.st_);
				cookie_ = o.cookie_;
				type_ = o.type_;
				id_ = o.id_;
			}
			return *this;
		}
		handle(const handle &) = delete;
		handle &operator=(const handle &) = delete;
		~handle() { reset(); }

		explicit operator bool() const noexcept { return !st_.expired(); }
		[[nodiscard]] event_type type() const noexcept { return type_; }
		// The registration's id (the one chosen for it, if automatic).
		[[nodiscard]] std::uint64_t id() const noexcept { return id_; }

		// Keep the registration and callback for the dispatcher's life.
		void release() noexcept { st_.reset(); }

		// Remove now; errors are ignored (what the destructor does).
		void reset() noexcept
		{
			const std::shared_ptr<detail::dispatch_state> st = st_.lock();
			st_.reset();
			if (st)
				st->remove_slot(cookie_);
		}

		// Still registered (not ended by itself, e.g. ONESHOT)?
		[[nodiscard]] bool active() const
		{
			const std::shared_ptr<detail::dispatch_state> st = st_.lock();
			return st && st->slot_active(cookie_);
		}

		void enable() const { ctl(KEVENT_CTL_ENABLE, nullptr); }
		void enable(std::error_code &ec) const noexcept { ctl(KEVENT_CTL_ENABLE, nullptr, ec); }
		void disable() const { ctl(KEVENT_CTL_DISABLE, nullptr); }
		void disable(std::error_code &ec) const noexcept { ctl(KEVENT_CTL_DISABLE, nullptr, ec); }
		void trigger() const { ctl(KEVENT_CTL_READY, nullptr); }
		void trigger(std::error_code &ec) const noexcept { ctl(KEVENT_CTL_READY, nullptr, ec); }
		// MODIFY: new event mask, req_flags, data and prio from ev
		// (type, id and the callback are kept).
		void modify(const ukevent &ev) const { ctl(KEVENT_CTL_MODIFY, &ev); }
		void modify(const ukevent &ev, std::error_code &ec) const noexcept
		{
			ctl(KEVENT_CTL_MODIFY, &ev, ec);
		}

	private:
		friend class dispatcher;
		handle(std::weak_ptr<detail::dispatch_state> st, std::uint64_t cookie,
		       const ukevent &ev) noexcept
			: st_(std::move(st)), cookie_(cookie),
			  type_(static_cast<event_type>(ev.type)), id_(ev.id) {}

		void ctl(unsigned int cmd, const ukevent *ev) const
		{
			std::error_code ec;
			ctl(cmd, ev, ec);
			detail::throw_if(ec, "kevent_ctl");
		}
		void ctl(unsigned int cmd, const ukevent *ev, std::error_code &ec) const noexcept
		{
			ec.clear();
			const std::shared_ptr<detail::dispatch_state> st = st_.lock();
			if (!st) {
				ec = detail::make_error(EBADF);
				return;
			}
			st->ctl_slot(cookie_, cmd, ev, ec);
		}

		std::weak_ptr<detail::dispatch_state> st_;
		std::uint64_t cookie_ = 0;
		event_type type_ = event_type::poll;
		std::uint64_t id_ = 0;
	};

	explicit dispatcher(unsigned int ring_size = 0, backend b = backend::automatic)
		: dispatcher(queue(ring_size, b)) {}
	explicit dispatcher(std::error_code &ec) noexcept
		: dispatcher(0, backend::automatic, ec) {}
	dispatcher(unsigned int ring_size, backend b, std::error_code &ec) noexcept
	{
		queue q(ring_size, b, ec);
		if (!ec)
			init(std::move(q), ec);
	}
	explicit dispatcher(queue &&q)
	{
		std::error_code ec;
		init(std::move(q), ec);
		detail::throw_if(ec, "kevent::dispatcher");
	}
	dispatcher(queue &&q, std::error_code &ec) noexcept { init(std::move(q), ec); }

	dispatcher(dispatcher &&) noexcept = default;
	dispatcher &operator=(dispatcher &&) noexcept = default;
	dispatcher(const dispatcher &) = delete;
	dispatcher &operator=(const dispatcher &) = delete;
	~dispatcher() = default;

	explicit operator bool() const noexcept { return st_ && st_->q; }

	// The queue, to observe (fd, backend): it cannot consume or register
	// through a const reference.
	[[nodiscard]] const queue &get_queue() const noexcept { return st_->q; }
	[[nodiscard]] int native_handle() const noexcept { return st_->q.fd(); }

	// ---- registrations (each also with a trailing std::error_code &;
	// the callback comes before the mode)

	// Register ev (its user field is replaced) with callback f.  Any
	// field of ev counts, so with_prio(ev, prio) gives a priority.
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add(const ukevent &ev, F &&f)
	{
		std::error_code ec;
		handle h = add(ev, std::forward<F>(f), ec);
		detail::throw_if(ec, "kevent_ctl");
		return h;
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add(const ukevent &ev, F &&f, std::error_code &ec) noexcept
	{
		return add_impl(ev, std::forward<F>(f), false, ec);
	}
	// The same with an id chosen here (ev.id is ignored; handle::id()),
	// for timers and user events built with a priority:
	//   d.add_with_new_id(kevent::with_prio(kevent::user_event(0), 7), f)
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_with_new_id(const ukevent &ev, F &&f)
	{
		return add_new_id(ev, std::forward<F>(f));
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_with_new_id(const ukevent &ev, F &&f,
					     std::error_code &ec) noexcept
	{
		return add_impl(ev, std::forward<F>(f), true, ec);
	}

	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_fd(int fd, poll_events events, F &&f, mode m = mode::none)
	{
		return add(fd_event(fd, events, m), std::forward<F>(f));
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_fd(int fd, poll_events events, F &&f, std::error_code &ec) noexcept
	{
		return add(fd_event(fd, events), std::forward<F>(f), ec);
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_fd(int fd, poll_events events, F &&f, mode m,
				    std::error_code &ec) noexcept
	{
		return add(fd_event(fd, events, m), std::forward<F>(f), ec);
	}

	// A relative timer, id chosen here (handle::id()).
	template <class Rep, class Period, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::chrono::duration<Rep, Period> interval, F &&f,
				       mode m = mode::none)
	{
		return add_new_id(timer_event(0, interval, m), std::forward<F>(f));
	}
	template <class Rep, class Period, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::chrono::duration<Rep, Period> interval, F &&f,
				       std::error_code &ec) noexcept
	{
		return add_timer(interval, std::forward<F>(f), mode::none, ec);
	}
	template <class Rep, class Period, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::chrono::duration<Rep, Period> interval, F &&f,
				       mode m, std::error_code &ec) noexcept
	{
		const ukevent ev = timer_event(0, interval, m, 0, timer_clock::monotonic, ec);
		if (ec)
			return {};
		return add_impl(ev, std::forward<F>(f), true, ec);
	}
	// A relative timer with the id given.
	template <class Rep, class Period, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::uint64_t id, std::chrono::duration<Rep, Period> interval,
				       F &&f, mode m = mode::none)
	{
		return add(timer_event(id, interval, m), std::forward<F>(f));
	}
	template <class Rep, class Period, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::uint64_t id, std::chrono::duration<Rep, Period> interval,
				       F &&f, std::error_code &ec) noexcept
	{
		return add_timer(id, interval, std::forward<F>(f), mode::none, ec);
	}
	template <class Rep, class Period, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::uint64_t id, std::chrono::duration<Rep, Period> interval,
				       F &&f, mode m, std::error_code &ec) noexcept
	{
		const ukevent ev = timer_event(id, interval, m, 0, timer_clock::monotonic, ec);
		if (ec)
			return {};
		return add_impl(ev, std::forward<F>(f), false, ec);
	}
	// An absolute timer, id chosen here.
	template <class Clock, class Duration, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::chrono::time_point<Clock, Duration> deadline, F &&f,
				       mode m = mode::none)
	{
		return add_new_id(timer_event(0, deadline, m), std::forward<F>(f));
	}
	template <class Clock, class Duration, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::chrono::time_point<Clock, Duration> deadline, F &&f,
				       std::error_code &ec) noexcept
	{
		return add_timer(deadline, std::forward<F>(f), mode::none, ec);
	}
	template <class Clock, class Duration, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::chrono::time_point<Clock, Duration> deadline, F &&f,
				       mode m, std::error_code &ec) noexcept
	{
		const ukevent ev = timer_event(0, deadline, m, 0, ec);
		if (ec)
			return {};
		return add_impl(ev, std::forward<F>(f), true, ec);
	}
	// An absolute timer with the id given.
	template <class Clock, class Duration, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::uint64_t id,
				       std::chrono::time_point<Clock, Duration> deadline,
				       F &&f, mode m = mode::none)
	{
		return add(timer_event(id, deadline, m), std::forward<F>(f));
	}
	template <class Clock, class Duration, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::uint64_t id,
				       std::chrono::time_point<Clock, Duration> deadline,
				       F &&f, std::error_code &ec) noexcept
	{
		return add_timer(id, deadline, std::forward<F>(f), mode::none, ec);
	}
	template <class Clock, class Duration, KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_timer(std::uint64_t id,
				       std::chrono::time_point<Clock, Duration> deadline,
				       F &&f, mode m, std::error_code &ec) noexcept
	{
		const ukevent ev = timer_event(id, deadline, m, 0, ec);
		if (ec)
			return {};
		return add_impl(ev, std::forward<F>(f), false, ec);
	}

	// A user event, id chosen here (handle::trigger(), or trigger(h.id())).
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_user(F &&f, mode m = mode::none)
	{
		return add_new_id(user_event(0, m), std::forward<F>(f));
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_user(F &&f, std::error_code &ec) noexcept
	{
		return add_impl(user_event(0), std::forward<F>(f), true, ec);
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_user(F &&f, mode m, std::error_code &ec) noexcept
	{
		return add_impl(user_event(0, m), std::forward<F>(f), true, ec);
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_user(std::uint64_t id, F &&f, mode m = mode::none)
	{
		return add(user_event(id, m), std::forward<F>(f));
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_user(std::uint64_t id, F &&f, std::error_code &ec) noexcept
	{
		return add(user_event(id), std::forward<F>(f), ec);
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_user(std::uint64_t id, F &&f, mode m,
				      std::error_code &ec) noexcept
	{
		return add(user_event(id, m), std::forward<F>(f), ec);
	}

	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_signal(int signo, F &&f, mode m = mode::none)
	{
		return add(signal_event(signo, m), std::forward<F>(f));
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_signal(int signo, F &&f, std::error_code &ec) noexcept
	{
		return add(signal_event(signo), std::forward<F>(f), ec);
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_signal(int signo, F &&f, mode m, std::error_code &ec) noexcept
	{
		return add(signal_event(signo, m), std::forward<F>(f), ec);
	}

	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_inode(int fd, inode_events events, F &&f, mode m = mode::none)
	{
		return add(inode_event(fd, events, m), std::forward<F>(f));
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_inode(int fd, inode_events events, F &&f,
				       std::error_code &ec) noexcept
	{
		return add(inode_event(fd, events), std::forward<F>(f), ec);
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_inode(int fd, inode_events events, F &&f, mode m,
				       std::error_code &ec) noexcept
	{
		return add(inode_event(fd, events, m), std::forward<F>(f), ec);
	}

	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_proc(pid_t pid, F &&f, mode m = mode::none)
	{
		return add(proc_event(pid, m), std::forward<F>(f));
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_proc(pid_t pid, F &&f, std::error_code &ec) noexcept
	{
		return add(proc_event(pid), std::forward<F>(f), ec);
	}
	template <KEVENT_HPP_HANDLER F>
	[[nodiscard]] handle add_proc(pid_t pid, F &&f, mode m, std::error_code &ec) noexcept
	{
		return add(proc_event(pid, m), std::forward<F>(f), ec);
	}

	// ---- from any thread

	// KEVENT_CTL_READY on a KEVENT_USER registration.
	void trigger(std::uint64_t id) { st_->q.trigger(id); }
	void trigger(std::uint64_t id, std::error_code &ec) noexcept { st_->q.trigger(id, ec); }

	// Run f() on the loop's thread, in the order posted, never inside
	// post() itself.  A posted f's exception propagates from the loop,
	// like a callback's; what was posted after it stays queued.
	template <class F>
	void post(F &&f)
	{
		std::error_code ec;
		post(std::forward<F>(f), ec);
		detail::throw_if(ec, "kevent::dispatcher::post");
	}
	template <class F>
	void post(F &&f, std::error_code &ec) noexcept
	{
		static_assert(std::is_invocable_v<std::decay_t<F> &>,
			      "kevent: a posted function is called as f()");
#if KEVENT_HPP_EXCEPTIONS
		detail::unique_function<void()> fn;
		try {
			fn = detail::unique_function<void()>(std::forward<F>(f));
		} catch (const std::bad_alloc &) {
			ec = detail::make_error(ENOMEM);
			return;
		}
		st_->post(std::move(fn), ec);
#else
		st_->post(detail::unique_function<void()>(std::forward<F>(f)), ec);
#endif
	}

	// Make the running (or the next) loop return after the current
	// callback.
	void stop()
	{
		std::error_code ec;
		stop(ec);
		detail::throw_if(ec, "kevent::dispatcher::stop");
	}
	void stop(std::error_code &ec) noexcept { st_->request_stop(ec); }
	[[nodiscard]] bool stop_requested() const noexcept
	{
		return st_->stop.load(std::memory_order_acquire);
	}

	// ---- loops (on one thread at a time)
	//
	// Each returns the number of callbacks (and posted functions) run.  A
	// callback's exception propagates (its event is consumed), as does a
	// spawned task's.  EINTR never ends a loop.  The std::error_code forms
	// report the errors of libkev (kevent_wait) there.

	// Dispatch until stop().
	std::size_t run()
	{
		std::error_code ec;
		const std::size_t n = run(ec);
		detail::throw_if(ec, "kevent_wait");
		return n;
	}
	std::size_t run(std::error_code &ec)
	{
		return loop(detail::wait_limit{}, ec);
	}
#if KEVENT_HPP_HAS_STOP_TOKEN
	// Dispatch until stop() or until a stop is requested through token
	// (from any thread).
	std::size_t run(std::stop_token token)
	{
		std::error_code ec;
		const std::size_t n = run(std::move(token), ec);
		detail::throw_if(ec, "kevent_wait");
		return n;
	}
	std::size_t run(std::stop_token token, std::error_code &ec)
	{
		struct stopper {
			detail::dispatch_state *st;
			void operator()() const noexcept
			{
				std::error_code ignored;
				st->request_stop(ignored);
			}
		};
		const std::stop_callback<stopper> cb(token, stopper{st_.get()});
		return loop(detail::wait_limit{}, ec);
	}
#endif

	// Dispatch until stop() or timeout.
	template <class Rep, class Period>
	std::size_t run_for(std::chrono::duration<Rep, Period> timeout)
	{
		std::error_code ec;
		const std::size_t n = run_for(timeout, ec);
		detail::throw_if(ec, "kevent_wait");
		return n;
	}
	template <class Rep, class Period>
	std::size_t run_for(std::chrono::duration<Rep, Period> timeout, std::error_code &ec)
	{
		ec.clear();
		const detail::wait_limit lim = detail::make_limit(timeout, ec);
		if (ec)
			return 0;
		if (lim.forever)
			return loop(lim, ec);
		return run_until(lim.deadline, ec);
	}
	template <class Clock, class Duration>
	std::size_t run_until(std::chrono::time_point<Clock, Duration> deadline)
	{
		std::error_code ec;
		const std::size_t n = run_until(deadline, ec);
		detail::throw_if(ec, "kevent_wait");
		return n;
	}
	template <class Clock, class Duration>
	std::size_t run_until(std::chrono::time_point<Clock, Duration> deadline,
			      std::error_code &ec)
	{
		ec.clear();
		std::size_t n = 0;
		while (!consume_stop()) {
			n += dispatch_ready();
			if (stop_requested() || has_posted())
				continue;
			const auto now = Clock::now();
			if (now >= deadline)
				break;
			const detail::wait_limit lim = detail::make_limit(deadline - now, ec);
			if (ec || !sleep(lim, ec))
				break;
		}
		return n;
	}

	// Sleep until something is ready (at most timeout), then dispatch
	// what is ready.
	template <class Rep, class Period>
	std::size_t run_once_for(std::chrono::duration<Rep, Period> timeout)
	{
		std::error_code ec;
		const std::size_t n = run_once_for(timeout, ec);
		detail::throw_if(ec, "kevent_wait");
		return n;
	}
	template <class Rep, class Period>
	std::size_t run_once_for(std::chrono::duration<Rep, Period> timeout, std::error_code &ec)
	{
		ec.clear();
		const detail::wait_limit lim = detail::make_limit(timeout, ec);
		if (ec)
			return 0;
		return run_once_limited(lim, ec);
	}
	std::size_t run_once()
	{
		std::error_code ec;
		const std::size_t n = run_once(ec);
		detail::throw_if(ec, "kevent_wait");
		return n;
	}
	std::size_t run_once(std::error_code &ec)
	{
		ec.clear();
		return run_once_limited(detail::wait_limit{}, ec);
	}

	// Publish what is pending and dispatch what is ready, without
	// sleeping: what a loop that watches native_handle() calls when it is
	// readable (see ready()).
	std::size_t poll()
	{
		std::error_code ec;
		const std::size_t n = poll(ec);
		detail::throw_if(ec, "kevent_wait");
		return n;
	}
	std::size_t poll(std::error_code &ec)
	{
		ec.clear();
		// What the ring holds first: kevent_wait() with a zero timeout
		// may return at once while the ring is not empty, without
		// collecting what fired meanwhile.
		std::size_t n = dispatch_ready();
		if (stop_requested())
			return n;
		(void)st_->q.publish(ec);
		if (ec)
			return n;
		const std::size_t m = dispatch_ready();
		// The callbacks consumed what the ring held (and may have
		// drained their descriptors): one more zero-timeout wait lets
		// the library see that, so that the descriptor is not left
		// readable for a check that finds nothing (the uring backend
		// checks a level-triggered fd again once its entry is passed).
		// What it publishes stays in the ring, for ready().
		if (m > 0 && !stop_requested())
			(void)st_->q.publish(ec);
		return n + m;
	}

	// Work is ready that poll() would do without waiting for the queue
	// fd: events in the ring, posted functions.  A loop that
	// nests the dispatcher calls poll() again while this is true, and
	// waits for native_handle() to be readable only when it is false.
	[[nodiscard]] bool ready() const noexcept
	{
		const kevent_ring *r = st_->q.ring();
		return (r && !kevent_ring_empty(r)) ||
		       st_->has_posted.load(std::memory_order_acquire);
	}

#if KEVENT_HPP_HAS_COROUTINES
	// ---- coroutines (C++20)

	// Start t on the loop's thread (through post(); any thread), owned by
	// the dispatcher until it ends.  The awaitables t awaits see token
	// (unless given one of their own).  A spawned task that ends with an
	// exception makes the loop throw it, except std::system_error with
	// std::errc::operation_canceled (it was cancelled).  Tasks still
	// suspended when the dispatcher is destroyed are destroyed with it.
	void spawn(task<void> t);
	void spawn(task<void> t, std::error_code &ec) noexcept;
	void spawn(task<void> t, std::stop_token token);
	void spawn(task<void> t, std::stop_token token, std::error_code &ec) noexcept;

	// Run the loop until t ends; its result, or its exception.  A stop()
	// made meanwhile is kept for the next loop.
	template <class T>
	T run_until_complete(task<T> t, std::stop_token token = {});

	// Awaitables for a task (or any coroutine) that the loop runs.  They
	// complete on the loop's thread.  A stop requested through the stop
	// token given, or else the awaiting kevent::task's own, cancels the
	// wait: std::system_error(operation_canceled), or that error in ec for
	// the std::error_code forms.
	template <class Rep, class Period>
	[[nodiscard]] detail::co_awaitable<void> sleep_for(std::chrono::duration<Rep, Period> d);
	template <class Rep, class Period>
	[[nodiscard]] detail::co_awaitable<void>
	sleep_for(std::chrono::duration<Rep, Period> d, std::error_code &ec);
	template <class Rep, class Period>
	[[nodiscard]] detail::co_awaitable<void>
	sleep_for(std::chrono::duration<Rep, Period> d, std::stop_token token);
	template <class Rep, class Period>
	[[nodiscard]] detail::co_awaitable<void>
	sleep_for(std::chrono::duration<Rep, Period> d, std::stop_token token,
		  std::error_code &ec);

	template <class Clock, class Duration>
	[[nodiscard]] detail::co_awaitable<void>
	sleep_until(std::chrono::time_point<Clock, Duration> tp);
	template <class Clock, class Duration>
	[[nodiscard]] detail::co_awaitable<void>
	sleep_until(std::chrono::time_point<Clock, Duration> tp, std::error_code &ec);
	template <class Clock, class Duration>
	[[nodiscard]] detail::co_awaitable<void>
	sleep_until(std::chrono::time_point<Clock, Duration> tp, std::stop_token token);
	template <class Clock, class Duration>
	[[nodiscard]] detail::co_awaitable<void>
	sleep_until(std::chrono::time_point<Clock, Duration> tp, std::stop_token token,
		    std::error_code &ec);

	// fd readable (writable): the conditions that are true, which may
	// include poll_events::err and hup.
	[[nodiscard]] detail::co_awaitable<poll_events> readable(int fd);
	[[nodiscard]] detail::co_awaitable<poll_events> readable(int fd, std::error_code &ec);
	[[nodiscard]] detail::co_awaitable<poll_events> readable(int fd, std::stop_token token);
	[[nodiscard]] detail::co_awaitable<poll_events>
	readable(int fd, std::stop_token token, std::error_code &ec);
	[[nodiscard]] detail::co_awaitable<poll_events> writable(int fd);
	[[nodiscard]] detail::co_awaitable<poll_events> writable(int fd, std::error_code &ec);
	[[nodiscard]] detail::co_awaitable<poll_events> writable(int fd, std::stop_token token);
	[[nodiscard]] detail::co_awaitable<poll_events>
	writable(int fd, std::stop_token token, std::error_code &ec);

	// The next delivery of signal signo (blocked in every thread): how
	// many times it came.  The first wait registers it; it stays
	// registered while the dispatcher lives, and deliveries made while
	// nobody waits are counted into the next wait.
	[[nodiscard]] detail::co_awaitable<std::uint64_t> signal(int signo);
	[[nodiscard]] detail::co_awaitable<std::uint64_t> signal(int signo, std::error_code &ec);
	[[nodiscard]] detail::co_awaitable<std::uint64_t> signal(int signo, std::stop_token token);
	[[nodiscard]] detail::co_awaitable<std::uint64_t>
	signal(int signo, std::stop_token token, std::error_code &ec);

	// The exit of child pid: its wait status (WIFEXITED() ...); ECHILD if
	// it is not a child.  The child is left unreaped.
	[[nodiscard]] detail::co_awaitable<int> child_exit(pid_t pid);
	[[nodiscard]] detail::co_awaitable<int> child_exit(pid_t pid, std::error_code &ec);
	[[nodiscard]] detail::co_awaitable<int> child_exit(pid_t pid, std::stop_token token);
	[[nodiscard]] detail::co_awaitable<int>
	child_exit(pid_t pid, std::stop_token token, std::error_code &ec);

	// The next delivery of user event id (trigger(id) from any thread):
	// how many triggers it counts.  As with signal(), the first wait
	// registers it for the dispatcher's life, and triggers made while
	// nobody waits are counted into the next wait.
	[[nodiscard]] detail::co_awaitable<std::uint64_t> user(std::uint64_t id);
	[[nodiscard]] detail::co_awaitable<std::uint64_t> user(std::uint64_t id, std::error_code &ec);
	[[nodiscard]] detail::co_awaitable<std::uint64_t> user(std::uint64_t id, std::stop_token token);
	[[nodiscard]] detail::co_awaitable<std::uint64_t>
	user(std::uint64_t id, std::stop_token token, std::error_code &ec);
#endif

private:
	friend class timer;

#if KEVENT_HPP_HAS_COROUTINES
	template <class R>
	detail::co_awaitable<R> make_awaitable(detail::co_kind k, const ukevent &ev, int fd,
					       std::uint32_t mask, std::error_code conv,
					       std::error_code *out,
					       std::optional<std::stop_token> token);
	template <class Rep, class Period>
	detail::co_awaitable<void> make_sleep_for(std::chrono::duration<Rep, Period> d,
						  std::error_code *out,
						  std::optional<std::stop_token> token);
	template <class Clock, class Duration>
	detail::co_awaitable<void> make_sleep_until(std::chrono::time_point<Clock, Duration> tp,
						    std::error_code *out,
						    std::optional<std::stop_token> token);
#endif

	void init(queue &&q, std::error_code &ec) noexcept
	{
		ec.clear();
		if (!q) {
			ec = detail::make_error(EBADF);
			return;
		}
#if KEVENT_HPP_EXCEPTIONS
		try {
			st_ = std::make_shared<detail::dispatch_state>(std::move(q));
		} catch (const std::bad_alloc &) {
			ec = detail::make_error(ENOMEM);
			return;
		}
#else
		st_ = std::make_shared<detail::dispatch_state>(std::move(q));
#endif
		// The wake event lives as long as the queue (user 0: no slot).
		ukevent e = user_event(wake_id);
		st_->q.ctl_one(KEVENT_CTL_ADD, e, ec);
		if (ec)
			st_.reset();
	}

	template <class F>
	handle add_new_id(const ukevent &ev, F &&f)
	{
		std::error_code ec;
		handle h = add_impl(ev, std::forward<F>(f), true, ec);
		detail::throw_if(ec, "kevent_ctl");
		return h;
	}

	template <class F>
	handle add_impl(const ukevent &ev, F &&f, bool new_id, std::error_code &ec) noexcept
	{
		static_assert(std::is_invocable_v<std::decay_t<F> &, const ukevent &>,
			      "kevent: a handler is called as f(const ukevent &) or f(kevent::event)");
		detail::event_callback fn;
#if KEVENT_HPP_EXCEPTIONS
		try {
			fn = detail::event_callback(std::forward<F>(f));
		} catch (const std::bad_alloc &) {
			ec = detail::make_error(ENOMEM);
			return {};
		}
#else
		fn = detail::event_callback(std::forward<F>(f));
#endif
		std::uint64_t id = ev.id;
		const std::uint64_t cookie = st_->add_slot(ev, std::move(fn), new_id, ec, &id);
		if (!cookie)
			return {};
		ukevent key = ev;
		key.id = id;
		return handle(st_, cookie, key);
	}

	bool consume_stop() noexcept
	{
		return st_->stop.exchange(false, std::memory_order_acq_rel);
	}
	[[nodiscard]] bool has_posted() const noexcept
	{
		return st_->has_posted.load(std::memory_order_acquire);
	}

	std::size_t loop(const detail::wait_limit &lim, std::error_code &ec)
	{
		ec.clear();
		std::size_t n = 0;
		while (!consume_stop()) {
			n += dispatch_ready();
			if (stop_requested() || has_posted())
				continue;
			if (!sleep(lim, ec))
				break;
		}
		return n;
	}

	std::size_t run_once_limited(const detail::wait_limit &lim, std::error_code &ec)
	{
		if (!ready() && !sleep(lim, ec))
			return 0;
		return dispatch_ready();
	}

	// Sleep until the ring has an event (or the limit); false on an
	// error.  EINTR (a signal handler, or the uring backend interrupting
	// its submitter) does not end the sleep: it goes on with the time
	// left, unless work came meanwhile.
	bool sleep(const detail::wait_limit &lim, std::error_code &ec) noexcept
	{
		for (bool first = true;; first = false) {
			timespec ts;
			if (::kevent_wait(st_->q.fd(), 1, detail::limit_timeout(lim, first, ts)) >= 0)
				return true;
			if (errno != EINTR) {
				ec = detail::make_error(errno);
				return false;
			}
			if (ready() || stop_requested())
				return true;
		}
	}

	// Run what was posted, then the callbacks of the events in the ring
	// until it is empty (or stop()).
	std::size_t dispatch_ready()
	{
		detail::dispatch_state &st = *st_;
		kevent_ring *ring = st.q.ring();
		struct dispatching_guard {
			detail::dispatch_state &st;
			explicit dispatching_guard(detail::dispatch_state &s) noexcept : st(s)
			{
				st.dispatching.store(std::this_thread::get_id(),
						     std::memory_order_relaxed);
			}
			~dispatching_guard()
			{
				st.dispatching.store(std::thread::id(), std::memory_order_relaxed);
			}
			dispatching_guard(const dispatching_guard &) = delete;
			dispatching_guard &operator=(const dispatching_guard &) = delete;
		} dispatching(st);
		std::size_t n = st.run_posted();

		struct advance_guard {
			kevent_ring *r;
			~advance_guard() { kevent_ring_advance(r, 1); }
		};

		while (const ukevent *ev = kevent_ring_peek(ring)) {
			advance_guard g{ring};
			if (ev->user == 0 && ev->type == KEVENT_USER && ev->id == wake_id) {
				n += st.run_posted();	// post() or stop()
				continue;
			}
			const std::shared_ptr<detail::dispatch_slot> s =
				st.find(ev->user, (ev->ret_flags & KEVENT_RET_REMOVED) != 0);
			if (!s || s->type != ev->type || s->id != ev->id)
				continue;	// stale
			++n;
			s->fn(*ev);
			st.rethrow_failure();
			if (stop_requested())
				break;
		}
		return n;
	}

	std::shared_ptr<detail::dispatch_state> st_;
};

#undef KEVENT_HPP_HANDLER

// ---------------------------------------------------------------- timer

// An asio-style timer on a dispatcher's loop: no id to choose.
// expires_after()/expires_at() set the expiry, async_wait(f) calls
// f(std::error_code) once: with no error at the expiry, with
// std::errc::operation_canceled when cancel(), a new expiry or the
// destruction of the timer comes first (then never inside that call: it is
// posted).  Several waits may be pending; each is called once.
// Move-only; use it on one thread at a time (the loop's, or any thread while
// no loop runs).  It may outlive its dispatcher: then waits fail with EBADF.
class timer {
public:
	using clock_type = std::chrono::steady_clock;
	using duration = clock_type::duration;
	using time_point = clock_type::time_point;

	explicit timer(dispatcher &d) : s_(std::make_shared<state>(d.st_)) {}
	timer(dispatcher &d, duration after) : timer(d) { (void)expires_after(after); }
	timer(dispatcher &d, time_point at) : timer(d) { (void)expires_at(at); }
	timer(timer &&) noexcept = default;
	timer &operator=(timer &&o) noexcept
	{
		if (this != &o) {
			if (s_)
				(void)s_->cancel_all();
			s_ = std::move(o.s_);
		}
		return *this;
	}
	timer(const timer &) = delete;
	timer &operator=(const timer &) = delete;
	~timer()
	{
		if (s_)
			(void)s_->cancel_all();
	}

	[[nodiscard]] time_point expiry() const noexcept { return s_->expiry; }

	// Set the expiry, cancelling the pending waits; returns how many.
	std::size_t expires_at(time_point at)
	{
		const std::size_t n = cancel();
		s_->expiry = at;
		return n;
	}
	std::size_t expires_at(time_point at, std::error_code &ec) noexcept
	{
		const std::size_t n = cancel(ec);
		s_->expiry = at;
		return n;
	}
	template <class Rep, class Period>
	std::size_t expires_after(std::chrono::duration<Rep, Period> after)
	{
		return expires_at(deadline(after));
	}
	template <class Rep, class Period>
	std::size_t expires_after(std::chrono::duration<Rep, Period> after,
				  std::error_code &ec) noexcept
	{
		return expires_at(deadline(after), ec);
	}

	// Cancel the pending waits (their handlers get operation_canceled,
	// posted); returns how many.
	std::size_t cancel()
	{
		std::error_code ec;
		const std::size_t n = cancel(ec);
		detail::throw_if(ec, "kevent::timer::cancel");
		return n;
	}
	std::size_t cancel(std::error_code &ec) noexcept
	{
		ec = s_->cancel_all();
		return s_->last_cancelled;
	}

	// Call f(std::error_code) at the expiry (or on cancellation).
	template <class F>
	void async_wait(F &&f)
	{
		std::error_code ec;
		async_wait(std::forward<F>(f), ec);
		detail::throw_if(ec, "kevent::timer::async_wait");
	}
	template <class F>
	void async_wait(F &&f, std::error_code &ec) noexcept
	{
		static_assert(std::is_invocable_v<std::decay_t<F> &, std::error_code>,
			      "kevent: a timer handler is called as f(std::error_code)");
		ec.clear();
#if KEVENT_HPP_EXCEPTIONS
		try {
			s_->handlers.emplace_back(std::forward<F>(f));
		} catch (const std::bad_alloc &) {
			ec = detail::make_error(ENOMEM);
			return;
		}
#else
		s_->handlers.emplace_back(std::forward<F>(f));
#endif
		if (!s_->cookie)
			ec = s_->arm();
		if (ec)
			s_->handlers.pop_back();
	}

private:
	using handler = detail::unique_function<void(std::error_code)>;

	template <class Rep, class Period>
	static time_point deadline(std::chrono::duration<Rep, Period> after) noexcept
	{
		const detail::ns_result r = detail::to_ns(after);
		const time_point now = clock_type::now();
		if (r.status != detail::ns_status::ok ||
		    r.ns >= std::chrono::duration_cast<std::chrono::nanoseconds>(
				    time_point::max() - now).count())
			return time_point::max();
		return now + std::chrono::duration_cast<duration>(std::chrono::nanoseconds(r.ns));
	}

	struct state : std::enable_shared_from_this<state> {
		explicit state(std::weak_ptr<detail::dispatch_state> dd) noexcept
			: d(std::move(dd)) {}

		std::weak_ptr<detail::dispatch_state> d;
		time_point expiry = clock_type::now();
		std::uint64_t cookie = 0;	// the armed ONESHOT timer
		std::vector<handler> handlers;
		std::size_t last_cancelled = 0;

		std::error_code arm() noexcept
		{
			const std::shared_ptr<detail::dispatch_state> st = d.lock();
			if (!st)
				return detail::make_error(EBADF);
			std::error_code ec;
			const ukevent ev = timer_event(0, expiry, mode::oneshot, 0, ec);
			if (ec)
				return ec;
			std::weak_ptr<state> self = weak_from_this();
			cookie = st->add_slot(ev, [self](const ukevent &) {
				if (const std::shared_ptr<state> s = self.lock())
					s->expired();
			}, true, ec);
			return ec;
		}

		// The loop's callback: every pending handler, no error.
		void expired()
		{
			cookie = 0;
			std::vector<handler> now;
			now.swap(handlers);
			// If one throws, the others still run later (posted).
			struct rest {
				std::vector<handler> *v;
				std::size_t next = 0;
				std::weak_ptr<detail::dispatch_state> disp;
				~rest()
				{
					const std::shared_ptr<detail::dispatch_state> st = disp.lock();
					for (; st && next < v->size(); next++) {
						std::error_code ignored;
						st->post([h = std::move((*v)[next])]() mutable {
							h(std::error_code());
						}, ignored);
					}
				}
			} guard{&now, 0, d};
			while (guard.next < now.size()) {
				handler h = std::move(now[guard.next++]);
				h(std::error_code());
			}
		}

		std::error_code cancel_all() noexcept
		{
			last_cancelled = handlers.size();
			const std::shared_ptr<detail::dispatch_state> st = d.lock();
			if (cookie && st)
				st->remove_slot(cookie);
			cookie = 0;
			std::error_code ec;
			for (handler &h : handlers) {
				if (!st) {
					ec = detail::make_error(EBADF);
					break;
				}
				st->post([hh = std::move(h)]() mutable {
					hh(std::make_error_code(std::errc::operation_canceled));
				}, ec);
				if (ec)
					break;
			}
			handlers.clear();
			return ec;
		}
	};

	std::shared_ptr<state> s_;
};

// ----------------------------------------------------------- coroutines

#if KEVENT_HPP_HAS_COROUTINES

namespace detail {

struct task_promise_base {
	std::coroutine_handle<> continuation;
	std::stop_token token;
	dispatch_state *root = nullptr;	// a spawned task: who owns the frame
#if KEVENT_HPP_EXCEPTIONS
	std::exception_ptr error;
#endif

	std::suspend_always initial_suspend() const noexcept { return {}; }

	struct final_awaiter {
		bool await_ready() const noexcept { return false; }
		template <class P>
		std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept
		{
			task_promise_base &p = h.promise();
			if (p.continuation)
				return p.continuation;
			if (p.root) {
#if KEVENT_HPP_EXCEPTIONS
				std::exception_ptr e = std::move(p.error);
#else
				std::exception_ptr e;
#endif
				p.root->root_done(h, std::move(e));	// destroys h
			}
			return std::noop_coroutine();
		}
		void await_resume() const noexcept {}
	};
	final_awaiter final_suspend() const noexcept { return {}; }

	void unhandled_exception() noexcept
	{
#if KEVENT_HPP_EXCEPTIONS
		error = std::current_exception();
#else
		std::terminate();
#endif
	}

	void rethrow()
	{
#if KEVENT_HPP_EXCEPTIONS
		if (error)
			std::rethrow_exception(std::exchange(error, nullptr));
#endif
	}
};

template <class T>
struct task_promise : task_promise_base {
	std::optional<T> value;

	task<T> get_return_object() noexcept;
	template <class U = T>
	void return_value(U &&v)
	{
		value.emplace(std::forward<U>(v));
	}
	T take()
	{
		rethrow();
		return std::move(*value);
	}
};

template <>
struct task_promise<void> : task_promise_base {
	task<void> get_return_object() noexcept;
	void return_void() noexcept {}
	void take() { rethrow(); }
};

} // namespace detail

// A lazily started coroutine: it runs when awaited (co_await t), spawned
// (dispatcher::spawn) or run (dispatcher::run_until_complete).  Move-only;
// destroying it destroys the coroutine's frame.  An awaited task inherits
// the awaiting task's stop token unless it was given its own.
template <class T>
class [[nodiscard]] task {
	static_assert(!std::is_reference_v<T>, "kevent::task: T is an object type or void");

public:
	using promise_type = detail::task_promise<T>;
	using value_type = T;

	task() noexcept = default;
	task(task &&o) noexcept : h_(std::exchange(o.h_, {})) {}
	task &operator=(task &&o) noexcept
	{
		if (this != &o) {
			if (h_)
				h_.destroy();
			h_ = std::exchange(o.h_, {});
		}
		return *this;
	}
	task(const task &) = delete;
	task &operator=(const task &) = delete;
	~task()
	{
		if (h_)
			h_.destroy();
	}

	// Holds a coroutine that has not ended.
	explicit operator bool() const noexcept { return h_ && !h_.done(); }

	struct awaiter {
		std::coroutine_handle<promise_type> h;

		bool await_ready() const noexcept { return !h || h.done(); }
		template <class P>
		std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept
		{
			h.promise().continuation = parent;
			if constexpr (std::is_base_of_v<detail::task_promise_base, P>) {
				if (!h.promise().token.stop_possible())
					h.promise().token = parent.promise().token;
			}
			return h;
		}
		T await_resume()
		{
			if (!h)
				throw_error(EINVAL, "kevent::task: co_await on an empty task");
			return h.promise().take();
		}
	};
	awaiter operator co_await() && noexcept { return awaiter{h_}; }
	awaiter operator co_await() & noexcept { return awaiter{h_}; }

private:
	friend struct detail::task_promise<T>;
	friend class dispatcher;
	explicit task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
	std::coroutine_handle<promise_type> release() noexcept { return std::exchange(h_, {}); }

	std::coroutine_handle<promise_type> h_;
};

namespace detail {

template <class T>
task<T> task_promise<T>::get_return_object() noexcept
{
	return task<T>(std::coroutine_handle<task_promise<T>>::from_promise(*this));
}
inline task<void> task_promise<void>::get_return_object() noexcept
{
	return task<void>(std::coroutine_handle<task_promise<void>>::from_promise(*this));
}

// The stop token of the kevent::task awaiting, if it is one.
template <class P>
std::stop_token promise_token(std::coroutine_handle<P> h) noexcept
{
	if constexpr (std::is_base_of_v<task_promise_base, P>)
		return h.promise().token;
	else
		return {};
}

// Posted to the loop when a stop is requested for a waiting coroutine.
struct co_cancel_fn {
	std::weak_ptr<dispatch_state> st;
	std::uint64_t serial;
	void operator()() const noexcept
	{
		const std::shared_ptr<dispatch_state> s = st.lock();
		if (!s)
			return;
		std::error_code ignored;
		s->post([weak = st, id = serial] {
			if (const std::shared_ptr<dispatch_state> ss = weak.lock())
				ss->co_cancel(id);
		}, ignored);
	}
};

// What a waiting coroutine leaves with the loop (in its frame, as part of
// the awaitable).
struct co_waiter {
	std::weak_ptr<dispatch_state> st;
	co_kind kind = co_kind::sleep;
	ukevent ev{};			// sleep: the timer; key: type and id
	int fd = -1;			// fd: the descriptor and mask
	std::uint32_t mask = 0;
	std::uint64_t serial = 0;
	std::uint64_t cookie = 0;	// sleep: its timer slot
	bool pending = false;
	std::coroutine_handle<> h;
	std::uint64_t value = 0;
	std::error_code ec;
	std::error_code *ec_out = nullptr;
	std::optional<std::stop_token> token;	// given by the caller
	std::unique_ptr<std::stop_callback<co_cancel_fn>> cb;

	co_waiter() noexcept = default;
	co_waiter(co_waiter &&) noexcept = default;
	co_waiter &operator=(co_waiter &&) = delete;
	~co_waiter()
	{
		if (pending)
			if (const std::shared_ptr<dispatch_state> s = st.lock())
				s->co_forget(*this);
	}
};

// The awaitable of a dispatcher wait; R is what co_await gives.
template <class R>
class [[nodiscard]] co_awaitable : private co_waiter {
public:
	co_awaitable(co_awaitable &&) noexcept = default;

	bool await_ready() const noexcept { return ec.operator bool(); }	// already failed
	template <class P>
	bool await_suspend(std::coroutine_handle<P> awaiting) noexcept
	{
		const std::stop_token t = token ? *token : promise_token(awaiting);
		const std::shared_ptr<dispatch_state> s = st.lock();
		if (!s) {
			ec = make_error(EBADF);
			return false;
		}
		return s->co_start(*this, awaiting, t);
	}
	R await_resume()
	{
		cb.reset();
		if (ec) {
			if (!ec_out)
				throw_error(ec, what());
			*ec_out = ec;
			if constexpr (!std::is_void_v<R>)
				return R{};
			else
				return;
		}
		if (ec_out)
			ec_out->clear();
		if constexpr (std::is_same_v<R, poll_events>)
			return static_cast<poll_events>(static_cast<std::uint32_t>(value));
		else if constexpr (std::is_same_v<R, int>)
			return static_cast<int>(value);
		else if constexpr (!std::is_void_v<R>)
			return static_cast<R>(value);
	}

private:
	friend class ::kevent::dispatcher;
	co_awaitable(std::weak_ptr<dispatch_state> s, co_kind k, std::error_code *out,
		     std::optional<std::stop_token> t) noexcept
	{
		st = std::move(s);
		kind = k;
		ec_out = out;
		token = std::move(t);
	}

	const char *what() const noexcept
	{
		switch (kind) {
		case co_kind::sleep:
			return "kevent::dispatcher: sleep";
		case co_kind::fd:
			return "kevent::dispatcher: fd wait";
		case co_kind::key:
			break;
		}
		return "kevent::dispatcher: event wait";
	}
};

inline dispatch_state::~dispatch_state()
{
	// Destroy the suspended tasks first: their awaitables and handles find
	// this state gone (their weak_ptrs expired) and leave it alone.
	std::unordered_map<void *, std::coroutine_handle<>> r;
	r.swap(roots);
	for (auto &kv : r)
		kv.second.destroy();
}

inline void dispatch_state::root_done(std::coroutine_handle<> h, std::exception_ptr error) noexcept
{
	roots.erase(h.address());
	h.destroy();
#if KEVENT_HPP_EXCEPTIONS
	if (!error)
		return;
	try {
		std::rethrow_exception(error);
	} catch (const std::system_error &e) {
		if (e.code() == std::errc::operation_canceled)
			return;	// cancelled: it ends quietly
		if (!failure)
			failure = error;
	} catch (...) {
		if (!failure)
			failure = error;
	}
#else
	(void)error;
#endif
}

inline bool dispatch_state::co_start(co_waiter &w, std::coroutine_handle<> h,
				     const std::stop_token &token) noexcept
{
	w.h = h;
	w.ec.clear();
	if (token.stop_requested()) {
		w.ec = std::make_error_code(std::errc::operation_canceled);
		return false;
	}
	w.serial = ++next_serial;
	bool suspend = false;
	switch (w.kind) {
	case co_kind::sleep: {
		const std::uint64_t serial = w.serial;
		w.cookie = add_slot(w.ev, [this, serial](const ukevent &) {
			co_finish(serial, 0, {});
		}, true, w.ec);
		suspend = !w.ec;
		break;
	}
	case co_kind::fd:
		suspend = co_start_fd(w);
		break;
	case co_kind::key:
		suspend = co_start_key(w);
		break;
	}
	if (!suspend)
		return false;
	w.pending = true;
#if KEVENT_HPP_EXCEPTIONS
	try {
#endif
		waiters.emplace(w.serial, &w);
		if (token.stop_possible())
			w.cb = std::make_unique<std::stop_callback<co_cancel_fn>>(
				token, co_cancel_fn{weak_from_this(), w.serial});
#if KEVENT_HPP_EXCEPTIONS
	} catch (const std::bad_alloc &) {
		co_detach(w);
		w.ec = make_error(ENOMEM);
		return false;
	}
#endif
	return true;
}

inline void dispatch_state::co_finish(std::uint64_t serial, std::uint64_t value,
				      std::error_code ec) noexcept
{
	const auto it = waiters.find(serial);
	if (it == waiters.end())
		return;
	co_waiter &w = *it->second;
	waiters.erase(it);
	w.pending = false;
	w.value = value;
	w.ec = ec;
	w.h.resume();
}

// Take w out of its source (no resumption).
inline void dispatch_state::co_detach(co_waiter &w) noexcept
{
	w.pending = false;
	waiters.erase(w.serial);
	switch (w.kind) {
	case co_kind::sleep:
		if (w.cookie)
			remove_slot(w.cookie);
		w.cookie = 0;
		break;
	case co_kind::fd: {
		const auto it = fd_sources.find(w.fd);
		if (it == fd_sources.end())
			break;
		auto &v = it->second.waiters;
		v.erase(std::remove(v.begin(), v.end(), w.serial), v.end());
		const std::error_code ec = co_rearm_fd(w.fd);
		if (ec) {
			const auto again = fd_sources.find(w.fd);
			if (again != fd_sources.end()) {
				std::vector<std::uint64_t> rest;
				rest.swap(again->second.waiters);
				co_fail_later(std::move(rest), ec);
			}
		}
		break;
	}
	case co_kind::key: {
		const auto k = std::make_pair(w.ev.type, w.ev.id);
		const auto it = key_sources.find(k);
		if (it == key_sources.end())
			break;
		auto &v = it->second.waiters;
		v.erase(std::remove(v.begin(), v.end(), w.serial), v.end());
		// A process watch ends with its last waiter; signal and user
		// watches stay (their deliveries are counted for later).
		if (w.ev.type == KEVENT_PROC && v.empty()) {
			if (it->second.cookie)
				remove_slot(it->second.cookie);
			key_sources.erase(it);
		}
		break;
	}
	}
}

inline void dispatch_state::co_forget(co_waiter &w) noexcept
{
	co_detach(w);
}

inline void dispatch_state::co_cancel(std::uint64_t serial) noexcept
{
	const auto it = waiters.find(serial);
	if (it == waiters.end())
		return;
	co_waiter &w = *it->second;
	co_detach(w);
	w.ec = std::make_error_code(std::errc::operation_canceled);
	w.h.resume();
}

inline void dispatch_state::co_fail_later(std::vector<std::uint64_t> serials,
					  std::error_code ec) noexcept
{
	for (const std::uint64_t serial : serials) {
		std::error_code ignored;
		post([w = weak_from_this(), serial, ec] {
			if (const std::shared_ptr<dispatch_state> s = w.lock())
				s->co_finish(serial, 0, ec);
		}, ignored);
	}
}

// Register (or update) the ONESHOT registration of fd for the union of
// its waiters' masks; the source goes when it has no waiter.
inline std::error_code dispatch_state::co_rearm_fd(int fd) noexcept
{
	const auto it = fd_sources.find(fd);
	if (it == fd_sources.end())
		return {};
	co_fd_source &s = it->second;
	std::uint32_t want = 0;
	for (const std::uint64_t serial : s.waiters) {
		const auto w = waiters.find(serial);
		if (w != waiters.end())
			want |= w->second->mask;
	}
	if (!want) {
		if (s.cookie)
			remove_slot(s.cookie);
		fd_sources.erase(it);
		return {};
	}
	std::error_code ec;
	if (s.cookie) {
		if (want == s.armed)
			return {};
		const ukevent ev = fd_event(fd, static_cast<poll_events>(want), mode::oneshot);
		ctl_slot(s.cookie, KEVENT_CTL_MODIFY, &ev, ec);
		if (!ec) {
			s.armed = want;
			return {};
		}
		if (ec != std::errc::no_such_file_or_directory)
			return ec;
		(void)find(s.cookie, true);	// it fired meanwhile: add anew
		s.cookie = 0;
	}
	const ukevent ev = fd_event(fd, static_cast<poll_events>(want), mode::oneshot);
	const std::uint64_t cookie = add_slot(ev, [this, fd](const ukevent &e) {
		co_on_fd(fd, e);
	}, false, ec);
	if (ec)
		return ec;
	s.cookie = cookie;
	s.armed = want;
	return {};
}

inline bool dispatch_state::co_start_fd(co_waiter &w) noexcept
{
#if KEVENT_HPP_EXCEPTIONS
	try {
#endif
		fd_sources[w.fd].waiters.push_back(w.serial);
		waiters.emplace(w.serial, &w);	// for its mask
#if KEVENT_HPP_EXCEPTIONS
	} catch (const std::bad_alloc &) {
		w.ec = make_error(ENOMEM);
		co_detach(w);
		return false;
	}
#endif
	const std::error_code ec = co_rearm_fd(w.fd);
	waiters.erase(w.serial);
	if (!ec)
		return true;
	// The fd cannot be watched (closed, ...): every waiter on it fails.
	const auto it = fd_sources.find(w.fd);
	if (it != fd_sources.end()) {
		std::vector<std::uint64_t> rest;
		for (const std::uint64_t serial : it->second.waiters)
			if (serial != w.serial)
				rest.push_back(serial);
		if (it->second.cookie)
			remove_slot(it->second.cookie);
		fd_sources.erase(it);
		co_fail_later(std::move(rest), ec);
	}
	w.ec = ec;
	return false;
}

inline void dispatch_state::co_on_fd(int fd, const ukevent &ev) noexcept
{
	const auto it = fd_sources.find(fd);
	if (it == fd_sources.end())
		return;
	co_fd_source &s = it->second;
	s.cookie = 0;	// ONESHOT: it ended with this delivery
	s.armed = 0;
	const std::uint32_t fired = ev.event;
	std::vector<std::uint64_t> ready, keep;
	for (const std::uint64_t serial : s.waiters) {
		const auto w = waiters.find(serial);
		if (w == waiters.end())
			continue;
		const std::uint32_t wants = w->second->mask | KEVENT_POLL_ERR | KEVENT_POLL_HUP;
		(fired & wants ? ready : keep).push_back(serial);
	}
	s.waiters.swap(keep);
	const std::error_code ec = co_rearm_fd(fd);
	if (ec) {
		const auto again = fd_sources.find(fd);
		if (again != fd_sources.end()) {
			std::vector<std::uint64_t> rest;
			rest.swap(again->second.waiters);
			fd_sources.erase(again);
			co_fail_later(std::move(rest), ec);
		}
	}
	for (const std::uint64_t serial : ready)
		co_finish(serial, fired, {});
}

inline bool dispatch_state::co_start_key(co_waiter &w) noexcept
{
	const auto k = std::make_pair(w.ev.type, w.ev.id);
	co_key_source *s = nullptr;
#if KEVENT_HPP_EXCEPTIONS
	try {
#endif
		s = &key_sources[k];
#if KEVENT_HPP_EXCEPTIONS
	} catch (const std::bad_alloc &) {
		w.ec = make_error(ENOMEM);
		return false;
	}
#endif
	if (w.ev.type != KEVENT_PROC && s->pending) {
		w.value = std::exchange(s->pending, 0);	// came meanwhile
		return false;
	}
#if KEVENT_HPP_EXCEPTIONS
	try {
#endif
		s->waiters.push_back(w.serial);
#if KEVENT_HPP_EXCEPTIONS
	} catch (const std::bad_alloc &) {
		w.ec = make_error(ENOMEM);
		return false;
	}
#endif
	if (!s->cookie) {
		ukevent ev = w.ev;
		if (ev.type != KEVENT_PROC)
			ev.req_flags = KEVENT_REQ_DISPATCH;
		s->cookie = add_slot(ev, [this, k](const ukevent &e) { co_on_key(k, e); },
				     false, w.ec);
		s->enabled = !w.ec;
	} else if (!s->enabled) {
		ctl_slot(s->cookie, KEVENT_CTL_ENABLE, nullptr, w.ec);
		s->enabled = !w.ec;
	}
	if (!w.ec)
		return true;
	s->waiters.pop_back();
	if (s->waiters.empty() && !s->cookie)
		key_sources.erase(k);
	return false;
}

inline void dispatch_state::co_on_key(std::pair<std::uint32_t, std::uint64_t> k,
				      const ukevent &ev) noexcept
{
	const auto it = key_sources.find(k);
	if (it == key_sources.end())
		return;
	co_key_source &s = it->second;
	std::vector<std::uint64_t> ready;
	ready.swap(s.waiters);
	std::uint64_t value = ev.ret_data;
	std::error_code ec;
	if (k.first == KEVENT_PROC) {
		if (ev.ret_flags & KEVENT_RET_NOSTATUS)
			ec = make_error(ECHILD);
		key_sources.erase(it);	// the registration ended
	} else {
		s.enabled = false;	// KEVENT_REQ_DISPATCH
		if (ready.empty()) {
			s.pending += value;
			return;
		}
	}
	for (const std::uint64_t serial : ready) {
		if (waiters.find(serial) == waiters.end())
			continue;
		co_finish(serial, value, ec);
	}
}

} // namespace detail

// ---- dispatcher's coroutine members

inline void dispatcher::spawn(task<void> t)
{
	std::error_code ec;
	spawn(std::move(t), std::stop_token(), ec);
	detail::throw_if(ec, "kevent::dispatcher::spawn");
}
inline void dispatcher::spawn(task<void> t, std::error_code &ec) noexcept
{
	spawn(std::move(t), std::stop_token(), ec);
}
inline void dispatcher::spawn(task<void> t, std::stop_token token)
{
	std::error_code ec;
	spawn(std::move(t), std::move(token), ec);
	detail::throw_if(ec, "kevent::dispatcher::spawn");
}
inline void dispatcher::spawn(task<void> t, std::stop_token token, std::error_code &ec) noexcept
{
	ec.clear();
	if (!t.h_) {
		ec = detail::make_error(EINVAL);
		return;
	}
	t.h_.promise().token = std::move(token);
	post([weak = std::weak_ptr<detail::dispatch_state>(st_), owned = std::move(t)]() mutable {
		const std::shared_ptr<detail::dispatch_state> s = weak.lock();
		if (!s)
			return;
		const std::coroutine_handle<detail::task_promise<void>> h = owned.release();
		h.promise().root = s.get();
		s->roots.emplace(h.address(), h);
		h.resume();
	}, ec);
}

template <class T>
T dispatcher::run_until_complete(task<T> t, std::stop_token token)
{
	struct result {
		bool done = false;
		std::optional<std::conditional_t<std::is_void_v<T>, char, T>> value;
#if KEVENT_HPP_EXCEPTIONS
		std::exception_ptr error;
#endif
	} r;
	struct body {
		static task<void> run(task<T> inner, result &out)
		{
#if KEVENT_HPP_EXCEPTIONS
			try {
#endif
				if constexpr (std::is_void_v<T>) {
					co_await std::move(inner);
					out.value.emplace('\0');
				} else {
					out.value.emplace(co_await std::move(inner));
				}
#if KEVENT_HPP_EXCEPTIONS
			} catch (...) {
				out.error = std::current_exception();
			}
#endif
			out.done = true;
		}
	};
	task<void> outer = body::run(std::move(t), r);
	outer.h_.promise().token = std::move(token);
	outer.h_.resume();	// the frame stays with outer (not a root)
	while (!r.done) {
		run_once();
	}
#if KEVENT_HPP_EXCEPTIONS
	if (r.error)
		std::rethrow_exception(r.error);
#endif
	if constexpr (!std::is_void_v<T>)
		return std::move(*r.value);
}

// The awaitables.  Each form differs only in where the stop token and the
// error go.
template <class R>
inline detail::co_awaitable<R>
dispatcher::make_awaitable(detail::co_kind k, const ukevent &ev, int fd, std::uint32_t mask,
			   std::error_code conv, std::error_code *out,
			   std::optional<std::stop_token> token)
{
	detail::co_awaitable<R> a(st_, k, out, std::move(token));
	a.ev = ev;
	a.fd = fd;
	a.mask = mask;
	a.ec = conv;	// a conversion error fails the co_await at once
	return a;
}

template <class Rep, class Period>
inline detail::co_awaitable<void>
dispatcher::make_sleep_for(std::chrono::duration<Rep, Period> d, std::error_code *out,
			   std::optional<std::stop_token> token)
{
	// Beyond ~292 years is as good as forever (until cancelled).
	const detail::ns_result r = detail::to_ns(d);
	const std::int64_t ns = r.status == detail::ns_status::ok
		? r.ns : std::numeric_limits<std::int64_t>::max();
	const ukevent ev = make_event(KEVENT_TIMER, 0, KEVENT_TIMER_MONOTONIC,
				      KEVENT_REQ_ONESHOT, static_cast<std::uint64_t>(ns));
	return make_awaitable<void>(detail::co_kind::sleep, ev, -1, 0,
				    r.status == detail::ns_status::invalid
					    ? detail::make_error(EINVAL) : std::error_code(),
				    out, std::move(token));
}

template <class Clock, class Duration>
inline detail::co_awaitable<void>
dispatcher::make_sleep_until(std::chrono::time_point<Clock, Duration> tp, std::error_code *out,
			     std::optional<std::stop_token> token)
{
	std::error_code conv;
	const ukevent ev = timer_event(0, tp, mode::oneshot, 0, conv);
	return make_awaitable<void>(detail::co_kind::sleep, ev, -1, 0, conv, out, std::move(token));
}

template <class Rep, class Period>
detail::co_awaitable<void> dispatcher::sleep_for(std::chrono::duration<Rep, Period> d)
{
	return make_sleep_for(d, nullptr, std::nullopt);
}
template <class Rep, class Period>
detail::co_awaitable<void>
dispatcher::sleep_for(std::chrono::duration<Rep, Period> d, std::error_code &ec)
{
	return make_sleep_for(d, &ec, std::nullopt);
}
template <class Rep, class Period>
detail::co_awaitable<void>
dispatcher::sleep_for(std::chrono::duration<Rep, Period> d, std::stop_token token)
{
	return make_sleep_for(d, nullptr, std::move(token));
}
template <class Rep, class Period>
detail::co_awaitable<void>
dispatcher::sleep_for(std::chrono::duration<Rep, Period> d, std::stop_token token,
		      std::error_code &ec)
{
	return make_sleep_for(d, &ec, std::move(token));
}

template <class Clock, class Duration>
detail::co_awaitable<void>
dispatcher::sleep_until(std::chrono::time_point<Clock, Duration> tp)
{
	return make_sleep_until(tp, nullptr, std::nullopt);
}
template <class Clock, class Duration>
detail::co_awaitable<void>
dispatcher::sleep_until(std::chrono::time_point<Clock, Duration> tp, std::error_code &ec)
{
	return make_sleep_until(tp, &ec, std::nullopt);
}
template <class Clock, class Duration>
detail::co_awaitable<void>
dispatcher::sleep_until(std::chrono::time_point<Clock, Duration> tp, std::stop_token token)
{
	return make_sleep_until(tp, nullptr, std::move(token));
}
template <class Clock, class Duration>
detail::co_awaitable<void>
dispatcher::sleep_until(std::chrono::time_point<Clock, Duration> tp, std::stop_token token,
			std::error_code &ec)
{
	return make_sleep_until(tp, &ec, std::move(token));
}

#define KEVENT_HPP_CO_FORMS(R, name, arg_decl, kind, ev, fd, mask)                        \
	inline detail::co_awaitable<R> dispatcher::name(arg_decl)                         \
	{                                                                                 \
		return make_awaitable<R>(detail::co_kind::kind, ev, fd, mask, {}, nullptr, \
					 std::nullopt);                                   \
	}                                                                                 \
	inline detail::co_awaitable<R> dispatcher::name(arg_decl, std::error_code &ec)    \
	{                                                                                 \
		return make_awaitable<R>(detail::co_kind::kind, ev, fd, mask, {}, &ec,     \
					 std::nullopt);                                   \
	}                                                                                 \
	inline detail::co_awaitable<R> dispatcher::name(arg_decl, std::stop_token token)  \
	{                                                                                 \
		return make_awaitable<R>(detail::co_kind::kind, ev, fd, mask, {}, nullptr, \
					 std::move(token));                               \
	}                                                                                 \
	inline detail::co_awaitable<R> dispatcher::name(arg_decl, std::stop_token token,  \
							std::error_code &ec)              \
	{                                                                                 \
		return make_awaitable<R>(detail::co_kind::kind, ev, fd, mask, {}, &ec,     \
					 std::move(token));                               \
	}

KEVENT_HPP_CO_FORMS(poll_events, readable, int fd, fd, ukevent{}, fd, KEVENT_POLL_IN)
KEVENT_HPP_CO_FORMS(poll_events, writable, int fd, fd, ukevent{}, fd, KEVENT_POLL_OUT)
KEVENT_HPP_CO_FORMS(std::uint64_t, signal, int signo, key, signal_event(signo), -1, 0)
KEVENT_HPP_CO_FORMS(int, child_exit, pid_t pid, key, proc_event(pid), -1, 0)
KEVENT_HPP_CO_FORMS(std::uint64_t, user, std::uint64_t id, key, user_event(id), -1, 0)

#undef KEVENT_HPP_CO_FORMS

#endif // KEVENT_HPP_HAS_COROUTINES

} // namespace kevent

#endif // KEVENT_HPP
