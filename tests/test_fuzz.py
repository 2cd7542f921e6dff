"""A bounded, deterministic fuzzer over raw HTTP, both protocol eras: no input gets a 5xx, a reset or a traceback.

Each case starts from a valid request (2026-07-28 or a 2025 session) and breaks it in one or two
ways: a value replaced by odd JSON (deep, huge, wrong type, odd unicode), a field dropped, a header
wrong or missing, the body truncated or not UTF-8, a batch around it. Seeds are fixed, so a failure
names a case that reproduces.
"""

from __future__ import annotations

import http.client
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import MODERN, Running, start_server, stop_server

CASES_PER_SEED = 400
SEEDS = (1, 2, 3, 4, 5)

META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
        "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "0"}}
MODERN_SEEDS: list[tuple[str, dict[str, Any], str | None]] = [
    ("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}, "add"),
    ("tools/call", {"name": "describe", "arguments": {"name": "x", "point": {"x": 1, "y": 2}}}, "describe"),
    ("tools/call", {"name": "confirm_action", "arguments": {"action": "deploy"}}, "confirm_action"),
    ("tools/list", {}, None),
    ("resources/read", {"uri": "greeting://World"}, "greeting://World"),
    ("prompts/get", {"name": "review", "arguments": {"code": "x = 1"}}, "review"),
    ("completion/complete", {"ref": {"type": "ref/prompt", "name": "review"}, "argument": {"name": "language", "value": "p"}}, None),
    ("server/discover", {}, None),
]
ODD_VALUES: list[Any] = [None, True, 0, -1, 2**70, 1.5e308, "", "\x00", "\ud7ff\ue000", "x" * 5000, [], {}, [[[[[]]]]],
                         {"a": {"b": {"c": {}}}}, ["x"] * 50, {"__proto__": 1}, "../../etc/passwd", "%s%n", "=?base64?!!?="]


def deep(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def mutate(value: Any, rng: random.Random) -> Any:
    """`value` with one part replaced, dropped or made odd."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        copy = dict(value)
        roll = rng.random()
        if roll < 0.2:
            del copy[key]
        elif roll < 0.6:
            copy[key] = rng.choice(ODD_VALUES)
        else:
            copy[key] = mutate(copy[key], rng)
        return copy
    if isinstance(value, list) and value and rng.random() < 0.8:
        copy = list(value)
        index = rng.randrange(len(copy))
        copy[index] = mutate(copy[index], rng)
        return copy
    return rng.choice(ODD_VALUES)


class Fuzzer:
    def __init__(self, server: Running, seed: int) -> None:
        self.port = int(server.url.split(":")[2].split("/")[0])
        self.rng = random.Random(seed)
        self.session: str | None = None

    def send(self, method: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, "/mcp", body=body, headers=headers)
            response = connection.getresponse()
            if method == "GET" and response.getheader("content-type", "").startswith("text/event-stream"):
                return response.status, b""  # a session's GET stream stays open by design: its status is the answer
            return response.status, response.read()
        finally:
            connection.close()

    def open_session(self, version: str) -> str:
        # No client capabilities: a session that could be asked to elicit would rightly wait for the
        # fuzzer's answer (up to BOSUN_CLIENT_REQUEST_TIMEOUT), and the fuzzer never answers.
        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "f", "version": "1"}}}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("POST", "/mcp", body=json.dumps(init), headers={"content-type": "application/json",
                                                                            "accept": "application/json, text/event-stream"})
        session = connection.getresponse().getheader("mcp-session-id")
        connection.close()
        assert session
        return session

    def case(self) -> tuple[str, bytes, dict[str, str]]:
        rng = self.rng
        method, params, name = rng.choice(MODERN_SEEDS)
        legacy = rng.random() < 0.4
        message: Any = {"jsonrpc": "2.0", "id": rng.choice([1, "a", 7]), "method": method, "params": dict(params)}
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if legacy:
            version = rng.choice(["2025-11-25", "2025-06-18", "2025-03-26"])
            headers.update({"mcp-session-id": self.open_session(version), "mcp-protocol-version": version})
        else:
            message["params"]["_meta"] = dict(META)
            headers.update({"mcp-protocol-version": MODERN, "mcp-method": method})
            if name is not None:
                headers["mcp-name"] = name
        for _ in range(rng.choice([1, 1, 2])):
            message = mutate(message, rng)
        if rng.random() < 0.1:
            message = [message, mutate(message, rng)]
        body = json.dumps(message).encode()
        roll = rng.random()
        if roll < 0.05:
            body = body[: rng.randrange(max(1, len(body)))]
        elif roll < 0.1:
            body = body.replace(b'"', b"\xff", 1)
        elif roll < 0.15:
            body = body.replace(b"1", deep(rng.choice([63, 65, 300, 2000])).encode(), 1)
        roll = rng.random()
        if roll < 0.05:
            headers.pop(rng.choice(list(headers)))
        elif roll < 0.1:
            headers[rng.choice(list(headers))] = rng.choice(["", "x" * 300, "=?base64?AAAA?=", "\t", "2025-01-01"])
        http_method = "POST" if rng.random() < 0.93 else rng.choice(["GET", "DELETE", "PUT", "PATCH"])
        return http_method, body, headers


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    log = tmp_path_factory.mktemp("fuzz") / "server.log"
    running = start_server("tests/servers/everything.py", log=log, env={"BOSUN_LOG_FORMAT": "json", "BOSUN_STATE_KEYS": "fuzz"})
    yield running, log
    stop_server(running)


@pytest.mark.parametrize("seed", SEEDS)
def test_fuzzed_requests_never_get_a_5xx_a_reset_or_a_traceback(target: tuple[Running, Path], seed: int) -> None:
    server, log = target
    fuzzer = Fuzzer(server, seed)
    failures = []
    for number in range(CASES_PER_SEED):
        method, body, headers = fuzzer.case()
        try:
            status, answer = fuzzer.send(method, body, headers)
        except (OSError, http.client.HTTPException) as exc:  # a reset, a hang (timeout) or garbage: never an answer
            failures.append(f"case {seed}/{number}: {type(exc).__name__} instead of an answer to {method} {body[:200]!r} {headers}")
            continue
        if status >= 500:
            failures.append(f"case {seed}/{number}: HTTP {status} {answer[:200]!r} for {method} {body[:300]!r} {headers}")
    text = log.read_text()
    assert not failures, "\n".join(failures[:10])
    assert "Traceback" not in text and '"level":"error"' not in text, text[-3000:]
