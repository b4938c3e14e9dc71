// SPDX-License-Identifier: MIT
//
// mapping.hpp - kev::Mapping, a memory mapping with one owner, which
// unmaps it.
#ifndef KEV_MAPPING_HPP
#define KEV_MAPPING_HPP

#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <utility>

namespace kev {

class Mapping {
public:
	Mapping() = default;
	// What mmap() returned (MAP_FAILED: none) and its length.
	Mapping(void *addr, size_t len)
		: addr_(addr == MAP_FAILED ? nullptr : addr), len_(len) {}
	Mapping(Mapping &&other) noexcept
		: addr_(std::exchange(other.addr_, nullptr)),
		  len_(std::exchange(other.len_, 0)) {}
	Mapping &operator=(Mapping &&other) noexcept
	{
		reset();
		addr_ = std::exchange(other.addr_, nullptr);
		len_ = std::exchange(other.len_, 0);
		return *this;
	}
	Mapping(const Mapping &) = delete;
	Mapping &operator=(const Mapping &) = delete;
	~Mapping() { reset(); }

	void *get() const { return addr_; }
	size_t size() const { return len_; }
	explicit operator bool() const { return addr_ != nullptr; }

	// Give up ownership: the caller unmaps what is returned.
	void *release()
	{
		len_ = 0;
		return std::exchange(addr_, nullptr);
	}

	// Unmap it, keeping errno (as Fd::reset does).
	void reset()
	{
		if (addr_) {
			const int err = errno;

			munmap(addr_, len_);
			errno = err;
		}
		addr_ = nullptr;
		len_ = 0;
	}

private:
	void *addr_ = nullptr;
	size_t len_ = 0;
};

} // namespace kev

#endif // KEV_MAPPING_HPP
