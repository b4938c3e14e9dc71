// SPDX-License-Identifier: MIT
/*
 * waitset-epoll.c - the epoll waitset, for the epoll backend.
 *
 * Level-triggered items stay level-triggered in epoll; one reported while
 * its registration cannot take it is muted by switching it to
 * edge-triggered, and rearmed by switching it back (which makes epoll
 * re-check it).  So consume-then-wait costs one epoll_pwait2 per round, as
 * raw level-triggered epoll does.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "waitset.h"

struct kev_ws_epoll {
	struct kev_waitset ws;
};

static int kev_wse_probe(void)
{
	return 0;
}

static struct kev_waitset *kev_wse_create(unsigned int ring_size)
{
	struct kev_ws_epoll *w = calloc(1, sizeof(*w));

	(void)ring_size;	/* epoll sizes itself */
	if (!w) {
		errno = ENOMEM;
		return NULL;
	}
	w->ws.ops = &kev_waitset_epoll;
	w->ws.fd = epoll_create1(EPOLL_CLOEXEC);
	if (w->ws.fd < 0) {
		int err = errno;

		free(w);
		errno = err;
		return NULL;
	}
	return &w->ws;
}

static void kev_wse_destroy(struct kev_waitset *ws, bool in_child)
{
	(void)in_child;		/* closing our descriptor changes nothing shared */
	close(ws->fd);
	free(ws);
}

static uint32_t kev_wse_events(uint32_t events, enum kev_wmode mode)
{
	return events | (mode == KEV_W_LEVEL ? 0 : EPOLLET);
}

static int kev_wse_add(struct kev_waitset *ws, int fd, uint64_t tok,
		       uint32_t events, enum kev_wmode mode)
{
	struct epoll_event ev = {
		.events = kev_wse_events(events, mode),
		.data.u64 = tok,
	};

	return epoll_ctl(ws->fd, EPOLL_CTL_ADD, fd, &ev) ? errno : 0;
}

static int kev_wse_mod(struct kev_waitset *ws, int fd, uint64_t old_tok,
		       uint64_t tok, uint32_t events, enum kev_wmode mode)
{
	struct epoll_event ev = {
		.events = kev_wse_events(events, mode),
		.data.u64 = tok,
	};

	(void)old_tok;		/* the fd names the item */
	if (epoll_ctl(ws->fd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	return errno == ENOENT ? EBADF : errno;
}

static void kev_wse_del(struct kev_waitset *ws, int fd, uint64_t tok)
{
	(void)tok;
	/* Fails harmlessly if the caller already closed the fd. */
	epoll_ctl(ws->fd, EPOLL_CTL_DEL, fd, NULL);
}

static bool kev_wse_mute(struct kev_waitset *ws, int fd, uint64_t tok,
			 uint32_t events)
{
	return kev_wse_mod(ws, fd, tok, tok, events, KEV_W_EDGE) == 0;
}

static void kev_wse_rearm(struct kev_waitset *ws, int fd, uint64_t tok,
			  uint32_t events)
{
	kev_wse_mod(ws, fd, tok, tok, events, KEV_W_LEVEL);
}

static void kev_wse_flush(struct kev_waitset *ws)
{
	(void)ws;	/* epoll_ctl took effect at once */
}

static unsigned int kev_wse_backlog(struct kev_waitset *ws)
{
	(void)ws;	/* epoll keeps one entry per ready item, in the kernel */
	return 0;
}

/* epoll_pwait2 (Linux 5.11) for ns timeouts; epoll_pwait before that. */
static int kev_wse_wait(struct kev_waitset *ws, struct kev_wevent *out,
			int max, const struct timespec *rel,
			const sigset_t *sigmask)
{
	static int no_pwait2;
	int ms = -1, n;

	/* Straight into the caller's array: kev_wevent is epoll_event. */
	if (!__atomic_load_n(&no_pwait2, __ATOMIC_RELAXED)) {
		n = epoll_pwait2(ws->fd, out, max, rel, sigmask);
		if (n >= 0 || errno != ENOSYS)
			return n;
		__atomic_store_n(&no_pwait2, 1, __ATOMIC_RELAXED);
	}
	if (rel) {
		int64_t t = (int64_t)rel->tv_sec * 1000 +
			    (rel->tv_nsec + 999999) / 1000000;

		ms = t > INT32_MAX ? INT32_MAX : (int)t;
	}
	n = epoll_pwait(ws->fd, out, max, ms, sigmask);
	return n;
}

const struct kev_waitset_ops kev_waitset_epoll = {
	.name = "epoll",
	.probe = kev_wse_probe,
	.create = kev_wse_create,
	.destroy = kev_wse_destroy,
	.add = kev_wse_add,
	.mod = kev_wse_mod,
	.del = kev_wse_del,
	.mute = kev_wse_mute,
	.rearm = kev_wse_rearm,
	.flush = kev_wse_flush,
	.backlog = kev_wse_backlog,
	.wait = kev_wse_wait,
};
