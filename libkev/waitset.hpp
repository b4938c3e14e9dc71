// SPDX-License-Identifier: MIT
//
// waitset.hpp - the C++ side of a waitset (waitset.h): a class whose
// first member is the struct kev_waitset that the backend sees, and
// WaitsetOps<W>, which makes the C operations table of class W.  (When
// the user-space backend is C++, it will take the class as a template
// parameter instead of calling through the table.)
#ifndef KEV_WAITSET_HPP
#define KEV_WAITSET_HPP

#include <cstdlib>
#include <new>
#include <type_traits>

#include "waitset.h"

namespace kev {

/*
 * W provides:
 *   static constexpr const char name[];
 *   static int probe();                    0, or -1 with errno = ENODEV
 *   static int init(W *w, unsigned int ring_size);
 *                                          in a W built by W(): 0 or an errno
 *   kev_waitset *base();                   its first member
 *   and the members add, mod, del, mute, rearm, flush, backlog, wait,
 *   with the meaning of kev_waitset_ops; a W without mute() has
 *   lt_disarms, and its table a null mute.
 * W is destroyed by ~W(), after W::forget_shared() in a forked child.
 */
template <typename W> struct WaitsetOps {
	static W &self(kev_waitset *ws)
	{
		static_assert(std::is_standard_layout_v<W>,
			      "W and its kev_waitset share an address");
		return *reinterpret_cast<W *>(ws);
	}

	static kev_waitset *create(unsigned int ring_size)
	{
		void *mem = std::malloc(sizeof(W));

		if (!mem) {
			errno = ENOMEM;
			return nullptr;
		}
		W *w = new (mem) W();
		if (const int err = W::init(w, ring_size)) {
			w->~W();
			std::free(mem);
			errno = err;
			return nullptr;
		}
		return w->base();
	}

	static void destroy(kev_waitset *ws, bool in_child)
	{
		W &w = self(ws);

		if (in_child)
			w.forget_shared();
		w.~W();
		std::free(&w);
	}

	using MuteFn = bool (*)(kev_waitset *, int, uint64_t, uint32_t);

	static constexpr MuteFn mute_fn()
	{
		if constexpr (requires(W &w) { w.mute(0, 0, 0); })
			return [](kev_waitset *ws, int fd, uint64_t tok,
				  uint32_t events) {
				return self(ws).mute(fd, tok, events);
			};
		else
			return nullptr;
	}

	static constexpr kev_waitset_ops make()
	{
		return kev_waitset_ops{
			.name = W::name,
			.probe = W::probe,
			.create = create,
			.destroy = destroy,
			.add = [](kev_waitset *ws, int fd, uint64_t tok,
				  uint32_t events, kev_wmode mode) {
				return self(ws).add(fd, tok, events, mode);
			},
			.mod = [](kev_waitset *ws, int fd, uint64_t old_tok,
				  uint64_t tok, uint32_t events,
				  kev_wmode mode) {
				return self(ws).mod(fd, old_tok, tok, events,
						    mode);
			},
			.del = [](kev_waitset *ws, int fd, uint64_t tok) {
				self(ws).del(fd, tok);
			},
			.mute = mute_fn(),
			.rearm = [](kev_waitset *ws, int fd, uint64_t tok,
				    uint32_t events) {
				self(ws).rearm(fd, tok, events);
			},
			.flush = [](kev_waitset *ws) { self(ws).flush(); },
			.backlog = [](kev_waitset *ws) {
				return self(ws).backlog();
			},
			.wait = [](kev_waitset *ws, kev_wevent *evs, int max,
				   const timespec *rel,
				   const sigset_t *sigmask) {
				return self(ws).wait(evs, max, rel, sigmask);
			},
		};
	}
};

} // namespace kev

#endif // KEV_WAITSET_HPP
