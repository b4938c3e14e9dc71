/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * kevent/abi.h - the kevent ABI shared by libkev and the kevent kernel module.
 *
 * This header is included by user space (through <kevent.h>) and by the
 * kernel module (kmod/).  It uses only <linux/types.h> and <linux/ioctl.h>:
 * no libc types, no pointers in shared structures.
 *
 * Everything here is part of the stable ABI.  Numeric values never change;
 * structures only grow into their reserved space.
 */
#ifndef _KEVENT_ABI_H
#define _KEVENT_ABI_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define KEVENT_ABI_VERSION	1

/* Event types: struct ukevent.type. */
#define KEVENT_POLL		0u	/* file descriptor readiness */
#define KEVENT_TIMER		1u	/* relative, periodic or absolute timer */
#define KEVENT_USER		2u	/* user notification (KEVENT_CTL_READY) */
#define KEVENT_SIGNAL		3u	/* signal delivery (signal is consumed) */
#define KEVENT_INODE		4u	/* changes to a file or directory */
#define KEVENT_PROC		5u	/* process exit */
#define KEVENT_TYPE_MAX		6u	/* number of types; not a type */

/* KEVENT_POLL event mask: numerically equal to POLLIN, POLLPRI, ... */
#define KEVENT_POLL_IN		0x0001u
#define KEVENT_POLL_PRI		0x0002u
#define KEVENT_POLL_OUT		0x0004u
#define KEVENT_POLL_ERR		0x0008u
#define KEVENT_POLL_HUP		0x0010u
#define KEVENT_POLL_RDHUP	0x2000u
#define KEVENT_POLL_MASK	(KEVENT_POLL_IN | KEVENT_POLL_PRI | \
				 KEVENT_POLL_OUT | KEVENT_POLL_ERR | \
				 KEVENT_POLL_HUP | KEVENT_POLL_RDHUP)

/* KEVENT_TIMER event word: a clock in the low bits, plus flags. */
#define KEVENT_TIMER_MONOTONIC	0x0000u	/* default */
#define KEVENT_TIMER_REALTIME	0x0001u
#define KEVENT_TIMER_BOOTTIME	0x0002u
#define KEVENT_TIMER_CLOCK_MASK	0x0003u
#define KEVENT_TIMER_ABSTIME	0x0010u	/* data is an absolute deadline (ns) */
#define KEVENT_TIMER_MASK	(KEVENT_TIMER_CLOCK_MASK | KEVENT_TIMER_ABSTIME)

/* KEVENT_INODE event mask. */
#define KEVENT_INODE_CREATE	 0x0001u	/* entry created in a directory */
#define KEVENT_INODE_DELETE	 0x0002u	/* entry deleted from a directory */
#define KEVENT_INODE_MODIFY	 0x0004u	/* file contents written */
#define KEVENT_INODE_ATTRIB	 0x0008u	/* metadata changed */
#define KEVENT_INODE_MOVE	 0x0010u	/* entry moved into or out of a dir */
#define KEVENT_INODE_DELETE_SELF 0x0020u	/* the watched object was deleted */
#define KEVENT_INODE_MOVE_SELF	 0x0040u	/* the watched object was moved */
#define KEVENT_INODE_MASK	 0x007fu

/* KEVENT_PROC event mask. */
#define KEVENT_PROC_EXIT	0x0001u
#define KEVENT_PROC_MASK	0x0001u

/* struct ukevent.req_flags */
#define KEVENT_REQ_ONESHOT	0x0001u	/* removed after one delivery */
#define KEVENT_REQ_ET		0x0002u	/* edge-triggered (KEVENT_POLL) */
#define KEVENT_REQ_DISPATCH	0x0004u	/* disabled after each delivery */
#define KEVENT_REQ_MASK		0x0007u

/* struct ukevent.ret_flags */
#define KEVENT_RET_ERROR	0x0001u	/* ctl: this entry failed, errno in ret_data */
#define KEVENT_RET_REMOVED	0x0002u	/* the registration ended with this delivery */
#define KEVENT_RET_GONE		0x0004u	/* the watched object no longer exists */
#define KEVENT_RET_NOSTATUS	0x0008u	/* KEVENT_PROC: not a child, ret_data undefined */
#define KEVENT_RET_OVERFLOW	0x0010u	/* KEVENT_INODE: the kernel dropped events */

/* kevent_ctl() commands. */
#define KEVENT_CTL_ADD		0u
#define KEVENT_CTL_REMOVE	1u
#define KEVENT_CTL_MODIFY	2u
#define KEVENT_CTL_ENABLE	3u
#define KEVENT_CTL_DISABLE	4u
#define KEVENT_CTL_READY	5u
#define KEVENT_CTL_MAX		6u	/* number of commands; not a command */

/* Largest num accepted by one kevent_ctl() call. */
#define KEVENT_CTL_BATCH_MAX	65536u

/* kevent_init() flags: backend selection (a value, not a bit set). */
#define KEVENT_BACKEND_DEFAULT	0x0u
#define KEVENT_BACKEND_KMOD	0x1u
#define KEVENT_BACKEND_URING	0x2u
#define KEVENT_BACKEND_EPOLL	0x3u
#define KEVENT_BACKEND_MASK	0xfu

/*
 * Queue options: kevent_setopt(2) and kevent_getopt(2), or the
 * KEVENT_IOC_SETOPT and KEVENT_IOC_GETOPT ioctls of kevent(4).
 *
 * KEVENT_OPT_TIMER_SLACK: how late (ns) a timer may fire so that timers
 * due close together share one wake-up, as the kernel's timer_slack_ns
 * does for a thread's sleeps.  A timer never fires before its deadline.
 * 0 fires each timer as close to its deadline as the system allows.
 */
#define KEVENT_OPT_TIMER_SLACK		1u
#define KEVENT_TIMER_SLACK_DEFAULT	50000ull	/* 50 us */
#define KEVENT_TIMER_SLACK_MAX		3600000000000ull	/* 1 hour */
/*
 * KEVENT_OPT_PRIO_BOUND (since libkev 1.2): the starvation bound of
 * priorities.  While a priority level has ready registrations, at most
 * this many entries of higher levels are published before the oldest of
 * them (kevent(7), "Priorities").  1 to KEVENT_PRIO_BOUND_MAX.
 */
#define KEVENT_OPT_PRIO_BOUND		2u
#define KEVENT_PRIO_BOUND_DEFAULT	64ull
#define KEVENT_PRIO_BOUND_MAX		0xffffffffull
/*
 * KEVENT_OPT_STATS (since libkev 1.2): 1 turns the latency statistics on,
 * 0 off (the default).  While on, the ring's flags have KEVENT_RING_STATS,
 * the producer stamps each entry with its publication time and fills
 * kevent_stats.fire_to_publish, and the inline consumption functions of
 * <kevent.h> fill kevent_stats.publish_to_consume (kevent(7), "Statistics").
 */
#define KEVENT_OPT_STATS		3u
#define KEVENT_OPT_MAX			4u	/* not an option */

/* Ring sizes (entries). */
#define KEVENT_RING_DEFAULT	256u
#define KEVENT_RING_MAX		(1u << 20)

/*
 * One event.  64 bytes, 8-byte aligned, no pointers.  See kevent(7) for the
 * meaning of each field per type.
 */
struct ukevent {
	__u64 id;		/* fd, timer id, signal number, pid, user id */
	__u32 type;		/* KEVENT_POLL ... */
	__u32 event;		/* requested mask; on delivery the mask that fired */
	__u32 req_flags;	/* KEVENT_REQ_* */
	__u32 ret_flags;	/* KEVENT_RET_* (output) */
	__u64 data;		/* type parameter (timer ns) */
	__u64 ret_data;		/* type result (counts, status, errno) */
	__u64 user;		/* caller's cookie, copied back verbatim */
	__u32 prio;		/* KEVENT_PRIO_*: 0 (default) to 7, highest first */
	__u32 __reserved0;	/* must be zero */
	__u64 stamp;		/* output: publication time (CLOCK_MONOTONIC ns)
				 * while KEVENT_RING_STATS is set, else 0;
				 * ignored on input */
};

/*
 * struct ukevent.prio (since libkev 1.2): the priority level.  Ready
 * registrations are published highest level first, FIFO within a level,
 * within the starvation bound KEVENT_OPT_PRIO_BOUND.  0 is the default and
 * the lowest.  An older library or module refuses a nonzero prio (EINVAL).
 */
#define KEVENT_PRIO_DEFAULT	0u
#define KEVENT_PRIO_MAX		7u
#define KEVENT_PRIO_LEVELS	8u

#define KEVENT_CACHELINE	64

/*
 * The ring header.  The producer writes only kidx (and its statistics); the
 * consumer writes only uidx.  Each lives on its own cache line.  Indices are
 * free-running; the entry for index i is entries[i & mask], and the ring is
 * full when kidx - uidx == size.  Entries start KEVENT_RING_ENTRIES_OFFSET
 * bytes after the start of the ring.
 */
struct kevent_ring {
	/* cache line 0: written by the producer */
	__u32 kidx;		/* producer index */
	__u32 __pad0;
	__u64 published;	/* entries published since creation */
	__u64 deferred;		/* publications deferred because the ring was full */
	__u64 coalesced;	/* firings merged into a pending delivery (1.2) */
	__u64 waits;		/* kevent_wait() calls (1.2) */
	__u64 sleeps;		/* of which blocked (1.2) */
	__u64 __pad1[2];
	/* cache line 1: written by the consumer */
	__u32 uidx;		/* consumer index */
	__u32 __pad2[15];
	/* cache line 2: read-only after creation */
	__u32 size;		/* number of entries, a power of two */
	__u32 mask;		/* size - 1 */
	__u32 version;		/* KEVENT_ABI_VERSION */
	__u32 entry_size;	/* sizeof(struct ukevent) */
	__u32 entries_offset;	/* KEVENT_RING_ENTRIES_OFFSET */
	__u32 flags;		/* KEVENT_RING_*, written by the producer (1.2) */
	__u32 stats_offset;	/* struct kevent_stats, 0 if none (1.2) */
	__u32 __pad3[9];
	/* cache line 3: reserved for growth */
	__u64 __reserved[8];
};

#define KEVENT_RING_ENTRIES_OFFSET	256u

/* struct kevent_ring.flags */
#define KEVENT_RING_STATS	0x1u	/* statistics on (KEVENT_OPT_STATS) */

/*
 * Latency histograms, at stats_offset bytes from the start of the ring
 * (after the entries, in the same mapping).  Bucket i counts latencies d
 * with 2^i <= d < 2^(i+1) ns; bucket 0 also counts d < 1 ns, and the last
 * bucket every d >= 2^31 ns.  Counted only while KEVENT_RING_STATS is set.
 */
#define KEVENT_STATS_BUCKETS	32u

struct kevent_stats {
	/* written by the producer: from the firing to the publication */
	__u64 fire_to_publish[KEVENT_STATS_BUCKETS];
	/* written by the consumer (<kevent.h>): publication to consumption */
	__u64 publish_to_consume[KEVENT_STATS_BUCKETS];
};
/*
 * Bytes of the header and entries of a ring of n entries.  The statistics
 * follow (struct kevent_ring.stats_offset): map what kevent_init(2) or
 * KEVENT_IOC_SETUP says, not this.
 */
#define KEVENT_RING_BYTES(n) \
	(KEVENT_RING_ENTRIES_OFFSET + (__u64)(n) * sizeof(struct ukevent))

/* /dev/kevent ioctls (see kevent(4)). */
struct kevent_setup {
	__u32 size;		/* in: sizeof(struct kevent_setup) */
	__u32 ring_size;	/* in: entries requested; out: entries granted */
	__u32 flags;		/* in: 0 */
	__u32 abi_version;	/* out: KEVENT_ABI_VERSION */
	__u64 ring_bytes;	/* out: length to mmap() at offset 0 */
	__u64 __reserved[4];
};

struct kevent_ctl_args {
	__u32 size;		/* sizeof(struct kevent_ctl_args) */
	__u32 cmd;		/* KEVENT_CTL_* */
	__u32 num;		/* entries in the array */
	__u32 __pad;
	__u64 events;		/* user pointer to struct ukevent[num] */
	__u64 __reserved[2];
};

struct kevent_wait_args {
	__u32 size;		/* sizeof(struct kevent_wait_args) */
	__u32 min_nr;		/* events wanted in the ring (0 counts as 1) */
	__s64 timeout_ns;	/* relative timeout, -1 = forever */
	__u64 sigmask;		/* user pointer to a sigset, or 0 */
	__u64 sigsetsize;	/* size of *sigmask */
	__u64 __reserved[2];
};

#define KEVENT_IOC_MAGIC	'k'
#define KEVENT_IOC_SETUP	_IOWR(KEVENT_IOC_MAGIC, 0x01, struct kevent_setup)
#define KEVENT_IOC_CTL		_IOW(KEVENT_IOC_MAGIC, 0x02, struct kevent_ctl_args)
#define KEVENT_IOC_WAIT		_IOW(KEVENT_IOC_MAGIC, 0x03, struct kevent_wait_args)
/* Wake every KEVENT_IOC_WAIT sleeper, which returns EBADF (queue closing). */
#define KEVENT_IOC_WAKE		_IO(KEVENT_IOC_MAGIC, 0x04)

struct kevent_opt_args {
	__u32 size;		/* sizeof(struct kevent_opt_args) */
	__u32 opt;		/* KEVENT_OPT_* */
	__u64 value;		/* SETOPT: in; GETOPT: out */
	__u64 __reserved[2];	/* must be zero */
};

#define KEVENT_IOC_SETOPT	_IOW(KEVENT_IOC_MAGIC, 0x05, struct kevent_opt_args)
#define KEVENT_IOC_GETOPT	_IOWR(KEVENT_IOC_MAGIC, 0x06, struct kevent_opt_args)

#endif /* _KEVENT_ABI_H */
