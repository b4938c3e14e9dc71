# SPDX-License-Identifier: MIT
"""KEVENT_INODE through kevent.Queue."""

import errno
import os
import pathlib

import pytest

import kevent
from kevent import InodeFlag

from conftest import wait_for


def _mask(evs):
    m = InodeFlag(0)
    for e in evs:
        m |= e.mask
    return m


def test_directory_create_and_delete(q, tmp_path):
    fd = q.add_inode(tmp_path, InodeFlag.CREATE | InodeFlag.DELETE, user="dir")
    assert os.fstat(fd)  # opened by the module
    (tmp_path / "a").write_text("x")
    evs = wait_for(q, lambda evs: _mask(evs) & InodeFlag.CREATE)
    assert evs[0].type is kevent.EventType.INODE
    assert evs[0].fd == fd and evs[0].user == "dir"
    assert evs[0].obj == tmp_path
    assert isinstance(evs[0].mask, InodeFlag)
    (tmp_path / "a").unlink()
    wait_for(q, lambda evs: _mask(evs) & InodeFlag.DELETE)
    q.remove_inode(tmp_path)
    with pytest.raises(OSError) as ei:
        os.fstat(fd)  # closed again
    assert ei.value.errno == errno.EBADF


def test_file_modify_and_attrib(q, tmp_path):
    p = tmp_path / "f"
    p.write_text("x")
    q.add_inode(str(p), InodeFlag.MODIFY | InodeFlag.ATTRIB)
    with open(p, "a") as f:
        f.write("more")
    wait_for(q, lambda evs: _mask(evs) & InodeFlag.MODIFY)
    os.chmod(p, 0o600)
    wait_for(q, lambda evs: _mask(evs) & InodeFlag.ATTRIB)
    q.remove_inode(str(p))


def test_move_in_directory(q, tmp_path):
    (tmp_path / "a").write_text("x")
    q.add_inode(tmp_path, InodeFlag.MOVE)
    os.rename(tmp_path / "a", tmp_path / "b")
    wait_for(q, lambda evs: _mask(evs) & InodeFlag.MOVE)


def test_delete_self_ends_registration_and_closes_fd(q, tmp_path):
    p = tmp_path / "gone"
    p.write_text("x")
    fd = q.add_inode(p, InodeFlag.DELETE_SELF)
    p.unlink()
    evs = wait_for(q, lambda evs: any(e.removed for e in evs))
    last = [e for e in evs if e.removed][-1]
    assert last.gone
    assert _mask(evs) & InodeFlag.DELETE_SELF
    assert len(q) == 0
    with pytest.raises(OSError):
        os.fstat(fd)


def test_watch_by_fd_stays_callers(q, tmp_path):
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert q.add_inode(dfd, InodeFlag.CREATE) == dfd
        (tmp_path / "x").touch()
        wait_for(q, lambda evs: _mask(evs) & InodeFlag.CREATE)
        q.remove_inode(dfd)
        os.fstat(dfd)  # still open
    finally:
        os.close(dfd)


def test_missing_path_is_file_not_found(q, tmp_path):
    with pytest.raises(FileNotFoundError):
        q.add_inode(tmp_path / "nope")


def test_pathlike_and_modify(q, tmp_path):
    class P(os.PathLike):
        def __fspath__(self):
            return str(tmp_path)

    q.add_inode(P(), InodeFlag.DELETE)
    q.modify_inode(tmp_path, InodeFlag.CREATE)
    (tmp_path / "y").touch()
    wait_for(q, lambda evs: _mask(evs) & InodeFlag.CREATE)
    q.remove(kevent.EventType.INODE, pathlib.Path(tmp_path))
    assert len(q) == 0


def test_remove_unknown_path_is_file_not_found(q, tmp_path):
    with pytest.raises(FileNotFoundError):
        q.remove_inode(tmp_path)


def test_same_path_rewatched_after_oneshot_keeps_new_registration(q, tmp_path):
    q.add_inode(tmp_path, InodeFlag.CREATE, oneshot=True, user="old")
    (tmp_path / "a").touch()
    assert q._raw.wait(1, 5.0) >= 1        # the oneshot event is in the ring
    q.add_inode(tmp_path, InodeFlag.CREATE, user="new")  # a new fd
    evs = wait_for(q, lambda evs: any(e.user == "old" for e in evs))
    assert [e.user for e in evs if e.removed] == ["old"]
    assert q.registered(kevent.EventType.INODE, tmp_path)
    (tmp_path / "b").touch()
    wait_for(q, lambda evs: any(e.user == "new" for e in evs))
    q.remove_inode(tmp_path)               # still found by its path
    assert len(q) == 0
