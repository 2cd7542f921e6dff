"""Helpers for tests that use the machine's real PostgreSQL and Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

PG_DSN = os.environ.get("BOSUN_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def psql(sql: str, database: str = "test") -> str:
    run = subprocess.run(["psql", f"{PG_DSN}/{database}", "-At", "-c", sql], capture_output=True, text=True, timeout=30)
    if run.returncode != 0:
        raise RuntimeError(run.stderr)
    return run.stdout.strip()


def fresh_database(name: str) -> str:
    psql(f"drop database if exists {name} with (force)")
    psql(f"create database {name}")
    return f"{PG_DSN}/{name}"


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb in a temporary directory, a free port), so a test can stop
    and start it without touching the machine's shared server. Runs as the `postgres` user, as PostgreSQL requires."""

    def __init__(self, port: int) -> None:
        import tempfile

        self.port = port
        # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="bosun-pg-"))
        self.root.chmod(0o755)
        self.directory = self.root / "pgdata"
        version = sorted(os.listdir("/usr/lib/postgresql"))[-1]
        self.bin = Path("/usr/lib/postgresql") / version / "bin"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        if not (self.directory / "PG_VERSION").exists():
            self.directory.mkdir(mode=0o700)
            if os.geteuid() == 0:
                shutil.chown(self.directory, "postgres", "postgres")
            self._as_postgres(str(self.bin / "initdb"), "-D", str(self.directory), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.directory), "-o", options, "-l",
                          str(self.directory / "server.log"), "-w", "start")

    def stop(self) -> None:
        if (self.directory / "postmaster.pid").exists():
            self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.directory), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A redis-server of the test's own on a free port, so stopping it disturbs nothing else."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", str(self.directory)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() == b"PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None
