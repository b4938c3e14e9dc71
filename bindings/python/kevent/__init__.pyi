"""kevent: one queue for every kind of event (Python binding of libkev)."""

import asyncio
import datetime
import enum
import os
import selectors
import signal
from collections.abc import Mapping
from typing import (Any, AsyncIterator, Coroutine, Dict, Iterator, List,
                    NamedTuple, Optional, Protocol, Tuple, TypeVar, Union)

_T = TypeVar("_T")

class _HasFileno(Protocol):
    def fileno(self) -> int: ...

class _HasPid(Protocol):
    pid: int

_FD = Union[int, _HasFileno]
_Path = Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]
_When = Union[float, datetime.timedelta, datetime.datetime]
_Sig = Union[int, signal.Signals]
_Pid = Union[int, _HasPid]

LIBKEV_VERSION: Tuple[int, int]
__version__: str
BACKENDS: Dict[str, int]
PRIO_DEFAULT: int
PRIO_MAX: int
PRIO_LEVELS: int
OPT_PRIO_BOUND: int
PRIO_BOUND_DEFAULT: int
PRIO_BOUND_MAX: int
OPT_STATS: int
STATS_BUCKETS: int

class EventType(enum.IntEnum):
    """The source of an event (``struct ukevent.type``)."""
    POLL: int
    TIMER: int
    USER: int
    SIGNAL: int
    INODE: int
    PROC: int

class PollFlag(enum.IntFlag):
    """Readiness mask of POLL events (equal to ``select.POLLIN`` ...)."""
    IN: int
    PRI: int
    OUT: int
    ERR: int
    HUP: int
    RDHUP: int

class Clock(enum.IntEnum):
    """The clock a timer runs on."""
    MONOTONIC: int
    REALTIME: int
    BOOTTIME: int

class TimerFlag(enum.IntFlag):
    """The event word of TIMER: a clock plus flags."""
    REALTIME: int
    BOOTTIME: int
    ABSTIME: int

class InodeFlag(enum.IntFlag):
    """Change mask of INODE events."""
    CREATE: int
    DELETE: int
    MODIFY: int
    ATTRIB: int
    MOVE: int
    DELETE_SELF: int
    MOVE_SELF: int
    ALL: int

class ProcFlag(enum.IntFlag):
    """Mask of PROC events."""
    EXIT: int

class ReqFlag(enum.IntFlag):
    """Registration flags."""
    ONESHOT: int
    ET: int
    DISPATCH: int

class RetFlag(enum.IntFlag):
    """Delivery flags."""
    ERROR: int
    REMOVED: int
    GONE: int
    NOSTATUS: int
    OVERFLOW: int

class Event:
    """One delivered event."""
    type: EventType
    ident: int
    mask: int
    flags: ReqFlag
    ret_flags: RetFlag
    data: int
    user: Any
    obj: Any
    prio: int
    def __init__(self, type: EventType, ident: int, mask: int, flags: ReqFlag,
                 ret_flags: RetFlag, data: int, user: Any = ...,
                 obj: Any = ..., prio: int = ...) -> None: ...
    @property
    def fd(self) -> int:
        """The file descriptor of a POLL or INODE event."""
    @property
    def signal(self) -> signal.Signals:
        """The signal of a SIGNAL event."""
    @property
    def pid(self) -> int:
        """The process id of a PROC event."""
    @property
    def count(self) -> int:
        """Expirations (TIMER), triggers (USER) or deliveries (SIGNAL)."""
    @property
    def status(self) -> Optional[int]:
        """The wait status of a PROC event (None when not our child)."""
    @property
    def returncode(self) -> Optional[int]:
        """Exit code of a PROC event as subprocess gives it, or None."""
    @property
    def removed(self) -> bool:
        """True when the registration ended with this delivery."""
    @property
    def gone(self) -> bool:
        """True when the watched object no longer exists."""

class Stats(NamedTuple):
    """The statistics of a queue (Queue.stats)."""
    published: int
    deferred: int
    coalesced: int
    waits: int
    sleeps: int
    enabled: bool
    fire_to_publish: Tuple[int, ...]
    publish_to_consume: Tuple[int, ...]

class Queue:
    """A kevent queue: one ring of events from many sources."""
    def __init__(self, size: int = ..., backend: Optional[str] = ...) -> None: ...
    def __enter__(self) -> Queue: ...
    def __exit__(self, *exc: Any) -> None: ...
    def __iter__(self) -> Iterator[Event]: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def backend(self) -> str: ...
    @property
    def ring_size(self) -> int: ...
    @property
    def timer_slack_ns(self) -> int: ...
    @timer_slack_ns.setter
    def timer_slack_ns(self, ns: int) -> None: ...
    @property
    def prio_bound(self) -> int: ...
    @prio_bound.setter
    def prio_bound(self, bound: int) -> None: ...
    @property
    def stats_enabled(self) -> bool: ...
    @stats_enabled.setter
    def stats_enabled(self, on: bool) -> None: ...
    @property
    def stats(self) -> Stats: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    def wait(self, timeout: Optional[float] = ..., *,
             max_events: int = ...) -> List[Event]: ...
    def poll(self) -> List[Event]: ...
    def remove(self, type: EventType, target: Any) -> None: ...
    def enable(self, type: EventType, target: Any) -> None: ...
    def disable(self, type: EventType, target: Any) -> None: ...
    def trigger(self, ident: int) -> None: ...
    def registered(self, type: EventType, target: Any) -> bool: ...

    def add_poll(self, fd: _FD, events: int = ..., *, user: Any = ...,
                 oneshot: bool = ..., edge: bool = ...,
                 dispatch: bool = ..., prio: int = ...) -> None: ...
    def modify_poll(self, fd: _FD, events: Optional[int] = ..., *,
                    user: Any = ..., oneshot: Optional[bool] = ...,
                    edge: Optional[bool] = ...,
                    dispatch: Optional[bool] = ...,
                    prio: Optional[int] = ...) -> None: ...
    def remove_poll(self, fd: _FD) -> None: ...
    def enable_poll(self, fd: _FD) -> None: ...
    def disable_poll(self, fd: _FD) -> None: ...

    def add_timer(self, ident: int, when: _When, *, user: Any = ...,
                  oneshot: bool = ..., dispatch: bool = ...,
                  clock: Clock = ..., prio: int = ...) -> None: ...
    def modify_timer(self, ident: int, when: Optional[_When] = ..., *,
                     user: Any = ..., oneshot: Optional[bool] = ...,
                     dispatch: Optional[bool] = ...,
                     clock: Optional[Clock] = ...,
                     prio: Optional[int] = ...) -> None: ...
    def remove_timer(self, ident: int) -> None: ...
    def enable_timer(self, ident: int) -> None: ...
    def disable_timer(self, ident: int) -> None: ...

    def add_user(self, ident: int, *, user: Any = ..., oneshot: bool = ...,
                 dispatch: bool = ..., prio: int = ...) -> None: ...
    def modify_user(self, ident: int, *, user: Any = ...,
                    oneshot: Optional[bool] = ...,
                    dispatch: Optional[bool] = ...,
                    prio: Optional[int] = ...) -> None: ...
    def remove_user(self, ident: int) -> None: ...
    def enable_user(self, ident: int) -> None: ...
    def disable_user(self, ident: int) -> None: ...

    def add_signal(self, sig: _Sig, *, user: Any = ..., oneshot: bool = ...,
                   dispatch: bool = ..., prio: int = ...) -> None: ...
    def modify_signal(self, sig: _Sig, *, user: Any = ...,
                      oneshot: Optional[bool] = ...,
                      dispatch: Optional[bool] = ...,
                      prio: Optional[int] = ...) -> None: ...
    def remove_signal(self, sig: _Sig) -> None: ...
    def enable_signal(self, sig: _Sig) -> None: ...
    def disable_signal(self, sig: _Sig) -> None: ...

    def add_inode(self, target: Union[_Path, _FD], events: int = ..., *,
                  user: Any = ..., oneshot: bool = ...,
                  dispatch: bool = ..., prio: int = ...) -> int: ...
    def modify_inode(self, target: Union[_Path, _FD], events: Optional[int] = ..., *,
                     user: Any = ..., oneshot: Optional[bool] = ...,
                     dispatch: Optional[bool] = ...,
                     prio: Optional[int] = ...) -> None: ...
    def remove_inode(self, target: Union[_Path, _FD]) -> None: ...
    def enable_inode(self, target: Union[_Path, _FD]) -> None: ...
    def disable_inode(self, target: Union[_Path, _FD]) -> None: ...

    def add_proc(self, pid: _Pid, *, user: Any = ..., oneshot: bool = ...,
                 dispatch: bool = ..., prio: int = ...) -> None: ...
    def modify_proc(self, pid: _Pid, *, user: Any = ...,
                    oneshot: Optional[bool] = ...,
                    dispatch: Optional[bool] = ...,
                    prio: Optional[int] = ...) -> None: ...
    def remove_proc(self, pid: _Pid) -> None: ...
    def enable_proc(self, pid: _Pid) -> None: ...
    def disable_proc(self, pid: _Pid) -> None: ...

    async def get(self) -> Event:
        """The next event, awaited on the running event loop."""
    def __aiter__(self) -> Queue: ...
    async def __anext__(self) -> Event: ...

class KeventSelector(selectors.BaseSelector):
    """A selectors.BaseSelector on a kevent queue, in place of EpollSelector
    (its differences: python-kevent(3))."""
    DEFAULT_RING: int
    def __init__(self, size: int = ..., backend: Optional[str] = ...) -> None: ...
    def fileno(self) -> int: ...
    @property
    def backend(self) -> str: ...
    def register(self, fileobj: Any, events: int,
                 data: Any = ...) -> selectors.SelectorKey: ...
    def unregister(self, fileobj: Any) -> selectors.SelectorKey: ...
    def modify(self, fileobj: Any, events: int,
               data: Any = ...) -> selectors.SelectorKey: ...
    def select(self, timeout: Optional[float] = ...
               ) -> List[Tuple[selectors.SelectorKey, int]]: ...
    def close(self) -> None: ...
    def get_map(self) -> Optional[Mapping[Any, selectors.SelectorKey]]: ...
    def get_key(self, fileobj: Any) -> selectors.SelectorKey: ...

class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """An asyncio policy whose loops use KeventSelector."""
    def new_event_loop(self) -> asyncio.AbstractEventLoop: ...

def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new asyncio.SelectorEventLoop running on a KeventSelector."""
def run(main: Coroutine[Any, Any, _T], *, debug: Optional[bool] = ...) -> _T:
    """Run a coroutine like asyncio.run, on a kevent event loop."""

class PathWatch:
    """Changes to a file or directory, as an async iterator of Events."""
    path: Any
    fd: int
    def __init__(self, path: Union[_Path, _FD], events: int = ...) -> None: ...
    def __aiter__(self) -> PathWatch: ...
    async def __anext__(self) -> Event: ...
    def close(self) -> None: ...
    async def aclose(self) -> None: ...
    async def __aenter__(self) -> PathWatch: ...
    async def __aexit__(self, *exc: Any) -> None: ...

def watch_path(path: Union[_Path, _FD], events: int = ...) -> PathWatch:
    """Watch a file or directory from a coroutine (any event loop)."""
async def wait_pid(pid: _Pid) -> Optional[int]:
    """Wait for the exit of any process; its exit code, or None."""

class Trigger:
    """A wake-up that any thread can fire and a task awaits."""
    def __init__(self) -> None: ...
    def fire(self) -> None: ...
    async def wait(self) -> int: ...
    def __aiter__(self) -> Trigger: ...
    async def __anext__(self) -> int: ...
    def close(self) -> None: ...
