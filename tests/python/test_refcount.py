# SPDX-License-Identifier: MIT
"""user objects: kept alive while registered, released afterwards, no leak."""

import gc
import sys
import tracemalloc
import weakref

import kevent


class Token:
    pass


def test_user_object_kept_alive_while_registered(q):
    tok = Token()
    ref = weakref.ref(tok)
    q.add_user(1, user=tok)
    del tok
    gc.collect()
    assert ref() is not None
    q.trigger(1)
    (ev,) = q.wait(1.0)
    assert ev.user is ref()
    del ev
    q.remove_user(1)
    gc.collect()
    assert ref() is None


def test_refcount_goes_back_after_remove(q):
    tok = Token()
    base = sys.getrefcount(tok)
    q.add_user(1, user=tok)
    assert sys.getrefcount(tok) > base
    q.remove_user(1)
    assert sys.getrefcount(tok) == base


def test_oneshot_user_object_released_after_delivery(q):
    tok = Token()
    ref = weakref.ref(tok)
    q.add_user(1, user=tok, oneshot=True)
    del tok
    q.trigger(1)
    evs = q.wait(1.0)
    assert evs[0].user is ref()
    del evs
    gc.collect()
    assert ref() is None


def test_modify_releases_the_old_user_object(q):
    a, b = Token(), Token()
    ra = weakref.ref(a)
    q.add_user(1, user=a)
    q.modify_user(1, user=b)
    del a
    gc.collect()
    assert ra() is None


def test_stale_event_after_remove_does_not_resurrect(q):
    tok = Token()
    ref = weakref.ref(tok)
    q.add_user(1, user=tok)
    q.trigger(1)
    assert q._raw.wait(1, 1.0) == 1  # in the ring
    q.remove_user(1)
    del tok
    gc.collect()
    assert ref() is None
    assert q.wait(0.05) == []  # the stale entry is dropped safely


def test_no_leak_over_100k_registrations(q):
    n = 100_000
    refs = []
    gc.collect()
    tracemalloc.start()
    try:
        snap0 = tracemalloc.take_snapshot()
        for round_ in range(2):
            for i in range(n // 2):
                tok = Token()
                if len(refs) < 1000:
                    refs.append(weakref.ref(tok))
                q.add_user(i, user=tok, oneshot=bool(i & 1))
            # fire half of them (the oneshot ones end on delivery)
            for i in range(1, n // 2, 2):
                q.trigger(i)
            fired = 0
            while True:
                evs = q.wait(0.5)
                if not evs:
                    break
                fired += len(evs)
            assert fired == n // 4
            for i in range(0, n // 2, 2):
                q.remove_user(i)
            assert len(q) == 0
            del tok, evs
        gc.collect()
        snap1 = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert all(r() is None for r in refs)
    grown = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
    assert grown < 1_000_000, f"{grown} bytes still allocated"


def test_close_releases_all_user_objects():
    refs = []
    q = kevent.Queue()
    for i in range(1000):
        tok = Token()
        refs.append(weakref.ref(tok))
        q.add_user(i, user=tok)
    del tok
    q.close()
    gc.collect()
    assert all(r() is None for r in refs)


def test_queue_garbage_collected_without_close():
    tok = Token()
    ref = weakref.ref(tok)
    q = kevent.Queue()
    q.add_user(1, user=tok)
    del q, tok
    gc.collect()
    assert ref() is None


def test_finalizer_of_user_object_may_call_the_queue(q):
    # The last reference to a user object can be dropped while the queue
    # updates its tables; a finalizer calling back into the queue must not
    # deadlock.
    calls = []

    class Callback:
        def __del__(self):
            q.remove_user(2)
            calls.append("del")

    q.add_user(1, user=Callback(), oneshot=True)
    q.add_user(2)
    q.trigger(1)
    q.remove_user(1)  # drops the pending oneshot event and the object
    assert calls == ["del"]
    assert len(q) == 0

    q.add_user(3, user=Callback(), oneshot=True)
    q.add_user(2)
    q.trigger(3)
    q.wait(1.0)  # the event is discarded at once: the object dies in wait()
    gc.collect()
    assert calls == ["del", "del"]
