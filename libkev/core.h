/* SPDX-License-Identifier: MIT */
/*
 * core.h - the queue core shared by the user-space backends: the registry,
 * the ready list, publication into the ring and coalescing.
 *
 * A registration is in one of three states:
 *   IDLE    nothing to report;
 *   READY   on the FIFO ready list, waiting for room in the ring;
 *   QUEUED  its entry is in the ring and the consumer has not passed it.
 * Firings while READY or QUEUED (or disabled) only add to its counters, so
 * a registration never holds more than one ring slot and nothing is lost.
 *
 * Locking: every function here requires core->lock, which is never held
 * across a sleep.  The consumer reads the ring without it.
 */
#ifndef KEV_CORE_H
#define KEV_CORE_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

enum kev_state { KEV_IDLE, KEV_READY, KEV_QUEUED };

struct kev_reg {
	/*
	 * What a lookup, a list move and a state change touch, in the first
	 * 32 bytes: registrations are 96 bytes in 64-byte aligned slabs, so
	 * each starts on a 32-byte boundary and this block never straddles two
	 * cache lines.  With 100k registrations in random order, a DISABLE or
	 * REMOVE of a READY one costs the misses of its slot, this block and
	 * its two neighbours' blocks, no more (bench/scale.c).
	 */
	uint64_t id;
	/* the ready or recheck list (doubly linked), or the free list */
	struct kev_reg *next, *prev;
	uint8_t type;		/* KEVENT_POLL ... (checked) */
	uint8_t state;		/* enum kev_state */
	bool disabled : 1;	/* KEVENT_CTL_DISABLE or DISPATCH */
	bool pending : 1;	/* fired while QUEUED or disabled */
	bool on_recheck : 1;	/* on the level-triggered recheck list */
	bool live : 1;		/* allocated (else on the free list) */
	bool qwork : 1;		/* QUEUED, and its consumption makes work */
	bool always : 1;	/* POLL: the waitset refused the file */
	/*
	 * POLL: not armed in the waitset.  Level: muted or spent, rearmed
	 * when the consumer passes its entry.  Edge: its watch ended
	 * (io_uring, CQ full), renewed then too.
	 */
	bool muted : 1;
	bool nested : 1;	/* POLL: the fd is a kevent queue */
	bool detached : 1;	/* POLL: its number now names another file */
	uint32_t gen;		/* bumped on every free: stale tokens fail */

	/* the rest of the registration, as given to kevent_ctl */
	uint64_t data;
	uint64_t user;
	uint32_t event;
	uint16_t req_flags;	/* KEVENT_REQ_* (checked: 3 bits) */
	uint16_t ret_flags;	/* KEVENT_RET_* to deliver */
	/* the rest of the core state */
	uint64_t count;		/* ret_data to deliver (counts, status) */
	uint32_t fired;		/* OR of masks fired since last delivery */
	uint32_t slot;		/* ring index while QUEUED */
	uint32_t handle;	/* index in the slabs: fixed for its life */
	/* backend state */
	union {
		int fd;		/* POLL: watched fd; PROC: pidfd; INODE: wd */
		uint32_t heap_idx; /* TIMER: position in its heap */
	};			/* -1 / UINT32_MAX (the same bits): none */
	struct kev_reg *hnext;	/* hash chain (ids not in a direct table) */
	uint32_t nest_idx;	/* POLL with nested: index in the nest list */
	/*
	 * TIMER: the clock of the heap that holds it while heap_idx is not
	 * UINT32_MAX, written only by that heap (timers.cpp).  Not derived
	 * from event, which a MODIFY changes while the timer is in the heap
	 * of its old clock.
	 */
	uint8_t timer_heap;
};

KEV_STATIC_ASSERT(sizeof(struct kev_reg) == 96, "a registration is 96 bytes");
KEV_STATIC_ASSERT(offsetof(struct kev_reg, gen) + sizeof(uint32_t) <= 32,
		  "the hot block is the first 32 bytes");

/*
 * A FIFO of registrations, linked through next and prev, so that any one
 * leaves it in O(1) whatever its place.
 */
struct kev_list {
	struct kev_reg *head, *tail;
	uint32_t n;
};

/*
 * Registrations are allocated in slabs and never given back before the
 * queue dies, so a registration's memory stays a registration: the handle
 * (slab number and index) of a token reaches it without a table, and the
 * generation tells a stale token from a live one.
 */
#define KEV_SLAB_SHIFT	8
#define KEV_SLAB	(1u << KEV_SLAB_SHIFT)
#define KEV_MAX_SLABS	(0x7fffffffu >> KEV_SLAB_SHIFT)

/*
 * Small ids are looked up by index, as the kernel finds a file by its
 * descriptor: fds, and timer or user ids that are counters, are dense.
 * An id goes into the direct table of its type while the table would stay
 * at most about twice as large as that type's number of registrations;
 * sparse ids (pids, pointers used as ids) go into the hash.
 */
struct kev_direct {
	struct kev_reg **slot;
	uint32_t cap;		/* ids below cap are here, never hashed */
	uint32_t nregs;		/* registrations of this type */
	uint32_t nhashed;	/* of which in the hash */
};

struct kev_core;

/* What the core asks of its backend. */
struct kev_core_ops {
	/* release the backend resources of a registration being freed */
	void (*release)(struct kev_core *core, struct kev_reg *reg);
};

struct kev_core {
	pthread_mutex_t lock;
	const struct kev_core_ops *ops;
	struct kevent_ring *ring;
	size_t ring_bytes;
	uint32_t size, mask;
	uint32_t kidx;			/* producer index (our copy) */
	uint32_t reaped;		/* entries before this are processed */
	struct kev_reg **shadow;	/* registration behind each slot */

	struct kev_direct direct[KEVENT_TYPE_MAX];
	struct kev_reg **buckets;	/* hash of (type, id) for the rest */
	uint32_t nbuckets, nhashed, hash_bits;

	struct kev_reg **slabs;		/* KEV_SLAB registrations each */
	uint32_t nslabs, slabcap;
	struct kev_reg *free_regs;	/* freed registrations, for reuse */

	struct kev_list ready;		/* FIFO of READY registrations */
	struct kev_list recheck;	/* LT POLL entries the consumer passed */
	uint32_t nqwork;		/* registrations with qwork set */
	/*
	 * Entries published since the backend last collected everything
	 * that had fired (kev_core_collected()).  A publication is allowed
	 * only while this is below the ring size, so at most one ring's
	 * worth is ever published between two collections: the fairness
	 * bound of kevent(7) rests on it.
	 */
	uint32_t since_collect;
};

int kev_core_init(struct kev_core *core, unsigned int size,
		  const struct kev_core_ops *ops);
/* Free everything; with unmap, also the ring. */
void kev_core_destroy(struct kev_core *core);

struct kev_reg *kev_core_find_hashed(struct kev_core *core, uint32_t type,
				     uint64_t id);

/* The registration of (type, id), or NULL; type < KEVENT_TYPE_MAX. */
static inline struct kev_reg *kev_core_find(struct kev_core *core,
					    uint32_t type, uint64_t id)
{
	const struct kev_direct *d = &core->direct[type];

	if (id < d->cap)
		return d->slot[id];
	if (!d->nhashed)
		return NULL;
	return kev_core_find_hashed(core, type, id);
}
/* A new registration from an ADD entry, not yet inserted: NULL on ENOMEM. */
struct kev_reg *kev_core_alloc(struct kev_core *core,
			       const struct ukevent *ev);
void kev_core_insert(struct kev_core *core, struct kev_reg *reg);
/* Unlink and free (calls ops->release). */
void kev_core_remove(struct kev_core *core, struct kev_reg *reg);
/* Free a registration that was never inserted. */
void kev_core_free_unlinked(struct kev_core *core, struct kev_reg *reg);

#define KEV_TOKEN_GEN_SHIFT	32

/* 64-bit token for a registration (epoll data), and its lookup. */
static inline uint64_t kev_core_token(const struct kev_reg *reg)
{
	return ((uint64_t)reg->gen << KEV_TOKEN_GEN_SHIFT) | reg->handle;
}

/*
 * The token the registration will have once its generation is bumped
 * (gen++): a new watch of the same registration, after which completions
 * of the old watch are stale.
 */
static inline uint64_t kev_core_next_token(const struct kev_reg *reg)
{
	return ((uint64_t)(uint32_t)(reg->gen + 1) << KEV_TOKEN_GEN_SHIFT) |
	       reg->handle;
}

static inline struct kev_reg *kev_core_reg_at(const struct kev_core *core,
					      uint32_t handle)
{
	return &core->slabs[handle >> KEV_SLAB_SHIFT][handle & (KEV_SLAB - 1)];
}

static inline struct kev_reg *kev_core_lookup_token(struct kev_core *core,
						    uint64_t token)
{
	uint32_t i = (uint32_t)token;
	struct kev_reg *reg;

	if ((i >> KEV_SLAB_SHIFT) >= core->nslabs)
		return NULL;
	reg = kev_core_reg_at(core, i);
	if (!reg->live || reg->gen != (uint32_t)(token >> KEV_TOKEN_GEN_SHIFT))
		return NULL;
	return reg;
}

/* IDLE -> READY: at the tail of the ready list. */
void kev_core_make_ready(struct kev_core *core, struct kev_reg *reg);

/*
 * A QUEUED registration whose consumption will leave work for the library
 * (a firing to publish, a file to check again): counted, so that a queue
 * polled by another loop can say it is readable (kevent(7)).
 */
static inline void kev_core_note_work(struct kev_core *core,
				      struct kev_reg *reg)
{
	if (reg->state == KEV_QUEUED && !reg->qwork) {
		reg->qwork = true;
		core->nqwork++;
	}
}

/* The registration fired: OR mask into its event, add count. */
static inline void kev_core_fire(struct kev_core *core, struct kev_reg *reg,
				 uint32_t mask, uint64_t count)
{
	reg->fired |= mask;
	reg->count += count;
	if (reg->disabled || reg->state == KEV_QUEUED) {
		reg->pending = true;
		if (!reg->disabled)
			kev_core_note_work(core, reg);
		return;
	}
	if (reg->state == KEV_IDLE)
		kev_core_make_ready(core, reg);
}
void kev_core_disable(struct kev_core *core, struct kev_reg *reg);
void kev_core_enable(struct kev_core *core, struct kev_reg *reg);

/* Process entries the consumer has passed. */
void kev_core_reap(struct kev_core *core);
/*
 * Move READY registrations into the ring, oldest first, while it has room
 * and the publication budget (since_collect) allows.
 */
void kev_core_publish(struct kev_core *core);
/* The backend has collected every firing: a new budget. */
static inline void kev_core_collected(struct kev_core *core)
{
	core->since_collect = 0;
}

/* May kev_core_publish() publish now, or must the backend collect first? */
static inline bool kev_core_budget_left(const struct kev_core *core)
{
	return core->since_collect < core->size;
}
/* Entries in the ring now. */
static inline uint32_t kev_core_count(const struct kev_core *core)
{
	return core->kidx - kevent_load_acquire(&core->ring->uidx);
}

static inline bool kev_core_has_ready(const struct kev_core *core)
{
	return core->ready.n != 0;
}

/*
 * Work the next kevent_wait would do without the kernel's help: publish
 * ready registrations, check level-triggered ones again, or handle what
 * the consumer will pass.
 */
static inline bool kev_core_has_work(const struct kev_core *core)
{
	return core->ready.n || core->recheck.n || core->nqwork;
}

/* Detach the recheck list (the caller re-fires what is still ready). */
struct kev_reg *kev_core_take_recheck(struct kev_core *core);

/* Iterate over every registration (for destroy). */
#define kev_core_for_each(core, reg, i)					\
	for ((i) = 0; (i) < (core)->nslabs * KEV_SLAB; (i)++)		\
		if (((reg) = kev_core_reg_at((core), (i)))->live)

static inline bool kev_reg_is_lt_poll(const struct kev_reg *reg)
{
	return reg->type == KEVENT_POLL && !(reg->req_flags & KEVENT_REQ_ET);
}

#ifdef __cplusplus
}
#endif

#endif /* KEV_CORE_H */
