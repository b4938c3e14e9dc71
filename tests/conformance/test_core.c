// SPDX-License-Identifier: MIT
/*
 * Conformance: queue creation, the ring, user events, coalescing, the ready
 * list, kevent_wait, the queue fd and bad input.  Run once per backend.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

Test(init, returns_cloexec_fd_and_mapped_ring)
{
	struct kevent_ring *ring = NULL;
	int fd = q_open(&ring, 100);

	cr_assert_not_null(ring);
	cr_assert_eq(ring->size, 128, "size rounds up to a power of two");
	cr_assert_eq(ring->mask, 127);
	cr_assert_eq(ring->version, KEVENT_ABI_VERSION);
	cr_assert_eq(ring->entry_size, sizeof(struct ukevent));
	cr_assert_eq(ring->entries_offset, KEVENT_RING_ENTRIES_OFFSET);
	cr_assert_eq(ring->kidx, ring->uidx);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	cr_assert(kevent_ring_empty(ring));
	cr_assert_eq(kevent_close(fd), 0);
}

Test(init, default_size)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 0);

	cr_assert_eq(ring->size, KEVENT_RING_DEFAULT);
	kevent_close(fd);
}

Test(init, ring_indices_on_separate_cache_lines)
{
	cr_assert_eq(sizeof(struct ukevent), 64);
	cr_assert_eq(offsetof(struct kevent_ring, kidx) / 64, 0);
	cr_assert_eq(offsetof(struct kevent_ring, uidx) / 64, 1);
	cr_assert_eq(offsetof(struct kevent_ring, size) / 64, 2);
	cr_assert_leq(sizeof(struct kevent_ring), KEVENT_RING_ENTRIES_OFFSET);
}

Test(init, bad_arguments)
{
	struct kevent_ring *ring;

	errno = 0;
	cr_assert_eq(kevent_init(&ring, KEVENT_RING_MAX + 1, 0), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(kevent_init(&ring, 0, 0x100), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(kevent_init(&ring, 0, 0x7), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(kevent_init(NULL, 0, 0), -1);
	cr_assert_eq(errno, EFAULT);
}

Test(init, unknown_backend_variable_is_einval)
{
	struct kevent_ring *ring;

	setenv("KEVENT_BACKEND", "carrier-pigeon", 1);
	cr_assert_eq(kevent_init(&ring, 0, 0), -1);
	cr_assert_eq(errno, EINVAL);
}

Test(init, forced_backend_never_falls_back)
{
	struct kevent_ring *ring;
	const char *names[] = { "kmod", "uring", "epoll" };
	const unsigned int flags[] = {
		KEVENT_BACKEND_KMOD, KEVENT_BACKEND_URING, KEVENT_BACKEND_EPOLL,
	};
	unsigned int i;

	for (i = 0; i < 3; i++) {
		int fd = kevent_init(&ring, 0, flags[i]);

		if (fd >= 0) {
			cr_assert_str_eq(kevent_backend(fd), names[i]);
			kevent_close(fd);
		} else {
			cr_assert_eq(errno, ENODEV, "%s: %s", names[i],
				     strerror(errno));
		}
		setenv("KEVENT_BACKEND", names[i], 1);
		fd = kevent_init(&ring, 0, 0);
		if (fd >= 0) {
			cr_assert_str_eq(kevent_backend(fd), names[i]);
			kevent_close(fd);
		} else {
			cr_assert_eq(errno, ENODEV);
		}
	}
	/* epoll is always available */
	{
		int fd = kevent_init(&ring, 0, KEVENT_BACKEND_EPOLL);

		cr_assert_geq(fd, 0);
		kevent_close(fd);
	}
}

Test(user, coalesces_triggers_into_one_entry)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 16);
	struct ukevent e = ev_make(KEVENT_USER, 7, 0, 0, 0, 0xfeed);
	struct ukevent out;
	uint64_t total;
	int i;

	add_ok(fd, e);
	for (i = 0; i < 5; i++)
		cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, e), 0);
	cr_assert_eq(wait_ms(fd, 1, 1000), 1);
	cr_assert_eq(kevent_ring_count(ring), 1, "one slot per registration");
	/* the first trigger may be published at once; the rest coalesce */
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.type, KEVENT_USER);
	cr_assert_eq(out.id, 7);
	cr_assert_eq(out.user, 0xfeed);
	cr_assert_eq(out.ret_flags, 0);
	total = out.ret_data;
	if (total < 5) {
		cr_assert(take(fd, ring, &out, 1000));
		total += out.ret_data;
	}
	cr_assert_eq(total, 5, "five triggers, at most two deliveries");
	expect_none(fd, ring, 20);
	kevent_close(fd);
}

Test(user, triggers_while_queued_are_delivered_next)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 16);
	struct ukevent e = ev_make(KEVENT_USER, 1, 0, 0, 0, 0), out;

	add_ok(fd, e);
	ctl1(fd, KEVENT_CTL_READY, e);
	cr_assert_eq(wait_ms(fd, 1, 1000), 1);
	/* entry still in the ring: more triggers wait for its consumption */
	ctl1(fd, KEVENT_CTL_READY, e);
	ctl1(fd, KEVENT_CTL_READY, e);
	cr_assert_eq(wait_ms(fd, 1, 0), 1);
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.ret_data, 1);
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.ret_data, 2);
	expect_none(fd, ring, 20);
	kevent_close(fd);
}

Test(user, ready_event_bits_are_ored)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 16);
	struct ukevent e = ev_make(KEVENT_USER, 1, 0x1, 0, 0, 0), out;
	uint32_t bits;

	add_ok(fd, e);
	e.event = 0x10;
	ctl1(fd, KEVENT_CTL_READY, e);
	e.event = 0x100;
	ctl1(fd, KEVENT_CTL_READY, e);
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.event & 0x1, 0x1, "registered bits always set");
	bits = out.event;
	if (bits != 0x111) {
		cr_assert(take(fd, ring, &out, 1000));
		bits |= out.event;
	}
	cr_assert_eq(bits, 0x111);
	kevent_close(fd);
}

Test(ring, thousand_registrations_through_16_slots)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 16);
	static struct ukevent evs[1000];
	static unsigned char seen[1000];
	struct ukevent out;
	unsigned int i, got = 0;

	for (i = 0; i < 1000; i++)
		evs[i] = ev_make(KEVENT_USER, i, 0, 0, 0, 1000 + i);
	cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_ADD, 1000, evs), 1000);
	cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_READY, 1000, evs), 1000);
	cr_assert_eq(kevent_ring_count(ring), 16, "ring filled, rest on the ready list");
	while (got < 1000) {
		cr_assert(take(fd, ring, &out, 1000), "lost after %u", got);
		cr_assert_lt(out.id, 1000);
		cr_assert_eq(seen[out.id], 0, "id %llu twice",
			     (unsigned long long)out.id);
		cr_assert_eq(out.user, 1000 + out.id);
		cr_assert_eq(out.ret_data, 1);
		seen[out.id] = 1;
		got++;
	}
	cr_assert_gt(ring->deferred, 0, "deferred publication is counted");
	cr_assert_geq(ring->published, 1000);
	expect_none(fd, ring, 20);
	kevent_close(fd);
}

Test(ring, ready_list_is_fifo)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 4);
	struct ukevent e, out;
	unsigned int i;

	for (i = 0; i < 10; i++) {
		e = ev_make(KEVENT_USER, i, 0, 0, 0, 0);
		add_ok(fd, e);
	}
	for (i = 0; i < 10; i++) {
		e = ev_make(KEVENT_USER, i, 0, 0, 0, 0);
		ctl1(fd, KEVENT_CTL_READY, e);
	}
	for (i = 0; i < 10; i++) {
		cr_assert(take(fd, ring, &out, 1000));
		cr_assert_eq(out.id, i, "FIFO order");
	}
	kevent_close(fd);
}

Test(ring, inline_functions)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent e, out;
	const struct ukevent *p;
	unsigned int i;

	cr_assert_null(kevent_ring_peek(ring));
	cr_assert_eq(kevent_ring_consume(ring, &out), 0);
	for (i = 0; i < 3; i++) {
		e = ev_make(KEVENT_USER, i, 0, 0, 0, 0);
		add_ok(fd, e);
		ctl1(fd, KEVENT_CTL_READY, e);
	}
	cr_assert_eq(wait_ms(fd, 3, 1000), 3);
	cr_assert_eq(kevent_ring_count(ring), 3);
	cr_assert_not(kevent_ring_empty(ring));
	p = kevent_ring_peek(ring);
	cr_assert_not_null(p);
	cr_assert_eq(p->id, 0);
	cr_assert_eq(kevent_ring_peek(ring), p, "peek does not consume");
	cr_assert_eq(p, &kevent_ring_entries(ring)[ring->uidx & ring->mask]);
	kevent_ring_advance(ring, 2);
	cr_assert_eq(kevent_ring_count(ring), 1);
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.id, 2);
	cr_assert(kevent_ring_empty(ring));
	kevent_close(fd);
}

Test(ring, dequeue_times_out)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent out;
	struct timespec ts = ms_ts(10);

	cr_assert_eq(ukevent_dequeue(fd, ring, &out, &ts), -1);
	cr_assert_eq(errno, ETIMEDOUT);
	kevent_close(fd);
}

Test(wait, timeout_zero_and_min_nr)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent e = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);
	struct timespec zero = { 0, 0 };

	cr_assert_eq(kevent_wait(fd, 0, &zero), 0);
	add_ok(fd, e);
	ctl1(fd, KEVENT_CTL_READY, e);
	cr_assert_eq(kevent_wait(fd, 0, &zero), 1, "0 counts as 1");
	/* min_nr 2 with one event: times out and reports what is there */
	cr_assert_eq(wait_ms(fd, 2, 20), 1);
	cr_assert_eq(kevent_wait(fd, 9, &zero), -1, "min_nr > ring size");
	cr_assert_eq(errno, EINVAL);
	zero.tv_nsec = 1000000000;
	cr_assert_eq(kevent_wait(fd, 1, &zero), -1);
	cr_assert_eq(errno, EINVAL);
	kevent_close(fd);
}

static void on_usr1(int sig)
{
	(void)sig;
}

Test(wait, eintr_on_signal)
{
	struct kevent_ring *ring;
	struct wait_args w = { q_open(&ring, 8), 1, 60000 };
	int err;

	cr_assert_eq(wait_hit_by_signal(SIGALRM, 0, -1, wait_args_call, &w,
					&err), -1);
	cr_assert_eq(err, EINTR);
	kevent_close(w.fd);
}

Test(wait, pwait_applies_sigmask)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct sigaction sa;
	sigset_t block, during;
	struct timespec ts = ms_ts(5000);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	raise(SIGUSR1);		/* pending while blocked */
	sigemptyset(&during);	/* unblocked only during the wait */
	cr_assert_eq(kevent_pwait(fd, 1, &ts, &during), -1);
	cr_assert_eq(errno, EINTR);
	kevent_close(fd);
}

Test(user, ready_from_another_thread_wakes_infinite_wait)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct sync_sleeper w = { 0 };
	struct ready_later a = { fd, 42, &w, 0 };
	pthread_t t;
	struct ukevent out;

	add_ok(fd, ev_make(KEVENT_USER, 42, 0, 0, 0, 0));
	pthread_create(&t, NULL, ready_later_thread, &a);
	sync_about_to_wait(&w);
	cr_assert_eq(kevent_wait(fd, 1, NULL), 1);
	pthread_join(t, NULL);
	cr_assert_eq(a.ret, 1, "the trigger came while the waiter slept");
	cr_assert(kevent_ring_consume(ring, &out));
	cr_assert_eq(out.id, 42);
	kevent_close(fd);
}

/*
 * Threads trigger, add and remove at once, on several keys, while the
 * consumer takes: each key's deliveries add up to its successful triggers.
 */
#define MT_THREADS	4
#define MT_KEYS		5
#define MT_ROUNDS	2000

struct mt_trigger {
	int fd;
	unsigned int seed;
	uint64_t ok[MT_KEYS];	/* successful READYs per key */
};

static int mt_go;

static void *mt_trigger_thread(void *p)
{
	struct mt_trigger *m = p;
	int i;

	while (!__atomic_load_n(&mt_go, __ATOMIC_ACQUIRE))
		sched_yield();
	for (i = 0; i < MT_ROUNDS; i++) {
		unsigned int k = (unsigned int)rand_r(&m->seed) % MT_KEYS;
		struct ukevent e = ev_make(KEVENT_USER, k, 0, 0, 0, 0);
		/* and a registration of its own, added and removed */
		struct ukevent own = ev_make(KEVENT_USER, 100 + (uint64_t)m->seed,
					     0, 0, 0, 0);

		if (kevent_ctl(m->fd, KEVENT_CTL_READY, 1, &e) == 1)
			m->ok[k]++;
		if ((i & 15) == 0) {
			kevent_ctl(m->fd, KEVENT_CTL_ADD, 1, &own);
			kevent_ctl(m->fd, KEVENT_CTL_READY, 1, &own);
			kevent_ctl(m->fd, KEVENT_CTL_REMOVE, 1, &own);
		}
	}
	return NULL;
}

Test(user, many_threads_trigger_nothing_lost)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 4);
	struct mt_trigger m[MT_THREADS];
	pthread_t t[MT_THREADS];
	uint64_t want[MT_KEYS] = { 0 }, got[MT_KEYS] = { 0 }, total = 0, all = 0;
	struct ukevent out;
	int i, k;

	for (k = 0; k < MT_KEYS; k++)
		add_ok(fd, ev_make(KEVENT_USER, (uint64_t)k, 0, 0, 0,
				   0x500 + (uint64_t)k));
	__atomic_store_n(&mt_go, 0, __ATOMIC_RELEASE);
	for (i = 0; i < MT_THREADS; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].fd = fd;
		m[i].seed = (unsigned int)i + 1;
		pthread_create(&t[i], NULL, mt_trigger_thread, &m[i]);
	}
	__atomic_store_n(&mt_go, 1, __ATOMIC_RELEASE);
	/* consume while they run: the ring of 4 fills and drains */
	while (total < (uint64_t)MT_THREADS * MT_ROUNDS) {
		if (!take(fd, ring, &out, 10000))
			break;
		if (out.id < MT_KEYS) {
			cr_assert_eq(out.user, 0x500 + out.id);
			cr_assert_geq(out.ret_data, 1);
			got[out.id] += out.ret_data;
			total += out.ret_data;
		}
	}
	for (i = 0; i < MT_THREADS; i++)
		pthread_join(t[i], NULL);
	while (wait_ms(fd, 1, 0) > 0)
		while (kevent_ring_consume(ring, &out))
			if (out.id < MT_KEYS)
				got[out.id] += out.ret_data;
	for (i = 0; i < MT_THREADS; i++)
		for (k = 0; k < MT_KEYS; k++)
			want[k] += m[i].ok[k];
	for (k = 0; k < MT_KEYS; k++) {
		cr_assert_eq(got[k], want[k], "key %d: delivered %llu of %llu",
			     k, (unsigned long long)got[k],
			     (unsigned long long)want[k]);
		all += want[k];
	}
	cr_assert_eq(all, (uint64_t)MT_THREADS * MT_ROUNDS,
		     "every READY of a registered key succeeded");
	kevent_close(fd);
}

Test(queue_fd, pollable)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct sync_sleeper w = { 0 };
	struct ready_later a = { fd, 3, &w, 0 };
	pthread_t t;
	int sv[2];

	cr_assert_eq(poll(&pfd, 1, 0), 0, "idle queue is not readable");
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)sv[0], KEVENT_POLL_IN, 0, 0, 0));
	cr_assert_eq(write(sv[1], "x", 1), 1);
	cr_assert_eq(poll(&pfd, 1, 1000), 1, "readable with an fd ready");
	cr_assert_eq(wait_ms(fd, 1, 0), 1);
	kevent_ring_advance(ring, 1);
	cr_assert_eq(read(sv[0], (char[4]){0}, 4), 1);
	cr_assert_eq(wait_ms(fd, 1, 0), 0);
	/* a trigger from another thread makes it readable */
	add_ok(fd, ev_make(KEVENT_USER, 3, 0, 0, 0, 0));
	pthread_create(&t, NULL, ready_later_thread, &a);
	sync_about_to_wait(&w);
	cr_assert_eq(poll(&pfd, 1, 60000), 1, "woken by READY");
	pthread_join(t, NULL);
	cr_assert_eq(a.ret, 1, "the trigger came while poll(2) slept");
	cr_assert_eq(wait_ms(fd, 1, 0), 1);
	close(sv[0]);
	close(sv[1]);
	kevent_close(fd);
}

Test(close, queue_gone_after_close)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent e = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);

	add_ok(fd, e);
	cr_assert_eq(kevent_close(fd), 0);
	cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_ADD, 1, &e), -1);
	cr_assert_eq(errno, EBADF);
	cr_assert_eq(wait_ms(fd, 1, 0), -1);
	cr_assert_eq(errno, EBADF);
	cr_assert_eq(kevent_close(fd), -1);
	cr_assert_eq(errno, EBADF);
	cr_assert_null(kevent_backend(fd));
	cr_assert_eq(errno, EBADF);
}

Test(close, close_wakes_a_sleeping_waiter)
{
	struct kevent_ring *ring;
	struct close_later c = { .fd = q_open(&ring, 8) };
	pthread_t t;

	pthread_create(&t, NULL, close_later_thread, &c);
	sync_about_to_wait(&c.waiter);
	cr_assert_eq(kevent_wait(c.fd, 1, NULL), -1);
	cr_assert_eq(errno, EBADF);
	pthread_join(t, NULL);
	cr_assert_eq(c.ret, 0, "closed while the waiter slept");
}

Test(close, many_queues)
{
	struct kevent_ring *ring;
	int i;

	for (i = 0; i < 300; i++) {
		int fd = q_open(&ring, 4);

		add_ok(fd, ev_make(KEVENT_USER, 1, 0, 0, 0, 0));
		cr_assert_eq(kevent_close(fd), 0);
	}
}

Test(errors, whole_call_errors)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent e = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);
	int sv[2];

	cr_assert_eq(kevent_ctl(fd, 99, 1, &e), -1, "unknown cmd");
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_ADD, 1, NULL), -1);
	cr_assert_eq(errno, EFAULT);
	cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_ADD, 0, NULL), 0, "num 0");
	cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_ADD, 0xffffffffu, &e), -1);
	cr_assert_eq(errno, EINVAL, "huge num");
	cr_assert_eq(kevent_ctl(-1, KEVENT_CTL_ADD, 1, &e), -1);
	cr_assert_eq(errno, EBADF);
	cr_assert_eq(kevent_ctl(1000000, KEVENT_CTL_ADD, 1, &e), -1);
	cr_assert_eq(errno, EBADF);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(kevent_ctl(sv[0], KEVENT_CTL_ADD, 1, &e), -1);
	cr_assert_eq(errno, EINVAL, "open fd that is not a queue");
	cr_assert_eq(wait_ms(sv[0], 1, 0), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(kevent_close(sv[0]), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(fcntl(sv[0], F_GETFD), 0, "kevent_close left it open");
	close(sv[0]);
	close(sv[1]);
	/* still usable */
	add_ok(fd, e);
	kevent_close(fd);
}

Test(errors, per_entry_errors_in_a_batch)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	int closed = dup(0);
	struct ukevent b[11];

	close(closed);
	b[0] = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);
	b[1] = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);		/* EEXIST */
	b[2] = ev_make(99, 1, 0, 0, 0, 0);			/* type */
	b[3] = ev_make(KEVENT_USER, 2, 0, 0x80, 0, 0);		/* flags */
	b[4] = ev_make(KEVENT_POLL, (uint64_t)closed, KEVENT_POLL_IN, 0, 0, 0);
	b[5] = ev_make(KEVENT_POLL, 0, 0x8000, 0, 0, 0);	/* mask */
	b[6] = ev_make(KEVENT_TIMER, 1, 0, 0, 0, 0);		/* interval 0 */
	b[7] = ev_make(KEVENT_USER, 3, 0,
		       KEVENT_REQ_ONESHOT | KEVENT_REQ_DISPATCH, 0, 0);
	b[8] = ev_make(KEVENT_USER, 4, 0, 0, 0, 0);
	b[8].__reserved0 = 1;					/* reserved */
	b[9] = ev_make(KEVENT_USER, 5, 0, 0, 0, 0);
	b[9].prio = KEVENT_PRIO_MAX + 1;			/* priority */
	b[10] = ev_make(KEVENT_USER, 6, 0, 0, 0, 0);
	b[10].stamp = 12345;			/* output only: ignored */
	cr_assert_eq(kevent_ctl(fd, KEVENT_CTL_ADD, 11, b), 2);
	cr_assert_eq(b[10].ret_flags, 0);
	cr_assert_eq(b[0].ret_flags, 0);
	cr_assert_eq(b[0].ret_data, 0);
	cr_assert_eq(b[1].ret_data, EEXIST);
	cr_assert_eq(b[2].ret_data, EINVAL);
	cr_assert_eq(b[3].ret_data, EINVAL);
	cr_assert_eq(b[4].ret_data, EBADF);
	cr_assert_eq(b[5].ret_data, EINVAL);
	cr_assert_eq(b[6].ret_data, EINVAL);
	cr_assert_eq(b[7].ret_data, EINVAL);
	cr_assert_eq(b[8].ret_data, EINVAL);
	cr_assert_eq(b[9].ret_data, EINVAL);
	cr_assert_eq(b[10].ret_data, 0);
	for (int i = 1; i < 10; i++)
		cr_assert(b[i].ret_flags & KEVENT_RET_ERROR, "entry %d", i);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_USER, 77, 0, 0, 0, 0)), ENOENT);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY,
			  ev_make(KEVENT_USER, 77, 0, 0, 0, 0)), ENOENT);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY,
			  ev_make(KEVENT_USER, 77, 0, 0, 0, 0)), ENOENT);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ENABLE,
			  ev_make(KEVENT_USER, 77, 0, 0, 0, 0)), ENOENT);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_DISABLE,
			  ev_make(KEVENT_USER, 77, 0, 0, 0, 0)), ENOENT);
	/* the queue still works */
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, b[0]), 0);
	cr_assert_eq(wait_ms(fd, 1, 1000), 1);
	kevent_close(fd);
}

Test(errors, ready_on_non_user_is_einval)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent t = ev_make(KEVENT_TIMER, 1, 0, 0, 1000000000, 0);

	add_ok(fd, t);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, t), EINVAL);
	kevent_close(fd);
}

Test(errors, queue_inside_itself_is_eloop)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);

	cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD,
			  ev_make(KEVENT_POLL, (uint64_t)fd, KEVENT_POLL_IN,
				  0, 0, 0)), ELOOP);
	kevent_close(fd);
}

Test(remove, published_events_stay_in_ring)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8);
	struct ukevent e = ev_make(KEVENT_USER, 5, 0, 0, 0, 0xabc), out;

	add_ok(fd, e);
	ctl1(fd, KEVENT_CTL_READY, e);
	cr_assert_eq(wait_ms(fd, 1, 1000), 1);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE, e), 0);
	cr_assert(kevent_ring_consume(ring, &out), "stays after REMOVE");
	cr_assert_eq(out.user, 0xabc);
	/* re-adding the key starts afresh */
	add_ok(fd, e);
	expect_none(fd, ring, 20);
	kevent_close(fd);
}

Test(remove, removes_pending_unpublished)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 1);
	struct ukevent a = ev_make(KEVENT_USER, 1, 0, 0, 0, 0);
	struct ukevent b = ev_make(KEVENT_USER, 2, 0, 0, 0, 0), out;

	add_ok(fd, a);
	add_ok(fd, b);
	ctl1(fd, KEVENT_CTL_READY, a);
	ctl1(fd, KEVENT_CTL_READY, b);	/* b waits on the ready list */
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE, b), 0);
	cr_assert(take(fd, ring, &out, 1000));
	cr_assert_eq(out.id, 1);
	expect_none(fd, ring, 20);
	kevent_close(fd);
}

/*
 * Ids of every size: the library finds small dense ids by index and sparse
 * ones by hash, and moves hashed ids into the index as it grows.  Whatever
 * the order, each (type, id) must be found, once, with its own fields.
 */
#define REG_DENSE 5000

static const uint64_t reg_sparse[] = {
	UINT64_MAX, 1ull << 40, 0xffffffffull, REG_DENSE, REG_DENSE * 3,
};
#define REG_NSPARSE (sizeof(reg_sparse) / sizeof(reg_sparse[0]))

static uint64_t reg_user(uint64_t id)
{
	return id ^ 0x5a5a5a5a5a5a5a5aull;
}

Test(registry, sparse_then_dense_ids)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 8192);
	static unsigned char seen[REG_DENSE];
	unsigned int sparse_seen = 0, i, n = 0;
	struct ukevent out;

	/* sparse ids first: nothing is dense yet, so they are hashed */
	for (i = 0; i < REG_NSPARSE; i++)
		add_ok(fd, ev_make(KEVENT_USER, reg_sparse[i], 0, 0, 0,
				   reg_user(reg_sparse[i])));
	for (i = 0; i < REG_DENSE; i++)
		add_ok(fd, ev_make(KEVENT_USER, i, 0, 0, 0, reg_user(i)));
	for (i = 0; i < REG_NSPARSE; i++)
		cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD,
				  ev_make(KEVENT_USER, reg_sparse[i], 0, 0, 0,
					  0)), EEXIST, "id %llu",
			     (unsigned long long)reg_sparse[i]);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_ADD,
			  ev_make(KEVENT_USER, 4321, 0, 0, 0, 0)), EEXIST);

	for (i = 0; i < REG_NSPARSE; i++)
		cr_assert_eq(ctl1(fd, KEVENT_CTL_READY,
				  ev_make(KEVENT_USER, reg_sparse[i], 0, 0, 0,
					  0)), 0);
	for (i = 0; i < REG_DENSE; i++)
		cr_assert_eq(ctl1(fd, KEVENT_CTL_READY,
				  ev_make(KEVENT_USER, i, 0, 0, 0, 0)), 0);
	while (n < REG_DENSE + REG_NSPARSE) {
		cr_assert(take(fd, ring, &out, 2000), "%u of %zu", n,
			  REG_DENSE + REG_NSPARSE);
		cr_assert_eq(out.user, reg_user(out.id), "id %llu",
			     (unsigned long long)out.id);
		if (out.id < REG_DENSE) {
			cr_assert_eq(seen[out.id], 0, "id %llu twice",
				     (unsigned long long)out.id);
			seen[out.id] = 1;
		} else {
			for (i = 0; i < REG_NSPARSE; i++)
				if (reg_sparse[i] == out.id)
					break;
			cr_assert_lt(i, REG_NSPARSE, "unknown id %llu",
				     (unsigned long long)out.id);
			cr_assert_eq(sparse_seen & (1u << i), 0);
			sparse_seen |= 1u << i;
		}
		n++;
	}
	expect_none(fd, ring, 20);

	/* each removed once; then gone */
	for (i = 0; i < REG_NSPARSE; i++) {
		struct ukevent e = ev_make(KEVENT_USER, reg_sparse[i], 0, 0,
					   0, 0);

		cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE, e), 0);
		cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE, e), ENOENT);
		cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, e), ENOENT);
	}
	for (i = 0; i < REG_DENSE; i++)
		cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
				  ev_make(KEVENT_USER, i, 0, 0, 0, 0)), 0);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE,
			  ev_make(KEVENT_USER, 0, 0, 0, 0, 0)), ENOENT);
	kevent_close(fd);
}

Test(registry, one_id_in_every_type_is_separate)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 16);
	struct ukevent u = ev_make(KEVENT_USER, 3, 0, 0, 0, 1);
	struct ukevent t = ev_make(KEVENT_TIMER, 3, 0, KEVENT_REQ_ONESHOT,
				   3600000000000ull, 2), out;

	add_ok(fd, u);
	add_ok(fd, t);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, t), EINVAL, "not a USER");
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE, u), 0);
	cr_assert_eq(ctl1(fd, KEVENT_CTL_READY, u), ENOENT);
	/* the timer of the same id is still there: MODIFY it to fire now */
	t.data = 1;
	cr_assert_eq(ctl1(fd, KEVENT_CTL_MODIFY, t), 0);
	cr_assert(take(fd, ring, &out, 2000));
	cr_assert_eq(out.type, KEVENT_TIMER);
	cr_assert_eq(out.id, 3);
	cr_assert_eq(out.user, 2);
	cr_assert(out.ret_flags & KEVENT_RET_REMOVED, "one-shot");
	cr_assert_eq(ctl1(fd, KEVENT_CTL_REMOVE, t), ENOENT);
	kevent_close(fd);
}

/*
 * Registrations outlive the thread that made them.  io_uring cancels the
 * requests of a thread when it exits; the uring backend must watch those
 * fds (and its own wake-up eventfd and timerfd) again.
 */
struct maker {
	int fd, et[2], lt[2];
	struct kevent_ring *ring;
};

static void *make_queue(void *p)
{
	struct maker *m = p;
	struct ukevent e[4] = {
		ev_make(KEVENT_POLL, (uint64_t)m->et[0], KEVENT_POLL_IN,
			KEVENT_REQ_ET, 0, 1),
		ev_make(KEVENT_POLL, (uint64_t)m->lt[0], KEVENT_POLL_IN, 0, 0,
			2),
		ev_make(KEVENT_TIMER, 3, 0, KEVENT_REQ_ONESHOT, 100000000, 3),
		ev_make(KEVENT_USER, 4, 0, 0, 0, 4),
	};

	m->fd = q_open(&m->ring, 16);
	cr_assert_eq(kevent_ctl(m->fd, KEVENT_CTL_ADD, 4, e), 4);
	return NULL;
}

Test(threads, registrations_outlive_the_thread_that_made_them)
{
	struct maker m;
	struct sync_sleeper w = { 0 };
	struct ready_later r;
	struct ukevent out;
	unsigned int seen = 0;
	pthread_t t;
	char c;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, m.et), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, m.lt), 0);
	pthread_create(&t, NULL, make_queue, &m);
	pthread_join(t, NULL);
	cr_assert_eq(write(m.et[1], "x", 1), 1);
	cr_assert_eq(write(m.lt[1], "x", 1), 1);
	while (seen != 0xe) {
		cr_assert(take(m.fd, m.ring, &out, 5000), "seen %#x", seen);
		seen |= 1u << out.user;
		if (out.type == KEVENT_POLL)
			cr_assert_eq(read((int)out.id, &c, 1), 1);
	}
	/* the wake-up of a sleeping wait, by yet another thread */
	r = (struct ready_later){ m.fd, 4, &w, 0 };
	pthread_create(&t, NULL, ready_later_thread, &r);
	sync_about_to_wait(&w);
	cr_assert(take(m.fd, m.ring, &out, 60000), "READY woke no one");
	pthread_join(t, NULL);
	cr_assert_eq(r.ret, 1);
	cr_assert_eq(out.user, 4);
	/* and the fds are still watched */
	cr_assert_eq(write(m.et[1], "y", 1), 1);
	cr_assert(take(m.fd, m.ring, &out, 5000));
	cr_assert_eq(out.user, 1);
	kevent_close(m.fd);
	close(m.et[0]);
	close(m.et[1]);
	close(m.lt[0]);
	close(m.lt[1]);
}
