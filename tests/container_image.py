"""The project's image, localhost/bosun:ci, built once per test run for every test that runs it with podman.

A pytest plugin: a test module names it in `pytest_plugins` and asks for `bosun_image`, a session fixture that
builds the image with scripts/container-build.sh (the steps scripts/container-test.sh runs too) the first time a test
asks, and removes it when the run ends. The image is built afresh in each run (it proves the Dockerfile as it is);
only the Debian base is kept between runs. The build's settings and log go to a directory of /var/tmp named like
container-test.sh's (tests/services.py knows the prefix), removed with the image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from conftest import ROOT

IMAGE = "localhost/bosun:ci"


@dataclass(frozen=True)
class BuiltImage:
    name: str
    id: str
    containers_conf: str
    """podman's settings for this host (runc, ulimits): every podman a test starts is given it (CONTAINERS_CONF)."""
    build_seconds: float
    directory: str

    def podman(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "CONTAINERS_CONF": self.containers_conf})


def _build() -> BuiltImage:
    directory = tempfile.mkdtemp(prefix="bosun-container-test.", dir="/var/tmp")
    started = time.monotonic()
    run = subprocess.run([str(ROOT / "scripts" / "container-build.sh"), directory], cwd=ROOT, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, f"the image did not build (log in {directory}): {run.stdout[-2000:]}{run.stderr[-3000:]}"
    image_id = run.stdout.split()[-1]
    return BuiltImage(IMAGE, image_id, os.path.join(directory, "containers.conf"), time.monotonic() - started, directory)


@pytest.fixture(scope="session")
def bosun_image() -> Iterator[BuiltImage]:
    """The run's build of the image, made when a test first asks for it."""
    image = _build()
    print(f"image {image.name} ({image.id[:12]}) built in {image.build_seconds:.1f}s")
    yield image
    image.podman("rmi", "--force", image.id)
    shutil.rmtree(image.directory, ignore_errors=True)
