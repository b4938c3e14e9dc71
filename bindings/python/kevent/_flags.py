# SPDX-License-Identifier: MIT
"""Enumerations of the kevent ABI (numeric values come from <kevent/abi.h>)."""

from __future__ import annotations

import enum

from . import _kevent as _k

__all__ = [
    "EventType",
    "PollFlag",
    "Clock",
    "TimerFlag",
    "InodeFlag",
    "ProcFlag",
    "ReqFlag",
    "RetFlag",
]


class EventType(enum.IntEnum):
    """The source of an event (``struct ukevent.type``)."""

    POLL = _k.KEVENT_POLL
    """File descriptor readiness; the id is the fd."""
    TIMER = _k.KEVENT_TIMER
    """Relative, periodic or absolute timer; the id is caller-chosen."""
    USER = _k.KEVENT_USER
    """User notification fired by :meth:`Queue.trigger`."""
    SIGNAL = _k.KEVENT_SIGNAL
    """Signal delivery (the signal is consumed); the id is the signal number."""
    INODE = _k.KEVENT_INODE
    """Changes to a file or directory; the id is an open fd of it."""
    PROC = _k.KEVENT_PROC
    """Process exit; the id is the pid."""


class PollFlag(enum.IntFlag):
    """Readiness mask of :attr:`EventType.POLL` (equal to ``select.POLLIN`` ...)."""

    IN = _k.KEVENT_POLL_IN
    """Data to read."""
    PRI = _k.KEVENT_POLL_PRI
    """Urgent (out-of-band) data to read."""
    OUT = _k.KEVENT_POLL_OUT
    """Writing will not block."""
    ERR = _k.KEVENT_POLL_ERR
    """Error condition (always reported)."""
    HUP = _k.KEVENT_POLL_HUP
    """Hang up (always reported)."""
    RDHUP = _k.KEVENT_POLL_RDHUP
    """The peer closed its writing end of a stream socket."""


class Clock(enum.IntEnum):
    """The clock a timer runs on."""

    MONOTONIC = _k.KEVENT_TIMER_MONOTONIC
    """``CLOCK_MONOTONIC`` (the default)."""
    REALTIME = _k.KEVENT_TIMER_REALTIME
    """``CLOCK_REALTIME`` (wall clock; used for :class:`datetime.datetime`)."""
    BOOTTIME = _k.KEVENT_TIMER_BOOTTIME
    """``CLOCK_BOOTTIME`` (monotonic, counts suspend)."""


class TimerFlag(enum.IntFlag):
    """The event word of :attr:`EventType.TIMER`: a clock plus flags."""

    REALTIME = _k.KEVENT_TIMER_REALTIME
    """The timer runs on ``CLOCK_REALTIME``."""
    BOOTTIME = _k.KEVENT_TIMER_BOOTTIME
    """The timer runs on ``CLOCK_BOOTTIME``."""
    ABSTIME = _k.KEVENT_TIMER_ABSTIME
    """``data`` is an absolute deadline rather than an interval."""


class InodeFlag(enum.IntFlag):
    """Change mask of :attr:`EventType.INODE`."""

    CREATE = _k.KEVENT_INODE_CREATE
    """An entry was created in the watched directory."""
    DELETE = _k.KEVENT_INODE_DELETE
    """An entry was deleted from the watched directory."""
    MODIFY = _k.KEVENT_INODE_MODIFY
    """The file's contents were written."""
    ATTRIB = _k.KEVENT_INODE_ATTRIB
    """Metadata changed."""
    MOVE = _k.KEVENT_INODE_MOVE
    """An entry was moved into or out of the watched directory."""
    DELETE_SELF = _k.KEVENT_INODE_DELETE_SELF
    """The watched object itself was deleted."""
    MOVE_SELF = _k.KEVENT_INODE_MOVE_SELF
    """The watched object itself was moved."""
    ALL = _k.KEVENT_INODE_MASK
    """Every change above."""


class ProcFlag(enum.IntFlag):
    """Mask of :attr:`EventType.PROC`."""

    EXIT = _k.KEVENT_PROC_EXIT
    """The process exited."""


class ReqFlag(enum.IntFlag):
    """Registration flags (``struct ukevent.req_flags``)."""

    ONESHOT = _k.KEVENT_REQ_ONESHOT
    """Removed after one delivery."""
    ET = _k.KEVENT_REQ_ET
    """Edge-triggered (POLL only): delivered again only after new activity."""
    DISPATCH = _k.KEVENT_REQ_DISPATCH
    """Disabled after each delivery until :meth:`Queue.enable`."""


class RetFlag(enum.IntFlag):
    """Delivery flags (``struct ukevent.ret_flags``)."""

    ERROR = _k.KEVENT_RET_ERROR
    """(control only) the entry failed."""
    REMOVED = _k.KEVENT_RET_REMOVED
    """The registration ended with this delivery."""
    GONE = _k.KEVENT_RET_GONE
    """The watched object no longer exists."""
    NOSTATUS = _k.KEVENT_RET_NOSTATUS
    """PROC: not a child of the caller; no wait status."""
    OVERFLOW = _k.KEVENT_RET_OVERFLOW
    """INODE: the kernel dropped events."""
