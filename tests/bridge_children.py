"""The real MCP servers the bridge tests run as children, and how to start Bosun in front of one.

The npm servers are pinned in tests/bridge/package-lock.json (installed by scripts/setup.sh dev); the
Python ones come from the dev lock. Their era is never assumed: the bridge probes it, and the tests
read what it found from the log.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

from conftest import ROOT, Running, start_server

MODULES = ROOT / "tests" / "bridge" / "node_modules"
NODE = shutil.which("node") or "node"
EVERYTHING = [NODE, str(MODULES / "@modelcontextprotocol/server-everything/dist/index.js"), "stdio"]
MEMORY = [NODE, str(MODULES / "@modelcontextprotocol/server-memory/dist/index.js")]
FILESYSTEM = [NODE, str(MODULES / "@modelcontextprotocol/server-filesystem/dist/index.js")]


def _npx() -> list[str]:
    """npx as the node on PATH ships it: `node .../npm/bin/npx-cli.js` (the Node wheel's `bin/npx` is a copy that
    cannot find its library when run from there, so it is not run directly)."""
    cli = Path(NODE).resolve().parent.parent / "lib" / "node_modules" / "npm" / "bin" / "npx-cli.js"
    return [NODE, str(cli)] if cli.exists() else [shutil.which("npx") or "npx"]


NPX_EVERYTHING = [*_npx(), "--no-install", "--prefix", str(ROOT / "tests" / "bridge"), "mcp-server-everything", "stdio"]
CHILDREN_PYTHON = ROOT / ".venv-children" / "bin" / "python"  # scripts/bridge_children.sh: the mcp 1.x servers
TIME = [str(CHILDREN_PYTHON), "-m", "mcp_server_time", "--local-timezone", "UTC"]
GIT = [str(CHILDREN_PYTHON), "-m", "mcp_server_git"]
PYTHON_CHILD = [sys.executable, str(ROOT / "tests" / "servers" / "misbehaving_child.py")]
BOSUN_STDIO = [str(Path(sys.executable).with_name("bosun")), "serve", "examples/hello.py", "--transport", "stdio"]


def start_bridge(command: list[str], *, log: Path | None = None, env: dict[str, str] | None = None,
                 **options: object) -> Running:
    """`bosun serve bosun.bridged:server` with the bridge described by BOSUN_BRIDGE_* (as `bosun bridge -- CMD` does)."""
    variables = {"BOSUN_BRIDGE_COMMAND": json.dumps(command)}
    for key, value in options.items():
        variables[f"BOSUN_BRIDGE_{key.upper()}"] = json.dumps(value) if isinstance(value, dict) else str(value)
    return start_server("bosun.bridged:server", env={**variables, **(env or {})}, log=log,
                        args=["--log-level", "info"] if log is not None else None)


def child_pids(log: Path) -> list[int]:
    """Every child pid the bridge logged as started, in order."""
    return [int(found) for found in re.findall(r"started pid (\d+)", log.read_text())]
