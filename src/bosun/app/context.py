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

from bosun.protocol.call import META_CLIENT_INFO, Call
from bosun.protocol.errors import invalid_params, missing_capability

M = TypeVar("M", bound=BaseModel)

_CAPABILITY_FOR = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}
_KEY_PREFIX = {"elicitation/create": "elicit", "sampling/createMessage": "sample", "roots/list": "roots"}
_ELICIT_ACTIONS = frozenset({"accept", "decline", "cancel"})


def check_answer(method: str, key: str, answer: Any) -> dict[str, Any]:
    """Reject an `inputResponses` entry that is not a result of the kind asked for (-32602)."""
    problem = None
    if type(answer) is not dict:
        problem = "must be an object"
    elif method == "elicitation/create" and answer.get("action") not in _ELICIT_ACTIONS:
        problem = "must be an ElicitResult with action accept, decline or cancel"
    elif method == "elicitation/create" and answer.get("content") is not None and type(answer["content"]) is not dict:
        problem = "content must be an object"
    elif method == "sampling/createMessage" and ("content" not in answer or "role" not in answer):
        problem = "must be a CreateMessageResult with role and content"
    elif method == "roots/list" and type(answer.get("roots")) is not list:
        problem = "must be a ListRootsResult with a roots array"
    if problem is not None:
        raise invalid_params(f"Invalid inputResponses[{key!r}]: {problem}")
    return answer  # type: ignore[no-any-return]


class InputRequired(Exception):
    """Raised inside a modern-era call that needs an answer the client has not given yet."""

    def __init__(self, requests: dict[str, dict[str, Any]], answered: dict[str, Any]) -> None:
        super().__init__("input required")
        self.requests = requests
        self.answered = answered


@dataclass(slots=True)
class Elicited(Generic[M]):
    """The user's answer: `action` is accept, decline or cancel; `data` is the validated model on accept."""

    action: str
    content: dict[str, Any] | None
    data: M | None = None


def requested_schema(schema: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema, dict):
        return schema
    raw = schema.model_json_schema()
    properties = {}
    for name, prop in raw.get("properties", {}).items():
        prop = dict(prop)
        prop.pop("title", None)
        properties[name] = prop
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if raw.get("required"):
        result["required"] = raw["required"]
    return result


class Context:
    """Per-request helper handed to user functions; cheap to build, built only when asked for."""

    __slots__ = ("_call", "_answers", "_asked")

    def __init__(self, call: Call, answers: dict[str, Any] | None = None) -> None:
        self._call = call
        self._answers = answers or {}
        self._asked = 0

    # What the request says about itself.
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

    # Notifications on this request's stream.
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

    # Asking the client.
    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send one client request (elicitation/create, sampling/createMessage, roots/list); return its result."""
        key = f"{_KEY_PREFIX.get(method, 'input')}-{self._asked}"
        self._asked += 1
        return (await self.ask_many({key: (method, params)}))[key]

    async def ask_many(self, requests: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
        """Ask several things at once, keyed by names you choose; returns the answers under the same keys.

        On 2026-07-28 they travel together in one `InputRequiredResult`; on a 2025
        session they are sent one after the other on the request's stream.
        """
        call = self._call
        missing = [cap for method, _ in requests.values() if (cap := _CAPABILITY_FOR.get(method)) and cap not in call.capabilities]
        if missing:
            raise missing_capability(*dict.fromkeys(missing))
        if call.modern:
            answers = {key: check_answer(method, key, self._answers[key])
                       for key, (method, _) in requests.items() if key in self._answers}
            if len(answers) == len(requests):
                return answers
            pending = {key: {"method": method, "params": params}
                       for key, (method, params) in requests.items() if key not in answers}
            raise InputRequired(pending, self._answers)
        if call.channel is None or call.send is None:
            raise RuntimeError("asking the client needs a session, and this request has none")
        return {key: await call.channel.request(method, params, call.send) for key, (method, params) in requests.items()}

    async def elicit(self, message: str, schema: type[M] | dict[str, Any]) -> Elicited[M]:
        """Ask the user to fill in a form; validates the answer into `schema` when it is a model."""
        result = await self.ask(
            "elicitation/create",
            {"mode": "form", "message": message, "requestedSchema": requested_schema(schema)},
        )
        action = str(result.get("action", "cancel"))
        content = result.get("content") if isinstance(result.get("content"), dict) else None
        data = None
        if action == "accept" and content is not None and not isinstance(schema, dict):
            data = schema.model_validate(content)
        return Elicited(action, content, data)

    async def elicit_url(self, message: str, url: str) -> Elicited[Any]:
        """Ask the user to complete an interaction out of band, at `url`."""
        params: dict[str, Any] = {"mode": "url", "message": message, "url": url}
        if not self._call.modern:
            params["elicitationId"] = f"{self._call.id}-{self._asked}"
        result = await self.ask("elicitation/create", params)
        return Elicited(str(result.get("action", "cancel")), None)

    async def sample(
        self,
        messages: str | list[dict[str, Any]],
        max_tokens: int = 256,
        system_prompt: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Ask the client's model for a completion; a string is sent as one user message."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": {"type": "text", "text": messages}}]
        params: dict[str, Any] = {"messages": messages, "maxTokens": max_tokens, **extra}
        if system_prompt is not None:
            params["systemPrompt"] = system_prompt
        return await self.ask("sampling/createMessage", params)

    async def list_roots(self) -> list[dict[str, Any]]:
        result = await self.ask("roots/list", {})
        roots = result.get("roots")
        return roots if isinstance(roots, list) else []
