// SPDX-License-Identifier: MIT
/*
 * ubackend.cpp - the user-space backends (epoll, uring): the library stands
 * in for the kernel module as the ring's producer.
 *
 * One waitset (waitset.h: epoll or io_uring) holds every event source of
 * the queue:
 *   - each KEVENT_POLL fd, level- or edge-triggered as registered.  A
 *     level-triggered fd reported while its entry still sits in the ring
 *     (or while it is disabled) is muted, so that it cannot keep the wait
 *     from sleeping, and rearmed when the consumer passes the entry;
 *   - one timerfd for all timers (timers.cpp);
 *   - the signalfd, the inotify fd and the pidfds (sources.cpp);
 *   - one eventfd to wake a sleeper (KEVENT_CTL_READY, kevent_close).
 * The waitset reports a generation-checked token, never a pointer, so an
 * event harvested just before another thread removed its registration is
 * recognised as stale.
 *
 * A queue whose waitset holds nothing that could end a sleep but the
 * eventfd (only KEVENT_USER registrations, no timer armed) does not sleep
 * in the waitset at all: kevent_wait sleeps on a futex word, which the
 * waker bumps and FUTEX_WAKEs.  That is 2 system calls per wake-up instead
 * of 3 (eventfd write, the waitset's wait, eventfd read); see
 * kev_ub_futex_ok() for when it applies.
 *
 * Fairness (kevent(7)): every kevent_wait collects what has fired (the
 * waitset drained without sleeping, due timers expired) before it
 * publishes, and kevent_ctl publishes at most one ring's worth between two
 * collections (it collects first otherwise).  The ready list being FIFO,
 * a registration that fires is published after at most S + R - 1 others.
 *
 * Closed descriptors: epoll keys its items by file and number.  The only
 * items of our set that a number can name, besides a POLL registration's
 * own, are the queue's internal descriptors (eventfd, timerfd, signalfd,
 * inotify fd, pidfds), which the library knows (a bitmap of numbers).
 * When one of them takes the number of a registered fd that the caller
 * closed, that registration is detached: no waitset operation is ever
 * made on that number for it again, and its REMOVE just frees it.  Any
 * other file the number may name is not in our set under it, so an
 * operation by number on it fails (ENOENT, EBADF) without effect.  The
 * io_uring waitset is not keyed by number, so the uring backend watches
 * a duplicate of each fd instead, which it owns until REMOVE.
 *
 * Locking: ub->core.lock protects everything here.  It is dropped around
 * the waitset's wait() and the futex wait, the only places this backend
 * sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core.h"
#include "sources.h"
#include "timers.h"
#include "waitset.h"

/* Tokens of the internal fds: handles that the core never hands out. */
#define TOK_WAKE	0xffffffffull
#define TOK_TIMER	0xfffffffeull
#define TOK_SIGNAL	0xfffffffdull
#define TOK_INODE	0xfffffffcull

/*
 * Harvest buffers: one ring's worth and a little (the internal fds), so
 * that one waitset call returns everything ready when it fits the ring,
 * and a level-triggered fd is not reported twice in one collection.
 */
#define KEV_EVS_SLACK	16
#define KEV_EVS_MAX	(65536 + KEV_EVS_SLACK)
/* Another thread sleeping while the sleepers' buffer is in use. */
#define KEV_EVS_LOCAL	64

struct kev_nest {
	int fd;			/* the caller's number of the queue */
	struct kev_reg *reg;
};

struct kev_ub {
	struct kev_core core;
	struct kev_queue *q;
	struct kev_waitset *ws;
	int wakefd;
	int sleepers;		/* threads in the waitset's wait() */
	int fsleepers;		/* threads asleep on futex */
	int in_wait;		/* threads inside kevent_wait */
	uint32_t futex;		/* futex word: bumped to wake fsleepers */
	uint32_t nevs;		/* entries of dbuf and sbuf */
	struct kev_wevent *dbuf; /* harvests under the lock */
	struct kev_wevent *sbuf; /* a sleeper's, taken with sbuf_busy */
	bool sbuf_busy;
	/*
	 * The last kevent_wait had a zero timeout: the caller may be an
	 * event loop that sleeps on the queue fd, not in kevent_wait, and
	 * must be made readable for everything that needs a kevent_wait.
	 */
	bool poll_mode;
	/* numbers of the queue's own descriptors, as a bitmap */
	uint64_t *ifd;
	uint32_t ifd_words;
	/*
	 * Items in the waitset besides the eventfd and the timerfd: POLL
	 * fds (not the always-ready ones), pidfds, and the signalfd and
	 * inotify fd, which stay for the queue's life once created.
	 */
	uint32_t nwatched;
	bool wake_pending;	/* wakefd written and not yet drained */
	bool timer_watched;	/* the timerfd is in the waitset */
	bool has_consumer;	/* consumer is valid */
	pthread_t consumer;	/* the thread that last called kevent_wait */
	struct kev_nest *nest;	/* kevent queues we watch (kev_nest_lock) */
	uint32_t nnest, nestcap;
	struct kev_timers timers;
	struct kev_sources src;
};

static inline struct kev_ub *kev_ub_of(struct kev_queue *q)
{
	return static_cast<struct kev_ub *>(q->priv);
}

static void kev_nest_forget(struct kev_ub *be, struct kev_reg *reg);

/* ---- the queue's own descriptors */

static int kev_ifd_set(struct kev_ub *be, int fd)
{
	uint32_t w = (uint32_t)fd / 64;

	if (w >= be->ifd_words) {
		uint32_t n = w + 1 > 2 * be->ifd_words ? w + 1 :
			     2 * be->ifd_words;
		uint64_t *b = static_cast<uint64_t *>(
			realloc(be->ifd, n * sizeof(*b)));

		if (!b)
			return ENOMEM;
		memset(b + be->ifd_words, 0,
		       (n - be->ifd_words) * sizeof(*b));
		be->ifd = b;
		be->ifd_words = n;
	}
	be->ifd[w] |= 1ull << (fd % 64);
	return 0;
}

static void kev_ifd_clear(struct kev_ub *be, int fd)
{
	if (fd >= 0 && (uint32_t)fd / 64 < be->ifd_words)
		be->ifd[fd / 64] &= ~(1ull << (fd % 64));
}

static bool kev_ifd_test(const struct kev_ub *be, int fd)
{
	return fd >= 0 && (uint32_t)fd / 64 < be->ifd_words &&
	       (be->ifd[fd / 64] >> (fd % 64) & 1);
}

/*
 * The library now owns descriptor number fd: a POLL registration of that
 * number was of a file the caller closed.  It must never again act on the
 * number (it would act on our descriptor): detach it.
 */
static void kev_ub_detach(struct kev_ub *be, int fd)
{
	struct kev_reg *reg = kev_core_find(&be->core, KEVENT_POLL,
					    (uint64_t)fd);

	if (!reg || reg->always || reg->detached || be->ws->dup_fds)
		return;
	kev_nest_forget(be, reg);
	reg->detached = true;
	reg->muted = false;
}

static int kev_ub_claim(struct kev_ub *be, int fd)
{
	int err = kev_ifd_set(be, fd);

	if (err)
		return err;
	kev_ub_detach(be, fd);
	return 0;
}

static void kev_ub_release(struct kev_core *core, struct kev_reg *reg)
{
	struct kev_ub *be = (struct kev_ub *)core;

	/*
	 * Only inserted registrations are released, and every one of them
	 * that reaches a del() here was counted in nwatched when added.
	 */
	switch (reg->type) {
	case KEVENT_POLL:
		if (!reg->always) {
			if (!reg->detached)
				be->ws->ops->del(be->ws, reg->fd,
						 kev_core_token(reg));
			be->nwatched--;
			if (be->ws->dup_fds) {
				/* io_uring's request holds its own reference */
				kev_ifd_clear(be, reg->fd);
				close(reg->fd);
				reg->fd = -1;
			}
		}
		kev_nest_forget(be, reg);
		break;
	case KEVENT_TIMER:
		kev_timer_disarm(&be->timers, reg);
		break;
	case KEVENT_PROC:
		if (reg->fd >= 0) {
			be->ws->ops->del(be->ws, reg->fd, kev_core_token(reg));
			be->nwatched--;
			kev_ifd_clear(be, reg->fd);
		}
		kev_sources_release(&be->src, reg);
		break;
	default:
		kev_sources_release(&be->src, reg);
		break;
	}
}

static const struct kev_core_ops kev_ub_core_ops = {
	.release = kev_ub_release,
};

/*
 * Internal fds are edge-triggered: their handlers always drain them.  The
 * wake-up eventfd is never read (kev_ub_kick_write), so only an edge (one
 * report per write) will do for it; the timerfd, signalfd and inotify fd
 * are watched once per report, so that one that fires faster than it is
 * harvested does not pile up reports.  A pidfd fires once.
 */
static int kev_ub_add_internal(struct kev_ub *be, int fd, uint64_t tok)
{
	bool had = kev_ifd_test(be, fd);
	int err = kev_ub_claim(be, fd);
	enum kev_wmode mode = tok == TOK_TIMER || tok == TOK_SIGNAL ||
			      tok == TOK_INODE ? KEV_W_ONCE : KEV_W_EDGE;

	if (!err) {
		err = be->ws->ops->add(be->ws, fd, tok, POLLIN, mode);
		if (err && !had)
			kev_ifd_clear(be, fd);	/* the caller closes it */
	}
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/*
 * Called by the sources (signal, inode) when they create their fd.  The fd
 * stays in the waitset until the queue is destroyed, so it is counted for
 * good: such a queue never sleeps on the futex again.
 */
static int kev_ub_watch_source(void *ctx, int fd, unsigned int which)
{
	struct kev_ub *be = static_cast<struct kev_ub *>(ctx);
	uint64_t tok = which == KEV_SRC_SIGNAL ? TOK_SIGNAL : TOK_INODE;

	if (kev_ub_add_internal(be, fd, tok) < 0)
		return -1;
	be->nwatched++;
	return 0;
}

/* A pidfd (KEVENT_PROC); kev_ub_release() uncounts it. */
static int kev_ub_watch_reg(void *ctx, int fd, struct kev_reg *reg)
{
	struct kev_ub *be = static_cast<struct kev_ub *>(ctx);

	if (kev_ub_add_internal(be, fd, kev_core_token(reg)) < 0)
		return -1;
	be->nwatched++;
	return 0;
}

static int kev_ub_init(struct kev_queue *q, unsigned int size,
		       const struct kev_waitset_ops *wsops)
{
	struct kev_ub *be =
		static_cast<struct kev_ub *>(calloc(1, sizeof(struct kev_ub)));
	int err;

	if (!be) {
		errno = ENOMEM;
		return -1;
	}
	be->q = q;
	be->wakefd = -1;
	kev_timers_init(&be->timers);
	if (kev_core_init(&be->core, size, &kev_ub_core_ops) < 0) {
		err = errno;
		kev_timers_destroy(&be->timers);
		free(be);
		errno = err;
		return -1;
	}
	kev_sources_init(&be->src, be, kev_ub_watch_source, kev_ub_watch_reg);
	be->nevs = size + KEV_EVS_SLACK < KEV_EVS_MAX ? size + KEV_EVS_SLACK :
		   KEV_EVS_MAX;
	be->dbuf = static_cast<struct kev_wevent *>(
		malloc(be->nevs * sizeof(*be->dbuf)));
	be->sbuf = static_cast<struct kev_wevent *>(
		malloc(be->nevs * sizeof(*be->sbuf)));
	if (!be->dbuf || !be->sbuf) {
		errno = ENOMEM;
		goto fail;
	}
	be->ws = wsops->create(size);
	if (!be->ws)
		goto fail;
	be->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (be->wakefd < 0)
		goto fail;
	err = kev_ifd_set(be, be->ws->fd);
	if (err) {
		errno = err;
		goto fail;
	}
	if (kev_ub_add_internal(be, be->wakefd, TOK_WAKE) < 0)
		goto fail;
	be->ws->ops->flush(be->ws);
	/*
	 * The caller's fd is a second descriptor of the waitset's file, so
	 * that a caller who wrongly close(2)s it cannot make us act on a
	 * reused descriptor number.
	 */
	q->fd = fcntl(be->ws->fd, F_DUPFD_CLOEXEC, 3);
	if (q->fd < 0)
		goto fail;
	q->priv = be;
	q->ring = be->core.ring;
	q->ring_bytes = be->core.ring_bytes;
	return 0;
fail:
	err = errno;
	if (be->ws)
		be->ws->ops->destroy(be->ws, false);
	if (be->wakefd >= 0)
		close(be->wakefd);
	kev_sources_destroy(&be->src, &be->core);
	kev_timers_destroy(&be->timers);
	kev_core_destroy(&be->core);
	free(be->dbuf);
	free(be->sbuf);
	free(be->ifd);
	free(be);
	errno = err;
	return -1;
}

static int kev_epoll_init(struct kev_queue *q, unsigned int size)
{
	return kev_ub_init(q, size, &kev_waitset_epoll);
}

static void kev_ub_destroy(struct kev_queue *q, bool in_child)
{
	struct kev_ub *be = kev_ub_of(q);
	struct kev_reg *reg;
	uint32_t i;

	/* The caller's descriptor first: the waitset's close is the last. */
	if (q->fd >= 0)
		close(q->fd);
	if (be->ws->dup_fds)
		kev_core_for_each(&be->core, reg, i)
			if (reg->type == KEVENT_POLL && !reg->always &&
			    reg->fd >= 0)
				close(reg->fd);
	kev_sources_destroy(&be->src, &be->core);
	kev_timers_destroy(&be->timers);
	kev_core_destroy(&be->core);
	be->ws->ops->destroy(be->ws, in_child);
	close(be->wakefd);
	free(be->nest);
	free(be->ifd);
	free(be->dbuf);
	free(be->sbuf);
	free(be);
}

/*
 * Wake a sleeper, or make the queue fd readable, after the queue gained
 * work outside kevent_wait.  The eventfd is written once per wake-up (no
 * write while one is pending and not yet harvested), only when a thread
 * sleeps in the waitset, or when no thread is in kevent_wait at all: the
 * consumer may then be asleep in another loop, polling the queue fd.
 * Threads asleep on the futex are woken by kev_ub_ctl() after every batch
 * (kev_ub_futex_bump()), and a thread inside kevent_wait and awake holds
 * or will take the lock and see the work itself.  So does the thread
 * that last called kevent_wait, when it triggers its own events, unless
 * that call had a zero timeout: then it may be an event loop's handler,
 * and the loop sleeps on the queue fd, not in kevent_wait.  The decision
 * is made under the lock that kevent_wait holds while it decides to
 * sleep, so no wake-up is lost.
 */
static bool kev_ub_kick(struct kev_ub *be)
{
	if (be->wake_pending || (be->sleepers == 0 && be->in_wait > 0))
		return false;
	/* The consumer itself, running this call, sleeps nowhere. */
	if (be->sleepers == 0 && !be->poll_mode && be->has_consumer &&
	    pthread_equal(pthread_self(), be->consumer))
		return false;
	be->wake_pending = true;
	return true;
}

/*
 * The write itself, after the lock is dropped, so that the woken thread
 * does not wake up only to block on the lock the writer still holds.  The
 * eventfd is watched edge-triggered and never read: each write is a new
 * edge (epoll) or completion (io_uring), which is all the wake-up needs,
 * and a counter of writes cannot overflow in practice (2^64 - 2).
 */
static void kev_ub_kick_write(struct kev_ub *be)
{
	uint64_t one = 1;

	if (write(be->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so it is readable. */
	}
}

/*
 * Under the lock: make the futex sleepers' word differ from the value they
 * sleep on, so that one not yet in FUTEX_WAIT does not go to sleep.  True
 * if kev_ub_futex_wake() must follow, after the lock is dropped.
 */
static bool kev_ub_futex_bump(struct kev_ub *be)
{
	if (!be->fsleepers)
		return false;
	/* The kernel reads the word without our lock. */
	__atomic_store_n(&be->futex, be->futex + 1, __ATOMIC_RELAXED);
	return true;
}

/*
 * All of them: each must look at the queue again, and one that finds it
 * now watches an fd or a timer has to move to the waitset, where the next
 * event will be reported, while another returns with the events.
 */
static void kev_ub_futex_wake(struct kev_ub *be)
{
	syscall(SYS_futex, &be->futex, FUTEX_WAKE_PRIVATE, INT_MAX,
		NULL, NULL, 0);
}

static void kev_ub_wake(struct kev_queue *q)
{
	struct kev_ub *be = kev_ub_of(q);
	bool fwake;

	pthread_mutex_lock(&be->core.lock);
	be->wake_pending = true;
	kev_ub_kick_write(be);
	fwake = kev_ub_futex_bump(be);
	pthread_mutex_unlock(&be->core.lock);
	if (fwake)
		kev_ub_futex_wake(be);
}

/* ---- nesting: kevent queues watched by kevent queues */

/*
 * Every user-space queue lists the kevent queues it watches (as fds).  An
 * ADD of a queue fd is refused with ELOOP if the watched queue reaches the
 * watcher through these lists, or if the chain of queues watching queues
 * through the new link would be longer than epoll allows (KEV_MAX_CHAIN
 * queues, four levels of nesting), counted both ways from the new link:
 * the longest chain below the watched queue and the longest above the
 * watcher, as epoll's ep_loop_check and reverse_path_check do.
 * kev_nest_lock guards all the lists; it nests inside core locks.
 */
#define KEV_MAX_CHAIN	5

static pthread_mutex_t kev_nest_lock = PTHREAD_MUTEX_INITIALIZER;

static bool kev_is_ub(const struct kev_queue *q)
{
	return q->ops == &kev_epoll_ops
#ifdef KEV_HAVE_URING
	       || q->ops == &kev_uring_ops
#endif
	       ;
}

/*
 * Queues in the longest chain from the queue behind fd down (itself
 * included), or more than limit if it reaches target (a loop) or is
 * longer than limit.
 */
static int kev_nest_depth_below(int fd, const struct kev_queue *target,
				int limit)
{
	struct kev_queue *q = kev_queue_get(fd);
	int depth = 1;
	uint32_t i;

	if (!q)
		return 0;
	if (q == target || limit <= 0) {
		depth = limit + 1;
	} else if (kev_is_ub(q)) {
		struct kev_ub *ub = kev_ub_of(q);

		for (i = 0; i < ub->nnest && depth <= limit; i++) {
			int d = 1 + kev_nest_depth_below(ub->nest[i].fd, target,
							 limit - 1);

			if (d > depth)
				depth = d;
		}
	}
	kev_queue_put(q);
	return depth;
}

struct kev_nest_up {
	const struct kev_queue *q;	/* whose watchers are looked for */
	int limit;
	int depth;			/* longest chain above, q included */
};

static int kev_nest_depth_above(const struct kev_queue *q, int limit);

/* kev_queue_for_each(): does w watch up->q?  Then count its chain. */
static bool kev_nest_up_visit(struct kev_queue *w, void *p)
{
	struct kev_nest_up *up = static_cast<struct kev_nest_up *>(p);
	uint32_t i;

	if (!kev_is_ub(w) || w == up->q)
		return false;
	for (i = 0; i < kev_ub_of(w)->nnest; i++) {
		struct kev_queue *x = kev_queue_get(kev_ub_of(w)->nest[i].fd);
		bool watches = x == up->q;

		if (x)
			kev_queue_put(x);
		if (watches) {
			int d = 1 + kev_nest_depth_above(w, up->limit - 1);

			if (d > up->depth)
				up->depth = d;
			break;
		}
	}
	return up->depth > up->limit;	/* long enough: stop looking */
}

/* Queues in the longest chain from q up (itself included), capped. */
static int kev_nest_depth_above(const struct kev_queue *q, int limit)
{
	struct kev_nest_up up = { q, limit, 1 };

	if (limit <= 0)
		return 1;
	kev_queue_for_each(kev_nest_up_visit, &up);
	return up.depth;
}

/* 0, ELOOP, or ENOMEM; remembers the fd if it is a kevent queue. */
static int kev_nest_check(struct kev_ub *be, struct kev_reg *reg)
{
	int fd = (int)reg->id;
	struct kev_queue *other = kev_queue_get(fd);
	int err = 0, below;

	if (!other)
		return 0;
	pthread_mutex_lock(&kev_nest_lock);
	below = kev_nest_depth_below(fd, be->q, KEV_MAX_CHAIN);
	if (other == be->q || below >= KEV_MAX_CHAIN ||
	    below + kev_nest_depth_above(be->q, KEV_MAX_CHAIN - below) >
	    KEV_MAX_CHAIN) {
		err = ELOOP;
	} else if (be->nnest == be->nestcap) {
		uint32_t cap = be->nestcap ? be->nestcap * 2 : 4;
		struct kev_nest *n = static_cast<struct kev_nest *>(
			realloc(be->nest, cap * sizeof(*n)));

		if (n) {
			be->nest = n;
			be->nestcap = cap;
		} else {
			err = ENOMEM;
		}
	}
	if (!err) {
		reg->nest_idx = be->nnest;
		be->nest[be->nnest].fd = fd;
		be->nest[be->nnest++].reg = reg;
		reg->nested = true;
	}
	pthread_mutex_unlock(&kev_nest_lock);
	kev_queue_put(other);
	return err;
}

/* O(1): the last entry takes the place of the one that goes. */
static void kev_nest_forget(struct kev_ub *be, struct kev_reg *reg)
{
	uint32_t i = reg->nest_idx;

	if (!reg->nested)
		return;
	pthread_mutex_lock(&kev_nest_lock);
	be->nest[i] = be->nest[--be->nnest];
	be->nest[i].reg->nest_idx = i;
	pthread_mutex_unlock(&kev_nest_lock);
	reg->nested = false;
}

/* ---- KEVENT_POLL */

static uint32_t kev_poll_mask_of(uint32_t event)
{
	return event & KEVENT_POLL_MASK;
}

static enum kev_wmode kev_poll_mode_of(uint32_t req_flags)
{
	return req_flags & KEVENT_REQ_ET ? KEV_W_EDGE : KEV_W_LEVEL;
}

static uint32_t kev_poll_mask(const struct kev_reg *reg)
{
	return kev_poll_mask_of(reg->event);
}

static enum kev_wmode kev_poll_mode(const struct kev_reg *reg)
{
	return kev_poll_mode_of(reg->req_flags);
}

static int kev_poll_add(struct kev_ub *be, struct kev_reg *reg)
{
	int fd = (int)reg->id, wfd = fd, err;

	/* Not the caller's: a descriptor of the queue itself. */
	if (kev_ifd_test(be, fd))
		return EBADF;
	reg->fd = fd;
	err = kev_nest_check(be, reg);
	if (err)
		return err;
	if (be->ws->dup_fds) {
		wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (wfd < 0) {
			err = errno == EINVAL ? EBADF : errno;
			goto fail;
		}
		err = kev_ifd_set(be, wfd);
		if (err) {
			close(wfd);
			goto fail;
		}
		reg->fd = wfd;
	}
	/* The waitset checks the fd: EBADF for a closed one. */
	err = be->ws->ops->add(be->ws, wfd, kev_core_token(reg),
			       kev_poll_mask(reg), kev_poll_mode(reg));
	if (err == EEXIST && !be->ws->dup_fds) {
		/*
		 * epoll still holds an item for this file under this number:
		 * a registration of it was removed after the number had been
		 * closed while the file lived on elsewhere, so epoll could
		 * not be told.  The file is back under the number: take the
		 * item over.  (The queue's own descriptors were refused.)
		 */
		err = be->ws->ops->mod(be->ws, wfd, 0, kev_core_token(reg),
				       kev_poll_mask(reg), kev_poll_mode(reg));
	}
	if (err == EPERM) {
		/* A regular file or the like: always ready, as poll(2) says. */
		reg->always = true;
		err = 0;
	} else if (!err) {
		be->nwatched++;
		return 0;
	}
	if (wfd != fd) {
		kev_ifd_clear(be, wfd);
		close(wfd);
		reg->fd = fd;
	}
	if (!err)
		return 0;
fail:
	kev_nest_forget(be, reg);
	return err;
}

/*
 * A file that is always ready for reading and writing (poll(2) says so of
 * regular files) fires for what of that it asked; asked for neither, it
 * never fires.
 */
static void kev_poll_fire_always(struct kev_ub *be, struct kev_reg *reg)
{
	uint32_t mask = reg->event & (KEVENT_POLL_IN | KEVENT_POLL_OUT);

	if (mask)
		kev_core_fire(&be->core, reg, mask, 0);
}

static void kev_set_fields(struct kev_reg *reg, const struct ukevent *ev)
{
	reg->event = ev->event;
	reg->req_flags = (uint16_t)ev->req_flags;
	reg->data = ev->data;
	reg->user = ev->user;
}

/*
 * A new token for the new watch: completions of the old one that are
 * still on their way (io_uring) are then stale, and an old multishot poll
 * that ended is not added again next to the new one.  The registration
 * changes only once the waitset took the new watch.  A detached
 * registration has no file left to watch: EBADF.
 */
static int kev_poll_modify(struct kev_ub *be, struct kev_reg *reg,
			   const struct ukevent *ev)
{
	int err;

	if (reg->always) {
		kev_set_fields(reg, ev);
		kev_poll_fire_always(be, reg);
		return 0;
	}
	if (reg->detached)
		return EBADF;
	err = be->ws->ops->mod(be->ws, reg->fd, kev_core_token(reg),
			       kev_core_next_token(reg),
			       kev_poll_mask_of(ev->event),
			       kev_poll_mode_of(ev->req_flags));
	if (err)
		return err;
	reg->gen++;	/* kev_core_token() is the new one now */
	reg->muted = false;
	kev_set_fields(reg, ev);
	/*
	 * A level-triggered fd that is ready now is reported again by the
	 * waitset itself: its mod() re-polls the fd (EPOLL_CTL_MOD, or a new
	 * io_uring poll).
	 */
	return 0;
}

/*
 * A level-triggered item reported while its registration cannot take it
 * (ready or queued already, or disabled): stop the waitset reporting it
 * until the consumer passes the entry.
 */
static void kev_poll_mute(struct kev_ub *be, struct kev_reg *reg)
{
	if (reg->detached)
		return;
	reg->muted = be->ws->ops->mute(be->ws, reg->fd, kev_core_token(reg),
				       kev_poll_mask(reg));
	if (reg->muted)
		kev_core_note_work(&be->core, reg);
}

/*
 * Level-triggered registrations whose entries the consumer passed (or that
 * were enabled): files no waitset can wait on are ready again at once;
 * muted items are rearmed, which makes the kernel re-check them.  The
 * others need nothing: the waitset reports them while they are ready.
 */
static void kev_ub_recheck(struct kev_ub *be)
{
	struct kev_reg *reg = kev_core_take_recheck(&be->core), *next;

	for (; reg; reg = next) {
		next = reg->next;
		reg->next = NULL;
		reg->prev = NULL;
		if (reg->always) {
			kev_poll_fire_always(be, reg);
		} else if (reg->muted) {
			reg->muted = false;
			be->ws->ops->rearm(be->ws, reg->fd, kev_core_token(reg),
					   kev_poll_mask(reg));
		}
	}
}

/* ---- kevent_ctl */

/* The timerfd exists and is in the waitset: 0 or an errno. */
static int kev_ub_timers_ready(struct kev_ub *be)
{
	if (be->timer_watched)
		return 0;	/* and the timerfd exists */
	if (kev_timers_open(&be->timers) < 0)
		return errno;
	if (!be->timer_watched) {
		if (kev_ub_add_internal(be, kev_timers_fd(&be->timers),
					TOK_TIMER) < 0)
			return errno;
		be->timer_watched = true;
	}
	return 0;
}

static int kev_ub_add(struct kev_ub *be, struct ukevent *ev)
{
	struct kev_reg *reg;
	int err = 0;

	if (kev_core_find(&be->core, ev->type, ev->id))
		return EEXIST;
	reg = kev_core_alloc(&be->core, ev);
	if (!reg)
		return ENOMEM;
	switch (ev->type) {
	case KEVENT_POLL:
		err = kev_poll_add(be, reg);
		break;
	case KEVENT_TIMER:
		err = kev_timer_check(reg->event, reg->data, reg->req_flags);
		if (!err)
			err = kev_ub_timers_ready(be);
		if (!err)
			err = kev_timer_set(&be->timers, reg, reg->event,
					    reg->data, reg->req_flags);
		break;
	case KEVENT_USER:
		break;
	default:
		err = kev_sources_add(&be->src, reg);
		break;
	}
	if (err) {
		kev_core_free_unlinked(&be->core, reg);
		return err;
	}
	kev_core_insert(&be->core, reg);
	if (reg->always)
		kev_poll_fire_always(be, reg);
	return 0;
}

/* Everything is checked before anything changes: a failed MODIFY leaves
 * the registration exactly as it was. */
static int kev_ub_modify(struct kev_ub *be, struct kev_reg *reg,
			 const struct ukevent *ev)
{
	int err;

	switch (reg->type) {
	case KEVENT_POLL:
		return kev_poll_modify(be, reg, ev);
	case KEVENT_TIMER:
		err = kev_timer_check(ev->event, ev->data, ev->req_flags);
		if (!err)
			err = kev_ub_timers_ready(be);
		if (!err)
			err = kev_timer_set(&be->timers, reg, ev->event,
					    ev->data, ev->req_flags);
		if (!err)
			reg->user = ev->user;
		return err;
	case KEVENT_USER:
		kev_set_fields(reg, ev);
		return 0;
	default:
		return kev_sources_modify(&be->src, reg, ev);
	}
}

static int kev_ub_ctl_one(struct kev_ub *be, unsigned int cmd,
			  struct ukevent *ev)
{
	struct kev_reg *reg;
	int err = kev_check_entry(cmd, ev);

	if (err)
		return err;
	if (cmd == KEVENT_CTL_ADD)
		return kev_ub_add(be, ev);
	reg = kev_core_find(&be->core, ev->type, ev->id);
	if (!reg)
		return ENOENT;
	switch (cmd) {
	case KEVENT_CTL_REMOVE:
		kev_core_remove(&be->core, reg);
		return 0;
	case KEVENT_CTL_MODIFY:
		return kev_ub_modify(be, reg, ev);
	case KEVENT_CTL_ENABLE:
		kev_core_enable(&be->core, reg);
		return 0;
	case KEVENT_CTL_DISABLE:
		kev_core_disable(&be->core, reg);
		return 0;
	case KEVENT_CTL_READY:
		if (reg->type != KEVENT_USER)
			return EINVAL;
		kev_core_fire(&be->core, reg, ev->event, 1);
		return 0;
	}
	return EINVAL;
}

static void kev_ub_collect(struct kev_ub *be, bool always);

static int kev_ub_ctl(struct kev_queue *q, unsigned int cmd,
		      unsigned int num, struct ukevent *events)
{
	struct kev_ub *be = kev_ub_of(q);
	struct kev_core *core = &be->core;
	bool kick = false, fwake;
	uint32_t before, rechecks, work;
	unsigned int i;
	int ok = 0;

	pthread_mutex_lock(&core->lock);
	before = core->kidx;
	rechecks = core->recheck.n;
	work = core->nqwork;
	kev_timers_new_batch(&be->timers); /* a clock read per clock */
	for (i = 0; i < num; i++) {
		int err = kev_ub_ctl_one(be, cmd, &events[i]);

		kev_entry_result(&events[i], err);
		if (!err)
			ok++;
	}
	/*
	 * Timers this batch made due at once (a deadline in the past, a
	 * one-shot of 0) fire now, without the timerfd; for the others, one
	 * timerfd_settime, and one hand-over to the kernel (io_uring).
	 */
	kev_timers_end_batch(&be->timers, core);
	be->ws->ops->flush(be->ws);
	if (kev_core_has_ready(core)) {
		/*
		 * A ring's worth was published since the last collection:
		 * collect before publishing more, or a trigger made again and
		 * again between two waits would keep everything else out.
		 */
		if (!kev_core_budget_left(core)) {
			kev_core_reap(core);
			kev_ub_recheck(be);
			kev_ub_collect(be, false);
		}
		kev_core_publish(core);
	}
	/*
	 * Anything this batch left for a kevent_wait to do (or published:
	 * a loop polling the queue fd must come and take it) makes the
	 * queue fd readable, or wakes a sleeper.
	 */
	if (core->kidx != before || kev_core_has_ready(core) ||
	    core->recheck.n > rechecks || core->nqwork > work)
		kick = kev_ub_kick(be);
	/*
	 * A futex sleeper slept there because the queue watched nothing
	 * that could wake it: whatever this batch did (published events,
	 * added an fd, a timer or a source), it must look again.  A
	 * spurious wake-up costs it one loop.
	 */
	fwake = kev_ub_futex_bump(be);
	pthread_mutex_unlock(&core->lock);
	if (kick)
		kev_ub_kick_write(be);
	if (fwake)
		kev_ub_futex_wake(be);
	return ok;
}

/* ---- kevent_wait */

/*
 * An internal fd's watch ended (io_uring ends a multishot poll when it
 * cannot post more completions): watch it again.
 */
static void kev_ub_rewatch(struct kev_ub *be, uint64_t tok)
{
	int fd = -1;

	switch (tok) {
	case TOK_WAKE:
		fd = be->wakefd;
		break;
	case TOK_TIMER:
		fd = kev_timers_fd(&be->timers);
		break;
	case TOK_SIGNAL:
		fd = kev_sources_signal_fd(&be->src);
		break;
	case TOK_INODE:
		fd = kev_sources_inode_fd(&be->src);
		break;
	}
	if (fd >= 0)
		kev_ub_add_internal(be, fd, tok);
}

/*
 * Events of internal fds (wake-up, timers, signals, inotify), as a bit per
 * token: each handler drains its fd, so it runs once per harvest however
 * many reports came in.
 */
#define KEV_INT_BIT(tok)	(1u << (TOK_WAKE - (tok)))

static void kev_ub_dispatch_internal(struct kev_ub *be, unsigned int bits)
{
	if (bits & KEV_INT_BIT(TOK_WAKE))
		be->wake_pending = false;	/* never read: kick_write */
	if (bits & KEV_INT_BIT(TOK_TIMER))
		kev_timers_expire(&be->timers, &be->core);
	if (bits & KEV_INT_BIT(TOK_SIGNAL))
		kev_sources_dispatch(&be->src, &be->core, KEV_SRC_SIGNAL);
	if (bits & KEV_INT_BIT(TOK_INODE))
		kev_sources_dispatch(&be->src, &be->core, KEV_SRC_INODE);
}

/*
 * The watch of a live registration ended (io_uring): watch it again, or
 * it would never be reported again.  A multishot poll of an edge-triggered
 * fd or of a pidfd ends when the completion queue is full (its last
 * completion is this event), and any poll is cancelled, with no events,
 * when the thread that submitted it exits.  A level-triggered poll also
 * ends after each completion, which the recheck list rearms: only a
 * cancelled one is rearmed here.  The fd is the backend's own duplicate
 * (uring) or pidfd, so it still names the registration's file.
 */
static void kev_ub_rewatch_reg(struct kev_ub *be, struct kev_reg *reg,
			       bool cancelled)
{
	uint64_t tok = kev_core_token(reg);

	switch (reg->type) {
	case KEVENT_POLL:
		if (reg->always || reg->detached)
			break;
		if (reg->req_flags & KEVENT_REQ_ET) {
			be->ws->ops->add(be->ws, reg->fd, tok,
					 kev_poll_mask(reg), KEV_W_EDGE);
		} else if (cancelled) {
			reg->muted = false;
			be->ws->ops->rearm(be->ws, reg->fd, tok,
					   kev_poll_mask(reg));
		}
		break;
	case KEVENT_PROC:
		if (cancelled && reg->fd >= 0)
			be->ws->ops->add(be->ws, reg->fd, tok, POLLIN,
					 KEV_W_EDGE);
		break;
	}
}

/*
 * A waitset that reports what a wake-up named (io_uring) says PRI for any
 * data on a socket: ask the file what is true now.  Rare (PRI asked for
 * and named), so one poll(2) is cheap.
 */
static uint32_t kev_poll_confirm(const struct kev_reg *reg, uint32_t events)
{
	struct pollfd p = { .fd = reg->fd,
			    .events = (short)kev_poll_mask(reg), .revents = 0 };

	if (poll(&p, 1, 0) != 1)
		return events & ~KEVENT_POLL_PRI;
	return (uint32_t)(unsigned short)p.revents &
	       (reg->event | KEVENT_POLL_ERR | KEVENT_POLL_HUP);
}

static void kev_ub_dispatch(struct kev_ub *be, struct kev_wevent *evs, int n)
{
	const bool lt_disarms = be->ws->lt_disarms;
	unsigned int internal = 0;
	int i;

	for (i = 0; i < n; i++) {
		uint64_t tok = evs[i].data.u64;
		uint32_t events = evs[i].events & ~KEV_W_ENDED;
		bool ended = evs[i].events & KEV_W_ENDED;
		struct kev_reg *reg;

		if (KEV_UNLIKELY(tok >= TOK_INODE && tok <= TOK_WAKE)) {
			if (ended)
				kev_ub_rewatch(be, tok);
			if (events)
				internal |= KEV_INT_BIT(tok);
			continue;
		}
		reg = kev_core_lookup_token(&be->core, tok);
		if (!reg)
			continue;	/* removed since the wait harvested it */
		if (KEV_UNLIKELY(ended)) {
			kev_ub_rewatch_reg(be, reg, !events);
			if (!events)
				continue;	/* cancelled: nothing fired */
		}
		if (reg->type != KEVENT_POLL) {
			kev_sources_fire(&be->core, reg);
			continue;
		}
		events &= reg->event | KEVENT_POLL_ERR | KEVENT_POLL_HUP;
		if (KEV_UNLIKELY((events & KEVENT_POLL_PRI) &&
				 be->ws->wakeup_events))
			events = kev_poll_confirm(reg, events);
		if (KEV_UNLIKELY(!events)) {
			/*
			 * Only what the waitset added on its own (RDBAND
			 * with PRI, waitset-uring.cpp): nothing fired, but a
			 * single-shot level poll is spent and must be
			 * watched again.
			 */
			if (lt_disarms && kev_reg_is_lt_poll(reg))
				be->ws->ops->rearm(be->ws, reg->fd,
						   kev_core_token(reg),
						   kev_poll_mask(reg));
			continue;
		}
		if (kev_reg_is_lt_poll(reg)) {
			if (lt_disarms) {
				reg->muted = true;	/* fired: disarmed */
				kev_core_note_work(&be->core, reg);
			} else if (!reg->muted && (reg->state != KEV_IDLE ||
						   reg->disabled)) {
				kev_poll_mute(be, reg);
			}
		}
		kev_core_fire(&be->core, reg, events, 0);
	}
	if (internal)
		kev_ub_dispatch_internal(be, internal);
}

static const struct timespec kev_zero_ts = {};

/*
 * Could the waitset report anything?  Not when it watches no fd and no
 * source, no wake-up was written, and no timer is due: then a collection
 * needs no system call.
 */
static bool kev_ub_quiet(struct kev_ub *be)
{
	return !be->nwatched && !be->wake_pending &&
	       !kev_timers_due(&be->timers);
}

/*
 * Collect everything that has fired, without sleeping: drain the waitset
 * and expire the due timers.  Under the lock.  With always false, a quiet
 * waitset is not asked (no system call).
 *
 * The drain goes on while the waitset fills the buffer, but not for ever:
 * what was ready when it started is ahead of anything that fires during
 * it (epoll's ready list and io_uring's completion queue are FIFO), and is
 * behind at most one report per watched item, or the completions already
 * queued.  Past that, it would only chase sources that fire faster than
 * they are harvested.
 */
static void kev_ub_collect(struct kev_ub *be, bool always)
{
	if (always || !kev_ub_quiet(be)) {
		uint64_t limit = (uint64_t)be->nwatched + KEV_EVS_SLACK +
				 be->ws->ops->backlog(be->ws), got = 0;
		int n;

		be->ws->ops->flush(be->ws);
		do {
			n = be->ws->ops->wait(be->ws, be->dbuf, (int)be->nevs,
					      &kev_zero_ts, NULL);
			if (n <= 0)
				break;
			kev_ub_dispatch(be, be->dbuf, n);
			got += (uint64_t)n;
		} while (n == (int)be->nevs && got < limit);
	}
	/* due, and the timerfd not read yet (it may fire a little later) */
	if (kev_timers_due(&be->timers))
		kev_timers_expire(&be->timers, &be->core);
	kev_core_collected(&be->core);
}

static int64_t kev_ts_ns(const struct timespec *ts)
{
	if (ts->tv_sec > INT64_MAX / 1000000000 - 1)
		return INT64_MAX;
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/*
 * May a thread about to sleep in kevent_wait sleep on the futex instead of
 * in the waitset?  Only when nothing the waitset could report would be
 * missed: no fd or source watched (nwatched), no timer in a heap (once
 * they are empty the timerfd can only fire early, with nothing due), and
 * no eventfd write waiting to be harvested, so that the queue fd does not
 * stay readable for an outside poller.  The futex cannot swap the signal
 * mask atomically, so kevent_pwait with a mask sleeps in the waitset; and
 * a zero timeout polls the waitset as before, which harvests whatever left
 * the queue fd readable (kevent_wait(2) tells poll(2) users to call it
 * when the fd is readable).
 */
static bool kev_ub_futex_ok(const struct kev_ub *be,
			    const struct timespec *rel, const sigset_t *sigmask)
{
	if (be->nwatched || be->wake_pending || sigmask ||
	    (rel && !rel->tv_sec && !rel->tv_nsec))
		return false;
	return kev_timers_empty(&be->timers);
}

/*
 * Sleep on the futex word until a waker bumps it, the timeout passes or a
 * signal handler runs; called and returns with the lock held.  0 to go
 * round the loop again (woken, EAGAIN, ETIMEDOUT: the loop checks the
 * deadline), else -1 with errno (EINTR).
 *
 * FUTEX_WAIT always has a timeout, if only a day (the loop then sleeps
 * again): an untimed one is restarted by the kernel after a handler
 * installed with SA_RESTART, as glibc's signal() does, where epoll_pwait2
 * and io_uring_enter fail with EINTR.  A program that waits for Ctrl-C
 * that way must not hang because its queue happens to hold only user
 * events.  The timer costs about 0.15x of a pinned round trip here.
 */
static const struct timespec kev_futex_day = { 86400, 0 };

static int kev_ub_futex_sleep(struct kev_ub *be, const struct timespec *rel)
{
	uint32_t val = __atomic_load_n(&be->futex, __ATOMIC_RELAXED);
	long r;
	int err;

	/* No wait() will hand queued changes (removals) to the kernel. */
	be->ws->ops->flush(be->ws);
	be->fsleepers++;
	pthread_mutex_unlock(&be->core.lock);
	/* A bump since val was read makes this return EAGAIN at once. */
	r = syscall(SYS_futex, &be->futex, FUTEX_WAIT_PRIVATE, val,
		    rel ? rel : &kev_futex_day, NULL, 0);
	err = errno;
	pthread_mutex_lock(&be->core.lock);
	be->fsleepers--;
	if (r < 0 && err != EAGAIN && err != ETIMEDOUT) {
		errno = err;
		return -1;
	}
	return 0;
}

/*
 * Sleep in the waitset (or, with a zero rel, poll it) and dispatch what it
 * reports; called and returns with the lock held.  The number of events,
 * or -1 with errno (EINTR).  Queued changes are handed to the kernel
 * before, not by the call that sleeps: io_uring_enter returns the number
 * it submitted, not EINTR, when a signal ends the sleep of a call that
 * also submitted (issue 15).  The first sleeper gets the full buffer,
 * others a small one.
 */
static int kev_ub_sleep(struct kev_ub *be, const struct timespec *rel,
			const sigset_t *sigmask, bool *full)
{
	struct kev_wevent local[KEV_EVS_LOCAL], *buf = local;
	int max = KEV_EVS_LOCAL, n, err;
	bool mine = false;

	be->ws->ops->flush(be->ws);
	if (!be->sbuf_busy) {
		be->sbuf_busy = mine = true;
		buf = be->sbuf;
		max = (int)be->nevs;
	}
	be->sleepers++;
	pthread_mutex_unlock(&be->core.lock);
	n = be->ws->ops->wait(be->ws, buf, max, rel, sigmask);
	err = errno;
	pthread_mutex_lock(&be->core.lock);
	be->sleepers--;
	if (n > 0)
		kev_ub_dispatch(be, buf, n);
	if (mine)
		be->sbuf_busy = false;
	*full = n == max;
	errno = err;
	return n;
}

static int kev_ub_wait(struct kev_queue *q, unsigned int min_nr,
		       const struct timespec *timeout, const sigset_t *sigmask)
{
	struct kev_ub *be = kev_ub_of(q);
	struct kev_core *core = &be->core;
	const bool poll_mode = timeout && !timeout->tv_sec &&
			       !timeout->tv_nsec;
	bool collected = false, full = false, kick = false;
	int64_t deadline = 0;
	int ret;

	if (timeout) {
		int64_t t = kev_ts_ns(timeout);

		deadline = t == INT64_MAX ? INT64_MAX :
			   (int64_t)kev_clock_now(0) + t;
	}
	pthread_mutex_lock(&core->lock);
	be->in_wait++;
	be->consumer = pthread_self();
	be->has_consumer = true;
	be->poll_mode = poll_mode;
	for (;;) {
		struct timespec rel, *relp = NULL;
		bool expired = false;
		uint32_t count;
		int n;

		kev_core_reap(core);
		kev_ub_recheck(be);
		/*
		 * Fairness: see what has fired before publishing whenever this
		 * call may return without sleeping in the waitset (which would
		 * collect), and whenever a ring's worth was published since
		 * the last collection.  A loop polling the queue fd always
		 * collects: it must drain the waitset's readiness.
		 */
		if (!collected &&
		    (full || poll_mode || !kev_core_budget_left(core) ||
		     kev_core_count(core) + core->ready.n >= min_nr)) {
			kev_ub_collect(be, poll_mode || full);
			collected = true;
			full = false;
		}
		kev_core_publish(core);
		count = kev_core_count(core);
		if (count >= min_nr ||
		    __atomic_load_n(&q->closing, __ATOMIC_ACQUIRE)) {
			ret = (int)count;
			break;
		}
		if (timeout && deadline != INT64_MAX) {
			int64_t left = deadline - (int64_t)kev_clock_now(0);

			if (left <= 0) {
				expired = true;
				left = 0;
			}
			rel.tv_sec = left / 1000000000;
			rel.tv_nsec = left % 1000000000;
			relp = &rel;
		}
		if (expired && collected) {
			ret = (int)count;
			break;
		}
		if (!expired && kev_ub_futex_ok(be, relp, sigmask)) {
			if (kev_ub_futex_sleep(be, relp) < 0)
				goto fail;
			continue;
		}
		n = kev_ub_sleep(be, relp, sigmask, &full);
		if (n < 0)
			goto fail;
		/*
		 * It returned everything ready: a full collection, once the
		 * timers that are due, and whose timerfd may not have fired
		 * yet, are expired too.
		 */
		collected = !full;
		if (collected) {
			if (kev_timers_due(&be->timers))
				kev_timers_expire(&be->timers, core);
			kev_core_collected(core);
		}
	}
	/*
	 * A handler of another loop (zero timeout) goes back to sleep on the
	 * queue fd: if work is left that only a kevent_wait can do (more
	 * ready than the ring took, files to check again once the consumer
	 * passes their entries), the fd must stay readable.
	 */
	if (poll_mode && kev_core_has_work(core) && !be->wake_pending) {
		be->wake_pending = true;
		kick = true;
	}
	/*
	 * Watches renewed while dispatching (an internal fd's spent poll, a
	 * rearmed level poll) go to the kernel before the caller sleeps
	 * elsewhere on the queue fd: queued, they would never report.
	 */
	be->ws->ops->flush(be->ws);
	be->in_wait--;
	pthread_mutex_unlock(&core->lock);
	if (kick)
		kev_ub_kick_write(be);
	return ret;
fail:
	ret = errno;
	be->ws->ops->flush(be->ws);
	be->in_wait--;
	pthread_mutex_unlock(&core->lock);
	errno = ret;
	return -1;
}

static int kev_epoll_probe(void)
{
	return kev_waitset_epoll.probe();
}

const struct kev_backend_ops kev_epoll_ops = {
	.name = "epoll",
	.probe = kev_epoll_probe,
	.init = kev_epoll_init,
	.ctl = kev_ub_ctl,
	.wait = kev_ub_wait,
	.wake = kev_ub_wake,
	.destroy = kev_ub_destroy,
};

#ifdef KEV_HAVE_URING
static int kev_uring_probe(void)
{
	return kev_waitset_uring.probe();
}

static int kev_uring_init(struct kev_queue *q, unsigned int size)
{
	return kev_ub_init(q, size, &kev_waitset_uring);
}

const struct kev_backend_ops kev_uring_ops = {
	.name = "uring",
	.probe = kev_uring_probe,
	.init = kev_uring_init,
	.ctl = kev_ub_ctl,
	.wait = kev_ub_wait,
	.wake = kev_ub_wake,
	.destroy = kev_ub_destroy,
};
#endif
