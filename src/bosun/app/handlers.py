"""The MCP methods, as functions of a `Call`, over the registry.

Both eras share these; what differs (resource-not-found code, cache hints,
input requests) is decided by `call.modern` in one place each. Session methods
(`initialize`, `ping`, `logging/setLevel`, `resources/subscribe`) live with the
session transport, `subscriptions/listen` with the stream it opens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from bosun.app.context import Context
from bosun.app.errors import ResourceNotFound, unexpected_error
from bosun.app.inputs import Continued, InputRequired, required_capabilities
from bosun.app.paging import page
from bosun.app.registry import Registry
from bosun.app.resources import Resource
from bosun.app.sources import CatalogSource
from bosun.app.tools import Tool
from bosun.data.errors import StatementCancelled
from bosun.protocol.call import Call
from bosun.protocol.errors import FORBIDDEN, INTERNAL_ERROR, McpError, bounded, invalid_params, missing_capability
from bosun.protocol.observe import Auditor, Observer
from bosun.protocol.request_state import StateSealer, arguments_digest
from bosun.protocol.versions import ALL_VERSIONS

Handler = Callable[[Call], Awaitable[dict[str, Any]]]
_MAX_COMPLETIONS = 100
_MAX_INPUT_ROUNDS = 16


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """The `ttlMs`/`cacheScope` hints put on cacheable results (2026-07-28)."""

    list_ttl_ms: int = 60_000
    read_ttl_ms: int = 0
    list_scope: str = "public"
    read_scope: str = "private"

    def hint(self, call: Call, result: dict[str, Any], read: bool = False) -> dict[str, Any]:
        """`result` with the hints for a list (or a read) when `call` is 2026-07-28: every list of the server's, its
        extensions' included, says the same."""
        if call.modern:
            result["ttlMs"] = self.read_ttl_ms if read else self.list_ttl_ms
            result["cacheScope"] = self.read_scope if read else self.list_scope
        return result


def _check_responses(responses: Any) -> None:
    """Every `inputResponses` entry is a result object, whoever reads it (a tool may read them raw)."""
    if type(responses) is not dict:
        raise invalid_params("inputResponses must be an object")
    for key, answer in responses.items():
        if type(answer) is not dict:
            raise invalid_params(f"Invalid inputResponses[{bounded(repr(key))}]: must be an object (the client's result)")


def _require_capabilities(call: Call, need: InputRequired) -> None:
    """A server must not ask for input the client cannot give (-32021 names what is missing)."""
    missing = [cap for cap in required_capabilities(need.requests) if cap not in call.capabilities]
    if missing:
        raise missing_capability(*missing) from None


def _outcome(result: dict[str, Any]) -> str:
    """How a call that returned went: ok, error (an `isError` result) or input_required."""
    if result.get("isError"):
        return "error"
    return "input_required" if result.get("resultType") == "input_required" else "ok"


def _failure(failure: BaseException) -> str:
    """How a call that raised went, for the audit trail: error:<code>, cancelled or exception."""
    if isinstance(failure, McpError):
        return f"error:{failure.code}"
    if isinstance(failure, Continued):
        return "continued"  # as a task (bosun.tasks): its own records say how it ends
    return "cancelled" if isinstance(failure, asyncio.CancelledError) else "exception"


class Handlers:
    """Method tables for both eras, bound to one registry."""

    def __init__(self, registry: Registry, sealer: StateSealer, capabilities: dict[str, Any],
                 server_info: dict[str, Any], instructions: str | None, cache: CachePolicy, page_size: int = 200,
                 observer: Observer | None = None, tracing: Any = None, app: Any = None,
                 auditor: Auditor | None = None, hide_unauthorized: bool = False, error_details: bool = False,
                 strict_arguments: bool = True) -> None:
        self.app = app
        self.strict_arguments = strict_arguments
        """Tool arguments the function does not take are refused, naming them (a tool may opt out)."""
        self.error_details = error_details
        """Development: an unexpected failure's message carries the exception's type and text."""
        self.auditor = auditor
        self.hide_unauthorized = hide_unauthorized
        """With authentication on: lists show a caller only the items whose scopes it holds."""
        self.observer = observer
        self.tracing = tracing
        self.registry = registry
        self.sealer = sealer
        self.capabilities = capabilities
        self.session_capabilities: dict[str, dict[str, Any]] = {}
        """What a 2025 `initialize` answers at a revision, where an extension adds what only it has (2025-11-25
        `tasks`); `capabilities` for the others."""
        self.server_info = server_info
        self.instructions = instructions
        self.cache = cache
        self.page_size = page_size
        self.sources: list[CatalogSource] = []
        """Bridged servers: asked to bring their items into the registry before a list or an unknown name."""
        self.listen_hooks: list[Callable[[Call, dict[str, Any]], Awaitable[Any]]] = []
        """Extensions' `subscriptions/listen` feeds (app.extensions.ListenHook), added by `install`."""
        shared: dict[str, Handler] = {
            "tools/list": self.list_tools,
            "tools/call": self.call_tool,  # audited together with its metrics, in _measured_call
            "resources/list": self.list_resources,
            "resources/templates/list": self.list_templates,
            "resources/read": self._audited(self._guarded(self.read_resource, "Reading the resource"), "uri"),
            "prompts/list": self.list_prompts,
            "prompts/get": self._audited(self._guarded(self.get_prompt, "The prompt"), "name"),
            "completion/complete": self._guarded(self.complete, "The completion handler"),
        }
        self.modern: dict[str, Handler] = {**shared, "server/discover": self.discover}
        self.legacy: dict[str, Handler] = dict(shared)

    def _guarded(self, handler: Handler, what: str) -> Handler:
        """`handler`, with an unexpected exception from the user's function logged and answered generically;
        a statement the database cancelled (the function's own slow query) is said as such, -32603."""
        details = self.error_details

        async def guarded(call: Call) -> dict[str, Any]:
            try:
                return await handler(call)
            except (McpError, InputRequired):
                raise
            except StatementCancelled as failure:
                raise McpError(INTERNAL_ERROR, str(failure)) from None
            except Exception as failure:
                raise unexpected_error(what, failure, details) from None

        return guarded

    def _audited(self, handler: Handler, target_key: str) -> Handler:
        """`handler`, writing one audit record per call: who, what, how it went, how long it took."""
        auditor = self.auditor
        if auditor is None:
            return handler

        async def audited(call: Call) -> dict[str, Any]:
            started = time.perf_counter()
            outcome = "exception"
            try:
                result = await handler(call)
                outcome = _outcome(result)
                return result
            except BaseException as failure:
                outcome = _failure(failure)
                raise
            finally:
                target = call.params.get(target_key)
                auditor.record(call.principal, call.method, target if type(target) is str else None, outcome,
                               time.perf_counter() - started, call.id, call.params.get("arguments"))

        return audited

    # Lists.
    def _page(self, call: Call, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return self.cache.hint(call, page(call.params, key, items, self.page_size))

    def _visible(self, call: Call, items: Iterable[Any]) -> list[dict[str, Any]]:
        principal = call.principal
        if principal is None or not self.hide_unauthorized:
            return [item.definition for item in items if not item.hidden]
        granted = principal.scopes
        return [item.definition for item in items if item.scopes <= granted and not item.hidden]

    async def _refresh(self, call: Call) -> None:
        for source in self.sources:
            await source.refresh(call)

    async def list_tools(self, call: Call) -> dict[str, Any]:
        if self.sources:
            await self._refresh(call)
        return self._page(call, "tools", self._visible(call, self.registry.tools.values()))

    async def list_resources(self, call: Call) -> dict[str, Any]:
        if self.sources:
            await self._refresh(call)
        return self._page(call, "resources", self._visible(call, self.registry.resources.values()))

    async def list_templates(self, call: Call) -> dict[str, Any]:
        if self.sources:
            await self._refresh(call)
        return self._page(call, "resourceTemplates", self._visible(call, self.registry.templates))

    async def list_prompts(self, call: Call) -> dict[str, Any]:
        if self.sources:
            await self._refresh(call)
        return self._page(call, "prompts", self._visible(call, self.registry.prompts.values()))

    async def discover(self, call: Call) -> dict[str, Any]:
        result: dict[str, Any] = {"supportedVersions": list(ALL_VERSIONS), "capabilities": self.capabilities}
        if self.instructions:
            result["instructions"] = self.instructions
        result["ttlMs"] = self.cache.list_ttl_ms
        result["cacheScope"] = "public"
        return result

    # Calls that may need input from the client.
    async def _run(self, call: Call, target: str, arguments: Any, wants_context: bool,
                   run: Callable[[Context | None], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        if not wants_context:
            return await run(None)
        if not call.modern:
            return await self._run_in_session(call, run)
        params = call.params
        responses = params.get("inputResponses")
        if responses is not None or "inputResponses" in params:
            _check_responses(responses)
        principal = call.principal.key if call.principal is not None else ""
        binding = f"{call.method}\0{target}\0{arguments_digest(arguments)}\0{principal}"
        token = params.get("requestState")
        payload = self.sealer.open(binding, token) if token is not None else {}
        answers = dict(payload.get("r") or {})
        if responses:
            answers.update(responses)
        try:
            return await run(Context(call, answers, responses, payload.get("s"), self.app))
        except InputRequired as need:
            _require_capabilities(call, need)
            result: dict[str, Any] = {"resultType": "input_required"}
            if need.requests:
                result["inputRequests"] = need.requests
            result["requestState"] = self.sealer.seal(binding, {"r": need.answered, "s": need.state})
            return result

    async def _run_in_session(self, call: Call, run: Callable[[Context | None], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """2025 sessions: answer a function's `InputRequired` by asking the client, then call it again."""
        ctx = Context(call, app=self.app)
        for _ in range(_MAX_INPUT_ROUNDS):
            try:
                return await run(ctx)
            except InputRequired as need:
                _require_capabilities(call, need)
                if call.channel is None or call.send is None:
                    raise
                answers = {key: await call.channel.request(r["method"], r.get("params") or {}, call.send)
                           for key, r in need.requests.items()}
                ctx = Context(call, responses=answers, state=need.state, app=self.app)
        raise McpError(INTERNAL_ERROR, f"{call.method} asked for input more than {_MAX_INPUT_ROUNDS} times")

    async def call_tool(self, call: Call) -> dict[str, Any]:
        name = call.params.get("name")
        tool = self.registry.tools.get(name) if type(name) is str else None
        if tool is None and self.sources and type(name) is str:
            try:
                await self._refresh(call)
            except McpError as failure:  # the bridged server is down, or the caller lacks the scopes of what loaded
                if self.auditor is not None:
                    outcome = "refused:insufficient_scope" if failure.code == FORBIDDEN else f"error:{failure.code}"
                    self.auditor.record(call.principal, call.method, name, outcome, 0.0, call.id, call.params.get("arguments"))
                raise
            tool = self.registry.tools.get(name)
        arguments = call.params.get("arguments")
        if tool is None:
            error = invalid_params(f"Unknown tool: {bounded(str(name))}")
            if self.auditor is not None:
                self.auditor.record(call.principal, call.method, name if type(name) is str else None, f"error:{error.code}",
                                    0.0, call.id, arguments)
            raise error
        if self.tracing is not None:
            with self.tracing.tool(tool.name):
                return await self._measured_call(call, tool, arguments)
        return await self._measured_call(call, tool, arguments)

    async def _measured_call(self, call: Call, tool: Tool, arguments: Any) -> dict[str, Any]:
        """Run the tool, timed once for both its metrics and its audit record."""
        observer = self.observer
        auditor = self.auditor
        if observer is None and auditor is None:
            return await self._call_tool(call, tool, arguments)
        started = time.perf_counter()
        outcome = "exception"
        audited = "exception"
        try:
            result = await self._call_tool(call, tool, arguments)
            outcome = audited = _outcome(result)
            return result
        except BaseException as failure:
            audited = _failure(failure)  # the metric keeps its bounded "exception"; the audit says which
            if audited == "continued":
                outcome = "ok"  # the request did its part: the rest runs as a task
            raise
        finally:
            seconds = time.perf_counter() - started
            if observer is not None:
                observer.tool(tool.name, outcome, seconds)
            if auditor is not None:
                auditor.record(call.principal, call.method, tool.name, audited, seconds, call.id, arguments, via=tool.via)

    async def _call_tool(self, call: Call, tool: Tool, arguments: Any) -> dict[str, Any]:
        cache = getattr(self.app, "cache", None)
        key = None
        if tool.cache_ttl and cache is not None and self.app.tool_cache and type(arguments) in (dict, type(None)):
            # Keyed on canonical arguments and the caller, so one user's results never reach another.
            caller = call.principal.key if call.principal is not None else "-"
            key = f"tool:{tool.name}:{arguments_digest(arguments or {})}:{caller}"
            cached = await cache.get(key)
            if cached is not None:
                return dict(orjson.loads(cached))
        if tool.signature.context_param is None:
            result = await tool.call(arguments, None, self.error_details, self.strict_arguments)
        else:
            result = await self._run(call, tool.name, arguments, True,
                                     lambda ctx: tool.call(arguments, ctx, self.error_details, self.strict_arguments))
        if not result.get("isError") and result.get("resultType", "complete") == "complete":
            if key is not None:
                await cache.set(key, orjson.dumps(result), tool.cache_ttl, tool.cache_tags)  # type: ignore[union-attr]
            if tool.invalidates and cache is not None:
                await cache.invalidate(*tool.invalidates)
        return result

    async def read_resource(self, call: Call) -> dict[str, Any]:
        uri = call.params.get("uri")
        if type(uri) is not str:
            raise invalid_params("resources/read needs a 'uri' string")
        found = self.registry.find_resource(uri)
        if found is None and self.sources:
            await self._refresh(call)
            found = self.registry.find_resource(uri)
        if found is None:
            raise ResourceNotFound(uri)  # the one error both eras send (SEP-2164: -32602, the URI in data)
        resource, variables = found

        async def read(ctx: Context | None) -> dict[str, Any]:
            try:
                if isinstance(resource, Resource):
                    contents = await resource.read(ctx)
                else:
                    contents = await resource.read(uri, variables, ctx)
            except ResourceNotFound as missing:
                raise ResourceNotFound(uri, missing.custom_message) from None  # always the URI asked for
            result: dict[str, Any] = {"contents": contents}
            if call.modern:
                result["ttlMs"] = resource.ttl_ms if resource.ttl_ms is not None else self.cache.read_ttl_ms
                result["cacheScope"] = resource.cache_scope or self.cache.read_scope
            return result

        return await self._run(call, uri, None, resource.signature.context_param is not None, read)

    async def get_prompt(self, call: Call) -> dict[str, Any]:
        name = call.params.get("name")
        prompt = self.registry.prompts.get(name) if type(name) is str else None
        if prompt is None and self.sources and type(name) is str:
            await self._refresh(call)
            prompt = self.registry.prompts.get(name)
        if prompt is None:
            raise invalid_params(f"Unknown prompt: {bounded(str(name))}")
        arguments = call.params.get("arguments")
        wants = prompt.signature.context_param is not None
        return await self._run(call, prompt.name, arguments, wants, lambda ctx: prompt.render(arguments, ctx))

    async def complete(self, call: Call) -> dict[str, Any]:
        ref = call.params.get("ref")
        argument = call.params.get("argument")
        if type(ref) is not dict or type(argument) is not dict:
            raise invalid_params("completion/complete needs 'ref' and 'argument' objects")
        kind = ref.get("type")
        target = ref.get("name") if kind == "ref/prompt" else ref.get("uri")
        if type(target) is not str:
            raise invalid_params("completion/complete needs a string 'ref.name' (prompts) or 'ref.uri' (resources)")
        if kind == "ref/prompt" and target not in self.registry.prompts:
            raise invalid_params(f"Unknown prompt: {target}")
        if kind not in ("ref/prompt", "ref/resource"):
            raise invalid_params(f"Unknown completion reference type: {kind}")
        completer = self.registry.completers.get((kind, str(target), str(argument.get("name"))))
        values: list[str] = []
        if completer is not None:
            context = call.params.get("context")
            known = context.get("arguments") if type(context) is dict else None
            produced = completer(str(argument.get("value", "")), known if type(known) is dict else {})
            if hasattr(produced, "__await__"):
                produced = await produced
            values = [str(value) for value in produced]
        completion: dict[str, Any] = {"values": values[:_MAX_COMPLETIONS], "total": len(values),
                                      "hasMore": len(values) > _MAX_COMPLETIONS}
        return {"completion": completion}
