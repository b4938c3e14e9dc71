# SPDX-License-Identifier: MIT
"""What asyncio lacks, on any loop: watch_path, wait_pid, Trigger (issue
18, item 2).

Every test runs on asyncio's default loop and on a kevent loop.  Threads
act once the loop's thread is seen asleep in its wait; timeouts only turn
a hang into a failure.
"""

import asyncio
import gc
import os
import signal
import subprocess
import sys
import threading

import pytest

import kevent
from kevent import _aio

from conftest import when_loop_asleep
from conftest import run_on as run


def hub_users(loop):
    hub = _aio._hubs.get(loop)
    return 0 if hub is None else hub.users


# ------------------------------------------------------------ watch_path


def test_watch_path_sees_a_change_made_after_the_call(loop, tmp_path):
    async def main():
        async with kevent.watch_path(tmp_path, kevent.InodeFlag.CREATE) as w:
            assert hub_users(loop) == 1
            (tmp_path / "a").touch()
            async for ev in w:
                return ev.type, ev.mask, ev.obj, ev.user

    assert run(loop, main()) == (kevent.EventType.INODE,
                                 kevent.InodeFlag.CREATE, tmp_path, None)
    assert hub_users(loop) == 0  # the registration is gone, and the reader


def test_watch_path_wakes_a_sleeping_loop(loop, tmp_path):
    async def main():
        async with kevent.watch_path(tmp_path) as w:
            h = when_loop_asleep(lambda: (tmp_path / "b").write_text("x"))
            ev = await w.__anext__()
            h.check()
            return ev.mask & kevent.InodeFlag.CREATE, h.asleep

    created, asleep = run(loop, main())
    assert created
    assert asleep.timeout_ns is None or asleep.timeout_ns > 10**9, asleep


def test_changes_not_taken_yet_are_coalesced(loop, tmp_path):
    # a busy consumer gets one event with the OR of what happened
    async def main():
        (tmp_path / "old").touch()
        async with kevent.watch_path(tmp_path) as w:
            (tmp_path / "new").touch()
            (tmp_path / "old").unlink()
            await asyncio.sleep(0)  # the hub may take them meanwhile
            ev = await w.__anext__()
            # nothing more is pending
            extra = asyncio.ensure_future(w.__anext__())
            await asyncio.sleep(0)
            pending = not extra.done()
            w.close()
            with pytest.raises(StopAsyncIteration):
                await extra
            return ev.mask, pending

    mask, pending = run(loop, main())
    assert mask & kevent.InodeFlag.CREATE and mask & kevent.InodeFlag.DELETE
    assert pending


def test_iteration_ends_with_the_deletion_of_the_watched_file(loop, tmp_path):
    f = tmp_path / "f"
    f.write_text("x")

    async def main():
        events = []
        w = kevent.watch_path(f)
        f.unlink()
        async for ev in w:
            events.append(ev)
        return events, w

    events, w = run(loop, main())
    last = events[-1]
    assert last.mask & kevent.InodeFlag.DELETE_SELF
    assert last.removed and last.gone
    assert hub_users(loop) == 0
    w.close()  # harmless after the end


def test_close_ends_an_iteration_in_another_task(loop, tmp_path):
    async def main():
        w = kevent.watch_path(tmp_path)

        async def consume():
            async for _ in w:
                pass
            return "ended"

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0)
        w.close()
        return await task

    assert run(loop, main()) == "ended"
    assert hub_users(loop) == 0


def test_a_dropped_watch_is_removed(loop, tmp_path):
    async def main():
        w = kevent.watch_path(tmp_path)
        assert hub_users(loop) == 1
        del w
        gc.collect()
        await asyncio.sleep(0)  # the removal runs on the loop
        return hub_users(loop)

    assert run(loop, main()) == 0


def test_watch_path_errors(loop, tmp_path):
    async def main():
        with pytest.raises(FileNotFoundError):
            kevent.watch_path(tmp_path / "missing")
        return hub_users(loop)

    assert run(loop, main()) == 0
    with pytest.raises(RuntimeError):  # no running loop
        kevent.watch_path(tmp_path)


# -------------------------------------------------------------- wait_pid


def test_wait_pid_of_a_child(loop):
    async def main():
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
        code = await kevent.wait_pid(child)
        return code, child.wait()

    assert run(loop, main()) == (3, 3)
    assert hub_users(loop) == 0


def test_wait_pid_of_a_killed_child(loop):
    async def main():
        child = subprocess.Popen(["sleep", "600"])
        waiter = asyncio.ensure_future(kevent.wait_pid(child.pid))
        await asyncio.sleep(0)
        child.kill()
        code = await waiter
        child.wait()
        return code

    assert run(loop, main()) == -signal.SIGKILL


def test_wait_pid_of_a_process_that_is_not_a_child(loop):
    # a grandchild, orphaned: no wait status, None
    async def main():
        sh = subprocess.Popen(["sh", "-c", "sleep 600 & echo $!"],
                              stdout=subprocess.PIPE, text=True)
        pid = int(sh.stdout.readline())
        sh.wait()
        sh.stdout.close()
        waiter = asyncio.ensure_future(kevent.wait_pid(pid))
        await asyncio.sleep(0)
        os.kill(pid, signal.SIGKILL)
        return await waiter

    assert run(loop, main()) is None


def test_several_tasks_wait_for_one_pid_and_one_gives_up(loop):
    async def main():
        child = subprocess.Popen(["sleep", "600"])
        waiters = [asyncio.ensure_future(kevent.wait_pid(child)) for _ in range(3)]
        await asyncio.sleep(0)
        assert hub_users(loop) == 1  # one registration for the three
        waiters[0].cancel()
        await asyncio.sleep(0)
        h = when_loop_asleep(child.terminate)
        results = await asyncio.gather(*waiters, return_exceptions=True)
        h.check()
        child.wait()
        return results

    results = run(loop, main())
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1:] == [-signal.SIGTERM, -signal.SIGTERM]
    assert hub_users(loop) == 0


def test_a_cancelled_wait_removes_the_registration(loop):
    async def main():
        child = subprocess.Popen(["sleep", "600"])
        try:
            waiter = asyncio.ensure_future(kevent.wait_pid(child))
            await asyncio.sleep(0)
            assert hub_users(loop) == 1
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            return hub_users(loop), _aio._hubs[loop].queue.registered(
                kevent.EventType.PROC, child.pid)
        finally:
            child.kill()
            child.wait()

    assert run(loop, main()) == (0, False)


def test_wait_pid_of_no_process(loop):
    async def main():
        child = subprocess.Popen(["true"])
        child.wait()  # reaped: the pid names nothing now
        with pytest.raises(ProcessLookupError):
            await kevent.wait_pid(child.pid)
        return hub_users(loop)

    assert run(loop, main()) == 0


# --------------------------------------------------------------- Trigger


def test_fires_before_the_first_wait_are_counted(loop):
    async def main():
        t = kevent.Trigger()
        t.fire()
        t.fire()
        n = await t.wait()
        t.close()
        return n

    assert run(loop, main()) == 2


def test_a_thread_fires_while_the_loop_sleeps(loop):
    async def main():
        t = kevent.Trigger()
        await asyncio.sleep(0)
        t.fire()
        assert await t.wait() == 1  # bound to the loop now
        h = when_loop_asleep(t.fire)
        n = await t.wait()
        h.check()
        t.close()
        return n, h.asleep

    n, asleep = run(loop, main())
    assert n == 1
    assert asleep.timeout_ns is None or asleep.timeout_ns > 10**9, asleep


def test_fires_from_many_threads_are_all_counted(loop):
    async def main():
        t = kevent.Trigger()
        t.fire()
        await t.wait()  # bind
        threads = [threading.Thread(target=lambda: [t.fire() for _ in range(250)])
                   for _ in range(4)]
        for th in threads:
            th.start()
        total = 0
        while total < 1000:
            total += await t.wait()
        for th in threads:
            th.join()
        t.close()
        return total

    assert run(loop, main()) == 1000


def test_the_loop_thread_fires_while_a_task_waits(loop):
    # fired from the loop's own thread after the wait began: needs the
    # queue fd exact for a polling loop (issue 15, defect 7)
    async def main():
        t = kevent.Trigger()
        t.fire()
        await t.wait()          # bound: a USER event of the loop's hub
        h = when_loop_asleep(t.fire)
        await t.wait()          # the loop thread read the hub's queue
        h.check()
        waiter = asyncio.ensure_future(t.wait())
        await asyncio.sleep(0)
        assert not waiter.done()
        t.fire()                # the loop thread, which waited last
        n = await waiter
        t.close()
        return n

    assert run(loop, main()) == 1


def test_async_for_over_a_trigger_ends_at_close(loop):
    async def main():
        t = kevent.Trigger()
        counts = []
        t.fire()

        async def consume():
            async for n in t:
                counts.append(n)
            return "ended"

        task = asyncio.ensure_future(consume())
        while not counts:
            await asyncio.sleep(0)
        t.close()
        return await task, counts

    assert run(loop, main()) == ("ended", [1])
    assert hub_users(loop) == 0


def test_fire_after_close_is_runtimeerror():
    t = kevent.Trigger()
    t.close()
    with pytest.raises(RuntimeError):
        t.fire()


def test_a_trigger_is_awaited_on_one_loop(loop):
    async def main():
        t = kevent.Trigger()
        t.fire()
        await t.wait()
        return t

    t = run(loop, main())

    async def other():
        with pytest.raises(RuntimeError, match="one event loop"):
            await t.wait()

    asyncio.run(other())
    t.close()


# ------------------------------------------------------------ the hub


def test_one_hub_per_loop_and_no_spin_when_idle(loop, tmp_path):
    async def main():
        t = kevent.Trigger()
        t.fire()
        await t.wait()
        w = kevent.watch_path(tmp_path)
        hub = _aio._hubs[loop]
        assert hub.users == 2
        # idle with two registrations: the loop sleeps, not polling
        h = when_loop_asleep(t.fire)
        await t.wait()
        h.check()
        w.close()
        t.close()
        return hub.users, h.asleep

    users, asleep = run(loop, main())
    assert users == 0
    assert asleep.timeout_ns is None or asleep.timeout_ns > 10**9, asleep


def test_the_hub_goes_with_its_loop():
    import weakref

    async def main():
        t = kevent.Trigger()
        t.fire()
        await t.wait()
        t.close()
        return weakref.ref(_aio._hubs[asyncio.get_running_loop()].queue)

    fds = set(os.listdir("/proc/self/fd"))
    ref = asyncio.run(main())
    gc.collect()
    assert ref() is None
    assert set(os.listdir("/proc/self/fd")) <= fds
