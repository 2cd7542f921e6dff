"""The `bosun` command: `bosun serve TARGET` runs a server under uvicorn.

Exit codes: 0 clean stop, 2 bad configuration or target.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

ENV_TARGET = "BOSUN_TARGET"
_built: dict[str, Any] = {}


def build_app() -> Any:
    """uvicorn factory: load the target named in BOSUN_TARGET (so `--workers N` can import it in each worker).

    Built once per process: `serve` builds it first to fail fast, and the single-worker
    factory call then reuses it rather than importing the user's module twice.
    """
    from bosun.loader import load_target
    from bosun.server import Server

    key = os.environ[ENV_TARGET]
    if key in _built:
        return _built[key]
    target = load_target(key)
    if isinstance(target, Server):
        from bosun.config import http_options_from_env

        target = target.asgi_app(http_options_from_env(os.environ.get("BOSUN_HOST")))
    _built[key] = target
    return target


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bosun.config import ConfigError
    from bosun.loader import TargetError

    os.environ[ENV_TARGET] = args.target
    os.environ["BOSUN_HOST"] = args.host
    try:
        build_app()  # fail fast, with a clear message, before uvicorn starts workers
    except (ConfigError, TargetError) as exc:
        print(f"bosun: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        "bosun.cli:build_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level.lower(),
        access_log=args.access_log,
        timeout_graceful_shutdown=args.graceful_timeout,
        server_header=False,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bosun", description="A production runtime for MCP servers.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve an MCP server over Streamable HTTP")
    run.add_argument("target", help="module:attr or path/to/file.py[:attr] naming a bosun.Server or an ASGI app")
    run.add_argument("--host", default=os.environ.get("BOSUN_HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("BOSUN_PORT", "8000")))
    run.add_argument("--workers", type=int, default=int(os.environ.get("BOSUN_WORKERS", "1")))
    run.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info"),
                     choices=["critical", "error", "warning", "info", "debug", "CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"])
    run.add_argument("--access-log", action="store_true", help="log one line per request (off by default)")
    run.add_argument("--graceful-timeout", type=float, default=30.0, help="seconds to let in-flight requests finish on SIGTERM")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
