# SPDX-License-Identifier: MIT
"""kevent.Queue and kevent.Event: the Pythonic face of one libkev queue."""

from __future__ import annotations

import asyncio
import collections
import datetime as _dt
import enum
import errno as _errno
import os
import signal as _signal
import threading
import time
from typing import (Any, Deque, Dict, Iterator, List, NamedTuple, Optional,
                    Tuple, Union)

from . import _args
from . import _kevent as _k
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

__all__ = ["Queue", "Event", "Stats", "BACKENDS"]

#: Names accepted by ``Queue(backend=...)``.
BACKENDS = dict(_args.BACKENDS)

_ADD = _k.KEVENT_CTL_ADD
_REMOVE = _k.KEVENT_CTL_REMOVE
_MODIFY = _k.KEVENT_CTL_MODIFY
_ENABLE = _k.KEVENT_CTL_ENABLE
_DISABLE = _k.KEVENT_CTL_DISABLE
_READY = _k.KEVENT_CTL_READY

_POLL = EventType.POLL
_TIMER = EventType.TIMER
_USER = EventType.USER
_SIGNAL = EventType.SIGNAL
_INODE = EventType.INODE
_PROC = EventType.PROC

_RET_REMOVED = int(RetFlag.REMOVED)
_RET_NOSTATUS = int(RetFlag.NOSTATUS)

_POLL_BITS = int(PollFlag.IN | PollFlag.PRI | PollFlag.OUT | PollFlag.ERR
                 | PollFlag.HUP | PollFlag.RDHUP)
_INODE_BITS = int(InodeFlag.ALL)

_KEEP: Any = object()  # "leave this field as it is" in modify_*()

_MASK_TYPES = {
    int(_POLL): PollFlag,
    int(_TIMER): TimerFlag,
    int(_INODE): InodeFlag,
    int(_PROC): ProcFlag,
}
_TYPES = {int(t): t for t in EventType}

Target = Any  # fd, object with fileno(), path, Signals, pid, Popen ...


def _oserror(err: int, what: Any = None) -> OSError:
    # OSError(errno, strerror) picks the subclass (FileExistsError, ...)
    # exactly as PyErr_SetFromErrno does.
    if what is None:
        return OSError(err, os.strerror(err))
    return OSError(err, os.strerror(err), str(what))


def _req(oneshot: Any, dispatch: Any, edge: Any = False) -> int:
    flags = 0
    if _args.flag("oneshot", oneshot):
        flags |= ReqFlag.ONESHOT
    if _args.flag("dispatch", dispatch):
        flags |= ReqFlag.DISPATCH
    if _args.flag("edge", edge):
        flags |= ReqFlag.ET
    return _check_req(int(flags))


def _check_req(flags: int) -> int:
    if flags & ReqFlag.ONESHOT and flags & ReqFlag.DISPATCH:
        raise ValueError("oneshot and dispatch cannot be combined")
    return flags


# ------------------------------------------------------------- signals
#
# A SIGNAL registration needs its signal pending for the process, that is
# blocked in every thread (kevent(7)).  Per signal, across every queue: the
# number of registrations, and whether this module blocked it in the
# thread that made the first one.  While it has registrations the
# forwarder of _kevent (sigforward.cpp) is its action: a thread that does
# not block it (one that existed before, or a C library's) blocks it when
# it arrives and sends it to the process again, so it is never lost.

_sig_lock = threading.Lock()
_sig_state: Dict[int, List[Any]] = {}   # num -> [registrations, we_blocked]


def _hold_signal(num: int) -> None:
    """A SIGNAL registration of num is being made."""
    with _sig_lock:
        st = _sig_state.get(num)
        if st is None:
            old = _signal.pthread_sigmask(_signal.SIG_BLOCK, {num})
            try:
                _k.forward_signal(num)
            except BaseException:
                if num not in old:
                    _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {num})
                raise
            st = _sig_state[num] = [0, num not in old]
        st[0] += 1


def _drop_signal(num: int) -> None:
    """A SIGNAL registration of num has ended."""
    with _sig_lock:
        st = _sig_state.get(num)
        if st is None:
            return
        st[0] -= 1
        if st[0] > 0:
            return
        del _sig_state[num]
        # the old action first: a signal pending now goes to it
        _k.unforward_signal(num)
        if st[1]:
            try:
                _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {num})
            except (OSError, ValueError):
                pass


class _Reg:
    """One registration as the binding sees it."""

    __slots__ = (
        "type", "ident", "event", "req", "data", "user", "obj", "cookie",
        "prio", "owned_fd", "sig_held", "path",
    )

    def __init__(self, type: EventType, ident: int, event: int, req: int,
                 data: int, user: Any, obj: Any, cookie: int,
                 prio: int = 0) -> None:
        self.type = type
        self.ident = ident
        self.event = event
        self.req = req
        self.data = data
        self.user = user
        self.obj = obj
        self.cookie = cookie
        self.prio = prio
        self.owned_fd = -1     # fd this module opened (INODE by path)
        self.sig_held = False  # a SIGNAL registration counted in _sig_state
        self.path: Optional[str] = None

    def release(self) -> None:
        """Free what the module holds for this registration."""
        if self.owned_fd >= 0:
            fd, self.owned_fd = self.owned_fd, -1
            try:
                os.close(fd)
            except OSError:
                pass
        if self.sig_held:
            self.sig_held = False
            _drop_signal(self.ident)
        self.user = None
        self.obj = None


class Event:
    """One delivered event.

    Attributes:
        type: the :class:`EventType`.
        ident: the id of the registration (fd, timer id, signal number, pid,
            user id).
        mask: what fired: :class:`PollFlag` for POLL, :class:`InodeFlag` for
            INODE, :class:`TimerFlag` for TIMER, :class:`ProcFlag` for PROC,
            0 for USER and SIGNAL.
        flags: the :class:`ReqFlag` the registration was made with.
        ret_flags: :class:`RetFlag` of the delivery.
        data: the type's result: expirations (TIMER), triggers (USER),
            deliveries (SIGNAL), wait status (PROC), 0 otherwise.
        user: the ``user`` object given when registering.
        obj: what was registered (the file object, path, signal, process).
        prio: the priority level of the registration, 0 (the default) to
            :data:`PRIO_MAX` (libkev 1.2).
    """

    __slots__ = ("type", "ident", "mask", "flags", "ret_flags", "data", "user", "obj",
                 "prio")

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
                 ret_flags: RetFlag, data: int, user: Any = None,
                 obj: Any = None, prio: int = 0) -> None:
        self.type = type
        self.ident = ident
        self.mask = mask
        self.flags = flags
        self.ret_flags = ret_flags
        self.data = data
        self.user = user
        self.obj = obj
        self.prio = prio

    @property
    def fd(self) -> int:
        """The file descriptor of a POLL or INODE event."""
        if self.type not in (_POLL, _INODE):
            raise AttributeError(f"{self.type.name} events have no fd")
        return self.ident

    @property
    def signal(self) -> _signal.Signals:
        """The signal of a SIGNAL event."""
        if self.type is not _SIGNAL:
            raise AttributeError(f"{self.type.name} events have no signal")
        try:
            return _signal.Signals(self.ident)
        except ValueError:
            return self.ident  # type: ignore[return-value]

    @property
    def pid(self) -> int:
        """The process id of a PROC event."""
        if self.type is not _PROC:
            raise AttributeError(f"{self.type.name} events have no pid")
        return self.ident

    @property
    def count(self) -> int:
        """Expirations (TIMER), triggers (USER) or deliveries (SIGNAL)."""
        return self.data

    @property
    def status(self) -> Optional[int]:
        """The wait status of a PROC event (None when not our child)."""
        if self.type is not _PROC or self.ret_flags & _RET_NOSTATUS:
            return None
        return self.data

    @property
    def returncode(self) -> Optional[int]:
        """Exit code of a PROC event as :mod:`subprocess` gives it
        (negative signal number if killed), or None."""
        status = self.status
        if status is None:
            return None
        try:
            return os.waitstatus_to_exitcode(status)
        except ValueError:
            return None

    @property
    def removed(self) -> bool:
        """True when the registration ended with this delivery."""
        return bool(self.ret_flags & _RET_REMOVED)

    @property
    def gone(self) -> bool:
        """True when the watched object no longer exists."""
        return bool(self.ret_flags & RetFlag.GONE)

    def __repr__(self) -> str:
        mask = self.mask
        if isinstance(mask, enum.Flag) and mask.name:
            mask_s = mask.name
        else:
            mask_s = str(int(mask))
        prio_s = f" prio={self.prio}" if self.prio else ""
        return (f"<kevent.Event {self.type.name} ident={self.ident} "
                f"mask={mask_s} data={self.data} ret_flags={int(self.ret_flags):#x}"
                f"{prio_s} user={self.user!r}>")


class Stats(NamedTuple):
    """The statistics of a queue (:attr:`Queue.stats`; libkev 1.2,
    kevent(7) "Statistics"), read from its ring without a system call.

    ``published``, ``deferred`` (publications that waited for room in the
    ring), ``coalesced`` (firings merged into a pending delivery),
    ``waits`` (kevent_wait calls) and ``sleeps`` (of them, those that
    slept) are kept always.  ``enabled`` says whether statistics are on
    (:attr:`Queue.stats_enabled`); only then are the histograms
    ``fire_to_publish`` (from the firing to the publication) and
    ``publish_to_consume`` (from the publication to the consumption by
    this queue's :meth:`Queue.wait`, :meth:`Queue.poll`, iteration or
    :meth:`Queue.get`) counted: tuples of :data:`STATS_BUCKETS` ints, where
    bucket ``i`` counts latencies of ``2**i`` to ``2**(i+1)`` ns (bucket 0
    also below 1 ns, the last every latency from ``2**31`` ns).

    >>> import kevent
    >>> with kevent.Queue() as q:
    ...     q.stats_enabled = True
    ...     q.add_user(1)
    ...     q.trigger(1)
    ...     _ = q.wait(1.0)
    ...     st = q.stats
    >>> st.published, st.enabled, sum(st.fire_to_publish), sum(st.publish_to_consume)
    (1, True, 1, 1)
    """

    published: int
    deferred: int
    coalesced: int
    waits: int
    sleeps: int
    enabled: bool
    fire_to_publish: Tuple[int, ...]
    publish_to_consume: Tuple[int, ...]


class Queue:
    """A kevent queue: one ring of events from many sources.

    ``Queue(size=0, backend=None)`` creates a queue whose ring has ``size``
    entries (0: libkev's default, 256; rounded up to a power of two);
    ``backend`` forces ``"kmod"``, ``"uring"`` or ``"epoll"`` (``None``:
    ``"kmod"`` when the module is loaded, else ``"epoll"``; or the
    ``KEVENT_BACKEND`` environment variable).

    A queue is a context manager (``with kevent.Queue() as q:``) and an
    iterable of :class:`Event` (iteration blocks and ends when the queue is
    closed). ``fileno()`` is readable while events are pending, so the queue
    can itself be watched by another loop.

    Every ``add_*`` method takes keyword flags ``oneshot`` (removed after one
    delivery) and ``dispatch`` (disabled after each delivery until
    :meth:`enable`), a ``user`` object that comes back in
    :attr:`Event.user` (it is kept alive while registered), and a priority
    ``prio``: 0 (the default, the lowest) to :data:`PRIO_MAX`, which comes
    back in :attr:`Event.prio` (libkev 1.2). Registrations that are ready
    at the same time and not yet in the ring are published highest level
    first, FIFO within a level, within :attr:`prio_bound`. Events of a
    registration that was removed (or replaced) are never returned.

    Errors are :class:`OSError` subclasses with the errno of libkev:
    :class:`FileExistsError` for a second ``add`` of the same key,
    :class:`FileNotFoundError` for an unknown registration, and so on. A
    bad argument is a :class:`TypeError`, :class:`ValueError` or
    :class:`OverflowError` whose message starts with the argument's name.

    >>> import kevent
    >>> with kevent.Queue() as q:
    ...     q.add_user(7, user="seven")
    ...     q.trigger(7)
    ...     [(ev.type.name, ev.ident, ev.count, ev.user) for ev in q.wait(1.0)]
    [('USER', 7, 1, 'seven')]
    >>> kevent.Queue(size=-1)
    Traceback (most recent call last):
    ...
    ValueError: size must not be negative, not -1

    On an asyncio event loop (any loop: the default one as well as
    :func:`kevent.new_event_loop`), ``await q.get()`` returns the next event
    and ``async for ev in q`` iterates until the queue is closed. The queue's
    fd is then watched by the loop (``loop.add_reader``) while a task waits
    for an event; the loop never spins on it (libkev keeps the fd readable
    exactly while a zero-timeout wait would publish something) and
    :meth:`trigger` from any thread, the loop's own included, wakes it:

    >>> import asyncio, threading
    >>> async def main():
    ...     with kevent.Queue() as q:
    ...         q.add_user(1, user="from a thread")
    ...         q.add_timer(2, 0.01, oneshot=True, user="timer")
    ...         threading.Thread(target=q.trigger, args=(1,)).start()
    ...         got = {(await q.get()).user, (await q.get()).user}
    ...         q.add_user(3)
    ...         q.trigger(3)            # from the loop's thread
    ...         async for ev in q:
    ...             return sorted(got), ev.ident
    >>> asyncio.run(main())
    (['from a thread', 'timer'], 3)

    One queue serves one consumer at a time: one event loop (whose tasks
    may all await :meth:`get`), or threads calling :meth:`wait`.
    """

    def __init__(self, size: int = 0, backend: Optional[str] = None) -> None:
        size = _args.ring_size(size)
        flags = _args.backend_flags(backend)
        self._raw = _k.RawQueue(size, flags)
        self._lock = threading.RLock()  # reentrant: finalizers of user objects may call us
        self._by_key: Dict[Tuple[int, int], _Reg] = {}
        self._by_cookie: Dict[int, _Reg] = {}
        self._paths: Dict[str, int] = {}   # INODE path -> fd we opened
        self._next_cookie = 1
        self._aio: Optional[_LoopLink] = None   # get() on an event loop
        self._closing = False   # close() has begun (any thread)

    # ---------------------------------------------------------------- basics

    def __repr__(self) -> str:
        if self._raw.closed:
            return "<kevent.Queue closed>"
        return (f"<kevent.Queue fd={self._raw.fileno()} backend={self._raw.backend!r} "
                f"registrations={len(self._by_key)}>")

    def __enter__(self) -> "Queue":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @property
    def closed(self) -> bool:
        """True once the queue is closed."""
        return self._raw.closed

    @property
    def backend(self) -> str:
        """The backend in use: ``"kmod"``, ``"uring"`` or ``"epoll"``."""
        return self._raw.backend

    @property
    def ring_size(self) -> int:
        """Number of entries of the ring."""
        return self._raw.ring_size

    @property
    def timer_slack_ns(self) -> int:
        """How late (ns) a timer may fire so that timers due close together
        share one wake-up: ``KEVENT_OPT_TIMER_SLACK`` (kevent_setopt(2)).
        50000 by default, 0 for exact, at most an hour.  Set it before
        adding timers: :class:`OSError` (``EBUSY``) while the queue has
        one; :class:`ValueError` outside 0 to an hour, :class:`TypeError`
        for a value that is not an integer."""
        return self._raw.getopt(_k.KEVENT_OPT_TIMER_SLACK)

    def _set_int_option(self, what: str, opt: int, value: int, lo: int,
                        hi: int, hi_name: str, of: str = "",
                        unit: str = "") -> None:
        """Check an integer option's value, then kevent_setopt(2)."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("%s: an int%s, not %s"
                            % (what, of, type(value).__name__))
        if not lo <= value <= hi:
            raise ValueError("%s: %d to %d%s (%s), not %d"
                             % (what, lo, hi, unit, hi_name, value))
        self._raw.setopt(opt, value)

    @timer_slack_ns.setter
    def timer_slack_ns(self, ns: int) -> None:
        self._set_int_option("timer_slack_ns", _k.KEVENT_OPT_TIMER_SLACK, ns,
                             0, _k.KEVENT_TIMER_SLACK_MAX,
                             "KEVENT_TIMER_SLACK_MAX", " of nanoseconds",
                             " ns")

    @property
    def prio_bound(self) -> int:
        """The starvation bound of priorities: ``KEVENT_OPT_PRIO_BOUND``
        (kevent_setopt(2), libkev 1.2).  While a priority level has ready
        registrations, at most this many events of higher levels are
        published before its oldest one.  64 by default
        (:data:`PRIO_BOUND_DEFAULT`), 1 alternates,
        :data:`PRIO_BOUND_MAX` is strict priority; it may change at any
        time.  :class:`ValueError` outside 1 to :data:`PRIO_BOUND_MAX`,
        :class:`TypeError` for a value that is not an integer;
        :class:`OSError` (``EINVAL``) from a library older than 1.2."""
        return self._raw.getopt(_k.KEVENT_OPT_PRIO_BOUND)

    @prio_bound.setter
    def prio_bound(self, bound: int) -> None:
        self._set_int_option("prio_bound", _k.KEVENT_OPT_PRIO_BOUND, bound,
                             1, _k.KEVENT_PRIO_BOUND_MAX,
                             "KEVENT_PRIO_BOUND_MAX")

    @property
    def stats_enabled(self) -> bool:
        """Whether the queue keeps latency statistics: ``KEVENT_OPT_STATS``
        (kevent_setopt(2), libkev 1.2), off by default; it may change at
        any time, and turning it off keeps what was counted (see
        :attr:`stats`).  A bool (or 0/1): :class:`TypeError` otherwise;
        :class:`OSError` (``EINVAL``) from a library older than 1.2."""
        return bool(self._raw.getopt(_k.KEVENT_OPT_STATS))

    @stats_enabled.setter
    def stats_enabled(self, on: bool) -> None:
        on = _args.flag("stats_enabled", on)
        self._raw.setopt(_k.KEVENT_OPT_STATS, 1 if on else 0)

    @property
    def stats(self) -> Stats:
        """A :class:`Stats` snapshot of the queue's counters and latency
        histograms, read from its ring with no system call.  Each field is
        exact, but they are read one by one while the producer runs."""
        return Stats._make(self._raw.stats())

    def fileno(self) -> int:
        """The queue's file descriptor (readable while events are pending)."""
        return self._raw.fileno()

    def __len__(self) -> int:
        """Number of live registrations."""
        return len(self._by_key)

    def __bool__(self) -> bool:
        """Always true (a queue without registrations is still a queue)."""
        return True

    def close(self) -> None:
        """Close the queue and drop every registration (idempotent).

        Files this module opened for INODE paths are closed, signals it
        blocked are unblocked and ``user`` objects are released. A thread
        blocked in :meth:`wait` gets :class:`ValueError`.
        """
        raw = getattr(self, "_raw", None)
        if raw is None or raw.closed:
            return
        # Before the loop is told: a task it wakes must see that the queue
        # is going, not wait again on the fd about to be closed.
        self._closing = True
        link = self._aio
        if link is not None:
            link.queue_closing()
        with self._lock:
            regs = list(self._by_cookie.values())
            regs.extend(self._by_key.values())
            self._by_key.clear()
            self._by_cookie.clear()
            self._paths.clear()
            try:
                raw.close()
            finally:
                for reg in regs:
                    reg.release()

    # ------------------------------------------------------------- internals

    def _add(self, type: EventType, ident: int, event: int, req: int, data: int,
             user: Any, obj: Any, prepare: Any = None, prio: int = 0) -> _Reg:
        with self._lock:
            cookie = self._next_cookie
            self._next_cookie = cookie + 1
            reg = _Reg(type, ident, event, req, data, user, obj, cookie, prio)
            if prepare is not None:
                prepare(reg)
            # Known before kevent_ctl: another thread may take its event
            # from the ring before we get the lock back.
            self._by_cookie[cookie] = reg
            try:
                err = self._raw.ctl_errno(_ADD, type, ident, event, req, data, cookie,
                                          prio)
            except BaseException:
                del self._by_cookie[cookie]
                reg.release()
                raise
            if err:
                del self._by_cookie[cookie]
                reg.release()
                raise _oserror(err, obj if isinstance(obj, (str, bytes)) else None)
            key = (int(type), ident)
            old = self._by_key.get(key)
            if old is not None:
                self._drop_path(old)
            # An old registration with this key ended on its own (ONESHOT,
            # exit, ...) and its last event is still in the ring: it stays
            # known by cookie until that event is taken.
            self._by_key[key] = reg
            if reg.path is not None:
                self._paths[reg.path] = ident
            return reg

    def _lookup(self, type: EventType, ident: int) -> _Reg:
        reg = self._by_key.get((int(type), ident))
        if reg is None:
            raise _oserror(_errno.ENOENT)
        return reg

    def _drop_path(self, reg: _Reg) -> None:
        # the path may name a newer registration (another fd) by now
        if reg.path is not None and self._paths.get(reg.path) == reg.ident:
            del self._paths[reg.path]

    def _forget(self, reg: _Reg) -> None:
        key = (int(reg.type), reg.ident)
        if self._by_key.get(key) is reg:
            del self._by_key[key]
            self._drop_path(reg)
        self._by_cookie.pop(reg.cookie, None)
        reg.release()
        # dicts never shrink: start afresh once empty (after a burst)
        if not self._by_cookie:
            self._by_cookie = {}
            if not self._by_key:
                self._by_key = {}
                self._paths = {}

    def _modify(self, type: EventType, ident: int, event: Any, req: Any,
                data: Any, user: Any, prio: Optional[int] = None) -> None:
        with self._lock:
            reg = self._lookup(type, ident)
            event = reg.event if event is _KEEP else int(event)
            req = reg.req if req is _KEEP else int(req)
            data = reg.data if data is _KEEP else int(data)
            # MODIFY replaces every field: the priority too
            prio = reg.prio if prio is None else prio
            err = self._raw.ctl_errno(_MODIFY, type, ident, event, req, data, reg.cookie,
                                      prio)
            if err == _errno.ENOENT:
                # ended on its own, its last event waits in the ring
                self._forget(reg)
            if err:
                raise _oserror(err)
            reg.event, reg.req, reg.data, reg.prio = event, req, data, prio
            if user is not _KEEP:
                reg.user = user

    def _simple(self, cmd: int, type: EventType, ident: int) -> None:
        with self._lock:
            reg = self._lookup(type, ident)
            err = self._raw.ctl_errno(cmd, type, ident, 0, 0, 0, 0)
            if cmd == _REMOVE:
                if err and err != _errno.ENOENT:
                    raise _oserror(err)
                # ENOENT: the registration ended by itself and its final
                # event is still in the ring; removing it drops that event.
                self._forget(reg)
                return
            if err == _errno.ENOENT:
                self._forget(reg)
            if err:
                raise _oserror(err)

    def _key(self, type: EventType, target: Target, name: str = "target") -> int:
        if type is _POLL:
            return _args.fd_of(target, name)
        if type is _SIGNAL:
            return _args.sig(target, name)
        if type is _PROC:
            return _args.pid(target, name)
        if type is _INODE:
            if isinstance(target, (str, bytes, os.PathLike)):
                path = os.fsdecode(os.fspath(target))
                fd = self._paths.get(path)
                if fd is None:
                    raise _oserror(_errno.ENOENT, path)
                return fd
            return _args.fd_of(target, name)
        return _args.ident(target, name)

    # --------------------------------------------------------- generic API

    def remove(self, type: EventType, target: Target) -> None:
        """Remove the registration ``(type, target)``.

        ``target`` is whatever the matching ``add_*`` took (an fd or file
        object, timer/user id, signal, path or fd, pid or process). Events of
        it still in the ring are discarded. :class:`FileNotFoundError` if
        there is no such registration.
        """
        type = EventType(type)
        self._simple(_REMOVE, type, self._key(type, target))

    def enable(self, type: EventType, target: Target) -> None:
        """Enable a registration (after :meth:`disable` or a ``dispatch``
        delivery); firings while disabled are delivered now."""
        type = EventType(type)
        self._simple(_ENABLE, type, self._key(type, target))

    def disable(self, type: EventType, target: Target) -> None:
        """Disable a registration; its firings are kept until :meth:`enable`."""
        type = EventType(type)
        self._simple(_DISABLE, type, self._key(type, target))

    def trigger(self, ident: int) -> None:
        """Fire the USER registration ``ident`` (callable from any thread;
        wakes a thread blocked in :meth:`wait`)."""
        # No table work: safe and cheap from any thread.
        self._raw.ctl(_READY, _USER, _args.ident(ident))

    def registered(self, type: EventType, target: Target) -> bool:
        """True if ``(type, target)`` is registered."""
        type = EventType(type)
        try:
            key = self._key(type, target)
        except OSError:
            return False
        return (int(type), key) in self._by_key

    # ------------------------------------------------------------------ POLL

    def add_poll(self, fd: Any, events: int = PollFlag.IN, *, user: Any = None,
                 oneshot: bool = False, edge: bool = False,
                 dispatch: bool = False, prio: int = 0) -> None:
        """Watch ``fd`` (an int or an object with ``fileno()``) for readiness.

        ``events`` is a :class:`PollFlag` mask (ERR and HUP are always
        reported). Level-triggered unless ``edge`` is set.
        """
        ident = _args.fd_of(fd)
        mask = _args.mask("events", events, _POLL_BITS)
        req = _req(oneshot, dispatch, edge)
        self._add(_POLL, ident, mask, req, 0, user, fd, prio=_args.prio(prio))

    def modify_poll(self, fd: Any, events: Optional[int] = None, *,
                    user: Any = _KEEP, oneshot: Optional[bool] = None,
                    edge: Optional[bool] = None,
                    dispatch: Optional[bool] = None,
                    prio: Optional[int] = None) -> None:
        """Change a POLL registration; arguments left out keep their value."""
        ident = _args.fd_of(fd)
        mask = _KEEP if events is None else _args.mask("events", events, _POLL_BITS)
        new_prio = _new_prio(prio)
        with self._lock:
            reg = self._lookup(_POLL, ident)
            req = _merge_req(reg.req, oneshot, dispatch, edge)
        self._modify(_POLL, ident, mask, req, _KEEP, user, new_prio)

    def remove_poll(self, fd: Any) -> None:
        """Stop watching ``fd``."""
        self._simple(_REMOVE, _POLL, _args.fd_of(fd))

    def enable_poll(self, fd: Any) -> None:
        """Enable the POLL registration of ``fd``."""
        self._simple(_ENABLE, _POLL, _args.fd_of(fd))

    def disable_poll(self, fd: Any) -> None:
        """Disable the POLL registration of ``fd``."""
        self._simple(_DISABLE, _POLL, _args.fd_of(fd))

    # ----------------------------------------------------------------- TIMER

    def add_timer(self, ident: int, when: Any, *, user: Any = None,
                  oneshot: bool = False, dispatch: bool = False,
                  clock: Clock = Clock.MONOTONIC, prio: int = 0) -> None:
        """Start timer ``ident`` (a number of your choice).

        ``when`` is either a number of seconds (float) or a
        :class:`datetime.timedelta`: the timer fires every ``when`` seconds,
        or once with ``oneshot=True``; or a :class:`datetime.datetime`: the
        timer fires once at that wall-clock time (``CLOCK_REALTIME``, a naive
        datetime is local time). :attr:`Event.count` is the number of
        expirations since the last delivery.
        """
        ident = _args.ident(ident)
        req = _req(oneshot, dispatch)
        event, data = _timer_args(when, clock, bool(req & ReqFlag.ONESHOT))
        self._add(_TIMER, ident, event, req, data, user, when, prio=_args.prio(prio))

    def modify_timer(self, ident: int, when: Any = None, *, user: Any = _KEEP,
                     oneshot: Optional[bool] = None,
                     dispatch: Optional[bool] = None,
                     clock: Optional[Clock] = None,
                     prio: Optional[int] = None) -> None:
        """Re-arm or change timer ``ident``; arguments left out keep their
        value (an absolute timer that fired can be re-armed with a new
        ``when``)."""
        ident = _args.ident(ident)
        new_prio = _new_prio(prio)
        with self._lock:
            reg = self._lookup(_TIMER, ident)
            req = _merge_req(reg.req, oneshot, dispatch, None)
            oneshot_now = bool(req & ReqFlag.ONESHOT)
            if when is None:
                event, data = reg.event, reg.data
                if clock is not None and not event & TimerFlag.ABSTIME:
                    event = int(_clock(clock))
            else:
                if clock is None:
                    clock = Clock(reg.event & 3) if not reg.event & TimerFlag.ABSTIME else Clock.MONOTONIC
                event, data = _timer_args(when, clock, oneshot_now)
        self._modify(_TIMER, ident, event, req, data, user, new_prio)

    def remove_timer(self, ident: int) -> None:
        """Stop timer ``ident``."""
        self._simple(_REMOVE, _TIMER, _args.ident(ident))

    def enable_timer(self, ident: int) -> None:
        """Enable timer ``ident``."""
        self._simple(_ENABLE, _TIMER, _args.ident(ident))

    def disable_timer(self, ident: int) -> None:
        """Disable timer ``ident`` (expirations are counted, not lost)."""
        self._simple(_DISABLE, _TIMER, _args.ident(ident))

    # ------------------------------------------------------------------ USER

    def add_user(self, ident: int, *, user: Any = None, oneshot: bool = False,
                 dispatch: bool = False, prio: int = 0) -> None:
        """Register user event ``ident``, fired by :meth:`trigger`.
        :attr:`Event.count` is the number of triggers since the last
        delivery."""
        ident = _args.ident(ident)
        req = _req(oneshot, dispatch)
        self._add(_USER, ident, 0, req, 0, user, ident, prio=_args.prio(prio))

    def modify_user(self, ident: int, *, user: Any = _KEEP,
                    oneshot: Optional[bool] = None,
                    dispatch: Optional[bool] = None,
                    prio: Optional[int] = None) -> None:
        """Change user event ``ident``; arguments left out keep their value."""
        ident = _args.ident(ident)
        new_prio = _new_prio(prio)
        with self._lock:
            req = _merge_req(self._lookup(_USER, ident).req, oneshot, dispatch, None)
        self._modify(_USER, ident, _KEEP, req, _KEEP, user, new_prio)

    def remove_user(self, ident: int) -> None:
        """Remove user event ``ident``."""
        self._simple(_REMOVE, _USER, _args.ident(ident))

    def enable_user(self, ident: int) -> None:
        """Enable user event ``ident``."""
        self._simple(_ENABLE, _USER, _args.ident(ident))

    def disable_user(self, ident: int) -> None:
        """Disable user event ``ident`` (triggers are counted, not lost)."""
        self._simple(_DISABLE, _USER, _args.ident(ident))

    # ---------------------------------------------------------------- SIGNAL

    def add_signal(self, sig: Union[int, _signal.Signals], *, user: Any = None,
                   oneshot: bool = False, dispatch: bool = False,
                   prio: int = 0) -> None:
        """Take delivery of signal ``sig`` as events.

        The signal is blocked in the calling thread (libkev requires it; block
        it in every thread, e.g. before starting threads, so that no thread
        receives it instead) and unblocked again when the registration ends,
        unless it was blocked already. The signal is consumed:
        its Python handler does not run. :attr:`Event.count` is the number of
        deliveries since the last event.
        """
        num = _args.sig(sig)
        req = _req(oneshot, dispatch)
        level = _args.prio(prio)

        def prepare(reg: _Reg) -> None:
            _hold_signal(num)
            reg.sig_held = True

        self._add(_SIGNAL, num, 0, req, 0, user, _signal_obj(num), prepare,
                  prio=level)

    def modify_signal(self, sig: Union[int, _signal.Signals], *, user: Any = _KEEP,
                      oneshot: Optional[bool] = None,
                      dispatch: Optional[bool] = None,
                      prio: Optional[int] = None) -> None:
        """Change the registration of ``sig``; arguments left out keep their
        value."""
        num = _args.sig(sig)
        new_prio = _new_prio(prio)
        with self._lock:
            req = _merge_req(self._lookup(_SIGNAL, num).req, oneshot, dispatch, None)
        self._modify(_SIGNAL, num, _KEEP, req, _KEEP, user, new_prio)

    def remove_signal(self, sig: Union[int, _signal.Signals]) -> None:
        """Stop taking ``sig`` (it is unblocked if this module blocked it)."""
        self._simple(_REMOVE, _SIGNAL, _args.sig(sig))

    def enable_signal(self, sig: Union[int, _signal.Signals]) -> None:
        """Enable the registration of ``sig``."""
        self._simple(_ENABLE, _SIGNAL, _args.sig(sig))

    def disable_signal(self, sig: Union[int, _signal.Signals]) -> None:
        """Disable the registration of ``sig`` (deliveries are counted)."""
        self._simple(_DISABLE, _SIGNAL, _args.sig(sig))

    # ----------------------------------------------------------------- INODE

    def add_inode(self, target: Any, events: int = InodeFlag.ALL, *,
                  user: Any = None, oneshot: bool = False,
                  dispatch: bool = False, prio: int = 0) -> int:
        """Watch a file or directory for changes.

        ``target`` is a path (:class:`os.PathLike`, str or bytes), which the
        module opens ``O_RDONLY|O_CLOEXEC`` and keeps open while registered,
        or an open fd / file object, which stays yours. ``events`` is an
        :class:`InodeFlag` mask. Returns the fd that identifies the
        registration (the path can be used as well in ``*_inode`` calls).
        """
        mask = _inode_mask(events)
        req = _req(oneshot, dispatch)
        level = _args.prio(prio)
        if isinstance(target, (str, bytes, os.PathLike)):
            path = os.fsdecode(os.fspath(target))
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

            def prepare(reg: _Reg) -> None:
                reg.owned_fd = fd
                reg.path = path

            # prepare() gives the fd to the registration at once; if it
            # fails, releasing it closes the fd
            self._add(_INODE, fd, mask, req, 0, user, target, prepare, prio=level)
            return fd
        fd = _args.fd_of(target, "target")
        self._add(_INODE, fd, mask, req, 0, user, target, prio=level)
        return fd

    def modify_inode(self, target: Any, events: Optional[int] = None, *,
                     user: Any = _KEEP, oneshot: Optional[bool] = None,
                     dispatch: Optional[bool] = None,
                     prio: Optional[int] = None) -> None:
        """Change an INODE registration (by path or fd); arguments left out
        keep their value."""
        fd = self._key(_INODE, target)
        mask = _KEEP if events is None else _inode_mask(events)
        new_prio = _new_prio(prio)
        with self._lock:
            req = _merge_req(self._lookup(_INODE, fd).req, oneshot, dispatch, None)
        self._modify(_INODE, fd, mask, req, _KEEP, user, new_prio)

    def remove_inode(self, target: Any) -> None:
        """Stop watching a path or fd (a file the module opened is closed)."""
        self._simple(_REMOVE, _INODE, self._key(_INODE, target))

    def enable_inode(self, target: Any) -> None:
        """Enable an INODE registration."""
        self._simple(_ENABLE, _INODE, self._key(_INODE, target))

    def disable_inode(self, target: Any) -> None:
        """Disable an INODE registration."""
        self._simple(_DISABLE, _INODE, self._key(_INODE, target))

    # ------------------------------------------------------------------ PROC

    def add_proc(self, pid: Any, *, user: Any = None, oneshot: bool = False,
                 dispatch: bool = False, prio: int = 0) -> None:
        """Watch process ``pid`` (an int or an object with a ``pid``, such as
        :class:`subprocess.Popen`) for its exit.

        The event's :attr:`Event.status` is the wait status of a child (left
        unreaped: call ``waitpid``/``Popen.wait`` as usual), and the
        registration ends with it.
        """
        ident = _args.pid(pid)
        req = _req(oneshot, dispatch)
        self._add(_PROC, ident, int(ProcFlag.EXIT), req, 0, user, pid,
                  prio=_args.prio(prio))

    def modify_proc(self, pid: Any, *, user: Any = _KEEP,
                    oneshot: Optional[bool] = None,
                    dispatch: Optional[bool] = None,
                    prio: Optional[int] = None) -> None:
        """Change a PROC registration; arguments left out keep their value."""
        ident = _args.pid(pid)
        new_prio = _new_prio(prio)
        with self._lock:
            req = _merge_req(self._lookup(_PROC, ident).req, oneshot, dispatch, None)
        self._modify(_PROC, ident, _KEEP, req, _KEEP, user, new_prio)

    def remove_proc(self, pid: Any) -> None:
        """Stop watching process ``pid``."""
        self._simple(_REMOVE, _PROC, _args.pid(pid))

    def enable_proc(self, pid: Any) -> None:
        """Enable a PROC registration."""
        self._simple(_ENABLE, _PROC, _args.pid(pid))

    def disable_proc(self, pid: Any) -> None:
        """Disable a PROC registration."""
        self._simple(_DISABLE, _PROC, _args.pid(pid))

    # -------------------------------------------------------------- waiting

    def _take(self, max_events: int) -> List[Event]:
        out: List[Event] = []
        with self._lock:
            for ident, typ, mask, req, ret, data, cookie, prio in self._raw.drain(max_events):
                reg = self._by_cookie.get(cookie)
                if reg is None or reg.ident != ident or reg.type != typ:
                    continue  # a removed or replaced registration: stale
                mtype = _MASK_TYPES.get(typ)
                ev = Event(reg.type, ident, mtype(mask) if mtype is not None else mask,
                           ReqFlag(req), RetFlag(ret), data, reg.user, reg.obj, prio)
                if ret & _RET_REMOVED:
                    self._forget(reg)
                out.append(ev)
        return out

    def wait(self, timeout: Optional[float] = None, *,
             max_events: int = 0) -> List[Event]:
        """Wait for events and take them from the ring.

        ``timeout`` is in seconds (``None``: forever, 0: do not block).
        Returns a list of :class:`Event` (empty on timeout), at most
        ``max_events`` of them when it is not 0. The GIL is released while
        sleeping; a signal runs its Python handler, so Ctrl-C raises
        :class:`KeyboardInterrupt`, and a handler that returns lets the wait
        go on with the rest of its timeout. :class:`ValueError` if the queue
        is (or gets) closed.
        """
        max_events = _args.unsigned("max_events", max_events, _args.U32)
        timeout = _args.timeout(timeout)
        link = self._aio
        if link is not None and link.buf:
            return link.take_buffered(max_events)
        deadline = None
        if timeout is not None:
            deadline = time.monotonic() + max(timeout, 0.0)
        raw = self._raw
        while True:
            n = raw.wait(1, timeout)
            events = self._take(max_events)
            if events or n == 0:
                return events
            # only stale events: keep waiting for the rest of the timeout
            # (a last pass with 0 publishes what is ready meanwhile)
            if deadline is not None:
                timeout = max(deadline - time.monotonic(), 0.0)

    def poll(self) -> List[Event]:
        """Take the events that are ready now, without blocking."""
        return self.wait(0)

    def __iter__(self) -> Iterator[Event]:
        """Yield events forever; stops when the queue is closed."""
        while True:
            try:
                events = self.wait()
            except ValueError:
                if self.closed:
                    return
                raise
            yield from events

    # ------------------------------------------------------------ asyncio

    def _take_ready(self) -> List[Event]:
        """What a zero-timeout kevent_wait publishes, taken from the ring.

        A zero timeout is also what tells libkev that the queue is polled
        by another loop rather than slept on (kevent_wait(2))."""
        self._raw.wait(1, 0)
        return self._take(0)

    async def get(self) -> Event:
        """The next event, awaited on the running event loop.

        Works on any asyncio loop (the queue's fd is watched with
        ``loop.add_reader`` while a task waits). Cancelling the await loses
        no event. :class:`ValueError` if the queue is or gets closed (also
        by another thread, which wakes the waiting tasks);
        :class:`RuntimeError` if another, still open, loop is using the
        queue.

        >>> import asyncio, kevent
        >>> async def main():
        ...     with kevent.Queue() as q:
        ...         q.add_timer(1, 0.001, oneshot=True, user="t")
        ...         ev = await q.get()
        ...         return ev.type.name, ev.user, ev.removed
        >>> asyncio.run(main())
        ('TIMER', 't', True)
        """
        loop = asyncio.get_running_loop()
        link = self._aio
        if link is None or link.loop is not loop:
            link = self._link_to(loop)
        while True:
            if link.buf:
                return link.buf.popleft()
            if self._closing or self._raw.closed:
                raise ValueError("I/O operation on closed kevent queue")
            events = self._take_ready()
            if events:
                link.buf.extend(events)
                continue
            fut = loop.create_future()
            link.getters.append(fut)
            link.start_reading()
            try:
                await fut
            except BaseException:
                fut.cancel()
                try:
                    link.getters.remove(fut)
                except ValueError:
                    pass
                # woken, then cancelled before taking its event: pass the
                # wake-up on
                if link.buf and not fut.cancelled():
                    link.wake()
                raise

    def __aiter__(self) -> "Queue":
        """``async for ev in q``: events until the queue is closed."""
        return self

    async def __anext__(self) -> Event:
        """The next event (:meth:`get`); stops when the queue is closed."""
        try:
            return await self.get()
        except ValueError:
            if self._closing or self.closed:
                raise StopAsyncIteration from None
            raise

    def _link_to(self, loop: asyncio.AbstractEventLoop) -> "_LoopLink":
        with self._lock:
            old = self._aio
            if old is not None and old.loop is not loop:
                if not old.loop.is_closed() and (old.getters or old.reading):
                    raise RuntimeError(
                        "this kevent.Queue is being used by another event "
                        "loop; a queue serves one loop at a time")
                old.detach_here()
                if old.buf:
                    buf = old.buf
                else:
                    buf = None
            else:
                buf = None
            link = _LoopLink(self, loop)
            if buf:
                link.buf.extend(buf)
            self._aio = link
            return link


class _LoopLink:
    """A Queue's tie to the event loop whose tasks await its events.

    The loop watches the queue's fd (add_reader) while tasks wait. When it
    is readable: one zero-timeout kevent_wait, the ring drained into buf, as
    many waiting tasks woken as there are events. A readable fd and no
    waiting task: stop watching (the events stay in libkev, coalesced,
    until asked for). Everything here runs in the loop's thread, except
    queue_closing()."""

    __slots__ = ("queue", "loop", "fd", "buf", "getters", "reading", "thread")

    def __init__(self, queue: Queue, loop: asyncio.AbstractEventLoop) -> None:
        self.queue = queue
        self.loop = loop
        self.fd = queue.fileno()
        self.buf: Deque[Event] = collections.deque()
        self.getters: Deque["asyncio.Future[None]"] = collections.deque()
        self.reading = False
        self.thread = threading.get_ident()

    def start_reading(self) -> None:
        if not self.reading:
            self.loop.add_reader(self.fd, self.readable)
            self.reading = True

    def stop_reading(self) -> None:
        if self.reading:
            self.reading = False
            if not self.loop.is_closed():
                self.loop.remove_reader(self.fd)

    def wake(self) -> None:
        """Wake one waiting task (the oldest)."""
        while self.getters:
            fut = self.getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def readable(self) -> None:
        if not self.getters:
            self.stop_reading()
            return
        try:
            events = self.queue._take_ready()
        except ValueError:  # closed
            self.stop_reading()
            self.wake_all()
            return
        except BaseException as e:  # an OSError of kevent_wait: to the tasks
            self.stop_reading()
            while self.getters:
                fut = self.getters.popleft()
                if not fut.done():
                    fut.set_exception(e)
            return
        self.buf.extend(events)
        for _ in range(len(self.buf)):
            if not self.getters:
                break
            self.wake()

    def wake_all(self) -> None:
        while self.getters:
            fut = self.getters.popleft()
            if not fut.done():
                fut.set_result(None)

    def take_buffered(self, max_events: int) -> List[Event]:
        n = len(self.buf) if not max_events else min(max_events, len(self.buf))
        return [self.buf.popleft() for _ in range(n)]

    def detach_here(self) -> None:
        """Stop watching the fd and wake every task (in the loop's
        thread, or once the loop is closed)."""
        self.stop_reading()
        self.wake_all()

    def queue_closing(self) -> None:
        """The queue is about to be closed, by any thread."""
        if self.loop.is_closed():
            self.reading = False
            return
        if threading.get_ident() == self.thread:
            self.detach_here()
            return
        # Another thread: the loop must let go of the fd before its number
        # can be reused, and its tasks must learn that the queue is closed.
        reading, self.reading = self.reading, False
        fd, loop, cb = self.fd, self.loop, self.readable

        def detach() -> None:
            # (a get() between queue_closing() and now may have started
            # reading again; none can after, as it sees queue._closing)
            if reading or self.reading:
                self.reading = False
                _remove_reader_if_ours(loop, fd, cb)
            self.wake_all()

        try:
            loop.call_soon_threadsafe(detach)
        except RuntimeError:  # closed meanwhile
            pass


def _remove_reader_if_ours(loop: asyncio.AbstractEventLoop, fd: int,
                           cb: Any) -> None:
    """remove_reader(fd) unless fd's reader is no longer cb (the number was
    reused by another file, which another reader now watches)."""
    selector = getattr(loop, "_selector", None)
    if selector is not None:
        try:
            reader = selector.get_key(fd).data[0]
        except (KeyError, ValueError, RuntimeError, AttributeError,
                IndexError, TypeError):
            return
        if reader is not None and getattr(reader, "_callback", cb) != cb:
            return
    loop.remove_reader(fd)


def _new_prio(prio: Any) -> Optional[int]:
    """``prio=`` of modify_*(): None keeps the registration's priority."""
    return None if prio is None else _args.prio(prio)


def _merge_req(old: int, oneshot: Optional[bool], dispatch: Optional[bool],
               edge: Optional[bool]) -> int:
    req = old
    for name, flag, value in (("oneshot", ReqFlag.ONESHOT, oneshot),
                              ("dispatch", ReqFlag.DISPATCH, dispatch),
                              ("edge", ReqFlag.ET, edge)):
        if value is None:
            continue
        value = _args.flag(name, value)
        req = (req | int(flag)) if value else (req & ~int(flag))
    return _check_req(req)


def _inode_mask(events: Any) -> int:
    mask = _args.mask("events", events, _INODE_BITS)
    if not mask:
        raise ValueError("events must name at least one kevent.InodeFlag")
    return mask


def _clock(value: Any) -> Clock:
    try:
        return Clock(value)
    except ValueError:
        raise ValueError(f"clock must be a kevent.Clock "
                         f"({', '.join(c.name for c in Clock)}), not {value!r}") from None


def _timer_args(when: Any, clock: Any, oneshot: bool) -> Tuple[int, int]:
    if isinstance(when, _dt.datetime):
        return (int(TimerFlag.REALTIME | TimerFlag.ABSTIME),
                _args.datetime_to_ns("when", when))
    clk = _clock(clock)
    ns = _args.seconds_to_ns("when", when)
    if ns == 0 and not oneshot:
        raise ValueError("when: a periodic timer needs an interval > 0 "
                         "(a oneshot timer of 0 fires at once)")
    return int(clk), ns


def _signal_obj(num: int) -> Any:
    try:
        return _signal.Signals(num)
    except ValueError:
        return num
