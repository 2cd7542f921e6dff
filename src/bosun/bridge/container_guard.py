"""Runs `podman run` for a bridged server and makes sure its container goes when the podman client does.

Usage (built by bridge/container.py, never by hand): `python -I -S container_guard.py NAME PODMAN RUN-ARGS...`.

Why it exists: `podman run --rm -i` is a client; the container is kept by conmon, outside the client's process
group. When the bridge stops a child it closes stdin, then SIGTERMs and SIGKILLs the child's group; a server that
ignores its closed stdin and SIGTERM is left running once the client is killed (podman 4.3 does nothing more). So
before it becomes the podman client (exec: same pid, same process group, the parent-death signal kept), this guard
forks a watcher into a session of its own, holding none of the child's pipes. The watcher waits for that pid to end,
whatever ends it (a normal exit, the stop sequence's SIGKILL, Bosun itself killed), then removes the container by its
unique name (`podman rm --force --time 0 --ignore`, a no-op when `--rm` already did it).

It runs as a script (`-I -S`: the standard library only), not as a module of the package, so that starting it costs
a bare interpreter's start and not Bosun's imports. It must not read or write the child's stdin or stdout.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

_TRIES = 3  # a container still being created when its client died may appear after a first removal


def watch_and_remove(leader: int, podman: str, name: str) -> None:
    """In the watcher: wait until `leader` (its parent, the podman client) has ended, then remove the container."""
    try:
        watched = os.pidfd_open(leader)
    except (AttributeError, OSError):  # no pidfd (not Linux), or the leader is gone already
        watched = -1
    while os.getppid() == leader:  # still its child: the leader lives (a pid reused since cannot pass this test)
        if watched >= 0:
            select.select([watched], [], [])
            break
        time.sleep(0.5)
    for attempt in range(_TRIES):
        subprocess.run([podman, "rm", "--force", "--time", "0", "--ignore", name], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
        exists = subprocess.run([podman, "container", "exists", name], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
        if exists.returncode != 0 or attempt == _TRIES - 1:
            return
        time.sleep(1)


def main(arguments: list[str]) -> int:
    if len(arguments) < 3:
        print("usage: container_guard.py NAME PODMAN RUN-ARGS...", file=sys.stderr)
        return 125
    name, podman, run = arguments[0], arguments[1], arguments[1:]
    leader = os.getpid()
    if os.fork() == 0:  # the watcher: out of the child's group, holding none of its pipes
        try:
            os.setsid()
            quiet = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(quiet, fd)
            watch_and_remove(leader, podman, name)
        finally:
            os._exit(0)
    try:
        os.execvp(podman, run)
    except OSError as failure:
        print(f"could not run {podman}: {failure.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
