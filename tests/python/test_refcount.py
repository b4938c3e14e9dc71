# SPDX-License-Identifier: MIT
"""user objects: kept alive while registered, released afterwards, no leak."""

import ctypes
import gc
import os
import sys
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


# What a leak would really show.  tracemalloc sees only Python's own
# allocations, not libkev's C heap; these do: the open fds, the bytes
# mapped (a ring is an anonymous mapping of its own, which the kernel may
# merge with its neighbours: count bytes, not mappings), and glibc's heap
# in use (mallinfo2: uordblks, bytes in use in the arenas, plus hblkhd,
# bytes in chunks mmap()ed on their own).

class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
        "fsmblks", "uordblks", "fordblks", "keepcost")]


_libc = ctypes.CDLL(None)
_libc.mallinfo2.restype = _Mallinfo2


def heap_in_use():
    gc.collect()
    m = _libc.mallinfo2()
    return m.uordblks + m.hblkhd


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def mapped_bytes():
    total = 0
    with open("/proc/self/maps") as f:
        for line in f:
            start, end = line.split()[0].split("-")
            total += int(end, 16) - int(start, 16)
    return total


def test_no_leak_over_100k_registrations(q):
    # Rounds of 50k registrations, half of them oneshot and fired, the
    # rest removed.  The first round grows the tables to their size; the
    # next two must not grow the heap: a leak of the smallest malloc chunk
    # per registration would be 3 MB.
    n = 100_000
    refs = []

    def one_round():
        for i in range(n // 2):
            tok = Token()
            if len(refs) < 1000:
                refs.append(weakref.ref(tok))
            q.add_user(i, user=tok, oneshot=bool(i & 1))
        del tok
        # fire half of them (the oneshot ones end on delivery)
        for i in range(1, n // 2, 2):
            q.trigger(i)
        fired = 0
        while evs := q.wait(0):  # all were triggered: ready now
            fired += len(evs)
        assert fired == n // 4
        for i in range(0, n // 2, 2):
            q.remove_user(i)
        assert len(q) == 0

    one_round()
    heap0, fds0 = heap_in_use(), open_fds()
    one_round()
    one_round()
    grown = heap_in_use() - heap0
    assert all(r() is None for r in refs)
    assert open_fds() == fds0
    assert grown < 64 * 1024, f"{grown} bytes more in use after 100k registrations"


def test_closed_queues_leave_no_fd_mapping_heap_or_reference():
    # 1000 queues, each with a USER, a TIMER and a POLL registration and an
    # event taken, then closed: nothing of them may stay behind.  A queue
    # leaked by close() keeps its fds, its ring's mapping, its heap (far
    # more than the 64 bytes a queue allowed here), its ring (more than
    # the 4 KiB a queue allowed here, which leave room for Python's 1 MiB
    # arenas) and the user objects.
    tok = Token()
    r, w = os.pipe()

    def cycle(count):
        for _ in range(count):
            q = kevent.Queue()
            q.add_user(1, user=tok)
            q.add_timer(2, 100.0, user=tok)
            q.add_poll(r, user=tok)
            q.trigger(1)
            assert [e.user for e in q.wait(0)] == [tok]
            q.close()

    try:
        cycle(100)  # Python's and glibc's caches reach their size
        refs0 = sys.getrefcount(tok)
        heap0, fds0, mapped0 = heap_in_use(), open_fds(), mapped_bytes()
        cycle(1000)
        grown = heap_in_use() - heap0
        assert open_fds() == fds0
        assert mapped_bytes() - mapped0 < 1000 * 4096
        assert sys.getrefcount(tok) == refs0
        assert grown < 1000 * 64, f"{grown} bytes more in use after 1000 queues"
    finally:
        os.close(r)
        os.close(w)


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
