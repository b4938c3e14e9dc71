// SPDX-License-Identifier: MIT
/*
 * kevent.c - the public entry points: the table from queue fds to queues,
 * reference counting against concurrent kevent_close(), the fork rule, the
 * choice of backend and the checks common to every backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/*
 * fd -> queue.  Two levels of pages of atomic pointers, allocated on demand
 * and never freed, so a lookup takes no lock.  struct kev_queue is
 * type-stable: a released one goes to a free list and is only ever reused
 * as a kev_queue, never unmapped.  So a lookup may load a pointer, take a
 * reference with increment-if-not-zero, and then check that the slot still
 * holds that queue, even if the queue was closed in between.
 * kev_table_lock serialises the writers (kevent_init, kevent_close).
 */
#define KEV_PAGE_SHIFT	10
#define KEV_PAGE_SIZE	(1u << KEV_PAGE_SHIFT)
#define KEV_PAGES	(1u << 12)	/* 4M descriptors */

static struct kev_queue **kev_table[KEV_PAGES];
static pthread_mutex_t kev_table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kev_queue *kev_free_queues;	/* under kev_table_lock */
static pthread_mutex_t kev_alloc_lock = PTHREAD_MUTEX_INITIALIZER;

/* Bumped in every forked child; a queue made in another generation is dead. */
static unsigned int kev_fork_gen;
static pthread_once_t kev_atfork_once = PTHREAD_ONCE_INIT;

static void kev_atfork_child(void)
{
	__atomic_add_fetch(&kev_fork_gen, 1, __ATOMIC_RELAXED);
}

static void kev_atfork_setup(void)
{
	pthread_atfork(NULL, NULL, kev_atfork_child);
}

/* The table slot of fd, or NULL if its page was never made (no queue). */
static inline struct kev_queue **kev_slot(int fd)
{
	unsigned int ufd = (unsigned int)fd;
	struct kev_queue **p;

	if (fd < 0 || (ufd >> KEV_PAGE_SHIFT) >= KEV_PAGES)
		return NULL;
	p = __atomic_load_n(&kev_table[ufd >> KEV_PAGE_SHIFT], __ATOMIC_ACQUIRE);
	return p ? &p[ufd & (KEV_PAGE_SIZE - 1)] : NULL;
}

/* The same, making the page if needed (for a new queue). */
static struct kev_queue **kev_slot_create(int fd)
{
	unsigned int ufd = (unsigned int)fd;
	unsigned int page = ufd >> KEV_PAGE_SHIFT;
	struct kev_queue **p;

	if (fd < 0 || page >= KEV_PAGES)
		return NULL;
	p = __atomic_load_n(&kev_table[page], __ATOMIC_ACQUIRE);
	if (!p) {
		pthread_mutex_lock(&kev_alloc_lock);
		p = kev_table[page];
		if (!p) {
			p = calloc(KEV_PAGE_SIZE, sizeof(*p));
			if (p)
				__atomic_store_n(&kev_table[page], p,
						 __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&kev_alloc_lock);
	}
	if (!p)
		return NULL;
	return &p[ufd & (KEV_PAGE_SIZE - 1)];
}

static struct kev_queue *kev_queue_alloc(void)
{
	struct kev_queue *q;

	pthread_mutex_lock(&kev_table_lock);
	q = kev_free_queues;
	if (q)
		kev_free_queues = q->next_free;
	pthread_mutex_unlock(&kev_table_lock);
	if (!q)
		return calloc(1, sizeof(*q));
	/* refs is 0: concurrent lookups of a stale pointer fail on it */
	q->fd = -1;
	q->ring = NULL;
	q->ring_bytes = 0;
	q->ops = NULL;
	q->priv = NULL;
	q->next_free = NULL;
	__atomic_store_n(&q->closing, 0, __ATOMIC_RELAXED);
	return q;
}

/* Back to the free list: the memory stays a kev_queue forever. */
static void kev_queue_recycle(struct kev_queue *q)
{
	pthread_mutex_lock(&kev_table_lock);
	q->next_free = kev_free_queues;
	kev_free_queues = q;
	pthread_mutex_unlock(&kev_table_lock);
}

static void kev_queue_free(struct kev_queue *q, bool in_child)
{
	q->ops->destroy(q, in_child);
	kev_queue_recycle(q);
}

void kev_queue_put(struct kev_queue *q)
{
	if (__atomic_sub_fetch(&q->refs, 1, __ATOMIC_ACQ_REL) == 0)
		kev_queue_free(q, false);
}

/* The queue behind fd with a reference, or NULL (no errno). */
struct kev_queue *kev_queue_get(int fd)
{
	struct kev_queue **slot = kev_slot(fd);
	struct kev_queue *q;

	if (!slot)
		return NULL;
	for (;;) {
		int r;

		q = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		if (!q)
			return NULL;
		r = __atomic_load_n(&q->refs, __ATOMIC_RELAXED);
		do {
			if (r == 0)
				break;	/* being released: look again */
		} while (!__atomic_compare_exchange_n(&q->refs, &r, r + 1,
						      true, __ATOMIC_ACQUIRE,
						      __ATOMIC_RELAXED));
		if (r == 0)
			continue;
		if (__atomic_load_n(slot, __ATOMIC_ACQUIRE) == q)
			return q;
		kev_queue_put(q);	/* recycled for another fd */
	}
}

void kev_queue_for_each(bool (*fn)(struct kev_queue *q, void *arg), void *arg)
{
	unsigned int page, i;

	for (page = 0; page < KEV_PAGES; page++) {
		struct kev_queue **p = __atomic_load_n(&kev_table[page],
						       __ATOMIC_ACQUIRE);

		for (i = 0; p && i < KEV_PAGE_SIZE; i++) {
			struct kev_queue *q;
			bool stop;

			if (!__atomic_load_n(&p[i], __ATOMIC_RELAXED))
				continue;
			q = kev_queue_get((int)((page << KEV_PAGE_SHIFT) | i));
			if (!q)
				continue;
			stop = fn(q, arg);
			kev_queue_put(q);
			if (stop)
				return;
		}
	}
}

/*
 * Look up a queue for a call.  EBADF for a closed fd, a queue closed by
 * another thread, or a queue inherited across fork(); EINVAL for an open fd
 * that is not a kevent queue (as epoll_wait(2) does).
 */
static struct kev_queue *kev_lookup(int fd)
{
	struct kev_queue *q = kev_queue_get(fd);

	if (KEV_LIKELY(q)) {
		if (KEV_LIKELY(q->fork_gen ==
			       __atomic_load_n(&kev_fork_gen, __ATOMIC_RELAXED)
			       && !__atomic_load_n(&q->closing,
						   __ATOMIC_ACQUIRE)))
			return q;
		kev_queue_put(q);
		errno = EBADF;
		return NULL;
	}
	errno = fcntl(fd, F_GETFD) < 0 ? EBADF : EINVAL;
	return NULL;
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

static const struct kev_backend_ops *kev_backend_by_flag(unsigned int b)
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
		return NULL;
	}
}

/* The backend asked for: flags first, then $KEVENT_BACKEND, else 0. */
static int kev_backend_wanted(unsigned int flags, unsigned int *b)
{
	const char *env;

	*b = flags & KEVENT_BACKEND_MASK;
	if (*b > KEVENT_BACKEND_EPOLL)
		return -1;
	if (*b)
		return 0;
	env = secure_getenv("KEVENT_BACKEND");
	if (!env || !*env)
		return 0;
	if (!strcmp(env, "kmod"))
		*b = KEVENT_BACKEND_KMOD;
	else if (!strcmp(env, "uring"))
		*b = KEVENT_BACKEND_URING;
	else if (!strcmp(env, "epoll"))
		*b = KEVENT_BACKEND_EPOLL;
	else
		return -1;
	return 0;
}

static const struct kev_backend_ops *kev_pick_backend(unsigned int flags)
{
	/*
	 * uring only when asked for: io_uring tears a ring down
	 * asynchronously and interrupts the threads that used it with a
	 * spurious EINTR (see waitset-uring.c), and it is not faster than
	 * epoll for what libkev does with it (bench/results).
	 */
	static const unsigned int order[] = {
		KEVENT_BACKEND_KMOD, KEVENT_BACKEND_EPOLL,
	};
	const struct kev_backend_ops *ops;
	unsigned int b, i;

	if (kev_backend_wanted(flags, &b) < 0) {
		errno = EINVAL;
		return NULL;
	}
	if (b) {
		/* A forced backend never falls back. */
		ops = kev_backend_by_flag(b);
		if (!ops || ops->probe() < 0) {
			errno = ENODEV;
			return NULL;
		}
		return ops;
	}
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		ops = kev_backend_by_flag(order[i]);
		if (ops && ops->probe() == 0)
			return ops;
	}
	errno = ENODEV;
	return NULL;
}

KEV_EXPORT int kevent_init(struct kevent_ring **ring, unsigned int ring_size,
			   unsigned int flags)
{
	const struct kev_backend_ops *ops;
	struct kev_queue *q, *old, **slot;
	unsigned int size;

	pthread_once(&kev_atfork_once, kev_atfork_setup);
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
	ops = kev_pick_backend(flags);
	if (!ops)
		return -1;
	q = kev_queue_alloc();
	if (!q) {
		errno = ENOMEM;
		return -1;
	}
	q->ops = ops;
	q->fd = -1;
	__atomic_store_n(&q->refs, 1, __ATOMIC_RELEASE);
	q->fork_gen = __atomic_load_n(&kev_fork_gen, __ATOMIC_RELAXED);
	if (ops->init(q, size) < 0) {
		int err = errno;

		kev_queue_recycle(q);
		errno = err;
		return -1;
	}
	slot = kev_slot_create(q->fd);
	if (!slot) {
		kev_queue_free(q, false);
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_lock(&kev_table_lock);
	old = *slot;
	__atomic_store_n(slot, q, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&kev_table_lock);
	/*
	 * A stale entry means its fd was closed with close(2) instead of
	 * kevent_close() and the number was reused: drop the stale queue,
	 * without closing the number, which is now ours.
	 */
	if (old) {
		old->fd = -1;
		__atomic_store_n(&old->closing, 1, __ATOMIC_RELEASE);
		old->ops->wake(old);
		kev_queue_put(old);
	}
	*ring = q->ring;
	return q->fd;
}

/*
 * An argument is invalid: EINVAL, unless fd itself is bad (EBADF, or EINVAL
 * for an fd that is not a queue), which takes precedence as in epoll.
 */
static int kev_bad_argument(int fd)
{
	struct kev_queue *q = kev_lookup(fd);

	if (!q)
		return -1;
	kev_queue_put(q);
	errno = EINVAL;
	return -1;
}

KEV_EXPORT int kevent_ctl(int fd, unsigned int cmd, unsigned int num,
			  struct ukevent *events)
{
	struct kev_queue *q;
	int ret;

	if (KEV_UNLIKELY(cmd >= KEVENT_CTL_MAX || num > KEVENT_CTL_BATCH_MAX)) {
		return kev_bad_argument(fd);
	}
	q = kev_lookup(fd);
	if (!q)
		return -1;
	if (num == 0) {
		ret = 0;
	} else if (!events) {
		errno = EFAULT;
		ret = -1;
	} else {
		ret = q->ops->ctl(q, cmd, num, events);
	}
	kev_queue_put(q);
	return ret;
}

KEV_EXPORT int kevent_pwait(int fd, unsigned int min_nr,
			    const struct timespec *timeout,
			    const sigset_t *sigmask)
{
	struct kev_queue *q;
	int ret;

	if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
			timeout->tv_nsec >= 1000000000L)) {
		return kev_bad_argument(fd);
	}
	q = kev_lookup(fd);
	if (!q)
		return -1;
	if (min_nr == 0)
		min_nr = 1;
	if (min_nr > q->ring->size) {
		kev_queue_put(q);
		errno = EINVAL;
		return -1;
	}
	ret = q->ops->wait(q, min_nr, timeout, sigmask);
	/* closed meanwhile: whatever woke us (EINTR too), the answer is EBADF */
	if (__atomic_load_n(&q->closing, __ATOMIC_ACQUIRE)) {
		errno = EBADF;
		ret = -1;
	}
	kev_queue_put(q);
	return ret;
}

KEV_EXPORT int kevent_wait(int fd, unsigned int min_nr,
			   const struct timespec *timeout)
{
	return kevent_pwait(fd, min_nr, timeout, NULL);
}

KEV_EXPORT int kevent_close(int fd)
{
	struct kev_queue **slot = kev_slot(fd);
	struct kev_queue *q = NULL;
	bool in_child;

	if (slot) {
		pthread_mutex_lock(&kev_table_lock);
		q = *slot;
		if (q)
			__atomic_store_n(slot, NULL, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&kev_table_lock);
	}
	if (!q) {
		errno = fcntl(fd, F_GETFD) < 0 ? EBADF : EINVAL;
		return -1;
	}
	in_child = q->fork_gen !=
		   __atomic_load_n(&kev_fork_gen, __ATOMIC_RELAXED);
	if (in_child) {
		/* Only this process's copies: nothing the parent can see. */
		kev_queue_free(q, true);
		return 0;
	}
	__atomic_store_n(&q->closing, 1, __ATOMIC_RELEASE);
	q->ops->wake(q);
	kev_queue_put(q);
	return 0;
}

KEV_EXPORT const char *kevent_backend(int fd)
{
	struct kev_queue *q = kev_lookup(fd);
	const char *name;

	if (!q)
		return NULL;
	name = q->ops->name;
	kev_queue_put(q);
	return name;
}

int kev_check_entry(unsigned int cmd, const struct ukevent *ev)
{
	static const uint32_t masks[KEVENT_TYPE_MAX] = {
		[KEVENT_POLL] = KEVENT_POLL_MASK,
		[KEVENT_TIMER] = KEVENT_TIMER_MASK,
		[KEVENT_USER] = 0xffffffffu,	/* caller-defined bits */
		[KEVENT_SIGNAL] = 0,
		[KEVENT_INODE] = KEVENT_INODE_MASK,
		[KEVENT_PROC] = KEVENT_PROC_MASK,
	};

	if (ev->type >= KEVENT_TYPE_MAX)
		return EINVAL;
	if (cmd != KEVENT_CTL_ADD && cmd != KEVENT_CTL_MODIFY)
		return 0;	/* only (type, id) matter */
	if (ev->__reserved[0] || ev->__reserved[1])
		return EINVAL;
	if (ev->event & ~masks[ev->type])
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
	if (ev->type == KEVENT_POLL && ev->id > (uint64_t)INT32_MAX)
		return EBADF;
	if (ev->type == KEVENT_INODE && ev->id > (uint64_t)INT32_MAX)
		return EBADF;
	return 0;
}
