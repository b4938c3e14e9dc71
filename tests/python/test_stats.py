# SPDX-License-Identifier: MIT
"""Statistics (libkev 1.2): Queue.stats, Queue.stats_enabled, kevent.Stats,
the consumption paths that record publish_to_consume, and kevent.stat, the
Python kevent-stat(1) (``python3 -m kevent.stat PID``)."""

import asyncio
import ctypes
import doctest
import json
import os
import re
import socket
import subprocess
import sys

import pytest

import kevent
import kevent.stat

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
# The C tool and its test helper, from the build tree (tests/python/meson.build).
KEVENT_STAT = os.environ.get("KEVENT_STAT")
STAT_HELPER = os.environ.get("KEVENT_STAT_HELPER")


def round_trips(q, ident, n):
    for _ in range(n):
        q.trigger(ident)
        evs = q.wait(5.0)
        assert [e.ident for e in evs] == [ident]


# ------------------------------------------------------------ Queue.stats

def test_constants():
    assert kevent.OPT_STATS == 3
    assert kevent.STATS_BUCKETS == 32
    assert kevent.Stats._fields == (
        "published", "deferred", "coalesced", "waits", "sleeps", "enabled",
        "fire_to_publish", "publish_to_consume")


def test_off_by_default_counters_kept(q):
    assert q.stats_enabled is False
    q.add_user(1)
    round_trips(q, 1, 10)
    st = q.stats
    assert isinstance(st, kevent.Stats)
    assert st.enabled is False
    assert st.published == 10
    assert st.deferred == 0
    assert st.fire_to_publish == (0,) * 32
    assert st.publish_to_consume == (0,) * 32


def test_known_workload_fills_both_histograms(q):
    q.stats_enabled = True
    assert q.stats_enabled is True
    assert q.stats.enabled is True
    n = 200
    q.add_user(1)
    round_trips(q, 1, n)
    q.add_timer(2, 0.002, oneshot=True)         # a wait that sleeps
    assert [e.ident for e in q.wait(5.0)] == [2]
    st = q.stats
    assert st.published == n + 1
    assert sum(st.fire_to_publish) == n + 1
    assert sum(st.publish_to_consume) == n + 1
    assert st.sleeps >= 1 and st.waits >= 1
    assert st.fire_to_publish[-1] == st.publish_to_consume[-1] == 0
    # the p50 of the consumption latency is well under a second
    assert kevent.stat.quantile(st.publish_to_consume, 0.5) < 1e9


def test_stats_is_a_read_only_snapshot(q):
    q.stats_enabled = True
    q.add_user(1)
    before = q.stats
    round_trips(q, 1, 3)
    assert before.published == 0            # a snapshot, not a view
    assert q.stats.published == 3
    with pytest.raises(AttributeError):
        before.published = 5
    assert isinstance(before.fire_to_publish, tuple)
    with pytest.raises(TypeError):
        before.fire_to_publish[0] = 1


def test_coalesced(q):
    q.add_user(1)
    for _ in range(3):
        q.trigger(1)
    got = 0
    while got < 3:
        got += sum(e.count for e in q.wait(5.0))
    assert q.stats.coalesced >= 2


def test_off_keeps_what_was_counted(q):
    q.add_user(1)
    q.stats_enabled = 1
    round_trips(q, 1, 4)
    q.stats_enabled = False
    round_trips(q, 1, 4)
    st = q.stats
    assert not st.enabled
    assert st.published == 8
    assert sum(st.fire_to_publish) == sum(st.publish_to_consume) == 4


@pytest.mark.parametrize("bad,exc", [("yes", TypeError), (2, TypeError),
                                     (None, TypeError), (1.0, TypeError)])
def test_stats_enabled_takes_a_bool(q, bad, exc):
    with pytest.raises(exc, match="stats_enabled"):
        q.stats_enabled = bad
    assert q.stats_enabled is False


def test_closed_queue():
    q = kevent.Queue()
    q.close()
    with pytest.raises(ValueError):
        q.stats
    with pytest.raises(ValueError):
        q.stats_enabled
    with pytest.raises(ValueError):
        q.stats_enabled = True


# ----------------------------------------- consumption paths record latency

def test_wait_and_poll_record_publish_to_consume(q):
    q.stats_enabled = True
    q.add_user(1)
    q.trigger(1)
    assert len(q.wait(5.0)) == 1
    q.trigger(1)
    got = []
    while not got:
        got = q.poll()
    assert sum(q.stats.publish_to_consume) == 2


def test_asyncio_get_records_publish_to_consume(q):
    q.stats_enabled = True
    q.add_user(1)

    async def main():
        q.trigger(1)
        return (await q.get()).ident

    assert asyncio.run(main()) == 1
    assert sum(q.stats.publish_to_consume) == 1


def test_the_selector_records_publish_to_consume():
    # The selector has no statistics switch of its own: the C call on its
    # descriptor turns them on, and kevent.stat reads its ring.
    lib = ctypes.CDLL("libkev.so.1")
    lib.kevent_setopt.argtypes = [ctypes.c_int, ctypes.c_uint,
                                  ctypes.c_uint64]
    a, b = socket.socketpair()
    with kevent.KeventSelector(size=64) as sel, a, b:
        assert lib.kevent_setopt(sel.fileno(), kevent.OPT_STATS, 1) == 0
        sel.register(a, 1)
        b.send(b"x")
        assert len(sel.select(5.0)) == 1
        mine = [r for r in kevent.stat.scan(os.getpid())
                if r.size == 64 and r.stats.enabled]
        assert len(mine) == 1, mine
        assert sum(mine[0].stats.fire_to_publish) >= 1
        assert sum(mine[0].stats.publish_to_consume) == \
            sum(mine[0].stats.fire_to_publish)


# ------------------------------------------------------------- kevent.stat

def test_scan_finds_this_process_queues():
    with kevent.Queue(size=32) as a, kevent.Queue(size=128) as b:
        a.stats_enabled = True
        a.add_user(1)
        round_trips(a, 1, 7)
        b.add_user(1)
        round_trips(b, 1, 3)
        rings = {r.size: r for r in kevent.stat.scan(os.getpid())
                 if r.size in (32, 128)}
        assert set(rings) == {32, 128}
        assert rings[32].stats == a.stats
        assert rings[128].stats == b.stats
        assert rings[32].backend == "user" or a.backend == "kmod"
        assert rings[32].has_stats and rings[32].pending == 0


def test_module_doctests():
    failed, tried = doctest.testmod(kevent.stat, optionflags=doctest.ELLIPSIS)
    assert tried >= 3 and failed == 0


def test_bucket_range_and_format():
    assert kevent.stat.bucket_range(0) == (0, 2)
    assert kevent.stat.bucket_range(10) == (1024, 2048)
    assert kevent.stat.bucket_range(31) == (2 ** 31, None)
    with pytest.raises(ValueError):
        kevent.stat.bucket_range(32)
    assert kevent.stat.format_ns(16384) == "16.4 us"
    assert kevent.stat.format_ns(131072) == "131 us"
    assert kevent.stat.quantile((0,) * 32, 0.5) is None
    h = [0] * 32
    h[31] = 1
    assert kevent.stat.quantile(h, 0.99) == 2.0 ** 31


CHILD = r"""
import ctypes, sys, kevent
# any process may read this one, where Yama restricts ptrace to ancestors
ctypes.CDLL(None).prctl(0x59616d61, ctypes.c_ulong(-1), 0, 0, 0)
n = int(sys.argv[1])
a = kevent.Queue()
a.stats_enabled = True
b = kevent.Queue()
for q in (a, b):
    q.add_user(1)
    for _ in range(n):
        q.trigger(1)
        assert len(q.wait(5.0)) == 1
print("ready", a.stats.published, b.stats.published, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def child():
    p = subprocess.Popen([PY, "-c", CHILD, "300"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    assert line[:1] == ["ready"], line
    yield p
    p.stdin.close()
    p.wait(timeout=30)


def stat(*args):
    return subprocess.run([PY, "-m", "kevent.stat", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_cli_text(child):
    r = stat(child.pid)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.match(rf"process {child.pid} \(python3?\): 2 kevent queues",
                    out), out
    assert re.search(r"^  statistics +on$", out, re.M)
    assert re.search(r"^  statistics +off$", out, re.M)
    m = re.search(r"^  fire to publish: (\d+) entries", out, re.M)
    assert m and int(m.group(1)) == 300
    m = re.search(r"^  publish to consume: (\d+) entries", out, re.M)
    assert m and int(m.group(1)) == 300
    assert "entries per kevent_wait" in out and "of waits slept" in out


def test_cli_json(child):
    r = stat("--json", child.pid)
    assert r.returncode == 0, r.stderr
    t = subprocess.run([PY, "-m", "json.tool"], input=r.stdout,
                       capture_output=True, text=True)
    assert t.returncode == 0, t.stderr
    d = json.loads(r.stdout)
    on = [x for x in d["queues"] if x["statistics"]]
    off = [x for x in d["queues"] if x["statistics"] is False]
    assert len(on) == len(off) == 1
    assert on[0]["published"] == 300 == sum(on[0]["fire_to_publish"])
    assert sum(on[0]["publish_to_consume"]) == 300
    assert sum(off[0]["fire_to_publish"]) == 0 and off[0]["published"] == 300


def test_cli_interval(child):
    r = stat("--json", "-i", "0.1", "-c", "2", child.pid)
    assert r.returncode == 0, r.stderr
    docs = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(docs) == 3
    assert all(q["published"] == 0 for d in docs[1:] for q in d["queues"])
    assert all(d["closed"] == [] for d in docs[1:])


def _close(a, b, rel=1e-5):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= rel * max(
            abs(a), abs(b), 1e-9)
    return a == b


@pytest.mark.skipif(not KEVENT_STAT, reason="KEVENT_STAT is not set "
                    "(the C kevent-stat of the build tree)")
def test_cli_agrees_with_the_c_tool(child):
    py, c = stat(child.pid), subprocess.run(
        [KEVENT_STAT, str(child.pid)], capture_output=True, text=True)
    assert py.stdout == c.stdout
    py = json.loads(stat("--json", child.pid).stdout)
    c = json.loads(subprocess.run([KEVENT_STAT, "--json", str(child.pid)],
                                  capture_output=True, text=True).stdout)
    assert py.keys() == c.keys() and len(py["queues"]) == len(c["queues"])
    for x, y in zip(py["queues"], c["queues"]):
        assert x.keys() == y.keys()
        for k in x:
            assert _close(x[k], y[k]), (k, x[k], y[k])


@pytest.mark.skipif(not STAT_HELPER, reason="KEVENT_STAT_HELPER is not set "
                    "(tests/stat/stat-helper of the build tree)")
def test_forged_rings_are_rejected_as_by_the_c_tool():
    p = subprocess.Popen([STAT_HELPER, "50", "--garbage"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        m = dict(re.findall(r"(\w+)=(\S+)", p.stdout.readline()))
        want = {int(m[k], 16) for k in ("A", "B", "forged")}
        d = json.loads(stat("--json", p.pid).stdout)
        assert {int(q["address"], 16) for q in d["queues"]} == want
    finally:
        p.stdin.close()
        p.wait(timeout=30)


def test_cli_errors():
    r = stat()
    assert r.returncode == 2 and "usage:" in r.stderr and "PID" in r.stderr
    for bad in ("abc", "0", "12x", "99999999999"):
        r = stat(bad)
        assert r.returncode == 2 and "not a process id" in r.stderr, bad
    r = stat("-c", "2", "1")
    assert r.returncode == 2 and "-c needs -i" in r.stderr
    r = stat("-i", "0", "1")
    assert r.returncode == 2
    top = int(open("/proc/sys/kernel/pid_max").read())
    unused = next(p for p in range(top - 1, 1, -1)
                  if not os.path.exists(f"/proc/{p}"))
    r = stat(unused)
    assert r.returncode == 1 and f"no process {unused}" in r.stderr
    s = subprocess.Popen(
        [PY, "-c", "import ctypes, sys;"
         "ctypes.CDLL(None).prctl(0x59616d61, ctypes.c_ulong(-1), 0, 0, 0);"
         "print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert s.stdout.readline().strip() == "ready"
        r = stat(s.pid)
        assert r.returncode == 0 and "no kevent queue" in r.stdout
        assert json.loads(stat("--json", s.pid).stdout)["queues"] == []
    finally:
        s.stdin.close()
        s.wait()


def test_cli_permission():
    # A process that is not dumpable may be read only with CAP_SYS_PTRACE:
    # read it without (as root: with every capability dropped).
    p = subprocess.Popen(
        [PY, "-c", "import ctypes, sys; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0);"
         "print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        cmd = [PY, "-m", "kevent.stat", str(p.pid)]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    finally:
        p.stdin.close()
        p.wait()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "need the same user and ptrace permission" in r.stderr
