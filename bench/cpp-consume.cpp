// SPDX-License-Identifier: MIT
//
// cpp-consume - what the C++ range over the ring costs next to the C
// inline functions: the consume path of issue "C++ RAII bindings".
//
// One queue (epoll backend), N user registrations and a ring of N entries;
// each round triggers all of them in one kevent_ctl batch, so the ring is
// full, then consumes the N entries one way.  The three ways alternate
// round by round in one process (same caches, same load), ROUNDS times:
//   c-peek     while ((e = kevent_ring_peek(r))) { use(e); kevent_ring_advance(r, 1); }
//   c-consume  while (kevent_ring_consume(r, &copy)) use(&copy);
//   cpp-range  for (const ukevent &e : q.events()) use(&e);
// Prints one line per way: min and median ns per event, and the ratio of
// the medians to c-peek.  Only the consuming loop is timed.
#include <kevent.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr unsigned int N = 4096;
volatile std::uint64_t sink;

inline void use(const ukevent &e) { sink = sink + e.id + e.ret_data; }

double now_ns()
{
	return static_cast<double>(
		std::chrono::duration_cast<std::chrono::nanoseconds>(
			std::chrono::steady_clock::now().time_since_epoch())
			.count());
}

} // namespace

int main(int argc, char **argv)
{
	const int rounds = argc > 1 ? std::atoi(argv[1]) : 300;
	kevent::queue q(N, kevent::backend::epoll);
	std::vector<ukevent> evs(N);

	for (unsigned int i = 0; i < N; i++) {
		evs[i] = ukevent{};
		evs[i].type = KEVENT_USER;
		evs[i].id = i;
	}
	if (q.ctl(KEVENT_CTL_ADD, evs.data(), N) != N)
		return 1;

	const char *names[3] = { "c-peek", "c-consume", "cpp-range" };
	std::vector<double> t[3];
	kevent_ring *r = q.ring();

	for (int round = 0; round < rounds; round++) {
		for (int way = 0; way < 3; way++) {
			unsigned int got = 0;

			(void)q.ctl(KEVENT_CTL_READY, evs.data(), N);
			if (q.wait(N) < N)
				return 1;
			const double t0 = now_ns();
			if (way == 0) {
				const ukevent *e;

				while ((e = kevent_ring_peek(r))) {
					use(*e);
					kevent_ring_advance(r, 1);
					got++;
				}
			} else if (way == 1) {
				ukevent copy;

				while (kevent_ring_consume(r, &copy)) {
					use(copy);
					got++;
				}
			} else {
				for (const ukevent &e : q.events()) {
					use(e);
					got++;
				}
			}
			const double t1 = now_ns();
			if (got != N)
				return 1;
			t[way].push_back((t1 - t0) / N);
		}
	}
	double med[3];
	for (int way = 0; way < 3; way++) {
		std::sort(t[way].begin(), t[way].end());
		med[way] = t[way][t[way].size() / 2];
	}
	std::printf("| way | min ns/event | median ns/event | ratio vs c-peek (median) |\n");
	std::printf("|---|---|---|---|\n");
	for (int way = 0; way < 3; way++)
		std::printf("| %s | %.2f | %.2f | %.2fx |\n", names[way],
			    t[way].front(), med[way], med[way] / med[0]);
	return 0;
}
