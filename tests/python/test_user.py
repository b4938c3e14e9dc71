# SPDX-License-Identifier: MIT
"""KEVENT_USER through kevent.Queue."""


import pytest

import kevent

from conftest import Waiter, WhenAsleep


def test_trigger_delivers(q):
    q.add_user(1, user="u")
    assert q.wait(0) == []
    q.trigger(1)
    (ev,) = q.wait(1.0)
    assert ev.type is kevent.EventType.USER and ev.ident == 1 and ev.user == "u"
    assert ev.count == 1
    assert q.wait(0) == []


def test_triggers_are_coalesced_and_counted(q):
    # The first trigger may be published at once; the rest are coalesced
    # into the next delivery: nothing is lost, at most two deliveries.
    q.add_user(2)
    for _ in range(5):
        q.trigger(2)
    evs = q.wait(1.0)
    evs += q.wait(0.1)
    evs += q.wait(0.1)
    assert 1 <= len(evs) <= 2
    assert sum(e.count for e in evs) == 5


def test_large_user_ids(q):
    ident = (1 << 64) - 1
    q.add_user(ident)
    q.trigger(ident)
    (ev,) = q.wait(1.0)
    assert ev.ident == ident
    with pytest.raises(OverflowError, match="^ident is too large"):
        q.add_user(1 << 64)
    with pytest.raises(ValueError, match="^ident must not be negative"):
        q.add_user(-1)


def test_oneshot_user_then_readd(q):
    q.add_user(3, oneshot=True, user="first")
    q.trigger(3)
    (ev,) = q.wait(1.0)
    assert ev.removed and ev.user == "first"
    with pytest.raises(FileNotFoundError):
        q.trigger(3)
    q.add_user(3, user="second")
    q.trigger(3)
    (ev,) = q.wait(1.0)
    assert ev.user == "second"


def test_oneshot_readded_before_its_event_is_taken(q):
    # The ONESHOT registration ends when its event is published; a new one
    # with the same key must not steal or lose the old event's user object.
    q.add_user(4, oneshot=True, user="old")
    q.trigger(4)
    assert q._raw.wait(1, 1.0) == 1  # published, not yet taken
    q.add_user(4, user="new")
    q.trigger(4)
    evs = q.wait(1.0)
    evs += q.wait(0.2)
    assert [e.user for e in evs] == ["old", "new"]
    assert evs[0].removed and not evs[1].removed
    assert len(q) == 1


def test_remove_of_fired_oneshot_drops_its_event(q):
    q.add_user(5, oneshot=True, user="x")
    q.trigger(5)
    assert q._raw.wait(1, 1.0) == 1
    q.remove_user(5)  # the event is in the ring: no error, and dropped
    assert q.wait(0.05) == []
    assert len(q) == 0


def test_disable_keeps_triggers_until_enable(q):
    q.add_user(6)
    q.disable_user(6)
    q.trigger(6)
    q.trigger(6)
    assert q.wait(0.05) == []
    q.enable_user(6)
    (ev,) = q.wait(1.0)
    assert ev.count == 2


def test_dispatch_user(q):
    q.add_user(7, dispatch=True)
    q.trigger(7)
    assert len(q.wait(1.0)) == 1
    q.trigger(7)
    assert q.wait(0.05) == []
    q.enable_user(7)
    (ev,) = q.wait(1.0)
    assert ev.count == 1


def test_modify_user_object(q):
    q.add_user(8, user="a")
    q.modify_user(8, user="b")
    q.trigger(8)
    (ev,) = q.wait(1.0)
    assert ev.user == "b"


def test_trigger_from_another_thread_wakes_waiter(q):
    # The waiter sleeps with no timeout (a timed wait would return the
    # event at its timeout even if the trigger had not woken it); the
    # trigger comes from a third thread once the waiter is asleep in
    # kevent_wait.
    q.add_user(9, user="wake")
    waiter = Waiter(q.wait)
    trigger = WhenAsleep(lambda: q.trigger(9), tid=waiter.tid)
    evs = waiter.finish()
    trigger.check()
    assert [e.user for e in evs] == ["wake"]
    assert evs[0].count == 1


def test_generic_remove(q):
    q.add_user(10)
    q.remove(kevent.EventType.USER, 10)
    assert len(q) == 0


def test_small_ring_defers_but_loses_nothing():
    with kevent.Queue(2) as q:
        assert q.ring_size == 2
        for i in range(20):
            q.add_user(i, user=i)
            q.trigger(i)
        got = []
        for _ in range(40):
            evs = q.wait(0.5)
            assert len(evs) <= 2
            got.extend(e.user for e in evs)
            if len(got) == 20:
                break
        assert sorted(got) == list(range(20))
