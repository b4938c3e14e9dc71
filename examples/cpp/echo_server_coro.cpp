// SPDX-License-Identifier: MIT
//
// echo_server_coro - the TCP echo server of echo_server.cpp written with
// C++20 coroutines: a kevent::task per connection that reads and writes as
// if it could block, co_await d.readable(fd) / d.writable(fd) where it
// would; the watchdog and the signals are coroutines too, and everything
// stops through one std::stop_source.
//
// It listens on 127.0.0.1, runs its own clients in other threads (the same
// as echo_server's), and exits 0 when every echo came back intact, so it
// doubles as a test.
//
//   echo_server_coro [clients]
#include <kevent.hpp>

#include "echo_common.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>

#if !KEVENT_HPP_HAS_COROUTINES
#error "echo_server_coro needs C++20 coroutines"
#endif

namespace {

using namespace std::chrono_literals;
using echo::unique_fd;

struct totals {
	std::size_t accepted = 0;
	std::size_t echoed = 0;
	int sessions_left = 0;	// still running
};

// One connection: echo until the peer closes, or a stop is requested (the
// waits then fail with operation_canceled, in ec: nothing throws).
kevent::task<> session(kevent::dispatcher &d, unique_fd fd, totals &t)
{
	char buf[16384];
	std::error_code ec;
	++t.sessions_left;
	for (;;) {
		const ssize_t n = ::read(fd.get(), buf, sizeof buf);
		if (n == 0)
			break;	// the peer is done
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				break;
			co_await d.readable(fd.get(), ec);
			if (ec)
				break;
			continue;
		}
		for (std::size_t off = 0; off < static_cast<std::size_t>(n);) {
			const ssize_t w = ::write(fd.get(), buf + off, static_cast<std::size_t>(n) - off);
			if (w >= 0) {
				off += static_cast<std::size_t>(w);
				t.echoed += static_cast<std::size_t>(w);
			} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
				co_await d.writable(fd.get(), ec);
				if (ec)
					goto done;
			} else if (errno != EINTR) {
				goto done;
			}
		}
	}
done:
	--t.sessions_left;
}	// fd closed here, after its last wait

// Accept connections; a session each, with the same stop token.
kevent::task<> listener(kevent::dispatcher &d, int lfd, totals &t, std::stop_token token)
{
	std::error_code ec;
	for (;;) {
		co_await d.readable(lfd, ec);	// the task's token: cancelled on stop
		if (ec)
			co_return;
		for (;;) {
			const int c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (c < 0)
				break;	// EAGAIN, or a connection that went away
			++t.accepted;
			d.spawn(session(d, unique_fd(c), t), token);
		}
	}
}

kevent::task<> on_signal(kevent::dispatcher &d, int signo, std::stop_source &source,
			 bool &stopped_by_signal)
{
	std::error_code ec;
	co_await d.signal(signo, ec);
	if (ec)
		co_return;	// cancelled: the program is ending anyway
	std::printf("echo_server_coro: signal %d, stopping\n", signo);
	stopped_by_signal = true;
	source.request_stop();
}

kevent::task<> watchdog(kevent::dispatcher &d, std::stop_source &source, bool &timed_out)
{
	std::error_code ec;
	co_await d.sleep_for(20s, ec);
	if (ec)
		co_return;	// the server stopped first
	std::fprintf(stderr, "echo_server_coro: watchdog expired\n");
	timed_out = true;
	source.request_stop();
}

} // namespace

int main(int argc, char **argv)
try {
	const int asked = argc > 1 ? std::atoi(argv[1]) : 4;
	const int clients = asked < 1 ? 1 : asked > 16 ? 16 : asked;

	// Signals become events: block them before any thread starts.
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

	kevent::dispatcher d;
	unsigned short port = 0;
	const unique_fd lfd = echo::listen_loopback(port);
	std::printf("echo_server_coro: listening on 127.0.0.1:%u (backend %s)\n",
		    static_cast<unsigned>(port), std::string(d.get_queue().backend_name()).c_str());

	std::stop_source source;
	totals t;
	bool stopped_by_signal = false, timed_out = false;
	d.spawn(listener(d, lfd.get(), t, source.get_token()), source.get_token());
	d.spawn(on_signal(d, SIGINT, source, stopped_by_signal), source.get_token());
	d.spawn(on_signal(d, SIGTERM, source, stopped_by_signal), source.get_token());
	d.spawn(watchdog(d, source, timed_out), source.get_token());

	std::atomic<int> ok{0};
	std::thread client_thread([&] {
		std::thread threads[16];
		for (int i = 0; i < clients; i++)
			threads[i] = std::thread([&, i] { ok += echo::run_client(port, i); });
		for (int i = 0; i < clients; i++)
			threads[i].join();
		source.request_stop();	// from another thread
	});

	d.run(source.get_token());
	client_thread.join();
	// Let the cancelled coroutines finish (their cancellations are
	// posted); what is left is destroyed with the dispatcher.
	while (d.ready())
		d.poll();

	std::printf("echo_server_coro: %d/%d clients ok, %zu connections, %zu bytes echoed, "
		    "%d sessions left\n", ok.load(), clients, t.accepted, t.echoed, t.sessions_left);
	return ok.load() == clients && t.sessions_left == 0 && !timed_out && !stopped_by_signal
		? 0 : 1;
} catch (const std::exception &e) {
	std::fprintf(stderr, "echo_server_coro: %s\n", e.what());
	return 1;
}
