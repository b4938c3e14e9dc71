// SPDX-License-Identifier: MIT
//
// sigforward.cpp - getting a KEVENT_SIGNAL registration its signal in a
// threaded process.
//
// libkev takes a signal (signalfd(2) semantics) only while it is pending,
// that is while every thread that could take it blocks it.  Python can block
// a signal only in the calling thread; threads that already exist (asyncio's
// default executor, a thread pool, threads of C libraries) keep it
// unblocked, and the kernel delivers a process-directed signal to one of
// them: its default action kills the process, or a handler takes it, and the
// queue never sees it.
//
// So while a signal is registered, the binding installs this handler for
// it.  It runs only in a thread that does not block the signal, and there
//  1. adds the signal to the mask that thread gets back when the handler
//     returns (uc_sigmask of the ucontext): from now on that thread blocks
//     it, as if it had called pthread_sigmask() itself;
//  2. sends the signal again to the process (kill(2) to our own pid): the
//     kernel gives it to another thread that does not block it (which
//     does the same), or, once every thread blocks it, leaves it pending
//     for the process, where the queue takes it.  (A signal sent to one
//     thread becomes one sent to the process; the queue reports counts,
//     not senders.)
// Each thread runs the handler at most once per signal, so this ends; no
// delivery is lost (a real-time signal is re-sent once per instance, a
// standard one merges with one pending, as it would have anyway).  Both
// steps are async-signal-safe.  The previous action is saved and put back
// when the last registration of the signal ends, unless someone replaced
// the handler meanwhile (signal.signal()), in which case theirs stays.

#include "common.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>

#include <ucontext.h>
#include <unistd.h>

namespace kevpy {
namespace {

struct sigaction saved[NSIG];
bool installed[NSIG];

void forward(int sig, siginfo_t *info, void *ucv)
{
	int saved_errno = errno;
	ucontext_t *uc = (ucontext_t *)ucv;

	(void)info;
	sigaddset(&uc->uc_sigmask, sig);
	kill(getpid(), sig);
	errno = saved_errno;
}

bool is_ours(const struct sigaction &sa)
{
	return (sa.sa_flags & SA_SIGINFO) && sa.sa_sigaction == forward;
}

// The signal number of arg, or -1 with an exception set.
int as_sig(PyObject *arg)
{
	long sig = PyLong_AsLong(arg);

	if (sig == -1 && PyErr_Occurred())
		return -1;
	if (sig <= 0 || sig >= NSIG) {
		PyErr_Format(PyExc_ValueError,
			     "sig: signal number out of range: %ld", sig);
		return -1;
	}
	return (int)sig;
}

// forward_signal(sig): install the forwarding handler (idempotent).
PyObject *py_forward_signal(PyObject *, PyObject *arg)
{
	int sig = as_sig(arg);

	if (sig < 0)
		return nullptr;
	if (installed[sig])
		Py_RETURN_NONE;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, &saved[sig]) < 0)
		return err_errno(errno);
	installed[sig] = true;
	Py_RETURN_NONE;
}

// unforward_signal(sig): put the saved action back, if the handler is still
// ours (idempotent).
PyObject *py_unforward_signal(PyObject *, PyObject *arg)
{
	int sig = as_sig(arg);

	if (sig < 0)
		return nullptr;
	if (!installed[sig])
		Py_RETURN_NONE;
	installed[sig] = false;
	struct sigaction now;
	if (sigaction(sig, nullptr, &now) == 0 && is_ours(now))
		sigaction(sig, &saved[sig], nullptr);
	Py_RETURN_NONE;
}

// signal_forwarded(sig): is the forwarding handler the action of sig now?
PyObject *py_signal_forwarded(PyObject *, PyObject *arg)
{
	int sig = as_sig(arg);

	if (sig < 0)
		return nullptr;
	struct sigaction now;
	if (sigaction(sig, nullptr, &now) < 0)
		return err_errno(errno);
	return PyBool_FromLong(is_ours(now));
}

PyMethodDef functions[] = {
	{"forward_signal", py_forward_signal, METH_O,
	 "forward_signal(sig): while sig is registered, a thread that does\n"
	 "not block it blocks it when it arrives and sends it to the process\n"
	 "again, so that it stays pending for the queue (sigforward.cpp)."},
	{"unforward_signal", py_unforward_signal, METH_O,
	 "unforward_signal(sig): put back the action forward_signal() saved,\n"
	 "unless it was replaced since."},
	{"signal_forwarded", py_signal_forwarded, METH_O,
	 "signal_forwarded(sig): True if sig's action is the forwarder."},
	{nullptr, nullptr, 0, nullptr},
};

} // namespace

int add_signal_forwarder(PyObject *module)
{
	return PyModule_AddFunctions(module, functions);
}

} // namespace kevpy
