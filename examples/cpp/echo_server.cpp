// SPDX-License-Identifier: MIT
//
// echo_server - a TCP echo server on 127.0.0.1 driven by kevent::dispatcher.
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

[[noreturn]] void die(const char *what)
{
	throw std::system_error(errno, std::generic_category(), what);
}

// An owned file descriptor.
class unique_fd {
public:
	explicit unique_fd(int fd = -1) noexcept : fd_(fd) {}
	unique_fd(unique_fd &&o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
	unique_fd &operator=(unique_fd &&o) noexcept
	{
		if (this != &o) {
			reset();
			fd_ = std::exchange(o.fd_, -1);
		}
		return *this;
	}
	~unique_fd() { reset(); }
	[[nodiscard]] int get() const noexcept { return fd_; }
	void reset() noexcept
	{
		if (fd_ >= 0)
			::close(fd_);
		fd_ = -1;
	}

private:
	int fd_;
};

// ------------------------------------------------------------- the server

class echo_server {
public:
	explicit echo_server(kevent::dispatcher &d) : d_(d)
	{
		listener_ = unique_fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
		if (listener_.get() < 0)
			die("socket");
		const int one = 1;
		::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		sockaddr_in addr{};
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		addr.sin_port = 0;	// any free port
		if (::bind(listener_.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0)
			die("bind");
		if (::listen(listener_.get(), 64) < 0)
			die("listen");
		socklen_t len = sizeof addr;
		if (::getsockname(listener_.get(), reinterpret_cast<sockaddr *>(&addr), &len) < 0)
			die("getsockname");
		port_ = ntohs(addr.sin_port);

		accept_ = d_.add_fd(listener_.get(), KEVENT_POLL_IN,
				    [this](const ukevent &) { on_accept(); });
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
				die("accept4");
			}
			const int fd = c.get();
			auto conn = std::make_unique<connection>();
			conn->fd = std::move(c);
			conn->handle = d_.add_fd(fd, KEVENT_POLL_IN | KEVENT_POLL_RDHUP,
						 [this, fd](const ukevent &ev) { on_ready(fd, ev.event); });
			conns_[fd] = std::move(conn);
			++accepted_;
		}
	}

	void on_ready(int fd, std::uint32_t mask)
	{
		auto it = conns_.find(fd);
		if (it == conns_.end())
			return;
		connection &c = *it->second;
		bool eof = (mask & (KEVENT_POLL_ERR | KEVENT_POLL_HUP)) != 0;

		if (mask & (KEVENT_POLL_IN | KEVENT_POLL_RDHUP)) {
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
			c.handle.modify(kevent::fd_event(fd, KEVENT_POLL_IN | KEVENT_POLL_RDHUP |
							     (want_out ? KEVENT_POLL_OUT : 0u)));
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

// ------------------------------------------------------------- the client

bool write_all(int fd, const std::string &s)
{
	std::size_t off = 0;
	while (off < s.size()) {
		const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		off += static_cast<std::size_t>(n);
	}
	return true;
}

bool read_exactly(int fd, std::string &s, std::size_t len)
{
	s.assign(len, '\0');
	std::size_t off = 0;
	while (off < len) {
		const ssize_t n = ::read(fd, &s[off], len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		off += static_cast<std::size_t>(n);
	}
	return true;
}

// One client: messages of growing size; the large one is written by a
// second thread so that neither side blocks on full buffers.
bool run_client(unsigned short port, int number)
{
	unique_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (s.get() < 0)
		return false;
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons(port);
	if (::connect(s.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0)
		return false;
	timeval tv{10, 0};
	::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

	for (std::size_t len : {std::size_t{1}, std::size_t{13}, std::size_t{4096},
				std::size_t{1} << 20}) {
		std::string msg(len, '\0');
		for (std::size_t i = 0; i < len; i++)
			msg[i] = static_cast<char>('a' + (i * 7 + static_cast<std::size_t>(number)) % 26);
		bool wrote = false;
		std::thread writer([&] { wrote = write_all(s.get(), msg); });
		std::string back;
		const bool read_ok = read_exactly(s.get(), back, len);
		writer.join();
		if (!wrote || !read_ok || back != msg) {
			std::fprintf(stderr, "client %d: echo of %zu bytes failed\n", number, len);
			return false;
		}
	}
	::shutdown(s.get(), SHUT_WR);
	char c;
	return ::read(s.get(), &c, 1) == 0;	// the server closes too
}

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
	auto on_signal = [&](const ukevent &ev) {
		std::printf("echo_server: signal %llu, stopping\n",
			    static_cast<unsigned long long>(ev.id));
		stopped_by_signal = true;
		d.stop();
	};
	auto sigint = d.add_signal(SIGINT, on_signal);
	auto sigterm = d.add_signal(SIGTERM, on_signal);
	auto watchdog = d.add_timer(1, 20s, [&](const ukevent &) {
		std::fprintf(stderr, "echo_server: watchdog expired\n");
		timed_out = true;
		d.stop();
	}, KEVENT_REQ_ONESHOT);

	std::atomic<int> ok{0};
	std::thread client_thread([&] {
		std::thread threads[16];
		const int n = clients < 1 ? 1 : clients > 16 ? 16 : clients;
		for (int i = 0; i < n; i++)
			threads[i] = std::thread([&, i] { ok += run_client(server.port(), i); });
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
