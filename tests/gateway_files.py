"""Gateway files for the tests, and a gateway served from one (`bosun serve FILE.json`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bridge_children import EVERYTHING, FILESYSTEM, MEMORY, TIME

from conftest import ROOT, Running, start_server

MISBEHAVING = str(ROOT / "tests" / "servers" / "misbehaving_child.py")


def stdio(command: list[str], **bosun: Any) -> dict[str, Any]:
    """A backend entry as a desktop client writes it (`command`, `args`), with Bosun's keys beside."""
    return {"command": command[0], "args": command[1:], **bosun}


def misbehaving(mode: str = "normal", *extra: str, **bosun: Any) -> dict[str, Any]:
    return stdio([sys.executable, MISBEHAVING, mode, *extra], **bosun)


def five_local(directory: Path) -> dict[str, Any]:
    """The npm and PyPI servers of the end-to-end tests, each under its own prefix."""
    return {
        "everything": stdio(EVERYTHING),
        "fs": stdio([*FILESYSTEM, str(directory)]),
        "memory": stdio(MEMORY, isolation="principal", env={"MEMORY_FILE_PATH": str(directory / "memory-{isolation_key}.json")}),
        "time": stdio(TIME),
    }


def write(directory: Path, servers: dict[str, Any], **top: Any) -> Path:
    path = directory / "gateway.json"
    path.write_text(json.dumps({"mcpServers": servers, **top}, indent=2))
    return path


def serve(path: Path, *, log: Path | None = None, env: dict[str, str] | None = None,
          args: list[str] | None = None) -> Running:
    return start_server(str(path), env=env, log=log, args=args if args is not None else (
        ["--log-level", "info"] if log is not None else None))
