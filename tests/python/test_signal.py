# SPDX-License-Identifier: MIT
"""KEVENT_SIGNAL through kevent.Queue."""

import os
import signal

import pytest

import kevent


@pytest.fixture
def handler_calls():
    calls = []
    old = signal.signal(signal.SIGUSR1, lambda s, f: calls.append(s))
    yield calls
    signal.signal(signal.SIGUSR1, old)


def test_signal_is_delivered_as_event(q, handler_calls):
    q.add_signal(signal.SIGUSR1, user="usr1")
    assert signal.SIGUSR1 in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    os.kill(os.getpid(), signal.SIGUSR1)
    (ev,) = q.wait(2.0)
    assert ev.type is kevent.EventType.SIGNAL
    assert ev.signal is signal.SIGUSR1
    assert ev.ident == signal.SIGUSR1
    assert ev.count == 1
    assert ev.user == "usr1"
    assert ev.obj is signal.SIGUSR1
    q.remove_signal(signal.SIGUSR1)
    assert handler_calls == []  # consumed by the queue


def test_remove_unblocks_signal(q, handler_calls):
    q.add_signal(signal.SIGUSR1)
    q.remove_signal(signal.SIGUSR1)
    assert signal.SIGUSR1 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_close_unblocks_signal(handler_calls):
    with kevent.Queue() as q:
        q.add_signal(signal.SIGUSR1)
    assert signal.SIGUSR1 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_signal_blocked_by_application_stays_blocked(q, handler_calls):
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
    try:
        q.add_signal(signal.SIGUSR2)
        q.remove_signal(signal.SIGUSR2)
        assert signal.SIGUSR2 in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR2])


def test_signal_deliveries_are_counted(q, handler_calls):
    # standard signals do not queue: use a realtime signal, which does
    sig = signal.SIGRTMIN + 1
    q.add_signal(sig)
    for _ in range(3):
        os.kill(os.getpid(), sig)
    (ev,) = q.wait(2.0)
    assert ev.count == 3
    q.remove_signal(sig)


def test_oneshot_signal_unblocks_after_delivery(q, handler_calls):
    q.add_signal(signal.SIGUSR1, oneshot=True)
    os.kill(os.getpid(), signal.SIGUSR1)
    (ev,) = q.wait(2.0)
    assert ev.removed
    assert len(q) == 0
    assert signal.SIGUSR1 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP])
def test_sigkill_and_sigstop_are_valueerror(q, sig):
    # libkev says EINVAL; the binding checks it first, as a bad argument
    with pytest.raises(ValueError, match="^sig: SIG(KILL|STOP) cannot be caught"):
        q.add_signal(sig)
    assert sig not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert len(q) == 0


def test_out_of_range_signal_is_valueerror(q):
    with pytest.raises(ValueError):
        q.add_signal(0)
    with pytest.raises(ValueError):
        q.add_signal(signal.NSIG)


def test_disable_enable_signal(q, handler_calls):
    q.add_signal(signal.SIGUSR1)
    q.disable_signal(signal.SIGUSR1)
    os.kill(os.getpid(), signal.SIGUSR1)
    assert q.wait(0.05) == []
    q.enable_signal(signal.SIGUSR1)
    (ev,) = q.wait(2.0)
    assert ev.signal is signal.SIGUSR1
    q.remove_signal(signal.SIGUSR1)
