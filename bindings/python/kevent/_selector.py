# SPDX-License-Identifier: MIT
"""kevent.KeventSelector and the asyncio helpers built on it."""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Mapping
from typing import Any, Coroutine, Dict, Iterator, List, Optional, Tuple, TypeVar

from . import _kevent as _k
from ._queue import BACKENDS

__all__ = ["KeventSelector", "new_event_loop", "EventLoopPolicy", "run"]

_T = TypeVar("_T")

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_POLL = _k.KEVENT_POLL
_IN = _k.KEVENT_POLL_IN
_OUT = _k.KEVENT_POLL_OUT
_ADD = _k.KEVENT_CTL_ADD
_REMOVE = _k.KEVENT_CTL_REMOVE
_MODIFY = _k.KEVENT_CTL_MODIFY


def _fileobj_to_fd(fileobj: Any) -> int:
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class _SelectorMapping(Mapping[Any, selectors.SelectorKey]):
    """Read-only mapping of file objects to selector keys."""

    def __init__(self, selector: "KeventSelector") -> None:
        self._selector = selector

    def __len__(self) -> int:
        return len(self._selector._fd_to_key)

    def __getitem__(self, fileobj: Any) -> selectors.SelectorKey:
        try:
            fd = self._selector._fileobj_lookup(fileobj)
            return self._selector._fd_to_key[fd]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None

    def __iter__(self) -> Iterator[int]:
        return iter(self._selector._fd_to_key)


class KeventSelector(selectors.BaseSelector):
    """A :class:`selectors.BaseSelector` on a kevent queue.

    A drop-in replacement for :class:`selectors.EpollSelector`: file
    descriptors are ``KEVENT_POLL`` registrations (level-triggered), and
    :meth:`select` releases the GIL while it sleeps. Use it with asyncio as
    ``asyncio.SelectorEventLoop(kevent.KeventSelector())`` or simply
    :func:`kevent.new_event_loop` / :func:`kevent.run`.

    ``size`` and ``backend`` are those of :class:`kevent.Queue`.
    """

    def __init__(self, size: int = 0, backend: Optional[str] = None) -> None:
        super().__init__()
        flags = _k.KEVENT_BACKEND_DEFAULT if backend is None else BACKENDS[backend]
        self._raw = _k.RawQueue(size, flags)
        self._fd_to_key: Dict[int, selectors.SelectorKey] = {}
        self._cookies: Dict[int, int] = {}
        self._next_cookie = 1
        self._map: Optional[_SelectorMapping] = _SelectorMapping(self)

    def _fileobj_lookup(self, fileobj: Any) -> int:
        """Return the fd of fileobj, also for a file closed since it was
        registered (found by identity among the keys)."""
        try:
            return _fileobj_to_fd(fileobj)
        except ValueError:
            for key in self._fd_to_key.values():
                if key.fileobj is fileobj:
                    return key.fd
            raise

    def fileno(self) -> int:
        """The fd of the underlying kevent queue."""
        return self._raw.fileno()

    @property
    def backend(self) -> str:
        """The libkev backend in use."""
        return self._raw.backend

    def register(self, fileobj: Any, events: int,
                 data: Any = None) -> selectors.SelectorKey:
        """Register a file object for ``EVENT_READ`` and/or ``EVENT_WRITE``."""
        if (not events) or (events & ~(_READ | _WRITE)):
            raise ValueError(f"Invalid events: {events!r}")
        key = selectors.SelectorKey(fileobj, self._fileobj_lookup(fileobj), events, data)
        if key.fd in self._fd_to_key:
            raise KeyError(f"{fileobj!r} (FD {key.fd}) is already registered")
        mask = (_IN if events & _READ else 0) | (_OUT if events & _WRITE else 0)
        cookie = self._next_cookie
        self._next_cookie += 1
        self._raw.ctl(_ADD, _POLL, key.fd, mask, 0, 0, cookie)
        self._cookies[key.fd] = cookie
        self._fd_to_key[key.fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        """Unregister a file object; events of it still queued are dropped."""
        try:
            key = self._fd_to_key.pop(self._fileobj_lookup(fileobj))
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        del self._cookies[key.fd]
        try:
            self._raw.ctl_errno(_REMOVE, _POLL, key.fd, 0, 0, 0, 0)
        except (OSError, ValueError):
            # the fd may have been closed since (as EpollSelector ignores)
            pass
        return key

    def modify(self, fileobj: Any, events: int,
               data: Any = None) -> selectors.SelectorKey:
        """Change the events or data of a registered file object."""
        try:
            key = self._fd_to_key[self._fileobj_lookup(fileobj)]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        changed = False
        if events != key.events:
            if (not events) or (events & ~(_READ | _WRITE)):
                raise ValueError(f"Invalid events: {events!r}")
            mask = (_IN if events & _READ else 0) | (_OUT if events & _WRITE else 0)
            try:
                self._raw.ctl(_MODIFY, _POLL, key.fd, mask, 0, 0, self._cookies[key.fd])
            except BaseException:
                self.unregister(fileobj)
                raise
            changed = True
        if data != key.data:
            changed = True
        if changed:
            key = key._replace(events=events, data=data)
            self._fd_to_key[key.fd] = key
        return key

    def select(self, timeout: Optional[float] = None
               ) -> List[Tuple[selectors.SelectorKey, int]]:
        """Wait until some registered file objects become ready, or the
        timeout (seconds; ``None`` waits forever, ``<= 0`` polls) expires.
        Returns a list of ``(key, events)``."""
        deadline = None
        if timeout is not None:
            timeout = max(float(timeout), 0.0)
            deadline = time.monotonic() + timeout
        raw = self._raw
        fd_to_key = self._fd_to_key
        cookies = self._cookies
        while True:
            n = raw.wait(1, timeout)
            ready = []
            for fd, _type, mask, _req, _ret, _data, cookie in raw.drain(0):
                key = fd_to_key.get(fd)
                if key is None or cookies.get(fd) != cookie:
                    continue  # unregistered (or re-registered) since: stale
                events = 0
                if mask & ~_IN:
                    events |= _WRITE
                if mask & ~_OUT:
                    events |= _READ
                events &= key.events
                if events:
                    ready.append((key, events))
            if ready or n == 0:
                return ready
            # only stale entries: wait on for the rest of the timeout
            if deadline is not None:
                timeout = max(deadline - time.monotonic(), 0.0)

    def close(self) -> None:
        """Close the selector and its kevent queue."""
        self._fd_to_key.clear()
        self._cookies.clear()
        self._map = None
        self._raw.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        """Return the mapping of file objects to selector keys."""
        return self._map  # type: ignore[return-value]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new :class:`asyncio.SelectorEventLoop` running on a
    :class:`KeventSelector`."""
    return asyncio.SelectorEventLoop(KeventSelector())


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """An asyncio event loop policy whose loops use :class:`KeventSelector`:
    ``asyncio.set_event_loop_policy(kevent.EventLoopPolicy())``."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        """Create a loop on a :class:`KeventSelector`."""
        return new_event_loop()


def run(main: Coroutine[Any, Any, _T], *, debug: Optional[bool] = None) -> _T:
    """Run a coroutine like :func:`asyncio.run`, on a kevent event loop."""
    runner_cls = getattr(asyncio, "Runner", None)
    if runner_cls is not None:
        with runner_cls(debug=debug, loop_factory=new_event_loop) as runner:
            result: _T = runner.run(main)
            return result
    # Python < 3.11
    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(EventLoopPolicy())
    try:
        return asyncio.run(main, debug=bool(debug))
    finally:
        asyncio.set_event_loop_policy(old)
