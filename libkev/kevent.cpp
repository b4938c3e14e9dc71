// SPDX-License-Identifier: MIT
//
// kevent.cpp - the public entry points: the table from queue fds to
// queues, reference counting against concurrent kevent_close(), the fork
// rule, the choice of backend and the checks common to every backend.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "internal.hpp"
#include "lock.hpp"

namespace kev {

namespace {

// struct kev_queue is C (the backends read it): its counters are atomic
// through std::atomic_ref.
using AtomicInt = std::atomic_ref<int>;
static_assert(alignof(int) >= AtomicInt::required_alignment);
static_assert(AtomicInt::is_always_lock_free);

/*
 * fd -> queue.  Two levels of pages of atomic pointers, allocated on demand
 * and never freed, so a lookup takes no lock.  struct kev_queue is
 * type-stable: a released one goes to a free list and is only ever reused
 * as a kev_queue, never unmapped.  So a lookup may load a pointer, take a
 * reference with increment-if-not-zero, and then check that the slot still
 * holds that queue, even if the queue was closed in between.
 * table_lock serialises the writers (kevent_init, kevent_close).
 */
constexpr unsigned int page_shift = 10;
constexpr unsigned int page_size = 1u << page_shift;
constexpr unsigned int num_pages = 1u << 12;	// 4M descriptors

using Slot = kev_queue *;
using SlotRef = std::atomic_ref<Slot>;
static_assert(alignof(Slot) >= SlotRef::required_alignment);

// Constant-initialised (no constructor runs at load time).
constinit std::array<std::atomic<Slot *>, num_pages> table{};
constinit Mutex table_lock;
kev_queue *free_queues;			// under table_lock
constinit Mutex alloc_lock;

// Bumped in every forked child; a queue made in another generation is dead.
constinit std::atomic<unsigned int> fork_gen{0};
pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

void atfork_child()
{
	fork_gen.fetch_add(1, std::memory_order_relaxed);
}

void atfork_setup()
{
	pthread_atfork(nullptr, nullptr, atfork_child);
}

// The table slot of fd, or nullptr if its page was never made (no queue).
inline Slot *slot_of(int fd)
{
	const auto ufd = static_cast<unsigned int>(fd);

	if (fd < 0 || (ufd >> page_shift) >= num_pages)
		return nullptr;
	Slot *p = table[ufd >> page_shift].load(std::memory_order_acquire);
	return p ? &p[ufd & (page_size - 1)] : nullptr;
}

// The same, making the page if needed (for a new queue).
Slot *slot_create(int fd)
{
	const auto ufd = static_cast<unsigned int>(fd);
	const unsigned int page = ufd >> page_shift;

	if (fd < 0 || page >= num_pages)
		return nullptr;
	Slot *p = table[page].load(std::memory_order_acquire);
	if (!p) {
		Lock lock(alloc_lock);

		p = table[page].load(std::memory_order_relaxed);
		if (!p) {
			p = static_cast<Slot *>(std::calloc(page_size,
							    sizeof(Slot)));
			if (p)
				table[page].store(p, std::memory_order_release);
		}
	}
	return p ? &p[ufd & (page_size - 1)] : nullptr;
}

kev_queue *queue_alloc()
{
	kev_queue *q;

	{
		Lock lock(table_lock);

		q = free_queues;
		if (q)
			free_queues = q->next_free;
	}
	if (!q)
		return static_cast<kev_queue *>(std::calloc(1, sizeof(*q)));
	// refs is 0: concurrent lookups of a stale pointer fail on it
	q->fd = -1;
	q->ring = nullptr;
	q->ring_bytes = 0;
	q->ops = nullptr;
	q->priv = nullptr;
	q->next_free = nullptr;
	AtomicInt(q->closing).store(0, std::memory_order_relaxed);
	return q;
}

// Back to the free list: the memory stays a kev_queue forever.
void queue_recycle(kev_queue *q)
{
	Lock lock(table_lock);

	q->next_free = free_queues;
	free_queues = q;
}

/*
 * Leaves errno as it was: the last reference may be dropped after the
 * errno of a call was set (a QueueRef goes at the end of its scope).
 */
void queue_free(kev_queue *q, bool in_child)
{
	const int err = errno;

	q->ops->destroy(q, in_child);
	queue_recycle(q);
	errno = err;
}

bool in_this_process(const kev_queue &q)
{
	return q.fork_gen == fork_gen.load(std::memory_order_relaxed);
}

// A reference to a queue (or none), dropped with the object.
class QueueRef {
public:
	explicit QueueRef(kev_queue *q) : q_(q) {}
	QueueRef(const QueueRef &) = delete;
	QueueRef &operator=(const QueueRef &) = delete;
	~QueueRef()
	{
		if (q_)
			kev_queue_put(q_);
	}

	explicit operator bool() const { return q_ != nullptr; }
	kev_queue *get() const { return q_; }
	kev_queue *operator->() const { return q_; }

private:
	kev_queue *const q_;
};

/*
 * Look up a queue for a call: a reference for a QueueRef.  EBADF for a
 * closed fd, a queue closed by another thread, or a queue inherited
 * across fork(); EINVAL for an open fd that is not a kevent queue (as
 * epoll_wait(2) does).  (Returns the pointer, not a QueueRef: a class
 * with a destructor is returned through memory, which the hot path of
 * every call would pay for.)
 */
kev_queue *lookup(int fd)
{
	kev_queue *q = kev_queue_get(fd);

	if (q) [[likely]] {
		if (in_this_process(*q) &&
		    !AtomicInt(q->closing).load(std::memory_order_acquire))
			[[likely]]
			return q;
		kev_queue_put(q);
		errno = EBADF;
		return nullptr;
	}
	errno = fcntl(fd, F_GETFD) < 0 ? EBADF : EINVAL;
	return nullptr;
}

/*
 * An argument is invalid: EINVAL, unless fd itself is bad (EBADF, or EINVAL
 * for an fd that is not a queue), which takes precedence as in epoll.
 */
int bad_argument(int fd)
{
	if (QueueRef(lookup(fd)))
		errno = EINVAL;
	return -1;
}

// ---- queue options (kevent_setopt)

bool opt_valid(unsigned int opt)
{
	return opt != 0 && opt < KEVENT_OPT_MAX;
}

// The smallest value of a valid option.
uint64_t opt_min(unsigned int opt)
{
	return opt == KEVENT_OPT_PRIO_BOUND ? 1 : 0;
}

// The largest value of a valid option.
uint64_t opt_max(unsigned int opt)
{
	switch (opt) {
	case KEVENT_OPT_TIMER_SLACK:
		return KEVENT_TIMER_SLACK_MAX;
	case KEVENT_OPT_PRIO_BOUND:
		return KEVENT_PRIO_BOUND_MAX;
	case KEVENT_OPT_STATS:
		return 1;
	default:
		return 0;
	}
}

// ---- the backends

const kev_backend_ops *backend_by_flag(unsigned int b)
{
	switch (b) {
#ifdef KEV_HAVE_KMOD
	case KEVENT_BACKEND_KMOD:
		return &kev_kmod_ops;
#endif
#ifdef KEV_HAVE_URING
	case KEVENT_BACKEND_URING:
		return &kev_uring_ops;
#endif
	case KEVENT_BACKEND_EPOLL:
		return &kev_epoll_ops;
	default:
		return nullptr;
	}
}

// The backend asked for: flags first, then $KEVENT_BACKEND, else 0.
int backend_wanted(unsigned int flags, unsigned int *b)
{
	*b = flags & KEVENT_BACKEND_MASK;
	if (*b > KEVENT_BACKEND_EPOLL)
		return -1;
	if (*b)
		return 0;
	const char *env = secure_getenv("KEVENT_BACKEND");
	if (!env || !*env)
		return 0;
	if (!std::strcmp(env, "kmod"))
		*b = KEVENT_BACKEND_KMOD;
	else if (!std::strcmp(env, "uring"))
		*b = KEVENT_BACKEND_URING;
	else if (!std::strcmp(env, "epoll"))
		*b = KEVENT_BACKEND_EPOLL;
	else
		return -1;
	return 0;
}

const kev_backend_ops *pick_backend(unsigned int flags)
{
	/*
	 * uring only when asked for: io_uring tears a ring down
	 * asynchronously and interrupts the threads that used it with a
	 * spurious EINTR (see waitset-uring.cpp), and it is not faster than
	 * epoll for what libkev does with it (bench/results).
	 */
	constexpr std::array<unsigned int, 2> order = {
		KEVENT_BACKEND_KMOD, KEVENT_BACKEND_EPOLL,
	};
	unsigned int b;

	if (backend_wanted(flags, &b) < 0) {
		errno = EINVAL;
		return nullptr;
	}
	if (b) {
		// A forced backend never falls back.
		const kev_backend_ops *ops = backend_by_flag(b);
		if (!ops || ops->probe() < 0) {
			errno = ENODEV;
			return nullptr;
		}
		return ops;
	}
	for (const unsigned int o : order) {
		const kev_backend_ops *ops = backend_by_flag(o);
		if (ops && ops->probe() == 0)
			return ops;
	}
	errno = ENODEV;
	return nullptr;
}

// The event bits each type accepts in kevent_ctl.
constexpr std::array<uint32_t, KEVENT_TYPE_MAX> event_masks = [] {
	std::array<uint32_t, KEVENT_TYPE_MAX> m{};

	m[KEVENT_POLL] = KEVENT_POLL_MASK;
	m[KEVENT_TIMER] = KEVENT_TIMER_MASK;
	m[KEVENT_USER] = 0xffffffffu;	// caller-defined bits
	m[KEVENT_SIGNAL] = 0;
	m[KEVENT_INODE] = KEVENT_INODE_MASK;
	m[KEVENT_PROC] = KEVENT_PROC_MASK;
	return m;
}();

} // namespace

} // namespace kev

using namespace kev;

// ---- what the rest of libkev uses (internal.hpp)

void kev_queue_put(struct kev_queue *q)
{
	if (AtomicInt(q->refs).fetch_sub(1, std::memory_order_acq_rel) == 1)
		queue_free(q, false);
}

// The queue behind fd with a reference, or NULL (no errno).
struct kev_queue *kev_queue_get(int fd)
{
	Slot *const slot = slot_of(fd);

	if (!slot)
		return nullptr;
	for (;;) {
		kev_queue *q = SlotRef(*slot).load(std::memory_order_acquire);
		if (!q)
			return nullptr;
		AtomicInt refs(q->refs);
		int r = refs.load(std::memory_order_relaxed);
		do {
			if (r == 0)
				break;	// being released: look again
		} while (!refs.compare_exchange_weak(
			r, r + 1, std::memory_order_acquire,
			std::memory_order_relaxed));
		if (r == 0)
			continue;
		if (SlotRef(*slot).load(std::memory_order_acquire) == q)
			return q;
		kev_queue_put(q);	// recycled for another fd
	}
}

void kev_queue_for_each(bool (*fn)(struct kev_queue *q, void *arg), void *arg)
{
	for (unsigned int page = 0; page < num_pages; page++) {
		Slot *p = table[page].load(std::memory_order_acquire);

		for (unsigned int i = 0; p && i < page_size; i++) {
			if (!SlotRef(p[i]).load(std::memory_order_relaxed))
				continue;
			kev_queue *q = kev_queue_get(
				static_cast<int>((page << page_shift) | i));
			if (!q)
				continue;
			const bool stop = fn(q, arg);
			kev_queue_put(q);
			if (stop)
				return;
		}
	}
}

int kev_ring_size(unsigned int requested, unsigned int *size)
{
	unsigned int n = 1;

	if (requested == 0)
		requested = KEVENT_RING_DEFAULT;
	if (requested > KEVENT_RING_MAX) {
		errno = EINVAL;
		return -1;
	}
	while (n < requested)
		n <<= 1;
	*size = n;
	return 0;
}

int kev_check_entry(unsigned int cmd, const struct ukevent *ev)
{
	if (ev->type >= KEVENT_TYPE_MAX)
		return EINVAL;
	if (cmd != KEVENT_CTL_ADD && cmd != KEVENT_CTL_MODIFY)
		return 0;	// only (type, id) matter
	if (ev->prio > KEVENT_PRIO_MAX || ev->__reserved0)
		return EINVAL;
	if (ev->event & ~event_masks[ev->type])
		return EINVAL;
	if (ev->req_flags & ~KEVENT_REQ_MASK)
		return EINVAL;
	if ((ev->req_flags & KEVENT_REQ_ONESHOT) &&
	    (ev->req_flags & KEVENT_REQ_DISPATCH))
		return EINVAL;
	if ((ev->req_flags & KEVENT_REQ_ET) && ev->type != KEVENT_POLL)
		return EINVAL;
	if (ev->type == KEVENT_TIMER &&
	    (ev->event & KEVENT_TIMER_CLOCK_MASK) > KEVENT_TIMER_BOOTTIME)
		return EINVAL;
	if (ev->type == KEVENT_POLL && ev->id > uint64_t{INT32_MAX})
		return EBADF;
	if (ev->type == KEVENT_INODE && ev->id > uint64_t{INT32_MAX})
		return EBADF;
	return 0;
}

// ---- the public entry points (KEVENT_1.0, <kevent.h>)

extern "C" {

KEV_EXPORT int kevent_init(struct kevent_ring **ring, unsigned int ring_size,
			   unsigned int flags)
{
	unsigned int size;

	pthread_once(&atfork_once, atfork_setup);
	if (!ring) {
		errno = EFAULT;
		return -1;
	}
	if (flags & ~KEVENT_BACKEND_MASK) {
		errno = EINVAL;
		return -1;
	}
	if (kev_ring_size(ring_size, &size) < 0)
		return -1;
	const kev_backend_ops *ops = pick_backend(flags);
	if (!ops)
		return -1;
	kev_queue *q = queue_alloc();
	if (!q) {
		errno = ENOMEM;
		return -1;
	}
	q->ops = ops;
	q->fd = -1;
	AtomicInt(q->refs).store(1, std::memory_order_release);
	q->fork_gen = fork_gen.load(std::memory_order_relaxed);
	if (ops->init(q, size) < 0) {
		const int err = errno;

		queue_recycle(q);
		errno = err;
		return -1;
	}
	Slot *slot = slot_create(q->fd);
	if (!slot) {
		queue_free(q, false);
		errno = ENOMEM;
		return -1;
	}
	kev_queue *old;
	{
		Lock lock(table_lock);

		old = *slot;
		SlotRef(*slot).store(q, std::memory_order_release);
	}
	/*
	 * A stale entry means its fd was closed with close(2) instead of
	 * kevent_close() and the number was reused: drop the stale queue,
	 * without closing the number, which is now ours.
	 */
	if (old) {
		old->fd = -1;
		AtomicInt(old->closing).store(1, std::memory_order_release);
		old->ops->wake(old);
		kev_queue_put(old);
	}
	*ring = q->ring;
	return q->fd;
}

KEV_EXPORT int kevent_ctl(int fd, unsigned int cmd, unsigned int num,
			  struct ukevent *events)
{
	if (cmd >= KEVENT_CTL_MAX || num > KEVENT_CTL_BATCH_MAX) [[unlikely]]
		return bad_argument(fd);
	const QueueRef q(lookup(fd));
	if (!q)
		return -1;
	if (num == 0)
		return 0;
	if (!events) {
		errno = EFAULT;
		return -1;
	}
	return q->ops->ctl(q.get(), cmd, num, events);
}

KEV_EXPORT int kevent_pwait(int fd, unsigned int min_nr,
			    const struct timespec *timeout,
			    const sigset_t *sigmask)
{
	if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
			timeout->tv_nsec >= 1000000000L))
		return bad_argument(fd);
	const QueueRef q(lookup(fd));
	if (!q)
		return -1;
	if (min_nr == 0)
		min_nr = 1;
	if (min_nr > q->ring->size) {
		errno = EINVAL;
		return -1;
	}
	int ret = q->ops->wait(q.get(), min_nr, timeout, sigmask);
	// closed meanwhile: whatever woke us (EINTR too), the answer is EBADF
	if (AtomicInt(q->closing).load(std::memory_order_acquire)) {
		errno = EBADF;
		ret = -1;
	}
	return ret;
}

KEV_EXPORT int kevent_wait(int fd, unsigned int min_nr,
			   const struct timespec *timeout)
{
	return kevent_pwait(fd, min_nr, timeout, nullptr);
}

KEV_EXPORT int kevent_close(int fd)
{
	Slot *const slot = slot_of(fd);
	kev_queue *q = nullptr;

	if (slot) {
		Lock lock(table_lock);

		q = *slot;
		if (q)
			SlotRef(*slot).store(nullptr,
					     std::memory_order_release);
	}
	if (!q) {
		errno = fcntl(fd, F_GETFD) < 0 ? EBADF : EINVAL;
		return -1;
	}
	if (!in_this_process(*q)) {
		// Only this process's copies: nothing the parent can see.
		queue_free(q, true);
		return 0;
	}
	AtomicInt(q->closing).store(1, std::memory_order_release);
	q->ops->wake(q);
	kev_queue_put(q);
	return 0;
}

KEV_EXPORT const char *kevent_backend(int fd)
{
	const QueueRef q(lookup(fd));

	return q ? q->ops->name : nullptr;
}

// KEVENT_1.1

KEV_EXPORT int kevent_setopt(int fd, unsigned int opt, uint64_t value)
{
	if (!opt_valid(opt) || value < opt_min(opt) ||
	    value > opt_max(opt)) [[unlikely]]
		return bad_argument(fd);
	const QueueRef q(lookup(fd));
	if (!q)
		return -1;
	return q->ops->setopt(q.get(), opt, value);
}

KEV_EXPORT int kevent_getopt(int fd, unsigned int opt, uint64_t *value)
{
	if (!opt_valid(opt)) [[unlikely]]
		return bad_argument(fd);
	const QueueRef q(lookup(fd));
	if (!q)
		return -1;
	if (!value) {
		errno = EFAULT;
		return -1;
	}
	uint64_t v;
	if (q->ops->getopt(q.get(), opt, &v) < 0)
		return -1;
	*value = v;
	return 0;
}

} // extern "C"
