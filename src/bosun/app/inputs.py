"""Asking the client for input: the request shapes, and `InputRequired`.

Two ways to use it, both working in either protocol era:

* High level: `await ctx.elicit(...)`, `ctx.sample(...)`, `ctx.list_roots()`.
* Low level, for full control of multi round-trip flows: read
  `ctx.input_responses` and `ctx.request_state`, and return (or raise)
  `InputRequired({"key": elicitation(...)}, state="...")`. On 2026-07-28 that
  becomes an `InputRequiredResult` whose `requestState` Bosun seals; on a 2025
  session Bosun asks the client itself and calls the function again with the
  answers, so the function is written once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bosun.protocol.errors import invalid_params

CAPABILITY_FOR = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}
_ELICIT_ACTIONS = frozenset({"accept", "decline", "cancel"})


class Continued(BaseException):
    """The call goes on elsewhere: raised on the request by an extension that takes the rest of it over (tasks:
    `ctx.detach()`). A BaseException, so nothing between the function and that extension takes it for a failure."""


class InputRequired(Exception):
    """The call needs answers from the client before it can finish.

    `requests` maps keys you choose to client requests (see `elicitation`,
    `sampling`, `roots`); `state` is any string you want back on the retry
    (sealed against tampering on its way through the client).
    """

    def __init__(self, requests: dict[str, dict[str, Any]] | None = None, state: str | None = None,
                 answered: dict[str, Any] | None = None) -> None:
        super().__init__("input required")
        self.requests = requests or {}
        self.state = state
        self.answered = answered or {}


def requested_schema(schema: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    """A flat object schema for an elicitation form, from a model or as given."""
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


def elicitation(message: str, schema: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    return {"method": "elicitation/create",
            "params": {"mode": "form", "message": message, "requestedSchema": requested_schema(schema)}}


def sampling(messages: str | list[dict[str, Any]], max_tokens: int = 256, system_prompt: str | None = None,
             **extra: Any) -> dict[str, Any]:
    if isinstance(messages, str):
        messages = [{"role": "user", "content": {"type": "text", "text": messages}}]
    params: dict[str, Any] = {"messages": messages, "maxTokens": max_tokens, **extra}
    if system_prompt is not None:
        params["systemPrompt"] = system_prompt
    return {"method": "sampling/createMessage", "params": params}


def roots() -> dict[str, Any]:
    return {"method": "roots/list", "params": {}}


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


def required_capabilities(requests: dict[str, dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(cap for request in requests.values() if (cap := CAPABILITY_FOR.get(request.get("method", "")))))
