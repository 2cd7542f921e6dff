"""The fixtures the task tests share (a pytest plugin: `pytest_plugins = ["tasks_fixtures"]` in a test module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tasks_http import Servers

from conftest import free_port
from pg import PrivateRedis


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """One private Redis for a test module's `redis` cases (each server empties it first)."""
    redis = PrivateRedis(free_port(), tmp_path_factory.mktemp("tasks-redis"))
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture()
def serve(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Servers]:
    servers = Servers(request, tmp_path / "server.log")
    yield servers
    servers.close()
