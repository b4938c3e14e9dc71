# SPDX-License-Identifier: MIT
"""kevent.KeventSelector and the event loop helpers built on it."""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Mapping
from typing import Any, Coroutine, Iterator, Optional, TypeVar

from . import _args
from . import _kevent as _k

__all__ = ["KeventSelector", "new_event_loop", "EventLoopPolicy", "run"]

_T = TypeVar("_T")


class _SelectorMapping(Mapping):  # type: ignore[type-arg]
    """Read-only mapping of file objects to selector keys (get_map())."""

    __slots__ = ("_selector",)

    def __init__(self, selector: "KeventSelector") -> None:
        self._selector = selector

    def __len__(self) -> int:
        return self._selector._count

    def __getitem__(self, fileobj: Any) -> selectors.SelectorKey:
        return self._selector._get(fileobj)

    def __iter__(self) -> Iterator[int]:
        return iter(self._selector._fds())


class KeventSelector(_k.SelectorCore, selectors.BaseSelector):
    """A :class:`selectors.BaseSelector` on a kevent queue, in place of
    :class:`selectors.EpollSelector`.

    ``KeventSelector(size=0, backend=None)``: ``size`` and ``backend`` are
    those of :class:`kevent.Queue`, except that ``size=0`` is a ring of
    4096 entries (``KeventSelector.DEFAULT_RING``) rather than libkev's 256:
    EpollSelector takes as many events per epoll_wait as it has file
    objects, and a ring that holds a burst takes it in one pass (a fuller
    ring costs more passes, and on the ``epoll`` backend a mute and a
    rearm per deferred fd). File objects are level-triggered
    ``KEVENT_POLL`` registrations. :meth:`select` releases the GIL while it
    sleeps, returns every ready file object once, however many there are
    (it takes the ring again while a pass filled it), and maps masks as
    EpollSelector does (an error or a hangup is ready for reading and for
    writing, as far as the key asked). The mapping of results, and
    register, unregister, modify and get_key, are C code.

    It behaves as EpollSelector does, including in these cases:

    - a file that epoll(7) refuses (a regular file, a directory, most
      character devices) is refused with :class:`PermissionError` (EPERM),
      and the key is not kept (:class:`kevent.Queue` instead reports such
      files always ready, as poll(2) does);
    - a file object closed while registered can still be unregistered (the
      key is found by the object's identity);
    - a failed :meth:`modify` unregisters the file object;
    - a signal whose handler does not raise resumes :meth:`select` with the
      rest of its timeout (PEP 475).

    Where it differs (the full list, explained, is in python-kevent(3) and
    tests/cpython/differences.md):

    - with the ``uring`` and ``kmod`` backends a registration holds the
      file: one closed while registered stays open (the peer of a socket
      sees no EOF, and :meth:`modify` still works) until it is
      unregistered or the selector is closed. The selectors documentation
      requires unregistering before closing, which asyncio does; with the
      ``epoll`` backend (the default without the kernel module) the file
      is released at close, as with EpollSelector. With ``uring`` each
      registration also holds a descriptor (the duplicate it polls), so a
      process registers at most about half its RLIMIT_NOFILE;
    - :meth:`modify` with invalid events raises :class:`ValueError` as
      :meth:`register` does (EpollSelector accepts them);
    - the events of :meth:`select` are ``int``, the timeout has nanosecond
      resolution (EpollSelector rounds up to milliseconds).

    Use it with asyncio as ``asyncio.SelectorEventLoop(KeventSelector())``,
    :func:`kevent.new_event_loop`, :class:`kevent.EventLoopPolicy` or
    :func:`kevent.run`:

    >>> import asyncio, kevent, socket
    >>> async def echo_once():
    ...     loop = asyncio.get_running_loop()
    ...     a, b = socket.socketpair()
    ...     a.setblocking(False); b.setblocking(False)
    ...     with a, b:
    ...         await loop.sock_sendall(a, b"ping")
    ...         return await loop.sock_recv(b, 4), type(loop._selector).__name__
    >>> kevent.run(echo_once())
    (b'ping', 'KeventSelector')

    The selectors API itself:

    >>> import selectors
    >>> with kevent.KeventSelector() as sel:
    ...     a, b = socket.socketpair()
    ...     key = sel.register(a, selectors.EVENT_READ, data="a")
    ...     sel.select(0)
    ...     _ = b.send(b"x")
    ...     [(k.data, events) for k, events in sel.select(1.0)]
    ...     a.close(); b.close()
    []
    [('a', 1)]
    """

    DEFAULT_RING = 4096

    def __init__(self, size: int = 0, backend: Optional[str] = None) -> None:
        size = _args.ring_size(size) or self.DEFAULT_RING
        flags = _args.backend_flags(backend)
        _k.SelectorCore.__init__(self, size, flags)
        self._map: Optional[_SelectorMapping] = _SelectorMapping(self)

    def __repr__(self) -> str:
        if self._closed:
            return "<kevent.KeventSelector closed>"
        return (f"<kevent.KeventSelector fd={self.fileno()} "
                f"backend={self.backend!r} registered={self._count}>")

    def get_map(self) -> Optional[Mapping[Any, selectors.SelectorKey]]:
        """The mapping of file objects to selector keys (None once
        closed)."""
        return self._map

    def close(self) -> None:
        """Close the selector and its kevent queue (idempotent)."""
        self._map = None
        self._close()


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
    """Run a coroutine like :func:`asyncio.run`, on a kevent event loop.

    >>> import asyncio, kevent
    >>> async def main():
    ...     await asyncio.sleep(0)
    ...     return type(asyncio.get_running_loop()._selector).__name__
    >>> kevent.run(main())
    'KeventSelector'
    """
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
