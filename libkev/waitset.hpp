// SPDX-License-Identifier: MIT
//
// waitset.hpp - what the user-space backend (ubackend.cpp) needs from the
// kernel facility it sleeps on: epoll (waitset-epoll.hpp) or io_uring
// (waitset-uring.hpp).  A waitset watches fds, each under a 64-bit token,
// and reports (token, revents) pairs.  It knows nothing of registrations.
//
// The backend takes its waitset as a template parameter (one backend per
// waitset, doc/decisions.md): no table of operations, no indirect calls.
// A waitset W is a class with
//   static constexpr const char name[];   "epoll", "uring"
//   static int probe();                   0 if usable here, else -1 with
//                                         errno = ENODEV
//   W();  int init(unsigned int ring_size);
//                                         0 or an errno; ring_size (the
//                                         queue's ring) hints how much is
//                                         watched; ~W() undoes either
//   int fd() const;                       pollable: readable when events
//                                         are pending
//   void forget_shared();                 in a forked child, before ~W():
//                                         change nothing the parent shares
//   static constexpr bool lt_disarms, wakeup_events, dup_fds;
//                                         (below)
//   and the members add, mod, del, mute (only without lt_disarms), rearm,
//   flush, backlog and wait, whose meaning is this:
//
//   int add(int fd, uint64_t tok, uint32_t events, WatchMode mode);
//	Watch fd.  0 or an errno; EPERM means the file cannot be waited for
//	(a regular file under epoll): the caller treats it as always ready.
//   int mod(int fd, uint64_t old_tok, uint64_t tok, uint32_t events,
//	     WatchMode mode);
//	Change what fd is watched for, and its token (old_tok before).
//   void del(int fd, uint64_t tok);
//   bool mute(int fd, uint64_t tok, uint32_t events);
//	A level-triggered item was reported while its registration cannot
//	take it (entry in the ring, or disabled): stop reporting it until
//	rearm().  Returns whether it is now muted.
//   void rearm(int fd, uint64_t tok, uint32_t events);
//   void flush();
//	Hand queued changes to the kernel now (end of a kevent_ctl batch,
//	before a wait()).  Never left to the call that sleeps: a signal
//	must end that one with EINTR.
//   int harvest(WaitEvent *evs, int max);
//	flush() and then wait() with a zero timeout, in as few system calls
//	as the facility allows (io_uring: one io_uring_enter that submits
//	and reaps).  Called under the core lock, unlike wait().
//   unsigned int backlog();
//	Events already queued for the next wait() (a harvest's backlog).
//   int wait(WaitEvent *evs, int max, const timespec *rel,
//	      const sigset_t *sigmask);
//	Sleep until something is reported (rel null: no limit; a zero rel
//	does not sleep); the number of events, at most max, or -1 with
//	errno (EINTR ...).  Everything ready is reported, oldest first,
//	when it fits in max.
//
// Locking: everything but wait() is called under the queue's core lock.
// wait() is called without it and must not touch what the others change.
#ifndef KEV_WAITSET_HPP
#define KEV_WAITSET_HPP

#include <sys/epoll.h>

#include <cstdint>

namespace kev {

enum class WatchMode : uint8_t {
	level,	// reported while ready
	edge,	// reported on new activity
	/*
	 * Reported on new activity, at least once per watch: a waitset may
	 * end the watch after a report (w_ended), and the caller then
	 * watches again.  For internal fds whose handler drains them, so that
	 * a source firing faster than it is harvested (a timer of 1 us)
	 * cannot pile up reports (io_uring posts a completion per wake-up).
	 */
	once,
};

/*
 * A reported event has the layout of struct epoll_event, so that the epoll
 * waitset hands epoll_pwait2()'s array over without a copy: data.u64 is
 * the token, events the POLLIN ... bits (the same values as
 * KEVENT_POLL_*), plus w_ended when the watch stopped (io_uring ends a
 * multishot poll when its completion queue is full, and cancels every
 * poll of a thread that exits, reported with no other bit): the item must
 * be watched again.  w_ended is EPOLLONESHOT, which epoll never reports.
 */
using WaitEvent = epoll_event;
inline constexpr uint32_t w_ended = EPOLLONESHOT;

/*
 * The three properties a waitset states (static constexpr bool):
 *   lt_disarms     a reported level item is disarmed by itself (no mute());
 *   wakeup_events  it reports the events a wake-up named (io_uring), not
 *                  what the file says: a socket names PRI with any data, so
 *                  PRI must be confirmed;
 *   dup_fds        items are not keyed by descriptor number (io_uring): the
 *                  backend watches a duplicate of each POLL fd, its own
 *                  until REMOVE, so that re-watching never resolves a
 *                  number the caller may have reused.
 */

} // namespace kev

#endif // KEV_WAITSET_HPP
