#!/usr/bin/python3
"""bench/kmod-guest.py LOG: summarise the "vmbench:" lines that
`tests/vm/run-vm-tests.sh --bench build-bench/bench/bench-native build`
prints (bench-native run inside the qemu guest, with the module loaded) as a
markdown table of medians and of ratios to the peers measured in the same
guest run.  The guest is TCG-emulated: absolute numbers are meaningless,
and even ratios carry the emulator's distortion (system calls and memory
accesses do not slow down alike)."""
import re
import statistics
import sys

metric = {"chain": "paired_overhead_ns", "burst": "harvest_ns",
          "wakeup": "p50_ns", "reg": "ns_per_fd"}
base = {"chain": "epoll-lt", "burst": "epoll", "wakeup": "futex",
        "reg": "epoll"}
runs = {}
for line in open(sys.argv[1]):
    if not line.startswith("vmbench:"):
        continue
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    w = kv["workload"]
    runs.setdefault((w, kv["impl"]), []).append(float(kv[metric[w]]))

print("| workload | metric | impl | rounds | median | ratio vs %s | ratio vs libkev epoll |" % "peer")
print("|---|---|---|---|---|---|---|")
for (w, impl), v in sorted(runs.items()):
    med = statistics.median(v)
    peer = runs.get((w, base[w]))
    kev = runs.get((w, "kev-epoll-batch" if w == "reg" else "kev-epoll"))
    r1 = "%.2fx (%s)" % (med / statistics.median(peer), base[w]) if peer and statistics.median(peer) > 0 else "-"
    r2 = "%.2fx" % (med / statistics.median(kev)) if kev and statistics.median(kev) > 0 else "-"
    print("| %s | %s | %s | %d | %.0f | %s | %s |" % (w, metric[w], impl, len(v), med, r1, r2))
