"""The checks of a bridge's `ContainerOptions` (options.py), kept apart so that options.py stays one screen per idea.

Everything here ends up on podman's command line (bridge/container.py), so the checks are strict: an image
reference, a plain network name, a size, absolute normal paths without the characters podman's mount syntax splits on.
They never run podman: they are made when the configuration is read, where a typo must fail the start.
"""

from __future__ import annotations

import os
import re
from typing import Protocol


class Container(Protocol):
    """What the checks read of a `ContainerOptions` (options.py imports this module, so it cannot be named here)."""

    @property
    def image(self) -> str: ...
    @property
    def network(self) -> str: ...
    @property
    def memory(self) -> str | None: ...
    @property
    def cpus(self) -> float | None: ...
    @property
    def pids(self) -> int | None: ...
    @property
    def mounts(self) -> tuple[str, ...]: ...
    @property
    def tmpfs(self) -> tuple[str, ...]: ...
    @property
    def user(self) -> str | None: ...
    @property
    def podman(self) -> str: ...
    @property
    def pull(self) -> str: ...
    @property
    def read_only(self) -> bool: ...
    @property
    def init(self) -> bool: ...


_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$")
_NETWORK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([bkmg]?)$", re.IGNORECASE)
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$")
_TMPFS_OPTIONS = re.compile(r"^[A-Za-z0-9=_.-]+(,[A-Za-z0-9=_.-]+)*$")
_PULL = ("missing", "never", "always", "newer")


def _clean_path(path: str) -> bool:
    """Absolute, normal (no `..`, no `//`), and without the characters podman's mount syntax splits on."""
    return (path.startswith("/") and os.path.normpath(path) == path and "//" not in path
            and not any(c in path for c in ":,\n\r\0"))


def container_problems(options: Container) -> list[str]:
    """What is wrong with `options`, each problem naming its field; empty when nothing is."""
    problems = []
    if not isinstance(options.image, str) or not _IMAGE.match(options.image):
        problems.append(f"image {str(options.image)[:80]!r}: an image reference such as registry.example/team/server:1.2")
    if options.network == "host" or not isinstance(options.network, str) or not _NETWORK.match(options.network):
        problems.append(f"network {str(options.network)[:64]!r}: \"none\" or the name of a podman network (not \"host\", "
                        "which is the host's own network and its loopback services, nor another container's namespace)")
    if options.memory is not None:
        size = _MEMORY.match(str(options.memory))
        scale = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
        if size is None or float(size[1]) * scale[size[2].lower()] < 6 << 20:
            problems.append(f"memory {str(options.memory)[:32]!r}: a size of at least 6m, such as \"512m\" or \"1g\"")
    if options.cpus is not None and (isinstance(options.cpus, bool) or not isinstance(options.cpus, (int, float))
                                     or not options.cpus >= 0.01):
        problems.append("cpus: a number of CPUs, at least 0.01")
    if options.pids is not None and (isinstance(options.pids, bool) or not isinstance(options.pids, int) or options.pids < 1):
        problems.append("pids: at least 1")
    for index, mount in enumerate(options.mounts):
        parts = str(mount).split(":")
        if len(parts) not in (2, 3) or not all(_clean_path(part) for part in parts[:2]) or parts[2:] not in ([], ["ro"], ["rw"]):
            problems.append(f"mounts[{index}] {str(mount)[:120]!r}: \"/host/path:/container/path\", then \":ro\" "
                            "(the default) or \":rw\"; absolute paths without \"..\", \":\" or \",\"")
        elif parts[1] == "/":
            problems.append(f"mounts[{index}]: the container's root cannot be a mount")
        elif not os.path.exists(parts[0]):
            problems.append(f"mounts[{index}]: {parts[0][:120]} does not exist")
    for index, tmpfs in enumerate(options.tmpfs):
        path, _, extra = str(tmpfs).partition(":")
        if not _clean_path(path) or path == "/" or (extra and not _TMPFS_OPTIONS.match(extra)):
            problems.append(f"tmpfs[{index}] {str(tmpfs)[:80]!r}: an absolute path, then \":\" and podman's tmpfs options if any")
    if options.user is not None and not _USER.match(str(options.user)):
        problems.append(f"user {str(options.user)[:64]!r}: a user, or user:group (names or numbers)")
    if not isinstance(options.podman, str) or not options.podman or any(c.isspace() for c in options.podman) \
            or options.podman.startswith("-"):
        problems.append("podman: the podman program (a name on PATH or a path)")
    if options.pull not in _PULL:
        problems.append(f"pull {str(options.pull)[:16]!r}: one of {', '.join(_PULL)}")
    for key, value in (("read_only", options.read_only), ("init", options.init)):
        if not isinstance(value, bool):
            problems.append(f"{key}: true or false")
    return problems
