# SPDX-License-Identifier: MIT
"""kevent.Queue: creation, closing, context manager, errors."""

import errno
import gc
import os
import socket
import subprocess
import sys
import time
import weakref

import pytest

import kevent


def test_default_queue_has_default_ring():
    with kevent.Queue() as q:
        assert q.ring_size == 256
        assert q.backend in ("kmod", "uring", "epoll")
        assert isinstance(q.fileno(), int) and q.fileno() >= 0


def test_timer_slack_ns_defaults_sets_and_checks():
    with kevent.Queue() as q:
        assert q.timer_slack_ns == 50000
        q.timer_slack_ns = 0
        assert q.timer_slack_ns == 0
        q.timer_slack_ns = 3600 * 10**9
        assert q.timer_slack_ns == 3600 * 10**9
        for bad, exc in ((-1, ValueError), (3600 * 10**9 + 1, ValueError),
                         (1.5, TypeError), ("1", TypeError),
                         (True, TypeError)):
            with pytest.raises(exc, match="^timer_slack_ns"):
                q.timer_slack_ns = bad
        assert q.timer_slack_ns == 3600 * 10**9  # unchanged
        q.timer_slack_ns = 1000
        q.add_timer(1, 10.0)
        with pytest.raises(OSError) as e:  # EBUSY under a timer
            q.timer_slack_ns = 2000
        assert e.value.errno == errno.EBUSY
        assert q.timer_slack_ns == 1000
        q.remove_timer(1)
        q.timer_slack_ns = 2000
        assert q.timer_slack_ns == 2000
    with pytest.raises(ValueError, match="closed"):  # as every other call
        q.timer_slack_ns


def test_ring_size_is_rounded_up_to_power_of_two():
    with kevent.Queue(100) as q:
        assert q.ring_size == 128


def test_ring_size_too_large_is_valueerror():
    # libkev says EINVAL; the binding checks KEVENT_RING_MAX first
    with pytest.raises(ValueError, match="^size must be at most 1048576"):
        kevent.Queue(1 << 21)
    kevent.Queue(1 << 20).close()  # the largest is fine


def test_negative_size_is_valueerror():
    with pytest.raises(ValueError):
        kevent.Queue(-1)


def test_epoll_backend_can_be_forced():
    with kevent.Queue(backend="epoll") as q:
        assert q.backend == "epoll"


def test_unknown_backend_name_is_valueerror():
    with pytest.raises(ValueError):
        kevent.Queue(backend="select")


@pytest.mark.parametrize("backend", ["epoll", "uring", "kmod"])
def test_forced_backend_runs_user_poll_and_timer_events(backend):
    try:
        q = kevent.Queue(backend=backend)
    except OSError as e:
        assert e.errno == errno.ENODEV  # never a silent fallback
        # Only a missing capability may skip: epoll always exists, kmod
        # needs /dev/kevent (the module loaded), and the run made for a
        # backend (KEVENT_BACKEND) must have it.
        assert backend != "epoll"
        assert not (backend == "kmod" and os.path.exists("/dev/kevent"))
        assert os.environ.get("KEVENT_BACKEND") != backend
        why = ("no /dev/kevent (the kevent module is not loaded)" if backend == "kmod"
               else "libkev built without liburing, or io_uring disabled")
        pytest.skip(f"{backend} backend not available here (ENODEV): {why}")
    a, b = socket.socketpair()
    with q, a, b:
        assert q.backend == backend
        q.add_user(1, user="u")
        q.add_poll(a, kevent.PollFlag.IN, user="p")
        q.add_timer(2, 0.01, oneshot=True, user="t")
        q.trigger(1)
        b.send(b"x")
        seen = set()
        deadline = time.monotonic() + 5
        while seen != {"u", "p", "t"} and time.monotonic() < deadline:
            seen.update(e.user for e in q.wait(1.0))
        assert seen == {"u", "p", "t"}


def test_environment_variable_selects_backend():
    code = "import kevent; print(kevent.Queue().backend)"
    env = dict(os.environ, KEVENT_BACKEND="epoll")
    out = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "epoll"
    env["KEVENT_BACKEND"] = "bogus"
    res = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True)
    assert res.returncode != 0 and "Errno 22" in res.stderr


def test_context_manager_closes_queue():
    with kevent.Queue() as q:
        fd = q.fileno()
        assert not q.closed
    assert q.closed
    with pytest.raises(OSError) as ei:
        os.fstat(fd)
    assert ei.value.errno == errno.EBADF
    with pytest.raises(ValueError):
        q.fileno()
    with pytest.raises(ValueError):
        q.wait(0)


def test_close_is_idempotent():
    q = kevent.Queue()
    q.close()
    q.close()
    assert q.closed
    assert "closed" in repr(q)


def test_context_manager_closes_on_exception_and_releases_everything(tmp_path):
    class Token:
        pass

    tok = Token()
    ref = weakref.ref(tok)
    a, b = socket.socketpair()
    with pytest.raises(RuntimeError):
        with kevent.Queue() as q:
            q.add_poll(a, user=tok)
            q.add_user(1, user=tok)
            fd = q.add_inode(tmp_path)
            raise RuntimeError("boom")
    del tok
    gc.collect()
    assert ref() is None
    # the fd the module opened for the path is closed with the queue
    with pytest.raises(OSError):
        os.fstat(fd)
    a.close()
    b.close()


def test_add_twice_is_file_exists_error(q):
    q.add_user(1)
    with pytest.raises(FileExistsError) as ei:
        q.add_user(1)
    assert ei.value.errno == errno.EEXIST


def test_remove_unknown_is_file_not_found_error(q):
    with pytest.raises(FileNotFoundError):
        q.remove_user(42)
    with pytest.raises(FileNotFoundError):
        q.remove(kevent.EventType.TIMER, 42)
    with pytest.raises(FileNotFoundError):
        q.enable_user(42)
    with pytest.raises(FileNotFoundError):
        q.trigger(42)


def test_poll_on_closed_fd_is_ebadf(q):
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError) as ei:
        q.add_poll(r)
    assert ei.value.errno == errno.EBADF
    assert len(q) == 0


def test_failed_add_does_not_keep_user(q):
    class Token:
        pass

    tok = Token()
    ref = weakref.ref(tok)
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError):
        q.add_poll(r, user=tok)
    del tok
    gc.collect()
    assert ref() is None


def test_queue_in_itself_is_eloop(q):
    with pytest.raises(OSError) as ei:
        q.add_poll(q)
    assert ei.value.errno == errno.ELOOP


def test_nested_queue_is_readable_in_outer_queue(q):
    with kevent.Queue() as inner:
        inner.add_user(1)
        q.add_poll(inner, kevent.PollFlag.IN, user="inner")
        assert q.wait(0) == []
        inner.trigger(1)
        evs = q.wait(2.0)
        assert [e.user for e in evs] == ["inner"]
        assert [e.ident for e in inner.wait(0)] == [1]
        q.remove_poll(inner)


def test_wait_timeout_returns_empty_list(q):
    assert q.wait(0) == []
    assert q.wait(0.05) == []
    assert q.poll() == []


def test_iteration_yields_events_and_ends_when_closed(q):
    for i in range(3):
        q.add_user(i, user=i)
        q.trigger(i)
    seen = []
    for ev in q:
        seen.append(ev.user)
        if len(seen) == 3:
            q.close()
    assert sorted(seen) == [0, 1, 2]


def test_len_counts_registrations(q):
    assert len(q) == 0
    assert q  # an empty queue is still true
    q.add_user(1)
    q.add_timer(1, 10.0)
    assert len(q) == 2
    assert q.registered(kevent.EventType.USER, 1)
    q.remove_user(1)
    assert len(q) == 1
    assert not q.registered(kevent.EventType.USER, 1)


def test_max_events_leaves_the_rest_in_the_ring(q):
    for i in range(10):
        q.add_user(i)
        q.trigger(i)
    first = q.wait(1.0, max_events=4)
    assert len(first) == 4
    rest = q.wait(1.0)
    assert len(rest) == 6
    assert sorted(e.ident for e in first + rest) == list(range(10))


def test_event_has_named_attributes(q):
    q.add_user(5, user="u")
    q.trigger(5)
    (ev,) = q.wait(1.0)
    assert ev.type is kevent.EventType.USER
    assert ev.ident == 5
    assert ev.user == "u"
    assert ev.count == 1
    assert ev.data == 1
    assert isinstance(ev.flags, kevent.ReqFlag)
    assert isinstance(ev.ret_flags, kevent.RetFlag)
    assert not ev.removed
    assert "USER" in repr(ev)
    with pytest.raises(AttributeError):
        ev.fd
    with pytest.raises(AttributeError):
        ev.extra = 1  # __slots__: lightweight


def test_fork_child_cannot_use_queue_and_close_is_harmless(q):
    q.add_user(1, user="parent")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what happens, never return into pytest
        code = 0
        try:
            try:
                q.trigger(1)
                code |= 1
            except OSError as e:
                if e.errno != errno.EBADF:
                    code |= 2
            q.close()
        except BaseException:
            code |= 4
        os.write(w, bytes([code]))
        os._exit(0)
    os.close(w)
    code = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert code == b"\x00"
    # the parent's queue is intact
    q.trigger(1)
    assert [e.user for e in q.wait(1.0)] == ["parent"]
