// SPDX-License-Identifier: MIT
//
// echo_server - a TCP echo server on 127.0.0.1 driven by kevent::dispatcher
// callbacks (echo_server_coro.cpp is the same server written with C++20
// coroutines).
//
// It listens on an ephemeral port, then runs its own clients in another
// thread: each connects, sends messages (one large enough to fill the
// socket buffers), checks the echo and disconnects; the last one calls
// dispatcher::stop() from that thread.  SIGINT/SIGTERM (as KEVENT_SIGNAL
// events) and a 20 s watchdog timer also stop it.  Exit status 0 when every
// echo came back intact, so it doubles as a test.
//
//   echo_server [clients]
#include <kevent.hpp>

#include "echo_common.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace {

using echo::unique_fd;

// ------------------------------------------------------------- the server

class echo_server {
public:
	explicit echo_server(kevent::dispatcher &d) : d_(d)
	{
		listener_ = echo::listen_loopback(port_);

		accept_ = d_.add_fd(listener_.get(), kevent::poll_events::in,
				    [this](kevent::event) { on_accept(); });
	}

	[[nodiscard]] unsigned short port() const noexcept { return port_; }
	[[nodiscard]] std::size_t bytes_echoed() const noexcept { return echoed_; }
	[[nodiscard]] std::size_t connections() const noexcept { return accepted_; }

private:
	struct connection {
		unique_fd fd;				// closed after...
		kevent::dispatcher::handle handle;	// ...its registration is removed
		std::string out;			// echo not yet written
		bool want_out = false;
	};

	void on_accept()
	{
		for (;;) {
			unique_fd c(::accept4(listener_.get(), nullptr, nullptr,
					      SOCK_NONBLOCK | SOCK_CLOEXEC));
			if (c.get() < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					return;
				echo::die("accept4");
			}
			const int fd = c.get();
			auto conn = std::make_unique<connection>();
			conn->fd = std::move(c);
			conn->handle = d_.add_fd(fd, reading,
						 [this, fd](kevent::event ev) { on_ready(fd, ev.poll()); });
			conns_[fd] = std::move(conn);
			++accepted_;
		}
	}

	static constexpr kevent::poll_events reading =
		kevent::poll_events::in | kevent::poll_events::rdhup;

	void on_ready(int fd, kevent::poll_events mask)
	{
		using kevent::poll_events;
		auto it = conns_.find(fd);
		if (it == conns_.end())
			return;
		connection &c = *it->second;
		bool eof = (mask & (poll_events::err | poll_events::hup)) != poll_events::none;

		if ((mask & reading) != poll_events::none) {
			char buf[16384];
			for (;;) {
				const ssize_t n = ::read(fd, buf, sizeof buf);
				if (n > 0) {
					c.out.append(buf, static_cast<std::size_t>(n));
					continue;
				}
				if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
					eof = true;
				break;
			}
		}
		while (!c.out.empty()) {
			const ssize_t n = ::write(fd, c.out.data(), c.out.size());
			if (n < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
					eof = true;
				break;
			}
			echoed_ += static_cast<std::size_t>(n);
			c.out.erase(0, static_cast<std::size_t>(n));
		}
		if (eof) {
			conns_.erase(it);	// REMOVE, then close
			return;
		}
		// Ask for POLL_OUT only while output is pending.
		const bool want_out = !c.out.empty();
		if (want_out != c.want_out) {
			c.want_out = want_out;
			c.handle.modify(kevent::fd_event(fd, want_out ? reading | poll_events::out
									: reading));
		}
	}

	kevent::dispatcher &d_;
	unique_fd listener_;
	unsigned short port_ = 0;
	kevent::dispatcher::handle accept_;
	std::map<int, std::unique_ptr<connection>> conns_;
	std::size_t echoed_ = 0;
	std::size_t accepted_ = 0;
};

} // namespace

int main(int argc, char **argv)
try {
	using namespace std::chrono_literals;
	const int clients = argc > 1 ? std::atoi(argv[1]) : 4;

	// Signals become events: block them before any thread starts.
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

	kevent::dispatcher d;
	echo_server server(d);
	std::printf("echo_server: listening on 127.0.0.1:%u (backend %s)\n",
		    static_cast<unsigned>(server.port()),
		    std::string(d.get_queue().backend_name()).c_str());

	bool stopped_by_signal = false, timed_out = false;
	auto on_signal = [&](kevent::event ev) {
		std::printf("echo_server: signal %d, stopping\n", ev.signal());
		stopped_by_signal = true;
		d.stop();
	};
	auto sigint = d.add_signal(SIGINT, on_signal);
	auto sigterm = d.add_signal(SIGTERM, on_signal);
	auto watchdog = d.add_timer(20s, [&](kevent::event) {	// an id of its own
		std::fprintf(stderr, "echo_server: watchdog expired\n");
		timed_out = true;
		d.stop();
	}, kevent::mode::oneshot);

	std::atomic<int> ok{0};
	std::thread client_thread([&] {
		std::thread threads[16];
		const int n = clients < 1 ? 1 : clients > 16 ? 16 : clients;
		for (int i = 0; i < n; i++)
			threads[i] = std::thread([&, i] { ok += echo::run_client(server.port(), i); });
		for (int i = 0; i < n; i++)
			threads[i].join();
		d.stop();	// from another thread
	});

	const std::size_t callbacks = d.run();
	client_thread.join();

	const int n = clients < 1 ? 1 : clients > 16 ? 16 : clients;
	std::printf("echo_server: %d/%d clients ok, %zu connections, %zu bytes echoed, "
		    "%zu callbacks\n", ok.load(), n, server.connections(),
		    server.bytes_echoed(), callbacks);
	return ok.load() == n && !timed_out && !stopped_by_signal ? 0 : 1;
} catch (const std::exception &e) {
	std::fprintf(stderr, "echo_server: %s\n", e.what());
	return 1;
}
