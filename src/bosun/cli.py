"""The `bosun` command.

    bosun serve TARGET     serve a server (module:attr or path/to/file.py[:attr]) under uvicorn
                           (--transport stdio: over stdin/stdout, for desktop clients)
    bosun bridge -- CMD    serve a stdio MCP server (any language) behind Bosun: auth, limits, probes, replicas
    bosun dev TARGET       serve for local development: restart on changes, no drain, error details
    bosun healthcheck      probe the local /health (for a container HEALTHCHECK without curl)
    bosun check [TARGET]   preflight: configuration, TLS trust store, the target's readiness checks
    bosun config           print the effective configuration, secrets redacted, with each value's source;
                           warn about BOSUN_* variables that set nothing
    bosun db upgrade|current|downgrade TARGET   run the server's migrations (safe from many pods at once)
    bosun apikey create NAME [--scopes S]      mint an API key: prints the key once, and the line for the keys file
    bosun apikey hash                           read a key on stdin, print its stored form

Exit codes: 0 fine; 1 a check or probe failed; 2 invalid configuration or target.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

def _settings(args: argparse.Namespace) -> Any:
    from bosun.config import load_settings

    overrides = {name: getattr(args, name) for name in ("host", "port", "workers", "log_level") if getattr(args, name, None)}
    if getattr(args, "access_log", False):
        overrides["access_log"] = True
    return load_settings(**overrides)


def _gateway_file(args: argparse.Namespace) -> int | None:
    """A `.json` target is a gateway file: refused with every problem named, else served by bosun.gateway.served."""
    target = getattr(args, "target", None) or ""
    if not target.endswith(".json"):
        return None
    from bosun.gateway.file import GatewayFileError, load

    try:
        gateway = load(target)
    except GatewayFileError as problem:
        print(f"bosun: {problem}", file=sys.stderr)
        return 2
    os.environ["BOSUN_GATEWAY_FILE"] = os.path.abspath(target)
    args.target = "bosun.gateway.served:server"
    if args.command == "check":
        for options in gateway.backends:
            kind = f"remote {options.remote.url}" if options.remote else ("container " if options.container else "") + options.command[0]
            print(f"ok   {options.name}: prefix {options.prefix!r}, {kind}, {options.isolation}"
                  + (", required" if options.required else ""))
        for name in gateway.disabled:
            print(f"off  {name}: disabled")
    return 0


def serve(args: argparse.Namespace) -> int:
    from bosun.config import ConfigError
    from bosun.serving import develop, serve_http, serve_stdio

    if _gateway_file(args):
        return 2
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"bosun: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "reload", False):
        return develop(args.target, settings)
    if (getattr(args, "transport", None) or settings.transport) == "stdio":
        return serve_stdio(args.target, settings)
    return serve_http(args.target, settings)


def bridge(args: argparse.Namespace) -> int:
    """`bosun bridge [options] -- COMMAND...`: serve one stdio MCP server behind Bosun (bosun/bridged.py)."""
    import json

    command = [part for part in args.child if part != "--"] if args.child else []
    if not command:
        print("bosun: bridge needs the server's command after --, e.g. bosun bridge -- npx -y some-mcp-server",
              file=sys.stderr)
        return 2
    os.environ["BOSUN_BRIDGE_COMMAND"] = json.dumps(command)
    for flag in ("name", "isolation", "warm"):
        if getattr(args, flag, None) is not None:
            os.environ[f"BOSUN_BRIDGE_{flag.upper()}"] = str(getattr(args, flag))
    args.target = "bosun.bridged:server"
    try:
        from bosun.bridge.settings import options_from_environment

        options_from_environment(os.environ)
    except ValueError as problem:
        print(f"bosun: {problem}", file=sys.stderr)
        return 2
    return serve(args)


def healthcheck(args: argparse.Namespace) -> int:
    import http.client

    port = args.port or int(os.environ.get("BOSUN_PORT", "8000"))
    try:
        connection = http.client.HTTPConnection(args.host, port, timeout=args.timeout)
        connection.request("GET", args.path)
        status = connection.getresponse().status
    except OSError as exc:
        print(f"bosun healthcheck: {args.host}:{port}{args.path} unreachable: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"bosun healthcheck: {args.path} answered {status}", file=sys.stderr)
        return 1
    return 0


def check(args: argparse.Namespace) -> int:
    """Preflight; `bosun check gateway.json` validates the file and starts nothing."""
    from bosun.config import ConfigError
    from bosun.preflight import run_preflight

    if (getattr(args, "target", None) or "").endswith(".json"):
        return _gateway_file(args) or 0

    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"FAIL configuration: {exc}")
        return 2
    return run_preflight(settings, args.target)


def show_config(args: argparse.Namespace) -> int:
    """Print the settings. A value that is not a secret setting may still hold one (a password in a JWKS or
    introspection URL, `?api_key=` in a query): every value goes through the log redaction, which masks them."""
    from bosun.config import ConfigError, unknown_variables
    from bosun.config_report import describe
    from bosun.ops.logs import redact

    for warning in unknown_variables():
        print(f"bosun: warning: {warning}", file=sys.stderr)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"bosun: {redact(str(exc))}", file=sys.stderr)
        return 2
    from bosun.tasks.settings import described as task_settings

    try:
        rows = describe(settings) + task_settings()  # the tasks extension reads its own BOSUN_TASKS_* (docs/tasks.md)
    except ValueError as exc:
        print(f"bosun: {redact(str(exc))}", file=sys.stderr)
        return 2
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        print(f"{name:<{width}}  {redact(value):<40}  ({source})")
    return 0


def database(args: argparse.Namespace) -> int:
    from bosun.config import ConfigError
    from bosun.data.migrate import command
    from bosun.loader import TargetError, load_target
    from bosun.servable import Servable

    try:
        settings = _settings(args)
        server = load_target(args.target)
    except (ConfigError, TargetError) as exc:
        print(f"bosun: {exc}", file=sys.stderr)
        return 2
    if not isinstance(server, Servable) or server.migrations is None:
        print(f"bosun: {args.target} declares no migrations (Server(..., migrations=...))", file=sys.stderr)
        return 2
    try:
        print(command(args.action, server.migrations, settings.database_url_or_default(), args.revision))
    except Exception as exc:
        print(f"bosun db {args.action} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def apikey(args: argparse.Namespace) -> int:
    from bosun.security.apikeys import hash_key, new_key

    if args.action == "hash":
        key = sys.stdin.readline().strip()
        if not key:
            print("bosun apikey hash: give the key on standard input", file=sys.stderr)
            return 2
        print(hash_key(key))
        return 0
    if not args.name or any(char.isspace() or char == "#" for char in args.name):
        print("bosun apikey create: NAME is required and may not contain spaces or '#'", file=sys.stderr)
        return 2
    key = new_key()
    scopes = " ".join((args.scopes or "").replace(",", " ").split())
    print(f"key: {key}")
    print(f"line: {args.name} {hash_key(key)} {scopes}".rstrip())
    print("Give the key to the client now; it is not stored anywhere. Add the line to BOSUN_AUTH_API_KEYS_FILE.",
          file=sys.stderr)
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bosun-mcp")
    except PackageNotFoundError:  # running from a source tree that was never installed
        from bosun.version import __version__

        return __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bosun", description="A production runtime for MCP servers.")
    parser.add_argument("--version", action="version", version=f"bosun {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve an MCP server over Streamable HTTP")
    run.add_argument("target", help="module:attr or path/to/file.py[:attr] naming a bosun.Server or an ASGI app, "
                     "or a gateway file (gateway.json: mcpServers)")
    run.add_argument("--host", help="address to bind (BOSUN_HOST, default 127.0.0.1)")
    run.add_argument("--port", type=int, help="port (BOSUN_PORT, default 8000)")
    run.add_argument("--workers", type=int, help="worker processes (BOSUN_WORKERS, default 1)")
    run.add_argument("--log-level", type=str.upper, choices=["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"],
                     help="LOG_LEVEL, default INFO")
    run.add_argument("--access-log", action="store_true", help="log one line per request (off by default)")
    run.add_argument("--transport", choices=["http", "stdio"],
                     help="http (Streamable HTTP, the default) or stdio (for desktop clients); BOSUN_TRANSPORT")
    run.add_argument("--reload", action="store_true", help="as `bosun dev`: restart on file changes, no drain")
    bridged = commands.add_parser("bridge", help="serve a stdio MCP server (its command after --) behind Bosun")
    bridged.add_argument("--host", help="address to bind (BOSUN_HOST, default 127.0.0.1)")
    bridged.add_argument("--port", type=int, help="port (BOSUN_PORT, default 8000)")
    bridged.add_argument("--workers", type=int, help="worker processes (BOSUN_WORKERS, default 1)")
    bridged.add_argument("--log-level", type=str.upper, choices=["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"])
    bridged.add_argument("--access-log", action="store_true", help="log one line per request")
    bridged.add_argument("--transport", choices=["http", "stdio"], help="serve over HTTP (default) or stdio")
    bridged.add_argument("--name", help="the bridge's name, in logs, metrics and the audit trail (BOSUN_BRIDGE_NAME)")
    bridged.add_argument("--isolation", choices=["shared", "session", "principal", "request"],
                         help="one child for all (shared, default), per 2025 session, per principal, or per call")
    bridged.add_argument("--warm", type=int, help="children started with the server (/ready waits for them)")
    bridged.add_argument("child", nargs=argparse.REMAINDER, help="-- then the server's command and its arguments")
    dev = commands.add_parser("dev", help="serve for local development: restart on file changes, no drain, error details")
    dev.add_argument("target", help="module:attr or path/to/file.py[:attr] naming a bosun.Server or an ASGI app")
    dev.add_argument("--host", help="address to bind (default 127.0.0.1)")
    dev.add_argument("--port", type=int, help="port (default 8000)")
    dev.add_argument("--log-level", type=str.upper, choices=["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"])
    probe = commands.add_parser("healthcheck", help="exit 0 if the local liveness probe answers 200, else 1")
    probe.add_argument("--host", default="127.0.0.1")
    probe.add_argument("--port", type=int)
    probe.add_argument("--path", default="/health")
    probe.add_argument("--timeout", type=float, default=3.0)
    preflight = commands.add_parser("check", help="preflight: configuration, TLS trust store, dependencies")
    preflight.add_argument("target", nargs="?", help="also run this server's readiness checks once; "
                           "a gateway file (.json) is validated alone, starting nothing")
    commands.add_parser("config", help="print the effective configuration and where each value came from")
    db = commands.add_parser("db", help="database migrations: upgrade, current, downgrade (run as a Job, not on start)")
    db.add_argument("action", choices=["upgrade", "current", "downgrade"])
    db.add_argument("target", help="the server whose migrations to run")
    db.add_argument("revision", nargs="?", help="target revision (upgrade: head; downgrade: -1)")
    keys = commands.add_parser("apikey", help="API keys: create one (printed once) or hash one for the keys file")
    keys.add_argument("action", choices=["create", "hash"])
    keys.add_argument("name", nargs="?", help="the key's name (create): who holds it, as the audit trail will show")
    keys.add_argument("--scopes", help="space- or comma-separated scopes the key grants")
    args = parser.parse_args(argv)
    if args.command == "dev":
        args.reload = True
    handlers = {"serve": serve, "dev": serve, "bridge": bridge, "healthcheck": healthcheck, "check": check,
                "config": show_config, "db": database, "apikey": apikey}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
