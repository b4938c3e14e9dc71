// SPDX-License-Identifier: MIT
//
// common.hpp - what the parts of kevent._kevent share: the timeout and
// EINTR rules of every wait, and the registration of the raw C types
// (the selector core, the signal forwarder) in the module.

#ifndef KEVENT_PY_COMMON_HPP
#define KEVENT_PY_COMMON_HPP

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <ctime>

namespace kevpy {

// A wait's timeout as the binding understands it: None is forever; a
// number of seconds (int, float, anything with __float__) is a deadline
// on CLOCK_MONOTONIC; <= 0 polls; NaN is ValueError; more than ~317 years
// is forever.  Errors name the argument (name).
struct Deadline {
	bool forever = true;
	std::int64_t at_ns = 0;	// CLOCK_MONOTONIC

	// 0, or -1 with a Python exception set.
	int parse(PyObject *timeout, const char *name);
	// The relative timeout left now, for kevent_wait(); nullptr: forever.
	const struct timespec *left(struct timespec *ts) const;
};

std::int64_t monotonic_ns();

// kevent_wait(fd, min_nr, deadline) with the GIL released, retried after
// EINTR once the Python signal handlers have run without raising (PEP 475),
// with what is left of the timeout.  *fdp is re-read after every sleep: a
// negative value means another thread closed the queue meanwhile, and gives
// ValueError.  Returns kevent_wait()'s count, or -1 with an exception set.
int wait_released(const int *fdp, unsigned int min_nr, const Deadline &dl);

// ValueError("I/O operation on closed kevent queue"); returns nullptr.
PyObject *err_closed();
// OSError from an errno value; returns nullptr.
PyObject *err_errno(int err);

// Module parts written on the C API (hot paths): each adds its names to
// the module; 0 or -1 with an exception set.
int add_selector_core(PyObject *module);
int add_signal_forwarder(PyObject *module);

} // namespace kevpy

#endif
