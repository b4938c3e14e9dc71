#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""watch.py - watch a directory and a child process with one kevent queue.

    python3 watch.py [DIRECTORY]

Starts a child shell that creates, modifies, renames and deletes files in
DIRECTORY (a new temporary directory by default), prints every event the
queue reports about the directory and the child, and ends when the child
has exited (or after a 10 s safety timer).
"""

import os
import subprocess
import sys
import tempfile

import kevent
from kevent import InodeFlag

SCRIPT = """
sleep 0.2
echo hello > "$1/a.txt"
echo more >> "$1/a.txt"
chmod 600 "$1/a.txt"
mv "$1/a.txt" "$1/b.txt"
rm "$1/b.txt"
sleep 0.2
exit 3
"""

DIR_EVENTS = (InodeFlag.CREATE | InodeFlag.DELETE | InodeFlag.MODIFY | InodeFlag.MOVE
              | InodeFlag.ATTRIB)


def main(argv):
    """Run the demo; return the exit status of the program."""
    tmp = None
    if len(argv) > 1:
        directory = argv[1]
    else:
        tmp = tempfile.TemporaryDirectory(prefix="kevent-watch-")
        directory = tmp.name

    with kevent.Queue() as q:
        q.add_inode(directory, DIR_EVENTS, user="directory")
        child = subprocess.Popen(["sh", "-c", SCRIPT, "sh", directory])
        q.add_proc(child, user="child")
        q.add_timer(1, 10.0, oneshot=True, user="safety timer")
        print(f"watching {directory} and child {child.pid} ({q.backend} backend)",
              flush=True)

        for ev in q:
            if ev.type is kevent.EventType.INODE:
                print(f"directory: {ev.mask.name}", flush=True)
            elif ev.type is kevent.EventType.PROC:
                print(f"child {ev.pid} exited with status {ev.returncode}",
                      flush=True)
                break
            elif ev.type is kevent.EventType.TIMER:
                print("timed out", flush=True)
                child.kill()
                break
        child.wait()

    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
