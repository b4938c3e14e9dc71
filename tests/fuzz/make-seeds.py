#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz_kevent (tests/fuzz/corpus/).

Each seed is a hand-written program in the harness's byte code: the
defects of issue 15 as they were found, and the paths around them, so that
the fuzzer starts from inputs that reach deep states (timers moved between
clocks, numbers closed and reused, a ring of one under an always-ready
file, backlogs, DISPATCH, nesting, signals, file changes).  The encoding
is the one LLVMFuzzerTestOneInput decodes; keep the two in step.

    tests/fuzz/make-seeds.py [DIR]
"""
import os
import struct
import sys

# ring sizes: index into {1, 2, 4, 8, 16, 64}
SZ = {1: 0, 2: 1, 4: 2, 8: 3, 16: 4, 64: 5}
# pool slots: 0 pipe, 1 socket, 2 eventfd, 3 file, 4 dir, 5 pipe, ...
PIPE, SOCK, EVFD, FILE, DIR = 0, 1, 2, 3, 4
POLL, TIMER, USER, SIGNAL, INODE, PROC = range(6)
ADD, REMOVE, MODIFY, ENABLE, DISABLE, READY = range(6)
ONESHOT, ET, DISPATCH = 1, 2, 4


def u64(v):
    return struct.pack("<Q", v)


class Prog:
    def __init__(self, *sizes):
        self.b = bytearray(SZ[s] for s in sizes)

    # ids (pick_id)
    @staticmethod
    def obj(slot):
        return bytes([0, slot])          # a pool object (or its old number)

    @staticmethod
    def queue(i):
        return bytes([3, i])             # a queue's fd

    @staticmethod
    def small(v):
        return bytes([4, v])             # v % 16 (signal/pid: special)

    @staticmethod
    def huge(v):
        return bytes([6]) + u64(v)

    # events (pick_event): one byte, chosen per type
    def ctl(self, q, cmd, entries):
        self.b += bytes([0, q, cmd, len(entries) - 1])
        for (t, ident, ev, flags, data, userv) in entries:
            self.b += bytes([t]) + ident + bytes([ev, flags]) + data
            self.b += bytes([userv, 0, 0])   # user, ret_flags, reserved

    def write(self, slot, n=1):
        self.b += bytes([5, slot, n - 1])

    def read(self, slot, n=0):
        self.b += bytes([6, slot, n])

    def close_peer(self, slot):
        self.b += bytes([7, slot])

    def close_obj(self, slot, reopen_slot=None, kind=1):
        if reopen_slot is None:
            self.b += bytes([8, slot])
        else:
            self.b += bytes([8, 0x80 | (reopen_slot << 4) | slot, kind - 1])

    def consume(self, q, n):
        self.b += bytes([9, q, n - 1])

    def wait0(self, q, m=1):
        self.b += bytes([10, q, m - 1])

    def settle(self, q):
        self.b += bytes([11, q])

    def reopen(self, q, size):
        self.b += bytes([12, q, SZ[size]])

    def signal(self, s):
        self.b += bytes([13, s])

    def inode(self, b):
        self.b += bytes([14, b])

    def drain_wait(self, q):
        self.b += bytes([15, q])


# data bytes for pick_data
HOUR = bytes([2])          # timers: an hour
US = bytes([1])            # timers: a microsecond (always firing; 0x41: 10 ms)
PAST = bytes([3])          # timers with ABSTIME: in the past
NODATA = bytes([0])
MONO, REAL, BOOT, ABS = 0, 1, 2, 4
EV_IN, EV_OUT = 1, 8       # pick_event bits for POLL


def seeds():
    s = {}

    # 1. MODIFY of a timer to another clock, REMOVE, ADD (defect 1)
    p = Prog(8, 8, 8)
    p.ctl(0, ADD, [(TIMER, Prog.small(1), MONO, 0, HOUR, 0)])
    p.ctl(0, MODIFY, [(TIMER, Prog.small(1), REAL, 0, HOUR, 1)])
    p.ctl(0, REMOVE, [(TIMER, Prog.small(1), 0, 0, NODATA, 0)])
    p.ctl(0, ADD, [(TIMER, Prog.small(2), REAL, ONESHOT, US, 0)])
    for clk in (MONO, REAL, BOOT):
        p.ctl(1, ADD, [(TIMER, Prog.small(3 + clk), clk, 0, HOUR, 0)])
        p.ctl(1, MODIFY, [(TIMER, Prog.small(3 + clk), (clk + 1) % 3 | ABS,
                           0, PAST, 2)])
    p.settle(0)
    p.settle(1)
    s["timer-clocks"] = p

    # 2. a watched pipe closed behind the library's back, its number
    #    taken by the timerfd, signalfd, inotify fd; REMOVE/MODIFY after
    for what in ("timer", "signal", "inode", "caller"):
        p = Prog(4, 4, 4)
        p.ctl(0, ADD, [(POLL, Prog.obj(PIPE), EV_IN, 0, NODATA, 0)])
        p.write(PIPE)
        p.wait0(0)
        p.wait0(0, 2)
        p.close_obj(PIPE)
        if what == "timer":
            p.ctl(0, ADD, [(TIMER, Prog.small(1), MONO, 0, HOUR, 0)])
        elif what == "signal":
            p.ctl(0, ADD, [(SIGNAL, Prog.small(0), 0, 0, NODATA, 0)])
        elif what == "inode":
            p.ctl(0, ADD, [(INODE, Prog.obj(DIR), 0x03, 0, NODATA, 0)])
        else:
            p.close_obj(5, reopen_slot=PIPE, kind=1)
        p.ctl(0, MODIFY, [(POLL, Prog.obj(PIPE), EV_IN | EV_OUT, 0, NODATA, 1)])
        p.ctl(0, DISABLE, [(POLL, Prog.obj(PIPE), 0, 0, NODATA, 0)])
        p.ctl(0, ENABLE, [(POLL, Prog.obj(PIPE), 0, 0, NODATA, 0)])
        p.drain_wait(0)
        p.ctl(0, REMOVE, [(POLL, Prog.obj(PIPE), 0, 0, NODATA, 0)])
        p.signal(0)
        p.inode(0)
        p.settle(0)
        s["closed-number-" + what] = p

    # 3. a ring of one under an always-ready file, a pipe and a
    #    self-retriggering user event (defect 4)
    p = Prog(1, 1, 4)
    p.ctl(0, ADD, [(POLL, Prog.obj(FILE), EV_IN, 0, NODATA, 0),
                   (POLL, Prog.obj(PIPE), EV_IN, 0, NODATA, 0),
                   (USER, Prog.small(1), 0, 0, NODATA, 0)])
    p.write(PIPE)
    for _ in range(6):
        p.ctl(0, READY, [(USER, Prog.small(1), 0, 0, NODATA, 0)])
        p.consume(0, 1)
        p.wait0(0)
    p.ctl(0, ADD, [(TIMER, Prog.small(1), MONO, 0, US, 0)])
    p.settle(0)
    s["fairness-ring-of-one"] = p

    # 4. more ready than the ring holds (defect 6), edge and level
    p = Prog(2, 16, 64)
    for slot in range(10):
        p.ctl(0, ADD, [(POLL, Prog.obj(slot), EV_IN | EV_OUT,
                        ET if slot & 1 else 0, NODATA, 0)])
        p.write(slot, 3)
    p.ctl(0, ADD, [(USER, Prog.small(i), 0, 0, NODATA, 0) for i in range(4)])
    p.ctl(0, READY, [(USER, Prog.small(i), 0, 0, NODATA, 0) for i in range(4)])
    p.wait0(0, 2)
    p.consume(0, 1)
    p.settle(0)
    s["backlog"] = p

    # 5. DISPATCH, DISABLE and ENABLE with activity in between
    p = Prog(4, 4, 4)
    p.ctl(1, ADD, [(POLL, Prog.obj(SOCK), EV_IN, DISPATCH, NODATA, 0),
                   (USER, Prog.small(2), 0, DISPATCH, NODATA, 0)])
    p.write(SOCK)
    p.ctl(1, READY, [(USER, Prog.small(2), 0, 0, NODATA, 0)])
    p.settle(1)
    p.write(SOCK)
    p.ctl(1, READY, [(USER, Prog.small(2), 0, 0, NODATA, 0)])
    p.settle(1)
    p.ctl(1, ENABLE, [(POLL, Prog.obj(SOCK), 0, 0, NODATA, 0),
                      (USER, Prog.small(2), 0, 0, NODATA, 0)])
    p.ctl(1, DISABLE, [(POLL, Prog.obj(SOCK), 0, 0, NODATA, 0)])
    p.write(SOCK)
    p.ctl(1, ENABLE, [(POLL, Prog.obj(SOCK), 0, 0, NODATA, 0)])
    p.settle(1)
    s["dispatch"] = p

    # 6. edge activity while queued; ONESHOT and re-ADD
    p = Prog(8, 8, 8)
    p.ctl(2, ADD, [(POLL, Prog.obj(EVFD), EV_IN, ET, NODATA, 0),
                   (POLL, Prog.obj(5), EV_IN, ONESHOT, NODATA, 0)])
    p.write(EVFD)
    p.write(5)
    p.wait0(2)
    p.write(EVFD)
    p.wait0(2)
    p.consume(2, 8)
    p.ctl(2, ADD, [(POLL, Prog.obj(5), EV_IN, ONESHOT, NODATA, 1)])
    p.read(EVFD)
    p.close_peer(5)
    p.settle(2)
    s["edge-and-oneshot"] = p

    # 7. queues inside queues, loops, close of a watched queue
    p = Prog(4, 4, 4)
    p.ctl(0, ADD, [(POLL, Prog.queue(1), EV_IN, 0, NODATA, 0)])
    p.ctl(1, ADD, [(POLL, Prog.queue(2), EV_IN, 0, NODATA, 0)])
    p.ctl(2, ADD, [(POLL, Prog.queue(0), EV_IN, 0, NODATA, 0),
                   (USER, Prog.small(1), 0, 0, NODATA, 0)])
    p.ctl(2, READY, [(USER, Prog.small(1), 0, 0, NODATA, 0)])
    p.drain_wait(1)
    p.drain_wait(0)
    p.reopen(1, 2)
    p.settle(0)
    s["nesting"] = p

    # 8. signals and file changes, inode MODIFY after its fd is reused
    p = Prog(4, 4, 4)
    p.ctl(0, ADD, [(SIGNAL, Prog.small(0), 0, 0, NODATA, 0),
                   (SIGNAL, Prog.small(1), 0, 0, NODATA, 0),
                   (INODE, Prog.obj(FILE), 0x0c, 0, NODATA, 0),
                   (INODE, Prog.obj(DIR), 0x03, 0, NODATA, 0)])
    p.signal(0)
    p.signal(1)
    p.inode(0)
    p.inode(2 * 4)
    p.inode(3 * 4)
    p.settle(0)
    p.close_obj(FILE, reopen_slot=FILE, kind=5)
    p.ctl(0, MODIFY, [(INODE, Prog.obj(FILE), 0x04, 0, NODATA, 1)])
    p.ctl(0, REMOVE, [(INODE, Prog.obj(FILE), 0, 0, NODATA, 0)])
    p.inode(1)
    p.settle(0)
    s["signals-and-inodes"] = p

    # 9. invalid fields and huge ids
    p = Prog(2, 2, 2)
    p.ctl(0, ADD, [(POLL, Prog.huge(1 << 40), EV_IN, 0, NODATA, 0),
                   (TIMER, Prog.huge(1 << 63), MONO, 0, NODATA, 0),
                   (USER, Prog.huge(0xffffffffffffffff), 0, 0, NODATA, 0),
                   (13, Prog.small(1), 0, 0, NODATA, 0)])  # 13 % 7 == 6: type 13
    p.ctl(0, READY, [(USER, Prog.huge(0xffffffffffffffff), 0, 0, NODATA, 0),
                     (TIMER, Prog.huge(1 << 63), 0, 0, NODATA, 0)])
    p.ctl(0, ADD, [(PROC, Prog.small(0), 1, 0, NODATA, 0),
                   (PROC, Prog.huge(1 << 40), 1, 0, NODATA, 0)])
    p.settle(0)
    s["invalid-and-huge"] = p
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, prog in seeds().items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes(prog.b))
    print("make-seeds: %d seeds in %s" % (len(seeds()), out))


if __name__ == "__main__":
    main()
