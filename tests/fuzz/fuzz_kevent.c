// SPDX-License-Identifier: MIT
/*
 * fuzz_kevent.c - a libFuzzer harness for libkev, written against
 * <kevent.h> only (it is the safety net of a rewrite behind the same ABI).
 *
 * Bytes become a sequence of operations on a few queues and a pool of real
 * objects: pipes, socketpairs, eventfds, a regular file, a directory, the
 * queues' own fds, closed numbers and huge ids.  Every kevent_ctl command
 * on every type with random fields, reads and writes on the objects,
 * closing fds behind the library's back (their numbers are then reused),
 * consuming, zero-timeout waits, signals, file changes, closing queues.
 *
 * A model of every queue follows along, and after each step the harness
 * checks (abort() on a violation, which libFuzzer reports as a crash):
 *   - kevent_ctl's return equals the entries without KEVENT_RET_ERROR;
 *     a successful entry has ret_flags and ret_data 0, a failed one a
 *     known errno; what the model can decide (EEXIST for a live key,
 *     ENOENT for an unknown one, REMOVE/ENABLE/DISABLE/READY of a live
 *     one succeeding, a REMOVE of a closed fd included) must hold;
 *   - every delivered (type, id) was registered when it was published,
 *     with its own user cookie, flags and a mask it asked for;
 *   - at most one ring entry per registration;
 *   - nothing published after REMOVE, while disabled, or after a DISPATCH
 *     delivery before ENABLE, or after a ONESHOT delivery;
 *   - USER deliveries never exceed the successful triggers, and equal them
 *     once the queue has settled;
 *   - a level fd left readable, and an edge fd with new activity, are
 *     delivered within the fairness bound of kevent(7) (S + R - 1
 *     publications: a settle of (R + S) / S + 3 drained waits);
 *   - at the end every queue still works: a user trigger, a timer and a
 *     pipe added then are all delivered (a queue whose timerfd or
 *     eventfd was taken away would fail here).
 *
 * Build: tools/fuzz (clang -fsanitize=fuzzer,address,undefined, with the
 * library's sources instrumented), or with -DKEV_FUZZ_STANDALONE, a main()
 * that replays files (meson's "fuzz-replay" test runs the seed corpus).
 * The backend is KEVENT_BACKEND's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <kevent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NQ	3	/* queues */
#define NOBJ	10	/* pool objects */
#define MAXREG	48	/* model registrations per queue */
#define NGRAVE	64	/* dead keys remembered per queue */
#define NHIST	32	/* past values of a registration's fields */
#define NFORBID	4	/* past disabled intervals remembered */
#define MAXOPS	160	/* operations per input */

static int verbose;
/*
 * Real inotify watches only with FUZZ_KEVENT_INODE set: closing an inotify
 * instance that had watches waits for an SRCU grace period (17 ms here),
 * which would make every input that registers an inode 50 times slower
 * than the rest.  Otherwise KEVENT_INODE entries name a number that is
 * not open (their error paths are still taken).  tools/fuzz --inode.
 */
static int inode_on;

#define fail(...)                                                          \
	do {                                                               \
		fprintf(stderr, "fuzz_kevent: invariant violated: ");      \
		fprintf(stderr, __VA_ARGS__);                              \
		fprintf(stderr, " (%s:%d)\n", __FILE__, __LINE__);         \
		abort();                                                   \
	} while (0)

/* ------------------------------------------------------------ input */

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint32_t u32(struct input *in)
{
	uint32_t v = u8(in);

	v |= (uint32_t)u8(in) << 8;
	v |= (uint32_t)u8(in) << 16;
	return v | (uint32_t)u8(in) << 24;
}

static uint64_t u64(struct input *in)
{
	uint64_t v = u32(in);

	return v | (uint64_t)u32(in) << 32;
}

/* ------------------------------------------------------------ objects */

enum okind { O_NONE, O_PIPE, O_SOCK, O_EVENTFD, O_FILE, O_DIR, O_NKIND };

struct obj {
	int kind;
	int fd;			/* the end that is registered */
	int peer;		/* the end that is written, or -1 */
	int last_fd;		/* the number fd had, once closed */
	uint32_t gen;		/* bumped whenever the slot changes */
	uint64_t bytes;		/* unread bytes (eventfd: the counter) */
	bool peer_closed;
	/*
	 * The peer was registered (with a backend that holds the file): the
	 * uring and kmod backends keep it open until REMOVE, and io_uring
	 * even past that, until it has torn down the poll (a closed queue's
	 * ring goes in the background), so the hang-up may not come (yet).
	 */
	bool peer_registered;
	bool peer_held;
};

/* The backend holds the files it polls (uring, kmod), or not (epoll). */
static bool holds_files;

static struct obj objs[NOBJ];
static char tmpdir[64], tmpfile_path[96];

static bool obj_in(const struct obj *o)
{
	switch (o->kind) {
	case O_PIPE:
	case O_SOCK:
		return o->bytes || (o->peer_closed && !o->peer_held);
	case O_EVENTFD:
		return o->bytes != 0;
	case O_FILE:
	case O_DIR:
		return true;
	}
	return false;
}

static bool obj_out(const struct obj *o)
{
	switch (o->kind) {
	case O_SOCK:
		return !o->peer_closed;
	case O_EVENTFD:
	case O_FILE:
	case O_DIR:
		return true;
	}
	return false;
}

/* poll(2) reports a hang-up whatever was asked for */
static bool obj_hup(const struct obj *o)
{
	return (o->kind == O_PIPE || o->kind == O_SOCK) && o->peer_closed &&
	       !o->peer_held;
}

static void obj_close(struct obj *o)
{
	int last = o->fd >= 0 ? o->fd : o->last_fd;
	uint32_t gen = o->gen;

	if (o->fd >= 0)
		close(o->fd);
	if (o->peer >= 0)
		close(o->peer);
	memset(o, 0, sizeof(*o));
	o->fd = o->peer = -1;
	o->last_fd = last;
	o->gen = gen;
}

static void obj_open(struct obj *o, int kind)
{
	uint32_t gen = o->gen + 1;
	int p[2];

	obj_close(o);
	o->gen = gen;
	switch (kind) {
	case O_PIPE:
		if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0) {
			o->fd = p[0];
			o->peer = p[1];
		}
		break;
	case O_SOCK:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
			       SOCK_CLOEXEC, 0, p) == 0) {
			o->fd = p[0];
			o->peer = p[1];
		}
		break;
	case O_EVENTFD:
		o->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		break;
	case O_FILE:
		o->fd = open(tmpfile_path, O_RDWR | O_CLOEXEC);
		break;
	case O_DIR:
		o->fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	}
	o->kind = o->fd >= 0 ? kind : O_NONE;
}

static struct obj *obj_by_fd(int fd)
{
	int i;

	for (i = 0; i < NOBJ; i++)
		if (objs[i].kind != O_NONE && objs[i].fd == fd)
			return &objs[i];
	return NULL;
}

/* ------------------------------------------------------------ model */

struct forbid {
	uint32_t lo, hi;	/* entries in [lo, hi) must not exist */
};

struct mreg {
	bool used;
	uint32_t type;
	uint64_t id;
	uint32_t req_flags;
	uint32_t prio;		/* its priority level (the last ADD/MODIFY) */
	/*
	 * The (user, req_flags) it had, each with the ring indices an entry
	 * carrying it may have: from the kidx before the call that set it to
	 * the kidx after the call that replaced it (publication during a
	 * call may take either).  Values older than the consumer's index are
	 * dropped; too many MODIFYs at once make the check lossy, never
	 * wrong.
	 */
	struct {
		uint64_t user;
		uint32_t flags;
		uint32_t from, to;	/* to: valid while 'open' */
		bool open;
	} hist[NHIST];
	int nhist;
	bool lossy;
	uint32_t masks;		/* OR of every POLL/INODE mask it had */
	uint32_t born;		/* kidx before its ADD */
	bool maybe_dead;	/* ONESHOT, PROC, INODE: may end by itself */
	/* disabled (DISABLE or a DISPATCH delivery) */
	bool disabled;
	uint32_t disabled_from;
	bool enable_seen;
	uint32_t enable_at;	/* kidx before the last ENABLE */
	struct forbid forbid[NFORBID];
	int nforbid;
	/* USER */
	uint64_t triggers, delivered;
	/* POLL on a pool object */
	int obj;		/* slot, or -1 */
	uint32_t obj_gen;
	bool et_pending;	/* new activity not yet delivered */
	bool got;		/* delivered during this settle */
	uint32_t event;		/* current event word */
};

struct grave {
	uint32_t type;
	uint64_t id;
	uint32_t dead_at;	/* entries before this may still come */
};

struct mq {
	int fd;			/* -1: closed */
	struct kevent_ring *ring;
	uint32_t size;
	struct mreg regs[MAXREG];
	struct grave graves[NGRAVE];
	int ngraves;
	bool settling;
	uint64_t slack;		/* KEVENT_OPT_TIMER_SLACK last set */
	uint64_t bound;		/* KEVENT_OPT_PRIO_BOUND last set */
	uint64_t stats;		/* KEVENT_OPT_STATS last set */
};

static struct mq qs[NQ];
/* ring sizes the input chose; a queue is opened when first used */
static uint8_t q_size[NQ];
static bool q_used[NQ];

static void q_open(struct mq *q, uint8_t sz);

/*
 * The queue an operation names, opened on first use: an input that uses
 * one queue does not pay for three (an io_uring ring is a dear thing to
 * set up and tear down).
 */
static struct mq *qget(uint8_t b)
{
	int i = b % NQ;

	if (!q_used[i]) {
		q_used[i] = true;
		q_open(&qs[i], q_size[i]);
	}
	return &qs[i];
}

static uint32_t kidx_of(const struct mq *q)
{
	return kevent_load_acquire(&q->ring->kidx);
}

/* a is at or after b, in free-running indices */
static bool idx_ge(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}

static struct mreg *find_reg(struct mq *q, uint32_t type, uint64_t id)
{
	int i;

	for (i = 0; i < MAXREG; i++)
		if (q->regs[i].used && q->regs[i].type == type &&
		    q->regs[i].id == id)
			return &q->regs[i];
	return NULL;
}

static struct grave *find_grave(struct mq *q, uint32_t type, uint64_t id)
{
	int i;

	for (i = 0; i < q->ngraves; i++)
		if (q->graves[i].type == type && q->graves[i].id == id)
			return &q->graves[i];
	return NULL;
}

static void bury(struct mq *q, struct mreg *r, uint32_t dead_at)
{
	struct grave *g = find_grave(q, r->type, r->id);

	if (!g) {
		if (q->ngraves == NGRAVE) {
			/* forget the oldest: fewer checks, never a false one */
			memmove(q->graves, q->graves + 1,
				(NGRAVE - 1) * sizeof(*g));
			q->ngraves--;
		}
		g = &q->graves[q->ngraves++];
		g->type = r->type;
		g->id = r->id;
	}
	g->dead_at = dead_at;
	r->used = false;
}

/* A new (user, flags) from a call that started at kidx 'from'. */
static void hist_set(struct mq *q, struct mreg *r, uint64_t user,
		     uint32_t flags, uint32_t from, uint32_t after)
{
	uint32_t u = kevent_load_relaxed(&q->ring->uidx);
	int i, j;

	if (r->nhist) {
		r->hist[r->nhist - 1].open = false;
		r->hist[r->nhist - 1].to = after;
	}
	/* drop what no unconsumed entry can carry */
	for (i = j = 0; i < r->nhist; i++)
		if (r->hist[i].open || idx_ge(r->hist[i].to, u))
			r->hist[j++] = r->hist[i];
	r->nhist = j;
	if (r->nhist == NHIST) {
		memmove(r->hist, r->hist + 1, (NHIST - 1) * sizeof(r->hist[0]));
		r->nhist--;
		r->lossy = true;
	}
	r->hist[r->nhist].user = user;
	r->hist[r->nhist].flags = flags;
	r->hist[r->nhist].from = from;
	r->hist[r->nhist].to = 0;
	r->hist[r->nhist].open = true;
	r->nhist++;
}

/* Did the registration have this (user, flags) when entry idx came? */
static bool hist_ok(const struct mreg *r, uint64_t user, uint32_t flags,
		    uint32_t idx)
{
	int i;

	if (r->lossy)
		return true;
	for (i = 0; i < r->nhist; i++)
		if (r->hist[i].user == user && r->hist[i].flags == flags &&
		    idx_ge(idx, r->hist[i].from) &&
		    (r->hist[i].open || !idx_ge(idx, r->hist[i].to)))
			return true;
	return false;
}

static void add_forbid(struct mreg *r, uint32_t lo, uint32_t hi)
{
	if (r->nforbid == NFORBID) {
		memmove(r->forbid, r->forbid + 1,
			(NFORBID - 1) * sizeof(r->forbid[0]));
		r->nforbid--;
	}
	r->forbid[r->nforbid].lo = lo;
	r->forbid[r->nforbid++].hi = hi;
}

static bool obj_alive(const struct mreg *r)
{
	return r->obj >= 0 && objs[r->obj].kind != O_NONE &&
	       objs[r->obj].gen == r->obj_gen;
}

/* ------------------------------------------------------------ checks */

/* The errnos an entry may carry. */
static bool known_errno(uint64_t e)
{
	switch (e) {
	case EINVAL: case EEXIST: case ENOENT: case EBADF: case ELOOP:
	case ESRCH: case ENOMEM: case ENOSPC: case EMFILE: case ENFILE:
	case EPERM: case EACCES:
		return true;
	}
	return false;
}

/* The ring: its indices and, for each registration, at most one entry. */
static void check_ring(struct mq *q)
{
	uint32_t k = kidx_of(q), u = kevent_load_relaxed(&q->ring->uidx), i;
	struct mreg *seen[64];
	int nseen = 0, j;

	if (k - u > q->size)
		fail("ring holds %u entries, size %u", k - u, q->size);
	for (i = u; i != k; i++) {
		const struct ukevent *e =
			&kevent_ring_entries(q->ring)[i & q->ring->mask];
		struct mreg *r = find_reg(q, e->type, e->id);

		if (!r || !idx_ge(i, r->born))
			continue;
		for (j = 0; j < nseen; j++)
			if (seen[j] == r)
				fail("two entries of (%u, %llu) in the ring",
				     e->type, (unsigned long long)e->id);
		if (nseen < 64)
			seen[nseen++] = r;
	}
}

/* One entry taken from the ring at index idx. */
static void check_entry(struct mq *q, const struct ukevent *e, uint32_t idx)
{
	struct mreg *r;
	struct grave *g;
	int i;

	if (verbose)
		fprintf(stderr, "  q%d entry %u: type %u id %llu event %#x "
			"flags %#x ret %#x data %llu user %#llx\n",
			(int)(q - qs), idx, e->type, (unsigned long long)e->id,
			e->event, e->req_flags, e->ret_flags,
			(unsigned long long)e->ret_data,
			(unsigned long long)e->user);
	if (e->type >= KEVENT_TYPE_MAX)
		fail("entry of type %u", e->type);
	if (e->ret_flags & KEVENT_RET_ERROR)
		fail("entry with KEVENT_RET_ERROR");
	if (e->__reserved0)
		fail("entry with reserved bits");
	if (e->prio > KEVENT_PRIO_MAX)
		fail("entry with priority %u", e->prio);
	r = find_reg(q, e->type, e->id);
	if (!r || !idx_ge(idx, r->born)) {
		g = find_grave(q, e->type, e->id);
		if (!g || idx_ge(idx, g->dead_at))
			fail("entry %u of (%u, %llu), not registered when "
			     "published", idx, e->type,
			     (unsigned long long)e->id);
		return;		/* published before its REMOVE: stale, fine */
	}
	if (!hist_ok(r, e->user, e->req_flags, idx))
		fail("entry %u of (%u, %llu): user %#llx and req_flags %#x "
		     "are not what it had when published", idx, e->type,
		     (unsigned long long)e->id, (unsigned long long)e->user,
		     e->req_flags);
	if (r->disabled && idx_ge(idx, r->disabled_from))
		fail("entry %u of (%u, %llu) while disabled since %u", idx,
		     e->type, (unsigned long long)e->id, r->disabled_from);
	for (i = 0; i < r->nforbid; i++)
		if (idx_ge(idx, r->forbid[i].lo) &&
		    !idx_ge(idx, r->forbid[i].hi))
			fail("entry %u of (%u, %llu) published while disabled",
			     idx, e->type, (unsigned long long)e->id);
	switch (e->type) {
	case KEVENT_POLL:
		if (!e->event)
			fail("POLL %llu delivered with nothing that fired",
			     (unsigned long long)e->id);
		if (e->event & ~(r->masks | KEVENT_POLL_ERR | KEVENT_POLL_HUP))
			fail("POLL %llu: event %#x, asked %#x",
			     (unsigned long long)e->id, e->event, r->masks);
		break;
	case KEVENT_INODE:
		if (e->event & ~(r->masks | KEVENT_INODE_DELETE_SELF))
			fail("INODE %llu: event %#x, asked %#x",
			     (unsigned long long)e->id, e->event, r->masks);
		break;
	case KEVENT_USER:
		if (!e->ret_data)
			fail("USER %llu delivered with a count of 0",
			     (unsigned long long)e->id);
		r->delivered += e->ret_data;
		if (r->delivered > r->triggers)
			fail("USER %llu: %llu delivered, %llu triggered",
			     (unsigned long long)e->id,
			     (unsigned long long)r->delivered,
			     (unsigned long long)r->triggers);
		break;
	case KEVENT_TIMER:
	case KEVENT_SIGNAL:
		if (!e->ret_data)
			fail("(%u, %llu) delivered with a count of 0", e->type,
			     (unsigned long long)e->id);
		break;
	}
	r->got = true;
	r->et_pending = false;
	if (e->ret_flags & KEVENT_RET_REMOVED) {
		if (!r->maybe_dead)
			fail("(%u, %llu) removed by a delivery",
			     e->type, (unsigned long long)e->id);
		bury(q, r, idx + 1);
		return;
	}
	if (e->req_flags & KEVENT_REQ_ONESHOT)
		fail("ONESHOT (%u, %llu) without KEVENT_RET_REMOVED", e->type,
		     (unsigned long long)e->id);
	/* DISPATCH: disabled from here, unless enabled since publication */
	if ((e->req_flags & KEVENT_REQ_DISPATCH) && !r->disabled &&
	    !(r->enable_seen && idx_ge(r->enable_at, idx + 1))) {
		r->disabled = true;
		r->disabled_from = idx + 1;
	}
}

static unsigned int consume(struct mq *q, unsigned int max)
{
	unsigned int n = 0;
	struct ukevent e;

	while (n < max) {
		uint32_t idx = kevent_load_relaxed(&q->ring->uidx);

		if (!kevent_ring_consume(q->ring, &e))
			break;
		check_entry(q, &e, idx);
		n++;
	}
	return n;
}

static int wait0(struct mq *q, unsigned int min_nr)
{
	struct timespec zero = { 0, 0 };
	int r, tries = 0;

	/* uring: task work of a ring torn down may interrupt a wait */
	do
		r = kevent_wait(q->fd, min_nr, &zero);
	while (r < 0 && errno == EINTR && ++tries < 100);
	if (r < 0)
		fail("kevent_wait(%u, 0): %s", min_nr, strerror(errno));
	if ((unsigned int)r > q->size)
		fail("kevent_wait returned %d, ring of %u", r, q->size);
	return r;
}

static int nlive(const struct mq *q)
{
	int i, n = 0;

	for (i = 0; i < MAXREG; i++)
		n += q->regs[i].used;
	return n;
}

/* The highest priority level of the live registrations. */
static uint32_t top_prio(const struct mq *q)
{
	uint32_t top = 0;
	int i;

	for (i = 0; i < MAXREG; i++)
		if (q->regs[i].used && q->regs[i].prio > top)
			top = q->regs[i].prio;
	return top;
}

/*
 * Drain and wait with a zero timeout as many times as the fairness bound
 * needs for everything ready to be published, then check what had to be.
 * With several priority levels the fairness bound holds for the highest
 * level only (a lower one may wait for KEVENT_OPT_PRIO_BOUND entries of
 * higher levels, kevent(7)); entries of lower levels forced out by the
 * starvation bound come at most one per higher entry, hence twice the
 * rounds.
 */
static void settle(struct mq *q)
{
	int rounds, i, j;
	uint32_t top;

	if (q->fd < 0)
		return;
	rounds = 2 * (nlive(q) + (int)q->size) / (int)q->size + 3;
	top = top_prio(q);
	for (j = 0; j < MAXREG; j++)
		q->regs[j].got = false;
	consume(q, ~0u);
	for (i = 0; i < rounds; i++) {
		wait0(q, 1);
		consume(q, ~0u);
		check_ring(q);
	}
	for (j = 0; j < MAXREG; j++) {
		struct mreg *r = &q->regs[j];
		const struct obj *o;
		bool must = false;

		if (!r->used || r->disabled || r->prio < top)
			continue;
		if (r->type == KEVENT_USER && r->delivered != r->triggers)
			fail("USER %llu: %llu triggers, %llu delivered after "
			     "settling", (unsigned long long)r->id,
			     (unsigned long long)r->triggers,
			     (unsigned long long)r->delivered);
		if (r->type != KEVENT_POLL || !obj_alive(r) || r->got)
			continue;
		o = &objs[r->obj];
		if (r->req_flags & KEVENT_REQ_ET) {
			must = r->et_pending && ((r->event & KEVENT_POLL_IN &&
						  obj_in(o)) || obj_hup(o));
		} else {
			must = (r->event & KEVENT_POLL_IN && obj_in(o)) ||
			       (r->event & KEVENT_POLL_OUT && obj_out(o)) ||
			       obj_hup(o);
		}
		if (must)
			fail("POLL %llu (object kind %d, %s, event %#x) ready "
			     "but not delivered in %d rounds of a ring of %u, "
			     "%d registrations", (unsigned long long)r->id,
			     o->kind, r->req_flags & KEVENT_REQ_ET ? "ET" :
			     "LT", r->event, rounds, q->size, nlive(q));
	}
}

/* ------------------------------------------------------------ queues */

static const uint32_t ring_sizes[] = { 1, 2, 4, 8, 16, 64 };

static void q_close(struct mq *q)
{
	if (q->fd >= 0 && kevent_close(q->fd) < 0)
		fail("kevent_close: %s", strerror(errno));
	memset(q, 0, sizeof(*q));
	q->fd = -1;
}

static void q_open(struct mq *q, uint8_t sz)
{
	int tries = 0;

	q_close(q);
	/*
	 * Out of memory or descriptors is an answer kevent_init may give,
	 * not a finding: io_uring frees the rings of closed queues in the
	 * background, and a run that closes thousands a second can outpace
	 * it for a while.  Wait a little, then go on without this queue.
	 */
	while ((q->fd = kevent_init(&q->ring, ring_sizes[sz % 6], 0)) < 0 &&
	       (errno == ENOMEM || errno == EMFILE || errno == ENFILE ||
		errno == EAGAIN) && ++tries < 200)
		usleep(5000);
	if (q->fd < 0 && tries == 200) {
		q->fd = -1;
		return;
	}
	if (q->fd < 0)
		fail("kevent_init: %s", strerror(errno));
	q->size = q->ring->size;
	if (q->size != ring_sizes[sz % 6])
		fail("ring of %u for %u", q->size, ring_sizes[sz % 6]);
	q->slack = KEVENT_TIMER_SLACK_DEFAULT;
	q->bound = KEVENT_PRIO_BOUND_DEFAULT;
	q->stats = 0;
}

/* ------------------------------------------------------------ options */

static bool has_timer(const struct mq *q)
{
	int i;

	for (i = 0; i < MAXREG; i++)
		if (q->regs[i].used && q->regs[i].type == KEVENT_TIMER)
			return true;
	return false;
}

/*
 * kevent_setopt/kevent_getopt with any option and value: EINVAL outside
 * the options and their ranges, EBUSY only under a timer, and the value
 * read back is the last one set.  (A one-shot timer the model still holds
 * may be gone already, delivered and not yet consumed: then either answer
 * is right.)
 */
static void do_opt(struct input *in)
{
	static const uint64_t values[] = {
		0, 1, KEVENT_TIMER_SLACK_DEFAULT, KEVENT_TIMER_SLACK_MAX,
		KEVENT_TIMER_SLACK_MAX + 1, UINT64_MAX,
		KEVENT_PRIO_BOUND_MAX, KEVENT_PRIO_BOUND_MAX + 1,
	};
	struct mq *q = qget(u8(in));
	uint8_t b = u8(in);
	uint8_t which = u8(in);
	unsigned int opt = which % 3 == 1 ? KEVENT_OPT_PRIO_BOUND :
			   which % 3 == 2 ? KEVENT_OPT_STATS :
			   KEVENT_OPT_TIMER_SLACK;
	uint64_t v, got = 0, *model;
	bool valid;
	int r;

	if (b % 4 == 1)
		opt = 0;
	else if (b % 4 == 2)
		opt = KEVENT_OPT_MAX;
	else if (b % 4 == 3)
		opt = (unsigned int)u64(in);
	v = b / 4 % 16 < 8 ? values[b / 4 % 16] : u64(in);
	valid = (opt == KEVENT_OPT_TIMER_SLACK &&
		 v <= KEVENT_TIMER_SLACK_MAX) ||
		(opt == KEVENT_OPT_PRIO_BOUND && v >= 1 &&
		 v <= KEVENT_PRIO_BOUND_MAX) ||
		(opt == KEVENT_OPT_STATS && v <= 1);
	model = opt == KEVENT_OPT_PRIO_BOUND ? &q->bound :
		opt == KEVENT_OPT_STATS ? &q->stats : &q->slack;

	if (q->fd < 0)
		return;
	errno = 0;
	r = kevent_setopt(q->fd, opt, v);
	if (!valid && (r != -1 || errno != EINVAL))
		fail("setopt(%u, %llu): %d %s, not EINVAL", opt,
		     (unsigned long long)v, r, strerror(errno));
	if (valid && r < 0 &&
	    (errno != EBUSY || opt != KEVENT_OPT_TIMER_SLACK || !has_timer(q)))
		fail("setopt(%u, %llu): %s", opt, (unsigned long long)v,
		     strerror(errno));
	if (valid && r == 0)
		*model = v;
	r = kevent_getopt(q->fd, opt, &got);
	if (opt != KEVENT_OPT_TIMER_SLACK && opt != KEVENT_OPT_PRIO_BOUND &&
	    opt != KEVENT_OPT_STATS) {
		if (r != -1 || errno != EINVAL)
			fail("getopt(%u): %d %s", opt, r, strerror(errno));
	} else if (r != 0 || got != *model) {
		fail("getopt(%u) %d = %llu, set %llu", opt, r,
		     (unsigned long long)got, (unsigned long long)*model);
	}
}

/* ------------------------------------------------------------ ctl */

static const int sigs[] = { SIGUSR1, SIGUSR2, 0 /* SIGRTMIN + 1 */ };

static int fuzz_sig(int i)
{
	return sigs[i] ? sigs[i] : SIGRTMIN + 1;
}

static uint64_t pick_id(struct input *in, uint32_t type)
{
	uint8_t how = u8(in);
	struct obj *o;
	int i;

	switch (how % 8) {
	case 0: case 1: case 2:
		/*
		 * A pool object (for POLL/INODE), or the number it had before
		 * it was closed; else a small id.
		 */
		o = &objs[u8(in) % NOBJ];
		if (type == KEVENT_POLL || type == KEVENT_INODE)
			return o->fd >= 0 ? (uint64_t)o->fd :
			       o->last_fd >= 0 ? (uint64_t)o->last_fd : 1000;
		return how % 4;
	case 3:
		i = u8(in) % NQ;	/* a queue's fd */
		return qget((uint8_t)i)->fd >= 0 ? (uint64_t)qs[i].fd : 2000;
	case 4:
		if (type == KEVENT_SIGNAL)
			return (uint64_t)fuzz_sig(u8(in) % 3);
		if (type == KEVENT_PROC)
			return u8(in) & 1 ? (uint64_t)getpid() :
					    (uint64_t)getppid();
		return u8(in) % 16;
	case 5:
		return u8(in) % 64;	/* any small number, ours or not */
	case 6:
		return u64(in);		/* huge */
	default:
		return how % 3 + (type == KEVENT_SIGNAL ? SIGUSR1 : 0);
	}
}

static uint32_t pick_event(struct input *in, uint32_t type)
{
	uint8_t b = u8(in);

	if (b == 0xff)
		return u32(in);	/* anything, mostly invalid */
	switch (type) {
	case KEVENT_POLL:
		return (b & 7 ? KEVENT_POLL_IN : 0) |
		       (b & 8 ? KEVENT_POLL_OUT : 0) |
		       (b & 16 ? KEVENT_POLL_RDHUP : 0) |
		       (b & 32 ? KEVENT_POLL_PRI : 0);
	case KEVENT_TIMER:
		return (b & 3) % 3 | (b & 4 ? KEVENT_TIMER_ABSTIME : 0);
	case KEVENT_USER:
		return b & 0x80 ? 0 : b;
	case KEVENT_SIGNAL:
		return b == 7 ? 1 : 0;
	case KEVENT_INODE:
		return b & KEVENT_INODE_MASK;
	case KEVENT_PROC:
		return b & 1;
	}
	return b;
}

static uint64_t pick_data(struct input *in, uint32_t type, uint32_t event)
{
	uint8_t b = u8(in);
	struct timespec ts;

	if (type != KEVENT_TIMER)
		return b == 0xff ? u64(in) : b;
	/*
	 * Mostly timers that never fire during a run: each firing costs a
	 * timerfd_settime, the dearest system call of a run on a virtual
	 * machine, and the always-firing timer would dominate the time.
	 */
	switch (b % 16 < 6 ? b % 16 : b % 16 < 12 ? 2 : b % 16 - 6) {
	case 0:
		return 0;
	case 1:
		/* a microsecond: always firing; a timerfd_settime per wait */
		return b & 0xc0 ? 10000000 : 1000;
	case 2:
		return 3600ull * 1000000000;	/* never during a run */
	case 3:
		if (event & KEVENT_TIMER_ABSTIME) {	/* in the past */
			clock_gettime((event & 3) == 1 ? CLOCK_REALTIME :
				      (event & 3) == 2 ? CLOCK_BOOTTIME :
				      CLOCK_MONOTONIC, &ts);
			return (uint64_t)ts.tv_sec * 1000000000u / 2;
		}
		return 5000000;		/* 5 ms */
	case 4:
		return u64(in);
	default:
		return (uint64_t)u8(in) * 1000000;	/* up to 255 ms */
	}
}

/* The user cookie of an entry: checkable, and varied by MODIFY. */
static uint64_t cookie(uint32_t type, uint64_t id, uint8_t v)
{
	return (id * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)type << 56) ^ v;
}

static void do_ctl(struct input *in)
{
	struct mq *q = qget(u8(in));
	unsigned int cmd = u8(in) % 7, n = u8(in) % 4 + 1, i, errs = 0;
	struct ukevent ev[4];
	uint32_t before;
	int ret;

	if (q->fd < 0)
		return;
	if (cmd == 6)
		cmd = KEVENT_CTL_READY;
	memset(ev, 0, sizeof(ev));
	for (i = 0; i < n; i++) {
		uint8_t t = u8(in);
		uint32_t type = t % 7 == 6 ? t : t % 7 % 6;

		ev[i].type = type;
		ev[i].id = pick_id(in, type);
		if (type == KEVENT_INODE && cmd == KEVENT_CTL_ADD && !inode_on)
			ev[i].id = 1u << 30;	/* EBADF */
		ev[i].event = pick_event(in, type);
		ev[i].req_flags = u8(in);
		if (ev[i].req_flags & 0x80)
			ev[i].req_flags = u32(in);	/* invalid bits */
		else
			ev[i].req_flags &= KEVENT_REQ_MASK;
		if (type != KEVENT_POLL && (ev[i].req_flags & KEVENT_REQ_ET) &&
		    !(t & 0x40))
			ev[i].req_flags &= ~KEVENT_REQ_ET;
		if ((ev[i].req_flags & KEVENT_REQ_ONESHOT) &&
		    (ev[i].req_flags & KEVENT_REQ_DISPATCH) && !(t & 0x20))
			ev[i].req_flags &= ~KEVENT_REQ_DISPATCH;
		ev[i].data = pick_data(in, type, ev[i].event);
		ev[i].user = cookie(type, ev[i].id, u8(in) & 3);
		ev[i].ret_flags = u8(in) == 0xee ? 0xffffffff : 0;
		ev[i].ret_data = 0xdeadbeef;
		{
			uint8_t rb = u8(in);

			if (rb == 0xfe)
				ev[i].__reserved0 = 1;
			else if (rb == 0xfb)	/* output only: ignored */
				ev[i].stamp = u64(in);
		}
		{
			uint8_t pb = u8(in);

			ev[i].prio = pb == 0xfd ? KEVENT_PRIO_MAX + 1 + u8(in) :
				     pb == 0xfc ? 1u << 31 : pb & 7u;
		}
	}
	/* what the model knows before (batches apply in order) */
	before = kidx_of(q);
	ret = kevent_ctl(q->fd, cmd, n, ev);
	if (verbose)
		for (i = 0; i < n; i++)
			fprintf(stderr, "  q%d ctl %u: type %u id %llu event %#x "
				"flags %#x data %llu user %#llx -> %s\n",
				(int)(q - qs), cmd, ev[i].type,
				(unsigned long long)ev[i].id, ev[i].event,
				ev[i].req_flags, (unsigned long long)ev[i].data,
				(unsigned long long)ev[i].user,
				ev[i].ret_flags & KEVENT_RET_ERROR ?
				strerror((int)ev[i].ret_data) : "ok");
	if (ret < 0)
		fail("kevent_ctl(cmd %u, %u entries): %s", cmd, n,
		     strerror(errno));
	for (i = 0; i < n; i++) {
		struct ukevent *e = &ev[i];
		struct mreg *r = find_reg(q, e->type, e->id);
		bool ok = !(e->ret_flags & KEVENT_RET_ERROR);
		uint64_t err = e->ret_data;

		if (ok && (e->ret_flags || e->ret_data))
			fail("successful entry with ret_flags %#x ret_data %llu",
			     e->ret_flags, (unsigned long long)e->ret_data);
		if (!ok) {
			errs++;
			if (e->ret_flags != KEVENT_RET_ERROR || !known_errno(err))
				fail("failed entry: ret_flags %#x errno %llu",
				     e->ret_flags, (unsigned long long)err);
		}
		if (e->type >= KEVENT_TYPE_MAX) {
			if (ok || err != EINVAL)
				fail("type %u accepted", e->type);
			continue;
		}
		if ((cmd == KEVENT_CTL_ADD || cmd == KEVENT_CTL_MODIFY) &&
		    e->prio > KEVENT_PRIO_MAX && (ok || err != EINVAL))
			fail("priority %u: %s, not EINVAL", e->prio,
			     ok ? "accepted" : strerror((int)err));
		switch (cmd) {
		case KEVENT_CTL_ADD:
			/* invalid fields may be found before the key */
			if (r && !r->maybe_dead &&
			    (ok || (err != EEXIST && err != EINVAL)))
				fail("ADD of live (%u, %llu): %s", e->type,
				     (unsigned long long)e->id,
				     ok ? "success" : strerror((int)err));
			if (!ok)
				break;
			if (r)	/* ended by itself, since published */
				bury(q, r, before);
			{
				int j;

				for (j = 0; j < MAXREG && q->regs[j].used; j++)
					;
				if (j == MAXREG) {
					/* the model is full: forget the queue */
					q_open(q, (uint8_t)(q->size & 7));
					return;
				}
				r = &q->regs[j];
			}
			memset(r, 0, sizeof(*r));
			r->used = true;
			r->type = e->type;
			r->id = e->id;
			r->req_flags = e->req_flags;
			r->prio = e->prio;
			r->event = e->event;
			r->masks = e->event;
			hist_set(q, r, e->user, e->req_flags, before,
				 kidx_of(q));
			r->born = before;
			r->maybe_dead = (e->req_flags & KEVENT_REQ_ONESHOT) ||
					e->type == KEVENT_PROC ||
					e->type == KEVENT_INODE;
			r->obj = -1;
			if (e->type == KEVENT_POLL) {
				struct obj *o = obj_by_fd((int)e->id);
				int k;

				for (k = 0; k < NOBJ; k++)
					if (objs[k].kind != O_NONE &&
					    objs[k].peer == (int)e->id)
						objs[k].peer_registered = true;

				if (o) {
					r->obj = (int)(o - objs);
					r->obj_gen = o->gen;
				}
				r->et_pending = true;
			}
			break;
		case KEVENT_CTL_REMOVE:
			if (r && !r->maybe_dead && !ok)
				fail("REMOVE of live (%u, %llu): %s", e->type,
				     (unsigned long long)e->id,
				     strerror((int)err));
			if (!r && (ok || err != ENOENT))
				fail("REMOVE of unknown (%u, %llu): %s",
				     e->type, (unsigned long long)e->id,
				     ok ? "success" : strerror((int)err));
			if (r && ok)
				bury(q, r, kidx_of(q));
			else if (r && err == ENOENT)
				bury(q, r, before);
			break;
		default:
			/* MODIFY checks its fields before the key */
			if (!r && (ok || (err != ENOENT &&
					  !(cmd == KEVENT_CTL_MODIFY &&
					    (err == EINVAL || err == EBADF)))))
				fail("cmd %u of unknown (%u, %llu): %s", cmd,
				     e->type, (unsigned long long)e->id,
				     ok ? "success" : strerror((int)err));
			if (!r)
				break;
			if (!ok && err == ENOENT) {
				if (!r->maybe_dead)
					fail("cmd %u of live (%u, %llu): ENOENT",
					     cmd, e->type,
					     (unsigned long long)e->id);
				bury(q, r, before);
				break;
			}
			if (cmd == KEVENT_CTL_ENABLE || cmd == KEVENT_CTL_DISABLE) {
				if (!ok)
					fail("cmd %u of live (%u, %llu): %s",
					     cmd, e->type,
					     (unsigned long long)e->id,
					     strerror((int)err));
				if (cmd == KEVENT_CTL_DISABLE && !r->disabled) {
					r->disabled = true;
					r->disabled_from = kidx_of(q);
				} else if (cmd == KEVENT_CTL_ENABLE) {
					if (r->disabled)
						add_forbid(r, r->disabled_from,
							   before);
					r->disabled = false;
					r->enable_seen = true;
					r->enable_at = before;
					/* pending edges come now */
				}
			} else if (cmd == KEVENT_CTL_READY) {
				if (r->type == KEVENT_USER && !ok)
					fail("READY of live USER %llu: %s",
					     (unsigned long long)e->id,
					     strerror((int)err));
				if (r->type != KEVENT_USER &&
				    (ok || err != EINVAL))
					fail("READY of type %u: %s", r->type,
					     ok ? "success" :
					     strerror((int)err));
				if (ok)
					r->triggers++;
			} else if (cmd == KEVENT_CTL_MODIFY && ok) {
				r->req_flags = e->req_flags;
				r->prio = e->prio;
				r->event = e->event;
				r->masks |= e->event;
				hist_set(q, r, e->user, e->req_flags, before,
					 kidx_of(q));
				r->maybe_dead |= !!(e->req_flags &
						    KEVENT_REQ_ONESHOT);
				r->et_pending = true;
			}
			break;
		}
	}
	if ((unsigned int)ret != n - errs)
		fail("kevent_ctl returned %d, %u entries without an error",
		     ret, n - errs);
	check_ring(q);
}

/* ------------------------------------------------------------ objects */

static void mark_activity(struct obj *o, bool hup)
{
	int qi, j;

	for (qi = 0; qi < NQ; qi++)
		for (j = 0; j < MAXREG; j++) {
			struct mreg *r = &qs[qi].regs[j];

			if (r->used && r->type == KEVENT_POLL && r->obj >= 0 &&
			    &objs[r->obj] == o && r->obj_gen == o->gen &&
			    ((r->event & KEVENT_POLL_IN) || hup))
				r->et_pending = true;
		}
}

static void do_write(struct input *in)
{
	struct obj *o = &objs[u8(in) % NOBJ];
	uint8_t n = u8(in) % 8 + 1;
	char buf[8] = "abcdefgh";
	uint64_t one = 1;

	switch (o->kind) {
	case O_PIPE:
	case O_SOCK:
		if (o->peer < 0 || o->bytes > 4096)
			return;
		if (write(o->peer, buf, n) == n) {
			o->bytes += n;
			mark_activity(o, false);
		}
		break;
	case O_EVENTFD:
		if (write(o->fd, &one, sizeof(one)) == sizeof(one)) {
			o->bytes++;
			mark_activity(o, false);
		}
		break;
	case O_FILE:
		if (pwrite(o->fd, buf, n, 0) != n)
			return;
		break;
	}
}

static void do_read(struct input *in)
{
	struct obj *o = &objs[u8(in) % NOBJ];
	uint8_t n = u8(in);
	char buf[256];
	uint64_t v;
	ssize_t r;

	switch (o->kind) {
	case O_PIPE:
	case O_SOCK:
		r = read(o->fd, buf, n ? n : sizeof(buf));
		if (r > 0)
			o->bytes -= (uint64_t)r < o->bytes ? (uint64_t)r :
								o->bytes;
		break;
	case O_EVENTFD:
		if (read(o->fd, &v, sizeof(v)) == sizeof(v))
			o->bytes = 0;
		break;
	}
}

/* The peer goes: the registered end hangs up. */
static void do_close_peer(struct input *in)
{
	struct obj *o = &objs[u8(in) % NOBJ];

	if ((o->kind == O_PIPE || o->kind == O_SOCK) && o->peer >= 0) {
		o->peer_held = o->peer_registered && holds_files;
		close(o->peer);
		o->peer = -1;
		o->peer_closed = true;
		/* a held peer does not go: no wake-up, no new edge */
		if (!o->peer_held)
			mark_activity(o, true);
	}
}

/*
 * Close an object behind the library's back (a caller error the contract
 * survives: a later REMOVE of it succeeds), and maybe open another at
 * once, which takes the lowest free number, often the one just closed.
 */
static void do_close_obj(struct input *in)
{
	uint8_t b = u8(in);
	struct obj *o = &objs[(b & 15) % NOBJ];

	obj_close(o);
	o->gen++;
	if (b & 0x80)
		obj_open(&objs[((b >> 4) & 7) % NOBJ],
			 u8(in) % (O_NKIND - 1) + 1);
}

static void do_inode(struct input *in)
{
	uint8_t b = u8(in);
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/e%d", tmpdir, b % 4);
	switch (b / 4 % 4) {
	case 0:
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		break;
	case 1:
		unlink(path);
		break;
	case 2:
		chmod(tmpfile_path, b & 0x40 ? 0600 : 0644);
		break;
	default:
		fd = open(tmpfile_path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "m", 1) != 1)
				fail("write to the temporary file");
			close(fd);
		}
	}
}

/* ------------------------------------------------------------ liveness */

static void liveness(struct mq *q)
{
	struct ukevent ev[3], out;
	struct timespec ts, limit = { 5, 0 };
	unsigned int got = 0, want = 7, guard = 0;
	int p[2];

	if (q->fd < 0)
		return;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return;		/* out of descriptors: nothing to say */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	memset(ev, 0, sizeof(ev));
	ev[0].type = KEVENT_USER;
	ev[0].id = 0xfee1;
	ev[1].type = KEVENT_TIMER;
	ev[1].id = 0xfee1;
	ev[1].event = KEVENT_TIMER_ABSTIME;
	ev[1].req_flags = KEVENT_REQ_ONESHOT;
	ev[1].data = (uint64_t)ts.tv_sec * 1000000000u;	/* in the past */
	ev[2].type = KEVENT_POLL;
	ev[2].id = (uint64_t)p[0];
	ev[2].event = KEVENT_POLL_IN;
	ev[2].req_flags = KEVENT_REQ_ONESHOT;
	if (kevent_ctl(q->fd, KEVENT_CTL_ADD, 3, ev) != 3) {
		int i;

		/* the ids may be taken by the input: then no probe */
		for (i = 0; i < 3; i++)
			if ((ev[i].ret_flags & KEVENT_RET_ERROR) &&
			    ev[i].ret_data != EEXIST && ev[i].ret_data != EMFILE)
				fail("liveness ADD %d: %s", i,
				     strerror((int)ev[i].ret_data));
		close(p[0]);
		close(p[1]);
		return;
	}
	ev[0].ret_flags = 0;
	if (kevent_ctl(q->fd, KEVENT_CTL_READY, 1, ev) != 1 ||
	    write(p[1], "L", 1) != 1)
		fail("liveness trigger");
	while (got != want && guard++ < 100000) {
		if (ukevent_dequeue(q->fd, q->ring, &out, &limit) < 0) {
			if (errno == EINTR)
				continue;
			fail("liveness: %s after %#x (the queue lost a %s)",
			     strerror(errno), got,
			     !(got & 1) ? "user trigger" : !(got & 2) ?
			     "timer" : "pipe");
		}
		if (out.id == 0xfee1 && out.type == KEVENT_USER)
			got |= 1;
		else if (out.id == 0xfee1 && out.type == KEVENT_TIMER)
			got |= 2;
		else if (out.type == KEVENT_POLL && out.id == (uint64_t)p[0] &&
			 (out.ret_flags & KEVENT_RET_REMOVED))
			got |= 4;
		/* else one of the input's own events */
	}
	close(p[0]);
	close(p[1]);
	/* the model no longer describes this queue: start it afresh */
	q_close(q);
}

/* ------------------------------------------------------------ driver */

static void setup_once(void)
{
	static int done;
	sigset_t s;
	int fd, i;

	if (done)
		return;
	done = 1;
	verbose = getenv("FUZZ_KEVENT_VERBOSE") != NULL;
	inode_on = getenv("FUZZ_KEVENT_INODE") &&
		   *getenv("FUZZ_KEVENT_INODE") == '1';
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/fuzz-kevent-XXXXXX");
	if (!mkdtemp(tmpdir))
		fail("mkdtemp: %s", strerror(errno));
	snprintf(tmpfile_path, sizeof(tmpfile_path), "%s/file", tmpdir);
	fd = open(tmpfile_path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		fail("open %s: %s", tmpfile_path, strerror(errno));
	close(fd);
	/* watched signals must be blocked */
	sigemptyset(&s);
	for (i = 0; i < 3; i++)
		sigaddset(&s, fuzz_sig(i));
	sigprocmask(SIG_BLOCK, &s, NULL);
	for (i = 0; i < NQ; i++)
		qs[i].fd = -1;
	for (i = 0; i < NOBJ; i++)
		objs[i].fd = objs[i].peer = objs[i].last_fd = -1;
}

static void teardown(void)
{
	struct timespec zero = { 0, 0 };
	char path[128];
	sigset_t s;
	int i;

	for (i = 0; i < NQ; i++)
		q_close(&qs[i]);
	for (i = 0; i < NOBJ; i++) {
		obj_close(&objs[i]);
		objs[i].gen = 0;
		objs[i].last_fd = -1;
	}
	/* no signal left pending for the next input */
	sigemptyset(&s);
	for (i = 0; i < 3; i++)
		sigaddset(&s, fuzz_sig(i));
	while (sigtimedwait(&s, NULL, &zero) > 0)
		;
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/e%d", tmpdir, i);
		unlink(path);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * FUZZ_KEVENT_PROBE set: say whether the backend asked for can run here,
 * and exit (0 if it can, 77 if not), so tools/fuzz can skip it with the
 * reason instead of reporting a crash.
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct kevent_ring *ring;
	int fd;

	(void)argc;
	(void)argv;
	/*
	 * The watched signals are blocked before libFuzzer starts its own
	 * threads, which inherit the mask: a signal the input raises stays
	 * pending for a queue, in no thread's handler.
	 */
	setup_once();
	fd = kevent_init(&ring, 0, 0);
	if (fd >= 0) {
		holds_files = strcmp(kevent_backend(fd), "epoll") != 0;
		kevent_close(fd);
	}
	if (!getenv("FUZZ_KEVENT_PROBE"))
		return 0;
	fd = kevent_init(&ring, 0, 0);
	if (fd < 0) {
		printf("%s\n", strerror(errno));
		exit(77);
	}
	kevent_close(fd);
	exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	int i, ops = 0;

	setup_once();
	for (i = 0; i < NQ; i++) {
		q_size[i] = u8(&in);
		q_used[i] = false;
	}
	for (i = 0; i < NOBJ; i++)
		obj_open(&objs[i], i % (O_NKIND - 1) + 1);
	while (in.n && ops++ < MAXOPS) {
		uint8_t op = u8(&in);
		struct mq *q;

		if (verbose)
			fprintf(stderr, "op %u\n", op % 16);
		switch (op % 16) {
		case 0: case 1: case 2: case 3: case 4:
			do_ctl(&in);
			break;
		case 5:
			do_write(&in);
			break;
		case 6:
			do_read(&in);
			break;
		case 7:
			do_close_peer(&in);
			break;
		case 8:
			do_close_obj(&in);
			break;
		case 9:
			q = qget(u8(&in));
			if (q->fd >= 0)
				consume(q, u8(&in) % 8 + 1);
			break;
		case 10:
			q = qget(u8(&in));
			if (q->fd >= 0) {
				unsigned int m = u8(&in) % q->size + 1;

				wait0(q, m);
				check_ring(q);
			}
			break;
		case 11:
			settle(qget(u8(&in)));
			break;
		case 12: {
			uint8_t b = u8(&in);

			q_used[b % NQ] = true;
			q_open(&qs[b % NQ], u8(&in));
			break;
		}
		case 13:
			kill(getpid(), fuzz_sig(u8(&in) % 3));
			break;
		case 14:
			do_inode(&in);
			break;
		default:
			if (u8(&in) & 1) {
				do_opt(&in);
				break;
			}
			/* consume everything, then one wait */
			q = qget(u8(&in));
			if (q->fd >= 0) {
				consume(q, ~0u);
				wait0(q, 1);
				check_ring(q);
			}
			break;
		}
	}
	for (i = 0; i < NQ; i++) {
		settle(&qs[i]);
		liveness(&qs[i]);
	}
	teardown();
	return 0;
}

#ifdef KEV_FUZZ_STANDALONE
#include <dirent.h>

static int replay_file(const char *path, int n)
{
	static uint8_t buf[1 << 16];
	FILE *f = fopen(path, "rb");
	size_t len;

	if (!f) {
		printf("not ok %d - %s: %s\n", n, path, strerror(errno));
		return 1;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);	/* aborts on a violation */
	printf("ok %d - %s\n", n, path);
	fflush(stdout);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Replay inputs without libFuzzer, as TAP: files, or every file of a
 * directory (the seed corpus under meson test).
 */
int main(int argc, char **argv)
{
	static char *paths[4096];
	int i, n = 0, bad = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *de;

		if (!d) {
			if (n < 4096)
				paths[n++] = strdup(argv[i]);
			continue;
		}
		while ((de = readdir(d)) && n < 4096) {
			char *p;

			if (de->d_name[0] == '.')
				continue;
			if (asprintf(&p, "%s/%s", argv[i], de->d_name) > 0)
				paths[n++] = p;
		}
		closedir(d);
	}
	qsort(paths, (size_t)n, sizeof(paths[0]), cmp);
	printf("1..%d\n", n);
	for (i = 0; i < n; i++) {
		bad |= replay_file(paths[i], i + 1);
		free(paths[i]);
	}
	return bad;
}
#endif
