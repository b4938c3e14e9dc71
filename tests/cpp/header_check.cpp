// SPDX-License-Identifier: MIT
//
// Compiled (not run) by the header-check tests with -Wall -Wextra -Werror
// -pedantic -Wconversion -Wshadow as C++17 and C++20, with g++ and clang++.
// kevent.hpp comes first: it must be self-contained.  Every template is
// instantiated here so that warnings inside them show up.
#include <kevent.hpp>

#include <chrono>
#include <cstdint>
#include <ratio>
#include <vector>

#if KEVENT_HPP_HAS_RANGES
static_assert(std::input_iterator<kevent::ring_range::iterator>);
static_assert(std::ranges::input_range<kevent::ring_range>);
static_assert(std::sentinel_for<std::default_sentinel_t, kevent::ring_range::iterator>);
#endif
static_assert(std::is_nothrow_move_constructible_v<kevent::queue>);
static_assert(std::is_nothrow_move_assignable_v<kevent::queue>);
static_assert(!std::is_copy_constructible_v<kevent::queue>);
static_assert(!std::is_copy_constructible_v<kevent::registration>);
static_assert(std::is_nothrow_move_constructible_v<kevent::registration>);
static_assert(!std::is_copy_constructible_v<kevent::dispatcher::handle>);
static_assert(std::is_nothrow_move_constructible_v<kevent::dispatcher::handle>);
static_assert(std::is_same_v<std::iterator_traits<kevent::ring_range::iterator>::reference,
			     const ukevent &>);
static_assert(kevent::checked_nanoseconds(std::chrono::seconds(2)) == 2000000000);
static_assert(kevent::checked_nanoseconds(std::chrono::duration<unsigned char>(1)) == 1000000000);
static_assert(kevent::checked_nanoseconds(std::chrono::duration<std::int64_t, std::pico>(1)) == 1);

int check_everything(int fd);
int check_everything(int fd)
{
	using namespace std::chrono;
	using namespace std::chrono_literals;

	kevent::queue q(64, kevent::backend::automatic);
	kevent::registration r1 = q.add_fd(fd, KEVENT_POLL_IN);
	kevent::registration r2 = q.add_timer(1, 10ms);
	kevent::registration r3 = q.add_timer(2, duration<double>(0.5), KEVENT_REQ_ONESHOT);
	kevent::registration r4 = q.add_timer(3, system_clock::now() + 1s);
	kevent::registration r5 = q.add_timer(4, steady_clock::now() + 1h);
	kevent::registration r6 = q.add_timer(5, duration<std::uint32_t, std::milli>(5u));
	kevent::registration r7 = q.add_user(6);
	kevent::registration r8 = q.add_signal(SIGUSR1);
	kevent::registration r9 = q.add_inode(fd, KEVENT_INODE_MODIFY);
	kevent::registration r10 = q.add_proc(getpid());
	r7.trigger();
	r1.disable();
	r1.enable();
	r2.modify(kevent::timer_event(1, 20us));
	(void)r9.release();
	r10.remove();
	r8.reset();
	q.trigger(6);

	std::vector<ukevent> batch{kevent::user_event(7), kevent::user_event(8)};
	std::size_t ok = q.ctl(KEVENT_CTL_ADD, batch.data(), batch.size());
#if KEVENT_HPP_HAS_SPAN
	ok += q.ctl(KEVENT_CTL_REMOVE, std::span<ukevent>(batch));
#endif
	std::error_code ec = kevent::entry_error(batch[0]);
	q.remove(KEVENT_USER, 7, ec);

	std::size_t n = q.wait();
	n += q.wait_for(10ms);
	n += q.wait_for(hours::max(), 2);
	n += q.wait_for(duration<float>(0.25f));
	n += q.wait_until(steady_clock::now() + 5ms);
	n += q.wait_until(system_clock::now() + 5ms);
	sigset_t mask;
	sigemptyset(&mask);
	n += q.pwait(mask);
	n += q.pwait_for(1s, mask);

	std::uint64_t sum = 0;
	for (const ukevent &ev : q.events())
		sum += ev.ret_data;
	kevent::ring_range range = q.events();
	for (auto it = range.begin(); it != range.end(); it++)
		sum += it->id;
#if KEVENT_HPP_HAS_RANGES
	for (auto it = range.begin(); it != std::default_sentinel; ++it)
		sum += (*it).user;
#endif
	if (std::optional<ukevent> ev = q.try_consume())
		sum += ev->id;
	sum += q.dequeue().id;
	if (std::optional<ukevent> ev = q.dequeue_for(1ms))
		sum += ev->id;

	const timespec ts = kevent::to_timespec(1500ms);
	sum += static_cast<std::uint64_t>(ts.tv_nsec);

	kevent::queue q2(std::move(q));
	q = std::move(q2);
	q.close();

	kevent::dispatcher d;
	int calls = 0;
	auto h1 = d.add_fd(fd, KEVENT_POLL_IN, [&](const ukevent &) { ++calls; });
	auto h2 = d.add_timer(1, 1ms, [&](const ukevent &ev) { calls += static_cast<int>(ev.ret_data); });
	auto h3 = d.add_timer(2, steady_clock::now() + 1ms, [&d](const ukevent &) { d.stop(); });
	auto h4 = d.add_user(3, [](const ukevent &) {}, KEVENT_REQ_DISPATCH);
	auto h5 = d.add_signal(SIGUSR2, [](const ukevent &) {});
	auto h6 = d.add_inode(fd, KEVENT_INODE_ATTRIB, [](const ukevent &) {});
	auto h7 = d.add_proc(getpid(), [](const ukevent &) {});
	auto h8 = d.add(kevent::user_event(9), std::function<void(const ukevent &)>());
	auto h10 = d.add_user(10, [p = std::make_unique<int>(1)](const ukevent &) { ++*p; });
	h4.trigger();
	h4.enable();
	h4.disable();
	h4.modify(kevent::user_event(3, KEVENT_REQ_ONESHOT));
	h5.reset();
	h6.release();
	kevent::dispatcher::handle h9 = std::move(h7);
	calls += h9.active() ? 1 : 0;
	calls += static_cast<int>(d.run());
	calls += static_cast<int>(d.run_for(10ms));
	calls += static_cast<int>(d.run_for(hours::max()));
	calls += static_cast<int>(d.run_until(steady_clock::now() + 1ms));
	calls += static_cast<int>(d.run_once());
	calls += static_cast<int>(d.run_once_for(1ms));
	calls += static_cast<int>(d.poll());
	d.trigger(3);
	calls += d.stop_requested() ? 1 : 0;
	calls += d.get_queue().fd();
	kevent::dispatcher d2(std::move(d));

	return static_cast<int>(ok + n + sum) + ec.value() + calls;
}
