// SPDX-License-Identifier: MIT
//
// sources.hpp - KEVENT_SIGNAL (one signalfd), KEVENT_INODE (one inotify
// fd) and KEVENT_PROC (a pidfd per process) for the user-space backends.
// The backend supplies two callbacks to put fds into its wait set; the
// sources report firings to the core and know nothing of the backend.
// Every function runs under the core lock.
#ifndef KEV_SOURCES_HPP
#define KEV_SOURCES_HPP

#include <signal.h>
#include <sys/types.h>

#include <array>
#include <cstdint>

#include "core.hpp"
#include "fd.hpp"

namespace kev {

// The fds of the sources themselves, which the backend watches for good.
enum class SourceFd : uint8_t { signal, inode };

// How the sources put their fds into the backend's wait set: 0 or -1
// with errno (the fd is still the caller's).
struct SourceWatcher {
	void *ctx;
	// a source's own fd, for good
	int (*source)(void *ctx, int fd, SourceFd which);
	// a registration's fd (pidfd)
	int (*reg)(void *ctx, int fd, Reg *reg);
};

// KEVENT_SIGNAL: one signalfd for every registered signal.
class SignalSource {
public:
	SignalSource() { sigemptyset(&set_); }

	int fd() const { return fd_.get(); }
	int add(Reg &reg, const SourceWatcher &w);
	void release(Reg &reg);
	void dispatch(Core &core);

private:
	static constexpr int max_signo = 64;

	Fd fd_;
	sigset_t set_;		// the signals with a registration
	std::array<Reg *, max_signo + 1> regs_{};	// by number
};

/*
 * The inode watches of a queue by inotify watch descriptor: open
 * addressing with linear probing, at most half full.  A watch holds its
 * registration and the identity of the watched inode, to tell whether the
 * registration's fd still names it.
 */
class InodeWatches {
public:
	struct Watch {
		int wd;		// never 0: 0 marks a free slot
		Reg *reg;
		dev_t dev;
		ino_t ino;
	};

	InodeWatches() = default;
	InodeWatches(const InodeWatches &) = delete;
	InodeWatches &operator=(const InodeWatches &) = delete;
	~InodeWatches();

	Watch *find(int wd);
	// Room for one more: false (ENOMEM) with nothing changed.
	bool reserve();
	// Add w, whose wd is not in the map; reserve() made room.
	void put(const Watch &w);
	void erase(Watch *w);
	// Call fn(reg) for the registration of every watch.
	template <typename Fn> void for_each(Fn fn)
	{
		for (uint32_t i = 0; i < cap_; i++)
			if (slots_[i].wd)
				fn(*slots_[i].reg);
	}

private:
	uint32_t home(int wd) const
	{
		return (static_cast<uint32_t>(wd) * 0x9e3779b9u) >> 7 &
		       (cap_ - 1);
	}
	void place(const Watch &w);

	Watch *slots_ = nullptr;	// calloc'ed, cap_ of them
	uint32_t cap_ = 0, num_ = 0;	// cap_ a power of two, or 0
};

// KEVENT_INODE: one inotify fd; a registration's fd field is its wd.
class InodeSource {
public:
	int fd() const { return fd_.get(); }
	int add(Reg &reg, const SourceWatcher &w);
	int modify(Reg &reg, uint32_t event);
	void release(Reg &reg);
	void dispatch(Core &core);

private:
	int watch(const Reg &reg, uint32_t event, uint32_t flags);
	void forget(Reg &reg);

	Fd fd_;
	InodeWatches watches_;
};

// KEVENT_PROC: a pidfd per registration, in its fd field, which owns it.
class ProcSource {
public:
	static int add(Reg &reg, const SourceWatcher &w);
	static void fire(Core &core, Reg &reg);
	static void release(Reg &reg);
};

class Sources {
public:
	explicit Sources(const SourceWatcher &w) : watcher_(w) {}
	Sources(const Sources &) = delete;
	Sources &operator=(const Sources &) = delete;

	int signal_fd() const { return signal_.fd(); }
	int inode_fd() const { return inode_.fd(); }
	// 0 or an errno.
	int add(Reg &reg);
	// Check ev and apply it to reg; on failure reg is left as it was.
	int modify(Reg &reg, const ukevent &ev);
	void release(Reg &reg);
	// The signalfd or inotify fd is readable.
	void dispatch(Core &core, SourceFd which);
	// A registration's own fd (pidfd) is readable.
	static void fire(Core &core, Reg &reg)
	{
		if (reg.type == KEVENT_PROC)
			ProcSource::fire(core, reg);
	}
	// Close the pidfds the registrations of core own.
	static void close_reg_fds(Core &core);

private:
	SourceWatcher watcher_;
	SignalSource signal_;
	InodeSource inode_;
};

} // namespace kev

#endif // KEV_SOURCES_HPP
