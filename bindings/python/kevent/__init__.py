# SPDX-License-Identifier: MIT
"""kevent: one queue for every kind of event (Python binding of libkev).

>>> import kevent, socket
>>> with kevent.Queue() as q:
...     a, b = socket.socketpair()
...     q.add_poll(a, kevent.PollFlag.IN, user="a")
...     b.send(b"x")
...     [ev.user for ev in q.wait(1.0)]
['a']

:class:`Queue` registers file descriptors (POLL), timers (TIMER), user
events (USER), signals (SIGNAL), files and directories (INODE) and processes
(PROC) and returns :class:`Event` objects from the queue's ring.
:class:`KeventSelector` is a :mod:`selectors` selector for asyncio;
:func:`run` runs a coroutine on a kevent event loop.
"""

from __future__ import annotations

from . import _kevent
from ._flags import (
    Clock,
    EventType,
    InodeFlag,
    PollFlag,
    ProcFlag,
    ReqFlag,
    RetFlag,
    TimerFlag,
)
from ._queue import BACKENDS, Event, Queue
from ._selector import EventLoopPolicy, KeventSelector, new_event_loop, run

__all__ = [
    "BACKENDS",
    "Clock",
    "Event",
    "EventLoopPolicy",
    "EventType",
    "InodeFlag",
    "KeventSelector",
    "PollFlag",
    "ProcFlag",
    "Queue",
    "ReqFlag",
    "RetFlag",
    "TimerFlag",
    "LIBKEV_VERSION",
    "new_event_loop",
    "run",
]

#: Version of the libkev headers the extension was built with.
LIBKEV_VERSION = (_kevent.LIBKEV_VERSION_MAJOR, _kevent.LIBKEV_VERSION_MINOR)
__version__ = "%d.%d" % LIBKEV_VERSION

# Public classes present themselves as kevent.X (repr, pickle, docs).
for _cls in (Clock, Event, EventLoopPolicy, EventType, InodeFlag, KeventSelector,
             PollFlag, ProcFlag, Queue, ReqFlag, RetFlag, TimerFlag):
    _cls.__module__ = __name__
del _cls
