/* SPDX-License-Identifier: MIT */
/*
 * waitset.h - what the user-space backend (ubackend.c) needs from the
 * kernel facility it sleeps on: epoll (waitset-epoll.c) or io_uring
 * (waitset-uring.c).  A waitset watches fds, each under a 64-bit token, and
 * reports (token, revents) pairs.  It knows nothing of registrations.
 *
 * Locking: everything but wait() is called under the queue's core lock.
 * wait() is called without it and must not touch what the others change.
 */
#ifndef KEV_WAITSET_H
#define KEV_WAITSET_H

#include <sys/epoll.h>

#include "internal.h"

enum kev_wmode {
	KEV_W_LEVEL,	/* reported while ready */
	KEV_W_EDGE,	/* reported on new activity */
};

/*
 * A reported event has the layout of struct epoll_event, so that the epoll
 * waitset hands epoll_pwait2()'s array over without a copy: data.u64 is
 * the token, events the POLLIN ... bits (the same values as
 * KEVENT_POLL_*), plus KEV_W_ENDED when the watch stopped (io_uring ends a
 * multishot poll when its completion queue is full, and cancels every
 * poll of a thread that exits, reported with no other bit): the item must
 * be watched again.  KEV_W_ENDED is EPOLLONESHOT, which epoll never
 * reports.
 */
#define kev_wevent	epoll_event
#define KEV_W_ENDED	EPOLLONESHOT

struct kev_waitset;

struct kev_waitset_ops {
	const char *name;
	/* 0 if usable here, else -1 with errno = ENODEV */
	int (*probe)(void);
	/* ring_size: the queue's ring, a hint for how much is watched */
	struct kev_waitset *(*create)(unsigned int ring_size);
	void (*destroy)(struct kev_waitset *ws, bool in_child);
	/*
	 * Watch fd.  0 or an errno; EPERM means the file cannot be waited for
	 * (a regular file under epoll): the caller treats it as always ready.
	 */
	int (*add)(struct kev_waitset *ws, int fd, uint64_t tok,
		   uint32_t events, enum kev_wmode mode);
	/* Change what fd is watched for, and its token (old_tok before). */
	int (*mod)(struct kev_waitset *ws, int fd, uint64_t old_tok,
		   uint64_t tok, uint32_t events, enum kev_wmode mode);
	void (*del)(struct kev_waitset *ws, int fd, uint64_t tok);
	/*
	 * A level-triggered item was reported while its registration cannot
	 * take it (entry in the ring, or disabled): stop reporting it until
	 * rearm().  Returns whether it is now muted.  NULL for a waitset
	 * whose level items disarm themselves when reported (lt_disarms).
	 */
	bool (*mute)(struct kev_waitset *ws, int fd, uint64_t tok,
		     uint32_t events);
	void (*rearm)(struct kev_waitset *ws, int fd, uint64_t tok,
		      uint32_t events);
	/*
	 * Hand queued changes to the kernel: at once (end of a kevent_ctl
	 * batch), or, with now false, as part of the coming wait() (called
	 * under the lock right before it).
	 */
	void (*flush)(struct kev_waitset *ws, bool now);
	/* Sleep; the number of events, or -1 with errno (EINTR ...). */
	int (*wait)(struct kev_waitset *ws, struct kev_wevent *evs, int max,
		    const struct timespec *rel, const sigset_t *sigmask);
};

struct kev_waitset {
	const struct kev_waitset_ops *ops;
	int fd;			/* pollable: readable when events are pending */
	bool lt_disarms;	/* a reported level item is disarmed by itself */
	/*
	 * Reports the events a wake-up named (io_uring), not what the file
	 * says: a socket names PRI with any data, so PRI must be confirmed.
	 */
	bool wakeup_events;
};

extern const struct kev_waitset_ops kev_waitset_epoll;
extern const struct kev_waitset_ops kev_waitset_uring;

#endif /* KEV_WAITSET_H */
