// SPDX-License-Identifier: MIT
//
// backend-kmod.cpp - the "kmod" backend: a thin layer over /dev/kevent.
//
// The kernel module keeps the registrations and writes the ring itself
// (from its wake-up callbacks and timers), so this file only opens the
// device, sizes and maps the ring, and turns kevent_ctl()/kevent_wait()
// into one ioctl each.  No copying: the caller's ukevent array goes to the
// kernel.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "fd.hpp"
#include "internal.hpp"
#include "mapping.hpp"

namespace kev {

namespace {

constexpr const char device[] = "/dev/kevent";
constexpr int64_t ns_per_s = 1000000000;

int probe()
{
	if (!Fd(open(device, O_RDWR | O_CLOEXEC))) {
		errno = ENODEV;
		return -1;
	}
	return 0;
}

int init(kev_queue *q, unsigned int ring_size)
{
	Fd dev(open(device, O_RDWR | O_CLOEXEC));

	if (!dev) {
		if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
			errno = ENODEV;
		return -1;
	}
	kevent_setup s{};
	s.size = sizeof(s);
	s.ring_size = ring_size;
	if (ioctl(dev.get(), KEVENT_IOC_SETUP, &s) < 0)
		return -1;	// dev closes the device (errno kept)
	if (s.abi_version != KEVENT_ABI_VERSION) {
		errno = ENODEV;
		return -1;
	}
	const auto bytes = static_cast<size_t>(s.ring_bytes);
	Mapping ring(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
			  dev.get(), 0), bytes);
	if (!ring)
		return -1;
	/*
	 * The mapping is shared with the kernel: a forked child that
	 * consumed from it would steal the parent's events.  It is not
	 * inherited at all.
	 */
	madvise(ring.get(), bytes, MADV_DONTFORK);
	q->ring_bytes = bytes;
	q->ring = static_cast<kevent_ring *>(ring.release());
	q->fd = dev.release();	// the queue's now: destroy() closes both
	q->priv = nullptr;
	return 0;
}

int ctl(kev_queue *q, unsigned int cmd, unsigned int num, ukevent *events)
{
	kevent_ctl_args a{};

	a.size = sizeof(a);
	a.cmd = cmd;
	a.num = num;
	a.events = reinterpret_cast<uintptr_t>(events);
	return ioctl(q->fd, KEVENT_IOC_CTL, &a);
}

int wait(kev_queue *q, unsigned int min_nr, const timespec *timeout,
	 const sigset_t *sigmask)
{
	kevent_wait_args a{};

	a.size = sizeof(a);
	a.min_nr = min_nr;
	a.timeout_ns = -1;
	if (timeout) {
		// the front end checked tv_nsec; clamp a huge tv_sec
		if (timeout->tv_sec >= INT64_MAX / ns_per_s - 1)
			a.timeout_ns = INT64_MAX;
		else
			a.timeout_ns = int64_t{timeout->tv_sec} * ns_per_s +
				       timeout->tv_nsec;
	}
	if (sigmask) {
		// the kernel's sigset_t, as for epoll_pwait(2)
		a.sigmask = reinterpret_cast<uintptr_t>(sigmask);
		a.sigsetsize = _NSIG / 8;
	}
	return ioctl(q->fd, KEVENT_IOC_WAIT, &a);
}

/*
 * A module older than the options answers ENOTTY: EOPNOTSUPP says what
 * that means to the caller.
 */
int opt_ioctl(kev_queue *q, unsigned long req, kevent_opt_args &a)
{
	if (ioctl(q->fd, req, &a) < 0) {
		if (errno == ENOTTY)
			errno = EOPNOTSUPP;
		return -1;
	}
	return 0;
}

int setopt(kev_queue *q, unsigned int opt, uint64_t value)
{
	kevent_opt_args a{};

	a.size = sizeof(a);
	a.opt = opt;
	a.value = value;
	return opt_ioctl(q, KEVENT_IOC_SETOPT, a);
}

int getopt(kev_queue *q, unsigned int opt, uint64_t *value)
{
	kevent_opt_args a{};

	a.size = sizeof(a);
	a.opt = opt;
	if (opt_ioctl(q, KEVENT_IOC_GETOPT, a) < 0)
		return -1;
	*value = a.value;
	return 0;
}

void wake(kev_queue *q)
{
	// Sleepers in KEVENT_IOC_WAIT return EBADF.
	(void)ioctl(q->fd, KEVENT_IOC_WAKE);
}

/*
 * Harmless in a forked child too: the parent holds its own mapping and
 * file reference, and closing ours changes nothing it sees.
 */
void destroy(kev_queue *q, bool /* in_child */)
{
	Mapping(q->ring, q->ring_bytes).reset();
	Fd(q->fd).reset();
	q->ring = nullptr;
	q->fd = -1;
}

} // namespace

} // namespace kev

const kev_backend_ops kev_kmod_ops = {
	.name = "kmod",
	.probe = kev::probe,
	.init = kev::init,
	.ctl = kev::ctl,
	.wait = kev::wait,
	.setopt = kev::setopt,
	.getopt = kev::getopt,
	.wake = kev::wake,
	.destroy = kev::destroy,
};
