# SPDX-License-Identifier: MIT
"""Priorities (libkev 1.2, issue 20): ``prio=``, Event.prio, Queue.prio_bound.

The argument checks are the binding's own; the rest needs a library that
implements priorities (an older one refuses a nonzero prio with EINVAL).
"""

import errno
import os
import signal
import socket

import pytest

import kevent

from test_args import check

U64 = 1 << 64


# ------------------------------------------------------------- constants

def test_constants_are_the_c_ones():
    k = kevent._kevent
    assert (kevent.PRIO_DEFAULT, kevent.PRIO_MAX, kevent.PRIO_LEVELS) == (0, 7, 8)
    assert kevent.PRIO_DEFAULT == k.KEVENT_PRIO_DEFAULT
    assert kevent.PRIO_MAX == k.KEVENT_PRIO_MAX
    assert kevent.PRIO_LEVELS == k.KEVENT_PRIO_LEVELS
    assert kevent.OPT_PRIO_BOUND == k.KEVENT_OPT_PRIO_BOUND == 2
    assert kevent.OPT_PRIO_BOUND != k.KEVENT_OPT_TIMER_SLACK
    assert kevent.PRIO_BOUND_DEFAULT == k.KEVENT_PRIO_BOUND_DEFAULT == 64
    assert kevent.PRIO_BOUND_MAX == k.KEVENT_PRIO_BOUND_MAX == 2**32 - 1
    for name in ("PRIO_DEFAULT", "PRIO_MAX", "PRIO_LEVELS", "OPT_PRIO_BOUND",
                 "PRIO_BOUND_DEFAULT", "PRIO_BOUND_MAX"):
        assert name in kevent.__all__
        assert type(getattr(kevent, name)) is int


# ------------------------------------------------------ argument checks

BAD_PRIOS = [
    (ValueError, -1),
    (ValueError, 8),
    (ValueError, 2**31),
    (OverflowError, 2**32),
    (OverflowError, U64),
    (TypeError, 1.0),
    (TypeError, "1"),
    (TypeError, None),
]


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def _adders(q, a, tmp_path):
    return [
        ("add_poll", lambda **kw: q.add_poll(a, **kw)),
        ("add_timer", lambda **kw: q.add_timer(1, 10.0, **kw)),
        ("add_user", lambda **kw: q.add_user(2, **kw)),
        ("add_signal", lambda **kw: q.add_signal(signal.SIGUSR2, **kw)),
        ("add_inode path", lambda **kw: q.add_inode(str(tmp_path), **kw)),
        ("add_inode fd", lambda **kw: q.add_inode(a, **kw)),
        ("add_proc", lambda **kw: q.add_proc(os.getpid(), **kw)),
    ]


@pytest.mark.parametrize("exc,bad", BAD_PRIOS, ids=[repr(b) for _, b in BAD_PRIOS])
def test_add_checks_prio_first(pair, tmp_path, exc, bad):
    a, b = pair
    from test_args import open_fds
    with kevent.Queue() as q:
        fds = open_fds()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        for what, add in _adders(q, a, tmp_path):
            try:
                msg = check(exc, "prio", add, prio=bad)
            except AssertionError as e:
                raise AssertionError(f"{what}: {e}") from None
            if exc is ValueError:
                assert "0 to 7" in msg, msg
        assert len(q) == 0, "a bad prio left a registration"
        assert open_fds() <= fds, "a bad prio left an fd open (add_inode by path)"
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask, \
            "a bad prio left a signal blocked (add_signal)"


def test_modify_checks_prio_and_changes_nothing(pair, tmp_path):
    a, b = pair
    with kevent.Queue() as q:
        q.add_poll(a)
        q.add_timer(1, 10.0)
        q.add_user(2, user="u")
        q.add_inode(str(tmp_path))
        for exc, bad in BAD_PRIOS:
            if bad is None:
                continue  # None keeps the priority
            check(exc, "prio", q.modify_poll, a, prio=bad)
            check(exc, "prio", q.modify_timer, 1, prio=bad)
            check(exc, "prio", q.modify_user, 2, prio=bad)
            check(exc, "prio", q.modify_inode, str(tmp_path), prio=bad)
            check(exc, "prio", q.modify_proc, os.getpid(), prio=bad)
            check(exc, "prio", q.modify_signal, signal.SIGUSR2, prio=bad)
        q.trigger(2)
        (ev,) = q.wait(1.0)
        assert (ev.ident, ev.user, ev.prio) == (2, "u", 0)


def test_modify_of_nothing_is_still_enoent():
    with kevent.Queue() as q:
        with pytest.raises(FileNotFoundError):
            q.modify_user(9, prio=3)


def test_prio_bound_setter_checks_its_value():
    with kevent.Queue() as q:
        for bad, exc in ((0, ValueError), (-1, ValueError),
                         (2**32, ValueError), (U64, ValueError),
                         (1.0, TypeError), ("1", TypeError),
                         (None, TypeError), (True, TypeError)):
            with pytest.raises(exc, match="^prio_bound"):
                q.prio_bound = bad
    with pytest.raises(ValueError, match="closed"):
        q.prio_bound
    with pytest.raises(ValueError, match="closed"):
        q.prio_bound = 1


# --------------------------------------------------- events and defaults

def test_default_priority_is_zero(q):
    q.add_user(1)
    q.trigger(1)
    (ev,) = q.wait(1.0)
    assert ev.prio == 0 and type(ev.prio) is int
    assert "prio" not in repr(ev)


def test_event_objects_take_a_prio():
    ev = kevent.Event(kevent.EventType.USER, 1, 0, kevent.ReqFlag(0),
                      kevent.RetFlag(0), 1)
    assert ev.prio == 0
    ev = kevent.Event(kevent.EventType.USER, 1, 0, kevent.ReqFlag(0),
                      kevent.RetFlag(0), 1, "u", None, 5)
    assert ev.prio == 5
    assert " prio=5 " in repr(ev)


# ------------------------------- what needs the library's priorities

def test_prio_bound_default_set_and_get():
    with kevent.Queue() as q:
        assert q.prio_bound == kevent.PRIO_BOUND_DEFAULT == 64
        q.prio_bound = 1
        assert q.prio_bound == 1
        assert q._raw.getopt(kevent.OPT_PRIO_BOUND) == 1
        q.prio_bound = kevent.PRIO_BOUND_MAX
        assert q.prio_bound == kevent.PRIO_BOUND_MAX
        q.add_timer(1, 10.0)  # unlike the timer slack: any time
        q.prio_bound = 3
        assert q.prio_bound == 3
        with pytest.raises(ValueError):
            q.prio_bound = 0
        assert q.prio_bound == 3  # unchanged
        # what the library itself says of 0
        with pytest.raises(OSError) as e:
            q._raw.setopt(kevent.OPT_PRIO_BOUND, 0)
        assert e.value.errno == errno.EINVAL


def test_every_type_delivers_its_priority(pair, tmp_path):
    a, b = pair
    with kevent.Queue() as q:
        q.add_poll(a, user="poll", prio=1)
        q.add_timer(1, 0.001, oneshot=True, user="timer", prio=kevent.PRIO_MAX)
        q.add_user(2, user="user", prio=5)
        q.add_inode(str(tmp_path), kevent.InodeFlag.CREATE, user="inode", prio=2)
        q.add_user(3, user="default")
        b.send(b"x")
        q.trigger(2)
        q.trigger(3)
        open(tmp_path / "f", "w").close()
        got = {}
        while len(got) < 5:
            evs = q.wait(5.0)
            assert evs, f"timed out; got {got}"
            got.update((ev.user, ev.prio) for ev in evs)
        assert got == {"poll": 1, "timer": 7, "user": 5, "inode": 2, "default": 0}


def test_modify_keeps_or_changes_the_priority(q):
    q.add_user(1, prio=4)
    q.modify_user(1, user="kept")  # prio left out: kept
    q.trigger(1)
    (ev,) = q.wait(1.0)
    assert (ev.user, ev.prio) == ("kept", 4)
    q.modify_user(1, prio=6)
    q.trigger(1)
    (ev,) = q.wait(1.0)
    assert (ev.user, ev.prio) == ("kept", 6)
    q.modify_user(1, prio=kevent.PRIO_DEFAULT)
    q.trigger(1)
    (ev,) = q.wait(1.0)
    assert ev.prio == 0
    q.add_timer(2, 10.0, prio=3)
    q.modify_timer(2, 0.001, oneshot=True)  # re-armed, prio kept
    (ev,) = q.wait(5.0)
    assert (ev.ident, ev.prio) == (2, 3)


def _fill_ring(q):
    """Trigger ring_size user events (users 100 ...): the ring is full, so
    what becomes ready next waits for room."""
    for i in range(q.ring_size):
        q.add_user(1000 + i, user=100 + i)
        q.trigger(1000 + i)


def _drain(q, n):
    seen = []
    while len(seen) < n:
        evs = q.wait(5.0)
        assert evs, f"timed out; seen {seen}"
        seen.extend(ev.user for ev in evs)
    return seen


def test_ready_registrations_are_published_highest_level_first():
    order = [(10, 3), (11, 7), (12, 0), (13, 5), (14, 1),  # (user, prio),
             (15, 6), (16, 2), (17, 4), (18, 5), (19, 7)]  # ready in this order
    with kevent.Queue(size=4) as q:
        for user, prio in order:
            q.add_user(user, user=user, prio=prio)
        _fill_ring(q)
        for user, _ in order:
            q.trigger(user)
        assert _drain(q, 14) == [100, 101, 102, 103,
                                 11, 19, 15, 13, 18, 17, 10, 16, 14, 12]


def test_a_bound_of_one_alternates():
    with kevent.Queue(size=2) as q:
        q.prio_bound = 1
        order = [(1, 7), (2, 7), (3, 7), (4, 0), (5, 0), (6, 0)]
        for user, prio in order:
            q.add_user(user, user=user, prio=prio)
        _fill_ring(q)
        for user, _ in order:
            q.trigger(user)
        assert _drain(q, 8) == [100, 101, 1, 4, 2, 5, 3, 6]


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_the_bound_lets_a_waiting_level_through(strict):
    with kevent.Queue(size=4) as q:
        if strict:
            q.prio_bound = kevent.PRIO_BOUND_MAX
        q.add_user(1, user=1)  # level 0
        for u in range(2, 72):
            q.add_user(u, user=u, prio=kevent.PRIO_MAX)
        _fill_ring(q)
        for u in range(1, 72):
            q.trigger(u)
        seen = _drain(q, 4 + 71)
        assert seen.index(1) == (4 + 70 if strict else 4 + 64)


def test_get_on_an_event_loop_sees_the_same_order():
    import asyncio

    async def main():
        with kevent.Queue(size=2) as q:
            q.add_user(1, user="low")
            q.add_user(2, user="high", prio=7)
            _fill_ring(q)
            q.trigger(1)
            q.trigger(2)
            return [(await q.get()).user for _ in range(4)]

    assert asyncio.run(main()) == [100, 101, "high", "low"]
