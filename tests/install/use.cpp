// SPDX-License-Identifier: MIT
// A C++ program built against an installed libkev through <kevent.hpp> and
// pkg-config libkev-cpp: tests/install, tests/packaging.  It checks what it
// receives and exits non-zero on the first wrong result.
#include <kevent.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <system_error>

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			std::fprintf(stderr, "use.cpp:%d: check failed: %s\n", \
				     __LINE__, #cond);                     \
			return 1;                                          \
		}                                                          \
	} while (0)

namespace {

using namespace std::chrono_literals;

int user_events(kevent::queue &q)
{
	kevent::registration r = q.add_user(7, kevent::mode::none, 42);
	CHECK(r && r.type() == kevent::event_type::user && r.id() == 7);
	// Two triggers: one delivery, or two if the first was published
	// before the second came; never a trigger lost.
	q.trigger(7);
	q.trigger(7);
	std::uint64_t triggers = 0;
	int deliveries = 0;
	while (triggers < 2 && q.wait_for(5s) > 0) {
		for (const ukevent &e : q.events()) {
			CHECK(e.type == KEVENT_USER);
			CHECK(e.id == 7);
			CHECK(e.user == 42);
			triggers += e.ret_data;
			deliveries++;
		}
	}
	CHECK(triggers == 2);
	CHECK(deliveries == 1 || deliveries == 2);
	CHECK(q.events().empty());
	CHECK(q.wait_for(0ms) == 0);

	// Errors: std::system_error with the errno, or an std::error_code.
	bool threw = false;
	try {
		kevent::registration again = q.add_user(7);
	} catch (const std::system_error &e) {
		threw = e.code() == std::errc::file_exists;
	}
	CHECK(threw);
	std::error_code ec;
	q.remove(kevent::event_type::user, 99, ec);
	CHECK(ec == std::errc::no_such_file_or_directory);
	return 0;
}

int fd_and_timer_events(kevent::queue &q)
{
	int p[2];
	CHECK(pipe(p) == 0);
	{
		kevent::registration r = q.add_fd(p[0], kevent::poll_events::in, kevent::mode::none, 5);
		CHECK(q.wait_for(0ms) == 0);	// nothing to read yet
		CHECK(write(p[1], "x", 1) == 1);
		const std::optional<ukevent> ev = q.dequeue_for(5s);
		CHECK(ev.has_value());
		CHECK(ev->type == KEVENT_POLL);
		CHECK(ev->id == static_cast<std::uint64_t>(p[0]));
		CHECK(ev->event & KEVENT_POLL_IN);
		CHECK(ev->user == 5);
	}	// removed with its handle: no more deliveries
	CHECK(q.wait_for(0ms) == 0);
	close(p[0]);
	close(p[1]);

	kevent::registration t = q.add_timer(3, 1ms, kevent::mode::oneshot, 9);
	const std::optional<ukevent> ev = q.dequeue_for(5s);
	CHECK(ev.has_value());
	CHECK(ev->type == KEVENT_TIMER);
	CHECK(ev->id == 3);
	CHECK(ev->user == 9);
	CHECK(ev->ret_data == 1);
	CHECK(ev->ret_flags & KEVENT_RET_REMOVED);
	t.release();	// ended by itself
	return 0;
}

int dispatcher()
{
	kevent::dispatcher d;
	int calls = 0;
	kevent::dispatcher::handle h = d.add_user(1, [&](const ukevent &e) {
		if (e.id == 1)
			calls++;
		d.stop();
	});
	d.trigger(1);
	CHECK(d.run() == 1);
	CHECK(calls == 1);
	return 0;
}

int run()
{
	kevent::queue q(8);
	CHECK(q.fd() >= 0);
	CHECK(q.ring() != nullptr && q.ring()->size == 8);
	const std::string_view backend = q.backend_name();
	CHECK(backend == "kmod" || backend == "uring" || backend == "epoll");
	if (user_events(q) || fd_and_timer_events(q) || dispatcher())
		return 1;
	std::printf("C++ (%ld): installed kevent.hpp works (%.*s backend)\n",
		    static_cast<long>(__cplusplus), static_cast<int>(backend.size()),
		    backend.data());
	return 0;
}

} // namespace

int main()
{
	try {
		return run();
	} catch (const std::exception &e) {
		std::fprintf(stderr, "use.cpp: %s\n", e.what());
		return 1;
	}
}
