// SPDX-License-Identifier: MIT
/*
 * core.c - the queue core: registry, ready list, publication, coalescing.
 * See core.h for the state machine and the locking rule.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core.h"

static size_t kev_page_round(size_t n)
{
	size_t page = 4096;

	return (n + page - 1) & ~(page - 1);
}

int kev_core_init(struct kev_core *core, unsigned int size,
		  const struct kev_core_ops *ops)
{
	struct kevent_ring *ring;
	size_t bytes = kev_page_round(KEVENT_RING_BYTES(size));

	memset(core, 0, sizeof(*core));
	core->ops = ops;
	ring = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ring == MAP_FAILED)
		return -1;
	ring->size = size;
	ring->mask = size - 1;
	ring->version = KEVENT_ABI_VERSION;
	ring->entry_size = sizeof(struct ukevent);
	ring->entries_offset = KEVENT_RING_ENTRIES_OFFSET;
	core->ring = ring;
	core->ring_bytes = bytes;
	core->size = size;
	core->mask = size - 1;
	core->shadow = calloc(size, sizeof(*core->shadow));
	core->nbuckets = 64;
	core->hash_bits = 6;
	core->buckets = calloc(core->nbuckets, sizeof(*core->buckets));
	if (!core->shadow || !core->buckets ||
	    pthread_mutex_init(&core->lock, NULL)) {
		free(core->shadow);
		free(core->buckets);
		munmap(ring, bytes);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void kev_core_destroy(struct kev_core *core)
{
	uint32_t i;

	for (i = 0; i < core->nslabs; i++)
		free(core->slabs[i]);
	free(core->slabs);
	for (i = 0; i < KEVENT_TYPE_MAX; i++)
		free(core->direct[i].slot);
	free(core->buckets);
	free(core->shadow);
	if (core->ring)
		munmap(core->ring, core->ring_bytes);
	pthread_mutex_destroy(&core->lock);
}

/* ---- the registry: direct tables of small ids, a hash of the rest */

/*
 * Fibonacci hashing: the top bits of the product are the well-mixed ones
 * (sequential ids spread evenly).
 */
static inline uint32_t kev_bucket(const struct kev_core *core, uint32_t type,
				  uint64_t id)
{
	uint64_t h = (id ^ ((uint64_t)type << 59)) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> (64 - core->hash_bits));
}

struct kev_reg *kev_core_find_hashed(struct kev_core *core, uint32_t type,
				     uint64_t id)
{
	struct kev_reg *reg;

	reg = core->buckets[kev_bucket(core, type, id)];
	for (; reg; reg = reg->hnext)
		if (reg->id == id && reg->type == type)
			return reg;
	return NULL;
}

static void kev_hash_grow(struct kev_core *core)
{
	uint32_t n = core->nbuckets * 2, i, old = core->nbuckets;
	struct kev_reg **ob = core->buckets;
	struct kev_reg **b = calloc(n, sizeof(*b));

	if (!b)
		return;		/* keep the longer chains */
	core->buckets = b;
	core->nbuckets = n;
	core->hash_bits++;
	for (i = 0; i < old; i++) {
		struct kev_reg *reg = ob[i], *next;

		for (; reg; reg = next) {
			uint32_t h = kev_bucket(core, reg->type, reg->id);

			next = reg->hnext;
			reg->hnext = b[h];
			b[h] = reg;
		}
	}
	free(ob);
}

static void kev_hash_insert(struct kev_core *core, struct kev_reg *reg)
{
	uint32_t h;

	if (core->nhashed >= core->nbuckets)
		kev_hash_grow(core);
	h = kev_bucket(core, reg->type, reg->id);
	reg->hnext = core->buckets[h];
	core->buckets[h] = reg;
	core->nhashed++;
	core->direct[reg->type].nhashed++;
}

static void kev_hash_unlink(struct kev_core *core, struct kev_reg **pp)
{
	struct kev_reg *reg = *pp;

	*pp = reg->hnext;
	reg->hnext = NULL;
	core->nhashed--;
	core->direct[reg->type].nhashed--;
}

static void kev_hash_remove(struct kev_core *core, struct kev_reg *reg)
{
	struct kev_reg **pp;

	pp = &core->buckets[kev_bucket(core, reg->type, reg->id)];
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == reg) {
			kev_hash_unlink(core, pp);
			return;
		}
	}
}

#define KEV_DIRECT_MIN	64u
#define KEV_DIRECT_MAX	(1u << 26)	/* 512 MiB of pointers at most */

/*
 * Grow the direct table of a type so that it covers id, if it stays dense
 * enough: at most about twice the registrations of the type, plus a little.
 * Hashed registrations of the type that the table now covers move into it.
 */
static void kev_direct_grow(struct kev_core *core, uint32_t type, uint64_t id)
{
	struct kev_direct *d = &core->direct[type];
	uint64_t limit = 2 * (uint64_t)d->nregs + 2 * KEV_DIRECT_MIN;
	uint32_t cap = d->cap ? d->cap : KEV_DIRECT_MIN, i;
	struct kev_reg **slot;

	if (id >= limit || id >= KEV_DIRECT_MAX)
		return;
	while (cap <= id)
		cap *= 2;
	slot = realloc(d->slot, cap * sizeof(*slot));
	if (!slot)
		return;		/* the hash takes it */
	memset(slot + d->cap, 0, (cap - d->cap) * sizeof(*slot));
	d->slot = slot;
	d->cap = cap;
	for (i = 0; d->nhashed && i < core->nbuckets; i++) {
		struct kev_reg **pp = &core->buckets[i];

		while (*pp) {
			struct kev_reg *reg = *pp;

			if (reg->type == type && reg->id < cap) {
				kev_hash_unlink(core, pp);
				slot[reg->id] = reg;
			} else {
				pp = &reg->hnext;
			}
		}
	}
}

void kev_core_insert(struct kev_core *core, struct kev_reg *reg)
{
	struct kev_direct *d = &core->direct[reg->type];

	if (reg->id >= d->cap)
		kev_direct_grow(core, reg->type, reg->id);
	d->nregs++;
	if (reg->id < d->cap)
		d->slot[reg->id] = reg;
	else
		kev_hash_insert(core, reg);
}

static void kev_registry_remove(struct kev_core *core, struct kev_reg *reg)
{
	struct kev_direct *d = &core->direct[reg->type];

	d->nregs--;
	if (reg->id < d->cap)
		d->slot[reg->id] = NULL;
	else
		kev_hash_remove(core, reg);
}

/* ---- registrations: slabs and a free list */

static int kev_slab_add(struct kev_core *core)
{
	struct kev_reg *slab;
	uint32_t i, base;

	if (core->nslabs == KEV_MAX_SLABS) {
		errno = ENOMEM;
		return -1;
	}
	if (core->nslabs == core->slabcap) {
		uint32_t cap = core->slabcap ? core->slabcap * 2 : 8;
		struct kev_reg **s = realloc(core->slabs, cap * sizeof(*s));

		if (!s)
			return -1;
		core->slabs = s;
		core->slabcap = cap;
	}
	/*
	 * Not zeroed: kev_core_alloc() clears a registration when used.
	 * 64-byte aligned: the first 32 bytes of each registration then sit
	 * in one cache line (struct kev_reg).
	 */
	slab = aligned_alloc(64, KEV_SLAB * sizeof(*slab));
	if (!slab)
		return -1;
	core->slabs[core->nslabs] = slab;
	base = core->nslabs++ << KEV_SLAB_SHIFT;
	/* In address order on the free list: new registrations are adjacent. */
	for (i = KEV_SLAB; i-- > 0;) {
		slab[i].handle = base + i;
		slab[i].gen = 0;
		slab[i].live = false;
		slab[i].next = core->free_regs;
		core->free_regs = &slab[i];
	}
	return 0;
}

struct kev_reg *kev_core_alloc(struct kev_core *core, const struct ukevent *ev)
{
	struct kev_reg *reg = core->free_regs;
	uint32_t handle, gen;

	if (KEV_UNLIKELY(!reg)) {
		if (kev_slab_add(core) < 0)
			return NULL;
		reg = core->free_regs;
	}
	core->free_regs = reg->next;
	handle = reg->handle;
	gen = reg->gen;
	*reg = (struct kev_reg){
		.id = ev->id,
		.data = ev->data,
		.user = ev->user,
		.event = ev->event,
		.req_flags = (uint16_t)ev->req_flags,
		.type = (uint8_t)ev->type,
		.handle = handle,
		.gen = gen,
		.live = true,
		.fd = -1,	/* and heap_idx = UINT32_MAX */
	};
	return reg;
}

void kev_core_free_unlinked(struct kev_core *core, struct kev_reg *reg)
{
	reg->live = false;
	reg->gen++;		/* every token of this life is stale now */
	reg->next = core->free_regs;
	core->free_regs = reg;
}

/* ---- the ready and recheck lists (a registration is on one at most) */

static void kev_list_add(struct kev_list *l, struct kev_reg *reg)
{
	reg->next = NULL;
	reg->prev = l->tail;
	if (l->tail)
		l->tail->next = reg;
	else
		l->head = reg;
	l->tail = reg;
	l->n++;
}

/* O(1), wherever reg is: a removal never walks the list. */
static void kev_list_del(struct kev_list *l, struct kev_reg *reg)
{
	if (reg->prev)
		reg->prev->next = reg->next;
	else
		l->head = reg->next;
	if (reg->next)
		reg->next->prev = reg->prev;
	else
		l->tail = reg->prev;
	reg->next = NULL;
	reg->prev = NULL;
	l->n--;
}

void kev_core_make_ready(struct kev_core *core, struct kev_reg *reg)
{
	if (reg->on_recheck) {
		kev_list_del(&core->recheck, reg);
		reg->on_recheck = false;
	}
	reg->state = KEV_READY;
	kev_list_add(&core->ready, reg);
}

static void kev_add_recheck(struct kev_core *core, struct kev_reg *reg)
{
	if (!reg->on_recheck && reg->state == KEV_IDLE) {
		reg->on_recheck = true;
		kev_list_add(&core->recheck, reg);
	}
}

struct kev_reg *kev_core_take_recheck(struct kev_core *core)
{
	struct kev_reg *head = core->recheck.head, *reg;

	for (reg = head; reg; reg = reg->next)
		reg->on_recheck = false;
	core->recheck.head = NULL;
	core->recheck.tail = NULL;
	core->recheck.n = 0;
	return head;
}

static void kev_clear_work(struct kev_core *core, struct kev_reg *reg)
{
	if (reg->qwork) {
		reg->qwork = false;
		core->nqwork--;
	}
}

void kev_core_remove(struct kev_core *core, struct kev_reg *reg)
{
	kev_registry_remove(core, reg);
	if (reg->state == KEV_READY)
		kev_list_del(&core->ready, reg);
	else if (reg->on_recheck)
		kev_list_del(&core->recheck, reg);
	else if (reg->state == KEV_QUEUED)
		core->shadow[reg->slot & core->mask] = NULL;
	kev_clear_work(core, reg);
	core->ops->release(core, reg);
	kev_core_free_unlinked(core, reg);
}

/* ---- firing, enabling, publishing, reaping */

void kev_core_disable(struct kev_core *core, struct kev_reg *reg)
{
	if (reg->disabled)
		return;
	reg->disabled = true;
	if (reg->state == KEV_READY) {
		kev_list_del(&core->ready, reg);
		reg->state = KEV_IDLE;
		reg->pending = true;
	} else if (reg->on_recheck) {
		kev_list_del(&core->recheck, reg);
		reg->on_recheck = false;
	}
}

void kev_core_enable(struct kev_core *core, struct kev_reg *reg)
{
	if (!reg->disabled)
		return;
	reg->disabled = false;
	if (reg->state != KEV_IDLE) {
		/* QUEUED: handled when the consumer passes it */
		if (reg->pending)
			kev_core_note_work(core, reg);
		return;
	}
	if (kev_reg_is_lt_poll(reg) || (reg->muted && !reg->pending)) {
		/* level, or an edge fd whose ended watch is still to renew */
		reg->pending = false;
		reg->fired = 0;
		kev_add_recheck(core, reg);
	} else if (reg->pending) {
		reg->pending = false;
		kev_core_make_ready(core, reg);
	}
}

void kev_core_reap(struct kev_core *core)
{
	struct kev_reg **shadow = core->shadow;
	const uint32_t mask = core->mask;
	uint32_t r = core->reaped, end;

	end = kevent_load_acquire(&core->ring->uidx);
	/* Never trust uidx: it cannot pass what was published. */
	if (end - r > core->kidx - r)
		end = core->kidx;
	for (; r != end; r++) {
		struct kev_reg *reg = shadow[r & mask];

		if (!reg)
			continue;
		shadow[r & mask] = NULL;
		reg->state = KEV_IDLE;
		kev_clear_work(core, reg);
		if (reg->disabled)
			continue;	/* pending stays for ENABLE */
		if (kev_reg_is_lt_poll(reg) || reg->muted) {
			/*
			 * Level-triggered: the waitset reports it again while
			 * ready, unless it was muted (or cannot be waited
			 * for).  Edge-triggered and muted: its watch ended
			 * (io_uring, CQ full) and is renewed only now that the
			 * consumer has passed the entry, so that it does not
			 * report the readiness the entry delivered as new.
			 */
			reg->pending = false;
			reg->fired = 0;
			if (reg->muted || reg->always)
				kev_add_recheck(core, reg);
		} else if (reg->pending) {
			reg->pending = false;
			kev_core_make_ready(core, reg);
		}
	}
	core->reaped = end;
}

static uint32_t kev_delivered_event(const struct kev_reg *reg)
{
	if (reg->type == KEVENT_POLL || reg->type == KEVENT_INODE)
		return reg->fired;
	return reg->event | reg->fired;
}

void kev_core_publish(struct kev_core *core)
{
	struct ukevent *entries = kevent_ring_entries(core->ring);
	struct kev_reg **shadow = core->shadow;
	const uint32_t mask = core->mask;
	uint32_t start = core->kidx, k = start;
	uint32_t limit = core->reaped + core->size;	/* first slot not free */
	uint32_t budget = core->size - core->since_collect;
	struct kev_reg *reg;

	if (core->since_collect >= core->size)
		return;		/* the backend must collect first */
	while ((reg = core->ready.head)) {
		struct ukevent *e;
		uint32_t ret;

		if (k == limit) {
			core->kidx = k;	/* reap sees what we wrote */
			kev_core_reap(core);
			limit = core->reaped + core->size;
			if (k == limit) {
				kevent_store_relaxed(&core->ring->deferred,
					core->ring->deferred + 1);
				break;
			}
		}
		if (k - start == budget)
			break;	/* room, but collect first */
		kev_list_del(&core->ready, reg);
		ret = reg->ret_flags;
		if (reg->req_flags & KEVENT_REQ_ONESHOT)
			ret |= KEVENT_RET_REMOVED;
		e = &entries[k & mask];
		e->id = reg->id;
		e->type = reg->type;
		e->event = kev_delivered_event(reg);
		e->req_flags = reg->req_flags;
		e->ret_flags = ret;
		e->data = reg->data;
		e->ret_data = reg->count;
		e->user = reg->user;
		e->__reserved[0] = 0;
		e->__reserved[1] = 0;
		reg->fired = 0;
		reg->count = 0;
		reg->ret_flags = 0;
		reg->pending = false;
		if (ret & KEVENT_RET_REMOVED) {
			reg->state = KEV_IDLE;
			kev_core_remove(core, reg);
		} else {
			reg->state = KEV_QUEUED;
			reg->slot = k;
			shadow[k & mask] = reg;
			if (reg->req_flags & KEVENT_REQ_DISPATCH)
				reg->disabled = true;
			else if (reg->always || reg->muted)
				kev_core_note_work(core, reg);
		}
		k++;
	}
	core->since_collect += k - start;
	if (k != start) {
		kevent_store_relaxed(&core->ring->published,
			core->ring->published + (k - start));
		core->kidx = k;
		kevent_store_release(&core->ring->kidx, k);
	}
}
