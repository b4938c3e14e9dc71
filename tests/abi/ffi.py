#!/usr/bin/python3
"""ffi.py LIBRARY: the exported copies of the inline ring functions work
from a language without a C compiler (ctypes), with the same semantics as
the inline versions: a queue is created, three user events are triggered
and the ring is consumed through kevent_ring_count/empty/peek/entries/
advance/consume and ukevent_dequeue, all looked up by name.  Prints TAP."""
import ctypes
import errno
import sys

lib = ctypes.CDLL(sys.argv[1], use_errno=True)


class ukevent(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("type", ctypes.c_uint32),
                ("event", ctypes.c_uint32), ("req_flags", ctypes.c_uint32),
                ("ret_flags", ctypes.c_uint32), ("data", ctypes.c_uint64),
                ("ret_data", ctypes.c_uint64), ("user", ctypes.c_uint64),
                ("reserved", ctypes.c_uint64 * 2)]


class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


P = ctypes.c_void_p
EV = ctypes.POINTER(ukevent)
for name, res, args in [
        ("kevent_init", ctypes.c_int, [ctypes.POINTER(P), ctypes.c_uint, ctypes.c_uint]),
        ("kevent_ctl", ctypes.c_int, [ctypes.c_int, ctypes.c_uint, ctypes.c_uint, EV]),
        ("kevent_wait", ctypes.c_int, [ctypes.c_int, ctypes.c_uint, ctypes.POINTER(timespec)]),
        ("kevent_close", ctypes.c_int, [ctypes.c_int]),
        ("kevent_ring_count", ctypes.c_uint, [P]),
        ("kevent_ring_empty", ctypes.c_int, [P]),
        ("kevent_ring_peek", EV, [P]),
        ("kevent_ring_entries", EV, [P]),
        ("kevent_ring_advance", None, [P, ctypes.c_uint]),
        ("kevent_ring_consume", ctypes.c_int, [P, EV]),
        ("ukevent_dequeue", ctypes.c_int, [ctypes.c_int, P, EV, ctypes.POINTER(timespec)])]:
    f = getattr(lib, name)
    f.restype, f.argtypes = res, args

KEVENT_USER, ADD, READY = 2, 0, 5
checks = []


def check(ok, what):
    checks.append((bool(ok), what))


ring = P()
fd = lib.kevent_init(ctypes.byref(ring), 8, 0)
check(fd >= 0, "kevent_init through ctypes")
evs = (ukevent * 3)()
for i in range(3):
    evs[i].type, evs[i].id, evs[i].user = KEVENT_USER, i, 100 + i
check(lib.kevent_ctl(fd, ADD, 3, evs) == 3, "kevent_ctl ADD x3")
check(lib.kevent_ring_empty(ring) == 1, "kevent_ring_empty on an empty ring")
check(not lib.kevent_ring_peek(ring), "kevent_ring_peek gives NULL when empty")
check(lib.kevent_ctl(fd, READY, 3, evs) == 3, "kevent_ctl READY x3")
check(lib.kevent_wait(fd, 3, ctypes.byref(timespec(1, 0))) == 3, "kevent_wait min_nr 3")
check(lib.kevent_ring_count(ring) == 3, "kevent_ring_count is 3")
p = lib.kevent_ring_peek(ring)
check(p and p.contents.id == 0 and p.contents.user == 100, "kevent_ring_peek sees id 0")
first = ctypes.addressof(lib.kevent_ring_entries(ring).contents)
check(ctypes.addressof(p.contents) == first, "peek points into kevent_ring_entries")
lib.kevent_ring_advance(ring, 1)
out = ukevent()
check(lib.kevent_ring_consume(ring, ctypes.byref(out)) == 1 and out.id == 1,
      "kevent_ring_consume copies id 1")
check(lib.ukevent_dequeue(fd, ring, ctypes.byref(out), ctypes.byref(timespec(1, 0))) == 0
      and out.id == 2 and out.ret_data == 1, "ukevent_dequeue takes id 2")
ctypes.set_errno(0)
r = lib.ukevent_dequeue(fd, ring, ctypes.byref(out), ctypes.byref(timespec(0, 1000000)))
check(r == -1 and ctypes.get_errno() == errno.ETIMEDOUT, "ukevent_dequeue times out with ETIMEDOUT")
check(lib.kevent_ring_empty(ring) == 1, "the ring is empty again")
check(lib.kevent_close(fd) == 0, "kevent_close")

print("1..%d" % len(checks))
for i, (ok, what) in enumerate(checks, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", i, what))
sys.exit(0 if all(ok for ok, _ in checks) else 1)
