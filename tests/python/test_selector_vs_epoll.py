# SPDX-License-Identifier: MIT
"""KeventSelector against EpollSelector, case by case (issue 18, item 4).

Each scenario runs the same code on selectors.EpollSelector and on
kevent.KeventSelector (the backend of this run, KEVENT_BACKEND) and
reduces what it saw to a plain value: results, exceptions (type, errno),
what the peer of a socket sees.  They must be equal, except for the
differences listed in DIFFERENCES, each with both outcomes and its reason;
the same list is in python-kevent(3) and tests/cpython/differences.md.
"""

import errno
import os
import selectors
import socket
import tempfile

import pytest

import kevent

R = selectors.EVENT_READ
W = selectors.EVENT_WRITE

with kevent.Queue() as _q:
    BACKEND = _q.backend


def outcome(fn):
    """fn()'s value, or ("raises", exception type name, errno)."""
    try:
        return fn()
    except Exception as e:  # the exception is the outcome
        return ("raises", type(e).__name__, getattr(e, "errno", None))


def ready(sel, timeout=0):
    return sorted((k.fd, ev) for k, ev in sel.select(timeout))


def peer_sees(sock):
    """What a recv on sock returns now: data, b"" (EOF) or "nothing"."""
    sock.setblocking(False)
    try:
        return sock.recv(100)
    except BlockingIOError:
        return "nothing"


# Each scenario takes a selector class and returns its outcome.

def regular_file(cls):
    with cls() as sel, tempfile.TemporaryFile() as f:
        return outcome(lambda: sel.register(f, R)), len(sel.get_map())


def directory(cls):
    fd = os.open("/", os.O_RDONLY)
    try:
        with cls() as sel:
            return outcome(lambda: sel.register(fd, R)), len(sel.get_map())
    finally:
        os.close(fd)


def dev_null(cls):
    with cls() as sel, open("/dev/null", "rb") as f:
        return outcome(lambda: sel.register(f, R)), len(sel.get_map())


def pollable_regular_file(cls):
    # /proc/self/mounts is a regular file with a poll method: epoll takes
    # it (a test of the file type alone would refuse it)
    with cls() as sel, open("/proc/self/mounts", "rb") as f:
        key = outcome(lambda: sel.register(f, R))
        return type(key).__name__, len(sel.get_map())


def closed_fd(cls):
    with cls() as sel:
        r, w = os.pipe()
        os.close(r)
        os.close(w)
        return outcome(lambda: sel.register(r, R)), len(sel.get_map())


def its_own_fd(cls):
    with cls() as sel:
        return outcome(lambda: sel.register(sel.fileno(), R)), len(sel.get_map())


def another_selector(cls):
    with cls() as outer, cls() as inner:
        a, b = socket.socketpair()
        with a, b:
            inner.register(a, R)
            outer.register(inner.fileno(), R)
            before = ready(outer)
            b.send(b"x")
            return before, ready(outer, 5.0) == [(inner.fileno(), R)]


def eventfd(cls):
    fd = os.eventfd(0)
    try:
        with cls() as sel:
            sel.register(fd, R | W)
            first = ready(sel)
            os.eventfd_write(fd, 1)
            return first, ready(sel, 5.0)
    finally:
        os.close(fd)


def fifo(cls):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fifo")
        os.mkfifo(path)
        r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        w = os.open(path, os.O_WRONLY)
        try:
            with cls() as sel:
                sel.register(r, R)
                first = ready(sel)
                os.write(w, b"x")
                second = ready(sel, 5.0)
                os.close(w)
                w = -1
                os.read(r, 1)
                return first, second, ready(sel, 5.0)  # hangup: readable
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)


def hangup(cls):
    a, b = socket.socketpair()
    with a, cls() as sel:
        sel.register(a, R)
        b.close()
        return ready(sel, 5.0)


def connect_refused(cls):
    # an error on the socket: ready for reading and writing
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    c = socket.socket()
    c.setblocking(False)
    with c, cls() as sel:
        try:
            c.connect(("127.0.0.1", port))
        except (BlockingIOError, ConnectionRefusedError):
            pass
        sel.register(c, R | W)
        got = ready(sel, 5.0)
        for _ in range(3):  # the error may come after the first report
            if got == [(c.fileno(), R | W)]:
                break
            got = ready(sel, 5.0)
        return got


def same_fd_twice(cls):
    a, b = socket.socketpair()
    with a, b, cls() as sel:
        sel.register(a, R)
        return outcome(lambda: sel.register(a.fileno(), W))


def unregister_after_close(cls):
    a, b = socket.socketpair()
    with cls() as sel:
        key = sel.register(a, R)
        a.close()
        b.close()
        return sel.unregister(a) == key, len(sel.get_map())


def unregister_after_close_and_reuse(cls):
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    fd = a.fileno()
    with cls() as sel:
        sel.register(fd, R)
        a.close()
        os.dup2(c.fileno(), fd)   # another socket under the number
        try:
            sel.unregister(fd)
            d.send(b"x")
            got = ready(sel)
            sel.register(fd, R)
            return got, ready(sel, 5.0) == [(fd, R)]
        finally:
            os.close(fd)
            for s in (b, c, d):
                s.close()


def closed_while_registered_peer(cls):
    # Closing a registered socket: with epoll the socket goes (the peer sees
    # EOF); a registration that holds the file keeps it open until
    # unregister().
    a, b = socket.socketpair()
    with b, cls() as sel:
        sel.register(a, R)
        fd = a.fileno()
        a.close()
        at_close = peer_sees(b)
        sel.unregister(fd)
        return at_close, peer_sees(b)


def closed_while_registered_modify(cls):
    # modify() of a closed fd: epoll fails (EBADF) and the selector
    # unregisters it; a registration that holds the file goes on.
    r, w = os.pipe()
    with cls() as sel:
        sel.register(r, R)
        os.close(r)
        try:
            res = outcome(lambda: type(sel.modify(r, R | W)).__name__)
            return res, len(sel.get_map())
        finally:
            os.close(w)
            if r in [k.fd for k in sel.get_map().values()]:
                sel.unregister(r)


def descriptors_per_registration(cls):
    # What ten registrations cost the process in descriptors: nothing with
    # epoll; with uring each holds the duplicate it polls (so a process
    # registers at most about half its RLIMIT_NOFILE).
    pairs = [socket.socketpair() for _ in range(5)]
    try:
        with cls() as sel:
            before = len(os.listdir("/proc/self/fd"))
            for a, b in pairs:
                sel.register(a, R)
                sel.register(b, W)
            held = len(os.listdir("/proc/self/fd")) - before
            for a, b in pairs:
                sel.unregister(a)
                sel.unregister(b)
            return held, len(os.listdir("/proc/self/fd")) - before
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def modify_to_no_events(cls):
    a, b = socket.socketpair()
    with a, b, cls() as sel:
        sel.register(a, R)
        res = outcome(lambda: sel.modify(a, 0).events)
        return res, sel.get_key(a).events


def modify_events_and_data(cls):
    a, b = socket.socketpair()
    with a, b, cls() as sel:
        sel.register(a, R, "r")
        k = sel.modify(a, W, "w")
        same = sel.modify(a, W, "w")
        return (k.events, k.data, same is sel.get_key(a), ready(sel, 5.0))


def after_close(cls):
    a, b = socket.socketpair()
    with a, b:
        sel = cls()
        sel.register(a, R)
        sel.close()
        return (outcome(lambda: sel.register(b, R)),
                outcome(lambda: sel.select(0)),
                outcome(lambda: sel.get_key(a)),
                outcome(lambda: sel.unregister(a)),
                outcome(lambda: sel.fileno()),
                sel.get_map())


def big_fd_number(cls):
    a, b = socket.socketpair()
    fd = os.dup2(a.fileno(), 5000)
    try:
        with a, b, cls() as sel:
            sel.register(fd, R)
            b.send(b"x")
            return ready(sel, 5.0)
    finally:
        os.close(fd)


def empty_select(cls):
    with cls() as sel:
        return ready(sel, 0), ready(sel, -1)


def write_only_key_ignores_input(cls):
    a, b = socket.socketpair()
    with a, b, cls() as sel:
        sel.register(a, W)
        b.send(b"x")
        return ready(sel, 5.0)


SCENARIOS = [regular_file, directory, dev_null, pollable_regular_file,
             closed_fd, its_own_fd, another_selector, eventfd, fifo, hangup,
             connect_refused, same_fd_twice, unregister_after_close,
             unregister_after_close_and_reuse, closed_while_registered_peer,
             closed_while_registered_modify, descriptors_per_registration,
             modify_to_no_events,
             modify_events_and_data, after_close, big_fd_number,
             empty_select, write_only_key_ignores_input]

EPERM = ("raises", "PermissionError", errno.EPERM)

# (scenario, backends) -> (EpollSelector's outcome, KeventSelector's
# outcome, why).  Backends: those where the difference holds.
HOLDS_FILE = ("uring", "kmod")
DIFFERENCES = {
    "closed_while_registered_peer": (
        HOLDS_FILE, (b"", b""), ("nothing", b""),
        "a uring or kmod registration holds the file until unregister()"),
    "closed_while_registered_modify": (
        HOLDS_FILE, (("raises", "OSError", errno.EBADF), 0), ("SelectorKey", 1),
        "a uring or kmod registration holds the file: modify() still works"),
    "descriptors_per_registration": (
        ("uring",), (0, 0), (10, 0),
        "a uring registration holds a duplicate of its descriptor until "
        "unregister()"),
    "modify_to_no_events": (
        ("epoll", "uring", "kmod"), (0, 0),
        (("raises", "ValueError", None), R),
        "modify() checks events as register() does"),
}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_as_epoll_selector(scenario):
    want = scenario(selectors.EpollSelector)
    got = scenario(kevent.KeventSelector)
    diff = DIFFERENCES.get(scenario.__name__)
    if diff is not None and BACKEND in diff[0]:
        _, epoll_outcome, kevent_outcome, why = diff
        assert want == epoll_outcome, "EpollSelector changed"
        assert got == kevent_outcome, why
    else:
        assert got == want


def test_files_epoll_refuses_are_refused():
    # the first scenarios, spelled out
    assert regular_file(kevent.KeventSelector) == (EPERM, 0)
    assert directory(kevent.KeventSelector) == (EPERM, 0)
    assert dev_null(kevent.KeventSelector) == (EPERM, 0)


def test_a_queue_still_takes_regular_files_as_always_ready(q):
    # kevent.Queue keeps libkev's poll(2) semantics: only the selector
    # follows epoll
    with tempfile.TemporaryFile() as f:
        q.add_poll(f, kevent.PollFlag.IN | kevent.PollFlag.OUT)
        (ev,) = q.wait(5.0)
        assert ev.mask == kevent.PollFlag.IN | kevent.PollFlag.OUT
