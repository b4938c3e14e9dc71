/* SPDX-License-Identifier: MIT */
/*
 * timers.h - the C facade of kev::Timers (timers.hpp), for ubackend.c while
 * it is C (doc/decisions.md, "The implementation language"): goes when
 * ubackend moves to C++.  Every KEVENT_TIMER of a queue is in one 4-ary
 * min-heap per clock, all armed on a single timerfd (timers.cpp).
 */
#ifndef KEV_TIMERS_H
#define KEV_TIMERS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A kev::Timers, in storage of the embedding C struct: no allocation and
 * no indirection.  timers.cpp checks that the object fits.
 */
#define KEV_TIMERS_SIZE 160
struct kev_timers {
	unsigned char opaque[KEV_TIMERS_SIZE];
} __attribute__((aligned(8)));

void kev_timers_init(struct kev_timers *t);
void kev_timers_destroy(struct kev_timers *t);

/* The time on clock clk (KEVENT_TIMER_MONOTONIC ...), in ns. */
uint64_t kev_clock_now(unsigned int clk);
/* Create the timerfd if it does not exist yet: 0, or -1 with errno. */
int kev_timers_open(struct kev_timers *t);
/* The timerfd, or -1 before kev_timers_open(). */
int kev_timers_fd(const struct kev_timers *t);
/* A kevent_ctl batch begins: each clock is read at most once in it. */
void kev_timers_new_batch(struct kev_timers *t);
/* No timer is armed. */
bool kev_timers_empty(const struct kev_timers *t);
/* Are these valid timer fields?  0 or EINVAL. */
int kev_timer_check(uint32_t event, uint64_t data, uint32_t req_flags);
/*
 * Give reg the timer fields event, data and req_flags and (re)arm it from
 * now, on its new clock: 0, or an errno with reg and the heaps untouched.
 * The timerfd must exist (kev_timers_open).
 */
int kev_timer_set(struct kev_timers *t, struct kev_reg *reg, uint32_t event,
		  uint64_t data, uint32_t req_flags);
/* Take reg's timer out of its heap, if it is in one. */
void kev_timer_disarm(struct kev_timers *t, struct kev_reg *reg);
/* Is a timer past its deadline on its own clock? */
bool kev_timers_due(const struct kev_timers *t);
/* Fire everything due (called when the timerfd is readable). */
void kev_timers_expire(struct kev_timers *t, struct kev_core *core);
/*
 * A kevent_ctl batch ends: fire the timers it made due at once, and arm
 * the timerfd for a new earliest deadline.
 */
void kev_timers_end_batch(struct kev_timers *t, struct kev_core *core);

#ifdef __cplusplus
}
#endif

#endif /* KEV_TIMERS_H */
