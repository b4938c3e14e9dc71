// SPDX-License-Identifier: MIT
//
// lock.hpp - kev::Lock, a pthread mutex held for a scope.  (std::mutex and
// std::lock_guard would do, but std::mutex::lock reports a failure by
// throwing, from libstdc++: libkev links no C++ runtime.)
#ifndef KEV_LOCK_HPP
#define KEV_LOCK_HPP

#include <pthread.h>

namespace kev {

class Lock {
public:
	explicit Lock(pthread_mutex_t &m) : m_(m) { pthread_mutex_lock(&m_); }
	~Lock() { pthread_mutex_unlock(&m_); }
	Lock(const Lock &) = delete;
	Lock &operator=(const Lock &) = delete;

private:
	pthread_mutex_t &m_;
};

} // namespace kev

#endif // KEV_LOCK_HPP
