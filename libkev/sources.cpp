// SPDX-License-Identifier: MIT
//
// sources.cpp - signals, file changes and process exit for the user-space
// backends.  See sources.hpp.  Every function runs under the core lock.
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sources.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace kev {

// ---- KEVENT_SIGNAL

int SignalSource::add(Reg &reg, const SourceWatcher &w)
{
	if (reg.id == 0 || reg.id > max_signo || reg.event)
		return EINVAL;
	const int signo = static_cast<int>(reg.id);
	if (signo == SIGKILL || signo == SIGSTOP)
		return EINVAL;
	// An unblocked signal could go to a handler instead of the queue.
	sigset_t blocked;
	if (pthread_sigmask(SIG_BLOCK, nullptr, &blocked) ||
	    sigismember(&blocked, signo) != 1)
		return EINVAL;
	sigaddset(&set_, signo);
	// With fd_ open, signalfd changes its set and returns it again.
	const int fd = signalfd(fd_.get(), &set_, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		const int err = errno;

		sigdelset(&set_, signo);
		return err;
	}
	if (!fd_) {
		Fd created(fd);

		if (w.source(w.ctx, fd, SourceFd::signal) < 0) {
			const int err = errno;

			sigdelset(&set_, signo);
			return err;	// created closes it
		}
		fd_ = std::move(created);
	}
	regs_[static_cast<size_t>(signo)] = &reg;
	return 0;
}

void SignalSource::release(Reg &reg)
{
	const int signo = static_cast<int>(reg.id);

	regs_[static_cast<size_t>(signo)] = nullptr;
	sigdelset(&set_, signo);
	// The caller's signal mask is never touched.
	if (fd_)
		signalfd(fd_.get(), &set_, SFD_NONBLOCK | SFD_CLOEXEC);
}

void SignalSource::dispatch(Core &core)
{
	signalfd_siginfo si[16];
	ssize_t n;

	while ((n = read(fd_.get(), si, sizeof(si))) > 0) {
		const size_t cnt = static_cast<size_t>(n) / sizeof(si[0]);

		for (size_t i = 0; i < cnt; i++) {
			const uint32_t s = si[i].ssi_signo;

			if (s < regs_.size() && regs_[s])
				core.fire(regs_[s], 0, 1);
		}
		if (cnt < sizeof(si) / sizeof(si[0]))
			break;
	}
}

// ---- KEVENT_INODE: the masks, and the watches by wd

namespace {

struct InodeBits {
	uint32_t kev, in;
};

constexpr std::array<InodeBits, 7> inode_bits = {{
	{KEVENT_INODE_CREATE, IN_CREATE},
	{KEVENT_INODE_DELETE, IN_DELETE},
	{KEVENT_INODE_MODIFY, IN_MODIFY},
	{KEVENT_INODE_ATTRIB, IN_ATTRIB},
	{KEVENT_INODE_MOVE, IN_MOVED_FROM | IN_MOVED_TO},
	{KEVENT_INODE_DELETE_SELF, IN_DELETE_SELF},
	{KEVENT_INODE_MOVE_SELF, IN_MOVE_SELF},
}};

constexpr uint32_t to_inotify(uint32_t mask)
{
	uint32_t in = 0;

	for (const InodeBits &b : inode_bits)
		if (mask & b.kev)
			in |= b.in;
	return in;
}

constexpr uint32_t from_inotify(uint32_t in)
{
	uint32_t mask = 0;

	for (const InodeBits &b : inode_bits)
		if (in & b.in)
			mask |= b.kev;
	return mask;
}

static_assert(to_inotify(KEVENT_INODE_MASK) ==
	      (IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_MOVE |
	       IN_DELETE_SELF | IN_MOVE_SELF),
	      "every KEVENT_INODE bit has its inotify bits");
static_assert(from_inotify(to_inotify(KEVENT_INODE_MASK)) ==
	      KEVENT_INODE_MASK, "and back");

} // namespace

InodeWatches::~InodeWatches()
{
	std::free(slots_);
}

InodeWatches::Watch *InodeWatches::find(int wd)
{
	if (!cap_ || wd <= 0)
		return nullptr;
	for (uint32_t i = home(wd);; i = (i + 1) & (cap_ - 1)) {
		if (slots_[i].wd == wd)
			return &slots_[i];
		if (!slots_[i].wd)
			return nullptr;
	}
}

void InodeWatches::place(const Watch &w)
{
	uint32_t i = home(w.wd);

	while (slots_[i].wd)
		i = (i + 1) & (cap_ - 1);
	slots_[i] = w;
}

bool InodeWatches::reserve()
{
	if (2 * (num_ + 1) <= cap_)
		return true;
	const uint32_t cap = cap_ ? cap_ * 2 : 16, old_cap = cap_;
	Watch *const old = slots_;
	auto *slots = static_cast<Watch *>(std::calloc(cap, sizeof(Watch)));

	if (!slots)
		return false;
	slots_ = slots;
	cap_ = cap;
	for (uint32_t i = 0; i < old_cap; i++)
		if (old[i].wd)
			place(old[i]);
	std::free(old);
	return true;
}

void InodeWatches::put(const Watch &w)
{
	place(w);
	num_++;
}

// Remove a slot, shifting back the ones its removal would cut off.
void InodeWatches::erase(Watch *w)
{
	const uint32_t mask = cap_ - 1;
	uint32_t i = static_cast<uint32_t>(w - slots_), j = i;

	num_--;
	for (;;) {
		slots_[i].wd = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (!slots_[j].wd)
				return;
			const uint32_t h = home(slots_[j].wd);
			// j may move to i if its home is not in (i, j]
			if (i <= j ? (h <= i || h > j) : (h <= i && h > j))
				break;
		}
		slots_[i] = slots_[j];
		i = j;
	}
}

// ---- KEVENT_INODE

void InodeSource::forget(Reg &reg)
{
	InodeWatches::Watch *w = watches_.find(reg.fd);

	if (w && w->reg == &reg)
		watches_.erase(w);
	reg.fd = -1;
}

/*
 * The wd of a registration.  inotify has one watch per inode and instance,
 * so two registrations of the same inode (through two fds) would share a
 * wd: IN_MASK_CREATE refuses the second with EEXIST, one registration per
 * inode per queue.  A wd, or minus an errno.
 */
int InodeSource::watch(const Reg &reg, uint32_t event, uint32_t flags)
{
	char path[64];

	std::snprintf(path, sizeof(path), "/proc/self/fd/%d",
		      static_cast<int>(reg.id));
	// IN_ATTRIB always: a file's link count falling to 0 is deletion
	const int wd = inotify_add_watch(fd_.get(), path,
					 to_inotify(event) | IN_ATTRIB | flags);
	if (wd < 0)
		return -(errno == ENOENT ? EBADF : errno);
	return wd;
}

int InodeSource::add(Reg &reg, const SourceWatcher &w)
{
	struct stat st;

	if (fstat(static_cast<int>(reg.id), &st) < 0)
		return EBADF;
	if (!reg.event)
		return EINVAL;
	if (!fd_) {
		Fd created(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));

		if (!created)
			return errno;
		if (w.source(w.ctx, created.get(), SourceFd::inode) < 0)
			return errno;	// created closes it
		fd_ = std::move(created);
	}
	if (!watches_.reserve())
		return ENOMEM;
	const int wd = watch(reg, reg.event, IN_MASK_CREATE);
	if (wd < 0)
		return -wd;
	watches_.put({wd, &reg, st.st_dev, st.st_ino});
	reg.fd = wd;
	return 0;
}

/*
 * The registration's fd may have been closed and its number given to
 * another file: the watch is changed only while the fd still names the
 * watched inode (inotify watches inodes, so that is exact).  Else EBADF,
 * and neither this watch nor another registration's is touched.
 */
int InodeSource::modify(Reg &reg, uint32_t event)
{
	struct stat st;

	if (!event)
		return EINVAL;
	if (reg.fd < 0)
		return 0;	// already gone; delivered soon
	const InodeWatches::Watch *w = watches_.find(reg.fd);
	if (!w || w->reg != &reg)
		return EBADF;
	if (fstat(static_cast<int>(reg.id), &st) < 0 || st.st_dev != w->dev ||
	    st.st_ino != w->ino)
		return EBADF;
	const int wd = watch(reg, event, 0);
	if (wd < 0)
		return -wd;
	if (wd != reg.fd) {
		// the fd was swapped under us meanwhile: undo, refuse
		if (!watches_.find(wd))
			inotify_rm_watch(fd_.get(), wd);
		return EBADF;
	}
	return 0;
}

void InodeSource::release(Reg &reg)
{
	if (reg.fd < 0)
		return;
	inotify_rm_watch(fd_.get(), reg.fd);
	forget(reg);
}

namespace {

// Has the watched file lost its last link?  (Its fd is still open.)
bool inode_unlinked(const Reg &reg)
{
	struct stat st;

	return fstat(static_cast<int>(reg.id), &st) == 0 &&
	       !S_ISDIR(st.st_mode) && st.st_nlink == 0;
}

} // namespace

void InodeSource::dispatch(Core &core)
{
	alignas(inotify_event) char buf[4096];
	ssize_t n;

	while ((n = read(fd_.get(), buf, sizeof(buf))) > 0) {
		const char *p = buf;

		while (p < buf + n) {
			inotify_event ie;

			// the name that follows is of no interest
			std::memcpy(&ie, p, sizeof(ie));
			p += sizeof(ie) + ie.len;
			if (ie.mask & IN_Q_OVERFLOW) {
				watches_.for_each([&core](Reg &reg) {
					reg.ret_flags |= KEVENT_RET_OVERFLOW;
					core.fire(&reg, 0, 0);
				});
				continue;
			}
			InodeWatches::Watch *w = watches_.find(ie.wd);
			if (!w)
				continue;
			Reg &reg = *w->reg;
			if (ie.mask & IN_IGNORED) {
				// The watch is gone: so is the registration.
				reg.ret_flags |= KEVENT_RET_GONE |
						 KEVENT_RET_REMOVED;
				forget(reg);
				core.fire(&reg, reg.event &
					      from_inotify(ie.mask), 0);
				continue;
			}
			if ((ie.mask & IN_ATTRIB) && inode_unlinked(reg)) {
				/*
				 * Unlinked while a descriptor keeps it alive:
				 * inotify would say so only at the last close.
				 */
				inotify_rm_watch(fd_.get(), reg.fd);
				forget(reg);
				reg.ret_flags |= KEVENT_RET_GONE |
						 KEVENT_RET_REMOVED;
				core.fire(&reg, reg.event &
					      (KEVENT_INODE_DELETE_SELF |
					       from_inotify(ie.mask)), 0);
				continue;
			}
			const uint32_t mask = from_inotify(ie.mask) & reg.event;
			if (mask)
				core.fire(&reg, mask, 0);
		}
	}
}

// ---- KEVENT_PROC

int ProcSource::add(Reg &reg, const SourceWatcher &w)
{
	if (reg.id == 0 || reg.id > static_cast<uint64_t>(INT32_MAX))
		return ESRCH;
	if (!reg.event)
		reg.event = KEVENT_PROC_EXIT;
	Fd fd(static_cast<int>(syscall(SYS_pidfd_open,
				       static_cast<pid_t>(reg.id), 0)));
	if (!fd)
		return errno;
	if (fcntl(fd.get(), F_SETFD, FD_CLOEXEC) < 0 ||
	    w.reg(w.ctx, fd.get(), &reg) < 0)
		return errno;	// fd closes it
	reg.fd = fd.release();	// the registration's now
	return 0;
}

void ProcSource::fire(Core &core, Reg &reg)
{
	siginfo_t si;

	if (reg.ret_flags & KEVENT_RET_REMOVED)
		return;
	std::memset(&si, 0, sizeof(si));
	if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(reg.fd),
		   &si, WEXITED | WNOWAIT | WNOHANG) == 0) {
		if (si.si_pid == 0)
			return;		// not exited yet: spurious
		switch (si.si_code) {
		case CLD_EXITED:
			reg.count = static_cast<uint64_t>(
				(si.si_status & 0xff) << 8);
			break;
		case CLD_KILLED:
			reg.count = static_cast<uint64_t>(si.si_status & 0x7f);
			break;
		case CLD_DUMPED:
			reg.count = static_cast<uint64_t>(
				(si.si_status & 0x7f) | 0x80);
			break;
		default:
			return;		// stopped/continued: not an exit
		}
	} else {
		// Not our child (ECHILD), or already reaped.
		reg.count = 0;
		reg.ret_flags |= KEVENT_RET_NOSTATUS;
	}
	reg.ret_flags |= KEVENT_RET_REMOVED;
	core.fire(&reg, KEVENT_PROC_EXIT, 0);
}

void ProcSource::release(Reg &reg)
{
	if (reg.fd >= 0)
		close(reg.fd);	// the backend took it out of its set
	reg.fd = -1;
}

// ---- all of them

int Sources::add(Reg &reg)
{
	switch (reg.type) {
	case KEVENT_SIGNAL:
		return signal_.add(reg, watcher_);
	case KEVENT_INODE:
		return inode_.add(reg, watcher_);
	case KEVENT_PROC:
		return ProcSource::add(reg, watcher_);
	}
	return EINVAL;
}

int Sources::modify(Reg &reg, const ukevent &ev)
{
	uint32_t event = ev.event;
	int err = 0;

	switch (reg.type) {
	case KEVENT_SIGNAL:
		err = event ? EINVAL : 0;
		break;
	case KEVENT_INODE:
		err = inode_.modify(reg, event);
		break;
	case KEVENT_PROC:
		if (!event)
			event = KEVENT_PROC_EXIT;
		break;
	default:
		err = EINVAL;
	}
	if (err)
		return err;
	reg.event = event;
	reg.req_flags = static_cast<uint16_t>(ev.req_flags);
	reg.data = ev.data;
	reg.user = ev.user;
	return 0;
}

void Sources::release(Reg &reg)
{
	switch (reg.type) {
	case KEVENT_SIGNAL:
		signal_.release(reg);
		break;
	case KEVENT_INODE:
		inode_.release(reg);
		break;
	case KEVENT_PROC:
		ProcSource::release(reg);
		break;
	}
}

void Sources::dispatch(Core &core, SourceFd which)
{
	if (which == SourceFd::signal)
		signal_.dispatch(core);
	else
		inode_.dispatch(core);
}

void Sources::close_reg_fds(Core &core)
{
	core.for_each([](Reg &reg) {
		if (reg.type == KEVENT_PROC)
			ProcSource::release(reg);
	});
}

} // namespace kev
