/* SPDX-License-Identifier: MIT */
/*
 * waitset.h - what the user-space backend (ubackend.c) needs from the
 * kernel facility it sleeps on: epoll (waitset-epoll.cpp) or io_uring
 * (waitset-uring.cpp).  A waitset watches fds, each under a 64-bit token, and
 * reports (token, revents) pairs.  It knows nothing of registrations.
 *
 * Locking: everything but wait() is called under the queue's core lock.
 * wait() is called without it and must not touch what the others change.
 */
#ifndef KEV_WAITSET_H
#define KEV_WAITSET_H

#include <sys/epoll.h>

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

enum kev_wmode {
	KEV_W_LEVEL,	/* reported while ready */
	KEV_W_EDGE,	/* reported on new activity */
	/*
	 * Reported on new activity, at least once per watch: a waitset may
	 * end the watch after a report (KEV_W_ENDED), and the caller then
	 * watches again.  For internal fds whose handler drains them, so that
	 * a source firing faster than it is harvested (a timer of 1 us)
	 * cannot pile up reports (io_uring posts a completion per wake-up).
	 */
	KEV_W_ONCE,
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
	 * Hand queued changes to the kernel now (end of a kevent_ctl batch,
	 * before a wait()).  Never left to the call that sleeps: a signal
	 * must end that one with EINTR.
	 */
	void (*flush)(struct kev_waitset *ws);
	/* Events already queued for the next wait() (a harvest's backlog). */
	unsigned int (*backlog)(struct kev_waitset *ws);
	/*
	 * Sleep until something is reported (rel NULL: no limit; a zero rel
	 * does not sleep); the number of events, at most max, or -1 with
	 * errno (EINTR ...).  Everything ready is reported, oldest first,
	 * when it fits in max.
	 */
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
	/*
	 * Items are not keyed by descriptor number (io_uring): the backend
	 * watches a duplicate of each POLL fd, its own until REMOVE, so that
	 * re-watching never resolves a number the caller may have reused.
	 */
	bool dup_fds;
};

extern const struct kev_waitset_ops kev_waitset_epoll;
extern const struct kev_waitset_ops kev_waitset_uring;

#ifdef __cplusplus
}
#endif

#endif /* KEV_WAITSET_H */
