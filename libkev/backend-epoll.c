// SPDX-License-Identifier: MIT
/*
 * backend-epoll.c - the epoll backend: works on every Linux kernel.
 *
 * One epoll instance holds every event source of the queue:
 *   - each KEVENT_POLL fd, level- or edge-triggered as registered.  A
 *     level-triggered fd that epoll reports again while its entry still
 *     sits in the ring (or while it is disabled) is "muted": switched to
 *     edge-triggered so that it cannot keep epoll_wait from sleeping.  When
 *     the consumer passes the entry, it is switched back, and epoll itself
 *     re-checks it.  The common path (consume, then wait) costs no system
 *     call beyond epoll_pwait2;
 *   - one timerfd for all timers (timers.c);
 *   - one eventfd to wake a sleeper (KEVENT_CTL_READY, kevent_close).
 * epoll data carries a generation-checked token, never a pointer, so an
 * event harvested just before another thread removed its registration is
 * recognised as stale.
 *
 * Locking: be->core.lock protects everything here.  It is dropped around
 * epoll_pwait2(), the only place this backend sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core.h"
#include "sources.h"
#include "timers.h"

/* Tokens of the internal fds: handles that the core never hands out. */
#define TOK_WAKE	0xffffffffull
#define TOK_TIMER	0xfffffffeull
#define TOK_SIGNAL	0xfffffffdull
#define TOK_INODE	0xfffffffcull

#define KEV_EPOLL_BATCH	256

struct kev_epoll {
	struct kev_core core;
	struct kev_queue *q;
	int epfd;
	int wakefd;
	int sleepers;		/* threads in epoll_pwait2 */
	int in_wait;		/* threads inside kevent_wait */
	bool wake_pending;	/* wakefd written and not yet drained */
	bool timer_watched;	/* the timerfd is in the epoll set */
	bool has_consumer;	/* consumer is valid */
	pthread_t consumer;	/* the thread that last called kevent_wait */
	struct kev_timers timers;
	struct kev_sources src;
};

static inline struct kev_epoll *kev_epoll(struct kev_queue *q)
{
	return q->priv;
}

static int kev_epoll_probe(void)
{
	return 0;
}

static void kev_epoll_release(struct kev_core *core, struct kev_reg *reg)
{
	struct kev_epoll *be = (struct kev_epoll *)core;

	switch (reg->type) {
	case KEVENT_POLL:
		/* Fails harmlessly if the caller already closed the fd. */
		if (!reg->always && reg->fd >= 0)
			epoll_ctl(be->epfd, EPOLL_CTL_DEL, reg->fd, NULL);
		break;
	case KEVENT_TIMER:
		kev_timer_disarm(&be->timers, reg);
		break;
	default:
		kev_sources_release(&be->src, reg);
		break;
	}
}

static const struct kev_core_ops kev_epoll_core_ops = {
	.release = kev_epoll_release,
};

static int kev_epoll_add_internal(struct kev_epoll *be, int fd, uint64_t tok)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tok };

	return epoll_ctl(be->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Called by the sources (signal, inode) when they create their fd. */
static int kev_epoll_watch_source(void *ctx, int fd, unsigned int which)
{
	static const uint64_t toks[] = {
		[KEV_SRC_SIGNAL] = TOK_SIGNAL,
		[KEV_SRC_INODE] = TOK_INODE,
	};

	return kev_epoll_add_internal(ctx, fd, toks[which]);
}

static int kev_epoll_watch_reg(void *ctx, int fd, struct kev_reg *reg)
{
	struct kev_epoll *be = ctx;
	struct epoll_event ev = {
		.events = EPOLLIN,
		.data.u64 = kev_core_token(reg),
	};

	return epoll_ctl(be->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int kev_epoll_init(struct kev_queue *q, unsigned int size)
{
	struct kev_epoll *be = calloc(1, sizeof(*be));
	int err;

	if (!be) {
		errno = ENOMEM;
		return -1;
	}
	be->q = q;
	be->epfd = be->wakefd = -1;
	kev_timers_init(&be->timers);
	if (kev_core_init(&be->core, size, &kev_epoll_core_ops) < 0) {
		err = errno;
		free(be);
		errno = err;
		return -1;
	}
	kev_sources_init(&be->src, be, kev_epoll_watch_source,
			 kev_epoll_watch_reg);
	be->epfd = epoll_create1(EPOLL_CLOEXEC);
	be->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (be->epfd < 0 || be->wakefd < 0 ||
	    kev_epoll_add_internal(be, be->wakefd, TOK_WAKE) < 0)
		goto fail;
	/*
	 * The caller's fd is a second descriptor of the same epoll file, so
	 * that a caller who wrongly close(2)s it cannot make us act on a
	 * reused descriptor number.
	 */
	q->fd = fcntl(be->epfd, F_DUPFD_CLOEXEC, 3);
	if (q->fd < 0)
		goto fail;
	q->priv = be;
	q->ring = be->core.ring;
	q->ring_bytes = be->core.ring_bytes;
	return 0;
fail:
	err = errno;
	if (be->epfd >= 0)
		close(be->epfd);
	if (be->wakefd >= 0)
		close(be->wakefd);
	kev_core_destroy(&be->core);
	free(be);
	errno = err;
	return -1;
}

static void kev_epoll_destroy(struct kev_queue *q, bool in_child)
{
	struct kev_epoll *be = kev_epoll(q);

	kev_sources_destroy(&be->src, &be->core, in_child);
	kev_timers_destroy(&be->timers);
	kev_core_destroy(&be->core);
	close(be->epfd);
	close(be->wakefd);
	if (q->fd >= 0)
		close(q->fd);
	free(be);
}

/*
 * Wake a sleeper after the queue gained events outside kevent_wait.  The
 * eventfd is written only when a thread sleeps in kevent_wait, or when no
 * thread is in kevent_wait at all (the consumer may be asleep in poll(2) on
 * the queue fd) and no wake-up is pending yet.  A thread inside kevent_wait
 * and awake holds or will take the lock and see the events itself, and so
 * does the thread that last called kevent_wait when it triggers its own
 * events.  The
 * decision is made under the lock that kevent_wait holds while it decides
 * to sleep, so no wake-up is lost.
 */
static void kev_epoll_kick(struct kev_epoll *be)
{
	uint64_t one = 1;

	if (be->wake_pending || (be->sleepers == 0 && be->in_wait > 0))
		return;
	/* The consumer itself, running this call, sleeps nowhere. */
	if (be->sleepers == 0 && be->has_consumer &&
	    pthread_equal(pthread_self(), be->consumer))
		return;
	be->wake_pending = true;
	if (write(be->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so it is readable. */
	}
}

static void kev_epoll_wake(struct kev_queue *q)
{
	struct kev_epoll *be = kev_epoll(q);
	uint64_t one = 1;

	pthread_mutex_lock(&be->core.lock);
	be->wake_pending = true;
	if (write(be->wakefd, &one, sizeof(one)) < 0) {
		/* saturated: already readable */
	}
	pthread_mutex_unlock(&be->core.lock);
}

/* ---- KEVENT_POLL */

static bool kev_is_queue_loop(struct kev_epoll *be, int fd)
{
	struct kev_queue *other = kev_queue_get(fd);
	bool self;

	if (!other)
		return false;
	self = other == be->q;
	kev_queue_put(other);
	return self;
}

static uint32_t kev_poll_events(const struct kev_reg *reg, bool muted)
{
	uint32_t ev = reg->event & KEVENT_POLL_MASK;

	if (muted || (reg->req_flags & KEVENT_REQ_ET))
		ev |= EPOLLET;
	return ev;
}

/* Switch a level-triggered item to edge (mute) or back; see the top. */
static void kev_poll_mute(struct kev_epoll *be, struct kev_reg *reg,
			  bool mute)
{
	struct epoll_event ev = {
		.events = kev_poll_events(reg, mute),
		.data.u64 = kev_core_token(reg),
	};

	if (epoll_ctl(be->epfd, EPOLL_CTL_MOD, reg->fd, &ev) == 0 || !mute)
		reg->muted = mute;
	else
		reg->muted = false;
}

static int kev_poll_add(struct kev_epoll *be, struct kev_reg *reg)
{
	struct epoll_event ev;
	int fd = (int)reg->id;

	if (fcntl(fd, F_GETFD) < 0)
		return EBADF;
	if (kev_is_queue_loop(be, fd))
		return ELOOP;
	reg->fd = fd;
	ev.events = kev_poll_events(reg, false);
	ev.data.u64 = kev_core_token(reg);
	if (epoll_ctl(be->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
		return 0;
	if (errno == EPERM) {
		/* A regular file or the like: always ready, as poll(2) says. */
		reg->always = true;
		return 0;
	}
	if (errno == EINVAL && kev_queue_get(fd)) {
		/* epoll refuses an epoll fd inside itself */
		return ELOOP;
	}
	return errno;
}

static uint32_t kev_always_mask(const struct kev_reg *reg)
{
	return reg->event & (KEVENT_POLL_IN | KEVENT_POLL_OUT);
}

static int kev_poll_modify(struct kev_epoll *be, struct kev_reg *reg)
{
	struct epoll_event ev;

	if (reg->always)
		return 0;
	ev.events = kev_poll_events(reg, false);
	ev.data.u64 = kev_core_token(reg);
	reg->muted = false;
	if (epoll_ctl(be->epfd, EPOLL_CTL_MOD, reg->fd, &ev) < 0)
		return errno == ENOENT ? EBADF : errno;
	return 0;
}

/*
 * Level-triggered registrations whose entries the consumer passed (or that
 * were enabled): files epoll refused are ready again at once; muted items
 * are switched back to level-triggered, which makes epoll re-check them.
 * The others need nothing: epoll reports them while they are ready.
 */
static void kev_epoll_recheck(struct kev_epoll *be)
{
	struct kev_reg *reg = kev_core_take_recheck(&be->core), *next;

	for (; reg; reg = next) {
		next = reg->next;
		reg->next = NULL;
		if (reg->always)
			kev_core_fire(&be->core, reg, kev_always_mask(reg), 0);
		else if (reg->muted)
			kev_poll_mute(be, reg, false);
	}
}

/* ---- kevent_ctl */

static int kev_epoll_timer_arm(struct kev_epoll *be, struct kev_reg *reg)
{
	if (kev_timer_arm(&be->timers, reg) < 0)
		return errno;
	if (!be->timer_watched) {
		if (kev_epoll_add_internal(be, be->timers.tfd, TOK_TIMER) < 0)
			return errno;
		be->timer_watched = true;
	}
	return 0;
}

static int kev_epoll_add(struct kev_epoll *be, struct ukevent *ev)
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
		err = kev_epoll_timer_arm(be, reg);
		break;
	case KEVENT_USER:
		break;
	default:
		err = kev_sources_add(&be->src, &be->core, reg);
		break;
	}
	if (err) {
		kev_timer_disarm(&be->timers, reg);
		kev_core_free_unlinked(&be->core, reg);
		return err;
	}
	kev_core_insert(&be->core, reg);
	if (reg->always)
		kev_core_fire(&be->core, reg, kev_always_mask(reg), 0);
	return 0;
}

static int kev_epoll_modify(struct kev_epoll *be, struct kev_reg *reg,
			    const struct ukevent *ev)
{
	struct kev_reg old = *reg;
	int err = 0;

	reg->event = ev->event;
	reg->req_flags = ev->req_flags;
	reg->data = ev->data;
	reg->user = ev->user;
	switch (reg->type) {
	case KEVENT_POLL:
		err = kev_poll_modify(be, reg);
		if (!err && reg->always)
			kev_core_fire(&be->core, reg, kev_always_mask(reg), 0);
		break;
	case KEVENT_TIMER:
		err = kev_epoll_timer_arm(be, reg);
		break;
	case KEVENT_USER:
		break;
	default:
		err = kev_sources_modify(&be->src, &be->core, reg, &old);
		break;
	}
	if (err) {
		reg->event = old.event;
		reg->req_flags = old.req_flags;
		reg->data = old.data;
		reg->user = old.user;
		if (reg->type == KEVENT_TIMER && old.heap_idx != UINT32_MAX)
			kev_timer_arm(&be->timers, reg);
		return err;
	}
	/* A level-triggered fd that is ready now is delivered again. */
	if (reg->type == KEVENT_POLL && kev_reg_is_lt_poll(reg) &&
	    reg->state == KEV_IDLE && !reg->disabled) {
		reg->disabled = true;
		kev_core_enable(&be->core, reg);
	}
	return 0;
}

static int kev_epoll_ctl_one(struct kev_epoll *be, unsigned int cmd,
			     struct ukevent *ev)
{
	struct kev_reg *reg;
	int err = kev_check_entry(cmd, ev);

	if (err)
		return err;
	if (cmd == KEVENT_CTL_ADD)
		return kev_epoll_add(be, ev);
	reg = kev_core_find(&be->core, ev->type, ev->id);
	if (!reg)
		return ENOENT;
	switch (cmd) {
	case KEVENT_CTL_REMOVE:
		kev_core_remove(&be->core, reg);
		return 0;
	case KEVENT_CTL_MODIFY:
		return kev_epoll_modify(be, reg, ev);
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

static int kev_epoll_ctl(struct kev_queue *q, unsigned int cmd,
			 unsigned int num, struct ukevent *events)
{
	struct kev_epoll *be = kev_epoll(q);
	unsigned int i;
	int ok = 0;

	pthread_mutex_lock(&be->core.lock);
	for (i = 0; i < num; i++) {
		int err = kev_epoll_ctl_one(be, cmd, &events[i]);

		kev_entry_result(&events[i], err);
		if (!err)
			ok++;
	}
	if (kev_core_has_ready(&be->core)) {
		uint32_t before = be->core.kidx;

		kev_core_publish(&be->core);
		if (be->core.kidx != before || kev_core_has_ready(&be->core))
			kev_epoll_kick(be);
	}
	pthread_mutex_unlock(&be->core.lock);
	return ok;
}

/* ---- kevent_wait */

static void kev_epoll_dispatch(struct kev_epoll *be, struct epoll_event *evs,
			       int n)
{
	int i;

	for (i = 0; i < n; i++) {
		uint64_t tok = evs[i].data.u64;
		struct kev_reg *reg;

		switch (tok) {
		case TOK_WAKE: {
			uint64_t v;

			if (read(be->wakefd, &v, sizeof(v)) < 0) {
				/* EAGAIN: drained by another waiter */
			}
			be->wake_pending = false;
			continue;
		}
		case TOK_TIMER:
			kev_timers_expire(&be->timers, &be->core);
			continue;
		case TOK_SIGNAL:
		case TOK_INODE:
			kev_sources_dispatch(&be->src, &be->core,
					     tok == TOK_SIGNAL ?
					     KEV_SRC_SIGNAL : KEV_SRC_INODE);
			continue;
		}
		reg = kev_core_lookup_token(&be->core, tok);
		if (!reg)
			continue;	/* removed since epoll_wait harvested it */
		if (reg->type == KEVENT_POLL && kev_reg_is_lt_poll(reg) &&
		    !reg->muted &&
		    (reg->state == KEV_QUEUED || reg->disabled))
			kev_poll_mute(be, reg, true);
		if (reg->type == KEVENT_POLL)
			kev_core_fire(&be->core, reg,
				      evs[i].events & (reg->event |
						       KEVENT_POLL_ERR |
						       KEVENT_POLL_HUP), 0);
		else
			kev_sources_fire(&be->src, &be->core, reg);
	}
}

/* epoll_pwait2 (Linux 5.11) for ns timeouts; epoll_pwait before that. */
static int kev_epoll_sleep(int epfd, struct epoll_event *evs,
			   const struct timespec *rel, const sigset_t *sigmask)
{
	static int no_pwait2;
	int ms = -1, n;

	if (!__atomic_load_n(&no_pwait2, __ATOMIC_RELAXED)) {
		n = epoll_pwait2(epfd, evs, KEV_EPOLL_BATCH, rel, sigmask);
		if (n >= 0 || errno != ENOSYS)
			return n;
		__atomic_store_n(&no_pwait2, 1, __ATOMIC_RELAXED);
	}
	if (rel) {
		int64_t t = (int64_t)rel->tv_sec * 1000 +
			    (rel->tv_nsec + 999999) / 1000000;

		ms = t > INT32_MAX ? INT32_MAX : (int)t;
	}
	return epoll_pwait(epfd, evs, KEV_EPOLL_BATCH, ms, sigmask);
}

static int64_t kev_ts_ns(const struct timespec *ts)
{
	if (ts->tv_sec > INT64_MAX / 1000000000 - 1)
		return INT64_MAX;
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int kev_epoll_wait(struct kev_queue *q, unsigned int min_nr,
			  const struct timespec *timeout,
			  const sigset_t *sigmask)
{
	struct kev_epoll *be = kev_epoll(q);
	struct epoll_event evs[KEV_EPOLL_BATCH];
	int64_t deadline = 0;
	bool first = true;
	int ret;

	if (timeout) {
		int64_t t = kev_ts_ns(timeout);

		deadline = t == INT64_MAX ? INT64_MAX :
			   (int64_t)kev_clock_now(0) + t;
	}
	pthread_mutex_lock(&be->core.lock);
	be->in_wait++;
	be->consumer = pthread_self();
	be->has_consumer = true;
	for (;;) {
		struct timespec rel, *relp = NULL;
		uint32_t count;
		int n;

		kev_core_reap(&be->core);
		kev_epoll_recheck(be);
		kev_core_publish(&be->core);
		count = kev_core_count(&be->core);
		if (count >= min_nr ||
		    __atomic_load_n(&q->closing, __ATOMIC_ACQUIRE)) {
			ret = (int)count;
			break;
		}
		if (timeout && deadline != INT64_MAX) {
			int64_t left = deadline - (int64_t)kev_clock_now(0);

			if (left <= 0) {
				if (!first) {
					ret = (int)count;
					break;
				}
				left = 0;
			}
			rel.tv_sec = left / 1000000000;
			rel.tv_nsec = left % 1000000000;
			relp = &rel;
		}
		first = false;
		be->sleepers++;
		pthread_mutex_unlock(&be->core.lock);
		n = kev_epoll_sleep(be->epfd, evs, relp, sigmask);
		pthread_mutex_lock(&be->core.lock);
		be->sleepers--;
		if (n < 0) {
			int err = errno;

			if (err == EINTR) {
				/* Publish what is ready; report the signal. */
				kev_core_publish(&be->core);
			}
			be->in_wait--;
			pthread_mutex_unlock(&be->core.lock);
			errno = err;
			return -1;
		}
		kev_epoll_dispatch(be, evs, n);
	}
	be->in_wait--;
	pthread_mutex_unlock(&be->core.lock);
	return ret;
}

const struct kev_backend_ops kev_epoll_ops = {
	.name = "epoll",
	.probe = kev_epoll_probe,
	.init = kev_epoll_init,
	.ctl = kev_epoll_ctl,
	.wait = kev_epoll_wait,
	.wake = kev_epoll_wake,
	.destroy = kev_epoll_destroy,
};
