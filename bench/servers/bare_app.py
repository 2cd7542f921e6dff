"""The ceiling: a hand-written ASGI handler that parses the JSON-RPC body with orjson and answers it.

It serves the benchmark's four operations (add, add_async, area and the resource bench://status)
with no validation and no protocol checks: the least work that still reads the request, computes
the answer from its arguments and writes a correct CallToolResult or ReadResourceResult. Nothing
real should be this thin; it marks what the machine and uvicorn allow.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Message = MutableMapping[str, Any]
HEADERS = [(b"content-type", b"application/json")]
STATUS = {"bench://status": "ok"}


def tool_result(value: float) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": str(value)}], "structuredContent": {"result": value}, "resultType": "complete"}


def _add(arguments: dict[str, Any]) -> dict[str, Any]:
    return tool_result(arguments["a"] + arguments["b"])


def _area(arguments: dict[str, Any]) -> dict[str, Any]:
    shape = arguments["shape"]
    return tool_result(float(shape["width"]) * float(shape["height"]))


Tools = dict[str, Callable[[dict[str, Any]], dict[str, Any]]]
TOOLS: Tools = {"add": _add, "add_async": _add, "area": _area}


def handler(tools: Tools) -> Callable[[Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                                      Awaitable[None]]:
    """The ASGI app answering tools/call with `tools` and resources/read with the status resource."""

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        params = request["params"]
        if request["method"] == "tools/call":
            result = tools[params["name"]](params.get("arguments") or {})
        else:  # resources/read
            uri = params["uri"]
            result = {"contents": [{"uri": uri, "mimeType": "text/plain", "text": STATUS[uri]}], "resultType": "complete"}
        return {"jsonrpc": "2.0", "id": request["id"], "result": result}

    async def app(scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": orjson.dumps(answer(orjson.loads(body)))})

    return app


app = handler(TOOLS)
