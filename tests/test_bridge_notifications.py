"""The child's own notifications, routed to whoever they concern (server-everything, a shared bridge).

`resources/updated` reaches only the streams subscribed to that URI, and the child is subscribed upstream only while
some stream here wants the URI: once for any number of subscribers, and unsubscribed when the last one goes. The
child's log messages go to Bosun's log, never to another client's stream.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from bridge_children import EVERYTHING, start_bridge

from conftest import Running, stop_server

LEGACY = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _rpc(http: httpx.Client, server: Running, headers: dict[str, str], method: str, params: dict[str, Any]) -> Any:
    answer = http.post(server.url, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    assert answer.status_code == 200, answer.text
    body = answer.text
    if body.startswith("{"):
        return json.loads(body)
    return json.loads([line[6:] for line in body.splitlines() if line.startswith("data: ")][-1])


def _session(http: httpx.Client, server: Running) -> dict[str, str]:
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    opened = http.post(server.url, headers=LEGACY, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init})
    headers = {**LEGACY, "mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    http.post(server.url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    return headers


class Stream:
    """A session's GET stream, read on a thread: every notification it carried."""

    def __init__(self, server: Running, headers: dict[str, str]) -> None:
        self.notes: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(server, headers), daemon=True)
        self.thread.start()
        assert self.opened.wait(10)

    def _read(self, server: Running, headers: dict[str, str]) -> None:
        with httpx.Client(timeout=httpx.Timeout(5, read=None)) as http, \
                http.stream("GET", server.url, headers={**headers, "accept": "text/event-stream"}) as response:
            self.opened.set()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    self.notes.append(json.loads(line[6:]))
                if self.stop.is_set():
                    return

    def updates(self, uri: str) -> int:
        return sum(1 for note in self.notes if note.get("method") == "notifications/resources/updated"
                   and note["params"]["uri"] == uri)


def test_resource_updates_reach_only_subscribers_and_upstream_subscriptions_follow_the_streams(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    server = start_bridge(EVERYTHING, log=log, name="everything")
    try:
        with httpx.Client(timeout=30) as http:
            alice, bob = _session(http, server), _session(http, server)
            resources = _rpc(http, server, alice, "resources/list", {})["result"]["resources"]
            uri = resources[0]["uri"]
            alice_stream, bob_stream = Stream(server, alice), Stream(server, bob)
            time.sleep(0.3)
            _rpc(http, server, alice, "resources/subscribe", {"uri": uri})
            time.sleep(0.5)
            # The shared child has one client, Bosun: its simulated updates are turned on for that one client.
            _rpc(http, server, alice, "tools/call", {"name": "toggle-subscriber-updates", "arguments": {}})
            deadline = time.monotonic() + 8
            while alice_stream.updates(uri) < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert alice_stream.updates(uri) >= 1, alice_stream.notes
            assert bob_stream.updates(uri) == 0  # bob never subscribed
            _rpc(http, server, alice, "resources/unsubscribe", {"uri": uri})
            time.sleep(1.5)
            heard = alice_stream.updates(uri)
            time.sleep(5.5)  # the child sends its updates every 5 s: none for a URI no stream wants
            assert alice_stream.updates(uri) == heard
            for stream in (alice_stream, bob_stream):
                stream.stop.set()
    finally:
        stop_server(server)
    text = log.read_text()
    assert text.count("Received Subscribe Resource request") == 1, "subscribed upstream once"
    assert text.count("Received Unsubscribe Resource request") == 1, "unsubscribed upstream when no stream wanted it"
    assert all(note.get("method") != "notifications/message" for note in alice_stream.notes + bob_stream.notes)


def test_a_2026_childs_list_changed_reaches_the_clients_and_the_new_list(tmp_path: Path) -> None:
    """A 2026-07-28 child tells list changes only on a `subscriptions/listen` stream: the bridge keeps one open,
    and the change reaches a client's stream here, and the next tools/list is read again."""
    child = [str(Path(sys.executable).with_name("bosun")), "serve", "tests/servers/everything.py", "--transport", "stdio"]
    server = start_bridge(child, log=tmp_path / "server.log", name="bosun-child")
    try:
        with httpx.Client(timeout=30) as http:
            alice = _session(http, server)
            assert "tools_changed" in {tool["name"] for tool in _rpc(http, server, alice, "tools/list", {})["result"]["tools"]}
            stream = Stream(server, alice)
            time.sleep(0.3)
            _rpc(http, server, alice, "tools/call", {"name": "tools_changed", "arguments": {}})
            deadline = time.monotonic() + 5
            while not any(note.get("method") == "notifications/tools/list_changed" for note in stream.notes):
                assert time.monotonic() < deadline, stream.notes
                time.sleep(0.05)
            stream.stop.set()
    finally:
        stop_server(server)
    assert "speaks 2026-07-28" in (tmp_path / "server.log").read_text()


def test_a_subscribe_is_answered_once_the_child_is_subscribed_upstream(tmp_path: Path) -> None:
    """The child takes a second to confirm a subscription. The client's `resources/subscribe` is answered only once it
    has (within two seconds): a change made right after the answer reaches the client's stream, not a child that
    was not listening yet."""
    from bridge_children import PYTHON_CHILD

    server = start_bridge([*PYTHON_CHILD, "slow-subscribe"], log=tmp_path / "server.log", name="memo")
    try:
        with httpx.Client(timeout=30) as http:
            alice = _session(http, server)
            uri = _rpc(http, server, alice, "resources/list", {})["result"]["resources"][0]["uri"]
            touch = next(tool["name"] for tool in _rpc(http, server, alice, "tools/list", {})["result"]["tools"]
                         if tool["name"].endswith("touch"))
            stream = Stream(server, alice)
            started = time.monotonic()
            _rpc(http, server, alice, "resources/subscribe", {"uri": uri})
            waited = time.monotonic() - started
            _rpc(http, server, alice, "tools/call", {"name": touch, "arguments": {}})
            deadline = time.monotonic() + 5
            while stream.updates(uri) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            stream.stop.set()
        assert stream.updates(uri) == 1, stream.notes
        assert 0.9 < waited < 2.5, waited
        print(f"\nsubscribe answered after {waited:.2f}s (the child confirms after 1 s); the update that followed arrived")
    finally:
        stop_server(server)


def test_over_stdio_a_subscribe_is_answered_once_the_child_has_confirmed_it() -> None:
    """The same child, the bridge served over stdio (`bosun bridge` inside an MCP host): the 2025 session's
    `resources/subscribe` waits for the child's upstream subscription too, and the update that follows arrives."""
    from bridge_children import PYTHON_CHILD
    from test_stdio import Raw

    from conftest import BOSUN

    raw = Raw([BOSUN, "serve", "bosun.bridged:server", "--transport", "stdio"],
              {"BOSUN_BRIDGE_COMMAND": json.dumps([*PYTHON_CHILD, "slow-subscribe"]), "BOSUN_BRIDGE_NAME": "memo"})
    try:
        raw.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
        assert raw.receive()["result"]["protocolVersion"] == "2025-06-18"
        raw.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        raw.send({"jsonrpc": "2.0", "id": 1, "method": "resources/list", "params": {}})
        uri = raw.receive()["result"]["resources"][0]["uri"]
        raw.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
        touch = next(tool["name"] for tool in raw.receive()["result"]["tools"] if tool["name"].endswith("touch"))
        started = time.monotonic()
        raw.send({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe", "params": {"uri": uri}})
        assert raw.receive() == {"jsonrpc": "2.0", "id": 3, "result": {}}
        waited = time.monotonic() - started
        raw.send({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": touch, "arguments": {}}})
        lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(raw.receive()) for _ in range(2)], daemon=True).start()
        received = []
        with contextlib.suppress(queue.Empty):
            for _ in range(2):  # the update and the call's result, in either order; a lost update is not waited for
                received.append(lines.get(timeout=5))
        assert {"method": "notifications/resources/updated", "params": {"uri": uri}, "jsonrpc": "2.0"} in received, received
        assert 0.9 < waited < 2.5, waited
    finally:
        raw.finish()
