// SPDX-License-Identifier: MIT
//
// waitset-epoll.cpp - the epoll waitset's wait (waitset-epoll.hpp).
#include <sys/epoll.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "waitset-epoll.hpp"

namespace kev {

namespace {

// epoll_pwait2 (Linux 5.11) for ns timeouts; epoll_pwait before that.
constinit std::atomic<bool> no_pwait2{false};

} // namespace

int EpollWaitset::wait(WaitEvent *out, int max, const timespec *rel,
		       const sigset_t *sigmask)
{
	// Straight into the caller's array: WaitEvent is epoll_event.
	if (!no_pwait2.load(std::memory_order_relaxed)) {
		const int n = epoll_pwait2(epfd_.get(), out, max, rel, sigmask);

		if (n >= 0 || errno != ENOSYS)
			return n;
		no_pwait2.store(true, std::memory_order_relaxed);
	}
	int ms = -1;
	if (rel) {
		const int64_t t = int64_t{rel->tv_sec} * 1000 +
				  (rel->tv_nsec + 999999) / 1000000;

		ms = t > INT32_MAX ? INT32_MAX : static_cast<int>(t);
	}
	return epoll_pwait(epfd_.get(), out, max, ms, sigmask);
}

} // namespace kev
