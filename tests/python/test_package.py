# SPDX-License-Identifier: MIT
"""The package itself: public names, docstrings, typing files, example."""

import enum
import inspect
import os
import pathlib
import subprocess
import sys

import pytest

import kevent

PKG = pathlib.Path(kevent.__file__).parent
EXAMPLES = pathlib.Path(os.environ.get(
    "KEVENT_EXAMPLES_DIR",
    pathlib.Path(__file__).resolve().parents[2] / "examples" / "python"))


def test_extension_is_part_of_the_package():
    assert kevent._kevent.__name__ == "kevent._kevent"
    assert pathlib.Path(kevent._kevent.__file__).parent == PKG


def test_typing_files_are_shipped():
    assert (PKG / "py.typed").exists()
    assert (PKG / "__init__.pyi").exists()
    assert (PKG / "_kevent.pyi").exists()


def test_stub_declares_every_public_name():
    stub = (PKG / "__init__.pyi").read_text()
    for name in kevent.__all__:
        assert (f"class {name}" in stub or f"def {name}" in stub
                or f"{name}:" in stub), name


def test_every_public_name_has_a_docstring():
    missing = []
    for name in kevent.__all__:
        obj = getattr(kevent, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not inspect.getdoc(obj):
                missing.append(name)
        if inspect.isclass(obj) and not issubclass(obj, enum.Enum):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if callable(member) or isinstance(member, property):
                    if not inspect.getdoc(member):
                        missing.append(f"{name}.{attr}")
    assert missing == []


def test_flags_match_poll_constants():
    import select
    assert kevent.PollFlag.IN == select.POLLIN
    assert kevent.PollFlag.OUT == select.POLLOUT
    assert kevent.PollFlag.PRI == select.POLLPRI
    assert kevent.PollFlag.ERR == select.POLLERR
    assert kevent.PollFlag.HUP == select.POLLHUP
    assert kevent.PollFlag.RDHUP == select.POLLRDHUP


def test_watch_example_runs_and_ends(tmp_path):
    script = EXAMPLES / "watch.py"
    assert script.exists(), script
    res = subprocess.run([sys.executable, str(script), str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "watching" in out
    assert "CREATE" in out
    assert "exited with status 3" in out


TYPED_USAGE = '''
import asyncio, datetime, signal, socket, subprocess
import kevent

def use(q: kevent.Queue) -> None:
    a, b = socket.socketpair()
    q.add_poll(a, kevent.PollFlag.IN | kevent.PollFlag.RDHUP, user={"x": 1}, edge=True)
    q.add_timer(1, 0.5, oneshot=True, clock=kevent.Clock.BOOTTIME)
    q.add_timer(2, datetime.datetime.now() + datetime.timedelta(seconds=1))
    q.add_signal(signal.SIGUSR1, dispatch=True)
    fd: int = q.add_inode("/tmp", kevent.InodeFlag.CREATE)
    q.add_proc(subprocess.Popen(["true"]))
    q.add_user(4, prio=kevent.PRIO_MAX)
    q.modify_user(4, prio=None)
    q.prio_bound = kevent.PRIO_BOUND_DEFAULT
    bound: int = q.prio_bound
    q.stats_enabled = True
    st: kevent.Stats = q.stats
    hist: tuple[int, ...] = st.publish_to_consume
    print(st.published, st.enabled, hist[kevent.STATS_BUCKETS - 1])
    for ev in q.wait(0.1, max_events=8):
        t: kevent.EventType = ev.type
        s: int | None = ev.status
        p: int = ev.prio
        print(ev.fd, ev.mask, ev.user, t, s, ev.removed, p, bound)
    q.remove(kevent.EventType.INODE, fd)
    q.trigger(3)

async def amain() -> int:
    await asyncio.sleep(0)
    return 1

x: int = kevent.run(amain())
loop: asyncio.AbstractEventLoop = kevent.new_event_loop()
sel: kevent.KeventSelector = kevent.KeventSelector()
'''


def test_stubs_type_check_a_program_with_mypy_strict(tmp_path):
    try:
        from mypy import api
    except ImportError:
        pytest.skip("mypy is not installed (Debian package python3-mypy)")
    src = tmp_path / "usage.py"
    src.write_text(TYPED_USAGE)
    out, err, rc = api.run(["--strict", "--no-error-summary", "--cache-dir",
                            str(tmp_path / "cache"), str(src)])
    assert rc == 0, out + err


def _bullets(text, heading):
    """The "- " items of the section of text that starts at heading."""
    part = text.split(heading, 1)[1]
    items, cur = [], None
    for line in part.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("- "):
            cur = [line[2:]]
            items.append(cur)
        elif cur is not None and line.startswith("  "):
            cur.append(line.strip())
        elif cur is not None and not line.strip() and items:
            cur = None
    return [" ".join(" ".join(i).split()) for i in items]


def test_the_differences_from_epoll_are_the_same_in_the_man_page_and_next_to_the_runner():
    root = pathlib.Path(__file__).resolve().parents[2]
    md = (root / "tests" / "cpython" / "differences.md").read_text()
    man = (root / "man" / "python-kevent.3.scd").read_text()
    a = _bullets(md, "## Expected differences from EpollSelector")
    b = _bullets(man, "## Differences from EpollSelector")
    assert len(a) == len(b) >= 4
    strip = lambda s: "".join(ch for ch in s.lower() if ch.isalnum())[:40]
    assert [strip(x) for x in a] == [strip(x) for x in b]
