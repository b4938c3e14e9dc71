// SPDX-License-Identifier: MIT
/*
 * ubackend.cpp - the user-space backends (epoll, uring): the library stands
 * in for the kernel module as the ring's producer.
 *
 * One waitset (waitset.hpp: epoll or io_uring) holds every event source of
 * the queue.  The backend is a class template, UserBackend<W>, of its
 * waitset W, and the library has one instance per waitset: kev_epoll_ops
 * and kev_uring_ops.  The waitset holds:
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
 * futex_ok() for when it applies.
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
 * Locking: core.lock protects everything here.  It is dropped around
 * the waitset's wait() and the futex wait, the only places this backend
 * sleeps.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>

#include "buffer.hpp"
#include "core.hpp"
#include "fd.hpp"
#include "lock.hpp"
#include "sources.hpp"
#include "timers.hpp"
#include "waitset-epoll.hpp"
#ifdef KEV_HAVE_URING
#include "waitset-uring.hpp"
#endif

namespace kev {

namespace {

// Tokens of the internal fds: handles that the core never hands out.
constexpr uint64_t tok_wake = 0xffffffffull;
constexpr uint64_t tok_timer = 0xfffffffeull;
constexpr uint64_t tok_signal = 0xfffffffdull;
constexpr uint64_t tok_inode = 0xfffffffcull;

/*
 * Events of internal fds (wake-up, timers, signals, inotify), as a bit per
 * token: each handler drains its fd, so it runs once per harvest however
 * many reports came in.
 */
constexpr unsigned int internal_bit(uint64_t tok)
{
	return 1u << (tok_wake - tok);
}

/*
 * Harvest buffers: one ring's worth and a little (the internal fds), so
 * that one waitset call returns everything ready when it fits the ring,
 * and a level-triggered fd is not reported twice in one collection.
 */
constexpr uint32_t evs_slack = 16;
constexpr uint32_t evs_max = 65536 + evs_slack;
// Another thread sleeping while the sleepers' buffer is in use.
constexpr int evs_local = 64;

constexpr timespec zero_ts{};

// A kevent queue that a queue watches (a POLL registration of its fd).
struct Nest {
	int fd;			// the caller's number of the queue
	Reg *reg;
};

/*
 * The state of a user-space queue that does not depend on its waitset:
 * the nesting checks read it from queues of either backend.
 */
struct UserQueue {
	explicit UserQueue(const SourceWatcher &w) : src(w) {}
	UserQueue(const UserQueue &) = delete;
	UserQueue &operator=(const UserQueue &) = delete;
	/*
	 * Then core's destructor frees the registrations and the ring.  In a
	 * forked child too: closing its own copies changes nothing shared.
	 */
	~UserQueue() { Sources::close_reg_fds(core); }

	Core core;
	kev_queue *q = nullptr;
	Fd wakefd;
	int sleepers = 0;	// threads in the waitset's wait()
	int fsleepers = 0;	// threads asleep on futex
	int in_wait = 0;	// threads inside kevent_wait
	uint32_t futex = 0;	// futex word: bumped to wake fsleepers
	Buffer<WaitEvent> dbuf;	// harvests under the lock
	Buffer<WaitEvent> sbuf;	// a sleeper's, taken with sbuf_busy
	bool sbuf_busy = false;
	/*
	 * The last kevent_wait had a zero timeout: the caller may be an
	 * event loop that sleeps on the queue fd, not in kevent_wait, and
	 * must be made readable for everything that needs a kevent_wait.
	 */
	bool poll_mode = false;
	// numbers of the queue's own descriptors, as a bitmap
	Buffer<uint64_t> ifd;
	/*
	 * Items in the waitset besides the eventfd and the timerfd: POLL
	 * fds (not the always-ready ones), pidfds, and the signalfd and
	 * inotify fd, which stay for the queue's life once created.
	 */
	uint32_t nwatched = 0;
	bool wake_pending = false;	// wakefd written and not yet drained
	bool timer_watched = false;	// the timerfd is in the waitset
	bool has_consumer = false;	// consumer is valid
	pthread_t consumer{};	// the thread that last called kevent_wait
	Buffer<Nest> nest;	// kevent queues we watch (nest_lock)
	uint32_t nnest = 0;	// of nest's entries, in use
	Timers timers;
	Sources src;

	static UserQueue &of(kev_queue *q)
	{
		return *static_cast<UserQueue *>(q->priv);
	}

	int ifd_set(int fd);
	void ifd_clear(int fd);
	bool ifd_test(int fd) const;

	bool kick();
	void kick_write();
	bool futex_bump();
	void futex_wake();

	int nest_check(Reg *reg, bool by_file);
	void nest_forget(Reg *reg);
};

// ---- the queue's own descriptors

int UserQueue::ifd_set(int fd)
{
	const uint32_t w = static_cast<uint32_t>(fd) / 64;

	if (w >= ifd.size() &&
	    !ifd.grow(w + 1 > 2 * ifd.size() ? w + 1 : 2 * ifd.size()))
		return ENOMEM;
	ifd[w] |= 1ull << (fd % 64);
	return 0;
}

void UserQueue::ifd_clear(int fd)
{
	if (fd >= 0 && static_cast<uint32_t>(fd) / 64 < ifd.size())
		ifd[static_cast<uint32_t>(fd) / 64] &= ~(1ull << (fd % 64));
}

inline bool UserQueue::ifd_test(int fd) const
{
	return fd >= 0 && static_cast<uint32_t>(fd) / 64 < ifd.size() &&
	       (ifd[static_cast<uint32_t>(fd) / 64] >> (fd % 64) & 1);
}

// ---- waking

/*
 * Wake a sleeper, or make the queue fd readable, after the queue gained
 * work outside kevent_wait.  The eventfd is written once per wake-up (no
 * write while one is pending and not yet harvested), only when a thread
 * sleeps in the waitset, or when no thread is in kevent_wait at all: the
 * consumer may then be asleep in another loop, polling the queue fd.
 * Threads asleep on the futex are woken by ctl() after every batch
 * (futex_bump()), and a thread inside kevent_wait and awake holds or will
 * take the lock and see the work itself.  So does the thread that last
 * called kevent_wait, when it triggers its own events, unless that call
 * had a zero timeout: then it may be an event loop's handler, and the
 * loop sleeps on the queue fd, not in kevent_wait.  The decision is made
 * under the lock that kevent_wait holds while it decides to sleep, so no
 * wake-up is lost.
 */
inline bool UserQueue::kick()
{
	if (wake_pending || (sleepers == 0 && in_wait > 0))
		return false;
	// The consumer itself, running this call, sleeps nowhere.
	if (sleepers == 0 && !poll_mode && has_consumer &&
	    pthread_equal(pthread_self(), consumer))
		return false;
	wake_pending = true;
	return true;
}

/*
 * The write itself, after the lock is dropped, so that the woken thread
 * does not wake up only to block on the lock the writer still holds.  The
 * eventfd is watched edge-triggered and never read: each write is a new
 * edge (epoll) or completion (io_uring), which is all the wake-up needs,
 * and a counter of writes cannot overflow in practice (2^64 - 2).
 */
void UserQueue::kick_write()
{
	const uint64_t one = 1;

	if (write(wakefd.get(), &one, sizeof(one)) < 0) {
		// EAGAIN: the counter is saturated, so it is readable.
	}
}

/*
 * Under the lock: make the futex sleepers' word differ from the value they
 * sleep on, so that one not yet in FUTEX_WAIT does not go to sleep.  True
 * if futex_wake() must follow, after the lock is dropped.
 */
inline bool UserQueue::futex_bump()
{
	if (!fsleepers)
		return false;
	// The kernel reads the word without our lock.
	__atomic_store_n(&futex, futex + 1, __ATOMIC_RELAXED);
	return true;
}

/*
 * All of them: each must look at the queue again, and one that finds it
 * now watches an fd or a timer has to move to the waitset, where the next
 * event will be reported, while another returns with the events.
 */
void UserQueue::futex_wake()
{
	syscall(SYS_futex, &futex, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
		nullptr, 0);
}

// ---- nesting: kevent queues watched by kevent queues

/*
 * Every user-space queue lists the kevent queues it watches (as fds).  An
 * ADD of a queue fd is refused with ELOOP if the watched queue reaches the
 * watcher through these lists, or if the chain of queues watching queues
 * through the new link would be longer than epoll allows (max_chain
 * queues, four levels of nesting), counted both ways from the new link:
 * the longest chain below the watched queue and the longest above the
 * watcher, as epoll's ep_loop_check and reverse_path_check do.
 * nest_lock guards all the lists; it nests inside core locks.
 */
constexpr int max_chain = 5;

constinit Mutex nest_lock;

bool is_user_queue(const kev_queue *q)
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
int nest_depth_below(int fd, const kev_queue *target, int limit)
{
	kev_queue *q = kev_queue_get(fd);
	int depth = 1;

	if (!q)
		return 0;
	if (q == target || limit <= 0) {
		depth = limit + 1;
	} else if (is_user_queue(q)) {
		const UserQueue &uq = UserQueue::of(q);

		for (uint32_t i = 0; i < uq.nnest && depth <= limit; i++) {
			const int d = 1 + nest_depth_below(uq.nest[i].fd,
							   target, limit - 1);

			if (d > depth)
				depth = d;
		}
	}
	kev_queue_put(q);
	return depth;
}

struct NestUp {
	const kev_queue *q;	// whose watchers are looked for
	int limit;
	int depth;		// longest chain above, q included
};

int nest_depth_above(const kev_queue *q, int limit);

// kev_queue_for_each(): does w watch up->q?  Then count its chain.
bool nest_up_visit(kev_queue *w, void *p)
{
	auto *up = static_cast<NestUp *>(p);

	if (!is_user_queue(w) || w == up->q)
		return false;
	const UserQueue &uw = UserQueue::of(w);
	for (uint32_t i = 0; i < uw.nnest; i++) {
		kev_queue *x = kev_queue_get(uw.nest[i].fd);
		const bool watches = x == up->q;

		if (x)
			kev_queue_put(x);
		if (watches) {
			const int d = 1 + nest_depth_above(w, up->limit - 1);

			if (d > up->depth)
				up->depth = d;
			break;
		}
	}
	return up->depth > up->limit;	// long enough: stop looking
}

// Queues in the longest chain from q up (itself included), capped.
int nest_depth_above(const kev_queue *q, int limit)
{
	NestUp up = {q, limit, 1};

	if (limit <= 0)
		return 1;
	kev_queue_for_each(nest_up_visit, &up);
	return up.depth;
}

struct FileMatch {
	int fd;			// the descriptor looked up
	kev_queue *found;	// with a reference
};

// kev_queue_for_each(): is m->fd another descriptor of q's file?
bool file_match_visit(kev_queue *q, void *p)
{
	auto *m = static_cast<FileMatch *>(p);
	const pid_t self = getpid();

	if (!is_user_queue(q) ||
	    syscall(SYS_kcmp, self, self, KCMP_FILE, m->fd, q->fd) != 0)
		return false;
	m->found = kev_queue_get(q->fd);	// null if closed meanwhile
	return m->found != nullptr;
}

/*
 * The user-space queue whose file fd is another descriptor of (a dup(2)
 * of its descriptor), with a reference; or null.  A queue is an anonymous
 * file (no file type in st_mode): other files cost one fstat(2), anonymous
 * ones (eventfds, timerfds, epoll and io_uring instances, ...) a kcmp(2)
 * per queue of the process.  Where kcmp(2) is not allowed (a seccomp
 * filter), no file matches.
 */
kev_queue *queue_of_file(int fd)
{
	struct stat st;
	FileMatch m = {fd, nullptr};

	if (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != 0)
		return nullptr;
	kev_queue_for_each(file_match_visit, &m);
	return m.found;
}

/*
 * 0, ELOOP, or ENOMEM; remembers the queue if fd is a kevent queue.  With
 * by_file, a descriptor that is not a queue's own number is also looked
 * up by its file (queue_of_file()): a waitset that does not refuse to
 * watch itself (io_uring) would otherwise accept a loop made through a
 * dup(2) of a queue's descriptor, and such a loop keeps itself ready.
 */
int UserQueue::nest_check(Reg *reg, bool by_file)
{
	const int fd = static_cast<int>(reg->id);
	kev_queue *other = kev_queue_get(fd);
	int err = 0;

	if (!other && by_file)
		other = queue_of_file(fd);
	if (!other)
		return 0;
	{
		Lock lock(nest_lock);
		/*
		 * The queue's own number, not fd: the lists name queues by
		 * the number kev_queue_get() knows.
		 */
		const int ofd = other->fd;
		const int below = nest_depth_below(ofd, q, max_chain);

		if (other == q || below >= max_chain ||
		    below + nest_depth_above(q, max_chain - below) >
			    max_chain)
			err = ELOOP;
		else if (nnest == nest.size() &&
			 !nest.grow(nest.size() ? nest.size() * 2 : 4))
			err = ENOMEM;
		if (!err) {
			reg->nest_idx = nnest;
			nest[nnest++] = {ofd, reg};
			reg->nested = true;
		}
	}
	kev_queue_put(other);
	return err;
}

// O(1): the last entry takes the place of the one that goes.
void UserQueue::nest_forget(Reg *reg)
{
	const uint32_t i = reg->nest_idx;

	if (!reg->nested)
		return;
	{
		Lock lock(nest_lock);

		nest[i] = nest[--nnest];
		nest[i].reg->nest_idx = i;
	}
	reg->nested = false;
}

// ---- KEVENT_POLL fields

uint32_t poll_mask_of(uint32_t event)
{
	return event & KEVENT_POLL_MASK;
}

WatchMode poll_mode_of(uint32_t req_flags)
{
	return req_flags & KEVENT_REQ_ET ? WatchMode::edge : WatchMode::level;
}

uint32_t poll_mask(const Reg *reg)
{
	return poll_mask_of(reg->event);
}

WatchMode poll_watch_mode(const Reg *reg)
{
	return poll_mode_of(reg->req_flags);
}

void set_fields(Reg *reg, const ukevent *ev)
{
	reg->event = ev->event;
	reg->req_flags = static_cast<uint16_t>(ev->req_flags);
	reg->data = ev->data;
	reg->user = ev->user;
}

/*
 * A waitset that reports what a wake-up named (io_uring) says PRI for any
 * data on a socket: ask the file what is true now.  Rare (PRI asked for
 * and named), so one poll(2) is cheap.
 */
uint32_t poll_confirm(const Reg *reg, uint32_t events)
{
	pollfd p = {.fd = reg->fd,
		    .events = static_cast<short>(poll_mask(reg)),
		    .revents = 0};

	if (::poll(&p, 1, 0) != 1)
		return events & ~KEVENT_POLL_PRI;
	return static_cast<uint32_t>(static_cast<unsigned short>(p.revents)) &
	       (reg->event | KEVENT_POLL_ERR | KEVENT_POLL_HUP);
}

int64_t ts_ns(const timespec *ts)
{
	if (ts->tv_sec > INT64_MAX / 1000000000 - 1)
		return INT64_MAX;
	return int64_t{ts->tv_sec} * 1000000000 + ts->tv_nsec;
}

/*
 * FUTEX_WAIT always has a timeout, if only a day (the loop then sleeps
 * again): an untimed one is restarted by the kernel after a handler
 * installed with SA_RESTART, as glibc's signal() does, where epoll_pwait2
 * and io_uring_enter fail with EINTR.  A program that waits for Ctrl-C
 * that way must not hang because its queue happens to hold only user
 * events.  The timer costs about 0.15x of a pinned round trip here.
 */
constexpr timespec futex_day = {86400, 0};

/*
 * The user-space backend over waitset W (waitset.hpp).  The static members
 * are its kev_backend_ops.
 */
template <typename W> class UserBackend : public UserQueue {
public:
	static int init(kev_queue *q, unsigned int size);
	static int ctl(kev_queue *q, unsigned int cmd, unsigned int num,
		       ukevent *events)
	{
		return of(q).apply(cmd, num, events);
	}
	static int wait(kev_queue *q, unsigned int min_nr,
			const timespec *timeout, const sigset_t *sigmask)
	{
		return of(q).wait_events(min_nr, timeout, sigmask);
	}
	static void wake(kev_queue *q) { of(q).wake_all(); }
	static int setopt(kev_queue *q, unsigned int opt, uint64_t value)
	{
		return of(q).set_option(opt, value);
	}
	static int getopt(kev_queue *q, unsigned int opt, uint64_t *value)
	{
		return of(q).get_option(opt, value);
	}
	static void destroy(kev_queue *q, bool in_child)
	{
		of(q).close_all(in_child);
	}

private:
	friend class kev::Core;	// calls release()

	UserBackend()
		: UserQueue({this,
			     [](void *ctx, int fd, SourceFd which) {
				     return static_cast<UserBackend *>(ctx)
					     ->watch_source(fd, which);
			     },
			     [](void *ctx, int fd, Reg *reg) {
				     return static_cast<UserBackend *>(ctx)
					     ->watch_reg(fd, reg);
			     }})
	{
	}
	UserBackend(const UserBackend &) = delete;
	UserBackend &operator=(const UserBackend &) = delete;
	// The waitset's duplicates of the POLL fds (dup_fds).
	~UserBackend()
	{
		if constexpr (W::dup_fds)
			core.for_each([](Reg &reg) {
				if (reg.type == KEVENT_POLL &&
				    reg.watch != Watch::always && reg.fd >= 0)
					close(reg.fd);
			});
	}

	static UserBackend &of(kev_queue *q)
	{
		return static_cast<UserBackend &>(UserQueue::of(q));
	}

	void release(Reg *reg);
	int setup(kev_queue *queue, unsigned int size);
	void close_all(bool in_child);
	void detach(int fd);
	int claim(int fd);
	int add_internal(int fd, uint64_t tok);
	int watch_source(int fd, SourceFd which);
	int watch_reg(int fd, Reg *reg);
	void wake_all();

	int poll_add(Reg *reg);
	void poll_fire_always(Reg *reg);
	int poll_modify(Reg *reg, const ukevent *ev);
	void poll_mute(Reg *reg);
	void recheck();

	int timers_ready();
	int set_timer(Reg *reg, const TimerSpec &spec);
	int add(ukevent *ev);
	int modify(Reg *reg, const ukevent *ev);
	int ctl_one(unsigned int cmd, ukevent *ev);
	int apply(unsigned int cmd, unsigned int num, ukevent *events);

	void rewatch(uint64_t tok);
	void dispatch_internal(unsigned int bits);
	void rewatch_reg(Reg *reg, bool cancelled);
	void dispatch(WaitEvent *evs, int n);
	bool quiet();
	void collect(bool always);
	bool futex_ok(const timespec *rel, const sigset_t *sigmask) const;
	int futex_sleep(const timespec *rel);
	int sleep(const timespec *rel, const sigset_t *sigmask, bool *full);
	int wait_events(unsigned int min_nr, const timespec *timeout,
			const sigset_t *sigmask);
	int set_option(unsigned int opt, uint64_t value);
	int get_option(unsigned int opt, uint64_t *value);

	W ws_;
};

/*
 * The library now owns descriptor number fd: a POLL registration of that
 * number was of a file the caller closed.  It must never again act on the
 * number (it would act on our descriptor): detach it.  Only a waitset
 * keyed by number needs it: with dup_fds, a registration watches its own
 * duplicate, which no number of the caller's names.
 */
template <typename W> void UserBackend<W>::detach(int fd)
{
	if constexpr (!W::dup_fds) {
		Reg *reg = core.find(KEVENT_POLL,
					     static_cast<uint64_t>(fd));

		if (!reg || !reg->in_waitset())
			return;
		nest_forget(reg);
		reg->watch = Watch::detached;
	}
}

template <typename W> int UserBackend<W>::claim(int fd)
{
	if (const int err = ifd_set(fd))
		return err;
	detach(fd);
	return 0;
}

template <typename W> void UserBackend<W>::release(Reg *reg)
{
	/*
	 * Only inserted registrations are released, and every one of them
	 * that reaches a del() here was counted in nwatched when added.
	 */
	switch (reg->type) {
	case KEVENT_POLL:
		if (reg->watch != Watch::always) {
			if (reg->watch != Watch::detached)
				ws_.del(reg->fd, reg->token());
			nwatched--;
			if constexpr (W::dup_fds) {
				// io_uring's request holds its own reference
				ifd_clear(reg->fd);
				close(reg->fd);
				reg->fd = -1;
			}
		}
		nest_forget(reg);
		break;
	case KEVENT_TIMER:
		timers.disarm(*reg);
		break;
	case KEVENT_PROC:
		if (reg->fd >= 0) {
			ws_.del(reg->fd, reg->token());
			nwatched--;
			ifd_clear(reg->fd);
		}
		src.release(*reg);
		break;
	default:
		src.release(*reg);
		break;
	}
}

/*
 * Internal fds are edge-triggered: their handlers always drain them.  The
 * wake-up eventfd is never read (kick_write()), so only an edge (one
 * report per write) will do for it; the timerfd, signalfd and inotify fd
 * are watched once per report, so that one that fires faster than it is
 * harvested does not pile up reports.  A pidfd fires once.
 */
template <typename W> int UserBackend<W>::add_internal(int fd, uint64_t tok)
{
	const bool had = ifd_test(fd);
	int err = claim(fd);
	const WatchMode mode = tok == tok_timer || tok == tok_signal ||
				       tok == tok_inode ?
				       WatchMode::once :
				       WatchMode::edge;

	if (!err) {
		err = ws_.add(fd, tok, POLLIN, mode);
		if (err && !had)
			ifd_clear(fd);	// the caller closes it
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
template <typename W>
int UserBackend<W>::watch_source(int fd, SourceFd which)
{
	if (add_internal(fd, which == SourceFd::signal ? tok_signal :
						       tok_inode) < 0)
		return -1;
	nwatched++;
	return 0;
}

// A pidfd (KEVENT_PROC); release() uncounts it.
template <typename W> int UserBackend<W>::watch_reg(int fd, Reg *reg)
{
	if (add_internal(fd, reg->token()) < 0)
		return -1;
	nwatched++;
	return 0;
}

template <typename W>
int UserBackend<W>::init(kev_queue *q, unsigned int size)
{
	void *mem = std::malloc(sizeof(UserBackend));

	if (!mem) {
		errno = ENOMEM;
		return -1;
	}
	auto *be = new (mem) UserBackend();
	if (const int err = be->setup(q, size)) {
		be->~UserBackend();
		std::free(mem);
		errno = err;
		return -1;
	}
	return 0;
}

// The rest of init(): 0 or an errno.
template <typename W>
int UserBackend<W>::setup(kev_queue *queue, unsigned int size)
{
	q = queue;
	if (core.init(size) < 0)
		return errno;
	const uint32_t nevs = size + evs_slack < evs_max ? size + evs_slack :
							   evs_max;
	if (!dbuf.allocate(nevs) || !sbuf.allocate(nevs))
		return ENOMEM;
	if (const int err = ws_.init(size))
		return err;
	wakefd.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	if (!wakefd)
		return errno;
	if (const int err = ifd_set(ws_.fd()))
		return err;
	if (add_internal(wakefd.get(), tok_wake) < 0)
		return errno;
	ws_.flush();
	/*
	 * The caller's fd is a second descriptor of the waitset's file, so
	 * that a caller who wrongly close(2)s it cannot make us act on a
	 * reused descriptor number.
	 */
	q->fd = fcntl(ws_.fd(), F_DUPFD_CLOEXEC, 3);
	if (q->fd < 0)
		return errno;
	q->priv = static_cast<UserQueue *>(this);
	q->ring = core.ring();
	q->ring_bytes = core.ring_bytes();
	return 0;
}

/*
 * The caller's descriptor first: the waitset's own close (in ~W()) is then
 * the last of its file.  The rest is the destructors': the duplicates of
 * POLL fds (~UserBackend), the waitset, the pidfds and the core
 * (~UserQueue), the sources, the timers, the buffers and the eventfd.
 */
template <typename W> void UserBackend<W>::close_all(bool in_child)
{
	if (q->fd >= 0)
		close(q->fd);
	if (in_child)
		ws_.forget_shared();
	this->~UserBackend();
	std::free(this);
}

template <typename W> void UserBackend<W>::wake_all()
{
	core.lock.lock();
	wake_pending = true;
	kick_write();
	const bool fwake = futex_bump();
	core.lock.unlock();
	if (fwake)
		futex_wake();
}

// ---- KEVENT_POLL

template <typename W> int UserBackend<W>::poll_add(Reg *reg)
{
	const int fd = static_cast<int>(reg->id);
	int wfd = fd, err;

	// Not the caller's: a descriptor of the queue itself.
	if (ifd_test(fd))
		return EBADF;
	reg->fd = fd;
	// epoll refuses to watch itself (EINVAL, below): by number is enough
	err = nest_check(reg, W::dup_fds);
	if (err)
		return err;
	if constexpr (W::dup_fds) {
		wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (wfd < 0) {
			err = errno == EINVAL ? EBADF : errno;
			nest_forget(reg);
			return err;
		}
		err = ifd_set(wfd);
		if (err) {
			close(wfd);
			nest_forget(reg);
			return err;
		}
		reg->fd = wfd;
	}
	// The waitset checks the fd: EBADF for a closed one.
	err = ws_.add(wfd, reg->token(), poll_mask(reg),
		      poll_watch_mode(reg));
	if (!W::dup_fds && err == EEXIST) {
		/*
		 * epoll still holds an item for this file under this number:
		 * a registration of it was removed after the number had been
		 * closed while the file lived on elsewhere, so epoll could
		 * not be told.  The file is back under the number: take the
		 * item over.  (The queue's own descriptors were refused.)
		 */
		err = ws_.mod(wfd, 0, reg->token(), poll_mask(reg),
			      poll_watch_mode(reg));
	}
	if (!W::dup_fds && err == EINVAL) {
		/*
		 * epoll refuses to watch itself with EINVAL, and that is the
		 * only EINVAL its ADD can give here: the fd is another
		 * descriptor (a dup(2)) of this very queue, which the check
		 * by number could not see.  Say so as for the queue's own
		 * number.  (A loop through other queues is the kernel's
		 * ELOOP already.)
		 */
		err = ELOOP;
	}
	if (err == EPERM) {
		// A regular file or the like: always ready, as poll(2) says.
		reg->watch = Watch::always;
		err = 0;
	} else if (!err) {
		nwatched++;
		return 0;
	}
	if (wfd != fd) {
		ifd_clear(wfd);
		close(wfd);
		reg->fd = fd;
	}
	if (err)
		nest_forget(reg);
	return err;
}

/*
 * A file that is always ready for reading and writing (poll(2) says so of
 * regular files) fires for what of that it asked; asked for neither, it
 * never fires.
 */
template <typename W> void UserBackend<W>::poll_fire_always(Reg *reg)
{
	const uint32_t mask = reg->event & (KEVENT_POLL_IN | KEVENT_POLL_OUT);

	if (mask)
		core.fire(reg, mask, 0);
}

/*
 * A new token for the new watch: completions of the old one that are
 * still on their way (io_uring) are then stale, and an old multishot poll
 * that ended is not added again next to the new one.  The registration
 * changes only once the waitset took the new watch.  A detached
 * registration has no file left to watch: EBADF.
 */
template <typename W>
int UserBackend<W>::poll_modify(Reg *reg, const ukevent *ev)
{
	if (reg->watch == Watch::always) {
		set_fields(reg, ev);
		poll_fire_always(reg);
		return 0;
	}
	if (reg->watch == Watch::detached)
		return EBADF;
	if (const int err = ws_.mod(reg->fd, reg->token(),
				    reg->next_token(),
				    poll_mask_of(ev->event),
				    poll_mode_of(ev->req_flags)))
		return err;
	reg->gen++;	// token() is the new one now
	reg->watch = Watch::armed;
	set_fields(reg, ev);
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
 * until the consumer passes the entry.  Only a waitset whose level items
 * stay armed when reported has mute().
 */
template <typename W> void UserBackend<W>::poll_mute(Reg *reg)
{
	if constexpr (!W::lt_disarms) {
		if (reg->watch == Watch::detached)
			return;
		if (ws_.mute(reg->fd, reg->token(), poll_mask(reg))) {
			reg->watch = Watch::muted;
			core.note_work(reg);
		}
	}
}

/*
 * Level-triggered registrations whose entries the consumer passed (or that
 * were enabled): files no waitset can wait on are ready again at once;
 * muted items are rearmed, which makes the kernel re-check them.  The
 * others need nothing: the waitset reports them while they are ready.
 */
template <typename W> void UserBackend<W>::recheck()
{
	Reg *next;

	for (Reg *reg = core.take_check(); reg; reg = next) {
		next = reg->next;
		reg->next = nullptr;
		reg->prev = nullptr;
		if (reg->watch == Watch::always) {
			poll_fire_always(reg);
		} else if (reg->watch == Watch::muted) {
			reg->watch = Watch::armed;
			if (reg->req_flags & KEVENT_REQ_ET)
				ws_.add(reg->fd, reg->token(),
					poll_mask(reg), WatchMode::edge);
			else
				ws_.rearm(reg->fd, reg->token(),
					  poll_mask(reg));
		}
	}
}

// ---- kevent_ctl

// The timerfd exists and is in the waitset: 0 or an errno.
template <typename W> int UserBackend<W>::timers_ready()
{
	if (timer_watched)
		return 0;	// and the timerfd exists
	if (timers.open() < 0)
		return errno;
	if (add_internal(timers.fd(), tok_timer) < 0)
		return errno;
	timer_watched = true;
	return 0;
}

// Check spec and (re)arm reg's timer with it: 0, or an errno.
template <typename W>
int UserBackend<W>::set_timer(Reg *reg, const TimerSpec &spec)
{
	int err = spec.check();

	if (!err)
		err = timers_ready();
	if (!err)
		err = timers.set(*reg, spec);
	return err;
}

template <typename W> int UserBackend<W>::add(ukevent *ev)
{
	int err = 0;

	if (core.find(ev->type, ev->id))
		return EEXIST;
	Reg *reg = core.alloc(*ev);
	if (!reg)
		return ENOMEM;
	switch (ev->type) {
	case KEVENT_POLL:
		err = poll_add(reg);
		break;
	case KEVENT_TIMER:
		err = set_timer(reg, {reg->event, reg->data, reg->req_flags});
		break;
	case KEVENT_USER:
		break;
	default:
		err = src.add(*reg);
		break;
	}
	if (err) {
		core.free_unlinked(reg);
		return err;
	}
	core.insert(reg);
	if (reg->watch == Watch::always)
		poll_fire_always(reg);
	return 0;
}

/*
 * Everything is checked before anything changes: a failed MODIFY leaves
 * the registration exactly as it was.
 */
template <typename W>
int UserBackend<W>::modify(Reg *reg, const ukevent *ev)
{
	int err;

	switch (reg->type) {
	case KEVENT_POLL:
		return poll_modify(reg, ev);
	case KEVENT_TIMER:
		err = set_timer(reg, {ev->event, ev->data, ev->req_flags});
		if (!err)
			reg->user = ev->user;
		return err;
	case KEVENT_USER:
		set_fields(reg, ev);
		return 0;
	default:
		return src.modify(*reg, *ev);
	}
}

template <typename W>
int UserBackend<W>::ctl_one(unsigned int cmd, ukevent *ev)
{
	if (const int err = kev_check_entry(cmd, ev))
		return err;
	if (cmd == KEVENT_CTL_ADD)
		return add(ev);
	Reg *reg = core.find(ev->type, ev->id);
	if (!reg)
		return ENOENT;
	switch (cmd) {
	case KEVENT_CTL_REMOVE:
		core.remove(*this, reg);
		return 0;
	case KEVENT_CTL_MODIFY:
		if (const int err = modify(reg, ev))
			return err;
		core.set_prio(reg, ev->prio);
		return 0;
	case KEVENT_CTL_ENABLE:
		core.enable(reg);
		return 0;
	case KEVENT_CTL_DISABLE:
		core.disable(reg);
		return 0;
	case KEVENT_CTL_READY:
		if (reg->type != KEVENT_USER)
			return EINVAL;
		core.fire(reg, ev->event, 1);
		return 0;
	}
	return EINVAL;
}

template <typename W>
int UserBackend<W>::apply(unsigned int cmd, unsigned int num,
			  ukevent *events)
{
	bool kick_it = false;
	int ok = 0;

	core.lock.lock();
	const uint32_t before = core.kidx();
	const uint32_t rechecks = core.ncheck();
	const uint32_t work = core.nqwork();
	timers.new_batch(); // a clock read per clock
	for (unsigned int i = 0; i < num; i++) {
		const int err = ctl_one(cmd, &events[i]);

		kev_entry_result(&events[i], err);
		if (!err)
			ok++;
	}
	/*
	 * Timers this batch made due at once (a deadline in the past, a
	 * one-shot of 0) fire now, without the timerfd; for the others, one
	 * timerfd_settime, and one hand-over to the kernel (io_uring).
	 */
	timers.end_batch(core);
	ws_.flush();
	if (core.has_ready()) {
		/*
		 * A ring's worth was published since the last collection:
		 * collect before publishing more, or a trigger made again and
		 * again between two waits would keep everything else out.
		 */
		if (!core.budget_left()) {
			core.reap();
			recheck();
			collect(false);
		}
		core.publish(*this);
	}
	/*
	 * Anything this batch left for a kevent_wait to do (or published:
	 * a loop polling the queue fd must come and take it) makes the
	 * queue fd readable, or wakes a sleeper.
	 */
	if (core.kidx() != before || core.has_ready() ||
	    core.ncheck() > rechecks || core.nqwork() > work)
		kick_it = kick();
	/*
	 * A futex sleeper slept there because the queue watched nothing
	 * that could wake it: whatever this batch did (published events,
	 * added an fd, a timer or a source), it must look again.  A
	 * spurious wake-up costs it one loop.
	 */
	const bool fwake = futex_bump();
	core.lock.unlock();
	if (kick_it)
		kick_write();
	if (fwake)
		futex_wake();
	return ok;
}

// ---- kevent_wait

/*
 * An internal fd's watch ended (io_uring ends a multishot poll when it
 * cannot post more completions): watch it again.
 */
template <typename W> void UserBackend<W>::rewatch(uint64_t tok)
{
	int fd = -1;

	switch (tok) {
	case tok_wake:
		fd = wakefd.get();
		break;
	case tok_timer:
		fd = timers.fd();
		break;
	case tok_signal:
		fd = src.signal_fd();
		break;
	case tok_inode:
		fd = src.inode_fd();
		break;
	}
	if (fd >= 0)
		add_internal(fd, tok);
}

template <typename W>
void UserBackend<W>::dispatch_internal(unsigned int bits)
{
	if (bits & internal_bit(tok_wake))
		wake_pending = false;	// never read: kick_write()
	if (bits & internal_bit(tok_timer))
		timers.expire(core);
	if (bits & internal_bit(tok_signal))
		src.dispatch(core, SourceFd::signal);
	if (bits & internal_bit(tok_inode))
		src.dispatch(core, SourceFd::inode);
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
template <typename W>
void UserBackend<W>::rewatch_reg(Reg *reg, bool cancelled)
{
	// (The token is made where it is used: a spent level poll, the
	// common case, needs none.)
	switch (reg->type) {
	case KEVENT_POLL:
		if (!reg->in_waitset())
			break;
		if (reg->req_flags & KEVENT_REQ_ET) {
			/*
			 * A watch that ended with an event is renewed once
			 * the consumer has passed that event's entry (the
			 * recheck list): renewed now, it would report the
			 * fd's readiness, which the entry delivers, as new
			 * activity (a duplicate).  A cancelled one (no
			 * event) is renewed now.
			 */
			if (cancelled)
				ws_.add(reg->fd, reg->token(),
					poll_mask(reg), WatchMode::edge);
			else
				reg->watch = Watch::muted;
		} else if (cancelled) {
			reg->watch = Watch::armed;
			ws_.rearm(reg->fd, reg->token(), poll_mask(reg));
		}
		break;
	case KEVENT_PROC:
		if (cancelled && reg->fd >= 0)
			ws_.add(reg->fd, reg->token(), POLLIN,
				WatchMode::edge);
		break;
	}
}

template <typename W> void UserBackend<W>::dispatch(WaitEvent *evs, int n)
{
	unsigned int internal = 0;

	for (int i = 0; i < n; i++) {
		const uint64_t tok = evs[i].data.u64;
		uint32_t events = evs[i].events & ~w_ended;
		const bool ended = evs[i].events & w_ended;

		if (KEV_UNLIKELY(tok >= tok_inode && tok <= tok_wake)) {
			if (ended)
				rewatch(tok);
			if (events)
				internal |= internal_bit(tok);
			continue;
		}
		Reg *reg = core.lookup_token(tok);
		if (!reg)
			continue;	// removed since the wait harvested it
		if (KEV_UNLIKELY(ended)) {
			rewatch_reg(reg, !events);
			if (!events)
				continue;	// cancelled: nothing fired
		}
		if (reg->type != KEVENT_POLL) {
			Sources::fire(core, *reg);
			continue;
		}
		events &= reg->event | KEVENT_POLL_ERR | KEVENT_POLL_HUP;
		if (W::wakeup_events &&
		    KEV_UNLIKELY(events & KEVENT_POLL_PRI))
			events = poll_confirm(reg, events);
		if (KEV_UNLIKELY(!events)) {
			/*
			 * Only what the waitset added on its own (RDBAND
			 * with PRI, waitset-uring.cpp): nothing fired, but a
			 * single-shot level poll is spent and must be
			 * watched again.
			 */
			if (W::lt_disarms && reg->is_lt_poll())
				ws_.rearm(reg->fd, reg->token(),
					  poll_mask(reg));
			continue;
		}
		const bool level = !(reg->req_flags & KEVENT_REQ_ET);
		if (W::lt_disarms && level) {
			reg->watch = Watch::muted;	// fired: disarmed
			core.note_work(reg);
		}
		/*
		 * A level item the registration cannot take now (ready or
		 * queued already, or disabled) would be reported again by
		 * every collection: mute it until the consumer passes the
		 * entry.
		 */
		if (!core.fire(reg, events, 0) && !W::lt_disarms && level &&
		    reg->watch != Watch::muted)
			poll_mute(reg);
	}
	if (internal)
		dispatch_internal(internal);
}

/*
 * Could the waitset report anything?  Not when it watches no fd and no
 * source, no wake-up was written, and no timer is due: then a collection
 * needs no system call.
 */
template <typename W> bool UserBackend<W>::quiet()
{
	return !nwatched && !wake_pending && !timers.due();
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
template <typename W> void UserBackend<W>::collect(bool always)
{
	if (always || !quiet()) {
		const uint64_t limit = uint64_t{nwatched} + evs_slack +
				       ws_.backlog();
		uint64_t got = 0;
		// the first round hands the queued changes over too
		int n = ws_.harvest(dbuf.get(),
				    static_cast<int>(dbuf.size()));

		while (n > 0) {
			dispatch(dbuf.get(), n);
			got += static_cast<uint64_t>(n);
			if (n != static_cast<int>(dbuf.size()) || got >= limit)
				break;
			n = ws_.wait(dbuf.get(), static_cast<int>(dbuf.size()),
				     &zero_ts, nullptr);
		}
	}
	// due, and the timerfd not read yet (it may fire a little later)
	if (timers.due())
		timers.expire(core);
	core.collected();
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
template <typename W>
bool UserBackend<W>::futex_ok(const timespec *rel,
			      const sigset_t *sigmask) const
{
	if (nwatched || wake_pending || sigmask ||
	    (rel && !rel->tv_sec && !rel->tv_nsec))
		return false;
	return timers.empty();
}

/*
 * Sleep on the futex word until a waker bumps it, the timeout passes or a
 * signal handler runs (FUTEX_WAIT always has a timeout: futex_day); called
 * and returns with the lock held.  0 to go round the loop again (woken,
 * EAGAIN, ETIMEDOUT: the loop checks the deadline), else -1 with errno
 * (EINTR).
 */
template <typename W> int UserBackend<W>::futex_sleep(const timespec *rel)
{
	const uint32_t val = __atomic_load_n(&futex, __ATOMIC_RELAXED);

	// No wait() will hand queued changes (removals) to the kernel.
	ws_.flush();
	fsleepers++;
	core.lock.unlock();
	// A bump since val was read makes this return EAGAIN at once.
	const long r = syscall(SYS_futex, &futex, FUTEX_WAIT_PRIVATE, val,
			       rel ? rel : &futex_day, nullptr, 0);
	const int err = errno;
	core.lock.lock();
	fsleepers--;
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
template <typename W>
int UserBackend<W>::sleep(const timespec *rel, const sigset_t *sigmask,
			  bool *full)
{
	WaitEvent local[evs_local], *buf = local;
	int max = evs_local;
	bool mine = false;

	ws_.flush();
	if (!sbuf_busy) {
		sbuf_busy = mine = true;
		buf = sbuf.get();
		max = static_cast<int>(sbuf.size());
	}
	sleepers++;
	core.lock.unlock();
	const int n = ws_.wait(buf, max, rel, sigmask);
	const int err = errno;
	core.lock.lock();
	sleepers--;
	if (n > 0)
		dispatch(buf, n);
	if (mine)
		sbuf_busy = false;
	*full = n == max;
	errno = err;
	return n;
}

template <typename W>
int UserBackend<W>::wait_events(unsigned int min_nr, const timespec *timeout,
				const sigset_t *sigmask)
{
	const bool polling = timeout && !timeout->tv_sec && !timeout->tv_nsec;
	bool collected = false, full = false, kick_it = false, slept = false;
	int64_t deadline = 0;
	int ret;

	if (timeout) {
		const int64_t t = ts_ns(timeout);

		deadline = t == INT64_MAX ?
				   INT64_MAX :
				   static_cast<int64_t>(clock_now(Clock::monotonic)) + t;
	}
	core.lock.lock();
	core.count_wait();
	in_wait++;
	consumer = pthread_self();
	has_consumer = true;
	poll_mode = polling;
	for (;;) {
		timespec rel, *relp = nullptr;
		bool expired = false;

		core.reap();
		recheck();
		/*
		 * Fairness: see what has fired before publishing whenever this
		 * call may return without sleeping in the waitset (which would
		 * collect), and whenever a ring's worth was published since
		 * the last collection.  A loop polling the queue fd always
		 * collects: it must drain the waitset's readiness.
		 */
		if (!collected &&
		    (full || polling || !core.budget_left() ||
		     core.count() + core.nready() >= min_nr)) {
			collect(polling || full);
			collected = true;
			full = false;
		}
		core.publish(*this);
		const uint32_t count = core.count();
		if (count >= min_nr ||
		    __atomic_load_n(&q->closing, __ATOMIC_ACQUIRE)) {
			ret = static_cast<int>(count);
			break;
		}
		if (timeout && deadline != INT64_MAX) {
			int64_t left =
				deadline - static_cast<int64_t>(clock_now(Clock::monotonic));

			if (left <= 0) {
				expired = true;
				left = 0;
			}
			rel.tv_sec = left / 1000000000;
			rel.tv_nsec = left % 1000000000;
			relp = &rel;
		}
		if (expired && collected) {
			ret = static_cast<int>(count);
			break;
		}
		if (!expired && !slept) {	// a call that blocks counts once
			slept = true;
			core.count_sleep();
		}
		if (!expired && futex_ok(relp, sigmask)) {
			if (futex_sleep(relp) < 0)
				goto fail;
			continue;
		}
		if (sleep(relp, sigmask, &full) < 0)
			goto fail;
		/*
		 * It returned everything ready: a full collection, once the
		 * timers that are due, and whose timerfd may not have fired
		 * yet, are expired too.
		 */
		collected = !full;
		if (collected) {
			if (timers.due())
				timers.expire(core);
			core.collected();
		}
	}
	/*
	 * A handler of another loop (zero timeout) goes back to sleep on the
	 * queue fd: if work is left that only a kevent_wait can do (more
	 * ready than the ring took, files to check again once the consumer
	 * passes their entries), the fd must stay readable.
	 */
	if (polling && core.has_work() && !wake_pending) {
		wake_pending = true;
		kick_it = true;
	}
	/*
	 * A caller that polls the queue fd sleeps elsewhere next: the
	 * watches renewed while dispatching (an internal fd's spent poll)
	 * go to the kernel now, or they would never report.  A caller that
	 * sleeps in kevent_wait hands them over when it comes back: by then
	 * it has read what the renewed watch of an edge-triggered fd would
	 * otherwise report again (its poll ended with the CQ full).
	 */
	if (polling)
		ws_.flush();
	in_wait--;
	core.lock.unlock();
	if (kick_it)
		kick_write();
	return ret;
fail:
	ret = errno;
	if (polling)
		ws_.flush();
	in_wait--;
	core.lock.unlock();
	errno = ret;
	return -1;
}

// ---- queue options

template <typename W>
int UserBackend<W>::set_option(unsigned int opt, uint64_t value)
{
	Lock lock(core.lock);

	switch (opt) {
	case KEVENT_OPT_TIMER_SLACK:
		/*
		 * A timer's slack is the one in force when it started, as in
		 * the kernel module, whose hrtimers take it when armed: the
		 * slack changes only while the queue has no timer.
		 */
		if (core.nregs(KEVENT_TIMER)) {
			errno = EBUSY;
			return -1;
		}
		timers.set_slack(value);
		return 0;
	case KEVENT_OPT_PRIO_BOUND:
		// checked: 1 .. KEVENT_PRIO_BOUND_MAX; the next pick uses it
		core.set_prio_bound(static_cast<uint32_t>(value));
		return 0;
	case KEVENT_OPT_STATS:
		core.set_stats(value != 0);
		return 0;
	default:
		errno = EINVAL;
		return -1;
	}
}

template <typename W>
int UserBackend<W>::get_option(unsigned int opt, uint64_t *value)
{
	Lock lock(core.lock);

	switch (opt) {
	case KEVENT_OPT_TIMER_SLACK:
		*value = timers.slack();
		return 0;
	case KEVENT_OPT_PRIO_BOUND:
		*value = core.prio_bound();
		return 0;
	case KEVENT_OPT_STATS:
		*value = core.stats();
		return 0;
	default:
		errno = EINVAL;
		return -1;
	}
}

template <typename W> constexpr kev_backend_ops backend_ops()
{
	return kev_backend_ops{
		.name = W::name,
		.probe = W::probe,
		.init = UserBackend<W>::init,
		.ctl = UserBackend<W>::ctl,
		.wait = UserBackend<W>::wait,
		.setopt = UserBackend<W>::setopt,
		.getopt = UserBackend<W>::getopt,
		.wake = UserBackend<W>::wake,
		.destroy = UserBackend<W>::destroy,
	};
}

} // namespace

} // namespace kev

const kev_backend_ops kev_epoll_ops =
	kev::backend_ops<kev::EpollWaitset>();
#ifdef KEV_HAVE_URING
const kev_backend_ops kev_uring_ops =
	kev::backend_ops<kev::UringWaitset>();
#endif
