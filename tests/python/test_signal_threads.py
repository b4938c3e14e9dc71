# SPDX-License-Identifier: MIT
"""add_signal in a threaded process (issue 18, item 3).

Python blocks a signal only in the calling thread; threads that existed
before (asyncio's default executor, a pool, threads of C libraries) keep it
unblocked, and a process-directed signal goes to one of them.  While a
signal is registered the binding's forwarder is its action: such a thread
blocks it when it arrives and sends it to the process again, so that it
stays pending for the queue.  Nothing is lost, the process survives, and
no Python handler runs.

Each scenario runs in a child interpreter: if a signal escaped, its
default action would kill that child, not pytest.  The threads exist
before add_signal() and are alive (blocked on an Event) while signals
come, so the kernel has no choice but to deliver to them.
"""

import os
import signal
import subprocess
import sys
import textwrap

import kevent

PRELUDE = textwrap.dedent('''
    import asyncio, os, signal, sys, threading, time
    import kevent

    def blocked_in(tid, sig):
        with open(f"/proc/self/task/{tid}/status") as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
        raise AssertionError("no SigBlk")

    def wait_for_call(calls):
        # the handler runs in this (the main) thread at the eval loop's
        # next check; the bound only turns a lost signal into a failure
        deadline = time.monotonic() + 60
        while not calls and time.monotonic() < deadline:
            time.sleep(0.001)
        assert calls == [signal.SIGUSR1], calls

    stop = threading.Event()
    tids = []
    def idle():
        tids.append(threading.get_native_id())
        stop.wait()
    threads = [threading.Thread(target=idle, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    while len(tids) < 4:
        time.sleep(0.001)   # (startup only; nothing is ordered by it)
    assert not any(blocked_in(t, signal.SIGUSR1) for t in tids)
''')


def run_child(body, timeout=300):
    code = PRELUDE + textwrap.dedent(body) + "\nstop.set()\nprint('OK')\n"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=timeout,
                         env=dict(os.environ, PYTHONFAULTHANDLER="1"))
    assert res.returncode == 0 and res.stdout.strip().endswith("OK"), (
        f"child exit status {res.returncode} "
        f"({'killed by ' + signal.Signals(-res.returncode).name if res.returncode < 0 else 'exited'})"
        f"\nstdout: {res.stdout}\nstderr: {res.stderr}")
    return res.stdout


def test_one_signal_visits_every_unblocking_thread_then_reaches_the_queue():
    # While no thread reads the queue, a process-directed signal can only
    # go to a thread that does not block it; the forwarder makes that
    # thread block it and sends it again: so one signal visits each idle
    # thread in turn, and then stays pending, for the queue, exactly once.
    run_child('''
        q = kevent.Queue()
        q.add_signal(signal.SIGUSR1)
        assert kevent._kevent.signal_forwarded(signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)
        deadline = time.monotonic() + 60   # a hang detector
        while not all(blocked_in(t, signal.SIGUSR1) for t in tids):
            assert time.monotonic() < deadline, "the signal did not go round"
            time.sleep(0.001)
        (ev,) = q.wait(60)
        assert ev.signal == signal.SIGUSR1 and ev.count == 1, ev
        assert q.wait(0) == []
    ''')


def test_signals_reach_the_queue_with_threads_that_do_not_block_them():
    # The same with the queue read meanwhile: whichever thread takes each
    # signal, the queue gets every one, once.
    run_child('''
        q = kevent.Queue()
        q.add_signal(signal.SIGUSR1)
        for i in range(50):
            os.kill(os.getpid(), signal.SIGUSR1)
            (ev,) = q.wait(60)
            assert ev.signal == signal.SIGUSR1 and ev.count == 1, ev
        q.close()
        assert not kevent._kevent.signal_forwarded(signal.SIGUSR1)
    ''')


def test_a_signal_sent_by_another_process_reaches_the_queue():
    run_child('''
        import subprocess
        q = kevent.Queue()
        q.add_signal(signal.SIGUSR1, user="usr1")
        for i in range(5):
            subprocess.run(["kill", "-USR1", str(os.getpid())], check=True)
            (ev,) = q.wait(60)
            assert ev.user == "usr1"
    ''')


def test_realtime_signals_are_all_counted():
    run_child('''
        sig = signal.SIGRTMIN + 2
        q = kevent.Queue()
        q.add_signal(sig)
        for _ in range(5):
            os.kill(os.getpid(), sig)   # real-time signals queue: 5 of them
        total = 0
        while total < 5:
            total += sum(ev.count for ev in q.wait(60))
        assert total == 5, total
        assert q.wait(0) == []
    ''')


def test_a_signal_sent_to_an_unblocking_thread_reaches_the_queue():
    # thread-directed (pthread_kill) to a thread that does not block it:
    # forwarded to the process
    run_child('''
        q = kevent.Queue()
        q.add_signal(signal.SIGUSR1)
        target = threads[0]
        signal.pthread_kill(target.ident, signal.SIGUSR1)
        (ev,) = q.wait(60)
        assert ev.signal == signal.SIGUSR1
        assert blocked_in(tids[0], signal.SIGUSR1)
    ''')


def test_the_python_handler_does_not_run_while_registered_and_again_after():
    run_child('''
        calls = []
        signal.signal(signal.SIGUSR1, lambda s, f: calls.append(s))
        q = kevent.Queue()
        q.add_signal(signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)
        (ev,) = q.wait(60)
        assert calls == []
        q.remove_signal(signal.SIGUSR1)
        # the Python handler is the action again; the main thread no
        # longer blocks it
        assert not kevent._kevent.signal_forwarded(signal.SIGUSR1)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
        wait_for_call(calls)
    ''')


def test_asyncio_default_executor_threads():
    # The case: every asyncio program has threads (the default
    # executor); a signal registered after they exist reaches the queue,
    # awaited with q.get() on the loop.
    run_child('''
        async def main():
            loop = asyncio.get_running_loop()
            # start the default executor's threads, and keep them alive
            started = threading.Barrier(3)
            release = threading.Event()
            futs = [loop.run_in_executor(None, lambda: (started.wait(), release.wait()))
                    for _ in range(2)]
            started.wait()
            with kevent.Queue() as q:
                q.add_signal(signal.SIGUSR1, user="usr1")
                for _ in range(10):
                    os.kill(os.getpid(), signal.SIGUSR1)
                    ev = await asyncio.wait_for(q.get(), 60)
                    assert ev.user == "usr1", ev
            release.set()
            await asyncio.gather(*futs)
        asyncio.run(main())
    ''')


def test_two_queues_share_a_signal_and_the_last_one_restores():
    run_child('''
        old = signal.getsignal(signal.SIGUSR2)
        q1, q2 = kevent.Queue(), kevent.Queue()
        q1.add_signal(signal.SIGUSR2)
        q2.add_signal(signal.SIGUSR2)
        q1.close()
        assert kevent._kevent.signal_forwarded(signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR2)
        (ev,) = q2.wait(60)
        q2.close()
        assert not kevent._kevent.signal_forwarded(signal.SIGUSR2)
        assert signal.SIGUSR2 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    ''')


def test_a_handler_set_meanwhile_is_left_in_place():
    # signal.signal() while registered replaces the forwarder; the end of
    # the registration does not put the old action back over it
    run_child('''
        calls = []
        q = kevent.Queue()
        q.add_signal(signal.SIGUSR1)
        signal.signal(signal.SIGUSR1, lambda s, f: calls.append(s))
        q.remove_signal(signal.SIGUSR1)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
        wait_for_call(calls)
    ''')


def test_forwarder_state_in_this_process(q):
    # (in pytest's process: the forwarder comes and goes with the
    # registrations, and the main thread's mask is restored; the autouse
    # fixture of conftest checks the mask too)
    assert not kevent._kevent.signal_forwarded(signal.SIGUSR2)
    q.add_signal(signal.SIGUSR2)
    assert kevent._kevent.signal_forwarded(signal.SIGUSR2)
    q.remove_signal(signal.SIGUSR2)
    assert not kevent._kevent.signal_forwarded(signal.SIGUSR2)
