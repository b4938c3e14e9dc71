// SPDX-License-Identifier: MIT
/*
 * Fairness (issue 15, defect 4): a source that is always ready (a regular
 * file, a level-triggered fd never drained, a periodic timer, a user event
 * triggered again by its own handler) must not keep other ready sources
 * out of the ring.  kevent(7) states the bound these tests check, counted
 * in publications (ring indices), never in time:
 *
 *   a registration that fires is published after at most S + R - 1 other
 *   entries, S the ring size and R the number of registrations,
 *
 * for a consumer that takes entries from the ring and calls kevent_wait()
 * when it is empty (ukevent_dequeue()), or calls kevent_wait() and drains.
 */
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "regress.h"

#define MAX_ROUNDS 200000

static int regular_file(void)
{
	char path[] = "/tmp/kevent-fair-XXXXXX";
	int f = mkstemp(path);

	cr_assert_geq(f, 0);
	unlink(path);
	return f;
}

static uint32_t kidx(const struct kevent_ring *ring)
{
	return kevent_load_acquire(&ring->kidx);
}

/* Consume one entry; its ring index in *idx.  0 if the ring is empty. */
static int consume_at(struct kevent_ring *ring, struct ukevent *e,
		      uint32_t *idx)
{
	*idx = kevent_load_relaxed(&ring->uidx);
	return kevent_ring_consume(ring, e);
}

/*
 * The defect as found: a ring of 1, a regular file and a readable pipe.
 * 200,000 waits delivered the file every time and the pipe never.
 */
Test(fairness, regular_file_and_pipe_through_a_ring_of_one)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 1), f = regular_file(), p[2];
	struct ukevent e;
	uint32_t k0, idx;
	unsigned int round, pipes = 0, files = 0;
	const unsigned int bound = 1 + 2 - 1;	/* S + R - 1 */

	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)f, KEVENT_POLL_IN, 0, 0, 0));
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN, 0, 0,
			   0));
	cr_assert_eq(write(p[1], "x", 1), 1);
	k0 = kidx(ring);
	for (round = 0; round < 1000; round++) {
		cr_assert_geq(rg_wait0(fd, 1), 0);
		while (consume_at(ring, &e, &idx)) {
			if (e.id == (uint64_t)p[0]) {
				if (!pipes++)
					cr_assert_leq(idx - k0, bound,
						      "pipe published after %u "
						      "others", idx - k0);
			} else {
				files++;
			}
		}
	}
	cr_assert_gt(pipes, 0, "the pipe was never delivered (%u files)",
		     files);
	/* both level-triggered and ready: they alternate */
	cr_assert_geq(pipes, 400, "pipe %u, file %u", pipes, files);
	cr_assert_geq(files, 400, "pipe %u, file %u", pipes, files);
	close(p[0]);
	close(p[1]);
	close(f);
	kevent_close(fd);
}

/*
 * A user event triggered again by its own handler, consumed with
 * ukevent_dequeue(): the queue must still let the pipe in.  (kevent_ctl
 * published the trigger at once, so the ring never emptied and no
 * kevent_wait ever looked at the pipe.)
 */
Test(fairness, self_retriggering_user_event_with_dequeue)
{
	struct kevent_ring *ring;
	int fd = q_open(&ring, 1), p[2];
	struct ukevent u = ev_make(KEVENT_USER, 1, 0, 0, 0, 0), e;
	unsigned int round, users = 0;
	const unsigned int bound = 1 + 2 - 1;
	uint32_t k0;

	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	add_ok(fd, u);
	add_ok(fd, ev_make(KEVENT_POLL, (uint64_t)p[0], KEVENT_POLL_IN, 0, 0,
			   0));
	ctl1(fd, KEVENT_CTL_READY, u);
	cr_assert_eq(write(p[1], "x", 1), 1);
	k0 = kidx(ring);
	for (round = 0; round < MAX_ROUNDS; round++) {
		cr_assert(take(fd, ring, &e, 5000));
		if (e.type == KEVENT_POLL)
			break;
		users++;
		ctl1(fd, KEVENT_CTL_READY, u);
	}
	cr_assert_lt(round, MAX_ROUNDS,
		     "the pipe was never delivered (%u user events)", users);
	/* take() consumed it: its index is the one before uidx */
	cr_assert_leq(ring->uidx - 1 - k0, bound,
		      "the pipe was published after %u others",
		      ring->uidx - 1 - k0);
	close(p[0]);
	close(p[1]);
	kevent_close(fd);
}

/*
 * Everything at once through a small ring: always-ready files, level fds
 * never drained, self-retriggering user events, a periodic timer of 1 us;
 * then targets made ready one after the other.  Each must be published
 * within S + R - 1 other entries of the moment it was made ready, with
 * both ways of consuming.
 */
#define NFILES	6
#define NLEVEL	6
#define NUSERS	4
#define NTARGET	8
#define NREGS	(NFILES + NLEVEL + NUSERS + 1 + NTARGET)

struct mix {
	int fd;
	struct kevent_ring *ring;
	int files[NFILES];
	int level[NLEVEL][2];
	int target[NTARGET][2];
};

static void mix_open(struct mix *m, unsigned int size)
{
	int i;

	m->fd = q_open(&m->ring, size);
	for (i = 0; i < NFILES; i++) {
		m->files[i] = regular_file();
		add_ok(m->fd, ev_make(KEVENT_POLL, (uint64_t)m->files[i],
				      KEVENT_POLL_IN, 0, 0, 0));
	}
	for (i = 0; i < NLEVEL; i++) {
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
					SOCK_CLOEXEC, 0, m->level[i]), 0);
		cr_assert_eq(write(m->level[i][1], "x", 1), 1);
		add_ok(m->fd, ev_make(KEVENT_POLL, (uint64_t)m->level[i][0],
				      KEVENT_POLL_IN, 0, 0, 0));
	}
	for (i = 0; i < NUSERS; i++) {
		struct ukevent u = ev_make(KEVENT_USER, (uint64_t)i, 0, 0, 0,
					   0);

		add_ok(m->fd, u);
		ctl1(m->fd, KEVENT_CTL_READY, u);
	}
	add_ok(m->fd, ev_make(KEVENT_TIMER, 1, 0, 0, 1000, 0));
	for (i = 0; i < NTARGET; i++) {
		cr_assert_eq(pipe2(m->target[i], O_CLOEXEC | O_NONBLOCK), 0);
		/* edge-triggered and level-triggered targets */
		add_ok(m->fd, ev_make(KEVENT_POLL, (uint64_t)m->target[i][0],
				      KEVENT_POLL_IN,
				      i & 1 ? KEVENT_REQ_ET : 0, 0,
				      0x7a000 + (uint64_t)i));
	}
}

static void mix_close(struct mix *m)
{
	int i;

	kevent_close(m->fd);
	for (i = 0; i < NFILES; i++)
		close(m->files[i]);
	for (i = 0; i < NLEVEL; i++) {
		close(m->level[i][0]);
		close(m->level[i][1]);
	}
	for (i = 0; i < NTARGET; i++) {
		close(m->target[i][0]);
		close(m->target[i][1]);
	}
}

static void mix_run(unsigned int size, bool dequeue)
{
	const unsigned int bound = size + NREGS - 1;
	struct mix m;
	unsigned int t, round;
	struct ukevent e;

	mix_open(&m, size);
	for (t = 0; t < NTARGET; t++) {
		uint32_t k0, others, idx, at = 0;
		char c;

		/* let the always-ready ones run for a while first */
		for (round = 0; round < 50; round++) {
			if (dequeue) {
				cr_assert(take(m.fd, m.ring, &e, 5000));
				if (e.type == KEVENT_USER)
					ctl1(m.fd, KEVENT_CTL_READY, e);
			} else {
				cr_assert_geq(rg_wait0(m.fd, 1), 0);
				rg_drain(m.ring);
			}
		}
		cr_assert_eq(write(m.target[t][1], "t", 1), 1);
		k0 = kidx(m.ring);
		for (round = 0; round < MAX_ROUNDS; round++) {
			bool found = false;

			if (dequeue) {
				cr_assert(take(m.fd, m.ring, &e, 5000));
				if (e.type == KEVENT_USER)
					ctl1(m.fd, KEVENT_CTL_READY, e);
				found = e.user == 0x7a000 + t;
				at = m.ring->uidx - 1;
			} else {
				cr_assert_geq(rg_wait0(m.fd, 1), 0);
				while (consume_at(m.ring, &e, &idx)) {
					if (e.user != 0x7a000 + t)
						continue;
					found = true;
					at = idx;
				}
			}
			if (found)
				break;
		}
		cr_assert_lt(round, MAX_ROUNDS, "target %u never delivered",
			     t);
		others = at - k0;
		cr_assert_leq(others, bound,
			      "target %u published after %u others (bound "
			      "%u)", t, others, bound);
		cr_assert_eq(read(m.target[t][0], &c, 1), 1);
	}
	mix_close(&m);
}

Test(fairness, mix_ring_of_one_wait_and_drain)
{
	mix_run(1, false);
}

Test(fairness, mix_ring_of_one_dequeue)
{
	mix_run(1, true);
}

Test(fairness, mix_ring_of_four_wait_and_drain)
{
	mix_run(4, false);
}

Test(fairness, mix_ring_of_four_dequeue)
{
	mix_run(4, true);
}

Test(fairness, mix_ring_of_sixty_four_dequeue)
{
	mix_run(64, true);
}
