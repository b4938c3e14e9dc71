// SPDX-License-Identifier: MIT
//
// A program built with -fno-exceptions (C++17 and C++20) that uses
// kevent.hpp through its std::error_code forms only: queue, registrations,
// waits, the dispatcher, post(), kevent::timer, and in C++20 a coroutine.
// It checks every result and exits non-zero on the first wrong one.
#include <kevent.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <system_error>

#if KEVENT_HPP_EXCEPTIONS
#error "build this file with -fno-exceptions"
#endif

#define CHECK(cond)                                                                \
	do {                                                                       \
		if (!(cond)) {                                                     \
			std::fprintf(stderr, "no_exceptions.cpp:%d: check failed: %s\n", \
				     __LINE__, #cond);                             \
			return 1;                                                  \
		}                                                                  \
	} while (0)

namespace {

using namespace std::chrono_literals;

int queue_calls()
{
	std::error_code ec;
	kevent::queue big(KEVENT_RING_MAX + 1, kevent::backend::automatic, ec);
	CHECK(ec == std::errc::invalid_argument && !big);
	kevent::queue q(ec);
	CHECK(!ec && q);
	kevent::registration u = q.add_user(ec);
	CHECK(!ec && u);
	kevent::registration dup = q.add_user(u.id(), ec);
	CHECK(ec == std::errc::file_exists && !dup);
	u.trigger(ec);
	CHECK(!ec);
	CHECK(q.wait_for(5s, ec) == 1 && !ec);
	std::optional<ukevent> ev = q.dequeue_for(0ms, ec);
	CHECK(!ec && ev && ev->id == u.id());
	CHECK(q.wait_for(0ms, ec) == 0 && !ec);
	q.trigger(12345, ec);
	CHECK(ec == std::errc::no_such_file_or_directory);
	kevent::registration t = q.add_timer(1ms, kevent::mode::oneshot, ec);
	CHECK(!ec);
	const ukevent te = q.dequeue(ec);
	CHECK(!ec && te.id == t.id() && (te.ret_flags & KEVENT_RET_REMOVED));
	t.remove(ec);
	CHECK(ec == std::errc::no_such_file_or_directory);
	kevent::registration huge = q.add_timer(std::chrono::hours::max(), ec);
	CHECK(ec == std::errc::value_too_large);
	CHECK(q.publish(ec) == 0 && !ec);
	const ukevent bad = kevent::with_prio(kevent::user_event(1), kevent::prio_max + 1, ec);
	CHECK(ec == std::errc::invalid_argument && bad.prio == kevent::prio_max + 1);
	kevent::registration b = q.add(bad, ec);
	CHECK(ec == std::errc::invalid_argument && !b);
	q.set_prio_bound(0, ec);
	CHECK(ec == std::errc::invalid_argument);
	q.set_stats(true, ec);
	CHECK(!ec && q.stats_enabled(ec) && !ec && q.stats().enabled);
	u.trigger(ec);
	CHECK(!ec && q.dequeue(ec).id == u.id() && !ec);
	CHECK(q.stats().publish_to_consume[0] + q.stats().publish_to_consume[31] <=
	      q.stats().published);
	q.set_stats(false, ec);
	CHECK(!ec && !q.stats_enabled(ec) && !ec);
	kevent::queue gone(std::move(q));
	CHECK(q.wait(ec) == 0 && ec == std::errc::bad_file_descriptor);
	gone.close(ec);
	CHECK(!ec);
	return 0;
}

int dispatcher_calls()
{
	std::error_code ec;
	kevent::dispatcher d(ec);
	CHECK(!ec && d);
	int calls = 0;
	auto h = d.add_user([&](kevent::event e) { calls += static_cast<int>(e.count()); }, ec);
	CHECK(!ec);
	h.trigger(ec);
	CHECK(!ec);
	d.post([&] { calls += 10; }, ec);
	CHECK(!ec);
	kevent::timer tm(d, 1ms);
	std::error_code timer_result = std::make_error_code(std::errc::io_error);
	tm.async_wait([&](std::error_code e) {
		timer_result = e;
		d.stop();
	}, ec);
	CHECK(!ec);
	d.run(ec);
	CHECK(!ec);
	while (calls < 11 && d.run_once_for(5s, ec) > 0) {
	}
	CHECK(!ec && calls == 11 && !timer_result);
	auto bad = d.add_fd(-1, kevent::poll_events::in, [](const ukevent &) {}, ec);
	CHECK(ec == std::errc::bad_file_descriptor && !bad);
	return 0;
}

#if KEVENT_HPP_HAS_COROUTINES
kevent::task<int> coroutine(kevent::dispatcher &d, int fd)
{
	std::error_code ec;
	co_await d.sleep_for(1ms, ec);
	if (ec)
		co_return 1;
	const kevent::poll_events r = co_await d.readable(fd, ec);
	if (ec || !kevent::has(r, kevent::poll_events::in))
		co_return 2;
	co_await d.readable(-1, ec);
	if (ec != std::errc::bad_file_descriptor)
		co_return 3;
	co_return 0;
}

int coroutines()
{
	kevent::dispatcher d;
	int p[2];
	CHECK(pipe(p) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	const int r = d.run_until_complete(coroutine(d, p[0]));
	close(p[0]);
	close(p[1]);
	CHECK(r == 0);
	return 0;
}
#else
int coroutines()
{
	return 0;
}
#endif

} // namespace

int main()
{
	if (queue_calls() || dispatcher_calls() || coroutines())
		return 1;
	std::printf("no_exceptions: C++ %ld without exceptions: ok\n", static_cast<long>(__cplusplus));
	return 0;
}
