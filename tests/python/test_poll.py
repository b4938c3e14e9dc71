# SPDX-License-Identifier: MIT
"""KEVENT_POLL through kevent.Queue."""

import os
import socket

import pytest

import kevent
from kevent import PollFlag

from conftest import wait_for


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_readable_socket_is_delivered_with_fd_and_mask(q, pair):
    a, b = pair
    q.add_poll(a, PollFlag.IN, user="a")
    assert q.wait(0) == []
    b.send(b"x")
    (ev,) = q.wait(2.0)
    assert ev.type is kevent.EventType.POLL
    assert ev.fd == a.fileno()
    assert ev.obj is a
    assert ev.mask & PollFlag.IN
    assert isinstance(ev.mask, PollFlag)
    assert ev.user == "a"


def test_plain_int_fd_is_accepted(q):
    r, w = os.pipe()
    try:
        q.add_poll(w, PollFlag.OUT)
        (ev,) = q.wait(2.0)
        assert ev.fd == w and ev.mask & PollFlag.OUT
        q.remove_poll(w)
    finally:
        os.close(r)
        os.close(w)


def test_level_triggered_is_delivered_again_while_ready(q, pair):
    a, b = pair
    q.add_poll(a, PollFlag.IN)
    b.send(b"x")
    assert len(q.wait(2.0)) == 1
    assert len(q.wait(2.0)) == 1  # still readable
    a.recv(10)
    assert q.wait(0.05) == []


def test_edge_triggered_is_delivered_once_per_activity(q, pair):
    a, b = pair
    q.add_poll(a, PollFlag.IN, edge=True)
    b.send(b"x")
    assert len(q.wait(2.0)) == 1
    assert q.wait(0.05) == []  # no new activity
    b.send(b"y")
    (ev,) = q.wait(2.0)
    assert ev.flags & kevent.ReqFlag.ET


def test_oneshot_is_removed_after_delivery(q, pair):
    a, b = pair
    q.add_poll(a, PollFlag.IN, oneshot=True, user="once")
    b.send(b"x")
    (ev,) = q.wait(2.0)
    assert ev.removed and ev.user == "once"
    assert len(q) == 0
    assert q.wait(0.05) == []
    with pytest.raises(FileNotFoundError):
        q.remove_poll(a)
    q.add_poll(a, PollFlag.IN)  # the key is free again


def test_dispatch_disables_until_enable(q, pair):
    a, b = pair
    q.add_poll(a, PollFlag.IN, dispatch=True)
    b.send(b"x")
    assert len(q.wait(2.0)) == 1
    assert q.wait(0.05) == []
    q.enable_poll(a)
    assert len(q.wait(2.0)) == 1


def test_disable_and_enable(q, pair):
    a, b = pair
    q.add_poll(a, PollFlag.IN)
    q.disable_poll(a)
    b.send(b"x")
    assert q.wait(0.05) == []
    q.enable(kevent.EventType.POLL, a)
    assert len(q.wait(2.0)) == 1


def test_modify_changes_mask_and_keeps_user(q, pair):
    a, b = pair
    q.add_poll(a, PollFlag.IN, user="u")
    assert q.wait(0.05) == []
    q.modify_poll(a, PollFlag.OUT)
    (ev,) = q.wait(2.0)
    assert ev.mask & PollFlag.OUT and ev.user == "u"
    q.modify_poll(a, user="v")
    (ev,) = q.wait(2.0)
    assert ev.user == "v"


def test_modify_unknown_is_file_not_found(q, pair):
    with pytest.raises(FileNotFoundError):
        q.modify_poll(pair[0], PollFlag.IN)


def test_remove_drops_events_already_in_the_ring(q, pair):
    a, b = pair
    q.add_poll(a, PollFlag.IN, user="old")
    b.send(b"x")
    # wait(max_events=...) publishes into the ring; take nothing yet
    assert q._raw.wait(1, 2.0) >= 1
    q.remove_poll(a)
    assert q.wait(0.05) == []
    # a new registration of the same fd does not inherit the stale entry
    q.add_poll(a, PollFlag.IN, user="new")
    evs = q.wait(2.0)
    assert [e.user for e in evs] == ["new"]


def test_hangup_is_reported(q, pair):
    # kevent(7): the conditions that are true, within the requested mask,
    # plus ERR and HUP always.  A stream socket whose peer is gone is
    # readable (end of file) and hung up; RDHUP was not asked for.
    a, b = pair
    q.add_poll(a, PollFlag.IN)
    b.close()
    (ev,) = q.wait(10.0)
    assert ev.mask == PollFlag.IN | PollFlag.HUP


def test_hangup_of_an_empty_pipe_is_hup_alone(q):
    # poll(2) reports POLLHUP, and no POLLIN, for an empty pipe whose
    # writers are gone: HUP is delivered although only IN was asked for.
    r, w = os.pipe()
    try:
        q.add_poll(r, PollFlag.IN)
        os.close(w)
        (ev,) = q.wait(10.0)
        assert ev.mask == PollFlag.HUP
    finally:
        os.close(r)


def test_rdhup(q, pair):
    a, b = pair
    q.add_poll(a, PollFlag.RDHUP)
    b.shutdown(socket.SHUT_WR)
    (ev,) = q.wait(2.0)
    assert ev.mask & PollFlag.RDHUP


def test_regular_file_is_always_ready(q, tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"data")
    with open(p, "rb") as f:
        q.add_poll(f, PollFlag.IN | PollFlag.OUT)
        (ev,) = q.wait(2.0)
        assert ev.mask & PollFlag.IN and ev.mask & PollFlag.OUT
        q.remove_poll(f)


def test_many_fds(q):
    socks = [socket.socketpair() for _ in range(300)]
    try:
        for i, (a, b) in enumerate(socks):
            q.add_poll(a, PollFlag.IN, user=i)
            b.send(b"x")
        got = wait_for(q, lambda evs: len({e.user for e in evs}) == 300)
        assert {e.user for e in got} == set(range(300))
    finally:
        for a, b in socks:
            q.remove_poll(a)
            a.close()
            b.close()


def test_remove_of_closed_fd_succeeds(q):
    a, b = socket.socketpair()
    q.add_poll(a, PollFlag.IN)
    fd = a.fileno()
    a.close()
    b.close()
    q.remove_poll(fd)
    assert len(q) == 0
