// SPDX-License-Identifier: MIT
//
// asio_nested - a kevent::dispatcher inside an asio::io_context (standalone
// asio, Debian's libasio-dev): one thread, one loop (asio's), and the
// kevent events (timers, signals, process exits, user events, posts from
// other threads) dispatched from it.
//
// The recipe, for any loop that can watch a file descriptor (asio, libuv,
// Qt, GLib, an epoll loop of your own):
//   1. watch a duplicate of d.native_handle() for readability;
//   2. when it is readable, call d.poll(): it dispatches what the ring
//      holds, publishes what is pending (kevent_wait with a zero
//      timeout: without it the descriptor stays readable and the loop
//      spins) and dispatches that;
//   3. while d.ready() (posted work or events left), let the loop call
//      poll() again soon (asio::post) instead of waiting for the fd.
//
// It checks what it receives and exits 0, so it doubles as a test.
#include <kevent.hpp>

#include <asio.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <system_error>
#include <thread>

namespace {

using namespace std::chrono_literals;

// Drives a dispatcher from an asio::io_context.
class nested_dispatcher {
public:
	nested_dispatcher(asio::io_context &io, kevent::dispatcher &d)
		: io_(io), d_(d), fd_(io, ::dup(d.native_handle()))
	{
		arm();
	}

	// Stop watching (cancels the pending wait).
	void close()
	{
		closed_ = true;
		asio::error_code ignored;
		fd_.cancel(ignored);
	}

	[[nodiscard]] std::size_t rounds() const noexcept { return rounds_; }
	[[nodiscard]] std::size_t idle_rounds() const noexcept { return idle_; }

private:
	void arm()
	{
		if (closed_)
			return;
		fd_.async_wait(asio::posix::descriptor_base::wait_read,
			       [this](const asio::error_code &ec) {
				       if (!ec)
					       run();
			       });
	}

	void run()
	{
		++rounds_;
		if (d_.poll() == 0)
			++idle_;
		if (d_.ready())
			asio::post(io_, [this] { run(); });	// more to do: soon
		else
			arm();	// nothing left: wait for the fd
	}

	asio::io_context &io_;
	kevent::dispatcher &d_;
	asio::posix::stream_descriptor fd_;	// owns the duplicate
	bool closed_ = false;
	std::size_t rounds_ = 0, idle_ = 0;
};

} // namespace

int main()
try {
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, nullptr);	// a kevent signal

	asio::io_context io;
	kevent::dispatcher d;
	nested_dispatcher nest(io, d);
	std::printf("asio_nested: asio %d.%d.%d, kevent backend %s\n", ASIO_VERSION / 100000,
		    ASIO_VERSION / 100 % 1000, ASIO_VERSION % 100,
		    std::string(d.get_queue().backend_name()).c_str());

	int ticks = 0, triggers = 0, signals = 0, posts = 0, exit_status = -1;
	bool timed_out = false;
	asio::steady_timer watchdog(io, 20s);	// an asio timer
	std::function<void()> finish;

	// kevent's own asio-style timer, ticking three times.
	kevent::timer tick(d, 1ms);
	std::function<void(std::error_code)> on_tick = [&](std::error_code ec) {
		if (ec || ++ticks == 3)
			return finish();
		tick.expires_after(1ms);
		tick.async_wait(on_tick);
	};
	tick.async_wait(on_tick);

	// A user event, triggered last (see finish) from an asio handler: on
	// this thread, after poll() found nothing left to do.  Only the
	// readability of the queue fd can then wake the dispatcher.
	auto user = d.add_user([&](kevent::event ev) {
		triggers += static_cast<int>(ev.count());
		finish();
	});

	// A signal, and a child's exit.
	auto sig = d.add_signal(SIGUSR1, [&](kevent::event ev) {
		signals += static_cast<int>(ev.count());
		finish();
	});
	kill(getpid(), SIGUSR1);
	const pid_t child = fork();
	if (child == 0)
		_exit(5);
	auto proc = d.add_proc(child, [&](kevent::event ev) {
		exit_status = ev.wait_status().value_or(-1);
		finish();
	});

	// Posts from another thread.
	std::thread poster([&] {
		for (int i = 0; i < 3; i++)
			d.post([&] {
				++posts;
				finish();
			});
	});

	bool triggered = false;
	finish = [&] {
		if (ticks < 3 || signals < 1 || posts < 3 || exit_status < 0)
			return;
		if (!triggered) {
			triggered = true;
			asio::post(io, [&] { user.trigger(); });
			return;
		}
		if (triggers == 1) {
			watchdog.cancel();
			nest.close();	// io.run() returns: no work left
		}
	};
	watchdog.async_wait([&](const asio::error_code &ec) {
		if (ec)
			return;
		std::fprintf(stderr, "asio_nested: watchdog expired\n");
		timed_out = true;
		io.stop();
	});

	io.run();
	poster.join();
	waitpid(child, nullptr, 0);

	std::printf("asio_nested: %d ticks, %d trigger, %d signal, %d posts, child status %d; "
		    "%zu rounds, %zu idle\n", ticks, triggers, signals, posts,
		    WIFEXITED(exit_status) ? WEXITSTATUS(exit_status) : -1, nest.rounds(),
		    nest.idle_rounds());
	const bool ok = !timed_out && ticks == 3 && triggers == 1 && signals >= 1 && posts == 3 &&
			WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 5;
	return ok ? 0 : 1;
} catch (const std::exception &e) {
	std::fprintf(stderr, "asio_nested: %s\n", e.what());
	return 1;
}
