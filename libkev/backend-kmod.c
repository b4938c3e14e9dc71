// SPDX-License-Identifier: MIT
/*
 * backend-kmod.c - the "kmod" backend: a thin layer over /dev/kevent.
 *
 * The kernel module keeps the registrations and writes the ring itself (from
 * its wake-up callbacks and timers), so this file only opens the device,
 * sizes and maps the ring, and turns kevent_ctl()/kevent_wait() into one
 * ioctl each.  No copying: the caller's ukevent array goes to the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define KEV_KMOD_DEV	"/dev/kevent"

static int kev_kmod_probe(void)
{
	int fd = open(KEV_KMOD_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		errno = ENODEV;
		return -1;
	}
	close(fd);
	return 0;
}

static int kev_kmod_init(struct kev_queue *q, unsigned int ring_size)
{
	struct kevent_setup s;
	void *ring;
	int fd, err;

	fd = open(KEV_KMOD_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
			errno = ENODEV;
		return -1;
	}
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.ring_size = ring_size;
	if (ioctl(fd, KEVENT_IOC_SETUP, &s) < 0)
		goto fail;
	if (s.abi_version != KEVENT_ABI_VERSION) {
		errno = ENODEV;
		goto fail;
	}
	ring = mmap(NULL, (size_t)s.ring_bytes, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED)
		goto fail;
	/*
	 * The mapping is shared with the kernel: a forked child that
	 * consumed from it would steal the parent's events.  It is not
	 * inherited at all.
	 */
	madvise(ring, (size_t)s.ring_bytes, MADV_DONTFORK);
	q->fd = fd;
	q->ring = ring;
	q->ring_bytes = (size_t)s.ring_bytes;
	q->priv = NULL;
	return 0;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static int kev_kmod_ctl(struct kev_queue *q, unsigned int cmd,
			unsigned int num, struct ukevent *events)
{
	struct kevent_ctl_args a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.cmd = cmd;
	a.num = num;
	a.events = (uint64_t)(uintptr_t)events;
	return ioctl(q->fd, KEVENT_IOC_CTL, &a);
}

static int kev_kmod_wait(struct kev_queue *q, unsigned int min_nr,
			 const struct timespec *timeout,
			 const sigset_t *sigmask)
{
	struct kevent_wait_args a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.min_nr = min_nr;
	a.timeout_ns = -1;
	if (timeout) {
		/* the front end checked tv_nsec; clamp a huge tv_sec */
		if (timeout->tv_sec >= INT64_MAX / 1000000000 - 1)
			a.timeout_ns = INT64_MAX;
		else
			a.timeout_ns = (int64_t)timeout->tv_sec * 1000000000 +
				       timeout->tv_nsec;
	}
	if (sigmask) {
		/* the kernel's sigset_t, as for epoll_pwait(2) */
		a.sigmask = (uint64_t)(uintptr_t)sigmask;
		a.sigsetsize = _NSIG / 8;
	}
	return ioctl(q->fd, KEVENT_IOC_WAIT, &a);
}

static void kev_kmod_wake(struct kev_queue *q)
{
	/* Sleepers in KEVENT_IOC_WAIT return EBADF. */
	(void)ioctl(q->fd, KEVENT_IOC_WAKE);
}

static void kev_kmod_destroy(struct kev_queue *q, bool in_child)
{
	/*
	 * Harmless in a forked child too: the parent holds its own mapping
	 * and file reference, and closing ours changes nothing it sees.
	 */
	(void)in_child;
	if (q->ring)
		munmap(q->ring, q->ring_bytes);
	q->ring = NULL;
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
}

const struct kev_backend_ops kev_kmod_ops = {
	.name = "kmod",
	.probe = kev_kmod_probe,
	.init = kev_kmod_init,
	.ctl = kev_kmod_ctl,
	.wait = kev_kmod_wait,
	.wake = kev_kmod_wake,
	.destroy = kev_kmod_destroy,
};
