// SPDX-License-Identifier: MIT
//
// buffer.hpp - kev::Buffer<T>, an array from malloc with one owner, which
// frees it.  For plain data only (T is trivially copyable and
// destructible: realloc moves it, free ends it); sizes are 32-bit counts,
// as everywhere in the queue.
#ifndef KEV_BUFFER_HPP
#define KEV_BUFFER_HPP

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

namespace kev {

template <typename T> class Buffer {
	static_assert(std::is_trivially_copyable_v<T> &&
			      std::is_trivially_destructible_v<T>,
		      "a Buffer holds plain data");

public:
	Buffer() = default;
	Buffer(Buffer &&other) noexcept
		: p_(std::exchange(other.p_, nullptr)),
		  n_(std::exchange(other.n_, 0)) {}
	Buffer &operator=(Buffer &&other) noexcept
	{
		std::free(p_);
		p_ = std::exchange(other.p_, nullptr);
		n_ = std::exchange(other.n_, 0);
		return *this;
	}
	Buffer(const Buffer &) = delete;
	Buffer &operator=(const Buffer &) = delete;
	~Buffer() { std::free(p_); }

	T *get() const { return p_; }
	T &operator[](uint32_t i) const { return p_[i]; }
	uint32_t size() const { return n_; }

	// n elements, their values unspecified: false (ENOMEM) if none.
	bool allocate(uint32_t n)
	{
		T *p = static_cast<T *>(std::malloc(sizeof(T) * n));

		if (!p)
			return false;
		std::free(p_);
		p_ = p;
		n_ = n;
		return true;
	}

	/*
	 * n elements (n > size()), the first size() of them kept and the new
	 * ones zero: false (ENOMEM) with nothing changed.
	 */
	bool grow(uint32_t n)
	{
		T *p = static_cast<T *>(std::realloc(p_, sizeof(T) * n));

		if (!p)
			return false;
		std::memset(static_cast<void *>(p + n_), 0,
			    sizeof(T) * (n - n_));
		p_ = p;
		n_ = n;
		return true;
	}

private:
	T *p_ = nullptr;
	uint32_t n_ = 0;
};

} // namespace kev

#endif // KEV_BUFFER_HPP
