# SPDX-License-Identifier: MIT
"""Shared fixtures of the kevent Python tests.

Run by `meson test --suite python` with PYTHONPATH pointing at the package
assembled in the build tree (<builddir>/bindings/python).
"""

import ctypes
import os
import signal
import threading
import time

import pytest

import kevent


@pytest.fixture
def q():
    """A fresh queue, closed after the test."""
    with kevent.Queue() as queue:
        yield queue


def wait_for(queue, pred, timeout=5.0):
    """Wait on queue until pred(events) is true for the events collected so
    far; return them (fail on timeout)."""
    deadline = time.monotonic() + timeout
    got = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; {len(got)} events so far: {got[:8]!r}")
        got.extend(queue.wait(left))
        if pred(got):
            return got



# --------------------------------------------------------------------------
# Synchronising on state: "thread T is asleep inside kevent_wait".
#
# A test that means "the waiter is blocked when the other thread acts" must
# not sleep and hope; it reads the waiter's state from /proc instead:
# /proc/self/task/<tid>/stat says S (sleeping) and /proc/self/task/<tid>/
# syscall names the system call it sleeps in, with its arguments.  libkev's
# kevent_wait sleeps in one of these (libkev/ubackend.cpp, waitset-epoll.cpp,
# waitset-uring.cpp, backend-kmod.c):
#   futex          FUTEX_WAIT_PRIVATE with a timeout, made through libc's
#                  syscall() (a queue that watches only USER events).  glibc's
#                  own waits - mutexes, condition variables, semaphores, the
#                  GIL - make their system calls inline, with no timeout or
#                  with FUTEX_WAIT_BITSET, so they are not mistaken for it.
#                  A futex wait interrupted by io_uring task work (the uring
#                  backend's poll completions run in the thread that
#                  submitted them) is restarted: it then shows as
#                  restart_syscall, with the same registers.
#   epoll_pwait2   the epoll backend (epoll_pwait on kernels before 5.11)
#   io_uring_enter the uring backend, with IORING_ENTER_GETEVENTS
#   ioctl          the kmod backend, KEVENT_IOC_WAIT

_SYSCALLS = {
    "x86_64": {"futex": 202, "restart_syscall": 219, "epoll_pwait": 281,
               "epoll_pwait2": 441, "io_uring_enter": 426, "ioctl": 16,
               "epoll_wait": 232},
    "aarch64": {"futex": 98, "restart_syscall": 128, "epoll_pwait": 22,
                "epoll_pwait2": 441, "io_uring_enter": 426, "ioctl": 29},
}
# libc's syscall() function, through which libkev makes its futex calls
_LIBC_SYSCALL = ctypes.cast(ctypes.CDLL(None).syscall, ctypes.c_void_p).value
_FUTEX_CMD_MASK = 0x7f        # without FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME
_FUTEX_WAIT = 0
_IORING_ENTER_GETEVENTS = 1
_IORING_ENTER_EXT_ARG = 8
# _IOW('k', 0x03, struct kevent_wait_args), 48 bytes (<kevent/abi.h>)
_KEVENT_IOC_WAIT = (1 << 30) | (48 << 16) | (ord("k") << 8) | 0x03


def _syscall_numbers():
    import platform
    nrs = _SYSCALLS.get(platform.machine())
    if nrs is None:
        pytest.fail(f"syscall numbers of {platform.machine()} unknown: add them "
                    "to tests/python/conftest.py")
    return {v: k for k, v in nrs.items()}


class Asleep:
    """A thread seen asleep in kevent_wait: the system call and the relative
    timeout the kernel was given (ns; None for no timeout)."""

    def __init__(self, syscall, timeout_ns):
        self.syscall = syscall
        self.timeout_ns = timeout_ns

    def __repr__(self):
        return f"<asleep in {self.syscall}, timeout {self.timeout_ns} ns>"


def _timespec_ns(addr):
    if addr == 0:
        return None
    sec = ctypes.c_int64.from_address(addr).value
    nsec = ctypes.c_int64.from_address(addr + 8).value
    return sec * 10**9 + nsec


def thread_state(tid):
    """(state letter, /proc syscall line split) of thread tid of this process."""
    with open(f"/proc/self/task/{tid}/stat") as f:
        stat = f.read()
    state = stat[stat.rindex(")") + 2]
    with open(f"/proc/self/task/{tid}/syscall") as f:
        syscall = f.read().split()
    return state, syscall


def asleep_in_loop_wait(tid):
    """An Asleep if thread tid sleeps in an event loop's wait: kevent_wait
    (a loop on a KeventSelector) or epoll_wait (asyncio's default
    EpollSelector), else None."""
    seen = asleep_in_kevent_wait(tid)
    if seen is not None:
        return seen
    try:
        state, sc = thread_state(tid)
    except FileNotFoundError:
        return None
    if state != "S" or len(sc) < 7 or sc[0] in ("running", "-1"):
        return None
    if _syscall_numbers().get(int(sc[0])) == "epoll_wait":
        ms = ctypes.c_int(int(sc[4], 16) & 0xffffffff).value
        return Asleep("epoll_wait", None if ms < 0 else ms * 10**6)
    return None


def asleep_in_kevent_wait(tid):
    """An Asleep if thread tid sleeps in kevent_wait's system call now, else
    None.  The arguments (and the timeout they point at, on the sleeper's
    stack, stable while it sleeps) are read as the kernel holds them."""
    try:
        state, sc = thread_state(tid)
    except FileNotFoundError:
        return None  # the thread has ended
    if state != "S" or len(sc) < 7 or sc[0] in ("running", "-1"):
        return None
    name = _syscall_numbers().get(int(sc[0]))
    args = [int(a, 16) for a in sc[1:7]]
    pc = int(sc[8], 16) if len(sc) > 8 else 0
    if name in ("futex", "restart_syscall"):
        if (not 0 <= pc - _LIBC_SYSCALL < 64
                or args[1] & _FUTEX_CMD_MASK != _FUTEX_WAIT or args[3] == 0):
            return None
        return Asleep("futex", _timespec_ns(args[3]))
    if name == "epoll_pwait2":
        return Asleep(name, _timespec_ns(args[3]))
    if name == "epoll_pwait":
        ms = ctypes.c_int(args[3] & 0xffffffff).value
        return Asleep(name, None if ms < 0 else ms * 10**6)
    if name == "io_uring_enter":
        if not args[3] & _IORING_ENTER_GETEVENTS or args[2] == 0:
            return None
        ts = 0
        if args[3] & _IORING_ENTER_EXT_ARG and args[4]:
            # struct io_uring_getevents_arg { u64 sigmask; u32 sigmask_sz;
            #                                 u32 pad; u64 ts; }
            ts = ctypes.c_uint64.from_address(args[4] + 16).value
        return Asleep(name, _timespec_ns(ts))
    if name == "ioctl":
        if args[1] != _KEVENT_IOC_WAIT:
            return None
        # struct kevent_wait_args { u32 size; u32 min_nr; s64 timeout_ns; ...}
        ns = ctypes.c_int64.from_address(args[2] + 8).value
        return Asleep(name, None if ns < 0 else ns)
    return None


# A deadlock detector, not a measure: on a correct library the state is
# reached at once; the bound only turns a hang into a failure.
STATE_TIMEOUT = 60.0


# ------------------------------------------------------------ event loops
#
# The asyncio tests of the binding (test_aio*.py) run each case on asyncio's
# default loop (SelectorEventLoop on EpollSelector) and on kevent's:
# fixture loop (test_selector.py has a loop of its own), and run_on() to
# run a coroutine on it with a hang detector.


@pytest.fixture(params=["default", "kevent"])
def loop(request):
    import asyncio
    lp = asyncio.new_event_loop() if request.param == "default" \
        else kevent.new_event_loop()
    yield lp
    lp.run_until_complete(lp.shutdown_asyncgens())
    lp.close()


def when_loop_asleep(action, stop=None):
    """Run action on a helper thread once this (the loop's) thread sleeps
    in its event loop's wait (WhenAsleep)."""
    return WhenAsleep(action, stop=stop, where=asleep_in_loop_wait)


def run_on(loop, coro):
    """Run coro on loop; a hang becomes a failure after STATE_TIMEOUT."""
    import asyncio
    return loop.run_until_complete(asyncio.wait_for(coro, STATE_TIMEOUT))


def _state_summary(tid):
    try:
        state, sc = thread_state(tid)
    except OSError as e:
        return repr(e)
    return f"{state} {' '.join(sc[:5])}"


def wait_until_asleep(tid, *, stop=None, timeout=STATE_TIMEOUT, states=None,
                      where=None):
    """Poll until thread tid sleeps in kevent_wait (or where(tid), e.g.
    asleep_in_loop_wait) and return the Asleep.
    Returns None if stop() becomes true first (the waiter is done).
    AssertionError if neither happens within timeout seconds.  states, a
    dict, counts the states seen meanwhile (for failure messages)."""
    deadline = time.monotonic() + timeout
    if states is None:
        states = {}
    if where is None:
        where = asleep_in_kevent_wait
    while True:
        seen = where(tid)
        if seen is not None:
            return seen
        if len(states) < 50:
            summary = _state_summary(tid)
            states[summary] = states.get(summary, 0) + 1
        if stop is not None and stop():
            return None
        if time.monotonic() > deadline:
            raise AssertionError(f"thread {tid} never slept in "
                                 f"{where.__name__}; states seen: {states}")
        time.sleep(0.001)


class WhenAsleep(threading.Thread):
    """Run action() on a helper thread once thread tid (default: the caller)
    sleeps inside kevent_wait.  stop() true first: give up without acting,
    and record that (.acted stays False).  check() joins and re-raises what
    the helper raised; .asleep is what was seen."""

    def __init__(self, action, tid=None, stop=None, where=None):
        super().__init__(daemon=True)
        self.tid = threading.get_native_id() if tid is None else tid
        self.action = action
        self.stop_pred = stop
        self.where = where
        self.asleep = None
        self.acted = False
        self.error = None
        self.states = {}  # what the thread was seen doing before
        self.start()

    def run(self):
        try:
            self.asleep = wait_until_asleep(self.tid, stop=self.stop_pred,
                                            states=self.states,
                                            where=self.where)
            if self.asleep is not None:
                self.action()
                self.acted = True
        except BaseException as e:  # reported by check()
            self.error = e

    def check(self):
        self.join(STATE_TIMEOUT)
        assert not self.is_alive(), "the helper thread did not finish"
        if self.error is not None:
            raise self.error



def voluntary_switches(tid):
    """How many times thread tid has gone to sleep (it counts each sleep)."""
    with open(f"/proc/self/task/{tid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc status")


class InterruptWhenAsleep(WhenAsleep):
    """Call send() (a signal, a message...) once thread tid (default: the
    caller) sleeps in kevent_wait; that must end its wait.  If the thread
    instead sleeps in kevent_wait again (a new sleep: its count of sleeps
    went up), call rescue() to end that wait and set .rescued, so that the
    test fails rather than hangs.  The caller sets .done once its wait is
    over, and asserts .acted and not .rescued after check()."""

    def __init__(self, send, rescue, tid=None):
        self.send = send
        self.rescue = rescue
        self.rescued = False
        self.done = threading.Event()
        super().__init__(self._act, tid=tid, stop=self.done.is_set)

    def run(self):
        super().run()
        if self.error is not None and not self.acted:
            self.rescue()  # never saw it asleep: do not leave it hanging

    def _act(self):
        before = voluntary_switches(self.tid)
        self.send()
        deadline = time.monotonic() + STATE_TIMEOUT
        while not self.done.is_set():
            if (asleep_in_kevent_wait(self.tid) is not None
                    and voluntary_switches(self.tid) > before):
                self.rescued = True
                self.rescue()
                return
            if time.monotonic() > deadline:
                self.rescue()
                raise AssertionError("the wait neither ended nor slept again")
            time.sleep(0.001)


class Waiter(threading.Thread):
    """Run fn() on a thread of its own; .tid is its kernel thread id (known
    when the constructor returns), .result / .error what fn gave."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.result = None
        self.error = None
        self.tid = None
        self._have_tid = threading.Event()
        self.start()
        assert self._have_tid.wait(STATE_TIMEOUT)

    def run(self):
        self.tid = threading.get_native_id()
        self._have_tid.set()
        try:
            self.result = self.fn()
        except BaseException as e:
            self.error = e

    def finish(self):
        """Join (a hang is a failure) and return fn's result or raise."""
        self.join(STATE_TIMEOUT)
        if self.is_alive():
            raise AssertionError(f"thread {self.tid} still running: "
                                 f"{asleep_in_kevent_wait(self.tid)!r}")
        if self.error is not None:
            raise self.error
        return self.result


def _libkev():
    """libkev as this process loaded it (the extension's copy), through
    ctypes: the same library state as the binding's queues."""
    for line in open("/proc/self/maps"):
        path = line.split()[-1]
        if "/libkev.so" in path:
            lib = ctypes.CDLL(path)
            lib.kevent_wait.argtypes = [ctypes.c_int, ctypes.c_uint,
                                        ctypes.c_void_p]
            return lib
    raise AssertionError("libkev is not loaded")


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def kevent_wait_raw(fd, timeout):
    """kevent_wait(fd, 1, timeout) itself: publishes into the ring without
    taking anything from it.  The count in the ring."""
    ts = _Timespec(int(timeout), int((timeout % 1) * 1e9))
    n = _libkev().kevent_wait(fd, 1, ctypes.byref(ts))
    assert n >= 0, ctypes.get_errno()
    return n


@pytest.fixture(autouse=True)
def _no_leftover_blocked_signals():
    """Every test leaves the signal mask of the main thread as it found it."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    after = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    if after != before:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
        pytest.fail(f"signal mask changed: {sorted(before)} -> {sorted(after)}")


def pytest_report_header(config):
    with kevent.Queue() as queue:
        backend = queue.backend
    return [f"kevent from {os.path.dirname(kevent.__file__)}",
            f"libkev {kevent.__version__}, default backend {backend}"]
