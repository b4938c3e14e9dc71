# SPDX-License-Identifier: MIT
"""What asyncio lacks, on any event loop: watch a path (watch_path), wait
for any process (wait_pid), wake a loop from any thread (Trigger).

Each event loop that uses them gets one kevent queue (its *hub*), watched by
the loop with ``loop.add_reader`` while a helper needs it, whatever the loop
(the default one, a :func:`kevent.new_event_loop`, any SelectorEventLoop).
The hub lives as long as its loop; every call that registers something
must be made in the loop's thread, from a coroutine or a callback (only
:meth:`Trigger.fire` may be called from any thread).
"""

from __future__ import annotations

import asyncio
import collections
import os
import threading
import weakref
from typing import Any, Deque, Dict, List, Optional

from . import _args
from ._flags import InodeFlag
from ._queue import Event, Queue

__all__ = ["watch_path", "PathWatch", "wait_pid", "Trigger"]


class _Hub:
    """The kevent queue of one event loop, shared by the helpers."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop_ref = weakref.ref(loop)
        self.queue = Queue()
        self.fd = self.queue.fileno()
        self.pid = os.getpid()
        self.users = 0          # registrations alive: the loop watches fd
        self.reading = False
        self.next_id = 1        # USER ids of Triggers
        self.procs: Dict[int, "_ProcSink"] = {}

    def acquire(self) -> None:
        self.users += 1
        if not self.reading:
            loop = self.loop_ref()
            assert loop is not None
            loop.add_reader(self.fd, self.readable)
            self.reading = True

    def release(self) -> None:
        self.users -= 1
        if self.users == 0 and self.reading:
            self.reading = False
            loop = self.loop_ref()
            if loop is not None and not loop.is_closed():
                loop.remove_reader(self.fd)

    def readable(self) -> None:
        try:
            events = self.queue._take_ready()
        except Exception as exc:  # the queue failed: say so, stop watching
            loop = self.loop_ref()
            if self.reading and loop is not None:
                self.reading = False
                loop.remove_reader(self.fd)
            if loop is not None:
                loop.call_exception_handler({
                    "message": "kevent: the event loop's kevent queue failed",
                    "exception": exc,
                })
            return
        for ev in events:
            ev.user.deliver(ev)


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub]" = \
    weakref.WeakKeyDictionary()


def _hub_of(loop: asyncio.AbstractEventLoop) -> _Hub:
    hub = _hubs.get(loop)
    if hub is None or hub.queue.closed or hub.pid != os.getpid():
        hub = _Hub(loop)
        _hubs[loop] = hub
    return hub


# ------------------------------------------------------------ watch_path

class _InodeSink:
    """The registration's user object: the PathWatch by weak reference, so
    that a watch dropped without close() is collected and removed."""

    __slots__ = ("watch",)

    def __init__(self, watch: "PathWatch") -> None:
        self.watch = weakref.ref(watch)

    def deliver(self, ev: Event) -> None:
        watch = self.watch()
        if watch is not None:
            watch._deliver(ev)


class PathWatch:
    """Changes to a file or directory, as an asynchronous iterator of
    :class:`kevent.Event` (type INODE); made by :func:`watch_path`.

    Changes that happen while the consumer is busy are coalesced into one
    event (masks OR-ed, as libkev coalesces them), so a slow consumer never
    makes a backlog. Iteration ends after the event that ends the watch
    (the object deleted or its file system unmounted: ``ev.removed`` and
    ``ev.gone``), or when :meth:`close` is called. An async context
    manager; :meth:`close` (or leaving the ``async with``) removes the
    registration. Use it on the loop it was made on.
    """

    def __init__(self, path: Any, events: int = InodeFlag.ALL) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._hub = hub = _hub_of(loop)
        self._pending: Optional[Event] = None
        self._waiter: Optional["asyncio.Future[None]"] = None
        self._ended = True      # until registered
        self.path = path
        self.fd = hub.queue.add_inode(path, events, user=_InodeSink(self))
        self._ended = False
        hub.acquire()

    def __repr__(self) -> str:
        state = "ended" if self._ended else "watching"
        return f"<kevent.PathWatch {self.path!r} {state}>"

    def _deliver(self, ev: Event) -> None:
        old = self._pending
        if old is not None:     # coalesce with the change not taken yet
            ev = Event(ev.type, ev.ident, old.mask | ev.mask, ev.flags,
                       old.ret_flags | ev.ret_flags, ev.data, None, ev.obj)
        else:
            ev.user = None
        self._pending = ev
        if ev.removed:
            self._end()
        self._wake()

    def _wake(self) -> None:
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._hub.release()

    def __aiter__(self) -> "PathWatch":
        return self

    async def __anext__(self) -> Event:
        """The next change; StopAsyncIteration once the watch has ended."""
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("a PathWatch is used on the loop that made it")
        while self._pending is None:
            if self._ended:
                raise StopAsyncIteration
            fut = self._loop.create_future()
            self._waiter = fut
            try:
                await fut
            finally:
                if self._waiter is fut:
                    self._waiter = None
        ev, self._pending = self._pending, None
        return ev

    def close(self) -> None:
        """Stop watching (idempotent); an iteration in progress ends."""
        if not self._ended:
            try:
                self._hub.queue.remove_inode(self.fd)
            except (OSError, ValueError):
                pass  # ended meanwhile, or the hub is closed
            self._end()
        self._wake()

    async def aclose(self) -> None:
        """:meth:`close`, as an awaitable."""
        self.close()

    async def __aenter__(self) -> "PathWatch":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_ended", True):
            return
        hub, fd, loop = self._hub, self.fd, self._loop

        def remove() -> None:
            try:
                hub.queue.remove_inode(fd)
            except (OSError, ValueError):
                return
            hub.release()

        try:
            loop.call_soon_threadsafe(remove)
        except RuntimeError:  # the loop is closed: nothing is watched
            pass


def watch_path(path: Any, events: int = InodeFlag.ALL) -> PathWatch:
    """Watch a file or directory from a coroutine: an async iterator of
    :class:`kevent.Event` (INODE; ``ev.mask`` is an
    :class:`kevent.InodeFlag`), on the running loop, whatever it is.

    The watch starts at once (changes made after this call are seen). The
    path is opened (``O_RDONLY``) and held while watched; errors of that
    open are the usual :class:`OSError`.

    >>> import asyncio, kevent, os, tempfile
    >>> async def main(directory):
    ...     async with kevent.watch_path(directory, kevent.InodeFlag.CREATE) as w:
    ...         open(os.path.join(directory, "new"), "w").close()
    ...         async for ev in w:
    ...             return ev.mask
    >>> with tempfile.TemporaryDirectory() as d:
    ...     asyncio.run(main(d))
    <InodeFlag.CREATE: 1>
    """
    return PathWatch(path, events)


# -------------------------------------------------------------- wait_pid

class _ProcSink:
    """The waiters of one pid on one hub (one registration for them all)."""

    __slots__ = ("hub", "pid", "futures")

    def __init__(self, hub: _Hub, pid: int) -> None:
        self.hub = hub
        self.pid = pid
        self.futures: List["asyncio.Future[Event]"] = []

    def deliver(self, ev: Event) -> None:
        # PROC registrations end with the exit (KEVENT_RET_REMOVED)
        if self.hub.procs.get(self.pid) is self:
            del self.hub.procs[self.pid]
            self.hub.release()
        for fut in self.futures:
            if not fut.done():
                fut.set_result(ev)
        self.futures.clear()

    def abandon(self, fut: "asyncio.Future[Event]") -> None:
        try:
            self.futures.remove(fut)
        except ValueError:
            return
        if not self.futures and self.hub.procs.get(self.pid) is self:
            del self.hub.procs[self.pid]
            try:
                self.hub.queue.remove_proc(self.pid)
            except (OSError, ValueError):
                pass
            self.hub.release()


async def wait_pid(pid: Any) -> Optional[int]:
    """Wait for the exit of any process (``pid`` an int or an object with
    a ``pid``, such as :class:`subprocess.Popen`), on the running loop.

    Returns the exit code as :mod:`subprocess` gives it (negative: killed
    by that signal) for a child of this process, which is left unreaped
    (``os.waitpid`` or ``Popen.wait()`` returns at once afterwards), or
    None for a process that is not a child. :class:`ProcessLookupError`
    if there is no such process. Several tasks may wait for the same pid.

    >>> import asyncio, kevent, subprocess
    >>> async def main():
    ...     child = subprocess.Popen(["sh", "-c", "exit 3"])
    ...     code = await kevent.wait_pid(child)
    ...     return code, child.wait()
    >>> asyncio.run(main())
    (3, 3)
    """
    num = _args.pid(pid)
    loop = asyncio.get_running_loop()
    hub = _hub_of(loop)
    sink = hub.procs.get(num)
    if sink is None:
        sink = _ProcSink(hub, num)
        hub.queue.add_proc(num, user=sink)
        hub.procs[num] = sink
        hub.acquire()
    fut: "asyncio.Future[Event]" = loop.create_future()
    sink.futures.append(fut)
    try:
        ev = await fut
    except BaseException:
        sink.abandon(fut)
        raise
    return ev.returncode


# --------------------------------------------------------------- Trigger

class Trigger:
    """A wake-up that any thread can fire and a task awaits.

    :meth:`fire` is cheap and thread-safe (one ``KEVENT_CTL_READY``, no
    lock on the loop, no reference to it needed); ``await t.wait()``
    returns how many times it was fired since the previous wait (at least
    1), fires being coalesced. ``async for n in t`` does the same until
    :meth:`close`. Fires made before the first wait are counted too.

    The trigger binds itself to the loop of its first :meth:`wait`, where
    it is a USER registration of that loop's kevent queue.

    >>> import asyncio, kevent, threading
    >>> async def main():
    ...     t = kevent.Trigger()
    ...     workers = [threading.Thread(target=t.fire) for _ in range(3)]
    ...     for w in workers: w.start()
    ...     for w in workers: w.join()
    ...     n = await t.wait()
    ...     t.close()
    ...     return n
    >>> asyncio.run(main())
    3
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hub: Optional[_Hub] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._id = 0
        self._count = 0         # fires delivered (or made before binding)
        self._waiter: Optional["asyncio.Future[None]"] = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else (
            "bound" if self._hub is not None else "unbound")
        return f"<kevent.Trigger {state} count={self._count}>"

    def fire(self) -> None:
        """Fire the trigger (any thread). :class:`RuntimeError` once it is
        closed or its loop's queue is."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the Trigger is closed")
            hub = self._hub
            if hub is None:
                self._count += 1
                return
            ident = self._id
        try:
            hub.queue.trigger(ident)
        except (ValueError, FileNotFoundError):
            raise RuntimeError("the Trigger is closed, or its event loop's "
                               "kevent queue is") from None

    def _bind(self, loop: asyncio.AbstractEventLoop) -> _Hub:
        with self._lock:
            if self._closed:
                raise RuntimeError("the Trigger is closed")
            hub = self._hub
            if hub is not None:
                if self._loop is not loop:
                    raise RuntimeError("a Trigger is awaited on one event "
                                       "loop (the first that awaited it)")
                return hub
            hub = _hub_of(loop)
            ident = hub.next_id
            hub.next_id += 1
            hub.queue.add_user(ident, user=_TriggerSink(self))
            hub.acquire()
            self._hub, self._loop, self._id = hub, loop, ident
            return hub

    def __del__(self) -> None:
        hub, loop = getattr(self, "_hub", None), getattr(self, "_loop", None)
        if hub is None or loop is None or getattr(self, "_closed", True):
            return
        ident = self._id

        def remove() -> None:
            try:
                hub.queue.remove_user(ident)
            except (OSError, ValueError):
                return
            hub.release()

        try:
            loop.call_soon_threadsafe(remove)
        except RuntimeError:  # the loop is closed
            pass

    def _deliver(self, ev: Event) -> None:
        self._count += ev.count
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def wait(self) -> int:
        """Wait until fired; the number of fires since the last wait."""
        loop = asyncio.get_running_loop()
        self._bind(loop)
        while not self._count:
            if self._closed:
                raise RuntimeError("the Trigger is closed")
            fut = loop.create_future()
            self._waiter = fut
            try:
                await fut
            finally:
                if self._waiter is fut:
                    self._waiter = None
        n, self._count = self._count, 0
        return n

    def __aiter__(self) -> "Trigger":
        return self

    async def __anext__(self) -> int:
        """The next :meth:`wait`; stops once closed."""
        try:
            return await self.wait()
        except RuntimeError:
            if self._closed:
                raise StopAsyncIteration from None
            raise

    def close(self) -> None:
        """Remove the trigger from its loop (in the loop's thread;
        idempotent). A task in :meth:`wait` gets :class:`RuntimeError`, an
        ``async for`` ends."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            hub = self._hub
        if hub is not None:
            try:
                hub.queue.remove_user(self._id)
            except (OSError, ValueError):
                pass
            hub.release()
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.set_result(None)


class _TriggerSink:
    __slots__ = ("trigger",)

    def __init__(self, trigger: Trigger) -> None:
        self.trigger = weakref.ref(trigger)

    def deliver(self, ev: Event) -> None:
        t = self.trigger()
        if t is not None:
            t._deliver(ev)
