#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Run CPython's own test suites against kevent.KeventSelector, as TAP.

    run.py selectors [--baseline] [--list]
    run.py asyncio [--baseline] [--list] [--modules m1,m2,...] [--jobs N]

selectors: CPython's test_selectors, the tests of EpollSelectorTestCase
(BaseSelectorTestCase, ScalableSelectorMixIn and test_register_file) on a
subclass whose SELECTOR is kevent.KeventSelector.

asyncio: CPython's test_asyncio with selectors.DefaultSelector and
selectors.EpollSelector replaced by kevent.KeventSelector, so that every
SelectorEventLoop the tests make (asyncio.new_event_loop(), the
EPollEventLoopTests of test_events, test_sendfile and test_sock_lowlevel,
...) runs on it.

The backend is the one KEVENT_BACKEND names (meson sets it per test); the
runner checks that the selectors it counted use it.  --baseline runs the
same selection on CPython's own EpollSelector instead (for comparison by
hand; not in CI).  --list prints the test ids that would run.

Tests that are not run are listed in differences.md, next to this file,
each with its reason; every other test of the suite runs and must pass.
A test CPython skips that is not listed there is reported as a TAP skip
with CPython's reason, which tools/check counts against the run.  Each
test has a watchdog (faulthandler): one that hangs for WATCHDOG seconds
dumps every thread's stack and ends the run as a failure.

asyncio runs each module in a child process of its own, --jobs at a time
(default: the number of CPUs, at most 4), and prints one TAP stream,
renumbered, as the modules finish.  One process for the whole suite is
slower than the sum of its modules run apart (2.5 minutes against 1.5
here, on CPython's own EpollSelector as much as on KeventSelector): the
suite leaves objects behind that every later gc.collect() walks, and
test_tasks' test_task_del_collect runs eight times.

Needs Debian's libpython3.11-testsuite (test.test_asyncio,
test.test_selectors) for /usr/bin/python3.
"""

import argparse
import faulthandler
import fnmatch
import os
import re
import selectors
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DIFFERENCES = os.path.join(HERE, "differences.md")
WATCHDOG = 300  # seconds for one test: a hang detector, not a measure

ASYNCIO_MODULES = [
    "test_base_events", "test_buffered_proto", "test_context", "test_events",
    "test_futures", "test_futures2", "test_locks", "test_pep492",
    "test_proactor_events", "test_protocols", "test_queues", "test_runners",
    "test_selector_events", "test_sendfile", "test_server",
    "test_sock_lowlevel", "test_ssl", "test_sslproto", "test_streams",
    "test_subprocess", "test_taskgroups", "test_tasks", "test_threads",
    "test_timeouts", "test_transports", "test_unix_events", "test_waitfor",
]
# test_windows_events and test_windows_utils raise SkipTest when imported
# anywhere but on Windows: they have no test to load here.


def load_differences():
    """[(suite, fnmatch pattern, kind, why)] from the table of
    differences.md: rows | suite | `pattern` | kind | why |."""
    rows = []
    with open(DIFFERENCES) as f:
        for line in f:
            m = re.match(r"^\|\s*(selectors|asyncio)\s*\|\s*`([^`]+)`\s*\|"
                         r"\s*([^|]+?)\s*\|\s*(.+?)\s*\|\s*$", line)
            if m:
                rows.append(m.groups())
    if not rows:
        raise SystemExit(f"run.py: no table rows in {DIFFERENCES}")
    return rows


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


class Counter:
    """Counts the KeventSelectors made, and the backends they use."""

    def __init__(self, cls):
        self.made = 0
        self.backends = set()
        counter = self
        base_init = cls.__init__

        def init(sel, *args, **kwargs):
            base_init(sel, *args, **kwargs)
            counter.made += 1
            counter.backends.add(sel.backend)

        cls.__init__ = init


def fds_per_registration(selector_cls):
    """Descriptors one registration costs the process (uring: 1, the
    duplicate it polls; epoll: 0)."""
    import socket
    a, b = socket.socketpair()
    sel = selector_cls()
    try:
        before = len(os.listdir("/proc/self/fd"))
        sel.register(a, selectors.EVENT_READ)
        sel.register(b, selectors.EVENT_WRITE)
        return (len(os.listdir("/proc/self/fd")) - before) // 2
    finally:
        sel.close()
        a.close()
        b.close()


def room_for_duplicates(selector_cls):
    """test_above_fd_setsize sizes itself by the hard RLIMIT_NOFILE (at
    most 2^16 descriptors, all registered): on a backend where each
    registration holds a duplicate descriptor (uring, python-kevent(3)),
    that many registrations need twice as many descriptors.

    Returns (extra, note): extra is 0 when the test can run as it is
    (no duplicates, or the hard limit could be raised above what it
    needs, which takes CAP_SYS_RESOURCE); otherwise the number of extra
    descriptors a registration holds, and the test runs adapted
    (adapt_above_fd_setsize).  note is for the TAP output."""
    import resource
    extra = fds_per_registration(selector_cls)
    if extra == 0:
        return 0, None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = (1 + extra) * 2**16 + 1024
    if hard >= need:
        return 0, None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, need))
    except (OSError, ValueError) as e:
        return extra, (
            f"each registration holds {extra} more descriptor(s) "
            f"(python-kevent(3)), and the hard RLIMIT_NOFILE ({hard}) "
            f"cannot be raised to {need} ({e}): test_above_fd_setsize "
            f"runs adapted, on {hard // (1 + extra)} descriptors "
            f"(tests/cpython/differences.md)")
    return 0, (f"each registration holds {extra} more descriptor(s) "
               f"(python-kevent(3)): hard RLIMIT_NOFILE raised from {hard} "
               f"to {need} for test_above_fd_setsize")


class HalvedLimits:
    """A stand-in for the resource module, for test_above_fd_setsize
    only: it shows the test a hard RLIMIT_NOFILE of hard // (1 + extra),
    and turns the test's setrlimit((n, n)) into the real (hard, hard), so
    the registrations the test makes have room for their duplicates.
    The test's own code runs unchanged."""

    def __init__(self, real, extra):
        self._real = real
        self._share = 1 + extra
        self.RLIMIT_NOFILE = real.RLIMIT_NOFILE

    def __getattr__(self, name):
        return getattr(self._real, name)

    def getrlimit(self, which):
        soft, hard = self._real.getrlimit(which)
        if which != self.RLIMIT_NOFILE:
            return soft, hard
        return min(soft, hard // self._share), hard // self._share

    def setrlimit(self, which, limits):
        if which != self.RLIMIT_NOFILE:
            return self._real.setrlimit(which, limits)
        soft, _ = limits
        _, hard = self._real.getrlimit(which)
        shown = hard // self._share
        self._real.setrlimit(which, (hard if soft >= shown else soft, hard))


def adapt_above_fd_setsize(case_cls, extra):
    from test import test_selectors
    body = test_selectors.BaseSelectorTestCase.test_above_fd_setsize \
        if hasattr(test_selectors.BaseSelectorTestCase,
                   "test_above_fd_setsize") else \
        test_selectors.ScalableSelectorMixIn.test_above_fd_setsize

    def test_above_fd_setsize(self):
        real = test_selectors.resource
        # the test's own cleanup runs first, then this puts back the
        # limits exactly as they were
        self.addCleanup(real.setrlimit, real.RLIMIT_NOFILE,
                        real.getrlimit(real.RLIMIT_NOFILE))
        test_selectors.resource = HalvedLimits(real, extra)
        try:
            body(self)
        finally:
            test_selectors.resource = real

    case_cls.test_above_fd_setsize = test_above_fd_setsize


def selectors_suite(selector_cls, extra=0):
    from test import test_selectors

    class KeventSelectorTestCase(test_selectors.EpollSelectorTestCase):
        SELECTOR = selector_cls

    if extra:
        adapt_above_fd_setsize(KeventSelectorTestCase, extra)

    KeventSelectorTestCase.__module__ = "test.test_selectors"
    KeventSelectorTestCase.__qualname__ = "KeventSelectorTestCase"
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromTestCase(KeventSelectorTestCase)
    # the module's tearDownModule (support.reap_children) at the end
    return suite, [test_selectors.tearDownModule]


def asyncio_suite(selector_cls, modules):
    # Every SelectorEventLoop made without a selector, and every one the
    # tests make on selectors.EpollSelector(), runs on KeventSelector.
    selectors.DefaultSelector = selector_cls
    selectors.EpollSelector = selector_cls
    import test.test_asyncio  # noqa: F401  (its package checks)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    teardowns = []
    for name in modules:
        mod = __import__(f"test.test_asyncio.{name}", fromlist=["*"])
        suite.addTests(loader.loadTestsFromModule(mod))
        if hasattr(mod, "tearDownModule"):
            teardowns.append(mod.tearDownModule)
    return suite, teardowns


class TapResult(unittest.TestResult):
    """Prints one TAP line per test (ok / not ok / ok # SKIP)."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.n = 0
        self._outcome = None

    def startTest(self, test):
        super().startTest(test)
        self._outcome = ("ok", "")
        faulthandler.dump_traceback_later(WATCHDOG, exit=True)

    def stopTest(self, test):
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)
        self.n += 1
        status, extra = self._outcome
        print(f"{status} {self.n} - {test.id()}{extra}", file=self.stream,
              flush=True)
        self._outcome = None

    def _fail(self, test, err, what):
        self._outcome = ("not ok", "")
        text = self._exc_info_to_string(err, test)
        for line in (f"{what}: {test.id()}\n" + text).splitlines():
            print(f"# {line}", file=self.stream)

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err, "ERROR")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err, "FAIL")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._fail(subtest, err, "SUBTEST FAIL")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        reason = " ".join(reason.split()) or "(no reason given)"
        self._outcome = ("ok", f" # SKIP skipped by CPython, not listed in "
                               f"tests/cpython/differences.md: {reason}")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._outcome = ("ok", " # TODO expected failure (CPython's)")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._outcome = ("not ok", " (unexpected success)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("suite", choices=["selectors", "asyncio"])
    ap.add_argument("--baseline", action="store_true",
                    help="run on CPython's EpollSelector instead")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--modules", help="asyncio: a comma-separated subset")
    ap.add_argument("--jobs", type=int, default=0,
                    help="asyncio: modules run at once, each in a process "
                         "of its own (default: CPUs, at most 4; 1 runs "
                         "everything in this process)")
    ap.add_argument("--child", action="store_true",
                    help=argparse.SUPPRESS)  # one module of run_children
    args = ap.parse_args()

    import kevent
    if args.baseline:
        selector_cls = selectors.EpollSelector
        counter = None
    else:
        class Selector(kevent.KeventSelector):
            pass
        Selector.__name__ = Selector.__qualname__ = "KeventSelector"
        selector_cls = Selector
        counter = Counter(Selector)

    note = None
    if args.suite == "selectors":
        extra, note = room_for_duplicates(selector_cls)
        suite, teardowns = selectors_suite(selector_cls, extra)
    else:
        modules = args.modules.split(",") if args.modules else ASYNCIO_MODULES
        suite, teardowns = asyncio_suite(selector_cls, modules)

    rows = [r for r in load_differences() if r[0] == args.suite]
    tests = list(iter_tests(suite))
    ids = [t.id() for t in tests]
    run, left_out = [], []
    used = set()
    for t in tests:
        hit = next((r for r in rows if fnmatch.fnmatchcase(t.id(), r[1])), None)
        if hit is None:
            run.append(t)
        else:
            used.add(hit[1])
            left_out.append((t.id(), hit))
    stale = [r[1] for r in rows if r[1] not in used]
    if args.suite == "asyncio" and args.modules:
        # a subset: rows of the modules left out are not stale
        stale = [p for p in stale
                 if p.split(".")[2] in args.modules.split(",")]
    if stale:
        # a row that matches nothing: the list is out of date
        print(f"run.py: rows of differences.md that match no test: {stale}",
              file=sys.stderr)
        return 2
    if args.list:
        for t in run:
            print(t.id())
        return 0
    if args.suite == "asyncio":
        modules = args.modules.split(",") if args.modules else ASYNCIO_MODULES
        jobs = args.jobs or min(os.cpu_count() or 1, 4)
        if jobs > 1 and len(modules) > 1:
            return run_children(args, modules, jobs, run, left_out)

    backend = os.environ.get("KEVENT_BACKEND") or "default"
    what = "EpollSelector (baseline)" if args.baseline else \
        f"kevent.KeventSelector, backend {backend}"
    print(f"# CPython {sys.version.split()[0]} test_{args.suite} on {what}")
    print(f"# {len(ids)} tests in the suite; {len(left_out)} not run "
          f"(tests/cpython/differences.md):")
    for tid, (_s, pattern, kind, why) in left_out:
        print(f"#   {tid}: {kind}: {why}")
    if note:
        print(f"# {note}")
    print(f"1..{len(run)}", flush=True)
    result = TapResult(sys.stdout)
    start = time.monotonic()
    unittest.TestSuite(run).run(result)
    for td in teardowns:
        td()
    failed = len(result.failures) + len(result.errors) + \
        len(result.unexpectedSuccesses)
    print(f"# ran {result.testsRun}, failed {failed}, skipped "
          f"{len(result.skipped)}, in {time.monotonic() - start:.0f} s")
    status = 0 if failed == 0 and result.testsRun == len(run) else 1
    if counter is not None:
        print(f"# KeventSelectors made: {counter.made}, backends used: "
              f"{sorted(counter.backends)}")
        if counter.made == 0 and not args.child:
            # (a module may make none: run_children checks the sum)
            print("# no KeventSelector was made: the substitution failed")
            status = 1
        want = os.environ.get("KEVENT_BACKEND")
        if want and counter.backends - {want}:
            print(f"# a selector used another backend than {want}")
            status = 1
    return status


def module_of(test_id):
    return test_id.split(".")[2]


def run_children(args, modules, jobs, run, left_out):
    """Each module in a child (run.py asyncio --modules M --jobs 1), jobs
    at a time; their TAP as one stream, renumbered, each module's lines
    together when it ends.  Fails if a child fails, or the tests a child
    reports are not the ones this process counted for its module."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor, as_completed

    backend = os.environ.get("KEVENT_BACKEND") or "default"
    what = "EpollSelector (baseline)" if args.baseline else \
        f"kevent.KeventSelector, backend {backend}"
    want = {m: [t.id() for t in run if module_of(t.id()) == m]
            for m in modules}
    print(f"# CPython {sys.version.split()[0]} test_{args.suite} on {what}, "
          f"{len(modules)} modules, {jobs} at a time, each in a process")
    print(f"# {len(run) + len(left_out)} tests in the suite; "
          f"{len(left_out)} not run (tests/cpython/differences.md):")
    for tid, (_s, _pattern, kind, why) in left_out:
        print(f"#   {tid}: {kind}: {why}")
    print(f"1..{len(run)}", flush=True)

    def child(mod):
        cmd = [sys.executable, os.path.abspath(__file__), "asyncio",
               "--modules", mod, "--jobs", "1", "--child"]
        if args.baseline:
            cmd.append("--baseline")
        start = time.monotonic()
        res = subprocess.run(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        return mod, res.returncode, res.stdout, time.monotonic() - start

    n = failed = made = 0
    backends = set()
    bad = []
    made_re = re.compile(r"^# KeventSelectors made: (\d+), backends used: "
                         r"\[(.*)\]$")
    start = time.monotonic()
    tap = re.compile(r"^(ok|not ok) \d+ - (\S+)(.*)$")
    with ThreadPoolExecutor(jobs) as pool:
        futs = [pool.submit(child, m) for m in modules]
        for fut in as_completed(futs):
            mod, rc, out, secs = fut.result()
            seen = []
            for line in out.splitlines():
                m = made_re.match(line)
                if m:
                    made += int(m.group(1))
                    backends |= {b.strip(" '") for b in m.group(2).split(",")
                                 if b.strip()}
                m = tap.match(line)
                if m:
                    n += 1
                    seen.append(m.group(2))
                    failed += m.group(1) == "not ok"
                    print(f"{m.group(1)} {n} - {m.group(2)}{m.group(3)}")
                elif line.startswith("# ") and not line.startswith(
                        ("# CPython ", "#   ", "# 1..")) and \
                        " tests in the suite; " not in line:
                    print(f"# [{mod}] {line[2:]}")
                elif not line.startswith(("1..", "#")):
                    print(f"# [{mod}] {line}")
            problem = None
            if rc != 0:
                problem = f"exit status {rc}"
            elif seen != want[mod]:
                problem = (f"ran {len(seen)} tests, {len(want[mod])} "
                           f"expected, or not the same ones")
            if problem:
                bad.append(mod)
                print(f"# [{mod}] FAILED: {problem}")
            print(f"# [{mod}] {len(seen)} tests in {secs:.0f} s", flush=True)
    print(f"# ran {n}, failed {failed}, in {time.monotonic() - start:.0f} s"
          f" ({len(modules)} processes)")
    for _ in range(n, len(run)):
        # what a child that died never reported: the plan must not pass
        n += 1
        print(f"not ok {n} - (not run: a module's process failed)")
    if bad:
        print(f"# modules whose process failed: {', '.join(bad)}")
    status = 0 if not bad and not failed else 1
    if not args.baseline:
        print(f"# KeventSelectors made: {made}, backends used: "
              f"{sorted(backends)}")
        if made == 0:
            print("# no KeventSelector was made: the substitution failed")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
