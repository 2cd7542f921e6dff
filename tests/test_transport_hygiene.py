"""What the endpoint says to bad or hostile requests: the right status, a readable JSON-RPC error, never a 500."""

from __future__ import annotations

import httpx
import pytest

from conftest import Running, meta, modern_call, modern_headers, start_server, stop_server

BODY = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta()}}


def test_foreign_origin_is_403_and_names_the_setting(server: Running, http: httpx.Client) -> None:
    response = http.post(server.url, json=BODY, headers={**modern_headers("tools/list"), "origin": "https://evil.example"})
    assert response.status_code == 403
    assert "BOSUN_ALLOWED_ORIGINS" in response.json()["error"]["message"]


def test_local_origin_is_allowed_on_loopback(server: Running, http: httpx.Client) -> None:
    for origin in ("http://localhost:3000", "http://127.0.0.1:6274"):
        response = http.post(server.url, json=BODY, headers={**modern_headers("tools/list"), "origin": origin})
        assert response.status_code == 200, origin


def test_rebinding_host_is_rejected_on_loopback(server: Running, http: httpx.Client) -> None:
    response = http.post(server.url, json=BODY, headers={**modern_headers("tools/list"), "host": "evil.example:8000"})
    assert response.status_code == 421
    assert "BOSUN_ALLOWED_HOSTS" in response.json()["error"]["message"]


def test_server_bound_for_a_cluster_accepts_any_host_without_settings(http: httpx.Client) -> None:
    # BOSUN_AUTH=none: this test is about Host and Origin; without it the server would refuse to start open.
    running = start_server("tests/servers/everything.py", host="0.0.0.0", env={"BOSUN_AUTH": "none"})
    try:
        headers = {**modern_headers("tools/list"), "host": "mcp.default.svc.cluster.local:8000"}
        assert http.post(running.url, json=BODY, headers=headers).status_code == 200
        same_origin = {**headers, "origin": "http://mcp.default.svc.cluster.local:8000"}
        assert http.post(running.url, json=BODY, headers=same_origin).status_code == 200
        cross = {**headers, "origin": "https://elsewhere.example"}
        assert http.post(running.url, json=BODY, headers=cross).status_code == 403
    finally:
        stop_server(running)


def test_configured_origins_and_hosts() -> None:
    running = start_server("tests/servers/everything.py",
                           env={"BOSUN_ALLOWED_ORIGINS": "https://app.example", "BOSUN_ALLOWED_HOSTS": "mcp.example"})
    try:
        with httpx.Client() as http:
            ok = {**modern_headers("tools/list"), "origin": "https://app.example", "host": "mcp.example"}
            assert http.post(running.url, json=BODY, headers=ok).status_code == 200
    finally:
        stop_server(running)


def test_body_limit_is_413(server: Running, http: httpx.Client) -> None:
    big = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "echo", "arguments": {"text": "x" * (5 * 1024 * 1024)}, "_meta": meta()}}
    response = http.post(server.url, json=big, headers=modern_headers("tools/call", "echo"))
    assert response.status_code == 413


def test_wrong_content_type_is_415(server: Running, http: httpx.Client) -> None:
    response = http.post(server.url, content=b"{}", headers={**modern_headers("tools/list"), "content-type": "text/plain"})
    assert response.status_code == 415


@pytest.mark.parametrize("accept", ["application/json", "text/event-stream", "text/html", ""])
def test_accept_must_cover_json_and_sse(server: Running, http: httpx.Client, accept: str) -> None:
    headers = {**modern_headers("tools/list"), "accept": accept}
    assert http.post(server.url, json=BODY, headers=headers).status_code == 406


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "PATCH"])
def test_methods_other_than_post_without_a_session_are_405(server: Running, http: httpx.Client, method: str) -> None:
    response = http.request(method, server.url, headers={"accept": "text/event-stream"})
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


def test_malformed_json_is_32700(server: Running, http: httpx.Client) -> None:
    response = http.post(server.url, content=b'{"jsonrpc": "2.0", "id": 1,', headers=modern_headers("tools/list"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700


@pytest.mark.parametrize("body", [b"[]", b"[1]", b"123", b'"x"', b"null", b'{"jsonrpc": "1.0", "id": 1, "method": "x"}',
                                  b'{"jsonrpc": "2.0", "id": null, "method": "tools/list"}',
                                  b'{"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"}',
                                  b'{"jsonrpc": "2.0", "id": 1, "method": 5}',
                                  b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": []}',
                                  b'{"jsonrpc": "2.0", "id": 1, "result": {}}'])
def test_invalid_requests_are_400_never_500(server: Running, http: httpx.Client, body: bytes) -> None:
    response = http.post(server.url, content=body, headers=modern_headers("tools/list"))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in (-32600, -32602, -32020)


def test_wrong_typed_params_never_500(server: Running, http: httpx.Client) -> None:
    odd_params = [
        {"name": 5, "arguments": {}}, {"name": "add", "arguments": [1, 2]}, {"name": "add", "arguments": "x"},
        {"name": "add", "arguments": {"a": 1e308, "b": None}}, {"name": "confirm_action", "arguments": {"action": "x"},
                                                                 "requestState": 42},
    ]
    for params in odd_params:
        name = params["name"] if isinstance(params["name"], str) else "5"
        response = modern_call(http, server.url, "tools/call", params, name=name)
        assert response.status_code in (200, 400), (params, response.text)
        assert "Traceback" not in response.text
    for method, params in (("resources/read", {"uri": 7}), ("prompts/get", {"name": ["x"]}),
                           ("completion/complete", {"ref": "x"}), ("tools/list", {"cursor": "!!"})):
        response = modern_call(http, server.url, method, params, name="7" if method != "tools/list" else None)
        assert response.status_code in (200, 400), (method, response.text)
        assert "error" in response.json()


def test_unknown_path_is_404_json(server: Running, http: httpx.Client) -> None:
    response = http.get(server.base + "/nowhere")
    assert response.status_code == 404 and "error" in response.json()


def test_a_response_head_and_body_leave_in_one_send() -> None:
    """uvicorn writes a response's head and body separately; the connection sends them together (one system
    call, and no small head segment waiting on the peer's delayed ACK)."""
    import asyncio as _asyncio

    from bosun.transport.connection.guarded import CoalescingTransport

    class Recording:
        def __init__(self) -> None:
            self.sent: list[bytes] = []
            self.closed = False

        def write(self, data: bytes) -> None:
            self.sent.append(data)

        def is_closing(self) -> bool:
            return self.closed

        def close(self) -> None:
            self.closed = True

    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes]]:
        real = Recording()
        transport = CoalescingTransport(real, _asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"{}")
        during = list(real.sent)
        await _asyncio.sleep(0)
        after_turn = list(real.sent)
        transport.write(b"last words")
        transport.close()  # flushes before closing
        return during, after_turn, real.sent

    during, after_turn, final = _asyncio.run(scenario())
    assert during == [] and after_turn == [b"HTTP/1.1 200 OK\r\n\r\n{}"] and final[-1] == b"last words"


def test_start_up_freezes_the_heap_it_built_but_not_a_hosts() -> None:
    """A full collection would otherwise walk everything start-up built (p99 17.6 ms at 64 connections, 4 ms
    frozen; docs/benchmarks.md). A mounted app leaves the host's process alone."""
    import asyncio as _asyncio
    import gc

    from bosun import Server
    from bosun.config import load_settings

    quiet = load_settings(metrics_enabled=False)  # two servers in one process: no metrics registry to share

    async def lifespan(app: object) -> list[str]:
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        sent: list[str] = []

        async def receive() -> dict[str, str]:
            return next(messages)

        async def send(message: dict[str, str]) -> None:
            sent.append(message["type"])

        await app({"type": "lifespan"}, receive, send)  # type: ignore[operator]
        return sent

    gc.unfreeze()
    try:
        mounted = Server("mounted")
        mounted.asgi_app(settings=quiet)

        async def hosted() -> None:
            async with mounted.lifespan():
                pass

        _asyncio.run(hosted())
        assert gc.get_freeze_count() == 0
        served = Server("served")
        assert _asyncio.run(lifespan(served.asgi_app(settings=quiet))) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
