// SPDX-License-Identifier: MIT
//
// echo_common.hpp - what the echo server examples share: an owned fd, a
// listening socket on 127.0.0.1, and the clients that test the server.
#ifndef KEVENT_EXAMPLE_ECHO_COMMON_HPP
#define KEVENT_EXAMPLE_ECHO_COMMON_HPP

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace echo {

[[noreturn]] inline void die(const char *what)
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

// A non-blocking listening socket on 127.0.0.1, on a free port.
inline unique_fd listen_loopback(unsigned short &port)
{
	unique_fd l(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (l.get() < 0)
		die("socket");
	const int one = 1;
	::setsockopt(l.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;	// any free port
	if (::bind(l.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0)
		die("bind");
	if (::listen(l.get(), 64) < 0)
		die("listen");
	socklen_t len = sizeof addr;
	if (::getsockname(l.get(), reinterpret_cast<sockaddr *>(&addr), &len) < 0)
		die("getsockname");
	port = ntohs(addr.sin_port);
	return l;
}

// ------------------------------------------------------------- the client

inline bool write_all(int fd, const std::string &s)
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

inline bool read_exactly(int fd, std::string &s, std::size_t len)
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
inline bool run_client(unsigned short port, int number)
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

} // namespace echo

#endif
