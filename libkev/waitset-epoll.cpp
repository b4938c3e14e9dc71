// SPDX-License-Identifier: MIT
//
// waitset-epoll.cpp - the epoll waitset, for the epoll backend.
//
// Level-triggered items stay level-triggered in epoll; one reported while
// its registration cannot take it is muted by switching it to
// edge-triggered, and rearmed by switching it back (which makes epoll
// re-check it).  So consume-then-wait costs one epoll_pwait2 per round, as
// raw level-triggered epoll does.
#include <sys/epoll.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "fd.hpp"
#include "waitset.hpp"

namespace kev {

namespace {

// epoll_pwait2 (Linux 5.11) for ns timeouts; epoll_pwait before that.
constinit std::atomic<bool> no_pwait2{false};

class EpollWaitset {
public:
	static constexpr const char name[] = "epoll";

	static int probe() { return 0; }

	static int init(EpollWaitset *w, unsigned int /* epoll sizes itself */)
	{
		w->epfd_.reset(epoll_create1(EPOLL_CLOEXEC));
		if (!w->epfd_)
			return errno;
		w->ws_.ops = &kev_waitset_epoll;
		w->ws_.fd = w->epfd_.get();
		return 0;
	}

	kev_waitset *base() { return &ws_; }
	// Closing our descriptor changes nothing a forked parent shares.
	void forget_shared() {}

	int add(int fd, uint64_t tok, uint32_t events, kev_wmode mode)
	{
		epoll_event ev = item(tok, events, mode);

		if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev))
			return errno;
		return 0;
	}

	int mod(int fd, uint64_t /* the fd names the item */, uint64_t tok,
		uint32_t events, kev_wmode mode)
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
		return mod(fd, tok, tok, events, KEV_W_EDGE) == 0;
	}

	void rearm(int fd, uint64_t tok, uint32_t events)
	{
		mod(fd, tok, tok, events, KEV_W_LEVEL);
	}

	void flush() {}	// epoll_ctl took effect at once

	// epoll keeps one entry per ready item, in the kernel
	unsigned int backlog() { return 0; }

	int wait(kev_wevent *out, int max, const timespec *rel,
		 const sigset_t *sigmask)
	{
		// Straight into the caller's array: kev_wevent is epoll_event.
		if (!no_pwait2.load(std::memory_order_relaxed)) {
			const int n = epoll_pwait2(epfd_.get(), out, max, rel,
						   sigmask);
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

private:
	static epoll_event item(uint64_t tok, uint32_t events, kev_wmode mode)
	{
		epoll_event ev{};

		ev.events = events | (mode == KEV_W_LEVEL ? 0u : EPOLLET);
		ev.data.u64 = tok;
		return ev;
	}

	kev_waitset ws_{};	// first: what ubackend.c sees
	Fd epfd_;
};

} // namespace

} // namespace kev

extern "C" const kev_waitset_ops kev_waitset_epoll =
	kev::WaitsetOps<kev::EpollWaitset>::make();
