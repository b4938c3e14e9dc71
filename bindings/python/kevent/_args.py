# SPDX-License-Identifier: MIT
"""Argument checks shared by kevent.Queue, kevent.KeventSelector and the
asyncio helpers.

One rule everywhere: a bad argument raises, before anything reaches libkev,

- :class:`TypeError` when it has the wrong type,
- :class:`ValueError` when its value is meaningless (negative sizes, fds
  and ids, unknown names, NaN, unknown flag bits),
- :class:`OverflowError` when it is too large for the C field it goes to,

with a message that starts with the argument's name. What only the kernel
or libkev can judge is an :class:`OSError` with its errno.
"""

from __future__ import annotations

import datetime as _dt
import math
import operator
import signal as _signal
from typing import Any, Optional

from . import _kevent as _k

U32 = (1 << 32) - 1
U64 = (1 << 64) - 1
INT_MAX = (1 << 31) - 1
RING_MAX = int(_k.KEVENT_RING_MAX)
PRIO_MAX = int(_k.KEVENT_PRIO_MAX)
PRIO_BOUND_MAX = int(_k.KEVENT_PRIO_BOUND_MAX)

#: Names accepted by ``backend=``.
BACKENDS = {
    "kmod": int(_k.KEVENT_BACKEND_KMOD),
    "uring": int(_k.KEVENT_BACKEND_URING),
    "epoll": int(_k.KEVENT_BACKEND_EPOLL),
}


def integer(name: str, value: Any) -> int:
    """value as an int (bool and objects with __index__ accepted)."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not "
                        f"{type(value).__name__}") from None


def unsigned(name: str, value: Any, limit: int) -> int:
    """An integer in [0, limit]."""
    v = integer(name, value)
    if v < 0:
        raise ValueError(f"{name} must not be negative, not {v}")
    if v > limit:
        raise OverflowError(f"{name} is too large: {v} (at most {limit})")
    return v


def ring_size(value: Any) -> int:
    """``size=`` of Queue and KeventSelector: 0 (libkev's default) up to
    KEVENT_RING_MAX entries."""
    v = integer("size", value)
    if v < 0:
        raise ValueError(f"size must not be negative, not {v}")
    if v > RING_MAX:
        if v > U32:
            raise OverflowError(f"size is too large: {v} "
                                f"(at most {RING_MAX} entries)")
        raise ValueError(f"size must be at most {RING_MAX} entries "
                         f"(KEVENT_RING_MAX), not {v}")
    return v


def backend_flags(value: Optional[str]) -> int:
    """``backend=`` of Queue and KeventSelector: None or a backend name."""
    if value is None:
        return int(_k.KEVENT_BACKEND_DEFAULT)
    if not isinstance(value, str):
        raise TypeError(f"backend must be a str or None, not "
                        f"{type(value).__name__}")
    try:
        return BACKENDS[value]
    except KeyError:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)} or "
                         f"None, not {value!r}") from None


def fd_of(obj: Any, name: str = "fd") -> int:
    """The fd of an int or of an object with a fileno() method."""
    if isinstance(obj, int):
        fd = obj
    else:
        try:
            fd = int(obj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"{name} must be a file descriptor or have a "
                             f"fileno() method: {obj!r}") from None
    if fd < 0:
        raise ValueError(f"{name}: invalid file descriptor: {fd}")
    if fd > INT_MAX:
        raise OverflowError(f"{name}: file descriptor out of range: {fd}")
    return fd


def ident(value: Any, name: str = "ident") -> int:
    """A caller-chosen 64-bit id (timers, user events)."""
    return unsigned(name, value, U64)


def prio(value: Any, name: str = "prio") -> int:
    """A priority level (``prio=``): 0 (the default, the lowest) to
    KEVENT_PRIO_MAX."""
    v = integer(name, value)
    if v > U32:
        raise OverflowError(f"{name} is too large: {v} (at most {PRIO_MAX})")
    if not 0 <= v <= PRIO_MAX:
        raise ValueError(f"{name} must be 0 to {PRIO_MAX} (kevent.PRIO_MAX), "
                         f"not {v}")
    return v


def sig(value: Any, name: str = "sig") -> int:
    """A signal number that a queue can take."""
    num = integer(name, value)
    if not 0 < num < _signal.NSIG:
        raise ValueError(f"{name}: signal number out of range: {num} "
                         f"(1 to {_signal.NSIG - 1})")
    if num in (_signal.SIGKILL, _signal.SIGSTOP):
        raise ValueError(f"{name}: {_signal.Signals(num).name} cannot be "
                         "caught, blocked or watched")
    return num


def pid(value: Any, name: str = "pid") -> int:
    """A process id: an int or an object with a ``pid`` attribute."""
    if not isinstance(value, int) and hasattr(value, "pid"):
        value = value.pid
    num = integer(name, value)
    if num <= 0:
        raise ValueError(f"{name} must be a positive process id, not {num}")
    if num > INT_MAX:
        raise OverflowError(f"{name} is too large: {num}")
    return num


def mask(name: str, value: Any, allowed: int) -> int:
    """A flag mask with no bit outside allowed."""
    v = integer(name, value)
    if v < 0:
        raise ValueError(f"{name} must not be negative, not {v}")
    if v > U32:
        raise OverflowError(f"{name} is too large: {v:#x}")
    if v & ~allowed:
        raise ValueError(f"{name} has unknown bits {v & ~allowed:#x} "
                         f"(known: {allowed:#x})")
    return v


def real(name: str, value: Any, what: str) -> float:
    """value as a float: an int, a float or anything with __float__ (not
    a string)."""
    if not isinstance(value, (str, bytes, bytearray)):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
        except OverflowError:
            raise OverflowError(f"{name} is too large: {value!r}") from None
    raise TypeError(f"{name} must be {what}, not {type(value).__name__}")


def seconds_to_ns(name: str, seconds: Any) -> int:
    """An interval: seconds (int, float) or a datetime.timedelta."""
    if isinstance(seconds, _dt.timedelta):
        ns = (seconds.days * 86400 + seconds.seconds) * 10**9 \
            + seconds.microseconds * 1000
    else:
        f = real(name, seconds,
                 "a number of seconds, a timedelta or a datetime")
        if math.isnan(f):
            raise ValueError(f"{name} must not be NaN")
        if math.isinf(f) or f * 1e9 > U64:
            raise OverflowError(f"{name} is too large: {seconds!r} seconds "
                                f"(at most {U64 / 1e9:.0f}, ~584 years)")
        ns = round(f * 1e9)
    if ns < 0:
        raise ValueError(f"{name} must not be negative: {seconds!r}")
    if ns > U64:
        raise OverflowError(f"{name} is too large: {seconds!r}")
    return ns


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def datetime_to_ns(name: str, when: _dt.datetime) -> int:
    """A wall-clock deadline as ns since the epoch."""
    if when.tzinfo is None:
        # naive datetimes are local time, as datetime.timestamp() says
        whole = when.replace(microsecond=0).timestamp()
        ns = int(whole) * 10**9 + when.microsecond * 1000
    else:
        delta = when - _EPOCH
        ns = (delta.days * 86400 + delta.seconds) * 10**9 \
            + delta.microseconds * 1000
    if ns < 0:
        raise ValueError(f"{name} must not be before 1970: {when!r}")
    if ns > U64:
        raise OverflowError(f"{name} is too far in the future: {when!r}")
    return ns


def timeout(value: Any, name: str = "timeout") -> Optional[float]:
    """A wait's timeout: None (forever) or seconds (<= 0 polls)."""
    if value is None:
        return None
    f = real(name, value, "a number of seconds or None")
    if math.isnan(f):
        raise ValueError(f"{name} must not be NaN")
    return f


def flag(name: str, value: Any) -> bool:
    """A keyword flag: a bool (or 0/1)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
