# SPDX-License-Identifier: MIT
"""A kevent.Queue on an asyncio loop: await q.get(), async for (issue 18,
item 2).

Every test runs on asyncio's default loop (EpollSelector) and on a loop on
a KeventSelector (the queue nested in the selector's queue).  Nothing waits
on time: a thread acts once /proc shows the loop's thread asleep in its
wait (conftest.asleep_in_loop_wait); timeouts only turn a hang into a
failure (STATE_TIMEOUT).
"""

import asyncio
import gc
import os
import threading

import pytest

import kevent

from conftest import STATE_TIMEOUT, when_loop_asleep
from conftest import run_on as run


def assert_not_polling(asleep):
    """The loop slept with no timeout or a long one: the hang detector's
    (STATE_TIMEOUT), never a poll that a busy loop would make."""
    assert asleep.timeout_ns is None or asleep.timeout_ns > 10**9, asleep


def test_get_takes_events_in_order(loop):
    async def main():
        with kevent.Queue() as q:
            for i in range(5):
                q.add_user(i, user=i)
                q.trigger(i)
            return [(await q.get()).user for _ in range(5)]

    assert run(loop, main()) == [0, 1, 2, 3, 4]


def test_trigger_from_another_thread_wakes_a_sleeping_loop(loop):
    async def main():
        with kevent.Queue() as q:
            q.add_user(1, user="t")
            h = when_loop_asleep(lambda: q.trigger(1))
            ev = await q.get()
            h.check()
            return ev.user, h.asleep

    user, asleep = run(loop, main())
    assert user == "t"
    assert_not_polling(asleep)


def test_trigger_from_the_loop_thread_wakes_a_waiting_get(loop):
    # The case: a task waits in q.get() (the queue's fd watched by
    # the loop), and then the loop's own thread triggers.  The loop thread
    # is the one that last called kevent_wait (with a zero timeout, from
    # get()), so libkev must make the fd readable all the same (issue 15,
    # defect 7).
    async def main():
        with kevent.Queue() as q:
            q.add_user(1, user="same thread")
            getter = asyncio.ensure_future(q.get())
            await asyncio.sleep(0)  # the getter runs up to its await
            assert not getter.done()
            assert q._aio.reading
            q.trigger(1)
            return (await getter).user

    assert run(loop, main()) == "same thread"


def test_trigger_from_a_callback_of_the_loop(loop):
    async def main():
        with kevent.Queue() as q:
            q.add_user(7)
            asyncio.get_running_loop().call_soon(q.trigger, 7)
            got = []
            async for ev in q:
                got.append(ev.ident)
                if len(got) == 3:
                    break
                asyncio.get_running_loop().call_soon(q.trigger, 7)
            return got

    assert run(loop, main()) == [7, 7, 7]


def test_every_event_type_on_the_loop(loop, tmp_path):
    import signal
    import socket
    import subprocess

    async def main():
        a, b = socket.socketpair()
        with kevent.Queue() as q, a, b:
            q.add_poll(a, user="poll")
            q.add_timer(1, 0.001, oneshot=True, user="timer")
            q.add_user(2, user="user")
            q.add_inode(tmp_path, kevent.InodeFlag.CREATE, user="inode")
            q.add_signal(signal.SIGUSR2, user="signal")
            child = subprocess.Popen(["true"])
            q.add_proc(child, user="proc")
            b.send(b"x")
            q.trigger(2)
            (tmp_path / "f").touch()
            os.kill(os.getpid(), signal.SIGUSR2)
            seen = set()
            async for ev in q:
                seen.add(ev.user)
                if ev.user == "poll":
                    q.remove_poll(a)
                if len(seen) == 6:
                    break
            q.remove_signal(signal.SIGUSR2)
            child.wait()
            return seen

    assert run(loop, main()) == {"poll", "timer", "user", "inode", "signal", "proc"}


def test_idle_loop_sleeps_while_get_waits(loop):
    # No busy loop: with a get() pending and nothing happening, the loop
    # thread sleeps in its wait, and not for a short while (a loop that
    # polled the queue would never sleep, or sleep with a short timeout);
    # and the queue was looked at twice only: before waiting, and when a
    # trigger (from another thread) made its fd readable.
    async def main():
        with kevent.Queue() as q:
            q.add_user(1)
            q.add_timer(2, 3600.0)  # registered, far away
            counts = []
            orig = q._take_ready

            def counted():
                counts.append(1)
                return orig()

            q._take_ready = counted
            h = when_loop_asleep(lambda: q.trigger(1))
            ev = await q.get()
            h.check()
            return ev.ident, h.asleep, len(counts)

    ident, asleep, takes = run(loop, main())
    assert ident == 1
    assert_not_polling(asleep)
    # one take before waiting, one when the fd became readable
    assert takes == 2


def test_async_for_ends_when_the_queue_is_closed(loop):
    async def main():
        q = kevent.Queue()
        q.add_user(1)
        got = []

        async def consume():
            async for ev in q:
                got.append(ev.ident)
            return "ended"

        task = asyncio.ensure_future(consume())
        q.trigger(1)
        while not got:
            await asyncio.sleep(0)
        q.close()  # from the loop, while the task waits
        return await task, got

    assert run(loop, main()) == ("ended", [1])


def _until_closed(q, results):
    """Two tasks on q: one awaits get(), one iterates; each appends to
    results how it ended (get()'s ValueError, or "ended")."""
    async def getter():
        try:
            await q.get()
        except ValueError as e:
            results.append(str(e))

    async def iterator():
        async for _ in q:
            pass
        results.append("ended")

    return [asyncio.ensure_future(getter()), asyncio.ensure_future(iterator())]


def test_close_from_another_thread_ends_waiting_tasks(loop):
    async def main():
        q = kevent.Queue()
        results = []

        tasks = _until_closed(q, results)
        await asyncio.sleep(0)
        h = when_loop_asleep(q.close)
        await asyncio.gather(*tasks)
        h.check()
        return sorted(results), q.closed

    results, closed = run(loop, main())
    assert closed
    assert results == ["I/O operation on closed kevent queue", "ended"]


class _HeldClose:
    """A queue's raw queue whose close() waits for a gate: the moment
    between close() telling the loop and the fd going, held open."""

    def __init__(self, real):
        self.real = real
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __getattr__(self, name):
        return getattr(self.real, name)

    def close(self):
        self.entered.set()
        self.gate.wait(STATE_TIMEOUT)
        self.real.close()


def test_close_from_another_thread_ends_tasks_the_loop_wakes_before_the_fd_goes(loop):
    # close() from another thread wakes the loop's tasks first and closes
    # the fd after.  A task woken in between must end, not go back to
    # waiting on the fd about to be closed (that wait never ended: seen
    # under ASan, which slows the closing thread down), and the loop must
    # not keep watching that fd.
    async def main():
        q = kevent.Queue()
        fd = q.fileno()
        held = q._raw = _HeldClose(q._raw)
        results = []

        tasks = _until_closed(q, results)
        await asyncio.sleep(0)
        closer = threading.Thread(target=q.close)
        h = when_loop_asleep(closer.start)
        try:
            # the fd is still open: the tasks end on close()'s word alone
            done, pending = await asyncio.wait(tasks, timeout=STATE_TIMEOUT)
            h.check()
            assert not pending, "a task went back to waiting on the queue"
            assert not held.real.closed
            watched = fd in asyncio.get_running_loop()._selector.get_map()
        finally:
            held.gate.set()
            if closer.is_alive() or held.entered.is_set():
                closer.join()
        return sorted(results), q.closed, watched

    results, closed, watched = run(loop, main())
    assert closed
    assert results == ["I/O operation on closed kevent queue", "ended"]
    assert not watched


def test_cancelled_get_loses_no_event(loop):
    async def main():
        with kevent.Queue() as q:
            q.add_user(1)
            first = asyncio.ensure_future(q.get())
            await asyncio.sleep(0)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            assert not q._aio.getters
            # a timed-out wait_for is a cancellation too
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(q.get(), 0)
            q.trigger(1)
            ev = await q.get()
            return ev.ident, ev.count

    assert run(loop, main()) == (1, 1)


def test_many_tasks_share_the_events(loop):
    async def main():
        with kevent.Queue() as q:
            for i in range(20):
                q.add_user(i)
            results = []

            async def worker():
                ev = await q.get()
                results.append(ev.ident)

            tasks = [asyncio.ensure_future(worker()) for _ in range(20)]
            await asyncio.sleep(0)
            assert len(q._aio.getters) == 20

            def fire():
                for i in range(20):
                    q.trigger(i)

            h = when_loop_asleep(fire)
            await asyncio.gather(*tasks)
            h.check()
            return sorted(results)

    assert run(loop, main()) == list(range(20))


def test_the_reader_is_removed_when_nobody_waits(loop):
    # After the last get() is served, a readable fd with no task waiting
    # stops the watch (the events stay in libkev until asked for), so an
    # unattended queue cannot make the loop spin.
    async def main():
        with kevent.Queue() as q:
            q.add_user(1)
            q.trigger(1)
            await q.get()           # from the ring at once: no reader
            assert not q._aio.reading
            getter = asyncio.ensure_future(q.get())
            await asyncio.sleep(0)
            assert q._aio.reading
            q.trigger(1)
            await getter
            q.trigger(1)            # nobody waits: the next readable
            while q._aio.reading:   # callback removes the reader
                await asyncio.sleep(0)
            ev = await q.get()      # the event was kept
            return ev.ident

    assert run(loop, main()) == 1


def test_a_queue_serves_one_loop_at_a_time(loop):
    q = kevent.Queue()
    q.add_user(1)
    errors = []

    async def other():
        try:
            await q.get()
        except RuntimeError as e:
            errors.append(str(e))

    async def main():
        getter = asyncio.ensure_future(q.get())
        await asyncio.sleep(0)
        t = threading.Thread(target=lambda: asyncio.run(other()))
        t.start()
        await asyncio.get_running_loop().run_in_executor(None, t.join)
        q.trigger(1)
        return (await getter).ident

    assert run(loop, main()) == 1
    assert len(errors) == 1 and "another event loop" in errors[0]
    q.close()


def test_the_queue_moves_to_the_next_loop_once_the_first_is_closed():
    with kevent.Queue() as q:
        q.add_user(1)

        async def one():
            q.trigger(1)
            return (await q.get()).ident

        assert asyncio.run(one()) == 1
        assert asyncio.run(one()) == 1
        assert kevent.run(one()) == 1


def test_sync_wait_returns_events_taken_for_the_loop(loop):
    # events taken from the ring for waiting tasks, not yet handed out,
    # are returned by a later wait() rather than lost
    async def main(q):
        for i in range(3):
            q.add_user(i)
            q.trigger(i)
        return (await q.get()).ident

    with kevent.Queue() as q:
        first = run(loop, main(q))
        rest = [ev.ident for ev in q.wait(0)]
        assert sorted([first] + rest) == [0, 1, 2]


def test_no_reference_cycle_keeps_a_finished_queue(loop):
    import weakref

    async def main():
        q = kevent.Queue()
        q.add_user(1)
        q.trigger(1)
        await q.get()
        getter = asyncio.ensure_future(q.get())
        await asyncio.sleep(0)
        q.trigger(1)
        await getter
        ref = weakref.ref(q)
        q.close()
        return ref

    ref = run(loop, main())
    gc.collect()
    assert ref() is None
