// SPDX-License-Identifier: MIT
//
// clock.hpp - the clocks of timers and statistics, and reading them.
#ifndef KEV_CLOCK_HPP
#define KEV_CLOCK_HPP

#include <cstdint>

#include <kevent.h>

namespace kev {

// The clock of a timer: the low bits of its event word.
enum class Clock : uint8_t {
	monotonic = KEVENT_TIMER_MONOTONIC,
	realtime = KEVENT_TIMER_REALTIME,
	boottime = KEVENT_TIMER_BOOTTIME,
};
inline constexpr unsigned int num_clocks = 3;

// The time on clock, in ns (timers.cpp).
uint64_t clock_now(Clock clock);

} // namespace kev

#endif // KEV_CLOCK_HPP
