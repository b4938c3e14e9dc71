#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench/selector.py: kevent.KeventSelector against selectors.EpollSelector.

    PYTHONPATH=<build>/bindings/python bench/selector.py [--quick]
        [--rounds N] [--markdown FILE] [--json FILE]

What is measured, per operation (ns, wall clock, perf_counter_ns):

  select-R   select(0) on a selector with N = 1000 registered socketpairs
             (EVENT_READ) of which R are readable (data left unread, so
             level-triggered fds stay ready): R = 0, 1, 10, 100, 1000.
             One operation is one select() returning R results.
  reg+unreg  register(fd, EVENT_READ) + unregister(fd) of one socket, on a
             selector that holds N = 1000 others.
  wake       a select(None) in one thread ended by a send() in another
             (a round trip: the sender waits for the result).

Implementations: EpollSelector (CPython's, the peer) and KeventSelector on
each user-space backend this libkev has (epoll; uring when available).

Every round is a fresh process (no state carried over) that measures every
implementation on every operation, the implementations in a shuffled
order; within a process each measurement is the best of 5 batches. A
ratio is KeventSelector / EpollSelector measured in the same process, and
the report gives the median of the per-round ratios, with the smallest and
largest (the VM is shared: expect noise; trust ratios, not ns). Lower is
better; the target of issue 18 is <= 1.0x for select and for
register/unregister.
"""

import argparse
import json
import os
import random
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time

N = 1000
READY = [0, 1, 10, 100, 1000]
BATCHES = 5


def impls():
    import kevent
    out = {"EpollSelector": selectors.EpollSelector}
    for b in ("epoll", "uring"):
        try:
            kevent.KeventSelector(backend=b).close()
        except OSError:
            continue
        out[f"KeventSelector[{b}]"] = (lambda b=b: kevent.KeventSelector(backend=b))
    return out


def best_ns(fn, n):
    """Best of BATCHES batches of n calls of fn, ns per call."""
    best = None
    for _ in range(BATCHES):
        t = time.perf_counter_ns()
        fn(n)
        dt = (time.perf_counter_ns() - t) / n
        best = dt if best is None else min(best, dt)
    return best


def bench_select(make, ready, iters):
    sel = make()
    pairs = [socket.socketpair() for _ in range(N)]
    try:
        for a, b in pairs:
            sel.register(a, selectors.EVENT_READ)
        for a, b in pairs[:ready]:
            b.send(b"x")
        assert len(sel.select(0)) == ready

        def run(n):
            s = sel.select
            for _ in range(n):
                s(0)

        ns = best_ns(run, iters)
        assert len(sel.select(0)) == ready
        return ns
    finally:
        sel.close()
        for a, b in pairs:
            a.close()
            b.close()


def bench_reg(make, iters):
    sel = make()
    pairs = [socket.socketpair() for _ in range(N)]
    x, y = socket.socketpair()
    try:
        for a, b in pairs:
            sel.register(a, selectors.EVENT_READ)
        fd = x.fileno()

        def run(n):
            reg, unreg, r = sel.register, sel.unregister, selectors.EVENT_READ
            for _ in range(n):
                reg(fd, r)
                unreg(fd)

        return best_ns(run, iters)
    finally:
        sel.close()
        for a, b in pairs + [(x, y)]:
            a.close()
            b.close()


def bench_wake(make, iters):
    sel = make()
    a, b = socket.socketpair()
    sel.register(a, selectors.EVENT_READ)
    go = threading.Semaphore(0)
    done = threading.Semaphore(0)
    stop = False

    def selector_thread():
        while True:
            go.release()
            got = sel.select(None)
            if stop:
                return
            a.recv(1)
            assert len(got) == 1
            done.release()

    t = threading.Thread(target=selector_thread)
    t.start()
    try:
        def run(n):
            for _ in range(n):
                go.acquire()
                b.send(b"x")
                done.acquire()

        return best_ns(run, iters)
    finally:
        stop = True
        go.acquire()
        b.send(b"x")
        t.join()
        sel.close()
        a.close()
        b.close()


def one_round(quick):
    """Every implementation, every operation, in this process."""
    scale = 1 if not quick else 4
    ops = [(f"select-{r}", (lambda m, r=r: bench_select(
               m, r, max(20, (4000 if r < 100 else 400 if r == 100 else 60) // scale))))
           for r in READY]
    ops.append(("reg+unreg", lambda m: bench_reg(m, 5000 // scale)))
    ops.append(("wake", lambda m: bench_wake(m, 400 // scale)))
    out = {}
    table = impls()
    for op, fn in ops:
        names = list(table)
        random.shuffle(names)
        for name in names:
            out[f"{op}|{name}"] = fn(table[name])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    ap.add_argument("--one-round", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * N + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    if args.one_round:
        json.dump(one_round(args.quick), sys.stdout)
        return 0

    rounds = args.rounds or (3 if args.quick else 9)
    results = []
    start = time.monotonic()
    for i in range(rounds):
        cmd = [sys.executable, os.path.abspath(__file__), "--one-round"]
        if args.quick:
            cmd.append("--quick")
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout))
        print(f"selector.py: round {i + 1}/{rounds} done", file=sys.stderr)
    wall = time.monotonic() - start

    ops = sorted({k.split("|")[0] for k in results[0]},
                 key=lambda o: (o[0] != "s", int(o.split("-")[1]) if o.startswith("select") else 0, o))
    names = sorted({k.split("|")[1] for k in results[0]},
                   key=lambda n: (n != "EpollSelector", n))
    rows = []
    for op in ops:
        for name in names:
            vals = [r[f"{op}|{name}"] for r in results]
            ratios = [r[f"{op}|{name}"] / r[f"{op}|EpollSelector"] for r in results]
            rows.append({
                "op": op, "impl": name,
                "ns_min": min(vals), "ns_median": statistics.median(vals),
                "ratio_median": statistics.median(ratios),
                "ratio_min": min(ratios), "ratio_max": max(ratios),
            })

    import kevent
    lines = []
    lines.append("## Python: kevent.KeventSelector against selectors.EpollSelector")
    lines.append("")
    lines.append(f"`bench/selector.py`, {rounds} rounds, each a fresh process "
                 f"measuring every implementation (shuffled) on every operation, "
                 f"best of {BATCHES} batches each; N = {N} registered socketpairs. "
                 f"Ratio = KeventSelector / EpollSelector in the same process: "
                 f"median over the rounds [smallest, largest]; lower is better, "
                 f"target <= 1.0x for select and reg+unreg (issue 18). "
                 f"CPython {sys.version.split()[0]}, libkev {kevent.__version__}, "
                 f"{os.cpu_count()} CPUs, load average at the end "
                 f"{' '.join('%.2f' % x for x in os.getloadavg())}; {wall:.0f} s.")
    lines.append("")
    lines.append("| operation | implementation | ns/op min | ns/op median | ratio vs EpollSelector |")
    lines.append("|---|---|---|---|---|")
    for r in rows:
        ratio = ("1.00x (peer)" if r["impl"] == "EpollSelector" else
                 f"**{r['ratio_median']:.2f}x** [{r['ratio_min']:.2f}, {r['ratio_max']:.2f}]")
        lines.append(f"| {r['op']} | {r['impl']} | {r['ns_min']:.0f} | "
                     f"{r['ns_median']:.0f} | {ratio} |")
    lines.append("")
    default = kevent.KeventSelector()
    default_backend = default.backend
    default.close()
    for name in names:
        if name == "EpollSelector":
            continue
        mine = [r for r in rows if r["impl"] == name and r["op"] != "wake"]
        ok = [r for r in mine if r["ratio_median"] <= 1.0]
        missed = ", ".join(f"{r['op']} {r['ratio_median']:.2f}x"
                           for r in mine if r["ratio_median"] > 1.0)
        dflt = " (the default backend here)" if \
            name == f"KeventSelector[{default_backend}]" else ""
        lines.append(f"- {name}{dflt}: target (select-R and reg+unreg <= "
                     f"1.0x) {'met' if len(ok) == len(mine) else 'NOT met'}, "
                     f"{len(ok)}/{len(mine)} medians at or under 1.0x"
                     f"{'; over: ' + missed if missed else ''}.")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": results, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
