"""Ways to run a server besides production HTTP: stdio for desktop clients, `bosun dev`, and `Server.run()`.

`bosun serve` (cli.py) stays the production path; these reuse it where they serve HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bosun.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from bosun.server import Server


def serve_stdio(target: str, settings: Settings) -> int:
    """`bosun serve TARGET --transport stdio`: logs to stderr, protocol on stdout, until end of input."""
    from bosun.loader import TargetError, load_target
    from bosun.ops.logs import configure_logging
    from bosun.server import Server
    from bosun.transport.stdio import claim_stdout

    output = claim_stdout()  # before the user's module is imported: anything it prints goes to stderr
    configure_logging(settings.log_level, settings.log_format)
    try:
        server = load_target(target)
    except TargetError as exc:
        print(f"bosun: {exc}", file=sys.stderr)
        return 2
    if not isinstance(server, Server):
        print(f"bosun: {target} is not a bosun.Server; only a Server can be served over stdio", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve_stdio(settings, output=output))
    return 0


def develop(target: str, settings: Settings) -> int:
    """`bosun dev TARGET`: HTTP on loopback that restarts when a .py file under the target's directory changes.

    No drain, a one-second shutdown (Ctrl+C exits at once), and error messages with details.
    """
    import uvicorn

    from bosun.cli import ENV_TARGET
    from bosun.ops.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format, settings.access_log)
    module_part = target.partition(":")[0]
    watched = Path(module_part).resolve().parent if module_part.endswith(".py") or "/" in module_part else Path.cwd()
    os.environ.update({ENV_TARGET: target, "BOSUN_DRAIN_SECONDS": "0", "LOG_LEVEL": settings.log_level})
    os.environ.setdefault("BOSUN_ERROR_DETAILS", "true")
    print(f"bosun dev: serving {target} at http://{settings.host}:{settings.port}{settings.path}; "
          f"restarting on changes under {watched}", file=sys.stderr)
    uvicorn.run("bosun.cli:build_app", factory=True, host=settings.host, port=settings.port, reload=True,
                reload_dirs=[str(watched)], reload_includes=["*.py"], log_config=None,
                log_level=settings.log_level.lower(), access_log=settings.access_log, timeout_graceful_shutdown=1,
                server_header=False, **settings.forwarded())
    return 0


def _main_target(server: Server) -> str:
    """How worker processes find `server`: the running script's path and the name it has there."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    name = next((key for key, value in vars(main).items() if value is server), None) if main is not None else None
    if path is None or name is None:
        return f"<running>:{id(server)}"
    return f"{path}:{name}"


def run_server(server: Server, transport: str | None, host: str | None, port: int | None) -> None:
    """`Server.run()`: stdio or HTTP, from the arguments given, the command line, or BOSUN_TRANSPORT."""
    from bosun import cli
    from bosun.loader import preset

    parser = argparse.ArgumentParser(description=f"Serve the MCP server {server.name!r}.")
    parser.add_argument("--transport", choices=["stdio", "http"])
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--log-level", type=str.upper, choices=["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"])
    args, _ = parser.parse_known_args()
    overrides: dict[str, Any] = {key: value for key, value in (("host", host or args.host), ("port", port or args.port),
                                                                ("workers", args.workers), ("log_level", args.log_level))
                                 if value}
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        sys.exit(f"{sys.argv[0]}: {exc}")
    chosen = transport or args.transport or settings.transport
    target = _main_target(server)
    preset(target, server)
    if chosen == "stdio":
        sys.exit(serve_stdio(target, settings))
    namespace = argparse.Namespace(target=target, access_log=False, transport="http", **overrides)
    sys.exit(cli.serve(namespace))
