// SPDX-License-Identifier: MIT
//
// waitset-epoll.hpp - the epoll waitset (waitset.hpp), for the epoll
// backend.
//
// Level-triggered items stay level-triggered in epoll; one reported while
// its registration cannot take it is muted by switching it to
// edge-triggered, and rearmed by switching it back (which makes epoll
// re-check it).  So consume-then-wait costs one epoll_pwait2 per round, as
// raw level-triggered epoll does.  Everything but wait()
// (waitset-epoll.cpp) is inline: each is one epoll_ctl.
#ifndef KEV_WAITSET_EPOLL_HPP
#define KEV_WAITSET_EPOLL_HPP

#include <signal.h>
#include <sys/epoll.h>
#include <time.h>

#include <cerrno>
#include <cstdint>

#include "fd.hpp"
#include "waitset.hpp"

namespace kev {

class EpollWaitset {
public:
	static constexpr const char name[] = "epoll";
	static constexpr bool lt_disarms = false;
	static constexpr bool wakeup_events = false;
	static constexpr bool dup_fds = false;

	static int probe() { return 0; }

	EpollWaitset() = default;
	EpollWaitset(const EpollWaitset &) = delete;
	EpollWaitset &operator=(const EpollWaitset &) = delete;

	int init(unsigned int /* epoll sizes itself */)
	{
		epfd_.reset(epoll_create1(EPOLL_CLOEXEC));
		return epfd_ ? 0 : errno;
	}

	int fd() const { return epfd_.get(); }
	// Closing our descriptor changes nothing a forked parent shares.
	void forget_shared() {}

	int add(int fd, uint64_t tok, uint32_t events, WatchMode mode)
	{
		epoll_event ev = item(tok, events, mode);

		if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev))
			return errno;
		return 0;
	}

	int mod(int fd, uint64_t /* the fd names the item */, uint64_t tok,
		uint32_t events, WatchMode mode)
	{
		epoll_event ev = item(tok, events, mode);

		if (epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, fd, &ev) == 0)
			return 0;
		return errno == ENOENT ? EBADF : errno;
	}

	void del(int fd, uint64_t /* tok */)
	{
		// Fails harmlessly if the caller already closed the fd.
		epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
	}

	bool mute(int fd, uint64_t tok, uint32_t events)
	{
		return mod(fd, tok, tok, events, WatchMode::edge) == 0;
	}

	void rearm(int fd, uint64_t tok, uint32_t events)
	{
		mod(fd, tok, tok, events, WatchMode::level);
	}

	void flush() {}	// epoll_ctl took effect at once

	// epoll keeps one entry per ready item, in the kernel
	unsigned int backlog() { return 0; }

	int wait(WaitEvent *out, int max, const timespec *rel,
		 const sigset_t *sigmask);
	// nothing to flush: a wait that does not sleep
	int harvest(WaitEvent *out, int max)
	{
		static constexpr timespec zero{};

		return wait(out, max, &zero, nullptr);
	}

private:
	static epoll_event item(uint64_t tok, uint32_t events, WatchMode mode)
	{
		epoll_event ev{};

		ev.events = events | (mode == WatchMode::level ? 0u : EPOLLET);
		ev.data.u64 = tok;
		return ev;
	}

	Fd epfd_;
};

} // namespace kev

#endif // KEV_WAITSET_EPOLL_HPP
