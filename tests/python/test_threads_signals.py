# SPDX-License-Identifier: MIT
"""The GIL, threads, and Ctrl-C around Queue.wait()."""

import os
import signal
import threading
import time

import pytest

import kevent


def test_wait_releases_the_gil(q):
    q.add_user(1)
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        assert q.wait(0.3) == []
    finally:
        stop.set()
        t.join()
    # With the GIL held for 0.3 s the spinner would hardly run at all.
    assert counter[0] > 1000


def test_waiter_thread_is_woken_by_trigger_from_main(q):
    q.add_user(1, user="x")
    got = []
    t = threading.Thread(target=lambda: got.extend(q.wait(10.0)))
    t.start()
    time.sleep(0.1)
    q.trigger(1)
    t.join(5.0)
    assert not t.is_alive()
    assert [e.user for e in got] == ["x"]


def test_many_threads_trigger(q):
    n = 8
    for i in range(n):
        q.add_user(i)
    threads = [threading.Thread(target=lambda i=i: [q.trigger(i) for _ in range(100)])
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = {}
    deadline = time.monotonic() + 5
    while sum(total.values()) < n * 100 and time.monotonic() < deadline:
        for ev in q.wait(1.0):
            total[ev.ident] = total.get(ev.ident, 0) + ev.count
    assert total == {i: 100 for i in range(n)}


def test_close_from_another_thread_ends_a_waiter():
    q = kevent.Queue()
    errors = []

    def waiter():
        try:
            q.wait(10.0)
        except ValueError as e:
            errors.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.1)
    q.close()
    t.join(5.0)
    assert not t.is_alive()
    assert len(errors) == 1


def test_iteration_ends_when_another_thread_closes():
    q = kevent.Queue()
    q.add_user(1)
    q.trigger(1)
    seen = []

    def consume():
        for ev in q:
            seen.append(ev.ident)

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.2)
    q.close()
    t.join(5.0)
    assert not t.is_alive()
    assert seen == [1]


def _sigint_soon(delay=0.2):
    t = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
    t.start()
    return t


def test_ctrl_c_during_wait_forever_raises_keyboard_interrupt(q):
    q.add_user(1)
    t = _sigint_soon()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        q.wait()
    t.join()
    assert time.monotonic() - t0 < 2.0


def test_ctrl_c_during_timed_wait(q):
    t = _sigint_soon()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        q.wait(30.0)
    t.join()
    assert time.monotonic() - t0 < 2.0


def test_ctrl_c_during_iteration(q):
    t = _sigint_soon()
    with pytest.raises(KeyboardInterrupt):
        for _ in q:
            pass
    t.join()


def test_queue_usable_after_keyboard_interrupt(q):
    q.add_user(1)
    t = _sigint_soon(0.1)
    with pytest.raises(KeyboardInterrupt):
        q.wait()
    t.join()
    q.trigger(1)
    assert [e.ident for e in q.wait(1.0)] == [1]


def test_signal_with_quiet_handler_resumes_wait_with_remaining_timeout(q):
    calls = []
    old = signal.signal(signal.SIGUSR1, lambda s, f: calls.append(s))
    try:
        t = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
        t0 = time.monotonic()
        t.start()
        assert q.wait(0.4) == []
        elapsed = time.monotonic() - t0
        t.join()
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert calls == [signal.SIGUSR1]  # the handler ran during the wait
    assert 0.38 <= elapsed < 2.0      # and the wait went on to its timeout


def test_exception_from_signal_handler_propagates(q):
    class Boom(Exception):
        pass

    def handler(s, f):
        raise Boom()

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        t = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
        t.start()
        with pytest.raises(Boom):
            q.wait(5.0)
        t.join()
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_concurrent_add_trigger_remove_never_mixes_up_user_objects(q):
    # Workers churn registrations while the main thread consumes: every
    # event must carry the user object of its own registration, and events
    # of removed registrations must never come back.
    n_workers, rounds = 4, 300
    live = {}
    errors = []

    def worker(w):
        try:
            for gen in range(rounds):
                ident = w * 1000 + gen % 7
                tag = (ident, gen)
                live[ident] = tag
                q.add_user(ident, user=tag)
                q.trigger(ident)
                if gen % 3 == 0:
                    time.sleep(0)  # let the consumer take some
                q.remove_user(ident)
                live.pop(ident, None)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(n_workers)]
    for t in threads:
        t.start()
    seen = 0
    while any(t.is_alive() for t in threads):
        for ev in q.wait(0.01):
            assert ev.user[0] == ev.ident
            seen += 1
    for t in threads:
        t.join()
    for ev in q.wait(0.05):
        raise AssertionError(f"event of a removed registration: {ev!r}")
    assert errors == []
    assert len(q) == 0
