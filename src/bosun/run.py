"""Ways to run a server besides production HTTP: stdio for desktop clients, `bosun dev`, and `Server.run()`.

`bosun serve` (cli.py) stays the production path; these reuse it where they serve HTTP.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bosun.config import ConfigError, load_settings

if TYPE_CHECKING:
    from bosun.servable import Servable


def _main_target(server: Servable) -> str:
    """How worker processes find `server`: the running script's path and the name it has there."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    name = next((key for key, value in vars(main).items() if value is server), None) if main is not None else None
    if path is None or name is None:
        return f"<running>:{id(server)}"
    return f"{path}:{name}"


def run_server(server: Servable, transport: str | None, host: str | None, port: int | None) -> None:
    """`Server.run()`: stdio or HTTP, from the arguments given, the command line, or BOSUN_TRANSPORT."""
    from bosun.loader import preset
    from bosun.serving import serve_http, serve_stdio

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
    sys.exit(serve_http(target, settings))
