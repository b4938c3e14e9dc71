# SPDX-License-Identifier: MIT
"""Shared fixtures of the kevent Python tests.

Run by `meson test --suite python` with PYTHONPATH pointing at the package
assembled in the build tree (<builddir>/bindings/python).
"""

import os
import signal
import time

import pytest

import kevent


@pytest.fixture
def q():
    """A fresh queue, closed after the test."""
    with kevent.Queue() as queue:
        yield queue


def wait_for(queue, pred, timeout=5.0):
    """Wait on queue until pred(events) is true for the events collected so
    far; return them (fail on timeout)."""
    deadline = time.monotonic() + timeout
    got = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; {len(got)} events so far: {got[:8]!r}")
        got.extend(queue.wait(left))
        if pred(got):
            return got


@pytest.fixture(autouse=True)
def _no_leftover_blocked_signals():
    """Every test leaves the signal mask of the main thread as it found it."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    after = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    if after != before:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
        pytest.fail(f"signal mask changed: {sorted(before)} -> {sorted(after)}")


def pytest_report_header(config):
    with kevent.Queue() as queue:
        backend = queue.backend
    return [f"kevent from {os.path.dirname(kevent.__file__)}",
            f"libkev {kevent.__version__}, default backend {backend}"]
