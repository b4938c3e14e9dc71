// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/kevent: event queues delivering into a ring shared with user
 * space.  See kevent(4) and include/kevent/abi.h.
 *
 * Each open() of /dev/kevent is one queue.  KEVENT_IOC_SETUP allocates the
 * ring (mapped by mmap() at offset 0), KEVENT_IOC_CTL applies a batch of
 * registrations and KEVENT_IOC_WAIT sleeps until the ring holds events.
 * The device is mode 0666: every byte and every call order from user space
 * is hostile, and everything a queue pins is charged to the user who
 * opened it (per-user limits below).
 *
 * A registration is keyed by (type, id) and is in one state:
 *   IDLE    nothing to deliver (or disabled);
 *   CHECK   on q->check: to be evaluated in process context (POLL: the file
 *           is polled; PROC: exit status; INODE: the changes collected);
 *   READY   on q->ready[prio]: to be published when the ring has room;
 *   QUEUED  its entry is in the ring, not yet passed by the consumer;
 *   DEAD    removed (ONESHOT delivered: on q->zombies until freed).
 * Firings while READY, QUEUED or disabled are coalesced.  The consumer's
 * index is read, validated against the kernel copies and only then used to
 * move QUEUED registrations back to IDLE.
 *
 * Locking:
 *   kevent_nest_mutex  the graph of queues watching queues (children and
 *                      parents lists, depth memos);
 *   q->mtx             the registration tree, ctl, setup, polling of
 *                      watched files; taken killable by system calls, and
 *                      never held across a copy from or to user memory;
 *   m->lock            an inode mark's link to its registration;
 *   q->lock            (irq-safe spinlock) states, lists, priorities and
 *                      their counts, the ring and its indices, the wake
 *                      flag.
 * Order: q->mtx -> kevent_nest_mutex; q->mtx -> target wait queue lock (or
 * m->lock) -> q->lock.  q->wq and q->poll_wait are woken without q->lock held.
 * hrtimer_cancel() is never called with q->lock held: the timer callback
 * takes it.
 *
 * Wake-ups: a change that can make the queue readable (an entry published,
 * a registration made READY or CHECK, a signal) sets q->wake under q->lock;
 * whoever drops the lock then wakes.  Nothing else wakes (a ctl that
 * publishes nothing leaves watchers alone).  In process context the wake
 * is synchronous.  In atomic context, from the wake-up callback of another
 * file, an hrtimer, a signal or an inode event (the "callbacks" below),
 * only q->wq (the queue's own KEVENT_IOC_WAIT sleepers, whose entries run
 * no callback) is woken at once; q->poll_wait, where other queues and
 * epoll instances hook their callbacks, is woken from an irq_work.  So a
 * callback never runs another queue's callbacks on its stack: no recursion
 * through chains of nested queues, no lock recursion through an epoll
 * instance that watches the queue it is watched by, and no two poll_wait
 * locks held at once.
 *
 * Priorities: q->ready is one FIFO per level of struct ukevent.prio, and
 * bit p of q->ready_bits says level p is not empty.  kevent_publish()
 * takes the head of the highest non-empty level, unless a lower one has
 * seen q->prio_bound publications of higher levels since it was last
 * published from or became non-empty (q->waited[]): then the head of the
 * lowest such level.  The user-space backends follow the same rule
 * (kevent(7), "Priorities").  An entry already in the ring is never
 * overtaken.
 *
 * Statistics: the producer's counters of the ring (published, deferred,
 * coalesced, waits, sleeps) are always kept.  While KEVENT_OPT_STATS is on
 * (q->stats, mirrored in ring->flags) a registration notes when it became
 * READY, and its publication stamps the entry and counts the delay in the
 * fire_to_publish histogram, after the entries.  User space can write all
 * of the mapping: the module only adds to the counters it finds there (a
 * scribbled one spoils only the scribbler's numbers), never reads flags,
 * stats_offset or publish_to_consume, and reaches the histograms through
 * q->stats_area, set when the ring was made.
 *
 * Bounded atomic work: a callback reaps and publishes at most
 * KEVENT_ATOMIC_BUDGET entries each; what is left goes to q->publish_work,
 * which works in batches in process context.  System calls publish in
 * batches too, rescheduling between them.
 *
 * Who publishes: TIMER and USER firings go into the ring at once (from the
 * hrtimer and from KEVENT_CTL_READY), and so does a POLL wake-up whose key
 * names what became ready (kevent_poll_wake(), under the target's wait
 * queue lock).  A wake-up without a key, and PROC and INODE activity, only
 * queue the registration on q->check; the file is then polled (as epoll's
 * ep_send_events() does) and the entry published by the next
 * KEVENT_IOC_WAIT or KEVENT_IOC_CTL; poll() reports the queue readable
 * meanwhile.  Level-triggered fds are always polled again, in process
 * context, once the consumer passes their entry.  Signals are dequeued by
 * a thread of the process that registered them making one of those calls,
 * as a signalfd read.
 *
 * File references: a POLL registration holds a reference to the watched
 * file, except for an AF_UNIX socket, which could carry the queue's own
 * file (SCM_RIGHTS) and make a cycle nothing would free: for those it
 * holds the socket's inode (so its wait queue stays valid) and takes a
 * file reference only while polling, if the file still exists.  io_uring
 * files, which hold file references too, are refused.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fsnotify_backend.h>
#include <linux/hashtable.h>
#include <linux/hrtimer.h>
#include <linux/irq_work.h>
#include <linux/log2.h>
#include <linux/magic.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/rbtree.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/sock.h>

#include <kevent/abi.h>

/* ---- limits (kevent(4) documents each one) */

static unsigned int max_registrations = 1 << 20;
module_param(max_registrations, uint, 0644);
MODULE_PARM_DESC(max_registrations,
		 "Registrations allowed per queue (ENOSPC past it)");

/* Per user (the real uid that opened the queue); 0 at load: the default. */
static unsigned long max_user_queues;
module_param(max_user_queues, ulong, 0644);
MODULE_PARM_DESC(max_user_queues,
		 "Queues a user may have open (EMFILE past it; default 1024)");
static unsigned long max_user_registrations;
module_param(max_user_registrations, ulong, 0644);
MODULE_PARM_DESC(max_user_registrations,
		 "Registrations of a user over all queues (ENOSPC past it; default: 4% of RAM)");
static unsigned long max_user_ring_bytes;
module_param(max_user_ring_bytes, ulong, 0644);
MODULE_PARM_DESC(max_user_ring_bytes,
		 "Ring memory a user may pin (ENOMEM past it; default: 1/16 of RAM, at least 16 MiB)");
static unsigned long max_user_inode_watches;
module_param(max_user_inode_watches, ulong, 0644);
MODULE_PARM_DESC(max_user_inode_watches,
		 "KEVENT_INODE watches of a user (ENOSPC past it; default: 1% of RAM, 8192 to 1048576)");

/* Depth of kevent queues nested in each other, as epoll's EP_MAX_NESTS. */
#define KEVENT_MAX_NESTS	4

/* Ring entries a callback may reap, and publish, before deferring. */
#define KEVENT_ATOMIC_BUDGET	64
/* Ring entries published (or reaped) in process context between yields. */
#define KEVENT_BATCH		1024
/* Entries of a KEVENT_IOC_CTL copied in, applied and answered at a time. */
#define KEVENT_CTL_CHUNK	64
/* Processes whose KEVENT_IOC_WAKE is remembered by a queue. */
#define KEVENT_WAKERS		4

/* Live registrations and queues of all queues, for leak checks. */
static atomic_long_t kevent_nr_regs = ATOMIC_LONG_INIT(0);
static atomic_long_t kevent_nr_queues = ATOMIC_LONG_INIT(0);

static int kevent_get_count(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(kp->arg));
}

static const struct kernel_param_ops kevent_count_ops = {
	.get = kevent_get_count,
};

module_param_cb(registrations, &kevent_count_ops, &kevent_nr_regs, 0444);
MODULE_PARM_DESC(registrations, "Registrations in all queues (read-only)");
module_param_cb(queues, &kevent_count_ops, &kevent_nr_queues, 0444);
MODULE_PARM_DESC(queues, "Open queues (read-only)");

enum kevent_test_site {
	KEVENT_SITE_NONE,
	KEVENT_SITE_INODE_EVENT,	/* file change: fired, not yet woken */
	KEVENT_SITE_INODE_FREEING,	/* mark freed: fired, not yet woken */
	KEVENT_SITE_WAIT_KIDX,		/* WAIT: kidx read, not yet stored */
	KEVENT_SITE_WAIT_CHECKS,	/* WAIT: pending work just evaluated */
};

#ifdef KEVENT_TESTING
/*
 * Test builds only (make KEVENT_TESTING=y): widen race windows and count
 * what the tests in tests/vm cannot observe from user space.
 *   test_window      the site to delay at (enum kevent_test_site), 0 none
 *   test_window_ms   how long (a busy wait: some sites are atomic)
 *   test_window_hits times a thread entered the window; test_window_done
 *                    times one left it (a test waits for these)
 *   test_max_atomic  the most ring entries published and reaped by one
 *                    call from a wake-up callback or timer (writable: 0)
 *   test_max_nests   a larger nesting limit (at most 128), so that a test
 *                    can show a deep chain does not recurse
 */
static unsigned int test_window;
module_param(test_window, uint, 0644);
static unsigned int test_window_ms = 100;
module_param(test_window_ms, uint, 0644);
static atomic_t test_window_hits = ATOMIC_INIT(0);
module_param_named(test_window_hits, test_window_hits.counter, int, 0444);
static atomic_t test_window_done = ATOMIC_INIT(0);
module_param_named(test_window_done, test_window_done.counter, int, 0444);
static unsigned long test_max_atomic;
module_param(test_max_atomic, ulong, 0644);
static unsigned int test_max_nests;
module_param(test_max_nests, uint, 0644);

static void kevent_test_window(enum kevent_test_site site)
{
	if (READ_ONCE(test_window) != site)
		return;
	atomic_inc(&test_window_hits);
	mdelay(min(READ_ONCE(test_window_ms), 2000U));
	atomic_inc(&test_window_done);
}

static void kevent_test_atomic(unsigned long n)
{
	if (n > READ_ONCE(test_max_atomic))
		WRITE_ONCE(test_max_atomic, n);
}

static int kevent_max_nests(void)
{
	unsigned int n = READ_ONCE(test_max_nests);

	return n ? min(n, 128U) : KEVENT_MAX_NESTS;
}
#else
static inline void kevent_test_window(enum kevent_test_site site) { }
static inline void kevent_test_atomic(unsigned long n) { }
static inline int kevent_max_nests(void) { return KEVENT_MAX_NESTS; }
#endif

/* ---- what a user has pinned */

struct kevent_user {
	struct hlist_node node;		/* kevent_users; kevent_users_lock */
	kuid_t uid;
	refcount_t ref;			/* queues of this user */
	atomic_long_t queues;
	atomic_long_t regs;
	atomic_long_t ring_bytes;
	atomic_long_t watches;
};

static DEFINE_HASHTABLE(kevent_users, 7);
static DEFINE_SPINLOCK(kevent_users_lock);

static struct kevent_user *kevent_user_find(kuid_t uid)
{
	struct kevent_user *u;

	hash_for_each_possible(kevent_users, u, node, __kuid_val(uid))
		if (uid_eq(u->uid, uid) && refcount_inc_not_zero(&u->ref))
			return u;
	return NULL;
}

static struct kevent_user *kevent_user_get(kuid_t uid)
{
	struct kevent_user *u, *new;

	spin_lock(&kevent_users_lock);
	u = kevent_user_find(uid);
	spin_unlock(&kevent_users_lock);
	if (u)
		return u;
	new = kzalloc(sizeof(*new), GFP_KERNEL);
	if (!new)
		return NULL;
	new->uid = uid;
	refcount_set(&new->ref, 1);
	spin_lock(&kevent_users_lock);
	u = kevent_user_find(uid);
	if (!u) {
		hash_add(kevent_users, &new->node, __kuid_val(uid));
		u = new;
		new = NULL;
	}
	spin_unlock(&kevent_users_lock);
	kfree(new);
	return u;
}

static void kevent_user_put(struct kevent_user *u)
{
	if (!refcount_dec_and_lock(&u->ref, &kevent_users_lock))
		return;
	hash_del(&u->node);
	spin_unlock(&kevent_users_lock);
	kfree(u);
}

/* Add n to a user's count unless that passes max; true if charged. */
static bool kevent_charge(atomic_long_t *count, long n, unsigned long max)
{
	if (atomic_long_add_return(n, count) >
	    (long)min_t(unsigned long, max, LONG_MAX)) {
		atomic_long_sub(n, count);
		return false;
	}
	return true;
}

static void kevent_uncharge(atomic_long_t *count, long n)
{
	atomic_long_sub(n, count);
}

/* ---- objects */

enum kevent_state {
	KREG_IDLE,
	KREG_CHECK,
	KREG_READY,
	KREG_QUEUED,
	KREG_DEAD,
};

struct kevent_reg;

/* One wait queue a watched file put us on (as epoll's eppoll_entry). */
struct kevent_pwq {
	wait_queue_entry_t wait;
	wait_queue_head_t *whead;	/* NULL once POLLFREE was seen */
	struct kevent_reg *reg;		/* POLL, PROC */
	struct kevent_queue *q;		/* SIGNAL: the queue's sighand entry */
	struct kevent_pwq *next;
};

struct kevent_queue;

struct kevent_reg {
	struct rb_node node;		/* q->regs; q->mtx */
	struct list_head link;		/* q->ready[], q->check, q->zombies */
	struct list_head nest_link;	/* q->children; kevent_nest_mutex */
	struct list_head parent_link;	/* watched queue's parents; ditto */
	struct kevent_queue *q;
	u64 id;
	u32 type;
	u32 event;
	u32 req_flags;
	u64 data;
	u64 user;

	/* q->lock */
	enum kevent_state state;
	bool disabled;
	bool pending;			/* POLL: activity not yet checked */
	bool nested;			/* watches a kevent queue */
	bool timer_stopped;		/* periodic timer paused while busy */
	bool timer_off;			/* being re-armed or removed */
	bool final;			/* PROC: exited; removed on delivery */
	u8 prio;			/* KEVENT_PRIO_*: its q->ready[] level */
	u32 fired;			/* POLL: mask to deliver; USER: bits */
	u32 extra_flags;		/* PROC: KEVENT_RET_NOSTATUS */
	u64 count;			/* coalesced firings; PROC: status */
	u32 slot;			/* ring index while QUEUED */
	u64 ready_ns;			/* READY since (statistics on) */

	/* KEVENT_POLL: file, or for an AF_UNIX socket sock (inode held) */
	struct file *file;
	struct socket *sock;
	struct kevent_pwq *pwqlist;
	bool pwq_failed;

	/* KEVENT_PROC */
	struct pid *pid;

	/* KEVENT_INODE */
	struct kevent_mark *mark;

	/* KEVENT_TIMER */
	struct hrtimer timer;
	ktime_t interval;		/* 0 unless periodic */
};

struct kevent_queue {
	struct mutex mtx;		/* registrations, ctl, setup, checks */
	spinlock_t lock;		/* states, lists, ring (irq-safe) */
	wait_queue_head_t wq;		/* KEVENT_IOC_WAIT sleepers */
	wait_queue_head_t poll_wait;	/* poll()/epoll/queues on the fd */
	struct irq_work wake_work;	/* wakes poll_wait for callbacks */
	struct work_struct publish_work; /* what callbacks left to publish */
	struct kevent_user *user;	/* charged for all of it */
	struct rb_root regs;
	unsigned int nregs;
	u64 timer_slack;		/* KEVENT_OPT_TIMER_SLACK; q->mtx */
	/* q->lock: the ready registrations, one FIFO per priority level */
	struct list_head ready[KEVENT_PRIO_LEVELS];
	u32 waited[KEVENT_PRIO_LEVELS];	/* higher publications since */
	u32 prio_bound;			/* KEVENT_OPT_PRIO_BOUND */
	u8 ready_bits;			/* bit p: ready[p] is not empty */
	/* q->lock: KEVENT_OPT_STATS, on since stats_since (ktime_get_ns()) */
	bool stats;
	u64 stats_since;
	struct list_head check;
	struct list_head zombies;
	struct list_head children;	/* regs watching a kevent queue */
	struct list_head parents;	/* regs of other queues watching us */
	u64 down_gen, up_gen;		/* depth memos; kevent_nest_mutex */
	int down_depth, up_depth;
	u64 sigbits;			/* registered signals, bit signo - 1 */
	struct kevent_pwq *sigpwq;	/* on the owner's signalfd_wqh */
	struct pid *sig_owner;		/* the process the signals are of */
	bool sig_check;			/* a signal may be pending */
	bool wake;			/* q->lock: something to wake for */
	struct pid *wakers[KEVENT_WAKERS]; /* q->lock: KEVENT_IOC_WAKE users */
	struct kevent_ring *ring;
	struct kevent_reg **owner;	/* registration behind each slot */
	struct kevent_stats *stats_area; /* in the ring, after the entries */
	struct page **pages;		/* the ring's pages, charged to memcg */
	unsigned int npages;
	u32 size;
	u32 mask;
	u32 kidx;			/* kernel copy of ring->kidx */
	u32 uidx;			/* last validated ring->uidx */
	u64 ring_bytes;
	long ring_charge;		/* charged to user->ring_bytes */
};

/* A KEVENT_INODE watch: an fsnotify mark of kevent_group. */
struct kevent_mark {
	struct fsnotify_mark fsn;
	spinlock_t lock;		/* protects reg against its freeing */
	struct kevent_reg *reg;		/* NULL once detached */
	struct kevent_user *user;	/* charged one watch */
	bool isdir;
};

static DEFINE_MUTEX(kevent_nest_mutex);
static u64 kevent_nest_gen;		/* kevent_nest_mutex */
static struct fsnotify_group *kevent_group;
static const struct file_operations kevent_fops;

/* The ring once KEVENT_IOC_SETUP has completed, else NULL. */
static struct kevent_ring *kevent_ring_of(struct kevent_queue *q)
{
	/* paired with smp_store_release() in kevent_ioc_setup() */
	return smp_load_acquire(&q->ring);
}

static struct ukevent *kevent_entries(struct kevent_queue *q)
{
	return (struct ukevent *)((char *)q->ring + KEVENT_RING_ENTRIES_OFFSET);
}

/* ---- wake-ups */

/*
 * Process context, no lock held, not inside a callback: wake the queue's
 * sleepers and its pollers.
 */
static void kevent_wake(struct kevent_queue *q)
{
	/*
	 * Sleepers add themselves to the wait queue before taking q->lock to
	 * test their condition, and the state changed under q->lock, so the
	 * lock orders this lockless waitqueue_active().
	 */
	if (waitqueue_active(&q->wq))
		wake_up(&q->wq);
	/* as above: poll_wait() precedes the test under q->lock */
	if (waitqueue_active(&q->poll_wait))
		wake_up_poll(&q->poll_wait, EPOLLIN | EPOLLRDNORM);
}

/*
 * Any context, including another file's wake-up callback and hard irq:
 * the pollers are woken from q->wake_work, never on this stack.
 */
static void kevent_wake_deferred(struct kevent_queue *q)
{
	/*
	 * The entries of q->wq run no callback (see the top of the file).
	 * Ordered by q->lock as in kevent_wake().
	 */
	if (waitqueue_active(&q->wq))
		wake_up(&q->wq);
	/* as above */
	if (waitqueue_active(&q->poll_wait))
		irq_work_queue(&q->wake_work);
}

/* Hard irq, from irq_work: no lock of ours is held. */
static void kevent_wake_workfn(struct irq_work *work)
{
	struct kevent_queue *q = container_of(work, struct kevent_queue,
					      wake_work);

	wake_up_poll(&q->poll_wait, EPOLLIN | EPOLLRDNORM);
}

/* q->lock held: take the wake flag, to act on once the lock is dropped. */
static bool kevent_take_wake(struct kevent_queue *q)
{
	bool wake = q->wake;

	q->wake = false;
	return wake;
}

static struct kevent_reg *kevent_find(struct kevent_queue *q, u32 type,
				      u64 id);

/* ---- statistics (q->lock held) */

/* One more in a producer counter of the ring, whatever user space put there. */
static void kevent_count(__u64 *c)
{
	WRITE_ONCE(*c, READ_ONCE(*c) + 1);
}

/*
 * A firing found the registration with a delivery pending (CHECK, READY or
 * QUEUED) or disabled: it is merged into that delivery.
 */
static void kevent_count_coalesced(struct kevent_queue *q,
				   struct kevent_reg *reg)
{
	if (reg->state == KREG_DEAD ||
	    (reg->state == KREG_IDLE && !reg->disabled))
		return;
	/*
	 * QUEUED, but the consumer has passed the entry and only the reap
	 * is to come: the firing will have a delivery of its own.  (uidx is
	 * the consumer's word: read for this count only.)
	 */
	if (reg->state == KREG_QUEUED && !reg->disabled &&
	    (s32)(READ_ONCE(q->ring->uidx) - reg->slot) > 0 &&
	    (s32)(q->kidx - READ_ONCE(q->ring->uidx)) >= 0)
		return;
	kevent_count(&q->ring->coalesced);
}

/*
 * The histogram bucket of d ns, as kevent__stats_bucket() of <kevent.h>:
 * floor(log2(d)), 0 for d < 2, at most KEVENT_STATS_BUCKETS - 1.
 */
static unsigned int kevent_stats_bucket(u64 d)
{
	return d < 2 ? 0 : min_t(unsigned int, ilog2(d),
				 KEVENT_STATS_BUCKETS - 1);
}

/*
 * Statistics are on: reg, READY since reg->ready_ns, is published at now.
 * A registration that was READY when they went on counts from then
 * (its ready_ns, of an earlier period or none, is older).
 */
static void kevent_stats_publish(struct kevent_queue *q,
				 struct kevent_reg *reg, u64 now)
{
	u64 since = max(reg->ready_ns, q->stats_since);
	unsigned int b = kevent_stats_bucket(now > since ? now - since : 0);

	kevent_count(&q->stats_area->fire_to_publish[b]);
}

/* KEVENT_OPT_STATS: on or off; written to the ring's flags (if it exists). */
static void kevent_stats_set(struct kevent_queue *q, bool on)
{
	if (on && !q->stats)
		q->stats_since = ktime_get_ns();
	q->stats = on;
	if (q->ring)
		WRITE_ONCE(q->ring->flags, on ? KEVENT_RING_STATS : 0);
}

/* ---- state machine (q->lock held) */

/* To the tail of its level; a level that was empty starts uncounted. */
static void kevent_ready_add(struct kevent_queue *q, struct kevent_reg *reg)
{
	unsigned int p = reg->prio;

	if (!(q->ready_bits & BIT(p))) {
		q->ready_bits |= BIT(p);
		q->waited[p] = 0;
	}
	list_add_tail(&reg->link, &q->ready[p]);
}

/* Off its level (the caller sets the state); waited[] is left as it is. */
static void kevent_ready_del(struct kevent_queue *q, struct kevent_reg *reg)
{
	list_del_init(&reg->link);
	if (list_empty(&q->ready[reg->prio]))
		q->ready_bits &= ~BIT(reg->prio);
}

/* Off q->ready[], q->check or q->zombies, whichever its state says. */
static void kevent_unlink(struct kevent_queue *q, struct kevent_reg *reg)
{
	if (reg->state == KREG_READY)
		kevent_ready_del(q, reg);
	else
		list_del_init(&reg->link);
}

static void kevent_make_ready(struct kevent_queue *q, struct kevent_reg *reg)
{
	reg->state = KREG_READY;
	if (q->stats)
		reg->ready_ns = ktime_get_ns();
	kevent_ready_add(q, reg);
	q->wake = true;
}

/*
 * To be evaluated in process context.  notify: the queue becomes readable
 * for it (from a callback); a system call that runs the checks itself
 * before returning passes false, and wakes only if they find something.
 */
static void kevent_make_check(struct kevent_queue *q, struct kevent_reg *reg,
			      bool notify)
{
	reg->pending = false;
	reg->state = KREG_CHECK;
	list_add_tail(&reg->link, &q->check);
	if (notify)
		q->wake = true;
}

/*
 * Move a periodic timer past now and return the number of periods that
 * expired.  A timer with a slack (hrtimer_start_range_ns()) is due from its
 * soft expiry and may run before its hard one, where hrtimer_forward_now()
 * would count nothing and leave it due: count against the soft expiry
 * instead, by forwarding from now plus the range.
 */
static u64 kevent_timer_forward(struct hrtimer *timer, ktime_t interval)
{
	ktime_t range = ktime_sub(hrtimer_get_expires(timer),
				  hrtimer_get_softexpires(timer));

	return hrtimer_forward(timer,
			       ktime_add(hrtimer_cb_get_time(timer), range),
			       interval);
}

/*
 * A periodic timer that expired while its registration could not take a
 * delivery was left stopped; count what it missed and run it again.
 */
static void kevent_timer_resume(struct kevent_reg *reg)
{
	if (!reg->timer_stopped || reg->timer_off)
		return;
	reg->timer_stopped = false;
	reg->count += kevent_timer_forward(&reg->timer, reg->interval);
	hrtimer_start_expires(&reg->timer, HRTIMER_MODE_ABS);
}

/* The registration may take a delivery again: IDLE and enabled. */
static void kevent_rearm(struct kevent_queue *q, struct kevent_reg *reg,
			 bool notify)
{
	if (reg->disabled || reg->state != KREG_IDLE)
		return;
	if (reg->type == KEVENT_POLL) {
		if (reg->pending || !(reg->req_flags & KEVENT_REQ_ET))
			kevent_make_check(q, reg, notify);
		return;
	}
	if (reg->type == KEVENT_PROC) {
		if (reg->final)
			kevent_make_ready(q, reg);
		else if (reg->pending)
			kevent_make_check(q, reg, notify);
		return;
	}
	if (reg->type == KEVENT_INODE) {
		/* published by the next wait, so that changes coalesce */
		if (reg->fired || reg->final)
			kevent_make_check(q, reg, notify);
		return;
	}
	if (reg->type == KEVENT_TIMER)
		kevent_timer_resume(reg);
	if (reg->count || reg->final)
		kevent_make_ready(q, reg);
}

/*
 * Read the consumer's index, validate it against the kernel copies and
 * release the registrations of at most *budget entries it passed.  A value
 * outside [q->uidx, q->kidx] is ignored.  Returns true if passed entries
 * remain to be released.
 */
static bool kevent_reap(struct kevent_queue *q, u32 *budget)
{
	/* the consumer has finished reading the entries before uidx */
	u32 u = smp_load_acquire(&q->ring->uidx);

	if (u - q->uidx > q->kidx - q->uidx)
		return false;
	while (q->uidx != u) {
		u32 slot = q->uidx & q->mask;
		struct kevent_reg *reg = q->owner[slot];

		if (!*budget)
			return true;
		(*budget)--;
		q->owner[slot] = NULL;
		q->uidx++;
		if (reg && reg->state == KREG_QUEUED) {
			reg->state = KREG_IDLE;
			kevent_rearm(q, reg, true);
		}
	}
	return false;
}

/*
 * The level to publish from next (q->ready_bits is not 0): the lowest one
 * whose wait reached the bound, else the highest.  Taking the lowest first
 * keeps every count at or below the largest bound ever set, as publishing
 * adds only to the levels below the one published from, and those were
 * below the bound: no count overflows.
 */
static unsigned int kevent_ready_level(struct kevent_queue *q)
{
	unsigned long bits = q->ready_bits;
	unsigned int p;

	for_each_set_bit(p, &bits, KEVENT_PRIO_LEVELS)
		if (q->waited[p] >= q->prio_bound)
			return p;
	return __fls(bits);
}

/* Level p was published from: every level below it waited once more. */
static void kevent_ready_count(struct kevent_queue *q, unsigned int p)
{
	unsigned long below = q->ready_bits & (BIT(p) - 1);
	unsigned int i;

	q->waited[p] = 0;
	for_each_set_bit(i, &below, KEVENT_PRIO_LEVELS)
		q->waited[i]++;
}

/*
 * Release what the consumer passed, then move ready registrations into the
 * ring while it has room, in the order of their priorities: at most
 * @budget entries of each.  Returns true if work is left that could be
 * done now (call again).
 */
static bool kevent_publish(struct kevent_queue *q, u32 budget)
{
	u32 start = q->kidx, reap = budget, room;
	struct ukevent *entries;
	u64 now = 0;
	bool more;

	if (!q->ring)
		return false;
	entries = kevent_entries(q);
	more = kevent_reap(q, &reap);
	room = q->size - (q->kidx - q->uidx);
	while (q->ready_bits) {
		struct kevent_reg *reg;
		struct ukevent ev = {};
		unsigned int p;

		if (!room) {
			if (!more)
				kevent_count(&q->ring->deferred);
			break;
		}
		if (!budget) {
			more = true;
			break;
		}
		budget--;
		room--;
		p = kevent_ready_level(q);
		reg = list_first_entry(&q->ready[p], struct kevent_reg, link);
		kevent_ready_del(q, reg);
		kevent_ready_count(q, p);

		ev.id = reg->id;
		ev.type = reg->type;
		ev.event = reg->event;
		ev.ret_data = reg->count;
		if (reg->type == KEVENT_POLL) {
			ev.event = reg->fired;
			ev.ret_data = 0;
		} else if (reg->type == KEVENT_USER) {
			ev.event |= reg->fired;
		} else if (reg->type == KEVENT_PROC) {
			ev.event = KEVENT_PROC_EXIT;
			ev.ret_flags = reg->extra_flags;
		} else if (reg->type == KEVENT_INODE) {
			ev.event = reg->fired;
			ev.ret_data = 0;
			ev.ret_flags = reg->extra_flags;
		}
		ev.req_flags = reg->req_flags;
		ev.data = reg->data;
		ev.user = reg->user;
		ev.prio = reg->prio;
		if (q->stats) {
			/* one reading for the batch */
			if (!now)
				now = ktime_get_ns();
			ev.stamp = now;
			kevent_stats_publish(q, reg, now);
		}
		reg->fired = 0;
		reg->count = 0;
		if ((reg->req_flags & KEVENT_REQ_ONESHOT) || reg->final) {
			ev.ret_flags |= KEVENT_RET_REMOVED;
			reg->state = KREG_DEAD;
			list_add_tail(&reg->link, &q->zombies);
			q->owner[q->kidx & q->mask] = NULL;
		} else {
			reg->state = KREG_QUEUED;
			reg->slot = q->kidx;
			q->owner[q->kidx & q->mask] = reg;
			if (reg->req_flags & KEVENT_REQ_DISPATCH)
				reg->disabled = true;
		}
		memcpy(&entries[q->kidx & q->mask], &ev, sizeof(ev));
		q->kidx++;
	}
	if (q->kidx != start) {
		WRITE_ONCE(q->ring->published, READ_ONCE(q->ring->published) +
			   (u32)(q->kidx - start));
		/* entries before kidx are written: the consumer acquires kidx */
		smp_store_release(&q->ring->kidx, q->kidx);
		q->wake = true;
	}
	return more;
}

/*
 * Atomic context (a callback; or any caller holding q->lock that must not
 * do unbounded work): publish a bounded part, defer the rest.
 */
static void kevent_publish_atomic(struct kevent_queue *q)
{
	u32 k0 = q->kidx, u0 = q->uidx;

	if (kevent_publish(q, KEVENT_ATOMIC_BUDGET))
		queue_work(system_wq, &q->publish_work);
	kevent_test_atomic((q->kidx - k0) + (q->uidx - u0));
}

/* Process context, no lock held: publish everything that fits, in batches. */
static void kevent_publish_all(struct kevent_queue *q)
{
	bool more, wake;

	do {
		spin_lock_irq(&q->lock);
		more = kevent_publish(q, KEVENT_BATCH);
		wake = kevent_take_wake(q);
		spin_unlock_irq(&q->lock);
		if (wake)
			kevent_wake(q);
		if (more)
			cond_resched();
	} while (more);
}

static void kevent_publish_workfn(struct work_struct *work)
{
	kevent_publish_all(container_of(work, struct kevent_queue,
					publish_work));
}

/* n more firings of a non-POLL registration; q->lock held, any context. */
static void kevent_fire(struct kevent_queue *q, struct kevent_reg *reg, u64 n)
{
	reg->count += n;
	if (reg->disabled || reg->state != KREG_IDLE) {
		kevent_count_coalesced(q, reg);
		return;
	}
	kevent_make_ready(q, reg);
	kevent_publish_atomic(q);
}

/* ---- KEVENT_POLL */

/* As ep_poll_callback(): hard/soft irq, target's wait queue lock held. */
static int kevent_poll_wake(wait_queue_entry_t *wait, unsigned int mode,
			    int sync, void *key)
{
	struct kevent_pwq *pwq = container_of(wait, struct kevent_pwq, wait);
	struct kevent_reg *reg = pwq->reg;
	struct kevent_queue *q = reg->q;
	__poll_t pollflags = key_to_poll(key);
	unsigned long flags;
	bool wake;

	spin_lock_irqsave(&q->lock, flags);
	if (pollflags &&
	    !(pollflags & (reg->event | EPOLLERR | EPOLLHUP)))
		goto out_unlock;
	kevent_count_coalesced(q, reg);
	switch (reg->state) {
	case KREG_IDLE:
		if (reg->disabled) {
			reg->pending = true;
		} else if (pollflags && reg->type == KEVENT_POLL &&
			   !(pollflags & reg->event & EPOLLPRI)) {
			/*
			 * The key says what became ready: publish it now, from
			 * the wake-up, so that the consumer finds it in the
			 * ring without a system call.  Level-triggered ones are
			 * polled again when the consumer passes the entry.
			 * Not PRI: a socket's wake-up names it with any data
			 * (sock_def_readable), so only the file can tell.
			 */
			reg->pending = false;
			reg->fired = pollflags & (reg->event | EPOLLERR |
						  EPOLLHUP);
			kevent_make_ready(q, reg);
			kevent_publish_atomic(q);
		} else {
			/* no key, or PRI: poll the file in process context */
			kevent_make_check(q, reg, true);
		}
		break;
	case KREG_READY:
		reg->fired |= pollflags & (reg->event | EPOLLERR | EPOLLHUP) &
			      ~EPOLLPRI;
		/* PRI perhaps: the file is polled once this is delivered */
		if (pollflags & reg->event & EPOLLPRI)
			reg->pending = true;
		break;
	case KREG_QUEUED:
		reg->pending = true;
		break;
	default:
		break;
	}
out_unlock:
	wake = kevent_take_wake(q);
	spin_unlock_irqrestore(&q->lock, flags);
	if (wake)
		kevent_wake_deferred(q);

	if (pollflags & POLLFREE) {
		/*
		 * The wait queue head is being freed (signalfd of an exiting
		 * task).  As in fs/eventpoll.c: unlink ourselves and clear
		 * whead; after the release store nothing protects reg or
		 * even pwq, so touch nothing more.
		 */
		list_del_init(&wait->entry);
		/* paired with smp_load_acquire() in kevent_pwq_remove() */
		smp_store_release(&pwq->whead, NULL);
	}
	return 1;
}

struct kevent_pqueue {
	poll_table pt;
	struct kevent_reg *reg;
};

/* As ep_ptable_queue_proc(): called by the file's poll method. */
static void kevent_ptable_queue_proc(struct file *file,
				     wait_queue_head_t *whead, poll_table *pt)
{
	struct kevent_pqueue *pq = container_of(pt, struct kevent_pqueue, pt);
	struct kevent_reg *reg = pq->reg;
	struct kevent_pwq *pwq;

	if (reg->pwq_failed)
		return;
	pwq = kzalloc(sizeof(*pwq), GFP_KERNEL_ACCOUNT);
	if (!pwq) {
		reg->pwq_failed = true;
		return;
	}
	init_waitqueue_func_entry(&pwq->wait, kevent_poll_wake);
	pwq->whead = whead;
	pwq->reg = reg;
	add_wait_queue(whead, &pwq->wait);
	pwq->next = reg->pwqlist;
	reg->pwqlist = pwq;
}

/* As ep_remove_wait_queue(): the head may have gone with POLLFREE. */
static void kevent_pwq_remove(struct kevent_pwq *pwq)
{
	wait_queue_head_t *whead;

	rcu_read_lock();
	/* paired with smp_store_release() on POLLFREE */
	whead = smp_load_acquire(&pwq->whead);
	if (whead)
		remove_wait_queue(whead, &pwq->wait);
	rcu_read_unlock();
	kfree(pwq);
}

static void kevent_unregister_pollwait(struct kevent_reg *reg)
{
	struct kevent_pwq *pwq;

	while ((pwq = reg->pwqlist)) {
		reg->pwqlist = pwq->next;
		kevent_pwq_remove(pwq);
	}
}

/*
 * A reference to the watched file for polling it, or NULL when an AF_UNIX
 * socket's file has been released meanwhile (the registration then stays
 * silent until REMOVE).  fput() it after use.
 */
static struct file *kevent_reg_file_get(struct kevent_reg *reg)
{
	struct file *file;

	if (reg->file) {
		get_file(reg->file);
		return reg->file;
	}
	rcu_read_lock();
	/*
	 * sock->file is cleared in __sock_release(), after the file's count
	 * fell to 0 and before the file is freed, and files are freed after
	 * an RCU grace period: a file read here is valid memory, and live if
	 * its count is not 0.
	 */
	file = READ_ONCE(reg->sock->file);
	if (file && !get_file_rcu(file))
		file = NULL;
	rcu_read_unlock();
	return file;
}

static __poll_t kevent_poll_revents(struct kevent_reg *reg, struct file *file,
				    poll_table *pt)
{
	return vfs_poll(file, pt) & (reg->event | EPOLLERR | EPOLLHUP);
}

/*
 * KEVENT_PROC: has the process exited?  If so, its wait status when it is a
 * zombie child of the caller (left unreaped, as WNOWAIT), else NOSTATUS.
 */
static bool kevent_proc_exited(struct kevent_reg *reg, u64 *status,
			       u32 *flags)
{
	struct task_struct *task;
	bool exited;

	rcu_read_lock();
	task = pid_task(reg->pid, PIDTYPE_TGID);
	exited = !task || (READ_ONCE(task->exit_state) &&
			   thread_group_empty(task));
	*flags = KEVENT_RET_NOSTATUS;
	*status = 0;
	if (task && exited && task->exit_state == EXIT_ZOMBIE &&
	    same_thread_group(rcu_dereference(task->real_parent), current)) {
		*status = (task->signal->flags & SIGNAL_GROUP_EXIT) ?
			  task->signal->group_exit_code : task->exit_code;
		*flags = 0;
	}
	rcu_read_unlock();
	return exited;
}

/* Is the caller a thread of the process the queue's signals belong to? */
static bool kevent_sig_owner(struct kevent_queue *q)
{
	struct pid *owner = READ_ONCE(q->sig_owner);

	return owner && owner == task_tgid(current);
}

/*
 * Consume pending registered signals of the caller (as a signalfd read);
 * only in the process that registered them.  q->mtx held.
 */
static void kevent_harvest_signals(struct kevent_queue *q)
{
	u32 counts[_NSIG] = {};
	kernel_siginfo_t info;
	enum pid_type type;
	sigset_t mask;
	int sig;

	if (!q->sigbits || !kevent_sig_owner(q))
		return;
	WRITE_ONCE(q->sig_check, false);
	sigemptyset(&mask);
	for (sig = 1; sig <= _NSIG; sig++)
		if (q->sigbits & (1ULL << (sig - 1)))
			sigaddset(&mask, sig);
	signotset(&mask);	/* dequeue_signal() takes the signals to skip */
	spin_lock_irq(&current->sighand->siglock);
	while ((sig = dequeue_signal(current, &mask, &info, &type)) > 0)
		if (sig <= _NSIG)
			counts[sig - 1]++;
	spin_unlock_irq(&current->sighand->siglock);

	for (sig = 1; sig <= _NSIG; sig++) {
		struct kevent_reg *reg;
		bool wake;

		if (!counts[sig - 1])
			continue;
		reg = kevent_find(q, KEVENT_SIGNAL, sig);
		if (!reg)
			continue;
		spin_lock_irq(&q->lock);
		kevent_fire(q, reg, counts[sig - 1]);
		wake = kevent_take_wake(q);
		spin_unlock_irq(&q->lock);
		if (wake)
			kevent_wake(q);
	}
}

/* Is there work for kevent_run_checks() (for the caller)? q->lock held. */
static bool kevent_checks_pending(struct kevent_queue *q)
{
	return !list_empty(&q->check) ||
	       (READ_ONCE(q->sig_check) && kevent_sig_owner(q));
}

/* Poll the files on q->check; q->mtx held, q->lock not held. */
static void kevent_run_checks(struct kevent_queue *q)
{
	unsigned int n = 0;
	LIST_HEAD(list);
	bool wake;

	if (READ_ONCE(q->sig_check))
		kevent_harvest_signals(q);
	spin_lock_irq(&q->lock);
	list_splice_init(&q->check, &list);
	while (!list_empty(&list)) {
		struct kevent_reg *reg;
		__poll_t revents;
		u64 status = 0;
		u32 flags = 0;

		reg = list_first_entry(&list, struct kevent_reg, link);
		list_del_init(&reg->link);
		reg->state = KREG_IDLE;
		wake = kevent_take_wake(q);
		spin_unlock_irq(&q->lock);
		if (wake)
			kevent_wake(q);
		if (++n % 64 == 0)
			cond_resched();

		revents = 0;
		if (reg->type == KEVENT_PROC) {
			revents = kevent_proc_exited(reg, &status, &flags);
		} else if (reg->type == KEVENT_POLL) {
			struct file *file = kevent_reg_file_get(reg);

			if (file) {
				revents = kevent_poll_revents(reg, file, NULL);
				fput(file);
			}
		}

		spin_lock_irq(&q->lock);
		if (reg->type == KEVENT_INODE)
			revents = reg->fired || reg->final;
		if (revents && reg->type == KEVENT_PROC) {
			reg->final = true;
			reg->count = status;
			reg->extra_flags = flags;
			if (reg->disabled)
				continue;
		}
		if (!revents || reg->disabled)
			continue;
		if (reg->state == KREG_CHECK) {
			/* woken again meanwhile: this poll covers it */
			list_del_init(&reg->link);
			reg->state = KREG_IDLE;
		}
		if (reg->state == KREG_IDLE) {
			if (reg->type == KEVENT_POLL)
				reg->fired = revents;
			kevent_make_ready(q, reg);
		}
	}
	wake = kevent_take_wake(q);
	spin_unlock_irq(&q->lock);
	if (wake)
		kevent_wake(q);
	kevent_publish_all(q);
}

/* ---- queues watching queues (kevent_nest_mutex held) */

/*
 * The longest chain of queues below q, in edges; -1 if @forbid is among
 * them (a loop).  Memoised per check (gen), so shared sub-graphs are walked
 * once.  Recursion is bounded: no existing chain is deeper than the limit.
 */
static int kevent_depth_down(struct kevent_queue *q,
			     struct kevent_queue *forbid, u64 gen)
{
	struct kevent_reg *reg;
	int depth = 0;

	if (q == forbid)
		return -1;
	if (q->down_gen == gen)
		return q->down_depth;
	list_for_each_entry(reg, &q->children, nest_link) {
		int d = kevent_depth_down(reg->file->private_data, forbid, gen);

		if (d < 0)
			return d;
		depth = max(depth, d + 1);
	}
	q->down_gen = gen;
	q->down_depth = depth;
	return depth;
}

/* The longest chain of queues above q (watching it), in edges. */
static int kevent_depth_up(struct kevent_queue *q, u64 gen)
{
	struct kevent_reg *reg;
	int depth = 0;

	if (q->up_gen == gen)
		return q->up_depth;
	list_for_each_entry(reg, &q->parents, parent_link)
		depth = max(depth, kevent_depth_up(reg->q, gen) + 1);
	q->up_gen = gen;
	q->up_depth = depth;
	return depth;
}

/*
 * May @q watch @target?  Not if @target is @q or reaches it (a loop), nor
 * if the longest chain through the new edge would have more than the
 * nesting limit of edges: counted below @target and above @q, as
 * ep_loop_check() and reverse_path_check() do for epoll.
 */
static int kevent_nest_link(struct kevent_queue *q, struct kevent_reg *reg,
			    struct kevent_queue *target)
{
	int down, up, err = 0;

	mutex_lock(&kevent_nest_mutex);
	down = kevent_depth_down(target, q, ++kevent_nest_gen);
	up = down < 0 ? 0 : kevent_depth_up(q, kevent_nest_gen);
	if (down < 0 || up + 1 + down > kevent_max_nests()) {
		err = -ELOOP;
	} else {
		list_add(&reg->nest_link, &q->children);
		list_add(&reg->parent_link, &target->parents);
		reg->nested = true;
	}
	mutex_unlock(&kevent_nest_mutex);
	return err;
}

/* ---- KEVENT_POLL registrations */

/* io_uring instances hold file references: never watched (no export). */
static bool kevent_file_is_io_uring(struct file *file)
{
	return file_inode(file)->i_sb->s_magic == ANON_INODE_FS_MAGIC &&
	       !strcmp(file->f_path.dentry->d_name.name, "[io_uring]");
}

static int kevent_poll_add(struct kevent_queue *q, struct kevent_reg *reg)
{
	struct kevent_pqueue pq;
	struct socket *sock;
	struct file *file;
	__poll_t revents;

	file = fget((unsigned int)reg->id);
	if (!file)
		return -EBADF;
	if (kevent_file_is_io_uring(file)) {
		fput(file);
		return -EINVAL;
	}
	sock = sock_from_file(file);
	if (sock && sock->sk && sock->sk->sk_family == AF_UNIX) {
		/* no file reference: see the top of this file */
		ihold(SOCK_INODE(sock));
		reg->sock = sock;
	} else {
		reg->file = file;
	}
	if (file->f_op == &kevent_fops) {
		int err = kevent_nest_link(q, reg, file->private_data);

		if (err)
			return err;	/* kevent_free_reg() puts the file */
	}

	pq.reg = reg;
	init_poll_funcptr(&pq.pt, kevent_ptable_queue_proc);
	pq.pt._key = reg->event | EPOLLERR | EPOLLHUP;
	revents = kevent_poll_revents(reg, file, &pq.pt);
	if (reg->sock)
		fput(file);
	if (reg->pwq_failed)
		return -ENOMEM;

	/*
	 * The wait queue entries are live: a wake-up may already have moved
	 * the registration to CHECK, or (with a key) published it.
	 */
	spin_lock_irq(&q->lock);
	if (revents) {
		if (reg->state == KREG_CHECK) {
			list_del_init(&reg->link);
			reg->state = KREG_IDLE;
		}
		if (reg->state == KREG_IDLE) {
			reg->fired = revents;
			kevent_make_ready(q, reg);
		} else if (reg->state == KREG_READY) {
			reg->fired |= revents;
		}
	}
	spin_unlock_irq(&q->lock);
	return 0;
}

/* ---- KEVENT_SIGNAL and KEVENT_PROC */

/*
 * The owner's signalfd_wqh: a signal was sent to that process.  Under its
 * siglock, any context.
 */
static int kevent_signal_wake(wait_queue_entry_t *wait, unsigned int mode,
			      int sync, void *key)
{
	struct kevent_pwq *pwq = container_of(wait, struct kevent_pwq, wait);
	struct kevent_queue *q = pwq->q;

	if (!READ_ONCE(q->sig_check)) {
		WRITE_ONCE(q->sig_check, true);
		/*
		 * The flag is set without q->lock: order it before the
		 * lockless waitqueue_active() tests, as wq_has_sleeper()
		 * does; the sleeper's set_current_state() pairs with it.
		 */
		smp_mb();
		kevent_wake_deferred(q);
	}
	if (key_to_poll(key) & POLLFREE) {
		/* the process exited: as kevent_poll_wake() */
		list_del_init(&wait->entry);
		/* paired with smp_load_acquire() in kevent_pwq_remove() */
		smp_store_release(&pwq->whead, NULL);
	}
	return 1;
}

/*
 * Signal registrations belong to one process, the one whose signal hand
 * the queue hooks: the first to add one.  Another process sharing the
 * queue can add none (EINVAL) until they are all removed.
 */
static int kevent_signal_add(struct kevent_queue *q, struct kevent_reg *reg)
{
	int sig = (int)reg->id;

	if (q->sigpwq && !kevent_sig_owner(q))
		return -EINVAL;
	if (!sigismember(&current->blocked, sig))
		return -EINVAL;	/* it would go to a handler instead */
	if (!q->sigpwq) {
		struct kevent_pwq *pwq;

		pwq = kzalloc(sizeof(*pwq), GFP_KERNEL_ACCOUNT);
		if (!pwq)
			return -ENOMEM;
		init_waitqueue_func_entry(&pwq->wait, kevent_signal_wake);
		pwq->q = q;
		pwq->whead = &current->sighand->signalfd_wqh;
		WRITE_ONCE(q->sig_owner, get_pid(task_tgid(current)));
		add_wait_queue(pwq->whead, &pwq->wait);
		q->sigpwq = pwq;
	}
	q->sigbits |= 1ULL << (sig - 1);
	WRITE_ONCE(q->sig_check, true);	/* may be pending already */
	return 0;
}

/* The last signal registration went: let go of the owner's signal hand. */
static void kevent_signal_release(struct kevent_queue *q)
{
	if (q->sigpwq) {
		kevent_pwq_remove(q->sigpwq);
		q->sigpwq = NULL;
	}
	put_pid(q->sig_owner);
	WRITE_ONCE(q->sig_owner, NULL);
	WRITE_ONCE(q->sig_check, false);
}

static int kevent_proc_add(struct kevent_queue *q, struct kevent_reg *reg)
{
	struct kevent_pwq *pwq;

	reg->event = KEVENT_PROC_EXIT;
	reg->pid = reg->id <= INT_MAX ? find_get_pid((pid_t)reg->id) : NULL;
	if (!reg->pid)
		return -ESRCH;
	if (!pid_has_task(reg->pid, PIDTYPE_TGID))
		return -ESRCH;
	pwq = kzalloc(sizeof(*pwq), GFP_KERNEL_ACCOUNT);
	if (!pwq)
		return -ENOMEM;
	/* woken by do_notify_pidfd() when the process exits */
	init_waitqueue_func_entry(&pwq->wait, kevent_poll_wake);
	pwq->reg = reg;
	pwq->whead = &reg->pid->wait_pidfd;
	reg->pwqlist = pwq;
	add_wait_queue(pwq->whead, &pwq->wait);
	/* it may have exited already: the ctl evaluates it before returning */
	spin_lock_irq(&q->lock);
	if (reg->state == KREG_IDLE)
		kevent_make_check(q, reg, false);
	spin_unlock_irq(&q->lock);
	return 0;
}

/* ---- KEVENT_INODE */

static const struct {
	u32 fs, kev;
} kevent_inode_map[] = {
	{ FS_CREATE, KEVENT_INODE_CREATE },
	{ FS_DELETE, KEVENT_INODE_DELETE },
	{ FS_MODIFY, KEVENT_INODE_MODIFY },
	{ FS_ATTRIB, KEVENT_INODE_ATTRIB },
	{ FS_MOVED_FROM | FS_MOVED_TO, KEVENT_INODE_MOVE },
	{ FS_DELETE_SELF, KEVENT_INODE_DELETE_SELF },
	{ FS_MOVE_SELF, KEVENT_INODE_MOVE_SELF },
};

static u32 kevent_inode_to_fs(u32 kev)
{
	u32 fs = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kevent_inode_map); i++)
		if (kev & kevent_inode_map[i].kev)
			fs |= kevent_inode_map[i].fs;
	return fs;
}

static u32 kevent_inode_from_fs(u32 fs)
{
	u32 kev = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kevent_inode_map); i++)
		if (fs & kevent_inode_map[i].fs)
			kev |= kevent_inode_map[i].kev;
	return kev;
}

/*
 * Record changes (and the end of the watch) on an inode registration and
 * wake its queue.  Mark lock held, process context: the mark lock keeps
 * the queue alive (its release detaches the mark under that lock first),
 * so the wake-up is made before the lock is dropped.
 */
static void kevent_inode_fire(struct kevent_reg *reg, u32 bits, bool gone,
			      enum kevent_test_site site)
{
	struct kevent_queue *q = reg->q;
	unsigned long flags;
	bool wake;

	spin_lock_irqsave(&q->lock, flags);
	/* CHECK: the changes collected wait for the next KEVENT_IOC_WAIT */
	kevent_count_coalesced(q, reg);
	reg->fired |= bits;
	if (gone) {
		reg->final = true;
		reg->extra_flags = KEVENT_RET_GONE;
	}
	kevent_rearm(q, reg, true);
	wake = kevent_take_wake(q);
	spin_unlock_irqrestore(&q->lock, flags);
	kevent_test_window(site);
	if (wake)
		kevent_wake_deferred(q);
}

static int kevent_inode_event(struct fsnotify_mark *fsn, u32 mask,
			      struct inode *inode, struct inode *dir,
			      const struct qstr *name, u32 cookie)
{
	struct kevent_mark *m = container_of(fsn, struct kevent_mark, fsn);
	struct kevent_reg *reg;
	u32 bits;

	spin_lock(&m->lock);
	reg = m->reg;
	if (reg) {
		bool gone = false;

		bits = kevent_inode_from_fs(mask) & reg->event;
		/*
		 * A file unlinked while a descriptor keeps it open: deletion
		 * would be reported only at the last close.  The link count
		 * change (FS_ATTRIB, always watched) ends the watch now.
		 */
		if ((mask & FS_ATTRIB) && !m->isdir && inode &&
		    !READ_ONCE(inode->i_nlink)) {
			gone = true;
			bits |= reg->event & KEVENT_INODE_DELETE_SELF;
			m->reg = NULL;
		}
		if (bits || gone)
			kevent_inode_fire(reg, bits, gone,
					  KEVENT_SITE_INODE_EVENT);
	}
	spin_unlock(&m->lock);
	return 0;
}

/*
 * The mark is being destroyed: by kevent_inode_detach(), or by the kernel
 * because the inode was deleted or its filesystem unmounted.  In the latter
 * case the registration ends: delivered with RET_GONE and removed.
 */
static void kevent_inode_freeing(struct fsnotify_mark *fsn,
				 struct fsnotify_group *group)
{
	struct kevent_mark *m = container_of(fsn, struct kevent_mark, fsn);
	struct kevent_reg *reg;

	spin_lock(&m->lock);
	reg = m->reg;
	m->reg = NULL;
	if (reg)
		kevent_inode_fire(reg, 0, true, KEVENT_SITE_INODE_FREEING);
	spin_unlock(&m->lock);
}

static void kevent_inode_free_mark(struct fsnotify_mark *fsn)
{
	struct kevent_mark *m = container_of(fsn, struct kevent_mark, fsn);

	kevent_uncharge(&m->user->watches, 1);
	kevent_user_put(m->user);
	kfree(m);
}

static const struct fsnotify_ops kevent_fsnotify_ops = {
	.handle_inode_event	= kevent_inode_event,
	.freeing_mark		= kevent_inode_freeing,
	.free_mark		= kevent_inode_free_mark,
};

/*
 * A new mark on the inode of fd reg->id watching @event for @reg; the file
 * itself is not kept open.  Read permission on the inode is needed, as for
 * inotify_add_watch(2).
 */
static struct kevent_mark *kevent_inode_attach(struct kevent_reg *reg,
					       u32 event)
{
	struct kevent_user *u = reg->q->user;
	struct kevent_mark *m;
	struct inode *inode;
	struct file *file;
	int err;

	if (!event)
		return ERR_PTR(-EINVAL);
	file = fget((unsigned int)reg->id);
	if (!file)
		return ERR_PTR(-EBADF);
	inode = file_inode(file);
	err = inode_permission(file_mnt_user_ns(file), inode, MAY_READ);
	if (err) {
		fput(file);
		return ERR_PTR(err);
	}
	if (!kevent_charge(&u->watches, 1, READ_ONCE(max_user_inode_watches))) {
		fput(file);
		return ERR_PTR(-ENOSPC);
	}
	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m) {
		kevent_uncharge(&u->watches, 1);
		fput(file);
		return ERR_PTR(-ENOMEM);
	}
	refcount_inc(&u->ref);
	m->user = u;
	spin_lock_init(&m->lock);
	fsnotify_init_mark(&m->fsn, kevent_group);
	/* FS_ATTRIB always: a file's link count falling to 0 is deletion */
	m->fsn.mask = kevent_inode_to_fs(event) | FS_ATTRIB;
	m->isdir = S_ISDIR(inode->i_mode);
	if (m->isdir)
		m->fsn.mask |= FS_EVENT_ON_CHILD;
	m->reg = reg;
	err = fsnotify_add_inode_mark(&m->fsn, inode, 0);
	fput(file);
	if (err) {
		spin_lock(&m->lock);
		m->reg = NULL;
		spin_unlock(&m->lock);
		fsnotify_put_mark(&m->fsn);	/* frees m, uncharges */
		return ERR_PTR(err);
	}
	return m;
}

static void kevent_inode_detach(struct kevent_mark *m)
{
	if (!m)
		return;
	spin_lock(&m->lock);
	m->reg = NULL;
	spin_unlock(&m->lock);
	fsnotify_destroy_mark(&m->fsn, kevent_group);
	fsnotify_put_mark(&m->fsn);	/* the reference of fsnotify_init_mark */
}

/* ---- KEVENT_TIMER */

static enum hrtimer_restart kevent_timer_fn(struct hrtimer *timer)
{
	struct kevent_reg *reg = container_of(timer, struct kevent_reg, timer);
	struct kevent_queue *q = reg->q;
	enum hrtimer_restart ret = HRTIMER_NORESTART;
	unsigned long flags;
	bool wake;

	spin_lock_irqsave(&q->lock, flags);
	if (reg->state == KREG_DEAD || reg->timer_off)
		goto out_unlock;
	if (!reg->interval) {
		kevent_fire(q, reg, 1);
	} else if (reg->disabled || reg->state != KREG_IDLE) {
		/*
		 * Busy: stop rather than fire at every period (a 1 ns period
		 * would starve the CPU); kevent_timer_resume() counts the
		 * expirations missed meanwhile.
		 */
		kevent_count_coalesced(q, reg);
		reg->timer_stopped = true;
	} else {
		kevent_fire(q, reg, kevent_timer_forward(timer, reg->interval));
		ret = HRTIMER_RESTART;
	}
out_unlock:
	wake = kevent_take_wake(q);
	spin_unlock_irqrestore(&q->lock, flags);
	if (wake)
		kevent_wake_deferred(q);
	return ret;
}

static const clockid_t kevent_clocks[] = {
	[KEVENT_TIMER_MONOTONIC] = CLOCK_MONOTONIC,
	[KEVENT_TIMER_REALTIME] = CLOCK_REALTIME,
	[KEVENT_TIMER_BOOTTIME] = CLOCK_BOOTTIME,
};

static int kevent_timer_check(const struct ukevent *ev)
{
	bool abs = ev->event & KEVENT_TIMER_ABSTIME;

	if ((ev->event & KEVENT_TIMER_CLOCK_MASK) > KEVENT_TIMER_BOOTTIME)
		return -EINVAL;
	if (!abs && ev->data > S64_MAX / 2)
		return -EINVAL;
	if (!abs && !(ev->req_flags & KEVENT_REQ_ONESHOT) && !ev->data)
		return -EINVAL;
	return 0;
}

/* Arm reg->timer from event/data/req_flags; the timer is not running. */
static void kevent_timer_arm(struct kevent_reg *reg)
{
	bool abs = reg->event & KEVENT_TIMER_ABSTIME;
	clockid_t clock = kevent_clocks[reg->event & KEVENT_TIMER_CLOCK_MASK];
	enum hrtimer_mode mode = abs ? HRTIMER_MODE_ABS : HRTIMER_MODE_REL;
	ktime_t t = (ktime_t)min_t(u64, reg->data, KTIME_MAX);

	hrtimer_init(&reg->timer, clock, mode);
	reg->timer.function = kevent_timer_fn;
	reg->interval = 0;
	if (!abs && !(reg->req_flags & KEVENT_REQ_ONESHOT))
		reg->interval = t;
	reg->timer_stopped = false;
	reg->timer_off = false;
	/*
	 * The range lets the hrtimer code expire it with the timers due
	 * around it (kevent(7), "Timer slack"); hrtimer_forward() keeps the
	 * range for each period of a periodic timer.
	 */
	hrtimer_start_range_ns(&reg->timer, t, reg->q->timer_slack, mode);
}

/* ---- registrations (q->mtx held) */

static struct kevent_reg *kevent_find(struct kevent_queue *q, u32 type,
				      u64 id)
{
	struct rb_node *n = q->regs.rb_node;

	while (n) {
		struct kevent_reg *reg = rb_entry(n, struct kevent_reg, node);

		if (type < reg->type || (type == reg->type && id < reg->id))
			n = n->rb_left;
		else if (type > reg->type || id > reg->id)
			n = n->rb_right;
		else
			return reg;
	}
	return NULL;
}

static void kevent_insert(struct kevent_queue *q, struct kevent_reg *new)
{
	struct rb_node **p = &q->regs.rb_node, *parent = NULL;

	while (*p) {
		struct kevent_reg *reg = rb_entry(*p, struct kevent_reg, node);

		parent = *p;
		if (new->type < reg->type ||
		    (new->type == reg->type && new->id < reg->id))
			p = &(*p)->rb_left;
		else
			p = &(*p)->rb_right;
	}
	rb_link_node(&new->node, parent, p);
	rb_insert_color(&new->node, &q->regs);
	q->nregs++;
}

/* Tear down a registration no longer in the tree (or never inserted). */
static void kevent_free_reg(struct kevent_queue *q, struct kevent_reg *reg)
{
	spin_lock_irq(&q->lock);
	if (reg->state == KREG_READY || reg->state == KREG_CHECK ||
	    reg->state == KREG_DEAD)
		kevent_unlink(q, reg);
	if (reg->state == KREG_QUEUED &&
	    q->owner[reg->slot & q->mask] == reg)
		q->owner[reg->slot & q->mask] = NULL;
	reg->state = KREG_DEAD;
	spin_unlock_irq(&q->lock);

	if (reg->type == KEVENT_TIMER)
		hrtimer_cancel(&reg->timer);
	if (reg->pwqlist)
		kevent_unregister_pollwait(reg);
	if (reg->nested) {
		mutex_lock(&kevent_nest_mutex);
		list_del(&reg->nest_link);
		list_del(&reg->parent_link);
		mutex_unlock(&kevent_nest_mutex);
	}
	if (reg->file)
		fput(reg->file);
	if (reg->sock)
		iput(SOCK_INODE(reg->sock));
	if (reg->pid)
		put_pid(reg->pid);
	kevent_inode_detach(reg->mark);
	kevent_uncharge(&q->user->regs, 1);
	kfree(reg);
	atomic_long_dec(&kevent_nr_regs);
}

static void kevent_remove(struct kevent_queue *q, struct kevent_reg *reg)
{
	bool signal = reg->type == KEVENT_SIGNAL;

	rb_erase(&reg->node, &q->regs);
	q->nregs--;
	if (signal)
		q->sigbits &= ~(1ULL << (reg->id - 1));
	kevent_free_reg(q, reg);
	if (signal && !q->sigbits)
		kevent_signal_release(q);
}

/* Free ONESHOT registrations delivered since the last call. */
static void kevent_reap_zombies(struct kevent_queue *q)
{
	struct kevent_reg *reg;
	unsigned int n = 0;

	for (;;) {
		spin_lock_irq(&q->lock);
		reg = list_first_entry_or_null(&q->zombies, struct kevent_reg,
					       link);
		spin_unlock_irq(&q->lock);
		if (!reg)
			break;
		kevent_remove(q, reg);
		if (++n % 64 == 0)
			cond_resched();
	}
}

static int kevent_check_entry(unsigned int cmd, const struct ukevent *ev)
{
	static const u32 masks[KEVENT_TYPE_MAX] = {
		[KEVENT_POLL] = KEVENT_POLL_MASK,
		[KEVENT_TIMER] = KEVENT_TIMER_MASK,
		[KEVENT_USER] = 0xffffffffu,	/* caller-defined bits */
		[KEVENT_INODE] = KEVENT_INODE_MASK,
		[KEVENT_PROC] = KEVENT_PROC_MASK,
	};

	if (ev->type >= KEVENT_TYPE_MAX)
		return -EINVAL;
	if (cmd != KEVENT_CTL_ADD && cmd != KEVENT_CTL_MODIFY)
		return 0;
	if (ev->prio > KEVENT_PRIO_MAX || ev->__reserved0)
		return -EINVAL;
	if (ev->event & ~masks[ev->type])
		return -EINVAL;
	if (ev->req_flags & ~KEVENT_REQ_MASK)
		return -EINVAL;
	if ((ev->req_flags & KEVENT_REQ_ONESHOT) &&
	    (ev->req_flags & KEVENT_REQ_DISPATCH))
		return -EINVAL;
	if ((ev->req_flags & KEVENT_REQ_ET) && ev->type != KEVENT_POLL)
		return -EINVAL;
	switch (ev->type) {
	case KEVENT_POLL:
		if (ev->id > INT_MAX)
			return -EBADF;
		return 0;
	case KEVENT_TIMER:
		return kevent_timer_check(ev);
	case KEVENT_USER:
	case KEVENT_PROC:
		return 0;
	case KEVENT_INODE:
		if (ev->id > INT_MAX)
			return -EBADF;
		return 0;
	case KEVENT_SIGNAL:
		if (!ev->id || ev->id > _NSIG || ev->id == SIGKILL ||
		    ev->id == SIGSTOP)
			return -EINVAL;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static int kevent_add(struct kevent_queue *q, const struct ukevent *ev)
{
	struct kevent_reg *reg;
	int err = 0;

	if (kevent_find(q, ev->type, ev->id))
		return -EEXIST;
	if (q->nregs >= READ_ONCE(max_registrations))
		return -ENOSPC;
	if (!kevent_charge(&q->user->regs, 1,
			   READ_ONCE(max_user_registrations)))
		return -ENOSPC;
	reg = kzalloc(sizeof(*reg), GFP_KERNEL_ACCOUNT);
	if (!reg) {
		kevent_uncharge(&q->user->regs, 1);
		return -ENOMEM;
	}
	atomic_long_inc(&kevent_nr_regs);
	INIT_LIST_HEAD(&reg->link);
	INIT_LIST_HEAD(&reg->nest_link);
	INIT_LIST_HEAD(&reg->parent_link);
	reg->q = q;
	reg->id = ev->id;
	reg->type = ev->type;
	reg->event = ev->event;
	reg->req_flags = ev->req_flags;
	reg->data = ev->data;
	reg->user = ev->user;
	reg->prio = ev->prio;
	reg->state = KREG_IDLE;

	switch (reg->type) {
	case KEVENT_POLL:
		err = kevent_poll_add(q, reg);
		break;
	case KEVENT_TIMER:
		kevent_timer_arm(reg);
		break;
	case KEVENT_SIGNAL:
		err = kevent_signal_add(q, reg);
		break;
	case KEVENT_PROC:
		err = kevent_proc_add(q, reg);
		break;
	case KEVENT_INODE:
		reg->mark = kevent_inode_attach(reg, reg->event);
		if (IS_ERR(reg->mark)) {
			err = PTR_ERR(reg->mark);
			reg->mark = NULL;
		}
		break;
	default:
		break;
	}
	if (err) {
		kevent_free_reg(q, reg);
		return err;
	}
	kevent_insert(q, reg);
	return 0;
}

/* A failed MODIFY leaves the registration as it was. */
static int kevent_modify(struct kevent_queue *q, struct kevent_reg *reg,
			 const struct ukevent *ev)
{
	struct kevent_mark *old = NULL, *new = NULL;

	if (reg->type == KEVENT_INODE && !reg->final) {
		/* a new mark with the new mask on the inode of the fd */
		new = kevent_inode_attach(reg, ev->event);
		if (IS_ERR(new))
			return PTR_ERR(new);
		old = reg->mark;
		reg->mark = new;
	} else if (reg->type == KEVENT_INODE && !ev->event) {
		return -EINVAL;
	}
	if (reg->type == KEVENT_TIMER) {
		spin_lock_irq(&q->lock);
		reg->timer_off = true;
		spin_unlock_irq(&q->lock);
		hrtimer_cancel(&reg->timer);
	}
	spin_lock_irq(&q->lock);
	reg->event = reg->type == KEVENT_PROC ? KEVENT_PROC_EXIT : ev->event;
	reg->req_flags = ev->req_flags;
	reg->data = ev->data;
	reg->user = ev->user;
	if (reg->prio != ev->prio) {
		/* READY: to the tail of its new level, as if ready just now */
		bool ready = reg->state == KREG_READY;

		if (ready)
			kevent_ready_del(q, reg);
		reg->prio = ev->prio;
		if (ready)
			kevent_ready_add(q, reg);
	}
	spin_unlock_irq(&q->lock);
	kevent_inode_detach(old);

	if (reg->type == KEVENT_TIMER) {
		spin_lock_irq(&q->lock);
		kevent_timer_arm(reg);
		spin_unlock_irq(&q->lock);
	} else if (reg->type == KEVENT_POLL) {
		spin_lock_irq(&q->lock);
		if (reg->state == KREG_READY) {
			kevent_ready_del(q, reg);
			reg->state = KREG_IDLE;
			reg->pending = true;
		}
		if (reg->state == KREG_IDLE && !reg->disabled)
			kevent_make_check(q, reg, false);
		spin_unlock_irq(&q->lock);
	}
	return 0;
}

static void kevent_enable(struct kevent_queue *q, struct kevent_reg *reg,
			  bool enable)
{
	spin_lock_irq(&q->lock);
	if (enable && reg->disabled) {
		reg->disabled = false;
		if (reg->type == KEVENT_POLL)
			reg->pending = true;	/* re-check on ENABLE */
		kevent_rearm(q, reg, false);
	} else if (!enable && !reg->disabled) {
		reg->disabled = true;
		if (reg->state == KREG_READY || reg->state == KREG_CHECK) {
			kevent_unlink(q, reg);
			reg->state = KREG_IDLE;
			reg->pending = true;
		}
	}
	spin_unlock_irq(&q->lock);
}

static int kevent_ctl_one(struct kevent_queue *q, unsigned int cmd,
			  const struct ukevent *ev)
{
	struct kevent_reg *reg;
	bool wake;
	int err;

	err = kevent_check_entry(cmd, ev);
	if (err)
		return err;
	/* delivered ONESHOT registrations no longer exist */
	kevent_reap_zombies(q);
	if (cmd == KEVENT_CTL_ADD)
		return kevent_add(q, ev);
	reg = kevent_find(q, ev->type, ev->id);
	if (!reg)
		return -ENOENT;
	switch (cmd) {
	case KEVENT_CTL_REMOVE:
		kevent_remove(q, reg);
		return 0;
	case KEVENT_CTL_MODIFY:
		return kevent_modify(q, reg, ev);
	case KEVENT_CTL_ENABLE:
	case KEVENT_CTL_DISABLE:
		kevent_enable(q, reg, cmd == KEVENT_CTL_ENABLE);
		return 0;
	case KEVENT_CTL_READY:
		if (reg->type != KEVENT_USER)
			return -EINVAL;
		spin_lock_irq(&q->lock);
		reg->fired |= ev->event;
		kevent_fire(q, reg, 1);
		wake = kevent_take_wake(q);
		spin_unlock_irq(&q->lock);
		if (wake)
			kevent_wake(q);
		return 0;
	}
	return -EINVAL;
}

/* ---- ioctls */

/*
 * An argument structure: its size is its first member; accepted from the
 * size of the first version (these are all first versions) up to a page,
 * as openat2(2) does, with any bytes this module does not know zero.
 */
static int kevent_copy_args(void *dst, size_t ksize, void __user *uarg)
{
	u32 usize;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < ksize)
		return -EINVAL;
	if (usize > PAGE_SIZE)
		return -E2BIG;
	return copy_struct_from_user(dst, ksize, uarg, usize);
}

static void kevent_ring_free(void *ring, struct page **pages,
			     unsigned int npages)
{
	unsigned int i;

	if (ring)
		vunmap(ring);
	for (i = 0; i < npages && pages; i++)
		if (pages[i])
			__free_page(pages[i]);
	kvfree(pages);
}

/* Bytes of a ring of size entries: header, entries, then the statistics. */
static u64 kevent_ring_total(u32 size)
{
	return KEVENT_RING_BYTES(size) + sizeof(struct kevent_stats);
}

/*
 * The ring: pages allocated with GFP_KERNEL_ACCOUNT (vmalloc_user() is not
 * charged to the caller's memory cgroup), mapped contiguously in the kernel
 * with vmap() and into user space with vm_map_pages().
 */
static struct kevent_ring *kevent_ring_alloc(u32 size, struct page ***pagesp,
					     unsigned int *npagesp)
{
	unsigned int i, npages = PAGE_ALIGN(kevent_ring_total(size)) >>
				 PAGE_SHIFT;
	struct page **pages;
	void *ring;

	pages = kvcalloc(npages, sizeof(*pages), GFP_KERNEL_ACCOUNT);
	if (!pages)
		return NULL;
	for (i = 0; i < npages; i++) {
		pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!pages[i]) {
			kevent_ring_free(NULL, pages, npages);
			return NULL;
		}
		if (fatal_signal_pending(current)) {
			kevent_ring_free(NULL, pages, npages);
			return NULL;
		}
	}
	ring = vmap(pages, npages, VM_MAP, PAGE_KERNEL);
	if (!ring) {
		kevent_ring_free(NULL, pages, npages);
		return NULL;
	}
	*pagesp = pages;
	*npagesp = npages;
	return ring;
}

static long kevent_ioc_setup(struct kevent_queue *q,
			     struct kevent_setup __user *uarg)
{
	struct kevent_setup s;
	struct kevent_ring *ring;
	struct kevent_reg **owner;
	struct page **pages = NULL;
	unsigned int npages = 0;
	long charge;
	u32 size;
	int err;

	err = kevent_copy_args(&s, sizeof(s), uarg);
	if (err)
		return err;
	if (s.flags || s.__reserved[0] || s.__reserved[1] ||
	    s.__reserved[2] || s.__reserved[3])
		return -EINVAL;
	if (s.ring_size > KEVENT_RING_MAX)
		return -EINVAL;
	if (kevent_ring_of(q))
		return -EBUSY;
	/* the answer must be writable before anything is allocated */
	if (put_user(0U, &uarg->abi_version))
		return -EFAULT;
	size = s.ring_size ? roundup_pow_of_two(s.ring_size) :
			     KEVENT_RING_DEFAULT;
	charge = PAGE_ALIGN(kevent_ring_total(size)) +
		 PAGE_ALIGN((u64)size * sizeof(*owner));
	if (!kevent_charge(&q->user->ring_bytes, charge,
			   READ_ONCE(max_user_ring_bytes)))
		return -ENOMEM;

	ring = kevent_ring_alloc(size, &pages, &npages);
	if (!ring) {
		kevent_uncharge(&q->user->ring_bytes, charge);
		return -ENOMEM;
	}
	owner = kvcalloc(size, sizeof(*owner), GFP_KERNEL_ACCOUNT);
	if (!owner) {
		kevent_ring_free(ring, pages, npages);
		kevent_uncharge(&q->user->ring_bytes, charge);
		return -ENOMEM;
	}
	ring->size = size;
	ring->mask = size - 1;
	ring->version = KEVENT_ABI_VERSION;
	ring->entry_size = sizeof(struct ukevent);
	ring->entries_offset = KEVENT_RING_ENTRIES_OFFSET;
	/* the statistics follow the entries; zeroed, as every page */
	ring->stats_offset = KEVENT_RING_BYTES(size);

	if (mutex_lock_killable(&q->mtx)) {
		err = -EINTR;
		goto fail;
	}
	if (q->ring) {
		mutex_unlock(&q->mtx);
		err = -EBUSY;
		goto fail;
	}
	spin_lock_irq(&q->lock);
	q->pages = pages;
	q->npages = npages;
	q->owner = owner;
	q->size = size;
	q->mask = size - 1;
	q->ring_bytes = kevent_ring_total(size);
	q->ring_charge = charge;
	/* the kernel's own pointer: stats_offset is the user's to scribble */
	q->stats_area = (struct kevent_stats *)((char *)ring +
						KEVENT_RING_BYTES(size));
	ring->flags = q->stats ? KEVENT_RING_STATS : 0;
	/* publishes the initialised ring: paired with kevent_ring_of() */
	smp_store_release(&q->ring, ring);
	spin_unlock_irq(&q->lock);
	mutex_unlock(&q->mtx);

	s.ring_size = size;
	s.abi_version = KEVENT_ABI_VERSION;
	s.ring_bytes = kevent_ring_total(size);
	if (copy_to_user(uarg, &s, sizeof(s)))
		return -EFAULT;	/* unmapped meanwhile: set up all the same */
	return 0;
fail:
	kvfree(owner);
	kevent_ring_free(ring, pages, npages);
	kevent_uncharge(&q->user->ring_bytes, charge);
	return err;
}

/* Clear the result fields of n entries: they must be writable. */
static int kevent_results_clear(struct ukevent __user *uev, u32 n)
{
	u32 i;

	if (!user_access_begin(uev, n * sizeof(*uev)))
		return -EFAULT;
	for (i = 0; i < n; i++) {
		unsafe_put_user(0U, &uev[i].ret_flags, efault);
		unsafe_put_user(0ULL, &uev[i].ret_data, efault);
	}
	user_access_end();
	return 0;
efault:
	user_access_end();
	return -EFAULT;
}

/*
 * Entries are copied in a chunk at a time without q->mtx (a copy can
 * fault and sleep as long as user space likes: userfaultfd), their result
 * fields are checked writable, then the chunk is applied under q->mtx and
 * the results written after it is dropped.  So a whole-call error (EFAULT
 * of the first chunk, EINTR) applies nothing; once entries were applied
 * the call returns how many succeeded, even if a later chunk faults.
 */
static long kevent_ioc_ctl(struct kevent_queue *q,
			   struct kevent_ctl_args __user *uarg)
{
	struct kevent_ctl_args a;
	struct ukevent __user *uev;
	struct ukevent *buf;
	u32 i, j, n;
	long done = 0;
	int err;

	err = kevent_copy_args(&a, sizeof(a), uarg);
	if (err)
		return err;
	if (a.__pad || a.__reserved[0] || a.__reserved[1])
		return -EINVAL;
	if (a.cmd >= KEVENT_CTL_MAX || a.num > KEVENT_CTL_BATCH_MAX)
		return -EINVAL;
	if (!a.num)
		return 0;
	if (!a.events)
		return -EFAULT;
	if (!kevent_ring_of(q))
		return -EINVAL;
	uev = u64_to_user_ptr(a.events);
	buf = kmalloc_array(min_t(u32, a.num, KEVENT_CTL_CHUNK), sizeof(*buf),
			    GFP_KERNEL);
	if (!buf)
		return -ENOMEM;

	for (i = 0; i < a.num; i += n) {
		n = min_t(u32, a.num - i, KEVENT_CTL_CHUNK);
		if (copy_from_user(buf, &uev[i], n * sizeof(*buf)) ||
		    kevent_results_clear(&uev[i], n)) {
			err = -EFAULT;
			break;
		}
		if (mutex_lock_killable(&q->mtx)) {
			err = -EINTR;
			break;
		}
		for (j = 0; j < n; j++) {
			int e = kevent_ctl_one(q, a.cmd, &buf[j]);

			buf[j].ret_flags = e ? KEVENT_RET_ERROR : 0;
			buf[j].ret_data = e ? -e : 0;
			if (!e)
				done++;
		}
		kevent_run_checks(q);
		mutex_unlock(&q->mtx);
		for (j = 0; j < n; j++) {
			if (!buf[j].ret_flags)
				continue;
			if (put_user(buf[j].ret_flags, &uev[i + j].ret_flags) ||
			    put_user(buf[j].ret_data, &uev[i + j].ret_data)) {
				kfree(buf);
				return done;	/* applied: the count stands */
			}
		}
		cond_resched();
	}
	kfree(buf);
	if (err && !i)
		return err;
	return done;
}

/* Has this process used KEVENT_IOC_WAKE on the queue?  q->lock held. */
static bool kevent_woken_by_me(struct kevent_queue *q)
{
	struct pid *me = task_tgid(current);
	int i;

	for (i = 0; i < KEVENT_WAKERS; i++)
		if (q->wakers[i] == me)
			return true;
	return false;
}

/*
 * KEVENT_IOC_WAKE: every sleeper of the calling process returns EBADF, and
 * so does any later KEVENT_IOC_WAIT of that process (libkev's kevent_close()
 * in another thread).  Other processes sharing the file are not affected.
 */
/* Is a registration of @type in the tree?  O(log n): it is keyed by type. */
static bool kevent_has_type(struct kevent_queue *q, u32 type)
{
	struct rb_node *n = q->regs.rb_node;

	while (n) {
		struct kevent_reg *reg = rb_entry(n, struct kevent_reg, node);

		if (reg->type == type)
			return true;
		n = type < reg->type ? n->rb_left : n->rb_right;
	}
	return false;
}

static long kevent_ioc_opt(struct kevent_queue *q,
			   struct kevent_opt_args __user *uarg, bool set)
{
	struct kevent_opt_args a;
	long err;

	err = kevent_copy_args(&a, sizeof(a), uarg);
	if (err)
		return err;
	if (a.__reserved[0] || a.__reserved[1])
		return -EINVAL;
	if (set && a.opt == KEVENT_OPT_PRIO_BOUND &&
	    (!a.value || a.value > KEVENT_PRIO_BOUND_MAX))
		return -EINVAL;
	if (set && a.opt == KEVENT_OPT_STATS && a.value > 1)
		return -EINVAL;
	if (a.opt == KEVENT_OPT_PRIO_BOUND || a.opt == KEVENT_OPT_STATS) {
		bool stats = a.opt == KEVENT_OPT_STATS;

		/* read by kevent_publish(): the next pick or entry uses it */
		spin_lock_irq(&q->lock);
		if (!set)
			a.value = stats ? q->stats : q->prio_bound;
		else if (stats)
			kevent_stats_set(q, a.value);
		else
			q->prio_bound = a.value;
		spin_unlock_irq(&q->lock);
		if (!set && put_user(a.value, &uarg->value))
			return -EFAULT;
		return 0;
	}
	if (a.opt != KEVENT_OPT_TIMER_SLACK)
		return -EINVAL;
	if (set && a.value > KEVENT_TIMER_SLACK_MAX)
		return -EINVAL;
	if (mutex_lock_killable(&q->mtx))
		return -EINTR;
	if (!set) {
		a.value = q->timer_slack;
	} else if (kevent_has_type(q, KEVENT_TIMER)) {
		/* the slack is a timer's from its start: set it before */
		err = -EBUSY;
	} else {
		q->timer_slack = a.value;
	}
	mutex_unlock(&q->mtx);
	if (!err && !set && put_user(a.value, &uarg->value))
		err = -EFAULT;
	return err;
}

static long kevent_ioc_wake(struct kevent_queue *q)
{
	struct pid *me = get_pid(task_tgid(current)), *old = NULL;

	spin_lock_irq(&q->lock);
	if (!kevent_woken_by_me(q)) {
		old = q->wakers[0];
		memmove(&q->wakers[0], &q->wakers[1],
			sizeof(q->wakers[0]) * (KEVENT_WAKERS - 1));
		q->wakers[KEVENT_WAKERS - 1] = me;
		me = NULL;
	}
	spin_unlock_irq(&q->lock);
	put_pid(old);
	put_pid(me);
	wake_up_all(&q->wq);
	return 0;
}

static long kevent_ioc_wait(struct kevent_queue *q,
			    struct kevent_wait_args __user *uarg)
{
	struct kevent_wait_args a;
	sigset_t ksig, saved = {};
	DEFINE_WAIT(wait);
	ktime_t expires = 0;
	bool timed, timed_out = false, slept = false;
	u32 n, min_nr;
	long ret = 0;
	int err;

	err = kevent_copy_args(&a, sizeof(a), uarg);
	if (err)
		return err;
	if (a.__reserved[0] || a.__reserved[1] || a.timeout_ns < -1)
		return -EINVAL;
	if (!kevent_ring_of(q))
		return -EINVAL;
	min_nr = clamp_t(u32, a.min_nr, 1, q->size);
	timed = a.timeout_ns >= 0;
	if (timed)
		expires = ktime_add_safe(ktime_get(), ns_to_ktime(a.timeout_ns));

	if (a.sigmask) {
		if (a.sigsetsize != sizeof(sigset_t))
			return -EINVAL;
		if (copy_from_user(&ksig, u64_to_user_ptr(a.sigmask),
				   sizeof(ksig)))
			return -EFAULT;
		sigdelsetmask(&ksig, sigmask(SIGKILL) | sigmask(SIGSTOP));
		sigprocmask(SIG_SETMASK, &ksig, &saved);
	}
	spin_lock_irq(&q->lock);
	kevent_count(&q->ring->waits);
	spin_unlock_irq(&q->lock);

	/*
	 * First what the consumer passed (level-triggered entries go to be
	 * polled again), then the evaluations: a timeout of 0 sees them.
	 */
	if (mutex_lock_killable(&q->mtx)) {
		ret = -EINTR;
		goto out;
	}
	kevent_reap_zombies(q);
	kevent_publish_all(q);
	kevent_run_checks(q);
	mutex_unlock(&q->mtx);

	/*
	 * Each round answers, in this order: enough entries, closed by this
	 * process, a signal, the timeout; only then is pending work
	 * evaluated or the caller put to sleep.  So a queue kept busy (a
	 * signal storm, keyless wake-ups) cannot hold the caller past its
	 * timeout or a signal.
	 */
	for (;;) {
		bool checks, woken, more, wake;

		kevent_publish_all(q);
		prepare_to_wait(&q->wq, &wait, TASK_INTERRUPTIBLE);
		spin_lock_irq(&q->lock);
		more = kevent_publish(q, KEVENT_ATOMIC_BUDGET);
		n = q->kidx - q->uidx;
		checks = kevent_checks_pending(q);
		woken = kevent_woken_by_me(q);
		wake = kevent_take_wake(q);
		spin_unlock_irq(&q->lock);
		if (wake)
			kevent_wake(q);
		if (n >= min_nr) {
			ret = n;
			break;
		}
		if (woken) {
			ret = -EBADF;
			break;
		}
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (timed && (timed_out || !a.timeout_ns ||
			      ktime_compare(ktime_get(), expires) >= 0)) {
			ret = n;
			break;
		}
		if (checks || more) {
			finish_wait(&q->wq, &wait);
			if (checks) {
				if (mutex_lock_killable(&q->mtx)) {
					ret = -EINTR;
					break;
				}
				kevent_run_checks(q);
				mutex_unlock(&q->mtx);
				kevent_test_window(KEVENT_SITE_WAIT_CHECKS);
			}
			cond_resched();
			continue;
		}
		if (!slept) {	/* a call that blocks counts once */
			slept = true;
			spin_lock_irq(&q->lock);
			kevent_count(&q->ring->sleeps);
			spin_unlock_irq(&q->lock);
		}
		if (!timed)
			schedule();
		else if (!schedule_hrtimeout_range(&expires, 0,
						   HRTIMER_MODE_ABS))
			timed_out = true;
	}
	finish_wait(&q->wq, &wait);
	/*
	 * Repair a kidx scribbled over by user space, under q->lock so that
	 * it cannot overwrite a newer publication.
	 */
	spin_lock_irq(&q->lock);
	{
		u32 k = q->kidx;

		kevent_test_window(KEVENT_SITE_WAIT_KIDX);
		/* pairs with the consumer's load-acquire of kidx */
		smp_store_release(&q->ring->kidx, k);
	}
	spin_unlock_irq(&q->lock);
out:
	if (a.sigmask) {
		if (ret == -EINTR) {
			/* restored after the handler runs, as epoll_pwait */
			current->saved_sigmask = saved;
			set_restore_sigmask();
		} else {
			sigprocmask(SIG_SETMASK, &saved, NULL);
		}
	}
	return ret;
}

static long kevent_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	struct kevent_queue *q = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case KEVENT_IOC_SETUP:
		return kevent_ioc_setup(q, uarg);
	case KEVENT_IOC_CTL:
		return kevent_ioc_ctl(q, uarg);
	case KEVENT_IOC_WAIT:
		return kevent_ioc_wait(q, uarg);
	case KEVENT_IOC_WAKE:
		return kevent_ioc_wake(q);
	case KEVENT_IOC_SETOPT:
		return kevent_ioc_opt(q, uarg, true);
	case KEVENT_IOC_GETOPT:
		return kevent_ioc_opt(q, uarg, false);
	}
	return -ENOTTY;
}

/* ---- file operations */

/*
 * Called by poll(2), epoll, other queues and io_uring, possibly under
 * their locks: bounded work, deferred wake-ups, no recursion.
 */
static __poll_t kevent_fpoll(struct file *file, poll_table *pt)
{
	struct kevent_queue *q = file->private_data;
	unsigned long flags;
	__poll_t mask = 0;
	bool wake;

	poll_wait(file, &q->poll_wait, pt);
	if (!kevent_ring_of(q))
		return 0;
	spin_lock_irqsave(&q->lock, flags);
	kevent_publish_atomic(q);
	if (q->kidx != q->uidx || q->ready_bits ||
	    !list_empty(&q->check) || READ_ONCE(q->sig_check))
		mask = EPOLLIN | EPOLLRDNORM;
	wake = kevent_take_wake(q);
	spin_unlock_irqrestore(&q->lock, flags);
	if (wake)
		kevent_wake_deferred(q);
	return mask;
}

static int kevent_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kevent_queue *q = file->private_data;
	struct kevent_ring *ring = kevent_ring_of(q);

	if (!ring || vma->vm_pgoff || vma_pages(vma) > q->npages)
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;	/* a private copy would never see kidx move */
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
	return vm_map_pages(vma, q->pages, q->npages);
}

static int kevent_open(struct inode *inode, struct file *file)
{
	struct kevent_user *u;
	struct kevent_queue *q;
	unsigned int i;

	u = kevent_user_get(current_uid());
	if (!u)
		return -ENOMEM;
	if (!kevent_charge(&u->queues, 1, READ_ONCE(max_user_queues))) {
		kevent_user_put(u);
		return -EMFILE;
	}
	q = kzalloc(sizeof(*q), GFP_KERNEL_ACCOUNT);
	if (!q) {
		kevent_uncharge(&u->queues, 1);
		kevent_user_put(u);
		return -ENOMEM;
	}
	q->user = u;
	q->timer_slack = KEVENT_TIMER_SLACK_DEFAULT;
	mutex_init(&q->mtx);
	spin_lock_init(&q->lock);
	init_waitqueue_head(&q->wq);
	init_waitqueue_head(&q->poll_wait);
	init_irq_work(&q->wake_work, kevent_wake_workfn);
	INIT_WORK(&q->publish_work, kevent_publish_workfn);
	q->regs = RB_ROOT;
	for (i = 0; i < KEVENT_PRIO_LEVELS; i++)
		INIT_LIST_HEAD(&q->ready[i]);
	q->prio_bound = KEVENT_PRIO_BOUND_DEFAULT;
	INIT_LIST_HEAD(&q->check);
	INIT_LIST_HEAD(&q->zombies);
	INIT_LIST_HEAD(&q->children);
	INIT_LIST_HEAD(&q->parents);
	file->private_data = q;
	atomic_long_inc(&kevent_nr_queues);
	return stream_open(inode, file);
}

static int kevent_release(struct inode *inode, struct file *file)
{
	struct kevent_queue *q = file->private_data;
	struct kevent_user *u = q->user;
	struct rb_node *node;
	unsigned int n = 0;
	int i;

	mutex_lock(&q->mtx);
	kevent_reap_zombies(q);
	while ((node = rb_first(&q->regs))) {
		kevent_remove(q, rb_entry(node, struct kevent_reg, node));
		if (++n % 64 == 0)
			cond_resched();
	}
	mutex_unlock(&q->mtx);
	kevent_signal_release(q);
	/* no source is left that could queue either of these again */
	cancel_work_sync(&q->publish_work);
	irq_work_sync(&q->wake_work);
	for (i = 0; i < KEVENT_WAKERS; i++)
		put_pid(q->wakers[i]);
	kvfree(q->owner);
	kevent_ring_free(q->ring, q->pages, q->npages);
	kevent_uncharge(&u->ring_bytes, q->ring_charge);
	kfree(q);
	kevent_uncharge(&u->queues, 1);
	kevent_user_put(u);
	atomic_long_dec(&kevent_nr_queues);
	return 0;
}

static const struct file_operations kevent_fops = {
	.owner		= THIS_MODULE,
	.open		= kevent_open,
	.release	= kevent_release,
	.poll		= kevent_fpoll,
	.mmap		= kevent_mmap,
	.unlocked_ioctl	= kevent_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= no_llseek,
};

static struct miscdevice kevent_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kevent",
	.fops	= &kevent_fops,
	.mode	= 0666,
};

/* Defaults that scale with the machine, as epoll's and inotify's. */
static void __init kevent_default_limits(void)
{
	u64 ram = (u64)totalram_pages() << PAGE_SHIFT;
	u64 reg_cost = sizeof(struct kevent_reg) + sizeof(struct kevent_pwq);
	u64 mark_cost = sizeof(struct kevent_mark) + 2 * sizeof(void *) * 8;

	if (!max_user_queues)
		max_user_queues = 1024;
	if (!max_user_registrations)
		max_user_registrations = div64_u64(ram / 25, reg_cost);
	if (!max_user_ring_bytes)
		max_user_ring_bytes = max_t(u64, ram / 16, 16 << 20);
	if (!max_user_inode_watches)
		max_user_inode_watches = clamp_t(u64,
						 div64_u64(ram / 100, mark_cost),
						 8192, 1 << 20);
}

static int __init kevent_init(void)
{
	int err;

	kevent_default_limits();
	kevent_group = fsnotify_alloc_group(&kevent_fsnotify_ops,
					    FSNOTIFY_GROUP_USER |
					    FSNOTIFY_GROUP_DUPS);
	if (IS_ERR(kevent_group))
		return PTR_ERR(kevent_group);
	err = misc_register(&kevent_misc);
	if (err)
		fsnotify_put_group(kevent_group);
	return err;
}

static void __exit kevent_exit(void)
{
	misc_deregister(&kevent_misc);
	/* marks are freed by a worker calling kevent_inode_free_mark() */
	fsnotify_wait_marks_destroyed();
	fsnotify_put_group(kevent_group);
}

module_init(kevent_init);
module_exit(kevent_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("libkev developers");
MODULE_DESCRIPTION("kevent: event queues with a ring shared with user space");
