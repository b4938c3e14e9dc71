// SPDX-License-Identifier: MIT
//
// Tests of the coroutines of kevent.hpp (C++20 only: kevent::task, the
// awaitables of kevent::dispatcher, cancellation through std::stop_token).
#include "test_common.hpp"

#if KEVENT_HPP_HAS_COROUTINES

#include <sys/socket.h>
#include <sys/wait.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

using kevent::task;

namespace {

task<int> sleep_then(kevent::dispatcher &d, int value)
{
	co_await d.sleep_for(1ms);
	co_return value;
}

task<int> add_two(kevent::dispatcher &d)
{
	const int a = co_await sleep_then(d, 40);
	const int b = co_await sleep_then(d, 2);
	co_return a + b;
}

task<std::string> throws_after_a_sleep(kevent::dispatcher &d)
{
	co_await d.sleep_for(0ms);
	throw std::runtime_error("from the task");
}

task<> immediate(int &out)
{
	out = 7;
	co_return;
}

// The result of a wait, for the tests to look at: the value, or the error
// (the std::error_code form, so that nothing throws).
struct outcome {
	bool done = false;
	std::uint64_t value = 0;
	std::error_code ec;
};

task<> wait_readable(kevent::dispatcher &d, int fd, outcome &out)
{
	const kevent::poll_events ev = co_await d.readable(fd, out.ec);
	out.value = static_cast<std::uint32_t>(ev);
	out.done = true;
}

task<> wait_writable(kevent::dispatcher &d, int fd, outcome &out)
{
	const kevent::poll_events ev = co_await d.writable(fd, out.ec);
	out.value = static_cast<std::uint32_t>(ev);
	out.done = true;
}

task<> wait_user(kevent::dispatcher &d, std::uint64_t id, outcome &out)
{
	out.value = co_await d.user(id, out.ec);
	out.done = true;
}

task<> wait_signal(kevent::dispatcher &d, int signo, outcome &out)
{
	out.value = co_await d.signal(signo, out.ec);
	out.done = true;
}

task<> wait_child(kevent::dispatcher &d, pid_t pid, outcome &out)
{
	out.value = static_cast<std::uint64_t>(co_await d.child_exit(pid, out.ec));
	out.done = true;
}

task<> sleep_long(kevent::dispatcher &d, outcome &out)
{
	co_await d.sleep_for(1h, out.ec);
	out.done = true;
}

task<> sleep_until_long(kevent::dispatcher &d, outcome &out)
{
	co_await d.sleep_until(std::chrono::system_clock::now() + 1h, out.ec);
	out.done = true;
}

// Run the dispatcher until pred() (a deadlock detector bounds it).
template <class Pred>
bool run_until(kevent::dispatcher &d, Pred pred)
{
	const auto give_up = steady_clock::now() + state_timeout;
	while (!pred()) {
		if (steady_clock::now() > give_up)
			return false;
		d.run_once_for(100ms);
	}
	return true;
}

} // namespace

// ================================================================= tasks

TEST(Coroutines, TasksReturnValuesThroughSleeps)
{
	kevent::dispatcher d;
	EXPECT_EQ(d.run_until_complete(add_two(d)), 42);
	int out = 0;
	d.run_until_complete(immediate(out));
	EXPECT_EQ(out, 7);
}

TEST(Coroutines, AnExceptionReachesTheAwaiter)
{
	kevent::dispatcher d;
	EXPECT_THROW((void)d.run_until_complete(throws_after_a_sleep(d)), std::runtime_error);
	// The dispatcher is still usable.
	EXPECT_EQ(d.run_until_complete(sleep_then(d, 5)), 5);
}

namespace {
task<> spawned(kevent::dispatcher &d, std::vector<int> &log, int id)
{
	log.push_back(id);
	co_await d.sleep_for(std::chrono::milliseconds(id));
	log.push_back(100 + id);
	if (id == 3)
		d.stop();
}
task<> fails(kevent::dispatcher &d)
{
	co_await d.sleep_for(0ms);
	throw std::logic_error("spawned and failed");
}
task<> cancelled(kevent::dispatcher &d, std::stop_token token, bool &reached)
{
	reached = true;
	co_await d.sleep_for(1h, token);	// throws operation_canceled
	reached = false;
}
} // namespace

TEST(Coroutines, SpawnedTasksRunOnTheLoop)
{
	kevent::dispatcher d;
	std::vector<int> log;
	d.spawn(spawned(d, log, 1));
	d.spawn(spawned(d, log, 2));
	d.spawn(spawned(d, log, 3));
	EXPECT_TRUE(log.empty());	// started by the loop, not by spawn()
	d.run();
	ASSERT_EQ(log.size(), 6u);
	EXPECT_EQ(log[0], 1);
	EXPECT_EQ(log[1], 2);
	EXPECT_EQ(log[2], 3);
}

TEST(Coroutines, ASpawnedTaskExceptionPropagatesFromTheLoop)
{
	kevent::dispatcher d;
	d.spawn(fails(d));
	EXPECT_THROW(d.run(), std::logic_error);
}

TEST(Coroutines, ACancelledSpawnedTaskEndsQuietly)
{
	kevent::dispatcher d;
	std::stop_source source;
	bool reached = false;
	d.spawn(cancelled(d, source.get_token(), reached));
	d.post([&] { source.request_stop(); });
	d.post([&] { d.post([&] { d.stop(); }); });
	EXPECT_NO_THROW(d.run());
	EXPECT_TRUE(reached);
}

TEST(Coroutines, SpawnFromAnotherThread)
{
	kevent::dispatcher d;
	std::vector<int> log;
	std::thread::id ran_on;
	when_asleep spawner([&] { d.spawn(spawned(d, log, 3)); });
	d.post([&] { ran_on = std::this_thread::get_id(); });
	d.run();
	EXPECT_TRUE(spawner.finish());
	EXPECT_EQ(log, (std::vector<int>{3, 103}));
	EXPECT_EQ(ran_on, std::this_thread::get_id());
}

namespace {
task<> holds(kevent::dispatcher &d, std::shared_ptr<int> sentinel, int fd)
{
	co_await d.readable(fd);	// never
	++*sentinel;
}
} // namespace

TEST(Coroutines, DestroyingTheDispatcherDestroysSuspendedTasks)
{
	auto sentinel = std::make_shared<int>(0);
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	{
		kevent::dispatcher d;
		d.spawn(holds(d, sentinel, p[0]));
		d.spawn(holds(d, sentinel, p[0]));
		EXPECT_EQ(d.poll(), 2u);	// the spawns ran (a post each), now suspended
		EXPECT_EQ(sentinel.use_count(), 3);
	}
	EXPECT_EQ(sentinel.use_count(), 1);
	EXPECT_EQ(*sentinel, 0);
	close(p[0]);
	close(p[1]);
}

// ========================================================== awaitables

TEST(Coroutines, ReadableAndWritable)
{
	kevent::dispatcher d;
	int sv[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	outcome r, w;
	d.spawn(wait_readable(d, sv[0], r));
	d.spawn(wait_writable(d, sv[1], w));
	ASSERT_TRUE(run_until(d, [&] { return w.done; }));
	EXPECT_FALSE(w.ec);
	EXPECT_TRUE(kevent::has(static_cast<kevent::poll_events>(w.value), kevent::poll_events::out));
	EXPECT_FALSE(r.done);
	d.post([&] { EXPECT_EQ(write(sv[1], "x", 1), 1); });
	ASSERT_TRUE(run_until(d, [&] { return r.done; }));
	EXPECT_FALSE(r.ec);
	EXPECT_TRUE(kevent::has(static_cast<kevent::poll_events>(r.value), kevent::poll_events::in));
	// Done with: no registration is left for either fd.
	EXPECT_EQ(raw_remove(d.native_handle(), KEVENT_POLL, static_cast<std::uint64_t>(sv[0])),
		  ENOENT);
	EXPECT_EQ(raw_remove(d.native_handle(), KEVENT_POLL, static_cast<std::uint64_t>(sv[1])),
		  ENOENT);
	close(sv[0]);
	close(sv[1]);
}

TEST(Coroutines, AReaderAndAWriterShareOneFd)
{
	// Full duplex on one socket: one coroutine waits to read, the other
	// to write, at the same time (one registration for both).
	kevent::dispatcher d;
	int sv[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	std::size_t filled = 0;
	char buf[4096] = {};
	for (;;) {	// fill sv[0]'s way out
		const ssize_t n = write(sv[0], buf, sizeof buf);
		if (n <= 0)
			break;
		filled += static_cast<std::size_t>(n);
	}
	ASSERT_GT(filled, 0u);
	outcome r, w;
	d.spawn(wait_readable(d, sv[0], r));
	d.spawn(wait_writable(d, sv[0], w));
	EXPECT_EQ(d.poll(), 2u);	// both wait now
	EXPECT_FALSE(r.done);
	EXPECT_FALSE(w.done);
	// The peer sends a byte: only the reader resumes.
	ASSERT_EQ(write(sv[1], "y", 1), 1);
	ASSERT_TRUE(run_until(d, [&] { return r.done; }));
	EXPECT_FALSE(w.done);
	// The peer drains: the writer resumes.
	while (read(sv[1], buf, sizeof buf) > 0) {
	}
	ASSERT_TRUE(run_until(d, [&] { return w.done; }));
	EXPECT_FALSE(r.ec);
	EXPECT_FALSE(w.ec);
	EXPECT_TRUE(kevent::has(static_cast<kevent::poll_events>(w.value), kevent::poll_events::out));
	close(sv[0]);
	close(sv[1]);
}

TEST(Coroutines, ManyWaitersOnOneFdAllResume)
{
	kevent::dispatcher d;
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	std::vector<outcome> out(10);
	for (auto &o : out)
		d.spawn(wait_readable(d, p[0], o));
	EXPECT_EQ(d.poll(), 10u);
	ASSERT_EQ(write(p[1], "x", 1), 1);
	ASSERT_TRUE(run_until(d, [&] {
		for (const auto &o : out)
			if (!o.done)
				return false;
		return true;
	}));
	for (const auto &o : out)
		EXPECT_FALSE(o.ec);
	close(p[0]);
	close(p[1]);
}

TEST(Coroutines, AClosedFdFailsTheWait)
{
	kevent::dispatcher d;
	outcome o;
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	close(p[1]);
	d.run_until_complete(wait_readable(d, p[0], o));
	EXPECT_TRUE(o.done);
	EXPECT_EQ(o.ec, std::errc::bad_file_descriptor);
	EXPECT_THROW(d.run_until_complete([](kevent::dispatcher &dd, int fd) -> task<> {
		co_await dd.readable(fd);
	}(d, -1)), std::system_error);
}

TEST(Coroutines, UserEventFromAnotherThread)
{
	kevent::dispatcher d;
	outcome o;
	d.spawn(wait_user(d, 77, o));
	EXPECT_EQ(d.poll(), 1u);	// registered, waiting
	std::thread t([&] { d.trigger(77); });
	t.join();
	ASSERT_TRUE(run_until(d, [&] { return o.done; }));
	EXPECT_FALSE(o.ec);
	EXPECT_EQ(o.value, 1u);
	// Triggers made while nobody waits are counted into the next wait.
	d.trigger(77);
	d.trigger(77);
	EXPECT_EQ(d.poll(), 0u);
	std::uint64_t total = 0;
	for (int i = 0; i < 2 && total < 2; i++) {
		outcome again;
		d.run_until_complete(wait_user(d, 77, again));
		EXPECT_FALSE(again.ec);
		total += again.value;
	}
	EXPECT_EQ(total, 2u);
}

TEST(Coroutines, ADeliveryWhileNobodyWaitsGoesToTheNextWait)
{
	// The user event's registration is enabled for a wait that is then
	// cancelled: the trigger that follows is delivered with nobody
	// waiting, and the next wait must get it (not sleep for another).
	kevent::dispatcher d;
	std::stop_source stop;
	outcome cancelled;
	d.spawn(wait_user(d, 78, cancelled), stop.get_token());
	EXPECT_EQ(d.poll(), 1u);	// registered, waiting
	stop.request_stop();
	ASSERT_TRUE(run_until(d, [&] { return cancelled.done; }));
	EXPECT_EQ(cancelled.ec, std::errc::operation_canceled);
	d.trigger(78);
	EXPECT_EQ(d.poll(), 1u);	// delivered to nobody: counted
	outcome next;
	d.spawn(wait_user(d, 78, next));
	ASSERT_TRUE(run_until(d, [&] { return next.done; }));
	EXPECT_FALSE(next.ec) << next.ec.message();
	EXPECT_EQ(next.value, 1u);
	// And the registration goes on for the wait after it.
	outcome last;
	d.spawn(wait_user(d, 78, last));
	EXPECT_EQ(d.poll(), 1u);	// waiting
	d.trigger(78);
	ASSERT_TRUE(run_until(d, [&] { return last.done; }));
	EXPECT_FALSE(last.ec) << last.ec.message();
	EXPECT_EQ(last.value, 1u);
}

TEST(Coroutines, SignalCountsDeliveries)
{
	blocked_signal bs(SIGUSR2);
	kevent::dispatcher d;
	outcome first;
	d.spawn(wait_signal(d, SIGUSR2, first));
	EXPECT_EQ(d.poll(), 1u);
	kill(getpid(), SIGUSR2);
	ASSERT_TRUE(run_until(d, [&] { return first.done; }));
	EXPECT_FALSE(first.ec);
	EXPECT_GE(first.value, 1u);
	// A delivery while nobody waits is kept for the next wait.
	kill(getpid(), SIGUSR2);
	EXPECT_EQ(d.poll(), 0u);
	outcome second;
	d.run_until_complete(wait_signal(d, SIGUSR2, second));
	EXPECT_FALSE(second.ec);
	EXPECT_GE(second.value, 1u);
}

TEST(Coroutines, ChildExitGivesTheWaitStatus)
{
	kevent::dispatcher d;
	gated_child c(7);
	ASSERT_GT(c.pid, 0);
	outcome a, b;	// two waiters on one child
	d.spawn(wait_child(d, c.pid, a));
	d.spawn(wait_child(d, c.pid, b));
	EXPECT_EQ(d.poll(), 2u);
	c.open_gate();
	ASSERT_TRUE(run_until(d, [&] { return a.done && b.done; }));
	for (const outcome *o : {&a, &b}) {
		EXPECT_FALSE(o->ec);
		EXPECT_TRUE(WIFEXITED(static_cast<int>(o->value)));
		EXPECT_EQ(WEXITSTATUS(static_cast<int>(o->value)), 7);
	}
	int st = 0;
	EXPECT_EQ(waitpid(c.pid, &st, 0), c.pid);	// left unreaped
	c.pid = -1;
}

TEST(Coroutines, ChildExitOfANonChildIsECHILD)
{
	orphan grandchild;
	ASSERT_GT(grandchild.pid, 0);
	kevent::dispatcher d;
	outcome o;
	d.spawn(wait_child(d, grandchild.pid, o));
	EXPECT_EQ(d.poll(), 1u);
	grandchild.open_gate();
	ASSERT_TRUE(run_until(d, [&] { return o.done; }));
	EXPECT_EQ(o.ec, std::errc::no_child_process);
}

// ========================================================= cancellation

namespace {
task<> every_wait(kevent::dispatcher &d, int fd, pid_t pid, std::vector<outcome> &out)
{
	// Each of these waits forever unless cancelled; the task's token
	// (given to spawn) is what cancels them.
	co_await wait_readable(d, fd, out[0]);
	co_await wait_writable(d, -1, out[1]);	// EBADF at once: not a cancel
	co_await wait_user(d, 5, out[2]);
	co_await wait_signal(d, SIGUSR2, out[3]);
	co_await wait_child(d, pid, out[4]);
	co_await sleep_long(d, out[5]);
	co_await sleep_until_long(d, out[6]);
}
} // namespace

TEST(Coroutines, AStopRequestCancelsEveryKindOfWait)
{
	blocked_signal bs(SIGUSR2);
	kevent::dispatcher d;
	gated_child c(0);
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	std::stop_source source;
	std::vector<outcome> out(7);
	d.spawn(every_wait(d, p[0], c.pid, out), source.get_token());
	source.request_stop();	// before it starts: each wait fails at once
	ASSERT_TRUE(run_until(d, [&] { return out[6].done; }));
	EXPECT_EQ(out[0].ec, std::errc::operation_canceled);
	EXPECT_EQ(out[1].ec, std::errc::operation_canceled);	// the stop comes first
	for (std::size_t i = 2; i < out.size(); i++)
		EXPECT_EQ(out[i].ec, std::errc::operation_canceled) << i;
	close(p[0]);
	close(p[1]);
}

namespace {
task<> one_wait(kevent::dispatcher &d, int kind, int fd, pid_t pid, outcome &out)
{
	switch (kind) {
	case 0:
		co_await wait_readable(d, fd, out);
		break;
	case 1:
		co_await wait_user(d, 5, out);
		break;
	case 2:
		co_await wait_signal(d, SIGUSR2, out);
		break;
	case 3:
		co_await wait_child(d, pid, out);
		break;
	case 4:
		co_await sleep_long(d, out);
		break;
	default:
		co_await sleep_until_long(d, out);
		break;
	}
}
} // namespace

TEST(Coroutines, AStopFromAnotherThreadCancelsASleepingWait)
{
	blocked_signal bs(SIGUSR2);
	gated_child c(0);
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	for (int kind = 0; kind < 6; kind++) {
		kevent::dispatcher d;
		std::stop_source source;
		outcome o;
		d.spawn(one_wait(d, kind, p[0], c.pid, o), source.get_token());
		EXPECT_EQ(d.poll(), 1u);	// waiting
		when_asleep stopper([&] { source.request_stop(); });
		ASSERT_TRUE(run_until(d, [&] { return o.done; })) << kind;
		EXPECT_TRUE(stopper.finish()) << kind;
		EXPECT_EQ(o.ec, std::errc::operation_canceled) << kind;
		// A cancelled fd or process wait leaves no registration.
		EXPECT_EQ(raw_remove(d.native_handle(), KEVENT_POLL, static_cast<std::uint64_t>(p[0])),
			  ENOENT) << kind;
		EXPECT_EQ(raw_remove(d.native_handle(), KEVENT_PROC, static_cast<std::uint64_t>(c.pid)),
			  ENOENT) << kind;
	}
	close(p[0]);
	close(p[1]);
}

namespace {
task<> child_sleeps(kevent::dispatcher &d, outcome &out)
{
	co_await sleep_long(d, out);
}
task<> parent_awaits(kevent::dispatcher &d, outcome &out)
{
	co_await child_sleeps(d, out);
}
task<> own_token_wins(kevent::dispatcher &d, std::stop_token own, outcome &out)
{
	co_await d.sleep_for(1h, own, out.ec);
	out.done = true;
}
task<int> stop_token_of_the_task()
{
	co_return 0;
}
} // namespace

TEST(Coroutines, AnAwaitedTaskInheritsTheStopToken)
{
	kevent::dispatcher d;
	std::stop_source source;
	outcome o;
	d.spawn(parent_awaits(d, o), source.get_token());
	EXPECT_EQ(d.poll(), 1u);
	source.request_stop();
	ASSERT_TRUE(run_until(d, [&] { return o.done; }));
	EXPECT_EQ(o.ec, std::errc::operation_canceled);
	(void)stop_token_of_the_task;
}

TEST(Coroutines, AnExplicitTokenOverridesTheTasks)
{
	kevent::dispatcher d;
	std::stop_source task_source, own_source;
	outcome o;
	d.spawn(own_token_wins(d, own_source.get_token(), o), task_source.get_token());
	EXPECT_EQ(d.poll(), 1u);
	task_source.request_stop();	// not this wait's token
	EXPECT_EQ(d.run_once_for(20ms), 0u);
	EXPECT_FALSE(o.done);
	own_source.request_stop();
	ASSERT_TRUE(run_until(d, [&] { return o.done; }));
	EXPECT_EQ(o.ec, std::errc::operation_canceled);
}

TEST(Coroutines, RunWithAStopToken)
{
	kevent::dispatcher d;
	std::stop_source source;
	std::vector<int> log;
	d.spawn(spawned(d, log, 1));
	d.post([&] { source.request_stop(); });
	d.run(source.get_token());
	EXPECT_EQ(log.front(), 1);
}

// ================================================================ attack

namespace {
task<> counter(kevent::dispatcher &d, std::uint64_t id, std::uint64_t want,
	       std::atomic<std::uint64_t> &total, std::atomic<int> &finished)
{
	std::uint64_t got = 0;
	while (got < want) {
		got += co_await d.user(id);
		co_await d.sleep_for(0ns);	// a timer in between
	}
	total += got;
	++finished;
}
} // namespace

TEST(Coroutines, ManyCoroutinesAndThreadsTriggering)
{
	// 50 coroutines each count 200 triggers of their own user event,
	// made by 4 threads while the loop runs; each must see exactly its
	// 200 (coalesced counts add up), then the last stops the loop.
	constexpr int coros = 50, per = 200, threads = 4;
	kevent::dispatcher d;
	std::atomic<std::uint64_t> total{0};
	std::atomic<int> finished{0};
	for (int i = 0; i < coros; i++)
		d.spawn(counter(d, static_cast<std::uint64_t>(i), per, total, finished));
	EXPECT_EQ(d.poll(), static_cast<std::size_t>(coros));	// all registered
	std::vector<std::thread> ts;
	for (int t = 0; t < threads; t++)
		ts.emplace_back([&, t] {
			for (int n = 0; n < per; n++)
				for (int i = t; i < coros; i += threads)
					d.trigger(static_cast<std::uint64_t>(i));
		});
	std::atomic<bool> gave_up{false};
	std::thread watchdog([&] {	// a hang detector: lost triggers
		const auto give_up = steady_clock::now() + state_timeout;
		while (finished.load() < coros && steady_clock::now() < give_up)
			std::this_thread::sleep_for(1ms);
		if (finished.load() < coros)
			gave_up = true;
		d.stop();
	});
	while (finished.load() < coros && !gave_up.load())
		d.run_once_for(100ms);
	watchdog.join();
	for (auto &t : ts)
		t.join();
	EXPECT_FALSE(gave_up.load());
	EXPECT_EQ(finished.load(), coros);
	EXPECT_EQ(total.load(), static_cast<std::uint64_t>(coros) * per);
}

#endif // KEVENT_HPP_HAS_COROUTINES
