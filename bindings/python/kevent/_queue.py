# SPDX-License-Identifier: MIT
"""kevent.Queue and kevent.Event: the Pythonic face of one libkev queue."""

from __future__ import annotations

import datetime as _dt
import enum
import errno as _errno
import os
import signal as _signal
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

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

__all__ = ["Queue", "Event", "BACKENDS"]

#: Names accepted by ``Queue(backend=...)``.
BACKENDS = {
    "kmod": _k.KEVENT_BACKEND_KMOD,
    "uring": _k.KEVENT_BACKEND_URING,
    "epoll": _k.KEVENT_BACKEND_EPOLL,
}

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

_KEEP: Any = object()  # "leave this field as it is" in modify_*()

_MASK_TYPES = {
    int(_POLL): PollFlag,
    int(_TIMER): TimerFlag,
    int(_INODE): InodeFlag,
    int(_PROC): ProcFlag,
}
_TYPES = {int(t): t for t in EventType}

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)

Target = Any  # fd, object with fileno(), path, Signals, pid, Popen ...


def _oserror(err: int, what: Any = None) -> OSError:
    # OSError(errno, strerror) picks the subclass (FileExistsError, ...)
    # exactly as PyErr_SetFromErrno does.
    if what is None:
        return OSError(err, os.strerror(err))
    return OSError(err, os.strerror(err), str(what))


def _fd_of(obj: Any) -> int:
    """File descriptor of an int or of an object with a fileno() method."""
    if isinstance(obj, int):
        fd = obj
    else:
        try:
            fd = int(obj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {obj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


def _sig_of(sig: Any) -> int:
    num = int(sig)
    if not 0 < num < _signal.NSIG:
        raise ValueError(f"signal number out of range: {num}")
    return num


def _pid_of(proc: Any) -> int:
    pid = int(proc if isinstance(proc, int) else getattr(proc, "pid", proc))
    if pid <= 0:
        raise ValueError(f"Invalid pid: {pid}")
    return pid


def _ident_of(ident: Any) -> int:
    value = int(ident)
    if not 0 <= value < 1 << 64:
        raise ValueError(f"id out of range: {value}")
    return value


def _seconds_to_ns(seconds: Any) -> int:
    if isinstance(seconds, _dt.timedelta):
        ns = (seconds.days * 86400 + seconds.seconds) * 10**9 + seconds.microseconds * 1000
    else:
        ns = round(float(seconds) * 1e9)
    if ns < 0:
        raise ValueError("a timer interval must not be negative")
    return ns


def _datetime_to_ns(when: _dt.datetime) -> int:
    if when.tzinfo is None:
        # naive datetimes are local time, as datetime.timestamp() says
        whole = when.replace(microsecond=0).timestamp()
        ns = int(whole) * 10**9 + when.microsecond * 1000
    else:
        delta = when - _EPOCH
        ns = (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    if ns < 0:
        raise ValueError("a timer deadline must not be before 1970")
    return ns


def _req(oneshot: bool, dispatch: bool, edge: bool = False) -> int:
    flags = 0
    if oneshot:
        flags |= ReqFlag.ONESHOT
    if dispatch:
        flags |= ReqFlag.DISPATCH
    if edge:
        flags |= ReqFlag.ET
    return int(flags)


# Signals blocked by this module (counted across every queue), so that a
# signal is unblocked again only when its last registration ends.
_sig_lock = threading.Lock()
_sig_blocked: Dict[int, int] = {}


def _block_signal(num: int) -> bool:
    """Block num in the calling thread for a SIGNAL registration."""
    with _sig_lock:
        count = _sig_blocked.get(num, 0)
        if count == 0:
            old = _signal.pthread_sigmask(_signal.SIG_BLOCK, {num})
            if num in old:
                return False  # already blocked by the application
        _sig_blocked[num] = count + 1
        return True


def _unblock_signal(num: int) -> None:
    with _sig_lock:
        count = _sig_blocked.get(num, 0) - 1
        if count > 0:
            _sig_blocked[num] = count
            return
        _sig_blocked.pop(num, None)
        if count == 0:
            try:
                _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {num})
            except (OSError, ValueError):
                pass


class _Reg:
    """One registration as the binding sees it."""

    __slots__ = (
        "type", "ident", "event", "req", "data", "user", "obj", "cookie",
        "owned_fd", "blocked", "path",
    )

    def __init__(self, type: EventType, ident: int, event: int, req: int,
                 data: int, user: Any, obj: Any, cookie: int) -> None:
        self.type = type
        self.ident = ident
        self.event = event
        self.req = req
        self.data = data
        self.user = user
        self.obj = obj
        self.cookie = cookie
        self.owned_fd = -1     # fd this module opened (INODE by path)
        self.blocked = False   # signal blocked by this module
        self.path: Optional[str] = None

    def release(self) -> None:
        """Free what the module holds for this registration."""
        if self.owned_fd >= 0:
            fd, self.owned_fd = self.owned_fd, -1
            try:
                os.close(fd)
            except OSError:
                pass
        if self.blocked:
            self.blocked = False
            _unblock_signal(self.ident)
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
    """

    __slots__ = ("type", "ident", "mask", "flags", "ret_flags", "data", "user", "obj")

    type: EventType
    ident: int
    mask: int
    flags: ReqFlag
    ret_flags: RetFlag
    data: int
    user: Any
    obj: Any

    def __init__(self, type: EventType, ident: int, mask: int, flags: ReqFlag,
                 ret_flags: RetFlag, data: int, user: Any = None,
                 obj: Any = None) -> None:
        self.type = type
        self.ident = ident
        self.mask = mask
        self.flags = flags
        self.ret_flags = ret_flags
        self.data = data
        self.user = user
        self.obj = obj

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
        return (f"<kevent.Event {self.type.name} ident={self.ident} "
                f"mask={mask_s} data={self.data} ret_flags={int(self.ret_flags):#x} "
                f"user={self.user!r}>")


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
    :meth:`enable`), and a ``user`` object that comes back in
    :attr:`Event.user`; it is kept alive while registered. Events of a
    registration that was removed (or replaced) are never returned.

    Errors are :class:`OSError` subclasses with the errno of libkev:
    :class:`FileExistsError` for a second ``add`` of the same key,
    :class:`FileNotFoundError` for an unknown registration, and so on.
    """

    def __init__(self, size: int = 0, backend: Optional[str] = None) -> None:
        if backend is None:
            flags = _k.KEVENT_BACKEND_DEFAULT
        else:
            try:
                flags = BACKENDS[backend]
            except KeyError:
                raise ValueError(f"unknown kevent backend {backend!r}; "
                                 f"expected one of {sorted(BACKENDS)}") from None
        if size < 0:
            raise ValueError("size must not be negative")
        self._raw = _k.RawQueue(size, flags)
        self._lock = threading.RLock()  # reentrant: finalizers of user objects may call us
        self._by_key: Dict[Tuple[int, int], _Reg] = {}
        self._by_cookie: Dict[int, _Reg] = {}
        self._paths: Dict[str, int] = {}   # INODE path -> fd we opened
        self._next_cookie = 1

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
             user: Any, obj: Any, prepare: Any = None) -> _Reg:
        with self._lock:
            cookie = self._next_cookie
            self._next_cookie = cookie + 1
            reg = _Reg(type, ident, event, req, data, user, obj, cookie)
            if prepare is not None:
                prepare(reg)
            # Known before kevent_ctl: another thread may take its event
            # from the ring before we get the lock back.
            self._by_cookie[cookie] = reg
            try:
                err = self._raw.ctl_errno(_ADD, type, ident, event, req, data, cookie)
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
                data: Any, user: Any) -> None:
        with self._lock:
            reg = self._lookup(type, ident)
            event = reg.event if event is _KEEP else int(event)
            req = reg.req if req is _KEEP else int(req)
            data = reg.data if data is _KEEP else int(data)
            err = self._raw.ctl_errno(_MODIFY, type, ident, event, req, data, reg.cookie)
            if err == _errno.ENOENT:
                # ended on its own, its last event waits in the ring
                self._forget(reg)
            if err:
                raise _oserror(err)
            reg.event, reg.req, reg.data = event, req, data
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

    def _key(self, type: EventType, target: Target) -> int:
        if type is _POLL:
            return _fd_of(target)
        if type is _SIGNAL:
            return _sig_of(target)
        if type is _PROC:
            return _pid_of(target)
        if type is _INODE:
            if isinstance(target, (str, bytes, os.PathLike)):
                path = os.fsdecode(os.fspath(target))
                fd = self._paths.get(path)
                if fd is None:
                    raise _oserror(_errno.ENOENT, path)
                return fd
            return _fd_of(target)
        return _ident_of(target)

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
        self._raw.ctl(_READY, _USER, _ident_of(ident))

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
                 dispatch: bool = False) -> None:
        """Watch ``fd`` (an int or an object with ``fileno()``) for readiness.

        ``events`` is a :class:`PollFlag` mask (ERR and HUP are always
        reported). Level-triggered unless ``edge`` is set.
        """
        ident = _fd_of(fd)
        self._add(_POLL, ident, int(events), _req(oneshot, dispatch, edge), 0, user, fd)

    def modify_poll(self, fd: Any, events: Optional[int] = None, *,
                    user: Any = _KEEP, oneshot: Optional[bool] = None,
                    edge: Optional[bool] = None,
                    dispatch: Optional[bool] = None) -> None:
        """Change a POLL registration; arguments left out keep their value."""
        ident = _fd_of(fd)
        with self._lock:
            reg = self._lookup(_POLL, ident)
            req = _merge_req(reg.req, oneshot, dispatch, edge)
        self._modify(_POLL, ident, _KEEP if events is None else events, req, _KEEP, user)

    def remove_poll(self, fd: Any) -> None:
        """Stop watching ``fd``."""
        self._simple(_REMOVE, _POLL, _fd_of(fd))

    def enable_poll(self, fd: Any) -> None:
        """Enable the POLL registration of ``fd``."""
        self._simple(_ENABLE, _POLL, _fd_of(fd))

    def disable_poll(self, fd: Any) -> None:
        """Disable the POLL registration of ``fd``."""
        self._simple(_DISABLE, _POLL, _fd_of(fd))

    # ----------------------------------------------------------------- TIMER

    def add_timer(self, ident: int, when: Any, *, user: Any = None,
                  oneshot: bool = False, dispatch: bool = False,
                  clock: Clock = Clock.MONOTONIC) -> None:
        """Start timer ``ident`` (a number of your choice).

        ``when`` is either a number of seconds (float) or a
        :class:`datetime.timedelta`: the timer fires every ``when`` seconds,
        or once with ``oneshot=True``; or a :class:`datetime.datetime`: the
        timer fires once at that wall-clock time (``CLOCK_REALTIME``, a naive
        datetime is local time). :attr:`Event.count` is the number of
        expirations since the last delivery.
        """
        event, data = _timer_args(when, clock)
        self._add(_TIMER, _ident_of(ident), event, _req(oneshot, dispatch), data, user, when)

    def modify_timer(self, ident: int, when: Any = None, *, user: Any = _KEEP,
                     oneshot: Optional[bool] = None,
                     dispatch: Optional[bool] = None,
                     clock: Optional[Clock] = None) -> None:
        """Re-arm or change timer ``ident``; arguments left out keep their
        value (an absolute timer that fired can be re-armed with a new
        ``when``)."""
        ident = _ident_of(ident)
        with self._lock:
            reg = self._lookup(_TIMER, ident)
            req = _merge_req(reg.req, oneshot, dispatch, None)
            if when is None:
                event, data = reg.event, reg.data
                if clock is not None and not event & TimerFlag.ABSTIME:
                    event = int(clock)
            else:
                if clock is None:
                    clock = Clock(reg.event & 3) if not reg.event & TimerFlag.ABSTIME else Clock.MONOTONIC
                event, data = _timer_args(when, clock)
        self._modify(_TIMER, ident, event, req, data, user)

    def remove_timer(self, ident: int) -> None:
        """Stop timer ``ident``."""
        self._simple(_REMOVE, _TIMER, _ident_of(ident))

    def enable_timer(self, ident: int) -> None:
        """Enable timer ``ident``."""
        self._simple(_ENABLE, _TIMER, _ident_of(ident))

    def disable_timer(self, ident: int) -> None:
        """Disable timer ``ident`` (expirations are counted, not lost)."""
        self._simple(_DISABLE, _TIMER, _ident_of(ident))

    # ------------------------------------------------------------------ USER

    def add_user(self, ident: int, *, user: Any = None, oneshot: bool = False,
                 dispatch: bool = False) -> None:
        """Register user event ``ident``, fired by :meth:`trigger`.
        :attr:`Event.count` is the number of triggers since the last
        delivery."""
        self._add(_USER, _ident_of(ident), 0, _req(oneshot, dispatch), 0, user, ident)

    def modify_user(self, ident: int, *, user: Any = _KEEP,
                    oneshot: Optional[bool] = None,
                    dispatch: Optional[bool] = None) -> None:
        """Change user event ``ident``; arguments left out keep their value."""
        ident = _ident_of(ident)
        with self._lock:
            req = _merge_req(self._lookup(_USER, ident).req, oneshot, dispatch, None)
        self._modify(_USER, ident, _KEEP, req, _KEEP, user)

    def remove_user(self, ident: int) -> None:
        """Remove user event ``ident``."""
        self._simple(_REMOVE, _USER, _ident_of(ident))

    def enable_user(self, ident: int) -> None:
        """Enable user event ``ident``."""
        self._simple(_ENABLE, _USER, _ident_of(ident))

    def disable_user(self, ident: int) -> None:
        """Disable user event ``ident`` (triggers are counted, not lost)."""
        self._simple(_DISABLE, _USER, _ident_of(ident))

    # ---------------------------------------------------------------- SIGNAL

    def add_signal(self, sig: Union[int, _signal.Signals], *, user: Any = None,
                   oneshot: bool = False, dispatch: bool = False) -> None:
        """Take delivery of signal ``sig`` as events.

        The signal is blocked in the calling thread (libkev requires it; block
        it in every thread, e.g. before starting threads, so that no thread
        receives it instead) and unblocked again when the registration ends,
        unless it was blocked already. The signal is consumed:
        its Python handler does not run. :attr:`Event.count` is the number of
        deliveries since the last event.
        """
        num = _sig_of(sig)

        def prepare(reg: _Reg) -> None:
            reg.blocked = _block_signal(num)

        self._add(_SIGNAL, num, 0, _req(oneshot, dispatch), 0, user,
                  _signal_obj(num), prepare)

    def modify_signal(self, sig: Union[int, _signal.Signals], *, user: Any = _KEEP,
                      oneshot: Optional[bool] = None,
                      dispatch: Optional[bool] = None) -> None:
        """Change the registration of ``sig``; arguments left out keep their
        value."""
        num = _sig_of(sig)
        with self._lock:
            req = _merge_req(self._lookup(_SIGNAL, num).req, oneshot, dispatch, None)
        self._modify(_SIGNAL, num, _KEEP, req, _KEEP, user)

    def remove_signal(self, sig: Union[int, _signal.Signals]) -> None:
        """Stop taking ``sig`` (it is unblocked if this module blocked it)."""
        self._simple(_REMOVE, _SIGNAL, _sig_of(sig))

    def enable_signal(self, sig: Union[int, _signal.Signals]) -> None:
        """Enable the registration of ``sig``."""
        self._simple(_ENABLE, _SIGNAL, _sig_of(sig))

    def disable_signal(self, sig: Union[int, _signal.Signals]) -> None:
        """Disable the registration of ``sig`` (deliveries are counted)."""
        self._simple(_DISABLE, _SIGNAL, _sig_of(sig))

    # ----------------------------------------------------------------- INODE

    def add_inode(self, target: Any, events: int = InodeFlag.ALL, *,
                  user: Any = None, oneshot: bool = False,
                  dispatch: bool = False) -> int:
        """Watch a file or directory for changes.

        ``target`` is a path (:class:`os.PathLike`, str or bytes), which the
        module opens ``O_RDONLY|O_CLOEXEC`` and keeps open while registered,
        or an open fd / file object, which stays yours. ``events`` is an
        :class:`InodeFlag` mask. Returns the fd that identifies the
        registration (the path can be used as well in ``*_inode`` calls).
        """
        if isinstance(target, (str, bytes, os.PathLike)):
            path = os.fsdecode(os.fspath(target))
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

            def prepare(reg: _Reg) -> None:
                reg.owned_fd = fd
                reg.path = path

            self._add(_INODE, fd, int(events), _req(oneshot, dispatch), 0, user,
                      target, prepare)
            return fd
        fd = _fd_of(target)
        self._add(_INODE, fd, int(events), _req(oneshot, dispatch), 0, user, target)
        return fd

    def modify_inode(self, target: Any, events: Optional[int] = None, *,
                     user: Any = _KEEP, oneshot: Optional[bool] = None,
                     dispatch: Optional[bool] = None) -> None:
        """Change an INODE registration (by path or fd); arguments left out
        keep their value."""
        fd = self._key(_INODE, target)
        with self._lock:
            req = _merge_req(self._lookup(_INODE, fd).req, oneshot, dispatch, None)
        self._modify(_INODE, fd, _KEEP if events is None else events, req, _KEEP, user)

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
                 dispatch: bool = False) -> None:
        """Watch process ``pid`` (an int or an object with a ``pid``, such as
        :class:`subprocess.Popen`) for its exit.

        The event's :attr:`Event.status` is the wait status of a child (left
        unreaped: call ``waitpid``/``Popen.wait`` as usual), and the
        registration ends with it.
        """
        self._add(_PROC, _pid_of(pid), int(ProcFlag.EXIT), _req(oneshot, dispatch),
                  0, user, pid)

    def modify_proc(self, pid: Any, *, user: Any = _KEEP,
                    oneshot: Optional[bool] = None,
                    dispatch: Optional[bool] = None) -> None:
        """Change a PROC registration; arguments left out keep their value."""
        ident = _pid_of(pid)
        with self._lock:
            req = _merge_req(self._lookup(_PROC, ident).req, oneshot, dispatch, None)
        self._modify(_PROC, ident, _KEEP, req, _KEEP, user)

    def remove_proc(self, pid: Any) -> None:
        """Stop watching process ``pid``."""
        self._simple(_REMOVE, _PROC, _pid_of(pid))

    def enable_proc(self, pid: Any) -> None:
        """Enable a PROC registration."""
        self._simple(_ENABLE, _PROC, _pid_of(pid))

    def disable_proc(self, pid: Any) -> None:
        """Disable a PROC registration."""
        self._simple(_DISABLE, _PROC, _pid_of(pid))

    # -------------------------------------------------------------- waiting

    def _take(self, max_events: int) -> List[Event]:
        out: List[Event] = []
        with self._lock:
            for ident, typ, mask, req, ret, data, cookie in self._raw.drain(max_events):
                reg = self._by_cookie.get(cookie)
                if reg is None or reg.ident != ident or reg.type != typ:
                    continue  # a removed or replaced registration: stale
                mtype = _MASK_TYPES.get(typ)
                ev = Event(reg.type, ident, mtype(mask) if mtype is not None else mask,
                           ReqFlag(req), RetFlag(ret), data, reg.user, reg.obj)
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
        :class:`KeyboardInterrupt`. :class:`ValueError` if the queue is (or
        gets) closed.
        """
        if max_events < 0:
            raise ValueError("max_events must not be negative")
        deadline = None
        if timeout is not None:
            timeout = float(timeout)
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


def _merge_req(old: int, oneshot: Optional[bool], dispatch: Optional[bool],
               edge: Optional[bool]) -> int:
    req = old
    for flag, value in ((ReqFlag.ONESHOT, oneshot), (ReqFlag.DISPATCH, dispatch),
                        (ReqFlag.ET, edge)):
        if value is None:
            continue
        req = (req | int(flag)) if value else (req & ~int(flag))
    return req


def _timer_args(when: Any, clock: Clock) -> Tuple[int, int]:
    if isinstance(when, _dt.datetime):
        return int(TimerFlag.REALTIME | TimerFlag.ABSTIME), _datetime_to_ns(when)
    return int(Clock(clock)), _seconds_to_ns(when)


def _signal_obj(num: int) -> Any:
    try:
        return _signal.Signals(num)
    except ValueError:
        return num
