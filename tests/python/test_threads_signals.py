# SPDX-License-Identifier: MIT
"""The GIL, threads, and Ctrl-C around Queue.wait().

Nothing here sleeps to order threads: a thread that must act while another
one is blocked in Queue.wait() waits until /proc shows that thread asleep
inside kevent_wait's system call (conftest.WhenAsleep, wait_until_asleep).
"""

import os
import signal
import threading
import time

import pytest

import kevent

from conftest import (STATE_TIMEOUT, InterruptWhenAsleep, Waiter, WhenAsleep,
                      asleep_in_kevent_wait, wait_until_asleep)


@pytest.mark.parametrize("watch_fd", [False, True], ids=["futex", "waitset"])
def test_wait_releases_the_gil(q, watch_fd):
    # With USER events only the epoll and uring backends sleep on a futex;
    # with an fd watched they sleep in epoll_pwait2 / io_uring_enter.
    q.add_user(1)
    r, w = os.pipe()
    try:
        if watch_fd:
            q.add_poll(r)
        main = threading.get_native_id()
        progress = []

        def observer():
            # Python bytecode, which needs the GIL, between two sightings
            # of the main thread asleep in kevent_wait: had the binding kept
            # the GIL, this could not run before that wait had returned.
            n = 0
            for _ in range(10000):
                n += 1
            progress.append(n)
            progress.append(asleep_in_kevent_wait(main) is not None)
            q.trigger(1)

        done = threading.Event()
        h = WhenAsleep(observer, stop=done.is_set)
        # A bound only for the failure: with the GIL held, the observer
        # cannot run before this wait has timed out; it then finds the main
        # thread done and gives up, and the wait returns [].
        try:
            evs = q.wait(30.0)
        finally:
            done.set()
        h.check()
    finally:
        os.close(r)
        os.close(w)
    assert progress == [10000, True], f"main thread seen: {h.states}"
    assert [e.ident for e in evs] == [1]


def test_waiter_thread_is_woken_by_trigger_from_main(q):
    q.add_user(1, user="x")
    t = Waiter(q.wait)  # forever: a timed wait would end with the event
    # at its timeout even if the trigger did not wake it
    wait_until_asleep(t.tid)
    q.trigger(1)
    assert [e.user for e in t.finish()] == ["x"]


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
    while sum(total.values()) < n * 100:
        evs = q.wait(0)  # every trigger was made: all is ready now
        assert evs, f"triggers lost: {total}"
        for ev in evs:
            total[ev.ident] = total.get(ev.ident, 0) + ev.count
    assert total == {i: 100 for i in range(n)}


def test_close_from_another_thread_ends_a_waiter():
    q = kevent.Queue()
    t = Waiter(q.wait)  # forever: only the close can end it
    wait_until_asleep(t.tid)
    q.close()
    with pytest.raises(ValueError):
        t.finish()


def test_iteration_ends_when_another_thread_closes():
    q = kevent.Queue()
    q.add_user(1)
    q.trigger(1)
    seen = []

    def consume():
        for ev in q:
            seen.append(ev.ident)

    t = Waiter(consume)
    # The first event is in the ring already: only the second wait sleeps.
    wait_until_asleep(t.tid)
    assert seen == [1]
    q.close()
    t.finish()
    assert seen == [1]


def _interrupted_wait(q, sig, wait, exc):
    """Run wait() in the main thread, signalled once it sleeps; expect exc."""
    q.add_user(999)  # for the rescue
    main = threading.main_thread().ident
    h = InterruptWhenAsleep(lambda: signal.pthread_kill(main, sig),
                            lambda: q.trigger(999))
    try:
        with pytest.raises(exc):
            wait()
    finally:
        h.done.set()
    h.check()
    assert h.acted and not h.rescued


def test_ctrl_c_during_wait_forever_raises_keyboard_interrupt(q):
    q.add_user(1)
    _interrupted_wait(q, signal.SIGINT, q.wait, KeyboardInterrupt)


def test_ctrl_c_during_timed_wait(q):
    _interrupted_wait(q, signal.SIGINT, lambda: q.wait(30.0), KeyboardInterrupt)


def test_ctrl_c_during_iteration(q):
    def iterate():
        for _ in q:
            pass

    _interrupted_wait(q, signal.SIGINT, iterate, KeyboardInterrupt)


def test_queue_usable_after_keyboard_interrupt(q):
    q.add_user(1)
    _interrupted_wait(q, signal.SIGINT, q.wait, KeyboardInterrupt)
    q.trigger(1)
    assert [e.ident for e in q.wait(0)] == [1]


def test_signal_with_quiet_handler_resumes_wait_with_remaining_timeout(q):
    # A handler that returns normally: the wait goes on (PEP 475) with what
    # is left of its timeout, not with the whole timeout again.  Read from
    # the sleeping system call's own timeout argument: the first sleep got
    # r1, the resumed one r2; the binding's deadline is fixed, so r2 is
    # smaller than r1 by more than the time from the first sighting to the
    # signal (gap).  Restarting with the full timeout would give r2 ~ r1.
    calls = []
    q.add_user(1)
    main = threading.get_native_id()
    seen = {}

    def act():
        first = wait_until_asleep(main)
        t_seen = time.monotonic_ns()
        time.sleep(0.05)  # widens the gap; nothing is ordered by it
        t_sent = time.monotonic_ns()
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
        deadline = time.monotonic() + STATE_TIMEOUT
        while not calls:  # the handler runs in the main thread
            assert time.monotonic() < deadline, "the handler never ran"
            time.sleep(0.001)
        again = wait_until_asleep(main)  # after the handler: resumed
        seen.update(first=first, again=again, gap=t_sent - t_seen)
        q.trigger(1)

    old = signal.signal(signal.SIGUSR1, lambda s, f: calls.append(s))
    try:
        h = Waiter(act)
        evs = q.wait(30.0)
        h.finish()
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert calls == [signal.SIGUSR1]  # the handler ran during the wait
    assert [e.ident for e in evs] == [1]  # and the wait went on after it
    r1, r2 = seen["first"].timeout_ns, seen["again"].timeout_ns
    assert r1 is not None and r2 is not None, seen
    # 1 ms of slack for epoll_pwait's rounding up to whole milliseconds
    assert r1 - r2 > seen["gap"] - 1_000_000, seen


def test_exception_from_signal_handler_propagates(q):
    class Boom(Exception):
        pass

    def handler(s, f):
        raise Boom()

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        _interrupted_wait(q, signal.SIGUSR1, lambda: q.wait(30.0), Boom)
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_concurrent_add_trigger_remove_never_mixes_up_user_objects(q):
    # Workers churn registrations while the main thread consumes: every
    # event carries the user object of its own registration, no
    # registration is delivered twice (one trigger each), and no event of
    # a registration whose removal had returned before the wait began is
    # ever returned.  Every third registration waits until the consumer
    # has taken its event, so that deliveries do happen.
    n_workers, rounds = 4, 300
    lock = threading.Lock()
    removed = set()    # tags whose remove_user() has returned
    delivered = []     # tags in delivery order
    awaited = {}       # tag -> Event set when the consumer takes it
    errors = []

    def worker(w):
        try:
            for gen in range(rounds):
                ident = w * 1000 + gen % 2  # keys come back at once
                tag = (ident, gen)
                wait_for_it = gen % 3 == 0
                if wait_for_it:
                    with lock:
                        awaited[tag] = threading.Event()
                q.add_user(ident, user=tag)
                q.trigger(ident)
                if wait_for_it:
                    assert awaited[tag].wait(STATE_TIMEOUT), f"{tag} never delivered"
                q.remove_user(ident)
                with lock:
                    removed.add(tag)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(n_workers)]
    for t in threads:
        t.start()

    def take(timeout):
        with lock:
            gone = set(removed)
        for ev in q.wait(timeout):
            assert ev.user[0] == ev.ident, ev
            assert ev.user not in gone, f"event of a removed registration: {ev!r}"
            assert ev.user not in delivered, f"delivered twice: {ev!r}"
            delivered.append(ev.user)
            with lock:
                waiting = awaited.get(ev.user)
            if waiting is not None:
                waiting.set()

    while any(t.is_alive() for t in threads):
        take(0.01)
    for t in threads:
        t.join()
    assert errors == []
    take(0)  # everything is removed: nothing may come
    assert len(q) == 0
    assert set(awaited) <= set(delivered)
    assert len(awaited) == n_workers * rounds // 3
    assert len(removed) == n_workers * rounds
