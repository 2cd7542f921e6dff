"""A Bosun stdio server that tests/test_bridge_container.py runs inside the project's image (mounted read-only at
/probe): each tool reports what the container lets it do, read from the kernel's own answers (/proc, /sys, errno)."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from bosun import Server

server = Server("container-child", "1.0.0")

if os.environ.get("CHILD_STUBBORN") == "1":
    # A server that will not end: neither the end of its input nor SIGTERM (which stops its serving) ends the process,
    # which a thread that never finishes holds up. Only SIGKILL does: in a container, `podman rm --force` or `kill`.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=threading.Event().wait, name="holds-the-process-up").start()


def _first(*paths: str) -> str | None:
    """The first of `paths` that can be read (cgroup v2's file, else v1's), stripped."""
    for path in paths:
        try:
            return Path(path).read_text().strip()
        except OSError:
            continue
    return None


def _write(path: str) -> str:
    try:
        Path(path).write_text("written")
        return "ok" if Path(path).read_text() == "written" else "read back wrong"
    except OSError as failure:
        return errno.errorcode.get(failure.errno or 0, str(failure))


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def confinement() -> dict[str, Any]:
    """Capabilities, privileges, cgroup limits, network interfaces, mounts and writable places, as the kernel says."""
    status = dict(line.split(":\t", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":\t" in line)
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return {
        "uid": os.getuid(),
        "cap_eff": status["CapEff"].strip(), "cap_prm": status["CapPrm"].strip(), "cap_bnd": status["CapBnd"].strip(),
        "no_new_privs": status["NoNewPrivs"].strip(),
        "memory_limit": _first("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        "pids_limit": _first("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"),
        "cpu_quota": _first("/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
        "cpu_period": _first("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "mounts": mounts,
    }


@server.tool()
def write(path: str) -> str:
    """Write a file: "ok", or the errno's name (EROFS on a read-only file system)."""
    return _write(path)


@server.tool()
def connect(host: str, port: int) -> str:
    """Try a TCP connection out: "connected", or the errno's name."""
    try:
        with socket.create_connection((host, port), timeout=3):
            return "connected"
    except OSError as failure:
        return errno.errorcode.get(failure.errno or 0, type(failure).__name__)


@server.tool()
def exists(path: str) -> bool:
    """Whether `path` can be seen from inside."""
    return os.path.exists(path)


@server.tool()
def digest(variable: str) -> str:
    """The SHA-256 of an environment variable's value (never the value), or "unset"."""
    value = os.environ.get(variable)
    return "unset" if value is None else hashlib.sha256(value.encode()).hexdigest()
