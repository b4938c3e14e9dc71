# SPDX-License-Identifier: MIT
"""Bad arguments (issue 18, item 5).

Every bad argument raises TypeError (wrong type), ValueError (meaningless
value) or OverflowError (too large for its C field), before libkev sees
it, with a message that starts with the argument's name, the same way in
Queue, KeventSelector and the asyncio helpers; never pybind11's signature
dump, never a bare KeyError.  Nothing is left registered or open after.
"""

import asyncio
import datetime
import gc
import math
import os
import selectors
import signal
import socket

import pytest

import kevent

U64 = 1 << 64
BIG_FD = 1 << 40


def _pybind_dump(msg):
    return "incompatible" in msg or "Invoked with" in msg or "supported" in msg


def open_fds():
    gc.collect()  # fds of garbage from earlier tests must not close meanwhile
    return {(fd, os.readlink(f"/proc/self/fd/{fd}"))
            for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")}


def check(exc, name, fn, *args, **kwargs):
    with pytest.raises(exc) as ei:
        fn(*args, **kwargs)
    msg = str(ei.value)
    assert type(ei.value) is exc, (type(ei.value), msg)
    assert not _pybind_dump(msg), msg
    assert msg.startswith(name), f"{msg!r} does not name {name!r}"
    return msg


# The constructors: the same rules and messages for both.
CTORS = [kevent.Queue, kevent.KeventSelector]
CTOR_CASES = [
    (TypeError, "size", {"size": "x"}),
    (TypeError, "size", {"size": 1.5}),
    (ValueError, "size", {"size": -1}),
    (ValueError, "size", {"size": (1 << 20) + 1}),
    (OverflowError, "size", {"size": 2**40}),
    (OverflowError, "size", {"size": U64}),
    (ValueError, "backend", {"backend": "nope"}),
    (ValueError, "backend", {"backend": ""}),
    (TypeError, "backend", {"backend": 3}),
]


@pytest.mark.parametrize("ctor", CTORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("exc,name,kwargs", CTOR_CASES,
                         ids=[f"{c[1]}={list(c[2].values())[0]!r}" for c in CTOR_CASES])
def test_constructor_arguments(ctor, exc, name, kwargs):
    fds = open_fds()
    msg = check(exc, name, ctor, **kwargs)
    assert open_fds() <= fds, "an fd was left open"
    # the same message from both constructors
    other = CTORS[1] if ctor is CTORS[0] else CTORS[0]
    with pytest.raises(exc) as ei:
        other(**kwargs)
    assert str(ei.value) == msg


def test_the_issue_examples():
    check(OverflowError, "when", kevent.Queue().add_timer, 1, 1e12)
    check(OverflowError, "size", kevent.Queue, size=2**40)
    check(ValueError, "size", kevent.KeventSelector, size=-1)
    check(ValueError, "backend", kevent.KeventSelector, backend="nope")


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def queue_cases(q, a):
    """(exception, argument name, callable, args, kwargs) for Queue."""
    fd = a.fileno()
    return [
        # fds
        (ValueError, "fd", q.add_poll, (-1,), {}),
        (OverflowError, "fd", q.add_poll, (BIG_FD,), {}),
        (ValueError, "fd", q.add_poll, (object(),), {}),
        (ValueError, "fd", q.add_poll, ("3",), {}),
        (ValueError, "events", q.add_poll, (fd, 1 << 20), {}),
        (ValueError, "events", q.add_poll, (fd, -1), {}),
        (OverflowError, "events", q.add_poll, (fd, U64), {}),
        (TypeError, "events", q.add_poll, (fd, 1.0), {}),
        (TypeError, "oneshot", q.add_poll, (fd,), {"oneshot": "yes"}),
        (TypeError, "edge", q.add_poll, (fd,), {"edge": 2}),
        (TypeError, "dispatch", q.add_poll, (fd,), {"dispatch": None}),
        (ValueError, "oneshot and dispatch", q.add_poll, (fd,),
         {"oneshot": True, "dispatch": True}),
        (ValueError, "fd", q.remove_poll, (-5,), {}),
        # timers
        (OverflowError, "when", q.add_timer, (1, 1e12), {}),
        (OverflowError, "when", q.add_timer, (1, math.inf), {}),
        (ValueError, "when", q.add_timer, (1, math.nan), {}),
        (ValueError, "when", q.add_timer, (1, -1), {}),
        (ValueError, "when", q.add_timer, (1, 0), {}),
        (ValueError, "when", q.add_timer, (1, datetime.timedelta(seconds=-1)), {}),
        (ValueError, "when", q.add_timer,
         (1, datetime.datetime(1969, 1, 1, tzinfo=datetime.timezone.utc)), {}),
        (TypeError, "when", q.add_timer, (1, "1"), {}),
        (TypeError, "when", q.add_timer, (1, None), {}),
        (ValueError, "clock", q.add_timer, (1, 1.0), {"clock": 7}),
        (ValueError, "ident", q.add_timer, (-1, 1.0), {}),
        (OverflowError, "ident", q.add_timer, (U64, 1.0), {}),
        (TypeError, "ident", q.add_timer, ("1", 1.0), {}),
        # user events
        (ValueError, "ident", q.add_user, (-1,), {}),
        (OverflowError, "ident", q.add_user, (U64,), {}),
        (TypeError, "ident", q.add_user, (1.5,), {}),
        (ValueError, "ident", q.trigger, (-1,), {}),
        (OverflowError, "ident", q.trigger, (U64,), {}),
        (TypeError, "ident", q.trigger, (None,), {}),
        # signals
        (ValueError, "sig", q.add_signal, (0,), {}),
        (ValueError, "sig", q.add_signal, (signal.NSIG,), {}),
        (ValueError, "sig", q.add_signal, (signal.SIGKILL,), {}),
        (TypeError, "sig", q.add_signal, ("SIGUSR1",), {}),
        # inodes
        (ValueError, "events", q.add_inode, ("/",), {"events": 0}),
        (ValueError, "events", q.add_inode, ("/",), {"events": 1 << 30}),
        (ValueError, "target", q.add_inode, (-1,), {}),
        # processes
        (ValueError, "pid", q.add_proc, (0,), {}),
        (ValueError, "pid", q.add_proc, (-1,), {}),
        (OverflowError, "pid", q.add_proc, (1 << 40,), {}),
        (TypeError, "pid", q.add_proc, ("1",), {}),
        # waiting
        (TypeError, "timeout", q.wait, ("1",), {}),
        (ValueError, "timeout", q.wait, (math.nan,), {}),
        (ValueError, "max_events", q.wait, (0,), {"max_events": -1}),
        (OverflowError, "max_events", q.wait, (0,), {"max_events": U64}),
        # the generic methods
        (ValueError, "target", q.remove, (kevent.EventType.POLL, -1), {}),
        (ValueError, "target", q.enable, (kevent.EventType.USER, -1), {}),
    ]


def test_queue_arguments(pair):
    a, b = pair
    with kevent.Queue() as q:
        fds = open_fds()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        for exc, name, fn, args, kwargs in queue_cases(q, a):
            try:
                check(exc, name, fn, *args, **kwargs)
            except AssertionError as e:
                raise AssertionError(f"{fn.__name__}{args} {kwargs}: {e}") from None
        assert len(q) == 0, "a bad argument left a registration"
        assert open_fds() <= fds, "an fd was left open"
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask


def test_modify_arguments(pair):
    a, b = pair
    with kevent.Queue() as q:
        q.add_poll(a)
        q.add_timer(1, 10.0)
        q.add_user(2)
        check(ValueError, "events", q.modify_poll, a, 1 << 20)
        check(TypeError, "edge", q.modify_poll, a, edge="no")
        check(ValueError, "oneshot and dispatch", q.modify_poll, a,
              oneshot=True, dispatch=True)
        check(OverflowError, "when", q.modify_timer, 1, 1e12)
        check(ValueError, "clock", q.modify_timer, 1, clock=9)
        check(ValueError, "oneshot and dispatch", q.modify_user, 2,
              oneshot=True, dispatch=True)
        # nothing changed
        q.trigger(2)
        assert [e.ident for e in q.wait(1.0)] == [2]


def selector_cases(sel, a):
    return [
        (ValueError, "Invalid events", sel.register, (a, 0), {}),
        (ValueError, "Invalid events", sel.register, (a, 4), {}),
        (ValueError, "Invalid events", sel.register, (a, -1), {}),
        (ValueError, "Invalid events", sel.register, (a, U64), {}),
        (TypeError, "events", sel.register, (a, "r"), {}),
        (TypeError, "events", sel.register, (a, 1.0), {}),
        (ValueError, "Invalid file descriptor", sel.register, (-10, 1), {}),
        (ValueError, "Invalid file object", sel.register, (object(), 1), {}),
        (OverflowError, "fileobj", sel.register, (BIG_FD, 1), {}),
        (TypeError, "timeout", sel.select, ("1",), {}),
        (TypeError, "timeout", sel.select, (object(),), {}),
        (ValueError, "timeout", sel.select, (math.nan,), {}),
        (TypeError, "register() missing required argument 'events'",
         sel.register, (a,), {}),
        (TypeError, "register() got an unexpected keyword argument 'x'",
         sel.register, (a, 1), {"x": 1}),
        (TypeError, "select() takes at most 1", sel.select, (1, 2), {}),
    ]


def test_selector_arguments(pair):
    a, b = pair
    with kevent.KeventSelector() as sel:
        for exc, name, fn, args, kwargs in selector_cases(sel, a):
            try:
                check(exc, name, fn, *args, **kwargs)
            except AssertionError as e:
                raise AssertionError(f"{fn.__name__}{args} {kwargs}: {e}") from None
        assert len(sel.get_map()) == 0
        sel.register(a, selectors.EVENT_READ)
        check(ValueError, "Invalid events", sel.modify, a, 0)
        assert sel.get_key(a).events == selectors.EVENT_READ


@pytest.mark.parametrize("timeout", [None, 0, 0.0, -1, 1e300, 2**70, -2**70,
                                     True, 1e-9])
def test_every_timeout_a_number_can_be(timeout):
    # like EpollSelector: None and any real number (huge: forever; <= 0:
    # poll); an int too large for a double, too.  Something is ready, so
    # that forever returns.
    a, b = socket.socketpair()
    with a, b, kevent.KeventSelector() as sel, kevent.Queue() as q:
        sel.register(b, selectors.EVENT_WRITE)
        assert len(sel.select(timeout)) == 1
        q.add_user(1)
        q.trigger(1)
        assert len(q.wait(timeout)) == 1


def test_helpers_arguments():
    async def main():
        check(ValueError, "pid", await_, kevent.wait_pid(0))
        check(TypeError, "pid", await_, kevent.wait_pid("1"))
        check(ValueError, "events", kevent.watch_path, "/", 0)
        check(TypeError, "events", kevent.watch_path, "/", "x")

    def await_(coro):
        # the checks raise before the coroutine first suspends
        try:
            coro.send(None)
        finally:
            coro.close()

    asyncio.run(main())


def test_fd_argument_is_a_fileno_object_or_int(pair):
    a, b = pair
    with kevent.Queue() as q:
        class F:
            def fileno(self):
                return a.fileno()

        q.add_poll(F())
        q.remove_poll(a.fileno())

        class Bad:
            def fileno(self):
                return -3

        check(ValueError, "fd", q.add_poll, Bad())
