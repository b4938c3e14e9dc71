# SPDX-License-Identifier: MIT
"""kevent: one queue for every kind of event (Python binding of libkev).

:class:`Queue` registers file descriptors (POLL), timers (TIMER), user
events (USER), signals (SIGNAL), files and directories (INODE) and
processes (PROC), and returns :class:`Event` objects taken from the
queue's ring:

>>> import kevent, socket
>>> with kevent.Queue() as q:
...     a, b = socket.socketpair()
...     q.add_poll(a, kevent.PollFlag.IN, user="a")
...     _ = b.send(b"x")
...     [(ev.user, ev.mask) for ev in q.wait(1.0)]
...     a.close(); b.close()
[('a', <PollFlag.IN: 1>)]

asyncio, on any event loop (the default one included):

- ``await q.get()`` and ``async for ev in q`` take a queue's events on the
  running loop (:meth:`Queue.get`);
- :func:`watch_path` watches a file or directory, :func:`wait_pid` waits
  for the exit of any process, and :class:`Trigger` wakes a task from any
  thread, with no reference to its loop;
- :class:`KeventSelector` is a :mod:`selectors` selector, in place of
  :class:`selectors.EpollSelector`, for running asyncio itself on a kevent
  queue: :func:`run` (as :func:`asyncio.run`), :func:`new_event_loop`,
  :class:`EventLoopPolicy`.

>>> import asyncio
>>> async def main():
...     t = kevent.Trigger()
...     asyncio.get_running_loop().run_in_executor(None, t.fire)
...     return await t.wait()
>>> asyncio.run(main())
1

Errors of libkev are :class:`OSError` subclasses chosen by errno; a bad
argument is a :class:`TypeError`, :class:`ValueError` or
:class:`OverflowError` whose message starts with its name. Reference:
python-kevent(3), kevent(7).
"""

from __future__ import annotations

from . import _kevent
from ._aio import PathWatch, Trigger, wait_pid, watch_path
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
from ._queue import BACKENDS, Event, Queue, Stats
from ._selector import EventLoopPolicy, KeventSelector, new_event_loop, run

__all__ = [
    "BACKENDS",
    "Clock",
    "Event",
    "EventLoopPolicy",
    "EventType",
    "InodeFlag",
    "KeventSelector",
    "PathWatch",
    "PollFlag",
    "ProcFlag",
    "Queue",
    "ReqFlag",
    "RetFlag",
    "Stats",
    "TimerFlag",
    "Trigger",
    "LIBKEV_VERSION",
    "OPT_PRIO_BOUND",
    "PRIO_BOUND_DEFAULT",
    "PRIO_BOUND_MAX",
    "PRIO_DEFAULT",
    "PRIO_LEVELS",
    "PRIO_MAX",
    "OPT_STATS",
    "STATS_BUCKETS",
    "new_event_loop",
    "run",
    "wait_pid",
    "watch_path",
]

#: Version of the libkev headers the extension was built with.
LIBKEV_VERSION = (_kevent.LIBKEV_VERSION_MAJOR, _kevent.LIBKEV_VERSION_MINOR)
__version__ = "%d.%d" % LIBKEV_VERSION

#: Priority levels (``prio=`` of the ``add_*`` methods, :attr:`Event.prio`;
#: libkev 1.2): 0, the default and the lowest, to PRIO_MAX (7), highest
#: published first; PRIO_LEVELS (8) levels.
PRIO_DEFAULT = int(_kevent.KEVENT_PRIO_DEFAULT)
PRIO_MAX = int(_kevent.KEVENT_PRIO_MAX)
PRIO_LEVELS = int(_kevent.KEVENT_PRIO_LEVELS)
#: The queue option of :attr:`Queue.prio_bound` (kevent_setopt(2)), its
#: default (64) and its largest value (2**32 - 1, strict priority).
OPT_PRIO_BOUND = int(_kevent.KEVENT_OPT_PRIO_BOUND)
PRIO_BOUND_DEFAULT = int(_kevent.KEVENT_PRIO_BOUND_DEFAULT)
PRIO_BOUND_MAX = int(_kevent.KEVENT_PRIO_BOUND_MAX)
#: The queue option of :attr:`Queue.stats_enabled` (libkev 1.2), and the
#: number of buckets of each histogram of :class:`Stats` (32).
OPT_STATS = int(_kevent.KEVENT_OPT_STATS)
STATS_BUCKETS = int(_kevent.KEVENT_STATS_BUCKETS)

# Public names present themselves as kevent.X (repr, pickle, docs, doctest).
for _obj in (Clock, Event, EventLoopPolicy, EventType, InodeFlag, KeventSelector,
             PathWatch, PollFlag, ProcFlag, Queue, ReqFlag, RetFlag, Stats,
             TimerFlag, Trigger, new_event_loop, run, wait_pid, watch_path):
    _obj.__module__ = __name__
del _obj
