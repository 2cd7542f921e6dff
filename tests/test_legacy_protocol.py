"""Protocol 2025-03-26 / 2025-06-18 / 2025-11-25 over real HTTP: sessions, streams, client requests."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from mcp_types.methods import validate_server_result

from conftest import Running, sse_messages

BASE_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


class LegacyClient:
    """A hand-rolled 2025 client, so each wire detail is visible in the test."""

    def __init__(self, url: str, version: str = "2025-11-25", capabilities: dict[str, Any] | None = None) -> None:
        self.url = url
        self.http = httpx.Client(timeout=10)
        response = self.http.post(url, headers=BASE_HEADERS, json={
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": capabilities or {}, "clientInfo": {"name": "t", "version": "0"}}})
        assert response.status_code == 200
        self.init = response.json()["result"]
        self.session_id = response.headers["mcp-session-id"]
        self.version = self.init["protocolVersion"]
        self.headers = {**BASE_HEADERS, "mcp-session-id": self.session_id, "mcp-protocol-version": self.version}
        assert self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
        self.next_id = 1

    def post(self, body: Any) -> httpx.Response:
        return self.http.post(self.url, headers=self.headers, json=body)

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        response = self.post({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}})
        assert response.status_code == 200, response.text
        if response.headers["content-type"].startswith("text/event-stream"):
            return sse_messages(response.text)[-1]
        return dict(response.json())

    def close(self) -> None:
        self.http.close()


@pytest.mark.parametrize("version", ["2025-11-25", "2025-06-18", "2025-03-26"])
def test_initialize_negotiates_each_legacy_version(server: Running, version: str) -> None:
    client = LegacyClient(server.url, version)
    assert client.version == version
    assert client.init["serverInfo"]["name"] == "everything"
    validate_server_result("initialize", version, client.init)
    tools = client.request("tools/list")["result"]
    assert "resultType" not in tools and "ttlMs" not in tools
    validate_server_result("tools/list", version, tools)
    call = client.request("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})["result"]
    assert call["structuredContent"] == {"result": 3}
    client.close()


def test_unknown_version_gets_latest_legacy(server: Running) -> None:
    assert LegacyClient(server.url, "2024-01-01").version == "2025-11-25"


def test_missing_and_unknown_session(server: Running, http: httpx.Client) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    missing = http.post(server.url, headers={**BASE_HEADERS, "mcp-protocol-version": "2025-11-25"}, json=body)
    assert missing.status_code == 400
    unknown = http.post(server.url, headers={**BASE_HEADERS, "mcp-session-id": "nope", "mcp-protocol-version": "2025-11-25"}, json=body)
    assert unknown.status_code == 404


def test_delete_ends_the_session(server: Running) -> None:
    client = LegacyClient(server.url)
    assert client.http.delete(server.url, headers=client.headers).status_code == 200
    assert client.post({"jsonrpc": "2.0", "id": 9, "method": "ping"}).status_code == 404
    assert client.http.delete(server.url, headers=client.headers).status_code == 404


def test_ping_set_level_and_resource_not_found_code(server: Running) -> None:
    client = LegacyClient(server.url)
    assert client.request("ping")["result"] == {}
    assert client.request("logging/setLevel", {"level": "warning"})["result"] == {}
    assert client.request("logging/setLevel", {"level": "loud"})["error"]["code"] == -32602
    assert client.request("resources/read", {"uri": "bosun://missing"})["error"] == {
        "code": -32602, "message": "Resource not found: bosun://missing", "data": {"uri": "bosun://missing"}}
    assert client.request("server/discover")["error"]["code"] == -32601


def test_logging_respects_session_level(server: Running) -> None:
    client = LegacyClient(server.url)
    client.request("logging/setLevel", {"level": "warning"})
    response = client.post({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "chatty", "arguments": {}}})
    levels = [m["params"]["level"] for m in sse_messages(response.text) if m.get("method") == "notifications/message"]
    assert levels == ["warning"]


def test_progress_events_carry_ids(server: Running) -> None:
    client = LegacyClient(server.url)
    response = client.post({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                            "params": {"name": "count", "arguments": {"to": 2}, "_meta": {"progressToken": 9}}})
    assert response.headers["content-type"] == "text/event-stream"
    ids = [line for line in response.text.splitlines() if line.startswith("id:")]
    assert len(ids) == 4 and len(set(ids)) == 4  # a priming event (2025-11-25), two progress events, the result
    assert response.text.startswith(ids[0] + "\nretry: 1000\ndata: \n\n")
    assert sse_messages(response.text)[-1]["result"]["content"][0]["text"] == "counted to 2"
    older = LegacyClient(server.url, "2025-06-18").post({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "count", "arguments": {"to": 2}, "_meta": {"progressToken": 9}}})
    assert len([line for line in older.text.splitlines() if line.startswith("id:")]) == 3  # no priming before 2025-11-25


def _events(text: str) -> list[tuple[str, str]]:
    """(id, data) of each SSE event in `text`."""
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in block.splitlines() if line)
        if "id" in fields:
            events.append((fields["id"], fields.get("data", "")))
    return events


def test_a_stream_the_server_ends_early_is_resumed_with_last_event_id(server: Running) -> None:
    """2025-11-25 polling: the POST's stream carries a priming event and ends; a GET with its id replays what the
    call sent since and follows it to the result. The stream can be replayed again from any of its ids."""
    client = LegacyClient(server.url)
    body = {"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "long_count", "arguments": {"to": 3},
                                                                         "_meta": {"progressToken": "p"}}}
    started = time.monotonic()
    first = client.post(body)
    assert first.headers["content-type"] == "text/event-stream" and time.monotonic() - started < 0.25
    [(priming, data)] = _events(first.text)
    assert data == "" and "retry: 1000" in first.text
    resumed = client.http.get(server.url, headers={**client.headers, "accept": "text/event-stream", "last-event-id": priming})
    assert resumed.status_code == 200
    events = _events(resumed.text)
    messages = [json.loads(data) for _, data in events]
    assert [m["params"]["progress"] for m in messages[:-1]] == [1, 2, 3]
    assert messages[-1]["id"] == 11 and messages[-1]["result"]["content"][0]["text"] == "counted to 3 (resumed)"
    # From the second progress event on, once more: the rest only.
    again = client.http.get(server.url, headers={**client.headers, "accept": "text/event-stream", "last-event-id": events[1][0]})
    assert [json.loads(data).get("id") for _, data in _events(again.text)] == [None, 11]
    # An unknown id, a malformed one and another session's are a clear 404 at once, never a hang.
    other = LegacyClient(server.url)
    for bad, who in ((priming.rsplit("-", 1)[0] + "x-0", client), ("nonsense", client), (priming, other)):
        started = time.monotonic()
        answer = who.http.get(server.url, headers={**who.headers, "accept": "text/event-stream", "last-event-id": bad})
        assert answer.status_code == 404 and answer.json()["error"]["code"] == -32600
        assert time.monotonic() - started < 1
    client.close()
    other.close()


def test_a_client_that_lists_event_stream_first_gets_a_resumable_stream(server: Running) -> None:
    client = LegacyClient(server.url)
    response = client.http.post(server.url, headers={**client.headers, "accept": "text/event-stream, application/json"},
                                json={"jsonrpc": "2.0", "id": 5, "method": "tools/list"})
    assert response.headers["content-type"] == "text/event-stream"
    events = _events(response.text)
    assert events[0][1] == "" and json.loads(events[-1][1])["result"]["tools"]
    assert client.post({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}).headers["content-type"] == "application/json"
    client.close()


def test_batches_only_in_2025_03_26(server: Running) -> None:
    old = LegacyClient(server.url, "2025-03-26")
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"},
             {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 2}}},
             {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    response = old.post(batch)
    answers = {item["id"]: item for item in response.json()}
    assert answers[1]["result"] == {} and answers[2]["result"]["structuredContent"] == {"result": 4}
    new = LegacyClient(server.url, "2025-06-18")
    assert new.post(batch).status_code == 400


def _answer_client_requests(client: LegacyClient, body: dict[str, Any], answer: dict[str, Any]) -> list[dict[str, Any]]:
    """POST `body`; when the server asks something on the stream, answer it with a second POST."""
    seen: list[dict[str, Any]] = []
    with client.http.stream("POST", client.url, headers=client.headers, json=body) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:") or not line[5:].strip():
                continue  # not data, or a priming event (an id with empty data)
            message = json.loads(line[5:])
            seen.append(message)
            if "method" in message and "id" in message:
                reply = {"jsonrpc": "2.0", "id": message["id"], "result": answer}
                assert client.post(reply).status_code == 202
            if "result" in message or "error" in message:
                break
    return seen


def test_elicitation_over_the_session(server: Running) -> None:
    client = LegacyClient(server.url, capabilities={"elicitation": {}})
    seen = _answer_client_requests(client, {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                                            "params": {"name": "confirm_action", "arguments": {"action": "deploy"}}},
                                   {"action": "accept", "content": {"confirm": True}})
    assert seen[0]["method"] == "elicitation/create"
    assert seen[-1]["result"]["content"][0]["text"] == "confirmed deploy"


def test_sampling_and_roots_over_the_session(server: Running) -> None:
    client = LegacyClient(server.url, capabilities={"sampling": {}, "roots": {}})
    seen = _answer_client_requests(client, {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                                            "params": {"name": "ask_model", "arguments": {"question": "hi"}}},
                                   {"role": "assistant", "content": {"type": "text", "text": "hello"}, "model": "m"})
    assert seen[0]["method"] == "sampling/createMessage"
    assert seen[-1]["result"]["content"][0]["text"] == "hello"
    seen = _answer_client_requests(client, {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                                            "params": {"name": "roots", "arguments": {}}},
                                   {"roots": [{"uri": "file:///a"}]})
    assert seen[-1]["result"]["structuredContent"] == {"result": ["file:///a"]}


def test_get_stream_delivers_list_changes_and_subscribed_updates(server: Running) -> None:
    client = LegacyClient(server.url)
    client.request("resources/subscribe", {"uri": "greeting://World"})
    received: list[dict[str, Any]] = []
    opened = threading.Event()

    def listen() -> None:
        with httpx.Client(timeout=10) as http, http.stream(
                "GET", server.url, headers={**client.headers, "accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200
            for line in stream.iter_lines():
                opened.set()
                if line.startswith("data:"):
                    received.append(json.loads(line[5:]))
                    if len(received) == 2:
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert opened.wait(5)
    second = httpx.get(server.url, headers={**client.headers, "accept": "text/event-stream"})
    assert second.status_code == 409
    client.request("tools/call", {"name": "touch", "arguments": {"uri": "greeting://Nobody"}})
    client.request("tools/call", {"name": "tools_changed", "arguments": {}})
    client.request("tools/call", {"name": "touch", "arguments": {"uri": "greeting://World"}})
    thread.join(5)
    assert [m["method"] for m in received] == ["notifications/tools/list_changed", "notifications/resources/updated"]
    assert received[1]["params"]["uri"] == "greeting://World"


def test_idle_sessions_expire() -> None:
    import asyncio

    from bosun.state.sessions.memory import MemorySessionStore

    async def scenario() -> tuple[int, int]:
        store = MemorySessionStore(idle_seconds=0.2)
        await store.create("2025-11-25", {}, None)
        kept = await store.create("2025-11-25", {}, None)
        await asyncio.sleep(0.12)
        assert await store.get(kept.id) is kept  # activity keeps it
        await asyncio.sleep(0.12)
        expired = await store.expire()
        return expired, len(store)

    assert asyncio.run(scenario()) == (1, 1)
