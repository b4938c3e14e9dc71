"""Low-level binding of libkev (use the kevent package instead)."""

import selectors
from typing import Any, List, Optional, Tuple

class RawQueue:
    """One libkev queue and its mapped ring (low level)."""

    def __init__(self, size: int = 0, flags: int = 0) -> None: ...
    @property
    def closed(self) -> bool: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    @property
    def backend(self) -> str: ...
    @property
    def ring_size(self) -> int: ...
    def getopt(self, opt: int) -> int: ...
    def setopt(self, opt: int, value: int) -> None: ...
    def pending(self) -> int: ...
    def stats(self) -> Tuple[int, int, int, int, int, bool,
                             Tuple[int, ...], Tuple[int, ...]]: ...
    def ctl(self, cmd: int, type: int, id: int, event: int = 0,
            req_flags: int = 0, data: int = 0, user: int = 0,
            prio: int = 0) -> None: ...
    def ctl_errno(self, cmd: int, type: int, id: int, event: int = 0,
                  req_flags: int = 0, data: int = 0, user: int = 0,
                  prio: int = 0) -> int: ...
    def wait(self, min_nr: int = 1, timeout: Optional[float] = None) -> int: ...
    def drain(self, max_events: int = 0
              ) -> List[Tuple[int, int, int, int, int, int, int, int]]: ...

class SelectorCore:
    """The C body of kevent.KeventSelector."""

    def __init__(self, size: int = 0, flags: int = 0) -> None: ...
    def register(self, fileobj: Any, events: int,
                 data: Any = None) -> selectors.SelectorKey: ...
    def unregister(self, fileobj: Any) -> selectors.SelectorKey: ...
    def modify(self, fileobj: Any, events: int,
               data: Any = None) -> selectors.SelectorKey: ...
    def select(self, timeout: Optional[float] = None
               ) -> List[Tuple[selectors.SelectorKey, int]]: ...
    def get_key(self, fileobj: Any) -> selectors.SelectorKey: ...
    def fileno(self) -> int: ...
    def _get(self, fileobj: Any) -> selectors.SelectorKey: ...
    def _fds(self) -> List[int]: ...
    def _close(self) -> None: ...
    @property
    def backend(self) -> str: ...
    @property
    def _count(self) -> int: ...
    @property
    def _ring_size(self) -> int: ...
    @property
    def _closed(self) -> bool: ...

def forward_signal(sig: int) -> None: ...
def unforward_signal(sig: int) -> None: ...
def signal_forwarded(sig: int) -> bool: ...

KEVENT_POLL: int
KEVENT_TIMER: int
KEVENT_USER: int
KEVENT_SIGNAL: int
KEVENT_INODE: int
KEVENT_PROC: int
KEVENT_POLL_IN: int
KEVENT_POLL_PRI: int
KEVENT_POLL_OUT: int
KEVENT_POLL_ERR: int
KEVENT_POLL_HUP: int
KEVENT_POLL_RDHUP: int
KEVENT_TIMER_MONOTONIC: int
KEVENT_TIMER_REALTIME: int
KEVENT_TIMER_BOOTTIME: int
KEVENT_TIMER_ABSTIME: int
KEVENT_INODE_CREATE: int
KEVENT_INODE_DELETE: int
KEVENT_INODE_MODIFY: int
KEVENT_INODE_ATTRIB: int
KEVENT_INODE_MOVE: int
KEVENT_INODE_DELETE_SELF: int
KEVENT_INODE_MOVE_SELF: int
KEVENT_INODE_MASK: int
KEVENT_PROC_EXIT: int
KEVENT_REQ_ONESHOT: int
KEVENT_REQ_ET: int
KEVENT_REQ_DISPATCH: int
KEVENT_RET_ERROR: int
KEVENT_RET_REMOVED: int
KEVENT_RET_GONE: int
KEVENT_RET_NOSTATUS: int
KEVENT_RET_OVERFLOW: int
KEVENT_CTL_ADD: int
KEVENT_CTL_REMOVE: int
KEVENT_CTL_MODIFY: int
KEVENT_CTL_ENABLE: int
KEVENT_CTL_DISABLE: int
KEVENT_CTL_READY: int
KEVENT_BACKEND_DEFAULT: int
KEVENT_BACKEND_KMOD: int
KEVENT_BACKEND_URING: int
KEVENT_BACKEND_EPOLL: int
KEVENT_RING_DEFAULT: int
KEVENT_RING_MAX: int
KEVENT_OPT_TIMER_SLACK: int
KEVENT_TIMER_SLACK_DEFAULT: int
KEVENT_TIMER_SLACK_MAX: int
KEVENT_OPT_PRIO_BOUND: int
KEVENT_PRIO_BOUND_DEFAULT: int
KEVENT_PRIO_BOUND_MAX: int
KEVENT_OPT_STATS: int
KEVENT_RING_STATS: int
KEVENT_STATS_BUCKETS: int
KEVENT_PRIO_DEFAULT: int
KEVENT_PRIO_MAX: int
KEVENT_PRIO_LEVELS: int
LIBKEV_VERSION_MAJOR: int
LIBKEV_VERSION_MINOR: int
