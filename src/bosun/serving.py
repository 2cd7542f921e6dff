"""Running a server: under uvicorn over HTTP (`bosun serve`), over stdio, and for development (`bosun dev`).

The command line (cli.py) and `Server.run()` (run.py) both come here. It names no `Server`:
it loads a target and works with what `bosun.servable.Servable` promises, so `bosun.server`
can call into it without the two importing each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bosun.config import Settings

ENV_TARGET = "BOSUN_TARGET"
_built: dict[str, Any] = {}


def build_app(settings: Settings | None = None) -> Any:
    """uvicorn factory: load the target named in BOSUN_TARGET (so `--workers N` can import it in each worker).

    Built once per process: `serve` builds it first to fail fast, with the settings it has already
    resolved, and the single-worker factory call then reuses it rather than importing the user's
    module twice. A worker process resolves the settings from the environment it inherited.
    """
    from bosun.config import load_settings
    from bosun.loader import load_target
    from bosun.ops import shutdown
    from bosun.servable import Servable
    from bosun.transport.connection import guarded as connection

    key = os.environ[ENV_TARGET]
    if key in _built:
        return _built[key]
    settings = settings or load_settings()
    connection.configure(settings.connection_limits())
    shutdown.on_drain(connection.begin_drain, lambda: None)
    target = load_target(key)
    if isinstance(target, Servable):
        target = target.asgi_app(settings=settings)
    _built[key] = target
    return target


def serve_stdio(target: str, settings: Settings) -> int:
    """`bosun serve TARGET --transport stdio`: logs to stderr, protocol on stdout, until end of input."""
    from bosun.loader import TargetError, load_target
    from bosun.ops.logs import configure_logging
    from bosun.servable import Servable
    from bosun.transport.stdio import claim_stdout

    output = claim_stdout()  # before the user's module is imported: anything it prints goes to stderr
    configure_logging(settings.log_level, settings.log_format)
    try:
        server = load_target(target)
    except TargetError as exc:
        print(f"bosun: {exc}", file=sys.stderr)
        return 2
    if not isinstance(server, Servable):
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

    from bosun.ops.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format, settings.access_log)
    module_part = target.partition(":")[0]
    watched = Path(module_part).resolve().parent if module_part.endswith(".py") or "/" in module_part else Path.cwd()
    os.environ.update({ENV_TARGET: target, "BOSUN_DRAIN_SECONDS": "0", "LOG_LEVEL": settings.log_level})
    os.environ.setdefault("BOSUN_ERROR_DETAILS", "true")
    print(f"bosun dev: serving {target} at http://{settings.host}:{settings.port}{settings.path}; "
          f"restarting on changes under {watched}", file=sys.stderr)
    uvicorn.run("bosun.serving:build_app", factory=True, host=settings.host, port=settings.port, reload=True,
                reload_dirs=[str(watched)], reload_includes=["*.py"], log_config=None,
                log_level=settings.log_level.lower(), access_log=settings.access_log, timeout_graceful_shutdown=1,
                server_header=False, **settings.forwarded())
    return 0


def serve_http(target: str, settings: Settings) -> int:
    """`bosun serve TARGET`: Streamable HTTP under uvicorn, with the guarded connection protocol, drain on
    SIGTERM, and `--workers N` as processes that each import the target (through BOSUN_TARGET)."""
    import uvicorn

    from bosun.config import ConfigError, unknown_variables
    from bosun.loader import TargetError
    from bosun.ops.logs import configure_logging
    from bosun.ops.shutdown import WORKER_SIGNALS_ENV, DrainingMultiprocess, DrainingServer
    from bosun.transport.connection.guarded import GuardedHttpProtocol

    configure_logging(settings.log_level, settings.log_format, settings.access_log)
    if stray := unknown_variables():  # one line: a typo'd setting is otherwise silently ignored
        logging.getLogger("bosun.config").warning("%s", "; ".join(stray))
    # Settings travel to workers through the environment they inherit.
    os.environ.update({ENV_TARGET: target, "BOSUN_HOST": settings.host, "BOSUN_PORT": str(settings.port),
                       "LOG_LEVEL": settings.log_level})
    if settings.workers > 1 and settings.metrics_enabled and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bosun-metrics-")
    try:
        build_app(settings)  # fail fast, with a clear message, before uvicorn starts workers
    except (ConfigError, TargetError) as exc:
        print(f"bosun: {exc}", file=sys.stderr)
        return 2
    if settings.workers > 1 and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # serves nothing: no `mcp_ready 0` of its own
    if settings.metrics_enabled and settings.metrics_port is not None:
        from bosun.ops.metrics import start_ops_server

        start_ops_server(settings.metrics_port)
    config = uvicorn.Config("bosun.serving:build_app", factory=True, host=settings.host, port=settings.port,
                            workers=settings.workers, log_config=None, log_level=settings.log_level.lower(),
                            access_log=settings.access_log,
                            # annotated int, used as seconds by asyncio.wait_for: a fraction works
                            timeout_graceful_shutdown=settings.graceful_timeout,  # type: ignore[arg-type]
                            server_header=False, http=GuardedHttpProtocol, timeout_keep_alive=settings.keepalive_timeout,
                            backlog=max(2048, settings.max_connections), **settings.forwarded())
    if settings.workers > 1:
        os.environ[WORKER_SIGNALS_ENV] = "1"
        DrainingMultiprocess(config, [config.bind_socket()], settings.drain_seconds).run()
    else:
        DrainingServer(config, settings.drain_seconds).run()
    return 0


