# SPDX-License-Identifier: MIT
"""kevent.KeventSelector: the selectors API and real asyncio programs."""

import asyncio
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading

import pytest

import kevent

from conftest import (STATE_TIMEOUT, InterruptWhenAsleep, Waiter, WhenAsleep,
                      kevent_wait_raw, wait_until_asleep)

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE


@pytest.fixture
def sel():
    s = kevent.KeventSelector()
    yield s
    s.close()


def test_is_a_base_selector(sel):
    assert isinstance(sel, selectors.BaseSelector)
    assert sel.fileno() >= 0
    assert sel.backend in ("kmod", "uring", "epoll")


def test_register_select_unregister(sel):
    a, b = socket.socketpair()
    with a, b:
        key = sel.register(a, EVENT_READ, "data")
        assert key.fd == a.fileno() and key.data == "data"
        assert sel.get_key(a) == key
        assert sel.get_map()[a] == key
        assert len(sel.get_map()) == 1
        assert list(sel.get_map()) == [a.fileno()]
        assert sel.select(0) == []
        b.send(b"x")
        assert sel.select(1.0) == [(key, EVENT_READ)]
        assert sel.select(1.0) == [(key, EVENT_READ)]  # level-triggered
        assert sel.unregister(a) == key
        assert sel.select(0) == []
        with pytest.raises(KeyError):
            sel.get_key(a)


def test_register_errors(sel):
    a, b = socket.socketpair()
    with a, b:
        with pytest.raises(ValueError):
            sel.register(a, 0)
        with pytest.raises(ValueError):
            sel.register(a, 4)
        with pytest.raises(ValueError):
            sel.register(-1, EVENT_READ)
        sel.register(a, EVENT_READ)
        with pytest.raises(KeyError):
            sel.register(a, EVENT_READ)
        with pytest.raises(KeyError):
            sel.unregister(b)
        with pytest.raises(KeyError):
            sel.modify(b, EVENT_READ)


def test_register_closed_fd_is_oserror(sel):
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError):
        sel.register(r, EVENT_READ)
    assert len(sel.get_map()) == 0


def test_modify_events_and_data(sel):
    a, b = socket.socketpair()
    with a, b:
        sel.register(a, EVENT_READ, "r")
        assert sel.select(0) == []
        key = sel.modify(a, EVENT_WRITE, "w")
        assert key.events == EVENT_WRITE and key.data == "w"
        assert sel.select(1.0) == [(key, EVENT_WRITE)]
        key2 = sel.modify(a, EVENT_WRITE, "w2")
        assert key2.data == "w2"
        b.send(b"x")
        key3 = sel.modify(a, EVENT_READ | EVENT_WRITE)
        assert sel.select(1.0) == [(key3, EVENT_READ | EVENT_WRITE)]


def test_unregister_drops_event_already_queued(sel):
    a, b = socket.socketpair()
    with a, b:
        sel.register(a, EVENT_READ)
        b.send(b"x")
        assert kevent_wait_raw(sel.fileno(), 1.0) == 1  # published, not taken
        sel.unregister(a)
        sel.register(a, EVENT_WRITE, "new")
        got = sel.select(1.0)
        assert [(k.data, ev) for k, ev in got] == [("new", EVENT_WRITE)]


def test_unregister_after_close_of_fileobj(sel):
    a, b = socket.socketpair()
    sel.register(a, EVENT_READ)
    a.close()
    b.close()
    sel.unregister(a)  # found by identity, like the stdlib selectors
    assert len(sel.get_map()) == 0


def test_select_timeout(sel):
    a, b = socket.socketpair()
    with a, b:
        key = sel.register(a, EVENT_READ)
        assert sel.select(0.05) == []  # expired: nothing
        # A timeout reaches kevent_wait as a finite timeout, no longer than
        # asked (read from the sleeping system call); data ends the sleep.
        t = Waiter(lambda: sel.select(30.0))
        asleep = wait_until_asleep(t.tid)
        b.send(b"x")
        assert t.finish() == [(key, EVENT_READ)]
        assert asleep.timeout_ns is not None, asleep
        assert 0 < asleep.timeout_ns <= 30 * 10**9, asleep
        a.recv(1)
        # <= 0 polls: it must not sleep (a sleep would be ended by the
        # watchdog's send, and select would return the event)
        done = threading.Event()
        watchdog = WhenAsleep(lambda: b.send(b"y"), stop=done.is_set)
        try:
            assert sel.select(-1) == []
            assert sel.select(0) == []
        finally:
            done.set()
        watchdog.check()
        assert not watchdog.acted


def test_hangup_reports_read_and_write(sel):
    a, b = socket.socketpair()
    with a:
        key = sel.register(a, EVENT_READ | EVENT_WRITE)
        b.close()
        # An entry published before the close carries only OUT; the hangup
        # then comes with the next delivery (coalescing, kevent(7)).
        seen = 0
        for _ in range(3):
            for k, ev in sel.select(1.0):
                assert k is key
                seen |= ev
            if seen & EVENT_READ:
                break
        assert seen == EVENT_READ | EVENT_WRITE


def test_context_manager_closes():
    with kevent.KeventSelector() as s:
        fd = s.fileno()
    with pytest.raises(OSError):
        os.fstat(fd)
    assert s.get_map() is None
    with pytest.raises(RuntimeError):
        s.get_key(0)
    with pytest.raises((ValueError, RuntimeError)):
        s.select(0)


def test_ctrl_c_during_select(sel):
    a, b = socket.socketpair()
    with a, b:
        sel.register(a, EVENT_READ)  # the rescue, if the signal is lost
        main = threading.main_thread().ident
        h = InterruptWhenAsleep(lambda: signal.pthread_kill(main, signal.SIGINT),
                                lambda: b.send(b"x"))
        try:
            with pytest.raises(KeyboardInterrupt):
                sel.select()
        finally:
            h.done.set()
        h.check()
        assert h.acted and not h.rescued


# ------------------------------------------------------------------ asyncio


@pytest.fixture
def loop():
    lp = kevent.new_event_loop()
    assert isinstance(lp._selector, kevent.KeventSelector)
    asyncio.set_event_loop(lp)
    yield lp
    lp.run_until_complete(lp.shutdown_asyncgens())
    asyncio.set_event_loop(None)
    lp.close()


def test_asyncio_echo_server_and_clients(loop):
    async def handle(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def client(port, i):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        payload = (b"%d-" % i) * 20000  # bigger than a socket buffer
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        got = b""
        while chunk := await reader.read(65536):
            got += chunk
        writer.close()
        await writer.wait_closed()
        return got == payload

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            results = await asyncio.gather(*(client(port, i) for i in range(50)))
        return results

    assert loop.run_until_complete(asyncio.wait_for(main(), 60)) == [True] * 50


def test_asyncio_sock_api_and_udp(loop):
    async def main():
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        with a, b:
            await loop.sock_sendall(a, b"ping")
            assert await loop.sock_recv(b, 4) == b"ping"

        got = loop.create_future()

        class Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                got.set_result(data)

        tr, _ = await loop.create_datagram_endpoint(Proto, local_addr=("127.0.0.1", 0))
        port = tr.get_extra_info("sockname")[1]
        tr2, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                      remote_addr=("127.0.0.1", port))
        tr2.sendto(b"dgram")
        assert await asyncio.wait_for(got, 5) == b"dgram"
        tr.close()
        tr2.close()

    loop.run_until_complete(main())


def test_asyncio_subprocess(loop):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c",
            "import sys; data = sys.stdin.read(); print(data.upper()); sys.exit(3)",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate(b"hello kevent")
        return out, proc.returncode

    out, rc = loop.run_until_complete(asyncio.wait_for(main(), 60))
    assert out.strip() == b"HELLO KEVENT"
    assert rc == 3


def test_asyncio_subprocess_shell_pipeline(loop):
    async def main():
        proc = await asyncio.create_subprocess_shell(
            "seq 1 5000 | wc -l", stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        return int(out), await proc.wait()

    assert loop.run_until_complete(asyncio.wait_for(main(), 60)) == (5000, 0)


def test_asyncio_timer_storm(loop):
    n = 20000
    fired = []

    async def main():
        done = loop.create_future()
        when = {}
        for i in range(n):
            when[i] = loop.call_later((i % 100) / 1000.0, fired.append, i).when()
        loop.call_later(0.15, done.set_result, None)
        await done
        sleeps = await asyncio.gather(*(asyncio.sleep(0.001 * (i % 50), result=i)
                                        for i in range(2000)))
        return sleeps, when

    sleeps, when = loop.run_until_complete(asyncio.wait_for(main(), 60))
    assert sorted(fired) == list(range(n))
    # in the order of their deadlines, whatever the load of the machine
    assert [when[i] for i in fired] == sorted(when[i] for i in fired)
    assert sleeps == list(range(2000))


def test_asyncio_add_signal_handler(loop):
    async def main():
        got = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, got.set_result, "usr1")
        try:
            loop.call_later(0.05, os.kill, os.getpid(), signal.SIGUSR1)
            return await asyncio.wait_for(got, 5)
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    assert loop.run_until_complete(main()) == "usr1"


def test_asyncio_signal_from_other_process_wakes_idle_loop(loop):
    # Another process sends the signal once the loop sleeps in kevent_wait.
    kill = ["sh", "-c", f"kill -USR2 {os.getpid()}"]
    h = None

    async def main():
        nonlocal h
        got = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR2, got.set_result, True)
        try:
            h = InterruptWhenAsleep(lambda: subprocess.run(kill, check=True),
                                    lambda: loop.call_soon_threadsafe(got.set_result, False))
            return await got
        finally:
            h.done.set()
            loop.remove_signal_handler(signal.SIGUSR2)

    assert loop.run_until_complete(main()) is True
    h.check()
    assert h.acted and not h.rescued


def test_asyncio_run_in_executor_and_threadsafe_calls(loop):
    main_tid = threading.get_native_id()

    def worker():
        # once the loop is idle, asleep in kevent_wait: the call wakes it
        wait_until_asleep(main_tid)
        loop.call_soon_threadsafe(fut.set_result, 42)

    async def main():
        nonlocal fut
        fut = loop.create_future()
        loop.run_in_executor(None, worker)
        return await asyncio.wait_for(fut, STATE_TIMEOUT)  # a hang detector

    fut = None

    assert loop.run_until_complete(main()) == 42


def test_kevent_run_helper():
    async def main():
        loop = asyncio.get_running_loop()
        assert isinstance(loop._selector, kevent.KeventSelector)
        await asyncio.sleep(0.01)
        return "ok"

    assert kevent.run(main()) == "ok"


def test_kevent_run_with_subprocess_and_server():
    async def main():
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", "echo out; exit 5", stdout=asyncio.subprocess.PIPE)
        out = await proc.stdout.read()
        rc = await proc.wait()

        async def handle(reader, writer):
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"line\n")
            echoed = await reader.readline()
            writer.close()
        return out, rc, echoed

    assert kevent.run(asyncio.wait_for(main(), 30)) == (b"out\n", 5, b"line\n")


def test_event_loop_policy():
    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(kevent.EventLoopPolicy())
    try:
        async def main():
            return type(asyncio.get_running_loop()._selector)

        assert asyncio.run(main()) is kevent.KeventSelector
    finally:
        asyncio.set_event_loop_policy(old)


def test_queue_nested_in_asyncio(loop):
    # A kevent.Queue's fd watched by the loop: wake on a USER trigger.
    async def main():
        with kevent.Queue() as q:
            q.add_user(1, user="from-queue")
            got = loop.create_future()

            def on_ready():
                for ev in q.poll():
                    if not got.done():
                        got.set_result(ev.user)

            loop.add_reader(q.fileno(), on_ready)
            try:
                # from another thread, once the loop sleeps in kevent_wait
                h = WhenAsleep(lambda: q.trigger(1))
                res = await asyncio.wait_for(got, STATE_TIMEOUT)  # a hang detector
                h.check()
                return res
            finally:
                loop.remove_reader(q.fileno())

    assert loop.run_until_complete(main()) == "from-queue"


@pytest.mark.parametrize("size", [256, 64])
def test_asyncio_more_connections_than_ring_entries(size):
    # 300 clients + 300 server sockets: more ready fds than a 256- or
    # 64-entry ring holds at once; the deferred ones must still be served.
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1024:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))

    async def handle(reader, writer):
        writer.write(await reader.readexactly(4))
        await writer.drain()
        writer.close()

    async def client(port, i):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"%04d" % i)
        data = await reader.readexactly(4)
        writer.close()
        return int(data)

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await asyncio.gather(*(client(port, i) for i in range(300)))

    with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(
            kevent.KeventSelector(size=size))) as runner:
        assert runner.run(asyncio.wait_for(main(), 60)) == list(range(300))
        assert runner.get_loop()._selector._ring_size == size


# ------------------------------------------- every ready fd, once (issue 18.1)


def _raise_nofile(n):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@pytest.fixture
def many_pairs():
    """1000 socketpairs (2000 fds), closed after the test."""
    assert _raise_nofile(4096) >= 2200, "RLIMIT_NOFILE too small for 1000 pairs"
    pairs = [socket.socketpair() for _ in range(1000)]
    yield pairs
    for a, b in pairs:
        a.close()
        b.close()


def test_the_selector_ring_defaults_to_4096_entries():
    with kevent.KeventSelector() as sel:
        assert sel._ring_size == kevent.KeventSelector.DEFAULT_RING == 4096
    with kevent.KeventSelector(size=64) as sel:
        assert sel._ring_size == 64


@pytest.mark.parametrize("size", [0, 256, 64, 4096],
                         ids=["default", "ring256", "ring64", "ring4096"])
def test_select_returns_every_ready_fd_once(many_pairs, size):
    # 1000 ready fds: more than a 256- or 64-entry ring holds, fewer than
    # 4096 (the selector's default).  EpollSelector returns them all in one select(); so must this,
    # whatever the ring (libkev defers what does not fit; the selector
    # waits again while a pass fills the ring).  ring4096 needs libkev to
    # publish everything ready in one zero-timeout wait (issue 15, 6).
    with kevent.KeventSelector(size=size) as sel:
        keys = {}
        for i, (a, b) in enumerate(many_pairs):
            keys[a.fileno()] = sel.register(a, EVENT_READ, i)
        for a, b in many_pairs:
            b.send(b"x")
        for _round in range(3):  # level-triggered: the same again
            got = sel.select(0)
            fds = [k.fd for k, ev in got]
            assert len(fds) == len(set(fds)), "an fd was returned twice"
            assert sorted(fds) == sorted(keys), \
                f"{len(fds)} of {len(keys)} ready fds returned"
            assert all(ev == EVENT_READ for k, ev in got)
            assert all(k is keys[k.fd] for k, ev in got)


def test_select_merges_the_events_of_a_republished_fd(many_pairs):
    # A pass that fills the ring is followed by another; an fd seen in both
    # appears once, with the union of its events.  On the epoll backend,
    # whose entries carry the readiness epoll reports when they are
    # published (see the next test for uring's).
    with kevent.KeventSelector(size=64, backend="epoll") as sel:
        for a, b in many_pairs[:200]:
            sel.register(a, EVENT_READ | EVENT_WRITE)
        for a, b in many_pairs[:200:2]:
            b.send(b"x")
        got = sel.select(0)
        assert len(got) == 200
        by_fd = {k.fd: ev for k, ev in got}
        for i, (a, b) in enumerate(many_pairs[:200]):
            want = EVENT_READ | EVENT_WRITE if i % 2 == 0 else EVENT_WRITE
            assert by_fd[a.fileno()] == want


def test_select_drops_stale_entries_of_a_full_ring(many_pairs):
    # The ring is full of published entries (64 of 300 ready); half of the
    # fds are unregistered before select(): none of them comes back, and
    # every one still registered does.
    with kevent.KeventSelector(size=64) as sel:
        for a, b in many_pairs[:300]:
            sel.register(a, EVENT_READ)
            b.send(b"x")
        assert kevent_wait_raw(sel.fileno(), 1.0) == 64
        for a, b in many_pairs[:300:2]:
            sel.unregister(a)
        got = sorted(k.fd for k, ev in sel.select(0))
        assert got == sorted(a.fileno() for a, b in many_pairs[1:300:2])


def test_select_events_are_a_subset_of_readiness_caught_up_by_the_next(many_pairs):
    # Every backend: an entry carries what fired since its previous
    # delivery.  With uring (and kmod) a registration for READ|WRITE that
    # fired WRITE at once, before the data came, delivers WRITE; READ comes
    # with the next delivery, at the next select().  EpollSelector reports
    # the readiness of the moment (a difference listed in python-kevent(3)).
    # What holds everywhere: never more than is true, and the next select
    # has all of it.
    with kevent.KeventSelector(size=64) as sel:
        pairs = many_pairs[:200]
        for a, b in pairs:
            sel.register(a, EVENT_READ | EVENT_WRITE)
        for a, b in pairs[::2]:
            b.send(b"x")
        want = {a.fileno(): (EVENT_READ | EVENT_WRITE if i % 2 == 0 else EVENT_WRITE)
                for i, (a, b) in enumerate(pairs)}
        first = {k.fd: ev for k, ev in sel.select(0)}
        assert sorted(first) == sorted(want)
        assert all(ev & ~want[fd] == 0 for fd, ev in first.items())
        second = {k.fd: ev for k, ev in sel.select(0)}
        assert second == want
        if sel.backend == "epoll":
            assert first == want
