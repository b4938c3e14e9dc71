// SPDX-License-Identifier: MIT
//
// core.hpp - the queue core shared by the user-space backends: the
// registry, the ready list, publication into the ring and coalescing.
//
// A registration is in one of four states, the kernel module's
// (kmod/kevent.c, enum kevent_state, KREG_*):
//   idle    nothing to report;
//   check   on the check list: a level-triggered (or ended edge) POLL
//           watch the consumer passed, to be looked at again by the
//           backend before the next sleep;
//   ready   on the FIFO ready list, waiting for room in the ring;
//   queued  its entry is in the ring and the consumer has not passed it.
// Firings while ready or queued (or disabled) only add to its counters, so
// a registration never holds more than one ring slot and nothing is lost.
// Every change of state is a member of Core, below.
//
// Locking: every member of Core requires its lock, which is never held
// across a sleep.  The consumer reads the ring without it.
#ifndef KEV_CORE_HPP
#define KEV_CORE_HPP

#include <cstddef>
#include <cstdint>

#include "buffer.hpp"
#include "clock.hpp"
#include "internal.hpp"
#include "lock.hpp"
#include "mapping.hpp"

namespace kev {

enum class RegState : uint8_t { idle, check, ready, queued };

/*
 * How the waitset watches a POLL registration's fd (ubackend.cpp); other
 * types stay armed.
 */
enum class Watch : uint8_t {
	armed,		// reports readiness
	detached,	// its number now names another file: never watched
	/*
	 * Not reporting.  Level: muted (a DISPATCH delivery, disabled) or
	 * spent (io_uring), rearmed when the consumer passes its entry.
	 * Edge: its watch ended (io_uring, CQ full), renewed then too.
	 */
	muted,
	always,		// the waitset refused the file: always ready
};

struct Reg {
	/*
	 * What a lookup, a list move and a state change touch, in the first
	 * 32 bytes: registrations are 96 bytes in 64-byte aligned slabs, so
	 * each starts on a 32-byte boundary and this block never straddles two
	 * cache lines.  With 100k registrations in random order, a DISABLE or
	 * REMOVE of a ready one costs the misses of its slot, this block and
	 * its two neighbours' blocks, no more (bench/scale.c).
	 */
	uint64_t id;
	// the ready or check list (doubly linked), or the free list
	Reg *next, *prev;
	uint8_t type;		// KEVENT_POLL ... (checked)
	RegState state;
	Watch watch;		// POLL
	bool disabled : 1;	// KEVENT_CTL_DISABLE or DISPATCH
	bool pending : 1;	// fired while queued or disabled
	bool live : 1;		// allocated (else on the free list)
	bool qwork : 1;		// queued, and its consumption makes work
	bool nested : 1;	// POLL: the fd is a kevent queue
	uint8_t prio : 3;	// 0 .. KEVENT_PRIO_MAX (checked)
	uint32_t gen;		// bumped on every free: stale tokens fail

	// the rest of the registration, as given to kevent_ctl
	uint64_t data;
	uint64_t user;
	uint32_t event;
	uint16_t req_flags;	// KEVENT_REQ_* (checked: 3 bits)
	uint16_t ret_flags;	// KEVENT_RET_* to deliver
	// the rest of the core state
	uint64_t count;		// ret_data to deliver (counts, status)
	uint32_t fired;		// OR of masks fired since last delivery
	uint32_t slot;		// ring index while queued
	uint32_t handle;	// index in the slabs: fixed for its life
	// backend state
	union {
		int fd;		// POLL: watched fd; PROC: pidfd; INODE: wd
		uint32_t heap_idx; // TIMER: position in its heap
	};			// -1 / UINT32_MAX (the same bits): none
	Reg *hnext;		// hash chain (ids not in a direct table)
	uint32_t nest_idx;	// POLL with nested: index in the nest list
	/*
	 * TIMER: the clock of the heap that holds it while heap_idx is not
	 * UINT32_MAX, written only by that heap (timers.cpp).  Not derived
	 * from event, which a MODIFY changes while the timer is in the heap
	 * of its old clock.
	 */
	uint8_t timer_heap;

	static constexpr unsigned token_gen_shift = 32;

	// 64-bit token for the registration (the waitset's data).
	uint64_t token() const
	{
		return (uint64_t{gen} << token_gen_shift) | handle;
	}
	/*
	 * The token it will have once its generation is bumped (gen++): a
	 * new watch of the same registration, after which completions of
	 * the old watch are stale.
	 */
	uint64_t next_token() const
	{
		return (uint64_t{static_cast<uint32_t>(gen + 1)}
			<< token_gen_shift) | handle;
	}
	bool is_lt_poll() const
	{
		return type == KEVENT_POLL && !(req_flags & KEVENT_REQ_ET);
	}
	// POLL, and its watch is in the waitset (armed or muted).
	bool in_waitset() const
	{
		return watch == Watch::armed || watch == Watch::muted;
	}
	/*
	 * POLL, and the consumer's passing of its entry makes work: a muted
	 * watch to rearm or an always-ready file to fire.  (The two are the
	 * last values of Watch: one comparison.)
	 */
	bool watch_needs_check() const { return watch >= Watch::muted; }
};

static_assert(sizeof(Reg) == 96, "a registration is 96 bytes");
static_assert(offsetof(Reg, gen) + sizeof(uint32_t) <= 32,
	      "the hot block is the first 32 bytes");

/*
 * A FIFO of registrations linked through next and prev (intrusive), so
 * that any one leaves it in O(1) whatever its place.
 */
class RegList {
public:
	Reg *front() const { return head_; }
	uint32_t size() const { return n_; }
	bool empty() const { return n_ == 0; }

	void push_back(Reg *reg)
	{
		reg->next = nullptr;
		reg->prev = tail_;
		if (tail_)
			tail_->next = reg;
		else
			head_ = reg;
		tail_ = reg;
		n_++;
	}

	// O(1), wherever reg is: a removal never walks the list.
	void erase(Reg *reg)
	{
		if (reg->prev)
			reg->prev->next = reg->next;
		else
			head_ = reg->next;
		if (reg->next)
			reg->next->prev = reg->prev;
		else
			tail_ = reg->prev;
		reg->next = nullptr;
		reg->prev = nullptr;
		n_--;
	}

	// Empty the list; the caller walks what it held through next.
	Reg *take_all()
	{
		Reg *head = head_;

		head_ = nullptr;
		tail_ = nullptr;
		n_ = 0;
		return head;
	}

private:
	Reg *head_ = nullptr;
	Reg *tail_ = nullptr;
	uint32_t n_ = 0;
};

/*
 * The ready registrations: a FIFO per priority level, and the choice of
 * the next to publish within the starvation bound (kevent(7),
 * "Priorities"; the same rule as kevent_publish() in kmod/kevent.c):
 * the head of the lowest non-empty level that has waited for bound
 * publications of higher levels, else the head of the highest non-empty
 * level.  waited_[p] counts the publications of higher levels since level
 * p was last published from or became non-empty (it is reset when the
 * level empties, and only grows while it is not empty).  Picking the lowest
 * level at the bound first keeps every count at or below the bound:
 * a publication adds only to the levels below its own, which were below
 * the bound.  With one level in use (the default) a pick is the front of
 * that level's list.
 */
class ReadyLists {
public:
	static constexpr unsigned levels = KEVENT_PRIO_LEVELS;

	bool empty() const { return bits_ == 0; }
	uint32_t size() const { return n_; }
	uint32_t bound() const { return bound_; }
	void set_bound(uint32_t b)
	{
		bound_ = b;
		calm_ = 0;	// look again at the next pick
	}

	void push_back(Reg *reg)
	{
		const unsigned p = reg->prio;
		Reg *const tail = tail_[p];

		reg->next = nullptr;
		reg->prev = tail;
		if (tail) {
			tail->next = reg;
		} else {
			head_[p] = reg;
			bits_ |= 1u << p;
		}
		tail_[p] = reg;
		n_++;
	}
	// O(1), wherever reg is in its level.
	void erase(Reg *reg) { unlink(reg, reg->prio); }
	// Call fn(Reg *) for each ready registration.
	template <typename F> void for_each(F fn) const
	{
		for (Reg *const head : head_)
			for (Reg *reg = head; reg; reg = reg->next)
				fn(reg);
	}
	// The next to publish, or null.
	Reg *next()
	{
		if (bits_ <= 1)		// level 0 or nothing (the default)
			return head_[0];
		const auto top = static_cast<unsigned>(31 - __builtin_clz(bits_));

		if (calm_)		// no level can be at the bound yet
			return head_[top];
		return scan(top);
	}
	// reg (from next()) is being published: take it off, count.
	void take(Reg *reg)
	{
		if (bits_ == 1) [[likely]] {	// level 0 alone (the default)
			unlink(reg, 0);
			return;		// (unlink zeroed waited_[0] if empty)
		}
		take_mixed(reg);
	}

private:
	// Out of line: its reads would be hoisted into the default path.
	[[gnu::noinline]] void take_mixed(Reg *reg)
	{
		const unsigned q = reg->prio;

		unlink(reg, q);
		waited_[q] = 0;
		for (unsigned m = bits_ & ((1u << q) - 1); m; m &= m - 1)
			waited_[static_cast<unsigned>(__builtin_ctz(m))]++;
		if (calm_)
			calm_--;
	}
	/*
	 * The lowest non-empty level at the bound, else the highest (top).
	 * Finding none, it notes how many publications must pass before one
	 * can reach the bound (each adds at most one to a count, and a level
	 * that fills starts at 0), and next() need not look until then.
	 */
	[[gnu::noinline]] Reg *scan(unsigned top)
	{
		uint32_t most = 0;

		for (unsigned m = bits_; m; m &= m - 1) {
			const auto p = static_cast<unsigned>(__builtin_ctz(m));

			if (p != top && waited_[p] >= bound_)
				return head_[p];
			if (waited_[p] > most)
				most = waited_[p];
		}
		calm_ = bound_ > most ? bound_ - most : 0;
		return head_[top];
	}

	void unlink(Reg *reg, unsigned p)
	{
		Reg *const prev = reg->prev, *const next = reg->next;

		if (prev)
			prev->next = next;
		else
			head_[p] = next;
		if (next) {
			next->prev = prev;
		} else {
			tail_[p] = prev;
			if (!prev) {	// the level is empty now
				bits_ &= ~(1u << p);
				waited_[p] = 0;
			}
		}
		reg->next = nullptr;
		reg->prev = nullptr;
		n_--;
	}

	Reg *head_[levels] = {};
	Reg *tail_[levels] = {};
	uint32_t waited_[levels] = {};
	uint32_t bits_ = 0;	// bit p: level p is not empty
	uint32_t n_ = 0;
	uint32_t bound_ = KEVENT_PRIO_BOUND_DEFAULT;
	// publications before a level can reach the bound (0: look)
	uint32_t calm_ = 0;
};

/*
 * Small ids are looked up by index, as the kernel finds a file by its
 * descriptor: fds, and timer or user ids that are counters, are dense.
 * An id goes into the direct table of its type while the table would stay
 * at most about twice as large as that type's number of registrations;
 * sparse ids (pids, pointers used as ids) go into the hash.
 */
struct DirectTable {
	Buffer<Reg *> slot;	// ids below slot.size() are here, never hashed
	uint32_t nregs = 0;	// registrations of this type
	uint32_t nhashed = 0;	// of which in the hash
};

/*
 * The core of one queue.  The backend that owns it is passed to the
 * members that free registrations (remove(), publish()): they call its
 * release(Reg *) first, for the backend's resources.
 */
class Core {
public:
	/*
	 * Registrations are allocated in slabs and never given back before
	 * the queue dies, so a registration's memory stays a registration:
	 * the handle (slab number and index) of a token reaches it without a
	 * table, and the generation tells a stale token from a live one.
	 */
	static constexpr unsigned slab_shift = 8;
	static constexpr uint32_t slab_regs = 1u << slab_shift;
	static constexpr uint32_t max_slabs = 0x7fffffffu >> slab_shift;

	Core() = default;
	Core(const Core &) = delete;
	Core &operator=(const Core &) = delete;
	~Core();

	// Map a ring of size entries (a power of two): -1/errno.
	int init(unsigned int size);

	Mutex lock;

	kevent_ring *ring() const { return ring_; }
	size_t ring_bytes() const { return mapping_.size(); }
	uint32_t kidx() const { return kidx_; }
	uint32_t nready() const { return ready_.size(); }
	uint32_t ncheck() const { return check_.size(); }
	uint32_t nqwork() const { return nqwork_; }
	// Registrations of a type (< KEVENT_TYPE_MAX).
	uint32_t nregs(uint32_t type) const { return direct_[type].nregs; }

	// ---- the registry

	// The registration of (type, id), or null; type < KEVENT_TYPE_MAX.
	Reg *find(uint32_t type, uint64_t id)
	{
		const DirectTable &d = direct_[type];

		if (id < d.slot.size())
			return d.slot[static_cast<uint32_t>(id)];
		if (!d.nhashed)
			return nullptr;
		return find_hashed(type, id);
	}
	// A new registration from an ADD entry, not yet inserted: null on ENOMEM.
	Reg *alloc(const ukevent &ev);
	void insert(Reg *reg);
	// Free a registration that was never inserted.
	void free_unlinked(Reg *reg);
	// Unlink and free, after owner.release(reg).
	template <typename Owner> void remove(Owner &owner, Reg *reg)
	{
		unlink(reg);
		owner.release(reg);
		free_unlinked(reg);
	}

	Reg *reg_at(uint32_t handle) const
	{
		return &slabs_[handle >> slab_shift][handle & (slab_regs - 1)];
	}
	// The live registration a token names, or null if it is stale.
	Reg *lookup_token(uint64_t token) const
	{
		const auto i = static_cast<uint32_t>(token);

		if ((i >> slab_shift) >= nslabs_)
			return nullptr;
		Reg *reg = reg_at(i);
		if (!reg->live ||
		    reg->gen != static_cast<uint32_t>(token >> Reg::token_gen_shift))
			return nullptr;
		return reg;
	}
	// Call fn(Reg &) for every live registration (for teardown).
	template <typename F> void for_each(F fn) const
	{
		for (uint32_t i = 0; i < nslabs_ * slab_regs; i++)
			if (Reg *reg = reg_at(i); reg->live)
				fn(*reg);
	}

	// ---- states

	// idle or check -> ready: at the tail of the ready list.
	void make_ready(Reg *reg);
	/*
	 * A queued registration whose consumption will leave work for the
	 * library (a firing to publish, a file to check again): counted, so
	 * that a queue polled by another loop can say it is readable
	 * (kevent(7)).
	 */
	void note_work(Reg *reg)
	{
		if (reg->state == RegState::queued && !reg->qwork) {
			reg->qwork = true;
			nqwork_++;
		}
	}
	/*
	 * The registration fired: OR mask into its event, add count.  True
	 * if that made it ready; false if the firing waits in its counters
	 * (it is ready or queued already, or disabled).
	 */
	bool fire(Reg *reg, uint32_t mask, uint64_t count)
	{
		reg->fired |= mask;
		reg->count += count;
		if (reg->disabled || reg->state == RegState::queued) {
			reg->pending = true;
			if (!reg->disabled)
				note_work(reg);
			if (reg->disabled || !passed(reg))
				count_coalesced();
			return false;
		}
		if (reg->state == RegState::ready) {
			count_coalesced();
			return false;
		}
		make_ready(reg);	// from idle or check
		return true;
	}
	void disable(Reg *reg);
	// MODIFY's new priority: a ready one goes to the tail of its level.
	void set_prio(Reg *reg, uint32_t prio)
	{
		if (reg->prio == prio)
			return;
		const bool ready = reg->state == RegState::ready;

		if (ready)
			ready_.erase(reg);	// by its old level
		reg->prio = prio & KEVENT_PRIO_MAX;
		if (ready)
			ready_.push_back(reg);
	}
	uint32_t prio_bound() const { return ready_.bound(); }

	// ---- statistics (KEVENT_OPT_STATS; kevent(7), "Statistics")
	bool stats() const { return stats_; }
	void set_stats(bool on);
	// a kevent_wait() call; one that goes to sleep
	void count_wait()
	{
		kevent_store_relaxed(&ring_->waits, ring_->waits + 1);
	}
	void count_sleep()
	{
		kevent_store_relaxed(&ring_->sleeps, ring_->sleeps + 1);
	}
	void set_prio_bound(uint32_t b) { ready_.set_bound(b); }
	void enable(Reg *reg);
	// Empty the check list: the caller walks it through next, each one
	// idle again, and fires what is still ready.
	Reg *take_check();

	// ---- the ring

	// Process entries the consumer has passed.
	void reap();
	/*
	 * Move ready registrations into the ring, oldest first, while it has
	 * room and the publication budget (since_collect_) allows.
	 */
	template <typename Owner> void publish(Owner &owner)
	{
		// Inline: most calls (a wake-up, a wait) have nothing to do.
		if (!ready_.empty() && since_collect_ < size_)
			publish_ready(owner);
	}
	// The backend has collected every firing: a new budget.
	void collected() { since_collect_ = 0; }
	// May publish() publish now, or must the backend collect first?
	bool budget_left() const { return since_collect_ < size_; }
	// Entries in the ring now.
	uint32_t count() const
	{
		return kidx_ - kevent_load_acquire(&ring_->uidx);
	}
	bool has_ready() const { return !ready_.empty(); }
	/*
	 * Work the next kevent_wait would do without the kernel's help:
	 * publish ready registrations, check level-triggered ones again, or
	 * handle what the consumer will pass.
	 */
	bool has_work() const
	{
		return !ready_.empty() || !check_.empty() || nqwork_;
	}

private:
	/*
	 * Queued, but the consumer has passed its entry and only the reap is
	 * to come: a firing now will have a delivery of its own, not a
	 * coalesced one.
	 */
	bool passed(const Reg *reg) const
	{
		const uint32_t u = kevent_load_relaxed(&ring_->uidx);

		return static_cast<int32_t>(u - reg->slot) > 0 &&
		       static_cast<int32_t>(kidx_ - u) >= 0;
	}
	void count_coalesced()
	{
		kevent_store_relaxed(&ring_->coalesced, ring_->coalesced + 1);
	}
	[[gnu::cold, gnu::noinline]] static void stamp_ready(Reg *reg);
	// A time in 16 ns units, 32 bits: a ready registration's stamp
	// (in slot, unused while ready); differences up to 68 s.
	static uint32_t stamp16(uint64_t ns)
	{
		return static_cast<uint32_t>(ns >> 4);
	}
	Reg *find_hashed(uint32_t type, uint64_t id) const;
	uint32_t bucket(uint32_t type, uint64_t id) const;
	void hash_grow();
	void hash_insert(Reg *reg);
	void hash_unlink(Reg **pp);
	void hash_remove(Reg *reg);
	void direct_grow(uint32_t type, uint64_t id);
	void registry_remove(Reg *reg);
	int slab_add();
	void unlink(Reg *reg);
	void make_check(Reg *reg);
	template <typename Owner> void publish_ready(Owner &owner)
	{
		if (stats_) [[unlikely]]
			publish_ready<Owner, true>(owner, clock_now(Clock::monotonic));
		else
			publish_ready<Owner, false>(owner, 0);
	}
	template <typename Owner, bool Stats>
	void publish_ready(Owner &owner, uint64_t now);
	void clear_work(Reg *reg);
	// The event mask an entry delivers.
	static uint32_t delivered_event(const Reg &reg)
	{
		if (reg.type == KEVENT_POLL || reg.type == KEVENT_INODE)
			return reg.fired;
		return reg.event | reg.fired;
	}

	Mapping mapping_;		// the ring
	kevent_ring *ring_ = nullptr;
	uint32_t size_ = 0, mask_ = 0;
	uint32_t kidx_ = 0;		// producer index (our copy)
	uint32_t reaped_ = 0;		// entries before this are processed
	Buffer<Reg *> shadow_;		// registration behind each slot

	DirectTable direct_[KEVENT_TYPE_MAX];
	Buffer<Reg *> buckets_;		// hash of (type, id) for the rest
	uint32_t nhashed_ = 0, hash_bits_ = 0;

	Buffer<Reg *> slabs_;		// slab_regs registrations each
	uint32_t nslabs_ = 0;
	Reg *free_regs_ = nullptr;	// freed registrations, for reuse

	ReadyLists ready_;		// ready registrations, by priority
	RegList check_;			// the check list
	uint32_t nqwork_ = 0;		// registrations with qwork set
	/*
	 * Entries published since the backend last collected everything
	 * that had fired (collected()).  A publication is allowed only while
	 * this is below the ring size, so at most one ring's worth is ever
	 * published between two collections: the fairness bound of
	 * kevent(7) rests on it.
	 */
	uint32_t since_collect_ = 0;
	bool stats_ = false;		// KEVENT_OPT_STATS
	kevent_stats *stats_area_ = nullptr;	// in the ring's mapping
};

// now: the entries' stamp (statistics on), else 0
template <typename Owner, bool Stats>
void Core::publish_ready(Owner &owner, uint64_t now)
{
	ukevent *const entries = kevent_ring_entries(ring_);
	Reg **const shadow = shadow_.get();
	const uint32_t mask = mask_;
	const uint32_t start = kidx_;
	uint32_t k = start;
	uint32_t limit = reaped_ + size_;	// first slot not free
	const uint32_t budget = size_ - since_collect_;	// > 0 (publish())

	while (Reg *reg = ready_.next()) {
		if (k == limit) {
			kidx_ = k;	// reap() sees what we wrote
			reap();
			limit = reaped_ + size_;
			if (k == limit) {
				kevent_store_relaxed(&ring_->deferred,
						     ring_->deferred + 1);
				break;
			}
		}
		if (k - start == budget)
			break;	// room, but collect first
		ready_.take(reg);
		uint32_t ret = reg->ret_flags;
		if (reg->req_flags & KEVENT_REQ_ONESHOT)
			ret |= KEVENT_RET_REMOVED;
		ukevent *e = &entries[k & mask];
		e->id = reg->id;
		e->type = reg->type;
		e->event = delivered_event(*reg);
		e->req_flags = reg->req_flags;
		e->ret_flags = ret;
		e->data = reg->data;
		e->ret_data = reg->count;
		e->user = reg->user;
		e->prio = reg->prio;
		e->__reserved0 = 0;
		e->stamp = now;
		if constexpr (Stats) {
			__u64 *h = &stats_area_->fire_to_publish[
				kevent__stats_bucket(uint64_t{static_cast<uint32_t>(
					stamp16(now) - reg->slot)} << 4)];

			kevent_store_relaxed(h, *h + 1);
		}
		reg->fired = 0;
		reg->count = 0;
		reg->ret_flags = 0;
		reg->pending = false;
		if (ret & KEVENT_RET_REMOVED) {
			reg->state = RegState::idle;
			remove(owner, reg);
		} else {
			reg->state = RegState::queued;
			reg->slot = k;
			shadow[k & mask] = reg;
			if (reg->req_flags & KEVENT_REQ_DISPATCH)
				reg->disabled = true;
			else if (reg->watch_needs_check())
				note_work(reg);
		}
		k++;
	}
	since_collect_ += k - start;
	if (k != start) {
		kevent_store_relaxed(&ring_->published,
				     ring_->published + (k - start));
		kidx_ = k;
		kevent_store_release(&ring_->kidx, k);
	}
}

} // namespace kev

#endif // KEV_CORE_HPP
