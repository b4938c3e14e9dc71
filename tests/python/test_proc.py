# SPDX-License-Identifier: MIT
"""KEVENT_PROC through kevent.Queue."""

import errno
import os
import signal
import subprocess
import sys

import pytest

import kevent


def test_child_exit_status(q):
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.1); raise SystemExit(7)"])
    q.add_proc(p, user="child")
    (ev,) = q.wait(10.0)
    assert ev.type is kevent.EventType.PROC
    assert ev.pid == p.pid
    assert ev.mask & kevent.ProcFlag.EXIT
    assert ev.user == "child"
    assert ev.removed
    assert ev.status is not None and os.WIFEXITED(ev.status)
    assert ev.returncode == 7
    assert len(q) == 0
    # left unreaped: the caller still reaps it
    assert p.wait(5) == 7


def test_child_killed_by_signal(q):
    p = subprocess.Popen(["sleep", "30"])
    q.add_proc(p.pid)
    p.send_signal(signal.SIGTERM)
    (ev,) = q.wait(10.0)
    assert ev.returncode == -signal.SIGTERM
    assert p.wait(5) == -signal.SIGTERM


def test_exit_before_wait_is_still_delivered(q):
    p = subprocess.Popen(["true"])
    q.add_proc(p)
    (ev,) = q.wait(10.0)
    assert ev.returncode == 0
    p.wait()


def test_not_a_child_has_no_status(q):
    # sh starts a grandchild and exits; the grandchild is not our child.
    # It lives until it is killed, after the registration.
    out = subprocess.run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True)
    pid = int(out.stdout)
    try:
        q.add_proc(pid)
    finally:
        os.kill(pid, signal.SIGTERM)
    (ev,) = q.wait(30.0)
    assert ev.pid == pid
    assert ev.ret_flags & kevent.RetFlag.NOSTATUS
    assert ev.status is None and ev.returncode is None


def test_unknown_pid_is_esrch(q):
    with pytest.raises(ProcessLookupError) as ei:
        q.add_proc(2**22 + 12345)
    assert ei.value.errno == errno.ESRCH


def test_remove_proc(q):
    p = subprocess.Popen(["sleep", "30"])
    try:
        q.add_proc(p)
        q.remove_proc(p)
        assert len(q) == 0
        p.kill()
        assert q.wait(0.2) == []
    finally:
        p.kill()
        p.wait()
