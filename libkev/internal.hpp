// SPDX-License-Identifier: MIT
//
// internal.hpp - what the parts of libkev share: the queue object and the
// backend operations table.  Nothing here is installed.
#ifndef KEV_INTERNAL_HPP
#define KEV_INTERNAL_HPP

#include <pthread.h>
#include <signal.h>

#include <cstddef>
#include <cstdint>
#include <ctime>

#include <kevent.h>

#define KEV_EXPORT __attribute__((visibility("default")))
#define KEV_LIKELY(x)	__builtin_expect(!!(x), 1)
#define KEV_UNLIKELY(x)	__builtin_expect(!!(x), 0)

struct kev_queue;

/*
 * One backend.  The front end (kevent.cpp) has already checked the queue fd,
 * the fork rule, cmd < KEVENT_CTL_MAX, num <= KEVENT_CTL_BATCH_MAX and
 * events != NULL before calling ctl; the backend checks each entry.
 * Every function returns -1 with errno set on failure.
 */
struct kev_backend_ops {
	const char *name;			/* "kmod", "uring", "epoll" */
	/* 0 if the backend can run here, else -1 with errno = ENODEV */
	int (*probe)(void);
	/* create the queue: set q->fd, q->ring, q->ring_bytes, q->priv */
	int (*init)(struct kev_queue *q, unsigned int ring_size);
	/* apply num entries; return how many succeeded */
	int (*ctl)(struct kev_queue *q, unsigned int cmd, unsigned int num,
		   struct ukevent *events);
	/* sleep until min_nr (>= 1) events are in the ring; count, 0, -1 */
	int (*wait)(struct kev_queue *q, unsigned int min_nr,
		    const struct timespec *timeout, const sigset_t *sigmask);
	/*
	 * Queue options: opt < KEVENT_OPT_MAX and value within its range
	 * (checked by the front end).  0, or -1 with errno.
	 */
	int (*setopt)(struct kev_queue *q, unsigned int opt, uint64_t value);
	int (*getopt)(struct kev_queue *q, unsigned int opt, uint64_t *value);
	/* wake every thread sleeping in wait (the queue is being closed) */
	void (*wake)(struct kev_queue *q);
	/*
	 * Release everything.  With in_child set, the caller is a forked
	 * child: close its copies of the fds and free memory, but change no
	 * kernel object that the parent shares (no epoll_ctl, no writes).
	 */
	void (*destroy)(struct kev_queue *q, bool in_child);
};

struct kev_queue {
	int fd;				/* the caller's queue fd */
	struct kevent_ring *ring;	/* mapped ring */
	size_t ring_bytes;
	const struct kev_backend_ops *ops;
	void *priv;			/* backend state */
	int refs;			/* atomic; table + callers in flight */
	int closing;			/* atomic; set by kevent_close */
	unsigned int fork_gen;		/* kev_fork_gen at creation */
	struct kev_queue *next_free;	/* on the free list (kevent.cpp) */
};

extern const struct kev_backend_ops kev_epoll_ops;
extern const struct kev_backend_ops kev_uring_ops;
extern const struct kev_backend_ops kev_kmod_ops;

/* kevent.cpp: is fd a live kevent queue of this process?  (ELOOP checks) */
struct kev_queue *kev_queue_get(int fd);
void kev_queue_put(struct kev_queue *q);
/* Call fn with a reference to every queue of this process, until it says stop. */
void kev_queue_for_each(bool (*fn)(struct kev_queue *q, void *arg), void *arg);

/* Round a requested ring size; -1/EINVAL if too large. */
int kev_ring_size(unsigned int requested, unsigned int *size);

/* Check one ctl entry's fields that every backend checks alike: 0 or errno. */
int kev_check_entry(unsigned int cmd, const struct ukevent *ev);

static inline void kev_entry_result(struct ukevent *ev, int err)
{
	ev->ret_flags = err ? KEVENT_RET_ERROR : 0;
	ev->ret_data = (uint64_t)err;
}

#endif // KEV_INTERNAL_HPP
