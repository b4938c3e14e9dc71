# SPDX-License-Identifier: MIT
"""KEVENT_TIMER through kevent.Queue."""

import datetime
import time

import pytest

import kevent
from kevent import Clock, TimerFlag


def test_oneshot_relative_timer(q):
    q.add_timer(1, 0.05, oneshot=True, user="t")
    (ev,) = q.wait(10.0)
    assert ev.type is kevent.EventType.TIMER
    assert ev.ident == 1 and ev.user == "t" and ev.count == 1
    assert ev.removed
    assert len(q) == 0
    assert q.wait(0) == []


def test_oneshot_timers_fire_in_deadline_order(q):
    # Registered out of order; however late this process runs, expired
    # timers are published in the order of their deadlines.
    for ident, secs in ((3, 0.15), (1, 0.05), (2, 0.1)):
        q.add_timer(ident, secs, oneshot=True)
    got = []
    while len(got) < 3:
        evs = q.wait(10.0)
        assert evs, f"timers missing after {got}"
        got.extend(e.ident for e in evs)
    assert got == [1, 2, 3]
    assert len(q) == 0


def test_periodic_timer_counts_expirations(q):
    q.add_timer(2, 0.01)
    time.sleep(0.1)
    evs = q.wait(2.0)
    assert len(evs) == 1
    assert evs[0].count >= 5  # missed expirations are counted
    assert not evs[0].removed
    (ev,) = q.wait(2.0)  # and it keeps firing
    assert ev.count >= 1
    q.remove_timer(2)


def test_timedelta_interval(q):
    q.add_timer(3, datetime.timedelta(milliseconds=20), oneshot=True)
    (ev,) = q.wait(2.0)
    assert ev.ident == 3


def test_zero_periodic_interval_is_valueerror(q):
    # libkev says EINVAL; the binding checks it first, as a bad argument
    with pytest.raises(ValueError, match="^when: a periodic timer"):
        q.add_timer(4, 0)
    assert len(q) == 0


def test_zero_oneshot_fires_at_once(q):
    q.add_timer(5, 0, oneshot=True)
    (ev,) = q.wait(1.0)
    assert ev.ident == 5


def test_negative_interval_is_valueerror(q):
    with pytest.raises(ValueError):
        q.add_timer(6, -1.0)


def test_absolute_datetime_uses_realtime_abstime(q):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(milliseconds=100)
    q.add_timer(7, when, user="abs")
    (ev,) = q.wait(3.0)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert now >= when - datetime.timedelta(milliseconds=5)
    assert ev.mask & TimerFlag.ABSTIME and ev.mask & TimerFlag.REALTIME
    assert ev.user == "abs"
    # fires once, stays registered idle until removed or re-armed
    assert q.wait(0.2) == []
    assert len(q) == 1
    q.modify_timer(7, datetime.datetime.now() + datetime.timedelta(milliseconds=50))
    (ev,) = q.wait(3.0)
    assert ev.ident == 7
    q.remove_timer(7)


def test_absolute_datetime_in_the_past_fires_at_once(q):
    q.add_timer(8, datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc), oneshot=True)
    (ev,) = q.wait(1.0)
    assert ev.ident == 8 and ev.removed


def test_boottime_clock(q):
    q.add_timer(9, 0.02, oneshot=True, clock=Clock.BOOTTIME)
    (ev,) = q.wait(2.0)
    assert ev.mask & TimerFlag.BOOTTIME


def test_modify_rearms_timer(q):
    q.add_timer(10, 100.0)
    assert q.wait(0.05) == []
    q.modify_timer(10, 0.02)
    (ev,) = q.wait(2.0)
    assert ev.ident == 10


def test_disabled_timer_counts_and_delivers_on_enable(q):
    q.add_timer(11, 0.01)
    q.disable_timer(11)
    assert q.wait(0.1) == []
    q.enable_timer(11)
    (ev,) = q.wait(2.0)
    assert ev.count >= 1


def test_dispatch_timer(q):
    q.add_timer(12, 0.01, dispatch=True)
    assert len(q.wait(2.0)) == 1
    assert q.wait(0.1) == []
    q.enable(kevent.EventType.TIMER, 12)
    (ev,) = q.wait(2.0)
    assert ev.count >= 1


def test_removed_timer_does_not_deliver(q):
    q.add_timer(13, 0.01)
    time.sleep(0.05)
    q.remove_timer(13)
    assert q.wait(0.1) == []
