// SPDX-License-Identifier: MIT
//
// fd.hpp - kev::Fd, a file descriptor with one owner, which closes it.
#ifndef KEV_FD_HPP
#define KEV_FD_HPP

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace kev {

class Fd {
public:
	Fd() = default;
	explicit Fd(int fd) : fd_(fd) {}
	Fd(Fd &&other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
	Fd &operator=(Fd &&other) noexcept
	{
		reset(std::exchange(other.fd_, -1));
		return *this;
	}
	Fd(const Fd &) = delete;
	Fd &operator=(const Fd &) = delete;
	~Fd() { reset(); }

	int get() const { return fd_; }
	explicit operator bool() const { return fd_ >= 0; }

	// Give up ownership: the caller closes what is returned.
	int release() { return std::exchange(fd_, -1); }

	/*
	 * Close what it holds (if anything) and hold fd instead.  errno is
	 * kept: an Fd closed on an error path leaves the error's errno.
	 */
	void reset(int fd = -1)
	{
		if (fd_ >= 0) {
			const int err = errno;

			::close(fd_);
			errno = err;
		}
		fd_ = fd;
	}

private:
	int fd_ = -1;
};

} // namespace kev

#endif // KEV_FD_HPP
