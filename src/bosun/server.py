"""`Server`: register typed functions as tools, resources and prompts; build the ASGI app.

    server = Server("notes")

    @server.tool()
    def add(a: int, b: int) -> int:
        return a + b

    app = server.asgi_app()

Registration does all the reflection (schemas, validators, serializers) once;
`asgi_app()` freezes capabilities and builds the transport.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, overload

from bosun.app.completions import check_completer, check_targets
from bosun.app.extensions import Extension, declare, install
from bosun.app.handlers import CachePolicy, Handlers
from bosun.app.prompts import Prompt
from bosun.app.registry import Registry
from bosun.app.resources import Resource, ResourceTemplate, compile_template
from bosun.app.tools import Tool
from bosun.config import Settings, load_settings
from bosun.data.checks import data_checks, register_data_metrics
from bosun.data.migrate import upgrade_on_start
from bosun.data.state import build_state
from bosun.embed import run_hooks, well_known
from bosun.extending import Extending
from bosun.ops import shutdown
from bosun.ops.health import Check, CheckFn, Health
from bosun.ops.requestid import RequestIdMiddleware
from bosun.ops.tracing import wanted as tracing_wanted
from bosun.protocol.changes import ChangeHub
from bosun.protocol.request_state import StateSealer
from bosun.security.build import build_gate
from bosun.security.metadata import metadata_routes
from bosun.security.options import RateLimit
from bosun.servable import Servable
from bosun.state.replicas import replicated
from bosun.state.sessions.store import SessionStore
from bosun.tasking import Tasking
from bosun.transport.http.app import Hook, McpApp
from bosun.transport.http.options import HttpOptions
from bosun.types import ASGIApp
from bosun.views import Views

if TYPE_CHECKING:
    from bosun.bridge.bridge import Bridge

F = TypeVar("F", bound=Callable[..., Any])


class Server(Views, Extending, Tasking):
    def __init__(self, name: str, version: str = "0.1.0", *, title: str | None = None, instructions: str | None = None,
                 website_url: str | None = None, icons: list[dict[str, Any]] | None = None,
                 cache: CachePolicy | None = None, page_size: int = 200, database: bool = False,
                 migrations: str | None = None) -> None:
        """`database=True` gives tools a database through `ctx.db()` (DATABASE_URL, else SQLite in
        BOSUN_DATA_DIR); `migrations` names the Alembic directory `bosun db upgrade` runs and
        readiness compares against."""
        self.uses_database = database or migrations is not None
        self.migrations = migrations
        self.name = name
        self.version = version
        self.instructions = instructions
        self.info: dict[str, Any] = {"name": name, "version": version}
        if title:
            self.info["title"] = title
        if website_url:
            self.info["websiteUrl"] = website_url
        if icons:
            self.info["icons"] = icons
        self.cache = cache or CachePolicy()
        self.page_size = page_size
        self.registry = Registry()
        self.hub = ChangeHub()
        self.on_startup: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        self.checks: list[Check] = []
        self.warmups: list[Hook] = []
        self.http_routes: dict[str, ASGIApp] = {}
        self.middleware: list[Callable[[ASGIApp], ASGIApp]] = []
        self.app: McpApp | None = None  # built by asgi_app()
        self.well_known_routes: dict[str, ASGIApp] = {}
        self.bridges: list[Bridge] = []
        self.extensions: list[Extension] = []  # MCP extensions (bosun/app/extensions.py)

    # Registration.
    @overload
    def tool(self, fn: F, /) -> F: ...
    @overload
    def tool(self, fn: None = None, /, *, name: str | None = None, **options: Any) -> Callable[[F], F]: ...

    def tool(self, fn: Any = None, /, *, name: str | None = None, **options: Any) -> Any:
        """Register a tool. Options: title, description, annotations, structured_output, icons, meta,
        input_schema, cache_ttl, cache_tags, invalidates, scopes (OAuth scopes needed to call it),
        rate_limit ("10/minute" per caller), strict_arguments (False: ignore unknown arguments),
        inline (a plain `def` on the event loop: True on your word that it never blocks; False never), task
        ("optional"/"required": may run as a durable task; with input_first, safe_to_repeat: docs/tasks.md)."""
        if fn is not None:
            self.add_tool(fn, name=name, **options)
            return fn

        def register(fn: F) -> F:
            self.add_tool(fn, name=name, **options)
            return fn

        return register

    def add_tool(self, fn: Callable[..., Any], **options: Any) -> Tool:
        options, task = self._task_options(options)
        tool = Tool(fn, **self._view_links(options))  # ui=, visibility=: links to MCP Apps views (bosun/views.py)
        if tool.rate_limit is not None:
            RateLimit.parse(tool.rate_limit)  # fail at registration, not at the first call
        if tool.name in self.registry.tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self.registry.tools[tool.name] = tool
        self._register_task(tool.name, task)  # task=...: bosun/tasking.py
        return tool

    def remove_tool(self, name: str) -> None:
        """Take a tool away at run time; call `notify_tools_changed()` to tell listening clients."""
        self.registry.tools.pop(name, None)

    def remove_prompt(self, name: str) -> None:
        self.registry.prompts.pop(name, None)

    def resource(self, uri: str, **options: Any) -> Callable[[F], F]:
        """Register a resource at `uri`, or a template if `uri` has `{variables}`.

        Options: name, title, description, mime_type, ttl_ms, cache_scope, extra, scopes.
        """

        def register(fn: F) -> F:
            _, variables = compile_template(uri)
            if variables:
                self.registry.templates.append(ResourceTemplate(fn, uri, **options))
            else:
                if uri in self.registry.resources:
                    raise ValueError(f"a resource at {uri!r} is already registered")
                self.registry.resources[uri] = Resource(fn, uri, **options)
            return fn

        return register

    def prompt(self, name: str | None = None, **options: Any) -> Callable[[F], F]:
        """Register a prompt. Options: title, description, icons, scopes."""

        def register(fn: F) -> F:
            self.add_prompt(fn, name, **options)
            return fn

        return register

    def add_prompt(self, fn: Callable[..., Any], name: str | None = None, **options: Any) -> Prompt:
        prompt = Prompt(fn, name, **options)
        self.registry.prompts[prompt.name] = prompt
        return prompt

    def completion(self, *, argument: str, prompt: str | None = None, resource: str | None = None) -> Callable[[F], F]:
        """Register a completer `fn(value: str, arguments: dict[str, str]) -> list[str]` (def or async def) for
        a prompt's argument or a resource template's variable. The signature is checked here, and the
        argument's existence when the app is built (bosun/app/completions.py)."""
        if (prompt is None) == (resource is None):
            raise ValueError("give exactly one of prompt= or resource=")
        key = ("ref/prompt", prompt, argument) if prompt is not None else ("ref/resource", resource, argument)

        def register(fn: F) -> F:
            check_completer(fn, f"{key[0][4:]} {key[1]!r}, argument {argument!r}")
            self.registry.completers[key] = fn  # type: ignore[index]
            return fn

        return register

    # Operations.
    def readiness_check(self, name: str | None = None, *, critical: bool = True,
                        timeout: float | None = None) -> Callable[[CheckFn], CheckFn]:
        """Register an async readiness check; it fails by raising (or returning False).

        Checks run in the background, concurrently, each under `timeout`; /ready serves
        the latest results. A non-critical failure shows in /ready and in metrics but
        keeps the pod ready (a cache, say, whose outage only slows things down).
        """

        def register(fn: CheckFn) -> CheckFn:
            self.checks.append(Check(name or fn.__name__, fn, critical, timeout))
            return fn

        return register

    def startup(self, fn: Hook) -> Hook:
        """Run `fn` at start-up, before the server reports ready (open pools, warm caches)."""
        self.on_startup.append(fn)
        return fn

    def warmup(self, fn: Hook) -> Hook:
        """Run `fn` in the background once serving has begun; /startup and /ready stay 503 until it is done."""
        self.warmups.append(fn)
        return fn

    def shutdown(self, fn: Hook) -> Hook:
        """Run `fn` at shutdown, after in-flight requests finished (close pools)."""
        self.on_shutdown.append(fn)
        return fn

    # Custom HTTP and embedding (bosun/embed.py).
    def add_route(self, path: str, app: ASGIApp) -> None:
        """Serve any ASGI app at `path` beside the MCP endpoint and the probes (a version page, a webhook);
        it answers every method, and authentication is its own business."""
        if not path.startswith("/"):
            raise ValueError(f"a route's path starts with '/': {path!r}")
        self.http_routes[path] = app

    def route(self, path: str) -> Callable[[ASGIApp], ASGIApp]:
        """`add_route` as a decorator on an `async def app(scope, receive, send)`."""

        def register(app: ASGIApp) -> ASGIApp:
            self.add_route(path, app)
            return app

        return register

    def add_middleware(self, middleware: Callable[[ASGIApp], ASGIApp]) -> None:
        """Wrap the whole app: `middleware(app)` returns the wrapped ASGI app, as any ASGI middleware class does
        (`functools.partial(CORSMiddleware, allow_origins=[...])`). The last added is outermost; the request id
        is set before any of them runs, so their log lines carry it."""
        self.middleware.append(middleware)

    def lifespan(self, host: Any = None) -> AbstractAsyncContextManager[None]:
        """For a host app that mounts `asgi_app()`: `Starlette(..., lifespan=server.lifespan)` runs this server's
        start-up and shutdown hooks, which a mount never receives; nest it in a lifespan of the host's own."""
        if self.app is None:
            raise RuntimeError("call server.asgi_app() before the host app starts")
        return run_hooks(self.app)

    def well_known_app(self) -> ASGIApp:
        """The `/.well-known/` documents (OAuth protected-resource metadata) for a host app to mount at its root."""
        if self.app is None:
            raise RuntimeError("call server.asgi_app() first")
        return well_known(self.well_known_routes)

    # Change notifications.
    def notify_tools_changed(self) -> None:
        self.hub.publish("tools")

    def notify_prompts_changed(self) -> None:
        self.hub.publish("prompts")

    def notify_resources_changed(self) -> None:
        self.hub.publish("resources")

    def notify_resource_updated(self, uri: str) -> None:
        self.hub.publish("resource", uri)

    # Building.
    def capabilities(self) -> dict[str, Any]:
        registry = self.registry
        capabilities: dict[str, Any] = {"logging": {}}
        if registry.tools:
            capabilities["tools"] = {"listChanged": True}
        if registry.resources or registry.templates:
            capabilities["resources"] = {"subscribe": True, "listChanged": True}
        if registry.prompts:
            capabilities["prompts"] = {"listChanged": True}
        if registry.prompts or registry.templates:
            capabilities["completions"] = {}
        if self.bridges:  # what a bridged server offers is known only once a child has answered
            listed = {"listChanged": True}
            capabilities.update(tools=listed, prompts=listed, resources={"subscribe": True, **listed})
        declare(self.extensions, capabilities)
        return capabilities

    def _handlers(self, settings: Settings, state_keys: list[bytes] | None = None, observer: Any = None,
                  tracing: Any = None, auditor: Any = None, hide_unauthorized: bool = False) -> Handlers:
        """What every transport serves: the registry's methods over the data layer (`server.state`)."""
        check_targets(self.registry)
        sealer = StateSealer(state_keys if state_keys is not None else settings.sealing_keys())
        self.state = build_state(settings, self.name, self.uses_database)  # start-up hooks use server.state.database
        if settings.migrate_on_start and self.migrations is not None:
            self.on_startup.insert(0, upgrade_on_start(self.migrations, settings.database_url_or_default()))
        cache = replace(self.cache, list_scope="private") if hide_unauthorized else self.cache  # lists differ per caller
        handlers = Handlers(self.registry, sealer, self.capabilities(), self.info, self.instructions, cache, self.page_size,
                            observer, tracing, self.state, auditor=auditor, hide_unauthorized=hide_unauthorized,
                            error_details=settings.error_details, strict_arguments=settings.strict_arguments)
        install(self.extensions, handlers)
        if self.bridges:
            from bosun.bridge.catalog import Catalog

            handlers.sources.append(Catalog(self.bridges))
        return handlers

    async def serve_stdio(self, settings: Settings | None = None, source: BinaryIO | None = None,
                          output: BinaryIO | None = None) -> None:
        """Serve one client over stdin/stdout until end of input (see bosun/transport/stdio.py).

        With no `output`, stdout is claimed for protocol messages and everything else printed goes to stderr.
        """
        from bosun.transport.stdio import StdioEndpoint, claim_stdout, serve

        settings = settings or load_settings()
        handlers = self._handlers(settings)
        endpoint = StdioEndpoint(handlers, self.hub, output if output is not None else claim_stdout(),
                                 settings.max_body_bytes, settings.client_request_timeout)

        async def warm_up() -> None:
            for hook in self.warmups:
                await hook()

        await serve(endpoint, source if source is not None else sys.stdin.buffer, [*self.on_startup, warm_up],
                    [*self.on_shutdown, self.state.close], settings.graceful_timeout)

    def run(self, transport: str | None = None, *, host: str | None = None, port: int | None = None) -> None:
        """Serve from a script's `if __name__ == "__main__":`, as `bosun serve` would.

        The transport is `transport`, else `--transport stdio|http` on the command line, else
        BOSUN_TRANSPORT (default http); `--host` and `--port` work as for `bosun serve`.
        """
        from bosun.run import run_server

        run_server(self, transport, host, port)

    def asgi_app(self, options: HttpOptions | None = None, *, settings: Settings | None = None,
                 store: SessionStore | None = None, state_keys: list[bytes] | None = None,
                 routes: dict[str, ASGIApp] | None = None) -> ASGIApp:
        """Build the ASGI app: the MCP endpoint, probes and metrics. Unset settings come from the environment."""
        settings = settings or load_settings()
        options = options or settings.http_options()
        observer = None
        if settings.metrics_enabled:
            from bosun.ops.metrics import metrics

            observer = metrics()
            observer.describe_server(self.name, self.version, self.registry.tools)
        tracing = None
        if tracing_wanted(settings.otel_enabled):
            from bosun.ops.tracing import Tracing

            tracing = Tracing(self.name)
            self.on_shutdown.append(tracing.stop)
        security = settings.security_options()  # refuses, naming the settings, to serve open off loopback
        redis_url = settings.redis_url.get_secret_value()
        gate = build_gate(security, self.registry, observer, redis_url, f"bosun:{self.name}")
        self.gate = gate
        filtered = gate.enabled and security.hide_unauthorized
        handlers = self._handlers(settings, state_keys, observer, tracing, gate.audit if gate.audit.calls else None, filtered)
        state = self.state
        checks = [*data_checks(state, self.migrations, settings), *self.checks]
        self.ready_checks = checks
        if observer is not None:
            register_data_metrics(state)
        health = Health(checks, settings.readiness_interval, settings.readiness_timeout,
                        settings.max_loop_lag_seconds, observer, self.warmups, retry_interval=settings.readiness_retry_interval)
        ops_routes: dict[str, ASGIApp] = {"/health": health.health_endpoint, "/ready": health.ready_endpoint,
                                          "/startup": health.startup_endpoint}
        if observer is not None and settings.metrics_port is None:
            from bosun.ops.metrics import main_port_route

            ops_routes["/metrics"] = main_port_route(gate.enabled, settings.metrics_on_main_port)
        if gate.enabled and security.oauth:
            ops_routes.update(metadata_routes(security, options.path, gate.policy.scopes_supported))
        shared = replicated(redis_url, f"bosun:{self.name}", self.hub, store, observer, options.session_idle_seconds,
                            options.client_request_timeout, options.max_sessions, options.max_sessions_per_client)
        store, events = shared.store, shared.events
        self.well_known_routes = {path: route for path, route in ops_routes.items() if path.startswith("/.well-known/")}
        app = McpApp(handlers, options, store=store, hub=self.hub, routes={**ops_routes, **self.http_routes, **(routes or {})},
                     on_startup=[shutdown.install_worker_signals, *self.on_startup, health.start],
                     on_shutdown=[health.stop, *self.on_shutdown, state.close],
                     observer=observer, tracing=tracing, gate=gate, open_on_purpose=security.open_on_purpose,
                     events=events, request_ids=not self.middleware)
        if events is not None:
            app.on_shutdown.append(events.close)
        if shared.bus is not None:  # changes reach the streams every replica holds; for shared sessions, answers too
            if shared.sessions_shared:
                app.legacy.relay = shared.bus
            app.on_startup.append(shared.bus.start)
            app.on_shutdown.insert(0, shared.bus.close)
        if self.bridges:
            from bosun.bridge.wiring import wire
            wire(self.bridges, app.on_startup, health, redis_url, f"bosun:{self.name}", observer is not None)
        saturation = getattr(app.store, "saturation", None)
        if saturation is not None:
            health.add_live_check("sessions", saturation)
        shutdown.on_drain(health.begin_drain, app.close_streams)
        self.app = app
        if not self.middleware:
            return app
        wrapped: ASGIApp = app
        for middleware in self.middleware:
            wrapped = middleware(wrapped)
        return RequestIdMiddleware(wrapped)  # outermost, so the user's middleware logs under the request id too


_SERVABLE: type[Servable] = Server  # what the runners rely on (servable.py), checked by mypy
