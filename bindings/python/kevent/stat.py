# SPDX-License-Identifier: MIT
"""kevent.stat: the statistics of the kevent queues of a running process.

``python3 -m kevent.stat [--json] [-i SECONDS [-c COUNT]] PID`` does what
kevent-stat(1) does, in Python, with the same rules, output and exit
statuses: it finds the rings of process PID in ``/proc/PID/maps`` (a
mapping of ``/dev/kevent`` for the kmod backend; a page of anonymous
private memory whose header has the signature of a ring for the user-space
backends), reads them through ``/proc/PID/mem`` and prints their counters
and latency histograms (kevent(7), "Statistics").

The functions are usable on their own: :func:`scan` returns the rings of a
process as :class:`Ring` objects, whose ``stats`` is a :class:`kevent.Stats`;
:func:`quantile` estimates a percentile from a histogram.

>>> import os, kevent, kevent.stat
>>> with kevent.Queue() as q:
...     q.stats_enabled = True
...     q.add_user(1)
...     q.trigger(1)
...     _ = q.wait(1.0)
...     rings = [r for r in kevent.stat.scan(os.getpid())
...              if r.stats.enabled]
>>> len(rings), rings[0].stats.published, sum(rings[0].stats.publish_to_consume)
(1, 1, 1)
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import struct
import sys
import time
from typing import IO, Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import _kevent as _k
from ._queue import Stats

__all__ = ["Ring", "scan", "quantile", "bucket_range", "format_ns", "main"]

BUCKETS = int(_k.KEVENT_STATS_BUCKETS)
_ABI_VERSION = 1                    # KEVENT_ABI_VERSION
_ENTRY_SIZE = 64                    # sizeof(struct ukevent)
_ENTRIES_OFFSET = 256               # KEVENT_RING_ENTRIES_OFFSET
_RING_MAX = int(_k.KEVENT_RING_MAX)
_RING_STATS = int(_k.KEVENT_RING_STATS)
_STATS_BYTES = 2 * BUCKETS * 8      # sizeof(struct kevent_stats)
_MAX_SCAN_BYTES = 4 << 30           # larger anonymous mappings: not searched
_PAGE = os.sysconf("SC_PAGE_SIZE")

# struct kevent_ring (kevent/abi.h): line 0 (producer), 1 (consumer),
# 2 (read-only after creation, but flags).
_LINE0 = struct.Struct("=II5Q")     # kidx, pad, published .. sleeps
_LINE2 = struct.Struct("=7I")       # size, mask, version, entry_size,
                                    # entries_offset, flags, stats_offset
_UIDX = 64
_LINE2_AT = 128


class Ring(NamedTuple):
    """One ring found by :func:`scan`."""

    address: int            #: where it is mapped in the process
    backend: str            #: ``"kmod"`` or ``"user"`` (epoll or uring)
    size: int               #: entries
    pending: int            #: entries published and not yet consumed
    has_stats: bool         #: it has a statistics area (libkev 1.2)
    stats: Stats            #: counters and histograms


def _ring_bytes(size: int) -> int:
    return _ENTRIES_OFFSET + size * _ENTRY_SIZE


def _valid(line2: Tuple[int, ...], avail: int) -> bool:
    """The signature of a ring header (line 2), for a ring with avail
    bytes of mapping from its start on: the rules of kevent-stat(1)."""
    size, mask, version, entry_size, entries_offset, _flags, stats_off = line2
    if (version != _ABI_VERSION or entry_size != _ENTRY_SIZE
            or entries_offset != _ENTRIES_OFFSET):
        return False
    if size == 0 or size > _RING_MAX or size & (size - 1) or mask != size - 1:
        return False
    if avail < _ring_bytes(size):
        return False
    if stats_off and (stats_off != _ring_bytes(size)
                      or avail < stats_off + _STATS_BYTES):
        return False
    return True


_FATAL = (errno.ESRCH, errno.EPERM, errno.EACCES, errno.ENOMEM)


class _Reader:
    """Reads a process's memory through /proc/PID/mem."""

    def __init__(self, pid: int) -> None:
        self.fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)

    def read(self, addr: int, n: int) -> Optional[bytes]:
        """n bytes at addr, or None where nothing is mapped."""
        try:
            b = os.pread(self.fd, n, addr)
        except OSError as e:
            if e.errno in (errno.EIO, errno.EFAULT):
                return None
            raise
        return b if len(b) == n else None

    def close(self) -> None:
        os.close(self.fd)


def _read_ring(mem: _Reader, addr: int, avail: int, kmod: bool
               ) -> Optional[Ring]:
    head = mem.read(addr, _ENTRIES_OFFSET)
    if head is None:
        return None
    line2 = _LINE2.unpack_from(head, _LINE2_AT)
    if not _valid(line2, avail):
        return None
    size, flags, stats_off = line2[0], line2[5], line2[6]
    kidx, _pad, published, deferred, coalesced, waits, sleeps = \
        _LINE0.unpack_from(head, 0)
    uidx = struct.unpack_from("=I", head, _UIDX)[0]
    f2p = p2c = (0,) * BUCKETS
    if stats_off:
        raw = mem.read(addr + stats_off, _STATS_BYTES)
        if raw is None:
            return None
        h = struct.unpack(f"={2 * BUCKETS}Q", raw)
        f2p, p2c = tuple(h[:BUCKETS]), tuple(h[BUCKETS:])
    st = Stats(published, deferred, coalesced, waits, sleeps,
               bool(flags & _RING_STATS), f2p, p2c)
    return Ring(addr, "kmod" if kmod else "user", size,
                (kidx - uidx) & 0xffffffff, bool(stats_off), st)


def _present_pages(pagemap: Optional[int], start: int, end: int
                   ) -> List[int]:
    """Pages of [start, end) in memory or swapped out (every page if
    pagemap cannot be read)."""
    if pagemap is None:
        return list(range(start, end, _PAGE))
    out: List[int] = []
    a = start
    while a < end:
        n = min((end - a) // _PAGE, 8192)
        try:
            raw = os.pread(pagemap, n * 8, a // _PAGE * 8)
        except OSError as e:
            if e.errno in _FATAL:
                raise
            return out
        if not raw:
            return out
        n = len(raw) // 8
        for i, v in enumerate(struct.unpack(f"={n}Q", raw[:n * 8])):
            if v & (3 << 62):       # present, swapped
                out.append(a + i * _PAGE)
        a += n * _PAGE
    return out


def scan(pid: int) -> List[Ring]:
    """The kevent rings mapped in process pid, in address order, with their
    statistics.  :class:`ProcessLookupError` if there is no such process
    (or it exits meanwhile), :class:`PermissionError` without the ptrace
    permission to read it, another :class:`OSError` if reading fails.
    Anonymous mappings larger than 4 GiB are not searched (kevent-stat(1))."""
    return _scan(pid)[0]


def _scan(pid: int) -> Tuple[List[Ring], int]:
    try:
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read().splitlines()
        mem = _Reader(pid)
    except FileNotFoundError:
        raise ProcessLookupError(errno.ESRCH, f"no process {pid}") from None
    try:
        pagemap: Optional[int] = os.open(f"/proc/{pid}/pagemap",
                                         os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        pagemap = None
    rings: List[Ring] = []
    skipped = 0
    try:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) < 5:
                continue
            lo, _, hi = parts[0].partition("-")
            start, end = int(lo, 16), int(hi, 16)
            perms, off, inode = parts[1], int(parts[2], 16), int(parts[4])
            name = parts[5].strip() if len(parts) > 5 else ""
            if end <= start or len(perms) < 4 or perms[0] != "r":
                continue
            if name == "/dev/kevent" and perms[3] == "s" and off == 0:
                r = _read_ring(mem, start, end - start, True)
                if r:
                    rings.append(r)
                continue
            if perms[3] != "p" or inode != 0 or (
                    name and not name.startswith("[anon:")):
                continue
            if end - start > _MAX_SCAN_BYTES:
                skipped += 1
                continue
            nxt = start
            for page in _present_pages(pagemap, start, end):
                if page < nxt:
                    continue
                b = mem.read(page + _LINE2_AT, _LINE2.size)
                if b is None or not _valid(_LINE2.unpack(b), end - page):
                    continue
                r = _read_ring(mem, page, end - page, False)
                if r:
                    rings.append(r)
                    nxt = page + (_ring_bytes(r.size) +
                                  (_STATS_BYTES if r.has_stats else 0))
    except OSError as e:
        if e.errno == errno.ESRCH:
            raise ProcessLookupError(errno.ESRCH,
                                     f"process {pid} exited") from None
        raise
    finally:
        mem.close()
        if pagemap is not None:
            os.close(pagemap)
    return rings, skipped


# ------------------------------------------------------------------ numbers

def bucket_range(i: int) -> Tuple[int, Optional[int]]:
    """The latencies (ns) of histogram bucket i: ``(lo, hi)``, hi excluded;
    bucket 0 starts at 0, and the last has no end (``hi`` None)."""
    if not 0 <= i < BUCKETS:
        raise ValueError(f"i: 0 to {BUCKETS - 1}, not {i}")
    return (0 if i == 0 else 1 << i), (1 << (i + 1) if i + 1 < BUCKETS
                                       else None)


def _quantile(hist: Sequence[int], q: float) -> Tuple[Optional[float], bool]:
    total = sum(hist)
    if not total:
        return None, False
    target = q * total
    cum = 0
    for i, c in enumerate(hist):
        if not c:
            continue
        if cum + c >= target:
            lo, hi = bucket_range(i)
            if hi is None:
                return float(lo), True
            return lo + (hi - lo) * (target - cum) / c, False
        cum += c
    return None, False


def quantile(hist: Sequence[int], q: float) -> Optional[float]:
    """The q-quantile (0 < q <= 1) of a histogram, in ns, interpolated
    linearly inside its bucket (the last bucket's lower bound there); None
    for an empty histogram.

    >>> from kevent.stat import quantile
    >>> quantile([0] * 10 + [100] + [0] * 21, 0.5)   # 1024-2048 ns
    1536.0
    """
    return _quantile(hist, q)[0]


_UNITS = ("ns", "us", "ms", "s")


def _unit(ns: float) -> int:
    u = 0
    while u < 3 and ns >= 999.5:
        ns /= 1000
        u += 1
    return u


def _num(ns: float, u: int) -> str:
    v = ns / 1000 ** u
    decimals = 0 if u == 0 or v >= 99.95 else 1 if v >= 9.995 else 2
    return f"{v:.{decimals}f}"


def format_ns(ns: float) -> str:
    """A duration as kevent-stat prints it: whole nanoseconds, else three
    significant digits in us, ms or s.

    >>> from kevent.stat import format_ns
    >>> format_ns(512), format_ns(1024), format_ns(2 ** 31)
    ('512 ns', '1.02 us', '2.15 s')
    """
    u = _unit(ns)
    return f"{_num(ns, u)} {_UNITS[u]}"


def _bucket_label(i: int) -> str:
    lo, hi = bucket_range(i)
    if hi is None:
        return ">= " + format_ns(lo)
    if lo == 0 or _unit(lo) == _unit(hi):
        return f"{_num(lo, _unit(hi))}-{format_ns(hi)}"
    return f"{format_ns(lo)}-{format_ns(hi)}"


def _ratio(a: int, b: int) -> Optional[float]:
    return a / b if b else None


# ------------------------------------------------------------------- output

def _print_hist(out: IO[str], title: str, h: Sequence[int]) -> None:
    total = sum(h)
    if not total:
        print(f"  {title}: no entries", file=out)
        return
    p50, o50 = _quantile(h, 0.50)
    p99, o99 = _quantile(h, 0.99)
    assert p50 is not None and p99 is not None
    print(f"  {title}: {total} entries, p50 {'>= ' if o50 else ''}"
          f"{format_ns(p50)}, p99 {'>= ' if o99 else ''}{format_ns(p99)}",
          file=out)
    for i, c in enumerate(h):
        if c:
            print(f"    {_bucket_label(i):<16} {c:12d} "
                  f"{100.0 * c / total:6.1f}%", file=out)


def _print_ring(out: IO[str], r: Ring) -> None:
    st = r.stats
    where = ("kmod backend (/dev/kevent)" if r.backend == "kmod"
             else "user-space backend (epoll or uring)")
    print(f"queue at {r.address:#x}: {where}, {r.size} entries, "
          f"{r.pending} in the ring", file=out)
    print(f"  {'published':<12} {st.published:12d}", file=out)
    d = _ratio(st.deferred, st.published)
    print(f"  {'deferred':<12} {st.deferred:12d}" +
          (f"  {100 * d:.1f}% of published" if d is not None else ""),
          file=out)
    print(f"  {'coalesced':<12} {st.coalesced:12d}", file=out)
    d = _ratio(st.published, st.waits)
    print(f"  {'waits':<12} {st.waits:12d}" +
          (f"  {d:.2f} entries per kevent_wait" if d is not None else ""),
          file=out)
    d = _ratio(st.sleeps, st.waits)
    print(f"  {'sleeps':<12} {st.sleeps:12d}" +
          (f"  {100 * d:.1f}% of waits slept" if d is not None else ""),
          file=out)
    if not r.has_stats:
        print(f"  {'statistics':<12} {'n/a':>12}  (no histograms: the "
              "library or module predates libkev 1.2)", file=out)
        return
    print(f"  {'statistics':<12} {'on' if st.enabled else 'off':>12}",
          file=out)
    if (not st.enabled and not sum(st.fire_to_publish)
            and not sum(st.publish_to_consume)):
        return
    _print_hist(out, "fire to publish", st.fire_to_publish)
    _print_hist(out, "publish to consume", st.publish_to_consume)


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().rstrip(b"\n").decode("latin-1")
    except OSError:
        return ""


def _ring_json(r: Ring, base: Optional[Ring] = None) -> Dict[str, Any]:
    st = r.stats
    v = [st.published, st.deferred, st.coalesced, st.waits, st.sleeps]
    f2p, p2c = list(st.fire_to_publish), list(st.publish_to_consume)
    if base is not None:
        b = base.stats
        v = [x - y for x, y in zip(v, [b.published, b.deferred, b.coalesced,
                                       b.waits, b.sleeps])]
        f2p = [x - y for x, y in zip(f2p, b.fire_to_publish)]
        p2c = [x - y for x, y in zip(p2c, b.publish_to_consume)]
    d: Dict[str, Any] = {"address": f"{r.address:#x}", "backend": r.backend,
                         "size": r.size, "pending": r.pending}
    d.update(zip(("published", "deferred", "coalesced", "waits", "sleeps"),
                 v))
    d["statistics"] = st.enabled if r.has_stats else None
    d["entries_per_wait"] = _ratio(v[0], v[3])
    d["slept_share"] = _ratio(v[4], v[3])
    d["deferred_share"] = _ratio(v[1], v[0])
    for name, h in (("fire_to_publish", f2p), ("publish_to_consume", p2c)):
        d[name] = h if r.has_stats else None
        d[name + "_p50_ns"] = quantile(h, 0.5) if r.has_stats else None
        d[name + "_p99_ns"] = quantile(h, 0.99) if r.has_stats else None
    return d


def _same(rings: List[Ring], r: Ring) -> Optional[Ring]:
    for o in rings:
        if (o.address == r.address and o.backend == r.backend
                and o.size == r.size and o.has_stats == r.has_stats
                and o.stats.published <= r.stats.published
                and o.stats.waits <= r.stats.waits):
            return o
    return None


def _interval_text(out: IO[str], cur: List[Ring], prev: List[Ring],
                   secs: float) -> None:
    stamp = time.strftime("%H:%M:%S")
    if not cur:
        print(f"{stamp} no kevent queue", file=out)
    for r in cur:
        o = _same(prev, r)
        if o is None:
            print(f"{stamp} {r.address:#x}: new queue, {r.stats.published} "
                  "published", file=out)
            continue
        s, b = r.stats, o.stats
        pub, waits = s.published - b.published, s.waits - b.waits
        sleeps, dfr = s.sleeps - b.sleeps, s.deferred - b.deferred
        line = (f"{stamp} {r.address:#x}: {pub} published "
                f"({pub / secs:.1f}/s), {waits} waits")
        if waits:
            line += (f" ({pub / waits:.2f} per wait, "
                     f"{100 * sleeps / waits:.1f}% slept)")
        line += f", {dfr} deferred"
        if pub:
            line += f" ({100 * dfr / pub:.1f}%)"
        line += f", {s.coalesced - b.coalesced} coalesced"
        if r.has_stats:
            for title, h1, h0 in (
                    ("fire to publish", s.fire_to_publish, b.fire_to_publish),
                    ("publish to consume", s.publish_to_consume,
                     b.publish_to_consume)):
                h = [x - y for x, y in zip(h1, h0)]
                if sum(h):
                    line += (f"; {title} p50 {format_ns(quantile(h, .5) or 0)}"
                             f", p99 {format_ns(quantile(h, .99) or 0)}")
            if not s.enabled:
                line += "; statistics off"
        print(line, file=out)
    for o in prev:
        if _same(cur, o) is None:
            print(f"{stamp} {o.address:#x}: closed", file=out)


def _err(msg: str) -> None:
    sys.stdout.flush()
    print(f"kevent.stat: {msg}", file=sys.stderr)


def _scan_error(pid: int, e: OSError) -> int:
    if isinstance(e, ProcessLookupError) or e.errno in (errno.ENOENT,
                                                        errno.ESRCH):
        _err(f"no process {pid} (or it exited)")
    elif e.errno in (errno.EPERM, errno.EACCES):
        _err(f"cannot read process {pid}: {os.strerror(e.errno)}: need the "
             "same user and ptrace permission (see ptrace(2), Yama)")
    else:
        _err(f"cannot read process {pid}: {e.strerror or e}")
    return 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:   # usage errors: status 2
        self.print_usage(sys.stderr)
        _err(message)
        raise SystemExit(2)


def _pid(s: str) -> int:
    if not s.isdigit() or not 0 < int(s) <= 2 ** 31 - 1:
        raise argparse.ArgumentTypeError(f"'{s}' is not a process id")
    return int(s)


def _interval(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        v = -1.0
    if not 0.01 <= v <= 86400:
        raise argparse.ArgumentTypeError(
            f"-i: an interval of 0.01 to 86400 seconds, not '{s}'")
    return v


def _count(s: str) -> int:
    if not s.isdigit() or int(s) < 1:
        raise argparse.ArgumentTypeError(f"-c: a count of at least 1, not '{s}'")
    return int(s)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python3 -m kevent.stat``: the command line of kevent-stat(1).
    Returns the exit status."""
    p = _Parser(prog="python3 -m kevent.stat",
                description="Print the statistics of the kevent queues of "
                "process PID: the ring counters and latency histograms "
                "(kevent-stat(1)).")
    p.add_argument("-j", "--json", action="store_true", help="JSON output")
    p.add_argument("-i", "--interval", type=_interval, metavar="SECONDS",
                   help="then every SECONDS, what changed")
    p.add_argument("-c", "--count", type=_count, metavar="COUNT",
                   help="stop after COUNT intervals")
    p.add_argument("pid", type=_pid, metavar="PID")
    a = p.parse_args(argv)
    if a.count and not a.interval:
        p.error("-c needs -i")
    out = sys.stdout
    try:
        cur, skipped = _scan(a.pid)
    except OSError as e:
        return _scan_error(a.pid, e)
    comm = _comm(a.pid)
    if a.json:
        doc = {"pid": a.pid, "comm": comm,
               "queues": [_ring_json(r) for r in cur]}
        print(json.dumps(doc) if a.interval else json.dumps(doc, indent=2),
              file=out)
    elif not cur:
        print(f"process {a.pid} ({comm}): no kevent queue", file=out)
    else:
        print(f"process {a.pid} ({comm}): {len(cur)} kevent queue"
              f"{'' if len(cur) == 1 else 's'}", file=out)
        for r in cur:
            print(file=out)
            _print_ring(out, r)
    if skipped:
        _err(f"note: {skipped} anonymous mapping{'' if skipped == 1 else 's'}"
             " larger than 4 GiB not searched")
    out.flush()
    if not a.interval:
        return 0
    if not a.json:
        print(file=out)
    nxt = time.monotonic()
    k = 0
    while a.count is None or k < a.count:
        k += 1
        nxt += a.interval
        time.sleep(max(0.0, nxt - time.monotonic()))
        prev = cur
        try:
            cur = scan(a.pid)
        except ProcessLookupError:
            _err(f"process {a.pid} exited")
            return 0
        except OSError as e:
            return _scan_error(a.pid, e)
        if a.json:
            qs = []
            for r in cur:
                o = _same(prev, r)
                d = _ring_json(r, o)
                if o is None:
                    d["new"] = True
                qs.append(d)
            closed = [f"{o.address:#x}" for o in prev if _same(cur, o) is None]
            print(json.dumps({"pid": a.pid, "time": round(time.time(), 3),
                              "interval": a.interval, "queues": qs,
                              "closed": closed}), file=out)
        else:
            _interval_text(out, cur, prev, a.interval)
        out.flush()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
