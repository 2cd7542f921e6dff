"""`Context`: what a tool, resource or prompt function may ask of the request it serves.

Declare a parameter typed `Context` and Bosun passes one in. It reports progress,
sends log messages, and asks the client for input (elicitation, sampling, roots)
in whichever way the client's protocol era allows:

* 2025 sessions: a JSON-RPC request goes to the client on the response stream and
  the call waits for the answer.
* 2026-07-28 (stateless): the call ends with an `InputRequiredResult`; the client
  retries with the answers, and the function runs again from the top, getting the
  answers it asked for in order. Code before an `elicit` therefore runs once per
  round: keep side effects after the questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from bosun.app import inputs
from bosun.app.inputs import InputRequired, check_answer
from bosun.protocol.call import META_CLIENT_INFO, Call
from bosun.protocol.errors import missing_capability
from bosun.protocol.principal import Principal

M = TypeVar("M", bound=BaseModel)
_KEY_PREFIX = {"elicitation/create": "elicit", "sampling/createMessage": "sample", "roots/list": "roots"}


@dataclass(slots=True)
class Elicited(Generic[M]):
    """The user's answer: `action` is accept, decline or cancel; `data` is the validated model on accept."""

    action: str
    content: dict[str, Any] | None
    data: M | None = None


class Context:
    """Per-request helper handed to user functions; cheap to build, built only when asked for."""

    __slots__ = ("_call", "_answers", "_asked", "input_responses", "request_state", "_app")

    def __init__(self, call: Call, answers: dict[str, Any] | None = None,
                 responses: dict[str, Any] | None = None, state: str | None = None, app: Any = None) -> None:
        self._call = call
        self._app = app
        self._answers = answers or {}
        self._asked = 0
        self.input_responses = responses
        """This round's `inputResponses` (low-level MRTR), or None."""
        self.request_state = state
        """The `state` given to the `InputRequired` this request retries (unsealed), or None."""

    # What the request says about itself.
    @property
    def call(self) -> Call:
        """The request as the transport handed it to the handlers (what a bridge forwards)."""
        return self._call

    @property
    def request_id(self) -> Any:
        return self._call.id

    @property
    def protocol_version(self) -> str:
        return self._call.version

    @property
    def client_capabilities(self) -> dict[str, Any]:
        return self._call.capabilities

    @property
    def client_info(self) -> dict[str, Any] | None:
        info = self._call.client_info
        if info is None:
            found = self._call.meta.get(META_CLIENT_INFO)
            info = found if isinstance(found, dict) else None
        return info

    @property
    def meta(self) -> dict[str, Any]:
        return self._call.meta

    @property
    def auth(self) -> Principal | None:
        """Who is calling (subject, client id, issuer, scopes, claims), or None when the server runs open.

        It says who the caller is, not how they proved it: the caller's token is never
        handed on, so a tool cannot pass it through to another service. Call other
        services with this server's own credentials.
        """
        return self._call.principal

    # Shared resources.
    def db(self) -> Any:
        """`async with ctx.db() as session:` a SQLAlchemy AsyncSession in a transaction that always ends."""
        database = getattr(self._app, "database", None)
        if database is None:
            raise RuntimeError("this server has no database: create it with Server(..., database=True)")
        return database.session()

    @property
    def cache(self) -> Any:
        """The server's cache (`bosun.data.cache.Cache`): in memory, or Redis when REDIS_URL is set."""
        return getattr(self._app, "cache", None)

    # Notifications on this request's stream.
    async def close_stream(self) -> bool:
        """End this request's response stream now and go on working (2025-11-25 sessions).

        The client reconnects with GET and `Last-Event-ID` and receives what the call sends from here
        on, its result included: the spec's polling pattern for a long call behind proxies that cut
        long responses. Returns False (and does nothing) where streams cannot be resumed.
        """
        close = self._call.close_stream
        return await close() if close is not None else False

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Send `notifications/progress` if the client asked for progress on this request."""
        call = self._call
        token = call.meta.get("progressToken")
        if token is None or call.send is None:
            return
        params: dict[str, Any] = {"progressToken": token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await call.send({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        """Send `notifications/message` when the client's log level lets it through."""
        call = self._call
        if call.send is None or not call.wants_log(level):
            return
        params: dict[str, Any] = {"level": level, "data": data}
        if logger is not None:
            params["logger"] = logger
        await call.send({"jsonrpc": "2.0", "method": "notifications/message", "params": params})

    async def debug(self, data: Any) -> None:
        await self.log("debug", data)

    async def info(self, data: Any) -> None:
        await self.log("info", data)

    async def warning(self, data: Any) -> None:
        await self.log("warning", data)

    async def error(self, data: Any) -> None:
        await self.log("error", data)

    # Tasks (bosun.tasks): a tool registered with `task=` may run as a durable task.
    async def report_status(self, message: str) -> None:
        """Say how far a task has got ("3 of 10 files"): it becomes the task's `statusMessage`, which clients
        polling it read. Outside a task it does nothing."""
        task = self._call.task
        if task is not None:
            await task.report_status(message)

    async def detach(self) -> None:
        """For a tool registered with `task=..., input_first=True`: the questions asked so far were answered on the
        request itself (multi round-trip); from here on the call runs as a task. The task runs the function again
        from the top with those answers, and there this returns at once. Outside a task tool it does nothing."""
        task = self._call.task
        if task is not None:
            await task.detach(self._answers)

    @property
    def task_cancelled(self) -> bool:
        """True once the task this call runs as was cancelled: a plain `def` tool (which no `CancelledError` can
        reach in its worker thread) checks it to stop early. An `async def` tool is cancelled where it awaits."""
        task = self._call.task
        return bool(task is not None and task.cancelled)

    # Asking the client.
    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one client request (see `bosun.inputs`) and return the client's result."""
        key = f"{_KEY_PREFIX.get(request['method'], 'input')}-{self._asked}"
        self._asked += 1
        return (await self.ask_many({key: request}))[key]

    async def ask_many(self, requests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Ask several things at once, keyed by names you choose; returns the answers under the same keys.

        On 2026-07-28 they travel together in one `InputRequiredResult`; on a 2025
        session they are sent one after the other on the request's stream.
        """
        call = self._call
        missing = [cap for cap in inputs.required_capabilities(requests) if cap not in call.capabilities]
        if missing:
            raise missing_capability(*missing)
        if call.modern:
            answers = {key: check_answer(request["method"], key, self._answers[key])
                       for key, request in requests.items() if key in self._answers}
            if len(answers) == len(requests):
                return answers
            raise InputRequired({key: r for key, r in requests.items() if key not in answers}, answered=self._answers)
        if call.channel is None or call.send is None:
            raise RuntimeError("asking the client needs a session, and this request has none")
        return {key: await call.channel.request(r["method"], r.get("params") or {}, call.send) for key, r in requests.items()}

    async def elicit(self, message: str, schema: type[M] | dict[str, Any]) -> Elicited[M]:
        """Ask the user to fill in a form; validates the answer into `schema` when it is a model."""
        result = await self.ask(inputs.elicitation(message, schema))
        action = str(result.get("action", "cancel"))
        content = result.get("content") if isinstance(result.get("content"), dict) else None
        data = None
        if action == "accept" and content is not None and not isinstance(schema, dict):
            data = schema.model_validate(content)
        return Elicited(action, content, data)

    async def sample(self, messages: str | list[dict[str, Any]], max_tokens: int = 256,
                     system_prompt: str | None = None, **extra: Any) -> dict[str, Any]:
        """Ask the client's model for a completion; a string is sent as one user message."""
        return await self.ask(inputs.sampling(messages, max_tokens, system_prompt, **extra))

    async def list_roots(self) -> list[dict[str, Any]]:
        result = await self.ask(inputs.roots())
        found = result.get("roots")
        return found if isinstance(found, list) else []
