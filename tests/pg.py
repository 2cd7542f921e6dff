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


def cluster() -> str:
    return sorted(os.listdir("/etc/postgresql"))[0]


def postgres(action: str) -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster(), "main", action, *(["-m", "fast"] if action == "stop" else [])],
                   check=True, timeout=60)
    if action in ("start", "restart"):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("postgres did not come back")


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
