/* SPDX-License-Identifier: MIT */
/*
 * kevent/barrier.h - the memory ordering of the kevent ring, in one place.
 *
 * The protocol (kevent(7)):
 *   producer: write the entry, then store-release kidx;
 *             load-acquire uidx before reusing a slot;
 *   consumer: load-acquire kidx, read entries, store-release uidx.
 * Each side reads its own index with a relaxed load.
 *
 * GCC/Clang __atomic builtins work identically in C and C++ (they act on
 * plain integers, like std::atomic_ref), so this header serves both.
 */
#ifndef _KEVENT_BARRIER_H
#define _KEVENT_BARRIER_H

#define kevent_load_relaxed(p)	__atomic_load_n((p), __ATOMIC_RELAXED)
#define kevent_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define kevent_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define kevent_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* Full fence: orders an earlier store before a later load (sleep handshake). */
#define kevent_smp_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)

#endif /* _KEVENT_BARRIER_H */
