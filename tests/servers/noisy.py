"""A server that prints to stdout and logs, as real code does, for tests/test_stdio.py: over stdio none of
it may reach the protocol stream."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from bosun import Server

server = Server("noisy", "1.0.0")
print("printed while importing")  # noqa: T201  (the point of this server)
_MARKER = Path(os.environ.get("NOISY_MARKER", os.devnull))


@server.startup
async def opened() -> None:
    with _MARKER.open("a") as marker:
        marker.write("started\n")


@server.shutdown
async def closed() -> None:
    with _MARKER.open("a") as marker:
        marker.write("stopped\n")


@server.tool()
def shout(text: str) -> str:
    print(f"printed by a tool: {text}")  # noqa: T201
    logging.getLogger("noisy").warning("logged by a tool: %s", text)
    return text.upper()
