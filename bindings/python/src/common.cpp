// SPDX-License-Identifier: MIT
//
// common.cpp - timeouts, the EINTR rule and errors shared by RawQueue.wait
// and SelectorCore.select.

#include "common.hpp"

#include <cerrno>
#include <cmath>

#include <kevent.h>

namespace kevpy {

std::int64_t monotonic_ns()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (std::int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int Deadline::parse(PyObject *timeout, const char *name)
{
	forever = true;
	at_ns = 0;
	if (timeout == Py_None)
		return 0;
	double secs;
	if (PyFloat_CheckExact(timeout)) {
		secs = PyFloat_AS_DOUBLE(timeout);
	} else if (PyLong_Check(timeout)) {
		int overflow = 0;
		long long v = PyLong_AsLongLongAndOverflow(timeout, &overflow);
		if (v == -1 && PyErr_Occurred())
			return -1;
		secs = overflow ? (overflow < 0 ? -1.0 : 1e300) : (double)v;
	} else {
		secs = PyFloat_AsDouble(timeout);
		if (secs == -1.0 && PyErr_Occurred()) {
			if (PyErr_ExceptionMatches(PyExc_TypeError)) {
				PyErr_Clear();
				PyErr_Format(PyExc_TypeError,
					     "%s must be a number of seconds "
					     "or None, not %.100s", name,
					     Py_TYPE(timeout)->tp_name);
			}
			return -1;
		}
	}
	if (std::isnan(secs)) {
		PyErr_Format(PyExc_ValueError, "%s must not be NaN", name);
		return -1;
	}
	if (secs > 1e10)	// ~317 years: the same as forever
		return 0;
	forever = false;
	at_ns = monotonic_ns() + (secs > 0 ? (std::int64_t)(secs * 1e9) : 0);
	return 0;
}

const struct timespec *Deadline::left(struct timespec *ts) const
{
	if (forever)
		return nullptr;
	std::int64_t ns = at_ns - monotonic_ns();
	if (ns < 0)
		ns = 0;
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
	return ts;
}

PyObject *err_closed()
{
	PyErr_SetString(PyExc_ValueError,
			"I/O operation on closed kevent queue");
	return nullptr;
}

PyObject *err_errno(int err)
{
	errno = err;
	return PyErr_SetFromErrno(PyExc_OSError);
}

int wait_released(const int *fdp, unsigned int min_nr, const Deadline &dl)
{
	for (;;) {
		struct timespec ts;
		const struct timespec *tsp = dl.left(&ts);
		int fd = *fdp, n, err;

		if (fd < 0)
			return err_closed(), -1;
		Py_BEGIN_ALLOW_THREADS
		n = kevent_wait(fd, min_nr, tsp);
		err = errno;
		Py_END_ALLOW_THREADS
		if (*fdp < 0)	// closed by another thread meanwhile
			return err_closed(), -1;
		if (n >= 0)
			return n;
		if (err == EINTR) {
			// PEP 475: run the handlers; retry unless one raised.
			// (io_uring task work also interrupts sleeps of the
			// thread that submitted, with no signal: retried too.)
			if (PyErr_CheckSignals() < 0)
				return -1;
			continue;
		}
		return err_errno(err), -1;
	}
}

} // namespace kevpy
