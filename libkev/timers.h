/* SPDX-License-Identifier: MIT */
/*
 * timers.h - every KEVENT_TIMER of a queue in one 4-ary min-heap per clock,
 * all armed on a single timerfd (see timers.c for how three clocks share it).
 */
#ifndef KEV_TIMERS_H
#define KEV_TIMERS_H

#include "core.h"

#define KEV_NCLOCKS 3	/* MONOTONIC, REALTIME, BOOTTIME */

/* A heap node keeps its deadline by the pointer, as libev's ANHE does, so
 * that the four children of a node are compared within one cache line. */
struct kev_hnode {
	uint64_t deadline;
	struct kev_reg *reg;
};

/*
 * h starts 0 to 3 nodes into the allocation (mem), where node 1 is 64-byte
 * aligned: then the four children of a node (4i+1 .. 4i+4) share one cache
 * line, as in libev's 4-heap.
 */
struct kev_heap {
	struct kev_hnode *h;
	struct kev_hnode *mem;
	uint32_t n, cap;
};

struct kev_timers {
	struct kev_heap heap[KEV_NCLOCKS];
	int tfd;		/* the timerfd, or -1 before the first timer */
	int64_t armed_rt;	/* REALTIME deadline armed, or 0 */
	bool rearm;		/* a new earliest deadline, not armed yet */
	unsigned int now_valid;	/* bit per clock: now[] read this batch */
	uint64_t now[KEV_NCLOCKS];
};

void kev_timers_init(struct kev_timers *t);
void kev_timers_destroy(struct kev_timers *t);

uint64_t kev_clock_now(unsigned int clk);
/* Create the timerfd if it does not exist yet: 0, or -1 with errno. */
int kev_timers_open(struct kev_timers *t);
/* Are these valid timer fields?  0 or EINVAL. */
int kev_timer_check(uint32_t event, uint64_t data, uint32_t req_flags);
/*
 * Give reg the timer fields event, data and req_flags and (re)arm it from
 * now, on its new clock: 0, or an errno with reg and the heaps untouched.
 * The timerfd must exist (kev_timers_open).
 */
int kev_timer_set(struct kev_timers *t, struct kev_reg *reg, uint32_t event,
		  uint64_t data, uint32_t req_flags);
void kev_timer_disarm(struct kev_timers *t, struct kev_reg *reg);
/* Is a timer past its deadline on its own clock? */
bool kev_timers_due(struct kev_timers *t);
/* Fire everything due (called when the timerfd is readable). */
void kev_timers_expire(struct kev_timers *t, struct kev_core *core);
/* Make the timerfd cover the earliest deadline; -1 with errno. */
int kev_timers_rearm(struct kev_timers *t);
/* kev_timers_rearm() if a kev_timer_set() asked for it (end of a batch). */
void kev_timers_flush(struct kev_timers *t);

#endif /* KEV_TIMERS_H */
