// SPDX-License-Identifier: MIT
/*
 * timers.c - KEVENT_TIMER for the user-space backends.
 *
 * Timers sit in one 4-ary min-heap per clock (a 4-ary heap has half the
 * depth of a binary one and keeps siblings on one cache line).  One timerfd
 * serves all three clocks: it is a CLOCK_REALTIME timerfd armed with an
 * absolute time and TFD_TIMER_CANCEL_ON_SET.  The earliest deadline of each
 * clock is translated to REALTIME when arming.  If REALTIME is set, the
 * timerfd read fails with ECANCELED and everything is re-translated; after a
 * suspend, BOOTTIME and REALTIME have moved on and MONOTONIC has not, so a
 * MONOTONIC timer can only wake us early, and an early wake-up just re-arms.
 * A timer therefore never fires before its deadline on its own clock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "timers.h"

static const clockid_t kev_clockids[KEV_NCLOCKS] = {
	CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME,
};

uint64_t kev_clock_now(unsigned int clk)
{
	struct timespec ts;

	clock_gettime(kev_clockids[clk], &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void kev_timers_init(struct kev_timers *t)
{
	memset(t, 0, sizeof(*t));
	t->tfd = -1;
}

void kev_timers_destroy(struct kev_timers *t)
{
	unsigned int c;

	for (c = 0; c < KEV_NCLOCKS; c++)
		free(t->heap[c].mem);
	if (t->tfd >= 0)
		close(t->tfd);
	t->tfd = -1;
}

/* ---- 4-ary heap on deadline, positions kept in reg->heap_idx */

static inline void kev_heap_set(struct kev_heap *hp, uint32_t i,
				struct kev_hnode node)
{
	hp->h[i] = node;
	node.reg->heap_idx = i;
}

static void kev_heap_up(struct kev_heap *hp, uint32_t i)
{
	struct kev_hnode node = hp->h[i];

	while (i > 0) {
		uint32_t p = (i - 1) / 4;

		if (hp->h[p].deadline <= node.deadline)
			break;
		kev_heap_set(hp, i, hp->h[p]);
		i = p;
	}
	kev_heap_set(hp, i, node);
}

static void kev_heap_down(struct kev_heap *hp, uint32_t i)
{
	struct kev_hnode *h = hp->h, node = h[i];
	uint32_t n = hp->n;

	for (;;) {
		uint32_t c = i * 4 + 1, best = c, j;
		uint64_t d;

		if (c >= n)
			break;
		d = h[c].deadline;
		if (c + 3 < n) {
			/* four children, in one cache line: no loop */
			if (h[c + 1].deadline < d)
				d = h[best = c + 1].deadline;
			if (h[c + 2].deadline < d)
				d = h[best = c + 2].deadline;
			if (h[c + 3].deadline < d)
				d = h[best = c + 3].deadline;
		} else {
			for (j = c + 1; j < n; j++)
				if (h[j].deadline < d)
					d = h[best = j].deadline;
		}
		if (d >= node.deadline)
			break;
		kev_heap_set(hp, i, h[best]);
		i = best;
	}
	kev_heap_set(hp, i, node);
}

static int kev_heap_grow(struct kev_heap *hp)
{
	uint32_t cap = hp->cap ? hp->cap * 2 : 16, skew;
	size_t old = hp->h ? (size_t)(hp->h - hp->mem) : 0;
	struct kev_hnode *mem;

	/* realloc: large heaps grow by mremap, without a copy */
	if (cap > UINT32_MAX / 2 ||
	    !(mem = realloc(hp->mem, ((size_t)cap + 3) * sizeof(*mem)))) {
		errno = ENOMEM;
		return -1;
	}
	/* Nodes are 16 bytes and so is malloc's alignment: one of 4 fits. */
	for (skew = 0; skew < 3; skew++)
		if (!((uintptr_t)(mem + skew + 1) & 63))
			break;
	if (skew != old && hp->n)
		memmove(mem + skew, mem + old, hp->n * sizeof(*mem));
	hp->mem = mem;
	hp->h = mem + skew;
	hp->cap = cap;
	return 0;
}

static int kev_heap_insert(struct kev_heap *hp, struct kev_reg *reg,
			   uint64_t deadline)
{
	if (hp->n == hp->cap && kev_heap_grow(hp) < 0)
		return -1;
	hp->h[hp->n].deadline = deadline;
	hp->h[hp->n].reg = reg;
	kev_heap_up(hp, hp->n++);
	return 0;
}

static void kev_heap_delete(struct kev_heap *hp, struct kev_reg *reg)
{
	uint32_t i = reg->heap_idx;
	struct kev_hnode last;

	reg->heap_idx = UINT32_MAX;
	last = hp->h[--hp->n];
	if (i == hp->n)
		return;
	kev_heap_set(hp, i, last);
	if (i > 0 && hp->h[(i - 1) / 4].deadline > last.deadline)
		kev_heap_up(hp, i);
	else
		kev_heap_down(hp, i);
}

/* ---- timers */

static unsigned int kev_timer_clock(const struct kev_reg *reg)
{
	return reg->event & KEVENT_TIMER_CLOCK_MASK;
}

static bool kev_timer_periodic_with(uint32_t event, uint32_t req_flags)
{
	return !(event & KEVENT_TIMER_ABSTIME) &&
	       !(req_flags & KEVENT_REQ_ONESHOT);
}

static bool kev_timer_periodic(const struct kev_reg *reg)
{
	return kev_timer_periodic_with(reg->event, reg->req_flags);
}

/* The clock, read once per kevent_ctl batch (now_valid is reset there). */
static uint64_t kev_timers_now(struct kev_timers *t, unsigned int clk)
{
	if (!(t->now_valid & (1u << clk))) {
		t->now[clk] = kev_clock_now(clk);
		t->now_valid |= 1u << clk;
	}
	return t->now[clk];
}

int kev_timers_open(struct kev_timers *t)
{
	if (t->tfd < 0) {
		t->tfd = timerfd_create(CLOCK_REALTIME,
					TFD_NONBLOCK | TFD_CLOEXEC);
		if (t->tfd < 0)
			return -1;
	}
	return 0;
}

int kev_timer_check(uint32_t event, uint64_t data, uint32_t req_flags)
{
	if (kev_timer_periodic_with(event, req_flags) && data == 0)
		return EINVAL;
	if (!(event & KEVENT_TIMER_ABSTIME) && data > INT64_MAX / 2)
		return EINVAL;
	if ((event & KEVENT_TIMER_CLOCK_MASK) >= KEV_NCLOCKS)
		return EINVAL;
	return 0;
}

/*
 * Everything that can fail comes first (the checks, room in the heap of
 * the new clock); only then does the timer leave the heap of its old
 * clock, which is found from the event word it still has, and enter the
 * new one.  So a timer moves between clocks keeping its registration,
 * and one that cannot be set is left exactly as it was.
 */
int kev_timer_set(struct kev_timers *t, struct kev_reg *reg, uint32_t event,
		  uint64_t data, uint32_t req_flags)
{
	unsigned int clk = event & KEVENT_TIMER_CLOCK_MASK;
	struct kev_heap *to = &t->heap[clk];
	uint64_t deadline;
	int err = kev_timer_check(event, data, req_flags);

	if (err)
		return err;
	if (t->tfd < 0)
		return EBADF;	/* kev_timers_open() first */
	if (to->n == to->cap && kev_heap_grow(to) < 0)
		return ENOMEM;
	if (event & KEVENT_TIMER_ABSTIME)
		deadline = data;
	else
		deadline = kev_timers_now(t, clk) + data;
	if (reg->heap_idx != UINT32_MAX)
		kev_heap_delete(&t->heap[kev_timer_clock(reg)], reg);
	reg->event = event;
	reg->data = data;
	reg->req_flags = (uint16_t)req_flags;
	kev_heap_insert(to, reg, deadline);	/* cannot fail: room made */
	/*
	 * A new earliest deadline must be armed: once per kevent_ctl batch
	 * (kev_timers_flush), not once per timer, as timerfd_settime is the
	 * dearest part of adding a timer.
	 */
	if (reg->heap_idx == 0)
		t->rearm = true;
	return 0;
}

void kev_timer_disarm(struct kev_timers *t, struct kev_reg *reg)
{
	if (reg->type == KEVENT_TIMER && reg->heap_idx != UINT32_MAX)
		kev_heap_delete(&t->heap[kev_timer_clock(reg)], reg);
	/* The timerfd may now fire early; that only costs a re-arm. */
}

bool kev_timers_due(struct kev_timers *t)
{
	unsigned int c;

	for (c = 0; c < KEV_NCLOCKS; c++)
		if (t->heap[c].n && t->heap[c].h[0].deadline <= kev_clock_now(c))
			return true;
	return false;
}

void kev_timers_expire(struct kev_timers *t, struct kev_core *core)
{
	uint64_t ticks;
	unsigned int c;

	/*
	 * Read: the timerfd fired and is disarmed.  ECANCELED: REALTIME was
	 * set, re-translate every deadline.  EAGAIN: called for timers found
	 * due before the timerfd fired (kev_ub_collect), which is still
	 * armed and will fire: if that is no later than the next deadline,
	 * it needs no timerfd_settime (the dearest call here), only a
	 * harvest when it fires.
	 */
	if (read(t->tfd, &ticks, sizeof(ticks)) == sizeof(ticks) ||
	    errno == ECANCELED)
		t->armed_rt = 0;
	else if (errno != EAGAIN)
		return;
	for (c = 0; c < KEV_NCLOCKS; c++) {
		struct kev_heap *hp = &t->heap[c];
		uint64_t now;

		if (!hp->n)
			continue;
		now = kev_clock_now(c);
		while (hp->n && hp->h[0].deadline <= now) {
			struct kev_reg *reg = hp->h[0].reg;
			uint64_t n = 1;

			if (kev_timer_periodic(reg)) {
				n += (now - hp->h[0].deadline) / reg->data;
				hp->h[0].deadline += n * reg->data;
				kev_heap_down(hp, 0);
			} else {
				kev_heap_delete(hp, reg);
			}
			kev_core_fire(core, reg, 0, n);
		}
	}
	kev_timers_rearm(t);
}

/*
 * The REALTIME time at which the earliest deadline of clock c falls, as
 * now: in unsigned arithmetic, saturated at INT64_MAX, since an absolute
 * deadline may be any 64-bit value (one past 2262 never fires, and must
 * not wrap into the past and fire at once, for ever).
 */
static uint64_t kev_timers_rt(const struct kev_timers *t, unsigned int c,
			      uint64_t now_rt)
{
	uint64_t d = t->heap[c].h[0].deadline, now_c, rt;

	if (c == 1)
		return d > INT64_MAX ? INT64_MAX : d;
	now_c = kev_clock_now(c);
	if (d <= now_c)
		return now_rt;			/* due: as soon as possible */
	rt = now_rt + (d - now_c);
	return rt < now_rt || rt > INT64_MAX ? INT64_MAX : rt;
}

void kev_timers_flush(struct kev_timers *t)
{
	/*
	 * Should the timerfd refuse (it does not for any deadline computed
	 * here), it stays armed for an earlier or equal deadline, or fires
	 * early and is re-armed then.
	 */
	if (t->rearm)
		kev_timers_rearm(t);
}

int kev_timers_rearm(struct kev_timers *t)
{
	struct itimerspec its;
	uint64_t best = 0, now_rt = 0;
	unsigned int c;

	t->rearm = false;
	for (c = 0; c < KEV_NCLOCKS; c++) {
		uint64_t rt;

		if (!t->heap[c].n)
			continue;
		if (!now_rt)
			now_rt = kev_clock_now(1);
		rt = kev_timers_rt(t, c, now_rt);
		if (!rt)
			rt = 1;		/* 0 would disarm the timerfd */
		if (!best || rt < best)
			best = rt;
	}
	/* Already armed at or before the earliest deadline: no syscall. */
	if (!best || (t->armed_rt && (uint64_t)t->armed_rt <= best))
		return 0;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(best / 1000000000);
	its.it_value.tv_nsec = (long)(best % 1000000000);
	if (timerfd_settime(t->tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
			    &its, NULL) < 0)
		return -1;
	t->armed_rt = (int64_t)best;
	return 0;
}
