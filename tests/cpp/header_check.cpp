// SPDX-License-Identifier: MIT
//
// Compiled (not run) by the header-check tests with -Wall -Wextra -Werror
// -pedantic -Wconversion -Wshadow as C++17 and C++20, with g++ and clang++,
// with and without exceptions.  kevent.hpp comes first: it must be
// self-contained.  Every template is instantiated here so that warnings
// inside them show up.
#include <kevent.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <ratio>
#include <system_error>
#include <vector>

#if KEVENT_HPP_HAS_RANGES
static_assert(std::input_iterator<kevent::ring_range::iterator>);
static_assert(std::ranges::input_range<kevent::ring_range>);
static_assert(std::ranges::view<kevent::ring_range>);
static_assert(std::ranges::borrowed_range<kevent::ring_range>);
static_assert(std::sentinel_for<std::default_sentinel_t, kevent::ring_range::iterator>);
#endif
static_assert(std::is_nothrow_move_constructible_v<kevent::queue>);
static_assert(std::is_nothrow_move_assignable_v<kevent::queue>);
static_assert(!std::is_copy_constructible_v<kevent::queue>);
static_assert(!std::is_copy_constructible_v<kevent::registration>);
static_assert(std::is_nothrow_move_constructible_v<kevent::registration>);
static_assert(!std::is_copy_constructible_v<kevent::dispatcher::handle>);
static_assert(std::is_nothrow_move_constructible_v<kevent::dispatcher::handle>);
static_assert(std::is_nothrow_move_constructible_v<kevent::dispatcher>);
static_assert(!std::is_copy_constructible_v<kevent::timer>);
static_assert(std::is_nothrow_move_constructible_v<kevent::timer>);
static_assert(std::is_same_v<std::iterator_traits<kevent::ring_range::iterator>::reference,
			     const ukevent &>);
static_assert(std::is_same_v<decltype(std::declval<kevent::dispatcher &>().get_queue()),
			     const kevent::queue &>);
static_assert(!std::is_convertible_v<unsigned int, kevent::poll_events>);
static_assert(!std::is_convertible_v<unsigned int, kevent::mode>);
static_assert(!std::is_convertible_v<kevent::timer_clock, std::uint64_t>);
static_assert(!std::is_constructible_v<kevent::event, ukevent &&>);
static_assert(kevent::checked_nanoseconds(std::chrono::seconds(2)) == 2000000000);
static_assert(kevent::checked_nanoseconds(std::chrono::duration<unsigned char>(1)) == 1000000000);
static_assert(kevent::checked_nanoseconds(std::chrono::duration<std::int64_t, std::pico>(1)) == 1);
static_assert((kevent::poll_events::in | kevent::poll_events::out) !=
	      kevent::poll_events::none);
static_assert(kevent::has(kevent::poll_events::in | kevent::poll_events::hup,
			  kevent::poll_events::hup));

int check_everything(int fd);
int check_everything(int fd)
{
	using namespace std::chrono;
	using namespace std::chrono_literals;
	using kevent::mode;
	using kevent::poll_events;
	using kevent::inode_events;

	std::error_code ec;
	kevent::queue q(64, kevent::backend::automatic);
	kevent::queue qe(ec);
	kevent::queue qe2(8, kevent::backend::epoll, ec);
	kevent::registration r1 = q.add_fd(fd, poll_events::in);
	kevent::registration r2 = q.add_timer(1, 10ms);
	kevent::registration r3 = q.add_timer(2, duration<double>(0.5), mode::oneshot);
	kevent::registration r4 = q.add_timer(3, system_clock::now() + 1s);
	kevent::registration r5 = q.add_timer(4, steady_clock::now() + 1h);
	kevent::registration r6 = q.add_timer(5, duration<std::uint32_t, std::milli>(5u));
	kevent::registration r7 = q.add_user(6);
	kevent::registration r8 = q.add_signal(SIGUSR1);
	kevent::registration r9 = q.add_inode(fd, inode_events::modify | inode_events::remove);
	kevent::registration r10 = q.add_proc(getpid());
	kevent::registration r11 = q.add_timer(5ms);
	kevent::registration r12 = q.add_timer(kevent::boot_clock::now() + 1s, mode::none, 4);
	kevent::registration r13 = q.add_user();
	kevent::registration r14 = q.add_timer(1ms, mode::oneshot, 9, kevent::timer_clock::boottime);
	kevent::registration r15 = q.add_fd(fd, poll_events::out, mode::edge | mode::oneshot, 5);
	kevent::registration e1 = q.add_fd(fd, poll_events::in, ec);
	kevent::registration e2 = q.add_fd(fd, poll_events::in, mode::edge, ec);
	kevent::registration e3 = q.add_fd(fd, poll_events::in, mode::edge, 3, ec);
	kevent::registration e4 = q.add_timer(1ms, ec);
	kevent::registration e5 = q.add_timer(1ms, mode::oneshot, ec);
	kevent::registration e6 = q.add_timer(1ms, mode::none, 1, kevent::timer_clock::realtime, ec);
	kevent::registration e7 = q.add_timer(7, 1ms, ec);
	kevent::registration e8 = q.add_timer(7, 1ms, mode::oneshot, ec);
	kevent::registration e9 = q.add_timer(7, 1ms, mode::none, 1, kevent::timer_clock::monotonic, ec);
	kevent::registration e10 = q.add_timer(system_clock::now(), ec);
	kevent::registration e11 = q.add_timer(steady_clock::now(), mode::oneshot, 1, ec);
	kevent::registration e12 = q.add_timer(8, system_clock::now(), ec);
	kevent::registration e13 = q.add_timer(8, steady_clock::now(), mode::oneshot, 2, ec);
	kevent::registration e14 = q.add_user(ec);
	kevent::registration e15 = q.add_user(mode::dispatch, 1, ec);
	kevent::registration e16 = q.add_user(9, ec);
	kevent::registration e17 = q.add_user(9, mode::oneshot, 1, ec);
	kevent::registration e18 = q.add_signal(SIGUSR2, ec);
	kevent::registration e19 = q.add_signal(SIGUSR2, mode::none, 1, ec);
	kevent::registration e20 = q.add_inode(fd, inode_events::attrib, ec);
	kevent::registration e21 = q.add_inode(fd, inode_events::attrib, mode::none, 1, ec);
	kevent::registration e22 = q.add_proc(getpid(), ec);
	kevent::registration e23 = q.add_proc(getpid(), mode::none, 1, ec);
	kevent::registration e24 = q.add(kevent::user_event(10), ec);
	kevent::registration e25 = q.add_with_new_id(kevent::user_event(0), ec);
	kevent::registration e26 = q.add_with_new_id(kevent::user_event(0));
	kevent::registration e27 = q.add(kevent::with_prio(kevent::user_event(11), kevent::prio_max));
	kevent::registration e28 = q.add(kevent::with_prio(kevent::user_event(12), 3, ec), ec);
	e27.modify(kevent::with_prio(kevent::user_event(11), kevent::prio_default));
	q.set_prio_bound(KEVENT_PRIO_BOUND_DEFAULT);
	q.set_prio_bound(1u, ec);
	std::uint32_t bound = q.prio_bound() + q.prio_bound(ec) + kevent::prio_levels;
	r7.trigger();
	r7.trigger(ec);
	r1.disable();
	r1.enable();
	r1.disable(ec);
	r1.enable(ec);
	r2.modify(kevent::timer_event(1, 20us));
	r2.modify(kevent::timer_event(1, 20us, ec), ec);
	(void)r9.release();
	r10.remove();
	r11.remove(ec);
	r8.reset();
	q.trigger(6);
	q.trigger(6, ec);
	q.enable(kevent::event_type::user, 6);
	q.disable(kevent::event_type::user, 6, ec);
	q.enable(kevent::event_type::user, 6, ec);
	q.disable(kevent::event_type::user, 6);
	q.modify(kevent::user_event(6));
	q.modify(kevent::user_event(6), ec);
	std::uint64_t sum = q.new_id();
	sum += r12.id() + static_cast<std::uint64_t>(r13.type());

	std::vector<ukevent> batch{kevent::user_event(17), kevent::user_event(18)};
	std::size_t ok = q.ctl(KEVENT_CTL_ADD, batch.data(), batch.size());
	ok += q.ctl(KEVENT_CTL_ADD, batch.data(), batch.size(), ec);
#if KEVENT_HPP_HAS_SPAN
	ok += q.ctl(KEVENT_CTL_REMOVE, std::span<ukevent>(batch));
	ok += q.ctl(KEVENT_CTL_REMOVE, std::span<ukevent>(batch), ec);
#endif
	ec = kevent::entry_error(batch[0]);
	q.ctl_one(KEVENT_CTL_READY, batch[0], ec);
	q.remove(kevent::event_type::user, 7, ec);
	q.remove(kevent::event_type::user, 7);

	std::size_t n = q.wait();
	n += q.wait(ec);
	n += q.wait(2, ec);
	n += q.wait_for(10ms);
	n += q.wait_for(10ms, ec);
	n += q.wait_for(10ms, 2, ec);
	n += q.wait_for(hours::max(), 2);
	n += q.wait_for(duration<float>(0.25f));
	n += q.wait_until(steady_clock::now() + 5ms);
	n += q.wait_until(system_clock::now() + 5ms, ec);
	n += q.wait_until(system_clock::now() + 5ms, 1, ec);
	n += q.publish();
	n += q.publish(ec);
	sigset_t mask;
	sigemptyset(&mask);
	n += q.pwait(mask);
	n += q.pwait(mask, ec);
	n += q.pwait(mask, 1, ec);
	n += q.pwait_for(1s, mask);
	n += q.pwait_for(1s, mask, ec);
	n += q.pwait_for(1s, mask, 1, ec);

	for (const ukevent &ev : q.events())
		sum += ev.ret_data;
	for (kevent::event ev : q.events()) {
		sum += ev.count() + ev.id() + ev.user() + static_cast<std::uint64_t>(ev.fd()) +
		       static_cast<std::uint64_t>(ev.signal()) + static_cast<std::uint64_t>(ev.pid()) +
		       ev.user_bits() + static_cast<std::uint32_t>(ev.poll()) +
		       static_cast<std::uint32_t>(ev.inode()) +
		       static_cast<std::uint32_t>(ev.flags()) + static_cast<std::uint32_t>(ev.type()) +
		       (ev.removed() ? 1u : 0u) + ev.raw().data +
		       static_cast<std::uint64_t>(ev.wait_status().value_or(0)) + ev.prio();
		if (kevent::has(ev.poll(), poll_events::in))
			sum++;
	}
	kevent::ring_range range = q.events();
	for (auto it = range.begin(); it != range.end(); it++)
		sum += it->id;
#if KEVENT_HPP_HAS_RANGES
	for (auto it = range.begin(); it != std::default_sentinel; ++it)
		sum += (*it).user;
#endif
#if KEVENT_HPP_HAS_RANGES && !(defined(__clang__) && __clang_major__ < 15)
	// (clang 14 cannot compile libstdc++ 12's range adaptors at all)
	for (const ukevent &ev : q.events() | std::views::filter([](const ukevent &e) {
					 return e.type == KEVENT_USER;
				 }) | std::views::take(3))
		sum += ev.id;
#endif
	if (std::optional<ukevent> ev = q.try_consume())
		sum += ev->id;
	sum += q.dequeue().id;
	sum += q.dequeue(ec).id;
	if (std::optional<ukevent> ev = q.dequeue_for(1ms))
		sum += ev->id;
	if (std::optional<ukevent> ev = q.dequeue_for(1ms, ec))
		sum += ev->id;

	const timespec ts = kevent::to_timespec(1500ms);
	sum += static_cast<std::uint64_t>(ts.tv_nsec);
	sum += static_cast<std::uint64_t>(kevent::to_timespec(1500ms, ec).tv_sec);
	sum += static_cast<std::uint64_t>(kevent::checked_nanoseconds(1s, ec));
	sum += kevent::timer_event(1, system_clock::now(), ec).data;
	sum += q.backend_name(ec).size() + q.backend_name().size();
	sum += static_cast<std::uint64_t>(q.native_handle());

	kevent::queue q2(std::move(q));
	q = std::move(q2);
	q.close(ec);
	q.close();

	kevent::dispatcher d;
	kevent::dispatcher d3(ec);
	kevent::dispatcher d4(16, kevent::backend::epoll, ec);
	kevent::dispatcher d5(kevent::queue(8));
	kevent::dispatcher d6(kevent::queue(8), ec);
	int calls = 0;
	auto h1 = d.add_fd(fd, poll_events::in, [&](const ukevent &) { ++calls; });
	auto h2 = d.add_timer(1, 1ms, [&](kevent::event ev) { calls += static_cast<int>(ev.count()); });
	auto h3 = d.add_timer(2, steady_clock::now() + 1ms, [&d](const ukevent &) { d.stop(); });
	auto h4 = d.add_user(3, [](const ukevent &) {}, mode::dispatch);
	auto h5 = d.add_signal(SIGUSR2, [](const ukevent &) {});
	auto h6 = d.add_inode(fd, inode_events::attrib, [](const ukevent &) {});
	auto h7 = d.add_proc(getpid(), [](const ukevent &) {});
	auto h8 = d.add(kevent::user_event(9), std::function<void(const ukevent &)>());
	auto h10 = d.add_user(10, [p = std::make_unique<int>(1)](const ukevent &) { ++*p; });
	auto h11 = d.add_timer(1ms, [](const ukevent &) {});
	auto h12 = d.add_timer(system_clock::now() + 1ms, [](const ukevent &) {}, mode::oneshot);
	auto h13 = d.add_user([](kevent::event) {});
	auto g1 = d.add(kevent::user_event(20), [](const ukevent &) {}, ec);
	auto g2 = d.add_fd(fd, poll_events::in, [](const ukevent &) {}, ec);
	auto g3 = d.add_fd(fd, poll_events::in, [](const ukevent &) {}, mode::edge, ec);
	auto g4 = d.add_timer(1ms, [](const ukevent &) {}, ec);
	auto g5 = d.add_timer(1ms, [](const ukevent &) {}, mode::oneshot, ec);
	auto g6 = d.add_timer(21, 1ms, [](const ukevent &) {}, ec);
	auto g7 = d.add_timer(21, 1ms, [](const ukevent &) {}, mode::oneshot, ec);
	auto g8 = d.add_timer(steady_clock::now(), [](const ukevent &) {}, ec);
	auto g9 = d.add_timer(steady_clock::now(), [](const ukevent &) {}, mode::oneshot, ec);
	auto g10 = d.add_timer(22, steady_clock::now(), [](const ukevent &) {}, ec);
	auto g11 = d.add_timer(22, steady_clock::now(), [](const ukevent &) {}, mode::oneshot, ec);
	auto g12 = d.add_user([](const ukevent &) {}, ec);
	auto g13 = d.add_user([](const ukevent &) {}, mode::oneshot, ec);
	auto g14 = d.add_user(23, [](const ukevent &) {}, ec);
	auto g15 = d.add_user(23, [](const ukevent &) {}, mode::oneshot, ec);
	auto g16 = d.add_signal(SIGUSR2, [](const ukevent &) {}, ec);
	auto g17 = d.add_signal(SIGUSR2, [](const ukevent &) {}, mode::none, ec);
	auto g18 = d.add_inode(fd, inode_events::create, [](const ukevent &) {}, ec);
	auto g19 = d.add_inode(fd, inode_events::create, [](const ukevent &) {}, mode::none, ec);
	auto g20 = d.add_proc(getpid(), [](const ukevent &) {}, ec);
	auto g21 = d.add_proc(getpid(), [](const ukevent &) {}, mode::none, ec);
	auto g22 = d.add_with_new_id(kevent::with_prio(kevent::user_event(0), 7), [](kevent::event) {});
	auto g23 = d.add_with_new_id(kevent::with_prio(kevent::timer_event(0, 1ms), 1),
				     [](const ukevent &) {}, ec);
	h4.trigger();
	h4.enable();
	h4.disable();
	h4.trigger(ec);
	h4.enable(ec);
	h4.disable(ec);
	h4.modify(kevent::user_event(3, mode::oneshot));
	h4.modify(kevent::user_event(3, mode::oneshot), ec);
	h5.reset();
	h6.release();
	kevent::dispatcher::handle h9 = std::move(h7);
	calls += h9.active() ? 1 : 0;
	calls += static_cast<int>(h13.id() + static_cast<std::uint64_t>(h13.type()));
	d.post([&] { ++calls; });
	d.post([p = std::make_unique<int>(2)] { ++*p; }, ec);
	calls += static_cast<int>(d.run());
	calls += static_cast<int>(d.run(ec));
	calls += static_cast<int>(d.run_for(10ms));
	calls += static_cast<int>(d.run_for(10ms, ec));
	calls += static_cast<int>(d.run_for(hours::max()));
	calls += static_cast<int>(d.run_until(steady_clock::now() + 1ms));
	calls += static_cast<int>(d.run_until(steady_clock::now() + 1ms, ec));
	calls += static_cast<int>(d.run_once());
	calls += static_cast<int>(d.run_once(ec));
	calls += static_cast<int>(d.run_once_for(1ms));
	calls += static_cast<int>(d.run_once_for(1ms, ec));
	calls += static_cast<int>(d.poll());
	calls += static_cast<int>(d.poll(ec));
	calls += d.ready() ? 1 : 0;
	d.trigger(3);
	d.trigger(3, ec);
	d.stop(ec);
	calls += d.stop_requested() ? 1 : 0;
	calls += d.get_queue().fd() + d.native_handle();
	calls += static_cast<bool>(d) ? 1 : 0;

	kevent::timer t1(d);
	kevent::timer t2(d, 5ms);
	kevent::timer t3(d, steady_clock::now() + 1s);
	t1.async_wait([&](std::error_code e) { calls += e ? 1 : 2; });
	t1.async_wait([p = std::make_unique<int>(3)](std::error_code) { ++*p; }, ec);
	calls += static_cast<int>(t1.expires_after(1ms));
	calls += static_cast<int>(t1.expires_after(1ms, ec));
	calls += static_cast<int>(t2.expires_at(steady_clock::now()));
	calls += static_cast<int>(t2.expires_at(steady_clock::now(), ec));
	calls += static_cast<int>(t3.cancel());
	calls += static_cast<int>(t3.cancel(ec));
	calls += t3.expiry() > steady_clock::now() ? 1 : 0;
	kevent::timer t4(std::move(t3));
	t1 = std::move(t4);

#if KEVENT_HPP_HAS_STOP_TOKEN
	std::stop_source ss;
	calls += static_cast<int>(d.run(ss.get_token()));
	calls += static_cast<int>(d.run(ss.get_token(), ec));
#endif
	kevent::dispatcher d2(std::move(d));

	return static_cast<int>(ok + n + sum + bound) + ec.value() + calls;
}

#if KEVENT_HPP_HAS_COROUTINES
namespace {

kevent::task<int> answer(kevent::dispatcher &d)
{
	co_await d.sleep_for(std::chrono::milliseconds(1));
	co_return 42;
}

kevent::task<> everything(kevent::dispatcher &d, int fd, std::stop_token token)
{
	using namespace std::chrono_literals;
	std::error_code ec;
	int sum = co_await answer(d);
	co_await d.sleep_for(1ms);
	co_await d.sleep_for(1ms, ec);
	co_await d.sleep_for(1ms, token);
	co_await d.sleep_for(std::chrono::duration<double>(0.001), token, ec);
	co_await d.sleep_until(std::chrono::steady_clock::now() + 1ms);
	co_await d.sleep_until(std::chrono::system_clock::now() + 1ms, ec);
	co_await d.sleep_until(kevent::boot_clock::now() + 1ms, token);
	co_await d.sleep_until(std::chrono::steady_clock::now() + 1ms, token, ec);
	kevent::poll_events r = co_await d.readable(fd);
	r |= co_await d.readable(fd, ec);
	r |= co_await d.readable(fd, token);
	r |= co_await d.readable(fd, token, ec);
	r |= co_await d.writable(fd);
	r |= co_await d.writable(fd, ec);
	r |= co_await d.writable(fd, token);
	r |= co_await d.writable(fd, token, ec);
	std::uint64_t c = co_await d.signal(SIGUSR1);
	c += co_await d.signal(SIGUSR1, ec);
	c += co_await d.signal(SIGUSR1, token);
	c += co_await d.signal(SIGUSR1, token, ec);
	c += co_await d.user(5);
	c += co_await d.user(5, ec);
	c += co_await d.user(5, token);
	c += co_await d.user(5, token, ec);
	int st = co_await d.child_exit(1);
	st += co_await d.child_exit(1, ec);
	st += co_await d.child_exit(1, token);
	st += co_await d.child_exit(1, token, ec);
	kevent::task<int> t = answer(d);
	sum += co_await t;
	sum += static_cast<int>(c) + st + static_cast<int>(r);
	(void)sum;
}

} // namespace

int check_coroutines(int fd);
int check_coroutines(int fd)
{
	kevent::dispatcher d;
	std::stop_source ss;
	std::error_code ec;
	d.spawn(everything(d, fd, ss.get_token()));
	d.spawn(everything(d, fd, ss.get_token()), ec);
	d.spawn(everything(d, fd, ss.get_token()), ss.get_token());
	d.spawn(everything(d, fd, ss.get_token()), ss.get_token(), ec);
	int v = d.run_until_complete(answer(d));
	d.run_until_complete(everything(d, fd, ss.get_token()), ss.get_token());
	return v + ec.value();
}
#endif
