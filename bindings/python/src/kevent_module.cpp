// SPDX-License-Identifier: MIT
//
// kevent_module.cpp - kevent._kevent, the low-level half of the Python
// binding of libkev.  It wraps one queue (RawQueue) directly over the C API
// of <kevent.h>; the Pythonic layer (kevent/_queue.py) builds registrations,
// events and enums on top of it.  The selector's body (selector.cpp) and the
// signal forwarder (sigforward.cpp) are written on the C API and added to
// the module here.
//
// Rules kept here:
//  - the GIL is released only around kevent_init() and kevent_wait(); every
//    other call (ctl, ring consumption, close) runs with the GIL held, so the
//    ring pointer can never be unmapped under a thread that is reading it;
//  - kevent_wait() failing with EINTR runs the Python signal handlers
//    (PyErr_CheckSignals) so that Ctrl-C raises KeyboardInterrupt promptly,
//    and otherwise retries with the remaining timeout (PEP 475);
//  - errors are raised with PyErr_SetFromErrno, so Python picks the OSError
//    subclass that matches errno (FileExistsError for EEXIST, ...).

#include "common.hpp"

#include <pybind11/pybind11.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include <kevent.h>

namespace py = pybind11;

namespace {

[[noreturn]] void raise_errno(int err)
{
	errno = err;
	PyErr_SetFromErrno(PyExc_OSError);
	throw py::error_already_set();
}

[[noreturn]] void raise_closed()
{
	throw py::value_error("I/O operation on closed kevent queue");
}

// One kevent queue and its mapped ring.
class RawQueue {
public:
	RawQueue(unsigned int size, unsigned int flags)
	{
		struct kevent_ring *ring = nullptr;
		int fd, err;

		{
			py::gil_scoped_release nogil;
			fd = kevent_init(&ring, size, flags);
			err = errno;
		}
		if (fd < 0)
			raise_errno(err);
		fd_ = fd;
		ring_ = ring;
	}

	~RawQueue()
	{
		if (fd_ >= 0) {
			int fd = fd_;
			fd_ = -1;
			ring_ = nullptr;
			kevent_close(fd);
		}
	}

	RawQueue(const RawQueue &) = delete;
	RawQueue &operator=(const RawQueue &) = delete;

	bool closed() const { return fd_ < 0; }

	int fileno() const
	{
		check_open();
		return fd_;
	}

	void close()
	{
		if (fd_ < 0)
			return;
		int fd = fd_;
		// Forget the queue first: nothing can use the ring after this.
		fd_ = -1;
		ring_ = nullptr;
		if (kevent_close(fd) < 0)
			raise_errno(errno);
	}

	std::string backend() const
	{
		check_open();
		const char *name = kevent_backend(fd_);
		if (!name)
			raise_errno(errno);
		return name;
	}

	// kevent_getopt / kevent_setopt: OSError on failure.
	uint64_t getopt(unsigned int opt) const
	{
		uint64_t v = 0;

		check_open();
		if (kevent_getopt(fd_, opt, &v) < 0)
			raise_errno(errno);
		return v;
	}

	void setopt(unsigned int opt, uint64_t value)
	{
		check_open();
		if (kevent_setopt(fd_, opt, value) < 0)
			raise_errno(errno);
	}

	unsigned int ring_size() const
	{
		check_open();
		return ring_->size;
	}

	unsigned int pending() const
	{
		check_open();
		return kevent_ring_count(ring_);
	}

	// (published, deferred, coalesced, waits, sleeps, enabled,
	// fire_to_publish, publish_to_consume): the ring's counters and, where
	// it has a statistics area, its histograms (tuples of
	// KEVENT_STATS_BUCKETS ints; zeros without one).  No system call.
	py::tuple stats() const
	{
		check_open();
		const struct kevent_ring *r = ring_;
		py::tuple f2p(KEVENT_STATS_BUCKETS), p2c(KEVENT_STATS_BUCKETS);
		const struct kevent_stats *st = r->stats_offset ?
			(const struct kevent_stats *)(const void *)
			((const char *)r + r->stats_offset) : nullptr;

		for (unsigned int i = 0; i < KEVENT_STATS_BUCKETS; i++) {
			f2p[i] = py::int_((unsigned long long)(st ?
				kevent_load_relaxed(&st->fire_to_publish[i]) : 0));
			p2c[i] = py::int_((unsigned long long)(st ?
				kevent_load_relaxed(&st->publish_to_consume[i]) : 0));
		}
		return py::make_tuple(
			(unsigned long long)kevent_load_relaxed(&r->published),
			(unsigned long long)kevent_load_relaxed(&r->deferred),
			(unsigned long long)kevent_load_relaxed(&r->coalesced),
			(unsigned long long)kevent_load_relaxed(&r->waits),
			(unsigned long long)kevent_load_relaxed(&r->sleeps),
			(kevent_load_relaxed(&r->flags) & KEVENT_RING_STATS) != 0,
			f2p, p2c);
	}

	// Apply one entry; 0 on success, else the entry's errno (no raise),
	// so that callers decide how to treat ENOENT and friends.
	int ctl_errno(unsigned int cmd, unsigned int type, std::uint64_t id,
		      unsigned int event, unsigned int req_flags,
		      std::uint64_t data, std::uint64_t user, unsigned int prio)
	{
		check_open();
		struct ukevent ev = {};
		ev.id = id;
		ev.type = type;
		ev.event = event;
		ev.req_flags = req_flags;
		ev.data = data;
		ev.user = user;
		ev.prio = prio;
		int n = kevent_ctl(fd_, cmd, 1, &ev);
		if (n < 0)
			raise_errno(errno);
		if (n == 1)
			return 0;
		if (ev.ret_flags & KEVENT_RET_ERROR)
			return ev.ret_data ? (int)ev.ret_data : EIO;
		return EIO;
	}

	void ctl(unsigned int cmd, unsigned int type, std::uint64_t id,
		 unsigned int event, unsigned int req_flags, std::uint64_t data,
		 std::uint64_t user, unsigned int prio)
	{
		int err = ctl_errno(cmd, type, id, event, req_flags, data, user,
				    prio);
		if (err)
			raise_errno(err);
	}

	// Sleep until min_nr events are in the ring.  timeout: None (forever)
	// or seconds (checked by the caller).  Returns kevent_wait()'s count,
	// 0 on timeout.
	int wait(unsigned int min_nr, py::object timeout)
	{
		check_open();
		kevpy::Deadline dl;
		if (dl.parse(timeout.ptr(), "timeout") < 0)
			throw py::error_already_set();
		int n = kevpy::wait_released(&fd_, min_nr, dl);
		if (n < 0)
			throw py::error_already_set();
		return n;
	}

	// Take up to max_events (0 = all) entries from the ring, as tuples
	// (id, type, event, req_flags, ret_flags, ret_data, user, prio).
	py::list drain(unsigned int max_events)
	{
		check_open();
		unsigned int n = kevent_ring_count(ring_);

		if (max_events && n > max_events)
			n = max_events;
		// Copy and release the entries before creating any Python object:
		// object creation can run arbitrary Python code (a finalizer, a
		// GC callback) which could close this queue and unmap the ring.
		std::vector<struct ukevent> evs(n);
		const struct ukevent *ents = kevent_ring_entries(ring_);
		unsigned int u = kevent_load_relaxed(&ring_->uidx);
		unsigned int mask = ring_->mask;

		for (unsigned int i = 0; i < n; i++)
			evs[i] = ents[(u + i) & mask];
		kevent_ring_advance(ring_, n);

		py::list out(n);
		for (unsigned int i = 0; i < n; i++) {
			const struct ukevent &e = evs[i];
			out[i] = py::make_tuple(
				(unsigned long long)e.id, e.type, e.event,
				e.req_flags, e.ret_flags,
				(unsigned long long)e.ret_data,
				(unsigned long long)e.user, e.prio);
		}
		return out;
	}

private:
	void check_open() const
	{
		if (fd_ < 0)
			raise_closed();
	}

	int fd_ = -1;
	struct kevent_ring *ring_ = nullptr;
};

} // namespace

PYBIND11_MODULE(_kevent, m)
{
	m.doc() = "Low-level binding of libkev (use the kevent package instead).";

	py::class_<RawQueue>(m, "RawQueue",
			     "One libkev queue and its mapped ring (low level).")
		.def(py::init<unsigned int, unsigned int>(),
		     py::arg("size") = 0u, py::arg("flags") = 0u,
		     "Create a queue with kevent_init(size, flags).")
		.def_property_readonly("closed", &RawQueue::closed,
				       "True once close() was called.")
		.def("fileno", &RawQueue::fileno, "The queue's pollable fd.")
		.def("close", &RawQueue::close,
		     "Close the queue (kevent_close); idempotent.")
		.def_property_readonly("backend", &RawQueue::backend,
				       "The backend name: kmod, uring or epoll.")
		.def_property_readonly("ring_size", &RawQueue::ring_size,
				       "Number of ring entries.")
		.def("getopt", &RawQueue::getopt, py::arg("opt"),
		     "The value of a queue option (kevent_getopt).")
		.def("setopt", &RawQueue::setopt, py::arg("opt"),
		     py::arg("value"),
		     "Set a queue option (kevent_setopt).")
		.def("pending", &RawQueue::pending,
		     "Entries published in the ring and not yet consumed.")
		.def("stats", &RawQueue::stats,
		     "(published, deferred, coalesced, waits, sleeps, enabled, "
		     "fire_to_publish, publish_to_consume) of the ring, read "
		     "without a system call.")
		.def("ctl", &RawQueue::ctl, py::arg("cmd"), py::arg("type"),
		     py::arg("id"), py::arg("event") = 0u,
		     py::arg("req_flags") = 0u, py::arg("data") = 0ull,
		     py::arg("user") = 0ull, py::arg("prio") = 0u,
		     "Apply one kevent_ctl entry; raise OSError on failure.")
		.def("ctl_errno", &RawQueue::ctl_errno, py::arg("cmd"),
		     py::arg("type"), py::arg("id"), py::arg("event") = 0u,
		     py::arg("req_flags") = 0u, py::arg("data") = 0ull,
		     py::arg("user") = 0ull, py::arg("prio") = 0u,
		     "Apply one kevent_ctl entry; return 0 or the entry's errno.")
		.def("wait", &RawQueue::wait, py::arg("min_nr") = 1u,
		     py::arg("timeout") = py::none(),
		     "kevent_wait with the GIL released; retries on EINTR "
		     "after running signal handlers.")
		.def("drain", &RawQueue::drain, py::arg("max_events") = 0u,
		     "Consume up to max_events (0 = all) ring entries as "
		     "tuples (id, type, event, req_flags, ret_flags, ret_data, "
		     "user, prio).");

	if (kevpy::add_selector_core(m.ptr()) < 0 ||
	    kevpy::add_signal_forwarder(m.ptr()) < 0)
		throw py::error_already_set();

#define C(name) m.attr(#name) = (unsigned long long)(name)
	C(KEVENT_POLL); C(KEVENT_TIMER); C(KEVENT_USER); C(KEVENT_SIGNAL);
	C(KEVENT_INODE); C(KEVENT_PROC);
	C(KEVENT_POLL_IN); C(KEVENT_POLL_PRI); C(KEVENT_POLL_OUT);
	C(KEVENT_POLL_ERR); C(KEVENT_POLL_HUP); C(KEVENT_POLL_RDHUP);
	C(KEVENT_TIMER_MONOTONIC); C(KEVENT_TIMER_REALTIME);
	C(KEVENT_TIMER_BOOTTIME); C(KEVENT_TIMER_ABSTIME);
	C(KEVENT_INODE_CREATE); C(KEVENT_INODE_DELETE); C(KEVENT_INODE_MODIFY);
	C(KEVENT_INODE_ATTRIB); C(KEVENT_INODE_MOVE);
	C(KEVENT_INODE_DELETE_SELF); C(KEVENT_INODE_MOVE_SELF);
	C(KEVENT_INODE_MASK);
	C(KEVENT_PROC_EXIT);
	C(KEVENT_REQ_ONESHOT); C(KEVENT_REQ_ET); C(KEVENT_REQ_DISPATCH);
	C(KEVENT_RET_ERROR); C(KEVENT_RET_REMOVED); C(KEVENT_RET_GONE);
	C(KEVENT_RET_NOSTATUS); C(KEVENT_RET_OVERFLOW);
	C(KEVENT_CTL_ADD); C(KEVENT_CTL_REMOVE); C(KEVENT_CTL_MODIFY);
	C(KEVENT_CTL_ENABLE); C(KEVENT_CTL_DISABLE); C(KEVENT_CTL_READY);
	C(KEVENT_BACKEND_DEFAULT); C(KEVENT_BACKEND_KMOD);
	C(KEVENT_BACKEND_URING); C(KEVENT_BACKEND_EPOLL);
	C(KEVENT_RING_DEFAULT); C(KEVENT_RING_MAX);
	C(KEVENT_OPT_TIMER_SLACK); C(KEVENT_TIMER_SLACK_DEFAULT);
	C(KEVENT_TIMER_SLACK_MAX);
	C(KEVENT_OPT_PRIO_BOUND); C(KEVENT_PRIO_BOUND_DEFAULT);
	C(KEVENT_PRIO_BOUND_MAX);
	C(KEVENT_OPT_STATS); C(KEVENT_RING_STATS); C(KEVENT_STATS_BUCKETS);
	C(KEVENT_PRIO_DEFAULT); C(KEVENT_PRIO_MAX); C(KEVENT_PRIO_LEVELS);
	C(LIBKEV_VERSION_MAJOR); C(LIBKEV_VERSION_MINOR);
#undef C
}
