// SPDX-License-Identifier: MIT
//
// lock.cpp - the slow paths of kev::Mutex (lock.hpp): sleeping on the
// futex and waking a sleeper.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lock.hpp"

namespace kev {

namespace {

// The futex word of a std::atomic<int> (lock.hpp asserts it is an int).
int *word(std::atomic<int> &a)
{
	return reinterpret_cast<int *>(&a);
}

} // namespace

/*
 * Held (c is 1 or 2): mark it contended (2) and sleep while it stays
 * held; whoever takes it from here takes it as 2, since others may still
 * sleep, and their unlock() wakes one.  EINTR and EAGAIN (the word
 * changed before the sleep) only mean: look again.
 */
void Mutex::lock_contended(int c)
{
	if (c != 2)
		c = state_.exchange(2, std::memory_order_acquire);
	while (c != 0) {
		syscall(SYS_futex, word(state_), FUTEX_WAIT_PRIVATE, 2, nullptr,
			nullptr, 0);
		c = state_.exchange(2, std::memory_order_acquire);
	}
}

void Mutex::wake_one()
{
	syscall(SYS_futex, word(state_), FUTEX_WAKE_PRIVATE, 1, nullptr,
		nullptr, 0);
}

} // namespace kev
