#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench/run.py - run every benchmark configuration as its own process,
interleaved (each round runs every configuration once), then write
bench/results/results.md and bench/results/chain-burst.png.

Called by bench/run.sh after it has built build-bench.  Each program prints
"RESULT k=v ..." or "SKIP reason" (exit 77); see bench/common.h.
"""
import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(TOP, "bench", "results")


class Config:
    def __init__(self, workload, label, exe, argv, group, timeout=60):
        self.workload = workload    # chain, burst, wakeup, timers, reg
        self.label = label          # row name
        self.exe = exe              # bench-native, bench-libev, ...
        self.argv = argv
        self.group = group          # dict: n, mode, pinned ... (a table)
        self.timeout = timeout
        self.runs = []              # dicts of floats, one per process
        self.skip = None
        self.wall = []

    def key(self):
        return (self.workload, tuple(sorted(self.group.items())), self.label)


def build_configs(a):
    q = a.quick
    cfgs = []
    kev_backends = ["epoll", "kmod", "uring"]

    def add_kev(workload, common, g, suffix=""):
        """A row per libkev backend: bench-native WORKLOAD kev backend=B."""
        for b in kev_backends:
            cfgs.append(Config(workload, "kev-%s%s" % (b, suffix),
                               "bench-native",
                               [workload, "kev", "backend=" + b] + common, g))

    def add_costs(workload, common, g):
        """The default backend with statistics on, and with its fds spread
        over the priority levels (issue 20: what each costs)."""
        for label, arg in [("kev-epoll-stats", "stats=1"),
                           ("kev-epoll-prio", "prio=mixed")]:
            cfgs.append(Config(workload, label, "bench-native",
                               [workload, "kev", "backend=epoll", arg] +
                               common, g))

    def add_peers(workload, common, g):
        """A row per peer library: bench-LIB WORKLOAD LIB."""
        for lib in ["libev", "libevent", "libuv"]:
            cfgs.append(Config(workload, lib, "bench-" + lib,
                               [workload, lib] + common, g))

    # 1. chain
    for n in ([100, 1000] if q else [1000, 10000]):
        ev = 20000 if q else 60000
        common = ["n=%d" % n, "events=%d" % ev, "tokens=100",
                  "segments=%d" % (5 if q else 10)]
        g = {"n": n}
        cfgs.append(Config("chain", "oracle", "bench-native",
                           ["chain", "oracle"] + common, g))
        add_kev("chain", common, g)
        add_costs("chain", common, g)
        cfgs.append(Config("chain", "kev-epoll-et", "bench-native",
                           ["chain", "kev-et", "backend=epoll"] + common, g))
        for impl in ["epoll-lt", "epoll-et", "uring", "uring-defer"]:
            cfgs.append(Config("chain", impl, "bench-native",
                               ["chain", impl] + common, g))
        add_peers("chain", common, g)

    # 2. burst
    n = 2000 if q else 10000
    rounds = 3 if q else 5
    for mode in ["lt", "et"]:
        g = {"n": n, "mode": mode}
        add_kev("burst", ["mode=" + mode, "n=%d" % n,
                          "rounds=%d" % rounds], g)
        add_costs("burst", ["mode=" + mode, "n=%d" % n,
                            "rounds=%d" % rounds], g)
        cfgs.append(Config("burst", "epoll", "bench-native",
                           ["burst", "epoll", "mode=" + mode, "n=%d" % n,
                            "rounds=%d" % rounds], g))

    # 3. wakeup
    iters = 4000 if q else 20000
    for pinned in [0, 1]:
        g = {"pinned": pinned}
        common = ["pinned=%d" % pinned, "iters=%d" % iters]
        cfgs.append(Config("wakeup", "futex", "bench-native",
                           ["wakeup", "futex"] + common, g))
        cfgs.append(Config("wakeup", "eventfd-epoll", "bench-native",
                           ["wakeup", "eventfd"] + common, g))
        add_kev("wakeup", common, g)
        cfgs.append(Config("wakeup", "uring-msgring", "bench-native",
                           ["wakeup", "msgring"] + common, g))
        add_peers("wakeup", common, g)

    # 4. timers
    for n in ([10000, 100000] if q else [10000, 1000000]):
        g = {"n": n}
        common = ["n=%d" % n, "spread_ms=20"]
        add_kev("timers", common, g)
        cfgs.append(Config("timers", "kev-epoll-batch", "bench-native",
                           ["timers", "kev-batch", "backend=epoll",
                            "batch=1024"] + common, g))
        add_peers("timers", common, g)

    # 4b. the timer loop of a user's program (issue 17): deadlines over 1 s,
    # half cancelled in random order, the loop sleeps until each one
    for n in ([10000, 100000] if q else [10000, 1000000]):
        g = {"n": n}
        common = ["n=%d" % n, "spread_ms=1000"]
        add_kev("tloop", common, g)
        for label, ns in [("slack0", 0), ("slack1ms", 1000000)]:
            cfgs.append(Config("tloop", "kev-epoll-" + label, "bench-native",
                               ["tloop", "kev", "backend=epoll",
                                "slack_ns=%d" % ns] + common, g))
        cfgs.append(Config("tloop", "libev", "bench-libev",
                           ["tloop", "libev"] + common, g))

    # 5. registration (timed here; syscalls counted under strace later)
    n = 2000 if q else 10000
    g = {"n": n}
    add_kev("reg", ["n=%d" % n], g, suffix="-batch")
    cfgs.append(Config("reg", "kev-epoll-single", "bench-native",
                       ["reg", "kev-single", "backend=epoll", "n=%d" % n], g))
    cfgs.append(Config("reg", "epoll", "bench-native",
                       ["reg", "epoll", "n=%d" % n], g))
    return cfgs


def parse_result(line):
    out = {}
    for tok in line.split()[1:]:
        k, _, v = tok.partition("=")
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


def run_one(bindir, c):
    exe = os.path.join(bindir, c.exe)
    if not os.path.exists(exe):
        c.skip = "%s not built (peer library missing at configure time)" % c.exe
        return "SKIP " + c.skip
    t0 = time.time()
    try:
        p = subprocess.run([exe] + c.argv, capture_output=True, text=True,
                           timeout=c.timeout)
    except subprocess.TimeoutExpired:
        c.runs.append(None)
        c.skip = "failed: no result within %d s (not rerun)" % c.timeout
        return "TIMEOUT after %ds" % c.timeout
    c.wall.append(time.time() - t0)
    for line in p.stdout.splitlines():
        if line.startswith("SKIP "):
            c.skip = line[5:].strip()
            return line
        if line.startswith("RESULT "):
            r = parse_result(line)
            c.runs.append(r)
            return line[7:]
    c.runs.append(None)
    err = " ".join(l for l in (p.stderr or p.stdout).strip().splitlines()
                   if not l.startswith("note:"))[-300:]
    # A configuration that fails is reported with its error and not rerun.
    c.skip = "failed (rc=%d): %s" % (p.returncode, err.replace("|", "/"))
    return "FAILED rc=%d: %s" % (p.returncode, err)


def stats(c, metric):
    vals = [r[metric] for r in c.runs if r and metric in r]
    if not vals:
        return None
    return (min(vals), statistics.median(vals), len(vals))


def fmt(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    return "%.*f" % (max(nd, 2), x)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "-" if r is None else "%.2fx" % r


# ---------------------------------------------------------------- report

class Report:
    def __init__(self, cfgs, args):
        self.cfgs = cfgs
        self.args = args
        self.lines = []
        self.targets = []   # (name, verdict, detail)

    def find(self, workload, label, **group):
        for c in self.cfgs:
            if c.workload == workload and c.label == label and \
               all(c.group.get(k) == v for k, v in group.items()):
                return c
        return None

    def med(self, workload, label, metric, **group):
        c = self.find(workload, label, **group)
        if not c or c.skip:
            return None
        s = stats(c, metric)
        return s[1] if s else None

    def n_title(self, workload, group):
        """"N = n", and the n the programs ran with if a limit shrank it
        (RLIMIT_NOFILE: bench_pairs_open() gives every impl the same n)."""
        ran = sorted({r["n"] for c in self.cfgs
                      if c.workload == workload and c.group == group
                      for r in c.runs if r and "n" in r})
        t = "N = %d" % group["n"]
        if ran and ran != [group["n"]]:
            t += " (ran with %s: RLIMIT_NOFILE)" % ", ".join(
                str(int(x)) for x in ran)
        return t

    def groups(self, workload):
        seen = []
        for c in self.cfgs:
            if c.workload == workload and c.group not in seen:
                seen.append(c.group)
        return seen

    def table(self, workload, group, metrics, ref_label, ref_metric=None,
              extra=None):
        """One markdown table: per metric min and median, then the ratio of
        the median to ref_label's median (same run)."""
        head = ["impl"]
        for m, title in metrics:
            head += ["%s min" % title, "%s median" % title]
        head += ["ratio vs %s (%s median)" % (ref_label,
                                               ref_metric or metrics[0][1])]
        if extra:
            head += [e[0] for e in extra]
        head += ["runs"]
        rows = []
        rm = ref_metric or metrics[0][0]
        refv = self.med(workload, ref_label, rm, **group)
        for c in self.cfgs:
            if c.workload != workload or c.group != group:
                continue
            if c.skip:
                rows.append([c.label, ("" if c.skip.startswith("failed")
                                          else "skipped: ") + c.skip] +
                            ["-"] * (len(head) - 2))
                continue
            row = [c.label]
            for m, _ in metrics:
                s = stats(c, m)
                row += [fmt(s[0]), fmt(s[1])] if s else ["-", "-"]
            s = stats(c, rm)
            row.append(fmt_ratio(ratio(s[1] if s else None, refv)))
            if extra:
                for _, fn in extra:
                    row.append(fn(c))
            ok = len([r for r in c.runs if r])
            bad = len(c.runs) - ok
            row.append("%d%s" % (ok, " (%d failed)" % bad if bad else ""))
            rows.append(row)
        out = ["| " + " | ".join(head) + " |",
               "|" + "---|" * len(head)]
        for r in rows:
            out.append("| " + " | ".join(r) + " |")
        self.lines += out + [""]

    def target(self, name, value, limit, detail):
        if value is None or limit is None:
            verdict = "N/A"
        else:
            verdict = "PASS" if value <= limit else "MISS"
        self.targets.append((name, verdict, detail))
        return verdict


def chain_overhead(rep, c):
    if c.skip or c.label == "oracle":
        return "-"
    o = rep.med("chain", "oracle", "ns_per_event", **c.group)
    s = stats(c, "ns_per_event")
    if o is None or not s:
        return "-"
    return fmt(s[1] - o)


def write_report(cfgs, args, extra_sections, syscalls, wall_total):
    rep = Report(cfgs, args)
    L = rep.lines
    L += ["# libkev benchmark results", "",
          "Generated by `bench/run.sh%s` on %s (%s, kernel %s, %d CPUs)." % (
              " --quick" if args.quick else "",
              RUN_INFO.get("date") or time.strftime("%Y-%m-%d %H:%M UTC",
                                                    time.gmtime()),
              os.uname().nodename, os.uname().release, os.cpu_count()),
          "Every configuration ran as its own process, %d times, interleaved "
          "(each round runs every configuration once, in a shuffled order). "
          "min and median are over those processes; a ratio is median / "
          "median of the named peer from the same run. Lower is better "
          "everywhere. Total wall time %.0f s." % (args.reps, wall_total),
          "",
          "Load average at the end: %s (the VM is shared: expect noise; "
          "trust ratios more than absolute numbers). libkev at commit %s."
          % (RUN_INFO.get("load") or
             " ".join(open("/proc/loadavg").read().split()[:3]),
             RUN_INFO.get("commit", "?")), ""]

    # chain
    L += ["## 1. chain: tokens passed along N socketpairs", "",
          "100 tokens in flight; each callback does one read(2) and one "
          "write(2). `ns/event` is the fastest of 5 (quick) or 10 equal "
          "segments of the run (mean over the whole run in `mean`). Every "
          "process first runs the *oracle* (the same tokens through the same "
          "sockets, plain loop, no notification) before registering "
          "anything; `paired overhead` = ns/event minus that in-process "
          "oracle, which cancels part of the load of other tenants (the "
          "`oracle` row's own paired overhead shows the bias/noise floor of "
          "this pairing). The last column is the unpaired version (median of "
          "this row minus median of the separate oracle processes). `setup` "
          "= creating the loop + registering every fd + one non-blocking "
          "poll pass (libev/libevent/libuv defer epoll_ctl to the loop), per "
          "fd.", ""]
    for g in rep.groups("chain"):
        L += ["### " + rep.n_title("chain", g), ""]
        rep.table("chain", g, [("paired_overhead_ns", "paired overhead"),
                               ("ns_per_event", "ns/event"),
                               ("oracle_ns_per_event", "in-process oracle"),
                               ("mean_ns_per_event", "mean"),
                               ("setup_ns_per_fd", "setup ns/fd")],
                  "libev",
                  extra=[("ns/event ratio vs epoll-lt",
                          lambda c, g=g: fmt_ratio(ratio(
                              rep.med("chain", c.label, "ns_per_event", **g),
                              rep.med("chain", "epoll-lt", "ns_per_event",
                                      **g)))),
                         ("overhead vs oracle process (median - median)",
                          lambda c, g=g: chain_overhead(rep, c))])

    # burst
    L += ["## 2. burst: N fds made ready at once", "",
          "Per delivered event. `harvest`: raw epoll = the epoll_wait loop "
          "(256 per call); libkev = kevent_wait(min_nr = N) + consuming N "
          "entries with kevent_ring_consume. `consume`: libkev only, taking "
          "entries already in the ring. `cycle`: write 1 byte to each fd + "
          "harvest + read it back.", ""]
    for g in rep.groups("burst"):
        L += ["### %s, %s" % (rep.n_title("burst", g),
                               "level-triggered" if g["mode"] == "lt"
                               else "edge-triggered"), ""]
        rep.table("burst", g, [("harvest_ns", "harvest ns"),
                               ("consume_ns", "consume ns"),
                               ("cycle_ns", "cycle ns")], "epoll",
                  extra=[("cycle ratio vs epoll",
                          lambda c, g=g: fmt_ratio(ratio(
                              rep.med("burst", c.label, "cycle_ns", **g),
                              rep.med("burst", "epoll", "cycle_ns", **g))))])

    # issue 20: what priorities and statistics cost
    L += ["### The cost of priorities and statistics", "",
          "The default backend (`kev-epoll`) against itself with "
          "`KEVENT_OPT_STATS` on (`kev-epoll-stats`: a clock read per "
          "publication batch and per consumption, a stamp per entry, two "
          "histograms), and with its fds spread over the eight priority "
          "levels (`kev-epoll-prio`, fd i on level i % 8). Ratios of "
          "medians from the tables above (same run).", "",
          "| workload | stats on / off | mixed priorities / one level |",
          "|---|---|---|"]
    for wl, metric, name in [("chain", "ns_per_event", "chain ns/event"),
                             ("burst", "harvest_ns", "burst harvest"),
                             ("burst", "consume_ns", "burst consume")]:
        for g in rep.groups(wl):
            base = rep.med(wl, "kev-epoll", metric, **g)
            cells = [fmt_ratio(ratio(rep.med(wl, lab, metric, **g), base))
                     for lab in ("kev-epoll-stats", "kev-epoll-prio")]
            L.append("| %s, %s | %s | %s |" % (
                name, ", ".join("%s=%s" % kv for kv in sorted(g.items())),
                cells[0], cells[1]))
    L += [""]

    # wakeup
    L += ["## 3. wakeup: cross-thread ping-pong round trip", "",
          "p50/p99 of one round trip (send to the other thread, which sends "
          "back), per process over %s iterations after 1000 warm-up. "
          "pinned = both threads on CPU 0." %
          ("4000" if args.quick else "20000"), ""]
    for g in rep.groups("wakeup"):
        L += ["### %s" % ("pinned to one CPU" if g["pinned"] else "unpinned"),
              ""]
        rep.table("wakeup", g, [("p50_ns", "p50 ns"), ("p99_ns", "p99 ns")],
                  "futex",
                  extra=[("p50 ratio vs eventfd-epoll",
                          lambda c, g=g: fmt_ratio(ratio(
                              rep.med("wakeup", c.label, "p50_ns", **g),
                              rep.med("wakeup", "eventfd-epoll", "p50_ns",
                                      **g))))])

    # timers
    L += ["## 4. timers: one-shot timers with random deadlines", "",
          "Add N timers (deadline 1 ms + uniform [0, 20 ms)), cancel every "
          "other one, wait until every deadline has passed, then harvest the "
          "N/2 expirations. ns per add / per cancel / per fired timer. "
          "libkev: one kevent_ctl per entry, or batches of 1024 "
          "(`-batch`). libev: 4-heap; libevent and libuv: binary heaps "
          "(libuv rounds to ms).", ""]
    for g in rep.groups("timers"):
        L += ["### N = %d" % g["n"], ""]
        rep.table("timers", g, [("add_ns", "add"), ("cancel_ns", "cancel"),
                                ("fire_ns", "fire")], "libev",
                  extra=[("cancel ratio vs libev",
                          lambda c, g=g: fmt_ratio(ratio(
                              rep.med("timers", c.label, "cancel_ns", **g),
                              rep.med("timers", "libev", "cancel_ns", **g)))),
                         ("fire ratio vs libev",
                          lambda c, g=g: fmt_ratio(ratio(
                              rep.med("timers", c.label, "fire_ns", **g),
                              rep.med("timers", "libev", "fire_ns", **g))))])

    # the timer loop
    L += ["## 4b. timers in a user's loop", "",
          "N one-shot timers with deadlines uniform over 1 s (from 1 ms), "
          "half of them cancelled in random order, then the loop sleeps "
          "until each remaining deadline and handles what fired "
          "(`kevent_wait` + consume; libev: `ev_run`). ns per add and per "
          "cancel (one call each), the loop's CPU time (user + system, "
          "`getrusage`) per fired timer, and the loop's wake-ups per fired "
          "timer (`kevent_wait` returns; libev: `ev_iteration`). libkev "
          "rows: the default timer slack (50 us), `-slack0` (exact) and "
          "`-slack1ms` (`kevent_setopt(KEVENT_OPT_TIMER_SLACK)`); libev "
          "sleeps in epoll_wait's milliseconds, which batches like a slack "
          "of about 1 ms.", ""]
    for g in rep.groups("tloop"):
        L += ["### N = %d" % g["n"], ""]
        rep.table("tloop", g, [("add_ns", "add"), ("cancel_ns", "cancel"),
                               ("cpu_fire_ns", "CPU per fire"),
                               ("wakeups_fire", "wake-ups per fire")],
                  "libev",
                  extra=[("CPU per fire vs libev",
                          lambda c, g=g: fmt_ratio(ratio(
                              rep.med("tloop", c.label, "cpu_fire_ns", **g),
                              rep.med("tloop", "libev", "cpu_fire_ns",
                                      **g))))])

    # registration
    L += ["## 5. registration: ADD of N fds", "",
          "Time per fd (fastest of 5 fresh queues per process), and system calls per fd counted under "
          "`strace -f` between two getppid() markers around the "
          "registration (one extra run per configuration, not timed).", ""]
    for g in rep.groups("reg"):
        L += ["### " + rep.n_title("reg", g), ""]
        rep.table("reg", g, [("ns_per_fd", "ns/fd")], "epoll",
                  extra=[("syscalls per fd",
                          lambda c: fmt(syscalls.get(c.label, (None, ""))[0])),
                         ("syscalls (by name)",
                          lambda c: syscalls.get(c.label, (None, "-"))[1])])

    # targets
    T = []
    for g in rep.groups("chain"):
        kev = rep.med("chain", "kev-epoll", "paired_overhead_ns", **g)
        ev = rep.med("chain", "libev", "paired_overhead_ns", **g)
        ukev, uev = chain_ov(rep, "kev-epoll", g), chain_ov(rep, "libev", g)
        rep.target("chain N=%d: overhead over oracle, epoll backend <= "
                   "libev's (paired, median)" % g["n"], kev, ev,
                   "kev-epoll %s vs libev %s ns/event (ratio %s); unpaired "
                   "medians: %s vs %s" % (
                       fmt(kev), fmt(ev), fmt_ratio(ratio(kev, ev)),
                       fmt(ukev), fmt(uev)))
    if CHAIN_IR:
        k, l = CHAIN_IR.get("kev"), CHAIN_IR.get("libev")
        o = CHAIN_IR.get("oracle")
        if k is not None and l is not None and o is not None:
            rep.target("chain N=1000: same, in user-space instructions per "
                       "event (callgrind, noise-free; kernel work not "
                       "counted, syscalls equal: %s)" % CHAIN_IR.get("sys"),
                       k - o, l - o,
                       "kev-epoll %.0f vs libev %.0f instructions/event over "
                       "the oracle (%.0f, %.0f, %.0f total)" % (
                           k - o, l - o, k, l, o))
    for g in rep.groups("burst"):
        c = rep.med("burst", "kev-epoll", "consume_ns", **g)
        rep.target("burst %s N=%d: consume from ring <= 5 ns/event" %
                   (g["mode"].upper(), g["n"]), c, 5.0,
                   "kev-epoll consume %s ns/event" % fmt(c))
    glt = [g for g in rep.groups("burst") if g["mode"] == "lt"]
    for g in rep.groups("burst"):
        h = rep.med("burst", "kev-epoll", "harvest_ns", **g)
        e = rep.med("burst", "epoll", "harvest_ns", **dict(g, mode="lt"))
        rep.target("burst %s N=%d: epoll-backend harvest <= 1.2x raw LT epoll"
                   % (g["mode"].upper(), g["n"]),
                   ratio(h, e), 1.2,
                   "kev-epoll %s vs raw epoll LT %s ns/event: %s" % (
                       fmt(h), fmt(e), fmt_ratio(ratio(h, e))))
    for g in rep.groups("wakeup"):
        k = rep.med("wakeup", "kev-epoll", "p50_ns", **g)
        f = rep.med("wakeup", "futex", "p50_ns", **g)
        e = rep.med("wakeup", "eventfd-epoll", "p50_ns", **g)
        if g["pinned"]:
            rep.target("wakeup pinned: p50 round trip <= 1.1x bare futex",
                       ratio(k, f), 1.1, "kev-epoll %s vs futex %s ns: %s" % (
                           fmt(k), fmt(f), fmt_ratio(ratio(k, f))))
        rep.target("wakeup %s: epoll backend no slower than eventfd+epoll "
                   "(p50)" % ("pinned" if g["pinned"] else "unpinned"),
                   ratio(k, e), 1.0, "kev-epoll %s vs eventfd+epoll %s ns: %s"
                   % (fmt(k), fmt(e), fmt_ratio(ratio(k, e))))
    tg = rep.groups("timers")
    if tg:
        g = max(tg, key=lambda x: x["n"])
        for lab in ["kev-epoll", "kev-epoll-batch"]:
            for m in ["add_ns", "cancel_ns"]:
                k = rep.med("timers", lab, m, **g)
                l = rep.med("timers", "libev", m, **g)
                rep.target("timers N=%d%s: %s %s no slower than libev" % (
                    g["n"], " (quick mode; full run uses 1M)" if args.quick
                    else "", lab, m[:-3]), ratio(k, l), 1.0,
                    "%s vs libev %s ns: %s" % (fmt(k), fmt(l),
                                              fmt_ratio(ratio(k, l))))
    tl = rep.groups("tloop")
    if tl:
        g = max(tl, key=lambda x: x["n"])
        for m in ["add_ns", "cancel_ns", "cpu_fire_ns"]:
            k = rep.med("tloop", "kev-epoll", m, **g)
            l = rep.med("tloop", "libev", m, **g)
            rep.target("timers in a loop N=%d: kev-epoll (default slack) %s "
                       "no more than libev" % (g["n"], m[:-3]), ratio(k, l),
                       1.0, "%s vs libev %s ns: %s" % (
                           fmt(k), fmt(l), fmt_ratio(ratio(k, l))))
    sc = syscalls.get("kev-epoll-batch", (None, ""))[0]
    rep.target("registration: epoll backend <= 1 syscall per fd (batch ADD; "
               "allocator growth shown apart)",
               sc, 1.0, "%s syscalls per fd (%s)" % (
                   fmt(sc), syscalls.get("kev-epoll-batch", (None, "-"))[1]))

    L += ["## Targets", "", "| target | verdict | measured |", "|---|---|---|"]
    for name, verdict, detail in rep.targets:
        L.append("| %s | **%s** | %s |" % (name, verdict, detail))
    L.append("")
    L += extra_sections
    return rep


def chain_ov(rep, label, g):
    o = rep.med("chain", "oracle", "ns_per_event", **g)
    v = rep.med("chain", label, "ns_per_event", **g)
    if o is None or v is None:
        return None
    return v - o


def chain_ov_ratio(rep, c):
    if c.skip or c.label == "oracle":
        return "-"
    return fmt_ratio(ratio(chain_ov(rep, c.label, c.group),
                           chain_ov(rep, "libev", c.group)))


# ---------------------------------------------------------------- counting

def strace_markers(bindir, argv):
    """System calls between the two getppid() markers, by name."""
    if not shutil.which("strace"):
        return None
    out = os.path.join(RESULTS, ".strace.tmp")
    p = subprocess.run(["strace", "-f", "-qq", "-o", out,
                        os.path.join(bindir, "bench-native")] + argv,
                       capture_output=True, text=True, timeout=300)
    if "SKIP" in p.stdout:
        return None
    counts = {}
    inside = 0
    with open(out) as f:
        for line in f:
            m = re.match(r"^\d+\s+(\w+)\(", line)
            if not m:
                continue
            name = m.group(1)
            if name == "getppid":
                inside += 1
                continue
            if inside == 1:
                counts[name] = counts.get(name, 0) + 1
    os.unlink(out)
    return counts


def strace_c(bindir, exe, argv):
    """strace -c -f summary: {syscall: calls}."""
    out = os.path.join(RESULTS, ".stracec.tmp")
    p = subprocess.run(["strace", "-c", "-f", "-qq", "-o", out,
                        os.path.join(bindir, exe)] + argv,
                       capture_output=True, text=True, timeout=300)
    calls = {}
    with open(out) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and \
               parts[-1] not in ("total",):
                try:
                    calls[parts[-1]] = int(parts[3])
                except ValueError:
                    pass
    os.unlink(out)
    res = None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            res = parse_result(line)
    return calls, res


CG_ROW = re.compile(r"^\s*((?:[\d,]+\s+\(\s*[\d.]+%\)\s+)+)(\S.*)$")


def cg_parse(text):
    rows = {}
    for line in text.splitlines():
        m = CG_ROW.match(line)
        if not m:
            continue
        nums = [int(x.replace(",", "")) for x in
                re.findall(r"([\d,]+)\s+\(", m.group(1))]
        rows[m.group(2).strip()] = nums
    return rows


_CG_MEMO = {}


def callgrind(bindir, exe, argv, cache=False):
    """{function: [Ir(, D1mr)]} self and inclusive, under callgrind."""
    key = (bindir, exe, tuple(argv), cache)
    if key not in _CG_MEMO:
        _CG_MEMO[key] = _callgrind(bindir, exe, argv, cache)
    return _CG_MEMO[key]


def _callgrind(bindir, exe, argv, cache=False):
    out = os.path.join(RESULTS, ".callgrind.out")
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
    if cache:
        cmd.append("--cache-sim=yes")
    subprocess.run(cmd + [os.path.join(bindir, exe)] + argv,
                   capture_output=True, text=True, timeout=900)
    if not os.path.exists(out):
        return None, None
    show = ["--show=Ir,D1mr"] if cache else ["--show=Ir"]
    ann = subprocess.run(["callgrind_annotate", "--threshold=100"] + show +
                         [out], capture_output=True, text=True).stdout
    incl = subprocess.run(["callgrind_annotate", "--inclusive=yes",
                           "--threshold=100"] + show + [out],
                          capture_output=True, text=True).stdout
    os.unlink(out)
    return cg_parse(ann), cg_parse(incl)


# ---------------------------------------------------------------- profile

def short_fn(s):
    # "file.c:func [/path/lib.so]" -> "func (lib.so)"
    m = re.match(r"^(?:(\S+?):)?(\S+)(?:\s+\[(.*)\])?$", s)
    if not m:
        return s
    fn = m.group(2)
    obj = os.path.basename(m.group(3)) if m.group(3) else ""
    src = m.group(1) or ""
    return "%s%s%s" % (fn, " (%s)" % os.path.basename(src) if src and
                       src != "???" else "", " [%s]" % obj if obj else "")


BORING = ("PROGRAM TOTALS", "below main", "__libc_start", "libc_start_call")


def diff_rows(big, small, units, col=0):
    out = {}
    for fn, v in big.items():
        if any(b in fn for b in BORING) or col >= len(v):
            continue
        sv = small.get(fn, [0] * len(v))
        d = (v[col] - (sv[col] if col < len(sv) else 0)) / units
        out[fn] = d
    return out


def profile_section(title, note, progs, scales, units_fn, cache=False):
    """Differential profile: each program runs at two sizes; the difference
    divided by the difference in units of work removes setup and start-up
    costs.  progs: [(label, exe, argv_fn(scale))], libkev first."""
    L = ["### " + title, "", note, ""]
    summary = []
    kev_self = kev_incl = kev_d1 = None
    du = units_fn(scales[1]) - units_fn(scales[0])
    for i, (label, exe, argv_fn) in enumerate(progs):
        if not os.path.exists(os.path.join(bindir_g, exe)):
            continue
        cg = [callgrind(bindir_g, exe, argv_fn(sc), cache) for sc in scales]
        st = [strace_c(bindir_g, exe, argv_fn(sc))[0] for sc in scales]
        ir = d1 = None
        if cg[0][0] and cg[1][0]:
            tot = [sum(v[0] for f, v in c[0].items() if "PROGRAM TOTALS" in f)
                   for c in cg]
            ir = (tot[1] - tot[0]) / du
            if cache:
                t1 = [sum(v[1] for f, v in c[0].items()
                          if "PROGRAM TOTALS" in f and len(v) > 1) for c in cg]
                d1 = (t1[1] - t1[0]) / du
            if i == 0:
                kev_self = diff_rows(cg[1][0], cg[0][0], du)
                kev_incl = diff_rows(cg[1][1], cg[0][1], du)
                if cache:
                    kev_d1 = diff_rows(cg[1][0], cg[0][0], du, 1)
        calls = {k: (st[1].get(k, 0) - st[0].get(k, 0)) / du
                 for k in set(st[0]) | set(st[1])}
        calls = {k: v for k, v in calls.items() if abs(v) >= 0.005}
        top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
        summary.append((label, " ".join([exe] + argv_fn(scales[1])), ir, d1,
                        sum(calls.values()),
                        ", ".join("%s %.2f" % kv for kv in top)))
    L += ["Per unit of work (differential: two sizes, difference divided by "
          "the difference in units):", "",
          "| program | command (larger size) | user-space Ir/unit |" +
          (" D1 read misses/unit |" if cache else "") +
          " syscalls/unit | syscalls/unit by name |",
          "|---|---|---|" + ("---|" if cache else "") + "---|---|"]
    for lab, cmd, ir, d1, sc, by in summary:
        L.append("| %s | `%s` | %s |%s %.2f | %s |" % (
            lab, cmd, fmt(ir), (" %s |" % fmt(d1)) if cache else "", sc, by))
    L.append("")
    if kev_self:
        tot = sum(v for v in kev_self.values() if v > 0) or 1
        L += ["libkev program, self cost per unit by function (top 14):", "",
              "| function | Ir/unit | % |" + (" D1 misses/unit |" if cache
                                              else ""),
              "|---|---|---|" + ("---|" if cache else "")]
        for fn, v in sorted(kev_self.items(), key=lambda kv: -kv[1])[:14]:
            L.append("| %s | %.1f | %.1f |%s" % (
                short_fn(fn), v, 100 * v / tot,
                (" %.2f |" % kev_d1.get(fn, 0)) if cache else ""))
        L += ["", "libkev functions, inclusive cost per unit:", "",
              "| function | Ir/unit (inclusive) |", "|---|---|"]
        for fn, v in sorted(kev_incl.items(), key=lambda kv: -kv[1]):
            name = short_fn(fn)
            if (name.startswith("kev") or name.startswith("ukevent")) and \
               v >= 1:
                L.append("| %s | %.1f |" % (name, v))
        L.append("")
    return L


def plot(cfgs, rep, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not available (apt install python3-matplotlib)"
    groups_c = rep.groups("chain")
    groups_b = rep.groups("burst")
    if not groups_c and not groups_b:
        return "no chain or burst results in this run (--only)"
    fig, axes = plt.subplots(1, len(groups_c) + len(groups_b),
                             figsize=(5 * (len(groups_c) + len(groups_b)), 5),
                             squeeze=False)
    axes = axes[0]
    ax_i = 0
    for g in groups_c:
        ax = axes[ax_i]
        ax_i += 1
        labels, meds, mins = [], [], []
        for c in cfgs:
            if c.workload != "chain" or c.group != g or c.skip:
                continue
            s = stats(c, "paired_overhead_ns")
            if not s:
                continue
            labels.append(c.label)
            meds.append(s[1])
            mins.append(s[0])
        colors = ["tab:red" if lab.startswith("kev") else "tab:blue"
                  for lab in labels]
        ax.bar(labels, meds, color=colors, alpha=0.8, label="median")
        ax.scatter(labels, mins, color="black", marker="_", s=200,
                   label="min", zorder=3)
        ax.set_title("chain N=%d: overhead over in-process oracle" % g["n"])
        ax.set_ylabel("ns / event")
        ax.tick_params(axis="x", rotation=60)
        ax.legend()
    for g in groups_b:
        ax = axes[ax_i]
        ax_i += 1
        labels, vals = [], {"harvest_ns": [], "consume_ns": [], "cycle_ns": []}
        for c in cfgs:
            if c.workload != "burst" or c.group != g or c.skip:
                continue
            labels.append(c.label)
            for m in vals:
                s = stats(c, m)
                vals[m].append(s[1] if s else 0)
        xs = range(len(labels))
        w = 0.27
        for k, (m, col) in enumerate([("harvest_ns", "tab:blue"),
                                      ("consume_ns", "tab:green"),
                                      ("cycle_ns", "tab:gray")]):
            ax.bar([x + (k - 1) * w for x in xs], vals[m], w, label=m[:-3],
                   color=col)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels)
        ax.set_title("burst N=%d %s (median)" % (g["n"], g["mode"].upper()))
        ax.set_ylabel("ns / event")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return None


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--build-dir", default=os.path.join(TOP, "build-bench"))
    ap.add_argument("--no-profile", action="store_true",
                    help="skip callgrind/strace profiling of missed targets")
    ap.add_argument("--only", default="",
                    help="comma-separated workloads (default: all)")
    ap.add_argument("--from-raw", action="store_true",
                    help="no runs: rewrite results.md and the plot from "
                    "results/raw.json (e.g. after editing analysis.md)")
    args = ap.parse_args()
    if args.from_raw:
        return report_from_raw(args)
    if args.reps < 5:
        print("note: fewer than 5 repetitions requested", file=sys.stderr)
    bindir = os.path.join(args.build_dir, "bench")
    os.makedirs(RESULTS, exist_ok=True)
    cfgs = build_configs(args)
    if args.only:
        want = args.only.split(",")
        cfgs = [c for c in cfgs if c.workload in want]
    start = time.time()
    try:
        RUN_INFO["commit"] = subprocess.run(
            ["git", "-C", TOP, "log", "-1", "--format=%h %s"],
            capture_output=True, text=True).stdout.strip() + (
            " (+ uncommitted changes)" if subprocess.run(
                ["git", "-C", TOP, "status", "--porcelain", "libkev",
                 "include"], capture_output=True, text=True).stdout.strip()
            else "")
    except OSError:
        pass
    rng = random.Random(42)
    total = len(cfgs) * args.reps
    done = 0
    for rep in range(args.reps):
        order = list(cfgs)
        rng.shuffle(order)
        for c in order:
            done += 1
            if c.skip:
                continue
            t0 = time.time()
            msg = run_one(bindir, c)
            grp = " ".join("%s=%s" % kv for kv in sorted(c.group.items()))
            print("[%4d/%d %5.0fs] round %d %-6s %-14s %-18s %5.2fs  %s" % (
                done, total, time.time() - start, rep + 1, c.workload, grp,
                c.label, time.time() - t0, msg), flush=True)

    # system calls per fd for registration (strace, one extra run each)
    syscalls = {}
    for c in cfgs:
        if c.workload != "reg" or c.skip:
            continue
        counts = strace_markers(bindir, c.argv)
        if counts is None:
            continue
        n = c.runs[0]["n"] if c.runs and c.runs[0] else c.group["n"]
        tot = sum(counts.values())
        # malloc's own growth (brk, mmap, mremap, munmap) is amortised over
        # the batch and is not a registration call: counted, shown apart
        alloc = sum(v for k, v in counts.items()
                    if k in ("brk", "mmap", "mremap", "munmap"))
        by = ", ".join("%s %.3f" % (k, v / n) for k, v in
                       sorted(counts.items(), key=lambda kv: -kv[1])[:4])
        syscalls[c.label] = ((tot - alloc) / n, by)
        print("strace: reg %s: %.3f syscalls per fd (%s)" % (c.label, tot / n,
                                                           by), flush=True)

    global bindir_g
    bindir_g = bindir
    if not args.no_profile and any(c.workload == "chain" for c in cfgs):
        chain_instructions(bindir)
    rep = write_report(cfgs, args, [], syscalls, time.time() - start)

    # profile the misses
    prof = ["## Profiles of the missed targets (and of chain and burst)", ""]
    missed = [t for t in rep.targets if t[1] == "MISS"]
    if args.no_profile:
        prof += ["(profiling skipped: --no-profile)", ""]
    else:
        if not missed:
            prof += ["No target missed.", ""]
        # chain and burst, the headline workloads, are profiled every run
        ran = set(c.workload for c in cfgs)
        always = [("chain (profiled every run)", "", "")] * ("chain" in ran) \
            + [("burst (profiled every run)", "", "")] * ("burst" in ran)
        prof += profile_misses(bindir, args, missed + always)
    RUN_INFO["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    RUN_INFO["load"] = " ".join(open("/proc/loadavg").read().split()[:3])
    raw = {"quick": args.quick, "reps": args.reps, "info": RUN_INFO,
           "wall": time.time() - start, "syscalls": syscalls,
           "chain_ir": CHAIN_IR, "profile": prof,
           "configs": [{"workload": c.workload, "label": c.label,
                        "exe": c.exe, "argv": c.argv, "group": c.group,
                        "runs": c.runs, "skip": c.skip} for c in cfgs]}
    with open(os.path.join(RESULTS, "raw.json"), "w") as f:
        json.dump(raw, f, indent=1)
    finish(cfgs, args, prof, syscalls, time.time() - start)


def report_from_raw(args):
    with open(os.path.join(RESULTS, "raw.json")) as f:
        raw = json.load(f)
    args.quick = raw["quick"]
    args.reps = raw["reps"]
    CHAIN_IR.update(raw["chain_ir"])
    RUN_INFO.update(raw.get("info", {}))
    cfgs = []
    for d in raw["configs"]:
        c = Config(d["workload"], d["label"], d["exe"], d["argv"], d["group"])
        c.runs = d["runs"]
        c.skip = d["skip"]
        cfgs.append(c)
    finish(cfgs, args, raw["profile"], raw["syscalls"], raw["wall"])


def finish(cfgs, args, prof, syscalls, wall):
    prof = prof + analysis_notes()
    rep = write_report(cfgs, args, prof, syscalls, wall)
    err = plot(cfgs, rep, os.path.join(RESULTS, "chain-burst.png"))
    if err:
        rep.lines += ["", "Plot: " + err]
    else:
        rep.lines += ["", "![chain and burst](chain-burst.png)", ""]
    with open(os.path.join(RESULTS, "results.md"), "w") as f:
        f.write("\n".join(rep.lines) + "\n")

    # summary
    print()
    print("==== summary (%.0f s)" % wall)
    skipped = {}
    for c in cfgs:
        if c.skip:
            skipped.setdefault(c.skip, []).append(
                "%s %s" % (c.workload, c.label))
    for why, what in skipped.items():
        print("skipped (%s): %s" % (why, ", ".join(sorted(set(what)))))
    for name, verdict, detail in rep.targets:
        print("%-5s %s: %s" % (verdict, name, detail))
    print("wrote %s and %s" % (os.path.join(RESULTS, "results.md"),
                               os.path.join(RESULTS, "chain-burst.png")))


def profile_misses(bindir, args, missed):
    global bindir_g
    bindir_g = bindir
    names = " ".join(t[0] for t in missed)
    L = ["Each profile runs the libkev configuration and its peers under "
         "`valgrind --tool=callgrind` (user-space instructions by function; "
         "the kernel side is invisible to it) and `strace -c -f` (system "
         "calls), each at two sizes; per-unit numbers are the difference "
         "divided by the difference in work, so set-up and start-up cancel "
         "out. Sizes are small so that valgrind finishes quickly.", ""]
    if "chain" in names:
        L += profile_section(
            "chain (N=1000): unit = one chain event",
            "Same I/O per event everywhere (1 read + 1 write).",
            [("libkev epoll backend", "bench-native",
              lambda s: ["chain", "kev", "n=1000", "events=%d" % s, "paired=0"]),
             ("raw epoll LT", "bench-native",
              lambda s: ["chain", "epoll-lt", "n=1000", "events=%d" % s, "paired=0"]),
             ("libev", "bench-libev",
              lambda s: ["chain", "libev", "n=1000", "events=%d" % s, "paired=0"]),
             ("oracle", "bench-native",
              lambda s: ["chain", "oracle", "n=1000", "events=%d" % s, "paired=0"])],
            (10000, 30000), lambda s: s)
    if "burst" in names:
        L += profile_section(
            "burst LT (N=2000): unit = one delivered event",
            "Rounds 2 vs 6 at the same N.",
            [("libkev epoll backend", "bench-native",
              lambda s: ["burst", "kev", "mode=lt", "n=2000",
                         "rounds=%d" % s]),
             ("raw epoll LT", "bench-native",
              lambda s: ["burst", "epoll", "mode=lt", "n=2000",
                         "rounds=%d" % s])],
            (2, 6), lambda s: 2000 * s)
    if "wakeup" in names:
        L += profile_section(
            "wakeup (pinned): unit = one round trip (two wake-ups)",
            "Iterations 2000 vs 6000.",
            [("libkev epoll backend", "bench-native",
              lambda s: ["wakeup", "kev", "pinned=1", "iters=%d" % s]),
             ("eventfd+epoll", "bench-native",
              lambda s: ["wakeup", "eventfd", "pinned=1", "iters=%d" % s]),
             ("futex", "bench-native",
              lambda s: ["wakeup", "futex", "pinned=1", "iters=%d" % s]),
             ("libev ev_async", "bench-libev",
              lambda s: ["wakeup", "libev", "pinned=1", "iters=%d" % s])],
            (2000, 6000), lambda s: s)
    if "timers" in names:
        L += profile_section(
            "timers: unit = one timer (add; cancel for half; fire for half)",
            "N = 50000 vs 150000, with the cache simulator (D1 = 32 KiB L1 "
            "data cache read misses: pointer chasing).",
            [("libkev epoll backend, 1 entry per kevent_ctl", "bench-native",
              lambda s: ["timers", "kev", "n=%d" % s]),
             ("libkev epoll backend, batches of 1024", "bench-native",
              lambda s: ["timers", "kev-batch", "n=%d" % s]),
             ("libev", "bench-libev", lambda s: ["timers", "libev",
                                                 "n=%d" % s])],
            (50000, 150000), lambda s: s, cache=True)
    if "registration" in names:
        L += profile_section(
            "registration: unit = one fd registered (batch ADD)",
            "N = 1000 vs 3000 (reps=1; a socketpair per fd is created "
            "outside the markers but inside the process: it cancels in "
            "neither, so compare against raw epoll's row).",
            [("libkev epoll backend", "bench-native",
              lambda s: ["reg", "kev", "n=%d" % s, "reps=1"]),
             ("raw epoll", "bench-native",
              lambda s: ["reg", "epoll", "n=%d" % s, "reps=1"])],
            (1000, 3000), lambda s: s)
    return L


bindir_g = None


CHAIN_IR = {}
RUN_INFO = {}


def chain_instructions(bindir):
    """User-space instructions per chain event (differential callgrind) for
    libkev's epoll backend, libev and the oracle; shares callgrind runs with
    the chain profile."""
    progs = {"kev": ("bench-native", "kev"), "libev": ("bench-libev", "libev"),
             "oracle": ("bench-native", "oracle")}
    sysc = []
    for key, (exe, impl) in progs.items():
        if not os.path.exists(os.path.join(bindir, exe)):
            continue
        tot = []
        for ev in (10000, 30000):
            self_rows, _ = callgrind(bindir, exe, ["chain", impl, "n=1000",
                                                   "events=%d" % ev,
                                                   "paired=0"])
            if not self_rows:
                break
            tot.append(sum(v[0] for f, v in self_rows.items()
                           if "PROGRAM TOTALS" in f))
        if len(tot) == 2:
            CHAIN_IR[key] = (tot[1] - tot[0]) / 20000.0
            print("callgrind: chain %s: %.0f user-space instructions per "
                  "event" % (key, CHAIN_IR[key]), flush=True)
    CHAIN_IR["sys"] = "1 read + 1 write per event in all three"


def analysis_notes():
    path = os.path.join(TOP, "bench", "analysis.md")
    if os.path.exists(path):
        with open(path) as f:
            return ["## Analysis (written by hand from these profiles)", "",
                    f.read().strip(), ""]
    return []


if __name__ == "__main__":
    main()
