// SPDX-License-Identifier: MIT
//
// core.cpp - the queue core: registry, ready list, publication,
// coalescing.  See core.hpp for the state machine and the locking rule.
#include "core.hpp"

#include <sys/mman.h>
#include <sys/prctl.h>

#include <cerrno>
#include <cstdlib>

namespace kev {

namespace {

size_t page_round(size_t n)
{
	constexpr size_t page = 4096;

	return (n + page - 1) & ~(page - 1);
}

constexpr uint32_t direct_min = 64;
constexpr uint32_t direct_max = 1u << 26;	// 512 MiB of pointers at most
constexpr uint32_t buckets_min_bits = 6;

} // namespace

int Core::init(unsigned int size)
{
	const size_t bytes = page_round(KEVENT_RING_BYTES(size) +
					sizeof(kevent_stats));

	mapping_ = Mapping(mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
			   bytes);
	if (!mapping_)
		return -1;
	ring_ = static_cast<kevent_ring *>(mapping_.get());
	/*
	 * Name the mapping "[anon:kevent-ring]" in /proc/PID/maps, so that
	 * kevent-stat(1) finds it at once and the kernel does not merge it
	 * with its neighbours.  Kernels without CONFIG_ANON_VMA_NAME refuse
	 * (EINVAL): kevent-stat then looks for the header itself.
	 */
	const int err = errno;

	prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME,
	      reinterpret_cast<unsigned long>(mapping_.get()), bytes,
	      reinterpret_cast<unsigned long>("kevent-ring"));
	errno = err;
	ring_->size = size;
	ring_->mask = size - 1;
	ring_->version = KEVENT_ABI_VERSION;
	ring_->entry_size = sizeof(ukevent);
	ring_->entries_offset = KEVENT_RING_ENTRIES_OFFSET;
	ring_->stats_offset = static_cast<uint32_t>(KEVENT_RING_BYTES(size));
	stats_area_ = reinterpret_cast<kevent_stats *>(
		static_cast<char *>(mapping_.get()) + ring_->stats_offset);
	size_ = size;
	mask_ = size - 1;
	hash_bits_ = buckets_min_bits;
	if (!shadow_.allocate(size) || !buckets_.allocate(1u << hash_bits_)) {
		errno = ENOMEM;
		return -1;	// the destructor frees what there is
	}
	for (uint32_t i = 0; i < size; i++)
		shadow_[i] = nullptr;
	for (uint32_t i = 0; i < buckets_.size(); i++)
		buckets_[i] = nullptr;
	return 0;
}

Core::~Core()
{
	for (uint32_t i = 0; i < nslabs_; i++)
		std::free(slabs_[i]);
}

// ---- the registry: direct tables of small ids, a hash of the rest

/*
 * Fibonacci hashing: the top bits of the product are the well-mixed ones
 * (sequential ids spread evenly).
 */
uint32_t Core::bucket(uint32_t type, uint64_t id) const
{
	const uint64_t h = (id ^ (uint64_t{type} << 59)) * 0x9e3779b97f4a7c15ull;

	return static_cast<uint32_t>(h >> (64 - hash_bits_));
}

Reg *Core::find_hashed(uint32_t type, uint64_t id) const
{
	for (Reg *reg = buckets_[bucket(type, id)]; reg; reg = reg->hnext)
		if (reg->id == id && reg->type == type)
			return reg;
	return nullptr;
}

void Core::hash_grow()
{
	Buffer<Reg *> old = static_cast<Buffer<Reg *> &&>(buckets_);
	Buffer<Reg *> b;

	if (!b.allocate(old.size() * 2)) {
		buckets_ = static_cast<Buffer<Reg *> &&>(old);
		return;		// keep the longer chains
	}
	for (uint32_t i = 0; i < b.size(); i++)
		b[i] = nullptr;
	buckets_ = static_cast<Buffer<Reg *> &&>(b);
	hash_bits_++;
	for (uint32_t i = 0; i < old.size(); i++) {
		Reg *next;

		for (Reg *reg = old[i]; reg; reg = next) {
			const uint32_t h = bucket(reg->type, reg->id);

			next = reg->hnext;
			reg->hnext = buckets_[h];
			buckets_[h] = reg;
		}
	}
}

void Core::hash_insert(Reg *reg)
{
	if (nhashed_ >= buckets_.size())
		hash_grow();
	const uint32_t h = bucket(reg->type, reg->id);
	reg->hnext = buckets_[h];
	buckets_[h] = reg;
	nhashed_++;
	direct_[reg->type].nhashed++;
}

void Core::hash_unlink(Reg **pp)
{
	Reg *reg = *pp;

	*pp = reg->hnext;
	reg->hnext = nullptr;
	nhashed_--;
	direct_[reg->type].nhashed--;
}

void Core::hash_remove(Reg *reg)
{
	for (Reg **pp = &buckets_[bucket(reg->type, reg->id)]; *pp;
	     pp = &(*pp)->hnext) {
		if (*pp == reg) {
			hash_unlink(pp);
			return;
		}
	}
}

/*
 * Grow the direct table of a type so that it covers id, if it stays dense
 * enough: at most about twice the registrations of the type, plus a little.
 * Hashed registrations of the type that the table now covers move into it.
 */
void Core::direct_grow(uint32_t type, uint64_t id)
{
	DirectTable &d = direct_[type];
	const uint64_t limit = 2 * uint64_t{d.nregs} + 2 * direct_min;
	uint32_t cap = d.slot.size() ? d.slot.size() : direct_min;

	if (id >= limit || id >= direct_max)
		return;
	while (cap <= id)
		cap *= 2;
	if (!d.slot.grow(cap))
		return;		// the hash takes it
	for (uint32_t i = 0; d.nhashed && i < buckets_.size(); i++) {
		Reg **pp = &buckets_[i];

		while (*pp) {
			Reg *reg = *pp;

			if (reg->type == type && reg->id < cap) {
				hash_unlink(pp);
				d.slot[static_cast<uint32_t>(reg->id)] = reg;
			} else {
				pp = &reg->hnext;
			}
		}
	}
}

void Core::insert(Reg *reg)
{
	DirectTable &d = direct_[reg->type];

	if (reg->id >= d.slot.size())
		direct_grow(reg->type, reg->id);
	d.nregs++;
	if (reg->id < d.slot.size())
		d.slot[static_cast<uint32_t>(reg->id)] = reg;
	else
		hash_insert(reg);
}

void Core::registry_remove(Reg *reg)
{
	DirectTable &d = direct_[reg->type];

	d.nregs--;
	if (reg->id < d.slot.size())
		d.slot[static_cast<uint32_t>(reg->id)] = nullptr;
	else
		hash_remove(reg);
}

// ---- registrations: slabs and a free list

int Core::slab_add()
{
	if (nslabs_ == max_slabs) {
		errno = ENOMEM;
		return -1;
	}
	if (nslabs_ == slabs_.size() &&
	    !slabs_.grow(slabs_.size() ? slabs_.size() * 2 : 8)) {
		errno = ENOMEM;
		return -1;
	}
	/*
	 * Not zeroed: alloc() clears a registration when used.  64-byte
	 * aligned: the first 32 bytes of each registration then sit in one
	 * cache line (Reg).
	 */
	auto *slab = static_cast<Reg *>(
		std::aligned_alloc(64, slab_regs * sizeof(Reg)));
	if (!slab) {
		errno = ENOMEM;
		return -1;
	}
	slabs_[nslabs_] = slab;
	const uint32_t base = nslabs_++ << slab_shift;
	// In address order on the free list: new registrations are adjacent.
	for (uint32_t i = slab_regs; i-- > 0;) {
		slab[i].handle = base + i;
		slab[i].gen = 0;
		slab[i].live = false;
		slab[i].next = free_regs_;
		free_regs_ = &slab[i];
	}
	return 0;
}

Reg *Core::alloc(const ukevent &ev)
{
	Reg *reg = free_regs_;

	if (KEV_UNLIKELY(!reg)) {
		if (slab_add() < 0)
			return nullptr;
		reg = free_regs_;
	}
	free_regs_ = reg->next;
	const uint32_t handle = reg->handle;
	const uint32_t gen = reg->gen;
	*reg = Reg{};
	reg->id = ev.id;
	reg->data = ev.data;
	reg->user = ev.user;
	reg->event = ev.event;
	reg->req_flags = static_cast<uint16_t>(ev.req_flags);
	reg->type = static_cast<uint8_t>(ev.type);
	reg->prio = ev.prio & KEVENT_PRIO_MAX;	// checked: <= KEVENT_PRIO_MAX
	reg->handle = handle;
	reg->gen = gen;
	reg->live = true;
	reg->fd = -1;	// and heap_idx = UINT32_MAX
	return reg;
}

void Core::free_unlinked(Reg *reg)
{
	reg->live = false;
	reg->gen++;		// every token of this life is stale now
	reg->next = free_regs_;
	free_regs_ = reg;
}

// ---- states: the ready and check lists (a registration is on one at most)

void Core::make_ready(Reg *reg)
{
	if (reg->state == RegState::check)
		check_.erase(reg);
	reg->state = RegState::ready;
	ready_.push_back(reg);
	if (stats_) [[unlikely]]
		stamp_ready(reg);	// last: a tail call, no frame here
}

// Out of line: a call to the clock would make make_ready() save registers.
void Core::stamp_ready(Reg *reg)
{
	reg->slot = stamp16(clock_now(Clock::monotonic));
}

// ---- statistics (KEVENT_OPT_STATS)

void Core::set_stats(bool on)
{
	if (on == stats_)
		return;
	stats_ = on;
	if (on) {
		/* what is ready already counts from now */
		const uint32_t now = stamp16(clock_now(Clock::monotonic));

		ready_.for_each([now](Reg *reg) { reg->slot = now; });
	}
	kevent_store_relaxed(&ring_->flags,
			     on ? ring_->flags | KEVENT_RING_STATS :
				  ring_->flags & ~KEVENT_RING_STATS);
}

// idle -> check (kmod: kevent_make_check).
void Core::make_check(Reg *reg)
{
	if (reg->state == RegState::idle) {
		reg->state = RegState::check;
		check_.push_back(reg);
	}
}

Reg *Core::take_check()
{
	Reg *head = check_.take_all();

	for (Reg *reg = head; reg; reg = reg->next)
		reg->state = RegState::idle;
	return head;
}

void Core::clear_work(Reg *reg)
{
	if (reg->qwork) {
		reg->qwork = false;
		nqwork_--;
	}
}

void Core::unlink(Reg *reg)
{
	registry_remove(reg);
	switch (reg->state) {
	case RegState::ready:
		ready_.erase(reg);
		break;
	case RegState::check:
		check_.erase(reg);
		break;
	case RegState::queued:
		shadow_[reg->slot & mask_] = nullptr;
		break;
	case RegState::idle:
		break;
	}
	reg->state = RegState::idle;
	clear_work(reg);
}

// ---- firing, enabling, reaping

void Core::disable(Reg *reg)
{
	if (reg->disabled)
		return;
	reg->disabled = true;
	if (reg->state == RegState::ready) {
		ready_.erase(reg);
		reg->state = RegState::idle;
		reg->pending = true;
	} else if (reg->state == RegState::check) {
		check_.erase(reg);
		reg->state = RegState::idle;
	}
}

void Core::enable(Reg *reg)
{
	if (!reg->disabled)
		return;
	reg->disabled = false;
	if (reg->state != RegState::idle) {
		// queued: handled when the consumer passes it
		if (reg->pending)
			note_work(reg);
		return;
	}
	if (reg->is_lt_poll() ||
	    (reg->watch == Watch::muted && !reg->pending)) {
		// level, or an edge fd whose ended watch is still to renew
		reg->pending = false;
		reg->fired = 0;
		make_check(reg);
	} else if (reg->pending) {
		reg->pending = false;
		make_ready(reg);
	}
}

void Core::reap()
{
	Reg **const shadow = shadow_.get();
	const uint32_t mask = mask_;
	uint32_t r = reaped_;
	uint32_t end = kevent_load_acquire(&ring_->uidx);

	// Never trust uidx: it cannot pass what was published.
	if (end - r > kidx_ - r)
		end = kidx_;
	for (; r != end; r++) {
		Reg *reg = shadow[r & mask];

		if (!reg)
			continue;
		shadow[r & mask] = nullptr;
		reg->state = RegState::idle;
		clear_work(reg);
		if (reg->disabled)
			continue;	// pending stays for ENABLE
		if (reg->is_lt_poll() || reg->watch == Watch::muted) {
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
			if (reg->watch_needs_check())
				make_check(reg);
		} else if (reg->pending) {
			reg->pending = false;
			make_ready(reg);
		}
	}
	reaped_ = end;
}

} // namespace kev
