"""The ceiling: a hand-written ASGI handler that parses the JSON-RPC body with orjson and answers tools/call.

No validation, no protocol checks: the least work that still reads the request and writes a correct
CallToolResult. Nothing real should be this thin; it marks what the machine and uvicorn allow.
"""

import orjson

HEADERS = [(b"content-type", b"application/json")]


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    request = orjson.loads(body)
    text = request["params"]["arguments"]["text"]
    result = {"content": [{"type": "text", "text": text}], "structuredContent": {"result": text}, "resultType": "complete"}
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": orjson.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result})})
